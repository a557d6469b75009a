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

mod caller;
mod error;
mod files;
pub use caller::ClientCn;
pub use error::ApiError;
mod list;
mod metrics;
pub mod validate;
mod web;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::domain::{Flag, ResultKind, SourceType, TargetDirs};
use crate::store::{ComposeRow, ComposeState, NewCompose, Store, StoreError, Timestamp};
use error::error_response;
use files::serve_done_trees;
use list::list_composes;
use metrics::metrics;
use validate::Lifetime;

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
    /// Module names a module compose may not ask for.
    pub base_modules: Vec<String>,
    /// `raw_config_urls`.
    pub raw_configs: Arc<crate::compose::pungi::RawConfigs>,
    /// Whether Pungi is configured (`[pungi]`).
    pub pungi: bool,
    /// Whether Pulp is configured (`[pulp]`).
    pub pulp: bool,
    pub max_body_bytes: usize,
    /// Phase times and counts of the workers in this process.
    pub worker_metrics: Arc<crate::worker::WorkerMetrics>,
    /// Wakes the workers when a job is queued.
    pub jobs_queued: Arc<tokio::sync::Notify>,
    /// `celery_workers_expected` of the metrics.
    pub expected_workers: usize,
    /// The workers' lease: a worker not seen for longer is not alive.
    pub lease: std::time::Duration,
    /// Who may change composes.
    pub auth: Arc<crate::auth::Authenticator>,
    /// `allowed_clients` as `/api/1/about/` shows it.
    pub allowed_clients: Value,
    /// What this process's outbox sender did (the metrics).
    pub event_metrics: Arc<crate::events::EventMetrics>,
}

/// The compose JSON of odcs-api.md §2.2 (every field, keys sorted). The
/// URLs are empty for a target directory without a URL, as the original's
/// are for extra target directories.
pub fn compose_json(c: &ComposeRow, target_dirs: &TargetDirs, with_dump: bool) -> Value {
    serde_json::to_value(ComposeView::new(c, target_dirs, with_dump))
        .expect("a compose serializes to JSON")
}

/// [`compose_json`] as a value that serializes itself without building a
/// `Value` tree first (the list endpoint writes pages of them). Its fields
/// are declared in sorted order, so it writes the keys in the order a
/// `Value` would (tests check that the two agree).
#[derive(serde::Serialize)]
pub struct ComposeView<'a> {
    arches: &'a str,
    base_module_br_name: Option<&'a str>,
    base_module_br_stream: Option<&'a str>,
    base_module_br_stream_version_gte: Option<i64>,
    base_module_br_stream_version_lte: Option<i64>,
    builds: Option<&'a str>,
    compose_type: Option<&'a str>,
    flags: Vec<String>,
    id: i64,
    koji_event: Option<i64>,
    koji_task_id: Option<i64>,
    label: Option<&'a str>,
    lookaside_repos: Option<&'a str>,
    modular_koji_tags: Option<&'a str>,
    module_defaults_url: Option<&'a str>,
    modules: Option<&'a str>,
    multilib_arches: &'a str,
    multilib_method: i64,
    owner: &'a str,
    packages: Option<&'a str>,
    parent_pungi_compose_ids: Option<&'a str>,
    progress: Option<&'a str>,
    pungi_compose_id: Option<&'a str>,
    /// Only in the answer to `?show_config_dump` (null when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pungi_config_dump: Option<Option<&'a str>>,
    removed_by: Option<&'a str>,
    respin_of: Option<&'a str>,
    result_repo: String,
    result_repofile: String,
    results: Vec<String>,
    scratch_build_tasks: Option<&'a str>,
    scratch_modules: Option<&'a str>,
    sigkeys: &'a str,
    source: &'a str,
    source_type: i64,
    state: i64,
    state_name: &'a str,
    state_reason: Option<&'a str>,
    target_dir: &'a str,
    time_done: Option<String>,
    time_removed: Option<String>,
    time_started: Option<String>,
    time_submitted: String,
    time_to_expire: String,
    toplevel_url: String,
}

impl<'a> ComposeView<'a> {
    pub fn new(c: &'a ComposeRow, target_dirs: &TargetDirs, with_dump: bool) -> ComposeView<'a> {
        let name = c.name();
        let base = target_dirs.tree_url(&c.target_dir, &name);
        let under = |rest: &str| {
            if base.is_empty() {
                String::new()
            } else {
                format!("{base}/{rest}")
            }
        };
        // a raw_config compose has no repository of ours (odcs-api.md §7.5)
        let raw = c.source_type == SourceType::RawConfig.code();
        let result_repo = if raw {
            String::new()
        } else {
            under("compose/Temporary")
        };
        let result_repofile = if raw {
            String::new()
        } else {
            under(&format!("compose/Temporary/{name}.repo"))
        };
        ComposeView {
            arches: &c.arches,
            base_module_br_name: c.base_module_br_name.as_deref(),
            base_module_br_stream: c.base_module_br_stream.as_deref(),
            base_module_br_stream_version_gte: c.base_module_br_stream_version_gte,
            base_module_br_stream_version_lte: c.base_module_br_stream_version_lte,
            builds: c.builds.as_deref(),
            compose_type: c.compose_type.as_deref(),
            flags: Flag::names(c.flags),
            id: c.id,
            koji_event: c.koji_event,
            koji_task_id: c.koji_task_id,
            label: c.label.as_deref(),
            lookaside_repos: c.lookaside_repos.as_deref(),
            modular_koji_tags: c.modular_koji_tags.as_deref(),
            module_defaults_url: c.module_defaults_url.as_deref(),
            modules: c.modules.as_deref(),
            multilib_arches: &c.multilib_arches,
            multilib_method: c.multilib_method,
            owner: &c.owner,
            packages: c.packages.as_deref(),
            parent_pungi_compose_ids: c.parent_pungi_compose_ids.as_deref(),
            progress: c.progress.as_deref(),
            pungi_compose_id: c.pungi_compose_id.as_deref(),
            pungi_config_dump: with_dump.then_some(c.pungi_config_dump.as_deref()),
            removed_by: c.removed_by.as_deref(),
            respin_of: c.respin_of.as_deref(),
            result_repo,
            result_repofile,
            results: ResultKind::names(c.results),
            scratch_build_tasks: c.scratch_build_tasks.as_deref(),
            scratch_modules: c.scratch_modules.as_deref(),
            sigkeys: c.sigkeys.as_deref().unwrap_or_default(),
            source: &c.source,
            source_type: c.source_type,
            state: c.state.code(),
            state_name: c.state.name(),
            state_reason: c.state_reason.as_deref(),
            target_dir: &c.target_dir,
            time_done: c.time_done.map(|t| t.to_string()),
            time_removed: c.time_removed.map(|t| t.to_string()),
            time_started: c.time_started.map(|t| t.to_string()),
            time_submitted: c.time_submitted.to_string(),
            time_to_expire: c.time_to_expire.to_string(),
            toplevel_url: base,
        }
    }
}

fn new_compose(req: &validate::CreateRequest, owner: &str) -> NewCompose {
    let mut n = NewCompose::new(owner, req.source_type, &req.source);
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
    n.module_defaults_url = req.module_defaults.clone();
    n.modular_koji_tags = req.modular_koji_tags.clone();
    n.scratch_modules = req.scratch_modules.clone();
    n.parent_pungi_compose_ids = req.parent_pungi_compose_ids.clone();
    n.respin_of = req.respin_of.clone();
    n.base_module_br_name = req.base_module_br.name.clone();
    n.base_module_br_stream = req.base_module_br.stream.clone();
    n.base_module_br_stream_version_lte = req.base_module_br.stream_version_lte;
    n.base_module_br_stream_version_gte = req.base_module_br.stream_version_gte;
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

/// A compose request checked as POST checks it (fields, target directory,
/// lookaside and repository locations, what needs Pungi, raw_config names):
/// for the API and for composes that bus events request.
fn checked_request(app: &AppState, data: &Value) -> Result<validate::CreateRequest, ApiError> {
    // a raw_config source may have lifetimes of its own (odcs-api.md §5.4),
    // each falling back to the server's
    let raw_entry = data
        .get("source")
        .filter(|s| s.get("type").and_then(Value::as_str) == Some("raw_config"))
        .and_then(|s| s.get("source")?.as_str())
        .and_then(|s| app.raw_configs.get(s.split('#').next()?));
    let raw_entry = raw_entry.as_ref();
    let lifetime = match raw_entry {
        Some(r) => validate::Lifetime {
            default: r.seconds_to_live.unwrap_or(app.lifetime.default),
            max: r.max_seconds_to_live.unwrap_or(app.lifetime.max),
        },
        None => app.lifetime,
    };
    let req = validate::parse_create(data, &app.arches, &app.sigkeys, &app.base_modules, lifetime)?;
    if app.target_dirs.get(&req.target_dir).is_none() {
        return Err(ApiError::BadRequest(format!(
            "Unknown \"target_dir\" \"{}\"",
            req.target_dir
        )));
    }
    for repo in req.lookaside_repos.split_whitespace() {
        validate::check_lookaside_allowed(repo, &app.lookaside_allowed)?;
    }
    // an ISO of each tree is made here; boot.iso and ostree need Pungi
    let pungi_only =
        i64::from(req.results) & !i64::from(ResultKind::Repository.bit() | ResultKind::Iso.bit());
    if pungi_only != 0 && req.source_type != SourceType::RawConfig.code() {
        let names = ResultKind::names(pungi_only)
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        if !app.pungi {
            return Err(ApiError::BadRequest(format!(
                "results: {names} {} Pungi, which this server is not configured with ([pungi] in the configuration)",
                if pungi_only.count_ones() == 1 {
                    "needs"
                } else {
                    "need"
                }
            )));
        }
        if ![SourceType::Tag, SourceType::Build, SourceType::Module]
            .iter()
            .any(|t| t.code() == req.source_type)
        {
            return Err(ApiError::BadRequest(format!(
                "results: {names}: Pungi makes them here for tag, build and module composes only, not {}",
                req.source_type_name
            )));
        }
    }
    // a pungi_compose source is read by the server: only where lookaside
    // repositories may be
    if req.source_type == SourceType::PungiCompose.code() {
        for url in req.source.split_whitespace() {
            let url = if url.starts_with('/') {
                format!("file://{url}")
            } else {
                url.to_owned()
            };
            validate::check_allowed("source", &url, &app.lookaside_allowed)?;
        }
    }
    // a repo source is read by the server: only where lookaside
    // repositories may be
    if req.source_type == SourceType::Repo.code() {
        for t in req.source.split_whitespace() {
            let url = if t.starts_with("file://")
                || t.starts_with("http://")
                || t.starts_with("https://")
            {
                t.to_owned()
            } else {
                format!("file://{t}")
            };
            validate::check_allowed("source", &url, &app.lookaside_allowed)?;
        }
    }
    if req.source_type == SourceType::Pulp.code() && !app.pulp {
        return Err(ApiError::BadRequest(
            "pulp composes need Pulp, which this server is not configured with ([pulp] in the configuration)".into(),
        ));
    }
    if req.source_type == SourceType::RawConfig.code() {
        let name = req.source.split('#').next().unwrap_or_default();
        if app.raw_configs.get(name).is_none() {
            return Err(ApiError::BadRequest(format!(
                "Source \"{name}\" does not exist in server configuration."
            )));
        }
        if !app.pungi {
            return Err(ApiError::BadRequest(
                "raw_config composes need Pungi, which this server is not configured with ([pungi] in the configuration)".into(),
            ));
        }
    }
    if let Some((url, _)) = req
        .module_defaults
        .as_deref()
        .and_then(|d| d.split_once(' '))
    {
        validate::check_allowed("module_defaults_url", url, &app.lookaside_allowed)?;
    }
    Ok(req)
}

/// The compose a bus event's rule requests (`[[events.rules]] compose`,
/// the JSON of a POST), checked as POST checks it, owned by `owner`; the
/// message names what is wrong.
pub fn event_compose(app: &AppState, data: &Value, owner: &str) -> Result<NewCompose, String> {
    let req = checked_request(app, data).map_err(|e| match e {
        ApiError::BadRequest(m) | ApiError::Forbidden(m) | ApiError::Internal(m) => m,
        other => format!("{other:?}"),
    })?;
    Ok(new_compose(&req, owner))
}

async fn create_compose(
    State(app): State<Arc<AppState>>,
    caller: caller::Caller,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let who = caller.authenticate(&app, "new-compose").await?;
    let body = read_body(&app, body).await?;
    let data = parse_body(&body)?;
    let req = checked_request(&app, &data)?;
    let grant = app
        .auth
        .policy
        .check_create(&who.identity, &caller::subject_of_request(&req))?;
    caller::check_active_limit(&app, &who.identity, grant.max_active).await?;
    let row = app
        .store
        .submit_compose(&new_compose(&req, &who.identity.user))
        .await?;
    app.jobs_queued.notify_waiters();
    tracing::info!(
        compose.id = row.id,
        "compose {} submitted by {}: {} {}",
        row.id,
        row.owner,
        req.source_type_name,
        row.source
    );
    Ok(who.finish(Json(compose_json(&row, &app.target_dirs, false)).into_response()))
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

pub(super) fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    r
}

async fn renew_compose(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    caller: caller::Caller,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let id = compose_id(&id)?;
    let who = caller.authenticate(&app, "renew-compose").await?;
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
    let grant = app.auth.policy.check_renew(
        &who.identity,
        &old.owner,
        &caller::subject_of(&old, seconds),
    )?;
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
        return Ok(who.finish(Json(compose_json(&row, &app.target_dirs, false)).into_response()));
    }
    caller::check_active_limit(&app, &who.identity, grant.max_active).await?;
    // a new compose with the same inputs, pinned to the same event, so it
    // holds the same builds
    let mut n = NewCompose::new(&who.identity.user, old.source_type, &old.source);
    // unless the content is asked to change, recreate exactly the same RPMs
    // from the stored package set (of the compose it reused, if it did); a
    // failed compose has none and is made again at the same event
    // (Pungi's composes have none: a raw_config compose runs Pungi again,
    // with the stored configuration dump when there is one)
    let made_by_pungi = old.source_type == SourceType::RawConfig.code()
        || old.results & i64::from(ResultKind::BootIso.bit() | ResultKind::Ostree.bit()) != 0;
    let had_package_set =
        matches!(old.state, ComposeState::Done | ComposeState::Removed) && !made_by_pungi;
    n.pungi_config_dump = old.pungi_config_dump.clone();
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
    n.parent_pungi_compose_ids = old.parent_pungi_compose_ids.clone();
    n.target_dir = old.target_dir.clone();
    n.module_defaults_url = old.module_defaults_url.clone();
    n.modular_koji_tags = old.modular_koji_tags.clone();
    n.scratch_modules = old.scratch_modules.clone();
    n.base_module_br_name = old.base_module_br_name.clone();
    n.base_module_br_stream = old.base_module_br_stream.clone();
    n.base_module_br_stream_version_lte = old.base_module_br_stream_version_lte;
    n.base_module_br_stream_version_gte = old.base_module_br_stream_version_gte;
    n.fingerprint = n.reuse_fingerprint();
    let row = app.store.submit_compose(&n).await?;
    app.jobs_queued.notify_waiters();
    Ok(who.finish(Json(compose_json(&row, &app.target_dirs, false)).into_response()))
}

async fn delete_compose(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    caller: caller::Caller,
) -> Result<Response, ApiError> {
    let id = compose_id(&id)?;
    let who = caller.authenticate(&app, "delete-compose").await?;
    let cancel_reason = format!("Canceled by {}", who.name());
    // a worker may move the compose on between the read and the write: then
    // the write is refused and the compose is looked at again
    let mut message = None;
    for _ in 0..5 {
        let c = app.store.find_compose(id).await?;
        app.auth.policy.check_delete(&who.identity, &c.owner)?;
        let written = match c.state {
            ComposeState::Wait | ComposeState::Generating => app
                .store
                .cancel_compose(id, &cancel_reason)
                .await
                .map(|_| format!("Compose (id={id}) has been canceled")),
            ComposeState::Done | ComposeState::Failed => {
                app.store.request_removal(id, who.name()).await.map(|_| {
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
    Ok(who.finish(
        (
            StatusCode::ACCEPTED,
            Json(json!({"status": 202, "message": message})),
        )
            .into_response(),
    ))
}

async fn about(State(app): State<Arc<AppState>>) -> Response {
    cors(
        Json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "auth_backend": app.auth.backend_names(),
            "allowed_clients": app.allowed_clients,
            "raw_config_urls": app.raw_configs.all(),
            "sigkeys": app.sigkeys,
        }))
        .into_response(),
    )
}

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    cors(([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response())
}

pub(super) async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "The requested URL was not found on the server.",
    )
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
        // the web view
        .route("/", get(web::home))
        .route("/composes/", get(web::list))
        .route("/composes", get(web::list))
        .route("/composes/{id}", get(web::detail))
        .route("/composes/{id}/renew", axum::routing::post(web::renew))
        .route("/composes/{id}/delete", axum::routing::post(web::delete))
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
