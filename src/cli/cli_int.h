/* Subcommands of the wfmpi command line. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns a process exit code.
 * cli is the only module that prints errors for the user and decides exit
 * codes (DESIGN.md §3). */
#ifndef WFMPI_CLI_INT_H
#define WFMPI_CLI_INT_H

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

/* Map an error code from the library to an exit code: input errors are 2,
 * everything else is an environment error (4). */
int cli_exit_for(int code);
/* Print "wfmpi: <text>" (or the code's text when err has none) to stderr. */
void cli_print_error(const struct wfmpi_error *err, int code);

#endif
