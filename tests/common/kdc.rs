//! A real MIT Kerberos KDC for tests: realm `ODCS.TEST` on 127.0.0.1 (a free
//! port, UDP and TCP), its database, stash, configuration, keytabs and
//! credential caches all in one temporary directory, run as the current user
//! and killed when the [`Kdc`] is dropped.
//!
//! Nothing here reads the system's `/etc/krb5.conf` or `/etc/krb5kdc`: every
//! Kerberos command is run with `KRB5_CONFIG` and `KRB5_KDC_PROFILE` pointing
//! into the temporary directory, and the processes under test must be given
//! the environment from [`Kdc::kinit`] (clients) or [`Kdc::server_env`]
//! (acceptors).
//!
//! The tools come from Debian's `krb5-kdc`, `krb5-admin-server` (for
//! `kadmin.local`) and `krb5-user` (for `kinit`, `klist`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::daemons::find_tool;
use super::daemons::{failure, tool_path, write_file};

/// The realm of every test KDC.
pub const REALM: &str = "ODCS.TEST";

/// File names of the profiles in the directory.
const KRB5_CONF: &str = "krb5.conf";
const KDC_CONF: &str = "kdc.conf";

/// How long the KDC may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running KDC; dropping it kills the KDC and removes its directory.
pub struct Kdc {
    /// The realm, `ODCS.TEST`.
    pub realm: String,
    /// The client/library profile (`KRB5_CONFIG`) of this realm.
    pub krb5_conf: PathBuf,
    /// The temporary directory holding everything.
    pub dir: PathBuf,
    /// The KDC's port on 127.0.0.1 (UDP and TCP).
    pub port: u16,
    child: Child,
    /// Numbers the credential caches so every `kinit` gets a fresh one.
    caches: AtomicUsize,
    // last, so the directory outlives the child (fields drop in order)
    _tmp: tempfile::TempDir,
}

impl Kdc {
    /// Creates a realm database and starts `krb5kdc` on it, returning once
    /// the KDC accepts TCP connections. Errs (after printing the reason with
    /// `eprintln!`) when the MIT tools are not installed, or when anything
    /// fails on the way.
    pub fn start() -> Result<Kdc, String> {
        let r = Self::start_inner();
        if let Err(e) = &r {
            eprintln!("test KDC not started: {e}");
        }
        r
    }

    fn start_inner() -> Result<Kdc, String> {
        for tool in ["krb5kdc", "kdb5_util", "kadmin.local", "kinit"] {
            find_tool(tool).ok_or_else(|| {
                format!(
                    "{tool} is not installed: the Kerberos tests need a real MIT KDC \
                     (apt-get install krb5-kdc krb5-admin-server krb5-user)"
                )
            })?;
        }
        let tmp = tempfile::Builder::new()
            .prefix("odcs-kdc-")
            .tempdir()
            .map_err(|e| format!("cannot make the KDC's temporary directory: {e}"))?;
        let dir = tmp.path().to_path_buf();

        // a port that is free now may be taken before the KDC binds it: try
        // again with another when the KDC exits on start
        let mut last_err = String::new();
        for attempt in 0..5 {
            let port = free_udp_tcp_port()?;
            write_file(&dir.join(KRB5_CONF), &krb5_conf_text(&dir, port))?;
            write_file(&dir.join(KDC_CONF), &kdc_conf_text(&dir, port))?;
            if attempt == 0 {
                create_database(&dir)?;
            }
            match spawn_kdc(&dir, port) {
                Ok(child) => {
                    return Ok(Kdc {
                        realm: REALM.to_owned(),
                        krb5_conf: dir.join(KRB5_CONF),
                        dir,
                        port,
                        child,
                        caches: AtomicUsize::new(0),
                        _tmp: tmp,
                    });
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Adds the principal `name` (e.g. `alice`) with `password`, which must
    /// not contain a double quote.
    pub fn add_user(&self, name: &str, password: &str) -> Result<(), String> {
        let princ = self.principal(name);
        self.kadmin(
            &format!("addprinc -pw \"{password}\" {princ}"),
            &format!("Principal \"{princ}\" created."),
        )
    }

    /// Adds the service principal `service` (e.g. `HTTP/localhost`) with a
    /// random key and writes its keys to a new keytab file, whose path it
    /// returns.
    /// Adds several service principals (`HTTP/localhost`, `HTTP/127.0.0.1`)
    /// into one keytab, as a host known by several names has; its path.
    pub fn add_services_keytab(&self, services: &[&str]) -> Result<PathBuf, String> {
        let keytab = self.dir.join("services.keytab");
        for service in services {
            let princ = self.principal(service);
            self.kadmin(
                &format!("addprinc -randkey {princ}"),
                &format!("Principal \"{princ}\" created."),
            )?;
            self.kadmin(
                &format!("ktadd -k \"{}\" {princ}", keytab.display()),
                &format!("Entry for principal {princ} with kvno"),
            )?;
        }
        Ok(keytab)
    }

    pub fn add_service_keytab(&self, service: &str) -> Result<PathBuf, String> {
        let princ = self.principal(service);
        self.kadmin(
            &format!("addprinc -randkey {princ}"),
            &format!("Principal \"{princ}\" created."),
        )?;
        let keytab = self.dir.join(format!("{}.keytab", file_safe(service)));
        self.kadmin(
            &format!("ktadd -k \"{}\" {princ}", keytab.display()),
            &format!("Entry for principal {princ} with kvno"),
        )?;
        Ok(keytab)
    }

    /// Gets `user` a ticket-granting ticket with `kinit` (its password fed on
    /// stdin) in a fresh credential cache file in the directory, and returns
    /// the environment a client process needs: `KRB5_CONFIG` and
    /// `KRB5CCNAME` (`FILE:…`). `KRB5_TRACE` is not in it; a caller that
    /// inherits one should `env_remove` it.
    pub fn kinit(&self, user: &str, password: &str) -> Result<Vec<(String, String)>, String> {
        let n = self.caches.fetch_add(1, Ordering::Relaxed);
        let file = format!("ccache-{}-{n}", file_safe(user));
        let ccache = format!("FILE:{}", self.dir.join(file).display());
        let mut child = command(&self.dir, tool_path("kinit"))
            .arg(self.principal(user))
            .env("KRB5CCNAME", &ccache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run kinit: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            // kinit may fail before it reads: its output says why
            let _ = writeln!(stdin, "{password}");
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("kinit did not finish: {e}"))?;
        if !out.status.success() {
            return Err(failure(&format!("kinit {user}"), &out));
        }
        Ok(vec![
            (
                "KRB5_CONFIG".to_owned(),
                self.krb5_conf.display().to_string(),
            ),
            ("KRB5CCNAME".to_owned(), ccache),
        ])
    }

    /// The environment an acceptor process needs: `KRB5_CONFIG`,
    /// `KRB5_KTNAME` (the default keytab) set to `keytab`, and
    /// `KRB5RCACHEDIR` (the replay cache) in the directory rather than
    /// `/var/tmp`.
    pub fn server_env(&self, keytab: &Path) -> Vec<(String, String)> {
        vec![
            (
                "KRB5_CONFIG".to_owned(),
                self.krb5_conf.display().to_string(),
            ),
            (
                "KRB5_KTNAME".to_owned(),
                format!("FILE:{}", keytab.display()),
            ),
            ("KRB5RCACHEDIR".to_owned(), self.dir.display().to_string()),
        ]
    }

    /// `name@ODCS.TEST`, unless `name` already names a realm.
    pub fn principal(&self, name: &str) -> String {
        if name.contains('@') {
            name.to_owned()
        } else {
            format!("{name}@{}", self.realm)
        }
    }

    /// What the KDC logged so far (its log file and stderr).
    pub fn logs(&self) -> String {
        logs(&self.dir)
    }

    /// One `kadmin.local -q` query, which succeeds when its output holds
    /// `expect` (kadmin.local exits 0 even when the query failed).
    fn kadmin(&self, query: &str, expect: &str) -> Result<(), String> {
        let out = run(&self.dir, "kadmin.local", &["-r", REALM, "-q", query])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() || !text.contains(expect) {
            return Err(failure(&format!("kadmin.local -q '{query}'"), &out));
        }
        Ok(())
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kdb5_util create` with a stash, in `dir`.
fn create_database(dir: &Path) -> Result<(), String> {
    let args = ["-r", REALM, "create", "-s", "-P", "odcs-test-master-key"];
    let out = run(dir, "kdb5_util", &args)?;
    if !out.status.success() {
        return Err(failure("kdb5_util create", &out));
    }
    Ok(())
}

/// Starts `krb5kdc -n` (in the foreground) on `dir`'s profiles and waits
/// until it listens on `port`; on failure the error holds the KDC's log.
fn spawn_kdc(dir: &Path, port: u16) -> Result<Child, String> {
    let stderr = std::fs::File::create(dir.join("krb5kdc.stderr"))
        .map_err(|e| format!("cannot create the KDC's stderr file: {e}"))?;
    let mut child = command(dir, tool_path("krb5kdc"))
        .args(["-n", "-r", REALM])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot run krb5kdc: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "krb5kdc exited ({status}) on start:\n{}",
                logs(dir)
            ));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "krb5kdc did not listen on {addr} within {START_TIMEOUT:?}:\n{}",
                logs(dir)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the KDC in `dir` logged so far (its log file and stderr).
fn logs(dir: &Path) -> String {
    let mut s = String::new();
    for f in ["kdc.log", "krb5kdc.stderr"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(f)) {
            let _ = write!(s, "--- {f}:\n{text}");
        }
    }
    s
}

/// A command with the profiles in `dir` and nothing from the system's, nor
/// from the caller's Kerberos environment.
fn command(dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env("KRB5_CONFIG", dir.join(KRB5_CONF))
        .env("KRB5_KDC_PROFILE", dir.join(KDC_CONF))
        .env("KRB5RCACHEDIR", dir)
        .env_remove("KRB5_TRACE")
        .env_remove("KRB5CCNAME")
        .env_remove("KRB5_KTNAME")
        .env_remove("KRB5_CLIENT_KTNAME")
        .current_dir(dir);
    c
}

/// Runs the tool `name` with `args` as [`command`] does, stdin empty,
/// collecting the output.
fn run(dir: &Path, name: &str, args: &[&str]) -> Result<Output, String> {
    command(dir, tool_path(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {name}: {e}"))
}

/// The krb5.conf for clients, acceptors and the admin tools.
fn krb5_conf_text(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    default_ccache_name = FILE:{d}/ccache-default
    default_keytab_name = FILE:{d}/default.keytab
    forwardable = true
    ticket_lifetime = 10h

[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
        default_domain = localhost
    }}

[domain_realm]
    localhost = {REALM}
    .localhost = {REALM}
    127.0.0.1 = {REALM}

[logging]
    kdc = FILE:{d}/kdc.log
    admin_server = FILE:{d}/kadmin.log
    default = FILE:{d}/krb5lib.log
"
    )
}

/// The kdc.conf (`KRB5_KDC_PROFILE`) of the KDC and the admin tools.
fn kdc_conf_text(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "[kdcdefaults]
    kdc_ports = 127.0.0.1:{port}
    kdc_tcp_ports = 127.0.0.1:{port}

[realms]
    {REALM} = {{
        database_name = {d}/principal
        key_stash_file = {d}/stash
        acl_file = {d}/kadm5.acl
        kdc_ports = 127.0.0.1:{port}
        kdc_tcp_ports = 127.0.0.1:{port}
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }}
"
    )
}

/// A port free on 127.0.0.1 for both TCP and UDP (the KDC takes both).
fn free_udp_tcp_port() -> Result<u16, String> {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| format!("cannot bind a TCP port on 127.0.0.1: {e}"))?;
        let port = tcp
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?
            .port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both TCP and UDP on 127.0.0.1".to_owned())
}

/// `name` with everything but ASCII letters and digits made `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
