//! Koji as a [`PackageSource`]: the hub decides which builds a tag holds at an
//! event (`listTaggedRPMS` with `latest`), the topdir holds the files, and the
//! sigkeys decide which copy of each RPM is taken (formats.md §1.8).

use std::collections::HashMap;

use super::koji::{
    KojiBuild, KojiClient, KojiError, KojiPaths, KojiRpm, MissingRpmFile, missing_files_error,
};
use super::{ModuleQuery, PackageSource, SourceError, SourceRpm};
use crate::modulemd::ModuleStream;

pub struct KojiSource {
    pub client: KojiClient,
    pub paths: KojiPaths,
    /// Whether tag composes take draft builds (Koji ≥ 1.34) as the hub lists
    /// them; `false` asks the hub for regular builds only (`draft=False`).
    pub include_draft_builds: bool,
    /// Whether the hub has `getRPMChecksums` (asked once).
    has_checksums: std::sync::OnceLock<bool>,
}

/// RPMs per multicall when asking for checksums.
const CHECKSUM_BATCH: usize = 500;

impl KojiSource {
    pub fn new(client: KojiClient, paths: KojiPaths) -> KojiSource {
        KojiSource {
            client,
            paths,
            include_draft_builds: true,
            has_checksums: std::sync::OnceLock::new(),
        }
    }

    fn hub_has_checksums(&self) -> Result<bool, SourceError> {
        if let Some(has) = self.has_checksums.get() {
            return Ok(*has);
        }
        let has = self
            .client
            .list_methods()?
            .iter()
            .any(|m| m == "getRPMChecksums");
        Ok(*self.has_checksums.get_or_init(|| has))
    }

    /// The files of `rpms`, or the unsigned-packages error listing every RPM
    /// without an allowed copy.
    fn files(
        &self,
        rpms: &[KojiRpm],
        builds: &HashMap<i64, &KojiBuild>,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let mut out = Vec::with_capacity(rpms.len());
        let mut missing: Vec<MissingRpmFile> = Vec::new();
        for rpm in rpms {
            let Some(build) = builds.get(&rpm.build_id) else {
                continue;
            };
            match self.paths.choose_rpm_file(build, rpm, sigkeys) {
                Ok(chosen) => out.push(SourceRpm {
                    name: rpm.name.clone(),
                    epoch: rpm.epoch.and_then(|e| u64::try_from(e).ok()),
                    version: rpm.version.clone(),
                    release: rpm.release.clone(),
                    arch: rpm.arch.clone(),
                    build_nvr: build.nvr.clone(),
                    path: chosen.path,
                    sigkey: chosen.sigkey,
                    koji_rpm_id: Some(rpm.id),
                }),
                Err(m) => {
                    tracing::warn!("{m}");
                    missing.push(m);
                }
            }
        }
        if !missing.is_empty() {
            return Err(missing_files_error(sigkeys, &missing, &self.paths).into());
        }
        Ok(out)
    }
}

/// The depth of the top-most tag holding a module's name:stream, and the
/// builds of that tag with their versions.
type TopMost = (usize, Vec<(u64, KojiBuild)>);

/// The `extra.typeinfo.module` of a module build (formats.md §4.1).
fn module_info(build: &KojiBuild) -> Option<&super::koji::Value> {
    build.extra.as_ref()?.get("typeinfo")?.get("module")
}

/// The glob Pungi searches module builds with (formats.md §4.2): Koji's
/// N-V-R of a module build is `<name>-<stream, - as _>-<version>.<context>`.
fn module_glob(parts: &[&str]) -> String {
    let any = |i: usize| parts.get(i).copied().unwrap_or("*");
    let stream = any(1).replace('-', "_");
    let vc = format!("{}.{}", any(2), any(3)).replace("*.*", "*");
    format!("{}-{stream}-{vc}", parts[0])
}

impl KojiSource {
    /// The modulemd of a module build: its per-arch documents
    /// (`files/module/modulemd.<arch>.txt`, what Pungi reads) merged into one
    /// stream whose artifacts are those of every arch, else the generic one
    /// Koji keeps in `extra` (`modulemd_str`).
    fn module_stream(
        &self,
        build: &KojiBuild,
        info: &super::koji::Value,
    ) -> Result<ModuleStream, SourceError> {
        let bad = |m: String| SourceError::Unsupported(format!("module build {}: {m}", build.nvr));
        let dir = self.paths.build_dir(build).join("files").join("module");
        let mut per_arch: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        let n = p.file_name().unwrap_or_default().to_string_lossy();
                        n.starts_with("modulemd.") && n.ends_with(".txt") && n != "modulemd.txt"
                    })
                    .collect()
            })
            .unwrap_or_default();
        per_arch.sort();
        let mut texts = Vec::new();
        for p in &per_arch {
            texts.push(
                std::fs::read_to_string(p).map_err(|e| bad(format!("{}: {e}", p.display())))?,
            );
        }
        if texts.is_empty() {
            let generic = info
                .get("modulemd_str")
                .and_then(|v| v.as_str())
                .ok_or_else(|| bad("no modulemd (neither files/module/modulemd.<arch>.txt nor extra.typeinfo.module.modulemd_str)".into()))?;
            texts.push(generic.to_owned());
        }
        let mut merged: Option<ModuleStream> = None;
        let mut per_arch_artifacts = std::collections::BTreeMap::new();
        for (i, t) in texts.iter().enumerate() {
            let stream = crate::modulemd::parse(t)
                .map_err(|e| bad(format!("modulemd: {e}")))?
                .streams
                .into_iter()
                .next()
                .ok_or_else(|| bad("modulemd without a stream".into()))?;
            // `modulemd.<arch>.txt`: what that arch's tree holds
            if let Some(arch) = per_arch.get(i).and_then(|p| {
                p.file_name()?
                    .to_str()?
                    .strip_prefix("modulemd.")?
                    .strip_suffix(".txt")
                    .map(str::to_owned)
            }) {
                per_arch_artifacts.insert(arch, stream.artifacts.clone());
            }
            match &mut merged {
                None => merged = Some(stream),
                Some(m) => {
                    for a in stream.artifacts {
                        if !m.artifacts.contains(&a) {
                            m.artifacts.push(a);
                        }
                    }
                }
            }
        }
        let mut m = merged.expect("at least one modulemd");
        m.arch = String::new();
        m.arch_artifacts = per_arch_artifacts;
        if let Some(tag) = info.get("content_koji_tag").and_then(|v| v.as_str()) {
            m.content_tag = tag.to_owned();
        }
        Ok(m)
    }
}

impl PackageSource for KojiSource {
    fn for_compose(&self) -> Box<dyn PackageSource + Send> {
        let has_checksums = std::sync::OnceLock::new();
        if let Some(has) = self.has_checksums.get() {
            let _ = has_checksums.set(*has);
        }
        Box::new(KojiSource {
            client: self.client.with_retry_budget(self.client.max_retries()),
            paths: self.paths.clone(),
            include_draft_builds: self.include_draft_builds,
            has_checksums,
        })
    }

    fn location(&self) -> Option<(std::path::PathBuf, &'static str)> {
        Some((self.paths.topdir.clone(), "<koji topdir>"))
    }

    fn current_event(&self) -> Result<i64, SourceError> {
        Ok(self.client.get_last_event()?.id)
    }

    /// `getEvent`, the one call of the hub that refuses an event it has not
    /// reached (a fault); the listing calls would answer it as "now".
    fn check_event(&self, event: i64) -> Result<(), SourceError> {
        match self.client.get_event(event) {
            Ok(_) => Ok(()),
            Err(KojiError::Fault { .. }) => Err(SourceError::UnknownEvent {
                event,
                newest: self.client.get_last_event().ok().map(|e| e.id),
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn tag_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        if self.client.get_tag(tag, Some(event))?.is_none() {
            return Err(match self.client.get_tag(tag, None)? {
                Some(_) => SourceError::TagNotAtEvent {
                    tag: tag.to_owned(),
                    event,
                },
                None => SourceError::UnknownTag {
                    tag: tag.to_owned(),
                },
            });
        }
        let (rpms, builds) = self.client.list_tagged_rpms(
            tag,
            Some(event),
            inherit,
            true,
            None,
            (!self.include_draft_builds).then_some(false),
        )?;
        let by_id: HashMap<i64, &KojiBuild> = builds.iter().map(|b| (b.id, b)).collect();
        self.files(&rpms, &by_id, sigkeys)
    }

    fn tag_options(&self) -> String {
        format!("draft builds {}", self.include_draft_builds)
    }

    fn tag_changed_since(&self, tag: &str, event: i64, inherit: bool) -> Result<bool, SourceError> {
        let Some(info) = self.client.get_tag(tag, None)? else {
            return Err(SourceError::UnknownTag {
                tag: tag.to_owned(),
            });
        };
        // the inheritance as it is now: a link added or removed since the
        // event is itself a change of the child tag
        let mut ids = vec![info.id];
        if inherit {
            for link in self.client.get_full_inheritance(info.id, None)? {
                if !ids.contains(&link.parent_id) {
                    ids.push(link.parent_id);
                }
            }
        }
        Ok(self.client.tag_changed_since_event(event, &ids)?)
    }

    /// Signed copies are checked as Pungi ≥ 4.4 checks them (formats.md
    /// §1.8): against `getRPMChecksums` of their key, when the hub has it.
    fn expected_sha256(&self, rpms: &[&SourceRpm]) -> Result<Vec<Option<String>>, SourceError> {
        let mut out = vec![None; rpms.len()];
        let signed: Vec<(usize, i64, &str)> = rpms
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r.koji_rpm_id?, r.sigkey.as_deref()?)))
            .collect();
        if signed.is_empty() || !self.hub_has_checksums()? {
            return Ok(out);
        }
        for batch in signed.chunks(CHECKSUM_BATCH) {
            let ids: Vec<i64> = batch.iter().map(|(_, id, _)| *id).collect();
            let answers = self.client.get_rpm_checksums(&ids)?;
            for ((i, _, key), sums) in batch.iter().zip(answers) {
                out[*i] = sums?
                    .into_iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .and_then(|(_, by_type)| {
                        by_type
                            .into_iter()
                            .find(|(t, _)| t == "sha256")
                            .map(|(_, v)| v)
                    });
            }
        }
        Ok(out)
    }

    /// Module builds as Pungi finds them in Koji (formats.md §4.2): a glob
    /// search of their N-V-Rs, then only complete module builds of that
    /// name and stream finished by the event.
    fn module_builds(&self, query: &ModuleQuery) -> Result<Vec<ModuleStream>, SourceError> {
        let parts: Vec<&str> = query.spec.split(':').collect();
        let event_ts = self.client.get_event(query.event)?.ts;
        let mut found: Vec<(KojiBuild, ModuleStream)> = Vec::new();
        for (id, _nvr) in self.client.search_builds(&module_glob(&parts))? {
            let Some(build) = self.client.get_build(id)? else {
                continue;
            };
            let Some(info) = module_info(&build) else {
                continue;
            };
            let field = |k: &str| {
                info.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let have = [
                field("name"),
                field("stream"),
                field("version"),
                field("context"),
            ];
            if build.state != super::koji::build_state::COMPLETE
                || build.completion_ts.is_some_and(|t| t > event_ts)
                || !super::spec_matches(&parts, have.each_ref().map(String::as_str))
            {
                continue;
            }
            let stream = self.module_stream(&build, info)?;
            found.push((build, stream));
        }
        let mut streams: Vec<ModuleStream> = found.into_iter().map(|(_, s)| s).collect();
        super::keep_newest(&mut streams, parts.len(), |s| {
            (s.stream.as_str(), s.version)
        });
        streams.sort_by_key(ModuleStream::nsvc);
        if streams.is_empty() {
            return Err(SourceError::UnknownModule {
                spec: query.spec.clone(),
            });
        }
        Ok(streams)
    }

    fn tag_modules(&self, tag: &str, event: i64) -> Result<Vec<ModuleStream>, SourceError> {
        let Some(info) = self.client.get_tag(tag, Some(event))? else {
            return Err(match self.client.get_tag(tag, None)? {
                Some(_) => SourceError::TagNotAtEvent {
                    tag: tag.to_owned(),
                    event,
                },
                None => SourceError::UnknownTag {
                    tag: tag.to_owned(),
                },
            });
        };
        // how deep in the inheritance each tag is: the tag itself first
        let mut depth: HashMap<i64, usize> = HashMap::from([(info.id, 0)]);
        for (i, link) in self
            .client
            .get_full_inheritance(info.id, Some(event))?
            .iter()
            .enumerate()
        {
            depth.entry(link.parent_id).or_insert(i + 1);
        }
        // (name, stream) → (depth of the top-most tag holding it, builds)
        let mut by_stream: std::collections::BTreeMap<(String, String), TopMost> =
            Default::default();
        for tagged in self.client.list_tagged_modules(tag, event)? {
            let d = tagged
                .tag_id
                .and_then(|t| depth.get(&t).copied())
                .unwrap_or(usize::MAX);
            // listTagged's records may lack `extra`: the build has it
            let Some(build) = self.client.get_build(tagged.id)? else {
                continue;
            };
            let Some(m) = module_info(&build) else {
                continue;
            };
            let field = |k: &str| {
                m.get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let Ok(version) = field("version").parse::<u64>() else {
                continue;
            };
            let entry = by_stream
                .entry((field("name"), field("stream")))
                .or_insert((d, Vec::new()));
            if d < entry.0 {
                *entry = (d, Vec::new());
            }
            if d == entry.0 && !entry.1.iter().any(|(_, b)| b.id == build.id) {
                entry.1.push((version, build));
            }
        }
        let mut out = Vec::new();
        for (_, (_, builds)) in by_stream {
            let newest = builds.iter().map(|(v, _)| *v).max().unwrap_or(0);
            for (v, build) in &builds {
                if *v == newest {
                    let info = module_info(build).expect("checked above");
                    out.push(self.module_stream(build, info)?);
                }
            }
        }
        out.sort_by_key(ModuleStream::nsvc);
        Ok(out)
    }

    /// The RPMs of the module's content tag that its artifacts list, taken
    /// as the tag is now (Pungi ≥ 4.6 ignores the event for content tags).
    fn module_rpms(
        &self,
        module: &ModuleStream,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let tag = module.koji_tag();
        let (rpms, builds) =
            self.client
                .list_tagged_rpms(tag.as_str(), None, false, true, None, None)?;
        let artifacts: std::collections::HashSet<&str> =
            module.artifacts.iter().map(String::as_str).collect();
        let listed: Vec<KojiRpm> = rpms
            .into_iter()
            .filter(|r| {
                // artifacts always carry the epoch (formats.md §4.3)
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
            .collect();
        let by_id: HashMap<i64, &KojiBuild> = builds.iter().map(|b| (b.id, b)).collect();
        self.files(&listed, &by_id, sigkeys)
    }

    fn build_rpms(
        &self,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        let build = self
            .client
            .get_build(nvr)?
            .ok_or_else(|| SourceError::UnknownBuild {
                nvr: nvr.to_owned(),
            })?;
        let rpms = self.client.list_build_rpms(build.id)?;
        let by_id = HashMap::from([(build.id, &build)]);
        self.files(&rpms, &by_id, sigkeys)
    }
}
