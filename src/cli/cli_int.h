/* Subcommands of the wfmpi command line. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns a process exit code.
 * cli is the only module that prints errors for the user and decides exit
 * codes (DESIGN.md §3). */
#ifndef WFMPI_CLI_INT_H
#define WFMPI_CLI_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/util.h"

enum wfmpi_exit {
    WFMPI_EXIT_OK = 0, /* every task succeeded */
    WFMPI_EXIT_FAILED = 1, /* finished, some tasks failed after retries */
    WFMPI_EXIT_USAGE = 2, /* bad input or usage: nothing ran */
    WFMPI_EXIT_STOPPED = 3, /* stopped early, state saved, rerun resumes */
    WFMPI_EXIT_ENV = 4, /* environment or internal error */
};

int cli_plan(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_topo(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_analyze(int argc, char **argv);
int cli_statistics(int argc, char **argv);
int cli_report(int argc, char **argv);
/* Glidein mode (cmd_serve.c, cmd_submit.c, cmd_glidein.c). */
int cli_serve(int argc, char **argv);
int cli_submit(int argc, char **argv);
int cli_remove(int argc, char **argv);
int cli_status_server(int argc, char **argv);
int cli_glidein(int argc, char **argv);
/* Data tasks (cmd_stage.c). */
int cli_stage_in(int argc, char **argv);
int cli_stage_out(int argc, char **argv);
int cli_cleanup(int argc, char **argv);

/* Validated option values (cli_args.c): false when s is not a whole
 * number <= max, not seconds in [0, 1e9], not epoch seconds or
 * "YYYY-MM-DDTHH:MM:SS". cli_bad_value prints "wfmpi CMD: invalid value
 * 'VALUE' for --OPT" and returns WFMPI_EXIT_USAGE. */
bool cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
bool cli_parse_seconds(const char *s, double *out);
bool cli_parse_time(const char *s, double *out);
int cli_bad_value(const char *cmd, const char *opt, const char *value);

/* Data-handling planning options shared by run and plan (cli_args.c):
 * CLI_DATA_LONGOPTS go into a getopt_long table, CLI_DATA_HELP into the
 * usage text, and cli_data_option applies one: 1 when c was one of them,
 * 0 when not, or WFMPI_EXIT_USAGE (message printed) for a bad value. */
enum {
    CLI_OPT_OUTPUT_DIR = 0x1000,
    CLI_OPT_NO_STAGE_OUT,
    CLI_OPT_NO_SYMLINK,
    CLI_OPT_CLEANUP,
    CLI_OPT_CONTAINER_RUNTIME
};
#define CLI_DATA_LONGOPTS                                                                          \
    {"output-dir", required_argument, NULL, CLI_OPT_OUTPUT_DIR},                                   \
        {"no-stage-out", no_argument, NULL, CLI_OPT_NO_STAGE_OUT},                                 \
        {"no-symlink", no_argument, NULL, CLI_OPT_NO_SYMLINK},                                     \
        {"cleanup", no_argument, NULL, CLI_OPT_CLEANUP},                                           \
    {                                                                                              \
        "container-runtime", required_argument, NULL, CLI_OPT_CONTAINER_RUNTIME                    \
    }
#define CLI_DATA_HELP                                                                              \
    "  --output-dir DIR      where stage-out copies outputs (default: WORK_DIR/output)\n"          \
    "  --no-stage-out        stage nothing out (outputs stay in the work dir)\n"                   \
    "  --no-symlink          copy file:// inputs into the work dir instead of linking\n"           \
    "  --cleanup             remove intermediate files once every consumer is done\n"              \
    "  --container-runtime R apptainer | singularity | a path (default: whichever is\n"            \
    "                        on PATH)\n"
struct wfmpi_plan_options;
int cli_data_option(const char *cmd, int c, const char *arg, struct wfmpi_plan_options *o);

/* Map an error code from the library to an exit code: input errors are 2,
 * everything else is an environment error (4). */
int cli_exit_for(int code);
/* Print "wfmpi: <text>" (or the code's text when err has none) to stderr. */
void cli_print_error(const struct wfmpi_error *err, int code);

#endif
