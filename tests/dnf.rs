//! dnf (libdnf + libsolv) reads our repositories: it reports exactly what it
//! reports over createrepo_c's repository of the same RPMs, and it resolves and
//! downloads (checksums verified) an install transaction from ours.

mod common;

use std::path::Path;

use odcs::rpm::build::PackageSpec;

const QUERY: &str = "==%{name}-%{epoch}:%{version}-%{release}.%{arch} src=%{sourcerpm} size=%{size} \
download=%{downloadsize} installed=%{installsize} built=%{buildtime} location=%{location}\n\
REQ:%{requires}\nPROV:%{provides}\nCONF:%{conflicts}\nOBS:%{obsoletes}\nREC:%{recommends}\n\
SUG:%{suggests}\nSUP:%{supplements}\nENH:%{enhances}\nFILES:%{files}";

fn repoquery(repo: &Path, args: &[&str]) -> String {
    let root = tempfile::tempdir().unwrap();
    let out = common::dnf(
        &format!("file://{}", repo.display()),
        root.path(),
        &[&["repoquery"], args].concat(),
    );
    assert!(
        out.status.success(),
        "dnf repoquery over {} failed:\n{}",
        repo.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dnf_reports_the_same_packages_over_ours_and_createrepo_cs() {
    for (set, fill) in common::fixture_sets() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("repo");
        fill(&dir);
        // createrepo_c's repository: its own copy of the RPMs, so dnf's
        // `location` (the local path) reads the same in both
        let theirs = tmp.path().join("theirs/repo");
        std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
        fill(&theirs);
        common::createrepo_c(&theirs, &theirs, &[]);
        // zstd for the query, gzip (multi-member, one per chunk) for changelogs
        for (args, compress) in [
            (&["--qf", QUERY][..], "zstd"),
            (&["--changelogs"][..], "gzip"),
        ] {
            common::odcs_createrepo(&dir, &["--compress", compress]);
            let ours = repoquery(&dir, args).replace(&dir.display().to_string(), "REPO");
            let reference = repoquery(&theirs, args).replace(&theirs.display().to_string(), "REPO");
            assert!(
                ours.matches("==").count() >= 4 || args[0] == "--changelogs",
                "{set}: dnf saw too few packages:\n{ours}"
            );
            assert!(
                !ours.trim().is_empty(),
                "{set}: dnf {args:?} printed nothing"
            );
            assert_eq!(
                ours, reference,
                "{set}: dnf {args:?} differs between our repodata and createrepo_c's"
            );
        }
    }
}

#[test]
fn dnf_resolves_and_downloads_an_install_transaction_from_our_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    // rpmbuild packages plus a base package that provides what they need from
    // a distribution (a shell and glibc symbols)
    common::copy_rpms(common::rpmbuild_rpms(), &repo);
    PackageSpec::parse("base-1-1.x86_64")
        .unwrap()
        .provides("libc.so.6(GLIBC_2.14)(64bit)")
        .file("/bin/sh", b"#!".to_vec())
        .write_to(&repo)
        .unwrap();
    // and a generated universe, in subdirectories
    for s in odcs::rpm::corpus::corpus(300, 42) {
        let sub = repo.join("Packages").join(&s.name[..1]);
        std::fs::create_dir_all(&sub).unwrap();
        s.write_to(&sub).unwrap();
    }
    common::odcs_createrepo(&repo, &["--compress", "zstd"]);

    let apps: Vec<String> = odcs::rpm::corpus::corpus(300, 42)
        .into_iter()
        .filter(|s| s.files.iter().any(|(p, _)| p.starts_with("/usr/bin/")) && s.name != "bash")
        .take(5)
        .map(|s| s.name)
        .collect();
    let root = tmp.path().join("root");
    let dest = tmp.path().join("downloads");
    let mut args = vec![
        "install",
        "--downloadonly",
        "--setopt=install_weak_deps=False",
    ];
    let destdir = format!("--destdir={}", dest.display());
    args.push(&destdir);
    args.extend(["alpha", "gamma", "alpha-doc"]);
    args.extend(apps.iter().map(String::as_str));
    let out = common::dnf(&format!("file://{}", repo.display()), &root, &args);
    assert!(
        out.status.success(),
        "dnf install failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for want in [
        "alpha-1.0^git1-3.x86_64.rpm",
        "alpha-libs-1.0^git1-3.x86_64.rpm",
        "beta-0.9~rc2-1.noarch.rpm",
        "gamma-1.0-1.x86_64.rpm",
        "base-1-1.x86_64.rpm",
    ] {
        assert!(
            got.iter().any(|g| g == want),
            "{want} not in the transaction: {got:?}"
        );
    }
    for app in &apps {
        assert!(
            got.iter().any(|g| g.starts_with(&format!("{app}-"))),
            "{app} not in the transaction: {got:?}"
        );
    }
    assert!(
        got.iter().any(|g| g.starts_with("glibc-")),
        "dependency closure pulled no glibc: {got:?}"
    );
}
