//! HTTPS in front of the test hub, with a private CA, as many Koji
//! installations have: a CA and a server certificate for 127.0.0.1 made with
//! the `openssl` command, and a TLS-terminating front (rustls) that passes
//! each request to the plain-HTTP hub and its answer back.

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
        let mut req = vec!["req", "-subj", "/CN=127.0.0.1"];
        req.extend(ec);
        req.extend(["-keyout", "server.key", "-out", "server.csr"]);
        openssl(dir, &req);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        Certs {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// Serves HTTPS on 127.0.0.1 and passes each request to `upstream_port`.
pub struct TlsFront {
    port: u16,
}

impl TlsFront {
    pub fn start(certs: &Certs, upstream_port: u16) -> TlsFront {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certs.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&certs.key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let config = config.clone();
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let _ = serve(rustls::StreamOwned::new(conn, tcp), upstream_port);
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
    tls: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    upstream_port: u16,
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
            if !end && !line.to_ascii_lowercase().starts_with("connection:") {
                head.extend_from_slice(line.as_bytes());
            }
            if end {
                break;
            }
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
