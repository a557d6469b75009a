//! Where a build's files lie in the Koji topdir (Koji's `PathInfo`), and which
//! copy of an RPM a compose takes given its sigkeys (Pungi's
//! `KojiPackageSet.get_package_path`), formats.md §1.7–§1.8.

use std::fmt;
use std::path::PathBuf;

use super::error::KojiError;
use super::types::{KojiBuild, KojiRpm};

/// The topdir of a hub (`/mnt/koji`), as mounted here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KojiPaths {
    pub topdir: PathBuf,
}

/// An ordered list of sigkeys; `None` (or `Some("")`) allows unsigned copies.
pub type SigkeyList = [Option<String>];

/// The copy of an RPM a compose takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenFile {
    pub path: PathBuf,
    /// The key of the signed copy (lowercase), or `None` for the unsigned file.
    pub sigkey: Option<String>,
}

/// An RPM with no copy the sigkeys allow; `tried` lists every path looked at,
/// in order, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRpmFile {
    pub nvr: String,
    pub nvra: String,
    pub tried: Vec<PathBuf>,
}

impl fmt::Display for MissingRpmFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: no allowed copy; tried", self.nvra)?;
        if self.tried.is_empty() {
            return f.write_str(" nothing (no sigkey allows any copy)");
        }
        for (i, p) in self.tried.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{}", p.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for MissingRpmFile {}

impl KojiPaths {
    pub fn new(topdir: impl Into<PathBuf>) -> KojiPaths {
        KojiPaths {
            topdir: topdir.into(),
        }
    }

    /// The root of a volume: the topdir for `DEFAULT` (or no volume), else
    /// `<topdir>/vol/<name>`.
    pub fn volume_dir(&self, volume_name: Option<&str>) -> PathBuf {
        match volume_name {
            None | Some("DEFAULT") | Some("") => self.topdir.clone(),
            Some(name) => self.topdir.join("vol").join(name),
        }
    }

    /// `<vol>/packages/<name>/<version>/<release>`; a draft build's release
    /// directory is `<release>,draft_<build id>` (Koji ≥ 1.34), so drafts of
    /// one N-V-R do not collide.
    pub fn build_dir(&self, build: &KojiBuild) -> PathBuf {
        let release = if build.draft {
            format!("{},draft_{}", build.release, build.id)
        } else {
            build.release.clone()
        };
        self.volume_dir(build.volume_name.as_deref())
            .join("packages")
            .join(&build.name)
            .join(&build.version)
            .join(release)
    }

    /// The unsigned RPM: `<build dir>/<arch>/<nvra>.rpm` (the directory from
    /// the build's NVR, the file name from the RPM's).
    pub fn rpm_path(&self, build: &KojiBuild, rpm: &KojiRpm) -> PathBuf {
        self.build_dir(build).join(&rpm.arch).join(rpm.file_name())
    }

    /// A signed copy: `<build dir>/data/signed/<key>/<arch>/<nvra>.rpm`, the key
    /// lowercased as Koji writes it.
    pub fn signed_rpm_path(&self, build: &KojiBuild, rpm: &KojiRpm, sigkey: &str) -> PathBuf {
        self.build_dir(build)
            .join("data/signed")
            .join(sigkey.to_lowercase())
            .join(&rpm.arch)
            .join(rpm.file_name())
    }

    /// The copy of `rpm` a compose with `sigkeys` takes: the first signed copy
    /// that exists for a key, in list order; otherwise the unsigned file, if
    /// `None` or `""` is anywhere in the list (a signed copy always beats the
    /// unsigned one, wherever `None` stands). An empty list allows nothing: the
    /// caller maps a request without sigkeys to `[None]`, as ODCS does.
    pub fn choose_rpm_file(
        &self,
        build: &KojiBuild,
        rpm: &KojiRpm,
        sigkeys: &SigkeyList,
    ) -> Result<ChosenFile, MissingRpmFile> {
        let mut tried = Vec::new();
        for key in sigkeys.iter().flatten().filter(|k| !k.is_empty()) {
            let path = self.signed_rpm_path(build, rpm, key);
            if path.is_file() {
                return Ok(ChosenFile {
                    path,
                    sigkey: Some(key.to_lowercase()),
                });
            }
            tried.push(path);
        }
        if allows_unsigned(sigkeys) {
            let path = self.rpm_path(build, rpm);
            if path.is_file() {
                return Ok(ChosenFile { path, sigkey: None });
            }
            tried.push(path);
        }
        Err(MissingRpmFile {
            nvr: build.nvr.clone(),
            nvra: rpm.nvra(),
            tried,
        })
    }
}

/// Whether the list admits unsigned copies.
pub fn allows_unsigned(sigkeys: &SigkeyList) -> bool {
    sigkeys
        .iter()
        .any(|k| k.as_deref().is_none_or(str::is_empty))
}

/// The error a compose fails with when RPMs have no allowed copy; its message is
/// Pungi's (`RPM(s) not found for sigs: (…). Check log for details. Unsigned
/// packages:` and the sorted, unique N-V-Rs one per line), which users and
/// scripts already know.
pub fn unsigned_packages_error(sigkeys: &SigkeyList, missing: &[MissingRpmFile]) -> KojiError {
    let mut nvrs: Vec<String> = missing.iter().map(|m| m.nvr.clone()).collect();
    nvrs.sort();
    nvrs.dedup();
    KojiError::UnsignedPackages {
        sigkeys: sigkeys.to_vec(),
        nvrs,
        looked_for: vec![],
        more_files: 0,
        topdir_problem: None,
    }
}

/// [`unsigned_packages_error`] with what it takes to act on it: the first
/// files looked for, and, when the topdir has no `packages/` directory (not
/// mounted, or the wrong directory configured), that.
pub fn missing_files_error(
    sigkeys: &SigkeyList,
    missing: &[MissingRpmFile],
    paths: &KojiPaths,
) -> KojiError {
    const SHOWN: usize = 3;
    let mut err = unsigned_packages_error(sigkeys, missing);
    if let KojiError::UnsignedPackages {
        looked_for,
        more_files,
        topdir_problem,
        ..
    } = &mut err
    {
        let all: Vec<&PathBuf> = missing.iter().flat_map(|m| &m.tried).collect();
        *looked_for = all.iter().take(SHOWN).map(|p| (*p).clone()).collect();
        *more_files = all.len().saturating_sub(SHOWN);
        if !paths.topdir.join("packages").is_dir() {
            *topdir_problem = Some(paths.topdir.clone());
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::source::koji::error::python_tuple;
    use crate::source::koji::xmlrpc::Value;

    fn build(volume: Option<&str>) -> KojiBuild {
        KojiBuild::from_value(&Value::structure([
            ("id", Value::Int(1)),
            ("name", Value::from("bash")),
            ("version", Value::from("5.2.26")),
            ("release", Value::from("3.fc40")),
            ("volume_name", Value::from(volume)),
        ]))
        .unwrap()
    }

    fn rpm(name: &str, arch: &str) -> KojiRpm {
        KojiRpm::from_value(&Value::structure([
            ("id", Value::Int(10)),
            ("build_id", Value::Int(1)),
            ("name", Value::from(name)),
            ("version", Value::from("5.2.26")),
            ("release", Value::from("3.fc40")),
            ("arch", Value::from(arch)),
        ]))
        .unwrap()
    }

    fn keys(list: &[Option<&str>]) -> Vec<Option<String>> {
        list.iter().map(|k| k.map(str::to_owned)).collect()
    }

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"rpm").unwrap();
    }

    #[test]
    fn paths_follow_the_koji_layout() {
        let paths = KojiPaths::new("/mnt/koji");
        let b = build(None);
        let r = rpm("bash-devel", "x86_64");
        assert_eq!(
            paths.build_dir(&b),
            Path::new("/mnt/koji/packages/bash/5.2.26/3.fc40")
        );
        assert_eq!(
            paths.rpm_path(&b, &r),
            Path::new(
                "/mnt/koji/packages/bash/5.2.26/3.fc40/x86_64/bash-devel-5.2.26-3.fc40.x86_64.rpm"
            )
        );
        assert_eq!(
            paths.signed_rpm_path(&b, &r, "A15B79CC"),
            Path::new(
                "/mnt/koji/packages/bash/5.2.26/3.fc40/data/signed/a15b79cc/x86_64/bash-devel-5.2.26-3.fc40.x86_64.rpm"
            )
        );
        assert_eq!(
            paths.build_dir(&build(Some("DEFAULT"))),
            paths.build_dir(&b)
        );
        assert_eq!(
            paths.build_dir(&build(Some("archive"))),
            Path::new("/mnt/koji/vol/archive/packages/bash/5.2.26/3.fc40")
        );
    }

    #[test]
    fn signed_copies_are_tried_in_key_order_and_beat_unsigned() {
        let dir = tempfile::tempdir().unwrap();
        let paths = KojiPaths::new(dir.path());
        let (b, r) = (build(None), rpm("bash", "x86_64"));
        touch(&paths.rpm_path(&b, &r));
        touch(&paths.signed_rpm_path(&b, &r, "bbbbbbbb"));
        touch(&paths.signed_rpm_path(&b, &r, "cccccccc"));

        let chosen = paths
            .choose_rpm_file(
                &b,
                &r,
                &keys(&[None, Some("AAAAAAAA"), Some("CCCCCCCC"), Some("bbbbbbbb")]),
            )
            .unwrap();
        assert_eq!(chosen.sigkey.as_deref(), Some("cccccccc"));
        assert_eq!(chosen.path, paths.signed_rpm_path(&b, &r, "cccccccc"));

        let chosen = paths
            .choose_rpm_file(&b, &r, &keys(&[Some("aaaaaaaa"), Some("")]))
            .unwrap();
        assert_eq!(
            chosen,
            ChosenFile {
                path: paths.rpm_path(&b, &r),
                sigkey: None
            }
        );

        let missing = paths
            .choose_rpm_file(&b, &r, &keys(&[Some("aaaaaaaa"), Some("dddddddd")]))
            .unwrap_err();
        assert_eq!(
            missing.tried,
            [
                paths.signed_rpm_path(&b, &r, "aaaaaaaa"),
                paths.signed_rpm_path(&b, &r, "dddddddd")
            ]
        );
        assert!(
            missing
                .to_string()
                .starts_with("bash-5.2.26-3.fc40.x86_64: no allowed copy; tried ")
        );
        assert!(paths.choose_rpm_file(&b, &r, &[]).is_err());
    }

    #[test]
    fn a_missing_unsigned_file_is_reported_as_tried() {
        let dir = tempfile::tempdir().unwrap();
        let paths = KojiPaths::new(dir.path());
        let (b, r) = (build(Some("archive")), rpm("bash", "noarch"));
        let missing = paths.choose_rpm_file(&b, &r, &keys(&[None])).unwrap_err();
        assert_eq!(missing.tried, [paths.rpm_path(&b, &r)]);
        assert!(missing.tried[0].starts_with(dir.path().join("vol/archive")));
    }

    #[test]
    fn the_unsigned_error_lists_sorted_unique_nvrs_like_pungi() {
        let m = |nvr: &str| MissingRpmFile {
            nvr: nvr.to_owned(),
            nvra: format!("{nvr}.x86_64"),
            tried: vec![],
        };
        let err = unsigned_packages_error(
            &keys(&[Some("a15b79cc"), None]),
            &[
                m("coreutils-9.4-6.fc40"),
                m("bash-5.2.26-3.fc40"),
                m("coreutils-9.4-6.fc40"),
            ],
        );
        assert_eq!(
            err.to_string(),
            "RPM(s) not found for sigs: ('a15b79cc', None). Check log for details. Unsigned packages:\n\
             bash-5.2.26-3.fc40\ncoreutils-9.4-6.fc40"
        );
        assert_eq!(python_tuple(&keys(&[Some("a15b79cc")])), "('a15b79cc',)");
        assert_eq!(python_tuple(&keys(&[Some("")])), "('',)");
        assert_eq!(python_tuple(&[]), "()");
        assert_eq!(python_tuple(&keys(&[Some("it's")])), "(\"it's\",)");
    }
}
