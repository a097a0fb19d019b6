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
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plan_int.h"

struct key_def {
    const char *ns, *key;
    uint8_t qty, rank, kind;
};

static const struct key_def key_defs[] = {
    {"pegasus", "cores", PQ_CORES, 3, PK_CORES},
    {"pegasus", "gpus", PQ_GPUS, 3, PK_COUNT},
    {"pegasus", "memory", PQ_MEMORY, 3, PK_MB},
    {"pegasus", "runtime", PQ_RUNTIME, 3, PK_SEC},
    {"pegasus", "job.runtime", PQ_RUNTIME, 3, PK_SEC}, /* deprecated spelling */
    {"pegasus", "maxwalltime", PQ_MAXWALL, 3, PK_MIN},
    {"pegasus", "checkpoint.time", PQ_CKPT, 3, PK_MIN},
    {"pegasus", "exitcode.successmsg", PQ_SUCCESS, 3, PK_STR},
    {"pegasus", "exitcode.failuremsg", PQ_FAILURE, 3, PK_STR},
    {"pegasus", "pmc_request_cpus", PQ_CORES, 2, PK_CORES},
    {"pegasus", "pmc_request_memory", PQ_MEMORY, 2, PK_MB},
    {"pegasus", "pmc_priority", PQ_PRIORITY, 2, PK_SIGNED},
    {"condor", "request_cpus", PQ_CORES, 1, PK_CORES},
    {"condor", "request_gpus", PQ_GPUS, 1, PK_COUNT},
    {"condor", "request_memory", PQ_MEMORY, 1, PK_MB},
    {"dagman", "retry", PQ_RETRY, 3, PK_COUNT},
    {"dagman", "priority", PQ_PRIORITY, 1, PK_SIGNED},
    {"dagman", "category", PQ_CATEGORY, 3, PK_STR},
};

#define N_KEY_DEFS (sizeof(key_defs) / sizeof(key_defs[0]))

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

/* ------------------------------------------------------------ numbers
 *
 * Every numeric profile goes through plan_parse_number: decimal text only
 * (no hex, inf or nan, which strtod would take), converted by strtoll or
 * strtod with their errno and end pointer checked, then held to the range
 * of its kind. The ranges are far beyond any real request and well inside
 * what the plan's fields hold (uint32 counts, int32 retries and priorities,
 * seconds that are multiplied by 1000 into a uint64), so nothing later
 * overflows. */

struct num_kind {
    long long min, max; /* in the unit as written */
    bool integer; /* 2.5 is refused, 2.0 and 2e3 are not */
    bool mb; /* MB/M/GB/G may follow */
    const char *unit; /* in messages */
    double scale; /* as written -> the plan's unit */
};

static const struct num_kind num_kinds[PK_STR] = {
    [PK_CORES] = {1, PLAN_NUM_MAX, true, false, "", 1},
    [PK_COUNT] = {0, PLAN_NUM_MAX, true, false, "", 1},
    [PK_MB] = {0, PLAN_NUM_MAX, false, true, " MB", 1},
    [PK_SEC] = {0, PLAN_NUM_MAX, false, false, " s", 1},
    [PK_MIN] = {0, PLAN_NUM_MAX, false, false, " min", 60},
    [PK_SIGNED] = {-PLAN_NUM_MAX, PLAN_NUM_MAX, true, false, "", 1},
};

/* Length of the decimal number at s: [+-] digits [. digits] [e [+-] digits],
 * with digits on at least one side of the point; 0 when there is none.
 * *plain is set when it is digits only (after the sign). */
static size_t decimal_len(const char *s, bool *plain)
{
    size_t i = (s[0] == '+' || s[0] == '-'), digits = 0;
    for (; isdigit((unsigned char)s[i]); i++)
        digits++;
    *plain = digits > 0;
    if (s[i] == '.') {
        *plain = false;
        for (i++; isdigit((unsigned char)s[i]); i++)
            digits++;
    }
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1 + (s[i + 1] == '+' || s[i + 1] == '-');
        if (!isdigit((unsigned char)s[j]))
            return i; /* "2e" stops before the e: junk follows */
        *plain = false;
        for (i = j; isdigit((unsigned char)s[i]); i++)
            ;
    }
    return i;
}

/* After the number: nothing but blanks, or for MB a unit. *mul gets the
 * unit's factor. */
static bool suffix_ok(const char *s, const struct num_kind *k, double *mul)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    *mul = 1;
    if (n == 0)
        return true;
    if (!k->mb)
        return false;
    if ((n == 2 && !strncasecmp(s, "MB", 2)) || (n == 1 && (*s == 'M' || *s == 'm')))
        return true;
    *mul = 1024;
    return (n == 2 && !strncasecmp(s, "GB", 2)) || (n == 1 && (*s == 'G' || *s == 'g'));
}

static int num_fail(char *why, size_t size, const char *fmt, ...) WFMPI_PRINTF(3, 4);
static int num_fail(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return WFMPI_E_INPUT;
}

static int out_of_range(const struct num_kind *k, char *why, size_t size)
{
    return num_fail(why, size, "is out of range (%lld..%lld%s)", k->min, k->max, k->unit);
}

/* The value of digits-only text, by strtoll. */
static int parse_integer(const char *s, size_t len, const struct num_kind *k, double *out,
                         char *why, size_t size)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end != s + len)
        return num_fail(why, size, "is not a number");
    if (errno == ERANGE || v < k->min || v > k->max)
        return out_of_range(k, why, size);
    *out = (double)v;
    return 0;
}

int plan_parse_number(const char *s, uint8_t kind, double *out, char *why, size_t size)
{
    if (kind >= PK_STR)
        return num_fail(why, size, "is not a number");
    const struct num_kind *k = &num_kinds[kind];
    while (isspace((unsigned char)*s))
        s++;
    bool plain;
    size_t len = decimal_len(s, &plain);
    double mul, d = 0;
    if (!len || !suffix_ok(s + len, k, &mul))
        return num_fail(why, size, "%s",
                        k->mb        ? "is not a number of MB (a unit MB or GB may follow)"
                        : k->integer ? "is not an integer"
                                     : "is not a number");
    if (plain && mul == 1) {
        int rc = parse_integer(s, len, k, &d, why, size);
        if (!rc)
            *out = d * k->scale;
        return rc;
    }
    char *end;
    errno = 0;
    d = strtod(s, &end);
    if (end != s + len)
        return num_fail(why, size, "is not a number");
    /* ERANGE is also underflow (1e-400), whose tiny result is fine. */
    if (errno == ERANGE && fabs(d) > 1)
        return out_of_range(k, why, size);
    d *= mul;
    if (k->integer && d != floor(d))
        return num_fail(why, size, "is not an integer");
    if (d < (double)k->min || d > (double)k->max)
        return out_of_range(k, why, size);
    *out = d * k->scale + 0.0; /* + 0.0: "-0" is 0 */
    return 0;
}

/* A numeric value is checked before the rank decides whether it counts, so
 * a bad value is an error wherever it is written at its level. */
static int set_value(struct planner *P, const struct plan_keyspec *k,
                     const struct wfmpi_wf_profile *pr, struct plan_res *lvl, uint8_t *rank)
{
    double d = 0;
    if (k->kind != PK_STR) {
        char why[128] = "holds a NUL byte"; /* "5\0junk" would read as 5 */
        const char *s = plan_s(P, pr->value);
        if (strlen(s) != wfmpi_strtab_len(P->st, pr->value) ||
            plan_parse_number(s, k->kind, &d, why, sizeof(why)))
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT, "profile %s.%s: '%s' %s",
                                  plan_s(P, pr->ns), plan_s(P, pr->key), s, why);
    }
    if (k->rank < rank[k->qty])
        return 0; /* a stronger key at this level already decided */
    if (k->kind == PK_STR)
        lvl->str[k->qty] = pr->value;
    else
        lvl->num[k->qty] = d;
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
        char why[128] = "holds a NUL byte";
        const char *val = plan_s(P, pr->value);
        if (strlen(val) != wfmpi_strtab_len(P->st, pr->value) ||
            plan_parse_number(val, PK_COUNT, &d, why, sizeof(why)))
            return plan_pos_error(P, pr->pos, WFMPI_E_INPUT, "profile dagman.%s: '%s' %s", key, val,
                                  why);
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(kl - sl), key);
        if (wfmpi_plan_builder_add_category(P->b, name, (uint32_t)d))
            return wfmpi_error_set(P->err, -ENOMEM, "out of memory");
    }
    return 0;
}
