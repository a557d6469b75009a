//! What the test daemons (the KDC of `kdc.rs`, slapd of `ldap.rs`) share:
//! finding their tools, writing their files, saying why a command failed.

use std::path::{Path, PathBuf};
use std::process::Output;

pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub fn failure(what: &str, out: &Output) -> String {
    format!(
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `name` on PATH or in the sbin directories (which a non-root PATH may
/// lack).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// [`find_tool`], or the bare name (so the error names what is missing).
pub fn tool_path(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}
