/* wfmpi report: status, analyze, statistics and the HTML report, read-only
 * over a run directory (DESIGN.md §2, §7; docs/monitoring.md).
 *
 * Nothing here writes to the run dir or signals the master, so every
 * function is safe on a live run. `status` reads only status.json while the
 * master is alive (it writes that file atomically about every second) and
 * falls back to state.h5 + journal (wfmpi_ckpt_load) when the run is over,
 * was killed, or has no status.json. The others always load the checkpoint.
 *
 * Errors: WFMPI_E_INPUT for a missing or empty run dir, WFMPI_E_CORRUPT /
 * WFMPI_E_VERSION for a damaged or too-new one (err names the file), -errno
 * for I/O on the output. Output goes to the FILE the caller gives; no
 * function prints errors. Any process, single-threaded.
 */
#ifndef WFMPI_REPORT_H
#define WFMPI_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wfmpi/util.h"

/* A status.json older than this, whose master is not known to be alive,
 * belongs to a run that was killed. */
#define WFMPI_REPORT_STALE_S 30.0

struct wfmpi_report_status_options {
    bool json;
    bool long_list; /* -l: running and failed tasks */
    double now; /* epoch seconds; 0 = the clock (tests pass a fixed time) */
};

/* Print the counts table (or JSON) for run_dir. *state (may be NULL) gets
 * "running", "finished", "failed" or "stopped" (a static string). */
int wfmpi_report_status(const char *run_dir, const struct wfmpi_report_status_options *opt,
                        FILE *out, const char **state, struct wfmpi_error *err);

/* Print the pegasus-analyzer-like summary and every failed task's attempts,
 * command, work dir and the last `tail_lines` lines of its stdout/stderr
 * (0 = 20). *n_failed gets the number of failed tasks. */
int wfmpi_report_analyze(const char *run_dir, bool json, unsigned tail_lines, FILE *out,
                         uint32_t *n_failed, struct wfmpi_error *err);

/* Print statistics (text or JSON); csv_dir != NULL also writes summary.csv,
 * runs.csv, transformations.csv there (the directory is created). */
int wfmpi_report_statistics(const char *run_dir, bool json, const char *csv_dir, FILE *out,
                            struct wfmpi_error *err);

/* Write the self-contained HTML report to out. */
int wfmpi_report_html(const char *run_dir, FILE *out, struct wfmpi_error *err);

#endif /* WFMPI_REPORT_H */
