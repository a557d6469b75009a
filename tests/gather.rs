//! Dependency closure against libsolv: the same universe is given to our gather
//! and, as a testcase, to libsolv's `testsolv` (Debian libsolv-tools, rpm
//! semantics, weak dependencies ignored as Pungi's gather ignores them); the
//! sets of packages must be equal.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use odcs::gather::{ArchSet, GatherOptions, Pool, gather};
use odcs::rpm::PackageMeta;
use odcs::rpm::build::PackageSpec;

/// The corpus plus older builds of some packages, so "highest EVR" is tested.
fn universe(n: usize, seed: u64) -> Vec<PackageMeta> {
    let specs = odcs::rpm::corpus::corpus(n, seed);
    let mut metas: Vec<PackageMeta> = specs.iter().map(|s| s.to_meta().unwrap()).collect();
    for s in specs.iter().step_by(7) {
        let mut old = s.clone();
        old.release = "0.1.fc39".into();
        old.version = "0.9".into();
        metas.push(old.to_meta().unwrap());
    }
    metas
}

fn libsolv_closure(metas: &[PackageMeta], roots: &[&str]) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closure.t");
    for m in metas {
        for r in &m.requires {
            // libsolv's testcase format has no spelling for `and`
            assert!(!r.name.contains(" and "), "{}: and in {}", m.name, r.name);
        }
    }
    std::fs::write(&path, odcs::gather::testsolv::testcase(metas, roots)).unwrap();
    let out = common::run(Command::new(common::tool("testsolv")).arg("-r").arg(&path));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("problem"), "libsolv found problems:\n{text}");
    let set = odcs::gather::testsolv::installed(&text);
    assert!(
        !set.is_empty(),
        "testsolv installed nothing:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    set
}

fn our_closure(
    metas: &[PackageMeta],
    roots: &[&str],
) -> (BTreeSet<String>, Vec<odcs::gather::Unresolved>) {
    let refs: Vec<&PackageMeta> = metas.iter().collect();
    let pool = Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false));
    let root_ids: Vec<usize> = roots
        .iter()
        .map(|r| {
            let named = pool.named(r);
            // the newest build of the name, as `job install name` takes it
            *named
                .iter()
                .max_by(|&&a, &&b| pool.package(a).evr().cmp_package(&pool.package(b).evr()))
                .unwrap_or_else(|| panic!("no package {r}"))
        })
        .collect();
    let g = gather(
        &pool,
        &root_ids,
        &GatherOptions {
            deps: true,
            ..Default::default()
        },
    );
    (
        g.chosen.iter().map(|&i| pool.package(i).nevra()).collect(),
        g.unresolved,
    )
}

fn assert_same_closure(metas: &[PackageMeta], roots: &[&str]) {
    let theirs = libsolv_closure(metas, roots);
    let (ours, unresolved) = our_closure(metas, roots);
    assert!(unresolved.is_empty(), "unresolved: {unresolved:?}");
    let only_ours: Vec<_> = ours.difference(&theirs).collect();
    let only_theirs: Vec<_> = theirs.difference(&ours).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "closure differs from libsolv's ({} vs {} packages)\nonly ours: {only_ours:?}\nonly libsolv: {only_theirs:?}",
        ours.len(),
        theirs.len()
    );
}

#[test]
fn closure_equals_libsolv_on_a_20000_package_universe() {
    let metas = universe(20_000, 11);
    let apps: Vec<String> = metas
        .iter()
        .filter(|m| {
            m.files.iter().any(|f| f.path.starts_with("/usr/bin/")) && m.release != "0.1.fc39"
        })
        .map(|m| m.name.clone())
        .collect();
    // several root sets: one app, a handful, a hundred
    for (i, take) in [1usize, 5, 100].into_iter().enumerate() {
        let roots: Vec<&str> = apps
            .iter()
            .skip(i * 977 % apps.len())
            .step_by(13)
            .take(take)
            .map(String::as_str)
            .collect();
        assert_same_closure(&metas, &roots);
    }
}

#[test]
fn provider_choice_follows_libsolv_policy() {
    let p = |s: &str| PackageSpec::parse(s).unwrap();
    let metas: Vec<PackageMeta> = [
        // versioned requirement: only 2.x satisfies, highest chosen
        p("app-1-1.x86_64")
            .requires("lib >= 2")
            .requires("webserver")
            .requires("/usr/bin/tool")
            .requires("(zeta or alpha)"),
        p("lib-1.5-1.x86_64"),
        p("lib-2.0-1.x86_64"),
        p("lib-2.1-1.x86_64"),
        // a virtual provide with providers of different names: name order
        p("nginx-1-1.x86_64").provides("webserver"),
        p("apache-1-1.x86_64").provides("webserver"),
        // a file provided by a noarch and an x86_64 package
        p("tool-noarch-1-1.noarch").file("/usr/bin/tool", vec![]),
        p("tool-native-1-1.x86_64").file("/usr/bin/tool", vec![]),
        p("zeta-1-1.noarch"),
        p("alpha-1-1.noarch"),
        // a requirement satisfied by an already chosen package causes no choice
        p("bundle-1-1.noarch")
            .requires("apache")
            .requires("webserver"),
        // a package named like the requirement beats one that sorts first
        p("needs-foo-1-1.noarch").requires("foo"),
        p("foo-1-1.noarch"),
        p("afoo-1-1.noarch").provides("foo"),
    ]
    .iter()
    .map(|s| s.to_meta().unwrap())
    .collect();
    assert_same_closure(&metas, &["app"]);
    assert_same_closure(&metas, &["bundle", "app"]);
    assert_same_closure(&metas, &["needs-foo"]);
    let (ours, _) = our_closure(&metas, &["app"]);
    assert!(
        ours.contains("lib-2.1-1.x86_64") && !ours.contains("lib-2.0-1.x86_64"),
        "{ours:?}"
    );
}

#[test]
fn missing_dependencies_are_reported_by_name() {
    let metas: Vec<PackageMeta> = [
        PackageSpec::parse("app-1-1.x86_64")
            .unwrap()
            .requires("nothing-provides-this >= 2")
            .requires("lib"),
        PackageSpec::parse("lib-1-1.x86_64")
            .unwrap()
            .requires("/usr/bin/missing"),
    ]
    .iter()
    .map(|s| s.to_meta().unwrap())
    .collect();
    let (chosen, unresolved) = our_closure(&metas, &["app"]);
    assert_eq!(chosen.len(), 2);
    let text: Vec<String> = unresolved
        .iter()
        .map(|u| format!("{}: {}", u.package, u.requirement))
        .collect();
    assert_eq!(
        text,
        [
            "app-1-1.x86_64: nothing-provides-this >= 2",
            "lib-1-1.x86_64: /usr/bin/missing"
        ]
    );
}
