//! Reading an RPM's lead, signature header and main header (never the payload)
//! straight out of the bytes at the start of the file, borrowing from them.
//!
//! Departure from DESIGN.md: the design card names the `rpm` crate for reading
//! headers. We read them with this small zero-copy parser instead, and keep the
//! `rpm` crate for building packages (fixtures, benchmark corpus, demo store):
//! - createrepo_c converts strings that are not UTF-8 from Latin-1 and drops
//!   control characters; the crate's typed getters reject such strings, so real
//!   packages with old Latin-1 changelogs would fail.
//! - `rpm:header-range` needs the exact offsets and sizes of both headers.
//! - Speed: only the ~40 tags repodata needs are looked at, borrowed from the bytes;
//!   nothing else is decoded or copied. Reading headers is the cold path of every
//!   compose, so it is worth 400 lines.
//!
//! Every offset read from the file is bounds-checked: a corrupt or truncated
//! package gives an [`RpmError`] naming the file, never a panic.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::digest::{BadDigestsText, DigestMismatch, Expected, HashAlgo};
use super::evr::Evr;
use super::package::{
    Changelog, Dependency, FileKind, FileList, PackageMeta, is_primary_file, sense,
};
use crate::fast_hash::{FastMap, FastSet};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpmError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not an RPM file (bad lead magic)")]
    NotAnRpm { path: PathBuf },
    #[error("{path}: truncated RPM: file ends inside the {part}")]
    Truncated { path: PathBuf, part: &'static str },
    #[error("{path}: corrupt RPM {part}: {reason}")]
    Corrupt {
        path: PathBuf,
        part: &'static str,
        reason: String,
    },
    #[error("{path}: RPM header has no {tag} tag")]
    MissingTag { path: PathBuf, tag: &'static str },
    /// The file differs from what its own digests record (`rpm -K`: DIGESTS
    /// NOT OK): damaged, truncated or extended.
    #[error("{path}: {}", BadDigestsText::new(.failed, .file_size, .recorded_size))]
    BadDigests {
        path: PathBuf,
        /// Every digest that differs, in `rpm -Kv`'s order.
        failed: Vec<DigestMismatch>,
        file_size: u64,
        /// The file size the signature header's SIZE/LONGSIZE implies.
        recorded_size: Option<u64>,
    },
}

const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// rpm's own limits (HEADER_TAGS_MAX, HEADER_DATA_MAX).
const MAX_INDEX_ENTRIES: usize = 0xffff;
const MAX_DATA_SIZE: usize = 0x0fff_ffff;

mod tag {
    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    pub const EPOCH: u32 = 1003;
    pub const SUMMARY: u32 = 1004;
    pub const DESCRIPTION: u32 = 1005;
    pub const BUILDTIME: u32 = 1006;
    pub const BUILDHOST: u32 = 1007;
    pub const SIZE: u32 = 1009;
    pub const VENDOR: u32 = 1011;
    pub const LICENSE: u32 = 1014;
    pub const PACKAGER: u32 = 1015;
    pub const GROUP: u32 = 1016;
    pub const URL: u32 = 1020;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILEMODES: u32 = 1030;
    pub const FILEFLAGS: u32 = 1037;
    pub const SOURCERPM: u32 = 1044;
    pub const ARCHIVESIZE: u32 = 1046;
    pub const PROVIDENAME: u32 = 1047;
    pub const REQUIREFLAGS: u32 = 1048;
    pub const REQUIRENAME: u32 = 1049;
    pub const REQUIREVERSION: u32 = 1050;
    pub const CONFLICTFLAGS: u32 = 1053;
    pub const CONFLICTNAME: u32 = 1054;
    pub const CONFLICTVERSION: u32 = 1055;
    pub const CHANGELOGTIME: u32 = 1080;
    pub const CHANGELOGNAME: u32 = 1081;
    pub const CHANGELOGTEXT: u32 = 1082;
    pub const OBSOLETENAME: u32 = 1090;
    pub const SOURCEPACKAGE: u32 = 1106;
    pub const PROVIDEFLAGS: u32 = 1112;
    pub const PROVIDEVERSION: u32 = 1113;
    pub const OBSOLETEFLAGS: u32 = 1114;
    pub const OBSOLETEVERSION: u32 = 1115;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const LONGSIZE: u32 = 5009;
    pub const RECOMMENDNAME: u32 = 5046;
    pub const RECOMMENDVERSION: u32 = 5047;
    pub const RECOMMENDFLAGS: u32 = 5048;
    pub const SUGGESTNAME: u32 = 5049;
    pub const SUGGESTVERSION: u32 = 5050;
    pub const SUGGESTFLAGS: u32 = 5051;
    pub const SUPPLEMENTNAME: u32 = 5052;
    pub const SUPPLEMENTVERSION: u32 = 5053;
    pub const SUPPLEMENTFLAGS: u32 = 5054;
    pub const ENHANCENAME: u32 = 5055;
    pub const ENHANCEVERSION: u32 = 5056;
    pub const ENHANCEFLAGS: u32 = 5057;
    pub const PAYLOADDIGEST: u32 = 5092;
    pub const PAYLOADDIGESTALGO: u32 = 5093;
    // signature header
    pub const SIG_SHA1: u32 = 269;
    pub const SIG_LONGSIZE: u32 = 270;
    pub const SIG_LONGARCHIVESIZE: u32 = 271;
    pub const SIG_SHA256: u32 = 273;
    pub const SIG_SIZE: u32 = 1000;
    pub const SIG_MD5: u32 = 1004;
    pub const SIG_PAYLOADSIZE: u32 = 1007;
}

mod kind {
    pub const INT8: u32 = 2;
    pub const INT16: u32 = 3;
    pub const INT32: u32 = 4;
    pub const INT64: u32 = 5;
    pub const STRING: u32 = 6;
    pub const BIN: u32 = 7;
    pub const STRING_ARRAY: u32 = 8;
    pub const I18NSTRING: u32 = 9;
}

const RPMFILE_GHOST: u32 = 1 << 6;
const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One header structure (signature or main), borrowed from the file bytes.
struct Header<'a> {
    index: &'a [u8],
    store: &'a [u8],
    /// Are the index entries in ascending tag order (as rpm writes them)?
    /// Then a tag is found by bisection, else by a walk over them all.
    sorted: bool,
}

#[derive(Clone, Copy)]
struct Entry {
    kind: u32,
    offset: usize,
    count: usize,
}

impl<'a> Header<'a> {
    /// Parse the header at `at`; returns it and the offset just past its store.
    fn parse(
        data: &'a [u8],
        at: usize,
        part: &'static str,
        path: &Path,
    ) -> Result<(Self, usize), RpmError> {
        let truncated = || RpmError::Truncated {
            path: path.to_owned(),
            part,
        };
        let intro = data.get(at..at + 16).ok_or_else(truncated)?;
        if intro[..4] != HEADER_MAGIC {
            return Err(RpmError::Corrupt {
                path: path.to_owned(),
                part,
                reason: "bad header magic".into(),
            });
        }
        let nindex = be32(intro, 8) as usize;
        let hsize = be32(intro, 12) as usize;
        if nindex == 0 || nindex > MAX_INDEX_ENTRIES || hsize > MAX_DATA_SIZE {
            return Err(RpmError::Corrupt {
                path: path.to_owned(),
                part,
                reason: format!(
                    "implausible header size ({nindex} entries, {hsize} bytes of data)"
                ),
            });
        }
        let index_start = at + 16;
        let store_start = index_start + 16 * nindex;
        let end = store_start + hsize;
        let index = data.get(index_start..store_start).ok_or_else(truncated)?;
        let store = data.get(store_start..end).ok_or_else(truncated)?;
        let tags = || index.chunks_exact(16).map(|e| be32(e, 0));
        let sorted = tags().zip(tags().skip(1)).all(|(a, b)| a < b);
        Ok((
            Header {
                index,
                store,
                sorted,
            },
            end,
        ))
    }

    /// An index entry's 16 bytes: its tag and where its data lies.
    fn entry(e: &[u8]) -> (u32, Entry) {
        (
            be32(e, 0),
            Entry {
                kind: be32(e, 4),
                offset: be32(e, 8) as usize,
                count: be32(e, 12) as usize,
            },
        )
    }

    fn entries(&self) -> impl Iterator<Item = (u32, Entry)> + '_ {
        self.index.chunks_exact(16).map(Self::entry)
    }

    fn find(&self, tag: u32) -> Option<Entry> {
        if !self.sorted {
            return self.entries().find(|(t, _)| *t == tag).map(|(_, e)| e);
        }
        // each header is asked for some 40 tags: bisect its entries
        let (mut lo, mut hi) = (0, self.index.len() / 16);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (t, e) = Self::entry(&self.index[16 * mid..16 * mid + 16]);
            match t.cmp(&tag) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(e),
            }
        }
        None
    }

    /// NUL-terminated strings starting at the entry's offset (`count` of them).
    fn strings(&self, tag: u32) -> Option<Vec<&'a [u8]>> {
        let e = self.find(tag)?;
        if !matches!(e.kind, kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING) {
            return None;
        }
        let mut rest = self.store.get(e.offset..)?;
        let count = if e.kind == kind::STRING { 1 } else { e.count };
        // Cap the allocation by what the store can hold (one NUL per string).
        let mut out = Vec::with_capacity(count.min(rest.len()));
        for _ in 0..count {
            let nul = rest.iter().position(|&c| c == 0)?;
            out.push(&rest[..nul]);
            rest = &rest[nul + 1..];
        }
        Some(out)
    }

    fn string(&self, tag: u32) -> Option<&'a [u8]> {
        // the first of the entry's strings, without listing the others
        let e = self.find(tag)?;
        let listed = e.kind == kind::STRING || e.count > 0;
        if !matches!(e.kind, kind::STRING | kind::STRING_ARRAY | kind::I18NSTRING) || !listed {
            return None;
        }
        let rest = self.store.get(e.offset..)?;
        let nul = rest.iter().position(|&c| c == 0)?;
        Some(&rest[..nul])
    }

    /// Integer array of any integer kind, widened to u64.
    fn numbers(&self, tag: u32) -> Option<Vec<u64>> {
        let e = self.find(tag)?;
        let width = match e.kind {
            kind::INT8 => 1,
            kind::INT16 => 2,
            kind::INT32 => 4,
            kind::INT64 => 8,
            _ => return None,
        };
        let bytes = self
            .store
            .get(e.offset..e.offset.checked_add(e.count.checked_mul(width)?)?)?;
        Some(
            bytes
                .chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
                .collect(),
        )
    }

    fn number(&self, tag: u32) -> Option<u64> {
        self.numbers(tag).and_then(|v| v.first().copied())
    }

    fn bin(&self, tag: u32) -> Option<&'a [u8]> {
        let e = self.find(tag)?;
        if e.kind != kind::BIN {
            return None;
        }
        self.store.get(e.offset..e.offset.checked_add(e.count)?)
    }
}

/// Bytes from a header as text the way createrepo_c writes them: UTF-8 as is,
/// anything else read as Latin-1 with the C1 range (and 0xA0–0xBF) dropped;
/// control characters other than tab, newline and carriage return never reach
/// the XML.
pub fn header_text(bytes: &[u8]) -> Cow<'_, str> {
    let clean = |c: char| !(c < ' ' && c != '\t' && c != '\n' && c != '\r');
    // a control character is one byte below 0x20 (every byte of a longer
    // UTF-8 sequence is 0x80 or above), so the bytes tell
    let clean_byte = |b: u8| b >= b' ' || b == b'\t' || b == b'\n' || b == b'\r';
    match std::str::from_utf8(bytes) {
        Ok(s) if s.bytes().all(clean_byte) => Cow::Borrowed(s),
        Ok(s) => Cow::Owned(s.chars().filter(|&c| clean(c)).collect()),
        Err(_) => Cow::Owned(
            bytes
                .iter()
                .filter(|&&b| !(0x80..=0xbf).contains(&b))
                .map(|&b| b as char)
                .filter(|&c| clean(c))
                .collect(),
        ),
    }
}

fn text(h: &Header<'_>, tag: u32) -> String {
    h.string(tag)
        .map(|b| header_text(b).into_owned())
        .unwrap_or_default()
}

/// How many bytes the lead and both headers of an RPM take, as far as its
/// first bytes `data` tell: the end of the main header once `data` holds
/// its intro, else the end of the next intro still missing. A reader of
/// headers reads a guess, then at most two exact amounts more.
pub(crate) fn headers_len(data: &[u8]) -> usize {
    let end_of = |at: usize| -> Option<usize> {
        let intro = data.get(at..at + 16)?;
        let (nindex, hsize) = (be32(intro, 8) as usize, be32(intro, 12) as usize);
        Some(at + 16 + 16 * nindex + hsize)
    };
    match end_of(LEAD_SIZE) {
        None => LEAD_SIZE + 16,
        Some(sig_end) => {
            let start = sig_end.div_ceil(8) * 8;
            end_of(start).unwrap_or(start + 16)
        }
    }
}

/// Parse the lead and both headers of an RPM whose bytes (at least up to the end
/// of the main header) are `data`: the record, with `checksum`, `file_size` and
/// `file_mtime` left empty for the caller to fill in, and the digests the
/// package records for itself. Without `texts`, the changelogs and the
/// description (which only a package going into repodata needs) are left
/// empty.
pub(crate) fn parse_headers(
    data: &[u8],
    path: &Path,
    texts: bool,
) -> Result<(PackageMeta, Expected), RpmError> {
    if data.len() < 4 || data[..4] != LEAD_MAGIC {
        return Err(RpmError::NotAnRpm {
            path: path.to_owned(),
        });
    }
    if data.len() < LEAD_SIZE {
        return Err(RpmError::Truncated {
            path: path.to_owned(),
            part: "lead",
        });
    }
    let lead_is_source = data[6..8] == [0, 1];

    let (sig, sig_end) = Header::parse(data, LEAD_SIZE, "signature header", path)?;
    let header_start = sig_end.div_ceil(8) * 8;
    let (h, header_end) = Header::parse(data, header_start, "header", path)?;

    let missing = |tag: &'static str| RpmError::MissingTag {
        path: path.to_owned(),
        tag,
    };
    let name = h.string(tag::NAME).ok_or_else(|| missing("NAME"))?;
    let version = h.string(tag::VERSION).ok_or_else(|| missing("VERSION"))?;
    let release = h.string(tag::RELEASE).ok_or_else(|| missing("RELEASE"))?;
    let is_source = h.find(tag::SOURCEPACKAGE).is_some()
        || (lead_is_source && h.find(tag::SOURCERPM).is_none());
    let arch = if is_source {
        "src".to_owned()
    } else {
        header_text(h.string(tag::ARCH).ok_or_else(|| missing("ARCH"))?).into_owned()
    };

    let files = read_files(&h);

    let deps = |n, f, v| read_deps(&h, n, f, v, path);
    let provides = deps(tag::PROVIDENAME, tag::PROVIDEFLAGS, tag::PROVIDEVERSION);
    let (requires, legacy_recommends) = filter_requires(
        deps(tag::REQUIRENAME, tag::REQUIREFLAGS, tag::REQUIREVERSION),
        &provides,
        &files,
    );
    let mut recommends = deps(
        tag::RECOMMENDNAME,
        tag::RECOMMENDFLAGS,
        tag::RECOMMENDVERSION,
    );
    recommends.extend(legacy_recommends);

    let archive_size = h
        .number(tag::ARCHIVESIZE)
        .or_else(|| sig.number(tag::SIG_PAYLOADSIZE))
        .or_else(|| sig.number(tag::SIG_LONGARCHIVESIZE))
        .or_else(|| h.number(tag::SIG_LONGARCHIVESIZE))
        .unwrap_or(0);

    let hex_text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_ascii_lowercase();
    let payload_digest = h
        .strings(tag::PAYLOADDIGEST)
        .and_then(|v| v.first().map(|d| hex_text(d)));
    // rpm writes the algorithm beside the digest; without it, rpm's default
    let payload_algo = h.number(tag::PAYLOADDIGESTALGO).unwrap_or(8);
    let expected = Expected {
        header_sha1: sig.string(tag::SIG_SHA1).map(hex_text),
        header_sha256: sig.string(tag::SIG_SHA256).map(hex_text),
        md5: sig.bin(tag::SIG_MD5).map(hex::encode),
        payload: payload_digest
            .clone()
            .and_then(|d| Some((HashAlgo::from_pgp(payload_algo)?, d))),
        payload_algo_unknown: payload_digest
            .filter(|_| HashAlgo::from_pgp(payload_algo).is_none())
            .map(|_| payload_algo),
        signed_size: sig
            .number(tag::SIG_LONGSIZE)
            .or_else(|| sig.number(tag::SIG_SIZE)),
    };

    let meta = PackageMeta {
        name: header_text(name).into_owned(),
        epoch: h.number(tag::EPOCH),
        version: header_text(version).into_owned(),
        release: header_text(release).into_owned(),
        arch,
        is_source,
        checksum: String::new(),
        header_digest: String::new(),
        sigmd5: sig.bin(tag::SIG_MD5).map(hex::encode),
        summary: text(&h, tag::SUMMARY),
        description: match texts {
            true => text(&h, tag::DESCRIPTION),
            false => String::new(),
        },
        packager: text(&h, tag::PACKAGER),
        url: text(&h, tag::URL),
        build_time: h.number(tag::BUILDTIME).unwrap_or(0),
        file_size: 0,
        file_mtime: 0,
        installed_size: h
            .number(tag::LONGSIZE)
            .or_else(|| h.number(tag::SIZE))
            .unwrap_or(0),
        archive_size,
        license: text(&h, tag::LICENSE),
        vendor: text(&h, tag::VENDOR),
        group: text(&h, tag::GROUP),
        buildhost: text(&h, tag::BUILDHOST),
        sourcerpm: if is_source {
            String::new()
        } else {
            text(&h, tag::SOURCERPM)
        },
        header_start: header_start as u64,
        header_end: header_end as u64,
        conflicts: deps(tag::CONFLICTNAME, tag::CONFLICTFLAGS, tag::CONFLICTVERSION),
        obsoletes: deps(tag::OBSOLETENAME, tag::OBSOLETEFLAGS, tag::OBSOLETEVERSION),
        suggests: deps(tag::SUGGESTNAME, tag::SUGGESTFLAGS, tag::SUGGESTVERSION),
        supplements: deps(
            tag::SUPPLEMENTNAME,
            tag::SUPPLEMENTFLAGS,
            tag::SUPPLEMENTVERSION,
        ),
        enhances: deps(tag::ENHANCENAME, tag::ENHANCEFLAGS, tag::ENHANCEVERSION),
        provides,
        requires,
        recommends,
        changelogs: match texts {
            true => read_changelogs(&h),
            false => Vec::new(),
        },
        files,
    };
    Ok((meta, expected))
}

fn read_files(h: &Header<'_>) -> FileList {
    let modes = h.numbers(tag::FILEMODES).unwrap_or_default();
    let flags = h.numbers(tag::FILEFLAGS).unwrap_or_default();
    let kind = |i: usize| {
        let mode = modes.get(i).copied().unwrap_or(0) as u16;
        let flag = flags.get(i).copied().unwrap_or(0) as u32;
        if mode & S_IFMT == S_IFDIR {
            FileKind::Dir
        } else if flag & RPMFILE_GHOST != 0 {
            FileKind::Ghost
        } else {
            FileKind::File
        }
    };
    match (
        h.strings(tag::BASENAMES),
        h.strings(tag::DIRNAMES),
        h.numbers(tag::DIRINDEXES),
    ) {
        (Some(base), Some(dirs), Some(idx)) => {
            // each directory made text once, not once per file in it
            let dirs: Vec<Cow<'_, str>> = dirs.iter().map(|d| header_text(d)).collect();
            let bytes = base.iter().map(|b| b.len()).sum::<usize>()
                + idx
                    .iter()
                    .map(|&i| dirs.get(i as usize).map_or(0, |d| d.len()))
                    .sum::<usize>();
            let mut files = FileList::with_capacity(base.len(), bytes);
            for (i, (b, &d)) in base.iter().zip(idx.iter()).enumerate() {
                let dir = dirs.get(d as usize).map_or("", |d| d);
                files.push_joined(dir, &header_text(b), kind(i));
            }
            files
        }
        _ => {
            let paths = h.strings(tag::OLDFILENAMES).unwrap_or_default();
            let mut files =
                FileList::with_capacity(paths.len(), paths.iter().map(|p| p.len()).sum());
            for (i, p) in paths.iter().enumerate() {
                files.push(&header_text(p), kind(i));
            }
            files
        }
    }
}

fn read_deps(
    h: &Header<'_>,
    name_tag: u32,
    flags_tag: u32,
    version_tag: u32,
    path: &Path,
) -> Vec<Dependency> {
    let Some(names) = h.strings(name_tag) else {
        return Vec::new();
    };
    let flags = h.numbers(flags_tag).unwrap_or_default();
    let versions = h.strings(version_tag).unwrap_or_default();
    names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let dep = Dependency::new(
                header_text(n),
                flags.get(i).copied().unwrap_or(0) as u32,
                versions.get(i).map(|v| header_text(v)).unwrap_or_default(),
            );
            if !dep.version.is_empty() && !Evr::parses(&dep.version) {
                tracing::warn!(
                    rpm.path = %path.display(),
                    "{}: dropping dependency {} {}: epoch is not a number",
                    path.display(),
                    dep.name,
                    dep.version
                );
                return None;
            }
            Some(dep)
        })
        .collect()
}

/// createrepo_c's requires filtering: drop `rpmlib()`, requires of the package's
/// own primary files, requires the package itself provides exactly, repeats of
/// the previous require of that name, and every `libc.so.6` require but the
/// highest-versioned one (which goes last). MISSINGOK requires become recommends
/// (Debian's createrepo_c is built with legacy weak deps).
fn filter_requires(
    requires: Vec<Dependency>,
    provides: &[Dependency],
    files: &FileList,
) -> (Vec<Dependency>, Vec<Dependency>) {
    /// What becomes of one require.
    #[derive(Clone, Copy, PartialEq)]
    enum Fate {
        Dropped,
        Kept,
        Recommended,
        /// the highest `libc.so.6` require seen so far (the last one so
        /// marked goes last)
        Libc,
    }
    // createrepo_c 0.17 drops a require only when a provide matches it exactly
    // (name, comparison and version): `Requires: foo` stays beside `Provides: foo = 3`
    let provided: FastSet<(&str, Option<&str>, &str)> = provides
        .iter()
        .map(|p| (p.name.as_str(), p.flags_word(), p.version.as_str()))
        .collect();
    // decided over borrowed requires first (every header of a tag goes
    // through here: no name or version is copied), then moved out
    let mut last_seen: FastMap<&str, (Option<&str>, &str, bool)> = FastMap::default();
    let mut libc: Option<usize> = None;
    let mut fates = Vec::with_capacity(requires.len());
    for (i, dep) in requires.iter().enumerate() {
        let name = dep.name.as_str();
        let fate = if name.starts_with("rpmlib(")
            || (is_primary_file(name) && files.iter().any(|f| f.path == name))
            || provided.contains(&(name, dep.flags_word(), dep.version.as_str()))
        {
            Fate::Dropped
        } else if dep.flags & sense::MISSINGOK != 0 {
            Fate::Recommended
        } else {
            let key = (dep.flags_word(), dep.version.as_str(), dep.is_pre());
            if last_seen.get(name) == Some(&key) {
                Fate::Dropped
            } else if name.starts_with("libc.so.6") {
                match libc {
                    Some(best)
                        if compare_libc(&requires[best].name, name) != std::cmp::Ordering::Less => {
                    }
                    _ => libc = Some(i),
                }
                Fate::Libc
            } else {
                last_seen.insert(name, key);
                Fate::Kept
            }
        };
        fates.push(fate);
    }
    let mut out = Vec::with_capacity(requires.len());
    let mut recommends = Vec::new();
    let mut best_libc = None;
    for (i, (dep, fate)) in requires.into_iter().zip(fates).enumerate() {
        match fate {
            Fate::Kept => out.push(dep),
            Fate::Recommended => recommends.push(dep),
            Fate::Libc if libc == Some(i) => best_libc = Some(dep),
            Fate::Libc | Fate::Dropped => {}
        }
    }
    out.extend(best_libc);
    (out, recommends)
}

/// Order `libc.so.6(GLIBC_2.x)...` requires by the version in their first
/// parentheses: `libc.so.6 < libc.so.6() < libc.so.6(GLIBC_2.3.4)(64bit) < libc.so.6(GLIBC_2.4)`.
fn compare_libc(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    fn inner(s: &str) -> Option<Option<&str>> {
        let open = s.find('(')?;
        let close = open + s[open..].find(')')?;
        let body = &s[open + 1..close];
        Some(body.find(|c: char| c.is_ascii_digit()).map(|i| &body[i..]))
    }
    match (inner(a), inner(b)) {
        (None, None) => Equal,
        (None, _) => Less,
        (_, None) => Greater,
        (Some(None), Some(None)) => Equal,
        (Some(None), _) => Less,
        (_, Some(None)) => Greater,
        (Some(Some(x)), Some(Some(y))) => super::evr::rpmvercmp(x, y),
    }
}

/// All changelog entries in header order (newest first), authors with trailing
/// spaces removed.
fn read_changelogs(h: &Header<'_>) -> Vec<Changelog> {
    let (Some(times), Some(names), Some(texts)) = (
        h.numbers(tag::CHANGELOGTIME),
        h.strings(tag::CHANGELOGNAME),
        h.strings(tag::CHANGELOGTEXT),
    ) else {
        return Vec::new();
    };
    times
        .iter()
        .zip(names.iter())
        .zip(texts.iter())
        .map(|((&date, author), text)| Changelog {
            author: header_text(author).trim_end_matches(' ').to_owned(),
            date,
            text: header_text(text).into_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of INT32 entries, one per tag, each holding its tag + 1.
    fn header_of(tags: &[u32]) -> Vec<u8> {
        let mut out = HEADER_MAGIC.to_vec();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(tags.len() as u32).to_be_bytes());
        out.extend_from_slice(&(4 * tags.len() as u32).to_be_bytes());
        for (i, t) in tags.iter().enumerate() {
            for word in [*t, kind::INT32, 4 * i as u32, 1] {
                out.extend_from_slice(&word.to_be_bytes());
            }
        }
        for t in tags {
            out.extend_from_slice(&(t + 1).to_be_bytes());
        }
        out
    }

    #[test]
    fn tags_are_found_in_sorted_and_unsorted_headers() {
        for (tags, sorted) in [
            (vec![1000, 1001, 1002, 1004, 1005], true),
            (vec![1000, 1002, 1001, 1005, 1004], false),
            (vec![1004], true),
        ] {
            let data = header_of(&tags);
            let (h, end) = Header::parse(&data, 0, "header", Path::new("t.rpm")).unwrap();
            assert_eq!(end, data.len());
            assert_eq!(h.sorted, sorted, "{tags:?}");
            for t in &tags {
                assert_eq!(h.number(*t), Some(u64::from(t + 1)), "tag {t} of {tags:?}");
            }
            for missing in [999, 1003, 1006] {
                assert!(h.find(missing).is_none(), "tag {missing} of {tags:?}");
            }
        }
    }

    #[test]
    fn libc_requires_order_by_glibc_version() {
        use std::cmp::Ordering::*;
        assert_eq!(
            compare_libc("libc.so.6(GLIBC_2.4)", "libc.so.6(GLIBC_2.14)"),
            Less
        );
        assert_eq!(
            compare_libc(
                "libc.so.6(GLIBC_2.3.4)(64bit)",
                "libc.so.6(GLIBC_2.4)(64bit)"
            ),
            Less
        );
        assert_eq!(compare_libc("libc.so.6", "libc.so.6()"), Less);
        assert_eq!(
            compare_libc("libc.so.6()(64bit)", "libc.so.6(GLIBC_2.2.5)(64bit)"),
            Less
        );
    }

    #[test]
    fn requires_filter_keeps_highest_libc_last_and_drops_self_satisfied() {
        let d = |n: &str| Dependency::new(n, 0, "");
        let reqs = vec![
            d("libc.so.6(GLIBC_2.4)(64bit)"),
            Dependency::new(
                "rpmlib(PayloadIsZstd)",
                sense::RPMLIB | sense::LESS | sense::EQUAL,
                "5.4.18-1",
            ),
            d("/etc/foo.conf"),
            d("/usr/share/foo/data"),
            d("bar"),
            d("libc.so.6(GLIBC_2.14)(64bit)"),
            d("bar"),
            Dependency::new("/bin/sh", sense::SCRIPT_PRE, ""),
            d("/bin/sh"),
            Dependency::new("selfprov", sense::EQUAL, "1.0"),
            d("virt"),
            d("libc.so.6(GLIBC_2.2.5)(64bit)"),
        ];
        let provides = vec![
            Dependency::new("selfprov", sense::EQUAL, "1.0"),
            Dependency::new("virt", sense::EQUAL, "3"),
        ];
        let mut own = FileList::new();
        for path in ["/etc/foo.conf", "/usr/share/foo/data"] {
            own.push(path, FileKind::File);
        }
        let (out, rec) = filter_requires(reqs, &provides, &own);
        let names: Vec<_> = out.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/usr/share/foo/data",
                "bar",
                "/bin/sh",
                "/bin/sh",
                "virt",
                "libc.so.6(GLIBC_2.14)(64bit)"
            ]
        );
        assert!(rec.is_empty());
    }

    /// A header-only read reads a guess, then exactly to the end of the
    /// headers: small and large headers (a long file list and changelog)
    /// give the records a whole read gives, minus what only a whole read
    /// fills in.
    #[test]
    fn header_reads_stop_at_the_end_of_headers_of_any_size() {
        use crate::rpm::build::{FileContent, PackageSpec};
        let tmp = tempfile::tempdir().unwrap();
        let mut small = PackageSpec::parse("small-1.0-1.x86_64").unwrap();
        small.files = vec![("/usr/bin/small".into(), FileContent::Regular(b"x".to_vec()))];
        let mut large = PackageSpec::parse("large-2:3.1-4.noarch").unwrap();
        large.files = (0..2000)
            .map(|i| {
                (
                    format!("/usr/share/large/some/deep/directory/file-number-{i}.txt"),
                    FileContent::Regular(vec![b'y'; 10]),
                )
            })
            .collect();
        large.changelog = (0..200)
            .map(|i| {
                (
                    format!("Someone <s@example.com> - 3.1-{i}"),
                    "- a change ".repeat(20),
                    1_700_000_000 + i,
                )
            })
            .collect();
        for spec in [small, large] {
            let path = spec.write_to(tmp.path()).unwrap();
            let whole = crate::rpm::read_package(&path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            // the exact length is known once both intros are in hand
            let end = whole.header_end as usize;
            assert_eq!(headers_len(&bytes[..end]), end);
            assert_eq!(headers_len(&bytes), end);
            assert!(headers_len(&bytes[..100]) <= end);
            let head = crate::rpm::read_package_header(&path).unwrap();
            assert_eq!(head.header_digest, whole.header_digest, "{}", spec.name);
            assert_eq!(head.files, whole.files);
            assert_eq!(head.requires, whole.requires);
            assert_eq!(
                (head.header_start, head.header_end),
                (whole.header_start, whole.header_end)
            );
            assert!(head.checksum.is_empty() && head.changelogs.is_empty());
        }
        // the large one's headers are well past the first read
        let large = tmp
            .path()
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("large"))
            .unwrap();
        assert!(crate::rpm::read_package(&large).unwrap().header_end > 64 * 1024);
    }

    #[test]
    fn latin1_text_is_converted_and_controls_dropped() {
        assert_eq!(header_text(b"caf\xe9"), "café");
        assert_eq!(header_text(b"a\x01b\tc"), "ab\tc");
        assert_eq!(header_text("ünïcode".as_bytes()), "ünïcode");
    }

    #[test]
    fn garbage_after_a_valid_lead_is_an_error_not_a_panic() {
        let path = Path::new("x.rpm");
        let mut data = vec![0u8; 200];
        data[..4].copy_from_slice(&LEAD_MAGIC);
        assert!(matches!(
            parse_headers(&data, path, true),
            Err(RpmError::Corrupt { .. })
        ));
        data[96..100].copy_from_slice(&HEADER_MAGIC);
        data[104..108].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            parse_headers(&data, path, true),
            Err(RpmError::Truncated { .. })
        ));
        assert!(matches!(
            parse_headers(b"hello", path, true),
            Err(RpmError::NotAnRpm { .. })
        ));
    }
}
