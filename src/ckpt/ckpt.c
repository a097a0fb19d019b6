/* Checkpoint orchestration: open or resume a run directory, record events,
 * group-commit the journal, rate-limit snapshots. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_int.h"
#include "wfmpi/exec.h"
#include "wfmpi/wf.h"

/* A snapshot is forced once the journal file is this large, whatever the
 * rate limit says, so the journal stays bounded (about 30 bytes a task:
 * half a million tasks). Only runs of very short tasks reach it; with real
 * tasks the rate limit snapshots long before. */
#define JOURNAL_MAX_DEFAULT ((size_t)16 << 20)

struct wfmpi_ckpt {
    char run_dir[PATH_MAX];
    char journal_path[PATH_MAX + 16];
    const struct wfmpi_plan *plan;
    const struct wfmpi_plan_view *v;
    char hash[WFMPI_SHA256_HEX_LEN];
    struct ckpt_state st;
    const char **ids; /* per task, into the plan's strings */
    uint64_t *hashes; /* per task, what decides how it runs */
    struct ckpt_taskinfo ti; /* what each task is, for readers of the run dir */
    struct journal j;
    uint64_t snap_seq; /* journal seq folded into the last snapshot */
    double last_snap, snap_cost;
    struct wfmpi_ckpt_options opt;
    uint32_t run_index;
    struct wfmpi_error err;
    bool append_journal; /* resume: continue the old journal, no snapshot at open */
    bool ti_built; /* c->ti filled (only needed to write a new plan file) */
    /* Task events of this commit round, not yet a journal record. */
    unsigned char events[JOURNAL_MAX_PAYLOAD];
    size_t events_len;
    bool starts_pending; /* a start is buffered: the next commit must write */
};

static int flush_events(struct wfmpi_ckpt *c);

/* wfmpi_ckpt_commit_lazy holds task ends back at most this long or this
 * much (they are written with the next start anyway). */
#define COMMIT_LAZY_S 1.0
#define COMMIT_LAZY_BYTES ((size_t)1 << 20)

/* ------------------------------------------------------ per-task hashes */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
    return fnv(h, s, strlen(s) + 1);
}

/* What decides how a task runs: a change here means its result is stale. */
static uint64_t task_hash(const struct wfmpi_plan *p, const struct wfmpi_plan_view *v, uint32_t i)
{
    const struct wfmpi_plan_task *t = &v->tasks[i];
    uint64_t h = fnv_str(14695981039346656037ull, wfmpi_plan_str(p, t->id));
    h = fnv_str(h, wfmpi_plan_str(p, t->exe));
    for (uint32_t k = 0; k < t->argv.count; k++)
        h = fnv_str(h, wfmpi_plan_str(p, v->strs[t->argv.first + k]));
    for (uint32_t k = 0; k < t->env.count; k++)
        h = fnv_str(h, wfmpi_plan_str(p, v->strs[t->env.first + k]));
    for (uint32_t k = 0; k < t->files.count; k++) {
        const struct wfmpi_plan_file *f = &v->files[t->files.first + k];
        h = fnv_str(h, wfmpi_plan_str(p, f->lfn));
        h = fnv(h, &f->link, 1);
    }
    for (uint32_t k = 0; k < t->parents.count; k++)
        h = fnv_str(h, wfmpi_plan_str(p, v->tasks[v->edges_in[t->parents.first + k]].id));
    uint64_t res[4] = {t->cores, t->gpus, t->memory_mb, (uint64_t)(t->maxwalltime_s * 1000)};
    return fnv(h, res, sizeof(res));
}

static int build_index(struct wfmpi_ckpt *c)
{
    uint32_t n = c->v->n_tasks;
    c->ids = malloc((n ? n : 1) * sizeof(*c->ids));
    c->hashes = malloc((n ? n : 1) * sizeof(*c->hashes));
    if (!c->ids || !c->hashes)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        c->ids[i] = wfmpi_plan_str(c->plan, c->v->tasks[i].id);
        c->hashes[i] = task_hash(c->plan, c->v, i);
    }
    return 0;
}

/* ----------------------------------------------------------- resume */

struct old_run {
    struct snapshot_meta meta;
    struct ckpt_state st;
    char **ids;
    uint64_t *hashes;
    struct journal_replay_info replay;
};

static void old_run_free(struct old_run *o)
{
    for (uint32_t i = 0; o->ids && i < o->st.n_tasks; i++)
        free(o->ids[i]);
    free(o->ids);
    free(o->hashes);
    ckpt_state_fini(&o->st);
}

static int replay_apply(void *ctx, enum journal_type type, const unsigned char *p, size_t len)
{
    return ckpt_state_apply(ctx, type, p, len);
}

/* Load state.h5 and replay the journal on top of it. */
static int load_old(const char *run_dir, const char *journal, struct old_run *o,
                    const char *same_hash, struct wfmpi_error *err)
{
    memset(o, 0, sizeof(*o));
    int rc = snapshot_probe(run_dir, err);
    if (rc == 0)
        rc = snapshot_read(run_dir, &o->meta, &o->st, &o->ids, &o->hashes, same_hash, err);
    if (rc < 0)
        return rc;
    return journal_replay(journal, o->meta.hash, o->meta.journal_seq, replay_apply, &o->st,
                          &o->replay, err);
}

/* old index for each new task (UINT32_MAX: new), counting the differences. */
static int match_tasks(struct wfmpi_ckpt *c, const struct old_run *o, uint32_t *map,
                       uint32_t counts[3])
{
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    uint32_t *slot = calloc((size_t)o->st.n_tasks + 2, sizeof(uint32_t));
    if (!t || !slot) {
        wfmpi_strtab_destroy(t);
        free(slot);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < o->st.n_tasks; i++) {
        uint32_t id = wfmpi_strtab_intern_cstr(t, o->ids[i]);
        if (id && id <= o->st.n_tasks + 1)
            slot[id] = i + 1;
    }
    uint32_t matched = 0;
    counts[0] = counts[1] = counts[2] = 0; /* added, removed, changed */
    for (uint32_t i = 0; i < c->v->n_tasks; i++) {
        uint32_t id = wfmpi_strtab_find(t, c->ids[i], strlen(c->ids[i]));
        map[i] = id && id <= o->st.n_tasks + 1 && slot[id] ? slot[id] - 1 : UINT32_MAX;
        if (map[i] == UINT32_MAX) {
            counts[0]++;
            continue;
        }
        matched++;
        if (o->hashes[map[i]] != c->hashes[i]) {
            counts[2]++;
            map[i] = UINT32_MAX; /* a changed task runs again */
        }
    }
    counts[1] = o->st.n_tasks - matched;
    wfmpi_strtab_destroy(t);
    free(slot);
    return 0;
}

/* Checksums of produced files follow their task to its new index; those
 * of tasks that are gone or changed are dropped (the files will be made
 * again). */
static void adopt_files(struct wfmpi_ckpt *c, struct old_run *o, const uint32_t *map)
{
    uint32_t *to = malloc((o->st.n_tasks ? o->st.n_tasks : 1) * sizeof(*to));
    if (!to)
        return; /* a resume without them: they are informational */
    for (uint32_t i = 0; i < o->st.n_tasks; i++)
        to[i] = UINT32_MAX;
    for (uint32_t i = 0; i < c->v->n_tasks; i++) {
        if (map[i] != UINT32_MAX)
            to[map[i]] = i;
    }
    size_t k = 0;
    for (size_t i = 0; i < o->st.n_files; i++) {
        struct wfmpi_ckpt_file f = o->st.files[i];
        if (to[f.task] == UINT32_MAX) {
            free(f.lfn);
            continue;
        }
        f.task = to[f.task];
        o->st.files[k++] = f;
    }
    free(to);
    free(c->st.files);
    c->st.files = o->st.files;
    c->st.n_files = k;
    c->st.cap_files = o->st.cap_files;
    o->st.files = NULL;
    o->st.n_files = o->st.cap_files = 0;
}

/* The rescue of one task: a FAILED task is READY again with none of its
 * retries used (its attempt numbers go on, so attempt 3 follows two failed
 * ones and their logs stay), a BLOCKED one waits for its ancestors again.
 * Its last failure detail stays until the next attempt ends. */
static void rescue_task(struct wfmpi_ckpt_task *t, uint32_t i, struct wfmpi_ckpt_recovered *rec)
{
    if (t->state == WFMPI_TASK_FAILED) {
        t->state = WFMPI_TASK_READY;
        t->retries = 0;
        if (rec->retried < WFMPI_CKPT_RETRIED_SHOWN)
            rec->retried_first[rec->retried] = i;
        rec->retried++;
    } else if (t->state == WFMPI_TASK_BLOCKED) {
        t->state = WFMPI_TASK_UNREADY;
        rec->unblocked++;
    }
}

/* Carry matched tasks' state over; RUNNING ones are requeued, and with
 * retry_failed FAILED ones are retried. */
static void adopt_state(struct wfmpi_ckpt *c, struct old_run *o, const uint32_t *map,
                        struct wfmpi_ckpt_recovered *rec)
{
    for (uint32_t i = 0; i < c->v->n_tasks; i++) {
        if (map[i] == UINT32_MAX)
            continue;
        struct wfmpi_ckpt_task *t = &c->st.tasks[i];
        *t = o->st.tasks[map[i]];
        c->st.details[i] = o->st.details[map[i]];
        o->st.details[map[i]] = NULL;
        if (t->state == WFMPI_TASK_RUNNING) {
            t->state = WFMPI_TASK_READY;
            rec->requeued++;
        }
        if (c->opt.retry_failed)
            rescue_task(t, i, rec);
        rec->done += t->state == WFMPI_TASK_DONE;
        rec->failed += t->state == WFMPI_TASK_FAILED;
    }
    /* Events keep their old task indexes only when the plan is the same. */
    bool same = strcmp(o->meta.hash, c->hash) == 0;
    if (same) {
        free(c->st.events);
        c->st.events = o->st.events;
        c->st.n_events = o->st.n_events;
        c->st.cap_events = o->st.cap_events;
        c->st.events_crc = 0;
        c->st.events_summed = 0;
        o->st.events = NULL;
    }
    c->st.runs = o->st.runs;
    c->st.n_runs = o->st.n_runs;
    c->st.cap_runs = o->st.cap_runs;
    o->st.runs = NULL;
    adopt_files(c, o, map);
    /* A run that ended without a RUN_END record was killed. */
    rec->runs = (uint32_t)c->st.n_runs;
}

static int resume(struct wfmpi_ckpt *c, struct wfmpi_ckpt_recovered *rec, struct wfmpi_error *err)
{
    struct old_run o;
    int rc = load_old(c->run_dir, c->journal_path, &o, c->hash, err);
    uint32_t *map = rc == 0 ? malloc((c->v->n_tasks + 1) * sizeof(uint32_t)) : NULL;
    uint32_t counts[3] = {0};
    if (rc == 0 && !map)
        rc = -ENOMEM;
    bool same = rc == 0 && strcmp(o.meta.hash, c->hash) == 0;
    if (rc == 0 && same && o.st.n_tasks != c->v->n_tasks)
        rc = wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s/state.h5: %u tasks, the plan has %u",
                             c->run_dir, o.st.n_tasks, c->v->n_tasks);
    /* The same plan: task i is task i (the usual rescue; no ids to match). */
    for (uint32_t i = 0; rc == 0 && same && i < c->v->n_tasks; i++)
        map[i] = i;
    if (rc == 0 && !same)
        rc = match_tasks(c, &o, map, counts);
    if (rc == 0 && strcmp(o.meta.hash, c->hash) != 0 && !c->opt.force_resume)
        rc = wfmpi_error_set(err, WFMPI_E_INPUT,
                             "the workflow changed since the run in %s: %u jobs added, %u "
                             "removed, %u changed; rerun with --force-resume to keep the "
                             "unchanged jobs' results, or --fresh to start over",
                             c->run_dir, counts[0], counts[1], counts[2]);
    if (rc == 0) {
        rec->resumed = true;
        rec->dropped_torn_tail = o.replay.torn_tail;
        adopt_state(c, &o, map, rec);
        c->snap_seq =
            o.replay.last_seq > o.meta.journal_seq ? o.replay.last_seq : o.meta.journal_seq;
        /* The old journal can be appended to when it is whole and belongs to
         * this plan: no snapshot of the whole run is needed to start. */
        c->append_journal = same && !o.replay.torn_tail;
    }
    free(map);
    old_run_free(&o);
    return rc;
}

/* ----------------------------------------------------------- open */

static bool exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* After --fresh moved the run dir aside (with the lock file in it): make
 * the new one (mkdir, not -p: a directory already there is another run's)
 * and lock it before anything is written in it. Of two runs racing for the
 * new directory exactly one gets it; the other refuses as any second run
 * does. */
static int relock(struct wfmpi_ckpt *c, struct wfmpi_error *err)
{
    if (mkdir(c->run_dir, 0777) < 0)
        return wfmpi_error_set(err, errno == EEXIST ? WFMPI_E_INPUT : -errno,
                               "%s: %s (another run made it while --fresh moved the old "
                               "one aside)",
                               c->run_dir, strerror(errno));
    if (!c->opt.lock || c->opt.lock->fd < 0)
        return 0;
    char path[PATH_MAX + 8], other[256];
    snprintf(path, sizeof(path), "%s/lock", c->run_dir);
    struct wfmpi_lock fresh;
    int rc = wfmpi_lock_take(&fresh, path, c->opt.lock_holder ? c->opt.lock_holder : "wfmpi\n",
                             other, sizeof(other));
    if (rc == -EAGAIN)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s is in use by another wfmpi run (%s)",
                               c->run_dir, other[0] ? other : "holder unknown");
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: cannot lock: %s", path, wfmpi_strerror(rc));
    wfmpi_lock_release(c->opt.lock);
    *c->opt.lock = fresh;
    return 0;
}

/* --fresh never deletes: the old directory moves to DIR.old-<time>. */
static int move_aside(struct wfmpi_ckpt *c, struct wfmpi_ckpt_recovered *rec,
                      struct wfmpi_error *err)
{
    char stamp[32], dst[PATH_MAX + 64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    snprintf(dst, sizeof(dst), "%s.old-%s", c->run_dir, stamp);
    for (int k = 1; access(dst, F_OK) == 0 && k < 100; k++)
        snprintf(dst, sizeof(dst), "%s.old-%s.%d", c->run_dir, stamp, k);
    if (rename(c->run_dir, dst) < 0)
        return wfmpi_error_set(err, -errno, "cannot move %s aside: %s", c->run_dir,
                               strerror(errno));
    size_t n = strlen(dst);
    if (n >= sizeof(rec->moved_aside))
        n = sizeof(rec->moved_aside) - 1;
    memcpy(rec->moved_aside, dst, n);
    rec->moved_aside[n] = '\0';
    int rc = relock(c, err);
    if (rc < 0)
        return rc;
    char jobs[PATH_MAX + 8];
    snprintf(jobs, sizeof(jobs), "%s/jobs", c->run_dir);
    rc = wfmpi_mkdir_p(jobs);
    return rc < 0 ? wfmpi_error_set(err, rc, "%s: %s", jobs, wfmpi_strerror(rc)) : 0;
}

static void apply_defaults(struct wfmpi_ckpt_options *o)
{
    if (o->fsync_interval <= 0)
        o->fsync_interval = 0.05;
    if (o->snapshot_share <= 0)
        o->snapshot_share = 0.02;
    if (o->snapshot_min_interval <= 0)
        o->snapshot_min_interval = 10;
    if (o->journal_max == 0)
        o->journal_max = JOURNAL_MAX_DEFAULT;
}

/* Touch memory the master's loop will fill, now: one madvise populates it
 * (Linux >= 5.14) instead of a page fault every 46 events in the loop
 * (about a fifth of what recording cost at --exec null rates). */
static void prefault(void *p, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t b = ((uintptr_t)p + len) & ~((uintptr_t)page - 1);
    if (page <= 0 || b <= a)
        return;
#ifdef MADV_POPULATE_WRITE
    if (madvise((void *)a, b - a, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    memset((void *)a, 0, b - a);
}

static int open_state(struct wfmpi_ckpt *c, struct wfmpi_ckpt_recovered *rec,
                      struct wfmpi_error *err)
{
    int rc = ckpt_state_init(&c->st, c->v->n_tasks);
    /* One end event per task at least: reserve it now, not by doubling in
     * the master's loop. */
    if (rc == 0)
        rc = wfmpi_grow((void **)&c->st.events, &c->st.cap_events, c->v->n_tasks + 1,
                        sizeof(*c->st.events));
    if (rc == 0)
        prefault(c->st.events, c->st.cap_events * sizeof(*c->st.events));
    if (rc == 0)
        rc = build_index(c);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "out of memory for the checkpoint");
    bool have_state = exists(c->run_dir, "state.h5");
    if (c->opt.fresh && (have_state || exists(c->run_dir, "journal")) &&
        (rc = move_aside(c, rec, err)) < 0)
        return rc;
    if (!c->opt.fresh && have_state && (rc = resume(c, rec, err)) < 0)
        return rc;
    if (!c->opt.fresh && !have_state && exists(c->run_dir, "journal"))
        return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                               "%s: journal without state.h5; move the run dir aside or use "
                               "--fresh",
                               c->journal_path);
    if (c->append_journal) {
        /* The rate limit counts from now: the state on disk is current. */
        c->last_snap = wfmpi_mono();
        rc = journal_open_append(&c->j, c->journal_path, c->snap_seq);
        return rc < 0 ? wfmpi_error_set(err, rc, "%s: %s", c->journal_path, wfmpi_strerror(rc)) : 0;
    }
    /* A snapshot now folds in whatever was replayed (a torn tail, another
     * plan) and gives status commands a state.h5 from the first second. */
    return wfmpi_ckpt_snapshot(c) < 0 ? wfmpi_error_set(err, c->err.code, "%s", c->err.text) : 0;
}

struct wfmpi_ckpt *wfmpi_ckpt_open(const char *run_dir, const struct wfmpi_plan *plan,
                                   const struct wfmpi_ckpt_options *opt,
                                   struct wfmpi_ckpt_recovered *rec, struct wfmpi_error *err)
{
    struct wfmpi_ckpt *c = calloc(1, sizeof(*c));
    if (!c) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    memset(rec, 0, sizeof(*rec));
    c->j.fd = -1;
    c->plan = plan;
    c->v = wfmpi_plan_view(plan);
    c->opt = opt ? *opt : (struct wfmpi_ckpt_options){0};
    apply_defaults(&c->opt);
    wfmpi_plan_hash(plan, c->hash);
    snprintf(c->run_dir, sizeof(c->run_dir), "%s", run_dir);
    snprintf(c->journal_path, sizeof(c->journal_path), "%s/journal", run_dir);
    if (open_state(c, rec, err) < 0) {
        wfmpi_ckpt_close(c);
        return NULL;
    }
    return c;
}

void wfmpi_ckpt_close(struct wfmpi_ckpt *c)
{
    if (!c)
        return;
    if (c->j.fd >= 0)
        flush_events(c);
    journal_close(&c->j);
    ckpt_state_fini(&c->st);
    ckpt_taskinfo_fini(&c->ti);
    free(c->ids);
    free(c->hashes);
    free(c);
}

const struct wfmpi_ckpt_task *wfmpi_ckpt_tasks(const struct wfmpi_ckpt *c)
{
    return c->st.tasks;
}
const char *wfmpi_ckpt_error(const struct wfmpi_ckpt *c)
{
    return c->err.text;
}

const char *wfmpi_ckpt_detail(const struct wfmpi_ckpt *c, uint32_t task)
{
    return task < c->st.n_tasks && c->st.details[task] ? c->st.details[task] : "";
}

int wfmpi_ckpt_restore_sched(const struct wfmpi_ckpt *c, struct wfmpi_sched *s,
                             struct wfmpi_error *err)
{
    for (uint32_t i = 0; i < c->v->n_tasks; i++) {
        const struct wfmpi_ckpt_task *t = &c->st.tasks[i];
        /* BLOCKED follows from a FAILED ancestor; UNREADY is the default. */
        if (t->state == WFMPI_TASK_BLOCKED || t->state == WFMPI_TASK_UNREADY)
            continue;
        if (t->state == WFMPI_TASK_READY && t->attempts == 0)
            continue;
        int rc = wfmpi_sched_restore(s, i, (enum wfmpi_task_state)t->state, t->attempts);
        /* Only failed attempts use retries; interrupted ones (drain, lost
         * pilot, a killed master) do not, and the task table knows which. */
        if (rc == 0 && (t->state == WFMPI_TASK_READY || t->state == WFMPI_TASK_RUNNING) &&
            wfmpi_sched_state(s, i) != WFMPI_TASK_BLOCKED)
            rc = wfmpi_sched_restore_retries(s, i, t->retries);
        if (rc < 0)
            return wfmpi_error_set(err, rc, "cannot restore task %s", c->ids[i]);
    }
    return 0;
}

void wfmpi_ckpt_mark_blocked(struct wfmpi_ckpt *c, const struct wfmpi_sched *s)
{
    for (uint32_t i = 0; i < c->v->n_tasks; i++) {
        if (wfmpi_sched_state(s, i) == WFMPI_TASK_BLOCKED)
            c->st.tasks[i].state = WFMPI_TASK_BLOCKED;
    }
}

/* ------------------------------------------------------------ events */

/* The pending task events become one J_EVENTS record. Everything that
 * appends another record or writes the journal calls this first, so the
 * journal keeps the order in which things happened. */
static int flush_events(struct wfmpi_ckpt *c)
{
    if (c->events_len == 0)
        return 0;
    int rc = journal_append(&c->j, J_EVENTS, c->events, c->events_len);
    c->events_len = 0;
    if (rc < 0)
        wfmpi_error_set(&c->err, rc, "%s: cannot record events: %s", c->journal_path,
                        wfmpi_strerror(rc));
    return rc;
}

/* Room for one more event, flushing the round's record when it is full. */
static unsigned char *event_slot(struct wfmpi_ckpt *c)
{
    if (sizeof(c->events) - c->events_len < CKPT_EVENT_MAX && flush_events(c) < 0)
        return NULL;
    return c->events + c->events_len;
}

static int record(struct wfmpi_ckpt *c, enum journal_type type, const void *p, size_t len)
{
    int rc = flush_events(c);
    if (rc < 0)
        return rc;
    rc = journal_append(&c->j, type, p, len);
    if (rc == 0)
        rc = ckpt_state_apply(&c->st, type, p, len);
    if (rc < 0)
        wfmpi_error_set(&c->err, rc, "%s: cannot record an event: %s", c->journal_path,
                        wfmpi_strerror(rc));
    return rc;
}

int wfmpi_ckpt_file_sum(struct wfmpi_ckpt *c, uint32_t task, const char *lfn, const char *sha256)
{
    unsigned char p[JOURNAL_MAX_PAYLOAD];
    size_t len = strlen(lfn);
    if (strlen(sha256) != 64 || !len || 68 + len > sizeof(p))
        return WFMPI_E_INPUT;
    memcpy(p, &task, 4);
    memcpy(p + 4, sha256, 64);
    memcpy(p + 68, lfn, len);
    return record(c, J_FILE_SUM, p, 68 + len);
}

int wfmpi_ckpt_run_start(struct wfmpi_ckpt *c, int32_t ranks, int32_t nodes)
{
    struct rec_run_start r = {wfmpi_wall(), ranks, nodes, c->opt.cores, c->opt.gpus};
    int rc = record(c, J_RUN_START, &r, sizeof(r));
    c->run_index = (uint32_t)(c->st.n_runs ? c->st.n_runs - 1 : 0);
    return rc;
}

int wfmpi_ckpt_task_start(struct wfmpi_ckpt *c, uint32_t task, uint32_t attempt, int32_t rank,
                          int32_t node, uint64_t gpu_mask, double start)
{
    struct rec_task_start r = {task, attempt, rank, node, gpu_mask, start};
    unsigned char *p = event_slot(c);
    if (!p)
        return c->err.code;
    c->events_len += ckpt_events_put_start(p, &r);
    c->starts_pending = true;
    int rc = ckpt_state_apply_start(&c->st, &r);
    if (rc < 0)
        wfmpi_error_set(&c->err, rc, "task %u: cannot record its start", task);
    return rc;
}

struct wfmpi_ckpt_event wfmpi_ckpt_event_of(uint32_t task, uint32_t attempt, int32_t rank,
                                            const struct wfmpi_exec_result *r)
{
    return (struct wfmpi_ckpt_event){.task = task,
                                     .attempt = attempt,
                                     .rank = rank,
                                     .start = r->start_wall,
                                     .end = r->end_wall,
                                     .reason = (uint8_t)r->reason,
                                     .exit_code = r->exit_code,
                                     .signal = r->signal,
                                     .utime = r->utime,
                                     .stime = r->stime,
                                     .maxrss_kb = r->maxrss_kb};
}

int wfmpi_ckpt_task_end(struct wfmpi_ckpt *c, const struct wfmpi_ckpt_event *ev, const char *detail)
{
    struct wfmpi_ckpt_event e = *ev;
    e.run = c->run_index;
    ckpt_events_quantise(&e);
    unsigned char *p = event_slot(c);
    if (!p)
        return c->err.code;
    c->events_len += ckpt_events_put_end(p, &e, detail);
    /* What the record holds: the detail cut at the same length. */
    char cut[WFMPI_CKPT_DETAIL_MAX];
    const char *d = detail ? detail : "";
    if (strnlen(d, sizeof(cut)) == sizeof(cut)) {
        memcpy(cut, d, sizeof(cut) - 1);
        cut[sizeof(cut) - 1] = '\0';
        d = cut;
    }
    int rc = ckpt_state_apply_end(&c->st, &e, d);
    if (rc < 0)
        wfmpi_error_set(&c->err, rc, "%s: cannot record an event: %s", c->journal_path,
                        wfmpi_strerror(rc));
    return rc;
}

int wfmpi_ckpt_commit(struct wfmpi_ckpt *c, bool force_fsync)
{
    int rc = flush_events(c);
    if (rc == 0)
        rc = journal_write(&c->j);
    c->starts_pending = false;
    if (rc == 0 && force_fsync)
        rc = journal_fsync(&c->j);
    else if (rc == 0 && wfmpi_mono() - c->j.last_fsync >= c->opt.fsync_interval)
        rc = journal_fsync_async(&c->j);
    if (rc < 0)
        wfmpi_error_set(&c->err, rc, "%s: %s", c->journal_path, wfmpi_strerror(rc));
    return rc;
}

int wfmpi_ckpt_commit_lazy(struct wfmpi_ckpt *c)
{
    /* Ends alone may wait: a task whose end is lost in a crash is RUNNING
     * in the durable state and runs again, as any running task would. A
     * start may not: the task must never run unrecorded. */
    if (!c->starts_pending && c->j.pending.len + c->events_len < COMMIT_LAZY_BYTES &&
        wfmpi_mono() - c->j.last_write < COMMIT_LAZY_S)
        return flush_events(c);
    return wfmpi_ckpt_commit(c, false);
}

int wfmpi_ckpt_maybe_snapshot(struct wfmpi_ckpt *c)
{
    double since = wfmpi_mono() - c->last_snap;
    /* Spend at most snapshot_share of the time on snapshots: after one that
     * took T seconds, wait T / share before the next. */
    double wait = c->snap_cost / c->opt.snapshot_share;
    if (wait < c->opt.snapshot_min_interval)
        wait = c->opt.snapshot_min_interval;
    if (since < wait && c->j.size + c->j.pending.len < c->opt.journal_max)
        return 0;
    if (c->j.seq == c->snap_seq)
        return 0;
    return wfmpi_ckpt_snapshot(c);
}

int wfmpi_ckpt_snapshot(struct wfmpi_ckpt *c)
{
    double t0 = wfmpi_mono();
    int rc = 0;
    if (c->j.fd >= 0 && ((rc = flush_events(c)) < 0 || (rc = journal_write(&c->j)) < 0 ||
                         (rc = journal_fsync(&c->j)) < 0))
        return wfmpi_error_set(&c->err, rc, "%s: %s", c->journal_path, wfmpi_strerror(rc));
    uint64_t seq = c->j.fd >= 0 ? c->j.seq : c->snap_seq;
    struct snapshot_meta meta = {.journal_seq = seq};
    snprintf(meta.name, sizeof(meta.name), "%s", wfmpi_plan_str(c->plan, c->v->name));
    memcpy(meta.hash, c->hash, sizeof(meta.hash));
    snprintf(meta.work_dir, sizeof(meta.work_dir), "%s", c->opt.work_dir ? c->opt.work_dir : "");
    snprintf(meta.plan_file, sizeof(meta.plan_file), "plan-%.16s.h5", c->hash);
    /* What each task is matters only when the plan file is written. */
    char plan_path[PATH_MAX + 80];
    snprintf(plan_path, sizeof(plan_path), "%s/%s", c->run_dir, meta.plan_file);
    if (!c->ti_built && !snapshot_plan_file_ok(plan_path, c->hash)) {
        if ((rc = ckpt_taskinfo_build(&c->ti, c->plan)) < 0)
            return wfmpi_error_set(&c->err, rc, "out of memory for the checkpoint");
        c->ti_built = true;
    }
    size_t yaml_len = 0;
    const char *yaml = wfmpi_plan_text(c->plan, &yaml_len);
    rc = snapshot_write(c->run_dir, &meta, &c->st, c->ids, c->hashes, &c->ti, yaml, yaml_len,
                        &c->err);
    /* Only a durable snapshot may retire the journal: a crash between the two
     * leaves old records that replay skips by sequence number. */
    if (rc == 0 && (rc = journal_create(&c->j, c->journal_path, seq, c->hash)) < 0)
        wfmpi_error_set(&c->err, rc, "%s: %s", c->journal_path, wfmpi_strerror(rc));
    if (rc == 0) {
        c->snap_seq = seq;
        c->last_snap = wfmpi_mono();
        c->snap_cost = c->last_snap - t0;
    }
    return rc;
}

int wfmpi_ckpt_run_end(struct wfmpi_ckpt *c, int32_t exit_code)
{
    unsigned char p[12];
    double end = wfmpi_wall();
    memcpy(p, &end, 8);
    memcpy(p + 8, &exit_code, 4);
    int rc = record(c, J_RUN_END, p, sizeof(p));
    if (rc == 0)
        rc = wfmpi_ckpt_snapshot(c);
    return rc;
}

/* --------------------------------------------------------- read-only */

struct wfmpi_ckpt_state *wfmpi_ckpt_load(const char *run_dir, struct wfmpi_error *err)
{
    struct stat sb;
    if (stat(run_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        wfmpi_error_set(err, WFMPI_E_INPUT, "%s: no such run directory", run_dir);
        return NULL;
    }
    if (!exists(run_dir, "state.h5")) {
        wfmpi_error_set(err, WFMPI_E_INPUT, "%s: not a wfmpi run directory (no state.h5)", run_dir);
        return NULL;
    }
    char journal[PATH_MAX + 16];
    snprintf(journal, sizeof(journal), "%s/journal", run_dir);
    struct old_run o;
    struct ckpt_taskinfo ti = {0};
    int rc = load_old(run_dir, journal, &o, NULL, err);
    if (rc == 0)
        rc = snapshot_read_taskinfo(run_dir, &ti, err);
    if (rc == 0 && ti.n_tasks != o.st.n_tasks)
        rc = wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s/state.h5 changed while being read", run_dir);
    struct wfmpi_ckpt_state *st = rc == 0 ? calloc(1, sizeof(*st)) : NULL;
    if (rc < 0 || !st) {
        if (rc == 0)
            wfmpi_error_set(err, -ENOMEM, "out of memory");
        old_run_free(&o);
        ckpt_taskinfo_fini(&ti);
        return NULL;
    }
    /* The task info moves into the public state (cmd/out/err were not read). */
    st->xforms = ti.xforms;
    st->n_xforms = ti.n_xforms;
    st->task_xform = ti.xform;
    st->task_cores = ti.cores;
    st->task_gpus = ti.gpus;
    snprintf(st->work_dir, sizeof(st->work_dir), "%s", o.meta.work_dir);
    snprintf(st->workflow_name, sizeof(st->workflow_name), "%s", o.meta.name);
    memcpy(st->workflow_hash, o.meta.hash, sizeof(st->workflow_hash));
    st->n_tasks = o.st.n_tasks;
    st->ids = o.ids;
    st->details = o.st.details;
    st->tasks = o.st.tasks;
    st->events = o.st.events;
    st->n_events = (uint32_t)o.st.n_events;
    st->runs = o.st.runs;
    st->n_runs = (uint32_t)o.st.n_runs;
    st->files = o.st.files;
    st->n_files = (uint32_t)o.st.n_files;
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        if (!st->details[i] && !(st->details[i] = strdup("")))
            break;
    }
    free(o.hashes);
    return st;
}

void wfmpi_ckpt_state_free(struct wfmpi_ckpt_state *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        free(st->ids[i]);
        free(st->details[i]);
    }
    free(st->ids);
    free(st->details);
    free(st->tasks);
    free(st->events);
    free(st->runs);
    for (uint32_t i = 0; i < st->n_files; i++)
        free(st->files[i].lfn);
    free(st->files);
    for (uint32_t k = 0; st->xforms && k < st->n_xforms; k++)
        free(st->xforms[k]);
    free(st->xforms);
    free(st->task_xform);
    free(st->task_cores);
    free(st->task_gpus);
    free(st);
}
