#include <time.h>

#include "wfmpi/util.h"

static double ts_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double wfmpi_mono(void)
{
    return ts_seconds(CLOCK_MONOTONIC);
}
double wfmpi_wall(void)
{
    return ts_seconds(CLOCK_REALTIME);
}
double wfmpi_wall_coarse(void)
{
    return ts_seconds(CLOCK_REALTIME_COARSE);
}
