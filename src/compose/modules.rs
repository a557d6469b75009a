//! Module composes (formats.md §4): the requested module builds and,
//! unless `no_deps`, the module builds they require at run time, expanded
//! recursively; then the `modules.yaml` of each arch's `os` repository.
//!
//! Stream expansion as MBS defines it for `requires`: `[s]` that stream,
//! `[]` any stream, `[-s]` any stream but s. A module already chosen
//! satisfies a requirement its stream fits; two requirers that need
//! different streams of one module fail the compose, naming both. Base
//! modules (`platform`) are left out: they are the system, not content.

use std::collections::BTreeMap;
use std::path::Path;

use super::request::ComposeError;
use crate::modulemd::{ModuleDefaults, ModuleStream, modules_yaml};
use crate::source::{BaseModuleBr, ModuleQuery, PackageSource, SourceError};

/// Module names that are base modules by default (`base_module_names`).
pub const BASE_MODULES: &[&str] = &["platform", "bootstrap"];

fn fits(streams: &[String], stream: &str) -> bool {
    let positive: Vec<&String> = streams.iter().filter(|s| !s.starts_with('-')).collect();
    let excluded = streams.iter().any(|s| s.strip_prefix('-') == Some(stream));
    !excluded && (positive.is_empty() || positive.iter().any(|s| *s == stream))
}

/// The lookup of a module a build requires: at the same event, and,
/// when MBS says which base module the requirer was built against, among
/// builds made against that base module's version or an older one
/// (odcs-api.md §6: "bounded by the parent's base-module stream version").
fn dependency_query(spec: String, requirer: &ModuleStream, template: &ModuleQuery) -> ModuleQuery {
    let mut q = ModuleQuery {
        spec,
        event: template.event,
        include_done: template.include_done,
        base_module_br: BaseModuleBr::default(),
    };
    if let Some((name, version)) = &requirer.base_module {
        q.base_module_br.name = Some(name.clone());
        q.base_module_br.stream_version_lte = Some(*version);
    }
    q
}

/// The module builds of the compose, requested ones first. `template`
/// gives the event and the filters of the requested modules' lookups (its
/// `spec` is ignored); modules named in `base` are left out.
pub fn resolve_modules(
    specs: &[String],
    base: &[String],
    template: &ModuleQuery,
    lookup: &dyn Fn(&ModuleQuery) -> Result<Vec<ModuleStream>, SourceError>,
    with_deps: bool,
) -> Result<Vec<ModuleStream>, ComposeError> {
    let mut out: Vec<ModuleStream> = Vec::new();
    // module name → (stream, who asked for it)
    let mut chosen: BTreeMap<String, (String, String)> = BTreeMap::new();
    // (lookup, who asked for it)
    let mut queue: Vec<(ModuleQuery, String)> = specs
        .iter()
        .map(|s| {
            let q = ModuleQuery {
                spec: s.clone(),
                ..template.clone()
            };
            (q, "the request".to_owned())
        })
        .collect();
    queue.reverse();
    let conflict = |name: &str, a: &(String, String), b_stream: &str, b_by: &str| {
        ComposeError::Modules(format!(
            "conflicting streams of module {name}: {} needs {name}:{}, {b_by} needs {name}:{b_stream}",
            a.1, a.0
        ))
    };
    while let Some((query, by)) = queue.pop() {
        for m in lookup(&query)? {
            if out.iter().any(|o| o.nsvc() == m.nsvc()) {
                continue;
            }
            if let Some(have) = chosen.get(&m.name)
                && have.0 != m.stream
            {
                return Err(conflict(&m.name, have, &m.stream, &by));
            }
            chosen
                .entry(m.name.clone())
                .or_insert_with(|| (m.stream.clone(), by.clone()));
            if with_deps {
                for (name, streams) in &m.requires {
                    if base.contains(name) {
                        continue;
                    }
                    let requirer = format!("{}:{}", m.name, m.stream);
                    match chosen.get(name) {
                        Some(have) if fits(streams, &have.0) => continue,
                        Some(have) => {
                            let wanted = streams.join(",");
                            return Err(conflict(name, have, &wanted, &requirer));
                        }
                        None => {}
                    }
                    let positive: Vec<&String> =
                        streams.iter().filter(|s| !s.starts_with('-')).collect();
                    let spec = match positive.as_slice() {
                        [one] => format!("{name}:{one}"),
                        // any (or several) streams: the newest build of the
                        // module whose stream fits
                        _ => {
                            let newest = lookup(&dependency_query(name.clone(), &m, template))?
                                .into_iter()
                                .filter(|b| fits(streams, &b.stream))
                                .max_by_key(|b| b.version)
                                .ok_or_else(|| ComposeError::Modules(format!(
                                    "{requirer} requires module {name} with streams [{}]: none is in ready state",
                                    streams.join(", ")
                                )))?;
                            format!("{name}:{}", newest.stream)
                        }
                    };
                    queue.push((dependency_query(spec, &m, template), requirer));
                }
            }
            out.push(m);
        }
    }
    Ok(out)
}

/// The module builds of the modular Koji tags `tags` at `event`, each once.
pub fn tag_modules(
    tags: &[String],
    event: i64,
    source: &dyn PackageSource,
) -> Result<Vec<ModuleStream>, SourceError> {
    let mut out: Vec<ModuleStream> = Vec::new();
    for t in tags {
        for m in source.tag_modules(t, event)? {
            if !out.iter().any(|o| o.nsvc() == m.nsvc()) {
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// A module lookup among `offered` builds (those of the modular Koji
/// tags): the builds matching the spec, every context of the newest
/// version of each stream unless a version is given.
pub fn lookup_among(
    offered: &[ModuleStream],
    tags: &[String],
    query: &ModuleQuery,
) -> Result<Vec<ModuleStream>, SourceError> {
    let parts: Vec<&str> = query.spec.split(':').collect();
    let mut out: Vec<ModuleStream> = offered
        .iter()
        .filter(|m| {
            let version = m.version.to_string();
            crate::source::spec_matches(&parts, [&m.name, &m.stream, &version, &m.context])
        })
        .cloned()
        .collect();
    crate::source::keep_newest(&mut out, parts.len(), |m| (m.stream.as_str(), m.version));
    if out.is_empty() {
        return Err(SourceError::NotInModularTags {
            spec: query.spec.clone(),
            tags: tags.join(", "),
        });
    }
    Ok(out)
}

/// Each module build as built for `arch`: its artifacts those its
/// per-arch modulemd lists for `arch` (multilib ones included), else those
/// of that arch, `noarch` and `src`.
pub fn for_arch(modules: &[ModuleStream], arch: &str) -> Vec<ModuleStream> {
    modules
        .iter()
        .map(|m| {
            let mut m = m.clone();
            m.arch = arch.to_owned();
            if let Some(listed) = m.arch_artifacts.get(arch) {
                m.artifacts = listed.clone();
                return m;
            }
            m.artifacts.retain(|a| {
                crate::modulemd::split_nevra(a).is_some_and(|(_, a_arch)| {
                    a_arch == arch || a_arch == "noarch" || a_arch == "src"
                })
            });
            m
        })
        .collect()
}

/// The `modules.yaml` of the `os` repository of `arch` ([`for_arch`]);
/// `None` when there is no module.
pub fn modules_yaml_for(
    modules: &[ModuleStream],
    defaults: &[ModuleDefaults],
    arch: &str,
) -> Option<String> {
    if modules.is_empty() {
        return None;
    }
    let streams = for_arch(modules, arch);
    let refs: Vec<&ModuleStream> = streams.iter().collect();
    Some(modules_yaml(&refs, defaults))
}

/// How long fetching the modulemd-defaults may take.
const GIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The modulemd-defaults of a compose's modules: from the request's git
/// repository at its commit, else from the configured directory
/// (`module_defaults_dir`), else none.
pub fn defaults_for(
    req: &super::request::ComposeRequest,
    modules: &[ModuleStream],
    work: &Path,
) -> Result<Vec<ModuleDefaults>, ComposeError> {
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
    match (&req.module_defaults, &req.module_defaults_dir) {
        (Some((url, commit)), _) => fetch_defaults(
            url,
            commit,
            work,
            &names,
            req.module_defaults_cache.as_deref(),
        ),
        (None, Some(dir)) => {
            let text = defaults_text(dir).map_err(|m| {
                ComposeError::Modules(format!("module defaults in {}: {m}", dir.display()))
            })?;
            pick_defaults(&text, &names).map_err(|m| {
                ComposeError::Modules(format!("module defaults in {}: {m}", dir.display()))
            })
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// Every `*.yaml` at the top of `dir` (sorted by name), as one YAML stream.
fn defaults_text(dir: &Path) -> Result<String, String> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = String::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        // each file's documents stay their own: a file whose first
        // document has no `---` starts one here
        crate::modulemd::parse(&text).map_err(|e| {
            format!(
                "{}: {e}",
                f.file_name().unwrap_or_default().to_string_lossy()
            )
        })?;
        if !text.trim_start().starts_with("---") {
            out.push_str("---\n");
        }
        out.push_str(&text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The defaults documents of `text` for the modules of `names`.
fn pick_defaults(text: &str, names: &[&str]) -> Result<Vec<ModuleDefaults>, String> {
    Ok(crate::modulemd::parse(text)?
        .defaults
        .into_iter()
        .filter(|d| names.contains(&d.module.as_str()))
        .collect())
}

/// Whether `commit` names one commit for good (a full hash), so what it
/// holds may be cached.
fn is_full_hash(commit: &str) -> bool {
    matches!(commit.len(), 40 | 64) && commit.chars().all(|c| c.is_ascii_hexdigit())
}

/// Run git with `args` (no prompt, no stdin) for at most [`GIT_TIMEOUT`];
/// its stderr in the error `fail` makes.
pub(crate) fn git(
    args: &[&str],
    fail: &dyn Fn(String) -> ComposeError,
) -> Result<(), ComposeError> {
    git_with_env(args, &[], fail)
}

/// [`git`] with more environment variables (credentials stay off the
/// command line, where any user on the host could read them).
pub(crate) fn git_with_env(
    args: &[&str],
    env: &[(&str, &str)],
    fail: &dyn Fn(String) -> ComposeError,
) -> Result<(), ComposeError> {
    let mut child = std::process::Command::new("git")
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run git: {e}")))?;
    // the subcommand, for messages (`git -C DIR checkout` is a checkout)
    let mut rest = args;
    while let ["-C" | "-c", _, tail @ ..] = rest {
        rest = tail;
    }
    let what = rest.first().copied().unwrap_or("");
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(_)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read as _;
                    let _ = e.read_to_string(&mut err);
                }
                return Err(fail(format!("git {what}: {}", err.trim())));
            }
            Ok(None) if started.elapsed() > GIT_TIMEOUT => {
                let _ = child.kill();
                return Err(fail(format!("git {what} took longer than {GIT_TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(50)),
            Err(e) => return Err(fail(e.to_string())),
        }
    }
}

/// The modulemd-defaults documents of the git repository `url` at `commit`
/// (every `*.yaml` at its top, as Pungi's `module_defaults_dir` with
/// `dir: "."`), cloned into `work` (removed after), for the modules of
/// `names` only. With `cache`, what a full commit hash holds is kept in
/// `<cache>/module-defaults/` and read from there the next time.
pub fn fetch_defaults(
    url: &str,
    commit: &str,
    work: &Path,
    names: &[&str],
    cache: Option<&Path>,
) -> Result<Vec<ModuleDefaults>, ComposeError> {
    let fail =
        |m: String| ComposeError::Modules(format!("module defaults from {url} at {commit}: {m}"));
    let cached = cache.filter(|_| is_full_hash(commit)).map(|c| {
        use sha2::Digest as _;
        let key = hex::encode(&sha2::Sha256::digest(url.as_bytes())[..8]);
        c.join("module-defaults")
            .join(format!("{key}-{commit}.yaml"))
    });
    if let Some(path) = &cached
        && let Ok(text) = std::fs::read_to_string(path)
    {
        return pick_defaults(&text, names).map_err(fail);
    }
    let dir = work.join("module-defaults");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    }
    std::fs::create_dir_all(work).map_err(|e| fail(e.to_string()))?;
    let d = dir.to_string_lossy().into_owned();
    git(&["clone", "--quiet", "--no-checkout", "--", url, &d], &fail)?;
    git(
        &["-C", &d, "checkout", "--quiet", "--detach", commit],
        &fail,
    )?;
    let text = defaults_text(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let text = text.map_err(fail)?;
    if let Some(path) = &cached {
        // written aside, then renamed: a reader sees all of it or nothing
        let part = path.with_extension("part");
        let stored = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(&part, &text))
            .and_then(|_| std::fs::rename(&part, path));
        if let Err(e) = stored {
            tracing::warn!("cannot keep the module defaults in {}: {e}", path.display());
        }
    }
    pick_defaults(&text, names).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_expansion() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(fits(&s(&[]), "1"));
        assert!(fits(&s(&["1"]), "1"));
        assert!(!fits(&s(&["2"]), "1"));
        assert!(!fits(&s(&["-1"]), "1"));
        assert!(fits(&s(&["-2"]), "1"));
        assert!(fits(&s(&["1", "2"]), "2"));
    }
}
