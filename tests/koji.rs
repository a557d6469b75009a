//! The Koji client against the test hub over real HTTP, and the test hub
//! against the real `koji` CLI (PyPI), so the stand-in answers as Koji does.

mod common;
mod koji_hub;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use odcs::source::koji::{
    Call, ClientOptions, KojiClient, KojiError, KojiPaths, Value, unsigned_packages_error,
};

use koji_hub::KojiHub;
use koji_hub::fixture::{self, Events, SIGKEY};
use koji_hub::model::{HubModel, LinkOpts};

struct Setup {
    hub: KojiHub,
    client: KojiClient,
    events: Events,
    topdir: tempfile::TempDir,
}

fn quick_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(30),
        max_retries: 3,
        retry_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

fn setup() -> Setup {
    let topdir = tempfile::tempdir().unwrap();
    let fx = fixture::standard(topdir.path());
    let hub = KojiHub::start(fx.model);
    let client = KojiClient::new(hub.url(), quick_options());
    Setup {
        hub,
        client,
        events: fx.events,
        topdir,
    }
}

fn sorted<I: IntoIterator<Item = String>>(items: I) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().collect();
    v.sort();
    v
}

/// (build NVRs, RPM NVRAs) of `listTaggedRPMS`.
fn tagged(
    c: &KojiClient,
    tag: &str,
    event: Option<i64>,
    inherit: bool,
    latest: bool,
) -> (Vec<String>, Vec<String>) {
    let (rpms, builds) = c
        .list_tagged_rpms(tag, event, inherit, latest, None, None)
        .unwrap();
    (
        sorted(builds.into_iter().map(|b| b.nvr)),
        sorted(rpms.iter().map(|r| r.nvra())),
    )
}

fn latest_nvrs(c: &KojiClient, tag: &str, event: Option<i64>) -> Vec<String> {
    tagged(c, tag, event, true, true).0
}

#[test]
fn latest_builds_with_inheritance_are_the_nearest_most_recently_tagged() {
    let s = setup();
    let (builds, rpms) = tagged(&s.client, "f40-updates", None, true, true);
    assert_eq!(
        builds,
        [
            "bash-5.2.26-2.fc40",
            "coreutils-9.4-5.fc40",
            "glibc-2.39-2.fc40",
            "vim-9.1-1.fc40"
        ]
    );
    assert_eq!(
        rpms,
        [
            "bash-5.2.26-2.fc40.i686",
            "bash-5.2.26-2.fc40.x86_64",
            "bash-doc-5.2.26-2.fc40.noarch",
            "coreutils-9.4-5.fc40.x86_64",
            "glibc-2.39-2.fc40.i686",
            "glibc-2.39-2.fc40.x86_64",
            "vim-9.1-1.fc40.x86_64"
        ]
    );
    // Every RPM belongs to a returned build, and each build says where it was found.
    let (rpms, builds) = s
        .client
        .list_tagged_rpms("f40-updates", None, true, true, None, None)
        .unwrap();
    let ids: BTreeSet<i64> = builds.iter().map(|b| b.id).collect();
    assert!(rpms.iter().all(|r| ids.contains(&r.build_id)));
    let bash = builds.iter().find(|b| b.name == "bash").unwrap();
    assert_eq!(bash.tag_name.as_deref(), Some("f40-updates"));
    let glibc = builds.iter().find(|b| b.name == "glibc").unwrap();
    assert_eq!(glibc.tag_name.as_deref(), Some("f40"));
}

#[test]
fn a_child_tags_older_build_shadows_the_parents_newer_one() {
    let s = setup();
    let parent = latest_nvrs(&s.client, "f40", None);
    assert!(
        parent.contains(&"bash-5.2.26-3.fc40".to_owned()),
        "{parent:?}"
    );
    let child = latest_nvrs(&s.client, "f40-updates", None);
    assert!(
        child.contains(&"bash-5.2.26-2.fc40".to_owned()),
        "{child:?}"
    );
    assert!(
        !child.iter().any(|b| b.starts_with("bash-5.2.26-3")),
        "{child:?}"
    );
}

#[test]
fn a_retagged_older_nvr_is_the_latest_in_its_tag() {
    let s = setup();
    let now = latest_nvrs(&s.client, "f40", None);
    assert!(now.contains(&"coreutils-9.4-5.fc40".to_owned()), "{now:?}");
    assert!(!now.contains(&"coreutils-9.4-6.fc40".to_owned()), "{now:?}");
    let then = latest_nvrs(&s.client, "f40", Some(s.events.coreutils_6_tagged));
    assert!(
        then.contains(&"coreutils-9.4-6.fc40".to_owned()),
        "{then:?}"
    );
    assert!(
        !then.contains(&"coreutils-9.4-5.fc40".to_owned()),
        "{then:?}"
    );
    // Without latest both are there, with the same answer from listTagged.
    let all = tagged(&s.client, "f40", None, false, false).0;
    assert!(all.contains(&"coreutils-9.4-5.fc40".to_owned()));
    assert!(all.contains(&"coreutils-9.4-6.fc40".to_owned()));
    let listed = sorted(
        s.client
            .list_tagged("f40", None, false, false)
            .unwrap()
            .into_iter()
            .map(|b| b.nvr),
    );
    assert_eq!(listed, all);
}

#[test]
fn blocked_packages_and_incomplete_builds_are_not_listed() {
    let s = setup();
    let parent = latest_nvrs(&s.client, "f40", None);
    assert!(
        parent.contains(&"oldpkg-1.0-1.fc40".to_owned()),
        "{parent:?}"
    );
    assert!(
        !parent.iter().any(|b| b.starts_with("broken-")),
        "{parent:?}"
    );
    let child = latest_nvrs(&s.client, "f40-updates", None);
    assert!(!child.iter().any(|b| b.starts_with("oldpkg-")), "{child:?}");
    // The package list is inherited even without inherit: bash is listed in f40 only.
    let own = tagged(&s.client, "f40-updates", None, false, true).0;
    assert_eq!(own, ["bash-5.2.26-2.fc40"]);
}

#[test]
fn inheritance_links_are_walked_in_priority_order_with_their_limits() {
    let s = setup();
    let tag = s
        .client
        .get_tag("f40-updates-candidate", None)
        .unwrap()
        .unwrap();
    let links = s.client.get_full_inheritance(tag.id, None).unwrap();
    let summary: Vec<(String, i64, Option<i64>, Vec<String>)> = links
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                l.currdepth.unwrap(),
                l.maxdepth,
                l.filter.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("f40-updates".to_owned(), 1, None, vec![]),
            ("f40".to_owned(), 2, None, vec![]),
            (
                "f40-extras".to_owned(),
                1,
                Some(0),
                vec!["extra-".to_owned()]
            ),
        ]
    );
    assert_eq!(links[1].child_id, links[0].parent_id);
    // The link's filter admits extra-tool but not "ignored", listed in the same parent.
    let builds = latest_nvrs(&s.client, "f40-updates-candidate", None);
    assert!(
        builds.contains(&"extra-tool-1.0-1.fc40".to_owned()),
        "{builds:?}"
    );
    assert!(
        !builds.iter().any(|b| b.starts_with("ignored-")),
        "{builds:?}"
    );
    assert!(
        builds.contains(&"bash-5.2.26-2.fc40".to_owned()),
        "{builds:?}"
    );
}

/// A hub over just a tag graph: `(child, parent, options)` links.
fn inheritance_hub(links: &[(&str, &str, LinkOpts)]) -> (KojiHub, KojiClient, tempfile::TempDir) {
    let topdir = tempfile::tempdir().unwrap();
    let mut m = HubModel::new(topdir.path());
    for n in links.iter().flat_map(|(c, p, _)| [*c, *p]) {
        if !m.has_tag(n) {
            m.add_tag(n, None);
        }
    }
    for (child, parent, opts) in links {
        m.add_inheritance(child, parent, opts.clone());
    }
    let hub = KojiHub::start(m);
    let client = KojiClient::new(hub.url(), quick_options());
    (hub, client, topdir)
}

/// `(parent name, currdepth, nextdepth)` of the full inheritance of `tag`.
fn walk(c: &KojiClient, tag: &str) -> Vec<(String, i64, Option<i64>)> {
    let id = c.get_tag(tag, None).unwrap().unwrap().id;
    c.get_full_inheritance(id, None)
        .unwrap()
        .into_iter()
        .map(|l| (l.name, l.currdepth.unwrap(), l.nextdepth))
        .collect()
}

fn prio(priority: i64) -> LinkOpts {
    LinkOpts {
        priority,
        ..LinkOpts::default()
    }
}

#[test]
fn the_hub_prunes_loops_and_honours_intransitive_links_and_maxdepth() {
    let (_hub, c, _dir) = inheritance_hub(&[
        ("a", "b", prio(0)),
        (
            "a",
            "d",
            LinkOpts {
                priority: 5,
                maxdepth: Some(1),
                ..LinkOpts::default()
            },
        ),
        (
            "b",
            "c",
            LinkOpts {
                intransitive: true,
                ..LinkOpts::default()
            },
        ),
        ("b", "a", prio(1)),
        ("d", "e", prio(0)),
        ("e", "f", prio(0)),
    ]);
    let s = |n: &str| n.to_owned();
    // From a: b's intransitive link to c does not count below the root, b's
    // link back to a is a loop, and d's maxdepth 1 admits e but not f.
    assert_eq!(
        walk(&c, "a"),
        [
            (s("b"), 1, None),
            (s("d"), 1, Some(1)),
            (s("e"), 2, Some(0))
        ]
    );
    // From b, the intransitive link counts.
    assert_eq!(
        walk(&c, "b"),
        [
            (s("c"), 1, None),
            (s("a"), 1, None),
            (s("d"), 2, Some(1)),
            (s("e"), 3, Some(0))
        ]
    );
}

#[test]
fn the_hub_visits_a_shared_ancestor_again_only_when_the_first_visit_was_filtered() {
    let (_hub, c, _dir) = inheritance_hub(&[
        ("p", "q", prio(0)),
        ("p", "r", prio(1)),
        ("q", "z", prio(0)),
        ("r", "z", prio(0)),
        (
            "filtered",
            "q",
            LinkOpts {
                pkg_filter: "q-".to_owned(),
                ..LinkOpts::default()
            },
        ),
        ("filtered", "r", prio(1)),
    ]);
    let names = |tag: &str| -> Vec<String> { walk(&c, tag).into_iter().map(|l| l.0).collect() };
    assert_eq!(names("p"), ["q", "z", "r"]);
    assert_eq!(names("filtered"), ["q", "z", "r", "z"]);
}

#[test]
fn queries_pinned_to_an_event_see_the_tag_as_it_was() {
    let s = setup();
    let e = s.events;
    let before = latest_nvrs(&s.client, "f40", Some(e.before_vim));
    assert!(!before.iter().any(|b| b.starts_with("vim-")), "{before:?}");
    let after = latest_nvrs(&s.client, "f40", Some(e.vim_tagged));
    assert!(after.contains(&"vim-9.1-1.fc40".to_owned()), "{after:?}");

    for (event, present) in [
        (e.zlib_tagged - 1, false),
        (e.zlib_tagged, true),
        (e.zlib_untagged - 1, true),
        (e.zlib_untagged, false),
    ] {
        let builds = latest_nvrs(&s.client, "f40", Some(event));
        assert_eq!(
            builds.contains(&"zlib-1.3-1.fc40".to_owned()),
            present,
            "event {event}: {builds:?}"
        );
    }
    assert!(
        !latest_nvrs(&s.client, "f40", None)
            .iter()
            .any(|b| b.starts_with("zlib-"))
    );

    let last = s.client.get_last_event().unwrap();
    assert_eq!(last.id, e.vim_tagged);
    let earlier = s.client.get_event(e.before_vim).unwrap();
    assert_eq!(earlier.id, e.before_vim);
    assert!(earlier.ts < last.ts);
    let err = s.client.get_event(999_999).unwrap_err();
    assert_eq!(err.fault_code(), Some(1000), "{err}");
}

#[test]
fn an_unknown_tag_is_a_fault_naming_the_tag_the_call_and_the_hub() {
    let s = setup();
    assert_eq!(s.client.get_tag("no-such-tag", None).unwrap(), None);
    let before = s.hub.requests();
    let err = s
        .client
        .list_tagged_rpms("no-such-tag", None, true, true, None, None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "koji hub {}: listTaggedRPMS: fault 1000: No such entry in table tag: no-such-tag",
            s.hub.url()
        )
    );
    assert!(matches!(err, KojiError::Fault { code: 1000, .. }));
    assert_eq!(s.hub.requests() - before, 1, "a fault must not be retried");
    // Strict getTag says it the hub's way.
    let err = s
        .client
        .call(&Call::new("getTag").arg("no-such-tag").kwarg("strict", true))
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("getTag: fault 1000: No such tagInfo: 'no-such-tag'"),
        "{err}"
    );
}

#[test]
fn builds_rpms_and_signatures_are_read() {
    let s = setup();
    let glibc = s.client.get_build("glibc-2.39-2.fc40").unwrap().unwrap();
    assert_eq!(glibc.volume_name.as_deref(), Some("archive"));
    assert_eq!(glibc.state, odcs::source::koji::build_state::COMPLETE);
    assert_eq!(
        s.client.get_build(glibc.id).unwrap().unwrap().nvr,
        glibc.nvr
    );
    assert_eq!(s.client.get_build("nothing-1-1").unwrap(), None);

    let rpms = s.client.list_build_rpms(glibc.id).unwrap();
    assert_eq!(
        sorted(rpms.iter().map(|r| r.nvra())),
        ["glibc-2.39-2.fc40.i686", "glibc-2.39-2.fc40.x86_64"]
    );
    assert!(
        rpms.iter()
            .all(|r| r.size > 0 && r.external_repo_id == Some(0))
    );
    let sigs = s.client.query_rpm_sigs(rpms[0].id).unwrap();
    let keys = sorted(sigs.iter().map(|s| s.sigkey.clone()));
    assert_eq!(keys, ["", SIGKEY]);
    assert!(sigs.iter().all(|sig| sig.rpm_id == rpms[0].id));

    // getRPMChecksums: the sha256 of each copy, as the real CLI reads it too
    let methods = s.client.list_methods().unwrap();
    assert!(
        methods.iter().any(|m| m == "getRPMChecksums"),
        "{methods:?}"
    );
    let sums = s.client.get_rpm_checksums(&[rpms[0].id, 99_999]).unwrap();
    let first = sums[0].as_ref().unwrap();
    assert_eq!(sorted(first.iter().map(|(k, _)| k.clone())), ["", SIGKEY]);
    let rpm = &rpms[0];
    let build_dir = s
        .topdir
        .path()
        .join("vol/archive/packages/glibc/2.39/2.fc40");
    let file = |sub: &str| {
        let bytes = std::fs::read(
            build_dir
                .join(sub)
                .join(&rpm.arch)
                .join(format!("{}.rpm", rpm.nvra())),
        )
        .unwrap();
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    for (key, by_type) in first {
        let sub = if key.is_empty() {
            String::new()
        } else {
            format!("data/signed/{key}")
        };
        assert_eq!(by_type, &[("sha256".to_owned(), file(&sub))], "key {key:?}");
    }
    assert!(
        matches!(&sums[1], Err(KojiError::Fault { .. })),
        "an unknown RPM is a fault: {:?}",
        sums[1]
    );
    let dir = tempfile::tempdir().unwrap();
    let cli = koji(
        &s.hub,
        dir.path(),
        &[
            "call",
            "--json-output",
            "getRPMChecksums",
            &rpm.id.to_string(),
        ],
    )
    .join("\n");
    let cli: serde_json::Value = serde_json::from_str(&cli).unwrap();
    for (key, by_type) in first {
        assert_eq!(cli[key.as_str()]["sha256"], by_type[0].1.as_str(), "{cli}");
    }
}

#[test]
fn a_multicall_reports_each_calls_fault_separately() {
    let s = setup();
    let results = s
        .client
        .multicall(&[
            Call::new("getBuild").arg("bash-5.2.26-2.fc40"),
            Call::new("listBuildRPMs").arg("nothing-1-1"),
            Call::new("getTag").arg("f40").kwarg("event", Value::Nil),
        ])
        .unwrap();
    assert_eq!(results.len(), 3);
    let build = odcs::source::koji::KojiBuild::from_value(results[0].as_ref().unwrap()).unwrap();
    assert_eq!(build.nvr, "bash-5.2.26-2.fc40");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "koji hub {}: listBuildRPMs: fault 1000: No such build: 'nothing-1-1'",
            s.hub.url()
        )
    );
    let tag = results[2].as_ref().unwrap();
    assert_eq!(tag.get("name").and_then(Value::as_str), Some("f40"));
    assert_eq!(s.hub.methods(), ["multiCall"]);
}

#[test]
fn a_slow_hub_times_out_with_the_seconds_named() {
    let s = setup();
    s.hub.set_delay(Duration::from_secs(3));
    let client = KojiClient::new(
        s.hub.url(),
        ClientOptions {
            timeout: Duration::from_millis(500),
            ..quick_options()
        },
    );
    let start = Instant::now();
    let err = client.get_api_version().unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(matches!(err, KojiError::Timeout { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "koji hub {}: getAPIVersion: timed out after 0.5 seconds",
            s.hub.url()
        )
    );
    assert_eq!(s.hub.requests(), 1, "a timed-out call is not retried");
}

#[test]
fn calls_are_retried_after_503s_and_offline_faults() {
    let s = setup();
    s.hub.fail_next(2, 503);
    assert_eq!(s.client.get_api_version().unwrap(), 1);
    assert_eq!(s.hub.requests(), 3);

    s.hub.offline_next(1);
    assert_eq!(s.client.get_last_event().unwrap().id, s.events.vim_tagged);
    assert_eq!(s.hub.requests(), 5);

    s.hub.fail_next(10, 502);
    let err = s.client.get_api_version().unwrap_err();
    assert!(
        matches!(
            err,
            KojiError::Http {
                status: 502,
                attempts: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("HTTP status 502 (after 4 attempt(s))"),
        "{err}"
    );

    // A 4xx is an answer, not a hiccup.
    s.hub.fail_next(1, 404);
    let before = s.hub.requests();
    assert!(s.client.get_api_version().is_err());
    assert_eq!(s.hub.requests() - before, 1);
}

#[test]
fn our_client_sends_keywords_as_koji_does() {
    let s = setup();
    s.client
        .list_tagged_rpms(
            "f40",
            Some(3),
            true,
            true,
            Some(vec!["x86_64".into()]),
            None,
        )
        .unwrap();
    let call = s.hub.calls().pop().unwrap();
    assert_eq!(call.method, "listTaggedRPMS");
    assert_eq!(call.params[0], Value::from("f40"));
    let names: Vec<&str> = call.params[1]
        .as_struct()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(names, ["event", "inherit", "latest", "arch", "__starstar"]);
    assert_eq!(call.params[1].get("__starstar"), Some(&Value::Bool(true)));
    assert_eq!(call.params[1].get("event"), Some(&Value::Int(3)));
}

#[test]
fn the_arch_filter_keeps_only_the_arches_asked_for() {
    let s = setup();
    let (rpms, _) = s
        .client
        .list_tagged_rpms(
            "f40-updates",
            None,
            true,
            true,
            Some(vec!["x86_64".into(), "noarch".into()]),
            None,
        )
        .unwrap();
    assert!(!rpms.is_empty());
    assert!(
        rpms.iter()
            .all(|r| r.arch == "x86_64" || r.arch == "noarch")
    );
    assert!(rpms.iter().any(|r| r.arch == "noarch"));
}

#[test]
fn signed_copies_are_chosen_and_unsigned_rpms_are_listed() {
    let s = setup();
    let paths = KojiPaths::new(s.topdir.path());
    let (rpms, builds) = s
        .client
        .list_tagged_rpms("f40-updates", None, true, true, None, None)
        .unwrap();
    let build_of = |id: i64| builds.iter().find(|b| b.id == id).unwrap();

    let only_signed = [Some(SIGKEY.to_uppercase())];
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    for r in &rpms {
        match paths.choose_rpm_file(build_of(r.build_id), r, &only_signed) {
            Ok(c) => chosen.push((r.nvra(), c)),
            Err(m) => missing.push(m),
        }
    }
    for (nvra, c) in &chosen {
        assert_eq!(c.sigkey.as_deref(), Some(SIGKEY), "{nvra}");
        assert!(c.path.is_file(), "{}", c.path.display());
        assert!(
            c.path
                .to_string_lossy()
                .contains(&format!("/data/signed/{SIGKEY}/")),
            "{}",
            c.path.display()
        );
    }
    let glibc = chosen
        .iter()
        .find(|(n, _)| n == "glibc-2.39-2.fc40.x86_64")
        .unwrap();
    assert!(
        glibc
            .1
            .path
            .starts_with(s.topdir.path().join("vol/archive/packages/glibc"))
    );
    assert_eq!(
        unsigned_packages_error(&only_signed, &missing).to_string(),
        "RPM(s) not found for sigs: ('A15B79CC',). Check log for details. Unsigned packages:\n\
         coreutils-9.4-5.fc40\nvim-9.1-1.fc40"
    );

    // With None anywhere in the list the unsigned files are allowed, but the
    // signed copies still win.
    let either = [None, Some(SIGKEY.to_owned())];
    for r in &rpms {
        let c = paths
            .choose_rpm_file(build_of(r.build_id), r, &either)
            .unwrap();
        assert!(c.path.is_file());
        let signed = r.name.starts_with("bash") || r.name == "glibc";
        assert_eq!(c.sigkey.is_some(), signed, "{}", r.nvra());
    }
}

#[test]
fn the_hub_speaks_http_like_koji() {
    let s = setup();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent.get(&s.hub.url()).call().unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers().get("Allow").unwrap(), "POST");
    assert_eq!(resp.headers().get("Koji-Version").unwrap(), "1.35.3");

    let mut resp = agent
        .post(&s.hub.url())
        .header("Content-Type", "text/xml")
        .send("<methodCall><methodName>getKojiVersion</methodName></methodCall>")
        .unwrap();
    assert_eq!(resp.headers().get("Koji-Version").unwrap(), "1.35.3");
    let body = resp.body_mut().read_to_string().unwrap();
    assert_eq!(
        odcs::source::koji::xmlrpc::parse_response(&body).unwrap(),
        odcs::source::koji::xmlrpc::Response::Success(Value::from("1.35.3"))
    );

    let resp = agent.post(&s.hub.url()).send("not xml").unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let bash = s.client.get_build("bash-5.2.26-2.fc40").unwrap().unwrap();
    let rpms = s
        .client
        .call(
            &Call::new("listRPMs")
                .kwarg("buildID", bash.id)
                .kwarg("arches", vec!["i686", "noarch"]),
        )
        .unwrap();
    let nvrs: Vec<&str> = rpms
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.get("nvr").and_then(Value::as_str).unwrap())
        .collect();
    assert_eq!(nvrs, ["bash-5.2.26-2.fc40", "bash-doc-5.2.26-2.fc40"]);

    let err = s.client.call(&Call::new("deleteBuild").arg(1)).unwrap_err();
    assert_eq!(err.fault_code(), Some(1000));
    assert!(
        err.to_string().ends_with("Invalid method: deleteBuild"),
        "{err}"
    );
    let err = s
        .client
        .call(&Call::new("getTag").arg("f40").kwarg("bogus", true))
        .unwrap_err();
    assert_eq!(err.fault_code(), Some(1019), "{err}");
}

// ---------------------------------------------------------------------------
// The real koji CLI against the hub (formats.md §1.9)

/// The `koji` command, or a failure saying how to get it.
fn koji_cli() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("koji"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "the koji CLI is not installed: these tests check the test hub with it; \
                 scripts/test installs it (pip install --no-deps koji defusedxml \
                 python-dateutil requests six)"
            )
        })
}

/// Run `koji -c CONFIG --noauth ARGS...` against the hub; stdout lines.
fn koji(hub: &KojiHub, dir: &Path, args: &[&str]) -> Vec<String> {
    let config = dir.join("koji.conf");
    std::fs::write(
        &config,
        format!("[koji]\nserver = {}\nweburl = http://127.0.0.1/koji\ntopurl = http://127.0.0.1/kojifiles\n", hub.url()),
    )
    .unwrap();
    let out = common::run_ok(
        Command::new(koji_cli())
            .arg("-c")
            .arg(&config)
            .arg("--noauth")
            .args(args)
            .env("PYTHONIOENCODING", "utf-8"),
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn koji_cli_list_tagged_shows_the_tags_builds() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let lines = koji(&s.hub, dir.path(), &["list-tagged", "--quiet", "f40"]);
    let nvrs: Vec<String> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(
        nvrs,
        [
            "bash-5.2.26-1.fc40",
            "bash-5.2.26-3.fc40",
            "coreutils-9.4-5.fc40",
            "coreutils-9.4-6.fc40",
            "glibc-2.39-2.fc40",
            "oldpkg-1.0-1.fc40",
            "vim-9.1-1.fc40"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.split_whitespace().nth(1) == Some("f40")),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|l| l.ends_with("packager")), "{lines:#?}");
    // The CLI's calls arrived with its keyword conventions (booleans not given are nil).
    let calls = s.hub.calls();
    let list = calls.iter().find(|c| c.method == "listTagged").unwrap();
    assert_eq!(list.params[1].get("latest"), Some(&Value::Nil));
    assert_eq!(list.params[1].get("__starstar"), Some(&Value::Bool(true)));
    assert_eq!(s.hub.methods(), ["getAPIVersion", "getTag", "listTagged"]);

    // With the header, and at an event before vim was tagged.
    let event = s.events.before_vim.to_string();
    let lines = koji(
        &s.hub,
        dir.path(),
        &["list-tagged", "--event", &event, "f40"],
    );
    assert!(
        lines[0].starts_with(&format!("Querying at event {event} (")),
        "{lines:#?}"
    );
    assert!(lines[1].starts_with("Build "), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.starts_with("vim-")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("glibc-2.39-2.fc40 ")),
        "{lines:#?}"
    );
}

#[test]
fn koji_cli_list_tagged_latest_inherit_rpms_shows_the_compose_input() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let lines = koji(
        &s.hub,
        dir.path(),
        &[
            "list-tagged",
            "--latest",
            "--inherit",
            "--rpms",
            "f40-updates",
        ],
    );
    assert_eq!(
        lines,
        [
            "bash-5.2.26-2.fc40.i686",
            "bash-5.2.26-2.fc40.x86_64",
            "bash-doc-5.2.26-2.fc40.noarch",
            "coreutils-9.4-5.fc40.x86_64",
            "glibc-2.39-2.fc40.i686",
            "glibc-2.39-2.fc40.x86_64",
            "vim-9.1-1.fc40.x86_64"
        ]
    );
    let call = s.hub.calls().pop().unwrap();
    assert_eq!(call.method, "listTaggedRPMS");
    assert_eq!(call.params[1].get("latest"), Some(&Value::Bool(true)));
    assert_eq!(call.params[1].get("inherit"), Some(&Value::Bool(true)));
    // The CLI and our client agree.
    assert_eq!(lines, tagged(&s.client, "f40-updates", None, true, true).1);
}

#[test]
fn koji_cli_call_tag_changed_since_event_answers_as_our_client_reads_it() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let (f40, updates) = (
        s.client.get_tag("f40", None).unwrap().unwrap().id,
        s.client.get_tag("f40-updates", None).unwrap().unwrap().id,
    );
    for (event, ids, expected) in [
        (s.events.before_vim, vec![f40], true),
        (s.events.before_vim, vec![updates], false),
        (s.events.before_vim, vec![updates, f40], true),
        (s.events.vim_tagged, vec![f40, updates], false),
        (s.events.zlib_untagged - 1, vec![f40], true),
    ] {
        assert_eq!(
            s.client.tag_changed_since_event(event, &ids).unwrap(),
            expected,
            "tagChangedSinceEvent({event}, {ids:?})"
        );
        let ids_arg = format!("{ids:?}");
        let lines = koji(
            &s.hub,
            dir.path(),
            &[
                "call",
                "--python",
                "tagChangedSinceEvent",
                &event.to_string(),
                &ids_arg,
            ],
        );
        let want = if expected { "True" } else { "False" };
        assert_eq!(
            lines,
            [want],
            "koji call tagChangedSinceEvent {event} {ids_arg}"
        );
    }
}

/// A hub behind HTTPS with a private CA: our client reaches it with the CA
/// bundle configured, refuses it without (the certificate is not trusted),
/// and the real koji CLI (`serverca`) agrees with what we read.
#[test]
fn a_hub_with_a_private_ca_is_reached_with_its_ca_bundle() {
    use koji_hub::tls::{Certs, TlsFront};
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path());
    let front = TlsFront::start(&certs, s.hub.port());

    let client = KojiClient::with_ca_bundle(front.url(), quick_options(), &certs.ca).unwrap();
    assert_eq!(
        latest_nvrs(&client, "f40-updates", None),
        latest_nvrs(&s.client, "f40-updates", None)
    );
    // an untrusted certificate is not retried (#12 §6): koji's own client
    // fails at once too
    let retrying = ClientOptions {
        max_retries: 5,
        ..quick_options()
    };
    let untrusting = KojiClient::new(front.url(), retrying);
    let err = untrusting.get_api_version().unwrap_err();
    assert!(
        matches!(err, KojiError::Transport { attempts: 1, .. }) && err.to_string().contains("cert"),
        "{err}"
    );
    // a bundle without certificates is refused when the client is made
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let err = KojiClient::with_ca_bundle(front.url(), quick_options(), &empty).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");

    let config = dir.path().join("koji.conf");
    std::fs::write(
        &config,
        format!(
            "[koji]\nserver = {}\nserverca = {}\nweburl = http://127.0.0.1/koji\ntopurl = http://127.0.0.1/kojifiles\n",
            front.url(),
            certs.ca.display()
        ),
    )
    .unwrap();
    let out = common::run_ok(Command::new(koji_cli()).arg("-c").arg(&config).args([
        "--noauth",
        "list-tagged",
        "--quiet",
        "--latest",
        "--inherit",
        "f40-updates",
    ]));
    let cli: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    assert_eq!(sorted(cli), latest_nvrs(&client, "f40-updates", None));
}

#[test]
fn koji_cli_list_tag_inheritance_draws_the_walk() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let lines = koji(
        &s.hub,
        dir.path(),
        &["list-tag-inheritance", "f40-updates-candidate"],
    );
    assert_eq!(
        lines,
        [
            "     f40-updates-candidate (3)",
            "....  ├─f40-updates (2)",
            "....  │  └─f40 (1)",
            "MF..  └─f40-extras (4)",
        ]
    );
    assert_eq!(
        s.hub.methods(),
        ["getAPIVersion", "getTag", "getFullInheritance"]
    );
    let call = s.hub.calls().pop().unwrap();
    assert_eq!(call.params[0], Value::Int(3));
    assert_eq!(call.params[1].get("reverse"), Some(&Value::Bool(false)));
}

/// Draft builds (Koji ≥ 1.34), #12 §6: the real koji CLI reads the test
/// hub's drafts as it reads a real hub's — `getBuild` finds one by its draft
/// N-V-R only, `list-tagged` lists it — and our client reads the same.
#[test]
fn koji_cli_and_our_client_read_draft_builds_alike() {
    let topdir = tempfile::tempdir().unwrap();
    let mut fx = fixture::standard(topdir.path());
    fx.model.add_package("f40-updates", "drafty");
    let id = fx
        .model
        .import_draft_build("drafty-1.0-1.fc40", &["drafty.x86_64"]);
    let draft_nvr = format!("drafty-1.0-1.fc40,draft_{id}");
    fx.model.tag_build("f40-updates", &draft_nvr);
    let hub = KojiHub::start(fx.model);
    let client = KojiClient::new(hub.url(), quick_options());
    let dir = tempfile::tempdir().unwrap();

    let lines = koji(&hub, dir.path(), &["list-tagged", "--quiet", "f40-updates"]);
    let nvrs: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(nvrs.contains(&draft_nvr.as_str()), "{lines:?}");
    let get_build = |nvr: &str| -> serde_json::Value {
        let out = koji(
            &hub,
            dir.path(),
            &["call", "--json-output", "getBuild", nvr],
        );
        serde_json::from_str(&out.join("\n")).unwrap()
    };
    let found = get_build(&draft_nvr);
    assert_eq!(found["nvr"], draft_nvr.as_str(), "{found}");
    assert_eq!(found["draft"], true, "{found}");
    // the plain N-V-R is not the draft's
    assert_eq!(get_build("drafty-1.0-1.fc40"), serde_json::Value::Null);

    let build = client.get_build(draft_nvr.as_str()).unwrap().unwrap();
    assert!(build.draft);
    assert_eq!(build.nvr, draft_nvr);
    assert_eq!(client.get_build("drafty-1.0-1.fc40").unwrap(), None);
    let (rpms, builds) = client
        .list_tagged_rpms("f40-updates", None, true, true, None, None)
        .unwrap();
    assert!(builds.iter().any(|b| b.nvr == draft_nvr && b.draft));
    assert!(rpms.iter().any(|r| r.build_id == id));
    let (_, regular) = client
        .list_tagged_rpms("f40-updates", None, true, true, None, Some(false))
        .unwrap();
    assert!(regular.iter().all(|b| !b.draft) && !regular.is_empty());
}

/// Module builds (formats.md §4.1) as the real koji CLI reads the test
/// hub's: `search build` with a glob, `list-tagged --type module`, and
/// `getBuild`'s `extra.typeinfo.module`, which our module lookups read.
#[test]
fn koji_cli_finds_module_builds_as_our_client_does() {
    let topdir = tempfile::tempdir().unwrap();
    let mut m = HubModel::new(topdir.path());
    m.add_tag("modtag", None);
    m.add_package("modtag", "mod");
    m.add_package("modtag", "plain");
    let modulemd = "document: modulemd\nversion: 2\ndata:\n  name: mod\n  stream: s-1\n  version: 7\n  context: c0\n  summary: s\n  description: d\n  license:\n    module: [MIT]\n";
    m.import_module_build("mod:s-1:7:c0", modulemd, "module-mod-c0", &["x86_64"]);
    m.tag_build("modtag", "mod-s_1-7.c0");
    m.import_build("plain-1-1", &["plain.x86_64"], None);
    m.tag_build("modtag", "plain-1-1");
    let hub = KojiHub::start(m);
    let dir = tempfile::tempdir().unwrap();

    assert_eq!(
        koji(&hub, dir.path(), &["search", "build", "mod-s_1-*"]),
        ["mod-s_1-7.c0"]
    );
    let typed = koji(
        &hub,
        dir.path(),
        &["list-tagged", "--quiet", "--type", "module", "modtag"],
    );
    let nvrs: Vec<&str> = typed
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(nvrs, ["mod-s_1-7.c0"], "{typed:?}");
    let out = koji(
        &hub,
        dir.path(),
        &["call", "--json-output", "getBuild", "mod-s_1-7.c0"],
    );
    let build: serde_json::Value = serde_json::from_str(&out.join("\n")).unwrap();
    let module = &build["extra"]["typeinfo"]["module"];
    assert_eq!(module["content_koji_tag"], "module-mod-c0", "{build}");
    assert_eq!(
        (module["stream"].as_str(), module["version"].as_str()),
        (Some("s-1"), Some("7"))
    );

    // our client reads the same
    let client = KojiClient::new(hub.url(), quick_options());
    assert_eq!(
        client.search_builds("mod-s_1-*").unwrap(),
        [(1, "mod-s_1-7.c0".to_owned())]
    );
    let listed = client
        .list_tagged_modules("modtag", client.get_last_event().unwrap().id)
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].nvr, "mod-s_1-7.c0");
}

// ---------------------------------------------------------------------------
// `koji import` reads the RPMs `odcs generate-corpus` writes (#18 item 4)

/// `koji ARGS...` run by Debian's python3, which has rpm's Python bindings
/// (`python3-rpm`; the PyPI interpreter has none, and `koji import` reads
/// headers through them), with the PyPI koji package on its path.
fn koji_with_rpm_bindings(hub: &KojiHub, dir: &Path, args: &[&str]) -> std::process::Output {
    let locate = common::run_ok(Command::new("python3").args([
        "-c",
        "import os, sys, koji; print(os.path.join(os.path.dirname(sys.executable), 'koji')); \
         print(os.path.dirname(os.path.dirname(koji.__file__)))",
    ]));
    let located = String::from_utf8(locate.stdout).unwrap();
    let mut lines = located.lines();
    let (script, site) = (
        lines.next().unwrap().to_owned(),
        lines.next().unwrap().to_owned(),
    );
    assert!(
        std::fs::read_to_string(&script).is_ok_and(|s| s.starts_with("#!") && s.contains("koji")),
        "{script} is not the koji CLI script; scripts/test installs it (pip install koji)"
    );
    let bindings = common::run(Command::new("/usr/bin/python3").args(["-c", "import rpm"]));
    assert!(
        bindings.status.success(),
        "Debian's python3 has no rpm bindings: `koji import` needs them; scripts/test \
         installs them (apt-get install python3-rpm)"
    );
    let config = dir.join("koji.conf");
    std::fs::write(
        &config,
        format!("[koji]\nserver = {}\nweburl = http://127.0.0.1/koji\ntopurl = http://127.0.0.1/kojifiles\n", hub.url()),
    )
    .unwrap();
    common::run(
        Command::new("/usr/bin/python3")
            .arg(&script)
            .arg("-c")
            .arg(&config)
            .arg("--noauth")
            .args(args)
            .env("PYTHONPATH", site)
            .env("PYTHONIOENCODING", "utf-8"),
    )
}

#[test]
fn koji_import_takes_the_generated_corpus_and_its_source_rpms() {
    // an empty hub: the standard fixture already holds a bash build
    let dir = tempfile::tempdir().unwrap();
    let hub = KojiHub::start(HubModel::new(&dir.path().join("topdir")));
    let corpus = dir.path().join("corpus");
    common::run_ok(
        common::odcs()
            .args(["generate-corpus", "--packages", "40"])
            .arg(&corpus),
    );
    let binaries = common::rpm_files_under(&corpus.join("Packages"));
    let sources = common::rpm_files_under(&corpus.join("SRPMS"));
    assert_eq!((binaries.len(), sources.len()), (40, 40));

    // rpm itself: binaries name their source RPM, which exists; source RPMs
    // are source packages; every digest checks out after the rewrite
    let query = |p: &Path| {
        let out = common::run_ok(
            Command::new(common::tool("rpm"))
                .args([
                    "-qp",
                    "--qf",
                    "%{SOURCERPM}|%{SOURCEPACKAGE}|%{NAME}-%{VERSION}-%{RELEASE}",
                ])
                .arg(p),
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let names: BTreeSet<String> = sources
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for b in &binaries {
        let q = query(b);
        let fields: Vec<&str> = q.split('|').collect();
        assert_eq!(fields[1], "(none)", "{}: SOURCEPACKAGE", b.display());
        assert_eq!(
            fields[0],
            format!("{}.src.rpm", fields[2]),
            "{}",
            b.display()
        );
        assert!(
            names.contains(fields[0]),
            "{}: no source RPM {}",
            b.display(),
            fields[0]
        );
    }
    for src in &sources {
        let q = query(src);
        assert!(q.starts_with("(none)|1|"), "{}: {q}", src.display());
    }
    let mut check = Command::new(common::tool("rpm"));
    check.arg("-K").args(&binaries).args(&sources);
    let out = String::from_utf8(common::run_ok(&mut check).stdout).unwrap();
    assert_eq!(
        out.lines().filter(|l| l.ends_with("digests OK")).count(),
        80,
        "{out}"
    );

    // the koji CLI groups them into builds by SOURCERPM and would import all
    let mut args = vec!["import", "--test"];
    let paths: Vec<String> = binaries
        .iter()
        .chain(&sources)
        .map(|p| p.display().to_string())
        .collect();
    args.extend(paths.iter().map(String::as_str));
    let out = koji_with_rpm_bindings(&hub, dir.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "koji import --test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let skipped = stdout
        .lines()
        .filter(|l| l.starts_with("Test mode -- skipping import for "))
        .count();
    assert_eq!(skipped, 80, "{stdout}");
    assert!(!stdout.contains("Missing build or srpm"), "{stdout}");
    assert_eq!(
        hub.methods().iter().filter(|m| *m == "getRPM").count(),
        80,
        "koji import asks the hub for each RPM"
    );

    // what the real hub refused: a binary package whose SOURCERPM is `(none)`
    let mut spec = odcs::rpm::build::PackageSpec::parse("orphan-1.0-1.x86_64").unwrap();
    spec.sourcerpm = None;
    let orphan = spec.write_to(dir.path()).unwrap();
    let out = koji_with_rpm_bindings(
        &hub,
        dir.path(),
        &["import", "--test", &orphan.display().to_string()],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && all.contains("invalid format: (none)"),
        "{all}"
    );
}
