//! Koji as a [`PackageSource`]: the hub decides which builds a tag holds at an
//! event (`listTaggedRPMS` with `latest`), the topdir holds the files, and the
//! sigkeys decide which copy of each RPM is taken (formats.md §1.8).

use std::collections::HashMap;

use super::koji::{
    KojiBuild, KojiClient, KojiError, KojiPaths, KojiRpm, MissingRpmFile, missing_files_error,
};
use super::{PackageSource, SourceError, SourceRpm};

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
