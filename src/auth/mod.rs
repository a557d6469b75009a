//! Authentication and authorization (odcs-api.md §8): who the caller of a
//! request that changes something is, and whether the policy lets them.
//!
//! Reading stays open. POST, PATCH and DELETE go through
//! [`Authenticator::authenticate`] before their body is read and through
//! [`policy::Policy`] before anything is written, so a refused request leaves
//! no trace in the database or the queue.
//!
//! Credentials are looked for in this order, and the first found decides
//! (a bad credential is refused, not skipped): the trusted proxy's header,
//! a TLS client certificate, then the `Authorization` header (`Bearer odcs_…`
//! API token, `Bearer <JWT>` OIDC, `Negotiate` Kerberos). A request with none
//! is anonymous under `noauth`, else a 401 whose `WWW-Authenticate` headers
//! name the schemes accepted (the Python client's Kerberos mech waits for
//! `Negotiate` before it sends a ticket).
//!
//! Departure from DESIGN.md's list: `kerberos` is built in (MIT GSSAPI
//! through a C shim, as libsolv is), not only behind a front server.

pub mod cert;
pub mod jwt;
pub mod kerberos;
pub mod ldap;
pub mod oidc;
pub mod policy;
pub mod proxy;
pub mod tokens;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::config::auth::{AuthConfig, Backend};
use crate::store::Store;
pub use policy::{Grant, Policy, Refused, Subject};

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: BTreeSet<String>,
    /// The token's scopes (OIDC only).
    pub scopes: Option<BTreeSet<String>>,
    /// The backend that authenticated the caller.
    pub via: &'static str,
    /// `noauth`'s anonymous caller, who may do everything.
    pub anonymous_admin: bool,
}

impl Identity {
    pub fn new(
        user: &str,
        groups: impl IntoIterator<Item = String>,
        via: &'static str,
    ) -> Identity {
        Identity {
            user: user.to_owned(),
            groups: groups.into_iter().collect(),
            scopes: None,
            via,
            anonymous_admin: false,
        }
    }

    /// The caller of a `noauth` service: owner `unknown`, as in the original.
    pub fn anonymous() -> Identity {
        Identity {
            anonymous_admin: true,
            ..Identity::new("unknown", [], "noauth")
        }
    }
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// 401: no credentials, or ones that authenticate nobody.
    Unauthenticated(String),
    /// 401 with `error="invalid_token"` in the Bearer challenge.
    InvalidToken(String),
    /// 403: authenticated (or spoofed), and not allowed.
    Forbidden(String),
    /// 503: the identity provider or the database could not be asked.
    Unavailable(String),
}

/// What the caller's connection tells besides the headers.
#[derive(Clone, Debug, Default)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    /// The subject CN of a verified TLS client certificate.
    pub client_cn: Option<String>,
}

/// The configured backends, LDAP groups and policy.
pub struct Authenticator {
    backends: Vec<Backend>,
    oidc: Option<Arc<oidc::Oidc>>,
    kerberos: Option<Arc<kerberos::Kerberos>>,
    proxy: Option<proxy::ProxyHeader>,
    ldap: Option<ldap::LdapGroups>,
    pub policy: Policy,
}

/// A successful authentication, and the token to send back, if any (the
/// Kerberos mutual-authentication reply).
pub struct Authenticated {
    pub identity: Identity,
    pub reply: Option<String>,
}

impl Authenticator {
    /// `cache_dir` holds the Kerberos replay cache.
    pub fn new(cfg: &AuthConfig, cache_dir: &std::path::Path) -> Result<Authenticator, String> {
        let on = |b| cfg.backends.contains(&b);
        Ok(Authenticator {
            backends: cfg.backends.clone(),
            oidc: cfg
                .oidc
                .as_ref()
                .filter(|_| on(Backend::Oidc))
                .map(|c| Arc::new(oidc::Oidc::new(c))),
            kerberos: match cfg.kerberos.as_ref().filter(|_| on(Backend::Kerberos)) {
                Some(c) => Some(Arc::new(kerberos::Kerberos::new(c, cache_dir)?)),
                None => None,
            },
            proxy: match cfg
                .proxy_header
                .as_ref()
                .filter(|_| on(Backend::ProxyHeader))
            {
                Some(c) => Some(proxy::ProxyHeader::new(c)?),
                None => None,
            },
            ldap: cfg.ldap.as_ref().map(ldap::LdapGroups::new),
            policy: Policy {
                admins: cfg.admins.clone(),
                allowed: cfg.allowed_clients.clone(),
                renew_owner_only: cfg.renew_owner_only,
                max_active_composes: cfg.max_active_composes,
            },
        })
    }

    pub fn is_on(&self, b: Backend) -> bool {
        self.backends.contains(&b)
    }

    /// The backends, as `/api/1/about/` reports them.
    pub fn backend_names(&self) -> String {
        self.backends
            .iter()
            .map(|b| b.name())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The `WWW-Authenticate` challenges of a 401.
    pub fn challenges(&self, error: Option<&AuthError>) -> Vec<String> {
        let mut out = Vec::new();
        if self.is_on(Backend::Kerberos) {
            out.push("Negotiate".to_owned());
        }
        if self.is_on(Backend::Oidc) || self.is_on(Backend::Token) {
            match error {
                Some(AuthError::InvalidToken(m)) => out.push(format!(
                    "Bearer realm=\"odcs\", error=\"invalid_token\", error_description=\"{}\"",
                    m.replace(['"', '\\'], "'")
                )),
                _ => out.push("Bearer realm=\"odcs\"".to_owned()),
            }
        }
        out
    }

    /// Who is calling: the first credential found decides; none is the
    /// anonymous caller under `noauth`, else a 401.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        store: &Store,
    ) -> Result<Authenticated, AuthError> {
        let (identity, reply) = match self.credentials(headers, peer, store).await? {
            Some(found) => found,
            None if self.is_on(Backend::Noauth) => {
                return Ok(Authenticated {
                    identity: Identity::anonymous(),
                    reply: None,
                });
            }
            None => return Err(AuthError::Unauthenticated(self.missing_message())),
        };
        let mut identity = identity;
        if let Some(ldap) = &self.ldap {
            identity.groups.extend(ldap.groups(&identity.user).await);
        }
        Ok(Authenticated { identity, reply })
    }

    fn missing_message(&self) -> String {
        let mut ways = Vec::new();
        for b in &self.backends {
            ways.push(match b {
                Backend::Oidc => "an OIDC bearer token",
                Backend::Kerberos => "Kerberos (Negotiate)",
                Backend::ProxyHeader => "the front server's login",
                Backend::Cert => "a TLS client certificate (on the TLS listener)",
                Backend::Token => "an API token (Bearer odcs_…)",
                Backend::Noauth => continue,
            });
        }
        format!(
            "This request needs authentication: send {}.",
            ways.join(", or ")
        )
    }

    async fn credentials(
        &self,
        headers: &HeaderMap,
        peer: &Peer,
        store: &Store,
    ) -> Result<Option<(Identity, Option<String>)>, AuthError> {
        if let Some(proxy) = &self.proxy
            && let Some(id) = proxy.identify(headers, peer.ip)?
        {
            return Ok(Some((id, None)));
        }
        if self.is_on(Backend::Cert)
            && let Some(cn) = &peer.client_cn
        {
            return Ok(Some((Identity::new(cn, [], "cert"), None)));
        }
        let Some(value) = headers.get(AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| {
            AuthError::Unauthenticated("the Authorization header is not text".into())
        })?;
        let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim().to_owned();
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" if credential.starts_with(tokens::PREFIX) && self.is_on(Backend::Token) => {
                let row = store
                    .use_token(&tokens::hash(&credential))
                    .await
                    .map_err(|e| {
                        AuthError::Unavailable(format!("the API tokens cannot be read: {e}"))
                    })?
                    .ok_or_else(|| {
                        AuthError::InvalidToken(
                            "the API token is unknown, revoked or expired".into(),
                        )
                    })?;
                Ok(Some((Identity::new(&row.owner, [], "token"), None)))
            }
            "bearer" if self.oidc.is_some() => {
                let oidc = self.oidc.clone().unwrap_or_else(|| unreachable!());
                let id = blocking(move || oidc.identify(&credential)).await?;
                Ok(Some((id, None)))
            }
            "negotiate" if self.kerberos.is_some() => {
                let krb = self.kerberos.clone().unwrap_or_else(|| unreachable!());
                let (id, reply) = blocking(move || krb.accept(&credential)).await?;
                Ok(Some((id, reply)))
            }
            _ => Err(AuthError::Unauthenticated(format!(
                "the Authorization scheme {scheme:?} is not accepted here. {}",
                self.missing_message()
            ))),
        }
    }

    /// The OIDC scope a request needs (`new-compose`, `renew-compose`,
    /// `delete-compose`), when the provider's scopes are enforced: a 403
    /// naming it when the token lacks it.
    pub fn check_scope(&self, id: &Identity, scope: &str) -> Result<(), AuthError> {
        let (Some(oidc), Some(scopes)) = (&self.oidc, &id.scopes) else {
            return Ok(());
        };
        match oidc.required_scope(scope) {
            Some(full) if !scopes.contains(&full) && !scopes.contains(scope) => Err(
                AuthError::Forbidden(format!("Request does not have required scope {scope}")),
            ),
            _ => Ok(()),
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Unavailable(format!("the authentication task failed: {e}")))?
}
