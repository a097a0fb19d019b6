/* The plan cache (plan.h): a compiled plan saved in the run dir, so that a
 * rerun of the same command on unchanged inputs loads it instead of planning
 * (docs/planning.md, "Plan cache").
 *
 * One file, in the writer's byte order and struct layout: a cache is only
 * ever read back by the binary that wrote it (its identity is in the key),
 * so the plan's arrays are written as they are in memory and read straight
 * back into place, with no per-task encoding either way.
 *
 *   header  struct cache_header: magic, format, byte-order mark, wfmpi
 *           version, struct sizes, the length of every section, and two
 *           sha256: over the header and the key, and over the body
 *   key     what the plan depends on (options, environment, source files);
 *           small, so a stale cache is found without reading the body
 *   body    meta, then the plan's arrays, then the string table (the length
 *           of every string, then the strings back to back, NUL-separated)
 *
 * Reading checks everything before anything is used: sizes against the
 * file, both checksums, then every index in the plan against the array it
 * points into, so a damaged or hostile file is an error, never a crash. */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"

#define CACHE_MAGIC "WFMPIPLC"
/* Bump when the layout or the key changes. 2: tasks carry their job's
 * position (struct wfmpi_plan_pos). */
#define CACHE_FORMAT 2
#define CACHE_BYTE_ORDER 0x01020304u
/* The key is options and file names: anything larger is not ours. */
#define CACHE_KEY_MAX ((size_t)16 << 20)

/* Every option is in the key (key_options): this fails when one is added, as
 * a reminder to add it there too (8 strings and 5 ints, with padding). */
#ifdef __LP64__
_Static_assert(sizeof(struct wfmpi_plan_options) == 96,
               "a new plan option: add it to the plan cache key (key_options)");
#endif

enum {
    SEC_KEY,
    SEC_META,
    SEC_TASKS,
    SEC_STRS,
    SEC_FILES,
    SEC_EDGES_IN,
    SEC_EDGES_OUT,
    SEC_CATEGORIES,
    SEC_CP,
    SEC_SOURCES,
    SEC_STR_LENS,
    SEC_STR_DATA,
    SEC_N
};

enum { SZ_TASK, SZ_FILE, SZ_CATEGORY, SZ_SOURCE, SZ_META, SZ_HEADER, SZ_STATS, SZ_N };

struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t byte_order;
    char version[32]; /* WFMPI_VERSION, NUL-padded */
    uint32_t sizes[SZ_N + 1]; /* struct sizes (+1: keeps len 8-byte aligned) */
    uint64_t len[SEC_N]; /* bytes of each section, in file order */
    unsigned char key_sha[WFMPI_SHA256_LEN]; /* header up to here, then the key */
    unsigned char body_sha[WFMPI_SHA256_LEN]; /* every section after the key */
};

/* Scalars of the plan; its array counts say how long the sections are. */
struct cache_meta {
    uint64_t n_tasks, n_strs, n_files, n_edges, n_categories, n_sources;
    uint32_t name, path, n_cp, n_strings;
    struct wfmpi_plan_stats stats;
    char hash[WFMPI_SHA256_HEX_LEN];
};

static void header_init(struct cache_header *h)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, CACHE_MAGIC, sizeof(h->magic));
    h->format = CACHE_FORMAT;
    h->byte_order = CACHE_BYTE_ORDER;
    snprintf(h->version, sizeof(h->version), "%s", WFMPI_VERSION);
    const uint32_t sizes[SZ_N] = {
        sizeof(struct wfmpi_plan_task),     sizeof(struct wfmpi_plan_file),
        sizeof(struct wfmpi_plan_category), sizeof(struct wfmpi_plan_source),
        sizeof(struct cache_meta),          sizeof(struct cache_header),
        sizeof(struct wfmpi_plan_stats)};
    memcpy(h->sizes, sizes, sizeof(sizes));
}

/* ------------------------------------------------------------------ key
 *
 * The key section: fields (name, value or absent) for the binary, the
 * command and the environment, then the source files with their identity.
 * Numbers are native: the byte order is checked before the key is read. */

static int put_u32(struct wfmpi_buf *b, uint32_t v)
{
    return wfmpi_buf_append(b, &v, sizeof(v));
}

static int put_field(struct wfmpi_buf *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = value ? strlen(value) : 0;
    if (vl >= UINT32_MAX)
        return WFMPI_E_LIMIT;
    int rc = put_u32(b, (uint32_t)nl);
    if (!rc)
        rc = wfmpi_buf_append(b, name, nl);
    if (!rc)
        rc = put_u32(b, value ? (uint32_t)vl : UINT32_MAX);
    if (!rc && vl)
        rc = wfmpi_buf_append(b, value, vl);
    return rc;
}

/* The running binary, by path and identity: a rebuilt or reinstalled wfmpi
 * may plan differently even at the same version. */
static void binary_identity(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    struct stat st;
    if (n <= 0 || stat(exe, &st) < 0) {
        snprintf(buf, size, "%s (unknown)", exe);
        return;
    }
    snprintf(buf, size, "%s %llu %lld %lld.%09ld", exe, (unsigned long long)st.st_ino,
             (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static int put_flag(struct wfmpi_buf *b, const char *name, int value)
{
    return put_field(b, name, value ? "1" : "0");
}

/* The fields, in a fixed order; each name is what a message about it says. */
static int key_options(struct wfmpi_buf *b, const char *workflow,
                       const struct wfmpi_plan_options *opt)
{
    static const struct wfmpi_plan_options none;
    const struct wfmpi_plan_options *o = opt ? opt : &none;
    char bin[PATH_MAX + 128], cwd[PATH_MAX];
    binary_identity(bin, sizeof(bin));
    const char *dir = getcwd(cwd, sizeof(cwd));
    int rc = put_u32(b, 18);
    rc = rc ? rc : put_field(b, "the wfmpi version", WFMPI_VERSION);
    rc = rc ? rc : put_field(b, "the wfmpi binary", bin);
    rc = rc ? rc : put_field(b, "the workflow path", workflow);
    rc = rc ? rc : put_field(b, "the current directory", dir);
    rc = rc ? rc : put_field(b, "PATH", getenv("PATH"));
    rc = rc ? rc : put_field(b, "--rc", o->rc_file);
    rc = rc ? rc : put_field(b, "--tc", o->tc_file);
    rc = rc ? rc : put_field(b, "--sc", o->sc_file);
    rc = rc ? rc : put_field(b, "--site", o->site);
    rc = rc ? rc : put_field(b, "--input-dir", o->input_dir);
    rc = rc ? rc : put_flag(b, "no default catalogs", o->no_default_catalogs);
    rc = rc ? rc : put_field(b, "--work-dir", o->work_dir);
    rc = rc ? rc : put_field(b, "--output-dir", o->output_dir);
    rc = rc ? rc : put_flag(b, "--no-stage-out", o->no_stage_out);
    rc = rc ? rc : put_flag(b, "--no-symlink", o->no_symlink);
    rc = rc ? rc : put_flag(b, "--cleanup", o->cleanup);
    rc = rc ? rc : put_field(b, "--container-runtime", o->container_runtime);
    /* A plan made without --strict may have passed over unknown keys that a
     * strict run must refuse. */
    rc = rc ? rc : put_flag(b, "--strict", o->strict);
    return rc;
}

static int key_sources(struct wfmpi_buf *b, const struct wfmpi_plan *p)
{
    int rc = put_u32(b, (uint32_t)p->n_sources);
    for (size_t i = 0; !rc && i < p->n_sources; i++) {
        const struct wfmpi_plan_source *s = &p->sources[i];
        uint32_t len = wfmpi_strtab_len(p->strtab, s->path);
        uint64_t id[4] = {s->present, s->dev, s->ino, s->size};
        rc = put_u32(b, len);
        if (!rc)
            rc = wfmpi_buf_append(b, wfmpi_plan_str(p, s->path), len);
        if (!rc)
            rc = wfmpi_buf_append(b, id, sizeof(id));
        if (!rc)
            rc = wfmpi_buf_append(b, &s->mtime_ns, sizeof(s->mtime_ns));
    }
    return rc;
}

/* A bounded reader over the key section. */
struct cursor {
    const unsigned char *p;
    size_t left;
    bool bad;
};

static const void *cur_take(struct cursor *c, size_t n)
{
    if (c->bad || n > c->left) {
        c->bad = true;
        return NULL;
    }
    const void *at = c->p;
    c->p += n;
    c->left -= n;
    return at;
}

static uint32_t cur_u32(struct cursor *c)
{
    uint32_t v = 0;
    const void *at = cur_take(c, sizeof(v));
    if (at)
        memcpy(&v, at, sizeof(v));
    return v;
}

/* One field: its name, and its value (NULL when absent) with length. */
static void cur_field(struct cursor *c, const char **name, size_t *nl, const char **val, size_t *vl)
{
    *nl = cur_u32(c);
    *name = cur_take(c, *nl);
    uint32_t v = cur_u32(c);
    *vl = v == UINT32_MAX ? 0 : v;
    *val = v == UINT32_MAX ? NULL : cur_take(c, *vl);
    if (v != UINT32_MAX && !*val)
        *name = NULL;
}

/* Compare the cached fields (c) with the current ones; names the first
 * that differs. */
static int compare_options(struct cursor *c, const struct wfmpi_buf *now, struct wfmpi_error *err)
{
    struct cursor n = {(const unsigned char *)now->data, now->len, false};
    uint32_t count = cur_u32(c);
    if (c->bad || count != cur_u32(&n))
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "malformed key");
    for (uint32_t i = 0; i < count; i++) {
        const char *cn, *cv, *nn, *nv;
        size_t cnl, cvl, nnl, nvl;
        cur_field(c, &cn, &cnl, &cv, &cvl);
        cur_field(&n, &nn, &nnl, &nv, &nvl);
        if (!cn || !nn || c->bad || cnl != nnl || memcmp(cn, nn, nnl) != 0)
            return wfmpi_error_set(err, WFMPI_E_CORRUPT, "malformed key");
        if ((!cv) != (!nv) || cvl != nvl || (cvl && memcmp(cv, nv, cvl) != 0))
            return wfmpi_error_set(err, WFMPI_E_STALE, "%.*s differs", (int)nnl, nn);
    }
    return 0;
}

/* Is the file at path still what planning read (or still absent)? The
 * device number is not compared: on NFS, Lustre and GPFS it differs from
 * one client node to the next, and the next allocation's rank 0 is often on
 * another node (path, inode, size and nanosecond mtime identify the file
 * there). For the main workflow (main_fd non-NULL) it is opened and kept open: the plan
 * reads its text from that descriptor later. */
static bool source_same(const char *path, const uint64_t id[4], int64_t mtime, int *main_fd)
{
    struct stat st;
    int fd = -1;
    if (main_fd && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return false;
    bool there = fd >= 0 ? fstat(fd, &st) == 0 : stat(path, &st) == 0;
    there = there && S_ISREG(st.st_mode);
    bool same = !id[0] ? !there
                       : there && (uint64_t)st.st_ino == id[2] && (uint64_t)st.st_size == id[3] &&
                             (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == mtime;
    if (same && main_fd)
        *main_fd = fd;
    else if (fd >= 0)
        close(fd);
    return same;
}

/* Every source file as it was. The first is the main workflow: *main_fd
 * gets it open (-1 otherwise). */
static int compare_sources(struct cursor *c, int *main_fd, struct wfmpi_error *err)
{
    uint32_t n = cur_u32(c);
    if (c->bad || n == 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "malformed key");
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = cur_u32(c);
        const char *p = cur_take(c, len);
        const void *raw = cur_take(c, 4 * sizeof(uint64_t) + sizeof(int64_t));
        char path[PATH_MAX];
        if (!raw || len >= sizeof(path))
            return wfmpi_error_set(err, WFMPI_E_CORRUPT, "malformed key");
        memcpy(path, p, len);
        path[len] = '\0';
        uint64_t id[4];
        int64_t mtime;
        memcpy(id, raw, sizeof(id));
        memcpy(&mtime, (const char *)raw + sizeof(id), sizeof(mtime));
        if (i == 0 && !id[0])
            return wfmpi_error_set(err, WFMPI_E_CORRUPT, "malformed key");
        if (!source_same(path, id, mtime, i == 0 ? main_fd : NULL))
            return wfmpi_error_set(err, WFMPI_E_STALE, "%s %s", path,
                                   id[0] ? "changed" : "appeared");
    }
    return 0;
}

/* ---------------------------------------------------------------- write */

struct writer {
    struct wfmpi_atomic_file f;
    struct wfmpi_sha256 *sha; /* over the body */
    size_t len;
    int rc;
    unsigned char buf[1 << 20];
};

static void w_flush(struct writer *w)
{
    if (!w->rc && w->len)
        w->rc = wfmpi_write_all(w->f.fd, w->buf, w->len);
    w->len = 0;
}

/* Body bytes: hashed, buffered, and written straight through when large. */
static void w_body(struct writer *w, const void *data, size_t len)
{
    if (w->rc || !len)
        return;
    w->rc = wfmpi_sha256_update(w->sha, data, len);
    if (w->len + len > sizeof(w->buf))
        w_flush(w);
    if (len >= sizeof(w->buf) / 2) {
        if (!w->rc)
            w->rc = wfmpi_write_all(w->f.fd, data, len);
        return;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

static int w_body_fn(void *ctx, const void *data, size_t len)
{
    struct writer *w = ctx;
    w_body(w, data, len);
    return w->rc;
}

static void meta_of(const struct wfmpi_plan *p, struct cache_meta *m)
{
    memset(m, 0, sizeof(*m)); /* padding too: the file is hashed */
    m->n_tasks = p->n_tasks;
    m->n_strs = p->n_strs;
    m->n_files = p->n_files;
    m->n_edges = p->n_edges;
    m->n_categories = p->n_categories;
    m->n_sources = p->n_sources;
    m->name = p->name;
    m->path = p->path;
    m->n_cp = p->n_cp;
    m->n_strings = wfmpi_strtab_count(p->strtab);
    m->stats = p->stats;
    memcpy(m->hash, p->hash, sizeof(m->hash));
}

/* Every section after the key, in order. */
static void w_sections(struct writer *w, const struct wfmpi_plan *p, const struct cache_meta *m)
{
    w_body(w, m, sizeof(*m));
    w_body(w, p->tasks, p->n_tasks * sizeof(*p->tasks));
    w_body(w, p->strs, p->n_strs * sizeof(*p->strs));
    w_body(w, p->files, p->n_files * sizeof(*p->files));
    w_body(w, p->edges_in, p->n_edges * sizeof(*p->edges_in));
    w_body(w, p->edges_out, p->n_edges * sizeof(*p->edges_out));
    w_body(w, p->categories, p->n_categories * sizeof(*p->categories));
    w_body(w, p->cp, p->n_cp * sizeof(*p->cp));
    w_body(w, p->sources, p->n_sources * sizeof(*p->sources));
    uint32_t n = wfmpi_strtab_count(p->strtab);
    for (uint32_t id = 1; id <= n; id++) {
        uint32_t len = wfmpi_strtab_len(p->strtab, id);
        w_body(w, &len, sizeof(len));
    }
    if (!w->rc)
        w->rc = wfmpi_strtab_write_data(p->strtab, w_body_fn, w);
}

/* Section lengths from the counts (the string data's is its own). Counts
 * are below 2^32, so none of this overflows. */
static void section_lengths(const struct cache_meta *m, uint64_t key_len, uint64_t data_len,
                            uint64_t len[SEC_N])
{
    len[SEC_KEY] = key_len;
    len[SEC_META] = sizeof(struct cache_meta);
    len[SEC_TASKS] = m->n_tasks * sizeof(struct wfmpi_plan_task);
    len[SEC_STRS] = m->n_strs * sizeof(uint32_t);
    len[SEC_FILES] = m->n_files * sizeof(struct wfmpi_plan_file);
    len[SEC_EDGES_IN] = len[SEC_EDGES_OUT] = m->n_edges * sizeof(uint32_t);
    len[SEC_CATEGORIES] = m->n_categories * sizeof(struct wfmpi_plan_category);
    len[SEC_CP] = (uint64_t)m->n_cp * sizeof(uint32_t);
    len[SEC_SOURCES] = m->n_sources * sizeof(struct wfmpi_plan_source);
    len[SEC_STR_LENS] = (uint64_t)m->n_strings * sizeof(uint32_t);
    len[SEC_STR_DATA] = data_len;
}

/* sha256 over the header up to key_sha, then the key. */
static int key_digest(const struct cache_header *h, const void *key, size_t len,
                      unsigned char out[WFMPI_SHA256_LEN])
{
    struct wfmpi_sha256 *s = wfmpi_sha256_create();
    if (!s)
        return -ENOMEM;
    int rc = wfmpi_sha256_update(s, h, offsetof(struct cache_header, key_sha));
    if (!rc)
        rc = wfmpi_sha256_update(s, key, len);
    if (!rc)
        rc = wfmpi_sha256_final(s, out);
    wfmpi_sha256_destroy(s);
    return rc;
}

/* Header placeholder, key, body, then the real header at offset 0. */
static int write_file(struct writer *w, struct cache_header *h, const struct wfmpi_buf *key,
                      const struct wfmpi_plan *p, const struct cache_meta *m)
{
    int rc = wfmpi_write_all(w->f.fd, h, sizeof(*h));
    if (!rc)
        rc = wfmpi_write_all(w->f.fd, key->data, key->len);
    if (rc)
        return rc;
    w_sections(w, p, m);
    w_flush(w);
    if (!w->rc)
        w->rc = wfmpi_sha256_final(w->sha, h->body_sha);
    if (!w->rc && pwrite(w->f.fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))
        w->rc = errno ? -errno : -EIO;
    return w->rc;
}

static int build_key(struct wfmpi_buf *key, const struct wfmpi_plan *p, const char *workflow,
                     const struct wfmpi_plan_options *opt)
{
    wfmpi_buf_init(key, CACHE_KEY_MAX);
    int rc = key_options(key, workflow, opt);
    return rc ? rc : key_sources(key, p);
}

int wfmpi_plan_cache_save(const struct wfmpi_plan *plan, const char *path, const char *workflow,
                          const struct wfmpi_plan_options *opt, struct wfmpi_error *err)
{
    if (!plan->n_sources || !plan->sources[0].present)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: the plan was not made from files", path);
    struct wfmpi_buf key;
    struct cache_header h;
    struct cache_meta m;
    header_init(&h);
    meta_of(plan, &m);
    int rc = build_key(&key, plan, workflow, opt);
    if (!rc) {
        section_lengths(&m, key.len, wfmpi_strtab_data_len(plan->strtab), h.len);
        rc = key_digest(&h, key.data, key.len, h.key_sha);
    }
    struct writer *w = rc ? NULL : calloc(1, sizeof(*w));
    if (!rc && (!w || !(w->sha = wfmpi_sha256_create())))
        rc = -ENOMEM;
    if (!rc && !(rc = wfmpi_atomic_open(&w->f, path))) {
        rc = write_file(w, &h, &key, plan, &m);
        if (rc)
            wfmpi_atomic_abort(&w->f);
        else
            rc = wfmpi_atomic_commit(&w->f);
    }
    if (w)
        wfmpi_sha256_destroy(w->sha);
    free(w);
    wfmpi_buf_fini(&key);
    return rc ? wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc)) : 0;
}

/* ----------------------------------------------------------------- read */

struct reader {
    int fd;
    struct wfmpi_sha256 *sha; /* over the body */
};

/* One body section into buf (len bytes), hashed. */
static int r_body(struct reader *r, void *buf, size_t len)
{
    if (!len)
        return 0;
    int rc = wfmpi_read_all(r->fd, buf, len);
    return rc ? rc : wfmpi_sha256_update(r->sha, buf, len);
}

static int r_body_fn(void *ctx, void *buf, size_t len)
{
    return r_body(ctx, buf, len);
}

/* A malloc'd section of n items of size bytes (at least one byte, so an
 * empty array is not NULL). */
static int r_array(struct reader *r, void **out, uint64_t n, size_t size)
{
    size_t bytes;
    if (n > SIZE_MAX || !wfmpi_mul_ok((size_t)n, size, &bytes))
        return WFMPI_E_CORRUPT;
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return -ENOMEM;
    return r_body(r, *out, bytes);
}

/* The header's fixed parts: ours, this format, this machine's layout. */
static int check_header(const struct cache_header *h, uint64_t file_size, struct wfmpi_error *err)
{
    struct cache_header want;
    header_init(&want);
    if (memcmp(h->magic, want.magic, sizeof(h->magic)) != 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "not a plan cache");
    if (h->byte_order != want.byte_order || memcmp(h->sizes, want.sizes, sizeof(h->sizes)) != 0)
        return wfmpi_error_set(err, WFMPI_E_VERSION, "written on a machine of another layout");
    if (h->format != want.format || memcmp(h->version, want.version, sizeof(h->version)) != 0)
        return wfmpi_error_set(err, WFMPI_E_VERSION, "format %u of wfmpi %.32s, not %u of %s",
                               h->format, h->version, want.format, WFMPI_VERSION);
    uint64_t total = sizeof(*h);
    for (int i = 0; i < SEC_N; i++) {
        if (__builtin_add_overflow(total, h->len[i], &total))
            return wfmpi_error_set(err, WFMPI_E_CORRUPT, "damaged header");
    }
    if (total != file_size)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "truncated: %llu bytes, the header says %llu",
                               (unsigned long long)file_size, (unsigned long long)total);
    if (h->len[SEC_KEY] > CACHE_KEY_MAX || h->len[SEC_META] != sizeof(struct cache_meta))
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "damaged header");
    return 0;
}

/* The header and the key section (*key, malloc'd), both checked. */
static int read_header_key(int fd, struct cache_header *h, unsigned char **key,
                           struct wfmpi_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return wfmpi_error_set(err, -errno, "%s", strerror(errno));
    if ((uint64_t)st.st_size < sizeof(*h) || wfmpi_read_all(fd, h, sizeof(*h)))
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "truncated header");
    int rc = check_header(h, (uint64_t)st.st_size, err);
    if (rc)
        return rc;
    if (!(*key = malloc(h->len[SEC_KEY] ? h->len[SEC_KEY] : 1)))
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    unsigned char sha[WFMPI_SHA256_LEN];
    rc = wfmpi_read_all(fd, *key, h->len[SEC_KEY]);
    if (!rc)
        rc = key_digest(h, *key, h->len[SEC_KEY], sha);
    if (!rc && memcmp(sha, h->key_sha, sizeof(sha)) != 0)
        rc = WFMPI_E_CORRUPT;
    if (rc)
        return wfmpi_error_set(err, rc, "key: %s",
                               rc == WFMPI_E_CORRUPT ? "checksum mismatch" : wfmpi_strerror(rc));
    return 0;
}

/* 0 when the key is this command's on unchanged files, with *main_fd open
 * on the workflow; WFMPI_E_STALE naming what differs. */
static int match_key(const unsigned char *key, size_t len, const char *workflow,
                     const struct wfmpi_plan_options *opt, int *main_fd, struct wfmpi_error *err)
{
    struct wfmpi_buf now;
    wfmpi_buf_init(&now, CACHE_KEY_MAX);
    int rc = key_options(&now, workflow, opt);
    if (rc)
        wfmpi_error_set(err, rc, "key: %s", wfmpi_strerror(rc));
    struct cursor c = {key, len, false};
    if (!rc)
        rc = compare_options(&c, &now, err);
    if (!rc)
        rc = compare_sources(&c, main_fd, err);
    wfmpi_buf_fini(&now);
    return rc;
}

/* Header and key: 0 when the cache is this command's on these files, with
 * *main_fd open on the workflow. */
static int read_key(int fd, struct cache_header *h, const char *workflow,
                    const struct wfmpi_plan_options *opt, int *main_fd, struct wfmpi_error *err)
{
    unsigned char *key = NULL;
    int rc = read_header_key(fd, h, &key, err);
    if (!rc)
        rc = match_key(key, h->len[SEC_KEY], workflow, opt, main_fd, err);
    free(key);
    return rc;
}

/* Section lengths that follow from the meta's counts. */
static bool lengths_match(const struct cache_header *h, const struct cache_meta *m)
{
    uint64_t want[SEC_N];
    if (m->n_tasks >= UINT32_MAX || m->n_strs > UINT32_MAX || m->n_files > UINT32_MAX ||
        m->n_edges > UINT32_MAX || m->n_categories > UINT32_MAX || m->n_sources > UINT32_MAX)
        return false;
    section_lengths(m, h->len[SEC_KEY], h->len[SEC_STR_DATA], want);
    return memcmp(want, h->len, sizeof(want)) == 0;
}

static int read_arrays(struct reader *r, struct wfmpi_plan *p, const struct cache_meta *m)
{
    int rc = r_array(r, (void **)&p->tasks, m->n_tasks, sizeof(*p->tasks));
    rc = rc ? rc : r_array(r, (void **)&p->strs, m->n_strs, sizeof(*p->strs));
    rc = rc ? rc : r_array(r, (void **)&p->files, m->n_files, sizeof(*p->files));
    rc = rc ? rc : r_array(r, (void **)&p->edges_in, m->n_edges, sizeof(*p->edges_in));
    rc = rc ? rc : r_array(r, (void **)&p->edges_out, m->n_edges, sizeof(*p->edges_out));
    rc = rc ? rc : r_array(r, (void **)&p->categories, m->n_categories, sizeof(*p->categories));
    rc = rc ? rc : r_array(r, (void **)&p->cp, m->n_cp, sizeof(*p->cp));
    rc = rc ? rc : r_array(r, (void **)&p->sources, m->n_sources, sizeof(*p->sources));
    p->n_tasks = p->cap_tasks = m->n_tasks;
    p->n_strs = p->cap_strs = m->n_strs;
    p->n_files = p->cap_files = m->n_files;
    p->n_edges = m->n_edges;
    p->n_categories = p->cap_categories = m->n_categories;
    p->n_cp = m->n_cp;
    p->n_sources = p->cap_sources = m->n_sources;
    return rc;
}

static int read_strings(struct reader *r, struct wfmpi_plan *p, const struct cache_meta *m,
                        uint64_t data_len)
{
    uint32_t *lens = NULL;
    int rc = r_array(r, (void **)&lens, m->n_strings, sizeof(*lens));
    if (!rc && data_len > SIZE_MAX)
        rc = WFMPI_E_CORRUPT;
    if (!rc)
        p->strtab = wfmpi_strtab_restore((size_t)data_len, lens, m->n_strings, r_body_fn, r, &rc);
    free(lens);
    return rc;
}

/* ------------------------------------------------------------- validate
 *
 * The checksums say the file is what was written; these checks make sure
 * that even a file that is not (crafted, or written by a broken build) can
 * make no index point outside its array. */

static bool range_ok(struct wfmpi_plan_range r, size_t n)
{
    return (uint64_t)r.first + r.count <= n;
}

static bool task_ok(const struct wfmpi_plan *p, const struct wfmpi_plan_task *t, uint32_t ns)
{
    const uint32_t ids[] = {t->transformation, t->exe,      t->stdin_path, t->stdout_path,
                            t->stderr_path,    t->category, t->successmsg, t->failuremsg,
                            t->container,      t->site,     t->pos.file};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (ids[i] > ns)
            return false;
    }
    return t->id && t->id <= ns && t->kind < WFMPI_PLAN_NKINDS && range_ok(t->argv, p->n_strs) &&
           range_ok(t->env, p->n_strs) && range_ok(t->files, p->n_files) &&
           range_ok(t->parents, p->n_edges) && range_ok(t->children, p->n_edges);
}

static bool ids_below(const uint32_t *a, size_t n, uint64_t limit)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] >= limit)
            return false;
    }
    return true;
}

static bool plan_ok(const struct wfmpi_plan *p)
{
    uint32_t ns = wfmpi_strtab_count(p->strtab);
    if (p->name > ns || p->path > ns)
        return false;
    for (size_t i = 0; i < p->n_tasks; i++) {
        if (!task_ok(p, &p->tasks[i], ns))
            return false;
    }
    for (size_t i = 0; i < p->n_files; i++) {
        const struct wfmpi_plan_file *f = &p->files[i];
        if (f->lfn > ns || f->pfn > ns || f->sha256 > ns)
            return false;
    }
    for (size_t i = 0; i < p->n_categories; i++) {
        if (p->categories[i].name > ns)
            return false;
    }
    for (size_t i = 0; i < p->n_sources; i++) {
        if (p->sources[i].path > ns)
            return false;
    }
    return ids_below(p->strs, p->n_strs, (uint64_t)ns + 1) &&
           ids_below(p->edges_in, p->n_edges, p->n_tasks) &&
           ids_below(p->edges_out, p->n_edges, p->n_tasks) && ids_below(p->cp, p->n_cp, p->n_tasks);
}

/* ----------------------------------------------------------------- load */

static int read_body(struct reader *r, struct wfmpi_plan *p, const struct cache_header *h)
{
    struct cache_meta m;
    int rc = r_body(r, &m, sizeof(m));
    if (!rc && !lengths_match(h, &m))
        rc = WFMPI_E_CORRUPT;
    if (!rc)
        rc = read_arrays(r, p, &m);
    if (!rc)
        rc = read_strings(r, p, &m, h->len[SEC_STR_DATA]);
    unsigned char sha[WFMPI_SHA256_LEN];
    if (!rc)
        rc = wfmpi_sha256_final(r->sha, sha);
    if (!rc && memcmp(sha, h->body_sha, sizeof(sha)) != 0)
        rc = WFMPI_E_CORRUPT;
    if (rc)
        return rc;
    p->name = m.name;
    p->path = m.path;
    p->stats = m.stats;
    memcpy(p->hash, m.hash, sizeof(p->hash));
    p->hash[WFMPI_SHA256_HEX_LEN - 1] = '\0';
    return plan_ok(p) ? 0 : WFMPI_E_CORRUPT;
}

/* The workflow text is read later from main_fd, as for a plan made from the
 * YAML (wfmpi_plan_text checks it is still the size and age planned). */
static int attach_source(struct wfmpi_plan *p, int main_fd)
{
    p->src = calloc(1, sizeof(*p->src));
    if (!p->src)
        return -ENOMEM;
    p->src->fd = main_fd;
    p->src->size = p->sources[0].size;
    p->src->mtime_ns = p->sources[0].mtime_ns;
    return 0;
}

static struct wfmpi_plan *load_plan(int fd, const struct cache_header *h, int main_fd,
                                    struct wfmpi_error *err)
{
    struct wfmpi_plan *p = calloc(1, sizeof(*p));
    struct reader r = {fd, wfmpi_sha256_create()};
    int rc = p && r.sha ? 0 : -ENOMEM;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!rc)
        rc = read_body(&r, p, h);
    if (!rc && (!p->n_sources || !p->sources[0].present))
        rc = WFMPI_E_CORRUPT;
    if (!rc && !(rc = attach_source(p, main_fd)))
        main_fd = -1; /* the plan's now */
    wfmpi_sha256_destroy(r.sha);
    if (main_fd >= 0)
        close(main_fd);
    if (rc) {
        wfmpi_error_set(err, rc, "%s",
                        rc == WFMPI_E_CORRUPT ? "damaged (checksum or contents)"
                                              : wfmpi_strerror(rc));
        wfmpi_plan_destroy(p);
        return NULL;
    }
    plan_fill_view(p);
    return p;
}

struct wfmpi_plan *wfmpi_plan_cache_load(const char *path, const char *workflow,
                                         const struct wfmpi_plan_options *opt,
                                         struct wfmpi_error *err)
{
    struct wfmpi_error local;
    if (!err)
        err = &local;
    wfmpi_error_clear(err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        wfmpi_error_set(err, -errno, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct cache_header h;
    int main_fd = -1;
    struct wfmpi_plan *p = NULL;
    if (read_key(fd, &h, workflow, opt, &main_fd, err) == 0)
        p = load_plan(fd, &h, main_fd, err);
    else if (main_fd >= 0)
        close(main_fd);
    close(fd);
    if (!p)
        wfmpi_error_prefix(err, "%s", path);
    return p;
}
