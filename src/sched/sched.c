/* The scheduler core: task states, dispatch, completion, retries, blocking,
 * throttles, drain and restore. See sched_int.h for the data layout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"
#include "wfmpi/sched.h"

static const char *const state_names[WFMPI_TASK_NSTATES] = {
    "UNREADY", "READY", "RUNNING", "DONE", "FAILED", "BLOCKED",
};

const char *wfmpi_task_state_name(enum wfmpi_task_state st)
{
    return (unsigned)st < WFMPI_TASK_NSTATES ? state_names[st] : "UNKNOWN";
}

static void set_state(struct wfmpi_sched *s, uint32_t task, enum wfmpi_task_state st)
{
    struct sched_task *t = &s->tasks[task];
    s->count[t->state]--;
    s->count[st]++;
    t->state = (uint8_t)st;
}

/* ------------------------------------------------------------- create */

/* Category index + 1 per task (0 = none), through a table indexed by string
 * id so the mapping is O(tasks + categories). Freed by the caller. */
static uint32_t *map_categories(struct wfmpi_sched *s)
{
    const struct wfmpi_plan_view *v = s->view;
    uint32_t max_id = 0;
    for (uint32_t i = 0; i < v->n_categories; i++)
        if (v->categories[i].name > max_id)
            max_id = v->categories[i].name;
    uint32_t *by_name = calloc((size_t)max_id + 1, sizeof(*by_name));
    uint32_t *of_task = calloc(s->n_tasks ? s->n_tasks : 1, sizeof(*of_task));
    if (!by_name || !of_task) {
        free(by_name);
        free(of_task);
        return NULL;
    }
    for (uint32_t i = 0; i < v->n_categories; i++) {
        s->cats[i].maxjobs = v->categories[i].maxjobs;
        by_name[v->categories[i].name] = i + 1;
    }
    for (uint32_t t = 0; t < s->n_tasks; t++) {
        uint32_t name = v->tasks[t].category;
        of_task[t] = name && name <= max_id ? by_name[name] : 0;
    }
    free(by_name);
    return of_task;
}

static int alloc_tasks(struct wfmpi_sched *s)
{
    size_t n = s->n_tasks ? s->n_tasks : 1;
    s->tasks = calloc(n, sizeof(*s->tasks));
    s->stack = calloc(n, sizeof(*s->stack));
    s->cats = calloc(s->view->n_categories ? s->view->n_categories : 1, sizeof(*s->cats));
    s->n_cats = s->view->n_categories;
    return s->tasks && s->stack && s->cats ? 0 : -ENOMEM;
}

/* Roots are READY; the ready heaps are filled later, at the first next(), so
 * that restore() can still change states freely. */
static void init_tasks(struct wfmpi_sched *s)
{
    for (uint32_t i = 0; i < s->n_tasks; i++) {
        const struct wfmpi_plan_task *pt = &s->view->tasks[i];
        struct sched_task *t = &s->tasks[i];
        t->waiting = pt->parents.count;
        t->kids_first = pt->children.first;
        t->kids_count = pt->children.count;
        t->state = t->waiting ? WFMPI_TASK_UNREADY : WFMPI_TASK_READY;
        t->standby = t->behind = SCHED_NONE;
        s->count[t->state]++;
    }
}

/* Every class must fit some node of the empty pool, or nothing would ever run
 * it: that is an input error, reported before anything starts, at the
 * position of the (first such) task's job when the plan knows it, as every
 * other input error is. */
static int check_fit(const struct wfmpi_sched *s, const struct wfmpi_plan *plan,
                     struct wfmpi_error *err)
{
    for (uint32_t c = 0; c < s->n_classes; c++) {
        const struct sched_class *cl = &s->classes[c];
        if (sched_find_node(s, cl) != SCHED_NONE)
            continue;
        char where[WFMPI_ERROR_TEXT_MAX];
        wfmpi_plan_task_where(plan, cl->first_task, where, sizeof(where));
        return sched_explain_misfit(s, cl, wfmpi_plan_str(plan, s->view->tasks[cl->first_task].id),
                                    where, err);
    }
    return 0;
}

static int build(struct wfmpi_sched *s, const struct wfmpi_plan *plan,
                 const struct wfmpi_sched_config *cfg, struct wfmpi_error *err)
{
    int rc = sched_nodes_init(s, cfg, err);
    if (rc < 0)
        return rc;
    if (alloc_tasks(s) < 0 || sched_order_build(s) < 0)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for %u tasks", s->n_tasks);
    init_tasks(s);
    uint32_t *cat_of_task = map_categories(s);
    if (!cat_of_task)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for %u tasks", s->n_tasks);
    rc = sched_classes_build(s, cat_of_task);
    free(cat_of_task);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "out of memory for %u tasks", s->n_tasks);
    return check_fit(s, plan, err);
}

struct wfmpi_sched *wfmpi_sched_create(const struct wfmpi_plan *plan,
                                       const struct wfmpi_sched_config *cfg,
                                       struct wfmpi_error *err)
{
    if (!plan || !cfg) {
        wfmpi_error_set(err, WFMPI_E_INPUT, "no plan or no pool configuration");
        return NULL;
    }
    struct wfmpi_sched *s = calloc(1, sizeof(*s));
    if (!s) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->view = wfmpi_plan_view(plan);
    s->n_tasks = s->view->n_tasks;
    s->default_retries = cfg->default_retries;
    s->max_running = cfg->max_running;
    s->time_left = INFINITY;
    s->reservations = !cfg->no_reservations;
    s->resv_class = s->resv_node = SCHED_NONE;
    s->resv_time = NAN;
    if (build(s, plan, cfg, err) < 0) {
        wfmpi_sched_destroy(s);
        return NULL;
    }
    return s;
}

void wfmpi_sched_destroy(struct wfmpi_sched *s)
{
    if (!s)
        return;
    sched_classes_free(s);
    sched_nodes_free(s);
    free(s->tasks);
    free(s->order);
    free(s->stack);
    free(s->cats);
    free(s);
}

/* ---------------------------------------------------------- dispatch */

/* Fill the ready heaps from the states that create() and restore() left. */
static void seal(struct wfmpi_sched *s)
{
    s->sealed = true;
    for (uint32_t t = 0; t < s->n_tasks; t++)
        if (s->tasks[t].state == WFMPI_TASK_READY)
            sched_ready_push(s, t);
}

/* A throttle that stops class c now. Checked per class, not per task: every
 * task of a class shares its category. */
static bool throttled(const struct wfmpi_sched *s, const struct sched_class *c)
{
    if (!c->category)
        return false;
    const struct sched_category *cat = &s->cats[c->category - 1];
    return cat->maxjobs && cat->running >= cat->maxjobs;
}

static void start(struct wfmpi_sched *s, uint32_t task, uint32_t node,
                  struct wfmpi_sched_dispatch *d)
{
    struct sched_task *t = &s->tasks[task];
    const struct sched_class *c = &s->classes[t->cls];
    t->attempts++;
    set_state(s, task, WFMPI_TASK_RUNNING);
    if (c->category)
        s->cats[c->category - 1].running++;
    sched_take(s, task, node, d);
}

/* Attempts that have started (or will, without waiting for anything): a
 * standby still queued behind its predecessor is not one of them. */
static uint32_t started(const struct wfmpi_sched *s)
{
    return s->count[WFMPI_TASK_RUNNING] - s->waiting;
}

static bool at_max_running(const struct wfmpi_sched *s)
{
    return s->max_running && started(s) >= s->max_running;
}

static bool can_start_any(const struct wfmpi_sched *s)
{
    if (at_max_running(s))
        return false;
    /* Every task needs a core: a pool with no free core takes nothing. */
    return s->seg[1].cores > 0 && s->cheap_len > 0;
}

/* Walltime awareness: a task whose runtime estimate cannot finish before the
 * allocation ends is not started (DESIGN.md §7). Unknown estimates start. */
static bool too_long(const struct wfmpi_sched *s, uint32_t task)
{
    double rt = s->view->tasks[task].runtime_s;
    return rt > 0 && rt > s->time_left;
}

void wfmpi_sched_set_time_left(struct wfmpi_sched *s, double seconds)
{
    s->time_left = seconds;
}

uint32_t wfmpi_sched_deferred(const struct wfmpi_sched *s)
{
    return s->deferred;
}

uint32_t wfmpi_sched_next(struct wfmpi_sched *s, struct wfmpi_sched_dispatch *out, uint32_t max)
{
    if (!s->sealed)
        seal(s);
    if (s->draining)
        return 0;
    uint32_t n = 0, n_aside = 0, aside[SCHED_MAX_TRIES];
    while (n < max && can_start_any(s)) {
        /* The top class holds the best READY task. If that task fits nowhere
         * (or its category is full), no task of its class does either until
         * something completes, so the whole class steps aside for this call. */
        uint32_t c = s->cheap[0];
        const struct sched_class *cl = &s->classes[c];
        if (too_long(s, s->order[cl->ready.items[0]])) {
            /* It stays READY for the next allocation but never starts in
             * this one: time left only shrinks. */
            sched_ready_pop(s, c);
            s->deferred++;
            continue;
        }
        bool full = throttled(s, cl);
        uint32_t node = full ? SCHED_NONE : sched_place(s, cl, s->order[cl->ready.items[0]]);
        if (node == SCHED_NONE) {
            /* The best task that fits nowhere gets the reservation (EASY
             * backfill, reserve.c); what a reservation holds back is not
             * one of those. */
            if (!full && n_aside == 0 && sched_find_node(s, cl) == SCHED_NONE)
                sched_reserve(s, c);
            sched_cheap_remove(s, c);
            aside[n_aside++] = c;
            if (n_aside == SCHED_MAX_TRIES)
                break;
            continue;
        }
        uint32_t task = sched_ready_pop(s, c);
        start(s, task, node, &out[n++]);
    }
    while (n_aside > 0)
        sched_cheap_insert(s, aside[--n_aside]);
    return n;
}

/* ------------------------------------------------------------ standby */

/* The class whose head is the best READY task that can run in the place of
 * a task of class `in` (no GPUs, no more cores or memory, category not full,
 * not too long for the time left); SCHED_NONE when none can. */
static bool fits_behind(const struct wfmpi_sched *s, const struct sched_class *cl,
                        const struct sched_class *in, bool memory)
{
    return !cl->gpus && cl->cores <= in->cores && !(memory && cl->memory_mb > in->memory_mb) &&
           !throttled(s, cl) && !too_long(s, s->order[cl->ready.items[0]]);
}

static uint32_t standby_class(const struct wfmpi_sched *s, const struct sched_class *in,
                              bool memory)
{
    /* The top of the class heap holds the best READY task: usually it fits
     * (one shape of task), and the master asks this for most dispatches. */
    if (s->cheap_len == 0 || fits_behind(s, &s->classes[s->cheap[0]], in, memory))
        return s->cheap_len ? s->cheap[0] : SCHED_NONE;
    uint32_t best = SCHED_NONE;
    for (uint32_t i = 1; i < s->cheap_len; i++) {
        uint32_t c = s->cheap[i];
        if (fits_behind(s, &s->classes[c], in, memory) &&
            (best == SCHED_NONE || s->classes[c].ready.items[0] < s->classes[best].ready.items[0]))
            best = c;
    }
    return best;
}

/* Could a task of class c start on some node right now (next() would place
 * it)? Then it must not wait behind anything. */
static bool startable_now(const struct wfmpi_sched *s, const struct sched_class *c)
{
    return !at_max_running(s) && !throttled(s, c) && sched_find_node(s, c) != SCHED_NONE;
}

int wfmpi_sched_next_behind(struct wfmpi_sched *s, uint32_t task, struct wfmpi_sched_dispatch *out)
{
    if (!s->sealed)
        seal(s);
    /* No max_running check: a standby starts only in the place of an
     * attempt that has ended, so it never adds to what runs at once. */
    if (s->draining || task >= s->n_tasks)
        return 0;
    struct sched_task *t = &s->tasks[task];
    if (t->state != WFMPI_TASK_RUNNING || t->node == SCHED_NONE || t->behind == SCHED_ORPHAN ||
        t->standby != SCHED_NONE || t->gpu_mask)
        return 0;
    uint32_t c = standby_class(s, &s->classes[t->cls], s->nodes[t->node].free_mem != UINT64_MAX);
    if (c == SCHED_NONE || startable_now(s, &s->classes[c]) ||
        !sched_standby_allowed(s, task, s->order[s->classes[c].ready.items[0]]))
        return 0;
    uint32_t next = sched_ready_pop(s, c);
    struct sched_task *n = &s->tasks[next];
    const struct sched_class *cl = &s->classes[c];
    n->attempts++;
    set_state(s, next, WFMPI_TASK_RUNNING);
    if (cl->category)
        s->cats[cl->category - 1].running++;
    n->node = t->node;
    n->rank = t->rank;
    n->gpu_mask = 0;
    n->behind = task;
    t->standby = next;
    s->waiting++;
    *out = (struct wfmpi_sched_dispatch){.task = next,
                                         .attempt = n->attempts,
                                         .node = t->node,
                                         .rank = t->rank,
                                         .cores = cl->cores,
                                         .memory_mb = cl->memory_mb};
    return 1;
}

/* An attempt with a standby behind it ended: the standby starts in its
 * place and takes over its cores and memory; what it does not need is
 * freed. Its rank runs as many tasks as before. */
static void hand_over(struct wfmpi_sched *s, uint32_t task)
{
    struct sched_task *t = &s->tasks[task], *n = &s->tasks[t->standby];
    const struct sched_class *from = &s->classes[t->cls], *to = &s->classes[n->cls];
    struct sched_node *node = &s->nodes[t->node];
    node->free_cores += from->cores - to->cores;
    if (node->free_mem != UINT64_MAX)
        node->free_mem += from->memory_mb - to->memory_mb;
    sched_seg_update(s, t->node);
    /* It holds its place on the node now, with an end of its own. */
    uint32_t next = t->standby;
    sched_run_remove(s, t->node, task);
    sched_run_add(s, t->node, next);
    n->behind = SCHED_NONE;
    t->standby = SCHED_NONE;
    s->waiting--;
}

static void make_ready(struct wfmpi_sched *s, uint32_t task);

/* Unlink a standby that never started from the task it waited behind; the
 * one queued behind it (if any) will never start either. */
static void unlink_standby(struct wfmpi_sched *s, struct sched_task *t)
{
    if (t->behind != SCHED_ORPHAN)
        s->tasks[t->behind].standby = SCHED_NONE;
    if (t->standby != SCHED_NONE)
        s->tasks[t->standby].behind = SCHED_ORPHAN;
    t->standby = t->behind = SCHED_NONE;
    s->waiting--;
}

bool wfmpi_sched_waiting(const struct wfmpi_sched *s, uint32_t task)
{
    return task < s->n_tasks && s->tasks[task].state == WFMPI_TASK_RUNNING &&
           s->tasks[task].behind != SCHED_NONE;
}

bool wfmpi_sched_revocable(const struct wfmpi_sched *s, uint32_t task)
{
    return wfmpi_sched_waiting(s, task) && s->tasks[task].behind != SCHED_ORPHAN && !s->draining &&
           startable_now(s, &s->classes[s->tasks[task].cls]);
}

uint32_t wfmpi_sched_free_cores(const struct wfmpi_sched *s)
{
    /* The master asks after every round of results: in a busy run no node
     * has a free core, and the segment tree's root says so in O(1). */
    if (s->seg[1].cores == 0)
        return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->n_nodes; i++)
        n += s->nodes[i].free_cores;
    return n;
}

bool wfmpi_sched_before(const struct wfmpi_sched *s, uint32_t a, uint32_t b)
{
    return s->tasks[a].qrank < s->tasks[b].qrank;
}

int wfmpi_sched_take_back(struct wfmpi_sched *s, uint32_t task, uint32_t attempt)
{
    if (!wfmpi_sched_waiting(s, task) || s->tasks[task].attempts != attempt)
        return WFMPI_E_INPUT;
    struct sched_task *t = &s->tasks[task];
    const struct sched_class *c = &s->classes[t->cls];
    if (c->category)
        s->cats[c->category - 1].running--;
    unlink_standby(s, t);
    /* The attempt never happened: its number is the next one's. */
    t->attempts--;
    t->node = t->rank = SCHED_NONE;
    make_ready(s, task);
    return 0;
}

static bool fits_budget(const struct wfmpi_sched *s, const struct sched_class *c,
                        const struct wfmpi_sched_budget *b)
{
    return !throttled(s, c) && c->cores <= b->cores && c->gpus <= b->gpus &&
           (b->memory_mb == 0 || c->memory_mb <= b->memory_mb);
}

/* Glidein: like next(), but against the pilot's budget instead of the nodes,
 * and a claimed task holds no node resources (node = SCHED_NONE), so
 * complete() has nothing to release. */
uint32_t wfmpi_sched_claim(struct wfmpi_sched *s, const struct wfmpi_sched_budget *b,
                           struct wfmpi_sched_dispatch *out, uint32_t max)
{
    if (!s->sealed)
        seal(s);
    if (s->draining)
        return 0;
    struct wfmpi_sched_budget left = *b;
    uint32_t n = 0, n_aside = 0, aside[SCHED_MAX_TRIES];
    while (n < max && s->cheap_len > 0 && !at_max_running(s)) {
        uint32_t c = s->cheap[0];
        const struct sched_class *cl = &s->classes[c];
        double rt = s->view->tasks[s->order[cl->ready.items[0]]].runtime_s;
        if (!fits_budget(s, cl, &left) || (rt > 0 && rt > left.time_left)) {
            sched_cheap_remove(s, c);
            aside[n_aside++] = c;
            if (n_aside == SCHED_MAX_TRIES)
                break;
            continue;
        }
        uint32_t task = sched_ready_pop(s, c);
        struct sched_task *t = &s->tasks[task];
        t->attempts++;
        set_state(s, task, WFMPI_TASK_RUNNING);
        if (cl->category)
            s->cats[cl->category - 1].running++;
        t->node = SCHED_NONE;
        t->gpu_mask = 0;
        left.cores -= cl->cores;
        left.gpus -= cl->gpus;
        if (left.memory_mb)
            left.memory_mb = left.memory_mb > cl->memory_mb ? left.memory_mb - cl->memory_mb : 1;
        out[n++] = (struct wfmpi_sched_dispatch){
            .task = task, .attempt = t->attempts, .cores = cl->cores, .memory_mb = cl->memory_mb};
    }
    while (n_aside > 0)
        sched_cheap_insert(s, aside[--n_aside]);
    return n;
}

/* -------------------------------------------------------- completion */

static void make_ready(struct wfmpi_sched *s, uint32_t task)
{
    set_state(s, task, WFMPI_TASK_READY);
    if (s->sealed)
        sched_ready_push(s, task);
}

static void release_children(struct wfmpi_sched *s, uint32_t task)
{
    const struct sched_task *t = &s->tasks[task];
    const uint32_t *kids = s->view->edges_out + t->kids_first;
    for (uint32_t i = 0; i < t->kids_count; i++) {
        struct sched_task *k = &s->tasks[kids[i]];
        if (--k->waiting == 0 && k->state == WFMPI_TASK_UNREADY)
            make_ready(s, kids[i]);
    }
}

/* Every descendant that has not run becomes BLOCKED (make -k): each task is
 * blocked at most once per run, so the total cost is O(tasks + edges). Before
 * the first next() (restore) a descendant may still be READY. */
static void block_descendants(struct wfmpi_sched *s, uint32_t task)
{
    uint32_t top = 0;
    s->stack[top++] = task;
    while (top > 0) {
        const struct sched_task *t = &s->tasks[s->stack[--top]];
        const uint32_t *kids = s->view->edges_out + t->kids_first;
        for (uint32_t i = 0; i < t->kids_count; i++) {
            uint8_t st = s->tasks[kids[i]].state;
            if (st != WFMPI_TASK_UNREADY && st != WFMPI_TASK_READY)
                continue;
            set_state(s, kids[i], WFMPI_TASK_BLOCKED);
            s->stack[top++] = kids[i];
        }
    }
}

static uint32_t retries_of(const struct wfmpi_sched *s, uint32_t task)
{
    int32_t r = s->view->tasks[task].retries;
    if (r < 0)
        r = s->default_retries;
    return r > 0 ? (uint32_t)r : 0;
}

static void finish_attempt(struct wfmpi_sched *s, uint32_t task, enum wfmpi_sched_outcome outcome)
{
    struct sched_task *t = &s->tasks[task];
    if (outcome == WFMPI_SCHED_OK) {
        set_state(s, task, WFMPI_TASK_DONE);
        release_children(s, task);
    } else if (outcome == WFMPI_SCHED_INTERRUPTED) {
        make_ready(s, task);
    } else if (++t->failures <= retries_of(s, task)) {
        s->retried++;
        make_ready(s, task);
    } else {
        set_state(s, task, WFMPI_TASK_FAILED);
        block_descendants(s, task);
    }
}

int wfmpi_sched_complete(struct wfmpi_sched *s, uint32_t task, uint32_t attempt,
                         enum wfmpi_sched_outcome outcome)
{
    if (task >= s->n_tasks || s->tasks[task].state != WFMPI_TASK_RUNNING ||
        s->tasks[task].attempts != attempt || (unsigned)outcome > WFMPI_SCHED_INTERRUPTED)
        return WFMPI_E_INPUT;
    const struct sched_class *c = &s->classes[s->tasks[task].cls];
    if (c->category)
        s->cats[c->category - 1].running--;
    struct sched_task *t = &s->tasks[task];
    if (t->behind != SCHED_NONE) {
        /* A standby that ends before the task it waited for (not started:
         * the run drains) never held anything, and the one behind it never
         * will. */
        unlink_standby(s, t);
    } else if (t->standby != SCHED_NONE) {
        hand_over(s, task);
    } else if (t->node != SCHED_NONE) { /* claimed tasks hold no node resources */
        sched_release(s, task);
    }
    finish_attempt(s, task, outcome);
    return 0;
}

/* ------------------------------------------------------ run control */

void wfmpi_sched_drain(struct wfmpi_sched *s)
{
    s->draining = true;
}

bool wfmpi_sched_draining(const struct wfmpi_sched *s)
{
    return s->draining;
}

bool wfmpi_sched_finished(const struct wfmpi_sched *s)
{
    if (s->count[WFMPI_TASK_RUNNING] > 0)
        return false;
    return s->draining || s->count[WFMPI_TASK_READY] == s->deferred;
}

void wfmpi_sched_counts(const struct wfmpi_sched *s, struct wfmpi_sched_counts *out)
{
    memcpy(out->state, s->count, sizeof(out->state));
    /* What a user reads: a queued standby has not started; it waits. */
    out->state[WFMPI_TASK_RUNNING] -= s->waiting;
    out->state[WFMPI_TASK_READY] += s->waiting;
    out->retries = s->retried;
    out->running = started(s);
    out->standby = s->waiting;
}

enum wfmpi_task_state wfmpi_sched_state(const struct wfmpi_sched *s, uint32_t task)
{
    return task < s->n_tasks ? (enum wfmpi_task_state)s->tasks[task].state : WFMPI_TASK_NSTATES;
}

uint32_t wfmpi_sched_attempts(const struct wfmpi_sched *s, uint32_t task)
{
    return task < s->n_tasks ? s->tasks[task].attempts : 0;
}

/* ------------------------------------------------------------ restore */

/* States change here directly (no ready heaps exist yet); the heaps are
 * built from the final states at the first next(). A restored READY or
 * RUNNING task keeps its attempt numbering; its earlier attempts count as
 * retries used (the one that was RUNNING did not fail, so it does not), but
 * it always gets at least one more attempt: it was never judged FAILED. */
int wfmpi_sched_restore(struct wfmpi_sched *s, uint32_t task, enum wfmpi_task_state state,
                        uint32_t attempts)
{
    if (s->sealed || task >= s->n_tasks)
        return WFMPI_E_INPUT;
    struct sched_task *t = &s->tasks[task];
    if (t->state != WFMPI_TASK_UNREADY && t->state != WFMPI_TASK_READY)
        return WFMPI_E_INPUT; /* restored twice, or below a FAILED task */
    uint32_t retries = retries_of(s, task);
    t->attempts = attempts;
    switch (state) {
    case WFMPI_TASK_DONE:
        set_state(s, task, WFMPI_TASK_DONE);
        release_children(s, task);
        return 0;
    case WFMPI_TASK_FAILED:
        t->failures = attempts;
        set_state(s, task, WFMPI_TASK_FAILED);
        block_descendants(s, task);
        return 0;
    case WFMPI_TASK_RUNNING:
    case WFMPI_TASK_READY: {
        uint32_t used = state == WFMPI_TASK_RUNNING && attempts ? attempts - 1 : attempts;
        t->failures = used < retries ? used : retries;
        return 0;
    }
    case WFMPI_TASK_UNREADY:
        return 0;
    default:
        return WFMPI_E_INPUT;
    }
}

int wfmpi_sched_restore_retries(struct wfmpi_sched *s, uint32_t task, uint32_t used)
{
    if (s->sealed || task >= s->n_tasks)
        return WFMPI_E_INPUT;
    struct sched_task *t = &s->tasks[task];
    if (t->state != WFMPI_TASK_READY && t->state != WFMPI_TASK_UNREADY)
        return WFMPI_E_INPUT;
    uint32_t retries = retries_of(s, task);
    t->failures = used < retries ? used : retries;
    return 0;
}

int wfmpi_sched_restore_running(struct wfmpi_sched *s, uint32_t task)
{
    if (s->sealed || task >= s->n_tasks)
        return WFMPI_E_INPUT;
    struct sched_task *t = &s->tasks[task];
    if (t->state != WFMPI_TASK_READY || t->attempts == 0)
        return WFMPI_E_INPUT;
    const struct sched_class *c = &s->classes[t->cls];
    set_state(s, task, WFMPI_TASK_RUNNING);
    if (c->category)
        s->cats[c->category - 1].running++;
    /* Like claim(): the pilot holds it, no node of the scheduler does. */
    t->node = SCHED_NONE;
    t->gpu_mask = 0;
    return 0;
}
