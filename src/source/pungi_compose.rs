//! `pungi_compose` sources (odcs-api.md §6): the variant URL of an existing
//! Pungi compose (`.../compose/Server/`, or one of this service's
//! `.../odcs-5/compose/Temporary/`). Its `metadata/rpms.json` (productmd)
//! is read, and the new compose holds exactly the RPMs it lists for that
//! variant: the same N-E-V-R.A with the same signing keys, taken from the
//! package source (Koji or the local store) by build. The original rewrote
//! the request into a build compose (`builds` = the SRPMs, `packages` =
//! every name, `sigkeys` = the keys used), which gives the same set only
//! when one key preference picks every copy; here each RPM is taken with its
//! own key, and a listed RPM the source does not have fails the compose
//! naming it.
//!
//! Several variant URLs (composes made of composes, #20 item 4) are merged
//! by [`merge`]: per package name and arch the highest E:V-R wins, the
//! first URL at a tie, and each RPM that lost is named in the compose's log.
//! With the `first_source_wins` flag ([`MergeRule::FirstListed`]) the
//! request says otherwise: the first URL that holds a build of a source
//! package name gives every RPM of that name, as the first of several tags
//! does, and the builds of that name in later URLs are dropped whole (so a
//! lower version listed first is kept, and its subpackages are never mixed
//! with another build's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::repo::RepoLimits;
use super::{PackageSource, SourceError, SourceRpm};

/// What a variant of a compose holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// The arches it has trees for (not `src`).
    pub arches: Vec<String>,
    /// Build N-V-R → the RPMs listed of it: (N-E-V-R.A, sigkey).
    pub builds: BTreeMap<String, BTreeSet<(String, Option<String>)>>,
}

/// `<compose>/metadata/rpms.json` and the variant name of a variant URL.
pub fn metadata_url(variant_url: &str) -> Result<(String, String), String> {
    let trimmed = variant_url.trim_end_matches('/');
    let (compose, variant) = trimmed
        .rsplit_once('/')
        .filter(|(c, v)| !c.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("{variant_url:?} is not the URL of a compose's variant"))?;
    Ok((format!("{compose}/metadata/rpms.json"), variant.to_owned()))
}

/// A file:// URL or absolute path read from disk, http(s) downloaded,
/// within `limits`.
fn read(location: &str, limits: RepoLimits) -> Result<Vec<u8>, String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return super::repo::fetch(location, limits).map_err(|e| e.to_string());
    }
    let path = Path::new(location.strip_prefix("file://").unwrap_or(location));
    let len = std::fs::metadata(path)
        .map_err(|e| format!("{location}: {e}"))?
        .len();
    if len > limits.max_bytes {
        return Err(format!(
            "{location}: larger than the {} bytes allowed",
            limits.max_bytes
        ));
    }
    std::fs::read(path).map_err(|e| format!("{location}: {e}"))
}

/// `name-epoch:version-release.arch` → (`name-version-release`).
fn nvr_of_nevra(nevra: &str) -> Option<String> {
    let (nevr, _arch) = nevra.rsplit_once('.')?;
    let (n, evr) = nevr.rsplit_once('-').and_then(|(ne_v, r)| {
        let (n_e, v) = ne_v.rsplit_once('-')?;
        Some((n_e, format!("{v}-{r}")))
    })?;
    let (name, version) = match evr.split_once(':') {
        Some((_, v)) => (n, v.to_owned()),
        None => (n, evr),
    };
    Some(format!("{name}-{version}"))
}

/// The variant `name` of a productmd `rpms.json` document.
pub fn parse_rpms_json(text: &[u8], variant: &str) -> Result<Variant, String> {
    let doc: Value = serde_json::from_slice(text).map_err(|e| format!("rpms.json: {e}"))?;
    if doc["header"]["type"] != "productmd.rpms" {
        return Err("rpms.json: not a productmd rpms document (header.type)".into());
    }
    let arches = doc["payload"]["rpms"][variant]
        .as_object()
        .ok_or_else(|| format!("rpms.json: the compose has no variant {variant:?}"))?;
    let mut out = Variant::default();
    for (arch, srpms) in arches {
        if arch != "src" {
            out.arches.push(arch.clone());
        }
        for (srpm, rpms) in srpms.as_object().into_iter().flatten() {
            let build = nvr_of_nevra(srpm)
                .ok_or_else(|| format!("rpms.json: {srpm:?} is not an N-E-V-R.A"))?;
            for (nevra, info) in rpms.as_object().into_iter().flatten() {
                let sigkey = info["sigkey"]
                    .as_str()
                    .filter(|k| !k.is_empty())
                    .map(str::to_lowercase);
                out.builds
                    .entry(build.clone())
                    .or_default()
                    .insert((nevra.clone(), sigkey));
            }
        }
    }
    out.arches.sort();
    out.arches.dedup();
    Ok(out)
}

/// The variant of the compose at `variant_url`, read within `limits`.
pub fn load(variant_url: &str, limits: RepoLimits) -> Result<Variant, String> {
    let (url, variant) = metadata_url(variant_url)?;
    parse_rpms_json(&read(&url, limits)?, &variant).map_err(|e| format!("{url}: {e}"))
}

/// `name-epoch:version-release.arch` → (name, arch, E:V-R).
fn split_nevra(nevra: &str) -> Option<(&str, &str, crate::rpm::Evr)> {
    let (nevr, arch) = nevra.rsplit_once('.')?;
    let (ne_v, release) = nevr.rsplit_once('-')?;
    let (name_epoch, version) = ne_v.rsplit_once('-')?;
    let (name, epoch) = match version.split_once(':') {
        // productmd's form: the epoch is on the version (`bash-0:5.2-1.x86_64`)
        Some((e, v)) => (name_epoch, Some((e, v))),
        None => (name_epoch, None),
    };
    let evr = match epoch {
        Some((e, v)) => crate::rpm::Evr::new(e.parse().ok(), v, Some(release.to_owned())),
        None => crate::rpm::Evr::new(None, version, Some(release.to_owned())),
    };
    Some((name, arch, evr))
}

/// How [`merge`] chooses between inputs holding the same package.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeRule {
    /// For each package name and arch, the highest E:V-R (the default).
    #[default]
    HighestEvr,
    /// For each source package name, the first input holding a build of it
    /// (the `first_source_wins` flag).
    FirstListed,
}

/// Several variants merged into one (composes made of composes), by `rule`.
/// Every time an input's RPM loses to another input's of a different E:V-R
/// or key, a line says so. `inputs` are (label, variant).
pub fn merge(
    inputs: &[(String, Variant)],
    rule: MergeRule,
) -> Result<(Variant, Vec<String>), String> {
    match rule {
        MergeRule::HighestEvr => merge_highest(inputs),
        MergeRule::FirstListed => merge_first(inputs),
    }
}

/// The first input holding a build of a source package name gives all of
/// that name's RPMs; a later input's builds of the name are dropped, each
/// RPM named with the build that kept it (unless it is the same RPM).
fn merge_first(inputs: &[(String, Variant)]) -> Result<(Variant, Vec<String>), String> {
    let mut out = Variant::default();
    let mut arches = BTreeSet::new();
    // source package name → (input, its builds of that name)
    let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
    let mut notes = Vec::new();
    for (i, (label, v)) in inputs.iter().enumerate() {
        arches.extend(v.arches.iter().cloned());
        for (build, listed) in &v.builds {
            let name = build
                .rsplitn(3, '-')
                .nth(2)
                .ok_or_else(|| format!("{label}: {build:?} is not an N-V-R"))?;
            let first = *owner.entry(name).or_insert(i);
            // the build that owns the name, or the same build again from
            // another input (more arches of it): its RPMs are taken, the
            // first copy of an N-E-V-R.A winning
            if first == i || out.builds.contains_key(build) {
                let set = out.builds.entry(build.clone()).or_default();
                for (nevra, key) in listed {
                    match set.iter().find(|(n, _)| n == nevra) {
                        None => {
                            set.insert((nevra.clone(), key.clone()));
                        }
                        Some((_, k)) if k != key => notes.push(format!(
                            "{nevra} ({}, {label}) dropped: the same RPM listed first ({})",
                            signer(key),
                            signer(k)
                        )),
                        Some(_) => {}
                    }
                }
                continue;
            }
            let kept: Vec<&str> = out
                .builds
                .keys()
                .filter(|b| b.rsplitn(3, '-').nth(2) == Some(name))
                .map(String::as_str)
                .collect();
            for (nevra, key) in listed {
                notes.push(format!(
                    "{nevra} ({}, {label}) dropped: {name} is {} from {}, listed first",
                    signer(key),
                    kept.join(" "),
                    inputs[first].0
                ));
            }
        }
    }
    out.arches = arches.into_iter().collect();
    Ok((out, notes))
}

fn signer(key: &Option<String>) -> &str {
    key.as_deref().unwrap_or("unsigned")
}

/// For each package name and arch (`src` included) the RPM with the highest
/// epoch:version-release among the inputs; at an equal E:V-R the input
/// listed first.
fn merge_highest(inputs: &[(String, Variant)]) -> Result<(Variant, Vec<String>), String> {
    use std::cmp::Ordering;
    // (name, arch) → (E:V-R, nevra, key, build, input)
    type Best<'a> = (crate::rpm::Evr, &'a str, &'a Option<String>, &'a str, usize);
    let mut best: BTreeMap<(&str, &str), Best<'_>> = BTreeMap::new();
    let mut notes = Vec::new();
    let mut arches = BTreeSet::new();
    for (i, (label, v)) in inputs.iter().enumerate() {
        arches.extend(v.arches.iter().cloned());
        for (build, listed) in &v.builds {
            for (nevra, key) in listed {
                let (name, arch, evr) = split_nevra(nevra)
                    .ok_or_else(|| format!("{label}: {nevra:?} is not an N-E-V-R.A"))?;
                let here: Best<'_> = (evr, nevra.as_str(), key, build.as_str(), i);
                match best.get(&(name, arch)) {
                    None => {
                        best.insert((name, arch), here);
                    }
                    Some(there) => {
                        let order = here.0.cmp_package(&there.0);
                        let (win, lose) = match order {
                            Ordering::Greater => (&here, there),
                            _ => (there, &here),
                        };
                        if win.1 != lose.1 || win.2 != lose.2 {
                            notes.push(format!(
                                "{name}.{arch}: {} ({}, {}) over {} ({}, {})",
                                win.1,
                                signer(win.2),
                                inputs[win.4].0,
                                lose.1,
                                signer(lose.2),
                                inputs[lose.4].0
                            ));
                        }
                        if order == Ordering::Greater {
                            best.insert((name, arch), here);
                        }
                    }
                }
            }
        }
    }
    let mut out = Variant {
        arches: arches.into_iter().collect(),
        ..Default::default()
    };
    for (_, nevra, key, build, _) in best.into_values() {
        out.builds
            .entry(build.to_owned())
            .or_default()
            .insert((nevra.to_owned(), key.clone()));
    }
    Ok((out, notes))
}

/// `N-E-V-R.A` of an RPM from the source (epoch 0 when it has none).
pub fn nevra(r: &SourceRpm) -> String {
    format!(
        "{}-{}:{}-{}.{}",
        r.name,
        r.epoch.unwrap_or(0),
        r.version,
        r.release,
        r.arch
    )
}

/// Exactly the listed RPMs, each the copy of its listed key, from `source`.
pub fn rpms(source: &dyn PackageSource, v: &Variant) -> Result<Vec<SourceRpm>, SourceError> {
    let mut out = Vec::new();
    for (build, wanted) in &v.builds {
        let keys: BTreeSet<&Option<String>> = wanted.iter().map(|(_, k)| k).collect();
        let mut found = BTreeSet::new();
        for key in keys {
            for r in source.build_rpms(build, std::slice::from_ref(key))? {
                let id = (nevra(&r), r.sigkey.as_ref().map(|k| k.to_lowercase()));
                if wanted.contains(&id) && found.insert(id) {
                    out.push(r);
                }
            }
        }
        if let Some((missing, key)) = wanted.iter().find(|w| !found.contains(*w)) {
            return Err(SourceError::Unsupported(format!(
                "the package source has no {missing} {} (build {build})",
                match key {
                    Some(k) => format!("signed with {k}"),
                    None => "unsigned copy".to_owned(),
                }
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(arches: &[&str], rpms: &[(&str, &str, Option<&str>)]) -> Variant {
        let mut v = Variant {
            arches: arches.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        for (build, nevra, key) in rpms {
            v.builds
                .entry(build.to_string())
                .or_default()
                .insert((nevra.to_string(), key.map(str::to_owned)));
        }
        v
    }

    #[test]
    fn a_merge_keeps_the_highest_evr_of_each_name_and_arch() {
        let a = variant(
            &["x86_64"],
            &[
                ("bash-5.1-1", "bash-0:5.1-1.x86_64", Some("k1")),
                ("bash-5.1-1", "bash-0:5.1-1.src", Some("k1")),
                ("bash-5.1-1", "bash-doc-0:5.1-1.noarch", Some("k1")),
                ("zsh-5.9-1", "zsh-0:5.9-1.x86_64", None),
                ("tz-2024a-1", "tz-1:2024a-1.noarch", None),
            ],
        );
        let b = variant(
            &["aarch64", "x86_64"],
            &[
                ("bash-5.2-1", "bash-0:5.2-1.x86_64", Some("k2")),
                ("bash-5.2-1", "bash-0:5.2-1.src", Some("k2")),
                // same N-E-V-R.A, another key: the first input's stays
                ("zsh-5.9-1", "zsh-0:5.9-1.x86_64", Some("k2")),
                // a higher version but a lower epoch loses
                ("tz-2025a-1", "tz-0:2025a-1.noarch", None),
                ("bash-5.2-1", "bash-0:5.2-1.aarch64", Some("k2")),
            ],
        );
        let (m, lost) = merge(
            &[("a".into(), a.clone()), ("b".into(), b.clone())],
            MergeRule::HighestEvr,
        )
        .unwrap();
        assert_eq!(m.arches, ["aarch64", "x86_64"]);
        let all: BTreeSet<(String, Option<String>)> =
            m.builds.values().flatten().cloned().collect();
        let want: BTreeSet<(String, Option<String>)> = [
            ("bash-0:5.2-1.x86_64", Some("k2")),
            ("bash-0:5.2-1.src", Some("k2")),
            ("bash-0:5.2-1.aarch64", Some("k2")),
            ("bash-doc-0:5.1-1.noarch", Some("k1")),
            ("zsh-0:5.9-1.x86_64", None),
            ("tz-1:2024a-1.noarch", None),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_owned(), k.map(str::to_owned)))
        .collect();
        assert_eq!(all, want);
        assert_eq!(m.builds["bash-5.1-1"].len(), 1, "{m:?}");
        assert_eq!(lost.len(), 4, "{lost:?}");
        assert!(
            lost.contains(
                &"bash.x86_64: bash-0:5.2-1.x86_64 (k2, b) over bash-0:5.1-1.x86_64 (k1, a)"
                    .to_owned()
            ),
            "{lost:?}"
        );
        assert!(
            lost.contains(
                &"zsh.x86_64: zsh-0:5.9-1.x86_64 (unsigned, a) over zsh-0:5.9-1.x86_64 (k2, b)"
                    .to_owned()
            ),
            "{lost:?}"
        );
        // the other order: the same RPMs but for the tie, which the first wins
        let (m2, _) = merge(
            &[("b".into(), b.clone()), ("a".into(), a.clone())],
            MergeRule::HighestEvr,
        )
        .unwrap();
        let all2: BTreeSet<(String, Option<String>)> =
            m2.builds.values().flatten().cloned().collect();
        let mut want2 = want.clone();
        want2.remove(&("zsh-0:5.9-1.x86_64".to_owned(), None));
        want2.insert(("zsh-0:5.9-1.x86_64".to_owned(), Some("k2".to_owned())));
        assert_eq!(all2, want2);
    }

    #[test]
    fn first_source_wins_keeps_whole_builds_of_the_first_input() {
        let a = variant(
            &["x86_64"],
            &[
                ("bash-5.1-1", "bash-0:5.1-1.x86_64", Some("k1")),
                ("bash-5.1-1", "bash-0:5.1-1.src", Some("k1")),
                ("zsh-5.9-1", "zsh-0:5.9-1.x86_64", None),
            ],
        );
        let b = variant(
            &["aarch64", "x86_64"],
            &[
                // a newer bash with a subpackage a's build lacks: all dropped
                ("bash-5.2-1", "bash-0:5.2-1.x86_64", Some("k2")),
                ("bash-5.2-1", "bash-doc-0:5.2-1.noarch", Some("k2")),
                // the same zsh build: its other arch joins, its copy of the
                // x86_64 RPM signed otherwise does not
                ("zsh-5.9-1", "zsh-0:5.9-1.x86_64", Some("k2")),
                ("zsh-5.9-1", "zsh-0:5.9-1.aarch64", Some("k2")),
                ("tz-2025a-1", "tz-0:2025a-1.noarch", None),
            ],
        );
        let inputs = [("a".into(), a.clone()), ("b".into(), b.clone())];
        let (m, notes) = merge(&inputs, MergeRule::FirstListed).unwrap();
        assert_eq!(m.arches, ["aarch64", "x86_64"]);
        let all: BTreeSet<(String, Option<String>)> =
            m.builds.values().flatten().cloned().collect();
        let want: BTreeSet<(String, Option<String>)> = [
            ("bash-0:5.1-1.x86_64", Some("k1")),
            ("bash-0:5.1-1.src", Some("k1")),
            ("zsh-0:5.9-1.x86_64", None),
            ("zsh-0:5.9-1.aarch64", Some("k2")),
            ("tz-0:2025a-1.noarch", None),
        ]
        .into_iter()
        .map(|(n, k)| (n.to_owned(), k.map(str::to_owned)))
        .collect();
        assert_eq!(all, want);
        assert_eq!(
            notes,
            [
                "bash-0:5.2-1.x86_64 (k2, b) dropped: bash is bash-5.1-1 from a, listed first",
                "bash-doc-0:5.2-1.noarch (k2, b) dropped: bash is bash-5.1-1 from a, listed first",
                "zsh-0:5.9-1.x86_64 (k2, b) dropped: the same RPM listed first (unsigned)",
            ]
        );
        // the highest E:V-R rule would have taken b's bash
        let (h, _) = merge(&inputs, MergeRule::HighestEvr).unwrap();
        assert!(h.builds.contains_key("bash-5.2-1"), "{h:?}");
        // the other order: b's bash and its subpackage, a's zsh x86_64 dropped
        let (m2, _) = merge(&[("b".into(), b), ("a".into(), a)], MergeRule::FirstListed).unwrap();
        assert!(m2.builds.contains_key("bash-5.2-1") && !m2.builds.contains_key("bash-5.1-1"));
        assert!(
            m2.builds["zsh-5.9-1"]
                .contains(&("zsh-0:5.9-1.x86_64".to_owned(), Some("k2".to_owned())))
        );
    }

    #[test]
    fn variant_urls_and_nevras_are_read() {
        assert_eq!(
            metadata_url("http://h/composes/odcs-5/compose/Temporary/").unwrap(),
            (
                "http://h/composes/odcs-5/compose/metadata/rpms.json".to_owned(),
                "Temporary".to_owned()
            )
        );
        assert!(metadata_url("Temporary").is_err());
        assert_eq!(
            nvr_of_nevra("bash-0:5.2.15-1.fc40.src").as_deref(),
            Some("bash-5.2.15-1.fc40")
        );
        assert_eq!(
            nvr_of_nevra("perl-Foo-Bar-4:1.0-2.el9.noarch").as_deref(),
            Some("perl-Foo-Bar-1.0-2.el9")
        );
        let doc = br#"{"header": {"type": "productmd.rpms", "version": "1.2"},
          "payload": {"compose": {}, "rpms": {"Server": {
            "x86_64": {"bash-0:5.2-1.src": {
               "bash-0:5.2-1.x86_64": {"path": "p", "sigkey": "A15B79CC", "category": "binary"},
               "bash-0:5.2-1.src": {"path": "s", "sigkey": null, "category": "source"}}},
            "src": {}}}}}"#;
        let v = parse_rpms_json(doc, "Server").unwrap();
        assert_eq!(v.arches, ["x86_64"]);
        assert_eq!(
            v.builds["bash-5.2-1"],
            BTreeSet::from([
                ("bash-0:5.2-1.src".to_owned(), None),
                (
                    "bash-0:5.2-1.x86_64".to_owned(),
                    Some("a15b79cc".to_owned())
                )
            ])
        );
        assert!(
            parse_rpms_json(doc, "Client")
                .unwrap_err()
                .contains("no variant")
        );
    }
}
