//! Composes requested by bus events (#17, second half): `odcs serve`
//! consumes a durable queue bound to the Koji and MBS topics its rules need
//! (`[events]`), and each rule that matches a message decides:
//!
//! 1. **Seen before?** The pair (message id, rule) has a recorded decision:
//!    nothing more (a message delivered again makes no second compose).
//! 2. **Changed?** The rule's input is resolved now — for tag events the
//!    latest build of every package of the compose's tags (with
//!    inheritance unless `no_inheritance`), for module events the module
//!    build — and compared with what the rule last composed from; the same
//!    input is decided `unchanged` (a build tagged where a newer build of the
//!    package stays latest, the same message published again).
//! 3. **Allowed?** With `greenwave`, the policy engine is asked
//!    (`policies_satisfied`); "no" is decided `refused` with its summary.
//! 4. **Composed**: the compose (checked as POST checks it) is inserted with
//!    its job and the decision, in one transaction.
//!
//! The message is acknowledged only after its decisions are recorded. What
//! cannot be decided now (the package source, Greenwave or the database
//! unavailable) is handed back to the broker (nack, requeue) after a pause
//! and decided again later. A message whose body is not a JSON object is
//! acknowledged and logged: nothing can be decided from it. Decisions are
//! logged (INFO, target `odcs::events`) with the rule, the message id and
//! the compose.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use serde_json::Value;
use sha2::Digest as _;

use super::EventMetrics;
use crate::config::{EventKind, EventRule, EventsConfig};
use crate::source::PackageSource;
use crate::store::{EventDecision, NewCompose, Recorded, Store};
use crate::throttle::{Backoff, Throttled};

/// A rule's compose JSON made into a compose, checked as POST checks it
/// (the service passes the API's check: this part knows nothing of HTTP).
pub type MakeCompose = Arc<dyn Fn(&Value) -> Result<NewCompose, String> + Send + Sync>;

/// The topics (after the prefix) of each kind of event.
fn topic(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Tag => "buildsys.tag",
        EventKind::Untag => "buildsys.untag",
        EventKind::ModuleReady => "mbs.module.state.change",
    }
}

/// What a message says, as far as rules care.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A build tagged into / untagged from `tag`.
    Tag {
        kind: EventKind,
        tag: String,
        nvr: String,
    },
    /// A module build that reached `ready`.
    ModuleReady { nsvc: String, nsvca: String },
}

/// The event of a message on `topic` (the routing key without the
/// prefix), or `None` when no rule could care.
pub fn event_of(topic: &str, body: &Value) -> Option<Event> {
    let text = |k: &str| match &body[k] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let kind = [EventKind::Tag, EventKind::Untag, EventKind::ModuleReady]
        .into_iter()
        .find(|k| topic == self::topic(*k))?;
    match kind {
        EventKind::Tag | EventKind::Untag => Some(Event::Tag {
            kind,
            tag: text("tag")?,
            nvr: format!(
                "{}-{}-{}",
                text("name")?,
                text("version")?,
                text("release")?
            ),
        }),
        EventKind::ModuleReady => {
            if text("state_name").as_deref() != Some("ready") {
                return None;
            }
            let (n, s, v, c) = (
                text("name")?,
                text("stream")?,
                text("version")?,
                text("context")?,
            );
            Some(Event::ModuleReady {
                nsvc: format!("{n}:{s}:{v}:{c}"),
                nsvca: format!("{n}-{s}-{v}.{c}"),
            })
        }
    }
}

/// Whether `rule` reacts to `event`.
pub fn matches(rule: &EventRule, event: &Event) -> bool {
    match event {
        Event::Tag { kind, tag, .. } => rule.on.contains(kind) && rule.tags.contains(tag),
        Event::ModuleReady { nsvc, .. } => {
            rule.on.contains(&EventKind::ModuleReady)
                && rule.module.as_deref().is_some_and(|m| {
                    let want: Vec<&str> = m.split(':').collect();
                    let have: Vec<&str> = nsvc.split(':').collect();
                    want.len() <= have.len() && want.iter().zip(&have).all(|(w, h)| w == h)
                })
        }
    }
}

/// The compose JSON of `rule` for `event`: a module event's build is the
/// source when the rule names none.
pub fn compose_json(rule: &EventRule, event: &Event) -> Value {
    let mut c = rule.compose.clone();
    if let Event::ModuleReady { nsvc, .. } = event
        && c["source"].get("source").is_none()
        && let Some(s) = c.get_mut("source").and_then(Value::as_object_mut)
    {
        s.insert("source".into(), Value::String(nsvc.clone()));
    }
    c
}

/// Why a decision cannot be taken now: tried again later.
#[derive(Debug)]
struct Later(String);

/// The consumer of `[events]`.
pub struct Listener {
    pub store: Store,
    pub cfg: EventsConfig,
    /// The broker (`[events] url`, else `[messaging] url`).
    pub url: String,
    pub source: Arc<dyn PackageSource + Send>,
    pub make_compose: MakeCompose,
    /// Told when a compose was queued (the workers wait on it).
    pub jobs_queued: Arc<tokio::sync::Notify>,
    pub metrics: Arc<EventMetrics>,
}

impl Listener {
    /// Consumes until `stop` says so, reconnecting with back-off.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut failing = Throttled::new("events: consuming", Duration::from_secs(60));
        loop {
            match self.consume(&mut stop).await {
                Ok(()) => return,
                Err(e) => {
                    let pause = backoff.pause();
                    failing.failed(&format!("{e} (again in {pause:?})"));
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        }
    }

    async fn consume(&self, stop: &mut tokio::sync::watch::Receiver<bool>) -> Result<(), String> {
        let shown = crate::store::redact_url(&self.url);
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{shown}: {what}: {e}");
        let conn = tokio::time::timeout(
            Duration::from_secs(15),
            lapin::Connection::connect(&self.url, lapin::ConnectionProperties::default()),
        )
        .await
        .map_err(|_| fail("connect", &"no answer in 15 s"))?
        .map_err(|e| fail("connect", &e))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| fail("channel", &e))?;
        // one message at a time: decisions are taken in delivery order
        ch.basic_qos(1, BasicQosOptions::default())
            .await
            .map_err(|e| fail("qos", &e))?;
        let queue = self.cfg.queue.as_str();
        ch.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| fail(&format!("declare queue {queue}"), &e))?;
        let mut kinds: Vec<EventKind> = self.cfg.rules.iter().flat_map(|r| r.on.clone()).collect();
        kinds.sort_by_key(|k| topic(*k));
        kinds.dedup();
        for k in kinds {
            let key = routing_key(&self.cfg.topic_prefix, topic(k));
            ch.queue_bind(
                queue.into(),
                self.cfg.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| fail(&format!("bind {queue} to {key}"), &e))?;
        }
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                "odcs".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| fail("consume", &e))?;
        tracing::info!("events: consuming {queue} on {shown}");
        loop {
            let next = std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(Pin::new(&mut consumer), cx)
            });
            let delivery = tokio::select! {
                d = next => d,
                _ = stop.changed() => {
                    let _ = conn.close(200, "bye".into()).await;
                    return Ok(());
                }
            };
            let delivery = match delivery {
                Some(Ok(d)) => d,
                Some(Err(e)) => return Err(fail("delivery", &e)),
                None => return Err(fail("consume", &"the broker cancelled the consumer")),
            };
            let topic = strip_prefix(&self.cfg.topic_prefix, delivery.routing_key.as_str());
            let id = delivery
                .properties
                .message_id()
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_else(|| {
                    hex::encode(sha2::Sha256::digest(
                        [delivery.routing_key.as_str().as_bytes(), &delivery.data].concat(),
                    ))
                });
            self.metrics.consumed.fetch_add(1, Ordering::Relaxed);
            match self.decide(&topic, &id, &delivery.data).await {
                Ok(()) => delivery
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(|e| fail("ack", &e))?,
                Err(Later(why)) => {
                    tracing::warn!(
                        target: "odcs::events",
                        message_id = %id,
                        "cannot decide now, the message goes back to the queue: {why}"
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| fail("nack", &e))?
                }
            };
        }
    }

    /// Every matching rule's decision on one message, recorded.
    async fn decide(&self, topic: &str, id: &str, data: &[u8]) -> Result<(), Later> {
        let body: Value = match serde_json::from_slice(data) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                tracing::warn!(
                    target: "odcs::events",
                    message_id = %id,
                    "{topic}: the body is not a JSON object; acknowledged, nothing decided"
                );
                return Ok(());
            }
        };
        let Some(event) = event_of(topic, &body) else {
            return Ok(());
        };
        for rule in self.cfg.rules.iter().filter(|r| matches(r, &event)) {
            self.decide_rule(rule, &event, id).await?;
        }
        Ok(())
    }

    async fn decide_rule(&self, rule: &EventRule, event: &Event, id: &str) -> Result<(), Later> {
        let db = |e: crate::store::StoreError| Later(format!("the database: {e}"));
        if self
            .store
            .event_decision(id, &rule.name)
            .await
            .map_err(db)?
            .is_some()
        {
            return Ok(()); // delivered again
        }
        let new = match (self.make_compose)(&compose_json(rule, event)) {
            Ok(n) => n,
            Err(e) => {
                // checked at start; a module event's source may still be refused
                let d = decision(
                    id,
                    rule,
                    "refused",
                    format!("the compose request is invalid: {e}"),
                    "",
                );
                return self.record(d, None).await;
            }
        };
        let input = match event {
            Event::Tag { .. } => {
                let (source, new2) = (self.source.clone(), new.clone());
                tokio::task::spawn_blocking(move || tag_input(source.as_ref(), &new2))
                    .await
                    .map_err(|e| Later(e.to_string()))?
                    .map_err(Later)?
            }
            Event::ModuleReady { nsvc, .. } => nsvc.clone(),
        };
        let last = self.store.rule_input(&rule.name).await.map_err(db)?;
        if last.as_deref() == Some(input.as_str()) {
            let d = decision(
                id,
                rule,
                "unchanged",
                "the rule's resolved input is what it last composed from".into(),
                &input,
            );
            return self.record(d, None).await;
        }
        if let Some(g) = &rule.greenwave {
            let (kind, subject) = match event {
                Event::Tag { nvr, .. } => ("koji_build", nvr.clone()),
                Event::ModuleReady { nsvca, .. } => ("redhat-module", nsvca.clone()),
            };
            let g = g.clone();
            let kind = g.subject_type.clone().unwrap_or_else(|| kind.to_owned());
            let (satisfied, summary) =
                tokio::task::spawn_blocking(move || greenwave(&g, &kind, &subject))
                    .await
                    .map_err(|e| Later(e.to_string()))?
                    .map_err(Later)?;
            if !satisfied {
                let d = decision(id, rule, "refused", format!("Greenwave: {summary}"), &input);
                return self.record(d, None).await;
            }
        }
        let d = decision(
            id,
            rule,
            "composed",
            "the rule's input changed".into(),
            &input,
        );
        self.record(d, Some(&new)).await
    }

    async fn record(&self, d: EventDecision, compose: Option<&NewCompose>) -> Result<(), Later> {
        let recorded = self
            .store
            .record_event_decision(&d, compose)
            .await
            .map_err(|e| Later(format!("the database: {e}")))?;
        let m = &self.metrics;
        match recorded {
            Recorded::New(Some(row)) => {
                self.jobs_queued.notify_waiters();
                m.composes_caused.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "odcs::events", rule = %d.rule, message_id = %d.message_id, compose.id = row.id, "composed: {}", d.reason);
            }
            Recorded::New(None) => {
                let counter = if d.decision == "refused" {
                    &m.refused
                } else {
                    &m.unchanged
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::info!(target: "odcs::events", rule = %d.rule, message_id = %d.message_id, "{}: {}", d.decision, d.reason);
            }
            Recorded::Duplicate { .. } => {}
        }
        Ok(())
    }
}

fn decision(
    id: &str,
    rule: &EventRule,
    decision: &str,
    reason: String,
    input: &str,
) -> EventDecision {
    EventDecision {
        message_id: id.to_owned(),
        rule: rule.name.clone(),
        decision: decision.to_owned(),
        reason,
        input_digest: input.to_owned(),
    }
}

fn routing_key(prefix: &str, topic: &str) -> String {
    let prefix = prefix.trim_end_matches('.');
    if prefix.is_empty() {
        topic.to_owned()
    } else {
        format!("{prefix}.{topic}")
    }
}

fn strip_prefix(prefix: &str, key: &str) -> String {
    let prefix = prefix.trim_end_matches('.');
    if prefix.is_empty() {
        return key.to_owned();
    }
    key.strip_prefix(prefix)
        .and_then(|k| k.strip_prefix('.'))
        .unwrap_or(key)
        .to_owned()
}

/// The input of a tag compose now: a digest of the latest builds of its
/// tags, as the compose would resolve them (inheritance, sigkeys).
fn tag_input(source: &(dyn PackageSource + Send), new: &NewCompose) -> Result<String, String> {
    let event = source
        .current_event()
        .map_err(|e| format!("the package source: {e}"))?;
    let inherit = new.flags & i64::from(crate::domain::Flag::NoInheritance.bit()) == 0;
    let sigkeys: Vec<Option<String>> = match new.sigkeys.as_deref() {
        None | Some("") => vec![None],
        Some(s) => s
            .split(' ')
            .map(|k| (!k.is_empty()).then(|| k.to_owned()))
            .collect(),
    };
    let mut builds = std::collections::BTreeSet::new();
    for tag in new.source.split_whitespace() {
        for rpm in source
            .tag_rpms(tag, event, inherit, &sigkeys)
            .map_err(|e| format!("the package source: tag {tag}: {e}"))?
        {
            builds.insert(rpm.build_nvr);
        }
    }
    let mut h = sha2::Sha256::new();
    for b in &builds {
        h.update(b.as_bytes());
        h.update(b"\n");
    }
    Ok(format!(
        "builds:{}:{}",
        builds.len(),
        hex::encode(h.finalize())
    ))
}

/// Greenwave's decision: whether the policies are satisfied, and its
/// summary. A 4xx answer (no applicable policy, a bad request) is a "no"
/// with its message; a 5xx or no answer is tried again later.
fn greenwave(
    g: &crate::config::GreenwaveRule,
    subject_type: &str,
    subject: &str,
) -> Result<(bool, String), String> {
    let url = format!("{}/api/v1.0/decision", g.url.trim_end_matches('/'));
    let body = serde_json::json!({
        "decision_context": g.decision_context,
        "product_version": g.product_version,
        "subject_type": subject_type,
        "subject_identifier": subject,
    });
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
        .map_err(|e| format!("Greenwave at {url}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200 => match answer["policies_satisfied"].as_bool() {
            Some(ok) => Ok((
                ok,
                answer["summary"].as_str().unwrap_or_default().to_owned(),
            )),
            None => Err(format!(
                "Greenwave at {url}: no policies_satisfied in {text:.200}"
            )),
        },
        400..=499 => Ok((
            false,
            answer["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("HTTP {status}: {text:.200}")),
        )),
        _ => Err(format!("Greenwave at {url}: HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(on: Vec<EventKind>, tags: &[&str], module: Option<&str>) -> EventRule {
        EventRule {
            name: "r".into(),
            on,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            module: module.map(str::to_owned),
            compose: json!({"source": {"type": "module"}}),
            greenwave: None,
        }
    }

    #[test]
    fn koji_and_mbs_messages_are_read_and_matched() {
        let tag = json!({"tag": "f40-updates", "name": "ed", "version": "1.20", "release": "1.fc40",
                         "build_id": 7, "tag_id": 3, "user": "u", "owner": "o", "instance": "primary"});
        let e = event_of("buildsys.tag", &tag).unwrap();
        assert_eq!(
            e,
            Event::Tag {
                kind: EventKind::Tag,
                tag: "f40-updates".into(),
                nvr: "ed-1.20-1.fc40".into()
            }
        );
        assert!(matches(
            &rule(vec![EventKind::Tag], &["f40", "f40-updates"], None),
            &e
        ));
        assert!(!matches(
            &rule(vec![EventKind::Untag], &["f40-updates"], None),
            &e
        ));
        assert!(!matches(&rule(vec![EventKind::Tag], &["f41"], None), &e));
        assert_eq!(event_of("buildsys.repo.done", &tag), None);

        let module = json!({"name": "nodejs", "stream": "20", "version": "4020240101", "context": "abc",
                            "state": 5, "state_name": "ready"});
        let e = event_of("mbs.module.state.change", &module).unwrap();
        assert_eq!(
            e,
            Event::ModuleReady {
                nsvc: "nodejs:20:4020240101:abc".into(),
                nsvca: "nodejs-20-4020240101.abc".into()
            }
        );
        let r = rule(vec![EventKind::ModuleReady], &[], Some("nodejs:20"));
        assert!(matches(&r, &e));
        assert!(!matches(
            &rule(vec![EventKind::ModuleReady], &[], Some("nodejs:18")),
            &e
        ));
        assert_eq!(
            compose_json(&r, &e)["source"]["source"],
            "nodejs:20:4020240101:abc"
        );
        let mut building = module.clone();
        building["state_name"] = json!("build");
        assert_eq!(event_of("mbs.module.state.change", &building), None);
        assert_eq!(
            strip_prefix(
                "org.fedoraproject.prod",
                "org.fedoraproject.prod.buildsys.tag"
            ),
            "buildsys.tag"
        );
        assert_eq!(routing_key("", "buildsys.tag"), "buildsys.tag");
    }
}
