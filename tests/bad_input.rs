//! Bad packages: a clear error naming each file, never a panic, never a
//! half-written or replaced repodata; `--skip-bad` leaves them out with a warning.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Every file under `repodata/` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join("repodata"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".repodata"))
        .collect()
}

#[test]
fn bad_packages_fail_naming_each_file_and_leave_repodata_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_builder_rpms(dir);
    let cache = tmp.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    common::run_ok(
        common::odcs()
            .args(["createrepo", "--cache-dir", cache_arg])
            .arg(dir),
    );
    let before = snapshot(dir);

    let good = std::fs::read(dir.join("epsilon-1.2-3.fc40.x86_64.rpm")).unwrap();
    std::fs::write(dir.join("truncated.rpm"), &good[..600]).unwrap();
    let mut corrupt = good.clone();
    corrupt[96 + 8..96 + 16].copy_from_slice(&[0xff; 8]); // signature header sizes
    std::fs::write(dir.join("corrupt.rpm"), corrupt).unwrap();
    std::fs::write(dir.join("fake.rpm"), b"this is not an RPM\n").unwrap();
    std::fs::write(dir.join("empty.rpm"), b"").unwrap();

    let out = common::run(
        common::odcs()
            .args(["createrepo", "--cache-dir", cache_arg])
            .arg(dir),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "bad packages must fail the run:\n{stderr}"
    );
    for (name, why) in [
        ("truncated.rpm", "truncated"),
        ("corrupt.rpm", "corrupt"),
        ("fake.rpm", "not an RPM"),
        ("empty.rpm", "not an RPM"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not named:\n{stderr}"));
        assert!(line.contains(why), "{name}: expected {why:?} in {line:?}");
    }
    assert!(stderr.contains("4 packages could not be read"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        snapshot(dir),
        before,
        "repodata changed although the run failed"
    );
    assert!(
        leftovers(dir).is_empty(),
        "temporary files left: {:?}",
        leftovers(dir)
    );

    let out = common::run_ok(
        common::odcs()
            .args(["createrepo", "--skip-bad", "--cache-dir", cache_arg])
            .arg(dir),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["truncated.rpm", "corrupt.rpm", "fake.rpm", "empty.rpm"] {
        assert!(
            stderr.contains(name) && stderr.contains("skipping"),
            "no warning for {name}:\n{stderr}"
        );
    }
    let repo = odcs::repodata::read::read_repo(dir).unwrap();
    let mut hrefs: Vec<_> = repo
        .packages
        .iter()
        .map(|p| p.location_href.as_str())
        .collect();
    hrefs.sort();
    let mut want: Vec<String> = common::builder_specs()
        .iter()
        .map(|s| s.file_name())
        .collect();
    want.sort();
    assert_eq!(hrefs, want);
}

#[test]
fn an_unreadable_package_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_builder_rpms(dir);
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let name = if is_root {
        // root reads files whatever their mode: a symlink loop cannot be read by anyone
        std::os::unix::fs::symlink("loop.rpm", dir.join("loop.rpm")).unwrap();
        "loop.rpm"
    } else {
        let p = dir.join("secret.rpm");
        std::fs::copy(dir.join("zeta-0.9-1.fc40.noarch.rpm"), &p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        "secret.rpm"
    };
    let out = common::run(common::odcs().args(["createrepo", "--no-cache"]).arg(dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(name), "{name} not named:\n{stderr}");
    assert!(
        !dir.join("repodata").exists(),
        "repodata written despite the error"
    );
    assert!(leftovers(dir).is_empty());
}

#[test]
fn reading_damaged_packages_never_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let src = common::fedora_rpms().join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm");
    let good = std::fs::read(&src).unwrap();
    let meta = odcs::rpm::read_package(&src).unwrap();
    let p = tmp.path().join("x.rpm");
    // every truncation inside the headers is an error
    for len in (0..meta.header_end as usize).step_by(37) {
        std::fs::write(&p, &good[..len]).unwrap();
        assert!(
            odcs::rpm::read_package(&p).is_err(),
            "truncated to {len} bytes was accepted"
        );
    }
    // flipped bytes anywhere in the headers: an error or a record, never a panic
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bad = good.clone();
        let at = 96 + (state as usize % (meta.header_end as usize - 96));
        bad[at] ^= (state >> 32) as u8 | 1;
        std::fs::write(&p, &bad).unwrap();
        let _ = odcs::rpm::read_package(&p);
    }
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused_and_leftovers_are_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::write_builder_rpms(dir);
    // what a run killed half-way leaves behind
    std::fs::create_dir_all(dir.join(".repodata.odcs-999999/x")).unwrap();
    let held = std::fs::File::open(dir).unwrap();
    held.lock().unwrap();
    let out = common::run(common::odcs().args(["createrepo", "--no-cache"]).arg(dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("another process is writing repodata here"),
        "{stderr}"
    );
    drop(held);
    common::run_ok(common::odcs().args(["createrepo", "--no-cache"]).arg(dir));
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
    assert_eq!(
        odcs::repodata::read::read_repo(dir).unwrap().packages.len(),
        common::builder_specs().len()
    );
}

/// What `rpm -Kv` calls the digests it checks (and our errors name).
const DIGEST_LABELS: [&str; 4] = [
    "Header SHA1 digest",
    "Header SHA256 digest",
    "MD5 digest",
    "Payload SHA256 digest",
];

/// The digests rpm verifies (`rpm -Kv`) are the ones we verify, with the same
/// verdict: every fixture set reads, and each damage is refused naming exactly
/// the digests rpm reports BAD (issue #12).
#[test]
fn our_digest_verdict_is_rpm_k_s_on_good_and_damaged_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (set, fill) in common::fixture_sets() {
        let dir = tmp.path().join(set);
        fill(&dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for good in files {
            let (bad, not_ok) = common::rpm_k_bad(&good);
            assert!(
                bad.is_empty() && !not_ok,
                "{}: rpm -K: {bad:?}",
                good.display()
            );
            odcs::rpm::read_package(&good)
                .unwrap_or_else(|e| panic!("a good package was refused: {e}"));
            for how in common::DAMAGES {
                let p = tmp.path().join("damaged.rpm");
                std::fs::write(&p, common::damaged(&good, how)).unwrap();
                let (want, not_ok) = common::rpm_k_bad(&p);
                assert!(not_ok, "{}, {how:?}: rpm -K says OK", good.display());
                let err = match odcs::rpm::read_package(&p) {
                    Err(e) => e.to_string(),
                    Ok(_) => panic!("{}, {how:?}: accepted", good.display()),
                };
                let got: Vec<String> = DIGEST_LABELS
                    .iter()
                    .filter(|l| err.contains(*l))
                    .map(|l| l.to_string())
                    .collect();
                assert!(err.contains(&*p.display().to_string()), "{err}");
                assert_eq!(got, want, "{}, {how:?}", good.display());
                *seen
                    .entry((format!("{set} {how:?}"), want.join(", ")))
                    .or_default() += 1;
            }
        }
    }
    // what rpm -Kv reported, per set and damage, for the record
    for ((what, digests), n) in &seen {
        eprintln!("{what}: {digests} ({n} files)");
    }
    assert!(seen.keys().any(|(w, _)| w.contains("TruncatePayload")));
    assert!(
        seen.keys()
            .any(|(_, d)| d.contains("MD5 digest") && d.contains("Payload SHA256 digest")),
        "no fixture has both MD5 and a payload digest"
    );
}

/// A package truncated inside its payload (headers intact; `rpm -K`:
/// DIGESTS NOT OK) is refused by `store import`, `createrepo` and `compose`,
/// each naming the file and the digest (issue #12).
#[test]
fn a_payload_truncated_rpm_is_refused_by_store_import_createrepo_and_compose() {
    let tmp = tempfile::tempdir().unwrap();
    let env_cache = tmp.path().join("xdg-cache");
    let cmd = || {
        let mut c = common::odcs();
        c.env("XDG_CACHE_HOME", &env_cache);
        c
    };
    let incoming = tmp.path().join("incoming");
    common::write_builder_rpms(&incoming);
    let good = incoming.join("epsilon-1.2-3.fc40.x86_64.rpm");
    let bad_dir = tmp.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    common::copy_rpms(&incoming, &bad_dir);
    let truncated = bad_dir.join("epsilon-1.2-3.fc40.x86_64.rpm");
    std::fs::write(
        &truncated,
        common::damaged(&good, common::Damage::TruncatePayload),
    )
    .unwrap();
    let refused = |out: std::process::Output, what: &str, file: &Path| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what} accepted it:\n{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains(&*file.display().to_string()))
            .unwrap_or_else(|| panic!("{what}: {} not named:\n{stderr}", file.display()));
        assert!(
            line.contains("Payload SHA256 digest") && line.contains("truncated"),
            "{what}: {line}"
        );
    };

    let store = tmp.path().join("store");
    let import = |dir: &Path, tag: &str| {
        let mut c = cmd();
        c.args(["store", "import", "--tag", tag, "--store"])
            .arg(&store)
            .arg(dir);
        c
    };
    refused(
        common::run(&mut import(&bad_dir, "t")),
        "store import",
        &truncated,
    );

    refused(
        common::run(
            cmd()
                .args(["createrepo", "--cache-dir"])
                .arg(tmp.path().join("cache"))
                .arg(&bad_dir),
        ),
        "createrepo",
        &truncated,
    );
    assert!(!bad_dir.join("repodata").exists());

    // a good package in the store, truncated there afterwards
    common::run_ok(&mut import(&incoming, "t"));
    let stored = common::rpm_files_under(&store)
        .into_iter()
        .find(|p| p.ends_with("epsilon-1.2-3.fc40.x86_64.rpm"))
        .expect("epsilon in the store");
    std::fs::remove_file(&stored).unwrap(); // the store hardlinked the incoming file
    std::fs::write(
        &stored,
        common::damaged(&good, common::Damage::TruncatePayload),
    )
    .unwrap();
    let target = tmp.path().join("composes");
    refused(
        common::run(
            cmd()
                .args(["compose", "--source", "t", "--packages", "epsilon"])
                .arg("--store")
                .arg(&store)
                .arg("--target")
                .arg(&target)
                .arg("--cache-dir")
                .arg(tmp.path().join("cache")),
        ),
        "compose",
        &stored,
    );
    assert!(!target.join("odcs-1").exists());
}

/// `rpm` with the signature header's digests removed, keeping only its size
/// entry (what a tool that strips signatures and digests leaves).
fn strip_digests(rpm: &[u8]) -> Vec<u8> {
    let be32 = |at: usize| u32::from_be_bytes(rpm[at..at + 4].try_into().unwrap()) as usize;
    let sig_end = 96 + 16 + 16 * be32(96 + 8) + be32(96 + 12);
    let header_start = sig_end.div_ceil(8) * 8;
    let size = (rpm.len() - header_start) as u32;
    let mut out = rpm[..96].to_vec();
    out.extend_from_slice(&[0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
    out.extend_from_slice(&1u32.to_be_bytes()); // one entry
    out.extend_from_slice(&4u32.to_be_bytes()); // four bytes of data
    for v in [1000u32, 4, 0, 1] {
        out.extend_from_slice(&v.to_be_bytes()); // RPMSIGTAG_SIZE, INT32
    }
    out.extend_from_slice(&size.to_be_bytes());
    out.resize(out.len().div_ceil(8) * 8, 0);
    out.extend_from_slice(&rpm[header_start..]);
    out
}

/// A package that carries no digest at all (stripped) is still read — there
/// is nothing to check, and the reader says so in a warning — although
/// `rpm -K` says NOT OK for it ("NOTFOUND") and rpm at its default
/// `%_pkgverify_level digest` will not install it.
#[test]
fn a_package_without_digests_is_read_unchecked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = common::fedora_rpms().join("ed-1.14.1-2.module_fd8ca23e.x86_64.rpm");
    let p = tmp.path().join("stripped.rpm");
    std::fs::write(&p, strip_digests(&std::fs::read(&src).unwrap())).unwrap();
    let out = common::run(
        std::process::Command::new(common::tool("rpm"))
            .arg("-Kv")
            .arg(&p),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("MD5 digest: NOTFOUND"),
        "{text}"
    );
    let stripped = odcs::rpm::read_package(&p).unwrap();
    let original = odcs::rpm::read_package(&src).unwrap();
    assert_eq!(
        (stripped.nevra(), stripped.sigmd5),
        (original.nevra(), None)
    );
}
