/* plan module internals: the plan object and the builder that fills it.
 *
 * A plan is a handful of flat arrays (tasks, string-id lists, files, CSR
 * adjacency) plus the string table, so a million-task plan costs a few
 * dozen allocations. The builder is the same object in the making, plus the
 * raw edge list and an id index that are dropped when it finishes.
 */
#ifndef WFMPI_PLAN_INT_H
#define WFMPI_PLAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "wfmpi/plan.h"
#include "wfmpi/util.h"

struct wfmpi_plan {
    struct wfmpi_strtab *strtab; /* owned */
    uint32_t name, path;

    struct wfmpi_plan_task *tasks;
    size_t n_tasks, cap_tasks;
    uint32_t *strs;
    size_t n_strs, cap_strs;
    struct wfmpi_plan_file *files;
    size_t n_files, cap_files;
    uint32_t *edges_in, *edges_out;
    size_t n_edges;
    struct wfmpi_plan_category *categories;
    size_t n_categories, cap_categories;

    uint32_t *cp; /* one critical path, root first */
    uint32_t n_cp;
    struct wfmpi_plan_stats stats;
    char hash[WFMPI_SHA256_HEX_LEN];
    char *text; /* main workflow file, NUL-terminated copy */
    size_t text_len;

    struct wfmpi_plan_view view; /* filled by finish */
};

struct wfmpi_plan_builder {
    struct wfmpi_plan *p;
    /* parent << 32 | child, in the order added; duplicates allowed. */
    uint64_t *pairs;
    size_t n_pairs, cap_pairs;
    /* Open-addressing index: task id string -> task index + 1 (0 = empty). */
    uint32_t *id_slots;
    size_t n_id_slots;
    int interned; /* anything interned yet (adopt_strtab must come first) */
};

/* graph.c: finish's graph work over a plan whose tasks are complete.
 * plan_graph_build sorts and de-duplicates `pairs` (consumed) into CSR; the
 * others need the CSR. */
int plan_graph_build(struct wfmpi_plan *p, uint64_t *pairs, size_t n_pairs);
/* Kahn's algorithm: fills order[] (n_tasks) with a topological order and
 * returns 0, or returns WFMPI_E_INPUT with *cycle (malloc'd) listing one
 * cycle's task indexes parent first. */
int plan_graph_order(const struct wfmpi_plan *p, uint32_t *order, uint32_t **cycle,
                     uint32_t *n_cycle);
/* Levels, critical path values and list, stats. */
int plan_graph_analyze(struct wfmpi_plan *p, const uint32_t *order);
/* Canonical sha256 over what decides what runs. */
int plan_hash_compute(struct wfmpi_plan *p);

/* The weight of a task on the critical path: its runtime estimate, or 1 s
 * when it has none (so longer chains of unknown tasks still rank first). */
static inline double plan_task_weight(const struct wfmpi_plan_task *t)
{
    return t->runtime_s > 0 ? t->runtime_s : 1.0;
}

#endif /* WFMPI_PLAN_INT_H */
