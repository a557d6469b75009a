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
    unlink_tracked,
};
pub use digest::{DigestKind, DigestMismatch, HashAlgo};
pub use evr::{Evr, EvrError, rpmvercmp};
pub use header::{RpmError, header_text};
pub use package::{
    Changelog, Dependency, FileEntry, FileKind, PackageMeta, is_primary_file, sense,
};

/// Read one RPM file: its headers and the sha256 of the whole file, its own
/// digests checked on the way.
pub fn read_package(path: &Path) -> Result<PackageMeta, RpmError> {
    let io = |source| RpmError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let md = file.metadata().map_err(io)?;
    read_open_package(path, &file, &md)
}

/// RPM files this process has read with [`read_open_package`] (the
/// metrics' `odcs_rpm_files_read_total`; a warm compose adds none).
pub static FILES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
    use std::io::Read;
    const BLOCK: usize = 256 * 1024;
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let io = |source| RpmError::Io {
        path: path.to_owned(),
        source,
    };
    FILES_READ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
                let want = buf.len() + BLOCK.max(buf.len());
                let got = reader
                    .by_ref()
                    .take((want - buf.len()) as u64)
                    .read_to_end(buf)
                    .map_err(io)?;
                eof = got == 0 || buf.len() < want;
            }
            match header::parse_headers(buf, path) {
                Err(RpmError::Truncated { .. }) if !eof => continue,
                other => break other?,
            }
        };
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
        meta.checksum = hashing.finish(path, &expected)?;
        meta.file_mtime = md.mtime();
        Ok(meta)
    })
}
