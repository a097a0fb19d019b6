/* Pilots and their leases in `wfmpi serve` (docs/glidein-protocol.md):
 * registration, lease bookkeeping, expiry, and what lets leases survive a
 * restart of the service. Every function here runs with the service lock
 * held.
 *
 * Restart. Each workflow's journal records every start with the slot of the
 * pilot that holds it, and <state-dir>/pilots.json maps the live pilots to
 * their slots (rewritten crash-safely when a pilot registers or goes). After
 * a restart, every pilot listed there is live again with a fresh lease, and
 * every attempt that the journal shows cut off while such a pilot held it is
 * RUNNING again under the same attempt number: when the pilot reports it,
 * the result is accepted once, as if the service had never gone. A pilot
 * that does not come back loses them after --lease seconds like any silent
 * pilot (READY again, no retry used). What the journal cannot tell is
 * whether the pilot received the answer of a claim in flight at the crash,
 * so a restored pilot is asked to sync: it lists what it holds, and attempts
 * leased to it that it does not hold go back to READY (no retry used). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "glidein_int.h"
#include "wfmpi/exec.h"

#define REGISTRY_MAX ((size_t)16 << 20)

struct gl_pilot *gl_find_pilot(struct gl_server *s, const char *id, const char *owner,
                               uint32_t *slot)
{
    for (size_t i = 0; i < s->n_pilots; i++) {
        struct gl_pilot *p = s->pilots[i];
        if (!p->gone && strcmp(p->id, id) == 0 && strcmp(p->owner, owner) == 0) {
            *slot = (uint32_t)i + 1;
            return p;
        }
    }
    return NULL;
}

void gl_lease_set(struct gl_workflow *w, uint32_t task, uint32_t slot)
{
    if (!w->lease_pilot[task])
        w->n_leased++;
    w->lease_pilot[task] = slot;
}

void gl_lease_clear(struct gl_workflow *w, uint32_t task)
{
    if (w->lease_pilot[task])
        w->n_leased--;
    w->lease_pilot[task] = 0;
}

void gl_record_end(struct gl_workflow *w, uint32_t task, uint32_t attempt, int32_t pilot,
                   const struct wfmpi_exec_result *res, const char *detail)
{
    struct wfmpi_ckpt_event ev = wfmpi_ckpt_event_of(task, attempt, pilot, res);
    ev.state_after = (uint8_t)wfmpi_sched_state(w->s, task);
    if (wfmpi_ckpt_task_end(w->ckpt, &ev, detail) < 0)
        wfmpi_error_log("workflow %s: %s", w->id, wfmpi_ckpt_error(w->ckpt));
    w->new_failure |= ev.state_after == WFMPI_TASK_FAILED;
}

/* The live attempt of task (leased to slot) goes back to READY, using no
 * retry; when its pilot died (lease expired) for the crash_limit-th time
 * while running the task, the attempt fails instead (a task that kills its
 * pilot is not handed out for ever). Buffered in the journal: the caller
 * commits. */
static bool release_attempt(struct gl_server *s, struct gl_workflow *w, uint32_t t, uint32_t slot,
                            const char *why)
{
    uint32_t a = wfmpi_sched_attempts(w->s, t);
    gl_lease_clear(w, t);
    bool crash = strcmp(why, GL_LEASE_EXPIRED) == 0;
    if (crash && w->crashes[t] < UINT8_MAX)
        w->crashes[t]++;
    bool failed = crash && w->crashes[t] >= s->o.crash_limit;
    if (crash)
        gl_crashes_save(w);
    if (wfmpi_sched_complete(w->s, t, a, failed ? WFMPI_SCHED_FAILED : WFMPI_SCHED_INTERRUPTED) < 0)
        return false;
    struct wfmpi_exec_result res = {.reason = failed ? WFMPI_EXEC_SIGNAL : WFMPI_EXEC_INTERRUPTED,
                                    .signal = failed ? 9 : 0};
    res.start_wall = res.end_wall = wfmpi_wall();
    char text[160];
    if (failed)
        snprintf(text, sizeof(text),
                 "its pilot died (lease expired) %u times while running it (--crash-limit %u)",
                 (unsigned)w->crashes[t], (unsigned)s->o.crash_limit);
    gl_record_end(w, t, a, (int32_t)slot, &res, failed ? text : why);
    if (failed)
        wfmpi_warn("workflow %s task %u: %s", w->id, t, text);
    return true;
}

/* ----------------------------------------------------------- registry */

/* Rewrite pilots.json: the live pilots and their slots. A failure is
 * logged: the service goes on, and a restart then falls back to requeueing
 * that pilot's attempts after --lease seconds. */
static void registry_save(struct gl_server *s)
{
    json_t *list = json_array();
    for (size_t i = 0; i < s->n_pilots; i++) {
        const struct gl_pilot *p = s->pilots[i];
        if (!p->gone)
            json_array_append_new(list,
                                  json_pack("{s:i,s:s,s:s,s:s,s:s,s:f}", "slot", (json_int_t)i + 1,
                                            "id", p->id, "owner", p->owner, "site", p->site,
                                            "slurm_job", p->job, "walltime_end", p->walltime_end));
    }
    json_t *j =
        json_pack("{s:i,s:i,s:o}", "format", 1, "slots", (json_int_t)s->n_pilots, "pilots", list);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/pilots.json", s->o.state_dir);
    int rc = text ? wfmpi_write_file_atomic(path, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc < 0)
        wfmpi_error_log("%s: %s (leases will not survive a restart)", path, wfmpi_strerror(rc));
}

static bool valid_id(const char *id)
{
    return id && strlen(id) == GL_ID_LEN - 1 && strspn(id, "0123456789abcdef") == GL_ID_LEN - 1;
}

/* One restored pilot into its slot (the array is already that long). */
static int restore_pilot(struct gl_server *s, json_t *e, size_t slots)
{
    json_int_t slot = json_integer_value(json_object_get(e, "slot"));
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *owner = json_string_value(json_object_get(e, "owner"));
    const char *site = json_string_value(json_object_get(e, "site"));
    const char *job = json_string_value(json_object_get(e, "slurm_job"));
    if (slot < 1 || (size_t)slot > slots || !valid_id(id) || !owner ||
        strlen(owner) >= WFMPI_GLIDEIN_USER_MAX || !s->pilots[slot - 1]->gone)
        return -1;
    struct gl_pilot *p = s->pilots[slot - 1];
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->owner, sizeof(p->owner), "%s", owner);
    snprintf(p->site, sizeof(p->site), "%s", site ? site : "");
    snprintf(p->job, sizeof(p->job), "%s", job ? job : "");
    p->walltime_end = json_number_value(json_object_get(e, "walltime_end"));
    p->gone = false;
    p->restored = true;
    p->last_seen = wfmpi_mono(); /* a fresh lease to come back in */
    return 0;
}

int gl_pilots_load(struct gl_server *s, struct wfmpi_error *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/pilots.json", s->o.state_dir);
    char *text = NULL;
    size_t len = 0;
    int rc = wfmpi_read_file(path, REGISTRY_MAX, &text, &len);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return wfmpi_error_set(err, rc, "%s: %s", path, wfmpi_strerror(rc));
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *list = json_object_get(j, "pilots");
    json_int_t slots = json_integer_value(json_object_get(j, "slots"));
    if (!json_is_array(list) || slots < 0 || slots > (json_int_t)UINT32_MAX / 2) {
        json_decref(j);
        return wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: not a pilot registry", path);
    }
    /* Slots of pilots that are gone stay taken: the journals name slots. */
    for (json_int_t i = 0; rc == 0 && i < slots; i++) {
        struct gl_pilot *p = calloc(1, sizeof(*p));
        if (p)
            p->gone = true;
        if (!p || WFMPI_PUSH(s->pilots, s->n_pilots, s->cap_pilots, p) < 0) {
            free(p);
            rc = wfmpi_error_set(err, -ENOMEM, "out of memory");
        }
    }
    size_t i;
    json_t *e;
    size_t restored = 0;
    json_array_foreach(list, i, e)
    {
        if (rc == 0 && restore_pilot(s, e, (size_t)slots) < 0)
            rc = wfmpi_error_set(err, WFMPI_E_CORRUPT, "%s: bad pilot entry %zu", path, i);
        restored++;
    }
    json_decref(j);
    if (rc == 0 && restored)
        wfmpi_warn("%zu pilot(s) from before the restart: their leases run again", restored);
    return rc;
}

/* After a restart: attempts that were running on a restored pilot are
 * RUNNING again, leased to it (see the top of this file). */
void gl_adopt_leases(struct gl_server *s, struct gl_workflow *w)
{
    const struct wfmpi_ckpt_task *ct = wfmpi_ckpt_tasks(w->ckpt);
    uint32_t n = 0;
    for (uint32_t t = 0; t < w->v->n_tasks; t++) {
        const struct wfmpi_ckpt_task *k = &ct[t];
        /* Cut off: started (attempts > 0), no end recorded, requeued by resume. */
        if (k->state != WFMPI_TASK_READY || k->attempts == 0 || k->end != 0 || k->rank <= 0 ||
            (size_t)k->rank > s->n_pilots)
            continue;
        struct gl_pilot *p = s->pilots[k->rank - 1];
        if (p->gone || strcmp(p->owner, w->owner) != 0 || wfmpi_sched_restore_running(w->s, t) < 0)
            continue;
        gl_lease_set(w, t, (uint32_t)k->rank);
        p->running++;
        /* The task table says RUNNING again, for status readers. */
        wfmpi_ckpt_task_start(w->ckpt, t, k->attempts, k->rank, 0, 0, k->start);
        n++;
    }
    if (n)
        wfmpi_warn("workflow %s: %u attempt(s) still leased to their pilots", w->id, n);
}

/* ---------------------------------------------------------- lifecycle */

void gl_release_pilot(struct gl_server *s, struct gl_pilot *p, uint32_t slot, const char *why)
{
    uint32_t n = 0;
    for (size_t i = 0; i < s->n_wfs; i++) {
        struct gl_workflow *w = s->wfs[i];
        if (strcmp(w->owner, p->owner) != 0 || w->n_leased == 0)
            continue;
        for (uint32_t t = 0; t < w->v->n_tasks; t++)
            if (w->lease_pilot[t] == slot)
                n += release_attempt(s, w, t, slot, why);
        wfmpi_ckpt_commit(w->ckpt, false);
    }
    p->gone = true;
    p->running = 0;
    registry_save(s);
    if (n)
        wfmpi_warn("pilot %s (%s): %s; %u attempt(s) back to READY", p->id, p->owner, why, n);
    gl_wake(s);
}

/* A pilot silent for its lease kills its tasks itself (pilot.c); the
 * grace covers that kill, so its attempts are handed out again only when
 * no copy can still run. */
void gl_expire_leases(struct gl_server *s)
{
    double now = wfmpi_mono();
    for (size_t i = 0; i < s->n_pilots; i++) {
        struct gl_pilot *p = s->pilots[i];
        if (!p->gone && now - p->last_seen > s->o.lease_s + s->o.lease_grace_s)
            gl_release_pilot(s, p, (uint32_t)i + 1, GL_LEASE_EXPIRED);
    }
}

#define REPLY_ERROR(...)                                                                           \
    do {                                                                                           \
        gl_reply_error(__VA_ARGS__);                                                               \
        return;                                                                                    \
    } while (0)

void gl_do_register(struct gl_server *s, const char *user, json_t *req, struct gl_reply *r)
{
    uint32_t live = 0;
    for (size_t i = 0; i < s->n_pilots; i++)
        live += !s->pilots[i]->gone && strcmp(s->pilots[i]->owner, user) == 0;
    if (live >= s->o.quota_pilots) {
        char text[128];
        snprintf(text, sizeof(text), "quota: %u live pilots (at most %u)", live, s->o.quota_pilots);
        REPLY_ERROR(r, MHD_HTTP_TOO_MANY_REQUESTS, text);
    }
    struct gl_pilot *p = calloc(1, sizeof(*p));
    if (!p || gl_random_id(p->id) < 0 || WFMPI_PUSH(s->pilots, s->n_pilots, s->cap_pilots, p) < 0) {
        free(p);
        REPLY_ERROR(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    snprintf(p->owner, sizeof(p->owner), "%s", user);
    const char *site = json_string_value(json_object_get(req, "site"));
    const char *job = json_string_value(json_object_get(req, "slurm_job"));
    snprintf(p->site, sizeof(p->site), "%s", site ? site : "");
    snprintf(p->job, sizeof(p->job), "%s", job ? job : "");
    p->walltime_end = json_number_value(json_object_get(req, "walltime_end"));
    p->last_seen = wfmpi_mono();
    /* Durable before the pilot can claim anything under this slot. */
    registry_save(s);
    size_t nodes = json_array_size(json_object_get(req, "nodes"));
    wfmpi_warn("pilot %s registered: user %s, site '%s', job '%s', %zu node(s)", p->id, user,
               p->site, p->job, nodes);
    gl_reply_json(r, MHD_HTTP_CREATED,
                  json_pack("{s:s,s:f,s:f,s:f}", "pilot", p->id, "lease_s", s->o.lease_s,
                            "lease_grace_s", s->o.lease_grace_s, "heartbeat_s", s->o.lease_s / 4));
}

/* --------------------------------------------------------------- sync */

static struct gl_workflow *find_wf_index(struct gl_server *s, const char *id, const char *owner,
                                         size_t *index)
{
    for (size_t i = 0; id && i < s->n_wfs; i++)
        if (strcmp(s->wfs[i]->id, id) == 0 && strcmp(s->wfs[i]->owner, owner) == 0) {
            *index = i;
            return s->wfs[i];
        }
    return NULL;
}

/* Mark the held attempts that are this pilot's live leases; list the others
 * (the pilot is to drop them: their results would be stale). */
static int mark_held(struct gl_server *s, const struct gl_pilot *p, uint32_t slot, json_t *held,
                     uint8_t **marks, json_t *cancel)
{
    size_t i;
    json_t *e;
    json_array_foreach(held, i, e)
    {
        size_t k = 0;
        struct gl_workflow *w =
            find_wf_index(s, json_string_value(json_object_get(e, "wf")), p->owner, &k);
        json_int_t t = json_integer_value(json_object_get(e, "task"));
        json_int_t a = json_integer_value(json_object_get(e, "attempt"));
        if (!w || t < 0 || t >= w->v->n_tasks || a <= 0)
            continue;
        if (w->lease_pilot[t] == slot && wfmpi_sched_attempts(w->s, (uint32_t)t) == (uint32_t)a) {
            if (!marks[k] && !(marks[k] = calloc(w->v->n_tasks, 1)))
                return -ENOMEM;
            marks[k][t] = 1;
        } else if (w->done_attempt[t] != (uint32_t)a) {
            json_array_append_new(cancel,
                                  json_pack("{s:s,s:I,s:I}", "wf", w->id, "task", t, "attempt", a));
        }
    }
    return 0;
}

void gl_do_sync(struct gl_server *s, struct gl_pilot *p, uint32_t slot, json_t *req,
                struct gl_reply *r)
{
    json_t *held = json_object_get(req, "held");
    bool ok = json_is_array(held);
    size_t n;
    json_t *e;
    /* A malformed entry would read as "not held" and release a lease the
     * pilot holds: the whole request is refused instead. */
    json_array_foreach(held, n, e) ok = ok && json_is_string(json_object_get(e, "wf")) &&
                                        json_is_integer(json_object_get(e, "task")) &&
                                        json_is_integer(json_object_get(e, "attempt"));
    if (!ok)
        REPLY_ERROR(r, MHD_HTTP_BAD_REQUEST,
                    "expected {\"held\": [{\"wf\",\"task\",\"attempt\"}]}");
    uint8_t **marks = calloc(s->n_wfs ? s->n_wfs : 1, sizeof(*marks));
    json_t *cancel = json_array();
    int rc = marks ? mark_held(s, p, slot, held, marks, cancel) : -ENOMEM;
    uint32_t released = 0;
    for (size_t k = 0; rc == 0 && k < s->n_wfs; k++) {
        struct gl_workflow *w = s->wfs[k];
        if (w->n_leased == 0 || strcmp(w->owner, p->owner) != 0)
            continue;
        for (uint32_t t = 0; t < w->v->n_tasks; t++)
            if (w->lease_pilot[t] == slot && !(marks[k] && marks[k][t]) &&
                release_attempt(s, w, t, slot, "not held by its pilot after a service restart")) {
                released++;
                p->running -= p->running > 0;
            }
        wfmpi_ckpt_commit(w->ckpt, false);
    }
    for (size_t k = 0; marks && k < s->n_wfs; k++)
        free(marks[k]);
    free(marks);
    if (rc < 0) {
        json_decref(cancel);
        REPLY_ERROR(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    p->restored = false;
    if (released) {
        wfmpi_warn("pilot %s (%s): %u leased attempt(s) it never received back to READY", p->id,
                   p->owner, released);
        gl_wake(s);
    }
    gl_reply_json(r, MHD_HTTP_OK,
                  json_pack("{s:i,s:o}", "released", (json_int_t)released, "cancel", cancel));
}
