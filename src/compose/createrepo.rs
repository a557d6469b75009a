//! `odcs createrepo`: repository metadata for a directory of RPMs, like
//! createrepo_c, through the header cache.
//!
//! The directory is scanned and every RPM stat'ed; records come from the cache
//! where the file identity matches, the rest are read in parallel (each once:
//! headers parsed, the whole file hashed and its own digests checked in one
//! sequential read) and added to the cache; then repodata is written and swapped in. Bad packages are reported all
//! at once, each naming its file, and nothing is written unless `skip_bad` asks to
//! leave them out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::gather::PoolCache;
use crate::repodata::chunks::{self, ChunkKey, ChunkStore, DirChunkStore, RenderedChunk};
use crate::repodata::{self, ChunkInput, RepoEntry, RepodataError, RepodataOptions, WriteStats};
use crate::rpm::{self, CacheError, FileKey, HeaderCache, LogCache, PackageMeta, RpmError};

use super::Progress;

#[derive(Clone, Debug, Default)]
pub struct CreaterepoOptions {
    /// Threads for reading headers and compressing; `None`: one per core.
    pub workers: Option<usize>,
    pub repodata: RepodataOptions,
    /// Leave unreadable packages out (with a warning) instead of failing.
    pub skip_bad: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CreaterepoError {
    #[error("{path}: {source}")]
    Scan {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", BadList(.0))]
    BadPackages(Vec<RpmError>),
    #[error(transparent)]
    Repodata(#[from] RepodataError),
    #[error("cannot start {workers} worker threads: {message}")]
    Workers { workers: usize, message: String },
}

struct BadList<'a>(&'a [RpmError]);

impl fmt::Display for BadList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} package{} could not be read (nothing was written; --skip-bad leaves them out):",
            if n == 1 { "" } else { "s" }
        )?;
        for e in self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct CreaterepoReport {
    pub packages: usize,
    /// Records that came from the header cache.
    pub cache_hits: usize,
    /// RPMs opened and read.
    pub headers_read: usize,
    /// Chunks of repodata in all, and how many were reused as rendered before.
    pub chunks: usize,
    pub chunks_reused: usize,
    pub skipped: Vec<RpmError>,
    pub cache_error: Option<CacheError>,
    pub write: WriteStats,
    pub scan_time: Duration,
    pub read_time: Duration,
    pub write_time: Duration,
}

/// An RPM found under the repository directory.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    href: String,
    key: FileKey,
}

/// Every `*.rpm` under `dir` (following symlinks to files), skipping hidden
/// directories and the top-level `repodata/`.
pub(crate) fn scan(dir: &Path) -> Result<Vec<Found>, CreaterepoError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        let err = |source| CreaterepoError::Scan {
            path: d.clone(),
            source,
        };
        for entry in std::fs::read_dir(&d).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(
                    "skipping {}: file name is not UTF-8",
                    entry.path().display()
                );
                continue;
            };
            if name.starts_with('.') || (rel.is_empty() && name == "repodata") {
                continue;
            }
            let path = entry.path();
            let href = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry.file_type().map_err(|source| CreaterepoError::Scan {
                path: path.clone(),
                source,
            })?;
            if file_type.is_dir() {
                stack.push((path, href));
                continue;
            }
            if !name.ends_with(".rpm") {
                continue;
            }
            // stat relative to the open directory; only symlinks need the full path
            let md = if file_type.is_symlink() {
                std::fs::metadata(&path)
            } else {
                entry.metadata()
            };
            let md = match md {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::warn!("skipping {}: dangling symlink", path.display());
                    continue;
                }
                Err(source) => return Err(CreaterepoError::Scan { path, source }),
            };
            if md.is_file() {
                out.push(Found {
                    path,
                    href,
                    key: FileKey::from_metadata(&md),
                });
            }
        }
    }
    // createrepo_c's order: by file name, then by path
    fn base(f: &Found) -> &str {
        f.href.rsplit('/').next().unwrap_or("")
    }
    out.sort_unstable_by(|a, b| base(a).cmp(base(b)).then_with(|| a.href.cmp(&b.href)));
    Ok(out)
}

/// The caches a run may use: header records by file identity, rendered
/// chunks of repodata, and libsolv pools of package sets seen before.
#[derive(Clone, Copy, Default)]
pub struct Caches<'a> {
    pub headers: Option<&'a dyn HeaderCache>,
    pub chunks: Option<&'a dyn ChunkStore>,
    pub pools: Option<&'a PoolCache>,
    /// The resident package index (tag resolutions and records in memory).
    pub resident: Option<&'a super::resident::ResidentIndex>,
}

/// Both on-disk caches in one directory (`headers-v*.log` and `chunks-v*/`),
/// and the solver pools in memory (as long as this value lives: the service
/// holds it for its workers).
pub struct CacheDir {
    pub headers: LogCache,
    pub chunks: DirChunkStore,
    pub pools: PoolCache,
    pub resident: super::resident::ResidentIndex,
}

/// Solver pools kept in memory: a few package sets (tree arches of recent
/// tags) at once.
const POOLS_KEPT: usize = 4;

impl CacheDir {
    pub fn open(dir: &Path) -> Result<CacheDir, CacheError> {
        Ok(CacheDir {
            headers: LogCache::open(dir)?,
            chunks: DirChunkStore::open(dir).map_err(|source| CacheError::Io {
                path: dir.to_owned(),
                source,
            })?,
            pools: PoolCache::new(POOLS_KEPT),
            resident: super::resident::ResidentIndex::default(),
        })
    }

    pub fn caches(&self) -> Caches<'_> {
        Caches {
            headers: Some(&self.headers),
            chunks: Some(&self.chunks),
            pools: Some(&self.pools),
            resident: Some(&self.resident),
        }
    }
}

/// Write `dir/repodata` for the RPMs under `dir`.
pub fn createrepo(
    dir: &Path,
    opts: &CreaterepoOptions,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<CreaterepoReport, CreaterepoError> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = opts.workers {
        pool = pool.num_threads(n);
    }
    let pool = pool.build().map_err(|e| CreaterepoError::Workers {
        workers: opts.workers.unwrap_or(0),
        message: e.to_string(),
    })?;
    pool.install(|| run(dir, opts, caches, progress))
}

fn run(
    dir: &Path,
    opts: &CreaterepoOptions,
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<CreaterepoReport, CreaterepoError> {
    let t0 = Instant::now();
    progress.phase("scanning", None);
    let found = scan(dir)?;

    // The sha256 of each file whose record is cached, from the cache's index
    // (no record decoded); files without one are read now, as they must be
    // whatever the chunks say.
    let known: Vec<Option<[u8; 32]>> = match caches.headers {
        Some(c) => found.par_iter().map(|f| c.sha256(&f.key)).collect(),
        None => found.iter().map(|_| None).collect(),
    };
    let unknown: Vec<usize> = (0..found.len()).filter(|&i| known[i].is_none()).collect();
    let scan_time = t0.elapsed();

    let t1 = Instant::now();
    progress.phase("reading headers", Some(unknown.len() as u64));
    // records by index into `found`; None for a package not read (yet) or
    // that could not be read
    let mut metas: Vec<Option<PackageMeta>> = found.iter().map(|_| None).collect();
    let mut fresh = Vec::new();
    let mut bad = Vec::new();
    let read: Vec<Result<PackageMeta, RpmError>> = unknown
        .par_iter()
        .map(|&i| {
            let r = rpm::read_package(&found[i].path);
            progress.advance(1);
            r
        })
        .collect();
    for (&i, r) in unknown.iter().zip(read) {
        match r {
            Ok(m) => {
                fresh.push(i);
                metas[i] = Some(m);
            }
            Err(e) => bad.push(e),
        }
    }

    // Chunks of packages, identified by the packages' content and where they
    // lie: a chunk rendered by an earlier run over the same packages is
    // reused as it is, also when the files' identity moved (a hardlink moves
    // a file's ctime).
    let digests: Vec<[u8; 32]> = found
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut id = match (known[i], &metas[i]) {
                (Some(sha), _) => sha.to_vec(),
                (None, Some(m)) => rpm::sha256_bytes(&m.checksum)
                    .map(|s| s.to_vec())
                    .unwrap_or_else(|| f.key.encode().to_vec()),
                // unreadable: its chunk is never kept (below)
                (None, None) => f.key.encode().to_vec(),
            };
            id.extend_from_slice(f.href.as_bytes());
            chunks::package_digest(&id)
        })
        .collect();
    let ranges = chunks::chunk_ranges(&digests);
    let keys: Vec<ChunkKey> = ranges
        .iter()
        .map(|r| chunks::chunk_key(&opts.repodata, &digests[r.clone()]))
        .collect();
    let mut reused: Vec<Option<RenderedChunk>> = match caches.chunks {
        Some(store) => keys.par_iter().map(|k| store.get(k)).collect(),
        None => keys.iter().map(|_| None).collect(),
    };
    let chunks_reused = reused.iter().filter(|c| c.is_some()).count();
    // the records the chunks to render need, decoded from the cache (a
    // record gone since its sha256 was looked up is read from the file)
    let needed: Vec<usize> = ranges
        .iter()
        .zip(&reused)
        .filter(|(_, hit)| hit.is_none())
        .flat_map(|(r, _)| r.clone())
        .filter(|&i| known[i].is_some())
        .collect();
    let decoded: Vec<(Option<PackageMeta>, bool)> = needed
        .par_iter()
        .map(
            |&i| match caches.headers.and_then(|c| c.get(&found[i].key)) {
                Some(m) => (Some(m), false),
                None => (None, true),
            },
        )
        .collect();
    let mut cache_hits = 0;
    for (&i, (hit, gone)) in needed.iter().zip(decoded) {
        if let Some(m) = hit {
            cache_hits += 1;
            metas[i] = Some(m);
        } else if gone {
            match rpm::read_package(&found[i].path) {
                Ok(m) => {
                    fresh.push(i);
                    metas[i] = Some(m);
                }
                Err(e) => bad.push(e),
            }
        }
    }
    let headers_read = fresh.len() + bad.len();
    if !bad.is_empty() && !opts.skip_bad {
        return Err(CreaterepoError::BadPackages(bad));
    }
    for e in &bad {
        tracing::warn!("skipping {e}");
    }

    // Remember what was read for next time; a cache that cannot be written only
    // costs speed, so it is reported, not fatal.
    let mut cache_error = None;
    if let Some(c) = caches.headers {
        let new: Vec<(FileKey, &PackageMeta)> = fresh
            .iter()
            .filter_map(|&i| metas[i].as_ref().map(|m| (found[i].key, m)))
            .collect();
        if let Err(e) = c.put_many(&new) {
            tracing::warn!("{e}");
            cache_error = Some(e);
        }
    }
    let read_time = t1.elapsed();

    let t2 = Instant::now();
    let mut inputs = Vec::with_capacity(ranges.len());
    for ((range, key), hit) in ranges.iter().zip(&keys).zip(reused.iter_mut()) {
        if let Some(chunk) = hit.take() {
            inputs.push(ChunkInput::Cached(chunk));
            continue;
        }
        let entries: Vec<RepoEntry<'_>> = range
            .clone()
            .filter_map(|i| {
                metas[i].as_ref().map(|m| RepoEntry {
                    meta: m,
                    href: &found[i].href,
                })
            })
            .collect();
        // a chunk missing a skipped package is not kept: the next run must
        // read (and warn about) that package again
        let complete = entries.len() == range.len();
        inputs.push(ChunkInput::Render {
            key: (complete && caches.chunks.is_some()).then_some(*key),
            entries,
        });
    }
    let packages = inputs
        .iter()
        .map(|c| match c {
            ChunkInput::Cached(c) => c.packages as usize,
            ChunkInput::Render { entries, .. } => entries.len(),
        })
        .sum();
    progress.phase("writing repodata", Some(packages as u64));
    let write = repodata::write_repodata(dir, inputs, &opts.repodata, caches.chunks, &|n| {
        progress.set(n as u64)
    })?;
    progress.done();
    Ok(CreaterepoReport {
        packages,
        cache_hits,
        headers_read,
        chunks: ranges.len(),
        chunks_reused,
        skipped: bad,
        cache_error,
        write,
        scan_time,
        read_time,
        write_time: t2.elapsed(),
    })
}
