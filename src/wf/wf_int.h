/* Private declarations of the wf module (the Pegasus YAML loader).
 *
 * The loader streams: libyaml's event API feeds a small node tree per item of
 * a top-level sequence (one job, one replica, one transformation), which is
 * converted into the flat model of wf.h and then thrown away by resetting a
 * pool. Only nodes under an anchor outlive their item (aliases may point at
 * them later), so memory stays proportional to the model, not the document.
 */
#ifndef WFMPI_WF_INT_H
#define WFMPI_WF_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <yaml.h>

#include "wfmpi/wf.h"

/* Unknown keys warned about per load (a workflow file and its catalogs);
 * the rest are only counted. */
#define WF_MAX_KEY_WARNINGS 20

/* Nodes one item (or one anchored subtree) may hold: a bound on the memory a
 * hostile document can make one tree take (a node is ~48 bytes). */
#define WF_MAX_TREE_NODES ((size_t)1 << 22)

/* ------------------------------------------------------------------ pool */

/* A bump allocator that can be reset without giving memory back, so the
 * per-item tree costs no malloc once the first few items have warmed it. */
struct wf_pool {
    struct wf_pool_chunk *head; /* chunk being filled */
    struct wf_pool_chunk *first; /* all chunks, in order */
    size_t nodes; /* nodes allocated since the last reset */
};

void wf_pool_init(struct wf_pool *p);
void wf_pool_fini(struct wf_pool *p);
void wf_pool_reset(struct wf_pool *p);
void *wf_pool_alloc(struct wf_pool *p, size_t size);

/* ------------------------------------------------------------------ nodes */

enum wf_node_kind {
    WF_NODE_SCALAR,
    WF_NODE_SEQ,
    WF_NODE_MAP,
    WF_NODE_ALIAS, /* `target` is the anchored node */
};

struct wf_node {
    uint8_t kind; /* enum wf_node_kind */
    uint8_t plain; /* scalar written without quotes (may be null, bool, number) */
    uint32_t line, col; /* 1-based */
    uint32_t len; /* scalar bytes, or number of children */
    const char *text; /* scalar text, NUL-terminated */
    struct wf_node *child; /* first child (maps: key, value, key, value...) */
    struct wf_node *next; /* next sibling */
    struct wf_node *target; /* alias target */
    uint64_t weight; /* nodes this one expands to (aliases included), saturating */
};

/* The node an alias stands for (the node itself otherwise). */
static inline const struct wf_node *wf_deref(const struct wf_node *n)
{
    return (n && n->kind == WF_NODE_ALIAS) ? n->target : n;
}

bool wf_is_null(const struct wf_node *n);
bool wf_is_merge_key(const struct wf_node *n);
/* "a mapping", "a sequence", "null", "a string" -- for messages. */
const char *wf_kind_name(const struct wf_node *n);

/* ---------------------------------------------------------------- reader */

/* One YAML file being read: the libyaml parser over an in-memory buffer,
 * the current event, the pools and the anchors seen so far. */
struct wf_reader {
    yaml_parser_t parser;
    bool parser_ok;
    const char *data;
    size_t len, off;
    size_t fed_since_event; /* bytes handed to libyaml since the last event */
    bool too_long; /* the read handler refused: a giant token */
    bool drop_behind; /* data is a page-aligned file mapping: drop what was parsed */
    size_t dropped; /* bytes of data already dropped */
    int depth;
    yaml_event_t ev;
    bool have_ev;
    uint32_t file; /* string id of the path */
    const char *path;
    struct wf_pool item; /* current item's tree, reset per item */
    struct wf_pool keep; /* anchored subtrees: live until the file ends */
    struct wfmpi_strtab *anchors; /* anchor name -> index into anchor_nodes */
    struct wf_node **anchor_nodes;
    size_t anchor_cap;
    uint64_t alias_nodes; /* nodes reached through aliases so far */
    struct wfmpi_error *err;
};

int wf_reader_init(struct wf_reader *r, const char *path, uint32_t file, const char *data,
                   size_t len, struct wfmpi_error *err);
void wf_reader_fini(struct wf_reader *r);
/* The next event, not consumed; NULL on error (r->err set). */
const yaml_event_t *wf_peek(struct wf_reader *r);
void wf_consume(struct wf_reader *r);
/* Build the tree of the value starting at the current event, consuming it.
 * Nodes go to the item pool unless under an anchor. 0 or a negative code. */
int wf_build(struct wf_reader *r, struct wf_node **out);
/* Record an error at line:col (1-based) of this reader's file. */
int wf_reader_fail(struct wf_reader *r, uint32_t line, uint32_t col, int code, const char *fmt, ...)
    WFMPI_PRINTF(5, 6);

/* ------------------------------------------------------------------ model */

/* A dependency as written, resolved to job indexes once every job is known
 * (jobDependencies may come before jobs). */
struct wf_pending_dep {
    uint32_t parent, child; /* job id string ids */
    struct wfmpi_wf_pos parent_pos, child_pos;
};

struct wfmpi_wf {
    struct wfmpi_strtab *strtab;
    bool own_strtab;
    char *text; /* malloc'd (buffers) or mapped (files, text_mapped) */
    size_t text_len;
    bool text_mapped;
    int fd; /* the main file (for wfmpi_wf_text_file), -1 for buffers */
    int64_t mtime_ns; /* of the main file when it was opened */
    struct wfmpi_wf_view view;
    bool strict; /* unknown keys are errors (wfmpi_wf_options.strict) */
    size_t n_unknown_keys; /* warned about, or counted past WF_MAX_KEY_WARNINGS */
    struct wfmpi_wf_source *sources; /* files read or looked for (wfmpi_wf_sources) */
    size_t n_sources, sources_cap;

    /* Growable arrays behind the view (cap = allocated elements). */
    struct wfmpi_wf_job *jobs;
    size_t jobs_cap;
    struct wf_pending_dep *pdeps;
    size_t n_pdeps, pdeps_cap;
    struct wfmpi_wf_dep *deps;
    size_t deps_cap;
    uint32_t *args;
    size_t args_cap;
    struct wfmpi_wf_use *uses;
    size_t uses_cap;
    struct wfmpi_wf_profile *profiles;
    size_t profiles_cap;
    struct wfmpi_wf_hook *hooks;
    size_t hooks_cap;
    uint32_t *strs;
    size_t strs_cap;
    struct wfmpi_wf_replica *replicas;
    size_t replicas_cap;
    struct wfmpi_wf_transformation *transformations;
    size_t transformations_cap;
    struct wfmpi_wf_tc_site *tc_sites;
    size_t tc_sites_cap;
    struct wfmpi_wf_container *containers;
    size_t containers_cap;
    struct wfmpi_wf_site *sites;
    size_t sites_cap;
    struct wfmpi_wf_directory *directories;
    size_t directories_cap;
    struct wfmpi_wf_file_server *file_servers;
    size_t file_servers_cap;

    /* Job id string id -> job index + 1 (0 = no such job). */
    uint32_t *job_index;
    size_t job_index_len, job_index_cap;
};

/* Loading state for one file. */
struct wf_ctx {
    struct wfmpi_wf *wf;
    struct wf_reader *r;
    struct wfmpi_error *err;
};

/* Error at a node of the current file. */
int wf_fail(struct wf_ctx *c, const struct wf_node *n, const char *fmt, ...) WFMPI_PRINTF(3, 4);
struct wfmpi_wf_pos wf_pos(const struct wf_ctx *c, const struct wf_node *n);
uint32_t wf_intern(struct wf_ctx *c, const char *s, size_t len);

/* Typed access to values; `what` names the key in messages. */
int wf_get_str(struct wf_ctx *c, const char *what, const struct wf_node *n, uint32_t *out);
int wf_get_bool(struct wf_ctx *c, const char *what, const struct wf_node *n, bool *out);
int wf_get_u64(struct wf_ctx *c, const char *what, const struct wf_node *n, uint64_t *out);
/* The sequence/mapping n refers to (through aliases), or NULL with an error. */
const struct wf_node *wf_get_seq(struct wf_ctx *c, const char *what, const struct wf_node *n);
const struct wf_node *wf_get_map(struct wf_ctx *c, const char *what, const struct wf_node *n);
int wf_missing(struct wf_ctx *c, const struct wf_node *map, const char *key, const char *what);
/* A key of a `what` mapping that is none of names[0..n). x- keys (vendor
 * extensions, allowed in every object of the schema) pass silently. Any
 * other is a warning naming the closest of names ("did you mean"), or an
 * input error when the load is strict or the mapping is `closed` (the
 * workflow's top level). 0 or WFMPI_E_INPUT. */
int wf_unknown_key(struct wf_ctx *c, const char *what, const struct wf_node *key,
                   const char *const *names, size_t n, bool closed);
bool wf_key_is(const struct wf_node *key, const char *name);
/* Check that n is a mapping and file each value under its key's index in
 * names (vals[i], NULL when absent); other keys go to wf_unknown_key.
 * NULL with an error when n is no mapping or an unknown key is refused. */
const struct wf_node *wf_collect(struct wf_ctx *c, const char *what, const struct wf_node *n,
                                 const char *const *names, size_t n_names,
                                 const struct wf_node **vals);

/* Common sub-objects; each appends one contiguous range. */
int wf_conv_profiles(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out);
int wf_conv_metadata(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out);
int wf_conv_hooks(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out);
int wf_conv_str_list(struct wf_ctx *c, const char *what, const struct wf_node *n,
                     struct wfmpi_wf_range *out);
/* The sha256 of a `checksum` mapping, and where its value is. */
int wf_conv_checksum(struct wf_ctx *c, const struct wf_node *n, uint32_t *sha256,
                     struct wfmpi_wf_pos *pos);
int wf_check_version(struct wf_ctx *c, const struct wf_node *n, uint32_t *out);

/* Items of the streamed sequences. */
int wf_conv_job(struct wf_ctx *c, const struct wf_node *n);
int wf_conv_dep(struct wf_ctx *c, const struct wf_node *n);
int wf_conv_replica(struct wf_ctx *c, const struct wf_node *n);
int wf_conv_transformation(struct wf_ctx *c, const struct wf_node *n);
int wf_conv_container(struct wf_ctx *c, const struct wf_node *n);
int wf_conv_site(struct wf_ctx *c, const struct wf_node *n);
/* Resolve pending dependencies into wf->deps once every file is loaded. */
int wf_resolve_deps(struct wfmpi_wf *wf, struct wfmpi_error *err);

/* What a document is. */
enum wf_doc {
    WF_DOC_WORKFLOW,
    WF_DOC_RC,
    WF_DOC_TC,
    WF_DOC_SC,
};

/* Parse one whole file (stream -> one document -> mapping) into wf. */
int wf_parse_document(struct wf_ctx *c, enum wf_doc doc);

#endif /* WFMPI_WF_INT_H */
