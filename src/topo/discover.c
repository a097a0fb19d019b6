/* Node discovery: CPUs from hwloc, GPUs from the CUDA runtime or hwloc. */
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "topo_int.h"

/* The hwloc backends whose OS devices are compute GPUs. A display adapter
 * (card0, renderD128, no backend) is not one. */
static const char *const gpu_backends[] = {"CUDA", "NVML", "OpenCL", "RSMI", "LevelZero"};

static uint16_t numa_of_set(hwloc_topology_t topo, hwloc_const_nodeset_t ns)
{
    int os = hwloc_bitmap_first(ns);
    hwloc_obj_t numa = os < 0 ? NULL : hwloc_get_numanode_obj_by_os_index(topo, (unsigned)os);
    return numa ? (uint16_t)numa->logical_index : WFMPI_TOPO_UNKNOWN;
}

static uint16_t package_of_set(hwloc_topology_t topo, hwloc_const_cpuset_t cs)
{
    int pu_os = hwloc_bitmap_first(cs);
    hwloc_obj_t pu = pu_os < 0 ? NULL : hwloc_get_pu_obj_by_os_index(topo, (unsigned)pu_os);
    hwloc_obj_t pkg = pu ? hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu) : NULL;
    return pkg ? (uint16_t)pkg->logical_index : WFMPI_TOPO_UNKNOWN;
}

static void add_core(struct wfmpi_topo *t, hwloc_topology_t topo, hwloc_obj_t obj)
{
    if (t->n_cores >= WFMPI_TOPO_MAX_CORES)
        return;
    struct wfmpi_topo_core *c = &t->cores[t->n_cores];
    c->first_pu = (uint16_t)t->n_pus;
    c->n_pus = 0;
    unsigned pu;
    hwloc_bitmap_foreach_begin(pu, obj->cpuset)
    {
        if (pu < WFMPI_TOPO_MAX_PUS && t->n_pus < WFMPI_TOPO_MAX_PUS) {
            t->pus[t->n_pus++] = (uint16_t)pu;
            c->n_pus++;
        }
    }
    hwloc_bitmap_foreach_end();
    if (c->n_pus == 0)
        return;
    c->numa = numa_of_set(topo, obj->nodeset);
    c->package = package_of_set(topo, obj->cpuset);
    t->n_cores++;
}

static void fill_cpus(struct wfmpi_topo *t, hwloc_topology_t topo)
{
    /* A topology without Core objects (some XMLs, some VMs): each PU is a core. */
    hwloc_obj_type_t type =
        hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int n = hwloc_get_nbobjs_by_type(topo, type);
    for (int i = 0; i < n; i++)
        add_core(t, topo, hwloc_get_obj_by_type(topo, type, (unsigned)i));
    int numa = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    int pkg = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    t->n_numa = numa > 0 ? (uint32_t)numa : 0;
    t->n_packages = pkg > 0 ? (uint32_t)pkg : 0;
    t->summary.cores = t->n_cores ? t->n_cores : 1;
    t->summary.pus = t->n_pus ? t->n_pus : 1;
    t->summary.memory_mb = hwloc_get_root_obj(topo)->total_memory / (1024 * 1024);
}

/* NUMA domain and package of a PCI device: those of its closest non-I/O
 * ancestor, unless that is the whole machine (locality unknown). */
static void locate(hwloc_topology_t topo, hwloc_obj_t pcidev, struct wfmpi_topo_gpu *g)
{
    g->numa = g->package = WFMPI_TOPO_UNKNOWN;
    hwloc_obj_t anc = pcidev ? hwloc_get_non_io_ancestor_obj(topo, pcidev) : NULL;
    if (!anc || !anc->cpuset || anc == hwloc_get_root_obj(topo) ||
        hwloc_bitmap_isequal(anc->cpuset, hwloc_get_root_obj(topo)->cpuset))
        return;
    g->numa = numa_of_set(topo, anc->nodeset);
    g->package = package_of_set(topo, anc->cpuset);
}

static hwloc_obj_t pci_parent(hwloc_obj_t osdev)
{
    hwloc_obj_t p = osdev->parent;
    return p && p->type == HWLOC_OBJ_PCI_DEVICE ? p : NULL;
}

static bool compute_backend(const char *b)
{
    for (size_t i = 0; b && i < sizeof(gpu_backends) / sizeof(gpu_backends[0]); i++)
        if (strcmp(b, gpu_backends[i]) == 0)
            return true;
    return false;
}

static struct wfmpi_topo_gpu *gpu_for_busid(struct wfmpi_topo *t, const char *busid)
{
    for (uint32_t i = 0; i < t->n_gpus; i++)
        if (strcmp(t->gpus[i].busid, busid) == 0)
            return &t->gpus[i];
    if (t->n_gpus >= WFMPI_TOPO_MAX_GPUS)
        return NULL;
    struct wfmpi_topo_gpu *g = &t->gpus[t->n_gpus++];
    memset(g, 0, sizeof(*g));
    snprintf(g->busid, sizeof(g->busid), "%s", busid);
    return g;
}

static void note_backend(char *list, size_t size, const char *b)
{
    if (strstr(list, b))
        return;
    size_t len = strlen(list);
    snprintf(list + len, size - len, "%s%s", len ? "+" : "", b);
}

/* Merge what each OS device of a GPU knows (cuda0 has the memory, nvml0 the
 * UUID) into one record per PCI bus id. */
static void merge_osdev(struct wfmpi_topo_gpu *g, hwloc_obj_t o)
{
    const char *model = hwloc_obj_get_info_by_name(o, "GPUModel");
    const char *uuid = hwloc_obj_get_info_by_name(o, "NVIDIAUUID");
    if (!uuid)
        uuid = hwloc_obj_get_info_by_name(o, "AMDUUID");
    const char *mem = hwloc_obj_get_info_by_name(o, "CUDAGlobalMemorySize");
    if (!mem)
        mem = hwloc_obj_get_info_by_name(o, "OpenCLGlobalMemorySize");
    if (model && !g->name[0])
        snprintf(g->name, sizeof(g->name), "%s", model);
    if (uuid && !g->uuid[0])
        snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
    if (mem && !g->memory_mb)
        g->memory_mb = strtoull(mem, NULL, 10) / 1024; /* hwloc gives KiB */
}

static void hwloc_gpus(struct wfmpi_topo *t, hwloc_topology_t topo, char *backends, size_t size)
{
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_osdev(topo, o)) != NULL) {
        if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU &&
            o->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC)
            continue;
        const char *backend = hwloc_obj_get_info_by_name(o, "Backend");
        if (!compute_backend(backend))
            continue;
        hwloc_obj_t pci = pci_parent(o);
        char busid[WFMPI_TOPO_BUSID_MAX];
        if (pci)
            snprintf(busid, sizeof(busid), "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain,
                     pci->attr->pcidev.bus, pci->attr->pcidev.dev, pci->attr->pcidev.func);
        else
            snprintf(busid, sizeof(busid), "%s", o->name ? o->name : "?");
        struct wfmpi_topo_gpu *g = gpu_for_busid(t, busid);
        if (!g)
            continue;
        merge_osdev(g, o);
        locate(topo, pci, g);
        note_backend(backends, size, backend);
    }
}

/* CUDA knows name, memory, UUID and compute capability; hwloc knows where
 * the bus id sits. */
static void locate_cuda_gpus(struct wfmpi_topo *t, hwloc_topology_t topo)
{
    for (uint32_t i = 0; i < t->n_gpus; i++) {
        struct wfmpi_topo_gpu *g = &t->gpus[i];
        hwloc_obj_t pci = hwloc_get_pcidev_by_busidstring(topo, g->busid);
        if (pci)
            locate(topo, pci, g);
        else
            wfmpi_warn("GPU %s: no PCI device with that bus id in the hwloc topology; "
                       "its locality is unknown",
                       g->busid);
    }
}

static int by_busid(const void *a, const void *b)
{
    return strcmp(((const struct wfmpi_topo_gpu *)a)->busid,
                  ((const struct wfmpi_topo_gpu *)b)->busid);
}

static void fill_gpus(struct wfmpi_topo *t, hwloc_topology_t topo, bool ask_cuda)
{
    char why[128] = "not asked: the topology is an XML file", backends[64] = "";
    t->n_gpus = ask_cuda ? topo_cuda_gpus(t->gpus, WFMPI_TOPO_MAX_GPUS, why, sizeof(why)) : 0;
    if (t->n_gpus) {
        snprintf(t->gpu_source, sizeof(t->gpu_source), "cuda");
        locate_cuda_gpus(t, topo);
    } else {
        hwloc_gpus(t, topo, backends, sizeof(backends));
        qsort(t->gpus, t->n_gpus, sizeof(t->gpus[0]), by_busid);
        snprintf(t->gpu_source, sizeof(t->gpu_source), "%s%s",
                 t->n_gpus ? (t->from_xml ? "hwloc-xml:" : "hwloc:") : "none",
                 t->n_gpus ? backends : "");
    }
    for (uint32_t i = 0; i < t->n_gpus; i++)
        t->gpus[i].ordinal = i;
    t->summary.gpus = t->n_gpus;
    wfmpi_info("%s: %u GPU(s) from %s (CUDA: %s)", t->summary.hostname, t->n_gpus, t->gpu_source,
               t->gpu_source[0] == 'c' ? "used" : why);
}

static int load(struct wfmpi_topo *out, const char *xml, struct wfmpi_error *err)
{
    memset(out, 0, sizeof(*out));
    if (gethostname(out->summary.hostname, sizeof(out->summary.hostname) - 1) < 0)
        strcpy(out->summary.hostname, "localhost");
    const char *env_xml = getenv("HWLOC_XMLFILE");
    out->from_xml = xml || (env_xml && *env_xml);
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "hwloc: cannot initialise topology");
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if ((xml && hwloc_topology_set_xml(topo, xml) < 0) || hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        const char *file = xml ? xml : env_xml;
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "hwloc: cannot load topology%s%s",
                               file ? " from " : "", file ? file : "");
    }
    /* Without HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED hwloc already hides what
     * the cgroup (Slurm's task/cgroup) does not give us. */
    fill_cpus(out, topo);
    fill_gpus(out, topo, !out->from_xml);
    out->summary.detail = NULL;
    out->summary.assigned = NULL;
    hwloc_topology_destroy(topo);
    return 0;
}

int wfmpi_topo_load(struct wfmpi_topo *out, struct wfmpi_error *err)
{
    return load(out, NULL, err);
}

int wfmpi_topo_load_xml(struct wfmpi_topo *out, const char *path, struct wfmpi_error *err)
{
    return load(out, path, err);
}

int wfmpi_topo_discover(struct wfmpi_topo_node *out, struct wfmpi_error *err)
{
    struct wfmpi_topo *t = malloc(sizeof(*t));
    if (!t)
        return wfmpi_error_set(err, -ENOMEM, "out of memory for the topology");
    int rc = wfmpi_topo_load(t, err);
    if (rc == 0)
        *out = t->summary;
    free(t);
    return rc;
}
