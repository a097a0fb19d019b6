/* The MPI wire format: records survive a round trip, and every truncated or
 * corrupted message is rejected instead of misread (a worker never runs a
 * half-decoded task). Compiled against the module's private header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/mpi/mpi_int.h"

static void encode_sample(struct wfmpi_buf *b)
{
    struct wire_writer w;
    wire_begin(&w, b, WIRE_TAG_TASKS);
    wire_u32(&w, 7); /* task */
    wire_u32(&w, 2); /* attempt */
    wire_u32(&w, 4); /* cores */
    wire_u64(&w, 0x5); /* gpu mask */
    wire_f64(&w, 120.0); /* timeout */
    wire_f64(&w, 60.0); /* checkpoint */
    wire_u32(&w, WIRE_TASK_STDERR_LAZY); /* flags */
    wire_u64(&w, (3ull << 32) | 1); /* after task 3 attempt 1 */
    const char *strs[] = {"ID7", "/bin/echo", "", "out.txt", "err.txt", "ok", "", "0-3"};
    for (size_t i = 0; i < 8; i++)
        wire_str(&w, strs[i]);
    wire_u32(&w, 2);
    wire_str(&w, "echo");
    wire_str(&w, "héllo wörld");
    wire_u32(&w, 1);
    wire_str(&w, "A=B");
    wire_u32(&w, 1);
    wire_str(&w, "f.out");
    wire_finish(&w, 1);
    assert_int_equal(w.rc, 0);
}

static void test_task_round_trip(void **state)
{
    (void)state;
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, WIRE_MAX_MSG);
    encode_sample(&b);
    struct wire_reader r;
    assert_int_equal(wire_open(&r, b.data, b.len, WIRE_TAG_TASKS), 1);
    struct wire_task t;
    const char **table = NULL;
    size_t cap = 0;
    assert_int_equal(wire_get_task(&r, &t, &table, &cap), 0);
    assert_int_equal(t.task, 7);
    assert_int_equal(t.attempt, 2);
    assert_int_equal(t.cores, 4);
    assert_int_equal(t.gpu_mask, 5);
    assert_true(t.timeout_s == 120.0);
    assert_int_equal(t.flags, WIRE_TASK_STDERR_LAZY);
    assert_int_equal(t.after, (3ull << 32) | 1);
    assert_string_equal(t.exe, "/bin/echo");
    assert_string_equal(t.stdin_path, "");
    assert_string_equal(t.cpuset, "0-3");
    assert_int_equal(t.argc, 2);
    assert_string_equal(t.argv[1], "héllo wörld");
    assert_null(t.argv[2]);
    assert_int_equal(t.n_env, 1);
    assert_string_equal(t.env[0], "A=B");
    assert_int_equal(t.n_outputs, 1);
    assert_string_equal(t.outputs[0], "f.out");
    /* Wrong type, truncation at every length, and a flipped length byte. */
    assert_int_equal(wire_open(&r, b.data, b.len, WIRE_TAG_RESULTS), -1);
    for (size_t len = 0; len < b.len; len++) {
        int64_t n = wire_open(&r, b.data, len, WIRE_TAG_TASKS);
        assert_true(n < 0 || wire_get_task(&r, &t, &table, &cap) < 0);
    }
    b.data[WIRE_HEADER_BYTES + 48] ^= 0x40; /* the first string's length */
    assert_int_equal(wire_open(&r, b.data, b.len, WIRE_TAG_TASKS), 1);
    assert_true(wire_get_task(&r, &t, &table, &cap) < 0);
    free(table);
    wfmpi_buf_fini(&b);
}

static void test_lying_count(void **state)
{
    (void)state;
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, WIRE_MAX_MSG);
    encode_sample(&b);
    /* argc claims 4 billion strings: rejected without allocating for them. */
    struct wire_reader r;
    wire_open(&r, b.data, b.len, WIRE_TAG_TASKS);
    r.p += 48; /* the fixed-width fields */
    for (int i = 0; i < 8; i++)
        wire_get_str(&r);
    assert_false(r.bad);
    size_t argc_at = (size_t)(r.p - b.data);
    uint32_t argc = 0;
    memcpy(&argc, b.data + argc_at, 4);
    assert_int_equal(argc, 2); /* it is the argc field */
    uint32_t huge = 0xffffffffu;
    memcpy(b.data + argc_at, &huge, 4);
    struct wire_task t;
    const char **table = NULL;
    size_t cap = 0;
    assert_int_equal(wire_open(&r, b.data, b.len, WIRE_TAG_TASKS), 1);
    assert_true(wire_get_task(&r, &t, &table, &cap) < 0);
    assert_true(cap < 1024);
    free(table);
    wfmpi_buf_fini(&b);
}

static void test_result_round_trip(void **state)
{
    (void)state;
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, WIRE_MAX_MSG);
    struct wfmpi_exec_result in = {.tag = ((uint64_t)9 << 32) | 3,
                                   .reason = WFMPI_EXEC_TIMEOUT,
                                   .exit_code = -1,
                                   .signal = 9,
                                   .start_wall = 1.5,
                                   .end_wall = 2.5,
                                   .maxrss_kb = 1234};
    strcpy(in.detail, "timeout after 2.0 s");
    struct wire_writer w;
    wire_begin(&w, &b, WIRE_TAG_RESULTS);
    wire_put_result(&w, &in);
    wire_finish(&w, 1);
    struct wire_reader r;
    assert_int_equal(wire_open(&r, b.data, b.len, WIRE_TAG_RESULTS), 1);
    struct wfmpi_exec_result out;
    assert_int_equal(wire_get_result(&r, &out), 0);
    assert_int_equal(out.tag, in.tag);
    assert_int_equal(out.reason, WFMPI_EXEC_TIMEOUT);
    assert_int_equal(out.signal, 9);
    assert_int_equal(out.maxrss_kb, 1234);
    assert_string_equal(out.detail, in.detail);
    /* An out-of-range reason is a protocol error. */
    memset(b.data + WIRE_HEADER_BYTES + 8, 0x7f, 4);
    wire_open(&r, b.data, b.len, WIRE_TAG_RESULTS);
    assert_int_equal(wire_get_result(&r, &out), WFMPI_E_PROTO);
    wfmpi_buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_round_trip),
        cmocka_unit_test(test_lying_count),
        cmocka_unit_test(test_result_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
