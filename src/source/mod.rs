//! Turning a request's source into candidate packages: a Koji hub (XML-RPC plus
//! the topdir on disk) or a local store laid out like a Koji topdir.
//!
//! Nothing here knows about HTTP routing or the database; the compose engine asks
//! a [`PackageSource`] for the RPMs of a tag (at a pinned event) or of given
//! builds, and gets back file paths it can hardlink and the facts it records in
//! the compose's manifest.

pub(crate) mod http;
pub mod koji;
pub mod koji_source;
pub mod local;
pub mod mbs;
pub mod pulp;
pub mod pungi_compose;
pub mod repo;

use std::path::PathBuf;

/// An RPM a source offers: what it is, which build it belongs to, and the file
/// (signed copy or not) a compose links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRpm {
    pub name: String,
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// N-V-R of the build the RPM belongs to.
    pub build_nvr: String,
    pub path: PathBuf,
    /// The signing key of the chosen copy; `None` for the unsigned file.
    pub sigkey: Option<String>,
    /// The RPM's id on the Koji hub it came from.
    pub koji_rpm_id: Option<i64>,
}

impl SourceRpm {
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// Which module builds a lookup wants (odcs-api.md §6, `module`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleQuery {
    /// `N`, `N:S`, `N:S:V` or `N:S:V:C`.
    pub spec: String,
    /// Builds finished at or before this event (Koji, the store).
    pub event: i64,
    /// Builds in MBS state `done` count as well as `ready`
    /// (`include_done_modules`).
    pub include_done: bool,
    /// Only builds that buildrequire a base module matching these.
    pub base_module_br: BaseModuleBr,
}

/// The `base_module_br_*` filters of a module lookup; MBS applies them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseModuleBr {
    pub name: Option<String>,
    pub stream: Option<String>,
    pub stream_version_lte: Option<i64>,
    pub stream_version_gte: Option<i64>,
}

impl BaseModuleBr {
    pub fn is_empty(&self) -> bool {
        *self == BaseModuleBr::default()
    }
}

/// Whether a module build `name:stream:version:context` is one that the
/// parts of a spec (`N`, `N:S`, `N:S:V`, `N:S:V:C`) name.
pub fn spec_matches(parts: &[&str], have: [&str; 4]) -> bool {
    parts.iter().zip(have).all(|(want, have)| *want == have)
}

/// Every context of the newest version of each stream among `items`
/// (`stream_version` says an item's stream and version), unless the spec
/// (of `spec_parts` parts) names a version: then all of them.
pub fn keep_newest<T>(
    items: &mut Vec<T>,
    spec_parts: usize,
    stream_version: impl Fn(&T) -> (&str, u64),
) {
    if spec_parts >= 3 {
        return;
    }
    let mut newest: std::collections::BTreeMap<String, u64> = Default::default();
    for i in items.iter() {
        let (s, v) = stream_version(i);
        let e = newest.entry(s.to_owned()).or_insert(v);
        *e = (*e).max(v);
    }
    items.retain(|i| {
        let (s, v) = stream_version(i);
        newest.get(s) == Some(&v)
    });
}

impl ModuleQuery {
    /// Exactly `spec` at `event`, no further filter.
    pub fn new(spec: impl Into<String>, event: i64) -> ModuleQuery {
        ModuleQuery {
            spec: spec.into(),
            event,
            ..ModuleQuery::default()
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    #[error("unknown tag {tag:?}")]
    UnknownTag { tag: String },
    /// The tag exists now but did not at the requested event.
    #[error("tag {tag:?} did not exist at event {event}")]
    TagNotAtEvent { tag: String, event: i64 },
    /// A requested event the source does not know: Koji answers its queries
    /// for an event above its newest as if it were "now", so a compose pinned
    /// to it would record today's content under an event that has not
    /// happened (formats.md §1.10).
    #[error("event {event} does not exist{}", newest.map(|n| format!(" (the newest event is {n})")).unwrap_or_default())]
    UnknownEvent { event: i64, newest: Option<i64> },
    #[error("unknown build {nvr:?}")]
    UnknownBuild { nvr: String },
    /// No module build in ready state matches (the original's text).
    #[error("Failed to find module {spec} in ready state.")]
    UnknownModule { spec: String },
    #[error(transparent)]
    Mbs(#[from] mbs::MbsError),
    #[error("Failed to find module {spec} in the modular Koji tags {tags}.")]
    NotInModularTags { spec: String, tags: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Unsigned(String),
    #[error(transparent)]
    Koji(#[from] koji::KojiError),
    #[error(transparent)]
    Store(#[from] local::LocalStoreError),
}

/// Where a compose gets its packages.
pub trait PackageSource: Sync {
    /// The source one compose uses: the same packages, with state of its
    /// own where that matters (Koji: one retry budget for all the compose's
    /// calls, so a hub that is down is waited out once).
    fn for_compose(&self) -> Box<dyn PackageSource + Send>;
    /// The directory on this server the source's files are under and how a
    /// message shown to users names it (`<koji topdir>`): failure reasons do
    /// not show server paths.
    fn location(&self) -> Option<(PathBuf, &'static str)> {
        None
    }
    /// The newest event: what "now" is pinned to.
    fn current_event(&self) -> Result<i64, SourceError>;
    /// Whether `event` exists ([`SourceError::UnknownEvent`] if not): every
    /// requested event is checked before anything is resolved at it, as
    /// Pungi does with Koji's `getEvent`.
    fn check_event(&self, event: i64) -> Result<(), SourceError>;
    /// The latest build of every (unblocked) package of `tag` at `event`, with
    /// inheritance unless `inherit` is false; all RPMs of those builds.
    fn tag_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError>;
    /// What else decides [`PackageSource::tag_rpms`]' answer besides its
    /// arguments (Koji: whether draft builds count): part of the resident
    /// index's key for a tag resolution.
    fn tag_options(&self) -> String {
        String::new()
    }
    /// Whether anything that decides `tag`'s content (its builds, blocks and
    /// inheritance, and with `inherit` those of every tag it inherits from)
    /// changed after `event`: a compose made at `event` still answers a request
    /// for the tag's latest content when this is false (odcs-api.md §5.5).
    fn tag_changed_since(&self, tag: &str, event: i64, inherit: bool) -> Result<bool, SourceError>;
    /// The sha256 the source records for each file (e.g. Koji's
    /// `getRPMChecksums` of a signed copy), `None` where it records none; the
    /// engine checks the files it puts in a compose against them.
    fn expected_sha256(&self, rpms: &[&SourceRpm]) -> Result<Vec<Option<String>>, SourceError> {
        Ok(vec![None; rpms.len()])
    }
    /// Module builds ready at `query.event` that match `query.spec` (`N`,
    /// `N:S`, `N:S:V`, `N:S:V:C`): without a version, every context of the
    /// highest version of each stream. Sources other than MBS ignore
    /// `include_done` and `base_module_br` (they hold ready builds only).
    fn module_builds(
        &self,
        query: &ModuleQuery,
    ) -> Result<Vec<crate::modulemd::ModuleStream>, SourceError> {
        Err(SourceError::Unsupported(format!(
            "module composes are not supported by this package source yet (module {})",
            query.spec
        )))
    }
    /// The module builds of the modular Koji tag `tag` at `event`
    /// (`modular_koji_tags`, formats.md §4.2 step 5): with inheritance, per
    /// name:stream only the builds of the top-most tag holding one, then
    /// every context of the latest version.
    fn tag_modules(
        &self,
        tag: &str,
        event: i64,
    ) -> Result<Vec<crate::modulemd::ModuleStream>, SourceError> {
        let _ = event;
        Err(SourceError::Unsupported(format!(
            "modular_koji_tags need a Koji hub: this server's package source has no modular tags (tag {tag})"
        )))
    }
    /// The scratch module build `nsvc` (exact, with MBS's `_<n>` context
    /// suffix) with its final modulemd for `arches`: only MBS has them.
    fn scratch_module(
        &self,
        nsvc: &str,
        arches: &[String],
    ) -> Result<crate::modulemd::ModuleStream, SourceError> {
        let _ = arches;
        Err(SourceError::Unsupported(format!(
            "scratch_modules need the Module Build Service ([mbs] url), which this server is not configured with (scratch module {nsvc})"
        )))
    }
    /// The RPMs of a module build: those of its content tag listed in its
    /// artifacts.
    fn module_rpms(
        &self,
        module: &crate::modulemd::ModuleStream,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let _ = sigkeys;
        Err(SourceError::Unsupported(format!(
            "module composes are not supported by this package source yet (module {})",
            module.nsvc()
        )))
    }
    /// Every RPM of the build `nvr`.
    fn build_rpms(
        &self,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError>;
}
