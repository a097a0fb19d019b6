/* wfmpi node discovery: what this node offers to tasks (hwloc).
 *
 * The engine needs each node's allowed cores, memory and GPU count to place
 * tasks; the GPU issue extends this with per-GPU locality and rank binding.
 * HWLOC_XMLFILE=<file> makes the node look like that topology (tests).
 *
 * Any rank may call it; it is called once per rank at start-up.
 */
#ifndef WFMPI_TOPO_H
#define WFMPI_TOPO_H

#include <stdint.h>

#include "wfmpi/util.h"

#define WFMPI_TOPO_HOSTNAME_MAX 64

struct wfmpi_topo_node {
    char hostname[WFMPI_TOPO_HOSTNAME_MAX];
    uint32_t cores; /* physical cores this process may use (cgroup/cpuset aware) */
    uint32_t pus; /* hardware threads this process may use */
    uint64_t memory_mb; /* memory this process may use */
    uint32_t gpus; /* GPUs found (0 is not an error) */
};

/* Discover the local node. Returns 0 or WFMPI_E_INTERNAL with err set when
 * hwloc cannot load a topology (a bad HWLOC_XMLFILE, say). */
int wfmpi_topo_discover(struct wfmpi_topo_node *out, struct wfmpi_error *err);

#endif /* WFMPI_TOPO_H */
