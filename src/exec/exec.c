/* The executor's task table and event loop.
 *
 * Children are watched through pidfds in one epoll set, so no SIGCHLD handler
 * is installed and no pid is reaped that this executor did not start (MPI may
 * have children of its own). A timerfd in the same set is armed at the nearest
 * deadline (timeout, kill, checkpoint signal, straggler re-check) or at "now"
 * while results wait to be returned, so a driver sleeping in poll() on
 * wfmpi_exec_fd() wakes whenever wfmpi_exec_poll() has work to do.
 *
 * A task ends when its whole process group is gone. The executor is a child
 * subreaper, so when the leader exits, its leftover descendants are re-parented
 * here instead of to init: we SIGKILL the group while the zombie leader still
 * pins the process group id (so the signal cannot hit a recycled id), reap the
 * leader with wait4 for its rusage, then reap stragglers with wait4(-pgid)
 * until kill(-pgid) says ESRCH. A task that moves a process into another
 * process group or session (a daemon) escapes this on purpose; that is
 * accepted, and such a process, when it exits, stays a zombie of this rank
 * until the rank exits. If the rank itself dies, its watchdog (watch.c)
 * kills every group still running.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_int.h"

/* epoll key of the timerfd; pidfds are keyed by their slot index. */
#define EXEC_TIMER_KEY UINT64_MAX
#define EXEC_EVENTS 64

const char *wfmpi_exec_reason_name(enum wfmpi_exec_reason r)
{
    static const char *const names[] = {
#define EXEC_REASON_TEXT(name, text) text,
        WFMPI_EXEC_REASONS(EXEC_REASON_TEXT)
#undef EXEC_REASON_TEXT
    };
    return (unsigned)r < WFMPI_EXEC_NREASONS ? names[r] : "unknown";
}

/* ---------------------------------------------------------- task table */

static int task_alloc(struct wfmpi_exec *ex, uint32_t *out)
{
    if (ex->free_head == EXEC_NONE) {
        size_t old = ex->cap_tasks;
        if (ex->n_tasks >= EXEC_NONE ||
            wfmpi_grow((void **)&ex->tasks, &ex->cap_tasks, ex->n_tasks + 1, sizeof(*ex->tasks)))
            return -ENOMEM;
        memset(ex->tasks + old, 0, (ex->cap_tasks - old) * sizeof(*ex->tasks));
        for (size_t i = ex->cap_tasks; i-- > old;) {
            ex->tasks[i].pidfd = -1;
            ex->tasks[i].dirfd = AT_FDCWD;
            exec_capture_reset(&ex->tasks[i]);
            ex->tasks[i].next = ex->free_head;
            ex->free_head = (uint32_t)i;
        }
        ex->n_tasks = ex->cap_tasks;
    }
    *out = ex->free_head;
    ex->free_head = ex->tasks[*out].next;
    return 0;
}

static void task_free(struct wfmpi_exec *ex, uint32_t i)
{
    ex->tasks[i].state = EXEC_FREE;
    ex->tasks[i].next = ex->free_head;
    ex->free_head = i;
}

static void done_push(struct wfmpi_exec *ex, uint32_t i)
{
    ex->tasks[i].state = EXEC_DONE;
    ex->tasks[i].next = EXEC_NONE;
    if (ex->done_tail == EXEC_NONE)
        ex->done_head = i;
    else
        ex->tasks[ex->done_tail].next = i;
    ex->done_tail = i;
}

/* Reset a slot for a new task, keeping its string buffer's capacity. */
static void task_reset(struct exec_task *t, uint64_t tag)
{
    char *strs = t->strs;
    size_t cap = t->strs_cap;
    memset(t, 0, sizeof(*t));
    t->strs = strs;
    t->strs_cap = cap;
    t->pidfd = -1;
    t->dirfd = AT_FDCWD;
    exec_capture_reset(t);
    t->res.tag = tag;
}

static int keep_str(struct exec_task *t, const char *s)
{
    size_t len = strlen(s), need;
    if (!wfmpi_add_ok(t->strs_len, len + 1, &need) ||
        wfmpi_grow((void **)&t->strs, &t->strs_cap, need, 1))
        return -ENOMEM;
    memcpy(t->strs + t->strs_len, s, len + 1);
    t->strs_len = need;
    return 0;
}

/* Copy what outlives start(): stream paths (to scan), messages, outputs. */
static int task_keep(struct exec_task *t, const struct wfmpi_exec_spec *spec)
{
    const char *out = spec->stdout_path ? spec->stdout_path : "/dev/null";
    const char *err = spec->stderr_path ? spec->stderr_path : "/dev/null";
    t->has_success = spec->successmsg && *spec->successmsg;
    t->has_failure = spec->failuremsg && *spec->failuremsg;
    t->same_out_err = strcmp(out, err) == 0;
    if (keep_str(t, out) || keep_str(t, err) ||
        keep_str(t, t->has_success ? spec->successmsg : "") ||
        keep_str(t, t->has_failure ? spec->failuremsg : ""))
        return -ENOMEM;
    for (uint32_t i = 0; i < spec->n_outputs; i++)
        if (keep_str(t, spec->outputs[i]))
            return -ENOMEM;
    t->n_outputs = spec->n_outputs;
    return 0;
}

/* ------------------------------------------------------------- timerfd */

static double next_deadline(const struct wfmpi_exec *ex, double now)
{
    if (ex->done_head != EXEC_NONE)
        return now;
    double next = exec_watch_due(ex);
    for (size_t i = 0; i < ex->n_tasks; i++) {
        const struct exec_task *t = &ex->tasks[i];
        double at[4] = {0, 0, 0, 0};
        if (t->state == EXEC_RUNNING) {
            at[0] = t->term_at;
            at[1] = t->kill_at;
            at[2] = t->ckpt_at;
        } else if (t->state == EXEC_DRAINING) {
            at[3] = t->recheck_at;
        }
        for (int k = 0; k < 4; k++)
            if (at[k] > 0 && (next == 0 || at[k] < next))
                next = at[k];
    }
    return next;
}

/* Arm the timerfd (absolute CLOCK_MONOTONIC, the clock of wfmpi_mono) at the
 * nearest deadline; skip the syscall when it is already armed there. */
static void timer_rearm(struct wfmpi_exec *ex)
{
    double now = wfmpi_mono(), at = next_deadline(ex, now);
    if (at == ex->timer_armed)
        return;
    struct itimerspec its = {0};
    if (at > 0) {
        if (at < 1e-9)
            at = 1e-9; /* it_value 0 would disarm */
        its.it_value.tv_sec = (time_t)at;
        its.it_value.tv_nsec = (long)((at - (double)(time_t)at) * 1e9);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    if (timerfd_settime(ex->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        ex->timer_armed = at;
}

/* ------------------------------------------------------------- lifecycle */

static int check_sigchld(struct wfmpi_error *err)
{
    struct sigaction sa;
    if (sigaction(SIGCHLD, NULL, &sa) < 0)
        return wfmpi_error_set(err, -errno, "sigaction(SIGCHLD): %s", strerror(errno));
    /* With SIGCHLD ignored (or SA_NOCLDWAIT) the kernel reaps children itself
     * and exit statuses are lost. */
    if (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT))
        return wfmpi_error_set(err, WFMPI_E_INTERNAL,
                               "SIGCHLD is ignored in this process: exit statuses would be lost");
    return 0;
}

/* pidfd_open needs Linux >= 5.3; say so instead of failing every task. */
static int check_pidfd(struct wfmpi_error *err)
{
    int fd = pidfd_open(getpid(), 0);
    if (fd < 0)
        return wfmpi_error_set(err, -errno, "pidfd_open: %s (the executor needs Linux >= 5.3)",
                               strerror(errno));
    close(fd);
    return 0;
}

static int open_fds(struct wfmpi_exec *ex, struct wfmpi_error *err)
{
    ex->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (ex->epfd < 0)
        return wfmpi_error_set(err, -errno, "epoll_create1: %s", strerror(errno));
    ex->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ex->timerfd < 0)
        return wfmpi_error_set(err, -errno, "timerfd_create: %s", strerror(errno));
    ex->devnull = exec_fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (ex->devnull < 0)
        return wfmpi_error_set(err, -errno, "/dev/null: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EXEC_TIMER_KEY};
    if (epoll_ctl(ex->epfd, EPOLL_CTL_ADD, ex->timerfd, &ev) < 0)
        return wfmpi_error_set(err, -errno, "epoll_ctl: %s", strerror(errno));
    return 0;
}

struct wfmpi_exec *wfmpi_exec_create(struct wfmpi_error *err)
{
    if (check_sigchld(err) || check_pidfd(err))
        return NULL;
    struct wfmpi_exec *ex = calloc(1, sizeof(*ex));
    if (!ex) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    ex->epfd = ex->timerfd = ex->devnull = -1;
    ex->watch.fd = ex->watch.pidfd = -1;
    ex->free_head = ex->done_head = ex->done_tail = EXEC_NONE;
    ex->cpu_size = CPU_ALLOC_SIZE(EXEC_CPU_MAX);
    ex->cpu_own = CPU_ALLOC(EXEC_CPU_MAX);
    ex->cpu_want = CPU_ALLOC(EXEC_CPU_MAX);
    if (!ex->cpu_own || !ex->cpu_want) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        goto fail_alloc;
    }
    /* What a bound spawn restores (read once: nothing rebinds this thread
     * while it runs tasks). */
    if (sched_getaffinity(0, ex->cpu_size, ex->cpu_own) < 0) {
        wfmpi_error_set(err, -errno, "sched_getaffinity: %s", strerror(errno));
        goto fail_alloc;
    }
    if (open_fds(ex, err))
        goto fail_alloc;
    int rc = exec_spawnattr_init(&ex->attr);
    if (rc) {
        wfmpi_error_set(err, rc, "posix_spawnattr: %s", strerror(-rc));
        goto fail_alloc;
    }
    /* Orphaned descendants of our tasks come to us, not to init, so their
     * process group can be drained and reaped here. Process-wide, idempotent. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        wfmpi_error_set(err, -errno, "prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno));
        goto fail_attr;
    }
    /* Last, so that a failed create leaves no watchdog behind. */
    if (exec_watch_start(ex, err))
        goto fail_attr;
    return ex;
fail_attr:
    posix_spawnattr_destroy(&ex->attr);
fail_alloc:
    if (ex->devnull >= 0)
        close(ex->devnull);
    if (ex->timerfd >= 0)
        close(ex->timerfd);
    if (ex->epfd >= 0)
        close(ex->epfd);
    CPU_FREE(ex->cpu_own);
    CPU_FREE(ex->cpu_want);
    free(ex);
    return NULL;
}

static void add_rusage(struct wfmpi_exec_result *r, const struct rusage *ru)
{
    r->utime += (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec * 1e-6;
    r->stime += (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec * 1e-6;
    if (ru->ru_maxrss > r->maxrss_kb)
        r->maxrss_kb = ru->ru_maxrss;
}

/* Reap whatever of t's group has exited; true when the group is gone. The
 * repeated SIGKILL also catches a process forked after the previous one. */
static bool drain_group(struct exec_task *t)
{
    /* Usually the leader was alone: one kill says so. */
    if (kill(-t->pid, SIGKILL) < 0 && errno == ESRCH)
        return true;
    struct rusage ru;
    int st;
    for (;;) {
        pid_t r = wait4(-t->pid, &st, WNOHANG, &ru);
        if (r > 0)
            add_rusage(&t->res, &ru);
        else if (!(r < 0 && errno == EINTR))
            break;
    }
    return kill(-t->pid, SIGKILL) < 0 && errno == ESRCH;
}

/* destroy(): everything dies now. Bounded, so a process stuck in the kernel
 * (uninterruptible I/O) cannot hang the rank's exit forever. True when the
 * group is gone. */
static bool kill_and_reap(struct exec_task *t)
{
    kill(-t->pid, SIGKILL);
    if (t->state == EXEC_RUNNING) {
        while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    struct timespec ms = {0, 1000000};
    for (int i = 0; i < 5000; i++) {
        if (drain_group(t))
            return true;
        nanosleep(&ms, NULL);
    }
    return false;
}

void wfmpi_exec_destroy(struct wfmpi_exec *ex)
{
    if (!ex)
        return;
    for (size_t i = 0; i < ex->n_tasks; i++) {
        struct exec_task *t = &ex->tasks[i];
        /* A group still there after the bounded wait stays registered: the
         * watchdog kills it again when our end closes, below. */
        if ((t->state == EXEC_RUNNING || t->state == EXEC_DRAINING) && kill_and_reap(t))
            exec_watch_del(ex, (uint32_t)i);
        if (t->state == EXEC_RUNNING)
            close(t->pidfd);
        exec_capture_close(t);
        if (t->dirfd_owned)
            close(t->dirfd);
        free(t->strs);
    }
    exec_watch_stop(ex);
    exec_work_dirs_close(ex);
    free(ex->tasks);
    free(ex->argv);
    free(ex->envp);
    free(ex->env_keys);
    posix_spawnattr_destroy(&ex->attr);
    close(ex->devnull);
    close(ex->timerfd);
    close(ex->epfd);
    CPU_FREE(ex->cpu_own);
    CPU_FREE(ex->cpu_want);
    free(ex);
}

/* ----------------------------------------------------------------- start */

static void set_deadlines(struct exec_task *t, const struct wfmpi_exec_spec *spec)
{
    t->start_mono = wfmpi_mono();
    t->timeout_s = spec->timeout_s > 0 ? spec->timeout_s : 0;
    t->grace_s = spec->kill_grace_s > 0 ? spec->kill_grace_s : EXEC_DEFAULT_GRACE_S;
    if (t->timeout_s > 0)
        t->term_at = t->start_mono + t->timeout_s;
    if (spec->checkpoint_signal_s > 0)
        t->ckpt_at = t->start_mono + spec->checkpoint_signal_s;
}

int wfmpi_exec_start(struct wfmpi_exec *ex, const struct wfmpi_exec_spec *spec, uint64_t tag)
{
    uint32_t i;
    if (task_alloc(ex, &i))
        return -ENOMEM;
    struct exec_task *t = &ex->tasks[i];
    task_reset(t, tag);
    t->res.start_wall = wfmpi_wall();
    int rc = task_keep(t, spec);
    if (rc == 0)
        rc = exec_spawn(ex, t, spec);
    if (rc < 0) {
        task_free(ex, i);
        return rc;
    }
    ex->live++;
    if (rc == 1) {
        t->res.end_wall = t->res.start_wall;
        done_push(ex, i);
    } else {
        t->state = EXEC_RUNNING;
        set_deadlines(t, spec);
    }
    timer_rearm(ex);
    return 0;
}

/* ------------------------------------------------------------------ poll */

/* The task's process group is gone: judge it. */
static void finish(struct wfmpi_exec *ex, uint32_t i)
{
    struct exec_task *t = &ex->tasks[i];
    exec_watch_del(ex, i);
    t->res.end_wall = wfmpi_wall();
    exec_capture_finish(ex, t);
    exec_judge(ex, t);
    if (t->dirfd_owned)
        close(t->dirfd);
    t->dirfd = AT_FDCWD;
    t->dirfd_owned = false;
    done_push(ex, i);
}

/* The leader's pidfd is readable: it has exited. */
static void leader_exited(struct wfmpi_exec *ex, uint32_t i)
{
    struct exec_task *t = &ex->tasks[i];
    if (t->state != EXEC_RUNNING)
        return;
    /* Confirm without reaping, so the group is signalled only once the
     * leader is surely a zombie. ECHILD: someone else reaped it. */
    siginfo_t si = {0};
    int rc = waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOHANG | WNOWAIT);
    if ((rc == 0 && si.si_pid == 0) || (rc < 0 && errno != ECHILD))
        return; /* not yet (or EINTR): the pidfd stays readable, try again */
    /* The zombie leader pins the pgid: this SIGKILL reaches our stragglers
     * and nobody else. */
    kill(-t->pid, SIGKILL);
    struct rusage ru;
    pid_t r;
    while ((r = wait4(t->pid, &t->status, 0, &ru)) < 0 && errno == EINTR)
        ;
    if (r > 0)
        add_rusage(&t->res, &ru);
    else
        t->status_lost = true;
    close(t->pidfd); /* also leaves the epoll set */
    t->pidfd = -1;
    t->state = EXEC_DRAINING;
    t->recheck_at = 0;
    if (drain_group(t))
        finish(ex, i);
    else
        t->recheck_at = wfmpi_mono() + EXEC_DRAIN_RECHECK_S;
}

static void handle_events(struct wfmpi_exec *ex, int timeout_ms)
{
    struct epoll_event evs[EXEC_EVENTS];
    int n = epoll_wait(ex->epfd, evs, EXEC_EVENTS, timeout_ms);
    for (int k = 0; k < n; k++) {
        uint64_t key = evs[k].data.u64;
        uint32_t slot = (uint32_t)key, kind = (uint32_t)(key >> 32);
        if (key == EXEC_TIMER_KEY) {
            uint64_t expirations;
            if (read(ex->timerfd, &expirations, sizeof(expirations)) > 0)
                ex->timer_armed = 0;
        } else if (kind == 0) {
            leader_exited(ex, slot);
        } else if ((evs[k].events & (EPOLLIN | EPOLLHUP)) == EPOLLHUP) {
            exec_capture_ended(&ex->tasks[slot], kind - 1); /* the usual end: silent */
        } else {
            exec_capture_pump(ex, &ex->tasks[slot], kind - 1, (evs[k].events & EPOLLHUP) != 0);
        }
    }
}

/* Has the leader exited already, unseen (a zombie the executor has not
 * reaped yet)? WNOWAIT leaves it to the reaper. A task that ended before the
 * executor stopped it is judged on its own ending: one that exited 0 and
 * passed its checks just as the drain or its timeout came is a success,
 * not an attempt to run again. */
static bool exited_unseen(const struct exec_task *t)
{
    siginfo_t si = {0};
    return waitid(P_PIDFD, (id_t)t->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

static void signal_group(struct exec_task *t, int sig)
{
    kill(-t->pid, sig);
}

static void running_timers(struct exec_task *t, double now)
{
    if (t->ckpt_at > 0 && now >= t->ckpt_at) {
        t->ckpt_at = 0;
        if (t->stop == EXEC_STOP_NONE)
            signal_group(t, SIGTERM);
    }
    if (t->term_at > 0 && now >= t->term_at) {
        t->term_at = 0;
        if (t->stop == EXEC_STOP_NONE && !exited_unseen(t)) {
            t->stop = EXEC_STOP_TIMEOUT;
            t->kill_at = now + t->grace_s;
            signal_group(t, SIGTERM);
        }
    }
    if (t->kill_at > 0 && now >= t->kill_at) {
        t->kill_at = 0;
        signal_group(t, SIGKILL);
    }
}

static void run_timers(struct wfmpi_exec *ex, double now)
{
    double due = exec_watch_due(ex);
    if (due > 0 && now >= due)
        exec_watch_flush(ex);
    for (size_t i = 0; i < ex->n_tasks; i++) {
        struct exec_task *t = &ex->tasks[i];
        if (t->state == EXEC_RUNNING) {
            running_timers(t, now);
        } else if (t->state == EXEC_DRAINING && now >= t->recheck_at) {
            if (drain_group(t))
                finish(ex, (uint32_t)i);
            else
                t->recheck_at = now + EXEC_DRAIN_RECHECK_S;
        }
    }
}

static uint32_t deliver(struct wfmpi_exec *ex, struct wfmpi_exec_result *out, uint32_t max)
{
    uint32_t n = 0;
    while (n < max && ex->done_head != EXEC_NONE) {
        uint32_t i = ex->done_head;
        out[n++] = ex->tasks[i].res;
        ex->done_head = ex->tasks[i].next;
        if (ex->done_head == EXEC_NONE)
            ex->done_tail = EXEC_NONE;
        task_free(ex, i);
        ex->live--;
    }
    return n;
}

/* Milliseconds epoll may sleep: to the earlier of `until` and the next
 * deadline, rounded up so we wake after it, not just before. */
static int sleep_ms(const struct wfmpi_exec *ex, double now, double until)
{
    double next = next_deadline(ex, now);
    if (next > 0 && next < until)
        until = next;
    double ms = (until - now) * 1e3;
    if (ms <= 0)
        return 0;
    return ms > 1e6 ? 1000000 : (int)ms + 1;
}

uint32_t wfmpi_exec_poll(struct wfmpi_exec *ex, struct wfmpi_exec_result *out, uint32_t max,
                         double timeout_s)
{
    double until = wfmpi_mono() + (timeout_s > 0 ? timeout_s : 0);
    uint32_t n = 0;
    int wait_ms = 0;
    for (;;) {
        handle_events(ex, wait_ms);
        double now = wfmpi_mono();
        run_timers(ex, now);
        n += deliver(ex, out + n, max - n);
        if (n > 0 || max == 0 || now >= until)
            break;
        wait_ms = sleep_ms(ex, now, until);
    }
    timer_rearm(ex);
    return n;
}

/* --------------------------------------------------------------- signals */

void wfmpi_exec_signal_all(struct wfmpi_exec *ex, int sig)
{
    for (size_t i = 0; i < ex->n_tasks; i++)
        if (ex->tasks[i].state == EXEC_RUNNING)
            signal_group(&ex->tasks[i], sig);
}

static void interrupt_task(struct exec_task *t, double grace_s, double kill_at)
{
    /* The group is signalled all the same: whatever the leader left
     * running in it is stopped with the run. */
    if (t->stop == EXEC_STOP_NONE && !exited_unseen(t))
        t->stop = EXEC_STOP_INTERRUPT;
    t->term_at = t->ckpt_at = 0;
    if (t->kill_at == 0 || kill_at < t->kill_at)
        t->kill_at = kill_at;
    signal_group(t, grace_s > 0 ? SIGTERM : SIGKILL);
}

void wfmpi_exec_interrupt_all(struct wfmpi_exec *ex, double grace_s)
{
    double now = wfmpi_mono(), kill_at = now + (grace_s > 0 ? grace_s : 0);
    for (size_t i = 0; i < ex->n_tasks; i++)
        if (ex->tasks[i].state == EXEC_RUNNING)
            interrupt_task(&ex->tasks[i], grace_s, kill_at);
    timer_rearm(ex);
}

int wfmpi_exec_interrupt(struct wfmpi_exec *ex, uint64_t tag, double grace_s)
{
    double kill_at = wfmpi_mono() + (grace_s > 0 ? grace_s : 0);
    for (size_t i = 0; i < ex->n_tasks; i++) {
        struct exec_task *t = &ex->tasks[i];
        if (t->state == EXEC_RUNNING && t->res.tag == tag) {
            interrupt_task(t, grace_s, kill_at);
            timer_rearm(ex);
            return 0;
        }
    }
    return -ENOENT;
}

uint32_t wfmpi_exec_running(const struct wfmpi_exec *ex)
{
    return ex->live;
}

bool wfmpi_exec_live(const struct wfmpi_exec *ex, uint64_t tag)
{
    for (size_t i = 0; i < ex->n_tasks; i++)
        if (ex->tasks[i].state != EXEC_FREE && ex->tasks[i].res.tag == tag)
            return true;
    return false;
}

int wfmpi_exec_fd(const struct wfmpi_exec *ex)
{
    return ex->epfd;
}
