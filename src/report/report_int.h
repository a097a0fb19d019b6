/* Private to the report module: the run dir as the commands see it. */
#ifndef WFMPI_REPORT_INT_H
#define WFMPI_REPORT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "wfmpi/ckpt.h"
#include "wfmpi/report.h"

/* status.json as the master wrote it (docs/monitoring.md). */
struct rpt_live {
    bool present;
    char state[16]; /* as written: running, finished, failed, stopped */
    char workflow[256];
    char host[256];
    long pid;
    double started, updated, elapsed, percent_done;
    uint32_t total;
    uint32_t counts[WFMPI_TASK_NSTATES];
    int ranks, nodes;
    json_t *root; /* owns running_tasks */
};

/* Read run_dir/status.json; a missing file leaves present false (not an
 * error), a malformed one too (the checkpoint is the fallback). */
void rpt_live_read(const char *run_dir, struct rpt_live *l);
void rpt_live_fini(struct rpt_live *l);
/* Is the master that wrote l still running? */
bool rpt_live_alive(const struct rpt_live *l, double now);

/* The run's overall state from the checkpoint: "finished", "failed",
 * "stopped" (the last run ended early or was killed), or "running" when
 * live says so. */
const char *rpt_state_from_ckpt(const struct wfmpi_ckpt_state *st, bool live);

/* Names for the checkpoint's enums (local tables: report links only ckpt
 * and util). */
const char *rpt_task_state_name(unsigned s);
const char *rpt_reason_name(unsigned r);
/* "exit code 3", "killed by signal 9 (Killed)", "timeout", ... for an event. */
void rpt_event_reason(const struct wfmpi_ckpt_event *ev, char *buf, size_t size);
/* "0,1" for a GPU mask, "-" for none. */
void rpt_gpus(uint64_t mask, char *buf, size_t size);
/* "1h02m03s" style durations. */
void rpt_duration(double s, char *buf, size_t size);
/* "2026-11-24 09:45:20" local time, "-" for 0. */
void rpt_time(double epoch, char *buf, size_t size);

/* ------------------------------------------------------------ statistics */
struct rpt_xform {
    const char *name; /* "" = none */
    uint32_t tasks, succeeded, failed, attempts;
    double min, max, total; /* attempt runtimes, seconds */
    double rss_kb_sum;
    uint32_t rss_n;
};

struct rpt_run {
    double start, end, duration; /* end estimated for a killed run, now for a live one */
    int32_t ranks, nodes, cores, gpus, exit_code;
    bool killed, live;
    uint32_t attempts, failed_attempts, succeeded;
    double busy_core_s, busy_gpu_s;
};

struct rpt_stats {
    uint32_t total, succeeded, failed, blocked, incomplete, running;
    uint32_t attempts, failed_attempts, retries, lost_attempts;
    double wall; /* sum of the runs' durations */
    double span; /* first run's start to the last run's end */
    double cum_task_wall, badput, badput_interrupted;
    double busy_core_s, busy_gpu_s, alloc_core_s, alloc_gpu_s;
    bool alloc_known; /* every run recorded its cores */
    struct rpt_run *runs;
    uint32_t n_runs;
    struct rpt_xform *xforms; /* sorted by name */
    uint32_t n_xforms;
};

/* live: the last run is still going (its end is now). */
int rpt_stats_compute(const struct wfmpi_ckpt_state *st, bool live, double now,
                      struct rpt_stats *out);
void rpt_stats_fini(struct rpt_stats *s);
void rpt_stats_text(const struct rpt_stats *s, FILE *out);
json_t *rpt_stats_json(const struct rpt_stats *s);
int rpt_stats_csv(const struct rpt_stats *s, const char *dir, struct wfmpi_error *err);

/* Load the checkpoint and decide whether its last run is live. */
struct wfmpi_ckpt_state *rpt_load(const char *run_dir, double now, bool *live,
                                  struct wfmpi_error *err);

/* Dump j to out (indented) with a newline; 0 or -EIO. */
int rpt_json_out(json_t *j, FILE *out);

#endif
