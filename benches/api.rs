//! Service benchmark, on SQLite and on the PostgreSQL of this machine:
//! - time from POST to `done` of a warm compose of 100 packages (plus their
//!   closure) from a 2,000-package tag of the local store (`no_reuse`, so each
//!   run really generates);
//! - requests per second of `GET /api/1/composes/?per_page=10` (the first
//!   page, what the client and the web view ask most), of
//!   `GET /api/1/composes/?page=…` (pages spread over the whole list, 10 and
//!   100 a page) and of `GET /api/1/composes/<id>` (detail) with 10,000
//!   composes in the database, from 4 client threads for 5 seconds each, and
//!   how many times a detail request a page of 10 costs.
//!
//!     cargo bench --bench api
//!
//! `BENCH_BACKENDS=postgres` (or `sqlite`) measures one backend only; each
//! measurement is announced on stderr as it starts (for attaching a
//! profiler to this process).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use odcs::source::local::LocalStore;
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn get(url: &str) -> Value {
    serde_json::from_str(
        &agent()
            .get(url)
            .call()
            .expect("GET")
            .into_body()
            .read_to_string()
            .expect("body"),
    )
    .expect("json")
}

/// Requests per second of GETs of `path(thread, i)` from 4 client threads
/// for 5 seconds.
fn requests_per_second(base: &str, path: impl Fn(u64, u64) -> String + Sync) -> f64 {
    eprintln!("measuring {}", path(0, 0));
    let count = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(5);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (count, path) = (&count, &path);
            s.spawn(move || {
                let a = agent();
                let mut i = 0;
                while Instant::now() < deadline {
                    let r = a.get(&format!("{base}{}", path(t, i))).call().expect("GET");
                    assert_eq!(r.status(), 200);
                    let _ = r.into_body().read_to_string();
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
    count.load(Ordering::Relaxed) as f64 / 5.0
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store_dir = tmp.path().join("store");
    let store = LocalStore::open(&store_dir).expect("store");
    let incoming = tmp.path().join("in");
    std::fs::create_dir_all(&incoming).expect("dir");
    let specs = odcs::rpm::corpus::corpus(2000, 4);
    let mut metas = Vec::new();
    for s in &specs {
        let p = s.write_to(&incoming).expect("rpm");
        metas.push((p.clone(), odcs::rpm::read_package(&p).expect("read")));
    }
    store.import("bench", &[], &metas).expect("import");
    let apps: Vec<&str> = specs
        .iter()
        .filter(|s| s.files.iter().any(|(p, _)| p.starts_with("/usr/bin/")))
        .map(|s| s.name.as_str())
        .take(100)
        .collect();

    println!(
        "| backend | POST → done, warm 100-package compose (median of 5) | GET list rps, first page of 10, 10,000 composes | list rps, random pages of 10 | list rps, random pages of 100 | GET detail rps | detail / first page | detail / random page of 10 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let only = std::env::var("BENCH_BACKENDS").unwrap_or_default();
    for backend in ["sqlite", "postgres"] {
        if !only.is_empty() && !only.split(',').any(|b| b == backend) {
            continue;
        }
        let data = tmp.path().join(format!("data-{backend}"));
        let db_name = format!("odcs_bench_{}", std::process::id());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let database_url = if backend == "postgres" {
            rt.block_on(async {
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test")
                    .await
                    .expect("PostgreSQL at 127.0.0.1:5432");
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await
                    .expect("drop");
                sqlx::raw_sql(&format!("CREATE DATABASE {db_name}"))
                    .execute(&mut c)
                    .await
                    .expect("create");
            });
            Some(format!("postgres://postgres@127.0.0.1:5432/{db_name}"))
        } else {
            None
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let cfg = odcs::config::Config {
            listen: addr.to_string(),
            data_dir: data.clone(),
            store_dir: Some(store_dir.clone()),
            database_url,
            workers: 1,
            ..Default::default()
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                odcs::service::serve(cfg, listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .expect("serve");
            })
        });
        let base = format!("http://{addr}");
        while agent().get(&format!("{base}/api/1/about/")).call().is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }

        // POST → done
        let body = json!({"source": {"type": "tag", "source": "bench", "packages": apps}, "flags": ["no_reuse"]}).to_string();
        let mut times = Vec::new();
        for run in 0..6 {
            let t0 = Instant::now();
            let resp = agent()
                .post(&format!("{base}/api/1/composes/"))
                .header("Content-Type", "application/json")
                .send(body.as_bytes())
                .expect("POST");
            let c: Value = serde_json::from_str(&resp.into_body().read_to_string().expect("body"))
                .expect("json");
            let id = c["id"].as_i64().expect("id");
            loop {
                let c = get(&format!("{base}/api/1/composes/{id}"));
                if c["state_name"] == "done" {
                    break;
                }
                assert_ne!(c["state_name"], "failed", "{c}");
                std::thread::sleep(Duration::from_millis(5));
            }
            // the first run fills the caches
            if run > 0 {
                times.push(t0.elapsed());
            }
        }
        times.sort();
        let post_done = times[times.len() / 2];

        // 10,000 composes, then list pages
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let url = match backend {
                "postgres" => format!("postgres://postgres@127.0.0.1:5432/{db_name}"),
                _ => format!("sqlite://{}", data.join("odcs.db").display()),
            };
            let store = odcs::store::Store::connect(&url).await.expect("store");
            for i in 0..10_000 {
                let n = odcs::store::NewCompose::new("bench", 1, &format!("tag-{}", i % 50));
                store.insert_compose(&n).await.expect("insert");
            }
            store.close().await;
            if backend == "postgres" {
                // what autovacuum does within a minute of such a bulk insert
                // (10,000 rows pass its insert threshold): without
                // statistics the planner sorts the whole table for a deep
                // OFFSET instead of walking the primary key, and without the
                // visibility map it cannot walk the key alone (index-only)
                use sqlx::Connection;
                let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
                sqlx::raw_sql("VACUUM ANALYZE composes")
                    .execute(&mut c)
                    .await
                    .expect("analyze");
            }
        });
        let first = requests_per_second(&base, |_, _| "/api/1/composes/?per_page=10".into());
        let list = requests_per_second(&base, |t, i| {
            format!(
                "/api/1/composes/?page={}&per_page=10",
                (t * 250 + i) % 1000 + 1
            )
        });
        let list100 = requests_per_second(&base, |t, i| {
            format!(
                "/api/1/composes/?page={}&per_page=100",
                (t * 25 + i) % 100 + 1
            )
        });
        let detail = requests_per_second(&base, |t, i| {
            format!("/api/1/composes/{}", (t * 2500 + i) % 10_000 + 1)
        });
        println!(
            "| {backend} | {:.0} ms | {first:.0} | {list:.0} | {list100:.0} | {detail:.0} | {:.2} | {:.2} |",
            post_done.as_secs_f64() * 1e3,
            detail / first,
            detail / list
        );

        let _ = stop_tx.send(());
        let _ = server.join();
        if backend == "postgres" {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut c) =
                        sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/test").await
                    {
                        let _ = sqlx::raw_sql(&format!(
                            "DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"
                        ))
                        .execute(&mut c)
                        .await;
                    }
                });
        }
    }
}
