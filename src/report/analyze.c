/* wfmpi analyze: what pegasus-analyzer prints — a summary, then every
 * failed task with its attempts, command, work dir and the end of its
 * output. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "wfmpi/exec.h"

/* A tail never reads more than this from the end of a file. */
#define TAIL_MAX_BYTES 65536

struct failed_task {
    uint32_t task;
    uint32_t first, count; /* into the sorted event index */
    uint32_t last_attempt;
    struct wfmpi_ckpt_task_cmd cmd;
    char out_path[2 * PATH_MAX], err_path[2 * PATH_MAX];
    /* The engine's own logs exist only when the task wrote something
     * (docs/engine.md): a missing one is empty, not unreadable. */
    bool out_lazy, err_lazy;
};

struct analysis {
    const struct wfmpi_ckpt_state *st;
    const char *run_dir;
    bool live;
    uint32_t n_failed;
    struct failed_task *f;
    uint32_t *ev; /* event indexes grouped by failed task, in attempt order */
    uint32_t total, succeeded, failed, blocked, unsubmitted, running;
};

/* The groups are tiny (a task's attempts): insertion sort by attempt. */
static void sort_group(uint32_t *v, uint32_t n, const struct wfmpi_ckpt_event *ev)
{
    for (uint32_t i = 1; i < n; i++) {
        uint32_t x = v[i], j = i;
        for (; j > 0 && ev[v[j - 1]].attempt > ev[x].attempt; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static void count(struct analysis *a)
{
    const struct wfmpi_ckpt_state *st = a->st;
    a->total = st->n_tasks;
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        switch (st->tasks[i].state) {
        case WFMPI_TASK_DONE:
            a->succeeded++;
            break;
        case WFMPI_TASK_FAILED:
            a->failed++;
            break;
        case WFMPI_TASK_BLOCKED:
            a->blocked++;
            break;
        case WFMPI_TASK_RUNNING:
            /* A killed master's running tasks are requeued: unsubmitted. */
            if (a->live)
                a->running++;
            else
                a->unsubmitted++;
            break;
        default:
            a->unsubmitted++;
        }
    }
}

/* Group the failed tasks' events: one counting pass, one filling pass. */
static int group_events(struct analysis *a)
{
    const struct wfmpi_ckpt_state *st = a->st;
    uint32_t *slot = calloc(st->n_tasks ? st->n_tasks : 1, sizeof(uint32_t));
    a->f = calloc(a->failed ? a->failed : 1, sizeof(*a->f));
    if (!slot || !a->f) {
        free(slot);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        if (st->tasks[i].state == WFMPI_TASK_FAILED) {
            a->f[a->n_failed].task = i;
            slot[i] = ++a->n_failed;
        }
    }
    uint32_t n_ev = 0;
    for (uint32_t e = 0; e < st->n_events; e++) {
        if (slot[st->events[e].task]) {
            a->f[slot[st->events[e].task] - 1].count++;
            n_ev++;
        }
    }
    a->ev = calloc(n_ev ? n_ev : 1, sizeof(uint32_t));
    if (!a->ev) {
        free(slot);
        return -ENOMEM;
    }
    for (uint32_t k = 0, at = 0; k < a->n_failed; k++) {
        a->f[k].first = at;
        at += a->f[k].count;
        a->f[k].count = 0;
    }
    for (uint32_t e = 0; e < st->n_events; e++) {
        uint32_t s = slot[st->events[e].task];
        if (s) {
            struct failed_task *f = &a->f[s - 1];
            a->ev[f->first + f->count++] = e;
        }
    }
    for (uint32_t k = 0; k < a->n_failed; k++) {
        struct failed_task *f = &a->f[k];
        sort_group(a->ev + f->first, f->count, st->events);
        f->last_attempt = f->count ? st->events[a->ev[f->first + f->count - 1]].attempt
                                   : st->tasks[f->task].attempts;
    }
    free(slot);
    return 0;
}

static void stdio_path(const struct analysis *a, const struct failed_task *f, const char *named,
                       const char *ext, char *out, size_t size)
{
    if (named[0] == '/')
        snprintf(out, size, "%s", named);
    else if (named[0])
        snprintf(out, size, "%s/%s", a->st->work_dir[0] ? a->st->work_dir : ".", named);
    else
        wfmpi_job_output_path(out, size, a->run_dir, a->st->ids[f->task], f->last_attempt, ext);
}

static int load_cmds(struct analysis *a, struct wfmpi_error *err)
{
    uint32_t *tasks = malloc((a->n_failed ? a->n_failed : 1) * sizeof(uint32_t));
    struct wfmpi_ckpt_task_cmd *cmds = calloc(a->n_failed ? a->n_failed : 1, sizeof(*cmds));
    int rc = tasks && cmds ? 0 : wfmpi_error_set(err, -ENOMEM, "out of memory");
    for (uint32_t k = 0; rc == 0 && k < a->n_failed; k++)
        tasks[k] = a->f[k].task;
    if (rc == 0)
        rc = wfmpi_ckpt_load_cmds(a->run_dir, tasks, a->n_failed, cmds, err);
    for (uint32_t k = 0; rc == 0 && k < a->n_failed; k++) {
        struct failed_task *f = &a->f[k];
        f->cmd = cmds[k];
        stdio_path(a, f, f->cmd.stdout_path, "out", f->out_path, sizeof(f->out_path));
        stdio_path(a, f, f->cmd.stderr_path, "err", f->err_path, sizeof(f->err_path));
        f->out_lazy = !f->cmd.stdout_path[0];
        f->err_lazy = !f->cmd.stderr_path[0];
    }
    free(tasks);
    free(cmds);
    return rc;
}

/* The last n lines of path as a JSON array of strings (NULL: unreadable;
 * empty: a lazy log the task never wrote). */
static json_t *tail(const char *path, unsigned n, bool lazy)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return lazy && errno == ENOENT ? json_array() : NULL;
    char *buf = malloc(TAIL_MAX_BYTES + 1);
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    long from = size > TAIL_MAX_BYTES ? size - TAIL_MAX_BYTES : 0;
    size_t len =
        buf && size >= 0 && fseek(fp, from, SEEK_SET) == 0 ? fread(buf, 1, TAIL_MAX_BYTES, fp) : 0;
    fclose(fp);
    if (!buf)
        return NULL;
    if (len && buf[len - 1] == '\n')
        len--;
    size_t start = len;
    unsigned lines = 0;
    while (start > 0 && lines < n) {
        if (buf[start - 1] == '\n' && ++lines == n)
            break;
        start--;
    }
    json_t *arr = json_array();
    while (len && start <= len) {
        char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        json_array_append_new(arr, json_stringn_nocheck(buf + start, end - start));
        start = end + 1;
    }
    free(buf);
    return arr;
}

static json_t *attempt_json(const struct analysis *a, const struct failed_task *f, uint32_t k)
{
    const struct wfmpi_ckpt_event *ev = &a->st->events[a->ev[f->first + k]];
    char why[WFMPI_CKPT_DETAIL_MAX + 64], g[200];
    rpt_event_reason(ev, why, sizeof(why));
    /* The checkpoint keeps the detail text of the last failure only. */
    const char *detail = a->st->details[f->task];
    if (k == f->count - 1 && detail[0] && ev->reason != WFMPI_EXEC_OK)
        snprintf(why, sizeof(why), "%s", detail);
    rpt_gpus(ev->gpu_mask, g, sizeof(g));
    return json_pack("{s:i,s:s,s:s,s:i,s:i,s:i,s:i,s:s,s:f,s:f,s:f,s:i,s:I}", "attempt",
                     ev->attempt, "reason", rpt_reason_name(ev->reason), "detail", why, "exit_code",
                     ev->exit_code, "signal", ev->signal, "rank", ev->rank, "node", ev->node,
                     "gpus", g, "start", ev->start, "end", ev->end, "duration", ev->end - ev->start,
                     "run", ev->run + 1, "maxrss_kb", (json_int_t)ev->maxrss_kb);
}

static json_t *task_json(const struct analysis *a, const struct failed_task *f, unsigned lines)
{
    const struct wfmpi_ckpt_state *st = a->st;
    json_t *att = json_array();
    for (uint32_t k = 0; k < f->count; k++)
        json_array_append_new(att, attempt_json(a, f, k));
    json_t *o = tail(f->out_path, lines, f->out_lazy), *e = tail(f->err_path, lines, f->err_lazy);
    const char *xf = st->task_xform ? st->xforms[st->task_xform[f->task]] : "";
    return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "id", st->ids[f->task],
                     "transformation", xf, "attempts", st->tasks[f->task].attempts, "command",
                     f->cmd.cmd, "work_dir", st->work_dir, "stdout_path", f->out_path,
                     "stderr_path", f->err_path, "stdout_tail", o ? o : json_null(), "stderr_tail",
                     e ? e : json_null(), "attempt_details", att);
}

static void banner(FILE *out, const char *title)
{
    size_t n = strlen(title) + 2, side = n < 78 ? (78 - n) / 2 : 0;
    for (size_t i = 0; i < side; i++)
        fputc('*', out);
    fprintf(out, " %s ", title);
    for (size_t i = 0; i < 78 - n - side && n < 78; i++)
        fputc('*', out);
    fputc('\n', out);
}

static void print_lines(FILE *out, const char *what, const char *path, json_t *lines)
{
    size_t i;
    json_t *l;
    if (!lines) {
        fprintf(out, "  --- %s: %s (not readable)\n", what, path);
        return;
    }
    if (json_array_size(lines) == 0) {
        fprintf(out, "  --- %s: nothing written\n", what);
        return;
    }
    fprintf(out, "  --- %s: %s (last %zu lines)\n", what, path, json_array_size(lines));
    json_array_foreach(lines, i, l) fprintf(out, "  | %s\n", json_string_value(l));
}

static void print_task(FILE *out, json_t *t)
{
    fprintf(out, "\n");
    banner(out, json_string_value(json_object_get(t, "id")));
    const char *xf = json_string_value(json_object_get(t, "transformation"));
    fprintf(out, "  transformation : %s\n", xf[0] ? xf : "(none)");
    fprintf(out, "  attempts       : %lld\n",
            (long long)json_integer_value(json_object_get(t, "attempts")));
    fprintf(out, "  command        : %s\n", json_string_value(json_object_get(t, "command")));
    const char *wd = json_string_value(json_object_get(t, "work_dir"));
    fprintf(out, "  work dir       : %s\n", wd[0] ? wd : "(not recorded)");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(t, "attempt_details"), i, a)
    {
        fprintf(out, "  attempt %lld   : %s; rank %lld, node %lld, GPUs %s, %.2f s, run %lld\n",
                (long long)json_integer_value(json_object_get(a, "attempt")),
                json_string_value(json_object_get(a, "detail")),
                (long long)json_integer_value(json_object_get(a, "rank")),
                (long long)json_integer_value(json_object_get(a, "node")),
                json_string_value(json_object_get(a, "gpus")),
                json_number_value(json_object_get(a, "duration")),
                (long long)json_integer_value(json_object_get(a, "run")));
    }
    print_lines(out, "stdout", json_string_value(json_object_get(t, "stdout_path")),
                json_object_get(t, "stdout_tail"));
    print_lines(out, "stderr", json_string_value(json_object_get(t, "stderr_path")),
                json_object_get(t, "stderr_tail"));
}

static void print_summary(FILE *out, const struct analysis *a, const char *state)
{
    double t = a->total ? a->total : 1;
    banner(out, "Summary");
    fprintf(out, "\n  Run directory      : %s\n  Workflow           : %s (%s)\n", a->run_dir,
            a->st->workflow_name, state);
    fprintf(out, "  Total tasks        : %7u (100.00%%)\n", a->total);
    fprintf(out, "  # tasks succeeded  : %7u (%6.2f%%)\n", a->succeeded, 100 * a->succeeded / t);
    fprintf(out, "  # tasks failed     : %7u (%6.2f%%)\n", a->failed, 100 * a->failed / t);
    fprintf(out, "  # tasks blocked    : %7u (%6.2f%%)\n", a->blocked, 100 * a->blocked / t);
    fprintf(out, "  # tasks unsubmitted: %7u (%6.2f%%)\n", a->unsubmitted,
            100 * a->unsubmitted / t);
    if (a->live)
        fprintf(out, "  # tasks running    : %7u (%6.2f%%)\n", a->running, 100 * a->running / t);
    fprintf(out, "\n");
}

static json_t *analysis_json(const struct analysis *a, unsigned lines, const char *state)
{
    json_t *arr = json_array();
    for (uint32_t k = 0; k < a->n_failed; k++)
        json_array_append_new(arr, task_json(a, &a->f[k], lines));
    json_t *sum = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i}", "total", a->total, "succeeded",
                            a->succeeded, "failed", a->failed, "blocked", a->blocked, "unsubmitted",
                            a->unsubmitted, "running", a->running);
    return json_pack("{s:i,s:s,s:s,s:s,s:o,s:o}", "format", 1, "run_dir", a->run_dir, "workflow",
                     a->st->workflow_name, "state", state, "summary", sum, "failed_tasks", arr);
}

static void analysis_fini(struct analysis *a)
{
    for (uint32_t k = 0; a->f && k < a->n_failed; k++)
        wfmpi_ckpt_task_cmd_fini(&a->f[k].cmd);
    free(a->f);
    free(a->ev);
}

int wfmpi_report_analyze(const char *run_dir, bool json, unsigned tail_lines, FILE *out,
                         uint32_t *n_failed, struct wfmpi_error *err)
{
    struct analysis a = {.run_dir = run_dir};
    double now = wfmpi_wall();
    struct wfmpi_ckpt_state *st = rpt_load(run_dir, now, &a.live, err);
    if (!st)
        return err->code;
    a.st = st;
    count(&a);
    int rc = group_events(&a);
    if (rc < 0)
        wfmpi_error_set(err, rc, "out of memory");
    if (rc == 0)
        rc = load_cmds(&a, err);
    if (rc == 0) {
        const char *state = rpt_state_from_ckpt(st, a.live);
        json_t *j = analysis_json(&a, tail_lines ? tail_lines : 20, state);
        if (json) {
            rc = rpt_json_out(j, out);
        } else {
            print_summary(out, &a, state);
            if (a.n_failed)
                banner(out, "Failed tasks' details");
            size_t i;
            json_t *t;
            json_array_foreach(json_object_get(j, "failed_tasks"), i, t) print_task(out, t);
            rc = ferror(out) ? -EIO : 0;
        }
        json_decref(j);
        if (rc < 0)
            wfmpi_error_set(err, rc, "cannot write the output");
    }
    *n_failed = a.failed;
    analysis_fini(&a);
    wfmpi_ckpt_state_free(st);
    return rc;
}
