//! The outbox of state-change messages (#17): a trigger records every
//! change of a compose's state (its creation included) in the transaction
//! that makes it, with the columns a state change moves (migrations
//! `*_outbox.sql`), so no transition of any code path — reuse propagated to
//! waiting composes included — can change a state without its message, and
//! no message exists for a change that was rolled back. The sender reads the
//! rows in id order, the compose as it was at the change (the recorded
//! columns over the compose's others, which no state change moves), and
//! deletes each row once the broker has confirmed it.

use tracing::instrument;

use super::model::COMPOSE_COLUMNS;
use super::{ComposeRow, Store, StoreError, db, with_pool};

/// The columns the outbox records: the ones a state change moves.
const SNAPSHOT: [&str; 11] = [
    "state",
    "state_reason",
    "source",
    "time_started",
    "time_done",
    "time_removed",
    "time_to_expire",
    "removed_by",
    "reused_id",
    "pungi_compose_id",
    "koji_event",
];

/// One recorded state change waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxEntry {
    pub outbox_id: i64,
    /// When the change was recorded (milliseconds, the database's clock).
    pub queued_ms: i64,
    /// Failed attempts to publish it so far.
    pub attempts: i64,
    /// The compose as it was at the change.
    #[sqlx(flatten)]
    pub compose: ComposeRow,
}

impl Store {
    /// Resolves after the next state change this process makes (or at once
    /// if one was made since the last call): the sender's wake-up; changes
    /// other processes make are found by polling.
    pub async fn state_changed(&self) {
        self.changed.notified().await
    }

    pub(super) fn tell_state_changed(&self) {
        self.changed.notify_one();
    }

    /// The oldest `limit` entries, in the order they were recorded.
    #[instrument(skip(self), err(level = "debug"), level = "debug")]
    pub async fn outbox_batch(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let columns: Vec<String> = COMPOSE_COLUMNS
            .split(',')
            .map(str::trim)
            .map(|c| match SNAPSHOT.contains(&c) {
                true => format!("o.{c}"),
                false => format!("c.{c}"),
            })
            .collect();
        let sql = format!(
            "SELECT o.id AS outbox_id, o.queued_ms, o.attempts, {} \
             FROM outbox o JOIN composes c ON c.id = o.compose_id \
             ORDER BY o.id LIMIT $1",
            columns.join(", ")
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, OutboxEntry>(&sql)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db("read the outbox"))
        })
    }

    /// Entries the broker confirmed: gone.
    #[instrument(skip(self), err(level = "debug"), level = "debug")]
    pub async fn outbox_sent(&self, ids: &[i64]) -> Result<(), StoreError> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "DELETE FROM outbox WHERE id IN ({})",
                chunk
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            with_pool!(self, |pool| {
                sqlx::query(&sql)
                    .execute(pool)
                    .await
                    .map(|_| ())
                    .map_err(db("delete sent outbox entries"))
            })?;
        }
        Ok(())
    }

    /// An entry that could not be published: one more attempt, and why.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn outbox_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                .bind(id)
                .bind(error)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db("count a failed outbox entry"))
        })
    }

    /// How many entries wait, and since when the oldest has waited
    /// (milliseconds on the database's clock), for the metrics.
    #[instrument(skip(self), err(level = "debug"), level = "debug")]
    pub async fn outbox_waiting(&self) -> Result<(i64, Option<i64>), StoreError> {
        let sql = format!(
            "SELECT COUNT(*), {} - MIN(queued_ms) FROM outbox",
            self.now_ms_sql()
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, Option<i64>)>(&sql)
                .fetch_one(pool)
                .await
                .map_err(db("count the outbox"))
        })
    }

    /// The database's clock, in milliseconds.
    pub async fn now_ms(&self) -> Result<i64, StoreError> {
        let sql = format!("SELECT {}", self.now_ms_sql());
        with_pool!(self, |pool| {
            sqlx::query_as::<_, (i64,)>(&sql)
                .fetch_one(pool)
                .await
                .map(|r| r.0)
                .map_err(db("read the database clock"))
        })
    }
}
