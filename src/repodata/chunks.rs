//! Rendered chunks: what a run of packages contributes to primary, filelists and
//! other, already compressed, kept so a warm run assembles repodata instead of
//! rendering and compressing it again (DESIGN.md: "warm metadata is assembled,
//! not recomputed").
//!
//! A chunk is identified by a [`ChunkKey`]: a hash over the render format
//! version, every option that changes the bytes (compression, location prefix,
//! xml:base, changelog limit) and the identities of its packages in order. The
//! caller decides what a package's identity is (`createrepo` uses the file
//! identity and href, the same facts the header cache trusts).
//!
//! Boundaries between chunks are content-defined ([`chunk_ranges`]): a chunk ends
//! after a package whose identity hash has its low bits set, so adding or removing
//! one package changes one chunk, not every chunk after it.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::options::RepodataOptions;

pub type ChunkKey = [u8; 32];

/// Bump whenever the XML written for a package changes, so chunks rendered by an
/// older build are never reused.
pub const RENDER_VERSION: u32 = 1;

/// Average and maximum packages per chunk.
const AVG_CHUNK: u64 = 128;
const MAX_CHUNK: usize = 512;

/// One chunk of all three files, each part a complete compressed frame/member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedChunk {
    pub packages: u32,
    /// primary, filelists, other
    pub parts: [Vec<u8>; 3],
}

/// Where rendered chunks are kept between runs.
pub trait ChunkStore: Sync {
    fn get(&self, key: &ChunkKey) -> Option<RenderedChunk>;
    fn put(&self, key: &ChunkKey, chunk: &RenderedChunk) -> std::io::Result<()>;
}

/// The identity digest of one package, from the caller's identity bytes.
pub fn package_digest(identity: &[u8]) -> [u8; 32] {
    Sha256::digest(identity).into()
}

/// Split packages (by their identity digests, in repodata order) into chunks.
pub fn chunk_ranges(digests: &[[u8; 32]]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, d) in digests.iter().enumerate() {
        let low = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
        if low % AVG_CHUNK == AVG_CHUNK - 1 || i + 1 - start >= MAX_CHUNK {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < digests.len() {
        out.push(start..digests.len());
    }
    out
}

/// The key of a chunk of packages rendered with `opts`.
pub fn chunk_key(opts: &RepodataOptions, digests: &[[u8; 32]]) -> ChunkKey {
    let mut h = Sha256::new();
    h.update(RENDER_VERSION.to_le_bytes());
    h.update(format!("{:?}", opts.compression).as_bytes());
    for s in [&opts.location_prefix, &opts.baseurl] {
        match s {
            Some(s) => {
                h.update([1]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            None => h.update([0]),
        }
    }
    h.update((opts.changelog_limit.map_or(u64::MAX, |n| n as u64)).to_le_bytes());
    for d in digests {
        h.update(d);
    }
    h.finalize().into()
}

/// A [`ChunkStore`] of one file per chunk under a directory.
pub struct DirChunkStore {
    dir: PathBuf,
}

const MAGIC: [u8; 4] = *b"ODCK";

impl DirChunkStore {
    pub fn open(dir: &Path) -> std::io::Result<DirChunkStore> {
        let dir = dir.join(format!("chunks-v{RENDER_VERSION}"));
        std::fs::create_dir_all(&dir)?;
        Ok(DirChunkStore { dir })
    }

    fn path(&self, key: &ChunkKey) -> PathBuf {
        self.dir.join(hex::encode(key))
    }
}

impl ChunkStore for DirChunkStore {
    fn get(&self, key: &ChunkKey) -> Option<RenderedChunk> {
        let data = std::fs::read(self.path(key)).ok()?;
        let body_len = data.len().checked_sub(4)?;
        let (body, crc) = data.split_at(body_len);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?)
            || body.get(..4)? != MAGIC
        {
            return None;
        }
        let packages = u32::from_le_bytes(body.get(4..8)?.try_into().ok()?);
        let mut at: usize = 8 + 3 * 8;
        let mut parts: [Vec<u8>; 3] = Default::default();
        for (i, part) in parts.iter_mut().enumerate() {
            let len =
                u64::from_le_bytes(body.get(8 + i * 8..16 + i * 8)?.try_into().ok()?) as usize;
            *part = body.get(at..at.checked_add(len)?)?.to_vec();
            at += len;
        }
        (at == body.len()).then_some(RenderedChunk { packages, parts })
    }

    fn put(&self, key: &ChunkKey, chunk: &RenderedChunk) -> std::io::Result<()> {
        let mut body = Vec::with_capacity(40 + chunk.parts.iter().map(Vec::len).sum::<usize>());
        body.extend_from_slice(&MAGIC);
        body.extend_from_slice(&chunk.packages.to_le_bytes());
        for p in &chunk.parts {
            body.extend_from_slice(&(p.len() as u64).to_le_bytes());
        }
        for p in &chunk.parts {
            body.extend_from_slice(p);
        }
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        // temp name + rename: a reader sees the whole chunk or none; the CRC
        // catches what a crash could leave behind
        let path = self.path(key);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        drop(f);
        std::fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserting_one_package_changes_at_most_two_chunks() {
        let digests: Vec<[u8; 32]> = (0..5000u32)
            .map(|i| package_digest(&i.to_le_bytes()))
            .collect();
        let before: Vec<_> = chunk_ranges(&digests)
            .into_iter()
            .map(|r| digests[r].to_vec())
            .collect();
        let mut inserted = digests.clone();
        inserted.insert(2500, package_digest(b"new"));
        let after: Vec<_> = chunk_ranges(&inserted)
            .into_iter()
            .map(|r| inserted[r].to_vec())
            .collect();
        let changed = after.iter().filter(|c| !before.contains(c)).count();
        assert!(before.len() > 20, "{} chunks", before.len());
        assert!(changed <= 2, "{changed} chunks changed");
        assert!(chunk_ranges(&digests).iter().all(|r| r.len() <= MAX_CHUNK));
    }

    #[test]
    fn stored_chunks_round_trip_and_damage_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirChunkStore::open(dir.path()).unwrap();
        let chunk = RenderedChunk {
            packages: 3,
            parts: [b"p".to_vec(), b"ff".to_vec(), b"ooo".to_vec()],
        };
        let key = [7u8; 32];
        store.put(&key, &chunk).unwrap();
        assert_eq!(store.get(&key), Some(chunk));
        let p = store.path(&key);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[9] ^= 1;
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(store.get(&key), None);
        assert_eq!(store.get(&[8u8; 32]), None);
    }

    #[test]
    fn every_rendering_option_changes_the_key() {
        let d = [package_digest(b"a")];
        let base = RepodataOptions::default();
        let k = chunk_key(&base, &d);
        let variants = [
            RepodataOptions {
                compression: super::super::Compression::gzip(),
                ..base.clone()
            },
            RepodataOptions {
                location_prefix: Some("x".into()),
                ..base.clone()
            },
            RepodataOptions {
                baseurl: Some("x".into()),
                ..base.clone()
            },
            RepodataOptions {
                changelog_limit: None,
                ..base.clone()
            },
        ];
        for v in variants {
            assert_ne!(chunk_key(&v, &d), k, "{v:?}");
        }
        // revision does not change the rendered packages
        assert_eq!(
            chunk_key(
                &RepodataOptions {
                    revision: Some("1".into()),
                    ..base.clone()
                },
                &d
            ),
            k
        );
    }
}
