/* `wfmpi serve`: the HTTP(S) plumbing of the hosted scheduler. libmicrohttpd
 * runs one thread per connection (a claim may long-poll for a few seconds
 * without holding up other pilots); every handler takes the one service lock,
 * so the scheduler cores and checkpoints are used single-threaded as their
 * headers require. Tokens are compared as sha256 digests with CRYPTO_memcmp
 * and never logged. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "glidein_int.h"

#define TOKENS_MAX ((size_t)1 << 20)

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

struct conn {
    struct wfmpi_buf body;
    bool too_big;
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

static size_t limit_for(const char *method, const char *url)
{
    return strcmp(method, "POST") == 0 && strcmp(url, "/v1/workflows") == 0
               ? WFMPI_GLIDEIN_MAX_SUBMIT
               : WFMPI_GLIDEIN_MAX_REQUEST;
}

static enum MHD_Result first_call(struct MHD_Connection *c, const char *method, const char *url,
                                  void **con_cls)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > limit_for(method, url)) {
        struct gl_reply r = {0};
        gl_reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        enum MHD_Result ret = send_reply(c, &r);
        free(r.body);
        return ret;
    }
    struct conn *k = calloc(1, sizeof(*k));
    if (!k)
        return MHD_NO;
    wfmpi_buf_init(&k->body, limit_for(method, url));
    *con_cls = k;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct gl_server *s = cls;
    struct conn *k = *con_cls;
    if (!k)
        return first_call(c, method, url, con_cls);
    if (*upload_size) {
        if (!k->too_big && wfmpi_buf_append(&k->body, upload, *upload_size) < 0)
            k->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    struct gl_reply r = {0};
    if (strcmp(url, "/v1/health") == 0) {
        gl_reply_json(&r, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
    } else if (k->too_big) {
        gl_reply_error(&r, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    } else {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        const char *user = authenticate(s, auth);
        if (!user) {
            gl_reply_error(&r, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
        } else {
            pthread_mutex_lock(&s->lock);
            gl_route(s, user, method, url, k->body.data ? k->body.data : "", k->body.len, &r);
            pthread_mutex_unlock(&s->lock);
        }
    }
    enum MHD_Result ret = send_reply(c, &r);
    free(r.body);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn *k = *con_cls;
    if (k) {
        wfmpi_buf_fini(&k->body);
        free(k);
    }
    *con_cls = NULL;
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
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
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
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT, 512u,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, s->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
        s->cert, MHD_OPTION_HTTPS_MEM_KEY, s->key, MHD_OPTION_END);
    if (!s->daemon)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "cannot listen on %s port %u%s", bind,
                               (unsigned)s->o.port, s->cert ? " (check --cert/--key)" : "");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->o.port;
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
    if (s->o.long_poll_s <= 0)
        s->o.long_poll_s = 5;
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
