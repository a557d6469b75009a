//! The header cache: a warm run opens no RPM, hardlinked copies hit, a changed
//! file misses, and the output is the same as a cold run's.

mod common;

use std::fs::{File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::Path;

use odcs::compose::NoProgress;
use odcs::compose::createrepo::{
    CacheDir, Caches, CreaterepoOptions, CreaterepoReport, createrepo,
};
use odcs::repodata::read::read_repo;

fn corpus(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for s in odcs::rpm::corpus::corpus(n, 9) {
        s.write_to(dir).unwrap();
    }
}

/// The first RPM directly in `dir`, by name.
fn first_rpm(dir: &Path) -> std::path::PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .min()
        .unwrap()
}

fn run(dir: &Path, caches: Caches<'_>) -> CreaterepoReport {
    let opts = CreaterepoOptions {
        repodata: odcs::repodata::RepodataOptions {
            revision: Some("42".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    createrepo(dir, &opts, caches, &NoProgress).unwrap()
}

#[test]
fn warm_run_opens_no_rpm_and_writes_the_same_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    corpus(&dir, 60);
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();

    let cold = run(&dir, cache.caches());
    assert_eq!(
        (cold.headers_read, cold.cache_hits, cold.chunks_reused),
        (60, 0, 0)
    );
    let cold_repo = read_repo(&dir).unwrap();

    // warm through each path: header records only, and rendered chunks
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    let records_only = Caches {
        chunks: None,
        ..cache.caches()
    };
    let warm = run(&dir, records_only);
    assert_eq!((warm.headers_read, warm.cache_hits), (0, 60));
    let assembled = run(&dir, cache.caches());
    assert_eq!((assembled.headers_read, assembled.cache_hits), (0, 0));
    assert_eq!(assembled.chunks_reused, assembled.chunks);
    let warm_repo = read_repo(&dir).unwrap();
    for kind in ["primary", "filelists", "other"] {
        assert_eq!(
            cold_repo.record(kind).unwrap().open_checksum,
            warm_repo.record(kind).unwrap().open_checksum,
            "{kind}: warm output differs from cold"
        );
    }

    // A changed mtime is a different file: it is read again (once).
    let victim = first_rpm(&dir);
    let mtime = std::fs::metadata(&victim).unwrap().modified().unwrap();
    File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime + std::time::Duration::from_secs(5)))
        .unwrap();
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    let records_only = Caches {
        chunks: None,
        ..cache.caches()
    };
    assert_eq!(run(&dir, records_only).headers_read, 1);
    assert_eq!(run(&dir, records_only).headers_read, 0);
}

/// Hard links we make ourselves (as a compose links RPMs into its tree) keep
/// the records: linking moves only the file's ctime, and the record follows.
/// A link made by anything else makes the file be read once more.
#[test]
fn hardlinked_copies_in_another_tree_hit_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("topdir");
    corpus(&a, 20);
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    assert_eq!(run(&a, cache.caches()).headers_read, 20);

    let link_all = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        let mut moved = Vec::new();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rpm") {
                let dest = to.join(p.file_name().unwrap());
                moved.extend(
                    odcs::rpm::link_tracked(&p, &dest, |f, t| std::fs::hard_link(f, t)).unwrap(),
                );
            }
        }
        assert_eq!(moved.len(), 20);
        odcs::rpm::HeaderCache::rekey(&cache.headers, &moved).unwrap();
    };
    let b = tmp.path().join("compose/Packages");
    link_all(&a, &b);
    // the same packages at the same hrefs: the chunk is reused as it is,
    // although every file's identity moved (chunks are keyed by content)
    let report = run(&b, cache.caches());
    assert_eq!(
        (report.headers_read, report.cache_hits, report.chunks_reused),
        (0, 0, 1)
    );
    let c = tmp.path().join("compose2/Packages/sub");
    link_all(&b, &c);
    // under other hrefs: the chunks differ, the records hit
    let report = run(c.parent().unwrap(), cache.caches());
    assert_eq!(
        (report.headers_read, report.cache_hits, report.chunks_reused),
        (0, 20, 0)
    );
    // the original paths are the same files: they hit too
    assert_eq!(run(&a, cache.caches()).headers_read, 0);
    assert_eq!(read_repo(&b).unwrap().packages.len(), 20);

    // a link made by hand: that file is read again, once
    let one = first_rpm(&a);
    std::fs::hard_link(&one, tmp.path().join("by-hand.rpm")).unwrap();
    assert_eq!(run(&a, cache.caches()).headers_read, 1);
    assert_eq!(run(&a, cache.caches()).headers_read, 0);
}

#[test]
fn readers_never_see_a_missing_or_half_written_repodata() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    corpus(&dir, 30);
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    run(&dir, cache.caches());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // read_repo verifies every record's checksum against the file
                match read_repo(&dir) {
                    Ok(r) => assert_eq!(r.packages.len(), 30),
                    // a record replaced between reading repomd.xml and opening it
                    // is what a client retries; never a missing repomd.xml
                    Err(odcs::repodata::read::ReadError::Io { path, .. })
                        if !path.ends_with("repomd.xml") => {}
                    Err(e) => panic!("reader saw a broken repository: {e}"),
                }
                reads += 1;
            }
            reads
        });
        for i in 0..15 {
            let opts = CreaterepoOptions {
                repodata: odcs::repodata::RepodataOptions {
                    revision: Some(i.to_string()),
                    ..Default::default()
                },
                ..Default::default()
            };
            createrepo(&dir, &opts, cache.caches(), &NoProgress).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    // only the current files remain
    let names: Vec<_> = std::fs::read_dir(dir.join("repodata")).unwrap().collect();
    assert_eq!(names.len(), 4, "repodata/ holds stale files: {names:?}");
}

#[test]
fn a_new_package_rerenders_only_its_chunk_and_the_output_equals_a_cold_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(&dir).unwrap();
    for s in odcs::rpm::corpus::corpus(700, 3) {
        let mut s = s;
        s.files.truncate(3); // small files: the test is about metadata
        s.write_to(&dir).unwrap();
    }
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    let first = run(&dir, cache.caches());
    assert!(first.chunks >= 3, "{} chunks", first.chunks);

    odcs::rpm::build::PackageSpec::parse("aaa-new-1-1.noarch")
        .unwrap()
        .write_to(&dir)
        .unwrap();
    let second = run(&dir, cache.caches());
    assert_eq!(second.headers_read, 1, "only the new package is read");
    assert!(second.chunks - second.chunks_reused <= 2, "{second:?}");
    let assembled = read_repo(&dir).unwrap();

    run(&dir, Caches::default());
    let cold = read_repo(&dir).unwrap();
    for kind in ["primary", "filelists", "other"] {
        assert_eq!(
            assembled.record(kind).unwrap().open_checksum,
            cold.record(kind).unwrap().open_checksum,
            "{kind}"
        );
    }
    assert_eq!(assembled.packages.len(), 701);
}

/// Rewrite `path` in place (same inode) with `bytes` of the same length and
/// put its mtime back, as `rsync --inplace --times` or a careless tool does.
fn rewrite_keeping_mtime(path: &Path, bytes: &[u8]) {
    let md = std::fs::metadata(path).unwrap();
    assert_eq!(md.len(), bytes.len() as u64);
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.set_times(FileTimes::new().set_modified(md.modified().unwrap()))
        .unwrap();
    drop(f);
    let after = std::fs::metadata(path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (md.len(), md.modified().unwrap())
    );
}

/// A same-size rewrite with the mtime put back is not answered from the
/// cache: the file's ctime (which no user can set back) moved, so it is read
/// again and the run fails naming it (issue #12).
#[test]
fn a_same_size_rewrite_with_mtime_put_back_is_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    corpus(&dir, 20);
    let cache = CacheDir::open(&tmp.path().join("cache")).unwrap();
    assert_eq!(run(&dir, cache.caches()).headers_read, 20);
    let victim = first_rpm(&dir);
    let len = std::fs::metadata(&victim).unwrap().len() as usize;
    rewrite_keeping_mtime(&victim, &vec![0u8; len]);
    let err = createrepo(
        &dir,
        &CreaterepoOptions::default(),
        cache.caches(),
        &NoProgress,
    )
    .expect_err("the rewritten file was answered from the cache");
    assert!(
        err.to_string().contains(&victim.display().to_string()),
        "{err}"
    );
}
