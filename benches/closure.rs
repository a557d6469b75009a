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
use std::process::Command;
use std::time::{Duration, Instant};

use odcs::gather::{ArchSet, GatherOptions, Pool, gather};
use odcs::rpm::PackageMeta;

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
        let case = dir.join("case.t");
        std::fs::write(&case, odcs::gather::testsolv::testcase(&metas, &roots))
            .expect("write testcase");

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
            their_set = odcs::gather::testsolv::installed(&String::from_utf8_lossy(&out.stdout));
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
