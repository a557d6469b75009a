//! The compose trees under `/odcs/`, served by this process when the target
//! URL points at it: only what a `done` compose holds.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, not_found};
use crate::domain::TargetEntry;
use crate::store::{ComposeState, StoreError};

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
pub(super) async fn serve_done_trees(
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
