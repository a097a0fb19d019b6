/* The master loop: drives the scheduler core, batches task records per
 * worker, runs its own share locally, and feeds results back.
 *
 * Per iteration: take what the scheduler can place, encode each task into
 * its worker's pending batch (or start it locally), flush batches whose
 * previous send has completed, drain every result message that has arrived,
 * reap local tasks. When an iteration does nothing the loop backs off from a
 * spin to short sleeps on the executor's fd, so an idle master does not steal
 * a core from the tasks on its node. Nothing here allocates per task.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_int.h"
#include "wfmpi/wf.h" /* link and flag constants of plan files */

#define DISPATCH_BATCH 256
#define DISPATCH_PER_ROUND 4096
#define LOCAL_RESULTS 64
/* Standbys kept queued behind each task on a worker: two cover a master that
 * answers later than one task lasts (a busy node, ranks sharing cores). */
#define STANDBY_DEPTH 2

/* A worker's outgoing batches: one being filled, one in flight. */
struct peer {
    struct wfmpi_buf out[2];
    int filling; /* index of the batch being filled */
    uint32_t queued; /* records in out[filling] */
    MPI_Request req; /* the in-flight send, or MPI_REQUEST_NULL */
};

struct master {
    struct wfmpi_mpi *m;
    const struct wfmpi_plan *plan;
    const struct wfmpi_plan_view *v;
    struct wfmpi_sched *s;
    const struct wfmpi_run_config *cfg;
    const struct wfmpi_run_hooks *hooks;
    struct wire_config wcfg;
    struct peer *peers; /* by MPI rank; [0] unused */
    MPI_Request *reqs; /* peers[i].req mirrored for MPI_Testsome */
    int *done_idx;
    struct wfmpi_sched_dispatch *running; /* by task: the live attempt */
    struct wfmpi_exec *ex; /* the master's own share */
    struct wfmpi_buf scratch; /* encoding of local tasks, received results */
    struct wfmpi_buf revoke_msg; /* a WIRE_TAG_REVOKE message being sent */
    const char **table; /* decode table for local tasks */
    size_t table_cap;
    uint32_t *local_pending; /* placed on rank 0, started once recorded */
    uint32_t n_local_pending;
    uint32_t *standby; /* by task: 1 + the standby queued behind it, or 0 */
    uint32_t *behind; /* by task: 1 + the task it is queued behind, or 0 */
    uint32_t *took_over; /* worker tasks to queue standbys behind: new or took over */
    uint32_t n_took_over;
    /* Standbys not started yet, densely (waiting_pos: by task, 1 + index),
     * for revocation; revoking: by task, asked back and not answered yet. */
    uint32_t *waiting, *waiting_pos;
    uint32_t n_waiting;
    uint8_t *revoking;
    uint32_t n_standbys; /* standbys queued in this run */
    uint32_t n_taken_back; /* of them, given back unstarted to run elsewhere */
    bool results_seen; /* since the last revocation check */
    /* Exact core sets (binding.c): the cores each live attempt holds, in a
     * table of n_held entries (a free list through free_held), found by
     * task (held_of: 1 + entry, 0 = none). NULL when off (--exec null). */
    struct wfmpi_topo_cpuset *held;
    uint32_t *held_of, *free_held;
    uint32_t n_free_held;
    char pathbuf[2][4096];
    char env_run_dir[4096 + 16]; /* "WFMPI_RUN_DIR=...", the same for every task */
    bool bells; /* every worker can ring us (doorbell.c): all on our node */
};

/* ----------------------------------------------------------- encoding */

static void put_path_or_default(struct master *ms, struct wire_writer *w, uint32_t id,
                                const char *task_id, uint32_t attempt, const char *ext)
{
    if (id) {
        wire_str(w, wfmpi_plan_str(ms->plan, id));
        return;
    }
    wfmpi_job_output_path(ms->pathbuf[0], sizeof(ms->pathbuf[0]), ms->cfg->run_dir, task_id,
                          attempt, ext);
    wire_str(w, ms->pathbuf[0]);
}

/* The task's GPU and binding environment (b from mpi_task_binding()):
 * OMP_PLACES/OMP_PROC_BIND come before the task's own env so the task may
 * override them; the GPU variables come after, so it cannot take GPUs it was
 * not given. */
static uint32_t put_binding_env(struct wire_writer *w, const struct mpi_binding *b, bool omp,
                                bool count_only)
{
    const char *list[5];
    uint32_t k = 0;
    if (b && omp && b->cpuset[0]) {
        list[k++] = "OMP_PLACES=cores";
        list[k++] = "OMP_PROC_BIND=close";
    }
    if (b && !omp && b->env_cpuset[0])
        list[k++] = b->env_cpuset;
    if (b && !omp && b->has_gpus) {
        list[k++] = b->env_cuda;
        list[k++] = "CUDA_DEVICE_ORDER=PCI_BUS_ID";
        list[k++] = b->env_gpus;
    }
    for (uint32_t i = 0; !count_only && i < k; i++)
        wire_str(w, list[i]);
    return k;
}

static void put_env(struct master *ms, struct wire_writer *w, const struct wfmpi_plan_task *t,
                    const struct wfmpi_sched_dispatch *d, int rank, const struct mpi_binding *bd)
{
    wire_u32(w, t->env.count + 6 + put_binding_env(w, bd, true, true) +
                    put_binding_env(w, bd, false, true));
    put_binding_env(w, bd, true, false);
    for (uint32_t i = 0; i < t->env.count; i++)
        wire_str(w, wfmpi_plan_str(ms->plan, ms->v->strs[t->env.first + i]));
    char *b = ms->pathbuf[1];
    size_t n = sizeof(ms->pathbuf[1]);
    snprintf(b, n, "WFMPI_TASK_ID=%s", wfmpi_plan_str(ms->plan, t->id));
    wire_str(w, b);
    snprintf(b, n, "WFMPI_ATTEMPT=%u", d->attempt);
    wire_str(w, b);
    snprintf(b, n, "WFMPI_RANK=%d", rank);
    wire_str(w, b);
    snprintf(b, n, "WFMPI_NODE=%u", d->node);
    wire_str(w, b);
    snprintf(b, n, "OMP_NUM_THREADS=%u", d->cores);
    wire_str(w, b);
    wire_str(w, ms->env_run_dir);
    put_binding_env(w, bd, false, false);
}

static bool required_output(const struct wfmpi_plan_file *f)
{
    return (f->link == WFMPI_WF_LINK_OUTPUT || f->link == WFMPI_WF_LINK_INOUT) &&
           !(f->flags & WFMPI_WF_USE_OPTIONAL);
}

/* Declared outputs that must exist after success: outputs and inouts that
 * are not optional. Checkpoint files are the task's business. */
static void put_outputs(struct master *ms, struct wire_writer *w, const struct wfmpi_plan_task *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->files.count; i++) {
        const struct wfmpi_plan_file *f = &ms->v->files[t->files.first + i];
        n += required_output(f);
    }
    wire_u32(w, n);
    for (uint32_t i = 0; i < t->files.count; i++) {
        const struct wfmpi_plan_file *f = &ms->v->files[t->files.first + i];
        if (required_output(f))
            wire_str(w, wfmpi_plan_str(ms->plan, f->lfn));
    }
}

/* The binding of d: exact cores when they are tracked (a standby's inside
 * those of the attempt it follows, `after`), else round-robin. */
static const struct mpi_binding *bind_task(struct master *ms, const struct wfmpi_sched_dispatch *d,
                                           uint64_t after)
{
    if (!ms->held || ms->n_free_held == 0)
        return mpi_task_binding(ms->m, d);
    uint32_t e = ms->free_held[--ms->n_free_held];
    ms->held_of[d->task] = e + 1;
    uint32_t before = after ? ms->held_of[after >> 32] : 0;
    return mpi_task_binding_exact(ms->m, d, before ? &ms->held[before - 1] : NULL, &ms->held[e]);
}

/* An attempt is over: what it held is free (owned: it had started; a
 * standby that never did held nothing of its own). */
static void unbind_task(struct master *ms, uint32_t task, bool owned)
{
    uint32_t e = ms->held ? ms->held_of[task] : 0;
    if (!e)
        return;
    if (owned)
        mpi_cores_release(ms->m, ms->running[task].node, &ms->held[e - 1]);
    ms->held_of[task] = 0;
    ms->free_held[ms->n_free_held++] = e - 1;
}

/* after: the tag of the attempt a standby follows on its rank, or 0. */
static void encode_task(struct master *ms, struct wire_writer *w,
                        const struct wfmpi_sched_dispatch *d, int rank, uint64_t after)
{
    const struct wfmpi_plan_task *t = &ms->v->tasks[d->task];
    const char *id = wfmpi_plan_str(ms->plan, t->id);
    wire_u32(w, d->task);
    wire_u32(w, d->attempt);
    wire_u32(w, d->cores);
    wire_u64(w, d->gpu_mask);
    wire_f64(w, t->maxwalltime_s);
    wire_f64(w, t->checkpoint_time_s);
    wire_u32(w, (t->stdout_path ? 0 : WIRE_TASK_STDOUT_LAZY) |
                    (t->stderr_path ? 0 : WIRE_TASK_STDERR_LAZY) |
                    (ms->cfg->fresh_logs ? WIRE_TASK_LOGS_FRESH : 0));
    wire_u64(w, after);
    wire_str(w, id);
    wire_str(w, wfmpi_plan_str(ms->plan, t->exe));
    wire_str(w, t->stdin_path ? wfmpi_plan_str(ms->plan, t->stdin_path) : NULL);
    put_path_or_default(ms, w, t->stdout_path, id, d->attempt, "out");
    put_path_or_default(ms, w, t->stderr_path, id, d->attempt, "err");
    wire_str(w, t->successmsg ? wfmpi_plan_str(ms->plan, t->successmsg) : NULL);
    wire_str(w, t->failuremsg ? wfmpi_plan_str(ms->plan, t->failuremsg) : NULL);
    const struct mpi_binding *bd = bind_task(ms, d, after);
    wire_str(w, bd ? bd->cpuset : NULL); /* "" = do not bind */
    wire_u32(w, t->argv.count);
    for (uint32_t i = 0; i < t->argv.count; i++)
        wire_str(w, wfmpi_plan_str(ms->plan, ms->v->strs[t->argv.first + i]));
    put_env(ms, w, t, d, rank, bd);
    put_outputs(ms, w, t);
}

/* ------------------------------------------------------------ results */

static uint64_t make_tag(uint32_t task, uint32_t attempt)
{
    return ((uint64_t)task << 32) | attempt;
}

static enum wfmpi_sched_outcome outcome_of(enum wfmpi_exec_reason r)
{
    if (r == WFMPI_EXEC_OK)
        return WFMPI_SCHED_OK;
    return r == WFMPI_EXEC_INTERRUPTED ? WFMPI_SCHED_INTERRUPTED : WFMPI_SCHED_FAILED;
}

static int rank_of(const struct master *ms, const struct wfmpi_sched_dispatch *d)
{
    return ms->m->slot_rank[d->rank];
}

/* ------------------------------------------------------------ standbys */

static void waiting_add(struct master *ms, uint32_t task)
{
    ms->waiting[ms->n_waiting++] = task;
    ms->waiting_pos[task] = ms->n_waiting;
}

/* task is no standby waiting here any more (it started, ended unstarted or
 * was given back): out of the waiting set, its link to the one before cut. */
static void unqueue(struct master *ms, uint32_t task)
{
    uint32_t pos = ms->waiting_pos[task];
    if (pos) {
        uint32_t last = ms->waiting[--ms->n_waiting];
        ms->waiting[pos - 1] = last;
        ms->waiting_pos[last] = pos;
        ms->waiting_pos[task] = 0;
    }
    uint32_t before = ms->behind[task];
    if (before && ms->standby[before - 1] == task + 1)
        ms->standby[before - 1] = 0;
    ms->behind[task] = 0;
    ms->revoking[task] = 0;
}

/* A standby's start: the moment its predecessor's end reaches us is the
 * moment (give or take the message) the worker started it. */
static void note_started(struct master *ms, const struct wfmpi_sched_dispatch *d)
{
    if (ms->hooks && ms->hooks->on_start)
        ms->hooks->on_start(ms->hooks->ctx, d, rank_of(ms, d));
}

/* The worker gave a standby back unstarted: it is READY again, for the
 * next dispatch to place where a slot is free. */
static void handle_taken_back(struct master *ms, uint64_t tag)
{
    uint32_t task = (uint32_t)(tag >> 32), attempt = (uint32_t)tag;
    if (task >= ms->v->n_tasks || ms->running[task].attempt != attempt ||
        wfmpi_sched_take_back(ms->s, task, attempt) < 0) {
        wfmpi_warn("ignoring a given-back standby %u attempt %u that is not waiting", task,
                   attempt);
        return;
    }
    unbind_task(ms, task, false);
    ms->running[task].attempt = 0;
    unqueue(ms, task);
    ms->n_taken_back++;
}

/* local: the master's own task (a worker's result has been through
 * mpi_drain_signalled's wait on its rank already). */
static void handle_result(struct master *ms, const struct wfmpi_exec_result *r, bool local)
{
    uint32_t task = (uint32_t)(r->tag >> 32), attempt = (uint32_t)r->tag;
    if (task >= ms->v->n_tasks || ms->running[task].attempt != attempt) {
        wfmpi_warn("ignoring a result for task %u attempt %u that is not running", task, attempt);
        return;
    }
    const struct wfmpi_sched_dispatch *d = &ms->running[task];
    struct wfmpi_exec_result integrity;
    if (r->reason == WFMPI_EXEC_EXIT &&
        wfmpi_plan_integrity_exit(&ms->v->tasks[task], r->exit_code)) {
        integrity = *r; /* a stage-in found a checksum mismatch */
        integrity.reason = WFMPI_EXEC_STAGE;
        snprintf(integrity.detail, sizeof(integrity.detail),
                 "input integrity: sha256 mismatch (see %s.err)",
                 wfmpi_plan_str(ms->plan, ms->v->tasks[task].id));
        r = &integrity;
    }
    enum wfmpi_sched_outcome outcome = outcome_of(r->reason);
    /* A task that fails while the run drains was stopped by the drain (its
     * SIGTERM), or by the walltime signal itself before the loop saw it: it
     * must not use up a retry. */
    if (outcome == WFMPI_SCHED_FAILED &&
        (wfmpi_sched_draining(ms->s) || mpi_drain_signalled(ms->m, r, local)))
        outcome = WFMPI_SCHED_INTERRUPTED;
    /* Its standby, if still waiting (not answered first by a drain, nor
     * given back), has started in its place on the worker. */
    uint32_t sb = ms->standby[task];
    bool handed_over = sb && wfmpi_sched_waiting(ms->s, sb - 1);
    unbind_task(ms, task, !wfmpi_sched_waiting(ms->s, task));
    if (handed_over && ms->held && ms->held_of[sb - 1])
        mpi_cores_own(ms->m, ms->running[sb - 1].node, &ms->held[ms->held_of[sb - 1] - 1]);
    if (wfmpi_sched_complete(ms->s, task, attempt, outcome) < 0)
        wfmpi_warn("scheduler refused the result of task %u attempt %u", task, attempt);
    if (ms->hooks && ms->hooks->on_end)
        ms->hooks->on_end(ms->hooks->ctx, d, rank_of(ms, d), r, wfmpi_sched_state(ms->s, task));
    ms->running[task].attempt = 0;
    ms->standby[task] = 0;
    unqueue(ms, task);
    if (handed_over) {
        unqueue(ms, sb - 1);
        note_started(ms, &ms->running[sb - 1]);
        /* One goes behind it in the next dispatch. */
        ms->took_over[ms->n_took_over++] = sb - 1;
    }
}

static void null_result(struct wfmpi_exec_result *r, uint64_t tag)
{
    memset(r, 0, sizeof(*r));
    r->tag = tag;
    r->reason = WFMPI_EXEC_OK;
    r->start_wall = r->end_wall = wfmpi_wall();
}

/* Drain every result message that has arrived. Returns how many results. */
static int recv_results(struct master *ms, struct wfmpi_error *err)
{
    int handled = 0;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, WIRE_TAG_RESULTS, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
            return wfmpi_error_set(err, WFMPI_E_MPI, "MPI_Iprobe failed");
        if (!flag)
            return handled;
        int from = 0;
        int64_t len = mpi_recv_msg(&ms->scratch, st.MPI_SOURCE, WIRE_TAG_RESULTS, &from);
        struct wire_reader r;
        int64_t n = len < 0 ? -1 : wire_open(&r, ms->scratch.data, (size_t)len, WIRE_TAG_RESULTS);
        if (n < 0)
            return wfmpi_error_set(err, WFMPI_E_PROTO, "malformed result message from rank %d",
                                   from);
        for (int64_t i = 0; i < n; i++) {
            struct wfmpi_exec_result res;
            int kind = wire_get_result(&r, &res);
            if (kind < 0)
                return wfmpi_error_set(err, WFMPI_E_PROTO, "malformed result record from rank %d",
                                       from);
            if (kind == 1)
                handle_taken_back(ms, res.tag);
            else
                handle_result(ms, &res, false);
            handled++;
        }
    }
}

static int poll_local(struct master *ms)
{
    struct wfmpi_exec_result res[LOCAL_RESULTS];
    uint32_t n = wfmpi_exec_poll(ms->ex, res, LOCAL_RESULTS, 0);
    for (uint32_t i = 0; i < n; i++)
        handle_result(ms, &res[i], true);
    return (int)n;
}

/* ----------------------------------------------------------- dispatch */

static int start_local(struct master *ms, const struct wfmpi_sched_dispatch *d)
{
    uint64_t tag = make_tag(d->task, d->attempt);
    if (ms->cfg->exec_null) {
        struct wfmpi_exec_result r;
        null_result(&r, tag);
        handle_result(ms, &r, true);
        return 0;
    }
    /* Encode and decode through the same wire code the workers use, so the
     * master's share runs exactly what a worker would. */
    struct wire_writer w;
    wire_begin(&w, &ms->scratch, WIRE_TAG_TASKS);
    encode_task(ms, &w, d, 0, 0);
    wire_finish(&w, 1);
    struct wire_reader r;
    struct wire_task t;
    if (w.rc < 0 || wire_open(&r, ms->scratch.data, ms->scratch.len, WIRE_TAG_TASKS) != 1 ||
        wire_get_task(&r, &t, &ms->table, &ms->table_cap) < 0)
        return w.rc < 0 ? w.rc : WFMPI_E_INTERNAL;
    struct wfmpi_exec_spec spec;
    mpi_task_spec(&t, &ms->wcfg, &spec);
    return wfmpi_exec_start(ms->ex, &spec, tag);
}

static int flush_peer(struct master *ms, int rank)
{
    struct peer *p = &ms->peers[rank];
    if (p->queued == 0 || ms->reqs[rank] != MPI_REQUEST_NULL)
        return 0;
    struct wfmpi_buf *b = &p->out[p->filling];
    struct wire_writer w = {.buf = b, .rc = 0};
    wire_finish(&w, p->queued);
    if (mpi_isend_ring(ms->m, b->data, b->len, rank, WIRE_TAG_TASKS, &ms->reqs[rank]) !=
        MPI_SUCCESS)
        return WFMPI_E_MPI;
    p->filling ^= 1;
    p->queued = 0;
    return 1;
}

static int queue_remote(struct master *ms, const struct wfmpi_sched_dispatch *d, int rank,
                        uint64_t after)
{
    struct peer *p = &ms->peers[rank];
    struct wire_writer w = {.buf = &p->out[p->filling], .rc = 0};
    if (p->queued == 0)
        wire_begin(&w, w.buf, WIRE_TAG_TASKS);
    encode_task(ms, &w, d, rank, after);
    if (w.rc < 0)
        return w.rc;
    p->queued++;
    return 0;
}

static void note_start(struct master *ms, const struct wfmpi_sched_dispatch *d, int rank)
{
    ms->running[d->task] = *d;
    if (ms->hooks && ms->hooks->on_start)
        ms->hooks->on_start(ms->hooks->ctx, d, rank);
}

/* A worker's slot must not wait for the round trip to us when its task
 * ends: keep STANDBY_DEPTH standbys queued behind the attempt of `task` on
 * its rank, each started by the worker the moment the one before it ends
 * (wfmpi_sched_next_behind). Returns how many were queued now. */
static int queue_standbys(struct master *ms, uint32_t task, struct wfmpi_error *err)
{
    int rank = rank_of(ms, &ms->running[task]), n = 0, depth = 0;
    if (rank == 0 || ms->cfg->no_standby)
        return 0;
    while (depth < STANDBY_DEPTH && ms->standby[task] &&
           ms->running[ms->standby[task] - 1].attempt) {
        task = ms->standby[task] - 1;
        depth++;
    }
    struct wfmpi_sched_dispatch sb;
    for (; depth < STANDBY_DEPTH && wfmpi_sched_next_behind(ms->s, task, &sb); depth++, n++) {
        ms->running[sb.task] = sb;
        if (ms->hooks && ms->hooks->on_queue)
            ms->hooks->on_queue(ms->hooks->ctx, &sb, rank);
        else if (ms->hooks && ms->hooks->on_start)
            ms->hooks->on_start(ms->hooks->ctx, &sb, rank);
        ms->standby[task] = sb.task + 1;
        ms->behind[sb.task] = task + 1;
        waiting_add(ms, sb.task);
        ms->n_standbys++;
        int rc = queue_remote(ms, &sb, rank, make_tag(task, ms->running[task].attempt));
        if (rc < 0)
            return wfmpi_error_set(err, rc, "cannot dispatch task %u: %s", sb.task,
                                   wfmpi_strerror(rc));
        task = sb.task;
    }
    return n;
}

/* A small message, sent blocking (it goes eagerly, as a drain's does): it
 * is matched after the task batch that carried the standby (MPI keeps the
 * order of one sender's messages to one receiver). */
static int send_revoke(struct master *ms, int rank, uint64_t tag)
{
    struct wire_writer w;
    wire_begin(&w, &ms->revoke_msg, WIRE_TAG_REVOKE);
    wire_u64(&w, tag);
    wire_finish(&w, 1);
    if (w.rc < 0)
        return w.rc;
    if (MPI_Send(ms->revoke_msg.data, (int)ms->revoke_msg.len, MPI_BYTE, rank, WIRE_TAG_REVOKE,
                 MPI_COMM_WORLD) != MPI_SUCCESS)
        return WFMPI_E_MPI;
    mpi_doorbell_ring(ms->m, rank);
    return 0;
}

/* Ask workers to give back the standbys that a free slot could start now
 * (the tail of a run, a slot freed while a short task waited behind a long
 * one): best first, at most as many as there are free cores. One whose
 * batch has not left yet is left alone (the worker would not know it). */
static int revoke_standbys(struct master *ms, struct wfmpi_error *err)
{
    if (ms->n_waiting == 0)
        return 0;
    uint32_t budget = wfmpi_sched_free_cores(ms->s), sent = 0;
    while (budget > 0) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < ms->n_waiting; i++) {
            uint32_t t = ms->waiting[i];
            if (!ms->revoking[t] && ms->peers[rank_of(ms, &ms->running[t])].queued == 0 &&
                wfmpi_sched_revocable(ms->s, t) &&
                (best == UINT32_MAX || wfmpi_sched_before(ms->s, t, best)))
                best = t;
        }
        if (best == UINT32_MAX)
            break;
        const struct wfmpi_sched_dispatch *d = &ms->running[best];
        uint64_t tag = make_tag(best, d->attempt);
        int rank = rank_of(ms, d);
        if (send_revoke(ms, rank, tag) < 0)
            return wfmpi_error_set(err, WFMPI_E_MPI, "cannot revoke a standby on rank %d", rank);
        ms->revoking[best] = 1;
        budget -= d->cores < budget ? d->cores : budget;
        sent++;
    }
    return (int)sent;
}

/* Take what the scheduler can place now (bounded per loop iteration, so
 * results keep flowing and batches stay small); then, once nothing more
 * fits, a standby behind each worker's attempt (new ones, and standbys that
 * have just taken over): a standby is only for a task that no free slot
 * could start. Nothing starts here: remote tasks wait in their worker's
 * batch and local ones in local_pending until the caller has recorded the
 * starts (DESIGN.md §7: record, then act). */
static int dispatch(struct master *ms, struct wfmpi_error *err)
{
    struct wfmpi_sched_dispatch ds[DISPATCH_BATCH];
    int total = 0, rc;
    uint32_t n;
    while (total < DISPATCH_PER_ROUND && (n = wfmpi_sched_next(ms->s, ds, DISPATCH_BATCH)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            int rank = rank_of(ms, &ds[i]);
            note_start(ms, &ds[i], rank);
            if (rank == 0) {
                ms->local_pending[ms->n_local_pending++] = ds[i].task;
                continue;
            }
            if ((rc = queue_remote(ms, &ds[i], rank, 0)) < 0)
                return wfmpi_error_set(err, rc, "cannot dispatch task %u: %s", ds[i].task,
                                       wfmpi_strerror(rc));
            ms->took_over[ms->n_took_over++] = ds[i].task;
        }
        total += (int)n;
    }
    while (ms->n_took_over > 0) {
        uint32_t task = ms->took_over[--ms->n_took_over];
        if (ms->running[task].attempt && (rc = queue_standbys(ms, task, err)) != 0) {
            if (rc < 0)
                return rc;
            total += rc;
        }
    }
    return total;
}

static int start_pending_local(struct master *ms, struct wfmpi_error *err)
{
    uint32_t n = ms->n_local_pending;
    ms->n_local_pending = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t task = ms->local_pending[i];
        int rc = start_local(ms, &ms->running[task]);
        if (rc < 0)
            return wfmpi_error_set(err, rc, "cannot start task %u: %s", task, wfmpi_strerror(rc));
    }
    return (int)n;
}

/* Complete finished sends and push out the batches waiting behind them. */
static int progress_sends(struct master *ms, struct wfmpi_error *err)
{
    int size = ms->m->size, outcount = 0;
    if (size > 1 &&
        MPI_Testsome(size, ms->reqs, &outcount, ms->done_idx, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return wfmpi_error_set(err, WFMPI_E_MPI, "MPI_Testsome failed");
    /* A large batch is delivered in pieces as both sides progress: a
     * receiver that went back to sleep hears that it is all there. */
    for (int k = 0; k < outcount && outcount != MPI_UNDEFINED; k++)
        mpi_doorbell_ring(ms->m, ms->done_idx[k]);
    int sent = 0;
    for (int r = 1; r < size; r++) {
        int rc = flush_peer(ms, r);
        if (rc < 0)
            return wfmpi_error_set(err, rc, "cannot send tasks to rank %d", r);
        sent += rc;
    }
    return sent;
}

/* ---------------------------------------------------------- the loop */

/* Can every message we wait for ring our bell? Workers all on our node,
 * and no send of ours half-delivered (that one needs us to progress it). */
static bool bells_cover(const struct master *ms)
{
    for (int r = 1; ms->bells && r < ms->m->size; r++)
        if (ms->reqs[r] != MPI_REQUEST_NULL)
            return false;
    return ms->bells;
}

static void idle_wait(struct master *ms, int *idle_rounds)
{
    /* With doorbells, sleep until a local exit or a worker's message. */
    if (bells_cover(ms)) {
        mpi_doorbell_wait(ms->m, wfmpi_exec_fd(ms->ex), MPI_BELL_SLEEP_S);
        return;
    }
    /* Else spin briefly (a result is often microseconds away), then sleep
     * in growing steps up to 1 ms on the executor's fd so local exits wake
     * us. */
    int k = ++*idle_rounds;
    if (k < 64)
        return;
    int us = k < 128 ? 50 : k < 256 ? 200 : 1000;
    struct pollfd pfd = {.fd = wfmpi_exec_fd(ms->ex), .events = POLLIN};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000L};
    ppoll(&pfd, 1, &ts, NULL);
}

/* One entry per attempt that can be live at once: a running task per core
 * (every task needs one) and the standbys queued on the workers. */
static int held_setup(struct master *ms)
{
    uint32_t cores = 0;
    for (uint32_t i = 0; ms->m->sched_nodes && i < ms->m->n_nodes; i++)
        cores += ms->m->sched_nodes[i].cores;
    uint64_t want = (uint64_t)cores + (uint64_t)STANDBY_DEPTH * (uint64_t)ms->m->size + 8;
    uint32_t n = want < ms->v->n_tasks ? (uint32_t)want : ms->v->n_tasks;
    if (n == 0)
        return 0;
    ms->held = malloc((size_t)n * sizeof(*ms->held));
    ms->held_of = calloc(ms->v->n_tasks, sizeof(uint32_t));
    ms->free_held = malloc((size_t)n * sizeof(uint32_t));
    if (!ms->held || !ms->held_of || !ms->free_held)
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        ms->free_held[i] = n - 1 - i;
    ms->n_free_held = n;
    return 0;
}

static int master_setup(struct master *ms, struct wfmpi_error *err)
{
    int size = ms->m->size;
    ms->wcfg = (struct wire_config){ms->cfg->work_dir, ms->cfg->run_dir, ms->cfg->exec_null,
                                    ms->cfg->kill_grace_s};
    snprintf(ms->env_run_dir, sizeof(ms->env_run_dir), "WFMPI_RUN_DIR=%s", ms->cfg->run_dir);
    wfmpi_buf_init(&ms->scratch, WIRE_MAX_MSG);
    wfmpi_buf_init(&ms->revoke_msg, 4096);
    ms->peers = calloc((size_t)size, sizeof(*ms->peers));
    ms->reqs = malloc((size_t)size * sizeof(*ms->reqs));
    ms->done_idx = malloc((size_t)size * sizeof(*ms->done_idx));
    ms->running = calloc(ms->v->n_tasks ? ms->v->n_tasks : 1, sizeof(*ms->running));
    ms->local_pending = malloc((ms->v->n_tasks ? ms->v->n_tasks : 1) * sizeof(uint32_t));
    size_t nt = ms->v->n_tasks ? ms->v->n_tasks : 1;
    ms->standby = calloc(nt, sizeof(uint32_t));
    ms->behind = calloc(nt, sizeof(uint32_t));
    ms->took_over = malloc(nt * sizeof(uint32_t));
    ms->waiting = malloc(nt * sizeof(uint32_t));
    ms->waiting_pos = calloc(nt, sizeof(uint32_t));
    ms->revoking = calloc(nt, 1);
    if (!ms->cfg->exec_null && held_setup(ms) < 0)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the core sets");
    if (!ms->peers || !ms->reqs || !ms->done_idx || !ms->running || !ms->local_pending ||
        !ms->standby || !ms->behind || !ms->took_over || !ms->waiting || !ms->waiting_pos ||
        !ms->revoking)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the master's tables");
    for (int r = 0; r < size; r++) {
        ms->reqs[r] = MPI_REQUEST_NULL;
        wfmpi_buf_init(&ms->peers[r].out[0], WIRE_MAX_MSG);
        wfmpi_buf_init(&ms->peers[r].out[1], WIRE_MAX_MSG);
    }
    if (!(ms->ex = wfmpi_exec_create(err)))
        return err ? err->code : WFMPI_E_INTERNAL;
    ms->bells = ms->m->bell_fd >= 0;
    for (int r = 1; r < size; r++)
        ms->bells = ms->bells && mpi_doorbell_local(ms->m, r);
    wfmpi_info("doorbells: %s", ms->m->bell_fd >= 0 ? "on (ranks of a node wake each other)"
                                                    : "off (idle ranks poll)");
    int rc = mpi_bcast_config(&ms->scratch, &ms->wcfg);
    return rc < 0 ? wfmpi_error_set(err, rc, "cannot send the run configuration") : 0;
}

static void master_teardown(struct master *ms)
{
    if (ms->reqs && ms->m->size > 1)
        MPI_Waitall(ms->m->size, ms->reqs, MPI_STATUSES_IGNORE);
    for (int r = 0; ms->peers && r < ms->m->size; r++) {
        wfmpi_buf_fini(&ms->peers[r].out[0]);
        wfmpi_buf_fini(&ms->peers[r].out[1]);
    }
    wfmpi_exec_destroy(ms->ex);
    wfmpi_buf_fini(&ms->scratch);
    wfmpi_buf_fini(&ms->revoke_msg);
    free(ms->peers);
    free(ms->reqs);
    free(ms->done_idx);
    free(ms->running);
    free(ms->local_pending);
    free(ms->standby);
    free(ms->behind);
    free(ms->took_over);
    free(ms->waiting);
    free(ms->waiting_pos);
    free(ms->revoking);
    free(ms->held);
    free(ms->held_of);
    free(ms->free_held);
    free(ms->table);
}

/* Drain: the scheduler starts nothing more; running tasks get SIGTERM now
 * (time to write their checkpoint files) and SIGKILL after the grace, here
 * and on every worker. */
static int begin_drain(struct master *ms, const char *why, struct wfmpi_error *err)
{
    wfmpi_warn("draining (%s): no new tasks; running tasks get SIGTERM, SIGKILL in %.0f s", why,
               ms->cfg->drain_grace_s);
    wfmpi_sched_drain(ms->s);
    wfmpi_exec_interrupt_all(ms->ex, ms->cfg->drain_grace_s);
    double grace = ms->cfg->drain_grace_s;
    for (int r = 1; r < ms->m->size; r++) {
        if (MPI_Send(&grace, 1, MPI_DOUBLE, r, WIRE_TAG_DRAIN, MPI_COMM_WORLD) != MPI_SUCCESS)
            return wfmpi_error_set(err, WFMPI_E_MPI, "cannot tell rank %d to drain", r);
        mpi_doorbell_ring(ms->m, r);
    }
    return 0;
}

/* Walltime: start nothing that cannot finish, and drain on our own shortly
 * before the end (Slurm's own signal may come late or not at all). */
static int watch_clock(struct master *ms, struct wfmpi_error *err)
{
    if (wfmpi_sched_draining(ms->s))
        return 0;
    if (ms->hooks && ms->hooks->should_drain && ms->hooks->should_drain(ms->hooks->ctx))
        return begin_drain(ms, "signal", err);
    if (ms->cfg->walltime_end <= 0)
        return 0;
    double left = ms->cfg->walltime_end - wfmpi_wall();
    wfmpi_sched_set_time_left(ms->s, left);
    return left <= ms->cfg->drain_before_s ? begin_drain(ms, "walltime near", err) : 0;
}

static int commit(struct master *ms, struct wfmpi_error *err)
{
    if (!ms->hooks || !ms->hooks->on_commit)
        return 0;
    int rc = ms->hooks->on_commit(ms->hooks->ctx);
    return rc < 0 ? wfmpi_error_set(err, rc, "cannot record the run's progress") : 0;
}

static int master_loop(struct master *ms, struct wfmpi_error *err)
{
    double start = wfmpi_mono(), next_progress = start, next_tick = start + 1.0;
    double interval = ms->hooks ? ms->hooks->progress_interval : 0;
    int idle = 0, rc;
    if ((rc = watch_clock(ms, err)) < 0)
        return rc;
    while (!wfmpi_sched_finished(ms->s)) {
        int did = 0;
        wfmpi_sched_set_clock(ms->s, wfmpi_mono());
        if ((rc = dispatch(ms, err)) < 0)
            return rc;
        did += rc;
        /* Starts are recorded before any of them can start. */
        if (rc && (rc = commit(ms, err)) < 0)
            return rc;
        if ((rc = start_pending_local(ms, err)) < 0)
            return rc;
        did += rc;
        if ((rc = progress_sends(ms, err)) < 0)
            return rc;
        did += rc;
        /* After a dispatch that has placed what it could: a slot freed by
         * the last results and left free may take a waiting standby. */
        if (ms->results_seen && (rc = revoke_standbys(ms, err)) < 0)
            return rc;
        ms->results_seen = false;
        if ((rc = recv_results(ms, err)) < 0)
            return rc;
        int ended = rc + poll_local(ms);
        ms->results_seen |= ended > 0;
        did += ended;
        /* What happened is recorded before the next dispatch acts on it;
         * and at least once a second anyway, so what the caller keeps up to
         * date from it (status.json) stays fresh while tasks just run. */
        double now = wfmpi_mono();
        if ((did || now >= next_tick) && (rc = commit(ms, err)) < 0)
            return rc;
        if (now >= next_tick)
            next_tick = now + 1.0;
        if ((rc = watch_clock(ms, err)) < 0)
            return rc;
        if (interval > 0 && ms->hooks->on_progress && wfmpi_mono() >= next_progress) {
            ms->hooks->on_progress(ms->hooks->ctx, ms->s, wfmpi_mono() - start);
            next_progress = wfmpi_mono() + interval;
        }
        if (did)
            idle = 0;
        else
            idle_wait(ms, &idle);
    }
    return 0;
}

int wfmpi_mpi_master(struct wfmpi_mpi *m, const struct wfmpi_plan *plan, struct wfmpi_sched *s,
                     const struct wfmpi_run_config *cfg, const struct wfmpi_run_hooks *hooks,
                     struct wfmpi_error *err)
{
    struct master ms = {
        .m = m, .plan = plan, .v = wfmpi_plan_view(plan), .s = s, .cfg = cfg, .hooks = hooks};
    int rc = master_setup(&ms, err);
    if (rc == 0)
        rc = master_loop(&ms, err);
    wfmpi_info("standbys: %u tasks were queued on a worker behind the task before them, %u of "
               "them given back unstarted for a slot that freed first",
               ms.n_standbys, ms.n_taken_back);
    master_teardown(&ms);
    return rc;
}

int wfmpi_mpi_stop_workers(struct wfmpi_mpi *m, int exit_code)
{
    int rc = 0;
    for (int r = 1; r < m->size; r++) {
        if (MPI_Send(&exit_code, 1, MPI_INT, r, WIRE_TAG_STOP, MPI_COMM_WORLD) != MPI_SUCCESS)
            rc = WFMPI_E_MPI;
        mpi_doorbell_ring(m, r);
    }
    return rc;
}
