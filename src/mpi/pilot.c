/* The glidein pilot's MPI side: rank 0 places tasks it got from the service
 * on its allocation and feeds the workers the same wire records as the run
 * master does (master.c), so a worker cannot tell a pilot from `wfmpi run`.
 * The service already decided what runs; here only placement happens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_int.h"

struct pool_peer {
    struct wfmpi_buf out[2];
    int filling;
    uint32_t queued;
    uint64_t batch; /* number of the batch being filled; earlier ones are sent */
};

struct pool_slot {
    uint32_t node, rank; /* rank = scheduler slot (node-major) */
    uint32_t cores, attempt;
    uint64_t gpu_mask, memory_mb;
    uint64_t batch; /* the peer's batch that carries it */
    double cancel_grace;
    bool live;
    bool cancel; /* a cancel is pending or sent */
};

struct pool_node {
    uint32_t free_cores;
    uint64_t free_gpus; /* mask */
    uint64_t free_mem; /* MB; UINT64_MAX = not accounted (size unknown) */
};

struct wfmpi_mpi_pool {
    struct wfmpi_mpi *m;
    struct wire_config wcfg;
    const struct wfmpi_sched_node *nodes;
    uint32_t n_nodes;
    struct pool_node *free;
    uint32_t *rank_running; /* per scheduler slot */
    struct pool_slot *slots;
    uint32_t max_slots, running;
    struct pool_peer *peers;
    MPI_Request *reqs;
    int *done_idx;
    struct wfmpi_exec *ex;
    struct wfmpi_buf scratch;
    const char **table;
    size_t table_cap;
    struct wfmpi_exec_result *local_done; /* exec_null results of rank 0 */
    uint32_t n_local_done;
    /* Workers' results, received whole (a worker batches as many as it has,
     * which can be more than one progress() call returns) and handed out
     * oldest first. Each is a distinct live slot: max_slots bound them. */
    struct wfmpi_exec_result *pending;
    uint32_t pending_head, n_pending;
    /* Cancels for workers, held until the batch carrying their task has
     * left: MPI keeps the order of messages between two ranks, so the
     * worker then sees the task before the cancel. */
    uint32_t *cancels, n_cancels;
    char buf[4096];
};

struct wfmpi_mpi_pool *wfmpi_mpi_pool_create(struct wfmpi_mpi *m,
                                             const struct wfmpi_run_config *cfg,
                                             uint32_t cores_per_node, uint32_t max_slots,
                                             struct wfmpi_error *err)
{
    struct wfmpi_mpi_pool *p = calloc(1, sizeof(*p));
    if (!p) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    p->m = m;
    p->wcfg = (struct wire_config){cfg->work_dir, cfg->run_dir, cfg->exec_null, cfg->kill_grace_s};
    p->nodes = wfmpi_mpi_sched_nodes(m, cores_per_node, &p->n_nodes);
    p->max_slots = max_slots;
    wfmpi_buf_init(&p->scratch, WIRE_MAX_MSG);
    int size = m->size;
    p->free = calloc(p->n_nodes ? p->n_nodes : 1, sizeof(*p->free));
    p->rank_running = calloc((size_t)size, sizeof(uint32_t));
    p->slots = calloc(max_slots, sizeof(*p->slots));
    p->peers = calloc((size_t)size, sizeof(*p->peers));
    p->reqs = malloc((size_t)size * sizeof(*p->reqs));
    p->done_idx = malloc((size_t)size * sizeof(*p->done_idx));
    p->local_done = calloc(max_slots, sizeof(*p->local_done));
    p->pending = calloc(max_slots, sizeof(*p->pending));
    p->cancels = calloc(max_slots, sizeof(*p->cancels));
    if (!p->nodes || !p->free || !p->rank_running || !p->slots || !p->peers || !p->reqs ||
        !p->done_idx || !p->local_done || !p->pending || !p->cancels) {
        wfmpi_error_set(err, -ENOMEM, "out of memory for the pilot's tables");
        wfmpi_mpi_pool_destroy(p);
        return NULL;
    }
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        p->free[i].free_cores = p->nodes[i].cores;
        p->free[i].free_gpus = p->nodes[i].gpus >= 64 ? UINT64_MAX : (1ull << p->nodes[i].gpus) - 1;
        p->free[i].free_mem = p->nodes[i].memory_mb ? p->nodes[i].memory_mb : UINT64_MAX;
    }
    for (int r = 0; r < size; r++) {
        p->reqs[r] = MPI_REQUEST_NULL;
        wfmpi_buf_init(&p->peers[r].out[0], WIRE_MAX_MSG);
        wfmpi_buf_init(&p->peers[r].out[1], WIRE_MAX_MSG);
    }
    int rc = (p->ex = wfmpi_exec_create(err)) ? mpi_bcast_config(&p->scratch, &p->wcfg)
                                              : WFMPI_E_INTERNAL;
    if (rc < 0) {
        if (p->ex)
            wfmpi_error_set(err, rc, "cannot send the run configuration");
        wfmpi_mpi_pool_destroy(p);
        return NULL;
    }
    return p;
}

void wfmpi_mpi_pool_destroy(struct wfmpi_mpi_pool *p)
{
    if (!p)
        return;
    if (p->reqs && p->m->size > 1)
        MPI_Waitall(p->m->size, p->reqs, MPI_STATUSES_IGNORE);
    for (int r = 0; p->peers && r < p->m->size; r++) {
        wfmpi_buf_fini(&p->peers[r].out[0]);
        wfmpi_buf_fini(&p->peers[r].out[1]);
    }
    wfmpi_exec_destroy(p->ex);
    wfmpi_buf_fini(&p->scratch);
    free(p->free);
    free(p->rank_running);
    free(p->slots);
    free(p->peers);
    free(p->reqs);
    free(p->done_idx);
    free(p->local_done);
    free(p->pending);
    free(p->cancels);
    free(p->table);
    free(p);
}

uint32_t wfmpi_mpi_pool_nodes(const struct wfmpi_mpi_pool *p)
{
    return p->n_nodes;
}

const struct wfmpi_sched_node *wfmpi_mpi_pool_node(const struct wfmpi_mpi_pool *p, uint32_t i)
{
    return i < p->n_nodes ? &p->nodes[i] : NULL;
}

void wfmpi_mpi_pool_free(const struct wfmpi_mpi_pool *p, struct wfmpi_sched_budget *total,
                         struct wfmpi_sched_budget *largest)
{
    *total = (struct wfmpi_sched_budget){0};
    *largest = (struct wfmpi_sched_budget){0};
    bool mem = false;
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        const struct pool_node *n = &p->free[i];
        uint32_t g = (uint32_t)__builtin_popcountll(n->free_gpus);
        total->cores += n->free_cores;
        total->gpus += g;
        if (n->free_cores > largest->cores)
            largest->cores = n->free_cores;
        if (g > largest->gpus)
            largest->gpus = g;
        if (n->free_mem != UINT64_MAX) {
            mem = true;
            total->memory_mb += n->free_mem;
            if (n->free_mem > largest->memory_mb)
                largest->memory_mb = n->free_mem;
        }
    }
    /* 0 would mean "not accounted" to the service. */
    if (mem && largest->memory_mb == 0)
        largest->memory_mb = total->memory_mb = 1;
}

uint32_t wfmpi_mpi_pool_running(const struct wfmpi_mpi_pool *p)
{
    return p->running + p->n_pending; /* a result not handed out yet counts */
}

int wfmpi_mpi_pool_fd(const struct wfmpi_mpi_pool *p)
{
    return wfmpi_exec_fd(p->ex);
}

/* ---------------------------------------------------------- placement */

static bool place(struct wfmpi_mpi_pool *p, const struct wfmpi_pool_task *t,
                  struct wfmpi_sched_dispatch *d)
{
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        struct pool_node *n = &p->free[i];
        if (n->free_cores < t->cores || (uint32_t)__builtin_popcountll(n->free_gpus) < t->gpus ||
            (n->free_mem != UINT64_MAX && n->free_mem < t->memory_mb))
            continue;
        const struct wfmpi_sched_node *sn = &p->nodes[i];
        /* The scheduler's choice: one NUMA group when it has them free. */
        uint64_t gpus = wfmpi_sched_pick_gpus(n->free_gpus, t->gpus, sn->gpus, sn->gpu_group);
        uint32_t rank = sn->first_rank;
        if (gpus) {
            rank = sn->gpu_owner[__builtin_ctzll(gpus)];
        } else {
            for (uint32_t r = sn->first_rank; r < sn->first_rank + sn->n_ranks; r++)
                if (p->rank_running[r] < p->rank_running[rank])
                    rank = r;
        }
        n->free_cores -= t->cores;
        n->free_gpus &= ~gpus;
        if (n->free_mem != UINT64_MAX)
            n->free_mem -= t->memory_mb;
        p->rank_running[rank]++;
        *d = (struct wfmpi_sched_dispatch){.task = t->slot,
                                           .attempt = t->attempt,
                                           .node = i,
                                           .rank = rank,
                                           .cores = t->cores,
                                           .gpu_mask = gpus};
        return true;
    }
    return false;
}

static void unplace(struct wfmpi_mpi_pool *p, uint32_t slot)
{
    struct pool_slot *s = &p->slots[slot];
    p->free[s->node].free_cores += s->cores;
    p->free[s->node].free_gpus |= s->gpu_mask;
    if (p->free[s->node].free_mem != UINT64_MAX)
        p->free[s->node].free_mem += s->memory_mb;
    p->rank_running[s->rank]--;
    s->live = false;
    p->running--;
}

/* ----------------------------------------------------------- encoding */

static void put_list(struct wire_writer *w, const char *const *list, uint32_t n)
{
    wire_u32(w, n);
    for (uint32_t i = 0; i < n; i++)
        wire_str(w, list[i]);
}

/* The same record master.c's encode_task writes; the environment gets the
 * same WFMPI_* and binding variables. */
static void encode(struct wfmpi_mpi_pool *p, struct wire_writer *w, const struct wfmpi_pool_task *t,
                   const struct wfmpi_sched_dispatch *d, int mpi_rank)
{
    const struct mpi_binding *b = mpi_task_binding(p->m, d);
    wire_u32(w, t->slot);
    wire_u32(w, t->attempt);
    wire_u32(w, t->cores);
    wire_u64(w, d->gpu_mask);
    wire_f64(w, t->timeout_s);
    wire_f64(w, t->checkpoint_s);
    wire_u32(w, (t->stdout_lazy ? WIRE_TASK_STDOUT_LAZY : 0) |
                    (t->stderr_lazy ? WIRE_TASK_STDERR_LAZY : 0));
    wire_u64(w, 0); /* no standbys: the service hands out what fits */
    wire_str(w, t->id);
    wire_str(w, t->exe);
    wire_str(w, t->stdin_path);
    wire_str(w, t->stdout_path);
    wire_str(w, t->stderr_path);
    wire_str(w, t->successmsg);
    wire_str(w, t->failuremsg);
    wire_str(w, b ? b->cpuset : NULL);
    put_list(w, t->argv, t->argc);
    const char *extra[8];
    uint32_t k = 0;
    if (b && b->cpuset[0]) {
        extra[k++] = "OMP_PLACES=cores";
        extra[k++] = "OMP_PROC_BIND=close";
    }
    wire_u32(w, t->n_env + k + 3 + (b && b->env_cpuset[0]) + (b && b->has_gpus ? 3 : 0));
    for (uint32_t i = 0; i < k; i++)
        wire_str(w, extra[i]);
    for (uint32_t i = 0; i < t->n_env; i++)
        wire_str(w, t->env[i]);
    snprintf(p->buf, sizeof(p->buf), "WFMPI_RANK=%d", mpi_rank);
    wire_str(w, p->buf);
    snprintf(p->buf, sizeof(p->buf), "WFMPI_NODE=%u", d->node);
    wire_str(w, p->buf);
    snprintf(p->buf, sizeof(p->buf), "OMP_NUM_THREADS=%u", t->cores);
    wire_str(w, p->buf);
    if (b && b->env_cpuset[0])
        wire_str(w, b->env_cpuset);
    if (b && b->has_gpus) {
        wire_str(w, b->env_cuda);
        wire_str(w, "CUDA_DEVICE_ORDER=PCI_BUS_ID");
        wire_str(w, b->env_gpus);
    }
    put_list(w, t->outputs, t->n_outputs);
}

static int start_local(struct wfmpi_mpi_pool *p, const struct wfmpi_pool_task *t,
                       const struct wfmpi_sched_dispatch *d)
{
    uint64_t tag = ((uint64_t)t->slot << 32) | t->attempt;
    if (p->wcfg.exec_null) {
        struct wfmpi_exec_result *r = &p->local_done[p->n_local_done++];
        memset(r, 0, sizeof(*r));
        r->tag = tag;
        r->reason = WFMPI_EXEC_OK;
        r->start_wall = r->end_wall = wfmpi_wall();
        return 0;
    }
    struct wire_writer w;
    wire_begin(&w, &p->scratch, WIRE_TAG_TASKS);
    encode(p, &w, t, d, 0);
    wire_finish(&w, 1);
    struct wire_reader r;
    struct wire_task wt;
    if (w.rc < 0 || wire_open(&r, p->scratch.data, p->scratch.len, WIRE_TAG_TASKS) != 1 ||
        wire_get_task(&r, &wt, &p->table, &p->table_cap) < 0)
        return w.rc < 0 ? w.rc : WFMPI_E_INTERNAL;
    struct wfmpi_exec_spec spec;
    mpi_task_spec(&wt, &p->wcfg, &spec);
    return wfmpi_exec_start(p->ex, &spec, tag);
}

int wfmpi_mpi_pool_start(struct wfmpi_mpi_pool *p, const struct wfmpi_pool_task *t)
{
    if (t->slot >= p->max_slots || p->slots[t->slot].live)
        return WFMPI_E_INPUT;
    struct wfmpi_sched_dispatch d;
    if (!place(p, t, &d))
        return -EAGAIN;
    p->slots[t->slot] = (struct pool_slot){.node = d.node,
                                           .rank = d.rank,
                                           .cores = t->cores,
                                           .attempt = t->attempt,
                                           .gpu_mask = d.gpu_mask,
                                           .memory_mb = t->memory_mb,
                                           .live = true};
    p->running++;
    int rank = p->m->slot_rank[d.rank];
    int rc;
    if (rank == 0) {
        rc = start_local(p, t, &d);
    } else {
        struct pool_peer *pe = &p->peers[rank];
        struct wire_writer w = {.buf = &pe->out[pe->filling], .rc = 0};
        if (pe->queued == 0)
            wire_begin(&w, w.buf, WIRE_TAG_TASKS);
        encode(p, &w, t, &d, rank);
        rc = w.rc;
        if (rc == 0)
            pe->queued++;
        p->slots[t->slot].batch = pe->batch;
    }
    if (rc < 0)
        unplace(p, t->slot);
    return rc;
}

/* ----------------------------------------------------------- progress */

/* Send the pending cancels whose task has left; keep the others. A slot
 * that ended (or was reused) meanwhile needs none. */
static int send_cancels(struct wfmpi_mpi_pool *p)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < p->n_cancels; i++) {
        uint32_t slot = p->cancels[i];
        struct pool_slot *s = &p->slots[slot];
        if (!s->live || !s->cancel)
            continue;
        int rank = p->m->slot_rank[s->rank];
        if (s->batch >= p->peers[rank].batch) {
            p->cancels[kept++] = slot;
            continue;
        }
        struct wire_writer w;
        wire_begin(&w, &p->scratch, WIRE_TAG_CANCEL);
        wire_u64(&w, ((uint64_t)slot << 32) | s->attempt);
        wire_f64(&w, s->cancel_grace);
        wire_finish(&w, 1);
        if (w.rc < 0 || MPI_Send(p->scratch.data, (int)p->scratch.len, MPI_BYTE, rank,
                                 WIRE_TAG_CANCEL, MPI_COMM_WORLD) != MPI_SUCCESS)
            return WFMPI_E_MPI;
        mpi_doorbell_ring(p->m, rank);
    }
    p->n_cancels = kept;
    return 0;
}

static int flush_sends(struct wfmpi_mpi_pool *p)
{
    int size = p->m->size, outcount = 0;
    if (size > 1 &&
        MPI_Testsome(size, p->reqs, &outcount, p->done_idx, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        return WFMPI_E_MPI;
    /* A large batch is delivered in pieces as both sides progress: a
     * worker that went back to sleep hears that it is all there. */
    for (int k = 0; k < outcount && outcount != MPI_UNDEFINED; k++)
        mpi_doorbell_ring(p->m, p->done_idx[k]);
    for (int r = 1; r < size; r++) {
        struct pool_peer *pe = &p->peers[r];
        if (pe->queued == 0 || p->reqs[r] != MPI_REQUEST_NULL)
            continue;
        struct wfmpi_buf *b = &pe->out[pe->filling];
        struct wire_writer w = {.buf = b, .rc = 0};
        wire_finish(&w, pe->queued);
        if (mpi_isend_ring(p->m, b->data, b->len, r, WIRE_TAG_TASKS, &p->reqs[r]) != MPI_SUCCESS)
            return WFMPI_E_MPI;
        pe->filling ^= 1;
        pe->queued = 0;
        pe->batch++;
    }
    return send_cancels(p);
}

/* Keep a result whose slot is live (a stray one is dropped with a warning). */
static bool take_result(struct wfmpi_mpi_pool *p, const struct wfmpi_exec_result *r)
{
    uint32_t slot = (uint32_t)(r->tag >> 32);
    if (slot >= p->max_slots || !p->slots[slot].live) {
        wfmpi_warn("pilot: ignoring a result for slot %u that is not running", slot);
        return false;
    }
    unplace(p, slot);
    return true;
}

/* Receive every result message waiting, whole, into the pending queue. */
static int recv_results(struct wfmpi_mpi_pool *p, struct wfmpi_error *err)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, WIRE_TAG_RESULTS, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
            return wfmpi_error_set(err, WFMPI_E_MPI, "MPI_Iprobe failed");
        if (!flag)
            return 0;
        int from = 0;
        int64_t len = mpi_recv_msg(&p->scratch, st.MPI_SOURCE, WIRE_TAG_RESULTS, &from);
        struct wire_reader r;
        int64_t k = len < 0 ? -1 : wire_open(&r, p->scratch.data, (size_t)len, WIRE_TAG_RESULTS);
        if (k < 0 || (uint64_t)k > p->max_slots - p->n_pending)
            return wfmpi_error_set(err, WFMPI_E_PROTO, "malformed result message from rank %d",
                                   from);
        for (int64_t i = 0; i < k; i++) {
            struct wfmpi_exec_result res;
            if (wire_get_result(&r, &res) < 0)
                return wfmpi_error_set(err, WFMPI_E_PROTO, "malformed result from rank %d", from);
            if (take_result(p, &res))
                p->pending[(p->pending_head + p->n_pending++) % p->max_slots] = res;
        }
    }
}

int wfmpi_mpi_pool_progress(struct wfmpi_mpi_pool *p, struct wfmpi_exec_result *out, uint32_t max,
                            struct wfmpi_error *err)
{
    uint32_t n = 0;
    if (flush_sends(p) < 0)
        return wfmpi_error_set(err, WFMPI_E_MPI, "cannot send tasks");
    while (p->n_local_done > 0 && n < max) {
        out[n] = p->local_done[--p->n_local_done];
        n += take_result(p, &out[n]);
    }
    if (n < max) {
        uint32_t got = wfmpi_exec_poll(p->ex, out + n, max - n, 0), kept = 0;
        for (uint32_t i = 0; i < got; i++) {
            out[n + kept] = out[n + i];
            kept += take_result(p, &out[n + kept]);
        }
        n += kept;
    }
    int rc = recv_results(p, err);
    if (rc < 0)
        return rc;
    for (; p->n_pending > 0 && n < max; p->n_pending--) {
        out[n++] = p->pending[p->pending_head];
        p->pending_head = (p->pending_head + 1) % p->max_slots;
    }
    return (int)n;
}

int wfmpi_mpi_pool_cancel(struct wfmpi_mpi_pool *p, uint32_t slot, double grace_s)
{
    if (slot >= p->max_slots || !p->slots[slot].live)
        return WFMPI_E_INPUT;
    struct pool_slot *s = &p->slots[slot];
    if (s->cancel)
        return 0;
    s->cancel = true;
    s->cancel_grace = grace_s;
    if (p->m->slot_rank[s->rank] != 0) {
        p->cancels[p->n_cancels++] = slot; /* at most one per live slot */
        return 0;
    }
    /* exec_null tasks of rank 0 have ended already: their result waits. */
    if (!p->wcfg.exec_null)
        wfmpi_exec_interrupt(p->ex, ((uint64_t)slot << 32) | s->attempt, grace_s);
    return 0;
}

int wfmpi_mpi_pool_drain(struct wfmpi_mpi_pool *p, double grace_s)
{
    wfmpi_exec_interrupt_all(p->ex, grace_s);
    for (int r = 1; r < p->m->size; r++) {
        if (MPI_Send(&grace_s, 1, MPI_DOUBLE, r, WIRE_TAG_DRAIN, MPI_COMM_WORLD) != MPI_SUCCESS)
            return WFMPI_E_MPI;
        mpi_doorbell_ring(p->m, r);
    }
    return 0;
}
