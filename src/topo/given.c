/* What the launcher gave a rank (GPUs from its variables, CPUs from its
 * affinity), and binding a process to its share. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "topo_int.h"

/* One CUDA_VISIBLE_DEVICES entry: an index, or a UUID or unique UUID prefix
 * ("GPU-a1000002" as CUDA accepts). -1 when it names no GPU of the table. */
static int cuda_entry(const struct wfmpi_topo *t, const char *tok, size_t len)
{
    if (len == 0)
        return -1;
    if (isdigit((unsigned char)tok[0])) {
        long v = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)tok[i]) || v > WFMPI_TOPO_MAX_GPUS)
                return -1;
            v = v * 10 + (tok[i] - '0');
        }
        return v < (long)t->n_gpus ? (int)v : -1;
    }
    int found = -1;
    for (uint32_t g = 0; g < t->n_gpus; g++) {
        if (t->gpus[g].uuid[0] && strncasecmp(t->gpus[g].uuid, tok, len) == 0) {
            if (found >= 0)
                return -1; /* ambiguous prefix */
            found = (int)g;
        }
    }
    return found;
}

static uint64_t parse_cuda_visible(const struct wfmpi_topo *t, const char *s)
{
    uint64_t mask = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, ", ");
        int g = cuda_entry(t, p, len);
        if (g < 0) {
            /* CUDA stops at the first invalid entry; so do we. */
            wfmpi_warn("CUDA_VISIBLE_DEVICES=%s: '%.*s' names no GPU of this node; "
                       "later entries are ignored, as CUDA does",
                       s, (int)len, p);
            break;
        }
        mask |= 1ull << g;
        p += len;
        while (*p == ' ' || *p == ',')
            p++;
    }
    return mask;
}

/* SLURM_STEP_GPUS / SLURM_JOB_GPUS: "0,1" or "0-3". */
static uint64_t parse_index_list(const struct wfmpi_topo *t, const char *name, const char *s)
{
    struct wfmpi_topo_cpuset set;
    if (wfmpi_topo_cpuset_parse(s, &set) < 0) {
        wfmpi_warn("%s=%s: not a list of GPU indexes; ignored", name, s);
        return t->n_gpus == 64 ? ~0ull : (1ull << t->n_gpus) - 1;
    }
    uint64_t mask = 0;
    for (uint32_t g = 0; g < t->n_gpus; g++)
        if (wfmpi_topo_cpuset_isset(&set, g))
            mask |= 1ull << g;
    return mask;
}

uint64_t wfmpi_topo_visible_gpus(const struct wfmpi_topo *t, const char *cuda_visible,
                                 const char *step_gpus, const char *job_gpus)
{
    uint64_t all = t->n_gpus >= 64 ? ~0ull : (1ull << t->n_gpus) - 1;
    if (cuda_visible)
        return parse_cuda_visible(t, cuda_visible) & all;
    if (step_gpus && *step_gpus)
        return parse_index_list(t, "SLURM_STEP_GPUS", step_gpus) & all;
    if (job_gpus && *job_gpus)
        return parse_index_list(t, "SLURM_JOB_GPUS", job_gpus) & all;
    return all;
}

static int real_affinity(struct wfmpi_topo_cpuset *out)
{
    cpu_set_t *set = CPU_ALLOC(WFMPI_TOPO_MAX_PUS);
    size_t size = CPU_ALLOC_SIZE(WFMPI_TOPO_MAX_PUS);
    if (!set)
        return -ENOMEM;
    int rc = sched_getaffinity(0, size, set) < 0 ? -errno : 0;
    wfmpi_topo_cpuset_zero(out);
    for (uint32_t c = 0; rc == 0 && c < WFMPI_TOPO_MAX_PUS; c++)
        if (CPU_ISSET_S(c, size, set))
            wfmpi_topo_cpuset_set(out, c);
    CPU_FREE(set);
    return rc;
}

int wfmpi_topo_given_here(const struct wfmpi_topo *t, struct wfmpi_topo_given *out,
                          struct wfmpi_topo_cpuset *existing, struct wfmpi_error *err)
{
    struct wfmpi_topo_cpuset real, all;
    int rc = real_affinity(&real);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "sched_getaffinity: %s", strerror(-rc));
    if (existing)
        *existing = real;
    wfmpi_topo_all_cpus(t, &all);
    const char *fake = getenv("WFMPI_TOPO_AFFINITY");
    if (fake && *fake) {
        if (wfmpi_topo_cpuset_parse(fake, &out->cpus) < 0)
            return wfmpi_error_set(err, WFMPI_E_INPUT, "WFMPI_TOPO_AFFINITY=%s: not a CPU list",
                                   fake);
    } else {
        /* An XML machine's CPUs are not ours: our affinity says nothing
         * about them. */
        out->cpus = t->from_xml ? all : real;
    }
    wfmpi_topo_cpuset_and(&out->cpus, &all);
    if (wfmpi_topo_cpuset_count(&out->cpus) == 0) {
        wfmpi_warn("this rank's CPU affinity shares no CPU with the topology; using all of it");
        out->cpus = all;
    }
    out->gpus = wfmpi_topo_visible_gpus(t, getenv("CUDA_VISIBLE_DEVICES"),
                                        getenv("SLURM_STEP_GPUS"), getenv("SLURM_JOB_GPUS"));
    return 0;
}

/* sched_setaffinity binds one thread; MPI libraries start helper threads
 * before we get here, so bind each thread of the process (what
 * hwloc_set_cpubind(HWLOC_CPUBIND_PROCESS) does on Linux, without needing a
 * topology of this machine when the loaded one is an XML file). */
static int bind_all_threads(const cpu_set_t *set, size_t size)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return sched_setaffinity(0, size, set) < 0 ? -errno : 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
        if (sched_setaffinity(tid, size, set) < 0 && errno != ESRCH)
            rc = -errno;
    }
    closedir(d);
    return rc;
}

int wfmpi_topo_bind(const struct wfmpi_topo_cpuset *cpus, const struct wfmpi_topo_cpuset *existing,
                    struct wfmpi_error *err)
{
    struct wfmpi_topo_cpuset want = *cpus;
    wfmpi_topo_cpuset_and(&want, existing);
    uint32_t n = wfmpi_topo_cpuset_count(&want);
    if (n == 0)
        return 0;
    cpu_set_t *set = CPU_ALLOC(WFMPI_TOPO_MAX_PUS);
    size_t size = CPU_ALLOC_SIZE(WFMPI_TOPO_MAX_PUS);
    if (!set)
        return wfmpi_error_set(err, -ENOMEM, "out of memory");
    CPU_ZERO_S(size, set);
    for (uint32_t c = 0; c < WFMPI_TOPO_MAX_PUS; c++)
        if (wfmpi_topo_cpuset_isset(&want, c))
            CPU_SET_S(c, size, set);
    int rc = bind_all_threads(set, size);
    CPU_FREE(set);
    if (rc < 0)
        return wfmpi_error_set(err, rc, "cannot bind to its CPUs: %s", strerror(-rc));
    return (int)n;
}
