//! Closure benchmark: libsolv through our FFI against libsolv's own
//! `testsolv` on the same generated universes (20,000 and 97,000 packages),
//! side by side in one run, with ratios.
//!
//!     cargo bench --bench closure
//!
//! Ours is timed in three parts, as a compose pays them: building the
//! libsolv pool from our records (once per package set: a cold compose),
//! taking it from the pool cache (hashing the package set's identities and
//! indexing names: every warm compose), and solving the roots (`gather`).
//! testsolv's time is the whole process (reading the testcase text, building
//! its pool, solving), since that is the only way to run it. Both get the
//! same roots, and the sets are checked equal before timing.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use odcs::gather::{ArchSet, GatherOptions, Pool, PoolCache, gather};
use odcs::rpm::PackageMeta;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

const RUNS: usize = 5;

/// The process's resident memory (Linux), to see what a kept pool costs.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// What one pool of `n` generated packages holds in memory (the cache keeps a
/// few): measured in a child process of this benchmark, where nothing freed
/// before could be reused by it.
fn pool_memory(n: usize) -> f64 {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("ODCS_BENCH_POOL_MEMORY", n.to_string())
        .output()
        .expect("run the benchmark again");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn main() {
    if let Some(n) = std::env::var("ODCS_BENCH_POOL_MEMORY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        // the specs stay alive: their memory is not free for the pool to reuse
        let specs = odcs::rpm::corpus::corpus(n, 11);
        let metas: Vec<PackageMeta> = specs
            .iter()
            .map(|s| s.to_meta().expect("valid spec"))
            .collect();
        let refs: Vec<&PackageMeta> = metas.iter().collect();
        let before = rss_mib();
        let pool =
            Pool::new(&refs, &[], &ArchSet::new("x86_64", false, false), None).expect("pool");
        println!("{:.0}", rss_mib() - before);
        drop((pool, specs));
        return;
    }
    let dir = std::env::temp_dir().join(format!("odcs-bench-closure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let arches = ArchSet::new("x86_64", false, false);
    for n in [20_000usize, 97_000] {
        let metas: Vec<PackageMeta> = odcs::rpm::corpus::corpus(n, 11)
            .iter()
            .map(|s| s.to_meta().expect("valid spec"))
            .collect();
        let refs: Vec<&PackageMeta> = metas.iter().collect();
        let apps: Vec<&str> = metas
            .iter()
            .filter(|m| m.files.iter().any(|f| f.path.starts_with("/usr/bin/")))
            .map(|m| m.name.as_str())
            .collect();

        let pool_mib = pool_memory(n);
        // the pool: built (cold), and taken from the cache (warm)
        let mut builds = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let pool = Pool::new(&refs, &[], &arches, None).expect("pool");
            builds.push(t.elapsed());
            drop(pool);
        }
        let cache = PoolCache::new(2);
        Pool::new(&refs, &[], &arches, Some(&cache)).expect("pool");
        let mut warm = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let pool = Pool::new(&refs, &[], &arches, Some(&cache)).expect("pool");
            warm.push(t.elapsed());
            assert!(pool.stats().reused);
        }
        let pool = Pool::new(&refs, &[], &arches, Some(&cache)).expect("pool");
        println!(
            "\n{n} generated packages: libsolv pool built in {} (cold compose), taken from the cache in {} (warm compose); median of {RUNS}; one pool about {pool_mib:.0} MiB resident",
            ms(median(builds)),
            ms(median(warm))
        );
        println!(
            "| roots | packages in the closure | odcs solve | testsolv (whole run) | odcs solve / testsolv | odcs cold (build + solve) / testsolv |"
        );
        println!("|---|---|---|---|---|---|");
        let build = median(
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    drop(Pool::new(&refs, &[], &arches, None).expect("pool"));
                    t.elapsed()
                })
                .collect(),
        );
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
            let ids: Vec<usize> = roots.iter().map(|r| pool.named(r)[0]).collect();
            let opts = GatherOptions {
                deps: true,
                ..Default::default()
            };
            let mut ours = Vec::new();
            let mut our_set = BTreeSet::new();
            for _ in 0..RUNS {
                let t0 = Instant::now();
                let g = gather(&pool, &ids, &opts);
                ours.push(t0.elapsed());
                assert!(g.unsolvable.is_empty() && g.solved_alone.is_empty());
                our_set = g.chosen.iter().map(|&i| pool.package(i).nevra()).collect();
            }
            let mut theirs = Vec::new();
            let mut their_set = BTreeSet::new();
            for _ in 0..RUNS {
                let t0 = Instant::now();
                let out = Command::new("testsolv")
                    .arg("-r")
                    .arg(&case)
                    .output()
                    .expect("testsolv (apt-get install libsolv-tools)");
                theirs.push(t0.elapsed());
                their_set =
                    odcs::gather::testsolv::installed(&String::from_utf8_lossy(&out.stdout));
            }
            assert_eq!(our_set, their_set, "closures differ for {roots_n} roots");
            let (o, s) = (median(ours), median(theirs));
            println!(
                "| {roots_n} | {} | {} | {} | {:.3} | {:.3} |",
                our_set.len(),
                ms(o),
                ms(s),
                o.as_secs_f64() / s.as_secs_f64(),
                (build + o).as_secs_f64() / s.as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
