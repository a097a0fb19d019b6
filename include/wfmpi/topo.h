/* wfmpi node discovery, GPU <-> rank assignment and CPU binding.
 *
 * Discovery (once per node, on the node's first rank) loads the hwloc
 * topology (packages, NUMA domains, cores, PUs, memory, PCI devices) and the
 * node's GPUs: from the CUDA runtime when wfmpi is built with CUDA and a
 * device answers, matched to hwloc PCI objects by bus id for their locality;
 * otherwise from hwloc's GPU/co-processor OS devices (CUDA, NVML, OpenCL,
 * RSMI, Level Zero backends, or an XML file), one GPU per PCI bus id. No GPU
 * is 0 GPUs, not an error. HWLOC_XMLFILE=<file> makes the node look like that
 * file (then CUDA is not asked: the node is the file).
 *
 * The result is plain data of fixed size (struct wfmpi_topo), so the MPI
 * layer can broadcast it as bytes and unit tests can build or load one.
 * GPUs are numbered by PCI bus id order: table index == ordinal == the CUDA
 * index under CUDA_DEVICE_ORDER=PCI_BUS_ID with no CUDA_VISIBLE_DEVICES.
 *
 * Assignment is a pure function of (topology, what the launcher gave the
 * rank, ranks sharing it, this rank's index among them): see
 * wfmpi_topo_assign().
 */
#ifndef WFMPI_TOPO_H
#define WFMPI_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wfmpi/util.h"

#define WFMPI_TOPO_HOSTNAME_MAX 64
#define WFMPI_TOPO_MAX_GPUS 64 /* == WFMPI_SCHED_MAX_GPUS_PER_NODE */
#define WFMPI_TOPO_MAX_CORES 1024
#define WFMPI_TOPO_MAX_PUS 2048 /* also the largest PU OS index + 1 */
#define WFMPI_TOPO_CPUSET_WORDS (WFMPI_TOPO_MAX_PUS / 64)
#define WFMPI_TOPO_NAME_MAX 64
#define WFMPI_TOPO_UUID_MAX 48
#define WFMPI_TOPO_BUSID_MAX 16 /* "0000:07:00.0" */
#define WFMPI_TOPO_SOURCE_MAX 96 /* "hwloc-xml:" + the backend list (64) */
#define WFMPI_TOPO_UNKNOWN UINT16_MAX /* NUMA/package index not known */

/* The summary the scheduler needs per node. */
struct wfmpi_topo_node {
    char hostname[WFMPI_TOPO_HOSTNAME_MAX];
    uint32_t cores; /* physical cores this process may use (cgroup/cpuset aware) */
    uint32_t pus; /* hardware threads this process may use */
    uint64_t memory_mb; /* memory this process may use */
    uint32_t gpus; /* GPUs found (0 is not an error) */
    /* Filled by the MPI layer on the master only (NULL elsewhere): the
     * node's full topology, and the assignment of each of the node's ranks
     * in the order of struct wfmpi_mpi_node.ranks. Owned by the MPI layer. */
    const struct wfmpi_topo *detail;
    const struct wfmpi_topo_rank *assigned;
};

/* A set of PUs by OS index (what Linux and sched_setaffinity call CPUs). */
struct wfmpi_topo_cpuset {
    uint64_t w[WFMPI_TOPO_CPUSET_WORDS];
};

struct wfmpi_topo_gpu {
    uint32_t ordinal; /* index in the node's GPU table (PCI bus id order) */
    uint16_t numa; /* logical index of its NUMA domain, or WFMPI_TOPO_UNKNOWN */
    uint16_t package; /* logical index of its package, or WFMPI_TOPO_UNKNOWN */
    uint64_t memory_mb; /* 0 = unknown */
    uint16_t cc_major, cc_minor; /* compute capability; 0.0 = unknown */
    char name[WFMPI_TOPO_NAME_MAX]; /* "" = unknown */
    char uuid[WFMPI_TOPO_UUID_MAX]; /* "GPU-...", "" = unknown */
    char busid[WFMPI_TOPO_BUSID_MAX]; /* "0000:07:00.0" (lower case) */
};

struct wfmpi_topo_core {
    uint16_t numa; /* logical NUMA index, WFMPI_TOPO_UNKNOWN when none */
    uint16_t package; /* logical package index, WFMPI_TOPO_UNKNOWN when none */
    uint16_t first_pu; /* its PUs: pus[first_pu .. first_pu + n_pus) */
    uint16_t n_pus;
};

struct wfmpi_topo {
    struct wfmpi_topo_node summary;
    char gpu_source[WFMPI_TOPO_SOURCE_MAX]; /* "cuda", "hwloc:NVML", "none", ... */
    bool from_xml; /* loaded from HWLOC_XMLFILE: not this machine's CPUs */
    uint32_t n_numa, n_packages;
    uint32_t n_cores, n_pus;
    struct wfmpi_topo_core cores[WFMPI_TOPO_MAX_CORES]; /* in topology order */
    uint16_t pus[WFMPI_TOPO_MAX_PUS]; /* OS indexes, grouped by core */
    uint32_t n_gpus;
    struct wfmpi_topo_gpu gpus[WFMPI_TOPO_MAX_GPUS]; /* sorted by bus id */
};

/* What the launcher gave one rank: CPUs (PU OS indexes) and GPUs (bits =
 * GPU table indexes). */
struct wfmpi_topo_given {
    struct wfmpi_topo_cpuset cpus;
    uint64_t gpus;
};

/* One rank's share of its node. */
struct wfmpi_topo_rank {
    uint64_t gpus; /* bits = GPU table indexes */
    struct wfmpi_topo_cpuset cpus; /* computed from the topology */
    /* CPUs that really exist for this process on this machine (its affinity
     * before binding). Equal to what was given unless the topology is an XML
     * file; bindings are applied only inside it. Filled by the caller of
     * wfmpi_topo_given_here(). */
    struct wfmpi_topo_cpuset existing;
};

/* ---- cpusets */
void wfmpi_topo_cpuset_zero(struct wfmpi_topo_cpuset *s);
void wfmpi_topo_cpuset_set(struct wfmpi_topo_cpuset *s, uint32_t pu); /* pu >= MAX ignored */
bool wfmpi_topo_cpuset_isset(const struct wfmpi_topo_cpuset *s, uint32_t pu);
uint32_t wfmpi_topo_cpuset_count(const struct wfmpi_topo_cpuset *s);
void wfmpi_topo_cpuset_and(struct wfmpi_topo_cpuset *d, const struct wfmpi_topo_cpuset *s);
void wfmpi_topo_cpuset_or(struct wfmpi_topo_cpuset *d, const struct wfmpi_topo_cpuset *s);
/* "0-15,32" into buf (NUL-terminated; "" for the empty set). Returns the
 * length, or WFMPI_E_LIMIT when it does not fit (buf then holds ""). */
int wfmpi_topo_cpuset_format(const struct wfmpi_topo_cpuset *s, char *buf, size_t size);
/* Parse a list like "0-3,8". 0 or WFMPI_E_INPUT (out then empty). */
int wfmpi_topo_cpuset_parse(const char *list, struct wfmpi_topo_cpuset *out);

/* ---- discovery */

/* Discover the local node into *out (caller-owned, ~30 KB: allocate it).
 * Logs (info) which GPU source was used. 0, or WFMPI_E_INTERNAL with err set
 * when hwloc cannot load a topology (a bad HWLOC_XMLFILE, say). Any rank. */
int wfmpi_topo_load(struct wfmpi_topo *out, struct wfmpi_error *err);
/* Load a topology from an hwloc XML file (tests, tools). As load(), but
 * never asks CUDA. */
int wfmpi_topo_load_xml(struct wfmpi_topo *out, const char *path, struct wfmpi_error *err);
/* The summary only (kept for callers that need no more). */
int wfmpi_topo_discover(struct wfmpi_topo_node *out, struct wfmpi_error *err);

/* All PUs of the topology. */
void wfmpi_topo_all_cpus(const struct wfmpi_topo *t, struct wfmpi_topo_cpuset *out);

/* ---- what the launcher gave (pure) */

/* The GPUs a rank may use, from the launcher's variables (any may be NULL):
 * CUDA_VISIBLE_DEVICES (indexes into the table, or GPU UUIDs / unique UUID
 * prefixes; like CUDA, an invalid entry ends the list; "" = none; MIG
 * instances are not supported and end the list), else SLURM_STEP_GPUS, else
 * SLURM_JOB_GPUS (indexes, ranges allowed). All unset = every GPU. Never
 * fails: what cannot be parsed is left out (and logged at warn). */
uint64_t wfmpi_topo_visible_gpus(const struct wfmpi_topo *t, const char *cuda_visible,
                                 const char *step_gpus, const char *job_gpus);

/* What the launcher gave this process: GPUs from the environment (above)
 * and CPUs from its current affinity (srun --cpu-bind). When the topology
 * is an XML file, the process's affinity says nothing about that machine,
 * so every PU is given unless WFMPI_TOPO_AFFINITY=<list> says otherwise
 * (tests use it to play srun --cpu-bind). *existing gets the real affinity
 * (may be NULL). 0 or a negative error (err set). Any rank. */
int wfmpi_topo_given_here(const struct wfmpi_topo *t, struct wfmpi_topo_given *out,
                          struct wfmpi_topo_cpuset *existing, struct wfmpi_error *err);

/* ---- assignment (pure) */

/* Share `given` among n_ranks ranks that were all given the same resources;
 * write rank's share to out (gpus and cpus; existing is left alone).
 *  - GPUs, ordered by (package, NUMA, ordinal), go in contiguous chunks of
 *    ceil/floor(g / n_ranks) to ranks 0.. (so a rank's GPUs are close
 *    together); with more ranks than GPUs, ranks 0..g-1 get one each and the
 *    rest are CPU-only.
 *  - Cores: when every rank has a GPU, each NUMA domain's cores are split
 *    evenly among the ranks whose GPUs sit in it (ranks share cores when a
 *    domain has fewer cores than ranks); a domain without such ranks goes to
 *    the ranks of its package, else to all ranks. With CPU-only ranks, each
 *    GPU rank first takes its even share (cores / n_ranks) from its GPU's
 *    domain and the CPU-only ranks split what is left (or, if nothing is,
 *    share all the given cores).
 * A GPU without known locality counts as local to every domain.
 * 0, or WFMPI_E_INPUT for n_ranks 0, rank >= n_ranks, or no given CPU. */
int wfmpi_topo_assign(const struct wfmpi_topo *t, const struct wfmpi_topo_given *given,
                      uint32_t n_ranks, uint32_t rank, struct wfmpi_topo_rank *out);

/* A task's CPUs: `cores` whole cores of pool (PUs outside pool are left
 * out), taken in topology order starting at the start-th core of the pool
 * and wrapping; the whole pool when cores >= the pool's core count or 0.
 * Returns the start for the next task (round-robin). */
uint32_t wfmpi_topo_pick_cores(const struct wfmpi_topo *t, const struct wfmpi_topo_cpuset *pool,
                               uint32_t cores, uint32_t start, struct wfmpi_topo_cpuset *out);

/* A task's own cores: `cores` whole cores none of whose PUs is in busy,
 * taken first from pool (its rank's share, or the cores local to its
 * GPUs), in topology order, then from the rest of node (the node's given
 * CPUs), nearest the pool first (same NUMA domain, then same package, then
 * any). out gets those cores' PUs that are in node. Returns how many cores
 * it found: fewer than `cores` when not enough are free (the caller decides;
 * out then holds what was found). Any rank. */
uint32_t wfmpi_topo_pick_free_cores(const struct wfmpi_topo *t,
                                    const struct wfmpi_topo_cpuset *pool,
                                    const struct wfmpi_topo_cpuset *node,
                                    const struct wfmpi_topo_cpuset *busy, uint32_t cores,
                                    struct wfmpi_topo_cpuset *out);

/* ---- binding */

/* Bind the calling process (all threads) to cpus ∩ existing. Binding to
 * CPUs this machine does not have cannot work, so with an XML topology only
 * the PUs that exist here are used; an empty intersection binds nothing and
 * returns 0. Returns the number of PUs bound to, or a negative error. */
int wfmpi_topo_bind(const struct wfmpi_topo_cpuset *cpus, const struct wfmpi_topo_cpuset *existing,
                    struct wfmpi_error *err);

#endif /* WFMPI_TOPO_H */
