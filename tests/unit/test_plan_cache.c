/* Unit tests for the plan cache (src/plan/cache.c): a plan saved and loaded
 * is the same plan, array for array and string for string; a truncated file
 * or any single flipped byte is refused with an error; a different key
 * (option, workflow path, a source file touched or appearing) is refused as
 * stale; and a plan from the YAML planner (catalogs, sub-workflow) lists
 * every file it read and round-trips too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../src/plan/plan_int.h" /* plan_builder_add_sources, the string table */
#include "wfmpi/plan.h"

static char dir[256], wf_path[300], cache_path[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wfmpi-test-plancache-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(wf_path, sizeof(wf_path), "%s/wf.yml", dir);
    snprintf(cache_path, sizeof(cache_path), "%s/plan.cache", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ------------------------------------------------------------ a builder plan */

static const char *const wf_text = "pegasus: '5.0'\nname: built in code\n";

static void add(struct wfmpi_plan_builder *b, const struct wfmpi_plan_task_spec *s)
{
    struct wfmpi_error err = {0};
    if (wfmpi_plan_builder_add_task(b, s, &err) < 0)
        fail_msg("add %s: %s", s->id, err.text);
}

/* A task with every field set, and its input/output files. */
static void add_full_task(struct wfmpi_plan_builder *b)
{
    const char *args[] = {"--in", "f.in", "", "ünïcode arg"}, *env[] = {"K=V", "EMPTY="};
    struct wfmpi_plan_file files[] = {
        {.lfn = wfmpi_plan_builder_intern(b, "f.in"),
         .link = 1,
         .flags = 3,
         .pfn = wfmpi_plan_builder_intern(b, "https://example.org/f.in"),
         .sha256 = wfmpi_plan_builder_intern(b, "ab12")},
        {.lfn = wfmpi_plan_builder_intern(b, "f.out"), .link = 2, .flags = 1}};
    struct wfmpi_plan_task_spec s = {.id = "full",
                                     .transformation = "ns::tool:1.0",
                                     .exe = "/bin/echo",
                                     .args = args,
                                     .n_args = 4,
                                     .env = env,
                                     .n_env = 2,
                                     .stdin_path = "in.txt",
                                     .stdout_path = "out",
                                     .stderr_path = "err",
                                     .files = files,
                                     .n_files = 2,
                                     .cores = 4,
                                     .gpus = 2,
                                     .memory_mb = 123456,
                                     .runtime_s = 12.5,
                                     .maxwalltime_s = 600,
                                     .checkpoint_time_s = 60,
                                     .retries = 3,
                                     .priority = -7,
                                     .category = "heavy",
                                     .successmsg = "OK",
                                     .failuremsg = "BAD",
                                     .container = "img",
                                     .site = "local",
                                     .kind = WFMPI_PLAN_COMPUTE,
                                     .pos_file = "wf.yml",
                                     .pos_line = 3,
                                     .pos_col = 5};
    add(b, &s);
}

/* full, a stage-in, and a diamond after them; two categories. */
static struct wfmpi_plan *builder_plan(void)
{
    put("wf.yml", wf_text);
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("built in code");
    assert_non_null(b);
    add_full_task(b);
    struct wfmpi_plan_task_spec s = {.id = "stage_in_full", .exe = "/bin/wfmpi", .kind = 1};
    add(b, &s);
    const char *ids[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        struct wfmpi_plan_task_spec t = {.id = ids[i], .exe = "/bin/true", .runtime_s = i + 1.0};
        add(b, &t);
    }
    const uint32_t edges[][2] = {{1, 0}, {0, 2}, {2, 3}, {2, 4}, {3, 5}, {4, 5}, {2, 3}};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
        assert_int_equal(wfmpi_plan_builder_add_edge(b, edges[i][0], edges[i][1], NULL), 0);
    assert_int_equal(wfmpi_plan_builder_add_category(b, "heavy", 2), 0);
    assert_int_equal(wfmpi_plan_builder_add_category(b, "light", 100), 0);
    /* The cache needs the workflow file the plan came from, as the YAML
     * planner records it. */
    struct stat st;
    assert_int_equal(stat(wf_path, &st), 0);
    struct wfmpi_wf_source src = {.path = wfmpi_plan_builder_intern(b, wf_path),
                                  .present = 1,
                                  .dev = st.st_dev,
                                  .ino = st.st_ino,
                                  .size = (uint64_t)st.st_size,
                                  .mtime_ns =
                                      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
    assert_int_equal(wfmpi_plan_builder_set_source(b, wf_path, NULL, 0), 0);
    assert_int_equal(plan_builder_add_sources(b, &src, 1), 0);
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = wfmpi_plan_builder_finish(b, NULL, NULL, &err);
    if (!p)
        fail_msg("finish: %s", err.text);
    return p;
}

#define SAME_ARRAY(a, b, field, n)                                                                 \
    do {                                                                                           \
        assert_int_equal((a)->n, (b)->n);                                                          \
        if ((a)->n)                                                                                \
            assert_memory_equal((a)->field, (b)->field, (a)->n * sizeof(*(a)->field));             \
    } while (0)

/* Every array, string, statistic and the hash. */
static void assert_same_plan(const struct wfmpi_plan *p, const struct wfmpi_plan *q)
{
    const struct wfmpi_plan_view *a = wfmpi_plan_view(p), *b = wfmpi_plan_view(q);
    SAME_ARRAY(a, b, tasks, n_tasks);
    SAME_ARRAY(a, b, strs, n_strs);
    SAME_ARRAY(a, b, files, n_files);
    SAME_ARRAY(a, b, edges_in, n_edges);
    SAME_ARRAY(a, b, edges_out, n_edges);
    SAME_ARRAY(a, b, categories, n_categories);
    assert_int_equal(a->name, b->name);
    assert_int_equal(a->path, b->path);
    uint32_t n = wfmpi_strtab_count(p->strtab);
    assert_int_equal(wfmpi_strtab_count(q->strtab), n);
    for (uint32_t id = 0; id <= n + 1; id++)
        assert_string_equal(wfmpi_plan_str(p, id), wfmpi_plan_str(q, id));
    uint32_t ncp, ncq;
    const uint32_t *cp = wfmpi_plan_critical_path(p, &ncp), *cq = wfmpi_plan_critical_path(q, &ncq);
    assert_int_equal(ncp, ncq);
    assert_memory_equal(cp, cq, ncp * sizeof(*cp));
    struct wfmpi_plan_stats sp, sq;
    wfmpi_plan_stats(p, &sp);
    wfmpi_plan_stats(q, &sq);
    assert_memory_equal(&sp, &sq, sizeof(sp));
    char hp[WFMPI_SHA256_HEX_LEN], hq[WFMPI_SHA256_HEX_LEN];
    wfmpi_plan_hash(p, hp);
    wfmpi_plan_hash(q, hq);
    assert_string_equal(hp, hq);
    uint32_t np, nq;
    const struct wfmpi_plan_source *s = wfmpi_plan_sources(p, &np), *t = wfmpi_plan_sources(q, &nq);
    assert_int_equal(np, nq);
    assert_memory_equal(s, t, np * sizeof(*s));
}

static struct wfmpi_plan *load(const struct wfmpi_plan_options *opt, struct wfmpi_error *err)
{
    return wfmpi_plan_cache_load(cache_path, wf_path, opt, err);
}

static void save(const struct wfmpi_plan *p, const char *workflow,
                 const struct wfmpi_plan_options *opt)
{
    struct wfmpi_error err = {0};
    if (wfmpi_plan_cache_save(p, cache_path, workflow, opt, &err) < 0)
        fail_msg("save: %s", err.text);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct wfmpi_plan *p = builder_plan();
    struct wfmpi_plan_options opt = {.site = "local", .work_dir = "/w", .cleanup = 1};
    save(p, wf_path, &opt);
    struct wfmpi_error err = {0};
    struct wfmpi_plan *q = load(&opt, &err);
    if (!q)
        fail_msg("load: %s", err.text);
    assert_same_plan(p, q);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(q);
    assert_int_equal(v->n_tasks, 6);
    assert_string_equal(wfmpi_plan_str(q, v->tasks[0].id), "full");
    assert_string_equal(wfmpi_plan_str(q, v->strs[v->tasks[0].argv.first + 4]), "ünïcode arg");
    assert_string_equal(wfmpi_plan_str(q, v->name), "built in code");
    char where[64];
    assert_string_equal(wfmpi_plan_task_where(q, 0, where, sizeof(where)), "wf.yml:3:5");
    assert_string_equal(wfmpi_plan_task_where(q, 1, where, sizeof(where)), "");
    /* The text comes from the workflow file, as for a plan from the YAML. */
    size_t len;
    assert_string_equal(wfmpi_plan_text(q, &len), wf_text);
    assert_int_equal(len, strlen(wf_text));
    /* A loaded plan saves to the same file. */
    wfmpi_plan_destroy(p);
    char *first = NULL, *again = NULL;
    size_t n1, n2;
    assert_int_equal(wfmpi_read_file(cache_path, (size_t)1 << 30, &first, &n1), 0);
    save(q, wf_path, &opt);
    assert_int_equal(wfmpi_read_file(cache_path, (size_t)1 << 30, &again, &n2), 0);
    assert_int_equal(n1, n2);
    assert_memory_equal(first, again, n1);
    free(first);
    free(again);
    wfmpi_plan_destroy(q);
}

static void test_missing_and_unsaveable(void **state)
{
    (void)state;
    unlink(cache_path);
    struct wfmpi_error err = {0};
    assert_null(load(NULL, &err));
    assert_int_equal(err.code, -ENOENT);
    /* A plan made in code with no file behind it cannot be keyed. */
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("x");
    struct wfmpi_plan_task_spec s = {.id = "a", .exe = "/bin/true"};
    add(b, &s);
    struct wfmpi_plan *p = wfmpi_plan_builder_finish(b, NULL, NULL, NULL);
    assert_non_null(p);
    assert_int_equal(wfmpi_plan_cache_save(p, cache_path, wf_path, NULL, &err), WFMPI_E_INPUT);
    assert_int_equal(access(cache_path, F_OK), -1);
    wfmpi_plan_destroy(p);
}

/* ------------------------------------------------------------ damage */

static unsigned char *saved_bytes(size_t *len)
{
    struct wfmpi_plan *p = builder_plan();
    save(p, wf_path, NULL);
    wfmpi_plan_destroy(p);
    char *data = NULL;
    assert_int_equal(wfmpi_read_file(cache_path, (size_t)1 << 30, &data, len), 0);
    return (unsigned char *)data;
}

static void write_bytes(const unsigned char *data, size_t len)
{
    FILE *f = fopen(cache_path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Refused with one of the codes of a bad file, never loaded, never a crash. */
static void assert_refused(const char *what, size_t at)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = load(NULL, &err);
    if (p)
        fail_msg("%s at byte %zu: loaded", what, at);
    if (err.code != WFMPI_E_CORRUPT && err.code != WFMPI_E_VERSION)
        fail_msg("%s at byte %zu: %s (%d)", what, at, err.text, err.code);
    assert_non_null(strstr(err.text, cache_path));
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = saved_bytes(&len);
    size_t cuts[] = {0, 1, 7, 100, len / 3, len / 2, len - 100, len - 1};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        write_bytes(data, cuts[i]);
        assert_refused("truncated", cuts[i]);
    }
    /* Too long is as wrong as too short. */
    unsigned char *more = calloc(len + 1, 1);
    memcpy(more, data, len);
    write_bytes(more, len + 1);
    assert_refused("extended", len);
    free(more);
    write_bytes(data, len);
    struct wfmpi_plan *p = load(NULL, NULL);
    assert_non_null(p);
    wfmpi_plan_destroy(p);
    free(data);
}

static void test_every_flipped_byte(void **state)
{
    (void)state;
    size_t len;
    unsigned char *data = saved_bytes(&len);
    for (size_t i = 0; i < len; i++) {
        data[i] ^= 0x20;
        write_bytes(data, len);
        assert_refused("flipped byte", i);
        data[i] ^= 0x20;
    }
    write_bytes(data, len);
    struct wfmpi_plan *p = load(NULL, NULL);
    assert_non_null(p);
    wfmpi_plan_destroy(p);
    free(data);
}

/* ------------------------------------------------------------ key */

static void assert_stale(const struct wfmpi_plan_options *opt, const char *workflow,
                         const char *says)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = wfmpi_plan_cache_load(cache_path, workflow, opt, &err);
    if (p)
        fail_msg("loaded, but %s", says);
    assert_int_equal(err.code, WFMPI_E_STALE);
    if (!strstr(err.text, says))
        fail_msg("'%s' does not say '%s'", err.text, says);
}

static void test_other_key(void **state)
{
    (void)state;
    struct wfmpi_plan *p = builder_plan();
    struct wfmpi_plan_options opt = {.tc_file = "tc.yml", .no_symlink = 1};
    save(p, wf_path, &opt);
    struct wfmpi_plan_options o = opt;
    o.site = "elsewhere";
    assert_stale(&o, wf_path, "--site differs");
    o = opt;
    o.tc_file = NULL;
    assert_stale(&o, wf_path, "--tc differs");
    o = opt;
    o.no_symlink = 0;
    assert_stale(&o, wf_path, "--no-symlink differs");
    o = opt;
    o.container_runtime = "apptainer";
    assert_stale(&o, wf_path, "--container-runtime differs");
    o = opt;
    o.strict = 1;
    assert_stale(&o, wf_path, "--strict differs");
    assert_stale(&opt, "wf.yml", "the workflow path differs");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_stale(&opt, wf_path, "the current directory differs");
    assert_int_equal(chdir(cwd), 0);
    struct wfmpi_plan *q = wfmpi_plan_cache_load(cache_path, wf_path, &opt, NULL);
    assert_non_null(q);
    wfmpi_plan_destroy(q);
    /* The workflow file touched (same text, new mtime), then edited. */
    struct timespec ts[2] = {{0, UTIME_NOW}, {1, 0}};
    assert_int_equal(utimensat(AT_FDCWD, wf_path, ts, 0), 0);
    assert_stale(&opt, wf_path, "wf.yml changed");
    wfmpi_plan_destroy(p);
}

/* ------------------------------------------------------------ YAML planner */

#define HDR "pegasus: '5.0'\nname: outer\n"

static void test_yaml_plan(void **state)
{
    (void)state;
    put("inner.yml", "pegasus: '5.0'\nname: inner\n"
                     "jobs:\n- {type: job, name: sh, id: x, arguments: [a, 'b c']}\n"
                     "- {type: job, name: sh, id: y, arguments: []}\n"
                     "jobDependencies:\n- {id: x, children: [y]}\n");
    put("transformations.yml",
        "pegasus: '5.0'\ntransformations:\n"
        "  - name: sh\n    profiles: {env: {E: '1'}, dagman: {category: c}}\n"
        "    sites: [{name: local, pfn: /bin/sh}]\n");
    put("wf.yml", HDR "profiles: {dagman: {c.maxjobs: '2'}}\n"
                      "jobs:\n- {type: job, name: sh, id: pre, arguments: [-c, 'true']}\n"
                      "- {type: pegasusWorkflow, file: inner.yml, id: sub, arguments: []}\n"
                      "jobDependencies:\n- {id: pre, children: [sub]}\n");
    struct wfmpi_plan_options opt = {.work_dir = dir};
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = wfmpi_plan_create(wf_path, &opt, &err);
    if (!p)
        fail_msg("plan: %s", err.text);
    /* Every file planning read or looked for, the workflow first. */
    uint32_t n;
    const struct wfmpi_plan_source *s = wfmpi_plan_sources(p, &n);
    assert_int_equal(n, 5); /* wf, rc (absent), tc, sc (absent), inner; inner's are the same */
    assert_string_equal(wfmpi_plan_str(p, s[0].path), wf_path);
    char inner[600];
    snprintf(inner, sizeof(inner), "%s/inner.yml", dir);
    assert_string_equal(wfmpi_plan_str(p, s[4].path), inner);
    assert_int_equal(s[1].present, 0);
    assert_int_equal(s[2].present, 1);
    save(p, wf_path, &opt);
    struct wfmpi_plan *q = load(&opt, &err);
    if (!q)
        fail_msg("load: %s", err.text);
    assert_same_plan(p, q);
    /* Each task keeps where its job is written, a sub-workflow's in its
     * own file, through the cache too. */
    char where[700], want[700];
    const struct wfmpi_plan_view *v = wfmpi_plan_view(q);
    int seen = 0;
    for (uint32_t i = 0; i < v->n_tasks; i++) {
        const char *id = wfmpi_plan_str(q, v->tasks[i].id);
        if (strcmp(id, "pre") == 0)
            snprintf(want, sizeof(want), "%s:5:3", wf_path);
        else if (strcmp(id, "sub/y") == 0)
            snprintf(want, sizeof(want), "%s:5:3", inner);
        else
            continue;
        assert_string_equal(wfmpi_plan_task_where(q, i, where, sizeof(where)), want);
        seen++;
    }
    assert_int_equal(seen, 2);
    wfmpi_plan_destroy(q);
    /* A sub-workflow or a catalog edited, a default catalog appearing. */
    put("inner.yml", "pegasus: '5.0'\nname: inner\njobs:\n- {type: job, name: sh, id: x}\n");
    assert_stale(&opt, wf_path, "inner.yml changed");
    save(p, wf_path, &opt);
    put("replicas.yml", "pegasus: '5.0'\nreplicas: []\n");
    assert_stale(&opt, wf_path, "replicas.yml appeared");
    char rc_path[600];
    snprintf(rc_path, sizeof(rc_path), "%s/replicas.yml", dir);
    unlink(rc_path);
    unlink(inner);
    save(p, wf_path, &opt); /* the cache records what p read, unchanged */
    assert_stale(&opt, wf_path, "inner.yml changed");
    wfmpi_plan_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_missing_and_unsaveable),
        cmocka_unit_test(test_truncated),  cmocka_unit_test(test_every_flipped_byte),
        cmocka_unit_test(test_other_key),  cmocka_unit_test(test_yaml_plan),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
