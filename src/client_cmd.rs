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
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(clap::Subcommand)]
enum ClientCommand {
    /// Request a compose (and, with --wait, wait for it).
    Create {
        /// tag or build.
        #[arg(long, default_value = "tag")]
        source_type: String,
        /// The tag, or build N-V-Rs separated by spaces.
        #[arg(long)]
        source: String,
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        packages: Vec<String>,
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        builds: Vec<String>,
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        sigkeys: Vec<String>,
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        arches: Vec<String>,
        /// no_deps, no_inheritance, check_deps, no_reuse, ...
        #[arg(long = "flag")]
        flags: Vec<String>,
        #[arg(long)]
        seconds_to_live: Option<i64>,
        #[arg(long)]
        label: Option<String>,
        /// Wait until the compose is done (or failed).
        #[arg(long)]
        wait: bool,
    },
    /// Wait for a compose to finish, showing its progress.
    Wait {
        id: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Show one compose.
    Show { id: u64 },
    /// List composes (newest first).
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u64,
        #[arg(long, default_value_t = 10)]
        per_page: u64,
    },
    /// Extend a compose's life, or make a removed or failed one again.
    Renew {
        id: u64,
        #[arg(long)]
        seconds_to_live: Option<i64>,
    },
    /// Cancel a waiting compose, or have a done one removed.
    Delete { id: u64 },
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

fn wait(server: &str, id: u64, timeout: u64) -> anyhow::Result<Value> {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} compose {prefix}: {msg} ({elapsed})")
            .expect("static template"),
    );
    bar.set_prefix(id.to_string());
    let t = Instant::now();
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
        bar.set_message(format!("{state} {detail}"));
        bar.tick();
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
    match a.command {
        ClientCommand::Create {
            source_type,
            source,
            packages,
            builds,
            sigkeys,
            arches,
            flags,
            seconds_to_live,
            label,
            wait: w,
        } => {
            let mut src = json!({"type": source_type, "source": source});
            if !packages.is_empty() {
                src["packages"] = json!(packages);
            }
            if !builds.is_empty() {
                src["builds"] = json!(builds);
            }
            if !sigkeys.is_empty() {
                src["sigkeys"] = json!(sigkeys);
            }
            let mut body = json!({"source": src, "flags": flags});
            if !arches.is_empty() {
                body["arches"] = json!(arches);
            }
            if let Some(s) = seconds_to_live {
                body["seconds_to_live"] = json!(s);
            }
            if let Some(l) = label {
                body["label"] = json!(l);
            }
            let c = answer(
                agent()
                    .post(&format!("{server}/api/1/composes/"))
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes()),
                "create",
            )?;
            let c = match (w, c["id"].as_u64()) {
                (true, Some(id)) => wait(&server, id, 3600)?,
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
        ClientCommand::Wait { id, timeout } => {
            let c = wait(&server, id, timeout)?;
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
                agent()
                    .patch(&format!("{server}/api/1/composes/{id}"))
                    .header("Content-Type", "application/json")
                    .send(body.to_string().as_bytes()),
                "renew",
            )?)?;
        }
        ClientCommand::Delete { id } => print(&answer(
            agent()
                .delete(&format!("{server}/api/1/composes/{id}"))
                .call(),
            "delete",
        )?)?,
    }
    Ok(())
}

fn source_name(v: &Value) -> &'static str {
    match v.as_i64() {
        Some(1) => "tag",
        Some(6) => "build",
        _ => "?",
    }
}
