/* What the data tasks accept: URL schemes, paths under the work dir,
 * checksums (util.h). The stage module applies these at run time and the
 * planner at plan time, so a workflow the planner accepts is never refused
 * by its own data tasks for its URLs, paths or checksums. */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "wfmpi/util.h"

static bool has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static const struct {
    const char *prefix;
    enum wfmpi_url_scheme scheme;
} remote[] = {
    {"http://", WFMPI_URL_HTTP}, {"https://", WFMPI_URL_HTTPS}, {"sftp://", WFMPI_URL_SFTP},
    {"scp://", WFMPI_URL_SCP},   {"s3://", WFMPI_URL_S3},
};

/* The table above in words, for messages; keep the two together. */
const char *wfmpi_url_schemes(void)
{
    return "file://, http://, https://, sftp://, scp://, s3:// or an absolute path";
}

enum wfmpi_url_scheme wfmpi_url_scheme_of(const char *url, const char **path)
{
    const char *local = NULL;
    if (url[0] == '/')
        local = url;
    else if (has_prefix(url, "file:///"))
        local = url + 7;
    else if (has_prefix(url, "file://localhost/"))
        local = url + 16;
    if (local) {
        if (path)
            *path = local;
        return WFMPI_URL_FILE;
    }
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++) {
        size_t k = strlen(remote[i].prefix);
        if (has_prefix(url, remote[i].prefix) && url[k] && url[k] != '/')
            return remote[i].scheme;
    }
    return WFMPI_URL_UNSUPPORTED;
}

/* Relative, no "..", and naming a file: not "", ".", "x/." or "x/". */
bool wfmpi_path_rel_ok(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= PATH_MAX || path[0] == '/' || path[n - 1] == '/')
        return false;
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return false;
        if (len == 1 && p[0] == '.' && !p[1])
            return false;
        p += len + (p[len] == '/');
    }
    return true;
}

bool wfmpi_sha256_hex_parse(const char *s, char out[WFMPI_SHA256_HEX_LEN])
{
    if (strlen(s) != WFMPI_SHA256_HEX_LEN - 1 ||
        strspn(s, "0123456789abcdefABCDEF") != WFMPI_SHA256_HEX_LEN - 1)
        return false;
    if (out) {
        for (size_t i = 0; i < WFMPI_SHA256_HEX_LEN; i++)
            out[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    }
    return true;
}
