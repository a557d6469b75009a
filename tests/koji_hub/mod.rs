//! A stand-in Koji hub for tests: the read calls a compose makes, served over
//! real HTTP on `127.0.0.1:0` the way a Koji 1.35 hub answers them, so our
//! client and the real `koji` CLI can both talk to it.
//!
//! What is faithful (formats.md §1.1–§1.6): `POST` only (405 otherwise), the
//! `Koji-Version` header on every answer, faults as XML-RPC faults with Koji's
//! codes and messages, keyword arguments from a `__starstar` struct with
//! Python's arity checks (fault 1019), unknown methods (fault 1000), `multiCall`
//! with a fault per failing call, and the data semantics in [`model`]: the
//! inheritance walk, inherited package lists with blocks, "latest" as the most
//! recently tagged build of the nearest tag, event-pinned queries, COMPLETE
//! builds only, draft builds (Koji ≥ 1.34: `N-V-R,draft_<id>`, found by that
//! N-V-R only, files under `R,draft_<id>/`, listed unless `draft=False`), and
//! the real hub's quirks of formats.md §1.10 (an event above the newest is
//! "now" for listings; only `getEvent` refuses it). What is not:
//! authentication, writes, typed (maven/win/image) builds, `reverse`
//! inheritance.
//!
//! Tests can make it slow ([`KojiHub::set_delay`]) or make it answer an HTTP
//! error a number of times ([`KojiHub::fail_next`]), to exercise the client's
//! timeout and retries.
#![allow(
    dead_code,
    reason = "shared by several test crates, each using a part of it"
)]

pub mod fixture;
pub mod model;
pub mod tls;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use odcs::source::koji::Value;
use odcs::source::koji::xmlrpc::{self, Fault, MethodCall};

use model::{FullLink, HubModel, RpmRow, TaggedBuild};

pub const KOJI_VERSION: &str = "1.35.3";

/// Koji fault codes used here.
pub const GENERIC_ERROR: i64 = 1000;
pub const SERVER_OFFLINE: i64 = 1014;
pub const PARAMETER_ERROR: i64 = 1019;

/// How the hub answers a request it is told to fail.
#[derive(Clone, Debug)]
enum Failure {
    Status(u16),
    Fault(Fault),
}

struct Shared {
    /// Read by every call; changed between calls by [`KojiHub::change`].
    model: std::sync::RwLock<HubModel>,
    delay: Mutex<Duration>,
    fail_remaining: AtomicU32,
    failure: Mutex<Failure>,
    requests: AtomicUsize,
    calls: Mutex<Vec<MethodCall>>,
}

/// A running hub; stops when dropped.
pub struct KojiHub {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    port: u16,
}

impl KojiHub {
    pub fn start(model: HubModel) -> KojiHub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let shared = Arc::new(Shared {
            model: std::sync::RwLock::new(model),
            delay: Mutex::new(Duration::ZERO),
            fail_remaining: AtomicU32::new(0),
            failure: Mutex::new(Failure::Status(503)),
            requests: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
        });
        let thread = {
            let (server, shared) = (server.clone(), shared.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let shared = shared.clone();
                    // One thread per request, so a slow answer does not hold up others.
                    std::thread::spawn(move || handle(&shared, request));
                }
            })
        };
        KojiHub {
            server,
            thread: Some(thread),
            shared,
            port,
        }
    }

    /// The hub URL (`http://127.0.0.1:PORT/kojihub`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/kojihub", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn model(&self) -> std::sync::RwLockReadGuard<'_, HubModel> {
        self.shared.model.read().unwrap()
    }

    /// Change the running hub's data (new builds, tags, events), as
    /// Koji's users do between a compose and the next.
    pub fn change(&self, f: impl FnOnce(&mut HubModel)) {
        f(&mut self.shared.model.write().unwrap());
    }

    /// Sleep this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// Answer the next `n` requests with HTTP `status` (and no XML-RPC body).
    pub fn fail_next(&self, n: u32, status: u16) {
        *self.shared.failure.lock().unwrap() = Failure::Status(status);
        self.shared.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Answer the next `n` requests with fault 1014 `ServerOffline`, as a hub
    /// in maintenance does.
    pub fn offline_next(&self, n: u32) {
        *self.shared.failure.lock().unwrap() =
            Failure::Fault(Fault::new(SERVER_OFFLINE, "server is offline"));
        self.shared.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// HTTP requests received so far, of any method (answered or failed).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The calls answered so far, as received (keywords still in their struct).
    pub fn calls(&self) -> Vec<MethodCall> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// Names of the methods answered so far.
    pub fn methods(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.method).collect()
    }
}

impl Drop for KojiHub {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap()
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let delay = *shared.delay.lock().unwrap();
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let reply = |status: u16, body: String, content_type: &str| {
        tiny_http::Response::from_string(body)
            .with_status_code(status)
            .with_header(header("Content-Type", content_type))
            .with_header(header("Koji-Version", KOJI_VERSION))
    };
    if *request.method() != tiny_http::Method::Post {
        let resp = reply(405, "Method Not Allowed\n".into(), "text/plain")
            .with_header(header("Allow", "POST"));
        let _ = request.respond(resp);
        return;
    }
    if request.url() != "/kojihub" {
        let _ = request.respond(reply(404, "Not Found\n".into(), "text/plain"));
        return;
    }
    let failing = shared
        .fail_remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        let failure = shared.failure.lock().unwrap().clone();
        let _ = match failure {
            Failure::Status(status) => {
                request.respond(reply(status, "Service Unavailable\n".into(), "text/plain"))
            }
            Failure::Fault(f) => request.respond(reply(200, xmlrpc::write_fault(&f), "text/xml")),
        };
        return;
    }
    let mut body = String::new();
    let call = match request.as_reader().read_to_string(&mut body) {
        Ok(_) => xmlrpc::parse_call(&body),
        Err(_) => {
            let _ = request.respond(reply(400, "Bad Request\n".into(), "text/plain"));
            return;
        }
    };
    let Ok(call) = call else {
        let _ = request.respond(reply(400, "Bad Request\n".into(), "text/plain"));
        return;
    };
    shared.calls.lock().unwrap().push(call.clone());
    let xml = match dispatch(&shared.model.read().unwrap(), call, false) {
        Ok(v) => xmlrpc::write_response(&v),
        Err(f) => xmlrpc::write_fault(&f),
    };
    let _ = request.respond(reply(200, xml, "text/xml"));
}

/// Parameters bound to a hub function's signature, Python style.
struct Args {
    names: &'static [&'static str],
    values: Vec<Value>,
}

impl Args {
    fn bind(method: &str, call: MethodCall, names: &'static [&'static str]) -> Result<Args, Fault> {
        let (positional, kwargs) = call.split_kwargs();
        if positional.len() > names.len() {
            return Err(Fault::new(
                PARAMETER_ERROR,
                format!(
                    "{method}() takes at most {} arguments ({} given)",
                    names.len(),
                    positional.len()
                ),
            ));
        }
        let mut values: Vec<Option<Value>> = vec![None; names.len()];
        for (i, v) in positional.into_iter().enumerate() {
            values[i] = Some(v);
        }
        for (k, v) in kwargs {
            let Some(i) = names.iter().position(|n| *n == k) else {
                return Err(Fault::new(
                    PARAMETER_ERROR,
                    format!("{method}() got an unexpected keyword argument '{k}'"),
                ));
            };
            if values[i].is_some() {
                return Err(Fault::new(
                    PARAMETER_ERROR,
                    format!("{method}() got multiple values for argument '{k}'"),
                ));
            }
            values[i] = Some(v);
        }
        Ok(Args {
            names,
            values: values
                .into_iter()
                .map(|v| v.unwrap_or(Value::Nil))
                .collect(),
        })
    }

    fn get(&self, name: &str) -> &Value {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("parameter in signature");
        &self.values[i]
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).truthy()
    }

    /// A flag whose default is true (`strict=True`).
    fn flag_default_true(&self, name: &str) -> bool {
        match self.get(name) {
            Value::Nil => true,
            v => v.truthy(),
        }
    }

    fn event(&self) -> Result<Option<i64>, Fault> {
        match self.get("event") {
            Value::Nil => Ok(None),
            Value::Int(e) => Ok(Some(*e)),
            other => Err(Fault::new(
                GENERIC_ERROR,
                format!("Invalid event: {}", repr(other)),
            )),
        }
    }

    fn opt_str(&self, name: &str) -> Option<&str> {
        self.get(name).as_str()
    }

    /// `latest`: False/None, True (= 1) or a count.
    fn latest(&self) -> Option<i64> {
        match self.get("latest") {
            Value::Int(n) if *n > 0 => Some(*n),
            Value::Int(_) => None,
            v if v.truthy() => Some(1),
            _ => None,
        }
    }

    /// `draft`: None = both, else only drafts / only regular builds.
    fn draft(&self) -> Option<bool> {
        match self.get("draft") {
            Value::Nil => None,
            v => Some(v.truthy()),
        }
    }
}

/// Python's `repr` of a simple value, for fault messages.
fn repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        Value::Int(i) => i.to_string(),
        Value::Nil => "None".to_owned(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        other => format!("{other:?}"),
    }
}

/// Python's `str` of a simple value.
fn pystr(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

fn generic(msg: String) -> Fault {
    Fault::new(GENERIC_ERROR, msg)
}

/// What `system.listMethods` answers: the calls this hub implements.
const METHODS: &[&str] = &[
    "getAPIVersion",
    "getKojiVersion",
    "getLastEvent",
    "getEvent",
    "getTag",
    "tagChangedSinceEvent",
    "getFullInheritance",
    "listTagged",
    "listTaggedRPMS",
    "getBuild",
    "search",
    "listBuildRPMs",
    "listRPMs",
    "getRPM",
    "queryRPMSigs",
    "getRPMChecksums",
    "system.listMethods",
    "system.multicall",
    "multiCall",
];

fn dispatch(m: &HubModel, call: MethodCall, in_multicall: bool) -> Result<Value, Fault> {
    let method = call.method.clone();
    let bind = |names| Args::bind(&method, call.clone(), names);
    if m.hidden_methods.contains(&method) {
        return Err(generic(format!("Invalid method: {method}")));
    }
    match method.as_str() {
        "getAPIVersion" => {
            bind(&[])?;
            Ok(Value::Int(1))
        }
        "getKojiVersion" => {
            bind(&[])?;
            Ok(Value::from(KOJI_VERSION))
        }
        "getLastEvent" => {
            let a = bind(&["before", "strict"])?;
            let before = match a.get("before") {
                Value::Nil => None,
                v => Some(
                    v.as_f64()
                        .ok_or_else(|| generic(format!("Invalid type for before: {}", repr(v))))?,
                ),
            };
            match m.last_event_before(before) {
                Some(id) => Ok(event_value(m, id)),
                None if a.flag_default_true("strict") => Err(generic(format!(
                    "There are no events before {}",
                    pystr(a.get("before"))
                ))),
                None => Ok(Value::Nil),
            }
        }
        "getEvent" => {
            let a = bind(&["id", "strict"])?;
            let id = a.get("id").as_i64().unwrap_or(0);
            match m.event_ts(id) {
                Some(_) => Ok(event_value(m, id)),
                // the real hub's QueryProcessor.executeOne(strict=True)
                None if a.flag_default_true("strict") => {
                    Err(generic("query returned no rows".into()))
                }
                None => Ok(Value::Nil),
            }
        }
        "getTag" => {
            let a = bind(&["tagInfo", "strict", "event", "blocked"])?;
            let event = match a.get("event") {
                Value::String(s) if s == "auto" => None,
                _ => a.event()?,
            };
            match m.find_tag(a.get("tagInfo"), event) {
                Some(t) => {
                    let mut v = vec![
                        ("id", Value::Int(t.id)),
                        ("name", Value::from(t.name.as_str())),
                        ("perm_id", Value::Nil),
                        ("perm", Value::Nil),
                        ("arches", Value::from(t.arches.clone())),
                        ("locked", Value::Bool(t.locked)),
                        ("maven_support", Value::Bool(false)),
                        ("maven_include_all", Value::Bool(false)),
                        ("extra", Value::Struct(vec![])),
                    ];
                    if let Some(e) = event {
                        v.push(("query_event", Value::Int(e)));
                    }
                    Ok(Value::structure(v))
                }
                None if a.flag("strict") => Err(generic(format!(
                    "No such tagInfo: {}",
                    repr(a.get("tagInfo"))
                ))),
                None => Ok(Value::Nil),
            }
        }
        "tagChangedSinceEvent" => {
            let a = bind(&["event", "taglist"])?;
            let event = a
                .get("event")
                .as_i64()
                .ok_or_else(|| generic(format!("invalid event: {}", repr(a.get("event")))))?;
            let Value::Array(items) = a.get("taglist") else {
                return Err(generic(format!(
                    "invalid taglist: {}",
                    repr(a.get("taglist"))
                )));
            };
            let ids: Vec<i64> = items.iter().filter_map(Value::as_i64).collect();
            Ok(Value::Bool(m.tag_changed_since(event, &ids)))
        }
        "getFullInheritance" => {
            let a = bind(&["tag", "event", "reverse"])?;
            let event = a.event()?;
            let tag_id = tag_id_strict(m, a.get("tag"), event)?;
            if a.flag("reverse") {
                return Err(generic(
                    "the test hub does not implement reverse inheritance".into(),
                ));
            }
            Ok(Value::Array(
                m.full_inheritance(tag_id, event)
                    .iter()
                    .map(link_value)
                    .collect(),
            ))
        }
        "listTagged" => {
            let a = bind(&[
                "tag", "event", "inherit", "prefix", "latest", "package", "owner", "type",
                "strict", "extra", "draft",
            ])?;
            let event = a.event()?;
            let Some(tag_id) = tag_id_for_listing(m, &a, event)? else {
                return Ok(Value::Array(vec![]));
            };
            let builds = tagged_builds(m, &a, tag_id, event);
            Ok(Value::Array(
                builds.iter().map(|b| tagged_build_value(m, b)).collect(),
            ))
        }
        "listTaggedRPMS" => {
            let a = bind(&[
                "tag", "event", "inherit", "latest", "package", "arch", "rpmsigs", "owner", "type",
                "strict", "extra", "draft",
            ])?;
            let event = a.event()?;
            let Some(tag_id) = tag_id_for_listing(m, &a, event)? else {
                return Ok(Value::Array(vec![
                    Value::Array(vec![]),
                    Value::Array(vec![]),
                ]));
            };
            if !a.get("type").is_nil() {
                return Ok(Value::Array(vec![
                    Value::Array(vec![]),
                    Value::Array(vec![]),
                ]));
            }
            let arches: Option<Vec<String>> = match a.get("arch") {
                Value::Nil => None,
                Value::String(s) => Some(vec![s.clone()]),
                Value::Array(items) => Some(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect(),
                ),
                other => {
                    return Err(generic(format!(
                        "Invalid type for arch option: {}",
                        repr(other)
                    )));
                }
            };
            let (rpms, builds) = m.tagged_rpms(
                tag_id,
                event,
                a.flag("inherit"),
                a.latest(),
                a.opt_str("package"),
                arches.as_deref(),
                a.flag("rpmsigs"),
                a.draft(),
            );
            let owner = a.opt_str("owner");
            let builds: Vec<TaggedBuild> = builds
                .into_iter()
                .filter(|b| owner.is_none_or(|o| b.build.owner == o))
                .collect();
            let kept: std::collections::HashSet<i64> = builds.iter().map(|b| b.build.id).collect();
            Ok(Value::Array(vec![
                Value::Array(
                    rpms.iter()
                        .filter(|(r, _)| kept.contains(&r.build_id))
                        .map(|(r, sigkey)| tagged_rpm_value(r, sigkey.as_deref()))
                        .collect(),
                ),
                Value::Array(builds.iter().map(|b| tagged_build_value(m, b)).collect()),
            ]))
        }
        "search" => {
            let a = bind(&["terms", "type", "matchType", "queryOpts"])?;
            let terms = a.get("terms").as_str().unwrap_or_default().to_owned();
            let kind = a.get("type").as_str().unwrap_or_default().to_owned();
            let match_type = a.get("matchType").as_str().unwrap_or_default().to_owned();
            if kind != "build" {
                return Err(generic(format!("No such search type: {kind}")));
            }
            if match_type != "glob" {
                return Err(generic(format!(
                    "this test hub searches with matchType glob only, not {match_type}"
                )));
            }
            let hits = m.search_builds(&terms);
            Ok(Value::Array(
                hits.into_iter()
                    .map(|(id, name)| {
                        Value::structure([("id", Value::Int(id)), ("name", Value::from(name))])
                    })
                    .collect(),
            ))
        }
        "getBuild" => {
            let a = bind(&["buildInfo", "strict"])?;
            match m.find_build(a.get("buildInfo")) {
                Some(b) => Ok(build_value(m, b)),
                None if a.flag("strict") => Err(generic(format!(
                    "No such build: {}",
                    repr(a.get("buildInfo"))
                ))),
                None => Ok(Value::Nil),
            }
        }
        "listBuildRPMs" => {
            let a = bind(&["build"])?;
            let b = m
                .find_build(a.get("build"))
                .ok_or_else(|| generic(format!("No such build: {}", repr(a.get("build")))))?;
            Ok(Value::Array(m.build_rpms(b.id).map(rpm_value).collect()))
        }
        // `koji import` asks it for each RPM before uploading (formats.md
        // §1.9): a dict of name, version, release, arch; an id; or N-V-R.A
        "getRPM" => {
            let a = bind(&["rpminfo", "strict", "multibuild"])?;
            let info = a.get("rpminfo");
            if !matches!(info, Value::Int(_) | Value::String(_) | Value::Struct(_)) {
                return Err(generic(format!("Invalid type for rpminfo: {}", repr(info))));
            }
            let found = m.find_rpm(info);
            match found {
                Some(r) => Ok(rpm_value(r)),
                None if a.flag("strict") => Err(generic(format!("No such rpm: {}", repr(info)))),
                None => Ok(Value::Nil),
            }
        }
        "listRPMs" => {
            let a = bind(&[
                "buildID",
                "buildrootID",
                "imageID",
                "componentBuildrootID",
                "hostID",
                "arches",
                "queryOpts",
                "draft",
            ])?;
            let Some(build_id) = a.get("buildID").as_i64() else {
                return Ok(Value::Array(vec![]));
            };
            let arches: Option<Vec<&str>> = match a.get("arches") {
                Value::Nil => None,
                Value::String(s) => Some(vec![s.as_str()]),
                Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect()),
                _ => None,
            };
            Ok(Value::Array(
                m.build_rpms(build_id)
                    .filter(|r| arches.as_ref().is_none_or(|a| a.contains(&r.arch.as_str())))
                    .map(rpm_value)
                    .collect(),
            ))
        }
        "queryRPMSigs" => {
            let a = bind(&["rpm_id", "sigkey", "queryOpts"])?;
            let rpm_id = match a.get("rpm_id") {
                Value::Nil => None,
                v => Some(
                    m.find_rpm(v)
                        .ok_or_else(|| generic(format!("No such rpm: {}", repr(v))))?
                        .id,
                ),
            };
            Ok(Value::Array(
                m.rpm_sigs(rpm_id, a.opt_str("sigkey"))
                    .into_iter()
                    .map(|(rpm_id, sigkey, sighash)| {
                        Value::structure([
                            ("rpm_id", Value::Int(rpm_id)),
                            ("sigkey", Value::from(sigkey)),
                            ("sighash", Value::from(sighash)),
                        ])
                    })
                    .collect(),
            ))
        }
        "system.listMethods" => Ok(Value::Array(
            METHODS
                .iter()
                .filter(|name| !m.hidden_methods.iter().any(|h| h == *name))
                .map(|name| Value::from(*name))
                .collect(),
        )),
        "getRPMChecksums" => {
            let a = bind(&["rpm_id", "checksum_types", "cacheonly"])?;
            let rpm = m
                .find_rpm(a.get("rpm_id"))
                .ok_or_else(|| generic(format!("No such rpm: {}", repr(a.get("rpm_id")))))?;
            let types: Vec<String> = match a.get("checksum_types") {
                Value::Nil => vec!["sha256".to_owned()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                other => return Err(generic(format!("invalid checksum_types: {}", repr(other)))),
            };
            if let Some(t) = types.iter().find(|t| *t != "sha256") {
                return Err(generic(format!(
                    "Checksum type {t} is not supported by the test hub"
                )));
            }
            let cacheonly = matches!(a.get("cacheonly"), Value::Bool(true) | Value::Int(1));
            Ok(Value::structure(
                m.rpm_checksums(rpm.id, cacheonly)
                    .into_iter()
                    .map(|(key, sha)| (key, Value::structure([("sha256", Value::from(sha))]))),
            ))
        }
        "multiCall" | "system.multicall" => {
            if in_multicall {
                return Err(generic(
                    "multicall is not allowed within a multicall".into(),
                ));
            }
            let a = bind(&["calls"])?;
            let calls = a
                .get("calls")
                .as_array()
                .ok_or_else(|| generic("multicall expects a list of calls".into()))?;
            Ok(Value::Array(
                calls
                    .iter()
                    .map(|c| {
                        let one = MethodCall {
                            method: c
                                .get("methodName")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            params: c
                                .get("params")
                                .and_then(Value::as_array)
                                .map(<[Value]>::to_vec)
                                .unwrap_or_default(),
                        };
                        match dispatch(m, one, true) {
                            Ok(v) => Value::Array(vec![v]),
                            Err(f) => f.to_value(),
                        }
                    })
                    .collect(),
            ))
        }
        other => Err(generic(format!("Invalid method: {other}"))),
    }
}

/// `get_tag_id(tag, strict=True)`, as the listing calls resolve their tag.
fn tag_id_strict(m: &HubModel, info: &Value, event: Option<i64>) -> Result<i64, Fault> {
    m.find_tag(info, event)
        .map(|t| t.id)
        .ok_or_else(|| generic(format!("No such entry in table tag: {}", pystr(info))))
}

/// The tag of `listTagged`/`listTaggedRPMS`: with `strict=False` an unknown tag
/// lists nothing.
fn tag_id_for_listing(m: &HubModel, a: &Args, event: Option<i64>) -> Result<Option<i64>, Fault> {
    match tag_id_strict(m, a.get("tag"), event) {
        Ok(id) => Ok(Some(id)),
        Err(_) if !a.flag_default_true("strict") => Ok(None),
        Err(f) => Err(f),
    }
}

fn tagged_builds(m: &HubModel, a: &Args, tag_id: i64, event: Option<i64>) -> Vec<TaggedBuild> {
    // build types: a module build has typeinfo.module, the others are rpm
    // builds (no other btype in the test hub)
    let kind = a.opt_str("type").map(str::to_owned);
    let is_module = |b: &model::BuildRow| {
        b.extra
            .as_ref()
            .and_then(|e| e.get("typeinfo"))
            .and_then(|t| t.get("module"))
            .is_some()
    };
    let prefix = a.opt_str("prefix").map(str::to_lowercase);
    let owner = a.opt_str("owner");
    m.tagged_builds(
        tag_id,
        event,
        a.flag("inherit"),
        a.latest(),
        a.opt_str("package"),
        a.draft(),
    )
    .into_iter()
    .filter(|b| {
        prefix
            .as_ref()
            .is_none_or(|p| b.build.name.to_lowercase().starts_with(p))
    })
    .filter(|b| owner.is_none_or(|o| b.build.owner == o))
    .filter(|b| match kind.as_deref() {
        None => true,
        Some("module") => is_module(&b.build),
        Some("rpm") => !is_module(&b.build),
        Some(_) => false,
    })
    .collect()
}

fn event_value(m: &HubModel, id: i64) -> Value {
    Value::structure([
        ("id", Value::Int(id)),
        ("ts", Value::Double(m.event_ts(id).unwrap_or(0.0))),
    ])
}

fn link_value(l: &FullLink) -> Value {
    Value::structure([
        ("parent_id", Value::Int(l.parent_id)),
        ("name", Value::from(l.name.as_str())),
        ("priority", Value::Int(l.opts.priority)),
        ("maxdepth", Value::from(l.opts.maxdepth)),
        ("intransitive", Value::Bool(l.opts.intransitive)),
        ("noconfig", Value::Bool(l.opts.noconfig)),
        ("pkg_filter", Value::from(l.opts.pkg_filter.as_str())),
        ("child_id", Value::Int(l.child_id)),
        ("currdepth", Value::Int(l.currdepth)),
        ("nextdepth", Value::from(l.nextdepth)),
        (
            "filter",
            Value::Array(l.filter.iter().map(Value::from).collect()),
        ),
    ])
}

/// Timestamps of a build: started ten minutes before its import event,
/// completed at it.
fn build_times(m: &HubModel, b: &model::BuildRow) -> (f64, f64) {
    let done = m.event_ts(b.creation_event).unwrap_or(0.0);
    (done - 600.0, done)
}

fn nvr(b: &model::BuildRow) -> String {
    b.nvr()
}

/// A build as `getBuild` returns it.
fn build_value(m: &HubModel, b: &model::BuildRow) -> Value {
    let (start, done) = build_times(m, b);
    Value::structure([
        ("id", Value::Int(b.id)),
        ("build_id", Value::Int(b.id)),
        ("version", Value::from(b.version.as_str())),
        ("release", Value::from(b.release.as_str())),
        ("epoch", Value::from(b.epoch)),
        ("draft", Value::Bool(b.draft)),
        ("state", Value::Int(b.state)),
        ("completion_time", Value::from(model::iso_time(done))),
        ("promotion_time", Value::Nil),
        ("start_time", Value::from(model::iso_time(start))),
        ("task_id", Value::from(b.task_id)),
        ("creation_event_id", Value::Int(b.creation_event)),
        ("creation_time", Value::from(model::iso_time(done))),
        ("package_id", Value::Int(b.package_id)),
        ("package_name", Value::from(b.name.as_str())),
        ("name", Value::from(b.name.as_str())),
        ("volume_id", Value::Int(b.volume_id)),
        ("volume_name", Value::from(m.volume_name(b.volume_id))),
        ("nvr", Value::from(nvr(b))),
        ("creation_ts", Value::Double(done)),
        ("start_ts", Value::Double(start)),
        ("completion_ts", Value::Double(done)),
        ("promotion_ts", Value::Nil),
        ("owner_id", Value::Int(1)),
        ("owner_name", Value::from(b.owner.as_str())),
        ("promoter_id", Value::Nil),
        ("promoter_name", Value::Nil),
        ("cg_id", Value::Nil),
        ("cg_name", Value::Nil),
        ("source", Value::Nil),
        ("extra", b.extra.clone().unwrap_or(Value::Nil)),
    ])
}

/// A build as `listTagged` returns it (with the tag it was found in).
fn tagged_build_value(m: &HubModel, t: &TaggedBuild) -> Value {
    let b = &t.build;
    let (start, done) = build_times(m, b);
    Value::structure([
        ("tag_id", Value::Int(t.tag_id)),
        ("tag_name", Value::from(t.tag_name.as_str())),
        ("id", Value::Int(b.id)),
        ("build_id", Value::Int(b.id)),
        ("version", Value::from(b.version.as_str())),
        ("release", Value::from(b.release.as_str())),
        ("epoch", Value::from(b.epoch)),
        ("state", Value::Int(b.state)),
        ("completion_time", Value::from(model::iso_time(done))),
        ("promotion_time", Value::Nil),
        ("start_time", Value::from(model::iso_time(start))),
        ("task_id", Value::from(b.task_id)),
        ("draft", Value::Bool(b.draft)),
        ("owner_id", Value::Int(1)),
        ("owner_name", Value::from(b.owner.as_str())),
        ("promoter_id", Value::Nil),
        ("promoter_name", Value::Nil),
        ("creation_event_id", Value::Int(b.creation_event)),
        ("creation_time", Value::from(model::iso_time(done))),
        ("volume_id", Value::Int(b.volume_id)),
        ("volume_name", Value::from(m.volume_name(b.volume_id))),
        ("package_id", Value::Int(b.package_id)),
        ("package_name", Value::from(b.name.as_str())),
        ("name", Value::from(b.name.as_str())),
        ("nvr", Value::from(nvr(b))),
        ("create_event", Value::Int(t.tag_event)),
    ])
}

/// An RPM as `listTaggedRPMS` returns it.
fn tagged_rpm_value(r: &RpmRow, sigkey: Option<&str>) -> Value {
    let mut v = vec![
        ("name", Value::from(r.name.as_str())),
        ("version", Value::from(r.version.as_str())),
        ("release", Value::from(r.release.as_str())),
        ("arch", Value::from(r.arch.as_str())),
        ("id", Value::Int(r.id)),
        ("epoch", Value::from(r.epoch)),
        ("draft", Value::Bool(r.draft)),
        ("payloadhash", Value::from(r.payloadhash.as_str())),
        ("size", Value::Int(r.size)),
        ("buildtime", Value::Int(r.buildtime)),
        ("buildroot_id", Value::Nil),
        ("build_id", Value::Int(r.build_id)),
        ("metadata_only", Value::Bool(false)),
        ("extra", Value::Nil),
    ];
    if let Some(k) = sigkey {
        v.push(("sigkey", Value::from(k)));
    }
    Value::structure(v)
}

/// An RPM as `listRPMs` returns it.
fn rpm_value(r: &RpmRow) -> Value {
    Value::structure([
        ("id", Value::Int(r.id)),
        ("name", Value::from(r.name.as_str())),
        ("version", Value::from(r.version.as_str())),
        ("release", Value::from(r.release.as_str())),
        (
            "nvr",
            Value::from(format!("{}-{}-{}", r.name, r.version, r.release)),
        ),
        ("arch", Value::from(r.arch.as_str())),
        ("epoch", Value::from(r.epoch)),
        ("draft", Value::Bool(r.draft)),
        ("payloadhash", Value::from(r.payloadhash.as_str())),
        ("size", Value::Int(r.size)),
        ("buildtime", Value::Int(r.buildtime)),
        ("build_id", Value::Int(r.build_id)),
        ("buildroot_id", Value::Nil),
        ("external_repo_id", Value::Int(0)),
        ("external_repo_name", Value::from("INTERNAL")),
        ("metadata_only", Value::Bool(false)),
        ("extra", Value::Nil),
    ])
}
