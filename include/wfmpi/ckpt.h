/* wfmpi checkpoint: the run directory's durable state (DESIGN.md §7).
 *
 * Two files hold it. `state.h5` is an HDF5 snapshot (format version, the
 * workflow's hash and YAML text, a per-task table, a per-attempt event table,
 * the list of runs), written to a temporary file, fsynced and renamed over the
 * old one, so a crash at any instant leaves the last snapshot whole.
 * `journal` is an append-only file of checksummed records of every state
 * change since that snapshot. Resume = load the snapshot, replay the journal
 * (a torn tail record is dropped), requeue what was RUNNING. Every table of
 * the snapshot and each of its files' attributes carry a CRC-32 that every
 * reader checks, and loaded values are checked against what a run can
 * write: damage is refused naming the file and the table, never trusted
 * (docs/checkpoint.md, "Checksums").
 *
 * Durability: records are written (write(2)) before the master acts on what
 * they record, so a killed master loses nothing; fsync is group-committed at
 * most every `fsync_interval` seconds and at every snapshot, which bounds what
 * a machine crash can lose. Snapshots are rate-limited so they cost a small
 * fraction of the run, and compact the journal.
 *
 * HDF5 is used only in this module. Master only.
 */
#ifndef WFMPI_CKPT_H
#define WFMPI_CKPT_H

#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/plan.h"
#include "wfmpi/sched.h"
#include "wfmpi/util.h"

#define WFMPI_CKPT_FORMAT_VERSION 2
#define WFMPI_CKPT_DETAIL_MAX 128

/* The durable state of one task, as the snapshot's task table stores it. */
struct wfmpi_ckpt_task {
    uint8_t state; /* enum wfmpi_task_state */
    uint8_t reason; /* last attempt's enum wfmpi_exec_reason */
    uint32_t attempts; /* attempts started */
    uint32_t retries; /* failed attempts that were retried */
    int32_t exit_code; /* last attempt */
    int32_t signal;
    int32_t node, rank; /* last attempt, -1 = never ran */
    uint64_t gpu_mask;
    double start, end; /* epoch seconds, last attempt */
    double utime, stime; /* seconds, last attempt */
    int64_t maxrss_kb;
};

/* One attempt's end, as the event table stores it. */
struct wfmpi_ckpt_event {
    uint32_t task, attempt;
    int32_t rank, node;
    uint64_t gpu_mask;
    double start, end;
    uint8_t reason;
    int32_t exit_code, signal;
    double utime, stime;
    int64_t maxrss_kb;
    uint8_t state_after; /* the task's state once this attempt was judged */
    uint32_t run; /* index into the runs table */
};

/* A checksum computed for a produced file (by its stage-out task). */
struct wfmpi_ckpt_file {
    uint32_t task; /* the task that computed it */
    char sha256[WFMPI_SHA256_HEX_LEN];
    char *lfn;
};

/* One start of wfmpi on this run directory. */
struct wfmpi_ckpt_run {
    double start, end; /* end 0 while running or when killed */
    int32_t ranks, nodes;
    int32_t exit_code; /* -1 while running or when killed */
    int32_t cores, gpus; /* the pool's totals; 0 = not recorded (older run dirs) */
};

struct wfmpi_ckpt_options {
    bool fresh; /* move an existing run dir aside and start over */
    bool force_resume; /* resume even if the workflow changed */
    /* A rescue (DAGMan's rescue DAG): FAILED tasks become READY with a
     * fresh set of retries, so their BLOCKED descendants run too. What a
     * user's rerun wants (she fixed the cause); not what a service that
     * restarts under its users' workflows wants. DONE tasks never rerun. */
    bool retry_failed;
    /* The run dir's lock (RUN_DIR/lock), held by the caller. --fresh moves
     * the directory, lock file and all, aside: the new run dir is made and
     * locked (with lock_holder's line) before anything is written in it, and
     * the old lock is given up. NULL: no lock to keep. */
    struct wfmpi_lock *lock;
    const char *lock_holder;
    double fsync_interval; /* seconds between journal fsyncs; 0 = default 0.05 */
    double snapshot_share; /* max share of run time spent snapshotting; 0 = 0.02 */
    double snapshot_min_interval; /* seconds; 0 = default 10 */
    size_t journal_max; /* bytes: a snapshot is due when the journal is larger,
                         * whatever the time; 0 = default 16 MiB */
    /* For readers of the run dir (status/analyze/statistics/report): the
     * tasks' work dir and the pool's total cores and GPUs, recorded with each
     * run. NULL/0 = unknown. */
    const char *work_dir;
    int32_t cores, gpus;
};

/* What a resume found, for the "resumed: ..." line. */
struct wfmpi_ckpt_recovered {
    bool resumed; /* false: a fresh run dir */
    uint32_t done, failed, requeued, runs;
    /* retry_failed: the FAILED tasks given fresh retries and the BLOCKED
     * ones unblocked with them (failed counts neither); the first few
     * retried tasks' plan indexes, for the rerun to say which. */
    uint32_t retried, unblocked;
#define WFMPI_CKPT_RETRIED_SHOWN 8
    uint32_t retried_first[WFMPI_CKPT_RETRIED_SHOWN];
    bool dropped_torn_tail; /* the journal ended in a half-written record */
    char moved_aside[512]; /* --fresh: where the old run dir went, else "" */
};

struct wfmpi_ckpt;

/* Open (creating or resuming) the checkpoint in run_dir for plan. Errors:
 * WFMPI_E_INPUT when the workflow changed (message counts jobs added,
 * removed and changed) and force_resume is off; WFMPI_E_CORRUPT or
 * WFMPI_E_VERSION naming the file for a bad state.h5 or journal (never a
 * silent fresh start); -errno for I/O. The plan must outlive the ckpt. */
struct wfmpi_ckpt *wfmpi_ckpt_open(const char *run_dir, const struct wfmpi_plan *plan,
                                   const struct wfmpi_ckpt_options *opt,
                                   struct wfmpi_ckpt_recovered *rec, struct wfmpi_error *err);
/* Close without a final snapshot (the journal is fsynced). NULL is fine. */
void wfmpi_ckpt_close(struct wfmpi_ckpt *c);

/* The restored state of every plan task (index = plan task index). */
const struct wfmpi_ckpt_task *wfmpi_ckpt_tasks(const struct wfmpi_ckpt *c);
/* The last failure detail recorded for a task ("" when none). */
const char *wfmpi_ckpt_detail(const struct wfmpi_ckpt *c, uint32_t task);
/* Apply the restored states to a fresh scheduler (before its first next()). */
int wfmpi_ckpt_restore_sched(const struct wfmpi_ckpt *c, struct wfmpi_sched *s,
                             struct wfmpi_error *err);

/* Copy BLOCKED states from the scheduler into the task table (blocking is
 * derived there, not recorded as events). O(tasks): call after a task failed
 * for good, not per event. Resume derives it again from FAILED anyway; this
 * is for readers of state.h5 (status, analyze). */
void wfmpi_ckpt_mark_blocked(struct wfmpi_ckpt *c, const struct wfmpi_sched *s);

/* Record events (buffered; durable at the next commit). */
int wfmpi_ckpt_run_start(struct wfmpi_ckpt *c, int32_t ranks, int32_t nodes);
int wfmpi_ckpt_task_start(struct wfmpi_ckpt *c, uint32_t task, uint32_t attempt, int32_t rank,
                          int32_t node, uint64_t gpu_mask, double start);
/* The end event of an attempt as the executor reported it (times, reason,
 * exit code, signal, CPU, RSS); node, GPUs, state_after and run are 0 for
 * the caller to fill. */
struct wfmpi_exec_result;
struct wfmpi_ckpt_event wfmpi_ckpt_event_of(uint32_t task, uint32_t attempt, int32_t rank,
                                            const struct wfmpi_exec_result *r);
int wfmpi_ckpt_task_end(struct wfmpi_ckpt *c, const struct wfmpi_ckpt_event *ev,
                        const char *detail);
/* Write buffered records; fsync when fsync_interval has passed (started in
 * the background; its outcome comes with a later commit), or now with force. */
int wfmpi_ckpt_commit(struct wfmpi_ckpt *c, bool force_fsync);
/* wfmpi_ckpt_commit for a driver whose task ends acknowledge nothing outside
 * the process (the MPI master): buffered starts are written at once, ends
 * alone wait for the next start, up to a second or 1 MB. A crash then loses
 * at most ends of tasks that are RUNNING in the durable state, which a
 * resume runs again anyway. */
int wfmpi_ckpt_commit_lazy(struct wfmpi_ckpt *c);
/* Snapshot when the rate limit allows (cheap to call every loop). */
int wfmpi_ckpt_maybe_snapshot(struct wfmpi_ckpt *c);
/* Snapshot now: temp file, fsync, rename, fsync dir; then a fresh journal. */
int wfmpi_ckpt_snapshot(struct wfmpi_ckpt *c);
/* Record how this run ended, snapshot, and make everything durable. */
int wfmpi_ckpt_run_end(struct wfmpi_ckpt *c, int32_t exit_code);
/* Record the sha256 (64 hex digits) computed for a produced file; the
 * snapshot keeps them in file_tasks / file_lfns / file_sha256. A later record
 * for the same lfn supersedes an earlier one (readers take the last). */
int wfmpi_ckpt_file_sum(struct wfmpi_ckpt *c, uint32_t task, const char *lfn, const char *sha256);

/* The last error detail (for logging when a periodic call fails). */
const char *wfmpi_ckpt_error(const struct wfmpi_ckpt *c);

/* ---------------------------------------------------------- read-only
 * For status/analyze/statistics/report: load a run dir without a plan. */
struct wfmpi_ckpt_state {
    char workflow_name[256];
    char workflow_hash[WFMPI_SHA256_HEX_LEN];
    uint32_t n_tasks;
    char **ids; /* n_tasks task ids */
    char **details; /* n_tasks last failure details ("" when none) */
    struct wfmpi_ckpt_task *tasks;
    struct wfmpi_ckpt_event *events;
    uint32_t n_events;
    struct wfmpi_ckpt_run *runs;
    uint32_t n_runs;
    /* What each task is, from the plan (NULL/0 when the snapshot predates
     * these datasets): transformation index into xforms ("" = none), cores
     * and GPUs requested. */
    char **xforms;
    uint32_t n_xforms;
    uint32_t *task_xform, *task_cores, *task_gpus;
    char work_dir[4096]; /* the last run's work dir, "" when not recorded */
    struct wfmpi_ckpt_file *files; /* checksums of produced files, in record order */
    uint32_t n_files;
};

/* Load state.h5 and replay the journal. WFMPI_E_INPUT for a missing or empty
 * run dir, WFMPI_E_CORRUPT / WFMPI_E_VERSION naming the file (and the table
 * that fails its checksum or holds what no run writes). */
struct wfmpi_ckpt_state *wfmpi_ckpt_load(const char *run_dir, struct wfmpi_error *err);
void wfmpi_ckpt_state_free(struct wfmpi_ckpt_state *st);

/* Check that run_dir/state.h5 opens, is a format this wfmpi reads and has
 * its tables, without reading them (milliseconds at any size): the cheap
 * validity test `wfmpi status` makes before it trusts status.json. The
 * files' attributes are checked against their checksums, the tables only
 * for having theirs. Errors as wfmpi_ckpt_load. */
int wfmpi_ckpt_probe(const char *run_dir, struct wfmpi_error *err);

/* How a task runs, for analyze: its command line (argv shell-quoted and
 * joined) and the stdout/stderr paths the job names ("" = the run dir's
 * jobs/<id>.<attempt>.out|err). Strings are malloc'd, caller frees. */
struct wfmpi_ckpt_task_cmd {
    char *cmd, *stdout_path, *stderr_path;
};

/* Read the commands of n tasks (indexes into the state's tables) from
 * run_dir/state.h5 without loading the rest; out[i] for tasks[i]. A snapshot
 * that predates these datasets gives empty strings. Errors as
 * wfmpi_ckpt_load. Any process. */
int wfmpi_ckpt_load_cmds(const char *run_dir, const uint32_t *tasks, uint32_t n,
                         struct wfmpi_ckpt_task_cmd *out, struct wfmpi_error *err);
void wfmpi_ckpt_task_cmd_fini(struct wfmpi_ckpt_task_cmd *c);

#endif /* WFMPI_CKPT_H */
