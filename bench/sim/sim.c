/* Discrete-event simulation of the scheduler core at scale (no MPI, no
 * processes): a plan made with the plan builder, a simulated pool of nodes,
 * and a driver that calls wfmpi_sched_next()/complete() exactly as the MPI
 * master does, with simulated time advanced by a heap of completion events.
 *
 *   sim [--tasks N] [--nodes N] [--layers L] [--seed S]   GPU pool workload
 *   sim --null [--tasks N]                                  --exec null-like
 *
 * Reports master CPU per task (time inside next()+complete() only, and the
 * whole event loop by getrusage), makespan, GPU utilisation and peak RSS.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "wfmpi/plan.h"
#include "wfmpi/sched.h"

#define BATCH 256

struct opts {
    uint32_t tasks;
    uint32_t nodes;
    uint32_t layers;
    uint64_t seed;
    int null_mode;
    int no_reserve; /* --no-reserve: greedy backfill only (no EASY reservation) */
};

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: fast and reproducible across machines. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static void die(const char *what, const struct wfmpi_error *err)
{
    fprintf(stderr, "sim: %s: %s\n", what, err ? err->text : "failed");
    exit(1);
}

/* ------------------------------------------------------------ workload */

/* The GPU workload's task mix: 50% 1-GPU, 15% 2-GPU, 10% 4-GPU (8 cores and
 * 16 GB per GPU), 25% CPU tasks (1-8 cores, 2-8 GB); runtimes 60-600 s.
 * Tasks after the first layer depend on one or two tasks of the layer before,
 * so work flows through layers without barriers. */
static void gpu_task(struct wfmpi_plan_task_spec *s)
{
    uint64_t r = rng() % 100;
    uint32_t gpus = r < 50 ? 1 : r < 65 ? 2 : r < 75 ? 4 : 0;
    s->gpus = gpus;
    if (gpus) {
        s->cores = 8 * gpus;
        s->memory_mb = 16384ull * gpus;
    } else {
        s->cores = 1 + (uint32_t)(rng() % 8);
        s->memory_mb = 2048ull * (1 + rng() % 4);
    }
    s->runtime_s = 60 + (double)(rng() % 541);
}

static struct wfmpi_plan *build_plan(const struct opts *o)
{
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("sim");
    if (!b)
        die("builder", NULL);
    struct wfmpi_error err = {0};
    char id[32];
    uint32_t per_layer = (o->tasks + o->layers - 1) / o->layers;
    for (uint32_t i = 0; i < o->tasks; i++) {
        snprintf(id, sizeof(id), "t%07" PRIu32, i);
        struct wfmpi_plan_task_spec s = {.id = id, .exe = "/bin/true", .cores = 1};
        if (!o->null_mode)
            gpu_task(&s);
        if (wfmpi_plan_builder_add_task(b, &s, &err) < 0)
            die("add_task", &err);
        uint32_t layer = i / per_layer;
        if (o->null_mode || layer == 0)
            continue;
        uint32_t base = (layer - 1) * per_layer, n_parents = 1 + (uint32_t)(rng() % 2);
        for (uint32_t k = 0; k < n_parents; k++)
            if (wfmpi_plan_builder_add_edge(b, base + (uint32_t)(rng() % per_layer), i, &err) < 0)
                die("add_edge", &err);
    }
    struct wfmpi_plan *p = wfmpi_plan_builder_finish(b, NULL, NULL, &err);
    if (!p)
        die("finish", &err);
    return p;
}

/* ------------------------------------------------------- event heap */

struct event {
    double t;
    uint32_t task, attempt;
};

struct events {
    struct event *e;
    size_t n;
};

static void ev_push(struct events *h, struct event v)
{
    size_t i = h->n++;
    while (i > 0 && h->e[(i - 1) / 2].t > v.t) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = v;
}

static struct event ev_pop(struct events *h)
{
    struct event top = h->e[0], last = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->e[c + 1].t < h->e[c].t)
            c++;
        if (last.t <= h->e[c].t)
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n)
        h->e[i] = last;
    return top;
}

/* ------------------------------------------------------------ drivers */

/* Queue wait (start - ready) per GPU count 0, 1, 2, 4: shows whether big
 * tasks starve behind small ones. */
struct waits {
    double sum[5], max[5];
    uint64_t n[5];
};

struct result {
    struct waits w;
    double sched_s; /* inside next() + complete() (monotonic clock) */
    double loop_cpu_s; /* whole event loop, getrusage */
    double makespan, gpu_seconds;
    uint64_t dispatched, calls;
};

static void record_wait(const struct wfmpi_plan_view *v, const double *end, uint32_t task, double t,
                        struct waits *w)
{
    const struct wfmpi_plan_task *pt = &v->tasks[task];
    double ready = 0;
    for (uint32_t i = 0; i < pt->parents.count; i++) {
        double e = end[v->edges_in[pt->parents.first + i]];
        ready = e > ready ? e : ready;
    }
    uint32_t k = pt->gpus < 5 ? pt->gpus : 4;
    w->sum[k] += t - ready;
    w->n[k]++;
    if (t - ready > w->max[k])
        w->max[k] = t - ready;
}

static void simulate(struct wfmpi_sched *s, const struct wfmpi_plan_view *v, struct result *r)
{
    struct events ev = {calloc(v->n_tasks + 1, sizeof(struct event)), 0};
    double *end = calloc(v->n_tasks + 1, sizeof(double));
    struct wfmpi_sched_dispatch d[BATCH];
    double t = 0, cpu0 = cpu_seconds();
    for (;;) {
        double a = now_mono();
        uint32_t n;
        wfmpi_sched_set_clock(s, t);
        while ((n = wfmpi_sched_next(s, d, BATCH)) > 0) {
            for (uint32_t i = 0; i < n; i++) {
                const struct wfmpi_plan_task *pt = &v->tasks[d[i].task];
                ev_push(&ev, (struct event){t + pt->runtime_s, d[i].task, d[i].attempt});
                r->gpu_seconds += pt->runtime_s * pt->gpus;
            }
            double pause = now_mono();
            for (uint32_t i = 0; i < n; i++)
                record_wait(v, end, d[i].task, t, &r->w);
            a += now_mono() - pause; /* not scheduler time */
            r->dispatched += n;
            r->calls++;
        }
        r->calls++;
        r->sched_s += now_mono() - a;
        if (ev.n == 0)
            break;
        struct event e = ev_pop(&ev);
        t = e.t;
        end[e.task] = t;
        a = now_mono();
        if (wfmpi_sched_complete(s, e.task, e.attempt, WFMPI_SCHED_OK) < 0)
            die("complete refused", NULL);
        r->sched_s += now_mono() - a;
    }
    r->loop_cpu_s = cpu_seconds() - cpu0;
    r->makespan = t;
    free(ev.e);
    free(end);
}

/* --exec null: every dispatch completes at once, so the loop is pure
 * scheduler work. */
static void null_run(struct wfmpi_sched *s, struct result *r)
{
    struct wfmpi_sched_dispatch d[BATCH];
    double cpu0 = cpu_seconds(), a = now_mono();
    uint32_t n;
    while ((n = wfmpi_sched_next(s, d, BATCH)) > 0) {
        for (uint32_t i = 0; i < n; i++)
            if (wfmpi_sched_complete(s, d[i].task, d[i].attempt, WFMPI_SCHED_OK) < 0)
                die("complete refused", NULL);
        r->dispatched += n;
        r->calls++;
    }
    r->sched_s = now_mono() - a;
    r->loop_cpu_s = cpu_seconds() - cpu0;
}

/* ------------------------------------------------------------- main */

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.tasks = 1000000, .nodes = 1000, .layers = 4, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--null")) {
            o->null_mode = 1;
            continue;
        }
        if (!strcmp(a, "--no-reserve")) {
            o->no_reserve = 1;
            continue;
        }
        if (!val)
            return -1;
        unsigned long long x = strtoull(val, NULL, 10);
        if (!strcmp(a, "--tasks"))
            o->tasks = (uint32_t)x;
        else if (!strcmp(a, "--nodes"))
            o->nodes = (uint32_t)x;
        else if (!strcmp(a, "--layers"))
            o->layers = x ? (uint32_t)x : 1;
        else if (!strcmp(a, "--seed"))
            o->seed = x ? x : 1;
        else
            return -1;
        i++;
    }
    return 0;
}

static struct wfmpi_sched_node *make_pool(const struct opts *o, uint32_t *n_nodes)
{
    *n_nodes = o->null_mode ? 1 : o->nodes;
    struct wfmpi_sched_node *nodes = calloc(*n_nodes, sizeof(*nodes));
    for (uint32_t i = 0; nodes && i < *n_nodes; i++) {
        if (o->null_mode)
            nodes[i] = (struct wfmpi_sched_node){.cores = 2, .first_rank = 0, .n_ranks = 2};
        else
            nodes[i] = (struct wfmpi_sched_node){
                .cores = 64, .gpus = 4, .memory_mb = 262144, .first_rank = 4 * i, .n_ranks = 4};
    }
    return nodes;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: sim [--null] [--no-reserve] [--tasks N] [--nodes N] [--layers L] "
                        "[--seed S]\n");
        return 2;
    }
    rng_state = o.seed * 0x9e3779b97f4a7c15ull;
    double c0 = cpu_seconds();
    struct wfmpi_plan *plan = build_plan(&o);
    double c1 = cpu_seconds();
    uint32_t n_nodes;
    struct wfmpi_sched_node *nodes = make_pool(&o, &n_nodes);
    struct wfmpi_sched_config cfg = {
        .nodes = nodes, .n_nodes = n_nodes, .default_retries = 1, .no_reservations = o.no_reserve};
    struct wfmpi_error err = {0};
    struct wfmpi_sched *s = wfmpi_sched_create(plan, &cfg, &err);
    if (!s)
        die("sched_create", &err);
    double c2 = cpu_seconds();
    struct result r = {0};
    if (o.null_mode)
        null_run(s, &r);
    else
        simulate(s, wfmpi_plan_view(plan), &r);
    struct wfmpi_sched_counts cn;
    wfmpi_sched_counts(s, &cn);
    uint32_t n = wfmpi_plan_view(plan)->n_tasks;
    printf("mode              %s%s\n", o.null_mode ? "null (1 node, 2 cores)" : "gpu pool",
           o.no_reserve ? ", no reservation" : ", EASY reservation");
    printf("tasks             %" PRIu32 " (done %" PRIu32 ")\n", n, cn.state[WFMPI_TASK_DONE]);
    printf("nodes             %" PRIu32 "\n", n_nodes);
    printf("plan build cpu    %.3f s\n", c1 - c0);
    printf("sched create cpu  %.3f s\n", c2 - c1);
    printf("sched calls       %.1f ns/task (next+complete, monotonic clock)\n",
           r.sched_s / n * 1e9);
    printf("event loop cpu    %.1f ns/task (getrusage, includes the simulator)\n",
           r.loop_cpu_s / n * 1e9);
    printf("total cpu         %.3f s\n", cpu_seconds() - c0);
    printf("next() calls      %" PRIu64 "\n", r.calls);
    if (!o.null_mode) {
        double gpus = 4.0 * n_nodes;
        printf("makespan          %.0f s (simulated)\n", r.makespan);
        printf("gpu utilisation   %.2f %%\n", 100.0 * r.gpu_seconds / (gpus * r.makespan));
        for (int k = 0; k < 5; k++)
            if (r.w.n[k])
                printf("wait %d-GPU tasks  mean %.0f s, max %.0f s\n", k, r.w.sum[k] / r.w.n[k],
                       r.w.max[k]);
    }
    printf("peak rss          %ld MB\n", peak_rss_mb());
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
    free(nodes);
    return cn.state[WFMPI_TASK_DONE] == n ? 0 : 1;
}
