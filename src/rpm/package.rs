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

/// One entry of a [`FileList`], borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FileEntry<'a> {
    pub path: &'a str,
    pub kind: FileKind,
}

/// A package's file list, held compactly: every path in one string, with
/// where each ends and what it is. A tag's header records are held all at
/// once while a compose chooses among them (97,000 in the bench), and a
/// list of one allocation per path was the largest part of each record
/// (README, "A cold compose"). It serializes as the sequence of its
/// entries, `{path, kind}` each, as the list of owned entries it replaced
/// did (the header cache's records are unchanged).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FileList {
    text: String,
    ends: Vec<u32>,
    kinds: Vec<FileKind>,
}

impl FileList {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `files` entries of `bytes` bytes of paths in all.
    pub fn with_capacity(files: usize, bytes: usize) -> Self {
        FileList {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(files),
            kinds: Vec::with_capacity(files),
        }
    }

    pub fn push(&mut self, path: &str, kind: FileKind) {
        self.push_joined("", path, kind);
    }

    /// Add the path `dir` followed by `base` (an RPM header holds paths as
    /// directory and base name).
    pub fn push_joined(&mut self, dir: &str, base: &str, kind: FileKind) {
        self.text.push_str(dir);
        self.text.push_str(base);
        // a header's data is capped far below 4 GB (MAX_DATA_SIZE)
        self.ends
            .push(u32::try_from(self.text.len()).expect("file list under 4 GB"));
        self.kinds.push(kind);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<FileEntry<'_>> {
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        Some(FileEntry {
            path: &self.text[start..end],
            kind: self.kinds[i],
        })
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = FileEntry<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i).expect("an index below len"))
    }

    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.kinds.shrink_to_fit();
    }

    /// The bytes it holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + 4 * self.ends.capacity() + self.kinds.capacity()
    }
}

impl std::fmt::Debug for FileList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<FileEntry<'a>> for FileList {
    fn from_iter<I: IntoIterator<Item = FileEntry<'a>>>(entries: I) -> Self {
        let mut list = FileList::new();
        for e in entries {
            list.push(e.path, e.kind);
        }
        list
    }
}

impl Serialize for FileList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for FileList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// An entry as read: its path borrowed from the input where it can be.
        #[derive(Deserialize)]
        struct Read<'a> {
            #[serde(borrow)]
            path: std::borrow::Cow<'a, str>,
            kind: FileKind,
        }
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = FileList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of file entries")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FileList, A::Error> {
                // no more room than the input can fill (a hostile length)
                let mut list = FileList::with_capacity(seq.size_hint().unwrap_or(0).min(4096), 0);
                while let Some(e) = seq.next_element::<Read<'de>>()? {
                    list.push(&e.path, e.kind);
                }
                Ok(list)
            }
        }
        d.deserialize_seq(Entries)
    }
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
    pub files: FileList,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The entry the file list was before: it owned its path.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Owned {
        path: String,
        kind: FileKind,
    }

    fn sample() -> (FileList, Vec<Owned>) {
        let entries = [
            ("/usr/bin/tool", FileKind::File),
            ("/etc/tool.d", FileKind::Dir),
            ("/var/log/tool.log", FileKind::Ghost),
            ("/usr/share/doc/t\u{e9}\"x\"", FileKind::File),
        ];
        let mut list = FileList::new();
        list.push_joined("/usr/bin/", "tool", FileKind::File);
        for (path, kind) in &entries[1..] {
            list.push(path, *kind);
        }
        let owned = entries
            .iter()
            .map(|(path, kind)| Owned {
                path: (*path).to_owned(),
                kind: *kind,
            })
            .collect();
        (list, owned)
    }

    #[test]
    fn a_file_list_holds_its_entries_in_order() {
        let (list, owned) = sample();
        assert_eq!(list.len(), 4);
        let got: Vec<(&str, FileKind)> = list.iter().map(|e| (e.path, e.kind)).collect();
        let want: Vec<(&str, FileKind)> = owned.iter().map(|o| (o.path.as_str(), o.kind)).collect();
        assert_eq!(got, want);
        assert_eq!(list.get(4), None);
        assert!(FileList::new().is_empty());
        let collected: FileList = list.iter().collect();
        assert_eq!(collected, list);
    }

    /// Encoded as the list of owned entries it replaced was: the header
    /// cache's records (postcard) and JSON read the same both ways.
    #[test]
    fn a_file_list_encodes_as_the_owned_entries_did() {
        let (list, owned) = sample();
        let bytes = postcard::to_stdvec(&list).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&owned).unwrap());
        assert_eq!(postcard::from_bytes::<FileList>(&bytes).unwrap(), list);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, serde_json::to_string(&owned).unwrap());
        assert_eq!(serde_json::from_str::<FileList>(&json).unwrap(), list);
        assert_eq!(postcard::from_bytes::<FileList>(&[]).ok(), None);
    }
}
