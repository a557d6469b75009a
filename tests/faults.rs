//! Issue #12 §3–§5: no compose is left `generating`, no tree is served that
//! the database does not vouch for, and a database that is down or full is
//! survived without losing what was accepted.
//!
//! Faults are put where real ones happen: a package source that panics,
//! sleeps or breaks the database in the middle of a compose (through the
//! `service::serve_with` seam), composes left without a job and trees left
//! on disk (as a worker killed at the wrong moment leaves them), and a
//! SQLite database on a tmpfs that is filled up.

mod common;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{Server, WrapSource, runtime};
use odcs::source::local::LocalStore;
use odcs::source::{PackageSource, SourceError, SourceRpm};
use serde_json::{Value, json};

/// What the faulty source does at its next `tag_rpms` (one fault per call).
#[derive(Clone, Debug)]
enum Fault {
    Panic(&'static str),
    Sleep(Duration),
    /// SQL run on the server's database (over its own connection).
    Sql(String),
}

/// The seeded store, with faults queued for its next `tag_rpms` calls.
#[derive(Clone)]
struct Faulty {
    inner: LocalStore,
    faults: Arc<Mutex<VecDeque<Fault>>>,
    database_url: Arc<Mutex<String>>,
}

fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    // a thread of its own: this runs inside the server's blocking pool
    std::thread::spawn(move || {
        runtime().block_on(async {
            use sqlx::Connection;
            if url.starts_with("sqlite:") {
                let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
            } else {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
            }
        })
    })
    .join()
    .unwrap();
}

impl PackageSource for Faulty {
    fn for_compose(&self) -> Box<dyn PackageSource + Send> {
        Box::new(self.clone())
    }
    fn location(&self) -> Option<(PathBuf, &'static str)> {
        self.inner.location()
    }
    fn current_event(&self) -> Result<i64, SourceError> {
        self.inner.current_event()
    }
    fn check_event(&self, event: i64) -> Result<(), SourceError> {
        self.inner.check_event(event)
    }
    fn tag_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let fault = self.faults.lock().unwrap().pop_front();
        match fault {
            Some(Fault::Panic(message)) => panic!("{message}"),
            Some(Fault::Sleep(d)) => std::thread::sleep(d),
            Some(Fault::Sql(sql)) => run_sql(&self.database_url.lock().unwrap(), &sql),
            None => {}
        }
        self.inner.tag_rpms(tag, event, inherit, sigkeys)
    }
    fn tag_changed_since(&self, tag: &str, event: i64, inherit: bool) -> Result<bool, SourceError> {
        self.inner.tag_changed_since(tag, event, inherit)
    }
    fn build_rpms(
        &self,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        self.inner.build_rpms(nvr, sigkeys)
    }
}

struct FaultyServer {
    server: Server,
    apps: Vec<String>,
    faults: Arc<Mutex<VecDeque<Fault>>>,
}

impl FaultyServer {
    fn start(postgres: bool, tweak: impl FnOnce(&mut odcs::config::Config)) -> FaultyServer {
        let faults = Arc::new(Mutex::new(VecDeque::new()));
        let database_url = Arc::new(Mutex::new(String::new()));
        let wrap: WrapSource = {
            let (faults, database_url) = (faults.clone(), database_url.clone());
            Box::new(move |inner| {
                Arc::new(Faulty {
                    inner,
                    faults,
                    database_url,
                })
            })
        };
        let (server, apps) = Server::start_with(
            postgres,
            |cfg| {
                cfg.workers = 1;
                // faults are injected in `tag_rpms`, which a resident index
                // would not call again for the retry of a compose: none
                cfg.resident_index_mb = 0;
                tweak(cfg);
            },
            Some(wrap),
        );
        *database_url.lock().unwrap() = server.database_url.clone();
        FaultyServer {
            server,
            apps,
            faults,
        }
    }

    fn inject(&self, faults: &[Fault]) {
        self.faults.lock().unwrap().extend(faults.iter().cloned());
    }

    /// POST a tag compose of one app (`no_reuse`: each generates); its id.
    fn create(&self) -> i64 {
        let body = json!({"source": {"type": "tag", "source": "updates", "packages": [self.apps[0]]},
                          "flags": ["no_reuse"]});
        let (status, c) = self.server.post("/api/1/composes/", &body);
        assert_eq!(status, 200, "{c}");
        c["id"].as_i64().unwrap()
    }

    fn composes_dir(&self) -> PathBuf {
        self.server.data.join("composes")
    }

    /// What the target directory holds for compose `id` besides its log.
    fn leftovers(&self, id: i64) -> Vec<String> {
        std::fs::read_dir(self.composes_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(&format!("odcs-{id}")) && !n.ends_with(".log"))
            .collect()
    }
}

fn reason(c: &Value) -> &str {
    c["state_reason"].as_str().unwrap_or("")
}

/// A panic in the engine fails the compose with the panic's message and
/// removes its build directory; the worker lives on and makes the next one.
fn a_panic(postgres: bool) {
    let s = FaultyServer::start(postgres, |_| {});
    s.inject(&[Fault::Panic("injected: the engine panicked")]);
    let id = s.create();
    let c = s.server.wait_for(id, &["done", "failed"]);
    assert_eq!(c["state_name"], "failed", "{c}");
    assert_eq!(
        reason(&c),
        "Error while generating compose: internal error (a bug): injected: the engine panicked"
    );
    assert_eq!(s.leftovers(id), Vec::<String>::new());
    let next = s.create();
    let c = s.server.wait_for(next, &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
}

/// A database error after the compose was built (its package set cannot be
/// stored) does not leave it `generating`: the job is tried again after a
/// pause, and when the database is back the compose is done.
fn a_transient_store_error(postgres: bool) {
    let s = FaultyServer::start(postgres, |_| {});
    s.inject(&[
        Fault::Sql("ALTER TABLE compose_rpms RENAME TO compose_rpms_away".into()),
        Fault::Sql("ALTER TABLE compose_rpms_away RENAME TO compose_rpms".into()),
    ]);
    let id = s.create();
    let c = s.server.wait_for(id, &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    let log = std::fs::read_to_string(s.composes_dir().join(format!("odcs-{id}.log"))).unwrap();
    assert!(
        log.contains("attempt 1 of compose") && log.contains("attempt 2 of compose"),
        "{log}"
    );
    // the served tree is the second attempt's, and complete
    let (status, _) = s.server.get(&format!(
        "/odcs/odcs-{id}/compose/Temporary/x86_64/os/repodata/repomd.xml"
    ));
    assert_eq!(status, 200);
}

/// A database error that persists fails the compose after `job_attempts`
/// attempts, with the last error as the reason, and leaves no tree.
fn a_persistent_store_error(postgres: bool) {
    let s = FaultyServer::start(postgres, |cfg| cfg.job_attempts = 2);
    s.inject(&[Fault::Sql(
        "ALTER TABLE compose_rpms RENAME TO compose_rpms_away".into(),
    )]);
    let id = s.create();
    let c = s.server.wait_for(id, &["done", "failed"]);
    assert_eq!(c["state_name"], "failed", "{c}");
    let r = reason(&c);
    assert!(
        r.starts_with("Error while generating compose: gave up after 2 attempts: clear compose rpms: error returned from database: ")
            && r.contains("compose_rpms")
            // the database's message once, not repeated by each error's source
            && r.matches("compose_rpms").count() == 1,
        "{r}"
    );
    assert_eq!(s.leftovers(id), Vec::<String>::new());
}

/// A compose that runs past `compose_timeout_seconds` fails saying so.
fn a_compose_past_its_timeout(postgres: bool) {
    let s = FaultyServer::start(postgres, |cfg| cfg.compose_timeout_seconds = 1);
    s.inject(&[Fault::Sleep(Duration::from_secs(3))]);
    let id = s.create();
    let c = s.server.wait_for(id, &["done", "failed"]);
    assert_eq!(c["state_name"], "failed", "{c}");
    assert_eq!(
        reason(&c),
        "Error while generating compose: it ran longer than the compose timeout (1 seconds)"
    );
    assert_eq!(s.leftovers(id), Vec::<String>::new());
}

/// A worker killed after renaming the finished tree into place, before the
/// database recorded `done`, leaves a `generating` compose with no live job
/// and a complete tree: the tree is never served, the reaper fails the
/// compose as lost and removes the tree. A `wait` compose without a job is
/// lost too. A done compose's tree is served as before.
fn a_lost_compose(postgres: bool) {
    let s = FaultyServer::start(postgres, |_| {});
    let done = s.create();
    s.server.wait_for(done, &["done"]);
    let store = s.server.store();
    let rt = runtime();
    let new = |source: &str| {
        let mut n = odcs::store::NewCompose::new("test", 1, source);
        n.arches = "x86_64".into();
        n
    };
    let generating = rt
        .block_on(store.insert_compose(&new("updates")))
        .unwrap()
        .id;
    rt.block_on(store.mark_generating(generating)).unwrap();
    let waiting = rt.block_on(store.insert_compose(&new("base"))).unwrap().id;
    // the tree as the dead worker left it: a copy of a complete one
    let tree = s.composes_dir().join(format!("odcs-{generating}"));
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(s.composes_dir().join(format!("odcs-{done}")))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    let path = |id: i64| format!("/odcs/odcs-{id}/compose/Temporary/x86_64/os/repodata/repomd.xml");
    assert_eq!(s.server.get(&path(done)).0, 200);
    assert_eq!(
        s.server.get(&path(generating)).0,
        404,
        "a tree not done was served"
    );

    for (id, state) in [(generating, "generating"), (waiting, "wait")] {
        let c = s.server.wait_for(id, &["done", "failed"]);
        assert_eq!(c["state_name"], "failed", "{c}");
        assert_eq!(
            reason(&c),
            format!(
                "Error while generating compose: lost: it was left '{state}' with no job to finish it"
            )
        );
    }
    let t = Instant::now();
    while tree.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the reaper left the tree"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.server.get(&path(generating)).0, 404);
    assert_eq!(s.server.get(&path(done)).0, 200);
}

/// #12 §1 through the service: a compose pinned to an event the source has
/// not reached fails naming it, before any reuse could answer it; §4: a
/// renewal whose compose has no stored package set fails instead of being
/// resolved again; §6: a long failure reason is cut short.
fn what_a_compose_cannot_be(postgres: bool) {
    let s = FaultyServer::start(postgres, |_| {});
    let done = s.create();
    s.server.wait_for(done, &["done"]);
    let event = s.server.get(&format!("/api/1/composes/{done}")).1["koji_event"]
        .as_i64()
        .unwrap();
    let future = json!({"source": {"type": "tag", "source": "updates", "packages": [s.apps[0]],
                                   "koji_event": 99_999}});
    let (_, c) = s.server.post("/api/1/composes/", &future);
    let c = s
        .server
        .wait_for(c["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(
        reason(&c),
        format!(
            "Error while generating compose: event 99999 does not exist (the newest event is {event})"
        )
    );

    let store = s.server.store();
    let rt = runtime();
    let failed = rt
        .block_on(store.insert_compose(&odcs::store::NewCompose::new("t", 1, "updates")))
        .unwrap()
        .id;
    rt.block_on(store.mark_failed(failed, "it failed")).unwrap();
    let mut renewal = odcs::store::NewCompose::new("t", 1, "updates");
    renewal.arches = "x86_64".into();
    renewal.replay_of = Some(failed);
    let id = rt.block_on(store.submit_compose(&renewal)).unwrap().id;
    let c = s.server.wait_for(id, &["done", "failed"]);
    assert_eq!(
        reason(&c),
        format!(
            "Error while generating compose: compose {failed} has no stored package set, so it cannot be recreated with exactly the same RPMs; ask for a new compose instead"
        )
    );

    let many: Vec<String> = (0..400)
        .map(|i| format!("no-such-package-{i:05}"))
        .collect();
    let body = json!({"source": {"type": "tag", "source": "updates", "packages": many}});
    let (_, c) = s.server.post("/api/1/composes/", &body);
    let c = s
        .server
        .wait_for(c["id"].as_i64().unwrap(), &["done", "failed"]);
    let r = reason(&c);
    assert!(r.starts_with("Error while generating compose: packages not found in tag updates: no-such-package-00000, "), "{r}");
    assert!(r.ends_with(" more characters in the compose's log)"), "{r}");
    assert!(r.chars().count() < 2100, "{} characters", r.chars().count());
    let log =
        std::fs::read_to_string(s.composes_dir().join(format!("odcs-{}.log", c["id"]))).unwrap();
    assert!(
        log.contains("no-such-package-00399"),
        "the whole reason is in the log"
    );
}

macro_rules! on_both {
    ($($name:ident => $body:ident,)*) => {
        mod sqlite { $( #[test] fn $name() { super::$body(false) } )* }
        mod postgres { $( #[test] fn $name() { super::$body(true) } )* }
    };
}

on_both! {
    a_panic_in_the_engine_fails_the_compose_with_its_message => a_panic,
    a_store_error_after_the_build_is_retried_and_the_compose_done => a_transient_store_error,
    a_store_error_that_persists_fails_the_compose_after_its_attempts => a_persistent_store_error,
    a_compose_past_its_timeout_fails_saying_so => a_compose_past_its_timeout,
    a_lost_compose_is_failed_by_the_reaper_and_its_tree_never_served => a_lost_compose,
    future_events_renewals_without_a_package_set_and_long_reasons_fail_clearly => what_a_compose_cannot_be,
}

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test puts the database on a small tmpfs and fills it, which needs root \
             (mount -t tmpfs); CI runs as root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Option<String>, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let resp = match (method, body) {
        ("POST", Some(b)) => agent.post(url).send(b.to_string().as_bytes()),
        ("DELETE", _) => agent.delete(url).call(),
        _ => agent.get(url).call(),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.into_body().read_to_string().unwrap_or_default();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// #12 §5: with the SQLite database on a disk that fills up, `odcs serve`
/// answers 503 with `Retry-After` (never 500, and never 202 for a DELETE it
/// could not record), its workers back off and log the failure a bounded
/// number of times, and once there is room again everything it accepted
/// finishes.
#[test]
fn a_database_on_a_full_disk_gets_503_and_bounded_logs_and_loses_nothing_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let db_dir = tmp.path().join("db");
    let _fs = Tmpfs::mount(&db_dir, "4m");
    let data = tmp.path().join("data");
    let apps = common::server::seed_store(&data.join("store"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = tmp.path().join("odcs.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\ndatabase_url = \"sqlite://{}/odcs.db\"\n\
             workers = 2\nlease_seconds = 5\nreaper_interval = 1\n",
            data.display(),
            db_dir.display()
        ),
    )
    .unwrap();
    let log = tmp.path().join("serve.log");
    let mut server = common::odcs()
        .args(["serve", "--log", "warn", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    while ureq::get(&format!("{base}/api/1/about/")).call().is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "odcs serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let compose = |label: &str| {
        json!({"source": {"type": "tag", "source": "updates", "packages": [apps[0]]},
               "flags": ["no_reuse"], "label": label})
    };
    let state = |id: i64| http("GET", &format!("{base}/api/1/composes/{id}"), None).2;
    let (status, _, first) = http(
        "POST",
        &format!("{base}/api/1/composes/"),
        Some(&compose("first")),
    );
    assert_eq!(status, 200, "{first}");
    let first = first["id"].as_i64().unwrap();
    let t = Instant::now();
    while state(first)["state_name"] != "done" {
        assert!(t.elapsed() < Duration::from_secs(60), "{}", state(first));
        std::thread::sleep(Duration::from_millis(100));
    }

    // fill the disk
    let filler = db_dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
    }
    let before = std::fs::read_to_string(&log).unwrap().lines().count();
    let full_since = Instant::now();
    let mut accepted = Vec::new();
    let mut refused = 0;
    let mut delete_recorded = false;
    while full_since.elapsed() < Duration::from_secs(15) {
        let (status, retry_after, body) = http(
            "POST",
            &format!("{base}/api/1/composes/"),
            Some(&compose("while full")),
        );
        match status {
            200 => accepted.push(body["id"].as_i64().unwrap()),
            503 => {
                refused += 1;
                assert!(retry_after.is_some(), "503 without Retry-After: {body}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap()
                        .contains("nothing was recorded"),
                    "{body}"
                );
            }
            other => panic!("POST on a full disk answered {other}: {body}"),
        }
        let (status, _, body) = http("DELETE", &format!("{base}/api/1/composes/{first}"), None);
        match status {
            202 => delete_recorded = true,
            503 => {}
            other => panic!("DELETE on a full disk answered {other}: {body}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(refused > 0, "the full disk never showed: {accepted:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text.lines().count() - before;
    // two workers, the reaper and the API each report a failing condition
    // once a minute (a worker used to log each retry: 6.7 million lines)
    assert!(
        lines <= 40,
        "{lines} log lines in 15 s of a full disk:\n{text}"
    );

    // room again: what was accepted finishes, the recorded removal happens
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    for id in &accepted {
        loop {
            let c = state(*id);
            if matches!(c["state_name"].as_str(), Some("done" | "failed")) {
                assert_eq!(c["state_name"], "done", "{c}");
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "stuck after the disk had room: {c}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let (status, _, _) = http("DELETE", &format!("{base}/api/1/composes/{first}"), None);
    assert!(status == 202 || delete_recorded);
    loop {
        let c = state(first);
        if c["state_name"] == "removed" {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "not removed: {c}\n{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = server.kill();
    let _ = server.wait();
}
