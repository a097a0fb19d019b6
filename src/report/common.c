/* Shared pieces of the report module: status.json, the run's state, names
 * and formatting. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report_int.h"
#include "wfmpi/exec.h"

const char *rpt_task_state_name(unsigned s)
{
    static const char *const names[] = {"unready", "ready", "running", "done", "failed", "blocked"};
    return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *rpt_reason_name(unsigned r)
{
#define RPT_REASON(name, text) [WFMPI_EXEC_##name] = text,
    static const char *const names[] = {WFMPI_EXEC_REASONS(RPT_REASON)};
#undef RPT_REASON
    return r < sizeof(names) / sizeof(names[0]) && names[r] ? names[r] : "?";
}

void rpt_event_reason(const struct wfmpi_ckpt_event *ev, char *buf, size_t size)
{
    switch (ev->reason) {
    case WFMPI_EXEC_OK:
        snprintf(buf, size, "success");
        break;
    case WFMPI_EXEC_EXIT:
        snprintf(buf, size, "exit code %d", ev->exit_code);
        break;
    case WFMPI_EXEC_SIGNAL:
        snprintf(buf, size, "killed by signal %d (%s)", ev->signal, strsignal(ev->signal));
        break;
    default:
        snprintf(buf, size, "%s", rpt_reason_name(ev->reason));
    }
}

void rpt_gpus(uint64_t mask, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned g = 0; g < 64 && n + 4 < size; g++) {
        if (mask & ((uint64_t)1 << g))
            n += (size_t)snprintf(buf + n, size - n, "%s%u", n ? "," : "", g);
    }
    if (!n)
        snprintf(buf, size, "-");
}

void rpt_duration(double s, char *buf, size_t size)
{
    if (s < 0)
        s = 0;
    if (s < 60) {
        snprintf(buf, size, "%.1fs", s);
        return;
    }
    long t = (long)(s + 0.5);
    if (t < 3600)
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, size, "%ldh%02ldm%02lds", t / 3600, t / 60 % 60, t % 60);
}

void rpt_time(double epoch, char *buf, size_t size)
{
    if (epoch <= 0) {
        snprintf(buf, size, "-");
        return;
    }
    time_t t = (time_t)epoch;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---------------------------------------------------------- status.json */

/* The master writes a few KB plus at most 1000 running tasks. */
#define STATUS_JSON_MAX ((size_t)16 << 20)

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void str(json_t *o, const char *key, char *buf, size_t size)
{
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(buf, size, "%s", s ? s : "");
}

void rpt_live_read(const char *run_dir, struct rpt_live *l)
{
    char path[PATH_MAX + 16];
    memset(l, 0, sizeof(*l));
    snprintf(path, sizeof(path), "%s/status.json", run_dir);
    json_error_t je;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "state"))) {
        json_decref(root);
        return;
    }
    l->present = true;
    l->root = root;
    str(root, "state", l->state, sizeof(l->state));
    str(root, "workflow", l->workflow, sizeof(l->workflow));
    str(root, "host", l->host, sizeof(l->host));
    l->pid = (long)num(root, "pid");
    l->started = num(root, "started");
    l->updated = num(root, "updated");
    l->elapsed = num(root, "elapsed");
    l->percent_done = num(root, "percent_done");
    l->total = (uint32_t)num(root, "total");
    l->ranks = (int)num(root, "ranks");
    l->nodes = (int)num(root, "nodes");
    json_t *c = json_object_get(root, "counts");
    for (unsigned s = 0; s < WFMPI_TASK_NSTATES; s++)
        l->counts[s] = (uint32_t)num(c, rpt_task_state_name(s));
}

void rpt_live_fini(struct rpt_live *l)
{
    json_decref(l->root);
    memset(l, 0, sizeof(*l));
}

bool rpt_live_alive(const struct rpt_live *l, double now)
{
    if (!l->present || strcmp(l->state, "running") != 0)
        return false;
    /* On the master's host its pid decides; elsewhere only the age can. */
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    if (l->pid > 0 && strcmp(host, l->host) == 0)
        return kill((pid_t)l->pid, 0) == 0 || errno == EPERM;
    return now - l->updated < WFMPI_REPORT_STALE_S;
}

const char *rpt_state_from_ckpt(const struct wfmpi_ckpt_state *st, bool live)
{
    if (live)
        return "running";
    if (!st->n_runs)
        return "stopped";
    switch (st->runs[st->n_runs - 1].exit_code) {
    case 0:
        return "finished";
    case 1:
        return "failed";
    default: /* 3 drained, 4 error, -1 killed: a rerun resumes */
        return "stopped";
    }
}

struct wfmpi_ckpt_state *rpt_load(const char *run_dir, double now, bool *live,
                                  struct wfmpi_error *err)
{
    struct wfmpi_ckpt_state *st = wfmpi_ckpt_load(run_dir, err);
    if (!st)
        return NULL;
    struct rpt_live l;
    rpt_live_read(run_dir, &l);
    /* Live only if the checkpoint's last run is still open too. */
    *live = rpt_live_alive(&l, now) && st->n_runs && st->runs[st->n_runs - 1].exit_code == -1;
    rpt_live_fini(&l);
    return st;
}

int rpt_json_out(json_t *j, FILE *out)
{
    int rc = json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    fputc('\n', out);
    return rc < 0 || ferror(out) ? -EIO : 0;
}
