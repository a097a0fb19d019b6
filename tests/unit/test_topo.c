/* Unit tests for the topo module on the hwloc XML topologies of
 * tests/data/topo: discovery (GPUs deduplicated by bus id, their locality),
 * what the launcher gave (CUDA_VISIBLE_DEVICES, SLURM_*_GPUS), the pure
 * assignment of GPUs and cores to the ranks of a node, task core picking and
 * cpuset lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wfmpi/topo.h"

#include "../../src/sched/sched_int.h" /* sched_pick_gpus_near: GPU choice by locality */

static struct wfmpi_topo *load(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/topo/%s", WFMPI_TEST_DATA, file);
    struct wfmpi_topo *t = malloc(sizeof(*t));
    assert_non_null(t);
    struct wfmpi_error err = {0};
    int rc = wfmpi_topo_load_xml(t, path, &err);
    if (rc != 0)
        fail_msg("%s: %s", path, err.text);
    return t;
}

static void given_all(const struct wfmpi_topo *t, struct wfmpi_topo_given *g)
{
    wfmpi_topo_all_cpus(t, &g->cpus);
    g->gpus = t->n_gpus >= 64 ? ~0ull : (1ull << t->n_gpus) - 1;
}

/* One expected share: GPU mask and cpuset list. */
struct share {
    uint64_t gpus;
    const char *cpus;
};

static void check_shares(const struct wfmpi_topo *t, const struct wfmpi_topo_given *g, uint32_t n,
                         const struct share *want, const char *what)
{
    for (uint32_t r = 0; r < n; r++) {
        struct wfmpi_topo_rank out;
        assert_int_equal(wfmpi_topo_assign(t, g, n, r, &out), 0);
        char list[1024];
        assert_true(wfmpi_topo_cpuset_format(&out.cpus, list, sizeof(list)) >= 0);
        if (out.gpus != want[r].gpus || strcmp(list, want[r].cpus) != 0)
            fail_msg("%s, %u ranks, rank %u: got GPUs 0x%llx cpus %s, want 0x%llx cpus %s", what, n,
                     r, (unsigned long long)out.gpus, list, (unsigned long long)want[r].gpus,
                     want[r].cpus);
    }
}

/* ------------------------------------------------------------ discovery */

static void test_discover_a100(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("gpuA100x4-synthetic.xml");
    assert_int_equal(t->n_cores, 64);
    assert_int_equal(t->n_pus, 64);
    assert_int_equal(t->n_numa, 4);
    assert_int_equal(t->n_packages, 1);
    assert_true(t->from_xml);
    /* cuda0 and nvml0 are one GPU: four, not eight. */
    assert_int_equal(t->n_gpus, 4);
    static const char *const bus[] = {"0000:07:00.0", "0000:47:00.0", "0000:87:00.0",
                                      "0000:c7:00.0"};
    for (uint32_t g = 0; g < 4; g++) {
        assert_int_equal(t->gpus[g].ordinal, g);
        assert_string_equal(t->gpus[g].busid, bus[g]);
        assert_int_equal(t->gpus[g].numa, g);
        assert_int_equal(t->gpus[g].package, 0);
        assert_string_equal(t->gpus[g].name, "NVIDIA A100-SXM4-40GB");
        assert_int_equal(t->gpus[g].memory_mb, 40960);
        assert_true(strncmp(t->gpus[g].uuid, "GPU-a100000", 11) == 0);
    }
    assert_string_equal(t->gpu_source, "hwloc-xml:CUDA+NVML");
    assert_int_equal(t->summary.gpus, 4);
    assert_int_equal(t->summary.cores, 64);
    free(t);
}

static void test_discover_others(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("nvidiaDGX2.xml");
    assert_int_equal(t->n_gpus, 16);
    assert_int_equal(t->n_cores, 4);
    for (uint32_t g = 0; g < 16; g++) {
        assert_int_equal(t->gpus[g].numa, g / 8);
        assert_int_equal(t->gpus[g].package, g / 8);
        assert_true(strncmp(t->gpus[g].uuid, "GPU-", 4) == 0);
        assert_string_equal(t->gpus[g].name, "Tesla V100-SXM3-32GB-H");
    }
    assert_string_equal(t->gpus[0].busid, "0000:34:00.0");
    assert_string_equal(t->gpus[15].busid, "0000:e7:00.0");
    free(t);

    t = load("power8gpudistances.xml");
    assert_int_equal(t->n_gpus, 4); /* cuda, nvml and opencl osdevs of 4 GPUs */
    assert_int_equal(t->n_cores, 8);
    assert_int_equal(t->n_pus, 16);
    assert_string_equal(t->gpus[0].busid, "0002:01:00.0");
    assert_string_equal(t->gpus[3].busid, "000b:01:00.0");
    assert_int_equal(t->gpus[1].numa, 0);
    assert_int_equal(t->gpus[2].numa, 1);
    assert_int_equal(t->gpus[0].memory_mb, 16280);
    assert_string_equal(t->gpus[0].uuid, "GPU-77bf6b9a-6906-5a93-d28b-b77d2c23d1d2");
    free(t);

    /* A display adapter (card0, no compute backend) is not a GPU. */
    t = load("96em64t-4n4d3ca2co-pci.xml");
    assert_int_equal(t->n_gpus, 0);
    assert_string_equal(t->gpu_source, "none");
    assert_int_equal(t->n_cores, 96);
    free(t);

    t = load("24em64t-2n6c2t-pci.xml");
    assert_int_equal(t->n_gpus, 0);
    assert_int_equal(t->n_cores, 12);
    assert_int_equal(t->n_pus, 24);
    free(t);
}

static void test_bad_xml(void **state)
{
    (void)state;
    struct wfmpi_topo *t = malloc(sizeof(*t));
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_topo_load_xml(t, "/nonexistent.xml", &err), WFMPI_E_INTERNAL);
    assert_non_null(strstr(err.text, "/nonexistent.xml"));
    free(t);
}

/* ----------------------------------------------------------- assignment */

static void test_assign_a100(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("gpuA100x4-synthetic.xml");
    struct wfmpi_topo_given g;
    given_all(t, &g);
    check_shares(t, &g, 1, (struct share[]){{0xf, "0-63"}}, "A100x4");
    check_shares(t, &g, 2, (struct share[]){{0x3, "0-31"}, {0xc, "32-63"}}, "A100x4");
    check_shares(t, &g, 3, (struct share[]){{0x1, "0-15"}, {0x2, "16-31"}, {0xc, "32-63"}},
                 "A100x4");
    check_shares(t, &g, 4,
                 (struct share[]){{0x1, "0-15"}, {0x2, "16-31"}, {0x4, "32-47"}, {0x8, "48-63"}},
                 "A100x4");
    /* More ranks than GPUs: GPU ranks keep an even share near their GPU,
     * CPU-only ranks split the rest. */
    check_shares(t, &g, 8,
                 (struct share[]){{0x1, "0-7"},
                                  {0x2, "16-23"},
                                  {0x4, "32-39"},
                                  {0x8, "48-55"},
                                  {0, "8-15"},
                                  {0, "24-31"},
                                  {0, "40-47"},
                                  {0, "56-63"}},
                 "A100x4");
    free(t);
}

static void test_assign_dgx2(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("nvidiaDGX2.xml");
    struct wfmpi_topo_given g;
    given_all(t, &g);
    /* 16 ranks, 2 cores per socket (trimmed file): every GPU's rank gets a
     * core of the GPU's own socket, four ranks per core. */
    struct share s16[16];
    static const char *const core_of[] = {"0", "1", "24", "25"};
    for (uint32_t r = 0; r < 16; r++)
        s16[r] = (struct share){1ull << r, core_of[r / 4]};
    check_shares(t, &g, 16, s16, "DGX-2");
    check_shares(t, &g, 2, (struct share[]){{0xff, "0-1"}, {0xff00, "24-25"}}, "DGX-2");
    check_shares(t, &g, 4, (struct share[]){{0xf, "0"}, {0xf0, "1"}, {0xf00, "24"}, {0xf000, "25"}},
                 "DGX-2");
    free(t);
}

static void test_assign_power8_and_cpu_only(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("power8gpudistances.xml");
    struct wfmpi_topo_given g;
    given_all(t, &g);
    check_shares(
        t, &g, 4,
        (struct share[]){
            {0x1, "0-1,8-9"}, {0x2, "16-17,24-25"}, {0x4, "80-81,88-89"}, {0x8, "96-97,104-105"}},
        "POWER8");
    check_shares(t, &g, 2,
                 (struct share[]){{0x3, "0-1,8-9,16-17,24-25"}, {0xc, "80-81,88-89,96-97,104-105"}},
                 "POWER8");
    free(t);

    t = load("96em64t-4n4d3ca2co-pci.xml");
    given_all(t, &g);
    check_shares(t, &g, 4, (struct share[]){{0, "0-23"}, {0, "24-47"}, {0, "48-71"}, {0, "72-95"}},
                 "96em64t");
    free(t);

    t = load("24em64t-2n6c2t-pci.xml");
    given_all(t, &g);
    check_shares(t, &g, 2,
                 (struct share[]){{0, "0,2,4,6,8,10,12,14,16,18,20,22"},
                                  {0, "1,3,5,7,9,11,13,15,17,19,21,23"}},
                 "24em64t");
    /* More ranks than cores: ranks share cores, none is left without one. */
    struct wfmpi_topo_rank out;
    assert_int_equal(wfmpi_topo_assign(t, &g, 30, 29, &out), 0);
    assert_int_equal(wfmpi_topo_cpuset_count(&out.cpus), 2);
    assert_int_equal(wfmpi_topo_assign(t, &g, 2, 2, &out), WFMPI_E_INPUT);
    assert_int_equal(wfmpi_topo_assign(t, &g, 0, 0, &out), WFMPI_E_INPUT);
    free(t);
}

/* -------------------------------------------------------- what was given */

static void test_visible_gpus(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("gpuA100x4-synthetic.xml");
    assert_int_equal(wfmpi_topo_visible_gpus(t, NULL, NULL, NULL), 0xf);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "2,3", NULL, NULL), 0xc);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "", NULL, NULL), 0);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "3, 1", NULL, NULL), 0xa);
    /* UUIDs and unique prefixes, as CUDA accepts them. */
    assert_int_equal(
        wfmpi_topo_visible_gpus(t, "GPU-a1000002-0000-4000-8000-000000000002", NULL, NULL), 0x4);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "GPU-a1000001,0", NULL, NULL), 0x3);
    /* An invalid entry ends the list (CUDA does the same). */
    assert_int_equal(wfmpi_topo_visible_gpus(t, "1,7,2", NULL, NULL), 0x2);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "GPU-a", NULL, NULL), 0); /* ambiguous */
    /* Slurm's lists when CUDA_VISIBLE_DEVICES is unset. */
    assert_int_equal(wfmpi_topo_visible_gpus(t, NULL, "1-2", "0-3"), 0x6);
    assert_int_equal(wfmpi_topo_visible_gpus(t, NULL, NULL, "0,3"), 0x9);
    assert_int_equal(wfmpi_topo_visible_gpus(t, "0", "1", "2"), 0x1);
    free(t);
}

static void test_assign_respects_given(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("gpuA100x4-synthetic.xml");
    struct wfmpi_topo_given g;
    given_all(t, &g);
    g.gpus = wfmpi_topo_visible_gpus(t, "2,3", NULL, NULL);
    /* GPUs 0 and 1 are not ours: 4 ranks, two of them CPU-only. */
    check_shares(t, &g, 4,
                 (struct share[]){{0x4, "32-47"}, {0x8, "48-63"}, {0, "0-15"}, {0, "16-31"}},
                 "A100x4 CUDA_VISIBLE_DEVICES=2,3");
    check_shares(t, &g, 2, (struct share[]){{0x4, "0-7,16-23,32-47"}, {0x8, "8-15,24-31,48-63"}},
                 "A100x4 CUDA_VISIBLE_DEVICES=2,3");
    /* srun --cpu-bind gave this group only NUMA domain 1's cores. */
    assert_int_equal(wfmpi_topo_cpuset_parse("16-31", &g.cpus), 0);
    check_shares(t, &g, 2, (struct share[]){{0x4, "16-23"}, {0x8, "24-31"}},
                 "A100x4 GPUs 2,3, cores 16-31");
    free(t);
}

/* ----------------------------------------------------- cpusets and tasks */

static void test_cpuset_lists(void **state)
{
    (void)state;
    struct wfmpi_topo_cpuset s;
    char buf[64];
    assert_int_equal(wfmpi_topo_cpuset_parse("0-3,8,10-11", &s), 0);
    assert_int_equal(wfmpi_topo_cpuset_count(&s), 7);
    assert_int_equal(wfmpi_topo_cpuset_format(&s, buf, sizeof(buf)), 11);
    assert_string_equal(buf, "0-3,8,10-11");
    assert_int_equal(wfmpi_topo_cpuset_format(&s, buf, 4), WFMPI_E_LIMIT);
    assert_string_equal(buf, "");
    assert_int_equal(wfmpi_topo_cpuset_parse("", &s), 0);
    assert_int_equal(wfmpi_topo_cpuset_count(&s), 0);
    static const char *const bad[] = {"a", "3-1", "1,,2", "-1", "1-", "99999", "1;2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(wfmpi_topo_cpuset_parse(bad[i], &s), WFMPI_E_INPUT);
}

static void test_pick_cores(void **state)
{
    (void)state;
    struct wfmpi_topo *t = load("24em64t-2n6c2t-pci.xml");
    struct wfmpi_topo_cpuset pool, out;
    char buf[128];
    /* Package 0's cores: PU pairs (0,12) (2,14) (4,16) (6,18) (8,20) (10,22). */
    assert_int_equal(wfmpi_topo_cpuset_parse("0,2,4,6,8,10,12,14,16,18,20,22", &pool), 0);
    uint32_t next = wfmpi_topo_pick_cores(t, &pool, 2, 0, &out);
    wfmpi_topo_cpuset_format(&out, buf, sizeof(buf));
    assert_string_equal(buf, "0,2,12,14");
    assert_int_equal(next, 2);
    next = wfmpi_topo_pick_cores(t, &pool, 3, 5, &out); /* wraps */
    wfmpi_topo_cpuset_format(&out, buf, sizeof(buf));
    assert_string_equal(buf, "0,2,10,12,14,22");
    assert_int_equal(next, 2);
    wfmpi_topo_pick_cores(t, &pool, 6, 3, &out); /* all of it */
    assert_memory_equal(&out, &pool, sizeof(pool));
    wfmpi_topo_pick_cores(t, &pool, 0, 3, &out);
    assert_memory_equal(&out, &pool, sizeof(pool));
    free(t);
}

/* Exact core sets: on every fixture, a random mix of tasks taking and
 * freeing cores from rank pools never gives one PU to two live tasks, takes
 * a task's cores from its own pool while the pool has them free, and
 * spills nearest first. */
static bool overlaps(const struct wfmpi_topo_cpuset *a, const struct wfmpi_topo_cpuset *b)
{
    for (size_t w = 0; w < WFMPI_TOPO_CPUSET_WORDS; w++)
        if (a->w[w] & b->w[w])
            return true;
    return false;
}

static void pick_free_mix(const char *file, uint32_t n_ranks)
{
    struct wfmpi_topo *t = load(file);
    struct wfmpi_topo_given g;
    given_all(t, &g);
    struct wfmpi_topo_rank *share = calloc(n_ranks, sizeof(*share));
    assert_non_null(share);
    for (uint32_t r = 0; r < n_ranks; r++)
        assert_int_equal(wfmpi_topo_assign(t, &g, n_ranks, r, &share[r]), 0);
    enum { LIVE = 64 };
    struct wfmpi_topo_cpuset live[LIVE], busy, out;
    uint32_t n = 0, seed = 3, spills = 0;
    wfmpi_topo_cpuset_zero(&busy);
    for (int step = 0; step < 3000; step++) {
        seed = seed * 1103515245u + 12345u;
        if (n > 0 && (n == LIVE || (seed >> 9) % 3 == 0)) { /* one ends */
            uint32_t i = (seed >> 12) % n;
            for (size_t w = 0; w < WFMPI_TOPO_CPUSET_WORDS; w++)
                busy.w[w] &= ~live[i].w[w];
            live[i] = live[--n];
            continue;
        }
        uint32_t r = (seed >> 12) % n_ranks, want = 1 + (seed >> 20) % 4;
        const struct wfmpi_topo_cpuset *pool = &share[r].cpus;
        uint32_t got = wfmpi_topo_pick_free_cores(t, pool, &g.cpus, &busy, want, &out);
        if (got < want)
            continue; /* the node is full: the scheduler would not place it */
        assert_false(overlaps(&out, &busy));
        /* Free cores of the pool are used before any outside it. */
        struct wfmpi_topo_cpuset in_pool = out;
        wfmpi_topo_cpuset_and(&in_pool, pool);
        bool spilled = wfmpi_topo_cpuset_count(&in_pool) < wfmpi_topo_cpuset_count(&out);
        if (spilled) {
            struct wfmpi_topo_cpuset free_pool;
            uint32_t room = wfmpi_topo_pick_free_cores(t, pool, pool, &busy, 1000, &free_pool);
            assert_true(room < want); /* it spilled only because the pool was short */
            spills++;
        }
        for (size_t w = 0; w < WFMPI_TOPO_CPUSET_WORDS; w++)
            busy.w[w] |= out.w[w];
        live[n++] = out;
        for (uint32_t i = 0; i + 1 < n; i++)
            assert_false(overlaps(&live[i], &out));
    }
    assert_true(spills > 0);
    free(share);
    free(t);
}

static void test_pick_free_cores(void **state)
{
    (void)state;
    pick_free_mix("24em64t-2n6c2t-pci.xml", 4);
    pick_free_mix("96em64t-4n4d3ca2co-pci.xml", 8);
    pick_free_mix("gpuA100x4-synthetic.xml", 4);
    pick_free_mix("nvidiaDGX2.xml", 16);
    pick_free_mix("power8gpudistances.xml", 4);
    /* A pool with one free core and a task of two: the second core comes
     * from the pool's own package, not the other one. */
    struct wfmpi_topo *t = load("24em64t-2n6c2t-pci.xml");
    struct wfmpi_topo_cpuset pool, node, busy, out;
    char buf[128];
    wfmpi_topo_all_cpus(t, &node);
    assert_int_equal(wfmpi_topo_cpuset_parse("0,12,2,14", &pool), 0);
    assert_int_equal(wfmpi_topo_cpuset_parse("0,12", &busy), 0);
    assert_int_equal(wfmpi_topo_pick_free_cores(t, &pool, &node, &busy, 2, &out), 2);
    wfmpi_topo_cpuset_format(&out, buf, sizeof(buf));
    assert_string_equal(buf, "2,4,14,16"); /* core (2,14) of the pool, then (4,16) */
    free(t);
}

static void test_bind_only_existing(void **state)
{
    (void)state;
    struct wfmpi_topo_cpuset want, existing;
    struct wfmpi_error err = {0};
    /* CPUs of an XML machine that this machine does not have: nothing bound. */
    wfmpi_topo_cpuset_parse("1000-1003", &want);
    wfmpi_topo_cpuset_parse("0", &existing);
    assert_int_equal(wfmpi_topo_bind(&want, &existing, &err), 0);
}

/* The scheduler's GPU choice with the NUMA groups start-up gives it. */
static void test_pick_gpus_near(void **state)
{
    (void)state;
    static const uint32_t dgx[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    /* Group 1 has 3 free, group 0 has 5: the tighter group that fits. */
    assert_int_equal(sched_pick_gpus_near(0x0e1f, 3, 16, dgx), 0x0e00);
    /* No group has 4 free: adjacent run / lowest, as without groups. */
    assert_int_equal(sched_pick_gpus_near(0x0707, 4, 16, dgx), sched_pick_gpus(0x0707, 4, 16));
    /* A group run is preferred to a lower run that crosses groups. */
    assert_int_equal(sched_pick_gpus_near(0x3f80, 2, 16, dgx), 0x0300);
    static const uint32_t a100[4] = {0, 1, 2, 3};
    assert_int_equal(sched_pick_gpus_near(0xf, 2, 4, a100), 0x3);
    assert_int_equal(sched_pick_gpus_near(0xd, 1, 4, a100), 0x1);
    assert_int_equal(sched_pick_gpus_near(0xd, 2, 4, NULL), 0xc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discover_a100),   cmocka_unit_test(test_discover_others),
        cmocka_unit_test(test_bad_xml),         cmocka_unit_test(test_assign_a100),
        cmocka_unit_test(test_assign_dgx2),     cmocka_unit_test(test_assign_power8_and_cpu_only),
        cmocka_unit_test(test_visible_gpus),    cmocka_unit_test(test_assign_respects_given),
        cmocka_unit_test(test_cpuset_lists),    cmocka_unit_test(test_pick_cores),
        cmocka_unit_test(test_pick_free_cores), cmocka_unit_test(test_bind_only_existing),
        cmocka_unit_test(test_pick_gpus_near),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
