//! Composes from Koji: the compose engine against the test hub (protocol-faithful,
//! itself checked with the real koji CLI in tests/koji.rs) and its topdir.

mod common;
#[path = "koji_hub/mod.rs"]
mod koji_hub;

use std::path::Path;
use std::time::Duration;

use odcs::compose::NoProgress;
use odcs::compose::createrepo::CacheDir;
use odcs::compose::engine::{ComposeRequest, run_compose};
use odcs::source::koji::{ClientOptions, KojiClient, KojiPaths};
use odcs::source::koji_source::KojiSource;

fn request(name: &str, tag: &str, packages: &[&str], sigkeys: &[&str]) -> ComposeRequest {
    ComposeRequest {
        packages: packages.iter().map(|s| s.to_string()).collect(),
        sigkeys: sigkeys.iter().map(|s| s.to_string()).collect(),
        ..ComposeRequest::tag(name, tag, &format!("http://localhost/{name}"))
    }
}

fn names(tree: &Path) -> Vec<String> {
    let mut v: Vec<String> = odcs::repodata::read::read_repo(tree)
        .unwrap()
        .packages
        .into_iter()
        .map(|p| format!("{}-{}-{}.{}", p.name, p.ver, p.rel, p.arch))
        .collect();
    v.sort();
    v
}

struct Setup {
    tmp: tempfile::TempDir,
    hub: koji_hub::KojiHub,
    events: koji_hub::fixture::Events,
    source: KojiSource,
    cache: CacheDir,
}

fn setup() -> Setup {
    setup_with(|_| {})
}

/// The standard hub, changed by `tweak` before it starts.
fn setup_with(tweak: impl FnOnce(&mut koji_hub::model::HubModel)) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let topdir = tmp.path().join("topdir");
    let mut fixture = koji_hub::fixture::standard(&topdir);
    tweak(&mut fixture.model);
    let events = fixture.events;
    let hub = koji_hub::KojiHub::start(fixture.model);
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        max_retries: 1,
        retry_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
    };
    let source = KojiSource::new(KojiClient::new(hub.url(), options), KojiPaths::new(&topdir));
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    Setup {
        tmp,
        hub,
        events,
        source,
        cache,
    }
}

#[test]
fn a_koji_tag_compose_takes_the_latest_builds_at_its_event() {
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let r = run_compose(
        &request("odcs-1", "f40-updates", &["bash", "coreutils", "vim"], &[]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap();
    let os = target.join("odcs-1/compose/Temporary/x86_64/os");
    // bash -2 is nearer than f40's -3; coreutils -5 was re-tagged after -6
    assert_eq!(
        names(&os),
        [
            "bash-5.2.26-2.fc40.x86_64",
            "coreutils-9.4-5.fc40.x86_64",
            "vim-9.1-1.fc40.x86_64"
        ]
    );
    assert!(r.rpms.iter().all(|x| x.sigkey.is_none()));
    assert!(s.hub.methods().iter().any(|m| m == "listTaggedRPMS"));

    // pinned before vim was tagged: vim is not there
    let mut req = request("odcs-2", "f40-updates", &["vim"], &[]);
    req.event = Some(s.events.before_vim);
    let err = run_compose(&req, &s.source, s.cache.caches(), &target, &NoProgress).unwrap_err();
    assert!(
        err.to_string()
            .contains("packages not found in tag f40-updates: vim"),
        "{err}"
    );
    assert!(!target.join("odcs-2").exists());
}

#[test]
fn a_tag_changed_since_an_event_when_it_or_an_inherited_tag_did() {
    use odcs::source::{PackageSource, SourceError};
    let s = setup();
    let ev = s.events;
    let last = s.hub.model().last_event();
    let changed = |tag: &str, event: i64, inherit: bool| {
        s.source.tag_changed_since(tag, event, inherit).unwrap()
    };
    // vim was tagged into f40 last: f40 and the tags inheriting it changed
    assert!(changed("f40", ev.before_vim, true));
    assert!(changed("f40-updates", ev.before_vim, true));
    assert!(changed("f40-updates-candidate", ev.before_vim, true));
    assert!(!changed("f40-updates", ev.before_vim, false));
    assert!(!changed("f40-extras", ev.before_vim, true));
    assert!(!changed("f40-updates-candidate", last, true));
    // extras is inherited by the candidate tag: its tagging after zlib's untag counts
    assert!(changed("f40-updates-candidate", ev.zlib_untagged, true));
    assert!(!changed("f40-updates", ev.zlib_untagged, false));
    // an untag is a change at the untagging event
    assert!(changed("f40", ev.zlib_untagged - 1, false));
    assert!(matches!(
        s.source.tag_changed_since("nope", 1, true),
        Err(SourceError::UnknownTag { .. })
    ));
    let methods = s.hub.methods();
    assert!(
        methods.iter().any(|m| m == "tagChangedSinceEvent"),
        "{methods:?}"
    );
}

/// A compose preferring signed copies (other packages of the tag have only
/// unsigned ones), then the same after the signed copy of bash was changed
/// where none of its own digests look — as re-signing it without Koji knowing
/// changes only the part before the main header (here a letter of the lead's
/// name; `rpm -K` still says OK): the second fails naming the file, unless the
/// hub is one without `getRPMChecksums` (then nothing is checked, as with
/// Pungi before 4.4). Damage that the RPM's digests catch is refused before
/// Koji is asked (below).
fn signed_copy_checks(hub_has_checksums: bool) -> Result<(), String> {
    let s = setup_with(|m| {
        if !hub_has_checksums {
            m.hidden_methods = vec!["getRPMChecksums".to_owned()];
        }
    });
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let key = koji_hub::fixture::SIGKEY;
    let first = run_compose(
        &request("odcs-1", "f40-updates", &["bash"], &[key, ""]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap();
    let signed = first
        .rpms
        .iter()
        .find(|r| r.nevra.starts_with("bash-0:") && r.arch == "x86_64" && r.sigkey.is_some())
        .map(|r| r.source_path.clone())
        .expect("a signed copy of bash");
    // asked (inside a multicall) only when the hub lists the call
    let asked = s
        .hub
        .calls()
        .iter()
        .any(|c| format!("{:?}", c.params).contains("getRPMChecksums"));
    assert_eq!(asked, hub_has_checksums);
    assert!(s.hub.methods().iter().any(|m| m == "system.listMethods"));
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes[10] ^= 0x20; // the lead's name: bash → Bash
    std::fs::write(&signed, &bytes).unwrap();
    assert_eq!(common::rpm_k_bad(&signed), (vec![], false));
    let second = run_compose(
        &request("odcs-2", "f40-updates", &["bash"], &[key, ""]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    );
    match second {
        Ok(_) => Ok(()),
        Err(e) => {
            assert!(
                !target.join("odcs-2").exists(),
                "a failed compose left a tree"
            );
            let text = e.to_string();
            assert!(text.contains(&signed.display().to_string()), "{text}");
            Err(text)
        }
    }
}

#[test]
fn signed_copies_are_checked_against_the_checksums_koji_records() {
    let err = signed_copy_checks(true).unwrap_err();
    assert!(
        err.starts_with("RPM files differ from the checksums their source records:"),
        "{err}"
    );
    assert!(err.contains("(key a15b79cc)"), "{err}");
    // a hub without getRPMChecksums is not asked: the damage goes unnoticed
    assert_eq!(signed_copy_checks(false), Ok(()));
}

#[test]
fn sigkeys_choose_signed_copies_and_name_the_unsigned_builds() {
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let key = koji_hub::fixture::SIGKEY;
    let err = run_compose(
        &request("odcs-3", "f40-updates", &["bash", "coreutils"], &[key]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(&format!(
            "RPM(s) not found for sigs: ('{key}',). Check log for details. Unsigned packages:"
        )),
        "{err}"
    );
    assert!(err.contains("\ncoreutils-9.4-5.fc40"), "{err}");
    assert!(!err.contains("bash-"), "bash has a signed copy: {err}");

    // allowing unsigned copies too: bash signed, coreutils unsigned
    let r = run_compose(
        &request("odcs-4", "f40-updates", &["bash", "coreutils"], &[key, ""]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap();
    let sig = |n: &str| {
        r.rpms
            .iter()
            .find(|x| x.nevra.starts_with(n))
            .unwrap()
            .sigkey
            .clone()
    };
    assert_eq!(sig("bash-0:"), Some(key.to_owned()));
    assert_eq!(sig("coreutils-0:"), None);
    let rpms_json =
        std::fs::read_to_string(target.join("odcs-4/compose/metadata/rpms.json")).unwrap();
    assert!(
        rpms_json.contains(&format!("\"sigkey\": \"{key}\"")),
        "{rpms_json}"
    );
}

#[test]
fn an_unknown_tag_or_a_hub_that_times_out_fails_clearly() {
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let err = run_compose(
        &request("odcs-5", "f41", &[], &[]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown tag \"f41\""), "{err}");

    let slow = KojiSource::new(
        KojiClient::new(
            s.hub.url(),
            ClientOptions {
                timeout: Duration::from_millis(300),
                max_retries: 0,
                retry_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(1),
            },
        ),
        KojiPaths::new(s.tmp.path().join("topdir")),
    );
    s.hub.set_delay(Duration::from_secs(2));
    let err = run_compose(
        &request("odcs-6", "f40", &[], &[]),
        &slow,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap_err();
    assert!(err.to_string().contains("timed out after"), "{err}");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

#[test]
fn the_compose_command_runs_against_a_koji_hub() {
    let s = setup();
    let target = s.tmp.path().join("composes");
    let out = common::run_ok(
        common::odcs()
            .args([
                "compose",
                "--source",
                "f40",
                "--packages",
                "coreutils",
                "--name",
                "odcs-9",
            ])
            .arg("--koji")
            .arg(s.hub.url())
            .arg("--topdir")
            .arg(s.tmp.path().join("topdir"))
            .arg("--target")
            .arg(&target)
            .arg("--cache-dir")
            .arg(s.tmp.path().join("cache")),
    );
    let repo_file = String::from_utf8_lossy(&out.stdout);
    assert!(
        repo_file.trim().ends_with("compose/Temporary/odcs-9.repo"),
        "{repo_file}"
    );
    assert_eq!(
        names(&target.join("odcs-9/compose/Temporary/x86_64/os")),
        ["coreutils-9.4-5.fc40.x86_64"]
    );
}

/// #12 §1: the hub answers listings for an event it has not reached as if it
/// were "now", so a compose pinned to one would record today's content under
/// an event that has not happened; `getEvent` refuses it, and so must we.
#[test]
fn a_requested_event_the_hub_has_not_reached_fails_the_compose_naming_it() {
    use odcs::source::PackageSource;
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let last = s.hub.model().last_event();
    let future = last + 1000;
    // the quirk that makes the check necessary: the listing answers as "now"
    assert!(
        !s.source
            .tag_changed_since("f40-updates", future, true)
            .unwrap()
    );

    let mut req = request("odcs-1", "f40-updates", &["bash"], &[]);
    req.event = Some(future);
    let err = run_compose(&req, &s.source, s.cache.caches(), &target, &NoProgress).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("event {future} does not exist (the newest event is {last})")
    );
    assert!(!target.join("odcs-1").exists());
    assert!(s.hub.methods().iter().any(|m| m == "getEvent"));

    // an event before the tag was created names the tag and the event
    let created = s
        .hub
        .model()
        .tags
        .iter()
        .find(|t| t.name == "f40-updates")
        .unwrap()
        .created;
    let mut req = request("odcs-2", "f40-updates", &["bash"], &[]);
    req.event = Some(created - 1);
    let err = run_compose(&req, &s.source, s.cache.caches(), &target, &NoProgress).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("tag \"f40-updates\" did not exist at event {}", created - 1)
    );
    // a tag that never existed is still unknown
    let mut req = request("odcs-3", "f41", &["bash"], &[]);
    req.event = Some(last);
    let err = run_compose(&req, &s.source, s.cache.caches(), &target, &NoProgress).unwrap_err();
    assert_eq!(err.to_string(), "unknown tag \"f41\"");
}

/// #12 §6: draft builds (Koji ≥ 1.34) are named `N-V-R,draft_<id>`; a tag
/// compose includes them as the hub lists them (files from their
/// `R,draft_<id>/` directory), `include_draft_builds = false` leaves them
/// out, and a build compose takes a draft by its N-V-R.
#[test]
fn draft_builds_are_composed_as_koji_lists_them_or_left_out() {
    let mut draft_id = 0;
    let mut s = setup_with(|m| {
        m.add_package("f40-updates", "drafty");
        draft_id = m.import_draft_build("drafty-1.0-1.fc40", &["drafty.x86_64"]);
        m.tag_build(
            "f40-updates",
            &format!("drafty-1.0-1.fc40,draft_{draft_id}"),
        );
    });
    let draft_nvr = format!("drafty-1.0-1.fc40,draft_{draft_id}");
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let compose = |s: &Setup, req: &ComposeRequest| {
        run_compose(req, &s.source, s.cache.caches(), &target, &NoProgress)
    };

    let r = compose(&s, &request("odcs-1", "f40-updates", &["drafty"], &[])).unwrap();
    let rpm = r
        .rpms
        .iter()
        .find(|x| x.nevra.starts_with("drafty-"))
        .unwrap();
    assert_eq!(rpm.build_nvr, draft_nvr);
    assert!(
        rpm.source_path.to_string_lossy().contains(&format!(
            "/packages/drafty/1.0/1.fc40,draft_{draft_id}/x86_64/"
        )),
        "{}",
        rpm.source_path.display()
    );
    assert_eq!(
        names(&target.join("odcs-1/compose/Temporary/x86_64/os")),
        ["drafty-1.0-1.fc40.x86_64"]
    );

    let mut by_build = request("odcs-2", "unused", &[], &[]);
    by_build.source_type = odcs::compose::engine::SourceType::Build;
    by_build.source = vec![draft_nvr.clone()];
    let r = compose(&s, &by_build).unwrap();
    assert!(r.rpms.iter().any(|x| x.build_nvr == draft_nvr));
    by_build.name = "odcs-3".into();
    by_build.source = vec!["drafty-1.0-1.fc40".into()];
    let err = compose(&s, &by_build).unwrap_err();
    assert_eq!(err.to_string(), "unknown build \"drafty-1.0-1.fc40\"");

    s.source.include_draft_builds = false;
    let err = compose(&s, &request("odcs-4", "f40-updates", &["drafty"], &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "packages not found in tag f40-updates: drafty"
    );
    let last = s
        .hub
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.method == "listTaggedRPMS")
        .unwrap();
    assert_eq!(
        last.params[1].get("draft"),
        Some(&odcs::source::koji::Value::Bool(false))
    );
}

/// #12 §6: a wrong topdir said only `RPM(s) not found for sigs: (None,)`;
/// the message now names the files looked for and that the topdir is not a
/// Koji topdir.
#[test]
fn a_wrong_topdir_names_the_files_looked_for_and_the_topdir() {
    let s = setup();
    let wrong = s.tmp.path().join("not-the-topdir");
    std::fs::create_dir_all(&wrong).unwrap();
    let source = KojiSource::new(
        KojiClient::new(s.hub.url(), ClientOptions::default()),
        KojiPaths::new(&wrong),
    );
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let err = run_compose(
        &request("odcs-1", "f40-updates", &["vim"], &[]),
        &source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "RPM(s) not found for sigs: (None,). Check log for details. Unsigned packages:\n"
        ),
        "{err}"
    );
    let expected = wrong.join("packages/bash/5.2.26/2.fc40/x86_64/bash-5.2.26-2.fc40.x86_64.rpm");
    assert!(
        err.contains(&format!("\nLooked for: {}", expected.display())),
        "{err}"
    );
    assert!(err.contains(" more)"), "{err}");
    assert!(
        err.ends_with(&format!(
            "\nThe Koji topdir {} has no packages/ directory: is it mounted on this host, and is the configured topdir right?",
            wrong.display()
        )),
        "{err}"
    );
}

/// A signed copy damaged on the volume before the hub recorded its checksum:
/// `getRPMChecksums` computes the checksum from the damaged file and so
/// agrees with it; only the RPM's own digests (`rpm -K`: DIGESTS NOT OK)
/// catch it, and the compose fails naming the file and the digest
/// (formats.md §1.10, issue #12).
#[test]
fn a_damaged_signed_copy_is_refused_although_the_hubs_checksum_matches_it() {
    use sha2::Digest;
    let key = koji_hub::fixture::SIGKEY;
    let s = setup_with(|m| m.forget_checksums(key));
    let m = s.hub.model();
    let rpm = m
        .find_rpm(&odcs::source::koji::Value::from(
            "bash-5.2.26-2.fc40.x86_64",
        ))
        .unwrap()
        .clone();
    let signed = m.copy_path(&rpm, key);
    let damaged = common::damaged(&signed, common::Damage::FlipPayloadByte);
    // in place, as a bad disk or a bad copy leaves it
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&signed)
            .unwrap();
        f.write_all(&damaged).unwrap();
    }
    let (bad, not_ok) = common::rpm_k_bad(&signed);
    assert!(not_ok && !bad.is_empty(), "rpm -K accepts the damaged copy");
    // what the hub answers for it now: the checksum of the damaged file
    let sha = hex::encode(sha2::Sha256::digest(&damaged));
    let hub_sums = m.rpm_checksums(rpm.id, false);
    assert!(hub_sums.contains(&(key.to_owned(), sha)), "{hub_sums:?}");

    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let err = run_compose(
        &request("odcs-1", "f40-updates", &["bash"], &[key, ""]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .expect_err("a damaged signed copy was composed")
    .to_string();
    assert!(err.contains(&signed.display().to_string()), "{err}");
    assert!(err.contains("Payload SHA256 digest"), "{err}");
    assert!(!target.join("odcs-1").exists());
}

/// The resident index (#18): a second compose of an unchanged tag takes its
/// resolution and its records from memory — no `listTaggedRPMS`, no RPM
/// read — even when the hub's event moved on elsewhere; a change of the tag
/// makes the next compose ask again; a chosen file rewritten in place is
/// read again.
/// A cold compose reads every candidate only to the end of its headers and
/// reads whole (hashes, checks the payload digests of) only the packages it
/// chooses: a candidate with a damaged payload that is not chosen does not
/// fail it, and fails the compose that chooses it, naming the file.
#[test]
fn a_cold_compose_reads_whole_only_the_chosen_packages() {
    use odcs::rpm::{FILES_READ, HEADERS_READ};
    use std::sync::atomic::Ordering::Relaxed;
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let vim: Vec<_> = common::rpm_files_under(&s.tmp.path().join("topdir"))
        .into_iter()
        .filter(|p| p.ends_with("vim-9.1-1.fc40.x86_64.rpm"))
        .collect();
    assert!(!vim.is_empty());
    for p in &vim {
        let bad = common::damaged(p, common::Damage::FlipPayloadByte);
        std::fs::write(p, bad).unwrap();
    }
    let (headers, whole) = (HEADERS_READ.load(Relaxed), FILES_READ.load(Relaxed));
    let r = run_compose(
        &request("odcs-1", "f40-updates", &["bash"], &[]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .expect("a damaged candidate that is not chosen failed the compose");
    let chosen: std::collections::HashSet<_> = r.rpms.iter().map(|x| &x.source_path).collect();
    let (headers, whole) = (
        HEADERS_READ.load(Relaxed) - headers,
        FILES_READ.load(Relaxed) - whole,
    );
    assert_eq!(whole, chosen.len() as u64, "files read whole");
    assert!(
        headers > whole,
        "{headers} candidates read to their headers, {whole} whole"
    );
    assert!(!chosen.iter().any(|p| vim.contains(p)));

    let err = run_compose(
        &request("odcs-2", "f40-updates", &["vim"], &[]),
        &s.source,
        s.cache.caches(),
        &target,
        &NoProgress,
    )
    .expect_err("a chosen package with a damaged payload was composed");
    let text = err.to_string();
    assert!(
        text.contains("Payload SHA256 digest")
            && vim.iter().any(|p| text.contains(&p.display().to_string())),
        "{text}"
    );
    assert!(!target.join("odcs-2").exists());
}

#[test]
fn a_warm_compose_of_an_unchanged_tag_lists_nothing_and_reads_no_rpm() {
    use std::sync::atomic::Ordering::Relaxed;
    let s = setup();
    let target = s.tmp.path().join("composes");
    std::fs::create_dir_all(&target).unwrap();
    let listings = || {
        s.hub
            .methods()
            .iter()
            .filter(|m| *m == "listTaggedRPMS")
            .count()
    };
    let stats = &s.cache.resident.stats;
    let compose = |name: &str, packages: &[&str]| {
        run_compose(
            &request(name, "f40-updates", packages, &[]),
            &s.source,
            s.cache.caches(),
            &target,
            &NoProgress,
        )
        .unwrap()
    };
    compose("odcs-1", &["bash"]);
    let (listed, misses) = (listings(), stats.record_misses.load(Relaxed));
    assert!(listed >= 1 && misses > 0, "{listed} {misses}");

    // activity elsewhere: the event moves, the tag does not change
    s.hub.change(|m| {
        m.new_event();
    });
    let r = compose("odcs-2", &["coreutils", "vim"]);
    assert_eq!(listings(), listed, "a warm compose listed the tag again");
    assert_eq!(
        stats.record_misses.load(Relaxed),
        misses,
        "a record was read"
    );
    assert!(stats.tag_hits.load(Relaxed) >= 1);
    assert!(s.hub.methods().iter().any(|m| m == "tagChangedSinceEvent"));
    assert_eq!(
        names(&target.join("odcs-2/compose/Temporary/x86_64/os")),
        ["coreutils-9.4-5.fc40.x86_64", "vim-9.1-1.fc40.x86_64"]
    );
    assert_eq!(r.event, s.hub.model().last_event());

    // the tag changes: listed again, and the new latest build is taken
    s.hub.change(|m| {
        m.untag_build("f40-updates", "bash-5.2.26-2.fc40");
    });
    compose("odcs-3", &["bash"]);
    assert_eq!(listings(), listed + 1);
    assert_eq!(
        names(&target.join("odcs-3/compose/Temporary/x86_64/os")),
        ["bash-5.2.26-3.fc40.x86_64"]
    );

    // a chosen file rewritten in place (same bytes, new identity): read
    // again, not answered by the record of the old file
    let chosen = r
        .rpms
        .iter()
        .find(|x| x.nevra.starts_with("vim-"))
        .unwrap()
        .source_path
        .clone();
    let bytes = std::fs::read(&chosen).unwrap();
    std::fs::write(&chosen, &bytes).unwrap();
    let misses = stats.record_misses.load(Relaxed);
    compose("odcs-4", &["vim"]);
    assert!(stats.record_misses.load(Relaxed) > misses);
    assert_eq!(
        names(&target.join("odcs-4/compose/Temporary/x86_64/os")),
        ["vim-9.1-1.fc40.x86_64"]
    );
}
