/* Profiles -> resources and environment.
 *
 * Levels are applied from weakest to strongest (workflow < site catalog <
 * transformation < transformation-site < job); a quantity set at a level
 * replaces what lower levels said. Within one level several keys may give
 * the same quantity (pegasus.cores, pegasus.pmc_request_cpus,
 * condor.request_cpus): pegasus.* wins over pmc_* over condor.* and dagman.*
 * whatever the order they are written in. Keys are compared as interned ids,
 * so applying a level costs no string comparison. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan_int.h"

enum kind {
    K_COUNT, /* non-negative integer */
    K_MB, /* non-negative number of MB, optional MB/GB suffix */
    K_SEC, /* non-negative seconds */
    K_MIN, /* non-negative minutes, stored as seconds */
    K_SIGNED, /* integer, may be negative (priorities) */
    K_STR,
};

struct key_def {
    const char *ns, *key;
    uint8_t qty, rank, kind;
};

static const struct key_def key_defs[] = {
    {"pegasus", "cores", PQ_CORES, 3, K_COUNT},
    {"pegasus", "gpus", PQ_GPUS, 3, K_COUNT},
    {"pegasus", "memory", PQ_MEMORY, 3, K_MB},
    {"pegasus", "runtime", PQ_RUNTIME, 3, K_SEC},
    {"pegasus", "job.runtime", PQ_RUNTIME, 3, K_SEC}, /* deprecated spelling */
    {"pegasus", "maxwalltime", PQ_MAXWALL, 3, K_MIN},
    {"pegasus", "checkpoint.time", PQ_CKPT, 3, K_MIN},
    {"pegasus", "exitcode.successmsg", PQ_SUCCESS, 3, K_STR},
    {"pegasus", "exitcode.failuremsg", PQ_FAILURE, 3, K_STR},
    {"pegasus", "pmc_request_cpus", PQ_CORES, 2, K_COUNT},
    {"pegasus", "pmc_request_memory", PQ_MEMORY, 2, K_MB},
    {"pegasus", "pmc_priority", PQ_PRIORITY, 2, K_SIGNED},
    {"condor", "request_cpus", PQ_CORES, 1, K_COUNT},
    {"condor", "request_gpus", PQ_GPUS, 1, K_COUNT},
    {"condor", "request_memory", PQ_MEMORY, 1, K_MB},
    {"dagman", "retry", PQ_RETRY, 3, K_COUNT},
    {"dagman", "priority", PQ_PRIORITY, 1, K_SIGNED},
    {"dagman", "category", PQ_CATEGORY, 3, K_STR},
};

#define N_KEY_DEFS (sizeof(key_defs) / sizeof(key_defs[0]))

/* Counts beyond this are typos, not requests (and must fit uint32). */
#define PLAN_MAX_COUNT 1e9

int plan_keys_init(struct planner *P)
{
    _Static_assert(N_KEY_DEFS <= sizeof(P->keys) / sizeof(P->keys[0]), "key table too small");
    for (size_t i = 0; i < N_KEY_DEFS; i++) {
        struct plan_keyspec *k = &P->keys[i];
        k->ns = wfmpi_strtab_intern_cstr(P->st, key_defs[i].ns);
        k->key = wfmpi_strtab_intern_cstr(P->st, key_defs[i].key);
        k->qty = key_defs[i].qty;
        k->rank = key_defs[i].rank;
        k->kind = key_defs[i].kind;
        if (!k->ns || !k->key)
            return -ENOMEM;
    }
    P->n_keys = N_KEY_DEFS;
    P->ns_env = wfmpi_strtab_intern_cstr(P->st, "env");
    P->ns_dagman = wfmpi_strtab_intern_cstr(P->st, "dagman");
    P->s_local = wfmpi_strtab_intern_cstr(P->st, "local");
    P->s_condorpool = wfmpi_strtab_intern_cstr(P->st, "condorpool");
    P->s_incontainer = wfmpi_strtab_intern_cstr(P->st, "incontainer");
    return (P->ns_env && P->ns_dagman && P->s_local && P->s_condorpool) ? 0 : -ENOMEM;
}

int plan_env_set(struct plan_env *e, uint32_t key, uint32_t val)
{
    for (size_t i = 0; i < e->n; i++) {
        if (e->kv[2 * i] == key) {
            e->kv[2 * i + 1] = val;
            return 0;
        }
    }
    if (wfmpi_grow((void **)&e->kv, &e->cap, 2 * (e->n + 1), sizeof(*e->kv)))
        return -ENOMEM;
    e->kv[2 * e->n] = key;
    e->kv[2 * e->n + 1] = val;
    e->n++;
    return 0;
}

/* Parse a number of the given kind; false when it is not one. */
static bool parse_value(const char *s, uint8_t kind, double *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    double d = strtod(s, &end);
    if (end == s || !isfinite(d))
        return false;
    while (isspace((unsigned char)*end))
        end++;
    if (kind == K_MB && (!strcasecmp(end, "MB") || !strcasecmp(end, "M"))) {
        end += strlen(end);
    } else if (kind == K_MB && (!strcasecmp(end, "GB") || !strcasecmp(end, "G"))) {
        d *= 1024;
        end += strlen(end);
    }
    if (*end)
        return false;
    if ((kind == K_COUNT || kind == K_SIGNED) && d != floor(d))
        return false;
    if (kind == K_MIN)
        d *= 60;
    *out = d;
    return true;
}

static int set_value(struct planner *P, const struct plan_keyspec *k,
                     const struct wfmpi_wf_profile *pr, struct plan_res *lvl, uint8_t *rank)
{
    if (k->rank < rank[k->qty])
        return 0; /* a stronger key at this level already decided */
    if (k->kind == K_STR) {
        lvl->str[k->qty] = pr->value;
    } else {
        const char *s = plan_s(P, pr->value);
        double d;
        if (!parse_value(s, k->kind, &d))
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT, "profile %s.%s: '%s' is not a number",
                                  plan_s(P, pr->ns), plan_s(P, pr->key), s);
        if (d < 0 && k->kind != K_SIGNED)
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT, "profile %s.%s: negative value '%s'",
                                  plan_s(P, pr->ns), plan_s(P, pr->key), s);
        if (fabs(d) > PLAN_MAX_COUNT && (k->kind == K_COUNT || k->kind == K_SIGNED))
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT, "profile %s.%s: '%s' is out of range",
                                  plan_s(P, pr->ns), plan_s(P, pr->key), s);
        lvl->num[k->qty] = d;
    }
    lvl->set[k->qty] = 1;
    rank[k->qty] = k->rank;
    return 0;
}

static const struct plan_keyspec *find_key(const struct planner *P, uint32_t ns, uint32_t key)
{
    for (size_t i = 0; i < P->n_keys; i++) {
        if (P->keys[i].key == key && P->keys[i].ns == ns)
            return &P->keys[i];
    }
    return NULL;
}

int plan_apply_profiles(struct planner *P, const struct wfmpi_wf_view *v, struct wfmpi_wf_range r,
                        struct plan_res *res, struct plan_env *env)
{
    struct plan_res lvl;
    uint8_t rank[PQ_N] = {0};
    memset(lvl.set, 0, sizeof(lvl.set));
    for (uint32_t i = 0; i < r.count; i++) {
        const struct wfmpi_wf_profile *pr = &v->profiles_all[r.first + i];
        if (pr->ns == P->ns_env) {
            if (plan_env_set(env, pr->key, pr->value))
                return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
            continue;
        }
        const struct plan_keyspec *k = find_key(P, pr->ns, pr->key);
        if (k) {
            int rc = set_value(P, k, pr, &lvl, rank);
            if (rc)
                return rc;
        } else if (wfmpi_log_enabled(WFMPI_LOG_DEBUG)) {
            char where[64];
            snprintf(where, sizeof(where), "%u:%u", pr->pos.line, pr->pos.col);
            wfmpi_debug("%s:%s: profile %s.%s is not used by wfmpi", plan_s(P, pr->pos.file), where,
                        plan_s(P, pr->ns), plan_s(P, pr->key));
        }
    }
    for (int q = 0; q < PQ_N; q++) {
        if (!lvl.set[q])
            continue;
        res->set[q] = 1;
        res->num[q] = lvl.num[q];
        res->str[q] = lvl.str[q];
    }
    return 0;
}

/* "<category>.maxjobs" under the workflow's dagman profiles. */
int plan_categories(struct planner *P, const struct wfmpi_wf_view *v)
{
    static const char suffix[] = ".maxjobs";
    const size_t sl = sizeof(suffix) - 1;
    for (uint32_t i = 0; i < v->profiles.count; i++) {
        const struct wfmpi_wf_profile *pr = &v->profiles_all[v->profiles.first + i];
        const char *key = plan_s(P, pr->key);
        size_t kl = strlen(key);
        if (pr->ns != P->ns_dagman || kl <= sl || strcmp(key + kl - sl, suffix) != 0)
            continue;
        double d;
        const char *val = plan_s(P, pr->value);
        if (!parse_value(val, K_COUNT, &d) || d < 0 || d > PLAN_MAX_COUNT)
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT,
                                  "profile dagman.%s: '%s' is not a non-negative integer", key,
                                  val);
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(kl - sl), key);
        if (wfmpi_plan_builder_add_category(P->b, name, (uint32_t)d))
            return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    }
    return 0;
}
