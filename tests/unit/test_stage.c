/* Unit tests for stage: what the data tasks accept (URLs, paths,
 * checksums), where an s3:// URL goes and with which AWS settings, the
 * output replica catalog (format, strict parse-back, replace by lfn, read
 * by wfmpi's own loader), stage-out copies, local stage-in and cleanup.
 * Transfers over the network are tests/integration/stage.sh. */
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

#include "../../src/stage/stage_int.h"
#include "wfmpi/wf.h"

/* A fresh scratch directory, made the cwd (the data tasks work in theirs). */
static char scratch[64];
static char old_cwd[4096];

static int enter_scratch(void **state)
{
    (void)state;
    snprintf(scratch, sizeof(scratch), "/tmp/wfmpi-test-stage.XXXXXX");
    if (!mkdtemp(scratch) || !getcwd(old_cwd, sizeof(old_cwd)) || chdir(scratch) != 0)
        return -1;
    return 0;
}

static int leave_scratch(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
    return chdir(old_cwd) == 0 && system(cmd) == 0 ? 0 : -1;
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(stage_make_parent(path), 0);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    assert_int_equal(wfmpi_read_file(path, 1 << 20, &text, NULL), 0);
    return text;
}

/* ------------------------------------------------------------ arguments */

static void test_scheme_of(void **state)
{
    (void)state;
    const char *path = NULL;
    assert_int_equal(wfmpi_url_scheme_of("http://h/x", NULL), WFMPI_URL_HTTP);
    assert_int_equal(wfmpi_url_scheme_of("HTTPS://h/x", NULL), WFMPI_URL_HTTPS);
    assert_int_equal(wfmpi_url_scheme_of("sftp://u@h/x", NULL), WFMPI_URL_SFTP);
    assert_int_equal(wfmpi_url_scheme_of("scp://h/x", NULL), WFMPI_URL_SCP);
    assert_int_equal(wfmpi_url_scheme_of("s3://bucket/key", NULL), WFMPI_URL_S3);
    assert_int_equal(wfmpi_url_scheme_of("file:///data/in.txt", &path), WFMPI_URL_FILE);
    assert_string_equal(path, "/data/in.txt");
    assert_int_equal(wfmpi_url_scheme_of("file://localhost/data/a", &path), WFMPI_URL_FILE);
    assert_string_equal(path, "/data/a");
    assert_int_equal(wfmpi_url_scheme_of("/abs/path", &path), WFMPI_URL_FILE);
    assert_string_equal(path, "/abs/path");
    /* Another host's file, relative paths, other protocols, no host. */
    assert_int_equal(wfmpi_url_scheme_of("file://otherhost/x", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("relative/x", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("ftp://h/x", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("gsiftp://h/x", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("http://", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("http:///x", NULL), WFMPI_URL_UNSUPPORTED);
    assert_int_equal(wfmpi_url_scheme_of("", NULL), WFMPI_URL_UNSUPPORTED);
}

static void test_path_ok(void **state)
{
    (void)state;
    const char *good[] = {"a", "a/b/c", "./a", "a/./b", "...", "a..b", ".hidden", "a/.b"};
    const char *bad[] = {"", "/a", "/", "..", "../a", "a/..", "a/../b", "a/", ".", "a/."};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!wfmpi_path_rel_ok(good[i]))
            fail_msg("'%s' refused", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (wfmpi_path_rel_ok(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    }
    assert_false(wfmpi_path_rel_ok(NULL));
    char long_path[5000];
    memset(long_path, 'x', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    assert_false(wfmpi_path_rel_ok(long_path));
}

static void test_parse_sha256(void **state)
{
    (void)state;
    char out[WFMPI_SHA256_HEX_LEN];
    assert_true(wfmpi_stage_parse_sha256("-", out));
    assert_string_equal(out, "");
    const char *upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    assert_true(wfmpi_stage_parse_sha256(upper, out));
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_false(wfmpi_stage_parse_sha256("e3b0", out));
    assert_false(wfmpi_stage_parse_sha256(
        "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", out));
    assert_false(wfmpi_stage_parse_sha256(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550", out));
    assert_false(wfmpi_stage_parse_sha256("", out));
}

static void test_out_mode(void **state)
{
    (void)state;
    assert_int_equal(wfmpi_stage_out_mode_of("copy"), WFMPI_STAGE_COPY);
    assert_int_equal(wfmpi_stage_out_mode_of("register"), WFMPI_STAGE_REGISTER);
    assert_int_equal(wfmpi_stage_out_mode_of("copy+register"),
                     WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER);
    assert_int_equal(wfmpi_stage_out_mode_of("move"), 0);
    assert_int_equal(wfmpi_stage_out_mode_of("register+copy"), 0);
}

/* ------------------------------------------------------------ s3 */

static void expect_s3(const char *url, const char *region, const char *ep, const char *want)
{
    char out[STAGE_URL_MAX];
    int rc = stage_s3_url(url, region, ep, out, sizeof(out));
    if (rc != 0)
        fail_msg("%s: %s", url, wfmpi_strerror(rc));
    assert_string_equal(out, want);
}

static void test_s3_url(void **state)
{
    (void)state;
    expect_s3("s3://bkt/dir/obj.bin", "us-east-1", NULL,
              "https://bkt.s3.us-east-1.amazonaws.com/dir/obj.bin");
    expect_s3("s3://bkt/k", "eu-west-1", "", "https://bkt.s3.eu-west-1.amazonaws.com/k");
    /* An endpoint: path style, trailing slashes dropped. */
    expect_s3("s3://bkt/dir/obj", "us-east-1", "http://127.0.0.1:9000//",
              "http://127.0.0.1:9000/bkt/dir/obj");
    expect_s3("s3://bkt/k", "x", "https://minio.example.org/s3",
              "https://minio.example.org/s3/bkt/k");
    /* A bucket with dots would not match *.s3.amazonaws.com's certificate. */
    expect_s3("s3://my.data.bucket/k", "us-west-2", NULL,
              "https://s3.us-west-2.amazonaws.com/my.data.bucket/k");
    /* Keys are percent-encoded as SigV4 canonicalises them; '/' stays. */
    expect_s3("s3://bkt/a b/c+d=e~f_g.h-i", "us-east-1", NULL,
              "https://bkt.s3.us-east-1.amazonaws.com/a%20b/c%2Bd%3De~f_g.h-i");
    expect_s3("s3://bkt/\xc3\xa9t\xc3\xa9", "us-east-1", NULL,
              "https://bkt.s3.us-east-1.amazonaws.com/%C3%A9t%C3%A9");
    /* Pegasus writes s3://user@site/bucket/key. */
    expect_s3("s3://user@amazon/bkt/dir/k", "us-east-1", NULL,
              "https://bkt.s3.us-east-1.amazonaws.com/dir/k");
    char out[64];
    assert_int_equal(stage_s3_url("s3://bkt", "r", NULL, out, sizeof(out)), WFMPI_E_INPUT);
    assert_int_equal(stage_s3_url("s3://bkt/", "r", NULL, out, sizeof(out)), WFMPI_E_INPUT);
    assert_int_equal(stage_s3_url("s3:///key", "r", NULL, out, sizeof(out)), WFMPI_E_INPUT);
    assert_int_equal(stage_s3_url("s3://u@site/bkt", "r", NULL, out, sizeof(out)), WFMPI_E_INPUT);
    assert_int_equal(stage_s3_url("http://bkt/key", "r", NULL, out, sizeof(out)), WFMPI_E_INPUT);
    /* Too long for the buffer: an error, not a truncated URL. */
    assert_int_equal(stage_s3_url("s3://bkt/a-rather-long-key-name-that-does-not-fit", "us-east-1",
                                  NULL, out, sizeof(out)),
                     WFMPI_E_INPUT);
}

static void test_ini_get(void **state)
{
    (void)state;
    const char *text = "# AWS credentials\r\n"
                       "[default]\r\n"
                       "aws_access_key_id = AKIDDEFAULT\r\n"
                       "aws_secret_access_key=secret/with+chars=\r\n"
                       "\n"
                       "  [ other ]  \n"
                       "; a comment\n"
                       "aws_access_key_id   =   AKIDOTHER   \n"
                       "[profile test]\n"
                       "region = eu-central-1\n";
    char out[64];
    assert_true(stage_ini_get(text, "default", "aws_access_key_id", out, sizeof(out)));
    assert_string_equal(out, "AKIDDEFAULT");
    assert_true(stage_ini_get(text, "default", "aws_secret_access_key", out, sizeof(out)));
    assert_string_equal(out, "secret/with+chars=");
    assert_true(stage_ini_get(text, "other", "aws_access_key_id", out, sizeof(out)));
    assert_string_equal(out, "AKIDOTHER");
    assert_true(stage_ini_get(text, "profile test", "region", out, sizeof(out)));
    assert_string_equal(out, "eu-central-1");
    /* Absent keys and sections; a key of another section is not found. */
    assert_false(stage_ini_get(text, "other", "aws_secret_access_key", out, sizeof(out)));
    assert_string_equal(out, "");
    assert_false(stage_ini_get(text, "nope", "region", out, sizeof(out)));
    assert_false(stage_ini_get(text, "test", "region", out, sizeof(out)));
    assert_false(stage_ini_get("", "default", "x", out, sizeof(out)));
    /* A value that does not fit is not found (never a truncated key). */
    char tiny[5];
    assert_false(stage_ini_get(text, "default", "aws_access_key_id", tiny, sizeof(tiny)));
}

static const char *const aws_env[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",           "AWS_PROFILE",
    "AWS_REGION",        "AWS_DEFAULT_REGION",    "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
};

static void clear_aws_env(void)
{
    for (size_t i = 0; i < sizeof(aws_env) / sizeof(aws_env[0]); i++)
        unsetenv(aws_env[i]);
    setenv("HOME", scratch, 1);
}

static void test_aws_load(void **state)
{
    (void)state;
    clear_aws_env();
    struct stage_aws a;
    /* Nothing anywhere: no key, the default region. */
    assert_int_equal(stage_aws_load(&a), -ENOENT);
    assert_string_equal(a.region, "us-east-1");

    write_text(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                                   "aws_secret_access_key = filesecret\n"
                                   "[test]\naws_access_key_id = AKIDTEST\n"
                                   "aws_secret_access_key = testsecret\n"
                                   "aws_session_token = testtoken\n"
                                   "[halfway]\naws_access_key_id = AKIDHALF\n");
    write_text(".aws/config", "[default]\nregion = eu-west-1\n"
                              "[profile test]\nregion = ap-south-1\n"
                              "[profile cfg]\naws_access_key_id = AKIDCFG\n"
                              "aws_secret_access_key = cfgsecret\n");
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.key, "AKIDFILE");
    assert_string_equal(a.secret, "filesecret");
    assert_string_equal(a.token, "");
    assert_string_equal(a.region, "eu-west-1");

    setenv("AWS_PROFILE", "test", 1);
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.key, "AKIDTEST");
    assert_string_equal(a.token, "testtoken");
    assert_string_equal(a.region, "ap-south-1");
    /* Keys may also sit in the config file's profile. */
    setenv("AWS_PROFILE", "cfg", 1);
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.key, "AKIDCFG");
    assert_string_equal(a.region, "us-east-1");
    /* A profile with half a key pair has none. */
    setenv("AWS_PROFILE", "halfway", 1);
    assert_int_equal(stage_aws_load(&a), -ENOENT);

    /* The environment wins over the files, token included; regions too. */
    setenv("AWS_PROFILE", "test", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_DEFAULT_REGION", "ca-central-1", 1);
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.key, "AKIDENV");
    assert_string_equal(a.secret, "envsecret");
    assert_string_equal(a.token, ""); /* not the file's token for another key */
    assert_string_equal(a.region, "ca-central-1");
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    setenv("AWS_REGION", "sa-east-1", 1);
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.token, "envtoken");
    assert_string_equal(a.region, "sa-east-1");

    /* Files named by the environment instead of ~/.aws. */
    clear_aws_env();
    write_text("elsewhere/creds", "[default]\naws_access_key_id = AKIDELSE\n"
                                  "aws_secret_access_key = elsesecret\n");
    write_text("elsewhere/config", "[default]\nregion = us-west-1\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", "elsewhere/creds", 1);
    setenv("AWS_CONFIG_FILE", "elsewhere/config", 1);
    assert_int_equal(stage_aws_load(&a), 0);
    assert_string_equal(a.key, "AKIDELSE");
    assert_string_equal(a.region, "us-west-1");
    clear_aws_env();
}

/* ------------------------------------------------------------ catalog */

static void test_catalog_round_trip(void **state)
{
    (void)state;
    struct stage_catalog c;
    stage_catalog_init(&c);
    struct wfmpi_error err = {0};
    assert_int_equal(stage_catalog_parse(&c, "", 0, "rc.yml", &err), 0);
    assert_int_equal(c.n, 0);
    /* Characters YAML must escape, and some it must not touch. */
    const char *odd = "we\"ird\\na\tme\x01\x7f #: [x], {y} \xc3\xa9";
    struct wfmpi_stage_replica r[] = {
        {"a.txt", "file:///out/a.txt", NULL, "aa"},
        {odd, "file:///out/odd", "site: x", ""},
        {"b.txt", "file:///out/b.txt", "local", NULL},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(stage_catalog_put(&c, &r[i]), 0);
    /* Replacing keeps the entry's place. */
    struct wfmpi_stage_replica a2 = {"a.txt", "file:///elsewhere/a.txt", "local", "bb"};
    assert_int_equal(stage_catalog_put(&c, &a2), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.r[0].pfn, "file:///elsewhere/a.txt");
    assert_string_equal(c.r[0].sha256, "bb");

    struct wfmpi_buf b;
    wfmpi_buf_init(&b, 1 << 20);
    assert_int_equal(stage_catalog_format(&c, &b), 0);
    assert_non_null(strstr(b.data, "pegasus: \"5.0\"\nreplicas:\n  - {lfn: \"a.txt\""));
    assert_non_null(strstr(b.data, "checksum: {sha256: \"bb\"}}\n"));
    struct stage_catalog back;
    stage_catalog_init(&back);
    assert_int_equal(stage_catalog_parse(&back, b.data, b.len, "rc.yml", &err), 0);
    assert_int_equal(back.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.r[i].lfn, c.r[i].lfn);
        assert_string_equal(back.r[i].pfn, c.r[i].pfn);
        assert_string_equal(back.r[i].site, c.r[i].site);
        assert_string_equal(back.r[i].sha256, c.r[i].sha256);
    }
    assert_string_equal(back.r[1].lfn, odd);
    assert_string_equal(back.r[1].site, "site: x");
    assert_string_equal(back.r[2].site, "local");
    stage_catalog_fini(&back);
    stage_catalog_fini(&c);

    /* An empty catalog is still a valid one. */
    stage_catalog_init(&c);
    wfmpi_buf_reset(&b);
    assert_int_equal(stage_catalog_format(&c, &b), 0);
    assert_non_null(strstr(b.data, "replicas: []\n"));
    assert_int_equal(stage_catalog_parse(&c, b.data, b.len, "rc.yml", &err), 0);
    stage_catalog_fini(&c);
    wfmpi_buf_fini(&b);
}

static void expect_refused(const char *text, const char *where)
{
    struct stage_catalog c;
    stage_catalog_init(&c);
    struct wfmpi_error err = {0};
    assert_int_equal(stage_catalog_parse(&c, text, strlen(text), "rc.yml", &err), WFMPI_E_CORRUPT);
    if (!strstr(err.text, where))
        fail_msg("'%s' does not say %s", err.text, where);
    stage_catalog_fini(&c);
}

static void test_catalog_refuses_others(void **state)
{
    (void)state;
    /* What a user or Pegasus writes (block style) is not rewritten. */
    expect_refused("pegasus: \"5.0\"\nreplicas:\n  - lfn: a\n    pfns:\n", "rc.yml:3:");
    expect_refused("pegasus: '5.0'\nreplicas:\n", "rc.yml:1:");
    expect_refused("replicas:\n", "rc.yml:1:");
    expect_refused("pegasus: \"5.0\"\n  - {lfn: \"a\", pfns: [{site: \"l\", pfn: \"p\"}]}\n",
                   "rc.yml:2:");
    /* Damaged lines: unterminated, unknown escape, trailing text. */
    const char *head = "# c\npegasus: \"5.0\"\nreplicas:\n";
    const char *lines[] = {
        "  - {lfn: \"a, pfns: [{site: \"l\", pfn: \"p\"}]}\n",
        "  - {lfn: \"a\\q\", pfns: [{site: \"l\", pfn: \"p\"}]}\n",
        "  - {lfn: \"a\", pfns: [{site: \"l\", pfn: \"p\"}]} # more\n",
        "  - {lfn: \"a\", pfns: [{site: \"l\", pfn: \"p\"}], checksum: {md5: \"x\"}}\n",
        "  - {lfn: \"a\\x00\", pfns: [{site: \"l\", pfn: \"p\"}]}\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%s%s", head, lines[i]);
        expect_refused(text, "rc.yml:4:");
    }
}

static void test_register_replaces(void **state)
{
    (void)state;
    struct wfmpi_stage_replica r1[] = {
        {"out/a.dat", "file:///o/out/a.dat", NULL, "11"},
        {"b.dat", "file:///o/b.dat", NULL, "22"},
    };
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_stage_register("rc/catalog.yml", r1, 2, &err), 0);
    struct wfmpi_stage_replica r2[] = {
        {"b.dat", "file:///o2/b.dat", "cluster", "33"},
        {"c.dat", "file:///o/c.dat", NULL, NULL},
    };
    assert_int_equal(wfmpi_stage_register("rc/catalog.yml", r2, 2, &err), 0);
    assert_int_equal(wfmpi_stage_register("rc/catalog.yml", r2, 2, &err), 0);
    char *text = read_text("rc/catalog.yml");
    struct stage_catalog c;
    stage_catalog_init(&c);
    assert_int_equal(stage_catalog_parse(&c, text, strlen(text), "rc", &err), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.r[0].lfn, "out/a.dat");
    assert_string_equal(c.r[1].pfn, "file:///o2/b.dat");
    assert_string_equal(c.r[1].site, "cluster");
    assert_string_equal(c.r[1].sha256, "33");
    assert_string_equal(c.r[2].sha256, "");
    stage_catalog_fini(&c);
    free(text);
    struct stat st;
    assert_int_equal(stat("rc/catalog.yml.lock", &st), 0);

    /* A catalog wfmpi did not write is refused and left byte for byte. */
    const char *user = "pegasus: '5.0'\nreplicas:\n  - lfn: keep.me\n"
                       "    pfns: [{site: local, pfn: /data/keep.me}]\n";
    write_text("rc/user.yml", user);
    assert_int_equal(wfmpi_stage_register("rc/user.yml", r1, 1, &err), WFMPI_E_CORRUPT);
    assert_non_null(strstr(err.text, "rc/user.yml:1:"));
    text = read_text("rc/user.yml");
    assert_string_equal(text, user);
    free(text);
}

/* The catalog means the same to wfmpi's YAML loader (libyaml), odd
 * characters included. */
static void test_catalog_loads_in_wf(void **state)
{
    (void)state;
    const char *odd = "we\"ird\\ na:me\t#x \xc3\xa9";
    struct wfmpi_stage_replica r[] = {
        {"plain.txt", "file:///o/plain.txt", NULL,
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {odd, "file:///o/odd", "other", NULL},
    };
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_stage_register("wf-rc.yml", r, 2, &err), 0);
    const char *wf = "pegasus: '5.0'\nname: t\njobs:\n"
                     "- {type: job, name: cat, id: j1, arguments: [],\n"
                     "   uses: [{lfn: plain.txt, type: input}]}\n";
    struct wfmpi_wf_options opt = {.rc_file = "wf-rc.yml", .no_default_catalogs = 1};
    struct wfmpi_wf *w = wfmpi_wf_load_buffer("wf.yml", wf, strlen(wf), &opt, &err);
    if (!w)
        fail_msg("%s", err.text);
    const struct wfmpi_wf_view *v = wfmpi_wf_view(w);
    assert_int_equal(v->n_replicas, 2);
    assert_string_equal(wfmpi_wf_str(w, v->replicas[0].lfn), "plain.txt");
    assert_string_equal(wfmpi_wf_str(w, v->replicas[0].pfn), "file:///o/plain.txt");
    assert_string_equal(wfmpi_wf_str(w, v->replicas[0].site), "local");
    assert_string_equal(wfmpi_wf_str(w, v->replicas[0].sha256), r[0].sha256);
    assert_string_equal(wfmpi_wf_str(w, v->replicas[1].lfn), odd);
    assert_string_equal(wfmpi_wf_str(w, v->replicas[1].site), "other");
    assert_int_equal(v->replicas[1].sha256, 0);
    wfmpi_wf_destroy(w);
}

/* ------------------------------------------------------------ local files */

static void test_stage_out(void **state)
{
    (void)state;
    assert_int_equal(wfmpi_mkdir_p("work/sub"), 0);
    assert_int_equal(chdir("work"), 0);
    write_text("sub/x.dat", "some output\n");
    write_text("y.dat", "registered where it is\n");
    assert_int_equal(chmod("sub/x.dat", 0750), 0);
    struct wfmpi_stage_out_file f[] = {
        {.lfn = "./sub/x.dat", .mode = WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER},
        {.lfn = "missing.dat", .mode = WFMPI_STAGE_COPY},
        {.lfn = "y.dat", .mode = WFMPI_STAGE_REGISTER},
    };
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_stage_out(f, 3, "../out", "../rc.yml", NULL, &err), 1);
    char want[WFMPI_SHA256_HEX_LEN];
    assert_int_equal(wfmpi_sha256_file_hex("sub/x.dat", want), 0);
    assert_int_equal(f[0].status, WFMPI_STAGE_OK);
    assert_string_equal(f[0].sha256, want);
    assert_int_equal(f[1].status, WFMPI_STAGE_FAILED);
    assert_non_null(strstr(f[1].msg, "missing.dat"));
    assert_int_equal(f[2].status, WFMPI_STAGE_OK);
    char *copy = read_text("../out/sub/x.dat");
    assert_string_equal(copy, "some output\n");
    free(copy);
    struct stat st;
    assert_int_equal(stat("../out/sub/x.dat", &st), 0);
    assert_int_equal(st.st_mode & 0777, 0750); /* the mode travels with the copy */
    assert_int_not_equal(stat("../out/y.dat", &st), 0); /* register only: not copied */

    char *rc = read_text("../rc.yml");
    char pfn[8192];
    snprintf(pfn, sizeof(pfn), "pfn: \"file://%s/out/sub/x.dat\"", scratch);
    if (!strstr(rc, pfn) || !strstr(rc, "lfn: \"./sub/x.dat\"") || !strstr(rc, want))
        fail_msg("catalog:\n%s", rc);
    snprintf(pfn, sizeof(pfn), "pfn: \"file://%s/work/y.dat\"", scratch);
    if (!strstr(rc, pfn))
        fail_msg("catalog:\n%s", rc);
    free(rc);
    assert_int_equal(chdir(".."), 0);
}

static void test_stage_in_local(void **state)
{
    (void)state;
    write_text("src/in.txt", "input\n");
    char src[4096], url[4200], good[WFMPI_SHA256_HEX_LEN];
    snprintf(src, sizeof(src), "%s/src/in.txt", scratch);
    snprintf(url, sizeof(url), "file://%s", src);
    assert_int_equal(wfmpi_sha256_file_hex(src, good), 0);
    const char *bad = "0000000000000000000000000000000000000000000000000000000000000000";
    struct wfmpi_stage_item it[] = {
        {.url = url, .dest = "w/link.txt", .sha256 = good},
        {.url = src, .dest = "w/bad.txt", .sha256 = bad},
        {.url = "file:///no/such/file", .dest = "w/none.txt"},
    };
    struct wfmpi_stage_in_options o = {0};
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_stage_in(it, 3, &o, &err), 2);
    assert_int_equal(it[0].status, WFMPI_STAGE_OK);
    assert_true(it[0].verified);
    char target[4096] = "";
    assert_true(readlink("w/link.txt", target, sizeof(target) - 1) > 0);
    assert_string_equal(target, src);
    assert_int_equal(it[1].status, WFMPI_STAGE_MISMATCH);
    assert_non_null(strstr(it[1].msg, "sha256 mismatch: expected 0000"));
    struct stat st;
    assert_int_not_equal(lstat("w/bad.txt", &st), 0);
    assert_int_equal(it[2].status, WFMPI_STAGE_FAILED);

    /* --executable copies (never chmod the source) and sets the bits. */
    assert_int_equal(chmod(src, 0644), 0);
    struct wfmpi_stage_item exe = {.url = url, .dest = "w/bin/tool"};
    o.executable = true;
    assert_int_equal(wfmpi_stage_in(&exe, 1, &o, &err), 0);
    assert_int_equal(lstat("w/bin/tool", &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0755);
    assert_int_equal(stat(src, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
}

static void test_remove(void **state)
{
    (void)state;
    write_text("gone/soon.txt", "x");
    struct wfmpi_error err = {0};
    assert_int_equal(wfmpi_stage_remove("gone/soon.txt", &err), 1);
    assert_int_equal(wfmpi_stage_remove("gone/soon.txt", &err), 0);
    assert_int_equal(wfmpi_stage_remove("gone", &err), -EISDIR);
    assert_non_null(strstr(err.text, "gone"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheme_of),
        cmocka_unit_test(test_path_ok),
        cmocka_unit_test(test_parse_sha256),
        cmocka_unit_test(test_out_mode),
        cmocka_unit_test(test_s3_url),
        cmocka_unit_test(test_ini_get),
        cmocka_unit_test_setup_teardown(test_aws_load, enter_scratch, leave_scratch),
        cmocka_unit_test(test_catalog_round_trip),
        cmocka_unit_test(test_catalog_refuses_others),
        cmocka_unit_test_setup_teardown(test_register_replaces, enter_scratch, leave_scratch),
        cmocka_unit_test_setup_teardown(test_catalog_loads_in_wf, enter_scratch, leave_scratch),
        cmocka_unit_test_setup_teardown(test_stage_out, enter_scratch, leave_scratch),
        cmocka_unit_test_setup_teardown(test_stage_in_local, enter_scratch, leave_scratch),
        cmocka_unit_test_setup_teardown(test_remove, enter_scratch, leave_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
