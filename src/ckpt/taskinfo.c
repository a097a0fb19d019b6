/* What each task is (transformation, resources, command line, stdio), taken
 * from the plan once when the checkpoint opens and written with every
 * snapshot, so that analyze, statistics and report can read a run dir
 * without the workflow or its catalogs. */
#include <stdlib.h>
#include <string.h>

#include "ckpt_int.h"

/* Bytes a shell-quoted argument needs: 'a'\''b' style when it has anything
 * a shell would treat specially. */
static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *s))
            return true;
    }
    return false;
}

static int put_arg(struct wfmpi_buf *b, const char *s)
{
    if (!needs_quotes(s))
        return wfmpi_buf_append(b, s, strlen(s));
    int rc = wfmpi_buf_append(b, "'", 1);
    for (; rc == 0 && *s; s++)
        rc = *s == '\'' ? wfmpi_buf_append(b, "'\\''", 4) : wfmpi_buf_append(b, s, 1);
    return rc == 0 ? wfmpi_buf_append(b, "'", 1) : rc;
}

/* All command lines go into one buffer ("a\0b\0..."): no per-task
 * allocation, and the offsets become pointers once it stops growing. */
static int build_cmds(struct ckpt_taskinfo *ti, const struct wfmpi_plan *p,
                      const struct wfmpi_plan_view *v, size_t *off)
{
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, SIZE_MAX);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < v->n_tasks; i++) {
        const struct wfmpi_plan_task *t = &v->tasks[i];
        off[i] = b.len;
        for (uint32_t k = 0; rc == 0 && k < t->argv.count; k++) {
            if (k)
                rc = wfmpi_buf_append(&b, " ", 1);
            if (rc == 0)
                rc = put_arg(&b, wfmpi_plan_str(p, v->strs[t->argv.first + k]));
        }
        if (rc == 0)
            rc = wfmpi_buf_append(&b, "", 1);
    }
    if (rc < 0) {
        wfmpi_buf_fini(&b);
        return rc;
    }
    ti->buf = b.data ? b.data : calloc(1, 1);
    for (uint32_t i = 0; ti->buf && i < v->n_tasks; i++)
        ti->cmd[i] = ti->buf + off[i];
    return ti->buf ? 0 : -ENOMEM;
}

static int build_xforms(struct ckpt_taskinfo *ti, const struct wfmpi_plan *p,
                        const struct wfmpi_plan_view *v)
{
    /* Dense indexes in first-seen order; index 0 is "no transformation". */
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    if (!t)
        return -ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < v->n_tasks; i++) {
        const char *name = wfmpi_plan_str(p, v->tasks[i].transformation);
        uint32_t id = *name ? wfmpi_strtab_intern_cstr(t, name) : 0;
        if (*name && !id)
            rc = -ENOMEM;
        ti->xform[i] = id;
    }
    ti->n_xforms = wfmpi_strtab_count(t) + 1;
    if (rc == 0 && !(ti->xforms = calloc(ti->n_xforms, sizeof(char *))))
        rc = -ENOMEM;
    for (uint32_t k = 0; rc == 0 && k < ti->n_xforms; k++) {
        const char *s = k ? wfmpi_strtab_str(t, k) : "";
        if (!(ti->xforms[k] = strdup(s)))
            rc = -ENOMEM;
    }
    wfmpi_strtab_destroy(t);
    return rc;
}

int ckpt_taskinfo_build(struct ckpt_taskinfo *ti, const struct wfmpi_plan *p)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    size_t n = v->n_tasks ? v->n_tasks : 1;
    memset(ti, 0, sizeof(*ti));
    ti->n_tasks = v->n_tasks;
    ti->xform = calloc(n, sizeof(uint32_t));
    ti->cores = calloc(n, sizeof(uint32_t));
    ti->gpus = calloc(n, sizeof(uint32_t));
    ti->cmd = calloc(n, sizeof(char *));
    ti->out = calloc(n, sizeof(char *));
    ti->err = calloc(n, sizeof(char *));
    size_t *off = calloc(n, sizeof(size_t));
    int rc =
        ti->xform && ti->cores && ti->gpus && ti->cmd && ti->out && ti->err && off ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < v->n_tasks; i++) {
        const struct wfmpi_plan_task *t = &v->tasks[i];
        ti->cores[i] = t->cores;
        ti->gpus[i] = t->gpus;
        ti->out[i] = wfmpi_plan_str(p, t->stdout_path);
        ti->err[i] = wfmpi_plan_str(p, t->stderr_path);
    }
    if (rc == 0)
        rc = build_cmds(ti, p, v, off);
    if (rc == 0)
        rc = build_xforms(ti, p, v);
    free(off);
    if (rc < 0)
        ckpt_taskinfo_fini(ti);
    return rc;
}

void ckpt_taskinfo_fini(struct ckpt_taskinfo *ti)
{
    for (uint32_t k = 0; ti->xforms && k < ti->n_xforms; k++)
        free(ti->xforms[k]);
    free(ti->xforms);
    free(ti->xform);
    free(ti->cores);
    free(ti->gpus);
    free(ti->cmd);
    free(ti->out);
    free(ti->err);
    free(ti->buf);
    memset(ti, 0, sizeof(*ti));
}
