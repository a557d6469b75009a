//! Pulp (odcs-api.md §6 `pulp`): which repositories the content sets and
//! repository ids of a `pulp` compose name, and where they are served. No
//! package is read or copied: the compose is a `.repo` file pointing at
//! these repositories (`compose::pulp`).
//!
//! Two APIs behind one client, chosen by `[pulp] api`:
//! - **Pulp 2**, as the original asks it: `POST repositories/search/` with
//!   `notes.content_set` `$in` the sources (and
//!   `notes.include_in_download_service` `"True"` unless unpublished
//!   repositories are wanted), then `GET repositories/<id>/` for each source
//!   no content set matched (404: not there). A repository's URL is the
//!   server URL + `notes.relative_url`, with `https://` turned into
//!   `http://` as the original did (its content was served over plain HTTP
//!   for builders that could not check certificates), its arch
//!   `notes.arch`, its keys `notes.signatures` (comma-separated).
//! - **Pulp 3** (pulp_rpm; formats.md §6b): no notes there, so a content set
//!   is the label `content_set` of rpm distributions
//!   (`GET distributions/rpm/rpm/?pulp_label_select=content_set=<name>`,
//!   every page followed), and a repository id is a distribution's name
//!   (`?name=<id>`). The URL is the distribution's `base_url`, arch and keys
//!   its labels `arch` and `signatures`. A hidden distribution counts as
//!   unpublished (Pulp 3 has no other flag for it; its content app still
//!   serves it).
//!
//! Departures from the original's client, on purpose: a repository looked
//! up by id whose
//! `include_in_download_service` note is the string `"False"` counts as
//! unpublished (the original tested the string's truth, so every such
//! repository counted as published); a repository without `arch` or
//! `relative_url` is an error naming it (the original raised `KeyError`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::http::{Failure, answer_text, query_escape, with_retries};
use super::koji::{ClientOptions, ca_roots};
use crate::config::{PulpApi, PulpConfig};

/// Upper bound of one answer.
const MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// Distributions asked for per page of a Pulp 3 list (its own default).
const PAGE: u32 = 100;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PulpError {
    #[error("Pulp {url}: {message} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("Pulp {url}: HTTP status {status}: {message} (after {attempts} attempt(s))")]
    Http {
        url: String,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error("Pulp {url}: invalid answer: {message}")]
    Response { url: String, message: String },
    #[error("[pulp] {what} {path}: {message}")]
    Setup {
        what: &'static str,
        path: std::path::PathBuf,
        message: String,
    },
    /// A combination of `[pulp]` settings that cannot work.
    #[error("[pulp] {0}")]
    Config(String),
    /// Pulp 3 cannot select a label value holding a parenthesis.
    #[error("Pulp 3 cannot look up content set {name:?}: a label value cannot hold '(' or ')'")]
    Unselectable { name: String },
    /// The original's message (odcs-api.md §5.3), its lists as Python
    /// writes them.
    #[error(
        "Failed to find all the source(s) {} in Pulp, found only {}",
        py_list(wanted),
        py_list(found)
    )]
    Missing {
        wanted: Vec<String>,
        found: Vec<String>,
    },
}

/// A repository a `pulp` compose points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulpRepo {
    /// Pulp 2's repository id; Pulp 3's distribution name.
    pub id: String,
    pub url: String,
    pub arch: String,
    /// Its signing keys, sorted; empty when it names none.
    pub sigkeys: Vec<String>,
    /// Published to the download service (Pulp 2), not hidden (Pulp 3).
    pub published: bool,
}

/// A client of the Pulp server of `[pulp]`.
pub struct PulpClient {
    api: PulpApi,
    /// The server URL, no trailing slash.
    server: String,
    agent: ureq::Agent,
    options: ClientOptions,
    /// `Basic …`, when a user is configured.
    authorization: Option<String>,
}

impl std::fmt::Debug for PulpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PulpClient")
            .field("api", &self.api)
            .field("server", &self.server)
            .finish()
    }
}

impl PulpClient {
    pub fn new(cfg: &PulpConfig) -> Result<PulpClient, PulpError> {
        fn setup(what: &'static str, path: &std::path::Path) -> impl Fn(String) -> PulpError {
            let path = path.to_owned();
            move |message: String| PulpError::Setup {
                what,
                path: path.clone(),
                message,
            }
        }
        let roots = match &cfg.ca_bundle {
            Some(p) => ca_roots(p).map_err(setup("ca_bundle", p))?,
            None => ureq::tls::RootCerts::WebPki,
        };
        let client_cert = match (&cfg.ssl_cert, &cfg.ssl_key) {
            (Some(cert), Some(key)) => Some(client_cert(cert, key)?),
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(PulpError::Config(
                    "ssl_cert and ssl_key: give both or neither".into(),
                ));
            }
        };
        let authorization = match (&cfg.username, &cfg.password_file) {
            (Some(user), Some(file)) => {
                let password = std::fs::read_to_string(file)
                    .map_err(|e| setup("password_file", file)(e.to_string()))?;
                let pair = format!("{user}:{}", password.trim_end_matches(['\r', '\n']));
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            (Some(_), None) => {
                return Err(PulpError::Config(
                    "username needs password_file (the file holding the password)".into(),
                ));
            }
            (None, _) => None,
        };
        let timeout = Duration::from_secs(cfg.timeout_seconds);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("odcs/", env!("CARGO_PKG_VERSION")))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(roots)
                    .client_cert(client_cert)
                    .build(),
            )
            .build()
            .into();
        Ok(PulpClient {
            api: cfg.api,
            server: cfg.url.trim_end_matches('/').to_owned(),
            agent,
            options: ClientOptions {
                timeout,
                ..ClientOptions::default()
            },
            authorization,
        })
    }

    /// One exchange: the answer's JSON, or `None` for a 404.
    fn once(&self, url: &str, body: Option<&Value>) -> Result<Option<Value>, Failure> {
        let answer = match body {
            Some(b) => {
                let mut req = self
                    .agent
                    .post(url)
                    .header("Content-Type", "application/json");
                if let Some(a) = &self.authorization {
                    req = req.header("Authorization", a);
                }
                req.send(b.to_string())
            }
            None => {
                let mut req = self.agent.get(url);
                if let Some(a) = &self.authorization {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
        };
        let (status, text) = answer_text(answer, MAX_RESPONSE_BYTES)?;
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(Failure::Status(status, error_message(&text)));
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Failure::Status(status, format!("not JSON: {e}")))
    }

    /// `url`'s JSON (POSTing `body` if given), retried as the Koji client
    /// retries; `None` for a 404.
    fn call(&self, url: &str, body: Option<&Value>) -> Result<Option<Value>, PulpError> {
        with_retries(&self.options, "Pulp", url, || self.once(url, body)).map_err(
            |(failure, attempts)| match failure {
                Failure::Transport(e) => PulpError::Transport {
                    url: url.to_owned(),
                    message: e.to_string(),
                    attempts,
                },
                Failure::Status(200, message) => PulpError::Response {
                    url: url.to_owned(),
                    message,
                },
                Failure::Status(status, message) => PulpError::Http {
                    url: url.to_owned(),
                    status,
                    message,
                    attempts,
                },
            },
        )
    }

    /// The repositories of each content set among `sets` that has any.
    pub fn content_set_repos(
        &self,
        sets: &[String],
        include_unpublished: bool,
    ) -> Result<BTreeMap<String, Vec<PulpRepo>>, PulpError> {
        let mut out: BTreeMap<String, Vec<PulpRepo>> = BTreeMap::new();
        match self.api {
            PulpApi::V2 => {
                let url = format!("{}/pulp/api/v2/repositories/search/", self.server);
                let mut filters = json!({"notes.content_set": {"$in": sets}});
                if !include_unpublished {
                    filters["notes.include_in_download_service"] = json!("True");
                }
                let query = json!({"criteria": {"filters": filters, "fields": ["notes", "id"]}});
                let answer = self.call(&url, Some(&query))?.unwrap_or(Value::Null);
                let Some(found) = answer.as_array() else {
                    return Err(invalid(&url, "not a list of repositories"));
                };
                for raw in found {
                    let set = raw["notes"]["content_set"].as_str().unwrap_or_default();
                    // the search's own filter, checked again
                    if !sets.iter().any(|s| s == set) {
                        continue;
                    }
                    let repo = self.v2_repo(&url, raw)?;
                    if repo.published || include_unpublished {
                        out.entry(set.to_owned()).or_default().push(repo);
                    }
                }
            }
            PulpApi::V3 => {
                for set in sets {
                    if set.contains(['(', ')']) {
                        return Err(PulpError::Unselectable { name: set.clone() });
                    }
                    // a comma inside a label value is written `\,`
                    let select = format!("content_set={}", set.replace(',', "\\,"));
                    for repo in self.v3_distributions("pulp_label_select", &select)? {
                        if repo.published || include_unpublished {
                            out.entry(set.clone()).or_default().push(repo);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The repository with id `id`, if Pulp has it (published, unless
    /// `include_unpublished`).
    pub fn repo_by_id(
        &self,
        id: &str,
        include_unpublished: bool,
    ) -> Result<Option<PulpRepo>, PulpError> {
        let repo = match self.api {
            PulpApi::V2 => {
                let url = format!(
                    "{}/pulp/api/v2/repositories/{}/",
                    self.server,
                    query_escape(id)
                );
                match self.call(&url, None)? {
                    None => {
                        tracing::warn!("Pulp has no repository {id:?}");
                        None
                    }
                    Some(raw) => Some(self.v2_repo(&url, &raw)?),
                }
            }
            PulpApi::V3 => self.v3_distributions("name", id)?.into_iter().next(),
        };
        Ok(repo.filter(|r| r.published || include_unpublished))
    }

    /// A Pulp 2 repository from its `id` and `notes`.
    fn v2_repo(&self, url: &str, raw: &Value) -> Result<PulpRepo, PulpError> {
        let id = raw["id"]
            .as_str()
            .ok_or_else(|| invalid(url, "a repository without an id"))?;
        let notes = &raw["notes"];
        let note = |key: &str| {
            notes[key]
                .as_str()
                .ok_or_else(|| invalid(url, &format!("repository {id} has no notes.{key}")))
        };
        let published = match &notes["include_in_download_service"] {
            Value::Bool(b) => *b,
            Value::String(s) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let url = format!(
            "{}/{}",
            self.server,
            note("relative_url")?.trim_start_matches('/')
        );
        Ok(PulpRepo {
            id: id.to_owned(),
            url: match url.strip_prefix("https://") {
                Some(rest) => format!("http://{rest}"),
                None => url,
            },
            arch: note("arch")?.to_owned(),
            sigkeys: keys(notes["signatures"].as_str()),
            published,
        })
    }

    /// The rpm distributions of a Pulp 3 list filtered by `filter=value`,
    /// every page of it.
    fn v3_distributions(&self, filter: &str, value: &str) -> Result<Vec<PulpRepo>, PulpError> {
        let mut url = format!(
            "{}/pulp/api/v3/distributions/rpm/rpm/?{filter}={}&limit={PAGE}",
            self.server,
            query_escape(value)
        );
        let mut out = Vec::new();
        // bounded: a list cannot have more pages than its count says
        for _ in 0..100_000 {
            let page = self.call(&url, None)?.unwrap_or(Value::Null);
            let Some(results) = page["results"].as_array() else {
                return Err(invalid(&url, "a list without results"));
            };
            for d in results {
                let name = d["name"]
                    .as_str()
                    .ok_or_else(|| invalid(&url, "a distribution without a name"))?;
                let labels = &d["pulp_labels"];
                let field = |v: &Value, what: &str| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| invalid(&url, &format!("distribution {name} has no {what}")))
                };
                out.push(PulpRepo {
                    id: name.to_owned(),
                    url: field(&d["base_url"], "base_url")?,
                    arch: field(&labels["arch"], "label arch")?,
                    sigkeys: keys(labels["signatures"].as_str()),
                    published: !d["hidden"].as_bool().unwrap_or(false),
                });
            }
            match page["next"].as_str() {
                Some(next) => url = next.to_owned(),
                None => return Ok(out),
            }
        }
        Err(invalid(&url, "more pages than any list has"))
    }
}

/// A PEM certificate chain and its private key, as ureq presents them.
fn client_cert(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<ureq::tls::ClientCert, PulpError> {
    let read = |what, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| PulpError::Setup {
            what,
            path: path.to_owned(),
            message: e.to_string(),
        })
    };
    let bad = |what, path: &std::path::Path, message: String| PulpError::Setup {
        what,
        path: path.to_owned(),
        message,
    };
    let mut chain = Vec::new();
    for item in ureq::tls::parse_pem(&read("ssl_cert", cert)?) {
        if let ureq::tls::PemItem::Certificate(c) =
            item.map_err(|e| bad("ssl_cert", cert, e.to_string()))?
        {
            chain.push(c.to_owned());
        }
    }
    if chain.is_empty() {
        return Err(bad(
            "ssl_cert",
            cert,
            "no PEM certificate in the file".into(),
        ));
    }
    let mut private = None;
    for item in ureq::tls::parse_pem(&read("ssl_key", key)?) {
        if let ureq::tls::PemItem::PrivateKey(k) =
            item.map_err(|e| bad("ssl_key", key, e.to_string()))?
        {
            private = Some(k.to_owned());
            break;
        }
    }
    let private = private.ok_or_else(|| bad("ssl_key", key, "no PEM private key".into()))?;
    Ok(ureq::tls::ClientCert::new_with_certs(&chain, private))
}

/// `items` as Python's `repr` of a list of strings writes it.
fn py_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Signing keys from a comma-separated note or label, sorted.
fn keys(text: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = text
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The message of an error answer: Pulp 2's `error_message`, Pulp 3's
/// `detail` or `errors`, else the start of the text.
fn error_message(text: &str) -> String {
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if let Some(m) = v["error_message"].as_str().or(v["detail"].as_str()) {
        return m.to_owned();
    }
    if let Some(errors) = v["errors"].as_array().or(v.as_array()) {
        return errors
            .iter()
            .map(|e| {
                e.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| e.to_string())
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    text.chars().take(200).collect()
}

fn invalid(url: &str, message: &str) -> PulpError {
    PulpError::Response {
        url: url.to_owned(),
        message: message.to_owned(),
    }
}

/// What a `pulp` compose's sources resolve to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Every repository, each once, sorted by id.
    pub repos: Vec<PulpRepo>,
    /// The sources found (content sets and repository ids), sorted.
    pub found: Vec<String>,
    /// The sources not found, sorted.
    pub missing: Vec<String>,
}

/// Resolve `sources` as the original does: content sets first, then what
/// is left as repository ids; a repository a content set already brought
/// is not added again by its id.
pub fn resolve(
    client: &PulpClient,
    sources: &[String],
    include_unpublished: bool,
) -> Result<Resolution, PulpError> {
    let wanted: BTreeSet<String> = sources.iter().filter(|s| !s.is_empty()).cloned().collect();
    let list: Vec<String> = wanted.iter().cloned().collect();
    let by_set = if list.is_empty() {
        BTreeMap::new()
    } else {
        client.content_set_repos(&list, include_unpublished)?
    };
    let mut found: BTreeSet<String> = by_set.keys().cloned().collect();
    let mut repos: BTreeMap<String, PulpRepo> = BTreeMap::new();
    for r in by_set.into_values().flatten() {
        repos.entry(r.id.clone()).or_insert(r);
    }
    let mut missing = Vec::new();
    let by_id: Vec<&String> = wanted.iter().filter(|s| !found.contains(*s)).collect();
    for id in by_id {
        match client.repo_by_id(id, include_unpublished)? {
            Some(r) => {
                found.insert(id.clone());
                repos.entry(r.id.clone()).or_insert(r);
            }
            None => missing.push(id.clone()),
        }
    }
    Ok(Resolution {
        repos: repos.into_values().collect(),
        found: found.into_iter().collect(),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sources_are_listed_as_the_original_lists_them() {
        let e = PulpError::Missing {
            wanted: vec!["cs-a".into(), "no-such".into()],
            found: vec![],
        };
        assert_eq!(
            e.to_string(),
            "Failed to find all the source(s) ['cs-a', 'no-such'] in Pulp, found only []"
        );
    }

    #[test]
    fn half_a_client_certificate_or_a_user_without_password_is_refused() {
        let cfg = |cert: Option<&str>, key: Option<&str>, user: Option<&str>| PulpConfig {
            url: "https://pulp.example.com".into(),
            api: PulpApi::V2,
            ssl_cert: cert.map(Into::into),
            ssl_key: key.map(Into::into),
            username: user.map(Into::into),
            password_file: None,
            ca_bundle: None,
            timeout_seconds: 5,
        };
        let err = |c: PulpConfig| PulpClient::new(&c).unwrap_err().to_string();
        assert_eq!(
            err(cfg(Some("/c.pem"), None, None)),
            "[pulp] ssl_cert and ssl_key: give both or neither"
        );
        assert_eq!(
            err(cfg(None, None, Some("odcs"))),
            "[pulp] username needs password_file (the file holding the password)"
        );
        assert!(
            err(cfg(Some("/no/such.pem"), Some("/no/such.key"), None))
                .starts_with("[pulp] ssl_cert /no/such.pem: "),
        );
        assert!(PulpClient::new(&cfg(None, None, None)).is_ok());
    }

    #[test]
    fn keys_are_split_trimmed_sorted_and_empty_means_none() {
        assert_eq!(keys(Some("b2,a1, a1")), vec!["a1", "b2"]);
        assert!(keys(Some("")).is_empty());
        assert!(keys(None).is_empty());
    }

    #[test]
    fn error_messages_of_both_apis_are_found() {
        assert_eq!(
            error_message(
                r#"{"http_status": 404, "error_message": "Missing resource(s): repository=x"}"#
            ),
            "Missing resource(s): repository=x"
        );
        assert_eq!(
            error_message(r#"{"detail": "No RpmDistribution matches the given query."}"#),
            "No RpmDistribution matches the given query."
        );
        assert_eq!(
            error_message(r#"{"errors": ["Invalid Filter: 'x'"]}"#),
            "Invalid Filter: 'x'"
        );
        assert_eq!(
            error_message(r#"["Invalid search term: ''."]"#),
            "Invalid search term: ''."
        );
        assert_eq!(error_message("<html>boom</html>"), "<html>boom</html>");
    }
}
