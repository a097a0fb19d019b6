/* `wfmpi statistics RUN_DIR`: what pegasus-statistics reports. */
#include <getopt.h>
#include <stdio.h>

#include "cli_int.h"
#include "wfmpi/report.h"

static void statistics_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi statistics [--json] [--csv DIR] RUN_DIR\n"
                 "Tasks succeeded/failed/incomplete, attempts and retries; workflow wall time\n"
                 "(all runs of a rescued workflow, and per run); cumulative task wall time;\n"
                 "badput (failed and interrupted attempts); per transformation: count,\n"
                 "succeeded, failed, min/max/mean/total runtime, mean max RSS; busy core- and\n"
                 "GPU-seconds over the allocation's.\n\n"
                 "  --json                print JSON\n"
                 "  --csv DIR             also write summary.csv, runs.csv, transformations.csv\n"
                 "  -h, --help            this text\n\n"
                 "Exit codes: 0 shown, 2 missing, empty, damaged or too-new run dir.\n");
}

int cli_statistics(int argc, char **argv)
{
    static const struct option longs[] = {{"json", no_argument, NULL, 'j'},
                                          {"csv", required_argument, NULL, 'c'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool json = false;
    const char *csv = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'c':
            csv = optarg;
            break;
        case 'h':
            statistics_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            statistics_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        statistics_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_error err = {0};
    int rc = wfmpi_report_statistics(argv[optind], json, csv, stdout, &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        return cli_exit_for(rc);
    }
    return WFMPI_EXIT_OK;
}
