//! Shared test fixtures: real RPM sets and the reference tools (createrepo_c, dnf,
//! rpmbuild) that check what we write.
//!
//! The reference tools come from Debian (`scripts/test` installs them). A test
//! that needs one fails with a message saying how to get it, rather than passing
//! without having checked anything.
#![allow(dead_code)]

pub mod bus;
pub mod daemons;
pub mod debian;
pub mod kdc;
pub mod ldap;
pub mod mbs;
pub mod modulemd;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use odcs::rpm::build::PackageSpec;

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of an external tool, or a panic that says how to install it.
pub fn tool(name: &str) -> PathBuf {
    let debian_pkg = match name {
        "createrepo_c" => "createrepo-c",
        "dnf" => "dnf",
        "rpmbuild" | "rpm" => "rpm",
        "testsolv" => "libsolv-tools",
        other => other,
    };
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!("{name} is not installed: this test checks our output with it; run scripts/test (or apt-get install {debian_pkg})")
        })
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Our binary.
pub fn odcs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_odcs"))
}

/// Copy every `*.rpm` directly in `from` into `to`.
pub fn copy_rpms(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rpm") {
            let dest = to.join(p.file_name().unwrap());
            std::fs::copy(&p, &dest).unwrap();
            let mut perm = std::fs::metadata(&dest).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&dest, perm).unwrap();
        }
    }
}

/// The five real Fedora RPMs (binary, source, debuginfo of a module build) in
/// `../shared/fixtures/odcs-test-repo/`.
pub fn fedora_rpms() -> PathBuf {
    let p = manifest_dir().join("../shared/fixtures/odcs-test-repo");
    assert!(
        p.join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm").is_file(),
        "{} is missing: the shared fixtures must lie beside the repository",
        p.display()
    );
    p
}

/// RPMs built by rpmbuild from `fixtures/specs/*.spec` (binary and source),
/// built once for all test processes under cargo's target tmp dir (keyed by
/// the specs' content), made visible by one rename.
pub fn rpmbuild_rpms() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let specs = manifest_dir().join("fixtures/specs");
        let mut names: Vec<_> = std::fs::read_dir(&specs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "spec"))
            .collect();
        names.sort();
        let mut key = Vec::new();
        for spec in &names {
            key.extend(std::fs::read(spec).unwrap());
        }
        let digest = {
            use sha2::Digest;
            hex::encode(&sha2::Sha256::digest(&key)[..8])
        };
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = base.join(format!("rpmbuild-fixtures-{digest}"));
        if out.is_dir() {
            return out;
        }
        let rpmbuild = tool("rpmbuild");
        let top = tempfile::Builder::new()
            .prefix("rpmbuild-")
            .tempdir_in(&base)
            .unwrap();
        let staged = top.path().join("out");
        std::fs::create_dir_all(&staged).unwrap();
        for spec in &names {
            run_ok(
                Command::new(&rpmbuild)
                    .arg("-ba")
                    .arg("--nodeps")
                    .arg("--define")
                    .arg(format!("_topdir {}", top.path().display()))
                    .args([
                        "--define",
                        "debug_package %{nil}",
                        "--define",
                        "__os_install_post %{nil}",
                    ])
                    .args(["--define", "_buildhost fixtures.odcs.test"])
                    .arg(spec)
                    .env("SOURCE_DATE_EPOCH", "1704067200"),
            );
        }
        for sub in ["RPMS/x86_64", "RPMS/noarch", "SRPMS"] {
            if top.path().join(sub).is_dir() {
                copy_rpms(&top.path().join(sub), &staged);
            }
        }
        // another test process may have finished first: either copy is fine
        if std::fs::rename(&staged, &out).is_err() && !out.is_dir() {
            panic!("cannot publish the rpmbuild fixtures in {}", out.display());
        }
        out
    })
}

/// A set made with our fixture builder: epochs, every dependency kind, dir and
/// ghost files, primary and non-primary paths, many changelog entries.
pub fn builder_specs() -> Vec<PackageSpec> {
    let p = |s: &str| PackageSpec::parse(s).unwrap();
    let mut big = p("delta-3:2.5-1.fc40.x86_64")
        .requires("epsilon >= 1.0")
        .requires("/usr/bin/epsilon")
        .requires("/usr/share/delta/own")
        .requires("/usr/share/epsilon/payload")
        .requires("libepsilon.so.1()(64bit)")
        .requires("(epsilon or zeta)")
        .provides("delta-api = 3:2.5")
        .provides("delta-api(x) = 1")
        .conflicts("zeta < 0.5")
        .obsoletes("delta-old <= 2.0-1")
        .recommends("zeta")
        .suggests("zeta-doc")
        .supplements("(epsilon and zeta)")
        .enhances("epsilon")
        .file("/usr/bin/delta", b"#!/bin/sh\necho delta\n".to_vec())
        .file("/usr/share/delta/own", b"data".to_vec())
        .file("/usr/libexec/delta/bin/helper", b"x".to_vec())
        .dir("/etc/delta")
        .file("/etc/delta/delta.conf", b"k=v\n".to_vec())
        .ghost("/var/lib/delta/state");
    for i in 0..14u32 {
        // entries 3..6 share a date
        let t = if (3..6).contains(&i) {
            1_699_000_000
        } else {
            1_690_000_000 + i * 100_000
        };
        big = big.changelog(
            &format!("Dev {i} <dev{i}@example.org> - 2.5-{i}"),
            &format!("- change {i}"),
            t,
        );
    }
    vec![
        big,
        p("epsilon-1.2-3.fc40.x86_64")
            .provides("libepsilon.so.1()(64bit)")
            .file("/usr/bin/epsilon", b"e".to_vec())
            .file("/usr/lib64/libepsilon.so.1", b"lib".to_vec())
            .file("/usr/share/epsilon/payload", vec![7u8; 20_000]),
        p("zeta-0.9-1.fc40.noarch").file("/usr/share/zeta/z", b"z".to_vec()),
        p("zeta-doc-0.9-1.fc40.noarch").requires("zeta = 0.9-1.fc40"),
    ]
}

pub fn write_builder_rpms(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for s in builder_specs() {
        s.write_to(dir).unwrap();
    }
}

/// The fixture sets every comparison runs over: (name, filler).
pub type Filler = Box<dyn Fn(&Path)>;

pub fn fixture_sets() -> Vec<(&'static str, Filler)> {
    vec![
        ("builder", Box::new(write_builder_rpms)),
        (
            "rpmbuild",
            Box::new(|d: &Path| copy_rpms(rpmbuild_rpms(), d)),
        ),
        ("fedora", Box::new(|d: &Path| copy_rpms(&fedora_rpms(), d))),
    ]
}

/// createrepo_c over `dir`, writing into `outdir/repodata` (hrefs relative to `dir`).
pub fn createrepo_c(dir: &Path, outdir: &Path, extra: &[&str]) {
    std::fs::create_dir_all(outdir).unwrap();
    run_ok(
        Command::new(tool("createrepo_c"))
            .arg("--quiet")
            .arg("--outputdir")
            .arg(outdir)
            .args(extra)
            .arg(dir),
    );
}

/// Our createrepo over `dir` with a fresh cache, returning its output.
pub fn odcs_createrepo(dir: &Path, extra: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    run_ok(
        odcs()
            .arg("createrepo")
            .arg("--cache-dir")
            .arg(cache.path())
            .args(extra)
            .arg(dir),
    )
}

/// dnf over one repository only, in an empty installroot, failing loudly when
/// the repository cannot be loaded (formats.md §5.8).
pub fn dnf(repo_url: &str, installroot: &Path, args: &[&str]) -> Output {
    run(Command::new(tool("dnf"))
        .arg(format!("--installroot={}", installroot.display()))
        .args([
            "--disablerepo=*",
            "--setopt=reposdir=/dev/null",
            "--releasever=1",
        ])
        .args([
            "--setopt=skip_if_unavailable=False",
            "--setopt=gpgcheck=0",
            "-q",
            "-y",
        ])
        .arg(format!("--repofrompath=test,{repo_url}"))
        .arg("--enablerepo=test")
        .args(args))
}

/// Ways an RPM is damaged on a volume, for the digest tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The file ends half-way through its payload.
    TruncatePayload,
    /// One byte in the middle of the payload flipped.
    FlipPayloadByte,
    /// One letter of a text in the main header changed case (the headers
    /// still parse).
    FlipHeaderByte,
    /// A few bytes appended after the payload.
    Append,
}

pub const DAMAGES: [Damage; 4] = [
    Damage::TruncatePayload,
    Damage::FlipPayloadByte,
    Damage::FlipHeaderByte,
    Damage::Append,
];

/// The bytes of the good RPM `good` damaged as `how` says.
pub fn damaged(good: &Path, how: Damage) -> Vec<u8> {
    let mut bytes = std::fs::read(good).unwrap();
    let (start, end) = header_range(&bytes);
    let payload = bytes.len() - end;
    assert!(payload > 1, "{}: no payload to damage", good.display());
    match how {
        Damage::TruncatePayload => bytes.truncate(end + payload / 2),
        Damage::FlipPayloadByte => bytes[end + payload / 2] ^= 0xff,
        Damage::FlipHeaderByte => {
            // the first two-letter lowercase word in the header's data store
            // (the name, usually)
            let header = &bytes[start..end];
            let store_at = 16 + 16 * u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
            let at = (store_at..header.len())
                .find(|&i| header[i].is_ascii_lowercase() && header[i + 1].is_ascii_lowercase())
                .expect("a letter in the header store");
            bytes[start + at] ^= 0x20;
        }
        Damage::Append => bytes.extend_from_slice(b"damage"),
    }
    bytes
}

/// (start, end) of the main header, from the RPM's own sizes.
fn header_range(b: &[u8]) -> (usize, usize) {
    let be32 = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let sig_end = 96 + 16 + 16 * be32(96 + 8) + be32(96 + 12);
    let start = sig_end.div_ceil(8) * 8;
    (start, start + 16 + 16 * be32(start + 8) + be32(start + 12))
}

/// The digests `rpm -Kv` reports BAD for `path` (the payload's ALT digest,
/// which needs decompression, left out), and whether it says NOT OK.
pub fn rpm_k_bad(path: &Path) -> (Vec<String>, bool) {
    let out = run(Command::new(tool("rpm")).arg("-Kv").arg(path));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut bad: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(label, verdict)| verdict.starts_with("BAD") && !label.contains(" ALT "))
        .map(|(label, _)| label.to_owned())
        .collect();
    bad.sort();
    (bad, !out.status.success())
}

/// Every `*.rpm` under `dir`, recursively.
pub fn rpm_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rpm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
