//! A `pulp` compose (odcs-api.md §6 `pulp`): no package read or copied, a
//! `.repo` file pointing at the Pulp repositories its sources name
//! ([`crate::source::pulp`] finds them), and the compose's `arches` and
//! `sigkeys` taken from them. When nothing is found (only possible with
//! `ignore_absent_pulp_repos`, or an empty source) the compose holds an
//! empty repository per configured arch and the default `.repo` block, as
//! the original's `write_empty_repo` did.
//!
//! The `.repo` file, byte for byte as the original writes it: for each
//! repository sorted by id, `"\n[<id>]\nname=<id>\nbaseurl=<url>\nenabled=1\ngpgcheck=0\n"`,
//! plus `skip_if_unavailable=1\n` and the repository's arch in its URL
//! replaced by `$basearch` with `use_only_compatible_arch`.

use std::path::Path;
use std::time::Instant;

use super::Progress;
use super::engine::in_part_dir;
use super::request::{ComposeError, ComposeRequest, ComposeResult, VARIANT, io_at};
use crate::source::pulp::{PulpClient, PulpError, PulpRepo, resolve};

/// The flags of odcs-api.md §2.1 a `pulp` compose reads.
#[derive(Clone, Copy, Debug, Default)]
pub struct PulpFlags {
    pub include_unpublished: bool,
    pub ignore_absent: bool,
    pub use_only_compatible_arch: bool,
}

/// What a finished `pulp` compose records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulpOutcome {
    /// The sources found, when `ignore_absent_pulp_repos` dropped some (the
    /// compose's `source` is rewritten to them, sorted).
    pub source: Option<String>,
    /// The repositories' arches (the configured ones for an empty compose),
    /// sorted.
    pub arches: Vec<String>,
    /// Their signing keys, sorted.
    pub sigkeys: Vec<String>,
    pub repos: Vec<PulpRepo>,
}

/// Resolve the sources of `req` (its name, URL and source tokens are
/// read) through `client` and write the compose under `target`; `arches`
/// are the configured ones, for an empty compose.
pub fn run_pulp(
    req: &ComposeRequest,
    flags: PulpFlags,
    arches: &[String],
    client: &PulpClient,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let started = Instant::now();
    progress.phase("asking Pulp", None);
    let found = resolve(client, &req.source, flags.include_unpublished).map_err(pulp_error)?;
    let mut source = None;
    if !found.missing.is_empty() {
        if !flags.ignore_absent {
            return Err(pulp_error(PulpError::Missing {
                wanted: req.source.clone(),
                found: found.found,
            }));
        }
        progress.note(&format!(
            "not in Pulp, left out (ignore_absent_pulp_repos): {}",
            found.missing.join(" ")
        ));
        source = Some(found.found.join(" "));
    }
    progress.note(&format!(
        "{} Pulp repositories: {}",
        found.repos.len(),
        found
            .repos
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let empty = found.repos.is_empty();
    let mut arches: Vec<String> = if empty {
        arches.to_vec()
    } else {
        found.repos.iter().map(|r| r.arch.clone()).collect()
    };
    arches.sort();
    arches.dedup();
    let mut sigkeys: Vec<String> = found.repos.iter().flat_map(|r| r.sigkeys.clone()).collect();
    sigkeys.sort();
    sigkeys.dedup();
    let repo_file = if empty {
        default_block(&req.name, &req.url)
    } else {
        repo_blocks(&found.repos, flags.use_only_compatible_arch)
    };
    in_part_dir(req, target, |part| {
        let variant = part.join("compose").join(VARIANT);
        for arch in arches.iter().filter(|_| empty) {
            let os = variant.join(arch).join("os");
            std::fs::create_dir_all(&os).map_err(io_at(&os))?;
            crate::repodata::write_repodata(
                &os,
                Vec::new(),
                &crate::repodata::RepodataOptions::default(),
                None,
                &|_| {},
            )
            .map_err(|e| ComposeError::Repodata(e.into()))?;
        }
        std::fs::create_dir_all(&variant).map_err(io_at(&variant))?;
        let file = variant.join(format!("{}.repo", req.name));
        std::fs::write(&file, &repo_file).map_err(io_at(&file))?;
        Ok(ComposeResult {
            dir: part.to_owned(),
            event: 0,
            rpms: Vec::new(),
            modules: Vec::new(),
            timings: vec![("pulp", started.elapsed())],
            pungi: None,
            pulp: Some(PulpOutcome {
                source,
                arches: arches.clone(),
                sigkeys,
                repos: found.repos,
            }),
        })
    })
}

fn pulp_error(e: PulpError) -> ComposeError {
    ComposeError::Pulp(e.to_string())
}

/// The `.repo` blocks of `repos` (sorted by id by the resolution).
pub fn repo_blocks(repos: &[PulpRepo], use_only_compatible_arch: bool) -> String {
    let mut out = String::new();
    for r in repos {
        let url = if use_only_compatible_arch {
            r.url.replace(&r.arch, "$basearch")
        } else {
            r.url.clone()
        };
        out.push_str(&format!(
            "\n[{id}]\nname={id}\nbaseurl={url}\nenabled=1\ngpgcheck=0\n",
            id = r.id
        ));
        if use_only_compatible_arch {
            out.push_str("skip_if_unavailable=1\n");
        }
    }
    out
}

/// The first block of odcs-api.md §7.4 (what the original writes for a
/// `pulp` compose that found nothing).
fn default_block(name: &str, url: &str) -> String {
    let full = super::metadata::repo_file(name, url);
    match full.split_once("\n\n") {
        Some((first, _)) => format!("{first}\n"),
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(id: &str, url: &str, arch: &str) -> PulpRepo {
        PulpRepo {
            id: id.into(),
            url: url.into(),
            arch: arch.into(),
            sigkeys: vec![],
            published: true,
        }
    }

    /// The original's blocks (odcs-api.md §6), written out by hand.
    #[test]
    fn repo_blocks_are_the_originals_bytes() {
        let repos = [
            repo("a-x86_64", "http://pulp/content/x86_64/a/os", "x86_64"),
            repo("b-ppc64le", "http://pulp/content/ppc64le/b/os", "ppc64le"),
        ];
        assert_eq!(
            repo_blocks(&repos, false),
            "\n[a-x86_64]\nname=a-x86_64\nbaseurl=http://pulp/content/x86_64/a/os\nenabled=1\ngpgcheck=0\n\
             \n[b-ppc64le]\nname=b-ppc64le\nbaseurl=http://pulp/content/ppc64le/b/os\nenabled=1\ngpgcheck=0\n"
        );
        assert_eq!(
            repo_blocks(&repos[..1], true),
            "\n[a-x86_64]\nname=a-x86_64\nbaseurl=http://pulp/content/$basearch/a/os\nenabled=1\ngpgcheck=0\nskip_if_unavailable=1\n"
        );
    }

    #[test]
    fn an_empty_compose_gets_the_first_default_block_only() {
        let block = default_block("odcs-5", "http://localhost/odcs/odcs-5");
        assert_eq!(
            block,
            "[odcs-5]\nname=ODCS repository for compose odcs-5\nbaseurl=http://localhost/odcs/odcs-5/compose/Temporary/$basearch/os\ntype=rpm-md\nskip_if_unavailable=False\ngpgcheck=0\nrepo_gpgcheck=0\nenabled=1\nenabled_metadata=1\n"
        );
    }
}
