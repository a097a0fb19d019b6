/* The task watchdog: no task outlives its rank.
 *
 * Tasks lead their own process groups (so one kill reaches everything they
 * start), which also means nothing the kernel does on the rank's death
 * reaches them: after kill -9 of the rank (or the OOM killer, or mpiexec
 * tearing the job down) they would run on to their natural end, next to the
 * rerun's copies. So each executor starts one small process, the watchdog,
 * that holds one end of a socket pair whose other end only the rank holds.
 * The rank tells it, per task slot, which process group runs there; when its
 * end reports EOF the rank is gone (however it died), and the watchdog
 * SIGKILLs every group still registered and exits.
 *
 * Why not the alternatives:
 * - PR_SET_PDEATHSIG in each task: posix_spawn runs no code in the child (we
 *   would need fork or a wrapper exec per task), the signal follows the death
 *   of the parent *thread* rather than the process, and it reaches only the
 *   direct child, not what the task starts in its group.
 * - A cgroup per rank: needs delegation (systemd, or Slurm's own), which a
 *   user's mpiexec does not have; under Slurm the step's cgroup is already
 *   the fallback for everything.
 * - A launcher that spawns the tasks: a hop per task and wait4/rusage of
 *   grandchildren; the watchdog is off the task's path entirely.
 *
 * How it starts: posix_spawn of /proc/self/exe (the binary this process runs,
 * wfmpi or a test) with WFMPI_EXEC_WATCHDOG in its environment and the socket
 * at fd 3; a constructor in this file sees the variable and runs the watchdog
 * loop instead of main. That makes it a fresh, single-threaded image with no
 * MPI, CUDA or other library state (a fork of a rank after MPI_Init would run
 * MPI's atfork handlers and keep its mappings), named "wfmpi-watchdog" in ps
 * (so `pgrep -f wfmpi` finds ranks, not watchdogs), started whenever the
 * executor is created. The constructor must stay in the same object file as
 * exec_watch_start: a static library links the object because the executor
 * calls that function, and so the entry point is in every binary that can
 * start a watchdog.
 *
 * The watchdog leads its own process group and blocks every signal: Open MPI
 * signals each rank's whole process group when it tears a job down (odls
 * signals more than the direct child by default), and Slurm signals every
 * process of a step; a watchdog killed with its rank would protect nothing.
 * Only SIGKILL by pid (or the step's cgroup) stops it early. It does not use
 * PR_SET_PDEATHSIG: a fatal one would kill it exactly when it has work to do,
 * and it follows the spawning thread, not the rank. Instead it also notices
 * when it has been re-parented (getppid), which covers a copy of the rank's
 * end leaking into some forked, never-exec'ed helper.
 *
 * Protocol and cost: 8-byte records (slot, pid; pid 0 = the slot's group is
 * gone). A start sends one record, in one send() together with any queued
 * ends: that is the only cost on a task's path. Ends are queued and go with
 * the next start, or at the latest EXEC_WATCH_FLUSH_S later (the executor's
 * timer), so a steady stream of tasks costs one small write each. The
 * watchdog naps EXEC_WATCH_NAP_MS after each read, so it wakes at most ~100
 * times a second however fast tasks start.
 *
 * Races, and why they are harmless:
 * - A record is sent only after posix_spawn returned: a rank killed during
 *   the few microseconds of a start can leave that one task running.
 * - A group is unregistered only once it is gone (its last process reaped),
 *   so a rank that dies while a task drains still has its stragglers killed.
 *   Its end record may wait up to EXEC_WATCH_FLUSH_S; a kill(-pgid) in that
 *   window could reach a new group only if the kernel had handed out that
 *   number again, which takes a wrap of the whole pid space (pids are
 *   allocated cyclically) within those milliseconds: at the smallest default
 *   pid_max (32768) and 50 ms, over 650,000 process creations a second.
 * - Records of one executor arrive in order, so a slot's end always precedes
 *   the start of the next task in that slot.
 * - The rank's own exit (wfmpi_exec_destroy) has killed and reaped its tasks
 *   and sent their ends first, so the watchdog then has nothing to kill; a
 *   rank that exits without destroying its executor gets its tasks killed,
 *   which is the guarantee. A drain (SIGTERM, grace, SIGKILL) is the rank's
 *   business while it lives; the watchdog does nothing until the rank dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec_int.h"

extern char **environ;

/* The variable that turns a process into a watchdog; its value is the pid of
 * the rank that started it. */
#define EXEC_WATCH_ENV "WFMPI_EXEC_WATCHDOG"
/* Where the watchdog finds its end of the socket. */
#define EXEC_WATCH_FD 3
/* After a read, let records pile up this long before reading again. */
#define EXEC_WATCH_NAP_MS 10
/* With nothing to read, look at the parent this often. */
#define EXEC_WATCH_CHECK_MS 250
/* Largest slot the watchdog keeps (a sanity bound on what a record makes it
 * allocate: 64 MiB of table). */
#define EXEC_WATCH_SLOTS_MAX (1u << 24)
/* The send buffer we ask for on the rank's end. */
#define EXEC_WATCH_SNDBUF (1 << 20)
/* How long destroy waits for the watchdog to exit after its EOF. */
#define EXEC_WATCH_STOP_MS 2000

/* ================================================================ the rank */

/* Send every queued record. A watchdog that is gone (EPIPE) cannot be
 * replaced safely from here; the executor goes on without one. */
static void send_pending(struct exec_watch *w)
{
    const char *p = (const char *)w->pending;
    size_t left = w->n_pending * sizeof(w->pending[0]);
    w->n_pending = 0;
    while (left > 0 && w->fd >= 0) {
        ssize_t n = send(w->fd, p, left, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            left -= (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            close(w->fd);
            w->fd = -1;
        }
    }
}

static void queue(struct exec_watch *w, uint32_t slot, pid_t pid)
{
    w->pending[w->n_pending].slot = slot;
    w->pending[w->n_pending].pid = (int32_t)pid;
    w->n_pending++;
}

void exec_watch_add(struct wfmpi_exec *ex, uint32_t slot, pid_t pid)
{
    queue(&ex->watch, slot, pid);
    send_pending(&ex->watch);
}

void exec_watch_del(struct wfmpi_exec *ex, uint32_t slot)
{
    struct exec_watch *w = &ex->watch;
    if (w->n_pending == 0)
        w->flush_at = wfmpi_mono() + EXEC_WATCH_FLUSH_S;
    queue(w, slot, 0);
    /* One slot is always left for the start that may come next. */
    if (w->n_pending == EXEC_WATCH_BATCH)
        send_pending(w);
}

void exec_watch_flush(struct wfmpi_exec *ex)
{
    if (ex->watch.n_pending > 0)
        send_pending(&ex->watch);
}

double exec_watch_due(const struct wfmpi_exec *ex)
{
    return ex->watch.n_pending > 0 ? ex->watch.flush_at : 0;
}

/* environ without any inherited EXEC_WATCH_ENV, plus ours (var). The array
 * is the caller's to free; the strings are borrowed. */
static char **watch_envp(char *var)
{
    size_t n = 0, k = 0, len = strlen(EXEC_WATCH_ENV);
    while (environ && environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof(*envp));
    if (!envp)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(strncmp(environ[i], EXEC_WATCH_ENV, len) == 0 && environ[i][len] == '='))
            envp[k++] = environ[i];
    envp[k] = var;
    return envp;
}

/* stdin/stdout/stderr on /dev/null (the watchdog has nothing to say, and
 * must not hold mpiexec's pipes open), the socket at EXEC_WATCH_FD, nothing
 * else: not the rank's end, not MPI's sockets, not a run dir lock. */
static int watch_actions(posix_spawn_file_actions_t *fa, int devnull, int child_end)
{
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    if ((rc = posix_spawn_file_actions_adddup2(fa, devnull, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, devnull, 1)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, devnull, 2)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, child_end, EXEC_WATCH_FD)) ||
        (rc = posix_spawn_file_actions_addclosefrom_np(fa, EXEC_WATCH_FD + 1)))
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

/* Its own process group, every signal blocked (see the top of the file). */
static int watch_attr(posix_spawnattr_t *attr)
{
    int rc = posix_spawnattr_init(attr);
    if (rc)
        return rc;
    sigset_t all;
    sigfillset(&all);
    if ((rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK)) ||
        (rc = posix_spawnattr_setpgroup(attr, 0)) || (rc = posix_spawnattr_setsigmask(attr, &all)))
        posix_spawnattr_destroy(attr);
    return rc;
}

/* posix_spawn the watchdog with child_end as its socket. 0 or a positive
 * errno. */
static int spawn_watchdog(struct wfmpi_exec *ex, int child_end, pid_t *pid)
{
    char var[48];
    snprintf(var, sizeof(var), "%s=%ld", EXEC_WATCH_ENV, (long)getpid());
    char name[] = "wfmpi-watchdog";
    char *argv[] = {name, NULL};
    char **envp = watch_envp(var);
    if (!envp)
        return ENOMEM;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = watch_actions(&fa, ex->devnull, child_end);
    if (rc == 0) {
        rc = watch_attr(&attr);
        if (rc == 0) {
            rc = posix_spawn(pid, "/proc/self/exe", &fa, &attr, argv, envp);
            posix_spawnattr_destroy(&attr);
        }
        posix_spawn_file_actions_destroy(&fa);
    }
    free(envp);
    return rc;
}

/* A descriptor of the pair that is not EXEC_WATCH_FD itself (dup2 onto
 * itself would keep close-on-exec set) and not 0..2 (the dup2s of /dev/null
 * before it would clobber it). */
static int watch_fd_placed(int fd)
{
    if (fd > EXEC_WATCH_FD)
        return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, EXEC_WATCH_FD + 1);
    close(fd);
    return hi;
}

int exec_watch_start(struct wfmpi_exec *ex, struct wfmpi_error *err)
{
    struct exec_watch *w = &ex->watch;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return wfmpi_error_set(err, -errno, "task watchdog: socketpair: %s", strerror(errno));
    int mine = watch_fd_placed(sv[0]), theirs = watch_fd_placed(sv[1]);
    if (mine < 0 || theirs < 0) {
        int e = errno;
        if (mine >= 0)
            close(mine);
        if (theirs >= 0)
            close(theirs);
        return wfmpi_error_set(err, -e, "task watchdog: %s", strerror(e));
    }
    pid_t pid;
    int rc = spawn_watchdog(ex, theirs, &pid);
    close(theirs);
    if (rc) {
        close(mine);
        return wfmpi_error_set(err, -rc, "cannot start the task watchdog (/proc/self/exe): %s",
                               strerror(rc));
    }
    /* Room for thousands of records while the watchdog naps, so a burst of
     * starts never waits for it (best effort: the kernel caps it at
     * net.core.wmem_max; the default holds a few hundred). */
    int sndbuf = EXEC_WATCH_SNDBUF;
    setsockopt(mine, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    w->fd = mine;
    w->pid = pid;
    w->pidfd = pidfd_open(pid, 0); /* -1: stop() waits unbounded instead */
    return 0;
}

void exec_watch_stop(struct wfmpi_exec *ex)
{
    struct exec_watch *w = &ex->watch;
    exec_watch_flush(ex);
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    if (w->pid <= 0)
        return;
    /* EOF now; it exits at once, having nothing left to kill. A stopped or
     * stuck watchdog must not hold up the rank's exit. */
    if (w->pidfd >= 0) {
        struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
        int n;
        while ((n = poll(&p, 1, EXEC_WATCH_STOP_MS)) < 0 && errno == EINTR)
            ;
        if (n == 0)
            kill(w->pid, SIGKILL);
        close(w->pidfd);
        w->pidfd = -1;
    }
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
}

/* ============================================================ the watchdog */

/* Everything below runs in the watchdog process: single-threaded, no signal
 * handlers, libc only. */

struct watchdog {
    pid_t parent;
    int32_t *pgid; /* by slot; 0 = nothing there */
    uint32_t cap;
    size_t have; /* bytes of a partial record at the start of buf */
    char buf[8192];
};

static void watchdog_set(struct watchdog *d, uint32_t slot, int32_t pgid)
{
    if (slot >= EXEC_WATCH_SLOTS_MAX || pgid < 0)
        return;
    if (slot >= d->cap) {
        uint32_t cap = d->cap ? d->cap : 64;
        while (cap <= slot)
            cap *= 2;
        int32_t *p = realloc(d->pgid, (size_t)cap * sizeof(*p));
        if (!p)
            return; /* out of memory: this group goes unprotected */
        memset(p + d->cap, 0, (size_t)(cap - d->cap) * sizeof(*p));
        d->pgid = p;
        d->cap = cap;
    }
    d->pgid[slot] = pgid;
}

/* Apply the whole records in buf[0..len), keep a partial one for later. */
static void watchdog_apply(struct watchdog *d, size_t len)
{
    struct exec_watch_msg m;
    size_t off = 0;
    for (; off + sizeof(m) <= len; off += sizeof(m)) {
        memcpy(&m, d->buf + off, sizeof(m));
        watchdog_set(d, m.slot, m.pid);
    }
    d->have = len - off;
    memmove(d->buf, d->buf + off, d->have);
}

/* Read all that is there. 1: go on; 0: EOF or an error, the rank is gone. */
static int watchdog_read(struct watchdog *d)
{
    for (;;) {
        ssize_t n = recv(EXEC_WATCH_FD, d->buf + d->have, sizeof(d->buf) - d->have, MSG_DONTWAIT);
        if (n > 0)
            watchdog_apply(d, d->have + (size_t)n);
        else if (n == 0)
            return 0;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        else if (errno != EINTR)
            return 0;
    }
}

static void watchdog_nap(void)
{
    struct timespec ts = {0, EXEC_WATCH_NAP_MS * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int watchdog_run(pid_t parent)
{
    struct watchdog *d = calloc(1, sizeof(*d));
    if (!d)
        return 1;
    d->parent = parent;
    prctl(PR_SET_NAME, "wfmpi-watchdog", 0, 0, 0);
    if (chdir("/") < 0) {
        /* Only keeps a file system busy; nothing to do about it. */
    }
    for (;;) {
        if (getppid() != d->parent)
            break; /* re-parented: the rank is gone, whoever holds its end */
        struct pollfd p = {.fd = EXEC_WATCH_FD, .events = POLLIN};
        int n = poll(&p, 1, EXEC_WATCH_CHECK_MS);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            if (!watchdog_read(d))
                break;
            watchdog_nap();
        }
    }
    /* What is still in the socket was sent before the rank died. */
    watchdog_read(d);
    for (uint32_t i = 0; i < d->cap; i++)
        if (d->pgid[i] > 0)
            kill(-d->pgid[i], SIGKILL);
    return 0;
}

/* The watchdog's entry: before main, in a process exec_watch_start spawned.
 * Anything else (the variable inherited by accident, with no socket at
 * EXEC_WATCH_FD) goes on to main as if nothing happened. */
__attribute__((constructor)) static void exec_watchdog_entry(void)
{
    const char *v = getenv(EXEC_WATCH_ENV);
    if (!v)
        return;
    struct stat st;
    if (fstat(EXEC_WATCH_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        unsetenv(EXEC_WATCH_ENV);
        return;
    }
    _exit(watchdog_run((pid_t)strtol(v, NULL, 10)));
}
