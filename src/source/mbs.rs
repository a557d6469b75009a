//! The Module Build Service (odcs-api.md §6 `module`, formats.md §4.4): which
//! module builds a request means. MBS answers which builds are `ready` (or
//! `done`), which is newest, and which base module each was built against;
//! the package source (Koji or the local store) then supplies each exact
//! build's per-arch modulemd and its RPMs, as Pungi takes them from Koji
//! after ODCS asked MBS.
//!
//! [`MbsSource`] wraps a package source: everything but the module lookup
//! goes to the inner source.
//!
//! What MBS 3.9.2 really does, and this client therefore does
//! (formats.md §4.4): `version` is a string; the contexts of one version come
//! back in any order, so the highest version is computed here, not taken from
//! the first item; the pagination links keep only the first value of a
//! repeated `state`, so page URLs are built here, never followed.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tracing::debug;

use super::http::{Failure, answer_text, query_escape, with_retries};
use super::koji::ClientOptions;
use super::koji::{ca_roots, http_agent};
use super::{ModuleQuery, PackageSource, SourceError, SourceRpm};
use crate::modulemd::ModuleStream;

/// Items per page asked of MBS (it has no maximum; 100 keeps answers of
/// verbose items, each with its modulemd, around a megabyte).
const PER_PAGE: u32 = 100;
/// Upper bound of one answer.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;
/// MBS's build states the lookup accepts.
const STATE_READY: u8 = 5;
const STATE_DONE: u8 = 3;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MbsError {
    /// The original's message (odcs-api.md §5.3).
    #[error("Failed to find module {nsvc} in ready state in the MBS.")]
    NotFound { nsvc: String },
    #[error("MBS {url}: {message} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("MBS {url}: HTTP status {status}: {message} (after {attempts} attempt(s))")]
    Http {
        url: String,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error("MBS {url}: invalid answer: {message}")]
    Response { url: String, message: String },
    /// MBS names a build the package source does not have.
    #[error(
        "module build {nsvc} is {state} in the MBS, but {source_name} has no such module build"
    )]
    NotInSource {
        nsvc: String,
        state: String,
        source_name: String,
    },
    #[error("module build {nsvc} in the MBS is not a scratch build: ask for it in source")]
    NotScratch { nsvc: String },
    #[error("the MBS has no final modulemd of scratch module {nsvc} for {arches} (only for {has})")]
    NoArch {
        nsvc: String,
        arches: String,
        has: String,
    },
    #[error("MBS CA bundle {path}: {message}")]
    CaBundle {
        path: std::path::PathBuf,
        message: String,
    },
}

/// One module build as MBS lists it (`verbose=True`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct MbsBuild {
    pub id: i64,
    pub name: String,
    pub stream: String,
    /// A string in MBS's answers.
    #[serde(deserialize_with = "u64_from_string_or_number")]
    pub version: u64,
    pub context: String,
    pub state: i64,
    #[serde(default)]
    pub state_name: Option<String>,
    #[serde(default)]
    pub koji_tag: Option<String>,
    #[serde(default)]
    pub modulemd: Option<String>,
    #[serde(default)]
    pub base_module_buildrequires: Vec<MbsBaseModule>,
    #[serde(default)]
    pub scratch: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct MbsBaseModule {
    pub name: String,
    pub stream: String,
    #[serde(default)]
    pub stream_version: Option<f64>,
}

impl MbsBuild {
    pub fn nsvc(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context
        )
    }
}

fn u64_from_string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(u64),
    }
    match V::deserialize(d)? {
        V::N(n) => Ok(n),
        V::S(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("version {s:?} is not a number"))),
    }
}

#[derive(Deserialize)]
struct Page {
    items: Vec<MbsBuild>,
    meta: Meta,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default)]
    pages: u64,
}

#[derive(Clone)]
pub struct MbsClient {
    /// `<mbs>/1`, no trailing slash.
    api: String,
    agent: ureq::Agent,
    options: ClientOptions,
}

impl std::fmt::Debug for MbsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbsClient").field("api", &self.api).finish()
    }
}

impl MbsClient {
    /// A client of the MBS at `url` (the original's `mbs_url`, e.g.
    /// `https://mbs.example.com/module-build-service`), trusting the PEM
    /// file `ca_bundle` if given, else the public CAs.
    pub fn new(
        url: &str,
        options: ClientOptions,
        ca_bundle: Option<&std::path::Path>,
    ) -> Result<MbsClient, MbsError> {
        let roots = match ca_bundle {
            Some(p) => ca_roots(p).map_err(|message| MbsError::CaBundle {
                path: p.to_owned(),
                message,
            })?,
            None => ureq::tls::RootCerts::WebPki,
        };
        Ok(MbsClient {
            api: format!("{}/1", url.trim_end_matches('/')),
            agent: http_agent(options.timeout, roots),
            options,
        })
    }

    fn get_once(&self, url: &str) -> Result<String, Failure> {
        let (status, text) = answer_text(self.agent.get(url).call(), MAX_RESPONSE_BYTES)?;
        if status != 200 {
            // MBS's errors: {"error": ..., "message": ..., "status": ...}
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(Failure::Status(status, message));
        }
        Ok(text)
    }

    /// GET `url`, retrying connection failures and 5xx as the Koji client
    /// does.
    fn get(&self, url: &str) -> Result<String, MbsError> {
        with_retries(&self.options, "MBS", url, || self.get_once(url)).map_err(
            |(failure, attempts)| match failure {
                Failure::Transport(e) => MbsError::Transport {
                    url: url.to_owned(),
                    message: e.to_string(),
                    attempts,
                },
                Failure::Status(status, message) => MbsError::Http {
                    url: url.to_owned(),
                    status,
                    message,
                    attempts,
                },
            },
        )
    }

    /// The builds matching `query`, as MBS orders them (newest version
    /// first), following every page — or, when the spec names a stream,
    /// only as far as the pages still hold its highest version.
    pub fn module_builds(&self, query: &ModuleQuery) -> Result<Vec<MbsBuild>, MbsError> {
        let spec = query.spec.as_str();
        let parts = spec.split(':').count();
        let mut params: Vec<(&str, String)> = vec![("nsvc", spec.to_owned())];
        params.push(("state", STATE_READY.to_string()));
        if query.include_done || parts >= 4 {
            params.push(("state", STATE_DONE.to_string()));
        }
        params.push(("verbose", "True".into()));
        params.push(("order_desc_by", "version".into()));
        let br = &query.base_module_br;
        if let Some(n) = &br.name {
            params.push(("base_module_br_name", n.clone()));
        }
        if let Some(s) = &br.stream {
            params.push(("base_module_br_stream", s.clone()));
        }
        if let Some(v) = br.stream_version_lte {
            params.push(("base_module_br_stream_version_lte", v.to_string()));
        }
        if let Some(v) = br.stream_version_gte {
            params.push(("base_module_br_stream_version_gte", v.to_string()));
        }
        params.push(("per_page", PER_PAGE.to_string()));
        let base = format!(
            "{}/module-builds/?{}",
            self.api,
            params
                .iter()
                .map(|(k, v)| format!("{k}={}", query_escape(v)))
                .collect::<Vec<_>>()
                .join("&")
        );
        let mut out: Vec<MbsBuild> = Vec::new();
        let mut page: u64 = 1;
        loop {
            let url = format!("{base}&page={page}");
            let text = self.get(&url)?;
            let answer: Page = serde_json::from_str(&text).map_err(|e| MbsError::Response {
                url: url.clone(),
                message: e.to_string(),
            })?;
            debug!(items = answer.items.len(), page, "MBS answered");
            let lowest = answer.items.iter().map(|b| b.version).min();
            out.extend(answer.items);
            let highest = out.iter().map(|b| b.version).max();
            // with a stream named, the pages are one stream newest first:
            // once a page reaches below the highest version, no later page
            // holds it
            let done_with_stream = parts == 2 && lowest < highest;
            if page >= answer.meta.pages || done_with_stream {
                break;
            }
            page += 1;
        }
        Ok(out)
    }
}

impl MbsClient {
    /// The build `nsvc` whatever its state, as Pungi's `MBSWrapper` finds a
    /// scratch module build (they stay `done`, never `ready`).
    pub fn build_by_nsvc(&self, nsvc: &str) -> Result<MbsBuild, MbsError> {
        let url = format!(
            "{}/module-builds/?nsvc={}&verbose=True",
            self.api,
            query_escape(nsvc)
        );
        let text = self.get(&url)?;
        let page: Page = serde_json::from_str(&text).map_err(|e| MbsError::Response {
            url: url.clone(),
            message: e.to_string(),
        })?;
        page.items
            .into_iter()
            .find(|b| b.nsvc() == nsvc)
            .ok_or_else(|| MbsError::NotFound {
                nsvc: nsvc.to_owned(),
            })
    }

    /// `GET /final-modulemd/<id>`: arch → the build's final modulemd for
    /// that arch (with its artifacts), as MBS makes it from Koji.
    pub fn final_modulemd(
        &self,
        id: i64,
    ) -> Result<std::collections::BTreeMap<String, String>, MbsError> {
        let url = format!("{}/final-modulemd/{id}", self.api);
        let text = self.get(&url)?;
        serde_json::from_str(&text).map_err(|e| MbsError::Response {
            url,
            message: e.to_string(),
        })
    }
}

/// The builds a lookup takes from MBS's answer: every context of the
/// highest version of each stream unless the spec gives a version.
pub fn newest(builds: Vec<MbsBuild>, spec_parts: usize) -> Vec<MbsBuild> {
    if spec_parts >= 3 {
        return builds;
    }
    let mut out = builds;
    super::keep_newest(&mut out, spec_parts, |b| (b.stream.as_str(), b.version));
    out.sort_by_key(MbsBuild::nsvc);
    out.dedup_by(|a, b| a.nsvc() == b.nsvc());
    out
}

/// A package source whose module lookups go through MBS.
pub struct MbsSource {
    pub mbs: MbsClient,
    pub inner: Arc<dyn PackageSource + Send>,
}

impl MbsSource {
    /// How messages name the inner source.
    fn inner_name(&self) -> &'static str {
        match self.inner.location() {
            Some((_, "<koji topdir>")) => "Koji",
            _ => "the local store",
        }
    }
}

impl PackageSource for MbsSource {
    fn for_compose(&self) -> Box<dyn PackageSource + Send> {
        Box::new(MbsSource {
            mbs: self.mbs.clone(),
            inner: Arc::from(self.inner.for_compose()),
        })
    }

    fn location(&self) -> Option<(std::path::PathBuf, &'static str)> {
        self.inner.location()
    }

    fn current_event(&self) -> Result<i64, SourceError> {
        self.inner.current_event()
    }

    fn check_event(&self, event: i64) -> Result<(), SourceError> {
        self.inner.check_event(event)
    }

    fn tag_rpms(
        &self,
        tag: &str,
        event: i64,
        inherit: bool,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        self.inner.tag_rpms(tag, event, inherit, sigkeys)
    }

    fn tag_options(&self) -> String {
        self.inner.tag_options()
    }

    fn tag_changed_since(&self, tag: &str, event: i64, inherit: bool) -> Result<bool, SourceError> {
        self.inner.tag_changed_since(tag, event, inherit)
    }

    fn expected_sha256(&self, rpms: &[&SourceRpm]) -> Result<Vec<Option<String>>, SourceError> {
        self.inner.expected_sha256(rpms)
    }

    fn build_rpms(
        &self,
        nvr: &str,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        self.inner.build_rpms(nvr, sigkeys)
    }

    fn module_rpms(
        &self,
        module: &ModuleStream,
        sigkeys: &[Option<String>],
    ) -> Result<Vec<SourceRpm>, SourceError> {
        self.inner.module_rpms(module, sigkeys)
    }

    fn tag_modules(&self, tag: &str, event: i64) -> Result<Vec<ModuleStream>, SourceError> {
        self.inner.tag_modules(tag, event)
    }

    /// A scratch module build as Pungi takes it (its
    /// `_add_scratch_modules_to_variant`): the build from MBS, its final
    /// modulemd of each compose arch (artifacts merged), its RPMs from its
    /// `koji_tag`.
    fn scratch_module(&self, nsvc: &str, arches: &[String]) -> Result<ModuleStream, SourceError> {
        let build = self.mbs.build_by_nsvc(nsvc)?;
        if !build.scratch {
            return Err(MbsError::NotScratch {
                nsvc: nsvc.to_owned(),
            }
            .into());
        }
        let finals = self.mbs.final_modulemd(build.id)?;
        let mut merged: Option<ModuleStream> = None;
        let mut per_arch = std::collections::BTreeMap::new();
        for arch in arches {
            let Some(text) = finals.get(arch) else {
                continue;
            };
            let stream = crate::modulemd::parse(text)
                .ok()
                .and_then(|i| i.streams.into_iter().next())
                .ok_or_else(|| MbsError::Response {
                    url: format!("final-modulemd/{}", build.id),
                    message: format!("the {arch} modulemd of {nsvc} cannot be read"),
                })?;
            per_arch.insert(arch.clone(), stream.artifacts.clone());
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
        let mut m = merged.ok_or_else(|| MbsError::NoArch {
            nsvc: nsvc.to_owned(),
            arches: arches.join(", "),
            has: finals.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        m.arch = String::new();
        m.arch_artifacts = per_arch;
        // the build's own name for it, with MBS's scratch suffix
        m.context = build.context.clone();
        m.content_tag = build.koji_tag.clone().unwrap_or_default();
        Ok(m)
    }

    /// MBS decides which builds; the inner source gives each one's modulemd
    /// (per-arch artifacts) and content tag. A `-devel` module is looked up
    /// without its suffix and gets it back, with a run-time dependency on
    /// the module it belongs to (odcs-api.md §6).
    fn module_builds(&self, query: &ModuleQuery) -> Result<Vec<ModuleStream>, SourceError> {
        let mut parts: Vec<&str> = query.spec.split(':').collect();
        let devel = parts[0].strip_suffix("-devel");
        if let Some(name) = devel {
            parts[0] = name;
        }
        let lookup = ModuleQuery {
            spec: parts.join(":"),
            ..query.clone()
        };
        let found = newest(self.mbs.module_builds(&lookup)?, parts.len());
        if found.is_empty() {
            return Err(MbsError::NotFound {
                nsvc: query.spec.clone(),
            }
            .into());
        }
        let mut out = Vec::with_capacity(found.len());
        for b in found {
            let name = match devel {
                Some(_) => format!("{}-devel", b.name),
                None => b.name.clone(),
            };
            let nsvc = format!("{name}:{}:{}:{}", b.stream, b.version, b.context);
            let exact = ModuleQuery::new(nsvc.clone(), query.event);
            let mut streams = match self.inner.module_builds(&exact) {
                Ok(s) => s,
                Err(SourceError::UnknownModule { .. }) => {
                    return Err(MbsError::NotInSource {
                        nsvc,
                        state: b.state_name.clone().unwrap_or_else(|| b.state.to_string()),
                        source_name: self.inner_name().to_owned(),
                    }
                    .into());
                }
                Err(e) => return Err(e),
            };
            for s in &mut streams {
                if s.content_tag.is_empty()
                    && let Some(t) = &b.koji_tag
                {
                    s.content_tag = t.clone();
                }
                s.base_module = b
                    .base_module_buildrequires
                    .first()
                    .and_then(|br| Some((br.name.clone(), br.stream_version? as i64)));
                if devel.is_some() {
                    s.requires.insert(b.name.clone(), vec![b.stream.clone()]);
                }
            }
            out.extend(streams);
        }
        Ok(out)
    }
}

/// How long an MBS request may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    fn build(stream: &str, version: u64, context: &str) -> MbsBuild {
        MbsBuild {
            id: 1,
            name: "m".into(),
            stream: stream.into(),
            version,
            context: context.into(),
            state: 5,
            state_name: None,
            koji_tag: None,
            modulemd: None,
            base_module_buildrequires: vec![],
            scratch: false,
        }
    }

    #[test]
    fn every_context_of_the_highest_version_of_each_stream() {
        let got = newest(
            vec![
                build("1", 2, "b"),
                build("1", 3, "b"),
                build("1", 3, "a"),
                build("2", 1, "a"),
            ],
            2,
        );
        let nsvcs: Vec<String> = got.iter().map(MbsBuild::nsvc).collect();
        assert_eq!(nsvcs, ["m:1:3:a", "m:1:3:b", "m:2:1:a"]);
        // a version given: every build MBS named
        assert_eq!(
            newest(vec![build("1", 2, "b"), build("1", 3, "b")], 3).len(),
            2
        );
    }

    #[test]
    fn version_is_read_from_a_string_as_mbs_sends_it() {
        let b: MbsBuild = serde_json::from_str(
            r#"{"id": 3, "name": "m", "stream": "s", "version": "20240101000000",
                "context": "c", "state": 5, "koji_tag": "module-x",
                "base_module_buildrequires": [{"name": "platform", "stream": "f40",
                  "version": "1", "context": "00000000", "stream_version": 400000.0}]}"#,
        )
        .unwrap();
        assert_eq!(b.version, 20240101000000);
        assert_eq!(
            b.base_module_buildrequires[0].stream_version,
            Some(400000.0)
        );
        let bad = serde_json::from_str::<MbsBuild>(
            r#"{"id": 3, "name": "m", "stream": "s", "version": "x", "context": "c", "state": 5}"#,
        );
        assert!(bad.unwrap_err().to_string().contains("not a number"));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("a:b c&d"), "a:b%20c%26d");
    }
}
