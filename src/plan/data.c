/* Data handling in the plan, the way Pegasus plans it: the planner adds
 * data tasks around the workflow's jobs, and the scheduler, retries,
 * checkpoint and reports treat them like any other task.
 *
 * - stage-in: workflow inputs that are not already in the work dir are
 *   fetched by a `wfmpi stage-in` task before the first job that needs them
 *   (one task per job, for the inputs that job is the first to need; later
 *   consumers get an edge from it); stageable executables and container
 *   images once per workflow;
 * - stage-out: a job's outputs marked stageOut/registerReplica are copied to
 *   the output dir (and registered) by a `wfmpi stage-out` task after it;
 * - cleanup (--cleanup): intermediate files are removed by a `wfmpi cleanup`
 *   task after their producer and every consumer.
 * Containers wrap a job's argv in `apptainer exec` (or singularity, shifter).
 * docs/staging.md has the user's view.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"

#define FETCH_DIR_BIN ".wfmpi/bin/"
#define FETCH_DIR_IMAGES ".wfmpi/images/"

static const char *const kind_names[WFMPI_PLAN_NKINDS] = {"compute", "stage-in", "stage-out",
                                                          "cleanup"};

const char *wfmpi_plan_kind_name(uint8_t kind)
{
    return kind < WFMPI_PLAN_NKINDS ? kind_names[kind] : "?";
}

static int oom(struct planner *P)
{
    return wfmpi_error_set(P->err, -ENOMEM, "out of memory while planning data tasks");
}

int wfmpi_plan_integrity_exit(const struct wfmpi_plan_task *t, int exit_code)
{
    return t->kind == WFMPI_PLAN_STAGE_IN && exit_code == WFMPI_PLAN_INTEGRITY_EXIT;
}

static bool is_exe_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The container runtime: the option, else apptainer or singularity from
 * PATH, else "apptainer" looked up when the task starts. */
static void find_runtime(struct planner *P)
{
    const char *want = P->opt ? P->opt->container_runtime : NULL;
    const char *names[2] = {"apptainer", "singularity"};
    const char *path = getenv("PATH");
    for (int k = 0; k < 2; k++) {
        const char *name = want ? want : names[k];
        for (const char *d = path ? path : ""; *d;) {
            const char *colon = strchr(d, ':');
            size_t len = colon ? (size_t)(colon - d) : strlen(d);
            int n = snprintf(P->runtime, sizeof(P->runtime), "%.*s/%s", (int)len, d, name);
            if (len && n > 0 && (size_t)n < sizeof(P->runtime) && is_exe_file(P->runtime))
                return;
            d += len + (colon != NULL);
        }
        if (want)
            break;
    }
    snprintf(P->runtime, sizeof(P->runtime), "%s", want ? want : "apptainer");
}

int plan_data_init(struct planner *P)
{
    const char *wd = P->opt ? P->opt->work_dir : NULL;
    if (wd && (size_t)snprintf(P->work_dir, sizeof(P->work_dir), "%s", wd) >= sizeof(P->work_dir))
        return wfmpi_error_set(P->err, WFMPI_E_INPUT, "work dir path too long");
    if (!wd && !getcwd(P->work_dir, sizeof(P->work_dir)))
        return wfmpi_error_set(P->err, -errno, "current directory: %s", strerror(errno));
    find_runtime(P);
    return 0;
}

void plan_data_fini(struct planner *P)
{
    free(P->fetch);
    plan_map_fini(&P->fetch_by_dest);
    free(P->needs);
}

void plan_file_safe(char *s)
{
    for (; *s; s++) {
        if (*s == '/' || *s == ':' || *s == ' ')
            *s = '_';
    }
}

/* a + b interned; 0 when out of memory. */
static uint32_t intern2(struct planner *P, const char *a, const char *b)
{
    return plan_intern_concat(P, a, strlen(a), 0, b, strlen(b));
}

uint32_t plan_abs_pfn(struct plan_wfc *w, uint32_t pfn)
{
    struct planner *P = w->P;
    const char *s = plan_s(P, pfn);
    if (plan_url_remote(s))
        return pfn;
    const char *path = plan_url_path(s);
    if (path[0] == '/')
        return path == s ? pfn : wfmpi_strtab_intern_cstr(P->st, path);
    char dir[PATH_MAX], buf[2 * PATH_MAX];
    if (!realpath(w->dir, dir))
        snprintf(dir, sizeof(dir), "%s", w->dir);
    snprintf(buf, sizeof(buf), "%s/%s", dir, path);
    return wfmpi_strtab_intern_cstr(P->st, buf);
}

/* The fetch of dest, added on first sight; index into P->fetch. */
static int fetch_for(struct planner *P, const struct plan_fetch *f, uint32_t *out)
{
    uint32_t k = plan_map_get(&P->fetch_by_dest, f->dest, UINT32_MAX);
    if (k != UINT32_MAX) {
        if (P->fetch[k].url != f->url)
            wfmpi_warn("'%s' is fetched from %s; ignoring a second source %s", plan_s(P, f->dest),
                       plan_s(P, P->fetch[k].url), plan_s(P, f->url));
        *out = k;
        return 0;
    }
    if (WFMPI_PUSH(P->fetch, P->n_fetch, P->cap_fetch, *f) ||
        plan_map_put(&P->fetch_by_dest, f->dest, (uint32_t)(P->n_fetch - 1)))
        return oom(P);
    P->fetch[P->n_fetch - 1].task = UINT32_MAX;
    *out = (uint32_t)(P->n_fetch - 1);
    return 0;
}

/* The task about to be added needs fetch k. */
static int need(struct planner *P, uint32_t k)
{
    uint64_t e = (uint64_t)P->b->p->n_tasks << 32 | k;
    return WFMPI_PUSH(P->needs, P->n_needs, P->cap_needs, e) ? oom(P) : 0;
}

int plan_need_exe(struct plan_wfc *w, const struct plan_tr *t)
{
    if (!t->stage_url)
        return 0;
    struct plan_fetch f = {.name = t->label,
                           .dest = t->exe,
                           .url = t->stage_url,
                           .sha = t->stage_sha,
                           .how = PLAN_FETCH_EXE};
    uint32_t k;
    int rc = fetch_for(w->P, &f, &k);
    return rc ? rc : need(w->P, k);
}

/* ------------------------------------------------------------ containers */

/* Image URLs the container runtime pulls itself. */
static bool pulled(const char *u)
{
    return strncmp(u, "docker://", 9) == 0 || strncmp(u, "library://", 10) == 0 ||
           strncmp(u, "oras://", 7) == 0 || strncmp(u, "shub://", 7) == 0;
}

/* Where a container's image comes from and what the runtime is given:
 * bypassed images and local files as they are; docker://, library://,
 * oras:// and shub:// pulled once into the work dir; other URLs staged. */
static int container_image(struct plan_wfc *w, const struct wfmpi_wf_container *c, uint32_t *image)
{
    struct planner *P = w->P;
    const char *img = plan_s(P, c->image), *type = plan_s(P, c->type);
    uint32_t url = c->image;
    if (strcmp(type, "shifter") == 0) { /* the site's shifterimg has it */
        *image = c->image;
        return 0;
    }
    /* What is not pulled and not handed over as it is, is staged (or used
     * where it is): stage-in must be able to fetch it. */
    if (!c->bypass && !pulled(img)) {
        int rc = plan_check_fetch(P, c->image, c->image_pos, "container", c->name);
        if (rc)
            return rc;
    }
    if (!strstr(img, "://") && strcmp(type, "docker") == 0)
        url = intern2(P, "docker://", img);
    else if (!plan_url_remote(img))
        url = plan_abs_pfn(w, c->image);
    if (!url)
        return oom(P);
    const char *u = plan_s(P, url);
    if (c->bypass || !plan_url_remote(u)) {
        *image = url;
        return 0;
    }
    char name[PATH_MAX + 8]; /* room for ".sif" */
    snprintf(name, PATH_MAX, "%s", plan_s(P, c->name));
    plan_file_safe(name);
    bool pull = pulled(u);
    struct plan_fetch f = {.name = c->name,
                           .dest = intern2(P, FETCH_DIR_IMAGES, strcat(name, ".sif")),
                           .url = url,
                           .sha = c->sha256,
                           .how = pull ? PLAN_FETCH_PULL : PLAN_FETCH_STAGE};
    uint32_t k;
    int rc = f.dest ? fetch_for(P, &f, &k) : oom(P);
    if (!rc)
        rc = need(P, k);
    *image = f.dest;
    return rc;
}

/* Staged-in local inputs are symlinks to files outside the work dir: their
 * directories are bound too, or the links would dangle in the container. */
static int bind_input_dirs(struct planner *P)
{
    enum { MAX_DIRS = 64 };
    uint32_t dirs[MAX_DIRS];
    size_t n = 0, wl = strlen(P->work_dir);
    for (size_t i = 0; !(P->opt && P->opt->no_symlink) && i < P->n_files; i++) {
        const struct wfmpi_plan_file *f = &P->files[i];
        const char *pfn = f->pfn ? plan_s(P, f->pfn) : "";
        const char *path = plan_url_path(pfn), *slash = strrchr(path, '/');
        if (f->link != WFMPI_WF_LINK_INPUT || !f->pfn || (f->flags & WFMPI_WF_USE_BYPASS) ||
            plan_url_remote(pfn) || path[0] != '/' || !slash || slash == path ||
            (strncmp(path, P->work_dir, wl) == 0 && path[wl] == '/'))
            continue;
        uint32_t d = wfmpi_strtab_intern(P->st, path, (size_t)(slash - path));
        if (!d)
            return oom(P);
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = dirs[k] == d;
        if (seen)
            continue;
        if (n == MAX_DIRS) {
            wfmpi_warn("a container job reads inputs from more than %d directories; bind the "
                       "rest with the container's mounts",
                       MAX_DIRS);
            break;
        }
        dirs[n++] = d;
        if (plan_word_add_str(P, "--bind", 6) || plan_word_add(P, d))
            return oom(P);
    }
    return 0;
}

static int shifter_prefix(struct planner *P, const char *img, uint32_t *exe)
{
    char buf[PATH_MAX];
    /* Shifter names images "docker:name:tag". */
    if (strncmp(img, "docker://", 9) == 0)
        snprintf(buf, sizeof(buf), "--image=docker:%s", img + 9);
    else
        snprintf(buf, sizeof(buf), "--image=%s", img);
    *exe = wfmpi_strtab_intern_cstr(P->st, "shifter");
    return *exe ? plan_word_add_str(P, buf, strlen(buf)) : oom(P);
}

int plan_container_prefix(struct plan_wfc *w, const struct plan_tr *t, uint32_t gpus, uint32_t *exe)
{
    struct planner *P = w->P;
    if (t->cont == UINT32_MAX)
        return 0;
    const struct wfmpi_wf_container *c = &w->v->containers[t->cont];
    uint32_t image;
    int rc = container_image(w, c, &image);
    if (rc)
        return rc;
    uint32_t inner = *exe;
    if (strcmp(plan_s(P, c->type), "shifter") == 0) {
        rc = shifter_prefix(P, plan_s(P, image), exe);
    } else {
        *exe = wfmpi_strtab_intern_cstr(P->st, P->runtime);
        rc = *exe ? plan_word_add_str(P, "exec", 4) : oom(P);
        if (!rc && gpus)
            rc = plan_word_add_str(P, "--nv", 4);
        if (!rc)
            rc = plan_word_add_str(P, "--bind", 6);
        if (!rc)
            rc = plan_word_add_str(P, P->work_dir, strlen(P->work_dir));
        for (uint32_t i = 0; !rc && i < c->mounts.count; i++) {
            rc = plan_word_add_str(P, "--bind", 6);
            if (!rc)
                rc = plan_word_add(P, w->v->strs[c->mounts.first + i]);
        }
        if (!rc)
            rc = bind_input_dirs(P);
        if (!rc)
            rc = plan_word_add_str(P, "--pwd", 5);
        if (!rc)
            rc = plan_word_add_str(P, P->work_dir, strlen(P->work_dir));
        if (!rc)
            rc = plan_word_add(P, image);
    }
    return rc ? rc : plan_word_add(P, inner);
}

/* ------------------------------------------------------------ output site */

void plan_output_site(struct planner *P, const struct wfmpi_wf_view *v)
{
    for (uint32_t i = 0; i < v->n_sites; i++) {
        const struct wfmpi_wf_site *s = &v->sites[i];
        if (s->name != P->s_local)
            continue;
        for (uint32_t k = 0; k < s->directories.count; k++) {
            const struct wfmpi_wf_directory *d = &v->directories[s->directories.first + k];
            if (strcmp(plan_s(P, d->type), "localStorage") == 0 && d->path) {
                snprintf(P->output_site_dir, sizeof(P->output_site_dir), "%s", plan_s(P, d->path));
                return;
            }
        }
    }
}

/* ------------------------------------------------------------ bypass */

int plan_bypass_args(struct planner *P, size_t n_args)
{
    for (size_t i = 0; i < P->n_files; i++) {
        const struct wfmpi_plan_file *f = &P->files[i];
        if (!(f->flags & WFMPI_WF_USE_BYPASS) || !f->pfn)
            continue;
        const char *pfn = plan_s(P, f->pfn), *path = plan_url_path(pfn);
        uint32_t to = path == pfn ? f->pfn : wfmpi_strtab_intern_cstr(P->st, path);
        if (!to)
            return oom(P);
        for (size_t k = 0; k < n_args; k++) {
            if (P->words[k] == f->lfn)
                P->words[k] = to;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ data tasks */

/* Add a data task running `exe` with P->words as arguments and P->files as
 * its files; *out is its index. */
static int add_data_task(struct planner *P, uint8_t kind, uint32_t id, uint32_t exe, uint32_t *out)
{
    static const char *const labels[WFMPI_PLAN_NKINDS] = {"", "wfmpi::stage-in", "wfmpi::stage-out",
                                                          "wfmpi::cleanup"};
    struct plan_task_ids s = {0};
    s.id = id;
    s.transformation = wfmpi_strtab_intern_cstr(P->st, labels[kind]);
    s.exe = exe;
    s.site = P->s_local;
    s.args = P->words;
    s.n_args = (uint32_t)P->n_words;
    s.files = P->files;
    s.n_files = (uint32_t)P->n_files;
    s.cores = 1;
    s.retries = -1;
    s.kind = kind;
    if (!s.id || !s.transformation || !s.exe)
        return oom(P);
    int64_t idx = plan_builder_add_task_ids(P->b, &s, P->err);
    if (idx < 0)
        return idx == WFMPI_E_INPUT
                   ? wfmpi_error_set(P->err, WFMPI_E_INPUT,
                                     "the planner's data task '%s' has the id of a job; rename "
                                     "that job",
                                     plan_s(P, id))
                   : (int)idx;
    *out = (uint32_t)idx;
    return 0;
}

static uint32_t data_id(struct planner *P, const char *prefix, uint32_t name)
{
    char buf[2 * PATH_MAX];
    int n = snprintf(buf, sizeof(buf), "%s%s", prefix, plan_s(P, name));
    if (n < 0 || (size_t)n >= sizeof(buf))
        return 0;
    plan_file_safe(buf + strlen(prefix));
    return wfmpi_strtab_intern(P->st, buf, (size_t)n);
}

static int push_file(struct planner *P, uint32_t lfn, uint8_t link)
{
    struct wfmpi_plan_file f = {.lfn = lfn, .link = link};
    return WFMPI_PUSH(P->files, P->n_files, P->cap_files, f) ? oom(P) : 0;
}

static int words_str(struct planner *P, const char *s)
{
    return plan_word_add_str(P, s, strlen(s));
}

static uint32_t self_exe(struct planner *P)
{
    return wfmpi_strtab_intern_cstr(P->st, P->self_exe);
}

/* One task per fetch (executables, images), with edges to the tasks that
 * need it. */
static int fetch_tasks(struct planner *P)
{
    for (size_t k = 0; k < P->n_fetch; k++) {
        struct plan_fetch *f = &P->fetch[k];
        const char *sha = f->sha ? plan_s(P, f->sha) : "-";
        P->n_words = P->n_files = 0;
        int rc;
        uint32_t exe, id;
        if (f->how == PLAN_FETCH_PULL) {
            exe = wfmpi_strtab_intern_cstr(P->st, P->runtime);
            id = data_id(P, "pull_image_", f->name);
            rc = words_str(P, "pull") || words_str(P, "--force") || plan_word_add(P, f->dest) ||
                 plan_word_add(P, f->url);
        } else {
            exe = self_exe(P);
            id = data_id(P, f->how == PLAN_FETCH_EXE ? "stage_exe_" : "stage_image_", f->name);
            rc = words_str(P, "stage-in") ||
                 (f->how == PLAN_FETCH_EXE && words_str(P, "--executable")) || words_str(P, "--") ||
                 plan_word_add(P, f->url) || plan_word_add(P, f->dest) || words_str(P, sha);
        }
        if (rc || push_file(P, f->dest, WFMPI_WF_LINK_OUTPUT))
            return oom(P);
        if ((rc = add_data_task(P, WFMPI_PLAN_STAGE_IN, id, exe, &f->task)))
            return rc;
    }
    for (size_t i = 0; i < P->n_needs; i++) {
        uint32_t t = (uint32_t)(P->needs[i] >> 32), k = (uint32_t)P->needs[i];
        int rc = wfmpi_plan_builder_add_edge(P->b, P->fetch[k].task, t, P->err);
        if (rc)
            return rc;
    }
    return 0;
}

/* A local input already at <work dir>/<lfn> (the same file, not a link a
 * stage-in made) needs nothing. Staged links keep their stage-in task, so
 * a rerun plans the same tasks. */
static bool in_place(const struct planner *P, const char *pfn, const char *lfn)
{
    if (plan_url_remote(pfn))
        return false;
    char buf[2 * PATH_MAX]; /* lfns are relative (plan_check_lfn) */
    struct stat a, b;
    snprintf(buf, sizeof(buf), "%s/%s", P->work_dir, lfn);
    return lstat(buf, &b) == 0 && S_ISREG(b.st_mode) && stat(plan_url_path(pfn), &a) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* The pfn a stage-in task is given: URLs as they are, local paths absolute
 * (relative ones are relative to where wfmpi was started). */
static uint32_t stage_url(struct planner *P, uint32_t pfn)
{
    const char *s = plan_s(P, pfn), *path = plan_url_path(s);
    if (plan_url_remote(s) || path[0] == '/')
        return pfn;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return pfn;
    strncat(cwd, "/", sizeof(cwd) - strlen(cwd) - 1);
    return intern2(P, cwd, path);
}

#define LFN_IN_PLACE (UINT32_MAX - 1)
#define LFN_THIS_TASK (UINT32_MAX - 2) /* staged by the task being put together */

/* Stage-in for compute task t: inputs no earlier task stages go into a new
 * task; inputs an earlier one stages give an edge. */
static int stage_in_for(struct planner *P, struct plan_map *staged, uint32_t t)
{
    struct wfmpi_plan *p = P->b->p;
    P->n_words = P->n_files = 0;
    int rc = words_str(P, "stage-in");
    if (!rc && P->opt && P->opt->no_symlink)
        rc = words_str(P, "--no-symlink");
    if (rc || words_str(P, "--"))
        return oom(P);
    size_t base = P->n_words;
    struct wfmpi_plan_range r = p->tasks[t].files;
    for (uint32_t i = 0; i < r.count; i++) {
        struct wfmpi_plan_file f = p->files[r.first + i];
        if (f.link != WFMPI_WF_LINK_INPUT || !f.pfn || (f.flags & WFMPI_WF_USE_BYPASS))
            continue;
        uint32_t by = plan_map_get(staged, f.lfn, UINT32_MAX);
        if (by == UINT32_MAX && in_place(P, plan_s(P, f.pfn), plan_s(P, f.lfn)))
            by = LFN_IN_PLACE;
        if (by == LFN_IN_PLACE || by == LFN_THIS_TASK) {
            if (plan_map_put(staged, f.lfn, by))
                return oom(P);
            continue;
        }
        if (by != UINT32_MAX) {
            if ((rc = wfmpi_plan_builder_add_edge(P->b, by, t, P->err)))
                return rc;
            continue;
        }
        uint32_t url = stage_url(P, f.pfn);
        if (!url || plan_word_add(P, url) || plan_word_add(P, f.lfn) ||
            words_str(P, f.sha256 ? plan_s(P, f.sha256) : "-") ||
            push_file(P, f.lfn, WFMPI_WF_LINK_OUTPUT) || plan_map_put(staged, f.lfn, LFN_THIS_TASK))
            return oom(P);
    }
    if (P->n_words == base)
        return 0;
    uint32_t s;
    if ((rc = add_data_task(P, WFMPI_PLAN_STAGE_IN, data_id(P, "stage_in_", p->tasks[t].id),
                            self_exe(P), &s)))
        return rc;
    for (size_t i = 0; i < P->n_files; i++) {
        if (plan_map_put(staged, P->files[i].lfn, s))
            return oom(P);
    }
    return wfmpi_plan_builder_add_edge(P->b, s, t, P->err);
}

static bool staged_out(const struct wfmpi_plan_file *f)
{
    return (f->link == WFMPI_WF_LINK_OUTPUT || f->link == WFMPI_WF_LINK_INOUT) &&
           (f->flags & (WFMPI_WF_USE_STAGE_OUT | WFMPI_WF_USE_REGISTER_REPLICA)) &&
           !(f->flags & WFMPI_WF_USE_OPTIONAL);
}

/* Stage-out after compute task t: its outputs marked stageOut and/or
 * registerReplica. */
static int stage_out_for(struct planner *P, uint32_t t)
{
    struct wfmpi_plan *p = P->b->p;
    const char *out = P->opt && P->opt->output_dir ? P->opt->output_dir
                      : P->output_site_dir[0]      ? P->output_site_dir
                                                   : "output";
    P->n_words = P->n_files = 0;
    if (words_str(P, "stage-out") || words_str(P, "--output-dir") || words_str(P, out) ||
        words_str(P, "--"))
        return oom(P);
    size_t base = P->n_words;
    struct wfmpi_plan_range r = p->tasks[t].files;
    for (uint32_t i = 0; i < r.count; i++) {
        struct wfmpi_plan_file f = p->files[r.first + i];
        if (!staged_out(&f))
            continue;
        const char *mode = !(f.flags & WFMPI_WF_USE_STAGE_OUT)         ? "register"
                           : (f.flags & WFMPI_WF_USE_REGISTER_REPLICA) ? "copy+register"
                                                                       : "copy";
        if (plan_word_add(P, f.lfn) || words_str(P, mode) ||
            push_file(P, f.lfn, WFMPI_WF_LINK_INPUT))
            return oom(P);
    }
    if (P->n_words == base)
        return 0;
    uint32_t s;
    int rc = add_data_task(P, WFMPI_PLAN_STAGE_OUT, data_id(P, "stage_out_", p->tasks[t].id),
                           self_exe(P), &s);
    return rc ? rc : wfmpi_plan_builder_add_edge(P->b, t, s, P->err);
}

#define LFN_KEEP UINT32_MAX /* never cleaned: inout, staged out, registered */

/* Which files of compute tasks [0, n) may be removed: outputs (not inout,
 * not staged out or registered) that some task consumes. prod: lfn ->
 * producer or LFN_KEEP; used: lfn -> 1 when consumed. */
static int cleanable(struct planner *P, uint32_t n, struct plan_map *prod, struct plan_map *used)
{
    const struct wfmpi_plan *p = P->b->p;
    for (uint32_t t = 0; t < n; t++) {
        struct wfmpi_plan_range r = p->tasks[t].files;
        for (uint32_t i = 0; i < r.count; i++) {
            const struct wfmpi_plan_file *f = &p->files[r.first + i];
            if (f->link == WFMPI_WF_LINK_INPUT) {
                if (!f->pfn && plan_map_put(used, f->lfn, 1))
                    return oom(P);
                continue;
            }
            bool keep = f->link != WFMPI_WF_LINK_OUTPUT ||
                        (f->flags & (WFMPI_WF_USE_STAGE_OUT | WFMPI_WF_USE_REGISTER_REPLICA));
            if (plan_map_put(prod, f->lfn,
                             keep || plan_map_get(prod, f->lfn, t) != t ? LFN_KEEP : t))
                return oom(P);
        }
    }
    return 0;
}

/* Cleanup tasks (--cleanup): one per producer, for its removable files,
 * after the producer and every consumer of them. */
static int cleanup_tasks(struct planner *P, uint32_t n)
{
    struct plan_map prod = {0}, used = {0}, by = {0};
    int rc = cleanable(P, n, &prod, &used);
    for (uint32_t t = 0; !rc && t < n; t++) {
        const struct wfmpi_plan *p = P->b->p;
        struct wfmpi_plan_range r = p->tasks[t].files;
        P->n_words = P->n_files = 0;
        if (words_str(P, "cleanup") || words_str(P, "--")) {
            rc = oom(P);
            break;
        }
        for (uint32_t i = 0; !rc && i < r.count; i++) {
            const struct wfmpi_plan_file *f = &p->files[r.first + i];
            if (f->link == WFMPI_WF_LINK_OUTPUT && plan_map_get(&prod, f->lfn, LFN_KEEP) == t &&
                plan_map_get(&used, f->lfn, 0) &&
                (plan_word_add(P, f->lfn) || push_file(P, f->lfn, WFMPI_WF_LINK_INPUT)))
                rc = oom(P);
        }
        if (rc || P->n_words == 2)
            continue;
        uint32_t c;
        rc = add_data_task(P, WFMPI_PLAN_CLEANUP, data_id(P, "cleanup_", P->b->p->tasks[t].id),
                           self_exe(P), &c);
        for (size_t i = 0; !rc && i < P->n_files; i++)
            rc = plan_map_put(&by, P->files[i].lfn, c) ? oom(P) : 0;
        if (!rc)
            rc = wfmpi_plan_builder_add_edge(P->b, t, c, P->err);
    }
    for (uint32_t t = 0; !rc && t < n; t++) {
        struct wfmpi_plan_range r = P->b->p->tasks[t].files;
        for (uint32_t i = 0; !rc && i < r.count; i++) {
            const struct wfmpi_plan_file *f = &P->b->p->files[r.first + i];
            uint32_t c =
                f->link == WFMPI_WF_LINK_INPUT ? plan_map_get(&by, f->lfn, UINT32_MAX) : UINT32_MAX;
            if (c != UINT32_MAX)
                rc = wfmpi_plan_builder_add_edge(P->b, t, c, P->err);
        }
    }
    plan_map_fini(&prod);
    plan_map_fini(&used);
    plan_map_fini(&by);
    return rc;
}

int plan_data_tasks(struct planner *P)
{
    uint32_t n = (uint32_t)P->b->p->n_tasks; /* compute tasks: data tasks come after */
    struct plan_map staged = {0};
    int rc = fetch_tasks(P);
    for (uint32_t t = 0; !rc && t < n; t++)
        rc = stage_in_for(P, &staged, t);
    plan_map_fini(&staged);
    for (uint32_t t = 0; !rc && !(P->opt && P->opt->no_stage_out) && t < n; t++)
        rc = stage_out_for(P, t);
    if (!rc && P->opt && P->opt->cleanup)
        rc = cleanup_tasks(P, n);
    return rc;
}
