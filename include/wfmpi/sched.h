/* wfmpi scheduler core: task states, the ready queue, resource-aware placement,
 * retries and throttles. Transport-agnostic: no MPI, no HTTP, no files. A
 * driver (MPI master, HTTP service, simulator, unit test) asks for dispatches,
 * runs them somewhere, and reports completions.
 *
 * States: UNREADY -> READY -> RUNNING -> DONE | FAILED. A failed attempt with
 * retries left goes back to READY; a task whose ancestor FAILED for good is
 * BLOCKED. The run is finished when nothing is READY or RUNNING.
 *
 * Ready order: higher priority first, then longer critical path, then lower
 * task index. Placement is per node (cores, GPUs, memory); a GPU task gets
 * all its GPUs on one node.
 *
 * Cost: next() and complete() are O(log n) per task plus a bounded placement
 * search, and do not allocate. Single-threaded; called by the master only.
 */
#ifndef WFMPI_SCHED_H
#define WFMPI_SCHED_H

#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/plan.h"
#include "wfmpi/util.h"

#define WFMPI_SCHED_MAX_GPUS_PER_NODE 64

enum wfmpi_task_state {
    WFMPI_TASK_UNREADY = 0,
    WFMPI_TASK_READY,
    WFMPI_TASK_RUNNING,
    WFMPI_TASK_DONE,
    WFMPI_TASK_FAILED,
    WFMPI_TASK_BLOCKED,
    WFMPI_TASK_NSTATES
};

const char *wfmpi_task_state_name(enum wfmpi_task_state s);

/* A node of the pool: its resources and its ranks [first_rank, first_rank +
 * n_ranks). GPUs are numbered 0..gpus-1 within the node; gpu_owner[g] is the
 * rank that owns GPU g (the one that launches tasks using it) and must be one
 * of the node's ranks; NULL means GPU g belongs to first_rank + g % n_ranks.
 * n_ranks must be >= 1. The array and gpu_owner are copied by create(). */
struct wfmpi_sched_node {
    uint32_t cores;
    uint32_t gpus;
    uint64_t memory_mb; /* 0 = do not account memory */
    uint32_t first_rank;
    uint32_t n_ranks;
    const uint32_t *gpu_owner; /* NULL: round-robin over the node's ranks */
    /* Locality group (NUMA domain) of each GPU, or NULL = unknown: a k-GPU
     * task then gets GPUs of one group when one has k free. Copied. */
    const uint32_t *gpu_group;
};

struct wfmpi_sched_config {
    const struct wfmpi_sched_node *nodes;
    uint32_t n_nodes;
    int32_t default_retries; /* for tasks with retries < 0; Pegasus default 1 */
    uint32_t max_running; /* 0 = unlimited */
    /* Off: no reservation for the best task that fits nowhere (greedy
     * backfill only, as before: big tasks may starve). */
    bool no_reservations;
};

struct wfmpi_sched_dispatch {
    uint32_t task; /* plan task index */
    uint32_t attempt; /* 1-based */
    uint32_t node;
    uint32_t rank; /* rank that launches it */
    uint32_t cores;
    uint64_t memory_mb;
    uint64_t gpu_mask; /* bit g = GPU g of the node */
};

enum wfmpi_sched_outcome {
    WFMPI_SCHED_OK = 0, /* attempt succeeded */
    WFMPI_SCHED_FAILED, /* attempt failed: retry if any left */
    WFMPI_SCHED_INTERRUPTED, /* stopped by drain/lost worker: READY again, no retry used */
};

struct wfmpi_sched_counts {
    uint32_t state[WFMPI_TASK_NSTATES];
    uint32_t retries; /* failed attempts that were retried */
    uint32_t running; /* == state[RUNNING]: attempts that started */
    /* Standbys queued behind a running attempt, not started yet: counted in
     * state[READY], not in state[RUNNING] (a user reads "running" as
     * "started"). */
    uint32_t standby;
};

struct wfmpi_sched;

/* Build the scheduler for a plan on a pool. Every task must fit at least one
 * node (cores, GPUs, memory), else WFMPI_E_INPUT naming the task, where its
 * job is written when the plan knows it, and what it asked for against the
 * largest node ("wf.yml:12:3: task 'x' asks for 8 GPUs but the largest node
 * has 4"). A bad pool (no nodes, > 64 GPUs on a node, no ranks,
 * a GPU owner outside its node) is WFMPI_E_INPUT too; -ENOMEM otherwise.
 * All memory the run needs is allocated here. Category throttles come from
 * the plan (maxjobs 0 = unlimited). The plan must outlive the scheduler. */
struct wfmpi_sched *wfmpi_sched_create(const struct wfmpi_plan *plan,
                                       const struct wfmpi_sched_config *cfg,
                                       struct wfmpi_error *err);
void wfmpi_sched_destroy(struct wfmpi_sched *s);

/* The caller's clock (seconds, any origin, never going back): when
 * attempts start, for the reservation's shadow time (EASY backfill: the
 * best READY task that fits nowhere has a reservation on one node, and
 * tasks behind it in the ready order start there only if they should end
 * before it can start, by their runtime estimates, or fit beside it). Not
 * set: every start is at 0, and estimates alone decide. */
void wfmpi_sched_set_clock(struct wfmpi_sched *s, double now);

/* Fill out[0..max) with READY tasks placed on free resources, mark them
 * RUNNING and take their resources. Returns how many (0 when nothing fits or
 * the scheduler is draining). Tasks come out in ready order, except that a
 * task that fits nowhere right now (or whose category is full) is skipped
 * for this call so smaller ones behind it can start (greedy backfill: a big
 * task can wait while small ones keep its node busy). A task goes to the
 * lowest-numbered node that fits; GPU tasks to the owner of their first GPU,
 * CPU tasks to the node's rank with the fewest running tasks. */
uint32_t wfmpi_sched_next(struct wfmpi_sched *s, struct wfmpi_sched_dispatch *out, uint32_t max);

/* Standby: a READY task placed behind the running attempt of `task` on the
 * same rank, for its launcher to start the moment that attempt ends (so the
 * rank's slot never waits for the round trip to the master). Only a task
 * that no free slot could start now gets one (else next() places it: a
 * standby never waits while a slot could run it), and it is revocable
 * (wfmpi_sched_revocable, take_back) once one could. It takes no resources
 * until it starts; when complete() reports `task`, it takes over `task`'s
 * cores and memory (what it does not need is freed), so a node is never
 * overcommitted. Only a task without GPUs, needing no more cores or memory
 * than `task`, whose category has room and that is not too long for the
 * time left, is placed; the best such in ready order. It is RUNNING for
 * complete() (reported like any attempt, also when it never started:
 * INTERRUPTED, a drain, before or after `task`) and its category counts it,
 * but until it starts counts() and max_running do not: it never adds to
 * what runs at once. One standby per attempt; `task` must be RUNNING and
 * hold no GPUs; it may be a standby itself (a chain: each starts when the
 * one before it ends), but not one whose predecessor ended without running.
 * Returns 1 with *out filled (out->rank = `task`'s rank), else 0 (nothing
 * fits, something could start it now, draining, or `task` does not
 * qualify). */
int wfmpi_sched_next_behind(struct wfmpi_sched *s, uint32_t task, struct wfmpi_sched_dispatch *out);
/* Is `task` a standby still queued behind its predecessor (not started)? */
bool wfmpi_sched_waiting(const struct wfmpi_sched *s, uint32_t task);
/* Should the waiting standby `task` be taken back: could a free slot start
 * it right now (not draining, max_running and its category allow it)? */
bool wfmpi_sched_revocable(const struct wfmpi_sched *s, uint32_t task);
/* The launcher gave the waiting standby `task` (its `attempt`) back
 * unstarted: it is READY again as if never placed (the attempt number is
 * the next one's, nothing was held), and a standby queued behind it becomes
 * an orphan that its launcher gives back or answers too. WFMPI_E_INPUT when
 * `task` is not that waiting standby (it started: the revocation came too
 * late, and its result will come as any attempt's). Master only. */
int wfmpi_sched_take_back(struct wfmpi_sched *s, uint32_t task, uint32_t attempt);
/* Free cores over all nodes (O(nodes): for decisions taken rarely). */
uint32_t wfmpi_sched_free_cores(const struct wfmpi_sched *s);
/* Does task a come before task b in the ready order (priority, critical
 * path, index)? Both must be valid task indexes. */
bool wfmpi_sched_before(const struct wfmpi_sched *s, uint32_t a, uint32_t b);

/* What a remote pilot has free right now (glidein mode): claim() hands out
 * only tasks that fit it, and shrinks it as it takes them. */
struct wfmpi_sched_budget {
    uint32_t cores;
    uint32_t gpus;
    uint64_t memory_mb; /* 0 = do not account memory */
    double time_left; /* seconds the pilot has left; INFINITY = unknown */
};

/* Glidein mode: pop up to max READY tasks in ready order whose cores, GPUs,
 * memory and runtime estimate fit the budget (which shrinks as tasks are
 * taken), mark them RUNNING and return them with node, rank and gpu_mask 0:
 * the pilot, not the scheduler, places them. A task that does not fit is
 * skipped for this call (its class steps aside) and stays READY for other
 * pilots; it is never deferred. Claimed tasks take no resources from the
 * scheduler's nodes (the service creates its scheduler with one large
 * virtual node, for create()'s fit check only). Do not mix with next() on
 * one scheduler. Returns how many (0 when draining). */
uint32_t wfmpi_sched_claim(struct wfmpi_sched *s, const struct wfmpi_sched_budget *b,
                           struct wfmpi_sched_dispatch *out, uint32_t max);

/* Report the end of an attempt; frees its resources and moves states on.
 * Returns 0, or WFMPI_E_INPUT for an unknown task/attempt or one that is not
 * running (a duplicate report is refused, state untouched). */
int wfmpi_sched_complete(struct wfmpi_sched *s, uint32_t task, uint32_t attempt,
                         enum wfmpi_sched_outcome outcome);

/* Stop handing out work (walltime drain); running tasks still complete. */
void wfmpi_sched_drain(struct wfmpi_sched *s);
bool wfmpi_sched_draining(const struct wfmpi_sched *s);

/* Tell the scheduler how many seconds the allocation has left (call as often
 * as you like; INFINITY when unknown, the default). A READY task whose
 * runtime estimate exceeds it is set aside: it stays READY for the next
 * allocation and never starts in this one. */
void wfmpi_sched_set_time_left(struct wfmpi_sched *s, double seconds);
/* READY tasks set aside by the time limit. */
uint32_t wfmpi_sched_deferred(const struct wfmpi_sched *s);

/* True when nothing is READY or RUNNING (or draining and nothing RUNNING). */
bool wfmpi_sched_finished(const struct wfmpi_sched *s);

void wfmpi_sched_counts(const struct wfmpi_sched *s, struct wfmpi_sched_counts *out);
enum wfmpi_task_state wfmpi_sched_state(const struct wfmpi_sched *s, uint32_t task);
/* Attempts started so far for a task. */
uint32_t wfmpi_sched_attempts(const struct wfmpi_sched *s, uint32_t task);

/* Restore a task's state before the first next() (resume from checkpoint):
 * DONE and FAILED stick (and block descendants of FAILED); RUNNING and READY
 * become READY when their parents are DONE. attempts = attempts already used:
 * the next attempt is numbered attempts + 1, and earlier attempts count as
 * retries used (a RUNNING one was cut off, so it does not), but a restored
 * READY/RUNNING task always gets at least one more attempt. WFMPI_E_INPUT
 * after the first next(), for a task restored twice, or for one already
 * BLOCKED by a FAILED ancestor. */
int wfmpi_sched_restore(struct wfmpi_sched *s, uint32_t task, enum wfmpi_task_state state,
                        uint32_t attempts);

/* The k GPUs the scheduler would take out of a node's free GPUs (bit g of
 * free_mask = GPU g of n_gpus): k of one locality group when a group has
 * them free (group[g], NULL = unknown; the group with the fewest free that
 * suffices, so larger free groups stay whole), else the lowest run of k
 * adjacent free GPUs, else the k lowest free. 0 when fewer than k are free.
 * Pure: for placers outside the scheduler (the glidein pilot). */
uint64_t wfmpi_sched_pick_gpus(uint64_t free_mask, uint32_t k, uint32_t n_gpus,
                               const uint32_t *group);
/* After restore() of a READY or RUNNING task, before the first next():
 * set the retries it has used to `used` (failed attempts that were retried,
 * as the checkpoint counts them), instead of restore()'s estimate from its
 * attempts, which also counts attempts that were interrupted (drain, lost
 * pilot) although those use no retry. Capped at the task's retries.
 * WFMPI_E_INPUT after the first next()/claim() or for a task in another
 * state. */
int wfmpi_sched_restore_retries(struct wfmpi_sched *s, uint32_t task, uint32_t used);
/* Glidein service after its restart, before the first claim(): the restored
 * READY task's last attempt (attempts(), cut off by the restart) is RUNNING
 * again, because a pilot may still be running it and report it; complete()
 * then judges that attempt as usual. Claimed-style: it holds no node
 * resources, so use it only on a scheduler driven by claim(). WFMPI_E_INPUT
 * after the first next()/claim(), for a task that is not READY or never
 * started. */
int wfmpi_sched_restore_running(struct wfmpi_sched *s, uint32_t task);

#endif /* WFMPI_SCHED_H */
