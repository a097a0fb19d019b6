/* wfmpi data staging: the transfers behind the planner's data tasks
 * (docs/staging.md). `wfmpi stage-in`, `stage-out` and `cleanup` are thin
 * command-line wrappers around these calls; they run as ordinary tasks in
 * the work dir, so every relative path here is relative to the current
 * directory. Any rank may call them; one thread at a time.
 *
 * Stage-in: file:// (and plain absolute paths) become symlinks or copies;
 * http(s), sftp/scp and s3 (AWS SigV4) are downloaded with libcurl's multi
 * interface, several at once, into DEST.wfmpi-part, resumed from where a
 * broken transfer stopped, retried with exponential backoff and jitter,
 * verified against a sha256 when one is given, then renamed to DEST.
 *
 * Stage-out: copy (temp name, fsync, rename, fsync dir) computing sha256 on
 * the way, and/or register in a Pegasus 5.0 replica catalog under a lock.
 *
 * Nothing here prints or exits: progress and per-file lines go to a line
 * callback, outcomes into the items; the cli turns them into output and
 * exit codes.
 */
#ifndef WFMPI_STAGE_H
#define WFMPI_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wfmpi/util.h"

/* Exit status of a data task whose checksum did not match (EX_DATAERR);
 * the master reports it as "input integrity". Same value as
 * WFMPI_PLAN_INTEGRITY_EXIT. */
#define WFMPI_STAGE_INTEGRITY 65

/* Longest message kept per item. */
#define WFMPI_STAGE_MSG_MAX 1024

enum wfmpi_stage_status {
    WFMPI_STAGE_OK = 0,
    WFMPI_STAGE_FAILED, /* transfer failed after its retries, or a local error */
    WFMPI_STAGE_MISMATCH, /* the content's sha256 is not the expected one */
};

/* ------------------------------------------------------------ arguments */

/* Which URLs stage-in fetches (wfmpi_url_scheme_of), which paths it
 * writes and removes (wfmpi_path_rel_ok) and what a checksum is
 * (wfmpi_sha256_hex_parse) are in util.h, where the planner asks the same
 * questions before anything runs. */

/* A checksum argument: "-" (none; *out = "") or 64 hex digits (stored
 * lower-case in out, wfmpi_sha256_hex_parse). false when neither. */
bool wfmpi_stage_parse_sha256(const char *s, char out[WFMPI_SHA256_HEX_LEN]);

/* One line of progress or of a file's outcome, without the newline; valid
 * only during the call. */
typedef void wfmpi_stage_line_fn(void *ctx, const char *line);

/* ------------------------------------------------------------ stage-in */

struct wfmpi_stage_item {
    const char *url; /* file://PATH, /PATH, http(s)://, sftp://, scp://, s3://bucket/key */
    const char *dest; /* relative to the cwd, no ".." (wfmpi_path_rel_ok) */
    const char *sha256; /* expected lower-case hex digest, NULL = none */
    /* Filled in: */
    enum wfmpi_stage_status status;
    char msg[WFMPI_STAGE_MSG_MAX]; /* why, when not OK */
    bool skipped; /* DEST was already there and right */
    bool verified; /* the sha256 was checked and matched */
    uint64_t bytes; /* size of DEST */
    double seconds; /* from the first try to the end */
    unsigned tries; /* transfers started (0 for local files and skips) */
};

struct wfmpi_stage_in_options {
    bool no_symlink; /* copy local files instead of linking them */
    bool executable; /* make DEST executable (0755); local files are copied */
    unsigned parallel; /* transfers at once; 0 = 4 */
    unsigned retries; /* per transfer after the first try */
    double connect_timeout_s; /* 0 = 30 s */
    double low_speed_time_s; /* abort a transfer under 1 B/s for this long; 0 = 60 s */
    double backoff_s; /* first retry delay; 0 = 1 s (doubles, with jitter) */
    wfmpi_stage_line_fn *line; /* progress and results; NULL = quiet */
    void *line_ctx;
};

/* Fetch every item; each gets its own status, and a failure does not stop
 * the others. Returns 0 when every item is OK, the number of items that are
 * not, or a negative code (err) when nothing could be attempted (libcurl
 * would not start). The caller has called curl_global_init. */
int wfmpi_stage_in(struct wfmpi_stage_item *items, size_t n,
                   const struct wfmpi_stage_in_options *opt, struct wfmpi_error *err);

/* ------------------------------------------------------------ stage-out */

enum wfmpi_stage_out_mode {
    WFMPI_STAGE_COPY = 1,
    WFMPI_STAGE_REGISTER = 2,
};

/* "copy", "copy+register", "register" -> a mask of the above; 0 otherwise. */
unsigned wfmpi_stage_out_mode_of(const char *s);

struct wfmpi_stage_out_file {
    const char *lfn; /* relative to the cwd (wfmpi_path_rel_ok) */
    unsigned mode; /* WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER */
    /* Filled in: */
    enum wfmpi_stage_status status;
    char msg[WFMPI_STAGE_MSG_MAX]; /* why, when not OK */
    char sha256[WFMPI_SHA256_HEX_LEN]; /* of the content, when OK */
};

/* Copy each file to output_dir/lfn (parents made) and/or register it in
 * catalog at site (NULL = "local") with a file:// pfn: the copy, or the
 * file in the cwd. Files that fail do not stop the others; all
 * registrations of one call update the catalog once. output_dir is needed
 * for copies, catalog for registrations. Returns 0 when every file is OK,
 * the number that are not, or a negative code (err) when the catalog could
 * not be updated (the copies stay). */
int wfmpi_stage_out(struct wfmpi_stage_out_file *files, size_t n, const char *output_dir,
                    const char *catalog, const char *site, struct wfmpi_error *err);

/* ---------------------------------------------- output replica catalog */

struct wfmpi_stage_replica {
    const char *lfn, *pfn, *site; /* site NULL = "local" */
    const char *sha256; /* NULL or "" = none */
};

/* Add or replace (by lfn) entries of the Pegasus 5.0 replica catalog file
 * at catalog, created when missing, under an exclusive flock on
 * CATALOG.lock, written crash-safely (temp, fsync, rename, fsync dir). Only
 * files this function wrote can be updated; anything else is
 * WFMPI_E_CORRUPT ("catalog:line: ...") and is left as it is. 0 or a
 * negative code (err). */
int wfmpi_stage_register(const char *catalog, const struct wfmpi_stage_replica *r, size_t n,
                         struct wfmpi_error *err);

/* ------------------------------------------------------------ cleanup */

/* Remove path (wfmpi_path_rel_ok is the caller's check): 1 removed, 0 it
 * was not there, -errno otherwise (err). */
int wfmpi_stage_remove(const char *path, struct wfmpi_error *err);

#endif /* WFMPI_STAGE_H */
