/* wfmpi data staging: the transfers behind the planner's data tasks
 * (docs/staging.md). `wfmpi stage-in`, `stage-out` and `cleanup` are thin
 * command-line wrappers around these calls; they run as ordinary tasks in
 * the work dir, so every path here is relative to the current directory.
 *
 * Stage-in: file:// (and plain paths) become symlinks or copies; http(s),
 * sftp/scp and s3 (AWS SigV4) are downloaded with libcurl's multi interface,
 * several at once, into DEST.wfmpi-part, resumed from where a broken
 * transfer stopped, retried with exponential backoff and jitter, verified
 * against a sha256 when one is given, then renamed to DEST.
 *
 * Stage-out: copy (temp name, fsync, rename, fsync dir) computing sha256 on
 * the way, and/or register in a Pegasus 5.0 replica catalog under a lock.
 */
#ifndef WFMPI_STAGE_H
#define WFMPI_STAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "wfmpi/util.h"

/* Exit status conventions of the data tasks. */
#define WFMPI_STAGE_INTEGRITY 65 /* a checksum mismatched (EX_DATAERR) */

enum wfmpi_stage_status {
    WFMPI_STAGE_OK = 0,
    WFMPI_STAGE_FAILED, /* transfer failed after its retries, or a local error */
    WFMPI_STAGE_MISMATCH, /* the content's sha256 is not the expected one */
};

struct wfmpi_stage_item {
    const char *url; /* file://PATH, /PATH, http(s)://, sftp://, scp://, s3://bucket/key */
    const char *dest; /* relative to the cwd, no ".." */
    const char *sha256; /* expected hex digest, NULL = none */
    /* Filled in: */
    enum wfmpi_stage_status status;
    char msg[512]; /* why, when not OK */
    bool skipped; /* DEST was already there and right */
};

struct wfmpi_stage_in_options {
    bool no_symlink; /* copy local files instead of linking them */
    bool executable; /* make fetched copies executable (0755) */
    unsigned parallel; /* transfers at once; 0 = 4 */
    unsigned retries; /* per transfer after the first try */
    double connect_timeout_s; /* 0 = 30 s */
    double backoff_s; /* first retry delay; 0 = 1 s (doubles, with jitter) */
};

/* Fetch every item; each gets its own status. Returns the command's exit
 * code: 0 all OK, WFMPI_STAGE_INTEGRITY when any mismatched, else 1 when
 * any failed. Progress and errors go to stderr. */
int wfmpi_stage_in(struct wfmpi_stage_item *items, size_t n,
                   const struct wfmpi_stage_in_options *opt);

/* A destination wfmpi may write: relative, no "..", not empty. */
bool wfmpi_stage_path_ok(const char *path);

/* The https URL and region for s3://bucket/key: AWS_ENDPOINT_URL_S3 or
 * AWS_ENDPOINT_URL (path style ENDPOINT/bucket/key), else virtual-host
 * style https://bucket.s3.REGION.amazonaws.com/key. 0 or WFMPI_E_INPUT. */
int wfmpi_stage_s3_url(const char *s3, const char *region, char *out, size_t size);

enum wfmpi_stage_out_mode {
    WFMPI_STAGE_COPY = 1,
    WFMPI_STAGE_REGISTER = 2,
};

struct wfmpi_stage_out_file {
    const char *lfn; /* relative to the cwd */
    unsigned mode; /* WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER */
};

/* Copy/register each file; prints "sha256 HEX LFN" per file on stdout.
 * catalog: replica catalog to update (NULL = none). Returns 0, or 1 when
 * any file failed (the others are still done). */
int wfmpi_stage_out(const struct wfmpi_stage_out_file *files, size_t n, const char *output_dir,
                    const char *catalog, const char *site);

/* Add or replace (by lfn) entries of a Pegasus 5.0 replica catalog file
 * written by wfmpi, under an flock on FILE.lock, atomically. */
struct wfmpi_stage_replica {
    const char *lfn, *pfn, *site, *sha256;
};
int wfmpi_stage_register(const char *catalog, const struct wfmpi_stage_replica *r, size_t n,
                         struct wfmpi_error *err);

#endif /* WFMPI_STAGE_H */
