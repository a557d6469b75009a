//! Reading a repository's metadata back: repomd.xml, then primary, filelists and
//! other, verifying every record's checksum and size as librepo does.
//!
//! Used by the tests (our output against createrepo_c's, field by field) and by
//! composes that read existing repositories (lookaside repos, #3). Values are kept
//! as the XML spells them, so a comparison sees exactly what a client sees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use sha2::{Digest, Sha256};

use super::compress::decompress_limited;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid XML: {message}")]
    Xml { path: PathBuf, message: String },
    #[error("{path}: {what} mismatch: repomd.xml says {expected}, file has {actual}")]
    Mismatch {
        path: PathBuf,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{path}: repomd.xml has no {kind} record")]
    MissingRecord { path: PathBuf, kind: &'static str },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub kind: String,
    pub href: String,
    pub checksum: String,
    pub open_checksum: Option<String>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
}

/// A dependency entry as written: attribute values verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dep {
    pub name: String,
    pub flags: Option<String>,
    pub epoch: Option<String>,
    pub ver: Option<String>,
    pub rel: Option<String>,
    pub pre: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct File {
    pub path: String,
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangelogEntry {
    pub author: String,
    pub date: String,
    pub text: String,
}

/// One package as primary, filelists and other describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub epoch: String,
    pub ver: String,
    pub rel: String,
    pub checksum: String,
    pub checksum_type: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    pub time_file: String,
    pub time_build: String,
    pub size_package: String,
    pub size_installed: String,
    pub size_archive: String,
    pub location_href: String,
    pub location_base: Option<String>,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    pub header_start: String,
    pub header_end: String,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub recommends: Vec<Dep>,
    pub suggests: Vec<Dep>,
    pub supplements: Vec<Dep>,
    pub enhances: Vec<Dep>,
    /// `<file>` entries of primary.xml
    pub primary_files: Vec<File>,
    /// every `<file>` of filelists.xml
    pub files: Vec<File>,
    pub changelogs: Vec<ChangelogEntry>,
}

#[derive(Clone, Debug, Default)]
pub struct Repo {
    pub revision: Option<String>,
    pub records: Vec<Record>,
    /// In primary.xml order.
    pub packages: Vec<Package>,
}

impl Repo {
    pub fn record(&self, kind: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.kind == kind)
    }
}

fn xml_err(path: &Path, e: impl std::fmt::Display) -> ReadError {
    ReadError::Xml {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn attrs(e: &BytesStart<'_>, path: &Path) -> Result<HashMap<String, String>, ReadError> {
    let mut out = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|e| xml_err(path, e))?;
        let key = a.key.as_ref().to_owned();
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| xml_err(path, e))?;
        out.insert(key, value.into_owned());
    }
    Ok(out)
}

/// Walk a document, calling `on_start(name, attrs)` for each element start (and
/// empty element), and `on_end(name, text)` with the element's text content.
enum Ev<'a> {
    Start(&'a str, HashMap<String, String>),
    End(&'a str, String),
}

fn walk(
    doc: &str,
    path: &Path,
    mut on: impl FnMut(Ev<'_>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut reader = Reader::from_str(doc);
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| xml_err(path, e))? {
            Event::Start(e) => {
                text.clear();
                let name = e.name().as_ref().to_owned();
                on(Ev::Start(&name, attrs(&e, path)?))?;
            }
            Event::Empty(e) => {
                let name = e.name().as_ref().to_owned();
                on(Ev::Start(&name, attrs(&e, path)?))?;
                on(Ev::End(&name, String::new()))?;
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(t.as_ref()),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| xml_err(path, e))? {
                    text.push(c);
                } else {
                    let name = r.xml10_content();
                    let c = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| xml_err(path, format!("unknown entity &{name};")))?;
                    text.push_str(c);
                }
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_owned();
                on(Ev::End(&name, std::mem::take(&mut text)))?;
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

fn take(a: &mut HashMap<String, String>, k: &str) -> String {
    a.remove(k).unwrap_or_default()
}

fn dep(mut a: HashMap<String, String>) -> Dep {
    Dep {
        name: take(&mut a, "name"),
        flags: a.remove("flags"),
        epoch: a.remove("epoch"),
        ver: a.remove("ver"),
        rel: a.remove("rel"),
        pre: a.get("pre").is_some_and(|v| v == "1"),
    }
}

/// Read and verify one record's file; returns its uncompressed text.
fn read_record(repo_dir: &Path, rec: &Record, max: u64) -> Result<String, ReadError> {
    let path = repo_dir.join(&rec.href);
    let io = |source| ReadError::Io {
        path: path.clone(),
        source,
    };
    let size = std::fs::metadata(&path).map_err(io)?.len();
    if size > max {
        return Err(io(std::io::Error::other(format!(
            "{size} bytes, more than the {max} allowed"
        ))));
    }
    let data = std::fs::read(&path).map_err(io)?;
    let check = |what, expected: &str, actual: String| {
        if expected == actual {
            Ok(())
        } else {
            Err(ReadError::Mismatch {
                path: path.clone(),
                what,
                expected: expected.to_owned(),
                actual,
            })
        }
    };
    check(
        "checksum",
        &rec.checksum,
        hex::encode(Sha256::digest(&data)),
    )?;
    if let Some(size) = rec.size {
        check("size", &size.to_string(), data.len().to_string())?;
    }
    let open = decompress_limited(&data, max).map_err(|source| ReadError::Io {
        path: path.clone(),
        source,
    })?;
    if let Some(oc) = &rec.open_checksum {
        check("open-checksum", oc, hex::encode(Sha256::digest(&open)))?;
    }
    if let Some(os) = rec.open_size {
        check("open-size", &os.to_string(), open.len().to_string())?;
    }
    String::from_utf8(open).map_err(|e| xml_err(&path, e))
}

/// Read `repo_dir/repodata/repomd.xml` only: the revision and the records.
pub fn read_repomd(repo_dir: &Path) -> Result<Repo, ReadError> {
    let repomd_path = repo_dir.join("repodata/repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path).map_err(|source| ReadError::Io {
        path: repomd_path.clone(),
        source,
    })?;
    parse_repomd(&repomd, &repomd_path)
}

/// [`read_repomd`] of the text of a repomd.xml (`repomd_path` names it in
/// errors).
pub fn parse_repomd(repomd: &str, repomd_path: &Path) -> Result<Repo, ReadError> {
    let repomd_path = repomd_path.to_owned();
    let mut repo = Repo::default();
    let mut cur = Record::default();
    walk(repomd, &repomd_path, |ev| match ev {
        Ev::Start(name, mut a) => {
            match name {
                "data" => {
                    cur = Record {
                        kind: take(&mut a, "type"),
                        ..Record::default()
                    }
                }
                "location" => cur.href = take(&mut a, "href"),
                _ => {}
            }
            Ok(())
        }
        Ev::End(name, text) => {
            match name {
                "revision" => repo.revision = Some(text),
                "checksum" => cur.checksum = text,
                "open-checksum" => cur.open_checksum = Some(text),
                "size" => cur.size = text.parse().ok(),
                "open-size" => cur.open_size = text.parse().ok(),
                "timestamp" => cur.timestamp = text.parse().ok(),
                "data" => repo.records.push(std::mem::take(&mut cur)),
                _ => {}
            }
            Ok(())
        }
    })?;
    Ok(repo)
}

/// Read `repo_dir/repodata/repomd.xml` and the primary, filelists and other
/// records it names.
pub fn read_repo(repo_dir: &Path) -> Result<Repo, ReadError> {
    read_repo_limited(repo_dir, u64::MAX)
}

/// [`read_repo`], refusing a metadata file larger than `max` bytes, on disk
/// or decompressed (a repository from elsewhere).
pub fn read_repo_limited(repo_dir: &Path, max: u64) -> Result<Repo, ReadError> {
    let repomd_path = repo_dir.join("repodata/repomd.xml");
    let mut repo = read_repomd(repo_dir)?;

    let record = |kind: &'static str| {
        repo.record(kind)
            .cloned()
            .ok_or_else(|| ReadError::MissingRecord {
                path: repomd_path.clone(),
                kind,
            })
    };
    let (primary, filelists, other) = (record("primary")?, record("filelists")?, record("other")?);

    let primary_path = repo_dir.join(&primary.href);
    let mut packages = parse_primary(&read_record(repo_dir, &primary, max)?, &primary_path)?;
    let mut index: HashMap<(String, String, String), Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate() {
        index
            .entry((p.checksum.clone(), p.name.clone(), p.arch.clone()))
            .or_default()
            .push(i);
    }

    // filelists and other: attach to the primary package with the same pkgid
    // (and name and arch: duplicate files share a pkgid)
    let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
    for (rec, is_files) in [(&filelists, true), (&other, false)] {
        seen.clear();
        let path = repo_dir.join(&rec.href);
        let doc = read_record(repo_dir, rec, max)?;
        let mut target: Option<usize> = None;
        let mut file_kind: Option<String> = None;
        let mut cl: Option<(String, String)> = None;
        walk(&doc, &path, |ev| match ev {
            Ev::Start(name, mut a) => {
                match name {
                    "package" => {
                        let key = (
                            take(&mut a, "pkgid"),
                            take(&mut a, "name"),
                            take(&mut a, "arch"),
                        );
                        // the n-th entry with this key goes to the n-th such package
                        let nth = seen.entry(key.clone()).or_insert(0);
                        target = index.get(&key).and_then(|v| v.get(*nth)).copied();
                        if target.is_none() {
                            return Err(xml_err(
                                &path,
                                format!(
                                    "package {} ({}.{}) is not in primary",
                                    key.0, key.1, key.2
                                ),
                            ));
                        }
                        *nth += 1;
                    }
                    "file" => file_kind = a.remove("type"),
                    "changelog" => cl = Some((take(&mut a, "author"), take(&mut a, "date"))),
                    _ => {}
                }
                Ok(())
            }
            Ev::End(name, text) => {
                let Some(t) = target else { return Ok(()) };
                match name {
                    "file" if is_files => packages[t].files.push(File {
                        path: text,
                        kind: file_kind.take(),
                    }),
                    "changelog" if !is_files => {
                        let (author, date) = cl.take().unwrap_or_default();
                        packages[t]
                            .changelogs
                            .push(ChangelogEntry { author, date, text });
                    }
                    _ => {}
                }
                Ok(())
            }
        })?;
    }
    repo.packages = packages;
    Ok(repo)
}

fn parse_primary(doc: &str, path: &Path) -> Result<Vec<Package>, ReadError> {
    let mut out = Vec::new();
    let mut p = Package::default();
    let mut list: Option<String> = None;
    let mut file_kind: Option<String> = None;
    let mut pending: Vec<Dep> = Vec::new();
    walk(doc, path, |ev| match ev {
        Ev::Start(name, mut a) => {
            match name {
                "package" => p = Package::default(),
                "version" => {
                    p.epoch = take(&mut a, "epoch");
                    p.ver = take(&mut a, "ver");
                    p.rel = take(&mut a, "rel");
                }
                "checksum" => p.checksum_type = take(&mut a, "type"),
                "time" => {
                    p.time_file = take(&mut a, "file");
                    p.time_build = take(&mut a, "build");
                }
                "size" => {
                    p.size_package = take(&mut a, "package");
                    p.size_installed = take(&mut a, "installed");
                    p.size_archive = take(&mut a, "archive");
                }
                "location" => {
                    p.location_href = take(&mut a, "href");
                    p.location_base = a.remove("xml:base");
                }
                "rpm:header-range" => {
                    p.header_start = take(&mut a, "start");
                    p.header_end = take(&mut a, "end");
                }
                "rpm:provides" | "rpm:requires" | "rpm:conflicts" | "rpm:obsoletes"
                | "rpm:recommends" | "rpm:suggests" | "rpm:supplements" | "rpm:enhances" => {
                    list = Some(name.to_owned())
                }
                "rpm:entry" => pending.push(dep(a)),
                "file" => file_kind = a.remove("type"),
                _ => {}
            }
            Ok(())
        }
        Ev::End(name, text) => {
            match name {
                "name" => p.name = text,
                "arch" => p.arch = text,
                "checksum" => p.checksum = text,
                "summary" => p.summary = text,
                "description" => p.description = text,
                "packager" => p.packager = text,
                "url" => p.url = text,
                "rpm:license" => p.license = text,
                "rpm:vendor" => p.vendor = text,
                "rpm:group" => p.group = text,
                "rpm:buildhost" => p.buildhost = text,
                "rpm:sourcerpm" => p.sourcerpm = text,
                "file" => p.primary_files.push(File {
                    path: text,
                    kind: file_kind.take(),
                }),
                "package" => out.push(std::mem::take(&mut p)),
                _ if Some(name) == list.as_deref() => {
                    let deps = std::mem::take(&mut pending);
                    match name {
                        "rpm:provides" => p.provides = deps,
                        "rpm:requires" => p.requires = deps,
                        "rpm:conflicts" => p.conflicts = deps,
                        "rpm:obsoletes" => p.obsoletes = deps,
                        "rpm:recommends" => p.recommends = deps,
                        "rpm:suggests" => p.suggests = deps,
                        "rpm:supplements" => p.supplements = deps,
                        _ => p.enhances = deps,
                    }
                    list = None;
                }
                _ => {}
            }
            Ok(())
        }
    })?;
    Ok(out)
}

impl Package {
    /// The whole record repodata gives of the package, changelogs included:
    /// what a compose writes into its own repodata for it when it takes the
    /// repository's word for the file (a `repo` source with repodata).
    pub fn to_record(&self) -> crate::rpm::PackageMeta {
        let mut meta = self.to_meta();
        meta.changelogs = self
            .changelogs
            .iter()
            .map(|c| crate::rpm::Changelog {
                author: c.author.clone(),
                date: c.date.parse().unwrap_or(0),
                text: c.text.clone(),
            })
            .collect();
        meta
    }

    /// A record for dependency resolution from what repodata says (lookaside
    /// repositories): identity, dependencies and files; sizes and texts only as
    /// far as the XML has them.
    pub fn to_meta(&self) -> crate::rpm::PackageMeta {
        use crate::rpm::{Dependency, FileEntry, FileKind, PackageMeta, sense};
        let deps = |v: &[Dep]| -> Vec<Dependency> {
            v.iter()
                .map(|d| {
                    let flags = match d.flags.as_deref() {
                        Some("LT") => sense::LESS,
                        Some("LE") => sense::LESS | sense::EQUAL,
                        Some("EQ") => sense::EQUAL,
                        Some("GE") => sense::GREATER | sense::EQUAL,
                        Some("GT") => sense::GREATER,
                        _ => 0,
                    } | if d.pre { sense::PREREQ } else { 0 };
                    let mut version = String::new();
                    if let Some(v) = &d.ver {
                        if let Some(e) = d.epoch.as_deref().filter(|e| *e != "0") {
                            version.push_str(e);
                            version.push(':');
                        }
                        version.push_str(v);
                        if let Some(r) = &d.rel {
                            version.push('-');
                            version.push_str(r);
                        }
                    }
                    Dependency::new(d.name.clone(), flags, version)
                })
                .collect()
        };
        let files = if self.files.is_empty() {
            &self.primary_files
        } else {
            &self.files
        };
        PackageMeta {
            name: self.name.clone(),
            epoch: self.epoch.parse().ok(),
            version: self.ver.clone(),
            release: self.rel.clone(),
            arch: self.arch.clone(),
            is_source: self.arch == "src" || self.arch == "nosrc",
            checksum: self.checksum.clone(),
            header_digest: String::new(),
            sigmd5: None,
            summary: self.summary.clone(),
            description: self.description.clone(),
            packager: self.packager.clone(),
            url: self.url.clone(),
            build_time: self.time_build.parse().unwrap_or(0),
            file_size: self.size_package.parse().unwrap_or(0),
            file_mtime: self.time_file.parse().unwrap_or(0),
            installed_size: self.size_installed.parse().unwrap_or(0),
            archive_size: self.size_archive.parse().unwrap_or(0),
            license: self.license.clone(),
            vendor: self.vendor.clone(),
            group: self.group.clone(),
            buildhost: self.buildhost.clone(),
            sourcerpm: self.sourcerpm.clone(),
            header_start: self.header_start.parse().unwrap_or(0),
            header_end: self.header_end.parse().unwrap_or(0),
            provides: deps(&self.provides),
            requires: deps(&self.requires),
            conflicts: deps(&self.conflicts),
            obsoletes: deps(&self.obsoletes),
            recommends: deps(&self.recommends),
            suggests: deps(&self.suggests),
            supplements: deps(&self.supplements),
            enhances: deps(&self.enhances),
            files: files
                .iter()
                .map(|f| FileEntry {
                    path: &f.path,
                    kind: match f.kind.as_deref() {
                        Some("dir") => FileKind::Dir,
                        Some("ghost") => FileKind::Ghost,
                        _ => FileKind::File,
                    },
                })
                .collect(),
            changelogs: Vec::new(),
        }
    }
}
