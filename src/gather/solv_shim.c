/*
 * A few plain functions over libsolv for src/gather/solv.rs.
 *
 * The shim includes libsolv's own headers, so every struct layout and
 * constant comes from the installed library and nothing is restated in Rust.
 * The Rust side sees only opaque pointers, ids and the functions below.
 */

#include <stdlib.h>
#include <string.h>

#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/pool_parserpmrichdep.h>
#include <solv/problems.h>
#include <solv/queue.h>
#include <solv/repo.h>
#include <solv/rules.h>
#include <solv/solvable.h>
#include <solv/solver.h>

/* What an added dependency is (must match DepKind in solv.rs). */
enum {
  ODCS_PROVIDES = 0,
  ODCS_REQUIRES = 1,
  ODCS_CONFLICTS = 2,
  ODCS_OBSOLETES = 3,
  ODCS_RECOMMENDS = 4,
  ODCS_SUGGESTS = 5,
  ODCS_SUPPLEMENTS = 6,
  ODCS_ENHANCES = 7,
};

/* A pool with rpm semantics (whatever the library's default is: Debian builds
 * it with Debian semantics as default) and the given arch policy. NULL when
 * this libsolv cannot do rpm semantics. */
Pool *odcs_pool_new(const char *archpolicy)
{
  Pool *pool = pool_create();
  if (!pool)
    return NULL;
  if (pool_setdisttype(pool, DISTTYPE_RPM) < 0)
    {
      pool_free(pool);
      return NULL;
    }
  /* as dnf does: packages of one name and different arch colors (x86_64 and
   * i686) may be installed side by side */
  pool_set_flag(pool, POOL_FLAG_IMPLICITOBSOLETEUSESCOLORS, 1);
  pool_setarchpolicy(pool, archpolicy);
  return pool;
}

void odcs_pool_free(Pool *pool)
{
  pool_free(pool);
}

Repo *odcs_repo_new(Pool *pool, const char *name, int subpriority)
{
  Repo *repo = repo_create(pool, name);
  repo->subpriority = subpriority;
  return repo;
}

Id odcs_add_solvable(Repo *repo, const char *name, size_t name_len,
                     const char *evr, size_t evr_len, const char *arch,
                     size_t arch_len)
{
  Pool *pool = repo->pool;
  Id p = repo_add_solvable(repo);
  Solvable *s = pool_id2solvable(pool, p);
  s->name = pool_strn2id(pool, name, name_len, 1);
  s->evr = pool_strn2id(pool, evr, evr_len, 1);
  s->arch = pool_strn2id(pool, arch, arch_len, 1);
  return p;
}

/* A simple dependency: `name` alone (flags 0) or compared with `evr` (flags
 * are libsolv's REL_GT/REL_EQ/REL_LT bits). */
Id odcs_dep(Pool *pool, const char *name, size_t name_len, int flags,
            const char *evr, size_t evr_len)
{
  Id n = pool_strn2id(pool, name, name_len, 1);
  if (!flags)
    return n;
  return pool_rel2id(pool, n, pool_strn2id(pool, evr, evr_len, 1), flags, 1);
}

/* A rich dependency in rpm's spelling (`(a or b >= 1)`); 0 if it does not
 * parse. `text` is NUL-terminated. */
Id odcs_rich_dep(Pool *pool, const char *text)
{
  return pool_parserpmrichdep(pool, text);
}

static Id keyname(int kind)
{
  switch (kind)
    {
    case ODCS_PROVIDES:
      return SOLVABLE_PROVIDES;
    case ODCS_REQUIRES:
      return SOLVABLE_REQUIRES;
    case ODCS_CONFLICTS:
      return SOLVABLE_CONFLICTS;
    case ODCS_OBSOLETES:
      return SOLVABLE_OBSOLETES;
    case ODCS_RECOMMENDS:
      return SOLVABLE_RECOMMENDS;
    case ODCS_SUGGESTS:
      return SOLVABLE_SUGGESTS;
    case ODCS_SUPPLEMENTS:
      return SOLVABLE_SUPPLEMENTS;
    case ODCS_ENHANCES:
      return SOLVABLE_ENHANCES;
    default:
      return 0;
    }
}

/* 0 on success, -1 for an unknown kind. */
int odcs_add_dep(Pool *pool, Id p, int kind, Id dep)
{
  Id key = keyname(kind);
  if (!key || !dep)
    return -1;
  solvable_add_deparray(pool_id2solvable(pool, p), key, dep, 0);
  return 0;
}

/* Done adding: internalize the repositories and index what provides what. */
void odcs_pool_finish(Pool *pool)
{
  Repo *repo;
  int i;
  FOR_REPOS(i, repo)
    repo_internalize(repo);
  pool_createwhatprovides(pool);
}

/* Could anything satisfy `dep`, if every package of the pool were installed?
 * (`nothing provides` in libsolv's words, rich operators evaluated.) */
int odcs_dep_satisfiable(Pool *pool, Id dep)
{
  if (ISRELDEP(dep))
    {
      Reldep *rd = GETRELDEP(pool, dep);
      switch (rd->flags)
        {
        case REL_AND:
          return odcs_dep_satisfiable(pool, rd->name) &&
                 odcs_dep_satisfiable(pool, rd->evr);
        case REL_OR:
          return odcs_dep_satisfiable(pool, rd->name) ||
                 odcs_dep_satisfiable(pool, rd->evr);
        case REL_COND:
        case REL_UNLESS:
          {
            /* (A if B [else C]) / (A unless B [else C]) */
            Id cond = rd->evr, otherwise = 0;
            int holds;
            if (ISRELDEP(cond) && GETRELDEP(pool, cond)->flags == REL_ELSE)
              {
                otherwise = GETRELDEP(pool, cond)->evr;
                cond = GETRELDEP(pool, cond)->name;
              }
            holds = odcs_dep_satisfiable(pool, cond);
            if (rd->flags == REL_UNLESS)
              holds = !holds;
            if (holds)
              return odcs_dep_satisfiable(pool, rd->name);
            return otherwise ? odcs_dep_satisfiable(pool, otherwise) : 1;
          }
        default:
          break;
        }
    }
  return pool->whatprovidesdata[pool_whatprovides(pool, dep)] != 0;
}

/* Solve `njobs` (how, what) pairs on the empty system, weak dependencies
 * off. Returns the solver (for the results below; free it with
 * odcs_solver_free) and the number of problems in *problems. */
Solver *odcs_solve(Pool *pool, const Id *jobs, int njobs, int *problems)
{
  Queue q;
  Solver *solv;
  int i;
  queue_init(&q);
  for (i = 0; i < 2 * njobs; i++)
    queue_push(&q, jobs[i]);
  solv = solver_create(pool);
  solver_set_flag(solv, SOLVER_FLAG_IGNORE_RECOMMENDED, 1);
  *problems = solver_solve(solv, &q);
  queue_free(&q);
  return solv;
}

void odcs_solver_free(Solver *solv)
{
  solver_free(solv);
}

/* The solvables the solver decided to install, through `push(ctx, id)`. */
void odcs_solver_installed(Solver *solv, void (*push)(void *, Id), void *ctx)
{
  Queue q;
  int i;
  queue_init(&q);
  solver_get_decisionqueue(solv, &q);
  for (i = 0; i < q.count; i++)
    {
      Id p = q.elements[i];
      if (p > SYSTEMSOLVABLE)
        push(ctx, p);
    }
  queue_free(&q);
}

/* The jobs (as indexes of (how, what) pairs) taking part in a problem
 * (1-based), through `push(ctx, index)`. */
void odcs_problem_jobs(Solver *solv, Id problem, void (*push)(void *, Id),
                       void *ctx)
{
  Queue rules;
  int i;
  queue_init(&rules);
  solver_findallproblemrules(solv, problem, &rules);
  for (i = 0; i < rules.count; i++)
    {
      Id rid = rules.elements[i];
      if (solver_ruleclass(solv, rid) == SOLVER_RULE_JOB)
        push(ctx, solver_rule2jobidx(solv, rid) / 2);
    }
  queue_free(&rules);
}

/* What a problem (1-based) is, in libsolv's words, one line per rule taking
 * part, through `push(ctx, line)`; the lines are only valid during the call. */
void odcs_problem_lines(Solver *solv, Id problem,
                        void (*push)(void *, const char *), void *ctx)
{
  Queue rules, info;
  int i, j;
  queue_init(&rules);
  queue_init(&info);
  solver_findallproblemrules(solv, problem, &rules);
  for (i = 0; i < rules.count; i++)
    {
      queue_empty(&info);
      solver_allruleinfos(solv, rules.elements[i], &info);
      for (j = 0; j + 3 < info.count; j += 4)
        {
          SolverRuleinfo type = info.elements[j];
          /* the job rule itself says only "conflicting requests" */
          if (type == SOLVER_RULE_JOB)
            continue;
          push(ctx, solver_problemruleinfo2str(solv, type, info.elements[j + 1],
                                               info.elements[j + 2],
                                               info.elements[j + 3]));
        }
    }
  queue_free(&info);
  queue_free(&rules);
}

/* The requirements of solvable `p` that nothing could satisfy (see
 * odcs_dep_satisfiable), in libsolv's spelling, through `push(ctx, text)`; the
 * text is only valid during the call. */
void odcs_unsatisfiable_requires(Pool *pool, Id p,
                                 void (*push)(void *, const char *), void *ctx)
{
  Queue q;
  int i;
  queue_init(&q);
  solvable_lookup_deparray(pool_id2solvable(pool, p), SOLVABLE_REQUIRES, &q, 0);
  for (i = 0; i < q.count; i++)
    if (!odcs_dep_satisfiable(pool, q.elements[i]))
      push(ctx, pool_dep2str(pool, q.elements[i]));
  queue_free(&q);
}
