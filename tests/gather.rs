//! Dependency closure against libsolv's own tool: the same universe is given
//! to our gather and, as a testcase, to `testsolv` (Debian libsolv-tools, rpm
//! semantics, every dependency list, weak dependencies not installed, as
//! `dnf install --setopt=install_weak_deps=False` solves); the sets of
//! packages must be equal. Universes: our generator's, hand-made ones for the
//! three shapes of issue #13, and Debian bookworm's real dependency graph
//! mapped to RPM semantics (tests/common/debian.rs).

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use common::debian;
use odcs::gather::{ArchSet, GatherOptions, Gathered, Pool, gather};
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

fn metas_of<'a>(specs: impl IntoIterator<Item = &'a PackageSpec>) -> Vec<PackageMeta> {
    specs.into_iter().map(|s| s.to_meta().unwrap()).collect()
}

/// What testsolv says: the packages it installs, or its problem text.
fn testsolv(metas: &[PackageMeta], roots: &[&str]) -> Result<BTreeSet<String>, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("closure.t");
    std::fs::write(&path, odcs::gather::testsolv::testcase(metas, roots)).unwrap();
    let out = common::run(Command::new(common::tool("testsolv")).arg("-r").arg(&path));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.contains("problem") {
        return Err(text);
    }
    let set = odcs::gather::testsolv::installed(&text);
    assert!(
        !set.is_empty(),
        "testsolv installed nothing:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(set)
}

fn libsolv_closure(metas: &[PackageMeta], roots: &[&str]) -> BTreeSet<String> {
    testsolv(metas, roots).unwrap_or_else(|text| panic!("libsolv found problems:\n{text}"))
}

/// Our gather of `roots` (by name, the newest build of each, as
/// `job install name` takes it): the binary packages chosen, and the rest.
fn our_gather(metas: &[PackageMeta], roots: &[&str]) -> (BTreeSet<String>, Gathered) {
    let refs: Vec<&PackageMeta> = metas.iter().collect();
    let pool = Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false), None).unwrap();
    let root_ids: Vec<usize> = roots
        .iter()
        .map(|r| {
            let named = pool.named(r);
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
        g,
    )
}

fn our_closure(metas: &[PackageMeta], roots: &[&str]) -> BTreeSet<String> {
    let (set, g) = our_gather(metas, roots);
    assert!(
        g.unsolvable.is_empty() && g.solved_alone.is_empty(),
        "{:?}",
        g.notes()
    );
    set
}

fn assert_same_sets(what: &str, ours: &BTreeSet<String>, theirs: &BTreeSet<String>) {
    let only_ours: Vec<_> = ours.difference(theirs).collect();
    let only_theirs: Vec<_> = theirs.difference(ours).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: closure differs from libsolv's ({} vs {} packages)\nonly ours: {only_ours:?}\nonly libsolv: {only_theirs:?}",
        ours.len(),
        theirs.len()
    );
}

fn assert_same_closure(metas: &[PackageMeta], roots: &[&str]) -> BTreeSet<String> {
    let theirs = libsolv_closure(metas, roots);
    let ours = our_closure(metas, roots);
    assert_same_sets(&format!("roots {roots:?}"), &ours, &theirs);
    ours
}

fn specs(decls: &[(&str, &[&str], &[&str])]) -> Vec<PackageMeta> {
    decls
        .iter()
        .map(|(nevra, provides, requires)| {
            let mut s = PackageSpec::parse(nevra).unwrap();
            for p in *provides {
                s = s.provides(p);
            }
            for r in *requires {
                s = s.requires(r);
            }
            s.to_meta().unwrap()
        })
        .collect()
}

fn names(set: &BTreeSet<String>) -> Vec<String> {
    set.iter()
        .map(|n| {
            // name-[e:]v-r.arch → name
            let nvr = n.rsplit_once('.').map_or(n.as_str(), |(a, _)| a);
            let nv = nvr.rsplit_once('-').map_or(nvr, |(a, _)| a);
            nv.rsplit_once('-').map_or(nv, |(a, _)| a).to_owned()
        })
        .collect()
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
            .requires("(zeta or alpha)")
            .requires("(gamma and delta)"),
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
        p("gamma-1-1.noarch"),
        p("delta-1-1.noarch").conflicts("nginx"),
        // a requirement satisfied by an already chosen package causes no choice
        p("bundle-1-1.noarch")
            .requires("apache")
            .requires("webserver"),
        // a package named like the requirement does not beat one that sorts first
        p("needs-foo-1-1.noarch").requires("foo"),
        p("foo-1-1.noarch"),
        p("afoo-1-1.noarch").provides("foo"),
    ]
    .iter()
    .map(|s| s.to_meta().unwrap())
    .collect();
    let app = assert_same_closure(&metas, &["app"]);
    assert_same_closure(&metas, &["bundle", "app"]);
    assert_same_closure(&metas, &["needs-foo"]);
    assert!(
        app.contains("lib-2.1-1.x86_64") && !app.contains("lib-2.0-1.x86_64"),
        "{app:?}"
    );
}

#[test]
fn an_uninstallable_root_is_reported_with_libsolvs_problem_text() {
    let metas = specs(&[
        (
            "app-1-1.x86_64",
            &[],
            &["nothing-provides-this >= 2", "lib"],
        ),
        ("lib-1-1.x86_64", &[], &[]),
        ("other-1-1.x86_64", &[], &["lib"]),
    ]);
    let (chosen, g) = our_gather(&metas, &["app", "other"]);
    // the uninstallable root enters alone; the other one gets its closure
    assert_eq!(names(&chosen), ["app", "lib", "other"], "{chosen:?}");
    assert_eq!(g.unsolvable.len(), 1, "{:?}", g.unsolvable);
    assert_eq!(g.unsolvable[0].package, "app-1-1.x86_64");
    assert_eq!(
        g.unsolvable[0].problems,
        ["nothing provides nothing-provides-this >= 2 needed by app-1-1.x86_64"]
    );
    // testsolv says the same about app
    let text = testsolv(&metas, &["app"]).unwrap_err();
    assert!(
        text.contains("nothing provides nothing-provides-this >= 2 needed by app-1-1.x86_64"),
        "{text}"
    );
}

#[test]
fn conflicting_roots_are_each_solved_alone_and_their_closures_joined() {
    let metas = specs(&[
        ("mta-a-1-1.x86_64", &["mta"], &["liba"]),
        ("liba-1-1.x86_64", &[], &[]),
        ("mta-b-1-1.x86_64", &["mta"], &["libb"]),
        ("libb-1-1.x86_64", &[], &[]),
        ("tool-1-1.x86_64", &[], &["libt"]),
        ("libt-1-1.x86_64", &[], &[]),
    ]);
    let mut metas = metas;
    metas[0]
        .conflicts
        .push(odcs::rpm::Dependency::new("mta-b", 0, ""));
    // together they are a problem for libsolv
    assert!(testsolv(&metas, &["mta-a", "mta-b", "tool"]).is_err());
    let (chosen, g) = our_gather(&metas, &["mta-a", "mta-b", "tool"]);
    let mut want = libsolv_closure(&metas, &["tool"]);
    want.extend(libsolv_closure(&metas, &["mta-a"]));
    want.extend(libsolv_closure(&metas, &["mta-b"]));
    assert_same_sets("conflicting roots", &chosen, &want);
    assert_eq!(g.solved_alone, ["mta-a-1-1.x86_64", "mta-b-1-1.x86_64"]);
    assert!(g.unsolvable.is_empty());
    assert!(
        g.notes()
            .iter()
            .any(|n| n.contains("each of them was solved alone")),
        "{:?}",
        g.notes()
    );
}

// Issue #13's three shapes, each as a minimal testcase (they fail with the
// name-order closure this replaced) and from Debian's real graph.

/// Shape 1: among providers of a versioned name, libsolv prefers the higher
/// provided version.
#[test]
fn issue_13_versioned_provides_prefer_the_higher_provided_version() {
    // afoo providing foo = 1-0 loses to foo-2; providing foo = 3-0, or an
    // unversioned foo, it wins
    for (provide, taken) in [("foo = 1-0", "foo"), ("foo = 3-0", "afoo"), ("foo", "afoo")] {
        let metas = specs(&[
            ("needs-foo-1-1.x86_64", &[], &["foo"]),
            ("afoo-1-1.x86_64", &[provide], &[]),
            ("foo-2-1.x86_64", &[], &[]),
        ]);
        assert_eq!(
            names(&assert_same_closure(&metas, &["needs-foo"])),
            [taken, "needs-foo"],
            "afoo provides {provide}"
        );
    }
    // the issue's case: libdbus-1-3 needs libsystemd0; libelogind0 provides
    // an older libsystemd0 and conflicts with it
    let metas = specs(&[
        ("libdbus-1-3-1.14.10-1.x86_64", &[], &["libsystemd0"]),
        ("libsystemd0-252.39-1.x86_64", &[], &[]),
        (
            "libelogind0-246.10-1.x86_64",
            &["libsystemd0 = 246.10-0"],
            &[],
        ),
    ]);
    let mut metas = metas;
    metas[2]
        .conflicts
        .push(odcs::rpm::Dependency::new("libsystemd0", 0, ""));
    assert_eq!(
        names(&assert_same_closure(&metas, &["libdbus-1-3"])),
        ["libdbus-1-3", "libsystemd0"]
    );
}

/// Shape 2: a provider that another candidate requires is taken alone.
#[test]
fn issue_13_a_provider_that_another_candidate_requires_is_taken_alone() {
    // sysvinit-utils alone while lsb-base requires it; lsb-base when not
    let requires_sysvinit: &[&str] = &["sysvinit-utils"];
    for (lsb_requires, taken) in [(requires_sysvinit, "sysvinit-utils"), (&[], "lsb-base")] {
        let metas = specs(&[
            ("x11-common-7.7-23.noarch", &[], &["lsb-base >= 1.3"]),
            ("lsb-base-11.6-0.noarch", &[], lsb_requires),
            (
                "sysvinit-utils-3.06-4.x86_64",
                &["lsb-base = 11.1.0-0"],
                &[],
            ),
        ]);
        assert_eq!(
            names(&assert_same_closure(&metas, &["x11-common"])),
            [taken, "x11-common"]
        );
    }
}

/// Shape 3: a branch that ends in a requirement nothing satisfies is
/// abandoned for another provider.
#[test]
fn issue_13_a_branch_ending_in_an_unsatisfiable_requirement_is_abandoned() {
    let metas = specs(&[
        (
            "dconf-service-0.40.0-4.x86_64",
            &[],
            &["(default-dbus-session-bus or dbus-session-bus)"],
        ),
        (
            "dbus-user-session-1.14.10-1.x86_64",
            &["default-dbus-session-bus", "dbus-session-bus"],
            &["systemd"],
        ),
        ("systemd-252.39-1.x86_64", &[], &["libcryptsetup12"]),
        (
            "libcryptsetup12-2.6.1-4.x86_64",
            &[],
            &["libdevmapper1.02.1 >= 2:1.02.97"],
        ),
        // an epoch mismatch: nothing satisfies the requirement above
        ("libdevmapper1.02.1-1.02.185-2.x86_64", &[], &[]),
        ("dbus-x11-1.14.10-1.x86_64", &["dbus-session-bus"], &[]),
    ]);
    assert_eq!(
        names(&assert_same_closure(&metas, &["dconf-service"])),
        ["dbus-x11", "dconf-service"]
    );
}

/// Bookworm's index, and the packages reachable from `roots` (a solve never
/// leaves them, so testsolv's answer on them is its answer on the whole
/// index).
fn bookworm_around(roots: &[&str]) -> Vec<PackageMeta> {
    metas_of(debian::reachable(debian::bookworm(), roots))
}

/// The closure of `root` in bookworm equals testsolv's; it holds the packages
/// named in `holds` and none of `lacks`. Returns the names in it.
fn assert_debian_closure(root: &str, holds: &[&str], lacks: &[&str]) -> Vec<String> {
    let metas = bookworm_around(&[root]);
    let names = names(&assert_same_closure(&metas, &[root]));
    for h in holds {
        assert!(names.iter().any(|n| n == h), "{root}: no {h} in {names:?}");
    }
    for l in lacks {
        assert!(!names.iter().any(|n| n == l), "{root}: {l} in {names:?}");
    }
    names
}

#[test]
fn issue_13_libdbus_takes_libsystemd0_not_libelogind0_in_debian() {
    assert_debian_closure("libdbus-1-3", &["libsystemd0"], &["libelogind0"]);
}

#[test]
fn issue_13_x11_common_takes_sysvinit_utils_alone_in_debian() {
    assert_debian_closure("x11-common", &["sysvinit-utils"], &["lsb-base"]);
}

#[test]
fn issue_13_dconf_service_closure_equals_libsolv_in_debian() {
    let names = assert_debian_closure("dconf-service", &[], &[]);
    // one session bus, whichever libsolv takes
    let buses = ["dbus-user-session", "dbus-x11"];
    assert_eq!(
        names.iter().filter(|n| buses.contains(&n.as_str())).count(),
        1,
        "{names:?}"
    );
    println!("dconf-service in bookworm: {names:?}");
}

#[test]
fn debian_relations_map_to_rpm_semantics() {
    let text = "Package: x\nVersion: 2:1.0-3-4~deb12u1\nArchitecture: amd64\n\
                Depends: a (>= 1:2.0-1), b:any (<< 3) | c (>> 1.0~rc1) | d\n\
                Provides: v (= 1.2), w\nBreaks: y (<< 2)\n\n\
                Package: z\nVersion: 7.7+23\nArchitecture: all\n";
    let specs = debian::parse(text);
    assert_eq!(specs.len(), 2);
    let x = &specs[0];
    assert_eq!(
        (
            x.epoch,
            x.version.as_str(),
            x.release.as_str(),
            x.arch.as_str()
        ),
        (Some(2), "1.0_3", "4~deb12u1", "x86_64")
    );
    assert_eq!(
        x.requires,
        ["a >= 1:2.0-1", "(b < 3 or c > 1.0~rc1-0 or d)"]
    );
    assert_eq!(x.provides, ["v = 1.2", "w = 2:1.0_3-4~deb12u1"]);
    assert_eq!(x.conflicts, ["y < 2"]);
    assert_eq!(
        (specs[1].release.as_str(), specs[1].arch.as_str()),
        ("0", "noarch")
    );
}

/// Roots chosen deterministically from bookworm: every `step`-th binary
/// package by name from `start`, keeping those libsolv can install together
/// (a root that cannot be installed, or that conflicts with the others, is
/// dropped and counted: those rules are tested above).
fn bookworm_roots(metas: &[PackageMeta], start: usize, n: usize) -> (Vec<String>, usize) {
    let mut names: Vec<&str> = metas.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let step = (names.len() / n.max(1)).max(1);
    let candidates: Vec<&str> = names
        .iter()
        .cycle()
        .skip(start % names.len())
        .step_by(step)
        .take(n)
        .copied()
        .collect();
    let (_, g) = our_gather(metas, &candidates);
    let dropped: BTreeSet<String> = g
        .unsolvable
        .iter()
        .map(|u| u.package.clone())
        .chain(g.solved_alone.iter().cloned())
        .collect();
    let refs: Vec<&PackageMeta> = metas.iter().collect();
    let pool = Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false), None).unwrap();
    let keep: Vec<String> = candidates
        .iter()
        .filter(|c| {
            !pool
                .named(c)
                .iter()
                .any(|&i| dropped.contains(&pool.package(i).nevra()))
        })
        .map(|c| c.to_string())
        .collect();
    (keep, dropped.len())
}

#[test]
fn closure_equals_libsolv_on_debian_bookworm_for_10_100_and_1000_roots() {
    let metas = metas_of(debian::bookworm());
    for (n, start) in [
        (10, 0),
        (10, 5_003),
        (100, 17),
        (100, 31_337),
        (1000, 101),
        (1000, 40_009),
    ] {
        let t = Instant::now();
        let (roots, dropped) = bookworm_roots(&metas, start, n);
        let refs: Vec<&str> = roots.iter().map(String::as_str).collect();
        let ours = our_closure(&metas, &refs);
        let ours_time = t.elapsed();
        let t = Instant::now();
        let theirs = libsolv_closure(&metas, &refs);
        assert_same_sets(&format!("{n} roots from {start}"), &ours, &theirs);
        println!(
            "{n} roots from {start} ({} kept, {dropped} dropped): {} packages, ours and testsolv's equal (ours {:.2} s with root choice, testsolv {:.2} s)",
            roots.len(),
            ours.len(),
            ours_time.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn a_compose_of_every_package_reports_requirements_nothing_provides() {
    let metas = specs(&[
        ("a-1-1.x86_64", &[], &["(b or missing-one)", "c >= 2"]),
        (
            "b-1-1.x86_64",
            &[],
            &["(missing-two and c)", "(missing-three if d)"],
        ),
        ("c-1-1.x86_64", &[], &["(missing-four if a)"]),
    ]);
    let refs: Vec<&PackageMeta> = metas.iter().collect();
    let pool = Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false), None).unwrap();
    let all: Vec<usize> = (0..pool.len()).collect();
    let g = gather(
        &pool,
        &all,
        &GatherOptions {
            deps: true,
            whole_set: true,
            ..Default::default()
        },
    );
    // every package is in it, nothing else is solved
    assert_eq!(g.chosen.len(), 3);
    assert!(g.unsolvable.is_empty() && g.solved_alone.is_empty());
    // libsolv's evaluation with every package present: `c >= 2` has no
    // provider, `(missing-two and c)` lacks one half, `(missing-four if a)`
    // holds a condition that is there; `(missing-three if d)` does not apply
    assert_eq!(
        g.problem_lines(),
        [
            "nothing provides c >= 2 needed by a-1-1.x86_64",
            "nothing provides (missing-two and c) needed by b-1-1.x86_64",
            "nothing provides (missing-four if a) needed by c-1-1.x86_64",
        ]
    );
}

#[test]
fn lookaside_packages_satisfy_dependencies_and_stay_out() {
    let tag = specs(&[
        ("app-1-1.x86_64", &[], &["libold", "libnew", "tool"]),
        ("libold-1-1.x86_64", &[], &[]),
        ("libnew-2-1.x86_64", &[], &[]),
        ("tool-1-1.x86_64", &[], &["libtool"]),
        ("libtool-1-1.x86_64", &[], &[]),
    ]);
    let lookaside = specs(&[
        // the same package as the tag's: the lookaside copy is taken
        ("libold-1-1.x86_64", &[], &[]),
        // an older one: libsolv takes the tag's newer libnew
        ("libnew-1-1.x86_64", &[], &[]),
        // only in lookaside, with a requirement the tag satisfies
        ("tool-2-1.x86_64", &[], &["libtool"]),
    ]);
    let (t, l): (Vec<&PackageMeta>, Vec<&PackageMeta>) =
        (tag.iter().collect(), lookaside.iter().collect());
    let pool = Pool::new(&t, &l, &ArchSet::new("x86_64", false, false), None).unwrap();
    let g = gather(
        &pool,
        &pool.named("app"),
        &GatherOptions {
            deps: true,
            ..Default::default()
        },
    );
    let chosen: BTreeSet<String> = g.chosen.iter().map(|&i| pool.package(i).nevra()).collect();
    assert_eq!(
        chosen.into_iter().collect::<Vec<_>>(),
        ["app-1-1.x86_64", "libnew-2-1.x86_64", "libtool-1-1.x86_64"]
    );
    assert!(g.chosen.iter().all(|&i| !pool.is_lookaside(i)));
}
