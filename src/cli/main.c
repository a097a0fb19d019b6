/* wfmpi command-line entry: dispatches subcommands. `wfmpi WORKFLOW.yml` is
 * `wfmpi run WORKFLOW.yml`, so `srun wfmpi workflow.yml` works as documented. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli_int.h"

struct subcommand {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    bool internal; /* listed apart: run by the planner's data tasks */
};

static int cli_version(int argc, char **argv);

static const struct subcommand subcommands[] = {
    {"run", cli_run, "run a workflow on the MPI ranks of this allocation (default)", false},
    {"plan", cli_plan, "validate a workflow and show its executable plan; run nothing", false},
    {"topo", cli_topo, "show the nodes, GPUs and ranks and how wfmpi shares them", false},
    {"status", cli_status, "how far a run is: tasks per state, elapsed, time left", false},
    {"analyze", cli_analyze, "what failed in a run and why (exit 1 when something did)", false},
    {"statistics", cli_statistics, "run statistics: times, badput, per transformation, usage",
     false},
    {"report", cli_report, "write a self-contained HTML report (Gantt chart, tables)", false},
    {"serve", cli_serve, "host workflows for glidein pilots over HTTPS", false},
    {"submit", cli_submit, "submit a workflow to a `wfmpi serve`; prints its id", false},
    {"remove", cli_remove, "remove a submitted workflow from a `wfmpi serve`", false},
    {"glidein", cli_glidein, "pilot: pull tasks from a `wfmpi serve` onto this allocation", false},
    {"version", cli_version, "print the version", false},
    /* Data tasks the planner adds (docs/staging.md); usable by hand too. */
    {"stage-in", cli_stage_in, "fetch inputs into the work dir, verified", true},
    {"stage-out", cli_stage_out, "copy outputs out, register their replicas", true},
    {"cleanup", cli_cleanup, "remove intermediate files", true},
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: wfmpi [run] WORKFLOW.yml [options]\n"
                 "       wfmpi <command> [options]\n\ncommands:\n");
    for (int internal = 0; internal < 2; internal++) {
        if (internal)
            fprintf(out, "\ninternal commands (the data tasks a plan runs; docs/staging.md):\n");
        for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
            if (subcommands[i].internal == internal)
                fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
        }
    }
    fprintf(out, "\n'wfmpi <command> --help' describes each command.\n"
                 "Exit codes: 0 all tasks succeeded, 1 some failed, 2 bad input or usage,\n"
                 "3 stopped early (rerun resumes), 4 environment or internal error.\n");
}

static int cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("wfmpi %s\n", WFMPI_VERSION);
    return WFMPI_EXIT_OK;
}

int cli_exit_for(int code)
{
    /* A damaged or too-new run directory is bad input too: nothing ran. */
    return (code == WFMPI_E_INPUT || code == WFMPI_E_LIMIT || code == WFMPI_E_CORRUPT ||
            code == WFMPI_E_VERSION)
               ? WFMPI_EXIT_USAGE
               : WFMPI_EXIT_ENV;
}

void cli_print_error(const struct wfmpi_error *err, int code)
{
    if (err && err->text[0])
        fprintf(stderr, "wfmpi: %s\n", err->text);
    else
        fprintf(stderr, "wfmpi: %s\n", wfmpi_strerror(code));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return WFMPI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cli_version(0, NULL);
    for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].fn(argc - 1, argv + 1);
    }
    /* Anything else is `run`: a workflow file, or run's options in any order
     * (`srun wfmpi --run-dir R workflow.yml`); run's parser judges them. */
    static char run_name[] = "run";
    argv[0] = run_name;
    return cli_run(argc, argv);
}
