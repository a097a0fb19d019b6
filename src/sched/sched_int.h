/* Private to the sched module: the scheduler's state and the helpers that the
 * module's files share.
 *
 * Layout, and why:
 *  - Tasks are grouped into shape classes (cores, GPUs, memory, category), like
 *    HTCondor's autoclusters. Each class has its own ready heap (util's
 *    wfmpi_heap, keyed by priority, critical path, index) and the classes sit
 *    in a small indexed heap ordered by their head task. The best class head is
 *    the best READY task overall, so the global order is exact, and a class
 *    that fits nowhere is set aside as a whole: one O(1) check skips every task
 *    of that shape instead of popping and re-pushing them one by one.
 *  - Nodes sit under a max segment tree (free cores, free GPUs, free memory).
 *    Its root is the global bound that answers "fits nowhere right now" in O(1);
 *    a descent finds the lowest-numbered node that fits in O(log nodes) in the
 *    common case, and an update after an allocation is O(log nodes).
 *  - Everything is allocated in create(): next() and complete() never allocate.
 */
#ifndef WFMPI_SCHED_INT_H
#define WFMPI_SCHED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/sched.h"

/* Classes set aside per next() call before giving up (head-of-line bound). */
#define SCHED_MAX_TRIES 64
#define SCHED_NONE UINT32_MAX
/* sched_task.behind of a standby whose predecessor ended without running (a
 * drain answered it): it holds nothing and never will. */
#define SCHED_ORPHAN (UINT32_MAX - 1)

/* The ready-queue key (priority, critical path, index) never changes during
 * a run, so create() sorts the tasks by it once and the heaps hold each
 * task's position in that order (its "queue rank"): comparing two items is
 * then one integer compare on the heap array itself, with no cache miss into
 * per-task data. At a million tasks that halves the cost of a heap pop. */
struct sched_key {
    int32_t priority;
    uint32_t task;
    double cp_seconds;
};

/* Everything a completion touches for one task, in one record, so that a
 * completion costs few cache misses at a million tasks (the plan's task
 * records are large and are not read on the hot path). */
struct sched_task {
    uint64_t gpu_mask; /* GPUs held while RUNNING */
    uint32_t kids_first; /* children: edges_out[kids_first .. + kids_count) */
    uint32_t kids_count;
    uint32_t qrank; /* position in the ready order */
    uint32_t waiting; /* parents not DONE yet */
    uint32_t attempts; /* attempts started (the next one is attempts + 1) */
    uint32_t failures; /* failed attempts: retries used */
    uint32_t node; /* while RUNNING */
    uint32_t rank; /* while RUNNING */
    uint32_t cls; /* shape class */
    /* Standby (wfmpi_sched_next_behind): the task queued behind this one on
     * its rank, and the task this one is queued behind while it holds no
     * resources yet (SCHED_ORPHAN: that one never ran); SCHED_NONE when
     * none. Standbys can chain: a standby may have one of its own. */
    uint32_t standby;
    uint32_t behind;
    uint32_t node_pos; /* while holding node resources: index in its node's run list */
    double end_est; /* while RUNNING: when it should end (clock at start + estimate) */
    uint8_t state; /* enum wfmpi_task_state */
};

struct sched_class {
    uint32_t cores;
    uint32_t gpus;
    uint64_t memory_mb;
    uint32_t category; /* index into s->cats + 1; 0 = not throttled */
    uint32_t first_task; /* lowest task index of the class, for messages */
    uint32_t n_tasks;
    uint32_t pos; /* position in the class heap, SCHED_NONE when out */
    struct wfmpi_heap ready;
};

struct sched_node {
    uint64_t free_mem; /* UINT64_MAX when the node does not account memory */
    uint64_t free_gpu_mask;
    uint32_t free_cores;
    uint32_t free_gpus;
    uint32_t gpus;
    uint32_t first_rank;
    uint32_t n_ranks;
    uint32_t gpu_base; /* first entry of this node in s->gpu_owner */
    /* The tasks holding its resources (at most one per core: every task
     * needs one), for the reservation's shadow time (reserve.c). */
    uint32_t *run;
    uint32_t n_run;
};

/* Maximum free resources over a subtree of nodes. */
struct sched_seg {
    uint64_t mem;
    uint32_t cores;
    uint32_t gpus;
};

struct sched_category {
    uint32_t maxjobs; /* 0 = unlimited, as in DAGMan */
    uint32_t running;
};

struct wfmpi_sched {
    const struct wfmpi_plan_view *view;
    uint32_t n_tasks;
    int32_t default_retries;
    uint32_t max_running;
    bool sealed; /* ready heaps built; restore() no longer allowed */
    bool draining;

    struct sched_task *tasks;
    uint32_t *order; /* queue rank -> task */
    uint32_t *stack; /* n_tasks entries, for blocking descendants */

    struct sched_class *classes;
    uint32_t n_classes;
    uint32_t *cheap; /* class heap: class ids, best head first */
    uint32_t cheap_len;

    struct sched_node *nodes;
    uint32_t n_nodes;
    struct sched_seg *seg; /* 2 * seg_base entries; leaves at seg_base + node */
    uint32_t seg_base;
    uint32_t *gpu_owner; /* launching rank per GPU, all nodes flattened */
    uint32_t *gpu_group; /* locality group per GPU (flattened), NULL when no node has one */
    uint32_t *rank_running; /* tasks running per rank */
    uint32_t n_ranks;

    struct sched_category *cats;
    uint32_t n_cats;

    uint32_t count[WFMPI_TASK_NSTATES];
    /* Standbys still waiting behind their predecessor: RUNNING in count[]
     * (they are placed and will start without asking us), but not started:
     * max_running, counts() and the reports leave them out. */
    uint32_t waiting;
    uint32_t retried;
    double time_left; /* seconds until the allocation ends; INFINITY = unknown */
    uint32_t deferred; /* READY tasks set aside: too long for the time left */
    uint32_t *run_lists; /* storage of every node's run list */

    /* EASY backfill (reserve.c): the best READY task that fits nowhere has
     * a reservation on one node: from `resv_time` on (the shadow time: when
     * the tasks there should have freed enough), what it needs there is
     * its; a task behind it in the ready order may start on that node only
     * if it should end by then, or fits in what is left beyond the
     * reservation (resv_extra). resv_class SCHED_NONE: none. */
    bool reservations;
    double clock; /* the caller's clock, seconds (wfmpi_sched_set_clock) */
    uint32_t resv_class, resv_node, resv_qrank;
    double resv_time;
    struct sched_seg resv_extra;
};

/* queue.c: ready order, shape classes and the class heap. */
int sched_order_build(struct wfmpi_sched *s);
int sched_classes_build(struct wfmpi_sched *s, const uint32_t *cat_of_task);
void sched_classes_free(struct wfmpi_sched *s);
void sched_ready_push(struct wfmpi_sched *s, uint32_t task);
/* Pop the head task of class c (which must be in the class heap). */
uint32_t sched_ready_pop(struct wfmpi_sched *s, uint32_t c);
void sched_cheap_insert(struct wfmpi_sched *s, uint32_t c);
void sched_cheap_remove(struct wfmpi_sched *s, uint32_t c);

/* place.c: nodes, the segment tree, GPU and rank choice. */
int sched_nodes_init(struct wfmpi_sched *s, const struct wfmpi_sched_config *cfg,
                     struct wfmpi_error *err);
void sched_nodes_free(struct wfmpi_sched *s);
/* Lowest-numbered node where class c fits now, or SCHED_NONE. */
uint32_t sched_find_node(const struct wfmpi_sched *s, const struct sched_class *c);
/* Take/give back the resources of a task on its node (and update the tree). */
void sched_take(struct wfmpi_sched *s, uint32_t task, uint32_t node,
                struct wfmpi_sched_dispatch *d);
void sched_release(struct wfmpi_sched *s, uint32_t task);
/* After a node's free resources changed: update its path of the tree. */
void sched_seg_update(struct wfmpi_sched *s, uint32_t node);

/* reserve.c: EASY backfill. */
/* What a task is expected to take: its runtime estimate, else its walltime
 * limit, else SCHED_DEFAULT_RUNTIME_S. */
#define SCHED_DEFAULT_RUNTIME_S 3600.0
double sched_estimate(const struct wfmpi_sched *s, uint32_t task);
/* The node for the head of class c (task `task`) now, respecting the
 * reservation; SCHED_NONE when none may take it. */
uint32_t sched_place(struct wfmpi_sched *s, const struct sched_class *c, uint32_t task);
/* Class c (not throttled) fits nowhere and is the best that does not:
 * keep or make its reservation. */
void sched_reserve(struct wfmpi_sched *s, uint32_t c);
void sched_reserve_clear(struct wfmpi_sched *s);
/* May a standby of `task` wait behind `before` (on the reserved node it
 * would hold `before`'s resources past the shadow time)? */
bool sched_standby_allowed(const struct wfmpi_sched *s, uint32_t before, uint32_t task);
/* The node's run list: task starts holding resources there / stops. */
void sched_run_add(struct wfmpi_sched *s, uint32_t node, uint32_t task);
void sched_run_remove(struct wfmpi_sched *s, uint32_t node, uint32_t task);
/* The k GPUs to use out of a node's free mask; see place.c for the policy. */
uint64_t sched_pick_gpus(uint64_t free_mask, uint32_t k, uint32_t n_gpus);
/* The same, knowing each GPU's locality group (group[g], NULL = unknown):
 * k free GPUs of one group when a group has them (the group with the fewest
 * free that suffices, so larger free groups stay whole), else as above. */
uint64_t sched_pick_gpus_near(uint64_t free_mask, uint32_t k, uint32_t n_gpus,
                              const uint32_t *group);
/* Explain why class c fits no node at all (create-time validation), as
 * "WHERE: task 'ID' asks for ..." (no prefix when where is ""). */
int sched_explain_misfit(const struct wfmpi_sched *s, const struct sched_class *c,
                         const char *task_id, const char *where, struct wfmpi_error *err);

#endif /* WFMPI_SCHED_INT_H */
