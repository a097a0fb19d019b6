/* Private to the MPI module: the wire format and the shared context. */
#ifndef WFMPI_MPI_INT_H
#define WFMPI_MPI_INT_H

#include <mpi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/exec.h"
#include "wfmpi/mpi.h"

/* Message tags. Every message starts with a header (magic, version, type,
 * count) so a stray or truncated message is rejected, not misread. */
enum wire_tag {
    WIRE_TAG_CONFIG = 1, /* master -> worker, once: run configuration */
    WIRE_TAG_TASKS = 2, /* master -> worker: a batch of task records */
    WIRE_TAG_RESULTS = 3, /* worker -> master: a batch of result records */
    WIRE_TAG_STOP = 4, /* master -> worker: leave with this exit code */
    WIRE_TAG_DRAIN = 5, /* master -> worker: SIGTERM tasks now, SIGKILL after grace */
    WIRE_TAG_CANCEL = 6, /* pilot -> worker: interrupt these attempts (tag u64, grace f64) */
    WIRE_TAG_REVOKE = 7, /* master -> worker: give these waiting standbys back (tag u64) */
};

/* A result record's reason for a standby the worker gave back unstarted
 * (WIRE_TAG_REVOKE): not an attempt's end, never journaled. */
#define WIRE_REASON_TAKEN_BACK 0xfffffffeu

#define WIRE_MAGIC 0x57464d50u /* "WFMP" */
#define WIRE_VERSION 4u
#define WIRE_HEADER_BYTES 16
/* A message never grows past this. The master dispatches at most 4096 tasks
 * per loop round, so a batch stays far below it (DESIGN.md §9). */
#define WIRE_MAX_MSG ((size_t)64 << 20)

/* One task as a worker needs it: pointers into the received message (each
 * string is NUL-terminated on the wire, so decoding copies nothing). */
/* wire_task flags: the stream is the engine's default log, created only
 * when the task writes to it (wfmpi_exec_spec's stdout_lazy/stderr_lazy). */
#define WIRE_TASK_STDOUT_LAZY 1u
#define WIRE_TASK_STDERR_LAZY 2u
/* No older log of the same name can exist (wfmpi_exec_spec's lazy_fresh). */
#define WIRE_TASK_LOGS_FRESH 4u

struct wire_task {
    uint32_t task, attempt, cores, flags;
    /* A standby (wfmpi_sched_next_behind): the tag of the attempt on this
     * rank it starts after, as soon as that one has ended; 0 = start now. */
    uint64_t after;
    uint64_t gpu_mask;
    double timeout_s, checkpoint_s;
    const char *id, *exe, *stdin_path, *stdout_path, *stderr_path;
    const char *successmsg, *failuremsg, *cpuset;
    uint32_t argc, n_env, n_outputs;
    /* argv, env and outputs are consecutive strings in the message; the
     * decoder fills these from a reusable pointer table. */
    const char **argv, **env, **outputs;
};

struct wire_config {
    const char *work_dir, *run_dir;
    bool exec_null;
    double kill_grace_s;
};

/* Writer: appends to a bounded buffer; the first error sticks. */
struct wire_writer {
    struct wfmpi_buf *buf;
    int rc;
};

void wire_begin(struct wire_writer *w, struct wfmpi_buf *buf, enum wire_tag type);
/* Patch the record count into the header. */
void wire_finish(struct wire_writer *w, uint32_t count);
void wire_u32(struct wire_writer *w, uint32_t v);
void wire_u64(struct wire_writer *w, uint64_t v);
void wire_f64(struct wire_writer *w, double v);
void wire_str(struct wire_writer *w, const char *s); /* NULL is written as "" */

/* Reader over one received message; any violation sets bad and makes every
 * later read return zero/empty, so a decoder checks once at the end. */
struct wire_reader {
    const char *p, *end;
    bool bad;
};

/* Validates magic, version and type; returns the record count or -1. */
int64_t wire_open(struct wire_reader *r, const void *msg, size_t len, enum wire_tag type);
uint32_t wire_get_u32(struct wire_reader *r);
uint64_t wire_get_u64(struct wire_reader *r);
double wire_get_f64(struct wire_reader *r);
const char *wire_get_str(struct wire_reader *r);

/* Task and result records. */
void wire_put_result(struct wire_writer *w, const struct wfmpi_exec_result *res);
/* 0 for an attempt's result, 1 for a standby given back (only res->tag is
 * meaningful), WFMPI_E_PROTO for a malformed record. */
int wire_get_result(struct wire_reader *r, struct wfmpi_exec_result *res);
/* A standby given back unstarted, as a result record. */
void wire_put_taken_back(struct wire_writer *w, uint64_t tag);
int wire_get_task(struct wire_reader *r, struct wire_task *t, const char ***table,
                  size_t *table_cap);
void wire_put_config(struct wire_writer *w, const struct wire_config *c);
int wire_get_config(struct wire_reader *r, struct wire_config *c);

/* doorbell.c: waking a sleeping rank of the same node (see there). open
 * is collective (every rank, at start-up) and leaves bell_fd -1 everywhere
 * unless every rank got one. ring: rank has a message from us (no-op for a
 * rank of another node, or without doorbells). local: rank can be rung.
 * wait: sleep until exec_fd or our bell is readable or max_s passed, and
 * silence the bell; ppoll's result. */
#define MPI_BELL_SLEEP_S 0.005

/* startup.c: has this rank had a drain signal? With wait, for a result of
 * this rank's own task killed by a drain signal, waits up to
 * MPI_DRAIN_SIGNAL_WAIT_MS for the rank's own copy. */
#define MPI_DRAIN_SIGNAL_WAIT_MS 200
bool mpi_drain_signalled(const struct wfmpi_mpi *m, const struct wfmpi_exec_result *r, bool wait);
struct wfmpi_mpi;
void mpi_doorbell_open(struct wfmpi_mpi *m);
void mpi_doorbell_close(struct wfmpi_mpi *m);
void mpi_doorbell_ring(const struct wfmpi_mpi *m, int rank);
bool mpi_doorbell_local(const struct wfmpi_mpi *m, int rank);
int mpi_doorbell_wait(const struct wfmpi_mpi *m, int exec_fd, double max_s);
/* MPI_Isend of a message to rank, then ring it. A send that completes at
 * once (a small message, copied whole into the peer's queue) leaves *req
 * MPI_REQUEST_NULL: the peer has it all, so its completion needs no second
 * ring and waking the peer for it would be a wasted context switch. A send
 * still pending leaves *req for the caller to complete, and to ring again
 * then (the peer must progress a large message with us). MPI's rc. */
int mpi_isend_ring(const struct wfmpi_mpi *m, const void *buf, size_t len, int rank, int tag,
                   MPI_Request *req);

/* The context shared by start-up, master and worker. */
struct wfmpi_mpi {
    int rank, size;
    /* Set (non-zero) by the caller's signal handler when a drain signal
     * arrived on this rank; NULL when the caller does not catch them. */
    const volatile sig_atomic_t *drain_signal;
    int node_index; /* index of this rank's node */
    int node_rank; /* rank within the node */
    MPI_Comm node_comm;
    /* Doorbell (doorbell.c): -1 when not in use (on every rank then). */
    int bell_fd;
    uint64_t bell_token;
    uint8_t *bell_local; /* per world rank: on this node */
    struct wfmpi_topo_node local;
    struct wfmpi_topo *topo; /* this node's topology (every rank) */
    struct wfmpi_topo_rank share; /* this rank's GPUs and CPUs */
    /* Master only: */
    uint32_t n_nodes;
    struct wfmpi_mpi_node *nodes;
    int *node_ranks; /* all ranks, node-major; nodes[i].ranks points in here */
    int *slot_rank; /* scheduler slot -> MPI rank (== node_ranks) */
    struct wfmpi_sched_node *sched_nodes;
    struct wfmpi_topo *node_topo; /* per node */
    struct wfmpi_topo_rank *slot_share; /* per slot: that rank's GPUs and CPUs */
    uint32_t *gpu_owner, *gpu_group; /* per node's scheduler GPUs, flattened */
    uint8_t *gpu_table; /* node * 64 + scheduler GPU -> index in the node's GPU table */
    uint32_t *core_cursor; /* per slot: where the next task's cores start */
    struct mpi_binding *binding; /* scratch for mpi_task_binding() */
    /* Per node, master only, made on first use (binding.c): the CPUs its
     * ranks were given, and those that running tasks own. */
    struct wfmpi_topo_cpuset *node_given, *node_busy;
};

/* A task's CPU binding and GPU environment, as strings for its record. */
#define MPI_BINDING_MAX 8192
struct mpi_binding {
    bool has_gpus; /* the node has GPUs: set the CUDA variables (empty for CPU tasks) */
    char cpuset[MPI_BINDING_MAX]; /* to bind to: chosen cores ∩ CPUs that exist; "" = none */
    /* Ready "KEY=VALUE" entries; "" when not set. */
    char env_cpuset[MPI_BINDING_MAX + 16]; /* WFMPI_CPUSET=<chosen from the topology> */
    char env_cuda[24 + WFMPI_TOPO_MAX_GPUS * 4]; /* CUDA_VISIBLE_DEVICES=<ordinals> */
    char env_gpus[16 + WFMPI_TOPO_MAX_GPUS * WFMPI_TOPO_UUID_MAX]; /* WFMPI_GPUS=<UUIDs> */
};

/* Master: the binding of a dispatched task (inside the cpusets of the ranks
 * that own its GPUs, else of its rank; round-robin over those cores). The
 * result lives in m until the next call. */
const struct mpi_binding *mpi_task_binding(struct wfmpi_mpi *m,
                                           const struct wfmpi_sched_dispatch *d);
/* Master: the same with an exact core set (binding.c): cores of the node no
 * other running task owns, from the task's pool first; *held gets them and
 * they are marked owned (release them with mpi_cores_release when the task
 * ends). within != NULL (a standby): the cores come out of `within`, the
 * set of the attempt it follows, and are not marked (that attempt owns
 * them; mpi_cores_own when it takes over). *held is empty when no exact
 * set could be had (more cores scheduled than exist): the round-robin
 * choice is returned, owning nothing. */
const struct mpi_binding *mpi_task_binding_exact(struct wfmpi_mpi *m,
                                                 const struct wfmpi_sched_dispatch *d,
                                                 const struct wfmpi_topo_cpuset *within,
                                                 struct wfmpi_topo_cpuset *held);
void mpi_cores_own(struct wfmpi_mpi *m, uint32_t node, const struct wfmpi_topo_cpuset *held);
void mpi_cores_release(struct wfmpi_mpi *m, uint32_t node, const struct wfmpi_topo_cpuset *held);

/* Receive one message of tag from src (blocking; used after a successful
 * probe) into buf, growing it up to WIRE_MAX_MSG. Returns the length or a
 * negative error. */
int64_t mpi_recv_msg(struct wfmpi_buf *buf, int src, int tag, int *from);
/* Rank 0: broadcast the run's wire config to every rank (encoded in scratch);
 * the workers' start-up receives it. 0 or a negative error. */
int mpi_bcast_config(struct wfmpi_buf *scratch, const struct wire_config *cfg);

/* Exec spec from a decoded task (worker side and master's local share). */
void mpi_task_spec(const struct wire_task *t, const struct wire_config *c,
                   struct wfmpi_exec_spec *spec);

#endif
