//! Writing (and reading back) RPM repository metadata: primary.xml,
//! filelists.xml, other.xml and repomd.xml, as dnf and libsolv read them, and
//! comps (the `group` record) when a groupfile is given.
//!
//! How it is written, and why:
//! - **Chunks of independent frames.** Packages are rendered in chunks (a few
//!   hundred packages), each chunk compressed on its own as a complete zstd frame
//!   or gzip member. Both formats define a stream of concatenated frames/members as
//!   the concatenation of their contents, so the file is valid while every chunk
//!   can be rendered and compressed in parallel (rayon), and a later run can reuse
//!   chunks whose packages did not change.
//! - **Streaming.** Chunks are produced a window at a time and written in order,
//!   so memory holds a few chunks, never a whole document. The checksum and size
//!   of both the compressed file and its uncompressed content (`open-checksum`,
//!   `open-size`) are computed as the bytes stream past.
//! - **Content-addressed names** (`<sha256>-primary.xml.zst`), like createrepo_c,
//!   so caches and mirrors never serve a stale file under a current name.
//! - **Atomic swap.** Everything is written into a temporary directory beside
//!   `repodata/`, fsynced, and exchanged with the old `repodata/` by one
//!   `renameat2(RENAME_EXCHANGE)`: a reader sees the old repository or the new
//!   one, never a mixture and never none. On failure the temporary directory is
//!   removed and `repodata/` is untouched.
//!
//! Not written (allowed differences from createrepo_c 0.17): the sqlite
//! databases (`*_db`; dnf never reads them, and Pungi passes `--no-database`).

pub mod chunks;
mod compress;
pub mod comps;
mod options;
pub mod read;
mod write;
pub mod xml;

pub use chunks::{ChunkKey, ChunkStore, DirChunkStore, RenderedChunk};
pub use compress::Compression;
pub use options::RepodataOptions;
pub use write::{
    ChunkInput, RepoEntry, RepodataError, RepomdRecord, WriteStats, chunks_of, write_repodata,
};
