/* The output replica catalog (docs/staging.md): a Pegasus 5.0 replica
 * catalog that stage-out tasks update, one replica per line.
 *
 *     pegasus: "5.0"
 *     replicas:
 *       - {lfn: "a", pfns: [{site: "local", pfn: "file:///abs/a"}], checksum: {sha256: "..."}}
 *
 * YAML flow style with double-quoted strings: any YAML reader (Pegasus's,
 * wfmpi's loader, PyYAML) reads it, and wfmpi reads back exactly what it
 * wrote without a YAML parser (libyaml belongs to the wf module). A file in
 * any other shape is refused, never half-understood and rewritten: losing a
 * user's replicas would be worse than failing the stage-out.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "stage_int.h"

#define HEADER                                                                                     \
    "# Output replica catalog written by wfmpi stage-out: one replica a line; a new\n"             \
    "# registration of an lfn replaces its line.\n"                                                \
    "pegasus: \"5.0\"\n"

void stage_catalog_init(struct stage_catalog *c)
{
    memset(c, 0, sizeof(*c));
    wfmpi_arena_init(&c->arena);
}

void stage_catalog_fini(struct stage_catalog *c)
{
    free(c->r);
    wfmpi_arena_fini(&c->arena);
    memset(c, 0, sizeof(*c));
}

static char *keep(struct stage_catalog *c, const char *s)
{
    return s ? wfmpi_arena_strndup(&c->arena, s, strlen(s)) : NULL;
}

int stage_catalog_put(struct stage_catalog *c, const struct wfmpi_stage_replica *r)
{
    struct wfmpi_stage_replica e = {keep(c, r->lfn), keep(c, r->pfn),
                                    keep(c, r->site ? r->site : "local"),
                                    keep(c, r->sha256 ? r->sha256 : "")};
    if (!e.lfn || !e.pfn || !e.site || !e.sha256)
        return -ENOMEM;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->r[i].lfn, e.lfn) == 0) {
            c->r[i] = e;
            return 0;
        }
    }
    return WFMPI_PUSH(c->r, c->n, c->cap, e);
}

/* ------------------------------------------------------------ writing */

/* s as a YAML double-quoted scalar: '"' and '\' escaped, and every byte
 * YAML does not allow unescaped (controls, DEL) as \xHH. */
static int quote(struct wfmpi_buf *b, const char *s)
{
    int rc = wfmpi_buf_append(b, "\"", 1);
    for (; !rc && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            rc = wfmpi_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            rc = wfmpi_buf_printf(b, "\\x%02x", ch);
        else
            rc = wfmpi_buf_append(b, s, 1);
    }
    return rc ? rc : wfmpi_buf_append(b, "\"", 1);
}

int stage_catalog_format(const struct stage_catalog *c, struct wfmpi_buf *out)
{
    int rc = wfmpi_buf_printf(out, "%sreplicas:%s\n", HEADER, c->n ? "" : " []");
    for (size_t i = 0; !rc && i < c->n; i++) {
        const struct wfmpi_stage_replica *r = &c->r[i];
        rc = wfmpi_buf_printf(out, "  - {lfn: ");
        rc = rc ? rc : quote(out, r->lfn);
        rc = rc ? rc : wfmpi_buf_printf(out, ", pfns: [{site: ");
        rc = rc ? rc : quote(out, r->site);
        rc = rc ? rc : wfmpi_buf_printf(out, ", pfn: ");
        rc = rc ? rc : quote(out, r->pfn);
        rc = rc ? rc : wfmpi_buf_printf(out, "}]");
        if (!rc && r->sha256[0]) {
            rc = wfmpi_buf_printf(out, ", checksum: {sha256: ");
            rc = rc ? rc : quote(out, r->sha256);
            rc = rc ? rc : wfmpi_buf_printf(out, "}");
        }
        rc = rc ? rc : wfmpi_buf_printf(out, "}\n");
    }
    return rc;
}

/* ------------------------------------------------------------ reading */

struct cursor {
    const char *p, *end;
};

static bool lit(struct cursor *k, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(k->end - k->p) < n || memcmp(k->p, s, n) != 0)
        return false;
    k->p += n;
    return true;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* A double-quoted string as quote() writes it, into b (NUL-terminated). */
static bool unquote(struct cursor *k, struct wfmpi_buf *b)
{
    wfmpi_buf_reset(b);
    if (!lit(k, "\""))
        return false;
    while (k->p < k->end && *k->p != '"') {
        char ch = *k->p++;
        if (ch == '\\') {
            if (k->p < k->end && (*k->p == '"' || *k->p == '\\')) {
                ch = *k->p++;
            } else if (k->end - k->p >= 3 && k->p[0] == 'x' && hexval(k->p[1]) >= 0 &&
                       hexval(k->p[2]) >= 0) {
                ch = (char)(hexval(k->p[1]) * 16 + hexval(k->p[2]));
                k->p += 3;
            } else {
                return false;
            }
        }
        if (ch == '\0' || wfmpi_buf_append(b, &ch, 1))
            return false;
    }
    return lit(k, "\"") && wfmpi_buf_append(b, "", 0) == 0;
}

/* One "  - {...}" line into c. */
static bool entry(struct stage_catalog *c, struct cursor *k, struct wfmpi_buf *tmp)
{
    char *f[4] = {NULL, NULL, NULL, NULL}; /* lfn, site, pfn, sha256 */
    bool ok = lit(k, "  - {lfn: ") && unquote(k, tmp) && (f[0] = keep(c, tmp->data)) &&
              lit(k, ", pfns: [{site: ") && unquote(k, tmp) && (f[1] = keep(c, tmp->data)) &&
              lit(k, ", pfn: ") && unquote(k, tmp) && (f[2] = keep(c, tmp->data)) && lit(k, "}]");
    if (ok && lit(k, ", checksum: {sha256: "))
        ok = unquote(k, tmp) && (f[3] = keep(c, tmp->data)) && lit(k, "}");
    if (!ok || !lit(k, "}") || k->p != k->end)
        return false;
    struct wfmpi_stage_replica r = {f[0], f[2], f[1], f[3]};
    return stage_catalog_put(c, &r) == 0;
}

int stage_catalog_parse(struct stage_catalog *c, const char *text, size_t len, const char *name,
                        struct wfmpi_error *err)
{
    struct wfmpi_buf tmp;
    wfmpi_buf_init(&tmp, STAGE_CATALOG_MAX);
    bool version = false, list = false;
    unsigned line = 0;
    int rc = 0;
    for (const char *p = text, *end = text + len; p < end && !rc;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct cursor k = {p, nl ? nl : end};
        p = nl ? nl + 1 : end;
        line++;
        if (k.p < k.end && k.end[-1] == '\r')
            k.end--;
        if (k.p == k.end || k.p[0] == '#')
            continue;
        const char *why = NULL;
        if (!version) {
            version = lit(&k, "pegasus: \"5.0\"") && k.p == k.end;
            why = version ? NULL : "expected pegasus: \"5.0\"";
        } else if (!list) {
            list = lit(&k, "replicas:") && (k.p == k.end || (lit(&k, " []") && k.p == k.end));
            why = list ? NULL : "expected replicas:";
        } else if (!entry(c, &k, &tmp)) {
            why = "not a replica line as wfmpi stage-out writes them";
        }
        if (why)
            rc = wfmpi_error_set(err, WFMPI_E_CORRUPT,
                                 "%s:%u: %s; not a catalog wfmpi wrote, left unchanged", name, line,
                                 why);
    }
    wfmpi_buf_fini(&tmp);
    return rc;
}

/* ------------------------------------------------------------ update */

static int update(const char *catalog, const struct wfmpi_stage_replica *r, size_t n,
                  struct wfmpi_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(catalog, STAGE_CATALOG_MAX, &text, &len);
    if (rc == -ENOENT)
        rc = 0;
    else if (rc)
        return wfmpi_error_set(err, rc, "%s: %s", catalog, wfmpi_strerror(rc));
    struct stage_catalog c;
    stage_catalog_init(&c);
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, STAGE_CATALOG_MAX);
    rc = stage_catalog_parse(&c, text ? text : "", len, catalog, err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = stage_catalog_put(&c, &r[i]);
    if (!rc)
        rc = stage_catalog_format(&c, &out);
    if (!rc)
        rc = wfmpi_write_file_atomic(catalog, out.data, out.len);
    if (rc && rc != WFMPI_E_CORRUPT)
        wfmpi_error_set(err, rc, "%s: %s", catalog, wfmpi_strerror(rc));
    wfmpi_buf_fini(&out);
    stage_catalog_fini(&c);
    free(text);
    return rc;
}

/* The lock is a separate file: the catalog itself is replaced by rename,
 * and a lock on a file that gets replaced would lock nothing. */
int wfmpi_stage_register(const char *catalog, const struct wfmpi_stage_replica *r, size_t n,
                         struct wfmpi_error *err)
{
    char lockpath[PATH_MAX];
    if ((size_t)snprintf(lockpath, sizeof(lockpath), "%s.lock", catalog) >= sizeof(lockpath))
        return wfmpi_error_set(err, -ENAMETOOLONG, "%s: name too long", catalog);
    int rc = stage_make_parent(catalog);
    if (rc)
        return wfmpi_error_set(err, rc, "%s: %s", catalog, wfmpi_strerror(rc));
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return wfmpi_error_set(err, -errno, "%s: %s", lockpath, strerror(errno));
    while ((rc = flock(lock, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc)
        rc = wfmpi_error_set(err, -errno, "%s: flock: %s", lockpath, strerror(errno));
    else
        rc = update(catalog, r, n, err);
    close(lock); /* releases the lock */
    return rc;
}
