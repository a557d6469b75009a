//! Removing a compose tree without losing the header-cache records of the RPMs
//! it hardlinks.
//!
//! Unlinking a name of a file moves the file's ctime, which is part of its
//! cache key (`rpm::cache` says why): removed with a plain `remove_dir_all`,
//! an expired compose would make the next compose of the same packages read
//! every one of them again. Each RPM's name is removed with
//! [`rpm::unlink_tracked`] and the records follow the files
//! ([`rpm::HeaderCache::rekey`]), in one batch at the end.

use std::path::Path;

use crate::rpm::{self, FileKey};

use super::createrepo::Caches;

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
    if let Some(c) = caches.headers
        && let Err(e) = c.rekey(&moved)
    {
        tracing::warn!("{e}");
    }
    Ok(())
}
