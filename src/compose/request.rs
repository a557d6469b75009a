//! What a compose is asked and what it answers: the request, its errors, the
//! RPMs of the finished compose and their manifest. Below the engine, the
//! replay, the tree layout and the metadata writer, which all read these, so
//! none of them imports another for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Progress;
use super::createrepo::CreaterepoError;
use crate::gather::GatherError;
use crate::rpm::{PackageMeta, RpmError};
use crate::source::SourceError;
use crate::source::repo::RepoLimits;

/// The variant name Pungi uses for ODCS composes.
pub const VARIANT: &str = "Temporary";

pub use crate::domain::SourceType;

pub use crate::gather::multilib::MultilibMethod;

#[derive(Clone, Debug, Default)]
pub struct ComposeFlags {
    pub no_deps: bool,
    /// MBS's `done` module builds count as well as `ready` ones.
    pub include_done_modules: bool,
    pub no_inheritance: bool,
    pub check_deps: bool,
    /// Composes of composes: the first input holding a source package
    /// gives it (else the highest E:V-R of each name wins).
    pub first_source_wins: bool,
}

/// A checked compose request (what the API and the CLI turn their input into).
#[derive(Clone, Debug)]
pub struct ComposeRequest {
    /// Directory name of the compose (`odcs-5`).
    pub name: String,
    pub source_type: SourceType,
    /// Tag name, or build N-V-Rs for `SourceType::Build`.
    pub source: Vec<String>,
    pub packages: Vec<String>,
    pub builds: Vec<String>,
    pub arches: Vec<String>,
    /// Empty: unsigned copies only (ODCS's `[None]`).
    pub sigkeys: Vec<String>,
    pub flags: ComposeFlags,
    /// Existing repositories (directories, `file://` or `http(s)://` URLs)
    /// whose packages satisfy dependencies and are not pulled in.
    pub lookaside_repos: Vec<String>,
    pub multilib_arches: Vec<String>,
    pub multilib_methods: Vec<MultilibMethod>,
    pub event: Option<i64>,
    /// Public URL of the compose directory, for the `.repo` file.
    pub url: String,
    /// What reading a lookaside repository may cost (download time, sizes).
    pub lookaside_limits: RepoLimits,
    /// Git URL and commit of the modulemd-defaults of a module compose.
    pub module_defaults: Option<(String, String)>,
    /// Where the defaults of a full commit hash are kept between composes.
    pub module_defaults_cache: Option<PathBuf>,
    /// Where `repo` sources over http(s) are mirrored (each RPM downloaded
    /// once, checked against its repodata's sha256); without it such a
    /// source is refused.
    pub mirror_dir: Option<PathBuf>,
    /// The configured modulemd-defaults, for requests without their own.
    pub module_defaults_dir: Option<PathBuf>,
    /// Which base module the requested module builds must have been built
    /// against (MBS's `base_module_br_*` filters).
    pub base_module_br: crate::source::BaseModuleBr,
    /// Koji tags whose module builds a `tag` compose adds (all of them) or
    /// a `module` compose resolves its modules from, instead of MBS.
    pub modular_koji_tags: Vec<String>,
    /// Module names that are base modules, left out of a compose's modules.
    pub base_module_names: Vec<String>,
    /// Exact N:S:V:C of scratch module builds the compose adds (from MBS).
    pub scratch_modules: Vec<String>,
    /// The `iso` result: an ISO of each arch's `os` tree.
    pub iso: bool,
}

impl ComposeRequest {
    /// A compose of every package of `tag` for x86_64 with the request
    /// defaults (unsigned copies, no flags, no lookaside, no multilib, the
    /// newest event); `url` is the public URL of the compose directory.
    pub fn tag(name: &str, tag: &str, url: &str) -> ComposeRequest {
        ComposeRequest {
            name: name.to_owned(),
            source_type: SourceType::Tag,
            source: vec![tag.to_owned()],
            packages: vec![],
            builds: vec![],
            arches: vec!["x86_64".to_owned()],
            sigkeys: vec![],
            flags: ComposeFlags::default(),
            lookaside_repos: vec![],
            multilib_arches: vec![],
            multilib_methods: vec![],
            event: None,
            url: url.to_owned(),
            lookaside_limits: RepoLimits::default(),
            module_defaults: None,
            module_defaults_cache: None,
            mirror_dir: None,
            module_defaults_dir: None,
            base_module_br: Default::default(),
            modular_koji_tags: vec![],
            base_module_names: vec!["platform".into(), "bootstrap".into()],
            scratch_modules: vec![],
            iso: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{0}")]
    Read(#[from] RpmError),
    #[error("packages not found in {origin}: {}", .names.join(", "))]
    MissingPackages { origin: String, names: Vec<String> },
    #[error("unresolved dependencies in {arch} (check_deps):{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    Unresolved { arch: String, lines: Vec<String> },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lookaside repository {location}: {message}")]
    Lookaside { location: String, message: String },
    #[error(transparent)]
    Repodata(#[from] CreaterepoError),
    #[error("compose {name} already exists in {target}")]
    Exists { name: String, target: PathBuf },
    #[error("the compose selected no packages for {arch}")]
    Empty { arch: String },
    #[error(transparent)]
    Gather(#[from] GatherError),
    #[error("the compose was cancelled")]
    Cancelled,
    #[error("{0}")]
    Modules(String),
    #[error("iso: {0}")]
    Iso(String),
    #[error("{0}")]
    Pungi(String),
    /// Composes made of composes: an input's rpms.json that cannot be merged.
    #[error("merging composes: {0}")]
    Merge(String),
    /// A `pulp` compose: what Pulp answered, or could not be asked.
    #[error("{0}")]
    Pulp(String),
    #[error("source type {source_type:?} is not supported by this engine")]
    Unsupported { source_type: &'static str },
    #[error("RPM files differ from the checksums their source records:{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    ChecksumMismatch { lines: Vec<String> },
    #[error("RPM files kept changing while the compose read them: {}", .paths.join(", "))]
    Unstable { paths: Vec<String> },
    #[error("the compose cannot be recreated with exactly the same RPMs:{}", .lines.iter().map(|l| format!("\n  {l}")).collect::<String>())]
    NotReproducible { lines: Vec<String> },
}

/// Stop when the compose was cancelled (the engine asks between steps).
pub(super) fn go_on(progress: &dyn Progress) -> Result<(), ComposeError> {
    if progress.cancelled() {
        Err(ComposeError::Cancelled)
    } else {
        Ok(())
    }
}

pub(super) fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ComposeError + '_ {
    move |source| ComposeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One RPM in the finished compose, as the manifest records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposedRpm {
    pub nevra: String,
    pub srpm_nevra: String,
    pub arch: String,
    pub category: &'static str,
    /// Relative to `compose/`.
    pub path: String,
    pub sigkey: Option<String>,
    pub checksum: String,
    pub build_nvr: String,
    /// Where the file came from.
    pub source_path: PathBuf,
}

#[derive(Debug)]
pub struct ComposeResult {
    pub dir: PathBuf,
    pub event: i64,
    pub rpms: Vec<ComposedRpm>,
    /// The N:S:V:C of every module build of a module compose (requested
    /// and required ones).
    pub modules: Vec<String>,
    pub timings: Vec<(&'static str, Duration)>,
    /// What Pungi answered, for a compose Pungi made.
    pub pungi: Option<super::pungi::PungiOutcome>,
    /// What Pulp answered, for a `pulp` compose.
    pub pulp: Option<super::pulp::PulpOutcome>,
}

/// `name-epoch:version-release.arch`, epoch always present (productmd's form).
pub fn nevra_with_epoch(p: &PackageMeta) -> String {
    format!(
        "{}-{}:{}-{}.{}",
        p.name,
        p.epoch.unwrap_or(0),
        p.version,
        p.release,
        p.arch
    )
}

/// The manifest grouped as productmd's rpms.json wants it.
pub type Manifest<'a> = BTreeMap<String, BTreeMap<String, BTreeMap<String, &'a ComposedRpm>>>;

/// arch → SRPM NEVRA → RPM NEVRA → entry.
pub fn manifest<'a>(rpms: &'a [ComposedRpm], arches: &[String]) -> Manifest<'a> {
    let mut out = Manifest::new();
    for r in rpms {
        // SRPMs are recorded under every tree arch
        let under: Vec<&String> = if r.category == "source" {
            arches.iter().collect()
        } else {
            vec![&r.arch]
        };
        for a in under {
            out.entry(a.clone())
                .or_default()
                .entry(r.srpm_nevra.clone())
                .or_default()
                .insert(r.nevra.clone(), r);
        }
    }
    out
}
