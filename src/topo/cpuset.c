/* PU sets as fixed bitmaps: plain data that travels in MPI messages as it is. */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topo_int.h"

void wfmpi_topo_cpuset_zero(struct wfmpi_topo_cpuset *s)
{
    memset(s, 0, sizeof(*s));
}

void wfmpi_topo_cpuset_set(struct wfmpi_topo_cpuset *s, uint32_t pu)
{
    if (pu < WFMPI_TOPO_MAX_PUS)
        s->w[pu / 64] |= 1ull << (pu % 64);
}

bool wfmpi_topo_cpuset_isset(const struct wfmpi_topo_cpuset *s, uint32_t pu)
{
    return pu < WFMPI_TOPO_MAX_PUS && (s->w[pu / 64] >> (pu % 64)) & 1;
}

uint32_t wfmpi_topo_cpuset_count(const struct wfmpi_topo_cpuset *s)
{
    uint32_t n = 0;
    for (size_t i = 0; i < WFMPI_TOPO_CPUSET_WORDS; i++)
        n += (uint32_t)__builtin_popcountll(s->w[i]);
    return n;
}

void wfmpi_topo_cpuset_and(struct wfmpi_topo_cpuset *d, const struct wfmpi_topo_cpuset *s)
{
    for (size_t i = 0; i < WFMPI_TOPO_CPUSET_WORDS; i++)
        d->w[i] &= s->w[i];
}

void wfmpi_topo_cpuset_or(struct wfmpi_topo_cpuset *d, const struct wfmpi_topo_cpuset *s)
{
    for (size_t i = 0; i < WFMPI_TOPO_CPUSET_WORDS; i++)
        d->w[i] |= s->w[i];
}

/* First PU >= from that is set (want = true) or clear (want = false), or
 * WFMPI_TOPO_MAX_PUS: a word at a time, since the master formats a cpuset for
 * every task it dispatches and most of the 2048 bits are empty. */
static uint32_t next_bit(const struct wfmpi_topo_cpuset *s, uint32_t from, bool want)
{
    for (uint32_t i = from; i < WFMPI_TOPO_MAX_PUS;) {
        uint64_t w = s->w[i / 64];
        if (!want)
            w = ~w;
        w >>= i % 64;
        if (w)
            return i + (uint32_t)__builtin_ctzll(w);
        i = (i / 64 + 1) * 64;
    }
    return WFMPI_TOPO_MAX_PUS;
}

int wfmpi_topo_cpuset_format(const struct wfmpi_topo_cpuset *s, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0)
        return WFMPI_E_LIMIT;
    buf[0] = '\0';
    for (uint32_t pu = next_bit(s, 0, true); pu < WFMPI_TOPO_MAX_PUS;) {
        uint32_t hi = next_bit(s, pu, false) - 1;
        int n = hi == pu ? snprintf(buf + len, size - len, "%s%u", len ? "," : "", pu)
                         : snprintf(buf + len, size - len, "%s%u-%u", len ? "," : "", pu, hi);
        if (n < 0 || (size_t)n >= size - len) {
            buf[0] = '\0';
            return WFMPI_E_LIMIT;
        }
        len += (size_t)n;
        pu = hi + 1 < WFMPI_TOPO_MAX_PUS ? next_bit(s, hi + 1, true) : WFMPI_TOPO_MAX_PUS;
    }
    return (int)len;
}

static long pu_number(const char **p)
{
    if (!isdigit((unsigned char)**p))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (errno || v < 0 || v >= WFMPI_TOPO_MAX_PUS)
        return -1;
    *p = end;
    return v;
}

int wfmpi_topo_cpuset_parse(const char *list, struct wfmpi_topo_cpuset *out)
{
    wfmpi_topo_cpuset_zero(out);
    const char *p = list ? list : "";
    while (*p) {
        long lo = pu_number(&p), hi = lo;
        if (lo >= 0 && *p == '-') {
            p++;
            hi = pu_number(&p);
        }
        if (lo < 0 || hi < lo || (*p && *p != ',')) {
            wfmpi_topo_cpuset_zero(out);
            return WFMPI_E_INPUT;
        }
        for (long c = lo; c <= hi; c++)
            wfmpi_topo_cpuset_set(out, (uint32_t)c);
        if (*p == ',')
            p++;
    }
    return 0;
}

void wfmpi_topo_all_cpus(const struct wfmpi_topo *t, struct wfmpi_topo_cpuset *out)
{
    wfmpi_topo_cpuset_zero(out);
    for (uint32_t i = 0; i < t->n_pus; i++)
        wfmpi_topo_cpuset_set(out, t->pus[i]);
}
