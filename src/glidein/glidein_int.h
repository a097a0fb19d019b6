/* Private to the glidein module: the service's state, shared by the HTTP
 * plumbing (serve.c) and the protocol handlers (serve_api.c). */
#ifndef WFMPI_GLIDEIN_INT_H
#define WFMPI_GLIDEIN_INT_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wfmpi/ckpt.h"
#include "wfmpi/exec.h"
#include "wfmpi/glidein.h"
#include "wfmpi/plan.h"
#include "wfmpi/sched.h"

#define GL_ID_LEN 17 /* 16 hex digits + NUL */
#define GL_REQ_ID_MAX 64
#define GL_CLAIM_MAX 4096 /* tasks per claim answer */

struct gl_user {
    char name[WFMPI_GLIDEIN_USER_MAX];
    unsigned char hash[32];
};

struct gl_workflow {
    char id[GL_ID_LEN];
    char owner[WFMPI_GLIDEIN_USER_MAX];
    char dir[PATH_MAX];
    struct wfmpi_plan *plan;
    const struct wfmpi_plan_view *v;
    struct wfmpi_sched *s;
    struct wfmpi_ckpt *ckpt;
    bool removed;
    bool new_failure;
    uint32_t *lease_pilot; /* per task: pilot slot + 1 holding the live attempt */
    uint32_t *done_attempt; /* per task: attempt whose result was accepted */
    uint8_t *crashes; /* per task: pilot deaths (lease expiries) while it ran */
    uint32_t n_leased; /* tasks with lease_pilot != 0 */
    size_t bytes; /* submitted text held (quota) */
};

struct gl_pilot {
    char id[GL_ID_LEN];
    char owner[WFMPI_GLIDEIN_USER_MAX];
    char site[128];
    char job[64];
    double walltime_end;
    double last_seen; /* monotonic */
    bool gone; /* deregistered or lease expired */
    bool drain, shutdown; /* commands for its next heartbeat or claim */
    bool restored; /* from pilots.json after a restart: asked to sync */
    uint32_t running; /* attempts it holds */
    char last_req[GL_REQ_ID_MAX]; /* claim idempotency */
    char *last_answer;
};

struct gl_conn;

struct gl_server {
    struct wfmpi_glidein_server_opts o;
    pthread_mutex_t lock;
    pthread_cond_t work; /* signalled (gl_wake) when tasks may have become READY */
    uint64_t wake_gen; /* bumped by every gl_wake */
    struct gl_conn *parked; /* suspended long-poll claims (serve.c) */
    pthread_t resumer;
    bool resumer_started, stopping;
    struct gl_user *users;
    size_t n_users;
    struct gl_workflow **wfs;
    size_t n_wfs, cap_wfs;
    struct gl_pilot **pilots;
    size_t n_pilots, cap_pilots;
    uint32_t rr; /* round-robin start over workflows for claims */
    char *cert, *key; /* PEM text, alive as long as the daemon */
    struct MHD_Daemon *daemon;
    uint16_t port;
};

/* An HTTP answer: status and JSON body (malloc'd, owned by the caller). */
struct gl_reply {
    unsigned status;
    char *body;
    /* A claim that would wait for work: with may_park set by the caller
     * (the HTTP layer), the handler does not block a thread but sets parked
     * and park_until (wall clock); the caller suspends the connection and
     * routes the same request again, park_until kept, when work may have
     * come or the time is up. Without may_park it waits on s->work. */
    bool may_park, parked;
    double park_until;
};

/* serve.c: the service's state (tokens, pilots, workflows reopened) without
 * the HTTP daemon, for wfmpi_glidein_server_create() and for unit tests,
 * which drive gl_route() directly. Free with wfmpi_glidein_server_destroy(). */
struct gl_server *gl_server_open(const struct wfmpi_glidein_server_opts *o,
                                 struct wfmpi_error *err);

/* serve_api.c: every handler runs with s->lock held, except claim which may
 * wait on s->work (releasing it). user is the authenticated user. */
void gl_route(struct gl_server *s, const char *user, const char *method, const char *url,
              const char *body, size_t len, struct gl_reply *r);
int gl_workflow_open(struct gl_server *s, const char *dir, struct wfmpi_error *err);
void gl_workflow_free(struct gl_workflow *w);
void gl_housekeeping(struct gl_server *s);

/* serve_pilots.c: pilots and leases. slot = index in s->pilots + 1; it is
 * what the journals record as the rank of an attempt. */
struct gl_pilot *gl_find_pilot(struct gl_server *s, const char *id, const char *owner,
                               uint32_t *slot);
void gl_lease_set(struct gl_workflow *w, uint32_t task, uint32_t slot);
void gl_lease_clear(struct gl_workflow *w, uint32_t task);
void gl_record_end(struct gl_workflow *w, uint32_t task, uint32_t attempt, int32_t pilot,
                   const struct wfmpi_exec_result *res, const char *detail);
/* Every attempt the pilot holds goes back to READY (no retry used); the
 * pilot is gone. why goes into the journal and the log. */
void gl_release_pilot(struct gl_server *s, struct gl_pilot *p, uint32_t slot, const char *why);
/* Release every pilot silent for longer than the lease plus its grace. */
void gl_expire_leases(struct gl_server *s);
#define GL_LEASE_EXPIRED "lease expired"
/* <dir>/crashes.json: the tasks' crash counts (rewritten crash-safely when
 * one changes, read on reopen). */
void gl_crashes_save(const struct gl_workflow *w);
void gl_crashes_load(struct gl_workflow *w);
/* Before the workflows are reopened: the pilots live at the last stop. */
int gl_pilots_load(struct gl_server *s, struct wfmpi_error *err);
/* After a workflow's scheduler was restored: re-lease its cut-off attempts
 * to their restored pilots. */
void gl_adopt_leases(struct gl_server *s, struct gl_workflow *w);
void gl_do_register(struct gl_server *s, const char *user, json_t *req, struct gl_reply *r);
void gl_do_sync(struct gl_server *s, struct gl_pilot *p, uint32_t slot, json_t *req,
                struct gl_reply *r);
void gl_reply_json(struct gl_reply *r, unsigned status, json_t *j); /* steals j */
/* Tasks may have become READY or a pilot's commands changed: wake waiting
 * claims (parked ones too). With s->lock held. */
void gl_wake(struct gl_server *s);
void gl_reply_error(struct gl_reply *r, unsigned status, const char *msg);
/* 16 random hex digits from RAND_bytes. */
int gl_random_id(char out[GL_ID_LEN]);

#endif
