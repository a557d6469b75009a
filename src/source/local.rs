//! The local store: a directory laid out like a Koji topdir
//! (`packages/<name>/<version>/<release>/<arch>/<nvra>.rpm`) plus `tags.json`,
//! which says which builds exist, which tags there are, their parents, blocked
//! packages, and when each build was tagged (events). It lets the service run
//! with no Koji at all, and it is the embedded default.
//!
//! Tag semantics follow Koji's (formats.md §1.5–§1.6) on a smaller model: a tag's
//! parents are searched depth-first in the order listed; the latest build of a
//! package is the most recently tagged one in the nearest tag of that chain (not
//! the highest NVR); a package blocked in a tag or an ancestor is left out; a
//! tagging is visible at event E when it was made at or before E and not revoked
//! by E. The store holds unsigned RPMs only: a compose from it that asks for
//! sigkeys without allowing unsigned copies fails naming the unsigned builds.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::modulemd::ModuleStream;
use serde::{Deserialize, Serialize};

use super::{ModuleQuery, PackageSource, SourceError, SourceRpm};
use crate::rpm::PackageMeta;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalStoreError {
    #[error("store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store {path}: tags.json is invalid: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("invalid tag name {name:?}: use letters, digits, '.', '_', '+' and '-'")]
    BadTagName { name: String },
    #[error("tag {tag:?} cannot inherit from {parent:?}: {reason}")]
    BadParent {
        tag: String,
        parent: String,
        reason: String,
    },
    #[error("{rpm} is already in the store with different content (same N-V-R.A, other sha256)")]
    Conflict { rpm: String },
    #[error("module: {message}")]
    BadModule { message: String },
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredRpm {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub sha256: String,
}

impl StoredRpm {
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredBuild {
    pub name: String,
    pub version: String,
    pub release: String,
    pub rpms: Vec<StoredRpm>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tagging {
    pub nvr: String,
    pub event: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<i64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredTag {
    /// The event that created the tag: before it, the tag does not exist.
    #[serde(default)]
    pub created: i64,
    /// Parents in inheritance order (highest priority first).
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub blocked: Vec<String>,
    #[serde(default)]
    pub history: Vec<Tagging>,
    /// The last event that changed the tag's parents or blocks (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub changed: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A module build of the store: its modulemd (the stream's document, with
/// its artifacts, arch left to the compose) and the tag holding its RPMs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredModule {
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    pub content_tag: String,
    /// The event that made it ready.
    pub event: i64,
    pub modulemd: String,
}

impl StoredModule {
    pub fn nsvc(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context
        )
    }
}

/// The content of `tags.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoreIndex {
    /// The newest event; every change makes a new one.
    pub event: i64,
    pub tags: BTreeMap<String, StoredTag>,
    pub builds: BTreeMap<String, StoredBuild>,
    /// Module builds in ready state, as MBS would list them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<StoredModule>,
}

/// Parse `tags.json` on every core: its tags and its builds apart, each
/// build on its own. Parsed in one piece, the index of a store of 97,000
/// builds (45 MB) took 0.17 s in perf, half of a cold compose's
/// resolution; in parts 0.15 s, 0.06 s of it the one pass that splits it
/// (timed inside one run; README, "A cold compose").
fn parse_index(bytes: &[u8]) -> Result<StoreIndex, String> {
    use rayon::prelude::*;
    use serde_json::value::RawValue;
    /// The top level, its large parts left unparsed.
    #[derive(Deserialize)]
    struct Parts<'a> {
        event: i64,
        #[serde(borrow)]
        tags: &'a RawValue,
        #[serde(borrow)]
        builds: BTreeMap<String, &'a RawValue>,
        #[serde(default)]
        modules: Vec<StoredModule>,
    }
    let parts: Parts<'_> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let (tags, builds) = rayon::join(
        || serde_json::from_str(parts.tags.get()).map_err(|e| format!("tags: {e}")),
        || {
            let builds: Vec<(String, &RawValue)> = parts.builds.into_iter().collect();
            builds
                .into_par_iter()
                .map(|(nvr, raw)| match serde_json::from_str(raw.get()) {
                    Ok(build) => Ok((nvr, build)),
                    Err(e) => Err(format!("build {nvr}: {e}")),
                })
                .collect::<Result<Vec<(String, StoredBuild)>, String>>()
        },
    );
    Ok(StoreIndex {
        event: parts.event,
        tags: tags?,
        // in key order already: built in one pass
        builds: builds?.into_iter().collect(),
        modules: parts.modules,
    })
}

/// A local package store.
///
/// The parsed `tags.json` is kept (shared by the clones of a store) and
/// parsed again only when the file's identity changes: every update
/// replaces it by rename, so a new index is a new inode. A warm compose
/// from a 97,000-package tag spent most of its resolve phase parsing it.
#[derive(Clone, Debug)]
pub struct LocalStore {
    root: PathBuf,
    parsed: Arc<Mutex<Option<Parsed>>>,
}

/// The index last parsed, and the identity `tags.json` had then.
type Parsed = (crate::rpm::FileKey, Arc<StoreIndex>);

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        && !s.starts_with('.')
}

impl LocalStore {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<LocalStore, LocalStoreError> {
        std::fs::create_dir_all(root.join("packages")).map_err(|source| LocalStoreError::Io {
            path: root.to_owned(),
            source,
        })?;
        Ok(LocalStore {
            root: root.to_owned(),
            parsed: Arc::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("tags.json")
    }

    fn io(&self, source: std::io::Error) -> LocalStoreError {
        LocalStoreError::Io {
            path: self.root.clone(),
            source,
        }
    }

    /// The store's index as `tags.json` holds it now.
    pub fn index(&self) -> Result<Arc<StoreIndex>, LocalStoreError> {
        let path = self.index_path();
        let key = match std::fs::metadata(&path) {
            Ok(md) => crate::rpm::FileKey::from_metadata(&md),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Arc::new(StoreIndex::default()));
            }
            Err(e) => return Err(self.io(e)),
        };
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, index)) = parsed.as_ref()
            && *k == key
        {
            return Ok(index.clone());
        }
        let index = Arc::new(self.read_index()?);
        *parsed = Some((key, index.clone()));
        Ok(index)
    }

    fn read_index(&self) -> Result<StoreIndex, LocalStoreError> {
        match std::fs::read(self.index_path()) {
            Ok(bytes) => parse_index(&bytes).map_err(|message| LocalStoreError::Corrupt {
                path: self.root.clone(),
                message,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreIndex::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Change the index under an exclusive lock; the new index replaces the old
    /// one by rename, so readers see one or the other.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut StoreIndex) -> Result<T, LocalStoreError>,
    ) -> Result<T, LocalStoreError> {
        let lock = File::create(self.root.join(".lock")).map_err(|e| self.io(e))?;
        lock.lock().map_err(|e| self.io(e))?;
        let mut index = self.read_index()?;
        let out = f(&mut index)?;
        let tmp = self.root.join(format!(".tags.json.{}", std::process::id()));
        let mut file = File::create(&tmp).map_err(|e| self.io(e))?;
        let json = serde_json::to_vec_pretty(&index).map_err(|e| LocalStoreError::Corrupt {
            path: self.root.clone(),
            message: e.to_string(),
        })?;
        file.write_all(&json)
            .and_then(|_| file.sync_all())
            .map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, self.index_path()).map_err(|e| self.io(e))?;
        Ok(out)
    }

    pub fn rpm_path(&self, build: &StoredBuild, rpm: &StoredRpm) -> PathBuf {
        // pushed onto one path: a tag's resolution makes a path per
        // candidate (97,000 of them in the bench), and each join made a new one
        let mut path = self.root.join("packages");
        for part in [&build.name, &build.version, &build.release, &rpm.arch] {
            path.push(part);
        }
        path.push(rpm.file_name());
        path
    }

    /// Create `tag` (if new) with `parents`, checking they exist and make no loop.
    pub fn ensure_tag(
        index: &mut StoreIndex,
        tag: &str,
        parents: &[String],
    ) -> Result<(), LocalStoreError> {
        if !valid_name(tag) {
            return Err(LocalStoreError::BadTagName {
                name: tag.to_owned(),
            });
        }
        for p in parents {
            if !index.tags.contains_key(p) {
                return Err(LocalStoreError::BadParent {
                    tag: tag.to_owned(),
                    parent: p.clone(),
                    reason: "no such tag".into(),
                });
            }
            if p == tag || inheritance(index, p).iter().any(|t| t == tag) {
                return Err(LocalStoreError::BadParent {
                    tag: tag.to_owned(),
                    parent: p.clone(),
                    reason: "that would make an inheritance loop".into(),
                });
            }
        }
        let next_event = index.event + 1;
        let entry = index
            .tags
            .entry(tag.to_owned())
            .or_insert_with(|| StoredTag {
                created: next_event,
                ..StoredTag::default()
            });
        for p in parents {
            if !entry.parents.contains(p) {
                entry.parents.push(p.clone());
                if entry.created != next_event {
                    entry.changed = next_event;
                }
            }
        }
        Ok(())
    }

    /// Put RPMs (read records and their files) into the store as builds grouped by
    /// source RPM, and tag those builds into `tag` at a new event. Files are
    /// hardlinked (copied across filesystems). Returns the builds' N-V-Rs.
    pub fn import(
        &self,
        tag: &str,
        parents: &[String],
        rpms: &[(PathBuf, PackageMeta)],
    ) -> Result<Vec<String>, LocalStoreError> {
        self.update(|index| {
            Self::ensure_tag(index, tag, parents)?;
            let mut nvrs = Vec::new();
            for (path, meta) in rpms {
                let nvr = build_nvr(meta);
                let build = index.builds.entry(nvr.clone()).or_insert_with(|| {
                    let (name, version, release) = split_nvr(&nvr);
                    StoredBuild {
                        name,
                        version,
                        release,
                        rpms: Vec::new(),
                    }
                });
                let rpm = StoredRpm {
                    name: meta.name.clone(),
                    epoch: meta.epoch,
                    version: meta.version.clone(),
                    release: meta.release.clone(),
                    arch: meta.arch.clone(),
                    sha256: meta.checksum.clone(),
                };
                match build.rpms.iter().find(|r| r.file_name() == rpm.file_name()) {
                    Some(existing) if existing.sha256 != rpm.sha256 => {
                        return Err(LocalStoreError::Conflict {
                            rpm: rpm.file_name(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        let build_snapshot = build.clone();
                        let dest = self.rpm_path(&build_snapshot, &rpm);
                        link_or_copy(path, &dest).map_err(|e| self.io(e))?;
                        build.rpms.push(rpm);
                    }
                }
                if !nvrs.contains(&nvr) {
                    nvrs.push(nvr);
                }
            }
            index.event += 1;
            let event = index.event;
            let t = index.tags.get_mut(tag).expect("ensure_tag created it");
            for nvr in &nvrs {
                t.history.push(Tagging {
                    nvr: nvr.clone(),
                    event,
                    revoked: None,
                });
            }
            Ok(nvrs)
        })
    }

    /// Import a module build: `modulemd` (one modulemd v2 stream, as MBS
    /// writes `modulemd.txt`) and its RPMs, tagged into its content tag
    /// `module-<name>-<stream>-<version>-<context>`. Artifacts left out of
    /// the document are the RPMs given. Returns the N:S:V:C.
    pub fn import_module(
        &self,
        modulemd: &str,
        rpms: &[(PathBuf, PackageMeta)],
    ) -> Result<String, LocalStoreError> {
        let bad = |message: String| LocalStoreError::BadModule { message };
        let index = crate::modulemd::parse(modulemd).map_err(bad)?;
        let [stream] = index.streams.as_slice() else {
            return Err(bad(format!(
                "the document holds {} module streams, not one",
                index.streams.len()
            )));
        };
        let mut stream = stream.clone();
        for part in [&stream.name, &stream.stream, &stream.context] {
            if !valid_name(part) {
                return Err(bad(format!(
                    "{:?} is not a valid module name, stream or context",
                    part
                )));
            }
        }
        if stream.version == 0 {
            return Err(bad("the module has no version".into()));
        }
        if stream.artifacts.is_empty() {
            stream.artifacts = rpms
                .iter()
                .map(|(_, m)| {
                    format!(
                        "{}-{}:{}-{}.{}",
                        m.name,
                        m.epoch.unwrap_or(0),
                        m.version,
                        m.release,
                        m.arch
                    )
                })
                .collect();
            stream.artifacts.sort();
            stream.artifacts.dedup();
        }
        let nsvc = stream.nsvc();
        if self.index()?.modules.iter().any(|m| m.nsvc() == nsvc) {
            return Err(bad(format!("module {nsvc} is already in the store")));
        }
        let content_tag = format!(
            "module-{}-{}-{}-{}",
            stream.name, stream.stream, stream.version, stream.context
        );
        self.import(&content_tag, &[], rpms)?;
        stream.arch = String::new();
        let yaml = stream.to_yaml();
        self.update(|index| {
            index.event += 1;
            index.modules.push(StoredModule {
                name: stream.name.clone(),
                stream: stream.stream.clone(),
                version: stream.version,
                context: stream.context.clone(),
                content_tag: content_tag.clone(),
                event: index.event,
                modulemd: yaml,
            });
            Ok(())
        })?;
        Ok(nsvc)
    }

    /// Block packages in a tag (they disappear from it and its children).
    pub fn block(&self, tag: &str, packages: &[String]) -> Result<(), LocalStoreError> {
        self.update(|index| {
            Self::ensure_tag(index, tag, &[])?;
            index.event += 1;
            let event = index.event;
            let t = index.tags.get_mut(tag).expect("ensure_tag created it");
            for p in packages {
                if !t.blocked.contains(p) {
                    t.blocked.push(p.clone());
                    t.changed = event;
                }
            }
            Ok(())
        })
    }
}

/// The tag and its ancestors, depth-first in parent order, each once.
fn inheritance(index: &StoreIndex, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    fn walk(index: &StoreIndex, tag: &str, out: &mut Vec<String>, seen: &mut HashSet<String>) {
        if !seen.insert(tag.to_owned()) {
            return;
        }
        out.push(tag.to_owned());
        if let Some(t) = index.tags.get(tag) {
            for p in &t.parents {
                walk(index, p, out, seen);
            }
        }
    }
    walk(index, tag, &mut out, &mut seen);
    out
}

/// The N-V-R of the build an RPM belongs to: its source RPM's, or its own for a
/// source RPM or a package without one.
pub fn build_nvr(meta: &PackageMeta) -> String {
    match meta.sourcerpm.strip_suffix(".src.rpm") {
        Some(nvr) if !meta.is_source && !nvr.is_empty() => nvr.to_owned(),
        _ => format!("{}-{}-{}", meta.name, meta.version, meta.release),
    }
}

fn split_nvr(nvr: &str) -> (String, String, String) {
    let (nv, r) = nvr.rsplit_once('-').unwrap_or((nvr, ""));
    let (n, v) = nv.rsplit_once('-').unwrap_or((nv, ""));
    (n.to_owned(), v.to_owned(), r.to_owned())
}

/// Hardlink `from` to `to` (creating directories), copying when they are on
/// different filesystems.
pub fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
            let tmp = to.with_extension("part");
            std::fs::copy(from, &tmp)?;
            std::fs::rename(&tmp, to)
        }
        Err(e) => Err(e),
    }
}

impl LocalStore {
    /// The latest builds of `tag` at `event` (see the module doc).
    pub fn latest_builds(
        &self,
        index: &StoreIndex,
        tag: &str,
        event: i64,
        inherit: bool,
    ) -> Result<Vec<String>, SourceError> {
        match index.tags.get(tag) {
            None => {
                return Err(SourceError::UnknownTag {
                    tag: tag.to_owned(),
                });
            }
            Some(t) if t.created > event => {
                return Err(SourceError::TagNotAtEvent {
                    tag: tag.to_owned(),
                    event,
                });
            }
            Some(_) => {}
        }
        let chain = inheritance(index, tag);
        let blocked: HashSet<&str> = chain
            .iter()
            .filter_map(|t| index.tags.get(t))
            .flat_map(|t| t.blocked.iter().map(String::as_str))
            .collect();
        let searched = if inherit { &chain[..] } else { &chain[..1] };
        let mut taken: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        for t in searched {
            let Some(tag) = index.tags.get(t) else {
                continue;
            };
            let mut visible: Vec<&Tagging> = tag
                .history
                .iter()
                .filter(|h| h.event <= event && h.revoked.is_none_or(|r| event < r))
                .collect();
            // most recently tagged first
            visible.sort_by_key(|h| std::cmp::Reverse(h.event));
            for h in visible {
                let Some(build) = index.builds.get(&h.nvr) else {
                    continue;
                };
                if blocked.contains(build.name.as_str()) || !taken.insert(build.name.as_str()) {
                    continue;
                }
                out.push(h.nvr.clone());
            }
        }
        Ok(out)
    }

    /// Whether `tag` (and with `inherit` its ancestors) was created, tagged,
    /// untagged, re-parented or had packages blocked after `event`.
    pub fn changed_since(
        index: &StoreIndex,
        tag: &str,
        event: i64,
        inherit: bool,
    ) -> Result<bool, SourceError> {
        if !index.tags.contains_key(tag) {
            return Err(SourceError::UnknownTag {
                tag: tag.to_owned(),
            });
        }
        let chain = inheritance(index, tag);
        let searched = if inherit { &chain[..] } else { &chain[..1] };
        Ok(searched.iter().filter_map(|t| index.tags.get(t)).any(|t| {
            t.created > event
                || t.changed > event
                || t.history
                    .iter()
                    .any(|h| h.event > event || h.revoked.is_some_and(|r| r > event))
        }))
    }

    fn rpms_of(
        &self,
        index: &StoreIndex,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let build = index
            .builds
            .get(nvr)
            .ok_or_else(|| SourceError::UnknownBuild {
                nvr: nvr.to_owned(),
            })?;
        if !sigkeys
            .iter()
            .any(|k| k.as_deref().is_none_or(str::is_empty))
        {
            return Err(SourceError::Unsigned(format!(
                "the local store holds unsigned RPMs only, and the sigkeys {} do not allow unsigned ones; build {nvr}",
                crate::source::koji::python_tuple(sigkeys)
            )));
        }
        Ok(build
            .rpms
            .iter()
            .map(|r| SourceRpm {
                name: r.name.clone(),
                epoch: r.epoch,
                version: r.version.clone(),
                release: r.release.clone(),
                arch: r.arch.clone(),
                build_nvr: nvr.to_owned(),
                path: self.rpm_path(build, r),
                sigkey: None,
                koji_rpm_id: None,
            })
            .collect())
    }
}

impl PackageSource for LocalStore {
    fn for_compose(&self) -> Box<dyn PackageSource + Send> {
        Box::new(self.clone())
    }

    fn module_builds(&self, query: &ModuleQuery) -> Result<Vec<ModuleStream>, SourceError> {
        let (spec, event) = (query.spec.as_str(), query.event);
        let index = self.index()?;
        let parts: Vec<&str> = spec.split(':').collect();
        let mut chosen: Vec<&StoredModule> = index
            .modules
            .iter()
            .filter(|m| m.event <= event)
            .filter(|m| {
                let version = m.version.to_string();
                super::spec_matches(&parts, [&m.name, &m.stream, &version, &m.context])
            })
            .collect();
        // without a version: the newest version of each stream
        super::keep_newest(&mut chosen, parts.len(), |m| (m.stream.as_str(), m.version));
        if chosen.is_empty() {
            return Err(SourceError::UnknownModule {
                spec: spec.to_owned(),
            });
        }
        chosen
            .iter()
            .map(|m| {
                crate::modulemd::parse(&m.modulemd)
                    .ok()
                    .and_then(|i| i.streams.into_iter().next())
                    .map(|mut s| {
                        s.content_tag = m.content_tag.clone();
                        s
                    })
                    .ok_or_else(|| {
                        SourceError::Store(LocalStoreError::BadModule {
                            message: format!("the stored modulemd of {} cannot be read", m.nsvc()),
                        })
                    })
            })
            .collect()
    }

    fn module_rpms(
        &self,
        module: &ModuleStream,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let index = self.index()?;
        let stored = index
            .modules
            .iter()
            .find(|m| m.nsvc() == module.nsvc())
            .ok_or_else(|| SourceError::UnknownModule {
                spec: module.nsvc(),
            })?;
        let artifacts: HashSet<&str> = module.artifacts.iter().map(String::as_str).collect();
        let mut rpms = Vec::new();
        for nvr in self.latest_builds(&index, &stored.content_tag, index.event, false)? {
            rpms.extend(self.rpms_of(&index, &nvr, sigkeys)?);
        }
        Ok(rpms
            .into_iter()
            .filter(|r| {
                let nevra = format!(
                    "{}-{}:{}-{}.{}",
                    r.name,
                    r.epoch.unwrap_or(0),
                    r.version,
                    r.release,
                    r.arch
                );
                artifacts.contains(nevra.as_str())
            })
            .collect())
    }

    fn location(&self) -> Option<(PathBuf, &'static str)> {
        Some((self.root.clone(), "<store>"))
    }

    fn current_event(&self) -> Result<i64, SourceError> {
        Ok(self.index()?.event)
    }

    /// Every event from 0 (the empty store) to the newest exists.
    fn check_event(&self, event: i64) -> Result<(), SourceError> {
        let newest = self.index()?.event;
        if (0..=newest).contains(&event) {
            Ok(())
        } else {
            Err(SourceError::UnknownEvent {
                event,
                newest: Some(newest),
            })
        }
    }

    fn tag_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        use rayon::prelude::*;
        let index = self.index()?;
        let latest = self.latest_builds(&index, tag, event, inherit)?;
        // a path made for each RPM of each build, on every core
        let rpms = latest
            .par_iter()
            .map(|nvr| self.rpms_of(&index, nvr, sigkeys))
            .collect::<Result<Vec<Vec<SourceRpm>>, SourceError>>()?;
        Ok(rpms.into_iter().flatten().collect())
    }

    fn tag_changed_since(&self, tag: &str, event: i64, inherit: bool) -> Result<bool, SourceError> {
        Self::changed_since(&*self.index()?, tag, event, inherit)
    }

    fn build_rpms(
        &self,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let index = self.index()?;
        self.rpms_of(&index, nvr, sigkeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> StoreIndex {
        let build = |nvr: &str| {
            let (name, version, release) = split_nvr(nvr);
            (
                nvr.to_owned(),
                StoredBuild {
                    name,
                    version,
                    release,
                    rpms: vec![],
                },
            )
        };
        let tagging = |nvr: &str, event, revoked| Tagging {
            nvr: nvr.into(),
            event,
            revoked,
        };
        StoreIndex {
            event: 10,
            modules: vec![],
            builds: ["a-1-1", "a-2-1", "b-1-1", "b-3-1", "c-1-1", "d-1-1"]
                .into_iter()
                .map(build)
                .collect(),
            tags: [
                (
                    "base".to_owned(),
                    StoredTag {
                        created: 0,
                        parents: vec![],
                        blocked: vec!["d".into()],
                        history: vec![
                            tagging("a-2-1", 1, None),
                            tagging("b-3-1", 2, None),
                            tagging("c-1-1", 3, Some(6)),
                            tagging("d-1-1", 3, None),
                        ],
                        changed: 0,
                    },
                ),
                (
                    "updates".to_owned(),
                    StoredTag {
                        created: 0,
                        parents: vec!["base".into()],
                        blocked: vec![],
                        // b-1-1 is older than base's b-3-1 but nearer: it wins
                        history: vec![
                            tagging("b-1-1", 4, None),
                            tagging("a-1-1", 5, None),
                            tagging("a-2-1", 7, None),
                        ],
                        changed: 0,
                    },
                ),
            ]
            .into_iter()
            .collect(),
        }
    }

    /// tags.json parsed in parts reads as parsed whole, and a bad build is
    /// named in the error.
    #[test]
    fn the_index_parsed_in_parts_is_the_index() {
        let mut want = index();
        want.builds.get_mut("a-1-1").unwrap().rpms.push(StoredRpm {
            name: "a".into(),
            epoch: Some(2),
            version: "1".into(),
            release: "1".into(),
            arch: "x86_64".into(),
            sha256: "ab".repeat(32),
        });
        want.modules.push(StoredModule {
            name: "m".into(),
            stream: "s".into(),
            version: 1,
            context: "c".into(),
            content_tag: "base".into(),
            event: 3,
            modulemd: "---\n".into(),
        });
        for json in [
            serde_json::to_vec(&want).unwrap(),
            serde_json::to_vec_pretty(&want).unwrap(),
        ] {
            assert_eq!(parse_index(&json).unwrap(), want);
            assert_eq!(
                parse_index(&json).unwrap(),
                serde_json::from_slice::<StoreIndex>(&json).unwrap()
            );
        }
        let bad = serde_json::to_string(&want)
            .unwrap()
            .replace(r#""name":"c","#, r#""name":7,"#);
        let e = parse_index(bad.as_bytes()).unwrap_err();
        assert!(e.starts_with("build c-1-1: invalid type"), "{e}");
        assert!(parse_index(br#"{"event": 1, "tags": {}}"#).is_err());
        assert!(parse_index(b"{").is_err());
    }

    #[test]
    fn latest_is_the_most_recently_tagged_build_in_the_nearest_tag() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let idx = index();
        let mut now = store.latest_builds(&idx, "updates", 10, true).unwrap();
        now.sort();
        // a-2-1 re-tagged at 7 beats a-1-1 tagged at 5; c revoked at 6; d blocked in the parent
        assert_eq!(now, ["a-2-1", "b-1-1"]);
        let mut at5 = store.latest_builds(&idx, "updates", 5, true).unwrap();
        at5.sort();
        assert_eq!(at5, ["a-1-1", "b-1-1", "c-1-1"]);
        assert_eq!(
            store
                .latest_builds(&idx, "updates", 10, false)
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            store.latest_builds(&idx, "nope", 1, true),
            Err(SourceError::UnknownTag { .. })
        ));
    }

    #[test]
    fn a_tag_changes_with_its_own_or_an_ancestors_tagging_blocks_and_parents() {
        let mut idx = index();
        let changed = |idx: &StoreIndex, tag, event, inherit| {
            LocalStore::changed_since(idx, tag, event, inherit).unwrap()
        };
        // updates' last tagging is event 7, base's last change the untag at 6
        assert!(!changed(&idx, "updates", 7, true));
        assert!(changed(&idx, "updates", 6, true));
        assert!(!changed(&idx, "base", 6, true));
        assert!(changed(&idx, "base", 5, true));
        // a revoke counts as a change at the revoking event
        assert!(changed(&idx, "updates", 5, false));
        // a change in the parent only shows with inheritance
        idx.tags.get_mut("base").unwrap().history.push(Tagging {
            nvr: "c-1-1".into(),
            event: 11,
            revoked: None,
        });
        idx.event = 11;
        assert!(changed(&idx, "updates", 10, true));
        assert!(!changed(&idx, "updates", 10, false));
        // a new parent and a block are changes of the tag itself
        LocalStore::ensure_tag(&mut idx, "extras", &[]).unwrap();
        idx.event += 1;
        assert!(changed(&idx, "extras", 11, false));
        assert!(!changed(&idx, "extras", 12, false));
        LocalStore::ensure_tag(&mut idx, "extras", &["base".into()]).unwrap();
        idx.event += 1;
        assert!(changed(&idx, "extras", 12, false));
        assert!(matches!(
            LocalStore::changed_since(&idx, "nope", 1, true),
            Err(SourceError::UnknownTag { .. })
        ));
    }

    #[test]
    fn tags_refuse_loops_unknown_parents_and_bad_names() {
        let mut idx = index();
        assert!(LocalStore::ensure_tag(&mut idx, "base", &["updates".into()]).is_err());
        assert!(LocalStore::ensure_tag(&mut idx, "new", &["missing".into()]).is_err());
        assert!(LocalStore::ensure_tag(&mut idx, "../etc", &[]).is_err());
        assert!(LocalStore::ensure_tag(&mut idx, "new", &["updates".into()]).is_ok());
    }
}
