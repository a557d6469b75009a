//! Module composes as the original ODCS makes them in production: MBS says
//! which module builds a request means, Koji holds them (their per-arch
//! modulemd and their content tags). MBS here is the real Module Build
//! Service 3.9.2 from PyPI (tests/common/mbs.rs); Koji is the test hub
//! (tests/koji_hub, checked against the real koji CLI in tests/koji.rs).

mod common;
#[path = "koji_hub/mod.rs"]
mod koji_hub;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::mbs::{Import, Mbs};
use common::server::Server;
use koji_hub::model::HubModel;
use odcs::source::koji::{ClientOptions, KojiClient, KojiPaths};
use odcs::source::koji_source::KojiSource;
use odcs::source::mbs::{MbsClient, MbsSource};
use odcs::source::{ModuleQuery, PackageSource};
use serde_json::json;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(30),
        max_retries: 1,
        retry_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    }
}

/// One module build: what MBS and Koji both know of it.
struct Build {
    nsvc: &'static str,
    platform: &'static str,
    requires: &'static [(&'static str, &'static str)],
    /// `name.arch` of its RPMs; the first `listed` are its artifacts, the
    /// rest are in its content tag only. (No `.src`: the test hub's RPM
    /// builder cannot make source RPMs, src/rpm/build.rs.)
    rpms: &'static [&'static str],
    listed: usize,
    mbs_state: &'static str,
    in_koji: bool,
    /// `-devel` modules are Koji builds only; MBS knows the module.
    in_mbs: bool,
}

impl Build {
    fn parts(&self) -> (&str, &str, &str, &str) {
        let p: Vec<&str> = self.nsvc.split(':').collect();
        (p[0], p[1], p[2], p[3])
    }

    fn content_tag(&self) -> String {
        let (n, _, _, c) = self.parts();
        format!("module-{n}-{c}")
    }

    /// Release of its one component build (whose RPMs are all 1.0).
    fn release(&self) -> String {
        let (_, _, v, c) = self.parts();
        format!("{}.module_{}+{c}", &v[..4], self.platform)
    }

    /// N-V-R of its one component build.
    fn component(&self) -> String {
        let (n, ..) = self.parts();
        format!("{n}-comp-1.0-{}", self.release())
    }

    fn artifacts(&self) -> Vec<String> {
        self.rpms[..self.listed]
            .iter()
            .map(|r| {
                let (name, arch) = r.rsplit_once('.').unwrap();
                format!("{name}-0:1.0-{}.{arch}", self.release())
            })
            .collect()
    }

    /// Its content tag with its component build in the hub, and (with
    /// `module_build`) the module build itself, as MBS's content generator
    /// leaves them; a scratch build has no module build in Koji.
    fn put_in_koji(&self, m: &mut HubModel, module_build: bool) {
        let tag = self.content_tag();
        m.add_tag(&tag, None);
        m.add_package(&tag, &format!("{}-comp", self.parts().0));
        m.import_build(&self.component(), self.rpms, None);
        m.tag_build(&tag, &self.component());
        if module_build {
            m.import_module_build(self.nsvc, &self.modulemd(), &tag, &["x86_64"]);
        }
    }

    fn modulemd(&self) -> String {
        let (n, s, v, c) = self.parts();
        let requires: String = self
            .requires
            .iter()
            .map(|(m, st)| format!("      {m}: [\"{st}\"]\n"))
            .collect();
        let artifacts: String = self
            .artifacts()
            .iter()
            .map(|a| format!("    - {a}\n"))
            .collect();
        format!(
            "---\ndocument: modulemd\nversion: 2\ndata:\n  name: {n}\n  stream: \"{s}\"\n  version: {v}\n  context: \"{c}\"\n  summary: {n}\n  description: The {n} module.\n  license:\n    module: [MIT]\n  xmd:\n    mbs:\n      koji_tag: {tag}\n  dependencies:\n  - buildrequires:\n      platform: [\"{p}\"]\n    requires:\n      platform: [\"{p}\"]\n{requires}  profiles:\n    default:\n      rpms: [{n}-comp]\n  artifacts:\n    rpms:\n{artifacts}...\n",
            tag = self.content_tag(),
            p = self.platform,
        )
    }
}

const PLATFORMS: &str = "---\ndocument: modulemd\nversion: 2\ndata:\n  name: platform\n  stream: f40\n  version: 1\n  context: \"00000000\"\n  summary: Fedora 40\n  description: Fedora 40.\n  license:\n    module: [MIT]\n  xmd:\n    mbs:\n      mse: true\n      koji_tag: module-f40-build\n...\n---\ndocument: modulemd\nversion: 2\ndata:\n  name: platform\n  stream: f41\n  version: 1\n  context: \"00000000\"\n  summary: Fedora 41\n  description: Fedora 41.\n  license:\n    module: [MIT]\n  xmd:\n    mbs:\n      mse: true\n      koji_tag: module-f41-build\n...\n";

/// `base:1` built for f40 and (newer) for f41; `testmodule:master` for f40
/// and, newer, in two contexts for f41, each requiring `base:1`, and the
/// `-devel` module of the f41 ones (in Koji only, as MBS's content
/// generator makes them); `donemod:1` done but not ready in MBS; `ghost:1`
/// in MBS only.
const BUILDS: &[Build] = &[
    Build {
        nsvc: "testmodule-devel:master:20250201000000:t41a",
        platform: "f41",
        requires: &[],
        rpms: &["testmodule-devel-comp.noarch"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: false,
    },
    Build {
        nsvc: "testmodule-devel:master:20250201000000:t41b",
        platform: "f41",
        requires: &[],
        rpms: &["testmodule-devel-comp.noarch"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: false,
    },
    Build {
        nsvc: "base:1:20240101000000:b40",
        platform: "f40",
        requires: &[],
        rpms: &["base-comp.x86_64"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "base:1:20250101000000:b41",
        platform: "f41",
        requires: &[],
        rpms: &["base-comp.x86_64"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "testmodule:master:20240201000000:t40",
        platform: "f40",
        requires: &[("base", "1")],
        rpms: &["testmodule-comp.noarch", "testmodule-extra.noarch"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "testmodule:master:20250201000000:t41a",
        platform: "f41",
        requires: &[("base", "1")],
        rpms: &["testmodule-comp.noarch", "testmodule-extra.noarch"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "testmodule:master:20250201000000:t41b",
        platform: "f41",
        requires: &[("base", "1")],
        rpms: &["testmodule-comp.noarch"],
        listed: 1,
        mbs_state: "ready",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "donemod:1:20240101000000:d1",
        platform: "f40",
        requires: &[],
        rpms: &["donemod-comp.x86_64"],
        listed: 1,
        mbs_state: "done",
        in_koji: true,
        in_mbs: true,
    },
    Build {
        nsvc: "ghost:1:20240101000000:g1",
        platform: "f40",
        requires: &[],
        rpms: &["ghost-comp.x86_64"],
        listed: 1,
        mbs_state: "ready",
        in_koji: false,
        in_mbs: true,
    },
];

/// A scratch module build: in MBS (as scratch, context `s1_1`) and, in
/// Koji, its content tag and component build only, as MBS leaves them.
const SCRATCH: Build = Build {
    nsvc: "testmodule:master:20250301000000:s1",
    platform: "f41",
    requires: &[],
    rpms: &["testmodule-comp.noarch"],
    listed: 1,
    mbs_state: "done",
    in_koji: false,
    in_mbs: false,
};

/// The hub: each module build, its content tag and its component build.
/// Returns the model and the event before the f41 builds (imported last).
fn hub(topdir: &Path) -> (HubModel, i64) {
    let mut m = HubModel::new(topdir);
    let mut before_f41 = 0;
    let mut builds: Vec<&Build> = BUILDS.iter().filter(|b| b.in_koji).collect();
    builds.sort_by_key(|b| b.platform);
    for b in builds {
        if b.platform == "f41" && before_f41 == 0 {
            before_f41 = m.last_event();
        }
        b.put_in_koji(&mut m, true);
    }
    SCRATCH.put_in_koji(&mut m, false);
    (m, before_f41)
}

fn mbs(dir: &Path) -> Mbs {
    let mut imports = vec![Import {
        state: "ready",
        yaml: PLATFORMS.to_owned(),
        args: vec![],
    }];
    for b in BUILDS.iter().filter(|b| b.in_mbs) {
        imports.push(Import {
            state: b.mbs_state,
            yaml: b.modulemd(),
            args: vec![],
        });
    }
    // the scratch build: MBS gives its context the suffix `_1` and answers
    // its final modulemd
    imports.push(Import {
        state: "done",
        yaml: SCRATCH.modulemd(),
        args: vec![
            "--scratch".into(),
            "--final-modulemd".into(),
            "x86_64={file}".into(),
        ],
    });
    Mbs::start(dir, &imports).unwrap_or_else(|e| panic!("{e}"))
}

fn packages(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = odcs::repodata::read::read_repo(repo)
        .unwrap()
        .packages
        .into_iter()
        .map(|p| format!("{}-{}-{}.{}", p.name, p.ver, p.rel, p.arch))
        .collect();
    v.sort();
    v
}

#[test]
fn koji_alone_finds_module_builds_as_pungi_does() {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let (model, before_f41) = hub(&topdir);
    let hub = koji_hub::KojiHub::start(model);
    let koji = KojiSource::new(
        KojiClient::new(hub.url(), options()),
        KojiPaths::new(&topdir),
    );
    let now = koji.current_event().unwrap();
    let nsvcs = |spec: &str, event: i64| -> Vec<String> {
        match koji.module_builds(&ModuleQuery::new(spec, event)) {
            Ok(v) => v.iter().map(|m| m.nsvc()).collect(),
            Err(e) => vec![e.to_string()],
        }
    };
    // every context of the highest version; a version or context narrows
    assert_eq!(
        nsvcs("testmodule:master", now),
        [
            "testmodule:master:20250201000000:t41a",
            "testmodule:master:20250201000000:t41b"
        ]
    );
    assert_eq!(
        nsvcs("testmodule:master:20250201000000:t41b", now),
        ["testmodule:master:20250201000000:t41b"]
    );
    // builds completed after the event are not seen
    assert_eq!(
        nsvcs("testmodule:master", before_f41),
        ["testmodule:master:20240201000000:t40"]
    );
    assert_eq!(
        nsvcs("testmodule:nope", now),
        ["Failed to find module testmodule:nope in ready state."]
    );
    // the RPMs of a module build: its artifacts from its content tag, not
    // everything tagged there
    let m = &koji
        .module_builds(&ModuleQuery::new(
            "testmodule:master:20240201000000:t40",
            now,
        ))
        .unwrap()[0];
    assert_eq!(m.content_tag, "module-testmodule-t40");
    let mut rpms: Vec<String> = koji
        .module_rpms(m, &[None])
        .unwrap()
        .iter()
        .map(|r| r.file_name())
        .collect();
    rpms.sort();
    assert_eq!(rpms, ["testmodule-comp-1.0-2024.module_f40+t40.noarch.rpm"]);
    assert!(hub.methods().contains(&"search".to_owned()));
}

#[test]
fn module_composes_ask_the_real_mbs_and_take_the_builds_from_koji() {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let (model, _) = hub(&topdir);
    let hub = koji_hub::KojiHub::start(model);
    let peer = mbs(&tmp.path().join("mbs"));

    // MBS answers as formats.md §4.4 says, and our client reads it
    let client = MbsClient::new(&peer.url, options(), None).unwrap();
    let mut q = ModuleQuery::new("testmodule:master", 0);
    let got: Vec<String> = odcs::source::mbs::newest(client.module_builds(&q).unwrap(), 2)
        .iter()
        .map(|b| b.nsvc())
        .collect();
    assert_eq!(
        got,
        [
            "testmodule:master:20250201000000:t41a",
            "testmodule:master:20250201000000:t41b"
        ]
    );
    q.base_module_br.stream = Some("f40".into());
    let got: Vec<String> = client
        .module_builds(&q)
        .unwrap()
        .iter()
        .map(|b| b.nsvc())
        .collect();
    assert_eq!(got, ["testmodule:master:20240201000000:t40"]);

    let url = peer.url.clone();
    let koji_url = hub.url();
    let koji_top = topdir.clone();
    let (s, _) = Server::start_with(
        false,
        |_| {},
        Some(Box::new(move |_store| {
            let koji = KojiSource::new(
                KojiClient::new(koji_url, options()),
                KojiPaths::new(&koji_top),
            );
            Arc::new(MbsSource {
                mbs: MbsClient::new(&url, options(), None).unwrap(),
                inner: Arc::new(koji),
            }) as Arc<dyn PackageSource + Send>
        })),
    );
    let repo = |id: i64| {
        s.data
            .join(format!("composes/odcs-{id}/compose/Temporary/x86_64/os"))
    };

    // the Python client asks for a module stream; MBS picks the newest
    // version (both its contexts) and, for its dependency base:1, the
    // newest build made against the same base module or an older one
    let id = s.python_client_compose("testmodule:master", "module");
    let c = s.get(&format!("/api/1/composes/{id}")).1;
    assert_eq!(
        c["source"],
        "base:1:20250101000000:b41 testmodule:master:20250201000000:t41a testmodule:master:20250201000000:t41b"
    );
    let read = common::modulemd::libmodulemd(&common::modulemd::modules_yaml(&repo(id)));
    assert_eq!(
        read.lines().count(),
        3,
        "libmodulemd reads every stream: {read}"
    );
    assert!(!read.contains("FAILURE"), "{read}");
    assert_eq!(
        packages(&repo(id)),
        [
            "base-comp-1.0-2025.module_f41+b41.x86_64",
            "testmodule-comp-1.0-2025.module_f41+t41a.noarch",
            "testmodule-comp-1.0-2025.module_f41+t41b.noarch",
        ],
        "only the artifacts of each build, not everything in its content tag"
    );

    let post = |body: serde_json::Value| -> serde_json::Value {
        let (code, body) = s.post("/api/1/composes/", &body);
        assert_eq!(code, 200, "{body}");
        s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"])
    };
    // built against f40: the f40 build, and its dependency bounded by f40
    let c = post(
        json!({"source": {"type": "module", "source": "testmodule:master",
        "base_module_br_name": "platform", "base_module_br_stream": "f40"}}),
    );
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(
        c["source"],
        "base:1:20240101000000:b40 testmodule:master:20240201000000:t40"
    );
    assert_eq!(c["base_module_br_stream"], "f40");
    // no_deps, and the stream-version bound
    let c = post(
        json!({"source": {"type": "module", "source": "testmodule:master",
        "base_module_br_stream_version_lte": 400000}, "flags": ["no_deps"]}),
    );
    assert_eq!(c["source"], "testmodule:master:20240201000000:t40", "{c}");
    assert_eq!(
        packages(&repo(c["id"].as_i64().unwrap())),
        ["testmodule-comp-1.0-2024.module_f40+t40.noarch"]
    );
    // a build MBS has as done is found only with include_done_modules
    let c = post(json!({"source": {"type": "module", "source": "donemod:1"}}));
    assert_eq!(c["state_name"], "failed");
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap()
            .contains("Failed to find module donemod:1 in ready state in the MBS."),
        "{c}"
    );
    let c = post(json!({"source": {"type": "module", "source": "donemod:1"},
        "flags": ["include_done_modules"]}));
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "donemod:1:20240101000000:d1");
    // a -devel module: looked up in MBS without the suffix, taken from
    // Koji with it, and requiring its module
    let c = post(json!({"source": {"type": "module", "source": "testmodule-devel:master"}}));
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(
        c["source"],
        "base:1:20250101000000:b41 testmodule-devel:master:20250201000000:t41a \
         testmodule-devel:master:20250201000000:t41b testmodule:master:20250201000000:t41a \
         testmodule:master:20250201000000:t41b"
    );
    // a scratch module: only in test composes, from MBS's final modulemd
    // and its koji_tag; `source` may then be empty and stays so
    let scratch = "testmodule:master:20250301000000:s1_1";
    let c = post(json!({"source": {"type": "module", "source": "",
        "scratch_modules": [scratch]}}));
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(
        (c["source"].as_str(), c["scratch_modules"].as_str()),
        (Some(""), Some(scratch))
    );
    assert_eq!(
        packages(&repo(c["id"].as_i64().unwrap())),
        ["testmodule-comp-1.0-2025.module_f41+s1.noarch"]
    );
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "", "scratch_modules": [scratch]},
                "compose_type": "production"}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("compose_type \"test\""),
        "{body}"
    );
    let c = post(json!({"source": {"type": "module", "source": "",
        "scratch_modules": ["testmodule:master:20240201000000:t40"]}}));
    assert_eq!(c["state_name"], "failed");
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap()
            .contains("is not a scratch build"),
        "{c}"
    );

    // MBS names a build Koji does not have
    let c = post(json!({"source": {"type": "module", "source": "ghost:1"}}));
    assert_eq!(c["state_name"], "failed");
    assert!(
        c["state_reason"].as_str().unwrap().contains(
            "module build ghost:1:20240101000000:g1 is ready in the MBS, but Koji has no such module build"
        ),
        "{c}"
    );
    drop(hub);
}

/// `modular_koji_tags`: modules from Koji tags instead of MBS (formats.md
/// §4.2 step 5). The child tag holds testmodule:master's older build, its
/// parent the newer ones: the top-most tag wins a name:stream. A tag compose
/// with modular tags takes every module's RPMs in place of the tag's
/// packages of the same names, as dnf's modular filtering would.
#[test]
fn modular_koji_tags_take_the_modules_of_koji_tags() {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let (mut model, _) = hub(&topdir);
    model.add_tag("modular-base", None);
    model.add_tag("modular-updates", None);
    model.add_inheritance("modular-updates", "modular-base", Default::default());
    for (tag, nsvcs) in [
        (
            "modular-base",
            &[
                "base:1:20240101000000:b40",
                "base:1:20250101000000:b41",
                "testmodule:master:20250201000000:t41a",
                "testmodule:master:20250201000000:t41b",
            ][..],
        ),
        (
            "modular-updates",
            &["testmodule:master:20240201000000:t40"][..],
        ),
    ] {
        for nsvc in nsvcs {
            let p: Vec<&str> = nsvc.split(':').collect();
            model.add_package(tag, p[0]);
            model.tag_build(tag, &format!("{}-{}-{}.{}", p[0], p[1], p[2], p[3]));
        }
    }
    // a plain tag whose testmodule-comp is not modular
    model.add_tag("f40", None);
    for (name, nvr, rpm) in [
        (
            "testmodule-comp",
            "testmodule-comp-0.9-1",
            "testmodule-comp.noarch",
        ),
        ("app", "app-1.0-1", "app.x86_64"),
    ] {
        model.add_package("f40", name);
        model.import_build(nvr, &[rpm], None);
        model.tag_build("f40", nvr);
    }
    let hub = koji_hub::KojiHub::start(model);
    let koji_url = hub.url();
    let koji_top = topdir.clone();
    let (s, _) = Server::start_with(
        false,
        |_| {},
        Some(Box::new(move |_store| {
            Arc::new(KojiSource::new(
                KojiClient::new(koji_url, options()),
                KojiPaths::new(&koji_top),
            )) as Arc<dyn PackageSource + Send>
        })),
    );
    let post = |body: serde_json::Value| -> serde_json::Value {
        let (code, body) = s.post("/api/1/composes/", &body);
        assert_eq!(code, 200, "{body}");
        s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"])
    };
    let repo = |c: &serde_json::Value| {
        s.data.join(format!(
            "composes/odcs-{}/compose/Temporary/x86_64/os",
            c["id"]
        ))
    };

    let c = post(
        json!({"source": {"type": "module", "source": "testmodule:master",
        "modular_koji_tags": ["modular-updates"]}}),
    );
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["modular_koji_tags"], "modular-updates");
    assert_eq!(
        c["source"],
        "base:1:20250101000000:b41 testmodule:master:20240201000000:t40"
    );
    let c = post(json!({"source": {"type": "module", "source": "nope:1",
        "modular_koji_tags": ["modular-updates"]}}));
    assert_eq!(c["state_name"], "failed");
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap()
            .contains("Failed to find module nope:1 in the modular Koji tags modular-updates."),
        "{c}"
    );

    // a tag compose of `app` with the modules of the modular tags
    let c = post(
        json!({"source": {"type": "tag", "source": "f40", "packages": ["app"],
        "modular_koji_tags": ["modular-updates"]}}),
    );
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "f40", "a tag compose keeps its tag as source");
    assert_eq!(
        packages(&repo(&c)),
        [
            "app-1.0-1.x86_64",
            "base-comp-1.0-2025.module_f41+b41.x86_64",
            "testmodule-comp-1.0-2024.module_f40+t40.noarch",
        ],
        "the modular testmodule-comp hides the tag's own"
    );
    let read = common::modulemd::libmodulemd(&common::modulemd::modules_yaml(&repo(&c)));
    assert_eq!(
        read.lines().collect::<Vec<_>>(),
        [
            "base:1:20250101000000:b41:x86_64 default base-comp-0:1.0-2025.module_f41+b41.x86_64",
            "testmodule:master:20240201000000:t40:x86_64 default testmodule-comp-0:1.0-2024.module_f40+t40.noarch",
        ],
        "libmodulemd reads both streams, strictly"
    );

    // dnf's modular filtering over the compose: the modular RPMs are hidden
    // until their stream is enabled, the plain ones are not
    let root = tmp.path().join("dnf-root");
    let url = format!("file://{}", repo(&c).display());
    let dnf = |args: &[&str]| {
        let mut all = vec!["--setopt=module_platform_id=platform:f41"];
        all.extend_from_slice(args);
        common::dnf(&url, &root, &all)
    };
    let out = dnf(&["repoquery", "--available", "--qf", "%{name}"]);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(listed.lines().any(|l| l == "app"), "{listed}");
    assert!(
        !listed
            .lines()
            .any(|l| l == "base-comp" || l == "testmodule-comp"),
        "modular RPMs hidden before their stream is enabled: {listed}"
    );
    let out = dnf(&["module", "enable", "base:1"]);
    assert!(out.status.success(), "{out:?}");
    let out = dnf(&["install", "base-comp", "app"]);
    assert!(out.status.success(), "{out:?}");
    let out = common::run(
        Command::new(common::tool("rpm"))
            .arg(format!("--root={}", root.display()))
            .args(["-q", "base-comp", "app"]),
    );
    let installed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        installed.contains("base-comp-1.0-2025.module_f41+b41") && installed.contains("app-1.0-1"),
        "{installed}"
    );

    // renewed after removal: the same RPMs and the same modules again
    let id = c["id"].as_i64().unwrap();
    assert_eq!(
        s.request("DELETE", &format!("/api/1/composes/{id}"), None)
            .0,
        202
    );
    s.wait_for(id, &["removed"]);
    let (code, renewed) = s.patch(&format!("/api/1/composes/{id}"), &json!({}));
    assert_eq!(code, 200, "{renewed}");
    let renewed = s.wait_for(renewed["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(renewed["state_name"], "done", "{renewed}");
    assert_eq!(renewed["modular_koji_tags"], "modular-updates");
    assert_eq!(
        common::modulemd::libmodulemd(&common::modulemd::modules_yaml(&repo(&renewed))),
        read
    );
    let c = renewed;

    // reuse: the same request is answered by this compose while neither
    // the tag nor a modular tag changed; a module build tagged into the
    // modular tag's parent changes the input
    let dir_of = |c: &serde_json::Value| {
        c["toplevel_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    };
    let body = json!({"source": {"type": "tag", "source": "f40", "packages": ["app"],
        "modular_koji_tags": ["modular-updates"]}});
    let again = post(body.clone());
    assert_eq!(
        dir_of(&again),
        dir_of(&c),
        "nothing changed: the earlier compose answers"
    );
    hub.change(|m| {
        let b = Build {
            nsvc: "extra:1:20250301000000:e1",
            platform: "f41",
            requires: &[],
            rpms: &["extra-comp.noarch"],
            listed: 1,
            mbs_state: "ready",
            in_koji: true,
            in_mbs: false,
        };
        b.put_in_koji(m, true);
        m.add_package("modular-base", "extra");
        m.tag_build("modular-base", "extra-1-20250301000000.e1");
    });
    let changed = post(body);
    assert_eq!(changed["state_name"], "done", "{changed}");
    assert_ne!(
        dir_of(&changed),
        dir_of(&c),
        "a modular tag's parent changed: a new compose"
    );
    assert!(
        packages(&repo(&changed)).contains(&"extra-comp-1.0-2025.module_f41+e1.noarch".to_owned()),
        "{:?}",
        packages(&repo(&changed))
    );
    drop(hub);
}

/// The MBS client retries a 5xx and a dropped connection as the Koji client
/// does, and quotes MBS's own message for a 4xx.
#[test]
fn the_mbs_client_retries_5xx_and_quotes_mbs_errors() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let answers: Vec<(u16, &str)> = vec![
        (503, "busy"),
        (502, "gateway"),
        (200, r#"{"items": [], "meta": {"pages": 0, "total": 0}}"#),
        (
            400,
            r#"{"error": "Bad Request", "message": "Invalid state was supplied: bogus", "status": 400}"#,
        ),
        (503, "busy"),
        (503, "busy"),
        (503, "busy"),
    ];
    let thread = std::thread::spawn(move || {
        let mut urls = Vec::new();
        for (status, body) in answers {
            let req = server.recv().unwrap();
            urls.push(req.url().to_owned());
            req.respond(tiny_http::Response::from_string(body).with_status_code(status))
                .unwrap();
        }
        urls
    });
    let options = ClientOptions {
        max_retries: 2,
        ..options()
    };
    let client = MbsClient::new(
        &format!("http://127.0.0.1:{port}/module-build-service"),
        options,
        None,
    )
    .unwrap();
    // two failures, then the answer: no build, the original's message
    let q = ModuleQuery {
        include_done: true,
        ..ModuleQuery::new("m:s", 0)
    };
    assert!(client.module_builds(&q).unwrap().is_empty());
    let e = client.module_builds(&q).unwrap_err().to_string();
    assert!(
        e.contains("HTTP status 400: Invalid state was supplied: bogus"),
        "{e}"
    );
    let e = client.module_builds(&q).unwrap_err().to_string();
    assert!(
        e.contains("HTTP status 503") && e.contains("after 3 attempt(s)"),
        "{e}"
    );
    let urls = thread.join().unwrap();
    assert_eq!(
        urls[2],
        "/module-build-service/1/module-builds/?nsvc=m:s&state=5&state=3&verbose=True&order_desc_by=version&per_page=100&page=1",
        "the query the original sends, with include_done_modules"
    );
}

/// Per-arch modulemd (formats.md §4.1): Koji's `modulemd.x86_64.txt` lists
/// the i686 package of a multilib component; the x86_64 tree gets it and
/// its modules.yaml lists it, where a filter by arch name would drop both.
#[test]
fn a_modules_per_arch_artifacts_go_into_that_arch_including_multilib() {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let mut m = HubModel::new(&topdir);
    let tag = "module-multi-m1";
    m.add_tag(tag, None);
    m.add_package(tag, "multi-comp");
    let release = "1.module_f40+m1";
    m.import_build(
        &format!("multi-comp-1.0-{release}"),
        &["multi-comp.x86_64", "multi-comp.i686", "multi-comp.aarch64"],
        None,
    );
    m.tag_build(tag, &format!("multi-comp-1.0-{release}"));
    let doc = |artifacts: &[&str]| {
        let list: String = artifacts
            .iter()
            .map(|a| format!("    - multi-comp-0:1.0-{release}.{a}\n"))
            .collect();
        format!(
            "---\ndocument: modulemd\nversion: 2\ndata:\n  name: multi\n  stream: \"1\"\n  version: 1\n  context: \"m1\"\n  summary: m\n  description: m.\n  license:\n    module: [MIT]\n  profiles:\n    default:\n      rpms: [multi-comp]\n  artifacts:\n    rpms:\n{list}...\n"
        )
    };
    let generic = doc(&["x86_64", "aarch64"]);
    let (x86, arm) = (doc(&["x86_64", "i686"]), doc(&["aarch64"]));
    m.import_module_build_per_arch(
        "multi:1:1:m1",
        &generic,
        tag,
        &[("x86_64", x86.as_str()), ("aarch64", arm.as_str())],
    );
    let hub = koji_hub::KojiHub::start(m);
    let koji = KojiSource::new(
        KojiClient::new(hub.url(), options()),
        KojiPaths::new(&topdir),
    );
    let target = tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let req = odcs::compose::engine::ComposeRequest {
        source_type: odcs::compose::request::SourceType::Module,
        source: vec!["multi:1".into()],
        arches: vec!["x86_64".into(), "aarch64".into()],
        ..odcs::compose::engine::ComposeRequest::tag("odcs-1", "unused", "http://localhost/odcs-1")
    };
    let cache = odcs::compose::createrepo::CacheDir::open(&tmp.path().join("cache")).unwrap();
    odcs::compose::engine::run_compose(
        &req,
        &koji,
        cache.caches(),
        &target,
        &odcs::compose::NoProgress,
    )
    .unwrap();
    let tree = |arch: &str| target.join(format!("odcs-1/compose/Temporary/{arch}/os"));
    assert_eq!(
        packages(&tree("x86_64")),
        [
            format!("multi-comp-1.0-{release}.i686"),
            format!("multi-comp-1.0-{release}.x86_64")
        ]
    );
    assert_eq!(
        packages(&tree("aarch64")),
        [format!("multi-comp-1.0-{release}.aarch64")]
    );
    let read = common::modulemd::libmodulemd(&common::modulemd::modules_yaml(&tree("x86_64")));
    assert!(
        read.contains(&format!("multi-comp-0:1.0-{release}.i686")),
        "{read}"
    );
}
