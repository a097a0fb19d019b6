/* Local side of staging: crash-safe copies with sha256, stage-out and
 * cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stage_int.h"

/* ------------------------------------------------------------ copies */

int stage_fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
        return -ENAMETOOLONG;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int stage_make_parent(const char *path)
{
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
        return -ENAMETOOLONG;
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return wfmpi_mkdir_p(dir);
}

static int copy_fd(int in, int out, struct wfmpi_sha256 *h)
{
    static char buf[1 << 20]; /* one thread at a time (stage.h) */
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (h && wfmpi_sha256_update(h, buf, (size_t)n))
            return -ENOMEM;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            off += w;
        }
    }
}

int stage_copy(const char *from, const char *to, mode_t mode, char hex[WFMPI_SHA256_HEX_LEN])
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        int rc = -errno;
        close(in);
        return rc;
    }
    struct wfmpi_sha256 *h = hex ? wfmpi_sha256_create() : NULL;
    int rc = hex && !h ? -ENOMEM : copy_fd(in, out, h);
    if (!rc && fchmod(out, mode) != 0) /* the umask does not decide an executable's bits */
        rc = -errno;
    if (!rc && fsync(out) != 0)
        rc = -errno;
    if (close(out) != 0 && !rc)
        rc = -errno;
    close(in);
    if (h) {
        unsigned char md[WFMPI_SHA256_LEN];
        if (!rc && wfmpi_sha256_final(h, md) == 0)
            wfmpi_hex(md, sizeof(md), hex);
        wfmpi_sha256_destroy(h);
    }
    return rc;
}

/* ------------------------------------------------------------ stage-out */

unsigned wfmpi_stage_out_mode_of(const char *s)
{
    if (strcmp(s, "copy") == 0)
        return WFMPI_STAGE_COPY;
    if (strcmp(s, "copy+register") == 0)
        return WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER;
    if (strcmp(s, "register") == 0)
        return WFMPI_STAGE_REGISTER;
    return 0;
}

/* dir/rel without rel's "." components and doubled slashes, so a pfn names
 * the file one way. false when it does not fit. */
static bool join(const char *dir, const char *rel, char *out, size_t size)
{
    size_t k = (size_t)snprintf(out, size, "%s", dir);
    if (k >= size)
        return false;
    while (k > 1 && out[k - 1] == '/')
        out[--k] = '\0';
    for (const char *p = rel; *p;) {
        size_t len = strcspn(p, "/");
        if (len && !(len == 1 && p[0] == '.')) {
            if (k + 1 + len >= size)
                return false;
            out[k++] = '/';
            memcpy(out + k, p, len);
            out[k += len] = '\0';
        }
        p += len + (p[len] == '/');
    }
    return true;
}

/* Copy lfn to dest atomically (temp name beside it, fsync, rename, fsync
 * of the directory); its digest into hex. */
static int copy_out(const char *lfn, const char *dest, char hex[WFMPI_SHA256_HEX_LEN])
{
    struct stat st;
    if (stat(lfn, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    int rc = stage_make_parent(dest);
    if (rc)
        return rc;
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.wfmpi-tmp.%ld", dest, (long)getpid());
    rc = stage_copy(lfn, tmp, st.st_mode & 0777, hex);
    if (!rc && rename(tmp, dest) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return stage_fsync_dir_of(dest);
}

/* One file: copied and/or hashed; its pfn (file://...) into pfn. 0, or a
 * negative code with what failed in *what. */
static int out_one(struct wfmpi_stage_out_file *f, const char *odir, int odir_rc, const char *cwd,
                   char *pfn, size_t size, const char **what)
{
    char path[PATH_MAX];
    int rc;
    if (f->mode & WFMPI_STAGE_COPY) {
        *what = "output dir";
        if (odir_rc)
            return odir_rc;
        *what = "copy";
        if (!join(odir, f->lfn, path, sizeof(path)))
            return -ENAMETOOLONG;
        if ((rc = copy_out(f->lfn, path, f->sha256)))
            return rc;
    } else {
        *what = "sha256";
        if (!join(cwd, f->lfn, path, sizeof(path)))
            return -ENAMETOOLONG;
        if ((rc = wfmpi_sha256_file_hex(f->lfn, f->sha256)))
            return rc;
    }
    return (size_t)snprintf(pfn, size, "file://%s", path) < size ? 0 : -ENAMETOOLONG;
}

static void out_result(struct wfmpi_stage_out_file *f, int rc, const char *what)
{
    f->status = rc ? WFMPI_STAGE_FAILED : WFMPI_STAGE_OK;
    f->msg[0] = '\0';
    if (rc == -ENOENT && strcmp(what, "output dir") != 0)
        snprintf(f->msg, sizeof(f->msg), "%s: no such file (was it written?)", f->lfn);
    else if (rc)
        snprintf(f->msg, sizeof(f->msg), "%s: %s: %s", f->lfn, what, wfmpi_strerror(rc));
}

int wfmpi_stage_out(struct wfmpi_stage_out_file *files, size_t n, const char *output_dir,
                    const char *catalog, const char *site, struct wfmpi_error *err)
{
    char odir[PATH_MAX], cwd[PATH_MAX];
    bool copies = false;
    for (size_t i = 0; i < n; i++)
        copies |= (files[i].mode & WFMPI_STAGE_COPY) != 0;
    int odir_rc = !copies ? 0 : output_dir ? wfmpi_mkdir_p(output_dir) : -EINVAL;
    if (copies && !odir_rc && !realpath(output_dir, odir))
        odir_rc = -errno;
    if (!getcwd(cwd, sizeof(cwd)))
        return wfmpi_error_set(err, -errno, "getcwd: %s", strerror(errno));
    struct wfmpi_stage_replica *reg = calloc(n ? n : 1, sizeof(*reg));
    char(*pfns)[PATH_MAX + 8] = calloc(n ? n : 1, sizeof(*pfns));
    if (!reg || !pfns) {
        free(reg);
        free(pfns);
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    }
    size_t nreg = 0;
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        struct wfmpi_stage_out_file *f = &files[i];
        const char *what = "";
        out_result(f, out_one(f, odir, odir_rc, cwd, pfns[i], sizeof(pfns[i]), &what), what);
        if (f->status != WFMPI_STAGE_OK)
            failed++;
        else if (f->mode & WFMPI_STAGE_REGISTER)
            reg[nreg++] = (struct wfmpi_stage_replica){f->lfn, pfns[i], site, f->sha256};
    }
    int rc = 0;
    if (nreg && !catalog)
        rc = wfmpi_error_set(err, WFMPI_E_INPUT, "no replica catalog to register in");
    else if (nreg)
        rc = wfmpi_stage_register(catalog, reg, nreg, err);
    free(reg);
    free(pfns);
    return rc ? rc : failed;
}

/* ------------------------------------------------------------ cleanup */

int wfmpi_stage_remove(const char *path, struct wfmpi_error *err)
{
    if (unlink(path) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return wfmpi_error_set(err, -errno, "%s: %s", path, strerror(errno));
}
