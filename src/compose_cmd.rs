//! `odcs compose` and `odcs store`: the compose engine and the local store on the
//! command line.

use std::path::PathBuf;

use anyhow::{Context, bail};

use odcs::compose::createrepo::CacheDir;
use odcs::compose::engine::{
    ComposeFlags, ComposeRequest, MultilibMethod, SourceType, run_compose as engine_run,
};
use odcs::rpm::HeaderCache;
use odcs::source::PackageSource;
use odcs::source::koji::{ClientOptions, KojiClient, KojiPaths};
use odcs::source::koji_source::KojiSource;
use odcs::source::local::LocalStore;

use crate::{Bar, default_cache_dir};

/// Comma-split N-V-Rs with draft suffixes joined back (`N-V-R,draft_12`).
fn nvrs(items: Vec<String>) -> Vec<String> {
    odcs::domain::join_draft_suffixes(items)
}

#[derive(clap::Args)]
pub struct ComposeArgs {
    /// What `--source` names: a tag, builds (N-V-Rs), modules
    /// (`N:S`, `N:S:V`, `N:S:V:C`; with the modules they require unless
    /// `--flag no_deps`), or variant directories/URLs of composes
    /// (`pungi_compose`: exactly their RPMs; several are merged, the highest
    /// E:V-R of each package name and arch winning), or repositories (`repo`:
    /// directories, `file://` or `http(s)://` URLs, the latter mirrored into
    /// the cache directory).
    #[arg(long, value_parser = ["tag", "build", "module", "pungi_compose", "repo"], default_value = "tag")]
    source_type: String,
    /// The tag, or the build N-V-Rs (space or comma separated; a draft
    /// build's `N-V-R,draft_<id>` stays one build).
    #[arg(long, required = true, num_args = 1.., value_delimiter = ',')]
    source: Vec<String>,
    /// Package names to include (with their dependencies); default: every package.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    packages: Vec<String>,
    /// Extra builds (N-V-Rs) replacing the tag's builds of the same packages.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    builds: Vec<String>,
    /// Tree arches.
    #[arg(long, num_args = 1.., value_delimiter = ',', default_value = "x86_64")]
    arches: Vec<String>,
    /// Signing keys allowed, in order of preference; none: unsigned copies.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    sigkeys: Vec<String>,
    /// Flags: no_deps, no_inheritance, check_deps, and first_source_wins
    /// (with several --source composes: each source package from the first
    /// one holding it, instead of the highest E:V-R of each name).
    #[arg(long = "flag", value_parser = ["no_deps", "no_inheritance", "check_deps", "first_source_wins"])]
    flags: Vec<String>,
    /// Repositories (directory, file:// or http(s):// URL) whose packages
    /// satisfy dependencies without being pulled in.
    #[arg(long = "lookaside-repo")]
    lookaside_repos: Vec<String>,
    /// Arches that get multilib packages.
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    multilib_arches: Vec<String>,
    /// Multilib methods: none, runtime, devel, all.
    #[arg(long, num_args = 1.., value_delimiter = ',', value_parser = ["none", "runtime", "devel", "all"])]
    multilib_method: Vec<String>,
    /// Pin to this event instead of the newest one.
    #[arg(long)]
    koji_event: Option<i64>,
    /// Local package store to take builds from (when no --koji is given).
    #[arg(long, default_value = "odcs-data/store")]
    store: PathBuf,
    /// Koji hub URL (e.g. https://koji.fedoraproject.org/kojihub): take builds
    /// from Koji instead of the local store; needs --topdir.
    #[arg(long, requires = "topdir")]
    koji: Option<String>,
    /// The Koji topdir as mounted here (where packages/ lies).
    #[arg(long, requires = "koji")]
    topdir: Option<PathBuf>,
    /// Seconds one Koji call may take.
    #[arg(long, default_value_t = 120)]
    koji_timeout: u64,
    /// PEM file of the CA certificates of a hub with a private CA (koji.conf's
    /// `serverca`) [default: the public CAs].
    #[arg(long, requires = "koji", value_name = "PEM")]
    koji_ca: Option<PathBuf>,
    /// Directory the compose is written into (as TARGET/NAME).
    #[arg(long)]
    target: PathBuf,
    /// Name of the compose directory.
    #[arg(long, default_value = "odcs-1")]
    name: String,
    /// Public URL of TARGET, for the .repo file [default: file://TARGET].
    #[arg(long)]
    target_url: Option<String>,
    /// Cache directory (header records and rendered repodata chunks).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Print the time each phase took.
    #[arg(long, short)]
    verbose: bool,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}

pub fn run_compose(a: ComposeArgs) -> anyhow::Result<()> {
    // one compose, then exit: the heaps grow in large steps
    odcs::compose::resident::grow_heaps_by(64 << 20);
    if !valid_name(&a.name) {
        bail!(
            "--name {:?}: use letters, digits, '.', '_', '+' and '-'",
            a.name
        );
    }
    let source_type = match a.source_type.as_str() {
        "tag" => SourceType::Tag,
        "module" => SourceType::Module,
        "pungi_compose" => SourceType::PungiCompose,
        "repo" => SourceType::Repo,
        _ => SourceType::Build,
    };
    let source: Vec<String> = nvrs(
        a.source
            .iter()
            .flat_map(|s| s.split_whitespace().map(str::to_owned))
            .collect(),
    );
    if source_type == SourceType::Tag && source.is_empty() {
        bail!("--source: a tag compose takes one tag or more");
    }
    std::fs::create_dir_all(&a.target)
        .with_context(|| format!("creating {}", a.target.display()))?;
    let target = a.target.canonicalize()?;
    let url = a
        .target_url
        .clone()
        .unwrap_or_else(|| format!("file://{}", target.display()));
    let req = ComposeRequest {
        name: a.name.clone(),
        source_type,
        source,
        packages: a.packages,
        builds: nvrs(a.builds),
        arches: a.arches,
        sigkeys: a.sigkeys,
        flags: ComposeFlags {
            no_deps: a.flags.iter().any(|f| f == "no_deps"),
            include_done_modules: a.flags.iter().any(|f| f == "include_done_modules"),
            no_inheritance: a.flags.iter().any(|f| f == "no_inheritance"),
            check_deps: a.flags.iter().any(|f| f == "check_deps"),
            first_source_wins: a.flags.iter().any(|f| f == "first_source_wins"),
        },
        lookaside_repos: a.lookaside_repos,
        multilib_arches: a.multilib_arches,
        multilib_methods: a
            .multilib_method
            .iter()
            .map(|m| match m.as_str() {
                "runtime" => MultilibMethod::Runtime,
                "devel" => MultilibMethod::Devel,
                "all" => MultilibMethod::All,
                _ => MultilibMethod::None,
            })
            .collect(),
        event: a.koji_event,
        url: format!("{}/{}", url.trim_end_matches('/'), a.name),
        lookaside_limits: Default::default(),
        module_defaults: None,
        module_defaults_cache: None,
        mirror_dir: None,
        module_defaults_dir: None,
        base_module_br: Default::default(),
        modular_koji_tags: vec![],
        base_module_names: vec!["platform".into(), "bootstrap".into()],
        scratch_modules: vec![],
        iso: false,
    };
    let cache_dir = a
        .cache_dir
        .or_else(default_cache_dir)
        .context("no cache directory: set --cache-dir or HOME")?;
    let caches = CacheDir::open(&cache_dir)?;
    let req = ComposeRequest {
        mirror_dir: Some(cache_dir.join("repo-mirrors")),
        ..req
    };
    let root = a
        .topdir
        .as_ref()
        .filter(|_| a.koji.is_some())
        .unwrap_or(&a.store);
    if let Err(e) = odcs::rpm::share_volume(root) {
        tracing::warn!(
            "{}: {e}: its files are keyed by this host's device number",
            root.display()
        );
    }
    let source: Box<dyn PackageSource> = match (&a.koji, &a.topdir) {
        (Some(url), Some(topdir)) => {
            let options = ClientOptions {
                timeout: std::time::Duration::from_secs(a.koji_timeout),
                ..ClientOptions::default()
            };
            let client = match &a.koji_ca {
                Some(ca) => KojiClient::with_ca_bundle(url.clone(), options, ca)?,
                None => KojiClient::new(url.clone(), options),
            };
            Box::new(KojiSource::new(client, KojiPaths::new(topdir.clone())))
        }
        _ => Box::new(LocalStore::open(&a.store)?),
    };
    // no resident index and no kept solver pools: they keep records and
    // pools between the composes of one process, and this process makes
    // one (a pool's key alone hashed 97,000 header digests, 40 ms)
    let one_compose = odcs::compose::createrepo::Caches {
        resident: None,
        pools: None,
        ..caches.caches()
    };
    let result = engine_run(&req, source.as_ref(), one_compose, &target, &Bar::new())?;
    let arches: std::collections::BTreeSet<&str> =
        result.rpms.iter().map(|r| r.arch.as_str()).collect();
    eprintln!(
        "compose {} done at event {}: {} RPMs ({}) in {}",
        req.name,
        result.event,
        result.rpms.len(),
        arches.into_iter().collect::<Vec<_>>().join(", "),
        result.dir.display()
    );
    if a.verbose {
        let phases: Vec<String> = result
            .timings
            .iter()
            .map(|(p, d)| format!("{p} {} ms", d.as_millis()))
            .collect();
        eprintln!("phases: {}", phases.join(", "));
    }
    println!(
        "{}",
        result
            .dir
            .join("compose/Temporary")
            .join(format!("{}.repo", req.name))
            .display()
    );
    // The process ends here: what the caches and the source hold in memory
    // (the header cache's index, the solver's pools, the store's parsed
    // index) is left to the exit, not freed piece by piece; freeing took
    // 0.44 s of a 3.4 s cold compose from 97,000 candidates (when the
    // resident index still held every record here). They hold nothing
    // unwritten: the header cache writes each batch as it is stored.
    std::mem::forget(caches);
    std::mem::forget(source);
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum StoreCommand {
    /// Put RPMs into the store and tag their builds.
    Import {
        /// Directory of RPMs (searched recursively).
        dir: PathBuf,
        /// Tag the builds into this tag (created if new).
        #[arg(long)]
        tag: String,
        /// Parent tags of a new tag, in inheritance order.
        #[arg(long = "parent")]
        parents: Vec<String>,
        /// The local package store (`store_dir` of the service; by default
        /// `store/` in its data directory).
        #[arg(long, default_value = "odcs-data/store")]
        store: PathBuf,
    },
    /// Seed a demo store: a few hundred generated packages with real
    /// dependencies in tag demo-base, and newer builds of some in demo-updates
    /// (which inherits from demo-base).
    Demo {
        /// The local package store to seed.
        #[arg(long, default_value = "odcs-data/store")]
        store: PathBuf,
        /// Packages in demo-base.
        #[arg(long, default_value_t = 300)]
        packages: usize,
    },
    /// Put a module build into the store: its modulemd (one modulemd v2
    /// stream, as MBS writes `modulemd.txt`) and its RPMs, tagged into the
    /// content tag `module-<name>-<stream>-<version>-<context>`; module
    /// composes of the local store find it from then on.
    ImportModule {
        /// The modulemd YAML file.
        #[arg(long)]
        modulemd: PathBuf,
        /// Directory of the module's RPMs (searched recursively); artifacts
        /// the modulemd leaves out are these RPMs.
        dir: PathBuf,
        /// The local package store.
        #[arg(long, default_value = "odcs-data/store")]
        store: PathBuf,
    },
    /// List tags and their latest builds.
    List {
        /// The local package store to list.
        #[arg(long, default_value = "odcs-data/store")]
        store: PathBuf,
    },
}

fn import_dir(
    store: &LocalStore,
    dir: &std::path::Path,
    tag: &str,
    parents: &[String],
) -> anyhow::Result<usize> {
    let metas = read_dir_rpms(dir)?;
    let nvrs = store.import(tag, parents, &metas)?;
    Ok(nvrs.len())
}

/// Every RPM under `dir`, read (through the header cache).
fn read_dir_rpms(dir: &std::path::Path) -> anyhow::Result<Vec<(PathBuf, odcs::rpm::PackageMeta)>> {
    use rayon::prelude::*;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                files.push(p);
            }
        }
    }
    if files.is_empty() {
        bail!("{}: no RPMs found", dir.display());
    }
    files.sort();
    let cache = default_cache_dir()
        .map(|d| odcs::rpm::LogCache::open(&d))
        .transpose()?;
    let metas: Vec<(PathBuf, odcs::rpm::PackageMeta)> = files
        .par_iter()
        .map(|p| -> anyhow::Result<_> {
            let md = std::fs::metadata(p)?;
            let key = odcs::rpm::FileKey::from_metadata(&md);
            let meta = match cache.as_ref().and_then(|c| c.get(&key)) {
                Some(m) => m,
                None => odcs::rpm::read_package(p)?,
            };
            Ok((p.clone(), meta))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(metas)
}

pub fn run_store(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::Import {
            dir,
            tag,
            parents,
            store,
        } => {
            let store = LocalStore::open(&store)?;
            let n = import_dir(&store, &dir, &tag, &parents)?;
            eprintln!("tagged {n} builds into {tag} in {}", store.root().display());
        }
        StoreCommand::Demo { store, packages } => {
            seed_demo_n(&store, packages)?;
        }
        StoreCommand::ImportModule {
            modulemd,
            dir,
            store,
        } => {
            let store = LocalStore::open(&store)?;
            let text = std::fs::read_to_string(&modulemd)
                .with_context(|| format!("reading {}", modulemd.display()))?;
            let nsvc = store
                .import_module(&text, &read_dir_rpms(&dir)?)
                .with_context(|| modulemd.display().to_string())?;
            eprintln!("module {nsvc} imported into {}", store.root().display());
        }
        StoreCommand::List { store } => {
            list_store(&store)?;
        }
    }
    Ok(())
}

/// Seed the demo store at `root` unless it already has tags.
pub fn seed_demo(root: &std::path::Path) -> anyhow::Result<()> {
    if LocalStore::open(root)?.index()?.tags.is_empty() {
        seed_demo_n(root, 300)?;
    }
    Ok(())
}

fn seed_demo_n(root: &std::path::Path, packages: usize) -> anyhow::Result<()> {
    let store = LocalStore::open(root)?;
    let incoming = tempfile_dir(store.root())?;
    let specs = odcs::rpm::corpus::corpus(packages, 2026);
    let base = incoming.join("base");
    let updates = incoming.join("updates");
    std::fs::create_dir_all(&base)?;
    std::fs::create_dir_all(&updates)?;
    for s in &specs {
        s.write_to(&base)?;
    }
    // newer builds of every tenth package
    for s in specs.iter().step_by(10) {
        let mut u = s.clone();
        u.release = format!("{}.1", u.release);
        u.write_to(&updates)?;
    }
    let nb = import_dir(&store, &base, "demo-base", &[])?;
    let nu = import_dir(&store, &updates, "demo-updates", &["demo-base".to_owned()])?;
    let needed = specs
        .iter()
        .find(|s| s.files.iter().any(|(p, _)| p.starts_with("/usr/lib")))
        .unwrap_or(&specs[0])
        .name
        .clone();
    let modules = seed_demo_modules(&store, &incoming, &needed)?;
    std::fs::remove_dir_all(&incoming)?;
    eprintln!(
        "demo store in {}: {nb} builds in demo-base, {nu} newer ones in demo-updates (inherits demo-base), modules {}",
        store.root().display(),
        modules.join(", ")
    );
    Ok(())
}

/// The demo modules: `demo:1` (profile `default`: demo-tool, which needs
/// `needed` from demo-base and demo-lib of the module) and `demo-app:2`,
/// which requires `demo:1`.
fn seed_demo_modules(
    store: &LocalStore,
    incoming: &std::path::Path,
    needed: &str,
) -> anyhow::Result<Vec<String>> {
    use odcs::modulemd::ModuleStream;
    use odcs::rpm::build::{FileContent, PackageSpec};
    let rpm = |nevra: &str, requires: &[&str], file: &str| -> anyhow::Result<PackageSpec> {
        let mut s = PackageSpec::parse(nevra)?;
        s.summary = format!("{} (demo module package)", s.name);
        s.requires = requires.iter().map(|r| r.to_string()).collect();
        s.files = vec![(
            file.to_owned(),
            FileContent::Regular(format!("{nevra}\n").into_bytes()),
        )];
        Ok(s)
    };
    let modules = [
        (
            "demo",
            "1",
            vec![
                rpm(
                    "demo-tool-1.0-1.module_demo1.x86_64",
                    &["demo-lib", needed],
                    "/usr/bin/demo-tool",
                )?,
                rpm(
                    "demo-lib-1.0-1.module_demo1.x86_64",
                    &[],
                    "/usr/lib64/libdemo.so.1",
                )?,
            ],
            vec![("default", vec!["demo-tool"])],
            vec![("platform", vec!["f40"])],
        ),
        (
            "demo-app",
            "2",
            vec![rpm(
                "demo-app-2.0-1.module_demoapp2.x86_64",
                &["demo-tool"],
                "/usr/bin/demo-app",
            )?],
            vec![("default", vec!["demo-app"])],
            vec![("platform", vec!["f40"]), ("demo", vec!["1"])],
        ),
    ];
    let mut out = Vec::new();
    for (name, stream, rpms, profiles, requires) in modules {
        let dir = incoming.join(format!("module-{name}"));
        std::fs::create_dir_all(&dir)?;
        for r in &rpms {
            r.write_to(&dir)?;
        }
        let m = ModuleStream {
            name: name.into(),
            stream: stream.into(),
            version: 20261129000000,
            context: "d3m0c0de".into(),
            summary: format!("The {name} demo module"),
            description: format!("The {name}:{stream} module of the demo store."),
            license_module: vec!["MIT".into()],
            requires: requires
                .into_iter()
                .map(|(n, s)| (n.to_owned(), s.into_iter().map(str::to_owned).collect()))
                .collect(),
            profiles: profiles
                .into_iter()
                .map(|(p, r)| {
                    (
                        p.to_owned(),
                        (None, r.into_iter().map(str::to_owned).collect()),
                    )
                })
                .collect(),
            ..Default::default()
        };
        out.push(store.import_module(&m.to_yaml(), &read_dir_rpms(&dir)?)?);
    }
    Ok(out)
}

fn list_store(root: &std::path::Path) -> anyhow::Result<()> {
    let store = LocalStore::open(root)?;
    let index = store.index()?;
    for (name, tag) in &index.tags {
        let latest = store.latest_builds(&index, name, index.event, true)?;
        let parents = if tag.parents.is_empty() {
            String::new()
        } else {
            format!(" (inherits {})", tag.parents.join(", "))
        };
        println!("{name}{parents}: {} latest builds", latest.len());
    }
    Ok(())
}

fn tempfile_dir(root: &std::path::Path) -> anyhow::Result<PathBuf> {
    let p = root.join(format!(".incoming-{}", std::process::id()));
    if p.exists() {
        std::fs::remove_dir_all(&p)?;
    }
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
