//! The job queue: a table of jobs that workers claim with a lease.
//!
//! A job is claimable when it is `queued`, or `running` with a lease that ran
//! out (its worker died, hangs, or lost its connection). Jobs are claimed in
//! submission order (by id). Claiming is one statement that selects and
//! updates the row together, so no two workers get the same job:
//! - PostgreSQL: the row is chosen with `FOR UPDATE SKIP LOCKED`, so concurrent
//!   claimers skip rows another transaction is claiming instead of waiting for
//!   it, and the `UPDATE` of the same statement marks it taken.
//! - SQLite: a writing statement takes the database's write lock before it
//!   reads, so the `UPDATE ... WHERE id = (SELECT ...)` is serialised with every
//!   other writer (the busy timeout makes the others wait their turn).
//!
//! Lease times are read from the database's clock (see the module above).

use std::time::Duration;

use tracing::instrument;

use super::{Backend, Job, JobKind, JobState, Store, StoreError, Timestamp, db, with_pool};

const JOB_COLUMNS: &str = "id, compose_id, kind, state, attempts, worker, lease_until_ms, \
     time_enqueued, time_finished, last_error";

/// A job as read, before its names are checked.
#[derive(sqlx::FromRow)]
struct JobRecord {
    id: i64,
    compose_id: i64,
    kind: String,
    state: String,
    attempts: i64,
    worker: Option<String>,
    lease_until_ms: Option<i64>,
    time_enqueued: Timestamp,
    time_finished: Option<Timestamp>,
    last_error: Option<String>,
}

impl TryFrom<JobRecord> for Job {
    type Error = StoreError;

    fn try_from(r: JobRecord) -> Result<Job, StoreError> {
        let corrupt = |column, value: &str| StoreError::Corrupt {
            table: "jobs",
            id: r.id,
            column,
            value: value.to_owned(),
        };
        let kind = JobKind::from_name(&r.kind).ok_or_else(|| corrupt("kind", &r.kind))?;
        let state = JobState::from_name(&r.state).ok_or_else(|| corrupt("state", &r.state))?;
        Ok(Job {
            id: r.id,
            compose_id: r.compose_id,
            kind,
            state,
            attempts: r.attempts,
            worker: r.worker,
            lease_until_ms: r.lease_until_ms,
            time_enqueued: r.time_enqueued,
            time_finished: r.time_finished,
            last_error: r.last_error,
        })
    }
}

/// A value bound to a job update.
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Queues a job of `kind` for a compose. If one of that kind is already
    /// queued or running for it, that job is returned instead: enqueueing twice
    /// is harmless.
    #[instrument(skip(self), fields(job.kind = kind.name()), err(level = "debug"))]
    pub async fn enqueue_job(&self, compose_id: i64, kind: JobKind) -> Result<Job, StoreError> {
        let insert = format!(
            "INSERT INTO jobs (compose_id, kind, state, attempts, time_enqueued) \
             VALUES ($1, $2, 'queued', 0, $3) \
             ON CONFLICT (compose_id, kind) WHERE state IN ('queued', 'running') DO NOTHING \
             RETURNING {JOB_COLUMNS}"
        );
        let existing = format!(
            "SELECT {JOB_COLUMNS} FROM jobs \
             WHERE compose_id = $1 AND kind = $2 AND state IN ('queued', 'running')"
        );
        let record = with_pool!(self, |pool| {
            let inserted = sqlx::query_as::<_, JobRecord>(&insert)
                .bind(compose_id)
                .bind(kind.name())
                .bind(Timestamp::now())
                .fetch_optional(pool)
                .await
                .map_err(db("enqueue job"))?;
            match inserted {
                Some(r) => Ok(Some(r)),
                None => sqlx::query_as::<_, JobRecord>(&existing)
                    .bind(compose_id)
                    .bind(kind.name())
                    .fetch_optional(pool)
                    .await
                    .map_err(db("find live job")),
            }
        })?;
        match record {
            Some(r) => Job::try_from(r),
            // The live job finished between the two statements: queue anew.
            None => Box::pin(self.enqueue_job(compose_id, kind)).await,
        }
    }

    /// Takes the oldest claimable job for `worker` until `lease` from now, or
    /// `None` if there is nothing to do. Also takes jobs whose lease ran out.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn claim_next_job(
        &self,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<Job>, StoreError> {
        self.claim(worker, lease, None).await
    }

    /// Takes the claimable job of compose `compose_id`, if there is one: a
    /// worker that would wait for an older equal compose starts it instead.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn claim_job_for(
        &self,
        worker: &str,
        lease: Duration,
        compose_id: i64,
    ) -> Result<Option<Job>, StoreError> {
        self.claim(worker, lease, Some(compose_id)).await
    }

    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        compose_id: Option<i64>,
    ) -> Result<Option<Job>, StoreError> {
        let now = self.now_ms_sql();
        let lock = match self.backend {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', worker = $1, lease_until_ms = {now} + $2, \
               attempts = attempts + 1 \
             WHERE id = (SELECT id FROM jobs \
               WHERE ((state = 'queued' AND (retry_at_ms IS NULL OR retry_at_ms <= {now})) \
                   OR (state = 'running' AND lease_until_ms < {now})) \
                 AND ($3 < 0 OR compose_id = $3) \
               ORDER BY id LIMIT 1 {lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        let record = with_pool!(self, |pool| {
            sqlx::query_as::<_, JobRecord>(&sql)
                .bind(worker)
                .bind(lease_ms(lease))
                .bind(compose_id.unwrap_or(-1))
                .fetch_optional(pool)
                .await
                .map_err(db("claim job"))
        })?;
        record.map(Job::try_from).transpose()
    }

    /// Runs `UPDATE jobs SET <set>` on job `job_id` if `worker` holds it
    /// (running): `$1` is the job, `$2` the worker, `$3`… the `extra` values.
    /// `false` if the job is not `worker`'s any more.
    async fn update_held_job(
        &self,
        job_id: i64,
        worker: &str,
        set: &str,
        extra: &[Param<'_>],
        action: &'static str,
    ) -> Result<bool, StoreError> {
        let sql =
            format!("UPDATE jobs SET {set} WHERE id = $1 AND worker = $2 AND state = 'running'");
        let done = with_pool!(self, |pool| {
            let mut q = sqlx::query(&sql).bind(job_id).bind(worker);
            for p in extra {
                q = match p {
                    Param::Int(v) => q.bind(*v),
                    Param::Text(v) => q.bind(*v),
                };
            }
            q.execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(db(action))
        })?;
        Ok(done == 1)
    }

    /// Extends the lease of a running job held by `worker`. `false` if the job
    /// is no longer this worker's: another worker claimed it after the lease
    /// ran out, or it was cancelled or finished. The worker must then stop.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn renew_lease(
        &self,
        job_id: i64,
        worker: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let set = format!("lease_until_ms = {} + $3", self.now_ms_sql());
        let extra = [Param::Int(lease_ms(lease))];
        self.update_held_job(job_id, worker, &set, &extra, "renew lease")
            .await
    }

    /// Marks a job finished. `false` if it was not `worker`'s any more (taken
    /// over or cancelled); its work is then someone else's to record.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn finish_job(&self, job_id: i64, worker: &str) -> Result<bool, StoreError> {
        let set = "state = 'finished', lease_until_ms = NULL, time_finished = $3";
        let extra = [Param::Int(Timestamp::now().unix_seconds())];
        self.update_held_job(job_id, worker, set, &extra, "finish job")
            .await
    }

    /// Hands a running job back to the queue (graceful shutdown): the next
    /// claimer takes it at once, without waiting for the lease. `false` if it
    /// was not `worker`'s.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn release_job(&self, job_id: i64, worker: &str) -> Result<bool, StoreError> {
        let set = "state = 'queued', worker = NULL, lease_until_ms = NULL";
        self.update_held_job(job_id, worker, set, &[], "release job")
            .await
    }

    /// Queues a running job of `worker` again, to be claimed no earlier than
    /// `delay` from now, keeping `error` as the reason of this attempt: a job
    /// that failed for a reason other than its compose (the database, a
    /// panic) is retried after a pause. `false` if it was not `worker`'s.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn retry_job_later(
        &self,
        job_id: i64,
        worker: &str,
        delay: Duration,
        error: &str,
    ) -> Result<bool, StoreError> {
        let set = format!(
            "state = 'queued', worker = NULL, lease_until_ms = NULL, \
             retry_at_ms = {} + $3, last_error = $4",
            self.now_ms_sql()
        );
        let extra = [Param::Int(lease_ms(delay)), Param::Text(error)];
        self.update_held_job(job_id, worker, &set, &extra, "retry job later")
            .await
    }

    /// Takes the named lease for `holder` until `duration` from now if it is
    /// free, expired or already `holder`'s: work one process of all does at a
    /// time (the reaper). `false` if another holder has it.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms_sql();
        let sql = format!(
            "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = $2, until_ms = {now} + $3 \
             WHERE leases.until_ms < {now} OR leases.holder = $2"
        );
        let done = with_pool!(self, |pool| {
            sqlx::query(&sql)
                .bind(name)
                .bind(holder)
                .bind(lease_ms(duration))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(db("take lease"))
        })?;
        Ok(done == 1)
    }

    /// Gives the named lease up if `holder` has it.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db("release lease"))
        })?;
        Ok(())
    }

    /// Cancels the queued and running jobs of a compose (DELETE of a waiting
    /// or generating compose). A worker running one finds out when its next
    /// [`Store::renew_lease`] answers `false`. Returns how many were cancelled.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn cancel_jobs_for(&self, compose_id: i64) -> Result<u64, StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled', lease_until_ms = NULL, time_finished = $2 \
                 WHERE compose_id = $1 AND state IN ('queued', 'running')",
            )
            .bind(compose_id)
            .bind(Timestamp::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(db("cancel jobs"))
        })?;
        Ok(done)
    }

    /// The job with this id, if any.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn find_job(&self, job_id: i64) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let record = with_pool!(self, |pool| {
            sqlx::query_as::<_, JobRecord>(&sql)
                .bind(job_id)
                .fetch_optional(pool)
                .await
                .map_err(db("find job"))
        })?;
        record.map(Job::try_from).transpose()
    }

    /// Whether compose `compose_id` has a queued or running job (one that will
    /// finish it).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn has_live_job(&self, compose_id: i64) -> Result<bool, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM jobs WHERE compose_id = $1 AND state IN ('queued', 'running')",
            )
            .bind(compose_id)
            .fetch_one(pool)
            .await
            .map_err(db("find live jobs"))
        })?;
        Ok(n > 0)
    }

    /// Jobs waiting for a worker or running (the queue length of the metrics).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn live_job_count(&self) -> Result<u64, StoreError> {
        let n = with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
            )
            .fetch_one(pool)
            .await
            .map_err(db("count jobs"))
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Jobs waiting for a worker (not yet claimed, or whose lease ran out),
    /// per kind: the queue lengths of the metrics.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn queued_job_counts(&self) -> Result<Vec<(JobKind, u64)>, StoreError> {
        let sql = format!(
            "SELECT kind, COUNT(*) FROM jobs \
             WHERE state = 'queued' OR (state = 'running' AND lease_until_ms < {0}) \
             GROUP BY kind",
            self.now_ms_sql()
        );
        let rows: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, i64)>(&sql)
                .fetch_all(pool)
                .await
                .map_err(db("count queued jobs"))
        })?;
        Ok([JobKind::Generate, JobKind::Remove]
            .into_iter()
            .map(|k| {
                let n = rows
                    .iter()
                    .find(|(name, _)| name == k.name())
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                (k, n)
            })
            .collect())
    }
}
