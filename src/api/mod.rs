//! REST API v1 of the original ODCS (odcs-api.md §1–§3), served by axum.
//!
//! Handlers are `<verb>_<resource>`; every error leaves through [`ApiError`],
//! which writes the original envelope `{"status", "error", "message"}`.
//! Validation happens once, in [`validate`], before anything reaches the store.
//! The compose trees are served under `/odcs/` by the same process when the
//! configured `target_dir_url` points at it (the embedded default).
//!
//! Departures from the original, on purpose: routing errors are 404/405 (the
//! original answered 500), non-list `arches` and paths in package names are
//! 400, negative lifetimes are 400, and `DELETE` of a waiting or generating
//! compose cancels it (the original could only do that with Celery).

pub mod validate;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::domain::{TargetDirs, TargetEntry};
use crate::store::{
    ComposeFilter, ComposeRow, ComposeState, JobKind, NewCompose, OrderBy, Store, StoreError,
    Timestamp,
};
use crate::domain::{Flag, ResultKind, SourceType};
use validate::{Invalid, Lifetime};

/// What the handlers share.
pub struct AppState {
    pub store: Store,
    /// Where composes are written and served (the default and the extra
    /// target directories a request may name).
    pub target_dirs: TargetDirs,
    /// URL prefixes and directories lookaside repositories may come from.
    pub lookaside_allowed: Vec<String>,
    pub lifetime: Lifetime,
    pub arches: Vec<String>,
    pub sigkeys: Vec<String>,
    pub max_body_bytes: usize,
    /// Phase times and counts of the workers in this process.
    pub worker_metrics: Arc<crate::worker::WorkerMetrics>,
    /// Wakes the workers when a job is queued.
    pub jobs_queued: Arc<tokio::sync::Notify>,
    /// `celery_workers_expected` of the metrics.
    pub expected_workers: usize,
    /// The workers' lease: a worker not seen for longer is not alive.
    pub lease: std::time::Duration,
}

/// The one place HTTP errors are made.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    /// 413: the body is over the configured limit.
    TooLarge(String),
    /// 503 with `Retry-After`: the database is down or full; nothing was
    /// recorded, and the same request can be made again later.
    Unavailable(String),
    Internal(String),
}

/// Seconds a client is asked to wait when the database is unavailable.
const RETRY_AFTER_SECONDS: u32 = 30;

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound("No such compose found.".into()),
            other if other.is_unavailable() => {
                // under load this would be a line per request: once a minute
                static LOG: std::sync::LazyLock<std::sync::Mutex<crate::throttle::Throttled>> =
                    std::sync::LazyLock::new(|| {
                        std::sync::Mutex::new(crate::throttle::Throttled::new(
                            "api: the database is unavailable, answering 503",
                            std::time::Duration::from_secs(60),
                        ))
                    });
                if let Ok(mut log) = LOG.lock() {
                    log.failed(&error_chain(&other));
                }
                ApiError::Unavailable(format!(
                    "the database is unavailable ({}); nothing was recorded, try again later",
                    error_chain(&other)
                ))
            }
            other => {
                tracing::error!("{}", error_chain(&other));
                ApiError::Internal(other.to_string())
            }
        }
    }
}

/// An error and its sources, `: `-separated, for the log.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::throttle::error_text(e)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::Unavailable(m) => {
                let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, &m);
                r.headers_mut()
                    .insert(header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
                return r;
            }
            ApiError::Internal(m) => {
                tracing::error!("internal server error: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, m)
            }
        };
        error_response(status, &message)
    }
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or(""),
        "message": message,
    });
    (status, Json(body)).into_response()
}

fn time(t: Option<Timestamp>) -> Value {
    t.map(|t| Value::String(t.to_string()))
        .unwrap_or(Value::Null)
}

/// The compose JSON of odcs-api.md §2.2 (every field, keys sorted). The
/// URLs are empty for a target directory without a URL, as the original's
/// are for extra target directories.
pub fn compose_json(c: &ComposeRow, target_dirs: &TargetDirs, with_dump: bool) -> Value {
    let name = c.name();
    let base = target_dirs.tree_url(&c.target_dir, &name);
    let under = |rest: &str| {
        if base.is_empty() {
            String::new()
        } else {
            format!("{base}/{rest}")
        }
    };
    let mut v = json!({
        "id": c.id,
        "owner": c.owner,
        "source_type": c.source_type,
        "source": c.source,
        "state": c.state.code(),
        "state_name": c.state.name(),
        "state_reason": c.state_reason,
        "time_to_expire": time(Some(c.time_to_expire)),
        "time_submitted": time(Some(c.time_submitted)),
        "time_started": time(c.time_started),
        "time_done": time(c.time_done),
        "time_removed": time(c.time_removed),
        "removed_by": c.removed_by,
        "result_repo": under("compose/Temporary"),
        "result_repofile": under(&format!("compose/Temporary/{name}.repo")),
        "toplevel_url": base,
    });
    // two halves: one json! of every field exceeds the macro recursion limit
    let more = json!({
        "flags": Flag::names(c.flags),
        "results": ResultKind::names(c.results),
        "sigkeys": c.sigkeys.clone().unwrap_or_default(),
        "koji_event": c.koji_event,
        "koji_task_id": c.koji_task_id,
        "packages": c.packages,
        "builds": c.builds,
        "arches": c.arches,
        "multilib_arches": c.multilib_arches,
        "multilib_method": c.multilib_method,
        "lookaside_repos": c.lookaside_repos,
        "modular_koji_tags": c.modular_koji_tags,
        "module_defaults_url": c.module_defaults_url,
        "label": c.label,
        "compose_type": c.compose_type,
        "pungi_compose_id": c.pungi_compose_id,
        "target_dir": c.target_dir,
        "scratch_modules": c.scratch_modules,
        "parent_pungi_compose_ids": c.parent_pungi_compose_ids,
        "scratch_build_tasks": c.scratch_build_tasks,
        "modules": c.modules,
        "respin_of": c.respin_of,
        "base_module_br_name": c.base_module_br_name,
        "base_module_br_stream": c.base_module_br_stream,
        "base_module_br_stream_version_lte": c.base_module_br_stream_version_lte,
        "base_module_br_stream_version_gte": c.base_module_br_stream_version_gte,
        "progress": c.progress,
    });
    if let (Some(a), Value::Object(b)) = (v.as_object_mut(), more) {
        a.extend(b);
    }
    if with_dump {
        v["pungi_config_dump"] = json!(c.pungi_config_dump);
    }
    v
}

fn new_compose(req: &validate::CreateRequest) -> NewCompose {
    let mut n = NewCompose::new("unknown", req.source_type, &req.source);
    n.seconds_to_live = req.seconds_to_live;
    n.packages = req.packages.clone();
    n.builds = req.builds.clone();
    n.arches = req.arches.clone();
    n.sigkeys = Some(req.sigkeys.clone());
    n.flags = i64::from(req.flags);
    n.results = i64::from(req.results);
    n.multilib_arches = req.multilib_arches.clone();
    n.multilib_method = i64::from(req.multilib_method);
    n.lookaside_repos = Some(req.lookaside_repos.clone());
    n.koji_event = req.koji_event;
    n.label = req.label.clone();
    n.compose_type = Some(req.compose_type.clone());
    n.target_dir = req.target_dir.clone();
    n.fingerprint = n.reuse_fingerprint();
    n
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("Failed to decode JSON object: {e}")))
}

/// The body, up to the configured size: larger is a 400 naming the limit.
/// The rest of an oversized body (up to 64 MiB) is read and dropped, so the
/// client gets the answer instead of a connection reset.
async fn read_body(app: &AppState, body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(ApiError::BadRequest(
                "the request body could not be read".into(),
            ));
        };
        if let Some(data) = frame.data_ref() {
            seen += data.len();
            if seen <= app.max_body_bytes {
                buf.extend_from_slice(data);
            } else if seen > 64 << 20 {
                break;
            }
        }
    }
    if seen > app.max_body_bytes {
        return Err(ApiError::TooLarge(format!(
            "request body is larger than {} bytes",
            app.max_body_bytes
        )));
    }
    Ok(buf.into())
}

async fn create_compose(
    State(app): State<Arc<AppState>>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let body = read_body(&app, body).await?;
    let data = parse_body(&body)?;
    let req = validate::parse_create(&data, &app.arches, &app.sigkeys, app.lifetime)?;
    if app.target_dirs.get(&req.target_dir).is_none() {
        return Err(ApiError::BadRequest(format!(
            "Unknown \"target_dir\" \"{}\"",
            req.target_dir
        )));
    }
    for repo in req.lookaside_repos.split_whitespace() {
        validate::check_lookaside_allowed(repo, &app.lookaside_allowed)?;
    }
    let row = app.store.submit_compose(&new_compose(&req)).await?;
    app.jobs_queued.notify_waiters();
    tracing::info!(
        compose.id = row.id,
        "compose {} submitted: {} {}",
        row.id,
        req.source_type_name,
        row.source
    );
    Ok(Json(compose_json(&row, &app.target_dirs, false)).into_response())
}

async fn find_compose(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = compose_id(&id)?;
    let row = app.store.find_compose(id).await?;
    Ok(cors(
        Json(compose_json(&row, &app.target_dirs, true)).into_response(),
    ))
}

fn compose_id(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .ok()
        .filter(|&i| i >= 0 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            ApiError::NotFound(format!("No such compose found: {s:?} is not a compose id."))
        })
}

fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    r
}

async fn list_composes(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let first = |k: &str| {
        params
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    // numeric filters: a non-number matches nothing (odcs-api.md §3.1)
    let mut impossible = false;
    let mut int = |k: &str| -> Option<i64> {
        let v = first(k)?;
        let parsed = v.parse::<i64>().ok();
        impossible |= parsed.is_none();
        parsed
    };
    let source_type = int("source_type");
    let state_code = int("state");
    let koji_task_id = int("koji_task_id");
    let state = match state_code {
        Some(c) => match ComposeState::from_code(c) {
            Some(s) => Some(s),
            None => {
                impossible = true;
                None
            }
        },
        None => None,
    };
    let filter = ComposeFilter {
        owner: first("owner"),
        source_type,
        source: first("source"),
        state,
        koji_task_id,
        pungi_compose_id: first("pungi_compose_id"),
        compose_type: first("compose_type"),
        label: first("label"),
    };
    let order_text = first("order_by").unwrap_or_else(|| "-id".into());
    let order = OrderBy::parse(&order_text).ok_or_else(|| {
        ApiError::BadRequest(
            "An invalid order_by key was suplied, allowed keys are: ['id', 'owner', 'source_type', 'koji_event', 'state', 'time_to_expire', 'time_submitted', 'time_done', 'time_removed']".into(),
        )
    })?;
    let page = first("page")
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1) as u32;
    let per_page = match first("per_page").and_then(|p| p.parse::<i64>().ok()) {
        None => 10,
        Some(n) if n < 0 => 20,
        Some(n) => n.min(1000) as u32,
    };
    let (rows, total) = if impossible || per_page == 0 {
        let (_, total) = if impossible {
            (Vec::new(), 0)
        } else {
            app.store.list_composes(&filter, order, 1, 1).await?
        };
        (Vec::new(), total)
    } else {
        app.store
            .list_composes(&filter, order, page, per_page)
            .await?
    };
    let pages = if per_page == 0 {
        0
    } else {
        total.div_ceil(u64::from(per_page))
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let extra: String = {
        let mut seen = std::collections::HashSet::new();
        params
            .iter()
            .filter(|(k, _)| {
                k != "page" && k != "per_page" && k != "endpoint" && !k.starts_with('_')
            })
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| format!("&{}={}", urlencode(k), urlencode(v)))
            .collect()
    };
    let link = |p: u64| {
        json!(format!(
            "http://{host}/api/1/composes/?page={p}&per_page={per_page}{extra}"
        ))
    };
    let page = u64::from(page);
    let meta = json!({
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "first": link(1),
        "last": link(pages),
        "prev": if page > 1 { link(page - 1) } else { Value::Null },
        "next": if page < pages { link(page + 1) } else { Value::Null },
    });
    let items: Vec<Value> = rows
        .iter()
        .map(|r| compose_json(r, &app.target_dirs, false))
        .collect();
    Ok(cors(
        Json(json!({"items": items, "meta": meta})).into_response(),
    ))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn renew_compose(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let id = compose_id(&id)?;
    let body = read_body(&app, body).await?;
    let data = if body.is_empty() {
        json!({})
    } else {
        parse_body(&body)?
    };
    if !data.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    if data.as_object().is_some_and(|m| !m.is_empty()) {
        validate::validate_json_data(&data)?;
    }
    let old = match app.store.find_compose(id).await {
        Ok(c)
            if matches!(
                c.state,
                ComposeState::Done | ComposeState::Removed | ComposeState::Failed
            ) =>
        {
            c
        }
        Ok(_) | Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::NotFound(format!("No compose with id {id} found")));
        }
        Err(e) => return Err(e.into()),
    };
    let seconds = validate::seconds_to_live(&data, app.lifetime)?;
    let sigkeys = validate::checked_list(data.get("sigkeys"), "sigkeys", validate::check_sigkey)?
        .map(|keys| keys.join(" "))
        .or(old.sigkeys.clone());
    let label = data
        .get("label")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(old.label.clone());
    let builds = validate::checked_list(
        data.get("source").and_then(|s| s.get("builds")),
        "builds",
        validate::check_build,
    )?
    .map(|b| b.join(" "));
    let regenerate = old.state != ComposeState::Done
        || label != old.label
        || sigkeys != old.sigkeys
        || builds.is_some();
    if !regenerate {
        let until = std::cmp::max(old.time_to_expire, Timestamp::now().add_seconds(seconds));
        let row = app.store.extend_expiry(id, until).await?;
        if let Some(reused) = old.reused_id {
            app.store.extend_expiry(reused, until).await?;
        }
        return Ok(Json(compose_json(&row, &app.target_dirs, false)).into_response());
    }
    // a new compose with the same inputs, pinned to the same event, so it
    // holds the same builds
    let mut n = NewCompose::new("unknown", old.source_type, &old.source);
    // unless the content is asked to change, recreate exactly the same RPMs
    // from the stored package set (of the compose it reused, if it did); a
    // failed compose has none and is made again at the same event
    let had_package_set = matches!(old.state, ComposeState::Done | ComposeState::Removed);
    if builds.is_none() && sigkeys == old.sigkeys && had_package_set {
        n.replay_of = Some(old.reused_id.unwrap_or(old.id));
    }
    n.seconds_to_live = seconds;
    n.packages = old.packages.clone();
    n.builds = builds.or(old.builds.clone());
    n.arches = old.arches.clone();
    n.sigkeys = sigkeys;
    n.flags = old.flags;
    n.results = old.results;
    n.multilib_arches = old.multilib_arches.clone();
    n.multilib_method = old.multilib_method;
    n.lookaside_repos = old.lookaside_repos.clone();
    n.koji_event = old.koji_event;
    n.label = label;
    n.compose_type = old.compose_type.clone();
    n.respin_of = old.pungi_compose_id.clone();
    n.target_dir = old.target_dir.clone();
    n.fingerprint = n.reuse_fingerprint();
    let row = app.store.submit_compose(&n).await?;
    app.jobs_queued.notify_waiters();
    Ok(Json(compose_json(&row, &app.target_dirs, false)).into_response())
}

async fn delete_compose(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = compose_id(&id)?;
    // a worker may move the compose on between the read and the write: then
    // the write is refused and the compose is looked at again
    let mut message = None;
    for _ in 0..5 {
        let c = app.store.find_compose(id).await?;
        let written = match c.state {
            ComposeState::Wait | ComposeState::Generating => app
                .store
                .cancel_compose(id, "Canceled by anonymous")
                .await
                .map(|_| format!("Compose (id={id}) has been canceled")),
            ComposeState::Done | ComposeState::Failed => {
                app.store.request_removal(id, "anonymous").await.map(|_| {
                    app.jobs_queued.notify_waiters();
                    format!(
                        "The delete request for compose (id={id}) has been accepted and will be processed by backend later."
                    )
                })
            }
            ComposeState::Removed => {
                return Err(ApiError::BadRequest(format!(
                    "Compose (id={id}) can not be removed, its state need to be in ['done', 'failed']."
                )));
            }
        };
        match written {
            Ok(m) => {
                message = Some(m);
                break;
            }
            Err(StoreError::InvalidState { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let message = message.ok_or_else(|| {
        ApiError::Internal(format!(
            "compose {id} kept changing state while being deleted; try again"
        ))
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"status": 202, "message": message})),
    )
        .into_response())
}

async fn about(State(app): State<Arc<AppState>>) -> Response {
    cors(
        Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "auth_backend": "noauth",
            "allowed_clients": {},
            "raw_config_urls": {},
            "sigkeys": app.sigkeys,
        }))
        .into_response(),
    )
}

async fn metrics(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = render_metrics(&app).await?;
    Ok(cors(
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
    ))
}

/// The metrics of odcs-api.md §10 under the original's names, so dashboards
/// and alerts built on them keep working, plus ours (`odcs_*`). The
/// `celery_*` gauges describe our database queue and workers: a queue per job
/// kind (`pungi_composes` for generate jobs, `cleanup` for removals, the
/// original's default queue names), every worker consuming both, and a worker
/// alive while its heartbeats (each poll and lease renewal) are recent.
async fn render_metrics(app: &AppState) -> Result<String, ApiError> {
    use std::fmt::Write;
    fn head(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    let mut out = String::new();
    // a worker heartbeats at least every third of its lease while working
    // and every few seconds while idle
    let alive_ms = i64::try_from(app.lease.as_millis())
        .unwrap_or(i64::MAX / 2)
        .max(15_000)
        + 5_000;
    let presence = app.store.worker_presence(alive_ms, 86_400_000).await?;
    head(
        &mut out,
        "celery_workers_expected",
        "gauge",
        "Number of expected workers",
    );
    let _ = writeln!(out, "celery_workers_expected {}", app.expected_workers);
    head(
        &mut out,
        "celery_workers_totals",
        "gauge",
        "Number of alive workers",
    );
    let _ = writeln!(out, "celery_workers_totals {}", presence.alive());
    head(
        &mut out,
        "celery_workers",
        "gauge",
        "Number of alive workers",
    );
    for (name, alive) in &presence.workers {
        let _ = writeln!(
            out,
            "celery_workers{{worker_name=\"{}\"}} {}",
            label_value(name),
            u8::from(*alive)
        );
    }
    let queued = app.store.queued_job_counts().await?;
    head(
        &mut out,
        "celery_queue_length",
        "gauge",
        "Number of tasks in the queue.",
    );
    for (kind, n) in &queued {
        let _ = writeln!(
            out,
            "celery_queue_length{{queue_name=\"{}\"}} {n}",
            queue_name(*kind)
        );
    }
    head(
        &mut out,
        "celery_queue_worker",
        "gauge",
        "Number of workers consume tasks from the queue.",
    );
    for (kind, _) in &queued {
        let _ = writeln!(
            out,
            "celery_queue_worker{{queue_name=\"{}\"}} {}",
            queue_name(*kind),
            presence.alive()
        );
    }

    // every source type × state, zeros included
    head(
        &mut out,
        "composes_total",
        "gauge",
        "Total number of composes",
    );
    let counts = app.store.count_composes_by_type_and_state().await?;
    for source_type in SourceType::ALL {
        let (type_name, type_code) = (source_type.name(), source_type.code());
        for s in ComposeState::ALL {
            let n = counts
                .iter()
                .find(|(t, st, _)| *t == type_code && *st == s as i64)
                .map_or(0, |c| c.2);
            let _ = writeln!(
                out,
                "composes_total{{source_type=\"{type_name}\",state=\"{}\"}} {n}",
                s.name()
            );
        }
    }

    // raw_config composes per source (none are accepted here yet, but the
    // series are what the original exposes)
    let raw = app
        .store
        .count_composes_by_source_and_state(SourceType::RawConfig.code())
        .await?;
    let mut per_source: std::collections::BTreeMap<&str, u64> = Default::default();
    for (source, _, n) in &raw {
        *per_source.entry(source).or_default() += n;
    }
    // sources with fewer than 5 composes are summed per config name
    let mut counted: std::collections::BTreeMap<String, u64> = Default::default();
    for (source, n) in per_source {
        let key = if n < 5 {
            let name = source.split('#').next().unwrap_or(source);
            format!("{name}#other_commits_or_branches")
        } else {
            source.to_owned()
        };
        *counted.entry(key).or_default() += n;
    }
    head(
        &mut out,
        "raw_config_composes_count_total",
        "counter",
        "Total number of raw_config composes per source",
    );
    for (source, n) in &counted {
        let _ = writeln!(
            out,
            "raw_config_composes_count_total{{source=\"{}\"}} {n}",
            label_value(source)
        );
    }
    head(
        &mut out,
        "raw_config_composes",
        "gauge",
        "Count of raw config composes broken down by state. Removed composes are not counted.",
    );
    for (source, state, n) in &raw {
        let Some(s) = ComposeState::ALL.iter().find(|s| **s as i64 == *state) else {
            continue;
        };
        if *s == ComposeState::Removed {
            continue;
        }
        let _ = writeln!(
            out,
            "raw_config_composes{{source=\"{}\",state=\"{}\"}} {n}",
            label_value(source),
            s.name()
        );
    }

    let live = app.store.live_job_count().await?;
    head(
        &mut out,
        "odcs_jobs_queued",
        "gauge",
        "Jobs waiting for or held by a worker",
    );
    let _ = writeln!(out, "odcs_jobs_queued {live}");
    out.push_str(&app.worker_metrics.render());
    Ok(out)
}

fn queue_name(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Generate => "pungi_composes",
        JobKind::Remove => "cleanup",
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    cors(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "The requested URL was not found on the server.",
    )
}

/// `%XX` escapes of a path segment decoded (as the file service decodes
/// them), or `None` when they do not decode to UTF-8.
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Only what a `done` compose holds is served under `/odcs/`: the tree of a
/// compose that is not `done` (being built, left by a worker that died after
/// renaming it into place, failed, removed) answers 404, so no client ever
/// reads a tree the database does not vouch for; a compose's log is served
/// in any state. Composes are built in `.odcs-<id>.part`: a path through any
/// entry whose name starts with a dot (also percent-encoded) is not served.
async fn serve_done_trees(
    State(app): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let segments: Vec<Option<String>> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decoded)
        .collect();
    if segments
        .iter()
        .any(|s| s.as_deref().is_none_or(|s| s.starts_with('.')))
    {
        return not_found().await;
    }
    let first = segments.first().cloned().flatten().unwrap_or_default();
    if let Some(TargetEntry::Tree(id)) = TargetEntry::parse(&first) {
        match app.store.find_compose(id).await {
            Ok(c) if c.state == ComposeState::Done => {}
            Ok(_) | Err(StoreError::NotFound { .. }) => return not_found().await,
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    next.run(req).await
}

/// The router: API v1 and, when `serve_dir` is given, the compose trees under `/odcs/`.
pub fn router(state: Arc<AppState>, serve_dir: Option<PathBuf>) -> Router {
    let mut r = Router::new()
        .route("/api/1/composes/", get(list_composes).post(create_compose))
        .route("/api/1/composes", get(list_composes).post(create_compose))
        .route(
            "/api/1/composes/{id}",
            get(find_compose)
                .patch(renew_compose)
                .delete(delete_compose),
        )
        .route("/api/1/about/", get(about))
        .route("/api/1/about", get(about))
        .route("/api/1/metrics/", get(metrics))
        .route("/api/1/metrics", get(metrics))
        .route("/api/1/openapi.json", get(openapi))
        .fallback(not_found)
        // bodies are read with the configured limit by the handlers, which
        // answer 400 (not axum's 413) when it is exceeded
        .layer(DefaultBodyLimit::disable());
    if let Some(dir) = serve_dir {
        let trees = Router::new()
            .fallback_service(tower_http::services::ServeDir::new(dir))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                serve_done_trees,
            ));
        r = r.nest("/odcs", trees);
    }
    r.with_state(state)
}
