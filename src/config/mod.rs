//! One typed configuration: embedded defaults, then a TOML file, then `ODCS_*`
//! environment variables (`__` for nesting), the environment winning. This is
//! the only module that reads the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    pub seconds_to_live: i64,
    pub max_seconds_to_live: i64,
    pub arches: Vec<String>,
    pub sigkeys: Vec<String>,
    pub workers: usize,
    pub expected_workers: usize,
    pub lease_seconds: u64,
    pub reaper_interval: u64,
    pub max_body_bytes: usize,
    pub koji: Option<KojiConfig>,
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
            seconds_to_live: 86_400,
            max_seconds_to_live: 259_200,
            arches: vec!["x86_64".into()],
            sigkeys: vec![],
            workers: 1,
            expected_workers: 1,
            lease_seconds: 60,
            reaper_interval: 60,
            max_body_bytes: 1 << 20,
            koji: None,
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
        apply_env(&mut table, std::env::vars())?;
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: file
                    .map(Path::to_owned)
                    .unwrap_or_else(|| "environment".into()),
                message: e.to_string(),
            })?;
        Ok(cfg)
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
/// read as TOML when they parse (numbers, lists), else as strings.
fn apply_env(
    table: &mut toml::Table,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
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
        let mut t = &mut *table;
        for (i, part) in path.iter().enumerate() {
            if i + 1 == path.len() {
                t.insert(part.clone(), parsed.clone());
            } else {
                let entry = t
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                t = entry.as_table_mut().ok_or_else(|| ConfigError::Env {
                    var: var.clone(),
                    message: format!("{part} is not a section"),
                })?;
            }
        }
    }
    Ok(())
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
        apply_env(&mut table, env.into_iter()).unwrap();
        let cfg: Config = toml::Value::Table(table).try_into().unwrap();
        assert_eq!(cfg.workers, 5);
        assert_eq!(cfg.listen, "0.0.0.0:1");
        assert_eq!(cfg.database_url(), "postgres://x@h/db");
        assert_eq!(cfg.koji.unwrap().topdir, PathBuf::from("/mnt/koji"));
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
