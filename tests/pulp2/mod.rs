//! A stand-in Pulp 2 server for the `pulp` compose tests (Pulp 2 cannot run
//! here: it was retired; Pulp 3 runs for real, `scripts/pulp-peer`).
//!
//! What it answers, as Pulp 2's REST API documents it and as the original
//! ODCS's client reads it:
//! - `POST /pulp/api/v2/repositories/search/` with `{"criteria": {...}}`:
//!   `filters` in Mongo's syntax on dotted paths (a value for equality, or
//!   an object of `$in`, `$nin`, `$eq`, `$ne`, `$exists`; an unknown
//!   operator is 400), `fields` (only those, plus `_id` and `_href`),
//!   `sort` (`[[field, "ascending"|"descending"]]`), `skip` and `limit`.
//!   The answer is a JSON list. No `criteria` is 400 "Missing values for:
//!   criteria".
//! - `GET /pulp/api/v2/repositories/<id>/`: the repository, or 404 with
//!   Pulp's error body (`http_status`, `error_message` "Missing
//!   resource(s): repository=<id>", `error.code` PLP0009, `resources`).
//! - Notes are strings, as Pulp 2 keeps them: `include_in_download_service`
//!   is `"True"` or `"False"`, never a boolean.
//! - Authentication: an API request that did not come over TLS with a
//!   client certificate (the front's `X-Client-Verified` header) is 401
//!   "Authentication failed." when the server was started with
//!   `require_cert`.
//! - Any other `GET` path is a file under the content root (the published
//!   repositories, what `notes.relative_url` points at), or 404.
//!
//! Every API request is recorded ([`Pulp2::requests`]) so tests can check
//! what the client asked.
#![allow(
    dead_code,
    reason = "shared by several test crates, each using a part of it"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One API request the stand-in answered: method, path, body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The client certificate's CN, when it came over TLS with one.
    pub client: Option<String>,
}

struct State {
    repos: Vec<Value>,
    content: PathBuf,
    require_cert: bool,
    seen: Vec<Seen>,
}

pub struct Pulp2 {
    port: u16,
    state: Arc<Mutex<State>>,
}

/// A Pulp 2 repository object with `notes` (strings, as Pulp 2 keeps
/// them), as `GET repositories/<id>/` answers it.
pub fn repo(id: &str, notes: Value) -> Value {
    json!({
        "id": id,
        "display_name": id,
        "description": null,
        "notes": notes,
        "scratchpad": {},
        "content_unit_counts": {"rpm": 1},
        "last_unit_added": "2026-11-01T10:00:00Z",
        "last_unit_removed": null,
        "_ns": "repos",
        "_id": {"$oid": format!("{:024x}", id.bytes().map(u64::from).sum::<u64>())},
        "_href": format!("/pulp/api/v2/repositories/{id}/"),
    })
}

impl Pulp2 {
    /// Serves plain HTTP on 127.0.0.1 (put [`super::tls::TlsFront`] in front
    /// for HTTPS); `content` is the root of the published files.
    pub fn start(repos: Vec<Value>, content: PathBuf, require_cert: bool) -> Pulp2 {
        let state = Arc::new(Mutex::new(State {
            repos,
            content,
            require_cert,
            seen: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = state.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = answer(tcp, &state);
                });
            }
        });
        Pulp2 { port, state }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn set_repos(&self, repos: Vec<Value>) {
        self.state.lock().unwrap().repos = repos;
    }
}

/// One request on `tcp` (the client is told the connection closes).
fn answer(tcp: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(tcp.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0usize;
    let mut client = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            } else if name == "x-client-verified" {
                client = Some(value.trim().to_owned());
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let path = target.split('?').next().unwrap_or_default().to_owned();
    let (status, content_type, out) = route(&method, &path, &body, client, state);
    let mut tcp = tcp;
    let reason = match status {
        200 => "OK",
        400 => "BAD REQUEST",
        401 => "UNAUTHORIZED",
        404 => "NOT FOUND",
        _ => "METHOD NOT ALLOWED",
    };
    write!(
        tcp,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        out.len()
    )?;
    tcp.write_all(&out)?;
    tcp.flush()
}

fn error(status: u16, message: &str, code: &str, extra: Value) -> (u16, &'static str, Vec<u8>) {
    let body = json!({
        "http_request_method": "GET",
        "exception": null,
        "error_message": message,
        "_href": null,
        "http_status": status,
        "error": {"code": code, "description": message, "data": extra.clone(), "sub_errors": []},
        "traceback": null,
        "resources": extra.get("resources").cloned().unwrap_or(json!({})),
    });
    (status, "application/json", body.to_string().into_bytes())
}

fn route(
    method: &str,
    path: &str,
    body: &[u8],
    client: Option<String>,
    state: &Mutex<State>,
) -> (u16, &'static str, Vec<u8>) {
    let mut st = state.lock().unwrap();
    if let Some(api) = path.strip_prefix("/pulp/api/v2/") {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        st.seen.push(Seen {
            method: method.to_owned(),
            path: path.to_owned(),
            body: parsed.clone(),
            client: client.clone(),
        });
        if st.require_cert && client.is_none() {
            return error(401, "Authentication failed.", "PLP0025", json!({}));
        }
        if api == "repositories/search/" {
            if method != "POST" {
                return (405, "text/html", b"<h1>Method Not Allowed</h1>".to_vec());
            }
            let Some(criteria) = parsed.get("criteria") else {
                return error(
                    400,
                    "Missing values for: criteria",
                    "PLP0016",
                    json!({"missing_property_names": ["criteria"]}),
                );
            };
            return match search(&st.repos, criteria) {
                Ok(found) => (
                    200,
                    "application/json",
                    Value::Array(found).to_string().into_bytes(),
                ),
                Err(message) => error(400, &message, "PLP0015", json!({})),
            };
        }
        if let Some(id) = api
            .strip_prefix("repositories/")
            .and_then(|r| r.strip_suffix('/'))
            .filter(|id| !id.contains('/'))
        {
            let id = percent_decode(id);
            return match st.repos.iter().find(|r| r["id"] == id.as_str()) {
                Some(r) => (200, "application/json", r.to_string().into_bytes()),
                None => error(
                    404,
                    &format!("Missing resource(s): repository={id}"),
                    "PLP0009",
                    json!({"resources": {"repository": id}}),
                ),
            };
        }
        return error(
            404,
            &format!("Missing resource(s): {path}"),
            "PLP0009",
            json!({}),
        );
    }
    // published content
    if method != "GET" {
        return (405, "text/html", b"<h1>Method Not Allowed</h1>".to_vec());
    }
    let rel = percent_decode(path.trim_start_matches('/'));
    if rel.split('/').any(|p| p == "..") {
        return (404, "text/html", b"<h1>Not Found</h1>".to_vec());
    }
    match std::fs::read(st.content.join(rel)) {
        Ok(bytes) => (200, "application/octet-stream", bytes),
        Err(_) => (404, "text/html", b"<h1>Not Found</h1>".to_vec()),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value at a dotted `path` of `v`.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Whether `repo` matches one filter `path: cond`.
fn matches(repo: &Value, path: &str, cond: &Value) -> Result<bool, String> {
    let have = at(repo, path);
    let Some(ops) = cond
        .as_object()
        .filter(|o| o.keys().all(|k| k.starts_with('$')))
    else {
        return Ok(have == Some(cond));
    };
    for (op, arg) in ops {
        let ok = match op.as_str() {
            "$eq" => have == Some(arg),
            "$ne" => have != Some(arg),
            "$in" | "$nin" => {
                let list = arg
                    .as_array()
                    .ok_or_else(|| format!("Invalid criteria: {op} needs an array"))?;
                let inside = have.is_some_and(|h| list.contains(h));
                (op == "$in") == inside
            }
            "$exists" => have.is_some() == arg.as_bool().unwrap_or(true),
            other => return Err(format!("Invalid criteria: unknown operator {other}")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn search(repos: &[Value], criteria: &Value) -> Result<Vec<Value>, String> {
    let filters = criteria.get("filters").cloned().unwrap_or(json!({}));
    let filters = filters
        .as_object()
        .ok_or("Invalid criteria: filters must be an object")?;
    let mut found = Vec::new();
    for r in repos {
        let mut all = true;
        for (path, cond) in filters {
            if !matches(r, path, cond)? {
                all = false;
                break;
            }
        }
        if all {
            found.push(r.clone());
        }
    }
    if let Some(sort) = criteria.get("sort").and_then(Value::as_array) {
        for key in sort.iter().rev() {
            let field = key[0].as_str().unwrap_or_default().to_owned();
            let descending = key[1] == "descending";
            found.sort_by(|a, b| {
                let (a, b) = (
                    at(a, &field).map(Value::to_string),
                    at(b, &field).map(Value::to_string),
                );
                if descending { b.cmp(&a) } else { a.cmp(&b) }
            });
        }
    }
    let skip = criteria.get("skip").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = criteria
        .get("limit")
        .and_then(Value::as_u64)
        .map(|l| l as usize);
    let mut found: Vec<Value> = found.into_iter().skip(skip).collect();
    if let Some(l) = limit {
        found.truncate(l);
    }
    if let Some(fields) = criteria.get("fields").and_then(Value::as_array) {
        found = found
            .into_iter()
            .map(|r| {
                let mut out = serde_json::Map::new();
                for f in fields
                    .iter()
                    .filter_map(Value::as_str)
                    .chain(["_id", "_href"])
                {
                    if let Some(v) = r.get(f) {
                        out.insert(f.to_owned(), v.clone());
                    }
                }
                Value::Object(out)
            })
            .collect();
    }
    Ok(found)
}
