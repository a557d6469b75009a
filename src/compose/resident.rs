//! The resident package index (#18): what `odcs serve` and `odcs worker`
//! keep in memory between composes so a warm compose does only the new work.
//!
//! Two things are kept, bounded together by a byte budget:
//! - **Tag resolutions**: the candidate RPMs of one tag (with or without
//!   inheritance, for one sigkey list) and the event they were resolved at.
//!   A later compose of the same tag reuses them when the event is the same
//!   or when the source says nothing deciding the tag's content changed
//!   between the two events ([`PackageSource::tag_changed_since`]: Koji's
//!   `tagChangedSinceEvent`, asked once per tag and compose; the local
//!   store's history), so a warm compose from Koji makes no
//!   `listTaggedRPMS` call for an unchanged tag.
//! - **Package records** by path: what the closure and the engine need of
//!   each candidate. A record is the header cache's, without what only
//!   repodata needs (changelogs, descriptions): repodata reads the chosen
//!   packages' full records from the header cache as before. File lists
//!   stay whole, since the closure's file provides depend on every path some
//!   dependency may name.
//!
//! **Trust.** A record is used without a `stat` of its file: a warm compose
//! touches no candidate file. The files chosen for a compose are checked
//! before they are linked (their identity against the record's key, the
//! header cache's key); a file that changed since its record was made (a
//! signed copy rewritten in place) is dropped from the index and the
//! compose reads it again and chooses again. A candidate that is not chosen
//! and changed in place keeps its old record until it is evicted or chosen.
//!
//! **Header-only records and their completion.** A compose reads a
//! candidate it has no record of only to the end of its headers, and the
//! packages it chooses whole (`compose::engine`). The records kept may so be
//! header-only; after each compose, `serve` and `worker` read the remaining
//! ones whole in the background ([`complete_in_background`]: one thread,
//! nice 10), patching the attached lists, so a later compose choosing them
//! opens no RPM. Until it has passed, a compose choosing a package not yet
//! read whole reads it (and competes with it for the CPU).
//!
//! A budget of 0 (`resident_index_mb = 0`) keeps nothing: every compose
//! asks the source and reads its records as without the index.
//!
//! **Eviction.** When the estimated size passes the budget, the least
//! recently used tag resolutions go first, then every record no remaining
//! resolution holds, least recently used first.
//!
//! Departure from DESIGN.md ("full records stay on disk, memory-mapped"):
//! records are kept decoded, not as offsets into the header cache's mapped
//! log; their size is what the `odcs_resident_bytes` metric shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::rpm::{FileKey, HeaderCache, PackageMeta};
use crate::source::{PackageSource, SourceError, SourceRpm};

/// The default memory budget of the index.
pub const DEFAULT_BUDGET_BYTES: usize = 640 << 20;

/// What identifies a tag resolution.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TagKey {
    /// The source's location (Koji topdir, store root): one index may serve
    /// several sources in tests and in `odcs compose`.
    location: Option<PathBuf>,
    /// [`PackageSource::tag_options`].
    options: String,
    tag: String,
    inherit: bool,
    sigkeys: Vec<Option<String>>,
}

struct TagEntry {
    event: i64,
    rpms: Arc<Vec<SourceRpm>>,
    /// The records of `rpms`, in their order, once a compose read them: a
    /// compose of exactly this resolution takes them with no per-package
    /// work.
    records: Option<Records>,
    bytes: usize,
    used: u64,
}

/// Records of a list of candidates, in its order, and the keys of their
/// files when they were read (`None`: read by this compose just now).
#[derive(Clone)]
pub struct Records {
    pub metas: Arc<Vec<Arc<PackageMeta>>>,
    pub keys: Arc<Vec<Option<FileKey>>>,
}

struct Record {
    key: FileKey,
    meta: Arc<PackageMeta>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Inner {
    tags: HashMap<TagKey, TagEntry>,
    records: HashMap<PathBuf, Record>,
    bytes: usize,
    clock: u64,
}

/// Hits and misses since the process started.
#[derive(Default)]
pub struct ResidentStats {
    pub tag_hits: AtomicU64,
    pub tag_misses: AtomicU64,
    pub record_hits: AtomicU64,
    pub record_misses: AtomicU64,
    pub evictions: AtomicU64,
    /// Header-only records the background completion read whole
    /// ([`complete_in_background`]).
    pub completed: AtomicU64,
    /// Whether the background completion runs now.
    pub completing: std::sync::atomic::AtomicBool,
}

/// The index; shared by the workers of a process (see the module doc).
pub struct ResidentIndex {
    budget: AtomicU64,
    inner: Mutex<Inner>,
    pub stats: ResidentStats,
}

impl Default for ResidentIndex {
    fn default() -> Self {
        ResidentIndex::new(DEFAULT_BUDGET_BYTES)
    }
}

impl ResidentIndex {
    pub fn new(budget_bytes: usize) -> ResidentIndex {
        ResidentIndex {
            budget: AtomicU64::new(budget_bytes as u64),
            inner: Mutex::default(),
            stats: ResidentStats::default(),
        }
    }

    pub fn set_budget(&self, bytes: usize) {
        self.budget.store(bytes as u64, Relaxed);
        self.evict(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Estimated bytes held, records held, tag resolutions held.
    pub fn size(&self) -> (usize, usize, usize) {
        let inner = self.lock();
        (inner.bytes, inner.records.len(), inner.tags.len())
    }

    /// The latest builds' RPMs of `tag` at `event`, from memory when a kept
    /// resolution still answers for `event`, else from `source` (and kept).
    pub fn tag_rpms(
        &self,
        source: &dyn PackageSource,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Arc<Vec<SourceRpm>>, SourceError> {
        let key = TagKey {
            location: source.location().map(|(p, _)| p),
            options: source.tag_options(),
            tag: tag.to_owned(),
            inherit,
            sigkeys: sigkeys.to_vec(),
        };
        let kept = {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            inner.tags.get_mut(&key).map(|e| {
                e.used = clock;
                (e.event, e.rpms.clone())
            })
        };
        if let Some((at, rpms)) = kept {
            // unchanged between the two events: the same content
            if at == event || !source.tag_changed_since(tag, at.min(event), inherit)? {
                self.stats.tag_hits.fetch_add(1, Relaxed);
                return Ok(rpms);
            }
        }
        self.stats.tag_misses.fetch_add(1, Relaxed);
        let rpms = Arc::new(source.tag_rpms(tag, event, inherit, sigkeys)?);
        let bytes = rpms.iter().map(source_rpm_bytes).sum::<usize>() + 64;
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        let entry = TagEntry {
            event,
            rpms: rpms.clone(),
            records: None,
            bytes,
            used,
        };
        inner.bytes += bytes;
        if let Some(old) = inner.tags.insert(key, entry) {
            inner.bytes -= old.bytes;
        }
        self.evict(&mut inner);
        Ok(rpms)
    }

    /// The kept records of `paths` (`None` where there is none).
    pub fn records(&self, paths: &[&Path]) -> Vec<Option<(FileKey, Arc<PackageMeta>)>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let out: Vec<_> = paths
            .iter()
            .map(|p| {
                inner.records.get_mut(*p).map(|r| {
                    r.used = clock;
                    (r.key, r.meta.clone())
                })
            })
            .collect();
        let hits = out.iter().filter(|r| r.is_some()).count() as u64;
        self.stats.record_hits.fetch_add(hits, Relaxed);
        self.stats
            .record_misses
            .fetch_add(out.len() as u64 - hits, Relaxed);
        out
    }

    /// Keep records read from the files at these paths, made compact
    /// ([`compact`]) in place.
    pub fn keep(&self, records: Vec<(PathBuf, FileKey, PackageMeta)>) -> Vec<Arc<PackageMeta>> {
        let made: Vec<(PathBuf, Record)> = records
            .into_iter()
            .map(|(path, key, mut meta)| {
                compact(&mut meta);
                let meta = Arc::new(meta);
                let bytes = meta_bytes(&meta) + path.as_os_str().len() + 96;
                (
                    path,
                    Record {
                        key,
                        meta,
                        bytes,
                        used: 0,
                    },
                )
            })
            .collect();
        let out = made.iter().map(|(_, r)| r.meta.clone()).collect();
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        for (path, mut r) in made {
            r.used = clock;
            inner.bytes += r.bytes;
            if let Some(old) = inner.records.insert(path, r) {
                inner.bytes -= old.bytes;
            }
        }
        self.evict(&mut inner);
        out
    }

    /// The records of a kept tag resolution (the very list
    /// [`ResidentIndex::tag_rpms`] gave), if a compose attached them.
    pub fn tag_records(&self, rpms: &Arc<Vec<SourceRpm>>) -> Option<Records> {
        let inner = self.lock();
        let found = inner
            .tags
            .values()
            .find(|e| Arc::ptr_eq(&e.rpms, rpms))
            .and_then(|e| e.records.clone());
        if let Some(r) = &found {
            self.stats
                .record_hits
                .fetch_add(r.metas.len() as u64, Relaxed);
        }
        found
    }

    /// Attach the records of a kept tag resolution's list, in its order.
    pub fn attach(&self, rpms: &Arc<Vec<SourceRpm>>, records: Records) {
        let mut inner = self.lock();
        if let Some(e) = inner
            .tags
            .values_mut()
            .find(|e| Arc::ptr_eq(&e.rpms, rpms) && e.records.is_none())
        {
            let bytes = records.metas.len() * 8 + records.keys.len() * 56;
            e.bytes += bytes;
            e.records = Some(records);
            inner.bytes += bytes;
        }
    }

    /// Put records read whole in place of header-only ones in the records
    /// attached to `rpms` (if any are): `(index, record, its file's key)`.
    /// Applied to whatever is attached now, so updates made at the same time
    /// (a compose's chosen packages, the background completion) all land.
    /// False when no records are attached to `rpms` (any more).
    pub fn patch_attached(
        &self,
        rpms: &Arc<Vec<SourceRpm>>,
        updates: &[(usize, Arc<PackageMeta>, FileKey)],
    ) -> bool {
        if updates.is_empty() {
            return false;
        }
        let mut inner = self.lock();
        let Some(records) = inner
            .tags
            .values_mut()
            .find(|e| Arc::ptr_eq(&e.rpms, rpms))
            .and_then(|e| e.records.as_mut())
        else {
            return false;
        };
        let mut metas = (*records.metas).clone();
        let mut keys = (*records.keys).clone();
        for (i, meta, key) in updates {
            if let (Some(m), Some(k)) = (metas.get_mut(*i), keys.get_mut(*i)) {
                *m = meta.clone();
                *k = Some(*key);
            }
        }
        *records = Records {
            metas: Arc::new(metas),
            keys: Arc::new(keys),
        };
        true
    }

    /// An attached list of candidates with header-only records whose paths
    /// `wanted` takes, and the indexes of those records.
    fn partial_attached(
        &self,
        wanted: impl Fn(&Path) -> bool,
    ) -> Option<(Arc<Vec<SourceRpm>>, Vec<usize>)> {
        let inner = self.lock();
        inner.tags.values().find_map(|e| {
            let records = e.records.as_ref()?;
            let partial: Vec<usize> = (0..records.metas.len())
                .filter(|&i| !records.metas[i].is_whole() && wanted(&e.rpms[i].path))
                .collect();
            (!partial.is_empty()).then(|| (e.rpms.clone(), partial))
        })
    }

    /// Drop the records of these paths (their files changed), and the
    /// attached lists holding them.
    pub fn forget(&self, paths: &[&Path]) {
        let mut inner = self.lock();
        for p in paths {
            if let Some(r) = inner.records.remove(*p) {
                inner.bytes -= r.bytes;
            }
        }
        let gone: std::collections::HashSet<&Path> = paths.iter().copied().collect();
        let mut freed = 0;
        for e in inner.tags.values_mut() {
            if e.records.is_some() && e.rpms.iter().any(|r| gone.contains(r.path.as_path())) {
                e.records = None;
                let bytes = e.rpms.len() * 64;
                e.bytes -= bytes;
                freed += bytes;
            }
        }
        inner.bytes -= freed;
    }

    /// Files whose key moved because we linked them: their records follow.
    pub fn rekey(&self, moved: &[(FileKey, FileKey)]) {
        if moved.is_empty() {
            return;
        }
        let moves: HashMap<FileKey, FileKey> = moved.iter().copied().collect();
        let follow = |mut k: FileKey| {
            // a file linked twice moved twice
            while let Some(new) = moves.get(&k) {
                k = *new;
            }
            k
        };
        let mut inner = self.lock();
        for r in inner.records.values_mut() {
            r.key = follow(r.key);
        }
        for e in inner.tags.values_mut() {
            if let Some(records) = &mut e.records
                && records.keys.iter().flatten().any(|k| moves.contains_key(k))
            {
                for k in Arc::make_mut(&mut records.keys).iter_mut().flatten() {
                    *k = follow(*k);
                }
            }
        }
    }

    fn evict(&self, inner: &mut Inner) {
        let budget = self.budget.load(Relaxed) as usize;
        if inner.bytes <= budget {
            return;
        }
        let mut tags: Vec<(u64, TagKey)> = inner
            .tags
            .iter()
            .map(|(k, e)| (e.used, k.clone()))
            .collect();
        tags.sort_unstable_by_key(|(u, _)| *u);
        let mut tags = tags.into_iter();
        // first the records no kept resolution holds, least recently used
        // first; then resolutions, with the records only they held
        loop {
            let held: std::collections::HashSet<&Path> = inner
                .tags
                .values()
                .flat_map(|e| e.rpms.iter().map(|r| r.path.as_path()))
                .collect();
            let mut loose: Vec<(u64, PathBuf)> = inner
                .records
                .iter()
                .filter(|(p, _)| !held.contains(p.as_path()))
                .map(|(p, r)| (r.used, p.clone()))
                .collect();
            loose.sort_unstable_by_key(|(u, _)| *u);
            for (_, p) in loose {
                if inner.bytes <= budget {
                    return;
                }
                if let Some(r) = inner.records.remove(&p) {
                    inner.bytes -= r.bytes;
                    self.stats.evictions.fetch_add(1, Relaxed);
                }
            }
            if inner.bytes <= budget {
                return;
            }
            let Some((_, k)) = tags.next() else { return };
            if let Some(e) = inner.tags.remove(&k) {
                inner.bytes -= e.bytes;
                self.stats.evictions.fetch_add(1, Relaxed);
            }
        }
    }

    /// Prometheus text of the index's figures.
    pub fn render_metrics(&self) -> String {
        let (bytes, records, tags) = self.size();
        let s = &self.stats;
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        };
        put(
            "odcs_resident_bytes",
            "gauge",
            "Estimated bytes the resident package index holds",
            bytes as u64,
        );
        put(
            "odcs_resident_budget_bytes",
            "gauge",
            "The resident package index's budget",
            self.budget.load(Relaxed),
        );
        put(
            "odcs_resident_records",
            "gauge",
            "Package records the resident index holds",
            records as u64,
        );
        put(
            "odcs_resident_tags",
            "gauge",
            "Tag resolutions the resident index holds",
            tags as u64,
        );
        put(
            "odcs_resident_tag_hits_total",
            "counter",
            "Tag resolutions answered from memory",
            s.tag_hits.load(Relaxed),
        );
        put(
            "odcs_resident_tag_misses_total",
            "counter",
            "Tag resolutions asked of the source",
            s.tag_misses.load(Relaxed),
        );
        put(
            "odcs_resident_record_hits_total",
            "counter",
            "Package records answered from memory",
            s.record_hits.load(Relaxed),
        );
        put(
            "odcs_resident_record_misses_total",
            "counter",
            "Package records read from the header cache or the RPM",
            s.record_misses.load(Relaxed),
        );
        put(
            "odcs_resident_completed_total",
            "counter",
            "Header-only records read whole in the background",
            s.completed.load(Relaxed),
        );
        put(
            "odcs_resident_completing",
            "gauge",
            "1 while the background completion reads candidates whole",
            u64::from(s.completing.load(Relaxed)),
        );
        put(
            "odcs_resident_evictions_total",
            "counter",
            "Records and tag resolutions dropped for the budget",
            s.evictions.load(Relaxed),
        );
        out
    }
}

/// Records read whole per batch of the background completion.
const COMPLETE_BATCH: usize = 256;

/// Records completed after which the freed heap is given back
/// ([`release_free_memory`]) while the completion goes on.
const RELEASE_EVERY: usize = 8192;

/// Read whole, in the background, the candidates of the attached tag
/// resolutions that a compose read only to the end of their headers, so
/// that a later compose choosing them opens no RPM. One thread at a low
/// priority (nice 10), batch after batch, each batch kept in the header
/// cache and patched into the attached records; it ends when none is left
/// (a file that cannot be read whole is skipped, with a warning). Does
/// nothing when it runs already. `serve` and `worker` start it after each
/// compose; `odcs compose`, one compose per process, does not.
pub fn complete_in_background(dir: Arc<super::createrepo::CacheDir>) {
    use std::sync::atomic::Ordering::SeqCst;
    if dir.resident.stats.completing.swap(true, SeqCst) {
        return;
    }
    let run = move || {
        lower_priority();
        let mut failed: std::collections::HashSet<PathBuf> = Default::default();
        let (mut done, mut released) = (0, 0);
        while let Some((rpms, todo)) = dir.resident.partial_attached(|p| !failed.contains(p)) {
            let failed_before = failed.len();
            let mut patched = false;
            for batch in todo.chunks(COMPLETE_BATCH) {
                let mut read = Vec::with_capacity(batch.len());
                for &i in batch {
                    let path = &rpms[i].path;
                    let whole = std::fs::metadata(path)
                        .map_err(|e| format!("{}: {e}", path.display()))
                        .and_then(|md| {
                            let key = FileKey::from_metadata(&md);
                            match dir.headers.get(&key) {
                                Some(m) => Ok((key, m, false)),
                                None => crate::rpm::read_package(path)
                                    .map(|m| (key, m, true))
                                    .map_err(|e| e.to_string()),
                            }
                        });
                    match whole {
                        Ok((key, meta, fresh)) => read.push((i, key, meta, fresh)),
                        Err(e) => {
                            tracing::warn!("reading a candidate whole in the background: {e}");
                            failed.insert(path.clone());
                        }
                    }
                }
                let fresh: Vec<(FileKey, &PackageMeta)> = read
                    .iter()
                    .filter(|r| r.3)
                    .map(|(_, k, m, _)| (*k, m))
                    .collect();
                if let Err(e) = dir.headers.put_many(&fresh) {
                    tracing::warn!("{e}");
                }
                let (indexes, keys): (Vec<usize>, Vec<FileKey>) =
                    read.iter().map(|(i, k, _, _)| (*i, *k)).unzip();
                let kept = dir.resident.keep(
                    read.into_iter()
                        .map(|(i, key, meta, _)| (rpms[i].path.clone(), key, meta))
                        .collect(),
                );
                done += kept.len();
                dir.resident
                    .stats
                    .completed
                    .fetch_add(kept.len() as u64, Relaxed);
                let updates: Vec<_> = indexes
                    .into_iter()
                    .zip(kept)
                    .zip(keys)
                    .map(|((i, m), k)| (i, m, k))
                    .collect();
                patched |= dir.resident.patch_attached(&rpms, &updates);
                if done - released >= RELEASE_EVERY {
                    // the whole records read were compacted and the header-only
                    // ones replaced: without this, the freed pages stayed with
                    // the process until the end (97,000 candidates: RSS grew by
                    // 330 MB, the service's peak)
                    released = done;
                    release_free_memory();
                }
            }
            if !patched && failed.len() == failed_before {
                // nothing changed (the list is no longer attached): stop
                // rather than read the same files again
                break;
            }
        }
        if done - released >= 1000 {
            // the whole records read were compacted; their pages go back
            release_free_memory();
        }
        dir.resident.stats.completing.store(false, SeqCst);
    };
    if let Err(e) = std::thread::Builder::new()
        .name("odcs-complete".into())
        .spawn(run)
    {
        tracing::warn!("cannot start the background completion: {e}");
    }
}

/// Run the calling thread at nice 10, below the composes.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        unsafe extern "C" {
            fn setpriority(
                which: std::ffi::c_int,
                who: std::ffi::c_uint,
                prio: std::ffi::c_int,
            ) -> std::ffi::c_int;
        }
        // SAFETY: setpriority takes no pointer; on Linux, PRIO_PROCESS (0)
        // with who = 0 is the calling thread.
        unsafe {
            setpriority(0, 0, 10);
        }
    }
}

/// Drop from a record what only repodata reads (changelogs, description).
pub fn compact(meta: &mut PackageMeta) {
    meta.changelogs = Vec::new();
    meta.description = String::new();
    meta.files.shrink_to_fit();
}

fn source_rpm_bytes(r: &SourceRpm) -> usize {
    std::mem::size_of::<SourceRpm>()
        + r.name.len()
        + r.version.len()
        + r.release.len()
        + r.arch.len()
        + r.build_nvr.len()
        + r.path.as_os_str().len()
        + r.sigkey.as_ref().map_or(0, String::len)
}

/// About what a record takes in memory (allocations rounded up a little).
fn meta_bytes(m: &PackageMeta) -> usize {
    let s = |x: &String| if x.is_empty() { 0 } else { x.len() + 16 };
    let deps = |v: &Vec<crate::rpm::Dependency>| {
        v.iter()
            .map(|d| std::mem::size_of::<crate::rpm::Dependency>() + s(&d.name) + s(&d.version))
            .sum::<usize>()
    };
    std::mem::size_of::<PackageMeta>()
        + [
            &m.name,
            &m.version,
            &m.release,
            &m.arch,
            &m.checksum,
            &m.header_digest,
            &m.summary,
            &m.description,
            &m.packager,
            &m.url,
            &m.license,
            &m.vendor,
            &m.group,
            &m.buildhost,
            &m.sourcerpm,
        ]
        .into_iter()
        .map(s)
        .sum::<usize>()
        + m.sigmd5.as_ref().map_or(0, s)
        + [
            &m.provides,
            &m.requires,
            &m.conflicts,
            &m.obsoletes,
            &m.recommends,
            &m.suggests,
            &m.supplements,
            &m.enhances,
        ]
        .into_iter()
        .map(deps)
        .sum::<usize>()
        + m.files.heap_bytes()
}

/// Have glibc grow its heaps `pad` bytes beyond each request (`M_TOP_PAD`),
/// for a process that allocates a lot once and then exits: `odcs compose`
/// from 97,000 candidates made 100,896 `mprotect` calls growing the reading
/// threads' heaps a page or so at a time (5% of its samples in perf, each
/// call taking the address space's lock the other thread's page faults
/// wait on); with 64 MB, 56 calls (README, "A cold compose"). Not for the
/// service: glibc keeps `pad` bytes of every heap it trims on a free, and
/// setting it turns off glibc's moving mmap threshold.
pub fn grow_heaps_by(pad: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        /// glibc's malloc.h
        const M_TOP_PAD: std::ffi::c_int = -2;
        // SAFETY: mallopt takes no pointer; it sets a parameter of glibc's
        // allocator under its own lock.
        unsafe {
            mallopt(
                M_TOP_PAD,
                std::ffi::c_int::try_from(pad).unwrap_or(std::ffi::c_int::MAX),
            );
        }
    }
}

/// Give the heap's free pages back to the system (glibc keeps them): after
/// a compose that read a large tag's records once, the resident index holds
/// their compact copies and the full ones were freed. Without it the
/// service's RSS stays at the first compose's peak.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointer and only walks glibc's own
        // heap under its locks.
        unsafe {
            malloc_trim(0);
        }
    }
}
