//! A synthetic package universe with a realistic shape, for benchmarks, demos and
//! closure tests: shared libraries with soname provides, applications requiring
//! them (and each other, with versions), noarch data packages, virtual provides
//! with several providers, file requires, weak and rich dependencies, config
//! files, changelogs, and payloads from a few KiB to a few hundred.
//!
//! Deterministic for a given seed; every requirement has a provider in the corpus.

use super::build::PackageSpec;

/// splitmix64: small, fast, and good enough to shape a corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const SYLLABLES: &[&str] = &[
    "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fu", "gal", "hin", "jor", "ver", "tex",
    "zen", "qua", "byt", "cor", "dex", "el", "fin", "gr", "hub", "io", "jet", "kit", "lex", "mod",
    "net",
];

fn word(rng: &mut Rng) -> String {
    (0..2 + rng.below(2))
        .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
        .collect()
}

fn payload(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lib,
    App,
    Data,
}

/// `count` package declarations (binary packages: x86_64 and noarch).
pub fn corpus(count: usize, seed: u64) -> Vec<PackageSpec> {
    let mut rng = Rng(seed);
    let kinds: Vec<Kind> = (0..count)
        .map(|i| match i % 10 {
            0..=2 => Kind::Lib,
            3..=7 => Kind::App,
            _ => Kind::Data,
        })
        .collect();
    let names: Vec<String> = (0..count)
        .map(|i| match kinds[i] {
            Kind::Lib => format!("lib{}{i}", word(&mut rng)),
            Kind::App => format!("{}{i}", word(&mut rng)),
            Kind::Data => format!("{}{i}-data", word(&mut rng)),
        })
        .collect();
    let versions: Vec<(u32, u32)> = (0..count)
        .map(|_| (1 + rng.below(9) as u32, rng.below(30) as u32))
        .collect();
    let virtuals = [
        "webserver",
        "mta",
        "java-runtime",
        "sql-server",
        "editor",
        "pager",
    ];

    let libs: Vec<usize> = (0..count).filter(|&i| kinds[i] == Kind::Lib).collect();
    let apps: Vec<usize> = (0..count).filter(|&i| kinds[i] == Kind::App).collect();
    let datas: Vec<usize> = (0..count).filter(|&i| kinds[i] == Kind::Data).collect();
    let soname = |i: usize| format!("{}.so.{}()(64bit)", names[i], versions[i].0);

    let base = [
        PackageSpec::parse("glibc-2.39-1.fc40.x86_64")
            .expect("static NEVRA")
            .provides("libc.so.6()(64bit)")
            .provides("libc.so.6(GLIBC_2.34)(64bit)")
            .file("/usr/lib64/libc.so.6", payload(&mut rng, 4096)),
        PackageSpec::parse("bash-5.2.26-3.fc40.x86_64")
            .expect("static NEVRA")
            .requires("libc.so.6()(64bit)")
            .file("/usr/bin/bash", payload(&mut rng, 4096))
            .file("/bin/sh", b"bash".to_vec()),
    ];
    let first_apps: Vec<usize> = apps.iter().copied().take(virtuals.len()).collect();

    let generated: Vec<PackageSpec> = (0..count.saturating_sub(base.len()))
        .map(|i| {
            let (major, minor) = versions[i];
            let arch = if kinds[i] == Kind::Data { "noarch" } else { "x86_64" };
            let epoch = if rng.chance(5) { format!("{}:", 1 + rng.below(3)) } else { String::new() };
            let nevra = format!("{}-{epoch}{major}.{minor}-{}.fc40.{arch}", names[i], 1 + rng.below(5));
            let mut s = PackageSpec::parse(&nevra).expect("generated NEVRA is valid");
            s.summary = format!("{} {}", names[i], ["library", "tool", "data files"][kinds[i] as usize]);
            s.description = format!(
                "The {} package provides {}.\nIt is part of a generated package universe used to benchmark ODCS.",
                names[i],
                word(&mut rng)
            );
            s.url = Some(format!("https://example.org/{}", names[i]));
            s.build_time = 1_700_000_000 + rng.below(10_000_000) as u32;
            let name = names[i].clone();
            // files: log-uniform total size from 2 KiB to ~256 KiB
            let total = 2048usize << rng.below(8);
            let nfiles = 3 + rng.below(40);
            let per = total / nfiles;
            match kinds[i] {
                Kind::Lib => {
                    s = s.provides(&soname(i)).file(&format!("/usr/lib64/{name}.so.{major}"), payload(&mut rng, per));
                    s = s.dir(&format!("/usr/share/doc/{name}"));
                    for f in 1..nfiles {
                        s = s.file(&format!("/usr/share/doc/{name}/NOTE{f}"), payload(&mut rng, per));
                    }
                    // libraries link against earlier libraries
                    for _ in 0..rng.below(3) {
                        let dep = libs[rng.below(libs.len())];
                        if dep < i {
                            s = s.requires(&soname(dep));
                        }
                    }
                    s = s.requires("libc.so.6(GLIBC_2.34)(64bit)").requires("libc.so.6()(64bit)");
                }
                Kind::App => {
                    s = s.file(&format!("/usr/bin/{name}"), payload(&mut rng, per));
                    s = s.dir(&format!("/etc/{name}")).file(&format!("/etc/{name}/{name}.conf"), b"# config\n".to_vec());
                    s = s.ghost(&format!("/var/log/{name}.log"));
                    for f in 3..nfiles {
                        s = s.file(&format!("/usr/share/{name}/file{f}.dat"), payload(&mut rng, per));
                    }
                    for _ in 0..1 + rng.below(6) {
                        s = s.requires(&soname(libs[rng.below(libs.len())]));
                    }
                    if rng.chance(30) {
                        let d = datas[rng.below(datas.len())];
                        s = s.requires(&format!("{} >= {}.{}", names[d], versions[d].0, versions[d].1));
                    }
                    if rng.chance(20) {
                        let a = apps[rng.below(apps.len())];
                        if a != i {
                            s = s.requires(&names[a]);
                        }
                    }
                    if rng.chance(25) {
                        s = s.requires("/bin/sh");
                    }
                    if let Some(v) = first_apps.iter().position(|&a| a == i) {
                        s = s.provides(virtuals[v]);
                    } else if rng.chance(8) {
                        s = s.provides(virtuals[rng.below(virtuals.len())]);
                    }
                    if rng.chance(5) {
                        s = s.requires(virtuals[rng.below(virtuals.len())]);
                    }
                    if rng.chance(10) {
                        s = s.recommends(&names[datas[rng.below(datas.len())]]);
                    }
                    if rng.chance(3) {
                        let (a, b) = (apps[rng.below(apps.len())], apps[rng.below(apps.len())]);
                        s = s.requires(&format!("({} or {})", names[a], names[b]));
                    }
                    if rng.chance(3) {
                        s = s.conflicts(&format!("{} < 1.0", names[apps[rng.below(apps.len())]]));
                        s = s.obsoletes(&format!("{}-legacy < {major}.{minor}", name));
                    }
                }
                Kind::Data => {
                    s = s.dir(&format!("/usr/share/{name}"));
                    for f in 1..nfiles {
                        s = s.file(&format!("/usr/share/{name}/part{f}.bin"), payload(&mut rng, per));
                    }
                }
            }
            for c in 0..1 + rng.below(12) {
                let t = s.build_time - (c as u32 + 1) * 86_400 * (1 + rng.below(30) as u32);
                s = s.changelog(
                    &format!("Packager {} <p{}@example.org> - {major}.{minor}-{}", c, c, c + 1),
                    &format!("- change number {c} to {name}"),
                    t,
                );
            }
            s
        })
        .collect();
    base.into_iter().take(count).chain(generated).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_every_soname_required_is_provided() {
        let a = corpus(200, 7);
        let b = corpus(200, 7);
        assert_eq!(
            a.iter().map(|s| s.nevra()).collect::<Vec<_>>(),
            b.iter().map(|s| s.nevra()).collect::<Vec<_>>()
        );
        let provided: std::collections::HashSet<&str> = a
            .iter()
            .flat_map(|s| s.provides.iter().map(String::as_str))
            .collect();
        for s in &a {
            for r in s
                .requires
                .iter()
                .filter(|r| !r.starts_with('(') && !r.contains(' '))
            {
                let by_name = a.iter().any(|p| &p.name == r);
                let by_file = a.iter().any(|p| p.files.iter().any(|(f, _)| f == r));
                assert!(
                    provided.contains(r.as_str()) || by_name || by_file,
                    "{} requires {r}, which nothing provides",
                    s.nevra()
                );
            }
        }
    }
}
