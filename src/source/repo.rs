//! Existing yum repositories (lookaside repos): their metadata fetched from a
//! URL (`http(s)://`, `file://`) or read from a directory, verified against
//! repomd.xml as librepo does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::repodata::read::{ReadError, Repo, read_repo_limited, read_repomd};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How much a lookaside repository may cost: the time of each download, and
/// the size of each metadata file, downloaded and once decompressed.
#[derive(Clone, Copy, Debug)]
pub struct RepoLimits {
    pub timeout: Duration,
    pub max_bytes: u64,
}

impl Default for RepoLimits {
    fn default() -> RepoLimits {
        RepoLimits {
            timeout: Duration::from_secs(300),
            max_bytes: 1 << 30,
        }
    }
}

pub(crate) fn fetch(url: &str, limits: RepoLimits) -> Result<Vec<u8>, RepoError> {
    let err = |message: String| RepoError::Fetch {
        url: url.to_owned(),
        message,
    };
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(limits.timeout))
        .build()
        .new_agent();
    let resp = agent.get(url).call().map_err(|e| err(e.to_string()))?;
    let mut body = Vec::new();
    resp.into_body()
        .into_reader()
        .take(limits.max_bytes.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| err(e.to_string()))?;
    if body.len() as u64 > limits.max_bytes {
        return Err(err(format!(
            "larger than the {} bytes allowed",
            limits.max_bytes
        )));
    }
    Ok(body)
}

/// The repository at `location`: a directory, a `file://` URL or an
/// `http(s)://` URL (its metadata is downloaded into `scratch`), within
/// `limits`.
pub fn load_repo(location: &str, scratch: &Path, limits: RepoLimits) -> Result<Repo, RepoError> {
    if let Some(path) = location.strip_prefix("file://") {
        return Ok(read_repo_limited(Path::new(path), limits.max_bytes)?);
    }
    if !(location.starts_with("http://") || location.starts_with("https://")) {
        return Ok(read_repo_limited(Path::new(location), limits.max_bytes)?);
    }
    let base = location.trim_end_matches('/');
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RepoError::Io { path, source }
    };
    let dir = scratch.join("repodata");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let repomd = fetch(&format!("{base}/repodata/repomd.xml"), limits)?;
    std::fs::write(dir.join("repomd.xml"), &repomd).map_err(io(&dir))?;
    // the records read_repo needs; it verifies their checksums
    let records = read_repomd(scratch)?.records;
    let wanted = records
        .iter()
        .filter(|r| matches!(r.kind.as_str(), "primary" | "filelists" | "other"));
    for href in wanted.map(|r| r.href.as_str()) {
        if href.contains("..") || !href.starts_with("repodata/") {
            return Err(RepoError::Fetch {
                url: location.to_owned(),
                message: format!("repomd.xml names a file outside repodata/: {href}"),
            });
        }
        let body = fetch(&format!("{base}/{href}"), limits)?;
        let dest = scratch.join(href);
        std::fs::write(&dest, body).map_err(io(&dest))?;
    }
    Ok(read_repo_limited(scratch, limits.max_bytes)?)
}

/// An RPM of a mirrored repository: where it comes from, the sha256 its
/// primary.xml gives, and where the mirror keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirrored {
    pub url: String,
    pub sha256: String,
    pub file: PathBuf,
}

/// A name unique to this process and moment, for temporary files.
fn unique() -> String {
    format!(
        "{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// A compose's hold on a mirror (a shared lock on its `.lock` file), kept
/// until its trees link what it chose: [`prune_mirrors`] takes the lock
/// exclusively, so it never removes a file a running compose is about to
/// link, nor the temporary files of a running download.
#[derive(Debug)]
pub struct MirrorHold(#[allow(dead_code)] std::fs::File);

fn mirror_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(".lock"))
}

/// An `http(s)://` repository mirrored under `dir` (one directory per
/// repository, [`mirror_dir_of`]): its metadata downloaded again each time
/// (the repomd revision is the compose's event), and where each RPM its
/// primary.xml lists is kept, `dir/packages/<sha256>/<file name>`, in
/// primary.xml's order. Nothing is downloaded yet: [`download`] fetches the
/// RPMs a compose chose, while the caller keeps the [`MirrorHold`]. A package
/// whose checksum is not sha256, or whose location leaves the repository, is
/// refused.
pub fn mirror(
    location: &str,
    dir: &Path,
    limits: RepoLimits,
) -> Result<(Repo, Vec<Mirrored>, MirrorHold), RepoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| RepoError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let lock = dir.join(".lock");
    let hold = mirror_lock(dir).map_err(io(&lock))?;
    hold.lock_shared().map_err(io(&lock))?;
    // this run's own copy of the metadata: composes mirroring the same
    // repository at once do not share one
    let meta = dir.join(format!("metadata.{}", unique()));
    std::fs::create_dir_all(&meta).map_err(io(&meta))?;
    let loaded = load_repo(location, &meta, limits);
    let _ = std::fs::remove_dir_all(&meta);
    let repo = loaded?;
    let base = location.trim_end_matches('/');
    let mut out = Vec::with_capacity(repo.packages.len());
    for p in &repo.packages {
        let url = format!("{base}/{}", p.location_href);
        let refuse = |message: String| RepoError::Fetch {
            url: url.clone(),
            message,
        };
        if p.location_base.is_some() || p.location_href.split('/').any(|c| c == "..") {
            return Err(refuse("a package outside the repository".into()));
        }
        let sha256 = p.checksum.to_ascii_lowercase();
        if p.checksum_type != "sha256"
            || sha256.len() != 64
            || !sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(refuse(format!(
                "checksum type {:?}: only sha256 is checked",
                p.checksum_type
            )));
        }
        let name = p
            .location_href
            .rsplit('/')
            .next()
            .filter(|n| n.ends_with(".rpm") && !n.starts_with('.'))
            .ok_or_else(|| refuse("not an .rpm file".into()))?;
        let file = dir.join("packages").join(&sha256).join(name);
        out.push(Mirrored { url, sha256, file });
    }
    Ok((repo, out, MirrorHold(hold)))
}

/// What [`prune_mirrors`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// RPMs removed, and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// Leftovers of runs that died (`.part` downloads, metadata copies).
    pub leftovers: usize,
    /// Mirrors skipped because a compose was using them.
    pub busy: usize,
}

/// Remove from the mirrors under `root` every RPM that no compose tree
/// links any more (a link count of 1; trees hardlink what they hold) and
/// that was downloaded more than `keep` before `now`, and what runs that
/// died left behind. A mirror a compose is using (its [`MirrorHold`]) is
/// skipped this time. The mirror directories and their locks stay.
pub fn prune_mirrors(
    root: &Path,
    keep: Duration,
    now: std::time::SystemTime,
) -> std::io::Result<Pruned> {
    use std::os::unix::fs::MetadataExt as _;
    let mut out = Pruned::default();
    let mirrors = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for mirror in mirrors {
        let dir = mirror?.path();
        if !dir.join(".lock").is_file() {
            continue;
        }
        let lock = mirror_lock(&dir)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                out.busy += 1;
                continue;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        // no compose uses this mirror now: a metadata copy is a dead run's
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with("metadata.") {
                std::fs::remove_dir_all(entry.path())?;
                out.leftovers += 1;
            }
        }
        let packages = match std::fs::read_dir(dir.join("packages")) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for sha in packages {
            let sha = sha?.path();
            for file in std::fs::read_dir(&sha)? {
                let file = file?;
                let meta = file.metadata()?;
                let name = file.file_name();
                if name.to_string_lossy().starts_with('.') {
                    std::fs::remove_file(file.path())?;
                    out.leftovers += 1;
                    continue;
                }
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .is_some_and(|age| age >= keep);
                if meta.is_file() && meta.nlink() == 1 && old {
                    std::fs::remove_file(file.path())?;
                    out.files += 1;
                    out.bytes += meta.len();
                }
            }
            // empty now: gone (a compose would create it again)
            let _ = std::fs::remove_dir(&sha);
        }
    }
    Ok(out)
}

/// Download the RPMs of `wanted` the mirror does not hold yet, in parallel,
/// each checked against its sha256 and written under a temporary name, then
/// renamed (so a file in the mirror was checked whole).
pub fn download(wanted: &[&Mirrored], limits: RepoLimits) -> Result<(), RepoError> {
    use rayon::prelude::*;
    use sha2::Digest as _;
    let run = unique();
    wanted
        .par_iter()
        .filter(|m| !m.file.is_file())
        .try_for_each(|m| {
            let io = |path: &Path| {
                let path = path.to_owned();
                move |source| RepoError::Io { path, source }
            };
            let body = fetch(&m.url, limits)?;
            let got = hex::encode(sha2::Sha256::digest(&body));
            if got != m.sha256 {
                return Err(RepoError::Fetch {
                    url: m.url.clone(),
                    message: format!(
                        "sha256 {got}, but the repository's primary.xml says {}",
                        m.sha256
                    ),
                });
            }
            let dir = m.file.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            let name = m.file.file_name().unwrap_or_default().to_string_lossy();
            let tmp = dir.join(format!(".{name}.{run}.part"));
            std::fs::write(&tmp, &body).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &m.file).map_err(io(&m.file))
        })
}

/// The directory under `root` that [`mirror`] keeps the repository at
/// `location` in: the first 16 hex digits of the sha256 of its URL (no
/// trailing slash).
pub fn mirror_dir_of(root: &Path, location: &str) -> PathBuf {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(location.trim_end_matches('/').as_bytes());
    root.join(&hex::encode(digest)[..16])
}

/// The numeric repomd revision of the repository at `location` (a
/// directory, a `file://` or an `http(s)://` URL), or `None` when it has no
/// repodata or no numeric revision.
pub fn revision(location: &str, limits: RepoLimits) -> Result<Option<i64>, RepoError> {
    let repo = if location.starts_with("http://") || location.starts_with("https://") {
        let url = format!("{}/repodata/repomd.xml", location.trim_end_matches('/'));
        let body = fetch(&url, limits)?;
        let text = String::from_utf8(body).map_err(|e| RepoError::Fetch {
            url: url.clone(),
            message: e.to_string(),
        })?;
        crate::repodata::read::parse_repomd(&text, Path::new(&url))?
    } else {
        let dir = Path::new(location.strip_prefix("file://").unwrap_or(location));
        if !dir.join("repodata/repomd.xml").is_file() {
            return Ok(None);
        }
        read_repomd(dir)?
    };
    Ok(repo
        .revision
        .as_deref()
        .and_then(|r| r.trim().parse::<i64>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn put(path: &Path, bytes: &[u8], age: Duration) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
    }

    #[test]
    fn a_mirror_is_pruned_of_what_no_tree_links() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo-mirrors");
        let day = Duration::from_secs(86_400);
        let m = root.join("0123456789abcdef");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join(".lock"), b"").unwrap();
        let old_unlinked = m.join("packages/aa/a-1-1.noarch.rpm");
        let old_linked = m.join("packages/bb/b-1-1.noarch.rpm");
        let new_unlinked = m.join("packages/cc/c-1-1.noarch.rpm");
        let part = m.join("packages/dd/.d-1-1.noarch.rpm.7.1.part");
        put(&old_unlinked, b"aaaa", 9 * day);
        put(&old_linked, b"bb", 9 * day);
        put(&new_unlinked, b"c", day);
        put(&part, b"d", Duration::ZERO);
        std::fs::create_dir_all(m.join("metadata.7.1/repodata")).unwrap();
        // a compose tree holds b
        let tree = tmp.path().join("odcs-1");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::hard_link(&old_linked, tree.join("b-1-1.noarch.rpm")).unwrap();

        // a mirror a compose holds is skipped whole
        let busy = root.join("fedcba9876543210");
        std::fs::create_dir_all(&busy).unwrap();
        let held = mirror_lock(&busy).unwrap();
        held.lock_shared().unwrap();
        let busy_file = busy.join("packages/ee/e-1-1.noarch.rpm");
        put(&busy_file, b"e", 9 * day);

        let pruned = prune_mirrors(&root, 7 * day, SystemTime::now()).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                files: 1,
                bytes: 4,
                leftovers: 2,
                busy: 1
            }
        );
        assert!(!old_unlinked.exists() && !old_unlinked.parent().unwrap().exists());
        assert!(old_linked.exists() && new_unlinked.exists() && busy_file.exists());
        assert!(!part.exists() && !m.join("metadata.7.1").exists());
        assert!(m.join(".lock").exists());

        // the tree gone and the compose done, the rest goes (keep 0)
        std::fs::remove_dir_all(&tree).unwrap();
        drop(held);
        let pruned = prune_mirrors(&root, Duration::ZERO, SystemTime::now()).unwrap();
        assert_eq!((pruned.files, pruned.busy), (3, 0));
        assert!(!old_linked.exists() && !new_unlinked.exists() && !busy_file.exists());
        // no mirrors at all is no error
        assert_eq!(
            prune_mirrors(&tmp.path().join("none"), day, SystemTime::now()).unwrap(),
            Pruned::default()
        );
    }
}
