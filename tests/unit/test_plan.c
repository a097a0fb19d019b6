/* Unit tests for plan: the builder (edges, CSR, cycles, levels, critical
 * path, stats, hash) and the YAML planner on small workflows written to
 * temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfmpi/plan.h"

#include "../../src/plan/plan_int.h" /* plan_parse_number */

/* ------------------------------------------------------------ builder */

static int64_t add(struct wfmpi_plan_builder *b, const char *id, double runtime)
{
    struct wfmpi_plan_task_spec s = {.id = id, .exe = "/bin/true", .runtime_s = runtime};
    struct wfmpi_error err = {0};
    int64_t i = wfmpi_plan_builder_add_task(b, &s, &err);
    assert_true(i >= 0);
    return i;
}

static void edge(struct wfmpi_plan_builder *b, int64_t p, int64_t c)
{
    assert_int_equal(wfmpi_plan_builder_add_edge(b, (uint32_t)p, (uint32_t)c, NULL), 0);
}

static struct wfmpi_plan *finish(struct wfmpi_plan_builder *b)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = wfmpi_plan_builder_finish(b, NULL, NULL, &err);
    if (!p)
        fail_msg("finish: %s", err.text);
    return p;
}

/* a -> b, a -> c, b -> d, c -> d */
static struct wfmpi_plan *diamond(double rb, double rc)
{
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("diamond");
    assert_non_null(b);
    int64_t a = add(b, "a", 0), x = add(b, "b", rb), y = add(b, "c", rc), d = add(b, "d", 0);
    edge(b, a, x);
    edge(b, a, y);
    edge(b, x, d);
    edge(b, y, d);
    return finish(b);
}

static void test_builder_diamond(void **state)
{
    (void)state;
    struct wfmpi_plan *p = diamond(0, 0);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    assert_int_equal(v->n_tasks, 4);
    assert_int_equal(v->n_edges, 4);
    assert_string_equal(wfmpi_plan_str(p, v->name), "diamond");
    const struct wfmpi_plan_task *d = &v->tasks[3];
    assert_int_equal(d->parents.count, 2);
    assert_int_equal(v->edges_in[d->parents.first], 1);
    assert_int_equal(v->edges_in[d->parents.first + 1], 2);
    assert_int_equal(v->tasks[0].children.count, 2);
    assert_int_equal(v->edges_out[v->tasks[0].children.first], 1);
    /* argv[0] is the exe; cores default to 1. */
    assert_int_equal(v->tasks[0].argv.count, 1);
    assert_string_equal(wfmpi_plan_str(p, v->strs[v->tasks[0].argv.first]), "/bin/true");
    assert_int_equal(v->tasks[0].cores, 1);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.tasks, 4);
    assert_int_equal(s.edges, 4);
    assert_int_equal(s.roots, 1);
    assert_int_equal(s.leaves, 1);
    assert_int_equal(s.depth, 3);
    assert_int_equal(s.widest, 2);
    assert_int_equal(s.cp_tasks, 3);
    assert_int_equal(s.no_estimate, 4);
    assert_true(s.cp_seconds == 3.0); /* unknown runtimes count 1 s each */
    assert_int_equal(s.total_cores, 4);
    wfmpi_plan_destroy(p);
}

static void test_builder_duplicate_edges_and_ids(void **state)
{
    (void)state;
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("dup");
    int64_t a = add(b, "a", 0), c = add(b, "c", 0);
    for (int i = 0; i < 5; i++)
        edge(b, a, c);
    struct wfmpi_plan_task_spec s = {.id = "a", .exe = "/bin/true"};
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_plan_builder_add_task(b, &s, &err), WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "duplicate task id 'a'"));
    struct wfmpi_plan *p = finish(b);
    struct wfmpi_plan_stats st;
    wfmpi_plan_stats(p, &st);
    assert_int_equal(st.tasks, 2);
    assert_int_equal(st.edges, 1);
    assert_int_equal(wfmpi_plan_view(p)->tasks[1].parents.count, 1);
    wfmpi_plan_destroy(p);
}

static void test_builder_self_edge(void **state)
{
    (void)state;
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("self");
    int64_t a = add(b, "a", 0);
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_plan_builder_add_edge(b, (uint32_t)a, (uint32_t)a, &err), WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "'a' depends on itself"));
    assert_int_equal(wfmpi_plan_builder_add_edge(b, 0, 7, &err), WFMPI_E_INPUT);
    wfmpi_plan_builder_destroy(b);
}

static void test_builder_cycle(void **state)
{
    (void)state;
    /* r -> x -> y -> z -> x, plus a tail z -> w: the reported cycle is x,y,z
     * in parent-to-child order, starting anywhere on it. */
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("cyc");
    int64_t r = add(b, "r", 0), x = add(b, "x", 0), y = add(b, "y", 0), z = add(b, "z", 0),
            w = add(b, "w", 0);
    edge(b, r, x);
    edge(b, x, y);
    edge(b, y, z);
    edge(b, z, x);
    edge(b, z, w);
    uint32_t *cyc = NULL, n = 0;
    struct wfmpi_error err = {0};
    assert_null(wfmpi_plan_builder_finish(b, &cyc, &n, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_int_equal(n, 3);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = cyc[i], c = cyc[(i + 1) % n];
        /* consecutive entries are parent -> child edges of x -> y -> z -> x */
        assert_true((a == x && c == y) || (a == y && c == z) || (a == z && c == x));
    }
    assert_non_null(strstr(err.text, "dependency cycle: "));
    assert_true(strstr(err.text, "x -> y -> z -> x") || strstr(err.text, "y -> z -> x -> y") ||
                strstr(err.text, "z -> x -> y -> z"));
    free(cyc);
}

static void test_builder_critical_path_order(void **state)
{
    (void)state;
    /* The branch with the known long runtime wins over the unknown one. */
    struct wfmpi_plan *p = diamond(10, 0);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    uint32_t n;
    const uint32_t *cp = wfmpi_plan_critical_path(p, &n);
    assert_int_equal(n, 3);
    assert_int_equal(cp[0], 0);
    assert_int_equal(cp[1], 1);
    assert_int_equal(cp[2], 3);
    assert_true(v->tasks[0].cp_seconds == 12.0);
    assert_true(v->tasks[1].cp_seconds == 11.0);
    assert_true(v->tasks[2].cp_seconds == 2.0);
    assert_true(v->tasks[3].cp_seconds == 1.0);
    wfmpi_plan_destroy(p);
    /* A longer chain of unknown tasks ranks above a shorter one. */
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("chains");
    int64_t s1 = add(b, "s1", 0), s2 = add(b, "s2", 0);
    int64_t l1 = add(b, "l1", 0), l2 = add(b, "l2", 0), l3 = add(b, "l3", 0);
    edge(b, s1, s2);
    edge(b, l1, l2);
    edge(b, l2, l3);
    p = finish(b);
    cp = wfmpi_plan_critical_path(p, &n);
    assert_int_equal(n, 3);
    assert_int_equal(cp[0], l1);
    assert_true(wfmpi_plan_view(p)->tasks[l1].cp_seconds >
                wfmpi_plan_view(p)->tasks[s1].cp_seconds);
    wfmpi_plan_destroy(p);
}

static void test_builder_hash(void **state)
{
    (void)state;
    char h1[WFMPI_SHA256_HEX_LEN], h2[WFMPI_SHA256_HEX_LEN], h3[WFMPI_SHA256_HEX_LEN];
    struct wfmpi_plan *p1 = diamond(5, 0), *p2 = diamond(5, 0), *p3 = diamond(6, 0);
    wfmpi_plan_hash(p1, h1);
    wfmpi_plan_hash(p2, h2);
    wfmpi_plan_hash(p3, h3);
    assert_int_equal(strlen(h1), 64);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
    wfmpi_plan_destroy(p1);
    wfmpi_plan_destroy(p2);
    wfmpi_plan_destroy(p3);
    /* Interning order must not matter: intern unrelated strings first. */
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("diamond");
    wfmpi_plan_builder_intern(b, "zzz");
    wfmpi_plan_builder_intern(b, "d");
    int64_t a = add(b, "a", 0), x = add(b, "b", 5), y = add(b, "c", 0), d = add(b, "d", 0);
    edge(b, y, d); /* edges in another order, one twice */
    edge(b, x, d);
    edge(b, a, y);
    edge(b, a, x);
    edge(b, a, x);
    struct wfmpi_plan *p4 = finish(b);
    wfmpi_plan_hash(p4, h3);
    assert_string_equal(h1, h3);
    wfmpi_plan_destroy(p4);
    /* An extra argument changes the hash. */
    b = wfmpi_plan_builder_create("one");
    const char *args[] = {"-x"};
    struct wfmpi_plan_task_spec s = {.id = "a", .exe = "/bin/true", .args = args, .n_args = 1};
    assert_int_equal(wfmpi_plan_builder_add_task(b, &s, NULL), 0);
    p1 = finish(b);
    b = wfmpi_plan_builder_create("one");
    s.n_args = 0;
    assert_int_equal(wfmpi_plan_builder_add_task(b, &s, NULL), 0);
    p2 = finish(b);
    wfmpi_plan_hash(p1, h1);
    wfmpi_plan_hash(p2, h2);
    assert_string_not_equal(h1, h2);
    wfmpi_plan_destroy(p1);
    wfmpi_plan_destroy(p2);
}

static void test_builder_fields_and_adopt(void **state)
{
    (void)state;
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    uint32_t lfn = wfmpi_strtab_intern_cstr(t, "f.in");
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("fields");
    wfmpi_plan_builder_adopt_strtab(b, t);
    const char *args[] = {"a", "b c"}, *env[] = {"K=V"};
    struct wfmpi_plan_file f = {.lfn = lfn, .link = 1};
    struct wfmpi_plan_task_spec s = {.id = "t",
                                     .exe = "/bin/echo",
                                     .args = args,
                                     .n_args = 2,
                                     .env = env,
                                     .n_env = 1,
                                     .files = &f,
                                     .n_files = 1,
                                     .cores = 4,
                                     .gpus = 2,
                                     .memory_mb = 1024,
                                     .retries = -1,
                                     .priority = 7,
                                     .category = "cat",
                                     .site = "local"};
    assert_int_equal(wfmpi_plan_builder_add_task(b, &s, NULL), 0);
    assert_int_equal(wfmpi_plan_builder_add_category(b, "cat", 3), 0);
    assert_int_equal(wfmpi_plan_builder_set_source(b, "wf.yml", "x: 1\n", 5), 0);
    struct wfmpi_plan *p = finish(b);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    const struct wfmpi_plan_task *k = &v->tasks[0];
    assert_int_equal(k->argv.count, 3);
    assert_string_equal(wfmpi_plan_str(p, v->strs[k->argv.first + 2]), "b c");
    assert_string_equal(wfmpi_plan_str(p, v->strs[k->env.first]), "K=V");
    assert_string_equal(wfmpi_plan_str(p, v->files[k->files.first].lfn), "f.in");
    assert_string_equal(wfmpi_plan_str(p, k->category), "cat");
    assert_string_equal(wfmpi_plan_str(p, v->name), "fields");
    assert_int_equal(v->n_categories, 1);
    assert_int_equal(v->categories[0].maxjobs, 3);
    size_t len;
    assert_string_equal(wfmpi_plan_text(p, &len), "x: 1\n");
    assert_string_equal(wfmpi_plan_str(p, v->path), "wf.yml");
    struct wfmpi_plan_stats st;
    wfmpi_plan_stats(p, &st);
    assert_int_equal(st.gpu_tasks, 1);
    assert_int_equal(st.total_memory_mb, 1024);
    assert_true(wfmpi_plan_bytes(p) > 0);
    wfmpi_plan_destroy(p);
}

static void test_builder_large_chain(void **state)
{
    (void)state;
    /* 200k tasks in a chain plus redundant transitive edges: linear work,
     * depth = n, cp = n tasks. */
    enum { N = 200000 };
    struct wfmpi_plan_builder *b = wfmpi_plan_builder_create("chain");
    char id[32];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        add(b, id, 0);
        if (i)
            edge(b, i - 1, i);
        if (i > 1)
            edge(b, i - 2, i);
    }
    struct wfmpi_plan *p = finish(b);
    struct wfmpi_plan_stats st;
    wfmpi_plan_stats(p, &st);
    assert_int_equal(st.depth, N);
    assert_int_equal(st.widest, 1);
    assert_int_equal(st.cp_tasks, N);
    assert_int_equal(st.edges, 2 * N - 3);
    wfmpi_plan_destroy(p);
}

/* ------------------------------------------------------------ YAML planner */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/wfmpi-test-plan-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write tmpdir/name; returns the path (static buffer, one at a time). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static struct wfmpi_plan *plan_text(const char *name, const char *text,
                                    const struct wfmpi_plan_options *opt, struct wfmpi_error *err)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", write_file(name, text));
    struct wfmpi_plan_options none = {.no_default_catalogs = 1};
    return wfmpi_plan_create(path, opt ? opt : &none, err);
}

static struct wfmpi_plan *plan_ok(const char *name, const char *text,
                                  const struct wfmpi_plan_options *opt)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = plan_text(name, text, opt, &err);
    if (!p)
        fail_msg("planning %s: %s", name, err.text);
    return p;
}

static void plan_fails(const char *name, const char *text, const char *substr)
{
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = plan_text(name, text, NULL, &err);
    if (p)
        fail_msg("%s planned but should fail with '%s'", name, substr);
    if (!strstr(err.text, substr))
        fail_msg("%s: error '%s' lacks '%s'", name, err.text, substr);
    assert_int_equal(err.code, WFMPI_E_INPUT);
}

static int64_t task_index(const struct wfmpi_plan *p, const char *id)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    for (uint32_t i = 0; i < v->n_tasks; i++) {
        if (strcmp(wfmpi_plan_str(p, v->tasks[i].id), id) == 0)
            return i;
    }
    fail_msg("no task %s", id);
    return -1;
}

static const struct wfmpi_plan_task *task(const struct wfmpi_plan *p, const char *id)
{
    return &wfmpi_plan_view(p)->tasks[task_index(p, id)];
}

static const char *argv_at(const struct wfmpi_plan *p, const struct wfmpi_plan_task *t, uint32_t k)
{
    assert_true(k < t->argv.count);
    return wfmpi_plan_str(p, wfmpi_plan_view(p)->strs[t->argv.first + k]);
}

static bool has_env(const struct wfmpi_plan *p, const struct wfmpi_plan_task *t, const char *kv)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    for (uint32_t k = 0; k < t->env.count; k++) {
        if (strcmp(wfmpi_plan_str(p, v->strs[t->env.first + k]), kv) == 0)
            return true;
    }
    return false;
}

#define HDR "pegasus: '5.0'\nname: t\n"
#define TC                                                                                         \
    "transformationCatalog:\n  transformations:\n"                                                 \
    "  - name: tool\n    profiles:\n      env: {A: tc, B: tc}\n      pegasus: {cores: '2'}\n"      \
    "    sites:\n    - name: other\n      pfn: /bin/false\n"                                       \
    "    - name: local\n      pfn: file:///bin/echo\n"                                             \
    "      profiles:\n        env: {B: tcsite, C: tcsite}\n"                                       \
    "        condor: {request_memory: 2 GB}\n"

static void test_yaml_resources_env_argv(void **state)
{
    (void)state;
    const char *y = HDR TC "profiles:\n  env: {A: wf, W: wf}\n"
                           "jobs:\n"
                           "- type: job\n  name: tool\n  id: j1\n"
                           "  arguments: ['-a  b', 'c', 1, '']\n"
                           "  profiles:\n    env: {C: job}\n"
                           "    pegasus: {memory: '512', pmc_request_memory: '9', gpus: '1',\n"
                           "      runtime: '30', maxwalltime: '2', checkpoint.time: '1'}\n"
                           "    condor: {request_cpus: '8'}\n"
                           "    dagman: {retry: '3', priority: '-2', category: big}\n";
    struct wfmpi_plan *p = plan_ok("res.yml", y, NULL);
    const struct wfmpi_plan_task *t = task(p, "j1");
    /* file:// pfn of the preferred "local" site entry becomes a path */
    assert_string_equal(wfmpi_plan_str(p, t->exe), "/bin/echo");
    assert_string_equal(wfmpi_plan_str(p, t->site), "local");
    /* "-a  b" splits on whitespace; the empty argument vanishes */
    assert_int_equal(t->argv.count, 5);
    assert_string_equal(argv_at(p, t, 0), "/bin/echo");
    assert_string_equal(argv_at(p, t, 1), "-a");
    assert_string_equal(argv_at(p, t, 2), "b");
    assert_string_equal(argv_at(p, t, 3), "c");
    assert_string_equal(argv_at(p, t, 4), "1");
    /* env precedence: workflow < tc < tc-site < job */
    assert_true(has_env(p, t, "A=tc"));
    assert_true(has_env(p, t, "B=tcsite"));
    assert_true(has_env(p, t, "C=job"));
    assert_true(has_env(p, t, "W=wf"));
    assert_int_equal(t->env.count, 4);
    /* job condor.request_cpus beats the transformation's pegasus.cores (a
     * stronger level); pegasus.memory beats pmc at the same level */
    assert_int_equal(t->cores, 8);
    assert_int_equal(t->gpus, 1);
    assert_int_equal(t->memory_mb, 512);
    assert_true(t->runtime_s == 30.0);
    assert_true(t->maxwalltime_s == 120.0);
    assert_true(t->checkpoint_time_s == 60.0);
    assert_int_equal(t->retries, 3);
    assert_int_equal(t->priority, -2);
    assert_string_equal(wfmpi_plan_str(p, t->category), "big");
    wfmpi_plan_destroy(p);

    /* Same level: pegasus.* over pmc_* over condor.*, whatever the order. */
    y = HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n"
               "  profiles:\n    condor: {request_cpus: '8', request_memory: 100MB}\n"
               "    pegasus: {pmc_request_cpus: '4', cores: '3'}\n";
    p = plan_ok("rank.yml", y, NULL);
    t = task(p, "j1");
    assert_int_equal(t->cores, 3);
    assert_int_equal(t->memory_mb, 100); /* job level beats the tc-site "2 GB" */
    wfmpi_plan_destroy(p);
    y = HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n";
    p = plan_ok("tcmem.yml", y, NULL);
    t = task(p, "j1");
    assert_int_equal(t->cores, 2);
    assert_int_equal(t->memory_mb, 2048);
    assert_int_equal(t->retries, -1);
    wfmpi_plan_destroy(p);
}

static void test_yaml_bad_profiles(void **state)
{
    (void)state;
    plan_fails("nan.yml",
               HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n"
                      "  profiles:\n    pegasus: {cores: 'lots'}\n",
               "nan.yml:23:22: profile pegasus.cores: 'lots' is not an integer");
    plan_fails("neg.yml",
               HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n"
                      "  profiles:\n    pegasus: {cores: '-4'}\n",
               "'-4' is out of range (1..1000000000)");
    /* "5\0x" is not 5 (refused by the loader or here, at the value). */
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p =
        plan_text("nulnum.yml",
                  HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n"
                         "  profiles:\n    pegasus: {cores: \"5\\0x\"}\n",
                  NULL, &err);
    assert_null(p);
    assert_int_equal(err.code, WFMPI_E_INPUT);
    if (!strstr(err.text, "nulnum.yml:23:22: "))
        fail_msg("NUL in a number: %s", err.text);
    /* A weaker key of the same quantity is checked too, before or after
     * the stronger one. */
    plan_fails("weak.yml",
               HDR TC "jobs:\n- type: job\n  name: tool\n  id: j1\n  arguments: []\n"
                      "  profiles:\n    pegasus: {cores: '2'}\n    condor: {request_cpus: x}\n",
               "profile condor.request_cpus: 'x' is not an integer");
    /* Transformation, transformation-site and site catalog levels. */
    plan_fails("tcprof.yml",
               HDR "transformationCatalog:\n  transformations:\n  - name: tool\n"
                   "    profiles:\n      pegasus: {memory: 2 TB}\n"
                   "    sites:\n    - {name: local, pfn: /bin/true}\n"
                   "jobs:\n- {type: job, name: tool, id: j1, arguments: []}\n",
               "profile pegasus.memory: '2 TB' is not a number of MB");
    plan_fails("tcsite.yml",
               HDR "transformationCatalog:\n  transformations:\n  - name: tool\n"
                   "    sites:\n    - name: local\n      pfn: /bin/true\n"
                   "      profiles: {dagman: {retry: '4294967297'}}\n"
                   "jobs:\n- {type: job, name: tool, id: j1, arguments: []}\n",
               "profile dagman.retry: '4294967297' is out of range (0..1000000000)");
    plan_fails("site.yml",
               HDR TC "siteCatalog:\n  sites:\n  - name: local\n"
                      "    profiles: {pegasus: {runtime: 1e400}}\n"
                      "jobs:\n- {type: job, name: tool, id: j1, arguments: []}\n",
               "profile pegasus.runtime: '1e400' is out of range (0..1000000000 s)");
}

/* The numeric helper behind every profile: decimal text, strtoll/strtod
 * checked, each kind's range, MB units. */
static void number_is(const char *s, uint8_t kind, double want)
{
    char why[128] = "";
    double d = -12345;
    if (plan_parse_number(s, kind, &d, why, sizeof(why)))
        fail_msg("'%s' (kind %u) refused: %s", s, kind, why);
    if (d != want)
        fail_msg("'%s' (kind %u) is %.17g, want %.17g", s, kind, d, want);
}

static void number_bad(const char *s, uint8_t kind, const char *want_why)
{
    char why[128] = "";
    double d = -12345;
    if (plan_parse_number(s, kind, &d, why, sizeof(why)) != WFMPI_E_INPUT)
        fail_msg("'%s' (kind %u) accepted as %g", s, kind, d);
    if (strcmp(why, want_why) != 0)
        fail_msg("'%s' (kind %u): '%s', want '%s'", s, kind, why, want_why);
    assert_true(d == -12345); /* untouched */
}

static void test_parse_number(void **state)
{
    (void)state;
    const char *cnt = "is out of range (0..1000000000)";
    const char *mb = "is out of range (0..1000000000 MB)";
    /* Boundaries of a count: max, max + 1, far beyond (strtoll ERANGE). */
    number_is("1000000000", PK_COUNT, 1e9);
    number_bad("1000000001", PK_COUNT, cnt);
    number_bad("99999999999999999999999", PK_COUNT, cnt);
    number_bad("-9223372036854775809", PK_COUNT, cnt);
    number_is("0", PK_COUNT, 0);
    number_bad("-1", PK_COUNT, cnt);
    number_is("-0", PK_COUNT, 0);
    /* Cores: 0 means nothing. */
    number_is("1", PK_CORES, 1);
    number_bad("0", PK_CORES, "is out of range (1..1000000000)");
    /* Fractions: refused for integers unless integral. */
    number_bad("1.5", PK_COUNT, "is not an integer");
    number_bad("0.0000001", PK_CORES, "is not an integer");
    number_is("2.0", PK_COUNT, 2);
    number_is("2e3", PK_COUNT, 2000);
    number_bad("1e10", PK_COUNT, cnt);
    /* Junk, empty, blanks, forms strtod takes but a profile should not. */
    const char *junk[] = {"",     "   ", "12abc", "1 2", "abc", "0x10", "nan", "inf",
                          "-inf", "1e",  ".",     "+",   "--1", "1..2", "1e+", "1,5"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        number_bad(junk[i], PK_COUNT, "is not an integer");
        number_bad(junk[i], PK_SEC, "is not a number");
    }
    number_is(" 7 ", PK_COUNT, 7);
    number_is("+7", PK_COUNT, 7);
    /* Signed: priorities. */
    number_is("-1000000000", PK_SIGNED, -1e9);
    number_bad("-1000000001", PK_SIGNED, "is out of range (-1000000000..1000000000)");
    number_is("1000000000", PK_SIGNED, 1e9);
    /* MB: fractions, units, overflow. */
    number_is("1000000000", PK_MB, 1e9);
    number_bad("1000000001", PK_MB, mb);
    number_bad("99999999999999999999999", PK_MB, mb);
    number_bad("1e400", PK_MB, mb);
    number_bad("-1", PK_MB, mb);
    number_is("1.5", PK_MB, 1.5);
    number_is("2 GB", PK_MB, 2048);
    number_is("2gb", PK_MB, 2048);
    number_is("0.5 G", PK_MB, 512);
    number_is("512 MB", PK_MB, 512);
    number_is("512m", PK_MB, 512);
    number_is("976562.5 GB", PK_MB, 1e9);
    number_bad("976563 GB", PK_MB, mb);
    const char *no_mb = "is not a number of MB (a unit MB or GB may follow)";
    number_bad("2 TB", PK_MB, no_mb);
    number_bad("GB", PK_MB, no_mb);
    number_bad("2 GB x", PK_MB, no_mb);
    number_bad("", PK_MB, no_mb);
    /* Seconds and minutes (stored as seconds); underflow is just small. */
    number_is("1000000000", PK_SEC, 1e9);
    number_bad("1000000000.5", PK_SEC, "is out of range (0..1000000000 s)");
    number_is("0.25", PK_SEC, 0.25);
    number_is("1e-400", PK_SEC, 0);
    number_is("1000000000", PK_MIN, 6e10);
    number_bad("1000000001", PK_MIN, "is out of range (0..1000000000 min)");
    number_bad("-10", PK_MIN, "is out of range (0..1000000000 min)");
    number_is("1.5", PK_MIN, 90);
    /* Not a numeric kind. */
    number_bad("1", PK_STR, "is not a number");
}

/* The workflow text is read back from the file only when asked for (the
 * checkpoint), and only while the file still is what was planned. */
static void test_yaml_text(void **state)
{
    (void)state;
    const char *y = HDR TC "jobs:\n- {type: job, name: tool, id: a, arguments: [x]}\n";
    size_t len = 0;
    struct wfmpi_plan *p = plan_ok("text.yml", y, NULL);
    assert_string_equal(wfmpi_plan_text(p, &len), y);
    assert_int_equal(len, strlen(y));
    assert_string_equal(wfmpi_plan_text(p, &len), y); /* read once, kept */
    wfmpi_plan_destroy(p);

    /* Replaced by rename (what editors do): the planned file is still read. */
    p = plan_ok("text.yml", y, NULL);
    char path[512], tmp[512];
    snprintf(path, sizeof(path), "%s/text.yml", tmpdir);
    snprintf(tmp, sizeof(tmp), "%s", write_file("text.new", "other\n"));
    assert_int_equal(rename(tmp, path), 0);
    assert_string_equal(wfmpi_plan_text(p, &len), y);
    wfmpi_plan_destroy(p);

    /* Rewritten in place: not the planned text, so nothing is recorded. */
    p = plan_ok("text.yml", y, NULL);
    write_file("text.yml", "pegasus: '5.0'\n");
    assert_string_equal(wfmpi_plan_text(p, &len), "");
    assert_int_equal(len, 0);
    wfmpi_plan_destroy(p);
}

static void test_yaml_file_edges(void **state)
{
    (void)state;
    /* a -> b through f1 (and an explicit edge: counted once), b -> c
     * through f2 and stdout; a checkpoint file makes no edge. */
    const char *y = HDR TC "jobs:\n"
                           "- {type: job, name: tool, id: a, arguments: [],\n"
                           "   uses: [{lfn: f1, type: output}, {lfn: ck, type: checkpoint}]}\n"
                           "- {type: job, name: tool, id: b, arguments: [], stdout: so,\n"
                           "   uses: [{lfn: f1, type: input}, {lfn: f2, type: output}]}\n"
                           "- {type: job, name: tool, id: c, arguments: [], stdin: so,\n"
                           "   uses: [{lfn: f2, type: input}, {lfn: ck, type: input}]}\n"
                           "jobDependencies:\n- {id: a, children: [b, b]}\n";
    write_file("ck", "x\n"); /* c reads the checkpoint file: exists in the input dir */
    /* The work dir is the input dir (ck is in place) and nothing is staged
     * out, so the plan is the jobs alone. */
    struct wfmpi_plan_options opt = {
        .no_default_catalogs = 1, .work_dir = tmpdir, .no_stage_out = 1};
    struct wfmpi_plan *p = plan_ok("edges.yml", y, &opt);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.tasks, 3);
    assert_int_equal(s.edges, 2);
    assert_int_equal(s.depth, 3);
    assert_int_equal(task(p, "c")->parents.count, 1);
    assert_string_equal(wfmpi_plan_str(p, task(p, "c")->stdin_path), "so");
    wfmpi_plan_destroy(p);
    plan_fails("twoprod.yml",
               HDR TC "jobs:\n"
                      "- {type: job, name: tool, id: a, arguments: [], uses: [{lfn: f, type: "
                      "output}]}\n"
                      "- {type: job, name: tool, id: b, arguments: [], uses: [{lfn: f, type: "
                      "output}]}\n",
               "produced by two jobs: 'a'");
    plan_fails("cycle.yml",
               HDR TC "jobs:\n"
                      "- {type: job, name: tool, id: a, arguments: []}\n"
                      "- {type: job, name: tool, id: b, arguments: []}\n"
                      "- {type: job, name: tool, id: c, arguments: []}\n"
                      "jobDependencies:\n- {id: a, children: [b]}\n- {id: b, children: [c]}\n"
                      "- {id: c, children: [a]}\n",
               "dependency cycle: ");
}

static void test_yaml_inputs(void **state)
{
    (void)state;
    const char *y = HDR TC "replicaCatalog:\n  replicas:\n"
                           "  - lfn: r1\n    pfns:\n    - {site: far, pfn: /far/r1}\n"
                           "    - {site: local, pfn: /local/r1}\n    checksum: {sha256: "
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855}\n"
                           "jobs:\n- {type: job, name: tool, id: a, arguments: [],\n"
                           "   uses: [{lfn: r1, type: input}, {lfn: ondisk, type: input}]}\n";
    struct wfmpi_error err = {0};
    struct wfmpi_plan *p = plan_text("inputs.yml", y, NULL, &err);
    assert_null(p);
    assert_non_null(strstr(err.text, "input file 'ondisk' has no producer and no replica"));
    assert_non_null(strstr(err.text, "inputs.yml:26:41: "));
    /* present in the input dir: accepted, pfn is its path */
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/in", tmpdir);
    mkdir(dir, 0777);
    write_file("in/ondisk", "data\n");
    struct wfmpi_plan_options opt = {.input_dir = dir, .no_default_catalogs = 1};
    p = plan_ok("inputs.yml", y, &opt);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    const struct wfmpi_plan_task *t = task(p, "a");
    assert_int_equal(t->files.count, 2);
    const struct wfmpi_plan_file *f = &v->files[t->files.first];
    assert_string_equal(wfmpi_plan_str(p, f->pfn), "/local/r1"); /* local before far */
    assert_string_equal(wfmpi_plan_str(p, f->sha256),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char want[400];
    snprintf(want, sizeof(want), "%s/ondisk", dir);
    assert_string_equal(wfmpi_plan_str(p, f[1].pfn), want);
    wfmpi_plan_destroy(p);
}

static void test_yaml_path_fallback(void **state)
{
    (void)state;
    /* "sh" is not in the catalog: found on PATH (with a warning). */
    const char *y = HDR "jobs:\n- {type: job, name: sh, id: a, arguments: ['-c', 'true']}\n";
    struct wfmpi_plan *p = plan_ok("path.yml", y, NULL);
    const char *exe = wfmpi_plan_str(p, task(p, "a")->exe);
    assert_true(strlen(exe) > 3 && strcmp(exe + strlen(exe) - 3, "/sh") == 0);
    wfmpi_plan_destroy(p);
    plan_fails("nopath.yml",
               HDR "jobs:\n- {type: job, name: no-such-tool-xyz, id: a, arguments: []}\n",
               "transformation 'no-such-tool-xyz' not found in the transformation catalog or on "
               "PATH");
}

static void test_yaml_subworkflow(void **state)
{
    (void)state;
    /* inner: x -> y. outer: pre -> sub -> post, so pre -> sub/x and
     * sub/y -> post; 4 tasks, 3 edges. */
    write_file("inner.yml", HDR "jobs:\n- {type: job, name: sh, id: x, arguments: []}\n"
                                "- {type: job, name: sh, id: y, arguments: []}\n"
                                "jobDependencies:\n- {id: x, children: [y]}\n");
    const char *y = HDR "jobs:\n- {type: job, name: sh, id: pre, arguments: []}\n"
                        "- {type: pegasusWorkflow, file: inner.yml, id: sub, arguments: []}\n"
                        "- {type: job, name: sh, id: post, arguments: []}\n"
                        "jobDependencies:\n- {id: pre, children: [sub]}\n"
                        "- {id: sub, children: [post]}\n";
    struct wfmpi_plan *p = plan_ok("outer.yml", y, NULL);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.tasks, 4);
    assert_int_equal(s.edges, 3);
    assert_int_equal(s.depth, 4);
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    const struct wfmpi_plan_task *x = task(p, "sub/x"), *post = task(p, "post");
    assert_int_equal(v->edges_in[x->parents.first], task_index(p, "pre"));
    assert_int_equal(v->edges_in[post->parents.first], task_index(p, "sub/y"));
    wfmpi_plan_destroy(p);
    /* A workflow including itself. */
    plan_fails("self.yml",
               HDR "jobs:\n- {type: pegasusWorkflow, file: self.yml, id: s, arguments: []}\n",
               "includes itself");
    plan_fails("missing.yml",
               HDR "jobs:\n- {type: pegasusWorkflow, file: nope.yml, id: s, arguments: []}\n",
               "sub-workflow file 'nope.yml' not found");
    /* Dynamic: the file is written by a job, so it stays one wfmpi task. */
    y = HDR "jobs:\n- {type: job, name: sh, id: gen, arguments: [],\n"
            "   uses: [{lfn: dyn.yml, type: output}]}\n"
            "- {type: pegasusWorkflow, file: dyn.yml, id: d, arguments: [],\n"
            "   uses: [{lfn: dyn.yml, type: input, forPlanning: true}]}\n"
            "jobDependencies:\n- {id: gen, children: [d]}\n";
    p = plan_ok("dyn.yml.outer", y, NULL);
    const struct wfmpi_plan_task *d = task(p, "d");
    assert_int_equal(d->argv.count, 5);
    assert_string_equal(argv_at(p, d, 1), "run");
    assert_string_equal(argv_at(p, d, 2), "dyn.yml");
    assert_string_equal(argv_at(p, d, 4), "d.run");
    wfmpi_plan_destroy(p);
}

/* ------------------------------------------------------------ data tasks */

static const struct wfmpi_plan_task *task_or_null(const struct wfmpi_plan *p, const char *id)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    for (uint32_t i = 0; i < v->n_tasks; i++) {
        if (strcmp(wfmpi_plan_str(p, v->tasks[i].id), id) == 0)
            return &v->tasks[i];
    }
    return NULL;
}

/* argv of a task joined with spaces. */
static const char *argv_of(const struct wfmpi_plan *p, const struct wfmpi_plan_task *t)
{
    static char buf[4096];
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    buf[0] = '\0';
    for (uint32_t k = 0; k < t->argv.count; k++) {
        if (k)
            strncat(buf, " ", sizeof(buf) - strlen(buf) - 1);
        strncat(buf, wfmpi_plan_str(p, v->strs[t->argv.first + k]), sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}

static bool has_parent(const struct wfmpi_plan *p, const char *child, const char *parent)
{
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    const struct wfmpi_plan_task *t = task_or_null(p, child);
    for (uint32_t k = 0; t && k < t->parents.count; k++) {
        if (strcmp(wfmpi_plan_str(p, v->tasks[v->edges_in[t->parents.first + k]].id), parent) == 0)
            return true;
    }
    return false;
}

#define RC_STAGE                                                                                   \
    "replicaCatalog:\n  replicas:\n"                                                               \
    "  - lfn: web.dat\n    pfns: [{site: web, pfn: 'https://example.org/web.dat'}]\n"              \
    "    checksum: {sha256: "                                                                      \
    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}\n"                        \
    "  - lfn: far.dat\n    pfns: [{site: local, pfn: 'file:///etc/hostname'}]\n"                   \
    "  - lfn: raw.dat\n    pfns: [{site: local, pfn: 's3://bucket/raw.dat'}]\n"

static void test_data_stage_in(void **state)
{
    (void)state;
    /* a and b need web.dat (one stage-in, made for a, the first); a needs
     * far.dat (a local file elsewhere: symlinked); here.dat is already in
     * the work dir (nothing); b reads raw.dat bypassed (its URL replaces the
     * lfn in b's arguments). */
    const char *y = HDR TC RC_STAGE
        "jobs:\n"
        "- {type: job, name: tool, id: a, arguments: [web.dat, far.dat],\n"
        "   uses: [{lfn: web.dat, type: input}, {lfn: far.dat, type: input},\n"
        "          {lfn: here.dat, type: input}]}\n"
        "- {type: job, name: tool, id: b, arguments: [raw.dat, web.dat],\n"
        "   uses: [{lfn: web.dat, type: input}, {lfn: raw.dat, type: input, bypass: true}]}\n";
    write_file("here.dat", "x\n");
    struct wfmpi_plan_options opt = {
        .no_default_catalogs = 1, .work_dir = tmpdir, .no_stage_out = 1, .no_symlink = 1};
    struct wfmpi_plan *p = plan_ok("stagein.yml", y, &opt);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.kinds[WFMPI_PLAN_COMPUTE], 2);
    assert_int_equal(s.kinds[WFMPI_PLAN_STAGE_IN], 1);
    assert_int_equal(s.compute_edges, 0);
    const struct wfmpi_plan_task *si = task_or_null(p, "stage_in_a");
    assert_non_null(si);
    assert_int_equal(si->kind, WFMPI_PLAN_STAGE_IN);
    const char *av = argv_of(p, si);
    assert_non_null(strstr(av, " stage-in --no-symlink -- https://example.org/web.dat web.dat "
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
                               "file:///etc/hostname far.dat -"));
    assert_null(strstr(av, "here.dat"));
    assert_null(strstr(av, "raw.dat"));
    assert_true(has_parent(p, "a", "stage_in_a"));
    assert_true(has_parent(p, "b", "stage_in_a"));
    assert_string_equal(argv_of(p, task_or_null(p, "b")), "/bin/echo s3://bucket/raw.dat web.dat");
    assert_null(task_or_null(p, "stage_in_b"));
    wfmpi_plan_destroy(p);
}

/* What the data tasks would refuse is refused when planning (check.c);
 * what they take is taken. */
static void test_data_checks(void **state)
{
    (void)state;
    const char *sha = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    char y[4096];
    /* A bypassed input may have any URL (the job reads it); a regular
     * expression replica's lfn is a pattern, not a path; a checksum may
     * be upper-case; file://localhost/PATH is PATH; FILE:/// is file:///. */
    snprintf(y, sizeof(y),
             HDR TC "replicaCatalog:\n  replicas:\n"
                    "  - {lfn: byp, pfns: [{site: local, pfn: 'gopher://h/byp'}]}\n"
                    "  - {lfn: '../.*', regex: true, pfns: [{site: local, pfn: /x}]}\n"
                    "  - {lfn: lh, pfns: [{site: local, pfn: 'file://localhost/etc/hostname'}],\n"
                    "     checksum: {sha256: %s}}\n"
                    "  - {lfn: up, pfns: [{site: local, pfn: 'FILE:///etc/hostname'}]}\n"
                    "jobs:\n- {type: job, name: tool, id: a, arguments: [byp],\n"
                    "   uses: [{lfn: byp, type: input, bypass: true}, {lfn: lh, type: input},\n"
                    "          {lfn: up, type: input}, {lfn: ./sub/ok.dat, type: output}]}\n",
             sha);
    struct wfmpi_plan_options opt = {
        .no_default_catalogs = 1, .work_dir = tmpdir, .no_stage_out = 1};
    struct wfmpi_plan *p = plan_ok("checks.yml", y, &opt);
    const char *av = argv_of(p, task_or_null(p, "stage_in_a"));
    if (!strstr(av, " file://localhost/etc/hostname lh E3B0C442"))
        fail_msg("stage-in: %s", av);
    assert_non_null(strstr(av, " FILE:///etc/hostname up -"));
    assert_string_equal(argv_of(p, task_or_null(p, "a")), "/bin/echo gopher://h/byp");
    wfmpi_plan_destroy(p);

    /* The same input, not bypassed: refused at the replica's pfn. */
    plan_fails("checks2.yml",
               HDR TC "replicaCatalog:\n  replicas:\n"
                      "  - {lfn: byp, pfns: [{site: local, pfn: 'gopher://h/byp'}]}\n"
                      "jobs:\n- {type: job, name: tool, id: a, arguments: [],\n"
                      "   uses: [{lfn: byp, type: input}]}\n",
               "checks2.yml:19:42: input 'byp': 'gopher://h/byp' is not a URL the data tasks "
               "can fetch");
    /* A sub-workflow's jobs are checked like the main one's. */
    write_file("inner-bad.yml",
               HDR TC "jobs:\n- {type: job, name: tool, id: i, arguments: [], stdout: /abs.out}\n");
    plan_fails("outer.yml",
               HDR
               "jobs:\n- {type: pegasusWorkflow, file: inner-bad.yml, id: sub, arguments: []}\n",
               "inner-bad.yml:18:57: stdout file '/abs.out' is an absolute path");
    /* A NUL in an lfn (a "\0" escape) is refused at the lfn, by the loader
     * or here. */
    struct wfmpi_error err = {0};
    p = plan_text("nul.yml",
                  HDR TC "jobs:\n- {type: job, name: tool, id: a, arguments: [],\n"
                         "   uses: [{lfn: \"a\\0b\", type: output}]}\n",
                  NULL, &err);
    assert_null(p);
    assert_int_equal(err.code, WFMPI_E_INPUT);
    if (!strstr(err.text, "nul.yml:19:17: "))
        fail_msg("NUL lfn: %s", err.text);
}

static void test_data_stage_out_cleanup(void **state)
{
    (void)state;
    /* a -> b -> c through mid1 and mid2; final is staged out and
     * registered, keep only registered, mid1/mid2 are intermediate. */
    const char *y =
        HDR TC "jobs:\n"
               "- {type: job, name: tool, id: a, arguments: [],\n"
               "   uses: [{lfn: mid1, type: output, stageOut: false, registerReplica: false}]}\n"
               "- {type: job, name: tool, id: b, arguments: [],\n"
               "   uses: [{lfn: mid1, type: input},\n"
               "          {lfn: mid2, type: output, stageOut: false, registerReplica: false}]}\n"
               "- {type: job, name: tool, id: c, arguments: [],\n"
               "   uses: [{lfn: mid2, type: input}, {lfn: mid1, type: input},\n"
               "          {lfn: final, type: output},\n"
               "          {lfn: keep, type: output, stageOut: false, registerReplica: true}]}\n";
    struct wfmpi_plan_options opt = {
        .no_default_catalogs = 1, .work_dir = tmpdir, .cleanup = 1, .output_dir = "/out"};
    struct wfmpi_plan *p = plan_ok("stageout.yml", y, &opt);
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.kinds[WFMPI_PLAN_STAGE_OUT], 1);
    assert_int_equal(s.kinds[WFMPI_PLAN_CLEANUP], 2);
    assert_int_equal(s.compute_edges, 3); /* a->b, b->c, a->c */
    const struct wfmpi_plan_task *so = task_or_null(p, "stage_out_c");
    assert_non_null(so);
    assert_non_null(strstr(argv_of(p, so),
                           " stage-out --output-dir /out -- final copy+register keep register"));
    assert_true(has_parent(p, "stage_out_c", "c"));
    /* mid1 is removed after a (its producer), b and c (its consumers). */
    assert_non_null(strstr(argv_of(p, task_or_null(p, "cleanup_a")), " cleanup -- mid1"));
    assert_true(has_parent(p, "cleanup_a", "a"));
    assert_true(has_parent(p, "cleanup_a", "b"));
    assert_true(has_parent(p, "cleanup_a", "c"));
    assert_true(has_parent(p, "cleanup_b", "c"));
    assert_null(task_or_null(p, "cleanup_c")); /* final and keep are never removed */
    wfmpi_plan_destroy(p);

    /* Without --output-dir, the local site's localStorage directory. */
    const char *ys = HDR TC "siteCatalog:\n  sites:\n  - name: local\n    directories:\n"
                            "    - {type: sharedScratch, path: /scratch}\n"
                            "    - {type: localStorage, path: /store/out}\n"
                            "jobs:\n- {type: job, name: tool, id: a, arguments: [],\n"
                            "   uses: [{lfn: r, type: output}]}\n";
    opt.output_dir = NULL;
    p = plan_ok("site.yml", ys, &opt);
    assert_non_null(strstr(argv_of(p, task_or_null(p, "stage_out_a")),
                           " stage-out --output-dir /store/out -- r copy+register"));
    wfmpi_plan_destroy(p);
}

static void test_data_containers(void **state)
{
    (void)state;
    /* A docker image is pulled once for both jobs; a GPU job gets --nv;
     * an https singularity image is staged; a stageable executable is
     * fetched into .wfmpi/bin; shifter uses its own command. */
    const char *y =
        HDR "transformationCatalog:\n  transformations:\n"
            "  - name: gpu\n    sites: [{name: local, pfn: /opt/app/gpu, container: dock}]\n"
            "  - name: web\n    sites: [{name: local, pfn: 'https://example.org/web.sh',\n"
            "      type: stageable, container: sing}]\n"
            "  - name: shift\n    sites: [{name: incontainer, pfn: /usr/bin/tool, "
            "container: sh}]\n"
            "  containers:\n"
            "  - {name: dock, type: docker, image: 'docker://ubuntu:22.04',\n"
            "     mounts: ['/scratch:/scratch']}\n"
            "  - {name: sing, type: singularity, image: 'https://example.org/s.sif',\n"
            "     profiles: {env: {IN_BOX: '1'}}}\n"
            "  - {name: sh, type: shifter, image: 'docker://ubuntu:22.04'}\n"
            "jobs:\n"
            "- {type: job, name: gpu, id: g1, arguments: [x],\n"
            "   profiles: {pegasus: {gpus: '1'}}, uses: []}\n"
            "- {type: job, name: gpu, id: g2, arguments: [y], uses: []}\n"
            "- {type: job, name: web, id: w, arguments: [], uses: []}\n"
            "- {type: job, name: shift, id: s, arguments: [z], uses: []}\n";
    struct wfmpi_plan_options opt = {.no_default_catalogs = 1,
                                     .work_dir = "/work",
                                     .container_runtime = "wfmpi-no-such-runtime"};
    struct wfmpi_plan *p = plan_ok("cont.yml", y, &opt);
    assert_string_equal(argv_of(p, task_or_null(p, "g1")),
                        "wfmpi-no-such-runtime exec --nv --bind /work --bind /scratch:/scratch "
                        "--pwd /work .wfmpi/images/dock.sif /opt/app/gpu x");
    assert_string_equal(argv_of(p, task_or_null(p, "g2")),
                        "wfmpi-no-such-runtime exec --bind /work --bind /scratch:/scratch "
                        "--pwd /work .wfmpi/images/dock.sif /opt/app/gpu y");
    assert_string_equal(argv_of(p, task_or_null(p, "pull_image_dock")),
                        "wfmpi-no-such-runtime pull --force .wfmpi/images/dock.sif "
                        "docker://ubuntu:22.04");
    assert_true(has_parent(p, "g1", "pull_image_dock"));
    assert_true(has_parent(p, "g2", "pull_image_dock"));
    assert_string_equal(argv_of(p, task_or_null(p, "w")),
                        "wfmpi-no-such-runtime exec --bind /work --pwd /work "
                        ".wfmpi/images/sing.sif .wfmpi/bin/web");
    assert_non_null(strstr(argv_of(p, task_or_null(p, "stage_image_sing")),
                           " stage-in -- https://example.org/s.sif .wfmpi/images/sing.sif -"));
    assert_non_null(
        strstr(argv_of(p, task_or_null(p, "stage_exe_web")),
               " stage-in --executable -- https://example.org/web.sh .wfmpi/bin/web -"));
    assert_true(has_parent(p, "w", "stage_image_sing"));
    const struct wfmpi_plan_task *wt = task_or_null(p, "w");
    const struct wfmpi_plan_view *v = wfmpi_plan_view(p);
    assert_int_equal(wt->env.count, 1); /* the container's env profile */
    assert_string_equal(wfmpi_plan_str(p, v->strs[wt->env.first]), "IN_BOX=1");
    assert_true(has_parent(p, "w", "stage_exe_web"));
    assert_string_equal(argv_of(p, task_or_null(p, "s")),
                        "shifter --image=docker:ubuntu:22.04 /usr/bin/tool z");
    struct wfmpi_plan_stats s;
    wfmpi_plan_stats(p, &s);
    assert_int_equal(s.kinds[WFMPI_PLAN_STAGE_IN], 3);
    wfmpi_plan_destroy(p);

    plan_fails("badcont.yml",
               HDR "transformationCatalog:\n  transformations:\n"
                   "  - name: t\n    sites: [{name: local, pfn: /bin/true, container: nope}]\n"
                   "jobs:\n- {type: job, name: t, id: a, arguments: [], uses: []}\n",
               "container 'nope' is not in");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder_diamond),
        cmocka_unit_test(test_builder_duplicate_edges_and_ids),
        cmocka_unit_test(test_builder_self_edge),
        cmocka_unit_test(test_builder_cycle),
        cmocka_unit_test(test_builder_critical_path_order),
        cmocka_unit_test(test_builder_hash),
        cmocka_unit_test(test_builder_fields_and_adopt),
        cmocka_unit_test(test_builder_large_chain),
        cmocka_unit_test(test_yaml_resources_env_argv),
        cmocka_unit_test(test_yaml_bad_profiles),
        cmocka_unit_test(test_parse_number),
        cmocka_unit_test(test_yaml_file_edges),
        cmocka_unit_test(test_data_stage_in),
        cmocka_unit_test(test_data_checks),
        cmocka_unit_test(test_data_stage_out_cleanup),
        cmocka_unit_test(test_data_containers),
        cmocka_unit_test(test_yaml_text),
        cmocka_unit_test(test_yaml_inputs),
        cmocka_unit_test(test_yaml_path_fallback),
        cmocka_unit_test(test_yaml_subworkflow),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
