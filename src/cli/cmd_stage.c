/* The data tasks' commands (docs/staging.md): `wfmpi stage-in`,
 * `wfmpi stage-out` and `wfmpi cleanup`. The planner writes their command
 * lines; they run as tasks in the work dir, and users can run them by hand. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_int.h"
#include "wfmpi/stage.h"

static void stage_in_usage(FILE *out)
{
    fprintf(out,
            "usage: wfmpi stage-in [options] -- URL DEST SHA256|- [URL DEST SHA256|-]...\n"
            "Fetch each URL into DEST (relative to the current directory), verifying the\n"
            "sha256 when one is given ('-': none). file:// and absolute paths are linked\n"
            "(or copied); http(s)://, sftp://, scp:// and s3://BUCKET/KEY are downloaded,\n"
            "several at once, resumed and retried.\n\n"
            "  --no-symlink         copy local files instead of linking them\n"
            "  --executable         make the fetched files executable\n"
            "  --parallel N         transfers at once (default 4)\n"
            "  --retries N          retries per transfer (default 3)\n"
            "  --connect-timeout S  seconds to connect (default 30)\n"
            "  -h, --help           this text\n\n"
            "Exit: 0 all staged, 65 a checksum did not match, 1 a transfer failed, 2 usage.\n");
}

int cli_stage_in(int argc, char **argv)
{
    enum { O_NO_SYMLINK = 256, O_EXECUTABLE, O_PARALLEL, O_RETRIES, O_CONNECT };
    static const struct option longopts[] = {
        {"no-symlink", no_argument, NULL, O_NO_SYMLINK},
        {"executable", no_argument, NULL, O_EXECUTABLE},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"retries", required_argument, NULL, O_RETRIES},
        {"connect-timeout", required_argument, NULL, O_CONNECT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct wfmpi_stage_in_options o = {.parallel = 4, .retries = 3};
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_NO_SYMLINK:
            o.no_symlink = true;
            break;
        case O_EXECUTABLE:
            o.executable = true;
            break;
        case O_PARALLEL:
            if (!cli_parse_uint(optarg, 64, &v) || v == 0)
                return cli_bad_value("stage-in", "parallel", optarg);
            o.parallel = (unsigned)v;
            break;
        case O_RETRIES:
            if (!cli_parse_uint(optarg, 100, &v))
                return cli_bad_value("stage-in", "retries", optarg);
            o.retries = (unsigned)v;
            break;
        case O_CONNECT:
            if (!cli_parse_seconds(optarg, &o.connect_timeout_s))
                return cli_bad_value("stage-in", "connect-timeout", optarg);
            break;
        case 'h':
            stage_in_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            stage_in_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if (n <= 0 || n % 3) {
        fprintf(stderr, "wfmpi stage-in: expected URL DEST SHA256|- triples\n");
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_stage_item *items = calloc((size_t)n / 3, sizeof(*items));
    if (!items)
        return WFMPI_EXIT_ENV;
    for (int i = 0; i < n / 3; i++) {
        char **t = argv + optind + 3 * i;
        if (!wfmpi_stage_path_ok(t[1])) {
            fprintf(stderr, "wfmpi stage-in: DEST '%s' must be relative, without '..'\n", t[1]);
            free(items);
            return WFMPI_EXIT_USAGE;
        }
        items[i] = (struct wfmpi_stage_item){
            .url = t[0], .dest = t[1], .sha256 = strcmp(t[2], "-") ? t[2] : NULL};
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(items);
        return WFMPI_EXIT_ENV;
    }
    int rc = wfmpi_stage_in(items, (size_t)n / 3, &o);
    curl_global_cleanup();
    free(items);
    return rc;
}

static void stage_out_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi stage-out --output-dir DIR [options] -- LFN MODE [LFN MODE]...\n"
                 "Copy outputs (relative to the current directory) to DIR and/or register them\n"
                 "in a replica catalog with their sha256. MODE: copy, copy+register, register.\n"
                 "Prints 'sha256 HEX LFN' per file.\n\n"
                 "  --output-dir DIR        where copies go\n"
                 "  --replica-catalog FILE  catalog to update (default:\n"
                 "                          $WFMPI_RUN_DIR/output-replicas.yml, else\n"
                 "                          DIR/output-replicas.yml)\n"
                 "  --site NAME             site of the registered replicas (default local)\n"
                 "  -h, --help              this text\n\n"
                 "Exit: 0 done, 1 a file failed (the others are done), 2 usage.\n");
}

static int parse_mode(const char *s)
{
    if (strcmp(s, "copy") == 0)
        return WFMPI_STAGE_COPY;
    if (strcmp(s, "copy+register") == 0)
        return WFMPI_STAGE_COPY | WFMPI_STAGE_REGISTER;
    if (strcmp(s, "register") == 0)
        return WFMPI_STAGE_REGISTER;
    return 0;
}

int cli_stage_out(int argc, char **argv)
{
    enum { O_OUT = 256, O_RC, O_SITE };
    static const struct option longopts[] = {
        {"output-dir", required_argument, NULL, O_OUT},
        {"replica-catalog", required_argument, NULL, O_RC},
        {"site", required_argument, NULL, O_SITE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *catalog = NULL, *site = "local";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_OUT:
            out = optarg;
            break;
        case O_RC:
            catalog = optarg;
            break;
        case O_SITE:
            site = optarg;
            break;
        case 'h':
            stage_out_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            stage_out_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if (!out || !*out || n <= 0 || n % 2) {
        fprintf(stderr, "wfmpi stage-out: expected --output-dir DIR and LFN MODE pairs\n");
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_stage_out_file *files = calloc((size_t)n / 2, sizeof(*files));
    if (!files)
        return WFMPI_EXIT_ENV;
    for (int i = 0; i < n / 2; i++) {
        char **p = argv + optind + 2 * i;
        files[i] = (struct wfmpi_stage_out_file){p[0], (unsigned)parse_mode(p[1])};
        if (!files[i].mode || !wfmpi_stage_path_ok(p[0])) {
            fprintf(stderr, "wfmpi stage-out: bad pair '%s %s'\n", p[0], p[1]);
            free(files);
            return WFMPI_EXIT_USAGE;
        }
    }
    char def[4096];
    const char *rd = getenv("WFMPI_RUN_DIR");
    if (!catalog) {
        snprintf(def, sizeof(def), "%s/output-replicas.yml", rd && *rd ? rd : out);
        catalog = def;
    }
    int rc = wfmpi_stage_out(files, (size_t)n / 2, out, catalog, site);
    free(files);
    return rc;
}

int cli_cleanup(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("usage: wfmpi cleanup [--] FILE...\n"
               "Remove intermediate files (relative to the current directory); a file that is\n"
               "already gone is fine. Exit: 0 done, 1 a file could not be removed, 2 usage.\n");
        return WFMPI_EXIT_OK;
    }
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    for (int i = first; i < argc; i++) {
        if (!wfmpi_stage_path_ok(argv[i])) {
            fprintf(stderr,
                    "wfmpi cleanup: '%s' must be relative, without '..'; nothing "
                    "removed\n",
                    argv[i]);
            return WFMPI_EXIT_USAGE;
        }
    }
    int rc = WFMPI_EXIT_OK;
    for (int i = first; i < argc; i++) {
        if (unlink(argv[i]) == 0)
            printf("removed %s\n", argv[i]);
        else if (errno != ENOENT) {
            fprintf(stderr, "wfmpi cleanup: %s: %s\n", argv[i], strerror(errno));
            rc = WFMPI_EXIT_FAILED;
        }
    }
    return rc;
}
