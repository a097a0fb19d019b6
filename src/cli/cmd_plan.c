#include <stdio.h>

#include "cli_int.h"

/* Placeholder until the planner lands (issue 2). */
int cli_plan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wfmpi plan: not built yet\n");
    return WFMPI_EXIT_ENV;
}
