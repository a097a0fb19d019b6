/* Judging a finished task. Precedence, strongest first: TIMEOUT/INTERRUPTED
 * (the executor stopped it, whatever it then did) > SIGNAL > EXIT >
 * FAILURE_MSG > NO_SUCCESS_MSG > MISSING_OUTPUT. Only a task that exited 0
 * has its streams and outputs examined: a failed task's missing outputs are a
 * consequence, not the cause. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_int.h"

void exec_detail(struct wfmpi_exec_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

const char *exec_task_str(const struct exec_task *t, uint32_t i)
{
    const char *s = t->strs;
    while (i--)
        s += strlen(s) + 1;
    return s;
}

/* How the leader ended, as a phrase: "exit code 3", "killed by signal 9
 * (Killed)". */
static void ending(const struct exec_task *t, char *buf, size_t size)
{
    if (t->status_lost)
        snprintf(buf, size, "exit status lost (reaped outside the executor)");
    else if (WIFSIGNALED(t->status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(t->status),
                 strsignal(WTERMSIG(t->status)));
    else
        snprintf(buf, size, "exit code %d", WEXITSTATUS(t->status));
}

/* Does the last WFMPI_EXEC_SCAN_BYTES of fd contain msg? Read in chunks that
 * overlap by len-1 bytes, so a match across a chunk boundary is found. */
static bool scan_fd(int fd, const char *msg, size_t len, char *buf)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || len == 0 || len > EXEC_MSG_MAX)
        return false;
    off_t off =
        st.st_size > (off_t)WFMPI_EXEC_SCAN_BYTES ? st.st_size - (off_t)WFMPI_EXEC_SCAN_BYTES : 0;
    size_t keep = 0;
    while (off < st.st_size) {
        size_t want = EXEC_SCAN_CHUNK - keep;
        if ((off_t)want > st.st_size - off)
            want = (size_t)(st.st_size - off);
        ssize_t n = pread(fd, buf + keep, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t have = keep + (size_t)n;
        if (memmem(buf, have, msg, len))
            return true;
        off += n;
        keep = len - 1 < have ? len - 1 : have;
        memmove(buf, buf + have - keep, keep);
    }
    return false;
}

static bool scan_stream(struct wfmpi_exec *ex, const struct exec_task *t, uint32_t which,
                        const char *msg)
{
    int fd = openat(t->dirfd, exec_task_str(t, which), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool found = scan_fd(fd, msg, strlen(msg), ex->scan);
    close(fd);
    return found;
}

/* Which stream holds msg: 0 stdout, 1 stderr, -1 neither. */
static int find_msg(struct wfmpi_exec *ex, const struct exec_task *t, const char *msg)
{
    if (scan_stream(ex, t, 0, msg))
        return 0;
    if (!t->same_out_err && scan_stream(ex, t, 1, msg))
        return 1;
    return -1;
}

/* Messages and outputs of a task that exited 0. */
static void judge_clean_exit(struct wfmpi_exec *ex, struct exec_task *t)
{
    struct wfmpi_exec_result *r = &t->res;
    if (t->has_failure) {
        const char *msg = exec_task_str(t, 3);
        int where = find_msg(ex, t, msg);
        if (where >= 0) {
            r->reason = WFMPI_EXEC_FAILURE_MSG;
            exec_detail(r, "failure message '%s' found in %s", msg, where ? "stderr" : "stdout");
            return;
        }
    }
    if (t->has_success) {
        const char *msg = exec_task_str(t, 2);
        if (find_msg(ex, t, msg) < 0) {
            r->reason = WFMPI_EXEC_NO_SUCCESS_MSG;
            exec_detail(r, "success message '%s' not found in stdout or stderr", msg);
            return;
        }
    }
    struct stat st;
    for (uint32_t i = 0; i < t->n_outputs; i++) {
        const char *out = exec_task_str(t, 4 + i);
        if (fstatat(t->dirfd, out, &st, 0) < 0) {
            r->reason = WFMPI_EXEC_MISSING_OUTPUT;
            exec_detail(r, "missing output '%s'", out);
            return;
        }
    }
    r->reason = WFMPI_EXEC_OK;
    exec_detail(r, "success");
}

void exec_judge(struct wfmpi_exec *ex, struct exec_task *t)
{
    struct wfmpi_exec_result *r = &t->res;
    char how[96];
    ending(t, how, sizeof(how));
    if (t->status_lost)
        r->exit_code = -1;
    else if (WIFSIGNALED(t->status))
        r->signal = WTERMSIG(t->status);
    else
        r->exit_code = WEXITSTATUS(t->status);

    if (t->stop == EXEC_STOP_TIMEOUT) {
        r->reason = WFMPI_EXEC_TIMEOUT;
        exec_detail(r, "timeout after %.1f s, then %s", t->timeout_s, how);
    } else if (t->stop == EXEC_STOP_INTERRUPT) {
        r->reason = WFMPI_EXEC_INTERRUPTED;
        exec_detail(r, "interrupted, then %s", how);
    } else if (r->signal) {
        r->reason = WFMPI_EXEC_SIGNAL;
        exec_detail(r, "%s", how);
    } else if (r->exit_code != 0) {
        r->reason = WFMPI_EXEC_EXIT;
        exec_detail(r, "%s", how);
    } else {
        judge_clean_exit(ex, t);
    }
}
