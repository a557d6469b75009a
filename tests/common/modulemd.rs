//! What libmodulemd itself (Debian's gir1.2-modulemd-2.0 through
//! python3-gi) reads from the modules.yaml of a repository we wrote.

use std::path::Path;
use std::process::Command;

/// The modules.yaml of a repository, decompressed.
pub fn modules_yaml(repo: &Path) -> String {
    let repomd = std::fs::read_to_string(repo.join("repodata/repomd.xml")).unwrap();
    let href = repomd
        .split("<data type=\"modules\">")
        .nth(1)
        .and_then(|d| d.split("<location href=\"").nth(1))
        .and_then(|l| l.split('"').next())
        .unwrap_or_else(|| panic!("no modules record in {repomd}"));
    let out = super::run_ok(
        Command::new(super::tool("zstd"))
            .args(["-dc"])
            .arg(repo.join(href)),
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What libmodulemd (Debian's gir1.2-modulemd-2.0, strict) reads: one line
/// per stream, `NSVCA profiles artifacts`, and the failures.
pub fn libmodulemd(yaml: &str) -> String {
    let script = r#"
import sys, gi
gi.require_version("Modulemd", "2.0")
from gi.repository import Modulemd
idx = Modulemd.ModuleIndex.new()
ok, failures = idx.update_from_string(sys.stdin.read(), True)
for f in failures:
    print("FAILURE", f.get_gerror().message)
for name in sorted(idx.get_module_names()):
    d = idx.get_module(name).get_defaults()
    if d is not None:
        print("DEFAULT", name, d.get_default_stream())
    for s in idx.get_module(name).get_all_streams():
        print(s.get_NSVCA(), ",".join(s.get_profile_names()), ",".join(sorted(s.get_rpm_artifacts())))
"#;
    let python = Path::new("/usr/bin/python3");
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "libmodulemd could not run (scripts/test installs gir1.2-modulemd-2.0 and python3-gi): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
