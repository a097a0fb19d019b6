/* wfmpi executable plan: the abstract workflow resolved into tasks that can run.
 *
 * Planning happens once, on the master, before anything runs (like a
 * compiler): sub-workflows are inlined, transformations resolved to
 * executables, arguments split into argv, environments merged, file edges
 * inferred, resources read from profiles, cycles rejected, and each task given
 * its critical-path length. The result is immutable and compact: tasks are one
 * array, strings are interned ids, lists are ranges into shared arrays.
 *
 * Called on the master only (rank 0), or in a single-process command.
 */
#ifndef WFMPI_PLAN_H
#define WFMPI_PLAN_H

#include <stdint.h>

#include "wfmpi/util.h"

/* A slice [first, first+count) of one of the plan's shared arrays. */
struct wfmpi_plan_range {
    uint32_t first;
    uint32_t count;
};

/* A file a task touches. Flags are WFMPI_WF_USE_* from wf.h. */
struct wfmpi_plan_file {
    uint32_t lfn; /* logical name = path relative to the work dir */
    uint8_t link; /* enum wfmpi_wf_link */
    uint8_t flags;
    uint32_t pfn; /* for workflow inputs: the chosen replica URL/path, else 0 */
    uint32_t sha256; /* expected checksum of an input replica, 0 when none */
};

/* What a task is for. Compute tasks are the workflow's jobs; the planner
 * adds data tasks around them as Pegasus does (docs/staging.md). */
enum wfmpi_plan_kind {
    WFMPI_PLAN_COMPUTE = 0,
    WFMPI_PLAN_STAGE_IN, /* fetch inputs, executables, container images */
    WFMPI_PLAN_STAGE_OUT, /* copy outputs to the output dir, register replicas */
    WFMPI_PLAN_CLEANUP, /* remove intermediate files nobody needs any more */
    WFMPI_PLAN_NKINDS
};

/* "compute", "stage-in", "stage-out", "cleanup". */
const char *wfmpi_plan_kind_name(uint8_t kind);

/* Where a task's job is written: a string id of the plan (the workflow or
 * sub-workflow file, as given), 1-based line and column of the job's
 * mapping; file 0 = unknown (data tasks, plans made in code without one).
 * Kept for messages about the task after planning ("fits no node"); not
 * part of the plan's hash (moving a job in its file changes nothing that
 * runs). */
struct wfmpi_plan_pos {
    uint32_t file;
    uint32_t line;
    uint32_t col;
};

struct wfmpi_plan_task;
/* Did an attempt of t that exited non-zero with exit_code find a checksum
 * mismatch? */
int wfmpi_plan_integrity_exit(const struct wfmpi_plan_task *t, int exit_code);

/* A stage-in task exits with this code when a checksum did not match; the
 * master (and the glidein service) record the attempt's reason as "input
 * integrity" instead of a plain exit code. */
#define WFMPI_PLAN_INTEGRITY_EXIT 65

struct wfmpi_plan_task {
    uint32_t id; /* unique; sub-workflow jobs are "<parent-id>/<id>" */
    uint32_t transformation; /* "ns::name:version" as written, for reports */
    uint32_t exe; /* resolved executable path */
    struct wfmpi_plan_range argv; /* into strs: argv[0] is exe, then arguments */
    struct wfmpi_plan_range env; /* into strs: "KEY=VALUE", merged precedence */
    uint32_t stdin_path, stdout_path, stderr_path; /* 0 = none */
    struct wfmpi_plan_range files; /* into files */
    struct wfmpi_plan_range parents; /* into edges_in: task indexes */
    struct wfmpi_plan_range children; /* into edges_out: task indexes */
    uint32_t cores; /* >= 1 */
    uint32_t gpus;
    uint64_t memory_mb; /* 0 = no request */
    double runtime_s; /* estimate (pegasus.runtime), 0 = unknown */
    double maxwalltime_s; /* hard limit (pegasus.maxwalltime * 60), 0 = none */
    double checkpoint_time_s; /* pegasus.checkpoint.time * 60, 0 = none */
    int32_t retries; /* dagman.retry; -1 = the run's default */
    int32_t priority; /* dagman.priority / pmc_priority; higher first */
    double cp_seconds; /* longest estimated path from this task to a leaf, inclusive */
    uint32_t category; /* dagman.category, 0 = none */
    uint32_t successmsg, failuremsg; /* pegasus.exitcode.*, 0 = none */
    uint32_t container; /* container name from the catalog, 0 = none */
    uint32_t site; /* execution site chosen */
    uint8_t kind; /* enum wfmpi_plan_kind */
    struct wfmpi_plan_pos pos; /* where its job is written (12 bytes: ids, no text) */
};

/* A throttle: at most `maxjobs` tasks of `category` run at once. */
struct wfmpi_plan_category {
    uint32_t name;
    uint32_t maxjobs;
};

/* Read-only view of a plan; arrays are owned by the plan. */
struct wfmpi_plan_view {
    uint32_t name; /* workflow name */
    uint32_t path; /* main workflow file */
    const struct wfmpi_plan_task *tasks;
    uint32_t n_tasks;
    const uint32_t *strs; /* string-id lists (argv, env) */
    uint32_t n_strs;
    const struct wfmpi_plan_file *files;
    uint32_t n_files;
    const uint32_t *edges_in; /* parents of each task, grouped by child */
    const uint32_t *edges_out; /* children of each task, grouped by parent */
    uint32_t n_edges;
    const struct wfmpi_plan_category *categories;
    uint32_t n_categories;
};

/* Whole-plan figures, as `wfmpi plan` prints them. */
struct wfmpi_plan_stats {
    uint32_t tasks;
    uint32_t edges;
    uint32_t roots;
    uint32_t leaves;
    uint32_t depth; /* levels: a lone task has depth 1 */
    uint32_t widest; /* most tasks on one level */
    uint32_t cp_tasks; /* tasks on the critical path */
    double cp_seconds; /* estimated length of the critical path */
    uint64_t total_cores;
    uint64_t total_gpus;
    uint64_t total_memory_mb;
    uint32_t gpu_tasks;
    uint32_t no_estimate; /* tasks without a runtime estimate (counted as 1 s each) */
    uint32_t kinds[WFMPI_PLAN_NKINDS]; /* tasks of each kind */
    uint32_t compute_edges; /* edges between compute tasks (the workflow's own) */
};

/* Every field is part of the plan cache's key (src/plan/cache.c, key_options):
 * a new one must be added there too (a static assertion there reminds). */
struct wfmpi_plan_options {
    const char *rc_file, *tc_file, *sc_file; /* as wfmpi_wf_options */
    const char *site; /* execution site; NULL: see docs/planning.md */
    const char *input_dir; /* where unreplicated inputs may already be; NULL: workflow's dir */
    int no_default_catalogs;
    /* Data handling (docs/staging.md). work_dir: absolute directory tasks run
     * in (NULL: the current one), used to see which inputs are already in
     * place and to bind into containers. output_dir: where stage-out copies
     * go (NULL: "output", relative to the work dir). */
    const char *work_dir;
    const char *output_dir;
    int no_stage_out; /* no stage-out tasks at all */
    int no_symlink; /* copy file:// inputs instead of symlinking them */
    int cleanup; /* remove intermediate files once every consumer is done */
    const char *container_runtime; /* "apptainer" | "singularity"; NULL: whichever is on PATH */
    int strict; /* unknown keys are errors, not warnings (wfmpi_wf_options.strict) */
};

struct wfmpi_plan;

/* Load WORKFLOW (and its catalogs and sub-workflows) and plan it. NULL on
 * failure with err set: WFMPI_E_INPUT/WFMPI_E_LIMIT with "file:line:col: ..."
 * or -errno naming the file. Warnings (a pfn missing on this machine, a PATH
 * fallback, unknown keys unless opt->strict) go to the log. */
struct wfmpi_plan *wfmpi_plan_create(const char *path, const struct wfmpi_plan_options *opt,
                                     struct wfmpi_error *err);
void wfmpi_plan_destroy(struct wfmpi_plan *plan);

const struct wfmpi_plan_view *wfmpi_plan_view(const struct wfmpi_plan *plan);
/* String for an id, "" for 0. */
const char *wfmpi_plan_str(const struct wfmpi_plan *plan, uint32_t id);
/* "file:line:col" of task's job into buf (size bytes, truncated to fit);
 * "" when the plan does not know it. Returns buf. */
const char *wfmpi_plan_task_where(const struct wfmpi_plan *plan, uint32_t task, char *buf,
                                  size_t size);
void wfmpi_plan_stats(const struct wfmpi_plan *plan, struct wfmpi_plan_stats *out);
/* Task indexes of one critical path, root first; owned by the plan. */
const uint32_t *wfmpi_plan_critical_path(const struct wfmpi_plan *plan, uint32_t *n);
/* sha256 (hex) over everything that decides what runs: ids, argv, env, files,
 * edges, resources. Equal plans hash equal; used to refuse a resume on a
 * changed workflow. */
void wfmpi_plan_hash(const struct wfmpi_plan *plan, char out[WFMPI_SHA256_HEX_LEN]);
/* The main workflow file's YAML text (for the checkpoint). */
const char *wfmpi_plan_text(const struct wfmpi_plan *plan, size_t *len);
/* Bytes held by the plan, for memory reports. */
size_t wfmpi_plan_bytes(const struct wfmpi_plan *plan);

/* A file planning read (the workflow, its catalogs, its sub-workflows and
 * theirs), or a default catalog it looked for and did not find. */
struct wfmpi_plan_source {
    uint32_t path; /* string id: absolute path */
    uint8_t present; /* 0: looked for and absent */
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};
/* Owned by the plan; *n entries, the main workflow file first. None for a
 * plan made in code. */
const struct wfmpi_plan_source *wfmpi_plan_sources(const struct wfmpi_plan *plan, uint32_t *n);

/* ------------------------------------------------------------ plan cache
 *
 * Planning is like compiling: a rerun of the same command on unchanged
 * inputs can load the compiled plan instead (docs/planning.md, "Plan
 * cache"). The cache is one binary file: magic, format and wfmpi versions,
 * byte-order and struct-size checks, the key, the plan's arrays as they are
 * in memory, its string table, and sha256 checksums. The key is everything
 * planning depends on: the wfmpi binary (path and identity), the workflow
 * path as given, the current directory, PATH, every field of the options,
 * and the identity (absolute path, device, inode, size, mtime) of every
 * source file (wfmpi_plan_sources), absent ones included.
 * Master only. */

/* Save plan, made by wfmpi_plan_create(workflow, opt) in this process, to
 * path crash-safely (temp file, fsync, rename, fsync dir). 0, or a negative
 * code with err set: WFMPI_E_INPUT for a plan with no source files (made in
 * code or from a buffer), -errno for I/O. */
int wfmpi_plan_cache_save(const struct wfmpi_plan *plan, const char *path, const char *workflow,
                          const struct wfmpi_plan_options *opt, struct wfmpi_error *err);
/* The plan wfmpi_plan_create(workflow, opt) would make, loaded from the
 * cache at path when its key still matches; the caller destroys it. Its
 * text (wfmpi_plan_text) is read from the workflow file as for a plan made
 * from YAML. NULL with err set otherwise, and nothing else happens:
 * -ENOENT (no cache), WFMPI_E_STALE (the key differs; the text says what
 * changed), WFMPI_E_VERSION (another format, wfmpi version or machine
 * layout), WFMPI_E_CORRUPT (truncated or damaged), -ENOMEM, -errno. */
struct wfmpi_plan *wfmpi_plan_cache_load(const char *path, const char *workflow,
                                         const struct wfmpi_plan_options *opt,
                                         struct wfmpi_error *err);

/* ------------------------------------------------------------ builder
 *
 * Plans made in code, for the YAML planner itself (which resolves the
 * abstract workflow and then feeds the builder), for tests and for
 * simulations. The builder owns the graph work: edge de-duplication, CSR
 * adjacency, cycle detection, levels, critical paths, statistics and the hash.
 */
struct wfmpi_plan_task_spec {
    const char *id; /* required, unique */
    const char *transformation; /* NULL = none */
    const char *exe; /* required */
    const char *const *args; /* arguments after argv[0] */
    uint32_t n_args;
    const char *const *env; /* "KEY=VALUE" */
    uint32_t n_env;
    const char *stdin_path, *stdout_path, *stderr_path;
    const struct wfmpi_plan_file *files; /* lfn/pfn/sha256 are string ids of the builder */
    uint32_t n_files;
    uint32_t cores; /* 0 is taken as 1 */
    uint32_t gpus;
    uint64_t memory_mb;
    double runtime_s, maxwalltime_s, checkpoint_time_s;
    int32_t retries; /* -1 = default */
    int32_t priority;
    const char *category, *successmsg, *failuremsg, *container, *site;
    uint8_t kind; /* enum wfmpi_plan_kind */
    const char *pos_file; /* where the task is written, for messages; NULL = unknown */
    uint32_t pos_line, pos_col;
};

struct wfmpi_plan_builder;

struct wfmpi_plan_builder *wfmpi_plan_builder_create(const char *name);
/* Frees an unfinished builder. */
void wfmpi_plan_builder_destroy(struct wfmpi_plan_builder *b);
/* Intern a string into the plan being built (for wfmpi_plan_file fields). */
uint32_t wfmpi_plan_builder_intern(struct wfmpi_plan_builder *b, const char *s);
/* Adopt a string table whose ids the caller already uses (the YAML planner
 * shares the loader's); must be called before anything is added. The plan
 * takes ownership of t and destroys it (the builder's own table is dropped). */
void wfmpi_plan_builder_adopt_strtab(struct wfmpi_plan_builder *b, struct wfmpi_strtab *t);
/* Add a task; returns its index (>= 0) or a negative error (-ENOMEM,
 * WFMPI_E_INPUT for a duplicate id, with err set). */
int64_t wfmpi_plan_builder_add_task(struct wfmpi_plan_builder *b,
                                    const struct wfmpi_plan_task_spec *spec,
                                    struct wfmpi_error *err);
/* Add parent -> child (task indexes). Duplicates are fine (kept once); a
 * self-edge is WFMPI_E_INPUT. */
int wfmpi_plan_builder_add_edge(struct wfmpi_plan_builder *b, uint32_t parent, uint32_t child,
                                struct wfmpi_error *err);
int wfmpi_plan_builder_add_category(struct wfmpi_plan_builder *b, const char *name,
                                    uint32_t maxjobs);
/* Store the workflow text and path (for the checkpoint); copied. */
int wfmpi_plan_builder_set_source(struct wfmpi_plan_builder *b, const char *path, const char *text,
                                  size_t len);
/* Finish: build adjacency, check for cycles, compute levels, critical paths,
 * stats and hash. On a cycle returns NULL with WFMPI_E_INPUT and, when
 * cycle/n_cycle are non-NULL, a malloc'd list of the task indexes on one
 * cycle (caller frees). The builder is consumed (destroyed) either way. */
struct wfmpi_plan *wfmpi_plan_builder_finish(struct wfmpi_plan_builder *b, uint32_t **cycle,
                                             uint32_t *n_cycle, struct wfmpi_error *err);

#endif /* WFMPI_PLAN_H */
