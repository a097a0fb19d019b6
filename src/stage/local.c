/* Local side of staging: crash-safe copies with sha256, stage-out, the
 * output replica catalog, and AWS configuration for s3:// transfers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stage_int.h"

/* ------------------------------------------------------------ copies */

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
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

static int copy_fd(int in, int out, struct wfmpi_sha256 *h)
{
    static char buf[1 << 20];
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

/* Copy lfn to dir/lfn atomically; its digest into hex. */
static int copy_out(const char *lfn, const char *dir, char *dest, size_t size,
                    char hex[WFMPI_SHA256_HEX_LEN])
{
    struct stat st;
    if (stat(lfn, &st) != 0)
        return -errno;
    if ((size_t)snprintf(dest, size, "%s/%s", dir, lfn) >= size)
        return -ENAMETOOLONG;
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", dest);
    *strrchr(parent, '/') = '\0';
    int rc = wfmpi_mkdir_p(parent);
    if (rc)
        return rc;
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof(tmp), "%s.wfmpi-%ld", dest, (long)getpid());
    rc = stage_copy(lfn, tmp, st.st_mode & 0777, hex);
    if (!rc && rename(tmp, dest) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc ? rc : fsync_dir_of(dest);
}

int wfmpi_stage_out(const struct wfmpi_stage_out_file *files, size_t n, const char *output_dir,
                    const char *catalog, const char *site)
{
    struct wfmpi_stage_replica *reg = calloc(n ? n : 1, sizeof(*reg));
    char(*pfns)[PATH_MAX + 8] = calloc(n ? n : 1, sizeof(*pfns));
    char(*sums)[WFMPI_SHA256_HEX_LEN] = calloc(n ? n : 1, sizeof(*sums));
    if (!reg || !pfns || !sums) {
        free(reg);
        free(pfns);
        free(sums);
        return 1;
    }
    char odir[PATH_MAX], cwd[PATH_MAX];
    if (!realpath(output_dir, odir) && (wfmpi_mkdir_p(output_dir) || !realpath(output_dir, odir)))
        snprintf(odir, sizeof(odir), "%s", output_dir);
    if (!getcwd(cwd, sizeof(cwd)))
        cwd[0] = '\0';
    int code = 0;
    size_t nreg = 0;
    for (size_t i = 0; i < n; i++) {
        const struct wfmpi_stage_out_file *f = &files[i];
        char path[PATH_MAX];
        int rc;
        if (f->mode & WFMPI_STAGE_COPY) {
            rc = copy_out(f->lfn, odir, path, sizeof(path), sums[i]);
        } else {
            snprintf(path, sizeof(path), "%s/%s", cwd, f->lfn);
            rc = wfmpi_sha256_file_hex(f->lfn, sums[i]);
        }
        if (rc) {
            fprintf(stderr, "stage-out: %s: %s\n", f->lfn, wfmpi_strerror(rc));
            code = 1;
            continue;
        }
        printf("sha256 %s %s\n", sums[i], f->lfn);
        if (f->mode & WFMPI_STAGE_COPY)
            fprintf(stderr, "stage-out: %s -> %s\n", f->lfn, path);
        if (!(f->mode & WFMPI_STAGE_REGISTER) || !catalog)
            continue;
        snprintf(pfns[i], sizeof(pfns[i]), "file://%s", path);
        reg[nreg++] = (struct wfmpi_stage_replica){f->lfn, pfns[i], site, sums[i]};
    }
    struct wfmpi_error err = {0};
    if (nreg && wfmpi_stage_register(catalog, reg, nreg, &err)) {
        fprintf(stderr, "stage-out: %s\n", err.text);
        code = 1;
    }
    free(reg);
    free(pfns);
    free(sums);
    return code;
}

/* ------------------------------------------------------------ catalog
 *
 * wfmpi writes the output replica catalog one entry per line, in YAML flow
 * style with double-quoted (JSON-escaped) strings, so it can replace an
 * entry by matching the line's start without a YAML parser, and any YAML
 * reader (Pegasus's, wfmpi's loader, PyYAML) reads it. */

static void yaml_quote(const char *s, char *out, size_t size)
{
    size_t k = 0;
    out[k++] = '"';
    for (; *s && k + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += (size_t)snprintf(out + k, size - k, "\\x%02x", c);
        } else {
            out[k++] = (char)c;
        }
    }
    out[k++] = '"';
    out[k] = '\0';
}

static int entry_line(const struct wfmpi_stage_replica *r, char *out, size_t size)
{
    char lfn[2 * PATH_MAX], pfn[2 * PATH_MAX], site[512];
    yaml_quote(r->lfn, lfn, sizeof(lfn));
    yaml_quote(r->pfn, pfn, sizeof(pfn));
    yaml_quote(r->site ? r->site : "local", site, sizeof(site));
    int n = snprintf(out, size,
                     "  - {lfn: %s, pfns: [{site: %s, pfn: %s}], checksum: {sha256: \"%s\"}}\n",
                     lfn, site, pfn, r->sha256);
    return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

/* Is `line` the entry of one of r[0..n)? */
static bool replaced(const char *line, size_t len, const struct wfmpi_stage_replica *r, size_t n)
{
    char q[2 * PATH_MAX + 16];
    for (size_t i = 0; i < n; i++) {
        char lfn[2 * PATH_MAX];
        yaml_quote(r[i].lfn, lfn, sizeof(lfn));
        int k = snprintf(q, sizeof(q), "  - {lfn: %s,", lfn);
        if (k > 0 && (size_t)k <= len && memcmp(line, q, (size_t)k) == 0)
            return true;
    }
    return false;
}

static int rewrite(const char *catalog, const char *old, size_t old_len,
                   const struct wfmpi_stage_replica *r, size_t n, struct wfmpi_error *err)
{
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, (size_t)1 << 30);
    int rc = wfmpi_buf_printf(&b, "pegasus: \"5.0\"\nreplicas:\n");
    for (const char *p = old, *end = old + old_len; !rc && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (len > 4 && memcmp(p, "  - ", 4) == 0 && !replaced(p, len, r, n))
            rc = wfmpi_buf_append(&b, p, len);
        p += len;
    }
    char line[6 * PATH_MAX];
    for (size_t i = 0; !rc && i < n; i++) {
        rc = entry_line(&r[i], line, sizeof(line));
        if (!rc)
            rc = wfmpi_buf_append(&b, line, strlen(line));
    }
    if (!rc)
        rc = wfmpi_write_file_atomic(catalog, b.data, b.len);
    wfmpi_buf_fini(&b);
    return rc ? wfmpi_error_set(err, rc, "%s: %s", catalog, wfmpi_strerror(rc)) : 0;
}

int wfmpi_stage_register(const char *catalog, const struct wfmpi_stage_replica *r, size_t n,
                         struct wfmpi_error *err)
{
    char lockpath[PATH_MAX + 8];
    snprintf(lockpath, sizeof(lockpath), "%s.lock", catalog);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0)
        return wfmpi_error_set(err, -errno, "%s: %s", lockpath, strerror(errno));
    while (flock(lock, LOCK_EX) != 0 && errno == EINTR)
        ;
    char *old = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(catalog, (size_t)1 << 30, &old, &len);
    if (rc == -ENOENT)
        rc = 0;
    if (rc)
        rc = wfmpi_error_set(err, rc, "%s: %s", catalog, wfmpi_strerror(rc));
    else
        rc = rewrite(catalog, old ? old : "", len, r, n, err);
    free(old);
    close(lock); /* releases the lock */
    return rc;
}

/* ------------------------------------------------------------ AWS */

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    size_t k = strspn(s, " \t");
    memmove(s, s + k, n - k + 1);
}

int stage_ini_get(const char *path, const char *section, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[4096];
    bool in = false;
    while (fgets(line, sizeof(line), f)) {
        trim(line);
        if (line[0] == '[') {
            char *close = strchr(line, ']');
            if (close)
                *close = '\0';
            char *sec = line + 1;
            trim(sec);
            in = strcmp(sec, section) == 0;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!in || !eq || line[0] == '#' || line[0] == ';')
            continue;
        *eq = '\0';
        trim(line);
        char *val = eq + 1;
        trim(val);
        if (strcmp(line, name) == 0) {
            snprintf(out, size, "%s", val);
            break;
        }
    }
    fclose(f);
    return 0;
}

static void aws_file(char *out, size_t size, const char *env, const char *base)
{
    const char *e = getenv(env), *home = getenv("HOME");
    if (e && *e)
        snprintf(out, size, "%s", e);
    else
        snprintf(out, size, "%s/.aws/%s", home ? home : "", base);
}

int stage_aws_load(struct stage_aws *a)
{
    memset(a, 0, sizeof(*a));
    const char *key = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    char path[PATH_MAX];
    if (key && *key && secret && *secret) {
        snprintf(a->key, sizeof(a->key), "%s", key);
        snprintf(a->secret, sizeof(a->secret), "%s", secret);
        const char *tok = getenv("AWS_SESSION_TOKEN");
        snprintf(a->token, sizeof(a->token), "%s", tok ? tok : "");
    } else {
        aws_file(path, sizeof(path), "AWS_SHARED_CREDENTIALS_FILE", "credentials");
        stage_ini_get(path, profile, "aws_access_key_id", a->key, sizeof(a->key));
        stage_ini_get(path, profile, "aws_secret_access_key", a->secret, sizeof(a->secret));
        stage_ini_get(path, profile, "aws_session_token", a->token, sizeof(a->token));
    }
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (region && *region) {
        snprintf(a->region, sizeof(a->region), "%s", region);
    } else {
        char sec[300];
        snprintf(sec, sizeof(sec), strcmp(profile, "default") ? "profile %s" : "%s", profile);
        aws_file(path, sizeof(path), "AWS_CONFIG_FILE", "config");
        stage_ini_get(path, sec, "region", a->region, sizeof(a->region));
    }
    if (!a->region[0])
        snprintf(a->region, sizeof(a->region), "us-east-1");
    return a->key[0] && a->secret[0] ? 0 : -ENOENT;
}

int wfmpi_stage_s3_url(const char *s3, const char *region, char *out, size_t size)
{
    if (strncmp(s3, "s3://", 5) != 0)
        return WFMPI_E_INPUT;
    const char *bucket = s3 + 5, *slash = strchr(bucket, '/');
    if (!slash || slash == bucket || !slash[1])
        return WFMPI_E_INPUT;
    const char *ep = getenv("AWS_ENDPOINT_URL_S3");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL");
    int n;
    if (ep && *ep) {
        size_t el = strlen(ep);
        while (el && ep[el - 1] == '/')
            el--;
        n = snprintf(out, size, "%.*s/%s", (int)el, ep, bucket);
    } else {
        n = snprintf(out, size, "https://%.*s.s3.%s.amazonaws.com%s", (int)(slash - bucket), bucket,
                     region, slash);
    }
    return n > 0 && (size_t)n < size ? 0 : WFMPI_E_INPUT;
}
