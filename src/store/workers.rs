//! Worker presence: each worker records a heartbeat (when it polls for jobs
//! and when it renews a lease), so the metrics can tell which workers are
//! alive, as the original's `celery_workers*` gauges tell from Celery pings.
//!
//! Heartbeats use the database's clock, like leases, so hosts with skewed
//! clocks agree on who is alive.

use tracing::instrument;

use super::{Store, StoreError, db, with_pool};

/// Workers and whether each is alive, read at one instant of the database clock.
#[derive(Clone, Debug, Default)]
pub struct WorkerPresence {
    /// `(name, alive)`, by name.
    pub workers: Vec<(String, bool)>,
}

impl WorkerPresence {
    pub fn alive(&self) -> usize {
        self.workers.iter().filter(|(_, a)| *a).count()
    }
}

impl Store {
    /// Records that `worker` is alive now (and not stopped).
    #[instrument(skip(self), err(level = "debug"), level = "debug")]
    pub async fn worker_heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO workers (name, last_seen_ms, stopped_ms) VALUES ($1, {now}, NULL) \
             ON CONFLICT (name) DO UPDATE SET last_seen_ms = {now}, stopped_ms = NULL",
            now = self.now_ms_sql()
        );
        self.write_worker(&sql, worker, "record worker heartbeat")
            .await
    }

    /// Records that `worker` stopped cleanly: it is shown offline at once.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn worker_stopped(&self, worker: &str) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE workers SET stopped_ms = {} WHERE name = $1",
            self.now_ms_sql()
        );
        self.write_worker(&sql, worker, "record worker stop").await
    }

    /// Run `sql` with the worker's name as `$1`.
    async fn write_worker(
        &self,
        sql: &str,
        worker: &str,
        what: &'static str,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(worker)
                .execute(pool)
                .await
                .map(drop)
                .map_err(db(what))
        })
    }

    /// Workers seen within `forget_ms`; alive when not stopped and seen within
    /// `alive_ms`. Older rows are deleted, so a renamed or retired worker
    /// drops out of the metrics after `forget_ms`.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn worker_presence(
        &self,
        alive_ms: i64,
        forget_ms: i64,
    ) -> Result<WorkerPresence, StoreError> {
        let now = self.now_ms_sql();
        let forget = format!("DELETE FROM workers WHERE last_seen_ms < {now} - $1");
        let select = format!(
            "SELECT name, CASE WHEN stopped_ms IS NULL AND last_seen_ms >= {now} - $1 \
               THEN 1 ELSE 0 END AS alive FROM workers ORDER BY name"
        );
        let rows: Vec<(String, i32)> = with_pool!(self, |pool| {
            sqlx::query(&forget)
                .bind(forget_ms)
                .execute(pool)
                .await
                .map_err(db("forget old workers"))?;
            sqlx::query_as::<_, (String, i32)>(&select)
                .bind(alive_ms)
                .fetch_all(pool)
                .await
                .map_err(db("list workers"))
        })?;
        Ok(WorkerPresence {
            workers: rows.into_iter().map(|(n, a)| (n, a == 1)).collect(),
        })
    }
}
