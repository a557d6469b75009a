//! Module compose benchmark (#15): the service in process on SQLite, one
//! worker, the local store holding a module `big:1` of 200 RPMs that
//! requires three modules of 20 RPMs each. POST → `done` of `big:1` (with
//! its dependencies: 260 RPMs, `no_reuse`), cold (empty header cache) and
//! warm (median of 5), beside a tag compose of the same 260 RPMs in a plain
//! tag, so the cost of the module machinery shows as a ratio.
//!
//!     cargo bench --bench modules

use std::time::{Duration, Instant};

use odcs::modulemd::ModuleStream;
use odcs::rpm::build::{FileContent, PackageSpec};
use odcs::source::local::LocalStore;
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn get(url: &str) -> Value {
    let text = agent()
        .get(url)
        .call()
        .expect("GET")
        .into_body()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("json")
}

/// The RPMs of one module (or of nothing), written and read.
fn rpms(
    dir: &std::path::Path,
    prefix: &str,
    n: usize,
) -> Vec<(std::path::PathBuf, odcs::rpm::PackageMeta)> {
    std::fs::create_dir_all(dir).expect("dir");
    (0..n)
        .map(|i| {
            let mut s = PackageSpec::parse(&format!("{prefix}-{i}-1.0-1.x86_64")).expect("spec");
            s.files = (0..20)
                .map(|f| {
                    (
                        format!("/usr/share/{prefix}-{i}/file-{f}"),
                        FileContent::Regular(vec![b'x'; 4096]),
                    )
                })
                .collect();
            if i > 0 {
                s.requires = vec![format!("{prefix}-{}", i - 1)];
            }
            let p = s.write_to(dir).expect("rpm");
            let meta = odcs::rpm::read_package(&p).expect("read");
            (p, meta)
        })
        .collect()
}

/// `odcs_compose_phase_seconds_sum` per phase, from the metrics.
fn phase_sums(base: &str) -> std::collections::BTreeMap<String, f64> {
    let text = agent()
        .get(&format!("{base}/api/1/metrics/"))
        .call()
        .expect("GET metrics")
        .into_body()
        .read_to_string()
        .expect("body");
    text.lines()
        .filter_map(|l| l.strip_prefix("odcs_compose_phase_seconds_sum{phase=\""))
        .filter_map(|l| {
            let (phase, rest) = l.split_once("\"} ")?;
            Some((phase.to_owned(), rest.trim().parse().ok()?))
        })
        .collect()
}

fn post_done(base: &str, body: &Value) -> Duration {
    let t0 = Instant::now();
    let resp = agent()
        .post(&format!("{base}/api/1/composes/"))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("POST");
    let c: Value =
        serde_json::from_str(&resp.into_body().read_to_string().expect("body")).expect("json");
    let id = c["id"].as_i64().unwrap_or_else(|| panic!("{c}"));
    loop {
        let c = get(&format!("{base}/api/1/composes/{id}"));
        if c["state_name"] == "done" {
            return t0.elapsed();
        }
        assert_ne!(c["state_name"], "failed", "{c}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store_dir = tmp.path().join("store");
    let store = LocalStore::open(&store_dir).expect("store");
    let incoming = tmp.path().join("in");
    let mut all = Vec::new();
    for (name, n) in [("dep1", 20), ("dep2", 20), ("dep3", 20), ("big", 200)] {
        let metas = rpms(&incoming.join(name), name, n);
        let requires: Vec<(String, Vec<String>)> = if name == "big" {
            ["dep1", "dep2", "dep3"]
                .iter()
                .map(|d| (d.to_string(), vec!["1".to_owned()]))
                .collect()
        } else {
            vec![]
        };
        let m = ModuleStream {
            name: name.into(),
            stream: "1".into(),
            version: 1,
            context: "bench".into(),
            requires: requires.into_iter().collect(),
            ..Default::default()
        };
        store.import_module(&m.to_yaml(), &metas).expect("module");
        all.extend(metas);
    }
    store.import("flat", &[], &all).expect("tag");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let cfg = odcs::config::Config {
        listen: addr.to_string(),
        data_dir: tmp.path().join("data"),
        store_dir: Some(store_dir.clone()),
        workers: 1,
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
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

    let module = json!({"source": {"type": "module", "source": "big:1"}, "flags": ["no_reuse"]});
    let tag = json!({"source": {"type": "tag", "source": "flat"}, "flags": ["no_reuse"]});
    // cold: nothing read yet (the module first, so its run reads the headers)
    let module_cold = post_done(&base, &module);
    let before_module = phase_sums(&base);
    let mut module_warm: Vec<Duration> = (0..5).map(|_| post_done(&base, &module)).collect();
    let before_tag = phase_sums(&base);
    let mut tag_warm: Vec<Duration> = (0..5).map(|_| post_done(&base, &tag)).collect();
    let after_tag = phase_sums(&base);
    module_warm.sort();
    tag_warm.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("| compose (260 RPMs) | POST → done, cold | warm (median of 5) |");
    println!("|---|---|---|");
    println!(
        "| module big:1 with its 3 module dependencies | {:.0} ms | {:.0} ms |",
        ms(module_cold),
        ms(module_warm[2])
    );
    println!(
        "| tag `flat` holding the same RPMs | — | {:.0} ms |",
        ms(tag_warm[2])
    );
    println!(
        "module / tag, warm: {:.2}",
        ms(module_warm[2]) / ms(tag_warm[2])
    );
    // where the time goes: mean per phase of the warm runs
    println!();
    println!("| phase (mean of the 5 warm runs) | module | tag |");
    println!("|---|---|---|");
    for (phase, after) in &after_tag {
        let at = |m: &std::collections::BTreeMap<String, f64>| m.get(phase).copied().unwrap_or(0.0);
        let module_ms = (at(&before_tag) - at(&before_module)) / 5.0 * 1e3;
        let tag_ms = (after - at(&before_tag)) / 5.0 * 1e3;
        println!("| {phase} | {module_ms:.1} ms | {tag_ms:.1} ms |");
    }
    let _ = stop_tx.send(());
    let _ = server.join();
}
