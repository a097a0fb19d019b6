/* Statistics as pegasus-statistics reports them, computed in one pass over
 * the task table and one over the event table (10^6 tasks: well under a
 * second). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "wfmpi/exec.h"

static int popcount64(uint64_t m)
{
    return __builtin_popcountll(m);
}

static int cmp_xform(const void *a, const void *b)
{
    return strcmp(((const struct rpt_xform *)a)->name, ((const struct rpt_xform *)b)->name);
}

/* Runs: a killed run's end is the last thing it recorded; a live one's is
 * now. */
static void compute_runs(const struct wfmpi_ckpt_state *st, bool live, double now,
                         struct rpt_stats *s)
{
    for (uint32_t r = 0; r < st->n_runs; r++) {
        struct rpt_run *o = &s->runs[r];
        const struct wfmpi_ckpt_run *in = &st->runs[r];
        o->start = in->start;
        o->end = in->end;
        o->ranks = in->ranks;
        o->nodes = in->nodes;
        o->cores = in->cores;
        o->gpus = in->gpus;
        o->exit_code = in->exit_code;
        o->live = live && r == st->n_runs - 1 && in->exit_code == -1;
        o->killed = !o->live && in->exit_code == -1;
        if (o->live)
            o->end = now;
        if (o->killed)
            o->end = o->start;
    }
    for (uint32_t e = 0; e < st->n_events; e++) {
        const struct wfmpi_ckpt_event *ev = &st->events[e];
        if (ev->run < st->n_runs && s->runs[ev->run].killed && ev->end > s->runs[ev->run].end)
            s->runs[ev->run].end = ev->end;
    }
    s->alloc_known = st->n_runs > 0;
    for (uint32_t r = 0; r < st->n_runs; r++) {
        struct rpt_run *o = &s->runs[r];
        o->duration = o->end > o->start ? o->end - o->start : 0;
        s->wall += o->duration;
        s->alloc_core_s += o->duration * o->cores;
        s->alloc_gpu_s += o->duration * o->gpus;
        s->alloc_known &= o->cores > 0;
    }
    if (st->n_runs)
        s->span = s->runs[st->n_runs - 1].end - s->runs[0].start;
}

static void count_tasks(const struct wfmpi_ckpt_state *st, struct rpt_stats *s)
{
    s->total = st->n_tasks;
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        const struct wfmpi_ckpt_task *t = &st->tasks[i];
        s->succeeded += t->state == WFMPI_TASK_DONE;
        s->failed += t->state == WFMPI_TASK_FAILED;
        s->blocked += t->state == WFMPI_TASK_BLOCKED;
        s->running += t->state == WFMPI_TASK_RUNNING;
        s->retries += t->retries;
        struct rpt_xform *x = &s->xforms[st->task_xform ? st->task_xform[i] : 0];
        x->tasks++;
        x->succeeded += t->state == WFMPI_TASK_DONE;
        x->failed += t->state == WFMPI_TASK_FAILED;
    }
    s->incomplete = s->total - s->succeeded - s->failed;
}

static void count_events(const struct wfmpi_ckpt_state *st, struct rpt_stats *s, uint32_t *ended)
{
    for (uint32_t e = 0; e < st->n_events; e++) {
        const struct wfmpi_ckpt_event *ev = &st->events[e];
        double d = ev->end > ev->start ? ev->end - ev->start : 0;
        uint32_t cores = st->task_cores ? st->task_cores[ev->task] : 1;
        double core_s = d * (cores ? cores : 1), gpu_s = d * popcount64(ev->gpu_mask);
        s->attempts++;
        s->cum_task_wall += d;
        s->busy_core_s += core_s;
        s->busy_gpu_s += gpu_s;
        ended[ev->task]++;
        bool ok = ev->reason == WFMPI_EXEC_OK;
        if (!ok) {
            s->failed_attempts++;
            s->badput += d;
            if (ev->reason == WFMPI_EXEC_INTERRUPTED)
                s->badput_interrupted += d;
        }
        if (ev->run < s->n_runs) {
            struct rpt_run *r = &s->runs[ev->run];
            r->attempts++;
            r->failed_attempts += !ok;
            r->succeeded += ok;
            r->busy_core_s += core_s;
            r->busy_gpu_s += gpu_s;
        }
        struct rpt_xform *x = &s->xforms[st->task_xform ? st->task_xform[ev->task] : 0];
        x->min = x->attempts == 0 || d < x->min ? d : x->min;
        x->max = d > x->max ? d : x->max;
        x->total += d;
        x->attempts++;
        if (ev->maxrss_kb > 0) {
            x->rss_kb_sum += (double)ev->maxrss_kb;
            x->rss_n++;
        }
    }
}

/* Attempts that started but never ended: cut off by a killed master. The
 * attempt still running in a live run is not lost. */
static void count_lost(const struct wfmpi_ckpt_state *st, bool live, const uint32_t *ended,
                       struct rpt_stats *s)
{
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        uint32_t started = st->tasks[i].attempts;
        if (live && st->tasks[i].state == WFMPI_TASK_RUNNING && started)
            started--;
        if (started > ended[i])
            s->lost_attempts += started - ended[i];
    }
}

int rpt_stats_compute(const struct wfmpi_ckpt_state *st, bool live, double now, struct rpt_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->n_runs = st->n_runs;
    s->n_xforms = st->n_xforms ? st->n_xforms : 1;
    s->runs = calloc(st->n_runs ? st->n_runs : 1, sizeof(*s->runs));
    s->xforms = calloc(s->n_xforms, sizeof(*s->xforms));
    uint32_t *ended = calloc(st->n_tasks ? st->n_tasks : 1, sizeof(uint32_t));
    if (!s->runs || !s->xforms || !ended) {
        free(ended);
        rpt_stats_fini(s);
        return -ENOMEM;
    }
    for (uint32_t k = 0; k < s->n_xforms; k++)
        s->xforms[k].name = st->n_xforms ? st->xforms[k] : "";
    compute_runs(st, live, now, s);
    count_tasks(st, s);
    count_events(st, s, ended);
    count_lost(st, live, ended, s);
    free(ended);
    /* Drop the "no transformation" row when no task lacks one. */
    if (s->xforms[0].tasks == 0 && s->n_xforms > 1) {
        memmove(s->xforms, s->xforms + 1, (s->n_xforms - 1) * sizeof(*s->xforms));
        s->n_xforms--;
    }
    qsort(s->xforms, s->n_xforms, sizeof(*s->xforms), cmp_xform);
    return 0;
}

void rpt_stats_fini(struct rpt_stats *s)
{
    free(s->runs);
    free(s->xforms);
    memset(s, 0, sizeof(*s));
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static const char *run_end_text(const struct rpt_run *r, char *buf, size_t size)
{
    if (r->live)
        return "running";
    if (r->killed)
        return "killed";
    snprintf(buf, size, "exit %d", r->exit_code);
    return buf;
}

void rpt_stats_text(const struct rpt_stats *s, FILE *out)
{
    char a[32], b[32];
    fprintf(out, "Tasks\n");
    fprintf(out, "  %-28s %10u\n  %-28s %10u\n  %-28s %10u\n  %-28s %10u\n", "succeeded",
            s->succeeded, "failed", s->failed, "incomplete", s->incomplete, "total", s->total);
    fprintf(out, "  %-28s %10u\n  %-28s %10u\n  %-28s %10u\n  %-28s %10u\n", "attempts",
            s->attempts, "failed attempts", s->failed_attempts, "retries", s->retries,
            "attempts lost (killed runs)", s->lost_attempts);
    fprintf(out, "\nTime\n");
    fprintf(out, "  %-28s %10.1f s\n", "workflow wall time", s->wall);
    fprintf(out, "  %-28s %10.1f s\n", "first start to last end", s->span);
    fprintf(out, "  %-28s %10.1f s\n", "cumulative task wall time", s->cum_task_wall);
    fprintf(out, "  %-28s %10.1f s (%.1f s interrupted at walltime/drain)\n", "badput", s->badput,
            s->badput_interrupted);
    fprintf(out, "\nUtilisation\n");
    fprintf(out, "  %-28s %10.1f core-s", "busy cores", s->busy_core_s);
    if (s->alloc_known)
        fprintf(out, " of %.1f (%.1f%%)", s->alloc_core_s,
                100 * ratio(s->busy_core_s, s->alloc_core_s));
    fprintf(out, "\n  %-28s %10.1f GPU-s", "busy GPUs", s->busy_gpu_s);
    if (s->alloc_gpu_s > 0)
        fprintf(out, " of %.1f (%.1f%%)", s->alloc_gpu_s,
                100 * ratio(s->busy_gpu_s, s->alloc_gpu_s));
    fprintf(out, "\n\nRuns\n  %3s %-19s %10s %-8s %5s %5s %6s %5s %8s %8s\n", "#", "START",
            "WALL(s)", "END", "RANKS", "NODES", "CORES", "GPUS", "ATTEMPTS", "FAILED");
    for (uint32_t r = 0; r < s->n_runs; r++) {
        const struct rpt_run *u = &s->runs[r];
        rpt_time(u->start, a, sizeof(a));
        fprintf(out, "  %3u %-19s %10.1f %-8s %5d %5d %6d %5d %8u %8u\n", r + 1, a, u->duration,
                run_end_text(u, b, sizeof(b)), u->ranks, u->nodes, u->cores, u->gpus, u->attempts,
                u->failed_attempts);
    }
    fprintf(out, "\nTransformations\n  %-24s %6s %6s %6s %8s %9s %9s %9s %10s %10s\n",
            "TRANSFORMATION", "COUNT", "OK", "FAILED", "ATTEMPTS", "MIN(s)", "MAX(s)", "MEAN(s)",
            "TOTAL(s)", "MEANRSS(MB)");
    for (uint32_t k = 0; k < s->n_xforms; k++) {
        const struct rpt_xform *x = &s->xforms[k];
        fprintf(out, "  %-24s %6u %6u %6u %8u %9.3f %9.3f %9.3f %10.3f %10.1f\n",
                x->name[0] ? x->name : "(none)", x->tasks, x->succeeded, x->failed, x->attempts,
                x->min, x->max, ratio(x->total, x->attempts), x->total,
                ratio(x->rss_kb_sum, x->rss_n) / 1024);
    }
}

json_t *rpt_stats_json(const struct rpt_stats *s)
{
    json_t *runs = json_array(), *xf = json_array();
    char b[32];
    for (uint32_t r = 0; r < s->n_runs; r++) {
        const struct rpt_run *u = &s->runs[r];
        json_array_append_new(
            runs,
            json_pack("{s:i,s:f,s:f,s:f,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f}", "run", r + 1,
                      "start", u->start, "end", u->end, "wall", u->duration, "ended",
                      run_end_text(u, b, sizeof(b)), "exit_code", u->exit_code, "ranks", u->ranks,
                      "nodes", u->nodes, "cores", u->cores, "gpus", u->gpus, "attempts",
                      u->attempts, "failed_attempts", u->failed_attempts, "succeeded", u->succeeded,
                      "busy_core_s", u->busy_core_s, "busy_gpu_s", u->busy_gpu_s));
    }
    for (uint32_t k = 0; k < s->n_xforms; k++) {
        const struct rpt_xform *x = &s->xforms[k];
        json_array_append_new(
            xf, json_pack("{s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "transformation", x->name,
                          "count", x->tasks, "succeeded", x->succeeded, "failed", x->failed,
                          "attempts", x->attempts, "min_s", x->min, "max_s", x->max, "mean_s",
                          ratio(x->total, x->attempts), "total_s", x->total, "mean_maxrss_kb",
                          ratio(x->rss_kb_sum, x->rss_n)));
    }
    json_t *tasks =
        json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "succeeded", s->succeeded, "failed",
                  s->failed, "incomplete", s->incomplete, "blocked", s->blocked, "total", s->total,
                  "attempts", s->attempts, "failed_attempts", s->failed_attempts, "retries",
                  s->retries, "lost_attempts", s->lost_attempts);
    json_t *util = json_pack(
        "{s:f,s:f,s:o,s:o,s:o,s:o}", "busy_core_s", s->busy_core_s, "busy_gpu_s", s->busy_gpu_s,
        "allocated_core_s", s->alloc_known ? json_real(s->alloc_core_s) : json_null(),
        "allocated_gpu_s", s->alloc_known ? json_real(s->alloc_gpu_s) : json_null(),
        "core_utilisation",
        s->alloc_known ? json_real(ratio(s->busy_core_s, s->alloc_core_s)) : json_null(),
        "gpu_utilisation",
        s->alloc_gpu_s > 0 ? json_real(ratio(s->busy_gpu_s, s->alloc_gpu_s)) : json_null());
    return json_pack("{s:i,s:o,s:f,s:f,s:f,s:f,s:f,s:o,s:o,s:o}", "format", 1, "tasks", tasks,
                     "wall_time", s->wall, "span", s->span, "cumulative_task_wall_time",
                     s->cum_task_wall, "badput", s->badput, "badput_interrupted",
                     s->badput_interrupted, "utilisation", util, "runs", runs, "transformations",
                     xf);
}

/* ------------------------------------------------------------------ CSV */

static void csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static FILE *csv_open(const char *dir, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    return fopen(path, "w");
}

static int csv_close(FILE *f)
{
    int bad = ferror(f);
    return fclose(f) != 0 || bad ? -EIO : 0;
}

static int csv_summary(const struct rpt_stats *s, FILE *f)
{
    fprintf(f,
            "metric,value\nsucceeded,%u\nfailed,%u\nincomplete,%u\nblocked,%u\ntotal,%u\n"
            "attempts,%u\nfailed_attempts,%u\nretries,%u\nlost_attempts,%u\n"
            "wall_time_s,%.3f\nspan_s,%.3f\ncumulative_task_wall_time_s,%.3f\nbadput_s,%.3f\n"
            "badput_interrupted_s,%.3f\nbusy_core_s,%.3f\nbusy_gpu_s,%.3f\n"
            "allocated_core_s,%.3f\nallocated_gpu_s,%.3f\n",
            s->succeeded, s->failed, s->incomplete, s->blocked, s->total, s->attempts,
            s->failed_attempts, s->retries, s->lost_attempts, s->wall, s->span, s->cum_task_wall,
            s->badput, s->badput_interrupted, s->busy_core_s, s->busy_gpu_s, s->alloc_core_s,
            s->alloc_gpu_s);
    return 0;
}

static int csv_runs(const struct rpt_stats *s, FILE *f)
{
    char b[32];
    fprintf(f, "run,start,end,wall_s,ended,ranks,nodes,cores,gpus,attempts,failed_attempts,"
               "busy_core_s,busy_gpu_s\n");
    for (uint32_t r = 0; r < s->n_runs; r++) {
        const struct rpt_run *u = &s->runs[r];
        fprintf(f, "%u,%.3f,%.3f,%.3f,%s,%d,%d,%d,%d,%u,%u,%.3f,%.3f\n", r + 1, u->start, u->end,
                u->duration, run_end_text(u, b, sizeof(b)), u->ranks, u->nodes, u->cores, u->gpus,
                u->attempts, u->failed_attempts, u->busy_core_s, u->busy_gpu_s);
    }
    return 0;
}

static int csv_xforms(const struct rpt_stats *s, FILE *f)
{
    fprintf(f, "transformation,count,succeeded,failed,attempts,min_s,max_s,mean_s,total_s,"
               "mean_maxrss_kb\n");
    for (uint32_t k = 0; k < s->n_xforms; k++) {
        const struct rpt_xform *x = &s->xforms[k];
        csv_str(f, x->name);
        fprintf(f, ",%u,%u,%u,%u,%.3f,%.3f,%.3f,%.3f,%.0f\n", x->tasks, x->succeeded, x->failed,
                x->attempts, x->min, x->max, ratio(x->total, x->attempts), x->total,
                ratio(x->rss_kb_sum, x->rss_n));
    }
    return 0;
}

int rpt_stats_csv(const struct rpt_stats *s, const char *dir, struct wfmpi_error *err)
{
    static const char *const names[] = {"summary.csv", "runs.csv", "transformations.csv"};
    int (*const fns[])(const struct rpt_stats *, FILE *) = {csv_summary, csv_runs, csv_xforms};
    int rc = wfmpi_mkdir_p(dir);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", dir, wfmpi_strerror(rc));
    for (int k = 0; k < 3; k++) {
        char path[PATH_MAX + 32];
        FILE *f = csv_open(dir, names[k], path, sizeof(path));
        if (!f)
            return wfmpi_error_set(err, -errno, "%s: %s", path, strerror(errno));
        fns[k](s, f);
        if ((rc = csv_close(f)) < 0)
            return wfmpi_error_set(err, rc, "%s: cannot write", path);
    }
    return 0;
}

int wfmpi_report_statistics(const char *run_dir, bool json, const char *csv_dir, FILE *out,
                            struct wfmpi_error *err)
{
    double now = wfmpi_wall();
    bool live = false;
    struct wfmpi_ckpt_state *st = rpt_load(run_dir, now, &live, err);
    if (!st)
        return err->code;
    struct rpt_stats s;
    int rc = rpt_stats_compute(st, live, now, &s);
    if (rc < 0) {
        wfmpi_ckpt_state_free(st);
        return wfmpi_error_set(err, rc, "out of memory");
    }
    if (json) {
        json_t *j = rpt_stats_json(&s);
        json_object_set_new(j, "workflow", json_string(st->workflow_name));
        json_object_set_new(j, "state", json_string(rpt_state_from_ckpt(st, live)));
        rc = rpt_json_out(j, out);
        json_decref(j);
    } else {
        fprintf(out, "Workflow %s (%s)\n\n", st->workflow_name, rpt_state_from_ckpt(st, live));
        rpt_stats_text(&s, out);
        rc = ferror(out) ? -EIO : 0;
    }
    if (rc < 0)
        wfmpi_error_set(err, rc, "cannot write the output");
    if (rc == 0 && csv_dir)
        rc = rpt_stats_csv(&s, csv_dir, err);
    rpt_stats_fini(&s);
    wfmpi_ckpt_state_free(st);
    return rc;
}
