/* Captured streams: a task's log file made only when the task writes to it.
 *
 * The engine's own per-attempt logs (RUN_DIR/jobs/<id>.<attempt>.out|err)
 * are marked lazy in the spec. Such a stream is a pipe: the child writes into
 * it, and the executor creates the file on the first byte and moves the data
 * with splice(2) as it arrives (the read end sits in the executor's epoll
 * set, level-triggered). Most tasks of a large workflow print nothing, and
 * creating two files per task was most of the executor's cost on ext4 (inode
 * allocation under the directory lock every rank of the node shares; see
 * bench/README.md). A task that prints a lot blocks at most until the driver
 * next polls, as it would on a slow file system.
 *
 * When the task's process group is gone, whatever is left in the pipe is
 * moved before the task is judged, so success and failure messages are
 * scanned in complete files. A process that escaped the group (a daemon)
 * and still holds the pipe gets EPIPE once the executor closes it.
 *
 * The file cannot be created (the run dir went away, a quota)? The data is
 * read and dropped, so the task never blocks on a full pipe, and a warning
 * names the file once.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "exec_int.h"

void exec_capture_reset(struct exec_task *t)
{
    for (int i = 0; i < 2; i++)
        t->cap[i] = (struct exec_stream){.pipe = -1, .file = -1};
}

int exec_capture_open(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, bool fresh,
                      int *child_fd)
{
    /* The file is this attempt's output or absent: never an older run's
     * (an attempt interrupted by a crash runs again under the same name).
     * A fresh run dir has none to remove: two path walks a task saved. */
    if (!fresh && unlinkat(t->dirfd, exec_task_str(t, which), 0) < 0 && errno != ENOENT &&
        errno != ENOTDIR)
        return -errno;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    /* Both ends stay blocking (the child's as a file or terminal would be):
     * the driver never waits on ours, because it only ever takes what
     * FIONREAD says is there. */
    int rd = exec_fd_above_stdio(fds[0]), wr = exec_fd_above_stdio(fds[1]);
    int rc = rd < 0 || wr < 0 ? -errno : 0;
    struct epoll_event ev = {.events = EPOLLIN,
                             .data.u64 = EXEC_CAPTURE_KEY((uint32_t)(t - ex->tasks), which)};
    if (rc == 0 && epoll_ctl(ex->epfd, EPOLL_CTL_ADD, rd, &ev) < 0)
        rc = -errno;
    if (rc < 0) {
        if (rd >= 0)
            close(rd);
        if (wr >= 0)
            close(wr);
        return rc;
    }
    t->cap[which].pipe = rd;
    *child_fd = wr;
    return 0;
}

/* Create the stream's file on its first byte. */
static void open_file(struct exec_task *t, uint32_t which, struct exec_stream *s)
{
    const char *path = exec_task_str(t, which);
    s->file = exec_open_output(t->dirfd, path);
    if (s->file < 0) {
        s->err = errno;
        wfmpi_warn("task output '%s' cannot be created: %s (its output is dropped)", path,
                   strerror(s->err));
    }
}

/* Move up to n bytes from the pipe to the file: splice, or read and write
 * where the file system cannot splice, or read and drop after an error.
 * Returns bytes taken from the pipe, 0 when it is empty, -1 on a pipe error. */
static ssize_t move(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, size_t n)
{
    struct exec_stream *s = &t->cap[which];
    if (s->file < 0 && !s->err)
        open_file(t, which, s);
    if (!s->err && !s->no_splice) {
        ssize_t k = splice(s->pipe, NULL, s->file, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (k >= 0 || errno == EAGAIN || errno == EINTR)
            return k < 0 ? 0 : k;
        if (errno != EINVAL)
            s->err = errno; /* ENOSPC, EDQUOT, EIO: keep the task going */
        else
            s->no_splice = true;
    }
    ssize_t k = read(s->pipe, ex->scan, n < sizeof(ex->scan) ? n : sizeof(ex->scan));
    if (k <= 0)
        return k < 0 && (errno == EAGAIN || errno == EINTR) ? 0 : -1;
    for (ssize_t off = 0; !s->err && off < k;) {
        ssize_t w = write(s->file, ex->scan + off, (size_t)(k - off));
        if (w < 0 && errno != EINTR)
            s->err = errno;
        off += w > 0 ? w : 0;
    }
    return k;
}

static void close_pipe(struct exec_stream *s)
{
    close(s->pipe); /* also leaves the epoll set */
    s->pipe = -1;
}

void exec_capture_pump(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, bool hangup)
{
    struct exec_stream *s = &t->cap[which];
    if (s->pipe < 0)
        return;
    for (;;) {
        int avail = 0;
        if (ioctl(s->pipe, FIONREAD, &avail) < 0 || avail <= 0)
            break;
        if (move(ex, t, which, (size_t)avail) <= 0)
            break;
    }
    /* Every writer has closed it and it is empty: nothing more will come. */
    if (hangup)
        close_pipe(s);
}

void exec_capture_ended(struct exec_task *t, uint32_t which)
{
    if (t->cap[which].pipe >= 0)
        close_pipe(&t->cap[which]);
}

void exec_capture_finish(struct wfmpi_exec *ex, struct exec_task *t)
{
    for (uint32_t i = 0; i < 2; i++) {
        exec_capture_pump(ex, t, i, true);
        if (t->cap[i].file >= 0)
            close(t->cap[i].file);
        t->cap[i].file = -1;
    }
}

void exec_capture_close(struct exec_task *t)
{
    for (int i = 0; i < 2; i++) {
        if (t->cap[i].pipe >= 0)
            close_pipe(&t->cap[i]);
        if (t->cap[i].file >= 0)
            close(t->cap[i].file);
        t->cap[i].file = -1;
    }
}
