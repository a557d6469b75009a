//! Our repodata against createrepo_c's, over the same RPMs, parsed and compared
//! field by field.
//!
//! Allowed differences, each with its reason:
//! - createrepo_c 0.17 also writes `primary_db`, `filelists_db`, `other_db`
//!   (sqlite): dnf never reads them and Pungi passes `--no-database`.
//! - Compression: ours is zstd by default (createrepo_c ≥ 1.0's default), Debian's
//!   createrepo_c writes gzip; with `--compress gzip` both are gzip.
//! - `revision` and `timestamp`: the time of the run.
//! - The uncompressed text differs only where libxml2 writes a non-ASCII
//!   character of an attribute as a character reference (`Jos&#xE9;`): the
//!   parsed value is the same, so only the open-checksum of that file differs.

mod common;

use std::path::Path;

use odcs::repodata::read::{Package, Repo, read_repo};

fn first_difference(ours: &Package, theirs: &Package) -> Option<String> {
    let (a, b) = (format!("{ours:#?}"), format!("{theirs:#?}"));
    if a == b {
        return None;
    }
    let (la, lb): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let i = la
        .iter()
        .zip(&lb)
        .position(|(x, y)| x != y)
        .unwrap_or(la.len().min(lb.len()));
    let ctx = |l: &[&str]| l[i.saturating_sub(3)..(i + 3).min(l.len())].join("\n");
    Some(format!("ours:\n{}\ncreaterepo_c:\n{}", ctx(&la), ctx(&lb)))
}

/// Compare two repositories; `text_may_differ` lists records whose uncompressed
/// text may differ in spelling (see the module doc).
fn assert_same_repo(set: &str, ours: &Repo, theirs: &Repo, text_may_differ: &[&str]) {
    let kinds = |r: &Repo| {
        let mut k: Vec<String> = r
            .records
            .iter()
            .map(|r| r.kind.clone())
            .filter(|k| !k.ends_with("_db"))
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(ours), kinds(theirs), "{set}: repomd records");
    for kind in ["primary", "filelists", "other"] {
        let (a, b) = (ours.record(kind).unwrap(), theirs.record(kind).unwrap());
        if !text_may_differ.contains(&kind) {
            assert_eq!(
                a.open_checksum, b.open_checksum,
                "{set}: uncompressed {kind}.xml differs from createrepo_c's"
            );
            assert_eq!(a.open_size, b.open_size, "{set}: {kind} open-size");
        }
    }
    let hrefs = |r: &Repo| {
        r.packages
            .iter()
            .map(|p| p.location_href.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        hrefs(ours),
        hrefs(theirs),
        "{set}: packages and their order"
    );
    assert!(!ours.packages.is_empty(), "{set}: no packages");
    for (a, b) in ours.packages.iter().zip(&theirs.packages) {
        if let Some(diff) = first_difference(a, b) {
            panic!(
                "{set}: {} differs from createrepo_c's record\n{diff}",
                a.location_href
            );
        }
    }
}

fn compare_set(
    set: &str,
    fill: &dyn Fn(&Path),
    ours_args: &[&str],
    theirs_args: &[&str],
    text_may_differ: &[&str],
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    fill(&dir);
    let theirs_dir = tmp.path().join("createrepo_c");
    common::createrepo_c(&dir, &theirs_dir, theirs_args);
    common::odcs_createrepo(&dir, ours_args);
    let ours = read_repo(&dir).unwrap_or_else(|e| panic!("{set}: reading our repodata: {e}"));
    let theirs = read_repo(&theirs_dir).unwrap();
    assert_same_repo(set, &ours, &theirs, text_may_differ);
}

#[test]
fn repodata_matches_createrepo_c_field_by_field_for_every_fixture_set() {
    for (set, fill) in common::fixture_sets() {
        let differ: &[&str] = if set == "rpmbuild" { &["other"] } else { &[] };
        compare_set(set, &*fill, &[], &[], differ);
    }
}

#[test]
fn gzip_location_prefix_baseurl_and_changelog_limit_match_createrepo_c() {
    let opts = [
        "--location-prefix",
        "http://mirror.example.org/pub",
        "--baseurl",
        "http://base.example.org/repo/",
        "--changelog-limit",
        "3",
    ];
    let ours: Vec<&str> = ["--compress", "gzip"]
        .iter()
        .chain(opts.iter())
        .copied()
        .collect();
    for (set, fill) in common::fixture_sets() {
        let differ: &[&str] = if set == "rpmbuild" { &["other"] } else { &[] };
        compare_set(set, &*fill, &ours, &opts, differ);
    }
}

#[test]
fn source_and_debuginfo_rpms_are_described_as_createrepo_c_does() {
    // regression guard for what createrepo_rs 0.1.9 gets wrong on these files (#2)
    let tmp = tempfile::tempdir().unwrap();
    common::copy_rpms(&common::fedora_rpms(), tmp.path());
    common::odcs_createrepo(tmp.path(), &[]);
    let repo = read_repo(tmp.path()).unwrap();
    let src = repo
        .packages
        .iter()
        .find(|p| p.location_href == "ed-1.14.1-2.module_fd8ca23e.src.rpm")
        .unwrap();
    assert_eq!(src.arch, "src");
    assert_eq!(src.sourcerpm, "");
    assert_ne!(src.size_installed, "0");
    assert_eq!(
        (src.header_start.as_str(), src.header_end.as_str()),
        ("4424", "12326")
    );
    for p in &repo.packages {
        assert!(
            p.requires.iter().all(|r| !r.name.starts_with("rpmlib(")),
            "{}: rpmlib() require in primary",
            p.location_href
        );
        for f in &p.primary_files {
            assert!(
                odcs::rpm::is_primary_file(&f.path),
                "{}: {} is not a primary file",
                p.location_href,
                f.path
            );
        }
    }
    let bin = repo
        .packages
        .iter()
        .find(|p| p.location_href == "ed-1.14.1-2.module_fd8ca23e.x86_64.rpm")
        .unwrap();
    assert_eq!(bin.sourcerpm, "ed-1.14.1-2.module_fd8ca23e.src.rpm");
    let primary = repo.record("primary").unwrap();
    assert!(
        primary
            .href
            .starts_with(&format!("repodata/{}-primary.xml.zst", primary.checksum)),
        "content-addressed name: {}",
        primary.href
    );
}

/// Our repodata for the Fedora RPMs of ../shared/fixtures as insta snapshots
/// (tests/snapshots/): a changed snapshot is a changed format, to review. The
/// files' mtimes are fixed (primary records them); repomd's timestamps and
/// revision (the time of the run) and the checksums, sizes and names of the
/// compressed files (see below) are redacted.
#[test]
fn repomd_and_primary_of_the_fedora_rpms_match_their_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    common::copy_rpms(&common::fedora_rpms(), tmp.path());
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    for e in std::fs::read_dir(tmp.path()).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(e.unwrap().path())
            .unwrap();
        f.set_modified(mtime).unwrap();
    }
    common::odcs_createrepo(tmp.path(), &[]);
    let repomd = std::fs::read_to_string(tmp.path().join("repodata/repomd.xml")).unwrap();
    let time = regex_lite::Regex::new(r"<(timestamp|revision)>\d+</").unwrap();
    let repomd = time.replace_all(&repomd, "<$1>[time]</").into_owned();
    // the compressed files are cut into frames at boundaries that depend on
    // the files' identities (inode numbers among them), so their bytes vary
    // from copy to copy; the uncompressed content (open-*) may not
    let compressed =
        regex_lite::Regex::new(r#"(<checksum type="sha256">|<size>|href="repodata/)[0-9a-f]+"#)
            .unwrap();
    let repomd = compressed
        .replace_all(&repomd, "$1[compressed]")
        .into_owned();
    let repo = read_repo(tmp.path()).unwrap();
    let primary = repo.record("primary").unwrap();
    let file = std::fs::File::open(tmp.path().join(&primary.href)).unwrap();
    let primary = String::from_utf8(zstd::decode_all(file).unwrap()).unwrap();
    insta::with_settings!({omit_expression => true}, {
        insta::assert_snapshot!("repomd_fedora_rpms", repomd);
        insta::assert_snapshot!("primary_fedora_rpms", primary);
    });
}
