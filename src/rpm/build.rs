//! Building real RPM files from a short declaration, for test fixtures, the
//! benchmark corpus and the demo store.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let spec = odcs::rpm::build::PackageSpec::parse("foo-1:1.0-1.x86_64")?
//!     .requires("bar >= 2")
//!     .provides("webserver")
//!     .file("/usr/bin/foo", b"#!/bin/sh\n".to_vec())
//!     .dir("/etc/foo")
//!     .ghost("/var/log/foo.log");
//! let path = spec.write_to(dir.path())?;
//! let meta = odcs::rpm::read_package(&path)?;
//! assert_eq!(meta.nevra(), "foo-1:1.0-1.x86_64");
//! # Ok(()) }
//! ```
//!
//! Packages are built with the `rpm` crate, which writes the package headers that
//! rpmbuild would (automatic `name = evr` provides, rpmlib() requires). It
//! always writes `SOURCERPM` as `(none)` and cannot make source RPMs, which the
//! Koji hub refuses to import (`invalid format: (none)`, formats.md §1.10); so
//! [`PackageSpec::write_to`] rewrites the main header afterwards, as rpmbuild
//! writes it: a binary package names its source RPM ([`PackageSpec::sourcerpm`]),
//! a package of arch `src` has no `SOURCERPM` but `SOURCEPACKAGE = 1` and a
//! source lead; the signature header's digests and size are computed again
//! over the new header. [`PackageSpec::source_package`] declares the source RPM
//! of a binary one.

use std::path::{Path, PathBuf};

use rpm_rs::{CompressionWithLevel, FileOptions};
use sha2::Digest;

use super::{Changelog, Dependency, FileEntry, FileKind, PackageMeta, sense};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("invalid package declaration {decl:?}: expected NAME-[EPOCH:]VERSION-RELEASE.ARCH")]
    BadNevra { decl: String },
    #[error("invalid dependency {decl:?}: expected NAME [<|<=|=|>=|> VERSION]")]
    BadDependency { decl: String },
    #[error("building {nevra}: {source}")]
    Rpm {
        nevra: String,
        #[source]
        source: rpm_rs::Error,
    },
}

#[derive(Clone, Debug)]
pub enum FileContent {
    Regular(Vec<u8>),
    Dir,
    Ghost,
}

/// A package to build, declared by NEVRA plus whatever else a test needs.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub license: String,
    pub url: Option<String>,
    pub vendor: Option<String>,
    pub packager: Option<String>,
    pub group: Option<String>,
    pub build_time: u32,
    pub requires: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    pub obsoletes: Vec<String>,
    pub recommends: Vec<String>,
    pub suggests: Vec<String>,
    pub supplements: Vec<String>,
    pub enhances: Vec<String>,
    pub files: Vec<(String, FileContent)>,
    /// (author line, text, time)
    pub changelog: Vec<(String, String, u32)>,
    /// Compress the payload (gzip); off by default since fixtures are tiny and
    /// the corpus generator wants speed.
    pub compress: bool,
    /// The `SOURCERPM` header of a binary package: by default
    /// `NAME-VERSION-RELEASE.src.rpm` of its own N-V-R, as rpmbuild names the
    /// source RPM of a package built from a spec file of the same name. `None`
    /// writes `(none)`, as the `rpm` crate does. Not written for arch `src`.
    pub sourcerpm: Option<String>,
}

impl PackageSpec {
    /// A package from its NEVRA (`foo-1.0-1.x86_64`, `foo-2:1.0-1.noarch`).
    pub fn parse(nevra: &str) -> Result<PackageSpec, BuildError> {
        let bad = || BuildError::BadNevra {
            decl: nevra.to_owned(),
        };
        let (nevr, arch) = nevra.rsplit_once('.').ok_or_else(bad)?;
        let (nev, release) = nevr.rsplit_once('-').ok_or_else(bad)?;
        let (name, ev) = nev.rsplit_once('-').ok_or_else(bad)?;
        let (epoch, version) = match ev.split_once(':') {
            Some((e, v)) => (Some(e.parse().map_err(|_| bad())?), v),
            None => (None, ev),
        };
        if [name, version, release, arch].iter().any(|s| s.is_empty()) {
            return Err(bad());
        }
        Ok(PackageSpec::bare(name, epoch, version, release, arch))
    }

    /// A package of this N-E-V-R.A with the defaults and nothing else.
    fn bare(
        name: &str,
        epoch: Option<u32>,
        version: &str,
        release: &str,
        arch: &str,
    ) -> PackageSpec {
        PackageSpec {
            name: name.to_owned(),
            epoch,
            version: version.to_owned(),
            release: release.to_owned(),
            arch: arch.to_owned(),
            summary: format!("The {name} package"),
            description: format!("{name} is a package built for ODCS tests."),
            license: "MIT".to_owned(),
            url: None,
            vendor: None,
            packager: None,
            group: None,
            build_time: 1_700_000_000,
            requires: vec![],
            provides: vec![],
            conflicts: vec![],
            obsoletes: vec![],
            recommends: vec![],
            suggests: vec![],
            supplements: vec![],
            enhances: vec![],
            files: vec![],
            changelog: vec![],
            compress: false,
            sourcerpm: Some(format!("{name}-{version}-{release}.src.rpm")),
        }
    }

    /// Whether this declares a source package (arch `src`).
    pub fn is_source(&self) -> bool {
        self.arch == "src"
    }

    /// The source RPM this binary package names: the same N-E-V-R, arch `src`,
    /// file name [`PackageSpec::sourcerpm`], holding a spec file. Its header
    /// is what Koji reads on import: name, epoch, version, release, build time.
    pub fn source_package(&self) -> PackageSpec {
        let file_name = self
            .sourcerpm
            .clone()
            .unwrap_or_else(|| format!("{}-{}-{}.src.rpm", self.name, self.version, self.release));
        let nvr = file_name.strip_suffix(".src.rpm").unwrap_or(&file_name);
        let (nv, release) = nvr.rsplit_once('-').unwrap_or((nvr, &self.release));
        let (name, version) = nv.rsplit_once('-').unwrap_or((nv, &self.version));
        let spec = format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\n{}Summary: {}\nLicense: {}\n\n%description\n{}\n",
            self.epoch
                .map(|e| format!("Epoch: {e}\n"))
                .unwrap_or_default(),
            self.summary,
            self.license,
            self.description,
        );
        // not `..self.clone()`, which would copy the binary's payload
        PackageSpec {
            summary: self.summary.clone(),
            description: self.description.clone(),
            license: self.license.clone(),
            url: self.url.clone(),
            vendor: self.vendor.clone(),
            packager: self.packager.clone(),
            group: self.group.clone(),
            build_time: self.build_time,
            files: vec![(
                format!("./{name}.spec"),
                FileContent::Regular(spec.into_bytes()),
            )],
            changelog: self.changelog.clone(),
            compress: self.compress,
            sourcerpm: None,
            ..PackageSpec::bare(name, self.epoch, version, release, "src")
        }
    }

    pub fn requires(mut self, dep: &str) -> Self {
        self.requires.push(dep.to_owned());
        self
    }
    pub fn provides(mut self, dep: &str) -> Self {
        self.provides.push(dep.to_owned());
        self
    }
    pub fn conflicts(mut self, dep: &str) -> Self {
        self.conflicts.push(dep.to_owned());
        self
    }
    pub fn obsoletes(mut self, dep: &str) -> Self {
        self.obsoletes.push(dep.to_owned());
        self
    }
    pub fn recommends(mut self, dep: &str) -> Self {
        self.recommends.push(dep.to_owned());
        self
    }
    pub fn suggests(mut self, dep: &str) -> Self {
        self.suggests.push(dep.to_owned());
        self
    }
    pub fn supplements(mut self, dep: &str) -> Self {
        self.supplements.push(dep.to_owned());
        self
    }
    pub fn enhances(mut self, dep: &str) -> Self {
        self.enhances.push(dep.to_owned());
        self
    }
    pub fn file(mut self, path: &str, content: Vec<u8>) -> Self {
        self.files
            .push((path.to_owned(), FileContent::Regular(content)));
        self
    }
    pub fn dir(mut self, path: &str) -> Self {
        self.files.push((path.to_owned(), FileContent::Dir));
        self
    }
    pub fn ghost(mut self, path: &str) -> Self {
        self.files.push((path.to_owned(), FileContent::Ghost));
        self
    }
    pub fn changelog(mut self, author: &str, text: &str, time: u32) -> Self {
        self.changelog
            .push((author.to_owned(), text.to_owned(), time));
        self
    }

    pub fn nevra(&self) -> String {
        match self.epoch {
            Some(e) => format!(
                "{}-{e}:{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
            None => format!(
                "{}-{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
        }
    }

    /// The file name rpmbuild would give the package.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// The record [`read_package`](super::read_package) would give for this
    /// package, without building it: for large in-memory universes (closure
    /// tests and benchmarks). Like rpmbuild, it adds the `name = [E:]V-R`
    /// self-provide; the checksum stands in for a file that does not exist.
    pub fn to_meta(&self) -> Result<PackageMeta, BuildError> {
        let evr = match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        };
        let deps = |decls: &[String]| -> Result<Vec<Dependency>, BuildError> {
            decls.iter().map(|d| spec_dependency(d)).collect()
        };
        let mut provides = deps(&self.provides)?;
        provides.push(Dependency::new(self.name.clone(), sense::EQUAL, evr));
        Ok(PackageMeta {
            name: self.name.clone(),
            epoch: self.epoch.map(u64::from),
            version: self.version.clone(),
            release: self.release.clone(),
            arch: self.arch.clone(),
            is_source: self.is_source(),
            checksum: hex::encode(sha2::Sha256::digest(self.nevra().as_bytes())),
            header_digest: hex::encode(sha2::Sha256::digest(format!("header {}", self.nevra()))),
            sigmd5: None,
            summary: self.summary.clone(),
            description: self.description.clone(),
            packager: self.packager.clone().unwrap_or_default(),
            url: self.url.clone().unwrap_or_default(),
            build_time: u64::from(self.build_time),
            file_size: 0,
            file_mtime: 0,
            installed_size: 0,
            archive_size: 0,
            license: self.license.clone(),
            vendor: self.vendor.clone().unwrap_or_default(),
            group: self.group.clone().unwrap_or_default(),
            buildhost: String::new(),
            sourcerpm: if self.is_source() {
                String::new()
            } else {
                self.sourcerpm
                    .clone()
                    .unwrap_or_else(|| "(none)".to_owned())
            },
            header_start: 0,
            header_end: 0,
            provides,
            requires: deps(&self.requires)?,
            conflicts: deps(&self.conflicts)?,
            obsoletes: deps(&self.obsoletes)?,
            recommends: deps(&self.recommends)?,
            suggests: deps(&self.suggests)?,
            supplements: deps(&self.supplements)?,
            enhances: deps(&self.enhances)?,
            files: self
                .files
                .iter()
                .map(|(path, c)| FileEntry {
                    path,
                    kind: match c {
                        FileContent::Regular(_) => FileKind::File,
                        FileContent::Dir => FileKind::Dir,
                        FileContent::Ghost => FileKind::Ghost,
                    },
                })
                .collect(),
            changelogs: self
                .changelog
                .iter()
                .rev()
                .map(|(author, text, time)| Changelog {
                    author: author.clone(),
                    date: u64::from(*time),
                    text: text.clone(),
                })
                .collect(),
        })
    }

    /// Build the package into `dir`; returns the path of the new file.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, BuildError> {
        let rpm_err = |source| BuildError::Rpm {
            nevra: self.nevra(),
            source,
        };
        let config = rpm_rs::BuildConfig::default()
            .source_date(self.build_time)
            .reserved_space(None)
            .compression(if self.compress {
                CompressionWithLevel::Gzip(6)
            } else {
                CompressionWithLevel::None
            });
        let mut b = rpm_rs::PackageBuilder::new(
            &self.name,
            &self.version,
            &self.license,
            &self.arch,
            &self.summary,
        );
        b.using_config(config)
            .release(self.release.clone())
            .description(self.description.clone());
        if let Some(e) = self.epoch {
            b.epoch(e);
        }
        if let Some(u) = &self.url {
            b.url(u.clone());
        }
        if let Some(v) = &self.vendor {
            b.vendor(v.clone());
        }
        if let Some(p) = &self.packager {
            b.packager(p.clone());
        }
        if let Some(g) = &self.group {
            b.group(g.clone());
        }
        b.build_host("odcs-fixtures.example.com");
        type Add =
            fn(&mut rpm_rs::PackageBuilder, rpm_rs::Dependency) -> &mut rpm_rs::PackageBuilder;
        let kinds: [(&Vec<String>, Add); 8] = [
            (&self.requires, rpm_rs::PackageBuilder::requires),
            (&self.provides, rpm_rs::PackageBuilder::provides),
            (&self.conflicts, rpm_rs::PackageBuilder::conflicts),
            (&self.obsoletes, rpm_rs::PackageBuilder::obsoletes),
            (&self.recommends, rpm_rs::PackageBuilder::recommends),
            (&self.suggests, rpm_rs::PackageBuilder::suggests),
            (&self.supplements, rpm_rs::PackageBuilder::supplements),
            (&self.enhances, rpm_rs::PackageBuilder::enhances),
        ];
        for (decls, add) in kinds {
            for d in decls {
                add(&mut b, parse_dependency(d)?);
            }
        }
        for (path, content) in &self.files {
            match content {
                FileContent::Regular(bytes) => {
                    b.with_file_contents(bytes.clone(), FileOptions::new(path.clone()))
                }
                FileContent::Dir => b.with_dir_entry(FileOptions::dir(path.clone())),
                FileContent::Ghost => b.with_ghost(FileOptions::ghost(path.clone())),
            }
            .map_err(rpm_err)?;
        }
        for (author, text, time) in &self.changelog {
            b.add_changelog_entry(author, text, *time);
        }
        let mut pkg = b.build().map_err(rpm_err)?;
        self.rewrite_source_headers(&mut pkg).map_err(rpm_err)?;
        let mut bytes = Vec::new();
        pkg.write(&mut bytes).map_err(rpm_err)?;
        if self.is_source() {
            // the lead's type (bytes 6-7): 1 for a source package; no digest
            // covers the lead
            bytes[6..8].copy_from_slice(&1u16.to_be_bytes());
        }
        let path = dir.join(self.file_name());
        std::fs::write(&path, &bytes).map_err(|e| rpm_err(e.into()))?;
        Ok(path)
    }

    /// Write `SOURCERPM` (binary) or `SOURCEPACKAGE` (source) into the built
    /// main header as rpmbuild does, and compute the signature header's
    /// header digests and header + payload size again.
    fn rewrite_source_headers(&self, pkg: &mut rpm_rs::Package) -> Result<(), rpm_rs::Error> {
        use rpm_rs::{HeaderEntry, IndexData, IndexSignatureTag, IndexTag};
        let region = IndexTag::RPMTAG_HEADERIMMUTABLE as u32;
        let sourcerpm = IndexTag::RPMTAG_SOURCERPM as u32;
        let mut entries: Vec<HeaderEntry> = pkg
            .metadata
            .header
            .get_all_entries()?
            .into_iter()
            .filter(|(tag, _)| *tag != region && *tag != sourcerpm)
            .map(|(tag, data)| HeaderEntry::new(tag, data))
            .collect();
        if self.is_source() {
            entries.push(HeaderEntry::new(
                IndexTag::RPMTAG_SOURCEPACKAGE as u32,
                IndexData::Int32(vec![1]),
            ));
        } else {
            let name = self
                .sourcerpm
                .clone()
                .unwrap_or_else(|| "(none)".to_owned());
            entries.push(HeaderEntry::new(sourcerpm, IndexData::StringTag(name)));
        }
        pkg.metadata.header =
            rpm_rs::Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
        let header = pkg.metadata.header_bytes()?;
        let signature = &pkg.metadata.signature;
        let had_size = signature.entry_is_present(IndexSignatureTag::RPMSIGTAG_SIZE as u32)
            || signature.entry_is_present(IndexSignatureTag::RPMSIGTAG_LONGSIZE as u32);
        let mut sig = rpm_rs::SignatureHeaderBuilder::from_existing(&pkg.metadata.signature)?
            .calculate_digests(&header);
        if had_size {
            sig = sig.set_content_length((header.len() + pkg.payload.len()) as u64);
        }
        pkg.metadata.signature = sig.build()?;
        Ok(())
    }
}

/// A declaration as a [`Dependency`] record.
fn spec_dependency(decl: &str) -> Result<Dependency, BuildError> {
    let decl = decl.trim();
    if decl.starts_with('(') {
        return Ok(Dependency::new(decl, 0, ""));
    }
    let parts: Vec<&str> = decl.split_whitespace().collect();
    let bad = || BuildError::BadDependency {
        decl: decl.to_owned(),
    };
    match parts.as_slice() {
        [name] => Ok(Dependency::new(*name, 0, "")),
        [name, op, ver] => {
            let flags = match *op {
                "<" => sense::LESS,
                "<=" => sense::LESS | sense::EQUAL,
                "=" | "==" => sense::EQUAL,
                ">=" => sense::GREATER | sense::EQUAL,
                ">" => sense::GREATER,
                _ => return Err(bad()),
            };
            Ok(Dependency::new(*name, flags, *ver))
        }
        _ => Err(bad()),
    }
}

/// `name`, `name = 1.0-1`, `name >= 2:1.0`, or a rich dependency `(a or b)`,
/// for the `rpm` crate's builder.
fn parse_dependency(decl: &str) -> Result<rpm_rs::Dependency, BuildError> {
    let d = spec_dependency(decl)?;
    let (name, ver) = (d.name, d.version);
    Ok(match d.flags & sense::MASK {
        sense::LESS => rpm_rs::Dependency::less(name, ver),
        x if x == sense::LESS | sense::EQUAL => rpm_rs::Dependency::less_eq(name, ver),
        sense::EQUAL => rpm_rs::Dependency::eq(name, ver),
        x if x == sense::GREATER | sense::EQUAL => rpm_rs::Dependency::greater_eq(name, ver),
        sense::GREATER => rpm_rs::Dependency::greater(name, ver),
        _ => rpm_rs::Dependency::any(name),
    })
}
