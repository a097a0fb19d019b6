/* `wfmpi [run] WORKFLOW.yml`: the main job, started by srun/mpiexec on every
 * rank. Rank 0 plans and drives the scheduler; the others are workers.
 *
 * Every rank parses the same command line, so a usage error makes every rank
 * exit 2 before MPI starts. Planning and placement errors are found on rank 0
 * and broadcast, so all ranks leave with 2 and nothing runs. */
#include <getopt.h>
#include <sys/resource.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "wfmpi/mpi.h"
#include "wfmpi/plan.h"
#include "wfmpi/sched.h"

struct run_opts {
    const char *workflow;
    const char *run_dir;
    const char *work_dir;
    int32_t retries;
    uint32_t max_running;
    uint32_t cores_per_node;
    bool exec_null;
    double progress;
    double kill_grace;
    enum wfmpi_log_level log_level;
    struct wfmpi_plan_options plan;
};

static void run_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi [run] WORKFLOW.yml [options]\n"
                 "Run a Pegasus 5.0 workflow on the MPI ranks of this allocation\n"
                 "(srun wfmpi workflow.yml, or mpiexec -n N wfmpi workflow.yml).\n\n"
                 "  --run-dir DIR         state, logs and task output (default: WORKFLOW.wfmpi\n"
                 "                        beside the workflow file)\n"
                 "  --work-dir DIR        where tasks run (default: the current directory)\n"
                 "  --retries N           retries for tasks without dagman.retry (default 1)\n"
                 "  --max-running N       at most N tasks at once (default: no limit)\n"
                 "  --cores-per-node N    treat every node as having N cores (default: hwloc)\n"
                 "  --exec MODE           spawn (default) or null: report success without\n"
                 "                        running anything (measures the master's own cost)\n"
                 "  --kill-grace S        seconds between SIGTERM and SIGKILL on timeout (10)\n"
                 "  --progress S          seconds between progress lines on stderr (5)\n"
                 "  --rc/--tc/--sc FILE   replica / transformation / site catalog\n"
                 "  --site NAME           execution site in the catalogs\n"
                 "  --input-dir DIR       where workflow inputs without replicas are found\n"
                 "  --log-level LEVEL     error, warn (default), info, debug on stderr;\n"
                 "                        RUN_DIR/wfmpi.log always gets info\n"
                 "  -h, --help            this text\n\n"
                 "Exit: 0 all tasks succeeded, 1 some failed (the rest ran), 2 bad input or\n"
                 "usage (nothing ran), 3 stopped early, 4 environment or internal error.\n");
}

enum {
    OPT_RUN_DIR = 256,
    OPT_WORK_DIR,
    OPT_RETRIES,
    OPT_MAX_RUNNING,
    OPT_CORES,
    OPT_EXEC,
    OPT_PROGRESS,
    OPT_GRACE,
    OPT_RC,
    OPT_TC,
    OPT_SC,
    OPT_SITE,
    OPT_INPUT_DIR,
    OPT_LOG_LEVEL,
};

static const struct option run_options[] = {
    {"run-dir", required_argument, NULL, OPT_RUN_DIR},
    {"work-dir", required_argument, NULL, OPT_WORK_DIR},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"max-running", required_argument, NULL, OPT_MAX_RUNNING},
    {"cores-per-node", required_argument, NULL, OPT_CORES},
    {"exec", required_argument, NULL, OPT_EXEC},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"kill-grace", required_argument, NULL, OPT_GRACE},
    {"rc", required_argument, NULL, OPT_RC},
    {"tc", required_argument, NULL, OPT_TC},
    {"sc", required_argument, NULL, OPT_SC},
    {"site", required_argument, NULL, OPT_SITE},
    {"input-dir", required_argument, NULL, OPT_INPUT_DIR},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 1e9)
        return false;
    *out = v;
    return true;
}

static int bad_value(const char *opt, const char *value)
{
    fprintf(stderr, "wfmpi run: invalid value '%s' for --%s\n", value, opt);
    return WFMPI_EXIT_USAGE;
}

/* One option; returns 0 or an exit code. */
static int apply_option(struct run_opts *o, int c, const char *arg)
{
    uint64_t u;
    switch (c) {
    case OPT_RUN_DIR:
        o->run_dir = arg;
        break;
    case OPT_WORK_DIR:
        o->work_dir = arg;
        break;
    case OPT_RETRIES:
        if (!parse_uint(arg, 1000, &u))
            return bad_value("retries", arg);
        o->retries = (int32_t)u;
        break;
    case OPT_MAX_RUNNING:
        if (!parse_uint(arg, UINT32_MAX, &u))
            return bad_value("max-running", arg);
        o->max_running = (uint32_t)u;
        break;
    case OPT_CORES:
        if (!parse_uint(arg, 1u << 20, &u) || u == 0)
            return bad_value("cores-per-node", arg);
        o->cores_per_node = (uint32_t)u;
        break;
    case OPT_EXEC:
        if (strcmp(arg, "null") != 0 && strcmp(arg, "spawn") != 0)
            return bad_value("exec", arg);
        o->exec_null = strcmp(arg, "null") == 0;
        break;
    case OPT_PROGRESS:
        return parse_seconds(arg, &o->progress) ? 0 : bad_value("progress", arg);
    case OPT_GRACE:
        return parse_seconds(arg, &o->kill_grace) ? 0 : bad_value("kill-grace", arg);
    case OPT_RC:
        o->plan.rc_file = arg;
        break;
    case OPT_TC:
        o->plan.tc_file = arg;
        break;
    case OPT_SC:
        o->plan.sc_file = arg;
        break;
    case OPT_SITE:
        o->plan.site = arg;
        break;
    case OPT_INPUT_DIR:
        o->plan.input_dir = arg;
        break;
    case OPT_LOG_LEVEL:
        if (wfmpi_log_parse_level(arg, &o->log_level) < 0)
            return bad_value("log-level", arg);
        break;
    default:
        return WFMPI_EXIT_USAGE;
    }
    return 0;
}

/* Returns -1 to go on, else an exit code. */
static int parse_run_args(int argc, char **argv, struct run_opts *o)
{
    *o = (struct run_opts){
        .retries = 1, .progress = 5, .kill_grace = 10, .log_level = WFMPI_LOG_WARN};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", run_options, NULL)) != -1) {
        if (c == 'h') {
            run_usage(stdout);
            return WFMPI_EXIT_OK;
        }
        if (c == '?') {
            run_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
        int rc = apply_option(o, c, optarg);
        if (rc)
            return rc;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "wfmpi run: expected exactly one WORKFLOW.yml\n");
        run_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    o->workflow = argv[optind];
    return -1;
}

/* ------------------------------------------------------------ master */

/* Everything the master's hooks need. */
struct run_ctx {
    const struct wfmpi_plan *plan;
    const struct wfmpi_plan_view *v;
    bool tty;
    uint32_t *fail_reason; /* last failure per task: index into fails, +1 */
    struct wfmpi_exec_result *fails;
    size_t n_fails, cap_fails;
};

static const char *task_id(const struct run_ctx *c, uint32_t task)
{
    return wfmpi_plan_str(c->plan, c->v->tasks[task].id);
}

static void on_start(void *ctx, const struct wfmpi_sched_dispatch *d, int rank)
{
    struct run_ctx *c = ctx;
    if (wfmpi_log_enabled(WFMPI_LOG_INFO))
        wfmpi_info("start %s attempt %u rank %d node %u cores %u", task_id(c, d->task), d->attempt,
                   rank, d->node, d->cores);
}

static void on_end(void *ctx, const struct wfmpi_sched_dispatch *d, int rank,
                   const struct wfmpi_exec_result *r)
{
    struct run_ctx *c = ctx;
    if (wfmpi_log_enabled(WFMPI_LOG_INFO))
        wfmpi_info("end %s attempt %u rank %d node %u %.3fs %s", task_id(c, d->task), d->attempt,
                   rank, d->node, r->end_wall - r->start_wall,
                   r->detail[0] ? r->detail : wfmpi_exec_reason_name(r->reason));
    if (r->reason == WFMPI_EXEC_OK || r->reason == WFMPI_EXEC_INTERRUPTED)
        return;
    /* Failures are rare; keep their full records for the summary. */
    if (WFMPI_PUSH(c->fails, c->n_fails, c->cap_fails, *r) == 0)
        c->fail_reason[d->task] = (uint32_t)c->n_fails;
}

static void on_progress(void *ctx, const struct wfmpi_sched *s, double elapsed)
{
    struct run_ctx *c = ctx;
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    fprintf(stderr, "%swfmpi: %u/%u done, %u running, %u ready, %u failed, %u blocked, %.0f s%s",
            c->tty ? "\r" : "", k.state[WFMPI_TASK_DONE], c->v->n_tasks, k.running,
            k.state[WFMPI_TASK_READY], k.state[WFMPI_TASK_FAILED], k.state[WFMPI_TASK_BLOCKED],
            elapsed, c->tty ? "   " : "\n");
    fflush(stderr);
}

static void print_summary(const struct run_ctx *c, const struct wfmpi_sched *s, double wall)
{
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    uint32_t n = c->v->n_tasks;
    uint32_t unsubmitted = k.state[WFMPI_TASK_UNREADY] + k.state[WFMPI_TASK_READY];
    printf("\nSummary\n"
           "  Total tasks     : %u\n"
           "  Succeeded       : %u\n"
           "  Failed          : %u\n"
           "  Blocked         : %u (an ancestor failed)\n"
           "  Unsubmitted     : %u\n"
           "  Retries         : %u\n"
           "  Wall time       : %.1f s\n",
           n, k.state[WFMPI_TASK_DONE], k.state[WFMPI_TASK_FAILED], k.state[WFMPI_TASK_BLOCKED],
           unsubmitted, k.retries, wall);
    for (uint32_t t = 0; t < n; t++) {
        if (wfmpi_sched_state(s, t) != WFMPI_TASK_FAILED || !c->fail_reason[t])
            continue;
        const struct wfmpi_exec_result *r = &c->fails[c->fail_reason[t] - 1];
        printf("  FAILED %s after %u attempt(s): %s\n", task_id(c, t), wfmpi_sched_attempts(s, t),
               r->detail[0] ? r->detail : wfmpi_exec_reason_name(r->reason));
    }
}

/* Absolute run and work directories; the run dir defaults to WORKFLOW.wfmpi
 * beside the workflow, so a rerun of the same command finds the same one. */
static int resolve_dirs(const struct run_opts *o, char *run_dir, char *work_dir,
                        struct wfmpi_error *err)
{
    if (!realpath(o->work_dir ? o->work_dir : ".", work_dir))
        return wfmpi_error_set(err, WFMPI_E_INPUT, "work dir '%s': %s",
                               o->work_dir ? o->work_dir : ".", strerror(errno));
    char path[PATH_MAX];
    if (o->run_dir) {
        snprintf(path, sizeof(path), "%s", o->run_dir);
    } else {
        snprintf(path, sizeof(path), "%s", o->workflow);
        char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
        if (dot && (!slash || dot > slash))
            *dot = '\0';
        strncat(path, ".wfmpi", sizeof(path) - strlen(path) - 1);
    }
    char jobs[PATH_MAX + 8];
    snprintf(jobs, sizeof(jobs), "%s/jobs", path);
    int rc = wfmpi_mkdir_p(jobs);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "run dir '%s': %s", path, wfmpi_strerror(rc));
    if (!realpath(path, run_dir))
        return wfmpi_error_set(err, -errno, "run dir '%s': %s", path, strerror(errno));
    return 0;
}

static FILE *open_log(const char *run_dir, const struct run_opts *o)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/wfmpi.log", run_dir);
    FILE *f = fopen(path, "a");
    if (f) {
        wfmpi_log_set_level(o->log_level > WFMPI_LOG_INFO ? o->log_level : WFMPI_LOG_INFO);
        wfmpi_log_set_file(f, o->log_level);
    }
    return f;
}

static int exit_code_for(const struct wfmpi_sched *s)
{
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    if (k.state[WFMPI_TASK_FAILED] || k.state[WFMPI_TASK_BLOCKED])
        return WFMPI_EXIT_FAILED;
    if (k.state[WFMPI_TASK_UNREADY] || k.state[WFMPI_TASK_READY])
        return WFMPI_EXIT_STOPPED;
    return WFMPI_EXIT_OK;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e-6;
}

/* The figures bench/ reads: the master's own cost, separate from planning. */
static void log_master_cost(const struct wfmpi_plan_view *v, double wall, double cpu)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    wfmpi_info("master loop: %u tasks in %.3f s wall (%.0f tasks/s), %.3f s CPU (%.2f us/task), "
               "peak RSS %ld MB",
               v->n_tasks, wall, wall > 0 ? v->n_tasks / wall : 0, cpu,
               v->n_tasks ? cpu * 1e6 / v->n_tasks : 0, ru.ru_maxrss / 1024);
}

/* Plan and build the scheduler; on failure every rank must hear about it. */
static int master_prepare(struct wfmpi_mpi *m, const struct run_opts *o, struct wfmpi_plan **plan,
                          struct wfmpi_sched **s, struct wfmpi_error *err)
{
    if (!(*plan = wfmpi_plan_create(o->workflow, &o->plan, err)))
        return err->code;
    uint32_t n_nodes = 0;
    const struct wfmpi_sched_node *nodes = wfmpi_mpi_sched_nodes(m, o->cores_per_node, &n_nodes);
    if (!nodes)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    struct wfmpi_sched_config cfg = {.nodes = nodes,
                                     .n_nodes = n_nodes,
                                     .default_retries = o->retries,
                                     .max_running = o->max_running};
    if (!(*s = wfmpi_sched_create(*plan, &cfg, err)))
        return err->code;
    return 0;
}

static int run_master(struct wfmpi_mpi *m, const struct run_opts *o)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *plan = NULL;
    struct wfmpi_sched *s = NULL;
    char run_dir[PATH_MAX], work_dir[PATH_MAX];
    int rc = master_prepare(m, o, &plan, &s, &err);
    if (rc == 0)
        rc = resolve_dirs(o, run_dir, work_dir, &err);
    int status = rc < 0 ? cli_exit_for(rc) : 0;
    wfmpi_mpi_bcast_int(m, status);
    if (status) {
        cli_print_error(&err, rc);
        wfmpi_sched_destroy(s);
        wfmpi_plan_destroy(plan);
        return status;
    }
    FILE *log = open_log(run_dir, o);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(plan);
    struct run_ctx ctx = {.plan = plan, .v = v, .tty = isatty(2)};
    ctx.fail_reason = calloc(v->n_tasks ? v->n_tasks : 1, sizeof(uint32_t));
    struct wfmpi_run_hooks hooks = {on_start, on_end, on_progress, &ctx,
                                    ctx.tty ? 0.5 : o->progress};
    struct wfmpi_run_config cfg = {work_dir, run_dir, o->exec_null, o->kill_grace};
    wfmpi_info("run %s: %u tasks on %d ranks, %u nodes", o->workflow, v->n_tasks, wfmpi_mpi_size(m),
               wfmpi_mpi_n_nodes(m));
    double t0 = wfmpi_mono(), c0 = cpu_seconds();
    rc = ctx.fail_reason ? wfmpi_mpi_master(m, plan, s, &cfg, &hooks, &err) : -ENOMEM;
    if (rc < 0) {
        cli_print_error(&err, rc);
        wfmpi_mpi_abort(m, WFMPI_EXIT_ENV);
    }
    log_master_cost(v, wfmpi_mono() - t0, cpu_seconds() - c0);
    on_progress(&ctx, s, wfmpi_mono() - t0);
    if (ctx.tty)
        fputc('\n', stderr);
    int code = exit_code_for(s);
    wfmpi_mpi_stop_workers(m, code);
    print_summary(&ctx, s, wfmpi_mono() - t0);
    wfmpi_info("run %s ended with exit code %d", o->workflow, code);
    wfmpi_log_set_file(NULL, WFMPI_LOG_DEBUG);
    if (log)
        fclose(log);
    free(ctx.fail_reason);
    free(ctx.fails);
    wfmpi_sched_destroy(s);
    wfmpi_plan_destroy(plan);
    return code;
}

static int run_worker(struct wfmpi_mpi *m)
{
    int status = wfmpi_mpi_bcast_int(m, 0);
    if (status)
        return status;
    struct wfmpi_error err = {0};
    int rc = wfmpi_mpi_worker(m, &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        wfmpi_mpi_abort(m, WFMPI_EXIT_ENV);
    }
    return rc;
}

int cli_run(int argc, char **argv)
{
    struct run_opts o;
    int rc = parse_run_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    wfmpi_log_set_level(o.log_level);
    struct wfmpi_error err = {0};
    struct wfmpi_mpi *m = wfmpi_mpi_init(NULL, NULL, &err);
    if (!m) {
        cli_print_error(&err, err.code);
        return WFMPI_EXIT_ENV;
    }
    wfmpi_log_set_rank(wfmpi_mpi_rank(m));
    rc = wfmpi_mpi_rank(m) == 0 ? run_master(m, &o) : run_worker(m);
    wfmpi_mpi_finalize(m);
    return rc;
}
