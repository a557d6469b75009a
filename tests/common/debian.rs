//! A real distribution's dependency graph for closure tests: Debian
//! bookworm's package index (apt's list on this machine) mapped to RPM
//! semantics, as issue #13 built its corpus.
//!
//! The mapping: version `[epoch:]upstream[-revision]` → epoch, version (a `-`
//! inside upstream becomes `_`, an equal separator for rpmvercmp), release
//! (`0` for native packages); `Depends` and `Pre-Depends` → requires, `a | b`
//! alternatives as the rich `(a or b)`; `Provides` → provides, versioned `=`
//! as given, unversioned ones with the providing package's version (see
//! [`parse`]); `Conflicts` and `Breaks` → conflicts; `Recommends`, `Suggests`,
//! `Enhances` → the weak dependencies of the same names; `<<`/`>>` → `<`/`>`
//! (the obsolete `<`/`>` mean `<=`/`>=`; a `>`/`<=` version without a
//! revision gets `-0`, see [`relation`]); multi-arch qualifiers (`:any`)
//! dropped; arch `amd64` → `x86_64`, `all` → `noarch`.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use odcs::rpm::build::PackageSpec;

/// Debian bookworm main, amd64, as `apt-get update` leaves it.
pub const INDEX: &str =
    "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4";

/// `[epoch:]upstream[-revision]` → (epoch, version, release).
fn split_version(v: &str) -> (Option<u32>, String, Option<String>) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse().ok(), r)
        }
        _ => (None, v),
    };
    let rest = rest.replace(':', "_");
    match rest.rsplit_once('-') {
        Some((up, rev)) => (epoch, up.replace('-', "_"), Some(rev.to_owned())),
        None => (epoch, rest, None),
    }
}

/// A version in a dependency: `[E:]V[-R]`.
fn dep_version(v: &str) -> String {
    let (epoch, version, release) = split_version(v);
    let mut s = String::new();
    if let Some(e) = epoch {
        s.push_str(&format!("{e}:"));
    }
    s.push_str(&version);
    if let Some(r) = release {
        s.push('-');
        s.push_str(&r);
    }
    s
}

/// One Debian relation (`name[:any] [(op version)]`) in rpm's spelling.
fn relation(text: &str) -> Option<String> {
    let text = text.trim();
    let (name, cond) = match text.split_once('(') {
        Some((n, c)) => (n.trim(), Some(c.trim_end_matches(')').trim())),
        None => (text, None),
    };
    let name = name.split(':').next().unwrap_or(name).trim();
    if name.is_empty() {
        return None;
    }
    let Some(cond) = cond else {
        return Some(name.to_owned());
    };
    let op_end = cond
        .find(|c: char| !matches!(c, '<' | '>' | '='))
        .unwrap_or(cond.len());
    let (op, ver) = cond.split_at(op_end);
    let op = match op {
        "<<" => "<",
        ">>" => ">",
        "<=" | "<" => "<=",
        ">=" | ">" => ">=",
        "=" => "=",
        _ => return Some(name.to_owned()),
    };
    let mut ver = dep_version(ver.trim());
    // Debian compares a missing revision as lower than any (`>> 2.36` holds
    // for 2.36-9); rpm leaves the release out of the comparison when one
    // side has none (`> 2.36` fails for 2.36-9): give `>`/`<=` a lowest one
    if matches!(op, ">" | "<=") && !ver.contains('-') {
        ver.push_str("-0");
    }
    Some(format!("{name} {op} {ver}"))
}

/// A `Depends`-style field: comma-separated, `|` alternatives.
fn relations(field: &str) -> Vec<String> {
    field
        .split(',')
        .filter_map(|group| {
            let alts: Vec<String> = group.split('|').filter_map(relation).collect();
            match alts.len() {
                0 => None,
                1 => alts.into_iter().next(),
                _ => Some(format!("({})", alts.join(" or "))),
            }
        })
        .collect()
}

/// The index as package specs (binary packages only, no files).
pub fn parse(text: &str) -> Vec<PackageSpec> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in stanza.lines() {
            if line.starts_with(' ') {
                continue;
            }
            if let Some((k, v)) = line.split_once(": ") {
                fields.insert(k, v);
            }
        }
        let (Some(name), Some(version), Some(arch)) = (
            fields.get("Package"),
            fields.get("Version"),
            fields.get("Architecture"),
        ) else {
            continue;
        };
        let arch = match *arch {
            "amd64" => "x86_64",
            "all" => "noarch",
            _ => continue,
        };
        let (epoch, version, release) = split_version(version);
        let mut s = PackageSpec::parse(&format!("{name}-1-1.{arch}")).expect("a valid name");
        s.epoch = epoch;
        s.version = version;
        s.release = release.unwrap_or_else(|| "0".to_owned());
        let get = |k: &str| fields.get(k).map(|v| relations(v)).unwrap_or_default();
        s.requires = get("Pre-Depends");
        s.requires.extend(get("Depends"));
        // an unversioned Provides never meets a versioned relation in
        // Debian; in rpm it meets every one, which would make versioned
        // Conflicts/Breaks against virtual names (perl-base's
        // `perl-modules (<< 5.36.0~)`) hit every provider: give such provides
        // the providing package's version, as rpm packages write them
        // (`Provides: foo = %{version}-%{release}`)
        let own = match s.epoch {
            Some(e) => format!("{e}:{}-{}", s.version, s.release),
            None => format!("{}-{}", s.version, s.release),
        };
        s.provides = get("Provides")
            .into_iter()
            .map(|p| {
                if p.contains(' ') {
                    p
                } else {
                    format!("{p} = {own}")
                }
            })
            .collect();
        s.conflicts = get("Conflicts");
        s.conflicts.extend(get("Breaks"));
        s.recommends = get("Recommends");
        s.suggests = get("Suggests");
        s.enhances = get("Enhances");
        out.push(s);
    }
    out
}

/// Bookworm's index, read once per test process; a clear failure when the
/// machine has no apt lists.
pub fn bookworm() -> &'static [PackageSpec] {
    static SPECS: OnceLock<Vec<PackageSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        assert!(
            Path::new(INDEX).is_file(),
            "{INDEX} is missing: these tests build their universe from Debian's package \
             index; run `apt-get update` (as root) to fetch it"
        );
        let out = super::run_ok(Command::new(super::tool("lz4")).args(["-dc", INDEX]));
        let specs = parse(&String::from_utf8_lossy(&out.stdout));
        assert!(
            specs.len() > 50_000,
            "{INDEX} gave only {} packages",
            specs.len()
        );
        specs
    })
}

/// The names a set of packages can reach: every provider of every name in
/// their requirements (all alternatives), transitively. A solve from these
/// roots never leaves this set.
pub fn reachable<'a>(specs: &'a [PackageSpec], roots: &[&str]) -> Vec<&'a PackageSpec> {
    let mut providers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        providers.entry(s.name.as_str()).or_default().push(i);
        for p in &s.provides {
            let n = p.split_whitespace().next().unwrap_or(p);
            providers.entry(n).or_default().push(i);
        }
    }
    let mut seen: HashSet<usize> = HashSet::new();
    let mut queue: VecDeque<usize> = roots
        .iter()
        .flat_map(|r| providers.get(r).cloned().unwrap_or_default())
        .collect();
    while let Some(i) = queue.pop_front() {
        if !seen.insert(i) {
            continue;
        }
        for r in &specs[i].requires {
            for word in r.split([' ', '(', ')']) {
                if let Some(ps) = providers.get(word) {
                    queue.extend(ps.iter().copied());
                }
            }
        }
    }
    let order: BTreeSet<usize> = seen.into_iter().collect();
    order.into_iter().map(|i| &specs[i]).collect()
}
