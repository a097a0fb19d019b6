#include <stdio.h>

#include "cli_int.h"

/* Placeholder until the MPI engine lands (issue 3). */
int cli_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wfmpi run: not built yet\n");
    return WFMPI_EXIT_ENV;
}
