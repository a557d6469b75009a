//! The `odcs` binary: parses arguments once and wires the parts together.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use odcs::compose::Progress;
use odcs::compose::createrepo::{CacheDir, CreaterepoOptions, createrepo};
use odcs::repodata::{Compression, RepodataOptions};

mod client_cmd;
mod compose_cmd;
mod corpus;
mod token_cmd;

#[derive(Parser)]
#[command(
    name = "odcs",
    version,
    about = "On Demand Compose Service: temporary RPM repositories from Koji builds"
)]
struct Cli {
    /// Log filter (error, warn, info, debug, trace, or a tracing filter like `odcs=debug`).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    /// Log format: `human` (time, level, message and fields) or `json` (one
    /// object per line, with the span fields, for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// Where the service's configuration comes from (serve, worker, migrate).
#[derive(clap::Args)]
struct ConfigArgs {
    /// TOML configuration file (`odcs config --example` prints every key);
    /// `ODCS_*` environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory: the SQLite database, compose trees, local store and
    /// caches unless configured elsewhere [default: the configuration's
    /// `data_dir`, ./odcs-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<odcs::config::Config> {
        let mut cfg = odcs::config::Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            cfg.data_dir = dir.clone();
        }
        Ok(cfg)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Write repository metadata (repodata/) for a directory of RPMs, like createrepo_c.
    ///
    /// Headers are read once: each package's record is kept in the header cache,
    /// keyed by the file's identity, so later runs over the same RPMs open none of
    /// them. The new repodata/ replaces the old one atomically.
    Createrepo(CreaterepoArgs),
    /// Generate a synthetic corpus of real RPM files with a realistic dependency
    /// graph (for benchmarks and demos).
    GenerateCorpus(corpus::CorpusArgs),
    /// Run one compose without a server: resolve, gather with dependencies,
    /// link, write repodata and productmd metadata into TARGET/NAME.
    Compose(Box<compose_cmd::ComposeArgs>),
    /// Manage the local package store (a Koji-like topdir plus tags.json).
    #[command(subcommand)]
    Store(compose_cmd::StoreCommand),
    /// Run the service: REST API v1, in-process workers, the expiry reaper, and
    /// the compose trees under /odcs/. With no configuration: SQLite and
    /// everything under ./odcs-data, the local store as package source,
    /// listening on 127.0.0.1:5005.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on [default: the configuration's `listen`, 127.0.0.1:5005].
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Seed the demo store first (if it has no tags yet).
        #[arg(long)]
        demo: bool,
    },
    /// Run workers only (no API), sharing the configured database and target dir.
    Worker {
        #[command(flatten)]
        config: ConfigArgs,
        /// Number of workers [default: the configuration's `workers`, at least 1].
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the example configuration file (every key, documented, with its default).
    Config,
    /// Talk to an ODCS server: create, wait, show, list, renew, delete composes.
    Client(client_cmd::ClientArgs),
    /// API tokens for service accounts (`[auth] backends` with "token").
    #[command(subcommand)]
    Token(token_cmd::TokenCommand),
}

#[derive(clap::Args)]
struct CreaterepoArgs {
    /// Directory holding the RPMs (searched recursively); repodata/ is written here.
    dir: PathBuf,
    /// Threads for reading headers and compressing metadata [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
    /// Cache directory: package records by file identity, and rendered chunks
    /// of repodata [default: $XDG_CACHE_HOME/odcs or ~/.cache/odcs].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Compression of primary/filelists/other: zstd or gzip, optionally with a
    /// level (zstd:19, gzip:9).
    #[arg(long, value_name = "KIND[:LEVEL]", default_value = "zstd", value_parser = Compression::parse)]
    compress: Compression,
    /// Prefix for every package's location href (createrepo_c's --location-prefix).
    #[arg(long, value_name = "URL")]
    location_prefix: Option<String>,
    /// xml:base of every package location (createrepo_c's --baseurl).
    #[arg(long, value_name = "URL")]
    baseurl: Option<String>,
    /// Newest changelog entries kept per package in other.xml (-1: all).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    changelog_limit: i64,
    /// repomd.xml revision [default: current time in seconds].
    #[arg(long)]
    revision: Option<String>,
    /// Leave packages that cannot be read out (with a warning) instead of failing.
    #[arg(long)]
    skip_bad: bool,
    /// Print what was done (counts, cache hits, phase times) when finished.
    #[arg(long, short)]
    verbose: bool,
}

pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|p| p.join("odcs"))
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub(crate) struct Bar(indicatif::ProgressBar);

impl Bar {
    pub(crate) fn new() -> Bar {
        let bar =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>18} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})",
            )
            .expect("static template is valid")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.0.set_message(name.to_owned());
        self.0.set_length(total.unwrap_or(0));
        self.0.set_position(0);
        self.0.reset_eta();
    }
    fn advance(&self, n: u64) {
        self.0.inc(n);
    }
    fn set(&self, n: u64) {
        self.0.set_position(n);
    }
    fn done(&self) {
        self.0.finish_and_clear();
    }
}

fn run_createrepo(args: CreaterepoArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("{}: not a directory", args.dir.display());
    }
    let cache = if args.no_cache {
        None
    } else {
        let dir = args
            .cache_dir
            .clone()
            .or_else(default_cache_dir)
            .context("no cache directory: set --cache-dir (or HOME), or pass --no-cache")?;
        Some(CacheDir::open(&dir)?)
    };
    let opts = CreaterepoOptions {
        workers: args.workers.map(usize::from),
        skip_bad: args.skip_bad,
        repodata: RepodataOptions {
            compression: args.compress,
            location_prefix: args.location_prefix,
            baseurl: args.baseurl,
            changelog_limit: usize::try_from(args.changelog_limit).ok(),
            revision: args.revision,
            ..RepodataOptions::default()
        },
    };
    let bar = Bar::new();
    let caches = cache.as_ref().map(CacheDir::caches).unwrap_or_default();
    let report = createrepo(&args.dir, &opts, caches, &bar)?;
    if args.verbose {
        eprintln!(
            "{} packages ({} of {} chunks reused; {} records from cache, {} RPMs read, {} skipped); scan {:.0?}, headers {:.0?}, repodata {:.0?}",
            report.packages,
            report.chunks_reused,
            report.chunks,
            report.cache_hits,
            report.headers_read,
            report.skipped.len(),
            report.scan_time,
            report.read_time,
            report.write_time
        );
    }
    Ok(())
}

fn run_async(f: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match cli.log_format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let result = match cli.command {
        Command::Createrepo(args) => run_createrepo(args),
        Command::GenerateCorpus(args) => corpus::run(args),
        Command::Compose(args) => compose_cmd::run_compose(*args),
        Command::Store(cmd) => compose_cmd::run_store(cmd),
        Command::Serve {
            config,
            listen,
            demo,
        } => run_async(async move {
            let mut cfg = config.load()?;
            if let Some(listen) = listen {
                cfg.listen = listen;
            }
            if demo {
                compose_cmd::seed_demo(&cfg.store_dir())?;
            }
            let listener = tokio::net::TcpListener::bind(&cfg.listen)
                .await
                .with_context(|| format!("cannot listen on {}", cfg.listen))?;
            eprintln!(
                "odcs: serving on http://{} (database {}, composes in {})",
                cfg.listen,
                odcs::store::redact_url(&cfg.database_url()),
                cfg.target_dir().display()
            );
            odcs::service::serve(cfg, listener, odcs::service::shutdown_signal()).await
        }),
        Command::Worker { config, workers } => run_async(async move {
            let cfg = config.load()?;
            let n = workers.unwrap_or(cfg.workers).max(1);
            odcs::service::work(cfg, n, odcs::service::shutdown_signal()).await
        }),
        Command::Migrate { config } => run_async(async move {
            let cfg = config.load()?;
            odcs::service::open_store(&cfg).await?;
            eprintln!(
                "database {} is up to date",
                odcs::store::redact_url(&cfg.database_url())
            );
            Ok(())
        }),
        Command::Client(args) => client_cmd::run(args),
        Command::Token(cmd) => run_async(token_cmd::run(cmd)),
        Command::Config => {
            print!("{}", odcs::config::EXAMPLE);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
