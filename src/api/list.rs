//! `GET /api/1/composes/`: filters, ordering and pages as the original
//! answers them (odcs-api.md §3.1).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, AppState, ComposeView, cors};
use crate::store::{ComposeFilter, ComposeState, OrderBy};

pub(super) async fn list_composes(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let q = parse_list_query(&params)?;
    let (rows, total) = list_page(&app, &q).await?;
    let (page, per_page) = (q.page, q.per_page);
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
    // written straight from the rows: no `Value` tree per compose
    #[derive(serde::Serialize)]
    struct Page<'a> {
        items: Vec<ComposeView<'a>>,
        meta: Value,
    }
    let items: Vec<ComposeView> = rows
        .iter()
        .map(|r| ComposeView::new(r, &app.target_dirs, false))
        .collect();
    // into a buffer about the page's size at once: grown from 128 bytes by
    // doubling (axum's `Json`), a page of 10 took several allocations of
    // 1 KB or more, and glibc consolidates its free lists before each
    // (`malloc_consolidate` was 4–5% of the first-page bench in perf, with
    // SQLite's sorter, see `Store::list_composes`)
    let mut body = Vec::with_capacity(PAGE_BYTES_PER_ITEM * (items.len() + 1));
    serde_json::to_writer(&mut body, &Page { items, meta }).expect("a page serializes to JSON");
    Ok(cors(
        ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
    ))
}

/// A little more than one compose takes in a page (1,232 bytes for a
/// failed tag compose of one package): the buffer a page is written into is
/// sized from it.
const PAGE_BYTES_PER_ITEM: usize = 2048;

/// A list request's filters, order and page, as the API reads them.
pub(super) struct ListQuery {
    pub filter: ComposeFilter,
    pub order: OrderBy,
    pub page: u32,
    pub per_page: u32,
    /// A filter that can match nothing (a name or number that is no state).
    pub impossible: bool,
}

/// The query of `GET /api/1/composes/` (and of the web view's list).
pub(super) fn parse_list_query(params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let first = |k: &str| {
        params
            .iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    // numeric filters: a non-number matches nothing (odcs-api.md §3.1);
    // `state` and `source_type` also take their names (`done`, `tag`), an
    // unknown name matching nothing too
    let mut impossible = false;
    let mut int = |k: &str, name: &dyn Fn(&str) -> Option<i64>| -> Option<i64> {
        let v = first(k)?;
        let parsed = v.parse::<i64>().ok().or_else(|| name(&v));
        impossible |= parsed.is_none();
        parsed
    };
    let source_type = int("source_type", &|n| {
        crate::domain::SourceType::from_name(n).map(|t| t.code())
    });
    let state_code = int("state", &|n| ComposeState::from_name(n).map(|s| s as i64));
    let koji_task_id = int("koji_task_id", &|_| None);
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
    // extensions of this server (the original has none): a time range of
    // submission, as a date (the start of that day, UTC) or the API's time
    let instant = |k: &str| -> Result<Option<crate::store::Timestamp>, ApiError> {
        match first(k) {
            None => Ok(None),
            Some(v) => crate::date::parse_instant(&v)
                .map(|t| Some(crate::store::Timestamp(t)))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{k}: expected a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM:SSZ), got {v:?}"
                    ))
                }),
        }
    };
    let submitted_after = instant("submitted_after")?;
    let submitted_before = instant("submitted_before")?;
    let filter = ComposeFilter {
        submitted_after,
        submitted_before,
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
    // no stored text holds a NUL (PostgreSQL cannot store one, and refuses
    // it in a parameter: a 500 before this)
    impossible |= [
        &filter.owner,
        &filter.source,
        &filter.pungi_compose_id,
        &filter.compose_type,
        &filter.label,
    ]
    .into_iter()
    .flatten()
    .any(|v| v.contains('\0'));
    Ok(ListQuery {
        filter,
        order,
        page,
        per_page,
        impossible,
    })
}

/// One page of composes, and how many match in all.
pub(super) async fn list_page(
    app: &AppState,
    q: &ListQuery,
) -> Result<(Vec<crate::store::ComposeRow>, u64), ApiError> {
    let (filter, order, page, per_page, impossible) =
        (&q.filter, q.order, q.page, q.per_page, q.impossible);
    let (rows, total) = if impossible || per_page == 0 {
        let (_, total) = if impossible {
            (Vec::new(), 0)
        } else {
            app.store.list_composes(filter, order, 1, 1).await?
        };
        (Vec::new(), total)
    } else {
        app.store
            .list_composes(filter, order, page, per_page)
            .await?
    };
    Ok((rows, total))
}

pub(super) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
