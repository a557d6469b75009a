//! The one place HTTP errors are made: [`ApiError`] writes the original's
//! envelope `{"status", "error", "message"}` (odcs-api.md §1.3); a database
//! that is down or full is a 503 with `Retry-After`, reported once a minute.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::validate::Invalid;
use crate::store::StoreError;

/// The one place HTTP errors are made.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    /// 401 with a `WWW-Authenticate` header per accepted scheme.
    Unauthorized {
        message: String,
        challenges: Vec<String>,
    },
    /// 403: the caller may not do this; the message says which constraint.
    Forbidden(String),
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
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::throttle::error_text(e)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized {
                message,
                challenges,
            } => {
                let mut r = error_response(StatusCode::UNAUTHORIZED, &message);
                for c in challenges {
                    if let Ok(v) = header::HeaderValue::from_str(&c) {
                        r.headers_mut().append(header::WWW_AUTHENTICATE, v);
                    }
                }
                return r;
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
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

pub(super) fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "status": status.as_u16(),
        "error": status.canonical_reason().unwrap_or(""),
        "message": message,
    });
    (status, Json(body)).into_response()
}
