/* Private to the glidein module: one libcurl handle and its bearer header. */
#ifndef WFMPI_GLIDEIN_CLIENT_INT_H
#define WFMPI_GLIDEIN_CLIENT_INT_H

#include <curl/curl.h>
#include <jansson.h>

#include "wfmpi/exec.h"
#include "wfmpi/glidein.h"

struct gl_http {
    struct wfmpi_glidein_client_opts o;
    CURL *curl;
    struct curl_slist *hdrs;
    char auth[4200];
    int last_curl; /* CURLcode of the last request */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail (which check failed) */
};

int gl_http_init(struct gl_http *h, const struct wfmpi_glidein_client_opts *o,
                 struct wfmpi_error *err);
void gl_http_fini(struct gl_http *h);
/* One request (no retry); body NULL = no body. *status = HTTP status. A
 * transport failure (connect, TLS, timeout) is -EIO with err set. */
int gl_http_request(struct gl_http *h, const char *method, const char *path, const char *body,
                    double timeout_s, long *status, struct wfmpi_buf *out, struct wfmpi_error *err);
const char *gl_answer_error(const struct wfmpi_buf *b, char *text, size_t size);
/* Whether the last request's transport failure is one no retry can mend:
 * the server's certificate does not verify (CA, host name), TLS cannot be
 * agreed, or the URL is unusable. */
bool gl_http_permanent(const struct gl_http *h);

/* proto.c: the pilot's side of the JSON, pure. A result record for
 * /results (detail NULL = r->detail). */
json_t *gl_result_json(const char *wf, uint32_t task, uint32_t attempt,
                       const struct wfmpi_exec_result *r, const char *detail);
/* Seconds to wait before retry number failures + 1 (0-based failures):
 * 0.2 s doubling up to 30 s or cap (when > 0), whichever is less, times
 * jitter in [0.5, 1.5) from u in [0, 1). */
double gl_backoff_s(int failures, double u, double cap);

#endif
