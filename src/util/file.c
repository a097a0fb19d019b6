#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wfmpi/util.h"

int wfmpi_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, max);
    int rc = 0;
    char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        if ((rc = wfmpi_buf_append(&b, chunk, (size_t)n)) < 0)
            break;
    }
    close(fd);
    if (rc == 0 && !b.data)
        rc = wfmpi_buf_append(&b, "", 0);
    if (rc < 0) {
        wfmpi_buf_fini(&b);
        return rc;
    }
    *out = b.data;
    if (len)
        *len = b.len;
    return 0;
}

int wfmpi_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wfmpi_read_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return WFMPI_E_CORRUPT;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    if (strlen(path) >= sizeof(copy))
        return -ENAMETOOLONG;
    strcpy(copy, path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int wfmpi_atomic_open(struct wfmpi_atomic_file *f, const char *path)
{
    f->fd = -1;
    if (snprintf(f->path, sizeof(f->path), "%s", path) >= (int)sizeof(f->path) ||
        snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(f->tmp))
        return -ENAMETOOLONG;
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return f->fd < 0 ? -errno : 0;
}

void wfmpi_atomic_abort(struct wfmpi_atomic_file *f)
{
    if (f->fd < 0)
        return;
    close(f->fd);
    f->fd = -1;
    unlink(f->tmp);
}

/* A crash at any instant leaves either the old file or the new one, never a
 * mixture: the data is durable before the rename makes it visible, and the
 * directory is synced so the rename itself survives. */
int wfmpi_atomic_commit(struct wfmpi_atomic_file *f)
{
    int rc = fsync(f->fd) < 0 ? -errno : 0;
    if (close(f->fd) < 0 && rc == 0)
        rc = -errno;
    f->fd = -1;
    if (rc == 0 && rename(f->tmp, f->path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(f->tmp);
        return rc;
    }
    return fsync_dir_of(f->path);
}

int wfmpi_write_file_atomic(const char *path, const void *data, size_t len)
{
    struct wfmpi_atomic_file f;
    int rc = wfmpi_atomic_open(&f, path);
    if (rc == 0 && (rc = wfmpi_write_all(f.fd, data, len)) < 0)
        wfmpi_atomic_abort(&f);
    else if (rc == 0)
        rc = wfmpi_atomic_commit(&f);
    return rc;
}

int wfmpi_mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0777) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int wfmpi_job_output_path(char *buf, size_t size, const char *run_dir, const char *task_id,
                          uint32_t attempt, const char *ext)
{
    return snprintf(buf, size, "%s/jobs/%s.%u.%s", run_dir, task_id, attempt, ext);
}

/* OFD locks belong to the open file description, not to the process: a
 * POSIX lock would vanish the moment any code of this process closed any
 * descriptor of the same file, and would be shared with a forked child. */
static int lock_fd(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
#ifdef F_OFD_SETLK
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    if (errno != EINVAL)
        return errno == EACCES ? -EAGAIN : -errno;
#endif
    if (fcntl(fd, F_SETLK, &fl) == 0)
        return 0;
    return errno == EACCES ? -EAGAIN : -errno;
}

static void read_holder(int fd, char *other, size_t size)
{
    if (!other || size == 0)
        return;
    ssize_t n = pread(fd, other, size - 1, 0);
    other[n > 0 ? n : 0] = '\0';
    other[strcspn(other, "\n")] = '\0';
}

int wfmpi_lock_take(struct wfmpi_lock *l, const char *path, const char *holder, char *other,
                    size_t other_size)
{
    l->fd = -1;
    if (other && other_size)
        other[0] = '\0';
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -errno;
    int rc = lock_fd(fd);
    if (rc == -EAGAIN)
        read_holder(fd, other, other_size);
    if (rc == 0 && ftruncate(fd, 0) < 0)
        rc = -errno;
    if (rc == 0)
        rc = wfmpi_write_all(fd, holder, strlen(holder));
    if (rc < 0) {
        close(fd);
        return rc;
    }
    l->fd = fd;
    return 0;
}

void wfmpi_lock_release(struct wfmpi_lock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
