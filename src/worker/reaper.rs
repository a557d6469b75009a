//! The reaper: every `reaper_interval`, one process of all (a lease in the
//! database) fails composes no job will finish (lost) or that ran past the
//! compose timeout, removes expired composes, sweeps what the target
//! directories hold that no `done` compose accounts for, folds the compose
//! counts the list's totals are summed from, removes Koji tag cache
//! entries older than 30 days, and prunes the mirrors of `repo` composes
//! over http(s) (RPMs no tree links, downloaded more than
//! `repo_mirror_keep_hours` ago).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{REPORT_EVERY, WorkerContext};
use crate::domain::TargetEntry;
use crate::store::{ComposeState, StoreError, Timestamp};
use crate::throttle::Throttled;

/// The name of the reaper's lease.
const REAPER_LEASE: &str = "reaper";

impl WorkerContext {
    /// Delete an expired or deleted compose's files (unless it reuses
    /// another) and mark it removed.
    #[tracing::instrument(skip_all, fields(compose.id = id))]
    pub(super) async fn remove(&self, id: i64) -> anyhow::Result<()> {
        let c = self.store.find_compose(id).await?;
        if !matches!(c.state, ComposeState::Done | ComposeState::Failed) {
            return Ok(());
        }
        if c.reused_id.is_none()
            && let Some(target) = self.target_dirs.get(&c.target_dir)
        {
            let dir = target.path.join(format!("odcs-{id}"));
            if dir.exists() {
                // the cache records of its RPMs follow them (unlinking moves ctime)
                let caches = self.caches.clone();
                tokio::task::spawn_blocking(move || {
                    crate::compose::tree::remove_tree(&dir, caches.caches())
                })
                .await??;
            }
            let _ = tokio::fs::remove_file(target.path.join(format!("odcs-{id}.log"))).await;
        }
        let prev = c.state_reason.clone().unwrap_or_default();
        let why = match &c.removed_by {
            Some(by) => format!("Removed by {by}."),
            None => "Compose is expired.".to_owned(),
        };
        let reason = if prev.is_empty() {
            why
        } else {
            format!("{prev}\n{why}")
        };
        match self
            .store
            .mark_removed(id, c.removed_by.as_deref(), &reason)
            .await
        {
            Ok(_) => tracing::info!(compose.id = id, "compose {id} removed"),
            // removed by another worker meanwhile
            Err(StoreError::InvalidState { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Remove every expired compose; returns how many.
    pub async fn reap(&self) -> anyhow::Result<usize> {
        let expired = self.store.expired_composes(Timestamp::now()).await?;
        for c in &expired {
            self.remove(c.id).await?;
        }
        Ok(expired.len())
    }

    /// Fail the composes left `wait` or `generating` with no job that will
    /// finish them (the original's lost-compose check). A reusing compose
    /// whose reused compose is done (a link made as it finished) is done too.
    /// Returns their ids.
    pub async fn fail_lost(&self) -> anyhow::Result<Vec<i64>> {
        let lost = self.store.lost_composes().await?;
        let mut out = Vec::new();
        for c in lost {
            if let Some(leader) = c.reused_id {
                self.follow(c.id, leader).await?;
            } else {
                let reason = format!(
                    "Error while generating compose: lost: it was left '{}' with no job to finish it",
                    c.state.name()
                );
                self.fail(&c, &reason).await?;
            }
            out.push(c.id);
        }
        Ok(out)
    }

    /// Fail (and cancel the jobs of) composes still generating a while past
    /// the compose timeout: their worker stopped checking (a hung disk, a
    /// stuck process). A live worker fails its own compose at the timeout.
    pub async fn fail_overdue(&self) -> anyhow::Result<Vec<i64>> {
        let grace = (self.lease * 2).max(Duration::from_secs(60));
        let limit = i64::try_from((self.compose_timeout + grace).as_secs()).unwrap_or(i64::MAX);
        let started_before = Timestamp::now().add_seconds(-limit);
        let overdue = self.store.overdue_composes(started_before).await?;
        let mut out = Vec::new();
        for c in overdue {
            let reason = self.public_reason(
                c.id,
                &format!(
                    "Error while generating compose: it ran longer than the compose timeout ({} seconds)",
                    self.compose_timeout.as_secs()
                ),
            );
            match self.store.cancel_compose(c.id, &reason).await {
                Ok(_) => {
                    self.metrics.failed();
                    self.remove_unfinished_tree(&c).await;
                    tracing::warn!(compose.id = c.id, "compose {} failed: {reason}", c.id);
                    out.push(c.id);
                }
                Err(StoreError::InvalidState { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Remove what the target directories hold that no compose accounts for
    /// (odcs-api.md §5.6, and issue #12): every tree whose compose is not
    /// `done` (unknown, removed, failed, waiting, or generating with no live
    /// job), the logs of composes that are unknown or removed, and build
    /// directories (`.odcs-<id>.part`) no worker is using. A tree or build
    /// directory of a compose being generated is its worker's. Returns what
    /// it removed.
    pub async fn sweep(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for target in self.target_dirs.all() {
            let mut entries = match tokio::fs::read_dir(&target.path).await {
                Ok(e) => e,
                // a target directory not mounted on this host (odcs-api.md §5.6)
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name();
                let Some(kind) = name.to_str().and_then(TargetEntry::parse) else {
                    continue;
                };
                let compose = match self.store.find_compose(kind.compose_id()).await {
                    Ok(c) => Some(c),
                    Err(StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                };
                let state = compose.as_ref().map(|c| c.state);
                let being_built =
                    matches!(state, Some(ComposeState::Wait | ComposeState::Generating))
                        && self.store.has_live_job(kind.compose_id()).await?;
                let orphan = match (kind, state) {
                    (_, None | Some(ComposeState::Removed)) => true,
                    (TargetEntry::Log(_), _) => false,
                    (TargetEntry::Tree(_), Some(ComposeState::Done)) => false,
                    (_, Some(ComposeState::Done | ComposeState::Failed)) => true,
                    (_, Some(ComposeState::Wait | ComposeState::Generating)) => !being_built,
                };
                if !orphan {
                    continue;
                }
                let path = entry.path();
                let gone = if entry.file_type().await?.is_dir() {
                    // the cache records of its RPMs follow them (unlinking moves ctime)
                    let (caches, dir) = (self.caches.clone(), path.clone());
                    tokio::task::spawn_blocking(move || {
                        crate::compose::tree::remove_tree(&dir, caches.caches())
                    })
                    .await?
                } else {
                    tokio::fs::remove_file(&path).await
                };
                match gone {
                    Ok(()) => {
                        tracing::info!(
                            compose.id = kind.compose_id(),
                            "removed {}: no done compose accounts for it",
                            path.display()
                        );
                        removed.push(path);
                    }
                    // removed meanwhile (by the reaper of another host)
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(removed)
    }

    /// One round of the reaper, in order: lost and overdue composes fail,
    /// expired ones are removed, then leftovers are swept.
    pub async fn reaper_round(&self) -> anyhow::Result<()> {
        self.fail_lost().await?;
        self.fail_overdue().await?;
        self.reap().await?;
        self.sweep().await?;
        self.store.fold_compose_counts().await?;
        let target = self.target_dirs.default.path.clone();
        for gone in
            tokio::task::spawn_blocking(move || crate::compose::pungi::prune_tag_cache(&target))
                .await?
        {
            tracing::info!(
                "removed {}: a Koji tag cache entry older than 30 days",
                gone.display()
            );
        }
        let mirrors = self.module_defaults_cache.join("repo-mirrors");
        let keep = self.mirror_keep;
        let pruned = tokio::task::spawn_blocking(move || {
            crate::source::repo::prune_mirrors(&mirrors, keep, std::time::SystemTime::now())
        })
        .await??;
        if pruned.files + pruned.leftovers > 0 {
            tracing::info!(
                "repo mirrors: removed {} RPMs no compose links ({} bytes) and {} leftovers of interrupted runs",
                pruned.files,
                pruned.bytes,
                pruned.leftovers
            );
        }
        Ok(())
    }

    /// The reaper loop: a round every `interval`, by whichever process holds
    /// the reaper's lease (one at a time across all processes sharing the
    /// database). A failing round is reported once a minute.
    pub async fn reaper(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut failing = Throttled::new("reaper", REPORT_EVERY);
        // long enough for a round; given back at its end
        let hold = (interval * 10).max(Duration::from_secs(300));
        loop {
            match self
                .store
                .take_lease(REAPER_LEASE, &self.process_id, hold)
                .await
            {
                Ok(true) => {
                    let round = self.reaper_round().await;
                    let _ = self
                        .store
                        .release_lease(REAPER_LEASE, &self.process_id)
                        .await;
                    match round {
                        Ok(()) => failing.succeeded(),
                        Err(e) => failing.failed(&format!("{e:#}")),
                    }
                }
                // another process reaps this round
                Ok(false) => failing.succeeded(),
                Err(e) => failing.failed(&e),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => break,
            }
        }
    }
}
