/* `wfmpi plan WORKFLOW.yml`: load, resolve and check a workflow, print the
 * executable plan's figures (and with -v every task); run nothing.
 *
 * --json writes one JSON object; the tasks array is streamed one task at a
 * time so a million-task plan never becomes one giant JSON tree. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli_int.h"
#include "wfmpi/plan.h"

struct plan_args {
    struct wfmpi_plan_options opt;
    const char *path;
    int json;
    int verbose;
};

static void plan_usage(FILE *out)
{
    fprintf(out,
            "usage: wfmpi plan WORKFLOW.yml [options]\n"
            "Load a Pegasus 5.0 workflow, resolve it into an executable plan and print it.\n"
            "Nothing runs.\n\n"
            "  --rc FILE          replica catalog (default: replicas.yml beside the workflow)\n"
            "  --tc FILE          transformation catalog (default: transformations.yml)\n"
            "  --sc FILE          site catalog (default: sites.yml)\n"
            "  --site NAME        execution site (default: local, condorpool, first listed)\n"
            "  --input-dir DIR    where inputs without a replica may be (default: the\n"
            "                     workflow file's directory)\n"
            "  --work-dir DIR     where the tasks would run (default: here)\n" CLI_DATA_HELP
            "  --strict           unknown keys are errors (default: a warning, except at\n"
            "                     the workflow's top level, where they are always errors)\n"
            "  --json             one JSON object on stdout\n"
            "  -v, --verbose      also every task: command line, resources, parents\n"
            "  --log-level LEVEL  error|warn|info|debug (default warn)\n"
            "  -h, --help         this text\n\n"
            "Exit codes: 0 valid, 2 bad input or usage, 4 I/O or internal error.\n");
}

static int parse_args(int argc, char **argv, struct plan_args *a)
{
    enum { O_RC = 256, O_TC, O_SC, O_SITE, O_INPUT_DIR, O_JSON, O_LOG, O_WORK_DIR, O_STRICT };
    static const struct option longopts[] = {
        {"rc", required_argument, NULL, O_RC},
        {"tc", required_argument, NULL, O_TC},
        {"sc", required_argument, NULL, O_SC},
        {"site", required_argument, NULL, O_SITE},
        {"input-dir", required_argument, NULL, O_INPUT_DIR},
        {"json", no_argument, NULL, O_JSON},
        {"strict", no_argument, NULL, O_STRICT},
        {"work-dir", required_argument, NULL, O_WORK_DIR},
        CLI_DATA_LONGOPTS,
        {"verbose", no_argument, NULL, 'v'},
        {"log-level", required_argument, NULL, O_LOG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    enum wfmpi_log_level level;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        int d = cli_data_option("plan", c, optarg, &a->opt);
        if (d == 1)
            continue;
        if (d)
            return d;
        switch (c) {
        case O_WORK_DIR:
            a->opt.work_dir = optarg;
            break;
        case O_RC:
            a->opt.rc_file = optarg;
            break;
        case O_TC:
            a->opt.tc_file = optarg;
            break;
        case O_SC:
            a->opt.sc_file = optarg;
            break;
        case O_SITE:
            a->opt.site = optarg;
            break;
        case O_INPUT_DIR:
            a->opt.input_dir = optarg;
            break;
        case O_JSON:
            a->json = 1;
            break;
        case O_STRICT:
            a->opt.strict = 1;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case O_LOG:
            if (wfmpi_log_parse_level(optarg, &level)) {
                fprintf(stderr, "wfmpi plan: bad log level '%s'\n", optarg);
                return WFMPI_EXIT_USAGE;
            }
            wfmpi_log_set_level(level);
            break;
        case 'h':
            plan_usage(stdout);
            return -1;
        default:
            plan_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "wfmpi plan: expected one workflow file\n");
        plan_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    a->path = argv[optind];
    return 0;
}

/* ------------------------------------------------------------ text */

static void print_task_text(const struct wfmpi_plan *p, const struct wfmpi_plan_view *v, uint32_t i)
{
    const struct wfmpi_plan_task *t = &v->tasks[i];
    printf("task %s (%s)\n  command:", wfmpi_plan_str(p, t->id), wfmpi_plan_kind_name(t->kind));
    for (uint32_t k = 0; k < t->argv.count; k++)
        printf(" %s", wfmpi_plan_str(p, v->strs[t->argv.first + k]));
    printf("\n  resources: cores=%u gpus=%u memory_mb=%llu runtime_s=%g site=%s\n", t->cores,
           t->gpus, (unsigned long long)t->memory_mb, t->runtime_s, wfmpi_plan_str(p, t->site));
    for (uint32_t k = 0; k < t->env.count; k++)
        printf("  env: %s\n", wfmpi_plan_str(p, v->strs[t->env.first + k]));
    printf("  parents:");
    for (uint32_t k = 0; k < t->parents.count; k++)
        printf(" %s", wfmpi_plan_str(p, v->tasks[v->edges_in[t->parents.first + k]].id));
    printf("\n");
}

static void print_text(const struct wfmpi_plan *p, int verbose)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    char hash[WFMPI_SHA256_HEX_LEN];
    wfmpi_plan_hash(p, hash);
    printf("workflow:        %s\n", wfmpi_plan_str(p, v->name));
    printf("jobs:            %u\nedges:           %u\n", s.kinds[WFMPI_PLAN_COMPUTE],
           s.compute_edges);
    printf("data tasks:      %u stage-in, %u stage-out, %u cleanup\n", s.kinds[WFMPI_PLAN_STAGE_IN],
           s.kinds[WFMPI_PLAN_STAGE_OUT], s.kinds[WFMPI_PLAN_CLEANUP]);
    printf("tasks:           %u\ntask edges:      %u\nroots:           %u\n", s.tasks, s.edges,
           s.roots);
    printf("leaves:          %u\ndepth:           %u\nwidest level:    %u\n", s.leaves, s.depth,
           s.widest);
    printf("critical path:   %u tasks, %.1f s estimated (%u of %u tasks have no runtime "
           "estimate and count 1 s)\n",
           s.cp_tasks, s.cp_seconds, s.no_estimate, s.tasks);
    printf("requested:       %llu cores, %llu GPUs, %llu MB memory\ngpu jobs:        %u\n",
           (unsigned long long)s.total_cores, (unsigned long long)s.total_gpus,
           (unsigned long long)s.total_memory_mb, s.gpu_tasks);
    printf("plan hash:       %s\n", hash);
    uint32_t n;
    const uint32_t *cp = wfmpi_plan_critical_path(p, &n);
    printf("critical path:  ");
    for (uint32_t i = 0; i < n && i < 20; i++)
        printf(" %s", wfmpi_plan_str(p, v->tasks[cp[i]].id));
    printf("%s\n", n > 20 ? " ..." : "");
    for (uint32_t i = 0; verbose && i < v->n_tasks; i++)
        print_task_text(p, v, i);
}

/* ------------------------------------------------------------ json */

static json_t *str_list(const struct wfmpi_plan *p, const uint32_t *ids, struct wfmpi_plan_range r)
{
    json_t *a = json_array();
    for (uint32_t k = 0; a && k < r.count; k++)
        json_array_append_new(a, json_string(wfmpi_plan_str(p, ids[r.first + k])));
    return a;
}

static json_t *task_json(const struct wfmpi_plan *p, const struct wfmpi_plan_view *v, uint32_t i)
{
    const struct wfmpi_plan_task *t = &v->tasks[i];
    json_t *parents = json_array();
    for (uint32_t k = 0; parents && k < t->parents.count; k++)
        json_array_append_new(parents, json_string(wfmpi_plan_str(
                                           p, v->tasks[v->edges_in[t->parents.first + k]].id)));
    return json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:f, s:f, s:s, s:o}", "id",
                     wfmpi_plan_str(p, t->id), "kind", wfmpi_plan_kind_name(t->kind), "argv",
                     str_list(p, v->strs, t->argv), "env", str_list(p, v->strs, t->env), "cores",
                     (json_int_t)t->cores, "gpus", (json_int_t)t->gpus, "memory_mb",
                     (json_int_t)t->memory_mb, "runtime_s", t->runtime_s, "cp_seconds",
                     t->cp_seconds, "site", wfmpi_plan_str(p, t->site), "parents", parents);
}

static json_t *summary_json(const struct wfmpi_plan *p)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    char hash[WFMPI_SHA256_HEX_LEN];
    wfmpi_plan_hash(p, hash);
    uint32_t n;
    const uint32_t *cp = wfmpi_plan_critical_path(p, &n);
    json_t *path = json_array();
    for (uint32_t i = 0; path && i < n; i++)
        json_array_append_new(path, json_string(wfmpi_plan_str(p, v->tasks[cp[i]].id)));
    json_t *data =
        json_pack("{s:I, s:I, s:I}", "stage_in", (json_int_t)s.kinds[WFMPI_PLAN_STAGE_IN],
                  "stage_out", (json_int_t)s.kinds[WFMPI_PLAN_STAGE_OUT], "cleanup",
                  (json_int_t)s.kinds[WFMPI_PLAN_CLEANUP]);
    return json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:o, s:I, s:I, s:I, "
        "s:I, s:s}",
        "workflow", wfmpi_plan_str(p, v->name), "jobs", (json_int_t)s.kinds[WFMPI_PLAN_COMPUTE],
        "edges", (json_int_t)s.compute_edges, "tasks", (json_int_t)s.tasks, "task_edges",
        (json_int_t)s.edges, "data_tasks", data, "roots", (json_int_t)s.roots, "leaves",
        (json_int_t)s.leaves, "depth", (json_int_t)s.depth, "widest", (json_int_t)s.widest,
        "critical_path_seconds", s.cp_seconds, "critical_path_tasks", (json_int_t)s.cp_tasks,
        "no_runtime_estimate", (json_int_t)s.no_estimate, "critical_path", path, "cores",
        (json_int_t)s.total_cores, "gpus", (json_int_t)s.total_gpus, "memory_mb",
        (json_int_t)s.total_memory_mb, "gpu_jobs", (json_int_t)s.gpu_tasks, "hash", hash);
}

/* The summary object, with its closing brace replaced by a streamed
 * "tasks" array when verbose. */
static int print_json(const struct wfmpi_plan *p, int verbose)
{
    json_t *sum = summary_json(p);
    char *text = sum ? json_dumps(sum, JSON_COMPACT) : NULL;
    json_decref(sum);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    if (!verbose) {
        printf("%s\n", text);
        free(text);
        return 0;
    }
    fwrite(text, 1, len - 1, stdout); /* drop the final '}' */
    free(text);
    fputs(",\"tasks\":[", stdout);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    for (uint32_t i = 0; i < v->n_tasks; i++) {
        json_t *t = task_json(p, v, i);
        if (!t)
            return -ENOMEM;
        if (i)
            fputc(',', stdout);
        json_dumpf(t, stdout, JSON_COMPACT);
        json_decref(t);
    }
    fputs("]}\n", stdout);
    return 0;
}

int cli_plan(int argc, char **argv)
{
    struct plan_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? WFMPI_EXIT_OK : rc;
    struct wfmpi_error err = {0};
    char work_dir[PATH_MAX];
    if (a.opt.work_dir) {
        struct stat st;
        const char *why = NULL;
        if (!realpath(a.opt.work_dir, work_dir))
            why = strerror(errno);
        else if (stat(work_dir, &st) < 0 || !S_ISDIR(st.st_mode))
            why = strerror(ENOTDIR);
        if (why) {
            fprintf(stderr, "wfmpi plan: work dir '%s': %s\n", a.opt.work_dir, why);
            return WFMPI_EXIT_USAGE;
        }
        a.opt.work_dir = work_dir;
    }
    struct wfmpi_plan *p = wfmpi_plan_create(a.path, &a.opt, &err);
    if (!p) {
        cli_print_error(&err, err.code);
        return cli_exit_for(err.code);
    }
    rc = a.json ? print_json(p, a.verbose) : (print_text(p, a.verbose), 0);
    wfmpi_plan_destroy(p);
    if (rc || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "wfmpi plan: writing the plan failed\n");
        return WFMPI_EXIT_ENV;
    }
    return WFMPI_EXIT_OK;
}
