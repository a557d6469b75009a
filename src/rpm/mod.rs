//! Reading RPM packages: headers (lead, signature, main header; never the
//! payload), version comparison, the dependency model, the package-metadata
//! record and its cache.
//!
//! A package is read once: [`read_package`] maps the file, parses the headers and
//! hashes the whole file in one pass over the map, producing a [`PackageMeta`]
//! that holds everything repodata needs. The record is then kept in a
//! [`HeaderCache`] keyed by the file's identity, so later runs (and every compose
//! that hardlinks the same file) never open the RPM again.

pub mod build;
mod cache;
pub mod corpus;
mod evr;
mod header;
mod package;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

pub use cache::{CacheError, FileKey, HeaderCache, LogCache};
pub use evr::{Evr, EvrError, rpmvercmp};
pub use header::{RpmError, header_text};
pub use package::{
    Changelog, Dependency, FileEntry, FileKind, PackageMeta, is_primary_file, sense,
};

/// Read one RPM file: its headers and the sha256 of the whole file.
pub fn read_package(path: &Path) -> Result<PackageMeta, RpmError> {
    let io = |source| RpmError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let md = file.metadata().map_err(io)?;
    read_open_package(path, &file, &md)
}

/// [`read_package`] for a file the caller has already opened and stat'ed.
pub fn read_open_package(
    path: &Path,
    file: &File,
    md: &std::fs::Metadata,
) -> Result<PackageMeta, RpmError> {
    if !md.is_file() {
        return Err(RpmError::Io {
            path: path.to_owned(),
            source: std::io::Error::other("not a regular file"),
        });
    }
    if md.len() == 0 {
        return Err(RpmError::NotAnRpm {
            path: path.to_owned(),
        });
    }
    // SAFETY: the map is only read while this function runs. Another process
    // truncating the RPM meanwhile would make reads fault; RPMs in a repository or
    // a Koji topdir are written once and never modified in place (they are
    // replaced by rename), which is the same assumption createrepo_c makes.
    let map = unsafe { memmap2::Mmap::map(file) }.map_err(|source| RpmError::Io {
        path: path.to_owned(),
        source,
    })?;
    let _ = map.advise(memmap2::Advice::Sequential);
    let mut meta = header::parse_headers(&map, path)?;
    meta.checksum = hex::encode(Sha256::digest(&map[..]));
    meta.file_size = md.len();
    meta.file_mtime = md.mtime();
    Ok(meta)
}
