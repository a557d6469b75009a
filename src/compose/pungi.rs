//! Running Pungi (odcs-api.md §7.3) for what the native engine does not make,
//! and `raw_config` composes (§7.5): a Pungi configuration from a git
//! repository named in the server's `raw_config_urls`, at the commit the
//! request gives.
//!
//! Pungi runs as its own process group in the compose's `.part` directory
//! (renamed into place only when it succeeds, as every compose here), its
//! stdout and stderr in `pungi-stdout.log` / `pungi-stderr.log` there; the
//! compose's `progress` follows the phases Pungi logs in
//! `logs/global/pungi.global.log`; a cancelled compose, or one that runs past
//! its Pungi timeout, has its whole process group killed; a failure quotes
//! the end of `pungi-stderr.log` and the phase Pungi was in.
//!
//! The compose is named before Pungi runs, as the original does
//! (`COMPOSE_ID`, `composeinfo-base.json`, the respin the next free one
//! among this service's composes), when the configuration states its
//! release as plain strings; a configuration that computes them leaves the
//! naming to Pungi. A `raw_config_wrapper` is a Jinja2 template (minijinja)
//! rendered with the compose's JSON.
//!
//! Departure from the original, said here and in the closing note of #16:
//! the configuration is handed to Pungi as the repository holds it (the
//! original parses it with kobo and hands Pungi a JSON dump; Pungi reads
//! both).
//!
//! A repository over https may need a password: `raw_config_credentials`
//! gives one per URL pattern, handed to git by a credential helper through
//! the environment of that git process (never its command line). With
//! `[pungi] config_validate`, `pungi-config-validate` checks a raw config
//! (and its `schema_override`) before Pungi runs.

use std::io::{Read as _, Seek as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Progress;
use super::request::{ComposeError, ComposeResult};

/// How Pungi is run here (`[pungi]`).
#[derive(Clone, Debug)]
pub struct PungiSetup {
    /// `pungi-koji` and the arguments every run gets (`pungi_koji_args`).
    pub command: Vec<String>,
    /// How long one run may take (the original's `pungi_timeout`).
    pub timeout: Duration,
    /// `raw_config_urls`: name → where its configuration is.
    pub raw_configs: std::sync::Arc<RawConfigs>,
    /// `pungi-config-validate`, run on a raw_config's configuration before
    /// Pungi when set (`[pungi] config_validate`).
    pub config_validate: Option<String>,
    /// `<[mbs] url>/1`: where Pungi looks up scratch modules.
    pub mbs_api_url: Option<String>,
    /// `raw_config_credentials`: name → URL pattern → user and password
    /// for cloning over https.
    pub credentials:
        std::collections::BTreeMap<String, std::collections::BTreeMap<String, GitCredentials>>,
}

/// A user and password for one raw_config repository over https
/// (`[raw_config_credentials.NAME."URL regex"]`).
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitCredentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The `raw_config_urls` of the configuration and, when
/// `raw_config_urls_file` names one, those of that TOML file (`[NAME]`
/// tables), read again whenever its modification time changes, as the
/// original re-reads its `raw_config_urls.conf`; the file's entries win.
#[derive(Debug, Default)]
pub struct RawConfigs {
    fixed: std::collections::BTreeMap<String, RawConfig>,
    file: Option<PathBuf>,
    /// The file's modification time when read, and what it held.
    read: std::sync::Mutex<(
        Option<std::time::SystemTime>,
        std::collections::BTreeMap<String, RawConfig>,
    )>,
}

impl RawConfigs {
    pub fn new(
        fixed: std::collections::BTreeMap<String, RawConfig>,
        file: Option<PathBuf>,
    ) -> RawConfigs {
        RawConfigs {
            fixed,
            file,
            read: Default::default(),
        }
    }

    /// Every entry now; a file that cannot be read or parsed keeps what
    /// it held before (and says why in the log).
    pub fn all(&self) -> std::collections::BTreeMap<String, RawConfig> {
        let mut out = self.fixed.clone();
        let Some(path) = &self.file else {
            return out;
        };
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if mtime != read.0 {
            let parsed = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    toml::from_str::<std::collections::BTreeMap<String, RawConfig>>(&t)
                        .map_err(|e| e.to_string())
                });
            match parsed {
                Ok(entries) => {
                    tracing::info!(
                        "raw_config_urls: {} entries from {}",
                        entries.len(),
                        path.display()
                    );
                    *read = (mtime, entries);
                }
                Err(e) => {
                    tracing::warn!(
                        "raw_config_urls: {}: {e}; keeping what it held before",
                        path.display()
                    );
                    read.0 = mtime;
                }
            }
        }
        out.extend(read.1.clone());
        out
    }

    pub fn get(&self, name: &str) -> Option<RawConfig> {
        self.all().remove(name)
    }
}

/// One entry of `raw_config_urls` (odcs-api.md §7.5).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The git repository.
    pub url: String,
    /// The configuration file in it (may hold a sub-path).
    pub config_filename: String,
    /// A sub-directory of the repository holding the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A fixed commit: overrides the one the request gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Seconds one Pungi run of this configuration may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pungi_timeout: Option<u64>,
    /// Arguments in place of `[pungi] args` (the original's
    /// `raw_config_pungi_koji_args[name]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pungi_args: Option<Vec<String>>,
    /// The default lifetime of its composes, instead of the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_to_live: Option<i64>,
    /// The longest lifetime of its composes, instead of the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds_to_live: Option<i64>,
    /// A Jinja2 template on this server that becomes `pungi.conf`, rendered
    /// with `compose` = the compose's JSON; it imports the repository's
    /// configuration, saved beside it as `raw_config.conf` (`from
    /// raw_config import *`), and can use e.g. `compose.builds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_config_wrapper: Option<PathBuf>,
    /// A JSON file of schema changes `pungi-config-validate` applies
    /// (`--schema-override`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_override: Option<PathBuf>,
    /// A shell command run in the compose directory after Pungi succeeded
    /// (at most [`POST_SCRIPT_TIMEOUT`]); its failure is logged, the
    /// compose stays done, as in the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_script: Option<String>,
}

/// How long a raw config's `post_script` may run.
pub const POST_SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// Run `script` with `sh -c` in `dir` (its own process group, output in
/// `post-script.log` there); what went wrong, if anything.
fn run_post_script(script: &str, dir: &Path) -> Option<String> {
    let log = match std::fs::File::create(dir.join("post-script.log")) {
        Ok(f) => f,
        Err(e) => return Some(format!("post-script.log: {e}")),
    };
    let err = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return Some(e.to_string()),
    };
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot run sh: {e}")),
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return None,
            Ok(Some(s)) => return Some(format!("it ended with {s}")),
            Ok(None) if started.elapsed() > POST_SCRIPT_TIMEOUT => {
                kill_group(child.id());
                let _ = child.wait();
                return Some(format!(
                    "it ran longer than {} seconds",
                    POST_SCRIPT_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Some(e.to_string()),
        }
    }
}

/// One Pungi run.
pub struct Run<'a> {
    pub config: &'a Path,
    /// Where Pungi writes the compose (`--compose-dir`).
    pub compose_dir: &'a Path,
    /// Where it runs (the configuration's files are beside `config`).
    pub work: &'a Path,
    pub args: &'a [String],
    pub compose_type: &'a str,
    pub label: Option<&'a str>,
    pub koji_event: Option<i64>,
    pub respin_of: Option<&'a str>,
    /// The composes this one is made from (white-space separated):
    /// `--parent-compose-id` each.
    pub parent_compose_ids: Option<&'a str>,
    /// Where Pungi looks for an earlier compose to reuse
    /// (`--old-composes`).
    pub old_composes: Option<&'a Path>,
    pub timeout: Duration,
}

/// The compose types Pungi knows; any other is a test compose to it (and
/// here, where the type names a directory of symlinks).
pub const COMPOSE_TYPES: [&str; 5] = ["test", "ci", "nightly", "production", "development"];

/// `compose_type` as Pungi takes it.
fn known_type(compose_type: &str) -> &'static str {
    COMPOSE_TYPES
        .iter()
        .find(|t| **t == compose_type)
        .copied()
        .unwrap_or("test")
}

/// The Pungi flag of a compose type.
fn type_flag(compose_type: &str) -> String {
    format!("--{}", known_type(compose_type))
}

const TYPE_FLAGS: [&str; 5] = [
    "--test",
    "--ci",
    "--nightly",
    "--production",
    "--development",
];

/// The command line of a run (odcs-api.md §7.3), after the command.
pub fn arguments(run: &Run<'_>) -> Vec<String> {
    let mut a = vec![
        format!("--config={}", run.config.display()),
        "--no-latest-link".to_owned(),
        format!("--compose-dir={}", run.compose_dir.display()),
    ];
    a.extend(run.args.iter().cloned());
    if !run.args.iter().any(|x| TYPE_FLAGS.contains(&x.as_str())) {
        a.push(type_flag(run.compose_type));
    }
    if let Some(l) = run.label {
        a.push(format!("--label={l}"));
    }
    for id in run.parent_compose_ids.unwrap_or("").split_whitespace() {
        a.push(format!("--parent-compose-id={id}"));
    }
    if let Some(r) = run.respin_of {
        a.push(format!("--respin-of={r}"));
    }
    if let Some(e) = run.koji_event {
        a.push("--koji-event".to_owned());
        a.push(e.to_string());
    }
    if let Some(d) = run.old_composes {
        a.push("--old-composes".to_owned());
        a.push(d.display().to_string());
    }
    a
}

/// The phase Pungi logged last (`---------- PHASE: GATHER ----------`),
/// in lower case, reading `log` from `offset` on.
fn last_phase(log: &Path, offset: &mut u64, phase: &mut Option<String>) {
    let Ok(mut f) = std::fs::File::open(log) else {
        return;
    };
    if f.seek(std::io::SeekFrom::Start(*offset)).is_err() {
        return;
    }
    let mut text = String::new();
    if f.read_to_string(&mut text).is_err() {
        return;
    }
    // only whole lines; the rest is read next time
    let Some(end) = text.rfind('\n') else {
        return;
    };
    *offset += end as u64 + 1;
    for line in text[..end].lines() {
        // kobo's `[BEGIN] ---------- PHASE: GATHER ----------`
        if let Some(rest) = line.split("PHASE: ").nth(1)
            && line.contains("[BEGIN")
        {
            let name = rest.trim_end_matches(['-', ' ']).trim().to_lowercase();
            *phase = Some(name);
        }
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
        std::thread::sleep(Duration::from_millis(500));
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Run Pungi to its end: `Ok` when it succeeded, the failure (with the end
/// of its stderr and its phase) otherwise.
pub fn run_pungi(
    setup: &PungiSetup,
    run: &Run<'_>,
    progress: &dyn Progress,
) -> Result<(), ComposeError> {
    let fail = |m: String| ComposeError::Pungi(m);
    std::fs::create_dir_all(run.compose_dir)
        .map_err(|e| fail(format!("{}: {e}", run.compose_dir.display())))?;
    let log_file = |name: &str| {
        std::fs::File::create(run.compose_dir.join(name)).map_err(|e| fail(format!("{name}: {e}")))
    };
    let (program, fixed) = setup
        .command
        .split_first()
        .ok_or_else(|| fail("no Pungi command configured ([pungi] koji)".into()))?;
    let args = arguments(run);
    progress.note(&format!(
        "running {program} {} {}",
        fixed.join(" "),
        args.join(" ")
    ));
    let mut cmd = Command::new(program);
    cmd.args(fixed)
        .args(&args)
        .current_dir(run.work)
        .stdin(Stdio::null())
        .stdout(log_file("pungi-stdout.log")?)
        .stderr(log_file("pungi-stderr.log")?);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    let started = Instant::now();
    let global_log = run.compose_dir.join("logs/global/pungi.global.log");
    let (mut offset, mut phase, mut shown) = (0u64, None::<String>, None::<String>);
    let status = loop {
        last_phase(&global_log, &mut offset, &mut phase);
        if phase != shown {
            if let Some(p) = &phase {
                progress.phase(p, None);
            }
            shown = phase.clone();
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(format!("waiting for {program}: {e}"))),
        }
        if progress.cancelled() {
            kill_group(child.id());
            let _ = child.wait();
            return Err(ComposeError::Cancelled);
        }
        if started.elapsed() > run.timeout {
            kill_group(child.id());
            let _ = child.wait();
            return Err(fail(format!(
                "Pungi ran longer than its timeout ({} seconds){}",
                run.timeout.as_secs(),
                phase
                    .as_ref()
                    .map(|p| format!(", in phase {p}"))
                    .unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    last_phase(&global_log, &mut offset, &mut phase);
    if !status.success() {
        return Err(fail(format!(
            "Pungi failed ({status}){}; the end of pungi-stderr.log:\n{}",
            phase
                .as_ref()
                .map(|p| format!(" in phase {p}"))
                .unwrap_or_default(),
            tail(&run.compose_dir.join("pungi-stderr.log"), 10)
        )));
    }
    Ok(())
}

/// Run `f` with the compose's `.part` directory (where Pungi writes) and a
/// work directory beside it (the configuration), both made empty first;
/// the work directory is removed after, the `.part` one renamed into place
/// when `f` succeeds and removed when it fails (nothing is left behind).
fn in_pungi_dirs<T>(
    target: &Path,
    name: &str,
    f: impl FnOnce(&Path, &Path) -> Result<T, ComposeError>,
) -> Result<(T, PathBuf), ComposeError> {
    let fail = |m: String| ComposeError::Pungi(m);
    let final_dir = target.join(name);
    if final_dir.exists() {
        return Err(ComposeError::Exists {
            name: name.to_owned(),
            target: target.to_owned(),
        });
    }
    let part = target.join(format!(".{name}.part"));
    let work = target.join(format!(".{name}.pungi-work"));
    for d in [&part, &work] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(|e| fail(format!("{}: {e}", d.display())))?;
        }
    }
    std::fs::create_dir_all(&work).map_err(|e| fail(format!("{}: {e}", work.display())))?;
    let result = f(&part, &work);
    let _ = std::fs::remove_dir_all(&work);
    match result {
        Ok(v) => {
            std::fs::rename(&part, &final_dir)
                .map_err(|e| fail(format!("{}: {e}", final_dir.display())))?;
            Ok((v, final_dir))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&part);
            Err(e)
        }
    }
}

/// The compose id Pungi wrote into `compose_dir`.
fn compose_id_of(compose_dir: &Path) -> Result<String, ComposeError> {
    std::fs::read_to_string(compose_dir.join("COMPOSE_ID"))
        .map(|s| s.trim().to_owned())
        .map_err(|e| ComposeError::Pungi(format!("Pungi wrote no COMPOSE_ID: {e}")))
}

/// What a raw_config compose is asked.
pub struct RawRequest<'a> {
    /// `odcs-<id>`.
    pub name: &'a str,
    /// `<name>#<commit>`.
    pub source: &'a str,
    pub compose_type: &'a str,
    pub label: Option<&'a str>,
    pub koji_event: i64,
    pub respin_of: Option<&'a str>,
    /// Its `parent_pungi_compose_ids` (white-space separated).
    pub parent_compose_ids: Option<&'a str>,
    /// The stored configuration dump of the compose this one renews.
    pub config_dump: Option<&'a str>,
    /// The compose's JSON, for a wrapper template.
    pub compose_json: &'a serde_json::Value,
    /// Claims the next free respin of a Pungi compose id prefix
    /// (`<short>-<version>-<date><type>.`) for this compose and returns it.
    pub claim_respin: &'a (dyn Fn(&str) -> i64 + Sync),
}

/// The suffix of a compose type in Pungi's compose ids.
fn type_suffix(compose_type: &str) -> &'static str {
    match known_type(compose_type) {
        "production" => "",
        "nightly" => ".n",
        "ci" => ".ci",
        "development" => ".d",
        _ => ".t",
    }
}

/// The next respin after those of `taken` (ids starting with `prefix`).
pub fn next_respin(taken: &[String], prefix: &str) -> i64 {
    taken
        .iter()
        .filter_map(|id| id.strip_prefix(prefix)?.parse::<i64>().ok())
        .max()
        .map_or(0, |r| r + 1)
}

/// `release_name`, `release_short` and `release_version` of a Pungi
/// configuration, when they are plain strings: a JSON dump, or the kobo
/// format's `key = "value"` lines. `None` when one of them is computed
/// (a wrapper): Pungi then names the compose itself.
fn release_of_config(path: &Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let get = |key: &str| -> Option<String> {
        if path.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            return v.get(key)?.as_str().map(str::to_owned);
        }
        text.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            if k.trim() != key {
                return None;
            }
            let v = v.trim();
            let q = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let inner = v.strip_prefix(q)?.strip_suffix(q)?;
            (!inner.contains(['\\', '"', '\''])).then(|| inner.to_owned())
        })
    };
    Some((
        get("release_name")?,
        get("release_short")?,
        get("release_version")?,
    ))
}

/// Name the compose before Pungi runs, as the original does: `COMPOSE_ID`
/// and `work/global/composeinfo-base.json` in `compose_dir`, with the next
/// free respin of the day; `false` when the configuration does not say its
/// release plainly.
fn name_compose(
    config: &Path,
    compose_dir: &Path,
    compose_type: &str,
    label: Option<&str>,
    claim_respin: &(dyn Fn(&str) -> i64 + Sync),
) -> Result<bool, ComposeError> {
    let Some((name, short, version)) = release_of_config(config) else {
        return Ok(false);
    };
    let date = crate::date::today();
    let prefix = format!("{short}-{version}-{date}{}.", type_suffix(compose_type));
    let respin = claim_respin(&prefix);
    let id = format!("{prefix}{respin}");
    let mut compose = serde_json::json!({
        "id": id, "date": date, "type": known_type(compose_type), "respin": respin,
    });
    if let Some(l) = label {
        compose["label"] = serde_json::json!(l);
    }
    let info = serde_json::json!({
        "header": {"type": "productmd.composeinfo", "version": "1.2"},
        "payload": {
            "compose": compose,
            "release": {"name": name, "short": short, "version": version,
                        "type": "ga", "internal": false, "is_layered": false},
            "variants": {}
        }
    });
    let global = compose_dir.join("work/global");
    let io = |e: std::io::Error| ComposeError::Pungi(format!("{}: {e}", compose_dir.display()));
    std::fs::create_dir_all(&global).map_err(io)?;
    std::fs::write(compose_dir.join("COMPOSE_ID"), &id).map_err(io)?;
    std::fs::write(
        global.join("composeinfo-base.json"),
        serde_json::to_string_pretty(&info).unwrap_or_default(),
    )
    .map_err(io)?;
    Ok(true)
}

/// The configuration through a wrapper (odcs-api.md §7.5): `config` saved
/// as `raw_config.conf` beside it, the wrapper template rendered with
/// `compose` as `pungi.conf` there; the path of `pungi.conf`.
fn wrap(
    config: &Path,
    wrapper: &Path,
    compose: &serde_json::Value,
) -> Result<PathBuf, ComposeError> {
    let fail =
        |m: String| ComposeError::Pungi(format!("raw config wrapper {}: {m}", wrapper.display()));
    let dir = config.parent().unwrap_or(Path::new("."));
    let template = std::fs::read_to_string(wrapper).map_err(|e| fail(e.to_string()))?;
    let mut env = minijinja::Environment::new();
    env.add_template("wrapper", &template)
        .map_err(|e| fail(e.to_string()))?;
    let rendered = env
        .get_template("wrapper")
        .and_then(|t| {
            t.render(minijinja::context! { compose => minijinja::Value::from_serialize(compose) })
        })
        .map_err(|e| fail(e.to_string()))?;
    let saved = dir.join("raw_config.conf");
    std::fs::copy(config, &saved).map_err(|e| fail(format!("{}: {e}", saved.display())))?;
    let out = dir.join("pungi.conf");
    std::fs::write(&out, rendered).map_err(|e| fail(format!("{}: {e}", out.display())))?;
    Ok(out)
}

/// The credentials of `raw_config_credentials` for raw config `name` at
/// `url`: the first pattern (a regular expression, searched in the URL) that
/// matches; https only, as in the original, so a password never crosses the
/// network in the clear.
fn credentials_for<'a>(
    all: &'a std::collections::BTreeMap<String, std::collections::BTreeMap<String, GitCredentials>>,
    name: &str,
    url: &str,
) -> Result<Option<&'a GitCredentials>, ComposeError> {
    if !url.starts_with("https://") {
        return Ok(None);
    }
    for (pattern, creds) in all.get(name).into_iter().flatten() {
        let re = regex_lite::Regex::new(pattern).map_err(|e| {
            ComposeError::Pungi(format!(
                "raw_config_credentials.{name}: pattern {pattern:?} is not a regular expression: {e}"
            ))
        })?;
        if re.is_match(url) {
            return Ok(Some(creds));
        }
    }
    Ok(None)
}

/// `git clone --no-checkout url dir`, answering git's credential requests
/// with `creds` when given: a helper that prints them from the environment
/// of this git process only (never its command line), replacing any helper
/// the host configured; `credential.useHttpPath` as in the original.
fn clone(
    url: &str,
    dir: &str,
    creds: Option<&GitCredentials>,
    fail: &dyn Fn(String) -> ComposeError,
) -> Result<(), ComposeError> {
    let clone = ["clone", "--quiet", "--no-checkout", "--", url, dir];
    let Some(c) = creds else {
        return super::modules::git(&clone, fail);
    };
    let helper = "credential.helper=!f() { test \"$1\" = get && \
                  printf 'username=%s\\npassword=%s\\n' \"$ODCS_GIT_USERNAME\" \"$ODCS_GIT_PASSWORD\"; }; f";
    let mut args = vec![
        "-c",
        "credential.useHttpPath=true",
        "-c",
        "credential.helper=",
        "-c",
        helper,
    ];
    args.extend(clone);
    super::modules::git_with_env(
        &args,
        &[
            ("ODCS_GIT_USERNAME", &c.username),
            ("ODCS_GIT_PASSWORD", &c.password),
        ],
        fail,
    )
}

/// `pungi-config-validate --old-composes [--schema-override FILE] CONFIG`
/// in the configuration's directory (odcs-api.md §7.5): a configuration it
/// refuses fails the compose with what it printed, before Pungi runs.
fn validate_config(
    command: &str,
    config: &Path,
    schema_override: Option<&Path>,
) -> Result<(), ComposeError> {
    let mut cmd = Command::new(command);
    cmd.arg("--old-composes");
    if let Some(s) = schema_override {
        cmd.arg("--schema-override").arg(s);
    }
    cmd.arg(config)
        .current_dir(config.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| ComposeError::Pungi(format!("cannot run {command}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&out.stdout).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Err(ComposeError::Pungi(format!(
        "{command} refused the configuration ({}): {tail}",
        out.status
    )))
}

/// What Pungi answered, to store with the compose.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PungiOutcome {
    pub compose_id: String,
    /// `logs/global/config-dump.global.log`, kept for production and
    /// development composes (their respins run with it).
    pub config_dump: Option<String>,
}

/// A raw_config compose into `target/<name>`, then its symlinks in
/// `target/<compose_type>/` (odcs-api.md §7.5).
pub fn run_raw_config(
    setup: &PungiSetup,
    req: &RawRequest<'_>,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let fail = |m: String| ComposeError::Pungi(m);
    let (name, commit) = req
        .source
        .split_once('#')
        .ok_or_else(|| fail(format!("source {:?} is not name#commit", req.source)))?;
    let raw = setup.raw_configs.get(name).ok_or_else(|| {
        fail(format!(
            "Source \"{name}\" does not exist in server configuration."
        ))
    })?;
    let commit = raw.commit.as_deref().unwrap_or(commit);
    let t = Instant::now();
    let (outcome, final_dir) = in_pungi_dirs(target, req.name, |part, work| {
        progress.phase("fetching the configuration", None);
        // the repository at the commit: the configuration and the files it
        // names (variants, comps), also for a respin
        let src = work.join("src");
        let s = src.to_string_lossy().into_owned();
        clone(
            &raw.url,
            &s,
            credentials_for(&setup.credentials, name, &raw.url)?,
            &|m| fail(format!("raw config {name} from {}: {m}", raw.url)),
        )?;
        super::modules::git(
            &["-C", &s, "checkout", "--quiet", "--detach", commit],
            &|m| fail(format!("raw config {name} at {commit}: {m}")),
        )?;
        let dir = match &raw.path {
            Some(p) => src.join(p),
            None => src.clone(),
        };
        let config: PathBuf = match req.config_dump {
            // a respin runs with what the first run's Pungi dumped
            Some(dump) => {
                let p = dir.join("pungi.json");
                std::fs::write(&p, dump).map_err(|e| fail(format!("{}: {e}", p.display())))?;
                p
            }
            None => {
                let config = dir.join(&raw.config_filename);
                if !config.is_file() {
                    return Err(fail(format!(
                        "raw config {name} at {commit}: no {} in the repository",
                        Path::new(raw.path.as_deref().unwrap_or(""))
                            .join(&raw.config_filename)
                            .display()
                    )));
                }
                match &raw.raw_config_wrapper {
                    Some(wrapper) => wrap(&config, wrapper, req.compose_json)?,
                    None => config,
                }
            }
        };
        if let Some(validate) = &setup.config_validate {
            progress.phase("validating the configuration", None);
            validate_config(validate, &config, raw.schema_override.as_deref())?;
        }
        name_compose(&config, part, req.compose_type, req.label, req.claim_respin)?;
        let args = raw
            .pungi_args
            .clone()
            .unwrap_or_else(|| setup.command[1..].to_vec());
        let run_setup = PungiSetup {
            command: vec![setup.command[0].clone()],
            ..setup.clone()
        };
        let cwd = config.parent().unwrap_or(work).to_owned();
        run_pungi(
            &run_setup,
            &Run {
                config: &config,
                compose_dir: part,
                work: &cwd,
                args: &args,
                compose_type: req.compose_type,
                label: req.label,
                koji_event: Some(req.koji_event),
                respin_of: req.respin_of,
                parent_compose_ids: req.parent_compose_ids,
                // the earlier composes of this type, through their links
                old_composes: Some(target.join(req.compose_type).as_path()).filter(|d| d.is_dir()),
                timeout: raw
                    .pungi_timeout
                    .map(Duration::from_secs)
                    .unwrap_or(setup.timeout),
            },
            progress,
        )?;
        let compose_id = compose_id_of(part)?;
        let config_dump = if matches!(req.compose_type, "production" | "development") {
            let dump = part.join("logs/global/config-dump.global.log");
            Some(std::fs::read_to_string(&dump).map_err(|e| {
                fail(format!(
                    "{}: {e}. Cannot load Pungi config dump.",
                    dump.display()
                ))
            })?)
        } else {
            None
        };
        Ok(PungiOutcome {
            compose_id,
            config_dump,
        })
    })?;
    link_compose(target, req, &outcome.compose_id)?;
    if let Some(script) = &raw.post_script {
        progress.phase("post script", None);
        match run_post_script(script, &final_dir) {
            None => progress.note("the post script succeeded (post-script.log)"),
            Some(e) => {
                tracing::warn!("{}: the post script failed: {e}", req.name);
                progress.note(&format!(
                    "the post script failed: {e} (post-script.log); the compose stays done"
                ));
            }
        }
    }
    Ok(ComposeResult {
        dir: final_dir,
        event: req.koji_event,
        rpms: vec![],
        modules: vec![],
        timings: vec![("pungi", t.elapsed())],
        pungi: Some(outcome),
        pulp: None,
    })
}

/// The symlinks of odcs-api.md §7.5 that point at `target/<name>`, removed
/// with the compose.
pub fn remove_links(target: &Path, name: &str) {
    let to = Path::new("..").join(name);
    for t in COMPOSE_TYPES {
        let Ok(entries) = std::fs::read_dir(target.join(t)) else {
            continue;
        };
        for e in entries.flatten() {
            if std::fs::read_link(e.path()).is_ok_and(|l| l == to) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// `target/<compose_type>/<pungi id>`, `latest-<first two dash parts>`
/// and, with a label, `latest-<…>-<label>`, each `../<name>`; replaced
/// atomically when they exist.
fn link_compose(target: &Path, req: &RawRequest<'_>, compose_id: &str) -> Result<(), ComposeError> {
    // (a known type only: the request's string names no directory)
    let dir = target.join(known_type(req.compose_type));
    std::fs::create_dir_all(&dir)
        .map_err(|e| ComposeError::Pungi(format!("{}: {e}", dir.display())))?;
    let short: Vec<&str> = compose_id.splitn(3, '-').take(2).collect();
    let latest = format!("latest-{}", short.join("-"));
    let mut names = vec![compose_id.to_owned(), latest.clone()];
    if let Some(l) = req.label {
        names.push(format!("{latest}-{l}"));
    }
    // the names come from Pungi and the request's label: one path segment
    // each, or no link (nothing is written outside the target directory)
    let safe = |n: &String| {
        !n.is_empty()
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._+~".contains(c))
    };
    names.retain(|n| {
        let ok = safe(n);
        if !ok {
            tracing::warn!("{}: no symlink named {n:?}", req.name);
        }
        ok
    });
    let to = Path::new("..").join(req.name);
    for n in names {
        let link = dir.join(&n);
        let tmp = dir.join(format!(".{n}.new"));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&to, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &link))
            .map_err(|e| ComposeError::Pungi(format!("{}: {e}", link.display())))?;
    }
    Ok(())
}

/// What a tag or build compose that Pungi makes (for `boot.iso` or
/// `ostree`) asks, beyond its [`super::request::ComposeRequest`].
#[derive(Clone)]
pub struct FullRequest<'a> {
    pub req: &'a super::request::ComposeRequest,
    pub boot_iso: bool,
    pub ostree: bool,
    pub no_reuse: bool,
    pub compose_type: &'a str,
    pub label: Option<&'a str>,
    /// MBS's API (`<mbs url>/1`), for scratch modules.
    pub mbs_api_url: Option<String>,
    /// The original's `koji_profile`.
    pub koji_profile: &'a str,
    /// The compose's flags as the API gives them (a bit set): part of the
    /// Koji tag cache's key.
    pub flags: i64,
    /// Its `respin_of` and `parent_pungi_compose_ids`, passed to Pungi.
    pub respin_of: Option<&'a str>,
    pub parent_compose_ids: Option<&'a str>,
}

/// How long a Koji tag cache entry is offered to Pungi (the original's
/// `koji_tag_cache_cleanup_timeout`, 30 days).
pub const TAG_CACHE_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The Koji tag cache entry of a tag compose (odcs-api.md §7.1 step 4):
/// `<target>/koji_tag_cache/<tag>-<flags>-<sigkeys>-<arches>`, sigkeys and
/// arches sorted and joined by `-`; `None` for other composes and with
/// `no_reuse`.
pub fn tag_cache_dir(target: &Path, f: &FullRequest<'_>) -> Option<PathBuf> {
    if f.req.source_type != super::request::SourceType::Tag || f.no_reuse {
        return None;
    }
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v.join("-")
    };
    let name = format!(
        "{}-{}-{}-{}",
        f.req.source.join("+"),
        f.flags,
        sorted(&f.req.sigkeys),
        sorted(&f.req.arches)
    );
    // tag names, sigkeys and arches are checked at the API; a name that is
    // not one path segment gets no cache rather than a path elsewhere
    (!name.contains('/') && !name.starts_with('.'))
        .then(|| target.join("koji_tag_cache").join(name))
}

/// `src` copied to `dst` (files, directories, symlinks as links), leaving
/// out the directories named `skip` (a compose's `Packages`).
fn copy_tree(src: &Path, dst: &Path, skip: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let to = dst.join(entry.file_name());
        if kind.is_dir() {
            if entry.file_name() != skip {
                copy_tree(&entry.path(), &to, skip)?;
            }
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// The cache entry, when younger than [`TAG_CACHE_MAX_AGE`], copied to
/// `koji_tag_cache/<name>-1-19700101.n.0` for Pungi to find among its
/// `--old-composes`; that copy's path.
fn offer_tag_cache(cache: &Path, name: &str) -> Option<PathBuf> {
    let age = std::fs::metadata(cache)
        .and_then(|m| m.modified())
        .ok()?
        .elapsed()
        .unwrap_or_default();
    if age > TAG_CACHE_MAX_AGE {
        return None;
    }
    let offered = cache.with_file_name(format!("{name}-1-19700101.n.0"));
    let _ = std::fs::remove_dir_all(&offered);
    match copy_tree(cache, &offered, "") {
        Ok(()) => Some(offered),
        Err(e) => {
            tracing::warn!(
                "koji tag cache {}: {e}; Pungi starts afresh",
                cache.display()
            );
            let _ = std::fs::remove_dir_all(&offered);
            None
        }
    }
}

/// Koji tag cache entries older than [`TAG_CACHE_MAX_AGE`] removed from
/// `target/koji_tag_cache` (the original's cleanup); what was removed.
pub fn prune_tag_cache(target: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(target.join("koji_tag_cache")) else {
        return vec![];
    };
    let mut removed = vec![];
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > TAG_CACHE_MAX_AGE);
        if old && std::fs::remove_dir_all(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// The cache entry replaced by a copy of the compose just made, without
/// its packages (step 9): written beside it, then renamed into place.
fn update_tag_cache(cache: &Path, compose: &Path) {
    let fresh = cache.with_extension("new");
    let _ = std::fs::remove_dir_all(&fresh);
    let done = copy_tree(compose, &fresh, "Packages").and_then(|()| {
        if cache.exists() {
            std::fs::remove_dir_all(cache)?;
        }
        std::fs::rename(&fresh, cache)
    });
    if let Err(e) = done {
        tracing::warn!("koji tag cache {}: {e}", cache.display());
        let _ = std::fs::remove_dir_all(&fresh);
    }
}

/// `pungi.json` as the original renders its template (odcs-api.md §7.2),
/// with one repair: the `ostree` phase runs when the `ostree` result is
/// asked (the original skipped it always).
pub fn pungi_json(f: &FullRequest<'_>) -> serde_json::Value {
    use super::request::SourceType;
    use serde_json::json;
    let req = f.req;
    let is_tag = req.source_type == SourceType::Tag;
    let is_module = req.source_type == SourceType::Module;
    let mut c = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        c.insert(k.to_owned(), v);
    };
    put("release_name", json!(req.name));
    put(
        "release_short",
        json!(req.name.chars().take(16).collect::<String>()),
    );
    put("release_version", json!("1"));
    put("release_is_layered", json!(false));
    put("bootable", json!(f.boot_iso));
    put("variants_file", json!("variants.xml"));
    let sigkeys: Vec<Option<&str>> = if req.sigkeys.is_empty() {
        vec![None]
    } else {
        req.sigkeys.iter().map(|k| Some(k.as_str())).collect()
    };
    put("sigkeys", json!(sigkeys));
    put("hashed_directories", json!(true));
    put("runroot", json!(false));
    put("pkgset_source", json!("koji"));
    // several tags go to Pungi as a list (the original passed them as one
    // string, which Pungi took for one tag name)
    put(
        "pkgset_koji_tag",
        match (is_tag, req.source.as_slice()) {
            (true, [one]) => json!(one),
            (true, many) => json!(many),
            (false, _) => json!(""),
        },
    );
    if is_tag && !req.modular_koji_tags.is_empty() {
        put("pkgset_koji_module_tag", json!(req.modular_koji_tags));
    }
    if let Some((url, commit)) = &req.module_defaults {
        put(
            "module_defaults_dir",
            json!({"scm": "git", "repo": url, "branch": commit, "dir": "."}),
        );
    }
    put("pkgset_koji_inherit", json!(!req.flags.no_inheritance));
    put("pkgset_koji_builds", json!(req.builds));
    if !req.scratch_modules.is_empty()
        && let Some(api) = &f.mbs_api_url
    {
        put("mbs_api_url", json!(api));
        put(
            "pkgset_scratch_modules",
            json!({"^Temporary$": req.scratch_modules}),
        );
    }
    put("pkgset_allow_reuse", json!(!f.no_reuse));
    if !is_module && req.packages.is_empty() {
        put(
            "additional_packages",
            json!([["^Temporary$", {"*": ["*"]}]]),
        );
    }
    put("filter_system_release_packages", json!(false));
    let methods: Vec<&str> = req.multilib_methods.iter().map(|m| m.name()).collect();
    let multilib: Vec<serde_json::Value> = req
        .multilib_arches
        .iter()
        .map(|a| json!(["^.*$", {a.as_str(): methods}]))
        .collect();
    put("multilib", json!(multilib));
    put(
        "gather_source",
        json!(if is_module { "module" } else { "comps" }),
    );
    let method = if req.flags.no_deps || is_module {
        "nodeps"
    } else if is_tag && !req.modular_koji_tags.is_empty() {
        "hybrid"
    } else {
        "deps"
    };
    put("gather_method", json!(method));
    if !is_module {
        put("comps_file", json!("comps.xml"));
    }
    put("check_deps", json!(req.flags.check_deps));
    put("greedy_method", json!("build"));
    put(
        "gather_lookaside_repos",
        json!([["^.*$", {"*": req.lookaside_repos}]]),
    );
    put("createrepo_c", json!(true));
    put("createrepo_checksum", json!("sha256"));
    put("createrepo_enable_cache", json!(false));
    put("media_checksums", json!(["sha256"]));
    put("create_jigdo", json!(false));
    if f.boot_iso {
        put("buildinstall_method", json!("lorax"));
        put("buildinstall_topdir", json!("/mnt/koji/compose/odcs"));
    }
    let mut skip = Vec::new();
    if !req.iso {
        skip.push("createiso");
    }
    if !f.boot_iso {
        skip.push("buildinstall");
    }
    skip.extend(["live_media", "live_images"]);
    if !f.ostree {
        skip.push("ostree");
    }
    put("skip_phases", json!(skip));
    put(
        "translate_paths",
        json!([[
            "/mnt/koji/compose/",
            "http://kojipkgs.fedoraproject.org/compose/"
        ]]),
    );
    put("koji_profile", json!(f.koji_profile));
    put("repoclosure_strictness", json!([[".*", {"*": "off"}]]));
    serde_json::Value::Object(c)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `variants.xml` (odcs-api.md §7.2): the one variant `Temporary`.
pub fn variants_xml(f: &FullRequest<'_>, modules: &[String]) -> String {
    use super::request::SourceType;
    let req = f.req;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE variants PUBLIC \"-//Red Hat, Inc.//DTD Variants info//EN\" \"variants2012.dtd\">\n<variants>\n  <variant id=\"Temporary\" name=\"Temporary\" type=\"variant\">\n    <arches>\n",
    );
    for a in &req.arches {
        out.push_str(&format!("      <arch>{}</arch>\n", xml_escape(a)));
    }
    out.push_str("    </arches>\n");
    if req.source_type == SourceType::Tag && !req.packages.is_empty() {
        out.push_str(
            "    <groups>\n      <group default=\"true\">odcs-group</group>\n    </groups>\n",
        );
    }
    if req.source_type == SourceType::Tag && !req.modular_koji_tags.is_empty() {
        out.push_str("    <modules>\n      <module>*</module>\n    </modules>\n");
    } else if !modules.is_empty() {
        out.push_str("    <modules>\n");
        for m in modules.iter().filter(|m| !m.is_empty()) {
            out.push_str(&format!("      <module>{}</module>\n", xml_escape(m)));
        }
        out.push_str("    </modules>\n");
    }
    out.push_str("  </variant>\n</variants>\n");
    out
}

/// `comps.xml` (odcs-api.md §7.2): the group `odcs-group` of the requested
/// packages.
pub fn comps_xml(f: &FullRequest<'_>) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n  <group>\n    <id>odcs-group</id>\n    <name>odcs-group</name>\n    <description>ODCS compose default group</description>\n    <default>true</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n",
    );
    for p in &f.req.packages {
        out.push_str(&format!(
            "      <packagereq type=\"default\">{}</packagereq>\n",
            xml_escape(p)
        ));
    }
    out.push_str("    </packagelist>\n  </group>\n</comps>\n");
    out
}

/// A tag or build compose made by Pungi (`boot.iso`, `ostree`) into
/// `target/<name>`, with its `.repo` file (odcs-api.md §7.4).
pub fn run_full(
    setup: &PungiSetup,
    f: &FullRequest<'_>,
    koji_event: Option<i64>,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let fail = |m: String| ComposeError::Pungi(m);
    let req = f.req;
    let t = Instant::now();
    let cache = tag_cache_dir(target, f);
    let offered = cache.as_deref().and_then(|c| offer_tag_cache(c, &req.name));
    let made = in_pungi_dirs(target, &req.name, |part, work| {
        let write = |name: &str, text: &str| {
            std::fs::write(work.join(name), text).map_err(|e| fail(format!("{name}: {e}")))
        };
        let config = serde_json::to_string_pretty(&pungi_json(f))
            .map_err(|e| fail(format!("pungi.json: {e}")))?;
        write("pungi.json", &config)?;
        let modules = if req.source_type == super::request::SourceType::Module {
            req.source.clone()
        } else {
            vec![]
        };
        write("variants.xml", &variants_xml(f, &modules))?;
        write(
            "comps.xml",
            &if req.source_type == super::request::SourceType::Module {
                String::new()
            } else {
                comps_xml(f)
            },
        )?;
        run_pungi(
            &PungiSetup {
                command: vec![setup.command[0].clone()],
                ..setup.clone()
            },
            &Run {
                config: &work.join("pungi.json"),
                compose_dir: part,
                work,
                args: &setup.command[1..],
                compose_type: f.compose_type,
                label: f.label,
                // the event goes to Pungi for tag composes only (§7.3)
                koji_event: koji_event
                    .filter(|_| req.source_type == super::request::SourceType::Tag),
                respin_of: f.respin_of,
                parent_compose_ids: f.parent_compose_ids,
                old_composes: offered.as_deref().and_then(Path::parent),
                timeout: setup.timeout,
            },
            progress,
        )?;
        let compose_id = compose_id_of(part)?;
        let repo_dir = part.join("compose").join(super::request::VARIANT);
        std::fs::create_dir_all(&repo_dir).map_err(|e| fail(e.to_string()))?;
        std::fs::write(
            repo_dir.join(format!("{}.repo", req.name)),
            super::metadata::repo_file(&req.name, &req.url),
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(PungiOutcome {
            compose_id,
            config_dump: None,
        })
    });
    if let Some(o) = &offered {
        let _ = std::fs::remove_dir_all(o);
    }
    let (outcome, final_dir) = made?;
    if let Some(c) = &cache {
        update_tag_cache(c, &final_dir);
    }
    Ok(ComposeResult {
        dir: final_dir,
        event: koji_event.unwrap_or_default(),
        rpms: vec![],
        modules: vec![],
        timings: vec![("pungi", t.elapsed())],
        pungi: Some(outcome),
        pulp: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_cache_is_a_compose_without_its_packages() {
        let tmp = tempfile::tempdir().unwrap();
        let compose = tmp.path().join("odcs-1");
        let os = compose.join("compose/Temporary/x86_64/os");
        std::fs::create_dir_all(os.join("Packages/e")).unwrap();
        std::fs::write(os.join("Packages/e/ed-1-1.x86_64.rpm"), "rpm").unwrap();
        std::fs::create_dir_all(os.join("repodata")).unwrap();
        std::fs::write(os.join("repodata/repomd.xml"), "<repomd/>").unwrap();
        std::os::unix::fs::symlink("x86_64", compose.join("compose/Temporary/latest")).unwrap();
        let cache = tmp.path().join("koji_tag_cache/f40-0--x86_64");
        update_tag_cache(&cache, &compose);
        let cached = cache.join("compose/Temporary/x86_64/os");
        assert_eq!(
            std::fs::read_to_string(cached.join("repodata/repomd.xml")).unwrap(),
            "<repomd/>"
        );
        assert!(!cached.join("Packages").exists());
        assert_eq!(
            std::fs::read_link(cache.join("compose/Temporary/latest")).unwrap(),
            Path::new("x86_64")
        );
        // offered under the next compose's name, beside the cache
        let offered = offer_tag_cache(&cache, "odcs-2").unwrap();
        assert_eq!(
            offered,
            tmp.path().join("koji_tag_cache/odcs-2-1-19700101.n.0")
        );
        assert!(
            offered
                .join("compose/Temporary/x86_64/os/repodata/repomd.xml")
                .is_file()
        );
        // a newer compose replaces the entry
        std::fs::remove_dir_all(os.join("repodata")).unwrap();
        update_tag_cache(&cache, &compose);
        assert!(!cached.join("repodata").exists());
        // entries older than 30 days are pruned, newer ones kept
        assert_eq!(prune_tag_cache(tmp.path()), Vec::<PathBuf>::new());
        let month_ago = std::time::SystemTime::now() - TAG_CACHE_MAX_AGE - Duration::from_secs(60);
        std::fs::File::open(&offered)
            .unwrap()
            .set_modified(month_ago)
            .unwrap();
        assert_eq!(prune_tag_cache(tmp.path()), vec![offered.clone()]);
        assert!(cache.is_dir() && !offered.exists());
    }

    #[test]
    fn the_command_line_is_the_originals() {
        let run = Run {
            config: Path::new("/w/pungi.conf"),
            compose_dir: Path::new("/t/odcs-3"),
            work: Path::new("/w"),
            args: &[],
            compose_type: "nightly",
            label: Some("RC-1.0"),
            koji_event: Some(42),
            respin_of: None,
            parent_compose_ids: None,
            old_composes: Some(Path::new("/t/koji_tag_cache")),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            arguments(&run),
            [
                "--config=/w/pungi.conf",
                "--no-latest-link",
                "--compose-dir=/t/odcs-3",
                "--nightly",
                "--label=RC-1.0",
                "--koji-event",
                "42",
                "--old-composes",
                "/t/koji_tag_cache"
            ]
        );
        // a type flag among the configured arguments is not doubled
        let args = vec!["--production".to_owned()];
        let run = Run {
            args: &args,
            compose_type: "weird",
            label: None,
            koji_event: None,
            old_composes: None,
            ..run
        };
        assert_eq!(arguments(&run)[3..], ["--production".to_owned()]);
    }

    /// The verified rendering of odcs-api.md §7.2: tag `f26`, packages
    /// `ed file`, sigkeys `"123 "`, two arches, multilib x86_64
    /// runtime+devel, two lookaside URLs, build `foo-1-1`, `check_deps`,
    /// results repository + boot.iso.
    #[test]
    fn pungi_json_is_the_originals_rendering() {
        use crate::compose::request::{ComposeRequest, MultilibMethod};
        let req = ComposeRequest {
            packages: vec!["ed".into(), "file".into()],
            builds: vec!["foo-1-1".into()],
            arches: vec!["x86_64".into(), "ppc64le".into()],
            sigkeys: vec!["123".into(), "".into()],
            multilib_arches: vec!["x86_64".into()],
            multilib_methods: vec![MultilibMethod::Runtime, MultilibMethod::Devel],
            lookaside_repos: vec!["http://a/repo".into(), "http://b/repo".into()],
            flags: crate::compose::request::ComposeFlags {
                check_deps: true,
                ..Default::default()
            },
            ..ComposeRequest::tag("odcs-12", "f26", "http://localhost/odcs/odcs-12")
        };
        let f = FullRequest {
            req: &req,
            boot_iso: true,
            ostree: false,
            no_reuse: false,
            compose_type: "test",
            label: None,
            mbs_api_url: None,
            koji_profile: "koji",
            flags: 8,
            respin_of: None,
            parent_compose_ids: None,
        };
        // the Koji tag cache's key: tag, flags, sorted sigkeys and arches
        assert_eq!(
            tag_cache_dir(Path::new("/t"), &f),
            Some(PathBuf::from("/t/koji_tag_cache/f26-8--123-ppc64le-x86_64"))
        );
        assert_eq!(
            tag_cache_dir(
                Path::new("/t"),
                &FullRequest {
                    no_reuse: true,
                    ..f.clone()
                }
            ),
            None
        );
        let v = pungi_json(&f);
        let expected = serde_json::json!({
            "bootable": true, "buildinstall_method": "lorax",
            "buildinstall_topdir": "/mnt/koji/compose/odcs", "check_deps": true,
            "comps_file": "comps.xml", "gather_method": "deps", "gather_source": "comps",
            "multilib": [["^.*$", {"x86_64": ["runtime", "devel"]}]],
            "pkgset_koji_builds": ["foo-1-1"], "pkgset_koji_inherit": true,
            "pkgset_koji_tag": "f26", "pkgset_source": "koji", "release_name": "odcs-12",
            "release_short": "odcs-12", "release_version": "1", "sigkeys": ["123", ""],
            "skip_phases": ["createiso", "live_media", "live_images", "ostree"],
        });
        for (k, want) in expected.as_object().unwrap() {
            assert_eq!(&v[k], want, "{k}");
        }
        assert_eq!(
            v["gather_lookaside_repos"],
            serde_json::json!([["^.*$", {"*": ["http://a/repo", "http://b/repo"]}]])
        );
        assert!(
            v.get("additional_packages").is_none(),
            "packages were given"
        );
        // the ostree result runs the ostree phase (the original skipped it)
        let f = FullRequest {
            boot_iso: false,
            ostree: true,
            ..f
        };
        assert_eq!(
            pungi_json(&f)["skip_phases"],
            serde_json::json!(["createiso", "buildinstall", "live_media", "live_images"])
        );
        let vx = variants_xml(&f, &[]);
        assert!(
            vx.contains("<arch>ppc64le</arch>") && vx.contains("odcs-group"),
            "{vx}"
        );
        let cx = comps_xml(&f);
        assert!(
            cx.contains("<packagereq type=\"default\">file</packagereq>"),
            "{cx}"
        );
    }

    #[test]
    fn symlinks_stay_in_the_target_directory_whatever_the_label() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::create_dir_all(target.join("odcs-1")).unwrap();
        let json = serde_json::json!({});
        let claim = |_: &str| 0;
        let req = RawRequest {
            name: "odcs-1",
            source: "raw#abc",
            compose_type: "test",
            label: Some("../../../escaped"),
            koji_event: 1,
            respin_of: None,
            parent_compose_ids: None,
            config_dump: None,
            compose_json: &json,
            claim_respin: &claim,
        };
        link_compose(&target, &req, "raw-9-20261129.t.0").unwrap();
        let mut made: Vec<String> = std::fs::read_dir(target.join("test"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        made.sort();
        assert_eq!(made, ["latest-raw-9", "raw-9-20261129.t.0"]);
        assert!(!dir.path().join("escaped").exists());
        assert!(!target.join("escaped").exists());
    }

    #[test]
    fn phases_are_read_from_pungis_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("pungi.global.log");
        std::fs::write(
            &log,
            "2026-11-29 15:00:00 [INFO    ] [BEGIN] ---------- PHASE: PKGSET ----------\n\
             2026-11-29 15:00:01 [INFO    ] [DONE ] ---------- PHASE: PKGSET ----------\n\
             2026-11-29 15:00:01 [INFO    ] [BEGIN] ---------- PHASE: GATHER ----------\n\
             2026-11-29 15:00:01 [INFO    ] [BEGIN] ---------- PHASE: CREATE",
        )
        .unwrap();
        let (mut offset, mut phase) = (0, None);
        last_phase(&log, &mut offset, &mut phase);
        assert_eq!(phase.as_deref(), Some("gather"), "a partial line waits");
    }
}
