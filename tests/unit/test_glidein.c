/* The glidein protocol without sockets: the service's state is opened without
 * its HTTP daemon (gl_server_open) and requests go straight to gl_route(),
 * the function the daemon calls after authentication. Covers request
 * validation, claim idempotency, result idempotency (ok, duplicate, stale,
 * bad), lease expiry, commands, the restart of the service, and the pilot's
 * side of the JSON (result records, retry delays). Compiled against the
 * module's private headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/glidein/client_int.h"
#include "../../src/glidein/glidein_int.h"

#define WF_YAML                                                                                    \
    "pegasus: '5.0'\n"                                                                             \
    "name: unit\n"                                                                                 \
    "transformationCatalog:\n"                                                                     \
    "  transformations:\n"                                                                         \
    "  - name: t\n"                                                                                \
    "    sites:\n"                                                                                 \
    "    - {name: local, pfn: /bin/true, type: installed}\n"                                       \
    "jobs:\n"                                                                                      \
    "- {type: job, id: a, name: t, arguments: [], uses: []}\n"                                     \
    "- {type: job, id: b, name: t, arguments: [], uses: []}\n"                                     \
    "- {type: job, id: c, name: t, arguments: [], uses: []}\n"                                     \
    "- {type: job, id: d, name: t, arguments: [], uses: []}\n"

struct fixture {
    char dir[64], tokens[128], state[128];
    const char *admins[1];
    struct wfmpi_glidein_server_opts o;
    struct gl_server *s;
    char wf[GL_ID_LEN];
};

static void open_server(struct fixture *f)
{
    struct wfmpi_error err = {0};
    f->s = gl_server_open(&f->o, &err);
    if (!f->s)
        fail_msg("gl_server_open: %s", err.text);
}

static void close_server(struct fixture *f)
{
    wfmpi_glidein_server_destroy((struct wfmpi_glidein_server *)f->s);
    f->s = NULL;
}

/* One request as `user`; returns the parsed answer (caller decrefs) and its
 * HTTP status. */
static json_t *req(struct fixture *f, const char *user, const char *method, const char *url,
                   const char *body, unsigned *status)
{
    struct gl_reply r = {0};
    pthread_mutex_lock(&f->s->lock);
    gl_route(f->s, user, method, url, body ? body : "", body ? strlen(body) : 0, &r);
    pthread_mutex_unlock(&f->s->lock);
    *status = r.status;
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    free(r.body);
    assert_non_null(j);
    return j;
}

/* The same with a JSON body built by json_pack (stolen). */
static json_t *reqj(struct fixture *f, const char *user, const char *url, json_t *body,
                    unsigned *status)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *j = req(f, user, "POST", url, text, status);
    free(text);
    return j;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wfmpi-test-glidein.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->tokens, sizeof(f->tokens), "%s/tokens", f->dir);
    snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
    FILE *t = fopen(f->tokens, "w");
    fprintf(t, "alice %064d\nbob %064d\n", 0, 1);
    fclose(t);
    f->admins[0] = "ops";
    f->o = (struct wfmpi_glidein_server_opts){.tokens_file = f->tokens,
                                              .state_dir = f->state,
                                              .insecure_http = true,
                                              .lease_s = 10,
                                              .long_poll_s = 0.01,
                                              .default_retries = 1,
                                              .admins = f->admins,
                                              .n_admins = 1};
    wfmpi_log_set_level(WFMPI_LOG_ERROR);
    open_server(f);
    unsigned st;
    json_t *j =
        reqj(f, "alice", "/v1/workflows",
             json_pack("{s:s,s:{s:s}}", "workflow", "wf.yml", "files", "wf.yml", WF_YAML), &st);
    assert_int_equal(st, 201);
    snprintf(f->wf, sizeof(f->wf), "%s", json_string_value(json_object_get(j, "id")));
    assert_int_equal(json_integer_value(json_object_get(j, "tasks")), 4);
    json_decref(j);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    close_server(f);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void register_pilot(struct fixture *f, const char *user, char id[GL_ID_LEN])
{
    unsigned st;
    json_t *j = req(f, user, "POST", "/v1/pilots", "{\"site\":\"unit\",\"nodes\":[]}", &st);
    assert_int_equal(st, 201);
    snprintf(id, GL_ID_LEN, "%s", json_string_value(json_object_get(j, "pilot")));
    assert_true(json_number_value(json_object_get(j, "heartbeat_s")) > 0);
    json_decref(j);
}

static json_t *claim(struct fixture *f, const char *user, const char *pilot, const char *rid,
                     int max, unsigned *st)
{
    char url[64];
    snprintf(url, sizeof(url), "/v1/pilots/%s/claim", pilot);
    return reqj(f, user, url,
                json_pack("{s:s,s:i,s:i,s:i,s:f}", "request_id", rid, "max", max, "cores", 64,
                          "gpus", 0, "wait", 0.0),
                st);
}

/* One result through the pilot's own encoder; returns the ack's status. */
static const char *report(struct fixture *f, const char *pilot, const char *wf, json_int_t task,
                          json_int_t attempt, enum wfmpi_exec_reason reason, unsigned *st)
{
    static char ack[32];
    struct wfmpi_exec_result r = {.reason = reason, .exit_code = reason == WFMPI_EXEC_OK ? 0 : 3};
    r.start_wall = 1;
    r.end_wall = 2;
    char url[64];
    snprintf(url, sizeof(url), "/v1/pilots/%s/results", pilot);
    json_t *one = gl_result_json(wf, (uint32_t)task, (uint32_t)attempt, &r, "unit");
    json_t *j = reqj(f, "alice", url, json_pack("{s:[o]}", "results", one), st);
    json_t *a = json_array_get(json_object_get(j, "acks"), 0);
    snprintf(ack, sizeof(ack), "%s", a ? json_string_value(json_object_get(a, "status")) : "none");
    json_decref(j);
    return ack;
}

static json_int_t count(struct fixture *f, const char *key)
{
    char url[64];
    unsigned st;
    snprintf(url, sizeof(url), "/v1/workflows/%s", f->wf);
    json_t *j = req(f, "alice", "GET", url, NULL, &st);
    assert_int_equal(st, 200);
    json_int_t v = strcmp(key, "retries") == 0
                       ? json_integer_value(json_object_get(j, "retries"))
                       : json_integer_value(json_object_get(json_object_get(j, "counts"), key));
    json_decref(j);
    return v;
}

static json_t *heartbeat(struct fixture *f, const char *user, const char *pilot, unsigned *st)
{
    char url[64];
    snprintf(url, sizeof(url), "/v1/pilots/%s/heartbeat", pilot);
    return req(f, user, "POST", url, "{\"running\":0}", st);
}

/* ------------------------------------------------------------- tests */

static void test_validation(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN], url[96];
    json_decref(req(f, "alice", "POST", "/v1/pilots", "{not json", &st));
    assert_int_equal(st, 400);
    json_decref(req(f, "alice", "POST", "/v1/workflows", "[1,2]", &st));
    assert_int_equal(st, 400);
    json_decref(req(f, "alice", "POST", "/v1/nothing", "{}", &st));
    assert_int_equal(st, 404);
    snprintf(url, sizeof(url), "/v1/workflows/%s", f->wf);
    json_decref(req(f, "bob", "GET", url, NULL, &st)); /* not bob's: as if absent */
    assert_int_equal(st, 404);
    json_decref(req(f, "bob", "DELETE", url, NULL, &st));
    assert_int_equal(st, 404);
    json_decref(req(f, "alice", "PUT", url, NULL, &st));
    assert_int_equal(st, 405);
    /* A workflow that does not plan: 400 with the planner's message, nothing kept. */
    json_t *j = reqj(f, "alice", "/v1/workflows",
                     json_pack("{s:s,s:{s:s}}", "workflow", "bad.yml", "files", "bad.yml",
                               "pegasus: '5.0'\njobs: [oops\n"),
                     &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "bad.yml"));
    json_decref(j);
    json_decref(reqj(f, "alice", "/v1/workflows",
                     json_pack("{s:s,s:{s:s}}", "workflow", "../x.yml", "files", "../x.yml", "x"),
                     &st));
    assert_int_equal(st, 400);
    register_pilot(f, "alice", p);
    snprintf(url, sizeof(url), "/v1/pilots/%s/claim", p);
    json_decref(req(f, "alice", "POST", url, "{\"max\":1}", &st)); /* no request_id */
    assert_int_equal(st, 400);
    json_decref(req(f, "bob", "POST", url, "{\"request_id\":\"x\"}", &st)); /* not bob's */
    assert_int_equal(st, 404);
    json_decref(req(f, "alice", "POST", "/v1/pilots/0123456789abcdef/claim", "{}", &st));
    assert_int_equal(st, 404);
    snprintf(url, sizeof(url), "/v1/pilots/%s/results", p);
    json_decref(req(f, "alice", "POST", url, "{\"results\":7}", &st));
    assert_int_equal(st, 400);
    snprintf(url, sizeof(url), "/v1/pilots/%s/sync", p);
    json_decref(req(f, "alice", "POST", url, "{}", &st));
    assert_int_equal(st, 400);
    snprintf(url, sizeof(url), "/v1/pilots/%s/command", p);
    json_decref(req(f, "alice", "POST", url, "{\"command\":\"explode\"}", &st));
    assert_int_equal(st, 400);
    snprintf(url, sizeof(url), "/v1/pilots/%s/nothing", p);
    json_decref(req(f, "alice", "POST", url, "{}", &st));
    assert_int_equal(st, 404);
    assert_int_equal(count(f, "ready"), 4); /* nothing leaked */
}

static void test_claim_idempotent(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN], q[GL_ID_LEN];
    register_pilot(f, "alice", p);
    json_t *a = claim(f, "alice", p, "r1", 2, &st);
    assert_int_equal(st, 200);
    json_t *tasks = json_object_get(a, "tasks");
    assert_int_equal(json_array_size(tasks), 2);
    json_t *t = json_array_get(tasks, 0);
    assert_string_equal(json_string_value(json_object_get(t, "wf")), f->wf);
    assert_string_equal(json_string_value(json_object_get(t, "exe")), "/bin/true");
    assert_int_equal(json_integer_value(json_object_get(t, "attempt")), 1);
    assert_true(json_is_array(json_object_get(t, "argv")));
    assert_true(json_is_null(json_object_get(t, "stdout")));
    /* The same request id: the same answer, nothing more handed out. */
    json_t *b = claim(f, "alice", p, "r1", 2, &st);
    assert_true(json_equal(a, b));
    assert_int_equal(count(f, "running"), 2);
    json_decref(b);
    json_decref(a);
    /* Another user's pilot never gets alice's tasks. */
    register_pilot(f, "bob", q);
    json_t *c = claim(f, "bob", q, "b1", 8, &st);
    assert_int_equal(json_array_size(json_object_get(c, "tasks")), 0);
    json_decref(c);
    c = claim(f, "alice", p, "r2", 8, &st);
    assert_int_equal(json_array_size(json_object_get(c, "tasks")), 2);
    json_decref(c);
    c = claim(f, "alice", p, "r3", 8, &st);
    assert_int_equal(json_array_size(json_object_get(c, "tasks")), 0);
    json_decref(c);
    assert_int_equal(count(f, "running"), 4);
}

static void test_results_idempotent(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN];
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 2, &st));
    assert_string_equal(report(f, p, f->wf, 0, 1, WFMPI_EXEC_OK, &st), "ok");
    assert_int_equal(st, 200);
    assert_string_equal(report(f, p, f->wf, 0, 1, WFMPI_EXEC_OK, &st), "duplicate");
    assert_int_equal(st, 200);
    /* Not the live attempt: stale, and a batch of only stale results is 409. */
    assert_string_equal(report(f, p, f->wf, 1, 2, WFMPI_EXEC_OK, &st), "stale");
    assert_int_equal(st, 409);
    /* Unknown ids: 400, nothing counted. */
    assert_string_equal(report(f, p, f->wf, 9, 1, WFMPI_EXEC_OK, &st), "none");
    assert_int_equal(st, 400);
    assert_string_equal(report(f, p, "0000000000000000", 1, 1, WFMPI_EXEC_OK, &st), "none");
    assert_int_equal(st, 400);
    /* A failure with a retry left: READY again, attempt 2 next. */
    assert_string_equal(report(f, p, f->wf, 1, 1, WFMPI_EXEC_EXIT, &st), "ok");
    assert_int_equal(count(f, "retries"), 1);
    assert_int_equal(count(f, "done"), 1);
    json_t *c = claim(f, "alice", p, "r2", 8, &st);
    json_t *tasks = json_object_get(c, "tasks");
    assert_int_equal(json_array_size(tasks), 3);
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t) if (json_integer_value(json_object_get(t, "task")) == 1)
        assert_int_equal(json_integer_value(json_object_get(t, "attempt")), 2);
    json_decref(c);
    /* Malformed fields: the whole request is 400, even its good results
     * are not counted (task 2 attempt 1 is live and stays RUNNING). */
    char url[64];
    snprintf(url, sizeof(url), "/v1/pilots/%s/results", p);
    const char *bad[] = {
        "{\"reason\":\"felt like it\"}",
        "{\"task\":\"banana\"}",
        "{\"start\":1e308}",
        "{\"end\":-1}",
        "{\"attempt\":0}",
        "{\"signal\":300}",
        "{\"maxrss_kb\":-5}",
        "{\"detail\":7}",
        "{\"exit_code\":1.5}",
        "{\"task\":4}",
    };
    json_t *good = json_pack("{s:s,s:i,s:i,s:s,s:i,s:f,s:f}", "wf", f->wf, "task", 2, "attempt", 1,
                             "reason", "success", "exit_code", 0, "start", 1.0, "end", 2.0);
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        json_t *one = json_deep_copy(good);
        json_t *patch = json_loads(bad[k], 0, NULL);
        assert_non_null(patch);
        json_object_update(one, patch);
        json_decref(patch);
        json_t *j = reqj(f, "alice", url, json_pack("{s:[O,o]}", "results", good, one), &st);
        assert_int_equal(st, 400);
        assert_null(json_object_get(j, "acks"));
        json_decref(j);
        assert_int_equal(count(f, "running"), 3);
    }
    json_decref(good);
    /* Claim budgets and pilot fields are checked too. */
    json_t *j = req(f, "alice", "POST", "/v1/pilots", "{\"site\":5}", &st);
    assert_int_equal(st, 400);
    json_decref(j);
    snprintf(url, sizeof(url), "/v1/pilots/%s/claim", p);
    const char *claims[] = {
        "{\"request_id\":\"x\",\"cores\":-1}", "{\"request_id\":\"x\",\"gpus\":\"2\"}",
        "{\"request_id\":\"x\",\"wait\":-3}", "{\"request_id\":\"x\",\"max\":-1}"};
    for (size_t k = 0; k < sizeof(claims) / sizeof(claims[0]); k++) {
        j = req(f, "alice", "POST", url, claims[k], &st);
        assert_int_equal(st, 400);
        json_decref(j);
    }
    assert_int_equal(count(f, "running"), 3);
}

static void test_lease_expiry(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char a[GL_ID_LEN], b[GL_ID_LEN];
    register_pilot(f, "alice", a);
    register_pilot(f, "alice", b);
    json_decref(claim(f, "alice", a, "r1", 2, &st));
    /* b keeps talking, a falls silent for longer than the lease: it kills
     * its tasks then, and the service waits the grace on top. */
    struct gl_pilot *pa = NULL;
    for (size_t i = 0; i < f->s->n_pilots; i++)
        if (strcmp(f->s->pilots[i]->id, a) == 0)
            pa = f->s->pilots[i];
    pa->last_seen -= f->o.lease_s + 0.5;
    pthread_mutex_lock(&f->s->lock);
    gl_expire_leases(f->s);
    pthread_mutex_unlock(&f->s->lock);
    assert_int_equal(count(f, "running"), 2); /* within the grace: still a's */
    pa->last_seen -= f->s->o.lease_grace_s;
    pthread_mutex_lock(&f->s->lock);
    gl_expire_leases(f->s);
    pthread_mutex_unlock(&f->s->lock);
    assert_int_equal(count(f, "running"), 0);
    assert_int_equal(count(f, "ready"), 4);
    assert_int_equal(count(f, "retries"), 0); /* lost leases use no retry */
    json_decref(heartbeat(f, "alice", a, &st));
    assert_int_equal(st, 404); /* forgotten: it registers again */
    json_decref(heartbeat(f, "alice", b, &st));
    assert_int_equal(st, 200);
    json_t *c = claim(f, "alice", b, "r1", 8, &st);
    size_t i;
    json_t *t;
    int second = 0;
    json_array_foreach(json_object_get(c, "tasks"), i, t) second +=
        json_integer_value(json_object_get(t, "attempt")) == 2;
    assert_int_equal(second, 2);
    json_decref(c);
    report(f, a, f->wf, 0, 1, WFMPI_EXEC_OK, &st);
    assert_int_equal(st, 404);
}

/* Pilots that die (leases expire) while running the same tasks: after
 * --crash-limit deaths an attempt fails (using the retries as any failure
 * does), so a task that kills its pilot is not handed out for ever. The
 * counts survive a restart of the service. */
static void expire_all(struct fixture *f)
{
    pthread_mutex_lock(&f->s->lock);
    for (size_t i = 0; i < f->s->n_pilots; i++)
        f->s->pilots[i]->last_seen -= f->s->o.lease_s + f->s->o.lease_grace_s + 1;
    gl_expire_leases(f->s);
    pthread_mutex_unlock(&f->s->lock);
}

static void test_crash_limit(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN];
    f->s->o.crash_limit = 2;
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 4, &st));
    expire_all(f); /* first death: back to READY, no retry used */
    assert_int_equal(count(f, "ready"), 4);
    assert_int_equal(count(f, "retries"), 0);
    close_server(f);
    f->o.crash_limit = 2;
    open_server(f); /* the counts are on disk */
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 4, &st));
    expire_all(f); /* second: a failed attempt, its one retry used */
    assert_int_equal(count(f, "ready"), 4);
    assert_int_equal(count(f, "retries"), 4);
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 4, &st));
    expire_all(f); /* third: failed for good */
    assert_int_equal(count(f, "failed"), 4);
    assert_int_equal(count(f, "ready"), 0);
}

static void test_commands(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN], url[96];
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 2, &st));
    json_t *j = req(f, "alice", "GET", "/v1/pilots", NULL, &st);
    assert_int_equal(json_array_size(json_object_get(j, "pilots")), 1);
    json_decref(j);
    j = req(f, "bob", "GET", "/v1/pilots", NULL, &st);
    assert_int_equal(json_array_size(json_object_get(j, "pilots")), 0);
    json_decref(j);
    j = req(f, "ops", "GET", "/v1/pilots", NULL, &st);
    assert_int_equal(json_array_size(json_object_get(j, "pilots")), 1);
    json_decref(j);
    /* Removing the workflow: the pilot is told to cancel what it holds. */
    snprintf(url, sizeof(url), "/v1/workflows/%s", f->wf);
    json_decref(req(f, "alice", "DELETE", url, NULL, &st));
    assert_int_equal(st, 200);
    j = heartbeat(f, "alice", p, &st);
    json_t *cmd = json_object_get(j, "commands");
    assert_int_equal(json_array_size(json_object_get(cmd, "cancel")), 2);
    assert_false(json_is_true(json_object_get(cmd, "drain")));
    json_decref(j);
    assert_string_equal(report(f, p, f->wf, 0, 1, WFMPI_EXEC_INTERRUPTED, &st), "ok");
    assert_string_equal(report(f, p, f->wf, 1, 1, WFMPI_EXEC_INTERRUPTED, &st), "ok");
    j = heartbeat(f, "alice", p, &st);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "commands"), "cancel")), 0);
    json_decref(j);
    /* Drain: bob cannot, alice can; the claim answer carries it, no task. */
    snprintf(url, sizeof(url), "/v1/pilots/%s/command", p);
    json_decref(req(f, "bob", "POST", url, "{\"command\":\"drain\"}", &st));
    assert_int_equal(st, 404);
    json_decref(req(f, "alice", "POST", url, "{\"command\":\"drain\"}", &st));
    assert_int_equal(st, 200);
    j = heartbeat(f, "alice", p, &st);
    assert_true(json_is_true(json_object_get(json_object_get(j, "commands"), "drain")));
    json_decref(j);
    j = claim(f, "alice", p, "r2", 8, &st);
    assert_int_equal(json_array_size(json_object_get(j, "tasks")), 0);
    assert_true(json_is_true(json_object_get(json_object_get(j, "commands"), "drain")));
    json_decref(j);
    /* An admin shuts it down; it deregisters with that reason. */
    json_decref(req(f, "ops", "POST", url, "{\"command\":\"shutdown\"}", &st));
    assert_int_equal(st, 200);
    j = heartbeat(f, "alice", p, &st);
    assert_true(json_is_true(json_object_get(json_object_get(j, "commands"), "shutdown")));
    json_decref(j);
    snprintf(url, sizeof(url), "/v1/pilots/%s/deregister", p);
    json_decref(req(f, "alice", "POST", url, "{\"reason\":\"shutdown\"}", &st));
    assert_int_equal(st, 200);
    json_decref(heartbeat(f, "alice", p, &st));
    assert_int_equal(st, 404);
}

static void test_restart(void **state)
{
    struct fixture *f = *state;
    unsigned st;
    char p[GL_ID_LEN];
    register_pilot(f, "alice", p);
    json_decref(claim(f, "alice", p, "r1", 3, &st));
    assert_string_equal(report(f, p, f->wf, 0, 1, WFMPI_EXEC_OK, &st), "ok");
    close_server(f); /* as a crash would: the journal is all there is */
    open_server(f);
    assert_int_equal(count(f, "running"), 2); /* still leased to p */
    json_t *j = heartbeat(f, "alice", p, &st);
    assert_int_equal(st, 200);
    assert_true(json_is_true(json_object_get(json_object_get(j, "commands"), "sync")));
    json_decref(j);
    assert_string_equal(report(f, p, f->wf, 0, 1, WFMPI_EXEC_OK, &st), "duplicate");
    assert_string_equal(report(f, p, f->wf, 1, 1, WFMPI_EXEC_OK, &st), "ok");
    assert_string_equal(report(f, p, f->wf, 1, 1, WFMPI_EXEC_OK, &st), "duplicate");
    /* It holds task 2 (attempt 1) and one attempt it never had. */
    char url[64];
    snprintf(url, sizeof(url), "/v1/pilots/%s/sync", p);
    j = reqj(f, "alice", url,
             json_pack("{s:[{s:s,s:i,s:i},{s:s,s:i,s:i}]}", "held", "wf", f->wf, "task", 2,
                       "attempt", 1, "wf", f->wf, "task", 3, "attempt", 1),
             &st);
    assert_int_equal(st, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "released")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "cancel")), 1);
    json_decref(j);
    j = heartbeat(f, "alice", p, &st);
    assert_false(json_is_true(json_object_get(json_object_get(j, "commands"), "sync")));
    json_decref(j);
    assert_int_equal(count(f, "done"), 2);
    assert_int_equal(count(f, "running"), 1);
    /* Restart again; this time the pilot says it holds nothing. */
    close_server(f);
    open_server(f);
    j = reqj(f, "alice", url, json_pack("{s:[]}", "held"), &st);
    assert_int_equal(json_integer_value(json_object_get(j, "released")), 1);
    json_decref(j);
    assert_int_equal(count(f, "running"), 0);
    assert_int_equal(count(f, "ready"), 2);
    assert_int_equal(count(f, "retries"), 0);
}

static void test_pilot_json(void **state)
{
    (void)state;
    struct wfmpi_exec_result r = {.reason = WFMPI_EXEC_TIMEOUT,
                                  .exit_code = 0,
                                  .signal = 15,
                                  .start_wall = 10.5,
                                  .end_wall = 12.25,
                                  .maxrss_kb = 1234};
    snprintf(r.detail, sizeof(r.detail), "timed out");
    json_t *j = gl_result_json("abc", 7, 2, &r, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "wf")), "abc");
    assert_int_equal(json_integer_value(json_object_get(j, "task")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "timeout");
    assert_int_equal(json_integer_value(json_object_get(j, "signal")), 15);
    assert_true(json_number_value(json_object_get(j, "end")) == 12.25);
    assert_int_equal(json_integer_value(json_object_get(j, "maxrss_kb")), 1234);
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "timed out");
    json_decref(j);
    j = gl_result_json("abc", 7, 2, &r, "cancelled");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "cancelled");
    json_decref(j);
    /* Backoff: 0.2 s doubling, capped at 30 s, jitter x0.5 .. x1.5. */
    assert_true(gl_backoff_s(0, 0.5, 0) == 0.2);
    assert_true(gl_backoff_s(3, 0.5, 0) == 1.6);
    assert_true(gl_backoff_s(40, 0.5, 0) == 30);
    assert_true(gl_backoff_s(-1, 0.5, 0) == 0.2);
    assert_true(gl_backoff_s(2, 0, 0) == 0.4);
    assert_true(gl_backoff_s(2, 1, 0) < 1.2 && gl_backoff_s(2, 1, 0) > 1.19);
    /* Bounded by the lease: a 10 s lease (2.5 s heartbeat) never waits 30 s. */
    assert_true(gl_backoff_s(40, 0.5, 2.5) == 2.5);
    assert_true(gl_backoff_s(40, 0.999, 2.5) < 3.75);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test(test_pilot_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
