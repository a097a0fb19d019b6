/* wfmpi abstract workflow: Pegasus 5.0 YAML (workflow + replica, transformation
 * and site catalogs) loaded into a compact, read-only model.
 *
 * The model is what the file says, nothing resolved: jobs, their uses,
 * arguments, profiles, explicit dependencies, and the catalogs. Resolution
 * (transformations, file edges, resources) is the planner's job (plan.h).
 *
 * Layout: every record lives in one flat array of the view; a record refers to
 * its children by a range [first, first+count) into another array, and to
 * strings by interned id (0 = absent). Nothing in the model is a pointer web,
 * so a million-job workflow costs a few dozen allocations.
 *
 * Every record carries the position where it was written (file:line:col), so
 * the planner can report errors at the right place.
 *
 * Called on the master only (rank 0), or in a single-process command.
 */
#ifndef WFMPI_WF_H
#define WFMPI_WF_H

#include <stdint.h>

#include "wfmpi/util.h"

/* Bounds against hostile input. Exceeding one is an input error, never a hang
 * or an out-of-memory kill. */
#define WFMPI_WF_MAX_FILE_BYTES ((size_t)2 << 30) /* one YAML file */
#define WFMPI_WF_MAX_SCALAR_BYTES ((size_t)16 << 20) /* one scalar */
#define WFMPI_WF_MAX_DEPTH 64 /* nesting of collections */
#define WFMPI_WF_MAX_ALIAS_NODES ((size_t)1 << 22) /* nodes reached via aliases */

/* A place in an input file; lines and columns are 1-based, file is a string id
 * of the path as given (relative paths stay relative). */
struct wfmpi_wf_pos {
    uint32_t file;
    uint32_t line;
    uint32_t col;
};

struct wfmpi_wf_range {
    uint32_t first;
    uint32_t count;
};

enum wfmpi_wf_link {
    WFMPI_WF_LINK_NONE = 0,
    WFMPI_WF_LINK_INPUT,
    WFMPI_WF_LINK_OUTPUT,
    WFMPI_WF_LINK_INOUT,
    WFMPI_WF_LINK_CHECKPOINT,
};

enum wfmpi_wf_job_type {
    WFMPI_WF_JOB = 0, /* `type: job`, or no type at all */
    WFMPI_WF_PEGASUS_WORKFLOW, /* sub-workflow given by `file` */
    WFMPI_WF_CONDOR_WORKFLOW, /* `condorWorkflow`: kept, planner rejects it */
};

/* Boolean flags of a `uses` entry. Defaults when absent follow the Pegasus
 * API: stageOut and registerReplica true, the others false. */
enum {
    WFMPI_WF_USE_STAGE_OUT = 1u << 0,
    WFMPI_WF_USE_REGISTER_REPLICA = 1u << 1,
    WFMPI_WF_USE_OPTIONAL = 1u << 2,
    WFMPI_WF_USE_BYPASS = 1u << 3,
    WFMPI_WF_USE_EXECUTABLE = 1u << 4,
    WFMPI_WF_USE_FOR_PLANNING = 1u << 5,
};

/* A key/value pair: metadata entries, and profiles (with a namespace).
 * Numbers are kept as written ("1", "1.1", "10240"). */
struct wfmpi_wf_profile {
    uint32_t ns; /* "env", "pegasus", "condor", "dagman", "globus", "hints", "selector", or 0 */
    uint32_t key;
    uint32_t value;
    struct wfmpi_wf_pos pos; /* of the value */
};

struct wfmpi_wf_hook {
    uint32_t on; /* "never" | "start" | "error" | "success" | "end" | "all" */
    uint32_t cmd;
    struct wfmpi_wf_pos pos;
};

struct wfmpi_wf_use {
    uint32_t lfn;
    uint8_t link; /* enum wfmpi_wf_link */
    uint8_t flags; /* WFMPI_WF_USE_* */
    uint64_t size; /* bytes; 0 when absent */
    uint32_t ns, version; /* for executable uses; 0 when absent */
    struct wfmpi_wf_range metadata; /* into view.profiles (ns = 0) */
    struct wfmpi_wf_pos pos; /* of the `lfn` value */
};

struct wfmpi_wf_job {
    uint32_t id;
    uint8_t type; /* enum wfmpi_wf_job_type */
    uint32_t name; /* transformation name (type job) */
    uint32_t ns; /* transformation namespace, 0 when absent */
    uint32_t version; /* transformation version, 0 when absent */
    uint32_t file; /* sub-workflow file (pegasusWorkflow), else 0 */
    uint32_t node_label;
    uint32_t stdin_lfn, stdout_lfn, stderr_lfn;
    struct wfmpi_wf_range args; /* into view.args: one string id each */
    struct wfmpi_wf_range uses; /* into view.uses */
    struct wfmpi_wf_range profiles; /* into view.profiles */
    struct wfmpi_wf_range metadata; /* into view.profiles (ns = 0) */
    struct wfmpi_wf_range hooks; /* into view.hooks */
    struct wfmpi_wf_pos pos; /* of the job's mapping */
    struct wfmpi_wf_pos id_pos; /* of the `id` value */
    struct wfmpi_wf_pos stdio_pos[3]; /* of the stdin, stdout, stderr values (when given) */
};

/* One parent -> child edge from jobDependencies; indexes into view.jobs. */
struct wfmpi_wf_dep {
    uint32_t parent;
    uint32_t child;
    struct wfmpi_wf_pos pos; /* of the child id in `children` */
};

/* One (lfn, pfn, site) of the replica catalog. An entry with several pfns
 * gives several records with the same lfn. */
struct wfmpi_wf_replica {
    uint32_t lfn;
    uint32_t pfn;
    uint32_t site;
    uint32_t sha256; /* checksum as written (the planner checks it is hex), 0 when absent */
    uint8_t regex;
    struct wfmpi_wf_range metadata;
    struct wfmpi_wf_pos pos; /* of the pfn value (the lfn's when no pfns) */
    struct wfmpi_wf_pos lfn_pos; /* of the lfn value */
    struct wfmpi_wf_pos sha256_pos; /* of the sha256 value (when given) */
};

enum wfmpi_wf_tc_type {
    WFMPI_WF_TC_INSTALLED = 0,
    WFMPI_WF_TC_STAGEABLE = 1,
};

/* One site entry of a transformation. */
struct wfmpi_wf_tc_site {
    uint32_t name; /* site name */
    uint32_t pfn;
    uint8_t type; /* enum wfmpi_wf_tc_type */
    uint8_t bypass;
    uint32_t arch, os_type, os_release, os_version;
    uint32_t container; /* container name, 0 when none */
    struct wfmpi_wf_range profiles;
    struct wfmpi_wf_range metadata;
    struct wfmpi_wf_pos pos; /* of the site entry's mapping */
    struct wfmpi_wf_pos pfn_pos; /* of the pfn value */
};

struct wfmpi_wf_transformation {
    uint32_t ns, name, version;
    uint32_t sha256;
    struct wfmpi_wf_range sites; /* into view.tc_sites */
    struct wfmpi_wf_range profiles;
    struct wfmpi_wf_range metadata;
    struct wfmpi_wf_range hooks;
    struct wfmpi_wf_range requires; /* into view.strs: "ns::name:version" strings */
    struct wfmpi_wf_pos pos;
    struct wfmpi_wf_pos sha256_pos; /* of the sha256 value (when given) */
};

struct wfmpi_wf_container {
    uint32_t name;
    uint32_t type; /* "docker" | "singularity" | "shifter" (| "apptainer") */
    uint32_t image;
    uint32_t image_site;
    uint32_t sha256;
    uint8_t bypass;
    struct wfmpi_wf_range mounts; /* into view.strs */
    struct wfmpi_wf_range profiles;
    struct wfmpi_wf_range metadata;
    struct wfmpi_wf_pos pos;
    struct wfmpi_wf_pos image_pos; /* of the image value */
    struct wfmpi_wf_pos sha256_pos; /* of the sha256 value (when given) */
};

struct wfmpi_wf_file_server {
    uint32_t url;
    uint32_t operation; /* "all" | "get" | "put" */
};

struct wfmpi_wf_directory {
    uint32_t type; /* "sharedScratch", "localStorage", ... */
    uint32_t path;
    uint8_t shared_file_system;
    struct wfmpi_wf_range file_servers; /* into view.file_servers */
};

struct wfmpi_wf_site {
    uint32_t name;
    uint32_t arch, os_type, os_release, os_version;
    struct wfmpi_wf_range directories; /* into view.directories */
    struct wfmpi_wf_range profiles;
    struct wfmpi_wf_pos pos;
};

/* The whole model, read-only. Arrays are owned by the wfmpi_wf. */
struct wfmpi_wf_view {
    uint32_t path; /* string id of the workflow file path */
    uint32_t name; /* workflow name */
    uint32_t pegasus_version; /* as written: "5.0", "5.0.4" */
    struct wfmpi_wf_range profiles; /* workflow-level profiles */
    struct wfmpi_wf_range metadata;
    struct wfmpi_wf_range hooks;

    const struct wfmpi_wf_job *jobs;
    uint32_t n_jobs;
    const struct wfmpi_wf_dep *deps;
    uint32_t n_deps;
    const uint32_t *args;
    uint32_t n_args;
    const struct wfmpi_wf_use *uses;
    uint32_t n_uses;
    const struct wfmpi_wf_profile *profiles_all; /* profiles and metadata */
    uint32_t n_profiles_all;
    const struct wfmpi_wf_hook *hooks_all;
    uint32_t n_hooks_all;
    const uint32_t *strs; /* string-id lists: requires, mounts */
    uint32_t n_strs;

    const struct wfmpi_wf_replica *replicas;
    uint32_t n_replicas;
    const struct wfmpi_wf_transformation *transformations;
    uint32_t n_transformations;
    const struct wfmpi_wf_tc_site *tc_sites;
    uint32_t n_tc_sites;
    const struct wfmpi_wf_container *containers;
    uint32_t n_containers;
    const struct wfmpi_wf_site *sites;
    uint32_t n_sites;
    const struct wfmpi_wf_directory *directories;
    uint32_t n_directories;
    const struct wfmpi_wf_file_server *file_servers;
    uint32_t n_file_servers;
};

struct wfmpi_wf;

struct wfmpi_wf_options {
    /* Catalog files to load in addition to anything inline. NULL: use Pegasus's
     * convention of replicas.yml / transformations.yml / sites.yml beside the
     * workflow file when they exist. */
    const char *rc_file;
    const char *tc_file;
    const char *sc_file;
    /* Do not look for catalogs beside the workflow file. */
    int no_default_catalogs;
    /* Unknown keys: a warning by default (logged with file:line:col and the
     * closest known key: "did you mean"), an input error when strict. At the
     * workflow's top level they are errors either way (the schema allows
     * only its own keys there); x- keys are vendor extensions, never
     * unknown. */
    int strict;
    /* Share this string table (e.g. to load sub-workflows into the same id
     * space). NULL: the workflow creates and owns its own. Not owned. */
    struct wfmpi_strtab *strtab;
};

/* Load a workflow file and its catalogs. Returns NULL on failure with err set:
 * WFMPI_E_INPUT (message "file:line:col: what was expected"; for a file that
 * is missing, unreadable or no regular file -- a directory, a FIFO, a device
 * -- "file: ..." without a position), WFMPI_E_LIMIT (a bound above was hit,
 * also with file:line:col), or -errno for I/O (message names the file). A
 * FIFO or device is refused without being read or blocking. Unknown keys
 * are logged as warnings (see strict). opt may be NULL. The caller destroys
 * the result. */
struct wfmpi_wf *wfmpi_wf_load(const char *path, const struct wfmpi_wf_options *opt,
                               struct wfmpi_error *err);
/* The same from a buffer; `name` is used in positions and messages. */
struct wfmpi_wf *wfmpi_wf_load_buffer(const char *name, const char *data, size_t len,
                                      const struct wfmpi_wf_options *opt, struct wfmpi_error *err);
void wfmpi_wf_destroy(struct wfmpi_wf *wf);

const struct wfmpi_wf_view *wfmpi_wf_view(const struct wfmpi_wf *wf);
struct wfmpi_strtab *wfmpi_wf_strtab(const struct wfmpi_wf *wf);
/* String for an id, "" for 0. */
const char *wfmpi_wf_str(const struct wfmpi_wf *wf, uint32_t id);
/* The raw text of the main workflow file (for hashing and the checkpoint). */
const char *wfmpi_wf_text(const struct wfmpi_wf *wf, size_t *len);
/* The main workflow file, so its text can be read again later instead of
 * being held in memory: a new descriptor (close-on-exec; the caller closes
 * it), with the file's size and modification time (ns) as loaded, which a
 * later reader compares to notice the file changed in place. Returns -1 for
 * a workflow loaded from a buffer, -errno when dup fails. */
int wfmpi_wf_text_file(const struct wfmpi_wf *wf, uint64_t *size, int64_t *mtime_ns);
/* A file the loader read (the workflow, then its catalogs in the order rc,
 * tc, sc), or a default catalog it looked for and did not find: what a
 * cached plan depends on (plan.h, plan cache). For a file it read, the
 * identity is fstat's of the descriptor it read from. */
struct wfmpi_wf_source {
    uint32_t path; /* string id: absolute path (not resolved through links) */
    uint8_t present; /* 0: looked for (a default catalog) and absent */
    uint64_t dev, ino, size;
    int64_t mtime_ns;
};
/* Owned by wf; *n entries. The main file comes first unless the workflow
 * was loaded from a buffer. */
const struct wfmpi_wf_source *wfmpi_wf_sources(const struct wfmpi_wf *wf, uint32_t *n);
/* Format a position as "file:line:col" into buf; returns buf. */
const char *wfmpi_wf_pos_str(const struct wfmpi_wf *wf, struct wfmpi_wf_pos pos, char *buf,
                             size_t size);

static inline const char *wfmpi_wf_link_name(enum wfmpi_wf_link l)
{
    static const char *const names[] = {"none", "input", "output", "inout", "checkpoint"};
    return (unsigned)l < 5 ? names[l] : "?";
}

#endif /* WFMPI_WF_H */
