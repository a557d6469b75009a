//! `pulp` composes (odcs-api.md §6 `pulp`): a `.repo` file pointing at the
//! Pulp repositories of the requested content sets and repository ids.
//!
//! Pulp 2 is the stand-in of tests/pulp2 behind an HTTPS front that asks for
//! a client certificate (the original's `pulp_ssl_cert`); Pulp 3 is a real
//! pulpcore + pulp_rpm started by `scripts/pulp-peer`. In both, dnf reads
//! the compose's `.repo` file and reaches the repositories.

mod common;
mod pulp2;
#[allow(dead_code, reason = "the hub's TLS front, part of it used here")]
#[path = "koji_hub/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::Server;
use serde_json::{Value, json};

/// A createrepo_c repository of the builder RPMs at `root/<rel>`.
fn published(root: &Path, rel: &str) {
    let dir = root.join(rel);
    common::write_builder_rpms(&dir);
    common::createrepo_c(&dir, &dir, &[]);
}

/// The names dnf lists from the repositories of the `.repo` file `repo_file`
/// (and only those; a repository it cannot load fails the command).
fn dnf_names(repo_file: &Path, work: &Path) -> Vec<String> {
    let reposdir = work.join("reposdir");
    let _ = std::fs::remove_dir_all(&reposdir);
    std::fs::create_dir_all(&reposdir).unwrap();
    std::fs::copy(repo_file, reposdir.join("compose.repo")).unwrap();
    let root = work.join("installroot");
    let out = common::run(
        Command::new(common::tool("dnf"))
            .arg(format!("--installroot={}", root.display()))
            .arg(format!("--setopt=reposdir={}", reposdir.display()))
            .args([
                "--releasever=1",
                "--setopt=skip_if_unavailable=False",
                "--setopt=gpgcheck=0",
                "-q",
                "repoquery",
                "--available",
                "--qf",
                "%{name}\n",
            ]),
    );
    assert!(
        out.status.success(),
        "dnf: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `.repo` file of done compose `c` on server `s`.
fn repo_file_of(s: &Server, c: &Value) -> PathBuf {
    let id = c["id"].as_i64().unwrap();
    s.data
        .join("composes")
        .join(format!("odcs-{id}/compose/Temporary/odcs-{id}.repo"))
}

fn notes(content_set: &str, rel: &str, arch: &str, signatures: &str, published: bool) -> Value {
    json!({
        "content_set": content_set,
        "relative_url": rel,
        "arch": arch,
        "signatures": signatures,
        "include_in_download_service": if published { "True" } else { "False" },
        "product_versions": "[\"9.1\"]",
        "_repo-type": "rpm-repo",
    })
}

/// A `[pulp]` section for `url` speaking `api`, without authentication.
fn pulp_config(url: &str, api: odcs::config::PulpApi) -> odcs::config::PulpConfig {
    odcs::config::PulpConfig {
        url: url.to_owned(),
        api,
        ssl_cert: None,
        ssl_key: None,
        username: None,
        password_file: None,
        ca_bundle: None,
        timeout_seconds: 60,
    }
}

/// A test server with `pulp` as its `[pulp]` (and `arches`, when given).
fn pulp_server(pulp: odcs::config::PulpConfig, arches: &[&str]) -> Server {
    let arches: Vec<String> = arches.iter().map(|a| a.to_string()).collect();
    Server::start_with(
        false,
        move |cfg| {
            if !arches.is_empty() {
                cfg.arches = arches;
            }
            cfg.pulp = Some(pulp);
        },
        None,
    )
    .0
}

/// A `pulp` compose of `source` with `flags`, once it is done or failed.
fn pulp_compose(s: &Server, source: &str, flags: &[&str]) -> Value {
    let (status, c) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "pulp", "source": source}, "flags": flags}),
    );
    assert_eq!(status, 200, "{c}");
    s.wait_for(c["id"].as_i64().unwrap(), &["done", "failed"])
}

#[test]
fn a_pulp_compose_points_at_the_pulp_2_repositories_of_its_content_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    for rel in [
        "content/dist/cs-a/x86_64/os",
        "content/dist/cs-a/ppc64le/os",
        "content/dist/cs-a-beta/x86_64/os",
        "content/dist/direct/x86_64/os",
    ] {
        published(&content, rel);
    }
    let repos = vec![
        pulp2::repo(
            "cs-a-x86_64",
            notes(
                "cs-a",
                "content/dist/cs-a/x86_64/os",
                "x86_64",
                "fd431d51,5a6340b3",
                true,
            ),
        ),
        pulp2::repo(
            "cs-a-ppc64le",
            notes(
                "cs-a",
                "content/dist/cs-a/ppc64le/os",
                "ppc64le",
                "fd431d51",
                true,
            ),
        ),
        pulp2::repo(
            "cs-a-beta-x86_64",
            notes(
                "cs-a",
                "content/dist/cs-a-beta/x86_64/os",
                "x86_64",
                "f21541eb",
                false,
            ),
        ),
        pulp2::repo(
            "direct-x86_64",
            notes(
                "other-cs",
                "content/dist/direct/x86_64/os",
                "x86_64",
                "",
                true,
            ),
        ),
    ];
    let pulp = pulp2::Pulp2::start(repos, content, true);
    let certs_dir = tmp.path().join("certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    let certs = tls::Certs::make(&certs_dir);
    let (client_cert, client_key) = tls::Certs::make_client(&certs_dir, "odcs-worker");
    let front = tls::TlsFront::start_with_client_ca(&certs, pulp.port(), true);
    let url = front.url().replace("/kojihub", "");
    let s = pulp_server(
        odcs::config::PulpConfig {
            ssl_cert: Some(client_cert.clone()),
            ssl_key: Some(client_key.clone()),
            ca_bundle: Some(certs.ca.clone()),
            ..pulp_config(&format!("{url}/"), odcs::config::PulpApi::V2)
        },
        &["x86_64", "aarch64"],
    );
    let create = |source: &str, flags: &[&str]| pulp_compose(&s, source, flags);
    // content set cs-a (its published repositories) and a repository id
    let c = create("cs-a direct-x86_64", &[]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["arches"], "ppc64le x86_64");
    assert_eq!(c["sigkeys"], "5a6340b3 fd431d51");
    assert_eq!(c["source"], "cs-a direct-x86_64");
    assert_eq!(c["koji_event"], Value::Null);
    let http = url.replace("https://", "http://");
    let file = repo_file_of(&s, &c);
    let expected_first = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        expected_first,
        format!(
            "\n[cs-a-ppc64le]\nname=cs-a-ppc64le\nbaseurl={http}/content/dist/cs-a/ppc64le/os\nenabled=1\ngpgcheck=0\n\
             \n[cs-a-x86_64]\nname=cs-a-x86_64\nbaseurl={http}/content/dist/cs-a/x86_64/os\nenabled=1\ngpgcheck=0\n\
             \n[direct-x86_64]\nname=direct-x86_64\nbaseurl={http}/content/dist/direct/x86_64/os\nenabled=1\ngpgcheck=0\n"
        ),
        "the original's blocks, sorted by id, https turned into http as the original did"
    );
    // the compose's .repo file is served with the tree, and dnf reaches
    // every repository it names (served by the stand-in over plain HTTP)
    let served = s.get(&format!(
        "/odcs/odcs-{0}/compose/Temporary/odcs-{0}.repo",
        c["id"]
    ));
    assert_eq!(served.0, 200);
    let names = dnf_names(&file, tmp.path());
    assert_eq!(names, ["delta", "epsilon", "zeta", "zeta-doc"], "{names:?}");

    // what the client asked: one search for the content sets (published
    // only), the repository id looked up alone, every request with the
    // client certificate
    let seen = pulp.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/pulp/api/v2/repositories/search/");
    assert_eq!(
        seen[0].body,
        json!({"criteria": {
            "filters": {
                "notes.content_set": {"$in": ["cs-a", "direct-x86_64"]},
                "notes.include_in_download_service": "True",
            },
            "fields": ["notes", "id"],
        }})
    );
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].path, "/pulp/api/v2/repositories/direct-x86_64/");
    assert!(
        seen.iter()
            .all(|r| r.client.as_deref() == Some("odcs-worker")),
        "{seen:?}"
    );

    // removed, then renewed: Pulp is asked again, and the new compose
    // points at the same repositories
    let id = c["id"].as_i64().unwrap();
    let (status, _) = s.request("DELETE", &format!("/api/1/composes/{id}"), None);
    assert_eq!(status, 202);
    s.wait_for(id, &["removed"]);
    let (status, again) = s.patch(&format!("/api/1/composes/{id}"), &json!({}));
    assert_eq!(status, 200, "{again}");
    let renewed = s.wait_for(again["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(renewed["state_name"], "done", "{renewed}");
    assert_ne!(renewed["id"], c["id"]);
    assert_eq!(renewed["arches"], "ppc64le x86_64");
    assert_eq!(
        std::fs::read_to_string(repo_file_of(&s, &renewed)).unwrap(),
        expected_first
    );
    assert_eq!(pulp.requests().len(), 4, "a search and a lookup again");

    // unpublished repositories with the flag; the arch in each URL
    // replaced by $basearch with use_only_compatible_arch
    let c = create(
        "cs-a",
        &["include_unpublished_pulp_repos", "use_only_compatible_arch"],
    );
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["sigkeys"], "5a6340b3 f21541eb fd431d51");
    let text = std::fs::read_to_string(repo_file_of(&s, &c)).unwrap();
    assert_eq!(
        text,
        format!(
            "\n[cs-a-beta-x86_64]\nname=cs-a-beta-x86_64\nbaseurl={http}/content/dist/cs-a-beta/$basearch/os\nenabled=1\ngpgcheck=0\nskip_if_unavailable=1\n\
             \n[cs-a-ppc64le]\nname=cs-a-ppc64le\nbaseurl={http}/content/dist/cs-a/$basearch/os\nenabled=1\ngpgcheck=0\nskip_if_unavailable=1\n\
             \n[cs-a-x86_64]\nname=cs-a-x86_64\nbaseurl={http}/content/dist/cs-a/$basearch/os\nenabled=1\ngpgcheck=0\nskip_if_unavailable=1\n"
        )
    );
    let search = pulp
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        search.body["criteria"]["filters"],
        json!({"notes.content_set": {"$in": ["cs-a"]}})
    );

    // a source Pulp does not have fails the compose with the original's
    // message, and nothing is left of its tree
    let c = create("cs-a no-such-set", &[]);
    assert_eq!(c["state_name"], "failed", "{c}");
    let reason = c["state_reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "Failed to find all the source(s) ['cs-a', 'no-such-set'] in Pulp, found only ['cs-a']"
        ),
        "{reason}"
    );
    assert!(!s.data.join(format!("composes/odcs-{}", c["id"])).exists());
    // an unpublished repository looked up by id is not found either
    let c = create("cs-a-beta-x86_64", &[]);
    assert_eq!(c["state_name"], "failed", "{c}");

    // ignore_absent_pulp_repos: the absent source is dropped from `source`
    let c = create("no-such-set cs-a", &["ignore_absent_pulp_repos"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "cs-a");
    assert_eq!(c["arches"], "ppc64le x86_64");

    // nothing found at all: empty repositories of the configured arches and
    // the default block, which dnf reads (no package)
    let c = create("no-such-set", &["ignore_absent_pulp_repos"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "");
    assert_eq!(c["arches"], "aarch64 x86_64");
    assert_eq!(c["sigkeys"], "");
    let id = c["id"].as_i64().unwrap();
    let text = std::fs::read_to_string(repo_file_of(&s, &c)).unwrap();
    assert_eq!(
        text,
        format!(
            "[odcs-{id}]\nname=ODCS repository for compose odcs-{id}\nbaseurl={}/odcs/odcs-{id}/compose/Temporary/$basearch/os\ntype=rpm-md\nskip_if_unavailable=False\ngpgcheck=0\nrepo_gpgcheck=0\nenabled=1\nenabled_metadata=1\n",
            s.url
        )
    );
    for arch in ["aarch64", "x86_64"] {
        assert!(
            s.data
                .join(format!(
                    "composes/odcs-{id}/compose/Temporary/{arch}/os/repodata/repomd.xml"
                ))
                .is_file()
        );
    }
    assert!(dnf_names(&repo_file_of(&s, &c), tmp.path()).is_empty());

    // the Python client's ComposeSourcePulp
    let id = s.python_client_compose("cs-a", "pulp");
    let (_, c) = s.get(&format!("/api/1/composes/{id}"));
    assert_eq!(c["source_type"], 4, "pulp: {c}");
    assert_eq!(c["arches"], "ppc64le x86_64");
    // and the odcs CLI's create-pulp (anonymous only for a server named
    // localhost)
    let out = common::run(
        Command::new("odcs")
            .args(["--server", &s.url.replace("127.0.0.1", "localhost")])
            .args(["create-pulp", "cs-a", "direct-x86_64"]),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value =
        serde_json::from_str(&text[text.find('{').expect("the compose JSON")..]).unwrap();
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "cs-a direct-x86_64");
    assert_eq!(c["source_type"], 4);

    // without the client certificate Pulp refuses the worker; the
    // compose fails saying so
    drop(s);
    let s = pulp_server(pulp_config(&http, odcs::config::PulpApi::V2), &[]);
    let c = pulp_compose(&s, "cs-a", &[]);
    assert_eq!(c["state_name"], "failed");
    let reason = c["state_reason"].as_str().unwrap();
    assert!(
        reason.contains("HTTP status 401: Authentication failed."),
        "{reason}"
    );
}

#[test]
fn a_pulp_compose_is_refused_without_pulp_configured_and_with_a_bad_source() {
    let (s, _) = Server::start(false);
    let (status, answer) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "pulp", "source": "cs-a"}}),
    );
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "pulp composes need Pulp, which this server is not configured with ([pulp] in the configuration)"
    );
    let (status, answer) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "pulp", "source": "cs-a ../etc/passwd"}}),
    );
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("is not a Pulp content set or repository id"),
        "{answer}"
    );
}

/// A real Pulp 3 started by `scripts/pulp-peer` for this test, stopped (its
/// database dropped) when dropped.
struct PulpPeer {
    dir: PathBuf,
    info: Value,
}

fn pulp_peer() -> PathBuf {
    common::manifest_dir().join("scripts/pulp-peer")
}

impl PulpPeer {
    fn start(dir: &Path) -> PulpPeer {
        common::run_ok(Command::new(pulp_peer()).arg("setup"));
        let out = common::run_ok(Command::new(pulp_peer()).arg("start").arg(dir));
        let info: Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap())
                .unwrap();
        PulpPeer {
            dir: dir.to_owned(),
            info,
        }
    }

    /// A repository `name` of the RPMs in `rpms`, published and distributed
    /// with `labels`; its `base_url`.
    fn repo(&self, name: &str, labels: &[&str], hidden: bool, rpms: &Path) -> String {
        let mut cmd = Command::new(pulp_peer());
        cmd.arg("repo").arg(&self.dir).args(["--name", name]);
        for l in labels {
            cmd.args(["--label", l]);
        }
        if hidden {
            cmd.arg("--hidden");
        }
        let out = common::run_ok(cmd.arg(rpms));
        let made: Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap())
                .unwrap();
        made["base_url"].as_str().unwrap().to_owned()
    }
}

impl Drop for PulpPeer {
    fn drop(&mut self) {
        let _ = Command::new(pulp_peer())
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

#[test]
fn a_pulp_compose_points_at_pulp_3_distributions_labelled_with_its_content_sets() {
    let tmp = tempfile::tempdir().unwrap();
    let peer = PulpPeer::start(&tmp.path().join("pulp"));
    let rpms = tmp.path().join("rpms");
    common::write_builder_rpms(&rpms);
    let a = peer.repo(
        "cs-a-x86_64",
        &[
            "content_set=cs-a",
            "arch=x86_64",
            "signatures=fd431d51,5a6340b3",
        ],
        false,
        &rpms,
    );
    let hidden = peer.repo(
        "cs-a-beta-x86_64",
        &["content_set=cs-a", "arch=x86_64", "signatures=f21541eb"],
        true,
        &rpms,
    );
    let direct = peer.repo(
        "direct-ppc64le",
        &["content_set=other", "arch=ppc64le", "signatures=fd431d51"],
        false,
        &rpms,
    );
    let password = tmp.path().join("pulp-password");
    std::fs::write(
        &password,
        format!("{}\n", peer.info["password"].as_str().unwrap()),
    )
    .unwrap();
    let api = peer.info["api"].as_str().unwrap().to_owned();
    let v3 = odcs::config::PulpConfig {
        username: Some("admin".into()),
        password_file: Some(password.clone()),
        ..pulp_config(&api, odcs::config::PulpApi::V3)
    };
    let s = pulp_server(v3.clone(), &[]);
    let create = |source: &str, flags: &[&str]| pulp_compose(&s, source, flags);
    // the content set's visible distribution, and a distribution by name
    let c = create("cs-a direct-ppc64le", &[]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["arches"], "ppc64le x86_64");
    assert_eq!(c["sigkeys"], "5a6340b3 fd431d51");
    let file = repo_file_of(&s, &c);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!(
            "\n[cs-a-x86_64]\nname=cs-a-x86_64\nbaseurl={a}\nenabled=1\ngpgcheck=0\n\
             \n[direct-ppc64le]\nname=direct-ppc64le\nbaseurl={direct}\nenabled=1\ngpgcheck=0\n"
        )
    );
    // dnf reaches both through Pulp's content app
    assert_eq!(
        dnf_names(&file, tmp.path()),
        ["delta", "epsilon", "zeta", "zeta-doc"]
    );
    // the hidden distribution counts as unpublished
    let c = create("cs-a", &["include_unpublished_pulp_repos"]);
    assert_eq!(c["state_name"], "done", "{c}");
    let text = std::fs::read_to_string(repo_file_of(&s, &c)).unwrap();
    assert!(
        text.starts_with(&format!(
            "\n[cs-a-beta-x86_64]\nname=cs-a-beta-x86_64\nbaseurl={hidden}\n"
        )),
        "{text}"
    );
    assert_eq!(c["sigkeys"], "5a6340b3 f21541eb fd431d51");
    let c = create("cs-a-beta-x86_64", &[]);
    assert_eq!(c["state_name"], "failed", "{c}");
    assert!(
        c["state_reason"].as_str().unwrap().contains(
            "Failed to find all the source(s) ['cs-a-beta-x86_64'] in Pulp, found only []"
        ),
        "{c}"
    );
    // a wrong password: Pulp's 401, said in the compose's reason
    std::fs::write(&password, "wrong\n").unwrap();
    drop(s);
    let s = pulp_server(v3, &[]);
    let c = pulp_compose(&s, "cs-a", &[]);
    assert_eq!(c["state_name"], "failed");
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP status 401"),
        "{c}"
    );
}
