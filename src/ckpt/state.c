/* The run's durable state in memory, rebuilt the same way by the writer (as
 * events happen), by resume, and by the read-only loader: snapshot first,
 * then each journal record applied in order. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"
#include "wfmpi/exec.h"

int ckpt_state_init(struct ckpt_state *st, uint32_t n_tasks)
{
    memset(st, 0, sizeof(*st));
    st->n_tasks = n_tasks;
    st->tasks = calloc(n_tasks ? n_tasks : 1, sizeof(*st->tasks));
    st->details = calloc(n_tasks ? n_tasks : 1, sizeof(*st->details));
    if (!st->tasks || !st->details)
        return -ENOMEM;
    for (uint32_t i = 0; i < n_tasks; i++)
        st->tasks[i].node = st->tasks[i].rank = -1;
    return 0;
}

void ckpt_state_fini(struct ckpt_state *st)
{
    for (uint32_t i = 0; st->details && i < st->n_tasks; i++)
        free(st->details[i]);
    free(st->details);
    free(st->tasks);
    free(st->events);
    free(st->runs);
    for (size_t i = 0; i < st->n_files; i++)
        free(st->files[i].lfn);
    free(st->files);
    memset(st, 0, sizeof(*st));
}

/* Fixed little-endian field order, independent of struct padding (the
 * records of journal format 1). */
#define GET(field)                                                                                 \
    do {                                                                                           \
        if (n + sizeof(field) > len)                                                               \
            return WFMPI_E_CORRUPT;                                                                \
        memcpy(&(field), p + n, sizeof(field));                                                    \
        n += sizeof(field);                                                                        \
    } while (0)

static int decode_end(const unsigned char *p, size_t len, struct wfmpi_ckpt_event *ev, char *detail)
{
    size_t n = 0;
    uint16_t dl = 0;
    GET(ev->task);
    GET(ev->attempt);
    GET(ev->rank);
    GET(ev->node);
    GET(ev->gpu_mask);
    GET(ev->start);
    GET(ev->end);
    GET(ev->reason);
    GET(ev->exit_code);
    GET(ev->signal);
    GET(ev->utime);
    GET(ev->stime);
    GET(ev->maxrss_kb);
    GET(ev->state_after);
    GET(ev->run);
    GET(dl);
    if (dl >= WFMPI_CKPT_DETAIL_MAX || n + dl != len)
        return WFMPI_E_CORRUPT;
    memcpy(detail, p + n, dl);
    detail[dl] = '\0';
    return 0;
}

/* Fold one decoded (or live) end event into the state. */
int ckpt_state_apply_end(struct ckpt_state *st, const struct wfmpi_ckpt_event *evp,
                         const char *detail)
{
    struct wfmpi_ckpt_event ev = *evp;
    if (ev.task >= st->n_tasks || ev.state_after >= WFMPI_TASK_NSTATES ||
        ev.reason >= WFMPI_EXEC_NREASONS)
        return WFMPI_E_CORRUPT;
    if (WFMPI_PUSH(st->events, st->n_events, st->cap_events, ev) < 0)
        return -ENOMEM;
    struct wfmpi_ckpt_task *t = &st->tasks[ev.task];
    t->state = ev.state_after;
    t->reason = ev.reason;
    t->attempts = ev.attempt > t->attempts ? ev.attempt : t->attempts;
    t->exit_code = ev.exit_code;
    t->signal = ev.signal;
    t->rank = ev.rank;
    t->node = ev.node;
    t->gpu_mask = ev.gpu_mask;
    t->start = ev.start;
    t->end = ev.end;
    t->utime = ev.utime;
    t->stime = ev.stime;
    t->maxrss_kb = ev.maxrss_kb;
    if (ev.reason != WFMPI_EXEC_OK && ev.reason != WFMPI_EXEC_INTERRUPTED &&
        ev.state_after == WFMPI_TASK_READY)
        t->retries++;
    if (ev.reason != WFMPI_EXEC_OK && ev.reason != WFMPI_EXEC_INTERRUPTED) {
        char *d = strdup(detail);
        if (!d)
            return -ENOMEM;
        free(st->details[ev.task]);
        st->details[ev.task] = d;
    }
    return 0;
}

static int apply_end(struct ckpt_state *st, const unsigned char *p, size_t len)
{
    struct wfmpi_ckpt_event ev;
    char detail[WFMPI_CKPT_DETAIL_MAX];
    if (decode_end(p, len, &ev, detail) < 0)
        return WFMPI_E_CORRUPT;
    return ckpt_state_apply_end(st, &ev, detail);
}

int ckpt_state_apply_start(struct ckpt_state *st, const struct rec_task_start *r)
{
    if (r->task >= st->n_tasks)
        return WFMPI_E_CORRUPT;
    struct wfmpi_ckpt_task *t = &st->tasks[r->task];
    t->state = WFMPI_TASK_RUNNING;
    t->attempts = r->attempt;
    t->rank = r->rank;
    t->node = r->node;
    t->gpu_mask = r->gpu_mask;
    t->start = r->start;
    t->end = 0;
    return 0;
}

static int apply_start(struct ckpt_state *st, const unsigned char *p, size_t len)
{
    struct rec_task_start r;
    if (len != sizeof(r))
        return WFMPI_E_CORRUPT;
    memcpy(&r, p, sizeof(r));
    return ckpt_state_apply_start(st, &r);
}

int ckpt_state_apply(struct ckpt_state *st, enum journal_type type, const unsigned char *p,
                     size_t len)
{
    switch (type) {
    case J_TASK_START:
        return apply_start(st, p, len);
    case J_TASK_END:
        return apply_end(st, p, len);
    case J_EVENTS:
        return ckpt_state_apply_events(st, p, len);
    case J_RUN_START: {
        struct rec_run_start r = {0};
        if (len != sizeof(r) && len != REC_RUN_START_V0_BYTES)
            return WFMPI_E_CORRUPT;
        memcpy(&r, p, len);
        struct wfmpi_ckpt_run run = {r.start, 0, r.ranks, r.nodes, -1, r.cores, r.gpus};
        return WFMPI_PUSH(st->runs, st->n_runs, st->cap_runs, run);
    }
    case J_FILE_SUM: {
        struct wfmpi_ckpt_file f = {0};
        if (len <= 4 + 64)
            return WFMPI_E_CORRUPT;
        memcpy(&f.task, p, 4);
        memcpy(f.sha256, p + 4, 64);
        if (f.task >= st->n_tasks || !(f.lfn = strndup((const char *)p + 68, len - 68)))
            return f.lfn ? WFMPI_E_CORRUPT : -ENOMEM;
        if (WFMPI_PUSH(st->files, st->n_files, st->cap_files, f)) {
            free(f.lfn);
            return -ENOMEM;
        }
        return 0;
    }
    case J_RUN_END: {
        double end;
        int32_t code;
        if (len != 12 || st->n_runs == 0)
            return WFMPI_E_CORRUPT;
        memcpy(&end, p, 8);
        memcpy(&code, p + 8, 4);
        st->runs[st->n_runs - 1].end = end;
        st->runs[st->n_runs - 1].exit_code = code;
        return 0;
    }
    }
    return WFMPI_E_CORRUPT;
}

/* ---------------------------------------------------- checks on load
 * Only what holds by construction, whatever the run did: a state or
 * reason inside its enum; a task that is or was running, or has ended,
 * has started an attempt (states change only by start and end events,
 * and attempts count from 1); a retry follows a failed attempt, so there
 * are no more retries than attempts; rank and node are -1 (never ran) or
 * more; an event is of a task and a run that exist (run 0 before any run
 * was recorded). A flipped state byte that turns a READY task DONE with
 * no attempt fails here even in a file without checksums. */
static int check_tasks(const struct ckpt_state *st, struct wfmpi_error *err)
{
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        const struct wfmpi_ckpt_task *t = &st->tasks[i];
        if (t->state >= WFMPI_TASK_NSTATES)
            return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                   "table 'tasks' row %u: state %u is not a task state", i,
                                   t->state);
        if (t->reason >= WFMPI_EXEC_NREASONS)
            return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                   "table 'tasks' row %u: reason %u is not an attempt's reason", i,
                                   t->reason);
        bool started = t->state == WFMPI_TASK_RUNNING || t->state == WFMPI_TASK_DONE ||
                       t->state == WFMPI_TASK_FAILED;
        if ((started && t->attempts == 0) || t->retries > t->attempts)
            return wfmpi_error_set(
                err, WFMPI_E_CORRUPT, "table 'tasks' row %u: %s after %u attempts and %u retries",
                i, wfmpi_task_state_name((enum wfmpi_task_state)t->state), t->attempts, t->retries);
        if (t->rank < -1 || t->node < -1)
            return wfmpi_error_set(err, WFMPI_E_CORRUPT, "table 'tasks' row %u: rank %d, node %d",
                                   i, t->rank, t->node);
    }
    return 0;
}

static int check_events(const struct ckpt_state *st, struct wfmpi_error *err)
{
    for (size_t i = 0; i < st->n_events; i++) {
        const struct wfmpi_ckpt_event *e = &st->events[i];
        if (e->task >= st->n_tasks || e->attempt == 0 ||
            (e->run >= st->n_runs && !(st->n_runs == 0 && e->run == 0)))
            return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                   "table 'events' row %zu: task %u of %u, attempt %u, run %u of "
                                   "%zu",
                                   i, e->task, st->n_tasks, e->attempt, e->run, st->n_runs);
        if (e->state_after >= WFMPI_TASK_NSTATES || e->reason >= WFMPI_EXEC_NREASONS ||
            e->rank < -1 || e->node < -1)
            return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                   "table 'events' row %zu: state %u, reason %u, rank %d, node %d",
                                   i, e->state_after, e->reason, e->rank, e->node);
    }
    return 0;
}

int ckpt_state_check(const struct ckpt_state *st, struct wfmpi_error *err)
{
    int rc = check_tasks(st, err);
    return rc < 0 ? rc : check_events(st, err);
}
