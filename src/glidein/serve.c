/* `wfmpi serve`: the HTTP(S) plumbing of the hosted scheduler. libmicrohttpd
 * runs one thread per connection (a claim may long-poll for a few seconds
 * without holding up other pilots); every handler takes the one service lock,
 * so the scheduler cores and checkpoints are used single-threaded as their
 * headers require. Tokens are compared as sha256 digests with CRYPTO_memcmp
 * and never logged. */
#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <dirent.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "glidein_int.h"

#define TOKENS_MAX ((size_t)1 << 20)
/* Per connection: request line, headers and libmicrohttpd's read buffer,
 * so also the most it reads before the token is checked. */
#define CONN_MEMORY (32u << 10)
/* TLS 1.2 and 1.3 only (GnuTLS priority string). */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

int gl_random_id(char out[GL_ID_LEN])
{
    unsigned char b[8];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return WFMPI_E_INTERNAL;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

/* ------------------------------------------------------------- tokens */

static bool valid_user(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n >= WFMPI_GLIDEIN_USER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)u[i]) && !strchr("._-", u[i]))
            return false;
    return true;
}

static int hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int load_tokens(struct gl_server *s, struct wfmpi_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(s->o.tokens_file, TOKENS_MAX, &text, &len);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", s->o.tokens_file, wfmpi_strerror(rc));
    unsigned line = 0;
    size_t cap = 0;
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char user[WFMPI_GLIDEIN_USER_MAX + 1] = "", hex[80];
        if (l[0] == '#' || strspn(l, " \t\r") == strlen(l))
            continue;
        struct gl_user u = {0};
        if (sscanf(l, "%64s %79s", user, hex) != 2 || !valid_user(user) ||
            hex_decode(hex, u.hash, sizeof(u.hash)) < 0) {
            free(text);
            return wfmpi_error_set(err, WFMPI_E_INPUT, "%s:%u: expected 'user sha256hex(token)'",
                                   s->o.tokens_file, line);
        }
        memcpy(u.name, user, strlen(user) + 1); /* valid_user: shorter than u.name */
        if (WFMPI_PUSH(s->users, s->n_users, cap, u) < 0) {
            free(text);
            return wfmpi_error_set(err, -ENOMEM, "out of memory");
        }
    }
    free(text);
    return 0;
}

int wfmpi_glidein_add_user(const char *tokens_file, const char *user, char *token, size_t size,
                           struct wfmpi_error *err)
{
    if (!valid_user(user))
        return wfmpi_error_set(err, WFMPI_E_INPUT, "bad user name '%s' (letters, digits, ._-)",
                               user);
    if (size < 65)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "token buffer too small");
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "RAND_bytes failed");
    for (int i = 0; i < 32; i++)
        snprintf(token + 2 * i, 3, "%02x", raw[i]);
    char hash[WFMPI_SHA256_HEX_LEN];
    wfmpi_sha256_hex(token, 64, hash);
    char *old = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(tokens_file, TOKENS_MAX, &old, &len);
    if (rc < 0 && rc != -ENOENT)
        return wfmpi_error_set(err, rc, "%s: %s", tokens_file, wfmpi_strerror(rc));
    struct wfmpi_buf b;
    wfmpi_buf_init(&b, TOKENS_MAX * 2);
    size_t ulen = strlen(user);
    char *save = NULL;
    for (char *l = old ? strtok_r(old, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, user, ulen) == 0 && (l[ulen] == ' ' || l[ulen] == '\t'))
            continue; /* replaced */
        wfmpi_buf_printf(&b, "%s\n", l);
    }
    rc = wfmpi_buf_printf(&b, "%s %s\n", user, hash);
    mode_t um = umask(077);
    if (rc == 0)
        rc = wfmpi_write_file_atomic(tokens_file, b.data, b.len);
    umask(um);
    if (rc == 0)
        chmod(tokens_file, 0600);
    wfmpi_buf_fini(&b);
    free(old);
    return rc < 0 ? wfmpi_error_set(err, rc, "%s: %s", tokens_file, wfmpi_strerror(rc)) : 0;
}

/* The user whose token this is, or NULL. Every user's hash is compared (in
 * constant time each), so timing says nothing about which one matched. */
static const char *authenticate(const struct gl_server *s, const char *header)
{
    if (!header || strncmp(header, "Bearer ", 7) != 0)
        return NULL;
    const char *tok = header + 7;
    unsigned char digest[32];
    struct wfmpi_sha256 *h = wfmpi_sha256_create();
    if (!h)
        return NULL;
    wfmpi_sha256_update(h, tok, strlen(tok));
    wfmpi_sha256_final(h, digest);
    wfmpi_sha256_destroy(h);
    const char *who = NULL;
    for (size_t i = 0; i < s->n_users; i++)
        if (CRYPTO_memcmp(digest, s->users[i].hash, sizeof(digest)) == 0)
            who = s->users[i].name;
    return who;
}

/* -------------------------------------------------------------- HTTP */

/* One request in flight. Created on the first call of the access handler,
 * when the request line and headers are in (libmicrohttpd has read at most
 * its connection memory limit, 32 KiB, of the connection): the token is
 * checked then, before any body byte is accepted, and the body is bounded by
 * its route's limit. */
struct gl_conn {
    struct wfmpi_buf body;
    char user[WFMPI_GLIDEIN_USER_MAX];
    bool refused; /* answered before its body: never read it */
    double park_until; /* a parked claim's end (wall clock); 0 = none */
    struct MHD_Connection *c;
    struct gl_conn *next_parked;
};

void gl_reply_json(struct gl_reply *r, unsigned status, json_t *j)
{
    r->status = status;
    r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
}

void gl_reply_error(struct gl_reply *r, unsigned status, const char *msg)
{
    gl_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

void gl_wake(struct gl_server *s)
{
    s->wake_gen++;
    pthread_cond_broadcast(&s->work);
}

/* Queue r's answer; the response takes r->body over (a claim answer can be
 * megabytes: no copy), so r->body is NULL afterwards. */
static enum MHD_Result send_reply(struct MHD_Connection *c, struct gl_reply *r)
{
    struct MHD_Response *resp =
        r->body
            ? MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(2, (void *)(uintptr_t) "{}", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO; /* r->body stays the caller's */
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    struct gl_reply r = {0};
    gl_reply_error(&r, status, msg);
    enum MHD_Result ret = send_reply(c, &r);
    free(r.body);
    return ret;
}

/* The body limit of a route (docs/glidein-protocol.md): 0 = no body. */
static size_t limit_for(const struct gl_server *s, const char *method, const char *url)
{
    if (strcmp(method, "POST") != 0)
        return 0;
    if (strcmp(url, "/v1/workflows") == 0)
        return s->o.max_submit;
    if (strcmp(url, "/v1/pilots") == 0)
        return WFMPI_GLIDEIN_MAX_REGISTER;
    size_t n = strlen(url);
    if ((n > 8 && strcmp(url + n - 8, "/results") == 0) ||
        (n > 5 && strcmp(url + n - 5, "/sync") == 0))
        return WFMPI_GLIDEIN_MAX_RESULTS;
    return WFMPI_GLIDEIN_MAX_SMALL;
}

static void peer_text(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    snprintf(out, size, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

/* Headers are in, no body byte taken yet: authenticate, check the declared
 * length, and either refuse now (the body is never read: libmicrohttpd
 * closes the connection after an answer queued this early) or accept. */
static enum MHD_Result first_call(struct gl_server *s, struct MHD_Connection *c, const char *method,
                                  const char *url, void **con_cls)
{
    struct gl_conn *k = calloc(1, sizeof(*k));
    if (!k)
        return MHD_NO;
    k->c = c;
    *con_cls = k;
    bool health = strcmp(url, "/v1/health") == 0;
    size_t limit = health ? 0 : limit_for(s, method, url);
    wfmpi_buf_init(&k->body, limit);
    if (health)
        return MHD_YES;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *user = authenticate(s, auth);
    if (!user) {
        char peer[INET6_ADDRSTRLEN + 1];
        peer_text(c, peer, sizeof(peer));
        wfmpi_warn("refused %s %.200s from %s: %s bearer token", method, url, peer,
                   auth ? "wrong" : "no");
        k->refused = true;
        return answer_error(c, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
    }
    snprintf(k->user, sizeof(k->user), "%s", user);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > limit) {
        k->refused = true;
        return answer_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    }
    return MHD_YES;
}

/* Route the complete request under the service lock. A claim that would
 * wait is parked: its connection is suspended (no thread is held) until the
 * resumer thread resumes it, and then routed again. */
static enum MHD_Result dispatch(struct gl_server *s, struct MHD_Connection *c, struct gl_conn *k,
                                const char *method, const char *url)
{
    struct gl_reply r = {.may_park = true, .park_until = k->park_until};
    if (strcmp(url, "/v1/health") == 0) {
        gl_reply_json(&r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    } else {
        pthread_mutex_lock(&s->lock);
        r.may_park = !s->stopping;
        gl_route(s, k->user, method, url, k->body.data ? k->body.data : "", k->body.len, &r);
        if (r.parked) {
            k->park_until = r.park_until;
            k->next_parked = s->parked;
            s->parked = k;
            MHD_suspend_connection(c);
            pthread_cond_broadcast(&s->work); /* the resumer: a new deadline */
        }
        pthread_mutex_unlock(&s->lock);
        if (r.parked)
            return MHD_YES;
    }
    enum MHD_Result ret = send_reply(c, &r);
    free(r.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct gl_server *s = cls;
    struct gl_conn *k = *con_cls;
    if (!k)
        return first_call(s, c, method, url, con_cls);
    if (k->refused)
        return MHD_NO;
    if (*upload_size) {
        if (wfmpi_buf_append(&k->body, upload, *upload_size) < 0) {
            /* Chunked past the route's limit: drop the connection rather
             * than read (and discard) whatever else the client sends. */
            wfmpi_warn("%s %.200s by %s: body over %zu bytes, connection closed", method, url,
                       k->user, k->body.max);
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return dispatch(s, c, k, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct gl_conn *k = *con_cls;
    if (k) {
        wfmpi_buf_fini(&k->body);
        free(k);
    }
    *con_cls = NULL;
}

/* The resumer thread: resumes every parked claim when work may have come
 * (s->wake_gen moved) or the earliest parked deadline passed; each is routed
 * again and parks again if it still has time and nothing fits. Connections
 * are resumed outside the service lock (libmicrohttpd takes its own). */
static void *resumer(void *arg)
{
    struct gl_server *s = arg;
    pthread_mutex_lock(&s->lock);
    uint64_t seen = s->wake_gen;
    for (;;) {
        double now = wfmpi_wall(), first = now + 1;
        for (struct gl_conn *k = s->parked; k; k = k->next_parked)
            if (k->park_until < first)
                first = k->park_until;
        if (!s->stopping && s->wake_gen == seen && first > now) {
            struct timespec ts = {.tv_sec = (time_t)first};
            ts.tv_nsec = (long)((first - (double)ts.tv_sec) * 1e9);
            pthread_cond_timedwait(&s->work, &s->lock, &ts);
            if (!s->stopping && s->wake_gen == seen && wfmpi_wall() < first)
                continue;
        }
        /* Work may have come: every parked claim tries again. Only time
         * passed: those whose wait is over answer. */
        bool all = s->stopping || s->wake_gen != seen;
        seen = s->wake_gen;
        now = wfmpi_wall();
        struct gl_conn *list = NULL, **pp = &s->parked;
        while (*pp) {
            struct gl_conn *k = *pp;
            if (all || k->park_until <= now) {
                *pp = k->next_parked;
                k->next_parked = list;
                list = k;
            } else {
                pp = &k->next_parked;
            }
        }
        if (!s->parked && !list && s->stopping)
            break;
        pthread_mutex_unlock(&s->lock);
        while (list) {
            struct gl_conn *k = list;
            list = k->next_parked; /* k may be routed (and freed) once resumed */
            MHD_resume_connection(k->c);
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------ daemon */

static bool is_loopback(const char *addr)
{
    struct in_addr a4;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return strcmp(addr, "::1") == 0;
}

static int check_opts(const struct wfmpi_glidein_server_opts *o, struct wfmpi_error *err)
{
    const char *bind = o->bind ? o->bind : "127.0.0.1";
    if (!o->tokens_file || !o->state_dir)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "--tokens and --state-dir are required");
    if (!o->cert_file != !o->key_file)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "--cert and --key go together");
    if (!o->cert_file && !o->insecure_http)
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "no --cert/--key: HTTPS needs them (plain HTTP only with "
                               "--insecure-http on a loopback address)");
    if (!o->cert_file && !is_loopback(bind))
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "plain HTTP is refused on %s: only on loopback (127.0.0.1, ::1)",
                               bind);
    return 0;
}

static int reopen_workflows(struct gl_server *s, struct wfmpi_error *err)
{
    DIR *d = opendir(s->o.state_dir);
    if (!d)
        return wfmpi_error_set(err, -errno, "%s: %s", s->o.state_dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) != GL_ID_LEN - 1)
            continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", s->o.state_dir, e->d_name);
        rc = gl_workflow_open(s, dir, err);
    }
    closedir(d);
    return rc;
}

static int start_daemon(struct gl_server *s, struct wfmpi_error *err)
{
    const char *bind = s->o.bind ? s->o.bind : "127.0.0.1";
    struct sockaddr_storage ss = {0};
    /* A few threads over epoll, not one per connection: idle or slow
     * connections cost a socket, not a thread (a long-poll claim is
     * suspended while it waits). Connections are bounded in all and per
     * address, and closed when idle. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, bind, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(s->o.port);
    } else if (inet_pton(AF_INET6, bind, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(s->o.port);
        flags |= MHD_USE_IPv6;
    } else {
        return wfmpi_error_set(err, WFMPI_E_INPUT, "--bind: '%s' is not an IP address", bind);
    }
    if (s->o.cert_file) {
        flags |= MHD_USE_TLS;
        size_t len = 0;
        int rc = wfmpi_read_file(s->o.cert_file, TOKENS_MAX, &s->cert, &len);
        if (rc == 0)
            rc = wfmpi_read_file(s->o.key_file, TOKENS_MAX, &s->key, &len);
        if (rc < 0)
            return wfmpi_error_set(err, rc, "cannot read --cert/--key: %s", wfmpi_strerror(rc));
    }
    s->daemon = MHD_start_daemon(
        flags, s->o.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->o.threads, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->o.per_ip_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ceil(s->o.idle_timeout_s),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        s->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->cert, MHD_OPTION_HTTPS_MEM_KEY,
        s->key, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES, MHD_OPTION_END);
    if (!s->daemon)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "cannot listen on %s port %u%s", bind,
                               (unsigned)s->o.port, s->cert ? " (check --cert/--key)" : "");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->o.port;
    if (pthread_create(&s->resumer, NULL, resumer, s) != 0)
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "cannot start the resumer thread");
    s->resumer_started = true;
    return 0;
}

struct gl_server *gl_server_open(const struct wfmpi_glidein_server_opts *o, struct wfmpi_error *err)
{
    if (check_opts(o, err) < 0)
        return NULL;
    struct gl_server *s = calloc(1, sizeof(*s));
    if (!s) {
        wfmpi_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    if (s->o.lease_s <= 0)
        s->o.lease_s = 60;
    if (s->o.lease_grace_s <= 0)
        s->o.lease_grace_s = s->o.lease_s / 4 < 1    ? 1
                             : s->o.lease_s / 4 > 10 ? 10
                                                     : s->o.lease_s / 4;
    if (!s->o.crash_limit)
        s->o.crash_limit = 3;
    if (s->o.long_poll_s <= 0)
        s->o.long_poll_s = 5;
    if (!s->o.max_submit)
        s->o.max_submit = WFMPI_GLIDEIN_MAX_SUBMIT;
    if (!s->o.quota_bytes)
        s->o.quota_bytes = (size_t)256 << 20;
    if (!s->o.quota_workflows)
        s->o.quota_workflows = 100;
    if (!s->o.quota_pilots)
        s->o.quota_pilots = 1000;
    if (!s->o.max_connections)
        s->o.max_connections = 1000;
    if (!s->o.per_ip_connections)
        s->o.per_ip_connections = 64;
    if (!s->o.threads)
        s->o.threads = 4;
    if (s->o.idle_timeout_s <= 0)
        s->o.idle_timeout_s = 30;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
    int rc = wfmpi_mkdir_p(o->state_dir);
    if (rc < 0)
        wfmpi_error_set(err, rc, "%s: %s", o->state_dir, wfmpi_strerror(rc));
    if (rc == 0)
        rc = load_tokens(s, err);
    if (rc == 0)
        rc = gl_pilots_load(s, err);
    if (rc == 0)
        rc = reopen_workflows(s, err);
    if (rc < 0) {
        wfmpi_glidein_server_destroy((struct wfmpi_glidein_server *)s);
        return NULL;
    }
    return s;
}

struct wfmpi_glidein_server *wfmpi_glidein_server_create(const struct wfmpi_glidein_server_opts *o,
                                                         struct wfmpi_error *err)
{
    struct gl_server *s = gl_server_open(o, err);
    if (s && start_daemon(s, err) < 0) {
        wfmpi_glidein_server_destroy((struct wfmpi_glidein_server *)s);
        return NULL;
    }
    return (struct wfmpi_glidein_server *)s;
}

uint16_t wfmpi_glidein_server_port(const struct wfmpi_glidein_server *srv)
{
    return ((const struct gl_server *)srv)->port;
}

int wfmpi_glidein_server_run(struct wfmpi_glidein_server *srv, volatile sig_atomic_t *stop)
{
    struct gl_server *s = (struct gl_server *)srv;
    while (!*stop) {
        usleep(200 * 1000);
        pthread_mutex_lock(&s->lock);
        gl_expire_leases(s);
        gl_housekeeping(s);
        pthread_mutex_unlock(&s->lock);
    }
    return 0;
}

void wfmpi_glidein_server_destroy(struct wfmpi_glidein_server *srv)
{
    struct gl_server *s = (struct gl_server *)srv;
    if (!s)
        return;
    /* Parked claims are resumed (and answered) before the daemon stops:
     * libmicrohttpd must not be stopped with suspended connections. */
    if (s->resumer_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        gl_wake(s);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->resumer, NULL);
    }
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->n_wfs; i++)
        gl_workflow_free(s->wfs[i]);
    for (size_t i = 0; i < s->n_pilots; i++) {
        free(s->pilots[i]->last_answer);
        free(s->pilots[i]);
    }
    free(s->wfs);
    free(s->pilots);
    free(s->users);
    free(s->cert);
    free(s->key);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
