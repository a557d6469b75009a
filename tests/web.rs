//! The web pages in a real browser (#19): Debian's chromium, driven
//! headless by Playwright for Python (scripts/test installs both), through
//! tests/web_browser.py: the pages, the filter form, escaping, the `.repo`
//! link, the package search, phone width, and the Renew and Delete buttons.
//! Screenshots of the three pages, at desktop and phone width, are kept in
//! `target/web-screenshots/`.

mod common;

use std::process::Command;

use common::server::{Server, runtime};
use serde_json::json;

#[test]
fn the_pages_work_in_chromium() {
    let (s, apps) = Server::start(false);
    // a compose whose page is opened while it may still be generating
    let (code, done) = s.post(
        "/api/1/composes/",
        &json!({"source": {"type": "tag", "source": "base", "packages": [apps[0], apps[1]]}}),
    );
    assert_eq!(code, 200, "{done}");
    let done_id = done["id"].as_i64().unwrap();
    // a failed compose with markup in its label and reason, stored past the
    // API's input check (as data from elsewhere could be)
    let rt = runtime();
    let store = rt
        .block_on(odcs::store::Store::connect(&format!(
            "sqlite://{}",
            s.data.join("odcs.db").display()
        )))
        .unwrap();
    let hostile = "<script>alert(1)</script>";
    let mut c = odcs::store::NewCompose::new("mallory", 1, "base");
    c.arches = "x86_64".into();
    c.label = Some(hostile.into());
    let failed = rt.block_on(store.insert_compose(&c)).unwrap().id;
    rt.block_on(store.mark_failed(failed, "Error: <img src=x onerror=alert(2)>"))
        .unwrap();

    let shots = common::manifest_dir().join("target/web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("python3")
        .arg(common::manifest_dir().join("tests/web_browser.py"))
        .arg(s.url.trim_end_matches('/'))
        .arg(done_id.to_string())
        .arg(failed.to_string())
        .arg(hostile)
        .arg(&shots)
        .output()
        .expect("python3 tests/web_browser.py");
    assert!(
        out.status.success(),
        "the browser test failed (scripts/test installs chromium and playwright):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // the page's Delete button removed it, as the API's DELETE does
    let removed = s.wait_for(done_id, &["removed"]);
    assert_eq!(removed["removed_by"], "anonymous", "{removed}");
    for name in [
        "home",
        "composes",
        "compose",
        "home-phone",
        "composes-phone",
        "compose-phone",
    ] {
        let png = shots.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is a screenshot",
            png.display()
        );
    }
}
