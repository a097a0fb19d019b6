/* exec module internals: the task table, spawning, cpusets and judgement.
 * Nothing here is visible outside src/exec/. */
#ifndef WFMPI_EXEC_INT_H
#define WFMPI_EXEC_INT_H

#include <sched.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wfmpi/exec.h"

/* Largest CPU number a cpuset may name. Masks are allocated once at this size,
 * so binding never allocates. */
#define EXEC_CPU_MAX 4096
/* SIGTERM -> SIGKILL delay when the spec leaves kill_grace_s at 0. */
#define EXEC_DEFAULT_GRACE_S 10.0
/* How often a task whose leader has exited is re-checked for stragglers still
 * dying (SIGKILL is asynchronous and there is no fd that reports an empty
 * process group). */
#define EXEC_DRAIN_RECHECK_S 0.005
/* Messages are scanned in chunks of this size, so judging never needs a
 * buffer the size of WFMPI_EXEC_SCAN_BYTES; a message longer than half a chunk
 * never matches. */
#define EXEC_SCAN_CHUNK ((size_t)64 << 10)
#define EXEC_MSG_MAX (EXEC_SCAN_CHUNK / 2)
/* Work directories the executor keeps open (O_PATH) for the tasks that name
 * them; a further one is opened per task. */
#define EXEC_WORK_DIRS 8
/* Sentinel index: end of the free and done lists. */
#define EXEC_NONE UINT32_MAX
/* epoll keys: a pidfd is keyed by its slot index, a captured stream's pipe
 * by slot and stream (0 stdout, 1 stderr), the timerfd by UINT64_MAX. */
#define EXEC_CAPTURE_KEY(slot, which) ((((uint64_t)(which) + 1) << 32) | (slot))
/* Task ends queued for the watchdog (watch.c) before they are sent anyway,
 * and the longest they wait for a start to carry them: short enough that the
 * kernel cannot have handed a freed process group id out again meanwhile,
 * long enough that a steady stream of tasks never needs the timer. */
#define EXEC_WATCH_BATCH 64
#define EXEC_WATCH_FLUSH_S 0.05

enum exec_state {
    EXEC_FREE = 0, /* slot unused */
    EXEC_RUNNING, /* leader alive (or exited, not yet seen) */
    EXEC_DRAINING, /* leader reaped; waiting for the rest of its process group */
    EXEC_DONE, /* result judged, waiting to be returned by poll() */
};

/* Why the executor signalled the task, which outranks how it ended. */
enum exec_stop {
    EXEC_STOP_NONE = 0,
    EXEC_STOP_TIMEOUT,
    EXEC_STOP_INTERRUPT,
};

/* A lazily created log stream (capture.c); pipe -1 when the stream is not
 * captured (it went straight to a file, or it has ended). */
struct exec_stream {
    int pipe; /* our read end, in the epoll set */
    int file; /* created on the first byte; -1 until then */
    int err; /* errno that stopped writing the file; data is dropped after */
    bool no_splice; /* the file system cannot splice: read and write */
};

/* One started task. Slots are reused; `strs` keeps its capacity across reuse so
 * a steady stream of tasks does not allocate. */
struct exec_task {
    enum exec_state state;
    uint32_t next; /* free list or done list */
    pid_t pid; /* leader pid == process group id */
    int pidfd;
    int dirfd; /* work_dir (O_PATH), or AT_FDCWD */
    bool dirfd_owned; /* opened for this task alone (else the executor's) */
    bool chdir; /* the child must fchdir to dirfd */
    double start_mono;
    double term_at; /* timeout: SIGTERM at this mono time; 0 = none */
    double kill_at; /* SIGKILL at this mono time; 0 = none */
    double ckpt_at; /* checkpoint SIGTERM at this mono time; 0 = none/sent */
    double recheck_at; /* DRAINING: next look at the group */
    double timeout_s;
    double grace_s; /* SIGTERM -> SIGKILL delay for timeouts */
    enum exec_stop stop;
    int status; /* leader's wait status */
    bool status_lost; /* the leader was reaped by someone else */
    /* Kept copies, NUL-separated in strs: stdout, stderr, successmsg,
     * failuremsg, then n_outputs output paths. */
    char *strs;
    size_t strs_len, strs_cap;
    uint32_t n_outputs;
    bool has_success, has_failure, same_out_err;
    struct exec_stream cap[2]; /* stdout, stderr when the spec made them lazy */
    struct wfmpi_exec_result res;
};

/* One record to the watchdog: the process group now running in a slot, or
 * pid 0 when the slot's group is gone. Native layout: both ends are on this
 * machine, and of one binary. */
struct exec_watch_msg {
    uint32_t slot;
    int32_t pid;
};

/* The rank's side of its watchdog (watch.c). */
struct exec_watch {
    int fd; /* our end of the socket pair; -1 when there is none (lost) */
    int pidfd; /* the watchdog's, for a bounded wait at destroy; -1 if none */
    pid_t pid; /* 0 when not started */
    uint32_t n_pending;
    double flush_at; /* mono time the queued ends are sent at the latest */
    struct exec_watch_msg pending[EXEC_WATCH_BATCH];
};

struct wfmpi_exec {
    int epfd; /* the fd drivers sleep on: pidfds + timerfd */
    int devnull; /* stdin of tasks that name none, opened once (above 2) */
    int timerfd; /* armed at the nearest deadline, or now when results wait */
    double timer_armed; /* mono time timerfd is armed for; 0 = disarmed */
    struct exec_task *tasks;
    size_t n_tasks, cap_tasks;
    uint32_t free_head;
    uint32_t done_head, done_tail;
    uint32_t live; /* started, not yet returned by poll() */
    /* Reusable buffers for spawning and judging. */
    char **argv, **envp;
    size_t argv_cap, envp_cap;
    size_t *env_keys; /* key lengths of the spec's env entries */
    size_t env_keys_cap;
    cpu_set_t *cpu_own, *cpu_want; /* own: this thread's, read at create */
    size_t cpu_size;
    /* Work directories opened once: a task's dirfd borrows one of these. */
    struct exec_work_dir {
        char *path;
        int fd;
        bool is_cwd; /* the process's current directory: no fchdir */
    } work_dirs[EXEC_WORK_DIRS];
    uint32_t n_work_dirs;
    posix_spawnattr_t attr;
    struct exec_watch watch;
    char scan[EXEC_SCAN_CHUNK];
};

/* spawn.c: start the task in slot t. Returns 0 when it is running, 1 when it
 * could not be started (t->res holds a SPAWN result), -ENOMEM when nothing
 * was started and no result is due. */
int exec_spawn(struct wfmpi_exec *ex, struct exec_task *t, const struct wfmpi_exec_spec *spec);
int exec_spawnattr_init(posix_spawnattr_t *attr);
/* spawn.c: close the executor's work directories. */
void exec_work_dirs_close(struct wfmpi_exec *ex);

/* spawn.c: open an output stream for the child (created 0644, truncated,
 * parent directories made); an fd above 2, or -1 with errno. */
int exec_open_output(int dirfd, const char *path);
/* fd itself when > 2, else a close-on-exec copy above 2 (fd is closed). */
int exec_fd_above_stdio(int fd);

/* capture.c: lazily created log streams. reset: no stream captured. open:
 * a pipe for stream `which` (0 stdout, 1 stderr) whose write end, for the
 * child, is stored in *child_fd, after removing an older file of the
 * stream's name unless fresh says there can be none; 0 or -errno. pump: move what the pipe holds
 * into the file (made on the first byte); with hangup (every writer has
 * closed it), then close the pipe. finish: pump and close everything, before
 * the task is judged. close: drop everything (spawn failure, destroy). */
void exec_capture_reset(struct exec_task *t);
int exec_capture_open(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, bool fresh,
                      int *child_fd);
void exec_capture_pump(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, bool hangup);
void exec_capture_finish(struct wfmpi_exec *ex, struct exec_task *t);
/* The pipe of stream `which` hung up with nothing in it (epoll said HUP and
 * not IN): close it without asking what is left. */
void exec_capture_ended(struct exec_task *t, uint32_t which);
void exec_capture_close(struct exec_task *t);

/* cpuset.c: parse a list like "0-3,8" into set (size bytes, cleared first).
 * 0 or -EINVAL (syntax, reversed range, CPU >= EXEC_CPU_MAX). */
int exec_cpuset_parse(const char *list, cpu_set_t *set, size_t size);

/* judge.c: fill t->res (reason, exit_code, signal, detail) from the leader's
 * status, the stop reason, the task's output streams and declared outputs. */
void exec_judge(struct wfmpi_exec *ex, struct exec_task *t);

/* watch.c: the task watchdog (no task outlives its rank). start: spawn it
 * (0 or -errno, err set). add: slot now runs the group pid (sent at once,
 * with the queued ends). del: slot's group is gone (queued). flush: send the
 * queued ends. due: mono time they must be sent by, 0 when none are queued.
 * stop: flush, close our end, reap the watchdog (bounded). */
int exec_watch_start(struct wfmpi_exec *ex, struct wfmpi_error *err);
void exec_watch_add(struct wfmpi_exec *ex, uint32_t slot, pid_t pid);
void exec_watch_del(struct wfmpi_exec *ex, uint32_t slot);
void exec_watch_flush(struct wfmpi_exec *ex);
double exec_watch_due(const struct wfmpi_exec *ex);
void exec_watch_stop(struct wfmpi_exec *ex);

/* The i-th kept string of t (0 stdout, 1 stderr, 2 successmsg, 3 failuremsg,
 * 4.. outputs). */
const char *exec_task_str(const struct exec_task *t, uint32_t i);

/* Format into the result's detail buffer (truncating). */
void exec_detail(struct wfmpi_exec_result *r, const char *fmt, ...) WFMPI_PRINTF(2, 3);

#endif /* WFMPI_EXEC_INT_H */
