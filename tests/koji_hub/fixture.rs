//! The standard hub the Koji tests run against: a small Fedora-like tag tree
//! whose history exercises every rule of "latest", blocks and events.
//!
//! ```text
//! f40                      bash -1, -3; coreutils -5 (re-tagged after -6), -6;
//!  │                       glibc (volume "archive"); oldpkg; vim (tagged last);
//!  │                       zlib (tagged, later untagged); broken (FAILED)
//!  └─ f40-updates          bash -2 (older than f40's -3, but nearer); blocks oldpkg
//!      └─ f40-updates-candidate   own builds: none
//!         └─ f40-extras (priority 10, maxdepth 0, pkg_filter ^extra-)
//!                          extra-tool; ignored (listed, but filtered by the link)
//! ```
//! Signed copies: bash-5.2.26-2.fc40 and glibc-2.39-2.fc40 with key
//! `a15b79cc` (the glibc one on its volume), bash-5.2.26-3.fc40 with `deadbeef`;
//! coreutils and vim have unsigned files only.

use std::path::Path;

use super::model::{BUILD_FAILED, HubModel, LinkOpts};

pub const SIGKEY: &str = "a15b79cc";

/// Events the tests pin queries to.
#[derive(Clone, Copy, Debug)]
pub struct Events {
    /// coreutils-9.4-6 has just been tagged (so it is the latest then).
    pub coreutils_6_tagged: i64,
    /// zlib was tagged at this event …
    pub zlib_tagged: i64,
    /// … and untagged at this one.
    pub zlib_untagged: i64,
    /// The last event before vim was tagged.
    pub before_vim: i64,
    pub vim_tagged: i64,
}

pub struct Fixture {
    pub model: HubModel,
    pub events: Events,
}

/// Build the standard hub's data, writing its RPMs under `topdir`.
pub fn standard(topdir: &Path) -> Fixture {
    let mut m = HubModel::new(topdir);
    m.add_tag("f40", Some("x86_64 i686"));
    m.add_tag("f40-updates", Some("x86_64 i686"));
    m.add_tag("f40-updates-candidate", None);
    m.add_tag("f40-extras", None);
    m.add_inheritance("f40-updates", "f40", LinkOpts::default());
    m.add_inheritance("f40-updates-candidate", "f40-updates", LinkOpts::default());
    m.add_inheritance(
        "f40-updates-candidate",
        "f40-extras",
        LinkOpts {
            priority: 10,
            maxdepth: Some(0),
            pkg_filter: "extra-".to_owned(),
            ..LinkOpts::default()
        },
    );

    for p in [
        "bash",
        "coreutils",
        "glibc",
        "zlib",
        "vim",
        "oldpkg",
        "broken",
    ] {
        m.add_package("f40", p);
    }
    m.block_package("f40-updates", "oldpkg");
    m.add_package("f40-extras", "extra-tool");
    m.add_package("f40-extras", "ignored");

    for r in ["1", "2", "3"] {
        m.import_build(
            &format!("bash-5.2.26-{r}.fc40"),
            &["bash.x86_64", "bash.i686", "bash-doc.noarch"],
            None,
        );
    }
    m.import_build("coreutils-9.4-5.fc40", &["coreutils.x86_64"], None);
    m.import_build("coreutils-9.4-6.fc40", &["coreutils.x86_64"], None);
    m.import_build(
        "glibc-2.39-2.fc40",
        &["glibc.x86_64", "glibc.i686"],
        Some("archive"),
    );
    m.import_build("zlib-1.3-1.fc40", &["zlib.x86_64"], None);
    m.import_build("vim-9.1-1.fc40", &["vim.x86_64"], None);
    m.import_build("oldpkg-1.0-1.fc40", &["oldpkg.noarch"], None);
    let broken = m.import_build("broken-1.0-1.fc40", &["broken.x86_64"], None);
    m.set_build_state(broken, BUILD_FAILED);
    m.import_build("extra-tool-1.0-1.fc40", &["extra-tool.noarch"], None);
    m.import_build("ignored-1.0-1.fc40", &["ignored.noarch"], None);

    m.sign_build(m.build_id("bash-5.2.26-2.fc40"), &SIGKEY.to_uppercase());
    m.sign_build(m.build_id("glibc-2.39-2.fc40"), SIGKEY);
    m.sign_build(m.build_id("bash-5.2.26-3.fc40"), "deadbeef");

    m.tag_build("f40", "bash-5.2.26-1.fc40");
    m.tag_build("f40", "bash-5.2.26-3.fc40");
    m.tag_build("f40-updates", "bash-5.2.26-2.fc40");
    m.tag_build("f40", "coreutils-9.4-5.fc40");
    let coreutils_6_tagged = m.tag_build("f40", "coreutils-9.4-6.fc40");
    m.untag_build("f40", "coreutils-9.4-5.fc40");
    m.tag_build("f40", "coreutils-9.4-5.fc40");
    m.tag_build("f40", "glibc-2.39-2.fc40");
    let zlib_tagged = m.tag_build("f40", "zlib-1.3-1.fc40");
    m.tag_build("f40", "oldpkg-1.0-1.fc40");
    m.tag_build("f40", "broken-1.0-1.fc40");
    let zlib_untagged = m.untag_build("f40", "zlib-1.3-1.fc40");
    m.tag_build("f40-extras", "extra-tool-1.0-1.fc40");
    m.tag_build("f40-extras", "ignored-1.0-1.fc40");
    let before_vim = m.last_event();
    let vim_tagged = m.tag_build("f40", "vim-9.1-1.fc40");

    Fixture {
        model: m,
        events: Events {
            coreutils_6_tagged,
            zlib_tagged,
            zlib_untagged,
            before_vim,
            vim_tagged,
        },
    }
}
