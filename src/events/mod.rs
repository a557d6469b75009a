//! Messages on the bus (#17): every state change of a compose, creation
//! (`wait`) included, announced in the fedora-messaging format, reliably.
//!
//! How it holds together:
//! - **The outbox.** A database trigger records each state change in the
//!   `outbox` table in the transaction that makes it ([`crate::store`]'s
//!   `outbox` module): no code path can change a state without its message,
//!   and a change rolled back leaves none. Several changes of one compose in
//!   one transaction (a reuse that finds its compose done) are several
//!   messages, as in the original (odcs-api.md §9).
//! - **One sender of all.** [`Sender::run`] runs in every `odcs serve` and
//!   `odcs worker` process; a lease in the database (the reaper's kind) lets
//!   one at a time send, so messages leave in the order they were recorded,
//!   hence in order per compose. While idle it waits for a state change
//!   this process makes ([`Store::state_changed`]) or, for those of other
//!   processes, [`POLL_INTERVAL`]; it publishes up to [`BATCH`] entries,
//!   waits for the broker's confirmation of each (publisher confirms), and
//!   deletes what was confirmed. The first entry that fails stops the round;
//!   it and those after it are sent again after a back-off (0.5 s doubling to
//!   30 s), on a new connection, so a broker that is down or restarts loses
//!   nothing and reorders nothing.
//! - **At least once, recognisably.** A process that dies after the broker
//!   confirmed an entry and before it was deleted (one statement) sends it
//!   again on the next round, under the same `message_id`, derived from the
//!   entry; nothing else is ever sent twice.
//! - **The format** fedora-messaging consumers decode (checked with the real
//!   library in tests/messaging.rs): exchange `amq.topic` (config), routing
//!   key `<topic_prefix>.odcs.compose.state-changed`, JSON body `{"event":
//!   "state-changed", "compose": <the compose JSON as of the change>}` (no
//!   `pungi_config_dump`), properties `content_type` `application/json`,
//!   `content_encoding` `utf-8`, `delivery_mode` 2 (persistent),
//!   `message_id`, `priority` 0, headers `fedora_messaging_schema`
//!   `base.message`, `fedora_messaging_schema_package` `fedora_messaging`,
//!   `fedora_messaging_severity` 20 (INFO), `priority` 0 and `sent-at`
//!   (`2026-11-29T17:31:04+00:00`, the time of sending), as
//!   fedora-messaging 3.9's own publisher sets them.
//! - **Backends** (`[messaging] backend`): `log` (the default: each message
//!   is logged at INFO under `odcs::events` and counts as sent), `amqp`
//!   (AMQP 0-9-1, [`amqp`]), `amqp1` (AMQP 1.0 to a topic address, the
//!   original's UMB backend, [`amqp1`]; through RabbitMQ 3.10 its
//!   application properties do not become the AMQP 0-9-1 headers
//!   fedora-messaging reads, so there it decodes them as a plain message).

pub mod amqp;
pub mod amqp1;
pub mod listen;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::config::{MessagingBackend, MessagingConfig};
use crate::store::{ComposeRow, OutboxEntry, Store, Timestamp};
use crate::throttle::{Backoff, Throttled};

/// How often an idle sender looks for new entries.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Entries published per round.
pub const BATCH: i64 = 200;
/// The sender's lease: long enough for a round, renewed each round.
const LEASE: &str = "outbox-sender";
const LEASE_HOLD: Duration = Duration::from_secs(30);
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The topic of every state change, after the prefix.
pub const TOPIC: &str = "odcs.compose.state-changed";

/// Renders a compose as the API shows it (the service passes the API's
/// renderer: this part knows nothing of HTTP).
pub type Render = Arc<dyn Fn(&ComposeRow) -> Value + Send + Sync>;

/// One message, ready for any backend.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    /// `sent-at`: when it is sent.
    pub sent_at: String,
}

/// `<prefix>.odcs.compose.state-changed` (no leading dot without a prefix).
pub fn routing_key(prefix: &str) -> String {
    let prefix = prefix.trim_end_matches('.');
    if prefix.is_empty() {
        TOPIC.to_owned()
    } else {
        format!("{prefix}.{TOPIC}")
    }
}

/// A UUID-shaped id derived from the entry, so an entry sent twice (see the
/// module doc) carries the same id both times and a consumer can drop the
/// second.
pub fn message_id(prefix: &str, compose_id: i64, outbox_id: i64, queued_ms: i64) -> String {
    let digest = sha2::Sha256::digest(format!(
        "odcs|{prefix}|{compose_id}|{outbox_id}|{queued_ms}"
    ));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    // RFC 9562 version 8 (custom), variant 10
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The message of an outbox entry.
pub fn message(cfg: &MessagingConfig, render: &Render, e: &OutboxEntry) -> Message {
    let body = json!({"event": "state-changed", "compose": render(&e.compose)});
    Message {
        id: message_id(&cfg.topic_prefix, e.compose.id, e.outbox_id, e.queued_ms),
        routing_key: routing_key(&cfg.topic_prefix),
        body: serde_json::to_vec(&body).unwrap_or_default(),
        sent_at: sent_at(Timestamp::now()),
    }
}

/// fedora-messaging's `sent-at`: UTC, whole seconds, `+00:00`.
pub fn sent_at(t: Timestamp) -> String {
    let s = t.to_string();
    format!("{}+00:00", s.trim_end_matches('Z'))
}

/// What the sender did, for `/api/1/metrics/` (this process's counts).
#[derive(Debug, Default)]
pub struct EventMetrics {
    /// Messages the broker confirmed (or the log took).
    pub published: AtomicU64,
    /// Attempts that failed (an entry that failed three times counts 3).
    pub failed: AtomicU64,
    /// Messages published after at least one failed attempt.
    pub retried: AtomicU64,
    /// Sum and count of the delays from a state change to its confirmation,
    /// in milliseconds (the database's clock at both ends).
    pub delay_ms_sum: AtomicU64,
    pub delay_count: AtomicU64,
    /// Bus messages consumed (`[events]`), and what the rules decided.
    pub consumed: AtomicU64,
    pub composes_caused: AtomicU64,
    pub unchanged: AtomicU64,
    pub refused: AtomicU64,
}

/// A connection to the bus, by backend.
enum Link {
    Log,
    Amqp(Box<amqp::Publisher>),
    Amqp1(Box<amqp1::Publisher>),
}

/// The outbox sender of one process.
pub struct Sender {
    pub store: Store,
    pub cfg: MessagingConfig,
    pub render: Render,
    pub metrics: Arc<EventMetrics>,
    /// Who holds the lease (`host-pid`).
    pub holder: String,
}

impl Sender {
    /// Sends until `stop` says so.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut link: Option<Link> = None;
        let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
        let mut backing_off = false;
        let mut failing = Throttled::new("messaging", Duration::from_secs(60));
        loop {
            let pause = match self.round(&mut link).await {
                Ok(n) => {
                    if std::mem::take(&mut backing_off) {
                        tracing::info!("messaging: sending again");
                    }
                    backoff.reset();
                    failing.succeeded();
                    // a full batch: more may wait
                    if n as i64 == BATCH {
                        Duration::ZERO
                    } else {
                        POLL_INTERVAL
                    }
                }
                Err(e) => {
                    link = None;
                    backing_off = true;
                    let pause = backoff.pause();
                    failing.failed(&format!("{e} (next attempt in {pause:?})"));
                    pause
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                // a change made here is sent at once (unless backing off)
                _ = self.store.state_changed(), if !backing_off => {}
                _ = stop.changed() => break,
            }
        }
        let _ = self.store.release_lease(LEASE, &self.holder).await;
        match link {
            Some(Link::Amqp(p)) => p.close().await,
            Some(Link::Amqp1(p)) => p.close().await,
            _ => {}
        }
    }

    /// One round: the lease, a batch, its publication. How many entries
    /// were sent; an error once something failed (what was confirmed before
    /// it is deleted all the same).
    async fn round(&self, link: &mut Option<Link>) -> Result<usize, String> {
        let store_err = |e: crate::store::StoreError| format!("the database: {e}");
        if !self
            .store
            .take_lease(LEASE, &self.holder, LEASE_HOLD)
            .await
            .map_err(store_err)?
        {
            return Ok(0); // another process sends
        }
        let batch = self.store.outbox_batch(BATCH).await.map_err(store_err)?;
        if batch.is_empty() {
            return Ok(0);
        }
        if link.is_none() {
            *link = Some(match self.cfg.backend {
                MessagingBackend::Log => Link::Log,
                MessagingBackend::Amqp => {
                    Link::Amqp(Box::new(amqp::Publisher::connect(&self.cfg).await?))
                }
                MessagingBackend::Amqp1 => Link::Amqp1(Box::new(
                    amqp1::Publisher::connect(&self.cfg, &routing_key(&self.cfg.topic_prefix))
                        .await?,
                )),
            });
        }
        let messages: Vec<Message> = batch
            .iter()
            .map(|e| message(&self.cfg, &self.render, e))
            .collect();
        let (confirmed, error) = match link.as_mut() {
            Some(Link::Amqp(p)) => p.publish(&self.cfg.exchange, &messages).await,
            Some(Link::Amqp1(p)) => p.publish(&messages).await,
            _ => {
                for m in &messages {
                    tracing::info!(
                        target: "odcs::events",
                        routing_key = %m.routing_key,
                        message_id = %m.id,
                        "{}",
                        String::from_utf8_lossy(&m.body)
                    );
                }
                (messages.len(), None)
            }
        };
        let sent = &batch[..confirmed];
        if !sent.is_empty() {
            let ids: Vec<i64> = sent.iter().map(|e| e.outbox_id).collect();
            self.store.outbox_sent(&ids).await.map_err(store_err)?;
            let now = self.store.now_ms().await.map_err(store_err)?;
            let m = &self.metrics;
            for e in sent {
                m.published.fetch_add(1, Ordering::Relaxed);
                if e.attempts > 0 {
                    m.retried.fetch_add(1, Ordering::Relaxed);
                }
                let delay = u64::try_from(now - e.queued_ms).unwrap_or(0);
                m.delay_ms_sum.fetch_add(delay, Ordering::Relaxed);
                m.delay_count.fetch_add(1, Ordering::Relaxed);
            }
        }
        match error {
            None => Ok(confirmed),
            Some(e) => {
                self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                let failed = &batch[confirmed];
                let _ = self.store.outbox_failed(failed.outbox_id, &e).await;
                Err(format!(
                    "publishing the state change of compose {} failed: {e}",
                    failed.compose.id
                ))
            }
        }
    }
}

/// Refuses what cannot run: an amqp or amqp1 backend without a URL.
pub fn check(cfg: &MessagingConfig) -> Result<(), String> {
    match cfg.backend {
        MessagingBackend::Amqp | MessagingBackend::Amqp1 if cfg.url.is_none() => Err(format!(
            "[messaging] backend = {:?} needs url (amqp://user:password@host:5672/%2F)",
            cfg.backend
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_and_sent_at_are_fedora_messagings() {
        assert_eq!(routing_key(""), "odcs.compose.state-changed");
        assert_eq!(
            routing_key("org.example.prod"),
            "org.example.prod.odcs.compose.state-changed"
        );
        assert_eq!(
            routing_key("org.example.prod."),
            "org.example.prod.odcs.compose.state-changed"
        );
        assert_eq!(
            sent_at(Timestamp(1_795_973_464)),
            "2026-11-29T17:31:04+00:00"
        );
    }

    #[test]
    fn backends_that_cannot_run_are_refused_naming_the_key() {
        let cfg = |backend, url: Option<&str>| MessagingConfig {
            backend,
            url: url.map(str::to_owned),
            ..Default::default()
        };
        assert!(check(&cfg(MessagingBackend::Log, None)).is_ok());
        assert!(check(&cfg(MessagingBackend::Amqp, Some("amqp://h/%2F"))).is_ok());
        let e = check(&cfg(MessagingBackend::Amqp, None)).unwrap_err();
        assert!(e.contains("needs url"), "{e}");
        assert!(check(&cfg(MessagingBackend::Amqp1, Some("amqp://h"))).is_ok());
        let e = check(&cfg(MessagingBackend::Amqp1, None)).unwrap_err();
        assert!(e.contains("needs url"), "{e}");
        assert_eq!(
            amqp1::address("/topic/{topic}", "p.odcs.compose.state-changed"),
            "/topic/p.odcs.compose.state-changed"
        );
    }

    #[test]
    fn message_ids_are_uuids_stable_per_entry() {
        let a = message_id("p", 5, 1, 1_795_973_464_000);
        assert_eq!(a, message_id("p", 5, 1, 1_795_973_464_000));
        assert_ne!(a, message_id("p", 5, 2, 1_795_973_464_000));
        assert_ne!(a, message_id("q", 5, 1, 1_795_973_464_000));
        // a database started afresh numbers its entries again, at other times
        assert_ne!(a, message_id("p", 5, 1, 1_795_973_999_000));
        let re = regex_lite::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&a), "{a}");
    }
}
