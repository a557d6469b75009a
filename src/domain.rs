//! Domain facts shared by the API, the store and the workers, below all
//! three: the codes of the original ODCS (source types, flags, results,
//! multilib methods; odcs-api.md §2.1) as one enum each, where composes live
//! (target directories), how the entries of a target directory map to
//! composes, and build N-V-Rs. None of those parts imports another for these.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::gather::multilib::MultilibMethod;

/// A compose's source type, stored as its code (odcs-api.md §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceType {
    Tag,
    Module,
    Repo,
    Pulp,
    RawConfig,
    Build,
    PungiCompose,
}

impl SourceType {
    pub const ALL: [SourceType; 7] = [
        SourceType::Tag,
        SourceType::Module,
        SourceType::Repo,
        SourceType::Pulp,
        SourceType::RawConfig,
        SourceType::Build,
        SourceType::PungiCompose,
    ];

    pub fn code(self) -> i64 {
        match self {
            SourceType::Tag => 1,
            SourceType::Module => 2,
            SourceType::Repo => 3,
            SourceType::Pulp => 4,
            SourceType::RawConfig => 5,
            SourceType::Build => 6,
            SourceType::PungiCompose => 7,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceType::Tag => "tag",
            SourceType::Module => "module",
            SourceType::Repo => "repo",
            SourceType::Pulp => "pulp",
            SourceType::RawConfig => "raw_config",
            SourceType::Build => "build",
            SourceType::PungiCompose => "pungi_compose",
        }
    }

    pub fn from_code(code: i64) -> Option<SourceType> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn from_name(name: &str) -> Option<SourceType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether this server generates composes of this type.
    pub fn supported(self) -> bool {
        matches!(
            self,
            SourceType::Tag
                | SourceType::Build
                | SourceType::Module
                | SourceType::RawConfig
                | SourceType::Repo
                | SourceType::Pulp
                | SourceType::PungiCompose
        )
    }
}

/// An enum of named bits of a mask field, in the original's table order.
macro_rules! named_bits {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $bit:literal => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn bit(self) -> u32 {
                match self {
                    $($name::$variant => $bit,)*
                }
            }

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn from_name(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }

            /// Whether this bit is set in a stored mask (never for a zero bit).
            pub fn is_set(self, mask: i64) -> bool {
                self.bit() != 0 && (mask as u32) & self.bit() != 0
            }

            /// The names of the bits set in `mask`, in table order.
            pub fn names(mask: i64) -> Vec<String> {
                Self::ALL
                    .iter()
                    .filter(|v| v.is_set(mask))
                    .map(|v| v.name().to_owned())
                    .collect()
            }

            /// The mask of `names`; the first unknown one is the error.
            pub fn mask<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<u32, &'a str> {
                let mut mask = 0;
                for n in names {
                    mask |= Self::from_name(n).ok_or(n.as_str())?.bit();
                }
                Ok(mask)
            }
        }
    };
}

named_bits!(
    /// A compose flag (`flags`).
    Flag {
        NoFlags = 0 => "no_flags",
        NoDeps = 1 => "no_deps",
        NoInheritance = 2 => "no_inheritance",
        IncludeUnpublishedPulpRepos = 4 => "include_unpublished_pulp_repos",
        CheckDeps = 8 => "check_deps",
        IncludeDoneModules = 16 => "include_done_modules",
        IgnoreAbsentPulpRepos = 32 => "ignore_absent_pulp_repos",
        NoReuse = 64 => "no_reuse",
        UseOnlyCompatibleArch = 128 => "use_only_compatible_arch",
        NoLabel = 256 => "no_label",
        // not in the original: a compose of several composes takes each
        // source package from the first one holding it (#20)
        FirstSourceWins = 512 => "first_source_wins",
    }
);

named_bits!(
    /// What a compose produces (`results`).
    ResultKind {
        Repository = 1 => "repository",
        Iso = 2 => "iso",
        Ostree = 4 => "ostree",
        BootIso = 8 => "boot.iso",
    }
);

/// The API names and stored bits of the multilib methods (`multilib_method`),
/// for the one enum that names them, the gather part's.
impl MultilibMethod {
    pub const ALL: [MultilibMethod; 4] = [
        MultilibMethod::None,
        MultilibMethod::Runtime,
        MultilibMethod::Devel,
        MultilibMethod::All,
    ];

    pub fn bit(self) -> u32 {
        match self {
            MultilibMethod::None => 0,
            MultilibMethod::Runtime => 1,
            MultilibMethod::Devel => 2,
            MultilibMethod::All => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MultilibMethod::None => "none",
            MultilibMethod::Runtime => "runtime",
            MultilibMethod::Devel => "devel",
            MultilibMethod::All => "all",
        }
    }

    pub fn from_name(name: &str) -> Option<MultilibMethod> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The methods set in a stored mask.
    pub fn from_mask(mask: i64) -> Vec<MultilibMethod> {
        Self::ALL
            .into_iter()
            .filter(|m| m.bit() != 0 && (mask as u32) & m.bit() != 0)
            .collect()
    }
}

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
    use super::{Flag, MultilibMethod, ResultKind, SourceType, is_build_nvr, join_draft_suffixes};

    #[test]
    fn codes_are_the_originals() {
        let types: Vec<(&str, i64)> = SourceType::ALL
            .iter()
            .map(|t| (t.name(), t.code()))
            .collect();
        assert_eq!(
            types,
            [
                ("tag", 1),
                ("module", 2),
                ("repo", 3),
                ("pulp", 4),
                ("raw_config", 5),
                ("build", 6),
                ("pungi_compose", 7)
            ]
        );
        assert_eq!(
            Flag::names(1 | 8 | 64),
            ["no_deps", "check_deps", "no_reuse"]
        );
        assert_eq!(
            Flag::mask(&["no_reuse".to_owned(), "no_deps".to_owned()]),
            Ok(65)
        );
        assert_eq!(Flag::mask(&["turbo".to_owned()]), Err("turbo"));
        assert!(!Flag::NoFlags.is_set(0xffff));
        assert_eq!(ResultKind::names(1 | 8), ["repository", "boot.iso"]);
        assert_eq!(
            MultilibMethod::from_mask(1 | 4),
            [MultilibMethod::Runtime, MultilibMethod::All]
        );
    }

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
