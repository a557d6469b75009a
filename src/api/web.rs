//! The web view (#19, first part): pages rendered here, readable without
//! JavaScript, for release engineers who look at composes more than they
//! script them.
//!
//! - `/`: what the service is, its configuration summary, counts per state,
//!   the newest composes;
//! - `/composes/`: the list with the API's filters (`state`, `source_type`
//!   by name or number, `source`, `owner`, `label`, `compose_type`,
//!   `submitted_after`, `submitted_before`, `order_by`, `page`,
//!   `per_page`), paged; the headings of the columns the
//!   API orders by (id, state, owner, submitted) link to that order, keeping
//!   the filters;
//! - `/composes/<id>`: every field, the state with its reason, the
//!   progress (the page reloads itself every 5 s while `wait`/`generating`,
//!   by a `<meta http-equiv="refresh">`), the end of its log, links to the
//!   `.repo` file, the tree and the productmd metadata, the compose it
//!   reuses, and for done composes its packages (`?q=` narrows them).
//!
//! - `POST /composes/<id>/renew` and `/composes/<id>/delete`: the buttons of
//!   a compose page. They run the API's PATCH and DELETE with the caller's
//!   credentials (the same authentication and policy), then show the compose;
//!   a refusal is a page that says why and which authentication this server
//!   takes. A form post from another site is refused (its `Origin` must be
//!   this server), so a page elsewhere cannot renew or delete with a
//!   visitor's credentials. A visitor the request already names (noauth, a
//!   client certificate, a trusted proxy's header, a token) sees only the
//!   buttons the policy allows it, and why the others are missing; a visitor
//!   not known yet (Kerberos and passwords are sent only when challenged)
//!   sees them with a line saying which authentication the post will ask
//!   for. The server decides on the post either way.
//!
//! Every value is escaped ([`esc`]): sources and labels are user input. The
//! pages are plain HTML with a little CSS that fits a phone-width screen.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{ApiError, AppState, compose_json};
use crate::store::{ComposeState, StoreError};

/// `s` safe inside HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as text (strings without quotes; null as empty).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:0 1rem;color:#222}\
nav{display:flex;flex-wrap:wrap;gap:1rem;padding:.75rem 0;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee;vertical-align:top}\
.scroll{overflow-x:auto}pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;padding:.5rem}\
.state-done{color:#185}.state-failed{color:#b22}.state-generating,.state-wait{color:#a60}.state-removed{color:#777}\
form{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}.actions{display:flex;gap:1rem}input,select{max-width:12rem}\
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem}dd{margin:0;word-break:break-all}";

/// A whole page.
fn page(title: &str, head_extra: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — ODCS</title>{head_extra}<style>{STYLE}</style></head><body>\
         <nav><a href=\"/\">ODCS</a><a href=\"/composes/\">Composes</a>\
         <a href=\"/api/1/composes/\">API</a><a href=\"/api/1/about/\">About</a>\
         <a href=\"/api/1/openapi.json\">OpenAPI</a></nav><main>{body}</main></body></html>\n",
        esc(title)
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn state_cell(name: &str) -> String {
    format!("<span class=\"state-{0}\">{0}</span>", esc(name))
}

/// How the list's column headings link to its orders: the order shown
/// (`order_by` as given, `-id` by default) and the rest of the query.
struct Sorting {
    current: String,
    others: String,
}

/// A column heading; for a column the API orders by, a link that orders by
/// it (descending first, ascending when it is already descending), marked
/// with the direction it is shown in.
fn heading(label: &str, column: Option<&str>, sorting: Option<&Sorting>) -> String {
    let (Some(column), Some(sorting)) = (column, sorting) else {
        return format!("<th>{label}</th>");
    };
    let descending = format!("-{column}");
    let (next, mark) = if sorting.current == descending {
        (column.to_owned(), " \u{25bc}")
    } else if sorting.current == column {
        (descending, " \u{25b2}")
    } else {
        (descending, "")
    };
    format!(
        "<th><a href=\"/composes/?order_by={}{}\">{label}</a>{mark}</th>",
        esc(&super::list::urlencode(&next)),
        sorting.others
    )
}

/// The query's parameters but `skip`, as `&k=v` pairs escaped for an
/// attribute: what a link keeps of the list it leaves.
fn query_rest(params: &[(String, String)], skip: &[&str]) -> String {
    params
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| {
            format!(
                "&{}={}",
                esc(&super::list::urlencode(k)),
                esc(&super::list::urlencode(v))
            )
        })
        .collect()
}

/// Rows of composes (as the API renders them), with sorting links in the
/// headings when `sorting` is given.
fn table(items: &[Value], sorting: Option<&Sorting>) -> String {
    let mut t = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (label, column) in [
        ("id", Some("id")),
        ("state", Some("state")),
        ("source", None),
        ("owner", Some("owner")),
        ("label", None),
        ("submitted", Some("time_submitted")),
    ] {
        t.push_str(&heading(label, column, sorting));
    }
    t.push_str("</tr></thead><tbody>");
    for c in items {
        let _ = write!(
            t,
            "<tr><td><a href=\"/composes/{id}\">{id}</a></td><td>{state}</td>\
             <td>{kind}: {source}</td><td>{owner}</td><td>{label}</td><td>{time}</td></tr>",
            id = esc(&text(&c["id"])),
            state = state_cell(&text(&c["state_name"])),
            kind = esc(&text(&c["source_type"])
                .parse::<i64>()
                .ok()
                .and_then(crate::domain::SourceType::from_code)
                .map(|t| t.name().to_owned())
                .unwrap_or_default()),
            source = esc(&text(&c["source"])),
            owner = esc(&text(&c["owner"])),
            label = esc(&text(&c["label"])),
            time = esc(&text(&c["time_submitted"])),
        );
    }
    t.push_str("</tbody></table></div>");
    t
}

/// `GET /`.
pub(super) async fn home(State(app): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let mut counts = [0u64; 5];
    for (_, state, n) in app.store.count_composes_by_type_and_state().await? {
        if let Some(i) = ComposeState::ALL.iter().position(|s| *s as i64 == state) {
            counts[i] += n;
        }
    }
    let q = super::list::parse_list_query(&[("per_page".into(), "10".into())])?;
    let (rows, _) = super::list::list_page(&app, &q).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| compose_json(r, &app.target_dirs, false))
        .collect();
    let mut b = String::from(
        "<h1>On Demand Compose Service</h1><p>Temporary RPM repositories (composes) made on \
         request from Koji builds, tags and modules, served over HTTP and removed when they \
         expire. The Python <code>odcs</code> client and CLI work against \
         <a href=\"/api/1/composes/\">its REST API</a>.</p><h2>Composes</h2><p>",
    );
    for (s, n) in ComposeState::ALL.iter().zip(counts) {
        let _ = write!(
            b,
            "<a href=\"/composes/?state={0}\">{1}</a>: {n} &nbsp; ",
            s.name(),
            state_cell(s.name())
        );
    }
    let _ = write!(
        b,
        "</p><h2>Newest</h2>{}<p><a href=\"/composes/\">All composes</a></p>\
         <h2>This server</h2><dl><dt>authentication</dt><dd>{}</dd><dt>arches</dt><dd>{}</dd>\
         <dt>composes served at</dt><dd>{}</dd><dt>Pungi</dt><dd>{}</dd></dl>",
        table(&items, None),
        esc(&app.auth.backend_names()),
        esc(&app.arches.join(" ")),
        esc(app.target_dirs.default.url.as_deref().unwrap_or("")),
        if app.pungi {
            "configured"
        } else {
            "not configured"
        },
    );
    Ok(page("Composes", "", &b))
}

/// `GET /composes/`.
pub(super) async fn list(
    State(app): State<Arc<AppState>>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let q = super::list::parse_list_query(&params)?;
    let (rows, total) = super::list::list_page(&app, &q).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| compose_json(r, &app.target_dirs, false))
        .collect();
    let given = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut b = String::from("<h1>Composes</h1><form method=\"get\" action=\"/composes/\">");
    let _ = write!(
        b,
        "<select name=\"state\" aria-label=\"state\"><option value=\"\">any state</option>"
    );
    for s in ComposeState::ALL {
        let _ = write!(
            b,
            "<option{}>{}</option>",
            if given("state") == s.name() {
                " selected"
            } else {
                ""
            },
            s.name()
        );
    }
    b.push_str("</select><select name=\"source_type\" aria-label=\"source type\"><option value=\"\">any source type</option>");
    for t in crate::domain::SourceType::ALL {
        let _ = write!(
            b,
            "<option{}>{}</option>",
            if given("source_type") == t.name() {
                " selected"
            } else {
                ""
            },
            t.name()
        );
    }
    b.push_str("</select>");
    for (k, label) in [("source", "source"), ("owner", "owner"), ("label", "label")] {
        let _ = write!(
            b,
            "<input name=\"{k}\" placeholder=\"{label}\" aria-label=\"{label}\" value=\"{}\">",
            esc(given(k))
        );
    }
    for (k, label) in [
        ("submitted_after", "submitted on or after"),
        ("submitted_before", "submitted before"),
    ] {
        let _ = write!(
            b,
            "<label>{label} <input type=\"date\" name=\"{k}\" aria-label=\"{label}\" value=\"{}\"></label>",
            esc(given(k))
        );
    }
    b.push_str("<button>Filter</button></form>");
    let pages = if q.per_page == 0 {
        0
    } else {
        total.div_ceil(u64::from(q.per_page))
    };
    let _ = write!(b, "<p>{total} composes, page {} of {pages}</p>", q.page);
    let sorting = Sorting {
        current: params
            .iter()
            .find(|(k, v)| k == "order_by" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| "-id".into()),
        others: query_rest(&params, &["page", "order_by"]),
    };
    b.push_str(&table(&items, Some(&sorting)));
    let others = query_rest(&params, &["page"]);
    b.push_str("<p>");
    if q.page > 1 {
        let _ = write!(
            b,
            "<a href=\"/composes/?page={}{others}\">previous</a> ",
            q.page - 1
        );
    }
    if u64::from(q.page) < pages {
        let _ = write!(
            b,
            "<a href=\"/composes/?page={}{others}\">next</a>",
            q.page + 1
        );
    }
    b.push_str("</p>");
    Ok(page("Composes", "", &b))
}

/// The last `n` lines of a file, if it can be read.
fn tail(path: &std::path::Path, n: usize) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    Some(lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// `GET /composes/<id>`.
pub(super) async fn detail(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    caller: super::caller::Caller,
) -> Result<Response, ApiError> {
    let Ok(id) = id.trim_end_matches('/').parse::<i64>() else {
        return Err(ApiError::NotFound("No such compose found.".into()));
    };
    let row = match app.store.find_compose(id).await {
        Ok(r) => r,
        Err(StoreError::NotFound { .. }) => {
            return Ok(page(
                "Not found",
                "",
                &format!("<h1>No compose {id}</h1><p><a href=\"/composes/\">All composes</a></p>"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let c = compose_json(&row, &app.target_dirs, false);
    let live = matches!(row.state, ComposeState::Wait | ComposeState::Generating);
    let state = text(&c["state_name"]);
    let mut b = format!("<h1>Compose {id}</h1><p>{}", state_cell(&state));
    if let Some(reason) = c["state_reason"].as_str() {
        let _ = write!(b, ": {}", esc(reason));
    }
    b.push_str("</p>");
    if live && let Some(p) = c["progress"].as_str() {
        let _ = write!(
            b,
            "<p>Progress: <strong>{}</strong> (this page reloads every 5 s)</p>",
            esc(p)
        );
    }
    let link = |url: &str, what: &str| format!("<a href=\"{}\">{what}</a>", esc(url));
    let mut links = Vec::new();
    if let Some(u) = c["result_repofile"].as_str().filter(|u| !u.is_empty()) {
        links.push(link(u, ".repo file"));
    }
    if let Some(u) = c["toplevel_url"].as_str().filter(|u| !u.is_empty())
        && row.state == ComposeState::Done
    {
        links.push(link(u, "tree"));
        links.push(link(
            &format!("{u}/compose/metadata/composeinfo.json"),
            "composeinfo.json",
        ));
        links.push(link(
            &format!("{u}/compose/metadata/rpms.json"),
            "rpms.json",
        ));
    }
    if let Some(r) = row.reused_id {
        links.push(format!("reuses <a href=\"/composes/{r}\">compose {r}</a>"));
    }
    links.push(format!("<a href=\"/api/1/composes/{id}\">JSON</a>"));
    let _ = write!(b, "<p>{}</p>", links.join(" · "));
    // who is asking, once for both buttons
    let visitor = caller.identify(&app).await;
    let mut buttons = String::new();
    let mut notes = Vec::new();
    let mut show = |may: May, form: String| match may {
        May::Yes => buttons.push_str(&form),
        May::Unknown => {
            buttons.push_str(&form);
            let how = format!(
                "Renewing or deleting a compose needs authentication; this server takes: {}. \
                 The button asks for it.",
                app.auth.backend_names()
            );
            if !notes.contains(&how) {
                notes.push(how);
            }
        }
        May::No(why) => notes.push(why),
    };
    if matches!(
        row.state,
        ComposeState::Done | ComposeState::Failed | ComposeState::Removed
    ) {
        let seconds = super::validate::seconds_to_live(&Value::Null, app.lifetime).ok();
        let may = may(&app, &visitor, "renew-compose", |who| match seconds {
            Some(seconds) => app
                .auth
                .policy
                .check_renew(who, &row.owner, &super::caller::subject_of(&row, seconds))
                .map(|_| ()),
            None => Ok(()),
        });
        show(
            may,
            format!(
                "<form method=\"post\" action=\"/composes/{id}/renew\"><button>Renew</button></form>"
            ),
        );
    }
    if row.state != ComposeState::Removed {
        let what = if live { "Cancel" } else { "Delete" };
        let may = may(&app, &visitor, "delete-compose", |who| {
            app.auth.policy.check_delete(who, &row.owner)
        });
        show(
            may,
            format!(
                "<form method=\"post\" action=\"/composes/{id}/delete\"><button>{what}</button></form>"
            ),
        );
    }
    let notes: String = notes
        .iter()
        .map(|n| format!("<p class=\"note\">{}</p>", esc(n)))
        .collect();
    let _ = write!(
        b,
        "<div class=\"actions\">{buttons}</div>{notes}<h2>Fields</h2><dl>"
    );
    if let Value::Object(fields) = &c {
        for (k, v) in fields {
            let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&text(v)));
        }
    }
    b.push_str("</dl>");
    if let Some(dir) = app.target_dirs.get(&row.target_dir)
        && let Some(log) = tail(&dir.path.join(format!("odcs-{id}.log")), 40)
    {
        let _ = write!(b, "<h2>Log (last lines)</h2><pre>{}</pre>", esc(&log));
    }
    if row.state == ComposeState::Done {
        let want = params
            .iter()
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.to_lowercase())
            .unwrap_or_default();
        let rpms = app.store.compose_rpms(row.reused_id.unwrap_or(id)).await?;
        let shown: Vec<_> = rpms
            .iter()
            .filter(|r| want.is_empty() || r.nevra.to_lowercase().contains(&want))
            .collect();
        let _ = write!(
            b,
            "<h2>Packages</h2><form method=\"get\"><input name=\"q\" aria-label=\"search packages\" \
             placeholder=\"search packages\" value=\"{}\"><button>Search</button></form>\
             <p>{} of {} RPMs</p><div class=\"scroll\"><table><tbody>",
            esc(&want),
            shown.len(),
            rpms.len()
        );
        for r in shown {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.nevra),
                esc(&r.category),
                esc(r.sigkey.as_deref().unwrap_or("unsigned"))
            );
        }
        b.push_str("</tbody></table></div>");
    }
    let head = if live {
        "<meta http-equiv=\"refresh\" content=\"5\">"
    } else {
        ""
    };
    Ok(page(&format!("Compose {id}"), head, &b))
}

/// Whether a form post came from a page of this server: its `Origin` (or,
/// without one, its `Referer`) names the host the request was sent to.
fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let get = |h| headers.get(h).and_then(|v| v.to_str().ok());
    let Some(host) = get(header::HOST) else {
        return false;
    };
    let from = get(header::ORIGIN).or_else(|| get(header::REFERER));
    from.and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .is_some_and(|h| h == host)
}

/// What a refused action says, as a page with the API's status (and, for
/// 401, its `WWW-Authenticate` challenges, so a browser can log in).
async fn refused(app: &AppState, e: ApiError) -> Response {
    let resp = e.into_response();
    let status = resp.status();
    let challenges: Vec<_> = resp
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .cloned()
        .collect();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let mut b = format!(
        "<h1>Not done</h1><p>{} {}</p><p>{}</p>",
        status.as_u16(),
        esc(status.canonical_reason().unwrap_or("")),
        esc(&message)
    );
    if status == axum::http::StatusCode::UNAUTHORIZED || status == axum::http::StatusCode::FORBIDDEN
    {
        let _ = write!(
            b,
            "<p>This server authenticates with: {}. Log in with one of them (a Kerberos \
             ticket, a token, a client certificate) and send the form again; the \
             <code>odcs</code> command line client does the same from a terminal.</p>",
            esc(&app.auth.backend_names())
        );
    }
    b.push_str("<p><a href=\"/composes/\">All composes</a></p>");
    let mut r = page("Not done", "", &b);
    *r.status_mut() = status;
    for c in challenges {
        r.headers_mut().append(header::WWW_AUTHENTICATE, c);
    }
    r
}

/// The id of the compose a successful API answer is about (a renewal of a
/// removed compose is a new one), or `id`.
async fn answered_id(resp: Response, id: &str) -> String {
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["id"].as_i64())
        .map(|i| i.to_string())
        .unwrap_or_else(|| id.to_owned())
}

fn see_other(to: &str) -> Response {
    (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_owned())],
    )
        .into_response()
}

/// Whether the visitor of a page may use one of its buttons.
enum May {
    Yes,
    /// Refused, and why (the policy's or the scope check's words).
    No(String),
    /// Not known before the visitor authenticates: a browser sends a
    /// Kerberos ticket or a password only when challenged, which the post
    /// does.
    Unknown,
}

/// What the policy says of the `visitor` for `check`, when the request
/// already says who it is (noauth, a client certificate, a trusted proxy's
/// header, a token sent with every request), with the OIDC `scope` the
/// button's method needs.
fn may(
    app: &AppState,
    visitor: &Result<super::caller::Authorized, ApiError>,
    scope: &str,
    check: impl FnOnce(&crate::auth::Identity) -> Result<(), crate::auth::Refused>,
) -> May {
    let refused = |e: ApiError| match e {
        ApiError::Forbidden(why) => May::No(why),
        _ => May::Unknown,
    };
    match visitor {
        Ok(who) => match app.auth.check_scope(&who.identity, scope) {
            Err(e) => refused(super::caller::auth_error(app, e)),
            Ok(_) => match check(&who.identity) {
                Ok(()) => May::Yes,
                Err(r) => May::No(r.0),
            },
        },
        Err(ApiError::Forbidden(why)) => May::No(why.clone()),
        Err(_) => May::Unknown,
    }
}

/// `POST /composes/<id>/renew`: the API's PATCH with an empty body.
pub(super) async fn renew(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    caller: super::caller::Caller,
) -> Response {
    let run = super::renew_compose(
        State(app.clone()),
        Path(id.clone()),
        caller,
        axum::body::Body::empty(),
    );
    act(&app, &id, &headers, "renew", run).await
}

/// `POST /composes/<id>/delete`: the API's DELETE (a cancel while live).
pub(super) async fn delete(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    caller: super::caller::Caller,
) -> Response {
    let run = super::delete_compose(State(app.clone()), Path(id.clone()), caller);
    act(&app, &id, &headers, "delete", run).await
}

/// A button's post: refused from another origin, else the API handler
/// `run` (not started before the check), then the compose it is about
/// (a renewal of a removed compose is a new one) or why not.
async fn act(
    app: &AppState,
    id: &str,
    headers: &axum::http::HeaderMap,
    verb: &str,
    run: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    if !same_origin(headers) {
        let e = ApiError::Forbidden(format!(
            "a form of another site cannot {verb} composes here"
        ));
        return refused(app, e).await;
    }
    match run.await {
        Ok(resp) => see_other(&format!("/composes/{}", answered_id(resp, id).await)),
        Err(e) => refused(app, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_text_and_attributes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
