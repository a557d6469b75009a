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
