//! The compose engine without Pungi: resolve the request to candidate RPMs at a
//! pinned event, read their headers (through the cache), choose packages per
//! arch (dependency closure, sources, debuginfo, multilib), hardlink them into a
//! tree, write repodata per tree, then productmd metadata and the `.repo` file.
//!
//! Atomic: everything is built under `<target>/.<name>.part/` and becomes
//! `<target>/<name>/` by one rename at the end; a failure removes the partial
//! directory, so no half-built compose is ever visible.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::Progress;
use super::createrepo::{Caches, CreaterepoError};
use super::{metadata, tree};
use crate::gather::{self, ArchSet, GatherError, GatherOptions, Pool};
use crate::rpm::{self, FileKey, PackageMeta, RpmError};
use crate::source::repo::RepoLimits;
use crate::source::{PackageSource, SourceError, SourceRpm, local::link_or_copy};

/// The variant name Pungi uses for ODCS composes.
pub const VARIANT: &str = "Temporary";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    Tag,
    Build,
}

pub use crate::gather::multilib::MultilibMethod;

#[derive(Clone, Debug, Default)]
pub struct ComposeFlags {
    pub no_deps: bool,
    pub no_inheritance: bool,
    pub check_deps: bool,
}

/// A checked compose request (what the API and the CLI turn their input into).
#[derive(Clone, Debug)]
pub struct ComposeRequest {
    /// Directory name of the compose (`odcs-5`).
    pub name: String,
    pub source_type: SourceType,
    /// Tag name, or build N-V-Rs for `SourceType::Build`.
    pub source: Vec<String>,
    pub packages: Vec<String>,
    pub builds: Vec<String>,
    pub arches: Vec<String>,
    /// Empty: unsigned copies only (ODCS's `[None]`).
    pub sigkeys: Vec<String>,
    pub flags: ComposeFlags,
    /// Existing repositories (directories, `file://` or `http(s)://` URLs)
    /// whose packages satisfy dependencies and are not pulled in.
    pub lookaside_repos: Vec<String>,
    pub multilib_arches: Vec<String>,
    pub multilib_methods: Vec<MultilibMethod>,
    pub event: Option<i64>,
    /// Public URL of the compose directory, for the `.repo` file.
    pub url: String,
    /// What reading a lookaside repository may cost (download time, sizes).
    pub lookaside_limits: RepoLimits,
}

impl ComposeRequest {
    /// A compose of every package of `tag` for x86_64 with the request
    /// defaults (unsigned copies, no flags, no lookaside, no multilib, the
    /// newest event); `url` is the public URL of the compose directory.
    pub fn tag(name: &str, tag: &str, url: &str) -> ComposeRequest {
        ComposeRequest {
            name: name.to_owned(),
            source_type: SourceType::Tag,
            source: vec![tag.to_owned()],
            packages: vec![],
            builds: vec![],
            arches: vec!["x86_64".to_owned()],
            sigkeys: vec![],
            flags: ComposeFlags::default(),
            lookaside_repos: vec![],
            multilib_arches: vec![],
            multilib_methods: vec![],
            event: None,
            url: url.to_owned(),
            lookaside_limits: RepoLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Read(#[from] RpmError),
    #[error("packages not found in {origin}: {}", .names.join(", "))]
    MissingPackages { origin: String, names: Vec<String> },
    #[error("unresolved dependencies in {arch} (check_deps):{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    Unresolved { arch: String, lines: Vec<String> },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lookaside repository {location}: {message}")]
    Lookaside { location: String, message: String },
    #[error(transparent)]
    Repodata(#[from] CreaterepoError),
    #[error("compose {name} already exists in {target}")]
    Exists { name: String, target: PathBuf },
    #[error("the compose selected no packages for {arch}")]
    Empty { arch: String },
    #[error(transparent)]
    Gather(#[from] GatherError),
    #[error("the compose was cancelled")]
    Cancelled,
    #[error("RPM files differ from the checksums their source records:{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    ChecksumMismatch { lines: Vec<String> },
    #[error("the compose cannot be recreated with exactly the same RPMs:{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    NotReproducible { lines: Vec<String> },
}

fn go_on(progress: &dyn Progress) -> Result<(), ComposeError> {
    if progress.cancelled() {
        Err(ComposeError::Cancelled)
    } else {
        Ok(())
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ComposeError + '_ {
    move |source| ComposeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One RPM in the finished compose, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposedRpm {
    pub nevra: String,
    pub srpm_nevra: String,
    pub arch: String,
    pub category: &'static str,
    /// Relative to `compose/`.
    pub path: String,
    pub sigkey: Option<String>,
    pub checksum: String,
    pub build_nvr: String,
    /// Where the file came from.
    pub source_path: PathBuf,
}

#[derive(Debug)]
pub struct ComposeResult {
    pub dir: PathBuf,
    pub event: i64,
    pub rpms: Vec<ComposedRpm>,
    pub timings: Vec<(&'static str, Duration)>,
}

/// `name-epoch:version-release.arch`, epoch always present (productmd's form).
pub fn nevra_with_epoch(p: &PackageMeta) -> String {
    format!(
        "{}-{}:{}-{}.{}",
        p.name,
        p.epoch.unwrap_or(0),
        p.version,
        p.release,
        p.arch
    )
}

fn hashed_dir(file_name: &str) -> String {
    file_name
        .chars()
        .next()
        .map(|c| c.to_ascii_lowercase().to_string())
        .unwrap_or_default()
}

fn is_debug(name: &str) -> bool {
    name.ends_with("-debuginfo") || name.contains("-debuginfo-") || name.ends_with("-debugsource")
}

/// The files going into the compose against the checksums their source
/// records (Koji's for signed copies): a file that differs (damaged on the
/// volume, re-signed without Koji knowing) fails the compose, naming it.
fn verify_files(
    source: &dyn PackageSource,
    candidates: &[SourceRpm],
    metas: &[PackageMeta],
    placements: &[(usize, PathBuf, &'static str, String)],
) -> Result<(), ComposeError> {
    let mut chosen: Vec<usize> = placements.iter().map(|p| p.0).collect();
    chosen.sort_unstable();
    chosen.dedup();
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
fn read_headers(
    paths: &[&Path],
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Vec<PackageMeta>, ComposeError> {
    progress.phase("reading headers", Some(paths.len() as u64));
    let results: Vec<Result<(PackageMeta, Option<FileKey>), RpmError>> = paths
        .par_iter()
        .map(|&path| {
            let md = std::fs::metadata(path).map_err(|source| RpmError::Io {
                path: path.to_owned(),
                source,
            })?;
            let key = FileKey::from_metadata(&md);
            let out = match caches.headers.and_then(|c| c.get(&key)) {
                Some(meta) => (meta, None),
                None => (rpm::read_package(path)?, Some(key)),
            };
            progress.advance(1);
            Ok(out)
        })
        .collect();
    let mut metas = Vec::with_capacity(results.len());
    let mut fresh = Vec::new();
    for r in results {
        let (meta, key) = r?;
        if let Some(k) = key {
            fresh.push((k, metas.len()));
        }
        metas.push(meta);
    }
    if let Some(c) = caches.headers {
        let records: Vec<_> = fresh.iter().map(|(k, i)| (*k, &metas[*i])).collect();
        if let Err(e) = c.put_many(&records) {
            tracing::warn!("{e}");
        }
    }
    Ok(metas)
}

/// Linking a file moves its ctime, which is part of its cache key: move the
/// records of the files we linked along (`rpm::link_tracked`), so the tree's
/// repodata, and the next compose, find them.
fn keep_records(caches: Caches<'_>, moved: &[(FileKey, FileKey)]) {
    if let Some(c) = caches.headers
        && let Err(e) = c.rekey(moved)
    {
        tracing::warn!("{e}");
    }
}

/// Resolve the request to candidate RPMs at an event.
fn resolve(
    req: &ComposeRequest,
    source: &dyn PackageSource,
) -> Result<(i64, Vec<SourceRpm>), ComposeError> {
    let sigkeys: Vec<Option<String>> = if req.sigkeys.is_empty() {
        vec![None]
    } else {
        req.sigkeys.iter().map(|k| Some(k.clone())).collect()
    };
    let event = match req.event {
        Some(e) => {
            source.check_event(e)?;
            e
        }
        None => source.current_event()?,
    };
    let mut rpms = match req.source_type {
        SourceType::Tag => {
            let tag = req.source.first().map(String::as_str).unwrap_or_default();
            source.tag_rpms(tag, event, !req.flags.no_inheritance, &sigkeys)?
        }
        SourceType::Build => {
            let mut v = Vec::new();
            for nvr in &req.source {
                v.extend(source.build_rpms(nvr, &sigkeys)?);
            }
            v
        }
    };
    // extra builds replace the tag's packages of the same name
    let mut extra = Vec::new();
    for nvr in &req.builds {
        extra.extend(source.build_rpms(nvr, &sigkeys)?);
    }
    let replaced: HashSet<&str> = extra.iter().map(|r| r.name.as_str()).collect();
    rpms.retain(|r| !replaced.contains(r.name.as_str()));
    rpms.extend(extra);
    Ok((event, rpms))
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

/// Recreate a compose into `target/<name>` from a stored package set: the
/// same files (each checked against its recorded sha256) at the same places,
/// then repodata and metadata; nothing is resolved or gathered again. A file
/// that is gone or differs fails it, naming every such file.
pub fn replay_compose(
    req: &ComposeRequest,
    stored: &[ComposedRpm],
    event: i64,
    caches: Caches<'_>,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    in_part_dir(req, target, |part| {
        rebuild(stored, event, caches, part, req, progress)
    })
}

/// Build into `target/.<name>.part` with `f`, then rename into place; a
/// failure leaves nothing.
fn in_part_dir(
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

fn rebuild(
    stored: &[ComposedRpm],
    event: i64,
    caches: Caches<'_>,
    top: &Path,
    req: &ComposeRequest,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let mut timings = Vec::new();
    let t = Instant::now();
    let paths: Vec<&Path> = stored.iter().map(|r| r.source_path.as_path()).collect();
    let mut lines = Vec::new();
    let present: Vec<&Path> = paths.iter().copied().filter(|p| p.is_file()).collect();
    for p in paths.iter().filter(|p| !p.is_file()) {
        lines.push(format!("{}: gone", p.display()));
    }
    // a file that no longer reads (its digests fail) is not the one recorded
    let metas = read_headers(&present, caches, progress).map_err(|e| match e {
        ComposeError::Read(e) => ComposeError::NotReproducible {
            lines: vec![e.to_string()],
        },
        e => e,
    })?;
    let by_path: HashMap<&Path, &PackageMeta> = present.iter().copied().zip(&metas).collect();
    for r in stored {
        if let Some(meta) = by_path.get(r.source_path.as_path())
            && !meta.checksum.eq_ignore_ascii_case(&r.checksum)
        {
            lines.push(format!(
                "{}: sha256 {} on disk, {} recorded",
                r.source_path.display(),
                meta.checksum,
                r.checksum
            ));
        }
    }
    if !lines.is_empty() {
        return Err(ComposeError::NotReproducible { lines });
    }
    timings.push(("headers", t.elapsed()));
    go_on(progress)?;

    let t = Instant::now();
    progress.phase("linking", Some(stored.len() as u64));
    let compose_dir = top.join("compose");
    let mut moved = Vec::new();
    for r in stored {
        go_on(progress)?;
        let dest = compose_dir.join(&r.path);
        // the tree is what holds Packages/
        r.path
            .split_once("/Packages/")
            .ok_or_else(|| ComposeError::NotReproducible {
                lines: vec![format!("{}: not under a Packages/ directory", r.path)],
            })?;
        if !dest.exists() {
            moved.extend(
                rpm::link_tracked(&r.source_path, &dest, link_or_copy).map_err(io_at(&dest))?,
            );
        }
        progress.advance(1);
    }
    keep_records(caches, &moved);
    timings.push(("link", t.elapsed()));

    let t = Instant::now();
    let trees = tree::write_repositories(top, req, caches, progress)?;
    timings.push(("repodata", t.elapsed()));
    go_on(progress)?;
    let t = Instant::now();
    progress.phase("metadata", None);
    metadata::write_all(top, req, stored, &trees).map_err(io_at(top))?;
    timings.push(("metadata", t.elapsed()));
    progress.done();
    Ok(ComposeResult {
        dir: top.to_owned(),
        event,
        rpms: stored.to_vec(),
        timings,
    })
}

fn build(
    req: &ComposeRequest,
    source: &dyn PackageSource,
    caches: Caches<'_>,
    top: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let mut timings = Vec::new();
    let t = Instant::now();
    progress.phase("resolving", None);
    let (event, candidates) = resolve(req, source)?;
    timings.push(("resolve", t.elapsed()));
    go_on(progress)?;

    let t = Instant::now();
    let paths: Vec<&Path> = candidates.iter().map(|c| c.path.as_path()).collect();
    let metas = read_headers(&paths, caches, progress)?;
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
    progress.phase("gathering", Some(req.arches.len() as u64));
    let variant_dir = top.join("compose").join(VARIANT);
    let source_label = match req.source_type {
        SourceType::Tag => format!("tag {}", req.source.join(" ")),
        SourceType::Build => format!("builds {}", req.source.join(" ")),
    };
    // (candidate index, tree dir, category, arch for the manifest)
    let mut placements: Vec<(usize, PathBuf, &'static str, String)> = Vec::new();
    let lookaside_refs: Vec<&PackageMeta> = lookaside.iter().collect();
    let mut missing_all: Vec<String> = Vec::new();
    for arch in &req.arches {
        let multilib = req.multilib_arches.contains(arch) && !req.multilib_methods.is_empty();
        let arches = ArchSet::new(arch, multilib, true);
        let refs: Vec<&PackageMeta> = metas.iter().collect();
        let pool = Pool::new(&refs, &lookaside_refs, &arches, caches.pools)?;
        progress.note(&if pool.stats().reused {
            format!("{arch}: libsolv pool of {} packages reused", pool.len())
        } else {
            format!(
                "{arch}: libsolv pool of {} packages built in {} ms",
                pool.len(),
                pool.stats().build.as_millis()
            )
        });
        let mut roots = Vec::new();
        if req.packages.is_empty() {
            roots.extend((0..pool.len()).filter(|&i| {
                let p = pool.package(i);
                !pool.is_lookaside(i)
                    && !p.is_source
                    && !is_debug(&p.name)
                    && !arches.is_multilib(&p.arch)
            }));
        } else {
            for name in &req.packages {
                let named: Vec<usize> = pool
                    .named(name)
                    .into_iter()
                    .filter(|&i| !arches.is_multilib(&pool.package(i).arch))
                    .collect();
                match named
                    .iter()
                    .max_by(|&&a, &&b| pool.package(a).evr().cmp_package(&pool.package(b).evr()))
                {
                    Some(&best) => roots.push(best),
                    None => {
                        if !missing_all.contains(name) {
                            missing_all.push(name.clone());
                        }
                    }
                }
            }
        }
        let opts = GatherOptions {
            deps: !req.flags.no_deps,
            whole_set: req.packages.is_empty(),
            source: true,
            debuginfo: true,
        };
        let mut g = gather::gather(&pool, &roots, &opts);
        if multilib {
            // same-N-V-R packages of the multilib arches, when a method wants them
            let chosen: HashSet<(String, String, String)> = g
                .chosen
                .iter()
                .map(|&i| pool.package(i))
                .filter(|p| !p.is_source)
                .map(|p| (p.name.clone(), p.version.clone(), p.release.clone()))
                .collect();
            let extra: Vec<usize> = (0..pool.len())
                .filter(|&i| {
                    let p = pool.package(i);
                    !pool.is_lookaside(i)
                        && arches.is_multilib(&p.arch)
                        && chosen.contains(&(p.name.clone(), p.version.clone(), p.release.clone()))
                        && crate::gather::multilib::wanted(p, &req.multilib_methods)
                })
                .collect();
            if !extra.is_empty() {
                // solved as a set of their own: the closure of the requested
                // packages stays libsolv's answer for them
                let extra_opts = GatherOptions {
                    whole_set: false,
                    ..opts.clone()
                };
                g.merge(gather::gather(&pool, &extra, &extra_opts));
            }
        }
        let lines = g.problem_lines();
        if req.flags.check_deps && !lines.is_empty() {
            return Err(ComposeError::Unresolved {
                arch: arch.clone(),
                lines,
            });
        }
        for n in g.notes() {
            tracing::warn!("{arch}: {n}");
            progress.note(&format!("{arch}: {n}"));
        }
        if g.chosen.iter().all(|&i| pool.package(i).is_source) && !req.packages.is_empty() {
            continue;
        }
        for &i in &g.chosen {
            let p = pool.package(i);
            let idx = pool.input_index(i);
            let (dir, category) = if p.is_source {
                (variant_dir.join("source/tree"), "source")
            } else if is_debug(&p.name) {
                (variant_dir.join(arch).join("debug/tree"), "debug")
            } else {
                (variant_dir.join(arch).join("os"), "binary")
            };
            placements.push((idx, dir, category, arch.clone()));
        }
        progress.advance(1);
    }
    if !missing_all.is_empty() {
        return Err(ComposeError::MissingPackages {
            origin: source_label,
            names: missing_all,
        });
    }
    timings.push(("gather", t.elapsed()));
    go_on(progress)?;
    verify_files(source, &candidates, &metas, &placements)?;

    let t = Instant::now();
    progress.phase("linking", Some(placements.len() as u64));
    let mut rpms = Vec::new();
    let mut linked: HashSet<PathBuf> = HashSet::new();
    let mut moved = Vec::new();
    let srpm_of: HashMap<String, String> = metas
        .iter()
        .filter(|m| m.is_source)
        .map(|m| (gather::source_file_name(m), nevra_with_epoch(m)))
        .collect();
    for (idx, dir, category, arch) in &placements {
        go_on(progress)?;
        let (cand, meta) = (&candidates[*idx], &metas[*idx]);
        let file = cand.file_name();
        let rel = Path::new("Packages").join(hashed_dir(&file)).join(&file);
        let dest = dir.join(&rel);
        if !linked.insert(dest.clone()) {
            // a source RPM chosen for several arches lives once in the source tree
            continue;
        }
        moved.extend(rpm::link_tracked(&cand.path, &dest, link_or_copy).map_err(io_at(&dest))?);
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
        progress.advance(1);
    }
    keep_records(caches, &moved);
    timings.push(("link", t.elapsed()));
    if rpms.is_empty() {
        return Err(ComposeError::Empty {
            arch: req.arches.join(" "),
        });
    }

    let t = Instant::now();
    let trees = tree::write_repositories(top, req, caches, progress)?;
    timings.push(("repodata", t.elapsed()));

    go_on(progress)?;
    let t = Instant::now();
    progress.phase("metadata", None);
    metadata::write_all(top, req, &rpms, &trees).map_err(io_at(top))?;
    timings.push(("metadata", t.elapsed()));
    progress.done();

    Ok(ComposeResult {
        dir: top.to_owned(),
        event,
        rpms,
        timings,
    })
}

pub use crate::date::{civil_from_days, today};

/// The manifest grouped as productmd's rpms.json wants it.
pub type Manifest<'a> = BTreeMap<String, BTreeMap<String, BTreeMap<String, &'a ComposedRpm>>>;

/// arch → SRPM NEVRA → RPM NEVRA → entry.
pub fn manifest<'a>(rpms: &'a [ComposedRpm], arches: &[String]) -> Manifest<'a> {
    let mut out = Manifest::new();
    for r in rpms {
        // SRPMs are recorded under every tree arch
        let under: Vec<&String> = if r.category == "source" {
            arches.iter().collect()
        } else {
            vec![&r.arch]
        };
        for a in under {
            out.entry(a.clone())
                .or_default()
                .entry(r.srpm_nevra.clone())
                .or_default()
                .insert(r.nevra.clone(), r);
        }
    }
    out
}
