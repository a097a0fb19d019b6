/* What the data tasks would refuse at run time, refused before anything
 * runs: lfns that are not paths under the work dir, checksums that are not
 * sha256 hex, and URLs that stage-in cannot fetch. The verdicts are the
 * stage module's own (util.h, "what data tasks accept"), so `wfmpi plan`
 * accepts exactly what `wfmpi stage-in`, `stage-out` and `cleanup` will
 * take; only the messages are the planner's, with the value's position.
 */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "plan_int.h"

/* Why lfn is not a file name under the work dir, or NULL when it is one
 * (wfmpi_path_rel_ok decides; this only explains). */
static const char *lfn_problem(const struct planner *P, uint32_t lfn)
{
    const char *s = plan_s(P, lfn);
    size_t n = strlen(s);
    if (n != wfmpi_strtab_len(P->st, lfn))
        return "holds a NUL byte";
    if (wfmpi_path_rel_ok(s))
        return NULL;
    if (n == 0)
        return "is empty";
    if (s[0] == '/')
        return "is an absolute path (an lfn names a file relative to the work dir)";
    if (n >= PATH_MAX)
        return "is longer than PATH_MAX";
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return "has a '..' component (an lfn names a file under the work dir)";
        p += len + (p[len] == '/');
    }
    return "does not name a file (it ends in '/' or '.')";
}

int plan_check_lfn(struct planner *P, uint32_t lfn, const char *what, struct wfmpi_wf_pos pos)
{
    const char *why = lfn_problem(P, lfn);
    return why ? plan_pos_error(P, pos, WFMPI_E_INPUT, "%s '%s' %s", what, plan_s(P, lfn), why) : 0;
}

static int check_sha(struct planner *P, uint32_t sha, struct wfmpi_wf_pos pos, const char *what,
                     uint32_t name)
{
    if (!sha || wfmpi_sha256_hex_parse(plan_s(P, sha), NULL))
        return 0;
    return plan_pos_error(P, pos, WFMPI_E_INPUT,
                          "checksum sha256 '%s' of %s '%s' is not 64 hex digits", plan_s(P, sha),
                          what, plan_s(P, name));
}

/* Replicas by regular expression name patterns, not files: their lfns are
 * not paths. */
int plan_check_catalogs(struct plan_wfc *w)
{
    struct planner *P = w->P;
    const struct wfmpi_wf_view *v = w->v;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < v->n_replicas; i++) {
        const struct wfmpi_wf_replica *r = &v->replicas[i];
        if (!r->regex)
            rc = plan_check_lfn(P, r->lfn, "replica lfn", r->lfn_pos);
        if (!rc)
            rc = check_sha(P, r->sha256, r->sha256_pos, "replica", r->lfn);
    }
    for (uint32_t i = 0; !rc && i < v->n_transformations; i++) {
        const struct wfmpi_wf_transformation *t = &v->transformations[i];
        rc = check_sha(P, t->sha256, t->sha256_pos, "transformation", t->name);
    }
    for (uint32_t i = 0; !rc && i < v->n_containers; i++) {
        const struct wfmpi_wf_container *c = &v->containers[i];
        rc = check_sha(P, c->sha256, c->sha256_pos, "container", c->name);
    }
    return rc;
}

/* "scheme://" at the start of s, with a scheme as RFC 3986 spells it. */
static bool has_scheme(const char *s)
{
    const char *colon = strstr(s, "://");
    if (!colon || colon == s)
        return false;
    for (const char *c = s; c < colon; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '+' || *c == '-' || *c == '.'))
            return false;
    }
    return true;
}

bool plan_url_remote(const char *pfn)
{
    return has_scheme(pfn) && strncasecmp(pfn, "file://", 7) != 0;
}

bool plan_url_fetchable(const char *pfn)
{
    return !has_scheme(pfn) || wfmpi_url_scheme_of(pfn, NULL) != WFMPI_URL_UNSUPPORTED;
}

bool plan_url_local(const char *pfn)
{
    return !has_scheme(pfn) || wfmpi_url_scheme_of(pfn, NULL) == WFMPI_URL_FILE;
}

int plan_check_fetch(struct planner *P, uint32_t pfn, struct wfmpi_wf_pos pos, const char *what,
                     uint32_t name)
{
    const char *s = plan_s(P, pfn);
    if (plan_url_fetchable(s))
        return 0;
    if (strncasecmp(s, "file://", 7) == 0)
        return plan_pos_error(P, pos, WFMPI_E_INPUT,
                              "%s '%s': '%s' names another host's file (a file:// URL is "
                              "file:///PATH or file://localhost/PATH)",
                              what, plan_s(P, name), s);
    return plan_pos_error(P, pos, WFMPI_E_INPUT,
                          "%s '%s': '%s' is not a URL the data tasks can fetch (%s)", what,
                          plan_s(P, name), s, wfmpi_url_schemes());
}
