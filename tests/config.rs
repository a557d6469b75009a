//! Configuration as `odcs` reads it (issue #12 §7): secrets never printed,
//! environment variables that are not configuration keys ignored with a
//! warning, and extra target directories a request may name.

mod common;

use common::server::Server;
use serde_json::json;

/// The database password appears nowhere in what `odcs serve` prints: not
/// in the start banner, not in the error when the database cannot be reached.
#[test]
fn the_database_password_is_never_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = common::run(
        common::odcs()
            .args([
                "serve",
                "--log",
                "info",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--data-dir")
            .arg(tmp.path())
            // nothing listens on port 1: the connection fails at once
            .env(
                "ODCS_DATABASE_URL",
                "postgres://odcs:s3cret-pw@127.0.0.1:1/odcs",
            ),
    );
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        !text.contains("s3cret-pw"),
        "the password was printed:\n{text}"
    );
    assert!(
        text.contains("postgres://odcs:***@127.0.0.1:1/odcs"),
        "the URL is named, redacted:\n{text}"
    );
}

/// `ODCS_TEST_POSTGRES_URL` (tests/store.rs reads it) and other `ODCS_*`
/// variables of other programs used to abort `odcs` as unknown keys; they
/// are ignored with a warning naming them. An unknown key in a config file
/// is still an error.
#[test]
fn unknown_environment_variables_are_ignored_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run(
        common::odcs()
            .args(["migrate", "--data-dir"])
            .arg(tmp.path())
            .env("ODCS_TEST_POSTGRES_URL", "postgres://x@127.0.0.1/db")
            .env("ODCS_WORKERS", "2"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "environment variable ODCS_TEST_POSTGRES_URL is not a configuration key: ignored"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("ODCS_WORKERS"), "{stderr}");

    let file = tmp.path().join("odcs.toml");
    std::fs::write(&file, "wokers = 2\n").unwrap();
    let out = common::run(common::odcs().args(["migrate", "--config"]).arg(&file));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown field `wokers`"), "{stderr}");
}

/// A request naming an extra target directory of the configuration is
/// written there and its URLs point at that directory's URL; the default
/// directory holds nothing of it.
#[test]
fn a_compose_goes_to_the_extra_target_directory_it_names() {
    let extra = tempfile::tempdir().unwrap();
    let extra_path = extra.path().to_owned();
    let (s, apps) = Server::start_with(
        false,
        move |cfg| {
            cfg.extra_target_dirs.insert(
                "private".into(),
                odcs::config::ExtraTargetDir {
                    dir: extra_path,
                    url: Some("https://odcs.example.com/private/".into()),
                },
            );
        },
        None,
    );
    let body = json!({"source": {"type": "tag", "source": "updates", "packages": [apps[0]]},
                      "target_dir": "private"});
    let (status, c) = s.post("/api/1/composes/", &body);
    assert_eq!(status, 200, "{c}");
    let id = c["id"].as_i64().unwrap();
    let done = s.wait_for(id, &["done", "failed"]);
    assert_eq!(done["state_name"], "done", "{done}");
    assert_eq!(done["target_dir"], "private");
    assert_eq!(
        done["result_repofile"],
        format!("https://odcs.example.com/private/odcs-{id}/compose/Temporary/odcs-{id}.repo")
    );
    let tree = extra.path().join(format!("odcs-{id}"));
    let repo =
        std::fs::read_to_string(tree.join(format!("compose/Temporary/odcs-{id}.repo"))).unwrap();
    assert!(
        repo.contains(&format!(
            "baseurl=https://odcs.example.com/private/odcs-{id}/"
        )),
        "{repo}"
    );
    assert!(!s.data.join(format!("composes/odcs-{id}")).exists());
    // an equal request for the default directory is not answered by it
    let body = json!({"source": {"type": "tag", "source": "updates", "packages": [apps[0]]}});
    let (_, other) = s.post("/api/1/composes/", &body);
    let other = s.wait_for(other["id"].as_i64().unwrap(), &["done", "failed"]);
    assert_eq!(other["target_dir"], "default");
    assert_ne!(other["result_repofile"], done["result_repofile"]);
}

/// The systemd units of `contrib/` (#19): `systemd-analyze verify` finds
/// nothing wrong with them (unknown keys, bad values and a command that is
/// not there are what it reports), with the binary where they expect it
/// replaced by the one built here.
#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    let analyze = common::daemons::find_tool("systemd-analyze").unwrap_or_else(|| {
        panic!("systemd-analyze is not installed: scripts/test installs Debian's systemd")
    });
    let dir = tempfile::tempdir().unwrap();
    let binary = env!("CARGO_BIN_EXE_odcs");
    for (unit, as_name) in [
        ("odcs.service", "odcs.service"),
        ("odcs-worker@.service", "odcs-worker@4.service"),
    ] {
        let text =
            std::fs::read_to_string(common::manifest_dir().join("contrib").join(unit)).unwrap();
        assert!(text.contains("ExecStart=/usr/bin/odcs "), "{unit}");
        std::fs::write(
            dir.path().join(as_name),
            text.replace("/usr/bin/odcs", binary),
        )
        .unwrap();
    }
    let out = common::run(
        std::process::Command::new(analyze)
            .current_dir(dir.path())
            .args(["verify", "./odcs.service", "./odcs-worker@4.service"]),
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    // the hardening the issue asks for
    let unit =
        std::fs::read_to_string(common::manifest_dir().join("contrib/odcs.service")).unwrap();
    for key in [
        "User=odcs",
        "ProtectSystem=strict",
        "ReadWritePaths=",
        "ExecStartPre=/usr/bin/odcs migrate",
    ] {
        assert!(unit.contains(key), "{key}");
    }
}
