//! HTTPS in front of the test hub, with a private CA, as many Koji
//! installations have: a CA and a server certificate for 127.0.0.1 made with
//! the `openssl` command, and a TLS-terminating front (rustls) that passes
//! each request to the plain-HTTP hub and its answer back.
//!
//! The front can also ask for client certificates signed by the CA
//! ([`TlsFront::start_with_client_ca`], for the Pulp 2 stand-in): a request
//! that came over TLS with one reaches upstream with the header
//! `X-Client-Verified: <subject CN>`; a connection that opens with plain
//! HTTP (not a TLS handshake) is passed on as it is, without that header, as
//! a server answering HTTP and HTTPS on one host would.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A private CA and a server certificate it signed, as PEM files in `dir`.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): the HTTPS hub tests make their certificates with it; scripts/test installs it")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `<name>.key` and `<name>.pem` in `dir`: an EC key and a certificate for
/// `subject` with the extensions `ext`, signed by the CA there (`ca.pem`,
/// `ca.key`).
fn signed(dir: &Path, name: &str, subject: &str, ext: &str) {
    let (key, csr, pem, ext_file) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    openssl(
        dir,
        &[
            "req",
            "-subj",
            subject,
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(dir.join(&ext_file), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            &ext_file,
            "-out",
            &pem,
        ],
    );
}

impl Certs {
    pub fn make(dir: &Path) -> Certs {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "3650", "-subj", "/CN=ODCS test CA"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &ca);
        signed(
            dir,
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        );
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }

    /// A client certificate for `cn` the CA of `make` (same `dir`) signed:
    /// its certificate and key files.
    pub fn make_client(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        signed(
            dir,
            cn,
            &format!("/CN={cn}"),
            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
        );
        (dir.join(format!("{cn}.pem")), dir.join(format!("{cn}.key")))
    }
}

/// Serves HTTPS on 127.0.0.1 and passes each request to `upstream_port`.
pub struct TlsFront {
    port: u16,
}

impl TlsFront {
    pub fn start(certs: &Certs, upstream_port: u16) -> TlsFront {
        TlsFront::start_with_client_ca(certs, upstream_port, false)
    }

    /// With `client_ca`, TLS clients must present a certificate the CA of
    /// `certs` signed; connections in plain HTTP are passed on too.
    pub fn start_with_client_ca(certs: &Certs, upstream_port: u16, client_ca: bool) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let config = if client_ca {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(&certs.ca).unwrap() {
                roots.add(ca.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap()
        } else {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap()
        };
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    // a TLS connection opens with a handshake record (0x16)
                    let mut first = [0u8; 1];
                    if client_ca && tcp.peek(&mut first).is_ok_and(|n| n == 1) && first[0] != 0x16 {
                        let _ = serve(tcp, upstream_port, None);
                        return;
                    }
                    let mut conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tcp = tcp;
                    while conn.is_handshaking() {
                        if conn.complete_io(&mut tcp).is_err() {
                            return;
                        }
                    }
                    let client = conn
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| common_name(c));
                    let _ = serve(rustls::StreamOwned::new(conn, tcp), upstream_port, client);
                });
            }
        });
        TlsFront { port }
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/kojihub", self.port)
    }
}

/// Request after request on one TLS connection: read it (head and
/// Content-Length body), send it upstream on a new connection that closes
/// after the answer, and write the answer back.
fn serve(
    tls: impl Read + Write,
    upstream_port: u16,
    client: Option<String>,
) -> std::io::Result<()> {
    let mut tls = BufReader::new(tls);
    loop {
        let mut head = Vec::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if tls.read_line(&mut line)? == 0 {
                return Ok(()); // the client closed the connection
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            let end = line == "\r\n";
            let lower = line.to_ascii_lowercase();
            // only the front says who the client is
            if !end && !lower.starts_with("connection:") && !lower.starts_with("x-client-verified:")
            {
                head.extend_from_slice(line.as_bytes());
            }
            if end {
                break;
            }
        }
        if let Some(cn) = &client {
            head.extend_from_slice(format!("X-Client-Verified: {cn}\r\n").as_bytes());
        }
        head.extend_from_slice(b"Connection: close\r\n\r\n");
        let mut body = vec![0; length];
        tls.read_exact(&mut body)?;
        let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
        upstream.write_all(&head)?;
        upstream.write_all(&body)?;
        let mut answer = Vec::new();
        upstream.read_to_end(&mut answer)?;
        let out = tls.get_mut();
        out.write_all(&answer)?;
        out.flush()?;
    }
}

/// The CN of a certificate's subject (the last one, as DER holds it): a
/// plain search for the commonName OID, enough for the certificates
/// [`Certs::make_client`] makes.
fn common_name(cert: &[u8]) -> String {
    const CN: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    let mut found = String::new();
    let mut i = 0;
    while i + CN.len() + 2 <= cert.len() {
        if cert[i..i + CN.len()] == CN {
            let len = usize::from(cert[i + CN.len() + 1]);
            let start = i + CN.len() + 2;
            if start + len <= cert.len() {
                found = String::from_utf8_lossy(&cert[start..start + len]).into_owned();
            }
        }
        i += 1;
    }
    found
}
