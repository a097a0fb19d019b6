/* Stage-in: local files linked or copied, remote ones downloaded with the
 * curl multi interface (several at once, resumable, retried, verified).
 *
 * A download goes to DEST.wfmpi-part; a retry (or a later run) continues
 * from that file's size with a Range request, and starts over when the
 * server answers 200 instead of 206. Only a complete, verified file is
 * renamed to DEST, so a consumer never sees half a file.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "stage_int.h"

#define PART_SUFFIX ".wfmpi-part"

struct xfer {
    struct wfmpi_stage_item *it;
    char url[4096]; /* what curl fetches (s3:// mapped to https) */
    char part[PATH_MAX];
    CURL *h;
    FILE *out;
    struct curl_slist *hdrs;
    curl_off_t resume_from;
    unsigned tries;
    double next_at, started;
    bool active, done, checked, no_resume;
    char errbuf[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------ helpers */

bool wfmpi_stage_path_ok(const char *path)
{
    if (!path || !*path || path[0] == '/')
        return false;
    for (const char *p = path; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        p += len + (slash != NULL);
    }
    return true;
}

static int make_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return wfmpi_mkdir_p(dir);
}

static void set_msg(struct wfmpi_stage_item *it, enum wfmpi_stage_status st, const char *fmt, ...)
    WFMPI_PRINTF(3, 4);
static void set_msg(struct wfmpi_stage_item *it, enum wfmpi_stage_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
    va_end(ap);
    it->status = st;
    fprintf(stderr, "stage-in: %s\n", it->msg);
}

/* Check path against the expected digest; false (with the item's status
 * set) on a mismatch or a read error. */
static bool verify(struct wfmpi_stage_item *it, const char *path)
{
    if (!it->sha256)
        return true;
    char got[WFMPI_SHA256_HEX_LEN];
    int rc = wfmpi_sha256_file_hex(path, got);
    if (rc) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: cannot read for its checksum: %s", it->dest,
                wfmpi_strerror(rc));
        return false;
    }
    if (strcasecmp(got, it->sha256) != 0) {
        set_msg(it, WFMPI_STAGE_MISMATCH, "%s: sha256 mismatch: expected %s, got %s (%s)", it->dest,
                it->sha256, got, it->url);
        return false;
    }
    return true;
}

/* DEST is already there and right: a rerun fetches nothing. */
static bool already_there(struct wfmpi_stage_item *it)
{
    struct stat st;
    if (lstat(it->dest, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    char got[WFMPI_SHA256_HEX_LEN];
    if (it->sha256 && (wfmpi_sha256_file_hex(it->dest, got) || strcasecmp(got, it->sha256) != 0))
        return false;
    fprintf(stderr, "stage-in: %s: already present%s, skipped\n", it->dest,
            it->sha256 ? " with the right sha256" : "");
    it->skipped = true;
    return true;
}

/* ------------------------------------------------------------ local */

static int copy_file(const char *from, const char *to, mode_t mode)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s" PART_SUFFIX, to);
    int rc = stage_copy(from, tmp, mode, NULL);
    if (!rc && rename(tmp, to) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

static void stage_local(struct wfmpi_stage_item *it, const struct wfmpi_stage_in_options *o)
{
    const char *src = strncmp(it->url, "file://", 7) == 0 ? it->url + 7 : it->url;
    struct stat st;
    if (stat(src, &st) != 0) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s: %s", it->dest, src, strerror(errno));
        return;
    }
    if (!verify(it, src))
        return;
    int rc;
    if (o->no_symlink) {
        rc = copy_file(src, it->dest, o->executable ? 0755 : (st.st_mode & 0777));
    } else {
        char tmp[PATH_MAX + 16];
        snprintf(tmp, sizeof(tmp), "%s.wfmpi-link", it->dest);
        unlink(tmp);
        rc = symlink(src, tmp) == 0 && rename(tmp, it->dest) == 0 ? 0 : -errno;
        if (rc)
            unlink(tmp);
    }
    if (rc) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, wfmpi_strerror(rc));
        return;
    }
    it->status = WFMPI_STAGE_OK;
    fprintf(stderr, "stage-in: %s: %s %s%s\n", it->dest,
            o->no_symlink ? "copied from" : "linked to", src,
            it->sha256 ? ", sha256 verified" : "");
}

/* ------------------------------------------------------------ remote */

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (!x->checked) {
        x->checked = true;
        long code = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
        if (x->resume_from > 0 && code == 200) { /* Range ignored: start over */
            fprintf(stderr, "stage-in: %s: the server cannot resume; starting over\n", x->it->dest);
            if (fflush(x->out) || ftruncate(fileno(x->out), 0) || fseek(x->out, 0, SEEK_SET))
                return 0;
            x->resume_from = 0;
        }
    }
    return fwrite(p, 1, n, x->out) == n ? n : 0;
}

static bool s3_credentials(struct xfer *x, char *userpwd, size_t size, char *region, size_t rsize)
{
    struct stage_aws aws;
    if (stage_aws_load(&aws) != 0) {
        set_msg(x->it, WFMPI_STAGE_FAILED,
                "%s: no AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                "~/.aws/credentials)",
                x->it->url);
        return false;
    }
    snprintf(userpwd, size, "%s:%s", aws.key, aws.secret);
    snprintf(region, rsize, "%s", aws.region);
    if (aws.token[0]) {
        char h[sizeof(aws.token) + 32];
        snprintf(h, sizeof(h), "x-amz-security-token: %s", aws.token);
        x->hdrs = curl_slist_append(x->hdrs, h);
    }
    return true;
}

static bool setup_easy(struct xfer *x, const struct wfmpi_stage_in_options *o)
{
    struct wfmpi_stage_item *it = x->it;
    char userpwd[1024] = "", region[128] = "";
    snprintf(x->url, sizeof(x->url), "%s", it->url);
    if (strncmp(it->url, "s3://", 5) == 0) {
        if (!s3_credentials(x, userpwd, sizeof(userpwd), region, sizeof(region)))
            return false;
        if (wfmpi_stage_s3_url(it->url, region, x->url, sizeof(x->url))) {
            set_msg(it, WFMPI_STAGE_FAILED, "%s: not s3://BUCKET/KEY", it->url);
            return false;
        }
        x->hdrs = curl_slist_append(x->hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    }
    x->no_resume = strncmp(it->url, "scp://", 6) == 0;
    struct stat st;
    x->resume_from = !x->no_resume && stat(x->part, &st) == 0 ? (curl_off_t)st.st_size : 0;
    x->out = fopen(x->part, x->resume_from ? "ab" : "wb");
    if (!x->out) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", x->part, strerror(errno));
        return false;
    }
    x->h = curl_easy_init();
    if (!x->h) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: cannot create a transfer", it->url);
        return false;
    }
    x->checked = false;
    x->errbuf[0] = '\0';
    curl_easy_setopt(x->h, CURLOPT_URL, x->url);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(x->h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)((o->connect_timeout_s > 0 ? o->connect_timeout_s : 30) * 1000));
    /* A stalled transfer (under 1 byte/s for a minute) fails and is retried. */
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(x->h, CURLOPT_RESUME_FROM_LARGE, x->resume_from);
    curl_easy_setopt(x->h, CURLOPT_USERAGENT, "wfmpi-stage-in");
    if (userpwd[0]) {
        char sig[160];
        snprintf(sig, sizeof(sig), "aws:amz:%s:s3", region);
        curl_easy_setopt(x->h, CURLOPT_AWS_SIGV4, sig);
        curl_easy_setopt(x->h, CURLOPT_USERPWD, userpwd);
    }
    if (x->hdrs)
        curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    return true;
}

static void release(struct xfer *x, CURLM *multi)
{
    if (x->h) {
        curl_multi_remove_handle(multi, x->h);
        curl_easy_cleanup(x->h);
        x->h = NULL;
    }
    if (x->out)
        fclose(x->out);
    x->out = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    x->active = false;
}

/* A finished download: verify, rename into place. */
static void complete(struct xfer *x, const struct wfmpi_stage_in_options *o)
{
    struct wfmpi_stage_item *it = x->it;
    x->done = true;
    if (!verify(it, x->part)) {
        unlink(x->part); /* a bad file is not resumed either */
        return;
    }
    if (o->executable && chmod(x->part, 0755) != 0) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: chmod: %s", x->part, strerror(errno));
        return;
    }
    if (rename(x->part, it->dest) != 0) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, strerror(errno));
        return;
    }
    struct stat st;
    double secs = wfmpi_mono() - x->started;
    double bytes = stat(it->dest, &st) == 0 ? (double)st.st_size : 0;
    it->status = WFMPI_STAGE_OK;
    fprintf(stderr, "stage-in: %s: %.0f bytes in %.2f s (%.1f MB/s)%s%s\n", it->dest, bytes, secs,
            secs > 0 ? bytes / secs / 1e6 : 0.0, x->tries > 1 ? " after retries" : "",
            it->sha256 ? ", sha256 verified" : "");
}

/* A failed try: permanent (4xx but 408/429) or retried after a backoff. */
static void failed_try(struct xfer *x, CURLcode cc, const struct wfmpi_stage_in_options *o)
{
    struct wfmpi_stage_item *it = x->it;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    char why[CURL_ERROR_SIZE + 64];
    if (code >= 400)
        snprintf(why, sizeof(why), "HTTP %ld for %s", code, it->url);
    else
        snprintf(why, sizeof(why), "%s: %s", it->url,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    bool permanent = code >= 400 && code < 500 && code != 408 && code != 429 && code != 416;
    if (code == 416 || permanent) /* nothing worth resuming */
        unlink(x->part);
    if (permanent || x->tries > o->retries) {
        x->done = true;
        set_msg(it, WFMPI_STAGE_FAILED, "%s (after %u tr%s)", why, x->tries,
                x->tries == 1 ? "y" : "ies");
        return;
    }
    double base = o->backoff_s > 0 ? o->backoff_s : 1.0;
    double delay = base * (double)(1u << (x->tries - 1 < 10 ? x->tries - 1 : 10));
    delay *= 0.5 + (double)rand() / RAND_MAX; /* jitter: 0.5x to 1.5x */
    x->next_at = wfmpi_mono() + delay;
    fprintf(stderr, "stage-in: %s; retrying in %.1f s\n", why, delay);
}

static void progress(struct xfer *xs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct xfer *x = &xs[i];
        if (!x->active)
            continue;
        curl_off_t got = 0, total = -1, rate = 0;
        curl_easy_getinfo(x->h, CURLINFO_SIZE_DOWNLOAD_T, &got);
        curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
        curl_easy_getinfo(x->h, CURLINFO_SPEED_DOWNLOAD_T, &rate);
        got += x->resume_from;
        if (total > 0)
            fprintf(stderr, "stage-in: %s %.0f%% %.1f MB/s\n", x->it->dest,
                    100.0 * (double)got / (double)(total + x->resume_from), (double)rate / 1e6);
        else
            fprintf(stderr, "stage-in: %s %.1f MB %.1f MB/s\n", x->it->dest, (double)got / 1e6,
                    (double)rate / 1e6);
    }
}

static void start_due(struct xfer *xs, size_t n, CURLM *multi,
                      const struct wfmpi_stage_in_options *o, unsigned *active)
{
    unsigned parallel = o->parallel ? o->parallel : 4;
    double now = wfmpi_mono();
    for (size_t i = 0; i < n && *active < parallel; i++) {
        struct xfer *x = &xs[i];
        if (x->done || x->active || x->next_at > now)
            continue;
        x->tries++;
        if (!setup_easy(x, o)) {
            release(x, multi);
            x->done = true;
            continue;
        }
        if (x->tries == 1)
            x->started = now;
        curl_multi_add_handle(multi, x->h);
        x->active = true;
        (*active)++;
    }
}

static void collect(struct xfer *xs, CURLM *multi, const struct wfmpi_stage_in_options *o,
                    unsigned *active)
{
    (void)xs;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode cc = m->data.result;
        if (fflush(x->out) != 0 && cc == CURLE_OK)
            cc = CURLE_WRITE_ERROR;
        if (cc != CURLE_OK)
            failed_try(x, cc, o);
        release(x, multi);
        (*active)--;
        if (cc == CURLE_OK)
            complete(x, o);
    }
}

static bool all_done(const struct xfer *xs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!xs[i].done)
            return false;
    }
    return true;
}

static void download(struct xfer *xs, size_t n, const struct wfmpi_stage_in_options *o)
{
    CURLM *multi = curl_multi_init();
    if (!multi) {
        for (size_t i = 0; i < n; i++)
            set_msg(xs[i].it, WFMPI_STAGE_FAILED, "%s: cannot start libcurl", xs[i].it->url);
        return;
    }
    unsigned active = 0;
    double last = wfmpi_mono();
    while (!all_done(xs, n)) {
        start_due(xs, n, multi, o, &active);
        int running;
        curl_multi_perform(multi, &running);
        collect(xs, multi, o, &active);
        curl_multi_poll(multi, NULL, 0, 100, NULL);
        if (wfmpi_mono() - last >= 1.0) {
            progress(xs, n);
            last = wfmpi_mono();
        }
    }
    curl_multi_cleanup(multi);
}

int wfmpi_stage_in(struct wfmpi_stage_item *items, size_t n,
                   const struct wfmpi_stage_in_options *opt)
{
    struct wfmpi_stage_in_options o = *opt;
    struct xfer *xs = calloc(n ? n : 1, sizeof(*xs));
    if (!xs)
        return 1;
    srand((unsigned)(getpid() ^ (unsigned)(wfmpi_wall() * 1e6)));
    size_t nx = 0;
    for (size_t i = 0; i < n; i++) {
        struct wfmpi_stage_item *it = &items[i];
        it->status = WFMPI_STAGE_FAILED;
        int rc = make_parent(it->dest);
        if (rc) {
            set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, wfmpi_strerror(rc));
            continue;
        }
        bool local = strncmp(it->url, "file://", 7) == 0 || it->url[0] == '/';
        if (!local && already_there(it)) {
            it->status = WFMPI_STAGE_OK;
            continue;
        }
        if (local) {
            stage_local(it, &o);
            continue;
        }
        xs[nx].it = it;
        snprintf(xs[nx].part, sizeof(xs[nx].part), "%s" PART_SUFFIX, it->dest);
        nx++;
    }
    if (nx)
        download(xs, nx, &o);
    free(xs);
    int code = 0;
    for (size_t i = 0; i < n; i++) {
        if (items[i].status == WFMPI_STAGE_MISMATCH)
            code = WFMPI_STAGE_INTEGRITY;
        else if (items[i].status != WFMPI_STAGE_OK && code == 0)
            code = 1;
    }
    return code;
}
