/* CPU lists in the hwloc/Linux "list" syntax: comma-separated CPUs and
 * inclusive ranges, e.g. "0-3,8". */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "exec_int.h"

/* Read one CPU number at *p; advances *p. -1 when there is none or it is out of
 * range, so every failure is one check for the caller. */
static long cpu_number(const char **p)
{
    if (!isdigit((unsigned char)**p))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (errno || v < 0 || v >= EXEC_CPU_MAX)
        return -1;
    *p = end;
    return v;
}

int exec_cpuset_parse(const char *list, cpu_set_t *set, size_t size)
{
    CPU_ZERO_S(size, set);
    if (!list || !*list)
        return -EINVAL;
    const char *p = list;
    for (;;) {
        long lo = cpu_number(&p), hi = lo;
        if (lo < 0)
            return -EINVAL;
        if (*p == '-') {
            p++;
            hi = cpu_number(&p);
            if (hi < lo)
                return -EINVAL;
        }
        for (long c = lo; c <= hi; c++)
            CPU_SET_S((size_t)c, size, set);
        if (*p == '\0')
            return 0;
        if (*p++ != ',')
            return -EINVAL;
    }
}
