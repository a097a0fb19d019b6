/* Typed access to YAML values and the sub-objects every record shares:
 * profiles, metadata, hooks, string lists, checksums, versions. */
#include <stdlib.h>
#include <string.h>

#include "wf_int.h"

int wf_fail(struct wf_ctx *c, const struct wf_node *n, const char *fmt, ...)
{
    char msg[WFMPI_ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return wfmpi_error_set(c->err, WFMPI_E_INPUT, "%s:%u:%u: %s", c->r->path, n ? n->line : 1,
                           n ? n->col : 1, msg);
}

struct wfmpi_wf_pos wf_pos(const struct wf_ctx *c, const struct wf_node *n)
{
    struct wfmpi_wf_pos p = {c->r->file, n->line, n->col};
    return p;
}

uint32_t wf_intern(struct wf_ctx *c, const char *s, size_t len)
{
    uint32_t id = wfmpi_strtab_intern(c->wf->strtab, s, len);
    if (!id)
        wfmpi_error_set(c->err, -ENOMEM, "%s: out of memory", c->r->path);
    return id;
}

bool wf_key_is(const struct wf_node *key, const char *name)
{
    return strcmp(key->text, name) == 0;
}

/* A key is quoted in messages up to this many bytes: a hostile 16 MB key
 * must not become a 16 MB warning. */
#define WF_KEY_QUOTE_MAX 64

int wf_unknown_key(struct wf_ctx *c, const char *what, const struct wf_node *key,
                   const char *const *names, size_t n, bool closed)
{
    /* x- keys are the schema's vendor extensions, allowed in every object. */
    if (strncmp(key->text, "x-", 2) == 0)
        return 0;
    /* A generated workflow repeats its misspelling in every job: the first
     * few say it, the rest are only counted (wf_load.c reports the count),
     * without the cost of a suggestion each. */
    bool refuse = closed || c->wf->strict;
    if (!refuse && ++c->wf->n_unknown_keys > WF_MAX_KEY_WARNINGS)
        return 0;
    const char *near = wfmpi_suggest(key->text, names, n);
    char text[WF_KEY_QUOTE_MAX + 160];
    snprintf(text, sizeof(text), "unknown key '%.*s%s' in %s%s%s%s", WF_KEY_QUOTE_MAX, key->text,
             key->len > WF_KEY_QUOTE_MAX ? "..." : "", what, near ? "; did you mean '" : "",
             near ? near : "", near ? "'?" : "");
    /* A catalog's own keys at a workflow's top level: a catalog file given
     * where the workflow goes. */
    static const char *const catalog_keys[] = {"replicas", "transformations", "containers",
                                               "sites"};
    for (size_t i = 0; closed && i < sizeof(catalog_keys) / sizeof(catalog_keys[0]); i++)
        if (!strcmp(key->text, catalog_keys[i]))
            return wf_fail(c, key,
                           "%s: is this a catalog file? Catalogs go beside the workflow "
                           "(replicas.yml, transformations.yml, sites.yml), inline, or to "
                           "--rc/--tc/--sc",
                           text);
    if (closed)
        return wf_fail(c, key,
                       "%s (only Pegasus 5.0 keys and x- extensions are allowed at the top level)",
                       text);
    if (refuse)
        return wf_fail(c, key, "%s", text);
    wfmpi_warn("%s:%u:%u: %s (ignored)", c->r->path, key->line, key->col, text);
    return 0;
}

const struct wf_node *wf_collect(struct wf_ctx *c, const char *what, const struct wf_node *n,
                                 const char *const *names, size_t n_names,
                                 const struct wf_node **vals)
{
    const struct wf_node *map = wf_get_map(c, what, n);
    if (!map)
        return NULL;
    for (size_t i = 0; i < n_names; i++)
        vals[i] = NULL;
    for (const struct wf_node *k = map->child; k; k = k->next->next) {
        size_t i = 0;
        while (i < n_names && strcmp(k->text, names[i]) != 0)
            i++;
        if (i < n_names)
            vals[i] = k->next;
        else if (wf_unknown_key(c, what, k, names, n_names, false) < 0)
            return NULL;
    }
    return map;
}

int wf_missing(struct wf_ctx *c, const struct wf_node *map, const char *key, const char *what)
{
    return wf_fail(c, map, "missing required key '%s' in %s", key, what);
}

int wf_get_str(struct wf_ctx *c, const char *what, const struct wf_node *n, uint32_t *out)
{
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_SCALAR || wf_is_null(t))
        return wf_fail(c, n, "expected a string for '%s', found %s", what, wf_kind_name(t));
    *out = wf_intern(c, t->text, t->len);
    return *out ? 0 : -ENOMEM;
}

/* YAML 1.1 booleans, as the Python and Java YAML libraries behind Pegasus
 * read them; anything else (including a quoted "true") is an error. */
int wf_get_bool(struct wf_ctx *c, const char *what, const struct wf_node *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    const struct wf_node *t = wf_deref(n);
    if (t->kind == WF_NODE_SCALAR && t->plain) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (!strcmp(t->text, yes[i])) {
                *out = true;
                return 0;
            }
            if (!strcmp(t->text, no[i])) {
                *out = false;
                return 0;
            }
        }
    }
    if (t->kind == WF_NODE_SCALAR)
        return wf_fail(c, n, "expected a boolean (true or false) for '%s', found '%s'", what,
                       t->text);
    return wf_fail(c, n, "expected a boolean (true or false) for '%s', found %s", what,
                   wf_kind_name(t));
}

int wf_get_u64(struct wf_ctx *c, const char *what, const struct wf_node *n, uint64_t *out)
{
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_SCALAR || t->len == 0 || t->len > 20)
        goto bad;
    uint64_t v = 0;
    for (uint32_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned char)t->text[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            goto bad;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
bad:
    if (t->kind == WF_NODE_SCALAR)
        return wf_fail(c, n, "expected a non-negative integer for '%s', found '%s'", what, t->text);
    return wf_fail(c, n, "expected a non-negative integer for '%s', found %s", what,
                   wf_kind_name(t));
}

const struct wf_node *wf_get_seq(struct wf_ctx *c, const char *what, const struct wf_node *n)
{
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_SEQ) {
        wf_fail(c, n, "expected a sequence for '%s', found %s", what, wf_kind_name(t));
        return NULL;
    }
    return t;
}

const struct wf_node *wf_get_map(struct wf_ctx *c, const char *what, const struct wf_node *n)
{
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_MAP) {
        wf_fail(c, n, "expected a mapping for '%s', found %s", what, wf_kind_name(t));
        return NULL;
    }
    return t;
}

/* --------------------------------------------------------------- records */

static int push_profile(struct wf_ctx *c, uint32_t ns, const struct wf_node *key,
                        const struct wf_node *val)
{
    struct wfmpi_wf *wf = c->wf;
    const struct wf_node *t = wf_deref(val);
    if (t->kind != WF_NODE_SCALAR || wf_is_null(t))
        return wf_fail(c, val, "expected a string or number for '%s', found %s", key->text,
                       wf_kind_name(t));
    struct wfmpi_wf_profile p = {ns, wf_intern(c, key->text, key->len), 0, wf_pos(c, val)};
    if (!p.key || !(p.value = wf_intern(c, t->text, t->len)))
        return -ENOMEM;
    if (WFMPI_PUSH(wf->profiles, wf->view.n_profiles_all, wf->profiles_cap, p) < 0)
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

/* An env profile key is the NAME of NAME=value in a task's environment: an
 * '=' in it would move part of the name into the value, an empty one names
 * nothing, and the schema (common.yml, profiles.env) allows only letters,
 * digits, '_', '.' and '-'. Values may hold anything but NUL. */
static int check_env_name(struct wf_ctx *c, const struct wf_node *k)
{
    if (k->len == 0)
        return wf_fail(c, k, "empty environment variable name in an env profile");
    if (memchr(k->text, '=', k->len))
        return wf_fail(c, k,
                       "invalid environment variable name '%s' in an env profile: '=' would "
                       "end the name there",
                       k->text);
    for (uint32_t i = 0; i < k->len; i++) {
        char ch = k->text[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '_' || ch == '.' || ch == '-'))
            return wf_fail(c, k,
                           "invalid environment variable name '%s' in an env profile (only "
                           "letters, digits, '_', '.' and '-' are allowed)",
                           k->text);
    }
    return 0;
}

/* key: value pairs of one namespace (or metadata, ns = 0). */
static int conv_pairs(struct wf_ctx *c, uint32_t ns, bool env, const char *what,
                      const struct wf_node *n)
{
    const struct wf_node *map = wf_get_map(c, what, n);
    if (!map)
        return WFMPI_E_INPUT;
    for (const struct wf_node *k = map->child; k; k = k->next->next) {
        if (strncmp(k->text, "x-", 2) == 0)
            continue;
        if (env && check_env_name(c, k) < 0)
            return WFMPI_E_INPUT;
        int rc = push_profile(c, ns, k, k->next);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const char *const namespaces[] = {"env",     "condor", "globus",  "dagman",
                                         "pegasus", "hints",  "selector"};

static bool known_namespace(const char *ns)
{
    for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++)
        if (!strcmp(ns, namespaces[i]))
            return true;
    return false;
}

int wf_conv_profiles(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_profiles_all;
    const struct wf_node *map = wf_get_map(c, "profiles", n);
    if (!map)
        return WFMPI_E_INPUT;
    for (const struct wf_node *k = map->child; k; k = k->next->next) {
        if (!known_namespace(k->text)) {
            if (wf_unknown_key(c, "profiles", k, namespaces,
                               sizeof(namespaces) / sizeof(namespaces[0]), false) < 0)
                return WFMPI_E_INPUT;
            continue;
        }
        uint32_t ns = wf_intern(c, k->text, k->len);
        if (!ns)
            return -ENOMEM;
        int rc = conv_pairs(c, ns, !strcmp(k->text, "env"), k->text, k->next);
        if (rc < 0)
            return rc;
    }
    out->count = c->wf->view.n_profiles_all - out->first;
    return 0;
}

int wf_conv_metadata(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_profiles_all;
    int rc = conv_pairs(c, 0, false, "metadata", n);
    out->count = c->wf->view.n_profiles_all - out->first;
    return rc;
}

static int conv_hook(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const events[] = {"never", "start", "error", "success", "end", "all"};
    static const char *const keys[] = {"_on", "cmd"};
    const struct wf_node *v[2];
    const struct wf_node *map = wf_collect(c, "shell hook", n, keys, 2, v);
    if (!map)
        return WFMPI_E_INPUT;
    const struct wf_node *on = v[0], *cmd = v[1];
    if (!on)
        return wf_missing(c, map, "_on", "a shell hook");
    if (!cmd)
        return wf_missing(c, map, "cmd", "a shell hook");
    struct wfmpi_wf_hook h = {0, 0, wf_pos(c, map)};
    int rc = wf_get_str(c, "_on", on, &h.on);
    if (rc == 0)
        rc = wf_get_str(c, "cmd", cmd, &h.cmd);
    if (rc < 0)
        return rc;
    const char *ev = wfmpi_strtab_str(c->wf->strtab, h.on);
    size_t i = 0;
    while (i < sizeof(events) / sizeof(events[0]) && strcmp(ev, events[i]))
        i++;
    if (i == sizeof(events) / sizeof(events[0]))
        return wf_fail(c, on,
                       "unknown hook event '%s' (expected never, start, error, success, end "
                       "or all)",
                       ev);
    if (WFMPI_PUSH(c->wf->hooks, c->wf->view.n_hooks_all, c->wf->hooks_cap, h) < 0)
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

int wf_conv_hooks(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_hooks_all;
    const struct wf_node *map = wf_get_map(c, "hooks", n);
    if (!map)
        return WFMPI_E_INPUT;
    static const char *const keys[] = {"shell"};
    for (const struct wf_node *k = map->child; k; k = k->next->next) {
        if (!wf_key_is(k, "shell")) {
            if (wf_unknown_key(c, "hooks", k, keys, 1, false) < 0)
                return WFMPI_E_INPUT;
            continue;
        }
        const struct wf_node *seq = wf_get_seq(c, "shell", k->next);
        if (!seq)
            return WFMPI_E_INPUT;
        for (const struct wf_node *h = seq->child; h; h = h->next) {
            int rc = conv_hook(c, h);
            if (rc < 0)
                return rc;
        }
    }
    out->count = c->wf->view.n_hooks_all - out->first;
    return 0;
}

int wf_conv_str_list(struct wf_ctx *c, const char *what, const struct wf_node *n,
                     struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_strs;
    const struct wf_node *seq = wf_get_seq(c, what, n);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *s = seq->child; s; s = s->next) {
        uint32_t id;
        int rc = wf_get_str(c, what, s, &id);
        if (rc < 0)
            return rc;
        if (WFMPI_PUSH(c->wf->strs, c->wf->view.n_strs, c->wf->strs_cap, id) < 0)
            return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    }
    out->count = c->wf->view.n_strs - out->first;
    return 0;
}

int wf_conv_checksum(struct wf_ctx *c, const struct wf_node *n, uint32_t *sha256,
                     struct wfmpi_wf_pos *pos)
{
    const struct wf_node *map = wf_get_map(c, "checksum", n);
    if (!map)
        return WFMPI_E_INPUT;
    static const char *const keys[] = {"sha256"};
    for (const struct wf_node *k = map->child; k; k = k->next->next) {
        if (!wf_key_is(k, "sha256")) {
            if (wf_unknown_key(c, "checksum", k, keys, 1, false) < 0)
                return WFMPI_E_INPUT;
            continue;
        }
        int rc = wf_get_str(c, "sha256", k->next, sha256);
        if (rc < 0)
            return rc;
        *pos = wf_pos(c, k->next);
    }
    return 0;
}

/* `pegasus: 5.0` is often unquoted (a float to YAML); the text as written is
 * what counts. Only the major version must be 5. */
int wf_check_version(struct wf_ctx *c, const struct wf_node *n, uint32_t *out)
{
    uint32_t id;
    int rc = wf_get_str(c, "pegasus", n, &id);
    if (rc < 0)
        return rc;
    const char *v = wfmpi_strtab_str(c->wf->strtab, id);
    size_t i = 0;
    while (v[i] >= '0' && v[i] <= '9')
        i++;
    bool shape_ok = i > 0 && (v[i] == '\0' || v[i] == '.');
    if (!shape_ok || !(i == 1 && v[0] == '5'))
        return wf_fail(c, n, "unsupported pegasus version '%s' (expected 5.x, e.g. \"5.0\")", v);
    if (out)
        *out = id;
    return 0;
}
