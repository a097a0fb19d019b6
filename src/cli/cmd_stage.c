/* The data tasks' commands (docs/staging.md): `wfmpi stage-in`,
 * `wfmpi stage-out` and `wfmpi cleanup`. The planner writes their command
 * lines (src/plan/data.c), so their arguments are a fixed contract; they
 * run as tasks in the work dir, and users can run them by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli_int.h"
#include "wfmpi/stage.h"

/* Progress and per-file lines go to stderr: the task's .err file. */
static void to_stderr(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

/* ------------------------------------------------------------ stage-in */

static void stage_in_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi stage-in [options] -- URL DEST SHA256|- [URL DEST SHA256|-]...\n"
                 "Fetch each URL into DEST (relative to the current directory, parents made),\n"
                 "verifying its sha256 when one is given ('-': none). file:// URLs and absolute\n"
                 "paths are linked (or copied); http(s)://, sftp://, scp:// and s3://BUCKET/KEY\n"
                 "are downloaded several at once into DEST.wfmpi-part, resumed and retried, and\n"
                 "renamed to DEST once complete and verified. A DEST already there with the\n"
                 "right sha256 (or, without one, any regular file) is not fetched again.\n\n"
                 "  --no-symlink         copy local files instead of linking them\n"
                 "  --executable         make each DEST executable (local files are copied)\n"
                 "  --parallel N         transfers at once (default 4, at most 64)\n"
                 "  --retries N          retries per transfer (default 3; HTTP 4xx other than\n"
                 "                       408/429 is not retried)\n"
                 "  --connect-timeout S  seconds to connect (default 30)\n"
                 "  --low-speed-time S   give up a try slower than 1 byte/s for S seconds\n"
                 "                       (default 60)\n"
                 "  -h, --help           this text\n\n"
                 "s3:// uses AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), else\n"
                 "~/.aws/credentials (AWS_PROFILE); AWS_REGION or ~/.aws/config; and\n"
                 "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for other S3 services. TLS is always\n"
                 "verified (CURL_CA_BUNDLE or SSL_CERT_FILE add a CA bundle).\n\n"
                 "Exit: 0 all staged, 65 a checksum did not match (that file is removed; the\n"
                 "others are still staged), 1 another failure, 2 usage.\n");
}

/* Triples into items; 0 or the usage exit code (message printed). */
static int stage_in_items(char **t, int n, struct wfmpi_stage_item *items,
                          char (*sums)[WFMPI_SHA256_HEX_LEN])
{
    for (int i = 0; i < n; i++, t += 3) {
        const char *why = NULL;
        if (wfmpi_url_scheme_of(t[0], NULL) == WFMPI_URL_UNSUPPORTED)
            why = "is not a file://, http(s)://, sftp://, scp:// or s3:// URL or an absolute path";
        else if (!wfmpi_path_rel_ok(t[1]))
            why = "has a DEST that is not a relative path without '..'";
        else if (!wfmpi_stage_parse_sha256(t[2], sums[i]))
            why = "has a checksum that is neither '-' nor 64 hex digits";
        for (int k = 0; !why && k < i; k++) {
            if (strcmp(items[k].dest, t[1]) == 0)
                why = "has the same DEST as an earlier one";
        }
        if (why) {
            fprintf(stderr, "wfmpi stage-in: '%s %s %s' %s\n", t[0], t[1], t[2], why);
            return WFMPI_EXIT_USAGE;
        }
        items[i] = (struct wfmpi_stage_item){
            .url = t[0], .dest = t[1], .sha256 = sums[i][0] ? sums[i] : NULL};
    }
    return 0;
}

static int stage_in_run(struct wfmpi_stage_item *items, size_t n,
                        const struct wfmpi_stage_in_options *o)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "wfmpi stage-in: libcurl would not start\n");
        return WFMPI_EXIT_FAILED;
    }
    struct wfmpi_error err = {0};
    int rc = wfmpi_stage_in(items, n, o, &err);
    curl_global_cleanup();
    if (rc < 0) {
        cli_print_error(&err, rc);
        return WFMPI_EXIT_FAILED;
    }
    int code = WFMPI_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        if (items[i].status == WFMPI_STAGE_MISMATCH)
            code = WFMPI_STAGE_INTEGRITY;
        else if (items[i].status != WFMPI_STAGE_OK && code == WFMPI_EXIT_OK)
            code = WFMPI_EXIT_FAILED;
    }
    return code;
}

int cli_stage_in(int argc, char **argv)
{
    enum { O_NO_SYMLINK = 256, O_EXECUTABLE, O_PARALLEL, O_RETRIES, O_CONNECT, O_LOW_SPEED };
    static const struct option longopts[] = {
        {"no-symlink", no_argument, NULL, O_NO_SYMLINK},
        {"executable", no_argument, NULL, O_EXECUTABLE},
        {"parallel", required_argument, NULL, O_PARALLEL},
        {"retries", required_argument, NULL, O_RETRIES},
        {"connect-timeout", required_argument, NULL, O_CONNECT},
        {"low-speed-time", required_argument, NULL, O_LOW_SPEED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct wfmpi_stage_in_options o = {.parallel = 4, .retries = 3, .line = to_stderr};
    uint64_t v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
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
            if (!cli_parse_seconds(optarg, &o.connect_timeout_s) || o.connect_timeout_s <= 0)
                return cli_bad_value("stage-in", "connect-timeout", optarg);
            break;
        case O_LOW_SPEED:
            if (!cli_parse_seconds(optarg, &o.low_speed_time_s) || o.low_speed_time_s <= 0)
                return cli_bad_value("stage-in", "low-speed-time", optarg);
            break;
        case 'h':
            stage_in_usage(stdout);
            return WFMPI_EXIT_OK;
        default:
            stage_in_usage(stderr);
            return WFMPI_EXIT_USAGE;
        }
    }
    int first = optind, n = argc - optind;
    if (n <= 0 || n % 3) {
        fprintf(stderr, "wfmpi stage-in: expected URL DEST SHA256|- triples after --\n");
        return WFMPI_EXIT_USAGE;
    }
    size_t count = (size_t)n / 3;
    struct wfmpi_stage_item *items = calloc(count, sizeof(*items));
    char(*sums)[WFMPI_SHA256_HEX_LEN] = calloc(count, sizeof(*sums));
    int rc =
        !items || !sums ? WFMPI_EXIT_ENV : stage_in_items(argv + first, (int)count, items, sums);
    if (rc == 0)
        rc = stage_in_run(items, count, &o);
    free(items);
    free(sums);
    return rc;
}

/* ------------------------------------------------------------ stage-out */

static void stage_out_usage(FILE *out)
{
    fprintf(out, "usage: wfmpi stage-out --output-dir DIR [options] -- LFN MODE [LFN MODE]...\n"
                 "Copy outputs (relative to the current directory) to DIR/LFN and/or register\n"
                 "them in a Pegasus 5.0 replica catalog with their sha256. MODE: copy,\n"
                 "copy+register or register (the pfn is then the file in the current\n"
                 "directory). Copies are atomic (temporary name, fsync, rename). Prints\n"
                 "'sha256 HEX LFN' per file on stdout.\n\n"
                 "  --output-dir DIR        where copies go (made when missing)\n"
                 "  --replica-catalog FILE  catalog to update (default:\n"
                 "                          $WFMPI_RUN_DIR/output-replicas.yml); an entry of\n"
                 "                          the same lfn is replaced\n"
                 "  --site NAME             site of the registered replicas (default local)\n"
                 "  -h, --help              this text\n\n"
                 "Exit: 0 done, 1 a file failed (the others are done), 2 usage.\n");
}

/* Pairs into files; 0 or the usage exit code (message printed). */
static int stage_out_files(char **p, int n, struct wfmpi_stage_out_file *files, bool *reg)
{
    for (int i = 0; i < n; i++, p += 2) {
        unsigned mode = wfmpi_stage_out_mode_of(p[1]);
        if (!mode || !wfmpi_path_rel_ok(p[0])) {
            fprintf(stderr,
                    "wfmpi stage-out: '%s %s': expected a relative LFN without '..' and copy, "
                    "copy+register or register\n",
                    p[0], p[1]);
            return WFMPI_EXIT_USAGE;
        }
        files[i] = (struct wfmpi_stage_out_file){.lfn = p[0], .mode = mode};
        *reg |= (mode & WFMPI_STAGE_REGISTER) != 0;
    }
    return 0;
}

static int stage_out_run(struct wfmpi_stage_out_file *files, size_t n, const char *out,
                         const char *catalog, const char *site)
{
    struct wfmpi_error err = {0};
    int rc = wfmpi_stage_out(files, n, out, catalog, site, &err);
    for (size_t i = 0; i < n; i++) {
        if (files[i].status == WFMPI_STAGE_OK)
            printf("sha256 %s %s\n", files[i].sha256, files[i].lfn);
        else
            fprintf(stderr, "wfmpi stage-out: %s\n", files[i].msg);
    }
    if (rc < 0)
        fprintf(stderr, "wfmpi stage-out: %s\n", err.text);
    return rc ? WFMPI_EXIT_FAILED : WFMPI_EXIT_OK;
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
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
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
    int first = optind, n = argc - optind;
    if (!out || !*out || !*site || n <= 0 || n % 2) {
        fprintf(stderr, "wfmpi stage-out: expected --output-dir DIR and LFN MODE pairs after --\n");
        return WFMPI_EXIT_USAGE;
    }
    struct wfmpi_stage_out_file *files = calloc((size_t)n / 2, sizeof(*files));
    bool reg = false;
    int rc = files ? stage_out_files(argv + first, n / 2, files, &reg) : WFMPI_EXIT_ENV;
    char def[4096];
    const char *rd = getenv("WFMPI_RUN_DIR");
    if (rc == 0 && reg && !catalog) {
        if (!rd || !*rd ||
            (size_t)snprintf(def, sizeof(def), "%s/output-replicas.yml", rd) >= sizeof(def)) {
            fprintf(stderr, "wfmpi stage-out: registering needs --replica-catalog FILE "
                            "(or WFMPI_RUN_DIR)\n");
            rc = WFMPI_EXIT_USAGE;
        }
        catalog = def;
    }
    if (rc == 0)
        rc = stage_out_run(files, (size_t)n / 2, out, catalog, site);
    free(files);
    return rc;
}

/* ------------------------------------------------------------ cleanup */

int cli_cleanup(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: wfmpi cleanup -- FILE...\n"
                   "Remove files (relative to the current directory) and print 'removed FILE'\n"
                   "for each; a file that is already gone is fine. Paths that are absolute or\n"
                   "contain '..' are refused, and then nothing is removed.\n\n"
                   "Exit: 0 done, 1 a file could not be removed, 2 usage.\n");
            return WFMPI_EXIT_OK;
        }
        fprintf(stderr, "usage: wfmpi cleanup -- FILE...\n");
        return WFMPI_EXIT_USAGE;
    }
    int first = optind, n = argc - optind;
    for (int i = first; i < first + n; i++) {
        if (!wfmpi_path_rel_ok(argv[i])) {
            fprintf(stderr,
                    "wfmpi cleanup: '%s' is not a relative path without '..'; nothing removed\n",
                    argv[i]);
            return WFMPI_EXIT_USAGE;
        }
    }
    int rc = WFMPI_EXIT_OK;
    for (int i = first; i < first + n; i++) {
        struct wfmpi_error err = {0};
        int r = wfmpi_stage_remove(argv[i], &err);
        if (r == 1)
            printf("removed %s\n", argv[i]);
        else if (r < 0) {
            fprintf(stderr, "wfmpi cleanup: %s\n", err.text);
            rc = WFMPI_EXIT_FAILED;
        }
    }
    return rc;
}
