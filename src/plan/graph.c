/* Graph work of the builder: CSR adjacency with de-duplicated edges, Kahn's
 * topological order (and one concrete cycle when there is none), levels,
 * critical paths and statistics. Every step is linear in tasks + edges
 * (bucketing instead of a global sort), so a million-task plan stays cheap. */
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort one child's parents and drop repeats; returns the new count. Lists
 * are short in practice, so insertion sort, with qsort for wide fan-ins. */
static uint32_t sort_unique(uint32_t *v, uint32_t n)
{
    if (n > 32) {
        qsort(v, n, sizeof(*v), cmp_u32);
    } else {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t x = v[i], j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
    }
    uint32_t out = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (out == 0 || v[out - 1] != v[i])
            v[out++] = v[i];
    }
    return out;
}

/* Bucket the pairs by child (counting sort) into `in`, with off[c] the start
 * of child c's parents; counts per child in the tasks' parents ranges. */
static void bucket_by_child(struct wfmpi_plan *p, const uint64_t *pairs, size_t n_pairs,
                            uint32_t *in, uint32_t *off)
{
    size_t n = p->n_tasks;
    memset(off, 0, (n + 1) * sizeof(*off));
    for (size_t i = 0; i < n_pairs; i++)
        off[(uint32_t)pairs[i] + 1]++;
    for (size_t c = 0; c < n; c++)
        off[c + 1] += off[c];
    for (size_t i = 0; i < n_pairs; i++) {
        uint32_t c = (uint32_t)pairs[i];
        in[off[c] + p->tasks[c].parents.count++] = (uint32_t)(pairs[i] >> 32);
    }
}

int plan_graph_build(struct wfmpi_plan *p, uint64_t *pairs, size_t n_pairs)
{
    size_t n = p->n_tasks;
    if (n_pairs > UINT32_MAX) {
        free(pairs);
        return WFMPI_E_LIMIT;
    }
    uint32_t *off = malloc((n + 1) * sizeof(*off));
    uint32_t *in = malloc((n_pairs ? n_pairs : 1) * sizeof(*in));
    if (!off || !in) {
        free(off);
        free(in);
        free(pairs);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        p->tasks[i].parents.count = p->tasks[i].children.count = 0;
    bucket_by_child(p, pairs, n_pairs, in, off);
    free(pairs);
    /* De-duplicate each child's parents and compact in place. */
    uint32_t w = 0;
    for (size_t c = 0; c < n; c++) {
        struct wfmpi_plan_range *r = &p->tasks[c].parents;
        uint32_t k = sort_unique(in + off[c], r->count);
        memmove(in + w, in + off[c], k * sizeof(*in));
        r->first = w;
        r->count = k;
        w += k;
    }
    p->n_edges = w;
    /* Children: count per parent, prefix sums, then fill walking children in
     * index order, so every parent's list comes out sorted. */
    uint32_t *out = malloc((w ? w : 1) * sizeof(*out));
    if (!out) {
        free(off);
        free(in);
        return -ENOMEM;
    }
    memset(off, 0, (n + 1) * sizeof(*off));
    for (uint32_t i = 0; i < w; i++)
        off[in[i] + 1]++;
    for (size_t t = 0; t < n; t++) {
        off[t + 1] += off[t];
        p->tasks[t].children.first = off[t];
    }
    for (size_t c = 0; c < n; c++) {
        const struct wfmpi_plan_range *r = &p->tasks[c].parents;
        for (uint32_t i = 0; i < r->count; i++) {
            struct wfmpi_plan_task *par = &p->tasks[in[r->first + i]];
            out[par->children.first + par->children.count++] = (uint32_t)c;
        }
    }
    free(off);
    /* Shrink the in-array to the de-duplicated size; failure to shrink is harmless. */
    uint32_t *shrunk = w ? realloc(in, w * sizeof(*in)) : NULL;
    p->edges_in = shrunk ? shrunk : in;
    p->edges_out = out;
    return 0;
}

/* Tasks left with parents after Kahn's algorithm all sit on or downstream of
 * a cycle, and each has a parent that is also left. Walking "some remaining
 * parent" from any of them must revisit a task; the walk from that task on is
 * a cycle (child to parent), returned reversed so it reads parent first. */
static int find_cycle(const struct wfmpi_plan *p, const uint32_t *indeg, uint32_t **cycle,
                      uint32_t *n_cycle)
{
    size_t n = p->n_tasks;
    uint32_t start = 0;
    while (start < n && indeg[start] == 0)
        start++;
    uint32_t *step = calloc(n, sizeof(*step)); /* 0 = unvisited, else walk index + 1 */
    uint32_t *walk = malloc(n * sizeof(*walk));
    if (!step || !walk) {
        free(step);
        free(walk);
        return -ENOMEM;
    }
    uint32_t len = 0, v = start;
    while (!step[v]) {
        step[v] = ++len;
        walk[len - 1] = v;
        const struct wfmpi_plan_task *t = &p->tasks[v];
        uint32_t next = v;
        for (uint32_t i = 0; i < t->parents.count; i++) {
            uint32_t par = p->edges_in[t->parents.first + i];
            if (indeg[par]) {
                next = par;
                break;
            }
        }
        v = next;
    }
    uint32_t from = step[v] - 1, k = len - from, lo = 0;
    for (uint32_t i = 0; i < k; i++) { /* reverse walk[from..len) into place */
        step[i] = walk[len - 1 - i];
        lo = step[i] < step[lo] ? i : lo;
    }
    /* Start at the lowest task index: the same cycle always reads the same. */
    for (uint32_t i = 0; i < k; i++)
        walk[i] = step[(lo + i) % k];
    free(step);
    *cycle = walk;
    *n_cycle = k;
    return WFMPI_E_INPUT;
}

int plan_graph_order(const struct wfmpi_plan *p, uint32_t *order, uint32_t **cycle,
                     uint32_t *n_cycle)
{
    size_t n = p->n_tasks, head = 0, tail = 0;
    uint32_t *indeg = malloc((n ? n : 1) * sizeof(*indeg));
    if (!indeg)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        indeg[i] = p->tasks[i].parents.count;
        if (!indeg[i])
            order[tail++] = (uint32_t)i;
    }
    while (head < tail) {
        const struct wfmpi_plan_task *t = &p->tasks[order[head++]];
        for (uint32_t i = 0; i < t->children.count; i++) {
            uint32_t c = p->edges_out[t->children.first + i];
            if (--indeg[c] == 0)
                order[tail++] = c;
        }
    }
    int rc = 0;
    if (tail < n)
        rc = find_cycle(p, indeg, cycle, n_cycle);
    free(indeg);
    return rc;
}

/* Level of each task (roots are level 1) in topological order; depth and
 * widest level into the stats. */
static int compute_levels(struct wfmpi_plan *p, const uint32_t *order)
{
    size_t n = p->n_tasks;
    uint32_t *level = calloc(n ? n : 1, sizeof(*level));
    if (!level)
        return -ENOMEM;
    uint32_t depth = 0;
    for (size_t k = 0; k < n; k++) {
        uint32_t v = order[k];
        const struct wfmpi_plan_task *t = &p->tasks[v];
        uint32_t l = 1;
        for (uint32_t i = 0; i < t->parents.count; i++) {
            uint32_t pl = level[p->edges_in[t->parents.first + i]] + 1;
            l = pl > l ? pl : l;
        }
        level[v] = l;
        depth = l > depth ? l : depth;
    }
    uint32_t *width = calloc((size_t)depth + 1, sizeof(*width));
    if (!width) {
        free(level);
        return -ENOMEM;
    }
    uint32_t widest = 0;
    for (size_t v = 0; v < n; v++) {
        uint32_t w = ++width[level[v]];
        widest = w > widest ? w : widest;
    }
    p->stats.depth = depth;
    p->stats.widest = widest;
    free(width);
    free(level);
    return 0;
}

/* cp_seconds in reverse topological order: own weight plus the longest
 * child. Ties in the path list go to the lowest task index, so the list is
 * deterministic. */
static int compute_critical_path(struct wfmpi_plan *p, const uint32_t *order)
{
    size_t n = p->n_tasks;
    for (size_t k = n; k-- > 0;) {
        struct wfmpi_plan_task *t = &p->tasks[order[k]];
        double best = 0;
        for (uint32_t i = 0; i < t->children.count; i++) {
            double c = p->tasks[p->edges_out[t->children.first + i]].cp_seconds;
            best = c > best ? c : best;
        }
        t->cp_seconds = plan_task_weight(t) + best;
    }
    if (!n)
        return 0;
    uint32_t v = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!p->tasks[i].parents.count &&
            (v == UINT32_MAX || p->tasks[i].cp_seconds > p->tasks[v].cp_seconds))
            v = (uint32_t)i;
    }
    p->stats.cp_seconds = p->tasks[v].cp_seconds;
    p->cp = malloc((p->stats.depth ? p->stats.depth : 1) * sizeof(*p->cp));
    if (!p->cp)
        return -ENOMEM;
    p->n_cp = 0;
    for (;;) {
        p->cp[p->n_cp++] = v;
        const struct wfmpi_plan_task *t = &p->tasks[v];
        if (!t->children.count)
            break;
        uint32_t best = p->edges_out[t->children.first];
        for (uint32_t i = 1; i < t->children.count; i++) {
            uint32_t c = p->edges_out[t->children.first + i];
            if (p->tasks[c].cp_seconds > p->tasks[best].cp_seconds)
                best = c;
        }
        v = best;
    }
    p->stats.cp_tasks = p->n_cp;
    return 0;
}

static void compute_totals(struct wfmpi_plan *p)
{
    struct wfmpi_plan_stats *s = &p->stats;
    s->tasks = (uint32_t)p->n_tasks;
    s->edges = (uint32_t)p->n_edges;
    for (size_t i = 0; i < p->n_tasks; i++) {
        const struct wfmpi_plan_task *t = &p->tasks[i];
        s->roots += !t->parents.count;
        s->leaves += !t->children.count;
        s->total_cores += t->cores;
        s->total_gpus += t->gpus;
        s->total_memory_mb += t->memory_mb;
        s->gpu_tasks += t->gpus > 0;
        s->no_estimate += !(t->runtime_s > 0);
        s->kinds[t->kind]++;
        for (uint32_t k = 0; t->kind == WFMPI_PLAN_COMPUTE && k < t->children.count; k++)
            s->compute_edges += p->tasks[p->edges_out[t->children.first + k]].kind == 0;
    }
}

int plan_graph_analyze(struct wfmpi_plan *p, const uint32_t *order)
{
    memset(&p->stats, 0, sizeof(p->stats));
    compute_totals(p);
    int rc = compute_levels(p, order);
    if (!rc)
        rc = compute_critical_path(p, order);
    return rc;
}
