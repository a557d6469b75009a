//! The package-metadata cache: [`PackageMeta`] records keyed by the identity of
//! the RPM file they were read from.
//!
//! Why by identity and not by path: a compose hardlinks RPMs from the Koji topdir
//! into its tree, so the same file (same device and inode) shows up under many
//! paths, and every one of them should hit.
//!
//! **The key** is (device, inode, size, mtime, ctime), both times to the
//! nanosecond. mtime alone is not enough: a file rewritten in place with the same
//! size and its mtime put back (`rsync --inplace --times`, `touch -d`) would be
//! answered from the cache with the old record — the old checksum, for bytes
//! that are no longer there — and the renewal check "each file against its
//! recorded sha256" would compare with the cache instead of the file. ctime
//! catches that: the kernel sets it on every change to the file (data, times,
//! mode, links) and no user can set it back. The cost: making or removing a hard
//! link also moves it. Links we make ourselves keep the record: [`link_tracked`]
//! stats the file around the link and [`HeaderCache::rekey`] moves the record to
//! the new key when nothing but the ctime and one more link changed; removing a
//! compose tree does the same for each name it removes ([`unlink_tracked`],
//! `compose::tree::remove_tree`). A link made or removed by anything else
//! (`rm -r` or `cp -l` by hand) makes the next reader read that RPM once more,
//! and record it again.
//! Like mtime, ctime has the filesystem's timestamp granularity (nanoseconds on
//! ext4, xfs and tmpfs with current kernels).
//!
//! **The log.** [`LogCache`] stores records in one append-only log file, because a
//! warm run must not open thousands of small files: it maps the log once, indexes
//! the record headers, and decodes only the records asked for, each read with
//! `pread` from the open log (not through the map: a fault in a file map brings
//! in the 64 KB around it, and the pages stay in the process's resident set).
//! The map's pages are given back after every 16 MB indexed or copied, so a
//! service indexing a 385 MB log does not keep it resident. Every record
//! carries a CRC, so a torn write at the end (a crash mid-append) is detected and
//! cut off by the next writer. Writers serialise on an advisory lock of a lock
//! file beside the log; readers take it shared only while they index bytes
//! (never while answering), so a cut or a replacement cannot happen under their
//! scan. Each process indexes every byte of the log once: a write, or a miss
//! more than a second after the last look, scans only the records other
//! processes appended since (`indexed_end`), then appends its own.
//!
//! **Compaction.** The index keeps one record per file (device, inode): the one
//! with the latest ctime, since a file's ctime never goes back and so an older
//! record for it can never hit again; a repeated key keeps the last record. The
//! others are dead bytes in the log. After a write, when dead bytes make up
//! more than half of the log and the log is at least [`COMPACT_MIN_BYTES`], the
//! writer (holding the lock) writes the live records to a temporary file, fsyncs
//! it and renames it over the log, then fsyncs the directory. A process that
//! had the old log open keeps reading it (the old inode lives while open,
//! and nobody writes to it again); at its next look it sees another inode at
//! the log's path and indexes the new file from the start. Records of files
//! that no longer exist are not dropped: nothing says so without a path to
//! stat.
//!
//! The interface is the [`HeaderCache`] trait, which `store` implements for the
//! service (#4).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::package::PackageMeta;

/// Bump when [`PackageMeta`] or the record layout changes: the log file name
/// carries it, so an old log is simply not read. 2: ctime in the key, and
/// records only of packages whose digests were verified. 3: the file's
/// sha256 in the record header. 4: records read only to the end of the
/// headers (header digests verified; zeros for the sha256) beside whole ones.
const FORMAT_VERSION: u32 = 4;
const RECORD_MAGIC: [u8; 4] = *b"ODCR";
/// magic, payload length, crc32 of what follows it (key, sha256 and
/// payload), key, the file's sha256 (so it is known without decoding the
/// record: repodata chunks are keyed by it).
const RECORD_HEADER: usize = 4 + 4 + 4 + KEY_SIZE + 32;
/// dev, ino, size, mtime s, mtime ns, ctime s, ctime ns.
const KEY_SIZE: usize = 8 + 8 + 8 + 8 + 4 + 8 + 4;
/// [`HeaderCache::put_many`] appends its records in pieces of about this
/// many bytes, each under the log's lock.
const PUT_PIECE_BYTES: usize = 8 << 20;
/// A log smaller than this is not compacted, however much of it is dead.
pub const COMPACT_MIN_BYTES: u64 = 4 << 20;
/// After scanning or copying this many bytes of the log through its map,
/// the map's pages are given back ([`drop_pages`]).
const RELEASE_SCANNED: u64 = 16 << 20;
/// How long after its last look at the log a miss looks again for records
/// other processes appended.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// What identifies an RPM file on disk for the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// The inode change time, which the kernel sets on every change to the
    /// file and nobody can set back.
    pub ctime: i64,
    pub ctime_nsec: u32,
}

/// Volumes whose files have the same identity on every host that mounts
/// them (the Koji topdir over NFS): local device number → volume id.
static SHARED_VOLUMES: RwLock<Vec<(u64, u64)>> = RwLock::new(Vec::new());

/// The device number a [`FileKey`] holds for a file on device `dev`: the
/// volume id of a shared volume, else `dev` itself.
fn volume_of(dev: u64) -> u64 {
    let shared = SHARED_VOLUMES.read().unwrap_or_else(|e| e.into_inner());
    shared
        .iter()
        .find(|(d, _)| *d == dev)
        .map_or(dev, |(_, id)| *id)
}

/// The id of the volume mounted at `root` (as configured, the same path on
/// every host): a hash of the path with the top bit set, which no local
/// device number has.
fn volume_id(root: &Path) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"odcs shared volume\0");
    h.update(root.as_os_str().as_encoded_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes")) | 1 << 63
}

/// Say that the filesystem holding `root` (the Koji topdir, the local
/// store) is mounted at this same path on every host that shares the header
/// cache: the cache keys of its files then carry the volume id of `root`
/// instead of this host's device number, which differs from host to host
/// (an NFS mount gets a new one on each), so a record one worker wrote is
/// found by the others. Inode numbers and times come from the server and
/// are the same everywhere. Files on another device (a mount below `root`)
/// keep their device number. A second root on the same device keeps the
/// first one's id.
pub fn share_volume(root: &Path) -> std::io::Result<()> {
    let dev = std::fs::metadata(root)?.dev();
    register_volume(dev, root);
    Ok(())
}

fn register_volume(dev: u64, root: &Path) {
    let mut shared = SHARED_VOLUMES.write().unwrap_or_else(|e| e.into_inner());
    if !shared.iter().any(|(d, _)| *d == dev) {
        shared.push((dev, volume_id(root)));
    }
}

impl FileKey {
    /// The key of the file `md` describes; see [`share_volume`] for its
    /// device number.
    pub fn from_metadata(md: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: volume_of(md.dev()),
            ino: md.ino(),
            size: md.len(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec() as u32,
            ctime: md.ctime(),
            ctime_nsec: md.ctime_nsec() as u32,
        }
    }

    /// A fixed-size encoding (little-endian fields), for hashing and storage.
    pub fn encode(&self) -> [u8; KEY_SIZE] {
        let mut out = [0u8; KEY_SIZE];
        out[0..8].copy_from_slice(&self.dev.to_le_bytes());
        out[8..16].copy_from_slice(&self.ino.to_le_bytes());
        out[16..24].copy_from_slice(&self.size.to_le_bytes());
        out[24..32].copy_from_slice(&self.mtime.to_le_bytes());
        out[32..36].copy_from_slice(&self.mtime_nsec.to_le_bytes());
        out[36..44].copy_from_slice(&self.ctime.to_le_bytes());
        out[44..48].copy_from_slice(&self.ctime_nsec.to_le_bytes());
        out
    }

    fn decode(b: &[u8]) -> FileKey {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        FileKey {
            dev: u64_at(0),
            ino: u64_at(8),
            size: u64_at(16),
            mtime: u64_at(24) as i64,
            mtime_nsec: u32_at(32),
            ctime: u64_at(36) as i64,
            ctime_nsec: u32_at(44),
        }
    }

    /// The file, whatever its state: device and inode.
    fn inode(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    fn changed(&self) -> (i64, u32) {
        (self.ctime, self.ctime_nsec)
    }
}

/// Make a hard link of `from` at `to` with `link`, and say how the file's key
/// moved: `(before, after)` when only its ctime moved and its link count went
/// up by exactly one — nothing but this link touched it — so a record stored
/// under `before` may follow it ([`HeaderCache::rekey`]). `None` when `link`
/// made a copy or found `to` already there, or when anything else changed the
/// file meanwhile; the next reader then reads the file again. (What is not
/// caught: a rewrite with mtime put back in the microseconds between the two
/// stats.)
pub fn link_tracked(
    from: &Path,
    to: &Path,
    link: impl FnOnce(&Path, &Path) -> std::io::Result<()>,
) -> std::io::Result<Option<(FileKey, FileKey)>> {
    let before = std::fs::metadata(from)?;
    link(from, to)?;
    let after = std::fs::metadata(to)?;
    Ok(moved_by_one_link(&before, &after, 1))
}

/// Remove the name `path` of a file and say how the file's key moved, as
/// [`link_tracked`] does for a link: `(before, after)` when other names of the
/// file remain, only its ctime moved and its link count went down by exactly
/// one. The file is held open across the unlink to see it afterwards.
pub fn unlink_tracked(path: &Path) -> std::io::Result<Option<(FileKey, FileKey)>> {
    let file = File::open(path)?;
    let before = file.metadata()?;
    std::fs::remove_file(path)?;
    let after = file.metadata()?;
    Ok(moved_by_one_link(&before, &after, -1).filter(|_| after.nlink() > 0))
}

/// `(before, after)` keys of a file whose ctime moved and whose link count
/// moved by `links`, nothing else changed.
fn moved_by_one_link(
    before: &std::fs::Metadata,
    after: &std::fs::Metadata,
    links: i64,
) -> Option<(FileKey, FileKey)> {
    let (b, a) = (
        FileKey::from_metadata(before),
        FileKey::from_metadata(after),
    );
    let only_ctime = FileKey {
        ctime: b.ctime,
        ctime_nsec: b.ctime_nsec,
        ..a
    } == b;
    let counted = after.nlink() as i64 - before.nlink() as i64 == links;
    (only_ctime && counted && a != b).then_some((b, a))
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    #[error("header cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("header cache: cannot encode record for {nevra}: {source}")]
    Encode {
        nevra: String,
        #[source]
        source: postcard::Error,
    },
}

/// Where package-metadata records are kept between runs.
pub trait HeaderCache: Send + Sync {
    /// The whole record for this file ([`PackageMeta::is_whole`]), if one
    /// was stored.
    fn get(&self, key: &FileKey) -> Option<PackageMeta>;
    /// The record for this file, whole or read only up to the end of its
    /// headers (what choosing among candidates needs), if one was stored.
    fn get_header(&self, key: &FileKey) -> Option<PackageMeta>;
    /// How many records it holds, as far as it knows without asking the
    /// disk: a compose reading many files into a nearly empty cache opens
    /// each at once instead of stat'ing it by path first (one path walk
    /// instead of two). Unknown: many.
    fn records_hint(&self) -> usize {
        usize::MAX
    }
    /// Store records (one batch: one lock, one write).
    fn put_many(&self, records: &[(FileKey, &PackageMeta)]) -> Result<(), CacheError>;
    /// The sha256 of the file, if its record is stored: what repodata chunks
    /// are keyed by, so they survive a file's identity moving (a link).
    fn sha256(&self, key: &FileKey) -> Option<[u8; 32]> {
        self.get(key).and_then(|m| sha256_bytes(&m.checksum))
    }
    /// Move records to new keys, `(old, new)` in the order the files' keys
    /// moved (a file linked twice moves twice); for files whose identity moved
    /// only because we linked them ([`link_tracked`]). Moves whose old key has
    /// no record are skipped.
    fn rekey(&self, moves: &[(FileKey, FileKey)]) -> Result<(), CacheError> {
        let mut moved: HashMap<FileKey, PackageMeta> = HashMap::new();
        for (old, new) in moves {
            if let Some(meta) = moved.remove(old).or_else(|| self.get(old)) {
                moved.insert(*new, meta);
            }
        }
        let records: Vec<(FileKey, &PackageMeta)> = moved.iter().map(|(k, m)| (*k, m)).collect();
        self.put_many(&records)
    }
}

/// A [`HeaderCache`] in one append-only log file under a directory.
pub struct LogCache {
    dir: PathBuf,
    path: PathBuf,
    lock_path: PathBuf,
    state: RwLock<State>,
    /// When this process last looked at the log, in ms since `epoch`.
    last_look_ms: AtomicU64,
    epoch: Instant,
    /// Bytes of the log indexed by this process (each once, unless the file
    /// was replaced).
    scanned: AtomicU64,
    compact_min_bytes: u64,
}

/// A record in the log: its key and where its payload lies.
#[derive(Clone, Copy)]
struct Slot {
    key: FileKey,
    /// The file's sha256 (the record's `checksum`).
    sha256: [u8; 32],
    at: usize,
    len: usize,
}

impl Slot {
    /// A record of a whole read has the file's sha256; one read only to
    /// the end of the headers has zeros there.
    fn is_whole(&self) -> bool {
        self.sha256 != [0; 32]
    }

    fn record(&self) -> std::ops::Range<usize> {
        self.at - RECORD_HEADER..self.at + self.len
    }
}

#[derive(Default)]
struct State {
    /// The log, mapped: for indexing it and for compaction, which walk it.
    map: Option<memmap2::Mmap>,
    /// The log, open: a record is read from it with `pread`, not through
    /// `map`. A fault in a file map brings in the pages around it too (64 KB
    /// each): the 952 records a warm compose reads whole added 40–130 MB to
    /// the service's resident set while it ran.
    log: Option<File>,
    /// Device and inode of the log file `map` and `index` are of.
    file: Option<(u64, u64)>,
    /// The end of the last valid record indexed.
    indexed_end: usize,
    /// The live record of each file, by (device, inode).
    index: HashMap<(u64, u64), Slot>,
    /// Bytes of records that can no longer hit.
    dead_bytes: u64,
    /// Bytes indexed since the map's pages were last given back.
    unreleased: u64,
}

impl State {
    /// Index a record found at the end of what was indexed.
    fn insert(&mut self, slot: Slot) {
        let size = (RECORD_HEADER + slot.len) as u64;
        match self.index.entry(slot.key.inode()) {
            Entry::Vacant(e) => {
                e.insert(slot);
            }
            Entry::Occupied(mut e) => {
                let old = e.get();
                // a header-only record never replaces the whole one of the
                // same file (two processes reading it at once)
                let demotes = old.key == slot.key && old.is_whole() && !slot.is_whole();
                if slot.key.changed() >= old.key.changed() && !demotes {
                    self.dead_bytes += (RECORD_HEADER + e.get().len) as u64;
                    e.insert(slot);
                } else {
                    self.dead_bytes += size;
                }
            }
        }
    }

    /// The payload of the record for `key`; only a whole one unless
    /// `header` says a header-only one will do.
    fn get(&self, key: &FileKey, header: bool) -> Option<Vec<u8>> {
        let slot = self.slot(key).filter(|s| header || s.is_whole())?;
        let mut payload = vec![0; slot.len];
        match self
            .log
            .as_ref()?
            .read_exact_at(&mut payload, slot.at as u64)
        {
            Ok(()) => Some(payload),
            Err(e) => {
                tracing::warn!("header cache: reading a record: {e}");
                None
            }
        }
    }

    fn slot(&self, key: &FileKey) -> Option<&Slot> {
        self.index.get(&key.inode()).filter(|s| s.key == *key)
    }
}

impl LogCache {
    /// Open (creating the directory if needed) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<LogCache, CacheError> {
        let io = |source| CacheError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let cache = LogCache {
            dir: dir.to_owned(),
            path: dir.join(format!("headers-v{FORMAT_VERSION}.log")),
            lock_path: dir.join(format!("headers-v{FORMAT_VERSION}.lock")),
            state: RwLock::new(State::default()),
            last_look_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            scanned: AtomicU64::new(0),
            compact_min_bytes: COMPACT_MIN_BYTES,
        };
        cache.refresh()?;
        Ok(cache)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many records the index holds (one per file).
    pub fn len(&self) -> usize {
        self.read_state().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the log this handle has indexed since it was opened.
    pub fn bytes_scanned(&self) -> u64 {
        self.scanned.load(Ordering::Relaxed)
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().expect("cache lock poisoned")
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().expect("cache lock poisoned")
    }

    fn io_err(&self, source: std::io::Error) -> CacheError {
        CacheError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The writers' lock, held until the returned file is dropped: exclusive
    /// for writing (append, cut, compact), shared for indexing. A reader of a
    /// cache directory it cannot write goes without it when no writer ever
    /// made the lock file (then nobody writes the log either).
    fn lock(&self, exclusive: bool) -> Result<Option<File>, CacheError> {
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
        {
            Ok(f) => f,
            Err(_) if !exclusive => match File::open(&self.lock_path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.io_err(e)),
            },
            Err(e) => return Err(self.io_err(e)),
        };
        if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        }
        .map_err(|e| self.io_err(e))?;
        Ok(Some(file))
    }

    /// Index what other processes appended to the log (or the whole of a log
    /// that replaced the one indexed) since this handle last looked.
    pub fn refresh(&self) -> Result<(), CacheError> {
        let _lock = self.lock(false)?;
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(e)),
        };
        let mut st = self.write_state();
        self.catch_up(&mut st, &file)
    }

    /// Bring `st` up to `file`, the log as it is now (the lock held, shared or
    /// exclusive, so nobody cuts or replaces it meanwhile).
    fn catch_up(&self, st: &mut State, file: &File) -> Result<(), CacheError> {
        self.last_look_ms
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let md = file.metadata().map_err(|e| self.io_err(e))?;
        let id = (md.dev(), md.ino());
        let len = md.len() as usize;
        if st.file != Some(id) || len < st.indexed_end {
            // a new log (compacted by another process), or one cut below what
            // was indexed (by hand): index it from the start
            *st = State {
                file: Some(id),
                log: Some(file.try_clone().map_err(|e| self.io_err(e))?),
                ..State::default()
            };
        }
        if len == st.indexed_end {
            return Ok(());
        }
        // SAFETY: bytes of the log are never rewritten in place: it is only
        // appended to, cut back past its last valid record (bytes nobody
        // indexed), or replaced by rename (the old inode is not written
        // again). Nobody appends or cuts while we hold the lock here, and
        // later we read only indexed records, which stay.
        let map = unsafe { memmap2::Mmap::map(file) }.map_err(|e| self.io_err(e))?;
        let from = st.indexed_end;
        let end = scan(&map, from, |slot| st.insert(slot));
        self.scanned
            .fetch_add((end - from) as u64, Ordering::Relaxed);
        if end < map.len() {
            tracing::warn!(
                cache.path = %self.path.display(),
                "header cache {}: ignoring {} bytes of incomplete or corrupt records after offset {end}",
                self.path.display(),
                map.len() - end
            );
        }
        st.indexed_end = end;
        // indexing reads every record's bytes through the map: a service
        // opening a 385 MB log held all of it resident before its first
        // compose, and one appending 97,000 records in small batches (the
        // background completion) gained each batch's pages
        st.unreleased += (end - from) as u64;
        if st.unreleased >= RELEASE_SCANNED {
            st.unreleased = 0;
            drop_pages(&map);
        }
        st.map = Some(map);
        Ok(())
    }

    /// Rewrite the log with its live records only (see the module doc), if
    /// `force` or if dead records make up more than half of a log of at least
    /// the minimum size. Call with the exclusive lock held. Returns whether it
    /// compacted.
    fn compact_locked(&self, st: &mut State, force: bool) -> Result<bool, CacheError> {
        let size = st.indexed_end as u64;
        if !force && (size < self.compact_min_bytes || st.dead_bytes * 2 <= size) {
            return Ok(false);
        }
        let Some(map) = st.map.as_ref() else {
            return Ok(false);
        };
        let mut slots: Vec<Slot> = st.index.values().copied().collect();
        slots.sort_unstable_by_key(|s| s.at);
        let tmp = self.dir.join(format!(
            "headers-v{FORMAT_VERSION}.log.compact-{}",
            std::process::id()
        ));
        let io = |e| self.io_err(e);
        let out = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&tmp)
            .map_err(io)?;
        let mut out = std::io::BufWriter::new(out);
        let mut new_slots = Vec::with_capacity(slots.len());
        let mut at = 0;
        let mut copied = 0;
        for slot in &slots {
            let record = &map[slot.record()];
            out.write_all(record).map_err(io)?;
            // the old log's pages, read through the map, are given back as
            // the copy goes (a 385 MB log made a spike of its size)
            copied += record.len() as u64;
            if copied >= RELEASE_SCANNED {
                copied = 0;
                drop_pages(map);
            }
            new_slots.push(Slot {
                at: at + RECORD_HEADER,
                ..*slot
            });
            at += record.len();
        }
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        let md = file.metadata().map_err(io)?;
        // SAFETY: as in `catch_up`; this file was written completely above.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        tracing::info!(
            cache.path = %self.path.display(),
            "header cache {}: compacted from {size} to {at} bytes ({} records)",
            self.path.display(),
            new_slots.len()
        );
        *st = State {
            map: Some(map),
            log: Some(file),
            file: Some((md.dev(), md.ino())),
            indexed_end: at,
            index: new_slots.into_iter().map(|s| (s.key.inode(), s)).collect(),
            dead_bytes: 0,
            unreleased: 0,
        };
        Ok(true)
    }

    /// Compact the log now, whatever its size and dead share; returns whether
    /// there was a log to compact.
    pub fn compact(&self) -> Result<bool, CacheError> {
        let _lock = self.lock(true)?;
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io_err(e)),
        };
        let mut st = self.write_state();
        self.catch_up(&mut st, &file)?;
        self.compact_locked(&mut st, true)
    }

    /// Whether a miss should look at the log again (at most once a second).
    fn look_again_due(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        let last = self.last_look_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= LOOK_AGAIN.as_millis() as u64
            && self
                .last_look_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// [`HeaderCache::get`] (`header` false) or `get_header`.
    fn lookup(&self, key: &FileKey, header: bool) -> Option<PackageMeta> {
        // the lock is not held while decoding
        let found = self.read_state().get(key, header);
        if let Some(payload) = found {
            return self.decode(&payload);
        }
        // another process may have recorded it since we last looked
        if !self.look_again_due() {
            return None;
        }
        if let Err(e) = self.refresh() {
            tracing::warn!("{e}");
            return None;
        }
        let found = self.read_state().get(key, header);
        found.and_then(|p| self.decode(&p))
    }

    fn decode(&self, payload: &[u8]) -> Option<PackageMeta> {
        match postcard::from_bytes::<PackageMeta>(payload) {
            Ok(meta) => Some(meta),
            Err(e) => {
                tracing::warn!(cache.path = %self.path.display(), "header cache {}: undecodable record ({e}), reading the RPM again", self.path.display());
                None
            }
        }
    }
}

/// Index records from `at` on, handing each to `found`; returns the end of the
/// last valid record.
fn scan(data: &[u8], mut at: usize, mut found: impl FnMut(Slot)) -> usize {
    while let Some(head) = data.get(at..at + RECORD_HEADER) {
        if head[..4] != RECORD_MAGIC {
            break;
        }
        let len = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        let payload_at = at + RECORD_HEADER;
        let Some(payload) = data.get(payload_at..payload_at + len) else {
            break;
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&head[12..]);
        h.update(payload);
        if h.finalize() != crc {
            break;
        }
        found(Slot {
            key: FileKey::decode(&head[12..]),
            sha256: head[12 + KEY_SIZE..RECORD_HEADER]
                .try_into()
                .expect("32 bytes"),
            at: payload_at,
            len,
        });
        at = payload_at + len;
    }
    at
}

/// Append the record of `meta` to `out`: its payload is encoded in place,
/// then its length and crc are filled in (no copy of each payload).
fn encode_record(key: &FileKey, meta: &PackageMeta, out: &mut Vec<u8>) -> Result<(), CacheError> {
    let start = out.len();
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&key.encode());
    out.extend_from_slice(&sha256_bytes(&meta.checksum).unwrap_or([0; 32]));
    let payload_at = out.len();
    let encoded = postcard::to_extend(meta, std::mem::take(out));
    *out = encoded.map_err(|source| CacheError::Encode {
        nevra: meta.nevra(),
        source,
    })?;
    let len = u32::try_from(out.len() - payload_at).map_err(|_| CacheError::Encode {
        nevra: meta.nevra(),
        source: postcard::Error::SerializeBufferFull,
    })?;
    let crc = crc32fast::hash(&out[start + 12..]);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The 32 bytes of a hex sha256, or `None` if it is not one.
pub fn sha256_bytes(hex_text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).ok()?;
    Some(out)
}

/// Unmap the resident pages of a read-only map of the log: the memory the
/// process counts for it goes, the file's pages stay in the page cache, and
/// the next read of a record faults its page in again.
fn drop_pages(map: &memmap2::Mmap) {
    // SAFETY: the map is read-only and shared, so MADV_DONTNEED loses nothing:
    // a page touched again is read again from the same bytes of the file
    // (bytes a record holds are never rewritten in place, see `catch_up`),
    // and slices into the map stay valid.
    if let Err(e) = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) } {
        tracing::debug!("header cache: madvise(DONTNEED): {e}");
    }
}

impl HeaderCache for LogCache {
    /// From the index, without decoding the record.
    fn sha256(&self, key: &FileKey) -> Option<[u8; 32]> {
        if let Some(slot) = self.read_state().slot(key).filter(|s| s.is_whole()) {
            return Some(slot.sha256);
        }
        if !self.look_again_due() {
            return None;
        }
        if let Err(e) = self.refresh() {
            tracing::warn!("{e}");
            return None;
        }
        self.read_state()
            .slot(key)
            .filter(|s| s.is_whole())
            .map(|s| s.sha256)
    }

    fn records_hint(&self) -> usize {
        self.len()
    }

    fn get(&self, key: &FileKey) -> Option<PackageMeta> {
        self.lookup(key, false)
    }

    fn get_header(&self, key: &FileKey) -> Option<PackageMeta> {
        self.lookup(key, true)
    }

    fn put_many(&self, records: &[(FileKey, &PackageMeta)]) -> Result<(), CacheError> {
        // appended a few MB at a time, the log locked for one piece at a
        // time: a compose storing the whole records of its chosen packages
        // waits for one piece of a cold compose's 97,000 header records,
        // not for all of them; and one 8 MB buffer is reused, not 130 MB
        let mut buf = Vec::new();
        let mut rest = records;
        while !rest.is_empty() {
            buf.clear();
            let mut n = 0;
            while n < rest.len() && buf.len() < PUT_PIECE_BYTES {
                let (key, meta) = &rest[n];
                encode_record(key, meta, &mut buf)?;
                n += 1;
            }
            self.append(&buf)?;
            rest = &rest[n..];
        }
        Ok(())
    }
}

impl LogCache {
    /// Append encoded records to the log, under its lock, and index them.
    fn append(&self, buf: &[u8]) -> Result<(), CacheError> {
        let _lock = self.lock(true)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| self.io_err(e))?;
        let mut st = self.write_state();
        // only what others appended since our last look is scanned
        self.catch_up(&mut st, &file)?;
        let len = file.metadata().map_err(|e| self.io_err(e))?.len() as usize;
        if st.indexed_end < len {
            // a writer crashed mid-record: cut the torn tail, so our records
            // start on a record boundary and stay reachable
            tracing::warn!(cache.path = %self.path.display(), "header cache {}: cutting {} bytes of a torn record", self.path.display(), len - st.indexed_end);
            file.set_len(st.indexed_end as u64)
                .map_err(|e| self.io_err(e))?;
        }
        file.write_all_at(buf, st.indexed_end as u64)
            .map_err(|e| self.io_err(e))?;
        file.sync_data().map_err(|e| self.io_err(e))?;
        self.catch_up(&mut st, &file)?;
        self.compact_locked(&mut st, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> PackageMeta {
        PackageMeta {
            name: name.into(),
            epoch: None,
            version: "1.0".into(),
            release: "1".into(),
            arch: "x86_64".into(),
            is_source: false,
            checksum: "ab".repeat(32),
            header_digest: "cd".repeat(32),
            sigmd5: None,
            summary: "s".into(),
            description: "d".into(),
            packager: String::new(),
            url: String::new(),
            build_time: 1,
            file_size: 10,
            file_mtime: 2,
            installed_size: 3,
            archive_size: 4,
            license: "MIT".into(),
            vendor: String::new(),
            group: String::new(),
            buildhost: String::new(),
            sourcerpm: String::new(),
            header_start: 0,
            header_end: 0,
            provides: vec![],
            requires: vec![],
            conflicts: vec![],
            obsoletes: vec![],
            recommends: vec![],
            suggests: vec![],
            supplements: vec![],
            enhances: vec![],
            files: crate::rpm::FileList::new(),
            changelogs: vec![],
        }
    }

    fn key(ino: u64) -> FileKey {
        FileKey {
            dev: 1,
            ino,
            size: 10,
            mtime: 2,
            mtime_nsec: 3,
            ctime: 4,
            ctime_nsec: 5,
        }
    }

    fn at_ctime(k: FileKey, ctime: i64) -> FileKey {
        FileKey { ctime, ..k }
    }

    /// Two hosts mount one volume at the same path, each under its own
    /// device number: a record one writes to the shared cache is found by
    /// the other, while an unshared device keeps its own number.
    #[test]
    fn a_shared_volume_keys_files_alike_on_every_host() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        let root = Path::new("/mnt/koji-test-volume");
        let (host_a, host_b) = (0x7001, 0x7002);
        register_volume(host_a, root);
        let a = FileKey {
            dev: volume_of(host_a),
            ..key(42)
        };
        cache.put_many(&[(a, &meta("shared"))]).unwrap();
        // the other host: the same inode and times on another device number
        assert_eq!(volume_of(host_b), host_b, "an unshared device");
        register_volume(host_b, root);
        let b = FileKey {
            dev: volume_of(host_b),
            ..key(42)
        };
        assert_eq!(a, b);
        assert_ne!(a.dev, host_a);
        let other = LogCache::open(dir.path()).unwrap();
        assert_eq!(other.get(&b).map(|m| m.name), Some("shared".to_owned()));
        // a volume mounted at another path is another volume
        register_volume(0x7003, Path::new("/srv/other"));
        assert_ne!(volume_of(0x7003), a.dev);
    }

    /// A record read only to the end of the headers answers `get_header`,
    /// not `get` or `sha256`, and never replaces the whole record of the
    /// same file.
    #[test]
    fn header_only_records_answer_only_for_headers() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        let mut partial = meta("p");
        partial.checksum = String::new();
        cache.put_many(&[(key(7), &partial)]).unwrap();
        assert!(cache.get(&key(7)).is_none());
        assert!(cache.sha256(&key(7)).is_none());
        assert_eq!(cache.get_header(&key(7)).map(|m| m.name), Some("p".into()));
        let whole = meta("p");
        cache.put_many(&[(key(7), &whole)]).unwrap();
        assert_eq!(cache.get(&key(7)), Some(whole.clone()));
        cache.put_many(&[(key(7), &partial)]).unwrap();
        let reopened = LogCache::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key(7)), Some(whole.clone()));
        assert_eq!(reopened.get_header(&key(7)), Some(whole));
    }

    #[test]
    fn records_survive_reopen_and_miss_on_changed_identity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        let (a, b) = (meta("a"), meta("b"));
        cache.put_many(&[(key(1), &a), (key(2), &b)]).unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        assert_eq!(cache.get(&key(1)), Some(a));
        assert_eq!(cache.get(&key(2)), Some(b));
        assert_eq!(cache.get(&FileKey { mtime: 9, ..key(1) }), None);
        // the same size and mtime, but the file changed since: its ctime moved
        assert_eq!(cache.get(&at_ctime(key(1), 99)), None);
    }

    #[test]
    fn torn_tail_is_ignored_then_cut_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        cache.put_many(&[(key(1), &meta("a"))]).unwrap();
        // a writer crashed half-way through its record
        let mut rec = Vec::new();
        encode_record(&key(2), &meta("b"), &mut rec).unwrap();
        let mut f = OpenOptions::new().append(true).open(cache.path()).unwrap();
        f.write_all(&rec[..rec.len() / 2]).unwrap();
        drop(f);

        let cache = LogCache::open(dir.path()).unwrap();
        assert_eq!(cache.len(), 1);
        cache.put_many(&[(key(3), &meta("c"))]).unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        assert_eq!(cache.len(), 2, "the record after the torn one is reachable");
        assert_eq!(cache.get(&key(3)).unwrap().name, "c");
        assert_eq!(cache.get(&key(2)), None);
    }

    #[test]
    fn the_record_with_the_latest_ctime_is_the_files_record() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        // written out of order, as two processes reading the file around a
        // change may append them
        cache
            .put_many(&[(at_ctime(key(1), 20), &meta("new"))])
            .unwrap();
        cache
            .put_many(&[(at_ctime(key(1), 10), &meta("old"))])
            .unwrap();
        for c in [&cache, &LogCache::open(dir.path()).unwrap()] {
            assert_eq!(c.len(), 1);
            assert_eq!(c.get(&at_ctime(key(1), 20)).unwrap().name, "new");
            assert_eq!(c.get(&at_ctime(key(1), 10)), None);
        }
    }

    /// Every byte of the log is indexed once per handle: a write scans only
    /// what other handles (processes) appended since its last look.
    #[test]
    fn writes_scan_only_what_others_appended() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogCache::open(dir.path()).unwrap();
        let b = LogCache::open(dir.path()).unwrap();
        for i in 0..20u64 {
            let (writer, name) = if i % 3 == 0 { (&b, "b") } else { (&a, "a") };
            writer.put_many(&[(key(i), &meta(name))]).unwrap();
        }
        let log = std::fs::metadata(a.path()).unwrap().len();
        b.refresh().unwrap();
        a.refresh().unwrap();
        assert_eq!((a.bytes_scanned(), b.bytes_scanned()), (log, log));
        assert_eq!((a.len(), b.len()), (20, 20));
        assert_eq!(a.get(&key(3)).unwrap().name, "b");
        assert_eq!(b.get(&key(4)).unwrap().name, "a");
    }

    #[test]
    fn compaction_keeps_the_live_records_and_other_handles_follow_the_new_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = LogCache::open(dir.path()).unwrap();
        a.compact_min_bytes = 1;
        let other = LogCache::open(dir.path()).unwrap();
        let first: Vec<(FileKey, PackageMeta)> = (0..50)
            .map(|i| (at_ctime(key(i), 1), meta(&format!("p{i}"))))
            .collect();
        let refs: Vec<(FileKey, &PackageMeta)> = first.iter().map(|(k, m)| (*k, m)).collect();
        a.put_many(&refs).unwrap();
        other.refresh().unwrap();
        assert_eq!(other.len(), 50);
        let old_ino = std::fs::metadata(a.path()).unwrap().ino();
        let full = std::fs::metadata(a.path()).unwrap().len();

        // every file changed (linked, say) and was recorded again: half of
        // the log is dead, not more, so it stays
        let moved: Vec<(FileKey, FileKey)> = (0..50)
            .map(|i| (at_ctime(key(i), 1), at_ctime(key(i), 2)))
            .collect();
        a.rekey(&moved).unwrap();
        assert_eq!(std::fs::metadata(a.path()).unwrap().ino(), old_ino);
        // ten changed again: now more than half is dead, and this write compacts
        let moved: Vec<(FileKey, FileKey)> = (0..10)
            .map(|i| (at_ctime(key(i), 2), at_ctime(key(i), 3)))
            .collect();
        a.rekey(&moved).unwrap();
        let md = std::fs::metadata(a.path()).unwrap();
        assert_ne!(md.ino(), old_ino, "the log was not replaced");
        assert_eq!(md.len(), full, "50 live records, as before");
        assert_eq!(a.len(), 50);
        assert!(
            !dir.path().read_dir().unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("compact"))
        );

        // the other handle still answers from the old log it has mapped ...
        assert_eq!(other.get(&at_ctime(key(40), 1)).unwrap().name, "p40");
        // ... and finds the new one at its next look, or its next write
        other.put_many(&[(key(100), &meta("late"))]).unwrap();
        assert_eq!(other.get(&at_ctime(key(5), 3)).unwrap().name, "p5");
        assert_eq!(other.get(&at_ctime(key(15), 2)).unwrap().name, "p15");
        assert_eq!(other.get(&at_ctime(key(5), 1)), None);
        let fresh = LogCache::open(dir.path()).unwrap();
        assert_eq!(fresh.len(), 51);
        assert_eq!(fresh.get(&key(100)).unwrap().name, "late");
        assert_eq!(fresh.get(&at_ctime(key(49), 2)).unwrap().name, "p49");

        // a torn tail after a compaction is cut by the next writer as before
        let mut rec = Vec::new();
        encode_record(&key(200), &meta("torn"), &mut rec).unwrap();
        let mut f = OpenOptions::new().append(true).open(a.path()).unwrap();
        f.write_all(&rec[..rec.len() - 1]).unwrap();
        drop(f);
        a.put_many(&[(key(201), &meta("after"))]).unwrap();
        let fresh = LogCache::open(dir.path()).unwrap();
        assert_eq!(fresh.len(), 52);
        assert_eq!(fresh.get(&key(201)).unwrap().name, "after");
        assert_eq!(fresh.get(&key(200)), None);
    }

    /// Kilobytes of this process's memory mapped from files under `dir`
    /// (the log, and a replaced log still mapped).
    fn mapped_kb(dir: &Path) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut ours = false;
        let mut kb = 0;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            let is_mapping = range.split_once('-').is_some_and(|(a, b)| {
                u64::from_str_radix(a, 16).is_ok() && u64::from_str_radix(b, 16).is_ok()
            });
            if is_mapping {
                ours = line.contains(dir.to_str().unwrap());
            } else if let Some(rss) = line.strip_prefix("Rss:")
                && ours
            {
                kb += rss.trim().trim_end_matches(" kB").parse::<u64>().unwrap();
            }
        }
        kb
    }

    /// Indexing a large log, reading its records and compacting it leave
    /// none of its pages in the process's resident set: a service opening a
    /// 385 MB log held all of it, and the 952 records a compose read added
    /// 40–130 MB (the pages faulted in around each).
    #[test]
    fn a_large_log_is_indexed_read_and_compacted_without_keeping_its_pages() {
        let dir = tempfile::tempdir().unwrap();
        let big = |i: u64| PackageMeta {
            description: format!("{i:08}").repeat(8 * 1024),
            ..meta(&format!("p{i}"))
        };
        let writer = LogCache::open(dir.path()).unwrap();
        for batch in 0..4u64 {
            let metas: Vec<PackageMeta> = (batch * 100..batch * 100 + 100).map(big).collect();
            let records: Vec<(FileKey, &PackageMeta)> = metas
                .iter()
                .enumerate()
                .map(|(j, m)| (key(batch * 100 + j as u64), m))
                .collect();
            writer.put_many(&records).unwrap();
        }
        let log = std::fs::metadata(writer.path()).unwrap().len();
        assert!(log > RELEASE_SCANNED + (4 << 20), "{log} bytes");
        // the writer scanned each batch it wrote, more than the threshold in all
        assert!(
            mapped_kb(dir.path()) < (RELEASE_SCANNED >> 10) / 2,
            "{} kB",
            mapped_kb(dir.path())
        );
        drop(writer);
        let cache = LogCache::open(dir.path()).unwrap();
        assert_eq!(cache.len(), 400);
        assert_eq!(mapped_kb(dir.path()), 0, "indexing kept pages");
        for i in 0..400 {
            assert_eq!(cache.get(&key(i)), Some(big(i)));
        }
        assert_eq!(mapped_kb(dir.path()), 0, "reading records kept pages");
        // most records dead, then compacted: the old log is copied through its map
        let newer: Vec<PackageMeta> = (0..300).map(big).collect();
        let records: Vec<(FileKey, &PackageMeta)> = newer
            .iter()
            .enumerate()
            .map(|(i, m)| (at_ctime(key(i as u64), 9), m))
            .collect();
        cache.put_many(&records).unwrap();
        assert!(cache.compact().unwrap());
        assert!(
            mapped_kb(dir.path()) < (RELEASE_SCANNED >> 10) / 2,
            "compaction kept {} kB",
            mapped_kb(dir.path())
        );
        assert_eq!(cache.get(&at_ctime(key(7), 9)), Some(big(7)));
        assert_eq!(cache.get(&key(350)), Some(big(350)));
    }

    /// A record is encoded in place exactly as it was through a payload of
    /// its own (`postcard::to_stdvec`): logs written before read the same.
    #[test]
    fn records_are_encoded_as_before() {
        let m = PackageMeta {
            requires: vec![crate::rpm::Dependency::new("b", 8, "1.0")],
            ..meta("a")
        };
        let mut out = b"tail of an earlier record".to_vec();
        let start = out.len();
        encode_record(&key(5), &m, &mut out).unwrap();
        let payload = postcard::to_stdvec(&m).unwrap();
        let record = &out[start..];
        assert_eq!(record[..4], RECORD_MAGIC);
        assert_eq!(record[4..8], (payload.len() as u32).to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&key(5).encode());
        h.update(&sha256_bytes(&m.checksum).unwrap());
        h.update(&payload);
        assert_eq!(record[8..12], h.finalize().to_le_bytes());
        assert_eq!(record[12..12 + KEY_SIZE], key(5).encode());
        assert_eq!(record[RECORD_HEADER..], payload[..]);
    }

    /// One put larger than a piece is appended in several, in order: every
    /// record is stored, and of two records of one key the later wins.
    #[test]
    fn a_put_larger_than_a_piece_stores_every_record_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        let big = |i: u64, name: &str| PackageMeta {
            description: format!("{i:08}").repeat(8 * 1024),
            ..meta(name)
        };
        let mut metas: Vec<(FileKey, PackageMeta)> = (0..300)
            .map(|i| (key(i), big(i, &format!("p{i}"))))
            .collect();
        metas.push((key(3), big(3, "again")));
        let records: Vec<(FileKey, &PackageMeta)> = metas.iter().map(|(k, m)| (*k, m)).collect();
        let bytes: usize = metas.iter().map(|(_, m)| m.description.len()).sum();
        assert!(bytes > 2 * PUT_PIECE_BYTES, "{bytes} bytes");
        cache.put_many(&records).unwrap();
        let reopened = LogCache::open(dir.path()).unwrap();
        for c in [&cache, &reopened] {
            assert_eq!(c.len(), 300);
            assert_eq!(c.get(&key(3)), Some(big(3, "again")));
            for i in (0..300).filter(|&i| i != 3) {
                assert_eq!(c.get(&key(i)), Some(big(i, &format!("p{i}"))), "record {i}");
            }
        }
    }

    #[test]
    fn a_small_or_mostly_live_log_is_not_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(dir.path()).unwrap();
        cache
            .put_many(&[(at_ctime(key(1), 1), &meta("a"))])
            .unwrap();
        let ino = std::fs::metadata(cache.path()).unwrap().ino();
        // all dead but one, yet far below the minimum size
        cache
            .put_many(&[(at_ctime(key(1), 2), &meta("a"))])
            .unwrap();
        assert_eq!(std::fs::metadata(cache.path()).unwrap().ino(), ino);
        assert!(cache.compact().unwrap());
        assert_ne!(std::fs::metadata(cache.path()).unwrap().ino(), ino);
        assert_eq!(cache.get(&at_ctime(key(1), 2)).unwrap().name, "a");
    }

    #[test]
    fn a_record_follows_a_link_we_make_but_not_other_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LogCache::open(&dir.path().join("cache")).unwrap();
        let file = dir.path().join("a.rpm");
        std::fs::write(&file, b"rpm").unwrap();
        let k0 = FileKey::from_metadata(&std::fs::metadata(&file).unwrap());
        cache.put_many(&[(k0, &meta("a"))]).unwrap();

        let (before, after) = link_tracked(&file, &dir.path().join("b.rpm"), |f, t| {
            std::fs::hard_link(f, t)
        })
        .unwrap()
        .expect("only the link changed the file");
        assert_eq!(before, k0);
        let (_, again) = link_tracked(&file, &dir.path().join("c.rpm"), |f, t| {
            std::fs::hard_link(f, t)
        })
        .unwrap()
        .unwrap();
        cache.rekey(&[(before, after), (after, again)]).unwrap();
        assert_eq!(cache.get(&again).unwrap().name, "a");
        // and a name we remove
        let (gone_from, gone_to) = unlink_tracked(&dir.path().join("c.rpm"))
            .unwrap()
            .expect("only the unlink changed the file");
        assert_eq!(gone_from, again);
        cache.rekey(&[(gone_from, gone_to)]).unwrap();
        assert_eq!(cache.get(&gone_to).unwrap().name, "a");
        let again = gone_to;

        // a link made by anything else moves the ctime without the record
        std::fs::hard_link(&file, dir.path().join("d.rpm")).unwrap();
        let now = FileKey::from_metadata(&std::fs::metadata(&file).unwrap());
        assert_ne!(now, again);
        assert_eq!(cache.get(&now), None);
        // and a "link" that copies is not followed
        let copied = link_tracked(&file, &dir.path().join("e.rpm"), |f, t| {
            std::fs::copy(f, t).map(|_| ())
        })
        .unwrap();
        assert_eq!(copied, None);
    }
}
