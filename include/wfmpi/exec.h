/* wfmpi executor: runs tasks as child processes on a worker rank and judges
 * their success.
 *
 * Each task is posix_spawn'ed (never fork from a large process) with its argv
 * directly (no shell), in its own process group, with stdio redirected to
 * files, its environment built from the rank's environment plus the task's,
 * and an optional CPU binding. Timeouts send SIGTERM to the group, then SIGKILL
 * after a grace period. A task is reported only once its whole process group
 * is gone, so a retry never overlaps the attempt it replaces.
 *
 * Success = exit 0, the success message found (when set), no failure message
 * found, and every declared (non-optional) output present.
 *
 * Any rank may use it; an executor is single-threaded and owns its children.
 */
#ifndef WFMPI_EXEC_H
#define WFMPI_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/util.h"

#define WFMPI_EXEC_DETAIL_MAX 256
/* How much of a task's stdout/stderr is scanned for success/failure messages:
 * the last N bytes of each (messages are usually at the end). */
#define WFMPI_EXEC_SCAN_BYTES ((size_t)4 << 20)

#define WFMPI_EXEC_REASONS(X)                                                                      \
    X(OK, "success")                                                                               \
    X(EXIT, "non-zero exit code")                                                                  \
    X(SIGNAL, "killed by signal")                                                                  \
    X(TIMEOUT, "timeout")                                                                          \
    X(MISSING_OUTPUT, "missing output")                                                            \
    X(FAILURE_MSG, "failure message matched")                                                      \
    X(NO_SUCCESS_MSG, "success message not found")                                                 \
    X(SPAWN, "spawn failed")                                                                       \
    X(INTERRUPTED, "interrupted")                                                                  \
    X(STAGE, "input integrity")

enum wfmpi_exec_reason {
#define WFMPI_EXEC_REASON_ENUM(name, text) WFMPI_EXEC_##name,
    WFMPI_EXEC_REASONS(WFMPI_EXEC_REASON_ENUM)
#undef WFMPI_EXEC_REASON_ENUM
        WFMPI_EXEC_NREASONS
};

const char *wfmpi_exec_reason_name(enum wfmpi_exec_reason r);

/* What to run. Pointers are borrowed for the duration of wfmpi_exec_start()
 * only; the executor copies what it keeps. */
struct wfmpi_exec_spec {
    const char *exe; /* path; a name without '/' is searched in the rank's PATH
                      * (posix_spawnp); a relative path is relative to work_dir */
    const char *const *argv; /* argv[0..argc), argv[0] is the program name */
    uint32_t argc;
    const char *const *env; /* "KEY=VALUE" added to/overriding the environment */
    uint32_t n_env;
    const char *work_dir; /* chdir before exec; NULL = current */
    const char *stdin_path; /* NULL = /dev/null; relative to work_dir */
    const char *stdout_path; /* relative to work_dir unless absolute; created 0644,
                              * truncated, parent directories made; NULL = /dev/null */
    const char *stderr_path; /* same; equal to stdout_path = one shared file */
    /* Lazy streams (the engine's default per-attempt logs): the file is
     * created only when the task writes to it, so a task that prints nothing
     * leaves none; the data goes through a pipe the executor empties into
     * the file as it arrives, and completely before the task is judged. */
    bool stdout_lazy, stderr_lazy;
    /* Lazy streams only: no file of that name can be there already (a new
     * run dir), so none is removed first (else a stale one from an attempt
     * that ran under the same name before a crash is). */
    bool lazy_fresh;
    const char *const *outputs; /* required output files, relative to work_dir */
    uint32_t n_outputs;
    const char *successmsg; /* NULL = none */
    const char *failuremsg; /* NULL = none */
    double timeout_s; /* 0 = none */
    double kill_grace_s; /* SIGTERM -> SIGKILL delay; 0 = default 10 s */
    double checkpoint_signal_s; /* send SIGTERM at this age (pegasus.checkpoint.time); 0 = none */
    const char *cpuset; /* hwloc list "0-3,8" to bind to; NULL = inherit; invalid =
                         * SPAWN result with spawn_errno EINVAL */
};

struct wfmpi_exec_result {
    uint64_t tag; /* the caller's tag from start() */
    enum wfmpi_exec_reason reason;
    int exit_code; /* when the process exited */
    int signal; /* when killed by a signal */
    int spawn_errno; /* for WFMPI_EXEC_SPAWN */
    double start_wall, end_wall; /* epoch seconds; end = its process group is gone */
    double utime, stime; /* seconds, from wait4 */
    long maxrss_kb;
    char detail[WFMPI_EXEC_DETAIL_MAX]; /* e.g. "exit code 3", "missing output f.d" */
};

struct wfmpi_exec;

/* Create an executor. Installs no signal handler: children are watched through
 * pidfds (Linux >= 5.3) and only pids it started are reaped. It makes the
 * process a child subreaper (prctl, process-wide) so descendants a task leaves
 * behind can be killed and reaped with its process group; a process that a
 * task moves into another process group or session escapes (accepted).
 * No task outlives this process: it starts a watchdog process (this same
 * binary, re-executed through /proc/self/exe, named wfmpi-watchdog) that
 * SIGKILLs the process group of every task still running when this process
 * dies, however it dies (kill -9 included). Cost: one small write to it per
 * task start; destroy() stops it.
 * Fails (NULL, err set) when SIGCHLD is ignored (exit statuses would be
 * lost), pidfds are unavailable or the watchdog cannot be started. The
 * caller owns the result. */
struct wfmpi_exec *wfmpi_exec_create(struct wfmpi_error *err);
/* Kills (SIGKILL) and reaps anything still running. Accepts NULL. */
void wfmpi_exec_destroy(struct wfmpi_exec *ex);

/* Start a task. Returns 0 when it is running; a spawn failure is NOT an error
 * here: it is reported as a WFMPI_EXEC_SPAWN result by the next poll(), so
 * every start() yields exactly one result. Negative only for -ENOMEM. */
int wfmpi_exec_start(struct wfmpi_exec *ex, const struct wfmpi_exec_spec *spec, uint64_t tag);

/* Reap finished tasks, enforce timeouts and checkpoint signals, judge
 * success. Waits up to timeout_s (0 = do not wait) for at least one result.
 * Writes up to max results, returns how many. */
uint32_t wfmpi_exec_poll(struct wfmpi_exec *ex, struct wfmpi_exec_result *out, uint32_t max,
                         double timeout_s);

/* Send sig to every running task's process group (walltime drain). */
void wfmpi_exec_signal_all(struct wfmpi_exec *ex, int sig);
/* Mark every running task interrupted: SIGTERM now, SIGKILL after grace_s;
 * their results come back with reason WFMPI_EXEC_INTERRUPTED. */
void wfmpi_exec_interrupt_all(struct wfmpi_exec *ex, double grace_s);
/* The same for the one running task started with tag (a glidein pilot
 * cancelling an attempt). -ENOENT when no running task has that tag (it
 * ended already: its result stands). */
int wfmpi_exec_interrupt(struct wfmpi_exec *ex, uint64_t tag, double grace_s);
/* Tasks started whose result poll() has not returned yet (running, draining
 * their process group, or waiting to be returned). */
uint32_t wfmpi_exec_running(const struct wfmpi_exec *ex);
/* Is the attempt tagged `tag` one of those (started, result not returned)? */
bool wfmpi_exec_live(const struct wfmpi_exec *ex, uint64_t tag);

/* A file descriptor (an epoll set; owned by ex) that becomes readable when a
 * child exits, a deadline (timeout, kill, checkpoint signal) is due, or a
 * result waits to be returned, so a driver can sleep in poll() on it together
 * with other descriptors and then call wfmpi_exec_poll(ex, ..., 0). */
int wfmpi_exec_fd(const struct wfmpi_exec *ex);

#endif /* WFMPI_EXEC_H */
