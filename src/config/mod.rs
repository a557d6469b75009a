//! One typed configuration: embedded defaults, then a TOML file, then `ODCS_*`
//! environment variables (`__` for nesting), the environment winning. This is
//! the only module that reads the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod auth;
pub use auth::AuthConfig;

/// The commented example file, every key with its default (`odcs config --example`).
pub const EXAMPLE: &str = include_str!("odcs.example.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KojiConfig {
    pub url: String,
    pub topdir: PathBuf,
    #[serde(default = "default_koji_timeout")]
    pub timeout_seconds: u64,
    /// PEM file of the CA certificates that sign the hub's HTTPS certificate
    /// (koji.conf's `serverca`); without it the public CAs are trusted.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    /// Whether tag composes include draft builds (Koji ≥ 1.34) as the hub
    /// lists them; `false` asks the hub to leave them out.
    #[serde(default = "default_true")]
    pub include_draft_builds: bool,
}

/// The Module Build Service module composes ask which module builds a
/// request means (odcs-api.md §6).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MbsConfig {
    /// The original's `mbs_url`, e.g.
    /// `https://mbs.example.com/module-build-service` (`/1/module-builds/`
    /// is appended).
    pub url: String,
    #[serde(default = "default_mbs_timeout")]
    pub timeout_seconds: u64,
    /// PEM file of the CA certificates that sign MBS's HTTPS certificate;
    /// without it the public CAs are trusted.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
}

/// Which Pulp API a `pulp` compose asks (`[pulp] api`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PulpApi {
    /// Pulp 2: repositories with `notes` (the original's client).
    #[default]
    V2,
    /// Pulp 3 (pulp_rpm): distributions with `pulp_labels`.
    V3,
}

/// The Pulp server `pulp` composes point at (odcs-api.md §6 `pulp`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PulpConfig {
    /// The original's `pulp_server_url`, e.g. `https://pulp.example.com`
    /// (`/pulp/api/v2/` or `/pulp/api/v3/` is appended).
    pub url: String,
    #[serde(default)]
    pub api: PulpApi,
    /// PEM client certificate and its key (the original's `pulp_ssl_cert`,
    /// `pulp_ssl_key`), presented over HTTPS.
    #[serde(default)]
    pub ssl_cert: Option<PathBuf>,
    #[serde(default)]
    pub ssl_key: Option<PathBuf>,
    /// HTTP basic authentication (Pulp 3's default; the original's
    /// `pulp_username`); the password is read from `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA certificates that sign Pulp's HTTPS certificate;
    /// without it the public CAs are trusted.
    #[serde(default)]
    pub ca_bundle: Option<PathBuf>,
    #[serde(default = "default_mbs_timeout")]
    pub timeout_seconds: u64,
}

/// How Pungi runs, for the composes it makes (`raw_config`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PungiConfig {
    /// The `pungi-koji` command (a path, or a name on PATH).
    #[serde(default = "default_pungi_koji")]
    pub koji: String,
    /// Arguments every run gets (the original's `pungi_koji_args`).
    #[serde(default)]
    pub args: Vec<String>,
    /// How long one run may take (the original's `pungi_timeout`).
    #[serde(default = "default_pungi_timeout")]
    pub timeout_seconds: u64,
    /// `pungi-config-validate` (a path, or a name on PATH): when set, it
    /// checks a raw_config's configuration before Pungi runs.
    #[serde(default)]
    pub config_validate: Option<String>,
}

/// Where state changes are announced (`[messaging]`, src/events).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MessagingConfig {
    pub backend: MessagingBackend,
    /// `amqp://user:password@host:5672/%2F` (the `amqp` backend).
    pub url: Option<String>,
    /// The exchange messages go to (a topic exchange; declared unless it is
    /// one of the broker's `amq.*`).
    pub exchange: String,
    /// Routing key prefix: `<topic_prefix>.odcs.compose.state-changed`.
    pub topic_prefix: String,
    /// The `amqp1` backend's target address, `{topic}` standing for the
    /// routing key (RabbitMQ: `/topic/{topic}`; ActiveMQ:
    /// `topic://VirtualTopic.{topic}`).
    pub address: String,
}

impl Default for MessagingConfig {
    fn default() -> Self {
        MessagingConfig {
            backend: MessagingBackend::Log,
            url: None,
            exchange: "amq.topic".into(),
            topic_prefix: String::new(),
            address: "/topic/{topic}".into(),
        }
    }
}

/// Composes requested by bus events (`[events]`, src/events/listen.rs).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// The broker (default: `[messaging] url`).
    pub url: Option<String>,
    /// The durable queue consumed (declared, bound to `exchange` for the
    /// topics the rules need).
    pub queue: String,
    pub exchange: String,
    /// The prefix of the topics consumed (`org.fedoraproject.prod`: the
    /// routing keys are `org.fedoraproject.prod.buildsys.tag`, ...).
    pub topic_prefix: String,
    /// The owner of the composes rules request.
    pub owner: String,
    pub rules: Vec<EventRule>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            url: None,
            queue: "odcs-events".into(),
            exchange: "amq.topic".into(),
            topic_prefix: String::new(),
            owner: "odcs-events".into(),
            rules: vec![],
        }
    }
}

/// One rule: which events, and the compose they request.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventRule {
    /// Names the rule in decisions, the log and the database.
    pub name: String,
    /// `tag` (a build tagged, `buildsys.tag`), `untag` (`buildsys.untag`),
    /// `module-ready` (`mbs.module.state.change` to `ready`).
    pub on: Vec<EventKind>,
    /// Tag events: the Koji tags whose messages are considered (the tag a
    /// compose is made of and the tags it inherits from, typically).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Module events: `name` or `name:stream` of the module builds.
    #[serde(default)]
    pub module: Option<String>,
    /// The compose requested, as the JSON body of a POST (`source` with
    /// `type`, `source`, `packages`...). For `module-ready`, `source.source`
    /// may be left out: the module build of the message (`N:S:V:C`) is it.
    pub compose: serde_json::Value,
    /// Ask a policy engine first; no compose unless it says yes.
    #[serde(default)]
    pub greenwave: Option<GreenwaveRule>,
}

/// `POST <url>/api/v1.0/decision` with `decision_context`,
/// `product_version`, `subject_type` and `subject_identifier` (the build's
/// N-V-R, or the module's N-S-V.C).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GreenwaveRule {
    pub url: String,
    pub decision_context: String,
    pub product_version: String,
    /// Default `koji_build` (tag events) / `redhat-module` (module events).
    #[serde(default)]
    pub subject_type: Option<String>,
}

/// What a rule reacts to.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Tag,
    Untag,
    ModuleReady,
}

/// `[messaging] backend`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MessagingBackend {
    /// Each message in the log (INFO, target `odcs::events`).
    #[default]
    Log,
    /// AMQP 0-9-1 (RabbitMQ), in the fedora-messaging format.
    Amqp,
    /// AMQP 1.0 to a topic address (the original's UMB backend).
    Amqp1,
}

fn default_pungi_koji() -> String {
    "pungi-koji".into()
}

fn default_pungi_timeout() -> u64 {
    3600
}

fn default_mbs_timeout() -> u64 {
    60
}

fn default_true() -> bool {
    true
}

/// An extra target directory a request may name in `target_dir`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtraTargetDir {
    pub dir: PathBuf,
    /// The public URL the directory is served under; without it the compose
    /// JSON gives empty URLs, as the original does for extra target dirs.
    #[serde(default)]
    pub url: Option<String>,
}

fn default_koji_timeout() -> u64 {
    120
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub target_dir: Option<PathBuf>,
    pub target_dir_url: Option<String>,
    pub store_dir: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// Memory budget of the resident package index of `serve`/`worker`
    /// (tag resolutions and package records kept between composes), MiB.
    pub resident_index_mb: u64,
    /// Hours a mirrored RPM of a `repo` compose over http(s) stays in the
    /// cache directory once no compose tree links it (the reaper prunes).
    pub repo_mirror_keep_hours: u64,
    pub seconds_to_live: i64,
    pub max_seconds_to_live: i64,
    pub arches: Vec<String>,
    /// Module names that are base modules (`platform`): never part of a
    /// module compose, refused in requests, left out of dependencies (the
    /// original's `base_module_names`).
    pub base_module_names: Vec<String>,
    /// A directory of modulemd-defaults documents (`*.yaml`) for module
    /// composes whose request names no `module_defaults_url` (Pungi's
    /// `module_defaults_dir`).
    pub module_defaults_dir: Option<PathBuf>,
    pub sigkeys: Vec<String>,
    pub workers: usize,
    pub expected_workers: usize,
    pub lease_seconds: u64,
    pub reaper_interval: u64,
    pub max_body_bytes: usize,
    /// Seconds a compose may generate before it fails.
    pub compose_timeout_seconds: u64,
    /// Attempts of a job that fails for a reason other than its compose (the
    /// database, a worker that stopped) before its compose fails.
    pub job_attempts: u32,
    /// Target directories a request may name in `target_dir`, by name.
    pub extra_target_dirs: std::collections::BTreeMap<String, ExtraTargetDir>,
    /// Where lookaside repositories may come from: URL prefixes
    /// (`https://mirror.example.com/`) and directories on this server; a
    /// request naming any other is refused. Empty: none allowed.
    pub lookaside_allowed: Vec<String>,
    /// Largest file downloaded from a lookaside repository, and largest
    /// repodata file once decompressed, in bytes.
    pub lookaside_max_bytes: u64,
    pub koji: Option<KojiConfig>,
    /// Without it, module builds are looked up in the package source itself
    /// (the Koji hub, or the local store).
    pub mbs: Option<MbsConfig>,
    /// Without it, composes that need Pungi are refused (400).
    pub pungi: Option<PungiConfig>,
    /// Without it, `pulp` composes are refused (400).
    pub pulp: Option<PulpConfig>,
    /// `raw_config` sources: name → git repository and configuration file.
    pub raw_config_urls: std::collections::BTreeMap<String, crate::compose::pungi::RawConfig>,
    /// A TOML file of more `raw_config_urls` entries (`[NAME]` tables),
    /// read again whenever it changes (no restart needed).
    pub raw_config_urls_file: Option<PathBuf>,
    /// Passwords for raw_config repositories over https: name → URL regular
    /// expression → `{ username, password }`.
    pub raw_config_credentials: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, crate::compose::pungi::GitCredentials>,
    >,
    /// Who may create, renew and delete composes.
    pub auth: AuthConfig,
    /// Where state changes are announced.
    pub messaging: MessagingConfig,
    /// Composes requested by bus events.
    pub events: EventsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:5005".into(),
            data_dir: "odcs-data".into(),
            database_url: None,
            target_dir: None,
            target_dir_url: None,
            store_dir: None,
            cache_dir: None,
            resident_index_mb: 640,
            repo_mirror_keep_hours: 168,
            seconds_to_live: 86_400,
            max_seconds_to_live: 259_200,
            arches: vec!["x86_64".into()],
            base_module_names: vec!["platform".into(), "bootstrap".into()],
            module_defaults_dir: None,
            sigkeys: vec![],
            workers: 1,
            expected_workers: 1,
            lease_seconds: 60,
            reaper_interval: 60,
            max_body_bytes: 1 << 20,
            compose_timeout_seconds: 7200,
            job_attempts: 5,
            extra_target_dirs: Default::default(),
            lookaside_allowed: vec![],
            lookaside_max_bytes: 1 << 30,
            koji: None,
            mbs: None,
            pungi: None,
            pulp: None,
            raw_config_urls: Default::default(),
            raw_config_urls_file: None,
            raw_config_credentials: Default::default(),
            auth: AuthConfig::default(),
            messaging: MessagingConfig::default(),
            events: EventsConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

impl Config {
    /// Defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?;
        }
        let origin = file
            .map(Path::to_owned)
            .unwrap_or_else(|| "configuration".into());
        // the file alone must be valid: an unknown key there is an error
        toml::Value::Table(table.clone())
            .try_into::<Config>()
            .map_err(|e| ConfigError::Parse {
                path: origin.clone(),
                message: e.to_string(),
            })?;
        for var in apply_env(&mut table, std::env::vars())? {
            tracing::warn!(
                "environment variable {var} is not a configuration key: ignored (`odcs config` lists the keys)"
            );
        }
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: origin,
                message: e.to_string(),
            })
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("odcs.db").display()))
    }
    pub fn target_dir(&self) -> PathBuf {
        self.target_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("composes"))
    }
    pub fn target_dir_url(&self) -> String {
        self.target_dir_url
            .clone()
            .unwrap_or_else(|| format!("http://{}/odcs", self.listen))
    }
    pub fn store_dir(&self) -> PathBuf {
        self.store_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("store"))
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("cache"))
    }
}

/// `ODCS_KEY=value` and `ODCS_SECTION__KEY=value` into the table; values are
/// read as TOML when they parse (numbers, lists), else as strings. Variables
/// that name no configuration key (`ODCS_TEST_POSTGRES_URL`, another tool's
/// `ODCS_*`) are left out and returned, so the caller can warn: the
/// environment is shared with other programs, unlike the file.
fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Vec<String>, ConfigError> {
    let mut ignored = Vec::new();
    for (var, value) in vars {
        let Some(key) = var.strip_prefix("ODCS_") else {
            continue;
        };
        if key == "LOG" {
            continue;
        }
        let path: Vec<String> = key.split("__").map(str::to_lowercase).collect();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value.clone()));
        let mut candidate = table.clone();
        let mut t = &mut candidate;
        let mut fits = true;
        for (i, part) in path.iter().enumerate() {
            if i + 1 == path.len() {
                t.insert(part.clone(), parsed.clone());
            } else {
                let entry = t
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                match entry.as_table_mut() {
                    Some(next) => t = next,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
        }
        // a key the configuration does not have shows as an unknown field;
        // any other error (a bad value) is the variable's and is reported
        match toml::Value::Table(candidate.clone()).try_into::<Config>() {
            Err(e) if !fits || e.to_string().contains("unknown field") => ignored.push(var),
            Err(e) if e.to_string().contains("missing field") => *table = candidate,
            Err(e) => {
                return Err(ConfigError::Env {
                    var,
                    message: e.to_string(),
                });
            }
            Ok(_) => *table = candidate,
        }
    }
    Ok(ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let table: toml::Table = EXAMPLE.parse().unwrap();
        let cfg: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(cfg, Config::default());
    }

    #[test]
    fn environment_overrides_file_values_with_nesting() {
        let mut table: toml::Table = "workers = 3\nlisten = \"0.0.0.0:1\"".parse().unwrap();
        let env = [
            ("ODCS_WORKERS".to_owned(), "5".to_owned()),
            (
                "ODCS_DATABASE_URL".to_owned(),
                "postgres://x@h/db".to_owned(),
            ),
            (
                "ODCS_KOJI__URL".to_owned(),
                "https://koji/kojihub".to_owned(),
            ),
            ("ODCS_KOJI__TOPDIR".to_owned(), "/mnt/koji".to_owned()),
            ("OTHER".to_owned(), "ignored".to_owned()),
        ];
        let ignored = apply_env(&mut table, env.into_iter()).unwrap();
        assert!(ignored.is_empty(), "{ignored:?}");
        let cfg: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(cfg.workers, 5);
        assert_eq!(cfg.listen, "0.0.0.0:1");
        assert_eq!(cfg.database_url(), "postgres://x@h/db");
        assert_eq!(cfg.koji.unwrap().topdir, PathBuf::from("/mnt/koji"));
    }

    /// #12 §7: `ODCS_TEST_POSTGRES_URL` (which tests/store.rs documents) made
    /// `odcs serve` abort. Unknown variables are ignored (the caller warns);
    /// a bad value of a known key is still an error.
    #[test]
    fn unknown_environment_variables_are_ignored_bad_values_are_not() {
        let mut table = toml::Table::new();
        let env = [
            (
                "ODCS_TEST_POSTGRES_URL".to_owned(),
                "postgres://x@h/db".to_owned(),
            ),
            ("ODCS_WORKERS".to_owned(), "3".to_owned()),
            ("ODCS_KOJI__NOPE".to_owned(), "1".to_owned()),
        ];
        let ignored = apply_env(&mut table, env.into_iter()).unwrap();
        assert_eq!(ignored, ["ODCS_TEST_POSTGRES_URL", "ODCS_KOJI__NOPE"]);
        let cfg: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(cfg.workers, 3);
        for (var, value) in [("ODCS_WORKERS", "many"), ("ODCS_LISTEN__DEEP", "1")] {
            let bad = [(var.to_owned(), value.to_owned())];
            let err = apply_env(&mut toml::Table::new(), bad.into_iter()).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_errors() {
        let table: toml::Table = "wokers = 3".parse().unwrap();
        let err = toml::Value::Table(table)
            .try_into::<Config>()
            .unwrap_err()
            .to_string();
        assert!(err.contains("wokers"), "{err}");
    }
}
