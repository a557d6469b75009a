//! The header cache: a warm run opens no RPM, hardlinked copies hit, a changed
//! file misses, and the output is the same as a cold run's.

mod common;

use std::fs::{File, FileTimes, OpenOptions};
use std::io::Write;
use std::path::Path;

use odcs::compose::NoProgress;
use odcs::compose::createrepo::{CreaterepoOptions, CreaterepoReport, createrepo};
use odcs::repodata::read::read_repo;
use odcs::rpm::{HeaderCache, LogCache};

fn corpus(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for s in odcs::rpm::corpus::corpus(n, 9) {
        s.write_to(dir).unwrap();
    }
}

fn run(dir: &Path, cache: &LogCache) -> CreaterepoReport {
    let opts = CreaterepoOptions {
        repodata: odcs::repodata::RepodataOptions {
            revision: Some("42".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    createrepo(dir, &opts, Some(cache as &dyn HeaderCache), &NoProgress).unwrap()
}

#[test]
fn warm_run_opens_no_rpm_and_writes_the_same_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    corpus(&dir, 60);
    let cache = LogCache::open(&tmp.path().join("cache")).unwrap();

    let cold = run(&dir, &cache);
    assert_eq!((cold.headers_read, cold.cache_hits), (60, 0));
    let cold_repo = read_repo(&dir).unwrap();

    let cache = LogCache::open(&tmp.path().join("cache")).unwrap();
    let warm = run(&dir, &cache);
    assert_eq!((warm.headers_read, warm.cache_hits), (0, 60));
    let warm_repo = read_repo(&dir).unwrap();
    for kind in ["primary", "filelists", "other"] {
        assert_eq!(
            cold_repo.record(kind).unwrap().open_checksum,
            warm_repo.record(kind).unwrap().open_checksum,
            "{kind}: warm output differs from cold"
        );
    }

    // Proof that a warm run does not open the RPM: overwrite one in place with
    // garbage of the same size and put its mtime back. The cache still answers
    // with the old record (old checksum), so the file was never read.
    let victim = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "rpm"))
        .unwrap();
    let md = std::fs::metadata(&victim).unwrap();
    let mtime = md.modified().unwrap();
    let mut f = OpenOptions::new().write(true).open(&victim).unwrap();
    f.write_all(&vec![0u8; md.len() as usize]).unwrap();
    f.set_times(FileTimes::new().set_modified(mtime)).unwrap();
    drop(f);
    let again = run(&dir, &cache);
    assert_eq!(again.headers_read, 0);
    assert_eq!(
        read_repo(&dir)
            .unwrap()
            .record("primary")
            .unwrap()
            .open_checksum,
        cold_repo.record("primary").unwrap().open_checksum
    );

    // A changed mtime is a different file: it is read (and now found bad).
    File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime + std::time::Duration::from_secs(5)))
        .unwrap();
    let err = createrepo(
        &dir,
        &CreaterepoOptions::default(),
        Some(&cache as &dyn HeaderCache),
        &NoProgress,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(&*victim.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
}

#[test]
fn hardlinked_copies_in_another_tree_hit_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("topdir");
    corpus(&a, 20);
    let cache = LogCache::open(&tmp.path().join("cache")).unwrap();
    assert_eq!(run(&a, &cache).headers_read, 20);

    let b = tmp.path().join("compose/Packages");
    std::fs::create_dir_all(&b).unwrap();
    for e in std::fs::read_dir(&a).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rpm") {
            std::fs::hard_link(&p, b.join(p.file_name().unwrap())).unwrap();
        }
    }
    let report = run(&b, &cache);
    assert_eq!((report.headers_read, report.cache_hits), (0, 20));
    assert_eq!(read_repo(&b).unwrap().packages.len(), 20);
}

#[test]
fn readers_never_see_a_missing_or_half_written_repodata() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    corpus(&dir, 30);
    let cache = LogCache::open(&tmp.path().join("cache")).unwrap();
    run(&dir, &cache);
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
            createrepo(&dir, &opts, Some(&cache as &dyn HeaderCache), &NoProgress).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    // only the current files remain
    let names: Vec<_> = std::fs::read_dir(dir.join("repodata")).unwrap().collect();
    assert_eq!(names.len(), 4, "repodata/ holds stale files: {names:?}");
}
