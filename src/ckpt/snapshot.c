/* state.h5: the HDF5 snapshot. Layout (docs/checkpoint.md): root attributes
 * format_version, wfmpi_version, workflow_name, workflow_hash, journal_seq,
 * work_dir; datasets tasks (compound), task_ids and task_details (UTF-8
 * strings), task_hashes (u64), events (compound), runs (compound),
 * workflow_yaml, and what each task is: transformations (strings),
 * task_xform, task_cores, task_gpus (u32), task_cmd, task_stdout,
 * task_stderr (strings). The task info datasets and work_dir came later
 * within format 1: readers treat them as optional.
 * Compound members are matched by name on read, so adding members later keeps
 * old files readable.
 *
 * Every dataset this version writes, and the root group of each file, carry
 * a `crc32` attribute (checksum.c says what it sums). A file with one
 * carries them everywhere: a table or a root without its checksum there is
 * damage, and so is a mismatch; files written before checksums (no crc32
 * anywhere) are read as they are. Loaded tables are also checked against
 * what any run can write (ckpt_state_check). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* What a table's crc32 sums (checksum.c): its strings, or its rows' bytes.
 * The dataset's file type is the memory type it is written from, so HDF5
 * stores those bytes as they are, padding included. */
static uint32_t slice_crc(uint32_t crc, bool strings, const void *rows, size_t n, size_t elem)
{
    return strings ? ckpt_crc_strings(crc, rows, n) : ckpt_crc_bytes(crc, rows, n * elem);
}

/* A table that is summed is written and read a slice of rows at a time
 * (about 1 MiB), each summed right after HDF5 has copied it: the sum then
 * reads rows from the cache, not from memory a second time (a 10^5-task
 * snapshot's tables are 17 MB). */
#define SLICE_BYTES ((size_t)1 << 20)

/* H5Dwrite n rows from src, or H5Dread them into dst (src NULL), in
 * slices, summing each into *crc. */
static int io_slices(hid_t ds, hid_t type, size_t n, const void *src, void *dst, uint32_t *crc)
{
    bool strings = H5Tis_variable_str(type) > 0;
    size_t elem = strings ? sizeof(char *) : H5Tget_size(type);
    hsize_t step = elem && SLICE_BYTES / elem ? SLICE_BYTES / elem : 1;
    hid_t fspace = H5Dget_space(ds);
    int rc = fspace < 0 ? -1 : 0;
    for (hsize_t at = 0; rc == 0 && at < n; at += step) {
        hsize_t start[1] = {at}, count[1] = {n - at < step ? n - at : step};
        const unsigned char *from = src ? (const unsigned char *)src + at * elem : NULL;
        unsigned char *to = src ? NULL : (unsigned char *)dst + at * elem;
        hid_t mspace = H5Screate_simple(1, count, NULL);
        if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
            rc = -1;
        else if (from ? H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, from) < 0
                      : H5Dread(ds, type, mspace, fspace, H5P_DEFAULT, to) < 0)
            rc = -1;
        else
            *crc = slice_crc(*crc, strings, from ? from : to, (size_t)count[0], elem);
        if (mspace >= 0)
            H5Sclose(mspace);
    }
    if (fspace >= 0)
        H5Sclose(fspace);
    return rc;
}

/* The CRC-32 of ds's raw data as it lies in the file, read with pread
 * through the descriptor HDF5 holds, not through HDF5: for a table of
 * strings these are its references (length, heap collection, index), and
 * HDF5 1.10 follows a damaged heap index out of bounds (a crash, not an
 * error), so they are checked before HDF5 reads the strings. Datasets are
 * contiguous (HDF5's default layout): one extent at H5Dget_offset. */
static int refs_crc(hid_t ds, uint32_t *crc)
{
    hsize_t size = H5Dget_storage_size(ds);
    haddr_t at = H5Dget_offset(ds);
    hid_t f = H5Iget_file_id(ds);
    int *fd = NULL;
    int rc = f >= 0 && H5Fget_vfd_handle(f, H5P_DEFAULT, (void **)&fd) >= 0 && fd ? 0 : -1;
    if (rc == 0 && size && at == HADDR_UNDEF)
        rc = -1;
    unsigned char buf[65536];
    *crc = 0;
    for (hsize_t done = 0; rc == 0 && done < size;) {
        size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
        ssize_t got = pread(*fd, buf, want, (off_t)(at + done));
        if (got <= 0)
            rc = -1;
        else
            *crc = ckpt_crc_bytes(*crc, buf, (size_t)got);
        done += got > 0 ? (hsize_t)got : 0;
    }
    if (f >= 0)
        H5Fclose(f);
    return rc;
}

/* Write a 1-D dataset of n elements and its crc32 (a table of strings also
 * its refs_crc32, once its references are in the file); owns type. With
 * known, crc is the rows' sum already (the events' running sum); else
 * summed as they are written. */
static int write_1d_summed(hid_t file, const char *name, hid_t type, size_t n, const void *data,
                           bool known, uint32_t crc)
{
    hsize_t dims[1] = {n};
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t ds = H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint32_t sum = 0, refs = 0;
    int rc = ds < 0  ? -1
             : known ? (n ? H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0)
                     : io_slices(ds, type, n, data, NULL, &sum);
    crc = known ? crc : sum;
    if (rc >= 0 && ds >= 0 && write_attr(ds, "crc32", H5T_NATIVE_UINT32, &crc) < 0)
        rc = -1;
    if (rc >= 0 && ds >= 0 && H5Tis_variable_str(type) > 0 &&
        (H5Dflush(ds) < 0 || refs_crc(ds, &refs) < 0 ||
         write_attr(ds, "refs_crc32", H5T_NATIVE_UINT32, &refs) < 0))
        rc = -1;
    if (ds >= 0)
        H5Dclose(ds);
    H5Sclose(space);
    H5Tclose(type);
    return ds < 0 || rc < 0 ? WFMPI_E_HDF5 : 0;
}

static int write_1d(hid_t file, const char *name, hid_t type, size_t n, const void *data)
{
    return write_1d_summed(file, name, type, n, data, false, 0);
}

/* A string attribute, summed into *crc (the root's crc32, written last). */
static int write_str_attr(hid_t obj, const char *name, const char *value, uint32_t *crc)
{
    hid_t t = str_type();
    int rc = write_attr(obj, name, t, &value);
    H5Tclose(t);
    *crc = ckpt_crc_attr_str(*crc, name, value);
    return rc;
}

static int write_meta(hid_t f, const struct snapshot_meta *meta)
{
    int version = WFMPI_CKPT_FORMAT_VERSION;
    uint32_t crc = ckpt_crc_attr_u64(0, "format_version", (uint32_t)version, 4);
    int rc = write_attr(f, "format_version", H5T_NATIVE_INT, &version);
    if (rc == 0)
        rc = write_str_attr(f, "wfmpi_version", WFMPI_VERSION, &crc);
    if (rc == 0)
        rc = write_str_attr(f, "workflow_name", meta->name, &crc);
    if (rc == 0)
        rc = write_str_attr(f, "workflow_hash", meta->hash, &crc);
    crc = ckpt_crc_attr_u64(crc, "journal_seq", meta->journal_seq, 8);
    if (rc == 0)
        rc = write_attr(f, "journal_seq", H5T_NATIVE_UINT64, &meta->journal_seq);
    if (rc == 0 && meta->work_dir[0])
        rc = write_str_attr(f, "work_dir", meta->work_dir, &crc);
    if (rc == 0)
        rc = write_str_attr(f, "plan_file", meta->plan_file, &crc);
    if (rc == 0)
        rc = write_attr(f, "crc32", H5T_NATIVE_UINT32, &crc);
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
    uint32_t crc = 0;
    int rc = write_str_attr(f, "workflow_hash", meta->hash, &crc);
    if (rc == 0)
        rc = write_attr(f, "crc32", H5T_NATIVE_UINT32, &crc);
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

/* The events' crc32, summing only the rows appended since the last call
 * (see struct ckpt_state). */
static uint32_t events_crc(struct ckpt_state *st)
{
    if (st->events_summed > st->n_events) {
        st->events_crc = 0;
        st->events_summed = 0;
    }
    st->events_crc = ckpt_crc_bytes(st->events_crc, st->events + st->events_summed,
                                    (st->n_events - st->events_summed) * sizeof(*st->events));
    st->events_summed = st->n_events;
    return st->events_crc;
}

static int write_dynamic(hid_t f, const struct snapshot_meta *meta, struct ckpt_state *st)
{
    int rc = write_meta(f, meta);
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
        rc = write_1d_summed(f, "events", event_type(), st->n_events, st->events, true,
                             events_crc(st));
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
    /* HDF5 1.8's file format, not 1.0's (the default): its superblock,
     * object headers (attributes and each dataset's type, shape and
     * place) and indexes carry checksums that HDF5 checks on every read.
     * Ours cover the rest (checksum.c). Any HDF5 since 1.8 reads it. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t f = fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0
                  ? H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)
                  : -1;
    if (fapl >= 0)
        H5Pclose(fapl);
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
    struct ckpt_state *st;
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

int snapshot_write(const char *run_dir, const struct snapshot_meta *meta, struct ckpt_state *st,
                   const char *const *ids, const uint64_t *hashes, const struct ckpt_taskinfo *ti,
                   const char *yaml, size_t yaml_len, struct wfmpi_error *err)
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

#define DAMAGED "the snapshot is damaged; move the run dir aside or use --fresh"
/* The plan file holds only what the plan says: a rerun of the same
 * workflow writes it again when it is gone. */
#define PLAN_DAMAGED                                                                               \
    "the plan file is damaged; remove it and rerun the same workflow, which writes it again, or "  \
    "use --fresh"
#define MISSING "is missing, or its HDF5 metadata fails its checksum"

/* One file of a snapshot open for reading (state.h5 or the plan file): the
 * name its messages give, and whether it was written with checksums. */
struct h5in {
    hid_t f;
    char path[PATH_MAX + 80];
    bool sums; /* its root and every table carry a crc32 that must match */
    const char *advice; /* what to do about damage */
    uint32_t crc; /* the root attributes read so far, summed as written */
    struct wfmpi_error *err;
};

/* Refuse the file: "PATH: WHAT: the snapshot is damaged; ...". */
static int damaged(struct h5in *in, const char *fmt, ...) WFMPI_PRINTF(2, 3);
static int damaged(struct h5in *in, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return wfmpi_error_set(in->err, WFMPI_E_CORRUPT, "%s: %s: %s", in->path, what, in->advice);
}

/* Open path (state.h5, or a plan file) read-only. It was written with
 * checksums when its root or its key table (the one every reader of it
 * needs) has a crc32: a flipped bit cannot take away both, so damage never
 * passes for a file that predates checksums. */
static int in_open(struct h5in *in, const char *path, bool plan, struct wfmpi_error *err)
{
    const char *key = plan ? "task_ids" : "tasks";
    memset(in, 0, sizeof(*in));
    in->err = err;
    in->advice = plan ? PLAN_DAMAGED : DAMAGED;
    snprintf(in->path, sizeof(in->path), "%s", path);
    in->f = -1;
    if (access(path, F_OK) < 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: %s", path, strerror(errno));
    /* Damage to what HDF5 checksums itself (in files written in HDF5
     * 1.8's format, see write_h5_atomic) ends here, or at H5Aopen/H5Dopen. */
    if ((in->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                               "%s: not a readable HDF5 file (cut short, or its HDF5 metadata "
                               "fails its checksum): %s",
                               path, in->advice);
    in->sums =
        H5Aexists(in->f, "crc32") > 0 || (H5Lexists(in->f, key, H5P_DEFAULT) > 0 &&
                                          H5Aexists_by_name(in->f, key, "crc32", H5P_DEFAULT) > 0);
    return 0;
}

static void in_close(struct h5in *in)
{
    if (in->f >= 0)
        H5Fclose(in->f);
    in->f = -1;
}

static int read_attr(struct h5in *in, hid_t obj, const char *name, hid_t type, void *out)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Aread(a, type, out);
    if (a >= 0)
        H5Aclose(a);
    return rc < 0 ? damaged(in,
                            "attribute '%s' is missing, or the HDF5 metadata holding it fails "
                            "its checksum",
                            name)
                  : 0;
}

/* Root attributes, each summed into in->crc as the writer summed it. */
static int in_attr_i32(struct h5in *in, const char *name, int32_t *out)
{
    int rc = read_attr(in, in->f, name, H5T_NATIVE_INT32, out);
    if (rc == 0)
        in->crc = ckpt_crc_attr_u64(in->crc, name, (uint32_t)*out, 4);
    return rc;
}

static int in_attr_u64(struct h5in *in, const char *name, uint64_t *out)
{
    int rc = read_attr(in, in->f, name, H5T_NATIVE_UINT64, out);
    if (rc == 0)
        in->crc = ckpt_crc_attr_u64(in->crc, name, *out, 8);
    return rc;
}

/* An optional attribute that is absent is "" and not summed: the writer
 * left it out. The sum is of the whole value, whatever fits in out. */
static int in_attr_str(struct h5in *in, const char *name, char *out, size_t size, bool optional)
{
    out[0] = '\0';
    if (optional && H5Aexists(in->f, name) <= 0)
        return 0;
    hid_t t = str_type();
    char *s = NULL;
    int rc = read_attr(in, in->f, name, t, &s);
    if (rc == 0) {
        snprintf(out, size, "%s", s ? s : "");
        in->crc = ckpt_crc_attr_str(in->crc, name, s ? s : "");
        H5free_memory(s);
    }
    H5Tclose(t);
    return rc;
}

/* The root attributes read so far against the root's crc32. */
static int in_check_root(struct h5in *in)
{
    if (!in->sums)
        return 0;
    uint32_t want = 0;
    if (H5Aexists(in->f, "crc32") <= 0)
        return damaged(in, "its attributes have no checksum");
    int rc = read_attr(in, in->f, "crc32", H5T_NATIVE_UINT32, &want);
    if (rc == 0 && want != in->crc)
        rc = damaged(in, "its attributes fail their checksum");
    return rc;
}

/* state.h5's root attributes, in the order write_meta writes (and sums)
 * them. A newer format is refused before anything in it is believed. */
static int read_meta(struct h5in *in, struct snapshot_meta *meta)
{
    int32_t version = 0;
    char writer[64];
    int rc = in_attr_i32(in, "format_version", &version);
    meta->format_version = version;
    if (rc == 0 && version > WFMPI_CKPT_FORMAT_VERSION)
        return wfmpi_error_set(in->err, WFMPI_E_VERSION,
                               "%s: format version %d is newer than this wfmpi reads (%d)",
                               in->path, version, WFMPI_CKPT_FORMAT_VERSION);
    if (rc == 0)
        rc = in_attr_str(in, "wfmpi_version", writer, sizeof(writer), true);
    if (rc == 0)
        rc = in_attr_str(in, "workflow_name", meta->name, sizeof(meta->name), false);
    if (rc == 0)
        rc = in_attr_str(in, "workflow_hash", meta->hash, sizeof(meta->hash), false);
    if (rc == 0)
        rc = in_attr_u64(in, "journal_seq", &meta->journal_seq);
    if (rc == 0)
        rc = in_attr_str(in, "work_dir", meta->work_dir, sizeof(meta->work_dir), true);
    if (rc == 0)
        rc = in_attr_str(in, "plan_file", meta->plan_file, sizeof(meta->plan_file), true);
    if (rc == 0)
        rc = in_check_root(in);
    if (rc == 0 && strchr(meta->plan_file, '/'))
        rc = damaged(in, "attribute 'plan_file' is not a file name");
    return rc;
}

/* The file holding the static per-task data: the plan file named by a
 * format-2 state.h5 (opened into *sf), or state.h5 itself for format 1
 * (*sf a copy of *in). The plan file must belong to the same workflow: one
 * from elsewhere is damage, not data. On failure nothing is left open. */
static int open_static(const char *run_dir, struct h5in *in, const struct snapshot_meta *meta,
                       struct h5in *sf)
{
    if (!meta->plan_file[0]) {
        *sf = *in;
        return 0;
    }
    char path[PATH_MAX + 80], hash[WFMPI_SHA256_HEX_LEN];
    snprintf(path, sizeof(path), "%s/%s", run_dir, meta->plan_file);
    int rc = in_open(sf, path, true, in->err);
    if (rc == 0)
        rc = in_attr_str(sf, "workflow_hash", hash, sizeof(hash), false);
    if (rc == 0)
        rc = in_check_root(sf);
    if (rc == 0 && strcmp(hash, meta->hash) != 0)
        rc = damaged(sf, "it is the plan file of another workflow");
    if (rc < 0)
        in_close(sf);
    return rc;
}

static void close_static(struct h5in *sf, const struct h5in *in)
{
    if (sf->f >= 0 && sf->f != in->f)
        in_close(sf);
}

bool snapshot_plan_file_ok(const char *path, const char *hash)
{
    quiet_hdf5();
    struct h5in in;
    char h[WFMPI_SHA256_HEX_LEN] = "";
    /* Only a plan file with checksums is kept: one written before them is
     * written again, once, from the plan in hand. */
    bool ok = in_open(&in, path, true, NULL) == 0 && in.sums &&
              in_attr_str(&in, "workflow_hash", h, sizeof(h), false) == 0 &&
              in_check_root(&in) == 0 && strcmp(h, hash) == 0;
    in_close(&in);
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

/* The crc32 a table carries: 1 with *want set, 0 when the file predates
 * checksums, or the error of a table that should carry one and does not. */
static int table_sum(struct h5in *in, hid_t ds, const char *name, uint32_t *want)
{
    if (H5Aexists(ds, "crc32") <= 0)
        return in->sums ? damaged(in, "table '%s' has no checksum", name) : 0;
    int rc = read_attr(in, ds, "crc32", H5T_NATIVE_UINT32, want);
    return rc < 0 ? rc : 1;
}

/* The crc32 of the n rows of ds as stored, for a file whose datatype is
 * not the one read with (members a later version added, another byte
 * order): read once more as stored. */
static int sum_stored(hid_t ds, size_t n, uint32_t *crc)
{
    hid_t ft = H5Dget_type(ds);
    size_t size = ft >= 0 ? H5Tget_size(ft) : 0;
    void *raw = ft >= 0 ? malloc(n && size ? n * size : 1) : NULL;
    int rc = raw ? 0 : ft < 0 ? WFMPI_E_CORRUPT : -ENOMEM;
    if (rc == 0 && n && H5Dread(ds, ft, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
        rc = WFMPI_E_CORRUPT;
    if (rc == 0)
        *crc = ckpt_crc_bytes(0, raw, n * size);
    free(raw);
    if (ft >= 0)
        H5Tclose(ft);
    return rc;
}

/* Read n rows of ds as type into out; when check, sum them as the writer
 * did into *crc: this version's files store the type read with (or are
 * strings), so the rows read are what was summed, a slice at a time. */
static int read_rows(hid_t ds, hid_t type, size_t n, void *out, bool check, uint32_t *crc)
{
    *crc = 0;
    if (n == 0)
        return 0;
    hid_t ft = check ? H5Dget_type(ds) : -1;
    bool as_stored = check && (H5Tis_variable_str(type) > 0 || (ft >= 0 && H5Tequal(ft, type) > 0));
    if (ft >= 0)
        H5Tclose(ft);
    if (as_stored)
        return io_slices(ds, type, n, NULL, out, crc) < 0 ? WFMPI_E_CORRUPT : 0;
    if (H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        return WFMPI_E_CORRUPT;
    return check ? sum_stored(ds, n, crc) : 0;
}

/* A table of strings' references against its refs_crc32, before HDF5
 * follows them (refs_crc). */
static int check_refs(struct h5in *in, hid_t ds, const char *name)
{
    uint32_t want = 0, got = 0;
    if (H5Aexists(ds, "refs_crc32") <= 0)
        return in->sums ? damaged(in, "table '%s' has no checksum of its references", name) : 0;
    int rc = read_attr(in, ds, "refs_crc32", H5T_NATIVE_UINT32, &want);
    if (rc == 0 && refs_crc(ds, &got) < 0)
        rc = damaged(in, "table '%s' cannot be read", name);
    if (rc == 0 && got != want)
        rc = damaged(in, "table '%s' fails its checksum (its references)", name);
    return rc;
}

/* Read a whole 1-D table into a malloc'd array (owns type), checking it
 * against its crc32 when it has one. */
static int read_1d(struct h5in *in, const char *name, hid_t type, size_t elem, void **out,
                   size_t *n_out)
{
    hsize_t n = 0;
    uint32_t want = 0, got = 0;
    hid_t ds = open_1d(in->f, name, &n);
    int rc = ds < 0 || n > UINT32_MAX ? damaged(in, "table '%s' " MISSING, name)
                                      : table_sum(in, ds, name, &want);
    bool check = rc == 1;
    rc = rc < 0 ? rc : 0;
    if (rc == 0 && check && H5Tis_variable_str(type) > 0)
        rc = check_refs(in, ds, name);
    if (rc == 0 && !(*out = calloc(n ? n : 1, elem)))
        rc = -ENOMEM;
    if (rc == 0 && read_rows(ds, type, n, *out, check, &got) < 0)
        rc = damaged(in, "table '%s' cannot be read", name);
    if (rc == 0 && check && got != want)
        rc = damaged(in, "table '%s' fails its checksum", name);
    if (ds >= 0)
        H5Dclose(ds);
    H5Tclose(type);
    *n_out = n;
    return rc;
}

static int rows_expected(struct h5in *in, const char *name, size_t n, size_t n_expect)
{
    if (n == n_expect)
        return 0;
    return damaged(in, "table '%s' has %zu rows where %zu are expected", name, n, n_expect);
}

/* A table of strings as HDF5 allocated them (checked; free_raw_strings). */
static int read_raw_strings(struct h5in *in, const char *name, uint32_t n_expect, char ***raw)
{
    size_t n = 0;
    *raw = NULL;
    int rc = read_1d(in, name, str_type(), sizeof(char *), (void **)raw, &n);
    if (rc == 0)
        rc = rows_expected(in, name, n, n_expect);
    if (rc < 0) {
        for (size_t i = 0; *raw && i < n; i++)
            H5free_memory((*raw)[i]);
        free(*raw);
        *raw = NULL;
    }
    return rc;
}

static void free_raw_strings(char **raw, uint32_t n)
{
    for (uint32_t i = 0; raw && i < n; i++)
        H5free_memory(raw[i]);
    free(raw);
}

/* Strings are copied out of HDF5's allocations so callers free with free(). */
static int read_strings(struct h5in *in, const char *name, uint32_t n, char ***out)
{
    char **raw = NULL;
    int rc = read_raw_strings(in, name, n, &raw);
    char **copy = rc == 0 ? calloc(n ? n : 1, sizeof(char *)) : NULL;
    if (rc == 0 && !copy)
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (!(copy[i] = strdup(raw[i] ? raw[i] : "")))
            rc = -ENOMEM;
    }
    free_raw_strings(raw, rc == 0 || raw ? n : 0);
    if (rc < 0 && copy) {
        for (uint32_t i = 0; i < n; i++)
            free(copy[i]);
        free(copy);
        copy = NULL;
    }
    *out = copy;
    return rc;
}

/* Checksums of produced files; absent in snapshots written before them. */
static int read_files(struct h5in *in, struct ckpt_state *st)
{
    if (H5Lexists(in->f, "file_tasks", H5P_DEFAULT) <= 0)
        return 0;
    uint32_t *tasks = NULL;
    char **lfns = NULL, **sums = NULL;
    size_t n = 0;
    int rc = read_1d(in, "file_tasks", H5Tcopy(H5T_NATIVE_UINT32), 4, (void **)&tasks, &n);
    if (rc == 0)
        rc = read_strings(in, "file_lfns", (uint32_t)n, &lfns);
    if (rc == 0)
        rc = read_strings(in, "file_sha256", (uint32_t)n, &sums);
    if (rc == 0 && !(st->files = calloc(n ? n : 1, sizeof(*st->files))))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (tasks[i] >= st->n_tasks || strlen(sums[i]) != 64) {
            rc = damaged(in,
                         "table 'file_tasks' row %zu: task %u of %u, or a checksum of %zu digits",
                         i, tasks[i], st->n_tasks, strlen(sums[i]));
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

/* The tables of state.h5 (in) and, when ids or hashes are wanted, of the
 * static file (sf). */
static int read_tables(struct h5in *in, struct h5in *sf, struct ckpt_state *st, char ***ids,
                       uint64_t **hashes)
{
    size_t n = 0, m = 0;
    int rc = read_1d(in, "tasks", task_type(), sizeof(*st->tasks), (void **)&st->tasks, &n);
    st->n_tasks = (uint32_t)n;
    if (rc == 0 && !(st->details = calloc(n ? n : 1, sizeof(char *))))
        rc = -ENOMEM;
    if (rc == 0 && ids)
        rc = read_strings(sf, "task_ids", st->n_tasks, ids);
    char **details = NULL;
    if (rc == 0)
        rc = read_strings(in, "task_details", st->n_tasks, &details);
    for (uint32_t i = 0; rc == 0 && i < st->n_tasks; i++) {
        if (details[i][0])
            st->details[i] = details[i];
        else
            free(details[i]);
    }
    free(details);
    if (rc == 0 && hashes)
        rc = read_1d(sf, "task_hashes", H5Tcopy(H5T_NATIVE_UINT64), 8, (void **)hashes, &m);
    if (rc == 0 && hashes)
        rc = rows_expected(sf, "task_hashes", m, n);
    if (rc == 0)
        rc = read_1d(in, "events", event_type(), sizeof(*st->events), (void **)&st->events,
                     &st->n_events);
    st->cap_events = st->n_events;
    if (rc == 0)
        rc = read_1d(in, "runs", run_type(), sizeof(*st->runs), (void **)&st->runs, &st->n_runs);
    st->cap_runs = st->n_runs;
    return rc ? rc : read_files(in, st);
}

/* Hand the first error on to err: the one that says what is wrong where,
 * else rc with what the caller was doing. */
static int hand_on(struct wfmpi_error *err, const struct wfmpi_error *e, int rc, const char *path,
                   const char *what)
{
    if (rc >= 0)
        return rc;
    if (e->code)
        return wfmpi_error_set(err, e->code, "%s", e->text);
    return wfmpi_error_set(err, rc, "%s: %s (%s)", path, what, wfmpi_strerror(rc));
}

/* The tables of one snapshot, checked against what a run can write. */
static int read_checked(const char *run_dir, struct h5in *in, struct snapshot_meta *meta,
                        struct ckpt_state *st, char ***ids, uint64_t **hashes,
                        const char *same_hash)
{
    bool skip = same_hash && strcmp(same_hash, meta->hash) == 0;
    struct h5in sf = {.f = -1};
    int rc = skip ? 0 : open_static(run_dir, in, meta, &sf);
    if (rc == 0)
        rc = read_tables(in, &sf, st, skip ? NULL : ids, skip ? NULL : hashes);
    close_static(&sf, in);
    struct wfmpi_error why = {0};
    if (rc == 0 && ckpt_state_check(st, &why) < 0)
        rc = damaged(in, "%s", why.text);
    return rc;
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
    struct wfmpi_error e = {0};
    struct h5in in;
    int rc = in_open(&in, path, false, &e);
    if (rc == 0)
        rc = read_meta(&in, meta);
    if (rc == 0)
        rc = read_checked(run_dir, &in, meta, st, ids, hashes, same_hash);
    in_close(&in);
    return hand_on(err, &e, rc, path, "damaged or incomplete snapshot");
}

/* ------------------------------------------------------ task info (read) */

static int read_u32s(struct h5in *in, const char *name, uint32_t n_expect, uint32_t **out)
{
    size_t n = 0;
    int rc = read_1d(in, name, H5Tcopy(H5T_NATIVE_UINT32), sizeof(uint32_t), (void **)out, &n);
    return rc == 0 ? rows_expected(in, name, n, n_expect) : rc;
}

static int read_taskinfo(struct h5in *in, struct ckpt_taskinfo *ti)
{
    hsize_t n = 0;
    hid_t ds = open_1d(in->f, "transformations", &n);
    if (ds >= 0)
        H5Dclose(ds);
    if (ds < 0 || n == 0 || n > UINT32_MAX)
        return damaged(in, "table 'transformations' " MISSING);
    ti->n_xforms = (uint32_t)n;
    int rc = read_strings(in, "transformations", ti->n_xforms, &ti->xforms);
    if (rc == 0)
        rc = read_u32s(in, "task_xform", ti->n_tasks, &ti->xform);
    for (uint32_t i = 0; rc == 0 && i < ti->n_tasks; i++) {
        if (ti->xform[i] >= ti->n_xforms)
            rc = damaged(in, "table 'task_xform' row %u: transformation %u of %u", i, ti->xform[i],
                         ti->n_xforms);
    }
    if (rc == 0)
        rc = read_u32s(in, "task_cores", ti->n_tasks, &ti->cores);
    if (rc == 0)
        rc = read_u32s(in, "task_gpus", ti->n_tasks, &ti->gpus);
    return rc;
}

/* Open the file with the static per-task data (see open_static) read-only
 * into *sf (in_close it), having checked state.h5's attributes, and learn
 * the task count from state.h5's task table. */
static int open_snapshot(const char *run_dir, struct h5in *sf, uint32_t *n_tasks,
                         struct wfmpi_error *err)
{
    quiet_hdf5();
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    if (access(path, F_OK) < 0)
        return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: not a readable HDF5 file", path);
    struct h5in in;
    struct snapshot_meta meta;
    hsize_t n = 0;
    int rc = in_open(&in, path, false, err);
    if (rc == 0)
        rc = read_meta(&in, &meta);
    hid_t ds = rc == 0 ? open_1d(in.f, "tasks", &n) : -1;
    if (ds >= 0)
        H5Dclose(ds);
    if (rc == 0 && (ds < 0 || n > UINT32_MAX))
        rc = damaged(&in, "table 'tasks' " MISSING);
    if (rc == 0)
        rc = open_static(run_dir, &in, &meta, sf);
    if (rc < 0 || sf->f != in.f)
        in_close(&in);
    *n_tasks = (uint32_t)n;
    return rc;
}

int snapshot_read_taskinfo(const char *run_dir, struct ckpt_taskinfo *ti, struct wfmpi_error *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    memset(ti, 0, sizeof(*ti));
    struct wfmpi_error e = {0};
    struct h5in sf;
    int rc = open_snapshot(run_dir, &sf, &ti->n_tasks, &e);
    if (rc < 0)
        return hand_on(err, &e, rc, path, "damaged or incomplete snapshot");
    rc = H5Lexists(sf.f, "transformations", H5P_DEFAULT) > 0 ? read_taskinfo(&sf, ti) : 0;
    in_close(&sf);
    if (rc < 0) {
        uint32_t n = ti->n_tasks;
        ckpt_taskinfo_fini(ti);
        ti->n_tasks = n;
    }
    return hand_on(err, &e, rc, path, "damaged task info");
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

/* The strings of table `name` at the given rows. A table with a checksum
 * is read whole, since only the whole can be checked; one written before
 * checksums by point selection. */
static int read_string_rows(struct h5in *in, const char *name, uint32_t n_tasks,
                            const uint32_t *idx, uint32_t n, char **out)
{
    if (!in->sums)
        return read_string_points(in->f, name, idx, n, out);
    char **raw = NULL;
    int rc = read_raw_strings(in, name, n_tasks, &raw);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (idx[i] >= n_tasks)
            rc = WFMPI_E_INPUT;
        else if (!(out[i] = strdup(raw[idx[i]] ? raw[idx[i]] : "")))
            rc = -ENOMEM;
    }
    free_raw_strings(raw, raw ? n_tasks : 0);
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

static int read_cmds(struct h5in *in, uint32_t n_tasks, const uint32_t *tasks, uint32_t n,
                     struct wfmpi_ckpt_task_cmd *out)
{
    if (H5Lexists(in->f, "task_cmd", H5P_DEFAULT) <= 0)
        return 0;
    char **tmp = calloc(n ? n : 1, sizeof(char *));
    if (!tmp)
        return -ENOMEM;
    static const char *const names[3] = {"task_cmd", "task_stdout", "task_stderr"};
    int rc = 0;
    for (int k = 0; rc == 0 && k < 3; k++) {
        memset(tmp, 0, (n ? n : 1) * sizeof(char *));
        rc = read_string_rows(in, names[k], n_tasks, tasks, n, tmp);
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
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    uint32_t n_tasks = 0;
    memset(out, 0, n * sizeof(*out));
    struct wfmpi_error e = {0};
    struct h5in sf;
    int rc = open_snapshot(run_dir, &sf, &n_tasks, &e);
    if (rc < 0)
        return hand_on(err, &e, rc, path, "damaged or incomplete snapshot");
    rc = read_cmds(&sf, n_tasks, tasks, n, out);
    in_close(&sf);
    if (rc == 0)
        rc = fill_empty(out, n);
    if (rc < 0) {
        for (uint32_t i = 0; i < n; i++)
            wfmpi_ckpt_task_cmd_fini(&out[i]);
    }
    return hand_on(err, &e, rc, path, "cannot read task commands");
}

/* A table is there and, in a file with checksums, carries one; nothing is
 * read (the probe must stay cheap at any size). */
static int probe_table(struct h5in *in, const char *name)
{
    if (H5Lexists(in->f, name, H5P_DEFAULT) <= 0)
        return damaged(in, "table '%s' is missing", name);
    if (in->sums && H5Aexists_by_name(in->f, name, "crc32", H5P_DEFAULT) <= 0)
        return damaged(in, "table '%s' has no checksum", name);
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
    struct wfmpi_error e = {0};
    struct h5in in, sf = {.f = -1};
    struct snapshot_meta meta;
    int rc = in_open(&in, path, false, &e);
    if (rc == 0)
        rc = read_meta(&in, &meta);
    static const char *const tables[] = {"tasks", "task_details", "events", "runs"};
    for (size_t k = 0; rc == 0 && k < sizeof(tables) / sizeof(tables[0]); k++)
        rc = probe_table(&in, tables[k]);
    if (rc == 0)
        rc = open_static(run_dir, &in, &meta, &sf);
    if (rc == 0)
        rc = probe_table(&sf, "task_ids");
    if (rc == 0)
        rc = probe_table(&sf, "task_hashes");
    close_static(&sf, &in);
    in_close(&in);
    return hand_on(err, &e, rc, path, "damaged or incomplete snapshot");
}

/* ------------------------------------------------------------- probe */

/* The checksums cover every table and the references into HDF5's global
 * heap, but not the heap's own object headers (their sizes), which HDF5
 * 1.10 trusts: a bit flipped there can make the library read out of bounds
 * or loop (54 of 9,453 single-bit flips of a small state.h5 did; none was
 * ever accepted). So the first read of a run dir's snapshot happens in a
 * child process, which reads everything the real read will and exits: a
 * crash or a hang there (probe_limit, generous: a 10^6-task snapshot reads
 * in about a second) is a damaged snapshot, refused, instead of a crashed
 * or hung wfmpi. The child calls nothing of MPI and leaves with
 * _exit, so a rank 0 may fork it. Costs one more read of the snapshot. */
#define SNAPSHOT_PROBE_S 600

/* A minute, and a second more per 2 MB of snapshot (a slow parallel file
 * system), at most SNAPSHOT_PROBE_S. */
static unsigned probe_limit(const char *run_dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/state.h5", run_dir);
    struct stat st;
    off_t mb = stat(path, &st) == 0 ? st.st_size >> 20 : 0;
    off_t s = 60 + mb / 2;
    return (unsigned)(s < SNAPSHOT_PROBE_S ? s : SNAPSHOT_PROBE_S);
}

static _Noreturn void probe_child(const char *run_dir)
{
    /* A hang ends in SIGALRM's default action. WFMPI_SNAPSHOT_PROBE_S
     * shortens the limit for tests of it. */
    const char *limit = getenv("WFMPI_SNAPSHOT_PROBE_S");
    long s = limit ? strtol(limit, NULL, 10) : 0;
    alarm(s > 0 && s < SNAPSHOT_PROBE_S ? (unsigned)s : probe_limit(run_dir));
    struct snapshot_meta meta;
    struct ckpt_state st;
    char **ids = NULL;
    uint64_t *hashes = NULL;
    struct wfmpi_error e = {0};
    int rc = snapshot_read(run_dir, &meta, &st, &ids, &hashes, NULL, &e);
    struct ckpt_taskinfo ti = {0};
    if (rc == 0)
        rc = snapshot_read_taskinfo(run_dir, &ti, &e);
    /* And the plan file's commands and log paths, which analyze reads. */
    uint32_t *all = rc == 0 ? malloc((st.n_tasks ? st.n_tasks : 1) * sizeof(uint32_t)) : NULL;
    struct wfmpi_ckpt_task_cmd *cmds =
        all ? calloc(st.n_tasks ? st.n_tasks : 1, sizeof(*cmds)) : NULL;
    for (uint32_t i = 0; cmds && i < st.n_tasks; i++)
        all[i] = i;
    if (cmds)
        rc = wfmpi_ckpt_load_cmds(run_dir, all, st.n_tasks, cmds, &e);
    _exit(rc < 0 ? 2 : 0); /* no atexit handlers: none of the parent's are ours to run */
}

int snapshot_probe(const char *run_dir, struct wfmpi_error *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0; /* cannot probe: the read itself will do */
    if (pid == 0)
        probe_child(run_dir);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return 0;
    }
    if (!WIFSIGNALED(status))
        return 0; /* read, or refused: the real read says why */
    int sig = WTERMSIG(status);
    return wfmpi_error_set(err, WFMPI_E_CORRUPT,
                           "%s/state.h5: the snapshot is damaged: reading it %s the HDF5 library "
                           "(signal %d); move the run dir aside or use --fresh",
                           run_dir, sig == SIGALRM ? "hung" : "crashed", sig);
}
