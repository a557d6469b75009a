//! A worker killed with SIGKILL in the middle of a compose: the compose still
//! ends `done` once the lease has run out and another worker took the job up,
//! and no partial tree is ever served. The compose is kept in `generating` long
//! enough to be killed by a slow Koji hub (the test hub with a delay).

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

#[test]
fn a_compose_survives_its_worker_being_killed() {
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
        "listen = \"{addr}\"\ndata_dir = \"{}\"\nworkers = 0\nlease_seconds = 3\nreaper_interval = 1\n[koji]\nurl = \"{}\"\ntopdir = \"{}\"\ntimeout_seconds = 30\n",
        data.display(),
        hub.url(),
        topdir.display()
    );
    let config = tmp.path().join("odcs.toml");
    std::fs::write(&config, &config_text).unwrap();
    let cfg = odcs::config::Config::load(Some(&config)).unwrap();

    // the API without workers, in this process
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
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

    let mut first = worker(&config);
    let body =
        json!({"source": {"type": "tag", "source": "f40", "packages": ["coreutils"]}}).to_string();
    let created: Value = serde_json::from_str(
        &ureq::post(&format!("{base}/api/1/composes/"))
            .send(body.as_bytes())
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap(),
    )
    .unwrap();
    let id = created["id"].as_i64().unwrap();
    let compose_url = format!("{base}/api/1/composes/{id}");

    // kill the worker while it generates
    let t = Instant::now();
    while get(&compose_url)["state_name"] != "generating" {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "never started generating"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(get(&compose_url)["state_name"], "generating");

    // another worker takes the job up once the lease has run out
    let mut second = worker(&config);
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

    let _ = stop_tx.send(());
    server.join().unwrap();
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
