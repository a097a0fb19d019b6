/* Start-up: every rank learns its node, the master learns the allocation. */
#include <stdlib.h>
#include <string.h>

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
    int status = 0;
    if (m->node_rank == 0)
        status = wfmpi_topo_discover(&m->local, err);
    int rc = MPI_Bcast(&status, 1, MPI_INT, 0, m->node_comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Bcast(&m->local, sizeof(m->local), MPI_BYTE, 0, m->node_comm);
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "MPI_Bcast");
    if (status < 0 && m->node_rank != 0)
        return wfmpi_error_set(err, status, "node discovery failed on this node's first rank");
    return status;
}

/* The master gathers (node index, topology) from every rank and groups ranks
 * by node in rank order. */
static int build_node_map(struct wfmpi_mpi *m, struct wfmpi_error *err)
{
    struct {
        int node;
        struct wfmpi_topo_node info;
    } mine = {m->node_index, m->local}, *all = NULL;
    if (m->rank == 0 && !(all = calloc((size_t)m->size, sizeof(*all))))
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the node map");
    int rc =
        MPI_Gather(&mine, sizeof(mine), MPI_BYTE, all, sizeof(mine), MPI_BYTE, 0, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail(err, rc, "MPI_Gather");
    }
    if (m->rank != 0)
        return 0;
    int n_nodes = 0;
    for (int r = 0; r < m->size; r++)
        n_nodes = all[r].node + 1 > n_nodes ? all[r].node + 1 : n_nodes;
    m->n_nodes = (uint32_t)n_nodes;
    m->nodes = calloc((size_t)n_nodes, sizeof(*m->nodes));
    m->node_ranks = calloc((size_t)m->size, sizeof(int));
    if (!m->nodes || !m->node_ranks) {
        free(all);
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the node map");
    }
    int at = 0;
    for (int n = 0; n < n_nodes; n++) {
        m->nodes[n].ranks = m->node_ranks + at;
        for (int r = 0; r < m->size; r++) {
            if (all[r].node != n)
                continue;
            if (m->nodes[n].n_ranks == 0)
                m->nodes[n].info = all[r].info;
            m->node_ranks[at++] = r;
            m->nodes[n].n_ranks++;
        }
    }
    m->slot_rank = m->node_ranks;
    free(all);
    return 0;
}

struct wfmpi_mpi *wfmpi_mpi_init(int *argc, char ***argv, struct wfmpi_error *err)
{
    struct wfmpi_mpi *m = calloc(1, sizeof(*m));
    if (!m) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
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
    if (find_node_index(m, err) < 0 || discover_node(m, err) < 0 || build_node_map(m, err) < 0) {
        wfmpi_mpi_finalize(m);
        return NULL;
    }
    return m;
}

void wfmpi_mpi_finalize(struct wfmpi_mpi *m)
{
    if (!m)
        return;
    if (m->node_comm != MPI_COMM_NULL && m->node_comm != 0)
        MPI_Comm_free(&m->node_comm);
    MPI_Finalize();
    free(m->nodes);
    free(m->node_ranks);
    free(m->sched_nodes);
    free(m);
}

void wfmpi_mpi_abort(struct wfmpi_mpi *m, int code)
{
    (void)m;
    MPI_Abort(MPI_COMM_WORLD, code);
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

const struct wfmpi_sched_node *wfmpi_mpi_sched_nodes(struct wfmpi_mpi *m, uint32_t cores_per_node,
                                                     uint32_t *n)
{
    if (!m->sched_nodes && !(m->sched_nodes = calloc(m->n_nodes, sizeof(*m->sched_nodes))))
        return NULL;
    uint32_t slot = 0;
    for (uint32_t i = 0; i < m->n_nodes; i++) {
        struct wfmpi_sched_node *sn = &m->sched_nodes[i];
        const struct wfmpi_topo_node *info = &m->nodes[i].info;
        sn->cores = cores_per_node ? cores_per_node : info->cores;
        sn->gpus = info->gpus;
        sn->memory_mb = info->memory_mb;
        sn->first_rank = slot;
        sn->n_ranks = m->nodes[i].n_ranks;
        sn->gpu_owner = NULL;
        slot += sn->n_ranks;
    }
    *n = m->n_nodes;
    return m->sched_nodes;
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
    spec->outputs = t->outputs;
    spec->n_outputs = t->n_outputs;
    spec->successmsg = t->successmsg[0] ? t->successmsg : NULL;
    spec->failuremsg = t->failuremsg[0] ? t->failuremsg : NULL;
    spec->timeout_s = t->timeout_s;
    spec->kill_grace_s = c->kill_grace_s;
    spec->checkpoint_signal_s = t->checkpoint_s;
    spec->cpuset = t->cpuset[0] ? t->cpuset : NULL;
}
