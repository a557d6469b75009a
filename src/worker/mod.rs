//! Workers: claim compose jobs from the database queue, run the compose
//! engine, record the result; and the reaper that removes expired composes.
//!
//! Why leases: a worker holds a job only while it keeps renewing its lease
//! (every third of the lease); if it dies, the lease runs out and another
//! worker (on any host sharing the database and the target directory) takes
//! the job up again. A job is safe to run twice: the engine builds into a
//! temporary directory and renames it into place, and a tree left by a run that
//! died after the rename but before recording `done` is removed and rebuilt.
//!
//! A renewal of a removed compose (`replay_of`) is not resolved again: the
//! engine recreates it from the stored package set (DESIGN.md: every compose
//! stores its exact package set, so a renewal rebuilds exactly the same
//! repository).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::validate::{FLAGS, MULTILIB};
use crate::compose::Progress;
use crate::compose::createrepo::CacheDir;
use crate::compose::engine::{
    ComposeError, ComposeFlags, ComposeRequest, ComposedRpm, MultilibMethod, SourceType,
    replay_compose, run_compose,
};
use crate::source::PackageSource;
use crate::store::{
    ComposeRow, ComposeState, Job, JobKind, Store, StoreError, StoredRpm, Timestamp,
};

/// What every worker shares.
pub struct WorkerContext {
    pub store: Store,
    pub source: Arc<dyn PackageSource + Send>,
    pub caches: Arc<CacheDir>,
    pub target_dir: PathBuf,
    pub target_dir_url: String,
    pub lease: Duration,
    pub jobs_queued: Arc<tokio::sync::Notify>,
    pub metrics: Arc<WorkerMetrics>,
}

/// What this process's workers did, for `/api/1/metrics/`: time spent per
/// compose phase, and composes finished and failed.
#[derive(Default)]
pub struct WorkerMetrics {
    phases: std::sync::Mutex<std::collections::BTreeMap<&'static str, (f64, u64)>>,
    done: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl WorkerMetrics {
    fn record(&self, timings: &[(&'static str, Duration)]) {
        if let Ok(mut p) = self.phases.lock() {
            for (name, d) in timings {
                let e = p.entry(name).or_insert((0.0, 0));
                e.0 += d.as_secs_f64();
                e.1 += 1;
            }
        }
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = String::from(
            "# HELP odcs_compose_phase_seconds Time spent in each compose phase by this process's workers\n# TYPE odcs_compose_phase_seconds summary\n",
        );
        if let Ok(p) = self.phases.lock() {
            for (name, (sum, count)) in p.iter() {
                out.push_str(&format!(
                    "odcs_compose_phase_seconds_sum{{phase=\"{name}\"}} {sum:.6}\n"
                ));
                out.push_str(&format!(
                    "odcs_compose_phase_seconds_count{{phase=\"{name}\"}} {count}\n"
                ));
            }
        }
        out.push_str(&format!(
            "# HELP odcs_composes_generated_total Composes this process's workers finished\n# TYPE odcs_composes_generated_total counter\nodcs_composes_generated_total {}\n",
            self.done.load(Relaxed)
        ));
        out.push_str(&format!(
            "# HELP odcs_compose_errors_total Composes this process's workers failed\n# TYPE odcs_compose_errors_total counter\nodcs_compose_errors_total {}\n",
            self.failed.load(Relaxed)
        ));
        out
    }
}

/// How often an idle worker records that it is alive (for the metrics).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// `source_type` of tag composes (odcs-api.md §2).
const SOURCE_TAG: i64 = 1;

fn flag(c: &ComposeRow, name: &str) -> bool {
    FLAGS
        .iter()
        .find(|(n, _)| *n == name)
        .is_some_and(|(_, b)| c.flags as u32 & b != 0)
}

fn words(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The engine request for a stored compose.
pub fn engine_request(c: &ComposeRow, target_dir_url: &str) -> ComposeRequest {
    let name = format!("odcs-{}", c.id);
    let (source_type, source) = if c.source_type == 6 {
        let mut nvrs = words(&Some(c.source.clone()));
        nvrs.extend(words(&c.builds));
        (SourceType::Build, nvrs)
    } else {
        (SourceType::Tag, vec![c.source.clone()])
    };
    ComposeRequest {
        url: format!("{}/{name}", target_dir_url.trim_end_matches('/')),
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
            no_deps: flag(c, "no_deps"),
            no_inheritance: flag(c, "no_inheritance"),
            check_deps: flag(c, "check_deps"),
        },
        lookaside_repos: words(&c.lookaside_repos),
        multilib_arches: words(&Some(c.multilib_arches.clone())),
        multilib_methods: MULTILIB
            .iter()
            .filter(|(_, b)| *b != 0 && c.multilib_method as u32 & b != 0)
            .map(|(n, _)| match *n {
                "runtime" => MultilibMethod::Runtime,
                "devel" => MultilibMethod::Devel,
                _ => MultilibMethod::All,
            })
            .collect(),
        event: c.koji_event,
    }
}

impl WorkerContext {
    /// Run one worker until `shutdown` resolves; a job in progress is handed back.
    pub async fn run(
        self: Arc<Self>,
        id: String,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        tracing::info!(worker.id = %id, "worker {id} started");
        let mut last_heartbeat: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
                match self.store.worker_heartbeat(&id).await {
                    Ok(()) => last_heartbeat = Some(std::time::Instant::now()),
                    Err(e) => tracing::warn!("worker {id}: cannot record a heartbeat: {e}"),
                }
            }
            match self.store.claim_next_job(&id, self.lease).await {
                Ok(Some(job)) => {
                    let job_id = job.id;
                    tokio::select! {
                        _ = self.clone().run_job(&id, job) => {}
                        _ = shutdown.changed() => {
                            // graceful shutdown: hand the job back for another worker
                            let _ = self.store.release_job(job_id, &id).await;
                            break;
                        }
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        _ = self.jobs_queued.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!("worker {id}: cannot claim a job: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        if let Err(e) = self.store.worker_stopped(&id).await {
            tracing::warn!("worker {id}: cannot record its stop: {e}");
        }
        tracing::info!(worker.id = %id, "worker {id} stopped");
    }

    #[tracing::instrument(skip_all, fields(worker.id = worker, job.id = job.id, job.kind = job.kind.name(), compose.id = job.compose_id))]
    async fn run_job(self: Arc<Self>, worker: &str, job: Job) {
        // keep the lease while the job runs; a refused renewal means the job
        // is not ours any more (cancelled, or taken over after a stall), so
        // the compose is told to stop
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renew = {
            let (store, worker, lease, job_id) =
                (self.store.clone(), worker.to_owned(), self.lease, job.id);
            let stop = stop.clone();
            let every = (lease / 3).min(Duration::from_secs(2));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store.renew_lease(job_id, &worker, lease).await {
                        Ok(true) => {
                            let _ = store.worker_heartbeat(&worker).await;
                        }
                        Ok(false) => {
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        Err(e) => tracing::warn!("job {job_id}: cannot renew the lease: {e}"),
                    }
                }
            })
        };
        let result = match job.kind {
            JobKind::Generate => self.clone().generate(worker, job.compose_id, stop).await,
            JobKind::Remove => self.remove(job.compose_id, None).await,
        };
        renew.abort();
        if let Err(e) = result {
            tracing::error!(
                compose.id = job.compose_id,
                "compose {}: {e:#}",
                job.compose_id
            );
        }
        if let Err(e) = self.store.finish_job(job.id, worker).await {
            tracing::error!("job {}: cannot finish: {e}", job.id);
        }
    }

    #[tracing::instrument(skip_all, fields(compose.id = id))]
    async fn generate(
        self: Arc<Self>,
        worker: &str,
        id: i64,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> anyhow::Result<()> {
        let c = self.store.find_compose(id).await?;
        match c.state {
            ComposeState::Wait => {
                self.store.mark_generating(id).await?;
            }
            // a retry after a worker died: start over
            ComposeState::Generating => {}
            _ => return Ok(()),
        }
        // reuse an equal compose (odcs-api.md §5.5)
        let other = if flag(&c, "no_reuse") {
            None
        } else {
            self.clone().reusable(worker, &c).await?
        };
        if let Some(other) = other {
            // it may have failed meanwhile: then this compose is generated
            if let Ok(row) = self.store.mark_reused(id, other.id).await {
                tracing::info!(compose.id = id, "compose {id} reuses compose {}", other.id);
                if row.state == ComposeState::Generating {
                    self.follow(id, other.id).await?;
                }
                return Ok(());
            }
        }
        self.store.set_progress(id, "Compose is generating").await?;
        // a renewal of a removed compose takes its stored package set
        let stored: Vec<ComposedRpm> = match c.replay_of {
            Some(old) => self
                .store
                .compose_rpms(old)
                .await?
                .iter()
                .map(StoredRpm::to_composed)
                .collect(),
            None => Vec::new(),
        };
        let replay = !stored.is_empty();
        let req = engine_request(&c, &self.target_dir_url);
        let dir = self.target_dir.join(&req.name);
        if dir.exists() {
            // finished by a run that died before recording it: build it again
            tokio::fs::remove_dir_all(&dir).await?;
        }
        let (source, caches, target) = (
            self.source.clone(),
            self.caches.clone(),
            self.target_dir.clone(),
        );
        // progress goes to the compose's `progress` field and to a log beside
        // the tree (`<target>/odcs-<id>.log`, served with the trees)
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let log_path = self.target_dir.join(format!("odcs-{id}.log"));
        let progress = JobProgress::new(tx, &log_path, stop);
        let store = self.store.clone();
        let reporter = tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if let Err(e) = store.set_progress(id, &text).await {
                    tracing::warn!("compose {id}: cannot record progress: {e}");
                }
            }
        });
        let event = c.koji_event.unwrap_or_default();
        let outcome = tokio::task::spawn_blocking(move || {
            let r = if replay {
                progress.log(&format!(
                    "recreating the {} RPMs of the stored package set",
                    stored.len()
                ));
                replay_compose(&req, &stored, event, caches.caches(), &target, &progress)
            } else {
                run_compose(&req, source.as_ref(), caches.caches(), &target, &progress)
            };
            match &r {
                Ok(res) => progress.log(&format!(
                    "done: {} RPMs at event {}",
                    res.rpms.len(),
                    res.event
                )),
                Err(e) => progress.log(&format!("failed: {e}")),
            }
            r
        })
        .await?;
        let _ = reporter.await;
        match outcome {
            Ok(r) => {
                self.metrics.record(&r.timings);
                self.metrics
                    .done
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let rpms: Vec<StoredRpm> = r.rpms.iter().map(StoredRpm::from).collect();
                let summary = format!("done: {} RPMs at event {}", rpms.len(), r.event);
                self.store.set_progress(id, &summary).await?;
                let event = if replay { c.koji_event } else { Some(r.event) };
                match self.store.mark_done(id, event, &rpms).await {
                    Ok(_) => {
                        tracing::info!(compose.id = id, "compose {id} done: {} RPMs", rpms.len())
                    }
                    Err(StoreError::InvalidState { state, .. }) => {
                        // cancelled just as it finished: its tree goes too
                        tracing::info!(
                            compose.id = id,
                            "compose {id} finished but is {}: its tree is removed",
                            state.name()
                        );
                        tokio::fs::remove_dir_all(&r.dir).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Err(ComposeError::Cancelled) => {
                // the job was cancelled (the compose is already failed) or
                // taken over by another worker, whose run will record it
                tracing::info!(
                    compose.id = id,
                    "compose {id}: stopped, its job is not ours any more"
                );
            }
            Err(e) => {
                self.metrics
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let reason = format!("Error while generating compose: {e}");
                self.store.mark_failed(id, &reason).await?;
                tracing::warn!(compose.id = id, "compose {id} failed: {e}");
            }
        }
        Ok(())
    }

    /// Finish a reusing compose with the compose it reuses. The store moves
    /// reusing composes along when the reused one finishes; this covers a link
    /// made while that transition was being committed.
    async fn follow(&self, id: i64, leader: i64) -> anyhow::Result<()> {
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
    /// fixed builds, the fingerprint (which holds a requested event) is enough.
    async fn reusable(
        self: Arc<Self>,
        worker: &str,
        c: &ComposeRow,
    ) -> anyhow::Result<Option<ComposeRow>> {
        let Some(fp) = &c.fingerprint else {
            return Ok(None);
        };
        'retry: for _ in 0..300 {
            let candidates = self.store.find_reusable_composes(fp, c.id, 10).await?;
            for other in candidates {
                match other.state {
                    // an older equal compose still waiting for the same event:
                    // start it here if its job is free (else another worker
                    // is starting it), then look again
                    ComposeState::Wait if other.koji_event == c.koji_event => {
                        match self
                            .store
                            .claim_job_for(worker, self.lease, other.id)
                            .await?
                        {
                            Some(job) => Box::pin(self.clone().run_job(worker, job)).await,
                            None => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                        continue 'retry;
                    }
                    _ => {
                        if self.answers(c, &other).await? {
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
    async fn answers(&self, c: &ComposeRow, other: &ComposeRow) -> anyhow::Result<bool> {
        Ok(match other.state {
            ComposeState::Generating => other.koji_event == c.koji_event,
            ComposeState::Done if c.source_type != SOURCE_TAG => true,
            ComposeState::Done => match (other.koji_event, c.koji_event) {
                (None, _) => false,
                (Some(theirs), Some(mine)) if mine == theirs => true,
                // a renewal of an older compose must not pick a newer one
                (Some(theirs), Some(mine)) if mine < theirs => false,
                (Some(theirs), _) => {
                    let (source, tag) = (self.source.clone(), c.source.clone());
                    let inherit = !flag(c, "no_inheritance");
                    let changed = tokio::task::spawn_blocking(move || {
                        source.tag_changed_since(&tag, theirs, inherit)
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

    /// Delete an expired compose's files (unless it reuses another) and mark it removed.
    #[tracing::instrument(skip_all, fields(compose.id = id))]
    async fn remove(&self, id: i64, _reason: Option<&str>) -> anyhow::Result<()> {
        let c = self.store.find_compose(id).await?;
        if c.state == ComposeState::Removed {
            return Ok(());
        }
        if c.reused_id.is_none() {
            let dir = self.target_dir.join(format!("odcs-{id}"));
            if dir.exists() {
                let caches = self.caches.clone();
                tokio::task::spawn_blocking(move || {
                    crate::compose::tree::remove_tree(&dir, caches.caches())
                })
                .await??;
            }
            let _ = tokio::fs::remove_file(self.target_dir.join(format!("odcs-{id}.log"))).await;
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
        self.store
            .mark_removed(id, c.removed_by.as_deref(), &reason)
            .await?;
        tracing::info!(compose.id = id, "compose {id} removed");
        Ok(())
    }

    /// Remove every expired compose; returns how many.
    pub async fn reap(&self) -> anyhow::Result<usize> {
        let expired = self.store.expired_composes(Timestamp::now()).await?;
        for c in &expired {
            self.remove(c.id, None).await?;
        }
        Ok(expired.len())
    }

    /// Remove what the target directory holds that no compose accounts for
    /// (odcs-api.md §5.6): trees and logs of composes that are removed or
    /// unknown to the database, and build directories (`.odcs-<id>.part`)
    /// of composes no worker is building any more (a worker that died and
    /// whose compose was then cancelled leaves one). Returns what it removed.
    pub async fn sweep(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.target_dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let Some((id, building)) = name.to_str().and_then(compose_entry) else {
                continue;
            };
            let state = match self.store.find_compose(id).await {
                Ok(c) => Some(c.state),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let orphan = match state {
                None | Some(ComposeState::Removed) => true,
                Some(ComposeState::Wait | ComposeState::Generating) => false,
                Some(ComposeState::Done | ComposeState::Failed) => building,
            };
            if !orphan {
                continue;
            }
            let path = entry.path();
            let gone = if entry.file_type().await?.is_dir() {
                tokio::fs::remove_dir_all(&path).await
            } else {
                tokio::fs::remove_file(&path).await
            };
            match gone {
                Ok(()) => {
                    tracing::info!(
                        compose.id = id,
                        "removed {}: no compose accounts for it",
                        path.display()
                    );
                    removed.push(path);
                }
                // removed meanwhile (by the reaper of another host)
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// The reaper loop.
    pub async fn reaper(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.reap().await {
                tracing::error!("reaper: {e:#}");
            }
            if let Err(e) = self.sweep().await {
                tracing::error!("reaper: sweeping {}: {e:#}", self.target_dir.display());
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.jobs_queued.notified() => {}
                _ = shutdown.changed() => break,
            }
        }
    }
}

/// The compose an entry of the target directory belongs to, and whether it is
/// a build directory: `odcs-12`, `odcs-12.log`, `odcs-12-1-20171005.n.0` →
/// (12, false); `.odcs-12.part` → (12, true).
fn compose_entry(name: &str) -> Option<(i64, bool)> {
    let (rest, building) = match name.strip_prefix(".odcs-") {
        Some(rest) => (rest.strip_suffix(".part")?, true),
        None => (name.strip_prefix("odcs-")?, false),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let after = &rest[digits..];
    let tail_ok = if building {
        after.is_empty()
    } else {
        after.is_empty() || after.starts_with('-') || after == ".log"
    };
    if digits == 0 || !tail_ok {
        return None;
    }
    Some((rest[..digits].parse().ok()?, building))
}

/// Progress of one compose: phases and counts, sent (at most twice a second)
/// to be recorded on the compose, and every phase written to its log.
struct JobProgress {
    stop: Arc<std::sync::atomic::AtomicBool>,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
    state: std::sync::Mutex<ProgressState>,
    log: std::sync::Mutex<Option<std::fs::File>>,
}

struct ProgressState {
    phase: String,
    total: Option<u64>,
    done: u64,
    last_sent: std::time::Instant,
}

impl JobProgress {
    fn new(
        tx: tokio::sync::mpsc::UnboundedSender<String>,
        log_path: &std::path::Path,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) -> JobProgress {
        JobProgress {
            stop,
            tx,
            state: std::sync::Mutex::new(ProgressState {
                phase: String::new(),
                total: None,
                done: 0,
                last_sent: std::time::Instant::now(),
            }),
            log: std::sync::Mutex::new(std::fs::File::create(log_path).ok()),
        }
    }

    fn log(&self, line: &str) {
        use std::io::Write;
        if let Ok(mut guard) = self.log.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{} {line}", Timestamp::now());
        }
    }

    fn send(&self, st: &mut ProgressState, force: bool) {
        if !force && st.last_sent.elapsed() < Duration::from_millis(500) {
            return;
        }
        st.last_sent = std::time::Instant::now();
        let text = match st.total {
            Some(t) if t > 0 => format!("{} {}/{t}", st.phase, st.done),
            _ => st.phase.clone(),
        };
        let _ = self.tx.send(text);
    }
}

impl Progress for JobProgress {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.log(&match total {
            Some(t) => format!("{name} ({t})"),
            None => name.to_owned(),
        });
        if let Ok(mut st) = self.state.lock() {
            st.phase = name.to_owned();
            st.total = total;
            st.done = 0;
            self.send(&mut st, true);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.done += n;
            self.send(&mut st, false);
        }
    }
    fn set(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.done = n;
            self.send(&mut st, false);
        }
    }
    fn done(&self) {}
    fn cancelled(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::compose_entry;

    #[test]
    fn target_entries_name_their_compose() {
        assert_eq!(compose_entry("odcs-12"), Some((12, false)));
        assert_eq!(compose_entry("odcs-12.log"), Some((12, false)));
        assert_eq!(compose_entry("odcs-96-1-20171005.n.0"), Some((96, false)));
        assert_eq!(compose_entry(".odcs-12.part"), Some((12, true)));
        for other in [
            "odcs-",
            "odcs-12abc",
            "odcs-x",
            ".odcs-12",
            "latest",
            "odcs-12.log.1",
            ".odcs-1.part.x",
        ] {
            assert_eq!(compose_entry(other), None, "{other}");
        }
    }
}
