//! `cert`: TLS client certificates on a TLS listener beside the plain one.
//! rustls verifies the chain against `client_ca` (a certificate is optional:
//! reading needs none); the verified leaf's subject CN is the user.
//!
//! The CN is read by the small DER walk below rather than with an X.509
//! crate: rustls has already checked the certificate, only one field is
//! wanted, and x509-parser would be the second largest dependency.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::auth::CertConfig;

/// The TLS configuration of the listener.
pub fn server_config(cfg: &CertConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>, String> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("[auth.cert] {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("[auth.cert] {}: no certificate", path.display()));
        }
        Ok(certs)
    };
    let chain = certs(&cfg.cert)?;
    let key = PrivateKeyDer::from_pem_file(&cfg.key)
        .map_err(|e| format!("[auth.cert] key {}: {e}", cfg.key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(&cfg.client_ca)? {
        roots
            .add(ca)
            .map_err(|e| format!("[auth.cert] client_ca {}: {e}", cfg.client_ca.display()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|e| format!("[auth.cert] client_ca: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("[auth.cert]: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("[auth.cert] cert/key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// One DER element: its tag, its contents, and what follows it.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
/// id-at-commonName, 2.5.4.3
const CN_OID: &[u8] = &[0x55, 0x04, 0x03];

/// The subject's common name of a DER certificate.
pub fn subject_cn(der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version (optional), serial, signature, issuer, validity, subject
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, mut names, _) = element(rest)? else {
        return None;
    };
    let mut cn = None;
    while !names.is_empty() {
        let (SET, mut set, next) = element(names)? else {
            return None;
        };
        names = next;
        while !set.is_empty() {
            let (SEQUENCE, pair, next) = element(set)? else {
                return None;
            };
            set = next;
            let (0x06, oid, value) = element(pair)? else {
                return None;
            };
            if oid == CN_OID {
                let (_, text, _) = element(value)?;
                // the last CN is the most specific one
                cn = Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    cn
}
