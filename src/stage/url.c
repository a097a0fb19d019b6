/* What the data tasks are given: checksum arguments (URLs and paths are
 * judged in util, src/util/url.c, shared with the planner); and where an
 * s3:// URL goes, with which credentials. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stage_int.h"

void stage_say(wfmpi_stage_line_fn *fn, void *ctx, const char *fmt, ...)
{
    if (!fn)
        return;
    char line[WFMPI_STAGE_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(ctx, line);
}

/* ------------------------------------------------------------ arguments */

static bool has_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool wfmpi_stage_parse_sha256(const char *s, char out[WFMPI_SHA256_HEX_LEN])
{
    if (strcmp(s, "-") == 0) {
        out[0] = '\0';
        return true;
    }
    return wfmpi_sha256_hex_parse(s, out);
}

/* ------------------------------------------------------------ s3 */

/* Append s[0..len) to out percent-encoded (SigV4: unreserved and '/' stay). */
static bool uri_encode(const char *s, size_t len, char *out, size_t size, size_t *k)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
        if (*k + 4 > size)
            return false;
        if (keep) {
            out[(*k)++] = (char)c;
        } else {
            out[(*k)++] = '%';
            out[(*k)++] = hex[c >> 4];
            out[(*k)++] = hex[c & 15];
        }
    }
    out[*k] = '\0';
    return true;
}

int stage_s3_url(const char *s3url, const char *region, const char *endpoint, char *out,
                 size_t size)
{
    if (!has_prefix(s3url, "s3://"))
        return WFMPI_E_INPUT;
    const char *bucket = s3url + 5, *slash = strchr(bucket, '/');
    if (!slash)
        return WFMPI_E_INPUT;
    if (memchr(bucket, '@', (size_t)(slash - bucket))) { /* s3://user@site/bucket/key */
        bucket = slash + 1;
        slash = strchr(bucket, '/');
        if (!slash)
            return WFMPI_E_INPUT;
    }
    size_t blen = (size_t)(slash - bucket);
    const char *key = slash + 1;
    if (blen == 0 || !*key)
        return WFMPI_E_INPUT;
    int n;
    if (endpoint && *endpoint) {
        size_t el = strlen(endpoint);
        while (el && endpoint[el - 1] == '/')
            el--;
        n = snprintf(out, size, "%.*s/%.*s/", (int)el, endpoint, (int)blen, bucket);
    } else if (memchr(bucket, '.', blen)) {
        n = snprintf(out, size, "https://s3.%s.amazonaws.com/%.*s/", region, (int)blen, bucket);
    } else {
        n = snprintf(out, size, "https://%.*s.s3.%s.amazonaws.com/", (int)blen, bucket, region);
    }
    if (n < 0 || (size_t)n >= size)
        return WFMPI_E_INPUT;
    size_t k = (size_t)n;
    return uri_encode(key, strlen(key), out, size, &k) ? 0 : WFMPI_E_INPUT;
}

/* ------------------------------------------------------------ AWS files */

/* s[0..len) without surrounding blanks. */
static void strip(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

static bool word_is(const char *s, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(s, want, len) == 0;
}

bool stage_ini_get(const char *text, const char *section, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    bool in = false;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        const char *line = p;
        p += len + (p[len] == '\n');
        strip(&line, &len);
        if (len == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *close = memchr(line, ']', len);
            const char *sec = line + 1;
            size_t slen = close ? (size_t)(close - sec) : 0;
            strip(&sec, &slen);
            in = close && word_is(sec, slen, section);
            continue;
        }
        const char *eq = memchr(line, '=', len);
        if (!in || !eq)
            continue;
        const char *key = line, *val = eq + 1;
        size_t klen = (size_t)(eq - line), vlen = len - klen - 1;
        strip(&key, &klen);
        strip(&val, &vlen);
        if (word_is(key, klen, name)) {
            if (vlen >= size)
                return false;
            memcpy(out, val, vlen);
            out[vlen] = '\0';
            return true;
        }
    }
    return false;
}

/* The text of an AWS file: $env, else ~/.aws/base; "" when unreadable. */
static char *aws_file(const char *env, const char *base)
{
    const char *e = getenv(env), *home = getenv("HOME");
    char path[PATH_MAX];
    if (e && *e)
        snprintf(path, sizeof(path), "%s", e);
    else
        snprintf(path, sizeof(path), "%s/.aws/%s", home ? home : "", base);
    char *text = NULL;
    if (wfmpi_read_file(path, (size_t)1 << 20, &text, NULL) != 0)
        text = NULL;
    return text;
}

static void copy_env(const char *name, char *out, size_t size)
{
    const char *v = getenv(name);
    snprintf(out, size, "%s", v ? v : "");
}

static void profile_keys(struct stage_aws *a, const char *text, const char *section)
{
    if (!text || a->key[0])
        return;
    if (stage_ini_get(text, section, "aws_access_key_id", a->key, sizeof(a->key)) &&
        stage_ini_get(text, section, "aws_secret_access_key", a->secret, sizeof(a->secret))) {
        stage_ini_get(text, section, "aws_session_token", a->token, sizeof(a->token));
        return;
    }
    a->key[0] = a->secret[0] = a->token[0] = '\0';
}

int stage_aws_load(struct stage_aws *a)
{
    memset(a, 0, sizeof(*a));
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    char section[300]; /* in ~/.aws/config: [default], [profile NAME] */
    snprintf(section, sizeof(section), strcmp(profile, "default") ? "profile %s" : "%s", profile);
    copy_env("AWS_ACCESS_KEY_ID", a->key, sizeof(a->key));
    copy_env("AWS_SECRET_ACCESS_KEY", a->secret, sizeof(a->secret));
    if (a->key[0] && a->secret[0])
        copy_env("AWS_SESSION_TOKEN", a->token, sizeof(a->token));
    else
        a->key[0] = a->secret[0] = '\0';
    char *creds = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *config = aws_file("AWS_CONFIG_FILE", "config");
    profile_keys(a, creds, profile);
    profile_keys(a, config, section);
    copy_env("AWS_REGION", a->region, sizeof(a->region));
    if (!a->region[0])
        copy_env("AWS_DEFAULT_REGION", a->region, sizeof(a->region));
    if (!a->region[0] && config)
        stage_ini_get(config, section, "region", a->region, sizeof(a->region));
    if (!a->region[0])
        snprintf(a->region, sizeof(a->region), "us-east-1");
    free(creds);
    free(config);
    return a->key[0] ? 0 : -ENOENT;
}
