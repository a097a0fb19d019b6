/* Option values shared by every subcommand: numbers are validated (no atoi),
 * and a bad value is a usage error (exit 2) with a message naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_int.h"
#include "wfmpi/plan.h"

bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 1e9)
        return false;
    *out = v;
    return true;
}

/* Epoch seconds, or a local "YYYY-MM-DDTHH:MM:SS" as squeue prints it. */
bool cli_parse_time(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '\0' && v > 0) {
        *out = v;
        return true;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest || *rest)
        return false;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    *out = (double)t;
    return t != (time_t)-1;
}

int cli_bad_value(const char *cmd, const char *opt, const char *value)
{
    fprintf(stderr, "wfmpi %s: invalid value '%s' for --%s\n", cmd, value, opt);
    return WFMPI_EXIT_USAGE;
}

int cli_data_option(const char *cmd, int c, const char *arg, struct wfmpi_plan_options *o)
{
    switch (c) {
    case CLI_OPT_OUTPUT_DIR:
        if (!*arg)
            return cli_bad_value(cmd, "output-dir", arg);
        o->output_dir = arg;
        return 1;
    case CLI_OPT_NO_STAGE_OUT:
        o->no_stage_out = 1;
        return 1;
    case CLI_OPT_NO_SYMLINK:
        o->no_symlink = 1;
        return 1;
    case CLI_OPT_CLEANUP:
        o->cleanup = 1;
        return 1;
    case CLI_OPT_CONTAINER_RUNTIME:
        if (strcmp(arg, "apptainer") != 0 && strcmp(arg, "singularity") != 0 && arg[0] != '/')
            return cli_bad_value(cmd, "container-runtime", arg);
        o->container_runtime = arg;
        return 1;
    default:
        return 0;
    }
}
