/* Unit tests for util: interning, heap order, bounded buffers, sha256,
 * atomic writes, error formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfmpi/util.h"

static void test_strtab_dedup_and_growth(void **state)
{
    (void)state;
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    assert_non_null(t);
    char buf[32];
    /* Enough strings to force several rehashes and array growths. */
    for (int i = 0; i < 100000; i++) {
        snprintf(buf, sizeof(buf), "ID%07d", i);
        assert_int_equal(wfmpi_strtab_intern_cstr(t, buf), (uint32_t)i + 1);
    }
    for (int i = 0; i < 100000; i += 997) {
        snprintf(buf, sizeof(buf), "ID%07d", i);
        assert_int_equal(wfmpi_strtab_intern_cstr(t, buf), (uint32_t)i + 1);
        assert_int_equal(wfmpi_strtab_find(t, buf, strlen(buf)), (uint32_t)i + 1);
        assert_string_equal(wfmpi_strtab_str(t, (uint32_t)i + 1), buf);
    }
    assert_int_equal(wfmpi_strtab_count(t), 100000);
    assert_int_equal(wfmpi_strtab_find(t, "nope", 4), 0);
    assert_null(wfmpi_strtab_str(t, 0));
    /* Embedded NUL bytes and the empty string are distinct strings. */
    uint32_t a = wfmpi_strtab_intern(t, "a\0b", 3), b = wfmpi_strtab_intern(t, "a", 1);
    assert_int_not_equal(a, b);
    assert_int_equal(wfmpi_strtab_len(t, a), 3);
    assert_int_not_equal(wfmpi_strtab_intern(t, "", 0), 0);
    wfmpi_strtab_destroy(t);
}

/* The serialized stream of a table, gathered into one buffer. */
struct stream {
    char *data;
    size_t len, cap;
};

static int stream_put(void *ctx, const void *data, size_t len)
{
    struct stream *s = ctx;
    if (wfmpi_grow((void **)&s->data, &s->cap, s->len + len, 1))
        return -ENOMEM;
    memcpy(s->data + s->len, data, len);
    s->len += len;
    return 0;
}

struct source {
    const char *data;
    size_t len;
    int calls;
};

static int stream_get(void *ctx, void *buf, size_t len)
{
    struct source *s = ctx;
    s->calls++;
    if (len != s->len)
        return -EIO;
    memcpy(buf, s->data, len);
    return 0;
}

/* A table with several pool chunks (a string longer than one), embedded
 * NULs and the empty string. */
static struct wfmpi_strtab *mixed_table(void)
{
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    char buf[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(buf, sizeof(buf), "s%d", i * 7);
        assert_int_not_equal(wfmpi_strtab_intern_cstr(t, buf), 0);
    }
    size_t big = (size_t)3 << 20;
    char *b = malloc(big);
    memset(b, 'x', big);
    assert_int_not_equal(wfmpi_strtab_intern(t, b, big), 0);
    free(b);
    assert_int_not_equal(wfmpi_strtab_intern(t, "a\0b", 3), 0);
    assert_int_not_equal(wfmpi_strtab_intern(t, "", 0), 0);
    assert_int_not_equal(wfmpi_strtab_intern_cstr(t, "after the big one"), 0);
    return t;
}

static void test_strtab_restore(void **state)
{
    (void)state;
    struct wfmpi_strtab *t = mixed_table();
    uint32_t n = wfmpi_strtab_count(t);
    struct stream st = {0};
    assert_int_equal(wfmpi_strtab_write_data(t, stream_put, &st), 0);
    assert_int_equal(st.len, wfmpi_strtab_data_len(t));
    uint32_t *lens = malloc(n * sizeof(*lens));
    for (uint32_t id = 1; id <= n; id++)
        lens[id - 1] = wfmpi_strtab_len(t, id);
    struct source src = {st.data, st.len, 0};
    int rc = 1;
    struct wfmpi_strtab *r = wfmpi_strtab_restore(st.len, lens, n, stream_get, &src, &rc);
    assert_non_null(r);
    assert_int_equal(rc, 0);
    assert_int_equal(src.calls, 1);
    assert_int_equal(wfmpi_strtab_count(r), n);
    for (uint32_t id = 1; id <= n; id++) {
        assert_int_equal(wfmpi_strtab_len(r, id), wfmpi_strtab_len(t, id));
        assert_memory_equal(wfmpi_strtab_str(r, id), wfmpi_strtab_str(t, id),
                            wfmpi_strtab_len(t, id) + 1);
        /* The index is rebuilt: every string is found under its id. */
        assert_int_equal(wfmpi_strtab_find(r, wfmpi_strtab_str(t, id), wfmpi_strtab_len(t, id)),
                         id);
    }
    assert_int_equal(wfmpi_strtab_intern_cstr(r, "s7"), wfmpi_strtab_find(t, "s7", 2));
    assert_int_equal(wfmpi_strtab_intern_cstr(r, "new"), n + 1);
    assert_string_equal(wfmpi_strtab_str(r, n + 1), "new");
    /* A restored table serializes to the same stream, plus what was added. */
    struct stream again = {0};
    assert_int_equal(wfmpi_strtab_write_data(r, stream_put, &again), 0);
    assert_int_equal(again.len, st.len + 4);
    assert_memory_equal(again.data, st.data, st.len);
    wfmpi_strtab_destroy(r);
    free(again.data);

    /* Lengths that do not fit the stream; the reader's own error as it is. */
    lens[0]++;
    assert_null(wfmpi_strtab_restore(st.len, lens, n, stream_get, &src, &rc));
    assert_int_equal(rc, WFMPI_E_CORRUPT);
    lens[0]--;
    assert_null(wfmpi_strtab_restore(st.len, lens, n - 1, stream_get, &src, &rc));
    assert_int_equal(rc, WFMPI_E_CORRUPT);
    struct source short_src = {st.data, st.len - 1, 0};
    assert_null(wfmpi_strtab_restore(st.len, lens, n, stream_get, &short_src, &rc));
    assert_int_equal(rc, -EIO);
    /* A string not ended by its NUL; a string twice (ids would be ambiguous). */
    uint32_t two[2] = {2, 2};
    struct source no_nul = {"abcab\0", 6, 0}, twice = {"ab\0ab\0", 6, 0};
    assert_null(wfmpi_strtab_restore(6, two, 2, stream_get, &no_nul, &rc));
    assert_int_equal(rc, WFMPI_E_CORRUPT);
    assert_null(wfmpi_strtab_restore(6, two, 2, stream_get, &twice, &rc));
    assert_int_equal(rc, WFMPI_E_CORRUPT);
    free(lens);
    free(st.data);
    wfmpi_strtab_destroy(t);
}

static void test_strtab_restore_empty(void **state)
{
    (void)state;
    struct wfmpi_strtab *t = wfmpi_strtab_create();
    assert_int_equal(wfmpi_strtab_data_len(t), 0);
    int rc = 1;
    struct source src = {"", 0, 0};
    struct wfmpi_strtab *r = wfmpi_strtab_restore(0, NULL, 0, stream_get, &src, &rc);
    assert_non_null(r);
    assert_int_equal(rc, 0);
    assert_int_equal(wfmpi_strtab_count(r), 0);
    assert_int_equal(wfmpi_strtab_intern_cstr(r, "x"), 1);
    wfmpi_strtab_destroy(r);
    wfmpi_strtab_destroy(t);
}

static void test_atomic_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/wfmpi-test-util-XXXXXX", path[256], text[16] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    struct wfmpi_atomic_file f;
    assert_int_equal(wfmpi_atomic_open(&f, path), 0);
    assert_int_equal(wfmpi_write_all(f.fd, "hello world", 11), 0);
    assert_int_equal(pwrite(f.fd, "H", 1, 0), 1);
    assert_int_equal(access(path, F_OK), -1); /* not visible before commit */
    assert_int_equal(wfmpi_atomic_commit(&f), 0);
    assert_int_equal(access(f.tmp, F_OK), -1);
    int fd = open(path, O_RDONLY);
    assert_int_equal(wfmpi_read_all(fd, text, 11), 0);
    assert_string_equal(text, "Hello world");
    assert_int_equal(wfmpi_read_all(fd, text, 1), WFMPI_E_CORRUPT); /* at the end */
    close(fd);
    /* An aborted write leaves the old file and no temp file. */
    assert_int_equal(wfmpi_atomic_open(&f, path), 0);
    assert_int_equal(wfmpi_write_all(f.fd, "x", 1), 0);
    wfmpi_atomic_abort(&f);
    assert_int_equal(access(f.tmp, F_OK), -1);
    assert_int_equal(wfmpi_write_file_atomic(path, "bye", 3), 0);
    char *got = NULL;
    assert_int_equal(wfmpi_read_file(path, 100, &got, NULL), 0);
    assert_string_equal(got, "bye");
    free(got);
    unlink(path);
    rmdir(dir);
}

static int cmp_u32(uint32_t a, uint32_t b, void *ctx)
{
    (void)ctx;
    return a < b ? -1 : a > b;
}

static void test_heap_sorts(void **state)
{
    (void)state;
    struct wfmpi_heap h;
    wfmpi_heap_init(&h, cmp_u32, NULL);
    uint32_t x = 12345;
    for (int i = 0; i < 5000; i++) {
        x = x * 1103515245u + 12345u;
        assert_int_equal(wfmpi_heap_push(&h, x % 1000), 0);
    }
    uint32_t prev = 0, v;
    size_t n = 0;
    while (wfmpi_heap_pop(&h, &v)) {
        assert_true(v >= prev);
        prev = v;
        n++;
    }
    assert_int_equal(n, 5000);
    wfmpi_heap_fini(&h);
}

static void test_buf_limit(void **state)
{
    (void)state;
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, 8);
    assert_int_equal(wfmpi_buf_append(&b, "12345678", 8), 0);
    assert_int_equal(wfmpi_buf_append(&b, "9", 1), WFMPI_E_LIMIT);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    wfmpi_buf_reset(&b);
    b.max = 64;
    assert_int_equal(wfmpi_buf_json_str(&b, "a\"b\\\n\x01"), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\\\n\\u0001\"");
    wfmpi_buf_fini(&b);
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[WFMPI_SHA256_HEX_LEN];
    assert_int_equal(wfmpi_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[] = "/tmp/wfmpi-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(wfmpi_write_file_atomic(path, "abc", 3), 0);
    char fhex[WFMPI_SHA256_HEX_LEN];
    assert_int_equal(wfmpi_sha256_file_hex(path, fhex), 0);
    assert_string_equal(hex, fhex);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(wfmpi_read_file(path, 2, &data, &len), WFMPI_E_LIMIT);
    assert_int_equal(wfmpi_read_file(path, 3, &data, &len), 0);
    assert_int_equal(len, 3);
    assert_string_equal(data, "abc");
    free(data);
    unlink(path);
    assert_int_equal(wfmpi_sha256_file_hex("/nonexistent/x", fhex), -ENOENT);
}

static void test_error_text(void **state)
{
    (void)state;
    struct wfmpi_error err;
    int rc = wfmpi_error_set(&err, WFMPI_E_INPUT, "%s:%d:%d: bad", "wf.yml", 3, 7);
    assert_int_equal(rc, WFMPI_E_INPUT);
    assert_string_equal(err.text, "wf.yml:3:7: bad");
    wfmpi_error_prefix(&err, "in %s", "sub.yml");
    assert_string_equal(err.text, "in sub.yml: wf.yml:3:7: bad");
    assert_string_equal(wfmpi_strerror(WFMPI_E_LIMIT), "input exceeds a built-in limit");
    assert_string_equal(wfmpi_strerror(-ENOENT), "No such file or directory");
    assert_int_equal(wfmpi_error_set(NULL, -EIO, "x"), -EIO);
    char longmsg[2000];
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    wfmpi_error_set(&err, WFMPI_E_INPUT, "%s", longmsg);
    assert_int_equal(strlen(err.text), WFMPI_ERROR_TEXT_MAX - 1);
    assert_string_equal(err.text + WFMPI_ERROR_TEXT_MAX - 4, "...");
}

static void test_arena(void **state)
{
    (void)state;
    struct wfmpi_arena a;
    wfmpi_arena_init(&a);
    for (int i = 0; i < 10000; i++) {
        uint64_t *p = wfmpi_arena_alloc(&a, 24);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        assert_int_equal(p[0] | p[1] | p[2], 0);
        p[0] = (uint64_t)i;
    }
    char *big = wfmpi_arena_alloc(&a, (size_t)100 << 20);
    assert_non_null(big);
    assert_null(wfmpi_arena_alloc(&a, SIZE_MAX - 4));
    assert_string_equal(wfmpi_arena_strndup(&a, "hello world", 5), "hello");
    wfmpi_arena_fini(&a);
}

/* The distances "did you mean" rests on, and the threshold: close slips get
 * a suggestion, unrelated words none. */
static void test_suggest(void **state)
{
    (void)state;
    assert_int_equal(wfmpi_edit_distance("", ""), 0);
    assert_int_equal(wfmpi_edit_distance("abc", ""), 3);
    assert_int_equal(wfmpi_edit_distance("", "abc"), 3);
    assert_int_equal(wfmpi_edit_distance("kitten", "sitting"), 3);
    /* A swap of neighbours is one edit (plain Levenshtein says two). */
    assert_int_equal(wfmpi_edit_distance("argumnets", "arguments"), 1);
    assert_int_equal(wfmpi_edit_distance("ab", "ba"), 1);
    assert_int_equal(wfmpi_edit_distance("use", "uses"), 1);
    assert_int_equal(wfmpi_edit_distance("jobDependencie", "jobDependencies"), 1);
    /* Case is ignored: StageOut is stageOut. */
    assert_int_equal(wfmpi_edit_distance("StageOut", "stageout"), 0);
    /* Optimal string alignment: "ca" -> "abc" is 3 (no edit of a swapped pair). */
    assert_int_equal(wfmpi_edit_distance("ca", "abc"), 3);
    char longw[WFMPI_SUGGEST_MAX_LEN + 2];
    memset(longw, 'a', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    assert_true(wfmpi_edit_distance(longw, "a") == SIZE_MAX);
    longw[WFMPI_SUGGEST_MAX_LEN] = '\0'; /* exactly the maximum is compared */
    assert_int_equal(wfmpi_edit_distance(longw, longw), 0);

    static const char *const job[] = {"type",   "id",        "name",      "namespace", "version",
                                      "file",   "nodeLabel", "arguments", "uses",      "stdin",
                                      "stdout", "stderr",    "profiles",  "metadata",  "hooks"};
    const size_t n = sizeof(job) / sizeof(job[0]);
    assert_string_equal(wfmpi_suggest("argumnets", job, n), "arguments");
    assert_string_equal(wfmpi_suggest("profile", job, n), "profiles");
    assert_string_equal(wfmpi_suggest("use", job, n), "uses");
    assert_string_equal(wfmpi_suggest("nodelabel", job, n), "nodeLabel");
    assert_string_equal(wfmpi_suggest("argments", job, n), "arguments");
    assert_string_equal(wfmpi_suggest("stdot", job, n), "stdout");
    /* Too far, or nothing alike: no suggestion. */
    assert_null(wfmpi_suggest("category", job, n));
    assert_null(wfmpi_suggest("xyz", job, n));
    assert_null(wfmpi_suggest("requirements", job, n));
    assert_null(wfmpi_suggest(longw, job, n));
    assert_null(wfmpi_suggest("anything", NULL, 0));
    /* An exact match is no misspelling. */
    assert_null(wfmpi_suggest("uses", job, n));
    /* Ties go to the earlier candidate. */
    static const char *const two[] = {"stdout", "stdoup"};
    assert_string_equal(wfmpi_suggest("stdoux", two, 2), "stdout");
    static const char *const swapped[] = {"stdoup", "stdout"};
    assert_string_equal(wfmpi_suggest("stdoux", swapped, 2), "stdoup");
    static const char *const top[] = {"pegasus", "name", "version", "jobs", "jobDependencies"};
    assert_string_equal(wfmpi_suggest("jobDependencie", top, 5), "jobDependencies");
    assert_string_equal(wfmpi_suggest("job", top, 5), "jobs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strtab_dedup_and_growth),
        cmocka_unit_test(test_strtab_restore),
        cmocka_unit_test(test_strtab_restore_empty),
        cmocka_unit_test(test_atomic_file),
        cmocka_unit_test(test_heap_sorts),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_suggest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
