/* Private to the checkpoint module. */
#ifndef WFMPI_CKPT_INT_H
#define WFMPI_CKPT_INT_H

#include <aio.h>
#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/ckpt.h"

/* ------------------------------------------------------------ journal
 * File: a 64-byte header (magic, version, base sequence, workflow hash),
 * then records: u32 payload length, u32 crc32 over (seq, type, payload),
 * u64 seq, u8 type, payload. Sequence numbers grow across journals, so a
 * record already folded into the snapshot (seq <= the snapshot's) is skipped
 * on replay even if a crash left the old journal in place. Version 2 added
 * J_EVENTS; version 1 journals are read, and one that a resume appends to is
 * marked version 2 first. */
#define JOURNAL_MAGIC "WFMPIJNL"
#define JOURNAL_VERSION 2u
#define JOURNAL_VERSION_MIN 1u
#define JOURNAL_HEADER_BYTES 88
#define JOURNAL_RECORD_HEADER 17
#define JOURNAL_MAX_PAYLOAD 4096
#define JOURNAL_MAX_BYTES ((size_t)1 << 30)

enum journal_type {
    J_RUN_START = 1,
    J_TASK_START = 2,
    J_TASK_END = 3,
    J_RUN_END = 4,
    J_FILE_SUM = 5, /* u32 task, 64 hex digits, the lfn */
    J_EVENTS = 6, /* task starts and ends of a commit round, packed (events.c) */
};

struct journal {
    int fd;
    uint64_t seq; /* last sequence number written */
    struct wfmpi_buf pending;
    double last_fsync, last_write;
    size_t size; /* bytes in the file: header and records written */
    bool dirty; /* written since the last fsync (or since it started) */
    bool syncing; /* an asynchronous fdatasync is in flight (sync_cb) */
    struct aiocb sync_cb;
};

/* Create path (temp + rename + dir fsync) with the header; opens it for append. */
int journal_create(struct journal *j, const char *path, uint64_t base_seq, const char *hash);
/* Open an existing journal for append after replay (seq continues). */
int journal_open_append(struct journal *j, const char *path, uint64_t seq);
void journal_close(struct journal *j);
int journal_append(struct journal *j, enum journal_type type, const void *payload, size_t len);
int journal_write(struct journal *j);
int journal_fsync(struct journal *j);
/* Start an fdatasync in the background (POSIX AIO) and return at once; the
 * outcome of the previous one is returned by the next call (or by
 * journal_fsync, which waits for it). For group commit on the master's hot
 * path: what is written is already safe from a crash of the process, the
 * fsync only bounds what a crash of the machine can take. */
int journal_fsync_async(struct journal *j);

/* Replay callback: one valid record with seq > base. */
typedef int journal_record_fn(void *ctx, enum journal_type type, const unsigned char *p,
                              size_t len);

struct journal_replay_info {
    uint64_t last_seq;
    bool torn_tail;
};

/* Read path and feed each record with seq > min_seq to fn. A missing file is
 * an empty journal. A bad record that is the last thing in the file (a write
 * cut short by a crash) is dropped and reported in info; a bad record with
 * valid data after it, a wrong magic or a different workflow hash are
 * WFMPI_E_CORRUPT naming the file. */
int journal_replay(const char *path, const char *hash, uint64_t min_seq, journal_record_fn *fn,
                   void *ctx, struct journal_replay_info *info, struct wfmpi_error *err);

/* ------------------------------------------------------- record payloads */
struct rec_task_start {
    uint32_t task, attempt;
    int32_t rank, node;
    uint64_t gpu_mask;
    double start;
};

/* 16 bytes in journals written before cores/gpus were recorded; both sizes
 * are read. */
struct rec_run_start {
    double start;
    int32_t ranks, nodes;
    int32_t cores, gpus;
};
#define REC_RUN_START_V0_BYTES 16

struct rec_run_end {
    double end;
    int32_t exit_code;
};

/* The in-memory state both the writer and the read-only loader rebuild. */
struct ckpt_state {
    uint32_t n_tasks;
    struct wfmpi_ckpt_task *tasks;
    char **details; /* per task, malloc'd or NULL */
    struct wfmpi_ckpt_event *events;
    size_t n_events, cap_events;
    struct wfmpi_ckpt_run *runs;
    size_t n_runs, cap_runs;
    struct wfmpi_ckpt_file *files;
    size_t n_files, cap_files;
    /* The crc32 of events[0, events_summed) as snapshot_write sums it:
     * events are only appended (a resume replaces the table whole and
     * zeroes both), so a snapshot sums only the rows since the last one,
     * not the run's whole history each time. */
    uint32_t events_crc;
    size_t events_summed;
};

int ckpt_state_init(struct ckpt_state *st, uint32_t n_tasks);
void ckpt_state_fini(struct ckpt_state *st);
/* Apply one journal record (also used live by the writer). */
int ckpt_state_apply(struct ckpt_state *st, enum journal_type type, const unsigned char *p,
                     size_t len);
/* Apply an end event directly (the writer's path: no decode of what it
 * just encoded). Same checks as replay. */
int ckpt_state_apply_end(struct ckpt_state *st, const struct wfmpi_ckpt_event *ev,
                         const char *detail);
int ckpt_state_apply_start(struct ckpt_state *st, const struct rec_task_start *r);
/* Apply a J_EVENTS payload: each start and end in order. */
int ckpt_state_apply_events(struct ckpt_state *st, const unsigned char *p, size_t len);

/* events.c: append one packed event at p (at most CKPT_EVENT_MAX bytes);
 * returns its length. An end event is quantised first (its times to whole
 * microseconds), so apply the event after quantise, as replay will see it. */
#define CKPT_EVENT_MAX (128 + WFMPI_CKPT_DETAIL_MAX) /* worst case ~97 + detail */
size_t ckpt_events_put_start(unsigned char *p, const struct rec_task_start *r);
void ckpt_events_quantise(struct wfmpi_ckpt_event *ev);
size_t ckpt_events_put_end(unsigned char *p, const struct wfmpi_ckpt_event *ev, const char *detail);

/* Check a snapshot's tables against what any run can write (state.c), so
 * a damaged file that still parses is refused, not trusted: WFMPI_E_CORRUPT
 * with the table, row and value in err. */
int ckpt_state_check(const struct ckpt_state *st, struct wfmpi_error *err);

/* ------------------------------------------------------------ checksums
 * zlib CRC-32s of the snapshot's tables and root attributes (checksum.c;
 * docs/checkpoint.md, "Checksums"). A table's sum covers its rows' bytes as
 * stored, or for strings each string and its NUL; the root's covers its
 * attributes, each name, NUL and value (strings with their NUL, numbers
 * little-endian, `bytes` wide), in the order they are written. Start at 0. */
uint32_t ckpt_crc_bytes(uint32_t crc, const void *p, size_t n);
uint32_t ckpt_crc_strings(uint32_t crc, const char *const *s, size_t n);
uint32_t ckpt_crc_attr_str(uint32_t crc, const char *name, const char *value);
uint32_t ckpt_crc_attr_u64(uint32_t crc, const char *name, uint64_t value, size_t bytes);

/* ------------------------------------------------------------ task info
 * Per-task facts from the plan for readers of the run dir (taskinfo.c). */
struct ckpt_taskinfo {
    uint32_t n_tasks;
    char **xforms; /* unique transformation names; [0] = "" (none) */
    uint32_t n_xforms;
    uint32_t *xform, *cores, *gpus; /* per task */
    const char **cmd; /* per task, shell-quoted argv, into buf */
    const char **out, **err; /* per task, the job's stdout/stderr ("" = none), plan's strings */
    char *buf;
};

int ckpt_taskinfo_build(struct ckpt_taskinfo *ti, const struct wfmpi_plan *p);
void ckpt_taskinfo_fini(struct ckpt_taskinfo *ti);

/* -------------------------------------------------------------- snapshot */
struct snapshot_meta {
    char name[256];
    char hash[WFMPI_SHA256_HEX_LEN];
    uint64_t journal_seq; /* records up to this seq are in the snapshot */
    int format_version;
    char work_dir[4096]; /* "" = not recorded */
    /* Format 2: the file beside state.h5 holding what never changes during a
     * run (ids, hashes, commands, YAML): "plan-<hash prefix>.h5". Format 1
     * kept it all in state.h5 ("" here). */
    char plan_file[64];
};

/* Write state.h5 atomically (temp, fsync, rename, fsync dir). The per-task
 * data that never changes during a run (ids, hashes, task info, YAML) goes to
 * meta->plan_file, written only when it does not exist yet and always before
 * the state.h5 that names it; stale plan files are removed afterwards. So a
 * snapshot rewrites only what changes, and a crash never pairs a state.h5
 * with the wrong plan file. yaml and ti may be NULL. */
/* True when path is a plan file of the workflow with this hash. */
bool snapshot_plan_file_ok(const char *path, const char *hash);
int snapshot_write(const char *run_dir, const struct snapshot_meta *meta, struct ckpt_state *st,
                   const char *const *ids, const uint64_t *hashes, const struct ckpt_taskinfo *ti,
                   const char *yaml, size_t yaml_len, struct wfmpi_error *err);
/* Read the task info datasets into ti (all NULL/0 when the file predates
 * them); ti->cmd/out/err are not read (see wfmpi_ckpt_load_cmds). */
int snapshot_read_taskinfo(const char *run_dir, struct ckpt_taskinfo *ti, struct wfmpi_error *err);
/* Read the snapshot once in a child process first: WFMPI_E_CORRUPT when
 * that crashed or hung the HDF5 library (damage no checksum covers); 0
 * otherwise, also when the child refused it (the real read says why). */
int snapshot_probe(const char *run_dir, struct wfmpi_error *err);
/* Read state.h5: meta, the state, ids and hashes (malloc'd, caller frees).
 * When same_hash is non-NULL and equals the snapshot's workflow hash, ids
 * and hashes are not read (NULL): the caller's plan is the same, task i is
 * task i, and 10^6 id strings need not be read and matched. */
int snapshot_read(const char *run_dir, struct snapshot_meta *meta, struct ckpt_state *st,
                  char ***ids, uint64_t **hashes, const char *same_hash, struct wfmpi_error *err);

#endif
