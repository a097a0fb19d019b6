/* wfmpi MPI transport: start-up (node map), the master loop that drives the
 * scheduler core, and the worker loop that drives the executor.
 *
 * Rank 0 is the master: it owns the plan and the scheduler, and it also runs
 * tasks on its own share of its node, so no core idles because of it. Every
 * other rank is a worker. Messages are compact, versioned, validated binary
 * records, several tasks or results per message; the master never blocks on
 * one worker while others wait.
 *
 * MPI calls live only in this module.
 */
#ifndef WFMPI_MPI_H
#define WFMPI_MPI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/exec.h"
#include "wfmpi/plan.h"
#include "wfmpi/sched.h"
#include "wfmpi/topo.h"
#include "wfmpi/util.h"

struct wfmpi_mpi;

/* One node of the allocation as the master sees it after start-up. Ranks of
 * a node are listed in ranks[0..n_ranks) (MPI ranks, ascending). */
struct wfmpi_mpi_node {
    struct wfmpi_topo_node info;
    uint32_t n_ranks;
    const int *ranks;
};

/* Collective over MPI_COMM_WORLD: MPI_Init, then every rank discovers its
 * node (MPI_Comm_split_type shared + hwloc) and the master builds the node
 * map. NULL with err set on failure. */
struct wfmpi_mpi *wfmpi_mpi_init(int *argc, char ***argv, struct wfmpi_error *err);
/* MPI_Finalize and free. */
void wfmpi_mpi_finalize(struct wfmpi_mpi *m);
/* Abort every rank (MPI_Abort) with code: for a master that cannot go on. */
void wfmpi_mpi_abort(struct wfmpi_mpi *m, int code);

/* The flag the caller's handler of SIGTERM/SIGINT/SIGUSR1 sets. Slurm's
 * --signal reaches every process of the step, tasks included: a task it
 * kills before the master has turned the signal into a drain must count as
 * interrupted, not failed, on the master and on the worker that ran it. */
void wfmpi_mpi_set_drain_flag(struct wfmpi_mpi *m, const volatile sig_atomic_t *flag);

int wfmpi_mpi_rank(const struct wfmpi_mpi *m);
int wfmpi_mpi_size(const struct wfmpi_mpi *m);
/* Master only: the node map. */
uint32_t wfmpi_mpi_n_nodes(const struct wfmpi_mpi *m);
const struct wfmpi_mpi_node *wfmpi_mpi_node(const struct wfmpi_mpi *m, uint32_t i);

/* Collective: rank 0's value reaches every rank (e.g. "planning failed, exit
 * 2"), so all ranks leave together. Returns the value. */
int wfmpi_mpi_bcast_int(struct wfmpi_mpi *m, int value);

/* Scheduler pool description built from the node map (master only).
 * cores_per_node > 0 overrides what hwloc found (benchmarks, oversubscribed
 * tests). The arrays stay owned by m. Slot ranks in the returned nodes are
 * positions in a node-major rank table, translated back to MPI ranks by the
 * master loop, so ranks need not be contiguous per node. */
const struct wfmpi_sched_node *wfmpi_mpi_sched_nodes(struct wfmpi_mpi *m, uint32_t cores_per_node,
                                                     uint32_t *n);

/* What the master reports to its caller while running (all called on the
 * master, from its loop). */
struct wfmpi_run_hooks {
    /* An attempt started, or was dispatched to start at once (its launcher
     * starts it as it comes). For a standby: when it took over the attempt
     * before it (the launcher started it then), not when it was queued. */
    void (*on_start)(void *ctx, const struct wfmpi_sched_dispatch *d, int mpi_rank);
    /* An attempt ended and the scheduler judged it: `after` is the task's
     * new state (DONE, FAILED, or READY for a retry or a requeue). */
    void (*on_end)(void *ctx, const struct wfmpi_sched_dispatch *d, int mpi_rank,
                   const struct wfmpi_exec_result *r, enum wfmpi_task_state after);
    /* Called once per loop iteration in which something happened, before
     * anything new is dispatched, and at least once a second: make the
     * records of what happened durable (the journal) and refresh what is
     * derived from them. A negative return stops the run with that error. */
    int (*on_commit)(void *ctx);
    /* Called about every progress_interval seconds. */
    void (*on_progress)(void *ctx, const struct wfmpi_sched *s, double elapsed);
    /* Polled every iteration: true when the run must drain (a signal). */
    bool (*should_drain)(void *ctx);
    void *ctx;
    double progress_interval;
    /* A standby was queued behind a running attempt on a worker: it may
     * start any moment without a word from us (before the next on_commit
     * returns, its start must be durable), but it has not started yet.
     * NULL: on_start is called instead. */
    void (*on_queue)(void *ctx, const struct wfmpi_sched_dispatch *d, int mpi_rank);
};

struct wfmpi_run_config {
    const char *work_dir; /* absolute; tasks run here */
    const char *run_dir; /* absolute; jobs/<id>.<attempt>.out|err go under it */
    bool exec_null; /* --exec null: report success without spawning */
    double kill_grace_s; /* SIGTERM -> SIGKILL grace for timeouts */
    double drain_grace_s; /* on drain: SIGTERM to tasks, SIGKILL this much later */
    double walltime_end; /* epoch seconds the allocation ends; 0 = unknown */
    double drain_before_s; /* drain on our own this long before walltime_end */
    /* run_dir/jobs was empty when the run began: no attempt's default log can
     * meet an older file of its name, so none is looked for. */
    bool fresh_logs;
    /* --no-standby: never queue a task behind a running one on a worker
     * (every start waits for the master's round trip). */
    bool no_standby;
};

/* Master (rank 0): drive the scheduler until it is finished, dispatching to
 * workers and to the master's own executor. Returns 0, or a negative error
 * (MPI failure, a worker sent garbage). Then tells every worker to stop with
 * exit_code. */
int wfmpi_mpi_master(struct wfmpi_mpi *m, const struct wfmpi_plan *plan, struct wfmpi_sched *s,
                     const struct wfmpi_run_config *cfg, const struct wfmpi_run_hooks *hooks,
                     struct wfmpi_error *err);

/* Send every worker the stop message carrying the process exit code. */
int wfmpi_mpi_stop_workers(struct wfmpi_mpi *m, int exit_code);

/* Worker (rank != 0): receive the run configuration from the master, then
 * run what it sends until it says stop. Returns the exit code the master
 * chose (>= 0), or a negative error. */
int wfmpi_mpi_worker(struct wfmpi_mpi *m, struct wfmpi_error *err);

/* ------------------------------------------------------------- pilot pool
 * Glidein pilots (src/glidein) get tasks from a service instead of a plan:
 * rank 0 places each one on its allocation itself (free cores, GPUs and
 * memory per node; GPUs chosen as the scheduler chooses them, within one
 * NUMA group when it has them free; GPU tasks on the owner of their first
 * GPU, CPU tasks on the node's least busy rank) and sends the same wire records to the same worker
 * loop (wfmpi_mpi_worker) as `wfmpi run`; its own share runs locally. */
struct wfmpi_mpi_pool;

/* A task as the pilot received it; pointers borrowed for the call. slot is
 * the caller's handle (< max_slots), returned as the result tag's high 32
 * bits; the low 32 bits are attempt. */
struct wfmpi_pool_task {
    uint32_t slot, attempt, cores, gpus;
    uint64_t memory_mb; /* 0 = none asked */
    double timeout_s, checkpoint_s;
    const char *id, *exe, *stdin_path, *stdout_path, *stderr_path, *successmsg, *failuremsg;
    bool stdout_lazy, stderr_lazy; /* default logs: created on the first byte */
    const char *const *argv;
    uint32_t argc;
    const char *const *env;
    uint32_t n_env;
    const char *const *outputs;
    uint32_t n_outputs;
};

/* Master only; sends the run configuration (the workers' side of it is in
 * wfmpi_mpi_worker). NULL with err set on failure. */
struct wfmpi_mpi_pool *wfmpi_mpi_pool_create(struct wfmpi_mpi *m,
                                             const struct wfmpi_run_config *cfg,
                                             uint32_t cores_per_node, uint32_t max_slots,
                                             struct wfmpi_error *err);
/* Waits for sends in flight and frees (workers are stopped separately). */
void wfmpi_mpi_pool_destroy(struct wfmpi_mpi_pool *p);
/* Free resources now: totals over nodes, and per resource the most any one
 * node has free (memory_mb 0 = not accounted: the node's size is unknown;
 * at least 1 when accounted, even if none is free). */
void wfmpi_mpi_pool_free(const struct wfmpi_mpi_pool *p, struct wfmpi_sched_budget *total,
                         struct wfmpi_sched_budget *largest);
/* Total resources of the allocation per node (for registration). */
uint32_t wfmpi_mpi_pool_nodes(const struct wfmpi_mpi_pool *p);
const struct wfmpi_sched_node *wfmpi_mpi_pool_node(const struct wfmpi_mpi_pool *p, uint32_t i);
/* Place and queue a task: 0, -EAGAIN when no node has room now, another
 * negative error otherwise. Nothing leaves before the next progress(). */
int wfmpi_mpi_pool_start(struct wfmpi_mpi_pool *p, const struct wfmpi_pool_task *t);
/* Send queued batches, collect finished attempts into out (at most max),
 * freeing their resources. Returns how many, or a negative error. */
int wfmpi_mpi_pool_progress(struct wfmpi_mpi_pool *p, struct wfmpi_exec_result *out, uint32_t max,
                            struct wfmpi_error *err);
/* Tasks started whose result progress() has not returned yet. */
uint32_t wfmpi_mpi_pool_running(const struct wfmpi_mpi_pool *p);
/* Cancel one running task (its slot): SIGTERM, SIGKILL after grace_s, its
 * result comes back INTERRUPTED (or as it ended, when it ended first).
 * Repeating it is harmless. WFMPI_E_INPUT for a slot that is not running. */
int wfmpi_mpi_pool_cancel(struct wfmpi_mpi_pool *p, uint32_t slot, double grace_s);
/* Drain: SIGTERM running tasks here and on every worker, SIGKILL after grace;
 * their results come back INTERRUPTED. */
int wfmpi_mpi_pool_drain(struct wfmpi_mpi_pool *p, double grace_s);
/* An fd to sleep on (local task exits). */
int wfmpi_mpi_pool_fd(const struct wfmpi_mpi_pool *p);

#endif /* WFMPI_MPI_H */
