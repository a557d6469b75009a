//! libsolv, the solver of dnf, fus and Pungi's `hybrid` method, through the
//! small C shim in `solv_shim.c` (built by `build.rs` against Debian's
//! libsolv-dev, so struct layouts come from libsolv's own headers).
//!
//! A [`SolvPool`] is fed from our package records directly (no repodata is
//! written first): name, EVR, arch, every dependency list, and as file
//! provides the paths some dependency names (what `pool_addfileprovides`
//! would add). It is built once per package set and then solves any number
//! of root sets ([`SolvPool::solve`]); the engine keeps a few in a
//! [`PoolCache`] so a warm compose only solves.
//!
//! `unsafe` is confined to this file: every call crosses into C with pointers
//! this type owns.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::GatherError;
use crate::fast_hash::FastSet;
use crate::rpm::{Dependency, PackageMeta, sense};

/// libsolv's `Id`.
type Id = c_int;

/// Opaque libsolv types: only pointers to them cross the boundary.
#[repr(C)]
struct RawPool {
    _opaque: [u8; 0],
}
#[repr(C)]
struct RawRepo {
    _opaque: [u8; 0],
}
#[repr(C)]
struct RawSolver {
    _opaque: [u8; 0],
}

type PushId = extern "C" fn(*mut c_void, Id);
type PushLine = extern "C" fn(*mut c_void, *const c_char);

unsafe extern "C" {
    fn odcs_pool_new(archpolicy: *const c_char) -> *mut RawPool;
    fn odcs_pool_free(pool: *mut RawPool);
    fn odcs_repo_new(pool: *mut RawPool, name: *const c_char, subpriority: c_int) -> *mut RawRepo;
    fn odcs_add_solvable(
        repo: *mut RawRepo,
        name: *const c_char,
        name_len: usize,
        evr: *const c_char,
        evr_len: usize,
        arch: *const c_char,
        arch_len: usize,
    ) -> Id;
    fn odcs_dep(
        pool: *mut RawPool,
        name: *const c_char,
        name_len: usize,
        flags: c_int,
        evr: *const c_char,
        evr_len: usize,
    ) -> Id;
    fn odcs_rich_dep(pool: *mut RawPool, text: *const c_char) -> Id;
    fn odcs_add_dep(pool: *mut RawPool, p: Id, kind: c_int, dep: Id) -> c_int;
    fn odcs_pool_finish(pool: *mut RawPool);
    fn odcs_unsatisfiable_requires(pool: *mut RawPool, p: Id, push: PushLine, ctx: *mut c_void);
    fn odcs_solve(
        pool: *mut RawPool,
        jobs: *const Id,
        njobs: c_int,
        problems: *mut c_int,
    ) -> *mut RawSolver;
    fn odcs_solver_free(solv: *mut RawSolver);
    fn odcs_solver_installed(solv: *mut RawSolver, push: PushId, ctx: *mut c_void);
    fn odcs_problem_jobs(solv: *mut RawSolver, problem: Id, push: PushId, ctx: *mut c_void);
    fn odcs_problem_lines(solv: *mut RawSolver, problem: Id, push: PushLine, ctx: *mut c_void);
}

/// libsolv's relation bits (pool.h `REL_GT`, `REL_EQ`, `REL_LT`).
const REL_GT: c_int = 1;
const REL_EQ: c_int = 2;
const REL_LT: c_int = 4;
/// solver.h `SOLVER_SOLVABLE | SOLVER_INSTALL`.
const INSTALL_SOLVABLE: Id = 0x01 | 0x0100;

/// The dependency lists of a solvable (solv_shim.c's `ODCS_*`).
#[derive(Clone, Copy)]
enum DepKind {
    Provides = 0,
    Requires = 1,
    Conflicts = 2,
    Obsoletes = 3,
    Recommends = 4,
    Suggests = 5,
    Supplements = 6,
    Enhances = 7,
}

/// One problem libsolv found: the roots taking part in it (indexes into the
/// roots solved, at this level), and its text, a line per rule (libsolv's
/// words).
#[derive(Clone, Debug, Default)]
pub struct Problem {
    pub roots: Vec<usize>,
    pub lines: Vec<String>,
}

/// What one solve gave: the packages to install (indexes given to
/// [`SolvPool::build`], lookaside ones included), or the problems.
#[derive(Clone, Debug, Default)]
pub struct Solution {
    pub installed: Vec<usize>,
    pub problems: Vec<Problem>,
}

/// A package to put in the pool: its index (how results name it), its record,
/// and whether it comes from a lookaside repository.
pub struct PoolEntry<'a> {
    pub index: usize,
    pub meta: &'a PackageMeta,
    pub lookaside: bool,
}

/// A libsolv pool of one package set for one tree arch.
pub struct SolvPool {
    raw: NonNull<RawPool>,
    /// package index → solvable (0: not in the pool)
    solvable_of: Vec<Id>,
    /// solvable → package index (`usize::MAX` for ids that are not packages)
    index_of: Vec<usize>,
}

// SAFETY: the pool is owned by this value alone (no pointer to it is kept
// elsewhere) and libsolv keeps no thread-local state, so it may move to
// another thread; it is not Sync, and PoolCache shares it behind a Mutex.
unsafe impl Send for SolvPool {}

impl Drop for SolvPool {
    fn drop(&mut self) {
        // SAFETY: `raw` came from odcs_pool_new and is freed once, here.
        unsafe { odcs_pool_free(self.raw.as_ptr()) }
    }
}

/// The EVR string libsolv stores for a package: `[E:]V-R`, epoch 0 left out
/// (as repo_rpmmd does).
fn package_evr(m: &PackageMeta) -> String {
    let vr = if m.release.is_empty() {
        m.version.clone()
    } else {
        format!("{}-{}", m.version, m.release)
    };
    match m.epoch {
        Some(e) if e != 0 => format!("{e}:{vr}"),
        _ => vr,
    }
}

/// Every word of a dependency name that is a path (`/usr/bin/sh`, or a path
/// inside a rich dependency).
fn paths_in(name: &str) -> impl Iterator<Item = &str> {
    name.split([' ', '(', ')']).filter(|w| w.starts_with('/'))
}

fn all_deps(m: &PackageMeta) -> impl Iterator<Item = (DepKind, &Dependency)> {
    let lists: [(DepKind, &Vec<Dependency>); 8] = [
        (DepKind::Provides, &m.provides),
        (DepKind::Requires, &m.requires),
        (DepKind::Conflicts, &m.conflicts),
        (DepKind::Obsoletes, &m.obsoletes),
        (DepKind::Recommends, &m.recommends),
        (DepKind::Suggests, &m.suggests),
        (DepKind::Supplements, &m.supplements),
        (DepKind::Enhances, &m.enhances),
    ];
    lists
        .into_iter()
        .flat_map(|(k, v)| v.iter().map(move |d| (k, d)))
}

extern "C" fn push_id(ctx: *mut c_void, id: Id) {
    // SAFETY: every caller passes a `&mut Vec<Id>` as ctx, alive for the call.
    let v = unsafe { &mut *ctx.cast::<Vec<Id>>() };
    v.push(id);
}

extern "C" fn push_line(ctx: *mut c_void, line: *const c_char) {
    if line.is_null() {
        return;
    }
    // SAFETY: ctx is a `&mut Vec<String>` alive for the call; libsolv passes
    // a NUL-terminated string valid during the callback.
    let (v, text) = unsafe { (&mut *ctx.cast::<Vec<String>>(), CStr::from_ptr(line)) };
    v.push(text.to_string_lossy().into_owned());
}

impl SolvPool {
    /// Build the pool of `entries` (compose packages and lookaside ones, which
    /// go to a repository of their own whose identical copies libsolv prefers,
    /// as fus gives lookaside repositories a higher subpriority) for the arch
    /// policy `archpolicy` (libsolv's syntax: `x86_64:i686:i586`). Indexes are
    /// below `packages`.
    pub fn build(
        entries: &[PoolEntry<'_>],
        packages: usize,
        archpolicy: &str,
    ) -> Result<SolvPool, GatherError> {
        let policy = CString::new(archpolicy).unwrap_or_default();
        // SAFETY: a valid NUL-terminated string; the result is checked.
        let raw = NonNull::new(unsafe { odcs_pool_new(policy.as_ptr()) })
            .ok_or(GatherError::NoRpmSemantics)?;
        let mut pool = SolvPool {
            raw,
            solvable_of: vec![0; packages],
            index_of: Vec::new(),
        };
        // libsolv only indexes the file paths some dependency names
        // (pool_addfileprovides); the rest of a file list is never asked for.
        // Gathered on every core: it walks every dependency of the pool
        // (77 ms of a cold compose from 97,000 candidates on one)
        let wanted = entries
            .par_iter()
            .fold(FastSet::default, |mut wanted, e| {
                wanted.extend(
                    all_deps(e.meta)
                        .filter(|(k, _)| !matches!(k, DepKind::Provides))
                        .flat_map(|(_, d)| paths_in(&d.name)),
                );
                wanted
            })
            .reduce(FastSet::default, |mut a, b| {
                a.extend(b);
                a
            });
        let repos = [c"compose", c"lookaside"].map(|name| {
            let subpriority = if name == c"lookaside" { 100 } else { 0 };
            // SAFETY: the pool is valid; the name is a static C string.
            unsafe { odcs_repo_new(pool.raw.as_ptr(), name.as_ptr(), subpriority) }
        });
        for e in entries {
            let m = e.meta;
            let repo = repos[usize::from(e.lookaside)];
            let evr = package_evr(m);
            // SAFETY: the repo belongs to this pool; each string is passed
            // with its length (libsolv copies it).
            let p = unsafe {
                odcs_add_solvable(
                    repo,
                    m.name.as_ptr().cast(),
                    m.name.len(),
                    evr.as_ptr().cast(),
                    evr.len(),
                    m.arch.as_ptr().cast(),
                    m.arch.len(),
                )
            };
            let slot = usize::try_from(p).unwrap_or(0);
            if pool.index_of.len() <= slot {
                pool.index_of.resize(slot + 1, usize::MAX);
            }
            pool.index_of[slot] = e.index;
            pool.solvable_of[e.index] = p;
            // the implicit `name = EVR` (repo_rpmmd adds it too; duplicates
            // are dropped by libsolv), then the files, so that each list is
            // added in one run (libsolv moves a list it has to reopen)
            let own = pool.simple_dep(&m.name, REL_EQ, &evr);
            pool.add(p, DepKind::Provides, own);
            for f in m.files.iter().filter(|f| wanted.contains(f.path)) {
                let id = pool.simple_dep(f.path, 0, "");
                pool.add(p, DepKind::Provides, id);
            }
            for (kind, d) in all_deps(m) {
                let id = pool.dependency(d);
                pool.add(p, kind, id);
            }
        }
        // SAFETY: the pool is valid.
        unsafe { odcs_pool_finish(pool.raw.as_ptr()) };
        Ok(pool)
    }

    fn simple_dep(&mut self, name: &str, flags: c_int, evr: &str) -> Id {
        // SAFETY: the pool is valid; strings are passed with their lengths.
        unsafe {
            odcs_dep(
                self.raw.as_ptr(),
                name.as_ptr().cast(),
                name.len(),
                flags,
                evr.as_ptr().cast(),
                evr.len(),
            )
        }
    }

    /// A dependency as libsolv's pool id: rich ones parsed by libsolv's own
    /// parser (one that does not parse stays a plain name nothing provides,
    /// as repo_rpmmd leaves it), versioned ones with the epoch 0 left out.
    fn dependency(&mut self, d: &Dependency) -> Id {
        if d.is_rich() {
            if let Ok(text) = CString::new(d.name.as_str()) {
                // SAFETY: the pool is valid; text is NUL-terminated.
                let id = unsafe { odcs_rich_dep(self.raw.as_ptr(), text.as_ptr()) };
                if id != 0 {
                    return id;
                }
            }
            tracing::warn!("cannot parse the rich dependency {:?}", d.name);
            return self.simple_dep(&d.name, 0, "");
        }
        let bits = d.flags & sense::MASK;
        let mut flags = 0;
        if bits & sense::LESS != 0 {
            flags |= REL_LT;
        }
        if bits & sense::GREATER != 0 {
            flags |= REL_GT;
        }
        if bits & sense::EQUAL != 0 {
            flags |= REL_EQ;
        }
        if flags == 0 || d.version.is_empty() {
            return self.simple_dep(&d.name, 0, "");
        }
        let evr = d.version.strip_prefix("0:").unwrap_or(&d.version);
        self.simple_dep(&d.name, flags, evr)
    }

    fn add(&mut self, p: Id, kind: DepKind, dep: Id) {
        // SAFETY: p is a solvable of this pool, kind one the shim knows.
        unsafe { odcs_add_dep(self.raw.as_ptr(), p, kind as c_int, dep) };
    }

    /// Whether the package (by index) is in the pool: binary packages of an
    /// arch the tree can hold.
    pub fn contains(&self, index: usize) -> bool {
        self.solvable_of.get(index).is_some_and(|&p| p != 0)
    }

    /// Install `roots` (package indexes, each in the pool) on an empty system,
    /// weak dependencies off.
    pub fn solve(&mut self, roots: &[usize]) -> Solution {
        let jobs: Vec<Id> = roots
            .iter()
            .flat_map(|&r| [INSTALL_SOLVABLE, self.solvable_of[r]])
            .collect();
        let mut problems: c_int = 0;
        // SAFETY: the pool is valid; jobs holds roots.len() (how, what) pairs
        // of solvables of this pool.
        let solver = unsafe {
            odcs_solve(
                self.raw.as_ptr(),
                jobs.as_ptr(),
                roots.len() as c_int,
                &mut problems,
            )
        };
        let mut out = Solution::default();
        let Some(solver) = NonNull::new(solver) else {
            return out;
        };
        if problems == 0 {
            let mut ids: Vec<Id> = Vec::new();
            // SAFETY: the solver is valid until freed below; push_id gets
            // `&mut ids` as its context.
            unsafe {
                odcs_solver_installed(solver.as_ptr(), push_id, (&raw mut ids).cast::<c_void>())
            };
            out.installed = ids
                .into_iter()
                .filter_map(|p| self.index_of.get(p as usize).copied())
                .filter(|&i| i != usize::MAX)
                .collect();
        }
        for problem in 1..=problems {
            let (mut jobs, mut lines): (Vec<Id>, Vec<String>) = (Vec::new(), Vec::new());
            // SAFETY: as above; problem numbers are 1..=count.
            unsafe {
                odcs_problem_jobs(
                    solver.as_ptr(),
                    problem,
                    push_id,
                    (&raw mut jobs).cast::<c_void>(),
                );
                odcs_problem_lines(
                    solver.as_ptr(),
                    problem,
                    push_line,
                    (&raw mut lines).cast::<c_void>(),
                );
            }
            let mut roots: Vec<usize> = jobs
                .into_iter()
                .filter_map(|j| usize::try_from(j).ok())
                .filter(|&j| j < roots.len())
                .collect();
            roots.sort_unstable();
            roots.dedup();
            let mut seen = HashSet::new();
            lines.retain(|l| seen.insert(l.clone()));
            out.problems.push(Problem { roots, lines });
        }
        // SAFETY: freed once; nothing refers to it any more.
        unsafe { odcs_solver_free(solver.as_ptr()) };
        out
    }

    /// The requirements of a package (by index) that nothing in the pool
    /// satisfies, rich ones evaluated as if every package were installed.
    pub fn unsatisfiable(&mut self, index: usize) -> Vec<String> {
        let p = self.solvable_of.get(index).copied().unwrap_or(0);
        let mut lines: Vec<String> = Vec::new();
        if p != 0 {
            // SAFETY: the pool is valid and p one of its solvables; push_line
            // gets `&mut lines` as its context.
            unsafe {
                odcs_unsatisfiable_requires(
                    self.raw.as_ptr(),
                    p,
                    push_line,
                    (&raw mut lines).cast::<c_void>(),
                )
            };
        }
        lines
    }
}

/// A few pools kept between composes, keyed by everything that decides them
/// (each package's identity and position, the lookaside packages, the arch
/// policy): a warm compose of the same package set only solves. The key is a
/// 64-bit hash (with the counts): two package sets colliding is a chance of
/// about one in 2^64 per pair.
pub struct PoolCache {
    capacity: usize,
    pools: Mutex<VecDeque<(PoolKey, Arc<Mutex<SolvPool>>)>>,
}

/// A pool's key: a 64-bit hash plus the counts it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolKey {
    hash: u64,
    packages: usize,
    entries: usize,
}

impl PoolKey {
    /// A package stands for itself by the sha256 of its main header, which
    /// decides everything the pool holds of it and is known whether the
    /// file was read whole or only to its headers (so a package read whole
    /// since keeps its key); a lookaside repository's record, which has no
    /// header digest, by its checksum (the package id). Only that is read,
    /// so keying a warm compose touches one string per package.
    pub fn of(entries: &[PoolEntry<'_>], packages: usize, archpolicy: &str) -> PoolKey {
        let mut h = DefaultHasher::new();
        archpolicy.hash(&mut h);
        for e in entries {
            (e.index, e.lookaside).hash(&mut h);
            let m = e.meta;
            let id = match m.header_digest.is_empty() {
                true => &m.checksum,
                false => &m.header_digest,
            };
            id.hash(&mut h);
        }
        PoolKey {
            hash: h.finish(),
            packages,
            entries: entries.len(),
        }
    }
}

/// How a pool was obtained, for the compose's timings.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    /// Taken from the cache, not built.
    pub reused: bool,
    /// Time to build it (zero when reused).
    pub build: Duration,
}

impl PoolCache {
    pub fn new(capacity: usize) -> PoolCache {
        PoolCache {
            capacity: capacity.max(1),
            pools: Mutex::new(VecDeque::new()),
        }
    }

    /// The pool for `key`, built by `build` when it is not kept (the lock is
    /// not held while building, so other composes go on).
    pub fn get_or_build(
        &self,
        key: PoolKey,
        build: impl FnOnce() -> Result<SolvPool, GatherError>,
    ) -> Result<(Arc<Mutex<SolvPool>>, PoolStats), GatherError> {
        if let Ok(mut pools) = self.pools.lock()
            && let Some(at) = pools.iter().position(|(k, _)| *k == key)
        {
            // most recently used last
            if let Some(hit) = pools.remove(at) {
                let pool = hit.1.clone();
                pools.push_back(hit);
                return Ok((
                    pool,
                    PoolStats {
                        reused: true,
                        build: Duration::ZERO,
                    },
                ));
            }
        }
        let t = Instant::now();
        let pool = Arc::new(Mutex::new(build()?));
        let stats = PoolStats {
            reused: false,
            build: t.elapsed(),
        };
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|(k, _)| *k != key);
            while pools.len() >= self.capacity {
                pools.pop_front();
            }
            pools.push_back((key, pool.clone()));
        }
        Ok((pool, stats))
    }
}
