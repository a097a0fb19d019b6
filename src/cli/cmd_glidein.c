/* `srun wfmpi glidein --server URL --token-file F`: a late-binding pilot.
 * Every rank starts MPI; rank 0 talks to the service and feeds the others,
 * which run the same worker loop as `wfmpi run`. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "wfmpi/glidein.h"

static void glidein_usage(FILE *out)
{
    fprintf(out,
            "usage: srun wfmpi glidein --server URL --token-file F [options]\n"
            "Pull tasks of your workflows from a `wfmpi serve` and run them on this\n"
            "allocation's MPI ranks.\n\n"
            "  --server URL        https://HOST:PORT (http:// only with --insecure-http)\n"
            "  --token-file F      your bearer token\n"
            "  --cacert F          CA certificate of the server\n"
            "  --insecure-http     allow http:// (loopback test services)\n"
            "  --lifetime S        leave after S seconds (default: no limit)\n"
            "  --idle-timeout S    leave when no work came for S seconds (300)\n"
            "  --register-timeout S  exit 4 when registering keeps failing S seconds (60);\n"
            "                      a TLS error or a refused token ends it at once\n"
            "  --walltime-end T    epoch seconds the allocation ends (default SLURM_JOB_END_TIME)\n"
            "  --drain-before S    stop taking work S seconds before the end (120)\n"
            "  --drain-grace S     SIGTERM -> SIGKILL for tasks on drain (30)\n"
            "  --work-dir DIR      where tasks run (current directory)\n"
            "  --site NAME         site name reported to the service\n"
            "  --cores-per-node N  treat every node as having N cores\n"
            "  --max-claim N       tasks per claim (1024)\n"
            "  --exec null         report success without running anything (benchmarks)\n"
            "  --log-level LEVEL   error, warn (default), info, debug\n"
            "Exit: 0 ended cleanly (idle, lifetime, drain or shutdown asked by the service),\n"
            "3 stopped by a signal or the walltime, 2 usage, 4 the service unreachable or\n"
            "refusing this pilot (TLS, token), or another environment error.\n\n"
            "       wfmpi glidein list|drain|shutdown [PILOT] --server URL --token-file F\n"
            "List your live pilots (an admin of the service: every pilot), or tell one to\n"
            "drain (take no more work, let running tasks end, leave) or shut down\n"
            "(interrupt its tasks, which go back to the queue without using a retry).\n");
}

/* `wfmpi glidein list|drain|shutdown [PILOT]`: control pilots through the
 * service (they hear it at their next heartbeat). */
static int glidein_ctl(int argc, char **argv)
{
    static const struct option longs[] = {
        {"server", required_argument, NULL, 'S'}, {"token-file", required_argument, NULL, 'T'},
        {"cacert", required_argument, NULL, 'C'}, {"insecure-http", no_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    struct wfmpi_glidein_client_opts c = {0};
    const char *action = argv[1];
    int opt;
    optind = 2;
    while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (opt == 'S')
            c.url = optarg;
        else if (opt == 'T')
            c.token_file = optarg;
        else if (opt == 'C')
            c.cacert = optarg;
        else if (opt == 'I')
            c.insecure_http = true;
        else {
            glidein_usage(opt == 'h' ? stdout : stderr);
            return opt == 'h' ? WFMPI_EXIT_OK : WFMPI_EXIT_USAGE;
        }
    }
    bool list = strcmp(action, "list") == 0;
    if (argc - optind != (list ? 0 : 1) || !c.url || !c.token_file) {
        glidein_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_error err = {0};
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, (size_t)16 << 20);
    int rc = list ? wfmpi_glidein_pilots(&c, &out, &err)
                  : wfmpi_glidein_command(&c, argv[optind], action, &err);
    if (rc == 0 && list)
        printf("%s\n", out.data ? out.data : "{}");
    else if (rc == 0)
        printf("%s: %s requested\n", argv[optind], action);
    wfmpi_buf_fini(&out);
    if (rc < 0) {
        cli_print_error(&err, rc);
        return rc == WFMPI_E_NOTFOUND || rc == WFMPI_E_INPUT ? WFMPI_EXIT_USAGE : cli_exit_for(rc);
    }
    return WFMPI_EXIT_OK;
}

static volatile sig_atomic_t glidein_stop;

static void on_signal(int sig)
{
    glidein_stop = sig;
}

static int glidein_parse(int argc, char **argv, struct wfmpi_glidein_pilot_opts *o)
{
    static const struct option longs[] = {{"server", required_argument, NULL, 'S'},
                                          {"token-file", required_argument, NULL, 'T'},
                                          {"cacert", required_argument, NULL, 'C'},
                                          {"insecure-http", no_argument, NULL, 'I'},
                                          {"lifetime", required_argument, NULL, 'l'},
                                          {"idle-timeout", required_argument, NULL, 'i'},
                                          {"register-timeout", required_argument, NULL, 'R'},
                                          {"walltime-end", required_argument, NULL, 'w'},
                                          {"drain-before", required_argument, NULL, 'd'},
                                          {"drain-grace", required_argument, NULL, 'g'},
                                          {"work-dir", required_argument, NULL, 'W'},
                                          {"site", required_argument, NULL, 's'},
                                          {"cores-per-node", required_argument, NULL, 'c'},
                                          {"max-claim", required_argument, NULL, 'm'},
                                          {"exec", required_argument, NULL, 'e'},
                                          {"log-level", required_argument, NULL, 'v'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        enum wfmpi_log_level lvl;
        switch (c) {
        case 'S':
            o->client.url = optarg;
            break;
        case 'T':
            o->client.token_file = optarg;
            break;
        case 'C':
            o->client.cacert = optarg;
            break;
        case 'I':
            o->client.insecure_http = true;
            break;
        case 'l':
            if (!cli_parse_seconds(optarg, &o->lifetime_s))
                return cli_bad_value("glidein", "lifetime", optarg);
            break;
        case 'i':
            if (!cli_parse_seconds(optarg, &o->idle_timeout_s))
                return cli_bad_value("glidein", "idle-timeout", optarg);
            break;
        case 'R':
            if (!cli_parse_seconds(optarg, &o->register_timeout_s))
                return cli_bad_value("glidein", "register-timeout", optarg);
            break;
        case 'w':
            if (!cli_parse_time(optarg, &o->walltime_end))
                return cli_bad_value("glidein", "walltime-end", optarg);
            break;
        case 'd':
            if (!cli_parse_seconds(optarg, &o->drain_before_s))
                return cli_bad_value("glidein", "drain-before", optarg);
            break;
        case 'g':
            if (!cli_parse_seconds(optarg, &o->drain_grace_s))
                return cli_bad_value("glidein", "drain-grace", optarg);
            break;
        case 'W':
            o->work_dir = optarg;
            break;
        case 's':
            o->site = optarg;
            break;
        case 'c': {
            uint64_t v;
            if (!cli_parse_uint(optarg, UINT32_MAX, &v) || v == 0)
                return cli_bad_value("glidein", "cores-per-node", optarg);
            o->cores_per_node = (uint32_t)v;
            break;
        }
        case 'm': {
            uint64_t v;
            if (!cli_parse_uint(optarg, UINT32_MAX, &v) || v == 0)
                return cli_bad_value("glidein", "max-claim", optarg);
            o->max_claim = (uint32_t)v;
            break;
        }
        case 'e':
            if (strcmp(optarg, "null") != 0 && strcmp(optarg, "spawn") != 0)
                return cli_bad_value("glidein", "exec", optarg);
            o->exec_null = strcmp(optarg, "null") == 0;
            break;
        case 'v':
            if (wfmpi_log_parse_level(optarg, &lvl) < 0)
                return cli_bad_value("glidein", "log-level", optarg);
            wfmpi_log_set_level(lvl);
            break;
        case 'h':
            glidein_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            glidein_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc || !o->client.url || !o->client.token_file) {
        glidein_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    return -1;
}

static int pilot_rank0(struct wfmpi_mpi *m, struct wfmpi_glidein_pilot_opts *o)
{
    struct wfmpi_error err = {0};
    int rc = wfmpi_glidein_pilot(m, o, &err);
    int code = rc >= 0 ? rc : cli_exit_for(rc);
    if (rc < 0)
        cli_print_error(&err, rc);
    wfmpi_mpi_stop_workers(m, code);
    return code;
}

int cli_glidein(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "drain") == 0 ||
                      strcmp(argv[1], "shutdown") == 0))
        return glidein_ctl(argc, argv);
    struct wfmpi_glidein_pilot_opts o = {
        .idle_timeout_s = 300, .drain_before_s = 120, .drain_grace_s = 30, .kill_grace_s = 10};
    int rc = glidein_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    static char work[PATH_MAX];
    if (!realpath(o.work_dir ? o.work_dir : ".", work)) {
        fprintf(stderr, "wfmpi glidein: --work-dir %s: not found\n", o.work_dir);
        return WFMPI_EXIT_USAGE;
    }
    o.work_dir = work;
    const char *end = getenv("SLURM_JOB_END_TIME");
    if (o.walltime_end <= 0 && end && !cli_parse_time(end, &o.walltime_end))
        o.walltime_end = 0; /* unusable: no walltime awareness, as without Slurm */
    o.stop = &glidein_stop;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct wfmpi_error err = {0};
    struct wfmpi_mpi *m = wfmpi_mpi_init(NULL, NULL, &err);
    if (!m) {
        cli_print_error(&err, err.code);
        return WFMPI_EXIT_ENV;
    }
    if (wfmpi_mpi_rank(m) == 0) {
        rc = pilot_rank0(m, &o);
    } else {
        rc = wfmpi_mpi_worker(m, &err);
        if (rc < 0) {
            cli_print_error(&err, rc);
            wfmpi_mpi_abort(m, WFMPI_EXIT_ENV);
        }
    }
    wfmpi_mpi_finalize(m);
    return rc;
}
