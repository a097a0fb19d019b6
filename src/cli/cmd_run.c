/* `wfmpi [run] WORKFLOW.yml`: the main job, started by srun/mpiexec on every
 * rank. Rank 0 plans and drives the scheduler; the others are workers.
 *
 * Every rank parses the same command line, so a usage error makes every rank
 * exit 2 before MPI starts. Planning and placement errors are found on rank 0
 * and broadcast, so all ranks leave with 2 and nothing runs. */
#include <dirent.h>
#include <getopt.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <libgen.h>
#include <signal.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_int.h"
#include "wfmpi/ckpt.h"
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
    double drain_grace;
    double drain_before;
    double walltime_end;
    bool fresh, force_resume, no_checkpoint, no_retry_failed, no_standby;
    enum wfmpi_log_level log_level;
    struct wfmpi_plan_options plan;
};

static void run_usage(FILE *out)
{
    fprintf(
        out,
        "usage: wfmpi [run] WORKFLOW.yml [options]\n"
        "Run a Pegasus 5.0 workflow on the MPI ranks of this allocation\n"
        "(srun wfmpi workflow.yml, or mpiexec -n N wfmpi workflow.yml).\n\n"
        "  --run-dir DIR         state, logs and task output (default: WORKFLOW.wfmpi\n"
        "                        beside the workflow file)\n"
        "  --work-dir DIR        where tasks run (default: the current directory)\n"
        "  --retries N           retries for tasks without dagman.retry (default 1)\n"
        "  --max-running N       at most N tasks at once (default: no limit)\n"
        "  --no-standby          never queue a task on a busy worker behind its running one\n"
        "                        (docs/engine.md, \"Standbys\")\n"
        "  --cores-per-node N    treat every node as having N cores (default: hwloc)\n"
        "  --exec MODE           spawn (default) or null: report success without\n"
        "                        running anything (measures the master's own cost)\n"
        "  --kill-grace S        seconds between SIGTERM and SIGKILL on timeout (10)\n"
        "  --fresh               start over: move an existing run dir aside (never deleted)\n"
        "  --force-resume        resume even though the workflow changed (changed jobs rerun)\n"
        "  --no-retry-failed     on a rerun, keep failed tasks failed (default: as a DAGMan\n"
        "                        rescue, they get a fresh set of retries)\n"
        "  --drain-grace S       on SIGTERM/SIGINT/SIGUSR1 or near the walltime: SIGTERM to\n"
        "                        tasks, SIGKILL S seconds later, save state, exit 3 (60)\n"
        "  --drain-before S      drain this long before the allocation ends (120)\n"
        "  --walltime-end T      when the allocation ends (epoch seconds or\n"
        "                        YYYY-MM-DDTHH:MM:SS); default: SLURM_JOB_END_TIME or squeue\n"
        "  --progress S          seconds between progress lines on stderr (5)\n"
        "  --rc/--tc/--sc FILE   replica / transformation / site catalog\n"
        "  --site NAME           execution site in the catalogs\n"
        "  --strict              unknown keys are errors, not warnings (docs/planning.md)\n"
        "  --input-dir DIR       where workflow inputs without replicas are found\n" CLI_DATA_HELP
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
    OPT_FRESH,
    OPT_FORCE_RESUME,
    OPT_NO_CHECKPOINT,
    OPT_DRAIN_GRACE,
    OPT_DRAIN_BEFORE,
    OPT_WALLTIME_END,
    OPT_NO_RETRY_FAILED,
    OPT_NO_STANDBY,
    OPT_STRICT,
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
    {"fresh", no_argument, NULL, OPT_FRESH},
    {"force-resume", no_argument, NULL, OPT_FORCE_RESUME},
    {"no-retry-failed", no_argument, NULL, OPT_NO_RETRY_FAILED},
    {"no-standby", no_argument, NULL, OPT_NO_STANDBY},
    /* Hidden: measures what checkpointing costs (bench/); never for real runs. */
    {"no-checkpoint", no_argument, NULL, OPT_NO_CHECKPOINT},
    {"drain-grace", required_argument, NULL, OPT_DRAIN_GRACE},
    {"drain-before", required_argument, NULL, OPT_DRAIN_BEFORE},
    {"walltime-end", required_argument, NULL, OPT_WALLTIME_END},
    {"strict", no_argument, NULL, OPT_STRICT},
    CLI_DATA_LONGOPTS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

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
        if (!cli_parse_uint(arg, 1000, &u))
            return cli_bad_value("run", "retries", arg);
        o->retries = (int32_t)u;
        break;
    case OPT_MAX_RUNNING:
        if (!cli_parse_uint(arg, UINT32_MAX, &u))
            return cli_bad_value("run", "max-running", arg);
        o->max_running = (uint32_t)u;
        break;
    case OPT_CORES:
        if (!cli_parse_uint(arg, 1u << 20, &u) || u == 0)
            return cli_bad_value("run", "cores-per-node", arg);
        o->cores_per_node = (uint32_t)u;
        break;
    case OPT_EXEC:
        if (strcmp(arg, "null") != 0 && strcmp(arg, "spawn") != 0)
            return cli_bad_value("run", "exec", arg);
        o->exec_null = strcmp(arg, "null") == 0;
        break;
    case OPT_PROGRESS:
        return cli_parse_seconds(arg, &o->progress) ? 0 : cli_bad_value("run", "progress", arg);
    case OPT_GRACE:
        return cli_parse_seconds(arg, &o->kill_grace) ? 0 : cli_bad_value("run", "kill-grace", arg);
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
    case OPT_STRICT:
        o->plan.strict = 1;
        break;
    case OPT_LOG_LEVEL:
        if (wfmpi_log_parse_level(arg, &o->log_level) < 0)
            return cli_bad_value("run", "log-level", arg);
        break;
    case OPT_FRESH:
        o->fresh = true;
        break;
    case OPT_FORCE_RESUME:
        o->force_resume = true;
        break;
    case OPT_NO_CHECKPOINT:
        o->no_checkpoint = true;
        break;
    case OPT_NO_RETRY_FAILED:
        o->no_retry_failed = true;
        break;
    case OPT_NO_STANDBY:
        o->no_standby = true;
        break;
    case OPT_DRAIN_GRACE:
        return cli_parse_seconds(arg, &o->drain_grace) ? 0
                                                       : cli_bad_value("run", "drain-grace", arg);
    case OPT_DRAIN_BEFORE:
        return cli_parse_seconds(arg, &o->drain_before) ? 0
                                                        : cli_bad_value("run", "drain-before", arg);
    case OPT_WALLTIME_END:
        return cli_parse_time(arg, &o->walltime_end) ? 0
                                                     : cli_bad_value("run", "walltime-end", arg);
    default: {
        int d = cli_data_option("run", c, arg, &o->plan);
        return d == 1 ? 0 : WFMPI_EXIT_USAGE;
    }
    }
    return 0;
}

/* Returns -1 to go on, else an exit code. */
static int parse_run_args(int argc, char **argv, struct run_opts *o)
{
    *o = (struct run_opts){.retries = 1,
                           .progress = 5,
                           .kill_grace = 10,
                           .drain_grace = 60,
                           .drain_before = 120,
                           .log_level = WFMPI_LOG_WARN};
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
    if (o->fresh && o->force_resume) {
        fprintf(stderr, "wfmpi run: --fresh and --force-resume exclude each other\n");
        return WFMPI_EXIT_USAGE;
    }
    return -1;
}

/* ----------------------------------------------------------- signals */

/* SIGTERM, SIGINT and SIGUSR1 (Slurm's --signal) ask for a drain. Every rank
 * catches them: a worker's default action would kill it and with it the job;
 * the master alone decides and tells the workers. */
static volatile sig_atomic_t drain_signal;

static void on_signal(int sig)
{
    drain_signal = sig;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* The allocation's end: --walltime-end, else Slurm's SLURM_JOB_END_TIME, else
 * squeue. 0 when unknown (not in Slurm): no walltime awareness. */
static double find_walltime_end(const struct run_opts *o)
{
    if (o->walltime_end > 0)
        return o->walltime_end;
    double t = 0;
    const char *env = getenv("SLURM_JOB_END_TIME");
    if (env && cli_parse_time(env, &t))
        return t;
    const char *job = getenv("SLURM_JOB_ID");
    if (!job || strspn(job, "0123456789") != strlen(job))
        return 0;
    char cmd[128], line[64] = "";
    snprintf(cmd, sizeof(cmd), "squeue -h -j %s -o %%e 2>/dev/null", job);
    FILE *p = popen(cmd, "r");
    if (p && fgets(line, sizeof(line), p))
        line[strcspn(line, "\n")] = '\0';
    if (p)
        pclose(p);
    return cli_parse_time(line, &t) ? t : 0;
}

/* ------------------------------------------------------------ master */

/* Everything the master's hooks need. */
struct run_ctx {
    const struct wfmpi_plan *plan;
    const struct wfmpi_plan_view *v;
    struct wfmpi_ckpt *ckpt; /* NULL with --no-checkpoint */
    bool tty;
    uint32_t *fail_reason; /* last failure per task in this run: index into fails, +1 */
    struct wfmpi_exec_result *fails;
    size_t n_fails, cap_fails;
    int ckpt_rc; /* first checkpoint error */
    bool new_failure; /* a task failed for good since the last commit */
    const struct wfmpi_sched *s;
    const char *run_dir;
    int ranks;
    uint32_t nodes;
    double started, next_status;
};

static const char *task_id(const struct run_ctx *c, uint32_t task)
{
    return wfmpi_plan_str(c->plan, c->v->tasks[task].id);
}

static void note_ckpt(struct run_ctx *c, int rc)
{
    if (rc < 0 && c->ckpt_rc == 0) {
        c->ckpt_rc = rc;
        wfmpi_error_log("checkpoint: %s", wfmpi_ckpt_error(c->ckpt));
    }
}

static void on_start(void *ctx, const struct wfmpi_sched_dispatch *d, int rank)
{
    struct run_ctx *c = ctx;
    if (wfmpi_log_enabled(WFMPI_LOG_INFO))
        wfmpi_info("start %s attempt %u rank %d node %u cores %u", task_id(c, d->task), d->attempt,
                   rank, d->node, d->cores);
    /* The start time only shows while the task runs (the end event carries
     * the executor's exact one): the coarse clock will do. */
    if (c->ckpt)
        note_ckpt(c, wfmpi_ckpt_task_start(c->ckpt, d->task, d->attempt, rank, (int32_t)d->node,
                                           d->gpu_mask, wfmpi_wall_coarse()));
}

/* A standby queued behind a running attempt may start any moment without a
 * word to us: its start is recorded now (a crash then requeues it, and it
 * never runs unrecorded), with no start time, since it has not started.
 * on_start records it again, with the time, and logs it, when it does. */
static void on_queue(void *ctx, const struct wfmpi_sched_dispatch *d, int rank)
{
    struct run_ctx *c = ctx;
    if (c->ckpt)
        note_ckpt(c, wfmpi_ckpt_task_start(c->ckpt, d->task, d->attempt, rank, (int32_t)d->node,
                                           d->gpu_mask, 0));
}

static void record_end(struct run_ctx *c, const struct wfmpi_sched_dispatch *d, int rank,
                       const struct wfmpi_exec_result *r, enum wfmpi_task_state after)
{
    struct wfmpi_ckpt_event ev = wfmpi_ckpt_event_of(d->task, d->attempt, rank, r);
    ev.node = (int32_t)d->node;
    ev.gpu_mask = d->gpu_mask;
    ev.state_after = (uint8_t)after;
    note_ckpt(c, wfmpi_ckpt_task_end(c->ckpt, &ev, r->detail));
}

/* A stage-out task prints "sha256 HEX LFN" per file it handled: those
 * checksums go into the checkpoint (before the task's end, so a crash in
 * between reruns the stage-out rather than losing them). */
static void record_checksums(struct run_ctx *c, const struct wfmpi_sched_dispatch *d)
{
    char path[PATH_MAX + 64];
    wfmpi_job_output_path(path, sizeof(path), c->run_dir, task_id(c, d->task), d->attempt, "out");
    char *text = NULL;
    size_t len = 0;
    if (wfmpi_read_file(path, (size_t)16 << 20, &text, &len))
        return; /* --exec null, or a stdout elsewhere: nothing recorded */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char sha[WFMPI_SHA256_HEX_LEN];
        int off = 0;
        if (sscanf(line, "sha256 %64[0-9a-f] %n", sha, &off) == 1 && off > 0 && line[off] &&
            wfmpi_ckpt_file_sum(c->ckpt, d->task, line + off, sha) < 0)
            note_ckpt(c, -EIO);
    }
    free(text);
}

static void on_end(void *ctx, const struct wfmpi_sched_dispatch *d, int rank,
                   const struct wfmpi_exec_result *r, enum wfmpi_task_state after)
{
    struct run_ctx *c = ctx;
    if (c->ckpt && r->reason == WFMPI_EXEC_OK && c->v->tasks[d->task].kind == WFMPI_PLAN_STAGE_OUT)
        record_checksums(c, d);
    if (wfmpi_log_enabled(WFMPI_LOG_INFO))
        wfmpi_info("end %s attempt %u rank %d node %u %.3fs %s", task_id(c, d->task), d->attempt,
                   rank, d->node, r->end_wall - r->start_wall,
                   r->detail[0] ? r->detail : wfmpi_exec_reason_name(r->reason));
    if (c->ckpt)
        record_end(c, d, rank, r, after);
    c->new_failure |= after == WFMPI_TASK_FAILED;
    if (r->reason == WFMPI_EXEC_OK || r->reason == WFMPI_EXEC_INTERRUPTED)
        return;
    /* Failures are rare; keep their full records for the summary. */
    if (WFMPI_PUSH(c->fails, c->n_fails, c->cap_fails, *r) == 0)
        c->fail_reason[d->task] = (uint32_t)c->n_fails;
}

/* status.json: what `wfmpi status` reads while the run is live, so it never
 * has to open state.h5 or disturb the master. Replaced atomically. */
static void put_counts(struct wfmpi_buf *b, const struct wfmpi_sched_counts *k)
{
    wfmpi_buf_printf(b,
                     "\"counts\":{\"unready\":%u,\"ready\":%u,\"running\":%u,\"done\":%u,"
                     "\"failed\":%u,\"blocked\":%u}",
                     k->state[WFMPI_TASK_UNREADY], k->state[WFMPI_TASK_READY],
                     k->state[WFMPI_TASK_RUNNING], k->state[WFMPI_TASK_DONE],
                     k->state[WFMPI_TASK_FAILED], k->state[WFMPI_TASK_BLOCKED]);
}

static void put_running(struct wfmpi_buf *b, const struct run_ctx *c)
{
    wfmpi_buf_printf(b, ",\"running_tasks\":[");
    const struct wfmpi_ckpt_task *tt = c->ckpt ? wfmpi_ckpt_tasks(c->ckpt) : NULL;
    uint32_t n = 0;
    for (uint32_t t = 0; tt && t < c->v->n_tasks && n < 1000; t++) {
        if (wfmpi_sched_state(c->s, t) != WFMPI_TASK_RUNNING || wfmpi_sched_waiting(c->s, t))
            continue;
        wfmpi_buf_printf(b, "%s{\"id\":", n++ ? "," : "");
        wfmpi_buf_json_str(b, task_id(c, t));
        wfmpi_buf_printf(b,
                         ",\"attempt\":%u,\"rank\":%d,\"node\":%d,\"gpus\":%llu,"
                         "\"start\":%.3f}",
                         tt[t].attempts, tt[t].rank, tt[t].node, (unsigned long long)tt[t].gpu_mask,
                         tt[t].start);
    }
    wfmpi_buf_printf(b, "]");
}

static void write_status(struct run_ctx *c, const char *state)
{
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(c->s, &k);
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    double now = wfmpi_wall();
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, (size_t)1 << 20);
    wfmpi_buf_printf(&b, "{\"format\":1,\"workflow\":");
    wfmpi_buf_json_str(&b, wfmpi_plan_str(c->plan, c->v->name));
    wfmpi_buf_printf(&b, ",\"state\":\"%s\",\"pid\":%ld,\"host\":", state, (long)getpid());
    wfmpi_buf_json_str(&b, host);
    wfmpi_buf_printf(&b,
                     ",\"started\":%.3f,\"updated\":%.3f,\"elapsed\":%.3f,\"total\":%u,"
                     "\"percent_done\":%.2f,\"ranks\":%d,\"nodes\":%u,",
                     c->started, now, now - c->started, c->v->n_tasks,
                     c->v->n_tasks ? 100.0 * k.state[WFMPI_TASK_DONE] / c->v->n_tasks : 100.0,
                     c->ranks, c->nodes);
    put_counts(&b, &k);
    put_running(&b, c);
    int rc = wfmpi_buf_printf(&b, "}\n");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/status.json", c->run_dir);
    if (rc == 0 && (rc = wfmpi_write_file_atomic(path, b.data, b.len)) < 0)
        wfmpi_warn("%s: %s", path, wfmpi_strerror(rc));
    wfmpi_buf_fini(&b);
}

static void maybe_write_status(struct run_ctx *c)
{
    double now = wfmpi_mono();
    if (now < c->next_status)
        return;
    c->next_status = now + 1.0;
    write_status(c, "running");
    wfmpi_log_flush();
}

static int on_commit(void *ctx)
{
    struct run_ctx *c = ctx;
    if (!c->ckpt) {
        maybe_write_status(c);
        return 0;
    }
    /* Losing the journal loses the guarantee: stop rather than run on. */
    int rc = c->ckpt_rc;
    if (c->new_failure) {
        wfmpi_ckpt_mark_blocked(c->ckpt, c->s);
        c->new_failure = false;
    }
    if (rc == 0)
        rc = wfmpi_ckpt_commit_lazy(c->ckpt);
    if (rc == 0)
        rc = wfmpi_ckpt_maybe_snapshot(c->ckpt);
    note_ckpt(c, rc);
    maybe_write_status(c);
    return rc;
}

static bool should_drain(void *ctx)
{
    (void)ctx;
    return drain_signal != 0;
}

static void on_progress(void *ctx, const struct wfmpi_sched *s, double elapsed)
{
    struct run_ctx *c = ctx;
    maybe_write_status(c);
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    fprintf(stderr, "%swfmpi: %u/%u done, %u running, %u ready, %u failed, %u blocked, %.0f s%s",
            c->tty ? "\r" : "", k.state[WFMPI_TASK_DONE], c->v->n_tasks, k.running,
            k.state[WFMPI_TASK_READY], k.state[WFMPI_TASK_FAILED], k.state[WFMPI_TASK_BLOCKED],
            elapsed, c->tty ? "   " : "\n");
    fflush(stderr);
}

static const char *failure_text(const struct run_ctx *c, uint32_t t)
{
    if (c->fail_reason[t]) {
        const struct wfmpi_exec_result *r = &c->fails[c->fail_reason[t] - 1];
        return r->detail[0] ? r->detail : wfmpi_exec_reason_name(r->reason);
    }
    /* Failed in an earlier run of this run dir. */
    const char *d = c->ckpt ? wfmpi_ckpt_detail(c->ckpt, t) : "";
    return d[0] ? d : "failed in an earlier run";
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
        if (wfmpi_sched_state(s, t) == WFMPI_TASK_FAILED)
            printf("  FAILED %s after %u attempt(s): %s\n", task_id(c, t),
                   wfmpi_sched_attempts(s, t), failure_text(c, t));
    }
    if (unsubmitted)
        printf("  Stopped early: rerun the same command to resume.\n");
}

/* The run dir as given, or WORKFLOW.wfmpi beside the workflow, so a rerun
 * of the same command finds the same one; and the absolute work dir. Both
 * are known before planning (the plan cache is in the run dir); the run dir
 * is made only once the workflow planned (create_run_dir). */
static int resolve_dirs(const struct run_opts *o, char *run_dir, char *work_dir,
                        struct wfmpi_error *err)
{
    struct stat st;
    if (!realpath(o->work_dir ? o->work_dir : ".", work_dir))
        return wfmpi_error_set(err, WFMPI_E_INPUT, "work dir '%s': %s",
                               o->work_dir ? o->work_dir : ".", strerror(errno));
    /* Else every task would fail to enter it, one by one, after its retries. */
    if (stat(work_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return wfmpi_error_set(err, WFMPI_E_INPUT, "work dir '%s': %s", o->work_dir,
                               strerror(ENOTDIR));
    if (o->run_dir) {
        snprintf(run_dir, PATH_MAX, "%s", o->run_dir);
    } else {
        snprintf(run_dir, PATH_MAX, "%s", o->workflow);
        char *dot = strrchr(run_dir, '.'), *slash = strrchr(run_dir, '/');
        if (dot && (!slash || dot > slash))
            *dot = '\0';
        strncat(run_dir, ".wfmpi", PATH_MAX - strlen(run_dir) - 1);
    }
    return 0;
}

/* mkdir -p RUN_DIR/jobs; run_dir becomes absolute. */
static int create_run_dir(char *run_dir, struct wfmpi_error *err)
{
    char jobs[PATH_MAX + 8], path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", run_dir);
    snprintf(jobs, sizeof(jobs), "%s/jobs", path);
    int rc = wfmpi_mkdir_p(jobs);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "run dir '%s': %s", path, wfmpi_strerror(rc));
    if (!realpath(path, run_dir))
        return wfmpi_error_set(err, -errno, "run dir '%s': %s", path, strerror(errno));
    return 0;
}

/* Does RUN_DIR/jobs hold nothing yet (a new run dir, or --fresh)? Then no
 * task's default log can meet a stale file of its name. */
static bool jobs_dir_empty(const char *run_dir)
{
    char path[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/jobs", run_dir);
    DIR *d = opendir(path);
    if (!d)
        return false;
    const struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

static FILE *open_log(const char *run_dir, const struct run_opts *o)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/wfmpi.log", run_dir);
    FILE *f = fopen(path, "a");
    if (f) {
        /* glibc ignores the size when it picks the buffer itself (it takes
         * st_blksize, 4 KiB): two lines a task were then a write(2) every
         * ~25 tasks. Static: it outlives the FILE (one log per process). */
        static char logbuf[(size_t)1 << 16];
        setvbuf(f, logbuf, _IOFBF, sizeof(logbuf));
        wfmpi_log_set_level(o->log_level > WFMPI_LOG_INFO ? o->log_level : WFMPI_LOG_INFO);
        wfmpi_log_set_file(f, o->log_level);
    }
    return f;
}

static int exit_code_for(const struct wfmpi_sched *s)
{
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(s, &k);
    /* Work left means a rerun resumes it: that matters more than failures. */
    if (k.state[WFMPI_TASK_UNREADY] || k.state[WFMPI_TASK_READY] || k.state[WFMPI_TASK_RUNNING])
        return WFMPI_EXIT_STOPPED;
    if (k.state[WFMPI_TASK_FAILED] || k.state[WFMPI_TASK_BLOCKED])
        return WFMPI_EXIT_FAILED;
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

/* Everything rank 0 prepares before any task may run. */
struct master_state {
    struct wfmpi_plan *plan;
    struct wfmpi_plan_options popt; /* as planned: the options and the work dir */
    bool plan_cached; /* loaded from RUN_DIR/plan.cache */
    char cache_note[WFMPI_ERROR_TEXT_MAX + 32]; /* why the cache was not used, for the log */
    struct wfmpi_sched *s;
    struct wfmpi_ckpt *ckpt;
    struct wfmpi_ckpt_recovered rec;
    char run_dir[PATH_MAX], work_dir[PATH_MAX];
    struct wfmpi_lock lock; /* RUN_DIR/lock, held until rank 0 exits */
    char lock_holder[256]; /* the line it holds: who, since when */
    int32_t cores, gpus; /* the pool's totals, recorded for statistics */
    double plan_s, ckpt_open_s; /* for the log: where start-up time goes */
};

#define PLAN_CACHE_NAME "plan.cache"

/* The plan: from RUN_DIR/plan.cache when it is this command's on unchanged
 * files, else planned from the workflow. A fresh run never uses the old
 * run dir's cache (it is moved aside with the rest), and a run without a
 * checkpoint neither reads nor writes one. A cache that cannot be used is
 * no error: the reason goes to the log (cache_note). */
static int make_plan(const struct run_opts *o, struct master_state *ms, struct wfmpi_error *err)
{
    double t0 = wfmpi_mono();
    if (!o->no_checkpoint && !o->fresh) {
        char path[PATH_MAX + 16];
        struct wfmpi_error cerr = {0};
        snprintf(path, sizeof(path), "%s/" PLAN_CACHE_NAME, ms->run_dir);
        ms->plan = wfmpi_plan_cache_load(path, o->workflow, &ms->popt, &cerr);
        ms->plan_cached = ms->plan != NULL;
        if (!ms->plan && cerr.code != -ENOENT)
            snprintf(ms->cache_note, sizeof(ms->cache_note), "%s%s", cerr.text,
                     cerr.code == WFMPI_E_STALE ? "" : ": ignored, and replaced");
    }
    if (!ms->plan && !(ms->plan = wfmpi_plan_create(o->workflow, &ms->popt, err)))
        return err->code;
    ms->plan_s = wfmpi_mono() - t0;
    return 0;
}

/* After the checkpoint opened (so --fresh has moved the old run dir aside),
 * a plan made from the workflow is saved for the next run. Failing to save
 * costs only the next run's planning time: a warning. */
static void save_plan_cache(const struct run_opts *o, const struct master_state *ms)
{
    if (o->no_checkpoint || ms->plan_cached)
        return;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/" PLAN_CACHE_NAME, ms->run_dir);
    struct wfmpi_error err = {0};
    double t0 = wfmpi_mono();
    if (wfmpi_plan_cache_save(ms->plan, path, o->workflow, &ms->popt, &err) < 0)
        wfmpi_warn("plan cache: cannot save: %s", err.text);
    else
        wfmpi_info("plan cache: saved %s in %.3f s", path, wfmpi_mono() - t0);
}

static int open_checkpoint(const struct run_opts *o, struct master_state *ms,
                           struct wfmpi_error *err)
{
    if (o->no_checkpoint)
        return 0;
    struct wfmpi_ckpt_options copt = {.fresh = o->fresh,
                                      .force_resume = o->force_resume,
                                      .retry_failed = !o->no_retry_failed,
                                      .lock = &ms->lock,
                                      .lock_holder = ms->lock_holder,
                                      .work_dir = ms->work_dir,
                                      .cores = ms->cores,
                                      .gpus = ms->gpus};
    double t0 = wfmpi_mono();
    if (!(ms->ckpt = wfmpi_ckpt_open(ms->run_dir, ms->plan, &copt, &ms->rec, err)))
        return err->code;
    int rc = wfmpi_ckpt_restore_sched(ms->ckpt, ms->s, err);
    ms->ckpt_open_s = wfmpi_mono() - t0;
    return rc;
}

/* One run per run dir: a second run (a resubmission while the job still
 * runs, a rescue loop plus a manual submit) would run every task again
 * beside the first. The lock is taken before anything in the run dir is
 * read, or, for a new run dir, right after it is made; the kernel drops it
 * when rank 0 dies. A file system that cannot lock is said, not fatal:
 * refusing to run at all would be worse. */
static int lock_run_dir(struct master_state *ms, const char *workflow, struct wfmpi_error *err)
{
    if (ms->lock.fd >= 0)
        return 0;
    if (!ms->lock_holder[0]) {
        char host[128] = "?", when[32];
        gethostname(host, sizeof(host) - 1);
        time_t now = time(NULL);
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
        snprintf(ms->lock_holder, sizeof(ms->lock_holder), "host %s pid %ld since %s (%s)\n", host,
                 (long)getpid(), when, workflow);
    }
    char path[PATH_MAX + 8], other[256];
    snprintf(path, sizeof(path), "%s/lock", ms->run_dir);
    int rc = wfmpi_lock_take(&ms->lock, path, ms->lock_holder, other, sizeof(other));
    if (rc == -EAGAIN)
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "run dir %s is in use by another wfmpi run (%s): nothing was "
                               "run; wait for that run to end, or stop it (scancel)",
                               ms->run_dir, other[0] ? other : "holder unknown");
    if (rc == -ENOLCK || rc == -ENOSYS || rc == -EOPNOTSUPP) {
        wfmpi_warn("%s: the file system cannot lock (%s): a second run on this run dir will "
                   "not be refused",
                   path, wfmpi_strerror(rc));
        return 0;
    }
    return rc < 0 ? wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc)) : 0;
}

/* Plan, place, open the checkpoint; on failure every rank must hear of it. */
static int master_prepare(struct wfmpi_mpi *m, const struct run_opts *o, struct master_state *ms,
                          struct wfmpi_error *err)
{
    ms->lock.fd = -1;
    int rc = resolve_dirs(o, ms->run_dir, ms->work_dir, err);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(ms->run_dir, &st) == 0 && S_ISDIR(st.st_mode) &&
        (rc = lock_run_dir(ms, o->workflow, err)) < 0)
        return rc;
    /* The planner needs the work dir: inputs already there are not staged,
     * containers bind it. */
    ms->popt = o->plan;
    ms->popt.work_dir = ms->work_dir;
    if ((rc = make_plan(o, ms, err)) < 0)
        return rc;
    uint32_t n_nodes = 0;
    const struct wfmpi_sched_node *nodes = wfmpi_mpi_sched_nodes(m, o->cores_per_node, &n_nodes);
    if (!nodes)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    for (uint32_t i = 0; i < n_nodes; i++) {
        ms->cores += (int32_t)nodes[i].cores;
        ms->gpus += (int32_t)nodes[i].gpus;
    }
    struct wfmpi_sched_config cfg = {.nodes = nodes,
                                     .n_nodes = n_nodes,
                                     .default_retries = o->retries,
                                     .max_running = o->max_running};
    if (!(ms->s = wfmpi_sched_create(ms->plan, &cfg, err)))
        return err->code;
    if ((rc = create_run_dir(ms->run_dir, err)) < 0 ||
        (rc = lock_run_dir(ms, o->workflow, err)) < 0)
        return rc;
    return open_checkpoint(o, ms, err);
}

/* A rerun says which failed tasks it retries: the user should see that her
 * fix is being tried, and on what. */
static void report_rescue(const struct master_state *ms)
{
    const struct wfmpi_ckpt_recovered *r = &ms->rec;
    if (r->retried == 0)
        return;
    const struct wfmpi_plan_view *v = wfmpi_plan_view(ms->plan);
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, 4096);
    uint32_t shown = r->retried < WFMPI_CKPT_RETRIED_SHOWN ? r->retried : WFMPI_CKPT_RETRIED_SHOWN;
    for (uint32_t i = 0; i < shown; i++)
        wfmpi_buf_printf(&b, "%s%s", i ? ", " : "",
                         wfmpi_plan_str(ms->plan, v->tasks[r->retried_first[i]].id));
    if (r->retried > shown)
        wfmpi_buf_printf(&b, ", ... (%u more)", r->retried - shown);
    printf("wfmpi: retrying %u failed task(s) with a fresh set of retries, and the %u blocked "
           "below them: %s (--no-retry-failed keeps them failed)\n",
           r->retried, r->unblocked, b.data ? b.data : "");
    wfmpi_info("rescue: retrying %u failed task(s), %u unblocked: %s", r->retried, r->unblocked,
               b.data ? b.data : "");
    wfmpi_buf_fini(&b);
}

static void report_recovery(const struct master_state *ms)
{
    if (ms->rec.moved_aside[0])
        printf("wfmpi: --fresh: the previous run dir was moved to %s\n", ms->rec.moved_aside);
    if (!ms->rec.resumed)
        return;
    printf("wfmpi: resumed %s after %u earlier run(s): %u done, %u failed, %u requeued%s\n",
           ms->run_dir, ms->rec.runs, ms->rec.done, ms->rec.failed, ms->rec.requeued,
           ms->rec.dropped_torn_tail ? " (dropped a torn journal record)" : "");
    wfmpi_info("resumed: %u done, %u failed, %u requeued", ms->rec.done, ms->rec.failed,
               ms->rec.requeued);
    report_rescue(ms);
}

static void master_cleanup(struct master_state *ms)
{
    wfmpi_ckpt_close(ms->ckpt);
    wfmpi_sched_destroy(ms->s);
    wfmpi_plan_destroy(ms->plan);
    /* Last: the run dir is the next run's only once nothing more is written. */
    wfmpi_lock_release(&ms->lock);
}

/* The run itself, once every rank knows it goes ahead. */
static int master_run(struct wfmpi_mpi *m, const struct run_opts *o, struct master_state *ms)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(ms->plan);
    struct run_ctx ctx = {.plan = ms->plan,
                          .v = v,
                          .ckpt = ms->ckpt,
                          .tty = isatty(2),
                          .s = ms->s,
                          .run_dir = ms->run_dir,
                          .ranks = wfmpi_mpi_size(m),
                          .nodes = wfmpi_mpi_n_nodes(m),
                          .started = wfmpi_wall()};
    if (!(ctx.fail_reason = calloc(v->n_tasks ? v->n_tasks : 1, sizeof(uint32_t))))
        wfmpi_mpi_abort(m, WFMPI_EXIT_ENV);
    struct wfmpi_run_hooks hooks = {
        on_start, on_end, on_commit, on_progress, should_drain, &ctx, ctx.tty ? 0.5 : o->progress,
        on_queue};
    struct wfmpi_run_config cfg = {
        ms->work_dir,   ms->run_dir,          o->exec_null,    o->kill_grace,
        o->drain_grace, find_walltime_end(o), o->drain_before, jobs_dir_empty(ms->run_dir),
        o->no_standby};
    wfmpi_info("run %s: %u tasks on %d ranks, %u nodes%s", o->workflow, v->n_tasks,
               wfmpi_mpi_size(m), wfmpi_mpi_n_nodes(m),
               cfg.walltime_end > 0 ? ", walltime known" : "");
    if (ms->ckpt &&
        wfmpi_ckpt_run_start(ms->ckpt, wfmpi_mpi_size(m), (int32_t)wfmpi_mpi_n_nodes(m)) < 0)
        note_ckpt(&ctx, -EIO);
    double t0 = wfmpi_mono(), c0 = cpu_seconds();
    struct wfmpi_error err = {0};
    int rc = wfmpi_mpi_master(m, ms->plan, ms->s, &cfg, &hooks, &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        if (ms->ckpt)
            wfmpi_ckpt_commit(ms->ckpt, true); /* keep what is known */
        wfmpi_log_flush();
        wfmpi_mpi_abort(m, WFMPI_EXIT_ENV);
    }
    log_master_cost(v, wfmpi_mono() - t0, cpu_seconds() - c0);
    on_progress(&ctx, ms->s, wfmpi_mono() - t0);
    if (ctx.tty)
        fputc('\n', stderr);
    int code = exit_code_for(ms->s);
    if (ms->ckpt && wfmpi_ckpt_run_end(ms->ckpt, code) < 0) {
        fprintf(stderr, "wfmpi: %s\n", wfmpi_ckpt_error(ms->ckpt));
        code = WFMPI_EXIT_ENV;
    }
    static const char *const final_state[] = {"finished", "failed", "failed", "stopped", "failed"};
    write_status(&ctx, final_state[code]);
    wfmpi_mpi_stop_workers(m, code);
    print_summary(&ctx, ms->s, wfmpi_mono() - t0);
    free(ctx.fail_reason);
    free(ctx.fails);
    return code;
}

static int run_master(struct wfmpi_mpi *m, const struct run_opts *o)
{
    struct wfmpi_error err = {0};
    struct master_state ms = {0};
    int rc = master_prepare(m, o, &ms, &err);
    int status = rc < 0 ? cli_exit_for(rc) : 0;
    wfmpi_mpi_bcast_int(m, status);
    if (status) {
        cli_print_error(&err, rc);
        master_cleanup(&ms);
        return status;
    }
    FILE *log = open_log(ms.run_dir, o);
    if (ms.cache_note[0])
        wfmpi_info("plan cache: %s", ms.cache_note);
    wfmpi_info("start-up: planned in %.3f s (%s), checkpoint opened in %.3f s", ms.plan_s,
               ms.plan_cached ? "loaded from " PLAN_CACHE_NAME : "from the workflow",
               ms.ckpt_open_s);
    save_plan_cache(o, &ms);
    report_recovery(&ms);
    int code = master_run(m, o, &ms);
    wfmpi_info("run %s ended with exit code %d", o->workflow, code);
    wfmpi_log_set_file(NULL, WFMPI_LOG_DEBUG);
    if (log)
        fclose(log);
    master_cleanup(&ms);
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
    install_signals();
    struct wfmpi_error err = {0};
    struct wfmpi_mpi *m = wfmpi_mpi_init(NULL, NULL, &err);
    if (!m) {
        cli_print_error(&err, err.code);
        return WFMPI_EXIT_ENV;
    }
    wfmpi_log_set_rank(wfmpi_mpi_rank(m));
    wfmpi_mpi_set_drain_flag(m, &drain_signal);
    rc = wfmpi_mpi_rank(m) == 0 ? run_master(m, &o) : run_worker(m);
    wfmpi_mpi_finalize(m);
    return rc;
}
