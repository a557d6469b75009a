//! `[auth]`: who may change composes (odcs-api.md §8). Reading stays open;
//! POST, PATCH and DELETE are authenticated by the configured backends and
//! checked against `admins` and `allowed_clients`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// An authentication backend.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// No authentication: every caller is an anonymous admin (owner
    /// `unknown`). Only allowed when listening on loopback.
    Noauth,
    /// `Authorization: Bearer <JWT>` checked against the provider's keys, or
    /// its introspection endpoint.
    Oidc,
    /// `Authorization: Negotiate` (SPNEGO) checked against a keytab.
    Kerberos,
    /// The user (and groups) in headers set by a trusted front server.
    ProxyHeader,
    /// TLS client certificates on the TLS listener; the subject CN is the user.
    Cert,
    /// `Authorization: Bearer odcs_…` API tokens made by `odcs token create`.
    Token,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Noauth => "noauth",
            Backend::Oidc => "oidc",
            Backend::Kerberos => "kerberos",
            Backend::ProxyHeader => "proxy_header",
            Backend::Cert => "cert",
            Backend::Token => "token",
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub backends: Vec<Backend>,
    pub oidc: Option<OidcConfig>,
    pub kerberos: Option<KerberosConfig>,
    pub proxy_header: Option<ProxyHeaderConfig>,
    pub cert: Option<CertConfig>,
    pub ldap: Option<LdapConfig>,
    pub admins: Principals,
    pub allowed_clients: AllowedClients,
    /// Only the owner (or an admin) may renew a compose; by default any
    /// allowed client may, as in the original.
    pub renew_owner_only: bool,
    /// Composes a user may have in `wait` or `generating` at once (0: no
    /// limit); an entry of `allowed_clients` may set its own.
    pub max_active_composes: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            backends: vec![Backend::Noauth],
            oidc: None,
            kerberos: None,
            proxy_header: None,
            cert: None,
            ldap: None,
            admins: Principals::default(),
            allowed_clients: AllowedClients::default(),
            renew_owner_only: false,
            max_active_composes: 0,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Principals {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowedClients {
    pub users: BTreeMap<String, Constraints>,
    pub groups: BTreeMap<String, Constraints>,
}

/// What an allowed user or group may ask for. A key left out allows every
/// value; an empty list allows none. `sources` are patterns (`*`, `?`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Constraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compose_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_dirs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_config_keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_seconds_to_live: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active_composes: Option<u32>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of, when it is a list).
    pub audience: String,
    /// The provider's keys: fetched, cached, fetched again for an unknown `kid`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Or the keys in a file (read again when it changes).
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Or the provider's token introspection endpoint (RFC 7662), with the
    /// client credentials it wants.
    #[serde(default)]
    pub introspection_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The provider's userinfo endpoint (the original's
    /// `auth_openidc_userinfo_uri`): when set, the `groups_claim` of its
    /// answer to `GET` with the caller's token adds to the token's groups; an
    /// answer other than 200 adds none.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// When set, tokens need the original's scopes `<scope_namespace>new-compose`,
    /// `renew-compose` and `delete-compose` for POST, PATCH and DELETE.
    #[serde(default)]
    pub require_scopes: bool,
    #[serde(default = "default_scope_namespace")]
    pub scope_namespace: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Timeout of requests to the provider, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// A token naming a key not in the cached JWKS makes it fetched again,
    /// at most once per this many seconds.
    #[serde(default = "default_refetch")]
    pub jwks_refetch_seconds: u64,
}

fn default_refetch() -> u64 {
    10
}

fn default_user_claim() -> String {
    "sub".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_scope_namespace() -> String {
    "https://pagure.io/odcs/".into()
}
fn default_leeway() -> u64 {
    60
}
fn default_timeout() -> u64 {
    10
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KerberosConfig {
    /// The keytab holding the `HTTP/<host>` key clients ask tickets for.
    pub keytab: PathBuf,
    /// Realms whose users are accepted (empty: any the keytab's realm trusts).
    #[serde(default)]
    pub realms: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProxyHeaderConfig {
    /// Addresses (`10.0.0.5`, `::1`) or networks (`10.0.0.0/24`) of the front
    /// servers; the headers from any other peer are refused.
    pub trusted_proxies: Vec<String>,
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// A header with the user's groups, when the front server sets one.
    #[serde(default)]
    pub groups_header: Option<String>,
    #[serde(default = "default_groups_separator")]
    pub groups_separator: String,
}

fn default_user_header() -> String {
    "X-Remote-User".into()
}
fn default_groups_separator() -> String {
    ",".into()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CertConfig {
    /// Address of the TLS listener (beside `listen`).
    pub listen: String,
    /// PEM certificate chain and private key of the server.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// PEM CA certificates client certificates must chain to.
    pub client_ca: PathBuf,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Where groups are found: the original's `auth_ldap_groups`, e.g.
    /// `{ base = "ou=groups,dc=example,dc=com", filter = "memberUid={}" }`;
    /// `{}` is replaced by the (escaped) user name, the `cn` of each entry
    /// found one level under `base` is a group.
    pub groups: Vec<LdapGroupSearch>,
    /// Seconds a user's groups are kept.
    #[serde(default = "default_ldap_cache")]
    pub cache_seconds: u64,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

fn default_ldap_cache() -> u64 {
    300
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LdapGroupSearch {
    pub base: String,
    pub filter: String,
}

impl AuthConfig {
    /// What makes the configuration unusable, before anything starts.
    pub fn check(&self, listen: &str) -> Result<(), String> {
        if self.backends.is_empty() {
            return Err("[auth] backends is empty: name at least one backend".into());
        }
        let on = |b| self.backends.contains(&b);
        if on(Backend::Noauth) {
            let loopback = listen
                .parse::<std::net::SocketAddr>()
                .map(|a| a.ip().is_loopback())
                .unwrap_or_else(|_| listen.starts_with("localhost:"));
            if !loopback {
                return Err(format!(
                    "[auth] backends has \"noauth\", which lets anybody change composes: it is only allowed when listening on loopback, not on {listen}"
                ));
            }
        }
        let missing = |b: Backend, set: bool| {
            if on(b) && !set {
                Err(format!(
                    "[auth] backends has \"{0}\" but there is no [auth.{0}] section",
                    b.name()
                ))
            } else {
                Ok(())
            }
        };
        missing(Backend::Oidc, self.oidc.is_some())?;
        missing(Backend::Kerberos, self.kerberos.is_some())?;
        missing(Backend::ProxyHeader, self.proxy_header.is_some())?;
        missing(Backend::Cert, self.cert.is_some())?;
        if let Some(o) = &self.oidc {
            let ways = [
                o.jwks_url.is_some(),
                o.jwks_file.is_some(),
                o.introspection_url.is_some(),
            ];
            if ways.iter().filter(|w| **w).count() != 1 {
                return Err(
                    "[auth.oidc] needs exactly one of jwks_url, jwks_file and introspection_url"
                        .into(),
                );
            }
        }
        if let Some(p) = &self.proxy_header {
            for net in &p.trusted_proxies {
                crate::auth::proxy::Network::parse(net)
                    .map_err(|e| format!("[auth.proxy_header] trusted_proxies: {e}"))?;
            }
        }
        if let Some(l) = &self.ldap {
            for g in &l.groups {
                if !g.filter.contains("{}") {
                    return Err(format!(
                        "[auth.ldap] groups: the filter {:?} has no {{}} for the user name",
                        g.filter
                    ));
                }
            }
        }
        Ok(())
    }
}
