/* The /v1 protocol of `wfmpi serve` (docs/glidein-protocol.md): workflows
 * (submit, status, remove) and pilots (register, claim, heartbeat, results,
 * deregister). Every function here runs with the service lock held.
 *
 * Each workflow has its own plan, scheduler core and checkpoint in
 * <state-dir>/<id>/, exactly as `wfmpi run` has them; pilots place tasks
 * themselves, so the scheduler is built on one large virtual node (for
 * create()'s fit check only) and handed out with wfmpi_sched_claim(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "glidein_int.h"
#include "wfmpi/exec.h"
#include "wfmpi/wf.h"

#define META_MAX ((size_t)1 << 16)
#define VIRTUAL_CORES (1u << 30)
/* Answer with an error and leave the (void) handler. */
#define REPLY_ERROR(...)                                                                           \
    do {                                                                                           \
        gl_reply_error(__VA_ARGS__);                                                               \
        return;                                                                                    \
    } while (0)

/* ---------------------------------------------------------- workflows */

static bool valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 200 || n[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", n[i]))
            return false;
    return true;
}

void gl_workflow_free(struct gl_workflow *w)
{
    if (!w)
        return;
    if (w->ckpt)
        wfmpi_ckpt_commit(w->ckpt, true);
    wfmpi_ckpt_close(w->ckpt);
    wfmpi_sched_destroy(w->s);
    wfmpi_plan_destroy(w->plan);
    free(w->lease_pilot);
    free(w->done_attempt);
    free(w->crashes);
    free(w);
}

static const char *meta_str(json_t *meta, const char *key)
{
    const char *v = json_string_value(json_object_get(meta, key));
    return v && valid_name(v) ? v : NULL;
}

static int open_state(struct gl_server *s, struct gl_workflow *w, struct wfmpi_error *err)
{
    struct wfmpi_sched_node vnode = {
        .cores = VIRTUAL_CORES, .gpus = WFMPI_SCHED_MAX_GPUS_PER_NODE, .n_ranks = 1};
    struct wfmpi_sched_config cfg = {
        .nodes = &vnode, .n_nodes = 1, .default_retries = s->o.default_retries};
    if (!(w->s = wfmpi_sched_create(w->plan, &cfg, err)))
        return err->code;
    char run[PATH_MAX + 8];
    snprintf(run, sizeof(run), "%s/run", w->dir);
    int rc = wfmpi_mkdir_p(run);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", run, wfmpi_strerror(rc));
    struct wfmpi_ckpt_options copt = {0};
    struct wfmpi_ckpt_recovered rec;
    if (!(w->ckpt = wfmpi_ckpt_open(run, w->plan, &copt, &rec, err)))
        return err->code;
    if ((rc = wfmpi_ckpt_restore_sched(w->ckpt, w->s, err)) < 0)
        return rc;
    if (rec.resumed)
        wfmpi_warn("workflow %s resumed: %u done, %u failed, %u requeued", w->id, rec.done,
                   rec.failed, rec.requeued);
    wfmpi_ckpt_run_start(w->ckpt, 0, 0);
    size_t n = w->v->n_tasks ? w->v->n_tasks : 1;
    w->lease_pilot = calloc(n, sizeof(uint32_t));
    w->done_attempt = calloc(n, sizeof(uint32_t));
    w->crashes = calloc(n, 1);
    if (!w->lease_pilot || !w->done_attempt || !w->crashes)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    gl_crashes_load(w);
    /* A result sent again after the restart is a duplicate, not stale. */
    const struct wfmpi_ckpt_task *ct = wfmpi_ckpt_tasks(w->ckpt);
    for (uint32_t t = 0; t < w->v->n_tasks; t++)
        if (ct[t].end != 0 && ct[t].reason != WFMPI_EXEC_INTERRUPTED)
            w->done_attempt[t] = ct[t].attempts;
    gl_adopt_leases(s, w);
    if (w->removed)
        wfmpi_sched_drain(w->s);
    return wfmpi_ckpt_commit(w->ckpt, true);
}

void gl_crashes_save(const struct gl_workflow *w)
{
    json_t *j = json_object();
    char key[16];
    for (uint32_t t = 0; t < w->v->n_tasks; t++)
        if (w->crashes[t]) {
            snprintf(key, sizeof(key), "%u", t);
            json_object_set_new(j, key, json_integer(w->crashes[t]));
        }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/crashes.json", w->dir);
    int rc = text ? wfmpi_write_file_atomic(path, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc < 0)
        wfmpi_error_log("%s: %s (crash counts restart from 0)", path, wfmpi_strerror(rc));
}

void gl_crashes_load(struct gl_workflow *w)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/crashes.json", w->dir);
    json_t *j = json_load_file(path, 0, NULL);
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        char *end;
        unsigned long t = strtoul(key, &end, 10);
        json_int_t n = json_integer_value(v);
        if (*end == '\0' && t < w->v->n_tasks && n > 0)
            w->crashes[t] = (uint8_t)(n < UINT8_MAX ? n : UINT8_MAX);
    }
    json_decref(j);
}

static int plan_workflow(struct gl_workflow *w, json_t *meta, struct wfmpi_error *err)
{
    const char *wfname = meta_str(meta, "workflow");
    if (!wfname)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s/meta.json: no workflow", w->dir);
    char path[PATH_MAX + 256], rc[PATH_MAX + 256], tc[PATH_MAX + 256], sc[PATH_MAX + 256];
    struct wfmpi_plan_options po = {0};
    snprintf(path, sizeof(path), "%s/%s", w->dir, wfname);
    if (meta_str(meta, "rc"))
        po.rc_file = (snprintf(rc, sizeof(rc), "%s/%s", w->dir, meta_str(meta, "rc")), rc);
    if (meta_str(meta, "tc"))
        po.tc_file = (snprintf(tc, sizeof(tc), "%s/%s", w->dir, meta_str(meta, "tc")), tc);
    if (meta_str(meta, "sc"))
        po.sc_file = (snprintf(sc, sizeof(sc), "%s/%s", w->dir, meta_str(meta, "sc")), sc);
    if (!(w->plan = wfmpi_plan_create(path, &po, err)))
        return err->code;
    w->v = wfmpi_plan_view(w->plan);
    return 0;
}

int gl_workflow_open(struct gl_server *s, const char *dir, struct wfmpi_error *err)
{
    char mpath[PATH_MAX + 16];
    snprintf(mpath, sizeof(mpath), "%s/meta.json", dir);
    json_error_t jerr;
    json_t *meta = json_load_file(mpath, 0, &jerr);
    if (!meta)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: %s", mpath, jerr.text);
    struct gl_workflow *w = calloc(1, sizeof(*w));
    const char *id = json_string_value(json_object_get(meta, "id"));
    const char *owner = json_string_value(json_object_get(meta, "owner"));
    int rc = 0;
    if (!w)
        rc = wfmpi_error_set(err, -ENOMEM, "out of memory");
    else if (!id || !owner || strlen(id) != GL_ID_LEN - 1 || strlen(owner) >= sizeof(w->owner))
        rc = wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: no id or owner", mpath);
    if (rc == 0) {
        snprintf(w->id, sizeof(w->id), "%s", id);
        snprintf(w->owner, sizeof(w->owner), "%s", owner);
        snprintf(w->dir, sizeof(w->dir), "%s", dir);
        w->removed = json_is_true(json_object_get(meta, "removed"));
        json_int_t bytes = json_integer_value(json_object_get(meta, "bytes"));
        w->bytes = bytes > 0 ? (size_t)bytes : 0;
        rc = plan_workflow(w, meta, err);
    }
    if (rc == 0)
        rc = open_state(s, w, err);
    if (rc == 0 && WFMPI_PUSH(s->wfs, s->n_wfs, s->cap_wfs, w) < 0)
        rc = wfmpi_error_set(err, -ENOMEM, "out of memory");
    json_decref(meta);
    if (rc < 0)
        gl_workflow_free(w);
    else
        gl_wake(s);
    return rc;
}

static struct gl_workflow *find_wf(struct gl_server *s, const char *id, const char *owner)
{
    for (size_t i = 0; i < s->n_wfs; i++)
        if (strcmp(s->wfs[i]->id, id) == 0 && strcmp(s->wfs[i]->owner, owner) == 0)
            return s->wfs[i];
    return NULL;
}

static int write_meta(const struct gl_workflow *w, json_t *meta)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/meta.json", w->dir);
    char *text = json_dumps(meta, JSON_INDENT(1));
    int rc = text ? wfmpi_write_file_atomic(path, text, strlen(text)) : -ENOMEM;
    free(text);
    return rc;
}

/* Write the submitted files under a fresh <state-dir>/<id>/ and meta.json. */
static int store_submission(struct gl_server *s, const char *user, json_t *req, char *dir,
                            size_t dsize, struct wfmpi_error *err)
{
    json_t *files = json_object_get(req, "files");
    const char *wfname = json_string_value(json_object_get(req, "workflow"));
    if (!json_is_object(files) || !wfname || !valid_name(wfname) ||
        !json_is_string(json_object_get(files, wfname)))
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "expected {\"workflow\": NAME, \"files\": {NAME: TEXT, ...}}");
    char id[GL_ID_LEN];
    if (gl_random_id(id) < 0)
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "no random id");
    snprintf(dir, dsize, "%s/%s", s->o.state_dir, id);
    int rc = wfmpi_mkdir_p(dir);
    const char *name;
    json_t *text;
    json_object_foreach(files, name, text)
    {
        if (rc < 0)
            break;
        if (!valid_name(name) || !json_is_string(text))
            return wfmpi_error_set(err, WFMPI_E_INPUT, "bad file name or text '%.64s'", name);
        char path[PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        rc = wfmpi_write_file_atomic(path, json_string_value(text), json_string_length(text));
    }
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", dir, wfmpi_strerror(rc));
    size_t bytes = 0;
    json_object_foreach(files, name, text) bytes += json_string_length(text);
    json_t *meta = json_pack("{s:s,s:s,s:s,s:b,s:I}", "id", id, "owner", user, "workflow", wfname,
                             "removed", 0, "bytes", (json_int_t)bytes);
    const char *keys[] = {"rc", "tc", "sc"};
    for (int i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(req, keys[i]));
        if (v && valid_name(v) && json_is_string(json_object_get(files, v)))
            json_object_set_new(meta, keys[i], json_string(v));
    }
    struct gl_workflow tmp = {0};
    snprintf(tmp.dir, sizeof(tmp.dir), "%s", dir);
    rc = write_meta(&tmp, meta);
    json_decref(meta);
    return rc < 0 ? wfmpi_error_set(err, rc, "%s: %s", dir, wfmpi_strerror(rc)) : 0;
}

static void discard_dir(const char *dir)
{
    /* A failed submission leaves nothing behind; a directory we cannot empty
     * is moved out of the way so a restart does not try it again. */
    char cmd[PATH_MAX + 32], aside[PATH_MAX + 16];
    snprintf(aside, sizeof(aside), "%s.rejected", dir);
    if (rename(dir, aside) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", aside);
        if (system(cmd) != 0)
            wfmpi_warn("could not remove %s", aside);
    }
}

/* Per-user quotas: workflows held (not removed) and the bytes of their
 * submissions. */
static bool over_quota(const struct gl_server *s, const char *user, size_t len,
                       struct wfmpi_error *err)
{
    uint32_t n = 0;
    size_t bytes = len;
    for (size_t i = 0; i < s->n_wfs; i++)
        if (!s->wfs[i]->removed && strcmp(s->wfs[i]->owner, user) == 0) {
            n++;
            bytes += s->wfs[i]->bytes;
        }
    if (n >= s->o.quota_workflows)
        return wfmpi_error_set(err, WFMPI_E_LIMIT,
                               "quota: %u workflows held (at most %u); remove finished ones", n,
                               s->o.quota_workflows) < 0;
    if (bytes > s->o.quota_bytes)
        return wfmpi_error_set(err, WFMPI_E_LIMIT,
                               "quota: %zu bytes of submissions would be held (at most %zu)", bytes,
                               s->o.quota_bytes) < 0;
    return false;
}

static void do_submit(struct gl_server *s, const char *user, const char *body, size_t len,
                      struct gl_reply *r)
{
    json_error_t jerr;
    json_t *req = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(req)) {
        json_decref(req);
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "malformed JSON");
    }
    char dir[PATH_MAX] = ""; /* set once the submission has a directory */
    struct wfmpi_error err = {0};
    if (over_quota(s, user, len, &err)) {
        json_decref(req);
        REPLY_ERROR(r, MHD_HTTP_TOO_MANY_REQUESTS, err.text);
    }
    int rc = store_submission(s, user, req, dir, sizeof(dir), &err);
    json_decref(req);
    if (rc == 0)
        rc = gl_workflow_open(s, dir, &err);
    if (rc < 0) {
        if (dir[0] && strncmp(dir, s->o.state_dir, strlen(s->o.state_dir)) == 0)
            discard_dir(dir);
        REPLY_ERROR(r,
                    rc == WFMPI_E_INPUT || rc == WFMPI_E_LIMIT ? MHD_HTTP_BAD_REQUEST
                                                               : MHD_HTTP_INTERNAL_SERVER_ERROR,
                    err.text[0] ? err.text : wfmpi_strerror(rc));
    }
    struct gl_workflow *w = s->wfs[s->n_wfs - 1];
    wfmpi_warn("workflow %s submitted by %s: %u tasks", w->id, user, w->v->n_tasks);
    gl_reply_json(r, MHD_HTTP_CREATED,
                  json_pack("{s:s,s:i}", "id", w->id, "tasks", (json_int_t)w->v->n_tasks));
}

static const char *wf_state(const struct gl_workflow *w, const struct wfmpi_sched_counts *k)
{
    if (w->removed)
        return "removed";
    if (!wfmpi_sched_finished(w->s))
        return "running";
    return k->state[WFMPI_TASK_FAILED] || k->state[WFMPI_TASK_BLOCKED] ? "failed" : "finished";
}

static void do_status(struct gl_workflow *w, struct gl_reply *r)
{
    struct wfmpi_sched_counts k;
    wfmpi_sched_counts(w->s, &k);
    uint32_t n = w->v->n_tasks;
    json_t *counts = json_pack(
        "{s:i,s:i,s:i,s:i,s:i,s:i}", "unready", (json_int_t)k.state[WFMPI_TASK_UNREADY], "ready",
        (json_int_t)k.state[WFMPI_TASK_READY], "running", (json_int_t)k.state[WFMPI_TASK_RUNNING],
        "done", (json_int_t)k.state[WFMPI_TASK_DONE], "failed",
        (json_int_t)k.state[WFMPI_TASK_FAILED], "blocked", (json_int_t)k.state[WFMPI_TASK_BLOCKED]);
    gl_reply_json(r, MHD_HTTP_OK,
                  json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:f,s:i,s:o}", "format", 1, "id", w->id,
                            "owner", w->owner, "workflow", wfmpi_plan_str(w->plan, w->v->name),
                            "state", wf_state(w, &k), "total", (json_int_t)n, "percent_done",
                            n ? 100.0 * k.state[WFMPI_TASK_DONE] / n : 100.0, "retries",
                            (json_int_t)k.retries, "counts", counts));
}

static void do_remove(struct gl_workflow *w, struct gl_reply *r)
{
    char mpath[PATH_MAX + 16];
    snprintf(mpath, sizeof(mpath), "%s/meta.json", w->dir);
    json_t *meta = json_load_file(mpath, 0, NULL);
    if (!meta)
        REPLY_ERROR(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "meta.json unreadable");
    json_object_set_new(meta, "removed", json_true());
    int rc = write_meta(w, meta);
    json_decref(meta);
    if (rc < 0)
        REPLY_ERROR(r, MHD_HTTP_INTERNAL_SERVER_ERROR, wfmpi_strerror(rc));
    w->removed = true;
    wfmpi_sched_drain(w->s);
    wfmpi_warn("workflow %s removed by its owner", w->id);
    gl_reply_json(r, MHD_HTTP_OK, json_pack("{s:s,s:s}", "id", w->id, "state", "removed"));
}

/* ------------------------------------------------------------- pilots */

void gl_housekeeping(struct gl_server *s)
{
    for (size_t i = 0; i < s->n_wfs; i++) {
        struct gl_workflow *w = s->wfs[i];
        if (w->new_failure) {
            wfmpi_ckpt_mark_blocked(w->ckpt, w->s);
            w->new_failure = false;
        }
        wfmpi_ckpt_commit(w->ckpt, false);
        wfmpi_ckpt_maybe_snapshot(w->ckpt);
    }
}

/* ------------------------------------------------------- validation */

/* Field checks for pilot requests (issue #18, point 6): a field that is
 * present has its type and range, or the whole request is 400 and nothing
 * changes. An absent optional field is fine. */
static bool int_in(json_t *o, const char *k, json_int_t lo, json_int_t hi, bool need)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return !need;
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static bool num_in(json_t *o, const char *k, double lo, double hi)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return true;
    double d = json_number_value(v);
    return json_is_number(v) && isfinite(d) && d >= lo && d <= hi;
}

static bool str_max(json_t *o, const char *k, size_t max, bool need)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return !need;
    return json_is_string(v) && json_string_length(v) <= max;
}

#define GL_TIME_MAX 1e11 /* seconds: epoch times and durations (year 5138) */

static json_t *str_list(const struct gl_workflow *w, struct wfmpi_plan_range rg)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < rg.count; i++)
        json_array_append_new(a, json_string(wfmpi_plan_str(w->plan, w->v->strs[rg.first + i])));
    return a;
}

static json_t *opt_str(const struct gl_workflow *w, uint32_t id)
{
    return id ? json_string(wfmpi_plan_str(w->plan, id)) : json_null();
}

static json_t *outputs_of(const struct gl_workflow *w, const struct wfmpi_plan_task *t)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < t->files.count; i++) {
        const struct wfmpi_plan_file *f = &w->v->files[t->files.first + i];
        if ((f->link == WFMPI_WF_LINK_OUTPUT || f->link == WFMPI_WF_LINK_INOUT) &&
            !(f->flags & WFMPI_WF_USE_OPTIONAL))
            json_array_append_new(a, json_string(wfmpi_plan_str(w->plan, f->lfn)));
    }
    return a;
}

/* The full, self-contained task record a pilot needs (like the MPI wire
 * record, minus placement, which the pilot does). */
static json_t *task_json(const struct gl_workflow *w, const struct wfmpi_sched_dispatch *d,
                         double expiry)
{
    const struct wfmpi_plan_task *t = &w->v->tasks[d->task];
    char lease[64];
    snprintf(lease, sizeof(lease), "%s:%u:%u", w->id, d->task, d->attempt);
    json_t *j =
        json_pack("{s:s,s:i,s:i,s:s,s:f,s:s,s:s}", "wf", w->id, "task", (json_int_t)d->task,
                  "attempt", (json_int_t)d->attempt, "lease", lease, "lease_expiry", expiry, "id",
                  wfmpi_plan_str(w->plan, t->id), "exe", wfmpi_plan_str(w->plan, t->exe));
    json_object_set_new(j, "argv", str_list(w, t->argv));
    json_object_set_new(j, "env", str_list(w, t->env));
    json_object_set_new(j, "stdin", opt_str(w, t->stdin_path));
    json_object_set_new(j, "stdout", opt_str(w, t->stdout_path));
    json_object_set_new(j, "stderr", opt_str(w, t->stderr_path));
    json_object_set_new(j, "successmsg", opt_str(w, t->successmsg));
    json_object_set_new(j, "failuremsg", opt_str(w, t->failuremsg));
    json_object_set_new(j, "outputs", outputs_of(w, t));
    json_object_set_new(j, "cores", json_integer(t->cores));
    json_object_set_new(j, "gpus", json_integer(t->gpus));
    json_object_set_new(j, "memory_mb", json_integer((json_int_t)t->memory_mb));
    json_object_set_new(j, "timeout", json_real(t->maxwalltime_s));
    json_object_set_new(j, "checkpoint_time", json_real(t->checkpoint_time_s));
    return j;
}

static uint32_t claim_some(struct gl_server *s, struct gl_pilot *p, uint32_t slot,
                           struct wfmpi_sched_budget *b, uint32_t max, json_t *tasks)
{
    struct wfmpi_sched_dispatch ds[256];
    uint32_t got = 0;
    double expiry = wfmpi_wall() + s->o.lease_s;
    for (size_t k = 0; k < s->n_wfs && got < max; k++) {
        struct gl_workflow *w = s->wfs[(s->rr + k) % s->n_wfs];
        if (w->removed || strcmp(w->owner, p->owner) != 0)
            continue;
        uint32_t n;
        while (got < max && b->cores > 0 &&
               (n = wfmpi_sched_claim(w->s, b, ds, max - got < 256 ? max - got : 256)) > 0) {
            for (uint32_t i = 0; i < n; i++) {
                const struct wfmpi_plan_task *t = &w->v->tasks[ds[i].task];
                b->cores -= t->cores;
                b->gpus -= t->gpus;
                if (b->memory_mb)
                    b->memory_mb = b->memory_mb > t->memory_mb ? b->memory_mb - t->memory_mb : 1;
                gl_lease_set(w, ds[i].task, slot);
                wfmpi_ckpt_task_start(w->ckpt, ds[i].task, ds[i].attempt, (int32_t)slot, 0, 0,
                                      wfmpi_wall());
                json_array_append_new(tasks, task_json(w, &ds[i], expiry));
            }
            got += n;
            p->running += n;
        }
        /* Starts are durable before the pilot hears of them. */
        if (wfmpi_ckpt_commit(w->ckpt, false) < 0)
            wfmpi_error_log("workflow %s: %s", w->id, wfmpi_ckpt_error(w->ckpt));
    }
    s->rr++;
    return got;
}

/* The attempts this pilot holds of removed workflows: it is to cancel them
 * (and report them interrupted, which the service accepts). */
static json_t *cancel_list(struct gl_server *s, const struct gl_pilot *p, uint32_t slot)
{
    json_t *cancel = json_array();
    for (size_t i = 0; i < s->n_wfs; i++) {
        struct gl_workflow *w = s->wfs[i];
        if (!w->removed || w->n_leased == 0 || strcmp(w->owner, p->owner) != 0)
            continue;
        for (uint32_t t = 0; t < w->v->n_tasks; t++)
            if (w->lease_pilot[t] == slot)
                json_array_append_new(cancel, json_pack("{s:s,s:i,s:i}", "wf", w->id, "task",
                                                        (json_int_t)t, "attempt",
                                                        (json_int_t)wfmpi_sched_attempts(w->s, t)));
    }
    return cancel;
}

static json_t *commands(struct gl_server *s, const struct gl_pilot *p, uint32_t slot)
{
    return json_pack("{s:b,s:b,s:b,s:o}", "drain", p->drain, "shutdown", p->shutdown, "sync",
                     p->restored, "cancel", cancel_list(s, p, slot));
}

static void wait_for_work(struct gl_server *s, double until_wall)
{
    struct timespec ts;
    ts.tv_sec = (time_t)until_wall;
    ts.tv_nsec = (long)((until_wall - (double)ts.tv_sec) * 1e9);
    pthread_cond_timedwait(&s->work, &s->lock, &ts);
}

static void do_claim(struct gl_server *s, struct gl_pilot *p, uint32_t slot, json_t *req,
                     struct gl_reply *r)
{
    const char *rid = json_string_value(json_object_get(req, "request_id"));
    if (!rid || !rid[0] || strlen(rid) >= GL_REQ_ID_MAX)
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "claim needs a request_id");
    if (!int_in(req, "max", 0, INT32_MAX, false) || !int_in(req, "cores", 0, INT32_MAX, false) ||
        !int_in(req, "gpus", 0, INT32_MAX, false) ||
        !int_in(req, "memory_mb", 0, (json_int_t)1 << 50, false) ||
        !num_in(req, "time_left", 0, GL_TIME_MAX) || !num_in(req, "wait", 0, GL_TIME_MAX))
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST,
                    "claim: max, cores, gpus, memory_mb are non-negative integers, time_left "
                    "and wait non-negative seconds");
    if (p->last_answer && strcmp(rid, p->last_req) == 0) {
        r->status = MHD_HTTP_OK;
        r->body = strdup(p->last_answer);
        return;
    }
    json_int_t max = json_integer_value(json_object_get(req, "max"));
    json_t *tl = json_object_get(req, "time_left");
    struct wfmpi_sched_budget b = {
        .cores = (uint32_t)json_integer_value(json_object_get(req, "cores")),
        .gpus = (uint32_t)json_integer_value(json_object_get(req, "gpus")),
        .memory_mb = (uint64_t)json_integer_value(json_object_get(req, "memory_mb")),
        .time_left = json_is_number(tl) ? json_number_value(tl) : INFINITY};
    double wait = json_number_value(json_object_get(req, "wait"));
    if (max <= 0 || max > GL_CLAIM_MAX)
        max = GL_CLAIM_MAX;
    if (wait > s->o.long_poll_s)
        wait = s->o.long_poll_s;
    json_t *tasks = json_array();
    double until = r->park_until > 0 ? r->park_until : wfmpi_wall() + (wait > 0 ? wait : 0);
    /* A drained or shut-down pilot gets no more work, only its commands. */
    while (!p->drain && !p->shutdown && claim_some(s, p, slot, &b, (uint32_t)max, tasks) == 0 &&
           wfmpi_wall() < until && !p->gone && !s->stopping) {
        if (r->may_park) { /* the HTTP layer suspends the connection */
            json_decref(tasks);
            r->parked = true;
            r->park_until = until;
            return;
        }
        wait_for_work(s, until);
    }
    p->last_seen = wfmpi_mono();
    json_t *ans = json_pack("{s:o,s:f}", "tasks", tasks, "lease_s", s->o.lease_s);
    if (p->drain || p->shutdown || p->restored)
        json_object_set_new(ans, "commands", commands(s, p, slot));
    char *text = json_dumps(ans, JSON_COMPACT);
    json_decref(ans);
    free(p->last_answer);
    p->last_answer = text;
    snprintf(p->last_req, sizeof(p->last_req), "%s", rid);
    r->status = MHD_HTTP_OK;
    r->body = text ? strdup(text) : NULL;
}

static enum wfmpi_exec_reason reason_of(const char *name)
{
    for (int i = 0; name && i < WFMPI_EXEC_NREASONS; i++)
        if (strcmp(name, wfmpi_exec_reason_name((enum wfmpi_exec_reason)i)) == 0)
            return (enum wfmpi_exec_reason)i;
    return WFMPI_EXEC_NREASONS;
}

static enum wfmpi_sched_outcome outcome_of(enum wfmpi_exec_reason r)
{
    if (r == WFMPI_EXEC_OK)
        return WFMPI_SCHED_OK;
    return r == WFMPI_EXEC_INTERRUPTED ? WFMPI_SCHED_INTERRUPTED : WFMPI_SCHED_FAILED;
}

#define GL_DETAIL_MAX 4096

/* NULL when result j is well formed for pilot p, else what is wrong. */
static const char *check_result(struct gl_server *s, const struct gl_pilot *p, json_t *j)
{
    if (!json_is_object(j))
        return "a result is not an object";
    const char *wid = json_string_value(json_object_get(j, "wf"));
    struct gl_workflow *w = wid ? find_wf(s, wid, p->owner) : NULL;
    if (!w)
        return "unknown workflow";
    if (!int_in(j, "task", 0, (json_int_t)w->v->n_tasks - 1, true))
        return "task: not a task of that workflow";
    if (!int_in(j, "attempt", 1, UINT32_MAX, true))
        return "attempt: an integer >= 1";
    if (reason_of(json_string_value(json_object_get(j, "reason"))) == WFMPI_EXEC_NREASONS)
        return "reason: not a known reason";
    if (!int_in(j, "exit_code", INT32_MIN, INT32_MAX, false) || !int_in(j, "signal", 0, 128, false))
        return "exit_code/signal: out of range";
    static const char *times[] = {"start", "end", "utime", "stime"};
    for (int i = 0; i < 4; i++)
        if (!num_in(j, times[i], 0, GL_TIME_MAX))
            return "start/end/utime/stime: a number of seconds in [0, 1e11]";
    if (!int_in(j, "maxrss_kb", 0, (json_int_t)1 << 50, false))
        return "maxrss_kb: a non-negative integer";
    if (!str_max(j, "detail", GL_DETAIL_MAX, false))
        return "detail: a string of at most 4096 bytes";
    return NULL;
}

/* One (checked) result: "ok" (counted), "duplicate" (this attempt's result
 * was already counted), "stale" (the attempt is not this pilot's any more). */
static const char *apply_result(struct gl_server *s, struct gl_pilot *p, uint32_t slot, json_t *j)
{
    struct gl_workflow *w = find_wf(s, json_string_value(json_object_get(j, "wf")), p->owner);
    json_int_t task = json_integer_value(json_object_get(j, "task"));
    json_int_t attempt = json_integer_value(json_object_get(j, "attempt"));
    enum wfmpi_exec_reason reason = reason_of(json_string_value(json_object_get(j, "reason")));
    uint32_t t = (uint32_t)task, a = (uint32_t)attempt;
    if (w->done_attempt[t] == a)
        return "duplicate";
    if (w->lease_pilot[t] != slot || wfmpi_sched_state(w->s, t) != WFMPI_TASK_RUNNING ||
        wfmpi_sched_attempts(w->s, t) != a)
        return "stale";
    struct wfmpi_exec_result res = {
        .reason = reason,
        .exit_code = (int)json_integer_value(json_object_get(j, "exit_code")),
        .signal = (int)json_integer_value(json_object_get(j, "signal")),
        .start_wall = json_number_value(json_object_get(j, "start")),
        .end_wall = json_number_value(json_object_get(j, "end")),
        .utime = json_number_value(json_object_get(j, "utime")),
        .stime = json_number_value(json_object_get(j, "stime")),
        .maxrss_kb = (long)json_integer_value(json_object_get(j, "maxrss_kb"))};
    const char *detail = json_string_value(json_object_get(j, "detail"));
    if (reason == WFMPI_EXEC_EXIT && wfmpi_plan_integrity_exit(&w->v->tasks[t], res.exit_code)) {
        res.reason = reason = WFMPI_EXEC_STAGE; /* a stage-in's checksum mismatch */
        detail = "input integrity: sha256 mismatch (see the task's stderr on the pilot)";
    }
    wfmpi_sched_complete(w->s, t, a, outcome_of(reason));
    gl_lease_clear(w, t);
    w->done_attempt[t] = a;
    if (p->running)
        p->running--;
    gl_record_end(w, t, a, (int32_t)slot, &res, detail ? detail : "");
    return "ok";
}

static void do_results(struct gl_server *s, struct gl_pilot *p, uint32_t slot, json_t *req,
                       struct gl_reply *r)
{
    json_t *list = json_object_get(req, "results");
    if (!json_is_array(list))
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "expected {\"results\": [...]}");
    size_t i, stale = 0;
    json_t *j;
    json_array_foreach(list, i, j)
    {
        const char *bad = check_result(s, p, j);
        if (bad) {
            char text[160];
            snprintf(text, sizeof(text), "result %zu: %s (no result of this request counted)", i,
                     bad);
            REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, text);
        }
    }
    json_t *acks = json_array();
    json_array_foreach(list, i, j)
    {
        const char *st = apply_result(s, p, slot, j);
        stale += strcmp(st, "stale") == 0;
        json_array_append_new(acks,
                              json_pack("{s:O?,s:O?,s:O?,s:s}", "wf", json_object_get(j, "wf"),
                                        "task", json_object_get(j, "task"), "attempt",
                                        json_object_get(j, "attempt"), "status", st));
    }
    /* Counted results are durable before they are acknowledged. */
    for (size_t k = 0; k < s->n_wfs; k++)
        if (strcmp(s->wfs[k]->owner, p->owner) == 0)
            wfmpi_ckpt_commit(s->wfs[k]->ckpt, false);
    gl_wake(s);
    size_t n = json_array_size(list);
    gl_reply_json(r, n && stale == n ? MHD_HTTP_CONFLICT : MHD_HTTP_OK,
                  json_pack("{s:o}", "acks", acks));
}

static void do_heartbeat(struct gl_server *s, struct gl_pilot *p, uint32_t slot, struct gl_reply *r)
{
    gl_reply_json(r, MHD_HTTP_OK,
                  json_pack("{s:f,s:o}", "lease_expiry", wfmpi_wall() + s->o.lease_s, "commands",
                            commands(s, p, slot)));
}

static bool is_admin(const struct gl_server *s, const char *user)
{
    for (size_t i = 0; i < s->o.n_admins; i++)
        if (strcmp(s->o.admins[i], user) == 0)
            return true;
    return false;
}

static const char *pilot_state(const struct gl_pilot *p)
{
    return p->shutdown ? "shutting-down" : p->drain ? "draining" : "active";
}

/* GET /v1/pilots: the caller's live pilots (an admin's: everyone's). */
static void do_list_pilots(struct gl_server *s, const char *user, struct gl_reply *r)
{
    bool all = is_admin(s, user);
    double now = wfmpi_mono();
    json_t *list = json_array();
    for (size_t i = 0; i < s->n_pilots; i++) {
        const struct gl_pilot *p = s->pilots[i];
        if (p->gone || (!all && strcmp(p->owner, user) != 0))
            continue;
        json_array_append_new(list,
                              json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:f,s:f}", "id", p->id, "owner",
                                        p->owner, "site", p->site, "slurm_job", p->job, "running",
                                        (json_int_t)p->running, "state", pilot_state(p), "silent_s",
                                        now - p->last_seen, "walltime_end", p->walltime_end));
    }
    gl_reply_json(r, MHD_HTTP_OK, json_pack("{s:o}", "pilots", list));
}

/* POST /v1/pilots/<id>/command {"command": "drain"|"shutdown"}: by the
 * pilot's owner or an admin; the pilot hears it at its next heartbeat or
 * claim. Does not count as a sign of life of the pilot. */
static void do_command(struct gl_server *s, const char *user, const char *pid, json_t *req,
                       struct gl_reply *r)
{
    const char *cmd = json_string_value(json_object_get(req, "command"));
    if (!cmd || (strcmp(cmd, "drain") != 0 && strcmp(cmd, "shutdown") != 0))
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "command must be \"drain\" or \"shutdown\"");
    bool all = is_admin(s, user);
    for (size_t i = 0; i < s->n_pilots; i++) {
        struct gl_pilot *p = s->pilots[i];
        if (p->gone || strcmp(p->id, pid) != 0 || (!all && strcmp(p->owner, user) != 0))
            continue;
        if (strcmp(cmd, "drain") == 0)
            p->drain = true;
        else
            p->shutdown = true;
        wfmpi_warn("pilot %s (%s): %s requested by %s", p->id, p->owner, cmd, user);
        gl_wake(s); /* end its long poll */
        gl_reply_json(
            r, MHD_HTTP_OK,
            json_pack("{s:s,s:s,s:s}", "pilot", p->id, "command", cmd, "state", pilot_state(p)));
        return;
    }
    gl_reply_error(r, MHD_HTTP_NOT_FOUND, "no such pilot");
}

/* ------------------------------------------------------------- routing */

static void route_pilot(struct gl_server *s, const char *user, const char *rest, json_t *req,
                        struct gl_reply *r)
{
    char pid[GL_ID_LEN];
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) != GL_ID_LEN - 1)
        REPLY_ERROR(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    memcpy(pid, rest, GL_ID_LEN - 1);
    pid[GL_ID_LEN - 1] = '\0';
    if (strcmp(slash + 1, "command") == 0) {
        do_command(s, user, pid, req, r);
        return;
    }
    uint32_t slot = 0;
    struct gl_pilot *p = gl_find_pilot(s, pid, user, &slot);
    if (!p)
        REPLY_ERROR(r, MHD_HTTP_NOT_FOUND, "unknown pilot: register again");
    p->last_seen = wfmpi_mono();
    const char *op = slash + 1;
    if (!int_in(req, "running", 0, INT32_MAX, false) || !str_max(req, "reason", 64, false))
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "running: a non-negative integer; reason: a string");
    if (strcmp(op, "claim") == 0)
        do_claim(s, p, slot, req, r);
    else if (strcmp(op, "results") == 0)
        do_results(s, p, slot, req, r);
    else if (strcmp(op, "heartbeat") == 0)
        do_heartbeat(s, p, slot, r);
    else if (strcmp(op, "sync") == 0)
        gl_do_sync(s, p, slot, req, r);
    else if (strcmp(op, "deregister") == 0) {
        const char *why = json_string_value(json_object_get(req, "reason"));
        char text[96];
        snprintf(text, sizeof(text), "deregistered (%.64s)", why ? why : "no reason");
        gl_release_pilot(s, p, slot, text);
        wfmpi_warn("pilot %s %s", p->id, text);
        gl_reply_json(r, MHD_HTTP_OK, json_pack("{s:s}", "status", "bye"));
    } else
        gl_reply_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

void gl_route(struct gl_server *s, const char *user, const char *method, const char *url,
              const char *body, size_t len, struct gl_reply *r)
{
    bool post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/v1/workflows", 13) == 0) {
        if (post && url[13] == '\0') {
            do_submit(s, user, body, len, r);
            return;
        }
        if (url[13] != '/')
            REPLY_ERROR(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
        struct gl_workflow *w = find_wf(s, url + 14, user);
        if (!w) /* someone else's workflow is as good as none */
            REPLY_ERROR(r, MHD_HTTP_NOT_FOUND, "no such workflow");
        if (strcmp(method, "GET") == 0) {
            do_status(w, r);
            return;
        }
        if (strcmp(method, "DELETE") == 0) {
            do_remove(w, r);
            return;
        }
        REPLY_ERROR(r, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or DELETE");
    }
    if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/pilots") == 0) {
        do_list_pilots(s, user, r);
        return;
    }
    if (!post || strncmp(url, "/v1/pilots", 10) != 0)
        REPLY_ERROR(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    json_error_t jerr;
    json_t *req = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(req)) {
        json_decref(req);
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST, "malformed JSON");
    }
    if (url[10] == '\0' &&
        (!str_max(req, "site", 127, false) || !str_max(req, "slurm_job", 63, false) ||
         !num_in(req, "walltime_end", 0, GL_TIME_MAX) ||
         (json_object_get(req, "nodes") && !json_is_array(json_object_get(req, "nodes")))))
        gl_reply_error(r, MHD_HTTP_BAD_REQUEST,
                       "register: site (<= 127 bytes) and slurm_job (<= 63) are strings, "
                       "walltime_end epoch seconds, nodes a list");
    else if (url[10] == '\0')
        gl_do_register(s, user, req, r);
    else if (url[10] == '/')
        route_pilot(s, user, url + 11, req, r);
    else
        gl_reply_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
    json_decref(req);
}
