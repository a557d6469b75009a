//! The compose engine: plan → materialize → repodata → metadata.
//!
//! `createrepo` writes repodata for a directory of RPMs through the caches;
//! `request` holds what a compose is asked and answers; `engine` runs a whole
//! compose (resolve → headers → `plan`, the per-arch gather → link → repodata
//! → metadata), `replay` recreates one from its stored package set; `tree` lays the trees out as Pungi does (every tree with
//! repodata, comps, `.treeinfo`, `media.repo`) and removes a compose tree
//! keeping the cache records of its RPMs; `metadata` writes what a compose
//! says about itself. Long work reports through the [`Progress`] interface.

pub mod createrepo;
pub mod engine;
pub mod iso;
pub mod metadata;
pub mod modules;
mod plan;
pub mod pulp;
pub mod pungi;
pub mod replay;
pub mod request;
pub mod resident;
pub mod tree;

/// How long work reports progress. The CLI draws a bar; the service (#4) will
/// record it on the compose.
pub trait Progress: Sync {
    /// A new phase begins, with the number of steps if known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `n` more steps of the current phase are done.
    fn advance(&self, n: u64);
    /// `n` steps of the current phase are done in all.
    fn set(&self, n: u64);
    /// All phases are done.
    fn done(&self);
    /// Whether the compose should stop (it was cancelled, or its job was
    /// taken over): the engine asks between steps and gives up with
    /// [`engine::ComposeError::Cancelled`], leaving nothing behind.
    fn cancelled(&self) -> bool {
        false
    }
    /// A line for the compose's log (how the closure was made, what could
    /// not be installed). Without a log of its own it goes to the tracing
    /// log at info level.
    fn note(&self, line: &str) {
        tracing::info!("{line}");
    }
}

/// Progress that goes nowhere (tests, library use).
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn set(&self, _: u64) {}
    fn done(&self) {}
}
