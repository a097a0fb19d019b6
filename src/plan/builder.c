/* The plan builder: tasks and edges in, an immutable plan out.
 *
 * Everything grows geometrically in a few flat arrays (no per-task malloc);
 * strings are interned into the plan's table. The graph work happens once, in
 * wfmpi_plan_builder_finish (graph.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan_int.h"

struct wfmpi_plan_builder *wfmpi_plan_builder_create(const char *name)
{
    struct wfmpi_plan_builder *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->p = calloc(1, sizeof(*b->p));
    if (!b->p)
        goto fail_b;
    b->p->strtab = wfmpi_strtab_create();
    if (!b->p->strtab)
        goto fail_p;
    if (name && *name && !(b->p->name = wfmpi_strtab_intern_cstr(b->p->strtab, name)))
        goto fail_t;
    return b;
fail_t:
    wfmpi_strtab_destroy(b->p->strtab);
fail_p:
    free(b->p);
fail_b:
    free(b);
    return NULL;
}

void wfmpi_plan_builder_destroy(struct wfmpi_plan_builder *b)
{
    if (!b)
        return;
    wfmpi_plan_destroy(b->p);
    free(b->pairs);
    free(b->id_bits);
    free(b->scratch);
    free(b);
}

uint32_t wfmpi_plan_builder_intern(struct wfmpi_plan_builder *b, const char *s)
{
    if (!s)
        return 0;
    b->interned = 1;
    return wfmpi_strtab_intern_cstr(b->p->strtab, s);
}

/* The plan takes ownership of t (it must outlive the plan, and the YAML
 * planner destroys its workflows long before the plan). Ids the caller got
 * from t stay valid in the plan. */
void wfmpi_plan_builder_adopt_strtab(struct wfmpi_plan_builder *b, struct wfmpi_strtab *t)
{
    struct wfmpi_plan *p = b->p;
    if (!t || t == p->strtab)
        return;
    uint32_t name = p->name ? wfmpi_strtab_intern_cstr(t, wfmpi_strtab_str(p->strtab, p->name)) : 0;
    wfmpi_strtab_destroy(p->strtab);
    p->strtab = t;
    p->name = name;
}

/* Intern s (NULL -> 0). Sets *oom when interning fails. */
static uint32_t intern_opt(struct wfmpi_plan *p, const char *s, int *oom)
{
    if (!s)
        return 0;
    uint32_t id = wfmpi_strtab_intern_cstr(p->strtab, s);
    if (!id)
        *oom = 1;
    return id;
}

/* Mark string id `id` as a task id; WFMPI_E_INPUT if it already is one. */
static int id_index_insert(struct wfmpi_plan_builder *b, uint32_t id)
{
    size_t word = id / 64;
    if (word >= b->n_id_words) {
        size_t cap = b->n_id_words, need = word + 1;
        if (wfmpi_grow((void **)&b->id_bits, &cap, need, sizeof(*b->id_bits)))
            return -ENOMEM;
        memset(b->id_bits + b->n_id_words, 0, (cap - b->n_id_words) * sizeof(*b->id_bits));
        b->n_id_words = cap;
    }
    uint64_t bit = (uint64_t)1 << (id % 64);
    if (b->id_bits[word] & bit)
        return WFMPI_E_INPUT;
    b->id_bits[word] |= bit;
    return 0;
}

/* Append (first, list[0..n)) to p->strs; the range they occupy. */
static int push_ids(struct wfmpi_plan *p, uint32_t first, const uint32_t *list, uint32_t n,
                    struct wfmpi_plan_range *out)
{
    size_t need = p->n_strs + n + (first ? 1 : 0);
    if (need > UINT32_MAX)
        return WFMPI_E_LIMIT;
    if (wfmpi_grow((void **)&p->strs, &p->cap_strs, need, sizeof(*p->strs)))
        return -ENOMEM;
    out->first = (uint32_t)p->n_strs;
    size_t at = p->n_strs;
    if (first)
        p->strs[at++] = first;
    if (n)
        memcpy(p->strs + at, list, n * sizeof(*list));
    at += n;
    out->count = (uint32_t)(at - p->n_strs);
    p->n_strs = at;
    return 0;
}

static int push_files(struct wfmpi_plan *p, const struct wfmpi_plan_file *f, uint32_t n,
                      struct wfmpi_plan_range *out)
{
    size_t need = p->n_files + n;
    if (need > UINT32_MAX)
        return WFMPI_E_LIMIT;
    if (n && wfmpi_grow((void **)&p->files, &p->cap_files, need, sizeof(*p->files)))
        return -ENOMEM;
    out->first = (uint32_t)p->n_files;
    out->count = n;
    if (n)
        memcpy(p->files + p->n_files, f, n * sizeof(*f));
    p->n_files = need;
    return 0;
}

/* Copy the scalar fields and single strings of a spec. */
static void fill_task(const struct plan_task_ids *s, struct wfmpi_plan_task *t)
{
    memset(t, 0, sizeof(*t));
    t->id = s->id;
    t->transformation = s->transformation;
    t->exe = s->exe;
    t->stdin_path = s->stdin_path;
    t->stdout_path = s->stdout_path;
    t->stderr_path = s->stderr_path;
    t->category = s->category;
    t->successmsg = s->successmsg;
    t->failuremsg = s->failuremsg;
    t->container = s->container;
    t->site = s->site;
    t->kind = s->kind < WFMPI_PLAN_NKINDS ? s->kind : WFMPI_PLAN_COMPUTE;
    t->cores = s->cores ? s->cores : 1;
    t->gpus = s->gpus;
    t->memory_mb = s->memory_mb;
    t->runtime_s = s->runtime_s > 0 ? s->runtime_s : 0;
    t->maxwalltime_s = s->maxwalltime_s > 0 ? s->maxwalltime_s : 0;
    t->checkpoint_time_s = s->checkpoint_time_s > 0 ? s->checkpoint_time_s : 0;
    t->retries = s->retries;
    t->priority = s->priority;
    t->pos = s->pos;
}

int64_t plan_builder_add_task_ids(struct wfmpi_plan_builder *b, const struct plan_task_ids *s,
                                  struct wfmpi_error *err)
{
    struct wfmpi_plan *p = b->p;
    const char *id = s->id ? wfmpi_strtab_str(p->strtab, s->id) : NULL;
    if (!id || !*id || !s->exe || !wfmpi_strtab_len(p->strtab, s->exe))
        return wfmpi_error_set(err, WFMPI_E_INPUT, "task %s: id and exe are required",
                               id ? id : "(null)");
    if (p->n_tasks >= UINT32_MAX - 1)
        return wfmpi_error_set(err, WFMPI_E_LIMIT, "too many tasks");
    if (wfmpi_grow((void **)&p->tasks, &p->cap_tasks, p->n_tasks + 1, sizeof(*p->tasks)))
        return wfmpi_error_set(err, -ENOMEM, "out of memory adding task %s", id);
    b->interned = 1;
    struct wfmpi_plan_task *t = &p->tasks[p->n_tasks];
    /* A failed add leaves at most unused entries at the ends of the shared
     * arrays; n_tasks only moves on success. */
    fill_task(s, t);
    int rc = push_ids(p, s->exe, s->args, s->n_args, &t->argv);
    if (!rc)
        rc = push_ids(p, 0, s->env, s->n_env, &t->env);
    if (!rc)
        rc = push_files(p, s->files, s->n_files, &t->files);
    if (rc)
        return wfmpi_error_set(err, rc, "task %s: %s", id, wfmpi_strerror(rc));
    rc = id_index_insert(b, t->id);
    if (rc == WFMPI_E_INPUT)
        return wfmpi_error_set(err, rc, "duplicate task id '%s'", id);
    if (rc)
        return wfmpi_error_set(err, rc, "out of memory adding task %s", id);
    return (int64_t)p->n_tasks++;
}

/* Intern a string spec's args and env into b->scratch (args first). */
static int intern_lists(struct wfmpi_plan_builder *b, const struct wfmpi_plan_task_spec *spec)
{
    size_t n = (size_t)spec->n_args + spec->n_env;
    if (wfmpi_grow((void **)&b->scratch, &b->cap_scratch, n ? n : 1, sizeof(*b->scratch)))
        return -ENOMEM;
    struct wfmpi_plan *p = b->p;
    for (size_t i = 0; i < n; i++) {
        const char *s = i < spec->n_args ? spec->args[i] : spec->env[i - spec->n_args];
        if (!(b->scratch[i] = wfmpi_strtab_intern_cstr(p->strtab, s ? s : "")))
            return -ENOMEM;
    }
    return 0;
}

int64_t wfmpi_plan_builder_add_task(struct wfmpi_plan_builder *b,
                                    const struct wfmpi_plan_task_spec *spec,
                                    struct wfmpi_error *err)
{
    struct wfmpi_plan *p = b->p;
    if (!spec->id || !*spec->id || !spec->exe || !*spec->exe)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "task %s: id and exe are required",
                               spec->id ? spec->id : "(null)");
    if (p->n_tasks >= UINT32_MAX - 1)
        return wfmpi_error_set(err, WFMPI_E_LIMIT, "too many tasks");
    b->interned = 1;
    int oom = 0;
    /* Interned one by one, in a fixed order (an initializer list's order of
     * evaluation is unspecified), so equal specs always get equal ids. */
    struct plan_task_ids s = {
        .n_args = spec->n_args,
        .n_env = spec->n_env,
        .files = spec->files,
        .n_files = spec->n_files,
        .cores = spec->cores,
        .gpus = spec->gpus,
        .memory_mb = spec->memory_mb,
        .runtime_s = spec->runtime_s,
        .maxwalltime_s = spec->maxwalltime_s,
        .checkpoint_time_s = spec->checkpoint_time_s,
        .retries = spec->retries,
        .priority = spec->priority,
    };
    s.id = intern_opt(p, spec->id, &oom);
    s.transformation = intern_opt(p, spec->transformation, &oom);
    s.exe = intern_opt(p, spec->exe, &oom);
    s.stdin_path = intern_opt(p, spec->stdin_path, &oom);
    s.stdout_path = intern_opt(p, spec->stdout_path, &oom);
    s.stderr_path = intern_opt(p, spec->stderr_path, &oom);
    s.category = intern_opt(p, spec->category, &oom);
    s.successmsg = intern_opt(p, spec->successmsg, &oom);
    s.failuremsg = intern_opt(p, spec->failuremsg, &oom);
    s.container = intern_opt(p, spec->container, &oom);
    s.site = intern_opt(p, spec->site, &oom);
    s.kind = spec->kind;
    if (spec->pos_file) {
        s.pos = (struct wfmpi_plan_pos){intern_opt(p, spec->pos_file, &oom), spec->pos_line,
                                        spec->pos_col};
    }
    if (oom || intern_lists(b, spec))
        return wfmpi_error_set(err, -ENOMEM, "task %s: %s", spec->id, wfmpi_strerror(-ENOMEM));
    s.args = b->scratch;
    s.env = b->scratch + spec->n_args;
    return plan_builder_add_task_ids(b, &s, err);
}

int wfmpi_plan_builder_add_edge(struct wfmpi_plan_builder *b, uint32_t parent, uint32_t child,
                                struct wfmpi_error *err)
{
    struct wfmpi_plan *p = b->p;
    if (parent >= p->n_tasks || child >= p->n_tasks)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "edge %u -> %u: no such task", parent, child);
    if (parent == child)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "task '%s' depends on itself",
                               wfmpi_strtab_str(p->strtab, p->tasks[parent].id));
    uint64_t pair = (uint64_t)parent << 32 | child;
    if (WFMPI_PUSH(b->pairs, b->n_pairs, b->cap_pairs, pair))
        return wfmpi_error_set(err, -ENOMEM, "out of memory adding an edge");
    return 0;
}

int wfmpi_plan_builder_add_category(struct wfmpi_plan_builder *b, const char *name,
                                    uint32_t maxjobs)
{
    struct wfmpi_plan *p = b->p;
    b->interned = 1;
    uint32_t id = wfmpi_strtab_intern_cstr(p->strtab, name ? name : "");
    if (!id)
        return -ENOMEM;
    /* A category given twice keeps the last limit, like a profile override. */
    for (size_t i = 0; i < p->n_categories; i++) {
        if (p->categories[i].name == id) {
            p->categories[i].maxjobs = maxjobs;
            return 0;
        }
    }
    struct wfmpi_plan_category c = {.name = id, .maxjobs = maxjobs};
    return WFMPI_PUSH(p->categories, p->n_categories, p->cap_categories, c);
}

int wfmpi_plan_builder_set_source(struct wfmpi_plan_builder *b, const char *path, const char *text,
                                  size_t len)
{
    struct wfmpi_plan *p = b->p;
    b->interned = 1;
    uint32_t pid = path ? wfmpi_strtab_intern_cstr(p->strtab, path) : 0;
    if (path && !pid)
        return -ENOMEM;
    char *copy = NULL;
    if (text) {
        copy = malloc(len + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    free(p->text);
    p->text = copy;
    p->text_len = text ? len : 0;
    p->path = pid;
    plan_source_destroy(p->src);
    p->src = NULL;
    return 0;
}

int plan_builder_set_source_file(struct wfmpi_plan_builder *b, const char *path, int fd,
                                 uint64_t size, int64_t mtime_ns)
{
    struct plan_source *src = calloc(1, sizeof(*src));
    int rc = src ? wfmpi_plan_builder_set_source(b, path, NULL, 0) : -ENOMEM;
    if (rc) {
        free(src);
        close(fd);
        return rc;
    }
    src->fd = fd;
    src->size = size;
    src->mtime_ns = mtime_ns;
    plan_source_destroy(b->p->src);
    b->p->src = src;
    return 0;
}

int plan_builder_add_sources(struct wfmpi_plan_builder *b, const struct wfmpi_wf_source *s,
                             uint32_t n)
{
    struct wfmpi_plan *p = b->p;
    for (uint32_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < p->n_sources && !seen; k++)
            seen = p->sources[k].path == s[i].path;
        if (seen)
            continue;
        struct wfmpi_plan_source src = {.path = s[i].path,
                                        .present = s[i].present,
                                        .dev = s[i].dev,
                                        .ino = s[i].ino,
                                        .size = s[i].size,
                                        .mtime_ns = s[i].mtime_ns};
        if (WFMPI_PUSH(p->sources, p->n_sources, p->cap_sources, src))
            return -ENOMEM;
    }
    return 0;
}

int plan_builder_reserve(struct wfmpi_plan_builder *b, size_t tasks, size_t strs, size_t files,
                         size_t edges)
{
    struct wfmpi_plan *p = b->p;
    if (wfmpi_grow((void **)&p->tasks, &p->cap_tasks, p->n_tasks + tasks, sizeof(*p->tasks)) ||
        wfmpi_grow((void **)&p->strs, &p->cap_strs, p->n_strs + strs, sizeof(*p->strs)) ||
        (files &&
         wfmpi_grow((void **)&p->files, &p->cap_files, p->n_files + files, sizeof(*p->files))) ||
        (edges &&
         wfmpi_grow((void **)&b->pairs, &b->cap_pairs, b->n_pairs + edges, sizeof(*b->pairs))))
        return -ENOMEM;
    return 0;
}

void plan_fill_view(struct wfmpi_plan *p)
{
    struct wfmpi_plan_view *v = &p->view;
    v->name = p->name;
    v->path = p->path;
    v->tasks = p->tasks;
    v->n_tasks = (uint32_t)p->n_tasks;
    v->strs = p->strs;
    v->n_strs = (uint32_t)p->n_strs;
    v->files = p->files;
    v->n_files = (uint32_t)p->n_files;
    v->edges_in = p->edges_in;
    v->edges_out = p->edges_out;
    v->n_edges = (uint32_t)p->n_edges;
    v->categories = p->categories;
    v->n_categories = (uint32_t)p->n_categories;
}

/* Message "dependency cycle: A -> B -> A" for a cycle list. */
static int cycle_error(const struct wfmpi_plan *p, const uint32_t *cyc, uint32_t n,
                       struct wfmpi_error *err)
{
    struct wfmpi_buf m;
    wfmpi_buf_init(&m, WFMPI_ERROR_TEXT_MAX);
    for (uint32_t i = 0; i <= n && n; i++) {
        const char *id = wfmpi_strtab_str(p->strtab, p->tasks[cyc[i % n]].id);
        if (wfmpi_buf_printf(&m, "%s%s", i ? " -> " : "", id))
            break; /* truncated: the error text has a fixed size anyway */
    }
    int rc = wfmpi_error_set(err, WFMPI_E_INPUT, "dependency cycle: %s", m.len ? m.data : "");
    wfmpi_buf_fini(&m);
    return rc;
}

struct wfmpi_plan *wfmpi_plan_builder_finish(struct wfmpi_plan_builder *b, uint32_t **cycle,
                                             uint32_t *n_cycle, struct wfmpi_error *err)
{
    struct wfmpi_plan *p = b->p;
    uint32_t *order = NULL, *cyc = NULL, n_cyc = 0;
    if (cycle)
        *cycle = NULL;
    if (n_cycle)
        *n_cycle = 0;
    int rc = plan_graph_build(p, b->pairs, b->n_pairs);
    b->pairs = NULL; /* consumed */
    if (rc) {
        wfmpi_error_set(err, rc, "building the task graph: %s", wfmpi_strerror(rc));
        goto fail;
    }
    order = malloc((p->n_tasks ? p->n_tasks : 1) * sizeof(*order));
    if (!order) {
        wfmpi_error_set(err, -ENOMEM, "out of memory ordering tasks");
        goto fail;
    }
    rc = plan_graph_order(p, order, &cyc, &n_cyc);
    if (rc == WFMPI_E_INPUT) {
        cycle_error(p, cyc, n_cyc, err);
        if (cycle && n_cycle) {
            *cycle = cyc;
            *n_cycle = n_cyc;
            cyc = NULL;
        }
        goto fail;
    }
    if (rc || (rc = plan_graph_analyze(p, order)) || (rc = plan_hash_compute(p))) {
        wfmpi_error_set(err, rc, "finishing the plan: %s", wfmpi_strerror(rc));
        goto fail;
    }
    free(order);
    plan_fill_view(p);
    b->p = NULL;
    wfmpi_plan_builder_destroy(b);
    return p;
fail:
    free(cyc);
    free(order);
    wfmpi_plan_builder_destroy(b);
    return NULL;
}
