/* wfmpi status: counts as pegasus-status prints them. While the master is
 * alive only status.json is read (a few KB whatever the workflow's size);
 * the checkpoint is loaded when the run is over or was killed, or for the
 * failed tasks of -l. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "report_int.h"

struct status_view {
    const char *state;
    bool live, from_json;
    char workflow[256];
    uint32_t total, counts[WFMPI_TASK_NSTATES];
    double elapsed, eta; /* eta < 0: unknown */
    int ranks, nodes;
    long pid;
    char host[256];
};

static void from_json(struct status_view *v, const struct rpt_live *l, bool alive, double now)
{
    v->from_json = true;
    v->live = alive;
    v->state = alive ? "running" : l->state;
    snprintf(v->workflow, sizeof(v->workflow), "%s", l->workflow);
    v->total = l->total;
    memcpy(v->counts, l->counts, sizeof(v->counts));
    v->elapsed = alive && l->started > 0 ? now - l->started : l->elapsed;
    v->ranks = l->ranks;
    v->nodes = l->nodes;
    v->pid = l->pid;
    snprintf(v->host, sizeof(v->host), "%s", l->host);
    v->eta = -1;
    /* Rate of this run only: tasks done before it (a resume) are not its. */
    json_t *das = json_object_get(l->root, "done_at_start");
    double before = json_is_number(das) ? json_number_value(das) : 0;
    double finished = v->counts[WFMPI_TASK_DONE] - before;
    double left = (double)v->total - v->counts[WFMPI_TASK_DONE] - v->counts[WFMPI_TASK_FAILED] -
                  v->counts[WFMPI_TASK_BLOCKED];
    if (alive && finished > 0 && v->elapsed > 0)
        v->eta = left * v->elapsed / finished;
}

static void from_ckpt(struct status_view *v, const struct wfmpi_ckpt_state *st)
{
    v->state = rpt_state_from_ckpt(st, false);
    snprintf(v->workflow, sizeof(v->workflow), "%s", st->workflow_name);
    v->total = st->n_tasks;
    for (uint32_t i = 0; i < st->n_tasks; i++) {
        unsigned s = st->tasks[i].state < WFMPI_TASK_NSTATES ? st->tasks[i].state : 0;
        /* Not live: what was running when the master died is requeued. */
        v->counts[s == WFMPI_TASK_RUNNING ? WFMPI_TASK_READY : s]++;
    }
    v->eta = -1;
    if (st->n_runs) {
        const struct wfmpi_ckpt_run *r = &st->runs[st->n_runs - 1];
        double end = r->end;
        for (uint32_t e = 0; end <= 0 && e < st->n_events; e++) {
            if (st->events[e].run == st->n_runs - 1 && st->events[e].end > end)
                end = st->events[e].end;
        }
        v->elapsed = end > r->start ? end - r->start : 0;
        v->ranks = r->ranks;
        v->nodes = r->nodes;
    }
}

static double pct(const struct status_view *v)
{
    return v->total ? 100.0 * v->counts[WFMPI_TASK_DONE] / v->total : 100.0;
}

static void print_table(const struct status_view *v, FILE *out)
{
    fprintf(out, "%7s %7s %7s %7s %7s %7s %7s  %-9s %s\n", "UNREADY", "READY", "RUN", "DONE",
            "FAIL", "BLOCKED", "%DONE", "STATE", "WORKFLOW");
    fprintf(out, "%7u %7u %7u %7u %7u %7u %7.1f  %-9s %s\n", v->counts[WFMPI_TASK_UNREADY],
            v->counts[WFMPI_TASK_READY], v->counts[WFMPI_TASK_RUNNING], v->counts[WFMPI_TASK_DONE],
            v->counts[WFMPI_TASK_FAILED], v->counts[WFMPI_TASK_BLOCKED], pct(v), v->state,
            v->workflow);
    char el[32], eta[32];
    rpt_duration(v->elapsed, el, sizeof(el));
    fprintf(out, "Summary: %u tasks, %s", v->total, v->state);
    if (v->live)
        fprintf(out, " on %d ranks, %d node%s (pid %ld on %s)", v->ranks, v->nodes,
                v->nodes == 1 ? "" : "s", v->pid, v->host);
    else if (strcmp(v->state, "stopped") == 0)
        fprintf(out, " (resumable: rerun the same command)");
    fprintf(out, "; elapsed %s", el);
    if (v->eta >= 0) {
        rpt_duration(v->eta, eta, sizeof(eta));
        fprintf(out, "; about %s left", eta);
    }
    fprintf(out, "\n");
}

static json_t *view_json(const struct status_view *v, const char *run_dir)
{
    json_t *c = json_object();
    for (unsigned s = 0; s < WFMPI_TASK_NSTATES; s++)
        json_object_set_new(c, rpt_task_state_name(s), json_integer(v->counts[s]));
    json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:b,s:s,s:i,s:o,s:f,s:f,s:o,s:i,s:i}", "format", 1,
                          "run_dir", run_dir, "workflow", v->workflow, "state", v->state, "live",
                          v->live, "source", v->from_json ? "status.json" : "state.h5", "total",
                          (json_int_t)v->total, "counts", c, "percent_done", pct(v), "elapsed",
                          v->elapsed, "eta", v->eta >= 0 ? json_real(v->eta) : json_null(), "ranks",
                          v->ranks, "nodes", v->nodes);
    if (v->live) {
        json_object_set_new(j, "pid", json_integer(v->pid));
        json_object_set_new(j, "host", json_string(v->host));
    }
    return j;
}

/* A final status.json (the master's last write) is exact, so a finished
 * run of any size answers in milliseconds, if the checkpoint is not newer
 * (a later run that died before writing status.json) and is intact. */
static bool final_json_ok(const char *run_dir, const struct rpt_live *l)
{
    if (!l->present || strcmp(l->state, "running") == 0)
        return false;
    char a[PATH_MAX + 16], b[PATH_MAX + 16];
    struct stat sa, sb;
    snprintf(a, sizeof(a), "%s/status.json", run_dir);
    snprintf(b, sizeof(b), "%s/state.h5", run_dir);
    if (stat(a, &sa) < 0 || stat(b, &sb) < 0 || sb.st_mtime > sa.st_mtime + 2)
        return false;
    return wfmpi_ckpt_probe(run_dir, NULL) == 0;
}

/* -l: running tasks (from status.json while live) ... */
static json_t *running_list(const struct rpt_live *l, bool live, double now, FILE *out)
{
    json_t *arr = json_array();
    json_t *rt = live ? json_object_get(l->root, "running_tasks") : NULL;
    size_t i;
    json_t *t;
    if (out)
        fprintf(out, "\nRunning tasks (%zu):\n  %-30s %7s %5s %5s %-8s %10s\n", json_array_size(rt),
                "ID", "ATTEMPT", "RANK", "NODE", "GPUS", "RUNTIME");
    json_array_foreach(rt, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        double start = json_number_value(json_object_get(t, "start"));
        uint64_t mask = (uint64_t)json_integer_value(json_object_get(t, "gpus"));
        char g[200], d[32];
        rpt_gpus(mask, g, sizeof(g));
        rpt_duration(now - start, d, sizeof(d));
        int attempt = (int)json_integer_value(json_object_get(t, "attempt"));
        int rank = (int)json_integer_value(json_object_get(t, "rank"));
        int node = (int)json_integer_value(json_object_get(t, "node"));
        if (out)
            fprintf(out, "  %-30s %7d %5d %5d %-8s %10s\n", id ? id : "?", attempt, rank, node, g,
                    d);
        json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:i,s:s,s:f}", "id", id ? id : "?",
                                             "attempt", attempt, "rank", rank, "node", node, "gpus",
                                             g, "runtime", now - start));
    }
    return arr;
}

/* ... and failed tasks, which only the checkpoint knows. */
static json_t *failed_list(const struct wfmpi_ckpt_state *st, FILE *out)
{
    json_t *arr = json_array();
    uint32_t n = 0;
    for (uint32_t i = 0; st && i < st->n_tasks; i++)
        n += st->tasks[i].state == WFMPI_TASK_FAILED;
    if (out)
        fprintf(out, "\nFailed tasks (%u):\n  %-30s %8s %5s %5s %-8s %s\n", n, "ID", "ATTEMPTS",
                "RANK", "NODE", "GPUS", "LAST FAILURE");
    for (uint32_t i = 0; st && i < st->n_tasks; i++) {
        const struct wfmpi_ckpt_task *t = &st->tasks[i];
        if (t->state != WFMPI_TASK_FAILED)
            continue;
        char g[200];
        rpt_gpus(t->gpu_mask, g, sizeof(g));
        const char *why = st->details[i][0] ? st->details[i] : rpt_reason_name(t->reason);
        if (out)
            fprintf(out, "  %-30s %8u %5d %5d %-8s %s\n", st->ids[i], t->attempts, t->rank, t->node,
                    g, why);
        json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:i,s:s,s:s}", "id", st->ids[i],
                                             "attempts", (json_int_t)t->attempts, "rank", t->rank,
                                             "node", t->node, "gpus", g, "reason", why));
    }
    return arr;
}

int wfmpi_report_status(const char *run_dir, const struct wfmpi_report_status_options *opt,
                        FILE *out, const char **state, struct wfmpi_error *err)
{
    double now = opt->now > 0 ? opt->now : wfmpi_wall();
    struct status_view v = {0};
    struct rpt_live l;
    struct wfmpi_ckpt_state *st = NULL;
    rpt_live_read(run_dir, &l);
    /* Only a live master's status.json is trusted over the checkpoint: once
     * the run is over the checkpoint is exact, and loading it also catches a
     * damaged run dir. */
    bool alive = rpt_live_alive(&l, now);
    if (alive || final_json_ok(run_dir, &l)) {
        from_json(&v, &l, alive, now);
    } else {
        if (!(st = wfmpi_ckpt_load(run_dir, err))) {
            rpt_live_fini(&l);
            return err->code;
        }
        from_ckpt(&v, st);
    }
    if (opt->long_list && !st && v.counts[WFMPI_TASK_FAILED] &&
        !(st = wfmpi_ckpt_load(run_dir, err))) {
        rpt_live_fini(&l);
        return err->code;
    }
    if (state)
        *state = v.state;
    FILE *text = opt->json ? NULL : out;
    if (text)
        print_table(&v, text);
    json_t *j = opt->json ? view_json(&v, run_dir) : NULL;
    if (opt->long_list) {
        json_t *r = running_list(&l, v.live, now, text);
        json_t *f = failed_list(st, text);
        if (j) {
            json_object_set_new(j, "running_tasks", r);
            json_object_set_new(j, "failed_tasks", f);
        } else {
            json_decref(r);
            json_decref(f);
        }
    }
    int rc = j ? rpt_json_out(j, out) : (ferror(out) ? -EIO : 0);
    json_decref(j);
    rpt_live_fini(&l);
    wfmpi_ckpt_state_free(st);
    return rc < 0 ? wfmpi_error_set(err, rc, "cannot write the output") : 0;
}
