//! Rendering one package's entries of primary.xml, filelists.xml and other.xml,
//! laid out as createrepo_c lays them out (2-space indent, `<package>` at column
//! 0, attributes in its order), so a diff against createrepo_c's output is
//! readable.

use std::fmt::Write as _;

use crate::rpm::{Dependency, PackageMeta, is_primary_file};

pub const PRIMARY_NS: &str = r#"xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm""#;
pub const FILELISTS_NS: &str = r#"xmlns="http://linux.duke.edu/metadata/filelists""#;
pub const OTHER_NS: &str = r#"xmlns="http://linux.duke.edu/metadata/other""#;

/// Text content: `&`, `<`, `>` escaped; carriage returns as a reference so they
/// survive XML end-of-line normalisation.
pub fn escape_text(s: &str, out: &mut String) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Attribute values: also quotes and whitespace characters that attribute
/// normalisation would otherwise turn into spaces.
pub fn escape_attr(s: &str, out: &mut String) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\n' => "&#10;",
            '\r' => "&#13;",
            '\t' => "&#9;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

fn text_element(out: &mut String, indent: &str, tag: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    out.push('>');
    escape_text(value, out);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_attr(value, out);
    out.push('"');
}

fn version_element(out: &mut String, pkg: &PackageMeta) {
    let _ = write!(out, "  <version epoch=\"{}\"", pkg.epoch.unwrap_or(0));
    attr(out, "ver", &pkg.version);
    attr(out, "rel", &pkg.release);
    out.push_str("/>\n");
}

/// Where the package is, as `<location>` says it.
#[derive(Clone, Copy, Debug)]
pub struct Location<'a> {
    /// `href`, already including any location prefix.
    pub href: &'a str,
    /// `xml:base`, if any.
    pub base: Option<&'a str>,
}

fn dependency_list(out: &mut String, tag: &str, deps: &[Dependency], with_pre: bool) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{tag}>");
    for d in deps {
        out.push_str("      <rpm:entry");
        attr(out, "name", &d.name);
        if let Some(word) = d.flags_word() {
            attr(out, "flags", word);
            // The version string was validated when the header was read.
            if let Ok(Some(evr)) = d.evr() {
                let _ = write!(out, " epoch=\"{}\"", evr.epoch.unwrap_or(0));
                if !evr.version.is_empty() {
                    attr(out, "ver", &evr.version);
                }
                if let Some(rel) = evr.release.as_deref().filter(|r| !r.is_empty()) {
                    attr(out, "rel", rel);
                }
            }
        }
        if with_pre && d.is_pre() {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{tag}>");
}

fn file_element(out: &mut String, indent: &str, f: crate::rpm::FileEntry<'_>) {
    out.push_str(indent);
    out.push_str("<file");
    if let Some(t) = f.kind.attr() {
        attr(out, "type", t);
    }
    out.push('>');
    escape_text(f.path, out);
    out.push_str("</file>\n");
}

pub fn primary_package(out: &mut String, pkg: &PackageMeta, loc: Location<'_>) {
    out.push_str("<package type=\"rpm\">\n");
    text_element(out, "  ", "name", &pkg.name);
    text_element(out, "  ", "arch", &pkg.arch);
    version_element(out, pkg);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        pkg.checksum
    );
    text_element(out, "  ", "summary", &pkg.summary);
    text_element(out, "  ", "description", &pkg.description);
    text_element(out, "  ", "packager", &pkg.packager);
    text_element(out, "  ", "url", &pkg.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        pkg.file_mtime, pkg.build_time
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        pkg.file_size, pkg.installed_size, pkg.archive_size
    );
    out.push_str("  <location");
    if let Some(base) = loc.base {
        attr(out, "xml:base", base);
    }
    attr(out, "href", loc.href);
    out.push_str("/>\n  <format>\n");
    text_element(out, "    ", "rpm:license", &pkg.license);
    text_element(out, "    ", "rpm:vendor", &pkg.vendor);
    text_element(out, "    ", "rpm:group", &pkg.group);
    text_element(out, "    ", "rpm:buildhost", &pkg.buildhost);
    text_element(out, "    ", "rpm:sourcerpm", &pkg.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        pkg.header_start, pkg.header_end
    );
    dependency_list(out, "provides", &pkg.provides, false);
    dependency_list(out, "requires", &pkg.requires, true);
    dependency_list(out, "conflicts", &pkg.conflicts, false);
    dependency_list(out, "obsoletes", &pkg.obsoletes, false);
    dependency_list(out, "suggests", &pkg.suggests, false);
    dependency_list(out, "enhances", &pkg.enhances, false);
    dependency_list(out, "recommends", &pkg.recommends, false);
    dependency_list(out, "supplements", &pkg.supplements, false);
    for f in pkg.files.iter().filter(|f| is_primary_file(f.path)) {
        file_element(out, "    ", f);
    }
    out.push_str("  </format>\n</package>\n");
}

fn package_open(out: &mut String, pkg: &PackageMeta) {
    out.push_str("<package");
    attr(out, "pkgid", &pkg.checksum);
    attr(out, "name", &pkg.name);
    attr(out, "arch", &pkg.arch);
    out.push_str(">\n");
    version_element(out, pkg);
}

pub fn filelists_package(out: &mut String, pkg: &PackageMeta) {
    package_open(out, pkg);
    for f in pkg.files.iter() {
        file_element(out, "  ", f);
    }
    out.push_str("</package>\n");
}

/// other.xml entry: the newest `changelog_limit` changelog entries (`None`: all),
/// oldest first; entries that share a date get the newer ones bumped by a second
/// each, as createrepo_c does, so dates stay distinct.
pub fn other_package(out: &mut String, pkg: &PackageMeta, changelog_limit: Option<usize>) {
    package_open(out, pkg);
    let n = changelog_limit
        .unwrap_or(usize::MAX)
        .min(pkg.changelogs.len());
    // header order is newest first; written oldest first
    let taken = &pkg.changelogs[..n];
    let mut dates: Vec<u64> = taken.iter().map(|c| c.date).collect();
    // walking from newest to oldest: when an entry has the same date as the one
    // before it (newer), the newer run is bumped up by one second each
    let mut last = 0u64;
    for (i, c) in taken.iter().enumerate() {
        let t = c.date;
        if i > 0 && t == last {
            for (expect, d) in (t..).zip(dates[..i].iter_mut().rev()) {
                if *d != expect {
                    break;
                }
                *d += 1;
            }
        } else {
            last = t;
        }
    }
    for (c, date) in taken.iter().zip(dates.iter()).rev() {
        out.push_str("  <changelog");
        attr(out, "author", &c.author);
        let _ = write!(out, " date=\"{date}\">");
        escape_text(&c.text, out);
        out.push_str("</changelog>\n");
    }
    out.push_str("</package>\n");
}
