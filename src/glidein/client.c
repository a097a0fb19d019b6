/* The client side of the /v1 protocol (libcurl): `wfmpi submit`, `status
 * --server`, `remove`, and the pilot's requests. TLS verification is always
 * on for https; plain http only when the caller asked for it explicitly. The
 * token is sent as a bearer header and never logged. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "wfmpi/plan.h"

#define RESPONSE_MAX ((size_t)64 << 20)
#define FILE_MAX ((size_t)32 << 20)

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct wfmpi_buf *b = ud;
    size_t n = size * nmemb;
    return wfmpi_buf_append(b, ptr, n) == 0 ? n : 0;
}

int gl_http_init(struct gl_http *h, const struct wfmpi_glidein_client_opts *o,
                 struct wfmpi_error *err)
{
    memset(h, 0, sizeof(*h));
    h->o = *o;
    if (!o->url || (strncmp(o->url, "https://", 8) != 0 &&
                    !(o->insecure_http && strncmp(o->url, "http://", 7) == 0)))
        return wfmpi_error_set(err, WFMPI_E_INPUT,
                               "--server must be https://HOST:PORT (http:// only with "
                               "--insecure-http)");
    char *tok = NULL;
    size_t len = 0;
    int rc = o->token_file ? wfmpi_read_file(o->token_file, 4096, &tok, &len) : WFMPI_E_INPUT;
    if (rc < 0)
        return wfmpi_error_set(err, rc == WFMPI_E_INPUT ? rc : rc, "--token-file %s: %s",
                               o->token_file ? o->token_file : "(none)", wfmpi_strerror(rc));
    tok[strcspn(tok, "\r\n")] = '\0';
    snprintf(h->auth, sizeof(h->auth), "Authorization: Bearer %s", tok);
    memset(tok, 0, len);
    free(tok);
    h->hdrs = curl_slist_append(NULL, h->auth);
    h->hdrs = curl_slist_append(h->hdrs, "Content-Type: application/json");
    h->curl = curl_easy_init();
    if (!h->curl || !h->hdrs)
        return wfmpi_error_set(err, -ENOMEM, "cannot set up libcurl");
    CURL *c = h->curl;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(1000 * (o->connect_timeout_s > 0 ? o->connect_timeout_s : 10)));
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    return 0;
}

void gl_http_fini(struct gl_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->hdrs);
    memset(h->auth, 0, sizeof(h->auth));
}

int gl_http_request(struct gl_http *h, const char *method, const char *path, const char *body,
                    double timeout_s, long *status, struct wfmpi_buf *out, struct wfmpi_error *err)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", h->o.url, path);
    CURL *c = h->curl;
    wfmpi_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POST, body ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_HTTPGET, body ? 0L : 1L);
    if (!body)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    double total = timeout_s > 0 ? timeout_s : h->o.total_timeout_s > 0 ? h->o.total_timeout_s : 60;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(1000 * total));
    h->errbuf[0] = '\0';
    CURLcode cc = curl_easy_perform(c);
    h->last_curl = (int)cc;
    if (cc != CURLE_OK)
        return wfmpi_error_set(err, -EIO, "%s %s: %s", method, path,
                               h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

bool gl_http_permanent(const struct gl_http *h)
{
    switch ((CURLcode)h->last_curl) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return true;
    default:
        return false;
    }
}

/* The server's "error" text from a JSON answer, or the body itself. */
const char *gl_answer_error(const struct wfmpi_buf *b, char *text, size_t size)
{
    json_t *j = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    const char *e = json_string_value(json_object_get(j, "error"));
    snprintf(text, size, "%s", e ? e : b->len ? b->data : "(no answer)");
    json_decref(j);
    return text;
}

static int add_file(json_t *files, const char *path, char *name_out, size_t size,
                    struct wfmpi_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(path, FILE_MAX, &text, &len);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc));
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *base = basename(copy);
    json_t *s = json_stringn(text, len);
    free(text);
    if (!s)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: not UTF-8 text", path);
    json_object_set_new(files, base, s);
    if (name_out)
        snprintf(name_out, size, "%s", base);
    return 0;
}

/* The workflow and its catalogs as the submission body. */
static json_t *submission(const char *workflow, const char *rc, const char *tc, const char *sc,
                          struct wfmpi_error *err)
{
    json_t *req = json_object(), *files = json_object();
    json_object_set_new(req, "files", files);
    char name[256];
    const char *given[3] = {rc, tc, sc}, *keys[3] = {"rc", "tc", "sc"};
    const char *defaults[3] = {"replicas.yml", "transformations.yml", "sites.yml"};
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", workflow);
    const char *d = dirname(dir);
    for (int i = 0; i < 3; i++) {
        char path[4400];
        if (!given[i]) {
            snprintf(path, sizeof(path), "%s/%s", d, defaults[i]);
            if (access(path, R_OK) != 0 || add_file(files, path, NULL, 0, err) < 0)
                continue;
            continue;
        }
        if (add_file(files, given[i], name, sizeof(name), err) < 0) {
            json_decref(req);
            return NULL;
        }
        json_object_set_new(req, keys[i], json_string(name));
    }
    if (add_file(files, workflow, name, sizeof(name), err) < 0) {
        json_decref(req);
        return NULL;
    }
    json_object_set_new(req, "workflow", json_string(name));
    return req;
}

int wfmpi_glidein_submit(const struct wfmpi_glidein_client_opts *c, const char *workflow,
                         const char *rc, const char *tc, const char *sc, char *id, size_t id_size,
                         struct wfmpi_error *err)
{
    /* Plan here first: input errors show up with file:line:col before anything
     * is sent. The service plans the same text again with the same planner:
     * there is no plan wire format, and it must not trust a client's plan. */
    struct wfmpi_plan_options po = {
        .rc_file = rc, .tc_file = tc, .sc_file = sc, .strict = c->strict};
    struct wfmpi_plan *plan = wfmpi_plan_create(workflow, &po, err);
    if (!plan)
        return err->code;
    wfmpi_plan_destroy(plan);
    json_t *req = submission(workflow, rc, tc, sc, err);
    if (!req)
        return err->code;
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct gl_http h = {0};
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, RESPONSE_MAX);
    long status = 0;
    int ret = body ? gl_http_init(&h, c, err) : wfmpi_error_set(err, -ENOMEM, "out of memory");
    if (ret == 0)
        ret = gl_http_request(&h, "POST", "/v1/workflows", body, 0, &status, &out, err);
    if (ret == 0 && status != 201) {
        char text[512];
        ret = wfmpi_error_set(err, status == 400 ? WFMPI_E_INPUT : WFMPI_E_PROTO,
                              "server answered %ld: %s", status,
                              gl_answer_error(&out, text, sizeof(text)));
    }
    if (ret == 0) {
        json_t *j = json_loadb(out.data, out.len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "id"));
        ret = v ? 0 : wfmpi_error_set(err, WFMPI_E_PROTO, "no workflow id in the answer");
        if (v)
            snprintf(id, id_size, "%s", v);
        json_decref(j);
    }
    gl_http_fini(&h);
    wfmpi_buf_fini(&out);
    free(body);
    return ret;
}

static int simple_path(const struct wfmpi_glidein_client_opts *c, const char *method,
                       const char *path, const char *body, struct wfmpi_buf *out,
                       struct wfmpi_error *err)
{
    struct gl_http h = {0};
    long status = 0;
    int ret = gl_http_init(&h, c, err);
    if (ret == 0)
        ret = gl_http_request(&h, method, path, body, 0, &status, out, err);
    if (ret == 0 && status != 200) {
        char text[512];
        ret = wfmpi_error_set(err,
                              status == 404   ? WFMPI_E_NOTFOUND
                              : status == 400 ? WFMPI_E_INPUT
                                              : WFMPI_E_PROTO,
                              "server answered %ld: %s", status,
                              gl_answer_error(out, text, sizeof(text)));
    }
    gl_http_fini(&h);
    return ret;
}

static int simple(const struct wfmpi_glidein_client_opts *c, const char *method, const char *id,
                  struct wfmpi_buf *out, struct wfmpi_error *err)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/workflows/%.64s", id);
    return simple_path(c, method, path, NULL, out, err);
}

int wfmpi_glidein_status(const struct wfmpi_glidein_client_opts *c, const char *id,
                         struct wfmpi_buf *out, struct wfmpi_error *err)
{
    return simple(c, "GET", id, out, err);
}

int wfmpi_glidein_remove(const struct wfmpi_glidein_client_opts *c, const char *id,
                         struct wfmpi_error *err)
{
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, RESPONSE_MAX);
    int rc = simple(c, "DELETE", id, &out, err);
    wfmpi_buf_fini(&out);
    return rc;
}

int wfmpi_glidein_pilots(const struct wfmpi_glidein_client_opts *c, struct wfmpi_buf *out,
                         struct wfmpi_error *err)
{
    return simple_path(c, "GET", "/v1/pilots", NULL, out, err);
}

int wfmpi_glidein_command(const struct wfmpi_glidein_client_opts *c, const char *pilot,
                          const char *command, struct wfmpi_error *err)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/pilots/%.64s/command", pilot);
    json_t *b = json_pack("{s:s}", "command", command);
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!body)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, RESPONSE_MAX);
    int rc = simple_path(c, "POST", path, body, &out, err);
    wfmpi_buf_fini(&out);
    free(body);
    return rc;
}
