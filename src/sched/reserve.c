/* EASY backfill: a reservation for the best READY task that fits nowhere,
 * so a stream of small tasks cannot starve a big one (DESIGN.md §5).
 *
 * Greedy backfill alone (next() setting a class aside that fits nowhere and
 * placing the smaller ones behind it) keeps every GPU busy, but while small
 * tasks keep coming no node ever frees all four GPUs for a 4-GPU task: in
 * the 1,000-node simulation such tasks waited almost the whole makespan
 * (bench/README.md). EASY (Lifka's scheduler for the IBM SP2, and what
 * Slurm's backfill plugin does) fixes it with one reservation:
 *
 *  - The first class that next() finds fitting nowhere (the best READY
 *    task that does not fit: next() walks the classes in ready order) gets
 *    a reservation on one node: the one with the most of what it lacks
 *    free now (its GPUs, else cores). The reservation sticks to that node
 *    until the class has nothing READY or a better class needs one, so the
 *    node's resources drain toward it instead of being handed to whoever
 *    asks next.
 *  - Its shadow time is when the tasks running there should have freed
 *    enough for it: their start plus their estimate (pegasus.runtime, else
 *    the walltime limit, else SCHED_DEFAULT_RUNTIME_S), in the order they
 *    should end. What is free there beyond its needs at that time is the
 *    reservation's extra.
 *  - A task behind it in the ready order may still start on that node if
 *    it should end by the shadow time, or if it fits in the extra (which it
 *    then uses up); else it goes to another node or waits. Tasks ahead of
 *    it in the ready order are never held back, and other nodes are free
 *    for everyone: only one node is ever reserved, so utilisation stays
 *    near greedy's.
 *
 * Costs: the shadow time sorts the reserved node's tasks (one per core at
 * most), and only when a lower-priority task asks for that node after the
 * node changed; everything else is O(1) or one segment-tree descent. The
 * scheduler has no clock of its own: the caller sets one
 * (wfmpi_sched_set_clock), the MPI master its monotonic clock, the
 * simulator its simulated time.
 */
#include <math.h>
#include <stdlib.h>

#include "sched_int.h"

double sched_estimate(const struct wfmpi_sched *s, uint32_t task)
{
    const struct wfmpi_plan_task *t = &s->view->tasks[task];
    if (t->runtime_s > 0)
        return t->runtime_s;
    return t->maxwalltime_s > 0 ? t->maxwalltime_s : SCHED_DEFAULT_RUNTIME_S;
}

void wfmpi_sched_set_clock(struct wfmpi_sched *s, double now)
{
    s->clock = now;
}

/* The reserved node changed: its shadow time is computed again when next
 * asked for. */
static void dirty(struct wfmpi_sched *s, uint32_t node)
{
    if (node == s->resv_node)
        s->resv_time = NAN;
}

void sched_run_add(struct wfmpi_sched *s, uint32_t node, uint32_t task)
{
    struct sched_node *n = &s->nodes[node];
    struct sched_task *t = &s->tasks[task];
    t->node_pos = n->n_run;
    n->run[n->n_run++] = task;
    t->end_est = s->clock + sched_estimate(s, task);
    dirty(s, node);
}

void sched_run_remove(struct wfmpi_sched *s, uint32_t node, uint32_t task)
{
    struct sched_node *n = &s->nodes[node];
    uint32_t pos = s->tasks[task].node_pos;
    if (pos >= n->n_run || n->run[pos] != task)
        return;
    uint32_t last = n->run[--n->n_run];
    n->run[pos] = last;
    s->tasks[last].node_pos = pos;
    dirty(s, node);
}

void sched_reserve_clear(struct wfmpi_sched *s)
{
    s->resv_class = s->resv_node = SCHED_NONE;
}

/* The node with the most free GPUs (for a GPU task) or cores: a descent
 * along the segment tree's maxima. */
static uint32_t richest_node(const struct wfmpi_sched *s, bool gpus)
{
    uint32_t i = 1;
    while (i < s->seg_base) {
        const struct sched_seg *l = &s->seg[2 * i], *r = &s->seg[2 * i + 1];
        bool left = gpus ? l->gpus >= r->gpus : l->cores >= r->cores;
        i = 2 * i + (left ? 0 : 1);
    }
    uint32_t node = i - s->seg_base;
    return node < s->n_nodes ? node : 0;
}

void sched_reserve(struct wfmpi_sched *s, uint32_t c)
{
    if (!s->reservations)
        return;
    const struct sched_class *cl = &s->classes[c];
    uint32_t qrank = cl->ready.items[0];
    if (s->resv_class == c) {
        s->resv_qrank = qrank;
        return;
    }
    s->resv_class = c;
    s->resv_qrank = qrank;
    s->resv_node = richest_node(s, cl->gpus > 0);
    s->resv_time = NAN;
}

static int by_end(const void *a, const void *b, void *ctx)
{
    const struct wfmpi_sched *s = ctx;
    double x = s->tasks[*(const uint32_t *)a].end_est, y = s->tasks[*(const uint32_t *)b].end_est;
    return (x > y) - (x < y);
}

static bool covers(const struct sched_seg *f, const struct sched_class *c)
{
    return f->cores >= c->cores && f->gpus >= c->gpus && f->mem >= c->memory_mb;
}

/* When the reserved node should have room for its class, and what is free
 * there beyond that then. */
static void shadow(struct wfmpi_sched *s)
{
    struct sched_node *n = &s->nodes[s->resv_node];
    const struct sched_class *c = &s->classes[s->resv_class];
    struct sched_seg f = {n->free_mem, n->free_cores, n->free_gpus};
    /* Sorting the run list in place is fine: its order means nothing. */
    qsort_r(n->run, n->n_run, sizeof(uint32_t), by_end, s);
    for (uint32_t i = 0; i < n->n_run; i++)
        s->tasks[n->run[i]].node_pos = i;
    double when = s->clock;
    for (uint32_t i = 0; i < n->n_run && !covers(&f, c); i++) {
        const struct sched_task *t = &s->tasks[n->run[i]];
        const struct sched_class *tc = &s->classes[t->cls];
        f.cores += tc->cores;
        f.gpus += tc->gpus;
        if (f.mem != UINT64_MAX)
            f.mem += tc->memory_mb;
        if (t->end_est > when)
            when = t->end_est;
    }
    s->resv_time = when;
    s->resv_extra.cores = f.cores >= c->cores ? f.cores - c->cores : 0;
    s->resv_extra.gpus = f.gpus >= c->gpus ? f.gpus - c->gpus : 0;
    s->resv_extra.mem = f.mem == UINT64_MAX     ? UINT64_MAX
                        : f.mem >= c->memory_mb ? f.mem - c->memory_mb
                                                : 0;
}

/* Does class c's head come after the reserved one (so the reservation
 * holds it back)? The reserved class itself, and anything ahead of it in
 * the ready order, are never held back. */
static bool held_back(const struct wfmpi_sched *s, const struct sched_class *c, uint32_t node)
{
    if (s->resv_class == SCHED_NONE || node != s->resv_node || c == &s->classes[s->resv_class])
        return false;
    if (s->classes[s->resv_class].ready.len == 0)
        return false; /* nothing left to reserve for */
    return c->ready.len == 0 || c->ready.items[0] > s->resv_qrank;
}

/* May task (of class c) start on the reserved node without delaying the
 * reservation? Taking from the extra uses it up. */
static bool may_backfill(struct wfmpi_sched *s, const struct sched_class *c, uint32_t task)
{
    if (isnan(s->resv_time))
        shadow(s);
    if (s->clock + sched_estimate(s, task) <= s->resv_time)
        return true;
    struct sched_seg *x = &s->resv_extra;
    if (c->cores > x->cores || c->gpus > x->gpus || c->memory_mb > x->mem)
        return false;
    x->cores -= c->cores;
    x->gpus -= c->gpus;
    if (x->mem != UINT64_MAX)
        x->mem -= c->memory_mb;
    return true;
}

uint32_t sched_place(struct wfmpi_sched *s, const struct sched_class *c, uint32_t task)
{
    uint32_t node = sched_find_node(s, c);
    if (node == SCHED_NONE || !held_back(s, c, node) || may_backfill(s, c, task))
        return node;
    /* Anywhere but the reserved node: hide it from the descent. */
    struct sched_node *n = &s->nodes[s->resv_node];
    uint32_t cores = n->free_cores, gpus = n->free_gpus;
    n->free_cores = n->free_gpus = 0;
    sched_seg_update(s, s->resv_node);
    node = sched_find_node(s, c);
    n->free_cores = cores;
    n->free_gpus = gpus;
    sched_seg_update(s, s->resv_node);
    return node;
}

bool sched_standby_allowed(const struct wfmpi_sched *s, uint32_t before, uint32_t task)
{
    const struct sched_task *b = &s->tasks[before];
    const struct sched_class *c = &s->classes[s->tasks[task].cls];
    if (!held_back(s, c, b->node))
        return true;
    /* A standby holds what `before` holds from its end on. */
    return !isnan(s->resv_time) && b->end_est + sched_estimate(s, task) <= s->resv_time;
}
