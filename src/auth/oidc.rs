//! `oidc`: `Authorization: Bearer <token>` from an OpenID Connect provider.
//!
//! Two ways, one of which is configured:
//! - **JWT with the provider's keys** (`jwks_url` or `jwks_file`): the
//!   signature, `iss`, `aud`, `exp` and `nbf` are checked here, with no call
//!   to the provider per request. The JWKS is fetched on first use, again
//!   after an hour, and at once when a token names a `kid` it does not have
//!   (the provider rotated its keys) — at most once per 10 s, so a stream of
//!   tokens with made-up `kid`s does not become a stream of fetches. A
//!   `jwks_file` is read again when its modification time changes.
//! - **Token introspection** (RFC 7662, `introspection_url`): the provider is
//!   asked per request, with the client credentials; `active: false` is a 401.
//!
//! The user is the `user_claim` (default `sub`), the groups the
//! `groups_claim` (a list, or a space-separated string); the scopes are the
//! `scope` claim (space-separated, as mod_auth_openidc hands it to the
//! original) or `scp` (a list).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};

use super::jwt::{self, Jwk, JwtError};
use super::{AuthError, Identity};
use crate::config::auth::OidcConfig;

const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

pub struct Oidc {
    cfg: OidcConfig,
    keys: Mutex<KeyCache>,
    agent: ureq::Agent,
}

#[derive(Default)]
struct KeyCache {
    keys: std::sync::Arc<Vec<Jwk>>,
    fetched: Option<Instant>,
    file_mtime: Option<SystemTime>,
}

impl Oidc {
    pub fn new(cfg: &OidcConfig) -> Oidc {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(cfg.timeout_seconds.max(1))))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Oidc {
            cfg: cfg.clone(),
            keys: Mutex::new(KeyCache::default()),
            agent,
        }
    }

    /// Who the token says the caller is. Blocking (it may call the
    /// provider): run it off the async threads.
    pub fn identify(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = if self.cfg.introspection_url.is_some() {
            self.introspect(token)?
        } else {
            self.verify_jwt(token)?
        };
        let mut id = self.identity(&claims)?;
        if let Some(url) = &self.cfg.userinfo_url {
            id.groups.extend(self.userinfo_groups(url, token));
        }
        Ok(id)
    }

    /// The groups the provider's userinfo endpoint gives the token's user;
    /// none when it answers anything but 200 with a JSON object (as the
    /// original), with a warning.
    fn userinfo_groups(&self, url: &str, token: &str) -> Vec<String> {
        let answer = answer_text(
            self.agent
                .get(url)
                .header("Authorization", &format!("Bearer {token}"))
                .call(),
        );
        match answer.map(|t| serde_json::from_str::<Value>(&t)) {
            Ok(Ok(v)) => words(v.get(&self.cfg.groups_claim)),
            Ok(Err(e)) => {
                tracing::warn!("auth: the OIDC userinfo at {url} is not JSON: {e}");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!("auth: the OIDC userinfo at {url} failed: {e}; no groups from it");
                Vec::new()
            }
        }
    }

    fn verify_jwt(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let parsed = jwt::parse(token).map_err(invalid)?;
        let keys = self.keys(false)?;
        let verified = match parsed.verify_signature(&keys) {
            Err(JwtError::UnknownKey(kid)) => {
                let keys = self.keys(true)?;
                parsed
                    .verify_signature(&keys)
                    .map_err(|_| invalid(JwtError::UnknownKey(kid)))
            }
            other => other.map_err(invalid),
        };
        verified?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        jwt::check_claims(
            &parsed.claims,
            &jwt::Expected {
                issuer: &self.cfg.issuer,
                audience: &self.cfg.audience,
                leeway: self.cfg.leeway_seconds as i64,
                now,
            },
        )
        .map_err(invalid)?;
        Ok(parsed.claims)
    }

    /// The provider's keys: cached, or fetched (`refetch`: because a token
    /// named a key the cache does not have).
    fn keys(&self, refetch: bool) -> Result<std::sync::Arc<Vec<Jwk>>, AuthError> {
        let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.cfg.jwks_file {
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if cache.keys.is_empty() || mtime != cache.file_mtime {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    AuthError::Unavailable(format!(
                        "the OIDC keys file {} cannot be read: {e}",
                        path.display()
                    ))
                })?;
                let keys = jwt::parse_jwks(&text).map_err(|e| {
                    AuthError::Unavailable(format!("the OIDC keys file {}: {e}", path.display()))
                })?;
                cache.keys = std::sync::Arc::new(keys);
                cache.file_mtime = mtime;
            }
            return Ok(cache.keys.clone());
        }
        let Some(url) = &self.cfg.jwks_url else {
            return Err(AuthError::Unavailable("no OIDC keys are configured".into()));
        };
        let age = cache.fetched.map(|t| t.elapsed());
        let stale = match age {
            None => true,
            Some(age) if refetch => age >= Duration::from_secs(self.cfg.jwks_refetch_seconds),
            Some(age) => age >= KEYS_MAX_AGE,
        };
        if stale {
            match self.fetch_jwks(url) {
                Ok(keys) => {
                    tracing::info!("auth: fetched {} OIDC keys from {url}", keys.len());
                    cache.keys = std::sync::Arc::new(keys);
                    cache.fetched = Some(Instant::now());
                }
                // keys fetched before still serve while the provider is away
                Err(e) if !cache.keys.is_empty() => {
                    tracing::warn!("auth: could not fetch the OIDC keys again: {e}");
                    cache.fetched = Some(Instant::now());
                }
                Err(e) => return Err(AuthError::Unavailable(e)),
            }
        }
        Ok(cache.keys.clone())
    }

    fn fetch_jwks(&self, url: &str) -> Result<Vec<Jwk>, String> {
        let fail = |m: String| format!("the OIDC keys could not be fetched from {url}: {m}");
        let text = answer_text(self.agent.get(url).call()).map_err(fail)?;
        jwt::parse_jwks(&text).map_err(fail)
    }

    fn introspect(&self, token: &str) -> Result<Map<String, Value>, AuthError> {
        let url = self.cfg.introspection_url.as_deref().unwrap_or_default();
        let fail = |m: String| {
            AuthError::Unavailable(format!(
                "the OIDC provider's introspection at {url} failed: {m}"
            ))
        };
        let mut req = self.agent.post(url);
        if let Some(id) = &self.cfg.client_id {
            use base64::Engine as _;
            let secret = self.cfg.client_secret.as_deref().unwrap_or_default();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            req = req.header("Authorization", &format!("Basic {basic}"));
        }
        let text =
            answer_text(req.send_form([("token", token), ("token_type_hint", "access_token")]))
                .map_err(fail)?;
        let Ok(Value::Object(claims)) = serde_json::from_str::<Value>(&text) else {
            return Err(fail("the answer is not a JSON object".into()));
        };
        if claims.get("active") != Some(&Value::Bool(true)) {
            return Err(AuthError::Unauthenticated(
                "the token is not active (the provider's introspection says so)".into(),
            ));
        }
        if let Some(iss) = claims.get("iss").and_then(Value::as_str)
            && iss != self.cfg.issuer
        {
            return Err(invalid(JwtError::Issuer(iss.to_owned())));
        }
        Ok(claims)
    }

    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let user = claims
            .get(&self.cfg.user_claim)
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                AuthError::Unauthenticated(format!(
                    "the token has no {:?} claim naming the user",
                    self.cfg.user_claim
                ))
            })?;
        let mut id = Identity::new(user, words(claims.get(&self.cfg.groups_claim)), "oidc");
        let mut scopes = words(claims.get("scope"));
        scopes.extend(words(claims.get("scp")));
        id.scopes = Some(scopes.into_iter().collect());
        Ok(id)
    }

    /// The scope a method needs, when scopes are required.
    pub fn required_scope(&self, scope: &str) -> Option<String> {
        self.cfg
            .require_scopes
            .then(|| format!("{}{scope}", self.cfg.scope_namespace))
    }
}

/// The text of a 200 answer of the provider (at most
/// [`MAX_RESPONSE_BYTES`]); anything else is an error saying what.
fn answer_text(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, String> {
    let mut resp = sent.map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| e.to_string())
}

/// A claim that is a list of strings, or a space-separated string.
fn words(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn invalid(e: JwtError) -> AuthError {
    AuthError::InvalidToken(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    fn key() -> (EcdsaKeyPair, String) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let p = pair.public_key().as_ref();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])}]});
        (pair, jwks.to_string())
    }

    fn token(pair: &EcdsaKeyPair, claims: Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "k"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// A keys file is read again when it changes (the provider's keys
    /// rotated by whoever writes it); groups and scopes come from the claims.
    #[test]
    fn a_keys_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        let (old, old_jwks) = key();
        let (new, new_jwks) = key();
        std::fs::write(&file, &old_jwks).unwrap();
        let oidc = Oidc::new(&OidcConfig {
            issuer: "https://id".into(),
            audience: "odcs".into(),
            jwks_url: None,
            jwks_file: Some(file.clone()),
            introspection_url: None,
            client_id: None,
            client_secret: None,
            userinfo_url: None,
            user_claim: "sub".into(),
            groups_claim: "groups".into(),
            require_scopes: false,
            scope_namespace: String::new(),
            leeway_seconds: 0,
            timeout_seconds: 1,
            jwks_refetch_seconds: 10,
        });
        let exp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let claims = json!({"iss": "https://id", "aud": "odcs", "exp": exp, "sub": "bob",
            "groups": ["qa", "dev"], "scope": "openid new-compose"});
        let id = oidc.identify(&token(&old, claims.clone())).unwrap();
        assert_eq!(id.user, "bob");
        assert_eq!(id.groups.iter().collect::<Vec<_>>(), ["dev", "qa"]);
        assert!(id.scopes.as_ref().unwrap().contains("new-compose"));
        assert!(matches!(
            oidc.identify(&token(&new, claims.clone())),
            Err(AuthError::InvalidToken(_))
        ));
        let before = std::fs::metadata(&file).unwrap().modified().unwrap();
        while std::fs::metadata(&file).unwrap().modified().unwrap() == before {
            std::thread::sleep(Duration::from_millis(5));
            std::fs::write(&file, &new_jwks).unwrap();
        }
        assert_eq!(
            oidc.identify(&token(&new, claims.clone())).unwrap().user,
            "bob"
        );
        assert!(oidc.identify(&token(&old, claims)).is_err());
    }
}
