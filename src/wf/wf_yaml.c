/* libyaml event reader: bounded against hostile input, builds small trees.
 *
 * libyaml has no limits of its own, so every bound is enforced here as the
 * events come out: nesting depth on collection starts, scalar size on each
 * scalar (and, for a giant token still being scanned, in the read handler,
 * before libyaml has buffered all of it), and alias expansion by weighing
 * each alias with the number of nodes its anchor stands for.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wf_int.h"

/* libyaml reads ahead at most its raw + working buffers (~64 KiB) beyond the
 * token it is scanning; allow that much more before calling a token giant. */
#define WF_READ_SLACK ((size_t)256 * 1024)

/* A mapped workflow is released from memory in steps of this many bytes
 * behind the parser, so a 300 MB file never has 300 MB resident while the
 * model is being built (the pages come back from the page cache if the text
 * is read again, e.g. for the checkpoint). */
#define WF_DROP_STEP ((size_t)32 << 20)

static void drop_parsed(struct wf_reader *r)
{
    /* Keep the last step resident: libyaml may still be reading it. */
    if (!r->drop_behind || r->off < r->dropped + 2 * WF_DROP_STEP)
        return;
    size_t upto = (r->off - WF_DROP_STEP) & ~(WF_DROP_STEP - 1);
    if (upto <= r->dropped)
        return;
    void *start = (void *)(uintptr_t)(r->data + r->dropped);
    if (madvise(start, upto - r->dropped, MADV_DONTNEED) == 0)
        r->dropped = upto;
}

static int read_handler(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
    struct wf_reader *r = data;
    if (r->fed_since_event > WFMPI_WF_MAX_SCALAR_BYTES + WF_READ_SLACK) {
        r->too_long = true;
        return 0;
    }
    size_t n = r->len - r->off;
    if (n > size)
        n = size;
    memcpy(buffer, r->data + r->off, n);
    r->off += n;
    r->fed_since_event += n;
    *size_read = n;
    drop_parsed(r);
    return 1;
}

int wf_reader_init(struct wf_reader *r, const char *path, uint32_t file, const char *data,
                   size_t len, struct wfmpi_error *err)
{
    memset(r, 0, sizeof(*r));
    r->data = data;
    r->len = len;
    r->file = file;
    r->path = path;
    r->err = err;
    wf_pool_init(&r->item);
    wf_pool_init(&r->keep);
    if (!yaml_parser_initialize(&r->parser))
        return wfmpi_error_set(err, -ENOMEM, "%s: out of memory", path);
    r->parser_ok = true;
    yaml_parser_set_input(&r->parser, read_handler, r);
    return 0;
}

void wf_reader_fini(struct wf_reader *r)
{
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    if (r->parser_ok)
        yaml_parser_delete(&r->parser);
    wf_pool_fini(&r->item);
    wf_pool_fini(&r->keep);
    wfmpi_strtab_destroy(r->anchors);
    free(r->anchor_nodes);
    memset(r, 0, sizeof(*r));
}

int wf_reader_fail(struct wf_reader *r, uint32_t line, uint32_t col, int code, const char *fmt, ...)
{
    char msg[WFMPI_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wfmpi_error_set(r->err, code, "%s:%u:%u: %s", r->path, line, col, msg);
}

/* Line and column (0-based, columns in characters) of a byte offset. The
 * byte order mark is no column. libyaml also reads UTF-16 (with a BOM): there
 * a character is one 16-bit unit, or two for a surrogate pair. */
static yaml_mark_t offset_mark(const struct wf_reader *r, size_t offset)
{
    yaml_mark_t m = {0, 0, 0};
    if (offset > r->len)
        offset = r->len;
    const unsigned char *d = (const unsigned char *)r->data;
    yaml_encoding_t enc = r->parser.encoding;
    bool utf16 = enc == YAML_UTF16LE_ENCODING || enc == YAML_UTF16BE_ENCODING;
    size_t step = utf16 ? 2 : 1, i = 0;
    if (utf16 && r->len >= 2)
        i = 2;
    else if (!utf16 && r->len >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF)
        i = 3;
    for (; i + step <= offset; i += step) {
        unsigned ch = d[i];
        if (utf16)
            ch = enc == YAML_UTF16LE_ENCODING ? (d[i] | (unsigned)d[i + 1] << 8)
                                              : ((unsigned)d[i] << 8 | d[i + 1]);
        bool trailing = utf16 ? (ch >= 0xDC00 && ch <= 0xDFFF) : (ch & 0xC0) == 0x80;
        if (ch == '\n') {
            m.line++;
            m.column = 0;
        } else if (!trailing) {
            m.column++;
        }
    }
    m.index = offset;
    return m;
}

static int parse_error(struct wf_reader *r)
{
    yaml_parser_t *p = &r->parser;
    if (r->too_long)
        return wf_reader_fail(r, (uint32_t)p->mark.line + 1, (uint32_t)p->mark.column + 1,
                              WFMPI_E_LIMIT, "a scalar or token is longer than %zu bytes",
                              WFMPI_WF_MAX_SCALAR_BYTES);
    if (p->error == YAML_MEMORY_ERROR)
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory while parsing", r->path);
    /* Reader errors (bad UTF-8, control characters) carry a byte offset, not
     * a mark: the reader decodes ahead of the scanner. */
    yaml_mark_t m =
        p->error == YAML_READER_ERROR ? offset_mark(r, p->problem_offset) : p->problem_mark;
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->context)
        return wf_reader_fail(r, (uint32_t)m.line + 1, (uint32_t)m.column + 1, WFMPI_E_INPUT,
                              "YAML syntax error: %s %s", problem, p->context);
    return wf_reader_fail(r, (uint32_t)m.line + 1, (uint32_t)m.column + 1, WFMPI_E_INPUT,
                          "YAML syntax error: %s", problem);
}

static int check_event(struct wf_reader *r)
{
    const yaml_event_t *e = &r->ev;
    uint32_t line = (uint32_t)e->start_mark.line + 1, col = (uint32_t)e->start_mark.column + 1;
    switch (e->type) {
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (++r->depth > WFMPI_WF_MAX_DEPTH)
            return wf_reader_fail(r, line, col, WFMPI_E_LIMIT,
                                  "collections nested deeper than %d levels", WFMPI_WF_MAX_DEPTH);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        r->depth--;
        break;
    case YAML_SCALAR_EVENT:
        if (e->data.scalar.length > WFMPI_WF_MAX_SCALAR_BYTES)
            return wf_reader_fail(r, line, col, WFMPI_E_LIMIT, "scalar longer than %zu bytes",
                                  WFMPI_WF_MAX_SCALAR_BYTES);
        /* libyaml refuses a raw NUL and every invalid UTF-8 sequence, but a
         * double-quoted "\0", "\x00" or "\u0000" gives a NUL byte inside the
         * scalar. Every string of the model is a C string (argv, environment,
         * paths), which would end there without a word: refuse it instead. */
        if (memchr(e->data.scalar.value, '\0', e->data.scalar.length))
            return wf_reader_fail(r, line, col, WFMPI_E_INPUT,
                                  "a NUL character (\\0) in a string: an argument, a name or a "
                                  "value cannot hold one");
        break;
    default:
        break;
    }
    return 0;
}

const yaml_event_t *wf_peek(struct wf_reader *r)
{
    if (r->have_ev)
        return &r->ev;
    if (!yaml_parser_parse(&r->parser, &r->ev)) {
        parse_error(r);
        return NULL;
    }
    r->have_ev = true;
    r->fed_since_event = 0;
    if (check_event(r) < 0)
        return NULL;
    return &r->ev;
}

void wf_consume(struct wf_reader *r)
{
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = false;
    }
}

/* ------------------------------------------------------------ trees */

static int err_code(const struct wf_reader *r)
{
    return (r->err && r->err->code < 0) ? r->err->code : WFMPI_E_INTERNAL;
}

static struct wf_node *new_node(struct wf_reader *r, bool keep, const yaml_event_t *e,
                                enum wf_node_kind kind)
{
    struct wf_pool *p = keep ? &r->keep : &r->item;
    uint32_t line = (uint32_t)e->start_mark.line + 1, col = (uint32_t)e->start_mark.column + 1;
    if (p->nodes >= WF_MAX_TREE_NODES) {
        wf_reader_fail(r, line, col, WFMPI_E_LIMIT, "more than %zu YAML nodes in one item",
                       WF_MAX_TREE_NODES);
        return NULL;
    }
    struct wf_node *n = wf_pool_alloc(p, sizeof(*n));
    if (!n) {
        wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
        return NULL;
    }
    p->nodes++;
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t)kind;
    n->line = line;
    n->col = col;
    n->weight = 1;
    return n;
}

/* Intern an anchor name now (its node is registered when complete, so an
 * alias inside its own anchor is an unknown alias, never a cycle). */
static int anchor_id(struct wf_reader *r, const yaml_char_t *name, uint32_t *id)
{
    *id = 0;
    if (!name)
        return 0;
    if (!r->anchors && !(r->anchors = wfmpi_strtab_create()))
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
    *id = wfmpi_strtab_intern_cstr(r->anchors, (const char *)name);
    if (!*id || wfmpi_grow((void **)&r->anchor_nodes, &r->anchor_cap, (size_t)*id + 1,
                           sizeof(*r->anchor_nodes)) < 0)
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
    r->anchor_nodes[*id] = NULL;
    return 0;
}

static void anchor_set(struct wf_reader *r, uint32_t id, struct wf_node *n)
{
    if (id)
        r->anchor_nodes[id] = n;
}

static int build_scalar(struct wf_reader *r, bool keep, struct wf_node **out)
{
    const yaml_event_t *e = &r->ev;
    struct wf_node *n = new_node(r, keep || e->data.scalar.anchor, e, WF_NODE_SCALAR);
    if (!n)
        return err_code(r);
    struct wf_pool *p = (keep || e->data.scalar.anchor) ? &r->keep : &r->item;
    size_t len = e->data.scalar.length;
    char *text = wf_pool_alloc(p, len + 1);
    if (!text)
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
    memcpy(text, e->data.scalar.value, len);
    text[len] = '\0';
    n->text = text;
    n->len = (uint32_t)len;
    n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    uint32_t id;
    int rc = anchor_id(r, e->data.scalar.anchor, &id);
    if (rc < 0)
        return rc;
    anchor_set(r, id, n);
    wf_consume(r);
    *out = n;
    return 0;
}

static int build_alias(struct wf_reader *r, bool keep, struct wf_node **out)
{
    const yaml_event_t *e = &r->ev;
    const char *name = (const char *)e->data.alias.anchor;
    uint32_t id = r->anchors ? wfmpi_strtab_find(r->anchors, name, strlen(name)) : 0;
    uint32_t line = (uint32_t)e->start_mark.line + 1, col = (uint32_t)e->start_mark.column + 1;
    if (!id || !r->anchor_nodes[id])
        return wf_reader_fail(r, line, col, WFMPI_E_INPUT, "unknown alias '*%s'", name);
    struct wf_node *t = r->anchor_nodes[id];
    /* Billion laughs: charge the whole expansion, not the one alias node. */
    r->alias_nodes += t->weight;
    if (r->alias_nodes > WFMPI_WF_MAX_ALIAS_NODES)
        return wf_reader_fail(r, line, col, WFMPI_E_LIMIT, "aliases expand to more than %zu nodes",
                              WFMPI_WF_MAX_ALIAS_NODES);
    struct wf_node *n = new_node(r, keep, e, WF_NODE_ALIAS);
    if (!n)
        return err_code(r);
    n->target = t;
    n->weight = t->weight;
    wf_consume(r);
    *out = n;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct wf_node *x = *(const struct wf_node *const *)a;
    const struct wf_node *y = *(const struct wf_node *const *)b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int c = memcmp(x->text, y->text, x->len);
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : (x->col > y->col);
}

static bool same_key(const struct wf_node *a, const struct wf_node *b)
{
    return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

static int dup_key(struct wf_reader *r, const struct wf_node *first, const struct wf_node *again)
{
    return wf_reader_fail(r, again->line, again->col, WFMPI_E_INPUT,
                          "duplicate key '%s' (first at line %u)", again->text, first->line);
}

/* Keys must be scalars and unique. Small mappings (nearly all) compare
 * pairwise; large ones sort, so a hostile 10^6-key mapping stays n log n. */
static int check_keys(struct wf_reader *r, struct wf_pool *p, struct wf_node *map)
{
    size_t n = map->len / 2;
    if (n <= 16) {
        for (const struct wf_node *k = map->child; k; k = k->next->next)
            for (const struct wf_node *j = map->child; j != k; j = j->next->next)
                if (same_key(j, k))
                    return dup_key(r, j, k);
        return 0;
    }
    size_t bytes;
    if (!wfmpi_mul_ok(n, sizeof(struct wf_node *), &bytes))
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
    const struct wf_node **keys = wf_pool_alloc(p, bytes);
    if (!keys)
        return wfmpi_error_set(r->err, -ENOMEM, "%s: out of memory", r->path);
    size_t i = 0;
    for (const struct wf_node *k = map->child; k; k = k->next->next)
        keys[i++] = k;
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (i = 1; i < n; i++)
        if (same_key(keys[i - 1], keys[i]))
            return dup_key(r, keys[i - 1], keys[i]);
    return 0;
}

/* A key written as an alias stands for its (scalar) anchor. */
static int resolve_key(struct wf_reader *r, struct wf_node *k)
{
    const struct wf_node *t = wf_deref(k);
    if (t->kind != WF_NODE_SCALAR)
        return wf_reader_fail(r, k->line, k->col, WFMPI_E_INPUT,
                              "expected a scalar mapping key, found %s", wf_kind_name(t));
    if (wf_is_merge_key(t))
        return wf_reader_fail(r, k->line, k->col, WFMPI_E_INPUT,
                              "YAML merge keys ('<<') are not supported: write the keys out");
    if (t != k) {
        k->kind = WF_NODE_SCALAR;
        k->text = t->text;
        k->len = t->len;
        k->plain = t->plain;
    }
    return 0;
}

static int build_node(struct wf_reader *r, bool keep, struct wf_node **out);

static int build_children(struct wf_reader *r, bool keep, struct wf_node *n, yaml_event_type_t end)
{
    struct wf_node **tail = &n->child;
    bool is_map = n->kind == WF_NODE_MAP;
    for (;;) {
        const yaml_event_t *e = wf_peek(r);
        if (!e)
            return err_code(r);
        if (e->type == end)
            break;
        struct wf_node *child;
        int rc = build_node(r, keep, &child);
        if (rc < 0)
            return rc;
        if (is_map && (n->len % 2) == 0 && (rc = resolve_key(r, child)) < 0)
            return rc;
        *tail = child;
        tail = &child->next;
        n->len++;
        n->weight = n->weight + child->weight < n->weight ? UINT64_MAX : n->weight + child->weight;
    }
    wf_consume(r);
    return is_map ? check_keys(r, keep ? &r->keep : &r->item, n) : 0;
}

static int build_coll(struct wf_reader *r, bool keep, struct wf_node **out)
{
    const yaml_event_t *e = &r->ev;
    bool is_map = e->type == YAML_MAPPING_START_EVENT;
    const yaml_char_t *anchor =
        is_map ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
    /* Everything under an anchor may be needed by a later alias, after this
     * item's pool is reset: allocate it where it lives until the file ends. */
    keep = keep || anchor;
    struct wf_node *n = new_node(r, keep, e, is_map ? WF_NODE_MAP : WF_NODE_SEQ);
    if (!n)
        return err_code(r);
    uint32_t id;
    int rc = anchor_id(r, anchor, &id);
    if (rc < 0)
        return rc;
    wf_consume(r);
    rc = build_children(r, keep, n, is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT);
    if (rc < 0)
        return rc;
    anchor_set(r, id, n);
    *out = n;
    return 0;
}

static int build_node(struct wf_reader *r, bool keep, struct wf_node **out)
{
    const yaml_event_t *e = wf_peek(r);
    if (!e)
        return err_code(r);
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        return build_scalar(r, keep, out);
    case YAML_ALIAS_EVENT:
        return build_alias(r, keep, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return build_coll(r, keep, out);
    default:
        return wf_reader_fail(r, (uint32_t)e->start_mark.line + 1,
                              (uint32_t)e->start_mark.column + 1, WFMPI_E_INTERNAL,
                              "unexpected YAML event %d", (int)e->type);
    }
}

int wf_build(struct wf_reader *r, struct wf_node **out)
{
    return build_node(r, false, out);
}

/* ----------------------------------------------------------- node helpers */

/* YAML 1.1 merge keys would silently change meaning if read as plain keys,
 * so they are refused rather than ignored. */
bool wf_is_merge_key(const struct wf_node *n)
{
    return n->kind == WF_NODE_SCALAR && n->plain && n->len == 2 && !memcmp(n->text, "<<", 2);
}

bool wf_is_null(const struct wf_node *n)
{
    n = wf_deref(n);
    if (!n || n->kind != WF_NODE_SCALAR || !n->plain)
        return false;
    return n->len == 0 || !strcmp(n->text, "~") || !strcmp(n->text, "null") ||
           !strcmp(n->text, "Null") || !strcmp(n->text, "NULL");
}

const char *wf_kind_name(const struct wf_node *n)
{
    n = wf_deref(n);
    if (!n)
        return "nothing";
    switch (n->kind) {
    case WF_NODE_SEQ:
        return "a sequence";
    case WF_NODE_MAP:
        return "a mapping";
    default:
        return wf_is_null(n) ? "null" : "a scalar";
    }
}
