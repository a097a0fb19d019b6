/* Compact task events: the journal's J_EVENTS record.
 *
 * The master records two events per task, its start and its end. At the
 * rates of short tasks (hundreds of thousands per second with --exec null)
 * one fixed-width record per event cost as much as the scheduling itself:
 * 146 bytes and two record headers and checksums per task. A J_EVENTS
 * record packs the events of a commit round, in order, as LEB128 varints
 * (zigzag for signed values): about 30 bytes per task for a plain success.
 *
 * Times keep microsecond resolution: a start time is stored whole, the end
 * and the CPU times as microseconds. The writer quantises an end event
 * before applying it to its own state, so a replay rebuilds exactly what the
 * writer held.
 */
#include <math.h>
#include <string.h>

#include "ckpt_int.h"
#include "wfmpi/exec.h"

enum { EV_START = 1, EV_END = 2 };

/* ------------------------------------------------------------ encoding */

static size_t put_u(unsigned char *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static size_t put_s(unsigned char *p, int64_t v)
{
    return put_u(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static size_t put_f(unsigned char *p, double v)
{
    memcpy(p, &v, 8);
    return 8;
}

static int64_t to_us(double s)
{
    return (int64_t)llround(s * 1e6);
}

/* What a start and an end both begin with: tag, then the attempt and
 * where it ran. */
static size_t put_head(unsigned char *p, uint8_t tag, const struct rec_task_start *r)
{
    size_t n = 0;
    p[n++] = tag;
    n += put_u(p + n, r->task);
    n += put_u(p + n, r->attempt);
    n += put_s(p + n, r->rank);
    n += put_s(p + n, r->node);
    n += put_u(p + n, r->gpu_mask);
    n += put_f(p + n, r->start);
    return n;
}

size_t ckpt_events_put_start(unsigned char *p, const struct rec_task_start *r)
{
    return put_head(p, EV_START, r);
}

void ckpt_events_quantise(struct wfmpi_ckpt_event *ev)
{
    ev->end = ev->start + (double)to_us(ev->end - ev->start) * 1e-6;
    ev->utime = (double)to_us(ev->utime) * 1e-6;
    ev->stime = (double)to_us(ev->stime) * 1e-6;
}

size_t ckpt_events_put_end(unsigned char *p, const struct wfmpi_ckpt_event *ev, const char *detail)
{
    size_t dl = detail ? strnlen(detail, WFMPI_CKPT_DETAIL_MAX - 1) : 0;
    struct rec_task_start head = {ev->task, ev->attempt,  ev->rank,
                                  ev->node, ev->gpu_mask, ev->start};
    size_t n = put_head(p, EV_END, &head);
    n += put_s(p + n, to_us(ev->end - ev->start));
    p[n++] = ev->reason;
    n += put_s(p + n, ev->exit_code);
    n += put_s(p + n, ev->signal);
    n += put_s(p + n, to_us(ev->utime));
    n += put_s(p + n, to_us(ev->stime));
    n += put_s(p + n, ev->maxrss_kb);
    p[n++] = ev->state_after;
    n += put_u(p + n, ev->run);
    n += put_u(p + n, dl);
    memcpy(p + n, detail, dl);
    return n + dl;
}

/* ------------------------------------------------------------ decoding */

struct reader {
    const unsigned char *p;
    size_t len, off;
    bool bad;
};

static uint64_t get_u(struct reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->off >= r->len)
            break;
        unsigned char b = r->p[r->off++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t get_s(struct reader *r)
{
    uint64_t u = get_u(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static double get_f(struct reader *r)
{
    double v = 0;
    if (r->len - r->off < 8)
        r->bad = true;
    else
        memcpy(&v, r->p + r->off, 8);
    r->off += r->bad ? 0 : 8;
    return v;
}

static uint8_t get_byte(struct reader *r)
{
    if (r->off >= r->len) {
        r->bad = true;
        return 0;
    }
    return r->p[r->off++];
}

static struct rec_task_start get_head(struct reader *r)
{
    struct rec_task_start s;
    s.task = (uint32_t)get_u(r);
    s.attempt = (uint32_t)get_u(r);
    s.rank = (int32_t)get_s(r);
    s.node = (int32_t)get_s(r);
    s.gpu_mask = get_u(r);
    s.start = get_f(r);
    return s;
}

static int apply_start(struct ckpt_state *st, struct reader *r)
{
    struct rec_task_start s = get_head(r);
    return r->bad ? WFMPI_E_CORRUPT : ckpt_state_apply_start(st, &s);
}

static int apply_end(struct ckpt_state *st, struct reader *r)
{
    struct rec_task_start h = get_head(r);
    struct wfmpi_ckpt_event ev = {.task = h.task,
                                  .attempt = h.attempt,
                                  .rank = h.rank,
                                  .node = h.node,
                                  .gpu_mask = h.gpu_mask,
                                  .start = h.start};
    ev.end = ev.start + (double)get_s(r) * 1e-6;
    ev.reason = get_byte(r);
    ev.exit_code = (int32_t)get_s(r);
    ev.signal = (int32_t)get_s(r);
    ev.utime = (double)get_s(r) * 1e-6;
    ev.stime = (double)get_s(r) * 1e-6;
    ev.maxrss_kb = get_s(r);
    ev.state_after = get_byte(r);
    ev.run = (uint32_t)get_u(r);
    uint64_t dl = get_u(r);
    char detail[WFMPI_CKPT_DETAIL_MAX];
    if (r->bad || dl >= sizeof(detail) || r->len - r->off < dl)
        return WFMPI_E_CORRUPT;
    memcpy(detail, r->p + r->off, dl);
    detail[dl] = '\0';
    r->off += dl;
    return ckpt_state_apply_end(st, &ev, detail);
}

int ckpt_state_apply_events(struct ckpt_state *st, const unsigned char *p, size_t len)
{
    struct reader r = {p, len, 0, false};
    int rc = 0;
    while (rc == 0 && r.off < len) {
        uint8_t tag = get_byte(&r);
        rc = tag == EV_START ? apply_start(st, &r)
             : tag == EV_END ? apply_end(st, &r)
                             : WFMPI_E_CORRUPT;
    }
    return rc;
}
