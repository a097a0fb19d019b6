/* Starting a task: posix_spawn with redirected stdio, a work directory, an
 * environment and a CPU binding.
 *
 * Everything that can fail for a reason the user should read (a missing work
 * directory, an unopenable stdin, an unwritable stdout, a bad cpuset) is done
 * in the parent before spawning, so the failure names its cause. What remains
 * for the child is dup2, fchdir, closing inherited descriptors and exec; an
 * error there comes back from posix_spawn (glibc reports the child's errno)
 * and is reported as "cannot execute". The parent never forks: posix_spawn
 * uses CLONE_VFORK, which costs the same for a 100 GB process as for a small
 * one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_int.h"

extern char **environ;

/* The fds the parent opens for the child's stdio; -1 when unused. */
struct spawn_fds {
    int in, out, err;
};

/* posix_spawn takes `char *const argv[]` for historical reasons but never
 * writes through it; this converts without a qualifier-dropping cast. */
static char *unconst(const char *s)
{
    char *p;
    memcpy(&p, &s, sizeof(p));
    return p;
}

/* Record a spawn failure in the task's result. Returns 1, exec_spawn's "not
 * started, result due". */
static int spawn_fail(struct exec_task *t, int err, const char *fmt, ...) WFMPI_PRINTF(3, 4);
static int spawn_fail(struct exec_task *t, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->res.detail, sizeof(t->res.detail), fmt, ap);
    va_end(ap);
    t->res.reason = WFMPI_EXEC_SPAWN;
    t->res.spawn_errno = err;
    return 1;
}

int exec_spawnattr_init(posix_spawnattr_t *attr)
{
    int rc = posix_spawnattr_init(attr);
    if (rc)
        return -rc;
    /* The child leads its own process group (pgroup 0 = its pid), so one
     * kill(-pgid) reaches everything it starts. It begins with an empty mask
     * and default handlers whatever MPI did to ours (SIGPIPE ignored, ...). */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if ((rc = posix_spawnattr_setflags(attr, flags)) || (rc = posix_spawnattr_setpgroup(attr, 0)) ||
        (rc = posix_spawnattr_setsigmask(attr, &none)) ||
        (rc = posix_spawnattr_setsigdefault(attr, &all))) {
        posix_spawnattr_destroy(attr);
        return -rc;
    }
    return 0;
}

/* ------------------------------------------------------------ argv, envp */

static int build_argv(struct wfmpi_exec *ex, const struct wfmpi_exec_spec *spec)
{
    if (wfmpi_grow((void **)&ex->argv, &ex->argv_cap, (size_t)spec->argc + 1, sizeof(char *)))
        return -ENOMEM;
    for (uint32_t i = 0; i < spec->argc; i++)
        ex->argv[i] = unconst(spec->argv[i]);
    ex->argv[spec->argc] = NULL;
    return 0;
}

static size_t key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Does spec env entry e (key length elen) set the key of kv (key length
 * len)? */
static bool same_key(const char *kv, size_t len, const char *e, size_t elen)
{
    return len == elen && memcmp(kv, e, len) == 0;
}

/* True when one of spec env entries [from, n_env) sets the key of kv.
 * keys[i] is the key length of spec->env[i]. */
static bool env_overridden(const struct wfmpi_exec_spec *spec, const size_t *keys, uint32_t from,
                           const char *kv, size_t len)
{
    for (uint32_t i = from; i < spec->n_env; i++)
        if (same_key(kv, len, spec->env[i], keys[i]))
            return true;
    return false;
}

/* envp = the rank's environment (read now, so a setenv by the driver is seen)
 * minus the keys the spec sets, plus the spec's entries; for a key the spec
 * sets twice, the last one wins. The pointer array is reused across starts;
 * the strings are borrowed for the duration of posix_spawn only. Each key is
 * measured once (this runs for every task). */
static int build_envp(struct wfmpi_exec *ex, const struct wfmpi_exec_spec *spec)
{
    size_t n_environ = 0, need;
    while (environ && environ[n_environ])
        n_environ++;
    if (!wfmpi_add_ok(n_environ, (size_t)spec->n_env + 1, &need) ||
        wfmpi_grow((void **)&ex->envp, &ex->envp_cap, need, sizeof(char *)) ||
        wfmpi_grow((void **)&ex->env_keys, &ex->env_keys_cap, (size_t)spec->n_env + 1,
                   sizeof(size_t)))
        return -ENOMEM;
    size_t *keys = ex->env_keys;
    for (uint32_t i = 0; i < spec->n_env; i++)
        keys[i] = key_len(spec->env[i]);
    size_t n = 0;
    for (size_t i = 0; i < n_environ; i++)
        if (!env_overridden(spec, keys, 0, environ[i], key_len(environ[i])))
            ex->envp[n++] = environ[i];
    for (uint32_t i = 0; i < spec->n_env; i++)
        if (!env_overridden(spec, keys, i + 1, spec->env[i], keys[i]))
            ex->envp[n++] = unconst(spec->env[i]);
    ex->envp[n] = NULL;
    return 0;
}

/* ------------------------------------------------------------------ files */

/* The child's stdio is installed with dup2 onto 0..2; a parent fd that is
 * itself 0..2 (a rank started with stdin closed) would be clobbered by an
 * earlier dup2, so keep ours above 2. */
int exec_fd_above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int e = errno;
    close(fd);
    errno = e;
    return hi;
}

/* mkdir -p of path's parent directories, relative to dirfd. */
static int mkdir_parents_at(int dirfd, const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        int rc = mkdirat(dirfd, buf, 0777);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -errno;
    }
    return 0;
}

/* Parent directories are made on demand (only after a first ENOENT, so the
 * common case is one syscall). */
int exec_open_output(int dirfd, const char *path)
{
    int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    int fd = openat(dirfd, path, flags, 0644);
    if (fd < 0 && errno == ENOENT) {
        int rc = mkdir_parents_at(dirfd, path);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
        fd = openat(dirfd, path, flags, 0644);
    }
    return exec_fd_above_stdio(fd);
}

/* The child's end of stream `which`: its file, or a pipe when it is lazy. */
static int open_stream(struct wfmpi_exec *ex, struct exec_task *t, uint32_t which, bool lazy,
                       bool fresh)
{
    if (!lazy)
        return exec_open_output(t->dirfd, exec_task_str(t, which));
    int fd = -1, rc = exec_capture_open(ex, t, which, fresh, &fd);
    errno = rc < 0 ? -rc : 0;
    return rc < 0 ? -1 : fd;
}

static int open_stdio(struct wfmpi_exec *ex, struct exec_task *t,
                      const struct wfmpi_exec_spec *spec, struct spawn_fds *fds)
{
    const char *in = spec->stdin_path;
    fds->in = in ? exec_fd_above_stdio(openat(t->dirfd, in, O_RDONLY | O_CLOEXEC)) : -1;
    if (in && fds->in < 0)
        return spawn_fail(t, errno, "cannot open stdin '%s': %s", in, strerror(errno));
    const char *out = exec_task_str(t, 0), *err = exec_task_str(t, 1);
    fds->out = open_stream(ex, t, 0, spec->stdout_lazy, spec->lazy_fresh);
    if (fds->out < 0)
        return spawn_fail(t, errno, "cannot open stdout '%s': %s", out, strerror(errno));
    /* One file for both streams must be one open file description (or one
     * pipe), or the two streams would overwrite each other at separate
     * offsets. */
    fds->err = t->same_out_err && spec->stdout_lazy == spec->stderr_lazy
                   ? fcntl(fds->out, F_DUPFD_CLOEXEC, 3)
                   : open_stream(ex, t, 1, spec->stderr_lazy, spec->lazy_fresh);
    if (fds->err < 0)
        return spawn_fail(t, errno, "cannot open stderr '%s': %s", err, strerror(errno));
    return 0;
}

/* -------------------------------------------------------------- spawning */

static int check_spec(struct exec_task *t, const struct wfmpi_exec_spec *spec)
{
    if (!spec->exe || !*spec->exe)
        return spawn_fail(t, EINVAL, "no executable given");
    if (spec->argc == 0 || !spec->argv)
        return spawn_fail(t, EINVAL, "empty argv for '%s'", spec->exe);
    for (uint32_t i = 0; i < spec->n_env; i++)
        if (!strchr(spec->env[i], '=') || spec->env[i][0] == '=')
            return spawn_fail(t, EINVAL, "invalid environment entry '%s' (want KEY=VALUE)",
                              spec->env[i]);
    return 0;
}

/* The executor's open descriptor of a work directory, opened on first use.
 * O_PATH: we only need it to resolve paths and to fchdir the child, which
 * works even for a directory we may not list. Kept open for the executor's
 * life: a run has one work directory (a glidein pilot one per workflow), and
 * opening it for every task was a path walk and two more syscalls each. The
 * directory is the one the path named when it was first used. */
static const struct exec_work_dir *work_dir_of(struct wfmpi_exec *ex, const char *path)
{
    for (uint32_t i = 0; i < ex->n_work_dirs; i++)
        if (strcmp(ex->work_dirs[i].path, path) == 0)
            return &ex->work_dirs[i];
    if (ex->n_work_dirs == EXEC_WORK_DIRS)
        return NULL;
    struct exec_work_dir *d = &ex->work_dirs[ex->n_work_dirs];
    struct stat here, there;
    if (!(d->path = strdup(path)))
        return NULL;
    d->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0) {
        free(d->path);
        return NULL;
    }
    d->is_cwd = stat(".", &here) == 0 && fstat(d->fd, &there) == 0 && here.st_dev == there.st_dev &&
                here.st_ino == there.st_ino;
    ex->n_work_dirs++;
    return d;
}

void exec_work_dirs_close(struct wfmpi_exec *ex)
{
    for (uint32_t i = 0; i < ex->n_work_dirs; i++) {
        close(ex->work_dirs[i].fd);
        free(ex->work_dirs[i].path);
    }
    ex->n_work_dirs = 0;
}

/* t->dirfd for spec work_dir: the executor's (borrowed), else (a full
 * cache, a failure to read again below) one of the task's own. */
static int enter_work_dir(struct wfmpi_exec *ex, struct exec_task *t, const char *path)
{
    const struct exec_work_dir *d = work_dir_of(ex, path);
    if (d) {
        t->dirfd = d->fd;
        t->chdir = !d->is_cwd;
        return 0;
    }
    t->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0) {
        t->dirfd = AT_FDCWD;
        return spawn_fail(t, errno, "cannot enter work directory '%s': %s", path, strerror(errno));
    }
    t->dirfd_owned = t->chdir = true;
    return 0;
}

/* Everything before posix_spawn. Same return convention as exec_spawn. */
static int spawn_prepare(struct wfmpi_exec *ex, struct exec_task *t,
                         const struct wfmpi_exec_spec *spec, struct spawn_fds *fds)
{
    int rc = check_spec(t, spec);
    if (rc)
        return rc;
    if (build_argv(ex, spec) || build_envp(ex, spec))
        return -ENOMEM;
    if (spec->cpuset && exec_cpuset_parse(spec->cpuset, ex->cpu_want, ex->cpu_size) < 0)
        return spawn_fail(t, EINVAL, "invalid cpuset '%s'", spec->cpuset);
    if (spec->work_dir && (rc = enter_work_dir(ex, t, spec->work_dir)) != 0)
        return rc;
    return open_stdio(ex, t, spec, fds);
}

static int build_actions(const struct wfmpi_exec *ex, posix_spawn_file_actions_t *fa,
                         const struct exec_task *t, const struct spawn_fds *fds)
{
    int rc = posix_spawn_file_actions_init(fa);
    if (rc)
        return rc;
    /* Order matters: install stdio, enter the work directory, then close
     * every other inherited descriptor (MPI's sockets, the dirfd) so a task
     * cannot hold the rank's connections open after the rank exits. */
    if ((rc = posix_spawn_file_actions_adddup2(fa, fds->in >= 0 ? fds->in : ex->devnull, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, fds->out, 1)) ||
        (rc = posix_spawn_file_actions_adddup2(fa, fds->err, 2)) ||
        (t->chdir && (rc = posix_spawn_file_actions_addfchdir_np(fa, t->dirfd))) ||
        (rc = posix_spawn_file_actions_addclosefrom_np(fa, 3)))
        posix_spawn_file_actions_destroy(fa);
    return rc;
}

/* posix_spawn has no affinity attribute, but a child inherits the affinity of
 * the thread that spawns it: bind this thread around the call and restore it
 * right after. Only the calling thread is touched (an MPI progress thread is
 * not). */
static int spawn_bound(struct wfmpi_exec *ex, struct exec_task *t,
                       const struct wfmpi_exec_spec *spec, posix_spawn_file_actions_t *fa)
{
    /* Already bound there (a rank of one core running its tasks on it):
     * nothing to change or restore. */
    bool bind = spec->cpuset != NULL && !CPU_EQUAL_S(ex->cpu_size, ex->cpu_want, ex->cpu_own);
    if (bind) {
        if (sched_setaffinity(0, ex->cpu_size, ex->cpu_want) < 0)
            return spawn_fail(t, errno, "cannot bind to cpuset '%s': %s", spec->cpuset,
                              strerror(errno));
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, spec->exe, fa, &ex->attr, ex->argv, ex->envp);
    if (bind)
        sched_setaffinity(0, ex->cpu_size, ex->cpu_own);
    /* A failed fchdir in the child comes back as posix_spawn's errno like a
     * failed exec; name the directory when it is the cause. */
    if (rc && t->chdir && faccessat(t->dirfd, ".", X_OK, AT_EACCESS) < 0)
        return spawn_fail(t, errno, "cannot enter work directory '%s': %s", spec->work_dir,
                          strerror(errno));
    if (rc)
        return spawn_fail(t, rc, "cannot execute '%s': %s", spec->exe, strerror(rc));
    t->pid = pid;
    return 0;
}

/* Register the leader's pidfd in the epoll set. When that is impossible (out
 * of descriptors), the task cannot be watched: kill it and report a spawn
 * failure rather than lose it. */
static int watch(struct wfmpi_exec *ex, struct exec_task *t)
{
    t->pidfd = pidfd_open(t->pid, 0);
    int e = errno;
    if (t->pidfd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)(t - ex->tasks)};
        if (epoll_ctl(ex->epfd, EPOLL_CTL_ADD, t->pidfd, &ev) == 0)
            return 0;
        e = errno;
        close(t->pidfd);
        t->pidfd = -1;
    }
    kill(-t->pid, SIGKILL);
    while (waitpid(t->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    exec_watch_del(ex, (uint32_t)(t - ex->tasks));
    return spawn_fail(t, e, "cannot watch process %ld: %s", (long)t->pid, strerror(e));
}

static void close_fds(struct spawn_fds *fds)
{
    if (fds->in >= 0)
        close(fds->in);
    if (fds->out >= 0)
        close(fds->out);
    if (fds->err >= 0)
        close(fds->err);
}

int exec_spawn(struct wfmpi_exec *ex, struct exec_task *t, const struct wfmpi_exec_spec *spec)
{
    struct spawn_fds fds = {-1, -1, -1};
    int rc = spawn_prepare(ex, t, spec, &fds);
    if (rc == 0) {
        posix_spawn_file_actions_t fa;
        int err = build_actions(ex, &fa, t, &fds);
        if (err) {
            rc = err == ENOMEM ? -ENOMEM : spawn_fail(t, err, "posix_spawn: %s", strerror(err));
        } else {
            rc = spawn_bound(ex, t, spec, &fa);
            /* The watchdog hears of the task before anything else: from
             * here on the rank may die at any moment. */
            if (rc == 0)
                exec_watch_add(ex, (uint32_t)(t - ex->tasks), t->pid);
            posix_spawn_file_actions_destroy(&fa);
        }
    }
    close_fds(&fds);
    if (rc == 0)
        rc = watch(ex, t);
    if (rc != 0)
        exec_capture_close(t);
    if (rc != 0 && t->dirfd_owned) {
        close(t->dirfd);
        t->dirfd = AT_FDCWD;
        t->dirfd_owned = false;
    }
    return rc;
}
