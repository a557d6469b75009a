//! Outbox benchmark (#17): how fast the outbox sender publishes state
//! changes to the RabbitMQ of this machine (127.0.0.1:5672) with publisher
//! confirms, and how long a state change takes to reach a consumer, on
//! SQLite and (when it answers) PostgreSQL at 127.0.0.1:5432.
//!
//! - throughput: 2,000 composes are inserted (2,000 outbox entries) with
//!   the sender stopped; then the sender starts, and the time until a
//!   consumer (lapin, its own queue) has received all 2,000 gives messages
//!   per second;
//! - delay: 200 times, one compose is inserted and the time until the
//!   consumer has its message is taken (p50, p95, max); the idle sender
//!   is woken by a change its own process makes (the store's
//!   `state_changed`), and polls every 100 ms (`events::POLL_INTERVAL`) for
//!   the changes of other processes, which this does not measure.
//!
//!     cargo bench --bench messaging

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use odcs::config::{MessagingBackend, MessagingConfig};
use odcs::domain::TargetDirs;
use odcs::store::{NewCompose, Store};

const THROUGHPUT: usize = 2000;
const DELAYS: usize = 200;
const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

/// Counts the messages of `key` that arrive.
async fn consumer(key: &str) -> (lapin::Connection, Arc<AtomicU64>) {
    let conn = lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ at 127.0.0.1:5672 (guest/guest) is needed");
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue");
    ch.queue_bind(
        q.name().clone(),
        "amq.topic".into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    ch.basic_consume(
        q.name().clone(),
        "bench".into(),
        BasicConsumeOptions {
            no_ack: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("consume")
    .set_delegate(move |d: lapin::message::DeliveryResult| {
        let seen = seen.clone();
        async move {
            if let Ok(Some(_)) = d {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    std::mem::forget(ch);
    (conn, count)
}

async fn wait_for(count: &AtomicU64, n: u64) {
    let t = Instant::now();
    while count.load(Ordering::SeqCst) < n {
        assert!(t.elapsed() < Duration::from_secs(120), "messages missing");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn compose(i: usize) -> NewCompose {
    let mut c = NewCompose::new("bench", 1, &format!("tag-{i}"));
    c.arches = "x86_64".into();
    c
}

async fn run(label: &str, store: Store) {
    let prefix = format!("bench-{}-{label}", std::process::id());
    let cfg = MessagingConfig {
        backend: MessagingBackend::Amqp,
        url: Some(AMQP.into()),
        exchange: "amq.topic".into(),
        topic_prefix: prefix.clone(),
        ..Default::default()
    };
    let (_conn, count) = consumer(&odcs::events::routing_key(&prefix)).await;
    for i in 0..THROUGHPUT {
        store.insert_compose(&compose(i)).await.expect("insert");
    }
    let dirs = TargetDirs::single("/srv/odcs".into(), "http://localhost/odcs".into());
    let sender = odcs::events::Sender {
        store: store.clone(),
        cfg,
        render: Arc::new(move |c| odcs::api::compose_json(c, &dirs, false)),
        metrics: Default::default(),
        holder: "bench".into(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let t = Instant::now();
    let task = tokio::spawn(sender.run(stop_rx));
    wait_for(&count, THROUGHPUT as u64).await;
    let took = t.elapsed();
    let mut delays = Vec::with_capacity(DELAYS);
    for i in 0..DELAYS {
        let before = count.load(Ordering::SeqCst);
        let t = Instant::now();
        store
            .insert_compose(&compose(THROUGHPUT + i))
            .await
            .expect("insert");
        wait_for(&count, before + 1).await;
        delays.push(t.elapsed());
    }
    let _ = stop_tx.send(true);
    let _ = task.await;
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<10} {THROUGHPUT} messages in {:>7.1} ms = {:>6.0} msg/s | state change → consumer: p50 {:>5.1} ms, p95 {:>5.1} ms, max {:>5.1} ms",
        ms(took),
        THROUGHPUT as f64 / took.as_secs_f64(),
        ms(delays[DELAYS / 2]),
        ms(delays[DELAYS * 95 / 100]),
        ms(delays[DELAYS - 1]),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", tmp.path().join("odcs.db").display());
    let store = Store::connect(&url).await.expect("sqlite");
    store.migrate().await.expect("migrate");
    run("sqlite", store).await;

    let admin = "postgres://postgres@127.0.0.1:5432/test";
    let name = format!("odcs_bench_messaging_{}", std::process::id());
    match Store::connect(admin).await {
        Err(e) => println!("postgres   skipped: {e}"),
        Ok(a) => {
            a.close().await;
            let psql = |sql: &str| {
                std::process::Command::new("psql")
                    .args([admin, "-qc", sql])
                    .status()
                    .expect("psql")
            };
            psql(&format!("CREATE DATABASE {name}"));
            let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
            let store = Store::connect(&url).await.expect("postgres");
            store.migrate().await.expect("migrate");
            run("postgres", store.clone()).await;
            store.close().await;
            psql(&format!("DROP DATABASE {name} WITH (FORCE)"));
        }
    }
}
