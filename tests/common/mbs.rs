//! The real Module Build Service 3.9.2 frontend (PyPI) as a test peer,
//! through `scripts/mbs-peer` (its venv, its SQLite database, module builds
//! imported with MBS's own `import_mmd`). formats.md §4.4 says how it runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::daemons::{failure, write_file};

fn script() -> PathBuf {
    super::manifest_dir().join("scripts/mbs-peer")
}

/// `scripts/mbs-peer setup`, once per test process.
fn setup() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let out = Command::new(script())
            .arg("setup")
            .output()
            .map_err(|e| format!("cannot run scripts/mbs-peer: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failure(
                "scripts/mbs-peer setup (the real MBS from PyPI; scripts/test runs it)",
                &out,
            ))
        }
    })
    .clone()
}

/// A running MBS; stopped when dropped.
pub struct Mbs {
    child: Child,
    /// `http://127.0.0.1:<port>/module-build-service`, the original's `mbs_url`.
    pub url: String,
}

impl Drop for Mbs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One import: the modulemd documents (with `xmd.mbs.koji_tag` for their
/// content tag), the MBS state they get (`ready`, `done`) and further
/// arguments of `scripts/mbs-peer import` (`{file}` stands for the file of
/// the documents: `--final-modulemd x86_64={file}`).
pub struct Import<'a> {
    pub state: &'a str,
    pub yaml: String,
    pub args: Vec<String>,
}

impl Mbs {
    /// An MBS under `dir` holding the builds of `imports`, in order.
    pub fn start(dir: &Path, imports: &[Import<'_>]) -> Result<Mbs, String> {
        setup()?;
        let run = |args: &[&std::ffi::OsStr]| -> Result<String, String> {
            let out = Command::new(script())
                .args(args)
                .output()
                .map_err(|e| format!("cannot run scripts/mbs-peer: {e}"))?;
            if !out.status.success() {
                return Err(failure(&format!("scripts/mbs-peer {:?}", args), &out));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let d = dir.as_os_str();
        run(&["init".as_ref(), d])?;
        for (i, import) in imports.iter().enumerate() {
            let file = dir.join(format!("import-{i}.yaml"));
            write_file(&file, &import.yaml)?;
            let extra: Vec<String> = import
                .args
                .iter()
                .map(|a| a.replace("{file}", &file.to_string_lossy()))
                .collect();
            let mut args: Vec<&std::ffi::OsStr> = vec![
                "import".as_ref(),
                d,
                "--state".as_ref(),
                import.state.as_ref(),
            ];
            args.extend(extra.iter().map(std::ffi::OsStr::new));
            args.push(file.as_os_str());
            run(&args)?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let log = std::fs::File::create(dir.join("mbs.log")).map_err(|e| e.to_string())?;
        let child = Command::new(script())
            .arg("run")
            .arg(dir)
            .arg(port.to_string())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start MBS: {e}"))?;
        let mbs = Mbs {
            child,
            url: format!("http://127.0.0.1:{port}/module-build-service"),
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(dir.join("mbs.log")).unwrap_or_default();
                return Err(format!(
                    "MBS did not answer on port {port} within 60 s:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(mbs)
    }
}
