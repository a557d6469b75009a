//! The compose engine without Pungi: resolve the request to candidate RPMs at a
//! pinned event, read their headers (through the cache), choose packages per
//! arch (dependency closure, sources, debuginfo, multilib), hardlink them into a
//! tree, write repodata per tree, then productmd metadata and the `.repo` file.
//!
//! A candidate not in the cache is read only to the end of its headers
//! (`rpm::read_package_header`: a few KB, the header digests checked); the
//! packages chosen are then read whole (their sha256 for repodata, their
//! payload digests checked) before anything is linked, so a damaged package
//! that is not chosen fails nothing, and one that is fails the compose
//! naming it.
//!
//! Atomic: everything is built under `<target>/.<name>.part/` and becomes
//! `<target>/<name>/` by one rename at the end; a failure removes the partial
//! directory, so no half-built compose is ever visible.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;

use super::Progress;
use super::createrepo::Caches;
use super::plan::{Placement, plan};
use super::request::{go_on, io_at};
use super::resident::Records;
use super::{metadata, tree};
use crate::gather;
use crate::rpm::{self, FileKey, PackageMeta, RpmError};
use crate::source::repo::RepoLimits;
use crate::source::{PackageSource, SourceRpm, local::link_or_copy};

use crate::modulemd::ModuleStream;

// The request and result types live in `request`; their old paths stay.
pub use super::request::{
    ComposeError, ComposeFlags, ComposeRequest, ComposeResult, ComposedRpm, Manifest,
    MultilibMethod, SourceType, VARIANT, manifest, nevra_with_epoch,
};
pub use crate::date::{civil_from_days, today};

fn hashed_dir(file_name: &str) -> String {
    file_name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase().to_string())
        .unwrap_or_default()
}

/// The candidates placed, each once, in order.
fn chosen(placements: &[Placement]) -> Vec<usize> {
    let mut chosen: Vec<usize> = placements.iter().map(|p| p.index).collect();
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// The files going into the compose against the checksums their source
/// records (Koji's for signed copies): a file that differs (damaged on the
/// volume, re-signed without Koji knowing) fails the compose, naming it.
fn verify_files(
    source: &dyn PackageSource,
    candidates: &[SourceRpm],
    metas: &[Arc<PackageMeta>],
    placements: &[Placement],
) -> Result<(), ComposeError> {
    let chosen = chosen(placements);
    let rpms: Vec<&SourceRpm> = chosen.iter().map(|&i| &candidates[i]).collect();
    let expected = source.expected_sha256(&rpms)?;
    let mut lines = Vec::new();
    for (&i, want) in chosen.iter().zip(expected) {
        let Some(want) = want else { continue };
        if !want.eq_ignore_ascii_case(&metas[i].checksum) {
            lines.push(format!(
                "{} (key {}): sha256 {} on disk, {want} recorded",
                candidates[i].path.display(),
                candidates[i].sigkey.as_deref().unwrap_or("none"),
                metas[i].checksum
            ));
        }
    }
    if lines.is_empty() {
        Ok(())
    } else {
        Err(ComposeError::ChecksumMismatch { lines })
    }
}

/// Read the candidates' headers (the cache answers for files seen before).
pub(super) fn read_headers(
    paths: &[&Path],
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Vec<PackageMeta>, ComposeError> {
    progress.phase("reading headers", Some(paths.len() as u64));
    Ok(read_keyed(paths, true, caches, progress)?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// [`read_headers`] with each file's key, for progress already announced:
/// whole records, or (`whole` false) records that may have been read only
/// to the end of the headers ([`rpm::read_package_header`]). What was read
/// (not found in the header cache) is stored in it before this returns.
fn read_keyed(
    paths: &[&Path],
    whole: bool,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(FileKey, PackageMeta)>, ComposeError> {
    let (out, fresh) = read_keyed_unsaved(paths, whole, caches, progress, |m| m)?;
    if let Some(c) = caches.headers {
        let records: Vec<_> = fresh.iter().map(|&i| (out[i].0, &out[i].1)).collect();
        put_or_warn(c, &records);
    }
    Ok(out)
}

/// Records (as the caller keeps them) with their files' keys.
type Keyed<T> = Vec<(FileKey, T)>;

/// Opens many files below one directory: relative to that directory's
/// descriptor (`openat`), so each open walks only the components below it.
/// A store's RPM lies nine components deep from where `odcs compose` runs
/// in the bench, four of them the store's own path; the walks were 8% of a
/// cold compose of 97,000 candidates in perf (README, "A cold compose").
struct Opener {
    /// The deepest directory holding every path, and its descriptor.
    dir: Option<(PathBuf, std::os::fd::OwnedFd)>,
}

impl Opener {
    fn new(paths: &[&Path]) -> Self {
        let mut common = paths.first().and_then(|p| p.parent());
        for p in paths {
            while let Some(d) = common
                && !p.starts_with(d)
            {
                common = d.parent();
            }
        }
        let dir = common.filter(|d| !d.as_os_str().is_empty()).and_then(|d| {
            use rustix::fs::{Mode, OFlags, open};
            let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
            // a directory that cannot be opened: each file by its whole path
            let fd = open(d, flags, Mode::empty()).ok()?;
            Some((d.to_owned(), fd))
        });
        Opener { dir }
    }

    fn open(&self, path: &Path) -> std::io::Result<std::fs::File> {
        if let Some((dir, fd)) = &self.dir
            && let Ok(below) = path.strip_prefix(dir)
            && !below.as_os_str().is_empty()
        {
            use rustix::fs::{Mode, OFlags, openat};
            let file = openat(fd, below, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
            return Ok(file.into());
        }
        std::fs::File::open(path)
    }
}

/// [`read_keyed`] without storing what was read: also which of the
/// records (their indices) were read rather than found in the cache. Each
/// record goes through `keep` as soon as it is read, on the reading
/// thread: into an `Arc`, say, so that a tag's 97,000 records of some 700
/// bytes each are not moved again (twice, and each time into new pages:
/// 50–100 ms of a cold compose), or made [`super::resident::compact`] for
/// the resident index, so that the full records of a large tag are never
/// all in memory at once.
fn read_keyed_unsaved<T: Send>(
    paths: &[&Path],
    whole: bool,
    caches: Caches<'_>,
    progress: &dyn Progress,
    keep: impl Fn(PackageMeta) -> T + Sync,
) -> Result<(Keyed<T>, Vec<usize>), ComposeError> {
    // into a cache that holds few records, most files are read: each is
    // opened at once and its key taken from the open file (one path walk),
    // not stat'ed by path and then opened (two). Cold `odcs compose` from
    // 97,000 candidates: 1.42 s of system time against 1.59–1.72 s, the
    // same wall time within the runs' spread (README, "A cold compose")
    let open_first = caches
        .headers
        .is_none_or(|c| c.records_hint() < paths.len() / 2);
    let opener = match open_first {
        true => Opener::new(paths),
        false => Opener { dir: None },
    };
    let results: Vec<Result<(FileKey, T, bool), RpmError>> = paths
        .par_iter()
        .map(|&path| {
            let io = |source| RpmError::Io {
                path: path.to_owned(),
                source,
            };
            let cached = |key: &FileKey| {
                caches.headers.and_then(|c| match whole {
                    true => c.get(key),
                    false => c.get_header(key),
                })
            };
            let out = if open_first {
                let file = opener.open(path).map_err(io)?;
                let md = file.metadata().map_err(io)?;
                let key = FileKey::from_metadata(&md);
                match cached(&key) {
                    Some(meta) => (key, meta, false),
                    None if whole => (key, rpm::read_open_package(path, &file, &md)?, true),
                    None => (key, rpm::read_open_package_header(path, &file, &md)?, true),
                }
            } else {
                let md = std::fs::metadata(path).map_err(io)?;
                let key = FileKey::from_metadata(&md);
                match cached(&key) {
                    Some(meta) => (key, meta, false),
                    None if whole => (key, rpm::read_package(path)?, true),
                    None => (key, rpm::read_package_header(path)?, true),
                }
            };
            progress.advance(1);
            let (key, meta, read) = out;
            Ok((key, keep(meta), read))
        })
        .collect();
    let mut out = Vec::with_capacity(results.len());
    let mut fresh = Vec::new();
    for r in results {
        let (key, meta, read) = r?;
        if read {
            fresh.push(out.len());
        }
        out.push((key, meta));
    }
    Ok((out, fresh))
}

/// Records a compose read that the header cache does not hold yet: by
/// candidate index, with the file's key. Stored by [`save_records`], which
/// a compose runs beside choosing its packages (the cold compose of a
/// 97,000-package tag writes 128 MB of records there, about 0.7 s that
/// would otherwise come before the choice).
type Unsaved = Vec<(usize, FileKey)>;

/// Store the `unsaved` records of `metas` in the header cache.
fn save_records(
    cache: &dyn crate::rpm::HeaderCache,
    metas: &[Arc<PackageMeta>],
    unsaved: &Unsaved,
) {
    let records: Vec<(FileKey, &PackageMeta)> =
        unsaved.iter().map(|&(i, k)| (k, &*metas[i])).collect();
    put_or_warn(cache, &records);
}

/// Store records in the header cache; a cache that cannot be written only
/// costs speed, so it is reported, not fatal.
fn put_or_warn(cache: &dyn crate::rpm::HeaderCache, records: &[(FileKey, &PackageMeta)]) {
    if let Err(e) = cache.put_many(records) {
        tracing::warn!("{e}");
    }
}

/// Records read (not from the resident index) after which a compose gives
/// the freed heap back: a warm compose reads none and pays nothing.
const RELEASE_AFTER: usize = 1000;

/// The candidates' records: from the resident index where it holds them
/// (no file touched), else read as [`read_headers`] does and kept there.
/// With the index, each record comes with its file's key as it was read,
/// for [`changed_since_kept`].
fn candidate_records(
    candidates: &Arc<Vec<SourceRpm>>,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<(Records, Unsaved), ComposeError> {
    let paths: Vec<&Path> = candidates.iter().map(|c| c.path.as_path()).collect();
    progress.phase("reading headers", Some(paths.len() as u64));
    let Some(resident) = caches.resident else {
        let (metas, fresh) = read_keyed_unsaved(&paths, false, caches, progress, Arc::new)?;
        let unsaved = fresh.into_iter().map(|i| (i, metas[i].0)).collect();
        let records = Records {
            metas: Arc::new(metas.into_iter().map(|(_, m)| m).collect()),
            keys: Arc::new(vec![None; paths.len()]),
        };
        return Ok((records, unsaved));
    };
    // exactly a kept tag resolution whose records a compose attached
    if let Some(records) = resident.tag_records(candidates) {
        progress.advance(paths.len() as u64);
        return Ok((records, Vec::new()));
    }
    let kept = resident.records(&paths);
    let missing: Vec<usize> = (0..paths.len()).filter(|&i| kept[i].is_none()).collect();
    progress.advance((paths.len() - missing.len()) as u64);
    let (read, fresh) = read_keyed_unsaved(
        &missing.iter().map(|&i| paths[i]).collect::<Vec<_>>(),
        false,
        caches,
        progress,
        |mut meta| {
            super::resident::compact(&mut meta);
            meta
        },
    )?;
    let unsaved: Unsaved = fresh.into_iter().map(|j| (missing[j], read[j].0)).collect();
    let fresh_keys: Vec<FileKey> = read.iter().map(|(k, _)| *k).collect();
    let fresh = resident.keep(
        missing
            .iter()
            .zip(read)
            .map(|(&i, (key, meta))| (paths[i].to_owned(), key, meta))
            .collect(),
    );
    if fresh.len() >= RELEASE_AFTER {
        // the full records read are freed; their pages go back
        super::resident::release_free_memory();
    }
    let mut fresh = fresh.into_iter().zip(fresh_keys);
    let mut metas = Vec::with_capacity(paths.len());
    let mut keys = Vec::with_capacity(paths.len());
    for k in kept {
        let (key, meta) = k.unwrap_or_else(|| {
            let (meta, key) = fresh.next().expect("one record per missing path");
            (key, meta)
        });
        metas.push(meta);
        keys.push(Some(key));
    }
    let records = Records {
        metas: Arc::new(metas),
        keys: Arc::new(keys),
    };
    // the next compose of exactly these candidates takes them as they are
    resident.attach(candidates, records.clone());
    Ok((records, unsaved))
}

/// The records of `given` where it has one (a repository's repodata), the
/// others read as [`read_headers`] reads them (a directory without
/// repodata beside it).
fn given_or_read(
    candidates: &[SourceRpm],
    given: Vec<Option<Arc<PackageMeta>>>,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Records, ComposeError> {
    let missing: Vec<usize> = (0..given.len()).filter(|&i| given[i].is_none()).collect();
    let paths: Vec<&Path> = missing
        .iter()
        .map(|&i| candidates[i].path.as_path())
        .collect();
    progress.phase("reading headers", Some(paths.len() as u64));
    let mut read = read_keyed(&paths, false, caches, progress)?.into_iter();
    let mut keys = vec![None; given.len()];
    let mut metas = Vec::with_capacity(given.len());
    for (i, g) in given.into_iter().enumerate() {
        metas.push(match g {
            Some(m) => m,
            None => {
                let (key, meta) = read.next().expect("one record per missing path");
                keys[i] = Some(key);
                Arc::new(meta)
            }
        });
    }
    Ok(Records {
        metas: Arc::new(metas),
        keys: Arc::new(keys),
    })
}

/// The chosen files with a key in `kept` (records of the resident index)
/// whose identity is no longer that key (rewritten since they were read).
fn changed_since_kept<'a>(
    candidates: &'a [SourceRpm],
    kept: &[Option<FileKey>],
    placements: &[Placement],
) -> Vec<&'a Path> {
    chosen(placements)
        .into_par_iter()
        .filter(|&i| kept[i].is_some())
        .filter(|&i| {
            let path = candidates[i].path.as_path();
            std::fs::metadata(path)
                .map(|md| FileKey::from_metadata(&md))
                .ok()
                != kept[i]
        })
        .map(|i| candidates[i].path.as_path())
        .collect()
}

/// Read whole the chosen candidates whose records were read only to the end
/// of their headers: their sha256 (the package id in repodata) and payload
/// digests. `records` then holds their whole records (also kept in the
/// caches, and attached in the resident index in place of the old list).
/// Gives the chosen files whose identity moved since their headers were
/// read (rewritten meanwhile): their records are the new ones, and the
/// choice made from the old ones must be made again.
fn complete_chosen(
    candidates: &Arc<Vec<SourceRpm>>,
    records: &mut Records,
    placements: &[Placement],
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Vec<usize>, ComposeError> {
    let partial: Vec<usize> = chosen(placements)
        .into_iter()
        .filter(|&i| !records.metas[i].is_whole())
        .collect();
    if partial.is_empty() {
        return Ok(Vec::new());
    }
    progress.phase("reading chosen packages", Some(partial.len() as u64));
    let paths: Vec<&Path> = partial
        .iter()
        .map(|&i| candidates[i].path.as_path())
        .collect();
    let read = read_keyed(&paths, true, caches, progress)?;
    let keys: Vec<FileKey> = read.iter().map(|(k, _)| *k).collect();
    let whole: Vec<Arc<PackageMeta>> = match caches.resident {
        Some(resident) => resident.keep(
            paths
                .iter()
                .zip(read)
                .map(|(p, (key, meta))| (p.to_path_buf(), key, meta))
                .collect(),
        ),
        None => read.into_iter().map(|(_, m)| Arc::new(m)).collect(),
    };
    let mut metas = (*records.metas).clone();
    let mut kept = (*records.keys).clone();
    let mut moved = Vec::new();
    let mut updates = Vec::new();
    for ((&i, meta), key) in partial.iter().zip(whole).zip(keys) {
        if kept[i].is_some_and(|k| k != key) {
            moved.push(i);
        }
        if kept[i].is_some() {
            kept[i] = Some(key);
            updates.push((i, meta.clone(), key));
        }
        metas[i] = meta;
    }
    *records = Records {
        metas: Arc::new(metas),
        keys: Arc::new(kept),
    };
    if let Some(resident) = caches.resident {
        // not attached (a list of several sources): nothing to patch
        resident.patch_attached(candidates, &updates);
    }
    Ok(moved)
}

/// Linking a file moves its ctime, which is part of its cache key: move the
/// records of the files we linked along (`rpm::link_tracked`), so the tree's
/// repodata, and the next compose, find them.
pub(super) fn keep_records(caches: Caches<'_>, moved: &[(FileKey, FileKey)]) {
    if let Some(c) = caches.headers
        && let Err(e) = c.rekey(moved)
    {
        tracing::warn!("{e}");
    }
    if let Some(r) = caches.resident {
        r.rekey(moved);
    }
}

/// The package name of a build `N-V-R` (its N).
fn build_name(nvr: &str) -> &str {
    let nvr = nvr.split(',').next().unwrap_or(nvr); // a draft's `,draft_<id>`
    nvr.rsplitn(3, '-').nth(2).unwrap_or(nvr)
}

/// The latest builds of several tags, each resolved at `event` with its own
/// inheritance, merged by one rule: the first tag listed that has a build
/// of a package gives that package (as a release engineer lists an updates
/// tag before its base).
fn tags_rpms(
    tags: &[String],
    event: i64,
    inherit: bool,
    sigkeys: &[Option<String>],
    source: &dyn PackageSource,
    resident: Option<&super::resident::ResidentIndex>,
) -> Result<Arc<Vec<SourceRpm>>, ComposeError> {
    let one = |tag: &str| match resident {
        Some(r) => r.tag_rpms(source, tag, event, inherit, sigkeys),
        None => source.tag_rpms(tag, event, inherit, sigkeys).map(Arc::new),
    };
    if let [tag] = tags {
        // the resolution itself, shared with the resident index
        return Ok(one(tag)?);
    }
    let mut out: Vec<SourceRpm> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let rpms = one(tag)?;
        out.extend(
            rpms.iter()
                .filter(|r| !taken.contains(build_name(&r.build_nvr)))
                .cloned(),
        );
        if i + 1 < tags.len() {
            taken.extend(rpms.iter().map(|r| build_name(&r.build_nvr).to_owned()));
        }
    }
    Ok(Arc::new(out))
}

/// What a request resolved to: the event, the candidate RPMs, the modules,
/// and for a compose of a compose its variant's arches.
/// The candidates are shared with the resident index when they are exactly
/// one kept tag resolution.
type Resolved = (
    i64,
    Arc<Vec<SourceRpm>>,
    Vec<ModuleStream>,
    Option<Vec<String>>,
    Given,
);

/// Resolve the request to candidate RPMs at an event.
fn resolve(
    req: &ComposeRequest,
    source: &dyn PackageSource,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Resolved, ComposeError> {
    let sigkeys: Vec<Option<String>> = if req.sigkeys.is_empty() {
        vec![None]
    } else {
        req.sigkeys.iter().map(|k| Some(k.clone())).collect()
    };
    let mut event = match req.event {
        Some(e) if req.source_type != SourceType::Repo => {
            source.check_event(e)?;
            e
        }
        Some(e) => e,
        None => source.current_event()?,
    };
    let mut modules = Vec::new();
    let mut arches = None;
    // records the source's own repodata gives, by candidate (a `repo`
    // source with repodata): those files are taken at its word, not read
    let mut given = Given::default();
    let mut rpms = match req.source_type {
        SourceType::Module => {
            let template = crate::source::ModuleQuery {
                spec: String::new(),
                event,
                include_done: req.flags.include_done_modules,
                base_module_br: req.base_module_br.clone(),
            };
            let with_deps = !req.flags.no_deps;
            modules = if req.source.is_empty() {
                // scratch modules only
                Vec::new()
            } else if req.modular_koji_tags.is_empty() {
                super::modules::resolve_modules(
                    &req.source,
                    &req.base_module_names,
                    &template,
                    &|q| source.module_builds(q),
                    with_deps,
                )?
            } else {
                let tags = &req.modular_koji_tags;
                let offered = super::modules::tag_modules(tags, event, source)?;
                super::modules::resolve_modules(
                    &req.source,
                    &req.base_module_names,
                    &template,
                    &|q| super::modules::lookup_among(&offered, tags, q),
                    with_deps,
                )?
            };
            for nsvc in &req.scratch_modules {
                modules.push(source.scratch_module(nsvc, &req.arches)?);
            }
            let mut v = Vec::new();
            for m in &modules {
                v.extend(source.module_rpms(m, &sigkeys)?);
            }
            Arc::new(v)
        }
        SourceType::Tag => {
            let mut v = tags_rpms(
                &req.source,
                event,
                !req.flags.no_inheritance,
                &sigkeys,
                source,
                caches.resident,
            )?;
            // every module of the modular tags and every scratch module, its
            // RPMs in place of the tag's packages of the same names: what
            // dnf sees with all the compose's streams active (formats.md
            // §4.3, modular filtering)
            modules = super::modules::tag_modules(&req.modular_koji_tags, event, source)?;
            modules.retain(|m| !req.base_module_names.contains(&m.name));
            for nsvc in &req.scratch_modules {
                modules.push(source.scratch_module(nsvc, &req.arches)?);
            }
            if !modules.is_empty() {
                let mut modular = Vec::new();
                for m in &modules {
                    modular.extend(source.module_rpms(m, &sigkeys)?);
                }
                let names: HashSet<&str> = modular
                    .iter()
                    .filter(|r| r.arch != "src")
                    .map(|r| r.name.as_str())
                    .collect();
                let v = Arc::make_mut(&mut v);
                v.retain(|r| !names.contains(r.name.as_str()));
                v.extend(modular);
            }
            v
        }
        SourceType::Build => {
            let mut v = Vec::new();
            for nvr in &req.source {
                v.extend(source.build_rpms(nvr, &sigkeys)?);
            }
            Arc::new(v)
        }
        SourceType::PungiCompose => {
            let mut inputs = Vec::new();
            for url in &req.source {
                let variant = crate::source::pungi_compose::load(url, req.lookaside_limits)
                    .map_err(|message| ComposeError::Lookaside {
                        location: url.clone(),
                        message,
                    })?;
                inputs.push((url.clone(), variant));
            }
            // several composes: merged, the highest E:V-R of each name
            // unless the request says the first input wins
            let variant = match inputs.len() {
                1 => inputs.pop().map(|(_, v)| v).unwrap_or_default(),
                _ => {
                    use crate::source::pungi_compose::{MergeRule, merge};
                    let rule = match req.flags.first_source_wins {
                        true => MergeRule::FirstListed,
                        false => MergeRule::HighestEvr,
                    };
                    let (merged, lost) = merge(&inputs, rule).map_err(ComposeError::Merge)?;
                    progress.note(&format!(
                        "merged {} composes: {} RPMs; {} lost to another compose's",
                        inputs.len(),
                        merged.builds.values().map(|b| b.len()).sum::<usize>(),
                        lost.len()
                    ));
                    for line in &lost {
                        progress.note(line);
                    }
                    merged
                }
            };
            arches = Some(variant.arches.clone());
            Arc::new(crate::source::pungi_compose::rpms(source, &variant)?)
        }
        SourceType::Repo => {
            let (rpms, revision, records) =
                repo_rpms(&req.source, req.lookaside_limits, req.mirror_dir.as_deref())?;
            // the repomd revision is the compose's event (odcs-api.md §6)
            if let Some(r) = revision {
                event = r;
            }
            given = records;
            Arc::new(rpms)
        }
        other => {
            return Err(ComposeError::Unsupported {
                source_type: other.name(),
            });
        }
    };
    // extra builds replace the tag's packages of the same name
    let mut extra = Vec::new();
    for nvr in &req.builds {
        extra.extend(source.build_rpms(nvr, &sigkeys)?);
    }
    if !extra.is_empty() {
        let replaced: HashSet<&str> = extra.iter().map(|r| r.name.as_str()).collect();
        // what the repodata gave stays with its candidate (builds apply to
        // tag composes only today, as in the original; kept aligned anyway)
        let kept: Vec<bool> = rpms
            .iter()
            .map(|r| !replaced.contains(r.name.as_str()))
            .collect();
        given.retain(&kept);
        let v = Arc::make_mut(&mut rpms);
        v.retain(|r| !replaced.contains(r.name.as_str()));
        v.extend(extra);
    }
    // builds added to a repo compose are read from their files
    given.pad(rpms.len());
    Ok((event, rpms, modules, arches, given))
}

/// What a `repo` source's repodata gives, by candidate: its record (taken
/// at the repository's word, no RPM opened), and for a repository over
/// http(s) where the mirror keeps the file (downloaded once chosen).
#[derive(Default)]
struct Given {
    records: Vec<Option<Arc<PackageMeta>>>,
    downloads: Vec<Option<crate::source::repo::Mirrored>>,
    /// The mirrors used, held until the trees link what was chosen (the
    /// reaper's pruning skips a held mirror).
    holds: Vec<crate::source::repo::MirrorHold>,
}

impl Given {
    /// Pad to `n` candidates (builds added after the repository's).
    fn pad(&mut self, n: usize) {
        self.records.resize(n, None);
        self.downloads.resize(n, None);
    }

    /// Keep the entries whose `kept` is true (candidates left out as
    /// `rpms` drops them); entries past `kept` stay.
    fn retain(&mut self, kept: &[bool]) {
        fn filter<T>(v: &mut Vec<T>, kept: &[bool]) {
            *v = std::mem::take(v)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| kept.get(*i).copied().unwrap_or(true))
                .map(|(_, x)| x)
                .collect();
        }
        filter(&mut self.records, kept);
        filter(&mut self.downloads, kept);
    }
}

/// The packages of the repositories of a `repo` compose (a directory, a
/// `file://` URL, or an `http(s)://` URL mirrored under `mirror`), from
/// their repodata, and the numeric revision of the last one's repomd.xml.
fn repo_rpms(
    locations: &[String],
    limits: RepoLimits,
    mirror: Option<&Path>,
) -> Result<(Vec<SourceRpm>, Option<i64>, Given), ComposeError> {
    let mut out = Vec::new();
    let mut given = Given::default();
    let mut revision = None;
    for loc in locations {
        let fail = |message: String| ComposeError::Lookaside {
            location: loc.clone(),
            message,
        };
        let (repo, files, downloads) = if loc.starts_with("http://") || loc.starts_with("https://")
        {
            let root = mirror.ok_or_else(|| {
                fail("a repository over http(s) is mirrored into the cache directory, and there is none (odcs compose --cache-dir)".into())
            })?;
            let (repo, kept, hold) = crate::source::repo::mirror(
                loc,
                &crate::source::repo::mirror_dir_of(root, loc),
                limits,
            )
            .map_err(|e| fail(e.to_string()))?;
            given.holds.push(hold);
            let files = kept.iter().map(|m| m.file.clone()).collect();
            (repo, files, kept.into_iter().map(Some).collect())
        } else {
            let dir = Path::new(loc.strip_prefix("file://").unwrap_or(loc));
            if !dir.is_absolute() {
                return Err(fail(
                    "a repo source is a local directory, a file:// URL or an http(s):// URL".into(),
                ));
            }
            if !dir.join("repodata/repomd.xml").is_file() {
                out.extend(unindexed_repo_rpms(dir).map_err(fail)?);
                given.pad(out.len());
                continue;
            }
            let repo = crate::source::repo::load_repo(loc, dir, limits)
                .map_err(|e| fail(e.to_string()))?;
            let mut files = Vec::with_capacity(repo.packages.len());
            for p in &repo.packages {
                if p.location_base.is_some() || p.location_href.split('/').any(|c| c == "..") {
                    return Err(fail(format!(
                        "{}: a package outside the repository",
                        p.location_href
                    )));
                }
                files.push(dir.join(&p.location_href));
            }
            let none = vec![None; files.len()];
            (repo, files, none)
        };
        revision = repo
            .revision
            .as_deref()
            .and_then(|r| r.trim().parse::<i64>().ok());
        given.downloads.extend(downloads);
        for (p, path) in repo.packages.into_iter().zip(files) {
            given.records.push(Some(Arc::new(p.to_record())));
            let build_nvr = p
                .sourcerpm
                .strip_suffix(".src.rpm")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{}-{}-{}", p.name, p.ver, p.rel));
            out.push(SourceRpm {
                epoch: p.epoch.parse::<u64>().ok().filter(|e| *e > 0),
                path,
                name: p.name,
                version: p.ver,
                release: p.rel,
                arch: p.arch,
                build_nvr,
                sigkey: None,
                koji_rpm_id: None,
            });
        }
    }
    Ok((out, revision, given))
}

/// The RPMs of a directory without repodata (a `repo` source nobody ran
/// createrepo over): every `*.rpm` under it, as createrepo_c would find them,
/// each read up to the end of its headers. A symlink leading out of the
/// directory is refused, as a repodata `location` with `..` is. Such a
/// repository has no revision: its composes are never reused.
fn unindexed_repo_rpms(dir: &Path) -> Result<Vec<SourceRpm>, String> {
    let found = super::createrepo::scan(dir).map_err(|e| e.to_string())?;
    if found.is_empty() {
        return Err("no repodata/repomd.xml and no RPM in it".into());
    }
    let root = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::with_capacity(found.len());
    for f in found {
        let real = f
            .path
            .canonicalize()
            .map_err(|e| format!("{}: {e}", f.path.display()))?;
        if !real.starts_with(&root) {
            return Err(format!(
                "{}: a package outside the repository",
                f.path.display()
            ));
        }
        let meta = crate::rpm::read_package_header(&f.path).map_err(|e| e.to_string())?;
        out.push(SourceRpm {
            build_nvr: crate::source::local::build_nvr(&meta),
            epoch: meta.epoch.filter(|e| *e > 0),
            path: f.path,
            name: meta.name,
            version: meta.version,
            release: meta.release,
            arch: meta.arch,
            sigkey: None,
            koji_rpm_id: None,
        });
    }
    Ok(out)
}

/// Packages of the lookaside repositories, from their repodata (downloaded
/// into the compose's `work/` directory when they are remote).
fn lookaside_packages(
    locations: &[String],
    work: &Path,
    limits: RepoLimits,
) -> Result<Vec<PackageMeta>, ComposeError> {
    let mut out = Vec::new();
    for (i, loc) in locations.iter().enumerate() {
        let scratch = work.join("lookaside").join(i.to_string());
        let repo = crate::source::repo::load_repo(loc, &scratch, limits).map_err(|e| {
            ComposeError::Lookaside {
                location: loc.clone(),
                message: e.to_string(),
            }
        })?;
        out.extend(
            repo.packages
                .iter()
                .map(crate::repodata::read::Package::to_meta),
        );
    }
    Ok(out)
}

/// Run a compose into `target/<name>`.
pub fn run_compose(
    req: &ComposeRequest,
    source: &dyn PackageSource,
    caches: Caches<'_>,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    in_part_dir(req, target, |part| {
        build(req, source, caches, part, progress)
    })
}

/// Build into `target/.<name>.part` with `f`, then rename into place; a
/// failure leaves nothing.
pub(super) fn in_part_dir(
    req: &ComposeRequest,
    target: &Path,
    f: impl FnOnce(&Path) -> Result<ComposeResult, ComposeError>,
) -> Result<ComposeResult, ComposeError> {
    let final_dir = target.join(&req.name);
    if final_dir.exists() {
        return Err(ComposeError::Exists {
            name: req.name.clone(),
            target: target.to_owned(),
        });
    }
    let part = target.join(format!(".{}.part", req.name));
    if part.exists() {
        std::fs::remove_dir_all(&part).map_err(io_at(&part))?;
    }
    std::fs::create_dir_all(&part).map_err(io_at(&part))?;
    match f(&part) {
        Ok(mut r) => {
            std::fs::rename(&part, &final_dir).map_err(io_at(&final_dir))?;
            r.dir = final_dir;
            Ok(r)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&part);
            Err(e)
        }
    }
}

fn build(
    req: &ComposeRequest,
    source: &dyn PackageSource,
    caches: Caches<'_>,
    top: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    // the scope of the thread that stores the records read beside the choice
    std::thread::scope(|scope| build_in(scope, req, source, caches, top, progress))
}

fn build_in<'scope, 'a: 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    req: &ComposeRequest,
    source: &dyn PackageSource,
    caches: Caches<'a>,
    top: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let mut timings = Vec::new();
    let t = Instant::now();
    progress.phase("resolving", None);
    let (event, candidates, modules, variant_arches, given) =
        resolve(req, source, caches, progress)?;
    // a compose of a compose: its variant's arches, every listed RPM (and
    // nothing else: the candidates are exactly those)
    let of_compose;
    let req = match variant_arches {
        Some(arches) if !arches.is_empty() => {
            of_compose = ComposeRequest {
                arches,
                packages: vec![],
                ..req.clone()
            };
            &of_compose
        }
        _ => req,
    };
    if !modules.is_empty() {
        progress.note(&format!(
            "modules: {}",
            modules
                .iter()
                .map(ModuleStream::nsvc)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    timings.push(("resolve", t.elapsed()));
    go_on(progress)?;

    let t = Instant::now();
    let Given {
        records: given,
        downloads,
        holds: _mirrors_held,
    } = given;
    let from_repodata: Vec<bool> = given.iter().map(Option::is_some).collect();
    let (
        Records {
            mut metas,
            keys: mut kept,
        },
        unsaved,
    ) = match given.iter().all(Option::is_some) && !given.is_empty() {
        // a repository's own repodata: no RPM opened
        true => (
            Records {
                keys: Arc::new(vec![None; given.len()]),
                metas: Arc::new(given.into_iter().flatten().collect()),
            },
            Vec::new(),
        ),
        false if given.iter().any(Option::is_some) => (
            given_or_read(&candidates, given, caches, progress)?,
            Vec::new(),
        ),
        false => candidate_records(&candidates, caches, progress)?,
    };
    // what was read is stored in the header cache while the packages are
    // chosen (on the core the choice leaves idle) and the chosen ones read
    // whole; it is joined at the end of the compose (by the scope, when the
    // compose fails). A whole record stored before the header-only one of
    // the same file stays the file's record (the cache never lets a
    // header-only record replace it).
    let saving = match caches.headers {
        Some(cache) if !unsaved.is_empty() => {
            let metas = metas.clone();
            Some(scope.spawn(move || save_records(cache, &metas, &unsaved)))
        }
        _ => None,
    };
    let lookaside = lookaside_packages(
        &req.lookaside_repos,
        &top.join("work"),
        req.lookaside_limits,
    )?;
    // the lookaside metadata is in memory now; its copies are not part of the compose
    let work = top.join("work");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io_at(&work))?;
    }
    timings.push(("headers", t.elapsed()));
    go_on(progress)?;

    let t = Instant::now();
    // the RPMs each arch's modules list go into that arch's tree: all of a
    // module compose (multilib ones too, as the per-arch modulemd says), and
    // in a tag compose whatever `packages` says, as Pungi's hybrid method
    // adds every module's artifacts
    let modular: HashMap<String, HashSet<usize>> =
        if !modules.is_empty() && matches!(req.source_type, SourceType::Tag | SourceType::Module) {
            let nevra = |c: &SourceRpm| {
                format!(
                    "{}-{}:{}-{}.{}",
                    c.name,
                    c.epoch.unwrap_or(0),
                    c.version,
                    c.release,
                    c.arch
                )
            };
            req.arches
                .iter()
                .map(|arch| {
                    let listed: HashSet<String> = super::modules::for_arch(&modules, arch)
                        .into_iter()
                        .flat_map(|m| m.artifacts)
                        .collect();
                    let chosen = candidates
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| listed.contains(&nevra(c)))
                        .map(|(i, _)| i)
                        .collect();
                    (arch.clone(), chosen)
                })
                .collect()
        } else {
            HashMap::new()
        };
    let mut placements = plan(req, &metas, &lookaside, &modular, caches, top, progress)?;
    // a chosen file rewritten since the resident index read it: read again
    // and choose again (once: the second reading is fresh)
    if let Some(resident) = caches.resident {
        let changed = changed_since_kept(&candidates, &kept, &placements);
        if !changed.is_empty() {
            progress.note(&format!(
                "{} chosen files changed since they were read: reading them again",
                changed.len()
            ));
            resident.forget(&changed);
            let unsaved;
            (Records { metas, keys: kept }, unsaved) =
                candidate_records(&candidates, caches, progress)?;
            if let Some(cache) = caches.headers {
                save_records(cache, &metas, &unsaved);
            }
            placements = plan(req, &metas, &lookaside, &modular, caches, top, progress)?;
        }
    }
    timings.push(("gather", t.elapsed()));
    go_on(progress)?;
    // the chosen files read whole (most candidates were read only to the
    // end of their headers); choose again if one changed meanwhile
    let t = Instant::now();
    let mut records = Records { metas, keys: kept };
    let moved = complete_chosen(&candidates, &mut records, &placements, caches, progress)?;
    if !moved.is_empty() {
        progress.note(&format!(
            "{} chosen files changed after their headers were read: choosing again",
            moved.len()
        ));
        placements = plan(
            req,
            &records.metas,
            &lookaside,
            &modular,
            caches,
            top,
            progress,
        )?;
        let again = complete_chosen(&candidates, &mut records, &placements, caches, progress)?;
        if !again.is_empty() {
            return Err(ComposeError::Unstable {
                paths: again
                    .iter()
                    .map(|&i| candidates[i].path.display().to_string())
                    .collect(),
            });
        }
    }
    let metas = records.metas;
    // the chosen RPMs of repositories over http(s) the mirror lacks
    let wanted: Vec<&crate::source::repo::Mirrored> = chosen(&placements)
        .into_iter()
        .filter_map(|i| downloads.get(i).and_then(Option::as_ref))
        .collect();
    if !wanted.is_empty() {
        progress.phase("downloading chosen packages", None);
        crate::source::repo::download(&wanted, req.lookaside_limits).map_err(|e| {
            ComposeError::Lookaside {
                location: req.source.join(" "),
                message: e.to_string(),
            }
        })?;
    }
    // records taken from a repository's repodata go into the header cache
    // under their files' keys (stat'ed, not opened), so the trees' repodata
    // finds them as it finds every chosen file's, and linking moves them along
    if let Some(cache) = caches.headers
        && from_repodata.iter().any(|&g| g)
    {
        let mut records = Vec::new();
        for i in chosen(&placements)
            .into_iter()
            .filter(|&i| from_repodata[i])
        {
            let path = &candidates[i].path;
            let md = std::fs::metadata(path).map_err(io_at(path))?;
            records.push((FileKey::from_metadata(&md), metas[i].as_ref()));
        }
        put_or_warn(cache, &records);
    }
    timings.push(("chosen", t.elapsed()));
    go_on(progress)?;
    verify_files(source, &candidates, &metas, &placements)?;

    let t = Instant::now();
    progress.phase("linking", Some(placements.len() as u64));
    // each file once (a source RPM chosen for several arches lives once in
    // the source tree), then linked in parallel
    let mut linked: HashSet<PathBuf> = HashSet::new();
    let mut links = Vec::with_capacity(placements.len());
    for p in &placements {
        let file = candidates[p.index].file_name();
        let dest = p.dir.join("Packages").join(hashed_dir(&file)).join(&file);
        if linked.insert(dest.clone()) {
            links.push((p, dest));
        }
    }
    go_on(progress)?;
    // the links of one file are made one after another: each must see
    // only its own change to the file for the record to follow it
    let mut of_file: HashMap<usize, Vec<&PathBuf>> = HashMap::new();
    for (p, dest) in &links {
        of_file.entry(p.index).or_default().push(dest);
    }
    let of_file: Vec<(usize, Vec<&PathBuf>)> = of_file.into_iter().collect();
    let results: Vec<Result<Vec<(FileKey, FileKey)>, ComposeError>> = of_file
        .par_iter()
        .map(|(index, dests)| {
            let mut moved = Vec::new();
            for dest in dests {
                let from = &candidates[*index].path;
                moved.extend(rpm::link_tracked(from, dest, link_or_copy).map_err(io_at(dest))?);
                progress.advance(1);
            }
            Ok(moved)
        })
        .collect();
    let mut moved = Vec::new();
    for r in results {
        moved.extend(r?);
    }
    // the source RPMs of the chosen binaries that are candidates: only
    // those are named (a tag offers tens of thousands)
    let wanted: HashSet<&str> = links
        .iter()
        .map(|(p, _)| &metas[p.index])
        .filter(|m| !m.is_source)
        .map(|m| build_name(&m.sourcerpm))
        .collect();
    let srpm_of: HashMap<String, String> = metas
        .iter()
        .filter(|m| m.is_source && wanted.contains(m.name.as_str()))
        .map(|m| (gather::source_file_name(m), nevra_with_epoch(m)))
        .collect();
    let mut rpms = Vec::with_capacity(links.len());
    for (
        Placement {
            index,
            category,
            arch,
            ..
        },
        dest,
    ) in links
    {
        let (cand, meta) = (&candidates[*index], &metas[*index]);
        let srpm_nevra = if meta.is_source {
            nevra_with_epoch(meta)
        } else {
            srpm_of.get(&meta.sourcerpm).cloned().unwrap_or_else(|| {
                // not in the compose: derived from the binary's SOURCERPM, as
                // Pungi does; a package without one stands for its own source
                let epoch = meta.epoch.unwrap_or(0);
                match meta
                    .sourcerpm
                    .strip_suffix(".src.rpm")
                    .and_then(|b| b.rsplit_once('-'))
                {
                    Some((nv, r)) if nv.contains('-') => {
                        let (n, v) = nv.rsplit_once('-').unwrap_or((nv, ""));
                        format!("{n}-{epoch}:{v}-{r}.src")
                    }
                    _ => format!(
                        "{}-{epoch}:{}-{}.src",
                        meta.name, meta.version, meta.release
                    ),
                }
            })
        };
        rpms.push(ComposedRpm {
            nevra: nevra_with_epoch(meta),
            srpm_nevra,
            arch: arch.clone(),
            category,
            path: dest
                .strip_prefix(top.join("compose"))
                .unwrap_or(&dest)
                .to_string_lossy()
                .into_owned(),
            sigkey: cand.sigkey.clone(),
            checksum: meta.checksum.clone(),
            build_nvr: cand.build_nvr.clone(),
            source_path: cand.path.clone(),
        });
    }
    keep_records(caches, &moved);
    // the candidates and their records are not needed past here
    drop_aside((metas, candidates));
    timings.push(("link", t.elapsed()));
    if rpms.is_empty() {
        return Err(ComposeError::Empty {
            arch: req.arches.join(" "),
        });
    }

    let defaults = super::modules::defaults_for(req, &modules, &top.join("work"))?;
    let content = Content {
        rpms,
        modules,
        defaults,
        event,
    };
    let mut result = finish(top, req, content, caches, progress, timings)?;
    // how long the compose waited, at its end, for the header records it
    // read to be stored (`saving`: 0 when they were stored meanwhile)
    if let Some(saving) = saving {
        let t = Instant::now();
        if let Err(panic) = saving.join() {
            std::panic::resume_unwind(panic);
        }
        result.timings.push(("saving", t.elapsed()));
    }
    Ok(result)
}

/// Free `big` on a thread of its own: the records of a tag's 97,000
/// candidates, freed one by one, were 0.11 s at the end of a cold compose
/// (3% of its samples in perf), and the process that runs it may exit next.
fn drop_aside<T: Send + 'static>(big: T) {
    // where no thread can be made, it is freed here, as before
    let _ = std::thread::Builder::new()
        .name("odcs-free".into())
        .spawn(move || drop(big));
}

/// What a compose holds once its RPMs are linked.
pub(super) struct Content {
    pub rpms: Vec<ComposedRpm>,
    /// The module builds of a module compose, and their defaults.
    pub modules: Vec<ModuleStream>,
    pub defaults: Vec<crate::modulemd::ModuleDefaults>,
    /// The event it was resolved at.
    pub event: i64,
}

/// The end of a compose whose RPMs are linked: repodata of every tree, then
/// the metadata.
pub(super) fn finish(
    top: &Path,
    req: &ComposeRequest,
    content: Content,
    caches: Caches<'_>,
    progress: &dyn Progress,
    mut timings: Vec<(&'static str, std::time::Duration)>,
) -> Result<ComposeResult, ComposeError> {
    let Content {
        rpms,
        modules,
        defaults,
        event,
    } = content;
    let t = Instant::now();
    let trees = tree::write_repositories(top, req, &modules, &defaults, caches, progress)?;
    timings.push(("repodata", t.elapsed()));
    go_on(progress)?;
    let date = crate::date::today();
    let images = if req.iso {
        progress.phase("createiso", None);
        let t = Instant::now();
        let images = super::iso::make_isos(top, req, &metadata::productmd_id(&req.name, &date))?;
        timings.push(("createiso", t.elapsed()));
        go_on(progress)?;
        images
    } else {
        Vec::new()
    };
    let t = Instant::now();
    progress.phase("metadata", None);
    metadata::write_all(top, req, &date, &rpms, &modules, &trees, &images).map_err(io_at(top))?;
    timings.push(("metadata", t.elapsed()));
    progress.done();
    Ok(ComposeResult {
        dir: top.to_owned(),
        event,
        rpms,
        modules: modules.iter().map(ModuleStream::nsvc).collect(),
        timings,
        pungi: None,
        pulp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_below_one_directory_are_opened_relative_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("store/packages");
        let files = [("a/1/x86_64/a.rpm", "a"), ("b/2/noarch/b.rpm", "b")];
        for (below, text) in files {
            let path = base.join(below);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let paths: Vec<PathBuf> = files.iter().map(|(b, _)| base.join(b)).collect();
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let opener = Opener::new(&refs);
        assert_eq!(
            opener.dir.as_ref().map(|(d, _)| d.as_path()),
            Some(base.as_path())
        );
        let read = |path: &Path| std::io::read_to_string(opener.open(path).unwrap()).unwrap();
        for (path, (_, text)) in paths.iter().zip(files) {
            assert_eq!(read(path), text);
        }
        // elsewhere: opened by its whole path
        let other = dir.path().join("other.rpm");
        std::fs::write(&other, "o").unwrap();
        assert_eq!(read(&other), "o");
        let missing = opener.open(&base.join("a/1/x86_64/none.rpm")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
        // one file: its own directory
        let one = Opener::new(&refs[..1]);
        assert_eq!(
            one.dir.as_ref().map(|(d, _)| d.as_path()),
            paths[0].parent()
        );
        // relative names with no directory in common: each by its own name
        assert!(
            Opener::new(&[Path::new("a.rpm"), Path::new("b.rpm")])
                .dir
                .is_none()
        );
        assert!(Opener::new(&[]).dir.is_none());
    }
}
