/* Placement: per-node free resources under a max segment tree, the choice of
 * GPUs within a node and of the launching rank. */
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

static inline bool seg_fits(const struct sched_seg *v, const struct sched_class *c)
{
    return v->cores >= c->cores && v->gpus >= c->gpus && v->mem >= c->memory_mb;
}

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static inline uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* Refresh a leaf and its ancestors, stopping early once a subtree maximum is
 * unchanged (then nothing above it changes either). */
void sched_seg_update(struct wfmpi_sched *s, uint32_t node)
{
    const struct sched_node *n = &s->nodes[node];
    uint32_t i = s->seg_base + node;
    s->seg[i] = (struct sched_seg){n->free_mem, n->free_cores, n->free_gpus};
    for (i /= 2; i >= 1; i /= 2) {
        const struct sched_seg *l = &s->seg[2 * i], *r = &s->seg[2 * i + 1];
        struct sched_seg v = {max_u64(l->mem, r->mem), max_u32(l->cores, r->cores),
                              max_u32(l->gpus, r->gpus)};
        if (v.mem == s->seg[i].mem && v.cores == s->seg[i].cores && v.gpus == s->seg[i].gpus)
            break;
        s->seg[i] = v;
    }
}

static int check_node(const struct wfmpi_sched_node *n, uint32_t i, struct wfmpi_error *err)
{
    if (n->gpus > WFMPI_SCHED_MAX_GPUS_PER_NODE)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "node %u has %u GPUs; at most %d are supported",
                               i, n->gpus, WFMPI_SCHED_MAX_GPUS_PER_NODE);
    if (n->n_ranks == 0 || n->first_rank > UINT32_MAX - n->n_ranks)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "node %u has an invalid rank range", i);
    for (uint32_t g = 0; n->gpu_owner && g < n->gpus; g++)
        if (n->gpu_owner[g] < n->first_rank || n->gpu_owner[g] - n->first_rank >= n->n_ranks)
            return wfmpi_error_set(err, WFMPI_E_INPUT,
                                   "node %u: GPU %u is owned by rank %u, not one of the node's", i,
                                   g, n->gpu_owner[g]);
    return 0;
}

/* The rank that launches tasks on GPU g: the configured owner, else the
 * node's ranks in turn. */
static uint32_t owner_of(const struct wfmpi_sched_node *n, uint32_t g)
{
    return n->gpu_owner ? n->gpu_owner[g] : n->first_rank + g % n->n_ranks;
}

static int nodes_alloc(struct wfmpi_sched *s, const struct wfmpi_sched_config *cfg)
{
    size_t total_gpus = 0;
    uint32_t n_ranks = 0;
    for (uint32_t i = 0; i < cfg->n_nodes; i++) {
        const struct wfmpi_sched_node *n = &cfg->nodes[i];
        total_gpus += n->gpus;
        n_ranks = max_u32(n_ranks, n->first_rank + n->n_ranks);
    }
    s->seg_base = 1;
    while (s->seg_base < cfg->n_nodes)
        s->seg_base *= 2;
    s->n_nodes = cfg->n_nodes;
    s->n_ranks = n_ranks;
    s->nodes = calloc(cfg->n_nodes, sizeof(*s->nodes));
    s->seg = calloc(2 * (size_t)s->seg_base, sizeof(*s->seg));
    s->gpu_owner = calloc(total_gpus ? total_gpus : 1, sizeof(*s->gpu_owner));
    for (uint32_t i = 0; i < cfg->n_nodes && !s->gpu_group; i++)
        if (cfg->nodes[i].gpu_group && cfg->nodes[i].gpus &&
            !(s->gpu_group = calloc(total_gpus, sizeof(*s->gpu_group))))
            return -ENOMEM;
    s->rank_running = calloc(n_ranks ? n_ranks : 1, sizeof(*s->rank_running));
    size_t slots = 0;
    for (uint32_t i = 0; i < cfg->n_nodes; i++)
        slots += cfg->nodes[i].cores;
    s->run_lists = malloc((slots ? slots : 1) * sizeof(uint32_t));
    if (!s->nodes || !s->seg || !s->gpu_owner || !s->rank_running || !s->run_lists)
        return -ENOMEM;
    for (uint32_t i = 0, at = 0; i < cfg->n_nodes; at += cfg->nodes[i].cores, i++)
        s->nodes[i].run = s->run_lists + at;
    return 0;
}

int sched_nodes_init(struct wfmpi_sched *s, const struct wfmpi_sched_config *cfg,
                     struct wfmpi_error *err)
{
    if (!cfg || !cfg->nodes || cfg->n_nodes == 0)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "the pool has no nodes");
    for (uint32_t i = 0; i < cfg->n_nodes; i++) {
        int rc = check_node(&cfg->nodes[i], i, err);
        if (rc < 0)
            return rc;
    }
    int rc = nodes_alloc(s, cfg);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "out of memory for %u nodes", cfg->n_nodes);
    uint32_t base = 0;
    for (uint32_t i = 0; i < cfg->n_nodes; i++) {
        const struct wfmpi_sched_node *in = &cfg->nodes[i];
        struct sched_node *n = &s->nodes[i];
        n->free_cores = in->cores;
        n->free_gpus = n->gpus = in->gpus;
        n->free_gpu_mask = in->gpus == 64 ? ~0ull : (1ull << in->gpus) - 1;
        n->free_mem = in->memory_mb ? in->memory_mb : UINT64_MAX;
        n->first_rank = in->first_rank;
        n->n_ranks = in->n_ranks;
        n->gpu_base = base;
        for (uint32_t g = 0; g < in->gpus; g++) {
            s->gpu_owner[base + g] = owner_of(in, g);
            /* A node without groups: every GPU in its own, so only the
             * adjacent-run rule applies. */
            if (s->gpu_group)
                s->gpu_group[base + g] = in->gpu_group ? in->gpu_group[g] : g;
        }
        base += in->gpus;
        sched_seg_update(s, i);
    }
    return 0;
}

void sched_nodes_free(struct wfmpi_sched *s)
{
    free(s->nodes);
    free(s->seg);
    free(s->gpu_owner);
    free(s->gpu_group);
    free(s->rank_running);
    free(s->run_lists);
}

/* Leftmost fitting leaf under i. A subtree whose maxima fit may still hold no
 * node that fits all three at once (cores on one node, GPUs on another), so
 * the descent backtracks; pruning keeps it O(log nodes) unless the pool is
 * fragmented in exactly that way. */
static uint32_t seg_find(const struct wfmpi_sched *s, uint32_t i, const struct sched_class *c)
{
    if (!seg_fits(&s->seg[i], c))
        return SCHED_NONE;
    if (i >= s->seg_base)
        return i - s->seg_base;
    uint32_t r = seg_find(s, 2 * i, c);
    return r != SCHED_NONE ? r : seg_find(s, 2 * i + 1, c);
}

uint32_t sched_find_node(const struct wfmpi_sched *s, const struct sched_class *c)
{
    return seg_find(s, 1, c);
}

/* Closest together: the lowest-numbered run of k adjacent free GPUs (adjacent
 * ordinals usually share a switch or NUMA domain), else the k lowest free
 * GPUs. The only place that decides GPU locality, so a topology-aware
 * distance can replace it later. */
uint64_t sched_pick_gpus(uint64_t free_mask, uint32_t k, uint32_t n_gpus)
{
    if (k == 0)
        return 0;
    uint64_t run = k >= 64 ? ~0ull : (1ull << k) - 1;
    for (uint32_t start = 0; start + k <= n_gpus; start++) {
        uint64_t m = run << start;
        if ((free_mask & m) == m)
            return m;
    }
    uint64_t mask = 0;
    for (uint32_t i = 0; i < k && free_mask; i++) {
        uint64_t low = free_mask & (~free_mask + 1);
        mask |= low;
        free_mask &= free_mask - 1;
    }
    return mask;
}

uint64_t sched_pick_gpus_near(uint64_t free_mask, uint32_t k, uint32_t n_gpus,
                              const uint32_t *group)
{
    if (!group || k <= 1)
        return sched_pick_gpus(free_mask, k, n_gpus);
    /* At most 64 GPUs: for each free GPU, count the free GPUs of its group
     * and keep the tightest group that still holds k. */
    uint32_t best = UINT32_MAX, best_free = UINT32_MAX;
    for (uint32_t g = 0; g < n_gpus; g++) {
        if (!(free_mask >> g & 1))
            continue;
        uint32_t nfree = 0;
        for (uint32_t h = 0; h < n_gpus; h++)
            nfree += (free_mask >> h & 1) && group[h] == group[g];
        if (nfree >= k && nfree < best_free) {
            best = group[g];
            best_free = nfree;
        }
    }
    if (best == UINT32_MAX)
        return sched_pick_gpus(free_mask, k, n_gpus);
    uint64_t in_group = 0;
    for (uint32_t g = 0; g < n_gpus; g++)
        if (group[g] == best)
            in_group |= 1ull << g;
    return sched_pick_gpus(free_mask & in_group, k, n_gpus);
}

uint64_t wfmpi_sched_pick_gpus(uint64_t free_mask, uint32_t k, uint32_t n_gpus,
                               const uint32_t *group)
{
    if ((uint32_t)__builtin_popcountll(free_mask) < k)
        return 0;
    return sched_pick_gpus_near(free_mask, k, n_gpus, group);
}

/* CPU tasks go to the node's least busy rank, so process creation (the
 * workers' main cost) spreads over the ranks. */
static uint32_t least_busy_rank(const struct wfmpi_sched *s, const struct sched_node *n)
{
    uint32_t best = n->first_rank;
    for (uint32_t r = n->first_rank + 1; r < n->first_rank + n->n_ranks; r++)
        if (s->rank_running[r] < s->rank_running[best])
            best = r;
    return best;
}

void sched_take(struct wfmpi_sched *s, uint32_t task, uint32_t node, struct wfmpi_sched_dispatch *d)
{
    struct sched_task *t = &s->tasks[task];
    const struct sched_class *c = &s->classes[t->cls];
    struct sched_node *n = &s->nodes[node];
    uint64_t gpus = sched_pick_gpus_near(n->free_gpu_mask, c->gpus, n->gpus,
                                         s->gpu_group ? s->gpu_group + n->gpu_base : NULL);
    n->free_gpu_mask &= ~gpus;
    n->free_gpus -= c->gpus;
    n->free_cores -= c->cores;
    if (n->free_mem != UINT64_MAX)
        n->free_mem -= c->memory_mb;
    sched_seg_update(s, node);
    uint32_t rank =
        gpus ? s->gpu_owner[n->gpu_base + (uint32_t)__builtin_ctzll(gpus)] : least_busy_rank(s, n);
    s->rank_running[rank]++;
    t->gpu_mask = gpus;
    t->node = node;
    t->rank = rank;
    sched_run_add(s, node, task);
    *d = (struct wfmpi_sched_dispatch){.task = task,
                                       .attempt = t->attempts,
                                       .node = node,
                                       .rank = rank,
                                       .cores = c->cores,
                                       .memory_mb = c->memory_mb,
                                       .gpu_mask = gpus};
}

void sched_release(struct wfmpi_sched *s, uint32_t task)
{
    struct sched_task *t = &s->tasks[task];
    const struct sched_class *c = &s->classes[t->cls];
    struct sched_node *n = &s->nodes[t->node];
    n->free_gpu_mask |= t->gpu_mask;
    n->free_gpus += c->gpus;
    n->free_cores += c->cores;
    if (n->free_mem != UINT64_MAX)
        n->free_mem += c->memory_mb;
    sched_seg_update(s, t->node);
    s->rank_running[t->rank]--;
    sched_run_remove(s, t->node, task);
    t->gpu_mask = 0;
}

/* Name the resource that no node has enough of, against the largest node. */
int sched_explain_misfit(const struct wfmpi_sched *s, const struct sched_class *c,
                         const char *task_id, const char *where, struct wfmpi_error *err)
{
    const struct sched_seg *all = &s->seg[1];
    const char *sep = *where ? ": " : "";
    if (c->gpus > all->gpus)
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "%s%stask '%s' asks for %u GPUs but the largest node has %u", where,
                               sep, task_id, c->gpus, all->gpus);
    if (c->cores > all->cores)
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "%s%stask '%s' asks for %u cores but the largest node has %u", where,
                               sep, task_id, c->cores, all->cores);
    if (c->memory_mb > all->mem)
        return wfmpi_error_set(
            err, WFMPI_E_INPUT,
            "%s%stask '%s' asks for %llu MB of memory but the largest node has %llu", where, sep,
            task_id, (unsigned long long)c->memory_mb, (unsigned long long)all->mem);
    return wfmpi_error_set(err, WFMPI_E_INPUT,
                           "%s%stask '%s' asks for %u cores, %u GPUs and %llu MB together, "
                           "which no single node has",
                           where, sep, task_id, c->cores, c->gpus,
                           (unsigned long long)c->memory_mb);
}
