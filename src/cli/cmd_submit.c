/* `wfmpi submit`, `wfmpi remove` and `wfmpi status --server`: the user's side
 * of glidein mode, against a `wfmpi serve` service. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "wfmpi/glidein.h"

struct client_args {
    struct wfmpi_glidein_client_opts c;
    const char *rc, *tc, *sc;
    bool json;
};

static void client_usage(FILE *out, const char *cmd)
{
    fprintf(out,
            "usage: wfmpi %s %s --server URL --token-file F [--cacert F] [--insecure-http]%s\n"
            "  --server URL       https://HOST:PORT of a `wfmpi serve`\n"
            "  --token-file F     file holding your bearer token\n"
            "  --cacert F         CA certificate that signed the server's certificate\n"
            "  --insecure-http    allow an http:// URL (loopback test services)\n%s",
            cmd, strcmp(cmd, "submit") == 0 ? "WORKFLOW.yml" : "WFID",
            strcmp(cmd, "submit") == 0 ? " [--rc F] [--tc F] [--sc F] [--strict]" : "",
            strcmp(cmd, "submit") == 0
                ? "  --strict           unknown keys are errors when the workflow is planned\n"
                  "                     here before it is sent (default: a warning)\n"
                : "");
}

/* Returns -1 to go on, else an exit code; *pos = the positional argument. */
static int client_parse(int argc, char **argv, const char *cmd, struct client_args *a,
                        const char **pos)
{
    static const struct option longs[] = {{"server", required_argument, NULL, 'S'},
                                          {"token-file", required_argument, NULL, 'T'},
                                          {"cacert", required_argument, NULL, 'C'},
                                          {"insecure-http", no_argument, NULL, 'I'},
                                          {"rc", required_argument, NULL, 'r'},
                                          {"tc", required_argument, NULL, 't'},
                                          {"sc", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"strict", no_argument, NULL, 'X'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'S':
            a->c.url = optarg;
            break;
        case 'T':
            a->c.token_file = optarg;
            break;
        case 'C':
            a->c.cacert = optarg;
            break;
        case 'I':
            a->c.insecure_http = true;
            break;
        case 'r':
            a->rc = optarg;
            break;
        case 't':
            a->tc = optarg;
            break;
        case 's':
            a->sc = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'X':
            a->c.strict = true;
            break;
        case 'h':
            client_usage(stdout, cmd);
            return WFMPI_EXIT_OK;
        default:
            client_usage(stderr, cmd);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !a->c.url || !a->c.token_file) {
        client_usage(stderr, cmd);
        return WFMPI_EXIT_USAGE;
    }
    *pos = argv[optind];
    return -1;
}

static int fail(const struct wfmpi_error *err, int rc)
{
    cli_print_error(err, rc);
    return rc == WFMPI_E_NOTFOUND ? WFMPI_EXIT_USAGE : cli_exit_for(rc);
}

int cli_submit(int argc, char **argv)
{
    struct client_args a = {0};
    const char *wf = NULL;
    int rc = client_parse(argc, argv, "submit", &a, &wf);
    if (rc >= 0)
        return rc;
    char id[64];
    struct wfmpi_error err = {0};
    rc = wfmpi_glidein_submit(&a.c, wf, a.rc, a.tc, a.sc, id, sizeof(id), &err);
    if (rc < 0)
        return fail(&err, rc);
    printf("%s\n", id);
    return WFMPI_EXIT_OK;
}

int cli_remove(int argc, char **argv)
{
    struct client_args a = {0};
    const char *id = NULL;
    int rc = client_parse(argc, argv, "remove", &a, &id);
    if (rc >= 0)
        return rc;
    struct wfmpi_error err = {0};
    rc = wfmpi_glidein_remove(&a.c, id, &err);
    if (rc < 0)
        return fail(&err, rc);
    printf("removed %s\n", id);
    return WFMPI_EXIT_OK;
}

/* `wfmpi status --server URL WFID`: cmd_status.c hands over here. */
int cli_status_server(int argc, char **argv)
{
    struct client_args a = {0};
    const char *id = NULL;
    int rc = client_parse(argc, argv, "status", &a, &id);
    if (rc >= 0)
        return rc;
    struct wfmpi_error err = {0};
    struct wfmpi_buf out;
    wfmpi_buf_init(&out, (size_t)16 << 20);
    rc = wfmpi_glidein_status(&a.c, id, &out, &err);
    if (rc < 0) {
        wfmpi_buf_fini(&out);
        return fail(&err, rc);
    }
    printf("%s\n", out.data ? out.data : "{}");
    wfmpi_buf_fini(&out);
    return WFMPI_EXIT_OK;
}
