//! An RPM's own digests — what `rpm -K` checks — verified in the one
//! sequential read that also hashes the whole file for repodata.
//!
//! What each digest covers (rpm's `signatures_digests.md`, tag numbers from its
//! `tags.md`, both checked against `rpm -Kv` 4.18):
//!
//! | `rpm -Kv` calls it | tag | in | covers |
//! |---|---|---|---|
//! | Header SHA1 digest | `RPMSIGTAG_SHA1` 269, hex string | signature header | main header |
//! | Header SHA256 digest | `RPMSIGTAG_SHA256` 273, hex string | signature header | main header |
//! | MD5 digest | `RPMSIGTAG_MD5` 1004, 16 bytes | signature header | main header and payload |
//! | Payload SHA256 digest | `RPMTAG_PAYLOADDIGEST` 5092 (hex, string array), algorithm `RPMTAG_PAYLOADDIGESTALGO` 5093 (OpenPGP number: 8 SHA256, 2 SHA1, ...; rpm writes the two together, and a digest without its algorithm is taken as SHA256, rpm's default) | main header | the payload as stored (compressed) |
//!
//! Not checked: `RPMTAG_PAYLOADDIGESTALT` 5097, the digest of the
//! *uncompressed* payload (it would need decompressing; rpm takes it as an
//! alternative to 5092, which we check), and the OpenPGP signatures (checking
//! them needs the signers' keys; which key signed a copy is Koji's business,
//! and its checksums are compared separately). The signature header's size
//! (`RPMSIGTAG_SIZE` 1000 / `LONGSIZE` 270, header plus payload) is not a
//! verdict, as it is not one for rpm; it only explains a failure ("truncated",
//! "bytes appended").
//!
//! **One read.** [`Hashing`] is made once the headers have been parsed from the
//! first block(s) read, so the byte ranges (and the expected values) are known
//! before the first byte is hashed. The reader then hands it every block in
//! file order: the whole block goes into the file's sha256 (the package id in
//! repodata), the part of it inside the main header into the header digests and
//! MD5, the part after the main header into the payload digest and MD5. Nothing
//! is read twice and nothing is kept beyond the block being hashed. A payload
//! digest in an algorithm we do not have (not MD5, SHA1 or SHA2) is not
//! checked; MD5, when present, still covers the payload.
//!
//! **Verdict.** Every digest the package carries must match; a package with a
//! mismatch is refused, naming the file and each digest as `rpm -Kv` names it
//! (tests/bad_input.rs compares our verdict with rpm's on good, truncated,
//! payload-damaged, header-damaged and extended files). A package that carries
//! no digest for its header or its payload (stripped, or built by something
//! that wrote none) is still read, with a warning saying what is unchecked:
//! `rpm -K` says NOT OK for it, and rpm at its default `%_pkgverify_level
//! digest` refuses to install it ("does not verify: no digest").

use std::fmt;
use std::ops::Range;
use std::path::Path;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::header::RpmError;

/// A hash algorithm by its OpenPGP number, as rpm's `*DIGESTALGO` tags give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgo {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgo {
    /// The algorithm for an OpenPGP hash number (RFC 4880 §9.4), if we have it.
    pub fn from_pgp(n: u64) -> Option<HashAlgo> {
        Some(match n {
            1 => HashAlgo::Md5,
            2 => HashAlgo::Sha1,
            8 => HashAlgo::Sha256,
            9 => HashAlgo::Sha384,
            10 => HashAlgo::Sha512,
            11 => HashAlgo::Sha224,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Md5 => "MD5",
            HashAlgo::Sha1 => "SHA1",
            HashAlgo::Sha224 => "SHA224",
            HashAlgo::Sha256 => "SHA256",
            HashAlgo::Sha384 => "SHA384",
            HashAlgo::Sha512 => "SHA512",
        }
    }
}

/// One of the digests `rpm -K` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestKind {
    HeaderSha1,
    HeaderSha256,
    Md5,
    Payload(HashAlgo),
}

impl fmt::Display for DigestKind {
    /// The name `rpm -Kv` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestKind::HeaderSha1 => f.write_str("Header SHA1 digest"),
            DigestKind::HeaderSha256 => f.write_str("Header SHA256 digest"),
            DigestKind::Md5 => f.write_str("MD5 digest"),
            DigestKind::Payload(a) => write!(f, "Payload {} digest", a.name()),
        }
    }
}

/// A digest whose recorded value differs from the file's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestMismatch {
    pub digest: DigestKind,
    /// As the package records it (hex).
    pub expected: String,
    /// As computed from the file (hex).
    pub actual: String,
}

/// The digests a package records, in lowercase hex, from its headers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expected {
    pub header_sha1: Option<String>,
    pub header_sha256: Option<String>,
    pub md5: Option<String>,
    pub payload: Option<(HashAlgo, String)>,
    /// A payload digest in an algorithm we do not have (its OpenPGP number).
    pub payload_algo_unknown: Option<u64>,
    /// Main header plus payload, as the signature header records it.
    pub signed_size: Option<u64>,
}

enum AnyHash {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl AnyHash {
    fn new(algo: HashAlgo) -> AnyHash {
        match algo {
            HashAlgo::Md5 => AnyHash::Md5(Md5::new()),
            HashAlgo::Sha1 => AnyHash::Sha1(Sha1::new()),
            HashAlgo::Sha224 => AnyHash::Sha224(Sha224::new()),
            HashAlgo::Sha256 => AnyHash::Sha256(Sha256::new()),
            HashAlgo::Sha384 => AnyHash::Sha384(Sha384::new()),
            HashAlgo::Sha512 => AnyHash::Sha512(Sha512::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            AnyHash::Md5(h) => h.update(bytes),
            AnyHash::Sha1(h) => h.update(bytes),
            AnyHash::Sha224(h) => h.update(bytes),
            AnyHash::Sha256(h) => h.update(bytes),
            AnyHash::Sha384(h) => h.update(bytes),
            AnyHash::Sha512(h) => h.update(bytes),
        }
    }

    fn hex(self) -> String {
        match self {
            AnyHash::Md5(h) => hex::encode(h.finalize()),
            AnyHash::Sha1(h) => hex::encode(h.finalize()),
            AnyHash::Sha224(h) => hex::encode(h.finalize()),
            AnyHash::Sha256(h) => hex::encode(h.finalize()),
            AnyHash::Sha384(h) => hex::encode(h.finalize()),
            AnyHash::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// Every hash of one package, fed its bytes once, in file order.
pub(crate) struct Hashing {
    file: Sha256,
    /// Bytes seen so far.
    at: u64,
    header: Range<u64>,
    header_sha1: Option<Sha1>,
    /// Always computed: the main header's sha256 identifies what a record
    /// holds ([`crate::rpm::PackageMeta::header_digest`]).
    header_sha256: Sha256,
    md5: Option<Md5>,
    payload: Option<AnyHash>,
}

impl Hashing {
    /// Hashers for the digests `expected` records, the main header lying at
    /// `header` in the file.
    pub fn new(expected: &Expected, header: Range<u64>) -> Hashing {
        Hashing {
            file: Sha256::new(),
            at: 0,
            header,
            header_sha1: expected.header_sha1.as_ref().map(|_| Sha1::new()),
            header_sha256: Sha256::new(),
            md5: expected.md5.as_ref().map(|_| Md5::new()),
            payload: expected.payload.as_ref().map(|(a, _)| AnyHash::new(*a)),
        }
    }

    /// The next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        self.file.update(bytes);
        let start = self.at;
        self.at += bytes.len() as u64;
        // the part of `bytes` inside [from, to) of the file
        let part = |from: u64, to: u64| {
            let a = from.clamp(start, self.at) - start;
            let b = to.clamp(start, self.at) - start;
            &bytes[a as usize..b as usize]
        };
        let header = part(self.header.start, self.header.end);
        if !header.is_empty() {
            if let Some(h) = &mut self.header_sha1 {
                h.update(header);
            }
            self.header_sha256.update(header);
        }
        if let Some(h) = &mut self.md5 {
            h.update(part(self.header.start, u64::MAX));
        }
        if let Some(h) = &mut self.payload {
            h.update(part(self.header.end, u64::MAX));
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.at
    }

    /// Compare with what the package records: the hex sha256 of the whole
    /// file and of the main header, or the error naming every digest that
    /// differs.
    pub fn finish(self, path: &Path, expected: &Expected) -> Result<(String, String), RpmError> {
        self.verdict(path, expected)
    }

    fn verdict(self, path: &Path, expected: &Expected) -> Result<(String, String), RpmError> {
        let mut failed = Vec::new();
        let mut check = |digest: DigestKind, want: &Option<String>, got: Option<String>| {
            if let (Some(want), Some(got)) = (want, got)
                && !want.eq_ignore_ascii_case(&got)
            {
                failed.push(DigestMismatch {
                    digest,
                    expected: want.clone(),
                    actual: got,
                });
            }
        };
        let header_digest = hex::encode(self.header_sha256.finalize());
        check(
            DigestKind::HeaderSha256,
            &expected.header_sha256,
            Some(header_digest.clone()),
        );
        check(
            DigestKind::HeaderSha1,
            &expected.header_sha1,
            self.header_sha1.map(|h| hex::encode(h.finalize())),
        );
        if let Some((algo, want)) = &expected.payload {
            check(
                DigestKind::Payload(*algo),
                &Some(want.clone()),
                self.payload.map(AnyHash::hex),
            );
        }
        check(
            DigestKind::Md5,
            &expected.md5,
            self.md5.map(|h| hex::encode(h.finalize())),
        );
        if !failed.is_empty() {
            return Err(RpmError::BadDigests {
                path: path.to_owned(),
                failed,
                file_size: self.at,
                recorded_size: expected
                    .signed_size
                    .map(|s| s.saturating_add(self.header.start)),
            });
        }
        warn_unchecked(path, expected);
        Ok((hex::encode(self.file.finalize()), header_digest))
    }
}

/// The check of a reader that stopped at the end of the main header
/// (`header`, its bytes): the main header's sha256, compared with the
/// signature header's SHA256 digest of it, or with its SHA1 digest when it
/// has no SHA256 (the payload, and MD5 over both, wait for the whole file).
/// Gives that sha256, hex.
pub fn check_header(path: &Path, expected: &Expected, header: &[u8]) -> Result<String, RpmError> {
    let digest = hex::encode(Sha256::digest(header));
    let failed = match (&expected.header_sha256, &expected.header_sha1) {
        (Some(want), _) if !want.eq_ignore_ascii_case(&digest) => Some(DigestMismatch {
            digest: DigestKind::HeaderSha256,
            expected: want.clone(),
            actual: digest.clone(),
        }),
        (None, Some(want)) => {
            let got = hex::encode(Sha1::digest(header));
            (!want.eq_ignore_ascii_case(&got)).then(|| DigestMismatch {
                digest: DigestKind::HeaderSha1,
                expected: want.clone(),
                actual: got,
            })
        }
        _ => None,
    };
    match failed {
        None => Ok(digest),
        Some(f) => Err(RpmError::BadDigests {
            path: path.to_owned(),
            failed: vec![f],
            file_size: header.len() as u64,
            recorded_size: None,
        }),
    }
}

/// Say what of a package no digest covers (it is read all the same).
fn warn_unchecked(path: &Path, expected: &Expected) {
    let header = expected.header_sha1.is_some()
        || expected.header_sha256.is_some()
        || expected.md5.is_some();
    let payload = expected.payload.is_some() || expected.md5.is_some();
    let unchecked = match (header, payload) {
        (true, true) => return,
        (false, false) => "its header and payload",
        (false, true) => "its header",
        (true, false) => "its payload",
    };
    let algo = expected
        .payload_algo_unknown
        .map(|n| {
            format!(" (its payload digest uses OpenPGP hash algorithm {n}, which we do not have)")
        })
        .unwrap_or_default();
    tracing::warn!(
        rpm.path = %path.display(),
        "{}: no digest covers {unchecked}{algo}: read without checking it (rpm -K says NOT OK for such a package)",
        path.display()
    );
}

/// The text of [`RpmError::BadDigests`] after the path.
pub(crate) struct BadDigestsText<'a> {
    failed: &'a [DigestMismatch],
    file_size: u64,
    recorded_size: Option<u64>,
}

impl<'a> BadDigestsText<'a> {
    pub fn new(failed: &'a [DigestMismatch], file_size: &u64, recorded_size: &Option<u64>) -> Self {
        BadDigestsText {
            failed,
            file_size: *file_size,
            recorded_size: *recorded_size,
        }
    }
}

impl fmt::Display for BadDigestsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("damaged RPM (rpm -K: DIGESTS NOT OK): ")?;
        for (i, m) in self.failed.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} BAD (expected {}, got {})",
                m.digest, m.expected, m.actual
            )?;
        }
        match self.recorded_size {
            Some(want) if want > self.file_size => write!(
                f,
                "; the file is {} bytes, {} fewer than its signature header records: truncated",
                self.file_size,
                want - self.file_size
            ),
            Some(want) if want < self.file_size => write!(
                f,
                "; the file is {} bytes, {} more than its signature header records: bytes appended",
                self.file_size,
                self.file_size - want
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeding the bytes in any split gives the digests of the ranges.
    #[test]
    fn each_digest_sees_exactly_its_range_whatever_the_block_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let header = 100..400u64;
        let hex256 = |b: &[u8]| hex::encode(Sha256::digest(b));
        let expected = Expected {
            header_sha1: Some(hex::encode(Sha1::digest(&data[100..400]))),
            header_sha256: Some(hex256(&data[100..400])),
            md5: Some(hex::encode(Md5::digest(&data[100..]))),
            payload: Some((HashAlgo::Sha256, hex256(&data[400..]))),
            payload_algo_unknown: None,
            signed_size: Some(900),
        };
        for split in [1usize, 7, 99, 100, 101, 300, 399, 400, 401, 999, 1000] {
            let mut h = Hashing::new(&expected, header.clone());
            let (a, b) = data.split_at(split);
            h.update(a);
            for chunk in b.chunks(13) {
                h.update(chunk);
            }
            assert_eq!(
                h.finish(Path::new("x.rpm"), &expected).unwrap(),
                (hex256(&data), hex256(&data[100..400])),
                "split at {split}"
            );
        }
        // one byte of the payload short: the payload digest and MD5 fail
        let h = {
            let mut h = Hashing::new(&expected, header.clone());
            h.update(&data[..999]);
            h
        };
        let err = h.finish(Path::new("x.rpm"), &expected).unwrap_err();
        let RpmError::BadDigests { failed, .. } = &err else {
            panic!("{err}")
        };
        let kinds: Vec<DigestKind> = failed.iter().map(|m| m.digest).collect();
        assert_eq!(
            kinds,
            [DigestKind::Payload(HashAlgo::Sha256), DigestKind::Md5]
        );
        let text = err.to_string();
        assert!(
            text.contains("Payload SHA256 digest BAD")
                && text.contains(
                    "the file is 999 bytes, 1 fewer than its signature header records: truncated"
                ),
            "{text}"
        );
    }
}
