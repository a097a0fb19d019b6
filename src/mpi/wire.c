/* The wire format: little-endian fixed-width fields and NUL-terminated
 * strings with a u32 length prefix (length includes the NUL). All ranks of a
 * job share one architecture, so no byte swapping is done; the magic check
 * would catch a mismatch. */
#include <string.h>

#include "mpi_int.h"

static void put(struct wire_writer *w, const void *p, size_t n)
{
    if (w->rc == 0)
        w->rc = wfmpi_buf_append(w->buf, p, n);
}

void wire_u32(struct wire_writer *w, uint32_t v)
{
    put(w, &v, sizeof(v));
}
void wire_u64(struct wire_writer *w, uint64_t v)
{
    put(w, &v, sizeof(v));
}
void wire_f64(struct wire_writer *w, double v)
{
    put(w, &v, sizeof(v));
}

void wire_str(struct wire_writer *w, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    if (n > UINT32_MAX) {
        w->rc = WFMPI_E_LIMIT;
        return;
    }
    wire_u32(w, (uint32_t)n);
    put(w, s, n);
}

void wire_begin(struct wire_writer *w, struct wfmpi_buf *buf, enum wire_tag type)
{
    w->buf = buf;
    w->rc = 0;
    wfmpi_buf_reset(buf);
    wire_u32(w, WIRE_MAGIC);
    wire_u32(w, WIRE_VERSION);
    wire_u32(w, (uint32_t)type);
    wire_u32(w, 0); /* count, patched by wire_finish */
}

void wire_finish(struct wire_writer *w, uint32_t count)
{
    if (w->rc == 0 && w->buf->len >= WIRE_HEADER_BYTES)
        memcpy(w->buf->data + 12, &count, sizeof(count));
}

static void get(struct wire_reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

uint32_t wire_get_u32(struct wire_reader *r)
{
    uint32_t v;
    get(r, &v, sizeof(v));
    return v;
}

uint64_t wire_get_u64(struct wire_reader *r)
{
    uint64_t v;
    get(r, &v, sizeof(v));
    return v;
}

double wire_get_f64(struct wire_reader *r)
{
    double v;
    get(r, &v, sizeof(v));
    return v;
}

const char *wire_get_str(struct wire_reader *r)
{
    uint32_t n = wire_get_u32(r);
    if (r->bad || n == 0 || (size_t)(r->end - r->p) < n || r->p[n - 1] != '\0' ||
        memchr(r->p, '\0', n) != r->p + n - 1) {
        r->bad = true;
        return "";
    }
    const char *s = r->p;
    r->p += n;
    return s;
}

int64_t wire_open(struct wire_reader *r, const void *msg, size_t len, enum wire_tag type)
{
    r->p = msg;
    r->end = r->p + len;
    r->bad = false;
    uint32_t magic = wire_get_u32(r), version = wire_get_u32(r), t = wire_get_u32(r);
    uint32_t count = wire_get_u32(r);
    if (r->bad || magic != WIRE_MAGIC || version != WIRE_VERSION || t != (uint32_t)type)
        return -1;
    return count;
}

static void put_result(struct wire_writer *w, const struct wfmpi_exec_result *res, uint32_t reason)
{
    wire_u64(w, res->tag);
    wire_u32(w, reason);
    wire_u32(w, (uint32_t)res->exit_code);
    wire_u32(w, (uint32_t)res->signal);
    wire_u32(w, (uint32_t)res->spawn_errno);
    wire_f64(w, res->start_wall);
    wire_f64(w, res->end_wall);
    wire_f64(w, res->utime);
    wire_f64(w, res->stime);
    wire_u64(w, (uint64_t)res->maxrss_kb);
    wire_str(w, res->detail);
}

void wire_put_result(struct wire_writer *w, const struct wfmpi_exec_result *res)
{
    put_result(w, res, (uint32_t)res->reason);
}

/* The same record, so the master's decoder needs no second layout and the
 * answer keeps its place among the worker's results. */
void wire_put_taken_back(struct wire_writer *w, uint64_t tag)
{
    struct wfmpi_exec_result res = {.tag = tag};
    put_result(w, &res, WIRE_REASON_TAKEN_BACK);
}

int wire_get_result(struct wire_reader *r, struct wfmpi_exec_result *res)
{
    res->tag = wire_get_u64(r);
    uint32_t reason = wire_get_u32(r);
    res->exit_code = (int)wire_get_u32(r);
    res->signal = (int)wire_get_u32(r);
    res->spawn_errno = (int)wire_get_u32(r);
    res->start_wall = wire_get_f64(r);
    res->end_wall = wire_get_f64(r);
    res->utime = wire_get_f64(r);
    res->stime = wire_get_f64(r);
    res->maxrss_kb = (long)wire_get_u64(r);
    const char *detail = wire_get_str(r);
    if (!r->bad && reason == WIRE_REASON_TAKEN_BACK)
        return 1;
    if (r->bad || reason >= WFMPI_EXEC_NREASONS)
        return WFMPI_E_PROTO;
    res->reason = (enum wfmpi_exec_reason)reason;
    snprintf(res->detail, sizeof(res->detail), "%s", detail);
    return 0;
}

/* Read n consecutive strings into table[*used..*used+n), growing the table. */
static const char **get_list(struct wire_reader *r, uint32_t n, const char ***table, size_t *cap,
                             size_t *used)
{
    /* Each string takes at least 5 bytes on the wire: a lying count fails
     * here instead of allocating a huge table. */
    if ((size_t)(r->end - r->p) / 5 < n) {
        r->bad = true;
        return NULL;
    }
    if (wfmpi_grow((void **)table, cap, *used + n + 1, sizeof(**table)) < 0) {
        r->bad = true;
        return NULL;
    }
    const char **list = *table + *used;
    for (uint32_t i = 0; i < n; i++)
        list[i] = wire_get_str(r);
    list[n] = NULL;
    *used += n + 1;
    return list;
}

int wire_get_task(struct wire_reader *r, struct wire_task *t, const char ***table,
                  size_t *table_cap)
{
    t->task = wire_get_u32(r);
    t->attempt = wire_get_u32(r);
    t->cores = wire_get_u32(r);
    t->gpu_mask = wire_get_u64(r);
    t->timeout_s = wire_get_f64(r);
    t->checkpoint_s = wire_get_f64(r);
    t->flags = wire_get_u32(r);
    t->after = wire_get_u64(r);
    t->id = wire_get_str(r);
    t->exe = wire_get_str(r);
    t->stdin_path = wire_get_str(r);
    t->stdout_path = wire_get_str(r);
    t->stderr_path = wire_get_str(r);
    t->successmsg = wire_get_str(r);
    t->failuremsg = wire_get_str(r);
    t->cpuset = wire_get_str(r);
    size_t used = 0;
    t->argc = wire_get_u32(r);
    t->argv = get_list(r, t->argc, table, table_cap, &used);
    t->n_env = wire_get_u32(r);
    /* Offsets, not pointers: the table may move while it grows. */
    size_t env_at = used;
    get_list(r, t->n_env, table, table_cap, &used);
    t->n_outputs = wire_get_u32(r);
    size_t out_at = used;
    get_list(r, t->n_outputs, table, table_cap, &used);
    if (r->bad)
        return WFMPI_E_PROTO;
    t->argv = *table;
    t->env = *table + env_at;
    t->outputs = *table + out_at;
    return 0;
}

void wire_put_config(struct wire_writer *w, const struct wire_config *c)
{
    wire_str(w, c->work_dir);
    wire_str(w, c->run_dir);
    wire_u32(w, c->exec_null);
    wire_f64(w, c->kill_grace_s);
}

int wire_get_config(struct wire_reader *r, struct wire_config *c)
{
    c->work_dir = wire_get_str(r);
    c->run_dir = wire_get_str(r);
    c->exec_null = wire_get_u32(r) != 0;
    c->kill_grace_s = wire_get_f64(r);
    return r->bad ? WFMPI_E_PROTO : 0;
}
