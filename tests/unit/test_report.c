/* The report module over run dirs written through the checkpoint API with
 * known events: status (checkpoint path, live status.json, stale
 * status.json of a killed master), analyze, statistics (text, JSON, CSV) and
 * the HTML report agree with what was recorded; bad run dirs are errors, and
 * so is a table that fails its checksum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hdf5.h>
#include <jansson.h>

#include "../tools/h5_raw.h"
#include "wfmpi/ckpt.h"
#include "wfmpi/exec.h"
#include "wfmpi/report.h"

static char dir[256];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wfmpi-report-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a (x1, 2 cores), b (x2, 1 GPU, 'say hi'), c (x1) child of b. */
static struct wfmpi_plan *make_plan(void)
{
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("rep");
    const char *args[] = {"say", "hi there"};
    struct wfmpi_plan_task_spec s = {.exe = "/bin/true", .cores = 2, .retries = -1};
    s.id = "a";
    s.transformation = "x1";
    wfmpi_plan_builder_add_task(b, &s, NULL);
    s.id = "b";
    s.transformation = "x2";
    s.cores = 1;
    s.gpus = 1;
    s.args = args;
    s.n_args = 2;
    int64_t bb = wfmpi_plan_builder_add_task(b, &s, NULL);
    s.id = "c";
    s.transformation = "x1";
    s.gpus = 0;
    s.n_args = 0;
    int64_t cc = wfmpi_plan_builder_add_task(b, &s, NULL);
    wfmpi_plan_builder_add_edge(b, (uint32_t)bb, (uint32_t)cc, NULL);
    struct wfmpi_plan *p = wfmpi_plan_builder_finish(b, NULL, NULL, NULL);
    assert_non_null(p);
    return p;
}

static void end(struct wfmpi_ckpt *c, uint32_t task, uint32_t attempt, double start, double stop,
                uint8_t reason, enum wfmpi_task_state after, uint64_t gpus, const char *detail)
{
    struct wfmpi_ckpt_event ev = {.task = task,
                                  .attempt = attempt,
                                  .rank = (int32_t)task,
                                  .node = 0,
                                  .gpu_mask = gpus,
                                  .start = start,
                                  .end = stop,
                                  .reason = reason,
                                  .exit_code = reason == WFMPI_EXEC_OK ? 0 : 3,
                                  .maxrss_kb = 2048,
                                  .state_after = (uint8_t)after};
    assert_int_equal(wfmpi_ckpt_task_start(c, task, attempt, (int32_t)task, 0, gpus, start), 0);
    assert_int_equal(wfmpi_ckpt_task_end(c, &ev, detail), 0);
}

/* a done (10 s), b failed twice (5 s, 10 s), c never ran. finished: the
 * run ends (exit 1); otherwise the master is "killed" after the events. */
static void record(bool finished)
{
    struct wfmpi_plan *p = make_plan();
    struct wfmpi_ckpt_recovered rec;
    struct wfmpi_ckpt_options o = {.work_dir = "/work/dir", .cores = 4, .gpus = 2};
    struct wfmpi_error err = {0};
    struct wfmpi_ckpt *c = wfmpi_ckpt_open(dir, p, &o, &rec, &err);
    if (!c)
        fail_msg("open: %s", err.text);
    assert_int_equal(wfmpi_ckpt_run_start(c, 2, 1), 0);
    double t0 = wfmpi_wall() - 20;
    end(c, 0, 1, t0, t0 + 10, WFMPI_EXEC_OK, WFMPI_TASK_DONE, 0, "");
    end(c, 1, 1, t0, t0 + 5, WFMPI_EXEC_EXIT, WFMPI_TASK_READY, 1, "exit code 3");
    end(c, 1, 2, t0 + 6, t0 + 16, WFMPI_EXEC_EXIT, WFMPI_TASK_FAILED, 1, "exit code 3");
    if (finished)
        assert_int_equal(wfmpi_ckpt_run_end(c, 1), 0);
    else
        assert_int_equal(wfmpi_ckpt_commit(c, true), 0);
    wfmpi_ckpt_close(c);
    wfmpi_plan_destroy(p);
    char jobs[300];
    snprintf(jobs, sizeof(jobs), "%s/jobs", dir);
    mkdir(jobs, 0755);
    snprintf(jobs, sizeof(jobs), "%s/jobs/b.2.out", dir);
    FILE *f = fopen(jobs, "w");
    assert_non_null(f);
    for (int i = 1; i <= 30; i++)
        fprintf(f, "line %d\n", i);
    fclose(f);
}

/* Run fn into a memory stream; returns the text (caller frees). */
static char *capture(int (*fn)(FILE *, void *), void *arg, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    *rc = fn(f, arg);
    fclose(f);
    return buf;
}

struct call {
    bool json, long_list;
    uint32_t failed;
    const char *csv;
    double now;
    const char *state;
};

static int do_status(FILE *f, void *a)
{
    struct call *c = a;
    struct wfmpi_report_status_options o = {
        .json = c->json, .long_list = c->long_list, .now = c->now};
    return wfmpi_report_status(dir, &o, f, &c->state, NULL);
}

static int do_analyze(FILE *f, void *a)
{
    struct call *c = a;
    return wfmpi_report_analyze(dir, c->json, 5, f, &c->failed, NULL);
}

static int do_stats(FILE *f, void *a)
{
    struct call *c = a;
    return wfmpi_report_statistics(dir, c->json, c->csv, f, NULL);
}

static int do_html(FILE *f, void *a)
{
    (void)a;
    return wfmpi_report_html(dir, f, NULL);
}

static json_t *json_of(int (*fn)(FILE *, void *), struct call *c)
{
    int rc;
    c->json = true;
    char *text = capture(fn, c, &rc);
    assert_int_equal(rc, 0);
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad JSON (%s): %s", je.text, text);
    free(text);
    return j;
}

static long long geti(json_t *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = j;
    for (char *k = strtok(buf, "."); k; k = strtok(NULL, "."))
        v = json_object_get(v, k);
    if (!json_is_number(v))
        fail_msg("%s is not a number", path);
    return json_is_integer(v) ? json_integer_value(v) : (long long)json_real_value(v);
}

static double getf(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(b ? json_object_get(j, a) : j, b ? b : a);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_status_from_checkpoint(void **state)
{
    (void)state;
    record(true);
    struct call c = {.long_list = true};
    json_t *j = json_of(do_status, &c);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "state.h5");
    assert_int_equal(geti(j, "counts.done"), 1);
    assert_int_equal(geti(j, "counts.failed"), 1);
    assert_int_equal(geti(j, "counts.unready"), 1);
    assert_int_equal(geti(j, "total"), 3);
    assert_int_equal(json_array_size(json_object_get(j, "failed_tasks")), 1);
    json_t *f = json_array_get(json_object_get(j, "failed_tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "id")), "b");
    assert_string_equal(json_string_value(json_object_get(f, "reason")), "exit code 3");
    json_decref(j);
    int rc;
    c.json = false;
    char *text = capture(do_status, &c, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "UNREADY"));
    assert_non_null(strstr(text, "failed    rep"));
    assert_non_null(strstr(text, "exit code 3"));
    free(text);
}

static void write_status_json(const char *state, long pid, double updated, unsigned done)
{
    char path[300], host[256] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(path, sizeof(path), "%s/status.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"format\":1,\"workflow\":\"rep\",\"state\":\"%s\",\"pid\":%ld,\"host\":\"%s\","
            "\"started\":%.3f,\"updated\":%.3f,\"elapsed\":10,\"total\":3,\"counts\":{"
            "\"unready\":0,\"ready\":1,\"running\":1,\"done\":%u,\"failed\":0,\"blocked\":0},"
            "\"percent_done\":33.3,\"ranks\":2,\"nodes\":1,\"running_tasks\":[{\"id\":\"b\","
            "\"attempt\":1,\"rank\":1,\"node\":0,\"gpus\":2,\"start\":%.3f}]}\n",
            state, pid, host, updated - 10, updated, done, updated - 4);
    fclose(f);
}

static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

static void test_status_live_and_killed(void **state)
{
    (void)state;
    record(false); /* the master "dies" after its events */
    double now = wfmpi_wall();
    write_status_json("running", (long)getpid(), now - 1, 1);
    struct call c = {.long_list = true, .now = now};
    json_t *j = json_of(do_status, &c);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "status.json");
    assert_true(json_is_true(json_object_get(j, "live")));
    assert_int_equal(geti(j, "counts.running"), 1);
    assert_int_equal(geti(j, "counts.ready"), 1);
    /* ETA from this run's rate: 1 done in 11 s, 2 left. */
    assert_true(json_is_number(json_object_get(j, "eta")));
    json_t *r = json_array_get(json_object_get(j, "running_tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(r, "gpus")), "1");
    assert_true(getf(r, "runtime", NULL) > 4.9 && getf(r, "runtime", NULL) < 5.1);
    json_decref(j);
    /* The same file with a dead pid: killed, so the checkpoint answers. */
    write_status_json("running", dead_pid(), now - 60, 1);
    j = json_of(do_status, &c);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "stopped");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "state.h5");
    assert_int_equal(geti(j, "counts.running"), 0);
    json_decref(j);
    assert_string_equal(c.state, "stopped");
    /* Statistics count b's attempts; the run ended when its last event did. */
    c.csv = NULL;
    j = json_of(do_stats, &c);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "runs"), 0), "ended")),
        "killed");
    json_decref(j);
}

static void test_analyze(void **state)
{
    (void)state;
    record(true);
    struct call c = {0};
    json_t *j = json_of(do_analyze, &c);
    assert_int_equal(c.failed, 1);
    assert_int_equal(geti(j, "summary.total"), 3);
    assert_int_equal(geti(j, "summary.succeeded"), 1);
    assert_int_equal(geti(j, "summary.failed"), 1);
    assert_int_equal(geti(j, "summary.unsubmitted"), 1);
    json_t *f = json_array_get(json_object_get(j, "failed_tasks"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "id")), "b");
    assert_string_equal(json_string_value(json_object_get(f, "transformation")), "x2");
    assert_string_equal(json_string_value(json_object_get(f, "command")),
                        "/bin/true say 'hi there'");
    assert_string_equal(json_string_value(json_object_get(f, "work_dir")), "/work/dir");
    json_t *att = json_object_get(f, "attempt_details");
    assert_int_equal(json_array_size(att), 2);
    assert_int_equal(geti(json_array_get(att, 0), "attempt"), 1);
    assert_int_equal(geti(json_array_get(att, 1), "exit_code"), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(att, 1), "gpus")), "0");
    json_t *tail = json_object_get(f, "stdout_tail");
    assert_int_equal(json_array_size(tail), 5);
    assert_string_equal(json_string_value(json_array_get(tail, 0)), "line 26");
    assert_string_equal(json_string_value(json_array_get(tail, 4)), "line 30");
    /* No stderr file: the default log is made on the first byte, so the
     * task wrote nothing there. */
    assert_int_equal(json_array_size(json_object_get(f, "stderr_tail")), 0);
    json_decref(j);
    int rc;
    c.json = false;
    char *text = capture(do_analyze, &c, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(text, "# tasks failed     :       1"));
    assert_non_null(strstr(text, "--- stderr: nothing written"));
    assert_non_null(strstr(text, "| line 30"));
    free(text);
}

static void test_statistics(void **state)
{
    (void)state;
    record(true);
    char csv[300];
    snprintf(csv, sizeof(csv), "%s/csv", dir);
    struct call c = {.csv = csv};
    json_t *j = json_of(do_stats, &c);
    assert_int_equal(geti(j, "tasks.succeeded"), 1);
    assert_int_equal(geti(j, "tasks.failed"), 1);
    assert_int_equal(geti(j, "tasks.incomplete"), 1);
    assert_int_equal(geti(j, "tasks.attempts"), 3);
    assert_int_equal(geti(j, "tasks.retries"), 1);
    assert_true(getf(j, "cumulative_task_wall_time", NULL) > 24.99 &&
                getf(j, "cumulative_task_wall_time", NULL) < 25.01);
    assert_true(getf(j, "badput", NULL) > 14.99 && getf(j, "badput", NULL) < 15.01);
    /* a: 10 s x 2 cores; b: 15 s x 1 core, 15 s x 1 GPU. */
    assert_true(getf(j, "utilisation", "busy_core_s") > 34.99 &&
                getf(j, "utilisation", "busy_core_s") < 35.01);
    assert_true(getf(j, "utilisation", "busy_gpu_s") > 14.99 &&
                getf(j, "utilisation", "busy_gpu_s") < 15.01);
    json_t *run = json_array_get(json_object_get(j, "runs"), 0);
    assert_int_equal(geti(run, "cores"), 4);
    assert_int_equal(geti(run, "gpus"), 2);
    assert_int_equal(geti(run, "exit_code"), 1);
    json_t *xf = json_object_get(j, "transformations");
    assert_int_equal(json_array_size(xf), 2);
    json_t *x2 = json_array_get(xf, 1);
    assert_string_equal(json_string_value(json_object_get(x2, "transformation")), "x2");
    assert_int_equal(geti(x2, "attempts"), 2);
    assert_true(getf(x2, "mean_s", NULL) > 7.49 && getf(x2, "mean_s", NULL) < 7.51);
    assert_true(getf(x2, "min_s", NULL) > 4.99 && getf(x2, "max_s", NULL) < 10.01);
    assert_int_equal(geti(json_array_get(xf, 0), "count"), 2);
    json_decref(j);
    char path[400], line[256];
    snprintf(path, sizeof(path), "%s/transformations.csv", csv);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    assert_non_null(fgets(line, sizeof(line), f));
    assert_non_null(strstr(line, "\"x1\",2,1,0,1,10.000"));
    fclose(f);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_html(void **state)
{
    (void)state;
    record(true);
    int rc;
    char *html = capture(do_html, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(count(html, "<rect class=\"bar"), 3); /* one bar per attempt */
    assert_int_equal(count(html, "<rect class=\"bar fail\""), 2);
    assert_non_null(strstr(html, "data-mode=\"bars\""));
    assert_non_null(strstr(html, "<b id=\"c-failed\">1</b>"));
    /* Self-contained: no script, no fetched resource. */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    free(html);
}

static void expect_error(int code)
{
    struct wfmpi_error err = {0};
    struct wfmpi_report_status_options o = {0};
    FILE *null = fopen("/dev/null", "w");
    uint32_t n;
    assert_int_equal(wfmpi_report_status(dir, &o, null, NULL, &err), code);
    assert_true(err.text[0]);
    assert_int_equal(wfmpi_report_analyze(dir, false, 0, null, &n, &err), code);
    assert_int_equal(wfmpi_report_statistics(dir, false, NULL, null, &err), code);
    assert_int_equal(wfmpi_report_html(dir, null, &err), code);
    fclose(null);
}

static void test_bad_run_dirs(void **state)
{
    (void)state;
    expect_error(WFMPI_E_INPUT); /* empty */
    record(true);
    write_status_json("finished", 1, wfmpi_wall(), 3);
    char path[300];
    snprintf(path, sizeof(path), "%s/state.h5", dir);
    /* A newer format version. */
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int v = WFMPI_CKPT_FORMAT_VERSION + 1;
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
    expect_error(WFMPI_E_VERSION);
    /* Damaged: cut in half. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size / 2), 0);
    expect_error(WFMPI_E_CORRUPT);
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    struct wfmpi_error err = {0};
    struct wfmpi_report_status_options o = {0};
    assert_int_equal(wfmpi_report_status(missing, &o, stdout, NULL, &err), WFMPI_E_INPUT);
}

/* Flip a bit of table `name` of run-dir file `file` ("plan-": the plan
 * file); flipped again, it is whole again. */
static void flip_table(const char *file, const char *name)
{
    char path[600] = "";
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, file, strlen(file)) == 0 && !strstr(e->d_name, ".tmp"))
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    long offset = 0;
    size_t size = 0;
    assert_int_equal(h5_raw_extent(path, name, &offset, &size), 0);
    assert_int_equal(h5_raw_flip(path, offset + (long)size / 2, 4), 0);
}

/* Each command refuses (status here reads state.h5: no status.json). */
static void expect_refused(bool all, const char *needle)
{
    struct wfmpi_error err = {0};
    struct wfmpi_report_status_options o = {0};
    FILE *null = fopen("/dev/null", "w");
    uint32_t n;
    assert_int_equal(wfmpi_report_analyze(dir, false, 0, null, &n, &err), WFMPI_E_CORRUPT);
    if (!strstr(err.text, needle))
        fail_msg("analyze: '%s' not in '%s'", needle, err.text);
    if (all) {
        assert_int_equal(wfmpi_report_status(dir, &o, null, NULL, &err), WFMPI_E_CORRUPT);
        assert_non_null(strstr(err.text, needle));
        assert_int_equal(wfmpi_report_statistics(dir, false, NULL, null, &err), WFMPI_E_CORRUPT);
        assert_non_null(strstr(err.text, needle));
        assert_int_equal(wfmpi_report_html(dir, null, &err), WFMPI_E_CORRUPT);
        assert_non_null(strstr(err.text, needle));
    }
    fclose(null);
}

static void test_damaged_tables(void **state)
{
    (void)state;
    record(true);
    flip_table("state.h5", "tasks");
    expect_refused(true, "state.h5: table 'tasks' fails its checksum: the snapshot is damaged");
    flip_table("state.h5", "tasks");
    flip_table("state.h5", "events");
    expect_refused(true, "state.h5: table 'events' fails its checksum");
    flip_table("state.h5", "events");
    flip_table("plan-", "task_ids");
    expect_refused(true, "table 'task_ids' fails its checksum");
    flip_table("plan-", "task_ids");
    /* analyze alone reads the failed task's command. */
    flip_table("plan-", "task_cmd");
    expect_refused(false, "table 'task_cmd' fails its checksum");
    flip_table("plan-", "task_cmd");
    struct wfmpi_error err = {0};
    struct wfmpi_report_status_options o = {0};
    FILE *null = fopen("/dev/null", "w");
    uint32_t n;
    assert_int_equal(wfmpi_report_analyze(dir, false, 0, null, &n, &err), 0);
    assert_int_equal(wfmpi_report_status(dir, &o, null, NULL, &err), 0);
    fclose(null);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_from_checkpoint, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_status_live_and_killed, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_analyze, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_statistics, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_html, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_bad_run_dirs, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_damaged_tables, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
