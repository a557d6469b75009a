//! The caller of a request that changes something: authenticated by
//! [`crate::auth::Authenticator`] before the body is read, its OIDC scope
//! checked, and the policy's subject made from a request or a stored compose.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

use super::{ApiError, AppState};
use crate::auth::{AuthError, Identity, Peer, Refused, Subject};
use crate::domain::{Flag, ResultKind, SourceType};
use crate::store::ComposeRow;

/// The subject CN of the verified client certificate of a TLS connection,
/// put in the request's extensions by the TLS listener.
#[derive(Clone, Debug)]
pub struct ClientCn(pub String);

/// The headers and the connection of a request.
pub struct Caller {
    headers: HeaderMap,
    peer: Peer,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            headers: parts.headers.clone(),
            peer: Peer {
                ip: parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip()),
                client_cn: parts.extensions.get::<ClientCn>().map(|c| c.0.clone()),
            },
        })
    }
}

/// An authenticated caller, and what goes back with the answer.
pub struct Authorized {
    pub identity: Identity,
    reply: Option<String>,
}

impl Authorized {
    /// The Kerberos mutual-authentication token, on the answer.
    pub fn finish(&self, mut r: Response) -> Response {
        if let Some(reply) = &self.reply
            && let Ok(v) = HeaderValue::from_str(&format!("Negotiate {reply}"))
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }

    /// Who `removed_by` and cancel reasons name.
    pub fn name(&self) -> &str {
        if self.identity.anonymous_admin {
            "anonymous"
        } else {
            &self.identity.user
        }
    }
}

impl Caller {
    /// Who is calling, with the OIDC scope the method needs (`new-compose`,
    /// `renew-compose`, `delete-compose`).
    pub async fn authenticate(&self, app: &AppState, scope: &str) -> Result<Authorized, ApiError> {
        let who = self.identify(app).await?;
        app.auth
            .check_scope(&who.identity, scope)
            .map_err(|e| auth_error(app, e))?;
        Ok(who)
    }

    /// Who is calling, whatever the OIDC scopes (the web pages ask once,
    /// then check the scope of each button).
    pub async fn identify(&self, app: &AppState) -> Result<Authorized, ApiError> {
        let done = app
            .auth
            .authenticate(&self.headers, &self.peer, &app.store)
            .await
            .map_err(|e| auth_error(app, e))?;
        Ok(Authorized {
            identity: done.identity,
            reply: done.reply,
        })
    }
}

pub fn auth_error(app: &AppState, e: AuthError) -> ApiError {
    match e {
        AuthError::Unauthenticated(ref m) | AuthError::InvalidToken(ref m) => {
            ApiError::Unauthorized {
                message: m.clone(),
                challenges: app.auth.challenges(Some(&e)),
            }
        }
        AuthError::Forbidden(m) => ApiError::Forbidden(m),
        AuthError::Unavailable(m) => {
            tracing::warn!("auth: {m}");
            ApiError::Unavailable(m)
        }
    }
}

impl From<Refused> for ApiError {
    fn from(r: Refused) -> Self {
        ApiError::Forbidden(r.0)
    }
}

/// The policy's view of a stored compose (for a renewal): its values, the
/// new lifetime.
pub fn subject_of(c: &ComposeRow, seconds_to_live: i64) -> Subject {
    Subject {
        source_type: SourceType::from_code(c.source_type)
            .map(|t| t.name().to_owned())
            .unwrap_or_default(),
        sources: c.source.split_whitespace().map(str::to_owned).collect(),
        arches: c.arches.split_whitespace().map(str::to_owned).collect(),
        flags: Flag::names(c.flags),
        results: ResultKind::names(c.results),
        compose_type: c.compose_type.clone().unwrap_or_else(|| "test".into()),
        target_dir: None,
        raw_config_key: None,
        seconds_to_live,
    }
}

/// The policy's view of a create request.
pub fn subject_of_request(r: &super::validate::CreateRequest) -> Subject {
    Subject {
        source_type: r.source_type_name.clone(),
        sources: r.source.split_whitespace().map(str::to_owned).collect(),
        arches: r.arches.split_whitespace().map(str::to_owned).collect(),
        flags: Flag::names(i64::from(r.flags)),
        results: ResultKind::names(i64::from(r.results)),
        compose_type: r.compose_type.clone(),
        target_dir: (!r.target_dir.is_empty() && r.target_dir != crate::domain::DEFAULT_TARGET_DIR)
            .then(|| r.target_dir.clone()),
        raw_config_key: None,
        seconds_to_live: r.seconds_to_live,
    }
}

/// Refused when the caller already has as many composes in `wait` or
/// `generating` as the policy allows.
pub async fn check_active_limit(
    app: &AppState,
    who: &Identity,
    max: Option<u32>,
) -> Result<(), ApiError> {
    let Some(max) = max else {
        return Ok(());
    };
    let active = app.store.active_composes_of(&who.user).await?;
    if active >= i64::from(max) {
        return Err(ApiError::Forbidden(format!(
            "User {} already has {active} composes waiting or generating, the most allowed ({max}); try again when one is done.",
            who.user
        )));
    }
    Ok(())
}
