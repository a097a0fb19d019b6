/* A task's CPU binding and GPU environment, chosen by the master for the
 * task record (DESIGN.md §5, §6).
 *
 * Exact core sets: every running task owns whole cores of its node that no
 * other running task holds. The master keeps one busy set per node; a
 * task's cores are the free ones of its pool (its rank's share, or the
 * cores local to its GPUs), and only when the pool has too few free does it
 * spill onto the node's other free cores, nearest first
 * (wfmpi_topo_pick_free_cores). A standby is bound inside the cores of the
 * attempt it follows (it takes them over when that one ends, so it never
 * needs a core anyone else holds). Where the scheduler was told of more
 * cores than there are (--cores-per-node), exact sets cannot exist: a task
 * that finds too few free cores falls back to the old round-robin choice in
 * its pool and owns nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi_int.h"

static void list_append(char *buf, size_t size, const char *item)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s", buf[len - 1] == '=' ? "" : ",", item);
}

/* The cores a task may use: those of the ranks owning its GPUs (the cores
 * local to them), else those of its own rank; fills the GPU environment. */
static void task_pool(const struct wfmpi_mpi *m, const struct wfmpi_sched_dispatch *d,
                      struct wfmpi_topo_cpuset *pool, struct mpi_binding *b)
{
    const struct wfmpi_topo *t = &m->node_topo[d->node];
    const struct wfmpi_sched_node *sn = &m->sched_nodes[d->node];
    wfmpi_topo_cpuset_zero(pool);
    for (uint32_t g = 0; g < sn->gpus; g++) {
        if (!(d->gpu_mask >> g & 1))
            continue;
        const struct wfmpi_topo_gpu *gpu =
            &t->gpus[m->gpu_table[(size_t)d->node * WFMPI_TOPO_MAX_GPUS + g]];
        wfmpi_topo_cpuset_or(pool, &m->slot_share[sn->gpu_owner[g]].cpus);
        char ord[16];
        snprintf(ord, sizeof(ord), "%u", gpu->ordinal);
        list_append(b->env_cuda, sizeof(b->env_cuda), ord);
        list_append(b->env_gpus, sizeof(b->env_gpus), gpu->uuid[0] ? gpu->uuid : gpu->busid);
    }
    if (!d->gpu_mask)
        *pool = m->slot_share[d->rank].cpus;
}

/* The scratch binding with its GPU environment filled and *pool set; NULL
 * when no topology is known (nothing to bind). */
static struct mpi_binding *begin(struct wfmpi_mpi *m, const struct wfmpi_sched_dispatch *d,
                                 struct wfmpi_topo_cpuset *pool)
{
    if (!m->binding && !(m->binding = malloc(sizeof(*m->binding))))
        return NULL;
    struct mpi_binding *b = m->binding;
    b->cpuset[0] = b->env_cpuset[0] = '\0';
    strcpy(b->env_cuda, "CUDA_VISIBLE_DEVICES=");
    strcpy(b->env_gpus, "WFMPI_GPUS=");
    b->has_gpus = false;
    if (!m->node_topo || !m->sched_nodes || d->node >= m->n_nodes)
        return NULL;
    b->has_gpus = m->sched_nodes[d->node].gpus > 0;
    task_pool(m, d, pool, b);
    return b;
}

/* The cpuset strings of the chosen cpus. */
static void finish(struct wfmpi_mpi *m, const struct wfmpi_sched_dispatch *d, struct mpi_binding *b,
                   struct wfmpi_topo_cpuset *cpus)
{
    strcpy(b->env_cpuset, "WFMPI_CPUSET=");
    if (wfmpi_topo_cpuset_format(cpus, b->env_cpuset + 13, sizeof(b->env_cpuset) - 13) <= 0)
        b->env_cpuset[0] = '\0';
    /* Bind only to CPUs that exist where the task runs (an XML topology's
     * do not). */
    wfmpi_topo_cpuset_and(cpus, &m->slot_share[d->rank].existing);
    wfmpi_topo_cpuset_format(cpus, b->cpuset, sizeof(b->cpuset));
}

const struct mpi_binding *mpi_task_binding(struct wfmpi_mpi *m,
                                           const struct wfmpi_sched_dispatch *d)
{
    struct wfmpi_topo_cpuset pool, cpus;
    struct mpi_binding *b = begin(m, d, &pool);
    if (!b)
        return m->binding;
    m->core_cursor[d->rank] = wfmpi_topo_pick_cores(&m->node_topo[d->node], &pool, d->cores,
                                                    m->core_cursor[d->rank], &cpus);
    finish(m, d, b, &cpus);
    return b;
}

/* Per node: the CPUs its ranks were given (the union of their shares), and
 * the busy set, both made on first use. */
static int cores_init(struct wfmpi_mpi *m)
{
    if (m->node_busy)
        return 0;
    m->node_busy = calloc(m->n_nodes, sizeof(*m->node_busy));
    m->node_given = calloc(m->n_nodes, sizeof(*m->node_given));
    if (!m->node_busy || !m->node_given) {
        free(m->node_busy);
        free(m->node_given);
        m->node_busy = m->node_given = NULL;
        return -ENOMEM;
    }
    for (uint32_t n = 0; n < m->n_nodes; n++) {
        const struct wfmpi_sched_node *sn = &m->sched_nodes[n];
        for (uint32_t r = sn->first_rank; r < sn->first_rank + sn->n_ranks; r++)
            wfmpi_topo_cpuset_or(&m->node_given[n], &m->slot_share[r].cpus);
    }
    return 0;
}

const struct mpi_binding *mpi_task_binding_exact(struct wfmpi_mpi *m,
                                                 const struct wfmpi_sched_dispatch *d,
                                                 const struct wfmpi_topo_cpuset *within,
                                                 struct wfmpi_topo_cpuset *held)
{
    wfmpi_topo_cpuset_zero(held);
    struct wfmpi_topo_cpuset pool, cpus;
    struct mpi_binding *b = begin(m, d, &pool);
    if (!b || cores_init(m) < 0)
        return b ? mpi_task_binding(m, d) : m->binding;
    const struct wfmpi_topo *t = &m->node_topo[d->node];
    uint32_t want = d->cores ? d->cores : 1, got;
    if (within) {
        struct wfmpi_topo_cpuset none;
        wfmpi_topo_cpuset_zero(&none);
        got = wfmpi_topo_pick_free_cores(t, within, within, &none, want, &cpus);
    } else {
        got = wfmpi_topo_pick_free_cores(t, &pool, &m->node_given[d->node], &m->node_busy[d->node],
                                         want, &cpus);
    }
    if (got < want) /* more cores scheduled than exist: share, as before */
        return mpi_task_binding(m, d);
    *held = cpus;
    if (!within)
        mpi_cores_own(m, d->node, held);
    finish(m, d, b, &cpus);
    return b;
}

void mpi_cores_own(struct wfmpi_mpi *m, uint32_t node, const struct wfmpi_topo_cpuset *held)
{
    if (m->node_busy && node < m->n_nodes)
        wfmpi_topo_cpuset_or(&m->node_busy[node], held);
}

void mpi_cores_release(struct wfmpi_mpi *m, uint32_t node, const struct wfmpi_topo_cpuset *held)
{
    if (!m->node_busy || node >= m->n_nodes)
        return;
    for (size_t w = 0; w < WFMPI_TOPO_CPUSET_WORDS; w++)
        m->node_busy[node].w[w] &= ~held->w[w];
}
