/* Private to the topo module. */
#ifndef WFMPI_TOPO_INT_H
#define WFMPI_TOPO_INT_H

#include "wfmpi/topo.h"

/* CUDA runtime discovery (cuda.c): fills up to max GPUs (name, memory, bus
 * id, UUID, compute capability; locality unknown) and returns how many; 0
 * when wfmpi is built without CUDA, there is no driver or no device. The
 * rank's CUDA_VISIBLE_DEVICES is set aside while asking, so the table holds
 * every GPU of the node in PCI bus id order. */
uint32_t topo_cuda_gpus(struct wfmpi_topo_gpu *out, uint32_t max, char *why, size_t why_size);

#endif
