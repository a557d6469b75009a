use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::chunks::{ChunkKey, ChunkStore, RenderedChunk};
use super::compress::{Compression, decompress_all};
use super::options::RepodataOptions;
use super::xml::{self, Location};
use crate::rpm::PackageMeta;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepodataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: another process is writing repodata here")]
    Busy { path: PathBuf },
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> RepodataError + '_ {
    move |source| RepodataError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A package and where it lies relative to the repository root.
#[derive(Clone, Copy, Debug)]
pub struct RepoEntry<'a> {
    pub meta: &'a PackageMeta,
    pub href: &'a str,
}

/// One `<data>` record of repomd.xml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepomdRecord {
    pub kind: &'static str,
    pub href: String,
    pub checksum: String,
    pub open_checksum: String,
    pub size: u64,
    pub open_size: u64,
    pub timestamp: u64,
}

#[derive(Clone, Debug)]
pub struct WriteStats {
    pub packages: usize,
    pub records: Vec<RepomdRecord>,
}

/// One output file being streamed: compressed bytes go to disk, both the
/// compressed and the open content are hashed and counted on the way.
struct Stream {
    kind: &'static str,
    /// the file name's base (`primary`, `comps`)
    base: &'static str,
    tmp_path: PathBuf,
    out: BufWriter<File>,
    sha: Sha256,
    open_sha: Sha256,
    size: u64,
    open_size: u64,
}

impl Stream {
    fn create(
        dir: &Path,
        kind: &'static str,
        base: &'static str,
        compression: Compression,
    ) -> Result<Stream, RepodataError> {
        let tmp_path = dir.join(format!(
            "{base}.{}{}.part",
            extension(kind),
            compression.suffix()
        ));
        let file = File::create(&tmp_path).map_err(io_at(&tmp_path))?;
        Ok(Stream {
            kind,
            base,
            tmp_path,
            out: BufWriter::with_capacity(1 << 20, file),
            sha: Sha256::new(),
            open_sha: Sha256::new(),
            size: 0,
            open_size: 0,
        })
    }

    fn push(&mut self, open: &[u8], compressed: &[u8]) -> Result<(), RepodataError> {
        self.open_sha.update(open);
        self.open_size += open.len() as u64;
        self.sha.update(compressed);
        self.size += compressed.len() as u64;
        self.out
            .write_all(compressed)
            .map_err(io_at(&self.tmp_path))
    }

    /// Flush, fsync and give the file its content-addressed name.
    fn finish(
        self,
        compression: Compression,
        timestamp: u64,
    ) -> Result<RepomdRecord, RepodataError> {
        let file = self.out.into_inner().map_err(|e| RepodataError::Io {
            path: self.tmp_path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_at(&self.tmp_path))?;
        let checksum = hex::encode(self.sha.finalize());
        let name = format!(
            "{checksum}-{}.{}{}",
            self.base,
            extension(self.kind),
            compression.suffix()
        );
        let final_path = self.tmp_path.with_file_name(&name);
        fs::rename(&self.tmp_path, &final_path).map_err(io_at(&final_path))?;
        Ok(RepomdRecord {
            kind: self.kind,
            href: format!("repodata/{name}"),
            checksum,
            open_checksum: hex::encode(self.open_sha.finalize()),
            size: self.size,
            open_size: self.open_size,
            timestamp,
        })
    }
}

/// A chunk of the three files: its uncompressed text (for open-checksum and
/// open-size) and its compressed frames.
struct Prepared {
    open: [Vec<u8>; 3],
    compressed: [Vec<u8>; 3],
}

/// What goes into the repository, a chunk at a time, in order.
pub enum ChunkInput<'a> {
    /// A chunk rendered by an earlier run (from a [`ChunkStore`]).
    Cached(RenderedChunk),
    /// Packages to render now; with a key, the result is put in the store.
    Render {
        key: Option<ChunkKey>,
        entries: Vec<RepoEntry<'a>>,
    },
}

impl ChunkInput<'_> {
    fn packages(&self) -> usize {
        match self {
            ChunkInput::Cached(c) => c.packages as usize,
            ChunkInput::Render { entries, .. } => entries.len(),
        }
    }
}

/// Fixed-size chunks to render, for callers without a chunk store.
pub fn chunks_of<'a>(entries: &[RepoEntry<'a>], opts: &RepodataOptions) -> Vec<ChunkInput<'a>> {
    entries
        .chunks(opts.chunk_packages.max(1))
        .map(|c| ChunkInput::Render {
            key: None,
            entries: c.to_vec(),
        })
        .collect()
}

fn render_chunk(entries: &[RepoEntry<'_>], opts: &RepodataOptions) -> std::io::Result<Prepared> {
    let mut primary = String::with_capacity(entries.len() * 2048);
    let mut filelists = String::with_capacity(entries.len() * 1024);
    let mut other = String::with_capacity(entries.len() * 1024);
    let mut href_buf = String::new();
    for e in entries {
        let href = match &opts.location_prefix {
            Some(prefix) => {
                href_buf.clear();
                let _ = write!(href_buf, "{}/{}", prefix.trim_end_matches('/'), e.href);
                href_buf.as_str()
            }
            None => e.href,
        };
        let loc = Location {
            href,
            base: opts.baseurl.as_deref(),
        };
        xml::primary_package(&mut primary, e.meta, loc);
        xml::filelists_package(&mut filelists, e.meta);
        xml::other_package(&mut other, e.meta, opts.changelog_limit);
    }
    let c = opts.compression;
    let compressed = [
        c.compress_chunk(primary.as_bytes())?,
        c.compress_chunk(filelists.as_bytes())?,
        c.compress_chunk(other.as_bytes())?,
    ];
    Ok(Prepared {
        open: [
            primary.into_bytes(),
            filelists.into_bytes(),
            other.into_bytes(),
        ],
        compressed,
    })
}

fn prepare(
    chunk: ChunkInput<'_>,
    opts: &RepodataOptions,
    store: Option<&dyn ChunkStore>,
) -> std::io::Result<Prepared> {
    match chunk {
        ChunkInput::Cached(c) => {
            let [p, f, o] = c.parts;
            Ok(Prepared {
                open: [
                    decompress_all(&p)?,
                    decompress_all(&f)?,
                    decompress_all(&o)?,
                ],
                compressed: [p, f, o],
            })
        }
        ChunkInput::Render { key, entries } => {
            let prepared = render_chunk(&entries, opts)?;
            if let (Some(key), Some(store)) = (key, store) {
                let rendered = RenderedChunk {
                    packages: entries.len() as u32,
                    parts: prepared.compressed.clone(),
                };
                // the chunk store only saves time: a failure is worth a warning
                if let Err(e) = store.put(&key, &rendered) {
                    tracing::warn!("cannot keep a rendered chunk in the cache: {e}");
                }
            }
            Ok(prepared)
        }
    }
}

/// Removes the temporary directory unless it was installed.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Write `repo_dir/repodata/` from `chunks` (in the order given) and swap it in
/// atomically. Rendered chunks with a key are put in `store`. `progress` is
/// called with the number of packages written so far.
pub fn write_repodata(
    repo_dir: &Path,
    chunks: Vec<ChunkInput<'_>>,
    opts: &RepodataOptions,
    store: Option<&dyn ChunkStore>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<WriteStats, RepodataError> {
    // One writer per repository at a time: flock on the directory itself, so
    // nothing extra is created in it.
    let dir_handle = File::open(repo_dir).map_err(io_at(repo_dir))?;
    match dir_handle.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(RepodataError::Busy {
                path: repo_dir.to_owned(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_at(repo_dir)(e)),
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Holding the lock, no other writer is active here: whatever temporary
    // directory exists was left by a run that crashed.
    for entry in fs::read_dir(repo_dir).map_err(io_at(repo_dir))? {
        let entry = entry.map_err(io_at(repo_dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".repodata.odcs-") || name.starts_with(".repodata.old-") {
            tracing::info!(
                "removing {} left by an interrupted run",
                entry.path().display()
            );
            fs::remove_dir_all(entry.path()).map_err(io_at(&entry.path()))?;
        }
    }
    let tmp = repo_dir.join(format!(".repodata.odcs-{}", std::process::id()));
    fs::create_dir(&tmp).map_err(io_at(&tmp))?;
    let guard = TempDir(Some(tmp.clone()));

    let c = opts.compression;
    let n: usize = chunks.iter().map(ChunkInput::packages).sum();
    let mut streams = [
        Stream::create(&tmp, "primary", "primary", c)?,
        Stream::create(&tmp, "filelists", "filelists", c)?,
        Stream::create(&tmp, "other", "other", c)?,
    ];
    let heads = [
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata {} packages=\"{n}\">\n",
            xml::PRIMARY_NS
        ),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists {} packages=\"{n}\">\n",
            xml::FILELISTS_NS
        ),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata {} packages=\"{n}\">\n",
            xml::OTHER_NS
        ),
    ];
    let tails = ["</metadata>", "</filelists>", "</otherdata>"];
    for (s, head) in streams.iter_mut().zip(&heads) {
        let z = c
            .compress_chunk(head.as_bytes())
            .map_err(io_at(&s.tmp_path))?;
        s.push(head.as_bytes(), &z)?;
    }

    let window = rayon::current_num_threads().max(1) * 2;
    let mut done = 0;
    let mut chunks = chunks.into_iter().peekable();
    while chunks.peek().is_some() {
        let batch: Vec<ChunkInput<'_>> = chunks.by_ref().take(window).collect();
        let packages: usize = batch.iter().map(ChunkInput::packages).sum();
        let prepared: Vec<Prepared> = batch
            .into_par_iter()
            .map(|c| prepare(c, opts, store))
            .collect::<std::io::Result<_>>()
            .map_err(io_at(&tmp))?;
        for ch in &prepared {
            for (i, s) in streams.iter_mut().enumerate() {
                s.push(&ch.open[i], &ch.compressed[i])?;
            }
        }
        done += packages;
        progress(done);
    }

    let mut records = Vec::with_capacity(3);
    for (s, tail) in streams.into_iter().zip(tails) {
        let mut s = s;
        let z = c
            .compress_chunk(tail.as_bytes())
            .map_err(io_at(&s.tmp_path))?;
        s.push(tail.as_bytes(), &z)?;
        records.push(s.finish(c, now)?);
    }
    if let Some(yaml) = &opts.modules {
        let mut s = Stream::create(&tmp, "modules", "modules", c)?;
        let z = c
            .compress_chunk(yaml.as_bytes())
            .map_err(io_at(&s.tmp_path))?;
        s.push(yaml.as_bytes(), &z)?;
        records.push(s.finish(c, now)?);
    }
    if let Some(comps) = &opts.groupfile {
        let mut s = Stream::create(&tmp, "group", "comps", c)?;
        let z = c
            .compress_chunk(comps.as_bytes())
            .map_err(io_at(&s.tmp_path))?;
        s.push(comps.as_bytes(), &z)?;
        records.push(s.finish(c, now)?);
    }

    let revision = opts.revision.clone().unwrap_or_else(|| now.to_string());
    let repomd_path = tmp.join("repomd.xml");
    write_synced(&repomd_path, repomd_xml(&revision, &records).as_bytes())?;
    File::open(&tmp)
        .and_then(|d| d.sync_all())
        .map_err(io_at(&tmp))?;

    install(repo_dir, &tmp)?;
    std::mem::forget(guard);
    Ok(WriteStats {
        packages: n,
        records,
    })
}

/// `modules` is YAML (`modules.yaml.gz`), every other record XML.
fn extension(kind: &str) -> &'static str {
    if kind == "modules" { "yaml" } else { "xml" }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RepodataError> {
    let mut f = File::create(path).map_err(io_at(path))?;
    f.write_all(bytes).map_err(io_at(path))?;
    f.sync_all().map_err(io_at(path))
}

pub(crate) fn repomd_xml(revision: &str, records: &[RepomdRecord]) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str("<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n");
    s.push_str("  <revision>");
    xml::escape_text(revision, &mut s);
    s.push_str("</revision>\n");
    for r in records {
        let _ = write!(
            s,
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            r.kind, r.checksum, r.open_checksum, r.href, r.timestamp, r.size, r.open_size
        );
    }
    s.push_str("</repomd>\n");
    s
}

/// Swap the finished temporary directory in as `repodata/`.
fn install(repo_dir: &Path, tmp: &Path) -> Result<(), RepodataError> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    let target = repo_dir.join("repodata");
    match renameat_with(CWD, tmp, CWD, &target, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // `tmp` now holds the old repodata
            fs::remove_dir_all(tmp).map_err(io_at(tmp))?;
        }
        Err(Errno::NOENT) => fs::rename(tmp, &target).map_err(io_at(&target))?,
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            // a filesystem without RENAME_EXCHANGE: two renames, a short window
            // without repodata/ rather than a half-written one
            let old = repo_dir.join(format!(".repodata.old-{}", std::process::id()));
            fs::rename(&target, &old).map_err(io_at(&target))?;
            fs::rename(tmp, &target).map_err(io_at(&target))?;
            fs::remove_dir_all(&old).map_err(io_at(&old))?;
        }
        Err(e) => return Err(io_at(&target)(e.into())),
    }
    File::open(repo_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(repo_dir))
}
