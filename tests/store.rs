//! The store on both backends: every test below runs once against SQLite (a
//! temporary file) and once against the PostgreSQL server of this machine
//! (127.0.0.1:5432, trust auth), each in a database of its own that is
//! dropped afterwards.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use odcs::store::{
    ComposeFilter, ComposeState, JobKind, JobState, NewCompose, OrderBy, OrderColumn, Store,
    StoreError, StoredRpm, Timestamp,
};
use sqlx::Connection;

/// What a test gets: a migrated store, and its URL for opening more.
struct TestDb {
    store: Store,
    url: String,
}

fn postgres_admin_url() -> String {
    std::env::var("ODCS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs the body in its own task so that a failing assertion still lets the
/// database be cleaned up, then re-raises the failure.
async fn run_caught<Fut>(body: Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    if let Err(e) = tokio::spawn(body).await {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("odcs.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    run_caught(test(TestDb { store, url })).await;
}

async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_admin_url();
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "these tests need PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, \
             database test), or the server named by ODCS_TEST_POSTGRES_URL; connecting to \
             {admin_url} failed: {e}. The machines of this project (and CI, which runs on \
             them) start it before the session; start it by hand with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        ),
    };
    let name = format!(
        "odcs_store_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("no database in {admin_url}"),
    };
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let closer = store.clone();
    run_caught(test(TestDb { store, url })).await;
    closer.close().await;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// Declares each test once per backend: `sqlite::<name>` and
/// `postgres::<name>`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_sqlite(super::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::run_postgres(super::$name).await
                }
            )*
        }
    };
}

on_both_backends!(
    migrating_twice_changes_nothing,
    workers_are_alive_while_their_heartbeats_are_recent,
    queued_jobs_and_composes_are_counted_by_kind_type_and_state,
    inserted_compose_reads_back_with_every_field,
    unknown_compose_is_not_found,
    list_filters_orders_and_counts_pages,
    list_totals_follow_every_change_and_fold,
    list_filters_by_time_of_submission,
    deep_pages_hold_the_rows_of_the_whole_ordered_list,
    list_orders_missing_times_first_when_ascending,
    compose_goes_from_wait_through_generating_to_done,
    transitions_from_the_wrong_state_are_refused,
    failed_compose_restarts_its_lifetime,
    reusable_compose_is_found_by_fingerprint,
    reusing_compose_finishes_with_the_reused_one,
    identical_requests_share_one_compose,
    renew_extends_expiry_but_never_shortens_it,
    removal_request_expires_the_compose_now,
    expired_composes_are_done_or_failed_past_their_time,
    package_set_round_trips_in_order,
    progress_is_recorded,
    jobs_are_claimed_in_submission_order,
    enqueueing_a_live_job_twice_returns_it,
    job_with_an_expired_lease_is_claimed_by_another_worker,
    concurrent_claimers_take_every_job_exactly_once,
    renew_by_the_wrong_worker_fails,
    released_job_is_claimed_again_at_once,
    cancelled_jobs_are_not_claimed_and_lose_their_lease,
    a_compose_links_only_to_one_that_builds_its_own_tree,
    one_holder_has_a_named_lease_at_a_time,
    a_compose_with_no_live_job_is_lost,
    a_job_tried_again_later_waits_out_its_pause,
    a_submitted_compose_always_has_its_job,
    every_state_change_is_in_the_outbox_as_it_was,
);

fn tag_compose(owner: &str, source: &str) -> NewCompose {
    let mut c = NewCompose::new(owner, 1, source);
    c.arches = "x86_64".to_owned();
    c
}

fn rpm(i: usize) -> StoredRpm {
    StoredRpm {
        nevra: format!("pkg{i}-0:1.{i}-1.fc40.x86_64"),
        srpm_nevra: format!("pkg{i}-0:1.{i}-1.fc40.src"),
        arch: "x86_64".to_owned(),
        category: if i.is_multiple_of(3) {
            "source"
        } else {
            "binary"
        }
        .to_owned(),
        path: format!("Temporary/x86_64/os/Packages/p/pkg{i}-1.{i}-1.fc40.x86_64.rpm"),
        sigkey: i.is_multiple_of(2).then(|| "a15b79cc".to_owned()),
        checksum: format!("sha256:{i:064x}"),
        build_nvr: format!("pkg{i}-1.{i}-1.fc40"),
        source_path: format!("/mnt/koji/packages/pkg{i}/1.{i}/1.fc40/x86_64/pkg{i}.rpm"),
    }
}

async fn done_compose(store: &Store, new: &NewCompose) -> i64 {
    let id = store.insert_compose(new).await.unwrap().id;
    store.mark_generating(id).await.unwrap();
    store.mark_done(id, Some(42), &[rpm(1)]).await.unwrap();
    id
}

async fn migrating_twice_changes_nothing(db: TestDb) {
    let id = db
        .store
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    db.store.migrate().await.unwrap();
    assert_eq!(db.store.find_compose(id).await.unwrap().source, "f40");
}

async fn inserted_compose_reads_back_with_every_field(db: TestDb) {
    let new = NewCompose {
        owner: "alice".into(),
        source_type: 2,
        source: "testmodule:master".into(),
        seconds_to_live: 3600,
        packages: Some("bash curl".into()),
        builds: Some("bash-5.2-1.fc40".into()),
        arches: "x86_64 aarch64".into(),
        sigkeys: Some(" a15b79cc".into()),
        flags: 1 | 64,
        results: 1 | 2,
        multilib_arches: "i686".into(),
        multilib_method: 1 | 2,
        lookaside_repos: Some("http://example.invalid/repo".into()),
        modular_koji_tags: Some("module-tag".into()),
        module_defaults_url: Some("https://git.invalid/defaults.git abc123".into()),
        koji_event: Some(123_456),
        label: Some("Beta-1.0".into()),
        compose_type: Some("production".into()),
        target_dir: "private".into(),
        pungi_config_dump: Some("release_name = 'x'".into()),
        scratch_modules: Some("scratch:1".into()),
        scratch_build_tasks: Some("11 12".into()),
        parent_pungi_compose_ids: Some("Fedora-40-20240101.0".into()),
        modules: Some("perl:5.30".into()),
        respin_of: Some("odcs-1-1-20240101.t.0".into()),
        base_module_br_name: Some("platform".into()),
        base_module_br_stream: Some("f40".into()),
        base_module_br_stream_version_lte: Some(400_100),
        base_module_br_stream_version_gte: Some(400_000),
        fingerprint: Some("fp-1".into()),
        replay_of: Some(7),
    };
    let before = Timestamp::now();
    let row = db.store.insert_compose(&new).await.unwrap();
    let after = Timestamp::now();
    assert!(row.id >= 1);
    assert_eq!(row.state, ComposeState::Wait);
    assert_eq!(row.state_reason, None);
    assert!(before <= row.time_submitted && row.time_submitted <= after);
    assert_eq!(row.time_to_expire, row.time_submitted.add_seconds(3600));
    assert_eq!(
        (row.time_started, row.time_done, row.time_removed),
        (None, None, None)
    );
    assert_eq!(row.koji_task_id, None);
    assert_eq!(row.reused_id, None);
    assert_eq!(row.name(), format!("odcs-{}", row.id));
    let read = db.store.find_compose(row.id).await.unwrap();
    assert_eq!(read, row);
    // Every field of the request, unchanged.
    let back = NewCompose {
        owner: read.owner,
        source_type: read.source_type,
        source: read.source,
        seconds_to_live: read.seconds_to_live,
        packages: read.packages,
        builds: read.builds,
        arches: read.arches,
        sigkeys: read.sigkeys,
        flags: read.flags,
        results: read.results,
        multilib_arches: read.multilib_arches,
        multilib_method: read.multilib_method,
        lookaside_repos: read.lookaside_repos,
        modular_koji_tags: read.modular_koji_tags,
        module_defaults_url: read.module_defaults_url,
        koji_event: read.koji_event,
        label: read.label,
        compose_type: read.compose_type,
        target_dir: read.target_dir,
        pungi_config_dump: read.pungi_config_dump,
        scratch_modules: read.scratch_modules,
        scratch_build_tasks: read.scratch_build_tasks,
        parent_pungi_compose_ids: read.parent_pungi_compose_ids,
        modules: read.modules,
        respin_of: read.respin_of,
        base_module_br_name: read.base_module_br_name,
        base_module_br_stream: read.base_module_br_stream,
        base_module_br_stream_version_lte: read.base_module_br_stream_version_lte,
        base_module_br_stream_version_gte: read.base_module_br_stream_version_gte,
        fingerprint: read.fingerprint,
        replay_of: read.replay_of,
    };
    assert_eq!(back, new);
    let second = db
        .store
        .insert_compose(&tag_compose("bob", "f40"))
        .await
        .unwrap();
    assert_eq!(second.id, row.id + 1);
}

async fn unknown_compose_is_not_found(db: TestDb) {
    let err = db.store.find_compose(999).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id: 999 }), "{err}");
    assert_eq!(err.to_string(), "no such compose: 999");
    let err = db.store.mark_generating(999).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id: 999 }), "{err}");
    let err = db.store.compose_rpms(999).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id: 999 }), "{err}");
    let err = db.store.set_progress(999, "x").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id: 999 }), "{err}");
}

/// The list's total for filters of source type and state at most is summed
/// from `compose_counts` (kept by triggers); it must equal the composes the
/// list itself finds, through inserts, transitions, a row deleted by hand,
/// folds, and writers running while another task folds.
async fn list_totals_follow_every_change_and_fold(db: TestDb) {
    let s = &db.store;
    let filters: Vec<ComposeFilter> = [
        (None, None),
        (Some(1), None),
        (Some(2), None),
        (None, Some(ComposeState::Wait)),
        (None, Some(ComposeState::Done)),
        (Some(1), Some(ComposeState::Generating)),
        (Some(2), Some(ComposeState::Wait)),
        (Some(3), None),
    ]
    .into_iter()
    .map(|(source_type, state)| ComposeFilter {
        source_type,
        state,
        ..Default::default()
    })
    .collect();
    let check = |when: &'static str| {
        let filters = filters.clone();
        let s = s.clone();
        async move {
            for f in &filters {
                let (rows, total) = s
                    .list_composes(f, OrderBy::default(), 1, 100_000)
                    .await
                    .unwrap();
                assert_eq!(total, rows.len() as u64, "{when}: {f:?}");
            }
        }
    };
    check("empty").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let c = if i % 3 == 0 {
            NewCompose::new("bob", 2, &format!("mod:{i}"))
        } else {
            tag_compose("alice", "f40")
        };
        ids.push(s.insert_compose(&c).await.unwrap().id);
    }
    check("inserted").await;
    for &id in &ids[..8] {
        s.mark_generating(id).await.unwrap();
    }
    check("generating").await;
    for &id in &ids[..5] {
        s.mark_done(id, Some(7), &[rpm(id as usize)]).await.unwrap();
    }
    s.mark_failed(ids[6], "broken").await.unwrap();
    s.request_removal(ids[0], "carol").await.unwrap();
    s.mark_removed(ids[0], Some("carol"), "Removed by carol.")
        .await
        .unwrap();
    check("done, failed, removed").await;
    let (_, done) = s
        .list_composes(&filters[4], OrderBy::default(), 1, 0)
        .await
        .unwrap();
    assert_eq!(done, 4, "composes 1-4 are done");

    // a row deleted by hand (an operator cleaning up) leaves the count too
    let last = *ids.last().unwrap();
    execute(&db.url, &format!("DELETE FROM composes WHERE id = {last}")).await;
    check("deleted").await;

    let folded = s.fold_compose_counts().await.unwrap();
    assert!(folded > 12, "every appended row was folded: {folded}");
    check("folded").await;
    let (rows, _) = s
        .list_composes(&ComposeFilter::default(), OrderBy::default(), 1, 1000)
        .await
        .unwrap();
    let groups: HashSet<(i64, ComposeState)> =
        rows.iter().map(|r| (r.source_type, r.state)).collect();
    assert_eq!(
        s.fold_compose_counts().await.unwrap(),
        groups.len() as u64,
        "one row per group is left after a fold"
    );
    check("folded twice").await;

    // writers and a folder at once
    let mut tasks = Vec::new();
    for t in 0..3 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let c = NewCompose::new("dave", 1 + (t + i) % 2, "f41");
                let id = s.insert_compose(&c).await.unwrap().id;
                if i % 2 == 0 {
                    s.mark_generating(id).await.unwrap();
                }
            }
        }));
    }
    let folder = {
        let s = s.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                s.fold_compose_counts().await.unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    folder.await.unwrap();
    check("concurrent").await;
    let (_, total) = s
        .list_composes(&ComposeFilter::default(), OrderBy::default(), 1, 0)
        .await
        .unwrap();
    assert_eq!(total, 11 + 60);
}

/// `submitted_after` (inclusive) and `submitted_before` (exclusive) narrow
/// the list by `time_submitted`, alone, together and with another filter,
/// and the total follows them.
async fn list_filters_by_time_of_submission(db: TestDb) {
    let s = &db.store;
    let mut ids = Vec::new();
    for (i, t) in [1_000i64, 2_000, 3_000, 4_000].into_iter().enumerate() {
        let owner = if i % 2 == 0 { "alice" } else { "bob" };
        let id = s
            .insert_compose(&tag_compose(owner, "f40"))
            .await
            .unwrap()
            .id;
        execute(
            &db.url,
            &format!("UPDATE composes SET time_submitted = {t} WHERE id = {id}"),
        )
        .await;
        ids.push(id);
    }
    let list = |after: Option<i64>, before: Option<i64>, owner: Option<&str>| {
        let filter = ComposeFilter {
            submitted_after: after.map(Timestamp),
            submitted_before: before.map(Timestamp),
            owner: owner.map(str::to_owned),
            ..Default::default()
        };
        let s = s.clone();
        async move {
            let (rows, total) = s
                .list_composes(&filter, OrderBy::parse("id").unwrap(), 1, 100)
                .await
                .unwrap();
            assert_eq!(total, rows.len() as u64);
            rows.iter().map(|r| r.id).collect::<Vec<i64>>()
        }
    };
    assert_eq!(list(Some(2_000), None, None).await, ids[1..]);
    assert_eq!(list(None, Some(3_000), None).await, ids[..2]);
    assert_eq!(list(Some(2_000), Some(4_000), None).await, ids[1..3]);
    assert_eq!(
        list(Some(1_000), Some(4_001), Some("alice")).await,
        [ids[0], ids[2]]
    );
    assert_eq!(list(Some(4_001), None, None).await, Vec::<i64>::new());
    assert_eq!(
        list(Some(3_000), Some(3_000), None).await,
        Vec::<i64>::new()
    );
}

/// Run one statement on the test's database with a connection of its own.
async fn execute(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    }
}

/// Pages far into the list (where PostgreSQL walks ids first and fetches
/// the page's rows by id) hold exactly the rows of the whole list in order,
/// for the default order, an ascending one and one by another column, with
/// and without a filter.
async fn deep_pages_hold_the_rows_of_the_whole_ordered_list(db: TestDb) {
    let s = &db.store;
    for i in 0..330 {
        let owner = ["alice", "bob", "carol"][i % 3];
        let c = s.insert_compose(&tag_compose(owner, "f40")).await.unwrap();
        if i % 4 == 0 {
            s.mark_generating(c.id).await.unwrap();
        }
    }
    let orders = ["-id", "id", "owner", "-state"];
    let filters = [
        ComposeFilter::default(),
        ComposeFilter {
            owner: Some("bob".into()),
            ..Default::default()
        },
        ComposeFilter {
            state: Some(ComposeState::Wait),
            ..Default::default()
        },
    ];
    for order in orders {
        let order = OrderBy::parse(order).unwrap();
        for filter in &filters {
            let (whole, total) = s.list_composes(filter, order, 1, 1000).await.unwrap();
            assert_eq!(total, whole.len() as u64);
            let whole: Vec<i64> = whole.iter().map(|r| r.id).collect();
            for per_page in [7u32, 50] {
                let mut paged = Vec::new();
                for page in 1.. {
                    let (rows, t) = s
                        .list_composes(filter, order, page, per_page)
                        .await
                        .unwrap();
                    assert_eq!(t, total);
                    if rows.is_empty() {
                        break;
                    }
                    paged.extend(rows.iter().map(|r| r.id));
                }
                assert_eq!(paged, whole, "{order:?} {filter:?} per_page {per_page}");
            }
        }
    }
}

async fn list_filters_orders_and_counts_pages(db: TestDb) {
    let s = &db.store;
    let mut ids = Vec::new();
    for (owner, source, label) in [
        ("alice", "f40", Some("a")),
        ("bob", "f40", None),
        ("alice", "f41", Some("b")),
        ("carol", "f40", None),
        ("alice", "f40", None),
    ] {
        let mut c = tag_compose(owner, source);
        c.label = label.map(str::to_owned);
        ids.push(s.insert_compose(&c).await.unwrap().id);
    }
    let mut module = NewCompose::new("bob", 2, "mod:1");
    module.compose_type = Some("production".into());
    let module_id = s.insert_compose(&module).await.unwrap().id;
    s.mark_generating(ids[1]).await.unwrap();

    let all = ComposeFilter::default();
    let (rows, total) = s
        .list_composes(&all, OrderBy::default(), 1, 10)
        .await
        .unwrap();
    assert_eq!(total, 6);
    let got: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut newest_first = ids.clone();
    newest_first.push(module_id);
    newest_first.reverse();
    assert_eq!(got, newest_first);

    let alice = ComposeFilter {
        owner: Some("alice".into()),
        ..Default::default()
    };
    let by_id = OrderBy::parse("id").unwrap();
    let (rows, total) = s.list_composes(&alice, by_id, 1, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[0], ids[2]]
    );
    let (rows, total) = s.list_composes(&alice, by_id, 2, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[4]]);
    let (rows, total) = s.list_composes(&alice, by_id, 3, 2).await.unwrap();
    assert_eq!((rows.len(), total), (0, 3));
    let (rows, total) = s.list_composes(&alice, by_id, 1, 0).await.unwrap();
    assert_eq!((rows.len(), total), (0, 3));
    // Page 0 is page 1.
    let (rows, _) = s.list_composes(&alice, by_id, 0, 1).await.unwrap();
    assert_eq!(rows[0].id, ids[0]);

    let combined = ComposeFilter {
        owner: Some("alice".into()),
        source: Some("f40".into()),
        label: Some("a".into()),
        ..Default::default()
    };
    let (rows, total) = s.list_composes(&combined, by_id, 1, 10).await.unwrap();
    assert_eq!((rows[0].id, total), (ids[0], 1));

    let generating = ComposeFilter {
        state: Some(ComposeState::Generating),
        ..Default::default()
    };
    let (rows, total) = s.list_composes(&generating, by_id, 1, 10).await.unwrap();
    assert_eq!((rows[0].id, total), (ids[1], 1));

    let modules = ComposeFilter {
        source_type: Some(2),
        compose_type: Some("production".into()),
        ..Default::default()
    };
    let (rows, total) = s.list_composes(&modules, by_id, 1, 10).await.unwrap();
    assert_eq!((rows[0].id, total), (module_id, 1));

    let nothing = ComposeFilter {
        koji_task_id: Some(1),
        pungi_compose_id: Some("x".into()),
        ..Default::default()
    };
    let (rows, total) = s.list_composes(&nothing, by_id, 1, 10).await.unwrap();
    assert_eq!((rows.len(), total), (0, 0));

    // Ties on the order column are broken by id, in the same direction.
    let by_owner = OrderBy::parse("owner").unwrap();
    let (rows, _) = s.list_composes(&all, by_owner, 1, 10).await.unwrap();
    let owners: Vec<(&str, i64)> = rows.iter().map(|r| (r.owner.as_str(), r.id)).collect();
    assert_eq!(
        owners,
        [
            ("alice", ids[0]),
            ("alice", ids[2]),
            ("alice", ids[4]),
            ("bob", ids[1]),
            ("bob", module_id),
            ("carol", ids[3]),
        ]
    );
    let by_owner_desc = OrderBy::parse("-owner").unwrap();
    let (rows, _) = s.list_composes(&all, by_owner_desc, 1, 2).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[3], module_id]
    );
}

async fn list_orders_missing_times_first_when_ascending(db: TestDb) {
    let s = &db.store;
    let waiting = s.insert_compose(&tag_compose("a", "f40")).await.unwrap().id;
    let done = done_compose(s, &tag_compose("a", "f41")).await;
    let all = ComposeFilter::default();
    let order = OrderBy {
        column: OrderColumn::TimeDone,
        descending: false,
    };
    let (rows, _) = s.list_composes(&all, order, 1, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [waiting, done]
    );
    let order = OrderBy {
        column: OrderColumn::TimeDone,
        descending: true,
    };
    let (rows, _) = s.list_composes(&all, order, 1, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        [done, waiting]
    );
}

async fn compose_goes_from_wait_through_generating_to_done(db: TestDb) {
    let s = &db.store;
    let mut new = tag_compose("me", "f40");
    new.seconds_to_live = 600;
    let row = s.insert_compose(&new).await.unwrap();
    let generating = s.mark_generating(row.id).await.unwrap();
    assert_eq!(generating.state, ComposeState::Generating);
    assert_eq!(
        generating.state_reason.as_deref(),
        Some("Compose thread started")
    );
    let started = generating.time_started.unwrap();
    assert!(started >= row.time_submitted);
    // A job taken over after a crash starts the compose again.
    let again = s.mark_generating(row.id).await.unwrap();
    assert_eq!(again.time_started, Some(started));

    let done = s
        .mark_done(row.id, Some(777), &[rpm(1), rpm(2)])
        .await
        .unwrap();
    assert_eq!(done.state, ComposeState::Done);
    assert_eq!(
        done.state_reason.as_deref(),
        Some("Compose is generated successfully")
    );
    assert_eq!(done.koji_event, Some(777));
    let time_done = done.time_done.unwrap();
    // The lifetime counts from the finish.
    assert_eq!(done.time_to_expire, time_done.add_seconds(600));
    assert_eq!(done.time_removed, None);

    let removed = s
        .mark_removed(
            row.id,
            None,
            "Compose is generated successfully\nCompose is expired.",
        )
        .await
        .unwrap();
    assert_eq!(removed.state, ComposeState::Removed);
    assert!(removed.time_removed.is_some());
    assert_eq!(removed.removed_by, None);
    assert_eq!(removed.time_done, Some(time_done));
}

async fn transitions_from_the_wrong_state_are_refused(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let err = s.mark_done(id, None, &[]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: ComposeState::Wait,
                ..
            }
        ),
        "{err}"
    );
    let err = s.mark_removed(id, None, "x").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err}");
    let err = s.request_removal(id, "admin").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err}");
    let err = s.extend_expiry(id, Timestamp::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err}");
    // Nothing was stored by the refused mark_done.
    assert!(s.compose_rpms(id).await.unwrap().is_empty());

    let done = done_compose(s, &tag_compose("me", "f41")).await;
    let err = s.mark_failed(done, "late error").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: ComposeState::Done,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("compose {done} is done, cannot be marked failed")
    );
    s.mark_removed(done, None, "gone").await.unwrap();
    let err = s.mark_generating(done).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: ComposeState::Removed,
                ..
            }
        ),
        "{err}"
    );
    let err = s.mark_removed(done, None, "twice").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidState { .. }), "{err}");
}

async fn failed_compose_restarts_its_lifetime(db: TestDb) {
    let s = &db.store;
    let mut new = tag_compose("me", "f40");
    new.seconds_to_live = 100;
    let id = s.insert_compose(&new).await.unwrap().id;
    let failed = s.mark_failed(id, "Canceled by me").await.unwrap();
    assert_eq!(failed.state, ComposeState::Failed);
    assert_eq!(failed.state_reason.as_deref(), Some("Canceled by me"));
    assert_eq!(failed.time_done, None);
    assert!(failed.time_to_expire >= failed.time_submitted.add_seconds(100));
    // A failed compose can be removed.
    let removed = s
        .mark_removed(id, Some("admin"), "Canceled by me\nCompose is expired.")
        .await;
    assert_eq!(removed.unwrap().removed_by.as_deref(), Some("admin"));
}

async fn reusable_compose_is_found_by_fingerprint(db: TestDb) {
    let s = &db.store;
    let with_fp = |fp: &str| {
        let mut c = tag_compose("me", "f40");
        c.fingerprint = Some(fp.to_owned());
        c
    };
    assert_eq!(s.find_reusable_compose("fp").await.unwrap(), None);
    let waiting = s.insert_compose(&with_fp("fp")).await.unwrap().id;
    s.insert_compose(&with_fp("other")).await.unwrap();
    assert_eq!(
        s.find_reusable_compose("fp").await.unwrap().unwrap().id,
        waiting
    );

    // Expired composes are never reused.
    let mut expired = with_fp("old");
    expired.seconds_to_live = -10;
    s.insert_compose(&expired).await.unwrap();
    assert_eq!(s.find_reusable_compose("old").await.unwrap(), None);

    // Failed ones neither.
    let failing = s.insert_compose(&with_fp("bad")).await.unwrap().id;
    s.mark_failed(failing, "boom").await.unwrap();
    assert_eq!(s.find_reusable_compose("bad").await.unwrap(), None);

    // Done is preferred to generating; among done, the newest.
    let older_done = done_compose(s, &with_fp("fp")).await;
    let newer_done = done_compose(s, &with_fp("fp")).await;
    assert_eq!(
        s.find_reusable_compose("fp").await.unwrap().unwrap().id,
        newer_done
    );
    s.mark_removed(newer_done, None, "expired").await.unwrap();
    assert_eq!(
        s.find_reusable_compose("fp").await.unwrap().unwrap().id,
        older_done
    );

    // A compose answered by reuse is not itself offered.
    let reuser = s.insert_compose(&with_fp("fp")).await.unwrap().id;
    let reused = s.mark_reused(reuser, older_done).await.unwrap();
    assert_eq!(reused.reused_id, Some(older_done));
    assert_eq!(reused.state, ComposeState::Done);
    assert!(reused.time_done.is_some());
    assert_eq!(reused.name(), format!("odcs-{older_done}"));
    s.mark_removed(older_done, None, "expired").await.unwrap();
    assert_eq!(
        s.find_reusable_compose("fp").await.unwrap().unwrap().id,
        waiting
    );
}

async fn reusing_compose_finishes_with_the_reused_one(db: TestDb) {
    let s = &db.store;
    let mut long = tag_compose("me", "f40");
    long.seconds_to_live = 10_000;
    let original = s.insert_compose(&long).await.unwrap().id;
    s.mark_generating(original).await.unwrap();
    let mut short = tag_compose("you", "f40");
    short.seconds_to_live = 100;
    let reuser = s.insert_compose(&short).await.unwrap();
    let linked = s.mark_reused(reuser.id, original).await.unwrap();
    assert_eq!(linked.state, ComposeState::Generating);
    assert_eq!(linked.reused_id, Some(original));
    // Both live as long as the longer of them.
    let original_row = s.find_compose(original).await.unwrap();
    assert_eq!(linked.time_to_expire, original_row.time_to_expire);

    s.mark_done(original, Some(5), &[rpm(1)]).await.unwrap();
    let finished = s.find_compose(reuser.id).await.unwrap();
    assert_eq!(finished.state, ComposeState::Done);
    assert_eq!(
        finished.state_reason.as_deref(),
        Some("Compose is generated successfully")
    );
    assert!(finished.time_done.is_some());

    // Failure travels the same way; a failed compose cannot be reused.
    let doomed = s
        .insert_compose(&tag_compose("me", "f41"))
        .await
        .unwrap()
        .id;
    s.mark_generating(doomed).await.unwrap();
    let follower = s
        .insert_compose(&tag_compose("you", "f41"))
        .await
        .unwrap()
        .id;
    s.mark_reused(follower, doomed).await.unwrap();
    s.mark_failed(doomed, "Error while generating compose: boom")
        .await
        .unwrap();
    let follower_row = s.find_compose(follower).await.unwrap();
    assert_eq!(follower_row.state, ComposeState::Failed);
    assert_eq!(
        follower_row.state_reason.as_deref(),
        Some("Error while generating compose: boom")
    );
    let late = s
        .insert_compose(&tag_compose("you", "f41"))
        .await
        .unwrap()
        .id;
    let err = s.mark_reused(late, doomed).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: ComposeState::Failed,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.find_compose(late).await.unwrap().reused_id, None);
}

async fn identical_requests_share_one_compose(db: TestDb) {
    let s = &db.store;
    let mut first = tag_compose("alice", "f40");
    first.packages = Some("bash curl".into());
    first.fingerprint = first.reuse_fingerprint();
    let original = done_compose(s, &first).await;

    let mut second = tag_compose("bob", "f40");
    second.packages = Some("curl bash".into());
    second.fingerprint = second.reuse_fingerprint();
    let fingerprint = second.fingerprint.clone().unwrap();
    let candidate = s.find_reusable_compose(&fingerprint).await.unwrap();
    assert_eq!(candidate.map(|c| c.id), Some(original));

    let mut no_reuse = second.clone();
    no_reuse.flags |= 64;
    assert_eq!(no_reuse.reuse_fingerprint(), None);
}

async fn renew_extends_expiry_but_never_shortens_it(db: TestDb) {
    let s = &db.store;
    let original = done_compose(s, &tag_compose("me", "f40")).await;
    let reuser = s
        .insert_compose(&tag_compose("you", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_reused(reuser, original).await.unwrap();
    let before = s.find_compose(original).await.unwrap().time_to_expire;

    let later = before.add_seconds(5000);
    let renewed = s.extend_expiry(reuser, later).await.unwrap();
    assert_eq!(renewed.time_to_expire, later);
    assert_eq!(
        s.find_compose(original).await.unwrap().time_to_expire,
        later
    );

    let even_later = later.add_seconds(100);
    s.extend_expiry(original, even_later).await.unwrap();
    assert_eq!(
        s.find_compose(reuser).await.unwrap().time_to_expire,
        even_later
    );

    let kept = s.extend_expiry(original, before).await.unwrap();
    assert_eq!(kept.time_to_expire, even_later);
}

async fn removal_request_expires_the_compose_now(db: TestDb) {
    let s = &db.store;
    let id = done_compose(s, &tag_compose("me", "f40")).await;
    let row = s.request_removal(id, "admin").await.unwrap();
    let now = Timestamp::now();
    assert_eq!(row.state, ComposeState::Done);
    assert_eq!(row.removed_by.as_deref(), Some("admin"));
    assert!(row.time_to_expire <= now);
    let expired: Vec<i64> = s
        .expired_composes(now)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(expired, [id]);
    // Asking again is accepted again.
    s.request_removal(id, "admin2").await.unwrap();
    let removed = s
        .mark_removed(id, None, "\nRemoved by admin2.")
        .await
        .unwrap();
    assert_eq!(removed.removed_by.as_deref(), Some("admin2"));
    let err = s.request_removal(id, "admin").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidState {
                state: ComposeState::Removed,
                ..
            }
        ),
        "{err}"
    );
}

async fn expired_composes_are_done_or_failed_past_their_time(db: TestDb) {
    let s = &db.store;
    let mut short = tag_compose("me", "f40");
    short.seconds_to_live = 60;
    let mut long = tag_compose("me", "f41");
    long.seconds_to_live = 6000;
    let waiting = s.insert_compose(&short).await.unwrap().id;
    let short_done = done_compose(s, &short).await;
    let long_done = done_compose(s, &long).await;
    let failed = s.insert_compose(&short).await.unwrap().id;
    s.mark_failed(failed, "boom").await.unwrap();
    let removed = done_compose(s, &short).await;
    s.mark_removed(removed, None, "gone").await.unwrap();

    let now = Timestamp::now();
    assert!(s.expired_composes(now).await.unwrap().is_empty());
    let soon: Vec<i64> = s
        .expired_composes(now.add_seconds(120))
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(soon, [short_done, failed]);
    let later: HashSet<i64> = s
        .expired_composes(now.add_seconds(7000))
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(later, HashSet::from([short_done, failed, long_done]));
    assert!(!later.contains(&waiting));
}

async fn package_set_round_trips_in_order(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_generating(id).await.unwrap();
    // More than one insert statement's worth, in an order that is not sorted.
    let rpms: Vec<StoredRpm> = (0..1203).rev().map(rpm).collect();
    s.mark_done(id, None, &rpms).await.unwrap();
    assert_eq!(s.compose_rpms(id).await.unwrap(), rpms);
    let other = s
        .insert_compose(&tag_compose("me", "f41"))
        .await
        .unwrap()
        .id;
    assert!(s.compose_rpms(other).await.unwrap().is_empty());
}

async fn progress_is_recorded(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_generating(id).await.unwrap();
    s.set_progress(id, "gather 2/3").await.unwrap();
    assert_eq!(
        s.find_compose(id).await.unwrap().progress.as_deref(),
        Some("gather 2/3")
    );
}

const LEASE: Duration = Duration::from_secs(30);

async fn jobs_are_claimed_in_submission_order(db: TestDb) {
    let s = &db.store;
    assert_eq!(s.claim_next_job("w1", LEASE).await.unwrap(), None);
    let mut jobs = Vec::new();
    for source in ["a", "b", "c"] {
        let id = s
            .insert_compose(&tag_compose("me", source))
            .await
            .unwrap()
            .id;
        let job = s.enqueue_job(id, JobKind::Generate).await.unwrap();
        assert_eq!(
            (job.state, job.attempts, job.compose_id),
            (JobState::Queued, 0, id)
        );
        jobs.push(job);
    }
    let remove = s
        .enqueue_job(jobs[0].compose_id, JobKind::Remove)
        .await
        .unwrap();
    assert_ne!(remove.id, jobs[0].id);
    assert_eq!(s.live_job_count().await.unwrap(), 4);

    for expected in jobs.iter().chain([&remove]) {
        let claimed = s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
        assert_eq!(claimed.id, expected.id);
        assert_eq!(claimed.kind, expected.kind);
        assert_eq!(claimed.state, JobState::Running);
        assert_eq!(claimed.worker.as_deref(), Some("w1"));
        assert_eq!(claimed.attempts, 1);
        assert!(claimed.lease_until_ms.is_some());
    }
    assert_eq!(s.claim_next_job("w1", LEASE).await.unwrap(), None);
    assert!(s.finish_job(jobs[0].id, "w1").await.unwrap());
    let finished = s.find_job(jobs[0].id).await.unwrap().unwrap();
    assert_eq!(finished.state, JobState::Finished);
    assert!(finished.time_finished.is_some());
    // Finishing twice reports that the job is not running any more.
    assert!(!s.finish_job(jobs[0].id, "w1").await.unwrap());
    assert_eq!(s.live_job_count().await.unwrap(), 3);
}

async fn workers_are_alive_while_their_heartbeats_are_recent(db: TestDb) {
    let s = &db.store;
    assert!(
        s.worker_presence(60_000, 86_400_000)
            .await
            .unwrap()
            .workers
            .is_empty()
    );
    s.worker_heartbeat("host-1-0").await.unwrap();
    s.worker_heartbeat("host-1-1").await.unwrap();
    s.worker_heartbeat("host-1-0").await.unwrap();
    let p = s.worker_presence(60_000, 86_400_000).await.unwrap();
    assert_eq!(
        p.workers,
        [("host-1-0".to_owned(), true), ("host-1-1".to_owned(), true)]
    );
    assert_eq!(p.alive(), 2);
    // a clean stop shows at once; a heartbeat brings the worker back
    s.worker_stopped("host-1-1").await.unwrap();
    let p = s.worker_presence(60_000, 86_400_000).await.unwrap();
    assert_eq!(p.workers[1], ("host-1-1".to_owned(), false));
    assert_eq!(p.alive(), 1);
    // (windows of hundreds of ms: under a loaded machine 10 ms passed
    // between a heartbeat and the next query, and the worker was forgotten)
    tokio::time::sleep(Duration::from_millis(600)).await;
    // seen longer ago than the alive window: offline; than the forget window: gone
    let p = s.worker_presence(300, 86_400_000).await.unwrap();
    assert_eq!(p.alive(), 0);
    assert_eq!(p.workers.len(), 2);
    s.worker_heartbeat("host-1-1").await.unwrap();
    let p = s.worker_presence(60_000, 300).await.unwrap();
    assert_eq!(p.workers, [("host-1-1".to_owned(), true)]);
}

async fn queued_jobs_and_composes_are_counted_by_kind_type_and_state(db: TestDb) {
    let s = &db.store;
    let a = s.insert_compose(&tag_compose("me", "a")).await.unwrap().id;
    let b = s.insert_compose(&tag_compose("me", "b")).await.unwrap().id;
    let mut raw = NewCompose::new("me", 5, "cfg#main");
    raw.arches = "x86_64".to_owned();
    let r = s.insert_compose(&raw).await.unwrap().id;
    s.insert_compose(&raw).await.unwrap();
    s.mark_generating(b).await.unwrap();
    s.mark_generating(r).await.unwrap();
    s.mark_done(r, None, &[]).await.unwrap();
    let mut counts = s.count_composes_by_type_and_state().await.unwrap();
    counts.sort();
    assert_eq!(counts, [(1, 0, 1), (1, 1, 1), (5, 0, 1), (5, 2, 1)]);
    assert_eq!(
        s.count_composes_by_source_and_state(5).await.unwrap(),
        [("cfg#main".to_owned(), 0, 1), ("cfg#main".to_owned(), 2, 1)]
    );

    s.enqueue_job(a, JobKind::Generate).await.unwrap();
    s.enqueue_job(b, JobKind::Generate).await.unwrap();
    s.enqueue_job(r, JobKind::Remove).await.unwrap();
    let queued = s.queued_job_counts().await.unwrap();
    assert_eq!(queued, [(JobKind::Generate, 2), (JobKind::Remove, 1)]);
    // a claimed job leaves the queue; one whose lease ran out is back in it
    s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    s.claim_next_job("w1", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let queued = s.queued_job_counts().await.unwrap();
    assert_eq!(queued, [(JobKind::Generate, 1), (JobKind::Remove, 1)]);
}

async fn enqueueing_a_live_job_twice_returns_it(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let first = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    let second = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    assert_eq!(first.id, second.id);
    let claimed = s.claim_next_job("w", LEASE).await.unwrap().unwrap();
    assert_eq!(
        s.enqueue_job(id, JobKind::Generate).await.unwrap().id,
        claimed.id
    );
    assert!(s.finish_job(claimed.id, "w").await.unwrap());
    // Once finished, a new job can be queued.
    let third = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    assert_ne!(third.id, first.id);
    assert_eq!(third.state, JobState::Queued);
}

async fn job_with_an_expired_lease_is_claimed_by_another_worker(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let job = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    let short = Duration::from_millis(400);
    let first = s
        .claim_next_job("dead-worker", short)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.id, job.id);
    // While the lease runs, nobody else gets it.
    assert_eq!(s.claim_next_job("w2", LEASE).await.unwrap(), None);

    tokio::time::sleep(short + Duration::from_millis(150)).await;
    let second = s.claim_next_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(second.id, job.id);
    assert_eq!(second.worker.as_deref(), Some("w2"));
    assert_eq!(second.attempts, 2);

    // The worker that lost it finds out, and cannot finish or release it.
    assert!(!s.renew_lease(job.id, "dead-worker", LEASE).await.unwrap());
    assert!(!s.finish_job(job.id, "dead-worker").await.unwrap());
    assert!(!s.release_job(job.id, "dead-worker").await.unwrap());
    assert!(s.renew_lease(job.id, "w2", LEASE).await.unwrap());
    assert!(s.finish_job(job.id, "w2").await.unwrap());
    assert_eq!(s.claim_next_job("w3", LEASE).await.unwrap(), None);
}

async fn concurrent_claimers_take_every_job_exactly_once(db: TestDb) {
    const JOBS: usize = 60;
    const CLAIMERS: usize = 6;
    let mut expected = HashSet::new();
    for i in 0..JOBS {
        let id = db
            .store
            .insert_compose(&tag_compose("me", &format!("tag{i}")))
            .await
            .unwrap()
            .id;
        expected.insert(
            db.store
                .enqueue_job(id, JobKind::Generate)
                .await
                .unwrap()
                .id,
        );
    }
    let mut tasks = Vec::new();
    for w in 0..CLAIMERS {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            // Each claimer has its own connection pool, as separate worker
            // processes would.
            let store = Store::connect(&url).await.unwrap();
            let worker = format!("w{w}");
            let mut claimed = Vec::new();
            while let Some(job) = store.claim_next_job(&worker, LEASE).await.unwrap() {
                assert_eq!(job.worker.as_deref(), Some(worker.as_str()));
                claimed.push(job.id);
                tokio::task::yield_now().await;
            }
            store.close().await;
            claimed
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), JOBS, "a job was claimed twice or not at all");
    assert_eq!(unique, expected);
}

async fn renew_by_the_wrong_worker_fails(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let job = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    let claimed = s
        .claim_next_job("w1", Duration::from_millis(500))
        .await
        .unwrap()
        .unwrap();
    assert!(!s.renew_lease(job.id, "w2", LEASE).await.unwrap());
    assert!(s.renew_lease(job.id, "w1", LEASE).await.unwrap());
    let renewed = s.find_job(job.id).await.unwrap().unwrap();
    assert!(renewed.lease_until_ms.unwrap() > claimed.lease_until_ms.unwrap());
    assert!(!s.finish_job(job.id, "w2").await.unwrap());
}

async fn released_job_is_claimed_again_at_once(db: TestDb) {
    let s = &db.store;
    let id = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let job = s.enqueue_job(id, JobKind::Generate).await.unwrap();
    s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    assert!(!s.release_job(job.id, "w2").await.unwrap());
    assert!(s.release_job(job.id, "w1").await.unwrap());
    let back = s.find_job(job.id).await.unwrap().unwrap();
    assert_eq!((back.state, back.worker), (JobState::Queued, None));
    let again = s.claim_next_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.worker.as_deref(), Some("w2"));
}

async fn cancelled_jobs_are_not_claimed_and_lose_their_lease(db: TestDb) {
    let s = &db.store;
    let a = s.insert_compose(&tag_compose("me", "a")).await.unwrap().id;
    let b = s.insert_compose(&tag_compose("me", "b")).await.unwrap().id;
    let running = s.enqueue_job(a, JobKind::Generate).await.unwrap();
    s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    s.enqueue_job(a, JobKind::Remove).await.unwrap();
    let other = s.enqueue_job(b, JobKind::Generate).await.unwrap();
    assert_eq!(s.cancel_jobs_for(a).await.unwrap(), 2);
    assert!(!s.renew_lease(running.id, "w1", LEASE).await.unwrap());
    assert_eq!(
        s.find_job(running.id).await.unwrap().unwrap().state,
        JobState::Cancelled
    );
    let next = s.claim_next_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(next.id, other.id);
    assert_eq!(s.claim_next_job("w2", LEASE).await.unwrap(), None);
    assert_eq!(s.cancel_jobs_for(a).await.unwrap(), 0);
}

/// #12 §4: a compose could reuse one still deciding that then reused a
/// third, ending `done` with URLs to a tree that never exists. A compose
/// decides while `wait` and leaves it by linking or by building, never both;
/// links go only to a compose building its own tree, checked by the linking
/// statement.
async fn a_compose_links_only_to_one_that_builds_its_own_tree(db: TestDb) {
    let s = &db.store;
    let a = done_compose(s, &tag_compose("me", "f40")).await;
    let b = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    let c = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    // B is still deciding: nothing may link to it
    let err = s.mark_reused(c, b).await.unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidState { id, state: ComposeState::Wait, .. } if id == b),
        "{err}"
    );
    // B decides to reuse A; now C still may not link to B, only to A
    assert_eq!(s.mark_reused(b, a).await.unwrap().state, ComposeState::Done);
    assert!(matches!(
        s.mark_reused(c, b).await,
        Err(StoreError::InvalidState { .. })
    ));
    // D builds its own tree: C may link to it, and D can no longer reuse
    let d = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_generating(d).await.unwrap();
    let linked = s.mark_reused(c, d).await.unwrap();
    assert_eq!(
        (linked.state, linked.reused_id),
        (ComposeState::Generating, Some(d))
    );
    assert!(matches!(
        s.mark_reused(d, a).await,
        Err(StoreError::InvalidState { id, state: ComposeState::Generating, .. }) if id == d
    ));
    // a reusing compose never starts a build of its own
    assert!(matches!(
        s.mark_generating(c).await,
        Err(StoreError::InvalidState { .. })
    ));
}

/// The reaper runs in one process at a time: a named lease in the database.
async fn one_holder_has_a_named_lease_at_a_time(db: TestDb) {
    let s = &db.store;
    let long = Duration::from_secs(60);
    assert!(s.take_lease("reaper", "p1", long).await.unwrap());
    assert!(!s.take_lease("reaper", "p2", long).await.unwrap());
    // the holder may take it again (renew); other names are free
    assert!(s.take_lease("reaper", "p1", long).await.unwrap());
    assert!(s.take_lease("other", "p2", long).await.unwrap());
    // given back, or run out, it is anyone's
    s.release_lease("reaper", "p2").await.unwrap();
    assert!(!s.take_lease("reaper", "p2", long).await.unwrap());
    s.release_lease("reaper", "p1").await.unwrap();
    assert!(
        s.take_lease("reaper", "p2", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(s.take_lease("reaper", "p3", long).await.unwrap());
    assert!(!s.take_lease("reaper", "p2", long).await.unwrap());
}

/// The lost-compose check: `wait`/`generating` with no queued or running job,
/// and not a reuse of a compose that is itself live.
async fn a_compose_with_no_live_job_is_lost(db: TestDb) {
    let s = &db.store;
    let lost_ids = || async {
        s.lost_composes()
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
    };
    let submitted = s.submit_compose(&tag_compose("me", "a")).await.unwrap().id;
    let orphan = s.insert_compose(&tag_compose("me", "b")).await.unwrap().id;
    assert_eq!(lost_ids().await, [orphan]);
    // running, then queued again for later: still live
    let job = s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    assert_eq!(job.compose_id, submitted);
    s.mark_generating(submitted).await.unwrap();
    assert!(
        s.retry_job_later(job.id, "w1", Duration::from_secs(60), "db down")
            .await
            .unwrap()
    );
    assert_eq!(lost_ids().await, [orphan]);
    // a reuse of a compose being generated is live while that one is
    let follower = s.insert_compose(&tag_compose("me", "a")).await.unwrap().id;
    s.mark_reused(follower, submitted).await.unwrap();
    assert_eq!(lost_ids().await, [orphan]);
    // the job ended without finishing the compose: both are lost
    s.cancel_jobs_for(submitted).await.unwrap();
    assert_eq!(lost_ids().await, [submitted, orphan]);
    s.mark_failed(submitted, "x").await.unwrap();
    // its follower failed with it
    assert_eq!(
        s.find_compose(follower).await.unwrap().state,
        ComposeState::Failed
    );
    assert_eq!(lost_ids().await, [orphan]);
}

/// A job that failed for a reason other than its compose is claimed again
/// only after its pause, with the error of the attempt kept.
async fn a_job_tried_again_later_waits_out_its_pause(db: TestDb) {
    let s = &db.store;
    let id = s.submit_compose(&tag_compose("me", "a")).await.unwrap().id;
    let job = s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    assert_eq!((job.compose_id, job.attempts), (id, 1));
    assert!(
        !s.retry_job_later(job.id, "w2", Duration::from_millis(300), "no")
            .await
            .unwrap()
    );
    assert!(
        s.retry_job_later(job.id, "w1", Duration::from_millis(300), "database is full")
            .await
            .unwrap()
    );
    assert_eq!(s.claim_next_job("w2", LEASE).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let again = s.claim_next_job("w2", LEASE).await.unwrap().unwrap();
    assert_eq!(again.id, job.id);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error.as_deref(), Some("database is full"));
}

/// A compose and its job are inserted in one transaction: it is never seen
/// without the job that will finish it.
async fn a_submitted_compose_always_has_its_job(db: TestDb) {
    let s = &db.store;
    let id = s.submit_compose(&tag_compose("me", "a")).await.unwrap().id;
    assert!(s.has_live_job(id).await.unwrap());
    let job = s.claim_next_job("w1", LEASE).await.unwrap().unwrap();
    assert_eq!((job.compose_id, job.kind), (id, JobKind::Generate));
}

/// The outbox (#17): each state change, creation and the changes a reuse
/// propagates included, recorded in order with the compose as it was at
/// that change; a change that does not happen (a refused transition, a
/// restart of a generating compose, a renewal) records nothing; sent
/// entries are gone, failed ones count their attempts.
async fn every_state_change_is_in_the_outbox_as_it_was(db: TestDb) {
    let s = &db.store;
    let a = s
        .insert_compose(&tag_compose("me", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_generating(a).await.unwrap();
    // a worker that took the job over restarts it: no change of state
    s.mark_generating(a).await.unwrap();
    let b = s
        .insert_compose(&tag_compose("you", "f40"))
        .await
        .unwrap()
        .id;
    s.mark_reused(b, a).await.unwrap();
    s.mark_done(a, Some(7), &[rpm(1)]).await.unwrap();
    // refused: a done compose cannot fail
    assert!(s.mark_failed(a, "late").await.is_err());
    s.extend_expiry(a, Timestamp::now().add_seconds(100_000))
        .await
        .unwrap();
    s.mark_removed(b, Some("admin"), "expired").await.unwrap();

    let got = s.outbox_batch(100).await.unwrap();
    let seen: Vec<(i64, ComposeState, Option<&str>)> = got
        .iter()
        .map(|e| {
            (
                e.compose.id,
                e.compose.state,
                e.compose.state_reason.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (a, ComposeState::Wait, None),
            (a, ComposeState::Generating, Some("Compose thread started")),
            (b, ComposeState::Wait, None),
            // a reuser takes the state and reason of the compose it reuses
            (b, ComposeState::Generating, Some("Compose thread started")),
            (
                a,
                ComposeState::Done,
                Some("Compose is generated successfully")
            ),
            (
                b,
                ComposeState::Done,
                Some("Compose is generated successfully")
            ),
            (b, ComposeState::Removed, Some("expired")),
        ]
    );
    // the compose as it was: no time_done while generating, the event once
    // done; the other columns are the compose's
    assert_eq!(got[1].compose.time_done, None);
    assert_eq!(got[1].compose.koji_event, None);
    assert_eq!(got[4].compose.koji_event, Some(7));
    assert!(got[4].compose.time_done.is_some());
    assert_eq!(got[3].compose.reused_id, Some(a));
    assert!(got.iter().all(|e| e.compose.arches == "x86_64"));
    assert!(got.windows(2).all(|w| w[0].outbox_id < w[1].outbox_id));
    assert_eq!(s.outbox_waiting().await.unwrap().0, 7);

    s.outbox_failed(got[0].outbox_id, "broker down")
        .await
        .unwrap();
    s.outbox_sent(&[got[1].outbox_id, got[2].outbox_id])
        .await
        .unwrap();
    let left = s.outbox_batch(100).await.unwrap();
    assert_eq!(left.len(), 5);
    assert_eq!((left[0].outbox_id, left[0].attempts), (got[0].outbox_id, 1));
    assert_eq!(left[1].outbox_id, got[3].outbox_id);
    assert_eq!(s.outbox_batch(2).await.unwrap().len(), 2);
}
