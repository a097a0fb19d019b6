#include <hwloc.h>
#include <string.h>
#include <unistd.h>

#include "wfmpi/topo.h"

/* One physical GPU appears as several OS devices (cuda0, nvml0, card0,
 * renderD128, opencl0d0). Count the devices of one backend only, preferring
 * CUDA, then NVML, then OpenCL, so each GPU counts once. */
static uint32_t count_gpus(hwloc_topology_t topo)
{
    static const char *const prefixes[] = {"cuda", "nvml", "opencl", "rsmi"};
    for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
        uint32_t n = 0;
        hwloc_obj_t obj = NULL;
        while ((obj = hwloc_get_next_osdev(topo, obj)) != NULL) {
            if (obj->name && strncmp(obj->name, prefixes[p], strlen(prefixes[p])) == 0)
                n++;
        }
        if (n)
            return n;
    }
    return 0;
}

int wfmpi_topo_discover(struct wfmpi_topo_node *out, struct wfmpi_error *err)
{
    memset(out, 0, sizeof(*out));
    if (gethostname(out->hostname, sizeof(out->hostname) - 1) < 0)
        strcpy(out->hostname, "localhost");
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "hwloc: cannot initialise topology");
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        return wfmpi_error_set(err, WFMPI_E_INTERNAL, "hwloc: cannot load topology%s%s",
                               getenv("HWLOC_XMLFILE") ? " from HWLOC_XMLFILE=" : "",
                               getenv("HWLOC_XMLFILE") ? getenv("HWLOC_XMLFILE") : "");
    }
    /* Without HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED hwloc already hides what
     * the cgroup (Slurm's task/cgroup) does not give us. */
    int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    out->pus = pus > 0 ? (uint32_t)pus : 1;
    out->cores = cores > 0 ? (uint32_t)cores : out->pus;
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    out->memory_mb = root->total_memory / (1024 * 1024);
    out->gpus = count_gpus(topo);
    hwloc_topology_destroy(topo);
    return 0;
}
