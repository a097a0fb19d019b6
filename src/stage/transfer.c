/* Stage-in: local files linked or copied, remote ones downloaded with the
 * curl multi interface (several at once, resumable, retried, verified).
 *
 * A download goes to DEST.wfmpi-part; a retry (or a later run) continues
 * from that file's size with a Range request, and starts over when the
 * server answers 200 instead of 206 (libcurl reports CURLE_RANGE_ERROR) or
 * 416. Only a complete, verified file is renamed to DEST, so a consumer
 * never sees half a file, and a DEST that is there is complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "stage_int.h"

#define PART_SUFFIX ".wfmpi-part"
#define LINE_EVERY_S 1.0 /* progress lines: at most one a second per transfer */

struct xfer {
    struct wfmpi_stage_item *it;
    enum wfmpi_url_scheme scheme;
    char url[STAGE_URL_MAX]; /* what curl fetches (s3:// mapped to https) */
    char part[PATH_MAX];
    CURL *h;
    int fd; /* the part file during a try, else -1 */
    struct wfmpi_sha256 *sha; /* digest of the part so far, when one is expected */
    struct curl_slist *hdrs;
    curl_off_t offset; /* bytes already in the part when the try started */
    curl_off_t got; /* bytes written in this try */
    uint64_t fetched; /* bytes received over all tries */
    int write_err; /* -errno of a failed write into the part */
    unsigned failures; /* failed tries, counted against the retries */
    double next_at, started, try_started, last_line;
    bool active, done, restarted;
    char errbuf[CURL_ERROR_SIZE];
};

struct stage_in {
    const struct wfmpi_stage_in_options *o;
    struct xfer *xs;
    size_t n;
    CURLM *multi;
    unsigned active;
    uint64_t seed; /* jitter */
};

#define SAY(o, ...) stage_say((o)->line, (o)->line_ctx, __VA_ARGS__)

static void set_msg(struct wfmpi_stage_item *it, enum wfmpi_stage_status st, const char *fmt, ...)
    WFMPI_PRINTF(3, 4);
static void set_msg(struct wfmpi_stage_item *it, enum wfmpi_stage_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof(it->msg), fmt, ap);
    va_end(ap);
    it->status = st;
}

static double mb_per_s(uint64_t bytes, double secs)
{
    return secs > 0 ? (double)bytes / secs / 1e6 : 0.0;
}

/* Remove what a failed or mismatched item leaves at DEST: never a
 * directory, and never something the item did not stage (a symlink or
 * regular file is what a stage-in makes). */
static void remove_dest(const char *dest)
{
    struct stat st;
    if (lstat(dest, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
        unlink(dest);
}

static void mismatch(struct wfmpi_stage_item *it, const char *got)
{
    set_msg(it, WFMPI_STAGE_MISMATCH, "%s: sha256 mismatch: expected %s, got %s (%s)", it->dest,
            it->sha256, got, it->url);
    remove_dest(it->dest);
}

/* ------------------------------------------------------------ local */

/* DEST as a symlink to src, replaced atomically (a temp link renamed over
 * whatever DEST was). */
static int link_into_place(const char *src, const char *dest)
{
    char tmp[PATH_MAX + 32];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.wfmpi-link.%ld", dest, (long)getpid()) >=
        sizeof(tmp))
        return -ENAMETOOLONG;
    unlink(tmp);
    int rc = symlink(src, tmp) == 0 && rename(tmp, dest) == 0 ? 0 : -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

static int copy_into_place(const char *src, const char *dest, mode_t mode)
{
    char tmp[PATH_MAX + 32];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.wfmpi-copy.%ld", dest, (long)getpid()) >=
        sizeof(tmp))
        return -ENAMETOOLONG;
    int rc = stage_copy(src, tmp, mode, NULL);
    if (!rc && rename(tmp, dest) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc ? rc : stage_fsync_dir_of(dest);
}

static void stage_local(struct wfmpi_stage_item *it, const char *src,
                        const struct wfmpi_stage_in_options *o)
{
    struct stat st;
    bool copy = o->no_symlink || o->executable; /* never chmod someone else's file */
    if (stat(src, &st) != 0) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s: %s", it->dest, src, strerror(errno));
        return;
    }
    if ((copy || it->sha256) && !S_ISREG(st.st_mode)) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s is not a regular file", it->dest, src);
        return;
    }
    if (it->sha256) {
        char got[WFMPI_SHA256_HEX_LEN];
        int rc = wfmpi_sha256_file_hex(src, got);
        if (rc) {
            set_msg(it, WFMPI_STAGE_FAILED, "%s: %s: %s", it->dest, src, wfmpi_strerror(rc));
            return;
        }
        if (strcmp(got, it->sha256) != 0) {
            mismatch(it, got);
            return;
        }
        it->verified = true;
    }
    int rc = copy ? copy_into_place(src, it->dest, o->executable ? 0755 : st.st_mode & 0777)
                  : link_into_place(src, it->dest);
    if (rc) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, wfmpi_strerror(rc));
        return;
    }
    it->status = WFMPI_STAGE_OK;
    it->bytes = (uint64_t)st.st_size;
    SAY(o, "stage-in: %s: %s %s%s", it->dest, copy ? "copied from" : "linked to", src,
        it->verified ? ", verified sha256" : "");
}

/* DEST is already there and right: a rerun fetches nothing. */
static bool already_there(struct wfmpi_stage_item *it, const struct wfmpi_stage_in_options *o)
{
    struct stat st;
    if (lstat(it->dest, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    char got[WFMPI_SHA256_HEX_LEN];
    if (it->sha256 && (wfmpi_sha256_file_hex(it->dest, got) || strcmp(got, it->sha256) != 0))
        return false;
    if (o->executable && chmod(it->dest, 0755) != 0)
        return false;
    char part[PATH_MAX + 16];
    snprintf(part, sizeof(part), "%s" PART_SUFFIX, it->dest);
    unlink(part); /* left by an older try; DEST is complete */
    it->skipped = true;
    it->verified = it->sha256 != NULL;
    it->bytes = (uint64_t)st.st_size;
    it->status = WFMPI_STAGE_OK;
    SAY(o, "stage-in: %s: already there%s, skipped", it->dest,
        it->verified ? " (verified sha256)" : "");
    return true;
}

/* ------------------------------------------------------------ one try */

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code / 100 == 3)
        return n; /* the body of a redirect being followed */
    if (x->got == 0 && x->offset > 0 && code == 200) {
        /* libcurl normally refuses a 200 to a resume (CURLE_RANGE_ERROR);
         * should one get through, the body is the whole file. */
        if (ftruncate(x->fd, 0) != 0 || lseek(x->fd, 0, SEEK_SET) != 0) {
            x->write_err = -errno;
            return 0;
        }
        x->offset = 0;
        if (x->sha) {
            wfmpi_sha256_destroy(x->sha);
            if (!(x->sha = wfmpi_sha256_create())) {
                x->write_err = -ENOMEM;
                return 0;
            }
        }
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(x->fd, p + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            x->write_err = -errno;
            return 0;
        }
        off += (size_t)w;
    }
    if (x->sha && wfmpi_sha256_update(x->sha, p, n)) {
        x->write_err = -ENOMEM;
        return 0;
    }
    x->got += (curl_off_t)n;
    x->fetched += n;
    return n;
}

/* Digest the first x->offset bytes of the part, so a resumed download is
 * verified as a whole without reading it twice at the end. */
static int hash_prefix(struct xfer *x)
{
    static char buf[1 << 16];
    for (curl_off_t done = 0; done < x->offset;) {
        size_t want =
            (size_t)(x->offset - done < (curl_off_t)sizeof(buf) ? x->offset - done
                                                                : (curl_off_t)sizeof(buf));
        ssize_t r = pread(x->fd, buf, want, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        if (wfmpi_sha256_update(x->sha, buf, (size_t)r))
            return -ENOMEM;
        done += r;
    }
    return 0;
}

/* Open the part at its current size (0 for scp, which cannot resume). */
static int open_part(struct xfer *x)
{
    struct stat st;
    x->offset = x->scheme != WFMPI_URL_SCP && lstat(x->part, &st) == 0 && S_ISREG(st.st_mode)
                    ? (curl_off_t)st.st_size
                    : 0;
    x->fd = open(x->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (x->fd < 0)
        return -errno;
    if (ftruncate(x->fd, x->offset) != 0 || lseek(x->fd, x->offset, SEEK_SET) != x->offset)
        return -errno;
    if (x->it->sha256) {
        if (!(x->sha = wfmpi_sha256_create()))
            return -ENOMEM;
        return hash_prefix(x);
    }
    return 0;
}

static void end_try(struct stage_in *s, struct xfer *x)
{
    if (x->h) {
        curl_multi_remove_handle(s->multi, x->h);
        curl_easy_cleanup(x->h);
        x->h = NULL;
    }
    if (x->fd >= 0)
        close(x->fd);
    x->fd = -1;
    wfmpi_sha256_destroy(x->sha);
    x->sha = NULL;
    curl_slist_free_all(x->hdrs);
    x->hdrs = NULL;
    if (x->active)
        s->active--;
    x->active = false;
}

/* ------------------------------------------------------------ setup */

/* Signature V4 for s3://: the credentials, the region, the https URL. */
static bool setup_s3(struct xfer *x)
{
    struct stage_aws aws;
    if (stage_aws_load(&aws) != 0) {
        set_msg(x->it, WFMPI_STAGE_FAILED,
                "%s: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "a [%s] profile in ~/.aws/credentials)",
                x->it->url, getenv("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default");
        return false;
    }
    const char *ep = getenv("AWS_ENDPOINT_URL_S3");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL");
    if (stage_s3_url(x->it->url, aws.region, ep, x->url, sizeof(x->url))) {
        set_msg(x->it, WFMPI_STAGE_FAILED, "%s: not s3://BUCKET/KEY", x->it->url);
        return false;
    }
    char sig[128], tok[sizeof(aws.token) + 32];
    snprintf(sig, sizeof(sig), "aws:amz:%s:s3", aws.region);
    curl_easy_setopt(x->h, CURLOPT_AWS_SIGV4, sig);
    curl_easy_setopt(x->h, CURLOPT_USERNAME, aws.key);
    curl_easy_setopt(x->h, CURLOPT_PASSWORD, aws.secret);
    /* S3 wants the payload hash; a GET's payload is empty. */
    x->hdrs = curl_slist_append(x->hdrs,
                                "x-amz-content-sha256: "
                                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    if (aws.token[0]) {
        snprintf(tok, sizeof(tok), "x-amz-security-token: %s", aws.token);
        x->hdrs = x->hdrs ? curl_slist_append(x->hdrs, tok) : NULL;
    }
    if (!x->hdrs) {
        set_msg(x->it, WFMPI_STAGE_FAILED, "%s: out of memory", x->it->url);
        return false;
    }
    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
    return true;
}

/* The SSH key: WFMPI_SSH_KEY, else the first of ~/.ssh/id_ed25519, id_ecdsa
 * and id_rsa that exists (libcurl alone only tries id_rsa), with its .pub
 * beside it when there is one. ssh-agent is tried by libcurl as well. */
static void setup_ssh_key(struct xfer *x, const char *home)
{
    static const char *const names[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
    char key[PATH_MAX], pub[PATH_MAX + 8];
    const char *env = getenv("WFMPI_SSH_KEY");
    bool found = env && *env && (size_t)snprintf(key, sizeof(key), "%s", env) < sizeof(key);
    for (size_t i = 0; !found && home && i < sizeof(names) / sizeof(names[0]); i++)
        found = (size_t)snprintf(key, sizeof(key), "%s/.ssh/%s", home, names[i]) < sizeof(key) &&
                access(key, R_OK) == 0;
    if (!found)
        return;
    curl_easy_setopt(x->h, CURLOPT_SSH_PRIVATE_KEYFILE, key);
    snprintf(pub, sizeof(pub), "%s.pub", key);
    if (access(pub, R_OK) == 0)
        curl_easy_setopt(x->h, CURLOPT_SSH_PUBLIC_KEYFILE, pub);
}

/* TLS is always verified; CURL_CA_BUNDLE or SSL_CERT_FILE name other CAs
 * (as for the curl tool). SSH hosts are checked against known_hosts when
 * there is one. */
static void setup_trust(struct xfer *x)
{
    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, 2L);
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca)
        ca = getenv("SSL_CERT_FILE");
    if (ca && *ca)
        curl_easy_setopt(x->h, CURLOPT_CAINFO, ca);
    const char *home = getenv("HOME");
    char kh[PATH_MAX];
    if ((x->scheme == WFMPI_URL_SFTP || x->scheme == WFMPI_URL_SCP) && home &&
        (size_t)snprintf(kh, sizeof(kh), "%s/.ssh/known_hosts", home) < sizeof(kh) &&
        access(kh, R_OK) == 0)
        curl_easy_setopt(x->h, CURLOPT_SSH_KNOWNHOSTS, kh);
    if (x->scheme == WFMPI_URL_SFTP || x->scheme == WFMPI_URL_SCP)
        setup_ssh_key(x, home);
}

static bool setup_easy(struct xfer *x, const struct wfmpi_stage_in_options *o)
{
    struct wfmpi_stage_item *it = x->it;
    if (!(x->h = curl_easy_init())) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: cannot create a transfer", it->url);
        return false;
    }
    snprintf(x->url, sizeof(x->url), "%s", it->url);
    if (x->scheme == WFMPI_URL_S3 && !setup_s3(x))
        return false;
    int rc = open_part(x);
    if (rc) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", x->part, wfmpi_strerror(rc));
        return false;
    }
    x->got = 0;
    x->write_err = 0;
    x->errbuf[0] = '\0';
    CURL *h = x->h;
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,sftp,scp");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (x->scheme == WFMPI_URL_HTTP || x->scheme == WFMPI_URL_HTTPS) {
        /* Not for s3: a signature is for one host. */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    setup_trust(x);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)((o->connect_timeout_s > 0 ? o->connect_timeout_s : 30) * 1000));
    /* A stalled transfer (under 1 byte/s for this long) fails and is retried. */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                     (long)(o->low_speed_time_s > 0 ? o->low_speed_time_s + 0.999 : 60));
    curl_easy_setopt(h, CURLOPT_RESUME_FROM_LARGE, x->offset);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wfmpi/" WFMPI_VERSION " stage-in");
    return true;
}

/* ------------------------------------------------------------ outcomes */

/* Errors a retry cannot fix: the request, the credentials, the server's
 * identity, the local disk. HTTP 4xx but 408 and 429 are final too. */
static bool retryable(CURLcode cc, long code)
{
    if (cc == CURLE_HTTP_RETURNED_ERROR)
        return code >= 500 || code == 408 || code == 429;
    switch (cc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_REMOTE_ACCESS_DENIED:
    case CURLE_LOGIN_DENIED:
    case CURLE_REMOTE_FILE_NOT_FOUND:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_AUTH_ERROR:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return false;
    default:
        return true;
    }
}

/* The part cannot be resumed (the server ignores or refuses the range, or
 * a resumed file came out wrong): empty it and go again at once. Once per
 * item, so a confused server cannot keep it going. */
static bool restart(struct xfer *x, const struct wfmpi_stage_in_options *o, const char *why)
{
    if (x->restarted)
        return false;
    x->restarted = true;
    if (truncate(x->part, 0) != 0 && errno != ENOENT)
        return false;
    x->next_at = 0; /* at once, and not counted as a retry */
    x->done = false;
    SAY(o, "stage-in: %s: %s; starting over", x->it->dest, why);
    return true;
}

static unsigned jitter_permille(struct stage_in *s)
{
    s->seed ^= s->seed << 13; /* xorshift64 */
    s->seed ^= s->seed >> 7;
    s->seed ^= s->seed << 17;
    return (unsigned)(s->seed % 1001);
}

/* A failed try: final, or retried after an exponential backoff with
 * jitter (0.5x to 1.5x), so many tasks that failed together do not all
 * come back at the same instant. */
static void failed_try(struct stage_in *s, struct xfer *x, CURLcode cc, long code)
{
    const struct wfmpi_stage_in_options *o = s->o;
    struct wfmpi_stage_item *it = x->it;
    char why[CURL_ERROR_SIZE + STAGE_URL_MAX];
    if (cc == CURLE_HTTP_RETURNED_ERROR)
        snprintf(why, sizeof(why), "HTTP %ld for %s", code, it->url);
    else if (cc == CURLE_WRITE_ERROR && x->write_err)
        snprintf(why, sizeof(why), "%s: %s", x->part, wfmpi_strerror(x->write_err));
    else
        snprintf(why, sizeof(why), "%s: %s", it->url,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
    bool again = retryable(cc, code);
    if (!again && cc == CURLE_HTTP_RETURNED_ERROR)
        unlink(x->part); /* the resource is not there for us: nothing to resume */
    x->failures++;
    if (!again || x->failures > o->retries) {
        x->done = true;
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, why);
        if (it->tries > 1)
            snprintf(it->msg + strlen(it->msg), sizeof(it->msg) - strlen(it->msg),
                     " (after %u tries)", it->tries);
        return;
    }
    double base = o->backoff_s > 0 ? o->backoff_s : 1.0;
    double delay = base * (double)(1u << (x->failures - 1 < 10 ? x->failures - 1 : 10));
    delay *= 0.5 + jitter_permille(s) / 1000.0;
    x->next_at = wfmpi_mono() + delay;
    x->done = false;
    SAY(o, "stage-in: %s: %s; retry %u of %u in %.1f s", it->dest, why, x->failures, o->retries,
        delay);
}

/* A complete part: verify, make executable, fsync, rename into place. */
static void complete(struct stage_in *s, struct xfer *x)
{
    const struct wfmpi_stage_in_options *o = s->o;
    struct wfmpi_stage_item *it = x->it;
    if (x->sha) {
        unsigned char md[WFMPI_SHA256_LEN];
        char got[WFMPI_SHA256_HEX_LEN];
        if (wfmpi_sha256_final(x->sha, md) != 0) {
            set_msg(it, WFMPI_STAGE_FAILED, "%s: sha256 failed", it->dest);
            return;
        }
        wfmpi_hex(md, sizeof(md), got);
        if (strcmp(got, it->sha256) != 0) {
            if (x->offset > 0 && restart(x, o, "the resumed file does not match its sha256"))
                return;
            unlink(x->part);
            mismatch(it, got);
            return;
        }
        it->verified = true;
    }
    int rc = 0;
    if (o->executable && fchmod(x->fd, 0755) != 0)
        rc = -errno;
    if (!rc && fsync(x->fd) != 0)
        rc = -errno;
    if (!rc && rename(x->part, it->dest) != 0)
        rc = -errno;
    if (!rc)
        stage_fsync_dir_of(it->dest);
    if (rc) {
        set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, wfmpi_strerror(rc));
        return;
    }
    it->status = WFMPI_STAGE_OK;
    it->bytes = (uint64_t)(x->offset + x->got);
    it->seconds = wfmpi_mono() - x->started;
    SAY(o, "stage-in: %s: %llu bytes in %.2f s (%.1f MB/s)%s%s", it->dest,
        (unsigned long long)it->bytes, it->seconds, mb_per_s(x->fetched, it->seconds),
        x->offset > 0 ? ", resumed" : "", it->verified ? ", verified sha256" : "");
}

/* A try ended. A 416 to a resume means the part already holds the whole
 * file (a run killed between download and rename) or a stale longer one:
 * with a checksum, complete() tells which (and restarts on a mismatch);
 * without one the part is fetched again. */
static void finished(struct stage_in *s, struct xfer *x, CURLcode cc)
{
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    bool http = x->scheme != WFMPI_URL_SFTP && x->scheme != WFMPI_URL_SCP;
    bool past_end =
        x->offset > 0 && http && code == 416 && (cc == CURLE_OK || cc == CURLE_HTTP_RETURNED_ERROR);
    bool refused = x->offset > 0 && cc == CURLE_RANGE_ERROR;
    x->done = true; /* unless restarted or retried below */
    bool again = (refused || (past_end && !x->sha)) &&
                 restart(x, s->o, "the server did not resume the transfer");
    if (!again && (cc == CURLE_OK || past_end))
        complete(s, x);
    else if (!again)
        failed_try(s, x, cc, code);
    end_try(s, x);
    if (x->done && x->it->status != WFMPI_STAGE_OK)
        SAY(s->o, "stage-in: %s", x->it->msg);
}

/* ------------------------------------------------------------ the loop */

static void progress(struct stage_in *s, double now)
{
    for (size_t i = 0; i < s->n; i++) {
        struct xfer *x = &s->xs[i];
        if (!x->active || now - x->try_started < LINE_EVERY_S || now - x->last_line < LINE_EVERY_S)
            continue;
        x->last_line = now;
        curl_off_t total = -1;
        curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
        uint64_t have = (uint64_t)(x->offset + x->got);
        double rate = mb_per_s((uint64_t)x->got, now - x->try_started);
        if (total > 0)
            SAY(s->o, "stage-in: %s %.0f%% %.1f MB/s", x->it->dest,
                100.0 * (double)have / (double)(total + x->offset), rate);
        else
            SAY(s->o, "stage-in: %s %.1f MB %.1f MB/s", x->it->dest, (double)have / 1e6, rate);
    }
}

static void start_due(struct stage_in *s, double now)
{
    unsigned parallel = s->o->parallel ? s->o->parallel : 4;
    for (size_t i = 0; i < s->n && s->active < parallel; i++) {
        struct xfer *x = &s->xs[i];
        if (x->done || x->active || x->next_at > now)
            continue;
        if (++x->it->tries == 1)
            x->started = now;
        x->try_started = x->last_line = now;
        if (!setup_easy(x, s->o) || curl_multi_add_handle(s->multi, x->h) != CURLM_OK) {
            if (x->it->status == WFMPI_STAGE_OK)
                set_msg(x->it, WFMPI_STAGE_FAILED, "%s: cannot start the transfer", x->it->url);
            end_try(s, x);
            x->done = true;
            SAY(s->o, "stage-in: %s", x->it->msg);
            continue;
        }
        x->active = true;
        s->active++;
    }
}

static void collect(struct stage_in *s)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        finished(s, x, m->data.result);
    }
}

static bool all_done(const struct stage_in *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!s->xs[i].done)
            return false;
    }
    return true;
}

static void download(struct stage_in *s)
{
    while (!all_done(s)) {
        double now = wfmpi_mono();
        start_due(s, now);
        int running;
        curl_multi_perform(s->multi, &running);
        collect(s);
        progress(s, wfmpi_mono());
        if (!all_done(s))
            curl_multi_poll(s->multi, NULL, 0, 100, NULL);
    }
}

/* ------------------------------------------------------------ entry */

/* Local items now; remote ones that are not already there into xs. */
static size_t triage(struct wfmpi_stage_item *items, size_t n,
                     const struct wfmpi_stage_in_options *o, struct xfer *xs)
{
    size_t nx = 0;
    for (size_t i = 0; i < n; i++) {
        struct wfmpi_stage_item *it = &items[i];
        const char *src = NULL;
        enum wfmpi_url_scheme scheme = wfmpi_url_scheme_of(it->url, &src);
        memset(&it->status, 0, sizeof(*it) - offsetof(struct wfmpi_stage_item, status));
        int rc = stage_make_parent(it->dest);
        if (rc)
            set_msg(it, WFMPI_STAGE_FAILED, "%s: %s", it->dest, wfmpi_strerror(rc));
        else if (scheme == WFMPI_URL_UNSUPPORTED)
            set_msg(it, WFMPI_STAGE_FAILED, "%s: unsupported URL (%s)", it->url,
                    wfmpi_url_schemes());
        else if (scheme == WFMPI_URL_FILE)
            stage_local(it, src, o);
        else if (!already_there(it, o)) {
            struct xfer *x = &xs[nx++];
            x->it = it;
            x->scheme = scheme;
            x->fd = -1;
            snprintf(x->part, sizeof(x->part), "%s" PART_SUFFIX, it->dest);
            continue;
        }
        if (it->status != WFMPI_STAGE_OK)
            SAY(o, "stage-in: %s", it->msg);
    }
    return nx;
}

int wfmpi_stage_in(struct wfmpi_stage_item *items, size_t n,
                   const struct wfmpi_stage_in_options *opt, struct wfmpi_error *err)
{
    struct stage_in s = {.o = opt,
                         .seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
                                 (uint64_t)(wfmpi_wall() * 1e6)};
    if (!s.seed)
        s.seed = 1;
    s.xs = calloc(n ? n : 1, sizeof(*s.xs));
    if (!s.xs)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    s.n = triage(items, n, opt, s.xs);
    if (s.n) {
        if (!(s.multi = curl_multi_init())) {
            free(s.xs);
            return wfmpi_error_set(err, WFMPI_E_INTERNAL, "libcurl: cannot start");
        }
        download(&s);
        curl_multi_cleanup(s.multi);
    }
    free(s.xs);
    int failed = 0;
    for (size_t i = 0; i < n; i++)
        failed += items[i].status != WFMPI_STAGE_OK;
    return failed;
}
