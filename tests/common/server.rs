//! The service in this process for tests: the real router, workers and
//! reaper started through the `service::serve_with` seam on 127.0.0.1:0,
//! against SQLite or the PostgreSQL of this machine (each server its own
//! fresh database), with a seeded local store as package source — or a
//! source of the test's that wraps it to put faults where a real source
//! could have them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use odcs::source::PackageSource;
use serde_json::Value;

/// What [`Server::call`] got back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub challenges: Vec<String>,
}

impl Reply {
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or_default()
    }
}

pub struct Server {
    pub url: String,
    _tmp: tempfile::TempDir,
    pub data: PathBuf,
    /// The database URL the server uses.
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pg_db: Option<String>,
}

pub fn pg_admin_url() -> String {
    "postgres://postgres@127.0.0.1:5432/test".to_owned()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn pg_exec(sql: &str) {
    use sqlx::Connection;
    runtime().block_on(async {
        let mut c = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL API tests need PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, database test): {e}; \
                 this machine kind (and CI on it) starts it before the session"
            )
        });
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
    });
}

/// A small universe in tag `base`, and `updates` inheriting it.
pub fn seed_store(store: &Path) -> Vec<String> {
    let st = odcs::source::local::LocalStore::open(store).unwrap();
    let incoming = store.join(".in");
    std::fs::create_dir_all(&incoming).unwrap();
    let specs = odcs::rpm::corpus::corpus(60, 8);
    let mut metas = Vec::new();
    for s in &specs {
        let mut s = s.clone();
        s.files.truncate(3);
        let p = s.write_to(&incoming).unwrap();
        metas.push((p.clone(), odcs::rpm::read_package(&p).unwrap()));
    }
    st.import("base", &[], &metas).unwrap();
    st.import("updates", &["base".to_owned()], &[]).unwrap();
    specs
        .iter()
        .filter(|s| s.files.iter().any(|(p, _)| p.starts_with("/usr/bin/")) && s.name != "bash")
        .map(|s| s.name.clone())
        .take(5)
        .collect()
}

/// The module `m:s:1:c1` (one RPM, `mpkg-1-1.noarch`) put into the local
/// store of `cfg`, for module composes of a test server.
pub fn import_module_m_s(cfg: &odcs::config::Config) {
    let store = odcs::source::local::LocalStore::open(&cfg.store_dir()).unwrap();
    let dir = cfg.data_dir.join("incoming-module");
    std::fs::create_dir_all(&dir).unwrap();
    let path = odcs::rpm::build::PackageSpec::parse("mpkg-1-1.noarch")
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let meta = odcs::rpm::read_package(&path).unwrap();
    let m = odcs::modulemd::ModuleStream {
        name: "m".into(),
        stream: "s".into(),
        version: 1,
        context: "c1".into(),
        artifacts: vec!["mpkg-0:1-1.noarch".into()],
        ..Default::default()
    };
    store.import_module(&m.to_yaml(), &[(path, meta)]).unwrap();
}

/// The seeded local store a test's source wraps.
pub type WrapSource =
    Box<dyn FnOnce(odcs::source::local::LocalStore) -> Arc<dyn PackageSource + Send> + Send>;

impl Server {
    pub fn start(postgres: bool) -> (Server, Vec<String>) {
        Server::start_with(postgres, |_| {}, None)
    }

    /// A server whose configuration `tweak` changes and whose package source
    /// `wrap` makes from the seeded store (default: the store itself).
    pub fn start_with(
        postgres: bool,
        tweak: impl FnOnce(&mut odcs::config::Config),
        wrap: Option<WrapSource>,
    ) -> (Server, Vec<String>) {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let apps = seed_store(&data.join("store"));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let mut cfg = odcs::config::Config {
            listen: addr.to_string(),
            data_dir: data.clone(),
            workers: 2,
            lease_seconds: 5,
            reaper_interval: 1,
            max_body_bytes: 1 << 20,
            ..Default::default()
        };
        let mut pg_db = None;
        if postgres {
            let name = format!("odcs_api_{}_{}", std::process::id(), addr.port());
            pg_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            pg_exec(&format!("CREATE DATABASE {name}"));
            cfg.database_url = Some(format!("postgres://postgres@127.0.0.1:5432/{name}"));
            pg_db = Some(name);
        }
        tweak(&mut cfg);
        let database_url = cfg.database_url();
        let store = odcs::source::local::LocalStore::open(&cfg.store_dir()).unwrap();
        let source: Arc<dyn PackageSource + Send> = match wrap {
            Some(wrap) => wrap(store),
            None => Arc::new(store),
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                odcs::service::serve_with(cfg, source, listener, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let server = Server {
            url: format!("http://{addr}"),
            _tmp: tmp,
            data,
            database_url,
            stop: Some(stop_tx),
            thread: Some(thread),
            pg_db,
        };
        // ready when /about answers
        let t = Instant::now();
        while server.get("/api/1/about/").0 != 200 {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (server, apps)
    }

    pub fn request(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("{}{path}", self.url);
        let resp = match (method, body) {
            ("GET", _) => agent.get(&url).call(),
            ("DELETE", _) => agent.delete(&url).call(),
            ("POST", Some(b)) => agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&b[..]),
            ("PATCH", Some(b)) => agent
                .patch(&url)
                .header("Content-Type", "application/json")
                .send(&b[..]),
            ("PATCH", None) => agent.patch(&url).send_empty(),
            _ => unreachable!(),
        }
        .unwrap();
        let status = resp.status().as_u16();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", path, None)
    }

    /// A request with extra headers (credentials); the status, the JSON
    /// answer and the `WWW-Authenticate` headers.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("{}{path}", self.url);
        let mut req = axum::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if !body.is_empty() {
            req = req.header("Content-Type", "application/json");
        }
        let resp = agent.run(req.body(body).unwrap()).unwrap();
        let status = resp.status().as_u16();
        let challenges = resp
            .headers()
            .get_all("WWW-Authenticate")
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect();
        let text = resp.into_body().read_to_string().unwrap_or_default();
        Reply {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            challenges,
        }
    }
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("POST", path, Some(body.to_string().into_bytes()))
    }
    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.request("PATCH", path, Some(body.to_string().into_bytes()))
    }

    /// A second connection to the server's database, for what a test must
    /// set up or look at below the API.
    ///
    /// The store is made on a runtime that lives as long as the test: a
    /// pooled PostgreSQL connection belongs to the runtime it was opened on,
    /// and one opened on a runtime dropped at the end of this function made
    /// later queries fail with "A Tokio 1.x context was found, but it is
    /// being shutdown" (seen in a CI run).
    pub fn store(&self) -> odcs::store::Store {
        static STORE_RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> =
            std::sync::OnceLock::new();
        STORE_RUNTIME
            .get_or_init(runtime)
            .block_on(odcs::store::Store::connect(&self.database_url))
            .unwrap()
    }

    /// The Python `odcs` client (from PyPI) creates a compose of `source`
    /// (`source_type` as the client names it) anonymously and waits for it
    /// to be done; its id.
    pub fn python_client_compose(&self, source: &str, source_type: &str) -> i64 {
        let script = format!(
            r#"
from odcs.client.odcs import ODCS, AuthMech
odcs = ODCS("{url}", auth_mech=AuthMech.Anonymous)
c = odcs.new_compose("{source}", "{source_type}")
c = odcs.wait_for_compose(c["id"], timeout=120)
assert c["state_name"] == "done", c
print(c["id"])
"#,
            url = self.url
        );
        let out = super::run(std::process::Command::new("python3").arg("-c").arg(&script));
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    pub fn wait_for(&self, id: i64, states: &[&str]) -> Value {
        let t = Instant::now();
        loop {
            let (_, c) = self.get(&format!("/api/1/composes/{id}"));
            if states.contains(&c["state_name"].as_str().unwrap_or("")) {
                return c;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "compose {id} stuck: {c}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(db) = &self.pg_db {
            pg_exec(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
        }
    }
}
