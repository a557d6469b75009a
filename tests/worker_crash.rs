//! Workers interrupted in the middle of a compose: killed with SIGKILL (the
//! compose still ends `done` once the lease has run out and another worker
//! took the job up, and no partial tree is ever served), stopped with SIGTERM
//! (the job is handed back at once), or the compose cancelled by DELETE (the
//! worker stops at its next step and leaves nothing). Composes are kept in
//! `generating` long enough by a slow Koji hub (the test hub with a delay).

mod common;
#[path = "koji_hub/mod.rs"]
mod koji_hub;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn get(url: &str) -> Value {
    let body = ureq::get(url)
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

fn worker(config: &std::path::Path) -> Child {
    common::odcs()
        .args(["worker", "--workers", "1", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The service in this process (with `workers` in-process workers) against a
/// slow Koji hub; its config file serves `odcs worker` processes too.
struct Service {
    _tmp: tempfile::TempDir,
    _hub: koji_hub::KojiHub,
    base: String,
    data: std::path::PathBuf,
    config: std::path::PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(workers: usize, lease_seconds: u64) -> Service {
        let tmp = tempfile::tempdir().unwrap();
        let topdir = tmp.path().join("topdir");
        let fixture = koji_hub::fixture::standard(&topdir);
        let hub = koji_hub::KojiHub::start(fixture.model);
        // every hub call takes a second: a compose spends seconds in `generating`
        hub.set_delay(Duration::from_secs(1));

        let data = tmp.path().join("data");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let config_text = format!(
            "listen = \"{addr}\"\ndata_dir = \"{}\"\nworkers = {workers}\nlease_seconds = {lease_seconds}\nreaper_interval = 1\n[koji]\nurl = \"{}\"\ntopdir = \"{}\"\ntimeout_seconds = 30\n",
            data.display(),
            hub.url(),
            topdir.display()
        );
        let config = tmp.path().join("odcs.toml");
        std::fs::write(&config, &config_text).unwrap();
        let cfg = odcs::config::Config::load(Some(&config)).unwrap();

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    odcs::service::serve(cfg, listener, async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
                })
        });
        let base = format!("http://{addr}");
        let t = Instant::now();
        while ureq::get(&format!("{base}/api/1/about/")).call().is_err() {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
        Service {
            _tmp: tmp,
            _hub: hub,
            base,
            data,
            config,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// POST a tag compose of f40 with `packages`; its id.
    fn create(&self, packages: &[&str]) -> i64 {
        let body =
            json!({"source": {"type": "tag", "source": "f40", "packages": packages}}).to_string();
        let created: Value = serde_json::from_str(
            &ureq::post(&format!("{}/api/1/composes/", self.base))
                .send(body.as_bytes())
                .unwrap()
                .into_body()
                .read_to_string()
                .unwrap(),
        )
        .unwrap();
        created["id"].as_i64().unwrap()
    }

    fn compose(&self, id: i64) -> Value {
        get(&format!("{}/api/1/composes/{id}", self.base))
    }

    fn wait_for_state(&self, id: i64, state: &str) {
        let t = Instant::now();
        while self.compose(id)["state_name"] != state {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "compose {id} never became {state}: {}",
                self.compose(id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_compose_survives_its_worker_being_killed() {
    // the API without workers, in this process
    let s = Service::start(0, 3);
    let (config, data) = (&s.config, &s.data);
    let mut first = worker(config);
    let id = s.create(&["coreutils"]);
    let compose_url = format!("{}/api/1/composes/{id}", s.base);

    // kill the worker while it generates
    s.wait_for_state(id, "generating");
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(get(&compose_url)["state_name"], "generating");

    // another worker takes the job up once the lease has run out
    let mut second = worker(config);
    let composes = data.join("composes");
    let t = Instant::now();
    let done = loop {
        let c = get(&compose_url);
        // never a partial tree under the served name
        let tree = composes.join(format!("odcs-{id}"));
        if tree.exists() && c["state_name"] != "done" {
            assert!(
                tree.join("compose/metadata/rpms.json").exists(),
                "a partial tree is visible"
            );
        }
        if c["state_name"] == "done" || c["state_name"] == "failed" {
            break c;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "compose stuck after the worker died: {c}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(done["state_name"], "done", "{done}");
    let mut entries: Vec<String> = std::fs::read_dir(&composes)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        [format!("odcs-{id}"), format!("odcs-{id}.log")],
        "leftovers beside the compose"
    );
    let repofile = ureq::get(done["result_repofile"].as_str().unwrap())
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(repofile.starts_with(&format!("[odcs-{id}]")));
}

#[test]
fn a_cancelled_compose_stops_its_worker_and_leaves_no_tree() {
    // one in-process worker, with a lease long enough that only the
    // cancellation (not a lost lease) can stop it
    let s = Service::start(1, 60);
    let id = s.create(&["coreutils"]);
    s.wait_for_state(id, "generating");
    let answer = ureq::delete(&format!("{}/api/1/composes/{id}", s.base))
        .call()
        .unwrap();
    assert_eq!(answer.status(), 202);
    let c = s.compose(id);
    assert_eq!(
        (c["state_name"].as_str(), c["state_reason"].as_str()),
        (Some("failed"), Some("Canceled by anonymous"))
    );
    // the worker gives up at its next step instead of finishing the compose
    let log = s.data.join(format!("composes/odcs-{id}.log"));
    let t = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("stopped: ") || text.contains("failed: ") || text.contains("done: ") {
            break text;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the worker did not stop: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        text.contains("stopped: the compose was cancelled"),
        "{text}"
    );
    let composes = s.data.join("composes");
    assert!(!composes.join(format!("odcs-{id}")).exists());
    assert!(!composes.join(format!(".odcs-{id}.part")).exists());
    assert_eq!(s.compose(id)["state_name"], "failed");
    // and the worker is free for the next compose
    let next = s.create(&["bash"]);
    s.wait_for_state(next, "done");
}

#[test]
fn a_worker_told_to_stop_hands_its_job_back() {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let fixture = koji_hub::fixture::standard(&topdir);
    let hub = koji_hub::KojiHub::start(fixture.model);
    hub.set_delay(Duration::from_secs(1));
    let data = tmp.path().join("data");
    let config = tmp.path().join("odcs.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nworkers = 1\nlease_seconds = 60\n[koji]\nurl = \"{}\"\ntopdir = \"{}\"\n",
            data.display(),
            hub.url(),
            topdir.display()
        ),
    )
    .unwrap();
    let cfg = odcs::config::Config::load(Some(&config)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = rt.block_on(odcs::service::open_store(&cfg)).unwrap();
    let mut n = odcs::store::NewCompose::new("me", 1, "f40");
    n.arches = "x86_64".into();
    n.packages = Some("coreutils".into());
    let id = rt.block_on(store.insert_compose(&n)).unwrap().id;
    let job = rt
        .block_on(store.enqueue_job(id, odcs::store::JobKind::Generate))
        .unwrap();

    let mut w = worker(&config);
    let t = Instant::now();
    while rt.block_on(store.find_compose(id)).unwrap().state
        != odcs::store::ComposeState::Generating
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the worker never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGTERM: a graceful stop
    let status = std::process::Command::new("kill")
        .args(["-TERM", &w.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        w.wait().unwrap().success(),
        "the worker did not exit cleanly"
    );
    // the job is back in the queue at once (not held until a 60 s lease runs out)
    let job = rt.block_on(store.find_job(job.id)).unwrap().unwrap();
    assert_eq!(job.state, odcs::store::JobState::Queued, "{job:?}");
    assert_eq!(job.worker, None);
    // and the next worker finishes the compose
    let mut w2 = worker(&config);
    let t = Instant::now();
    while rt.block_on(store.find_compose(id)).unwrap().state != odcs::store::ComposeState::Done {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "not finished by the second worker"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    w2.kill().unwrap();
    w2.wait().unwrap();
}
