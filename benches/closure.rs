//! Closure benchmark: our gather against libsolv's `testsolv` on the same
//! 20,000-package universe, side by side in one run, with ratios.
//!
//!     cargo bench --bench closure
//!
//! Ours is timed for indexing the universe and computing the closure (in
//! process); testsolv's time is the whole process (reading the testcase text,
//! building its pool, solving), since that is the only way to run it. Both are
//! given the same roots, and the sets are checked equal before timing.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use odcs::gather::{ArchSet, GatherOptions, Pool, gather};
use odcs::rpm::PackageMeta;

fn dep(d: &odcs::rpm::Dependency) -> String {
    if d.is_rich() {
        return d
            .name
            .split(' ')
            .map(|w| match w {
                "or" => "|",
                "if" => "<IF>",
                "with" => "+",
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n = 20_000;
    let metas: Vec<PackageMeta> = odcs::rpm::corpus::corpus(n, 11)
        .iter()
        .map(|s| s.to_meta().expect("valid spec"))
        .collect();
    let apps: Vec<&str> = metas
        .iter()
        .filter(|m| m.files.iter().any(|f| f.path.starts_with("/usr/bin/")))
        .map(|m| m.name.as_str())
        .collect();
    let dir = std::env::temp_dir().join(format!("odcs-bench-closure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    println!("closure of N roots in a {n}-package universe (median of 5 runs)");
    println!(
        "| roots | packages | odcs gather (index + closure) | testsolv (whole run) | odcs / testsolv |"
    );
    println!("|---|---|---|---|---|");
    for roots_n in [1usize, 100, 1000] {
        let roots: Vec<&str> = apps
            .iter()
            .step_by((apps.len() / roots_n).max(1))
            .take(roots_n)
            .copied()
            .collect();
        let mut t =
            String::from("repo system 0 testtags <inline>\nrepo test 0 testtags <inline>\n");
        for m in &metas {
            let _ = writeln!(
                t,
                "#>=Pkg: {} {} {} {}",
                m.name,
                m.epoch
                    .filter(|&e| e != 0)
                    .map(|e| format!("{e}:{}", m.version))
                    .unwrap_or(m.version.clone()),
                m.release,
                m.arch
            );
            for p in &m.provides {
                let _ = writeln!(t, "#>=Prv: {}", dep(p));
            }
            for f in &m.files {
                let _ = writeln!(t, "#>=Prv: {}", f.path);
            }
            for r in &m.requires {
                let _ = writeln!(t, "#>=Req: {}", dep(r));
            }
        }
        t.push_str("system x86_64 rpm system\nsolverflags ignorerecommended\n");
        for r in &roots {
            let _ = writeln!(t, "job install name {r}");
        }
        t.push_str("result transaction,problems <inline>\n");
        let case = dir.join("case.t");
        std::fs::write(&case, t).expect("write testcase");

        let mut ours = Vec::new();
        let mut size = 0;
        let mut our_set = BTreeSet::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let refs: Vec<&PackageMeta> = metas.iter().collect();
            let pool = Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false));
            let ids: Vec<usize> = roots.iter().map(|r| pool.named(r)[0]).collect();
            let g = gather(
                &pool,
                &ids,
                &GatherOptions {
                    deps: true,
                    ..Default::default()
                },
            );
            ours.push(t0.elapsed());
            size = g.chosen.len();
            our_set = g.chosen.iter().map(|&i| pool.package(i).nevra()).collect();
        }
        let mut theirs = Vec::new();
        let mut their_set = BTreeSet::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let out = Command::new("testsolv")
                .arg("-r")
                .arg(&case)
                .output()
                .expect("testsolv (apt-get install libsolv-tools)");
            theirs.push(t0.elapsed());
            their_set = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("install "))
                .map(|l| l.trim_end_matches("@test").to_owned())
                .collect();
        }
        assert_eq!(our_set, their_set, "closures differ for {roots_n} roots");
        let (o, s) = (median(ours), median(theirs));
        println!(
            "| {roots_n} | {size} | {:.1} ms | {:.1} ms | {:.3} |",
            o.as_secs_f64() * 1e3,
            s.as_secs_f64() * 1e3,
            o.as_secs_f64() / s.as_secs_f64()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
