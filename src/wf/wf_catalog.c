/* Replica, transformation and site catalog entries, inline or from files. */
#include <stdlib.h>
#include <string.h>

#include "wf_int.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int oom(struct wf_ctx *c)
{
    return wfmpi_error_set(c->err, -ENOMEM, "out of memory");
}

/* Match a scalar against allowed values; error lists them. */
static int get_enum(struct wf_ctx *c, const char *what, const struct wf_node *n,
                    const char *const *names, size_t count, const char *expected, size_t *idx)
{
    const struct wf_node *t = wf_deref(n);
    if (t->kind != WF_NODE_SCALAR || wf_is_null(t))
        return wf_fail(c, n, "expected a string for '%s', found %s", what, wf_kind_name(t));
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(t->text, names[i])) {
            *idx = i;
            return 0;
        }
    }
    return wf_fail(c, n, "unknown %s '%s' (expected %s)", what, t->text, expected);
}

/* ---------------------------------------------------------------- replicas */

enum { R_LFN, R_PFNS, R_REGEX, R_CHECKSUM, R_METADATA, R_N };
static const char *const replica_keys[R_N] = {"lfn", "pfns", "regex", "checksum", "metadata"};

static int conv_pfn(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_replica *rep)
{
    static const char *const keys[] = {"pfn", "site"};
    const struct wf_node *v[2];
    const struct wf_node *map = wf_collect(c, "pfns entry", n, keys, 2, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[0])
        return wf_missing(c, map, "pfn", "a pfns entry");
    rep->pos = wf_pos(c, v[0]);
    rep->site = 0;
    int rc = wf_get_str(c, "pfn", v[0], &rep->pfn);
    if (rc == 0 && v[1])
        rc = wf_get_str(c, "site", v[1], &rep->site);
    if (rc < 0)
        return rc;
    if (WFMPI_PUSH(c->wf->replicas, c->wf->view.n_replicas, c->wf->replicas_cap, *rep) < 0)
        return oom(c);
    return 0;
}

int wf_conv_replica(struct wf_ctx *c, const struct wf_node *n)
{
    const struct wf_node *v[R_N];
    const struct wf_node *map = wf_collect(c, "replica", n, replica_keys, R_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[R_LFN])
        return wf_missing(c, map, "lfn", "a replica");
    if (!v[R_PFNS])
        return wf_missing(c, map, "pfns", "a replica");
    struct wfmpi_wf_replica rep = {0};
    bool regex = false;
    rep.pos = rep.lfn_pos = wf_pos(c, v[R_LFN]);
    int rc = wf_get_str(c, "lfn", v[R_LFN], &rep.lfn);
    if (rc == 0 && v[R_REGEX])
        rc = wf_get_bool(c, "regex", v[R_REGEX], &regex);
    if (rc == 0 && v[R_CHECKSUM])
        rc = wf_conv_checksum(c, v[R_CHECKSUM], &rep.sha256, &rep.sha256_pos);
    if (rc == 0 && v[R_METADATA])
        rc = wf_conv_metadata(c, v[R_METADATA], &rep.metadata);
    if (rc < 0)
        return rc;
    rep.regex = regex;
    const struct wf_node *seq = wf_get_seq(c, "pfns", v[R_PFNS]);
    if (!seq)
        return WFMPI_E_INPUT;
    if (!seq->child) {
        /* An entry without pfns still says the lfn exists (as a record with
         * pfn 0), so the planner can tell "no replica" from "unknown". */
        if (WFMPI_PUSH(c->wf->replicas, c->wf->view.n_replicas, c->wf->replicas_cap, rep) < 0)
            return oom(c);
        return 0;
    }
    for (const struct wf_node *p = seq->child; p; p = p->next)
        if ((rc = conv_pfn(c, p, &rep)) < 0)
            return rc;
    return 0;
}

/* --------------------------------------------------------- transformations */

enum {
    S_NAME,
    S_PFN,
    S_TYPE,
    S_BYPASS,
    S_ARCH,
    S_OS_TYPE,
    S_OS_RELEASE,
    S_OS_VERSION,
    S_CONTAINER,
    S_PROFILES,
    S_METADATA,
    S_N
};
static const char *const tc_site_keys[S_N] = {"name",      "pfn",      "type",       "bypass",
                                              "arch",      "os.type",  "os.release", "os.version",
                                              "container", "profiles", "metadata"};

static int tc_site_strings(struct wf_ctx *c, const struct wf_node **v, struct wfmpi_wf_tc_site *s)
{
    const struct {
        int key;
        uint32_t *out;
    } fields[] = {
        {S_NAME, &s->name},
        {S_PFN, &s->pfn},
        {S_ARCH, &s->arch},
        {S_OS_TYPE, &s->os_type},
        {S_OS_RELEASE, &s->os_release},
        {S_OS_VERSION, &s->os_version},
        {S_CONTAINER, &s->container},
    };
    for (size_t i = 0; i < N_OF(fields); i++) {
        if (!v[fields[i].key])
            continue;
        int rc = wf_get_str(c, tc_site_keys[fields[i].key], v[fields[i].key], fields[i].out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int conv_tc_site(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const types[] = {"installed", "stageable"};
    const struct wf_node *v[S_N];
    const struct wf_node *map = wf_collect(c, "transformation site", n, tc_site_keys, S_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[S_NAME])
        return wf_missing(c, map, "name", "a transformation site");
    if (!v[S_PFN])
        return wf_missing(c, map, "pfn", "a transformation site");
    struct wfmpi_wf_tc_site s = {0};
    s.pos = wf_pos(c, map);
    s.pfn_pos = wf_pos(c, v[S_PFN]);
    size_t type = 0;
    bool bypass = false;
    int rc = tc_site_strings(c, v, &s);
    if (rc == 0 && v[S_TYPE])
        rc = get_enum(c, "transformation site type", v[S_TYPE], types, 2, "installed or stageable",
                      &type);
    if (rc == 0 && v[S_BYPASS])
        rc = wf_get_bool(c, "bypass", v[S_BYPASS], &bypass);
    if (rc == 0 && v[S_PROFILES])
        rc = wf_conv_profiles(c, v[S_PROFILES], &s.profiles);
    if (rc == 0 && v[S_METADATA])
        rc = wf_conv_metadata(c, v[S_METADATA], &s.metadata);
    if (rc < 0)
        return rc;
    s.type = type == 1 ? WFMPI_WF_TC_STAGEABLE : WFMPI_WF_TC_INSTALLED;
    s.bypass = bypass;
    if (WFMPI_PUSH(c->wf->tc_sites, c->wf->view.n_tc_sites, c->wf->tc_sites_cap, s) < 0)
        return oom(c);
    return 0;
}

enum {
    T_NS,
    T_NAME,
    T_VERSION,
    T_SITES,
    T_PROFILES,
    T_METADATA,
    T_HOOKS,
    T_REQUIRES,
    T_CHECKSUM,
    T_N
};
static const char *const tr_keys[T_N] = {"namespace", "name",  "version",  "sites",   "profiles",
                                         "metadata",  "hooks", "requires", "checksum"};

static int conv_tc_sites(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_tc_sites;
    const struct wf_node *seq = wf_get_seq(c, "sites", n);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *s = seq->child; s; s = s->next) {
        int rc = conv_tc_site(c, s);
        if (rc < 0)
            return rc;
    }
    out->count = c->wf->view.n_tc_sites - out->first;
    return 0;
}

int wf_conv_transformation(struct wf_ctx *c, const struct wf_node *n)
{
    const struct wf_node *v[T_N];
    const struct wf_node *map = wf_collect(c, "transformation", n, tr_keys, T_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[T_NAME])
        return wf_missing(c, map, "name", "a transformation");
    if (!v[T_SITES])
        return wf_missing(c, map, "sites", "a transformation");
    struct wfmpi_wf_transformation t = {0};
    t.pos = wf_pos(c, map);
    int rc = wf_get_str(c, "name", v[T_NAME], &t.name);
    if (rc == 0 && v[T_NS])
        rc = wf_get_str(c, "namespace", v[T_NS], &t.ns);
    if (rc == 0 && v[T_VERSION])
        rc = wf_get_str(c, "version", v[T_VERSION], &t.version);
    if (rc == 0)
        rc = conv_tc_sites(c, v[T_SITES], &t.sites);
    if (rc == 0 && v[T_PROFILES])
        rc = wf_conv_profiles(c, v[T_PROFILES], &t.profiles);
    if (rc == 0 && v[T_METADATA])
        rc = wf_conv_metadata(c, v[T_METADATA], &t.metadata);
    if (rc == 0 && v[T_HOOKS])
        rc = wf_conv_hooks(c, v[T_HOOKS], &t.hooks);
    if (rc == 0 && v[T_REQUIRES])
        rc = wf_conv_str_list(c, "requires", v[T_REQUIRES], &t.requires);
    if (rc == 0 && v[T_CHECKSUM])
        rc = wf_conv_checksum(c, v[T_CHECKSUM], &t.sha256, &t.sha256_pos);
    if (rc < 0)
        return rc;
    if (WFMPI_PUSH(c->wf->transformations, c->wf->view.n_transformations,
                   c->wf->transformations_cap, t) < 0)
        return oom(c);
    return 0;
}

/* -------------------------------------------------------------- containers */

enum {
    C_NAME,
    C_TYPE,
    C_IMAGE,
    C_IMAGE_SITE,
    C_MOUNTS,
    C_BYPASS,
    C_CHECKSUM,
    C_METADATA,
    C_PROFILES,
    C_N
};
static const char *const container_keys[C_N] = {
    "name", "type", "image", "image.site", "mounts", "bypass", "checksum", "metadata", "profiles"};

int wf_conv_container(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const types[] = {"docker", "singularity", "shifter", "apptainer"};
    const struct wf_node *v[C_N];
    const struct wf_node *map = wf_collect(c, "container", n, container_keys, C_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    for (int k = C_NAME; k <= C_IMAGE; k++)
        if (!v[k])
            return wf_missing(c, map, container_keys[k], "a container");
    struct wfmpi_wf_container ct = {0};
    ct.pos = wf_pos(c, map);
    ct.image_pos = wf_pos(c, v[C_IMAGE]);
    size_t type;
    bool bypass = false;
    int rc = wf_get_str(c, "name", v[C_NAME], &ct.name);
    if (rc == 0)
        rc = get_enum(c, "container type", v[C_TYPE], types, N_OF(types),
                      "docker, singularity, shifter or apptainer", &type);
    if (rc == 0)
        rc = wf_get_str(c, "type", v[C_TYPE], &ct.type);
    if (rc == 0)
        rc = wf_get_str(c, "image", v[C_IMAGE], &ct.image);
    if (rc == 0 && v[C_IMAGE_SITE])
        rc = wf_get_str(c, "image.site", v[C_IMAGE_SITE], &ct.image_site);
    if (rc == 0 && v[C_MOUNTS])
        rc = wf_conv_str_list(c, "mounts", v[C_MOUNTS], &ct.mounts);
    if (rc == 0 && v[C_BYPASS])
        rc = wf_get_bool(c, "bypass", v[C_BYPASS], &bypass);
    if (rc == 0 && v[C_CHECKSUM])
        rc = wf_conv_checksum(c, v[C_CHECKSUM], &ct.sha256, &ct.sha256_pos);
    if (rc == 0 && v[C_PROFILES])
        rc = wf_conv_profiles(c, v[C_PROFILES], &ct.profiles);
    if (rc == 0 && v[C_METADATA])
        rc = wf_conv_metadata(c, v[C_METADATA], &ct.metadata);
    if (rc < 0)
        return rc;
    ct.bypass = bypass;
    if (WFMPI_PUSH(c->wf->containers, c->wf->view.n_containers, c->wf->containers_cap, ct) < 0)
        return oom(c);
    return 0;
}

/* ------------------------------------------------------------------- sites */

static int conv_file_server(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const keys[] = {"url", "operation", "profiles"};
    static const char *const ops[] = {"all", "get", "put"};
    const struct wf_node *v[3];
    const struct wf_node *map = wf_collect(c, "fileServers entry", n, keys, 3, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[0])
        return wf_missing(c, map, "url", "a fileServers entry");
    struct wfmpi_wf_file_server fs = {0};
    size_t op = 0;
    int rc = wf_get_str(c, "url", v[0], &fs.url);
    if (rc == 0 && v[1])
        rc = get_enum(c, "file server operation", v[1], ops, 3, "all, get or put", &op);
    if (rc < 0)
        return rc;
    /* Pegasus's default operation is "all". */
    if (!(fs.operation = wf_intern(c, ops[op], strlen(ops[op]))))
        return -ENOMEM;
    if (WFMPI_PUSH(c->wf->file_servers, c->wf->view.n_file_servers, c->wf->file_servers_cap, fs) <
        0)
        return oom(c);
    return 0;
}

static int conv_directory(struct wf_ctx *c, const struct wf_node *n)
{
    static const char *const keys[] = {"type",        "path",     "sharedFileSystem",
                                       "fileServers", "freeSize", "totalSize"};
    static const char *const types[] = {"sharedScratch", "sharedStorage", "localScratch",
                                        "localStorage"};
    const struct wf_node *v[6];
    const struct wf_node *map = wf_collect(c, "directory", n, keys, 6, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[0])
        return wf_missing(c, map, "type", "a directory");
    struct wfmpi_wf_directory d = {0};
    size_t type;
    bool shared = false;
    int rc = get_enum(c, "directory type", v[0], types, 4,
                      "sharedScratch, sharedStorage, localScratch or localStorage", &type);
    if (rc == 0)
        rc = wf_get_str(c, "type", v[0], &d.type);
    if (rc == 0 && v[1])
        rc = wf_get_str(c, "path", v[1], &d.path);
    if (rc == 0 && v[2])
        rc = wf_get_bool(c, "sharedFileSystem", v[2], &shared);
    if (rc < 0)
        return rc;
    d.shared_file_system = shared;
    d.file_servers.first = c->wf->view.n_file_servers;
    if (v[3]) {
        const struct wf_node *seq = wf_get_seq(c, "fileServers", v[3]);
        if (!seq)
            return WFMPI_E_INPUT;
        for (const struct wf_node *f = seq->child; f; f = f->next)
            if ((rc = conv_file_server(c, f)) < 0)
                return rc;
    }
    d.file_servers.count = c->wf->view.n_file_servers - d.file_servers.first;
    if (WFMPI_PUSH(c->wf->directories, c->wf->view.n_directories, c->wf->directories_cap, d) < 0)
        return oom(c);
    return 0;
}

enum {
    SI_NAME,
    SI_ARCH,
    SI_OS_TYPE,
    SI_OS_RELEASE,
    SI_OS_VERSION,
    SI_DIRS,
    SI_GRIDS,
    SI_PROFILES,
    SI_N
};
static const char *const site_keys[SI_N] = {"name",       "arch",        "os.type", "os.release",
                                            "os.version", "directories", "grids",   "profiles"};

static int conv_directories(struct wf_ctx *c, const struct wf_node *n, struct wfmpi_wf_range *out)
{
    out->first = c->wf->view.n_directories;
    const struct wf_node *seq = wf_get_seq(c, "directories", n);
    if (!seq)
        return WFMPI_E_INPUT;
    for (const struct wf_node *d = seq->child; d; d = d->next) {
        int rc = conv_directory(c, d);
        if (rc < 0)
            return rc;
    }
    out->count = c->wf->view.n_directories - out->first;
    return 0;
}

int wf_conv_site(struct wf_ctx *c, const struct wf_node *n)
{
    const struct wf_node *v[SI_N];
    const struct wf_node *map = wf_collect(c, "site", n, site_keys, SI_N, v);
    if (!map)
        return WFMPI_E_INPUT;
    if (!v[SI_NAME])
        return wf_missing(c, map, "name", "a site");
    struct wfmpi_wf_site s = {0};
    s.pos = wf_pos(c, map);
    uint32_t *strs[] = {&s.name, &s.arch, &s.os_type, &s.os_release, &s.os_version};
    int rc = 0;
    for (int k = SI_NAME; k <= SI_OS_VERSION && rc == 0; k++)
        if (v[k])
            rc = wf_get_str(c, site_keys[k], v[k], strs[k]);
    if (rc == 0 && v[SI_DIRS])
        rc = conv_directories(c, v[SI_DIRS], &s.directories);
    /* Grids describe remote schedulers wfmpi never submits to: checked for
     * shape only. */
    if (rc == 0 && v[SI_GRIDS] && !wf_get_seq(c, "grids", v[SI_GRIDS]))
        rc = WFMPI_E_INPUT;
    if (rc == 0 && v[SI_PROFILES])
        rc = wf_conv_profiles(c, v[SI_PROFILES], &s.profiles);
    if (rc < 0)
        return rc;
    if (WFMPI_PUSH(c->wf->sites, c->wf->view.n_sites, c->wf->sites_cap, s) < 0)
        return oom(c);
    return 0;
}
