//! [`KojiClient`]: calls to a hub over HTTP(S), with a timeout per call and
//! retries of transient failures (see the module doc of `source::koji` for why).

use std::time::Duration;

use tracing::{debug, instrument, warn};

pub use super::error::KojiError;
use super::types::{Event, InheritanceLink, KojiBuild, KojiRpm, RpmSig, Tag, list_of};
use super::xmlrpc::{self, Fault, Response, Value, XmlRpcError};

/// Koji's `ServerOffline` fault: the hub is in maintenance; worth retrying.
const FAULT_SERVER_OFFLINE: i64 = 1014;

/// Largest response body read (a `listTaggedRPMS` of a big tag with
/// inheritance is tens of megabytes).
const MAX_RESPONSE_BYTES: u64 = 2 << 30;

/// How calls are made.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Budget for one HTTP exchange, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// How many times a transiently failed call is repeated.
    pub max_retries: u32,
    /// Wait before the second retry; doubled for each further one (the first
    /// retry is immediate, as in Koji's client, since a dropped keep-alive
    /// connection is the commonest transient failure).
    pub retry_backoff: Duration,
    /// Upper bound of the wait between retries.
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(300),
            max_retries: 5,
            retry_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The CA certificates of the PEM file `path`, as the roots an agent trusts.
pub(crate) fn ca_roots(path: &std::path::Path) -> Result<ureq::tls::RootCerts, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| e.to_string())? {
            ureq::tls::PemItem::Certificate(c) => certs.push(c.to_owned()),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(ureq::tls::RootCerts::Specific(std::sync::Arc::new(certs)))
}

/// An HTTP agent with our user agent, `timeout` for each exchange, and
/// statuses other than 2xx left to the caller.
pub(crate) fn http_agent(timeout: Duration, roots: ureq::tls::RootCerts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("odcs/", env!("CARGO_PKG_VERSION")))
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into()
}

impl ClientOptions {
    /// The wait before retry number `attempt` (1 is the first): none, then
    /// `retry_backoff` doubled each time up to `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (attempt - 2).min(16);
        self.retry_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// One call: method, positional arguments, keyword arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub method: String,
    pub args: Vec<Value>,
    pub kwargs: Vec<(String, Value)>,
}

impl Call {
    pub fn new(method: impl Into<String>) -> Call {
        Call {
            method: method.into(),
            args: Vec::new(),
            kwargs: Vec::new(),
        }
    }

    pub fn arg(mut self, v: impl Into<Value>) -> Call {
        self.args.push(v.into());
        self
    }

    pub fn kwarg(mut self, name: &str, v: impl Into<Value>) -> Call {
        self.kwargs.push((name.to_owned(), v.into()));
        self
    }

    /// The parameters as sent: positional ones, then the `__starstar` struct
    /// when there are keywords.
    pub fn params(&self) -> Vec<Value> {
        let mut params = self.args.clone();
        if !self.kwargs.is_empty() {
            params.push(xmlrpc::kwargs(self.kwargs.iter().cloned()));
        }
        params
    }
}

/// A client of one Koji hub (`https://koji.example.org/kojihub`).
#[derive(Clone, Debug)]
pub struct KojiClient {
    url: String,
    agent: ureq::Agent,
    options: ClientOptions,
    /// Retries left for all calls of this client and its clones, when it
    /// was made with [`KojiClient::with_retry_budget`]: one compose waits
    /// out a hub that is down once, not once per call.
    budget: Option<std::sync::Arc<std::sync::atomic::AtomicU32>>,
}

/// Why one attempt failed.
enum Failure {
    Transport(ureq::Error),
    Timeout,
    Status(u16),
    Fault(Fault),
    Response(XmlRpcError),
}

/// Whether a transport failure is about TLS (an untrusted or invalid
/// certificate, a handshake the hub refused): retrying cannot help, so it is
/// reported at once, as koji's own client does.
pub(crate) fn is_tls_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Transport(e) => !is_tls_failure(e),
            Failure::Status(s) => *s >= 500,
            Failure::Fault(f) => f.code == FAULT_SERVER_OFFLINE,
            Failure::Timeout | Failure::Response(_) => false,
        }
    }
}

impl KojiClient {
    /// A client trusting the public CAs (Mozilla's list) for HTTPS hubs.
    pub fn new(url: impl Into<String>, options: ClientOptions) -> KojiClient {
        Self::with_roots(url.into(), options, ureq::tls::RootCerts::WebPki)
    }

    /// A client trusting only the CA certificates of the PEM file `ca_bundle`
    /// (koji.conf's `serverca`): a hub with a private CA.
    pub fn with_ca_bundle(
        url: impl Into<String>,
        options: ClientOptions,
        ca_bundle: &std::path::Path,
    ) -> Result<KojiClient, KojiError> {
        let roots = ca_roots(ca_bundle).map_err(|message| KojiError::CaBundle {
            path: ca_bundle.to_owned(),
            message,
        })?;
        Ok(Self::with_roots(url.into(), options, roots))
    }

    fn with_roots(url: String, options: ClientOptions, roots: ureq::tls::RootCerts) -> KojiClient {
        KojiClient {
            url,
            agent: http_agent(options.timeout, roots),
            options,
            budget: None,
        }
    }

    /// A client sharing this one's connections whose calls, with those of
    /// its clones, retry transient failures `retries` times in all (each call
    /// still at most `max_retries` times): what one compose may spend
    /// waiting for a hub that is down.
    pub fn with_retry_budget(&self, retries: u32) -> KojiClient {
        KojiClient {
            budget: Some(std::sync::Arc::new(std::sync::atomic::AtomicU32::new(
                retries,
            ))),
            ..self.clone()
        }
    }

    /// Takes one retry from the budget, if there is one.
    fn may_retry(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many times one call retries a transient failure.
    pub fn max_retries(&self) -> u32 {
        self.options.max_retries
    }

    /// Make one call, retrying transient failures; a fault is an error.
    #[instrument(skip_all, fields(koji.method = %call.method), err(level = "debug"))]
    pub fn call(&self, call: &Call) -> Result<Value, KojiError> {
        let body = xmlrpc::write_call(&call.method, &call.params());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let failure = match self.post(&body) {
                Ok(Response::Success(v)) => return Ok(v),
                Ok(Response::Fault(f)) => Failure::Fault(f),
                Err(failure) => failure,
            };
            if failure.is_transient() && attempts <= self.options.max_retries && self.may_retry() {
                let wait = self.backoff(attempts);
                warn!(
                    koji.method = %call.method,
                    attempt = attempts,
                    wait_ms = wait.as_millis() as u64,
                    "koji call {} failed, retrying: {}",
                    call.method,
                    self.error(&call.method, failure, attempts)
                );
                std::thread::sleep(wait);
                continue;
            }
            return Err(self.error(&call.method, failure, attempts));
        }
    }

    /// Several calls in one request (`multiCall`). The outer result fails only
    /// when the request itself does; each call's fault is its own error.
    #[instrument(skip_all, fields(koji.calls = calls.len()), err(level = "debug"))]
    pub fn multicall(&self, calls: &[Call]) -> Result<Vec<Result<Value, KojiError>>, KojiError> {
        let list: Vec<Value> = calls
            .iter()
            .map(|c| {
                Value::structure([
                    ("methodName", Value::from(c.method.as_str())),
                    ("params", Value::Array(c.params())),
                ])
            })
            .collect();
        let answer = self.call(&Call::new("multiCall").arg(Value::Array(list)))?;
        let results = answer
            .as_array()
            .ok_or_else(|| self.bad_response("multiCall", "array", &answer))?;
        if results.len() != calls.len() {
            return Err(KojiError::Response {
                url: self.url.clone(),
                method: "multiCall".to_owned(),
                source: XmlRpcError::Unexpected {
                    expected: format!("{} results", calls.len()),
                    found: format!("{} results", results.len()),
                },
            });
        }
        Ok(calls
            .iter()
            .zip(results)
            .map(|(call, result)| match result {
                Value::Array(one) if one.len() == 1 => Ok(one[0].clone()),
                Value::Struct(_) => match Fault::from_value(result) {
                    Ok(f) => Err(self.error(&call.method, Failure::Fault(f), 1)),
                    Err(e) => Err(self.response_error(&call.method, e)),
                },
                other => Err(self.bad_response(
                    &call.method,
                    "a one-element array or a fault struct",
                    other,
                )),
            })
            .collect())
    }

    /// `getAPIVersion()`.
    pub fn get_api_version(&self) -> Result<i64, KojiError> {
        let v = self.call(&Call::new("getAPIVersion"))?;
        v.as_i64()
            .ok_or_else(|| self.bad_response("getAPIVersion", "int", &v))
    }

    /// `getLastEvent()`: the newest event, to pin a compose to.
    pub fn get_last_event(&self) -> Result<Event, KojiError> {
        self.typed(Call::new("getLastEvent"), Event::from_value)
    }

    /// `tagChangedSinceEvent(event, taglist)`: whether any of the tags (by
    /// id; no inheritance expansion) had builds, packages, inheritance or
    /// configuration created or revoked after `event`.
    pub fn tag_changed_since_event(&self, event: i64, tag_ids: &[i64]) -> Result<bool, KojiError> {
        let ids = Value::Array(tag_ids.iter().map(|&id| Value::Int(id)).collect());
        let v = self.call(&Call::new("tagChangedSinceEvent").arg(event).arg(ids))?;
        v.as_bool()
            .ok_or_else(|| self.bad_response("tagChangedSinceEvent", "boolean", &v))
    }

    /// `system.listMethods()`: the calls the hub offers.
    pub fn list_methods(&self) -> Result<Vec<String>, KojiError> {
        self.typed(Call::new("system.listMethods"), |v| {
            list_of(v, |m| {
                m.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| XmlRpcError::Unexpected {
                        expected: "a method name".to_owned(),
                        found: xmlrpc::describe(m),
                    })
            })
        })
    }

    /// `getRPMChecksums(rpm_id, checksum_types=["sha256"])` of each RPM, in
    /// one multicall: per RPM, `(sigkey, [(type, hex)])` pairs, or its fault.
    #[allow(clippy::type_complexity)]
    pub fn get_rpm_checksums(
        &self,
        rpm_ids: &[i64],
    ) -> Result<Vec<Result<Vec<(String, Vec<(String, String)>)>, KojiError>>, KojiError> {
        let calls: Vec<Call> = rpm_ids
            .iter()
            .map(|&id| {
                Call::new("getRPMChecksums")
                    .arg(id)
                    .kwarg("checksum_types", Value::Array(vec![Value::from("sha256")]))
            })
            .collect();
        let answers = self.multicall(&calls)?;
        Ok(answers
            .into_iter()
            .map(|a| {
                let v = a?;
                let Value::Struct(keys) = &v else {
                    return Err(self.bad_response("getRPMChecksums", "struct", &v));
                };
                keys.iter()
                    .map(|(key, sums)| {
                        let Value::Struct(sums) = sums else {
                            return Err(self.bad_response("getRPMChecksums", "struct", sums));
                        };
                        Ok((
                            key.clone(),
                            sums.iter()
                                .filter_map(|(t, h)| Some((t.clone(), h.as_str()?.to_owned())))
                                .collect(),
                        ))
                    })
                    .collect()
            })
            .collect())
    }

    /// `getEvent(id)`; an unknown event is a fault.
    pub fn get_event(&self, id: i64) -> Result<Event, KojiError> {
        self.typed(Call::new("getEvent").arg(id), Event::from_value)
    }

    /// `getTag(tag, event=…)`: `None` when the tag does not exist (at the event).
    pub fn get_tag(
        &self,
        tag: impl Into<Value>,
        event: Option<i64>,
    ) -> Result<Option<Tag>, KojiError> {
        let call = Call::new("getTag").arg(tag).kwarg("event", event);
        self.typed(call, |v| {
            if v.is_nil() {
                Ok(None)
            } else {
                Tag::from_value(v).map(Some)
            }
        })
    }

    /// `getFullInheritance(tag_id, event=…)`: every ancestor link, in walk order.
    pub fn get_full_inheritance(
        &self,
        tag_id: i64,
        event: Option<i64>,
    ) -> Result<Vec<InheritanceLink>, KojiError> {
        let call = Call::new("getFullInheritance")
            .arg(tag_id)
            .kwarg("event", event);
        self.typed(call, |v| list_of(v, InheritanceLink::from_value))
    }

    /// `listTagged(tag, event=…, inherit=…, latest=…)`: the builds of a tag.
    pub fn list_tagged(
        &self,
        tag: impl Into<Value>,
        event: Option<i64>,
        inherit: bool,
        latest: bool,
    ) -> Result<Vec<KojiBuild>, KojiError> {
        let call = Call::new("listTagged")
            .arg(tag)
            .kwarg("event", event)
            .kwarg("inherit", inherit)
            .kwarg("latest", latest);
        self.typed(call, |v| list_of(v, KojiBuild::from_value))
    }

    /// `listTagged(tag, event=…, inherit=True, type="module")`: the module
    /// builds of a tag and the tags it inherits from, each with the tag it
    /// was found in.
    pub fn list_tagged_modules(&self, tag: &str, event: i64) -> Result<Vec<KojiBuild>, KojiError> {
        let call = Call::new("listTagged")
            .arg(tag)
            .kwarg("event", event)
            .kwarg("inherit", true)
            .kwarg("type", "module");
        self.typed(call, |v| list_of(v, KojiBuild::from_value))
    }

    /// `listTaggedRPMS(tag, event=…, inherit=…, latest=…[, arch=…])`: the RPMs of
    /// the tag's builds and those builds. Which build is "latest" is the hub's
    /// answer (the most recently tagged one in the nearest tag), not the highest NVR.
    pub fn list_tagged_rpms(
        &self,
        tag: impl Into<Value>,
        event: Option<i64>,
        inherit: bool,
        latest: bool,
        arch: Option<Vec<String>>,
        draft: Option<bool>,
    ) -> Result<(Vec<KojiRpm>, Vec<KojiBuild>), KojiError> {
        let mut call = Call::new("listTaggedRPMS")
            .arg(tag)
            .kwarg("event", event)
            .kwarg("inherit", inherit)
            .kwarg("latest", latest);
        if let Some(arch) = arch {
            call = call.kwarg("arch", arch);
        }
        // only hubs with draft builds (Koji >= 1.34) know the keyword
        if let Some(draft) = draft {
            call = call.kwarg("draft", draft);
        }
        self.typed(call, |v| match v.as_array() {
            Some([rpms, builds]) => Ok((
                list_of(rpms, KojiRpm::from_value)?,
                list_of(builds, KojiBuild::from_value)?,
            )),
            _ => Err(XmlRpcError::Field {
                field: "result".to_owned(),
                expected: "a two-element array [rpms, builds]",
                found: xmlrpc::describe(v),
            }),
        })
    }

    /// `search(terms, "build", "glob")`: the id and N-V-R of every build
    /// whose N-V-R matches the glob `pattern`.
    pub fn search_builds(&self, pattern: &str) -> Result<Vec<(i64, String)>, KojiError> {
        let call = Call::new("search").arg(pattern).arg("build").arg("glob");
        self.typed(call, |v| {
            list_of(v, |item| {
                let id = item.get("id").and_then(Value::as_i64);
                let name = item.get("name").and_then(Value::as_str);
                match (id, name) {
                    (Some(id), Some(name)) => Ok((id, name.to_owned())),
                    _ => Err(XmlRpcError::Field {
                        field: "search result".to_owned(),
                        expected: "a struct with id and name",
                        found: xmlrpc::describe(item),
                    }),
                }
            })
        })
    }

    /// `getBuild(build)` by id or `N-V-R`: `None` when there is no such build.
    pub fn get_build(&self, nvr_or_id: impl Into<Value>) -> Result<Option<KojiBuild>, KojiError> {
        self.typed(Call::new("getBuild").arg(nvr_or_id), |v| {
            if v.is_nil() {
                Ok(None)
            } else {
                KojiBuild::from_value(v).map(Some)
            }
        })
    }

    /// `listBuildRPMs(build_id)`.
    pub fn list_build_rpms(&self, build_id: i64) -> Result<Vec<KojiRpm>, KojiError> {
        self.typed(Call::new("listBuildRPMs").arg(build_id), |v| {
            list_of(v, KojiRpm::from_value)
        })
    }

    /// `queryRPMSigs(rpm_id=…)`: the signatures Koji knows for one RPM.
    pub fn query_rpm_sigs(&self, rpm_id: i64) -> Result<Vec<RpmSig>, KojiError> {
        self.typed(Call::new("queryRPMSigs").kwarg("rpm_id", rpm_id), |v| {
            list_of(v, RpmSig::from_value)
        })
    }

    fn typed<T>(
        &self,
        call: Call,
        read: impl FnOnce(&Value) -> Result<T, XmlRpcError>,
    ) -> Result<T, KojiError> {
        let v = self.call(&call)?;
        read(&v).map_err(|e| self.response_error(&call.method, e))
    }

    fn post(&self, body: &str) -> Result<Response, Failure> {
        let classify = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            other => Failure::Transport(other),
        };
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Content-Type", "text/xml")
            .send(body.as_bytes())
            .map_err(classify)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Failure::Status(status));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_string()
            .map_err(classify)?;
        debug!(size_bytes = text.len(), "koji response read");
        xmlrpc::parse_response(&text).map_err(Failure::Response)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.options.backoff(attempt)
    }

    fn error(&self, method: &str, failure: Failure, attempts: u32) -> KojiError {
        let url = self.url.clone();
        let method = method.to_owned();
        match failure {
            Failure::Transport(source) => KojiError::Transport {
                url,
                method,
                attempts,
                source,
            },
            Failure::Timeout => KojiError::Timeout {
                url,
                method,
                seconds: self.options.timeout.as_secs_f64(),
            },
            Failure::Status(status) => KojiError::Http {
                url,
                method,
                status,
                attempts,
            },
            // a hub with `KojiTraceback = extended` sends its traceback
            // after the message: the first line says what went wrong
            Failure::Fault(f) => {
                if f.message.contains('\n') {
                    debug!(koji.method = %method, "koji fault {}: {}", f.code, f.message);
                }
                KojiError::Fault {
                    url,
                    method,
                    code: f.code,
                    message: f.message.lines().next().unwrap_or_default().to_owned(),
                }
            }
            Failure::Response(source) => KojiError::Response {
                url,
                method,
                source,
            },
        }
    }

    fn response_error(&self, method: &str, source: XmlRpcError) -> KojiError {
        KojiError::Response {
            url: self.url.clone(),
            method: method.to_owned(),
            source,
        }
    }

    fn bad_response(&self, method: &str, expected: &str, found: &Value) -> KojiError {
        self.response_error(
            method,
            XmlRpcError::Unexpected {
                expected: expected.to_owned(),
                found: xmlrpc::describe(found),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_immediately_then_doubles_up_to_the_cap() {
        let c = KojiClient::new(
            "http://127.0.0.1:9/kojihub",
            ClientOptions {
                retry_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(10),
                ..ClientOptions::default()
            },
        );
        let waits: Vec<u64> = (1..=6).map(|a| c.backoff(a).as_secs()).collect();
        assert_eq!(waits, [0, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(Failure::Status(503).is_transient());
        assert!(!Failure::Status(404).is_transient());
        assert!(Failure::Fault(Fault::new(1014, "offline")).is_transient());
        assert!(!Failure::Fault(Fault::new(1000, "No such tagInfo")).is_transient());
        assert!(!Failure::Timeout.is_transient());
    }

    #[test]
    fn keywords_follow_the_positional_arguments() {
        let call = Call::new("listTaggedRPMS")
            .arg("f40")
            .kwarg("event", None::<i64>)
            .kwarg("latest", true);
        let params = call.params();
        assert_eq!(params.len(), 2);
        assert_eq!(params[1].get("event"), Some(&Value::Nil));
        assert_eq!(params[1].get("__starstar"), Some(&Value::Bool(true)));
        assert_eq!(Call::new("getAPIVersion").params(), Vec::<Value>::new());
    }

    /// #12 §6: a compose waits out a hub that is down once, not once per
    /// call (a reusable request made a dozen calls, each retried).
    #[test]
    fn a_retry_budget_is_shared_by_every_call_of_a_compose() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = KojiClient::new(
            format!("http://127.0.0.1:{port}/kojihub"),
            ClientOptions {
                max_retries: 5,
                retry_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(1),
                ..ClientOptions::default()
            },
        );
        let attempts = |c: &KojiClient| match c.get_api_version().unwrap_err() {
            KojiError::Transport { attempts, .. } => attempts,
            other => panic!("{other:?}"),
        };
        // without a budget, every call retries fully
        assert_eq!(attempts(&c), 6);
        assert_eq!(attempts(&c), 6);
        let compose = c.with_retry_budget(3);
        let clone = compose.clone();
        assert_eq!(attempts(&compose), 4);
        // the budget is spent, also for clones: one attempt each
        assert_eq!(attempts(&clone), 1);
        assert_eq!(attempts(&compose), 1);
        // another compose has its own
        assert_eq!(attempts(&c.with_retry_budget(1)), 2);
    }

    #[test]
    fn a_fault_says_the_first_line_of_the_hubs_message() {
        let c = KojiClient::new("http://127.0.0.1:1/kojihub", ClientOptions::default());
        let traceback = "query returned no rows\nTraceback (most recent call last):\n  File \"/usr/lib/python3/kojihub.py\", line 1\nGenericError: query returned no rows";
        let err = c.error("getEvent", Failure::Fault(Fault::new(1000, traceback)), 1);
        assert_eq!(
            err.to_string(),
            "koji hub http://127.0.0.1:1/kojihub: getEvent: fault 1000: query returned no rows"
        );
    }

    #[test]
    fn an_unreachable_hub_is_a_transport_error_naming_the_hub() {
        // A port that was just free: connections to it are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/kojihub");
        let c = KojiClient::new(
            url.clone(),
            ClientOptions {
                max_retries: 1,
                retry_backoff: Duration::from_millis(1),
                ..ClientOptions::default()
            },
        );
        let err = c.get_api_version().unwrap_err();
        assert!(
            matches!(err, KojiError::Transport { attempts: 2, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("koji hub {url}: getAPIVersion: ")),
            "{msg}"
        );
        assert!(msg.ends_with("(after 2 attempt(s))"), "{msg}");
    }

    #[test]
    fn an_https_hub_is_spoken_to_over_tls() {
        // A server that answers plain HTTP: the client must attempt a TLS
        // handshake and fail on it, which shows the TLS stack is wired in.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::Write as _;
            let (mut conn, _) = listener.accept().unwrap();
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        });
        let c = KojiClient::new(
            format!("https://127.0.0.1:{port}/kojihub"),
            ClientOptions {
                max_retries: 0,
                timeout: Duration::from_secs(10),
                ..ClientOptions::default()
            },
        );
        let err = c.get_api_version().unwrap_err();
        server.join().unwrap();
        let KojiError::Transport { source, .. } = &err else {
            panic!("expected a transport error, got {err:?}");
        };
        // rustls rejects the plain-text answer as an invalid TLS record.
        let tls_rejected = match source {
            ureq::Error::Rustls(_) => true,
            ureq::Error::Io(e) => format!("{e:?}").contains("InvalidMessage"),
            _ => false,
        };
        assert!(tls_rejected, "{source:?}");
    }
}
