/* GPUs from the CUDA runtime, when wfmpi is built with CUDA (WFMPI_HAVE_CUDA).
 * Without a driver or a device the runtime answers with an error and this
 * reports 0 GPUs; discovery then falls back to hwloc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topo_int.h"

#ifdef WFMPI_HAVE_CUDA
#include <cuda_runtime_api.h>

static void format_uuid(const unsigned char *b, char *out, size_t size)
{
    snprintf(out, size, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static int by_busid(const void *a, const void *b)
{
    return strcmp(((const struct wfmpi_topo_gpu *)a)->busid,
                  ((const struct wfmpi_topo_gpu *)b)->busid);
}

/* The runtime reads CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER once, at its
 * initialisation: clear the first and fix the second for that moment so the
 * table is the whole node in bus id order, the numbering that a task's own
 * CUDA_VISIBLE_DEVICES is read against (with CUDA_DEVICE_ORDER=PCI_BUS_ID). */
static int device_count(char *why, size_t why_size)
{
    char *saved = getenv("CUDA_VISIBLE_DEVICES") ? strdup(getenv("CUDA_VISIBLE_DEVICES")) : NULL;
    unsetenv("CUDA_VISIBLE_DEVICES");
    setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
    int n = 0;
    cudaError_t rc = cudaGetDeviceCount(&n);
    if (saved) {
        setenv("CUDA_VISIBLE_DEVICES", saved, 1);
        free(saved);
    }
    if (rc != cudaSuccess) {
        snprintf(why, why_size, "CUDA runtime: %s", cudaGetErrorString(rc));
        return 0;
    }
    if (n == 0)
        snprintf(why, why_size, "CUDA runtime: no device");
    return n;
}

uint32_t topo_cuda_gpus(struct wfmpi_topo_gpu *out, uint32_t max, char *why, size_t why_size)
{
    int n = device_count(why, why_size);
    uint32_t k = 0;
    for (int d = 0; d < n && k < max; d++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, d) != cudaSuccess)
            continue;
        struct wfmpi_topo_gpu *g = &out[k++];
        memset(g, 0, sizeof(*g));
        size_t len = strnlen(p.name, sizeof(p.name));
        len = len < sizeof(g->name) - 1 ? len : sizeof(g->name) - 1;
        memcpy(g->name, p.name, len); /* g is zeroed: stays terminated */
        g->memory_mb = (uint64_t)p.totalGlobalMem / (1024 * 1024);
        g->cc_major = (uint16_t)p.major;
        g->cc_minor = (uint16_t)p.minor;
        snprintf(g->busid, sizeof(g->busid), "%04x:%02x:%02x.0", (unsigned)p.pciDomainID,
                 (unsigned)p.pciBusID, (unsigned)p.pciDeviceID);
        format_uuid((const unsigned char *)p.uuid.bytes, g->uuid, sizeof(g->uuid));
        g->numa = g->package = WFMPI_TOPO_UNKNOWN;
    }
    qsort(out, k, sizeof(*out), by_busid);
    return k;
}

#else

uint32_t topo_cuda_gpus(struct wfmpi_topo_gpu *out, uint32_t max, char *why, size_t why_size)
{
    (void)out;
    (void)max;
    snprintf(why, why_size, "built without CUDA");
    return 0;
}

#endif
