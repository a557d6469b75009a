//! Recreating a compose from its stored package set (a renewal of a removed
//! compose): the same files at the same places, each checked against its
//! recorded sha256 and its own digests; nothing resolved or gathered again.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use super::Progress;
use super::createrepo::Caches;
use super::engine::{Content, finish, in_part_dir, keep_records, read_headers};
use super::request::{ComposeError, ComposeRequest, ComposeResult, ComposedRpm, go_on, io_at};
use crate::rpm::{self, PackageMeta};
use crate::source::local::link_or_copy;

/// The module builds of a module compose and their defaults.
pub type ModulesOf<'a> = (
    &'a [crate::modulemd::ModuleStream],
    &'a [crate::modulemd::ModuleDefaults],
);

/// Recreate a compose into `target/<name>` from a stored package set: the
/// same files (each checked against its recorded sha256) at the same places,
/// then repodata and metadata; nothing is resolved or gathered again. A file
/// that is gone or differs fails it, naming every such file.
pub fn replay_compose(
    req: &ComposeRequest,
    stored: &[ComposedRpm],
    modules: ModulesOf<'_>,
    event: i64,
    caches: Caches<'_>,
    target: &Path,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    in_part_dir(req, target, |part| {
        rebuild(stored, modules, event, caches, part, req, progress)
    })
}

fn rebuild(
    stored: &[ComposedRpm],
    (modules, defaults): ModulesOf<'_>,
    event: i64,
    caches: Caches<'_>,
    top: &Path,
    req: &ComposeRequest,
    progress: &dyn Progress,
) -> Result<ComposeResult, ComposeError> {
    let mut timings = Vec::new();
    let t = Instant::now();
    let paths: Vec<&Path> = stored.iter().map(|r| r.source_path.as_path()).collect();
    let mut lines = Vec::new();
    let present: Vec<&Path> = paths.iter().copied().filter(|p| p.is_file()).collect();
    for p in paths.iter().filter(|p| !p.is_file()) {
        lines.push(format!("{}: gone", p.display()));
    }
    // a file that no longer reads (its digests fail) is not the one recorded
    let metas = read_headers(&present, caches, progress).map_err(|e| match e {
        ComposeError::Read(e) => ComposeError::NotReproducible {
            lines: vec![e.to_string()],
        },
        e => e,
    })?;
    let by_path: HashMap<&Path, &PackageMeta> = present.iter().copied().zip(&metas).collect();
    for r in stored {
        if let Some(meta) = by_path.get(r.source_path.as_path())
            && !meta.checksum.eq_ignore_ascii_case(&r.checksum)
        {
            lines.push(format!(
                "{}: sha256 {} on disk, {} recorded",
                r.source_path.display(),
                meta.checksum,
                r.checksum
            ));
        }
    }
    if !lines.is_empty() {
        return Err(ComposeError::NotReproducible { lines });
    }
    timings.push(("headers", t.elapsed()));
    go_on(progress)?;

    let t = Instant::now();
    progress.phase("linking", Some(stored.len() as u64));
    let compose_dir = top.join("compose");
    let mut moved = Vec::new();
    for r in stored {
        go_on(progress)?;
        let dest = compose_dir.join(&r.path);
        // the tree is what holds Packages/
        r.path
            .split_once("/Packages/")
            .ok_or_else(|| ComposeError::NotReproducible {
                lines: vec![format!("{}: not under a Packages/ directory", r.path)],
            })?;
        if !dest.exists() {
            moved.extend(
                rpm::link_tracked(&r.source_path, &dest, link_or_copy).map_err(io_at(&dest))?,
            );
        }
        progress.advance(1);
    }
    keep_records(caches, &moved);
    timings.push(("link", t.elapsed()));

    let content = Content {
        rpms: stored.to_vec(),
        modules: modules.to_vec(),
        defaults: defaults.to_vec(),
        event,
    };
    finish(top, req, content, caches, progress, timings)
}
