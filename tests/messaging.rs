//! State changes on the bus (#17), judged by a consumer outside our code:
//! the real fedora-messaging library (PyPI, through `scripts/fm-peer`)
//! consuming from the RabbitMQ of this machine (127.0.0.1:5672). It decodes
//! and validates each message as a Fedora consumer does, and nacks what it
//! cannot; only what it accepts is recorded.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::bus::{self, Consumer, Relay};
use common::server::Server;
use serde_json::{Value, json};

/// A server whose messages go over AMQP to `url` with `prefix`.
fn server(postgres: bool, url: String, prefix: &str) -> (Server, Vec<String>) {
    let prefix = prefix.to_owned();
    Server::start_with(
        postgres,
        move |cfg| {
            cfg.messaging = odcs::config::MessagingConfig {
                backend: odcs::config::MessagingBackend::Amqp,
                url: Some(url),
                exchange: "amq.topic".into(),
                topic_prefix: prefix,
                ..Default::default()
            };
        },
        None,
    )
}

fn compose(s: &Server, packages: &[&str]) -> i64 {
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "tag", "source": "base", "packages": packages}}),
    );
    assert_eq!(code, 200, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(s.wait_for(id, &["done", "failed"])["state_name"], "done");
    id
}

/// The state names each compose's messages carried, in arrival order.
fn states_by_compose(messages: &[Value]) -> BTreeMap<i64, Vec<String>> {
    let mut by = BTreeMap::<i64, Vec<String>>::new();
    for m in messages {
        let c = &m["body"]["compose"];
        by.entry(c["id"].as_i64().unwrap())
            .or_default()
            .push(c["state_name"].as_str().unwrap().to_owned());
    }
    by
}

fn metric(s: &Server, name: &str) -> f64 {
    let (_, text) = s.get("/api/1/metrics/");
    let text = text.as_str().unwrap_or("").to_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn every_state_change_reaches_a_fedora_messaging_consumer() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = bus::unique("prefix");
    let key = format!("{prefix}.odcs.compose.state-changed");
    let consumer = Consumer::start(tmp.path(), &key);
    let (s, apps) = server(false, bus::AMQP_URL.to_owned(), &prefix);
    let id = compose(&s, &[apps[0].as_str()]);
    let (_, done) = s.get(&format!("/api/1/composes/{id}"));
    // deleted: the reaper removes it
    let (code, body) = s.request("DELETE", &format!("/api/1/composes/{id}"), None);
    assert_eq!(code, 202, "{body}");
    s.wait_for(id, &["removed"]);

    let got = consumer.wait_until("wait, generating, done and removed", |m| m.len() >= 4);
    assert_eq!(
        states_by_compose(&got)[&id],
        ["wait", "generating", "done", "removed"]
    );
    let sent_at = regex_lite::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$").unwrap();
    let mut ids = HashSet::new();
    for m in &got {
        // decoded by fedora-messaging as its base message, at INFO
        assert_eq!(m["topic"], key.as_str(), "{m}");
        assert_eq!(
            (&m["class"], &m["schema"], &m["severity"]),
            (&json!("Message"), &json!("base.message"), &json!(20)),
            "{m}"
        );
        let h = &m["headers"];
        assert_eq!(h["fedora_messaging_schema"], "base.message", "{m}");
        assert_eq!(h["fedora_messaging_schema_package"], "fedora_messaging");
        assert_eq!(h["fedora_messaging_severity"], 20);
        assert_eq!(h["priority"], 0);
        assert!(sent_at.is_match(h["sent-at"].as_str().unwrap()), "{m}");
        let p = &m["properties"];
        assert_eq!(
            (
                &p["content_type"],
                &p["content_encoding"],
                &p["delivery_mode"]
            ),
            (&json!("application/json"), &json!("utf-8"), &json!(2)),
            "{m}"
        );
        assert!(ids.insert(m["id"].as_str().unwrap().to_owned()), "{m}");
        assert_eq!(m["body"]["event"], "state-changed");
        assert!(
            m["body"]["compose"].get("pungi_config_dump").is_none(),
            "{m}"
        );
    }
    // each message holds the compose as it was at that change
    let of = |state: &str| {
        got.iter()
            .map(|m| &m["body"]["compose"])
            .find(|c| c["state_name"] == state)
            .unwrap()
            .clone()
    };
    assert_eq!(of("wait")["time_done"], Value::Null);
    assert_eq!(of("generating")["state_reason"], "Compose thread started");
    let d = of("done");
    for k in [
        "time_done",
        "koji_event",
        "result_repofile",
        "source",
        "arches",
    ] {
        assert_eq!(d[k], done[k], "{k}");
    }
    assert_eq!(of("removed")["removed_by"], "anonymous");

    let started = std::time::Instant::now();
    while metric(&s, "odcs_messages_waiting") > 0.0 {
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(metric(&s, "odcs_messages_published_total") >= 4.0);
    assert_eq!(metric(&s, "odcs_messages_failed_total"), 0.0);
}

#[test]
fn a_broker_that_was_down_gets_every_message_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = bus::unique("prefix");
    let consumer = Consumer::start(tmp.path(), &format!("{prefix}.odcs.compose.state-changed"));
    let relay = Relay::start();
    // on PostgreSQL: its trigger, and workers on a shared database
    let (s, apps) = server(true, relay.url(), &prefix);
    let first = compose(&s, &[apps[0].as_str()]);
    consumer.wait_until("the first compose's three changes", |m| m.len() >= 3);

    // the broker's port closes while composes finish
    relay.down();
    let mut during = vec![];
    for app in &apps[1..4] {
        during.push(compose(&s, &[app.as_str()]));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(consumer.messages().len(), 3, "nothing gets through");
    assert_eq!(metric(&s, "odcs_messages_waiting"), 9.0);
    assert!(metric(&s, "odcs_messages_failed_total") >= 1.0);

    relay.up();
    let got = consumer.wait_until("all twelve", |m| m.len() >= 12);
    // and no more come: nothing twice
    std::thread::sleep(Duration::from_secs(2));
    let got_later = consumer.messages();
    assert_eq!(got_later.len(), got.len(), "a message came twice");
    let by = states_by_compose(&got_later);
    for id in std::iter::once(first).chain(during.iter().copied()) {
        assert_eq!(by[&id], ["wait", "generating", "done"], "compose {id}");
    }
    let ids: HashSet<&str> = got_later
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 12);
    // in the order they happened: the outbox's order is the changes' order
    let order: Vec<i64> = got_later
        .iter()
        .map(|m| m["body"]["compose"]["id"].as_i64().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "composes made one after another arrive so");
    assert_eq!(metric(&s, "odcs_messages_waiting"), 0.0);
    assert!(metric(&s, "odcs_messages_retried_total") >= 1.0);
}

/// A stand-in for Greenwave's decision API (`POST /api/v1.0/decision`): a
/// subject is satisfied when the test says so; every request is kept.
struct Greenwave {
    url: String,
    satisfied: Arc<Mutex<HashSet<String>>>,
    asked: Arc<Mutex<Vec<Value>>>,
}

impl Greenwave {
    fn start() -> Greenwave {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let satisfied: Arc<Mutex<HashSet<String>>> = Default::default();
        let asked: Arc<Mutex<Vec<Value>>> = Default::default();
        let (ok, log) = (satisfied.clone(), asked.clone());
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(req.as_reader(), &mut text);
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let (status, answer) = if req.url() != "/api/v1.0/decision" {
                    (404, json!({"message": "not found"}))
                } else {
                    log.lock().unwrap().push(body.clone());
                    let subject = body["subject_identifier"].as_str().unwrap_or("");
                    let yes = ok.lock().unwrap().contains(subject);
                    (
                        200,
                        json!({
                            "policies_satisfied": yes,
                            "summary": if yes { "All required tests passed" } else { "1 of 1 required tests failed" },
                            "applicable_policies": ["odcs-compose"],
                            "satisfied_requirements": [],
                            "unsatisfied_requirements": [],
                        }),
                    )
                };
                let _ = req.respond(
                    tiny_http::Response::from_string(answer.to_string())
                        .with_status_code(status)
                        .with_header(
                            "Content-Type: application/json"
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        ),
                );
            }
        });
        Greenwave {
            url,
            satisfied,
            asked,
        }
    }

    fn allow(&self, nvr: &str) {
        self.satisfied.lock().unwrap().insert(nvr.to_owned());
    }
}

fn wait_metric(s: &Server, name: &str, want: f64) {
    let started = std::time::Instant::now();
    loop {
        let got = metric(s, name);
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{name} is {got}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A build of `name` at `version` put into `tag` of the server's store (as
/// a build tagged in Koji); the message Koji's plugin sends for it.
fn tag_build(s: &Server, tag: &str, name: &str, version: &str) -> (Value, String) {
    let dir = s.data.join(format!("incoming-{name}-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = odcs::rpm::build::PackageSpec::parse(&format!("{name}-{version}-1.noarch"))
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let meta = odcs::rpm::read_package(&path).unwrap();
    let store = odcs::source::local::LocalStore::open(&s.data.join("store")).unwrap();
    let parents: Vec<String> = if tag == "updates" {
        vec!["base".into()]
    } else {
        vec![]
    };
    store.import(tag, &parents, &[(path, meta)]).unwrap();
    let nvr = format!("{name}-{version}-1");
    (
        json!({"tag": tag, "name": name, "version": version, "release": "1",
               "user": "releng", "owner": "releng", "tag_id": 1, "build_id": 1,
               "instance": "primary"}),
        nvr,
    )
}

#[test]
fn a_tag_change_makes_one_compose_when_its_latest_builds_change_and_policy_allows() {
    let prefix = bus::unique("koji");
    let gw = Greenwave::start();
    let gw_url = gw.url.clone();
    let queue = bus::unique("queue");
    let _delete = bus::QueueGuard(queue.clone());
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.events = odcs::config::EventsConfig {
                url: Some(bus::AMQP_URL.into()),
                queue,
                topic_prefix: prefix.clone(),
                rules: vec![odcs::config::EventRule {
                    name: "updates".into(),
                    on: vec![odcs::config::EventKind::Tag, odcs::config::EventKind::Untag],
                    tags: vec!["updates".into(), "base".into()],
                    module: None,
                    compose: json!({"source": {"type": "tag", "source": "updates",
                                               "packages": ["ed"]}}),
                    greenwave: Some(odcs::config::GreenwaveRule {
                        url: gw_url,
                        decision_context: "odcs_compose".into(),
                        product_version: "fedora-40".into(),
                        subject_type: None,
                    }),
                }],
                ..Default::default()
            };
        },
        None,
    );
    let _ = apps;
    let composes = |s: &Server| -> Vec<Value> {
        let (_, list) = s.get("/api/1/composes/?owner=odcs-events");
        list["items"].as_array().unwrap().clone()
    };
    let publish = |body: &Value, id: Option<&str>| bus::publish(&prefix, "buildsys.tag", body, id);

    // a newer build tagged into the tag, its tests passed: one compose
    let (msg, nvr) = tag_build(&s, "updates", "ed", "99");
    gw.allow(&nvr);
    let first_id = publish(&msg, None);
    wait_metric(&s, "odcs_events_composes_total", 1.0);
    let made = composes(&s);
    assert_eq!(made.len(), 1, "{made:?}");
    let c = s.wait_for(made[0]["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(
        (&c["state_name"], &c["source"], &c["owner"]),
        (&json!("done"), &json!("updates"), &json!("odcs-events")),
        "{c}"
    );
    let asked = gw.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            json!({"decision_context": "odcs_compose", "product_version": "fedora-40",
                "subject_type": "koji_build", "subject_identifier": "ed-99-1"})
        ]
    );

    // the same message published again: nothing changed, no compose
    publish(&msg, None);
    wait_metric(&s, "odcs_events_unchanged_total", 1.0);
    // an older build tagged into the parent: updates' own build stays latest
    let (older, _) = tag_build(&s, "base", "ed", "0.5");
    publish(&older, None);
    wait_metric(&s, "odcs_events_unchanged_total", 2.0);
    assert_eq!(composes(&s).len(), 1);

    // a newer build whose tests failed: refused
    let (msg, nvr) = tag_build(&s, "updates", "ed", "100");
    publish(&msg, None);
    wait_metric(&s, "odcs_events_refused_total", 1.0);
    assert_eq!(composes(&s).len(), 1);
    // its tests pass later, and the message comes again: composed
    gw.allow(&nvr);
    let second_id = publish(&msg, None);
    wait_metric(&s, "odcs_events_composes_total", 2.0);

    // a delivery of a message decided before (the broker redelivers it):
    // no second compose, though the tag has changed meanwhile
    let (msg, nvr) = tag_build(&s, "updates", "ed", "101");
    gw.allow(&nvr);
    for id in [&first_id, &second_id] {
        publish(&msg, Some(id));
    }
    wait_metric(&s, "odcs_events_consumed_total", 7.0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(composes(&s).len(), 2);
    assert_eq!(metric(&s, "odcs_events_composes_total"), 2.0);
    // the change itself, in a message of its own, is composed
    publish(&msg, None);
    wait_metric(&s, "odcs_events_composes_total", 3.0);
    assert_eq!(composes(&s).len(), 3);
}

/// The amqp1 backend (the original's UMB backend) through RabbitMQ's AMQP
/// 1.0 plugin (scripts/test enables it) to the `/topic/<key>` address,
/// which the broker routes through amq.topic: the fedora-messaging consumer
/// on the other side gets every state, in order, with the JSON body and
/// the message id (the application properties reach it as RabbitMQ 3.x
/// passes them, not as its headers, so it decodes a plain message).
#[test]
fn the_amqp1_backend_reaches_a_consumer_through_the_brokers_topic_address() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = bus::unique("amqp1");
    let key = format!("{prefix}.odcs.compose.state-changed");
    let consumer = Consumer::start(tmp.path(), &key);
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.messaging = odcs::config::MessagingConfig {
                backend: odcs::config::MessagingBackend::Amqp1,
                url: Some(bus::AMQP_URL.into()),
                topic_prefix: prefix.clone(),
                ..Default::default()
            };
        },
        None,
    );
    let id = compose(&s, &[apps[0].as_str()]);
    let got = consumer.wait_until("wait, generating and done over AMQP 1.0", |m| m.len() >= 3);
    assert_eq!(
        states_by_compose(&got)[&id],
        ["wait", "generating", "done"],
        "consumer log:\n{}",
        consumer.log()
    );
    let ids: HashSet<&str> = got.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    for m in &got {
        assert_eq!(m["topic"], key.as_str());
        assert_eq!(m["body"]["event"], "state-changed");
        assert_eq!(m["properties"]["content_type"], "application/json", "{m}");
    }
    assert_eq!(metric(&s, "odcs_messages_failed_total"), 0.0);
}

/// A module build reaching `ready` (MBS's `mbs.module.state.change`, its
/// `ModuleBuild.json()` body) makes a compose of exactly that build; the
/// same build announced again makes none; other states are not events.
#[test]
fn a_module_build_that_becomes_ready_is_composed_once() {
    let prefix = bus::unique("mbs");
    let queue = bus::unique("queue");
    let _delete = bus::QueueGuard(queue.clone());
    let (s, _) = Server::start_with(
        false,
        |cfg| {
            // the module m:s:1:c1 in the local store
            common::server::import_module_m_s(cfg);
            cfg.events = odcs::config::EventsConfig {
                url: Some(bus::AMQP_URL.into()),
                queue,
                topic_prefix: prefix.clone(),
                rules: vec![odcs::config::EventRule {
                    name: "m-ready".into(),
                    on: vec![odcs::config::EventKind::ModuleReady],
                    tags: vec![],
                    module: Some("m:s".into()),
                    compose: json!({"source": {"type": "module"}}),
                    greenwave: None,
                }],
                ..Default::default()
            };
        },
        None,
    );
    let body = |state: i64, name: &str| {
        json!({"id": 7, "name": "m", "stream": "s", "version": "1", "context": "c1",
               "state": state, "state_name": name, "scratch": false,
               "koji_tag": "module-m-s-1-c1", "owner": "releng"})
    };
    bus::publish(&prefix, "mbs.module.state.change", &body(2, "build"), None);
    bus::publish(&prefix, "mbs.module.state.change", &body(5, "ready"), None);
    wait_metric(&s, "odcs_events_composes_total", 1.0);
    let (_, list) = s.get("/api/1/composes/?owner=odcs-events");
    let made = list["items"].as_array().unwrap().clone();
    assert_eq!(made.len(), 1, "{list}");
    let c = s.wait_for(made[0]["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(
        (&c["state_name"], &c["source"], &c["source_type"]),
        (&json!("done"), &json!("m:s:1:c1"), &json!(2)),
        "{c}"
    );
    bus::publish(&prefix, "mbs.module.state.change", &body(5, "ready"), None);
    wait_metric(&s, "odcs_events_unchanged_total", 1.0);
    assert_eq!(metric(&s, "odcs_events_consumed_total"), 3.0);
    assert_eq!(metric(&s, "odcs_events_composes_total"), 1.0);
}
