/* `wfmpi report RUN_DIR -o report.html`: one self-contained HTML file. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "wfmpi/report.h"

static void report_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi report RUN_DIR [-o FILE]\n"
                 "Write one self-contained HTML file (inline SVG and CSS; no network): a Gantt\n"
                 "chart of every attempt per rank/GPU lane (binned when there are too many),\n"
                 "utilisation and progress over time, the statistics tables and the failed\n"
                 "tasks.\n\n"
                 "  -o, --output FILE     where to write (default ./report.html; '-' = stdout)\n"
                 "  -h, --help            this text\n\n"
                 "Exit codes: 0 written, 2 missing, empty, damaged or too-new run dir, 4 cannot\n"
                 "write FILE.\n");
}

/* Written beside the target and renamed, so a reader never sees half a file. */
static int write_report(const char *run_dir, const char *path, struct wfmpi_error *err)
{
    if (strcmp(path, "-") == 0)
        return wfmpi_report_html(run_dir, stdout, err);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return wfmpi_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
    int rc = wfmpi_report_html(run_dir, f, err);
    if (fclose(f) != 0 && rc == 0)
        rc = wfmpi_error_set(err, -EIO, "%s: cannot write", tmp);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = wfmpi_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int cli_report(int argc, char **argv)
{
    static const struct option longs[] = {{"output", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *output = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'h':
            report_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            report_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        report_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    /* Not into the run dir: the monitoring commands only read it. */
    const char *def = "report.html";
    struct wfmpi_error err = {0};
    int rc = write_report(argv[optind], output ? output : def, &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        return cli_exit_for(rc);
    }
    if (output == NULL || strcmp(output, "-") != 0)
        fprintf(stderr, "wfmpi: report written to %s\n", output ? output : def);
    return WFMPI_EXIT_OK;
}
