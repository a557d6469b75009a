//! Reading RPM packages: headers (lead, signature, main header; never the
//! payload), version comparison, the dependency model, the package-metadata
//! record and its cache.
//!
//! A package is read once: [`read_package`] reads the file sequentially, parses
//! the headers from its first block and hashes every byte on the way — the
//! file's sha256 and, in the same pass, the digests the package records for
//! itself (what `rpm -K` checks: `digest` says which and how) — producing a
//! [`PackageMeta`] that holds everything repodata needs. A package whose
//! digests do not match is refused ([`RpmError::BadDigests`]). The record is
//! then kept in a [`HeaderCache`] keyed by the file's identity, so later runs
//! (and every compose that hardlinks the same file) never open the RPM again.
//!
//! A compose choosing among many candidates reads most of them only with
//! [`read_package_header`]: up to the end of the main header, its header
//! digests checked, no sha256 of the file (`checksum` empty). Such records
//! are cached too (`HeaderCache::get_header`); the packages chosen are then
//! read whole, and their whole records replace them.

pub mod build;
mod cache;
pub mod corpus;
mod digest;
mod evr;
mod header;
mod package;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub use cache::{
    COMPACT_MIN_BYTES, CacheError, FileKey, HeaderCache, LogCache, link_tracked, sha256_bytes,
    share_volume, unlink_tracked,
};
pub use digest::{DigestKind, DigestMismatch, HashAlgo};
pub use evr::{Evr, EvrError, rpmvercmp};
pub use header::{RpmError, header_text};
pub use package::{
    Changelog, Dependency, FileEntry, FileKind, FileList, PackageMeta, is_primary_file, sense,
};

/// Read one RPM file: its headers and the sha256 of the whole file, its own
/// digests checked on the way.
pub fn read_package(path: &Path) -> Result<PackageMeta, RpmError> {
    open_and_read(path, true)
}

/// Open `path` and read it whole or (`whole` false) only to its headers.
fn open_and_read(path: &Path, whole: bool) -> Result<PackageMeta, RpmError> {
    let io = |source| RpmError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let md = file.metadata().map_err(io)?;
    read_open(path, &file, &md, whole)
}

/// Read one RPM file only up to the end of its main header (a few KB of a
/// file of any size): the record [`read_package`] gives, but with an empty
/// `checksum` ([`PackageMeta::is_whole`] false), `file_size` from the file's
/// metadata, no changelogs and no description, and only the header digests
/// checked. What a compose needs to choose among candidates; the chosen
/// ones are then read whole.
pub fn read_package_header(path: &Path) -> Result<PackageMeta, RpmError> {
    open_and_read(path, false)
}

/// RPM files this process has read whole with [`read_open_package`] (the
/// metrics' `odcs_rpm_files_read_total`; a warm compose adds none).
pub static FILES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// RPM files this process has read only up to the end of their headers with
/// [`read_package_header`] (`odcs_rpm_headers_read_total`).
pub static HEADERS_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// [`read_package`] for a file the caller has already opened and stat'ed.
///
/// The file is read sequentially, once: the first block is parsed for the
/// headers (more is read while they extend past it), which gives the ranges
/// the package's digests cover, then every byte goes through the hashes on
/// the way (`digest::Hashing`). Departure from the "computed from a memory map":
/// measured on the benchmark corpus, mapping and unmapping thousands of files
/// from two threads spends more time in the kernel (page faults, and TLB
/// shootdowns on every munmap) than hashing takes; plain reads into a reused
/// buffer cut the cold run's system time by more than half.
pub fn read_open_package(
    path: &Path,
    file: &File,
    md: &std::fs::Metadata,
) -> Result<PackageMeta, RpmError> {
    read_open(path, file, md, true)
}

/// [`read_package_header`] for a file the caller has already opened and
/// stat'ed.
pub fn read_open_package_header(
    path: &Path,
    file: &File,
    md: &std::fs::Metadata,
) -> Result<PackageMeta, RpmError> {
    read_open(path, file, md, false)
}

/// Read `file` whole (hashing it) or only until its headers parse.
fn read_open(
    path: &Path,
    file: &File,
    md: &std::fs::Metadata,
    whole: bool,
) -> Result<PackageMeta, RpmError> {
    use std::io::Read;
    const BLOCK: usize = 256 * 1024;
    // headers are a few KB (5.1 KB the median of the generated corpus, 7 KB
    // its 90th percentile); a longer one is read on to its exact end
    const HEAD_BLOCK: usize = 8 * 1024;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let io = |source| RpmError::Io {
        path: path.to_owned(),
        source,
    };
    let counter = if whole { &FILES_READ } else { &HEADERS_READ };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if !md.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    BUF.with_borrow_mut(|buf| {
        let mut reader = file;
        buf.clear();
        let mut eof = false;
        // read until the headers parse, or the file ends
        let (mut meta, expected) = loop {
            if !eof {
                let want = match (whole, buf.is_empty()) {
                    (true, _) => buf.len() + BLOCK.max(buf.len()),
                    (false, true) => HEAD_BLOCK,
                    (false, false) => header::headers_len(buf).max(buf.len() + 1),
                };
                let got = reader
                    .by_ref()
                    .take((want - buf.len()) as u64)
                    .read_to_end(buf)
                    .map_err(io)?;
                eof = got == 0 || buf.len() < want;
            }
            match header::parse_headers(buf, path, whole) {
                Err(RpmError::Truncated { .. }) if !eof => continue,
                other => break other?,
            }
        };
        if !whole {
            // parse_headers checked that the buffer holds the main header
            let header = &buf[meta.header_start as usize..meta.header_end as usize];
            meta.header_digest = digest::check_header(path, &expected, header)?;
            meta.file_size = md.len();
            meta.checksum = String::new();
            meta.file_mtime = md.mtime();
            return Ok(meta);
        }
        let mut hashing = digest::Hashing::new(&expected, meta.header_start..meta.header_end);
        hashing.update(&buf[..]);
        if !eof {
            buf.resize(BLOCK, 0);
            loop {
                let n = match reader.read(&mut buf[..]) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                hashing.update(&buf[..n]);
            }
        }
        if buf.capacity() > 4 * BLOCK {
            // a package with huge headers: do not keep its buffer per thread
            *buf = Vec::new();
        }
        meta.file_size = hashing.len();
        (meta.checksum, meta.header_digest) = hashing.finish(path, &expected)?;
        meta.file_mtime = md.mtime();
        Ok(meta)
    })
}
