/* Sharing a node among its ranks: which GPUs and which cores each gets.
 * Pure functions of the topology; see topo.h for the policy. */
#include <stdlib.h>
#include <string.h>

#include "topo_int.h"

/* The given cores of a topology, in topology order, with their domain. */
struct core_list {
    uint32_t n;
    uint32_t idx[WFMPI_TOPO_MAX_CORES]; /* core indexes in t->cores */
};

struct plan {
    const struct wfmpi_topo *t;
    const struct wfmpi_topo_given *given;
    uint32_t n_ranks;
    uint32_t n_gpus; /* given GPUs */
    uint8_t order[WFMPI_TOPO_MAX_GPUS]; /* given GPUs by (package, NUMA, ordinal) */
    struct core_list all; /* every given core */
    uint8_t *homeless; /* per rank: none of its GPUs is near a given core */
};

static bool core_given(const struct wfmpi_topo *t, const struct wfmpi_topo_given *g, uint32_t c)
{
    const struct wfmpi_topo_core *core = &t->cores[c];
    for (uint32_t i = 0; i < core->n_pus; i++)
        if (wfmpi_topo_cpuset_isset(&g->cpus, t->pus[core->first_pu + i]))
            return true;
    return false;
}

/* Add core c's given PUs to out. */
static void add_core(const struct plan *p, uint32_t c, struct wfmpi_topo_cpuset *out)
{
    const struct wfmpi_topo_core *core = &p->t->cores[c];
    for (uint32_t i = 0; i < core->n_pus; i++) {
        uint16_t pu = p->t->pus[core->first_pu + i];
        if (wfmpi_topo_cpuset_isset(&p->given->cpus, pu))
            wfmpi_topo_cpuset_set(out, pu);
    }
}

/* Chunk k of r of a list of n cores: even chunks when n >= r, else one
 * shared core each. */
static void add_chunk(const struct plan *p, const uint32_t *list, uint32_t n, uint32_t r,
                      uint32_t k, struct wfmpi_topo_cpuset *out)
{
    if (n == 0 || r == 0)
        return;
    if (n < r) {
        add_core(p, list[(uint64_t)k * n / r], out);
        return;
    }
    uint32_t lo = (uint32_t)((uint64_t)k * n / r), hi = (uint32_t)((uint64_t)(k + 1) * n / r);
    for (uint32_t i = lo; i < hi; i++)
        add_core(p, list[i], out);
}

static uint32_t gpu_key(const struct wfmpi_topo_gpu *g)
{
    return ((uint32_t)g->package << 16) | g->numa;
}

static void order_gpus(struct plan *p)
{
    p->n_gpus = 0;
    for (uint32_t g = 0; g < p->t->n_gpus && g < WFMPI_TOPO_MAX_GPUS; g++)
        if (p->given->gpus >> g & 1)
            p->order[p->n_gpus++] = (uint8_t)g;
    /* Insertion sort by locality; stable, so ordinals stay ascending within
     * a domain. At most 64 entries. */
    for (uint32_t i = 1; i < p->n_gpus; i++) {
        uint8_t v = p->order[i];
        uint32_t j = i;
        while (j > 0 && gpu_key(&p->t->gpus[p->order[j - 1]]) > gpu_key(&p->t->gpus[v])) {
            p->order[j] = p->order[j - 1];
            j--;
        }
        p->order[j] = v;
    }
}

/* GPUs of rank k (bits = table indexes). */
static uint64_t rank_gpus(const struct plan *p, uint32_t k)
{
    uint32_t g = p->n_gpus, r = p->n_ranks;
    if (g < r)
        return k < g ? 1ull << p->order[k] : 0;
    uint64_t mask = 0;
    for (uint32_t i = (uint32_t)((uint64_t)k * g / r); i < (uint64_t)(k + 1) * g / r; i++)
        mask |= 1ull << p->order[i];
    return mask;
}

/* Does rank k's GPU set touch the domain of core c? A GPU of unknown
 * locality touches every domain. */
static bool rank_near(const struct plan *p, uint32_t k, uint32_t c)
{
    uint64_t m = rank_gpus(p, k);
    const struct wfmpi_topo_core *core = &p->t->cores[c];
    for (uint32_t g = 0; g < p->t->n_gpus; g++) {
        if (!(m >> g & 1))
            continue;
        uint16_t numa = p->t->gpus[g].numa;
        if (numa == WFMPI_TOPO_UNKNOWN || numa == core->numa)
            return true;
        if (core->numa == WFMPI_TOPO_UNKNOWN && p->t->gpus[g].package == core->package)
            return true;
    }
    return false;
}

/* A rank none of whose GPUs is near a given core (srun gave the ranks cores
 * far from their GPUs) counts as near every core, so it still gets some. */
static bool rank_homeless(const struct plan *p, uint32_t k)
{
    for (uint32_t i = 0; i < p->all.n; i++)
        if (rank_near(p, k, p->all.idx[i]))
            return false;
    return true;
}

static bool rank_near_or_homeless(const struct plan *p, uint32_t k, uint32_t c)
{
    return p->homeless[k] || rank_near(p, k, c);
}

static bool rank_same_package(const struct plan *p, uint32_t k, uint32_t c)
{
    uint64_t m = rank_gpus(p, k);
    for (uint32_t g = 0; g < p->t->n_gpus; g++)
        if ((m >> g & 1) && p->t->gpus[g].package == p->t->cores[c].package)
            return true;
    return false;
}

/* Cores of the given list that share core c's NUMA domain, in order. */
static uint32_t domain_cores(const struct plan *p, uint32_t c, uint32_t *out)
{
    uint32_t n = 0;
    uint16_t numa = p->t->cores[c].numa;
    for (uint32_t i = 0; i < p->all.n; i++)
        if (p->t->cores[p->all.idx[i]].numa == numa)
            out[n++] = p->all.idx[i];
    return n;
}

typedef bool (*near_fn)(const struct plan *p, uint32_t k, uint32_t c);

/* Every rank has GPUs: split each domain among the ranks near it. For each
 * domain (found at its first core), rank `rank`'s position among the near
 * ranks picks its chunk. Domains nobody is near go to the ranks of the same
 * package, else to everybody. */
static void cores_all_gpu(const struct plan *p, uint32_t rank, struct wfmpi_topo_cpuset *out)
{
    static const near_fn tests[] = {rank_near_or_homeless, rank_same_package};
    uint32_t *dom = malloc(sizeof(uint32_t) * WFMPI_TOPO_MAX_CORES);
    if (!dom)
        return;
    for (uint32_t i = 0; i < p->all.n; i++) {
        uint32_t c = p->all.idx[i];
        uint32_t nd = domain_cores(p, c, dom);
        if (dom[0] != c)
            continue; /* not the domain's first core: done already */
        uint32_t near = 0, pos = 0;
        for (size_t t = 0; t < 2 && near == 0; t++) {
            for (uint32_t k = 0; k < p->n_ranks; k++) {
                if (!tests[t](p, k, c))
                    continue;
                if (k == rank)
                    pos = near + 1;
                near++;
            }
        }
        if (near == 0) /* everybody */
            add_chunk(p, dom, nd, p->n_ranks, rank, out);
        else if (pos)
            add_chunk(p, dom, nd, near, pos - 1, out);
    }
    free(dom);
}

/* Some ranks are CPU-only. Each GPU rank takes its even share from its GPU's
 * domain; the CPU-only ranks split the rest. */
static void cores_mixed(const struct plan *p, uint32_t rank, struct wfmpi_topo_cpuset *out)
{
    uint32_t C = p->all.n, r = p->n_ranks, g = p->n_gpus;
    uint32_t share = C >= r ? C / r : 1;
    uint8_t *taken = calloc(WFMPI_TOPO_MAX_CORES, 1);
    uint32_t *dom = malloc(sizeof(uint32_t) * WFMPI_TOPO_MAX_CORES);
    uint32_t *left = malloc(sizeof(uint32_t) * WFMPI_TOPO_MAX_CORES);
    if (!taken || !dom || !left)
        goto out;
    for (uint32_t k = 0; k < g; k++) {
        /* Rank k's single GPU: the cores of its domain. */
        uint32_t nd = 0;
        for (uint32_t i = 0; i < C; i++)
            if (rank_near_or_homeless(p, k, p->all.idx[i]))
                dom[nd++] = p->all.idx[i];
        uint32_t near_before = 0, near_total = 0;
        for (uint32_t j = 0; j < g; j++) {
            bool same = nd && rank_near_or_homeless(p, j, dom[0]);
            near_total += same;
            near_before += same && j < k;
        }
        struct wfmpi_topo_cpuset mine;
        wfmpi_topo_cpuset_zero(&mine);
        if ((uint64_t)near_total * share <= nd) {
            for (uint32_t i = near_before * share; i < (near_before + 1) * share; i++) {
                add_core(p, dom[i], &mine);
                taken[dom[i]] = 1;
            }
        } else {
            add_chunk(p, dom, nd, near_total, near_before, &mine);
            for (uint32_t i = 0; i < nd; i++)
                taken[dom[i]] = 1;
        }
        if (k == rank)
            *out = mine;
    }
    if (rank < g)
        goto out;
    uint32_t nl = 0;
    for (uint32_t i = 0; i < C; i++)
        if (!taken[p->all.idx[i]])
            left[nl++] = p->all.idx[i];
    if (nl)
        add_chunk(p, left, nl, r - g, rank - g, out);
    else
        add_chunk(p, p->all.idx, C, r - g, rank - g, out);
out:
    free(taken);
    free(dom);
    free(left);
}

int wfmpi_topo_assign(const struct wfmpi_topo *t, const struct wfmpi_topo_given *given,
                      uint32_t n_ranks, uint32_t rank, struct wfmpi_topo_rank *out)
{
    if (n_ranks == 0 || rank >= n_ranks)
        return WFMPI_E_INPUT;
    struct plan *p = malloc(sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->t = t;
    p->given = given;
    p->n_ranks = n_ranks;
    p->all.n = 0;
    for (uint32_t c = 0; c < t->n_cores; c++)
        if (core_given(t, given, c))
            p->all.idx[p->all.n++] = c;
    if (p->all.n == 0) {
        free(p);
        return WFMPI_E_INPUT;
    }
    order_gpus(p);
    if (!(p->homeless = calloc(n_ranks, 1))) {
        free(p);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < n_ranks; k++)
        p->homeless[k] = rank_homeless(p, k);
    out->gpus = rank_gpus(p, rank);
    wfmpi_topo_cpuset_zero(&out->cpus);
    if (p->n_gpus >= n_ranks)
        cores_all_gpu(p, rank, &out->cpus);
    else
        cores_mixed(p, rank, &out->cpus);
    free(p->homeless);
    free(p);
    return wfmpi_topo_cpuset_count(&out->cpus) ? 0 : -ENOMEM;
}

uint32_t wfmpi_topo_pick_cores(const struct wfmpi_topo *t, const struct wfmpi_topo_cpuset *pool,
                               uint32_t cores, uint32_t start, struct wfmpi_topo_cpuset *out)
{
    wfmpi_topo_cpuset_zero(out);
    uint32_t n = 0;
    for (uint32_t c = 0; c < t->n_cores; c++) {
        const struct wfmpi_topo_core *core = &t->cores[c];
        for (uint32_t i = 0; i < core->n_pus; i++)
            if (wfmpi_topo_cpuset_isset(pool, t->pus[core->first_pu + i])) {
                n++;
                break;
            }
    }
    if (cores == 0 || cores >= n) {
        *out = *pool;
        return start;
    }
    start %= n;
    uint32_t seen = 0, picked = 0;
    /* Two passes over the pool's cores so the window can wrap. */
    for (uint32_t pass = 0; pass < 2 && picked < cores; pass++) {
        for (uint32_t c = 0; c < t->n_cores && picked < cores; c++) {
            const struct wfmpi_topo_core *core = &t->cores[c];
            bool in = false;
            for (uint32_t i = 0; i < core->n_pus; i++)
                in |= wfmpi_topo_cpuset_isset(pool, t->pus[core->first_pu + i]);
            if (!in)
                continue;
            if (seen++ < start && pass == 0)
                continue;
            for (uint32_t i = 0; i < core->n_pus; i++) {
                uint16_t pu = t->pus[core->first_pu + i];
                if (wfmpi_topo_cpuset_isset(pool, pu))
                    wfmpi_topo_cpuset_set(out, pu);
            }
            picked++;
        }
    }
    return (start + cores) % n;
}

/* ------------------------------------------------ exact core sets */

/* Does any PU of core c lie in s? */
static bool core_in(const struct wfmpi_topo *t, uint32_t c, const struct wfmpi_topo_cpuset *s)
{
    const struct wfmpi_topo_core *core = &t->cores[c];
    for (uint32_t i = 0; i < core->n_pus; i++)
        if (wfmpi_topo_cpuset_isset(s, t->pus[core->first_pu + i]))
            return true;
    return false;
}

static void take_core(const struct wfmpi_topo *t, uint32_t c, const struct wfmpi_topo_cpuset *node,
                      struct wfmpi_topo_cpuset *out)
{
    const struct wfmpi_topo_core *core = &t->cores[c];
    for (uint32_t i = 0; i < core->n_pus; i++) {
        uint16_t pu = t->pus[core->first_pu + i];
        if (wfmpi_topo_cpuset_isset(node, pu))
            wfmpi_topo_cpuset_set(out, pu);
    }
}

/* Where the pool's cores are: which NUMA domains and packages hold one. */
struct pool_places {
    bool numa[WFMPI_TOPO_MAX_CORES], package[WFMPI_TOPO_MAX_CORES];
};

static void pool_places(const struct wfmpi_topo *t, const struct wfmpi_topo_cpuset *pool,
                        struct pool_places *pp)
{
    memset(pp, 0, sizeof(*pp));
    for (uint32_t c = 0; c < t->n_cores; c++) {
        if (!core_in(t, c, pool))
            continue;
        if (t->cores[c].numa < WFMPI_TOPO_MAX_CORES)
            pp->numa[t->cores[c].numa] = true;
        if (t->cores[c].package < WFMPI_TOPO_MAX_CORES)
            pp->package[t->cores[c].package] = true;
    }
}

/* How near a core outside the pool is to it: 1 in one of its NUMA
 * domains, 2 in one of its packages, 3 elsewhere. */
static int distance(const struct wfmpi_topo_core *core, const struct pool_places *pp)
{
    if (core->numa < WFMPI_TOPO_MAX_CORES && pp->numa[core->numa])
        return 1;
    return core->package < WFMPI_TOPO_MAX_CORES && pp->package[core->package] ? 2 : 3;
}

/* Take free cores of `node` (not in busy) that `want(c)` accepts, in
 * topology order, until `cores` are picked. */
static uint32_t take_free(const struct wfmpi_topo *t, const struct wfmpi_topo_cpuset *node,
                          const struct wfmpi_topo_cpuset *busy, uint32_t cores, uint32_t picked,
                          const struct wfmpi_topo_cpuset *pool, const struct pool_places *pp, int d,
                          struct wfmpi_topo_cpuset *out)
{
    for (uint32_t c = 0; c < t->n_cores && picked < cores; c++) {
        bool in_pool = core_in(t, c, pool);
        if ((d == 0) != in_pool || !core_in(t, c, node) || core_in(t, c, busy) ||
            (d > 0 && distance(&t->cores[c], pp) != d))
            continue;
        take_core(t, c, node, out);
        picked++;
    }
    return picked;
}

uint32_t wfmpi_topo_pick_free_cores(const struct wfmpi_topo *t,
                                    const struct wfmpi_topo_cpuset *pool,
                                    const struct wfmpi_topo_cpuset *node,
                                    const struct wfmpi_topo_cpuset *busy, uint32_t cores,
                                    struct wfmpi_topo_cpuset *out)
{
    wfmpi_topo_cpuset_zero(out);
    /* The pool's own cores first: the common case, one pass. Only a task
     * that needs more than its pool has free spills, nearest first. */
    uint32_t picked = take_free(t, node, busy, cores, 0, pool, NULL, 0, out);
    if (picked == cores)
        return picked;
    struct pool_places *pp = malloc(sizeof(*pp));
    if (!pp)
        return picked;
    pool_places(t, pool, pp);
    for (int d = 1; d <= 3 && picked < cores; d++)
        picked = take_free(t, node, busy, cores, picked, pool, pp, d, out);
    free(pp);
    return picked;
}
