//! Composes: insert, look up, list, and the state transitions of the
//! lifecycle (odcs-api.md §5).
//!
//! Each transition is one `UPDATE ... WHERE id = $1 AND state IN (...)`, so two
//! workers can never both move a compose out of the same state; when it
//! matches nothing, the compose is read to tell "no such compose" from "not in
//! a state that allows this".

use tracing::instrument;

use super::model::{COMPOSE_COLUMNS, INSERT_COLUMNS};
use super::{
    Backend, ComposeFilter, ComposeRow, ComposeState, JobKind, NewCompose, OrderBy, Store,
    StoreError, StoredRpm, Timestamp, db, transaction, with_pool,
};

/// Rows a page must skip before PostgreSQL's list walks ids first and
/// fetches the page's rows by id. Measured with 10,000 composes
/// (`cargo bench --bench api`): the first page 3,890–4,115 requests/s with
/// the join against 5,454 without; random pages 2,783–3,067 against 1,814.
const DEFER_JOIN_AT: i64 = 200;

/// [`COMPOSE_COLUMNS`] each prefixed with `c.` (a query joining `composes
/// AS c` to another table with an `id`).
fn prefixed_columns() -> &'static str {
    static COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        COMPOSE_COLUMNS
            .split(',')
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    });
    &COLUMNS
}

/// `state_reason` texts of the original (odcs-api.md §5.3).
pub(crate) const REASON_STARTED: &str = "Compose thread started";
pub(crate) const REASON_DONE: &str = "Compose is generated successfully";

/// Rows of a compose's package set inserted per statement (11 parameters
/// each). Few on purpose: SQLite finds a numbered parameter's name by
/// walking the statement's list of them, so binding n parameters costs n²,
/// and so does parsing them; at 500 rows a statement, binding was 12% of
/// the service's CPU time over warm 952-RPM composes (perf, scripts/bench_serve.py).
const RPM_CHUNK: usize = 50;

/// A value bound to a dynamically built query.
enum Param {
    Int(i64),
    Text(String),
}

/// A row of a list page with the total the page's statement counted.
#[derive(sqlx::FromRow)]
struct CountedRow {
    #[sqlx(flatten)]
    row: ComposeRow,
    total: i64,
    summed: i64,
}

/// How many rows of `compose_counts` a list may sum before it folds them.
const FOLD_COUNTS_AT: i64 = 4096;

/// Rows folded on PostgreSQL after which the table is vacuumed at once.
const VACUUM_COUNTS_AFTER: i64 = 64;

/// The sums of `compose_counts` per group, appended (SQLite's half of a fold).
const FOLD_SQLITE: &str = "INSERT INTO compose_counts (source_type, state, n) \
     SELECT source_type, state, SUM(n) FROM compose_counts \
     GROUP BY source_type, state HAVING SUM(n) <> 0 RETURNING id";

fn in_states(states: &[ComposeState]) -> String {
    let codes: Vec<String> = states.iter().map(|s| s.code().to_string()).collect();
    format!("state IN ({})", codes.join(", "))
}

/// Composes that reuse `$id` and are still waiting for it take its final
/// state and reason (odcs-api.md §5.1). A macro because the transaction's type
/// differs per backend.
macro_rules! finish_reusers {
    ($tx:expr, $id:expr, $state:expr, $reason:expr, $now:expr) => {{
        let state: ComposeState = $state;
        let now: $crate::store::Timestamp = $now;
        let time_done = (state == ComposeState::Done).then_some(now);
        let sql = format!(
            "UPDATE composes SET state = $2, state_reason = $3, time_done = $4, \
             time_to_expire = $5 + (time_to_expire - time_submitted) \
             WHERE reused_id = $1 AND {}",
            in_states(&[ComposeState::Wait, ComposeState::Generating])
        );
        sqlx::query(&sql)
            .bind($id)
            .bind(state)
            .bind($reason)
            .bind(time_done)
            .bind(now)
            .execute(&mut *$tx)
            .await
            .map_err(db("finish reusing composes"))?;
    }};
}

/// Inserts the compose `$new` (state `wait`, submitted at `$now`) inside a
/// transaction; its row. A macro because the transaction's type differs per
/// backend.
macro_rules! insert_compose {
    ($tx:expr, $new:expr, $now:expr) => {{
        let new: &$crate::store::NewCompose = $new;
        let now: $crate::store::Timestamp = $now;
        sqlx::query_as::<_, $crate::store::ComposeRow>(
            &$crate::store::composes::insert_compose_sql(),
        )
        .bind(&new.owner)
        .bind(new.source_type)
        .bind(&new.source)
        .bind($crate::store::ComposeState::Wait)
        .bind(now)
        .bind(now.add_seconds(new.seconds_to_live))
        .bind(new.seconds_to_live)
        .bind(&new.packages)
        .bind(&new.builds)
        .bind(&new.arches)
        .bind(&new.sigkeys)
        .bind(new.flags)
        .bind(new.results)
        .bind(&new.multilib_arches)
        .bind(new.multilib_method)
        .bind(&new.lookaside_repos)
        .bind(&new.modular_koji_tags)
        .bind(&new.module_defaults_url)
        .bind(new.koji_event)
        .bind(&new.label)
        .bind(&new.compose_type)
        .bind(&new.target_dir)
        .bind(&new.pungi_config_dump)
        .bind(&new.scratch_modules)
        .bind(&new.scratch_build_tasks)
        .bind(&new.parent_pungi_compose_ids)
        .bind(&new.modules)
        .bind(&new.respin_of)
        .bind(&new.base_module_br_name)
        .bind(&new.base_module_br_stream)
        .bind(new.base_module_br_stream_version_lte)
        .bind(new.base_module_br_stream_version_gte)
        .bind(&new.fingerprint)
        .bind(new.replay_of)
        .fetch_one(&mut *$tx)
        .await
        .map_err($crate::store::db("insert compose"))?
    }};
}
pub(crate) use insert_compose;

/// The INSERT of [`insert_compose`].
pub(crate) fn insert_compose_sql() -> String {
    format!(
        "INSERT INTO composes ({INSERT_COLUMNS}) VALUES ({}) RETURNING {COMPOSE_COLUMNS}",
        placeholders(INSERT_COLUMNS.split(',').count())
    )
}

/// Queues a job of `kind` for compose `$id` inside a transaction (a new
/// compose, or one whose live jobs were just ended, so none can conflict).
macro_rules! queue_job {
    ($tx:expr, $id:expr, $kind:expr, $now:expr) => {{
        let kind: $crate::store::JobKind = $kind;
        let now: $crate::store::Timestamp = $now;
        sqlx::query(
            "INSERT INTO jobs (compose_id, kind, state, attempts, time_enqueued) \
             VALUES ($1, $2, 'queued', 0, $3) \
             ON CONFLICT (compose_id, kind) WHERE state IN ('queued', 'running') DO NOTHING",
        )
        .bind($id)
        .bind(kind.name())
        .bind(now)
        .execute(&mut *$tx)
        .await
        .map_err($crate::store::db("queue job"))?;
    }};
}
pub(crate) use queue_job;

impl Store {
    /// Inserts a compose in state `wait`, submitted now (with no job: see
    /// [`Store::submit_compose`]).
    #[instrument(skip_all, fields(compose.owner = %new.owner), err(level = "debug"))]
    pub async fn insert_compose(&self, new: &NewCompose) -> Result<ComposeRow, StoreError> {
        self.insert_with_job(new, None).await
    }

    /// Inserts a compose in state `wait` and queues its generate job, in one
    /// transaction: a compose is never without the job that will finish it
    /// (the lost-compose check fails one that is).
    #[instrument(skip_all, fields(compose.owner = %new.owner), err(level = "debug"))]
    pub async fn submit_compose(&self, new: &NewCompose) -> Result<ComposeRow, StoreError> {
        self.insert_with_job(new, Some(JobKind::Generate)).await
    }

    async fn insert_with_job(
        &self,
        new: &NewCompose,
        job: Option<JobKind>,
    ) -> Result<ComposeRow, StoreError> {
        let now = Timestamp::now();
        transaction!(self, |tx| {
            let row = insert_compose!(tx, new, now);
            if let Some(kind) = job {
                queue_job!(tx, row.id, kind, now);
            }
            Ok(row)
        })
        .inspect(|_| self.tell_state_changed())
    }

    /// The compose with this id, or [`StoreError::NotFound`] (an unknown id
    /// is the caller's to report: a 404 is not a server error).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn find_compose(&self, id: i64) -> Result<ComposeRow, StoreError> {
        let sql = format!("SELECT {COMPOSE_COLUMNS} FROM composes WHERE id = $1");
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
                .map_err(db("find compose"))
        })?;
        row.ok_or(StoreError::NotFound { id })
    }

    /// How many composes there are of each `(source_type, state)` that has any
    /// (the metrics' `composes_total`), in one query.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn count_composes_by_type_and_state(
        &self,
    ) -> Result<Vec<(i64, i64, u64)>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as::<_, (i64, i64, i64)>(
                "SELECT source_type, state, CAST(SUM(n) AS BIGINT) FROM compose_counts \
                 GROUP BY source_type, state HAVING SUM(n) > 0",
            )
            .fetch_all(pool)
            .await
            .map_err(db("count composes"))
        })?;
        Ok(rows
            .into_iter()
            .map(|(t, s, n)| (t, s, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// How many composes there are of `source_type` per `(source, state)`
    /// (the metrics' `raw_config_*`).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn count_composes_by_source_and_state(
        &self,
        source_type: i64,
    ) -> Result<Vec<(String, i64, u64)>, StoreError> {
        let rows: Vec<(String, i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as::<_, (String, i64, i64)>(
                "SELECT source, state, COUNT(*) FROM composes WHERE source_type = $1 \
                 GROUP BY source, state ORDER BY source, state",
            )
            .bind(source_type)
            .fetch_all(pool)
            .await
            .map_err(db("count composes per source"))
        })?;
        Ok(rows
            .into_iter()
            .map(|(src, s, n)| (src, s, u64::try_from(n).unwrap_or(0)))
            .collect())
    }

    /// One page of the composes matching `filter`, and how many match in all.
    /// `page` counts from 1 (0 is taken as 1); `per_page == 0` gives no rows.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn list_composes(
        &self,
        filter: &ComposeFilter,
        order_by: OrderBy,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<ComposeRow>, u64), StoreError> {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        let mut add = |column: &str, param: Param| {
            params.push(param);
            conditions.push(format!("{column} = ${}", params.len()));
        };
        if let Some(v) = &filter.owner {
            add("owner", Param::Text(v.clone()));
        }
        if let Some(v) = filter.source_type {
            add("source_type", Param::Int(v));
        }
        if let Some(v) = &filter.source {
            add("source", Param::Text(v.clone()));
        }
        if let Some(v) = filter.state {
            add("state", Param::Int(v.code()));
        }
        if let Some(v) = filter.koji_task_id {
            add("koji_task_id", Param::Int(v));
        }
        if let Some(v) = &filter.pungi_compose_id {
            add("pungi_compose_id", Param::Text(v.clone()));
        }
        if let Some(v) = &filter.compose_type {
            add("compose_type", Param::Text(v.clone()));
        }
        if let Some(v) = &filter.label {
            add("label", Param::Text(v.clone()));
        }
        for (bound, op) in [
            (filter.submitted_after, ">="),
            (filter.submitted_before, "<"),
        ] {
            if let Some(t) = bound {
                params.push(Param::Int(t.0));
                conditions.push(format!("time_submitted {op} ${}", params.len()));
            }
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let (direction, nulls) = if order_by.descending {
            ("DESC", "NULLS LAST")
        } else {
            ("ASC", "NULLS FIRST")
        };
        let column = order_by.column.column();
        let n = params.len();
        // NOT NULL columns get no NULLS clause and `id` no tie-breaker: a plain
        // `ORDER BY id DESC` is an index scan on PostgreSQL, while
        // `DESC NULLS LAST` (not the index's order) sorts the whole table
        let nullable = matches!(column, "koji_event" | "time_done" | "time_removed");
        let order_of = |t: &str| match (column, nullable) {
            ("id", _) => format!("{t}id {direction}"),
            (_, true) => format!("{t}{column} {direction} {nulls}, {t}id {direction}"),
            (_, false) => format!("{t}{column} {direction}, {t}id {direction}"),
        };
        let (order, outer_order) = (order_of(""), order_of("c."));
        // filtered by source type and state at most, the total comes from the
        // counts the triggers keep (a few rows), not from counting the table;
        // `summed` is how many rows of those counts it added up
        let counted = filter.owner.is_none()
            && filter.source.is_none()
            && filter.koji_task_id.is_none()
            && filter.pungi_compose_id.is_none()
            && filter.compose_type.is_none()
            && filter.label.is_none()
            && filter.submitted_after.is_none()
            && filter.submitted_before.is_none();
        // both in one scan (a table of counts that was just folded holds
        // dead rows until it is vacuumed; each scan walks them)
        let totals = if counted {
            format!(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS total, COUNT(*) AS summed \
                 FROM compose_counts{where_clause}"
            )
        } else {
            format!(
                "SELECT COUNT(*) AS total, CAST(0 AS BIGINT) AS summed FROM composes{where_clause}"
            )
        };
        // the page and its total in one statement (one round trip; the
        // totals' row is computed once and joined to the page's rows); the
        // total alone when there is no row. The total is joined to the
        // page's rows only: added in the inner query, PostgreSQL projected
        // it onto every row the OFFSET skips.
        // Deep in the list on PostgreSQL, the OFFSET walks ids only (an
        // index-only scan where an index covers the filter and the order)
        // and the page's rows are then fetched by id: walked as whole rows,
        // a deep page read every row it skipped from the table. Near the
        // start the join costs more than it saves, and on SQLite (which
        // skips rows without decoding them) it only costs
        // (`cargo bench --bench api`, README "The service")
        let limit = i64::from(per_page);
        let offset = i64::from(page.max(1) - 1) * limit;
        let deferred = matches!(self.backend, Backend::Postgres(_)) && offset >= DEFER_JOIN_AT;
        // Near the start of the list, LIMIT and OFFSET are written into the
        // statement (numbers, and a few distinct statements): one without
        // parameters gets a plan PostgreSQL keeps, where one with them was
        // planned again on every execution (a third of the server's time on
        // the first page, in perf). Deeper pages pass them as parameters,
        // or every page would be a statement of its own.
        let page_in_statement = offset < DEFER_JOIN_AT;
        let (limit_sql, offset_sql) = match page_in_statement {
            true => (limit.to_string(), offset.to_string()),
            false => (format!("${}", n + 1), format!("${}", n + 2)),
        };
        let sqlite = matches!(self.backend, Backend::Sqlite(_));
        let select = match deferred {
            // SQLite: the totals as scalar subqueries, which it runs once per
            // statement (they depend on no row), so the page comes straight
            // from the index walk. Joined to a derived table of totals, the
            // page was sorted again by a sorter whose buffer SQLite
            // allocates per execution (a large allocation, before which glibc
            // consolidated its free lists: 2–4% of the first page's time)
            false if sqlite => {
                let (total, summed) = if counted {
                    (
                        format!("SELECT COALESCE(SUM(n), 0) FROM compose_counts{where_clause}"),
                        format!("SELECT COUNT(*) FROM compose_counts{where_clause}"),
                    )
                } else {
                    (
                        format!("SELECT COUNT(*) FROM composes{where_clause}"),
                        "0".to_owned(),
                    )
                };
                format!(
                    "SELECT {COMPOSE_COLUMNS}, ({total}) AS total, ({summed}) AS summed \
                     FROM composes{where_clause} \
                     ORDER BY {order} LIMIT {limit_sql} OFFSET {offset_sql}"
                )
            }
            true => format!(
                "SELECT {}, t.total, t.summed \
                 FROM (SELECT id FROM composes{where_clause} \
                       ORDER BY {order} LIMIT {limit_sql} OFFSET {offset_sql}) AS k \
                 JOIN composes AS c ON c.id = k.id \
                 CROSS JOIN ({totals}) AS t \
                 ORDER BY {outer_order}",
                prefixed_columns(),
            ),
            false => format!(
                "SELECT p.*, t.total, t.summed \
                 FROM (SELECT {COMPOSE_COLUMNS} FROM composes{where_clause} \
                       ORDER BY {order} LIMIT {limit_sql} OFFSET {offset_sql}) AS p \
                 CROSS JOIN ({totals}) AS t \
                 ORDER BY {order}",
            ),
        };
        let count = format!("SELECT t.total, t.summed FROM ({totals}) AS t");

        let (rows, total, summed) = with_pool!(self, |pool| {
            let rows = if per_page == 0 {
                Vec::new()
            } else {
                let mut q = sqlx::query_as::<_, CountedRow>(&select);
                for p in &params {
                    q = match p {
                        Param::Int(v) => q.bind(*v),
                        Param::Text(v) => q.bind(v.as_str()),
                    };
                }
                if !page_in_statement {
                    q = q.bind(limit).bind(offset);
                }
                q.fetch_all(pool).await.map_err(db("list composes"))?
            };
            let (total, summed) = match rows.first() {
                Some(r) => (r.total, r.summed),
                None => {
                    let mut q = sqlx::query_as::<_, (i64, i64)>(&count);
                    for p in &params {
                        q = match p {
                            Param::Int(v) => q.bind(*v),
                            Param::Text(v) => q.bind(v.as_str()),
                        };
                    }
                    q.fetch_one(pool).await.map_err(db("count composes"))?
                }
            };
            let rows: Vec<ComposeRow> = rows.into_iter().map(|r| r.row).collect();
            Ok::<_, StoreError>((rows, total, summed))
        })?;
        // the reaper folds the counts every round; a service without one
        // (no workers) folds them here before summing gets slow
        if summed > FOLD_COUNTS_AT {
            self.fold_compose_counts().await?;
        }
        Ok((rows, u64::try_from(total).unwrap_or(0)))
    }

    /// Add up the rows the triggers appended to `compose_counts` into one per
    /// `(source_type, state)` (dropping groups that sum to nothing). Safe to
    /// run while composes change, and in several processes at once: on
    /// PostgreSQL one statement deletes the rows and inserts their sums, so a
    /// row appended meanwhile is neither summed nor deleted; on SQLite the
    /// insert takes the database's write lock before it reads, so none can be
    /// appended until the transaction ends. Returns how many rows it folded.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn fold_compose_counts(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Postgres(pool) => {
                let (folded,) = sqlx::query_as::<_, (i64,)>(
                    "WITH gone AS (DELETE FROM compose_counts RETURNING source_type, state, n), \
                     sums AS (INSERT INTO compose_counts (source_type, state, n) \
                       SELECT source_type, state, SUM(n) FROM gone \
                       GROUP BY source_type, state HAVING SUM(n) <> 0) \
                     SELECT COUNT(*) FROM gone",
                )
                .fetch_one(pool)
                .await
                .map_err(db("fold compose counts"))?;
                // the folded rows stay in the table, dead, until it is
                // vacuumed, and every list's totals walk them (10,000 of them
                // took 0.68 ms a scan, against 0.03 ms once vacuumed);
                // autovacuum would come within a minute. A table it may not
                // vacuum only gets a warning from PostgreSQL.
                if folded >= VACUUM_COUNTS_AFTER
                    && let Err(e) = sqlx::raw_sql("VACUUM compose_counts").execute(pool).await
                {
                    tracing::warn!("vacuuming compose_counts after a fold: {e}");
                }
                Ok(u64::try_from(folded).unwrap_or(0))
            }
            Backend::Sqlite(_) => transaction!(self, |tx| {
                let new_ids = sqlx::query_as::<_, (i64,)>(FOLD_SQLITE)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("fold compose counts"))?;
                // every row older than the sums is in them (no other writer
                // could append since the insert began)
                let first_new = new_ids.iter().map(|r| r.0).min().unwrap_or(i64::MAX);
                let gone = sqlx::query("DELETE FROM compose_counts WHERE id < $1")
                    .bind(first_new)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("fold compose counts"))?;
                Ok(gone.rows_affected())
            }),
        }
    }

    /// A compose that can answer a request with this fingerprint: the first
    /// of [`Store::find_reusable_composes`].
    pub async fn find_reusable_compose(
        &self,
        fingerprint: &str,
    ) -> Result<Option<ComposeRow>, StoreError> {
        Ok(self
            .find_reusable_composes(fingerprint, i64::MAX, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Up to `limit` composes older than `before_id` that could answer a
    /// request with this fingerprint, in the order to try them: not
    /// themselves reuses, not expired, `done` ones (newest first), then
    /// `generating` or `wait` ones (oldest first, as they finish first).
    ///
    /// The caller still applies what the fingerprint cannot know (for `tag`
    /// composes: whether the tag changed since the candidate's Koji event).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn find_reusable_composes(
        &self,
        fingerprint: &str,
        before_id: i64,
        limit: i64,
    ) -> Result<Vec<ComposeRow>, StoreError> {
        let sql = format!(
            "SELECT {COMPOSE_COLUMNS} FROM composes \
             WHERE fingerprint = $1 AND id < $4 AND reused_id IS NULL \
               AND time_to_expire > $2 AND {} \
             ORDER BY CASE WHEN state = $3 THEN 0 ELSE 1 END, \
             CASE WHEN state = $3 THEN -id ELSE id END LIMIT $5",
            in_states(&[
                ComposeState::Wait,
                ComposeState::Generating,
                ComposeState::Done
            ])
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(fingerprint)
                .bind(Timestamp::now())
                .bind(ComposeState::Done)
                .bind(before_id)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db("find reusable composes"))
        })
    }

    /// Answers compose `id` by compose `reused_id` (odcs-api.md §5.5): records
    /// the link, copies `pungi_compose_id`, gives both the later of their
    /// expiry times, and takes the reused compose's state: `done` at once, or
    /// `generating`, to be finished by the reused compose's own transition.
    ///
    /// Only a compose still deciding (`wait`) links, and only to one that
    /// generates its own tree: `done` or `generating` and reusing nothing,
    /// checked in the statement that links. A compose decides while `wait`
    /// and leaves it either by linking or by [`Store::mark_generating`], never
    /// both, so a compose linked to is never one that then reuses a third
    /// (whose tree would never exist).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn mark_reused(&self, id: i64, reused_id: i64) -> Result<ComposeRow, StoreError> {
        let now = Timestamp::now();
        let update = format!(
            "UPDATE composes SET reused_id = r.id, pungi_compose_id = r.pungi_compose_id, \
               time_to_expire = CASE WHEN r.time_to_expire > composes.time_to_expire \
                 THEN r.time_to_expire ELSE composes.time_to_expire END, \
               state = CASE WHEN r.state = $3 THEN $3 ELSE $4 END, \
               state_reason = r.state_reason, \
               koji_event = COALESCE(composes.koji_event, r.koji_event), \
               time_started = COALESCE(composes.time_started, $5), \
               time_done = CASE WHEN r.state = $3 THEN $5 ELSE NULL END \
             FROM (SELECT id, pungi_compose_id, time_to_expire, state, state_reason, koji_event \
                   FROM composes WHERE id = $2 AND state IN ($3, $4) AND reused_id IS NULL) AS r \
             WHERE composes.id = $1 AND composes.state = $6 \
             RETURNING {}",
            qualified_columns()
        );
        let extend = "UPDATE composes SET time_to_expire = $2 \
                      WHERE id = $1 AND time_to_expire < $2";
        let row = transaction!(self, |tx| {
            let row = sqlx::query_as::<_, ComposeRow>(&update)
                .bind(id)
                .bind(reused_id)
                .bind(ComposeState::Done)
                .bind(ComposeState::Generating)
                .bind(now)
                .bind(ComposeState::Wait)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("mark compose reused"))?;
            if let Some(row) = &row {
                sqlx::query(extend)
                    .bind(reused_id)
                    .bind(row.time_to_expire)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("extend reused compose"))?;
            }
            Ok(row)
        })?;
        match row {
            Some(row) => {
                self.tell_state_changed();
                Ok(row)
            }
            None => {
                // Tell which side is wrong.
                let this = self.find_compose(id).await?;
                if this.state != ComposeState::Wait {
                    return Err(StoreError::InvalidState {
                        id,
                        state: this.state,
                        action: "reuse another compose",
                    });
                }
                let reused = self.find_compose(reused_id).await?;
                Err(StoreError::InvalidState {
                    id: reused_id,
                    state: reused.state,
                    action: "be reused",
                })
            }
        }
    }

    /// `wait` → `generating` ("Compose thread started"): the compose builds its
    /// own tree. Also accepted from `generating` (not reusing), so a job taken
    /// over after its worker died restarts the compose; `time_started` then
    /// keeps the first start.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn mark_generating(&self, id: i64) -> Result<ComposeRow, StoreError> {
        let sql = format!(
            "UPDATE composes SET state = $2, state_reason = $3, \
             time_started = COALESCE(time_started, $4) \
             WHERE id = $1 AND reused_id IS NULL AND {} RETURNING {COMPOSE_COLUMNS}",
            in_states(&[ComposeState::Wait, ComposeState::Generating])
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(id)
                .bind(ComposeState::Generating)
                .bind(REASON_STARTED)
                .bind(Timestamp::now())
                .fetch_optional(pool)
                .await
                .map_err(db("mark compose generating"))
        })?;
        self.transitioned(id, row, "start generating").await
    }

    /// Records the phase and progress of a compose being generated.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn set_progress(&self, id: i64, progress: &str) -> Result<(), StoreError> {
        let done = with_pool!(self, |pool| {
            sqlx::query("UPDATE composes SET progress = $2 WHERE id = $1")
                .bind(id)
                .bind(progress)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(db("set compose progress"))
        })?;
        if done == 0 {
            return Err(StoreError::NotFound { id });
        }
        Ok(())
    }

    /// `generating` → `done`: stores the Koji event (if given) and the exact
    /// package set (replacing any from an earlier attempt), restarts the
    /// lifetime from now, and finishes the composes waiting on this one
    /// through reuse.
    #[instrument(skip(self, rpms), fields(rpms = rpms.len()), err(level = "debug"))]
    pub async fn mark_done(
        &self,
        id: i64,
        koji_event: Option<i64>,
        rpms: &[StoredRpm],
    ) -> Result<ComposeRow, StoreError> {
        let now = Timestamp::now();
        let update = format!(
            "UPDATE composes SET state = $2, state_reason = $3, time_done = $4, \
             time_to_expire = $4 + (time_to_expire - time_submitted), \
             koji_event = COALESCE($5, koji_event) \
             WHERE id = $1 AND {} RETURNING {COMPOSE_COLUMNS}",
            in_states(&[ComposeState::Generating])
        );
        let row = transaction!(self, |tx| {
            let row = sqlx::query_as::<_, ComposeRow>(&update)
                .bind(id)
                .bind(ComposeState::Done)
                .bind(REASON_DONE)
                .bind(now)
                .bind(koji_event)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("mark compose done"))?;
            if row.is_some() {
                sqlx::query("DELETE FROM compose_rpms WHERE compose_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("clear compose rpms"))?;
                for (n, chunk) in rpms.chunks(RPM_CHUNK).enumerate() {
                    let sql = insert_rpms_sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for (i, rpm) in chunk.iter().enumerate() {
                        let position = i64::try_from(n * RPM_CHUNK + i).unwrap_or(i64::MAX);
                        q = q
                            .bind(id)
                            .bind(position)
                            .bind(&rpm.nevra)
                            .bind(&rpm.srpm_nevra)
                            .bind(&rpm.arch)
                            .bind(&rpm.category)
                            .bind(&rpm.path)
                            .bind(&rpm.sigkey)
                            .bind(&rpm.checksum)
                            .bind(&rpm.build_nvr)
                            .bind(&rpm.source_path);
                    }
                    q.execute(&mut *tx)
                        .await
                        .map_err(db("store compose rpms"))?;
                }
                finish_reusers!(tx, id, ComposeState::Done, REASON_DONE, now);
            }
            Ok(row)
        })?;
        self.transitioned(id, row, "be marked done").await
    }

    /// `wait`/`generating` → `failed` with `reason` (an error, or "Canceled
    /// by <user>"); the lifetime restarts from now, and composes waiting on
    /// this one through reuse fail with it.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn mark_failed(&self, id: i64, reason: &str) -> Result<ComposeRow, StoreError> {
        self.fail_compose(id, reason, false).await
    }

    async fn fail_compose(
        &self,
        id: i64,
        reason: &str,
        cancel_jobs: bool,
    ) -> Result<ComposeRow, StoreError> {
        let now = Timestamp::now();
        let update = format!(
            "UPDATE composes SET state = $2, state_reason = $3, \
             time_to_expire = $4 + (time_to_expire - time_submitted) \
             WHERE id = $1 AND {} RETURNING {COMPOSE_COLUMNS}",
            in_states(&[ComposeState::Wait, ComposeState::Generating])
        );
        let row = transaction!(self, |tx| {
            let row = sqlx::query_as::<_, ComposeRow>(&update)
                .bind(id)
                .bind(ComposeState::Failed)
                .bind(reason)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("mark compose failed"))?;
            if row.is_some() {
                if cancel_jobs {
                    sqlx::query(
                        "UPDATE jobs SET state = 'cancelled', lease_until_ms = NULL, \
                         time_finished = $2 WHERE compose_id = $1 AND state IN ('queued', 'running')",
                    )
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("cancel jobs"))?;
                }
                finish_reusers!(tx, id, ComposeState::Failed, reason, now);
            }
            Ok(row)
        })?;
        self.transitioned(id, row, "be marked failed").await
    }

    /// `done`/`failed` → `removed` (the reaper, after deleting the files).
    /// `removed_by` is kept from [`Store::request_removal`] when `None`.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn mark_removed(
        &self,
        id: i64,
        removed_by: Option<&str>,
        reason: &str,
    ) -> Result<ComposeRow, StoreError> {
        let sql = format!(
            "UPDATE composes SET state = $2, state_reason = $3, time_removed = $4, \
             removed_by = COALESCE($5, removed_by) \
             WHERE id = $1 AND {} RETURNING {COMPOSE_COLUMNS}",
            in_states(&[ComposeState::Done, ComposeState::Failed])
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(id)
                .bind(ComposeState::Removed)
                .bind(reason)
                .bind(Timestamp::now())
                .bind(removed_by)
                .fetch_optional(pool)
                .await
                .map_err(db("mark compose removed"))
        })?;
        self.transitioned(id, row, "be removed").await
    }

    /// Renew of a `done` compose (odcs-api.md §3.4): `time_to_expire` becomes
    /// at least `time_to_expire` — never earlier — on the compose, on the
    /// compose it reuses and on every compose that reuses it.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn extend_expiry(
        &self,
        id: i64,
        time_to_expire: Timestamp,
    ) -> Result<ComposeRow, StoreError> {
        let this = self.find_compose(id).await?;
        if this.state != ComposeState::Done {
            return Err(StoreError::InvalidState {
                id,
                state: this.state,
                action: "extend its expiry",
            });
        }
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE composes SET time_to_expire = $3 \
                 WHERE (id = $1 OR id = $2 OR reused_id = $1) AND time_to_expire < $3",
            )
            .bind(id)
            .bind(this.reused_id)
            .bind(time_to_expire)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(db("extend compose expiry"))
        })?;
        self.find_compose(id).await
    }

    /// Admin DELETE of a `done`/`failed` compose: it expires now, records
    /// who asked, and a remove job is queued, in one transaction; the state
    /// stays until a worker has removed the files. Asking again is accepted
    /// again.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn request_removal(
        &self,
        id: i64,
        removed_by: &str,
    ) -> Result<ComposeRow, StoreError> {
        let now = Timestamp::now();
        let sql = format!(
            "UPDATE composes SET time_to_expire = $2, removed_by = $3 \
             WHERE id = $1 AND {} RETURNING {COMPOSE_COLUMNS}",
            in_states(&[ComposeState::Done, ComposeState::Failed])
        );
        let row = transaction!(self, |tx| {
            let row = sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(id)
                .bind(now)
                .bind(removed_by)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("request compose removal"))?;
            if row.is_some() {
                queue_job!(tx, id, JobKind::Remove, now);
            }
            Ok(row)
        })?;
        self.transitioned(id, row, "be removed").await
    }

    /// Cancels a `wait`/`generating` compose: its live jobs are cancelled and
    /// it fails with `reason`, in one transaction (a worker running it
    /// finds out at its next lease renewal).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn cancel_compose(&self, id: i64, reason: &str) -> Result<ComposeRow, StoreError> {
        self.fail_compose(id, reason, true).await
    }

    /// Composes left `wait`/`generating` with no job that will finish them
    /// (the original's lost-compose check): no queued or running job, and not
    /// a reuse of a compose that is itself still live.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn lost_composes(&self) -> Result<Vec<ComposeRow>, StoreError> {
        let live = in_states(&[ComposeState::Wait, ComposeState::Generating]);
        let sql = format!(
            "SELECT {COMPOSE_COLUMNS} FROM composes c WHERE c.{live} \
               AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.compose_id = c.id \
                 AND j.state IN ('queued', 'running')) \
               AND NOT EXISTS (SELECT 1 FROM composes r WHERE r.id = c.reused_id AND r.{live}) \
             ORDER BY c.id"
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .fetch_all(pool)
                .await
                .map_err(db("find lost composes"))
        })
    }

    /// Composes `generating` their own tree since before `started_before`:
    /// those that ran past the compose timeout.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn overdue_composes(
        &self,
        started_before: Timestamp,
    ) -> Result<Vec<ComposeRow>, StoreError> {
        let sql = format!(
            "SELECT {COMPOSE_COLUMNS} FROM composes \
             WHERE state = $1 AND reused_id IS NULL AND time_started < $2 ORDER BY id"
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(ComposeState::Generating)
                .bind(started_before)
                .fetch_all(pool)
                .await
                .map_err(db("find overdue composes"))
        })
    }

    /// `done` and `failed` composes whose time to expire is not after `now`,
    /// oldest expiry first: the reaper's work.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn expired_composes(&self, now: Timestamp) -> Result<Vec<ComposeRow>, StoreError> {
        let sql = format!(
            "SELECT {COMPOSE_COLUMNS} FROM composes WHERE time_to_expire <= $1 AND {} \
             ORDER BY time_to_expire, id",
            in_states(&[ComposeState::Done, ComposeState::Failed])
        );
        with_pool!(self, |pool| {
            sqlx::query_as::<_, ComposeRow>(&sql)
                .bind(now)
                .fetch_all(pool)
                .await
                .map_err(db("find expired composes"))
        })
    }

    /// The exact package set of a done compose, in the order it was stored.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn compose_rpms(&self, id: i64) -> Result<Vec<StoredRpm>, StoreError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, StoredRpm>(
                "SELECT nevra, srpm_nevra, arch, category, path, sigkey, checksum, build_nvr, \
                 source_path FROM compose_rpms WHERE compose_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(pool)
            .await
            .map_err(db("read compose rpms"))
        })?;
        if rows.is_empty() {
            // Distinguish "no such compose" from "no packages".
            self.find_compose(id).await?;
        }
        Ok(rows)
    }

    /// The row a transition returned, or why there was none.
    async fn transitioned(
        &self,
        id: i64,
        row: Option<ComposeRow>,
        action: &'static str,
    ) -> Result<ComposeRow, StoreError> {
        match row {
            Some(row) => {
                self.tell_state_changed();
                Ok(row)
            }
            None => {
                let current = self.find_compose(id).await?;
                Err(StoreError::InvalidState {
                    id,
                    state: current.state,
                    action,
                })
            }
        }
    }
}

/// `$1, $2, …, $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn insert_rpms_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO compose_rpms (compose_id, position, nevra, srpm_nevra, arch, category, \
         path, sigkey, checksum, build_nvr, source_path) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let base = r * 11;
        let placeholders: Vec<String> = (1..=11).map(|i| format!("${}", base + i)).collect();
        sql.push('(');
        sql.push_str(&placeholders.join(", "));
        sql.push(')');
    }
    sql
}

/// [`COMPOSE_COLUMNS`] qualified with the table, for `UPDATE ... FROM`.
fn qualified_columns() -> String {
    COMPOSE_COLUMNS
        .split(", ")
        .map(|c| format!("composes.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Replaces the `source` of a generating compose (a module compose's
    /// requested modules by the exact builds it resolved).
    pub async fn set_source(&self, id: i64, source: &str) -> Result<(), StoreError> {
        let sql = "UPDATE composes SET source = $2 WHERE id = $1 AND state = 1";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(id)
                .bind(source)
                .execute(pool)
                .await
                .map(drop)
                .map_err(db("record the compose's source"))
        })
    }

    /// The Pungi compose ids that start with `prefix`
    /// (`<short>-<version>-<date><type>.`): the respins already taken.
    pub async fn pungi_ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT pungi_compose_id FROM composes \
                   WHERE substr(pungi_compose_id, 1, $2) = $1";
        let len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        with_pool!(self, |pool| {
            sqlx::query_scalar::<_, String>(sql)
                .bind(prefix)
                .bind(len)
                .fetch_all(pool)
                .await
                .map_err(db("read the Pungi compose ids"))
        })
    }

    /// What Pungi answered for a generating compose: its compose id and,
    /// for production and development composes, its configuration dump.
    /// What a `pulp` compose found (odcs-api.md §6): its arches and
    /// signing keys, and its sources when `source` is given (absent ones
    /// dropped). Only while it is generating.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn set_pulp_result(
        &self,
        id: i64,
        source: Option<&str>,
        arches: &str,
        sigkeys: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE composes SET source = COALESCE($2, source), arches = $3, sigkeys = $4 \
                   WHERE id = $1 AND state = 1";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(id)
                .bind(source)
                .bind(arches)
                .bind(sigkeys)
                .execute(pool)
                .await
                .map(drop)
                .map_err(db("record what Pulp answered"))
        })
    }

    pub async fn set_pungi(
        &self,
        id: i64,
        compose_id: &str,
        config_dump: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE composes SET pungi_compose_id = $2, \
                   pungi_config_dump = COALESCE($3, pungi_config_dump) \
                   WHERE id = $1 AND state = 1";
        with_pool!(self, |pool| {
            sqlx::query(sql)
                .bind(id)
                .bind(compose_id)
                .bind(config_dump)
                .execute(pool)
                .await
                .map(drop)
                .map_err(db("record what Pungi answered"))
        })
    }

    /// Composes of `owner` in `wait` or `generating`.
    pub async fn active_composes_of(&self, owner: &str) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM composes WHERE owner = $1 AND state IN (0, 1)";
        with_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(owner)
                .fetch_one(pool)
                .await
                .map_err(db("count active composes"))
        })
    }
}
