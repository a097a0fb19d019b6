/* The pure parts of the pilot's side of the protocol (docs/glidein-protocol.md):
 * the result record and the retry delay. No I/O, so unit tests check them
 * against the service's decoder (tests/unit/test_glidein.c). */
#include "client_int.h"

json_t *gl_result_json(const char *wf, uint32_t task, uint32_t attempt,
                       const struct wfmpi_exec_result *r, const char *detail)
{
    return json_pack("{s:s,s:I,s:I,s:s,s:i,s:i,s:f,s:f,s:f,s:f,s:I,s:s}", "wf", wf, "task",
                     (json_int_t)task, "attempt", (json_int_t)attempt, "reason",
                     wfmpi_exec_reason_name(r->reason), "exit_code", r->exit_code, "signal",
                     r->signal, "start", r->start_wall, "end", r->end_wall, "utime", r->utime,
                     "stime", r->stime, "maxrss_kb", (json_int_t)r->maxrss_kb, "detail",
                     detail ? detail : r->detail);
}

double gl_backoff_s(int failures, double u, double cap)
{
    /* Exponential, capped, with jitter: pilots that lost the service at the
     * same moment do not come back in step. The cap is the pilot's
     * heartbeat period (a quarter of its lease), so however long an outage
     * lasts it tries again several times before its lease lapses. */
    double d = 0.2 * (double)(1u << (failures < 8 ? (failures < 0 ? 0 : failures) : 8));
    if (d > 30)
        d = 30;
    if (cap > 0 && d > cap)
        d = cap;
    return d * (0.5 + (u < 0 ? 0 : u >= 1 ? 0.999999 : u));
}
