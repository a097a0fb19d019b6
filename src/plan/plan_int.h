/* plan module internals: the plan object and the builder that fills it.
 *
 * A plan is a handful of flat arrays (tasks, string-id lists, files, CSR
 * adjacency) plus the string table, so a million-task plan costs a few
 * dozen allocations. The builder is the same object in the making, plus the
 * raw edge list and an id index that are dropped when it finishes.
 */
#ifndef WFMPI_PLAN_INT_H
#define WFMPI_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wfmpi/plan.h"
#include "wfmpi/wf.h"
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
    struct plan_source *src; /* or the file, read on first use; NULL */
    struct wfmpi_plan_source *sources; /* files planning read (wfmpi_plan_sources) */
    size_t n_sources, cap_sources;

    struct wfmpi_plan_view view; /* filled by finish */
};

struct wfmpi_plan_builder {
    struct wfmpi_plan *p;
    /* parent << 32 | child, in the order added; duplicates allowed. */
    uint64_t *pairs;
    size_t n_pairs, cap_pairs;
    /* Bit per string id: set when that string is a task's id. String ids are
     * dense (1..count), so this finds duplicates with one cache line per
     * task instead of a hash table of tasks. */
    uint64_t *id_bits;
    size_t n_id_words;
    int interned; /* anything interned yet (adopt_strtab must come first) */
    uint32_t *scratch; /* ids of one string spec's args and env */
    size_t cap_scratch;
};

/* The main workflow file of a plan, read only when wfmpi_plan_text is first
 * called (the checkpoint does; `wfmpi plan` never does), so a 400 MB
 * workflow is not held next to its plan. Reached through a pointer: reading
 * it fills this in behind a const plan. */
struct plan_source {
    int fd; /* -1 once read */
    uint64_t size;
    int64_t mtime_ns;
    char *text; /* NULL until read, or when reading failed */
    size_t len;
};

/* Record the workflow text as an open file (taken over: closed by the plan)
 * of the size and mtime it had when parsed. 0 or -ENOMEM (fd closed). */
int plan_builder_set_source_file(struct wfmpi_plan_builder *b, const char *path, int fd,
                                 uint64_t size, int64_t mtime_ns);
void plan_source_destroy(struct plan_source *src);
/* Record the source files of one loaded workflow (wfmpi_wf_sources; path
 * ids of the plan's table), each file once. 0 or -ENOMEM. */
int plan_builder_add_sources(struct wfmpi_plan_builder *b, const struct wfmpi_wf_source *s,
                             uint32_t n);
/* Point the plan's view at its arrays (finish, and a plan loaded from the
 * cache). */
void plan_fill_view(struct wfmpi_plan *p);

/* Size the builder's arrays up front when the caller knows the totals (the
 * YAML planner does), so a million-task plan is not copied by doublings.
 * Purely an optimisation: 0 or -ENOMEM, and adding more still works. */
int plan_builder_reserve(struct wfmpi_plan_builder *b, size_t tasks, size_t strs, size_t files,
                         size_t edges);

/* A task spec whose strings are ids of the plan's string table (0 = none),
 * for callers that share the table (the YAML planner): adding one costs no
 * string lookup at all. Fields mean what they mean in wfmpi_plan_task_spec;
 * args and env are lists of ids ("" and absent both as given). */
struct plan_task_ids {
    uint32_t id, transformation, exe;
    const uint32_t *args;
    uint32_t n_args;
    const uint32_t *env;
    uint32_t n_env;
    uint32_t stdin_path, stdout_path, stderr_path;
    const struct wfmpi_plan_file *files;
    uint32_t n_files;
    uint32_t cores, gpus;
    uint64_t memory_mb;
    double runtime_s, maxwalltime_s, checkpoint_time_s;
    int32_t retries, priority;
    uint32_t category, successmsg, failuremsg, container, site;
    uint8_t kind;
    struct wfmpi_plan_pos pos;
};

/* wfmpi_plan_builder_add_task with ids: the same checks, errors and result. */
int64_t plan_builder_add_task_ids(struct wfmpi_plan_builder *b, const struct plan_task_ids *s,
                                  struct wfmpi_error *err);

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

/* ---------------------------------------------------------------- map
 * uint32 -> uint32 open-addressing map for string ids (key 0 is "empty",
 * which string ids never are). Used to index lfns, names and replicas. */
struct plan_map {
    uint32_t *keys;
    uint32_t *vals;
    size_t cap; /* power of two or 0 */
    size_t n;
};

void plan_map_fini(struct plan_map *m);
/* Value for key, or `dflt` when absent. */
uint32_t plan_map_get(const struct plan_map *m, uint32_t key, uint32_t dflt);
/* Insert or overwrite; 0 or -ENOMEM. */
int plan_map_put(struct plan_map *m, uint32_t key, uint32_t val);

/* ------------------------------------------------------------ planner
 * The YAML planner (planner.c) resolves a loaded workflow (wf.h) and feeds
 * the builder; profiles.c turns profiles into resources and environment,
 * resolve.c finds executables, replicas and inputs. */

#define PLAN_MAX_NESTING 16 /* sub-workflow depth */

/* Quantities that profiles set. */
enum plan_qty {
    PQ_CORES,
    PQ_GPUS,
    PQ_MEMORY,
    PQ_RUNTIME,
    PQ_MAXWALL,
    PQ_CKPT,
    PQ_RETRY,
    PQ_PRIORITY,
    PQ_CATEGORY,
    PQ_SUCCESS,
    PQ_FAILURE,
    PQ_N
};

/* Resources and environment after some profile levels have been applied.
 * env is a small list of (key, value) string ids; later levels replace. */
struct plan_res {
    double num[PQ_N];
    uint32_t str[PQ_N];
    uint8_t set[PQ_N];
};

struct plan_env {
    uint32_t *kv; /* key, value, key, value, ... */
    size_t n, cap; /* pairs */
};

struct plan_keyspec {
    uint32_t ns, key;
    uint8_t qty, rank, kind;
};

/* One resolved (ns, name, version) of a workflow: executable and the
 * profile layers that do not depend on the job (workflow < site <
 * transformation < transformation-site), so each job only adds its own. */
struct plan_tr {
    uint32_t ns, name, version;
    uint32_t next; /* next entry with the same name, UINT32_MAX = end */
    uint32_t label; /* "ns::name:version" */
    uint32_t exe, site, container;
    uint32_t stage_url, stage_sha; /* stageable executable: where from, checksum */
    uint32_t cont; /* index into the workflow's containers, UINT32_MAX = none */
    struct plan_res res;
    uint32_t env_first, env_n; /* into wfc->benv (pairs) */
};

struct plan_input {
    uint32_t site; /* execution site this resolution was made for */
    uint32_t pfn, sha256;
    struct wfmpi_wf_pos from; /* the replica's pfn, or the first use's position */
};

/* Inputs the parent's sub-workflow job hands to an inlined workflow. */
struct plan_provided {
    uint32_t lfn, pfn, sha256;
};

/* Something fetched once for many tasks (data.c): a stageable executable
 * or a container image, into `dest` under the work dir. */
enum plan_fetch_how { PLAN_FETCH_STAGE, PLAN_FETCH_EXE, PLAN_FETCH_PULL };
struct plan_fetch {
    uint32_t name; /* for the task id: transformation or container name */
    uint32_t dest, url, sha; /* sha 0 = none */
    uint8_t how; /* enum plan_fetch_how */
    uint32_t task; /* its task once added, UINT32_MAX before */
};

struct planner {
    const struct wfmpi_plan_options *opt;
    struct wfmpi_strtab *st;
    struct wfmpi_plan_builder *b;
    struct wfmpi_error *err;
    struct plan_keyspec keys[24];
    size_t n_keys;
    uint32_t ns_env, ns_dagman, s_local, s_condorpool, s_incontainer;
    char self_exe[4096];
    char *stack[PLAN_MAX_NESTING + 2]; /* realpaths of the workflows being planned */
    int depth;
    struct wfmpi_wf_pos *task_pos; /* position of each task's job */
    size_t n_task_pos, cap_task_pos;
    /* Copies of the workflow file names (id, malloc'd text): a cycle is found
     * by finish, after the string table went with the builder. */
    struct plan_fname {
        uint32_t id;
        char *name;
    } * fnames;
    size_t n_fnames, cap_fnames;
    double load_s; /* time spent in the loader, for the info log */
    /* Per-job scratch, reused so planning does not allocate per job. */
    struct plan_env env;
    char *sbuf; /* one string being put together (an env entry, a prefixed id) */
    size_t sbuf_cap;
    uint32_t *words; /* string ids of a task's argv words then env entries */
    size_t n_words, cap_words;
    struct wfmpi_plan_file *files;
    size_t n_files, cap_files;
    /* Data tasks (data.c): fetches, and which task needs which fetch. */
    struct plan_fetch *fetch;
    size_t n_fetch, cap_fetch;
    struct plan_map fetch_by_dest;
    uint64_t *needs; /* task << 32 | fetch index */
    size_t n_needs, cap_needs;
    char work_dir[4096]; /* absolute */
    char runtime[4096]; /* container runtime: a path, or a name for PATH */
    char output_site_dir[4096]; /* the local site's localStorage directory, "" = none */
};

/* One workflow being planned (the main one, or an inlined sub-workflow). */
struct plan_wfc {
    struct planner *P;
    struct wfmpi_wf *wf;
    const struct wfmpi_wf_view *v;
    char *dir; /* directory of the workflow file */
    const char *prefix; /* id prefix: "" or "<parent-id>/" */
    const struct plan_provided *provided;
    size_t n_provided;
    struct plan_map producer; /* lfn -> job index */
    struct plan_map tc_by_name; /* name -> first transformation index */
    uint32_t *tc_next;
    struct plan_map rc_by_lfn; /* lfn -> first replica index */
    uint32_t *rc_next;
    struct plan_map tr_by_name; /* name -> first plan_tr index */
    struct plan_tr *tr;
    size_t n_tr, cap_tr;
    struct plan_env benv; /* base environments of tr entries, back to back */
    struct plan_map input_by_lfn; /* lfn -> index into inputs */
    struct plan_input *inputs;
    size_t n_inputs, cap_inputs;
};

/* Error "file:line:col: message" at pos. Returns code. */
int plan_pos_error(struct planner *P, struct wfmpi_wf_pos pos, int code, const char *fmt, ...)
    WFMPI_PRINTF(4, 5);
const char *plan_s(const struct planner *P, uint32_t id);

/* profiles.c */

/* What a numeric profile holds (docs/planning.md, "Resources"). */
enum plan_kind {
    PK_CORES, /* integer 1..PLAN_NUM_MAX */
    PK_COUNT, /* integer 0..PLAN_NUM_MAX */
    PK_MB, /* MB 0..PLAN_NUM_MAX, fractions allowed, MB/M/GB/G may follow */
    PK_SEC, /* seconds 0..PLAN_NUM_MAX, fractions allowed */
    PK_MIN, /* minutes 0..PLAN_NUM_MAX, fractions allowed; stored as seconds */
    PK_SIGNED, /* integer -PLAN_NUM_MAX..PLAN_NUM_MAX (priorities) */
    PK_STR, /* not a number */
};

/* Every numeric profile is within 10^9 of its unit: far beyond any real
 * request, and within what the plan's fields hold with room to spare. */
#define PLAN_NUM_MAX 1000000000LL

/* Parse the profile value s as a kind (enum plan_kind other than PK_STR):
 * blanks around it are fine, then decimal text (strtoll/strtod, errno and
 * end checked), for PK_MB optionally followed by a unit. 0 with *out in the
 * plan's unit (MB, seconds), or WFMPI_E_INPUT with why[size] saying what is
 * wrong as words to follow the quoted value ("is out of range
 * (0..1000000000 MB)", "is not an integer", "is not a number"). */
int plan_parse_number(const char *s, uint8_t kind, double *out, char *why, size_t size);

int plan_keys_init(struct planner *P);
/* Apply one level of profiles (a range of view.profiles_all) to res/env. */
int plan_apply_profiles(struct planner *P, const struct wfmpi_wf_view *v, struct wfmpi_wf_range r,
                        struct plan_res *res, struct plan_env *env);
int plan_env_set(struct plan_env *e, uint32_t key, uint32_t val);
/* Workflow-level dagman "<category>.maxjobs" profiles -> builder categories. */
int plan_categories(struct planner *P, const struct wfmpi_wf_view *v);

/* resolve.c */
int plan_wfc_index(struct plan_wfc *w);
/* Resolve job j's transformation; *out is an index into w->tr. */
int plan_resolve_tr(struct plan_wfc *w, const struct wfmpi_wf_job *job, uint32_t *out);
/* Resolve a workflow input for a job running at `site`; *from is where the
 * pfn was written (a replica's pfn value), else pos. */
int plan_resolve_input(struct plan_wfc *w, uint32_t lfn, uint32_t site, struct wfmpi_wf_pos pos,
                       uint32_t *pfn, uint32_t *sha256, struct wfmpi_wf_pos *from);
/* Path of a sub-workflow file: replica catalog, else beside the workflow.
 * Writes into buf; WFMPI_E_INPUT at pos when neither exists. */
int plan_locate_subwf(struct plan_wfc *w, uint32_t file, struct wfmpi_wf_pos pos, char *buf,
                      size_t size);
/* Local file:// URLs (file:///PATH, file://localhost/PATH) become paths;
 * anything else is returned unchanged. */
const char *plan_url_path(const char *pfn);

/* check.c: what the data tasks would refuse, refused at plan time with the
 * stage module's verdicts (util.h). */
/* True for URLs that need a transfer: a scheme other than file://. */
bool plan_url_remote(const char *pfn);
/* A plain path, or a URL stage-in fetches (wfmpi_url_scheme_of). */
bool plan_url_fetchable(const char *pfn);
/* A plain path or a local file:// URL. */
bool plan_url_local(const char *pfn);
/* WFMPI_E_INPUT at pos unless lfn names a file under the work dir
 * (wfmpi_path_rel_ok, no NUL): "<what> 'lfn' is an absolute path ...". */
int plan_check_lfn(struct planner *P, uint32_t lfn, const char *what, struct wfmpi_wf_pos pos);
/* WFMPI_E_INPUT at pos unless stage-in can fetch pfn (plan_url_fetchable):
 * "<what> '<name>': 'gopher://...' is not a URL the data tasks can fetch". */
int plan_check_fetch(struct planner *P, uint32_t pfn, struct wfmpi_wf_pos pos, const char *what,
                     uint32_t name);
/* Every entry of w's catalogs: replica lfns (but regular expressions) are
 * file names, every checksum (replicas, transformations, containers) is
 * 64 hex digits. */
int plan_check_catalogs(struct plan_wfc *w);
/* A pfn as a task in the work dir can use it: URLs as they are, file://
 * URLs as paths, relative paths made absolute against the workflow file's
 * directory. 0 when out of memory. */
uint32_t plan_abs_pfn(struct plan_wfc *w, uint32_t pfn);
/* Replace the characters that do not belong in one file name ('/', ':',
 * ' ') with '_', in place. */
void plan_file_safe(char *s);

/* planner.c scratch helpers shared with data.c. */
int plan_word_add(struct planner *P, uint32_t id);
int plan_word_add_str(struct planner *P, const char *s, size_t len);
uint32_t plan_intern_concat(struct planner *P, const char *a, size_t al, char sep, const char *b,
                            size_t bl);

/* data.c: containers and data tasks (docs/staging.md). */
int plan_data_init(struct planner *P);
void plan_data_fini(struct planner *P);
/* The words that run a job of t in its container (runtime, its options,
 * the image) go first into P->words, and *exe becomes the runtime; the
 * job's own executable follows as a word. Records the image fetch the task
 * (about to be added) needs. No-op without a container. */
int plan_container_prefix(struct plan_wfc *w, const struct plan_tr *t, uint32_t gpus,
                          uint32_t *exe);
/* The stageable executable of t, fetched once for every job of it. */
int plan_need_exe(struct plan_wfc *w, const struct plan_tr *t);
/* Replace argv words equal to a bypassed input's lfn with its URL. */
int plan_bypass_args(struct planner *P, size_t n_args);
/* The main workflow's site catalog: where stage-out goes by default. */
void plan_output_site(struct planner *P, const struct wfmpi_wf_view *v);
/* After every compute task is in the builder: stage-in, stage-out and
 * cleanup tasks with their edges. */
int plan_data_tasks(struct planner *P);

#endif /* WFMPI_PLAN_INT_H */
