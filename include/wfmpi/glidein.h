/* wfmpi glidein mode (DESIGN.md §8): a hosted scheduler service (`wfmpi
 * serve`, libmicrohttpd) that holds submitted workflows, and the client side
 * (libcurl) used by `wfmpi submit/status/remove` and by pilots (`wfmpi
 * glidein`) that pull tasks into an allocation's MPI pool.
 *
 * The protocol (JSON over HTTPS, versioned under /v1) is documented in
 * docs/glidein-protocol.md. HTTP lives only in this module.
 */
#ifndef WFMPI_GLIDEIN_H
#define WFMPI_GLIDEIN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/mpi.h"
#include "wfmpi/util.h"

/* Request body limits per route (docs/glidein-protocol.md): a submission
 * carries a workflow and its catalogs (--max-submit, this by default);
 * results and sync carry up to a pilot's whole backlog; registration one
 * record per node; every other request a few fields. */
#define WFMPI_GLIDEIN_MAX_SUBMIT ((size_t)16 << 20)
#define WFMPI_GLIDEIN_MAX_RESULTS ((size_t)8 << 20)
#define WFMPI_GLIDEIN_MAX_REGISTER ((size_t)1 << 20)
#define WFMPI_GLIDEIN_MAX_SMALL ((size_t)16 << 10)
#define WFMPI_GLIDEIN_USER_MAX 64

/* ------------------------------------------------------------ service */

struct wfmpi_glidein_server_opts {
    const char *bind; /* address to bind, "127.0.0.1" when NULL */
    uint16_t port; /* 0 = any free port (see server_port()) */
    const char *cert_file, *key_file; /* PEM; both or neither */
    bool insecure_http; /* plain HTTP: only with a loopback bind */
    const char *tokens_file; /* "user sha256hex(token)" per line */
    const char *state_dir; /* <state_dir>/<wfid>/ per workflow */
    double lease_s; /* a pilot silent this long kills its tasks (60) ... */
    double lease_grace_s; /* ... and this much later loses them (lease/4, 1..10) */
    uint32_t crash_limit; /* a task whose pilot died this often fails (3) */
    double long_poll_s; /* longest a claim waits for work (5) */
    int32_t default_retries; /* for tasks without dagman.retry (1) */
    const char *const *admins; /* users who may list and drain/shut down any
                                  pilot (others: only their own); may be NULL */
    size_t n_admins;
    /* Resource bounds; 0 = the default in parentheses. */
    size_t max_submit; /* bytes of one submission (WFMPI_GLIDEIN_MAX_SUBMIT) */
    size_t quota_bytes; /* submitted bytes one user may hold (256 MiB) */
    uint32_t quota_workflows; /* workflows one user may hold, not removed (100) */
    uint32_t quota_pilots; /* live pilots of one user (1000) */
    uint32_t max_connections; /* open connections in all (1000) */
    uint32_t per_ip_connections; /* open connections from one address (64) */
    uint32_t threads; /* request threads (4) */
    double idle_timeout_s; /* an idle connection is closed after this (30) */
};

struct wfmpi_glidein_server;

/* Load the tokens, reopen every workflow under state_dir (resuming its
 * checkpoint) and start listening. NULL with err set: WFMPI_E_INPUT for bad
 * options (plain HTTP off loopback, a cert without key), -errno for I/O. */
struct wfmpi_glidein_server *wfmpi_glidein_server_create(const struct wfmpi_glidein_server_opts *o,
                                                         struct wfmpi_error *err);
/* The port actually bound. */
uint16_t wfmpi_glidein_server_port(const struct wfmpi_glidein_server *s);
/* Housekeeping until *stop becomes non-zero: lease expiry, checkpoint
 * snapshots. Requests are served by libmicrohttpd's threads meanwhile. */
int wfmpi_glidein_server_run(struct wfmpi_glidein_server *s, volatile sig_atomic_t *stop);
/* Stop listening, close every checkpoint. NULL is fine. */
void wfmpi_glidein_server_destroy(struct wfmpi_glidein_server *s);

/* Add (or replace) user's line in tokens_file with the hash of a fresh random
 * token, written to token (hex, NUL-terminated; size >= 65). The file is
 * rewritten crash-safely with mode 0600. */
int wfmpi_glidein_add_user(const char *tokens_file, const char *user, char *token, size_t size,
                           struct wfmpi_error *err);

/* ------------------------------------------------------------- client */

struct wfmpi_glidein_client_opts {
    const char *url; /* https://host:port (http:// only with insecure_http) */
    const char *token_file; /* the bearer token, first line */
    const char *cacert; /* CA bundle for the server's certificate; NULL = system */
    bool insecure_http;
    double connect_timeout_s; /* 0 = 10 */
    double total_timeout_s; /* 0 = 60 */
    bool strict; /* submit: plan with unknown keys as errors before sending (--strict) */
};

/* Submit a workflow: plans it locally first (input errors come back as
 * WFMPI_E_INPUT before anything is sent), then sends the workflow text and its
 * catalogs (rc/tc/sc may be NULL; default catalogs beside the workflow are
 * sent too). Writes the workflow id (NUL-terminated) to id. */
int wfmpi_glidein_submit(const struct wfmpi_glidein_client_opts *c, const char *workflow,
                         const char *rc, const char *tc, const char *sc, char *id, size_t id_size,
                         struct wfmpi_error *err);
/* GET /v1/workflows/<id>: the JSON answer into out (caller inits/fini's out). */
int wfmpi_glidein_status(const struct wfmpi_glidein_client_opts *c, const char *id,
                         struct wfmpi_buf *out, struct wfmpi_error *err);
/* DELETE /v1/workflows/<id>: no more of its tasks are handed out, and the
 * pilots running its attempts are told to cancel them. */
int wfmpi_glidein_remove(const struct wfmpi_glidein_client_opts *c, const char *id,
                         struct wfmpi_error *err);
/* GET /v1/pilots: the caller's live pilots (an admin's: every pilot) as
 * JSON into out (caller inits/fini's out). */
int wfmpi_glidein_pilots(const struct wfmpi_glidein_client_opts *c, struct wfmpi_buf *out,
                         struct wfmpi_error *err);
/* POST /v1/pilots/<pilot>/command: command is "drain" (stop claiming, let
 * running tasks end, leave) or "shutdown" (interrupt tasks, leave).
 * WFMPI_E_NOTFOUND for a pilot that is gone or not the caller's. */
int wfmpi_glidein_command(const struct wfmpi_glidein_client_opts *c, const char *pilot,
                          const char *command, struct wfmpi_error *err);

/* -------------------------------------------------------------- pilot */

struct wfmpi_glidein_pilot_opts {
    struct wfmpi_glidein_client_opts client;
    double lifetime_s; /* leave after this long; 0 = no limit */
    double idle_timeout_s; /* leave when no work came for this long (300) */
    double register_timeout_s; /* give up (exit 4) when registration keeps
                                  failing this long (60); TLS errors and 401
                                  end it at once */
    double walltime_end; /* epoch seconds the allocation ends; 0 = unknown */
    double drain_before_s; /* stop claiming this long before walltime_end */
    double drain_grace_s; /* SIGTERM -> SIGKILL for tasks on drain */
    double kill_grace_s;
    bool exec_null; /* report success without spawning (bench) */
    const char *work_dir; /* absolute; tasks run here */
    const char *site; /* reported at registration */
    uint32_t cores_per_node; /* 0 = hwloc */
    uint32_t max_claim; /* tasks per claim (1024) */
    volatile sig_atomic_t *stop; /* non-zero: drain and leave (a signal) */
};

/* Rank 0 of `wfmpi glidein`: register, claim, feed the MPI ranks, report
 * results, deregister. Every other rank runs wfmpi_mpi_worker(). Returns the
 * exit code for every rank (0 clean end: idle, lifetime; 3 stopped by a
 * signal or walltime) or a negative error (WFMPI_E_PROTO with the cause in
 * err when the service cannot be reached or refuses the pilot). */
int wfmpi_glidein_pilot(struct wfmpi_mpi *m, const struct wfmpi_glidein_pilot_opts *o,
                        struct wfmpi_error *err);

#endif /* WFMPI_GLIDEIN_H */
