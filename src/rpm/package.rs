//! The package-metadata record: everything repodata writes for one RPM, read once
//! from its header and then kept in the cache.

use serde::{Deserialize, Serialize};

use super::evr::{Evr, EvrError};

/// Dependency sense bits and the flags createrepo_c looks at (rpm's `rpmds.h`).
pub mod sense {
    pub const LESS: u32 = 1 << 1;
    pub const GREATER: u32 = 1 << 2;
    pub const EQUAL: u32 = 1 << 3;
    pub const MASK: u32 = LESS | GREATER | EQUAL;
    pub const POSTTRANS: u32 = 1 << 5;
    pub const PREREQ: u32 = 1 << 6;
    pub const PRETRANS: u32 = 1 << 7;
    pub const SCRIPT_PRE: u32 = 1 << 9;
    pub const SCRIPT_POST: u32 = 1 << 10;
    pub const MISSINGOK: u32 = 1 << 19;
    pub const RPMLIB: u32 = 1 << 24;
}

/// One dependency entry as the header holds it: name, raw flags and the raw
/// `[E:]V[-R]` string (empty when unversioned).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dependency {
    pub name: String,
    pub flags: u32,
    pub version: String,
}

impl Dependency {
    pub fn new(name: impl Into<String>, flags: u32, version: impl Into<String>) -> Self {
        Dependency {
            name: name.into(),
            flags,
            version: version.into(),
        }
    }

    /// The comparison word repodata uses (`EQ`, `LT`, `GE`, ...), or `None` when the
    /// dependency is unversioned or its sense bits are not one of the five.
    pub fn flags_word(&self) -> Option<&'static str> {
        match self.flags & sense::MASK {
            sense::LESS => Some("LT"),
            sense::GREATER => Some("GT"),
            sense::EQUAL => Some("EQ"),
            x if x == sense::LESS | sense::EQUAL => Some("LE"),
            x if x == sense::GREATER | sense::EQUAL => Some("GE"),
            _ => None,
        }
    }

    /// `pre="1"` in primary: createrepo_c marks prerequisites (PREREQ, or a
    /// requirement of the %pre or %post scriptlet).
    pub fn is_pre(&self) -> bool {
        self.flags & (sense::PREREQ | sense::SCRIPT_PRE | sense::SCRIPT_POST) != 0
    }

    pub fn is_rich(&self) -> bool {
        self.name.starts_with('(')
    }

    /// The version as E:V-R, `None` for an unversioned dependency.
    pub fn evr(&self) -> Result<Option<Evr>, EvrError> {
        if self.version.is_empty() {
            return Ok(None);
        }
        Evr::parse(&self.version).map(Some)
    }
}

/// What repodata says a file entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

impl FileKind {
    /// The `type` attribute of `<file>`; `None` for a regular file.
    pub fn attr(self) -> Option<&'static str> {
        match self {
            FileKind::File => None,
            FileKind::Dir => Some("dir"),
            FileKind::Ghost => Some("ghost"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    pub author: String,
    pub date: u64,
    pub text: String,
}

/// Is this path one of the files createrepo_c lists in primary.xml (and so one
/// that dependency resolution can see without filelists)?
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

/// Everything createrepo_c writes for one RPM, plus what identifies the file.
///
/// `requires` already has createrepo_c's filtering applied (rpmlib() dropped,
/// self-satisfied and duplicate requires dropped, libc.so.6 collapsed); the other
/// dependency lists are in header order. `files` is the full list; primary.xml
/// takes the [`is_primary_file`] subset. `changelogs` is in header order (newest
/// first), all of them; the writer applies the limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMeta {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    /// The header's arch, or `src` for a source package.
    pub arch: String,
    pub is_source: bool,
    /// Hex sha256 of the whole file: the package id in repodata. Empty in
    /// a record read only up to the end of the headers.
    pub checksum: String,
    /// Hex sha256 of the main header, which holds everything of the package
    /// but its payload: what identifies the record's content for the
    /// closure's pools, in whole and header-only records alike. Empty for a
    /// record not read from an RPM header (a repository's primary.xml).
    pub header_digest: String,
    /// The signature header's MD5 over header and payload (rpm's sigmd5), hex.
    pub sigmd5: Option<String>,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub build_time: u64,
    pub file_size: u64,
    pub file_mtime: i64,
    pub installed_size: u64,
    pub archive_size: u64,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dependency>,
    pub requires: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    pub files: Vec<FileEntry>,
    pub changelogs: Vec<Changelog>,
}

impl PackageMeta {
    /// Was the whole file read (its sha256 in `checksum`, its payload
    /// digests checked), or only its headers ([`crate::rpm::read_package_header`])?
    pub fn is_whole(&self) -> bool {
        !self.checksum.is_empty()
    }

    pub fn evr(&self) -> Evr {
        Evr::new(self.epoch, self.version.clone(), Some(self.release.clone()))
    }

    /// `name-[epoch:]version-release.arch`, epoch only when non-zero.
    pub fn nevra(&self) -> String {
        match self.epoch {
            Some(e) if e != 0 => format!(
                "{}-{e}:{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
            _ => format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
        }
    }
}
