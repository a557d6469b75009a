//! `odcs client ...`: the REST API from the command line, like the original
//! `odcs` CLI, with a progress display while waiting.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct ClientArgs {
    /// The ODCS server.
    #[arg(long, default_value = "http://127.0.0.1:5005", global = true)]
    server: String,
    /// Bearer token for create, renew and delete: an OIDC access token or
    /// an API token from `odcs token create` (not needed with noauth).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        conflicts_with = "token_file"
    )]
    token: Option<String>,
    /// Read the bearer token from this file (keeps it out of `ps`).
    #[arg(long, global = true, value_name = "PATH")]
    token_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(clap::Subcommand)]
enum ClientCommand {
    /// Request a compose (and, with --wait, wait for it).
    Create(Box<CreateArgs>),
    /// Wait for a compose to finish, showing its progress.
    Wait {
        /// The compose id.
        id: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        /// Also print the compose's log as it grows (to stderr), as the
        /// original's `--watch` tails Pungi's log.
        #[arg(long)]
        watch: bool,
    },
    /// Show one compose.
    Show {
        /// The compose id.
        id: u64,
    },
    /// List composes (newest first).
    List {
        /// Only composes in this state (wait, generating, done, removed, failed).
        #[arg(long)]
        state: Option<String>,
        /// Only composes of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only composes of this source (the tag, or the N-V-Rs as stored).
        #[arg(long)]
        source: Option<String>,
        /// Page to show, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Composes per page.
        #[arg(long, default_value_t = 10)]
        per_page: u64,
    },
    /// Extend a compose's life, or make a removed or failed one again.
    Renew {
        /// The compose id.
        id: u64,
        /// New lifetime from now, in seconds [default: the server's].
        #[arg(long)]
        seconds_to_live: Option<i64>,
    },
    /// Cancel a waiting compose, or have a done one removed.
    Delete {
        /// The compose id.
        id: u64,
    },
}

/// A compose request: the fields of the API's POST body.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// tag, build or module.
    #[arg(long, default_value = "tag")]
    source_type: String,
    /// The tag, build N-V-Rs or modules (`N:S[:V[:C]]`), separated by spaces.
    #[arg(long)]
    source: String,
    /// Only these packages (and their dependencies) [default: every package of the tag].
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    packages: Vec<String>,
    /// Exact builds (N-V-R, or a draft build's `N-V-R,draft_<id>`) added on
    /// top of the tag.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    builds: Vec<String>,
    /// Signing keys, in order of preference; an empty one (`--sigkeys KEY,`)
    /// also allows unsigned RPMs [default: the server's].
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sigkeys: Vec<String>,
    /// Tree arches [default: the server's].
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    arches: Vec<String>,
    /// Pin the tag to this Koji event [default: the newest].
    #[arg(long)]
    koji_event: Option<i64>,
    /// A flag: no_deps, no_inheritance, check_deps, no_reuse, ... (repeatable).
    #[arg(long = "flag")]
    flags: Vec<String>,
    /// Repositories (http(s) URLs) whose packages satisfy dependencies.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    lookaside_repos: Vec<String>,
    /// Arches that also get 32-bit packages.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    multilib_arches: Vec<String>,
    /// Which 32-bit packages: none, runtime, devel, all.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    multilib_method: Vec<String>,
    /// Lifetime in seconds [default: the server's].
    #[arg(long)]
    seconds_to_live: Option<i64>,
    /// A label for the compose.
    #[arg(long)]
    label: Option<String>,
    /// The compose type (test, nightly, production, ...).
    #[arg(long)]
    compose_type: Option<String>,
    /// Results besides the repository: iso (made here); boot.iso, ostree
    /// (need Pungi).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    results: Vec<String>,
    /// Koji tags whose module builds a tag compose adds, or a module
    /// compose takes its modules from instead of MBS.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    modular_koji_tags: Vec<String>,
    /// Scratch module builds (N:S:V:C, from MBS; test composes only).
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    scratch_modules: Vec<String>,
    /// Module composes: only builds made against this base module (MBS's
    /// base_module_br_name).
    #[arg(long)]
    base_module_br_name: Option<String>,
    /// ... of this stream (base_module_br_stream).
    #[arg(long)]
    base_module_br_stream: Option<String>,
    /// ... with a stream version at most this (base_module_br_stream_version_lte).
    #[arg(long)]
    base_module_br_stream_version_lte: Option<i64>,
    /// ... with a stream version at least this (base_module_br_stream_version_gte).
    #[arg(long)]
    base_module_br_stream_version_gte: Option<i64>,
    /// Wait until the compose is done (or failed), showing its progress.
    #[arg(long)]
    wait: bool,
    /// With --wait: also print the compose's log as it grows.
    #[arg(long)]
    watch: bool,
}

impl CreateArgs {
    /// The POST body.
    fn body(&self) -> Value {
        let mut src = json!({"type": self.source_type, "source": self.source});
        // a draft build's N-V-R holds a comma: `N-V-R,draft_12` is one build
        let builds = odcs::domain::join_draft_suffixes(self.builds.clone());
        for (key, list) in [
            ("packages", &self.packages),
            ("builds", &builds),
            ("sigkeys", &self.sigkeys),
            ("modular_koji_tags", &self.modular_koji_tags),
            ("scratch_modules", &self.scratch_modules),
        ] {
            if !list.is_empty() {
                src[key] = json!(list);
            }
        }
        for (key, text) in [
            ("base_module_br_name", &self.base_module_br_name),
            ("base_module_br_stream", &self.base_module_br_stream),
        ] {
            if let Some(t) = text {
                src[key] = json!(t);
            }
        }
        for (key, n) in [
            (
                "base_module_br_stream_version_lte",
                self.base_module_br_stream_version_lte,
            ),
            (
                "base_module_br_stream_version_gte",
                self.base_module_br_stream_version_gte,
            ),
        ] {
            if let Some(n) = n {
                src[key] = json!(n);
            }
        }
        if let Some(e) = self.koji_event {
            src["koji_event"] = json!(e);
        }
        let mut body = json!({"source": src, "flags": self.flags});
        for (key, list) in [
            ("arches", &self.arches),
            ("lookaside_repos", &self.lookaside_repos),
            ("multilib_arches", &self.multilib_arches),
            ("multilib_method", &self.multilib_method),
            ("results", &self.results),
        ] {
            if !list.is_empty() {
                body[key] = json!(list);
            }
        }
        if let Some(s) = self.seconds_to_live {
            body["seconds_to_live"] = json!(s);
        }
        if let Some(l) = &self.label {
            body["label"] = json!(l);
        }
        if let Some(t) = &self.compose_type {
            body["compose_type"] = json!(t);
        }
        body
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent()
}

/// The JSON answer, or the server's error message.
fn answer(
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> anyhow::Result<Value> {
    let resp = resp.with_context(|| format!("{what}: cannot reach the server"))?;
    let status = resp.status().as_u16();
    let text = resp.into_body().read_to_string().unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    if status >= 400 {
        let msg = v.get("message").and_then(Value::as_str).unwrap_or(&text);
        bail!("{what}: HTTP {status}: {msg}");
    }
    Ok(v)
}

fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The part of the compose log at `url` after `offset` bytes (asked with
/// a Range header; a server ignoring it answers the whole log).
fn log_since(url: &str, offset: u64) -> Option<Vec<u8>> {
    let resp = agent()
        .get(url)
        .header("Range", format!("bytes={offset}-"))
        .call()
        .ok()?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_body().into_reader(), &mut body).ok()?;
    match status {
        206 => Some(body),
        200 => Some(body.get(offset as usize..).unwrap_or_default().to_vec()),
        _ => None,
    }
}

/// Wait for compose `id` to end: a progress line (state, phase, elapsed) on
/// a terminal, a plain line per change otherwise; with `watch`, the
/// compose's log as it grows.
fn wait(server: &str, id: u64, timeout: u64, watch: bool) -> anyhow::Result<Value> {
    use std::io::{IsTerminal as _, Write as _};
    let terminal = std::io::stderr().is_terminal();
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} compose {prefix}: {msg} ({elapsed})")
            .expect("static template"),
    );
    bar.set_prefix(id.to_string());
    let t = Instant::now();
    let (mut last, mut offset) = (String::new(), 0u64);
    loop {
        let c = answer(
            agent().get(&format!("{server}/api/1/composes/{id}")).call(),
            "show",
        )?;
        let state = c["state_name"].as_str().unwrap_or("?").to_owned();
        let detail = c["progress"]
            .as_str()
            .or(c["state_reason"].as_str())
            .unwrap_or("");
        let line = format!("{state} {detail}");
        if watch
            && let Some(top) = c["toplevel_url"].as_str().filter(|u| !u.is_empty())
            && let Some(new) = log_since(&format!("{top}.log"), offset)
            && !new.is_empty()
        {
            offset += new.len() as u64;
            bar.suspend(|| {
                let _ = std::io::stderr().write_all(&new);
            });
        }
        if terminal {
            bar.set_message(line.clone());
            bar.tick();
        } else if line != last {
            eprintln!("compose {id}: {line} ({}s)", t.elapsed().as_secs());
        }
        last = line;
        if matches!(state.as_str(), "done" | "failed" | "removed") {
            bar.finish_and_clear();
            return Ok(c);
        }
        if t.elapsed() > Duration::from_secs(timeout) {
            bar.finish_and_clear();
            bail!("compose {id} is still {state} after {timeout} seconds");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn run(a: ClientArgs) -> anyhow::Result<()> {
    let server = a.server.trim_end_matches('/').to_owned();
    let token = match (&a.token, &a.token_file) {
        (Some(t), _) => Some(t.trim().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    let signed = |req: ureq::RequestBuilder<ureq::typestate::WithBody>| match &authorization {
        Some(a) => req.header("Authorization", a),
        None => req,
    };
    match a.command {
        ClientCommand::Create(args) => {
            let body = args.body();
            let (w, watch) = (args.wait, args.watch);
            let c = answer(
                signed(agent().post(&format!("{server}/api/1/composes/")))
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes()),
                "create",
            )?;
            let c = match (w, c["id"].as_u64()) {
                (true, Some(id)) => wait(&server, id, 3600, watch)?,
                _ => c,
            };
            print(&c)?;
            if w && c["state_name"] != "done" {
                bail!(
                    "compose {} ended {}: {}",
                    c["id"],
                    c["state_name"],
                    c["state_reason"].as_str().unwrap_or("")
                );
            }
        }
        ClientCommand::Wait { id, timeout, watch } => {
            let c = wait(&server, id, timeout, watch)?;
            print(&c)?;
            if c["state_name"] != "done" {
                bail!(
                    "compose {id} ended {}: {}",
                    c["state_name"],
                    c["state_reason"].as_str().unwrap_or("")
                );
            }
        }
        ClientCommand::Show { id } => print(&answer(
            agent().get(&format!("{server}/api/1/composes/{id}")).call(),
            "show",
        )?)?,
        ClientCommand::List {
            state,
            owner,
            source,
            page,
            per_page,
        } => {
            let mut req = agent()
                .get(&format!("{server}/api/1/composes/"))
                .query("page", page.to_string())
                .query("per_page", per_page.to_string());
            if let Some(s) = state {
                let code = ["wait", "generating", "done", "removed", "failed"]
                    .iter()
                    .position(|x| *x == s)
                    .map(|c| c.to_string())
                    .unwrap_or(s);
                req = req.query("state", code);
            }
            if let Some(o) = owner {
                req = req.query("owner", o);
            }
            if let Some(s) = source {
                req = req.query("source", s);
            }
            let v = answer(req.call(), "list")?;
            for c in v["items"].as_array().into_iter().flatten() {
                println!(
                    "{:>6}  {:<10}  {:<4} {}  {}",
                    c["id"],
                    c["state_name"].as_str().unwrap_or(""),
                    source_name(&c["source_type"]),
                    c["source"].as_str().unwrap_or(""),
                    c["time_to_expire"].as_str().unwrap_or("")
                );
            }
            eprintln!(
                "page {} of {} ({} composes)",
                v["meta"]["page"], v["meta"]["pages"], v["meta"]["total"]
            );
        }
        ClientCommand::Renew {
            id,
            seconds_to_live,
        } => {
            let body = match seconds_to_live {
                Some(s) => json!({"seconds_to_live": s}),
                None => json!({}),
            };
            print(&answer(
                signed(agent().patch(&format!("{server}/api/1/composes/{id}")))
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes()),
                "renew",
            )?)?;
        }
        ClientCommand::Delete { id } => {
            let req = agent().delete(&format!("{server}/api/1/composes/{id}"));
            let req = match &authorization {
                Some(a) => req.header("Authorization", a),
                None => req,
            };
            print(&answer(req.call(), "delete")?)?
        }
    }
    Ok(())
}

fn source_name(v: &Value) -> &'static str {
    match v.as_i64() {
        Some(1) => "tag",
        Some(2) => "module",
        Some(6) => "build",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        create: CreateArgs,
    }

    #[test]
    fn every_create_option_lands_where_the_api_reads_it() {
        let cli = Cli::parse_from([
            "create",
            "--source",
            "f40",
            "--packages",
            "bash,vim",
            "--builds",
            "bash-5-1,zsh-5.9-2,draft_77",
            "--sigkeys",
            "a15b79cc,",
            "--arches",
            "x86_64,aarch64",
            "--koji-event",
            "42",
            "--flag",
            "no_deps",
            "--flag",
            "no_reuse",
            "--lookaside-repos",
            "http://mirror/repo",
            "--multilib-arches",
            "x86_64",
            "--multilib-method",
            "runtime,devel",
            "--seconds-to-live",
            "600",
            "--label",
            "rc1",
            "--compose-type",
            "nightly",
            "--results",
            "iso",
            "--modular-koji-tags",
            "f40-modular",
            "--scratch-modules",
            "m:s:1:c_1",
            "--base-module-br-name",
            "platform",
            "--base-module-br-stream",
            "f40",
            "--base-module-br-stream-version-lte",
            "400000",
            "--base-module-br-stream-version-gte",
            "390000",
        ]);
        assert_eq!(
            cli.create.body(),
            json!({
                "source": {"type": "tag", "source": "f40", "packages": ["bash", "vim"],
                           "builds": ["bash-5-1", "zsh-5.9-2,draft_77"],
                           "sigkeys": ["a15b79cc", ""], "koji_event": 42,
                           "modular_koji_tags": ["f40-modular"],
                           "scratch_modules": ["m:s:1:c_1"],
                           "base_module_br_name": "platform",
                           "base_module_br_stream": "f40",
                           "base_module_br_stream_version_lte": 400000,
                           "base_module_br_stream_version_gte": 390000},
                "flags": ["no_deps", "no_reuse"],
                "arches": ["x86_64", "aarch64"],
                "lookaside_repos": ["http://mirror/repo"],
                "multilib_arches": ["x86_64"],
                "multilib_method": ["runtime", "devel"],
                "seconds_to_live": 600,
                "label": "rc1",
                "compose_type": "nightly",
                "results": ["iso"]
            })
        );
        // nothing given: only what the API needs
        let bare = Cli::parse_from(["create", "--source", "f40"]);
        assert_eq!(
            bare.create.body(),
            json!({"source": {"type": "tag", "source": "f40"}, "flags": []})
        );
    }
}
