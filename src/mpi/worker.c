/* The worker loop: run the tasks the master sends, send back results in
 * batches. A worker keeps no state about the workflow: each task record is
 * self-contained, which is also what a glidein pilot receives. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_int.h"

#define RESULT_BATCH 256

/* A standby task (wire_task.after): its record, copied out of the message,
 * waits here until the attempt it follows has ended on this rank. */
struct standby {
    uint64_t tag, after;
    struct wfmpi_buf rec;
};

struct worker {
    struct wfmpi_mpi *m;
    struct wfmpi_exec *ex;
    struct wfmpi_buf cfgbuf, in;
    struct wire_config cfg;
    const char **table;
    size_t table_cap;
    struct wfmpi_buf out[2];
    int filling;
    uint32_t queued;
    MPI_Request req;
    int stop_code; /* >= 0 once the master said stop */
    bool draining; /* tasks arriving now are answered INTERRUPTED, not run */
    /* [0, n_standby) wait; [n_standby, n_standby_bufs) are spare entries
     * whose buffers are kept for the next ones (no allocation per task). */
    struct standby *standby;
    size_t n_standby, n_standby_bufs, standby_cap;
};

static int recv_config(struct worker *w)
{
    int len = 0;
    if (MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS || len <= 0 ||
        (size_t)len > WIRE_MAX_MSG)
        return WFMPI_E_PROTO;
    if (wfmpi_grow((void **)&w->cfgbuf.data, &w->cfgbuf.cap, (size_t)len, 1) < 0)
        return -ENOMEM;
    if (MPI_Bcast(w->cfgbuf.data, len, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return WFMPI_E_MPI;
    struct wire_reader r;
    if (wire_open(&r, w->cfgbuf.data, (size_t)len, WIRE_TAG_CONFIG) != 1)
        return WFMPI_E_PROTO;
    return wire_get_config(&r, &w->cfg);
}

static void queue_result(struct worker *w, const struct wfmpi_exec_result *res)
{
    struct wire_writer wr = {.buf = &w->out[w->filling], .rc = 0};
    if (w->queued == 0)
        wire_begin(&wr, wr.buf, WIRE_TAG_RESULTS);
    wire_put_result(&wr, res);
    w->queued++;
}

/* Send the pending batch if the previous one has left. */
static int flush_results(struct worker *w)
{
    /* The previous batch first: tested even with nothing queued, so that
     * an idle worker knows it may sleep on its bell. */
    if (w->req != MPI_REQUEST_NULL) {
        int done = 0;
        if (MPI_Test(&w->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            return WFMPI_E_MPI;
        if (!done)
            return 0;
        mpi_doorbell_ring(w->m, 0); /* all of the last batch is there now */
    }
    if (w->queued == 0)
        return 0;
    struct wire_writer wr = {.buf = &w->out[w->filling], .rc = 0};
    wire_finish(&wr, w->queued);
    if (mpi_isend_ring(w->m, wr.buf->data, wr.buf->len, 0, WIRE_TAG_RESULTS, &w->req) !=
        MPI_SUCCESS)
        return WFMPI_E_MPI;
    w->filling ^= 1;
    w->queued = 0;
    return 1;
}

static int start_task(struct worker *w, const struct wire_task *t)
{
    uint64_t tag = ((uint64_t)t->task << 32) | t->attempt;
    if (w->cfg.exec_null || w->draining) {
        struct wfmpi_exec_result res = {.tag = tag, .reason = WFMPI_EXEC_OK};
        res.start_wall = res.end_wall = wfmpi_wall();
        if (w->draining) {
            res.reason = WFMPI_EXEC_INTERRUPTED;
            snprintf(res.detail, sizeof(res.detail), "not started: the run is draining");
        }
        queue_result(w, &res);
        return 0;
    }
    struct wfmpi_exec_spec spec;
    mpi_task_spec(t, &w->cfg, &spec);
    return wfmpi_exec_start(w->ex, &spec, tag);
}

/* Keep the record [from, to) of a standby until `after` has ended. */
static int keep_standby(struct worker *w, uint64_t tag, uint64_t after, const char *from,
                        const char *to)
{
    if (w->n_standby == w->n_standby_bufs) {
        if (wfmpi_grow((void **)&w->standby, &w->standby_cap, w->n_standby_bufs + 1,
                       sizeof(*w->standby)))
            return -ENOMEM;
        wfmpi_buf_init(&w->standby[w->n_standby_bufs++].rec, WIRE_MAX_MSG);
    }
    struct standby *s = &w->standby[w->n_standby];
    wfmpi_buf_reset(&s->rec);
    if (wfmpi_buf_append(&s->rec, from, (size_t)(to - from)) < 0)
        return -ENOMEM;
    s->tag = tag;
    s->after = after;
    w->n_standby++;
    return 0;
}

/* Has the attempt tagged `tag` not ended here yet: running, or itself a
 * standby still waiting? */
static bool pending_here(const struct worker *w, uint64_t tag)
{
    for (size_t i = 0; i < w->n_standby; i++)
        if (w->standby[i].tag == tag)
            return true;
    return wfmpi_exec_live(w->ex, tag);
}

/* Start (or, draining, answer) a decoded task; a standby whose predecessor
 * has not ended here yet waits for it instead. */
static int take_task(struct worker *w, const struct wire_task *t, const char *from, const char *to,
                     struct wfmpi_error *err)
{
    uint64_t tag = ((uint64_t)t->task << 32) | t->attempt;
    int rc = t->after && !w->draining && !w->cfg.exec_null && pending_here(w, t->after)
                 ? keep_standby(w, tag, t->after, from, to)
                 : start_task(w, t);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "rank %d: cannot start task %s: %s", w->m->rank, t->id,
                               wfmpi_strerror(rc));
    return 0;
}

static int handle_tasks(struct worker *w, struct wfmpi_error *err)
{
    struct wire_reader r;
    int64_t n = wire_open(&r, w->in.data, w->in.len, WIRE_TAG_TASKS);
    if (n < 0)
        return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed task message", w->m->rank);
    for (int64_t i = 0; i < n; i++) {
        struct wire_task t;
        const char *from = r.p;
        if (wire_get_task(&r, &t, &w->table, &w->table_cap) < 0)
            return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed task record",
                                   w->m->rank);
        if (take_task(w, &t, from, r.p, err) < 0)
            return err->code;
    }
    return (int)n;
}

/* Drop the waiting standby at index i (its buffer becomes a spare). */
static void drop_standby(struct worker *w, size_t i)
{
    struct standby spare = w->standby[i];
    w->standby[i] = w->standby[--w->n_standby];
    w->standby[w->n_standby] = spare;
}

/* Start the standby (if any) that waited for `tag`, which has just ended;
 * or every standby, with draining set (they are answered, not run). */
static int release_standby(struct worker *w, uint64_t tag, bool all, struct wfmpi_error *err)
{
    for (size_t i = 0; i < w->n_standby;) {
        struct standby *s = &w->standby[i];
        if (!all && s->after != tag) {
            i++;
            continue;
        }
        struct wire_reader r = {.p = s->rec.data, .end = s->rec.data + s->rec.len};
        struct wire_task t;
        int rc = wire_get_task(&r, &t, &w->table, &w->table_cap) < 0
                     ? wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: bad standby", w->m->rank)
                     : 0;
        if (rc == 0) {
            t.after = 0;
            rc = take_task(w, &t, NULL, NULL, err);
        }
        drop_standby(w, i);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Give back the standby tagged `tag` if it still waits here, and every one
 * queued behind it (each would wait for a predecessor that never runs),
 * answering each as taken back. One that started already is left alone:
 * the master learns that from the result of the attempt it followed. */
static void take_back(struct worker *w, uint64_t tag)
{
    for (size_t i = 0; i < w->n_standby; i++) {
        if (w->standby[i].tag != tag)
            continue;
        drop_standby(w, i);
        struct wire_writer wr = {.buf = &w->out[w->filling], .rc = 0};
        if (w->queued == 0)
            wire_begin(&wr, wr.buf, WIRE_TAG_RESULTS);
        wire_put_taken_back(&wr, tag);
        w->queued++;
        for (size_t k = 0; k < w->n_standby; k++)
            if (w->standby[k].after == tag) {
                take_back(w, w->standby[k].tag);
                break;
            }
        return;
    }
}

static int handle_revoke(struct worker *w, struct wfmpi_error *err)
{
    int64_t len = mpi_recv_msg(&w->in, 0, WIRE_TAG_REVOKE, NULL);
    struct wire_reader r;
    int64_t n = len < 0 ? -1 : wire_open(&r, w->in.data, (size_t)len, WIRE_TAG_REVOKE);
    if (n < 0)
        return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed revoke message", w->m->rank);
    for (int64_t i = 0; i < n; i++) {
        uint64_t tag = wire_get_u64(&r);
        if (r.bad)
            return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed revoke record",
                                   w->m->rank);
        take_back(w, tag);
    }
    int rc = flush_results(w);
    return rc < 0 ? wfmpi_error_set(err, rc, "rank %d: cannot send results", w->m->rank) : 1;
}

/* A glidein pilot cancels attempts (a removed workflow): interrupt those
 * still running; one that ended already keeps its result. */
static int handle_cancel(struct worker *w, struct wfmpi_error *err)
{
    int64_t len = mpi_recv_msg(&w->in, 0, WIRE_TAG_CANCEL, NULL);
    struct wire_reader r;
    int64_t n = len < 0 ? -1 : wire_open(&r, w->in.data, (size_t)len, WIRE_TAG_CANCEL);
    if (n < 0)
        return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed cancel message", w->m->rank);
    for (int64_t i = 0; i < n; i++) {
        uint64_t tag = wire_get_u64(&r);
        double grace = wire_get_f64(&r);
        if (r.bad)
            return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: malformed cancel record",
                                   w->m->rank);
        wfmpi_exec_interrupt(w->ex, tag, grace);
    }
    return 1;
}

/* Receive whatever the master has sent. Returns messages handled. */
static int poll_master(struct worker *w, struct wfmpi_error *err)
{
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
        return wfmpi_error_set(err, WFMPI_E_MPI, "MPI_Iprobe failed");
    if (!flag)
        return 0;
    if (st.MPI_TAG == WIRE_TAG_STOP) {
        int code = 0;
        MPI_Recv(&code, 1, MPI_INT, 0, WIRE_TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        w->stop_code = code < 0 ? 4 : code;
        return 1;
    }
    if (st.MPI_TAG == WIRE_TAG_DRAIN) {
        double grace = 0;
        MPI_Recv(&grace, 1, MPI_DOUBLE, 0, WIRE_TAG_DRAIN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        w->draining = true;
        wfmpi_exec_interrupt_all(w->ex, grace);
        int rc = release_standby(w, 0, true, err); /* answered: not started */
        return rc < 0 ? rc : 1;
    }
    if (st.MPI_TAG == WIRE_TAG_CANCEL)
        return handle_cancel(w, err);
    if (st.MPI_TAG == WIRE_TAG_REVOKE)
        return handle_revoke(w, err);
    if (st.MPI_TAG != WIRE_TAG_TASKS)
        return wfmpi_error_set(err, WFMPI_E_PROTO, "rank %d: unexpected tag %d", w->m->rank,
                               st.MPI_TAG);
    int64_t len = mpi_recv_msg(&w->in, 0, WIRE_TAG_TASKS, NULL);
    if (len < 0)
        return wfmpi_error_set(err, (int)len, "rank %d: receive failed", w->m->rank);
    int rc = handle_tasks(w, err);
    return rc < 0 ? rc : 1;
}

static int poll_exec(struct worker *w, struct wfmpi_error *err)
{
    struct wfmpi_exec_result res[RESULT_BATCH];
    uint32_t n = wfmpi_exec_poll(w->ex, res, RESULT_BATCH, 0);
    for (uint32_t i = 0; i < n; i++) {
        /* The walltime signal reaches tasks too; what it stopped is
         * interrupted, not failed (see wfmpi_mpi_set_drain_flag). */
        bool signalled = w->draining || (res[i].reason != WFMPI_EXEC_OK &&
                                         mpi_drain_signalled(w->m, &res[i], true));
        if (signalled && res[i].reason != WFMPI_EXEC_OK &&
            res[i].reason != WFMPI_EXEC_INTERRUPTED) {
            res[i].reason = WFMPI_EXEC_INTERRUPTED;
            snprintf(res[i].detail, sizeof(res[i].detail), "stopped by the drain signal");
        }
        queue_result(w, &res[i]);
    }
    if (n == 0 || w->n_standby == 0)
        return (int)n;
    /* The results first (the master refills this rank from them), then what
     * waited for those attempts starts at once: the slot does not wait for
     * the master. */
    int rc = flush_results(w);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "rank %d: cannot send results", w->m->rank);
    for (uint32_t i = 0; i < n && w->n_standby; i++)
        if ((rc = release_standby(w, res[i].tag, false, err)) < 0)
            return rc;
    return (int)n;
}

static void idle_wait(struct worker *w, int *idle)
{
    /* With doorbells, sleep until a task ends or the master rings (unless
     * a send of ours still needs us to progress it). */
    if (mpi_doorbell_local(w->m, 0) && w->req == MPI_REQUEST_NULL) {
        mpi_doorbell_wait(w->m, wfmpi_exec_fd(w->ex), MPI_BELL_SLEEP_S);
        return;
    }
    int k = ++*idle;
    if (k < 64)
        return;
    int us = k < 128 ? 50 : k < 256 ? 200 : 1000;
    struct pollfd pfd = {.fd = wfmpi_exec_fd(w->ex), .events = POLLIN};
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000L};
    ppoll(&pfd, 1, &ts, NULL);
}

static int worker_loop(struct worker *w, struct wfmpi_error *err)
{
    int idle = 0;
    while (w->stop_code < 0) {
        int a = poll_master(w, err);
        if (a < 0)
            return a;
        int b = poll_exec(w, err);
        if (b < 0)
            return b;
        int c = flush_results(w);
        if (c < 0)
            return wfmpi_error_set(err, c, "rank %d: cannot send results", w->m->rank);
        if (a + b + c > 0)
            idle = 0;
        else
            idle_wait(w, &idle);
    }
    return 0;
}

int wfmpi_mpi_worker(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    struct worker w = {.m = m, .req = MPI_REQUEST_NULL, .stop_code = -1};
    wfmpi_buf_init(&w.cfgbuf, WIRE_MAX_MSG);
    wfmpi_buf_init(&w.in, WIRE_MAX_MSG);
    wfmpi_buf_init(&w.out[0], WIRE_MAX_MSG);
    wfmpi_buf_init(&w.out[1], WIRE_MAX_MSG);
    int rc = recv_config(&w);
    if (rc < 0)
        wfmpi_error_set(err, rc, "rank %d: cannot receive the run configuration", m->rank);
    else if (!(w.ex = wfmpi_exec_create(err)))
        rc = err ? err->code : WFMPI_E_INTERNAL;
    else
        rc = worker_loop(&w, err);
    /* The master only says stop when nothing is running here; anything left
     * (an error path) is killed by destroy. */
    if (w.req != MPI_REQUEST_NULL)
        MPI_Wait(&w.req, MPI_STATUS_IGNORE);
    wfmpi_exec_destroy(w.ex);
    wfmpi_buf_fini(&w.cfgbuf);
    wfmpi_buf_fini(&w.in);
    wfmpi_buf_fini(&w.out[0]);
    wfmpi_buf_fini(&w.out[1]);
    free(w.table);
    for (size_t i = 0; i < w.n_standby_bufs; i++)
        wfmpi_buf_fini(&w.standby[i].rec);
    free(w.standby);
    return rc < 0 ? rc : w.stop_code;
}
