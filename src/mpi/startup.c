/* Start-up: every rank learns its node, the master learns the allocation. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi_int.h"

static int mpi_fail(struct wfmpi_error *err, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return wfmpi_error_set(err, WFMPI_E_MPI, "%s: %s", what, text);
}

/* Node index = rank of the node's first rank among all nodes' first ranks.
 * World rank 0 is always the first rank of node 0. */
static int find_node_index(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    MPI_Comm leaders;
    int color = m->node_rank == 0 ? 0 : MPI_UNDEFINED;
    int rc = MPI_Comm_split(MPI_COMM_WORLD, color, m->rank, &leaders);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Comm_split");
    int index = 0;
    if (leaders != MPI_COMM_NULL) {
        MPI_Comm_rank(leaders, &index);
        MPI_Comm_free(&leaders);
    }
    rc = MPI_Bcast(&index, 1, MPI_INT, 0, m->node_comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Bcast");
    m->node_index = index;
    return 0;
}

/* Only each node's first rank loads the hwloc topology (it is not free on
 * big nodes); the others get the result over the node communicator. */
static int discover_node(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    if (!(m->topo = calloc(1, sizeof(*m->topo))))
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the topology");
    int status = 0;
    if (m->node_rank == 0)
        status = wfmpi_topo_load(m->topo, err);
    int rc = MPI_Bcast(&status, 1, MPI_INT, 0, m->node_comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Bcast(m->topo, sizeof(*m->topo), MPI_BYTE, 0, m->node_comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Bcast");
    if (status < 0 && m->node_rank != 0)
        return wfmpi_error_set(err, status, "node discovery failed on this node's first rank");
    m->local = m->topo->summary;
    return status;
}

/* The node's ranks share its GPUs and cores (DESIGN.md §6). Ranks that the
 * launcher gave the same GPUs and CPUs split them among themselves; a rank
 * that srun bound on its own (--cpu-bind, --gpu-bind) keeps what it got. */
static int assign_share(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    struct wfmpi_topo_given mine;
    int rc = wfmpi_topo_given_here(m->topo, &mine, &m->share.existing, err);
    if (rc < 0)
        return rc;
    int n = 0;
    MPI_Comm_size(m->node_comm, &n);
    struct wfmpi_topo_given *all = calloc((size_t)n, sizeof(*all));
    if (!all)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    rc = MPI_Allgather(&mine, sizeof(mine), MPI_BYTE, all, sizeof(mine), MPI_BYTE, m->node_comm);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, rc, "MPI_Allgather");
    }
    uint32_t group = 0, index = 0;
    for (int r = 0; r < n; r++) {
        if (memcmp(&all[r], &mine, sizeof(mine)) != 0)
            continue;
        index += r < m->node_rank;
        group++;
    }
    free(all);
    rc = wfmpi_topo_assign(m->topo, &mine, group, index, &m->share);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "cannot share this node among its %u ranks", group);
    rc = wfmpi_topo_bind(&m->share.cpus, &m->share.existing, err);
    if (rc < 0)
        return rc;
    char cpus[256];
    if (wfmpi_topo_cpuset_format(&m->share.cpus, cpus, sizeof(cpus)) < 0)
        strcpy(cpus, "(long)");
    wfmpi_info("rank %d: GPUs 0x%llx, cpuset %s, %s", m->rank, (unsigned long long)m->share.gpus,
               cpus, rc > 0 ? "bound" : "not bound (none of those CPUs exists on this machine)");
    return 0;
}

/* Run a start-up step that may fail on some ranks only, then agree over
 * every rank, so that all leave together instead of some waiting in the next
 * collective for ranks that have gone. */
static int agree(struct wfmpi_mpi *m, int (*step)(struct wfmpi_mpi *, struct wfmpi_error *),
                 struct wfmpi_error *err)
{
    int mine = step(m, err), all = 0;
    int rc = MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Allreduce");
    if (mine == 0 && all < 0)
        return wfmpi_error_set(err, all, "another rank could not take its share of its node");
    return all;
}

/* What the master learns about each rank. */
struct rank_record {
    int node, node_rank;
    struct wfmpi_topo_node info;
    struct wfmpi_topo_rank share;
};

/* The master gets every node's topology from the node's first rank. */
static int gather_topologies(struct wfmpi_mpi *m, const struct rank_record *all,
                             struct wfmpi_error *err)
{
    int *counts = NULL, *displs = NULL;
    if (m->rank == 0) {
        counts = calloc((size_t)m->size, sizeof(int));
        displs = calloc((size_t)m->size, sizeof(int));
        m->node_topo = calloc(m->n_nodes, sizeof(*m->node_topo));
        if (!counts || !displs || !m->node_topo) {
            free(counts);
            free(displs);
            return wfmpi_error_set(err, -ENOMEM, "out of memory for the node topologies");
        }
        for (int r = 0; r < m->size; r++) {
            counts[r] = all[r].node_rank == 0 ? (int)sizeof(struct wfmpi_topo) : 0;
            displs[r] = all[r].node * (int)sizeof(struct wfmpi_topo);
        }
    }
    int mine = m->node_rank == 0 ? (int)sizeof(struct wfmpi_topo) : 0;
    int rc = MPI_Gatherv(m->topo, mine, MPI_BYTE, m->node_topo, counts, displs, MPI_BYTE, 0,
                         MPI_COMM_WORLD);
    free(counts);
    free(displs);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "MPI_Gatherv");
}

static int group_ranks(struct wfmpi_mpi *m, const struct rank_record *all, struct wfmpi_error *err)
{
    m->nodes = calloc(m->n_nodes, sizeof(*m->nodes));
    m->node_ranks = calloc((size_t)m->size, sizeof(int));
    m->slot_share = calloc((size_t)m->size, sizeof(*m->slot_share));
    m->core_cursor = calloc((size_t)m->size, sizeof(uint32_t));
    if (!m->nodes || !m->node_ranks || !m->slot_share || !m->core_cursor)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the node map");
    int at = 0;
    for (uint32_t n = 0; n < m->n_nodes; n++) {
        m->nodes[n].ranks = m->node_ranks + at;
        for (int r = 0; r < m->size; r++) {
            if (all[r].node != (int)n)
                continue;
            if (m->nodes[n].n_ranks == 0) {
                m->nodes[n].info = all[r].info;
                m->nodes[n].info.detail = &m->node_topo[n];
                m->nodes[n].info.assigned = &m->slot_share[at];
            }
            m->slot_share[at] = all[r].share;
            m->node_ranks[at++] = r;
            m->nodes[n].n_ranks++;
        }
    }
    m->slot_rank = m->node_ranks;
    return 0;
}

/* The master gathers (node index, topology, share) from every rank and
 * groups ranks by node in rank order. */
static int build_node_map(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    struct rank_record mine = {m->node_index, m->node_rank, m->local, m->share}, *all = NULL;
    if (m->rank == 0 && !(all = calloc((size_t)m->size, sizeof(*all))))
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the node map");
    int rc =
        MPI_Gather(&mine, sizeof(mine), MPI_BYTE, all, sizeof(mine), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, rc, "MPI_Gather");
    }
    if (m->rank == 0) {
        int n_nodes = 0;
        for (int r = 0; r < m->size; r++)
            n_nodes = all[r].node + 1 > n_nodes ? all[r].node + 1 : n_nodes;
        m->n_nodes = (uint32_t)n_nodes;
    }
    rc = gather_topologies(m, all, err);
    if (rc == 0 && m->rank == 0)
        rc = group_ranks(m, all, err);
    free(all);
    return rc;
}

struct wfmpi_mpi *wfmpi_mpi_init(int *argc, char ***argv, struct wfmpi_error *err)
{
    struct wfmpi_mpi *m = calloc(1, sizeof(*m));
    if (!m) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    m->bell_fd = -1;
    int rc = MPI_Init(argc, argv);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Init");
        free(m);
        return NULL;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL,
                             &m->node_comm);
    if (rc != MPI_SUCCESS) {
        mpi_fail(err, rc, "MPI_Comm_split_type");
        wfmpi_mpi_finalize(m);
        return NULL;
    }
    MPI_Comm_rank(m->node_comm, &m->node_rank);
    if (find_node_index(m, err) < 0 || discover_node(m, err) < 0 ||
        agree(m, assign_share, err) < 0 || build_node_map(m, err) < 0) {
        wfmpi_mpi_finalize(m);
        return NULL;
    }
    mpi_doorbell_open(m);
    return m;
}

void wfmpi_mpi_finalize(struct wfmpi_mpi *m)
{
    if (!m)
        return;
    if (m->node_comm != MPI_COMM_NULL && m->node_comm != 0)
        MPI_Comm_free(&m->node_comm);
    mpi_doorbell_close(m);
    MPI_Finalize();
    free(m->nodes);
    free(m->node_ranks);
    free(m->sched_nodes);
    free(m->topo);
    free(m->node_topo);
    free(m->slot_share);
    free(m->gpu_owner);
    free(m->gpu_group);
    free(m->gpu_table);
    free(m->core_cursor);
    free(m->binding);
    free(m->node_busy);
    free(m->node_given);
    free(m);
}

void wfmpi_mpi_abort(struct wfmpi_mpi *m, int code)
{
    (void)m;
    MPI_Abort(MPI_COMM_WORLD, code);
}

void wfmpi_mpi_set_drain_flag(struct wfmpi_mpi *m, const volatile sig_atomic_t *flag)
{
    m->drain_signal = flag;
}

/* Slurm signals the step's processes one after another: a task may die of
 * the walltime signal, and its rank wake on that (its pidfd) before its own
 * copy of the signal has arrived. So for a task killed by one of the drain
 * signals (the ones `wfmpi run` catches), wait a moment for ours. */
bool mpi_drain_signalled(const struct wfmpi_mpi *m, const struct wfmpi_exec_result *r, bool wait)
{
    if (!m->drain_signal)
        return false;
    bool drain_sig = wait && r->reason == WFMPI_EXEC_SIGNAL &&
                     (r->signal == SIGTERM || r->signal == SIGINT || r->signal == SIGUSR1);
    struct timespec ms = {0, 1000000};
    for (int i = 0; drain_sig && !*m->drain_signal && i < MPI_DRAIN_SIGNAL_WAIT_MS; i++)
        nanosleep(&ms, NULL);
    return *m->drain_signal != 0;
}

int wfmpi_mpi_rank(const struct wfmpi_mpi *m)
{
    return m->rank;
}
int wfmpi_mpi_size(const struct wfmpi_mpi *m)
{
    return m->size;
}
uint32_t wfmpi_mpi_n_nodes(const struct wfmpi_mpi *m)
{
    return m->n_nodes;
}

const struct wfmpi_mpi_node *wfmpi_mpi_node(const struct wfmpi_mpi *m, uint32_t i)
{
    return i < m->n_nodes ? &m->nodes[i] : NULL;
}

int wfmpi_mpi_bcast_int(struct wfmpi_mpi *m, int value)
{
    (void)m;
    MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return value;
}

/* Cores of node i that some rank of it was given. */
static uint32_t node_cores(const struct wfmpi_mpi *m, uint32_t i, uint32_t first_slot)
{
    const struct wfmpi_topo *t = &m->node_topo[i];
    struct wfmpi_topo_cpuset all;
    wfmpi_topo_cpuset_zero(&all);
    for (uint32_t k = 0; k < m->nodes[i].n_ranks; k++)
        wfmpi_topo_cpuset_or(&all, &m->slot_share[first_slot + k].cpus);
    uint32_t n = 0;
    for (uint32_t c = 0; c < t->n_cores; c++)
        for (uint32_t p = 0; p < t->cores[c].n_pus; p++)
            if (wfmpi_topo_cpuset_isset(&all, t->pus[t->cores[c].first_pu + p])) {
                n++;
                break;
            }
    return n ? n : m->nodes[i].info.cores;
}

/* The scheduler sees the GPUs that some rank of the node was given, in GPU
 * table order; each is owned by the rank it was assigned to and grouped by
 * its NUMA domain. */
static uint32_t node_gpus(struct wfmpi_mpi *m, uint32_t i, uint32_t first_slot, uint32_t base)
{
    const struct wfmpi_topo *t = &m->node_topo[i];
    uint32_t n = 0;
    for (uint32_t g = 0; g < t->n_gpus && g < WFMPI_TOPO_MAX_GPUS; g++) {
        for (uint32_t k = 0; k < m->nodes[i].n_ranks; k++) {
            if (!(m->slot_share[first_slot + k].gpus >> g & 1))
                continue;
            m->gpu_owner[base + n] = first_slot + k;
            m->gpu_group[base + n] = t->gpus[g].numa;
            m->gpu_table[(size_t)i * WFMPI_TOPO_MAX_GPUS + n] = (uint8_t)g;
            n++;
            break;
        }
    }
    return n;
}

/* Say when node i's tasks will not get the cores a user expects: the
 * launcher bound its ranks to fewer cores than the node lets us use (mpiexec
 * binds each rank to one core by default for up to 2 ranks), or
 * --cores-per-node asks for more slots than the ranks were given cores.
 * True when it said so (the caller says it for the first such node only). */
static bool warn_cores(const struct wfmpi_mpi *m, uint32_t i, uint32_t given,
                       uint32_t cores_per_node)
{
    uint32_t there = m->nodes[i].info.cores;
    if (given == 0)
        return false;
    if (cores_per_node > given) {
        wfmpi_warn("node %u: --cores-per-node %u, but its ranks were given %u core(s): up to %u "
                   "tasks share each",
                   i, cores_per_node, given, (cores_per_node + given - 1) / given);
        return true;
    }
    if (!cores_per_node && given < there) {
        wfmpi_warn("node %u: the launcher bound its ranks to %u of its %u cores, and tasks run "
                   "on those only (mpiexec --bind-to none, or srun --cpus-per-task, gives them the "
                   "node)",
                   i, given, there);
        return true;
    }
    return false;
}

const struct wfmpi_sched_node *wfmpi_mpi_sched_nodes(struct wfmpi_mpi *m, uint32_t cores_per_node,
                                                     uint32_t *n)
{
    if (!m->sched_nodes) {
        m->sched_nodes = calloc(m->n_nodes, sizeof(*m->sched_nodes));
        m->gpu_owner = calloc((size_t)m->n_nodes * WFMPI_TOPO_MAX_GPUS, sizeof(uint32_t));
        m->gpu_group = calloc((size_t)m->n_nodes * WFMPI_TOPO_MAX_GPUS, sizeof(uint32_t));
        m->gpu_table = calloc((size_t)m->n_nodes * WFMPI_TOPO_MAX_GPUS, 1);
        if (!m->sched_nodes || !m->gpu_owner || !m->gpu_group || !m->gpu_table)
            return NULL;
    }
    uint32_t slot = 0;
    bool warned = false;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        struct wfmpi_sched_node *sn = &m->sched_nodes[i];
        const struct wfmpi_topo_node *info = &m->nodes[i].info;
        size_t base = (size_t)i * WFMPI_TOPO_MAX_GPUS;
        uint32_t given = node_cores(m, i, slot);
        warned = warned || warn_cores(m, i, given, cores_per_node);
        sn->cores = cores_per_node ? cores_per_node : given;
        sn->gpus = node_gpus(m, i, slot, (uint32_t)base);
        sn->memory_mb = info->memory_mb;
        sn->first_rank = slot;
        sn->n_ranks = m->nodes[i].n_ranks;
        sn->gpu_owner = m->gpu_owner + base;
        sn->gpu_group = m->gpu_group + base;
        slot += sn->n_ranks;
    }
    *n = m->n_nodes;
    return m->sched_nodes;
}

int mpi_bcast_config(struct wfmpi_buf *scratch, const struct wire_config *cfg)
{
    struct wire_writer w;
    wire_begin(&w, scratch, WIRE_TAG_CONFIG);
    wire_put_config(&w, cfg);
    wire_finish(&w, 1);
    if (w.rc < 0)
        return w.rc;
    int len = (int)scratch->len;
    if (MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Bcast(scratch->data, len, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return WFMPI_E_MPI;
    return 0;
}

int64_t mpi_recv_msg(struct wfmpi_buf *buf, int src, int tag, int *from)
{
    MPI_Status st;
    int rc = MPI_Probe(src, tag, MPI_COMM_WORLD, &st);
    int count = 0;
    if (rc == MPI_SUCCESS)
        rc = MPI_Get_count(&st, MPI_BYTE, &count);
    if (rc != MPI_SUCCESS)
        return WFMPI_E_MPI;
    if (count < 0 || (size_t)count > WIRE_MAX_MSG)
        return WFMPI_E_PROTO;
    wfmpi_buf_reset(buf);
    if (wfmpi_grow((void **)&buf->data, &buf->cap, (size_t)count + 1, 1) < 0)
        return -ENOMEM;
    rc = MPI_Recv(buf->data, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                  MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS)
        return WFMPI_E_MPI;
    buf->len = (size_t)count;
    if (from)
        *from = st.MPI_SOURCE;
    return count;
}

void mpi_task_spec(const struct wire_task *t, const struct wire_config *c,
                   struct wfmpi_exec_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->exe = t->exe;
    spec->argv = t->argv;
    spec->argc = t->argc;
    spec->env = t->env;
    spec->n_env = t->n_env;
    spec->work_dir = c->work_dir;
    spec->stdin_path = t->stdin_path[0] ? t->stdin_path : NULL;
    spec->stdout_path = t->stdout_path;
    spec->stderr_path = t->stderr_path;
    spec->stdout_lazy = (t->flags & WIRE_TASK_STDOUT_LAZY) != 0;
    spec->stderr_lazy = (t->flags & WIRE_TASK_STDERR_LAZY) != 0;
    spec->lazy_fresh = (t->flags & WIRE_TASK_LOGS_FRESH) != 0;
    spec->outputs = t->outputs;
    spec->n_outputs = t->n_outputs;
    spec->successmsg = t->successmsg[0] ? t->successmsg : NULL;
    spec->failuremsg = t->failuremsg[0] ? t->failuremsg : NULL;
    spec->timeout_s = t->timeout_s;
    spec->kill_grace_s = c->kill_grace_s;
    spec->checkpoint_signal_s = t->checkpoint_s;
    spec->cpuset = t->cpuset[0] ? t->cpuset : NULL;
}
