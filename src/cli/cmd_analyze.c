/* `wfmpi analyze RUN_DIR`: what failed and why, as pegasus-analyzer. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli_int.h"
#include "wfmpi/report.h"

static void analyze_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi analyze [--json] [--lines N] RUN_DIR\n"
                 "Summarise a run (total, succeeded, failed, blocked, unsubmitted) and show\n"
                 "every failed task: transformation, each attempt's reason (exit code, signal,\n"
                 "timeout, missing output, failure message), rank/node/GPUs, command line,\n"
                 "work dir, and the last lines of its stdout and stderr.\n\n"
                 "  --json                print JSON\n"
                 "  -n, --lines N         lines of stdout/stderr to show (default 20)\n"
                 "  -h, --help            this text\n\n"
                 "Exit codes: 0 nothing failed, 1 some tasks failed, 2 missing, empty, damaged\n"
                 "or too-new run dir.\n");
}

int cli_analyze(int argc, char **argv)
{
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'},
                                          {"lines", required_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool json = false;
    unsigned lines = 20;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:h", longs, NULL)) != -1) {
        char *end = NULL;
        unsigned long v;
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'n':
            v = strtoul(optarg, &end, 10);
            if (!end || *end || v < 1 || v > 10000) {
                fprintf(stderr, "wfmpi analyze: --lines wants 1..10000, not '%s'\n", optarg);
                return WFMPI_EXIT_USAGE;
            }
            lines = (unsigned)v;
            break;
        case 'h':
            analyze_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            analyze_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        analyze_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_error err = {0};
    uint32_t failed = 0;
    int rc = wfmpi_report_analyze(argv[optind], json, lines, stdout, &failed, &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        return cli_exit_for(rc);
    }
    return failed ? WFMPI_EXIT_FAILED : WFMPI_EXIT_OK;
}
