/* Unit tests for the scheduler core, driven by a fake worker pool: a loop that
 * takes dispatches, keeps what is "running", checks every resource invariant
 * after every step, and completes attempts in a chosen order with a chosen
 * outcome. Plans are made with the plan builder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wfmpi/plan.h"
#include "wfmpi/sched.h"

#include "../../src/sched/sched_int.h" /* sched_pick_gpus */

/* ------------------------------------------------------------ plans */

struct tdef {
    const char *id;
    uint32_t cores, gpus;
    uint64_t mem;
    int32_t priority;
    int32_t retries;
    double runtime;
    const char *category;
};

struct pb {
    struct wfmpi_plan_builder *b;
};

static struct pb pb_new(void)
{
    struct pb p = {wfmpi_plan_builder_create("t")};
    assert_non_null(p.b);
    return p;
}

static uint32_t pb_task(struct pb *p, struct tdef d)
{
    struct wfmpi_plan_task_spec s = {.id = d.id,
                                     .exe = "/bin/true",
                                     .cores = d.cores,
                                     .gpus = d.gpus,
                                     .memory_mb = d.mem,
                                     .priority = d.priority,
                                     .retries = d.retries,
                                     .runtime_s = d.runtime,
                                     .category = d.category};
    struct wfmpi_error err = {0};
    int64_t i = wfmpi_plan_builder_add_task(p->b, &s, &err);
    if (i < 0)
        fail_msg("add_task %s: %s", d.id, err.text);
    return (uint32_t)i;
}

/* A plain 1-core task with no retries. */
static uint32_t pb_simple(struct pb *p, const char *id)
{
    return pb_task(p, (struct tdef){.id = id, .cores = 1});
}

static void pb_edge(struct pb *p, uint32_t a, uint32_t b)
{
    assert_int_equal(wfmpi_plan_builder_add_edge(p->b, a, b, NULL), 0);
}

static struct wfmpi_plan *pb_finish(struct pb *p)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *plan = wfmpi_plan_builder_finish(p->b, NULL, NULL, &err);
    if (!plan)
        fail_msg("finish: %s", err.text);
    return plan;
}

/* ------------------------------------------------------- fake pool */

#define POOL_MAX_NODES 8
#define POOL_MAX_RUN 4096

enum pick { PICK_FIFO, PICK_LIFO, PICK_RANDOM };

typedef enum wfmpi_sched_outcome judge_fn(uint32_t task, uint32_t attempt, void *ctx);

struct pool {
    struct wfmpi_sched *s;
    const struct wfmpi_plan_view *v;
    const struct wfmpi_sched_config *cfg;
    struct wfmpi_sched_dispatch run[POOL_MAX_RUN];
    uint32_t n_run;
    uint32_t used_cores[POOL_MAX_NODES];
    uint64_t used_mem[POOL_MAX_NODES];
    uint64_t used_gpus[POOL_MAX_NODES];
    uint32_t rank_running[64];
    uint32_t order[POOL_MAX_RUN]; /* tasks in dispatch order */
    uint32_t n_order;
    uint32_t peak_running;
    uint32_t seed;
    judge_fn *judge;
    void *judge_ctx;
};

static uint32_t rnd(struct pool *p)
{
    p->seed = p->seed * 1103515245u + 12345u;
    return p->seed >> 8;
}

/* What a dispatch must satisfy, checked the moment it is handed out. */
static void check_dispatch(struct pool *p, const struct wfmpi_sched_dispatch *d)
{
    const struct wfmpi_plan_task *t = &p->v->tasks[d->task];
    assert_int_equal(wfmpi_sched_state(p->s, d->task), WFMPI_TASK_RUNNING);
    assert_int_equal(wfmpi_sched_attempts(p->s, d->task), d->attempt);
    for (uint32_t i = 0; i < t->parents.count; i++)
        assert_int_equal(wfmpi_sched_state(p->s, p->v->edges_in[t->parents.first + i]),
                         WFMPI_TASK_DONE);
    assert_true(d->node < p->cfg->n_nodes);
    const struct wfmpi_sched_node *n = &p->cfg->nodes[d->node];
    assert_int_equal(d->cores, t->cores);
    assert_int_equal(d->memory_mb, t->memory_mb);
    assert_int_equal(__builtin_popcountll(d->gpu_mask), t->gpus);
    uint64_t node_mask = n->gpus == 64 ? ~0ull : (1ull << n->gpus) - 1;
    assert_int_equal(d->gpu_mask & ~node_mask, 0); /* all GPUs on this one node */
    assert_int_equal(d->gpu_mask & p->used_gpus[d->node], 0); /* no GPU given twice */
    p->used_gpus[d->node] |= d->gpu_mask;
    p->used_cores[d->node] += d->cores;
    assert_true(p->used_cores[d->node] <= n->cores);
    if (n->memory_mb) {
        p->used_mem[d->node] += d->memory_mb;
        assert_true(p->used_mem[d->node] <= n->memory_mb);
    }
    assert_true(d->rank >= n->first_rank && d->rank < n->first_rank + n->n_ranks);
    if (d->gpu_mask) {
        uint32_t g = (uint32_t)__builtin_ctzll(d->gpu_mask);
        uint32_t owner = n->gpu_owner ? n->gpu_owner[g] : n->first_rank + g % n->n_ranks;
        assert_int_equal(d->rank, owner);
    }
    p->rank_running[d->rank]++;
}

static void pool_init(struct pool *p, const struct wfmpi_plan *plan,
                      const struct wfmpi_sched_config *cfg)
{
    memset(p, 0, sizeof(*p));
    struct wfmpi_error err = {0};
    p->s = wfmpi_sched_create(plan, cfg, &err);
    if (!p->s)
        fail_msg("sched_create: %s", err.text);
    p->v = wfmpi_plan_view(plan);
    p->cfg = cfg;
    p->seed = 42;
}

/* Take dispatches until the scheduler has nothing more that fits. */
static uint32_t pool_fill(struct pool *p)
{
    uint32_t total = 0, n;
    struct wfmpi_sched_dispatch d[7]; /* odd batch size on purpose */
    while ((n = wfmpi_sched_next(p->s, d, 7)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            check_dispatch(p, &d[i]);
            assert_true(p->n_run < POOL_MAX_RUN);
            p->run[p->n_run++] = d[i];
            if (p->n_order < POOL_MAX_RUN)
                p->order[p->n_order++] = d[i].task;
        }
        total += n;
        if (p->n_run > p->peak_running)
            p->peak_running = p->n_run;
    }
    return total;
}

static void pool_complete_at(struct pool *p, uint32_t i, enum wfmpi_sched_outcome o)
{
    struct wfmpi_sched_dispatch d = p->run[i];
    p->run[i] = p->run[--p->n_run];
    p->used_cores[d.node] -= d.cores;
    p->used_mem[d.node] -= p->cfg->nodes[d.node].memory_mb ? d.memory_mb : 0;
    p->used_gpus[d.node] &= ~d.gpu_mask;
    p->rank_running[d.rank]--;
    assert_int_equal(wfmpi_sched_complete(p->s, d.task, d.attempt, o), 0);
}

static uint32_t pool_pick(struct pool *p, enum pick how)
{
    switch (how) {
    case PICK_FIFO:
        return 0;
    case PICK_LIFO:
        return p->n_run - 1;
    default:
        return rnd(p) % p->n_run;
    }
}

/* Run to the end: fill, complete one, repeat. */
static void pool_run(struct pool *p, enum pick how)
{
    for (;;) {
        pool_fill(p);
        if (p->n_run == 0)
            break;
        uint32_t i = pool_pick(p, how);
        const struct wfmpi_sched_dispatch *d = &p->run[i];
        enum wfmpi_sched_outcome o =
            p->judge ? p->judge(d->task, d->attempt, p->judge_ctx) : WFMPI_SCHED_OK;
        pool_complete_at(p, i, o);
    }
    assert_true(wfmpi_sched_finished(p->s));
}

static void pool_fini(struct pool *p)
{
    wfmpi_sched_destroy(p->s);
}

static uint32_t pos_of(const struct pool *p, uint32_t task)
{
    for (uint32_t i = 0; i < p->n_order; i++)
        if (p->order[i] == task)
            return i;
    fail_msg("task %u never dispatched", task);
    return 0;
}

/* ------------------------------------------------------------ pools */

static struct wfmpi_sched_node one_node(uint32_t cores, uint32_t gpus)
{
    return (struct wfmpi_sched_node){.cores = cores, .gpus = gpus, .n_ranks = 1};
}

static struct wfmpi_sched_config config(const struct wfmpi_sched_node *nodes, uint32_t n)
{
    return (struct wfmpi_sched_config){.nodes = nodes, .n_nodes = n, .default_retries = 0};
}

/* ------------------------------------------------------------ tests */

static void test_diamond(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_simple(&b, "a"), x = pb_simple(&b, "b"), y = pb_simple(&b, "c"),
             d = pb_simple(&b, "d");
    pb_edge(&b, a, x);
    pb_edge(&b, a, y);
    pb_edge(&b, x, d);
    pb_edge(&b, y, d);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(4, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    for (int how = PICK_FIFO; how <= PICK_RANDOM; how++) {
        struct pool p;
        pool_init(&p, plan, &cfg);
        assert_false(wfmpi_sched_finished(p.s));
        assert_int_equal(pool_fill(&p), 1); /* only the root */
        pool_run(&p, (enum pick)how);
        assert_int_equal(p.n_order, 4);
        assert_int_equal(p.order[0], a);
        assert_int_equal(p.order[3], d);
        assert_true(pos_of(&p, x) < pos_of(&p, d) && pos_of(&p, y) < pos_of(&p, d));
        struct wfmpi_sched_counts c;
        wfmpi_sched_counts(p.s, &c);
        assert_int_equal(c.state[WFMPI_TASK_DONE], 4);
        assert_int_equal(c.running, 0);
        pool_fini(&p);
    }
    wfmpi_plan_destroy(plan);
}

static void test_chain(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    uint32_t prev = 0;
    for (uint32_t i = 0; i < 50; i++) {
        snprintf(id, sizeof(id), "t%u", i);
        uint32_t t = pb_simple(&b, id);
        if (i)
            pb_edge(&b, prev, t);
        prev = t;
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(16, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    pool_run(&p, PICK_RANDOM);
    assert_int_equal(p.peak_running, 1);
    for (uint32_t i = 0; i < 50; i++)
        assert_int_equal(p.order[i], i);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_fan_out_fan_in(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    uint32_t root = pb_simple(&b, "root"), sink = pb_simple(&b, "sink");
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "m%u", i);
        uint32_t t = pb_task(&b, (struct tdef){.id = id, .cores = 1 + i % 3, .mem = 100});
        pb_edge(&b, root, t);
        pb_edge(&b, t, sink);
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 8, .memory_mb = 500, .n_ranks = 2},
                                       {.cores = 5, .first_rank = 2, .n_ranks = 1}};
    struct wfmpi_sched_config cfg = config(nodes, 2);
    struct pool p;
    pool_init(&p, plan, &cfg);
    pool_run(&p, PICK_RANDOM);
    assert_int_equal(p.n_order, 1002);
    assert_int_equal(p.order[0], root);
    assert_int_equal(p.order[1001], sink);
    assert_true(p.peak_running > 4); /* the middle really ran in parallel */
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

/* One core: dispatch order is the queue order. Priority beats critical path,
 * critical path beats index. */
static void test_priority_and_critical_path(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_task(&b, (struct tdef){.id = "a", .cores = 1, .runtime = 1});
    uint32_t hi = pb_task(&b, (struct tdef){.id = "hi", .cores = 1, .runtime = 1, .priority = 5});
    uint32_t c = pb_task(&b, (struct tdef){.id = "c", .cores = 1, .runtime = 1});
    uint32_t long_tail = pb_task(&b, (struct tdef){.id = "tail", .cores = 1, .runtime = 100});
    uint32_t e = pb_task(&b, (struct tdef){.id = "e", .cores = 1, .runtime = 1});
    /* A GPU task in another class with the same priority as hi but a longer
     * path: the global order spans classes. */
    uint32_t g =
        pb_task(&b, (struct tdef){.id = "g", .cores = 1, .gpus = 1, .runtime = 50, .priority = 5});
    pb_edge(&b, c, long_tail);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(1, 1)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    pool_run(&p, PICK_FIFO);
    uint32_t want[] = {g, hi, c, long_tail, a, e};
    /* tail becomes READY when c completes and then outranks a and e. */
    for (uint32_t i = 0; i < 6; i++)
        assert_int_equal(p.order[i], want[i]);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static enum wfmpi_sched_outcome fail_first_two(uint32_t task, uint32_t attempt, void *ctx)
{
    (void)task;
    (void)ctx;
    return attempt <= 2 ? WFMPI_SCHED_FAILED : WFMPI_SCHED_OK;
}

static void test_retry(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t t = pb_task(&b, (struct tdef){.id = "flaky", .cores = 1, .retries = 2});
    uint32_t k = pb_simple(&b, "child");
    uint32_t d = pb_task(&b, (struct tdef){.id = "dflt", .cores = 1, .retries = -1});
    pb_edge(&b, t, k);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(1, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    cfg.default_retries = 1; /* dflt: 2 attempts, both fail */
    struct pool p;
    pool_init(&p, plan, &cfg);
    uint32_t attempts_seen[4] = {0}, n_seen = 0;
    for (;;) {
        pool_fill(&p);
        if (!p.n_run)
            break;
        if (p.run[0].task == t)
            attempts_seen[n_seen++] = p.run[0].attempt;
        uint32_t task = p.run[0].task;
        pool_complete_at(&p, 0,
                         task == k ? WFMPI_SCHED_OK : fail_first_two(task, p.run[0].attempt, NULL));
    }
    assert_int_equal(n_seen, 3);
    assert_int_equal(attempts_seen[0], 1);
    assert_int_equal(attempts_seen[1], 2);
    assert_int_equal(attempts_seen[2], 3);
    assert_int_equal(wfmpi_sched_state(p.s, t), WFMPI_TASK_DONE);
    assert_int_equal(wfmpi_sched_state(p.s, k), WFMPI_TASK_DONE);
    assert_int_equal(wfmpi_sched_state(p.s, d), WFMPI_TASK_FAILED);
    assert_int_equal(wfmpi_sched_attempts(p.s, d), 2);
    struct wfmpi_sched_counts c;
    wfmpi_sched_counts(p.s, &c);
    assert_int_equal(c.retries, 3); /* 2 for flaky, 1 for dflt */
    assert_true(wfmpi_sched_finished(p.s));
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static enum wfmpi_sched_outcome fail_named(uint32_t task, uint32_t attempt, void *ctx)
{
    (void)attempt;
    return task == *(const uint32_t *)ctx ? WFMPI_SCHED_FAILED : WFMPI_SCHED_OK;
}

/* a fails for good: b, c, d, x are its descendants (x also has a good
 * parent); e -> f is independent and completes. */
static void test_failure_blocks_descendants(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_task(&b, (struct tdef){.id = "a", .cores = 1, .retries = 1});
    uint32_t bb = pb_simple(&b, "b"), c = pb_simple(&b, "c"), d = pb_simple(&b, "d");
    uint32_t e = pb_simple(&b, "e"), f = pb_simple(&b, "f"), x = pb_simple(&b, "x");
    pb_edge(&b, a, bb);
    pb_edge(&b, bb, c);
    pb_edge(&b, a, d);
    pb_edge(&b, e, f);
    pb_edge(&b, e, x);
    pb_edge(&b, d, x);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(2, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    p.judge = fail_named;
    p.judge_ctx = &a;
    pool_run(&p, PICK_RANDOM);
    assert_int_equal(wfmpi_sched_state(p.s, a), WFMPI_TASK_FAILED);
    assert_int_equal(wfmpi_sched_attempts(p.s, a), 2);
    uint32_t blocked[] = {bb, c, d, x};
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(wfmpi_sched_state(p.s, blocked[i]), WFMPI_TASK_BLOCKED);
    assert_int_equal(wfmpi_sched_state(p.s, e), WFMPI_TASK_DONE);
    assert_int_equal(wfmpi_sched_state(p.s, f), WFMPI_TASK_DONE);
    struct wfmpi_sched_counts cn;
    wfmpi_sched_counts(p.s, &cn);
    assert_int_equal(cn.state[WFMPI_TASK_BLOCKED], 4);
    assert_int_equal(cn.state[WFMPI_TASK_FAILED], 1);
    assert_int_equal(cn.state[WFMPI_TASK_DONE], 2);
    assert_int_equal(cn.retries, 1);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_interrupted_uses_no_retry(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t t = pb_task(&b, (struct tdef){.id = "t", .cores = 1, .retries = 0});
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(1, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_int_equal(pool_fill(&p), 1);
        assert_int_equal(p.run[0].attempt, i);
        pool_complete_at(&p, 0, WFMPI_SCHED_INTERRUPTED);
        assert_int_equal(wfmpi_sched_state(p.s, t), WFMPI_TASK_READY);
    }
    assert_int_equal(pool_fill(&p), 1);
    assert_int_equal(p.run[0].attempt, 4);
    pool_complete_at(&p, 0, WFMPI_SCHED_FAILED); /* retries 0: the one real failure */
    assert_int_equal(wfmpi_sched_state(p.s, t), WFMPI_TASK_FAILED);
    struct wfmpi_sched_counts c;
    wfmpi_sched_counts(p.s, &c);
    assert_int_equal(c.retries, 0);
    assert_true(wfmpi_sched_finished(p.s));
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

/* Random shapes on heterogeneous nodes, random completion order; the pool
 * checks cores, memory, GPU bits, one-node placement and owners after every
 * dispatch. */
static void test_resources_never_oversubscribed(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    uint32_t seed = 7, n = 3000;
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 8;
        snprintf(id, sizeof(id), "t%u", i);
        struct tdef d = {.id = id,
                         .cores = 1 + r % 8,
                         .gpus = (r >> 4) % 5 == 4 ? 0 : (r >> 4) % 5,
                         .mem = (r >> 8) % 4 * 1000,
                         .priority = (int32_t)((r >> 12) % 3),
                         .runtime = (r >> 14) % 100};
        if (d.gpus > 2 && (r >> 20) % 2)
            d.gpus = 0;
        uint32_t t = pb_task(&b, d);
        if (i > 10 && (r >> 22) % 4 == 0)
            pb_edge(&b, (r >> 3) % t, t);
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    static const uint32_t owners[] = {5, 5, 4, 4};
    struct wfmpi_sched_node nodes[] = {
        {.cores = 16, .gpus = 4, .memory_mb = 8000, .first_rank = 0, .n_ranks = 4},
        {.cores = 8, .gpus = 4, .memory_mb = 0, .first_rank = 4, .n_ranks = 2, .gpu_owner = owners},
        {.cores = 12, .gpus = 3, .memory_mb = 4000, .first_rank = 6, .n_ranks = 3},
        {.cores = 24, .gpus = 0, .memory_mb = 16000, .first_rank = 9, .n_ranks = 1},
    };
    struct wfmpi_sched_config cfg = config(nodes, 4);
    struct pool p;
    pool_init(&p, plan, &cfg);
    pool_run(&p, PICK_RANDOM);
    assert_int_equal(p.n_order, n < POOL_MAX_RUN ? n : POOL_MAX_RUN);
    struct wfmpi_sched_counts c;
    wfmpi_sched_counts(p.s, &c);
    assert_int_equal(c.state[WFMPI_TASK_DONE], n);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_gpu_owner_and_cpu_spread(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t g2 = pb_task(&b, (struct tdef){.id = "g2", .cores = 1, .gpus = 2, .priority = 9});
    uint32_t g1 = pb_task(&b, (struct tdef){.id = "g1", .cores = 1, .gpus = 1, .priority = 8});
    uint32_t c1 = pb_task(&b, (struct tdef){.id = "c1", .cores = 1, .priority = 1});
    uint32_t c2 = pb_task(&b, (struct tdef){.id = "c2", .cores = 1, .priority = 1});
    struct wfmpi_plan *plan = pb_finish(&b);
    static const uint32_t owners[] = {3, 3, 2, 2};
    struct wfmpi_sched_node nodes[] = {
        {.cores = 8, .gpus = 4, .first_rank = 2, .n_ranks = 2, .gpu_owner = owners}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_int_equal(pool_fill(&p), 4);
    for (uint32_t i = 0; i < 4; i++) {
        const struct wfmpi_sched_dispatch *d = &p.run[i];
        if (d->task == g2) {
            assert_int_equal(d->gpu_mask, 0x3); /* lowest contiguous pair */
            assert_int_equal(d->rank, 3);
        } else if (d->task == g1) {
            assert_int_equal(d->gpu_mask, 0x4);
            assert_int_equal(d->rank, 2);
        }
    }
    /* Both GPU ranks run one task each, so the CPU tasks went one per rank. */
    assert_int_equal(p.rank_running[2], 2);
    assert_int_equal(p.rank_running[3], 2);
    (void)c1;
    (void)c2;
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_pick_gpus(void **state)
{
    (void)state;
    assert_int_equal(sched_pick_gpus(0xf, 2, 4), 0x3);
    assert_int_equal(sched_pick_gpus(0xd, 2, 4), 0xc); /* 1101: run at 2-3 */
    assert_int_equal(sched_pick_gpus(0xa, 2, 4), 0xa); /* 1010: no run, lowest bits */
    assert_int_equal(sched_pick_gpus(0xf0, 3, 8), 0x70);
    assert_int_equal(sched_pick_gpus(~0ull, 64, 64), ~0ull);
    assert_int_equal(sched_pick_gpus(0xff, 0, 8), 0);
    /* The public choice (glidein pilots): one group when it has them free,
     * the tightest such group; fewer free than asked: none. */
    const uint32_t group[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(wfmpi_sched_pick_gpus(0xffc0, 3, 16, group), 0x0700); /* not 6,7,8 */
    assert_int_equal(wfmpi_sched_pick_gpus(0xffff, 3, 16, group), 0x0007);
    assert_int_equal(wfmpi_sched_pick_gpus(0xf8f0, 2, 16, group), 0x0030); /* group 0 is tighter */
    assert_int_equal(wfmpi_sched_pick_gpus(0xf0f8, 2, 16, group), 0x3000); /* now group 1 */
    assert_int_equal(wfmpi_sched_pick_gpus(0x0cc0, 3, 16, group), 0x04c0); /* no group has 3 */
    assert_int_equal(wfmpi_sched_pick_gpus(0x0003, 3, 16, group), 0);
    assert_int_equal(wfmpi_sched_pick_gpus(0x00f0, 2, 8, NULL), 0x0030);
}

static void test_throttles(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    for (uint32_t i = 0; i < 60; i++) {
        snprintf(id, sizeof(id), "t%u", i);
        pb_task(&b, (struct tdef){.id = id, .cores = 1, .category = i % 3 == 0 ? "io" : NULL});
    }
    assert_int_equal(wfmpi_plan_builder_add_category(b.b, "io", 2), 0);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(64, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    cfg.max_running = 5;
    struct pool p;
    pool_init(&p, plan, &cfg);
    const struct wfmpi_plan_view *v = p.v;
    uint32_t io_name = v->categories[0].name;
    uint32_t peak_io = 0;
    for (;;) {
        pool_fill(&p);
        if (!p.n_run)
            break;
        assert_true(p.n_run <= 5);
        uint32_t io = 0;
        for (uint32_t i = 0; i < p.n_run; i++)
            io += v->tasks[p.run[i].task].category == io_name;
        assert_true(io <= 2);
        peak_io = io > peak_io ? io : peak_io;
        pool_complete_at(&p, rnd(&p) % p.n_run, WFMPI_SCHED_OK);
    }
    assert_int_equal(p.peak_running, 5);
    assert_int_equal(peak_io, 2);
    assert_int_equal(p.n_order, 60);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void expect_reject(const struct tdef *d, const char *msg)
{
    struct pb b = pb_new();
    pb_simple(&b, "small");
    pb_task(&b, *d);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 16, .gpus = 4, .memory_mb = 1000, .n_ranks = 1},
                                       {.cores = 64, .gpus = 0, .memory_mb = 0, .n_ranks = 1}};
    struct wfmpi_sched_config cfg = config(nodes, 2);
    struct wfmpi_error err = {0};
    assert_null(wfmpi_sched_create(plan, &cfg, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text, msg);
    wfmpi_plan_destroy(plan);
}

static void test_too_big_rejected(void **state)
{
    (void)state;
    expect_reject(&(struct tdef){.id = "x", .cores = 1, .gpus = 8},
                  "task 'x' asks for 8 GPUs but the largest node has 4");
    expect_reject(&(struct tdef){.id = "y", .cores = 65},
                  "task 'y' asks for 65 cores but the largest node has 64");
    /* 32 cores + 1 GPU: each fits some node, both together none. */
    expect_reject(&(struct tdef){.id = "z", .cores = 32, .gpus = 1},
                  "task 'z' asks for 32 cores, 1 GPUs and 0 MB together, which no single node has");
    /* Memory is only limited on node 0; node 1 does not account it. */
    struct pb b = pb_new();
    pb_task(&b, (struct tdef){.id = "m", .cores = 1, .mem = 5000});
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 16, .gpus = 4, .memory_mb = 1000, .n_ranks = 1}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct wfmpi_error err = {0};
    assert_null(wfmpi_sched_create(plan, &cfg, &err));
    assert_string_equal(err.text,
                        "task 'm' asks for 5000 MB of memory but the largest node has 1000");
    nodes[0].memory_mb = 0;
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    wfmpi_sched_destroy(s);
    /* A task that knows where its job is written says so first. */
    struct pb b2 = pb_new();
    pb_simple(&b2, "small");
    struct wfmpi_plan_task_spec spec = {.id = "big",
                                        .exe = "/bin/true",
                                        .cores = 2,
                                        .gpus = 9,
                                        .pos_file = "wf.yml",
                                        .pos_line = 12,
                                        .pos_col = 3};
    assert_true(wfmpi_plan_builder_add_task(b2.b, &spec, &err) >= 0);
    struct wfmpi_plan *plan2 = pb_finish(&b2);
    char where[64];
    assert_string_equal(wfmpi_plan_task_where(plan2, 1, where, sizeof(where)), "wf.yml:12:3");
    assert_string_equal(wfmpi_plan_task_where(plan2, 0, where, sizeof(where)), "");
    assert_string_equal(wfmpi_plan_task_where(plan2, 7, where, sizeof(where)), "");
    nodes[0].gpus = 4;
    assert_null(wfmpi_sched_create(plan2, &cfg, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text,
                        "wf.yml:12:3: task 'big' asks for 9 GPUs but the largest node has 4");
    wfmpi_plan_destroy(plan2);
    /* Bad pools. */
    cfg.n_nodes = 0;
    assert_null(wfmpi_sched_create(plan, &cfg, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    wfmpi_plan_destroy(plan);
}

static void test_bad_completion_refused(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_simple(&b, "a"), c = pb_simple(&b, "c");
    pb_edge(&b, a, c);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(2, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_int_equal(pool_fill(&p), 1);
    struct wfmpi_sched_dispatch d = p.run[0];
    assert_int_equal(wfmpi_sched_complete(p.s, d.task, d.attempt + 1, WFMPI_SCHED_OK),
                     WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_complete(p.s, 99, 1, WFMPI_SCHED_OK), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_complete(p.s, c, 1, WFMPI_SCHED_OK), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_state(p.s, a), WFMPI_TASK_RUNNING);
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    struct wfmpi_sched_counts before, after;
    wfmpi_sched_counts(p.s, &before);
    assert_int_equal(wfmpi_sched_complete(p.s, d.task, d.attempt, WFMPI_SCHED_FAILED),
                     WFMPI_E_INPUT); /* duplicate */
    wfmpi_sched_counts(p.s, &after);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(wfmpi_sched_state(p.s, a), WFMPI_TASK_DONE);
    assert_int_equal(wfmpi_sched_state(p.s, c), WFMPI_TASK_READY);
    /* The core is free again: exactly one task can run (c). */
    assert_int_equal(pool_fill(&p), 1);
    pool_run(&p, PICK_FIFO);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_drain(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    for (uint32_t i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "t%u", i);
        pb_simple(&b, id);
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(3, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_int_equal(pool_fill(&p), 3);
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    wfmpi_sched_drain(p.s);
    assert_true(wfmpi_sched_draining(p.s));
    assert_int_equal(pool_fill(&p), 0);
    assert_false(wfmpi_sched_finished(p.s));
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    assert_false(wfmpi_sched_finished(p.s));
    pool_complete_at(&p, 0, WFMPI_SCHED_INTERRUPTED);
    assert_true(wfmpi_sched_finished(p.s));
    struct wfmpi_sched_counts c;
    wfmpi_sched_counts(p.s, &c);
    assert_int_equal(c.state[WFMPI_TASK_DONE], 2);
    assert_int_equal(c.state[WFMPI_TASK_READY], 8);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

/* Near the end of an allocation, a task whose estimate cannot finish is not
 * started (it stays READY for the next one); short and unknown ones start,
 * and the run counts as finished once only set-aside tasks are left. */
static void test_time_left(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t lng = pb_task(&b, (struct tdef){.id = "long", .cores = 1, .runtime = 600});
    uint32_t sht = pb_task(&b, (struct tdef){.id = "short", .cores = 1, .runtime = 10});
    uint32_t unk = pb_task(&b, (struct tdef){.id = "unknown", .cores = 1});
    uint32_t kid = pb_simple(&b, "after-long");
    pb_edge(&b, lng, kid);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(8, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    wfmpi_sched_set_time_left(p.s, 60);
    assert_int_equal(pool_fill(&p), 2);
    assert_int_equal(wfmpi_sched_state(p.s, lng), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_state(p.s, sht), WFMPI_TASK_RUNNING);
    assert_int_equal(wfmpi_sched_state(p.s, unk), WFMPI_TASK_RUNNING);
    assert_int_equal(wfmpi_sched_deferred(p.s), 1);
    assert_false(wfmpi_sched_finished(p.s));
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    assert_true(wfmpi_sched_finished(p.s));
    assert_int_equal(wfmpi_sched_state(p.s, kid), WFMPI_TASK_UNREADY);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

/* a -> b -> c, a -> d, f -> g, h: a DONE, b was RUNNING (attempt 1), f
 * FAILED, h DONE. Only b (attempt 2), then c and d run; g is BLOCKED. */
static void test_restore(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_simple(&b, "a"), bb = pb_simple(&b, "b"), c = pb_simple(&b, "c"),
             d = pb_simple(&b, "d"), f = pb_simple(&b, "f"), g = pb_simple(&b, "g"),
             h = pb_simple(&b, "h");
    pb_edge(&b, a, bb);
    pb_edge(&b, bb, c);
    pb_edge(&b, a, d);
    pb_edge(&b, f, g);
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(4, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_int_equal(wfmpi_sched_restore(p.s, a, WFMPI_TASK_DONE, 1), 0);
    assert_int_equal(wfmpi_sched_restore(p.s, bb, WFMPI_TASK_RUNNING, 1), 0);
    assert_int_equal(wfmpi_sched_restore(p.s, f, WFMPI_TASK_FAILED, 2), 0);
    assert_int_equal(wfmpi_sched_restore(p.s, h, WFMPI_TASK_DONE, 1), 0);
    assert_int_equal(wfmpi_sched_restore(p.s, h, WFMPI_TASK_DONE, 1), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_restore(p.s, g, WFMPI_TASK_DONE, 1), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_state(p.s, g), WFMPI_TASK_BLOCKED);
    assert_int_equal(wfmpi_sched_state(p.s, bb), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_state(p.s, d), WFMPI_TASK_READY);
    assert_false(wfmpi_sched_finished(p.s));
    assert_int_equal(pool_fill(&p), 2);
    assert_int_equal(wfmpi_sched_restore(p.s, c, WFMPI_TASK_DONE, 1), WFMPI_E_INPUT);
    for (uint32_t i = 0; i < p.n_run; i++)
        if (p.run[i].task == bb)
            assert_int_equal(p.run[i].attempt, 2);
    pool_run(&p, PICK_FIFO);
    assert_int_equal(p.n_order, 3);
    assert_int_equal(wfmpi_sched_state(p.s, c), WFMPI_TASK_DONE);
    assert_int_equal(wfmpi_sched_state(p.s, g), WFMPI_TASK_BLOCKED);
    assert_int_equal(wfmpi_sched_state(p.s, f), WFMPI_TASK_FAILED);
    pool_fini(&p);

    /* Everything DONE: finished before any next(). */
    pool_init(&p, plan, &cfg);
    for (uint32_t t = 0; t < 7; t++)
        assert_int_equal(wfmpi_sched_restore(p.s, t, WFMPI_TASK_DONE, 1), 0);
    assert_true(wfmpi_sched_finished(p.s));
    assert_int_equal(pool_fill(&p), 0);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

/* A big task that does not fit now must not stop smaller ones behind it
 * (no head-of-line blocking), and must run once its node frees up. */
static void test_no_head_of_line_blocking(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t small =
        pb_task(&b, (struct tdef){.id = "small", .cores = 1, .gpus = 1, .priority = 10});
    uint32_t big = pb_task(&b, (struct tdef){.id = "big", .cores = 1, .gpus = 4, .priority = 5});
    uint32_t cpu = pb_task(&b, (struct tdef){.id = "cpu", .cores = 1, .priority = 0});
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(4, 4)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_int_equal(pool_fill(&p), 2); /* small, then big is set aside, cpu runs */
    assert_int_equal(p.order[0], small);
    assert_int_equal(p.order[1], cpu);
    assert_int_equal(wfmpi_sched_state(p.s, big), WFMPI_TASK_READY);
    pool_complete_at(&p, 0, WFMPI_SCHED_OK);
    assert_int_equal(pool_fill(&p), 1);
    assert_int_equal(p.order[2], big);
    pool_run(&p, PICK_FIFO);
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static enum wfmpi_sched_outcome random_outcome(uint32_t task, uint32_t attempt, void *ctx)
{
    (void)task;
    (void)attempt;
    uint32_t r = rnd(ctx) % 100;
    return r < 10 ? WFMPI_SCHED_FAILED : r < 15 ? WFMPI_SCHED_INTERRUPTED : WFMPI_SCHED_OK;
}

/* Random DAG, random outcomes: the end state is consistent (make -k). */
static void test_random_outcomes_consistent(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    uint32_t seed = 99, n = 2000;
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        snprintf(id, sizeof(id), "t%u", i);
        uint32_t t = pb_task(&b, (struct tdef){.id = id,
                                               .cores = 1 + (seed >> 8) % 4,
                                               .gpus = (seed >> 12) % 3,
                                               .retries = (int32_t)((seed >> 16) % 3) - 1});
        for (uint32_t k = 0; t > 0 && k < (seed >> 20) % 3; k++)
            pb_edge(&b, (seed >> (k + 3)) % t, t);
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 16, .gpus = 4, .n_ranks = 2},
                                       {.cores = 8, .gpus = 2, .first_rank = 2, .n_ranks = 1}};
    struct wfmpi_sched_config cfg = config(nodes, 2);
    cfg.default_retries = 1;
    struct pool p;
    pool_init(&p, plan, &cfg);
    p.judge = random_outcome;
    p.judge_ctx = &p;
    pool_run(&p, PICK_RANDOM);
    struct wfmpi_sched_counts c;
    wfmpi_sched_counts(p.s, &c);
    assert_int_equal(
        c.state[WFMPI_TASK_DONE] + c.state[WFMPI_TASK_FAILED] + c.state[WFMPI_TASK_BLOCKED], n);
    assert_true(c.state[WFMPI_TASK_FAILED] > 0 && c.state[WFMPI_TASK_DONE] > n / 2);
    for (uint32_t t = 0; t < n; t++) {
        const struct wfmpi_plan_task *pt = &p.v->tasks[t];
        enum wfmpi_task_state st = wfmpi_sched_state(p.s, t);
        bool bad_parent = false;
        for (uint32_t i = 0; i < pt->parents.count; i++)
            bad_parent |=
                wfmpi_sched_state(p.s, p.v->edges_in[pt->parents.first + i]) != WFMPI_TASK_DONE;
        assert_true(st == WFMPI_TASK_BLOCKED ? bad_parent : !bad_parent);
        if (st == WFMPI_TASK_BLOCKED)
            assert_int_equal(wfmpi_sched_attempts(p.s, t), 0);
        if (st == WFMPI_TASK_FAILED) {
            uint32_t retries = pt->retries < 0 ? 1 : (uint32_t)pt->retries;
            assert_true(wfmpi_sched_attempts(p.s, t) >= retries + 1);
        }
    }
    pool_fini(&p);
    wfmpi_plan_destroy(plan);
}

static void test_empty_plan(void **state)
{
    (void)state;
    struct pb b = pb_new();
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {one_node(1, 0)};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct pool p;
    pool_init(&p, plan, &cfg);
    assert_true(wfmpi_sched_finished(p.s));
    assert_int_equal(pool_fill(&p), 0);
    pool_fini(&p);
    wfmpi_sched_destroy(NULL);
    assert_string_equal(wfmpi_task_state_name(WFMPI_TASK_BLOCKED), "BLOCKED");
    wfmpi_plan_destroy(plan);
}

/* Glidein claim: ready order, budget fit (cores, GPUs, memory, time left),
 * the budget shrinking as tasks are taken, no node resources held, and
 * INTERRUPTED completions (lease expiry) using no retry. */
static void test_claim_budget(void **state)
{
    (void)state;
    struct pb p = pb_new();
    uint32_t big = pb_task(&p, (struct tdef){.id = "big", .cores = 8, .priority = 9});
    uint32_t gpu = pb_task(&p, (struct tdef){.id = "gpu", .cores = 1, .gpus = 2, .priority = 8});
    uint32_t mem = pb_task(&p, (struct tdef){.id = "mem", .cores = 1, .mem = 4000, .priority = 7});
    uint32_t slow =
        pb_task(&p, (struct tdef){.id = "slow", .cores = 1, .runtime = 600, .priority = 6});
    uint32_t a = pb_task(&p, (struct tdef){.id = "a", .cores = 2, .priority = 5});
    uint32_t b = pb_task(&p, (struct tdef){.id = "b", .cores = 2, .priority = 4});
    uint32_t kid = pb_simple(&p, "kid");
    pb_edge(&p, a, kid);
    struct wfmpi_plan *plan = pb_finish(&p);
    struct wfmpi_sched_node nodes[] = {one_node(1u << 20, 64)};
    struct wfmpi_sched_config cfg = {.nodes = nodes, .n_nodes = 1, .default_retries = 0};
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    struct wfmpi_sched_dispatch d[8];
    /* 3 cores, no GPU, 1000 MB, 60 s: only a (2 cores) fits, then b no longer does. */
    struct wfmpi_sched_budget bud = {.cores = 3, .memory_mb = 1000, .time_left = 60};
    assert_int_equal(wfmpi_sched_claim(s, &bud, d, 8), 1);
    assert_int_equal(d[0].task, a);
    assert_int_equal(d[0].attempt, 1);
    assert_int_equal(d[0].node, 0);
    assert_int_equal(d[0].gpu_mask, 0);
    assert_int_equal(wfmpi_sched_state(s, b), WFMPI_TASK_READY);
    /* A larger pilot takes the rest in ready order. */
    struct wfmpi_sched_budget all = {.cores = 64, .gpus = 4, .time_left = 1e9};
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 8), 5);
    assert_int_equal(d[0].task, big);
    assert_int_equal(d[1].task, gpu);
    assert_int_equal(d[2].task, mem);
    assert_int_equal(d[3].task, slow);
    assert_int_equal(d[4].task, b);
    /* A lost lease: READY again without using a retry, claimable again. */
    assert_int_equal(wfmpi_sched_complete(s, big, 1, WFMPI_SCHED_INTERRUPTED), 0);
    assert_int_equal(wfmpi_sched_state(s, big), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 8), 1);
    assert_int_equal(d[0].task, big);
    assert_int_equal(d[0].attempt, 2);
    assert_int_equal(wfmpi_sched_complete(s, a, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 8), 1);
    assert_int_equal(d[0].task, kid);
    uint32_t live[][2] = {{big, 2}, {gpu, 1}, {mem, 1}, {slow, 1}, {b, 1}, {kid, 1}};
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        assert_int_equal(wfmpi_sched_complete(s, live[i][0], live[i][1], WFMPI_SCHED_OK), 0);
    assert_true(wfmpi_sched_finished(s));
    /* Draining: nothing is claimed. */
    wfmpi_sched_drain(s);
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 8), 0);
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* Glidein service restart: interrupted attempts use no retry once restored
 * with the checkpoint's count, and a cut-off attempt can be RUNNING again
 * under its own number (its pilot still runs it). */
static void test_restore_leases(void **state)
{
    (void)state;
    struct pb p = pb_new();
    uint32_t x = pb_task(&p, (struct tdef){.id = "x", .cores = 1, .retries = 1, .priority = 3});
    uint32_t y = pb_task(&p, (struct tdef){.id = "y", .cores = 1, .retries = 1, .priority = 2});
    uint32_t z = pb_task(&p, (struct tdef){.id = "z", .cores = 1, .retries = 1, .priority = 1});
    struct wfmpi_plan *plan = pb_finish(&p);
    struct wfmpi_sched_node nodes[] = {one_node(1u << 20, 0)};
    struct wfmpi_sched_config cfg = {.nodes = nodes, .n_nodes = 1, .default_retries = 1};
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    /* x: two attempts lost to lease expiry, none failed. */
    assert_int_equal(wfmpi_sched_restore(s, x, WFMPI_TASK_READY, 2), 0);
    assert_int_equal(wfmpi_sched_restore_retries(s, x, 0), 0);
    /* y: attempt 1 cut off by the restart, still running on its pilot. */
    assert_int_equal(wfmpi_sched_restore(s, y, WFMPI_TASK_READY, 1), 0);
    assert_int_equal(wfmpi_sched_restore_running(s, y), 0);
    assert_int_equal(wfmpi_sched_state(s, y), WFMPI_TASK_RUNNING);
    assert_int_equal(wfmpi_sched_restore_running(s, z), WFMPI_E_INPUT); /* never started */
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    assert_int_equal(k.running, 1);
    struct wfmpi_sched_dispatch d[4];
    struct wfmpi_sched_budget all = {.cores = 64, .time_left = 1e9};
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 4), 2); /* y is not handed out again */
    assert_int_equal(d[0].task, x);
    assert_int_equal(d[0].attempt, 3);
    assert_int_equal(d[1].task, z);
    assert_int_equal(wfmpi_sched_restore_running(s, y), WFMPI_E_INPUT); /* sealed */
    assert_int_equal(wfmpi_sched_restore_retries(s, x, 0), WFMPI_E_INPUT);
    /* The cut-off attempt's result counts once. */
    assert_int_equal(wfmpi_sched_complete(s, y, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_complete(s, y, 1, WFMPI_SCHED_OK), WFMPI_E_INPUT);
    /* x still has its retry: the first real failure is retried. */
    assert_int_equal(wfmpi_sched_complete(s, x, 3, WFMPI_SCHED_FAILED), 0);
    assert_int_equal(wfmpi_sched_state(s, x), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_claim(s, &all, d, 4), 1);
    assert_int_equal(wfmpi_sched_complete(s, x, 4, WFMPI_SCHED_FAILED), 0);
    assert_int_equal(wfmpi_sched_state(s, x), WFMPI_TASK_FAILED);
    assert_int_equal(wfmpi_sched_complete(s, z, 1, WFMPI_SCHED_OK), 0);
    assert_true(wfmpi_sched_finished(s));
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* Standby: a task queued behind a running one (or behind a standby: a
 * chain) takes over its resources when it ends, never before, and never
 * overcommits the node. */
static void test_standby(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t a = pb_task(&b, (struct tdef){.id = "a", .cores = 1, .mem = 10, .priority = 9});
    uint32_t bb = pb_task(&b, (struct tdef){.id = "b", .cores = 1, .mem = 10, .priority = 8});
    uint32_t m = pb_task(&b, (struct tdef){.id = "m", .cores = 1, .mem = 50, .priority = 7});
    uint32_t c = pb_task(&b, (struct tdef){.id = "c", .cores = 1, .mem = 10, .priority = 6});
    uint32_t d = pb_task(&b, (struct tdef){.id = "d", .cores = 1, .mem = 10, .priority = 5});
    uint32_t e = pb_task(&b, (struct tdef){.id = "e", .cores = 1, .mem = 10, .priority = 4});
    uint32_t f = pb_task(&b, (struct tdef){.id = "f", .cores = 1, .mem = 10, .priority = 3});
    uint32_t big = pb_task(&b, (struct tdef){.id = "big", .cores = 2, .mem = 10, .priority = 1});
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 2, .memory_mb = 100, .n_ranks = 2}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    struct wfmpi_sched_dispatch ds[4], sb;
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 2);
    assert_int_equal(ds[0].task, a);
    assert_int_equal(ds[1].task, bb);

    /* m needs more memory than a holds: c is the best that fits. */
    assert_int_equal(wfmpi_sched_next_behind(s, a, &sb), 1);
    assert_int_equal(sb.task, c);
    assert_int_equal(sb.rank, ds[0].rank);
    assert_int_equal(sb.node, 0);
    assert_int_equal(sb.gpu_mask, 0);
    assert_int_equal(wfmpi_sched_state(s, c), WFMPI_TASK_RUNNING);
    assert_int_equal(wfmpi_sched_next_behind(s, a, &sb), 0); /* one per attempt */
    assert_int_equal(wfmpi_sched_next_behind(s, c, &sb), 1); /* a chain: d after c after a */
    assert_int_equal(sb.task, d);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 0);

    /* a ends: c runs in its place, then d in c's: never a free core for m. */
    assert_int_equal(wfmpi_sched_complete(s, a, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 0);
    assert_int_equal(wfmpi_sched_complete(s, c, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 0);
    /* d ends with nobody behind it: its core is free again, for m. */
    assert_int_equal(wfmpi_sched_complete(s, d, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 1);
    assert_int_equal(ds[0].task, m);

    /* Standbys that never started (a drain answered them) end before the
     * task they waited for: they held nothing, the one behind the first
     * takes no place of anyone (and gets no standby), and b still frees its
     * own core when it ends. */
    assert_int_equal(wfmpi_sched_next_behind(s, bb, &sb), 1);
    assert_int_equal(sb.task, e);
    assert_int_equal(wfmpi_sched_next_behind(s, e, &sb), 1);
    assert_int_equal(sb.task, f);
    assert_int_equal(wfmpi_sched_complete(s, e, 1, WFMPI_SCHED_INTERRUPTED), 0);
    assert_int_equal(wfmpi_sched_state(s, e), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_next_behind(s, f, &sb), 0);
    assert_int_equal(wfmpi_sched_complete(s, f, 1, WFMPI_SCHED_INTERRUPTED), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 0);
    assert_int_equal(wfmpi_sched_complete(s, bb, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 1);
    assert_int_equal(ds[0].task, e);
    assert_int_equal(ds[0].attempt, 2);
    /* e, dispatched again, is a task like any other: f goes behind it. */
    assert_int_equal(wfmpi_sched_next_behind(s, e, &sb), 1);
    assert_int_equal(sb.task, f);
    assert_int_equal(sb.attempt, 2);

    /* Behind m (50 MB), after f: only big is left, and it needs 2 cores.
     * Draining: nothing. */
    assert_int_equal(wfmpi_sched_next_behind(s, m, &sb), 0);
    wfmpi_sched_drain(s);
    assert_int_equal(wfmpi_sched_complete(s, m, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_complete(s, e, 2, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_complete(s, f, 2, WFMPI_SCHED_OK), 0);
    assert_true(wfmpi_sched_finished(s));
    assert_int_equal(wfmpi_sched_state(s, big), WFMPI_TASK_READY); /* never fit behind anyone */
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* Standbys in a long random run: a chain of two queued behind every running
 * task, completions in random order (a standby only after the task before
 * it, as a launcher reports them), and the node's cores never overcommitted:
 * the tasks holding resources never need more than the node has. */
static void test_standby_random(void **state)
{
    (void)state;
    struct pb b = pb_new();
    char id[16];
    for (uint32_t i = 0; i < 400; i++) {
        snprintf(id, sizeof(id), "t%u", i);
        pb_task(&b, (struct tdef){.id = id, .cores = 1 + i % 2});
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 4, .n_ranks = 2}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(plan);
    /* slot i: run[i] holds its cores, q[i][0] then q[i][1] wait behind it. */
    const uint32_t none = UINT32_MAX;
    uint32_t run[8], q[8][2], attempt[400] = {0}, n = 0, done = 0, seed = 7, chained = 0;
    while (done < 400) {
        struct wfmpi_sched_dispatch ds[8], sb;
        uint32_t k = wfmpi_sched_next(s, ds, 8);
        for (uint32_t i = 0; i < k; i++) {
            attempt[ds[i].task] = ds[i].attempt;
            q[n][0] = q[n][1] = none;
            run[n++] = ds[i].task;
        }
        uint32_t cores = 0;
        for (uint32_t i = 0; i < n; i++) {
            cores += v->tasks[run[i]].cores;
            for (int j = 0; j < 2; j++) {
                uint32_t before = j ? q[i][0] : run[i];
                if (before == none || q[i][j] != none || !wfmpi_sched_next_behind(s, before, &sb))
                    continue;
                assert_true(v->tasks[sb.task].cores <= v->tasks[before].cores);
                attempt[sb.task] = sb.attempt;
                q[i][j] = sb.task;
                chained += j;
            }
        }
        assert_true(cores <= 4);
        assert_true(n > 0);
        seed = seed * 1103515245u + 12345u;
        uint32_t i = (seed >> 8) % n, t = run[i];
        assert_int_equal(wfmpi_sched_complete(s, t, attempt[t], WFMPI_SCHED_OK), 0);
        done++;
        if (q[i][0] != none) { /* it starts in t's place */
            run[i] = q[i][0];
            q[i][0] = q[i][1];
            q[i][1] = none;
        } else {
            n--;
            run[i] = run[n];
            q[i][0] = q[n][0];
            q[i][1] = q[n][1];
        }
    }
    assert_true(chained > 0);
    assert_true(wfmpi_sched_finished(s));
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* A standby is only for a task no free slot could start, and a waiting one
 * can be taken back and placed where a slot freed; it counts as started
 * only once it has. */
static void test_standby_revocation(void **state)
{
    (void)state;
    struct pb b = pb_new();
    uint32_t lg = pb_task(&b, (struct tdef){.id = "long", .cores = 1, .priority = 9});
    uint32_t x = pb_task(&b, (struct tdef){.id = "x", .cores = 1, .priority = 8});
    uint32_t s1 = pb_task(&b, (struct tdef){.id = "s1", .cores = 1, .priority = 5});
    uint32_t s2 = pb_task(&b, (struct tdef){.id = "s2", .cores = 1, .priority = 4});
    uint32_t s3 = pb_task(&b, (struct tdef){.id = "s3", .cores = 1, .priority = 3});
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 3, .n_ranks = 3}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    cfg.max_running = 2;
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    struct wfmpi_sched_dispatch ds[4], sb;
    struct wfmpi_sched_counts k;
    /* max_running 2 of 3 cores: long and x start, s1 could not start now. */
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 2);
    assert_int_equal(ds[0].task, lg);
    assert_int_equal(wfmpi_sched_next_behind(s, lg, &sb), 1);
    assert_int_equal(sb.task, s1);
    assert_int_equal(wfmpi_sched_next_behind(s, s1, &sb), 1); /* chained behind s1 */
    assert_int_equal(sb.task, s2);
    assert_true(wfmpi_sched_waiting(s, s1) && wfmpi_sched_waiting(s, s2));
    wfmpi_sched_counts(s, &k);
    assert_int_equal(k.running, 2);
    assert_int_equal(k.standby, 2);
    assert_int_equal(k.state[WFMPI_TASK_RUNNING], 2);
    assert_int_equal(k.state[WFMPI_TASK_READY], 3);
    /* Standbys do not count against max_running: nothing more starts, and
     * nothing is revocable while the limit is reached. */
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 0);
    assert_false(wfmpi_sched_revocable(s, s1));
    /* x ends: a slot is free under the limit; s3 (READY) takes it first. */
    assert_int_equal(wfmpi_sched_complete(s, x, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 1);
    assert_int_equal(ds[0].task, s3);
    assert_false(wfmpi_sched_revocable(s, s1)); /* the limit again */
    /* s3 ends: the slot stays free and s1 waits behind long: take it back
     * (and s2 behind it, which the worker gives back too). */
    assert_int_equal(wfmpi_sched_complete(s, s3, 1, WFMPI_SCHED_OK), 0);
    assert_true(wfmpi_sched_revocable(s, s1));
    assert_int_equal(wfmpi_sched_take_back(s, s1, 1), 0);
    assert_false(wfmpi_sched_revocable(s, s2)); /* an orphan: its worker answers it */
    assert_int_equal(wfmpi_sched_take_back(s, s2, 1), 0);
    assert_int_equal(wfmpi_sched_state(s, s1), WFMPI_TASK_READY);
    assert_int_equal(wfmpi_sched_attempts(s, s1), 0); /* that attempt never happened */
    assert_int_equal(wfmpi_sched_take_back(s, s1, 1), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 1);
    assert_int_equal(ds[0].task, s1);
    assert_int_equal(ds[0].attempt, 1);
    /* long ends with nothing behind it: its core is released, s2 runs. */
    assert_int_equal(wfmpi_sched_complete(s, lg, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_next(s, ds, 4), 1);
    assert_int_equal(ds[0].task, s2);
    assert_int_equal(wfmpi_sched_complete(s, s1, 1, WFMPI_SCHED_OK), 0);
    assert_int_equal(wfmpi_sched_complete(s, s2, 1, WFMPI_SCHED_OK), 0);
    assert_true(wfmpi_sched_finished(s));
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* Revocation races on a fake pool: a revoke that reaches the worker first
 * (taken back, with what waits behind it), one that comes after the task
 * before it ended (the standby started: take_back refuses), and a drain
 * that answers waiting standbys unstarted while revokes are in flight.
 * Nothing runs twice, nothing is lost, the node is never overcommitted. */
struct fake_slot {
    uint32_t run, q[2];
};

static uint32_t lcg(uint32_t *seed, uint32_t n)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 8) % n;
}

static void fake_pop(struct fake_slot *sl, uint32_t *n, uint32_t i)
{
    if (sl[i].q[0] != UINT32_MAX) {
        sl[i].run = sl[i].q[0];
        sl[i].q[0] = sl[i].q[1];
        sl[i].q[1] = UINT32_MAX;
    } else {
        sl[i] = sl[--*n];
    }
}

static void test_standby_revocation_races(void **state)
{
    (void)state;
    enum { N = 300 };
    struct pb b = pb_new();
    char id[16];
    for (uint32_t i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "t%u", i);
        pb_task(&b, (struct tdef){.id = id, .cores = 1 + i % 2, .priority = (int32_t)(i % 7)});
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    struct wfmpi_sched_node nodes[] = {{.cores = 4, .n_ranks = 4}};
    struct wfmpi_sched_config cfg = config(nodes, 1);
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(plan);
    const uint32_t none = UINT32_MAX;
    struct fake_slot sl[8];
    uint32_t attempt[N] = {0}, started[N] = {0}, n = 0, done = 0, seed = 11, taken = 0, late = 0,
             drained = 0;
    bool draining = false;
    while (!wfmpi_sched_finished(s)) {
        struct wfmpi_sched_dispatch ds[8], sb;
        uint32_t k = wfmpi_sched_next(s, ds, 8);
        for (uint32_t i = 0; i < k; i++) {
            attempt[ds[i].task] = ds[i].attempt;
            started[ds[i].task]++;
            sl[n++] = (struct fake_slot){ds[i].task, {none, none}};
        }
        uint32_t cores = 0, queued = 0;
        for (uint32_t i = 0; i < n; i++) {
            cores += v->tasks[sl[i].run].cores;
            for (int j = 0; j < 2; j++) {
                uint32_t before = j ? sl[i].q[0] : sl[i].run;
                if (before != none && sl[i].q[j] == none &&
                    wfmpi_sched_next_behind(s, before, &sb)) {
                    attempt[sb.task] = sb.attempt;
                    sl[i].q[j] = sb.task;
                }
                queued += sl[i].q[j] != none;
            }
        }
        struct wfmpi_sched_counts kc;
        wfmpi_sched_counts(s, &kc);
        assert_true(cores <= 4);
        assert_int_equal(kc.running, n);
        assert_int_equal(kc.standby, queued);
        if (n == 0)
            break;
        if (!draining && done >= 2 * N / 3) {
            wfmpi_sched_drain(s);
            draining = true;
        }
        uint32_t i = lcg(&seed, n), j = lcg(&seed, 2), what = lcg(&seed, 4);
        uint32_t sbt = sl[i].q[j];
        if (sbt != none && what == 0) {
            /* The worker takes the standby back, with whatever waits
             * behind it in its chain. */
            for (uint32_t jj = j; jj < 2 && sl[i].q[jj] != none; jj++) {
                assert_int_equal(wfmpi_sched_take_back(s, sl[i].q[jj], attempt[sl[i].q[jj]]), 0);
                assert_int_equal(wfmpi_sched_state(s, sl[i].q[jj]), WFMPI_TASK_READY);
                sl[i].q[jj] = none;
                taken++;
            }
            continue;
        }
        if (sbt != none && draining && what == 1) {
            /* The drain answered it first; the revoke arrives too late. */
            for (uint32_t jj = j; jj < 2 && sl[i].q[jj] != none; jj++) {
                uint32_t t = sl[i].q[jj];
                assert_int_equal(wfmpi_sched_complete(s, t, attempt[t], WFMPI_SCHED_INTERRUPTED),
                                 0);
                assert_int_equal(wfmpi_sched_take_back(s, t, attempt[t]), WFMPI_E_INPUT);
                sl[i].q[jj] = none;
                drained++;
            }
            continue;
        }
        /* The running task ends; a revoke of its standby that was on its
         * way comes too late: the standby has started in its place. */
        uint32_t t = sl[i].run;
        assert_int_equal(wfmpi_sched_complete(s, t, attempt[t], WFMPI_SCHED_OK), 0);
        done++;
        uint32_t next = sl[i].q[0];
        fake_pop(sl, &n, i);
        if (next != none) {
            started[next]++;
            assert_false(wfmpi_sched_waiting(s, next));
            if (what == 2) {
                assert_int_equal(wfmpi_sched_take_back(s, next, attempt[next]), WFMPI_E_INPUT);
                late++;
            }
        }
    }
    struct wfmpi_sched_counts kc;
    wfmpi_sched_counts(s, &kc);
    for (uint32_t t = 0; t < N; t++)
        assert_true(started[t] <= 1); /* nothing ran twice */
    assert_int_equal(kc.state[WFMPI_TASK_DONE], done);
    assert_int_equal(kc.state[WFMPI_TASK_DONE] + kc.state[WFMPI_TASK_READY], N); /* none lost */
    assert_int_equal(kc.running, 0);
    assert_int_equal(kc.standby, 0);
    assert_true(taken > 0 && late > 0 && drained > 0);
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
}

/* EASY backfill: a 4-GPU task at the head of the queue while 1-GPU tasks
 * keep coming. Greedy backfill hands every freed GPU to a small task and
 * the big one waits until they run out; with the reservation it starts
 * once one node has drained (no later than its tasks' runtimes), small
 * tasks that end before then still backfill there, and other nodes stay
 * free for everyone. */
static double easy_big_start(bool reservations, uint32_t *backfilled_short)
{
    struct pb b = pb_new();
    char id[16];
    /* 4 GPUs per node, 2 nodes; 8 small ones first, then the big one (best
     * priority once it is READY), 20 short ones of 10 s, then a stream of
     * 200 small ones of 100 s. */
    for (uint32_t i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "first%u", i);
        pb_task(&b, (struct tdef){
                        .id = id, .cores = 1, .gpus = 1, .priority = 9, .runtime = 100 + 10 * i});
    }
    uint32_t big = pb_task(
        &b, (struct tdef){.id = "big", .cores = 4, .gpus = 4, .priority = 5, .runtime = 100});
    for (uint32_t i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "small%u", i);
        pb_task(&b, (struct tdef){.id = id, .cores = 1, .gpus = 1, .priority = 1, .runtime = 100});
    }
    for (uint32_t i = 0; i < 20; i++) {
        snprintf(id, sizeof(id), "short%u", i);
        pb_task(&b, (struct tdef){.id = id, .cores = 1, .gpus = 1, .priority = 2, .runtime = 10});
    }
    struct wfmpi_plan *plan = pb_finish(&b);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(plan);
    struct wfmpi_sched_node nodes[] = {{.cores = 8, .gpus = 4, .n_ranks = 1},
                                       {.cores = 8, .gpus = 4, .first_rank = 1, .n_ranks = 1}};
    struct wfmpi_sched_config cfg = config(nodes, 2);
    cfg.no_reservations = !reservations;
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    assert_non_null(s);
    /* A tiny event loop: running tasks end at start + runtime. */
    double end[256 + 32] = {0}, now = 0, big_start = -1;
    uint32_t run[16], n = 0;
    *backfilled_short = 0;
    while (!wfmpi_sched_finished(s)) {
        wfmpi_sched_set_clock(s, now);
        struct wfmpi_sched_dispatch ds[16];
        uint32_t k = wfmpi_sched_next(s, ds, 16);
        for (uint32_t i = 0; i < k; i++) {
            uint32_t t = ds[i].task;
            end[t] = now + v->tasks[t].runtime_s;
            run[n++] = t;
            if (t == big)
                big_start = now;
            else if (big_start < 0 && ds[i].node == 0 && v->tasks[t].runtime_s <= 10)
                (*backfilled_short)++;
        }
        assert_true(n > 0);
        uint32_t first = 0;
        for (uint32_t i = 1; i < n; i++)
            if (end[run[i]] < end[run[first]])
                first = i;
        uint32_t t = run[first];
        now = end[t];
        run[first] = run[--n];
        assert_int_equal(wfmpi_sched_complete(s, t, 1, WFMPI_SCHED_OK), 0);
    }
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
    return big_start;
}

static void test_easy_backfill(void **state)
{
    (void)state;
    uint32_t short_greedy = 0, short_easy = 0;
    double greedy = easy_big_start(false, &short_greedy);
    double easy = easy_big_start(true, &short_easy);
    /* Greedy: the big task waits for the 200 small ones (25 rounds of 8). */
    assert_true(greedy > 2000);
    /* EASY: node 0's first tasks end by 170 s; the big one starts then,
     * and short tasks that end before that still ran there meanwhile. */
    assert_true(easy >= 100 && easy <= 170);
    assert_true(short_easy > 0);
    (void)short_greedy;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diamond),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_fan_out_fan_in),
        cmocka_unit_test(test_priority_and_critical_path),
        cmocka_unit_test(test_retry),
        cmocka_unit_test(test_failure_blocks_descendants),
        cmocka_unit_test(test_interrupted_uses_no_retry),
        cmocka_unit_test(test_resources_never_oversubscribed),
        cmocka_unit_test(test_gpu_owner_and_cpu_spread),
        cmocka_unit_test(test_pick_gpus),
        cmocka_unit_test(test_throttles),
        cmocka_unit_test(test_too_big_rejected),
        cmocka_unit_test(test_bad_completion_refused),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_time_left),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_no_head_of_line_blocking),
        cmocka_unit_test(test_random_outcomes_consistent),
        cmocka_unit_test(test_empty_plan),
        cmocka_unit_test(test_claim_budget),
        cmocka_unit_test(test_restore_leases),
        cmocka_unit_test(test_standby),
        cmocka_unit_test(test_standby_random),
        cmocka_unit_test(test_standby_revocation),
        cmocka_unit_test(test_standby_revocation_races),
        cmocka_unit_test(test_easy_backfill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
