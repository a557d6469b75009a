//! Domain facts shared by the API and the workers, below both: where composes
//! live (target directories) and how the entries of a target directory map to
//! composes. Neither part imports the other for these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the default target directory, as the API shows it.
pub const DEFAULT_TARGET_DIR: &str = "default";

/// One directory composes are written to, and the public URL it is served at
/// (`None`: not served by a URL this service knows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDir {
    pub path: PathBuf,
    pub url: Option<String>,
}

/// The default target directory and the extra ones a request may name
/// (`target_dir`, odcs-api.md §3.2 item 25).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetDirs {
    pub default: TargetDir,
    pub extra: BTreeMap<String, TargetDir>,
}

impl TargetDirs {
    /// Only the default directory.
    pub fn single(path: PathBuf, url: String) -> TargetDirs {
        TargetDirs {
            default: TargetDir {
                path,
                url: Some(url),
            },
            extra: BTreeMap::new(),
        }
    }

    /// The directory a compose's stored `target_dir` names; `None` for a name
    /// this configuration does not have (removed from it since).
    pub fn get(&self, name: &str) -> Option<&TargetDir> {
        if name.is_empty() || name == DEFAULT_TARGET_DIR {
            Some(&self.default)
        } else {
            self.extra.get(name)
        }
    }

    /// Every directory, the default first.
    pub fn all(&self) -> impl Iterator<Item = &TargetDir> {
        std::iter::once(&self.default).chain(self.extra.values())
    }

    /// The public URL of the tree `odcs-<id>` in the directory named `name`,
    /// or `""` when that directory has no URL (the original's answer for
    /// non-default target directories).
    pub fn tree_url(&self, name: &str, tree: &str) -> String {
        match self.get(name).and_then(|d| d.url.as_deref()) {
            Some(url) => format!("{}/{tree}", url.trim_end_matches('/')),
            None => String::new(),
        }
    }
}

/// What an entry of a target directory is, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetEntry {
    /// `odcs-12`, or a Pungi compose id `odcs-12-1-20171005.n.0`: a tree.
    Tree(i64),
    /// `odcs-12.log`: the compose's log.
    Log(i64),
    /// `.odcs-12.part`: a tree being built.
    Building(i64),
}

impl TargetEntry {
    /// The entry `name` names, or `None` for a name that is not ODCS's.
    pub fn parse(name: &str) -> Option<TargetEntry> {
        let (rest, building) = match name.strip_prefix(".odcs-") {
            Some(rest) => (rest.strip_suffix(".part")?, true),
            None => (name.strip_prefix("odcs-")?, false),
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let after = &rest[digits..];
        let id: i64 = rest[..digits].parse().ok()?;
        match (building, after) {
            (true, "") => Some(TargetEntry::Building(id)),
            (false, "") => Some(TargetEntry::Tree(id)),
            (false, ".log") => Some(TargetEntry::Log(id)),
            (false, tail) if tail.starts_with('-') => Some(TargetEntry::Tree(id)),
            _ => None,
        }
    }

    pub fn compose_id(self) -> i64 {
        match self {
            TargetEntry::Tree(id) | TargetEntry::Log(id) | TargetEntry::Building(id) => id,
        }
    }
}

/// Whether `nvr` is a build's N-V-R as Koji writes it: `name-version-release`,
/// or a draft build's `name-version-release,draft_<build id>` (Koji ≥ 1.34),
/// with what Koji accepts in names, versions and releases.
pub fn is_build_nvr(nvr: &str) -> bool {
    let plain = match nvr.split_once(",draft_") {
        Some((plain, id)) => {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            plain
        }
        None => nvr,
    };
    !plain.is_empty()
        && !plain.starts_with('.')
        && plain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._+~^".contains(c))
}

/// N-V-Rs given on a command line as a comma separated list: a `draft_<id>`
/// item is the suffix of the draft N-V-R before it, not a build of its own
/// (`bash-5.2-1,draft_12,zsh-5.9-1` is two builds).
pub fn join_draft_suffixes(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let is_suffix = item
            .strip_prefix("draft_")
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        match out.last_mut() {
            Some(prev) if is_suffix && !prev.contains(",draft_") => {
                prev.push(',');
                prev.push_str(&item);
            }
            _ => out.push(item),
        }
    }
    out
}

/// The build directory of tree `name` in `target`.
pub fn part_dir(target: &Path, name: &str) -> PathBuf {
    target.join(format!(".{name}.part"))
}

#[cfg(test)]
mod tests {
    use super::TargetEntry::{self, Building, Log, Tree};
    use super::{is_build_nvr, join_draft_suffixes};

    #[test]
    fn draft_nvrs_are_builds_and_their_suffix_is_not_split_off() {
        for ok in [
            "bash-5.2.26-3.fc40",
            "bash-5.2.26-3.fc40,draft_12",
            "gcc-c++-14-1~rc^2",
        ] {
            assert!(is_build_nvr(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden-1-1",
            "a-1-1,draft_",
            "a-1-1,draft_x",
            "a-1-1,b-1-1",
            "a/b-1-1",
        ] {
            assert!(!is_build_nvr(bad), "{bad}");
        }
        let items = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            join_draft_suffixes(items("bash-5.2-1,draft_12,zsh-5.9-1,draft_3,vim-9-1")),
            ["bash-5.2-1,draft_12", "zsh-5.9-1,draft_3", "vim-9-1"]
        );
        assert_eq!(
            join_draft_suffixes(items("draft_1,a-1-1")),
            ["draft_1", "a-1-1"]
        );
    }

    #[test]
    fn target_entries_name_their_compose() {
        assert_eq!(TargetEntry::parse("odcs-12"), Some(Tree(12)));
        assert_eq!(TargetEntry::parse("odcs-12.log"), Some(Log(12)));
        assert_eq!(TargetEntry::parse("odcs-96-1-20171005.n.0"), Some(Tree(96)));
        assert_eq!(TargetEntry::parse(".odcs-12.part"), Some(Building(12)));
        for other in [
            "odcs-",
            "odcs-12abc",
            "odcs-x",
            ".odcs-12",
            "latest",
            "odcs-12.log.1",
            ".odcs-1.part.x",
            "odcs-99999999999999999999",
        ] {
            assert_eq!(TargetEntry::parse(other), None, "{other}");
        }
    }
}
