/* Jobs, their uses, and jobDependencies. */
#include <stdlib.h>
#include <string.h>

#include "wf_int.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------- uses */

enum {
    U_LFN,
    U_TYPE,
    U_STAGE_OUT,
    U_REGISTER,
    U_OPTIONAL,
    U_BYPASS,
    U_EXECUTABLE,
    U_FOR_PLANNING,
    U_SIZE,
    U_NS,
    U_VERSION,
    U_METADATA,
    U_N
};
static const char *const use_keys[U_N] = {"lfn",      "type",      "stageOut",   "registerReplica",
                                          "optional", "bypass",    "executable", "forPlanning",
                                          "size",     "namespace", "version",    "metadata"};

static int use_link(struct wf_ctx *c, const struct wf_node *n, uint8_t *link)
{
    static const char *const names[] = {"none", "input", "output", "inout", "checkpoint"};
    static const uint8_t links[] = {WFMPI_WF_LINK_NONE, WFMPI_WF_LINK_INPUT, WFMPI_WF_LINK_OUTPUT,
                                    WFMPI_WF_LINK_INOUT, WFMPI_WF_LINK_CHECKPOINT};
    const struct wf_node *t = wf_deref(n);
    if (t->kind == WF_NODE_SCALAR) {
        for (size_t i = 0; i < N_OF(names); i++) {
            if (!strcmp(t->text, names[i])) {
                *link = links[i];
                return 0;
            }
        }
        return wf_fail(c, n,
                       "unknown use type '%s' (expected input, output, inout, checkpoint or "
                       "none)",
                       t->text);
    }
    return wf_fail(c, n, "expected a string for 'type', found %s", wf_kind_name(t));
}

static int use_flags(struct wf_ctx *c, const struct wf_node **v, uint8_t *flags)
{
    static const struct {
        int key;
        uint8_t flag;
    } map[] = {
        {U_STAGE_OUT, WFMPI_WF_USE_STAGE_OUT},   {U_REGISTER, WFMPI_WF_USE_REGISTER_REPLICA},
        {U_OPTIONAL, WFMPI_WF_USE_OPTIONAL},     {U_BYPASS, WFMPI_WF_USE_BYPASS},
        {U_EXECUTABLE, WFMPI_WF_USE_EXECUTABLE}, {U_FOR_PLANNING, WFMPI_WF_USE_FOR_PLANNING},
    };
    *flags = WFMPI_WF_USE_STAGE_OUT | WFMPI_WF_USE_REGISTER_REPLICA;
    for (size_t i = 0; i < N_OF(map); i++) {
        const struct wf_node *n = v[map[i].key];
        if (!n)
            continue;
        bool b;
        int rc = wf_get_bool(c, use_keys[map[i].key], n, &b);
        if (rc < 0)
            return rc;
        *flags = (uint8_t)(b ? (*flags | map[i].flag) : (*flags & ~map[i].flag));
    }
    return 0;
}

static int conv_use(struct wf_ctx *c, const struct wf_node *n)
{
    const struct wf_node *v[U_N];
    const struct wf_node *map = wf_collect(c, "uses entry", n, use_keys, U_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[U_LFN])
        return wf_missing(c, map, "lfn", "a uses entry");
    if (!v[U_TYPE])
        return wf_missing(c, map, "type", "a uses entry");
    struct wfmpi_wf_use u = {0};
    u.pos = wf_pos(c, v[U_LFN]);
    int rc = wf_get_str(c, "lfn", v[U_LFN], &u.lfn);
    if (rc == 0)
        rc = use_link(c, v[U_TYPE], &u.link);
    if (rc == 0)
        rc = use_flags(c, v, &u.flags);
    if (rc == 0 && v[U_SIZE])
        rc = wf_get_u64(c, "size", v[U_SIZE], &u.size);
    if (rc == 0 && v[U_NS])
        rc = wf_get_str(c, "namespace", v[U_NS], &u.ns);
    if (rc == 0 && v[U_VERSION])
        rc = wf_get_str(c, "version", v[U_VERSION], &u.version);
    if (rc == 0 && v[U_METADATA])
        rc = wf_conv_metadata(c, v[U_METADATA], &u.metadata);
    if (rc < 0)
        return rc;
    if (WFMPI_PUSH(c->wf->uses, c->wf->view.n_uses, c->wf->uses_cap, u) < 0)
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

static int conv_uses(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_uses;
    const struct wf_node *seq = wf_get_seq(c, "uses", n);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *u = seq->child; u; u = u->next) {
        int rc = conv_use(c, u);
        if (rc < 0)
            return rc;
    }
    out->count = c->wf->view.n_uses - out->first;
    return 0;
}

/* Arguments are strings or numbers, kept exactly as written ("1.1" stays
 * "1.1"; the planner joins and splits them, never re-formats them). */
static int conv_args(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    struct wfmpi_wf *wf = c->wf;
    out->first = wf->view.n_args;
    const struct wf_node *seq = wf_get_seq(c, "arguments", n);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *a = seq->child; a; a = a->next) {
        const struct wf_node *t = wf_deref(a);
        if (t->kind != WF_NODE_SCALAR || wf_is_null(t))
            return wf_fail(c, a, "expected a string or number in 'arguments', found %s",
                           wf_kind_name(t));
        uint32_t id = wf_intern(c, t->text, t->len);
        if (!id)
            return -ENOMEM;
        if (WFMPI_PUSH(wf->args, wf->view.n_args, wf->args_cap, id) < 0)
            return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    }
    out->count = wf->view.n_args - out->first;
    return 0;
}

/* ------------------------------------------------------------------- jobs */

enum {
    J_TYPE,
    J_ID,
    J_NAME,
    J_NS,
    J_VERSION,
    J_FILE,
    J_LABEL,
    J_ARGS,
    J_USES,
    J_STDIN,
    J_STDOUT,
    J_STDERR,
    J_PROFILES,
    J_METADATA,
    J_HOOKS,
    J_N
};
static const char *const job_keys[J_N] = {
    "type", "id",    "name",   "namespace", "version",  "file",     "nodeLabel", "arguments",
    "uses", "stdin", "stdout", "stderr",    "profiles", "metadata", "hooks"};

static int job_type(struct wf_ctx *c, const struct wf_node *n, uint8_t *type)
{
    *type = WFMPI_WF_JOB;
    if (!n)
        return 0; /* Pegasus's own parser defaults to a plain job */
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_SCALAR)
        return wf_fail(c, n, "expected a string for 'type', found %s", wf_kind_name(t));
    if (!strcmp(t->text, "job"))
        return 0;
    if (!strcmp(t->text, "pegasusWorkflow")) {
        *type = WFMPI_WF_PEGASUS_WORKFLOW;
        return 0;
    }
    if (!strcmp(t->text, "condorWorkflow")) {
        *type = WFMPI_WF_CONDOR_WORKFLOW;
        return 0;
    }
    return wf_fail(c, n, "unknown job type '%s' (expected job, pegasusWorkflow or condorWorkflow)",
                   t->text);
}

/* Ids name run-directory files and sub-workflow paths ("parent/child"), so
 * they keep to the schema's alphabet. */
static int job_id(struct wf_ctx *c, const struct wf_node *n, uint32_t *id)
{
    int rc = wf_get_str(c, "id", n, id);
    if (rc < 0)
        return rc;
    const struct wf_node *t = wf_deref(n);
    for (uint32_t i = 0; i < t->len; i++) {
        char ch = t->text[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              ch == '-' || ch == '_'))
            return wf_fail(c, n,
                           "invalid job id '%s' (only letters, digits, '-' and '_' are allowed)",
                           t->text);
    }
    return 0;
}

static int register_job(struct wf_ctx *c, const struct wf_node *id_node, uint32_t id)
{
    struct wfmpi_wf *wf = c->wf;
    if (id < wf->job_index_len && wf->job_index[id]) {
        const struct wfmpi_wf_job *first = &wf->jobs[wf->job_index[id] - 1];
        return wf_fail(c, id_node, "duplicate job id '%s' (first defined at line %u)",
                       wfmpi_strtab_str(wf->strtab, id), first->id_pos.line);
    }
    if (id >= wf->job_index_len) {
        size_t need = (size_t)wfmpi_strtab_count(wf->strtab) + 1;
        if (need <= id)
            need = (size_t)id + 1;
        if (wfmpi_grow((void **)&wf->job_index, &wf->job_index_cap, need, sizeof(*wf->job_index)) <
            0)
            return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
        memset(wf->job_index + wf->job_index_len, 0,
               (wf->job_index_cap - wf->job_index_len) * sizeof(*wf->job_index));
        wf->job_index_len = wf->job_index_cap;
    }
    wf->job_index[id] = wf->view.n_jobs + 1;
    return 0;
}

static int job_strings(struct wf_ctx *c, const struct wf_node **v, struct wfmpi_wf_job *j)
{
    static const struct {
        int key;
        size_t off;
    } fields[] = {
        {J_NAME, offsetof(struct wfmpi_wf_job, name)},
        {J_NS, offsetof(struct wfmpi_wf_job, ns)},
        {J_VERSION, offsetof(struct wfmpi_wf_job, version)},
        {J_FILE, offsetof(struct wfmpi_wf_job, file)},
        {J_LABEL, offsetof(struct wfmpi_wf_job, node_label)},
        {J_STDIN, offsetof(struct wfmpi_wf_job, stdin_lfn)},
        {J_STDOUT, offsetof(struct wfmpi_wf_job, stdout_lfn)},
        {J_STDERR, offsetof(struct wfmpi_wf_job, stderr_lfn)},
    };
    for (size_t i = 0; i < N_OF(fields); i++) {
        const struct wf_node *n = v[fields[i].key];
        if (!n)
            continue;
        uint32_t id;
        int rc = wf_get_str(c, job_keys[fields[i].key], n, &id);
        if (rc < 0)
            return rc;
        memcpy((char *)j + fields[i].off, &id, sizeof(id));
    }
    for (int k = 0; k < 3; k++) {
        if (v[J_STDIN + k])
            j->stdio_pos[k] = wf_pos(c, v[J_STDIN + k]);
    }
    return 0;
}

static int job_lists(struct wf_ctx *c, const struct wf_node **v, struct wfmpi_wf_job *j)
{
    int rc = 0;
    if (v[J_ARGS])
        rc = conv_args(c, v[J_ARGS], &j->args);
    if (rc == 0 && v[J_USES])
        rc = conv_uses(c, v[J_USES], &j->uses);
    if (rc == 0 && v[J_PROFILES])
        rc = wf_conv_profiles(c, v[J_PROFILES], &j->profiles);
    if (rc == 0 && v[J_METADATA])
        rc = wf_conv_metadata(c, v[J_METADATA], &j->metadata);
    if (rc == 0 && v[J_HOOKS])
        rc = wf_conv_hooks(c, v[J_HOOKS], &j->hooks);
    return rc;
}

int wf_conv_job(struct wf_ctx *c, const struct wf_node *n)
{
    const struct wf_node *v[J_N];
    const struct wf_node *map = wf_collect(c, "job", n, job_keys, J_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    struct wfmpi_wf_job j = {0};
    j.pos = wf_pos(c, map);
    int rc = job_type(c, v[J_TYPE], &j.type);
    if (rc < 0)
        return rc;
    if (!v[J_ID])
        return wf_missing(c, map, "id", "a job");
    if (j.type == WFMPI_WF_JOB && !v[J_NAME])
        return wf_missing(c, map, "name", "a job of type job");
    if (j.type != WFMPI_WF_JOB && !v[J_FILE])
        return wf_missing(c, map, "file", "a sub-workflow job");
    j.id_pos = wf_pos(c, v[J_ID]);
    if ((rc = job_id(c, v[J_ID], &j.id)) < 0 || (rc = job_strings(c, v, &j)) < 0 ||
        (rc = job_lists(c, v, &j)) < 0)
        return rc;
    if (c->wf->view.n_jobs == UINT32_MAX - 1)
        return wf_fail(c, map, "too many jobs");
    if ((rc = register_job(c, v[J_ID], j.id)) < 0)
        return rc;
    if (WFMPI_PUSH(c->wf->jobs, c->wf->view.n_jobs, c->wf->jobs_cap, j) < 0)
        return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    return 0;
}

/* ----------------------------------------------------------- dependencies */

int wf_conv_dep(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const keys[] = {"id", "children"};
    const struct wf_node *v[2];
    const struct wf_node *map = wf_collect(c, "jobDependencies entry", n, keys, 2, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[0])
        return wf_missing(c, map, "id", "a jobDependencies entry");
    struct wf_pending_dep d = {0};
    d.parent_pos = wf_pos(c, v[0]);
    int rc = wf_get_str(c, "id", v[0], &d.parent);
    if (rc < 0 || !v[1])
        return rc;
    const struct wf_node *seq = wf_get_seq(c, "children", v[1]);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *ch = seq->child; ch; ch = ch->next) {
        if ((rc = wf_get_str(c, "children", ch, &d.child)) < 0)
            return rc;
        d.child_pos = wf_pos(c, ch);
        if (WFMPI_PUSH(c->wf->pdeps, c->wf->n_pdeps, c->wf->pdeps_cap, d) < 0)
            return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int dep_fail(struct wfmpi_wf *wf, struct wfmpi_error *err, struct wfmpi_wf_pos pos,
                    const char *what, uint32_t id)
{
    return wfmpi_error_set(err, WFMPI_E_INPUT, "%s:%u:%u: %s '%s'",
                           wfmpi_strtab_str(wf->strtab, pos.file), pos.line, pos.col, what,
                           wfmpi_strtab_str(wf->strtab, id));
}

static uint32_t job_of(const struct wfmpi_wf *wf, uint32_t id)
{
    return id < wf->job_index_len ? wf->job_index[id] : 0;
}

int wf_resolve_deps(struct wfmpi_wf *wf, struct wfmpi_error *err)
{
    if (wf->n_pdeps > UINT32_MAX - 1)
        return wfmpi_error_set(err, WFMPI_E_LIMIT, "too many dependencies");
    if (wf->n_pdeps &&
        wfmpi_grow((void **)&wf->deps, &wf->deps_cap, wf->n_pdeps, sizeof(*wf->deps)) < 0)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < wf->n_pdeps; i++) {
        const struct wf_pending_dep *p = &wf->pdeps[i];
        uint32_t parent = job_of(wf, p->parent), child = job_of(wf, p->child);
        if (!parent)
            return dep_fail(wf, err, p->parent_pos, "jobDependencies names an unknown job id",
                            p->parent);
        if (!child)
            return dep_fail(wf, err, p->child_pos, "jobDependencies names an unknown job id",
                            p->child);
        if (parent == child)
            return dep_fail(wf, err, p->child_pos, "job depends on itself:", p->child);
        struct wfmpi_wf_dep d = {parent - 1, child - 1, p->child_pos};
        wf->deps[i] = d;
    }
    wf->view.n_deps = (uint32_t)wf->n_pdeps;
    free(wf->pdeps);
    wf->pdeps = NULL;
    wf->n_pdeps = wf->pdeps_cap = 0;
    return 0;
}
