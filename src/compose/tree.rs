//! The compose tree laid out as Pungi lays it out (formats.md §2.8, §2.9), so
//! tools that read Pungi composes read ours:
//! - every tree exists with repodata, empty if need be: `<arch>/os`,
//!   `<arch>/debug/tree` (the `.repo` file names it) and `source/tree` (Pungi
//!   runs createrepo for all of them even when they are empty);
//! - the os trees' repodata carries the comps group `odcs-group` with the
//!   requested packages, as the original ODCS generates it, when packages
//!   were requested;
//! - each os tree and the source tree has a `.treeinfo` (productmd treeinfo
//!   1.2, byte for byte what productmd writes for Pungi's settings, with the
//!   `repodata/repomd.xml` checksum), a `.discinfo` and a `media.repo`.
//!
//! Not written: `compose/metadata/modules.json`, which belongs to module
//! composes; this engine has no module support yet.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::Progress;
use super::createrepo::{Caches, CreaterepoOptions, createrepo};
use super::request::{ComposeError, ComposeRequest, VARIANT};
use crate::repodata::comps::{CompsGroup, comps_xml};
use crate::rpm::{self, FileKey};

/// What a tree holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Os,
    Debug,
    Source,
}

/// Every tree of a compose of `arches` under `top`, with its kind and arch
/// (`src` for the source tree).
fn all_trees(top: &Path, arches: &[String]) -> Vec<(PathBuf, Kind, String)> {
    let variant = top.join("compose").join(VARIANT);
    let mut out = Vec::new();
    for a in arches {
        out.push((variant.join(a).join("os"), Kind::Os, a.clone()));
        out.push((variant.join(a).join("debug/tree"), Kind::Debug, a.clone()));
    }
    out.push((variant.join("source/tree"), Kind::Source, "src".to_owned()));
    out
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ComposeError + '_ {
    move |source| ComposeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write the repodata of every tree of the compose under `top` (trees that
/// received no package are created empty) and the files Pungi puts beside
/// it; returns every tree.
pub fn write_repositories(
    top: &Path,
    req: &ComposeRequest,
    modules: &[crate::modulemd::ModuleStream],
    defaults: &[crate::modulemd::ModuleDefaults],
    caches: Caches<'_>,
    progress: &dyn Progress,
) -> Result<Vec<PathBuf>, ComposeError> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut trees = Vec::new();
    for (dir, kind, arch) in all_trees(top, &req.arches) {
        if progress.cancelled() {
            return Err(ComposeError::Cancelled);
        }
        let packages = dir.join("Packages");
        std::fs::create_dir_all(&packages).map_err(io_at(&packages))?;
        let mut opts = CreaterepoOptions::default();
        if kind == Kind::Os && !req.packages.is_empty() {
            opts.repodata.groupfile = Some(comps_xml(&[CompsGroup::odcs(&req.packages)]));
        }
        if kind == Kind::Os {
            opts.repodata.modules = super::modules::modules_yaml_for(modules, defaults, &arch);
        }
        createrepo(&dir, &opts, caches, progress)?;
        if kind != Kind::Debug {
            write_tree_files(&dir, &req.name, &arch, timestamp)?;
        }
        trees.push(dir);
    }
    Ok(trees)
}

/// `.treeinfo`, `.discinfo` and `media.repo` of one tree.
fn write_tree_files(
    dir: &Path,
    name: &str,
    arch: &str,
    timestamp: u64,
) -> Result<(), ComposeError> {
    let repomd = dir.join("repodata/repomd.xml");
    let bytes = std::fs::read(&repomd).map_err(io_at(&repomd))?;
    let checksum = hex::encode(Sha256::digest(&bytes));
    let files = [
        (".treeinfo", treeinfo(name, arch, timestamp, &checksum)),
        (".discinfo", discinfo(name, arch, timestamp)),
        ("media.repo", media_repo(name, timestamp)),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(io_at(&path))?;
    }
    Ok(())
}

/// productmd's `.treeinfo` for Pungi's settings of an ODCS compose (release
/// `<name>` version 1, variant `Temporary`, packages in `Packages`, the
/// repository at the tree's root), sections and keys sorted as productmd's
/// SortedConfigParser writes them.
fn treeinfo(name: &str, arch: &str, timestamp: u64, repomd_sha256: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "[checksums]\nrepodata/repomd.xml = sha256:{repomd_sha256}\n\n\
         [general]\n\
         ; WARNING.0 = This section provides compatibility with pre-productmd treeinfos.\n\
         ; WARNING.1 = Read productmd documentation for details about new format.\n\
         arch = {arch}\nfamily = {name}\nname = {name} 1\npackagedir = Packages\n\
         platforms = {arch}\nrepository = .\ntimestamp = {timestamp}\n\
         variant = {VARIANT}\nvariants = {VARIANT}\nversion = 1\n\n\
         [header]\ntype = productmd.treeinfo\nversion = 1.2\n\n\
         [release]\nname = {name}\nshort = {name}\nversion = 1\n\n\
         [tree]\narch = {arch}\nbuild_timestamp = {timestamp}\nplatforms = {arch}\n\
         variants = {VARIANT}\n\n\
         [variant-{VARIANT}]\nid = {VARIANT}\nname = {VARIANT}\npackages = Packages\n\
         repository = .\ntype = variant\nuid = {VARIANT}\n\n"
    );
    s
}

/// Pungi's `.discinfo`: timestamp, description, arch, disc numbers.
fn discinfo(name: &str, arch: &str, timestamp: u64) -> String {
    format!("{timestamp}.000000\n{name} 1\n{arch}\nALL\n")
}

/// Pungi's `media.repo`.
fn media_repo(name: &str, timestamp: u64) -> String {
    format!(
        "[InstallMedia]\nname={name} 1\nmediaid={timestamp}.000000\nmetadata_expire=-1\ngpgcheck=0\ncost=500\n"
    )
}

/// Remove a compose tree without losing the header-cache records of the
/// RPMs it hardlinks: unlinking a name of a file moves the file's ctime,
/// which is part of its cache key (`rpm::cache` says why); removed with a
/// plain `remove_dir_all`, an expired compose would make the next compose of
/// the same packages read every one of them again. Each RPM's name is removed
/// with [`rpm::unlink_tracked`] and the records follow the files
/// ([`rpm::HeaderCache::rekey`]), in one batch at the end.
/// Remove `dir` and everything under it (symlinks are removed, not followed).
pub fn remove_tree(dir: &Path, caches: Caches<'_>) -> std::io::Result<()> {
    let mut moved: Vec<(FileKey, FileKey)> = Vec::new();
    if caches.headers.is_some() {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    stack.push(entry.path());
                } else if kind.is_file() && entry.file_name().to_string_lossy().ends_with(".rpm") {
                    moved.extend(rpm::unlink_tracked(&entry.path())?);
                }
            }
        }
    }
    std::fs::remove_dir_all(dir)?;
    // a raw_config compose's symlinks go with it
    if let (Some(target), Some(name)) = (dir.parent(), dir.file_name()) {
        super::pungi::remove_links(target, &name.to_string_lossy());
    }
    if let Some(c) = caches.headers
        && let Err(e) = c.rekey(&moved)
    {
        tracing::warn!("{e}");
    }
    Ok(())
}
