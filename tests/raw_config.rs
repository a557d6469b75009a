//! raw_config composes (#16): Pungi run with a configuration from a git
//! repository the test makes, through the service and the Python client.
//! Pungi is not in the registries this machine reaches; `tests/pungi-koji`
//! stands for it (its header says which parts of Pungi it copies): it reads
//! the configuration, refuses one Pungi would refuse, writes the compose
//! layout and logs as Pungi names them, and records its command line.

mod common;
#[allow(dead_code)]
#[path = "koji_hub/tls.rs"]
mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::Server;
use odcs::compose::pungi::RawConfig;
use serde_json::{Value, json};

const VARIANTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE variants PUBLIC "-//Red Hat, Inc.//DTD Variants info//EN" "variants2012.dtd">
<variants>
  <variant id="Server" name="Server" type="variant">
    <arches><arch>x86_64</arch></arches>
  </variant>
</variants>
"#;

fn config(extra: &str) -> String {
    format!(
        "# a Pungi configuration (kobo format)\n\
         release_name = \"Raw\"\n\
         release_short = \"raw\"\n\
         release_version = \"9\"\n\
         release_is_layered = False\n\
         variants_file = \"variants.xml\"\n\
         sigkeys = [None]\n\
         pkgset_source = \"koji\"\n\
         pkgset_koji_tag = \"f40\"\n\
         gather_method = \"deps\"\n\
         skip_phases = [\"createiso\"]\n\
         {extra}"
    )
}

/// A git repository with the configurations; its commit.
fn repository(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let git = |args: &[&str]| {
        common::run_ok(Command::new("git").current_dir(dir).args(args));
    };
    git(&["init", "-q"]);
    for (name, text) in [
        ("variants.xml", VARIANTS.to_owned()),
        ("pungi.conf", config("")),
        ("slow.conf", config("stand_in_sleep_seconds = 60\n")),
        ("fail.conf", config("stand_in_fail_phase = \"gather\"\n")),
        (
            "bad.conf",
            config("").replace("release_name = \"Raw\"\n", ""),
        ),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    git(&["add", "."]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.com",
        "commit",
        "-q",
        "-m",
        "configs",
    ]);
    String::from_utf8(
        common::run_ok(
            Command::new("git")
                .current_dir(dir)
                .args(["rev-parse", "HEAD"]),
        )
        .stdout,
    )
    .unwrap()
    .trim()
    .to_owned()
}

fn stand_in() -> PathBuf {
    common::manifest_dir().join("tests/pungi-koji")
}

/// A server (on PostgreSQL with `postgres`, else SQLite) with the
/// configurations of `repo` and, `with_pungi`, the stand-in Pungi.
fn server_on(repo: &Path, with_pungi: bool, postgres: bool) -> Server {
    server_tweaked(repo, with_pungi, postgres, |_| {})
}

/// [`server_on`], then `tweak` on its configuration.
fn server_tweaked(
    repo: &Path,
    with_pungi: bool,
    postgres: bool,
    tweak: impl FnOnce(&mut odcs::config::Config),
) -> Server {
    let url = format!("file://{}", repo.display());
    let late = repo.with_file_name("raw_config_urls.toml");
    // a wrapper as the original's deployments use them: the repository's
    // configuration imported, values of the compose put in
    let wrapper = repo.with_file_name("wrapper.conf");
    std::fs::write(
        &wrapper,
        "from raw_config import *\n\
         release_short = \"wrapped\"\n\
         odcs_source = \"{{ compose.source }}\"\n\
         {% if compose.label %}odcs_label = \"{{ compose.label }}\"\n{% endif %}",
    )
    .unwrap();
    let (s, _) = Server::start_with(
        postgres,
        move |cfg| {
            cfg.raw_config_urls_file = Some(late);
            // a module `m:s` in the store, for module composes through Pungi
            common::server::import_module_m_s(cfg);
            if with_pungi {
                cfg.pungi = Some(odcs::config::PungiConfig {
                    koji: stand_in().display().to_string(),
                    args: vec![],
                    timeout_seconds: 120,
                    config_validate: None,
                });
            }
            for (name, file, timeout) in [
                ("wrapped", "pungi.conf", None),
                ("short-lived", "pungi.conf", None),
                ("with-post", "pungi.conf", None),
                ("raw", "pungi.conf", None),
                ("slow", "slow.conf", None),
                ("slow-2s", "slow.conf", Some(2)),
                ("failing", "fail.conf", None),
                ("bad", "bad.conf", None),
            ] {
                cfg.raw_config_urls.insert(
                    name.to_owned(),
                    RawConfig {
                        url: url.clone(),
                        config_filename: file.to_owned(),
                        path: None,
                        commit: None,
                        pungi_timeout: timeout,
                        pungi_args: None,
                        // 2 h by default, 6 h at most (odcs-api.md §5.4's example)
                        seconds_to_live: (name == "short-lived").then_some(7200),
                        max_seconds_to_live: (name == "short-lived").then_some(21600),
                        raw_config_wrapper: (name == "wrapped").then(|| wrapper.clone()),
                        post_script: (name == "with-post")
                            .then(|| "cat COMPOSE_ID > post.txt; echo oops >&2; exit 3".to_owned()),
                        schema_override: None,
                    },
                );
            }
            tweak(cfg);
        },
        None,
    );
    s
}

fn server(repo: &Path, with_pungi: bool) -> Server {
    server_on(repo, with_pungi, false)
}

/// The configuration the stand-in Pungi ran with (it records it).
fn stand_in_config(s: &Server, c: &Value) -> Value {
    let dir = s.data.join(format!("composes/odcs-{}", c["id"]));
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("work/global/stand-in-config.json")).unwrap(),
    )
    .unwrap()
}

/// The stand-in's record of how it was run.
fn argv(s: &Server, c: &Value) -> Vec<String> {
    let dir = s.data.join(format!("composes/odcs-{}", c["id"]));
    serde_json::from_str(
        &std::fs::read_to_string(dir.join("work/global/stand-in-argv.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_raw_config_compose_runs_pungi_with_the_configuration_at_its_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("configs");
    let commit = repository(&repo);
    // on PostgreSQL: the respin lookup is SQL both databases must answer
    let s = server_on(&repo, true, true);

    let (_, about) = s.get("/api/1/about/");
    assert_eq!(
        about["raw_config_urls"]["raw"]["config_filename"],
        "pungi.conf"
    );

    // the Python client, as a pipeline would
    let id = s.python_client_compose(&format!("raw#{commit}"), "raw_config");
    let c = s.get(&format!("/api/1/composes/{id}")).1;
    assert_eq!(
        (c["result_repo"].as_str(), c["result_repofile"].as_str()),
        (Some(""), Some(""))
    );
    let pungi_id = c["pungi_compose_id"].as_str().unwrap().to_owned();
    assert!(
        pungi_id.starts_with("raw-9-") && pungi_id.ends_with(".t.0"),
        "{c}"
    );
    let a = argv(&s, &c);
    assert!(
        a.contains(&"--test".to_owned()) && a.contains(&"--no-latest-link".to_owned()),
        "{a:?}"
    );
    let event = c["koji_event"].as_i64().unwrap();
    assert!(
        a.windows(2)
            .any(|w| w[0] == "--koji-event" && w[1] == event.to_string()),
        "{a:?}"
    );
    let top = s.data.join(format!("composes/odcs-{id}"));
    assert!(top.join("pungi-stderr.log").is_file() && top.join("pungi-stdout.log").is_file());
    // the symlinks of odcs-api.md §7.5
    let links = s.data.join("composes/test");
    for name in [pungi_id.clone(), "latest-raw-9".to_owned()] {
        assert_eq!(
            std::fs::read_link(links.join(&name)).unwrap(),
            Path::new("..").join(format!("odcs-{id}")),
            "{name}"
        );
    }

    // the next compose of the configuration that day is the next respin
    // (named before Pungi runs, as the original does)
    let (_, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": format!("raw#{commit}")}}),
    );
    let second = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(
        second["pungi_compose_id"].as_str().unwrap(),
        pungi_id.replace(".t.0", ".t.1"),
        "{second}"
    );

    // a production compose keeps Pungi's configuration dump; its respin
    // runs with it, as a respin of the first
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": format!("raw#{commit}")},
                "compose_type": "production", "label": "RC-1.0"}),
    );
    assert_eq!(code, 200, "{body}");
    let prod = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(prod["state_name"], "done", "{prod}");
    let prod_id = prod["pungi_compose_id"].as_str().unwrap().to_owned();
    assert!(
        !prod_id.contains(".t."),
        "a production id has no type suffix: {prod_id}"
    );
    assert!(
        s.data
            .join("composes/production/latest-raw-9-RC-1.0")
            .is_symlink()
    );
    // (removed first: a PATCH of a done compose only extends its life)
    let prod_num = prod["id"].as_i64().unwrap();
    assert_eq!(
        s.request("DELETE", &format!("/api/1/composes/{prod_num}"), None)
            .0,
        202
    );
    s.wait_for(prod_num, &["removed"]);
    // its symlinks went with it
    assert!(
        !s.data
            .join("composes/production/latest-raw-9-RC-1.0")
            .is_symlink()
    );
    assert!(
        !s.data
            .join(format!("composes/production/{prod_id}"))
            .is_symlink()
    );
    let (code, respin) = s.patch(&format!("/api/1/composes/{prod_num}"), &json!({}));
    assert_eq!(code, 200, "{respin}");
    let respin = s.wait_for(respin["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(respin["state_name"], "done", "{respin}");
    assert_eq!(respin["respin_of"], prod_id.as_str());
    assert_eq!(
        respin["pungi_compose_id"].as_str().unwrap(),
        format!("{}1", prod_id.strip_suffix('0').unwrap()),
        "a respin is the next respin of the day"
    );
    let a = argv(&s, &respin);
    assert!(
        a.iter()
            .any(|x| x.starts_with("--config=") && x.ends_with("pungi.json")),
        "the respin runs with the stored dump: {a:?}"
    );
    assert!(a.contains(&format!("--respin-of={prod_id}")), "{a:?}");

    // the original's metrics: fewer than 5 composes of a source are summed
    // per configuration name
    let out =
        common::run_ok(Command::new("curl").args(["-sf", &format!("{}/api/1/metrics/", s.url)]));
    let metrics = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        metrics.contains(
            "raw_config_composes_count_total{source=\"raw#other_commits_or_branches\"} 4"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "raw_config_composes{{source=\"raw#{commit}\",state=\"done\"}} 3"
        )),
        "{metrics}"
    );
}

#[test]
fn raw_config_requests_are_checked_and_pungis_failures_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("configs");
    let commit = repository(&repo);
    let s = server(&repo, true);
    let post = |source: &str| {
        s.post(
            "/api/1/composes/",
            &json!({"source": {"type": "raw_config", "source": source}}),
        )
    };
    for (source, message) in [
        (
            "raw#abc raw#def",
            "Only single source is allowed for \"raw_config\" source_type",
        ),
        (
            "raw#",
            "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type.",
        ),
        (
            "raw#-x",
            "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type.",
        ),
        (
            "nope#abc",
            "Source \"nope\" does not exist in server configuration.",
        ),
    ] {
        let (code, body) = post(source);
        assert_eq!(
            (code, body["message"].as_str()),
            (400, Some(message)),
            "{source}"
        );
    }
    // a wrapper: the repository's configuration imported from
    // raw_config.conf, the compose's values put in
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": format!("wrapped#{commit}")},
                "label": "Beta-1.0"}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    let got = stand_in_config(&s, &c);
    assert_eq!(
        (
            &got["release_short"],
            &got["release_name"],
            &got["odcs_source"],
            &got["odcs_label"]
        ),
        (
            &json!("wrapped"),
            &json!("Raw"),
            &json!(format!("wrapped#{commit}")),
            &json!("Beta-1.0")
        ),
        "{got}"
    );

    // raw_config_urls_file: an entry added while the server runs is there
    let (code, body) = post(&format!("late#{commit}"));
    assert_eq!(
        (code, body["message"].as_str()),
        (
            400,
            Some("Source \"late\" does not exist in server configuration.")
        )
    );
    std::fs::write(
        repo.with_file_name("raw_config_urls.toml"),
        format!(
            "[late]\nurl = \"file://{}\"\nconfig_filename = \"pungi.conf\"\n",
            repo.display()
        ),
    )
    .unwrap();
    let (_, about) = s.get("/api/1/about/");
    assert_eq!(
        about["raw_config_urls"]["late"]["config_filename"], "pungi.conf",
        "{about}"
    );
    let (code, body) = post(&format!("late#{commit}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"])["state_name"],
        "done"
    );

    // lifetimes of a raw config: its default, its maximum
    for (asked, got) in [(None, 7200), (Some(43200), 21600)] {
        let mut body =
            json!({"source": {"type": "raw_config", "source": format!("short-lived#{commit}")}});
        if let Some(a) = asked {
            body["seconds_to_live"] = json!(a);
        }
        let (code, c) = s.post("/api/1/composes/", &body);
        assert_eq!(code, 200, "{c}");
        // (at most 6 h apart: the dates differ by a day at most)
        let at = |k: &str| -> (String, i64) {
            let t = c[k].as_str().unwrap();
            let (d, hms) = t.trim_end_matches('Z').split_once('T').unwrap();
            let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
            (d.to_owned(), p[0] * 3600 + p[1] * 60 + p[2])
        };
        let ((d1, s1), (d2, s2)) = (at("time_submitted"), at("time_to_expire"));
        let diff = s2 - s1 + if d1 == d2 { 0 } else { 86400 };
        assert_eq!(diff, got, "{c}");
    }
    let wait = |source: String| {
        let (code, body) = post(&source);
        assert_eq!(code, 200, "{body}");
        s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"])
    };
    // a post script runs in the compose dir; its failure is logged, the
    // compose stays done
    let c = wait(format!("with-post#{commit}"));
    assert_eq!(c["state_name"], "done", "{c}");
    let top = s.data.join(format!("composes/odcs-{}", c["id"]));
    assert_eq!(
        std::fs::read_to_string(top.join("post.txt"))
            .unwrap()
            .trim(),
        c["pungi_compose_id"].as_str().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(top.join("post-script.log")).unwrap(),
        "oops\n"
    );
    let log =
        std::fs::read_to_string(s.data.join(format!("composes/odcs-{}.log", c["id"]))).unwrap();
    assert!(
        log.contains("the post script failed: it ended with exit status: 3"),
        "{log}"
    );

    // Pungi fails: the reason says so, with its phase and the end of its stderr
    let c = wait(format!("failing#{commit}"));
    assert_eq!(c["state_name"], "failed");
    let reason = c["state_reason"].as_str().unwrap();
    assert!(
        reason.contains("Pungi failed")
            && reason.contains("in phase gather")
            && reason.contains("stand-in failure"),
        "{reason}"
    );
    // a configuration Pungi refuses
    let c = wait(format!("bad#{commit}"));
    assert!(
        c["state_reason"].as_str().unwrap().contains("release_name"),
        "{c}"
    );
    // a commit the repository does not have
    let c = wait("raw#0123456789abcdef0123456789abcdef01234567".to_owned());
    assert!(
        c["state_reason"].as_str().unwrap().contains("git checkout"),
        "{c}"
    );
    // Pungi's own timeout kills it
    let c = wait(format!("slow-2s#{commit}"));
    assert!(
        c["state_reason"]
            .as_str()
            .unwrap()
            .contains("Pungi ran longer than its timeout (2 seconds), in phase gather"),
        "{c}"
    );
    // failed composes leave no tree
    assert!(!s.data.join(format!("composes/odcs-{}", c["id"])).exists());

    // a cancelled compose kills Pungi's whole process group
    let (_, body) = post(&format!("slow#{commit}"));
    let id = body["id"].as_i64().unwrap();
    let t = std::time::Instant::now();
    loop {
        let c = s.get(&format!("/api/1/composes/{id}")).1;
        if c["progress"]
            .as_str()
            .unwrap_or_default()
            .contains("gather")
        {
            break;
        }
        assert!(
            t.elapsed().as_secs() < 60,
            "Pungi never reached gather: {c}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        s.request("DELETE", &format!("/api/1/composes/{id}"), None)
            .0,
        202
    );
    s.wait_for(id, &["failed", "removed"]);
    let part = s.data.join(format!("composes/.odcs-{id}.part"));
    let t = std::time::Instant::now();
    loop {
        let out = common::run(Command::new("pgrep").args(["-f", &part.display().to_string()]));
        if !out.status.success() {
            break;
        }
        assert!(t.elapsed().as_secs() < 20, "Pungi still runs: {out:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // a server without Pungi refuses at once
    drop(s);
    let s = server(&repo, false);
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": format!("raw#{commit}")}}),
    );
    assert_eq!(code, 400);
    assert!(
        body["message"].as_str().unwrap().contains("need Pungi"),
        "{body}"
    );
}

/// A tag compose asking for `boot.iso` or `ostree` is Pungi's, with the
/// configuration of odcs-api.md §7.2 (and the ostree phase on for the
/// ostree result, which the original forgot).
#[test]
fn boot_iso_and_ostree_results_are_made_by_pungi_with_the_generated_config() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("configs");
    repository(&repo);
    let s = server(&repo, true);
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "tag", "source": "updates", "packages": ["ed"],
                           "sigkeys": ["123", ""]},
                "results": ["boot.iso"], "flags": ["check_deps"]}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["results"], json!(["repository", "boot.iso"]));
    let config = stand_in_config(&s, &c);
    let name = format!("odcs-{}", c["id"]);
    for (k, want) in [
        ("release_name", json!(name)),
        ("bootable", json!(true)),
        ("buildinstall_method", json!("lorax")),
        ("pkgset_koji_tag", json!("updates")),
        ("sigkeys", json!(["123", ""])),
        ("check_deps", json!(true)),
        ("gather_method", json!("deps")),
        (
            "skip_phases",
            json!(["createiso", "live_media", "live_images", "ostree"]),
        ),
    ] {
        assert_eq!(config[k], want, "{k}");
    }
    let a = argv(&s, &c);
    assert!(
        a.windows(2).any(
            |w| w[0] == "--koji-event" && w[1] == c["koji_event"].as_i64().unwrap().to_string()
        ),
        "a tag compose pins Pungi to its event: {a:?}"
    );
    assert!(
        !a.contains(&"--old-composes".to_owned()),
        "nothing to reuse yet: {a:?}"
    );
    // the Koji tag cache (odcs-api.md §7.1): the compose without packages,
    // under tag, flags, sorted sigkeys and arches
    let cache_dir = s.data.join("composes/koji_tag_cache");
    let cache = cache_dir.join("updates-8--123-x86_64");
    assert!(
        cache.join("compose/metadata/composeinfo.json").is_file(),
        "{:?}",
        std::fs::read_dir(&cache_dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    let top = s.data.join(format!("composes/{name}"));
    assert!(top.join(format!("compose/Temporary/{name}.repo")).is_file());
    let images = std::fs::read_to_string(top.join("compose/metadata/images.json")).unwrap();
    assert!(images.contains("boot.iso"), "{images}");
    assert!(
        c["pungi_compose_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{name}-1-")),
        "{c}"
    );

    // the next compose of that tag (other packages: not a reuse) is offered
    // the cache as an old compose, named as the original names it
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "tag", "source": "updates", "sigkeys": ["123", ""]},
                "results": ["boot.iso"], "flags": ["check_deps"]}),
    );
    assert_eq!(code, 200, "{body}");
    let c2 = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c2["state_name"], "done", "{c2}");
    let a = argv(&s, &c2);
    assert!(
        a.windows(2)
            .any(|w| w[0] == "--old-composes" && Path::new(&w[1]) == cache_dir),
        "{a:?}"
    );
    assert!(
        !cache_dir
            .join(format!("odcs-{}-1-19700101.n.0", c2["id"]))
            .exists(),
        "the copy offered to Pungi is removed after the run"
    );

    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "build", "source": "", "builds": ["ed-1.14.1-1"]},
                "results": ["ostree"]}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    let config = stand_in_config(&s, &c);
    assert_eq!(
        config["skip_phases"],
        json!(["createiso", "buildinstall", "live_media", "live_images"]),
        "the ostree phase runs"
    );
    assert_eq!(config["pkgset_koji_tag"], "");
    assert!(
        !argv(&s, &c).contains(&"--koji-event".to_owned()),
        "only tag composes pin an event"
    );

    // a module compose: its modules resolved first, Pungi gets the exact
    // N:S:V:C in variants.xml and the module gather settings
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "module", "source": "m:s"}, "results": ["boot.iso"]}),
    );
    assert_eq!(code, 200, "{body}");
    let c = s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(c["source"], "m:s:1:c1");
    let config = stand_in_config(&s, &c);
    assert_eq!(
        (&config["gather_source"], &config["gather_method"]),
        (&json!("module"), &json!("nodeps"))
    );
    assert!(config.get("comps_file").is_none(), "{config}");
    let variants = std::fs::read_to_string(s.data.join(format!(
        "composes/odcs-{}/work/global/variants.xml",
        c["id"]
    )))
    .unwrap();
    assert!(variants.contains("<module>m:s:1:c1</module>"), "{variants}");
    let (code, body) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": "raw#abc"}, "results": ["boot.iso"]}),
    );
    assert_ne!(code, 500, "{body}");
}

/// A git repository over https with a password, as a private Pungi
/// configuration repository is: git's "dumb" HTTP protocol (plain files,
/// after `git update-server-info`) behind Basic auth, served by tiny_http
/// behind the test hub's TLS front with a private CA. Its URL.
fn https_repository(repo: &Path, certs: &tls::Certs, user: &str, password: &str) -> String {
    let bare = repo.with_file_name("configs.git");
    common::run_ok(Command::new("git").args([
        "clone",
        "-q",
        "--bare",
        &repo.display().to_string(),
        &bare.display().to_string(),
    ]));
    common::run_ok(
        Command::new("git")
            .arg("-C")
            .arg(&bare)
            .arg("update-server-info"),
    );
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let expected = format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    );
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let authorized = req
                .headers()
                .iter()
                .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
            if !authorized {
                let _ = req.respond(
                    tiny_http::Response::from_string("who are you?")
                        .with_status_code(401)
                        .with_header(
                            "WWW-Authenticate: Basic realm=\"git\""
                                .parse::<tiny_http::Header>()
                                .unwrap(),
                        ),
                );
                continue;
            }
            let path = req.url().split('?').next().unwrap_or("").to_owned();
            let file = path
                .strip_prefix("/configs.git/")
                .filter(|p| !p.split('/').any(|c| c == ".."))
                .map(|p| bare.join(p));
            let _ = match file.and_then(|f| std::fs::read(f).ok()) {
                Some(bytes) => req.respond(tiny_http::Response::from_data(bytes)),
                None => req.respond(tiny_http::Response::empty(404)),
            };
        }
    });
    let front = tls::TlsFront::start(certs, port);
    front.url().replace("/kojihub", "/configs.git")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_raw_config_over_https_is_cloned_with_its_credentials_and_validated_first() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("configs");
    let commit = repository(&repo);
    let certs_dir = tmp.path().join("certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    let certs = tls::Certs::make(&certs_dir);
    let url = https_repository(&repo, &certs, "odcs", "s3cret");
    // git trusts the private CA through its environment; nextest runs each
    // test in a process of its own, and no other thread reads the
    // environment yet
    unsafe { std::env::set_var("GIT_SSL_CAINFO", &certs.ca) };
    // a schema override that makes the repository's release_version ("9")
    // invalid
    let strict = tmp.path().join("strict.json");
    std::fs::write(
        &strict,
        r#"{"properties": {"release_version": {"type": "string", "enum": ["10"]}}}"#,
    )
    .unwrap();
    let entry = |schema_override: Option<PathBuf>| RawConfig {
        url: url.clone(),
        config_filename: "pungi.conf".into(),
        path: None,
        commit: None,
        pungi_timeout: None,
        pungi_args: None,
        seconds_to_live: None,
        max_seconds_to_live: None,
        raw_config_wrapper: None,
        post_script: None,
        schema_override,
    };
    let s = server_tweaked(&repo, true, false, |cfg| {
        if let Some(p) = cfg.pungi.as_mut() {
            p.config_validate = Some(
                common::manifest_dir()
                    .join("tests/pungi-config-validate")
                    .display()
                    .to_string(),
            );
        }
        for (name, schema_override) in [
            ("private", None),
            ("private-strict", Some(strict.clone())),
            ("private-wrong", None),
            ("private-none", None),
        ] {
            cfg.raw_config_urls
                .insert(name.into(), entry(schema_override));
        }
        let creds = |user: &str, password: &str| odcs::compose::pungi::GitCredentials {
            username: user.into(),
            password: password.into(),
        };
        // the first pattern that matches wins: a wrong one that does not
        // match comes first
        cfg.raw_config_credentials.insert(
            "private".into(),
            [
                ("^https://example\\.com/".to_owned(), creds("x", "y")),
                (
                    "^https://127\\.0\\.0\\.1:".to_owned(),
                    creds("odcs", "s3cret"),
                ),
            ]
            .into(),
        );
        cfg.raw_config_credentials.insert(
            "private-strict".into(),
            [("127\\.0\\.0\\.1".to_owned(), creds("odcs", "s3cret"))].into(),
        );
        cfg.raw_config_credentials.insert(
            "private-wrong".into(),
            [("".to_owned(), creds("odcs", "guess"))].into(),
        );
    });
    let compose = |name: &str| {
        let (code, body) = s.post(
            "/api/1/composes/",
            &json!({"source": {"type": "raw_config", "source": format!("{name}#{commit}")}}),
        );
        assert_eq!(code, 200, "{body}");
        s.wait_for(body["id"].as_i64().unwrap(), &["done", "failed"])
    };

    // the right password: cloned, validated, made
    let c = compose("private");
    assert_eq!(c["state_name"], "done", "{c}");
    // the configuration came over https (the stand-in records it)
    let got = stand_in_config(&s, &c);
    assert_eq!(got["release_short"], "raw", "{got}");

    // the schema override refuses it before Pungi runs: no compose tree
    let c = compose("private-strict");
    assert_eq!(c["state_name"], "failed", "{c}");
    let reason = c["state_reason"].as_str().unwrap();
    assert!(
        reason.contains("refused the configuration")
            && reason.contains("Failed validation in release_version"),
        "{reason}"
    );
    assert!(
        !s.data.join(format!("composes/odcs-{}", c["id"])).exists(),
        "a refused configuration leaves no tree"
    );

    // a wrong password, and none: git's refusal, no password in the reason
    for name in ["private-wrong", "private-none"] {
        let c = compose(name);
        assert_eq!(c["state_name"], "failed", "{name}: {c}");
        let reason = c["state_reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("raw config {name} from {url}"))
                && reason.contains("git clone"),
            "{name}: {reason}"
        );
        assert!(
            !reason.contains("guess") && !reason.contains("s3cret"),
            "{reason}"
        );
    }
}

/// `parent_pungi_compose_ids` and `respin_of` of a POST are stored and given
/// to Pungi (`--parent-compose-id` each, `--respin-of`), as the original
/// does; an id that is no Pungi compose id is a 400 naming the field.
#[test]
fn parent_compose_ids_and_respin_of_are_stored_and_passed_to_pungi() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("configs");
    let commit = repository(&repo);
    let s = server(&repo, true);
    let (code, c) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "raw_config", "source": format!("raw#{commit}")},
                "parent_pungi_compose_ids": ["Fedora-40-20240101.n.0", "Fedora-40-updates-20240102.n.1"],
                "respin_of": "raw-1-20240101.t.0"}),
    );
    assert_eq!(code, 200, "{c}");
    let c = s.wait_for(c["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(c["state_name"], "done", "{c}");
    assert_eq!(
        c["parent_pungi_compose_ids"],
        "Fedora-40-20240101.n.0 Fedora-40-updates-20240102.n.1"
    );
    assert_eq!(c["respin_of"], "raw-1-20240101.t.0");
    let a = argv(&s, &c);
    for want in [
        "--parent-compose-id=Fedora-40-20240101.n.0",
        "--parent-compose-id=Fedora-40-updates-20240102.n.1",
        "--respin-of=raw-1-20240101.t.0",
    ] {
        assert!(a.contains(&want.to_owned()), "{want} not in {a:?}");
    }
    // a renewal of it once removed keeps the parents and is a respin of it
    let id = c["id"].as_i64().unwrap();
    let (code, _) = s.request("DELETE", &format!("/api/1/composes/{id}"), None);
    assert_eq!(code, 202);
    s.wait_for(id, &["removed"]);
    let (code, r) = s.patch(&format!("/api/1/composes/{id}"), &json!({}));
    assert_eq!(code, 200, "{r}");
    assert_ne!(r["id"], c["id"]);
    assert_eq!(r["parent_pungi_compose_ids"], c["parent_pungi_compose_ids"]);
    assert_eq!(r["respin_of"], c["pungi_compose_id"]);
    for (field, value) in [
        ("parent_pungi_compose_ids", json!(["ok-1", "../x"])),
        ("parent_pungi_compose_ids", json!("Fedora-40-20240101.n.0")),
        ("respin_of", json!("a b")),
        ("respin_of", json!(3)),
    ] {
        let mut body = json!({"source": {"type": "raw_config", "source": format!("raw#{commit}")}});
        body[field] = value.clone();
        let (code, r) = s.post("/api/1/composes/", &body);
        assert_eq!(code, 400, "{field}={value}: {r}");
        assert!(r["message"].as_str().unwrap().contains(field), "{r}");
    }
}
