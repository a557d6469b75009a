//! A real OpenLDAP `slapd` for tests: suffix `dc=odcs,dc=test` with
//! `posixGroup` entries under `ou=groups`, an mdb database and a `slapd.conf`
//! in a temporary directory, listening on `ldap://127.0.0.1:PORT/` (a free
//! port), run as the current user and killed when the [`Slapd`] is dropped.
//!
//! Nothing here uses the system's slapd or its configuration (Debian's
//! package may run one on port 389: it is left alone), nor the client's
//! `/etc/ldap/ldap.conf` (`LDAPNOINIT` is set for the tools run here).
//!
//! The tools come from Debian's `slapd` (slapd, slapadd) and `ldap-utils`
//! (ldapsearch).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::daemons::find_tool;
use super::daemons::{failure, tool_path, write_file};

/// The suffix of every test directory.
pub const BASE: &str = "dc=odcs,dc=test";
/// The directory's root DN, which may write everything.
pub const ROOT_DN: &str = "cn=admin,dc=odcs,dc=test";
/// The root DN's password.
pub const ROOT_PW: &str = "odcs-test-admin";

/// How long slapd may take to answer a search.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A slapd over a loaded directory; dropping it kills slapd and removes its
/// directory.
pub struct Slapd {
    /// `ldap://127.0.0.1:PORT` (the same across [`Slapd::restart`]).
    pub url: String,
    /// `dc=odcs,dc=test`.
    pub base: String,
    /// `ou=groups,dc=odcs,dc=test`, holding the `posixGroup` entries.
    pub groups_base: String,
    /// `ou=people,dc=odcs,dc=test`, holding an `inetOrgPerson` (and
    /// `posixAccount`) entry for every member uid of the groups.
    pub people_base: String,
    /// The root DN and its password, for tests that write.
    pub root_dn: String,
    pub root_pw: String,
    /// The temporary directory (slapd.conf, database, logs).
    pub dir: PathBuf,
    port: u16,
    child: Option<Child>,
    // last, so the directory outlives the child (fields drop in order)
    _tmp: tempfile::TempDir,
}

impl Slapd {
    /// Writes a slapd.conf and loads (with slapadd) the base, `ou=groups`,
    /// `ou=people` and one `posixGroup` per `(cn, member uids)` of `groups`
    /// (gidNumbers 10000, 10001, …), then starts slapd and returns once a
    /// search is answered. Errs (after printing the reason with `eprintln!`)
    /// when slapd is not installed, or when anything fails on the way.
    pub fn start(groups: &[(&str, &[&str])]) -> Result<Slapd, String> {
        let r = Self::start_inner(groups);
        if let Err(e) = &r {
            eprintln!("test slapd not started: {e}");
        }
        r
    }

    fn start_inner(groups: &[(&str, &[&str])]) -> Result<Slapd, String> {
        for tool in ["slapd", "slapadd", "ldapsearch"] {
            find_tool(tool).ok_or_else(|| {
                format!(
                    "{tool} is not installed: the LDAP tests need a real OpenLDAP server \
                     (apt-get install slapd ldap-utils)"
                )
            })?;
        }
        let tmp = tempfile::Builder::new()
            .prefix("odcs-slapd-")
            .tempdir()
            .map_err(|e| format!("cannot make slapd's temporary directory: {e}"))?;
        let dir = tmp.path().to_path_buf();
        let db = dir.join("db");
        std::fs::create_dir(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
        write_file(&dir.join("slapd.conf"), &slapd_conf(&dir)?)?;
        write_file(&dir.join("data.ldif"), &ldif(groups))?;
        let out = run(Command::new(tool_path("slapadd"))
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(dir.join("data.ldif")))?;
        if !out.status.success() {
            return Err(failure("slapadd", &out));
        }

        let mut slapd = Slapd {
            url: String::new(),
            base: BASE.to_owned(),
            groups_base: format!("ou=groups,{BASE}"),
            people_base: format!("ou=people,{BASE}"),
            root_dn: ROOT_DN.to_owned(),
            root_pw: ROOT_PW.to_owned(),
            dir,
            port: 0,
            child: None,
            _tmp: tmp,
        };
        // a port free now may be taken before slapd binds it: try another
        // when slapd exits on start
        let mut last_err = String::new();
        for _ in 0..5 {
            slapd.port = free_port()?;
            slapd.url = format!("ldap://127.0.0.1:{}", slapd.port);
            match slapd.spawn() {
                Ok(()) => return Ok(slapd),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Kills slapd (the data stays): clients then get "connection refused".
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts slapd again on the same URL and data (stopping it first if it
    /// runs), returning once it answers.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        self.spawn()
    }

    /// Whether slapd runs (it may have died on its own).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// What slapd wrote on stderr so far (the last start's).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.stderr")).unwrap_or_default()
    }

    /// `ldapsearch -x -LLL` (anonymous) against this server: its output.
    pub fn search(
        &self,
        base: &str,
        scope: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Output, String> {
        run(Command::new(tool_path("ldapsearch"))
            .args([
                "-x",
                "-LLL",
                "-o",
                "nettimeout=2",
                "-H",
                &self.url,
                "-b",
                base,
                "-s",
                scope,
                filter,
            ])
            .args(attrs))
    }

    /// Runs slapd in the foreground on `self.port` and waits until it answers
    /// a search of the base.
    fn spawn(&mut self) -> Result<(), String> {
        let stderr = std::fs::File::create(self.dir.join("slapd.stderr"))
            .map_err(|e| format!("cannot create slapd's stderr file: {e}"))?;
        let child = Command::new(tool_path("slapd"))
            .arg("-f")
            .arg(self.dir.join("slapd.conf"))
            .arg("-h")
            .arg(format!("{}/", self.url))
            .args(["-d", "0"])
            .env("LDAPNOINIT", "1")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot run slapd: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                self.stop();
                return Err(format!("slapd exited on start:\n{}", self.logs()));
            }
            let searched = self.search(&self.base, "base", "(objectClass=*)", &["1.1"]);
            if searched.is_ok_and(|out| out.status.success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "slapd did not answer on {} within {START_TIMEOUT:?}:\n{}",
                    self.url,
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The slapd.conf: the schemas, an mdb database in `dir/db`, anonymous read.
fn slapd_conf(dir: &Path) -> Result<String, String> {
    let schema = Path::new("/etc/ldap/schema");
    let mut s = String::new();
    for name in ["core", "cosine", "nis", "inetorgperson"] {
        let file = schema.join(format!("{name}.schema"));
        if !file.is_file() {
            return Err(format!(
                "{} is missing (Debian's slapd ships it)",
                file.display()
            ));
        }
        let _ = writeln!(s, "include {}", file.display());
    }
    let d = dir.display();
    let _ = writeln!(s, "pidfile {d}/slapd.pid\nargsfile {d}/slapd.args");
    // Debian builds the backends as modules; other builds may have mdb built in
    if let Some(modules) = [
        "/usr/lib/ldap",
        "/usr/lib/x86_64-linux-gnu/ldap",
        "/usr/libexec/openldap",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.join("back_mdb.la").is_file() || p.join("back_mdb.so").is_file())
    {
        let _ = writeln!(s, "modulepath {}\nmoduleload back_mdb", modules.display());
    }
    let _ = write!(
        s,
        "
database mdb
maxsize 67108864
suffix \"{BASE}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PW}
directory {d}/db
index objectClass eq
index memberUid eq
index uid eq
access to * by * read
"
    );
    Ok(s)
}

/// The entries slapadd loads.
fn ldif(groups: &[(&str, &[&str])]) -> String {
    let mut s = format!(
        "dn: {BASE}
objectClass: dcObject
objectClass: organization
dc: odcs
o: ODCS tests

dn: ou=groups,{BASE}
objectClass: organizationalUnit
ou: groups

dn: ou=people,{BASE}
objectClass: organizationalUnit
ou: people
"
    );
    for (i, (cn, members)) in groups.iter().enumerate() {
        let _ = write!(
            s,
            "\ndn: cn={cn},ou=groups,{BASE}\nobjectClass: posixGroup\ncn: {cn}\ngidNumber: {}\n",
            10000 + i
        );
        for uid in members.iter() {
            let _ = writeln!(s, "memberUid: {uid}");
        }
    }
    let uids: BTreeSet<&str> = groups.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    for (i, uid) in uids.iter().enumerate() {
        let _ = write!(
            s,
            "\ndn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: {uid}\ncn: {uid}\nsn: {uid}\nuidNumber: {}\ngidNumber: 10000\n\
             homeDirectory: /home/{uid}\n",
            20000 + i
        );
    }
    s
}

/// A TCP port free on 127.0.0.1 now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Runs `cmd` without the system's or the user's LDAP client configuration,
/// collecting its output.
fn run(cmd: &mut Command) -> Result<Output, String> {
    cmd.env("LDAPNOINIT", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))
}
