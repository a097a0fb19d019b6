/* Unit tests for exec: real child processes, each test in a scratch directory.
 * The executor never uses a shell; tests run /bin/sh explicitly when a task
 * needs one. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfmpi/exec.h"

#define DATA WFMPI_TEST_DATA "/exec"

/* A scratch directory and an executor per test. */
struct fixture {
    char dir[64];
    struct wfmpi_exec *ex;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/wfmpi-test-exec-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    struct wfmpi_error err = {0};
    f->ex = wfmpi_exec_create(&err);
    if (!f->ex) {
        fprintf(stderr, "wfmpi_exec_create: %s\n", err.text);
        return -1;
    }
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    wfmpi_exec_destroy(f->ex);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Path under the scratch directory (a rotating set of static buffers, so a
 * few can be used in one expression). */
static const char *at(const struct fixture *f, const char *name)
{
    static char bufs[8][256];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", f->dir, name);
    return b;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void spit(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static long read_long(const char *path)
{
    const char *s = slurp(path);
    assert_non_null(s);
    return strtol(s, NULL, 10);
}

/* A spec running `sh -c script` with stdout/stderr in the scratch dir. */
static struct wfmpi_exec_spec sh_spec(const struct fixture *f, const char *script,
                                      const char *argv[4])
{
    argv[0] = "sh";
    argv[1] = "-c";
    argv[2] = script;
    argv[3] = NULL;
    struct wfmpi_exec_spec s = {
        .exe = "/bin/sh",
        .argv = argv,
        .argc = 3,
        .stdout_path = at(f, "out"),
        .stderr_path = at(f, "err"),
    };
    return s;
}

/* Poll until `want` results arrived or limit_s passed; returns how many. */
static uint32_t collect(struct wfmpi_exec *ex, struct wfmpi_exec_result *out, uint32_t want,
                        double limit_s)
{
    double until = wfmpi_mono() + limit_s;
    uint32_t n = 0;
    while (n < want && wfmpi_mono() < until)
        n += wfmpi_exec_poll(ex, out + n, want - n, 0.2);
    return n;
}

static struct wfmpi_exec_result run(struct fixture *f, const struct wfmpi_exec_spec *spec)
{
    struct wfmpi_exec_result r;
    assert_int_equal(wfmpi_exec_start(f->ex, spec, 42), 0);
    assert_int_equal(collect(f->ex, &r, 1, 20), 1);
    assert_int_equal(r.tag, 42);
    assert_int_equal(wfmpi_exec_running(f->ex), 0);
    return r;
}

static struct wfmpi_exec_result run_sh(struct fixture *f, const char *script)
{
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, script, argv);
    return run(f, &s);
}

/* ------------------------------------------------------------ exit paths */

static void test_exit_zero(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"true"};
    struct wfmpi_exec_spec s = {.exe = "true", .argv = argv, .argc = 1}; /* PATH search */
    double before = wfmpi_wall();
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_OK);
    assert_int_equal(r.exit_code, 0);
    assert_int_equal(r.signal, 0);
    assert_string_equal(r.detail, "success");
    assert_true(r.start_wall >= before - 1 && r.end_wall >= r.start_wall);
    assert_true(r.maxrss_kb > 0);
    assert_string_equal(wfmpi_exec_reason_name(r.reason), "success");
}

static void test_exit_code(void **state)
{
    struct wfmpi_exec_result r = run_sh(*state, "exit 3");
    assert_int_equal(r.reason, WFMPI_EXEC_EXIT);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.detail, "exit code 3");
}

static void test_killed_by_signal(void **state)
{
    struct wfmpi_exec_result r = run_sh(*state, "kill -9 $$");
    assert_int_equal(r.reason, WFMPI_EXEC_SIGNAL);
    assert_int_equal(r.signal, 9);
    assert_string_equal(r.detail, "killed by signal 9 (Killed)");
}

static void test_busy_task_has_cpu_time(void **state)
{
    struct wfmpi_exec_result r =
        run_sh(*state, "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
    assert_int_equal(r.reason, WFMPI_EXEC_OK);
    assert_true(r.utime + r.stime > 0.01);
}

/* -------------------------------------------------------------- timeouts */

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"sleep", "30"};
    struct wfmpi_exec_spec s = {.exe = "sleep", .argv = argv, .argc = 2, .timeout_s = 0.5};
    double t0 = wfmpi_mono();
    struct wfmpi_exec_result r = run(f, &s);
    double took = wfmpi_mono() - t0;
    assert_int_equal(r.reason, WFMPI_EXEC_TIMEOUT);
    assert_int_equal(r.signal, SIGTERM);
    assert_true(took >= 0.45 && took < 2.0);
    assert_non_null(strstr(r.detail, "timeout after 0.5 s"));
}

static void test_timeout_kills_after_grace(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "trap '' TERM; sleep 30", argv);
    s.timeout_s = 0.3;
    s.kill_grace_s = 0.3;
    double t0 = wfmpi_mono();
    struct wfmpi_exec_result r = run(f, &s);
    double took = wfmpi_mono() - t0;
    assert_int_equal(r.reason, WFMPI_EXEC_TIMEOUT);
    assert_int_equal(r.signal, SIGKILL);
    assert_true(took >= 0.55 && took < 3.0);
}

/* The leader exits at once but leaves a child and an orphaned grandchild in
 * its process group: the result must wait until both are killed and reaped. */
static void test_stragglers_killed_before_report(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"sh", DATA "/stragglers.sh"};
    struct wfmpi_exec_spec s = {.exe = "/bin/sh", .argv = argv, .argc = 2, .work_dir = f->dir};
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_OK);
    long pgid = read_long(at(f, "pgid"));
    long child = read_long(at(f, "child")), grandchild = read_long(at(f, "grandchild"));
    assert_true(pgid > 1 && child > 1 && grandchild > 1);
    assert_int_equal(kill(-(pid_t)pgid, 0), -1);
    assert_int_equal(errno, ESRCH);
    /* Gone, not zombies: reaped by the executor (the subreaper). */
    assert_int_equal(kill((pid_t)child, 0), -1);
    assert_int_equal(kill((pid_t)grandchild, 0), -1);
}

/* --------------------------------------------------------- spawn errors */

static void test_missing_executable(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"x"};
    struct wfmpi_exec_spec s = {.exe = "/nonexistent/x/y", .argv = argv, .argc = 1};
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, ENOENT);
    assert_string_equal(r.detail, "cannot execute '/nonexistent/x/y': No such file or directory");

    s.exe = "wfmpi-no-such-command";
    r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, ENOENT);
}

static void test_not_executable(void **state)
{
    struct fixture *f = *state;
    spit(at(f, "script"), "#!/bin/sh\nexit 0\n", 0644);
    const char *argv[] = {"script"};
    struct wfmpi_exec_spec s = {.exe = at(f, "script"), .argv = argv, .argc = 1};
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, EACCES);
    assert_non_null(strstr(r.detail, "Permission denied"));
}

static void test_not_a_program(void **state)
{
    struct fixture *f = *state;
    spit(at(f, "text"), "echo no shebang here\n", 0755); /* no shell fallback */
    const char *argv[] = {"text"};
    struct wfmpi_exec_spec s = {.exe = at(f, "text"), .argv = argv, .argc = 1};
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, ENOEXEC);
}

static void test_bad_stdin_and_work_dir(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "exit 0", argv);
    s.stdin_path = "no-such-input";
    s.work_dir = f->dir;
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, ENOENT);
    assert_string_equal(r.detail, "cannot open stdin 'no-such-input': No such file or directory");

    s.stdin_path = NULL;
    s.work_dir = at(f, "no-such-dir");
    r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, ENOENT);
    assert_non_null(strstr(r.detail, "cannot enter work directory"));
}

/* -------------------------------------------------- stdio, env, work_dir */

static void test_stdio_redirection(void **state)
{
    struct fixture *f = *state;
    spit(at(f, "in"), "hello from stdin\n", 0644);
    spit(at(f, "stale"), "old content that must be truncated\n", 0644);
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "cat; echo oops >&2", argv);
    s.stdin_path = at(f, "in");
    s.stdout_path = at(f, "stale");
    s.stderr_path = at(f, "logs/deep/err"); /* parents are created */
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_string_equal(slurp(at(f, "stale")), "hello from stdin\n");
    assert_string_equal(slurp(at(f, "logs/deep/err")), "oops\n");
    struct stat st;
    assert_int_equal(stat(at(f, "stale"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* No stdin given: /dev/null, so `cat` ends at once. */
    s.stdin_path = NULL;
    s.stdout_path = s.stderr_path = at(f, "both"); /* one file, one offset */
    s.argv = (const char *[]){"sh", "-c", "cat; echo a; echo b >&2; echo c"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_string_equal(slurp(at(f, "both")), "a\nb\nc\n");
}

/* Lazy streams (the engine's default logs): no file for a silent task; a
 * chatty one gets every byte, far more than a pipe holds, in order. */
static void test_lazy_streams(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "exit 0", argv);
    s.stdout_path = at(f, "jobs/a.out"); /* parents are made on the first byte */
    s.stderr_path = at(f, "jobs/a.err");
    s.stdout_lazy = s.stderr_lazy = true;
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    struct stat st;
    assert_int_equal(stat(at(f, "jobs/a.out"), &st), -1);
    assert_int_equal(stat(at(f, "jobs/a.err"), &st), -1);

    /* 2 MB on stdout (32 pipe buffers), a line on stderr. */
    s.argv = (const char *[]){"sh", "-c",
                              "i=0; while [ $i -lt 2048 ]; do head -c 1023 /dev/zero | tr '\\0' x;"
                              " echo; i=$((i+1)); done; echo tail; echo oops >&2"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_int_equal(stat(at(f, "jobs/a.out"), &st), 0);
    assert_int_equal(st.st_size, 2048 * 1024 + 5);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_string_equal(slurp(at(f, "jobs/a.err")), "oops\n");
    FILE *fp = fopen(at(f, "jobs/a.out"), "r");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, -5, SEEK_END), 0);
    char end[8] = {0};
    assert_int_equal(fread(end, 1, 5, fp), 5);
    fclose(fp);
    assert_string_equal(end, "tail\n");

    /* Only stderr written: only the .err file. */
    s.stdout_path = at(f, "b.out");
    s.stderr_path = at(f, "b.err");
    s.argv = (const char *[]){"sh", "-c", "echo only-err >&2"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_int_equal(stat(at(f, "b.out"), &st), -1);
    assert_string_equal(slurp(at(f, "b.err")), "only-err\n");

    /* An older file of the name (an attempt that ran under it before a
     * crash) is removed when the attempt starts, so a silent attempt does
     * not show it as its own; unless the caller says none can exist. */
    spit(at(f, "b.out"), "from an earlier run\n", 0644);
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_int_equal(stat(at(f, "b.out"), &st), -1);
    spit(at(f, "b.out"), "from an earlier run\n", 0644);
    s.lazy_fresh = true;
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_string_equal(slurp(at(f, "b.out")), "from an earlier run\n");
}

/* Messages are judged on the whole captured output, and one lazy file for
 * both streams keeps their order. */
static void test_lazy_streams_judged(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "echo 'step 1'; sleep 0.1; echo 'all done' >&2", argv);
    s.stdout_lazy = s.stderr_lazy = true;
    s.successmsg = "all done";
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    s.successmsg = NULL;
    s.failuremsg = "step 1";
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_FAILURE_MSG);
    assert_string_equal(r.detail, "failure message 'step 1' found in stdout");
    /* Silent: no file, so a success message cannot be there. */
    s.failuremsg = NULL;
    s.successmsg = "all done";
    s.argv = (const char *[]){"sh", "-c", "true"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_NO_SUCCESS_MSG);

    s.stdout_path = s.stderr_path = at(f, "both");
    s.successmsg = NULL;
    s.argv = (const char *[]){"sh", "-c", "echo a; echo b >&2; echo c"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_string_equal(slurp(at(f, "both")), "a\nb\nc\n");
}

/* A lazy file that cannot be created: the task is not blocked (its output
 * is dropped, with a warning) and is judged as it ended. */
static void test_lazy_stream_unwritable(void **state)
{
    struct fixture *f = *state;
    spit(at(f, "file"), "", 0644);
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "head -c 300000 /dev/zero; echo done >&2; exit 3", argv);
    s.stdout_path = at(f, "file/cannot/be/a/dir.out");
    s.stdout_lazy = true;
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_EXIT);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(slurp(at(f, "err")), "done\n");
}

static void test_environment(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s =
        sh_spec(f, "echo \"$HOME|$WFMPI_NEW|${PATH:+path}|$WFMPI_PARENT\"", argv);
    const char *env[] = {"HOME=/override", "WFMPI_NEW=first", "WFMPI_NEW=last"};
    s.env = env;
    s.n_env = 3;
    setenv("WFMPI_PARENT", "inherited", 1);
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    unsetenv("WFMPI_PARENT");
    assert_string_equal(slurp(at(f, "out")), "/override|last|path|inherited\n");

    const char *bad[] = {"NOEQUALS"};
    s.env = bad;
    s.n_env = 1;
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
    assert_int_equal(r.spawn_errno, EINVAL);
}

static void test_work_dir_and_outputs(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(mkdir(at(f, "wd"), 0755), 0);
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "pwd; echo data > a.d", argv);
    s.work_dir = at(f, "wd");
    s.stdout_path = "job.out"; /* relative to work_dir */
    s.stderr_path = "job.err";
    const char *outs[] = {"a.d", "b.d"};
    s.outputs = outs;
    s.n_outputs = 1; /* b.d is optional: not declared */
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    char want[300];
    snprintf(want, sizeof(want), "%s\n", at(f, "wd"));
    assert_string_equal(slurp(at(f, "wd/job.out")), want);
    assert_string_equal(slurp(at(f, "wd/a.d")), "data\n");

    s.n_outputs = 2;
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_MISSING_OUTPUT);
    assert_string_equal(r.detail, "missing output 'b.d'");
}

/* ------------------------------------------------------------- messages */

static void test_success_message(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "echo 'step 1'; echo 'all done' >&2", argv);
    s.successmsg = "all done";
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    s.successmsg = "finished";
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_NO_SUCCESS_MSG);
    assert_string_equal(r.detail, "success message 'finished' not found in stdout or stderr");
}

static void test_failure_message(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(f, "echo fine; echo 'ERROR: disk full' >&2", argv);
    s.failuremsg = "ERROR";
    s.successmsg = "fine";
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_FAILURE_MSG);
    assert_string_equal(r.detail, "failure message 'ERROR' found in stderr");

    /* A non-zero exit outranks the message. */
    s.argv = (const char *[]){"sh", "-c", "echo ERROR; exit 4"};
    r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_EXIT);
    assert_int_equal(r.exit_code, 4);
}

/* A message far into a large output, across a chunk boundary, is found; one
 * before the last WFMPI_EXEC_SCAN_BYTES is not. */
static void test_message_scan_window(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec s = sh_spec(
        f, "printf 'EARLY\\n'; head -c 5000000 /dev/zero | tr '\\0' x; printf 'LATE\\n'", argv);
    s.failuremsg = "EARLY";
    s.successmsg = "LATE";
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
}

/* ---------------------------------------------------- signals and binding */

static void test_checkpoint_signal(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"sh", DATA "/checkpoint.sh"};
    const char *outs[] = {"ckpt.txt"};
    struct wfmpi_exec_spec s = {.exe = "/bin/sh",
                                .argv = argv,
                                .argc = 2,
                                .work_dir = f->dir,
                                .stdout_path = "out",
                                .stderr_path = "err",
                                .outputs = outs,
                                .n_outputs = 1,
                                .checkpoint_signal_s = 0.3,
                                .timeout_s = 20};
    struct wfmpi_exec_result r = run(f, &s);
    assert_int_equal(r.reason, WFMPI_EXEC_OK);
    assert_string_equal(slurp(at(f, "ckpt.txt")), "checkpoint\n");
}

static void test_cpuset_binding(void **state)
{
    struct fixture *f = *state;
    cpu_set_t before, after;
    assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
    const char *argv[] = {"cat", "/proc/self/status"};
    struct wfmpi_exec_spec s = {.exe = "cat",
                                .argv = argv,
                                .argc = 2,
                                .stdout_path = at(f, "status"),
                                .stderr_path = at(f, "err"),
                                .cpuset = "0"};
    assert_int_equal(run(f, &s).reason, WFMPI_EXEC_OK);
    assert_non_null(strstr(slurp(at(f, "status")), "Cpus_allowed_list:\t0\n"));
    assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
    assert_true(CPU_EQUAL(&before, &after));

    const char *bad[] = {"", "a", "1-0", "0,", "0-", "3,,4", "99999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        s.cpuset = bad[i];
        struct wfmpi_exec_result r = run(f, &s);
        assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);
        assert_int_equal(r.spawn_errno, EINVAL);
    }
}

static void test_interrupt_all(void **state)
{
    struct fixture *f = *state;
    const char *sleep_argv[] = {"sleep", "30"};
    struct wfmpi_exec_spec s = {.exe = "sleep", .argv = sleep_argv, .argc = 2};
    for (uint64_t tag = 1; tag <= 3; tag++)
        assert_int_equal(wfmpi_exec_start(f->ex, &s, tag), 0);
    const char *argv[4];
    struct wfmpi_exec_spec stubborn = sh_spec(f, "trap '' TERM; sleep 30", argv);
    assert_int_equal(wfmpi_exec_start(f->ex, &stubborn, 4), 0);
    struct wfmpi_exec_result r[4];
    assert_int_equal(wfmpi_exec_poll(f->ex, r, 4, 0.2), 0);
    double t0 = wfmpi_mono();
    wfmpi_exec_interrupt_all(f->ex, 0.3);
    assert_int_equal(collect(f->ex, r, 4, 10), 4);
    assert_true(wfmpi_mono() - t0 < 3.0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].reason, WFMPI_EXEC_INTERRUPTED);
        assert_int_equal(r[i].signal, r[i].tag == 4 ? SIGKILL : SIGTERM);
    }
    assert_int_equal(wfmpi_exec_running(f->ex), 0);
}

/* The drain race: a task that exited 0 with its checks passed before the
 * drain reached it (its exit not yet seen) is a success; one still running
 * is interrupted. */
static void test_interrupt_after_exit_is_success(void **state)
{
    struct fixture *f = *state;
    const char *argv[4];
    struct wfmpi_exec_spec done = sh_spec(f, "echo made >made.txt", argv);
    const char *outs[] = {"made.txt"};
    done.work_dir = f->dir;
    done.outputs = outs;
    done.n_outputs = 1;
    assert_int_equal(wfmpi_exec_start(f->ex, &done, 1), 0);
    const char *sleep_argv[] = {"sleep", "30"};
    struct wfmpi_exec_spec s = {.exe = "sleep", .argv = sleep_argv, .argc = 2};
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 2), 0);
    /* Not polled: the first one's exit is still unseen when the drain comes. */
    for (int i = 0; i < 200 && access(at(f, "made.txt"), F_OK) < 0; i++)
        usleep(10000);
    usleep(200000);
    wfmpi_exec_interrupt_all(f->ex, 1.0);
    struct wfmpi_exec_result r[2];
    assert_int_equal(collect(f->ex, r, 2, 10), 2);
    for (int i = 0; i < 2; i++) {
        if (r[i].tag == 1) {
            assert_int_equal(r[i].reason, WFMPI_EXEC_OK);
            assert_int_equal(r[i].exit_code, 0);
        } else {
            assert_int_equal(r[i].reason, WFMPI_EXEC_INTERRUPTED);
        }
    }
}

/* A glidein pilot cancels one attempt: only that task is interrupted. */
static void test_interrupt_one(void **state)
{
    struct fixture *f = *state;
    const char *sleep_argv[] = {"sleep", "30"};
    struct wfmpi_exec_spec s = {.exe = "sleep", .argv = sleep_argv, .argc = 2};
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 1), 0);
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 2), 0);
    struct wfmpi_exec_result r;
    assert_int_equal(wfmpi_exec_poll(f->ex, &r, 1, 0.1), 0);
    assert_int_equal(wfmpi_exec_interrupt(f->ex, 3, 1), -ENOENT);
    assert_int_equal(wfmpi_exec_interrupt(f->ex, 2, 1), 0);
    assert_int_equal(collect(f->ex, &r, 1, 10), 1);
    assert_int_equal(r.tag, 2);
    assert_int_equal(r.reason, WFMPI_EXEC_INTERRUPTED);
    assert_int_equal(wfmpi_exec_running(f->ex), 1);
    assert_int_equal(wfmpi_exec_interrupt(f->ex, 2, 1), -ENOENT); /* ended: its result stands */
    wfmpi_exec_interrupt_all(f->ex, 0);
    assert_int_equal(collect(f->ex, &r, 1, 10), 1);
    assert_int_equal(r.tag, 1);
}

static void test_signal_all(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"sleep", "30"};
    struct wfmpi_exec_spec s = {.exe = "sleep", .argv = argv, .argc = 2};
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 7), 0);
    struct wfmpi_exec_result r;
    assert_int_equal(wfmpi_exec_poll(f->ex, &r, 1, 0.1), 0);
    wfmpi_exec_signal_all(f->ex, SIGUSR1);
    assert_int_equal(collect(f->ex, &r, 1, 10), 1);
    assert_int_equal(r.reason, WFMPI_EXEC_SIGNAL);
    assert_int_equal(r.signal, SIGUSR1);
}

/* ------------------------------------------------------ volume and the fd */

static void test_many_concurrent(void **state)
{
    struct fixture *f = *state;
    enum { N = 50 };
    const char *argv[] = {"true"};
    struct wfmpi_exec_spec s = {.exe = "/bin/true", .argv = argv, .argc = 1};
    for (uint64_t i = 0; i < N; i++)
        assert_int_equal(wfmpi_exec_start(f->ex, &s, 1000 + i), 0);
    assert_int_equal(wfmpi_exec_running(f->ex), N);
    struct wfmpi_exec_result r[N + 1];
    /* Small batches: results beyond max wait for the next poll. */
    uint32_t n = 0;
    double until = wfmpi_mono() + 30;
    while (n < N && wfmpi_mono() < until)
        n += wfmpi_exec_poll(f->ex, r + n, 7, 0.2);
    assert_int_equal(n, N);
    int seen[N] = {0};
    for (uint32_t i = 0; i < n; i++) {
        assert_true(r[i].tag >= 1000 && r[i].tag < 1000 + N);
        assert_int_equal(r[i].reason, WFMPI_EXEC_OK);
        seen[r[i].tag - 1000]++;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_int_equal(wfmpi_exec_running(f->ex), 0);
    assert_int_equal(wfmpi_exec_poll(f->ex, r, N, 0.05), 0);
}

static int fd_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms);
}

static void test_fd_readable_on_exit(void **state)
{
    struct fixture *f = *state;
    int fd = wfmpi_exec_fd(f->ex);
    assert_true(fd >= 0);
    const char *argv4[4];
    struct wfmpi_exec_spec s = sh_spec(f, "sleep 0.3", argv4);
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 1), 0);
    assert_int_equal(fd_readable(fd, 50), 0); /* still running */
    assert_int_equal(fd_readable(fd, 5000), 1);
    struct wfmpi_exec_result r;
    assert_int_equal(wfmpi_exec_poll(f->ex, &r, 1, 0), 1);
    assert_int_equal(r.reason, WFMPI_EXEC_OK);

    /* A spawn failure has no child to exit, yet the fd must wake a driver. */
    const char *argv[] = {"x"};
    struct wfmpi_exec_spec bad = {.exe = "/nonexistent", .argv = argv, .argc = 1};
    assert_int_equal(wfmpi_exec_start(f->ex, &bad, 2), 0);
    assert_int_equal(fd_readable(fd, 1000), 1);
    assert_int_equal(wfmpi_exec_poll(f->ex, &r, 1, 0), 1);
    assert_int_equal(r.reason, WFMPI_EXEC_SPAWN);

    /* A timeout deadline also wakes it, with no child state change. */
    s.argv = (const char *[]){"sh", "-c", "trap '' TERM; sleep 5"};
    s.timeout_s = 0.2;
    s.kill_grace_s = 5;
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 3), 0);
    assert_int_equal(fd_readable(fd, 2000), 1);
    assert_int_equal(wfmpi_exec_poll(f->ex, &r, 1, 0), 0); /* SIGTERM sent, ignored */
    wfmpi_exec_interrupt_all(f->ex, 0);
    assert_int_equal(collect(f->ex, &r, 1, 5), 1);
    assert_int_equal(r.reason, WFMPI_EXEC_TIMEOUT);
}

/* destroy() with tasks running kills and reaps them (checked for leaks and
 * by the absence of the group afterwards). */
static void test_destroy_kills_running(void **state)
{
    struct fixture *f = *state;
    const char *argv[] = {"sh", DATA "/stragglers.sh"};
    struct wfmpi_exec_spec s = {.exe = "/bin/sh", .argv = argv, .argc = 2, .work_dir = f->dir};
    const char *sargv[] = {"sleep", "30"};
    struct wfmpi_exec_spec sl = {.exe = "sleep", .argv = sargv, .argc = 2, .work_dir = f->dir};
    assert_int_equal(wfmpi_exec_start(f->ex, &sl, 1), 0);
    assert_int_equal(wfmpi_exec_start(f->ex, &s, 2), 0);
    /* Wait until the script has left its stragglers (its own result may or
     * may not have been reported by then). */
    struct wfmpi_exec_result r;
    double until = wfmpi_mono() + 10;
    while (access(at(f, "grandchild"), F_OK) != 0 && wfmpi_mono() < until)
        wfmpi_exec_poll(f->ex, &r, 1, 0.05);
    wfmpi_exec_destroy(f->ex);
    f->ex = NULL;
    long child = read_long(at(f, "child"));
    assert_int_equal(kill((pid_t)child, 0), -1);
}

/* --------------------------------------------------------------- orphans */

/* The watchdogs whose parent is `parent` (at most max): its children whose
 * command line is the watchdog's. */
static int watchdogs_of(pid_t parent, pid_t *out, int max)
{
    char path[64], cmd[32];
    snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", (long)parent, (long)parent);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    int n = 0;
    long pid;
    while (n < max && fscanf(fp, "%ld", &pid) == 1) {
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        FILE *c = fopen(path, "r");
        size_t len = c ? fread(cmd, 1, sizeof(cmd) - 1, c) : 0;
        if (c)
            fclose(c);
        cmd[len] = '\0';
        if (strcmp(cmd, "wfmpi-watchdog") == 0)
            out[n++] = (pid_t)pid;
    }
    fclose(fp);
    return n;
}

/* Gone: no such process, or one that has finished (a zombie; this process
 * is a child subreaper, so the orphans it is checking become its own, and
 * are reaped here). */
static bool gone(pid_t pid)
{
    if (waitpid(pid, NULL, WNOHANG) == pid)
        return true;
    char path[64], st[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return true;
    size_t len = fread(st, 1, sizeof(st) - 1, fp);
    fclose(fp);
    st[len] = '\0';
    const char *paren = strrchr(st, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

/* The fake rank: an executor of its own that runs a few short tasks to the
 * end (ends and starts in reused slots go to the watchdog in order), then
 * two long ones whose shells start a child each in their group, and waits
 * to be killed. */
static void fake_rank(const struct fixture *f)
{
    struct wfmpi_error err = {0};
    struct wfmpi_exec *ex = wfmpi_exec_create(&err);
    if (!ex)
        _exit(1);
    const char *targv[] = {"true"};
    struct wfmpi_exec_spec t = {.exe = "true", .argv = targv, .argc = 1};
    struct wfmpi_exec_result r[4];
    for (int round = 0; round < 5; round++) {
        for (uint64_t k = 0; k < 4; k++)
            if (wfmpi_exec_start(ex, &t, k))
                _exit(1);
        if (collect(ex, r, 4, 10) != 4)
            _exit(1);
    }
    char script[2][512];
    for (int k = 0; k < 2; k++) {
        const char *path = at(f, k ? "pids1" : "pids0");
        snprintf(script[k], sizeof(script[k]),
                 "sleep 30 & echo $$ $! >%s.tmp && mv %s.tmp %s; wait", path, path, path);
        const char *argv[] = {"sh", "-c", script[k]};
        struct wfmpi_exec_spec s = {.exe = "/bin/sh", .argv = argv, .argc = 3};
        if (wfmpi_exec_start(ex, &s, 10 + (uint64_t)k))
            _exit(1);
    }
    for (;;)
        wfmpi_exec_poll(ex, r, 4, 1.0);
}

/* kill -9 of a rank takes its tasks with it, and what they started in their
 * process group: the rank's watchdog kills them, and then exits. */
static void test_killed_rank_leaves_no_orphans(void **state)
{
    struct fixture *f = *state;
    pid_t rank = fork();
    assert_true(rank >= 0);
    if (rank == 0)
        fake_rank(f);
    double until = wfmpi_mono() + 20;
    while ((access(at(f, "pids0"), F_OK) || access(at(f, "pids1"), F_OK)) && wfmpi_mono() < until)
        usleep(10000);
    pid_t pids[5];
    long a, b;
    for (int k = 0; k < 2; k++) {
        FILE *fp = fopen(at(f, k ? "pids1" : "pids0"), "r");
        assert_non_null(fp);
        assert_int_equal(fscanf(fp, "%ld %ld", &a, &b), 2);
        fclose(fp);
        pids[2 * k] = (pid_t)a;
        pids[2 * k + 1] = (pid_t)b;
    }
    assert_int_equal(watchdogs_of(rank, &pids[4], 1), 1);
    assert_int_equal(kill(rank, SIGKILL), 0);
    assert_int_equal(waitpid(rank, NULL, 0), rank);
    until = wfmpi_mono() + 2;
    int left;
    do {
        left = 0;
        for (int k = 0; k < 5; k++)
            left += !gone(pids[k]);
        if (left)
            usleep(10000);
    } while (left && wfmpi_mono() < until);
    for (int k = 0; k < 5; k++)
        kill(pids[k], SIGKILL); /* a failed check leaves nothing running */
    assert_int_equal(left, 0);
}

/* destroy() stops and reaps its watchdog: none is left, not even a zombie. */
static void test_destroy_stops_watchdog(void **state)
{
    struct fixture *f = *state;
    pid_t dog[4];
    /* posix_spawn returns before the new image's command line is set up
     * (the vfork parent is released early in exec). */
    int n;
    double until = wfmpi_mono() + 5;
    while ((n = watchdogs_of(getpid(), dog, 4)) == 0 && wfmpi_mono() < until)
        usleep(1000);
    assert_int_equal(n, 1);
    run_sh(f, "exit 0");
    wfmpi_exec_destroy(f->ex);
    f->ex = NULL;
    assert_int_equal(kill(dog[0], 0), -1);
    assert_int_equal(errno, ESRCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exit_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exit_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_task_has_cpu_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_kills_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stragglers_killed_before_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_executable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_executable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_program, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_stdin_and_work_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdio_redirection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_streams_judged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_stream_unwritable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_work_dir_and_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_scan_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cpuset_binding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_after_exit_is_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_readable_on_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_kills_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_rank_leaves_no_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_stops_watchdog, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
