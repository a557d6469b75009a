//! Workers: claim jobs from the database queue, decide whether a compose can
//! be answered by an equal one (`reuse`), run the compose engine, record the
//! result; and the reaper (`reaper`) that removes expired composes, fails lost
//! ones and sweeps leftovers.
//!
//! Why leases: a worker holds a job only while it keeps renewing its lease
//! (every third of the lease); if it dies, the lease runs out and another
//! worker (on any host sharing the database and the target directory) takes
//! the job up again. A job is safe to run twice: the engine builds into a
//! temporary directory and renames it into place, and a tree left by a run that
//! died after the rename but before recording `done` is removed and rebuilt
//! (it is never served meanwhile: only trees of `done` composes are).
//!
//! Every job ends with its compose `done` or `failed`, never left
//! `generating` (issue #12): a compose failure fails it; a panic in the engine
//! fails it with the panic's message and removes its build directory; any
//! other error (the database, the disk) queues the job again after a growing
//! pause, and after `job_attempts` attempts the compose fails with the last
//! error. A compose that runs past `compose_timeout_seconds` fails. The
//! reaper fails composes that no job will finish (the original's lost-compose
//! check) and, as a last resort, those still generating past the timeout.
//!
//! A renewal of a removed compose (`replay_of`) is not resolved again: the
//! engine recreates it from the stored package set (DESIGN.md: every compose
//! stores its exact package set, so a renewal rebuilds exactly the same
//! repository); a compose with no stored package set fails instead of being
//! silently resolved again.

mod metrics;
mod progress;
mod reaper;
mod reuse;

use std::sync::Arc;
use std::time::Duration;

use crate::compose::createrepo::CacheDir;
use crate::compose::engine::{
    ComposeError, ComposeFlags, ComposeRequest, ComposedRpm, MultilibMethod, SourceType,
    run_compose,
};
use crate::compose::replay::replay_compose;
use crate::domain::{Flag, TargetDirs, part_dir};
use crate::source::PackageSource;
use crate::source::repo::RepoLimits;
use crate::store::{ComposeRow, ComposeState, Job, JobKind, Store, StoreError, StoredRpm};

pub use metrics::WorkerMetrics;

use crate::throttle::{Backoff, Throttled};
use progress::{JobProgress, Stop, StopReason};

/// What every worker shares.
pub struct WorkerContext {
    pub store: Store,
    pub source: Arc<dyn PackageSource + Send>,
    pub caches: Arc<CacheDir>,
    pub target_dirs: TargetDirs,
    pub lease: Duration,
    pub jobs_queued: Arc<tokio::sync::Notify>,
    pub metrics: Arc<WorkerMetrics>,
    /// A compose generating longer than this fails.
    pub compose_timeout: Duration,
    /// Attempts of a job before its compose fails with the last error.
    pub job_attempts: i64,
    /// Names this process in leases shared across processes (the reaper).
    pub process_id: String,
    /// What reading a lookaside repository may cost.
    pub lookaside_limits: RepoLimits,
    /// Module names that are base modules (`base_module_names`).
    pub base_modules: Vec<String>,
    /// The configured modulemd-defaults (`module_defaults_dir`).
    pub module_defaults_dir: Option<std::path::PathBuf>,
    /// Where fetched modulemd-defaults are kept per commit.
    pub module_defaults_cache: std::path::PathBuf,
    /// How long a mirrored RPM no tree links stays (`repo_mirror_keep_hours`).
    pub mirror_keep: Duration,
    /// How Pungi runs (`[pungi]` and `raw_config_urls`), if it does.
    pub pungi: Option<Arc<crate::compose::pungi::PungiSetup>>,
    /// The Pulp server of `pulp` composes (`[pulp]`), if one is configured.
    pub pulp: Option<Arc<crate::source::pulp::PulpClient>>,
    /// The configured arches (`arches`): a `pulp` compose that found no
    /// repository holds an empty one for each.
    pub arches: Vec<String>,
}

/// How often an idle worker records that it is alive (for the metrics).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// How often a condition that keeps failing is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Longest `state_reason` of a failed compose; the whole text is in the
/// compose's log.
const MAX_REASON_CHARS: usize = 2000;

/// Whether compose `c` has `flag`.
fn flag(c: &ComposeRow, flag: Flag) -> bool {
    flag.is_set(c.flags)
}

/// Whether compose `c` is a tag compose.
fn is_tag(c: &ComposeRow) -> bool {
    c.source_type == crate::domain::SourceType::Tag.code()
}

fn words(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The engine request for a stored compose.
pub fn engine_request(
    c: &ComposeRow,
    target_dirs: &TargetDirs,
    lookaside_limits: RepoLimits,
) -> ComposeRequest {
    let name = format!("odcs-{}", c.id);
    let (source_type, source) = if c.source_type == crate::domain::SourceType::Build.code() {
        let mut nvrs = words(&Some(c.source.clone()));
        nvrs.extend(words(&c.builds));
        (SourceType::Build, nvrs)
    } else if c.source_type == crate::domain::SourceType::Module.code() {
        (SourceType::Module, words(&Some(c.source.clone())))
    } else if c.source_type == crate::domain::SourceType::Repo.code() {
        (SourceType::Repo, words(&Some(c.source.clone())))
    } else if c.source_type == crate::domain::SourceType::RawConfig.code() {
        (SourceType::RawConfig, vec![c.source.clone()])
    } else if c.source_type == crate::domain::SourceType::PungiCompose.code() {
        (SourceType::PungiCompose, words(&Some(c.source.clone())))
    } else {
        // several tags, in the order given
        (SourceType::Tag, words(&Some(c.source.clone())))
    };
    ComposeRequest {
        url: target_dirs.tree_url(&c.target_dir, &name),
        name,
        source_type,
        source,
        packages: words(&c.packages),
        builds: if source_type == SourceType::Tag {
            words(&c.builds)
        } else {
            vec![]
        },
        arches: words(&Some(c.arches.clone())),
        // a leading, trailing or double space is an empty key: unsigned allowed
        sigkeys: match c.sigkeys.as_deref() {
            None | Some("") => vec![],
            Some(s) => s.split(' ').map(str::to_owned).collect(),
        },
        flags: ComposeFlags {
            no_deps: flag(c, Flag::NoDeps),
            include_done_modules: flag(c, Flag::IncludeDoneModules),
            no_inheritance: flag(c, Flag::NoInheritance),
            check_deps: flag(c, Flag::CheckDeps),
            first_source_wins: flag(c, Flag::FirstSourceWins),
        },
        lookaside_repos: words(&c.lookaside_repos),
        multilib_arches: words(&Some(c.multilib_arches.clone())),
        multilib_methods: MultilibMethod::from_mask(c.multilib_method),
        event: c.koji_event,
        lookaside_limits,
        module_defaults: c
            .module_defaults_url
            .as_deref()
            .and_then(|d| d.split_once(' '))
            .map(|(u, c)| (u.to_owned(), c.to_owned())),
        module_defaults_cache: None,
        mirror_dir: None,
        module_defaults_dir: None,
        modular_koji_tags: words(&c.modular_koji_tags),
        scratch_modules: words(&c.scratch_modules),
        iso: c.results & i64::from(crate::domain::ResultKind::Iso.bit()) != 0,
        base_module_names: crate::compose::modules::BASE_MODULES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        base_module_br: crate::source::BaseModuleBr {
            name: c.base_module_br_name.clone(),
            stream: c.base_module_br_stream.clone(),
            stream_version_lte: c.base_module_br_stream_version_lte,
            stream_version_gte: c.base_module_br_stream_version_gte,
        },
    }
}

/// A task aborted when this is dropped (also when the code holding it
/// panics): a lease renewal must never outlive its job.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    fn new(task: tokio::task::JoinHandle<()>) -> AbortOnDrop {
        AbortOnDrop(Some(task))
    }

    /// Wait for the task to end by itself.
    async fn join(mut self) {
        if let Some(task) = self.0.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The pause before attempt `attempts + 1` of a job: 2 s, doubling, at most
/// 5 minutes.
fn retry_delay(attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 9) - 1).unwrap_or(0);
    (Duration::from_secs(2) * 2u32.pow(exp)).min(Duration::from_secs(300))
}

impl WorkerContext {
    /// Run one worker until `shutdown` resolves; a job in progress is handed
    /// back. While the database fails, the worker pauses longer each time (up
    /// to 30 s) and reports the failure once a minute.
    pub async fn run(
        self: Arc<Self>,
        id: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        tracing::info!(worker.id = %id, "worker {id} started");
        let mut last_heartbeat: Option<std::time::Instant> = None;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        let mut claims = Throttled::new(format!("worker {id}: cannot claim a job"), REPORT_EVERY);
        let mut beats = Throttled::new(
            format!("worker {id}: cannot record a heartbeat"),
            REPORT_EVERY,
        );
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                match self.store.worker_heartbeat(&id).await {
                    Ok(()) => {
                        beats.succeeded();
                        last_heartbeat = Some(std::time::Instant::now());
                    }
                    Err(e) => beats.failed(&e),
                }
            }
            match self.store.claim_next_job(&id, self.lease).await {
                Ok(Some(job)) => {
                    claims.succeeded();
                    backoff.reset();
                    let job_id = job.id;
                    // its own task: a panic ends the job, not this worker
                    let mut running = tokio::spawn(self.clone().run_job(id.clone(), job));
                    tokio::select! {
                        r = &mut running => {
                            if let Err(e) = r {
                                tracing::error!(job.id = job_id, "job {job_id} ended abnormally: {e}");
                            }
                        }
                        _ = shutdown.changed() => {
                            // graceful shutdown: hand the job back for another worker
                            running.abort();
                            let _ = running.await;
                            let _ = self.store.release_job(job_id, &id).await;
                            break;
                        }
                    }
                }
                Ok(None) => {
                    claims.succeeded();
                    backoff.reset();
                    tokio::select! {
                        _ = self.jobs_queued.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    claims.failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff.pause()) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
        if let Err(e) = self.store.worker_stopped(&id).await {
            tracing::warn!("worker {id}: cannot record its stop: {e}");
        }
        tracing::info!(worker.id = %id, "worker {id} stopped");
    }

    /// Keep the lease of `job` while it runs; a refused renewal means the job
    /// is not ours any more (cancelled, or taken over after a stall), so the
    /// compose is told to stop.
    fn keep_lease(&self, worker: &str, job: &Job, stop: Arc<Stop>) -> AbortOnDrop {
        let (store, worker, lease, job_id) =
            (self.store.clone(), worker.to_owned(), self.lease, job.id);
        let every = (lease / 3).min(Duration::from_secs(2));
        AbortOnDrop::new(tokio::spawn(async move {
            let mut failing = Throttled::new(
                format!("job {job_id}: cannot renew its lease"),
                REPORT_EVERY,
            );
            loop {
                tokio::time::sleep(every).await;
                match store.renew_lease(job_id, &worker, lease).await {
                    Ok(true) => {
                        failing.succeeded();
                        let _ = store.worker_heartbeat(&worker).await;
                    }
                    Ok(false) => {
                        stop.set(StopReason::NotOurs);
                        break;
                    }
                    Err(e) => failing.failed(&e),
                }
            }
        }))
    }

    #[tracing::instrument(skip_all, fields(worker.id = %worker, job.id = job.id, job.kind = job.kind.name(), compose.id = job.compose_id))]
    async fn run_job(self: Arc<Self>, worker: String, job: Job) {
        if job.attempts > self.job_attempts {
            return self.give_up(&worker, &job).await;
        }
        let stop = Arc::new(Stop::default());
        let lease = self.keep_lease(&worker, &job, stop.clone());
        let result = match job.kind {
            JobKind::Generate => self.clone().generate(&worker, &job, stop).await,
            JobKind::Remove => self.remove(job.compose_id).await,
        };
        drop(lease);
        match result {
            Ok(()) => {
                if let Err(e) = self.store.finish_job(job.id, &worker).await {
                    // its lease runs out and the next claim finds the compose finished
                    tracing::warn!("job {}: cannot record it finished: {e}", job.id);
                }
            }
            Err(e) => {
                let delay = retry_delay(job.attempts);
                tracing::warn!(
                    compose.id = job.compose_id,
                    "compose {}: attempt {} of its {} job failed, trying again in {} s: {e:#}",
                    job.compose_id,
                    job.attempts,
                    job.kind.name(),
                    delay.as_secs()
                );
                let error = crate::throttle::error_text(e.as_ref());
                if let Err(e) = self
                    .store
                    .retry_job_later(job.id, &worker, delay, &error)
                    .await
                {
                    // the lease runs out and the job is claimed again
                    tracing::warn!("job {}: cannot queue it again: {e}", job.id);
                }
            }
        }
    }

    /// A job claimed more than `job_attempts` times: its compose fails with
    /// the last error (or, when its workers kept stopping, says so).
    async fn give_up(&self, worker: &str, job: &Job) {
        let id = job.compose_id;
        let why = job
            .last_error
            .clone()
            .unwrap_or_else(|| "the workers running it stopped before it finished".to_owned());
        let attempts = job.attempts - 1;
        let outcome = match job.kind {
            JobKind::Generate => match self.store.find_compose(id).await {
                Ok(c) if matches!(c.state, ComposeState::Wait | ComposeState::Generating) => {
                    let reason = format!(
                        "Error while generating compose: gave up after {attempts} attempts: {why}"
                    );
                    self.fail(&c, &reason).await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            },
            JobKind::Remove => {
                tracing::error!(
                    compose.id = id,
                    "compose {id}: gave up removing it after {attempts} attempts: {why}"
                );
                Ok(())
            }
        };
        match outcome {
            Ok(()) => {
                let _ = self.store.finish_job(job.id, worker).await;
            }
            Err(e) => {
                let _ = self
                    .store
                    .retry_job_later(job.id, worker, retry_delay(job.attempts), &why)
                    .await;
                tracing::warn!("compose {id}: cannot record its failure: {e}");
            }
        }
    }

    /// The tree and build directory of a compose that is not `done`: never
    /// served, and removed when it ends otherwise.
    async fn remove_unfinished_tree(&self, c: &ComposeRow) {
        let Some(target) = self.target_dirs.get(&c.target_dir) else {
            return;
        };
        let name = format!("odcs-{}", c.id);
        for dir in [target.path.join(&name), part_dir(&target.path, &name)] {
            if !dir.exists() {
                continue;
            }
            // the cache records of its RPMs follow them (unlinking moves ctime)
            let (caches, path) = (self.caches.clone(), dir.clone());
            let removed = tokio::task::spawn_blocking(move || {
                crate::compose::tree::remove_tree(&path, caches.caches())
            })
            .await;
            match removed {
                Ok(Ok(())) => tracing::info!(compose.id = c.id, "removed {}", dir.display()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
                Ok(Err(e)) => tracing::warn!("{}: cannot remove it: {e}", dir.display()),
                Err(e) => tracing::warn!("{}: cannot remove it: {e}", dir.display()),
            }
        }
    }

    /// What a failed compose's `state_reason` says: the error's text with
    /// paths on this server outside the compose shown relative to what they
    /// are (`<koji topdir>/packages/…`; the compose's own paths relative to
    /// the compose, as the original shows them under the target URL), and
    /// cut short past [`MAX_REASON_CHARS`] (the whole text is in the
    /// compose's log).
    fn public_reason(&self, id: i64, text: &str) -> String {
        let name = format!("odcs-{id}");
        let mut out = text.to_owned();
        for target in self.target_dirs.all() {
            let url = target.url.clone().unwrap_or_else(|| "<target dir>".into());
            let part = part_dir(&target.path, &name);
            out = out.replace(&part.display().to_string(), &format!("{url}/{name}"));
            out = out.replace(&target.path.display().to_string(), &url);
        }
        if let Some((root, label)) = self.source.location() {
            out = out.replace(&root.display().to_string(), label);
        }
        cut_short(&out, MAX_REASON_CHARS)
    }

    /// Fail compose `id` with `reason` (a compose failure, a panic): recorded
    /// once, its unfinished tree removed. A compose that is not `wait` or
    /// `generating` any more (cancelled meanwhile) is left as it is.
    async fn fail(&self, c: &ComposeRow, reason: &str) -> anyhow::Result<()> {
        // first the tree: once the compose says failed, nothing of it is left
        self.remove_unfinished_tree(c).await;
        let reason = self.public_reason(c.id, reason);
        match self.store.mark_failed(c.id, &reason).await {
            Ok(_) => {
                self.metrics.failed();
                tracing::warn!(compose.id = c.id, "compose {} failed: {reason}", c.id);
            }
            Err(StoreError::InvalidState { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(compose.id = job.compose_id))]
    async fn generate(
        self: Arc<Self>,
        worker: &str,
        job: &Job,
        stop: Arc<Stop>,
    ) -> anyhow::Result<()> {
        let id = job.compose_id;
        let c = self.store.find_compose(id).await?;
        // one retry budget for all of this compose's calls to the source
        let source: Arc<dyn PackageSource + Send> = Arc::from(self.source.for_compose());
        let c = match c.state {
            // still deciding: reuse an equal compose, or build its own tree
            ComposeState::Wait => {
                if self.clone().decide(worker, &c, &source).await? {
                    return Ok(());
                }
                match self.store.mark_generating(id).await {
                    Ok(c) => c,
                    // cancelled meanwhile
                    Err(StoreError::InvalidState { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
            }
            // a reusing compose whose job was run again: it follows its leader
            ComposeState::Generating if c.reused_id.is_some() => {
                let leader = c.reused_id.unwrap_or(c.id);
                return self.follow(id, leader).await;
            }
            // a retry of its own build: start over
            ComposeState::Generating => c,
            _ => return Ok(()),
        };
        self.build(job, c, source, stop).await
    }

    /// Build compose `c`'s own tree with the engine and record the outcome.
    async fn build(
        &self,
        job: &Job,
        c: ComposeRow,
        source: Arc<dyn PackageSource + Send>,
        stop: Arc<Stop>,
    ) -> anyhow::Result<()> {
        let id = c.id;
        let Some(target) = self.target_dirs.get(&c.target_dir).cloned() else {
            let reason = format!(
                "Error while generating compose: its target directory {:?} is not configured on this server",
                c.target_dir
            );
            return self.fail(&c, &reason).await;
        };
        if let Err(e) = self.store.set_progress(id, "Compose is generating").await {
            tracing::warn!(compose.id = id, "compose {id}: cannot record progress: {e}");
        }
        // a renewal of a removed compose takes its stored package set
        // (a pulp compose has none: it asks Pulp again)
        let pulp = (c.source_type == crate::domain::SourceType::Pulp.code()).then(|| {
            let flags = crate::compose::pulp::PulpFlags {
                include_unpublished: flag(&c, Flag::IncludeUnpublishedPulpRepos),
                ignore_absent: flag(&c, Flag::IgnoreAbsentPulpRepos),
                use_only_compatible_arch: flag(&c, Flag::UseOnlyCompatibleArch),
            };
            (self.pulp.clone(), flags, self.arches.clone())
        });
        let stored: Option<Vec<ComposedRpm>> = match c.replay_of {
            Some(_) if pulp.is_some() => None,
            Some(old) => {
                let rows = self.store.compose_rpms(old).await?;
                if rows.is_empty() {
                    let reason = format!(
                        "Error while generating compose: compose {old} has no stored package set, so it cannot be recreated with exactly the same RPMs; ask for a new compose instead"
                    );
                    return self.fail(&c, &reason).await;
                }
                Some(rows.iter().map(composed_rpm).collect())
            }
            None => None,
        };
        let mut req = engine_request(&c, &self.target_dirs, self.lookaside_limits);
        req.base_module_names = self.base_modules.clone();
        req.module_defaults_dir = self.module_defaults_dir.clone();
        req.module_defaults_cache = Some(self.module_defaults_cache.clone());
        req.mirror_dir = Some(self.module_defaults_cache.join("repo-mirrors"));
        // finished by a run that died before recording it: build it again
        self.remove_unfinished_tree(&c).await;
        let caches = self.caches.clone();
        // progress goes to the compose's `progress` field and to a log beside
        // the tree (`<target>/odcs-<id>.log`, served with the trees)
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let log_path = target.path.join(format!("odcs-{id}.log"));
        let progress = JobProgress::new(tx, &log_path, stop.clone());
        progress.log(&format!(
            "attempt {} of compose {id} ({} {})",
            job.attempts,
            crate::domain::SourceType::from_code(c.source_type).map_or("?", |t| t.name()),
            c.source
        ));
        let store = self.store.clone();
        let reporter = AbortOnDrop::new(tokio::spawn(async move {
            let mut failing = Throttled::new(
                format!("compose {id}: cannot record progress"),
                REPORT_EVERY,
            );
            while let Some(text) = rx.recv().await {
                match store.set_progress(id, &text).await {
                    Ok(()) => failing.succeeded(),
                    Err(e) => failing.failed(&e),
                }
            }
        }));
        // the timeout counts from the compose's first start
        let ran = c
            .time_started
            .map(|t| crate::store::Timestamp::now().unix_seconds() - t.unix_seconds())
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or_default();
        let left = self.compose_timeout.saturating_sub(ran);
        let _timer = {
            let stop = stop.clone();
            AbortOnDrop::new(tokio::spawn(async move {
                tokio::time::sleep(left).await;
                stop.set(StopReason::Timeout);
            }))
        };
        let event = c.koji_event.unwrap_or_default();
        let target_path = target.path.clone();
        let progress = Arc::new(progress);
        let engine_progress = progress.clone();
        // a raw_config compose is Pungi's: what it needs of the row
        let raw = (c.source_type == crate::domain::SourceType::RawConfig.code())
            .then(|| (self.pungi.clone(), c.clone()));
        // a tag or build compose with a result only Pungi makes is Pungi's
        let pungi_results = i64::from(
            crate::domain::ResultKind::BootIso.bit() | crate::domain::ResultKind::Ostree.bit(),
        );
        let full = (c.results & pungi_results != 0 && raw.is_none() && stored.is_none())
            .then(|| (self.pungi.clone(), c.clone()));
        let (claim_store, claim_handle) = (self.store.clone(), tokio::runtime::Handle::current());
        let target_dirs = self.target_dirs.clone();
        let outcome = tokio::task::spawn_blocking(move || match stored {
            None if pulp.is_some() => {
                let (client, flags, arches) = pulp.expect("checked");
                let client = client.ok_or_else(|| {
                    ComposeError::Pulp(
                        "pulp composes need Pulp, which this server is not configured with ([pulp] in the configuration)".into(),
                    )
                })?;
                crate::compose::pulp::run_pulp(
                    &req,
                    flags,
                    &arches,
                    &client,
                    &target_path,
                    engine_progress.as_ref(),
                )
            }
            Some(stored) => {
                engine_progress.log(&format!(
                    "recreating the {} RPMs of the stored package set",
                    stored.len()
                ));
                // a module compose's source is its exact builds, a tag
                // compose's modules those of its modular tags at its event:
                // their modulemd goes into the recreated repositories again
                let mut modules = Vec::new();
                if req.source_type == SourceType::Tag && !req.modular_koji_tags.is_empty() {
                    // the modules of the modular tags at the compose's event
                    modules = crate::compose::modules::tag_modules(
                        &req.modular_koji_tags,
                        event,
                        source.as_ref(),
                    )
                    .map_err(ComposeError::Source)?;
                } else if req.source_type == SourceType::Module {
                    for nsvc in &req.source {
                        modules.extend(
                            source
                                .module_builds(&crate::source::ModuleQuery::new(
                                    nsvc.clone(),
                                    event,
                                ))
                                .map_err(ComposeError::Source)?,
                        );
                    }
                }
                for nsvc in &req.scratch_modules {
                    modules.push(
                        source
                            .scratch_module(nsvc, &req.arches)
                            .map_err(ComposeError::Source)?,
                    );
                }
                let work = target_path.join(format!(".{}.defaults", req.name));
                let fetched = crate::compose::modules::defaults_for(&req, &modules, &work);
                let _ = std::fs::remove_dir_all(&work);
                let defaults = fetched?;
                replay_compose(
                    &req,
                    &stored,
                    (&modules, &defaults),
                    event,
                    caches.caches(),
                    &target_path,
                    engine_progress.as_ref(),
                )
            }
            None if full.is_some() => {
                let (pungi, c) = full.expect("checked");
                let setup = pungi.ok_or_else(|| {
                    ComposeError::Pungi(
                        "boot.iso and ostree results need Pungi, which this server is not configured with ([pungi] in the configuration)".into(),
                    )
                })?;
                let event = match c.koji_event {
                    Some(e) => Some(e),
                    None if req.source_type == SourceType::Tag => {
                        Some(source.current_event().map_err(ComposeError::Source)?)
                    }
                    None => None,
                };
                let bit = |r: crate::domain::ResultKind| c.results & i64::from(r.bit()) != 0;
                // a module compose's modules are resolved here, as the
                // original resolves them before Pungi: Pungi gets the exact
                // N:S:V:C list in variants.xml
                let mut req = req;
                let mut nsvcs = Vec::new();
                if req.source_type == SourceType::Module && !req.source.is_empty() {
                    let at = match c.koji_event {
                        Some(e) => e,
                        None => source.current_event().map_err(ComposeError::Source)?,
                    };
                    let template = crate::source::ModuleQuery {
                        spec: String::new(),
                        event: at,
                        include_done: req.flags.include_done_modules,
                        base_module_br: req.base_module_br.clone(),
                    };
                    let modules = crate::compose::modules::resolve_modules(
                        &req.source,
                        &req.base_module_names,
                        &template,
                        &|q| source.module_builds(q),
                        !req.flags.no_deps,
                    )?;
                    nsvcs = modules.iter().map(|m| m.nsvc()).collect();
                    nsvcs.sort();
                    req.source = nsvcs.clone();
                }
                crate::compose::pungi::run_full(
                    &setup,
                    &crate::compose::pungi::FullRequest {
                        req: &req,
                        boot_iso: bit(crate::domain::ResultKind::BootIso),
                        ostree: bit(crate::domain::ResultKind::Ostree),
                        no_reuse: flag(&c, Flag::NoReuse),
                        compose_type: c.compose_type.as_deref().unwrap_or("test"),
                        label: c.label.as_deref(),
                        mbs_api_url: setup.mbs_api_url.clone(),
                        koji_profile: "koji",
                        flags: c.flags,
                        respin_of: c.respin_of.as_deref(),
                        parent_compose_ids: c.parent_pungi_compose_ids.as_deref(),
                    },
                    event,
                    &target_path,
                    engine_progress.as_ref(),
                )
                .map(|mut r| {
                    r.modules = nsvcs;
                    r
                })
            }
            None => match raw {
                Some((pungi, c)) => {
                    let compose_json = crate::api::compose_json(&c, &target_dirs, false);
                    // the next free respin, claimed for this compose at once
                    let claim = |prefix: &str| -> i64 {
                        claim_handle.block_on(async {
                            let taken = claim_store
                                .pungi_ids_with_prefix(prefix)
                                .await
                                .unwrap_or_default();
                            let respin = crate::compose::pungi::next_respin(&taken, prefix);
                            if let Err(e) = claim_store
                                .set_pungi(c.id, &format!("{prefix}{respin}"), None)
                                .await
                            {
                                tracing::warn!("compose {}: cannot claim its Pungi id: {e}", c.id);
                            }
                            respin
                        })
                    };
                    let setup = pungi.ok_or_else(|| {
                        ComposeError::Pungi(
                            "raw_config composes need Pungi, which this server is not configured with ([pungi] in the configuration)".into(),
                        )
                    })?;
                    let event = match c.koji_event {
                        Some(e) => e,
                        None => source.current_event().map_err(ComposeError::Source)?,
                    };
                    crate::compose::pungi::run_raw_config(
                        &setup,
                        &crate::compose::pungi::RawRequest {
                            name: &req.name,
                            source: &c.source,
                            compose_type: c.compose_type.as_deref().unwrap_or("test"),
                            label: c.label.as_deref(),
                            koji_event: event,
                            respin_of: c.respin_of.as_deref(),
                            parent_compose_ids: c.parent_pungi_compose_ids.as_deref(),
                            config_dump: c.pungi_config_dump.as_deref(),
                            compose_json: &compose_json,
                            claim_respin: &claim,
                        },
                        &target_path,
                        engine_progress.as_ref(),
                    )
                }
                None => run_compose(
                    &req,
                    source.as_ref(),
                    caches.caches(),
                    &target_path,
                    engine_progress.as_ref(),
                ),
            },
        })
        .await;
        // what this compose read only to its headers is read whole behind
        // it, so the next compose choosing those packages opens no RPM
        crate::compose::resident::complete_in_background(self.caches.clone());
        let r = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(ComposeError::Cancelled)) if stop.reason() == Some(StopReason::Timeout) => {
                let reason = format!(
                    "Error while generating compose: it ran longer than the compose timeout ({} seconds)",
                    self.compose_timeout.as_secs()
                );
                progress.log(&reason);
                return self.fail(&c, &reason).await;
            }
            Ok(Err(ComposeError::Cancelled)) => {
                // the job was cancelled (the compose is already failed) or
                // taken over by another worker, whose run will record it
                progress.log(
                    "stopped: the compose was cancelled, or its job was taken over by another worker",
                );
                tracing::info!(
                    compose.id = id,
                    "compose {id}: stopped, its job is not ours any more"
                );
                return Ok(());
            }
            Ok(Err(e)) => {
                let reason = format!("Error while generating compose: {e}");
                progress.log(&format!("failed: {e}"));
                return self.fail(&c, &reason).await;
            }
            Err(join) if join.is_panic() => {
                let message = panic_message(join.into_panic().as_ref());
                let reason =
                    format!("Error while generating compose: internal error (a bug): {message}");
                progress.log(&reason);
                tracing::error!(
                    compose.id = id,
                    "compose {id}: the engine panicked: {message}"
                );
                return self.fail(&c, &reason).await;
            }
            Err(join) => return Err(join.into()),
        };
        let rpms: Vec<StoredRpm> = r.rpms.iter().map(stored_rpm).collect();
        let summary = format!("done: {} RPMs at event {}", rpms.len(), r.event);
        progress.log(&summary);
        // the last phases are recorded before the summary, not after it
        drop(progress);
        reporter.join().await;
        if let Err(e) = self.store.set_progress(id, &summary).await {
            tracing::warn!(compose.id = id, "compose {id}: cannot record progress: {e}");
        }
        let event = if c.replay_of.is_some() || r.pulp.is_some() {
            c.koji_event
        } else {
            Some(r.event)
        };
        // a module compose records the exact builds it holds, sorted, as
        // the original did: a compose made again from it has the same modules
        // (scratch modules stay in their own field, as in the original)
        let scratch = words(&c.scratch_modules);
        let mut exact: Vec<String> = r
            .modules
            .iter()
            .filter(|m| !scratch.contains(m))
            .cloned()
            .collect();
        exact.sort();
        if !exact.is_empty()
            && c.source_type == crate::domain::SourceType::Module.code()
            && let Err(e) = self.store.set_source(id, &exact.join(" ")).await
        {
            tracing::warn!(
                compose.id = id,
                "compose {id}: cannot record its modules: {e}"
            );
        }
        // a pulp compose records what Pulp answered: the repositories'
        // arches and keys, and the sources found when absent ones were dropped
        if let Some(p) = &r.pulp
            && let Err(e) = self
                .store
                .set_pulp_result(
                    id,
                    p.source.as_deref(),
                    &p.arches.join(" "),
                    &p.sigkeys.join(" "),
                )
                .await
        {
            tracing::warn!(
                compose.id = id,
                "compose {id}: cannot record what Pulp answered: {e}"
            );
        }
        if let Some(p) = &r.pungi
            && let Err(e) = self
                .store
                .set_pungi(id, &p.compose_id, p.config_dump.as_deref())
                .await
        {
            tracing::warn!(
                compose.id = id,
                "compose {id}: cannot record what Pungi answered: {e}"
            );
        }
        match self.store.mark_done(id, event, &rpms).await {
            Ok(_) => {
                self.metrics.record(&r.timings);
                tracing::info!(compose.id = id, "compose {id} done: {} RPMs", rpms.len());
                Ok(())
            }
            Err(StoreError::InvalidState { state, .. }) => {
                // cancelled just as it finished: its tree goes too
                tracing::info!(
                    compose.id = id,
                    "compose {id} finished but is {}: its tree is removed",
                    state.name()
                );
                self.remove_unfinished_tree(&c).await;
                Ok(())
            }
            // the tree stays unserved (the compose is not done) until the
            // job runs again, which builds it again
            Err(e) => Err(e.into()),
        }
    }
}

/// What the store keeps of an RPM of a finished compose.
fn stored_rpm(rpm: &ComposedRpm) -> StoredRpm {
    StoredRpm {
        nevra: rpm.nevra.clone(),
        srpm_nevra: rpm.srpm_nevra.clone(),
        arch: rpm.arch.clone(),
        category: rpm.category.to_owned(),
        path: rpm.path.clone(),
        sigkey: rpm.sigkey.clone(),
        checksum: rpm.checksum.clone(),
        build_nvr: rpm.build_nvr.clone(),
        source_path: rpm.source_path.to_string_lossy().into_owned(),
    }
}

/// The engine's record of a stored RPM, to recreate its compose from.
fn composed_rpm(rpm: &StoredRpm) -> ComposedRpm {
    ComposedRpm {
        nevra: rpm.nevra.clone(),
        srpm_nevra: rpm.srpm_nevra.clone(),
        arch: rpm.arch.clone(),
        category: match rpm.category.as_str() {
            "source" => "source",
            "debug" => "debug",
            _ => "binary",
        },
        path: rpm.path.clone(),
        sigkey: rpm.sigkey.clone(),
        checksum: rpm.checksum.clone(),
        build_nvr: rpm.build_nvr.clone(),
        source_path: rpm.source_path.clone().into(),
    }
}

/// `text` cut to at most `max` characters, saying how much was left out.
fn cut_short(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max).collect();
    format!(
        "{kept}… ({} more characters in the compose's log)",
        total - max
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=10).map(|a| retry_delay(a).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
    }

    #[test]
    fn long_reasons_are_cut_saying_how_much_is_left_out() {
        assert_eq!(cut_short("short", 10), "short");
        let long = "é".repeat(30);
        let cut = cut_short(&long, 10);
        assert!(cut.starts_with(&"é".repeat(10)), "{cut}");
        assert!(
            cut.ends_with("… (20 more characters in the compose's log)"),
            "{cut}"
        );
    }
}
