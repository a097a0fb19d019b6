/* Unit tests for the workflow loader: every real workflow in tests/data,
 * specific fields, the hostile-input limits, and the bad-input corpus
 * (tests/data/bad/loader.expected). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfmpi/wf.h"

#define WFS WFMPI_TEST_DATA "/workflows"
#define PT WFS "/pegasus-tests/"
#define AX WFS "/access-examples/"

static struct wfmpi_wf *load_ok(const char *path)
{
    struct wfmpi_error err = {0};
    struct wfmpi_wf *wf = wfmpi_wf_load(path, NULL, &err);
    if (!wf)
        fail_msg("%s: %s", path, err.text);
    return wf;
}

static struct wfmpi_wf *buf_ok(const char *text)
{
    struct wfmpi_error err = {0};
    struct wfmpi_wf_options opt = {.no_default_catalogs = 1};
    struct wfmpi_wf *wf = wfmpi_wf_load_buffer("buf.yml", text, strlen(text), &opt, &err);
    if (!wf)
        fail_msg("%s", err.text);
    return wf;
}

/* Load text that must fail; returns the code, message into err. */
static int buf_fail(const char *text, size_t len, struct wfmpi_error *err)
{
    struct wfmpi_wf_options opt = {.no_default_catalogs = 1};
    struct wfmpi_wf *wf = wfmpi_wf_load_buffer("buf.yml", text, len, &opt, err);
    if (wf) {
        wfmpi_wf_destroy(wf);
        fail_msg("loaded although it should not: %.200s", text);
    }
    return err->code;
}

static const struct wfmpi_wf_job *job_by_id(const struct wfmpi_wf *wf, const char *id)
{
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    for (uint32_t i = 0; i < v->n_jobs; i++)
        if (!strcmp(wfmpi_wf_str(wf, v->jobs[i].id), id))
            return &v->jobs[i];
    fail_msg("no job %s", id);
    return NULL;
}

static const char *arg(const struct wfmpi_wf *wf, const struct wfmpi_wf_job *j, uint32_t i)
{
    assert_true(i < j->args.count);
    return wfmpi_wf_str(wf, wfmpi_wf_view(wf)->args[j->args.first + i]);
}

/* Value of ns.key in a range of profiles, NULL when absent. */
static const char *prof(const struct wfmpi_wf *wf, struct wfmpi_wf_range r, const char *ns,
                        const char *key)
{
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    for (uint32_t i = r.first; i < r.first + r.count; i++) {
        const struct wfmpi_wf_profile *p = &v->profiles_all[i];
        if (!strcmp(wfmpi_wf_str(wf, p->ns), ns) && !strcmp(wfmpi_wf_str(wf, p->key), key))
            return wfmpi_wf_str(wf, p->value);
    }
    return NULL;
}

/* ------------------------------------------------------- real workflows */

struct expect_counts {
    const char *path;
    uint32_t jobs, deps;
};

static void test_real_workflow_counts(void **state)
{
    (void)state;
    static const struct expect_counts cases[] = {
        {PT "01-etc-diamond-inline-catalogs-hooks.yml", 4, 4},
        {PT "02-junit-diamond-untyped-jobs.yml", 4, 4},
        {PT "03-flowstyle-diamond-unicode-metadata.yml", 4, 4},
        {PT "04-shell-inner-20jobs-runtime-profiles.yml", 20, 16},
        {PT "05-analyzer-hierarchical/workflow.yml", 3, 2},
        {PT "05-analyzer-hierarchical/inner_diamond_workflow.yml", 4, 4},
        {PT "06-analyzer-single-job-stdout.yml", 1, 0},
        {PT "07-pmc-profiles-48jobs.yml", 48, 80},
        {PT "08-pmc-only-40jobs-file-flow.yml", 40, 20},
        {PT "09-checkpoint-file-and-time.yml", 1, 0},
        {PT "10-dynamic-hierarchy/workflow.yml", 4, 3},
        {PT "10-dynamic-hierarchy/inner_sleep_workflow.yml", 2, 1},
        {PT "10-dynamic-hierarchy/inner_diamond_workflow.yml", 4, 4},
        {PT "11-local-hierarchy/workflow.yml", 2, 1},
        {PT "11-local-hierarchy/blackdiamond.yml", 4, 4},
        {PT "11-local-hierarchy/sleep.yml", 2, 1},
        {PT "12-runtime-clustering-20jobs.yml", 20, 16},
        {PT "13-synthetic-80jobs-3levels.yml", 80, 70},
        {PT "14-unicode-diamond.yml", 4, 4},
        {PT "15-metadata-int-size.yml", 4, 4},
        {AX "llm-rag/workflow.yml", 6, 0},
        {AX "lung-segmentation/workflow.yml", 7, 10},
        {AX "mask-detection/workflow.yml", 8, 9},
        {AX "orcasound/workflow.yml", 20, 27},
        {AX "montage/workflow.yml", 259, 618},
        {AX "rosetta/workflow.yml", 30, 0},
        {AX "variant-calling/workflow.yml", 13, 12},
        {AX "alphafold/workflow.yml", 8, 11},
        {AX "crophealth-training/workflow.yml", 2, 1},
        {AX "crophealth-inference/workflow.yml", 10, 0},
        {AX "pytorch-gpu/workflow.yml", 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wfmpi_wf *wf = load_ok(cases[i].path);
        const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
        if (v->n_jobs != cases[i].jobs || v->n_deps != cases[i].deps)
            fail_msg("%s: %u jobs %u deps", cases[i].path, v->n_jobs, v->n_deps);
        assert_string_equal(wfmpi_wf_str(wf, v->path), cases[i].path);
        wfmpi_wf_destroy(wf);
    }
}

static void test_01_inline_catalogs(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "01-etc-diamond-inline-catalogs-hooks.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_string_equal(wfmpi_wf_str(wf, v->name), "diamond");
    assert_string_equal(wfmpi_wf_str(wf, v->pegasus_version), "5.0");
    const struct wfmpi_wf_job *j = job_by_id(wf, "ID000001");
    assert_int_equal(j->args.count, 11);
    assert_string_equal(arg(wf, j, 9), "1");
    assert_string_equal(arg(wf, j, 10), "1.1");
    assert_string_equal(wfmpi_wf_str(wf, j->stdin_lfn), "stdin_file.txt");
    assert_string_equal(wfmpi_wf_str(wf, j->name), "preprocess");
    assert_string_equal(wfmpi_wf_str(wf, j->ns), "diamond");
    assert_string_equal(wfmpi_wf_str(wf, j->version), "2.0");
    assert_int_equal(j->uses.count, 4);
    const struct wfmpi_wf_use *u = &v->uses[j->uses.first + 1];
    assert_string_equal(wfmpi_wf_str(wf, u->lfn), "f.b2");
    assert_int_equal(u->link, WFMPI_WF_LINK_OUTPUT);
    assert_int_equal(u->flags, WFMPI_WF_USE_STAGE_OUT);
    u = &v->uses[j->uses.first + 2];
    assert_string_equal(prof(wf, u->metadata, "", "size"), "2048");
    u = &v->uses[j->uses.first + 3];
    assert_int_equal(u->flags, WFMPI_WF_USE_STAGE_OUT | WFMPI_WF_USE_REGISTER_REPLICA);
    /* Positions: the job mapping and its id value. */
    assert_int_equal(j->pos.line, 87);
    assert_int_equal(j->pos.col, 5);
    assert_int_equal(j->id_pos.line, 88);
    assert_int_equal(j->id_pos.col, 9);
    char buf[256];
    assert_string_equal(wfmpi_wf_pos_str(wf, j->id_pos, buf, sizeof(buf)),
                        PT "01-etc-diamond-inline-catalogs-hooks.yml:88:9");
    /* Workflow-level profile, metadata and hook. */
    assert_string_equal(prof(wf, v->profiles, "env", "JAVA_HOME"), "/opt/java/1.6");
    assert_string_equal(prof(wf, v->metadata, "", "createdBy"), "ryan");
    assert_int_equal(v->hooks.count, 1);
    assert_string_equal(wfmpi_wf_str(wf, v->hooks_all[v->hooks.first].on), "error");
    /* Transformation catalog: keg on site isi runs in container centos-pegasus. */
    assert_int_equal(v->n_transformations, 2);
    const struct wfmpi_wf_transformation *t = &v->transformations[0];
    assert_string_equal(wfmpi_wf_str(wf, t->name), "keg");
    assert_string_equal(wfmpi_wf_str(wf, t->ns), "example");
    assert_int_equal(t->requires.count, 1);
    assert_string_equal(wfmpi_wf_str(wf, v->strs[t->requires.first]), "anotherTr");
    assert_int_equal(t->sites.count, 1);
    const struct wfmpi_wf_tc_site *s = &v->tc_sites[t->sites.first];
    assert_string_equal(wfmpi_wf_str(wf, s->name), "isi");
    assert_string_equal(wfmpi_wf_str(wf, s->pfn), "/path/to/keg");
    assert_string_equal(wfmpi_wf_str(wf, s->container), "centos-pegasus");
    assert_string_equal(wfmpi_wf_str(wf, s->os_version), "4");
    assert_int_equal(s->type, WFMPI_WF_TC_INSTALLED);
    assert_string_equal(prof(wf, s->profiles, "condor", "FOO"), "bar");
    assert_string_equal(prof(wf, t->profiles, "env", "APP_HOME"), "/tmp/myscratch");
    assert_int_equal(v->n_containers, 1);
    assert_string_equal(wfmpi_wf_str(wf, v->containers[0].type), "docker");
    assert_int_equal(v->containers[0].mounts.count, 1);
    assert_int_equal(v->n_replicas, 1);
    assert_string_equal(wfmpi_wf_str(wf, v->replicas[0].site), "local");
    assert_int_equal(v->n_sites, 0); /* $ref ignored */
    /* Dependencies come before jobs in this file. */
    const struct wfmpi_wf_dep *d = &v->deps[0];
    assert_string_equal(wfmpi_wf_str(wf, v->jobs[d->parent].id), "ID000001");
    assert_string_equal(wfmpi_wf_str(wf, v->jobs[d->child].id), "ID000002");
    size_t len;
    assert_non_null(wfmpi_wf_text(wf, &len));
    assert_true(len > 3000);
    wfmpi_wf_destroy(wf);
}

static void test_02_untyped_jobs(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "02-junit-diamond-untyped-jobs.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    for (uint32_t i = 0; i < v->n_jobs; i++)
        assert_int_equal(v->jobs[i].type, WFMPI_WF_JOB);
    wfmpi_wf_destroy(wf);
}

static void test_03_flow_style_cjk(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "03-flowstyle-diamond-unicode-metadata.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_string_equal(wfmpi_wf_str(wf, v->pegasus_version), "5.0.4");
    const struct wfmpi_wf_job *j = job_by_id(wf, "ID0000001");
    assert_int_equal(j->uses.count, 3);
    const struct wfmpi_wf_use *u = &v->uses[j->uses.first + 1];
    assert_string_equal(wfmpi_wf_str(wf, u->lfn), "f.a");
    assert_string_equal(prof(wf, u->metadata, "", "㐦"), "㒦");
    u = &v->uses[j->uses.first];
    assert_int_equal(u->flags, WFMPI_WF_USE_STAGE_OUT | WFMPI_WF_USE_REGISTER_REPLICA);
    assert_int_equal(u->pos.line, 12);
    assert_int_equal(u->pos.col, 11);
    wfmpi_wf_destroy(wf);
}

static void test_05_subworkflow(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "05-analyzer-hierarchical/workflow.yml");
    const struct wfmpi_wf_job *j = job_by_id(wf, "diamond_subworkflow");
    assert_int_equal(j->type, WFMPI_WF_PEGASUS_WORKFLOW);
    assert_string_equal(wfmpi_wf_str(wf, j->file), "inner_diamond_workflow.yml");
    const struct wfmpi_wf_use *u = &wfmpi_wf_view(wf)->uses[j->uses.first + 1];
    assert_true(u->flags & WFMPI_WF_USE_FOR_PLANNING);
    assert_string_equal(wfmpi_wf_str(wf, job_by_id(wf, "ID0000002")->stdout_lfn), "count.txt");
    wfmpi_wf_destroy(wf);
}

static void test_07_pmc_profiles(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "07-pmc-profiles-48jobs.yml");
    const struct wfmpi_wf_job *j = job_by_id(wf, "ID0000001");
    assert_string_equal(prof(wf, j->profiles, "pegasus", "pmc_request_memory"), "1");
    assert_string_equal(prof(wf, j->profiles, "pegasus", "pmc_request_cpus"), "2");
    assert_string_equal(prof(wf, j->profiles, "pegasus", "pmc_priority"), "1");
    assert_string_equal(prof(wf, j->profiles, "pegasus", "pmc_task_arguments"), "--tries 3");
    assert_string_equal(prof(wf, j->profiles, "pegasus", "label"), "dag_0");
    wfmpi_wf_destroy(wf);
}

static void test_09_checkpoint(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "09-checkpoint-file-and-time.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    const struct wfmpi_wf_job *j = &v->jobs[0];
    bool found = false;
    for (uint32_t i = 0; i < j->uses.count; i++)
        found |= v->uses[j->uses.first + i].link == WFMPI_WF_LINK_CHECKPOINT;
    assert_true(found);
    assert_string_equal(prof(wf, j->profiles, "pegasus", "maxwalltime"), "2");
    wfmpi_wf_destroy(wf);
}

static void test_14_utf8_names(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "14-unicode-diamond.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_string_equal(wfmpi_wf_str(wf, v->name), "blÅckƊiamond㒀㑖");
    const struct wfmpi_wf_job *j = job_by_id(wf, "ID0000001");
    assert_string_equal(wfmpi_wf_str(wf, j->ns), "pέgasuζ");
    assert_string_equal(wfmpi_wf_str(wf, j->name), "pЯёprocess");
    assert_string_equal(wfmpi_wf_str(wf, v->uses[j->uses.first].lfn), "f.å");
    wfmpi_wf_destroy(wf);
}

static void test_15_int_size(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(PT "15-metadata-int-size.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    const struct wfmpi_wf_job *j = job_by_id(wf, "ID0000001");
    const struct wfmpi_wf_use *u = &v->uses[j->uses.first];
    assert_int_equal(u->size, 1024);
    assert_string_equal(prof(wf, u->metadata, "", "raw_input"), "true");
    assert_string_equal(prof(wf, j->metadata, "", "time"), "60");
    assert_string_equal(prof(wf, v->metadata, "", "label"), "keg-diamond");
    wfmpi_wf_destroy(wf);
}

/* Catalog files beside the workflow are found by Pegasus's default names. */
static void test_access_catalog_files(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(AX "alphafold/workflow.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_int_equal(v->n_transformations, 8);
    assert_int_equal(v->n_sites, 3);
    assert_int_equal(v->n_containers, 1);
    const struct wfmpi_wf_container *c = &v->containers[0];
    assert_string_equal(wfmpi_wf_str(wf, c->type), "singularity");
    assert_string_equal(wfmpi_wf_str(wf, c->image_site), "psc");
    assert_int_equal(c->bypass, 1);
    assert_true(v->n_replicas > 0);
    const struct wfmpi_wf_site *s = &v->sites[0];
    assert_string_equal(wfmpi_wf_str(wf, s->name), "local");
    assert_int_equal(s->directories.count, 2);
    const struct wfmpi_wf_directory *d = &v->directories[s->directories.first];
    assert_string_equal(wfmpi_wf_str(wf, d->type), "sharedScratch");
    assert_int_equal(d->shared_file_system, 1);
    assert_int_equal(d->file_servers.count, 1);
    assert_string_equal(wfmpi_wf_str(wf, v->file_servers[d->file_servers.first].operation), "all");
    char buf[512];
    wfmpi_wf_pos_str(wf, v->transformations[0].pos, buf, sizeof(buf));
    assert_non_null(strstr(buf, "alphafold/transformations.yml:"));
    wfmpi_wf_destroy(wf);

    /* no_default_catalogs, and explicit catalog files. */
    struct wfmpi_error err = {0};
    struct wfmpi_wf_options opt = {.no_default_catalogs = 1};
    wf = wfmpi_wf_load(AX "alphafold/workflow.yml", &opt, &err);
    assert_non_null(wf);
    assert_int_equal(wfmpi_wf_view(wf)->n_transformations, 0);
    wfmpi_wf_destroy(wf);
    opt.tc_file = AX "pytorch-gpu/transformations.yml";
    wf = wfmpi_wf_load(AX "alphafold/workflow.yml", &opt, &err);
    assert_non_null(wf);
    assert_int_equal(wfmpi_wf_view(wf)->n_transformations, 1);
    wfmpi_wf_destroy(wf);
    opt.tc_file = AX "nonexistent/transformations.yml";
    assert_null(wfmpi_wf_load(AX "alphafold/workflow.yml", &opt, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT); /* a --tc naming nothing is bad input */
    assert_non_null(strstr(err.text, "nonexistent/transformations.yml"));
}

static void test_variant_calling_inline_sc(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = load_ok(AX "variant-calling/workflow.yml");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_int_equal(v->n_sites, 2);
    assert_string_equal(wfmpi_wf_str(wf, v->sites[0].name), "osn");
    assert_string_equal(prof(wf, v->sites[1].profiles, "pegasus", "pegasus_lite_env_source"),
                        "/tmp/scratch/home/ACCESS-Pegasus-Examples/Bioinformatics/tools/"
                        "job-env-setup.sh");
    wfmpi_wf_destroy(wf);
}

static void test_16_100k_jobs(void **state)
{
    (void)state;
    char tmp[] = "/tmp/wfmpi-test-16-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "gzip -dc '%s' > '%s'", PT "16-100k-independent-jobs.yml.gz", tmp);
    assert_int_equal(system(cmd), 0);
    double t0 = wfmpi_mono();
    struct wfmpi_wf *wf = load_ok(tmp);
    double dt = wfmpi_mono() - t0;
    unlink(tmp);
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_int_equal(v->n_jobs, 100000);
    assert_int_equal(v->n_deps, 0);
    assert_int_equal(v->n_uses, 100000);
    assert_string_equal(wfmpi_wf_str(wf, v->jobs[99999].id), "ID0100000");
    print_message("    100k jobs loaded in %.2f s\n", dt);
    wfmpi_wf_destroy(wf);
}

/* ------------------------------------------------------------ accepted */

static void test_accepts_quirks(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = buf_ok("pegasus: 5.0\n"
                                 "name: q\n"
                                 "x-anything: {a: [1, 2]}\n"
                                 "x-tool: &d true-tool\n"
                                 "siteCatalog:\n"
                                 "jobs:\n"
                                 "- {id: a, name: true-tool, arguments: [1, 2.50, -x, '']}\n"
                                 "- id: b\n"
                                 "  name: *d\n"
                                 "  uses: [{type: input, lfn: f, size: '7', optional: yes}]\n"
                                 "jobDependencies: [{id: a, children: [b, b]}]\n");
    (void)wf;
    wfmpi_wf_destroy(wf);
}

/* Environment names: the value may hold '=' and anything else but NUL; the
 * name keeps to the schema's alphabet (the refused ones are in the corpus). */
static void test_env_names(void **state)
{
    (void)state;
    struct wfmpi_wf *wf =
        buf_ok("pegasus: '5.0'\n"
               "name: env\n"
               "jobs:\n"
               "- id: a\n"
               "  name: t\n"
               "  profiles:\n"
               "    env: {OPTS: '-Dx=1 -Dy=2', my.var-2: ok, _U: '', x-note: [1]}\n");
    const struct wfmpi_wf_job *j = job_by_id(wf, "a");
    assert_string_equal(prof(wf, j->profiles, "env", "OPTS"), "-Dx=1 -Dy=2");
    assert_string_equal(prof(wf, j->profiles, "env", "my.var-2"), "ok");
    assert_string_equal(prof(wf, j->profiles, "env", "_U"), "");
    assert_null(prof(wf, j->profiles, "env", "x-note"));
    wfmpi_wf_destroy(wf);
    struct wfmpi_error err = {0};
    const char *bad = "pegasus: '5.0'\nname: e\njobs: [{id: a, name: t, profiles: {env: "
                      "{'A=B': c}}}]\n";
    assert_int_equal(buf_fail(bad, strlen(bad), &err), WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "buf.yml:3:42: invalid environment variable name 'A=B'"));
}

/* Unknown keys: warnings with "did you mean" by default (the first
 * WF_MAX_KEY_WARNINGS of a load, then a count), errors when strict; x- keys
 * and free-form maps (metadata, profile keys) never count. The log goes to
 * a file here so the warnings can be read back. */
static char *load_logged(const char *text, int strict, struct wfmpi_wf **wf,
                         struct wfmpi_error *err)
{
    FILE *log = tmpfile();
    assert_non_null(log);
    wfmpi_log_set_file(log, WFMPI_LOG_ERROR);
    struct wfmpi_wf_options opt = {.no_default_catalogs = 1, .strict = strict};
    *wf = wfmpi_wf_load_buffer("buf.yml", text, strlen(text), &opt, err);
    wfmpi_log_set_file(NULL, WFMPI_LOG_DEBUG);
    long len = ftell(log);
    assert_true(len >= 0);
    char *out = calloc(1, (size_t)len + 1);
    assert_non_null(out);
    rewind(log);
    assert_int_equal(fread(out, 1, (size_t)len, log), (size_t)len);
    fclose(log);
    return out;
}

static void test_unknown_keys(void **state)
{
    (void)state;
    const char *text = "pegasus: '5.0'\n"
                       "name: k\n"
                       "x-pegasus: {apiLang: python}\n"
                       "metadata: {anything: 1, x-y: 2}\n"
                       "jobs:\n"
                       "- id: a\n"
                       "  name: t\n"
                       "  argumnets: [x]\n"
                       "  x-mine: [1]\n"
                       "  profiles: {pegasuss: {cores: 1}, x-p: 1, env: {FREE_FORM: 1}}\n"
                       "  uses: [{lfn: f, type: output, stageout: false, zzzz: 1}]\n";
    struct wfmpi_error err = {0};
    struct wfmpi_wf *wf;
    char *log = load_logged(text, 0, &wf, &err);
    if (!wf)
        fail_msg("%s", err.text);
    wfmpi_wf_destroy(wf);
    assert_non_null(
        strstr(log, "buf.yml:8:3: unknown key 'argumnets' in job; did you mean 'arguments'?"));
    assert_non_null(
        strstr(log, "buf.yml:10:14: unknown key 'pegasuss' in profiles; did you mean 'pegasus'?"));
    assert_non_null(strstr(log, "unknown key 'stageout' in uses entry; did you mean 'stageOut'?"));
    assert_non_null(strstr(log, "unknown key 'zzzz' in uses entry (ignored)"));
    assert_null(strstr(log, "x-"));
    assert_null(strstr(log, "anything"));
    assert_null(strstr(log, "FREE_FORM"));
    free(log);
    /* Strict: the first one is the error, nothing loads. */
    log = load_logged(text, 1, &wf, &err);
    assert_null(wf);
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text,
                        "buf.yml:8:3: unknown key 'argumnets' in job; did you mean 'arguments'?");
    assert_string_equal(log, "");
    free(log);
    /* 30 jobs with the same slip: 20 warnings, then a count. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof(big), "pegasus: '5.0'\nname: many\njobs:\n");
    for (int i = 0; i < 30; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "- {id: j%d, name: t, use: []}\n", i);
    log = load_logged(big, 0, &wf, &err);
    assert_non_null(wf);
    wfmpi_wf_destroy(wf);
    int lines = 0;
    for (const char *p = log; (p = strstr(p, "did you mean 'uses'?")); p++)
        lines++;
    assert_int_equal(lines, 20);
    assert_non_null(strstr(log, "buf.yml: 10 more unknown keys ignored (not shown)"));
    free(log);
    /* A key too long to quote whole is cut. */
    char longkey[600];
    memset(longkey, 'k', 300);
    longkey[300] = '\0';
    char doc[1024];
    snprintf(doc, sizeof(doc), "pegasus: '5.0'\nname: l\njobs: [{id: a, name: t, %s: 1}]\n",
             longkey);
    log = load_logged(doc, 1, &wf, &err);
    assert_null(wf);
    free(log);
    assert_non_null(strstr(err.text, "kkk...' in job"));
    assert_true(strlen(err.text) < 200);
}

/* ---------------------------------------------------------------- limits */

static void test_limit_billion_laughs(void **state)
{
    (void)state;
    /* x- keys: any other key at the top level is refused before its value
     * is even built. */
    const char *text = "x-a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "x-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "x-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "x-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "x-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "x-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "x-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "x-h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                       "x-i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    struct wfmpi_error err = {0};
    double t0 = wfmpi_mono();
    assert_int_equal(buf_fail(text, strlen(text), &err), WFMPI_E_LIMIT);
    assert_true(wfmpi_mono() - t0 < 2.0);
    assert_non_null(strstr(err.text, "buf.yml:"));
    assert_non_null(strstr(err.text, "aliases"));
}

static void test_limit_deep_nesting(void **state)
{
    (void)state;
    const size_t n = 1000000;
    char *text = malloc(2 * n + 16);
    assert_non_null(text);
    memset(text, '[', n);
    memset(text + n, ']', n);
    struct wfmpi_error err = {0};
    double t0 = wfmpi_mono();
    assert_int_equal(buf_fail(text, 2 * n, &err), WFMPI_E_LIMIT);
    assert_true(wfmpi_mono() - t0 < 2.0);
    assert_non_null(strstr(err.text, "buf.yml:1:65:"));
    /* Flow mappings, 250000 deep, under an x- key (any other is refused
     * before its value is built). */
    memcpy(text, "{x-a: ", 6);
    size_t len = 6;
    for (size_t i = 0; i < n / 4; i++, len += 4)
        memcpy(text + len, "{a: ", 4);
    assert_int_equal(buf_fail(text, len, &err), WFMPI_E_LIMIT);
    free(text);
}

static void test_limit_giant_scalar(void **state)
{
    (void)state;
    const size_t n = (size_t)20 << 20;
    const char *head = "pegasus: '5.0'\nname: ";
    char *text = malloc(strlen(head) + n + 1);
    assert_non_null(text);
    strcpy(text, head);
    memset(text + strlen(head), 'a', n);
    struct wfmpi_error err = {0};
    double t0 = wfmpi_mono();
    assert_int_equal(buf_fail(text, strlen(head) + n, &err), WFMPI_E_LIMIT);
    assert_true(wfmpi_mono() - t0 < 5.0);
    assert_non_null(strstr(err.text, "buf.yml:"));
    /* Quoted, and the same bound in a sequence item. */
    memcpy(text + strlen(head), "\"", 1);
    assert_int_equal(buf_fail(text, strlen(head) + n, &err), WFMPI_E_LIMIT);
    free(text);
}

static void test_limit_file_size(void **state)
{
    (void)state;
    /* A sparse file: the size is refused before anything is read. */
    char tmp[] = "/tmp/wfmpi-test-big-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)WFMPI_WF_MAX_FILE_BYTES + 1), 0);
    close(fd);
    struct wfmpi_error err = {0};
    assert_null(wfmpi_wf_load(tmp, NULL, &err));
    unlink(tmp);
    assert_int_equal(err.code, WFMPI_E_LIMIT);
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s:1:1:", tmp);
    assert_int_equal(strncmp(err.text, prefix, strlen(prefix)), 0);
}

/* A path that names nothing readable is bad input (the user named the wrong
 * file), and anything but a regular file is refused without reading it:
 * a FIFO nobody writes to would block forever. */
static void test_io_errors(void **state)
{
    (void)state;
    struct wfmpi_error err = {0};
    assert_null(wfmpi_wf_load(WFMPI_TEST_DATA "/no/such/workflow.yml", NULL, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text, WFMPI_TEST_DATA "/no/such/workflow.yml: cannot read the workflow "
                                                  "file: No such file or directory");
    assert_null(wfmpi_wf_load(WFMPI_TEST_DATA, NULL, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "the workflow file is a directory, not a regular file"));
    assert_null(wfmpi_wf_load("/dev/null", NULL, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text,
                        "/dev/null: the workflow file is a character device, not a regular file");
    /* A FIFO: refused at once (alarm: a blocking open would hang the test). */
    char dir[] = "/tmp/wfmpi-test-io-XXXXXX", fifo[128], wf[128], rc[128];
    assert_non_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/fifo.yml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    assert_null(wfmpi_wf_load(fifo, NULL, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "fifo.yml: the workflow file is a FIFO, not a regular file"));
    /* The same for catalogs, given or found beside the workflow. */
    snprintf(wf, sizeof(wf), "%s/wf.yml", dir);
    FILE *f = fopen(wf, "w");
    assert_non_null(f);
    fputs("pegasus: '5.0'\nname: io\njobs: [{id: a, name: t}]\n", f);
    fclose(f);
    struct wfmpi_wf_options opt = {.tc_file = fifo};
    assert_null(wfmpi_wf_load(wf, &opt, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "the transformation catalog file is a FIFO"));
    struct wfmpi_wf_options missing = {.rc_file = "/no/such/rc.yml"};
    assert_null(wfmpi_wf_load(wf, &missing, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_string_equal(err.text, "/no/such/rc.yml: cannot read the replica catalog file: No such "
                                  "file or directory");
    snprintf(rc, sizeof(rc), "%s/replicas.yml", dir);
    assert_int_equal(rename(fifo, rc), 0);
    assert_null(wfmpi_wf_load(wf, NULL, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "replicas.yml: the replica catalog file is a FIFO"));
    unlink(rc);
    assert_int_equal(mkdir(rc, 0700), 0);
    assert_null(wfmpi_wf_load(wf, NULL, &err));
    assert_non_null(strstr(err.text, "replicas.yml: the replica catalog file is a directory"));
    rmdir(rc);
    /* Absent, it is no catalog at all. */
    struct wfmpi_wf *w = wfmpi_wf_load(wf, NULL, &err);
    assert_non_null(w);
    wfmpi_wf_destroy(w);
    alarm(0);
    unlink(wf);
    rmdir(dir);
    /* A NULL error pointer is allowed. */
    assert_null(wfmpi_wf_load(WFMPI_TEST_DATA "/no/such/workflow.yml", NULL, NULL));
}

/* Errors inside a catalog file name that file and position. */
static void test_catalog_file_errors(void **state)
{
    (void)state;
    char tmp[] = "/tmp/wfmpi-test-rc-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    const char *rc = "pegasus: 5.0\nreplicas:\n  - lfn: f.a\n    pfns:\n      - site: local\n";
    assert_int_equal(write(fd, rc, strlen(rc)), (ssize_t)strlen(rc));
    close(fd);
    struct wfmpi_error err = {0};
    struct wfmpi_wf_options opt = {.rc_file = tmp};
    assert_null(wfmpi_wf_load(PT "06-analyzer-single-job-stdout.yml", &opt, &err));
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:5:9: missing required key 'pfn' in a pfns entry", tmp);
    assert_string_equal(err.text, prefix);
    /* A catalog without its own pegasus key is fine; a wrong one is not. */
    fd = open(tmp, O_WRONLY | O_TRUNC);
    rc = "replicas: [{lfn: f.a, pfns: [{site: local, pfn: /x}]}]\n";
    assert_int_equal(write(fd, rc, strlen(rc)), (ssize_t)strlen(rc));
    close(fd);
    struct wfmpi_wf *wf = wfmpi_wf_load(PT "06-analyzer-single-job-stdout.yml", &opt, &err);
    assert_non_null(wf);
    assert_int_equal(wfmpi_wf_view(wf)->n_replicas, 1);
    wfmpi_wf_destroy(wf);
    fd = open(tmp, O_WRONLY | O_TRUNC);
    rc = "pegasus: 4.1\nreplicas: []\n";
    assert_int_equal(write(fd, rc, strlen(rc)), (ssize_t)strlen(rc));
    close(fd);
    assert_null(wfmpi_wf_load(PT "06-analyzer-single-job-stdout.yml", &opt, &err));
    assert_int_equal(err.code, WFMPI_E_INPUT);
    assert_non_null(strstr(err.text, "1:10: unsupported pegasus version '4.1'"));
    unlink(tmp);
}

/* Streamed collections written under an anchor or as an alias are walked as
 * trees: the same model comes out. */
/* The files a load read, and the default catalogs it looked for and did not
 * find, with their identity: what a cached plan depends on. */
static const struct wfmpi_wf_source *source_named(const struct wfmpi_wf *wf, const char *path)
{
    uint32_t n;
    const struct wfmpi_wf_source *s = wfmpi_wf_sources(wf, &n);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(wfmpi_wf_str(wf, s[i].path), path) == 0)
            return &s[i];
    }
    fail_msg("no source %s", path);
    return NULL;
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_sources(void **state)
{
    (void)state;
    char dir[] = "/tmp/wfmpi-test-wf-XXXXXX", path[512], cwd[4096];
    assert_non_null(mkdtemp(dir));
    put(dir, "wf.yml", "pegasus: '5.0'\nname: w\njobs: [{type: job, id: a, name: t}]\n");
    put(dir, "replicas.yml", "pegasus: '5.0'\nreplicas: []\n");
    put(dir, "other-sites.yml", "pegasus: '5.0'\nsites: []\n");
    /* A relative path is recorded against the current directory. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    struct wfmpi_wf_options opt = {.sc_file = "other-sites.yml"};
    struct wfmpi_error err = {0};
    struct wfmpi_wf *wf = wfmpi_wf_load("wf.yml", &opt, &err);
    assert_int_equal(chdir(cwd), 0);
    if (!wf)
        fail_msg("%s", err.text);
    uint32_t n;
    const struct wfmpi_wf_source *s = wfmpi_wf_sources(wf, &n);
    assert_int_equal(n, 4); /* wf, replicas, transformations (absent), sites */
    snprintf(path, sizeof(path), "%s/wf.yml", dir);
    assert_string_equal(wfmpi_wf_str(wf, s[0].path), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(s[0].present, 1);
    assert_int_equal(s[0].size, (uint64_t)st.st_size);
    assert_int_equal(s[0].ino, (uint64_t)st.st_ino);
    assert_int_equal(s[0].dev, (uint64_t)st.st_dev);
    assert_int_equal(s[0].mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    snprintf(path, sizeof(path), "%s/replicas.yml", dir);
    assert_int_equal(source_named(wf, path)->present, 1);
    snprintf(path, sizeof(path), "%s/transformations.yml", dir);
    assert_int_equal(source_named(wf, path)->present, 0);
    snprintf(path, sizeof(path), "%s/other-sites.yml", dir);
    assert_int_equal(source_named(wf, path)->present, 1);
    wfmpi_wf_destroy(wf);
    /* Without default catalogs nothing is looked for; a buffer has none. */
    snprintf(path, sizeof(path), "%s/wf.yml", dir);
    struct wfmpi_wf_options none = {.no_default_catalogs = 1};
    wf = wfmpi_wf_load(path, &none, &err);
    assert_non_null(wf);
    wfmpi_wf_sources(wf, &n);
    assert_int_equal(n, 1);
    wfmpi_wf_destroy(wf);
    wf = buf_ok("pegasus: '5.0'\nname: w\njobs: [{type: job, id: a, name: t}]\n");
    assert_null(wfmpi_wf_sources(wf, &n));
    assert_int_equal(n, 0);
    wfmpi_wf_destroy(wf);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_anchored_collections(void **state)
{
    (void)state;
    struct wfmpi_wf *wf = buf_ok("pegasus: '5.0'\n"
                                 "name: anchors\n"
                                 "jobs: &jobs\n"
                                 "  - &j1 {id: a, name: t, profiles: &p {env: {A: '1'}}}\n"
                                 "  - {id: b, name: t, profiles: *p}\n"
                                 "x-copy: *jobs\n"
                                 "transformationCatalog: &tc\n"
                                 "  transformations: [{name: t, sites: [{name: l, pfn: /t}]}]\n"
                                 "jobDependencies: [{id: a, children: [b]}]\n");
    const struct wfmpi_wf_view *v = wfmpi_wf_view(wf);
    assert_int_equal(v->n_jobs, 2);
    assert_int_equal(v->n_deps, 1);
    assert_int_equal(v->n_transformations, 1);
    assert_string_equal(prof(wf, job_by_id(wf, "b")->profiles, "env", "A"), "1");
    wfmpi_wf_destroy(wf);
}

/* ------------------------------------------------------------ bad corpus */

/* Every case of one list of the corpus fails to load with its message at
 * its position; returns how many there were. */
static int check_corpus(const char *list)
{
    char lpath[1024];
    snprintf(lpath, sizeof(lpath), "%s/bad/%s", WFMPI_TEST_DATA, list);
    FILE *f = fopen(lpath, "r");
    assert_non_null(f);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *file = strtok(line, "\t"), *pos = strtok(NULL, "\t"), *sub = strtok(NULL, "\t");
        assert_non_null(file);
        assert_non_null(pos);
        assert_non_null(sub);
        char path[1024], prefix[1100];
        snprintf(path, sizeof(path), "%s/bad/%s", WFMPI_TEST_DATA, file);
        snprintf(prefix, sizeof(prefix), "%s:%s:", path, pos);
        struct wfmpi_error err = {0};
        struct wfmpi_wf_options opt = {.no_default_catalogs = 1};
        struct wfmpi_wf *wf = wfmpi_wf_load(path, &opt, &err);
        if (wf) {
            wfmpi_wf_destroy(wf);
            fail_msg("%s loaded", file);
        }
        if (err.code != WFMPI_E_INPUT && err.code != WFMPI_E_LIMIT)
            fail_msg("%s: code %d: %s", file, err.code, err.text);
        if (strncmp(err.text, prefix, strlen(prefix)) != 0 || !strstr(err.text, sub))
            fail_msg("%s: got \"%s\", want prefix \"%s\" and \"%s\"", file, err.text, prefix, sub);
        n++;
    }
    fclose(f);
    return n;
}

static void test_bad_corpus(void **state)
{
    (void)state;
    assert_true(check_corpus("loader.expected") >= 32);
    /* The loader's half of validate.expected (issue 17): NUL, UTF-8, env
     * names, unknown top-level keys. */
    assert_true(check_corpus("validate.expected") >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_workflow_counts),
        cmocka_unit_test(test_01_inline_catalogs),
        cmocka_unit_test(test_02_untyped_jobs),
        cmocka_unit_test(test_03_flow_style_cjk),
        cmocka_unit_test(test_05_subworkflow),
        cmocka_unit_test(test_07_pmc_profiles),
        cmocka_unit_test(test_09_checkpoint),
        cmocka_unit_test(test_14_utf8_names),
        cmocka_unit_test(test_15_int_size),
        cmocka_unit_test(test_access_catalog_files),
        cmocka_unit_test(test_variant_calling_inline_sc),
        cmocka_unit_test(test_16_100k_jobs),
        cmocka_unit_test(test_accepts_quirks),
        cmocka_unit_test(test_env_names),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_limit_billion_laughs),
        cmocka_unit_test(test_limit_deep_nesting),
        cmocka_unit_test(test_limit_giant_scalar),
        cmocka_unit_test(test_limit_file_size),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_catalog_file_errors),
        cmocka_unit_test(test_anchored_collections),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_bad_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
