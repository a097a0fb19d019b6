/* stage module internals, shared by its files and its unit tests. */
#ifndef WFMPI_STAGE_INT_H
#define WFMPI_STAGE_INT_H

#include <sys/types.h>

#include "wfmpi/stage.h"

/* Largest output replica catalog wfmpi reads back (bytes). */
#define STAGE_CATALOG_MAX ((size_t)1 << 30)
/* Longest URL a transfer is given (an s3:// URL mapped to https). */
#define STAGE_URL_MAX 8192

/* Emit a formatted line through the caller's callback (no-op when NULL). */
void stage_say(wfmpi_stage_line_fn *fn, void *ctx, const char *fmt, ...) WFMPI_PRINTF(3, 4);

/* Copy from -> to (created with mode, fsynced), hashing on the way when hex
 * is non-NULL. 0 or -errno. */
int stage_copy(const char *from, const char *to, mode_t mode, char hex[WFMPI_SHA256_HEX_LEN]);
/* fsync the directory that holds path. 0 or -errno. */
int stage_fsync_dir_of(const char *path);
/* mkdir -p of path's parent directory. 0 or -errno. */
int stage_make_parent(const char *path);

/* ------------------------------------------------------------ s3 */

/* AWS credentials and region: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, else the profile (AWS_PROFILE or "default") of
 * ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE); region from AWS_REGION,
 * AWS_DEFAULT_REGION, the profile of ~/.aws/config (AWS_CONFIG_FILE), else
 * us-east-1. 0, or -ENOENT when there is no key (the region is still set). */
struct stage_aws {
    char key[256], secret[256], token[4096], region[64];
};
int stage_aws_load(struct stage_aws *out);

/* The value of `name` in [section] of INI text (AWS's credentials and
 * config files: "key = value", '#' and ';' comments). true when found;
 * out is "" otherwise. Values that do not fit are not found. */
bool stage_ini_get(const char *text, const char *section, const char *name, char *out, size_t size);

/* The http(s) URL for s3url: s3://BUCKET/KEY, or Pegasus's
 * s3://USER@SITE/BUCKET/KEY. With an endpoint (AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL; NULL or "" = none) path style ENDPOINT/BUCKET/KEY,
 * else https://BUCKET.s3.REGION.amazonaws.com/KEY (path style on
 * s3.REGION.amazonaws.com for bucket names with dots, which a wildcard
 * certificate does not cover). The key is percent-encoded as SigV4 wants
 * (all but unreserved characters and '/'). 0 or WFMPI_E_INPUT. */
int stage_s3_url(const char *s3url, const char *region, const char *endpoint, char *out,
                 size_t size);

/* ------------------------------------------------------------ catalog */

/* Parsed output replica catalog: the entries as written, in order. */
struct stage_catalog {
    struct wfmpi_stage_replica *r; /* strings owned by the catalog */
    size_t n, cap;
    struct wfmpi_arena arena;
};

void stage_catalog_init(struct stage_catalog *c);
void stage_catalog_fini(struct stage_catalog *c);
/* Parse text (a file wfmpi_stage_register wrote; "" is an empty catalog).
 * name is for messages. 0 or WFMPI_E_CORRUPT ("name:line: ..."). */
int stage_catalog_parse(struct stage_catalog *c, const char *text, size_t len, const char *name,
                        struct wfmpi_error *err);
/* Add r, replacing an entry of the same lfn in place. 0 or -ENOMEM. */
int stage_catalog_put(struct stage_catalog *c, const struct wfmpi_stage_replica *r);
/* The YAML text of c. 0, -ENOMEM or WFMPI_E_LIMIT. */
int stage_catalog_format(const struct stage_catalog *c, struct wfmpi_buf *out);

#endif /* WFMPI_STAGE_INT_H */
