/* `wfmpi glidein` rank 0: register with the service, claim tasks that fit
 * the allocation's free resources and time, hand them to the MPI pool
 * (src/mpi/pilot.c: same wire records and worker loop as `wfmpi run`), and
 * report results. Only this rank talks HTTP.
 *
 * Failure handling: every request has connect and total timeouts; a failed
 * request is retried with exponential backoff and jitter; results stay in
 * `unacked` until the service acknowledged them (ok, duplicate or stale), so
 * an outage or a service restart loses none. A claim is retried with the same
 * request id, so a lost answer hands out nothing twice. A 404 (the service
 * forgot us: restart, or our lease expired) means register again. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

#define MAX_SLOTS 65536u
#define RESULT_BATCH 1024
#define ANSWER_MAX ((size_t)64 << 20)

struct slot {
    char wf[24];
    uint32_t task, attempt;
    bool used;
    bool cancelled; /* the service asked: its result is "cancelled" */
    bool lease_kill; /* killed because the lease lapsed */
};

struct pilot {
    const struct wfmpi_glidein_pilot_opts *o;
    struct wfmpi_mpi *m;
    struct wfmpi_mpi_pool *pool;
    struct gl_http h;
    struct wfmpi_buf ans;
    char id[32];
    double heartbeat_s;
    struct slot *slots;
    uint32_t *free_slots, n_free;
    json_t *backlog; /* claimed tasks that did not fit a node yet */
    json_t *unacked; /* results not yet acknowledged */
    uint64_t req_seq;
    char req_id[64]; /* the claim in progress (kept across retries) */
    bool claim_pending;
    int failures;
    double next_try, next_claim, next_heartbeat, last_work, started;
    /* The lease (docs/glidein-protocol.md, "Leases"): lease_s from the
     * registration, renewed = when the last request the service answered
     * as this pilot's was sent (its clock starts later, on receipt). At
     * renewed + lease_s, still unrenewed, the pilot kills what it runs: the
     * service hands those tasks out again only after lease_s + grace_s. */
    double lease_s, grace_s, renewed;
    bool lease_lost;
    /* Fail fast: registration failing since reg_since (0 = not failing). */
    double reg_since;
    char last_err[1024];
    const char *leaving; /* reason, once we stop claiming */
    bool drained;
    bool need_sync; /* the service restarted: tell it what we hold */
};

static void backoff(struct pilot *p, const struct wfmpi_error *err)
{
    double d = gl_backoff_s(p->failures, (double)rand() / ((double)RAND_MAX + 1), p->heartbeat_s);
    p->failures++;
    p->next_try = wfmpi_mono() + d;
    snprintf(p->last_err, sizeof(p->last_err), "%s", err->text);
    wfmpi_warn("glidein: %s; retrying in %.1f s", err->text, d);
}

/* Statuses the service gives only after it found this pilot (so its lease
 * was renewed): anything but 404 (unknown pilot), 401, 413, 429 and 5xx. */
static bool renews(long st)
{
    return st >= 200 && st < 500 && st != 404 && st != 401 && st != 413 && st != 429;
}

/* One request; 0 on a transport error (backed off). After a failure the
 * rest of the loop step sends nothing (one back-off per step, not one per
 * request), and no request may block past the lease. */
static void watch_lease(struct pilot *p);

static long call(struct pilot *p, const char *path, json_t *body, double timeout)
{
    double now = wfmpi_mono();
    if (now < p->next_try)
        return 0;
    /* A lease that lapsed while this process was frozen (or starved) is
     * lost, whatever this request brings back: the service may have handed
     * our tasks out already, so they die before anything else is said. */
    watch_lease(p);
    if (p->id[0] && p->lease_s > 0) {
        double left = p->renewed + p->lease_s - now;
        double t = timeout > 0 ? timeout : p->h.o.total_timeout_s > 0 ? p->h.o.total_timeout_s : 60;
        timeout = left < t ? (left > 0.5 ? left : 0.5) : t;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    struct wfmpi_error err = {0};
    long status = 0;
    int rc = text ? gl_http_request(&p->h, "POST", path, text, timeout, &status, &p->ans, &err)
                  : -ENOMEM;
    free(text);
    if (rc < 0 || status >= 500) {
        if (rc == 0)
            wfmpi_error_set(&err, WFMPI_E_PROTO, "%s: HTTP %ld", path, status);
        backoff(p, &err);
        return 0;
    }
    if (p->failures > 0)
        p->next_heartbeat = 0; /* back after an outage: hear commands (sync) now */
    p->failures = 0;
    if (p->id[0] && renews(status) && now > p->renewed) {
        p->renewed = now;
        p->lease_lost = false;
    }
    return status;
}

static json_t *node_list(struct pilot *p)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < wfmpi_mpi_pool_nodes(p->pool); i++) {
        const struct wfmpi_sched_node *n = wfmpi_mpi_pool_node(p->pool, i);
        const struct wfmpi_mpi_node *mn = wfmpi_mpi_node(p->m, i);
        json_t *gpus = json_array();
        const struct wfmpi_topo *t = mn ? mn->info.detail : NULL;
        for (uint32_t g = 0; t && g < t->n_gpus; g++)
            json_array_append_new(gpus, json_pack("{s:s,s:I,s:s}", "model", t->gpus[g].name,
                                                  "memory_mb", (json_int_t)t->gpus[g].memory_mb,
                                                  "uuid", t->gpus[g].uuid));
        json_array_append_new(a, json_pack("{s:i,s:I,s:i,s:o}", "cores", (int)n->cores, "memory_mb",
                                           (json_int_t)n->memory_mb, "n_gpus", (int)n->gpus, "gpus",
                                           gpus));
    }
    return a;
}

/* Registration failed without an answer: 0 to retry, or < 0 (err set) when
 * no retry can help (TLS, URL) or it kept failing for --register-timeout. */
static int register_failed(struct pilot *p, struct wfmpi_error *err)
{
    double now = wfmpi_mono();
    if (p->reg_since == 0)
        p->reg_since = now;
    if (gl_http_permanent(&p->h))
        return wfmpi_error_set(err, WFMPI_E_PROTO, "glidein: cannot register with %s: %s",
                               p->o->client.url, p->last_err);
    double patience = p->o->register_timeout_s > 0 ? p->o->register_timeout_s : 60;
    if (now - p->reg_since > patience)
        return wfmpi_error_set(err, WFMPI_E_PROTO,
                               "glidein: could not register with %s for %.0f s: %s",
                               p->o->client.url, now - p->reg_since, p->last_err);
    return 0;
}

/* 1 registered, 0 not yet (retry), < 0 give up (err set: exit 4). */
static int do_register(struct pilot *p, struct wfmpi_error *err)
{
    const char *job = getenv("SLURM_JOB_ID");
    json_t *b =
        json_pack("{s:s,s:s,s:f,s:o}", "site", p->o->site ? p->o->site : "", "slurm_job",
                  job ? job : "", "walltime_end", p->o->walltime_end, "nodes", node_list(p));
    double sent = wfmpi_mono();
    if (sent < p->next_try)
        return 0;
    long st = call(p, "/v1/pilots", b, 0);
    json_decref(b);
    if (st == 0)
        return register_failed(p, err);
    json_t *j = json_loadb(p->ans.data, p->ans.len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "pilot"));
    if (st != 201 || !id) {
        char text[256];
        json_decref(j);
        return wfmpi_error_set(err, WFMPI_E_PROTO,
                               "glidein: %s refused to register this pilot (HTTP %ld%s): %s",
                               p->o->client.url, st, st == 401 ? ", wrong or revoked token" : "",
                               gl_answer_error(&p->ans, text, sizeof(text)));
    }
    p->reg_since = 0;
    snprintf(p->id, sizeof(p->id), "%s", id);
    double hb = json_number_value(json_object_get(j, "heartbeat_s"));
    p->heartbeat_s = hb > 0.2 ? hb : 1;
    double lease = json_number_value(json_object_get(j, "lease_s"));
    double grace = json_number_value(json_object_get(j, "lease_grace_s"));
    p->lease_s = lease > 0 ? lease : 0;
    p->grace_s = grace > 0 ? grace : 0;
    p->renewed = sent;
    p->lease_lost = false;
    json_decref(j);
    wfmpi_info("glidein: registered as pilot %s", p->id);
    return 1;
}

static void forget_registration(struct pilot *p)
{
    p->need_sync = false;
    wfmpi_warn("glidein: the service does not know pilot %s any more; registering again", p->id);
    p->id[0] = '\0';
}

/* POST body (consumed) to /v1/pilots/<id>/<endpoint>. A 404 means the
 * service no longer knows this pilot: its registration is forgotten (the
 * next loop registers again) and 404 is returned for the caller to stop. */
static long pilot_post(struct pilot *p, const char *endpoint, json_t *body, double timeout)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/pilots/%s/%s", p->id, endpoint);
    long st = call(p, path, body, timeout);
    json_decref(body);
    if (st == 404)
        forget_registration(p);
    return st;
}

/* ------------------------------------------------------------ tasks */

static const char **strs(json_t *a, uint32_t *n)
{
    *n = (uint32_t)json_array_size(a);
    const char **v = calloc(*n + 1, sizeof(*v));
    for (uint32_t i = 0; v && i < *n; i++) {
        v[i] = json_string_value(json_array_get(a, i));
        if (!v[i])
            v[i] = "";
    }
    return v;
}

static const char *opt(json_t *t, const char *k)
{
    return json_string_value(json_object_get(t, k));
}

/* Start one claimed task: 1 started, 0 no room now, < 0 error. */
static int start_task(struct pilot *p, json_t *t)
{
    if (p->n_free == 0)
        return 0;
    uint32_t slot = p->free_slots[p->n_free - 1];
    struct wfmpi_pool_task pt = {
        .slot = slot,
        .attempt = (uint32_t)json_integer_value(json_object_get(t, "attempt")),
        .cores = (uint32_t)json_integer_value(json_object_get(t, "cores")),
        .gpus = (uint32_t)json_integer_value(json_object_get(t, "gpus")),
        .memory_mb = (uint64_t)json_integer_value(json_object_get(t, "memory_mb")),
        .timeout_s = json_number_value(json_object_get(t, "timeout")),
        .checkpoint_s = json_number_value(json_object_get(t, "checkpoint_time")),
        .id = opt(t, "id"),
        .exe = opt(t, "exe"),
        .stdin_path = opt(t, "stdin"),
        .stdout_path = opt(t, "stdout"),
        .stderr_path = opt(t, "stderr"),
        .successmsg = opt(t, "successmsg"),
        .failuremsg = opt(t, "failuremsg")};
    const char *wf = opt(t, "wf");
    if (!pt.id || !pt.exe || !wf || pt.attempt == 0)
        return WFMPI_E_PROTO;
    if (pt.cores == 0)
        pt.cores = 1;
    char out[4200], errp[4200];
    if (!pt.stdout_path) {
        snprintf(out, sizeof(out), "%s/jobs/%s/%s.%u.out", p->o->work_dir, wf, pt.id, pt.attempt);
        pt.stdout_path = out;
        pt.stdout_lazy = true;
    }
    if (!pt.stderr_path) {
        snprintf(errp, sizeof(errp), "%s/jobs/%s/%s.%u.err", p->o->work_dir, wf, pt.id, pt.attempt);
        pt.stderr_path = errp;
        pt.stderr_lazy = true;
    }
    const char **argv = strs(json_object_get(t, "argv"), &pt.argc);
    json_t *env = json_deep_copy(json_object_get(t, "env"));
    if (!json_is_array(env))
        env = (json_decref(env), json_array());
    json_array_append_new(env, json_sprintf("WFMPI_TASK_ID=%s", pt.id));
    json_array_append_new(env, json_sprintf("WFMPI_ATTEMPT=%u", pt.attempt));
    json_array_append_new(env, json_sprintf("WFMPI_WORKFLOW=%s", wf));
    const char **envv = strs(env, &pt.n_env);
    const char **outs = strs(json_object_get(t, "outputs"), &pt.n_outputs);
    pt.argv = argv;
    pt.env = envv;
    pt.outputs = outs;
    int rc = argv && envv && outs ? wfmpi_mpi_pool_start(p->pool, &pt) : -ENOMEM;
    free(argv);
    free(envv);
    free(outs);
    json_decref(env);
    if (rc == -EAGAIN)
        return 0;
    if (rc < 0)
        return rc;
    struct slot *s = &p->slots[slot];
    snprintf(s->wf, sizeof(s->wf), "%s", wf);
    s->task = (uint32_t)json_integer_value(json_object_get(t, "task"));
    s->attempt = pt.attempt;
    s->used = true;
    p->n_free--;
    return 1;
}

/* Report a claimed task that never started as interrupted: the service puts
 * it back to READY without using a retry. */
static void give_back(struct pilot *p, json_t *t, const char *why)
{
    struct wfmpi_exec_result r = {.reason = WFMPI_EXEC_INTERRUPTED};
    r.start_wall = r.end_wall = wfmpi_wall();
    json_int_t task = json_integer_value(json_object_get(t, "task"));
    json_int_t attempt = json_integer_value(json_object_get(t, "attempt"));
    const char *wf = json_string_value(json_object_get(t, "wf"));
    if (wf && task >= 0 && task <= UINT32_MAX && attempt > 0 && attempt <= UINT32_MAX)
        json_array_append_new(p->unacked,
                              gl_result_json(wf, (uint32_t)task, (uint32_t)attempt, &r, why));
}

static void give_back_backlog(struct pilot *p, const char *why)
{
    size_t i;
    json_t *t;
    json_array_foreach(p->backlog, i, t) give_back(p, t, why);
    json_array_clear(p->backlog);
}

static int start_backlog(struct pilot *p)
{
    size_t i = 0;
    while (i < json_array_size(p->backlog)) {
        int rc = start_task(p, json_array_get(p->backlog, i));
        if (rc < 0)
            return rc;
        if (rc == 0) {
            i++;
            continue;
        }
        json_array_remove(p->backlog, i);
    }
    return 0;
}

static bool same_attempt(json_t *a, const char *wf, json_int_t task, json_int_t attempt)
{
    const char *w = json_string_value(json_object_get(a, "wf"));
    return w && strcmp(w, wf) == 0 && json_integer_value(json_object_get(a, "task")) == task &&
           json_integer_value(json_object_get(a, "attempt")) == attempt;
}

/* The service cancels an attempt (its workflow was removed): drop it if it
 * has not started, else interrupt it; either way it is reported
 * interrupted. Repeats (every heartbeat until the result is in) are
 * harmless. */
static void cancel_attempt(struct pilot *p, json_t *c)
{
    const char *wf = json_string_value(json_object_get(c, "wf"));
    json_int_t task = json_integer_value(json_object_get(c, "task"));
    json_int_t attempt = json_integer_value(json_object_get(c, "attempt"));
    if (!wf)
        return;
    for (size_t i = 0; i < json_array_size(p->backlog); i++) {
        json_t *t = json_array_get(p->backlog, i);
        if (same_attempt(t, wf, task, attempt)) {
            give_back(p, t, "cancelled by the service before it started");
            json_array_remove(p->backlog, i);
            return;
        }
    }
    for (uint32_t i = 0; i < MAX_SLOTS; i++) {
        struct slot *s = &p->slots[i];
        if (s->used && !s->cancelled && s->task == task && s->attempt == attempt &&
            strcmp(s->wf, wf) == 0) {
            s->cancelled = true;
            wfmpi_mpi_pool_cancel(p->pool, i, p->o->drain_grace_s);
            wfmpi_info("glidein: cancelling %s task %lld attempt %lld", wf, (long long)task,
                       (long long)attempt);
            return;
        }
    }
}

/* Commands from a heartbeat or claim answer (docs/glidein-protocol.md). */
static void obey(struct pilot *p, json_t *cmd)
{
    if (!json_is_object(cmd))
        return;
    if (json_is_true(json_object_get(cmd, "shutdown")) &&
        !(p->leaving && strcmp(p->leaving, "shutdown") == 0)) {
        p->leaving = "shutdown";
        wfmpi_warn("glidein: shutdown requested by the service; interrupting %u task(s)",
                   wfmpi_mpi_pool_running(p->pool));
    } else if (json_is_true(json_object_get(cmd, "drain")) && !p->leaving) {
        p->leaving = "drain";
        wfmpi_warn("glidein: drain requested by the service; finishing %u task(s)",
                   wfmpi_mpi_pool_running(p->pool));
    }
    if (json_is_true(json_object_get(cmd, "sync")))
        p->need_sync = true;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cmd, "cancel"), i, c) cancel_attempt(p, c);
}

static void add_held(json_t *held, const char *wf, json_int_t task, json_int_t attempt)
{
    json_array_append_new(held,
                          json_pack("{s:s,s:I,s:I}", "wf", wf, "task", task, "attempt", attempt));
}

/* After a service restart: every attempt we hold (claimed, running, or
 * with a result not yet acknowledged), so that the service can requeue
 * what it leased to us in an answer we never received. Only between
 * claims: with none in flight, everything handed to us is in this list. */
static void sync_leases(struct pilot *p)
{
    if (!p->need_sync || p->claim_pending || !p->id[0])
        return;
    json_t *held = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(p->backlog, i, t)
        add_held(held, json_string_value(json_object_get(t, "wf")),
                 json_integer_value(json_object_get(t, "task")),
                 json_integer_value(json_object_get(t, "attempt")));
    json_array_foreach(p->unacked, i, t)
        add_held(held, json_string_value(json_object_get(t, "wf")),
                 json_integer_value(json_object_get(t, "task")),
                 json_integer_value(json_object_get(t, "attempt")));
    for (uint32_t k = 0; k < MAX_SLOTS; k++)
        if (p->slots[k].used)
            add_held(held, p->slots[k].wf, p->slots[k].task, p->slots[k].attempt);
    json_t *b = json_pack("{s:o}", "held", held);
    if (pilot_post(p, "sync", b, 0) != 200)
        return; /* retried at the next step (or registering again after a 404) */
    p->need_sync = false;
    json_t *j = json_loadb(p->ans.data, p->ans.len, 0, NULL);
    json_array_foreach(json_object_get(j, "cancel"), i, t) cancel_attempt(p, t);
    wfmpi_info("glidein: synced with the restarted service (%lld lease(s) requeued)",
               (long long)json_integer_value(json_object_get(j, "released")));
    json_decref(j);
}

static void claim(struct pilot *p)
{
    double now = wfmpi_mono();
    if (p->leaving || !p->id[0] || now < p->next_claim)
        return;
    /* A claim whose answer was lost is retried even when full: its answer
     * may hold tasks leased to us (and a sync waits for it). */
    struct wfmpi_sched_budget total, largest;
    wfmpi_mpi_pool_free(p->pool, &total, &largest);
    if (!p->claim_pending && (json_array_size(p->backlog) > 0 || total.cores == 0))
        return;
    if (!p->claim_pending) {
        snprintf(p->req_id, sizeof(p->req_id), "%s-%llu", p->id, (unsigned long long)++p->req_seq);
        p->claim_pending = true;
    }
    double left =
        p->o->walltime_end > 0 ? p->o->walltime_end - wfmpi_wall() - p->o->drain_before_s : -1;
    bool idle = wfmpi_mpi_pool_running(p->pool) == 0;
    json_t *b = json_pack("{s:s,s:i,s:i,s:i,s:f}", "request_id", p->req_id, "max",
                          (int)(p->o->max_claim ? p->o->max_claim : 1024), "cores",
                          (int)largest.cores, "gpus", (int)largest.gpus, "wait", idle ? 2.0 : 0.0);
    if (left >= 0)
        json_object_set_new(b, "time_left", json_real(left));
    if (largest.memory_mb > 0)
        json_object_set_new(b, "memory_mb", json_integer((json_int_t)largest.memory_mb));
    /* The budget is, per resource, the most one node has free: with nodes
     * alike (an allocation's usually are) what fits it fits somewhere. */
    long st = pilot_post(p, "claim", b, 30);
    if (st == 0)
        return;
    p->claim_pending = false;
    if (st == 404)
        return;
    json_t *j = st == 200 ? json_loadb(p->ans.data, p->ans.len, 0, NULL) : NULL;
    json_t *tasks = json_object_get(j, "tasks");
    size_t n = json_array_size(tasks);
    json_array_extend(p->backlog, tasks);
    obey(p, json_object_get(j, "commands"));
    json_decref(j);
    p->next_claim = wfmpi_mono() + (n ? 0 : 0.25);
    if (n)
        p->last_work = wfmpi_mono();
}

/* ---------------------------------------------------------- results */

static void collect(struct pilot *p, const struct wfmpi_exec_result *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot = (uint32_t)(r[i].tag >> 32);
        struct slot *s = &p->slots[slot];
        const char *detail = !s->cancelled || r[i].reason != WFMPI_EXEC_INTERRUPTED ? r[i].detail
                             : s->lease_kill ? "killed: the pilot lost its lease"
                                             : "cancelled by the service";
        json_array_append_new(p->unacked,
                              gl_result_json(s->wf, s->task, s->attempt, &r[i], detail));
        s->used = false;
        s->cancelled = s->lease_kill = false;
        p->free_slots[p->n_free++] = slot;
    }
    if (n)
        p->last_work = wfmpi_mono();
}

static void send_results(struct pilot *p)
{
    size_t n = json_array_size(p->unacked);
    if (n == 0 || !p->id[0])
        return;
    json_t *batch = json_array();
    for (size_t i = 0; i < n && i < RESULT_BATCH; i++)
        json_array_append(batch, json_array_get(p->unacked, i));
    size_t k = json_array_size(batch);
    json_t *b = json_pack("{s:o}", "results", batch);
    long st = pilot_post(p, "results", b, 0);
    if (st == 404)
        return;
    if (st == 400) {
        /* Malformed (a bug here): resending would be refused for ever. */
        char text[256];
        wfmpi_error_log("glidein: %zu result(s) refused as malformed, dropped: %s", k,
                        gl_answer_error(&p->ans, text, sizeof(text)));
    } else if (st != 200 && st != 409) {
        if (st)
            wfmpi_warn("glidein: results refused with HTTP %ld; keeping them", st);
        return;
    }
    if (st == 409)
        wfmpi_warn("glidein: %zu result(s) were for attempts this pilot no longer holds", k);
    /* Acknowledged (counted, duplicate or stale): never sent again. */
    for (size_t i = 0; i < k; i++)
        json_array_remove(p->unacked, 0);
    /* Those results may have made tasks READY (their children): claim now,
     * not after the pause that follows an empty claim. */
    p->next_claim = 0;
}

static void heartbeat(struct pilot *p)
{
    double now = wfmpi_mono();
    if (!p->id[0] || now < p->next_heartbeat)
        return;
    p->next_heartbeat = now + p->heartbeat_s;
    json_t *b = json_pack("{s:i}", "running", (int)wfmpi_mpi_pool_running(p->pool));
    long st = pilot_post(p, "heartbeat", b, 0);
    if (st == 404)
        return;
    json_t *j = st == 200 ? json_loadb(p->ans.data, p->ans.len, 0, NULL) : NULL;
    obey(p, json_object_get(j, "commands"));
    json_decref(j);
}

/* ------------------------------------------------------------- loop */

static void watch(struct pilot *p)
{
    double now = wfmpi_mono();
    if (p->leaving)
        return;
    if (p->o->stop && *p->o->stop)
        p->leaving = "signal";
    else if (p->o->lifetime_s > 0 && now - p->started >= p->o->lifetime_s)
        p->leaving = "lifetime";
    else if (p->o->walltime_end > 0 && wfmpi_wall() >= p->o->walltime_end - p->o->drain_before_s)
        p->leaving = "walltime";
    else if (p->o->idle_timeout_s > 0 && wfmpi_mpi_pool_running(p->pool) == 0 &&
             json_array_size(p->backlog) == 0 && now - p->last_work >= p->o->idle_timeout_s)
        p->leaving = "idle";
    if (p->leaving)
        wfmpi_warn("glidein: leaving (%s); %u task(s) still running", p->leaving,
                   wfmpi_mpi_pool_running(p->pool));
}

/* The lease lapsed unrenewed (the service unreachable, or this process
 * frozen): kill everything this pilot runs and drop what it has not
 * started, before the service may hand those tasks to another pilot
 * (lease_s + grace_s after it last heard of us; the kill takes at most
 * grace_s / 2). Their results (interrupted) are reported when the service
 * answers again: stale by then, or accepted if it kept the lease (it
 * restarted and restored us). */
static void watch_lease(struct pilot *p)
{
    if (!p->id[0] || p->lease_s <= 0 || p->lease_lost || wfmpi_mono() < p->renewed + p->lease_s)
        return;
    p->lease_lost = true;
    uint32_t n = wfmpi_mpi_pool_running(p->pool);
    size_t b = json_array_size(p->backlog);
    double grace = p->grace_s > 0 ? p->grace_s / 2 : 0;
    if (grace > p->o->drain_grace_s)
        grace = p->o->drain_grace_s;
    wfmpi_warn("glidein: lease lost (no answer for %.1f s): killing %u task(s), dropping %zu",
               wfmpi_mono() - p->renewed, n, b);
    give_back_backlog(p, "not started: the pilot lost its lease");
    for (uint32_t i = 0; i < MAX_SLOTS; i++)
        if (p->slots[i].used && !p->slots[i].cancelled) {
            p->slots[i].cancelled = p->slots[i].lease_kill = true;
            wfmpi_mpi_pool_cancel(p->pool, i, grace);
        }
}

/* Leaving reasons that interrupt running tasks (the others let them end). */
static bool hard_leave(const char *why)
{
    return why && (!strcmp(why, "signal") || !strcmp(why, "walltime") || !strcmp(why, "shutdown"));
}

static int step(struct pilot *p, struct wfmpi_exec_result *res, struct wfmpi_error *err)
{
    watch_lease(p);
    watch(p);
    if (p->leaving && json_array_size(p->backlog) > 0 &&
        (hard_leave(p->leaving) || !strcmp(p->leaving, "drain")))
        give_back_backlog(p, "not started: the pilot is leaving");
    if (hard_leave(p->leaving) && !p->drained) {
        p->drained = true;
        if (wfmpi_mpi_pool_drain(p->pool, p->o->drain_grace_s) < 0)
            return wfmpi_error_set(err, WFMPI_E_MPI, "cannot drain the ranks");
    }
    int rc = start_backlog(p);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "cannot start a task: %s", wfmpi_strerror(rc));
    rc = wfmpi_mpi_pool_progress(p->pool, res, RESULT_BATCH, err);
    if (rc < 0)
        return rc;
    collect(p, res, (uint32_t)rc);
    if (wfmpi_mono() >= p->next_try) {
        if (!p->id[0] && (rc = do_register(p, err)) < 0)
            return rc;
        send_results(p);
        heartbeat(p);
        sync_leases(p);
        claim(p);
    }
    if (rc == 0) {
        struct pollfd pfd = {.fd = wfmpi_mpi_pool_fd(p->pool), .events = POLLIN};
        struct timespec ts = {0, 1000000L};
        ppoll(&pfd, 1, &ts, NULL);
    }
    return 0;
}

static void deregister(struct pilot *p)
{
    if (!p->id[0])
        return;
    /* Not pilot_post: a 404 here needs no re-registration, the pilot leaves. */
    char path[96];
    snprintf(path, sizeof(path), "/v1/pilots/%s/deregister", p->id);
    json_t *b = json_pack("{s:s}", "reason", p->leaving ? p->leaving : "error");
    call(p, path, b, 10);
    json_decref(b);
}

static int pilot_loop(struct pilot *p, struct wfmpi_error *err)
{
    struct wfmpi_exec_result *res = calloc(RESULT_BATCH, sizeof(*res));
    if (!res)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    /* Leave once nothing runs and every result is acknowledged; after an
     * outage give up on unacknowledged results only after ~2 minutes. */
    double give_up = 0;
    while (rc == 0) {
        rc = step(p, res, err);
        if (!p->leaving || wfmpi_mpi_pool_running(p->pool) > 0)
            continue;
        if (json_array_size(p->unacked) == 0)
            break;
        if (give_up == 0)
            give_up = wfmpi_mono() + 120;
        if (wfmpi_mono() > give_up) {
            wfmpi_error_log("glidein: %zu result(s) could not be delivered",
                            json_array_size(p->unacked));
            break;
        }
    }
    free(res);
    return rc;
}

int wfmpi_glidein_pilot(struct wfmpi_mpi *m, const struct wfmpi_glidein_pilot_opts *o,
                        struct wfmpi_error *err)
{
    struct pilot p = {.o = o, .m = m};
    /* The pool first: the workers wait for its configuration broadcast. */
    struct wfmpi_run_config cfg = {o->work_dir,
                                   o->work_dir,
                                   o->exec_null,
                                   o->kill_grace_s,
                                   o->drain_grace_s,
                                   o->walltime_end,
                                   o->drain_before_s,
                                   false,
                                   false};
    if (!(p.pool = wfmpi_mpi_pool_create(m, &cfg, o->cores_per_node, MAX_SLOTS, err)))
        return err->code;
    srand((unsigned)(getpid() ^ (unsigned)time(NULL)));
    wfmpi_buf_init(&p.ans, ANSWER_MAX);
    p.slots = calloc(MAX_SLOTS, sizeof(*p.slots));
    p.free_slots = calloc(MAX_SLOTS, sizeof(*p.free_slots));
    p.backlog = json_array();
    p.unacked = json_array();
    p.heartbeat_s = 1;
    p.started = p.last_work = wfmpi_mono();
    int rc = gl_http_init(&p.h, &o->client, err);
    if (rc == 0 && (!p.slots || !p.free_slots))
        rc = wfmpi_error_set(err, -ENOMEM, "out of memory");
    for (uint32_t i = 0; rc == 0 && i < MAX_SLOTS; i++)
        p.free_slots[p.n_free++] = MAX_SLOTS - 1 - i;
    if (rc == 0)
        rc = pilot_loop(&p, err);
    deregister(&p);
    gl_http_fini(&p.h);
    wfmpi_mpi_pool_destroy(p.pool);
    wfmpi_buf_fini(&p.ans);
    json_decref(p.backlog);
    json_decref(p.unacked);
    free(p.slots);
    free(p.free_slots);
    if (rc < 0)
        return rc;
    /* A shutdown asked for by the service is a clean end: the allocation is
     * to be given back, not resubmitted. */
    return p.leaving && (!strcmp(p.leaving, "signal") || !strcmp(p.leaving, "walltime")) ? 3 : 0;
}
