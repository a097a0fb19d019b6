/* stage module internals. */
#ifndef WFMPI_STAGE_INT_H
#define WFMPI_STAGE_INT_H

#include <sys/types.h>

#include "wfmpi/stage.h"

/* Copy from -> to (created with mode, fsynced), hashing on the way when
 * hex is non-NULL. 0 or -errno. */
int stage_copy(const char *from, const char *to, mode_t mode, char hex[WFMPI_SHA256_HEX_LEN]);

/* AWS credentials and region: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, else the profile (AWS_PROFILE or "default") of
 * ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE); region from AWS_REGION,
 * AWS_DEFAULT_REGION, ~/.aws/config (AWS_CONFIG_FILE), else us-east-1.
 * 0, or -ENOENT when there is no key. */
struct stage_aws {
    char key[256], secret[256], token[2048], region[64];
};
int stage_aws_load(struct stage_aws *out);
/* The value of `name` in section `section` of an ini file ("" when absent). */
int stage_ini_get(const char *path, const char *section, const char *name, char *out, size_t size);

#endif /* WFMPI_STAGE_INT_H */
