/* Document structure: which keys a workflow or catalog has, and streaming.
 *
 * The big sequences (jobs, jobDependencies, replicas, transformations, ...)
 * are read one item at a time: each item becomes a small tree, is converted,
 * and the item pool is reset. Everything else is small and built whole. A
 * streamed value written under an anchor, or as an alias, is built whole
 * instead (a later alias may need it), and walked by the same tables.
 */
#include <stdlib.h>
#include <string.h>

#include "wf_int.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

typedef int wf_node_fn(struct wf_ctx *c, const struct wf_node *n);

enum how {
    K_TREE, /* build the value, call fn on it */
    K_SEQ, /* stream a sequence, call fn per item */
    K_MAP, /* a nested mapping with its own table; null is accepted */
};

struct table;

struct key_spec {
    const char *name;
    uint8_t how;
    bool required;
    bool nonempty; /* K_SEQ: at least one item */
    wf_node_fn *fn;
    const struct table *sub;
};

struct table {
    const char *what;
    const struct key_spec *keys;
    size_t n;
    /* The schema allows no other keys here (x- aside): an unknown one is an
     * error even when the load is not strict. Only the workflow's top level:
     * the catalogs' top levels (inline or files) take additional keys. */
    bool closed;
};

/* --------------------------------------------------------------- handlers */

static int on_wf_pegasus(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_check_version(c, n, &c->wf->view.pegasus_version);
}

static int on_cat_pegasus(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_check_version(c, n, NULL);
}

static int on_name(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_get_str(c, "name", n, &c->wf->view.name);
}

static int on_version(struct wf_ctx *c, const struct wf_node *n)
{
    uint32_t id;
    return wf_get_str(c, "version", n, &id);
}

static int on_profiles(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_conv_profiles(c, n, &c->wf->view.profiles);
}

static int on_metadata(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_conv_metadata(c, n, &c->wf->view.metadata);
}

static int on_hooks(struct wf_ctx *c, const struct wf_node *n)
{
    return wf_conv_hooks(c, n, &c->wf->view.hooks);
}

/* The hosted site catalog of `siteCatalog: {$ref: URL}` is not fetched: the
 * run happens inside one allocation, whose sites come from local catalogs. */
static int on_ref(struct wf_ctx *c, const struct wf_node *n)
{
    uint32_t id;
    int rc = wf_get_str(c, "$ref", n, &id);
    if (rc == 0)
        wfmpi_debug("%s:%u:%u: site catalog reference '%s' ignored", c->r->path, n->line, n->col,
                    wfmpi_strtab_str(c->wf->strtab, id));
    return rc;
}

/* ----------------------------------------------------------------- tables */

static const struct key_spec rc_keys[] = {
    {"pegasus", K_TREE, false, false, on_cat_pegasus, NULL},
    {"replicas", K_SEQ, false, false, wf_conv_replica, NULL},
};
static const struct table rc_table = {"replica catalog", rc_keys, N_OF(rc_keys), false};

static const struct key_spec tc_keys[] = {
    {"pegasus", K_TREE, false, false, on_cat_pegasus, NULL},
    {"transformations", K_SEQ, false, false, wf_conv_transformation, NULL},
    {"containers", K_SEQ, false, false, wf_conv_container, NULL},
};
static const struct table tc_table = {"transformation catalog", tc_keys, N_OF(tc_keys), false};

static const struct key_spec sc_keys[] = {
    {"pegasus", K_TREE, false, false, on_cat_pegasus, NULL},
    {"sites", K_SEQ, false, false, wf_conv_site, NULL},
    {"$ref", K_TREE, false, false, on_ref, NULL},
};
static const struct table sc_table = {"site catalog", sc_keys, N_OF(sc_keys), false};

static const struct key_spec wf_keys[] = {
    {"pegasus", K_TREE, true, false, on_wf_pegasus, NULL},
    {"name", K_TREE, true, false, on_name, NULL},
    {"version", K_TREE, false, false, on_version, NULL},
    {"jobs", K_SEQ, true, true, wf_conv_job, NULL},
    {"jobDependencies", K_SEQ, false, false, wf_conv_dep, NULL},
    {"profiles", K_TREE, false, false, on_profiles, NULL},
    {"metadata", K_TREE, false, false, on_metadata, NULL},
    {"hooks", K_TREE, false, false, on_hooks, NULL},
    {"replicaCatalog", K_MAP, false, false, NULL, &rc_table},
    {"transformationCatalog", K_MAP, false, false, NULL, &tc_table},
    {"siteCatalog", K_MAP, false, false, NULL, &sc_table},
};
static const struct table wf_table = {"workflow", wf_keys, N_OF(wf_keys), true};

static const struct table *doc_table(enum wf_doc doc)
{
    switch (doc) {
    case WF_DOC_RC:
        return &rc_table;
    case WF_DOC_TC:
        return &tc_table;
    case WF_DOC_SC:
        return &sc_table;
    default:
        return &wf_table;
    }
}

static const struct key_spec *find_key(const struct table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->keys[i].name, name))
            return &t->keys[i];
    return NULL;
}

/* A key that is none of the table's. */
static int table_unknown(struct wf_ctx *c, const struct table *t, const struct wf_node *key)
{
    const char *names[16];
    size_t n = t->n < N_OF(names) ? t->n : N_OF(names);
    for (size_t i = 0; i < n; i++)
        names[i] = t->keys[i].name;
    return wf_unknown_key(c, t->what, key, names, n, t->closed);
}

static int err_code(const struct wf_ctx *c)
{
    return (c->err && c->err->code < 0) ? c->err->code : WFMPI_E_INTERNAL;
}

static int check_nonempty(struct wf_ctx *c, const struct key_spec *k, uint32_t before,
                          uint32_t line, uint32_t col)
{
    if (!k->nonempty || c->wf->view.n_jobs > before)
        return 0;
    return wf_reader_fail(c->r, line, col, WFMPI_E_INPUT,
                          "'%s' is empty: a workflow needs at least one job", k->name);
}

static int check_required(struct wf_ctx *c, const struct table *t, const bool *seen, uint32_t line,
                          uint32_t col)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->keys[i].required && !seen[i])
            return wf_reader_fail(c->r, line, col, WFMPI_E_INPUT, "missing required key '%s' in %s",
                                  t->keys[i].name, t->what);
    return 0;
}

/* ------------------------------------------------------------- tree walk */

static int tree_map(struct wf_ctx *c, const struct table *t, const struct wf_node *n);

static int tree_value(struct wf_ctx *c, const struct key_spec *k, const struct wf_node *v)
{
    switch (k->how) {
    case K_SEQ: {
        const struct wf_node *seq = wf_get_seq(c, k->name, v);
        if (!seq)
            return WFMPI_E_INPUT;
        uint32_t before = c->wf->view.n_jobs;
        for (const struct wf_node *it = seq->child; it; it = it->next) {
            int rc = k->fn(c, it);
            if (rc < 0)
                return rc;
        }
        return check_nonempty(c, k, before, v->line, v->col);
    }
    case K_MAP:
        return wf_is_null(v) ? 0 : tree_map(c, k->sub, v);
    default:
        return k->fn(c, v);
    }
}

static int tree_map(struct wf_ctx *c, const struct table *t, const struct wf_node *n)
{
    const struct wf_node *map = wf_get_map(c, t->what, n);
    if (!map)
        return WFMPI_E_INPUT;
    bool seen[16] = {false};
    for (const struct wf_node *key = map->child; key; key = key->next->next) {
        const struct key_spec *k = find_key(t, key->text);
        if (!k) {
            if (table_unknown(c, t, key) < 0)
                return WFMPI_E_INPUT;
            continue;
        }
        seen[k - t->keys] = true;
        int rc = tree_value(c, k, key->next);
        if (rc < 0)
            return rc;
    }
    return check_required(c, t, seen, map->line, map->col);
}

/* -------------------------------------------------------------- streaming */

static int stream_map(struct wf_ctx *c, const struct table *t);

static int stream_seq(struct wf_ctx *c, const struct key_spec *k)
{
    struct wf_reader *r = c->r;
    uint32_t line = (uint32_t)r->ev.start_mark.line + 1,
             col = (uint32_t)r->ev.start_mark.column + 1;
    uint32_t before = c->wf->view.n_jobs;
    wf_consume(r);
    for (;;) {
        const yaml_event_t *e = wf_peek(r);
        if (!e)
            return err_code(c);
        if (e->type == YAML_SEQUENCE_END_EVENT)
            break;
        struct wf_node *item;
        int rc = wf_build(r, &item);
        if (rc == 0)
            rc = k->fn(c, item);
        wf_pool_reset(&r->item);
        if (rc < 0)
            return rc;
    }
    wf_consume(r);
    return check_nonempty(c, k, before, line, col);
}

/* The value of a known key at a streamed level. */
static int stream_value(struct wf_ctx *c, const struct key_spec *k)
{
    struct wf_reader *r = c->r;
    const yaml_event_t *e = wf_peek(r);
    if (!e)
        return err_code(c);
    if (k->how == K_SEQ && e->type == YAML_SEQUENCE_START_EVENT && !e->data.sequence_start.anchor)
        return stream_seq(c, k);
    if (k->how == K_MAP && e->type == YAML_MAPPING_START_EVENT && !e->data.mapping_start.anchor)
        return stream_map(c, k->sub);
    struct wf_node *v;
    int rc = wf_build(r, &v);
    if (rc == 0)
        rc = tree_value(c, k, v);
    return rc;
}

/* Unknown keys at a streamed level: remembered by name so that a duplicate
 * is still caught, in a table made only when one shows up. */
struct unknown_keys {
    struct wfmpi_strtab *names;
    uint32_t *lines;
    size_t cap;
};

static int stream_unknown(struct wf_ctx *c, const struct table *t, struct unknown_keys *u,
                          const struct wf_node *key)
{
    if (!u->names && !(u->names = wfmpi_strtab_create()))
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    uint32_t before = wfmpi_strtab_count(u->names);
    uint32_t id = wfmpi_strtab_intern(u->names, key->text, key->len);
    if (!id || wfmpi_grow((void **)&u->lines, &u->cap, (size_t)id + 1, sizeof(*u->lines)) < 0)
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    if (id <= before)
        return wf_fail(c, key, "duplicate key '%s' (first at line %u)", key->text, u->lines[id]);
    u->lines[id] = key->line;
    if (table_unknown(c, t, key) < 0)
        return WFMPI_E_INPUT;
    struct wf_node *v;
    return wf_build(c->r, &v);
}

static int stream_key(struct wf_ctx *c, const struct table *t, bool *seen, uint32_t *lines,
                      struct unknown_keys *u)
{
    struct wf_node *key;
    int rc = wf_build(c->r, &key);
    if (rc < 0)
        return rc;
    /* Keys of a streamed mapping are checked here, not by the tree builder;
     * an alias key stands for its scalar anchor. */
    const struct wf_node *kt = wf_deref(key);
    if (kt->kind != WF_NODE_SCALAR)
        return wf_fail(c, key, "expected a scalar mapping key, found %s", wf_kind_name(key));
    if (wf_is_merge_key(kt))
        return wf_fail(c, key, "YAML merge keys ('<<') are not supported: write the keys out");
    key->text = kt->text;
    key->len = kt->len;
    const struct key_spec *k = find_key(t, key->text);
    if (!k)
        return stream_unknown(c, t, u, key);
    size_t i = (size_t)(k - t->keys);
    if (seen[i])
        return wf_fail(c, key, "duplicate key '%s' (first at line %u)", key->text, lines[i]);
    seen[i] = true;
    lines[i] = key->line;
    /* The key node dies with the item pool while the value streams. */
    return stream_value(c, k);
}

static int stream_map(struct wf_ctx *c, const struct table *t)
{
    struct wf_reader *r = c->r;
    uint32_t line = (uint32_t)r->ev.start_mark.line + 1,
             col = (uint32_t)r->ev.start_mark.column + 1;
    bool seen[16] = {false};
    uint32_t lines[16] = {0};
    struct unknown_keys u = {0};
    int rc = 0;
    wf_consume(r);
    for (;;) {
        const yaml_event_t *e = wf_peek(r);
        if (!e) {
            rc = err_code(c);
            break;
        }
        if (e->type == YAML_MAPPING_END_EVENT) {
            wf_consume(r);
            rc = check_required(c, t, seen, line, col);
            break;
        }
        rc = stream_key(c, t, seen, lines, &u);
        wf_pool_reset(&r->item);
        if (rc < 0)
            break;
    }
    wfmpi_strtab_destroy(u.names);
    free(u.lines);
    return rc;
}

/* ---------------------------------------------------------------- document */

static int expect(struct wf_ctx *c, yaml_event_type_t type, const char *what)
{
    const yaml_event_t *e = wf_peek(c->r);
    if (!e)
        return err_code(c);
    if (e->type != type)
        return wf_reader_fail(c->r, (uint32_t)e->start_mark.line + 1,
                              (uint32_t)e->start_mark.column + 1, WFMPI_E_INPUT, "expected %s",
                              what);
    wf_consume(c->r);
    return 0;
}

static int parse_body(struct wf_ctx *c, enum wf_doc doc)
{
    const struct table *t = doc_table(doc);
    const yaml_event_t *e = wf_peek(c->r);
    if (!e)
        return err_code(c);
    if (e->type == YAML_MAPPING_START_EVENT && !e->data.mapping_start.anchor)
        return stream_map(c, t);
    struct wf_node *n;
    int rc = wf_build(c->r, &n);
    if (rc < 0)
        return rc;
    if (wf_is_null(n))
        return wf_fail(c, n, "empty document (expected the %s as a mapping)", t->what);
    if (wf_deref(n)->kind != WF_NODE_MAP)
        return wf_fail(c, n, "expected a mapping at the top level, found %s", wf_kind_name(n));
    rc = tree_map(c, t, n);
    wf_pool_reset(&c->r->item);
    return rc;
}

int wf_parse_document(struct wf_ctx *c, enum wf_doc doc)
{
    int rc = expect(c, YAML_STREAM_START_EVENT, "the start of a YAML stream");
    if (rc < 0)
        return rc;
    const yaml_event_t *e = wf_peek(c->r);
    if (!e)
        return err_code(c);
    if (e->type == YAML_STREAM_END_EVENT)
        return wf_reader_fail(
            c->r, (uint32_t)e->start_mark.line + 1, (uint32_t)e->start_mark.column + 1,
            WFMPI_E_INPUT, "empty file (expected the %s as a YAML mapping)", doc_table(doc)->what);
    if ((rc = expect(c, YAML_DOCUMENT_START_EVENT, "a YAML document")) < 0 ||
        (rc = parse_body(c, doc)) < 0 ||
        (rc = expect(c, YAML_DOCUMENT_END_EVENT, "the end of the YAML document")) < 0)
        return rc;
    if (!(e = wf_peek(c->r)))
        return err_code(c);
    if (e->type == YAML_DOCUMENT_START_EVENT)
        return wf_reader_fail(c->r, (uint32_t)e->start_mark.line + 1,
                              (uint32_t)e->start_mark.column + 1, WFMPI_E_INPUT,
                              "a second YAML document: a file holds exactly one %s",
                              doc_table(doc)->what);
    return expect(c, YAML_STREAM_END_EVENT, "the end of the YAML stream");
}
