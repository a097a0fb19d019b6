/* wfmpi utilities: errors, logging, arena, string interning, growable arrays,
 * bounded buffers, an indexed heap, clocks and sha256.
 *
 * Every function here may be called on any rank. Nothing here calls MPI, HDF5,
 * libyaml or curl; sha256 uses libcrypto.
 */
#ifndef WFMPI_UTIL_H
#define WFMPI_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __GNUC__
#define WFMPI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define WFMPI_PRINTF(f, a)
#endif

/* ---------------------------------------------------------------- errors */

/* wfmpi's own error codes sit below -4096 so they never collide with -errno.
 * Functions return 0 (or a count/id) on success, a negative code on failure. */
#define WFMPI_ERRORS(X)                                                                            \
    X(INPUT, -4097, "invalid input")                                                               \
    X(LIMIT, -4098, "input exceeds a built-in limit")                                              \
    X(NOTFOUND, -4099, "not found")                                                                \
    X(MPI, -4100, "MPI error")                                                                     \
    X(HDF5, -4101, "HDF5 error")                                                                   \
    X(CORRUPT, -4102, "corrupt data")                                                              \
    X(VERSION, -4103, "unsupported format version")                                                \
    X(INTERNAL, -4104, "internal error")                                                           \
    X(STOPPED, -4105, "stopped by signal")                                                         \
    X(PROTO, -4106, "protocol error")                                                              \
    X(STALE, -4107, "out of date")

enum wfmpi_errcode {
#define WFMPI_ERR_ENUM(name, code, text) WFMPI_E_##name = code,
    WFMPI_ERRORS(WFMPI_ERR_ENUM)
#undef WFMPI_ERR_ENUM
};

/* Text for a code: wfmpi's own, or strerror(-code) for -errno. Static storage. */
const char *wfmpi_strerror(int code);

/* Detail for the caller: a fixed buffer, so reporting an error never allocates.
 * Input errors read "file:line:col: message". */
#define WFMPI_ERROR_TEXT_MAX 1024
struct wfmpi_error {
    int code;
    char text[WFMPI_ERROR_TEXT_MAX];
};

/* Record code and a formatted message in err (which may be NULL) and return
 * code, so callers can write `return wfmpi_error_set(err, WFMPI_E_INPUT, ...)`.
 * A message that does not fit is truncated with "...". */
int wfmpi_error_set(struct wfmpi_error *err, int code, const char *fmt, ...) WFMPI_PRINTF(3, 4);
int wfmpi_error_vset(struct wfmpi_error *err, int code, const char *fmt, va_list ap)
    WFMPI_PRINTF(3, 0);
/* Prefix existing text with "prefix: " (e.g. the name of an outer file). */
void wfmpi_error_prefix(struct wfmpi_error *err, const char *fmt, ...) WFMPI_PRINTF(2, 3);
void wfmpi_error_clear(struct wfmpi_error *err);

/* --------------------------------------------------------------- logging */

enum wfmpi_log_level {
    WFMPI_LOG_ERROR = 0,
    WFMPI_LOG_WARN = 1,
    WFMPI_LOG_INFO = 2,
    WFMPI_LOG_DEBUG = 3,
};

/* Messages at or below the level go to stderr (and to the log file, if set).
 * Default level: WARN. The rank, when set (>= 0), prefixes each line. */
void wfmpi_log_set_level(enum wfmpi_log_level level);
enum wfmpi_log_level wfmpi_log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 or WFMPI_E_INPUT. */
int wfmpi_log_parse_level(const char *s, enum wfmpi_log_level *out);
void wfmpi_log_set_rank(int rank);
/* Also append every message (at any enabled level) to f; NULL stops. The caller
 * owns f. stderr_level bounds what still goes to stderr. */
void wfmpi_log_set_file(FILE *f, enum wfmpi_log_level stderr_level);
void wfmpi_log(enum wfmpi_log_level level, const char *fmt, ...) WFMPI_PRINTF(2, 3);
/* Flush the log file: info lines are buffered, warnings flushed at once. */
void wfmpi_log_flush(void);
bool wfmpi_log_enabled(enum wfmpi_log_level level);

#define wfmpi_error_log(...) wfmpi_log(WFMPI_LOG_ERROR, __VA_ARGS__)
#define wfmpi_warn(...) wfmpi_log(WFMPI_LOG_WARN, __VA_ARGS__)
#define wfmpi_info(...) wfmpi_log(WFMPI_LOG_INFO, __VA_ARGS__)
#define wfmpi_debug(...) wfmpi_log(WFMPI_LOG_DEBUG, __VA_ARGS__)

/* ----------------------------------------------------------------- arena */

/* A bump allocator for data that lives as long as its owner (a workflow, a
 * plan). Allocation is O(1) and there is no per-object free. */
struct wfmpi_arena {
    struct wfmpi_arena_chunk *head;
    size_t used; /* bytes used in head */
    size_t total; /* bytes handed out, all chunks */
};

void wfmpi_arena_init(struct wfmpi_arena *a);
void wfmpi_arena_fini(struct wfmpi_arena *a);
/* Zeroed memory aligned to max_align_t; NULL when out of memory. */
void *wfmpi_arena_alloc(struct wfmpi_arena *a, size_t size);
/* A NUL-terminated copy of s[0..len). */
char *wfmpi_arena_strndup(struct wfmpi_arena *a, const char *s, size_t len);

/* ---------------------------------------------------- interned strings */

/* Maps strings to dense ids 1..n (0 means "no string"). Identical strings get
 * the same id, so ids compare in O(1) and a plan stores 4 bytes per string. */
struct wfmpi_strtab;

struct wfmpi_strtab *wfmpi_strtab_create(void);
void wfmpi_strtab_destroy(struct wfmpi_strtab *t);
/* Id of s[0..len), added if new. 0 when out of memory or len > UINT32_MAX. */
uint32_t wfmpi_strtab_intern(struct wfmpi_strtab *t, const char *s, size_t len);
uint32_t wfmpi_strtab_intern_cstr(struct wfmpi_strtab *t, const char *s);
/* Id of s if present, else 0. */
uint32_t wfmpi_strtab_find(const struct wfmpi_strtab *t, const char *s, size_t len);
/* The string for id (NUL-terminated, owned by t), NULL for 0 or out of range. */
const char *wfmpi_strtab_str(const struct wfmpi_strtab *t, uint32_t id);
uint32_t wfmpi_strtab_len(const struct wfmpi_strtab *t, uint32_t id);
/* Number of strings (the largest id). */
uint32_t wfmpi_strtab_count(const struct wfmpi_strtab *t);
/* Bytes held, for memory accounting. */
size_t wfmpi_strtab_bytes(const struct wfmpi_strtab *t);

/* Serialization (the plan cache). A table's strings as one byte stream: ids
 * 1..count in order, each followed by a NUL. wfmpi_strtab_data_len is its
 * size; wfmpi_strtab_write_data hands it to fn in a few large pieces (no
 * copy), stopping at the first non-zero return of fn, which it returns. */
typedef int wfmpi_strtab_write_fn(void *ctx, const void *data, size_t len);
size_t wfmpi_strtab_data_len(const struct wfmpi_strtab *t);
int wfmpi_strtab_write_data(const struct wfmpi_strtab *t, wfmpi_strtab_write_fn *fn, void *ctx);
/* A new table from such a stream, with the same ids: fn fills `size` bytes
 * in place (one call; 0 or a negative code), lens[i] is the length of id
 * i+1. NULL with *rc set: fn's error, -ENOMEM, or WFMPI_E_CORRUPT when the
 * stream and the lengths disagree or a string appears twice. The index is
 * rebuilt, so the table works as if every string had been interned. */
typedef int wfmpi_strtab_read_fn(void *ctx, void *buf, size_t len);
struct wfmpi_strtab *wfmpi_strtab_restore(size_t size, const uint32_t *lens, uint32_t count,
                                          wfmpi_strtab_read_fn *fn, void *ctx, int *rc);

/* ------------------------------------------------------- growable arrays */

/* Make *ptr hold at least `need` elements of `size` bytes, growing *cap
 * geometrically. Overflow-checked. Returns 0 or -ENOMEM (ptr untouched). */
int wfmpi_grow(void **ptr, size_t *cap, size_t need, size_t size);

/* Append one element to a (ptr, len, cap) triple: WFMPI_PUSH(arr, n, cap, val)
 * evaluates to 0 or -ENOMEM. */
#define WFMPI_PUSH(ptr, len, cap, val)                                                             \
    (wfmpi_grow((void **)&(ptr), &(cap), (size_t)(len) + 1, sizeof(*(ptr)))                        \
         ? -ENOMEM                                                                                 \
         : ((ptr)[(len)++] = (val), 0))

/* Checked size arithmetic: false on overflow. */
static inline bool wfmpi_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool wfmpi_add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ------------------------------------------------------- bounded buffer */

/* A growable byte buffer that refuses to grow past `max`, so data from outside
 * can never make it unbounded. Always NUL-terminated when len > 0. */
struct wfmpi_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void wfmpi_buf_init(struct wfmpi_buf *b, size_t max);
void wfmpi_buf_fini(struct wfmpi_buf *b);
void wfmpi_buf_reset(struct wfmpi_buf *b);
/* 0, -ENOMEM, or WFMPI_E_LIMIT when max would be exceeded (b unchanged). */
int wfmpi_buf_append(struct wfmpi_buf *b, const void *data, size_t len);
int wfmpi_buf_printf(struct wfmpi_buf *b, const char *fmt, ...) WFMPI_PRINTF(2, 3);
/* Append s as a JSON string literal (quotes and escapes included). */
int wfmpi_buf_json_str(struct wfmpi_buf *b, const char *s);

/* ---------------------------------------------------------- indexed heap */

/* A binary min-heap of uint32 items ordered by a caller comparator (negative
 * when a must come out before b). Push/pop are O(log n) and never allocate
 * once reserved, so the scheduler's hot path stays allocation-free. */
typedef int wfmpi_heap_cmp_fn(uint32_t a, uint32_t b, void *ctx);

struct wfmpi_heap {
    uint32_t *items;
    size_t len;
    size_t cap;
    wfmpi_heap_cmp_fn *cmp;
    void *ctx;
};

void wfmpi_heap_init(struct wfmpi_heap *h, wfmpi_heap_cmp_fn *cmp, void *ctx);
void wfmpi_heap_fini(struct wfmpi_heap *h);
/* Preallocate room for n items: 0 or -ENOMEM. */
int wfmpi_heap_reserve(struct wfmpi_heap *h, size_t n);
int wfmpi_heap_push(struct wfmpi_heap *h, uint32_t item);
/* Removes the first item into *out; false when empty. */
bool wfmpi_heap_pop(struct wfmpi_heap *h, uint32_t *out);
static inline size_t wfmpi_heap_len(const struct wfmpi_heap *h)
{
    return h->len;
}

/* ---------------------------------------------------------------- clocks */

/* Seconds from CLOCK_MONOTONIC (durations) and CLOCK_REALTIME (timestamps). */
double wfmpi_mono(void);
double wfmpi_wall(void);
/* CLOCK_REALTIME_COARSE: the last tick (a few ms old at most), for
 * timestamps taken per task on the master's hot path that a precise one
 * replaces later (a start the worker's result then states exactly). */
double wfmpi_wall_coarse(void);

/* ---------------------------------------------------------------- sha256 */

#define WFMPI_SHA256_LEN 32
#define WFMPI_SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

struct wfmpi_sha256; /* incremental context (libcrypto EVP) */
struct wfmpi_sha256 *wfmpi_sha256_create(void);
void wfmpi_sha256_destroy(struct wfmpi_sha256 *s);
int wfmpi_sha256_update(struct wfmpi_sha256 *s, const void *data, size_t len);
/* Writes the digest and resets nothing: destroy afterwards. */
int wfmpi_sha256_final(struct wfmpi_sha256 *s, unsigned char out[WFMPI_SHA256_LEN]);
/* One-shot digest of a buffer / of a file's contents, as lower-case hex. */
int wfmpi_sha256_hex(const void *data, size_t len, char out[WFMPI_SHA256_HEX_LEN]);
int wfmpi_sha256_file_hex(const char *path, char out[WFMPI_SHA256_HEX_LEN]);
void wfmpi_hex(const unsigned char *in, size_t len, char *out);

/* ----------------------------------------------------------- suggestions */

/* "Did you mean ...?" for a misspelled name (a YAML key, an option). Words
 * longer than this are never compared: nobody misspells a 64-byte key. */
#define WFMPI_SUGGEST_MAX_LEN 64

/* Damerau-Levenshtein distance of a and b in its optimal-string-alignment
 * form (insertions, deletions, substitutions and swaps of two neighbours,
 * each costing 1), ignoring ASCII case; SIZE_MAX when either is longer than
 * WFMPI_SUGGEST_MAX_LEN. No allocation; any thread. */
size_t wfmpi_edit_distance(const char *a, const char *b);
/* The candidate that `word` most likely meant: the closest of cands[0..n)
 * when it is at most max(strlen(word), 3) / 3 edits away (one edit for up to
 * five characters, two up to eight, ...), the earliest on a tie; NULL when
 * none is that close or word is one of them exactly. Returns one of cands. */
const char *wfmpi_suggest(const char *word, const char *const *cands, size_t n);

/* ------------------------------------------------ what data tasks accept
 *
 * The stage module fetches, writes and removes files for the planner's data
 * tasks at run time; the planner refuses at plan time what those tasks
 * would refuse. Both ask these functions, so the verdict is the same in
 * both places (they live here because plan may not use stage, DESIGN.md
 * section 2). */

enum wfmpi_url_scheme {
    WFMPI_URL_UNSUPPORTED = 0, /* ftp://, gsiftp://, relative paths, anything else */
    WFMPI_URL_FILE, /* file:///abs, file://localhost/abs, or /abs */
    WFMPI_URL_HTTP,
    WFMPI_URL_HTTPS,
    WFMPI_URL_SFTP,
    WFMPI_URL_SCP,
    WFMPI_URL_S3,
};

/* The scheme of url (case-insensitive) as stage-in fetches it. For
 * WFMPI_URL_FILE, *path (when path is not NULL) points into url at the
 * absolute local path. */
enum wfmpi_url_scheme wfmpi_url_scheme_of(const char *url, const char **path);
/* The accepted forms in words, for messages (static storage). */
const char *wfmpi_url_schemes(void);
/* A path wfmpi may write or remove under the work dir: not empty,
 * relative, no ".." component, not ending in "/" or "/.", shorter than
 * PATH_MAX. */
bool wfmpi_path_rel_ok(const char *path);
/* s is exactly 64 hex digits (either case); out (may be NULL) gets them
 * lower-case. */
bool wfmpi_sha256_hex_parse(const char *s, char out[WFMPI_SHA256_HEX_LEN]);

/* ----------------------------------------------------------------- files */

/* Read a whole file into a NUL-terminated malloc'd buffer of at most max bytes.
 * Returns 0, -errno, or WFMPI_E_LIMIT. The caller frees *out. */
int wfmpi_read_file(const char *path, size_t max, char **out, size_t *len);
/* Write data to path crash-safely: temp file, fsync, rename, fsync directory. */
int wfmpi_write_file_atomic(const char *path, const void *data, size_t len);
/* The same for a file written in pieces: wfmpi_atomic_open creates
 * PATH.tmp.<pid> (f->fd, for write/pwrite); wfmpi_atomic_commit fsyncs and
 * closes it, renames it over path and fsyncs the directory; on failure (of
 * commit too) the temp file is removed. wfmpi_atomic_abort removes it
 * unwritten. 0 or -errno. */
struct wfmpi_atomic_file {
    int fd;
    char path[4096];
    char tmp[4096 + 32];
};
int wfmpi_atomic_open(struct wfmpi_atomic_file *f, const char *path);
int wfmpi_atomic_commit(struct wfmpi_atomic_file *f);
void wfmpi_atomic_abort(struct wfmpi_atomic_file *f);
/* write(2) all of data, retrying short writes and EINTR. 0 or -errno. */
int wfmpi_write_all(int fd, const void *data, size_t len);
/* read(2) exactly len bytes; WFMPI_E_CORRUPT when the file ends first. */
int wfmpi_read_all(int fd, void *data, size_t len);
/* mkdir -p with mode 0777 & ~umask. 0 or -errno. */
int wfmpi_mkdir_p(const char *path);
/* An exclusive advisory lock on a file, held for the life of an open file
 * description, so the kernel drops it when the holder dies however it dies
 * (fcntl OFD locks, F_SETLK where the kernel lacks them). Works across the
 * client nodes of NFS, Lustre (mounted -o flock) and GPFS. wfmpi_lock_take
 * creates path, takes the lock without waiting and writes holder (one line:
 * who and since when) into the file. Returns 0; -EAGAIN when another process
 * holds it (its holder line copied into other, "" if unknown); -ENOLCK,
 * -ENOSYS or -EOPNOTSUPP when the file system cannot lock; -errno else.
 * The descriptor is close-on-exec: no task inherits the lock. */
struct wfmpi_lock {
    int fd; /* -1: not held */
};
int wfmpi_lock_take(struct wfmpi_lock *l, const char *path, const char *holder, char *other,
                    size_t other_size);
/* Give it up (and close the file); a lock not held is fine. */
void wfmpi_lock_release(struct wfmpi_lock *l);

/* Where a task's stdout/stderr go when the job names none:
 * RUN_DIR/jobs/<task id>.<attempt>.<ext> (ext "out" or "err"). Like
 * snprintf: the length it needed. */
int wfmpi_job_output_path(char *buf, size_t size, const char *run_dir, const char *task_id,
                          uint32_t attempt, const char *ext);

#endif /* WFMPI_UTIL_H */
