//! A universe as a libsolv testcase (`testsolv`'s input), so tests and
//! benchmarks can ask libsolv's own tool for its answer on exactly our data:
//! rpm semantics, dnf's pool flag for multilib, every dependency list (weak
//! ones order libsolv's choices even when they are not installed), weak
//! dependencies not installed (`ignorerecommended`, dnf's
//! `install_weak_deps=False`), file provides written out, rich operators in
//! the testcase spelling.

use std::fmt::Write as _;

use crate::rpm::{Dependency, PackageMeta};

/// libsolv's testcase spelling of a dependency: rich operators are written `&`,
/// `|`, `<IF>`, `<UNLESS>`, `<ELSE>`, `+` (with), `-` (without).
fn dep(d: &Dependency) -> String {
    if d.is_rich() {
        return d
            .name
            .split(' ')
            .map(|w| match w {
                "and" => "&",
                "or" => "|",
                "if" => "<IF>",
                "unless" => "<UNLESS>",
                "else" => "<ELSE>",
                "with" => "+",
                "without" => "-",
                w => w,
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    match d.flags_word() {
        None => d.name.clone(),
        Some(w) => {
            let op = match w {
                "LT" => "<",
                "LE" => "<=",
                "EQ" => "=",
                "GE" => ">=",
                _ => ">",
            };
            format!("{} {op} {}", d.name, d.version)
        }
    }
}

/// The testcase installing `roots` (by name) from `metas` on an empty x86_64
/// rpm system.
pub fn testcase(metas: &[PackageMeta], roots: &[&str]) -> String {
    let mut t = String::from("repo system 0 testtags <inline>\nrepo test 0 testtags <inline>\n");
    for m in metas {
        let version = match m.epoch {
            Some(e) if e != 0 => format!("{e}:{}", m.version),
            _ => m.version.clone(),
        };
        let _ = writeln!(t, "#>=Pkg: {} {version} {} {}", m.name, m.release, m.arch);
        for p in &m.provides {
            let _ = writeln!(t, "#>=Prv: {}", dep(p));
        }
        for f in m.files.iter() {
            let _ = writeln!(t, "#>=Prv: {}", f.path);
        }
        for (tag, list) in [
            ("Req", &m.requires),
            ("Con", &m.conflicts),
            ("Obs", &m.obsoletes),
            ("Rec", &m.recommends),
            ("Sug", &m.suggests),
            ("Sup", &m.supplements),
            ("Enh", &m.enhances),
        ] {
            for d in list {
                let _ = writeln!(t, "#>={tag}: {}", dep(d));
            }
        }
    }
    t.push_str(
        "system x86_64 rpm system\npoolflags implicitobsoleteusescolors\nsolverflags ignorerecommended\n",
    );
    for r in roots {
        let _ = writeln!(t, "job install name {r}");
    }
    t.push_str("result transaction,problems <inline>\n");
    t
}

/// The packages `testsolv -r` says it installs (`name-evr.arch`).
pub fn installed(output: &str) -> std::collections::BTreeSet<String> {
    output
        .lines()
        .filter_map(|l| l.trim_start_matches("#>").strip_prefix("install "))
        .map(|l| l.trim_end_matches("@test").to_owned())
        .collect()
}
