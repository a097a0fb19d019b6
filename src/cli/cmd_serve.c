/* `wfmpi serve`: the hosted scheduler of glidein mode (docs/glidein.md).
 * `wfmpi serve --add-user NAME --tokens FILE` prints a fresh token once. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "wfmpi/glidein.h"

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi serve --tokens FILE --state-dir DIR (--cert PEM --key PEM | "
                 "--insecure-http) [options]\n"
                 "       wfmpi serve --add-user NAME --tokens FILE\n"
                 "Hold submitted workflows and hand their tasks to glidein pilots over HTTPS.\n\n"
                 "  --bind ADDR        address to listen on (127.0.0.1)\n"
                 "  --port N           port (0 = any free port, printed) (8443)\n"
                 "  --cert/--key PEM   TLS certificate and key\n"
                 "  --insecure-http    plain HTTP; refused unless --bind is loopback\n"
                 "  --tokens FILE      users: 'user sha256hex(token)' per line\n"
                 "  --state-dir DIR    one directory per workflow; reopened on start\n"
                 "  --lease S          a pilot silent this long kills its tasks (60)\n"
                 "  --lease-grace S    ... and this much later they are handed out again\n"
                 "                     (lease/4, at least 1, at most 10)\n"
                 "  --crash-limit N    a task whose pilot died N times while running it\n"
                 "                     fails instead of going back to the queue (3)\n"
                 "  --long-poll S      longest a claim waits for work (5)\n"
                 "  --retries N        retries for tasks without dagman.retry (1)\n"
                 "  --admin USER       USER may list and drain/shut down every pilot\n"
                 "                     (repeatable; others control only their own)\n"
                 "  --max-submit MB    largest submission (16)\n"
                 "  --quota-mb MB      submissions one user may hold, in MB (256)\n"
                 "  --quota-workflows N  workflows one user may hold, not removed (100)\n"
                 "  --quota-pilots N   live pilots of one user (1000)\n"
                 "  --max-connections N  open connections in all (1000)\n"
                 "  --per-ip-connections N  open connections from one address (64)\n"
                 "  --threads N        request threads (4)\n"
                 "  --idle-timeout S   close a connection idle this long (30)\n"
                 "  --add-user NAME    add NAME to --tokens with a new token, print it, exit\n"
                 "  --log-level LEVEL  error, warn (default), info, debug\n");
}

static volatile sig_atomic_t serve_stop;

static void on_stop(int sig)
{
    serve_stop = sig;
}

static int add_user(const char *tokens, const char *user)
{
    char token[80];
    struct wfmpi_error err = {0};
    int rc = wfmpi_glidein_add_user(tokens, user, token, sizeof(token), &err);
    if (rc < 0) {
        cli_print_error(&err, rc);
        return cli_exit_for(rc);
    }
    printf("%s\n", token);
    fprintf(stderr, "wfmpi: token for '%s' stored as a hash in %s; it is shown only now\n", user,
            tokens);
    memset(token, 0, sizeof(token));
    return WFMPI_EXIT_OK;
}

#define MAX_ADMINS 16

/* The numeric resource bounds (options 1000-1006): positive integers. */
static int serve_bound(int c, const char *arg, struct wfmpi_glidein_server_opts *o)
{
    static const char *names[] = {"max-submit",   "quota-mb",        "quota-workflows",
                                  "quota-pilots", "max-connections", "per-ip-connections",
                                  "threads"};
    static const uint64_t max[] = {1024, 1u << 20, 1u << 20, 1u << 20, 1u << 20, 1u << 20, 256};
    uint64_t v;
    int i = c - 1000;
    if (!cli_parse_uint(arg, max[i], &v) || v == 0) {
        cli_bad_value("serve", names[i], arg);
        return -1;
    }
    switch (i) {
    case 0:
        o->max_submit = (size_t)v << 20;
        break;
    case 1:
        o->quota_bytes = (size_t)v << 20;
        break;
    case 2:
        o->quota_workflows = (uint32_t)v;
        break;
    case 3:
        o->quota_pilots = (uint32_t)v;
        break;
    case 4:
        o->max_connections = (uint32_t)v;
        break;
    case 5:
        o->per_ip_connections = (uint32_t)v;
        break;
    default:
        o->threads = (uint32_t)v;
    }
    return 0;
}

static int serve_opts(int argc, char **argv, struct wfmpi_glidein_server_opts *o, const char **add)
{
    static const char *admins[MAX_ADMINS];
    static const struct option longs[] = {{"bind", required_argument, NULL, 'b'},
                                          {"port", required_argument, NULL, 'p'},
                                          {"cert", required_argument, NULL, 'c'},
                                          {"key", required_argument, NULL, 'k'},
                                          {"insecure-http", no_argument, NULL, 'i'},
                                          {"tokens", required_argument, NULL, 't'},
                                          {"state-dir", required_argument, NULL, 's'},
                                          {"lease", required_argument, NULL, 'L'},
                                          {"long-poll", required_argument, NULL, 'P'},
                                          {"retries", required_argument, NULL, 'r'},
                                          {"add-user", required_argument, NULL, 'a'},
                                          {"admin", required_argument, NULL, 'A'},
                                          {"log-level", required_argument, NULL, 'v'},
                                          {"max-submit", required_argument, NULL, 1000},
                                          {"quota-mb", required_argument, NULL, 1001},
                                          {"quota-workflows", required_argument, NULL, 1002},
                                          {"quota-pilots", required_argument, NULL, 1003},
                                          {"max-connections", required_argument, NULL, 1004},
                                          {"per-ip-connections", required_argument, NULL, 1005},
                                          {"threads", required_argument, NULL, 1006},
                                          {"idle-timeout", required_argument, NULL, 1007},
                                          {"lease-grace", required_argument, NULL, 1008},
                                          {"crash-limit", required_argument, NULL, 1009},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        enum wfmpi_log_level lvl;
        switch (c) {
        case 'b':
            o->bind = optarg;
            break;
        case 'p': {
            uint64_t port;
            if (!cli_parse_uint(optarg, 65535, &port))
                return cli_bad_value("serve", "port", optarg);
            o->port = (uint16_t)port;
            break;
        }
        case 'c':
            o->cert_file = optarg;
            break;
        case 'k':
            o->key_file = optarg;
            break;
        case 'i':
            o->insecure_http = true;
            break;
        case 't':
            o->tokens_file = optarg;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'L':
            if (!cli_parse_seconds(optarg, &o->lease_s))
                return cli_bad_value("serve", "lease", optarg);
            break;
        case 'P':
            if (!cli_parse_seconds(optarg, &o->long_poll_s))
                return cli_bad_value("serve", "long-poll", optarg);
            break;
        case 'r': {
            uint64_t r;
            if (!cli_parse_uint(optarg, 1000, &r))
                return cli_bad_value("serve", "retries", optarg);
            o->default_retries = (int32_t)r;
            break;
        }
        case 'a':
            *add = optarg;
            break;
        case 'A':
            if (o->n_admins == MAX_ADMINS) {
                fprintf(stderr, "wfmpi serve: at most %d --admin\n", MAX_ADMINS);
                return WFMPI_EXIT_USAGE;
            }
            admins[o->n_admins++] = optarg;
            o->admins = admins;
            break;
        case 'v':
            if (wfmpi_log_parse_level(optarg, &lvl) < 0)
                return cli_bad_value("serve", "log-level", optarg);
            wfmpi_log_set_level(lvl);
            break;
        case 1000:
        case 1001:
        case 1002:
        case 1003:
        case 1004:
        case 1005:
        case 1006:
            if (serve_bound(c, optarg, o) < 0)
                return WFMPI_EXIT_USAGE;
            break;
        case 1007:
            if (!cli_parse_seconds(optarg, &o->idle_timeout_s) || o->idle_timeout_s < 1)
                return cli_bad_value("serve", "idle-timeout", optarg);
            break;
        case 1008:
            if (!cli_parse_seconds(optarg, &o->lease_grace_s) || o->lease_grace_s <= 0)
                return cli_bad_value("serve", "lease-grace", optarg);
            break;
        case 1009: {
            uint64_t v;
            if (!cli_parse_uint(optarg, 255, &v) || v == 0)
                return cli_bad_value("serve", "crash-limit", optarg);
            o->crash_limit = (uint32_t)v;
            break;
        }
        case 'h':
            serve_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            serve_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        serve_usage(stderr);
        return WFMPI_EXIT_USAGE;
    }
    return -1;
}

int cli_serve(int argc, char **argv)
{
    struct wfmpi_glidein_server_opts o = {.port = 8443, .default_retries = 1};
    const char *add = NULL;
    int rc = serve_opts(argc, argv, &o, &add);
    if (rc >= 0)
        return rc;
    if (add) {
        if (!o.tokens_file) {
            fprintf(stderr, "wfmpi serve: --add-user needs --tokens FILE\n");
            return WFMPI_EXIT_USAGE;
        }
        return add_user(o.tokens_file, add);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct wfmpi_error err = {0};
    struct wfmpi_glidein_server *s = wfmpi_glidein_server_create(&o, &err);
    if (!s) {
        cli_print_error(&err, err.code);
        return cli_exit_for(err.code);
    }
    printf("wfmpi serve: listening on %s port %u (%s)\n", o.bind ? o.bind : "127.0.0.1",
           (unsigned)wfmpi_glidein_server_port(s), o.cert_file ? "https" : "http");
    fflush(stdout);
    wfmpi_glidein_server_run(s, &serve_stop);
    wfmpi_glidein_server_destroy(s);
    return WFMPI_EXIT_OK;
}
