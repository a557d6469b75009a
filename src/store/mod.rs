//! Persistence: composes, the exact package set of each done compose, and the
//! job queue, on SQLite (the embedded default) or PostgreSQL (production and
//! several worker hosts).
//!
//! Why it is built this way:
//! - **One `Store`, one arm per backend.** [`Store`] holds a [`Backend`] enum
//!   with a pool per database. The SQL text is shared wherever the two dialects
//!   agree (numbered `$N` parameters, `RETURNING`, partial indexes and
//!   `ON CONFLICT` work on both); where they differ — the clock used for leases
//!   and the claim query — the method matches on the backend. Queries are
//!   checked at run time (`sqlx::query_as`), because compile-time checked
//!   queries would need prepared data for each backend; the tests run the same
//!   suite on both databases instead.
//! - **Migrations per backend** under `migrations/sqlite` and
//!   `migrations/postgres`, embedded in the binary; [`Store::migrate`] runs
//!   them. They are expand/contract: a new column is added nullable or with a
//!   default, so a worker of the previous release keeps running while a newer
//!   one migrates.
//! - **Times** are integer seconds since the Unix epoch, UTC ([`Timestamp`]), the
//!   same on both backends, and the API's precision (`YYYY-MM-DDTHH:MM:SSZ`).
//!   Leases are in milliseconds and read the *database's* clock, so that workers
//!   on several hosts agree on when a lease has run out.
//! - **Counts kept by triggers.** `compose_counts` holds `+1`/`-1` rows per
//!   `(source_type, state)`, appended by triggers on `composes` (never updated
//!   in place, so concurrent state changes do not wait on a counter row);
//!   [`Store::fold_compose_counts`] adds them up, run by the reaper. A list
//!   filtered by source type and state at most, and the metrics, sum these
//!   instead of counting the table (issue #18).
//! - **Jobs with leases.** A worker claims a job for a lease
//!   ([`Store::claim_next_job`]) and renews it while it works; a job whose lease
//!   ran out (its worker died or hangs) is claimed again by the next worker.
//!   Hence **every job must be safe to run twice**: a generate job that finds its
//!   compose `generating` restarts it from scratch (the engine builds in a
//!   temporary directory and publishes by one rename, and [`Store::mark_done`]
//!   replaces the stored package set rather than adding to it); a job that finds
//!   its compose already `done`, `failed` or `removed` only finishes. A worker
//!   learns that its job was taken from it or cancelled when
//!   [`Store::renew_lease`] or [`Store::finish_job`] answers `false`.

mod composes;
mod event_rules;
mod jobs;
mod model;
mod outbox;
mod tokens;
mod workers;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use event_rules::{EventDecision, Recorded};
pub use model::{
    ComposeFilter, ComposeRow, ComposeState, Job, JobKind, JobState, NewCompose, OrderBy,
    OrderColumn, StoredRpm, Timestamp,
};
pub use outbox::OutboxEntry;
pub use tokens::TokenRow;
pub use workers::WorkerPresence;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("no such compose: {id}")]
    NotFound { id: i64 },
    #[error("compose {id} is {state}, cannot {action}")]
    InvalidState {
        id: i64,
        state: ComposeState,
        action: &'static str,
    },
    #[error("unsupported database url {url:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl { url: String },
    #[error("database url {url:?}")]
    BadUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{table} row {id}: column {column} holds {value:?}, which this version cannot read")]
    Corrupt {
        table: &'static str,
        id: i64,
        column: &'static str,
        value: String,
    },
    #[error("{action}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

impl StoreError {
    /// Whether the database is unavailable rather than the request wrong:
    /// down, unreachable, out of connections, or out of disk or another
    /// resource. Worth trying again later (the API answers 503).
    pub fn is_unavailable(&self) -> bool {
        let source = match self {
            StoreError::Connect { .. } => return true,
            StoreError::Database { source, .. } => source,
            _ => return false,
        };
        match source {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(e) => {
                let code = e.code().unwrap_or_default();
                match e.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                    // SQLite's primary result codes (the low byte of the
                    // extended code): BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN
                    Some(_) => code
                        .parse::<u32>()
                        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 13 | 14)),
                    // SQLSTATE classes: connection exception, insufficient
                    // resources (disk full), operator intervention (shutdown),
                    // system error
                    _ => ["08", "53", "57", "58"].iter().any(|c| code.starts_with(c)),
                }
            }
            _ => false,
        }
    }
}

/// Wraps a sqlx error with what the store was doing.
pub(crate) fn db(action: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { action, source }
}

/// Store settings (the `[store]` table of the configuration).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `sqlite://PATH` (the file is created) or `postgres://...`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a statement waits for a busy SQLite database or a free pooled
    /// connection.
    pub busy_timeout: Duration,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            max_connections: 8,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// The database behind a [`Store`]: one arm per backend.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool of whichever backend is in use.
/// The body is compiled once per backend, so generic sqlx calls get concrete
/// types in each arm.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` in a transaction on a connection of its own, `$tx` bound to
/// the transaction, committing when the body returns `Ok`. On any error the
/// connection is closed instead of going back to the pool: a statement or
/// `COMMIT` that fails on SQLite (a full disk) can leave its transaction open
/// while sqlx counts it closed, and the next "transaction" on that
/// connection is then only a savepoint whose "commit" records nothing (seen:
/// composes answered 200 that were never stored, and every other connection
/// locked out, until the connection was closed).
macro_rules! transaction {
    ($store:expr, |$tx:ident| $body:block) => {
        $crate::store::with_pool!($store, |pool| {
            let mut conn = pool
                .acquire()
                .await
                .map_err($crate::store::db("acquire a connection"))?;
            let result = async {
                let mut $tx = sqlx::Connection::begin(&mut *conn)
                    .await
                    .map_err($crate::store::db("begin"))?;
                let out: Result<_, StoreError> = async { $body }.await;
                let out = out?;
                $tx.commit().await.map_err($crate::store::db("commit"))?;
                Ok::<_, StoreError>(out)
            }
            .await;
            if result.is_err() {
                conn.close_on_drop();
            }
            result
        })
    };
}
pub(crate) use transaction;

/// Persistence and job queue. Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Told after each state change this process makes (the outbox sender
    /// waits on it, so a message leaves at once instead of at its next
    /// poll).
    changed: std::sync::Arc<tokio::sync::Notify>,
}

impl Store {
    /// Connects with default settings; see [`Store::connect_with`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(&StoreConfig::new(url)).await
    }

    /// Connects to `sqlite://PATH` (creating the file, in WAL mode so readers
    /// never wait for the writer) or `postgres://...`. Does not migrate.
    pub async fn connect_with(config: &StoreConfig) -> Result<Store, StoreError> {
        let url = config.url.as_str();
        let bad_url = |source| StoreError::BadUrl {
            url: redact_url(url),
            source,
        };
        let connect = |source| StoreError::Connect {
            url: redact_url(url),
            source,
        };
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(bad_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(config.busy_timeout);
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.busy_timeout)
                .connect_with(options)
                .await
                .map_err(connect)?;
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(bad_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.busy_timeout)
                .connect_with(options)
                .await
                .map_err(connect)?;
            Backend::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl {
                url: redact_url(url),
            });
        };
        Ok(Store {
            backend,
            changed: Default::default(),
        })
    }

    /// Applies the migrations of this backend that the database lacks.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("migrations/sqlite").run(pool).await?,
            Backend::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// `"sqlite"` or `"postgres"` (for logs and the about page).
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection; waits for those in use to be returned.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// SQL for "now in milliseconds" on the database's clock.
    fn now_ms_sql(&self) -> &'static str {
        match self.backend {
            // julianday('now') has millisecond precision and is fixed for the
            // duration of one statement.
            Backend::Sqlite(_) => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres(_) => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_url("postgres://odcs:secret@db:5432/odcs"),
            "postgres://odcs:***@db:5432/odcs"
        );
        assert_eq!(
            redact_url("postgres://odcs@db/odcs"),
            "postgres://odcs@db/odcs"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/odcs.db"),
            "sqlite:///var/lib/odcs.db"
        );
    }

    #[tokio::test]
    async fn unknown_url_schemes_are_refused() {
        let err = Store::connect("mysql://localhost/odcs").await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err}");
    }
}
