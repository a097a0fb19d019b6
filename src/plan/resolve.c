/* Resolution against the catalogs: transformations to executables (with
 * the execution site and the job-independent profile layers), workflow
 * inputs to replicas or files already on disk, sub-workflow files to paths.
 * Results are cached per workflow, so a million jobs of ten transformations
 * resolve ten times. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"

const char *plan_url_path(const char *pfn)
{
    const char *path;
    if (strncasecmp(pfn, "file://", 7) == 0 && wfmpi_url_scheme_of(pfn, &path) == WFMPI_URL_FILE)
        return path;
    return pfn;
}

/* Index a chained lookup: map[key] = first index, next[i] = following. */
static int index_chain(struct plan_map *m, uint32_t **next, size_t n, const void *base,
                       size_t stride, size_t key_off)
{
    *next = malloc((n ? n : 1) * sizeof(**next));
    if (!*next)
        return -ENOMEM;
    /* Insert in reverse so each chain runs in file order. */
    for (size_t i = n; i-- > 0;) {
        uint32_t key;
        memcpy(&key, (const char *)base + i * stride + key_off, sizeof(key));
        (*next)[i] = plan_map_get(m, key, UINT32_MAX);
        if (plan_map_put(m, key, (uint32_t)i))
            return -ENOMEM;
    }
    return 0;
}

int plan_wfc_index(struct plan_wfc *w)
{
    const struct wfmpi_wf_view *v = w->v;
    int rc =
        index_chain(&w->tc_by_name, &w->tc_next, v->n_transformations, v->transformations,
                    sizeof(*v->transformations), offsetof(struct wfmpi_wf_transformation, name));
    if (!rc)
        rc = index_chain(&w->rc_by_lfn, &w->rc_next, v->n_replicas, v->replicas,
                         sizeof(*v->replicas), offsetof(struct wfmpi_wf_replica, lfn));
    return rc ? wfmpi_error_set(w->P->err, rc, "out of memory indexing catalogs") : 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Search $PATH for an executable named name; into buf. */
static bool path_lookup(const char *name, char *buf, size_t size)
{
    if (!*name || strchr(name, '/'))
        return false;
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        int n = snprintf(buf, size, "%.*s/%s", (int)len, len ? path : ".", name);
        if (n > 0 && (size_t)n < size && is_file(buf) && access(buf, X_OK) == 0)
            return true;
        path += len + (colon != NULL);
    }
    return false;
}

static bool tc_matches(const struct wfmpi_wf_transformation *t, const struct wfmpi_wf_job *job)
{
    return t->name == job->name && (!job->ns || job->ns == t->ns) &&
           (!job->version || job->version == t->version);
}

/* The transformation's site entry to use: opt->site when given, else
 * "local", then "condorpool", then the first listed. UINT32_MAX: none. */
static uint32_t pick_tc_site(const struct plan_wfc *w, const struct wfmpi_wf_transformation *t)
{
    const struct planner *P = w->P;
    const struct wfmpi_wf_tc_site *s = w->v->tc_sites + t->sites.first;
    uint32_t want[2] = {P->s_local, P->s_condorpool};
    if (P->opt && P->opt->site) {
        uint32_t id = wfmpi_strtab_find(P->st, P->opt->site, strlen(P->opt->site));
        for (uint32_t i = 0; id && i < t->sites.count; i++) {
            if (s[i].name == id)
                return t->sites.first + i;
        }
        return UINT32_MAX;
    }
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < t->sites.count; i++) {
            if (s[i].name == want[k])
                return t->sites.first + i;
        }
    }
    return t->sites.count ? t->sites.first : UINT32_MAX;
}

static const struct wfmpi_wf_site *find_site(const struct wfmpi_wf_view *v, uint32_t name)
{
    for (uint32_t i = 0; i < v->n_sites; i++) {
        if (v->sites[i].name == name)
            return &v->sites[i];
    }
    return NULL;
}

static uint32_t tr_label(struct planner *P, const struct wfmpi_wf_job *job)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s%s%s%s%s", job->ns ? plan_s(P, job->ns) : "", job->ns ? "::" : "",
             plan_s(P, job->name), job->version ? ":" : "",
             job->version ? plan_s(P, job->version) : "");
    return wfmpi_strtab_intern_cstr(P->st, buf);
}

/* The catalog entry (tc, site) for a job, or UINT32_MAX/UINT32_MAX. */
static void find_tc(const struct plan_wfc *w, const struct wfmpi_wf_job *job, uint32_t *tc,
                    uint32_t *site)
{
    *tc = *site = UINT32_MAX;
    for (uint32_t i = plan_map_get(&w->tc_by_name, job->name, UINT32_MAX); i != UINT32_MAX;
         i = w->tc_next[i]) {
        if (!tc_matches(&w->v->transformations[i], job))
            continue;
        *tc = i;
        *site = pick_tc_site(w, &w->v->transformations[i]);
        return;
    }
}

/* The container a transformation site names, from the catalog. */
static int find_container(struct plan_wfc *w, const struct wfmpi_wf_tc_site *s, struct plan_tr *t)
{
    t->cont = UINT32_MAX;
    if (!s->container)
        return 0;
    for (uint32_t i = 0; i < w->v->n_containers; i++) {
        if (w->v->containers[i].name == s->container) {
            t->cont = i;
            return 0;
        }
    }
    return plan_pos_error(w->P, s->pos, WFMPI_E_INPUT,
                          "container '%s' is not in the transformation catalog's containers",
                          plan_s(w->P, s->container));
}

/* A stageable executable is fetched into the work dir (.wfmpi/bin/NAME) by
 * a stage-in task before its jobs run (data.c). */
static int stageable_exe(struct plan_wfc *w, uint32_t tc, const struct wfmpi_wf_tc_site *s,
                         struct plan_tr *t)
{
    struct planner *P = w->P;
    const struct wfmpi_wf_transformation *tr = &w->v->transformations[tc];
    int rc = plan_check_fetch(P, s->pfn, s->pfn_pos, "transformation", tr->name);
    if (rc)
        return rc;
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), ".wfmpi/bin/%s", plan_s(P, tr->name));
    plan_file_safe(buf + 11);
    if (!wfmpi_path_rel_ok(buf))
        return plan_pos_error(P, tr->pos, WFMPI_E_INPUT,
                              "stageable transformation '%s': its name cannot be a file name "
                              "in the work dir (%s)",
                              plan_s(P, tr->name), buf);
    t->stage_url = plan_abs_pfn(w, s->pfn);
    t->stage_sha = tr->sha256;
    t->exe = wfmpi_strtab_intern_cstr(P->st, buf);
    return t->exe && t->stage_url ? 0 : -ENOMEM;
}

/* Executable and site for a job: the catalog entry, else $PATH. */
static int resolve_exe(struct plan_wfc *w, const struct wfmpi_wf_job *job, uint32_t tc, uint32_t ts,
                       struct plan_tr *t)
{
    struct planner *P = w->P;
    char buf[PATH_MAX];
    const char *name = plan_s(P, job->name);
    if (ts != UINT32_MAX) {
        const struct wfmpi_wf_tc_site *s = &w->v->tc_sites[ts];
        t->site = s->name;
        t->container = s->container;
        int rc = find_container(w, s, t);
        if (rc)
            return rc;
        /* "incontainer": the executable is inside the container image. */
        bool inside = P->s_incontainer && s->name == P->s_incontainer;
        if (s->type == WFMPI_WF_TC_STAGEABLE && !inside)
            return stageable_exe(w, tc, s, t);
        if (!plan_url_local(plan_s(P, s->pfn)))
            return plan_pos_error(P, s->pfn_pos, WFMPI_E_INPUT,
                                  "transformation '%s': installed pfn '%s' is not a path (an "
                                  "installed executable is run where it is; type: stageable "
                                  "fetches one)",
                                  name, plan_s(P, s->pfn));
        const char *exe = plan_url_path(plan_s(P, s->pfn));
        if (!inside && t->cont == UINT32_MAX && !is_file(exe))
            wfmpi_warn("transformation '%s': pfn '%s' for site '%s' does not exist on this "
                       "machine (it may exist on the compute nodes)",
                       name, exe, plan_s(P, s->name));
        t->exe = wfmpi_strtab_intern_cstr(P->st, exe);
        return t->exe ? 0 : -ENOMEM;
    }
    t->cont = UINT32_MAX;
    if (!path_lookup(name, buf, sizeof(buf)))
        return plan_pos_error(P, job->pos, WFMPI_E_INPUT,
                              "transformation '%s' not found in the transformation catalog or on "
                              "PATH",
                              name);
    wfmpi_warn("transformation '%s' %s; using %s from PATH", name,
               tc == UINT32_MAX ? "is not in the transformation catalog"
                                : "has no usable site entry in the transformation catalog",
               buf);
    t->exe = wfmpi_strtab_intern_cstr(P->st, buf);
    t->site = P->opt && P->opt->site ? wfmpi_strtab_intern_cstr(P->st, P->opt->site) : P->s_local;
    return t->exe && t->site ? 0 : -ENOMEM;
}

/* Profile layers that do not depend on the job: workflow < site catalog
 * (execution site) < transformation < transformation-site < container. */
static int base_layers(struct plan_wfc *w, uint32_t tc, uint32_t ts, struct plan_tr *t)
{
    struct planner *P = w->P;
    const struct wfmpi_wf_view *v = w->v;
    struct plan_env *e = &P->env;
    e->n = 0;
    memset(&t->res, 0, sizeof(t->res));
    int rc = plan_apply_profiles(P, v, v->profiles, &t->res, e);
    const struct wfmpi_wf_site *site = find_site(v, t->site);
    if (!rc && site)
        rc = plan_apply_profiles(P, v, site->profiles, &t->res, e);
    if (!rc && tc != UINT32_MAX)
        rc = plan_apply_profiles(P, v, v->transformations[tc].profiles, &t->res, e);
    if (!rc && ts != UINT32_MAX)
        rc = plan_apply_profiles(P, v, v->tc_sites[ts].profiles, &t->res, e);
    /* A container's profiles (its env, say MONTAGE_HOME) apply to every job
     * run in it, below the job's own. */
    if (!rc && t->cont != UINT32_MAX)
        rc = plan_apply_profiles(P, v, v->containers[t->cont].profiles, &t->res, e);
    if (rc)
        return rc;
    t->env_first = (uint32_t)w->benv.n;
    t->env_n = (uint32_t)e->n;
    for (size_t i = 0; i < e->n; i++) {
        /* benv is a plain list (no replacement): append directly. */
        if (wfmpi_grow((void **)&w->benv.kv, &w->benv.cap, 2 * (w->benv.n + 1),
                       sizeof(*w->benv.kv)))
            return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
        w->benv.kv[2 * w->benv.n] = e->kv[2 * i];
        w->benv.kv[2 * w->benv.n + 1] = e->kv[2 * i + 1];
        w->benv.n++;
    }
    return 0;
}

int plan_resolve_tr(struct plan_wfc *w, const struct wfmpi_wf_job *job, uint32_t *out)
{
    for (uint32_t i = plan_map_get(&w->tr_by_name, job->name, UINT32_MAX); i != UINT32_MAX;
         i = w->tr[i].next) {
        const struct plan_tr *t = &w->tr[i];
        if (t->ns == job->ns && t->version == job->version) {
            *out = i;
            return 0;
        }
    }
    struct planner *P = w->P;
    if (wfmpi_grow((void **)&w->tr, &w->cap_tr, w->n_tr + 1, sizeof(*w->tr)))
        return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    struct plan_tr *t = &w->tr[w->n_tr];
    memset(t, 0, sizeof(*t));
    t->ns = job->ns;
    t->name = job->name;
    t->version = job->version;
    uint32_t tc, ts;
    find_tc(w, job, &tc, &ts);
    int rc = resolve_exe(w, job, tc, ts, t);
    if (!rc)
        rc = base_layers(w, tc, ts, t);
    if (rc)
        return rc < 0 && rc != WFMPI_E_INPUT && !P->err->text[0]
                   ? wfmpi_error_set(P->err, rc, "out of memory")
                   : rc;
    if (!(t->label = tr_label(P, job)))
        return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    t->next = plan_map_get(&w->tr_by_name, job->name, UINT32_MAX);
    if (plan_map_put(&w->tr_by_name, job->name, (uint32_t)w->n_tr))
        return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    *out = (uint32_t)w->n_tr++;
    return 0;
}

/* Replica for lfn: at `site`, else at "local", else any. UINT32_MAX: none. */
static uint32_t pick_replica(const struct plan_wfc *w, uint32_t lfn, uint32_t site)
{
    uint32_t first = plan_map_get(&w->rc_by_lfn, lfn, UINT32_MAX), local = UINT32_MAX;
    uint32_t any = UINT32_MAX;
    for (uint32_t i = first; i != UINT32_MAX; i = w->rc_next[i]) {
        const struct wfmpi_wf_replica *r = &w->v->replicas[i];
        if (!r->pfn)
            continue;
        if (site && r->site == site)
            return i;
        if (r->site == w->P->s_local && local == UINT32_MAX)
            local = i;
        if (any == UINT32_MAX)
            any = i;
    }
    return local != UINT32_MAX ? local : any;
}

static int resolve_uncached(struct plan_wfc *w, uint32_t lfn, uint32_t site,
                            struct wfmpi_wf_pos pos, struct plan_input *in)
{
    struct planner *P = w->P;
    in->site = site;
    in->from = pos;
    for (size_t i = 0; i < w->n_provided; i++) {
        if (w->provided[i].lfn == lfn) {
            in->pfn = w->provided[i].pfn;
            in->sha256 = w->provided[i].sha256;
            return 0;
        }
    }
    uint32_t r = pick_replica(w, lfn, site);
    if (r != UINT32_MAX) {
        in->pfn = w->v->replicas[r].pfn;
        in->sha256 = w->v->replicas[r].sha256;
        in->from = w->v->replicas[r].pos;
        return 0;
    }
    const char *dir = P->opt && P->opt->input_dir ? P->opt->input_dir : w->dir;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, plan_s(P, lfn));
    if (n > 0 && (size_t)n < sizeof(path) && is_file(path)) {
        in->pfn = wfmpi_strtab_intern_cstr(P->st, path);
        in->sha256 = 0;
        return in->pfn ? 0 : wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    }
    return plan_pos_error(P, pos, WFMPI_E_INPUT, "input file '%s' has no producer and no replica",
                          plan_s(P, lfn));
}

int plan_resolve_input(struct plan_wfc *w, uint32_t lfn, uint32_t site, struct wfmpi_wf_pos pos,
                       uint32_t *pfn, uint32_t *sha256, struct wfmpi_wf_pos *from)
{
    uint32_t k = plan_map_get(&w->input_by_lfn, lfn, UINT32_MAX);
    struct plan_input in;
    if (k != UINT32_MAX && w->inputs[k].site == site) {
        in = w->inputs[k];
    } else {
        int rc = resolve_uncached(w, lfn, site, pos, &in);
        if (rc)
            return rc;
        /* Cache the first site's answer; most workflows run on one site. */
        if (k == UINT32_MAX) {
            if (wfmpi_grow((void **)&w->inputs, &w->cap_inputs, w->n_inputs + 1,
                           sizeof(*w->inputs)) ||
                plan_map_put(&w->input_by_lfn, lfn, (uint32_t)w->n_inputs))
                return wfmpi_error_set(w->P->err, -ENOMEM, "out of memory");
            w->inputs[w->n_inputs++] = in;
        }
    }
    *pfn = in.pfn;
    *sha256 = in.sha256;
    *from = in.from;
    return 0;
}

int plan_locate_subwf(struct plan_wfc *w, uint32_t file, struct wfmpi_wf_pos pos, char *buf,
                      size_t size)
{
    struct planner *P = w->P;
    uint32_t r = pick_replica(w, file, P->s_local);
    if (r != UINT32_MAX) {
        const char *p = plan_url_path(plan_s(P, w->v->replicas[r].pfn));
        if (is_file(p) && (size_t)snprintf(buf, size, "%s", p) < size)
            return 0;
    }
    const char *name = plan_s(P, file);
    int n = name[0] == '/' ? snprintf(buf, size, "%s", name)
                           : snprintf(buf, size, "%s/%s", w->dir, name);
    if (n > 0 && (size_t)n < size && is_file(buf))
        return 0;
    return plan_pos_error(P, pos, WFMPI_E_INPUT,
                          "sub-workflow file '%s' not found (no replica, not in %s)", name, w->dir);
}
