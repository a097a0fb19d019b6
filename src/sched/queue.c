/* The ready queue: shape classes, each with a wfmpi_heap of READY tasks, and
 * an indexed heap of the non-empty classes ordered by their head task. */
#include <stdlib.h>
#include <string.h>

#include "sched_int.h"

/* Higher priority first, then the longer critical path, then the lower task
 * index (so equal tasks run in plan order and runs are reproducible). */
static int key_cmp(const void *pa, const void *pb)
{
    const struct sched_key *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority > b->priority ? -1 : 1;
    if (a->cp_seconds != b->cp_seconds)
        return a->cp_seconds > b->cp_seconds ? -1 : 1;
    return a->task < b->task ? -1 : a->task > b->task;
}

/* Heap items are queue ranks: smaller rank = earlier in the order. */
static int rank_cmp(uint32_t a, uint32_t b, void *ctx)
{
    (void)ctx;
    return a < b ? -1 : a > b;
}

int sched_order_build(struct wfmpi_sched *s)
{
    size_t n = s->n_tasks ? s->n_tasks : 1;
    struct sched_key *keys = malloc(n * sizeof(*keys));
    s->order = malloc(n * sizeof(*s->order));
    if (!keys || !s->order) {
        free(keys);
        return -ENOMEM;
    }
    for (uint32_t t = 0; t < s->n_tasks; t++) {
        double cp = s->view->tasks[t].cp_seconds;
        /* A NaN would make the order inconsistent; the planner never makes
         * one, but an ordering bug here would be silent. */
        keys[t] = (struct sched_key){s->view->tasks[t].priority, t, cp == cp ? cp : 0};
    }
    qsort(keys, s->n_tasks, sizeof(*keys), key_cmp);
    for (uint32_t r = 0; r < s->n_tasks; r++) {
        s->order[r] = keys[r].task;
        s->tasks[keys[r].task].qrank = r;
    }
    free(keys);
    return 0;
}

/* ------------------------------------------------------------ classes */

static uint64_t shape_hash(uint32_t cores, uint32_t gpus, uint64_t mem, uint32_t cat)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    h = (h ^ cores) * 0xff51afd7ed558ccdull;
    h = (h ^ gpus) * 0xc4ceb9fe1a85ec53ull;
    h = (h ^ mem) * 0xff51afd7ed558ccdull;
    h = (h ^ cat) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static bool shape_equal(const struct sched_class *c, uint32_t cores, uint32_t gpus, uint64_t mem,
                        uint32_t cat)
{
    return c->cores == cores && c->gpus == gpus && c->memory_mb == mem && c->category == cat;
}

/* Class of one task, added when new. The table is open-addressed and sized
 * for one class per task, so it never fills. */
static int class_of(struct wfmpi_sched *s, uint32_t *table, size_t mask, size_t *cap, uint32_t t,
                    uint32_t cat)
{
    const struct wfmpi_plan_task *pt = &s->view->tasks[t];
    uint32_t cores = pt->cores ? pt->cores : 1;
    size_t i = (size_t)shape_hash(cores, pt->gpus, pt->memory_mb, cat) & mask;
    while (table[i] != SCHED_NONE) {
        if (shape_equal(&s->classes[table[i]], cores, pt->gpus, pt->memory_mb, cat))
            return (int)table[i];
        i = (i + 1) & mask;
    }
    if (wfmpi_grow((void **)&s->classes, cap, (size_t)s->n_classes + 1, sizeof(*s->classes)))
        return -ENOMEM;
    struct sched_class *c = &s->classes[s->n_classes];
    memset(c, 0, sizeof(*c));
    c->cores = cores;
    c->gpus = pt->gpus;
    c->memory_mb = pt->memory_mb;
    c->category = cat;
    c->first_task = t;
    c->pos = SCHED_NONE;
    wfmpi_heap_init(&c->ready, rank_cmp, NULL);
    table[i] = s->n_classes;
    return (int)s->n_classes++;
}

/* Group tasks into classes and reserve every class heap for all of its tasks,
 * so pushes on the hot path never allocate. */
int sched_classes_build(struct wfmpi_sched *s, const uint32_t *cat_of_task)
{
    size_t slots = 16, cap = 0;
    while (slots < 2 * (size_t)s->n_tasks)
        slots *= 2;
    uint32_t *table = malloc(slots * sizeof(*table));
    if (!table)
        return -ENOMEM;
    memset(table, 0xff, slots * sizeof(*table));
    int rc = 0;
    for (uint32_t t = 0; t < s->n_tasks; t++) {
        int c = class_of(s, table, slots - 1, &cap, t, cat_of_task[t]);
        if (c < 0) {
            rc = c;
            break;
        }
        s->tasks[t].cls = (uint32_t)c;
        s->classes[c].n_tasks++;
    }
    free(table);
    for (uint32_t c = 0; rc == 0 && c < s->n_classes; c++)
        rc = wfmpi_heap_reserve(&s->classes[c].ready, s->classes[c].n_tasks);
    if (rc == 0 && s->n_classes) {
        s->cheap = malloc(s->n_classes * sizeof(*s->cheap));
        if (!s->cheap)
            rc = -ENOMEM;
    }
    return rc;
}

void sched_classes_free(struct wfmpi_sched *s)
{
    for (uint32_t c = 0; c < s->n_classes; c++)
        wfmpi_heap_fini(&s->classes[c].ready);
    free(s->classes);
    free(s->cheap);
}

/* --------------------------------------------------------- class heap */

static int class_cmp(const struct wfmpi_sched *s, uint32_t a, uint32_t b)
{
    return rank_cmp(s->classes[a].ready.items[0], s->classes[b].ready.items[0], NULL);
}

static void cheap_set(struct wfmpi_sched *s, uint32_t pos, uint32_t c)
{
    s->cheap[pos] = c;
    s->classes[c].pos = pos;
}

static void cheap_sift_up(struct wfmpi_sched *s, uint32_t pos)
{
    uint32_t c = s->cheap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (class_cmp(s, c, s->cheap[parent]) >= 0)
            break;
        cheap_set(s, pos, s->cheap[parent]);
        pos = parent;
    }
    cheap_set(s, pos, c);
}

static void cheap_sift_down(struct wfmpi_sched *s, uint32_t pos)
{
    uint32_t c = s->cheap[pos];
    for (;;) {
        uint32_t k = 2 * pos + 1;
        if (k >= s->cheap_len)
            break;
        if (k + 1 < s->cheap_len && class_cmp(s, s->cheap[k + 1], s->cheap[k]) < 0)
            k++;
        if (class_cmp(s, c, s->cheap[k]) <= 0)
            break;
        cheap_set(s, pos, s->cheap[k]);
        pos = k;
    }
    cheap_set(s, pos, c);
}

void sched_cheap_insert(struct wfmpi_sched *s, uint32_t c)
{
    cheap_set(s, s->cheap_len++, c);
    cheap_sift_up(s, s->cheap_len - 1);
}

void sched_cheap_remove(struct wfmpi_sched *s, uint32_t c)
{
    uint32_t pos = s->classes[c].pos;
    s->classes[c].pos = SCHED_NONE;
    uint32_t last = s->cheap[--s->cheap_len];
    if (pos == s->cheap_len)
        return;
    cheap_set(s, pos, last);
    cheap_sift_up(s, pos);
    cheap_sift_down(s, s->classes[last].pos);
}

/* ---------------------------------------------------------- ready tasks */

void sched_ready_push(struct wfmpi_sched *s, uint32_t task)
{
    uint32_t c = s->tasks[task].cls;
    struct sched_class *cl = &s->classes[c];
    /* Cannot fail: the heap was reserved for every task of the class and a
     * task is in it at most once. */
    uint32_t rank = s->tasks[task].qrank;
    (void)wfmpi_heap_push(&cl->ready, rank);
    if (cl->pos == SCHED_NONE)
        sched_cheap_insert(s, c);
    else if (cl->ready.items[0] == rank)
        cheap_sift_up(s, cl->pos); /* the class got a better head */
}

uint32_t sched_ready_pop(struct wfmpi_sched *s, uint32_t c)
{
    struct sched_class *cl = &s->classes[c];
    uint32_t rank = 0;
    (void)wfmpi_heap_pop(&cl->ready, &rank);
    if (wfmpi_heap_len(&cl->ready) == 0)
        sched_cheap_remove(s, c);
    else
        cheap_sift_down(s, cl->pos); /* the class's head got worse */
    return s->order[rank];
}
