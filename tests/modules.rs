//! Module composes (#15) from the local store: what libmodulemd and dnf
//! make of the modules.yaml we write, dependency expansion and its
//! conflicts, and module composes through the service and the Python client.

mod common;

use common::modulemd::{libmodulemd, modules_yaml};

use std::path::Path;
use std::process::Command;

use common::server::Server;
use odcs::modulemd::ModuleStream;
use odcs::rpm::build::{FileContent, PackageSpec};
use odcs::source::local::LocalStore;
use serde_json::{Value, json};

/// The demo store of `odcs store demo`, with its modules `demo:1` and
/// `demo-app:2` (which requires `demo:1`).
fn demo_store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store");
    common::run_ok(
        common::odcs()
            .args(["store", "demo", "--packages", "60", "--store"])
            .arg(&store),
    );
    store
}

fn compose(store: &Path, target: &Path, name: &str, args: &[&str]) {
    common::run_ok(
        common::odcs()
            .args(["compose", "--store"])
            .arg(store)
            .arg("--target")
            .arg(target)
            .args(["--name", name])
            .args(args),
    );
}

fn os_repo(target: &Path, name: &str) -> std::path::PathBuf {
    target.join(name).join("compose/Temporary/x86_64/os")
}

/// dnf against the module compose and a compose of demo-base, with the
/// platform the modules require.
fn dnf(root: &Path, repos: &[(&str, &Path)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(common::tool("dnf"));
    cmd.arg(format!("--installroot={}", root.display()))
        .args(["--setopt=reposdir=/dev/null", "--releasever=40", "-y"])
        .args(["--setopt=skip_if_unavailable=False", "--setopt=gpgcheck=0"])
        .arg("--setopt=module_platform_id=platform:f40")
        .arg(format!(
            "--setopt=cachedir={}",
            root.join("cache").display()
        ));
    for (id, path) in repos {
        cmd.arg(format!("--repofrompath={id},file://{}", path.display()));
    }
    common::run(cmd.args(args))
}

#[test]
fn a_module_compose_is_read_by_libmodulemd_and_filtered_and_enabled_by_dnf() {
    let tmp = tempfile::tempdir().unwrap();
    let store = demo_store(tmp.path());
    let target = tmp.path().join("out");
    compose(
        &store,
        &target,
        "app",
        &["--source-type", "module", "--source", "demo-app:2"],
    );
    compose(
        &store,
        &target,
        "app-nodeps",
        &[
            "--source-type",
            "module",
            "--source",
            "demo-app:2",
            "--flag",
            "no_deps",
        ],
    );
    compose(&store, &target, "base", &["--source", "demo-base"]);

    // the dependency demo:1 came along; libmodulemd reads both strictly
    let yaml = modules_yaml(&os_repo(&target, "app"));
    let read = libmodulemd(&yaml);
    assert!(!read.contains("FAILURE"), "{read}");
    let lines: Vec<&str> = read.lines().collect();
    assert_eq!(lines.len(), 2, "{read}");
    assert_eq!(
        lines[0],
        "demo:1:20261129000000:d3m0c0de:x86_64 default demo-lib-0:1.0-1.module_demo1.x86_64,demo-tool-0:1.0-1.module_demo1.x86_64"
    );
    assert_eq!(
        lines[1],
        "demo-app:2:20261129000000:d3m0c0de:x86_64 default demo-app-0:2.0-1.module_demoapp2.x86_64"
    );
    // every artifact is in the repository, and nothing else
    let packages: Vec<String> = common::rpm_files_under(&os_repo(&target, "app"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut packages = packages;
    packages.sort();
    assert_eq!(
        packages,
        [
            "demo-app-2.0-1.module_demoapp2.x86_64.rpm",
            "demo-lib-1.0-1.module_demo1.x86_64.rpm",
            "demo-tool-1.0-1.module_demo1.x86_64.rpm"
        ]
    );
    // productmd loads modules.json; its modulemd_path is the modules record
    let script = r#"
import sys, productmd.modules
m = productmd.modules.Modules()
m.load(sys.argv[1])
for v, arches in sorted(m.modules.items()):
    for a, mods in sorted(arches.items()):
        for uid, e in sorted(mods.items()):
            print(v, a, uid, e["metadata"]["koji_tag"], e["modulemd_path"]["binary"], len(e["rpms"]))
"#;
    let out = common::run_ok(
        Command::new("python3")
            .args(["-c", script])
            .arg(target.join("app/compose/metadata/modules.json")),
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = listed.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert_eq!(
        lines[0][..4],
        [
            "Temporary",
            "x86_64",
            "demo-app:2:20261129000000:d3m0c0de",
            "module-demo-app-2-20261129000000-d3m0c0de"
        ]
    );
    assert_eq!(lines[1][2], "demo:1:20261129000000:d3m0c0de");
    assert_eq!(lines[1][5], "2");
    assert!(
        target.join("app/compose").join(lines[0][4]).is_file(),
        "{listed}"
    );

    // no_deps: the requested module only
    let nodeps = libmodulemd(&modules_yaml(&os_repo(&target, "app-nodeps")));
    assert_eq!(nodeps.lines().count(), 1, "{nodeps}");
    assert!(nodeps.starts_with("demo-app:2:"), "{nodeps}");

    // dnf: the streams are listed; modular RPMs stay hidden until enabled,
    // then a profile installs from the compose and the base tree alone
    let root = tmp.path().join("root");
    let repos = [
        ("mod", os_repo(&target, "app")),
        ("base", os_repo(&target, "base")),
    ];
    let repos: Vec<(&str, &Path)> = repos.iter().map(|(i, p)| (*i, p.as_path())).collect();
    let list = dnf(&root, &repos, &["module", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        text.contains("demo-app")
            && text
                .lines()
                .any(|l| l.starts_with("demo ") && l.contains(" 1 ")),
        "{text}"
    );
    let hidden = dnf(&root, &repos, &["install", "--downloadonly", "demo-app"]);
    assert!(!hidden.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&hidden.stdout),
        String::from_utf8_lossy(&hidden.stderr)
    );
    assert!(said.contains("filtered out by modular filtering"), "{said}");
    let enable = dnf(&root, &repos, &["module", "enable", "demo-app:2"]);
    assert!(
        enable.status.success(),
        "{}",
        String::from_utf8_lossy(&enable.stderr)
    );
    let dl = tmp.path().join("dl");
    let install = dnf(
        &root,
        &repos,
        &[
            "install",
            "--downloadonly",
            "--downloaddir",
            dl.to_str().unwrap(),
            "@demo-app:2/default",
        ],
    );
    assert!(
        install.status.success(),
        "{}{}",
        String::from_utf8_lossy(&install.stdout),
        String::from_utf8_lossy(&install.stderr)
    );
    let got: Vec<String> = std::fs::read_dir(&dl)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for want in [
        "demo-app-2.0-1.module_demoapp2.x86_64.rpm",
        "demo-tool-1.0-1.module_demo1.x86_64.rpm",
        "demo-lib-1.0-1.module_demo1.x86_64.rpm",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} not in {got:?}");
    }
}

/// A module build for the store: one package per module, named after it.
fn module(
    dir: &Path,
    name: &str,
    stream: &str,
    version: u64,
    requires: &[(&str, &[&str])],
) -> (String, Vec<(std::path::PathBuf, odcs::rpm::PackageMeta)>) {
    let mut spec = PackageSpec::parse(&format!("{name}-pkg-{stream}.0-{version}.x86_64")).unwrap();
    spec.files = vec![(
        format!("/usr/share/{name}/{stream}"),
        FileContent::Regular(b"x".to_vec()),
    )];
    let d = dir.join(format!("{name}-{stream}-{version}"));
    std::fs::create_dir_all(&d).unwrap();
    let path = spec.write_to(&d).unwrap();
    let meta = odcs::rpm::read_package(&path).unwrap();
    let m = ModuleStream {
        name: name.into(),
        stream: stream.into(),
        version,
        context: "c1".into(),
        requires: requires
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|x| x.to_string()).collect()))
            .collect(),
        ..Default::default()
    };
    (m.to_yaml(), vec![(path, meta)])
}

fn resolve(store: &LocalStore, specs: &[&str], deps: bool) -> Result<Vec<String>, String> {
    use odcs::source::PackageSource;
    let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
    odcs::compose::modules::resolve_modules(
        &specs,
        &["platform".to_owned()],
        &odcs::source::ModuleQuery::new("", store.current_event().unwrap()),
        &|q| store.module_builds(q),
        deps,
    )
    .map(|v| v.iter().map(|m| m.nsvc()).collect())
    .map_err(|e| e.to_string())
}

/// Stream expansion: `[s]`, `[]` (the newest stream), `[-s]`; the newest
/// version of `n:s` with all its contexts; base modules left out; two
/// requirers of different streams of one module fail naming both.
#[test]
fn module_dependencies_expand_as_mbs_defines_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&tmp.path().join("store")).unwrap();
    let add = |name: &str, stream: &str, version: u64, requires: &[(&str, &[&str])]| {
        let (yaml, rpms) = module(tmp.path(), name, stream, version, requires);
        store.import_module(&yaml, &rpms).unwrap();
    };
    add("lib", "1", 1, &[]);
    add("lib", "1", 2, &[]);
    add("lib", "2", 1, &[]);
    add("lib", "3", 5, &[]);
    add("app", "1", 1, &[("lib", &["1"]), ("platform", &["f40"])]);
    add("any", "1", 1, &[("lib", &[])]);
    add("notthree", "1", 1, &[("lib", &["-3"])]);
    add("two", "1", 1, &[("lib", &["2"])]);

    assert_eq!(
        resolve(&store, &["app:1"], true).unwrap(),
        ["app:1:1:c1", "lib:1:2:c1"]
    );
    assert_eq!(resolve(&store, &["app:1"], false).unwrap(), ["app:1:1:c1"]);
    assert_eq!(
        resolve(&store, &["any:1"], true).unwrap(),
        ["any:1:1:c1", "lib:3:5:c1"]
    );
    assert_eq!(
        resolve(&store, &["notthree:1"], true).unwrap(),
        ["notthree:1:1:c1", "lib:1:2:c1"]
    );
    assert_eq!(resolve(&store, &["lib:1:1"], true).unwrap(), ["lib:1:1:c1"]);
    // a module asked for satisfies what others require
    assert_eq!(
        resolve(&store, &["lib:1:1", "app:1"], true).unwrap(),
        ["lib:1:1:c1", "app:1:1:c1"]
    );
    let err = resolve(&store, &["app:1", "two:1"], true).unwrap_err();
    assert!(
        err.contains("conflicting streams of module lib")
            && err.contains("app:1 needs lib:1")
            && err.contains("two:1 needs lib:2"),
        "{err}"
    );
    let err = resolve(&store, &["nope:1"], true).unwrap_err();
    assert_eq!(err, "Failed to find module nope:1 in ready state.");
    // the same module twice is refused, naming it
    let (yaml, rpms) = module(tmp.path(), "lib", "1", 1, &[]);
    let err = store.import_module(&yaml, &rpms).unwrap_err().to_string();
    assert!(err.contains("lib:1:1:c1 is already in the store"), "{err}");
}

/// Through the service: the Python client's `new_compose(…, "module")`;
/// the exact builds replace the requested modules in `source`; the
/// original's messages for base modules and bad module names; a module the
/// store lacks fails the compose with the original's reason.
#[test]
fn module_composes_through_the_service_and_the_python_client() {
    let (s, _) = Server::start_with(
        false,
        |cfg| {
            let store = LocalStore::open(&cfg.store_dir()).unwrap();
            let dir = cfg.data_dir.join("incoming-modules");
            let (yaml, rpms) = module(&dir, "lib", "1", 7, &[]);
            store.import_module(&yaml, &rpms).unwrap();
            let (yaml, rpms) = module(
                &dir,
                "app",
                "1",
                3,
                &[("lib", &["1"]), ("platform", &["f40"])],
            );
            store.import_module(&yaml, &rpms).unwrap();
        },
        None,
    );
    let id = s.python_client_compose("app:1", "module");
    let c = s.get(&format!("/api/1/composes/{id}")).1;
    assert_eq!(c["source"], "app:1:3:c1 lib:1:7:c1");
    assert_eq!(c["source_type"], 2);
    let repo = s
        .data
        .join(format!("composes/odcs-{id}/compose/Temporary/x86_64/os"));
    let read = libmodulemd(&modules_yaml(&repo));
    assert_eq!(read.lines().count(), 2, "{read}");

    // removed, then renewed: the same RPMs and the same modules.yaml again
    assert_eq!(
        s.request("DELETE", &format!("/api/1/composes/{id}"), None)
            .0,
        202
    );
    s.wait_for(id, &["removed"]);
    let (code, renewed) = s.patch(&format!("/api/1/composes/{id}"), &json!({}));
    assert_eq!(code, 200, "{renewed}");
    let new_id = renewed["id"].as_i64().unwrap();
    assert_ne!(new_id, id);
    assert_eq!(
        s.wait_for(new_id, &["done", "failed"])["state_name"],
        "done"
    );
    let repo = s.data.join(format!(
        "composes/odcs-{new_id}/compose/Temporary/x86_64/os"
    ));
    assert_eq!(libmodulemd(&modules_yaml(&repo)), read);

    for (source, message) in [
        (
            "platform:f40",
            "ODCS currently cannot create compose with base modules, but platform was requested.",
        ),
        (
            "app",
            "Module definition must be in \"n:s\", \"n:s:v\" or \"n:s:v:c\" format, but got app",
        ),
        (
            "app:1:notanumber",
            "Module definition must be in \"n:s\", \"n:s:v\" or \"n:s:v:c\" format, but got app:1:notanumber",
        ),
    ] {
        let (code, body) = s.post(
            "/api/1/composes/",
            &json!({"source": {"type": "module", "source": source}}),
        );
        assert_eq!(
            (code, body["message"].as_str()),
            (400, Some(message)),
            "{body}"
        );
    }
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "missing:1"}}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["failed"]);
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Failed to find module missing:1 in ready state."),
        "{c}"
    );
    let _: Value = c;

    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "app:1", "packages": ["x"]}}),
    );
    assert_eq!(
        (code, body["message"].as_str()),
        (
            400,
            Some("Exact packages cannot be set for MODULE source type.")
        )
    );
    // modular Koji tags need a Koji hub; the list is checked at the door
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "app:1", "modular_koji_tags": "t"}}),
    );
    assert_eq!(
        (code, body["message"].as_str()),
        (400, Some("modular_koji_tags should be a list"))
    );
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "app:1", "modular_koji_tags": ["a b"]}}),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "app:1", "modular_koji_tags": ["m"]}}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["failed"]);
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("modular_koji_tags need a Koji hub"),
        "{c}"
    );
}

/// `base_module_names`: the configured base modules are refused in
/// requests and left out of the dependencies; `module_defaults_dir`: the
/// configured defaults go into module composes that name none.
#[test]
fn configured_base_modules_and_module_defaults() {
    let (s, _) = Server::start_with(
        false,
        |cfg| {
            cfg.base_module_names = vec!["platform".into(), "lib".into()];
            let defaults = cfg.data_dir.join("module-defaults");
            std::fs::create_dir_all(&defaults).unwrap();
            std::fs::write(
                defaults.join("app.yaml"),
                "document: modulemd-defaults\nversion: 1\ndata:\n  module: app\n  stream: \"1\"\n",
            )
            .unwrap();
            cfg.module_defaults_dir = Some(defaults);
            let store = LocalStore::open(&cfg.store_dir()).unwrap();
            let dir = cfg.data_dir.join("incoming-modules");
            let (yaml, rpms) = module(&dir, "lib", "1", 7, &[]);
            store.import_module(&yaml, &rpms).unwrap();
            let (yaml, rpms) = module(&dir, "app", "1", 3, &[("lib", &["1"])]);
            store.import_module(&yaml, &rpms).unwrap();
        },
        None,
    );
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "lib:1"}}),
    );
    assert_eq!(
        (code, body["message"].as_str()),
        (
            400,
            Some("ODCS currently cannot create compose with base modules, but lib was requested.")
        )
    );
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "app:1"}}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "app:1:3:c1", "lib is a base module here");
    let repo = s.data.join(format!(
        "composes/odcs-{}/compose/Temporary/x86_64/os",
        c["id"]
    ));
    let read = libmodulemd(&modules_yaml(&repo));
    assert!(read.contains("DEFAULT app 1"), "{read}");
}

/// `module_defaults_url` + `module_defaults_commit`: the defaults of a git
/// repository at that commit go into modules.yaml, and dnf then installs a
/// module's RPMs without enabling its stream; the two keys go together,
/// and the URL must be one the server may read.
#[test]
fn module_defaults_from_git_make_a_default_stream_dnf_installs_from() {
    let tmp = tempfile::tempdir().unwrap();
    let git_dir = tmp.path().join("defaults");
    std::fs::create_dir_all(&git_dir).unwrap();
    let git = |args: &[&str]| {
        common::run_ok(Command::new("git").current_dir(&git_dir).args(args));
    };
    git(&["init", "-q"]);
    std::fs::write(
        git_dir.join("app.yaml"),
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: app\n  stream: \"1\"\n  profiles:\n    \"1\": [default]\n...\n",
    )
    .unwrap();
    std::fs::write(
        git_dir.join("other.yaml"),
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: other\n  stream: \"9\"\n...\n",
    )
    .unwrap();
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "-m",
        "defaults",
    ]);
    let commit = String::from_utf8(
        common::run_ok(
            Command::new("git")
                .current_dir(&git_dir)
                .args(["rev-parse", "HEAD"]),
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    // a later commit changes the default: the compose takes the one asked for
    std::fs::write(
        git_dir.join("app.yaml"),
        "---\ndocument: modulemd-defaults\nversion: 1\ndata:\n  module: app\n  stream: \"2\"\n...\n",
    )
    .unwrap();
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "-am",
        "later",
    ]);

    let url = format!("file://{}", git_dir.display());
    let allowed = tmp.path().display().to_string();
    let (s, _) = Server::start_with(
        false,
        move |cfg| {
            cfg.lookaside_allowed = vec![allowed];
            let store = LocalStore::open(&cfg.store_dir()).unwrap();
            let dir = cfg.data_dir.join("incoming-modules");
            let (yaml, rpms) = module(&dir, "app", "1", 3, &[]);
            store.import_module(&yaml, &rpms).unwrap();
        },
        None,
    );
    let post = |extra: Value| {
        let mut source = json!({"type": "module", "source": "app:1"});
        source
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        s.post("/api/1/composes/", &json!({"source": source}))
    };
    let (code, body) = post(json!({"module_defaults_url": url}));
    assert_eq!(
        (code, body["message"].as_str()),
        (
            400,
            Some(
                "The \"module_defaults_url\" and \"module_defaults_commit\" must be used together."
            )
        )
    );
    let (code, body) = post(
        json!({"module_defaults_url": "https://elsewhere.example.com/defaults.git", "module_defaults_commit": commit}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("module_defaults_url: "),
        "{body}"
    );

    let (code, with) = post(json!({"module_defaults_url": url, "module_defaults_commit": commit}));
    assert_eq!(code, 200, "{with}");
    let (code, without) = post(json!({}));
    assert_eq!(code, 200, "{without}");
    let repo_of = |c: &Value| {
        let id = c["id"].as_i64().unwrap();
        assert_eq!(s.wait_for(id, &["done", "failed"])["state_name"], "done");
        s.data
            .join(format!("composes/odcs-{id}/compose/Temporary/x86_64/os"))
    };
    let (with_repo, without_repo) = (repo_of(&with), repo_of(&without));
    // a full commit hash holds the same files for good: kept, and read
    // from the cache once the repository is gone
    let moved = tmp.path().join("defaults-moved");
    std::fs::rename(&git_dir, &moved).unwrap();
    let (code, cached) =
        post(json!({"module_defaults_url": url, "module_defaults_commit": commit}));
    assert_eq!(code, 200, "{cached}");
    let cached_repo = repo_of(&cached);
    assert!(
        libmodulemd(&modules_yaml(&cached_repo)).contains("DEFAULT app 1"),
        "defaults from the cache"
    );
    std::fs::rename(&moved, &git_dir).unwrap();
    assert_eq!(
        s.get(&format!("/api/1/composes/{}", with["id"])).1["module_defaults_url"],
        format!("{url} {commit}")
    );
    let read = libmodulemd(&modules_yaml(&with_repo));
    assert!(read.contains("DEFAULT app 1"), "{read}");
    assert!(
        !read.contains("other"),
        "defaults of modules not in the compose: {read}"
    );
    assert!(!libmodulemd(&modules_yaml(&without_repo)).contains("DEFAULT"));

    // a renewal of the removed compose has the same defaults (the same commit)
    let with_id = with["id"].as_i64().unwrap();
    assert_eq!(
        s.request("DELETE", &format!("/api/1/composes/{with_id}"), None)
            .0,
        202
    );
    s.wait_for(with_id, &["removed"]);
    let (code, renewed) = s.patch(&format!("/api/1/composes/{with_id}"), &json!({}));
    assert_eq!(code, 200, "{renewed}");
    let renewed_repo = repo_of(&renewed);
    assert_eq!(libmodulemd(&modules_yaml(&renewed_repo)), read);

    // dnf: with the default stream the RPM installs as is; without, it is
    // filtered out until enabled
    for (repo, installs) in [(&renewed_repo, true), (&without_repo, false)] {
        let root = tmp.path().join(format!("root-{installs}"));
        let out = dnf(
            &root,
            &[("mod", repo.as_path())],
            &["install", "--downloadonly", "app-pkg"],
        );
        assert_eq!(
            out.status.success(),
            installs,
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
