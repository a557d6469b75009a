//! Composes from the local store, checked with dnf (the compose installs), the
//! productmd library (our metadata loads), and bad requests (clear errors, no
//! partial tree).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use odcs::compose::NoProgress;
use odcs::compose::createrepo::CacheDir;
use odcs::compose::engine::{ComposeError, ComposeRequest, run_compose};
use odcs::rpm::build::PackageSpec;
use odcs::source::local::LocalStore;

struct World {
    _tmp: tempfile::TempDir,
    store: LocalStore,
    cache: CacheDir,
    target: PathBuf,
    root: PathBuf,
}

fn import(store: &LocalStore, dir: &Path, tag: &str, parents: &[&str]) {
    let mut metas = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rpm") {
            metas.push((p.clone(), odcs::rpm::read_package(&p).unwrap()));
        }
    }
    metas.sort_by(|a, b| a.0.cmp(&b.0));
    let parents: Vec<String> = parents.iter().map(|s| s.to_string()).collect();
    store.import(tag, &parents, &metas).unwrap();
}

/// A store with tag `base` (a generated universe, the rpmbuild fixtures with
/// their source RPMs, the Fedora ed RPMs with debuginfo) and `updates`
/// inheriting it with a newer build of one package and a broken one.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let store = LocalStore::open(&root.join("store")).unwrap();
    let incoming = root.join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    for s in odcs::rpm::corpus::corpus(200, 5) {
        let mut s = s;
        s.files.truncate(4);
        s.write_to(&incoming).unwrap();
    }
    common::copy_rpms(common::rpmbuild_rpms(), &incoming);
    common::copy_rpms(&common::fedora_rpms(), &incoming);
    PackageSpec::parse("base-1-1.x86_64")
        .unwrap()
        .provides("libc.so.6(GLIBC_2.14)(64bit)")
        .provides("rtld(GNU_HASH)")
        .file("/sbin/install-info", b"#!/bin/sh".to_vec())
        .write_to(&incoming)
        .unwrap();
    import(&store, &incoming, "base", &[]);

    let upd = root.join("incoming-updates");
    std::fs::create_dir_all(&upd).unwrap();
    PackageSpec::parse("zeta-1.0-9.noarch")
        .unwrap()
        .write_to(&upd)
        .unwrap();
    PackageSpec::parse("broken-1-1.x86_64")
        .unwrap()
        .requires("does-not-exist >= 2")
        .write_to(&upd)
        .unwrap();
    import(&store, &upd, "updates", &["base"]);

    let cache = CacheDir::open(&root.join("cache")).unwrap();
    let target = root.join("composes");
    std::fs::create_dir_all(&target).unwrap();
    World {
        _tmp: tmp,
        store,
        cache,
        target,
        root,
    }
}

fn request(name: &str, tag: &str, packages: &[&str]) -> ComposeRequest {
    ComposeRequest {
        packages: packages.iter().map(|s| s.to_string()).collect(),
        ..ComposeRequest::tag(name, tag, &format!("http://localhost/composes/{name}"))
    }
}

fn compose(
    w: &World,
    req: &ComposeRequest,
) -> Result<odcs::compose::engine::ComposeResult, ComposeError> {
    run_compose(req, &w.store, w.cache.caches(), &w.target, &NoProgress)
}

fn os_tree(w: &World, name: &str) -> PathBuf {
    w.target.join(name).join("compose/Temporary/x86_64/os")
}

fn package_names(tree: &Path) -> Vec<String> {
    let mut names: Vec<String> = odcs::repodata::read::read_repo(tree)
        .unwrap()
        .packages
        .into_iter()
        .map(|p| format!("{}-{}-{}.{}", p.name, p.ver, p.rel, p.arch))
        .collect();
    names.sort();
    names
}

fn corpus_apps(n: usize) -> Vec<String> {
    odcs::rpm::corpus::corpus(200, 5)
        .into_iter()
        .filter(|s| s.files.iter().any(|(p, _)| p.starts_with("/usr/bin/")) && s.name != "bash")
        .take(n)
        .map(|s| s.name)
        .collect()
}

#[test]
fn a_tag_compose_installs_with_dnf_from_its_repo_file() {
    let w = world();
    let mut pkgs: Vec<String> = corpus_apps(4);
    pkgs.extend(["alpha".to_owned(), "gamma".to_owned(), "ed".to_owned()]);
    let refs: Vec<&str> = pkgs.iter().map(String::as_str).collect();
    let result = compose(&w, &request("odcs-1", "updates", &refs)).unwrap();
    assert!(result.event >= 2);

    // dnf, with only the compose's os tree (what the .repo file enables),
    // resolves the install and downloads every package (checksums verified)
    let root = w.root.join("installroot");
    let dest = w.root.join("downloads");
    let repo = format!("file://{}", os_tree(&w, "odcs-1").display());
    let destdir = format!("--destdir={}", dest.display());
    let mut args = vec![
        "install",
        "--downloadonly",
        "--setopt=install_weak_deps=False",
        destdir.as_str(),
    ];
    args.extend(refs.iter());
    let out = common::dnf(&repo, &root, &args);
    assert!(
        out.status.success(),
        "dnf could not install from the compose:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for p in &refs {
        assert!(
            got.iter().any(|g| g.starts_with(&format!("{p}-"))),
            "{p} not in the transaction: {got:?}"
        );
    }

    // the .repo file points at the compose
    let repo_file =
        std::fs::read_to_string(w.target.join("odcs-1/compose/Temporary/odcs-1.repo")).unwrap();
    assert!(
        repo_file
            .contains("baseurl=http://localhost/composes/odcs-1/compose/Temporary/$basearch/os\n"),
        "{repo_file}"
    );

    // the source and debuginfo of ed went to their own trees
    let tree = w.target.join("odcs-1/compose/Temporary");
    assert!(
        package_names(&tree.join("x86_64/debug/tree"))
            .contains(&"ed-debuginfo-1.14.1-2.module_fd8ca23e.x86_64".to_owned())
    );
    let sources = package_names(&tree.join("source/tree"));
    assert!(
        sources.contains(&"ed-1.14.1-2.module_fd8ca23e.src".to_owned()),
        "{sources:?}"
    );
    assert!(
        sources.contains(&"alpha-1.0^git1-3.src".to_owned()),
        "{sources:?}"
    );
    // the newer zeta from `updates` shadows base's (it is a dependency of nothing here)
    assert!(
        !package_names(&os_tree(&w, "odcs-1"))
            .iter()
            .any(|p| p.starts_with("zeta-0.9"))
    );
}

#[test]
fn no_deps_compose_holds_exactly_the_requested_packages() {
    let w = world();
    let apps = corpus_apps(3);
    let refs: Vec<&str> = apps.iter().map(String::as_str).collect();
    let mut req = request("odcs-2", "base", &refs);
    req.flags.no_deps = true;
    compose(&w, &req).unwrap();
    let names: Vec<String> = package_names(&os_tree(&w, "odcs-2"))
        .into_iter()
        .map(|n| n.split('-').next().unwrap().to_owned())
        .collect();
    let mut want: Vec<String> = apps
        .iter()
        .map(|a| a.split('-').next().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn check_deps_fails_naming_the_missing_dependency_and_leaves_nothing() {
    let w = world();
    let mut req = request("odcs-3", "updates", &["broken"]);
    req.flags.check_deps = true;
    let err = compose(&w, &req).unwrap_err().to_string();
    // libsolv's problem text (issue #13: the closure is libsolv's answer)
    assert!(
        err.contains("broken-1-1.x86_64 cannot be installed:")
            && err.contains("nothing provides does-not-exist >= 2 needed by broken-1-1.x86_64"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&w.target).unwrap().count(),
        0,
        "a failed compose left files"
    );
    // without check_deps it succeeds: the package that cannot be installed
    // enters alone, as fus leaves it, and the compose log names it
    req.flags.check_deps = false;
    compose(&w, &req).unwrap();
    assert_eq!(package_names(&os_tree(&w, "odcs-3")), ["broken-1-1.x86_64"]);
}

#[test]
fn bad_requests_fail_with_a_message_naming_what_was_wrong() {
    let w = world();
    let err = compose(&w, &request("odcs-4", "no-such-tag", &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown tag \"no-such-tag\""), "{err}");
    let err = compose(
        &w,
        &request("odcs-4", "base", &["gamma", "no-such-package"]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("packages not found in tag base: no-such-package"),
        "{err}"
    );
    let mut req = request("odcs-4", "base", &["gamma"]);
    req.builds = vec!["nope-1-1".into()];
    let err = compose(&w, &req).unwrap_err().to_string();
    assert!(err.contains("unknown build \"nope-1-1\""), "{err}");
    let mut req = request("odcs-4", "base", &["gamma"]);
    req.sigkeys = vec!["a15b79cc".into()];
    let err = compose(&w, &req).unwrap_err().to_string();
    assert!(err.contains("unsigned"), "{err}");
    assert_eq!(std::fs::read_dir(&w.target).unwrap().count(), 0);
}

#[test]
fn an_event_pins_the_tag_and_lookaside_packages_are_not_pulled_in() {
    let w = world();
    // at event 1 `updates` did not exist yet
    let mut req = request("odcs-5", "updates", &["gamma"]);
    req.event = Some(1);
    assert!(
        compose(&w, &req)
            .unwrap_err()
            .to_string()
            .contains("updates")
    );
    // a lookaside repository holding beta: gamma's dependency comes from there
    let look = w.root.join("lookaside");
    std::fs::create_dir_all(&look).unwrap();
    common::copy_rpms(common::rpmbuild_rpms(), &look);
    common::odcs_createrepo(&look, &[]);
    let mut req = request("odcs-6", "base", &["gamma"]);
    req.lookaside_repos = vec![serve_dir(&look)];
    compose(&w, &req).unwrap();
    let names = package_names(&os_tree(&w, "odcs-6"));
    assert!(
        names.contains(&"gamma-1.0-1.x86_64".to_owned()),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("beta-")),
        "beta was pulled in although the lookaside repo has it: {names:?}"
    );
    // the downloaded lookaside metadata is not left in the compose
    assert!(!w.target.join("odcs-6/work").exists());
    // without the lookaside repository, beta is part of the compose
    compose(&w, &request("odcs-8", "base", &["gamma"])).unwrap();
    assert!(
        package_names(&os_tree(&w, "odcs-8"))
            .iter()
            .any(|n| n.starts_with("beta-"))
    );
}

#[test]
fn productmd_loads_our_metadata() {
    let w = world();
    compose(&w, &request("odcs-7", "updates", &["alpha", "ed"])).unwrap();
    let script = r#"
import sys, productmd.compose
c = productmd.compose.Compose(sys.argv[1])
ci = c.info
assert ci.compose.id.startswith("odcs-7-1-"), ci.compose.id
v = ci.variants["Temporary"]
assert "x86_64" in v.arches, v.arches
rpms = c.rpms.rpms["Temporary"]["x86_64"]
srpms = sorted(rpms)
assert any(s.startswith("ed-0:1.14.1") for s in srpms), srpms
total = sum(len(x) for x in rpms.values())
print(total)
"#;
    let out = common::run(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(w.target.join("odcs-7")),
    );
    assert!(
        out.status.success(),
        "productmd could not load our metadata (scripts/test installs productmd):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(total >= 4, "productmd saw {total} RPMs");
}

/// Serve a directory over HTTP on 127.0.0.1 (a thread for the test's life):
/// lookaside repositories are URLs in real requests.
fn serve_dir(dir: &Path) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let path = dir.join(req.url().trim_start_matches('/'));
            let _ = match std::fs::read(&path) {
                Ok(body) => req.respond(tiny_http::Response::from_data(body)),
                Err(_) => req.respond(tiny_http::Response::empty(404)),
            };
        }
    });
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn an_unreachable_lookaside_repository_fails_the_compose_naming_it() {
    let w = world();
    let mut req = request("odcs-9", "base", &["gamma"]);
    req.lookaside_repos = vec!["http://127.0.0.1:9/nothing".into()];
    let err = compose(&w, &req).unwrap_err().to_string();
    assert!(
        err.starts_with("lookaside repository http://127.0.0.1:9/nothing:"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&w.target).unwrap().count(), 0);
}

#[test]
fn multilib_methods_add_the_32_bit_packages_they_select() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&tmp.path().join("store")).unwrap();
    let incoming = tmp.path().join("in");
    std::fs::create_dir_all(&incoming).unwrap();
    for arch in ["x86_64", "i686"] {
        let lib = if arch == "x86_64" {
            "/usr/lib64"
        } else {
            "/usr/lib"
        };
        PackageSpec::parse(&format!("libfoo-1-1.{arch}"))
            .unwrap()
            .file(&format!("{lib}/libfoo.so.1"), b"elf".to_vec())
            .write_to(&incoming)
            .unwrap();
        PackageSpec::parse(&format!("libfoo-devel-1-1.{arch}"))
            .unwrap()
            .requires("libfoo")
            .file("/usr/include/foo.h", b"h".to_vec())
            .write_to(&incoming)
            .unwrap();
        PackageSpec::parse(&format!("footool-1-1.{arch}"))
            .unwrap()
            .file("/usr/bin/footool", b"x".to_vec())
            .write_to(&incoming)
            .unwrap();
    }
    import(&store, &incoming, "ml", &[]);
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    let target = tmp.path().join("out");
    std::fs::create_dir_all(&target).unwrap();
    let run = |name: &str, methods: Vec<odcs::compose::engine::MultilibMethod>| {
        let mut req = request(name, "ml", &["libfoo-devel", "footool"]);
        req.multilib_arches = vec!["x86_64".into()];
        req.multilib_methods = methods;
        run_compose(&req, &store, cache.caches(), &target, &NoProgress).unwrap();
        package_names(&target.join(name).join("compose/Temporary/x86_64/os"))
    };
    use odcs::compose::engine::MultilibMethod::*;
    let none = run("ml-none", vec![]);
    assert!(none.iter().all(|n| !n.ends_with(".i686")), "{none:?}");
    let runtime = run("ml-runtime", vec![Runtime]);
    assert!(
        runtime.contains(&"libfoo-1-1.i686".to_owned()),
        "{runtime:?}"
    );
    assert!(
        !runtime
            .iter()
            .any(|n| n.starts_with("libfoo-devel") && n.ends_with(".i686")),
        "{runtime:?}"
    );
    let devel = run("ml-devel", vec![Devel]);
    assert!(
        devel.contains(&"libfoo-devel-1-1.i686".to_owned())
            && devel.contains(&"libfoo-1-1.i686".to_owned()),
        "{devel:?}"
    );
    assert!(!devel.contains(&"footool-1-1.i686".to_owned()), "{devel:?}");
    let all = run("ml-all", vec![All]);
    assert!(all.contains(&"footool-1-1.i686".to_owned()), "{all:?}");
}

/// #12 §1: the local store behaves as the Koji hub does for events: one it
/// has not reached fails the compose naming it (it used to say done with
/// today's content), and one before the tag existed says so.
#[test]
fn a_requested_event_the_store_has_not_reached_fails_the_compose_naming_it() {
    use odcs::source::PackageSource;
    let w = world();
    let newest = w.store.current_event().unwrap();
    let mut req = request("odcs-1", "updates", &["zeta"]);
    req.event = Some(99_999);
    let err = compose(&w, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("event 99999 does not exist (the newest event is {newest})")
    );
    assert!(!w.target.join("odcs-1").exists());

    // `updates` was created by the second import: at the first it did not exist
    let mut req = request("odcs-2", "updates", &["zeta"]);
    req.event = Some(newest - 1);
    let err = compose(&w, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("tag \"updates\" did not exist at event {}", newest - 1)
    );

    // the newest event itself is fine
    let mut req = request("odcs-3", "updates", &["zeta"]);
    req.event = Some(newest);
    compose(&w, &req).unwrap();
}

/// #12 §6: failure reasons carry no Rust debug text (`Some("deadbeef")`).
#[test]
fn a_store_compose_with_signing_keys_says_so_in_koji_terms() {
    let w = world();
    let mut req = request("odcs-1", "updates", &["zeta"]);
    req.sigkeys = vec!["deadbeef".into()];
    let err = compose(&w, &req).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "the local store holds unsigned RPMs only, and the sigkeys ('deadbeef',) do not allow unsigned ones; build "
        ),
        "{err}"
    );
    assert!(!err.contains("Some("), "{err}");
}

/// #12 §7: what a lookaside repository may cost is bounded: a metadata file
/// larger than the limit, downloaded or decompressed, fails the compose
/// naming the repository and the limit (it used to be fetched up to 1 GiB
/// and decompressed without bound).
#[test]
fn a_lookaside_repository_over_the_size_limit_fails_the_compose() {
    let w = world();
    let look = w.root.join("lookaside");
    std::fs::create_dir_all(&look).unwrap();
    common::copy_rpms(common::rpmbuild_rpms(), &look);
    common::odcs_createrepo(&look, &[]);
    let url = serve_dir(&look);
    let repomd = std::fs::metadata(look.join("repodata/repomd.xml"))
        .unwrap()
        .len();
    let records = odcs::repodata::read::read_repomd(&look).unwrap().records;
    let largest_file = records
        .iter()
        .filter_map(|r| r.size)
        .max()
        .unwrap()
        .max(repomd);
    let largest_open = records.iter().filter_map(|r| r.open_size).max().unwrap();
    assert!(
        largest_open > largest_file,
        "{largest_open} <= {largest_file}"
    );
    // only repomd.xml fits; then every file downloads but one decompresses
    // to more than the limit
    for (name, max) in [("odcs-10", repomd), ("odcs-11", largest_file)] {
        let mut req = request(name, "base", &["gamma"]);
        req.lookaside_repos = vec![url.clone()];
        req.lookaside_limits.max_bytes = max;
        let err = compose(&w, &req).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("lookaside repository {url}:")),
            "{err}"
        );
        assert!(
            err.contains(&format!("larger than the {max} bytes allowed"))
                || err.contains(&format!("decompresses to more than {max} bytes")),
            "{err}"
        );
        assert!(!w.target.join(name).exists());
    }
    // within the limits it is read
    let mut req = request("odcs-12", "base", &["gamma"]);
    req.lookaside_repos = vec![url];
    req.lookaside_limits.max_bytes = 10 << 20;
    compose(&w, &req).unwrap();
}

/// Progress that keeps the compose log's notes.
#[derive(Default)]
struct Notes(std::sync::Mutex<Vec<String>>);

impl odcs::compose::Progress for Notes {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn set(&self, _: u64) {}
    fn done(&self) {}
    fn note(&self, line: &str) {
        self.0.lock().unwrap().push(line.to_owned());
    }
}

/// `dnf install --assumeno` of `pkg` from one repository: whether dnf could
/// resolve it (it then stops at the confirmation), and what it said.
fn dnf_can_install(repo: &Path, pkg: &str) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(common::tool("dnf"))
        .arg(format!("--installroot={}", root.path().display()))
        .args([
            "--disablerepo=*",
            "--setopt=reposdir=/dev/null",
            "--releasever=1",
            "--setopt=skip_if_unavailable=False",
            "--setopt=gpgcheck=0",
            "--setopt=install_weak_deps=False",
        ])
        .arg(format!("--repofrompath=test,file://{}", repo.display()))
        .args(["--enablerepo=test", "install", "--assumeno", pkg])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // --assumeno ends a resolved transaction with "Operation aborted"
    let resolved = text.contains("Operation aborted") && !text.contains("Problem");
    assert!(
        resolved || text.contains("Problem") || text.contains("No match for argument"),
        "dnf failed on {} for another reason:\n{text}",
        repo.display()
    );
    (resolved, text)
}

/// Issue #13: roots from Debian's real graph (the three shapes of the issue,
/// two mail servers that conflict, one that cannot be installed in RPM
/// semantics, and everyday ones), real RPMs of every package they can reach,
/// a local-store tag of them: every root dnf installs from the whole tag, it
/// installs from the compose alone.
#[test]
fn issue_13_every_root_installs_from_the_compose_wherever_it_installs_from_the_tag() {
    use rayon::prelude::*;
    let roots = [
        "libdbus-1-3",
        "x11-common",
        "dconf-service",
        "libelogind0",
        "postfix",
        "exim4",
        "gcc-12",
        "vim",
        "git",
        "python3",
        "nginx",
        "openssh-client",
        "curl",
        "systemd",
        "apache2",
        "mutt",
    ];
    let specs = common::debian::reachable(common::debian::bookworm(), &roots);
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&tmp.path().join("store")).unwrap();
    let incoming = tmp.path().join("tag");
    std::fs::create_dir_all(&incoming).unwrap();
    specs
        .par_iter()
        .for_each(|s| drop(s.write_to(&incoming).unwrap()));
    import(&store, &incoming, "bookworm", &[]);
    // the whole tag as one repository, written by createrepo_c
    common::createrepo_c(&incoming, &incoming, &[]);

    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    let target = tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let req = request("odcs-13", "bookworm", &roots);
    let notes = Notes::default();
    run_compose(&req, &store, cache.caches(), &target, &notes).unwrap();
    let os = target.join("odcs-13/compose/Temporary/x86_64/os");
    let notes = notes.0.into_inner().unwrap().join("\n");
    // the mail servers conflict: each solved alone, and the log says so
    assert!(
        notes.contains("each of them was solved alone")
            && notes.contains("postfix-")
            && notes.contains("exim4-"),
        "{notes}"
    );

    // the tag has no source RPMs: the source tree is an empty repository
    let source = target.join("odcs-13/compose/Temporary/source/tree");
    let out = common::dnf(
        &format!("file://{}", source.display()),
        &tmp.path().join("root"),
        &["repoquery"],
    );
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "dnf over the empty source tree:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut from_tag = 0;
    for root in roots {
        let (tag_ok, tag_text) = dnf_can_install(&incoming, root);
        let (compose_ok, compose_text) = dnf_can_install(&os, root);
        if tag_ok {
            from_tag += 1;
            assert!(
                compose_ok,
                "dnf installs {root} from the tag but not from the compose:\n{compose_text}"
            );
        } else {
            println!("{root}: dnf cannot install it from the tag:\n{tag_text}");
            // what dnf cannot install from the tag is named in the log
            assert!(
                notes.contains(&format!("requested package {root}-")),
                "{root}: dnf cannot install it from the tag ({tag_text}), and the compose log does not say so:\n{notes}"
            );
        }
    }
    println!(
        "{from_tag} of {} roots install from the tag ({} packages), every one of them from the compose ({} binary packages)",
        roots.len(),
        specs.len(),
        package_names(&os).len()
    );
    assert!(
        from_tag >= roots.len() - 2,
        "only {from_tag} of {} roots install from the tag",
        roots.len()
    );
}

/// Issue #13: the tree is laid out as Pungi's, so tools that read Pungi
/// composes read ours: productmd loads every `.treeinfo` (and writes it back
/// byte for byte), `media.repo` and `.discinfo` are there, the debug and
/// source trees are repositories dnf reads even when empty, and the os
/// repodata carries the `odcs-group` comps group dnf lists.
#[test]
fn the_tree_is_laid_out_as_pungis_with_treeinfo_empty_trees_and_the_odcs_group() {
    let w = world();
    // gamma's build has no debuginfo: the debug tree is empty
    compose(&w, &request("odcs-14", "base", &["gamma", "alpha"])).unwrap();
    let variant = w.target.join("odcs-14/compose/Temporary");
    let os = variant.join("x86_64/os");
    let debug = variant.join("x86_64/debug/tree");
    let source = variant.join("source/tree");

    let script = r#"
import io, sys, productmd.treeinfo
for path in sys.argv[1:]:
    ti = productmd.treeinfo.TreeInfo()
    ti.load(path)
    assert ti.variants["Temporary"].paths.packages == "Packages", path
    out = io.StringIO()
    ti.dump(out, main_variant="Temporary")
    if out.getvalue() != open(path).read():
        sys.exit("productmd writes %s differently:\n%s" % (path, out.getvalue()))
    print(ti.tree.arch)
"#;
    let out = common::run(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(os.join(".treeinfo"))
            .arg(source.join(".treeinfo")),
    );
    assert!(
        out.status.success(),
        "productmd could not load our .treeinfo (scripts/test installs productmd):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x86_64\nsrc\n");
    for tree in [&os, &source] {
        let media = std::fs::read_to_string(tree.join("media.repo")).unwrap();
        assert!(
            media.starts_with("[InstallMedia]\nname=odcs-14 1\nmediaid="),
            "{media}"
        );
        let disc = std::fs::read_to_string(tree.join(".discinfo")).unwrap();
        assert_eq!(disc.lines().nth(1), Some("odcs-14 1"), "{disc}");
    }

    // the empty debug tree and the source tree are repositories dnf reads
    assert!(package_names(&debug).is_empty());
    let root = w.root.join("installroot");
    for (tree, want) in [(&debug, 0), (&source, 3)] {
        let out = common::dnf(
            &format!("file://{}", tree.display()),
            &root,
            &["repoquery", "--arch=src,x86_64,noarch"],
        );
        assert!(
            out.status.success(),
            "dnf cannot read {}:\n{}",
            tree.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).lines().count(),
            want,
            "{}: {}",
            tree.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // and composeinfo names it
    let info = std::fs::read_to_string(w.target.join("odcs-14/compose/metadata/composeinfo.json"))
        .unwrap();
    assert!(
        info.contains("\"debug_repository\"") && info.contains("Temporary/x86_64/debug/tree"),
        "{info}"
    );

    // dnf lists the odcs-group of the requested packages
    let os_url = format!("file://{}", os.display());
    let out = common::dnf(&os_url, &root, &["group", "list", "--hidden"]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && listed.contains("odcs-group"),
        "dnf group list:\n{listed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::dnf(&os_url, &root, &["group", "info", "odcs-group"]);
    let info = String::from_utf8_lossy(&out.stdout);
    assert!(
        info.contains("ODCS compose default group")
            && info.contains("gamma")
            && info.contains("alpha"),
        "dnf group info odcs-group:\n{info}"
    );

    // a compose of every package has no group
    compose(&w, &request("odcs-15", "base", &[])).unwrap();
    let repomd =
        std::fs::read_to_string(os_tree(&w, "odcs-15").join("repodata/repomd.xml")).unwrap();
    assert!(!repomd.contains("type=\"group\""), "{repomd}");
}

#[test]
fn a_second_compose_of_the_same_package_set_reuses_the_libsolv_pool() {
    let w = world();
    let notes = |name: &str, tag: &str| {
        let n = Notes::default();
        run_compose(
            &request(name, tag, &["gamma"]),
            &w.store,
            w.cache.caches(),
            &w.target,
            &n,
        )
        .unwrap();
        n.0.into_inner().unwrap().join("\n")
    };
    let first = notes("odcs-16", "base");
    assert!(
        first.contains("libsolv pool of") && first.contains("built in"),
        "{first}"
    );
    let second = notes("odcs-17", "base");
    assert!(second.contains("reused"), "{second}");
    // another package set (updates has a newer zeta) gets a pool of its own
    let other = notes("odcs-18", "updates");
    assert!(other.contains("built in"), "{other}");
    assert_eq!(
        package_names(&os_tree(&w, "odcs-16")),
        package_names(&os_tree(&w, "odcs-17"))
    );
}

/// Renewing (replaying a stored package set) reads a file again when it was
/// rewritten in place with the same size and its mtime put back: the header
/// cache does not answer for it, so the renewal fails naming the file rather
/// than ship bytes that differ from the recorded checksum (issue #12).
#[test]
fn renewal_catches_a_same_size_rewrite_with_mtime_put_back() {
    use std::io::Write;
    let w = world();
    let apps = corpus_apps(1);
    let first = compose(&w, &request("odcs-1", "updates", &[apps[0].as_str()])).unwrap();
    let victim = first
        .rpms
        .iter()
        .find(|r| r.nevra.starts_with(&format!("{}-", apps[0])) && r.category == "binary")
        .map(|r| r.source_path.clone())
        .unwrap();
    let damaged = common::damaged(&victim, common::Damage::FlipPayloadByte);
    let md = std::fs::metadata(&victim).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap();
    f.write_all(&damaged).unwrap();
    f.set_times(std::fs::FileTimes::new().set_modified(md.modified().unwrap()))
        .unwrap();
    drop(f);

    let err = odcs::compose::replay::replay_compose(
        &request("odcs-2", "updates", &[apps[0].as_str()]),
        &first.rpms,
        (&[], &[]),
        first.event,
        w.cache.caches(),
        &w.target,
        &NoProgress,
    )
    .expect_err("the renewal shipped a rewritten file");
    assert!(
        err.to_string().contains(&victim.display().to_string()),
        "{err}"
    );
    assert!(!w.target.join("odcs-2").exists());
}

/// A header cache that counts the lookups it could not answer.
struct CountingCache<'a> {
    inner: &'a dyn odcs::rpm::HeaderCache,
    misses: std::sync::atomic::AtomicUsize,
}

impl odcs::rpm::HeaderCache for CountingCache<'_> {
    fn get(&self, key: &odcs::rpm::FileKey) -> Option<odcs::rpm::PackageMeta> {
        let hit = self.inner.get(key);
        if hit.is_none() {
            self.misses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        hit
    }
    fn get_header(&self, key: &odcs::rpm::FileKey) -> Option<odcs::rpm::PackageMeta> {
        let hit = self.inner.get_header(key);
        if hit.is_none() {
            self.misses
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        hit
    }
    fn put_many(
        &self,
        records: &[(odcs::rpm::FileKey, &odcs::rpm::PackageMeta)],
    ) -> Result<(), odcs::rpm::CacheError> {
        self.inner.put_many(records)
    }
}

/// Hardlinking an RPM into a compose tree, or removing it from one, moves its
/// ctime, which is part of its cache key: the records follow the files the
/// compose links and `remove_tree` unlinks, so neither the tree's repodata nor
/// the next compose reads those RPMs again.
#[test]
fn the_files_a_compose_links_keep_their_cache_records() {
    let w = world();
    let apps = corpus_apps(3);
    let refs: Vec<&str> = apps.iter().map(String::as_str).collect();
    let counting = CountingCache {
        inner: &w.cache.headers,
        misses: Default::default(),
    };
    let caches = odcs::compose::createrepo::Caches {
        headers: Some(&counting),
        chunks: None,
        pools: None,
        resident: None,
    };
    let misses = || {
        counting
            .misses
            .swap(0, std::sync::atomic::Ordering::Relaxed)
    };
    let compose_as = |name: &str| {
        run_compose(
            &request(name, "updates", &refs),
            &w.store,
            caches,
            &w.target,
            &NoProgress,
        )
        .unwrap()
    };
    let first = compose_as("odcs-1");
    let candidates = misses();
    assert!(candidates > first.rpms.len(), "{candidates} misses");
    // the second compose links the same files again, into another tree
    let second = compose_as("odcs-2");
    assert_eq!(second.rpms.len(), first.rpms.len());
    assert_eq!(misses(), 0, "RPMs read again although only we linked them");

    // removing a tree (as the reaper does) unlinks the files: the records
    // follow that too
    odcs::compose::tree::remove_tree(&w.target.join("odcs-1"), caches).unwrap();
    assert!(!w.target.join("odcs-1").exists());
    compose_as("odcs-3");
    assert_eq!(misses(), 0, "RPMs read again after a tree was removed");
    // a tree removed by other means: its RPMs are read again, once: each
    // misses as a candidate (read to its headers), then as a chosen
    // package (read whole)
    std::fs::remove_dir_all(w.target.join("odcs-2")).unwrap();
    compose_as("odcs-4");
    assert_eq!(misses(), 2 * first.rpms.len());
    compose_as("odcs-5");
    assert_eq!(misses(), 0);
}

/// The `iso` result (#16): an ISO of the `os` tree made natively. xorriso
/// reads back the same files as the tree holds, checkisomd5 accepts the
/// implanted MD5, `SHA256SUM` holds the image's sha256, and productmd loads
/// `images.json` (and composeinfo's `isos` path).
#[test]
fn an_iso_result_holds_the_os_tree_and_passes_checkisomd5() {
    let w = world();
    let req = ComposeRequest {
        iso: true,
        ..request("odcs-9", "updates", &["alpha", "ed"])
    };
    compose(&w, &req).unwrap();
    let tree = os_tree(&w, "odcs-9");
    let iso_dir = w.target.join("odcs-9/compose/Temporary/x86_64/iso");
    let isos: Vec<PathBuf> = std::fs::read_dir(&iso_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "iso"))
        .collect();
    assert_eq!(isos.len(), 1, "{isos:?}");
    let iso = &isos[0];
    let name = iso.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("odcs-9-1-") && name.ends_with("-Temporary-x86_64-dvd1.iso"),
        "{name}"
    );

    // the files of the image are the files of the tree
    let out = common::run_ok(
        Command::new(common::tool("xorriso"))
            .args(["-indev"])
            .arg(iso)
            .args(["-find", "/", "-type", "f"]),
    );
    let mut in_iso: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_matches('\'').to_owned())
        .collect();
    in_iso.sort();
    let mut in_tree: Vec<String> = Vec::new();
    let mut stack = vec![tree.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                in_tree.push(format!("/{}", p.strip_prefix(&tree).unwrap().display()));
            }
        }
    }
    in_tree.sort();
    assert!(in_tree.iter().any(|f| f.ends_with(".rpm")), "{in_tree:?}");
    assert_eq!(in_iso, in_tree);

    let out = common::run(Command::new(common::tool("checkisomd5")).arg(iso));
    assert!(out.status.success(), "checkisomd5: {out:?}");
    let sums = std::fs::read_to_string(iso_dir.join("SHA256SUM")).unwrap();
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(std::fs::read(iso).unwrap()))
    };
    assert_eq!(sums, format!("SHA256 ({name}) = {sha}\n"));

    let script = r#"
import sys, productmd.compose
c = productmd.compose.Compose(sys.argv[1])
im = c.images.images["Temporary"]["x86_64"]
for i in im:
    print(i.path, i.type, i.format, i.implant_md5, i.checksums["sha256"], i.volume_id)
print(c.info.variants["Temporary"].paths.isos["x86_64"])
"#;
    let out = common::run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(w.target.join("odcs-9")),
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = said.lines().collect();
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(
        (fields[0], fields[1], fields[2], fields[4], fields[5]),
        (
            format!("Temporary/x86_64/iso/{name}").as_str(),
            "dvd",
            "iso",
            sha.as_str(),
            "odcs-9-1-x86_64"
        ),
        "{said}"
    );
    assert_eq!(fields[3].len(), 32, "implant_md5: {said}");
    assert_eq!(lines[1], "Temporary/x86_64/iso");
}

/// A tag compose of several tags (#20): each resolved with its own
/// inheritance, the first tag listed giving a package both have; `builds`
/// still override.
#[test]
fn several_tags_the_first_listed_wins_a_package() {
    let w = world();
    for (tag, specs) in [
        ("hotfix", &["zeta-2.0-1.noarch"][..]),
        ("extras", &["zeta-1.5-1.noarch", "onlyextra-1-1.noarch"][..]),
    ] {
        let dir = w.root.join(format!("incoming-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        for s in specs {
            PackageSpec::parse(s).unwrap().write_to(&dir).unwrap();
        }
        import(&w.store, &dir, tag, &[]);
    }
    let names_of = |name: &str, tags: &[&str]| {
        let req = ComposeRequest {
            source: tags.iter().map(|t| t.to_string()).collect(),
            ..request(name, "unused", &["zeta", "onlyextra", "ed"])
        };
        compose(&w, &req).unwrap();
        package_names(&os_tree(&w, name))
    };
    let a = names_of("odcs-21", &["hotfix", "extras", "updates"]);
    assert!(a.contains(&"zeta-2.0-1.noarch".to_owned()), "{a:?}");
    assert!(a.contains(&"onlyextra-1-1.noarch".to_owned()), "{a:?}");
    assert!(
        a.iter().any(|n| n.starts_with("ed-1.14.1")),
        "a package of the third tag's parent: {a:?}"
    );
    assert!(!a.iter().any(|n| n.starts_with("zeta-1.")), "{a:?}");
    let b = names_of("odcs-22", &["extras", "hotfix", "updates"]);
    assert!(
        b.contains(&"zeta-1.5-1.noarch".to_owned()),
        "the order decides: {b:?}"
    );
    let c = names_of("odcs-23", &["updates", "hotfix", "extras"]);
    assert!(
        c.contains(&"zeta-1.0-9.noarch".to_owned()),
        "updates listed first gives its own zeta: {c:?}"
    );
}

/// A `repo` compose (#20): the packages of a local repository, from its
/// repodata (createrepo_c's), with the closure as for a tag; the repomd
/// revision is the compose's event. Without repodata, the RPMs under the
/// directory are read.
#[test]
fn a_repo_compose_takes_the_packages_of_a_local_repository() {
    let w = world();
    let repo = w.root.join("a-repo");
    std::fs::create_dir_all(&repo).unwrap();
    for s in ["app-1-1.x86_64", "lib-2-1.x86_64", "other-1-1.noarch"] {
        let mut spec = PackageSpec::parse(s).unwrap();
        if s.starts_with("app") {
            spec = spec.requires("lib >= 2");
        }
        spec.write_to(&repo).unwrap();
    }
    common::createrepo_c(&repo, &repo, &["--revision", "4242"]);
    let req = ComposeRequest {
        source_type: odcs::compose::request::SourceType::Repo,
        source: vec![format!("file://{}", repo.display())],
        ..request("odcs-31", "unused", &["app"])
    };
    let r = compose(&w, &req).unwrap();
    assert_eq!(r.event, 4242);
    assert_eq!(
        package_names(&os_tree(&w, "odcs-31")),
        ["app-1-1.x86_64", "lib-2-1.x86_64"]
    );
    // the same RPMs in a directory nobody ran createrepo over: read from
    // the RPMs themselves, the same packages
    let bare = w.root.join("bare-repo");
    std::fs::create_dir_all(bare.join("sub")).unwrap();
    for e in std::fs::read_dir(&repo).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rpm") {
            std::fs::copy(&p, bare.join("sub").join(p.file_name().unwrap())).unwrap();
        }
    }
    let req = ComposeRequest {
        source_type: odcs::compose::request::SourceType::Repo,
        source: vec![bare.display().to_string()],
        ..request("odcs-33", "unused", &["app"])
    };
    compose(&w, &req).unwrap();
    assert_eq!(
        package_names(&os_tree(&w, "odcs-33")),
        ["app-1-1.x86_64", "lib-2-1.x86_64"]
    );
    // a symlink out of such a directory is refused
    let outside = w.root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    PackageSpec::parse("secret-1-1.noarch")
        .unwrap()
        .write_to(&outside)
        .unwrap();
    std::os::unix::fs::symlink(
        outside.join("secret-1-1.noarch.rpm"),
        bare.join("secret-1-1.noarch.rpm"),
    )
    .unwrap();
    let req = ComposeRequest {
        source_type: odcs::compose::request::SourceType::Repo,
        source: vec![bare.display().to_string()],
        ..request("odcs-34", "unused", &["app"])
    };
    let e = compose(&w, &req).unwrap_err().to_string();
    assert!(e.contains("a package outside the repository"), "{e}");
    // a directory with neither repodata nor RPMs: the failure names it
    let empty = w.root.join("no-repo");
    std::fs::create_dir_all(&empty).unwrap();
    let req = ComposeRequest {
        source_type: odcs::compose::request::SourceType::Repo,
        source: vec![empty.display().to_string()],
        ..request("odcs-32", "unused", &["app"])
    };
    let e = compose(&w, &req).unwrap_err().to_string();
    assert!(e.contains(&empty.display().to_string()), "{e}");
}
