/* `wfmpi topo`: the allocation as wfmpi sees it. Started like the main job
 * (srun/mpiexec; a singleton works too): every rank discovers its node and
 * takes its share exactly as `wfmpi run` would, and rank 0 prints nodes,
 * GPUs, ranks, each rank's GPUs and cpuset, as text or JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "wfmpi/mpi.h"
#include "wfmpi/topo.h"

static void topo_usage(FILE *out)
{
    fprintf(out,
            "usage: wfmpi topo [--json] [--log-level LEVEL]\n"
            "Show the nodes, GPUs and ranks of this allocation and how wfmpi shares\n"
            "them (run it like the main job: srun wfmpi topo, mpiexec -n N wfmpi topo).\n\n"
            "  --json                print {\"nodes\":[{\"name\",\"cores\",\"memory_mb\",\n"
            "                        \"gpus\":[...],\"ranks\":[{\"rank\",\"gpus\",\"cpuset\"}]}]}\n"
            "  --log-level LEVEL     error, warn (default), info, debug on stderr\n"
            "  -h, --help            this text\n\n"
            "HWLOC_XMLFILE=<file> makes every node look like that hwloc XML topology.\n");
}

static const char *cpus_text(const struct wfmpi_topo_cpuset *s, char *buf, size_t size)
{
    if (wfmpi_topo_cpuset_format(s, buf, size) < 0)
        snprintf(buf, size, "(too long)");
    return buf;
}

static json_t *gpu_json(const struct wfmpi_topo_gpu *g)
{
    json_t *o =
        json_pack("{s:I, s:s, s:I, s:s, s:s}", "ordinal", (json_int_t)g->ordinal, "name", g->name,
                  "memory_mb", (json_int_t)g->memory_mb, "busid", g->busid, "uuid", g->uuid);
    json_object_set_new(o, "numa",
                        g->numa == WFMPI_TOPO_UNKNOWN ? json_null() : json_integer(g->numa));
    json_object_set_new(o, "package",
                        g->package == WFMPI_TOPO_UNKNOWN ? json_null() : json_integer(g->package));
    if (g->cc_major) {
        char cc[16];
        snprintf(cc, sizeof(cc), "%u.%u", g->cc_major, g->cc_minor);
        json_object_set_new(o, "compute_capability", json_string(cc));
    }
    return o;
}

static json_t *rank_json(const struct wfmpi_topo *t, int rank, const struct wfmpi_topo_rank *s)
{
    char buf[4096];
    json_t *busids = json_array(), *ordinals = json_array();
    for (uint32_t g = 0; g < t->n_gpus; g++) {
        if (!(s->gpus >> g & 1))
            continue;
        json_array_append_new(busids, json_string(t->gpus[g].busid));
        json_array_append_new(ordinals, json_integer(t->gpus[g].ordinal));
    }
    struct wfmpi_topo_cpuset bound = s->cpus;
    wfmpi_topo_cpuset_and(&bound, &s->existing);
    json_t *o = json_pack("{s:i, s:o, s:o, s:s}", "rank", rank, "gpus", busids, "ordinals",
                          ordinals, "cpuset", cpus_text(&s->cpus, buf, sizeof(buf)));
    json_object_set_new(o, "bound", json_string(cpus_text(&bound, buf, sizeof(buf))));
    return o;
}

static json_t *node_json(const struct wfmpi_mpi_node *n)
{
    const struct wfmpi_topo *t = n->info.detail;
    json_t *gpus = json_array(), *ranks = json_array();
    for (uint32_t g = 0; g < t->n_gpus; g++)
        json_array_append_new(gpus, gpu_json(&t->gpus[g]));
    for (uint32_t k = 0; k < n->n_ranks; k++)
        json_array_append_new(ranks, rank_json(t, n->ranks[k], &n->info.assigned[k]));
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:o}", "name", n->info.hostname, "cores",
                     (json_int_t)n->info.cores, "pus", (json_int_t)n->info.pus, "numa",
                     (json_int_t)t->n_numa, "memory_mb", (json_int_t)n->info.memory_mb,
                     "gpu_source", t->gpu_source, "gpus", gpus, "ranks", ranks);
}

static int print_json(struct wfmpi_mpi *m)
{
    json_t *nodes = json_array();
    for (uint32_t i = 0; i < wfmpi_mpi_n_nodes(m); i++)
        json_array_append_new(nodes, node_json(wfmpi_mpi_node(m, i)));
    json_t *root = json_pack("{s:o}", "nodes", nodes);
    int rc = json_dumpf(root, stdout, JSON_INDENT(1)) < 0 ? -1 : 0;
    putchar('\n');
    json_decref(root);
    return rc;
}

static void print_text_node(uint32_t i, const struct wfmpi_mpi_node *n)
{
    const struct wfmpi_topo *t = n->info.detail;
    char buf[4096];
    printf("node %u: %s, %u cores (%u PUs), %u NUMA, %llu MB, %u GPU(s) from %s\n", i,
           n->info.hostname, n->info.cores, n->info.pus, t->n_numa,
           (unsigned long long)n->info.memory_mb, t->n_gpus, t->gpu_source);
    for (uint32_t g = 0; g < t->n_gpus; g++) {
        const struct wfmpi_topo_gpu *gpu = &t->gpus[g];
        printf("  GPU %u: %s, %llu MB, bus %s", gpu->ordinal, gpu->name[0] ? gpu->name : "?",
               (unsigned long long)gpu->memory_mb, gpu->busid);
        if (gpu->numa != WFMPI_TOPO_UNKNOWN)
            printf(", NUMA %u", gpu->numa);
        printf("%s%s\n", gpu->uuid[0] ? ", " : "", gpu->uuid);
    }
    for (uint32_t k = 0; k < n->n_ranks; k++) {
        const struct wfmpi_topo_rank *s = &n->info.assigned[k];
        printf("  rank %d: GPUs", n->ranks[k]);
        if (!s->gpus)
            printf(" none");
        for (uint32_t g = 0; g < t->n_gpus; g++)
            if (s->gpus >> g & 1)
                printf(" %u (%s)", t->gpus[g].ordinal, t->gpus[g].busid);
        printf(", cpuset %s", cpus_text(&s->cpus, buf, sizeof(buf)));
        struct wfmpi_topo_cpuset bound = s->cpus;
        wfmpi_topo_cpuset_and(&bound, &s->existing);
        printf(", bound to %s\n", wfmpi_topo_cpuset_count(&bound)
                                      ? cpus_text(&bound, buf, sizeof(buf))
                                      : "nothing (those CPUs do not exist here)");
    }
}

static int parse_topo_args(int argc, char **argv, bool *json, enum wfmpi_log_level *level)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            topo_usage(stdout);
            return WFMPI_EXIT_OK;
        }
        if (c == 'j') {
            *json = true;
        } else if (c != 'l' || wfmpi_log_parse_level(optarg, level) < 0) {
            if (c == 'l')
                fprintf(stderr, "wfmpi topo: invalid value '%s' for --log-level\n", optarg);
            topo_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "wfmpi topo: unexpected argument '%s'\n", argv[optind]);
        topo_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    return -1;
}

int cli_topo(int argc, char **argv)
{
    bool json = false;
    enum wfmpi_log_level level = WFMPI_LOG_WARN;
    int rc = parse_topo_args(argc, argv, &json, &level);
    if (rc >= 0)
        return rc;
    wfmpi_log_set_level(level);
    struct wfmpi_error err = {0};
    struct wfmpi_mpi *m = wfmpi_mpi_init(NULL, NULL, &err);
    if (!m) {
        cli_print_error(&err, err.code);
        return WFMPI_EXIT_ENV;
    }
    wfmpi_log_set_rank(wfmpi_mpi_rank(m));
    rc = WFMPI_EXIT_OK;
    if (wfmpi_mpi_rank(m) == 0) {
        if (json)
            rc = print_json(m) < 0 ? WFMPI_EXIT_ENV : WFMPI_EXIT_OK;
        else
            for (uint32_t i = 0; i < wfmpi_mpi_n_nodes(m); i++)
                print_text_node(i, wfmpi_mpi_node(m, i));
        fflush(stdout);
    }
    wfmpi_mpi_finalize(m);
    return rc;
}
