/* The finished plan: read-only accessors and the canonical hash. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"

void wfmpi_plan_destroy(struct wfmpi_plan *plan)
{
    if (!plan)
        return;
    wfmpi_strtab_destroy(plan->strtab);
    free(plan->tasks);
    free(plan->strs);
    free(plan->files);
    free(plan->edges_in);
    free(plan->edges_out);
    free(plan->categories);
    free(plan->cp);
    free(plan->text);
    free(plan->sources);
    plan_source_destroy(plan->src);
    free(plan);
}

const struct wfmpi_plan_view *wfmpi_plan_view(const struct wfmpi_plan *plan)
{
    return &plan->view;
}

const char *wfmpi_plan_str(const struct wfmpi_plan *plan, uint32_t id)
{
    const char *s = id ? wfmpi_strtab_str(plan->strtab, id) : NULL;
    return s ? s : "";
}

const char *wfmpi_plan_task_where(const struct wfmpi_plan *plan, uint32_t task, char *buf,
                                  size_t size)
{
    if (!size)
        return buf;
    buf[0] = '\0';
    const struct wfmpi_plan_pos *at = task < plan->n_tasks ? &plan->tasks[task].pos : NULL;
    if (at && at->file)
        snprintf(buf, size, "%s:%u:%u", wfmpi_plan_str(plan, at->file), at->line, at->col);
    return buf;
}

void wfmpi_plan_stats(const struct wfmpi_plan *plan, struct wfmpi_plan_stats *out)
{
    *out = plan->stats;
}

const uint32_t *wfmpi_plan_critical_path(const struct wfmpi_plan *plan, uint32_t *n)
{
    *n = plan->n_cp;
    return plan->cp;
}

const struct wfmpi_plan_source *wfmpi_plan_sources(const struct wfmpi_plan *plan, uint32_t *n)
{
    *n = (uint32_t)plan->n_sources;
    return plan->sources;
}

void wfmpi_plan_hash(const struct wfmpi_plan *plan, char out[WFMPI_SHA256_HEX_LEN])
{
    memcpy(out, plan->hash, WFMPI_SHA256_HEX_LEN);
}

void plan_source_destroy(struct plan_source *src)
{
    if (!src)
        return;
    if (src->fd >= 0)
        close(src->fd);
    free(src->text);
    free(src);
}

static int64_t mtime_of(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Read the whole file at src->fd, if it is still the size and age it was
 * when planned (an editor that rewrites it in place would otherwise make the
 * checkpoint record a workflow that was never planned). */
static int source_read(struct plan_source *src)
{
    struct stat st;
    if (fstat(src->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size != src->size || mtime_of(&st) != src->mtime_ns)
        return WFMPI_E_INPUT;
    if (src->size >= SIZE_MAX)
        return -ENOMEM;
    char *text = malloc((size_t)src->size + 1);
    if (!text)
        return -ENOMEM;
    size_t got = 0;
    while (got < src->size) {
        ssize_t n = pread(src->fd, text + got, (size_t)src->size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int rc = n < 0 ? -errno : WFMPI_E_INPUT;
            free(text);
            return rc;
        }
        got += (size_t)n;
    }
    if (fstat(src->fd, &st) < 0 || (uint64_t)st.st_size != src->size ||
        mtime_of(&st) != src->mtime_ns) {
        free(text);
        return WFMPI_E_INPUT;
    }
    text[got] = '\0';
    src->text = text;
    src->len = got;
    return 0;
}

const char *wfmpi_plan_text(const struct wfmpi_plan *plan, size_t *len)
{
    struct plan_source *src = plan->src;
    if (src && src->fd >= 0) {
        int rc = source_read(src);
        if (rc == WFMPI_E_INPUT)
            wfmpi_warn("%s changed since it was planned: its text is not recorded",
                       wfmpi_plan_str(plan, plan->path));
        else if (rc)
            wfmpi_warn("%s: cannot read the workflow text: %s", wfmpi_plan_str(plan, plan->path),
                       wfmpi_strerror(rc));
        close(src->fd);
        src->fd = -1;
    }
    if (src) {
        if (len)
            *len = src->text ? src->len : 0;
        return src->text ? src->text : "";
    }
    if (len)
        *len = plan->text_len;
    return plan->text ? plan->text : "";
}

size_t wfmpi_plan_bytes(const struct wfmpi_plan *plan)
{
    return sizeof(*plan) + wfmpi_strtab_bytes(plan->strtab) +
           plan->cap_tasks * sizeof(*plan->tasks) + plan->cap_strs * sizeof(*plan->strs) +
           plan->cap_files * sizeof(*plan->files) + 2 * plan->n_edges * sizeof(uint32_t) +
           plan->cap_categories * sizeof(*plan->categories) + plan->n_cp * sizeof(*plan->cp) +
           plan->cap_sources * sizeof(*plan->sources) + plan->text_len +
           (plan->src && plan->src->text ? plan->src->len : 0);
}

/* ------------------------------------------------------------------ hash
 *
 * The hash covers a canonical serialization, never struct bytes (padding,
 * string ids and field order would make equal plans hash differently):
 * every string as a 4-byte little-endian length plus its bytes, every number
 * as 8 little-endian bytes (doubles through their IEEE bits), each record
 * opened by a one-byte tag. Output goes through a small buffer so sha256 is
 * fed in large blocks. */

struct hasher {
    struct wfmpi_sha256 *sha;
    const struct wfmpi_plan *p;
    unsigned char buf[16384];
    size_t len;
    int rc;
};

static void h_bytes(struct hasher *h, const void *data, size_t len)
{
    if (h->len + len > sizeof(h->buf)) {
        if (!h->rc)
            h->rc = wfmpi_sha256_update(h->sha, h->buf, h->len);
        h->len = 0;
        if (len > sizeof(h->buf)) {
            if (!h->rc)
                h->rc = wfmpi_sha256_update(h->sha, data, len);
            return;
        }
    }
    memcpy(h->buf + h->len, data, len);
    h->len += len;
}

static void h_u64(struct hasher *h, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    h_bytes(h, b, sizeof(b));
}

static void h_f64(struct hasher *h, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    h_u64(h, bits);
}

static void h_tag(struct hasher *h, char tag)
{
    h_bytes(h, &tag, 1);
}

/* A string id as (present, length, bytes): "" and absent differ. */
static void h_str(struct hasher *h, uint32_t id)
{
    const char *s = id ? wfmpi_strtab_str(h->p->strtab, id) : NULL;
    uint32_t len = s ? wfmpi_strtab_len(h->p->strtab, id) : 0;
    unsigned char b[5] = {s != NULL, (unsigned char)len, (unsigned char)(len >> 8),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    h_bytes(h, b, sizeof(b));
    if (len)
        h_bytes(h, s, len);
}

static void h_list(struct hasher *h, const uint32_t *arr, struct wfmpi_plan_range r, int strings)
{
    h_u64(h, r.count);
    for (uint32_t i = 0; i < r.count; i++) {
        if (strings)
            h_str(h, arr[r.first + i]);
        else
            h_u64(h, arr[r.first + i]);
    }
}

static void h_task(struct hasher *h, const struct wfmpi_plan_task *t)
{
    const struct wfmpi_plan *p = h->p;
    h_tag(h, 'T');
    h_str(h, t->id);
    h_str(h, t->exe);
    h_list(h, p->strs, t->argv, 1);
    h_list(h, p->strs, t->env, 1);
    h_str(h, t->stdin_path);
    h_str(h, t->stdout_path);
    h_str(h, t->stderr_path);
    h_u64(h, t->files.count);
    for (uint32_t i = 0; i < t->files.count; i++) {
        const struct wfmpi_plan_file *f = &p->files[t->files.first + i];
        h_str(h, f->lfn);
        h_u64(h, (uint64_t)f->link << 8 | f->flags);
        h_str(h, f->pfn);
        h_str(h, f->sha256);
    }
    h_list(h, p->edges_in, t->parents, 0);
    h_u64(h, t->cores);
    h_u64(h, t->gpus);
    h_u64(h, t->memory_mb);
    h_f64(h, t->runtime_s);
    h_f64(h, t->maxwalltime_s);
    h_f64(h, t->checkpoint_time_s);
    if (t->kind) { /* compute tasks hash as they did before kinds existed */
        h_tag(h, 'K');
        h_u64(h, t->kind);
    }
    h_u64(h, (uint64_t)(int64_t)t->retries);
    h_u64(h, (uint64_t)(int64_t)t->priority);
    h_str(h, t->category);
    h_str(h, t->successmsg);
    h_str(h, t->failuremsg);
    h_str(h, t->container);
    h_str(h, t->site);
}

int plan_hash_compute(struct wfmpi_plan *p)
{
    struct hasher *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->sha = wfmpi_sha256_create();
    if (!h->sha) {
        free(h);
        return -ENOMEM;
    }
    h->p = p;
    h_bytes(h, "wfmpi-plan-1", 12); /* bump when the serialization changes */
    h_u64(h, p->n_tasks);
    for (size_t i = 0; i < p->n_tasks; i++)
        h_task(h, &p->tasks[i]);
    h_tag(h, 'C');
    h_u64(h, p->n_categories);
    for (size_t i = 0; i < p->n_categories; i++) {
        h_str(h, p->categories[i].name);
        h_u64(h, p->categories[i].maxjobs);
    }
    unsigned char md[WFMPI_SHA256_LEN];
    if (!h->rc && h->len)
        h->rc = wfmpi_sha256_update(h->sha, h->buf, h->len);
    int rc = h->rc ? h->rc : wfmpi_sha256_final(h->sha, md);
    if (!rc)
        wfmpi_hex(md, sizeof(md), p->hash);
    wfmpi_sha256_destroy(h->sha);
    free(h);
    return rc;
}
