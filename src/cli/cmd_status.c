/* `wfmpi status RUN_DIR`: counts as pegasus-status prints them (report.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"
#include "wfmpi/report.h"

static void status_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi status [-l] [-w SECONDS] [--json] RUN_DIR\n"
                 "Show how far a workflow is: tasks per state (UNREADY READY RUN DONE FAIL\n"
                 "BLOCKED %%DONE), its state (running, finished, failed, stopped = resumable),\n"
                 "elapsed time and an estimate of the time left. Reads only status.json while\n"
                 "the run is live; never disturbs the master.\n\n"
                 "  -l, --long            also list running and failed tasks (rank, node, GPUs)\n"
                 "  -w, --watch SECONDS   refresh in place every SECONDS until the run ends\n"
                 "  --json                print JSON (keys state, counts, percent_done, ...)\n"
                 "  -h, --help            this text\n\n"
                 "RUN_DIR is WORKFLOW.wfmpi beside the workflow unless --run-dir chose another.\n"
                 "Exit codes: 0 shown, 2 missing, empty, damaged or too-new run dir.\n");
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

int cli_status(int argc, char **argv)
{
    /* `status --server URL WFID` asks a glidein service (cmd_submit.c). */
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--server", 8) == 0)
            return cli_status_server(argc, argv);
    static const struct option longs[] = {{"long", no_argument, NULL, 'l'},
                                          {"watch", required_argument, NULL, 'w'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    struct wfmpi_report_status_options o = {0};
    double watch = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "lw:h", longs, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'l':
            o.long_list = true;
            break;
        case 'w':
            watch = strtod(optarg, &end);
            if (!end || *end || !(watch > 0) || watch > 86400) {
                fprintf(stderr, "wfmpi status: -w wants seconds > 0, not '%s'\n", optarg);
                return WFMPI_EXIT_USAGE;
            }
            break;
        case 'j':
            o.json = true;
            break;
        case 'h':
            status_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            status_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        status_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    bool tty = isatty(1);
    for (;;) {
        struct wfmpi_error err = {0};
        const char *state = NULL;
        if (watch > 0 && tty)
            fputs("\033[H\033[2J", stdout); /* refresh in place */
        int rc = wfmpi_report_status(argv[optind], &o, stdout, &state, &err);
        fflush(stdout);
        if (rc < 0) {
            cli_print_error(&err, rc);
            return cli_exit_for(rc);
        }
        if (watch <= 0 || strcmp(state, "running") != 0)
            return WFMPI_EXIT_OK;
        sleep_s(watch);
    }
}
