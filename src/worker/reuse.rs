//! Deciding, while a compose is `wait`, whether an equal compose answers it
//! (odcs-api.md §5.5), and following the compose it then reuses.
//!
//! A compose decides while it is `wait` and leaves that state either by
//! linking to another ([`Store::mark_reused`], which links only to a compose
//! that generates its own tree, checked in the linking statement) or by
//! starting its own build ([`Store::mark_generating`]) — never both. So a
//! compose another one links to never turns out to reuse a third, and every
//! link ends at a tree that is built.
//!
//! [`Store::mark_reused`]: crate::store::Store::mark_reused
//! [`Store::mark_generating`]: crate::store::Store::mark_generating

use std::sync::Arc;
use std::time::Duration;

use super::{WorkerContext, flag, is_tag};
use crate::domain::Flag;
use crate::source::{PackageSource, SourceError};
use crate::store::{ComposeRow, ComposeState};

impl WorkerContext {
    /// Decide what answers compose `c` (still `wait`): `true` when it is
    /// finished here — failed (a requested event the source does not know)
    /// or answered by an equal compose — and `false` when it must build its
    /// own tree.
    pub(super) async fn decide(
        self: Arc<Self>,
        worker: &str,
        c: &ComposeRow,
        source: &Arc<dyn PackageSource + Send>,
    ) -> anyhow::Result<bool> {
        // a requested event must exist before anything answers for it: Koji
        // answers listings for a future event as "now" (formats.md §1.10)
        if let (Some(event), None) = (c.koji_event, c.replay_of) {
            let source = source.clone();
            let checked = tokio::task::spawn_blocking(move || source.check_event(event)).await?;
            match checked {
                Ok(()) => {}
                Err(e @ SourceError::UnknownEvent { .. }) => {
                    self.fail(c, &format!("Error while generating compose: {e}"))
                        .await?;
                    return Ok(true);
                }
                // the source is unreachable: the build says so with its retries
                Err(e) => tracing::warn!(
                    compose.id = c.id,
                    "compose {}: cannot check event {event}: {e}",
                    c.id
                ),
            }
        }
        // a pulp compose is never reused, as in the original: its .repo
        // file says what Pulp serves now
        if flag(c, Flag::NoReuse) || c.source_type == crate::domain::SourceType::Pulp.code() {
            return Ok(false);
        }
        let Some(other) = self.clone().reusable(worker, c, source).await? else {
            return Ok(false);
        };
        // it may have failed or been cancelled meanwhile: then this compose
        // is generated (or, cancelled itself, left alone by the caller)
        match self.store.mark_reused(c.id, other.id).await {
            Ok(row) => {
                tracing::info!(
                    compose.id = c.id,
                    "compose {} reuses compose {}",
                    c.id,
                    other.id
                );
                if row.state == ComposeState::Generating {
                    self.follow(c.id, other.id).await?;
                }
                Ok(true)
            }
            Err(e) => {
                tracing::info!(
                    compose.id = c.id,
                    "compose {}: cannot reuse compose {}: {e}",
                    c.id,
                    other.id
                );
                Ok(false)
            }
        }
    }

    /// Finish a reusing compose with the compose it reuses. The store moves
    /// reusing composes along when the reused one finishes; this covers a link
    /// made while that transition was being committed.
    pub(super) async fn follow(&self, id: i64, leader: i64) -> anyhow::Result<()> {
        loop {
            let me = self.store.find_compose(id).await?;
            if me.state != ComposeState::Generating {
                return Ok(());
            }
            let l = self.store.find_compose(leader).await?;
            match l.state {
                ComposeState::Done => {
                    let rpms = self.store.compose_rpms(leader).await?;
                    self.store.mark_done(id, l.koji_event, &rpms).await?;
                    return Ok(());
                }
                ComposeState::Failed | ComposeState::Removed => {
                    let reason = l
                        .state_reason
                        .unwrap_or_else(|| "the reused compose failed".into());
                    self.store.mark_failed(id, &reason).await?;
                    return Ok(());
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// An older compose with the same inputs that answers this one: one being
    /// generated for the same requested event, or a done one that still holds
    /// what this one would: for a tag, nothing in the tag or the tags it
    /// inherits from changed since the done compose's event (Koji's
    /// `tagChangedSinceEvent`; other changes on the hub do not matter); for
    /// fixed builds, the fingerprint (which holds a requested event) is enough;
    /// for a repository, its repomd revision is still the done compose's.
    async fn reusable(
        self: Arc<Self>,
        worker: &str,
        c: &ComposeRow,
        source: &Arc<dyn PackageSource + Send>,
    ) -> anyhow::Result<Option<ComposeRow>> {
        let Some(fp) = &c.fingerprint else {
            return Ok(None);
        };
        'retry: for _ in 0..300 {
            let candidates = self.store.find_reusable_composes(fp, c.id, 10).await?;
            for other in candidates {
                match other.state {
                    // an older equal compose still deciding for the same
                    // event: start it here if its job is free (else another
                    // worker is deciding it), then look again
                    ComposeState::Wait if other.koji_event == c.koji_event => {
                        match self
                            .store
                            .claim_job_for(worker, self.lease, other.id)
                            .await?
                        {
                            Some(job) => {
                                Box::pin(self.clone().run_job(worker.to_owned(), job)).await
                            }
                            None => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                        continue 'retry;
                    }
                    _ => {
                        if self.answers(c, &other, source).await? {
                            return Ok(Some(other));
                        }
                    }
                }
            }
            break;
        }
        Ok(None)
    }

    /// Whether `other` (done or generating, with the same fingerprint) holds
    /// what `c` asks for.
    async fn answers(
        &self,
        c: &ComposeRow,
        other: &ComposeRow,
        source: &Arc<dyn PackageSource + Send>,
    ) -> anyhow::Result<bool> {
        Ok(match other.state {
            ComposeState::Generating => other.koji_event == c.koji_event,
            // `n:s` (or a module's dependencies) may resolve to newer builds
            // than last time: only exact builds without dependencies, or a
            // pinned event, give the same modules again
            ComposeState::Done if c.source_type == crate::domain::SourceType::Module.code() => {
                let exact = c
                    .source
                    .split_whitespace()
                    .all(|m| m.split(':').count() == 4);
                exact && (flag(c, Flag::NoDeps) || c.koji_event.is_some())
            }
            // a repository changed in place gets a new repomd revision (the
            // compose's `koji_event`, odcs-api.md §6): reused only while the
            // revision is the same, and only for one repository (of several,
            // the event holds the last one's revision)
            ComposeState::Done if c.source_type == crate::domain::SourceType::Repo.code() => {
                let location = c.source.trim().to_owned();
                if location.split_whitespace().count() != 1 || other.koji_event.is_none() {
                    return Ok(false);
                }
                // (a directory without repodata has no revision to compare;
                // a repository over http(s) is asked for its repomd.xml)
                let limits = self.lookaside_limits;
                let asked = location.clone();
                let now = tokio::task::spawn_blocking(move || {
                    crate::source::repo::revision(&asked, limits)
                })
                .await?;
                match now {
                    Ok(Some(revision)) => Some(revision) == other.koji_event,
                    Ok(None) => false,
                    Err(e) => {
                        tracing::warn!(
                            compose.id = c.id,
                            "compose {}: cannot read the revision of {location}: {e}",
                            c.id
                        );
                        false
                    }
                }
            }
            ComposeState::Done if !is_tag(c) => true,
            ComposeState::Done => match (other.koji_event, c.koji_event) {
                (None, _) => false,
                (Some(theirs), Some(mine)) if mine == theirs => true,
                // a renewal of an older compose must not pick a newer one
                (Some(theirs), Some(mine)) if mine < theirs => false,
                (Some(theirs), _) => {
                    let (source, tag) = (source.clone(), c.source.clone());
                    let inherit = !flag(c, Flag::NoInheritance);
                    // the modular tags decide the compose's modules: a
                    // change in any of them (always with inheritance, as
                    // they are read) is a change of the compose's input
                    let modular: Vec<String> = c
                        .modular_koji_tags
                        .as_deref()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect();
                    let changed = tokio::task::spawn_blocking(move || {
                        for t in tag.split_whitespace() {
                            if source.tag_changed_since(t, theirs, inherit)? {
                                return Ok(true);
                            }
                        }
                        for m in &modular {
                            if source.tag_changed_since(m, theirs, true)? {
                                return Ok(true);
                            }
                        }
                        Ok::<bool, crate::source::SourceError>(false)
                    })
                    .await?;
                    match changed {
                        Ok(changed) => !changed,
                        Err(e) => {
                            tracing::warn!(
                                compose.id = c.id,
                                "compose {}: cannot tell whether tag {} changed since event {theirs}: {e}",
                                c.id,
                                c.source
                            );
                            false
                        }
                    }
                }
            },
            _ => false,
        })
    }
}
