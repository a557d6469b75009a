//! The package-metadata cache: [`PackageMeta`] records keyed by the identity of
//! the RPM file they were read from.
//!
//! Why by identity and not by path: a compose hardlinks RPMs from the Koji topdir
//! into its tree, so the same file (same device and inode) shows up under many
//! paths; keyed by (device, inode, size, mtime) every one of them hits. A file
//! replaced in place gets a new inode or mtime and so misses. The record also keeps
//! the header's sigmd5, so a caller that wants to be paranoid can compare it with
//! the first few KiB of the file without hashing the payload.
//!
//! [`LogCache`] stores records in one append-only log file, because a warm run
//! must not open thousands of small files: it maps the log once, indexes the
//! record headers, and decodes only the records asked for. Every record carries a
//! CRC, so a torn write at the end (a crash mid-append) is detected and cut off by
//! the next writer; writers serialise on an advisory lock of the log file, readers
//! never block. The interface is the [`HeaderCache`] trait, which `store`
//! implements for the service (#4).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use super::package::PackageMeta;

/// Bump when [`PackageMeta`] or the record layout changes: the log file name
/// carries it, so an old log is simply not read.
const FORMAT_VERSION: u32 = 1;
const RECORD_MAGIC: [u8; 4] = *b"ODCR";
/// magic, payload length, crc32 of the key and payload, key (dev, ino, size, mtime s, mtime ns).
const RECORD_HEADER: usize = 4 + 4 + 4 + KEY_SIZE;
const KEY_SIZE: usize = 8 + 8 + 8 + 8 + 4;

/// What identifies an RPM file on disk for the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl FileKey {
    pub fn from_metadata(md: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec() as u32,
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
        out
    }

    fn decode(b: &[u8]) -> FileKey {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        FileKey {
            dev: u64_at(0),
            ino: u64_at(8),
            size: u64_at(16),
            mtime: u64_at(24) as i64,
            mtime_nsec: u32::from_le_bytes(b[32..36].try_into().expect("4 bytes")),
        }
    }
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
    /// The record for this file, if one was stored.
    fn get(&self, key: &FileKey) -> Option<PackageMeta>;
    /// Store records (one batch: one lock, one write).
    fn put_many(&self, records: &[(FileKey, &PackageMeta)]) -> Result<(), CacheError>;
}

/// A [`HeaderCache`] in one append-only log file under a directory.
pub struct LogCache {
    path: PathBuf,
    state: RwLock<State>,
}

struct State {
    map: Option<memmap2::Mmap>,
    /// key → (payload offset, payload length) in `map`
    index: HashMap<FileKey, (usize, usize)>,
}

impl LogCache {
    /// Open (creating the directory if needed) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<LogCache, CacheError> {
        let io = |source| CacheError::Io {
            path: dir.to_owned(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(format!("headers-v{FORMAT_VERSION}.log"));
        let cache = LogCache {
            path,
            state: RwLock::new(State {
                map: None,
                index: HashMap::new(),
            }),
        };
        cache.reload()?;
        Ok(cache)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many records the index holds.
    pub fn len(&self) -> usize {
        self.state.read().expect("cache lock poisoned").index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn io_err(&self, source: std::io::Error) -> CacheError {
        CacheError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Map the log and index every valid record in it.
    fn reload(&self) -> Result<(), CacheError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(e)),
        };
        let len = file.metadata().map_err(|e| self.io_err(e))?.len();
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the log is only ever appended to (under the lock) or cut back to
        // a record boundary past the bytes other processes have indexed; bytes a
        // reader has indexed are never rewritten.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| self.io_err(e))?;
        let mut index = HashMap::new();
        let valid_end = scan(&map, 0, &mut index);
        if valid_end < map.len() {
            tracing::warn!(
                cache.path = %self.path.display(),
                "header cache {}: ignoring {} bytes of incomplete or corrupt records after offset {valid_end}",
                self.path.display(),
                map.len() - valid_end
            );
        }
        *self.state.write().expect("cache lock poisoned") = State {
            map: Some(map),
            index,
        };
        Ok(())
    }
}

/// Index records from `from` on; returns the end of the last valid record.
fn scan(data: &[u8], mut at: usize, index: &mut HashMap<FileKey, (usize, usize)>) -> usize {
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
        index.insert(FileKey::decode(&head[12..]), (payload_at, len));
        at = payload_at + len;
    }
    at
}

fn encode_record(key: &FileKey, meta: &PackageMeta, out: &mut Vec<u8>) -> Result<(), CacheError> {
    let payload = postcard::to_stdvec(meta).map_err(|source| CacheError::Encode {
        nevra: meta.nevra(),
        source,
    })?;
    let key = key.encode();
    let mut h = crc32fast::Hasher::new();
    h.update(&key);
    h.update(&payload);
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&key);
    out.extend_from_slice(&payload);
    Ok(())
}

impl HeaderCache for LogCache {
    fn get(&self, key: &FileKey) -> Option<PackageMeta> {
        let st = self.state.read().expect("cache lock poisoned");
        let &(at, len) = st.index.get(key)?;
        let payload = st.map.as_ref()?.get(at..at + len)?;
        match postcard::from_bytes::<PackageMeta>(payload) {
            Ok(meta) => Some(meta),
            Err(e) => {
                tracing::warn!(cache.path = %self.path.display(), "header cache {}: undecodable record ({e}), reading the RPM again", self.path.display());
                None
            }
        }
    }

    fn put_many(&self, records: &[(FileKey, &PackageMeta)]) -> Result<(), CacheError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for (key, meta) in records {
            encode_record(key, meta, &mut buf)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io_err(e))?;
        file.lock().map_err(|e| self.io_err(e))?;
        // Under the lock: cut off a torn tail left by a writer that crashed, so
        // our records start on a record boundary and stay reachable.
        let len = file.metadata().map_err(|e| self.io_err(e))?.len() as usize;
        let valid = scan_end(&file).map_err(|e| self.io_err(e))?;
        if valid < len {
            tracing::warn!(cache.path = %self.path.display(), "header cache {}: cutting {} bytes of a torn record", self.path.display(), len - valid);
            file.set_len(valid as u64).map_err(|e| self.io_err(e))?;
        }
        file.write_all(&buf).map_err(|e| self.io_err(e))?;
        file.sync_data().map_err(|e| self.io_err(e))?;
        file.unlock().map_err(|e| self.io_err(e))?;
        drop(file);
        self.reload()
    }
}

/// The end of the last valid record of the log (call with the writer lock held).
fn scan_end(file: &File) -> std::io::Result<usize> {
    if file.metadata()?.len() == 0 {
        return Ok(0);
    }
    // SAFETY: the caller holds the writer lock, so nobody appends or cuts meanwhile.
    let map = unsafe { memmap2::Mmap::map(file) }?;
    Ok(scan(&map, 0, &mut HashMap::new()))
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
            checksum: "00".repeat(32),
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
            files: vec![],
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
        }
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
}
