//! The message bus of this machine (RabbitMQ at 127.0.0.1:5672,
//! guest/guest) and the real fedora-messaging library as the consumer and
//! publisher outside our code (`scripts/fm-peer`, its venv set up by
//! scripts/test).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::daemons::failure;

pub const BROKER: &str = "127.0.0.1:5672";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

/// Panics, saying why, when no broker listens at [`BROKER`].
pub fn require_broker() {
    if let Err(e) = TcpStream::connect_timeout(&BROKER.parse().unwrap(), Duration::from_secs(3)) {
        panic!(
            "the messaging tests need RabbitMQ at {BROKER} (user guest, password guest): \
             connecting failed: {e}. The machines of this project (and CI, which runs on \
             them) start it before the session; start it by hand with \
             `rabbitmq-server -detached`."
        );
    }
}

fn script() -> PathBuf {
    super::manifest_dir().join("scripts/fm-peer")
}

/// `scripts/fm-peer setup`, once per test process.
fn setup() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let done = DONE.get_or_init(|| {
        let out = Command::new(script())
            .arg("setup")
            .output()
            .map_err(|e| format!("cannot run scripts/fm-peer: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failure(
                "scripts/fm-peer setup (fedora-messaging from PyPI; scripts/test runs it)",
                &out,
            ))
        }
    });
    if let Err(e) = done {
        panic!("{e}");
    }
}

/// A unique name for this test's topics and queues.
pub fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "odcs-test-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// fedora-messaging's `consume`, recording what it decodes; stopped when
/// dropped.
pub struct Consumer {
    child: Child,
    pub out: PathBuf,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Consumer {
    /// A consumer of `routing_key` on amq.topic (a queue of its own), ready
    /// when this returns.
    pub fn start(dir: &Path, routing_key: &str) -> Consumer {
        require_broker();
        setup();
        let out = dir.join(format!("{}.jsonl", unique("consumed")));
        let log = std::fs::File::create(out.with_extension("log")).unwrap();
        let child = Command::new(script())
            .arg("consume")
            .arg(&out)
            .arg(routing_key)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("scripts/fm-peer consume");
        let mut c = Consumer { child, out };
        let ready = c.out.with_extension("jsonl.ready");
        let started = Instant::now();
        while !ready.exists() {
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("the consumer stopped ({status}): {}", c.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the consumer was not ready in 60 s: {}",
                c.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.out.with_extension("log")).unwrap_or_default()
    }

    /// The messages received so far.
    pub fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `done` holds for the messages received (60 s at most).
    pub fn wait_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let got = self.messages();
            if done(&got) {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not within 60 s; received {}:\n{}\nconsumer log:\n{}",
                got.len(),
                got.iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Publishes `body` on `<prefix>.<topic>` with fedora-messaging's own
/// `api.publish`, as Koji's plugin does (its schema class for the topic),
/// with the message id `id` when given (a redelivery); the message's id.
pub fn publish(prefix: &str, topic: &str, body: &Value, id: Option<&str>) -> String {
    require_broker();
    setup();
    let mut cmd = Command::new(script());
    cmd.env("ODCS_FM_TOPIC_PREFIX", prefix);
    if let Some(id) = id {
        cmd.env("ODCS_FM_MESSAGE_ID", id);
    }
    let mut child = cmd
        .args(["publish", topic, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", failure("fm-peer publish", &out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A TCP relay to the broker that can be cut and restored: what a broker
/// that goes down and comes back looks like to its clients (the real
/// broker is shared with other tests, so it is not stopped itself).
pub struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn start() -> Relay {
        require_broker();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            up: Arc::new(AtomicBool::new(true)),
            conns: Default::default(),
        };
        relay.serve(listener);
        relay
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2F", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let (up, conns) = (self.up.clone(), self.conns.clone());
        std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let Ok(broker) = TcpStream::connect(BROKER) else {
                    continue;
                };
                let mut list = conns.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(broker.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), broker.try_clone().unwrap()),
                    (broker, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
            // down: the listening socket closes with this thread
        });
    }

    /// The port closes and every connection through it is cut.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // the accept loop notices within 20 ms and drops the listener
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            TcpStream::connect(("127.0.0.1", self.port)).is_err(),
            "the relay's port still accepts"
        );
    }

    /// The same port accepts again.
    pub fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.up.store(true, Ordering::SeqCst);
        self.serve(listener);
    }
}

/// Deletes the durable queue `name` when dropped (what a test declared
/// through the service stays on the shared broker otherwise).
pub struct QueueGuard(pub String);

impl Drop for QueueGuard {
    fn drop(&mut self) {
        let name = self.0.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            if let Ok(conn) =
                lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default()).await
                && let Ok(ch) = conn.create_channel().await
            {
                let _ = ch
                    .queue_delete(name.as_str().into(), Default::default())
                    .await;
                let _ = conn.close(200, "bye".into()).await;
            }
        });
    }
}
