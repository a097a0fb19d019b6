/* Unit tests for plan: the builder (edges, CSR, cycles, levels, critical
 * path, stats, hash) and the YAML planner on small workflows written to
 * temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfmpi/plan.h"

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
