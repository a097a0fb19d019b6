/* Public entry points: load a workflow (file or buffer) and its catalogs. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wf_int.h"

static struct wfmpi_wf *wf_create(const struct wfmpi_wf_options *opt)
{
    struct wfmpi_wf *wf = calloc(1, sizeof(*wf));
    if (!wf)
        return NULL;
    wf->fd = -1;
    wf->strict = opt && opt->strict;
    if (opt && opt->strtab) {
        wf->strtab = opt->strtab;
    } else {
        wf->strtab = wfmpi_strtab_create();
        wf->own_strtab = true;
        if (!wf->strtab) {
            free(wf);
            return NULL;
        }
    }
    return wf;
}

void wfmpi_wf_destroy(struct wfmpi_wf *wf)
{
    if (!wf)
        return;
    void *arrays[] = {wf->jobs,     wf->pdeps,           wf->deps,         wf->args,
                      wf->uses,     wf->profiles,        wf->hooks,        wf->strs,
                      wf->replicas, wf->transformations, wf->tc_sites,     wf->containers,
                      wf->sites,    wf->directories,     wf->file_servers, wf->job_index,
                      wf->sources};
    for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
        free(arrays[i]);
    if (wf->text_mapped)
        munmap(wf->text, wf->text_len);
    else
        free(wf->text);
    if (wf->fd >= 0)
        close(wf->fd);
    if (wf->own_strtab)
        wfmpi_strtab_destroy(wf->strtab);
    free(wf);
}

/* A file's text, mapped rather than read: the parser streams through it and
 * drops what it has parsed (wf_yaml.c), so a huge workflow costs the model's
 * memory, not the model's plus the file's. An empty file gets a heap "". */
struct file_text {
    char *data;
    size_t len;
    bool mapped;
    int fd; /* kept open only when asked for (keep_fd), else -1 */
    int64_t mtime_ns;
    struct stat st; /* of the file read */
};

static int read_error(struct wfmpi_error *err, const char *path, int rc)
{
    if (rc == WFMPI_E_LIMIT)
        return wfmpi_error_set(err, rc, "%s:1:1: file larger than %zu bytes", path,
                               WFMPI_WF_MAX_FILE_BYTES);
    return wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc));
}

/* open/stat errors that say the path names nothing readable: the user named
 * the wrong file, bad input (exit 2). Others (EIO, EMFILE, ENOMEM) are the
 * machine's trouble and stay -errno. */
static int open_error(struct wfmpi_error *err, const char *path, const char *what, int e)
{
    static const int input[] = {ENOENT, ENOTDIR, EACCES, EPERM, ELOOP, ENAMETOOLONG, ENXIO, ENODEV};
    for (size_t i = 0; i < sizeof(input) / sizeof(input[0]); i++)
        if (e == input[i])
            return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: cannot read the %s: %s", path, what,
                                   strerror(e));
    return read_error(err, path, -e);
}

static int not_regular(struct wfmpi_error *err, const char *path, const char *what, mode_t mode)
{
    const char *kind = S_ISDIR(mode)    ? "a directory"
                       : S_ISFIFO(mode) ? "a FIFO"
                       : S_ISCHR(mode)  ? "a character device"
                       : S_ISBLK(mode)  ? "a block device"
                       : S_ISSOCK(mode) ? "a socket"
                                        : "of an unknown type";
    return wfmpi_error_set(err, WFMPI_E_INPUT, "%s: the %s is %s, not a regular file", path, what,
                           kind);
}

static void unmap_file(struct file_text *t)
{
    if (t->mapped)
        munmap(t->data, t->len);
    else
        free(t->data);
    if (t->fd >= 0)
        close(t->fd);
    memset(t, 0, sizeof(*t));
    t->fd = -1;
}

/* Open path for reading, refusing anything but a regular file, without ever
 * blocking. The stat comes first so that a device is not even opened (an
 * open can act: a tape rewinds, a watchdog arms). O_NONBLOCK covers the
 * path turning into a FIFO after the stat: open then returns at once where
 * it would wait for a writer forever, and fstat refuses it. The descriptor
 * goes back to blocking reads (wfmpi_wf_text_file reads through it). */
static int open_regular(const char *path, const char *what, struct stat *st,
                        struct wfmpi_error *err)
{
    if (stat(path, st) < 0)
        return open_error(err, path, what, errno);
    if (!S_ISREG(st->st_mode))
        return not_regular(err, path, what, st->st_mode);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return open_error(err, path, what, errno);
    int fl, rc = 0;
    if (fstat(fd, st) < 0)
        rc = read_error(err, path, -errno);
    else if (!S_ISREG(st->st_mode))
        rc = not_regular(err, path, what, st->st_mode);
    else if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        rc = read_error(err, path, -errno);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int map_file(const char *path, const char *what, bool keep_fd, struct file_text *t,
                    struct wfmpi_error *err)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    struct stat st;
    int fd = open_regular(path, what, &st, err);
    if (fd < 0)
        return fd;
    int rc = 0;
    if ((uint64_t)st.st_size > WFMPI_WF_MAX_FILE_BYTES)
        rc = WFMPI_E_LIMIT;
    if (rc == 0 && st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            rc = -errno;
        } else {
            madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
            t->data = p;
            t->len = (size_t)st.st_size;
            t->mapped = true;
        }
    } else if (rc == 0 && !(t->data = calloc(1, 1))) {
        rc = -ENOMEM;
    }
    if (rc == 0)
        t->st = st;
    if (rc == 0 && keep_fd) {
        t->fd = fd;
        t->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    } else {
        close(fd);
    }
    if (rc < 0)
        unmap_file(t);
    return rc < 0 ? read_error(err, path, rc) : 0;
}

/* Parse one YAML text into wf as a document of the given kind. */
static int parse_text(struct wfmpi_wf *wf, const char *path, const char *data, size_t len,
                      bool mapped, enum wf_doc doc, struct wfmpi_error *err)
{
    uint32_t file = wfmpi_strtab_intern_cstr(wf->strtab, path);
    if (!file)
        return wfmpi_error_set(err, -ENOMEM, "%s: out of memory", path);
    struct wf_reader r;
    /* The interned copy of the path outlives the reader (messages use it). */
    int rc = wf_reader_init(&r, wfmpi_strtab_str(wf->strtab, file), file, data, len, err);
    r.drop_behind = mapped;
    if (rc == 0) {
        struct wf_ctx c = {wf, &r, err};
        rc = wf_parse_document(&c, doc);
    }
    wf_reader_fini(&r);
    return rc;
}

/* Record path (as read, with st; or looked for and absent, st NULL) in
 * wf->sources, absolute against the current directory. */
static int add_source(struct wfmpi_wf *wf, const char *path, const struct stat *st,
                      struct wfmpi_error *err)
{
    char cwd[PATH_MAX] = "", abs[2 * PATH_MAX + 2];
    if (path[0] != '/' && !getcwd(cwd, sizeof(cwd)))
        return wfmpi_error_set(err, -errno, "current directory: %s", strerror(errno));
    if (snprintf(abs, sizeof(abs), "%s%s%s", cwd, cwd[0] ? "/" : "", path) >= (int)sizeof(abs))
        return wfmpi_error_set(err, -ENAMETOOLONG, "%s: %s", path, strerror(ENAMETOOLONG));
    struct wfmpi_wf_source src = {.path = wfmpi_strtab_intern_cstr(wf->strtab, abs)};
    if (st) {
        src.present = 1;
        src.dev = (uint64_t)st->st_dev;
        src.ino = (uint64_t)st->st_ino;
        src.size = (uint64_t)st->st_size;
        src.mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    }
    if (!src.path || WFMPI_PUSH(wf->sources, wf->n_sources, wf->sources_cap, src))
        return wfmpi_error_set(err, -ENOMEM, "%s: out of memory", path);
    return 0;
}

static const char *doc_file_name(enum wf_doc doc)
{
    switch (doc) {
    case WF_DOC_RC:
        return "replica catalog file";
    case WF_DOC_TC:
        return "transformation catalog file";
    case WF_DOC_SC:
        return "site catalog file";
    default:
        return "workflow file";
    }
}

static int load_catalog(struct wfmpi_wf *wf, const char *path, enum wf_doc doc,
                        struct wfmpi_error *err)
{
    struct file_text t;
    int rc = map_file(path, doc_file_name(doc), false, &t, err);
    if (rc < 0)
        return rc;
    rc = add_source(wf, path, &t.st, err);
    if (rc == 0)
        rc = parse_text(wf, path, t.data, t.len, t.mapped, doc, err);
    unmap_file(&t);
    return rc;
}

/* The catalog to load for one kind: the option when given (it must exist),
 * else Pegasus's default name beside the workflow when that name exists.
 * Something there that is no readable regular file (a directory, a FIFO, a
 * file without read permission) is loaded too, so that it is refused: it is
 * surely meant as the catalog, and skipping it would plan without. */
static int catalog_path(const char *wf_path, const char *given, const char *def,
                        const struct wfmpi_wf_options *opt, char *buf, size_t size)
{
    if (given) {
        if (snprintf(buf, size, "%s", given) >= (int)size)
            return -ENAMETOOLONG;
        return 1;
    }
    if (opt && opt->no_default_catalogs)
        return 0;
    const char *slash = strrchr(wf_path, '/');
    int dir_len = slash ? (int)(slash - wf_path + 1) : 0;
    if (snprintf(buf, size, "%.*s%s", dir_len, wf_path, def) >= (int)size)
        return -ENAMETOOLONG;
    struct stat st;
    return stat(buf, &st) == 0 || (errno != ENOENT && errno != ENOTDIR) ? 1 : 0;
}

static int load_catalogs(struct wfmpi_wf *wf, const char *wf_path,
                         const struct wfmpi_wf_options *opt, struct wfmpi_error *err)
{
    const struct {
        const char *given, *def;
        enum wf_doc doc;
    } cats[] = {
        {opt ? opt->rc_file : NULL, "replicas.yml", WF_DOC_RC},
        {opt ? opt->tc_file : NULL, "transformations.yml", WF_DOC_TC},
        {opt ? opt->sc_file : NULL, "sites.yml", WF_DOC_SC},
    };
    char path[4096];
    for (size_t i = 0; i < sizeof(cats) / sizeof(cats[0]); i++) {
        int rc = catalog_path(wf_path, cats[i].given, cats[i].def, opt, path, sizeof(path));
        if (rc < 0)
            return wfmpi_error_set(err, rc, "%s: %s", cats[i].given ? cats[i].given : wf_path,
                                   wfmpi_strerror(rc));
        /* A default catalog that is absent now matters too: one that
         * appears later changes the plan. */
        if (rc == 0 && !cats[i].given && !(opt && opt->no_default_catalogs))
            rc = add_source(wf, path, NULL, err);
        else if (rc == 1)
            rc = load_catalog(wf, path, cats[i].doc, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void publish_view(struct wfmpi_wf *wf)
{
    struct wfmpi_wf_view *v = &wf->view;
    v->jobs = wf->jobs;
    v->deps = wf->deps;
    v->args = wf->args;
    v->uses = wf->uses;
    v->profiles_all = wf->profiles;
    v->hooks_all = wf->hooks;
    v->strs = wf->strs;
    v->replicas = wf->replicas;
    v->transformations = wf->transformations;
    v->tc_sites = wf->tc_sites;
    v->containers = wf->containers;
    v->sites = wf->sites;
    v->directories = wf->directories;
    v->file_servers = wf->file_servers;
}

/* Everything after the main text is in wf->text: parse, catalogs, edges. */
static struct wfmpi_wf *load_main(struct wfmpi_wf *wf, const char *path,
                                  const struct wfmpi_wf_options *opt, struct wfmpi_error *err)
{
    int rc = parse_text(wf, path, wf->text, wf->text_len, wf->text_mapped, WF_DOC_WORKFLOW, err);
    /* The parser dropped all but its last steps of the mapped text; the rest
     * goes too (wfmpi_wf_text reads it back from the page cache if asked). */
    if (wf->text_mapped)
        madvise(wf->text, wf->text_len, MADV_DONTNEED);
    if (rc == 0)
        rc = load_catalogs(wf, path, opt, err);
    if (rc == 0)
        rc = wf_resolve_deps(wf, err);
    if (rc == 0 && wf->n_unknown_keys > WF_MAX_KEY_WARNINGS)
        wfmpi_warn("%s: %zu more unknown keys ignored (not shown)", path,
                   wf->n_unknown_keys - WF_MAX_KEY_WARNINGS);
    if (rc < 0) {
        wfmpi_wf_destroy(wf);
        return NULL;
    }
    wf->view.path = wfmpi_strtab_find(wf->strtab, path, strlen(path));
    /* The job index is only needed while loading. */
    free(wf->job_index);
    wf->job_index = NULL;
    wf->job_index_len = wf->job_index_cap = 0;
    publish_view(wf);
    return wf;
}

struct wfmpi_wf *wfmpi_wf_load(const char *path, const struct wfmpi_wf_options *opt,
                               struct wfmpi_error *err)
{
    struct wfmpi_error local;
    if (!err)
        err = &local;
    wfmpi_error_clear(err);
    struct file_text t;
    if (map_file(path, doc_file_name(WF_DOC_WORKFLOW), true, &t, err) < 0)
        return NULL;
    struct wfmpi_wf *wf = wf_create(opt);
    if (!wf) {
        unmap_file(&t);
        wfmpi_error_set(err, -ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    wf->text = t.data;
    wf->text_len = t.len;
    wf->text_mapped = t.mapped;
    wf->fd = t.fd;
    wf->mtime_ns = t.mtime_ns;
    if (add_source(wf, path, &t.st, err) < 0) {
        wfmpi_wf_destroy(wf);
        return NULL;
    }
    return load_main(wf, path, opt, err);
}

struct wfmpi_wf *wfmpi_wf_load_buffer(const char *name, const char *data, size_t len,
                                      const struct wfmpi_wf_options *opt, struct wfmpi_error *err)
{
    struct wfmpi_error local;
    if (!err)
        err = &local;
    wfmpi_error_clear(err);
    if (len > WFMPI_WF_MAX_FILE_BYTES) {
        wfmpi_error_set(err, WFMPI_E_LIMIT, "%s:1:1: input larger than %zu bytes", name,
                        WFMPI_WF_MAX_FILE_BYTES);
        return NULL;
    }
    struct wfmpi_wf *wf = wf_create(opt);
    if (wf)
        wf->text = malloc(len + 1);
    if (!wf || !wf->text) {
        wfmpi_wf_destroy(wf);
        wfmpi_error_set(err, -ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    if (len)
        memcpy(wf->text, data, len);
    wf->text[len] = '\0';
    wf->text_len = len;
    return load_main(wf, name, opt, err);
}

const struct wfmpi_wf_view *wfmpi_wf_view(const struct wfmpi_wf *wf)
{
    return &wf->view;
}

struct wfmpi_strtab *wfmpi_wf_strtab(const struct wfmpi_wf *wf)
{
    return wf->strtab;
}

const char *wfmpi_wf_str(const struct wfmpi_wf *wf, uint32_t id)
{
    const char *s = id ? wfmpi_strtab_str(wf->strtab, id) : NULL;
    return s ? s : "";
}

const char *wfmpi_wf_text(const struct wfmpi_wf *wf, size_t *len)
{
    if (len)
        *len = wf->text_len;
    return wf->text;
}

int wfmpi_wf_text_file(const struct wfmpi_wf *wf, uint64_t *size, int64_t *mtime_ns)
{
    if (wf->fd < 0)
        return -1;
    int fd = fcntl(wf->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    *size = wf->text_len;
    *mtime_ns = wf->mtime_ns;
    return fd;
}

const struct wfmpi_wf_source *wfmpi_wf_sources(const struct wfmpi_wf *wf, uint32_t *n)
{
    *n = (uint32_t)wf->n_sources;
    return wf->sources;
}

const char *wfmpi_wf_pos_str(const struct wfmpi_wf *wf, struct wfmpi_wf_pos pos, char *buf,
                             size_t size)
{
    if (size)
        snprintf(buf, size, "%s:%u:%u", wfmpi_wf_str(wf, pos.file), pos.line, pos.col);
    return buf;
}
