//! The per-arch gather plan: for each tree arch, the libsolv pool of the
//! candidates (kept across composes of the same package set), the requested
//! packages and their closure (or every package), multilib additions, source
//! and debug packages, and where each chosen RPM goes in the tree.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Progress;
use super::createrepo::Caches;
use super::request::{ComposeError, ComposeRequest, SourceType, VARIANT};
use crate::gather::{self, ArchSet, GatherOptions, Pool};
use crate::rpm::PackageMeta;

/// A chosen RPM and where it goes.
pub(super) struct Placement {
    /// Its index among the candidates (and their records).
    pub index: usize,
    /// The tree it is linked into.
    pub dir: PathBuf,
    /// `binary`, `debug` or `source` (the manifest's categories).
    pub category: &'static str,
    /// The tree arch it was chosen for, for the manifest.
    pub arch: String,
}

/// Where each chosen RPM of `metas` goes, per tree arch of `req`, with
/// `lookaside` packages satisfying dependencies without being chosen and
/// the binary packages `modular` lists for an arch (indexes into `metas`:
/// what its modules hold there, multilib packages included) chosen for it
/// whatever `packages` asks; a module compose with such lists holds exactly
/// them.
pub(super) fn plan(
    req: &ComposeRequest,
    metas: &[std::sync::Arc<PackageMeta>],
    lookaside: &[PackageMeta],
    modular: &std::collections::HashMap<String, HashSet<usize>>,
    caches: Caches<'_>,
    top: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Placement>, ComposeError> {
    progress.phase("gathering", Some(req.arches.len() as u64));
    let variant_dir = top.join("compose").join(VARIANT);
    let source_label = match req.source_type {
        SourceType::Tag => format!("tag {}", req.source.join(" ")),
        SourceType::Module => format!("modules {}", req.source.join(" ")),
        _ => format!("builds {}", req.source.join(" ")),
    };
    let mut placements: Vec<Placement> = Vec::new();
    let lookaside_refs: Vec<&PackageMeta> = lookaside.iter().collect();
    let mut missing_all: Vec<String> = Vec::new();
    for arch in &req.arches {
        let listed = modular.get(arch);
        // a module's per-arch artifacts may hold packages of the arch's
        // multilib arches: the pool then has them
        let probe = ArchSet::new(arch, true, true);
        let module_multilib =
            listed.is_some_and(|l| l.iter().any(|&i| probe.is_multilib(&metas[i].arch)));
        let multilib = (req.multilib_arches.contains(arch) && !req.multilib_methods.is_empty())
            || module_multilib;
        let arches = ArchSet::new(arch, multilib, true);
        let refs: Vec<&PackageMeta> = metas.iter().map(|m| &**m).collect();
        let pool = Pool::new(&refs, &lookaside_refs, &arches, caches.pools)?;
        progress.note(&if pool.stats().reused {
            format!("{arch}: libsolv pool of {} packages reused", pool.len())
        } else {
            format!(
                "{arch}: libsolv pool of {} packages built in {} ms",
                pool.len(),
                pool.stats().build.as_millis()
            )
        });
        let mut roots = Vec::new();
        if req.packages.is_empty() {
            roots.extend((0..pool.len()).filter(|&i| {
                let p = pool.package(i);
                !pool.is_lookaside(i)
                    && !p.is_source
                    && !gather::is_debug(&p.name)
                    && !arches.is_multilib(&p.arch)
            }));
        } else {
            for name in &req.packages {
                let named: Vec<usize> = pool
                    .named(name)
                    .into_iter()
                    .filter(|&i| !arches.is_multilib(&pool.package(i).arch))
                    .collect();
                match named
                    .iter()
                    .max_by(|&&a, &&b| pool.package(a).evr().cmp_package(&pool.package(b).evr()))
                {
                    Some(&best) => roots.push(best),
                    None => {
                        if !missing_all.contains(name) {
                            missing_all.push(name.clone());
                        }
                    }
                }
            }
        }
        if let Some(listed) = listed {
            let of_modules = (0..pool.len()).filter(|&i| {
                let p = pool.package(i);
                listed.contains(&pool.input_index(i)) && !p.is_source && !gather::is_debug(&p.name)
            });
            if req.source_type == SourceType::Module {
                roots = of_modules.collect();
            } else {
                roots.extend(of_modules);
                roots.sort_unstable();
                roots.dedup();
            }
        }
        let opts = GatherOptions {
            // a module is exactly its artifacts (Pungi's `nodeps` for modules)
            deps: !req.flags.no_deps && req.source_type != SourceType::Module,
            whole_set: req.packages.is_empty(),
            source: true,
            debuginfo: true,
        };
        let mut g = gather::gather(&pool, &roots, &opts);
        if multilib {
            // same-N-V-R packages of the multilib arches, when a method wants them
            let chosen: HashSet<(String, String, String)> = g
                .chosen
                .iter()
                .map(|&i| pool.package(i))
                .filter(|p| !p.is_source)
                .map(|p| (p.name.clone(), p.version.clone(), p.release.clone()))
                .collect();
            let extra: Vec<usize> = (0..pool.len())
                .filter(|&i| {
                    let p = pool.package(i);
                    !pool.is_lookaside(i)
                        && arches.is_multilib(&p.arch)
                        && chosen.contains(&(p.name.clone(), p.version.clone(), p.release.clone()))
                        && crate::gather::multilib::wanted(p, &req.multilib_methods)
                })
                .collect();
            if !extra.is_empty() {
                // solved as a set of their own: the closure of the requested
                // packages stays libsolv's answer for them
                let extra_opts = GatherOptions {
                    whole_set: false,
                    ..opts.clone()
                };
                g.merge(gather::gather(&pool, &extra, &extra_opts));
            }
        }
        let lines = g.problem_lines();
        if req.flags.check_deps && !lines.is_empty() {
            return Err(ComposeError::Unresolved {
                arch: arch.clone(),
                lines,
            });
        }
        for n in g.notes() {
            tracing::warn!("{arch}: {n}");
            progress.note(&format!("{arch}: {n}"));
        }
        if g.chosen.iter().all(|&i| pool.package(i).is_source) && !req.packages.is_empty() {
            continue;
        }
        for &i in &g.chosen {
            let p = pool.package(i);
            let idx = pool.input_index(i);
            let (dir, category) = if p.is_source {
                (variant_dir.join("source/tree"), "source")
            } else if gather::is_debug(&p.name) {
                (variant_dir.join(arch).join("debug/tree"), "debug")
            } else {
                (variant_dir.join(arch).join("os"), "binary")
            };
            placements.push(Placement {
                index: idx,
                dir,
                category,
                arch: arch.clone(),
            });
        }
        progress.advance(1);
    }
    if !missing_all.is_empty() {
        return Err(ComposeError::MissingPackages {
            origin: source_label,
            names: missing_all,
        });
    }
    Ok(placements)
}
