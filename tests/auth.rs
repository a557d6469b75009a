//! Authentication and authorization through the service (#14), with real
//! credentials: JWTs signed here with keys made by openssl and ring, served
//! from a JWKS endpoint; API tokens made by `odcs token create`; a trusted
//! proxy's header; the Python `odcs` client with its OpenIDC mech.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::server::{Reply, Server};
use odcs::config::auth::{Backend, Constraints, OidcConfig};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};

/// A signing key of the test provider.
enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

struct Provider {
    keys: Arc<Vec<(String, Key)>>,
    /// The JWKS the endpoint serves.
    jwks: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    /// Tokens the introspection endpoint says are no longer active.
    revoked: Arc<Mutex<Vec<String>>>,
    /// `http://127.0.0.1:PORT/`: `jwks`, `token` (client credentials of
    /// `svc-bot`/`s3cret`) and `introspect` (for client `odcs-server`).
    base: String,
    url: String,
}

fn rsa_key(dir: &Path, name: &str) -> RsaKeyPair {
    let der = dir.join(format!("{name}.der"));
    common::run_ok(
        Command::new(common::tool("openssl"))
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
                "-out",
            ])
            .arg(&der),
    );
    // genpkey writes DER keys as PKCS#1 RSAPrivateKey
    RsaKeyPair::from_der(&std::fs::read(&der).unwrap()).unwrap()
}

fn ec_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()
}

fn jwk(kid: &str, key: &Key) -> Value {
    match key {
        Key::Rsa(k) => {
            let public: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
            json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)})
        }
        Key::Ec(k) => {
            let p = k.public_key().as_ref();
            json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])})
        }
    }
}

const ISSUER: &str = "https://id.odcs.test";
const AUDIENCE: &str = "odcs";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Provider {
    /// Keys `k1` (RSA, served), `k2` (EC P-256, not served until rotated in)
    /// and `evil` (RSA, never served).
    fn start(dir: &Path) -> Provider {
        let keys = vec![
            ("k1".to_owned(), Key::Rsa(rsa_key(dir, "k1"))),
            ("k2".to_owned(), Key::Ec(ec_key())),
            ("evil".to_owned(), Key::Rsa(rsa_key(dir, "evil"))),
        ];
        let jwks = Arc::new(Mutex::new(
            json!({"keys": [jwk("k1", &keys[0].1)]}).to_string(),
        ));
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", server.server_addr().to_ip().unwrap());
        let provider = Provider {
            keys: Arc::new(keys),
            jwks,
            fetches: Arc::new(AtomicUsize::new(0)),
            revoked: Arc::new(Mutex::new(Vec::new())),
            url: format!("{base}jwks"),
            base,
        };
        let endpoint = provider.clone_handles();
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let (status, answer) = endpoint.answer(&req, &body);
                let json =
                    tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
                let _ = req.respond(
                    tiny_http::Response::from_string(answer)
                        .with_status_code(status)
                        .with_header(json),
                );
            }
        });
        provider
    }

    fn clone_handles(&self) -> Provider {
        Provider {
            keys: self.keys.clone(),
            jwks: self.jwks.clone(),
            fetches: self.fetches.clone(),
            revoked: self.revoked.clone(),
            base: self.base.clone(),
            url: self.url.clone(),
        }
    }

    /// The provider's endpoints, as an OIDC provider (Keycloak) answers them.
    fn answer(&self, req: &tiny_http::Request, body: &str) -> (u16, String) {
        let form: std::collections::HashMap<String, String> = body
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), percent_decode(v)))
            .collect();
        let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
        match (req.method(), req.url()) {
            (tiny_http::Method::Get, "/jwks") => {
                self.fetches.fetch_add(1, Ordering::SeqCst);
                (200, self.jwks.lock().unwrap().clone())
            }
            // RFC 6749 §4.4: client credentials in the form
            (tiny_http::Method::Post, "/token") => {
                if field("grant_type") != "client_credentials"
                    || (field("client_id"), field("client_secret")) != ("svc-bot", "s3cret")
                {
                    return (401, json!({"error": "invalid_client"}).to_string());
                }
                let mut c = claims("service-account-svc-bot", &["bots"]);
                c["azp"] = json!("svc-bot");
                let token = self.sign("k1", "k1", c);
                (200, json!({"access_token": token, "expires_in": 600, "token_type": "Bearer", "scope": "openid"}).to_string())
            }
            // RFC 7662: the resource server authenticates with HTTP Basic
            (tiny_http::Method::Post, "/introspect") => {
                let basic = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode("odcs-server:introspect-secret")
                );
                let authorized = req
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Authorization") && h.value.as_str() == basic);
                if !authorized {
                    return (401, json!({"error": "invalid_client"}).to_string());
                }
                let token = field("token");
                let claims = token
                    .split('.')
                    .nth(1)
                    .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
                    .and_then(|c| serde_json::from_slice::<Value>(&c).ok());
                match claims {
                    Some(mut c)
                        if c["exp"].as_i64().unwrap_or(0) > now()
                            && !self.revoked.lock().unwrap().iter().any(|r| r == token) =>
                    {
                        c["active"] = json!(true);
                        (200, c.to_string())
                    }
                    _ => (200, json!({"active": false}).to_string()),
                }
            }
            // OIDC userinfo: the groups of the token's user (frida is in qa)
            (tiny_http::Method::Get, "/userinfo") => {
                let user = req
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .and_then(|h| h.value.as_str().strip_prefix("Bearer "))
                    .and_then(|t| t.split('.').nth(1))
                    .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
                    .and_then(|c| serde_json::from_slice::<Value>(&c).ok())
                    .and_then(|c| c["preferred_username"].as_str().map(str::to_owned));
                match user.as_deref() {
                    None => (401, json!({"error": "invalid_token"}).to_string()),
                    Some("frida") => (
                        200,
                        json!({"sub": "id-frida", "groups": ["qa"]}).to_string(),
                    ),
                    Some(u) => (
                        200,
                        json!({"sub": format!("id-{u}"), "groups": []}).to_string(),
                    ),
                }
            }
            _ => (404, json!({"error": "not found"}).to_string()),
        }
    }

    fn rotate_in_k2(&self) {
        *self.jwks.lock().unwrap() =
            json!({"keys": [jwk("k1", &self.keys[0].1), jwk("k2", &self.keys[1].1)]}).to_string();
    }

    /// A token signed with key `kid` (the header names `header_kid`).
    fn sign(&self, kid: &str, header_kid: &str, claims: Value) -> String {
        let key = &self.keys.iter().find(|(k, _)| k == kid).unwrap().1;
        let alg = match key {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        };
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD
                .encode(json!({"alg": alg, "typ": "JWT", "kid": header_kid}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    signed.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Key::Ec(k) => k.sign(&rng, signed.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// A good token for `user` in `groups` with `scope`, signed with k1.
    fn token(&self, user: &str, groups: &[&str]) -> String {
        self.sign("k1", "k1", claims(user, groups))
    }

    fn oidc_config(&self) -> OidcConfig {
        OidcConfig {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            jwks_url: Some(self.url.clone()),
            jwks_file: None,
            introspection_url: None,
            client_id: None,
            client_secret: None,
            userinfo_url: None,
            user_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            require_scopes: false,
            scope_namespace: "https://pagure.io/odcs/".into(),
            leeway_seconds: 5,
            timeout_seconds: 5,
            jwks_refetch_seconds: 0,
        }
    }
}

fn percent_decode(v: &str) -> String {
    let v = v.replace('+', " ");
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn claims(user: &str, groups: &[&str]) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": format!("id-{user}"),
        "preferred_username": user, "groups": groups, "iat": now(), "exp": now() + 600,
        "scope": "openid https://pagure.io/odcs/new-compose https://pagure.io/odcs/renew-compose"})
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The policy of these tests: `admin` may do everything; `bob` tag composes
/// of f*-tags only, for up to a day; group `qa` anything; `carol` anything,
/// at most one compose waiting.
fn policy(cfg: &mut odcs::config::Config) {
    let a = &mut cfg.auth;
    a.admins.users = vec!["admin".into()];
    a.allowed_clients.users.insert(
        "bob".into(),
        Constraints {
            source_types: Some(vec!["tag".into()]),
            sources: Some(vec!["upd*".into()]),
            max_seconds_to_live: Some(86_400),
            ..Default::default()
        },
    );
    a.allowed_clients.users.insert(
        "carol".into(),
        Constraints {
            max_active_composes: Some(1),
            ..Default::default()
        },
    );
    a.allowed_clients
        .groups
        .insert("qa".into(), Constraints::default());
}

fn tag_compose(pkg: &str) -> Value {
    json!({"source": {"type": "tag", "source": "updates", "packages": [pkg]}, "seconds_to_live": 900})
}

fn compose_count(s: &Server) -> i64 {
    s.get("/api/1/composes/").1["meta"]["total"]
        .as_i64()
        .unwrap()
}

/// Every refusal of the OIDC backend, with no worker (composes stay
/// waiting, so the active-compose limit can be seen), and nothing refused
/// reaching the database.
#[test]
fn oidc_tokens_are_checked_and_the_policy_refuses_what_it_must() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let oidc = idp.oidc_config();
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            policy(cfg);
        },
        None,
    );
    let body = tag_compose(&apps[0]);
    let post = |headers: &[(&str, &str)], body: &Value| -> Reply {
        s.call("POST", "/api/1/composes/", Some(body), headers)
    };

    // reading is open
    assert_eq!(s.get("/api/1/composes/").0, 200);
    let about = s.get("/api/1/about/").1;
    assert_eq!(about["auth_backend"], "oidc");
    assert_eq!(
        about["allowed_clients"]["users"]["bob"]["source_types"],
        json!(["tag"])
    );

    // no credentials: 401 naming Bearer
    let r = post(&[], &body);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.challenges.iter().any(|c| c.starts_with("Bearer")),
        "{r:?}"
    );
    assert!(r.message().contains("OIDC bearer token"), "{r:?}");

    // bad tokens, each a 401 saying why
    let stale = {
        let mut c = claims("bob", &[]);
        c["exp"] = json!(now() - 3600);
        idp.sign("k1", "k1", c)
    };
    let wrong_aud = {
        let mut c = claims("bob", &[]);
        c["aud"] = json!("another-service");
        idp.sign("k1", "k1", c)
    };
    let wrong_iss = {
        let mut c = claims("bob", &[]);
        c["iss"] = json!("https://evil.test");
        idp.sign("k1", "k1", c)
    };
    let not_yet = {
        let mut c = claims("bob", &[]);
        c["nbf"] = json!(now() + 3600);
        idp.sign("k1", "k1", c)
    };
    let forged = idp.sign("evil", "k1", claims("admin", &[]));
    let tampered = {
        let good = idp.token("bob", &[]);
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(claims("admin", &[]).to_string());
        parts.join(".")
    };
    for (token, why) in [
        (stale.as_str(), "expired"),
        (&wrong_aud, "not meant for this service"),
        (&wrong_iss, "issued by \"https://evil.test\""),
        (&not_yet, "not valid yet"),
        (&forged, "signature is not valid"),
        (&tampered, "signature is not valid"),
        ("not-a-jwt", "not a JWT"),
    ] {
        let r = post(&[("Authorization", &bearer(token))], &body);
        assert_eq!(r.status, 401, "{why}: {r:?}");
        assert!(r.message().contains(why), "{why}: {r:?}");
        assert!(
            r.challenges
                .iter()
                .any(|c| c.contains("error=\"invalid_token\"")),
            "{why}: {r:?}"
        );
    }

    // an unknown kid: the keys are fetched again, still unknown; once the
    // provider serves k2, a token signed with it is accepted
    let fetched = idp.fetches.load(Ordering::SeqCst);
    let k2 = idp.sign("k2", "k2", claims("bob", &[]));
    let r = post(&[("Authorization", &bearer(&k2))], &body);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.message().contains("not one of the provider's keys"),
        "{r:?}"
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        fetched + 1,
        "an unknown kid fetches the keys again"
    );
    idp.rotate_in_k2();
    let r = post(&[("Authorization", &bearer(&k2))], &body);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["owner"], "bob");
    let bobs = r.json["id"].as_i64().unwrap();
    assert_eq!(compose_count(&s), 1);

    // bob's constraints: source type, sources pattern, lifetime
    let bob = bearer(&idp.token("bob", &[]));
    let build = json!({"source": {"type": "build", "source": "", "builds": ["x-1-1"]}});
    let r = post(&[("Authorization", &bob)], &build);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.message(),
        "User bob not allowed to operate with compose with source_types=build."
    );
    let other_tag = json!({"source": {"type": "tag", "source": "base"}});
    let r = post(&[("Authorization", &bob)], &other_tag);
    assert_eq!(
        (r.status, r.message()),
        (
            403,
            "User bob not allowed to operate with compose with sources=base."
        )
    );
    let mut long = tag_compose(&apps[0]);
    long["seconds_to_live"] = json!(200_000);
    let r = post(&[("Authorization", &bob)], &long);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.message()
            .contains("seconds_to_live=200000 (at most 86400)"),
        "{r:?}"
    );

    // a stranger, and a stranger in group qa
    let r = post(
        &[("Authorization", &bearer(&idp.token("dave", &["dev"])))],
        &body,
    );
    assert_eq!(
        (r.status, r.message()),
        (403, "User dave not allowed to operate with any compose.")
    );
    let r = post(
        &[("Authorization", &bearer(&idp.token("dave", &["qa"])))],
        &body,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["owner"], "dave");

    // carol: one waiting compose at most
    let carol = bearer(&idp.token("carol", &[]));
    assert_eq!(post(&[("Authorization", &carol)], &body).status, 200);
    let r = post(&[("Authorization", &carol)], &body);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.message()
            .contains("already has 1 composes waiting or generating"),
        "{r:?}"
    );

    // delete: not carol (allowed, not the owner), but bob and the admin
    let path = format!("/api/1/composes/{bobs}");
    let r = s.call("DELETE", &path, None, &[("Authorization", &carol)]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.message().contains("only its owner or an admin"), "{r:?}");
    assert_eq!(s.call("DELETE", &path, None, &[]).status, 401);
    let admin = bearer(&idp.token("admin", &[]));
    let r = s.call("DELETE", &path, None, &[("Authorization", &admin)]);
    assert_eq!(r.status, 202, "{r:?}");
    let c = s.get(&path).1;
    assert_eq!(c["state_name"], "failed");
    assert_eq!(c["state_reason"], "Canceled by admin");

    // what was refused left nothing behind: bob's, dave's and carol's composes only
    assert_eq!(compose_count(&s), 3);
    let owners: Vec<String> = s.get("/api/1/composes/?order_by=id").1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["owner"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(owners, ["bob", "dave", "carol"]);
}

/// `require_scopes`: the original's scopes per method.
#[test]
fn oidc_scopes_are_enforced_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let mut oidc = idp.oidc_config();
    oidc.require_scopes = true;
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            policy(cfg);
        },
        None,
    );
    let mut c = claims("admin", &[]);
    c["scope"] = json!("openid https://pagure.io/odcs/renew-compose");
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", &bearer(&idp.sign("k1", "k1", c)))],
    );
    assert_eq!(
        (r.status, r.message()),
        (403, "Request does not have required scope new-compose")
    );
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", &bearer(&idp.token("admin", &[])))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    // the token has no delete-compose
    let path = format!("/api/1/composes/{}", r.json["id"]);
    let r = s.call(
        "DELETE",
        &path,
        None,
        &[("Authorization", &bearer(&idp.token("admin", &[])))],
    );
    assert_eq!(
        (r.status, r.message()),
        (403, "Request does not have required scope delete-compose")
    );
}

/// The Python client with `AuthMech.OpenIDC` creates, waits, renews and
/// deletes; another allowed user cannot delete that compose, an admin can.
#[test]
fn the_python_client_works_with_an_oidc_token() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let oidc = idp.oidc_config();
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            policy(cfg);
        },
        None,
    );
    let script = format!(
        r#"
from odcs.client.odcs import ODCS, AuthMech
odcs = ODCS("{url}", auth_mech=AuthMech.OpenIDC, openidc_token="{token}")
c = odcs.new_compose("updates", "tag", packages=["{pkg}"], seconds_to_live=900)
assert c["owner"] == "bob", c
c = odcs.wait_for_compose(c["id"], timeout=60)
assert c["state_name"] == "done", c
r = odcs.renew_compose(c["id"], seconds_to_live=3600)
assert r["id"] == c["id"] and r["time_to_expire"] >= c["time_to_expire"], r
try:
    ODCS("{url}", auth_mech=AuthMech.OpenIDC, openidc_token="{carol}").delete_compose(c["id"])
    raise SystemExit("carol deleted bob's compose")
except Exception as e:
    assert "403" in str(e), e
anon = ODCS("{url}", auth_mech=AuthMech.Anonymous)
try:
    anon.new_compose("updates", "tag", packages=["{pkg}"])
    raise SystemExit("an anonymous client made a compose")
except Exception as e:
    assert "401" in str(e), e
odcs.delete_compose(c["id"])
print(c["id"])
"#,
        url = s.url,
        token = idp.token("bob", &[]),
        carol = idp.token("carol", &[]),
        pkg = apps[3]
    );
    let out = common::run(Command::new("python3").arg("-c").arg(&script));
    assert!(
        out.status.success(),
        "the Python client failed (scripts/test installs it with pip install 'odcs[client]'):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id: i64 = stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no compose id in {stdout:?}"));
    let c = s.wait_for(id, &["removed"]);
    assert_eq!(c["removed_by"], "bob");
    assert_eq!(c["owner"], "bob");
}

/// `odcs token create|list|revoke` against the service's database: the token
/// authenticates as its user until revoked; only its hash is stored.
#[test]
fn api_tokens_are_made_listed_used_and_revoked() {
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::Token];
            policy(cfg);
        },
        None,
    );
    let config = s.data.join("odcs.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n[auth]\nbackends = [\"token\"]\n", s.data),
    )
    .unwrap();
    let out = common::run_ok(
        common::odcs()
            .args([
                "token",
                "create",
                "bob",
                "--description",
                "ci bot",
                "--days",
                "2",
                "--config",
            ])
            .arg(&config),
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("odcs_"), "{token}");
    let auth = bearer(&token);
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["owner"], "bob");

    let list = common::run_ok(
        common::odcs()
            .args(["token", "list", "--config"])
            .arg(&config),
    );
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains("bob") && list.contains("ci bot") && list.contains("live"),
        "{list}"
    );
    assert!(!list.contains(&token), "the list shows the token");
    let db = std::fs::read(s.data.join("odcs.db")).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the database holds the token itself"
    );

    // our CLI sends it too
    let file = s.data.join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let id = r.json["id"].to_string();
    let out = common::run(common::odcs().args(["client", "--server", &s.url, "delete", &id]));
    assert!(!out.status.success(), "deleted without a token");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs authentication"),
        "{out:?}"
    );
    common::run_ok(
        common::odcs()
            .args(["client", "--server", &s.url, "--token-file"])
            .arg(&file)
            .args(["delete", &id]),
    );
    assert_eq!(
        s.get(&format!("/api/1/composes/{id}")).1["state_reason"],
        "Canceled by bob"
    );

    let wrong = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", "Bearer odcs_madeup")],
    );
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    common::run_ok(
        common::odcs()
            .args(["token", "revoke", &id, "--config"])
            .arg(&config),
    );
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.message().contains("unknown, revoked or expired"), "{r:?}");
    let again = common::run(
        common::odcs()
            .args(["token", "revoke", &id, "--config"])
            .arg(&config),
    );
    assert!(!again.status.success());
}

/// The trusted proxy's header names the user and groups; the same header
/// from a peer that is not the proxy is refused and nothing is written.
#[test]
fn proxy_headers_are_believed_only_from_the_trusted_proxy() {
    let trusted = |proxies: Vec<String>| {
        move |cfg: &mut odcs::config::Config| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::ProxyHeader];
            cfg.auth.proxy_header = Some(odcs::config::auth::ProxyHeaderConfig {
                trusted_proxies: proxies,
                user_header: "X-Remote-User".into(),
                groups_header: Some("X-Remote-Groups".into()),
                groups_separator: ",".into(),
            });
            policy(cfg);
        }
    };
    let (s, apps) = Server::start_with(false, trusted(vec!["127.0.0.0/8".into()]), None);
    let body = tag_compose(&apps[0]);
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&body),
        &[("X-Remote-User", "erin"), ("X-Remote-Groups", "dev, qa")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["owner"], "erin");
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&body),
        &[("X-Remote-User", "erin")],
    );
    assert_eq!(
        (r.status, r.message()),
        (403, "User erin not allowed to operate with any compose.")
    );
    let r = s.call("POST", "/api/1/composes/", Some(&body), &[]);
    assert_eq!(r.status, 401, "{r:?}");
    drop(s);

    let (s, apps) = Server::start_with(false, trusted(vec!["10.9.9.9".into()]), None);
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("X-Remote-User", "admin")],
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.message()
            .contains("only accepted from the configured proxies, not from 127.0.0.1"),
        "{r:?}"
    );
    assert_eq!(compose_count(&s), 0);
}

/// The web page of a compose shows its visitor the buttons the policy
/// allows (#19): with a trusted proxy's header the request names its user,
/// so the owner and an admin see Cancel, another user sees why not, and a
/// request naming nobody sees the button with how to authenticate.
#[test]
fn a_compose_page_shows_only_the_buttons_its_visitor_may_use() {
    let (s, apps) = Server::start_with(
        false,
        |cfg: &mut odcs::config::Config| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::ProxyHeader];
            cfg.auth.proxy_header = Some(odcs::config::auth::ProxyHeaderConfig {
                trusted_proxies: vec!["127.0.0.0/8".into()],
                user_header: "X-Remote-User".into(),
                groups_header: Some("X-Remote-Groups".into()),
                groups_separator: ",".into(),
            });
            policy(cfg);
        },
        None,
    );
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("X-Remote-User", "erin"), ("X-Remote-Groups", "qa")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json["id"].as_i64().unwrap();
    let page = |headers: &[(&str, &str)]| {
        let r = s.call("GET", &format!("/composes/{id}"), None, headers);
        assert_eq!(r.status, 200, "{r:?}");
        r.json.as_str().unwrap().to_owned()
    };
    let cancel = format!("action=\"/composes/{id}/delete\"><button>Cancel</button>");
    for who in ["erin", "admin"] {
        let html = page(&[("X-Remote-User", who)]);
        assert!(html.contains(&cancel), "{who}: {html}");
        assert!(!html.contains("class=\"note\""), "{who}: {html}");
    }
    let html = page(&[("X-Remote-User", "frank"), ("X-Remote-Groups", "qa")]);
    assert!(!html.contains(&cancel), "{html}");
    assert!(
        html.contains("User frank may not delete compose of erin"),
        "{html}"
    );
    let html = page(&[]);
    assert!(html.contains(&cancel), "{html}");
    assert!(
        html.contains("needs authentication; this server takes: proxy"),
        "{html}"
    );
}

/// `noauth` lets anybody change composes: `odcs serve` refuses it on an
/// address other than loopback.
#[test]
fn noauth_is_refused_off_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run(
        common::odcs()
            .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
            .arg(tmp.path()),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"noauth\"") && err.contains("only allowed when listening on loopback"),
        "{err}"
    );
}

/// The compose JSON the odcs CLI prints (`indent=4`) after its progress lines.
fn cli_json(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    let start = text
        .find("\n{")
        .map(|i| i + 1)
        .or(text.starts_with('{').then_some(0));
    start
        .and_then(|i| serde_json::from_str(&text[i..]).ok())
        .unwrap_or_else(|| panic!("no JSON object in the CLI's output:\n{text}"))
}

/// A server whose API is reached as `http://localhost:PORT`, the host name
/// the Kerberos clients build the service principal `HTTP@localhost` from.
fn localhost(s: &Server) -> String {
    s.url.replace("127.0.0.1", "localhost")
}

fn kdc() -> common::kdc::Kdc {
    common::kdc::Kdc::start().unwrap_or_else(|e| {
        panic!("the Kerberos tests need a real KDC (Debian's krb5-kdc, krb5-admin-server, krb5-user; scripts/test installs them): {e}")
    })
}

/// `curl --negotiate` with the credentials of `env`; the HTTP status and the body.
fn curl_negotiate(
    env: &[(String, String)],
    method: &str,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut cmd = Command::new(common::tool("curl"));
    cmd.args([
        "-s",
        "--negotiate",
        "-u",
        ":",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
    }
    cmd.arg(url).envs(env.iter().map(|(k, v)| (k, v)));
    let out = common::run_ok(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(json).unwrap_or(Value::String(json.into())),
    )
}

/// SPNEGO against a real KDC: `curl --negotiate` and the Python client's
/// default `AuthMech.Kerberos` create, renew and delete; another allowed
/// user's DELETE is 403, a bad ticket 401, and no ticket a 401 that asks for
/// `Negotiate`.
#[test]
fn kerberos_tickets_from_a_real_kdc_authenticate_curl_and_the_python_client() {
    let kdc = kdc();
    kdc.add_user("alice", "alice-pw").unwrap();
    kdc.add_user("mallory", "mallory-pw").unwrap();
    // clients name the service after the host in the URL
    let keytab = kdc
        .add_services_keytab(&["HTTP/localhost", "HTTP/127.0.0.1"])
        .unwrap();
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.auth.backends = vec![Backend::Kerberos];
            cfg.auth.kerberos = Some(odcs::config::auth::KerberosConfig {
                keytab,
                realms: vec![common::kdc::REALM.into()],
            });
            cfg.auth.admins.users = vec!["admin".into()];
            for u in ["alice", "mallory"] {
                cfg.auth
                    .allowed_clients
                    .users
                    .insert(u.into(), Constraints::default());
            }
        },
        None,
    );
    let url = localhost(&s);
    let alice = kdc.kinit("alice", "alice-pw").unwrap();
    let mallory = kdc.kinit("mallory", "mallory-pw").unwrap();

    // no ticket: 401 asking for Negotiate
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.challenges, ["Negotiate"]);
    // a token that is no ticket
    let r = s.call(
        "POST",
        "/api/1/composes/",
        Some(&tag_compose(&apps[0])),
        &[("Authorization", "Negotiate YIIBAAAA")],
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.message().contains("the Kerberos ticket was not accepted"),
        "{r:?}"
    );

    let (code, c) = curl_negotiate(
        &alice,
        "POST",
        &format!("{url}/api/1/composes/"),
        Some(&tag_compose(&apps[0])),
    );
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["owner"], "alice");
    let id = c["id"].as_i64().unwrap();
    s.wait_for(id, &["done"]);
    let path = format!("{url}/api/1/composes/{id}");
    let (code, c) = curl_negotiate(&mallory, "DELETE", &path, None);
    assert_eq!(code, 403, "{c}");
    let (code, c) = curl_negotiate(
        &alice,
        "PATCH",
        &path,
        Some(&json!({"seconds_to_live": 1800})),
    );
    assert_eq!(code, 200, "{c}");
    let (code, c) = curl_negotiate(&alice, "DELETE", &path, None);
    assert_eq!(code, 202, "{c}");
    // the replay cache is in the service's cache directory
    assert!(s.data.join("cache/kerberos.rcache").is_file());
    assert_eq!(s.wait_for(id, &["removed"])["removed_by"], "alice");

    // the Python client's default mech (requests-gssapi, which sends its
    // ticket only after a 401 with Negotiate)
    let script = format!(
        r#"
from odcs.client.odcs import ODCS, AuthMech
odcs = ODCS("{url}", auth_mech=AuthMech.Kerberos)
c = odcs.new_compose("updates", "tag", packages=["{pkg}"], seconds_to_live=900)
assert c["owner"] == "alice", c
c = odcs.wait_for_compose(c["id"], timeout=60)
assert c["state_name"] == "done", c
r = odcs.renew_compose(c["id"], seconds_to_live=3600)
assert r["id"] == c["id"], r
odcs.delete_compose(c["id"])
print(c["id"])
"#,
        pkg = apps[3]
    );
    let out = common::run(
        Command::new("python3")
            .arg("-c")
            .arg(&script)
            .envs(alice.iter().map(|(k, v)| (k, v))),
    );
    assert!(
        out.status.success(),
        "the Python client with Kerberos failed:\n{}{}\nKDC log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        kdc.logs()
    );
    let id: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(s.wait_for(id, &["removed"])["removed_by"], "alice");

    // the odcs CLI: for a URL without "localhost" it tries OIDC, then
    // Kerberos (HTTP@127.0.0.1); a home of its own keeps its token cache
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".config")).unwrap();
    std::fs::write(
        home.path().join(".config/odcs.toml"),
        "[redhat.prod]\nurl = \"http://unused.invalid\"\nid_provider = \"http://127.0.0.1:9/\"\noidc_authz_code_client_id = \"odcs\"\n",
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut cmd = Command::new("odcs");
        cmd.args(["--server", &s.url])
            .args(args)
            .env("HOME", home.path())
            .env("NO_OIDC_AUTHZ_CODE", "1");
        cmd.envs(alice.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null());
        let out = common::run(&mut cmd);
        assert!(
            out.status.success(),
            "odcs {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cli_json(&out.stdout)
    };
    let c = cli(&["create-tag", "updates", &apps[2]]);
    assert_eq!(
        (c["owner"].as_str(), c["state_name"].as_str()),
        (Some("alice"), Some("done")),
        "{c}"
    );
    let id = c["id"].to_string();
    let r = cli(&["renew", &id, "--seconds-to-live", "1800"]);
    assert_eq!(r["id"], c["id"], "{r}");
    cli(&["delete", &id]);
    assert_eq!(
        s.wait_for(c["id"].as_i64().unwrap(), &["removed"])["removed_by"],
        "alice"
    );
}

/// Groups from a real OpenLDAP: a user allowed only through an LDAP group;
/// the groups last read serve while the server is down, a user never seen
/// then has none; back up, an LDAP group makes an admin.
#[test]
fn groups_come_from_a_real_ldap_server_and_survive_it_going_down() {
    let mut slapd =
        common::ldap::Slapd::start(&[("qa", &["alice", "bob"]), ("releng", &["root2"])])
            .unwrap_or_else(|e| {
                panic!("the LDAP test needs slapd and ldap-utils (scripts/test installs them): {e}")
            });
    let ldap = odcs::config::auth::LdapConfig {
        url: slapd.url.clone(),
        groups: vec![odcs::config::auth::LdapGroupSearch {
            base: slapd.groups_base.clone(),
            filter: "memberUid={}".into(),
        }],
        cache_seconds: 0,
        timeout_seconds: 3,
    };
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::ProxyHeader];
            cfg.auth.proxy_header = Some(odcs::config::auth::ProxyHeaderConfig {
                trusted_proxies: vec!["127.0.0.1".into()],
                user_header: "X-Remote-User".into(),
                groups_header: None,
                groups_separator: ",".into(),
            });
            cfg.auth.ldap = Some(ldap);
            cfg.auth.admins.groups = vec!["releng".into()];
            cfg.auth
                .allowed_clients
                .groups
                .insert("qa".into(), Constraints::default());
        },
        None,
    );
    let post = |user: &str| {
        s.call(
            "POST",
            "/api/1/composes/",
            Some(&tag_compose(&apps[0])),
            &[("X-Remote-User", user)],
        )
    };
    let r = post("alice");
    assert_eq!(r.status, 200, "{r:?}");
    let id = r.json["id"].as_i64().unwrap();
    let r = post("zed");
    assert_eq!(
        (r.status, r.message()),
        (403, "User zed not allowed to operate with any compose.")
    );
    // a name that would widen the filter is escaped: no group
    let r = post("*");
    assert_eq!(r.status, 403, "{r:?}");

    slapd.stop();
    let r = post("alice");
    assert_eq!(
        r.status, 200,
        "the groups last read serve while LDAP is down: {r:?}"
    );
    let r = post("bob");
    assert_eq!(r.status, 403, "bob was never looked up: {r:?}");

    slapd.restart().unwrap();
    let r = s.call(
        "DELETE",
        &format!("/api/1/composes/{id}"),
        None,
        &[("X-Remote-User", "root2")],
    );
    assert_eq!(
        r.status, 202,
        "root2 is an admin through LDAP group releng: {r:?}"
    );
    assert_eq!(
        s.get(&format!("/api/1/composes/{id}")).1["state_reason"],
        "Canceled by root2"
    );
}

/// `openssl` with arguments, in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    common::run_ok(
        Command::new(common::tool("openssl"))
            .current_dir(dir)
            .args(args),
    );
}

/// A CA, a server certificate for localhost/127.0.0.1 and client
/// certificates for `frank` (by the CA) and `rogue` (by another CA).
fn certificates(dir: &Path) {
    for ca in ["ca", "rogue-ca"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=ODCS test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ],
        );
    }
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, ca, subject, ext) in [
        ("server", "ca", "/CN=localhost", "server.ext"),
        ("frank", "ca", "/O=ODCS test/OU=QA/CN=frank", "client.ext"),
        ("rogue", "rogue-ca", "/CN=admin", "client.ext"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

/// Client certificates on the TLS listener: the subject CN of a certificate
/// of the configured CA is the user (curl and the Python client's
/// `AuthMech.SSL`); one of another CA is refused in the handshake; without
/// one, reading works and changing is a 401.
#[test]
fn client_certificates_on_the_tls_listener_name_the_user() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cert = odcs::config::auth::CertConfig {
        listen: format!("127.0.0.1:{port}"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        client_ca: dir.join("ca.pem"),
    };
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.auth.backends = vec![Backend::Cert];
            cfg.auth.cert = Some(cert);
            cfg.auth
                .allowed_clients
                .users
                .insert("frank".into(), Constraints::default());
        },
        None,
    );
    let https = format!("https://localhost:{port}");
    let curl =
        |cert: Option<&str>, method: &str, path: &str, body: Option<&Value>| -> (i32, String) {
            let mut cmd = Command::new(common::tool("curl"));
            cmd.current_dir(dir).args([
                "-s",
                "--cacert",
                "ca.pem",
                "-X",
                method,
                "-w",
                "\n%{http_code}",
            ]);
            if let Some(c) = cert {
                cmd.args(["--cert", &format!("{c}.pem"), "--key", &format!("{c}.key")]);
            }
            if let Some(b) = body {
                cmd.args(["-H", "Content-Type: application/json", "-d", &b.to_string()]);
            }
            let out = common::run(cmd.arg(format!("{https}{path}")));
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
    let body = tag_compose(&apps[0]);
    let (rc, out) = curl(None, "GET", "/api/1/about/", None);
    assert!(
        rc == 0 && out.ends_with("\n200") && out.contains("\"auth_backend\":\"cert\""),
        "{rc} {out}"
    );
    let (rc, out) = curl(None, "POST", "/api/1/composes/", Some(&body));
    assert!(rc == 0 && out.ends_with("\n401"), "{rc} {out}");
    let (rc, out) = curl(Some("frank"), "POST", "/api/1/composes/", Some(&body));
    assert!(rc == 0 && out.ends_with("\n200"), "{rc} {out}");
    let c: Value = serde_json::from_str(out.rsplit_once('\n').unwrap().0).unwrap();
    assert_eq!(c["owner"], "frank");
    let (rc, out) = curl(Some("rogue"), "POST", "/api/1/composes/", Some(&body));
    assert_ne!(rc, 0, "a certificate of another CA was accepted: {out}");
    // the plain listener knows no certificates
    assert_eq!(
        s.call("POST", "/api/1/composes/", Some(&body), &[]).status,
        401
    );

    let script = format!(
        r#"
from odcs.client.odcs import ODCS, AuthMech
odcs = ODCS("{https}", auth_mech=AuthMech.SSL, ssl_cert="frank.pem", ssl_key="frank.key")
c = odcs.new_compose("updates", "tag", packages=["{pkg}"], seconds_to_live=900)
assert c["owner"] == "frank", c
c = odcs.wait_for_compose(c["id"], timeout=60)
assert c["state_name"] == "done", c
odcs.delete_compose(c["id"])
print(c["id"])
"#,
        pkg = apps[3]
    );
    let out = common::run(
        Command::new("python3")
            .current_dir(dir)
            .env("REQUESTS_CA_BUNDLE", dir.join("ca.pem"))
            .arg("-c")
            .arg(&script),
    );
    assert!(
        out.status.success(),
        "the Python client with a client certificate failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id: i64 = stdout
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap();
    assert_eq!(s.wait_for(id, &["removed"])["removed_by"], "frank");
}

/// The odcs CLI's OIDC: the client credentials flow against the provider's
/// token endpoint (`OIDC_CLIENT_ID`/`OIDC_CLIENT_SECRET`), its access token
/// sent as a bearer token; the service account owns what it makes.
#[test]
fn the_odcs_cli_gets_an_oidc_token_by_client_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let oidc = idp.oidc_config();
    let (s, apps) = Server::start_with(
        false,
        |cfg| {
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            cfg.auth
                .allowed_clients
                .groups
                .insert("bots".into(), Constraints::default());
        },
        None,
    );
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::write(
        home.join(".config/odcs.toml"),
        format!("[redhat.prod]\nurl = \"http://unused.invalid\"\nid_provider = \"{}\"\noidc_authz_code_client_id = \"odcs\"\n", idp.base),
    )
    .unwrap();
    let cli = |args: &[&str], secret: &str| {
        let mut cmd = Command::new("odcs");
        cmd.args(["--server", &s.url]).args(args).env("HOME", &home);
        cmd.env("OIDC_CLIENT_ID", "svc-bot")
            .env("OIDC_CLIENT_SECRET", secret)
            .env("NO_OIDC_AUTHZ_CODE", "1");
        common::run(cmd.stdin(std::process::Stdio::null()))
    };
    let out = cli(&["create-tag", "updates", &apps[2]], "s3cret");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let c = cli_json(&out.stdout);
    assert_eq!(
        (c["owner"].as_str(), c["state_name"].as_str()),
        (Some("service-account-svc-bot"), Some("done")),
        "{c}"
    );
    let id = c["id"].to_string();
    assert!(cli(&["renew", &id], "s3cret").status.success());
    assert!(cli(&["delete", &id], "s3cret").status.success());
    assert_eq!(
        s.wait_for(c["id"].as_i64().unwrap(), &["removed"])["removed_by"],
        "service-account-svc-bot"
    );
}

/// Token introspection (RFC 7662): the provider is asked per request with
/// the service's client credentials; an inactive token is a 401, and
/// credentials the provider refuses are the operator's problem (503, saying so).
#[test]
fn oidc_token_introspection_asks_the_provider() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let config = |secret: &str| {
        let mut oidc = idp.oidc_config();
        oidc.jwks_url = None;
        oidc.introspection_url = Some(format!("{}introspect", idp.base));
        oidc.client_id = Some("odcs-server".into());
        oidc.client_secret = Some(secret.into());
        move |cfg: &mut odcs::config::Config| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            policy(cfg);
        }
    };
    let (s, apps) = Server::start_with(false, config("introspect-secret"), None);
    let token = idp.token("dave", &["qa"]);
    let post = |s: &Server, token: &str| {
        s.call(
            "POST",
            "/api/1/composes/",
            Some(&tag_compose(&apps[0])),
            &[("Authorization", &bearer(token))],
        )
    };
    let r = post(&s, &token);
    assert_eq!(
        (r.status, r.json["owner"].as_str()),
        (200, Some("dave")),
        "{r:?}"
    );
    idp.revoked.lock().unwrap().push(token.clone());
    let r = post(&s, &token);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.message().contains("not active"), "{r:?}");
    drop(s);

    let (s, _) = Server::start_with(false, config("wrong"), None);
    let r = post(&s, &idp.token("dave", &["qa"]));
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.message().contains("introspection") && r.message().contains("HTTP 401"),
        "{r:?}"
    );
}

/// `userinfo_url` (the original's `auth_openidc_userinfo_uri`): groups from
/// the provider's userinfo endpoint add to the token's; an endpoint that
/// does not answer adds none.
#[test]
fn oidc_groups_come_from_the_userinfo_endpoint_too() {
    let tmp = tempfile::tempdir().unwrap();
    let idp = Provider::start(tmp.path());
    let config = |userinfo: String| {
        let mut oidc = idp.oidc_config();
        oidc.userinfo_url = Some(userinfo);
        move |cfg: &mut odcs::config::Config| {
            cfg.workers = 0;
            cfg.auth.backends = vec![Backend::Oidc];
            cfg.auth.oidc = Some(oidc);
            policy(cfg);
        }
    };
    let (s, apps) = Server::start_with(false, config(format!("{}userinfo", idp.base)), None);
    let post = |s: &Server, user: &str| {
        s.call(
            "POST",
            "/api/1/composes/",
            Some(&tag_compose(&apps[0])),
            &[("Authorization", &bearer(&idp.token(user, &[])))],
        )
    };
    let r = post(&s, "frida");
    assert_eq!(
        (r.status, r.json["owner"].as_str()),
        (200, Some("frida")),
        "{r:?}"
    );
    let r = post(&s, "gus");
    assert_eq!(
        (r.status, r.message()),
        (403, "User gus not allowed to operate with any compose.")
    );
    drop(s);
    let (s, _) = Server::start_with(false, config(format!("{}nowhere", idp.base)), None);
    let r = post(&s, "frida");
    assert_eq!(
        (r.status, r.message()),
        (403, "User frida not allowed to operate with any compose.")
    );
}
