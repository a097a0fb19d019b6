/* The YAML planner: load (wf.h), resolve, feed the builder.
 *
 * One string table is shared by the main workflow, every sub-workflow and
 * the plan, so ids flow from the loader into the plan without translation.
 * Each workflow is planned in three passes over its jobs: producers of every
 * lfn, then tasks (resolving transformations, argv, env, resources, inputs;
 * inlining sub-workflows recursively), then job-level edges from
 * jobDependencies and files, expanded through inlined sub-workflows' roots
 * and leaves. Scratch buffers are reused across jobs: no per-job malloc.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_int.h"

/* Where a job's tasks start and end: one task for a plain job, the inner
 * roots (entries) and leaves (exits) for an inlined sub-workflow. Ranges
 * into struct wf_run.ends. */
struct job_tasks {
    uint32_t ent_first, ent_n, ex_first, ex_n;
};

struct wf_run {
    struct plan_wfc w;
    struct job_tasks *jt;
    uint32_t *ends;
    size_t n_ends, cap_ends;
    uint64_t *jedges; /* parent job << 32 | child job */
    size_t n_jedges, cap_jedges;
};

static int plan_workflow(struct planner *P, const char *path, const char *prefix,
                         const struct wfmpi_wf_options *lopt, const struct plan_provided *provided,
                         size_t n_provided, struct wfmpi_wf_pos at, uint32_t **roots,
                         uint32_t *n_roots, uint32_t **leaves, uint32_t *n_leaves);

const char *plan_s(const struct planner *P, uint32_t id)
{
    const char *s = id ? wfmpi_strtab_str(P->st, id) : NULL;
    return s ? s : "";
}

int plan_pos_error(struct planner *P, struct wfmpi_wf_pos pos, int code, const char *fmt, ...)
{
    char msg[WFMPI_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wfmpi_error_set(P->err, code, "%s:%u:%u: %s", plan_s(P, pos.file), pos.line, pos.col,
                           msg);
}

static int oom(struct planner *P)
{
    return wfmpi_error_set(P->err, -ENOMEM, "out of memory while planning");
}

/* ------------------------------------------------------------ scratch */

/* The builder shares the loader's string table, so a task is handed over as
 * string ids: a word or name the workflow already holds costs nothing, and
 * only strings the planner makes (env entries, prefixed ids, split words)
 * are interned. */
int plan_word_add(struct planner *P, uint32_t id)
{
    return WFMPI_PUSH(P->words, P->n_words, P->cap_words, id) ? oom(P) : 0;
}

int plan_word_add_str(struct planner *P, const char *s, size_t len)
{
    uint32_t id = wfmpi_strtab_intern(P->st, s, len);
    return id ? plan_word_add(P, id) : oom(P);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Pegasus joins `arguments` with spaces and the job splits on whitespace;
 * splitting each argument on its own gives the same words. An argument
 * that is one word already (nearly all) is used as it is. */
static int split_arg(struct planner *P, uint32_t arg)
{
    const char *s = plan_s(P, arg);
    size_t len = wfmpi_strtab_len(P->st, arg), i = 0;
    while (i < len && !is_space(s[i]) && s[i])
        i++;
    if (i == len)
        return len ? plan_word_add(P, arg) : 0;
    while (*s) {
        while (is_space(*s))
            s++;
        const char *w = s;
        while (*s && !is_space(*s))
            s++;
        if (s > w && plan_word_add_str(P, w, (size_t)(s - w)))
            return -ENOMEM;
    }
    return 0;
}

static int split_args(struct planner *P, const struct wfmpi_wf_view *v,
                      const struct wfmpi_wf_job *job)
{
    for (uint32_t i = 0; i < job->args.count; i++) {
        if (split_arg(P, v->args[job->args.first + i]))
            return -ENOMEM;
    }
    return 0;
}

/* Put a+b together in the scratch buffer and intern it. 0 on failure. */
uint32_t plan_intern_concat(struct planner *P, const char *a, size_t al, char sep, const char *b,
                            size_t bl)
{
    size_t n = al + (sep ? 1 : 0) + bl;
    if (wfmpi_grow((void **)&P->sbuf, &P->sbuf_cap, n + 1, 1))
        return 0;
    memcpy(P->sbuf, a, al);
    if (sep)
        P->sbuf[al] = sep;
    memcpy(P->sbuf + n - bl, b, bl);
    P->sbuf[n] = '\0';
    return wfmpi_strtab_intern(P->st, P->sbuf, n);
}

static int add_env_strings(struct planner *P)
{
    for (size_t i = 0; i < P->env.n; i++) {
        uint32_t k = P->env.kv[2 * i], val = P->env.kv[2 * i + 1];
        uint32_t id = plan_intern_concat(P, plan_s(P, k), wfmpi_strtab_len(P->st, k), '=',
                                         plan_s(P, val), wfmpi_strtab_len(P->st, val));
        if (!id || plan_word_add(P, id))
            return oom(P);
    }
    return 0;
}

/* ------------------------------------------------------------ files */

static bool consumes(uint8_t link)
{
    return link == WFMPI_WF_LINK_INPUT || link == WFMPI_WF_LINK_INOUT;
}

static bool produces(uint8_t link)
{
    return link == WFMPI_WF_LINK_OUTPUT || link == WFMPI_WF_LINK_INOUT;
}

static struct wfmpi_wf_pos use_pos(const struct wfmpi_wf_view *v, const struct wfmpi_wf_job *job,
                                   uint32_t lfn)
{
    for (uint32_t i = 0; i < job->uses.count; i++) {
        if (v->uses[job->uses.first + i].lfn == lfn)
            return v->uses[job->uses.first + i].pos;
    }
    return job->pos;
}

static int set_producer(struct wf_run *r, uint32_t j, uint32_t lfn, struct wfmpi_wf_pos pos)
{
    struct planner *P = r->w.P;
    uint32_t prev = plan_map_get(&r->w.producer, lfn, UINT32_MAX);
    if (prev == j)
        return 0;
    if (prev != UINT32_MAX) {
        const struct wfmpi_wf_job *pj = &r->w.v->jobs[prev];
        struct wfmpi_wf_pos pp = use_pos(r->w.v, pj, lfn);
        return plan_pos_error(P, pos, WFMPI_E_INPUT,
                              "file '%s' is produced by two jobs: '%s' (%s:%u:%u) and '%s'",
                              plan_s(P, lfn), plan_s(P, pj->id), plan_s(P, pp.file), pp.line,
                              pp.col, plan_s(P, r->w.v->jobs[j].id));
    }
    return plan_map_put(&r->w.producer, lfn, j) ? oom(P) : 0;
}

/* Pass 0: every file a job names is a file under the work dir, as the data
 * tasks and the job itself will take it (forPlanning uses are for
 * pegasus-plan, and nothing here touches them). */
static int check_lfns(struct wf_run *r)
{
    static const char *const what[3] = {"stdin file", "stdout file", "stderr file"};
    const struct wfmpi_wf_view *v = r->w.v;
    for (uint32_t j = 0; j < v->n_jobs; j++) {
        const struct wfmpi_wf_job *job = &v->jobs[j];
        for (uint32_t i = 0; i < job->uses.count; i++) {
            const struct wfmpi_wf_use *u = &v->uses[job->uses.first + i];
            int rc = u->flags & WFMPI_WF_USE_FOR_PLANNING
                         ? 0
                         : plan_check_lfn(r->w.P, u->lfn, "lfn", u->pos);
            if (rc)
                return rc;
        }
        const uint32_t io[3] = {job->stdin_lfn, job->stdout_lfn, job->stderr_lfn};
        for (int k = 0; k < 3; k++) {
            struct wfmpi_wf_pos at = job->stdio_pos[k].line ? job->stdio_pos[k] : job->pos;
            int rc = io[k] ? plan_check_lfn(r->w.P, io[k], what[k], at) : 0;
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* Pass 1: the producing job of every lfn (outputs, inouts, stdout, stderr). */
static int find_producers(struct wf_run *r)
{
    const struct wfmpi_wf_view *v = r->w.v;
    for (uint32_t j = 0; j < v->n_jobs; j++) {
        const struct wfmpi_wf_job *job = &v->jobs[j];
        for (uint32_t i = 0; i < job->uses.count; i++) {
            const struct wfmpi_wf_use *u = &v->uses[job->uses.first + i];
            if (produces(u->link) && !(u->flags & WFMPI_WF_USE_FOR_PLANNING)) {
                int rc = set_producer(r, j, u->lfn, u->pos);
                if (rc)
                    return rc;
            }
        }
        int rc = 0;
        if (job->stdout_lfn)
            rc = set_producer(r, j, job->stdout_lfn, job->pos);
        if (!rc && job->stderr_lfn)
            rc = set_producer(r, j, job->stderr_lfn, job->pos);
        if (rc)
            return rc;
    }
    return 0;
}

static int push_file(struct planner *P, uint32_t lfn, uint8_t link, uint8_t flags, uint32_t pfn,
                     uint32_t sha)
{
    struct wfmpi_plan_file f = {
        .lfn = lfn, .link = link, .flags = flags, .pfn = pfn, .sha256 = sha};
    return WFMPI_PUSH(P->files, P->n_files, P->cap_files, f) ? oom(P) : 0;
}

static bool job_uses(const struct wfmpi_wf_view *v, const struct wfmpi_wf_job *job, uint32_t lfn)
{
    for (uint32_t i = 0; i < job->uses.count; i++) {
        if (v->uses[job->uses.first + i].lfn == lfn)
            return true;
    }
    return false;
}

/* Resolve one consumed lfn: produced in this workflow -> no pfn (it will be
 * in the work dir), else a workflow input, which a stage-in task must be
 * able to fetch unless the job reads it where it is (bypass). */
static int file_entry(struct wf_run *r, uint32_t j, uint32_t lfn, uint8_t link, uint8_t flags,
                      uint32_t site, struct wfmpi_wf_pos pos)
{
    uint32_t pfn = 0, sha = 0;
    if (link == WFMPI_WF_LINK_INPUT &&
        plan_map_get(&r->w.producer, lfn, UINT32_MAX) == UINT32_MAX) {
        struct wfmpi_wf_pos from = pos;
        int rc = plan_resolve_input(&r->w, lfn, site, pos, &pfn, &sha, &from);
        if (!rc && !(flags & WFMPI_WF_USE_BYPASS))
            rc = plan_check_fetch(r->w.P, pfn, from, "input", lfn);
        if (rc)
            return rc;
    }
    (void)j;
    return push_file(r->w.P, lfn, link, flags, pfn, sha);
}

/* The task's files: its uses (forPlanning ones are for pegasus-plan, not
 * the job) plus stdin/stdout/stderr when the uses do not list them. */
static int job_files(struct wf_run *r, uint32_t j, uint32_t site)
{
    const struct wfmpi_wf_view *v = r->w.v;
    const struct wfmpi_wf_job *job = &v->jobs[j];
    r->w.P->n_files = 0;
    for (uint32_t i = 0; i < job->uses.count; i++) {
        const struct wfmpi_wf_use *u = &v->uses[job->uses.first + i];
        if (u->flags & WFMPI_WF_USE_FOR_PLANNING)
            continue;
        int rc = file_entry(r, j, u->lfn, u->link, u->flags, site, u->pos);
        if (rc)
            return rc;
    }
    const uint32_t io[3] = {job->stdin_lfn, job->stdout_lfn, job->stderr_lfn};
    for (int k = 0; k < 3; k++) {
        if (!io[k] || job_uses(v, job, io[k]))
            continue;
        uint8_t link = k == 0 ? WFMPI_WF_LINK_INPUT : WFMPI_WF_LINK_OUTPUT;
        int rc = file_entry(r, j, io[k], link, WFMPI_WF_USE_STAGE_OUT, site, job->pos);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ tasks */

static int record_task(struct wf_run *r, uint32_t j, int64_t idx)
{
    struct planner *P = r->w.P;
    if (WFMPI_PUSH(P->task_pos, P->n_task_pos, P->cap_task_pos, r->w.v->jobs[j].pos))
        return oom(P);
    uint32_t t = (uint32_t)idx;
    if (wfmpi_grow((void **)&r->ends, &r->cap_ends, r->n_ends + 1, sizeof(*r->ends)))
        return oom(P);
    r->jt[j] = (struct job_tasks){(uint32_t)r->n_ends, 1, (uint32_t)r->n_ends, 1};
    r->ends[r->n_ends++] = t;
    return 0;
}

/* A string that the spec gives as present: "" rather than absent for id 0. */
static uint32_t present(struct planner *P, uint32_t id)
{
    return id ? id : wfmpi_strtab_intern(P->st, "", 0);
}

static void spec_from_res(const struct plan_res *res, struct plan_task_ids *s, struct planner *P)
{
    s->cores = res->set[PQ_CORES] ? (uint32_t)res->num[PQ_CORES] : 1;
    s->gpus = res->set[PQ_GPUS] ? (uint32_t)res->num[PQ_GPUS] : 0;
    /* Fractional MB ("1.5 GB") round up: a request is a lower bound. */
    double mb = res->set[PQ_MEMORY] ? res->num[PQ_MEMORY] : 0;
    s->memory_mb = (uint64_t)mb + ((double)(uint64_t)mb < mb);
    s->runtime_s = res->set[PQ_RUNTIME] ? res->num[PQ_RUNTIME] : 0;
    s->maxwalltime_s = res->set[PQ_MAXWALL] ? res->num[PQ_MAXWALL] : 0;
    s->checkpoint_time_s = res->set[PQ_CKPT] ? res->num[PQ_CKPT] : 0;
    s->retries = res->set[PQ_RETRY] ? (int32_t)res->num[PQ_RETRY] : -1;
    s->priority = res->set[PQ_PRIORITY] ? (int32_t)res->num[PQ_PRIORITY] : 0;
    s->category = res->set[PQ_CATEGORY] ? present(P, res->str[PQ_CATEGORY]) : 0;
    s->successmsg = res->set[PQ_SUCCESS] ? present(P, res->str[PQ_SUCCESS]) : 0;
    s->failuremsg = res->set[PQ_FAILURE] ? present(P, res->str[PQ_FAILURE]) : 0;
}

/* The task id "<prefix><id>": the job's own id string at the top level. */
static uint32_t task_id(struct planner *P, const char *prefix, uint32_t id)
{
    if (!*prefix)
        return present(P, id);
    return plan_intern_concat(P, prefix, strlen(prefix), 0, plan_s(P, id),
                              wfmpi_strtab_len(P->st, id));
}

/* words[] holds argv words (after argv[0]) then env entries from first_env. */
static int add_task(struct wf_run *r, uint32_t j, struct plan_task_ids *s, size_t first_env)
{
    struct planner *P = r->w.P;
    const struct wfmpi_wf_pos at = r->w.v->jobs[j].pos;
    s->pos = (struct wfmpi_plan_pos){at.file, at.line, at.col};
    s->args = P->words;
    s->n_args = (uint32_t)first_env;
    s->env = P->words + first_env;
    s->n_env = (uint32_t)(P->n_words - first_env);
    s->files = P->files;
    s->n_files = (uint32_t)P->n_files;
    int64_t idx = plan_builder_add_task_ids(P->b, s, P->err);
    if (idx < 0) {
        if (idx == WFMPI_E_INPUT) /* duplicate id: say where */
            return plan_pos_error(P, r->w.v->jobs[j].id_pos, WFMPI_E_INPUT, "%s", P->err->text);
        return (int)idx;
    }
    return record_task(r, j, idx);
}

static int plain_job(struct wf_run *r, uint32_t j)
{
    struct planner *P = r->w.P;
    const struct wfmpi_wf_view *v = r->w.v;
    const struct wfmpi_wf_job *job = &v->jobs[j];
    uint32_t ti;
    int rc = plan_resolve_tr(&r->w, job, &ti);
    if (rc)
        return rc;
    const struct plan_tr *t = &r->w.tr[ti];
    struct plan_res res = t->res;
    P->env.n = 0;
    for (uint32_t i = 0; i < t->env_n; i++) {
        if (plan_env_set(&P->env, r->w.benv.kv[2 * (t->env_first + i)],
                         r->w.benv.kv[2 * (t->env_first + i) + 1]))
            return oom(P);
    }
    if ((rc = plan_apply_profiles(P, v, job->profiles, &res, &P->env)))
        return rc;
    if ((rc = job_files(r, j, t->site)))
        return rc;
    struct plan_task_ids s = {0};
    spec_from_res(&res, &s, P);
    /* A container puts its runtime first and the job's executable after it. */
    uint32_t exe = t->exe;
    P->n_words = 0;
    if ((rc = plan_need_exe(&r->w, t)) || (rc = plan_container_prefix(&r->w, t, s.gpus, &exe)))
        return rc;
    if ((rc = split_args(P, v, job)) || (rc = plan_bypass_args(P, P->n_words)))
        return rc;
    size_t n_args = P->n_words;
    if ((rc = add_env_strings(P)))
        return rc;
    if (!(s.id = task_id(P, r->w.prefix, job->id)))
        return oom(P);
    s.transformation = present(P, t->label);
    s.exe = present(P, exe);
    s.container = t->container;
    s.site = present(P, t->site);
    s.stdin_path = job->stdin_lfn;
    s.stdout_path = job->stdout_lfn;
    s.stderr_path = job->stderr_lfn;
    if (!s.transformation || !s.exe || !s.site)
        return oom(P);
    return add_task(r, j, &s, n_args);
}

/* A sub-workflow whose file a job of this workflow writes cannot be read
 * now: it becomes one task that runs `wfmpi run FILE` when its turn comes. */
static int dynamic_subwf(struct wf_run *r, uint32_t j)
{
    struct planner *P = r->w.P;
    const struct wfmpi_wf_view *v = r->w.v;
    const struct wfmpi_wf_job *job = &v->jobs[j];
    struct plan_res res;
    memset(&res, 0, sizeof(res));
    P->env.n = 0;
    int rc = plan_apply_profiles(P, v, v->profiles, &res, &P->env);
    if (!rc)
        rc = plan_apply_profiles(P, v, job->profiles, &res, &P->env);
    if (!rc)
        rc = job_files(r, j, P->s_local);
    if (rc)
        return rc;
    struct plan_task_ids s = {0};
    spec_from_res(&res, &s, P);
    if (!(s.id = task_id(P, r->w.prefix, job->id)))
        return oom(P);
    char rundir[PATH_MAX];
    snprintf(rundir, sizeof(rundir), "%s.run", plan_s(P, s.id));
    const char *file = plan_s(P, job->file);
    P->n_words = 0;
    if (plan_word_add_str(P, "run", 3) || plan_word_add_str(P, file, strlen(file)) ||
        plan_word_add_str(P, "--run-dir", 9) || plan_word_add_str(P, rundir, strlen(rundir)) ||
        add_env_strings(P))
        return -ENOMEM;
    s.transformation = wfmpi_strtab_intern_cstr(P->st, "wfmpi");
    s.exe = wfmpi_strtab_intern_cstr(P->st, P->self_exe);
    s.site = wfmpi_strtab_intern_cstr(P->st, "local");
    if (!s.transformation || !s.exe || !s.site)
        return oom(P);
    return add_task(r, j, &s, 4);
}

/* What the parent's sub-workflow job hands down: its input uses, resolved
 * in the parent (produced there, or a replica/input of the parent). */
static int provided_for(struct wf_run *r, uint32_t j, struct plan_provided **out, size_t *n)
{
    const struct wfmpi_wf_view *v = r->w.v;
    const struct wfmpi_wf_job *job = &v->jobs[j];
    int rc = job_files(r, j, r->w.P->s_local);
    if (rc)
        return rc;
    struct planner *P = r->w.P;
    *out = calloc(P->n_files ? P->n_files : 1, sizeof(**out));
    if (!*out)
        return oom(P);
    *n = 0;
    for (size_t i = 0; i < P->n_files; i++) {
        if (consumes(P->files[i].link))
            (*out)[(*n)++] =
                (struct plan_provided){P->files[i].lfn, P->files[i].pfn, P->files[i].sha256};
    }
    (void)job;
    return 0;
}

/* Append list[0..n) to r->ends; the range it occupies. */
static int push_ends(struct wf_run *r, const uint32_t *list, uint32_t n, uint32_t *first)
{
    if (wfmpi_grow((void **)&r->ends, &r->cap_ends, r->n_ends + n + 1, sizeof(*r->ends)))
        return oom(r->w.P);
    *first = (uint32_t)r->n_ends;
    if (n)
        memcpy(r->ends + r->n_ends, list, n * sizeof(*list));
    r->n_ends += n;
    return 0;
}

static int inline_subwf(struct wf_run *r, uint32_t j)
{
    struct planner *P = r->w.P;
    const struct wfmpi_wf_job *job = &r->w.v->jobs[j];
    char path[PATH_MAX], prefix[PATH_MAX];
    int rc = plan_locate_subwf(&r->w, job->file, job->pos, path, sizeof(path));
    if (rc)
        return rc;
    snprintf(prefix, sizeof(prefix), "%s%s/", r->w.prefix, plan_s(P, job->id));
    struct plan_provided *prov = NULL;
    size_t n_prov = 0;
    uint32_t *roots = NULL, *leaves = NULL, n_roots = 0, n_leaves = 0;
    rc = provided_for(r, j, &prov, &n_prov);
    struct wfmpi_wf_options lopt = {.strtab = P->st, .strict = P->opt && P->opt->strict};
    if (!rc)
        rc = plan_workflow(P, path, prefix, &lopt, prov, n_prov, job->pos, &roots, &n_roots,
                           &leaves, &n_leaves);
    struct job_tasks *jt = &r->jt[j];
    if (!rc) {
        jt->ent_n = n_roots;
        jt->ex_n = n_leaves;
        rc = push_ends(r, roots, n_roots, &jt->ent_first);
    }
    if (!rc)
        rc = push_ends(r, leaves, n_leaves, &jt->ex_first);
    free(prov);
    free(roots);
    free(leaves);
    return rc;
}

/* Pass 2: tasks for every job. */
static int make_tasks(struct wf_run *r)
{
    const struct wfmpi_wf_view *v = r->w.v;
    struct planner *P = r->w.P;
    for (uint32_t j = 0; j < v->n_jobs; j++) {
        const struct wfmpi_wf_job *job = &v->jobs[j];
        int rc;
        if (job->type == WFMPI_WF_CONDOR_WORKFLOW)
            return plan_pos_error(P, job->pos, WFMPI_E_INPUT,
                                  "condorWorkflow jobs are not supported (job '%s')",
                                  plan_s(P, job->id));
        if (job->type == WFMPI_WF_PEGASUS_WORKFLOW)
            rc = plan_map_get(&r->w.producer, job->file, UINT32_MAX) != UINT32_MAX
                     ? dynamic_subwf(r, j)
                     : inline_subwf(r, j);
        else
            rc = plain_job(r, j);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ edges */

static int push_jedge(struct wf_run *r, uint32_t p, uint32_t c)
{
    uint64_t e = (uint64_t)p << 32 | c;
    return WFMPI_PUSH(r->jedges, r->n_jedges, r->cap_jedges, e) ? oom(r->w.P) : 0;
}

/* Pass 3a: job-level edges from jobDependencies and from files. */
static int job_edges(struct wf_run *r)
{
    const struct wfmpi_wf_view *v = r->w.v;
    struct planner *P = r->w.P;
    for (uint32_t i = 0; i < v->n_deps; i++) {
        const struct wfmpi_wf_dep *d = &v->deps[i];
        if (d->parent == d->child)
            return plan_pos_error(P, d->pos, WFMPI_E_INPUT, "job '%s' depends on itself",
                                  plan_s(P, v->jobs[d->child].id));
        if (push_jedge(r, d->parent, d->child))
            return -ENOMEM;
    }
    for (uint32_t j = 0; j < v->n_jobs; j++) {
        const struct wfmpi_wf_job *job = &v->jobs[j];
        for (uint32_t i = 0; i <= job->uses.count; i++) {
            uint32_t lfn = job->stdin_lfn;
            if (i < job->uses.count) {
                const struct wfmpi_wf_use *u = &v->uses[job->uses.first + i];
                if (!consumes(u->link) || (u->flags & WFMPI_WF_USE_FOR_PLANNING))
                    continue;
                lfn = u->lfn;
            }
            uint32_t p = lfn ? plan_map_get(&r->w.producer, lfn, UINT32_MAX) : UINT32_MAX;
            if (p != UINT32_MAX && p != j && push_jedge(r, p, j))
                return -ENOMEM;
        }
    }
    return 0;
}

/* Pass 3b: every job edge P -> C becomes exits(P) x entries(C) task edges;
 * marks which jobs have parents/children inside this workflow. */
static int expand_edges(struct wf_run *r, uint8_t *flags)
{
    struct planner *P = r->w.P;
    for (size_t i = 0; i < r->n_jedges; i++) {
        uint32_t p = (uint32_t)(r->jedges[i] >> 32), c = (uint32_t)r->jedges[i];
        flags[p] |= 2;
        flags[c] |= 1;
        const struct job_tasks *jp = &r->jt[p], *jc = &r->jt[c];
        for (uint32_t a = 0; a < jp->ex_n; a++) {
            for (uint32_t b = 0; b < jc->ent_n; b++) {
                int rc = wfmpi_plan_builder_add_edge(P->b, r->ends[jp->ex_first + a],
                                                     r->ends[jc->ent_first + b], P->err);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* The workflow's roots (entries of jobs without parents) and leaves (exits
 * of jobs without children), for the parent to connect to. */
static int collect_ends(struct wf_run *r, const uint8_t *flags, uint32_t **roots, uint32_t *n_roots,
                        uint32_t **leaves, uint32_t *n_leaves)
{
    size_t n = r->n_ends ? r->n_ends : 1;
    *roots = malloc(n * sizeof(**roots));
    *leaves = malloc(n * sizeof(**leaves));
    if (!*roots || !*leaves)
        return oom(r->w.P);
    *n_roots = *n_leaves = 0;
    for (uint32_t j = 0; j < r->w.v->n_jobs; j++) {
        const struct job_tasks *jt = &r->jt[j];
        for (uint32_t k = 0; !(flags[j] & 1) && k < jt->ent_n; k++)
            (*roots)[(*n_roots)++] = r->ends[jt->ent_first + k];
        for (uint32_t k = 0; !(flags[j] & 2) && k < jt->ex_n; k++)
            (*leaves)[(*n_leaves)++] = r->ends[jt->ex_first + k];
    }
    return 0;
}

/* ------------------------------------------------------------ one workflow */

static void run_fini(struct wf_run *r)
{
    struct plan_wfc *w = &r->w;
    plan_map_fini(&w->producer);
    plan_map_fini(&w->tc_by_name);
    plan_map_fini(&w->rc_by_lfn);
    plan_map_fini(&w->tr_by_name);
    plan_map_fini(&w->input_by_lfn);
    free(w->tc_next);
    free(w->rc_next);
    free(w->tr);
    free(w->benv.kv);
    free(w->inputs);
    free(w->dir);
    wfmpi_wf_destroy(w->wf);
    free(r->jt);
    free(r->ends);
    free(r->jedges);
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Refuse a workflow that includes itself (directly or not) and nesting
 * deeper than PLAN_MAX_NESTING. */
static int push_stack(struct planner *P, const char *path, struct wfmpi_wf_pos at)
{
    char *real = realpath(path, NULL);
    /* A path that names nothing is bad input, worded as the loader words it
     * (a sub-workflow's file was found before it gets here). */
    if (!real && (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == ELOOP ||
                  errno == ENAMETOOLONG))
        return wfmpi_error_set(P->err, WFMPI_E_INPUT, "%s: cannot read the workflow file: %s", path,
                               strerror(errno));
    if (!real)
        return wfmpi_error_set(P->err, -errno, "%s: %s", path, strerror(errno));
    for (int i = 0; i < P->depth; i++) {
        if (strcmp(P->stack[i], real) == 0) {
            free(real);
            return plan_pos_error(P, at, WFMPI_E_INPUT, "sub-workflow '%s' includes itself", path);
        }
    }
    if (P->depth > PLAN_MAX_NESTING) {
        free(real);
        return plan_pos_error(P, at, WFMPI_E_INPUT, "sub-workflows nested deeper than %d",
                              PLAN_MAX_NESTING);
    }
    P->stack[P->depth++] = real;
    return 0;
}

static int load(struct planner *P, struct wf_run *r, const char *path,
                const struct wfmpi_wf_options *lopt)
{
    double t0 = wfmpi_mono();
    r->w.wf = wfmpi_wf_load(path, lopt, P->err);
    P->load_s += wfmpi_mono() - t0;
    if (!r->w.wf)
        return P->err->code ? P->err->code : WFMPI_E_INPUT;
    r->w.v = wfmpi_wf_view(r->w.wf);
    r->w.dir = dir_of(path);
    if (r->w.v->n_jobs) {
        uint32_t id = r->w.v->jobs[0].pos.file;
        struct plan_fname f = {id, strdup(plan_s(P, id))};
        if (!f.name || WFMPI_PUSH(P->fnames, P->n_fnames, P->cap_fnames, f)) {
            free(f.name);
            return oom(P);
        }
    }
    r->jt = calloc(r->w.v->n_jobs ? r->w.v->n_jobs : 1, sizeof(*r->jt));
    if (!r->w.dir || !r->jt)
        return oom(P);
    int rc = plan_wfc_index(&r->w);
    return rc ? rc : plan_check_catalogs(&r->w);
}

/* The main workflow's builder is created once its name is known. */
static int ensure_builder(struct planner *P, struct wf_run *r, const char *path)
{
    if (P->b)
        return 0;
    P->b = wfmpi_plan_builder_create(plan_s(P, r->w.v->name));
    if (!P->b)
        return oom(P);
    wfmpi_plan_builder_adopt_strtab(P->b, P->st);
    /* The text is read again only if the checkpoint asks for it. */
    uint64_t size;
    int64_t mtime;
    int fd = wfmpi_wf_text_file(r->w.wf, &size, &mtime);
    int rc;
    if (fd >= 0) {
        rc = plan_builder_set_source_file(P->b, path, fd, size, mtime);
    } else {
        size_t len;
        const char *text = wfmpi_wf_text(r->w.wf, &len);
        rc = wfmpi_plan_builder_set_source(P->b, path, text, len);
    }
    if (rc || plan_keys_init(P))
        return oom(P);
    return 0;
}

/* The files this workflow's load read go into the plan (the plan cache's
 * key). The main workflow's come first, its own file first of all. */
static int add_sources(struct planner *P, const struct wfmpi_wf *wf)
{
    uint32_t n;
    const struct wfmpi_wf_source *s = wfmpi_wf_sources(wf, &n);
    return plan_builder_add_sources(P->b, s, n) ? oom(P) : 0;
}

/* Room for this workflow's tasks, argv words, files and edges, and their
 * positions. Estimates (argv words may split further, stdio adds files), so
 * the arrays can still grow, but rarely. */
static int reserve(struct planner *P, const struct wfmpi_wf_view *v)
{
    size_t words = (size_t)v->n_args + v->n_jobs;
    if (plan_builder_reserve(P->b, v->n_jobs, words, v->n_uses, (size_t)v->n_deps + v->n_uses) ||
        wfmpi_grow((void **)&P->task_pos, &P->cap_task_pos, P->n_task_pos + v->n_jobs,
                   sizeof(*P->task_pos)))
        return oom(P);
    return 0;
}

static int plan_workflow(struct planner *P, const char *path, const char *prefix,
                         const struct wfmpi_wf_options *lopt, const struct plan_provided *provided,
                         size_t n_provided, struct wfmpi_wf_pos at, uint32_t **roots,
                         uint32_t *n_roots, uint32_t **leaves, uint32_t *n_leaves)
{
    struct wf_run r;
    memset(&r, 0, sizeof(r));
    r.w.P = P;
    r.w.prefix = prefix;
    r.w.provided = provided;
    r.w.n_provided = n_provided;
    int rc = push_stack(P, path, at);
    if (rc)
        return rc;
    uint8_t *flags = NULL;
    rc = load(P, &r, path, lopt);
    if (!rc)
        rc = ensure_builder(P, &r, path);
    if (!rc)
        rc = add_sources(P, r.w.wf);
    if (!rc && P->depth == 1)
        plan_output_site(P, r.w.v);
    if (!rc)
        rc = reserve(P, r.w.v);
    if (!rc)
        rc = plan_categories(P, r.w.v);
    if (!rc)
        rc = check_lfns(&r);
    if (!rc)
        rc = find_producers(&r);
    if (!rc)
        rc = make_tasks(&r);
    if (!rc)
        rc = job_edges(&r);
    if (!rc && !(flags = calloc(r.w.v->n_jobs ? r.w.v->n_jobs : 1, 1)))
        rc = oom(P);
    if (!rc)
        rc = expand_edges(&r, flags);
    if (!rc && roots)
        rc = collect_ends(&r, flags, roots, n_roots, leaves, n_leaves);
    free(flags);
    run_fini(&r);
    free(P->stack[--P->depth]);
    return rc;
}

/* ------------------------------------------------------------ entry */

static void planner_fini(struct planner *P)
{
    for (size_t i = 0; i < P->n_fnames; i++)
        free(P->fnames[i].name);
    free(P->fnames);
    free(P->task_pos);
    free(P->env.kv);
    free(P->sbuf);
    free(P->words);
    free(P->files);
    plan_data_fini(P);
}

/* A cycle: name the jobs and point at the first one's position. */
static void cycle_error(struct planner *P, const uint32_t *cyc, uint32_t n)
{
    if (!n || cyc[0] >= P->n_task_pos)
        return;
    char msg[WFMPI_ERROR_TEXT_MAX];
    snprintf(msg, sizeof(msg), "%s", P->err->text);
    struct wfmpi_wf_pos pos = P->task_pos[cyc[0]];
    const char *file = "?";
    for (size_t i = 0; i < P->n_fnames; i++) {
        if (P->fnames[i].id == pos.file)
            file = P->fnames[i].name;
    }
    wfmpi_error_set(P->err, WFMPI_E_INPUT, "%s:%u:%u: %s", file, pos.line, pos.col, msg);
}

static void find_self_exe(struct planner *P)
{
    ssize_t n = readlink("/proc/self/exe", P->self_exe, sizeof(P->self_exe) - 1);
    if (n <= 0)
        n = (ssize_t)snprintf(P->self_exe, sizeof(P->self_exe), "wfmpi");
    P->self_exe[n] = '\0';
}

struct wfmpi_plan *wfmpi_plan_create(const char *path, const struct wfmpi_plan_options *opt,
                                     struct wfmpi_error *err)
{
    struct wfmpi_error local;
    struct planner P;
    memset(&P, 0, sizeof(P));
    P.opt = opt;
    P.err = err ? err : &local;
    wfmpi_error_clear(P.err);
    find_self_exe(&P);
    P.st = wfmpi_strtab_create();
    if (!P.st) {
        wfmpi_error_set(P.err, -ENOMEM, "out of memory");
        return NULL;
    }
    struct wfmpi_wf_options lopt = {.strtab = P.st};
    if (opt) {
        lopt.rc_file = opt->rc_file;
        lopt.tc_file = opt->tc_file;
        lopt.sc_file = opt->sc_file;
        lopt.no_default_catalogs = opt->no_default_catalogs;
        lopt.strict = opt->strict;
    }
    struct wfmpi_wf_pos none = {0, 0, 0};
    double t0 = wfmpi_mono();
    int rc = plan_data_init(&P);
    if (!rc)
        rc = plan_workflow(&P, path, "", &lopt, NULL, 0, none, NULL, NULL, NULL, NULL);
    if (!rc)
        rc = plan_data_tasks(&P);
    struct wfmpi_plan *plan = NULL;
    if (!rc) {
        uint32_t *cyc = NULL, n = 0;
        plan = wfmpi_plan_builder_finish(P.b, &cyc, &n, P.err);
        P.b = NULL;
        if (!plan)
            cycle_error(&P, cyc, n);
        free(cyc);
    }
    if (plan)
        wfmpi_info("planned %u tasks, %u edges in %.2f s (loading %.2f s), %zu MB",
                   wfmpi_plan_view(plan)->n_tasks, wfmpi_plan_view(plan)->n_edges,
                   wfmpi_mono() - t0, P.load_s, wfmpi_plan_bytes(plan) >> 20);
    if (P.b)
        wfmpi_plan_builder_destroy(P.b); /* owns (and frees) the string table */
    else if (!plan && rc)
        wfmpi_strtab_destroy(P.st); /* failed before a builder adopted it */
    planner_fini(&P);
    return plan;
}
