/* state.h5: the HDF5 snapshot. Layout (docs/checkpoint.md): root attributes
 * format_version, wfmpi_version, workflow_name, workflow_hash, journal_seq,
 * work_dir; datasets tasks (compound), task_ids and task_details (UTF-8
 * strings), task_hashes (u64), events (compound), runs (compound),
 * workflow_yaml, and what each task is: transformations (strings),
 * task_xform, task_cores, task_gpus (u32), task_cmd, task_stdout,
 * task_stderr (strings). The task info datasets and work_dir came later
 * within format 1: readers treat them as optional.
 * Compound members are matched by name on read, so adding members later keeps
 * old files readable. */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_int.h"

#define INS(t, s, m, h) H5Tinsert(t, #m, HOFFSET(s, m), h)

static void quiet_hdf5(void)
{
    /* HDF5 prints its error stack to stderr by default; errors are ours to
     * report, with the file name. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static hid_t task_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct wfmpi_ckpt_task));
    INS(t, struct wfmpi_ckpt_task, state, H5T_NATIVE_UINT8);
    INS(t, struct wfmpi_ckpt_task, reason, H5T_NATIVE_UINT8);
    INS(t, struct wfmpi_ckpt_task, attempts, H5T_NATIVE_UINT32);
    INS(t, struct wfmpi_ckpt_task, retries, H5T_NATIVE_UINT32);
    INS(t, struct wfmpi_ckpt_task, exit_code, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_task, signal, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_task, node, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_task, rank, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_task, gpu_mask, H5T_NATIVE_UINT64);
    INS(t, struct wfmpi_ckpt_task, start, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_task, end, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_task, utime, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_task, stime, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_task, maxrss_kb, H5T_NATIVE_INT64);
    return t;
}

static hid_t event_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct wfmpi_ckpt_event));
    INS(t, struct wfmpi_ckpt_event, task, H5T_NATIVE_UINT32);
    INS(t, struct wfmpi_ckpt_event, attempt, H5T_NATIVE_UINT32);
    INS(t, struct wfmpi_ckpt_event, rank, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_event, node, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_event, gpu_mask, H5T_NATIVE_UINT64);
    INS(t, struct wfmpi_ckpt_event, start, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_event, end, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_event, reason, H5T_NATIVE_UINT8);
    INS(t, struct wfmpi_ckpt_event, exit_code, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_event, signal, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_event, utime, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_event, stime, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_event, maxrss_kb, H5T_NATIVE_INT64);
    INS(t, struct wfmpi_ckpt_event, state_after, H5T_NATIVE_UINT8);
    INS(t, struct wfmpi_ckpt_event, run, H5T_NATIVE_UINT32);
    return t;
}

static hid_t run_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(struct wfmpi_ckpt_run));
    INS(t, struct wfmpi_ckpt_run, start, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_run, end, H5T_NATIVE_DOUBLE);
    INS(t, struct wfmpi_ckpt_run, ranks, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_run, nodes, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_run, exit_code, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_run, cores, H5T_NATIVE_INT32);
    INS(t, struct wfmpi_ckpt_run, gpus, H5T_NATIVE_INT32);
    return t;
}

static hid_t str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

/* Write a 1-D dataset of n elements; owns (closes) type. */
static int write_1d(hid_t file, const char *name, hid_t type, size_t n, const void *data)
{
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = ds < 0 ? -1 : n ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(space);
    H5Tclose(type);
    return ds < 0 || rc < 0 ? WFMPI_E_HDF5 : 0;
}

static int write_attr(hid_t obj, const char *name, hid_t type, const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, type, value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return a < 0 || rc < 0 ? WFMPI_E_HDF5 : 0;
}

static int write_str_attr(hid_t obj, const char *name, const char *value)
{
    hid_t t = str_type();
    int rc = write_attr(obj, name, t, &value);
    H5Tclose(t);
    return rc;
}

static int write_meta(hid_t f, const struct snapshot_meta *meta)
{
    int version = WFMPI_CKPT_FORMAT_VERSION;
    int rc = write_attr(f, "format_version", H5T_NATIVE_INT, &version);
    if (rc == 0)
        rc = write_str_attr(f, "wfmpi_version", WFMPI_VERSION);
    if (rc == 0)
        rc = write_str_attr(f, "workflow_name", meta->name);
    if (rc == 0)
        rc = write_str_attr(f, "workflow_hash", meta->hash);
    if (rc == 0)
        rc = write_attr(f, "journal_seq", H5T_NATIVE_UINT64, &meta->journal_seq);
    if (rc == 0 && meta->work_dir[0])
        rc = write_str_attr(f, "work_dir", meta->work_dir);
    return rc;
}

static int write_taskinfo(hid_t f, const struct ckpt_taskinfo *ti)
{
    int rc = write_1d(f, "transformations", str_type(), ti->n_xforms, ti->xforms);
    if (rc == 0)
        rc = write_1d(f, "task_xform", H5Tcopy(H5T_NATIVE_UINT32), ti->n_tasks, ti->xform);
    if (rc == 0)
        rc = write_1d(f, "task_cores", H5Tcopy(H5T_NATIVE_UINT32), ti->n_tasks, ti->cores);
    if (rc == 0)
        rc = write_1d(f, "task_gpus", H5Tcopy(H5T_NATIVE_UINT32), ti->n_tasks, ti->gpus);
    if (rc == 0)
        rc = write_1d(f, "task_cmd", str_type(), ti->n_tasks, ti->cmd);
    if (rc == 0)
        rc = write_1d(f, "task_stdout", str_type(), ti->n_tasks, ti->out);
    if (rc == 0)
        rc = write_1d(f, "task_stderr", str_type(), ti->n_tasks, ti->err);
    return rc;
}

/* The static part: written once per plan (see snapshot_write). */
static int write_static(hid_t f, const struct snapshot_meta *meta, uint32_t n,
                        const char *const *ids, const uint64_t *hashes,
                        const struct ckpt_taskinfo *ti, const char *yaml)
{
    int rc = write_str_attr(f, "workflow_hash", meta->hash);
    if (rc == 0)
        rc = write_1d(f, "task_ids", str_type(), n, ids);
    if (rc == 0)
        rc = write_1d(f, "task_hashes", H5Tcopy(H5T_NATIVE_UINT64), n, hashes);
    if (rc == 0 && yaml)
        rc = write_1d(f, "workflow_yaml", str_type(), 1, &yaml);
    if (rc == 0 && ti && ti->n_tasks == n)
        rc = write_taskinfo(f, ti);
    return rc;
}

/* Checksums of produced files: three parallel datasets (task, lfn, sha256). */
static int write_files(hid_t f, const struct ckpt_state *st)
{
    size_t n = st->n_files;
    uint32_t *tasks = malloc((n ? n : 1) * sizeof(*tasks));
    const char **lfns = malloc((n ? n : 1) * sizeof(*lfns));
    const char **sums = malloc((n ? n : 1) * sizeof(*sums));
    int rc = tasks && lfns && sums ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        tasks[i] = st->files[i].task;
        lfns[i] = st->files[i].lfn;
        sums[i] = st->files[i].sha256;
    }
    if (rc == 0)
        rc = write_1d(f, "file_tasks", H5Tcopy(H5T_NATIVE_UINT32), n, tasks);
    if (rc == 0)
        rc = write_1d(f, "file_lfns", str_type(), n, lfns);
    if (rc == 0)
        rc = write_1d(f, "file_sha256", str_type(), n, sums);
    free(tasks);
    free(lfns);
    free(sums);
    return rc;
}

static int write_dynamic(hid_t f, const struct snapshot_meta *meta, const struct ckpt_state *st)
{
    int rc = write_meta(f, meta);
    if (rc == 0)
        rc = write_str_attr(f, "plan_file", meta->plan_file);
    const char **details = NULL;
    if (rc == 0 && !(details = malloc((st->n_tasks ? st->n_tasks : 1) * sizeof(char *))))
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < st->n_tasks; i++)
        details[i] = st->details[i] ? st->details[i] : "";
    if (rc == 0)
        rc = write_1d(f, "tasks", task_type(), st->n_tasks, st->tasks);
    if (rc == 0)
        rc = write_1d(f, "task_details", str_type(), st->n_tasks, details);
    if (rc == 0)
        rc = write_1d(f, "events", event_type(), st->n_events, st->events);
    if (rc == 0)
        rc = write_1d(f, "runs", run_type(), st->n_runs, st->runs);
    free(details);
    return rc ? rc : write_files(f, st);
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Create path atomically with what fill writes into it. */
typedef int fill_fn(hid_t f, const void *ctx);

static int write_h5_atomic(const char *run_dir, const char *name, fill_fn *fill, const void *ctx,
                           struct wfmpi_error *err)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", run_dir, name);
    snprintf(path, sizeof(path), "%s/%s", run_dir, name);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return wfmpi_error_set(err, WFMPI_E_HDF5, "%s: cannot create", tmp);
    int rc = fill(f, ctx);
    if (H5Fclose(f) < 0 && rc == 0)
        rc = WFMPI_E_HDF5;
    /* Durable before visible, and the rename durable too. */
    if (rc == 0)
        rc = fsync_path(tmp);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_path(run_dir);
    if (rc < 0) {
        unlink(tmp);
        return wfmpi_error_set(err, rc, "%s: cannot write: %s", path, wfmpi_strerror(rc));
    }
    return 0;
}

struct write_ctx {
    const struct snapshot_meta *meta;
    const struct ckpt_state *st;
    const char *const *ids;
    const uint64_t *hashes;
    const struct ckpt_taskinfo *ti;
    const char *yaml;
};

static int fill_static(hid_t f, const void *p)
{
    const struct write_ctx *w = p;
    return write_static(f, w->meta, w->st->n_tasks, w->ids, w->hashes, w->ti, w->yaml);
}

static int fill_dynamic(hid_t f, const void *p)
{
    const struct write_ctx *w = p;
    return write_dynamic(f, w->meta, w->st);
}

/* Plan files other than the current one belong to an older plan of this run
 * dir (--force-resume); once state.h5 names the new one they are garbage. */
static void remove_stale_plans(const char *run_dir, const char *keep)
{
    DIR *d = opendir(run_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "plan-", 5) != 0 || strcmp(e->d_name, keep) == 0)
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", run_dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
}

int snapshot_write(const char *run_dir, const struct snapshot_meta *meta,
                   const struct ckpt_state *st, const char *const *ids, const uint64_t *hashes,
                   const struct ckpt_taskinfo *ti, const char *yaml, size_t yaml_len,
                   struct wfmpi_error *err)
{
    (void)yaml_len;
    quiet_hdf5();
    struct write_ctx w = {meta, st, ids, hashes, ti, yaml};
    char plan[PATH_MAX];
    snprintf(plan, sizeof(plan), "%s/%s", run_dir, meta->plan_file);
    int rc = 0;
    /* Written once per plan; a plan file that is not this plan's (damage,
     * a copy from elsewhere) is rewritten from the plan in hand. */
    if (!snapshot_plan_file_ok(plan, meta->hash))
        rc = write_h5_atomic(run_dir, meta->plan_file, fill_static, &w, err);
    if (rc == 0)
        rc = write_h5_atomic(run_dir, "state.h5", fill_dynamic, &w, err);
    if (rc == 0)
        remove_stale_plans(run_dir, meta->plan_file);
    return rc;
}

/* ------------------------------------------------------------- reading */

static int read_attr(hid_t f, const char *name, hid_t type, void *out)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0)
        return WFMPI_E_CORRUPT;
    herr_t rc = H5Aread(a, type, out);
    H5Aclose(a);
    return rc < 0 ? WFMPI_E_CORRUPT : 0;
}

static int read_str_attr(hid_t f, const char *name, char *out, size_t size)
{
    hid_t t = str_type();
    char *s = NULL;
    int rc = read_attr(f, name, t, &s);
    if (rc == 0) {
        snprintf(out, size, "%s", s ? s : "");
        H5free_memory(s);
    }
    H5Tclose(t);
    return rc;
}

bool snapshot_plan_file_ok(const char *path, const char *hash)
{
    quiet_hdf5();
    if (access(path, F_OK) < 0)
        return false;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char h[WFMPI_SHA256_HEX_LEN] = "";
    bool ok =
        f >= 0 && read_str_attr(f, "workflow_hash", h, sizeof(h)) == 0 && strcmp(h, hash) == 0;
    if (f >= 0)
        H5Fclose(f);
    return ok;
}

/* Open a 1-D dataset and check its length; returns the dataset or -1. */
static hid_t open_1d(hid_t f, const char *name, hsize_t *n)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0)
        return -1;
    hid_t space = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t dims[1] = {0};
    if (nd != 1 || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        H5Sclose(space);
        H5Dclose(ds);
        return -1;
    }
    H5Sclose(space);
    *n = dims[0];
    return ds;
}

/* Read a whole 1-D dataset into a malloc'd array (owns type). */
static int read_1d(hid_t f, const char *name, hid_t type, size_t elem, void **out, size_t *n_out)
{
    hsize_t n = 0;
    hid_t ds = open_1d(f, name, &n);
    int rc = 0;
    if (ds < 0 || n > UINT32_MAX)
        rc = WFMPI_E_CORRUPT;
    else if (!(*out = calloc(n ? n : 1, elem)))
        rc = -ENOMEM;
    else if (n && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
        rc = WFMPI_E_CORRUPT;
    if (ds >= 0)
        H5Dclose(ds);
    H5Tclose(type);
    *n_out = n;
    return rc;
}

/* Strings are copied out of HDF5's allocations so callers free with free(). */
static int read_strings(hid_t f, const char *name, uint32_t n_expect, char ***out)
{
    char **raw = NULL;
    size_t n = 0;
    int rc = read_1d(f, name, str_type(), sizeof(char *), (void **)&raw, &n);
    if (rc == 0 && n != n_expect)
        rc = WFMPI_E_CORRUPT;
    char **copy = rc == 0 ? calloc(n ? n : 1, sizeof(char *)) : NULL;
    if (rc == 0 && !copy)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!(copy[i] = strdup(raw[i] ? raw[i] : "")))
            rc = -ENOMEM;
    }
    for (size_t i = 0; raw && i < n; i++)
        H5free_memory(raw[i]);
    free(raw);
    if (rc < 0 && copy) {
        for (size_t i = 0; i < n; i++)
            free(copy[i]);
        free(copy);
        copy = NULL;
    }
    *out = copy;
    return rc;
}

/* Checksums of produced files; absent in snapshots written before them. */
static int read_files(hid_t f, struct ckpt_state *st)
{
    if (H5Lexists(f, "file_tasks", H5P_DEFAULT) <= 0)
        return 0;
    uint32_t *tasks = NULL;
    char **lfns = NULL, **sums = NULL;
    size_t n = 0;
    int rc = read_1d(f, "file_tasks", H5Tcopy(H5T_NATIVE_UINT32), 4, (void **)&tasks, &n);
    if (rc == 0)
        rc = read_strings(f, "file_lfns", (uint32_t)n, &lfns);
    if (rc == 0)
        rc = read_strings(f, "file_sha256", (uint32_t)n, &sums);
    if (rc == 0 && !(st->files = calloc(n ? n : 1, sizeof(*st->files))))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (tasks[i] >= st->n_tasks || strlen(sums[i]) != 64) {
            rc = WFMPI_E_CORRUPT;
            break;
        }
        st->files[i].task = tasks[i];
        memcpy(st->files[i].sha256, sums[i], 65);
        st->files[i].lfn = lfns[i];
        lfns[i] = NULL;
        st->n_files = st->cap_files = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        free(lfns ? lfns[i] : NULL);
        free(sums ? sums[i] : NULL);
    }
    free(lfns);
    free(sums);
    free(tasks);
    return rc;
}

/* The file holding the static per-task data: the plan file named by a
 * format-2 state.h5 (opened here, caller closes it), or state.h5 itself for
 * format 1. The plan file must belong to the same workflow. */
static hid_t open_static(const char *run_dir, hid_t state)
{
    if (H5Aexists(state, "plan_file") <= 0)
        return state;
    char name[64], hash[WFMPI_SHA256_HEX_LEN], phash[WFMPI_SHA256_HEX_LEN], path[PATH_MAX];
    if (read_str_attr(state, "plan_file", name, sizeof(name)) < 0 || strchr(name, '/') ||
        read_str_attr(state, "workflow_hash", hash, sizeof(hash)) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", run_dir, name);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0 &&
        (read_str_attr(f, "workflow_hash", phash, sizeof(phash)) < 0 || strcmp(hash, phash) != 0)) {
        H5Fclose(f);
        return -1;
    }
    return f;
}

static void close_static(hid_t stat, hid_t state)
{
    if (stat >= 0 && stat != state)
        H5Fclose(stat);
}

static int read_tables(hid_t f, hid_t sf, struct ckpt_state *st, char ***ids, uint64_t **hashes)
{
    size_t n = 0, m = 0;
    int rc = read_1d(f, "tasks", task_type(), sizeof(*st->tasks), (void **)&st->tasks, &n);
    st->n_tasks = (uint32_t)n;
    if (rc == 0 && !(st->details = calloc(n ? n : 1, sizeof(char *))))
        rc = -ENOMEM;
    if (rc == 0 && sf < 0)
        rc = WFMPI_E_CORRUPT;
    if (rc == 0 && ids)
        rc = read_strings(sf, "task_ids", st->n_tasks, ids);
    char **details = NULL;
    if (rc == 0)
        rc = read_strings(f, "task_details", st->n_tasks, &details);
    for (uint32_t i = 0; rc == 0 && i < st->n_tasks; i++) {
        if (details[i][0])
            st->details[i] = details[i];
        else
            free(details[i]);
    }
    free(details);
    if (rc == 0 && hashes)
        rc = read_1d(sf, "task_hashes", H5Tcopy(H5T_NATIVE_UINT64), 8, (void **)hashes, &m);
    if (rc == 0 && hashes && m != n)
        rc = WFMPI_E_CORRUPT;
    if (rc == 0)
        rc = read_1d(f, "events", event_type(), sizeof(*st->events), (void **)&st->events,
                     &st->n_events);
    st->cap_events = st->n_events;
    if (rc == 0)
        rc = read_1d(f, "runs", run_type(), sizeof(*st->runs), (void **)&st->runs, &st->n_runs);
    st->cap_runs = st->n_runs;
    return rc ? rc : read_files(f, st);
}

int snapshot_read(const char *run_dir, struct snapshot_meta *meta, struct ckpt_state *st,
                  char ***ids, uint64_t **hashes, const char *same_hash, struct wfmpi_error *err)
{
    quiet_hdf5();
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    memset(st, 0, sizeof(*st));
    *ids = NULL;
    *hashes = NULL;
    if (access(path, F_OK) < 0)
        return wfmpi_error_set(err, -errno, "%s: %s", path, strerror(errno));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: not a readable HDF5 file", path);
    int rc = read_attr(f, "format_version", H5T_NATIVE_INT, &meta->format_version);
    if (rc == 0 && meta->format_version > WFMPI_CKPT_FORMAT_VERSION)
        rc = WFMPI_E_VERSION;
    if (rc == 0)
        rc = read_str_attr(f, "workflow_name", meta->name, sizeof(meta->name));
    if (rc == 0)
        rc = read_str_attr(f, "workflow_hash", meta->hash, sizeof(meta->hash));
    if (rc == 0)
        rc = read_attr(f, "journal_seq", H5T_NATIVE_UINT64, &meta->journal_seq);
    meta->work_dir[0] = '\0';
    if (rc == 0 && H5Aexists(f, "work_dir") > 0)
        rc = read_str_attr(f, "work_dir", meta->work_dir, sizeof(meta->work_dir));
    if (rc == 0) {
        bool skip = same_hash && strcmp(same_hash, meta->hash) == 0;
        hid_t sf = skip ? f : open_static(run_dir, f);
        rc = read_tables(f, sf, st, skip ? NULL : ids, skip ? NULL : hashes);
        close_static(sf, f);
    }
    H5Fclose(f);
    struct wfmpi_error why = {0};
    if (rc == 0 && ckpt_state_check(st, &why) < 0)
        return wfmpi_error_set(err, why.code,
                               "%s: %s: the snapshot is damaged; move the run dir aside or use "
                               "--fresh",
                               path, why.text);
    if (rc == WFMPI_E_VERSION)
        return wfmpi_error_set(err, rc, "%s: format version %d is newer than this wfmpi reads (%d)",
                               path, meta->format_version, WFMPI_CKPT_FORMAT_VERSION);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: damaged or incomplete snapshot (%s)", path,
                               wfmpi_strerror(rc));
    return 0;
}

/* ------------------------------------------------------ task info (read) */

static int read_u32s(hid_t f, const char *name, uint32_t n_expect, uint32_t **out)
{
    size_t n = 0;
    int rc = read_1d(f, name, H5Tcopy(H5T_NATIVE_UINT32), sizeof(uint32_t), (void **)out, &n);
    return rc == 0 && n != n_expect ? WFMPI_E_CORRUPT : rc;
}

static int read_taskinfo(hid_t f, struct ckpt_taskinfo *ti)
{
    hsize_t n = 0;
    hid_t ds = open_1d(f, "transformations", &n);
    if (ds < 0 || n == 0 || n > UINT32_MAX) {
        if (ds >= 0)
            H5Dclose(ds);
        return WFMPI_E_CORRUPT;
    }
    H5Dclose(ds);
    ti->n_xforms = (uint32_t)n;
    int rc = read_strings(f, "transformations", ti->n_xforms, &ti->xforms);
    if (rc == 0)
        rc = read_u32s(f, "task_xform", ti->n_tasks, &ti->xform);
    for (uint32_t i = 0; rc == 0 && i < ti->n_tasks; i++) {
        if (ti->xform[i] >= ti->n_xforms)
            rc = WFMPI_E_CORRUPT;
    }
    if (rc == 0)
        rc = read_u32s(f, "task_cores", ti->n_tasks, &ti->cores);
    if (rc == 0)
        rc = read_u32s(f, "task_gpus", ti->n_tasks, &ti->gpus);
    return rc;
}

/* Open the file with the static per-task data (see open_static) read-only
 * and learn the task count from state.h5's task table. */
static int open_snapshot(const char *run_dir, char *path, size_t size, hid_t *out,
                         uint32_t *n_tasks, struct wfmpi_error *err)
{
    quiet_hdf5();
    snprintf(path, size, "%s/state.h5", run_dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return wfmpi_error_set(err, access(path, F_OK) < 0 ? WFMPI_E_INPUT : WFMPI_E_CORRUPT,
                               "%s: not a readable HDF5 file", path);
    hsize_t n = 0;
    hid_t ds = open_1d(f, "tasks", &n);
    if (ds >= 0)
        H5Dclose(ds);
    hid_t sf = ds >= 0 && n <= UINT32_MAX ? open_static(run_dir, f) : -1;
    if (sf != f)
        H5Fclose(f);
    if (sf < 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: damaged or incomplete snapshot", path);
    *n_tasks = (uint32_t)n;
    *out = sf;
    return 0;
}

int snapshot_read_taskinfo(const char *run_dir, struct ckpt_taskinfo *ti, struct wfmpi_error *err)
{
    char path[PATH_MAX + 16];
    memset(ti, 0, sizeof(*ti));
    hid_t f = -1;
    int rc = open_snapshot(run_dir, path, sizeof(path), &f, &ti->n_tasks, err);
    if (rc < 0)
        return rc;
    rc = H5Lexists(f, "transformations", H5P_DEFAULT) > 0 ? read_taskinfo(f, ti) : 0;
    H5Fclose(f);
    if (rc < 0) {
        uint32_t n = ti->n_tasks;
        ckpt_taskinfo_fini(ti);
        ti->n_tasks = n;
        return wfmpi_error_set(err, rc, "%s: damaged task info (%s)", path, wfmpi_strerror(rc));
    }
    return 0;
}

/* Read the strings of dataset `name` at the given indexes (point selection),
 * so a few failed tasks' commands cost nothing like the whole table. */
static int read_string_points(hid_t f, const char *name, const uint32_t *idx, uint32_t n,
                              char **out)
{
    hsize_t len = 0;
    hid_t ds = open_1d(f, name, &len);
    if (ds < 0)
        return WFMPI_E_CORRUPT;
    hsize_t *coords = malloc((n ? n : 1) * sizeof(hsize_t));
    char **raw = calloc(n ? n : 1, sizeof(char *));
    int rc = coords && raw ? 0 : -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (idx[i] >= len)
            rc = WFMPI_E_INPUT;
        else
            coords[i] = idx[i];
    }
    hid_t fspace = rc == 0 ? H5Dget_space(ds) : -1;
    hsize_t mdims[1] = {n};
    hid_t mspace = rc == 0 ? H5Screate_simple(1, mdims, NULL) : -1;
    hid_t t = str_type();
    if (rc == 0 && n &&
        (H5Sselect_elements(fspace, H5S_SELECT_SET, n, coords) < 0 ||
         H5Dread(ds, t, mspace, fspace, H5P_DEFAULT, raw) < 0))
        rc = WFMPI_E_CORRUPT;
    for (uint32_t i = 0; i < n && raw; i++) {
        if (rc == 0 && !(out[i] = strdup(raw[i] ? raw[i] : "")))
            rc = -ENOMEM;
        H5free_memory(raw[i]);
    }
    H5Tclose(t);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (fspace >= 0)
        H5Sclose(fspace);
    H5Dclose(ds);
    free(coords);
    free(raw);
    return rc;
}

void wfmpi_ckpt_task_cmd_fini(struct wfmpi_ckpt_task_cmd *c)
{
    if (!c)
        return;
    free(c->cmd);
    free(c->stdout_path);
    free(c->stderr_path);
    memset(c, 0, sizeof(*c));
}

static int fill_empty(struct wfmpi_ckpt_task_cmd *out, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        out[i].cmd = out[i].cmd ? out[i].cmd : strdup("");
        out[i].stdout_path = out[i].stdout_path ? out[i].stdout_path : strdup("");
        out[i].stderr_path = out[i].stderr_path ? out[i].stderr_path : strdup("");
        if (!out[i].cmd || !out[i].stdout_path || !out[i].stderr_path)
            return -ENOMEM;
    }
    return 0;
}

static int read_cmds(hid_t f, const uint32_t *tasks, uint32_t n, struct wfmpi_ckpt_task_cmd *out)
{
    if (H5Lexists(f, "task_cmd", H5P_DEFAULT) <= 0)
        return 0;
    char **tmp = calloc(n ? n : 1, sizeof(char *));
    if (!tmp)
        return -ENOMEM;
    static const char *const names[3] = {"task_cmd", "task_stdout", "task_stderr"};
    int rc = 0;
    for (int k = 0; rc == 0 && k < 3; k++) {
        memset(tmp, 0, (n ? n : 1) * sizeof(char *));
        rc = read_string_points(f, names[k], tasks, n, tmp);
        for (uint32_t i = 0; i < n; i++) {
            char **dst = k == 0 ? &out[i].cmd : k == 1 ? &out[i].stdout_path : &out[i].stderr_path;
            if (rc == 0)
                *dst = tmp[i];
            else
                free(tmp[i]);
        }
    }
    free(tmp);
    return rc;
}

int wfmpi_ckpt_load_cmds(const char *run_dir, const uint32_t *tasks, uint32_t n,
                         struct wfmpi_ckpt_task_cmd *out, struct wfmpi_error *err)
{
    char path[PATH_MAX + 16];
    uint32_t n_tasks = 0;
    memset(out, 0, n * sizeof(*out));
    hid_t f = -1;
    int rc = open_snapshot(run_dir, path, sizeof(path), &f, &n_tasks, err);
    if (rc < 0)
        return rc;
    rc = read_cmds(f, tasks, n, out);
    H5Fclose(f);
    if (rc == 0)
        rc = fill_empty(out, n);
    if (rc < 0) {
        for (uint32_t i = 0; i < n; i++)
            wfmpi_ckpt_task_cmd_fini(&out[i]);
        return wfmpi_error_set(err, rc, "%s: cannot read task commands (%s)", path,
                               wfmpi_strerror(rc));
    }
    return 0;
}

int wfmpi_ckpt_probe(const char *run_dir, struct wfmpi_error *err)
{
    char path[PATH_MAX + 16];
    if (access(run_dir, F_OK) < 0)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: no such run directory", run_dir);
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    if (access(path, F_OK) < 0)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: not a wfmpi run directory (no state.h5)",
                               run_dir);
    quiet_hdf5();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: not a readable HDF5 file", path);
    int version = 0;
    int rc = read_attr(f, "format_version", H5T_NATIVE_INT, &version);
    static const char *const tables[] = {"tasks", "task_details", "events", "runs"};
    for (size_t k = 0; rc == 0 && k < sizeof(tables) / sizeof(tables[0]); k++) {
        if (H5Lexists(f, tables[k], H5P_DEFAULT) <= 0)
            rc = WFMPI_E_CORRUPT;
    }
    hid_t sf = rc == 0 && version <= WFMPI_CKPT_FORMAT_VERSION ? open_static(run_dir, f) : f;
    if (sf < 0 || H5Lexists(sf, "task_ids", H5P_DEFAULT) <= 0 ||
        H5Lexists(sf, "task_hashes", H5P_DEFAULT) <= 0)
        rc = rc ? rc : WFMPI_E_CORRUPT;
    close_static(sf, f);
    H5Fclose(f);
    if (rc == 0 && version > WFMPI_CKPT_FORMAT_VERSION)
        return wfmpi_error_set(err, WFMPI_E_VERSION,
                               "%s: format version %d is newer than this wfmpi reads (%d)", path,
                               version, WFMPI_CKPT_FORMAT_VERSION);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: damaged or incomplete snapshot (%s)", path,
                               wfmpi_strerror(rc));
    return 0;
}
