//! JSON Web Tokens (RFC 7519) signed with a provider's keys (JWKS, RFC 7517):
//! RS256/384/512, PS256/384/512, ES256/384 and EdDSA (Ed25519), verified with
//! `ring` (already built for rustls). `none` and HMAC algorithms are refused:
//! an OIDC provider signs with its private key, and a token must not choose
//! how it is checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Why a token is not accepted: the text goes into the 401.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0:?} is not accepted")]
    Algorithm(String),
    #[error("the token's key {0:?} is not one of the provider's keys")]
    UnknownKey(String),
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued by {0:?}, not by the configured issuer")]
    Issuer(String),
    #[error("the token is not meant for this service (aud {0})")]
    Audience(String),
}

/// A public key of a JWKS.
#[derive(Clone, Debug)]
pub struct Jwk {
    pub kid: Option<String>,
    key: KeyMaterial,
}

#[derive(Clone, Debug)]
enum KeyMaterial {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `04 || x || y`, and the curve.
    Ec {
        point: Vec<u8>,
        p384: bool,
    },
    Ed25519(Vec<u8>),
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("{what}: not base64url ({e})"))
}

/// The keys of a JWKS document (`{"keys": [...]}`); keys of other types or
/// uses are left out. An error when none is usable.
pub fn parse_jwks(text: &str) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("no \"keys\" list")?;
    let mut out = Vec::new();
    for k in keys {
        let s = |name: &str| k.get(name).and_then(Value::as_str);
        if s("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let key = match (s("kty"), s("crv")) {
            (Some("RSA"), _) => KeyMaterial::Rsa {
                n: b64(s("n").ok_or("RSA key without n")?, "n")?,
                e: b64(s("e").ok_or("RSA key without e")?, "e")?,
            },
            (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => {
                let mut point = vec![4u8];
                point.extend(b64(s("x").ok_or("EC key without x")?, "x")?);
                point.extend(b64(s("y").ok_or("EC key without y")?, "y")?);
                KeyMaterial::Ec {
                    point,
                    p384: crv == "P-384",
                }
            }
            (Some("OKP"), Some("Ed25519")) => {
                KeyMaterial::Ed25519(b64(s("x").ok_or("OKP key without x")?, "x")?)
            }
            _ => continue,
        };
        out.push(Jwk {
            kid: s("kid").map(str::to_owned),
            key,
        });
    }
    if out.is_empty() {
        return Err("no signing key of a supported type (RSA, EC P-256/P-384, Ed25519)".into());
    }
    Ok(out)
}

/// A token split and decoded, not yet verified.
pub struct Parsed {
    pub alg: String,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

pub fn parse(token: &str) -> Result<Parsed, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("it does not have three parts".into()));
    };
    let json = |part: &str, what: &str| -> Result<Map<String, Value>, JwtError> {
        let bytes = b64(part, what).map_err(JwtError::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(JwtError::Malformed(format!(
                "its {what} is not a JSON object"
            ))),
        }
    };
    let header = json(h, "header")?;
    let claims = json(c, "claims")?;
    Ok(Parsed {
        alg: header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        kid: header.get("kid").and_then(Value::as_str).map(str::to_owned),
        claims,
        signed: format!("{h}.{c}").into_bytes(),
        signature: b64(sig, "signature").map_err(JwtError::Malformed)?,
    })
}

impl Parsed {
    /// Checks the signature with the key of its `kid` (or, without one, any
    /// key that fits the algorithm).
    pub fn verify_signature(&self, keys: &[Jwk]) -> Result<(), JwtError> {
        let candidates: Vec<&Jwk> = match &self.kid {
            Some(kid) => keys
                .iter()
                .filter(|k| k.kid.as_ref() == Some(kid))
                .collect(),
            None => keys.iter().collect(),
        };
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey(self.kid.clone().unwrap_or_default()));
        }
        let mut algorithm_fits = false;
        for k in candidates {
            let checked = match (&k.key, self.alg.as_str()) {
                (KeyMaterial::Rsa { n, e }, alg) => {
                    let params: &signature::RsaParameters = match alg {
                        "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                        "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                        "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                        "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                        "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                        "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                        _ => continue,
                    };
                    RsaPublicKeyComponents { n, e }.verify(params, &self.signed, &self.signature)
                }
                (KeyMaterial::Ec { point, p384 }, alg) => {
                    let params = match (alg, p384) {
                        ("ES256", false) => &signature::ECDSA_P256_SHA256_FIXED,
                        ("ES384", true) => &signature::ECDSA_P384_SHA384_FIXED,
                        _ => continue,
                    };
                    UnparsedPublicKey::new(params, point).verify(&self.signed, &self.signature)
                }
                (KeyMaterial::Ed25519(x), "EdDSA") => {
                    UnparsedPublicKey::new(&signature::ED25519, x)
                        .verify(&self.signed, &self.signature)
                }
                _ => continue,
            };
            algorithm_fits = true;
            if checked.is_ok() {
                return Ok(());
            }
        }
        if algorithm_fits {
            Err(JwtError::Signature)
        } else {
            Err(JwtError::Algorithm(self.alg.clone()))
        }
    }
}

/// What the claims must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub leeway: i64,
    pub now: i64,
}

/// Checks `iss`, `aud`, `exp` and `nbf` (`exp` is required).
pub fn check_claims(claims: &Map<String, Value>, want: &Expected<'_>) -> Result<(), JwtError> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != want.issuer {
        return Err(JwtError::Issuer(iss.to_owned()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == want.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(want.audience)),
        _ => false,
    };
    if !aud_ok {
        let shown = claims
            .get("aud")
            .map_or_else(|| "missing".to_owned(), Value::to_string);
        return Err(JwtError::Audience(shown));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t as i64);
    match time("exp") {
        Some(exp) if exp + want.leeway > want.now => {}
        _ => return Err(JwtError::Expired),
    }
    if let Some(nbf) = time("nbf")
        && nbf - want.leeway > want.now
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    fn es256() -> (EcdsaKeyPair, Jwk) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])}]});
        let key = parse_jwks(&jwks.to_string()).unwrap().remove(0);
        (pair, key)
    }

    fn sign(pair: &EcdsaKeyPair, header: Value, claims: Value) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    #[test]
    fn signatures_claims_and_tampering() {
        let (pair, key) = es256();
        let claims = json!({"iss": "https://id", "aud": ["x", "odcs"], "exp": 2000, "nbf": 900, "sub": "bob"});
        let token = sign(&pair, json!({"alg": "ES256", "kid": "k1"}), claims);
        let parsed = parse(&token).unwrap();
        parsed.verify_signature(std::slice::from_ref(&key)).unwrap();
        let want = |now| Expected {
            issuer: "https://id",
            audience: "odcs",
            leeway: 10,
            now,
        };
        check_claims(&parsed.claims, &want(1000)).unwrap();
        assert_eq!(
            check_claims(&parsed.claims, &want(2010)),
            Err(JwtError::Expired)
        );
        assert_eq!(
            check_claims(&parsed.claims, &want(880)),
            Err(JwtError::NotYetValid)
        );
        let mut other = want(1000);
        other.audience = "else";
        assert!(matches!(
            check_claims(&parsed.claims, &other),
            Err(JwtError::Audience(_))
        ));
        other = want(1000);
        other.issuer = "https://evil";
        assert!(matches!(
            check_claims(&parsed.claims, &other),
            Err(JwtError::Issuer(_))
        ));

        // a changed claim breaks the signature
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            json!({"iss": "https://id", "aud": "odcs", "exp": 2000, "sub": "root"}).to_string(),
        );
        parts[1] = &forged;
        let forged = parts.join(".");
        assert_eq!(
            parse(&forged)
                .unwrap()
                .verify_signature(std::slice::from_ref(&key)),
            Err(JwtError::Signature)
        );
        // another key, an unknown kid, alg none
        let (other_pair, _) = es256();
        let wrong = sign(&other_pair, json!({"alg": "ES256", "kid": "k1"}), json!({}));
        assert_eq!(
            parse(&wrong)
                .unwrap()
                .verify_signature(std::slice::from_ref(&key)),
            Err(JwtError::Signature)
        );
        let unknown = sign(&pair, json!({"alg": "ES256", "kid": "k9"}), json!({}));
        assert_eq!(
            parse(&unknown)
                .unwrap()
                .verify_signature(std::slice::from_ref(&key)),
            Err(JwtError::UnknownKey("k9".into()))
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
            URL_SAFE_NO_PAD.encode(json!({"sub": "root"}).to_string())
        );
        assert_eq!(
            parse(&none)
                .unwrap()
                .verify_signature(std::slice::from_ref(&key)),
            Err(JwtError::Algorithm("none".into()))
        );
        assert!(matches!(parse("a.b"), Err(JwtError::Malformed(_))));
    }
}
