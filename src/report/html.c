/* wfmpi report: one self-contained HTML file (inline SVG and CSS, no
 * script, no network). Small runs get one bar per attempt on a lane per
 * rank (sub-lanes when a rank runs tasks side by side) or per GPU; past
 * GANTT_MAX_BARS attempts or GANTT_MAX_LANES lanes the chart bins time and
 * groups ranks, so 10^5 attempts still make a file of a few MB. Runs of a
 * rescued workflow sit side by side on a time axis that leaves out the
 * gaps between them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "wfmpi/exec.h"

#define GANTT_MAX_BARS 5000
#define GANTT_MAX_LANES 300
#define AGG_LANES 100
#define AGG_BINS 300
#define SERIES_BINS 400
#define FAILED_ROWS_MAX 1000
#define PLOT_W 1100.0
#define LEFT 120.0
#define RUN_GAP 16.0 /* px between runs */

static const char *const palette[] = {"#4e79a7", "#59a14f", "#9c755f", "#b07aa1",
                                      "#76b7b2", "#edc948", "#ff9da7", "#bab0ac",
                                      "#86bcb6", "#8cd17d", "#499894", "#d4a6c8"};
#define N_PALETTE (sizeof(palette) / sizeof(palette[0]))

/* The compressed time axis: each run gets width for its duration. */
struct axis {
    uint32_t n_runs;
    double *x0; /* per run, px from LEFT */
    double scale; /* px per second */
    const struct rpt_run *runs;
};

static int axis_init(struct axis *ax, const struct rpt_stats *s)
{
    ax->n_runs = s->n_runs;
    ax->runs = s->runs;
    ax->x0 = calloc(s->n_runs ? s->n_runs : 1, sizeof(double));
    if (!ax->x0)
        return -ENOMEM;
    double total = 0;
    for (uint32_t r = 0; r < s->n_runs; r++)
        total += s->runs[r].duration > 0 ? s->runs[r].duration : 1e-3;
    double usable = PLOT_W - RUN_GAP * (s->n_runs > 1 ? s->n_runs - 1 : 0);
    ax->scale = total > 0 ? usable / total : 1;
    double x = 0;
    for (uint32_t r = 0; r < s->n_runs; r++) {
        ax->x0[r] = x;
        x += (s->runs[r].duration > 0 ? s->runs[r].duration : 1e-3) * ax->scale + RUN_GAP;
    }
    return 0;
}

static double ax_x(const struct axis *ax, uint32_t run, double t)
{
    if (run >= ax->n_runs)
        return 0;
    double d = t - ax->runs[run].start;
    double max = ax->runs[run].duration;
    d = d < 0 ? 0 : d > max ? max : d;
    return ax->x0[run] + d * ax->scale;
}

static void esc(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static const char *xf_colour(const struct wfmpi_ckpt_state *st, uint32_t task)
{
    uint32_t k = st->task_xform ? st->task_xform[task] : 0;
    return palette[k % N_PALETTE];
}

/* Vertical run separators and labels, and time ticks within each run. */
static void draw_axis(FILE *out, const struct axis *ax, double top, double height)
{
    char b[32];
    for (uint32_t r = 0; r < ax->n_runs; r++) {
        const struct rpt_run *u = &ax->runs[r];
        double x = LEFT + ax->x0[r], w = u->duration * ax->scale;
        fprintf(out,
                "<rect class=\"runband\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                x, top, w > 1 ? w : 1, height);
        fprintf(out, "<text class=\"runlabel\" x=\"%.1f\" y=\"%.1f\">run %u (%s)</text>\n", x + 2,
                top - 4, r + 1,
                u->live     ? "running"
                : u->killed ? "killed"
                            : "ended");
        int ticks = (int)(w / 140);
        for (int k = 0; k <= ticks && u->duration > 0; k++) {
            double t = ticks ? u->duration * k / ticks : 0;
            rpt_duration(t, b, sizeof(b));
            fprintf(out,
                    "<line class=\"tick\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                    "<text class=\"ticklabel\" x=\"%.1f\" y=\"%.1f\">+%s</text>\n",
                    x + t * ax->scale, x + t * ax->scale, top + height, top + height + 4,
                    x + t * ax->scale, top + height + 15, b);
        }
    }
}

/* ------------------------------------------------------------- Gantt */

struct lane_item {
    uint64_t key; /* node << 40 | kind << 32 | rank or GPU */
    double start;
    uint32_t ev;
};

static int cmp_item(const void *a, const void *b)
{
    const struct lane_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t lane_key(const struct wfmpi_ckpt_event *ev)
{
    uint64_t node = (uint64_t)(uint32_t)(ev->node < 0 ? 0 : ev->node);
    if (ev->gpu_mask)
        return node << 40 | (uint64_t)1 << 32 | (uint64_t)__builtin_ctzll(ev->gpu_mask);
    return node << 40 | (uint32_t)(ev->rank < 0 ? 0 : ev->rank);
}

static void lane_name(uint64_t key, char *buf, size_t size)
{
    unsigned node = (unsigned)(key >> 40), kind = (unsigned)(key >> 32 & 0xff);
    snprintf(buf, size, "n%u %s%u", node, kind ? "gpu" : "rank ", (unsigned)(key & 0xffffffff));
}

struct gantt {
    struct lane_item *items;
    uint32_t n;
    uint32_t *lane; /* per item, the lane it is drawn on */
    uint32_t n_lanes;
    uint64_t *lane_key; /* per lane */
    uint32_t *lane_sub; /* per lane, its sub-lane number */
};

static void gantt_fini(struct gantt *g)
{
    free(g->items);
    free(g->lane);
    free(g->lane_key);
    free(g->lane_sub);
}

/* Greedy interval colouring within each key: an attempt takes the first
 * sub-lane free at its start. Stops counting past max_lanes. */
static int assign_lanes(struct gantt *g, const struct wfmpi_ckpt_state *st, uint32_t max_lanes)
{
    double *ends = NULL;
    size_t cap = 0;
    uint32_t base = 0, subs = 0;
    g->lane = calloc(g->n ? g->n : 1, sizeof(uint32_t));
    g->lane_key = calloc(max_lanes + 1, sizeof(uint64_t));
    g->lane_sub = calloc(max_lanes + 1, sizeof(uint32_t));
    if (!g->lane || !g->lane_key || !g->lane_sub)
        return -ENOMEM;
    for (uint32_t i = 0; i < g->n; i++) {
        const struct wfmpi_ckpt_event *ev = &st->events[g->items[i].ev];
        if (i == 0 || g->items[i].key != g->items[i - 1].key) {
            base += subs;
            subs = 0;
        }
        uint32_t k = 0;
        while (k < subs && ends[k] > ev->start + 1e-9)
            k++;
        if (k == subs) {
            if (wfmpi_grow((void **)&ends, &cap, subs + 1, sizeof(double)) < 0) {
                free(ends);
                return -ENOMEM;
            }
            subs++;
            if (base + k < max_lanes) {
                g->lane_key[base + k] = g->items[i].key;
                g->lane_sub[base + k] = k;
            }
        }
        ends[k] = ev->end;
        g->lane[i] = base + k;
    }
    g->n_lanes = base + subs;
    free(ends);
    return 0;
}

static int gantt_build(struct gantt *g, const struct wfmpi_ckpt_state *st)
{
    memset(g, 0, sizeof(*g));
    g->n = st->n_events;
    g->items = malloc((g->n ? g->n : 1) * sizeof(*g->items));
    if (!g->items)
        return -ENOMEM;
    for (uint32_t e = 0; e < g->n; e++)
        g->items[e] = (struct lane_item){lane_key(&st->events[e]), st->events[e].start, e};
    qsort(g->items, g->n, sizeof(*g->items), cmp_item);
    return assign_lanes(g, st, GANTT_MAX_LANES);
}

static void bar(FILE *out, const struct wfmpi_ckpt_state *st, const struct axis *ax, uint32_t e,
                double y, double h)
{
    const struct wfmpi_ckpt_event *ev = &st->events[e];
    double x0 = ax_x(ax, ev->run, ev->start), x1 = ax_x(ax, ev->run, ev->end);
    const char *cls = ev->reason == WFMPI_EXEC_OK            ? "bar"
                      : ev->reason == WFMPI_EXEC_INTERRUPTED ? "bar intr"
                                                             : "bar fail";
    char why[64 + WFMPI_CKPT_DETAIL_MAX], g[200];
    rpt_event_reason(ev, why, sizeof(why));
    rpt_gpus(ev->gpu_mask, g, sizeof(g));
    fprintf(out,
            "<rect class=\"%s\" data-task=\"%u\" data-attempt=\"%u\" x=\"%.2f\" y=\"%.1f\" "
            "width=\"%.2f\" height=\"%.1f\" fill=\"%s\"><title>",
            cls, ev->task, ev->attempt, LEFT + x0, y, x1 - x0 > 0.6 ? x1 - x0 : 0.6, h,
            xf_colour(st, ev->task));
    esc(out, st->ids[ev->task]);
    fprintf(out, " attempt %u: %s, %.2f s, rank %d node %d GPUs %s, run %u</title></rect>\n",
            ev->attempt, why, ev->end - ev->start, ev->rank, ev->node, g, ev->run + 1);
}

static void gantt_bars(FILE *out, const struct wfmpi_ckpt_state *st, const struct axis *ax,
                       const struct gantt *g)
{
    double lh = g->n_lanes > 60 ? 8 : 16, top = 30, h = top + g->n_lanes * lh;
    fprintf(out,
            "<svg class=\"gantt\" data-mode=\"bars\" data-bars=\"%u\" data-lanes=\"%u\" "
            "width=\"%.0f\" height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            g->n, g->n_lanes, LEFT + PLOT_W + 10, h + 30);
    draw_axis(out, ax, top, g->n_lanes * lh);
    for (uint32_t l = 0; l < g->n_lanes; l++) {
        char name[64];
        lane_name(g->lane_key[l], name, sizeof(name));
        if (g->lane_sub[l] == 0)
            fprintf(out, "<text class=\"lane\" x=\"%.0f\" y=\"%.1f\">%s</text>\n", LEFT - 6,
                    top + l * lh + lh * 0.75, name);
    }
    for (uint32_t i = 0; i < g->n; i++)
        bar(out, st, ax, g->items[i].ev, top + g->lane[i] * lh + 1, lh - 2);
    fprintf(out, "</svg>\n");
}

/* Aggregated: lanes group the keys, cells are time bins; a cell's shade is
 * how busy the group was, its colour the transformation with most time,
 * a red cap marks failed attempts ending in it. */
struct agg_cell {
    float busy;
    float best;
    uint16_t xform, fails;
};

static void agg_fill(struct agg_cell *cells, const struct wfmpi_ckpt_state *st,
                     const struct axis *ax, const struct gantt *g, uint32_t n_keys,
                     uint32_t per_lane)
{
    double bw = PLOT_W / AGG_BINS;
    for (uint32_t i = 0, k = 0; i < g->n; i++) {
        if (i && g->items[i].key != g->items[i - 1].key)
            k++;
        const struct wfmpi_ckpt_event *ev = &st->events[g->items[i].ev];
        uint32_t lane = k / per_lane;
        double x0 = ax_x(ax, ev->run, ev->start), x1 = ax_x(ax, ev->run, ev->end);
        uint32_t b0 = (uint32_t)(x0 / bw), b1 = (uint32_t)(x1 / bw);
        for (uint32_t b = b0; b <= b1 && b < AGG_BINS; b++) {
            double lo = b * bw > x0 ? b * bw : x0, hi = (b + 1) * bw < x1 ? (b + 1) * bw : x1;
            struct agg_cell *c = &cells[(size_t)lane * AGG_BINS + b];
            float part = (float)(hi > lo ? hi - lo : 0.01);
            c->busy += part;
            if (part > c->best) {
                c->best = part;
                c->xform = (uint16_t)(st->task_xform ? st->task_xform[ev->task] % N_PALETTE : 0);
            }
            if (b == b1 && ev->reason != WFMPI_EXEC_OK && c->fails < UINT16_MAX)
                c->fails++;
        }
    }
    (void)n_keys;
}

static void agg_draw(FILE *out, const struct agg_cell *cells, uint32_t n_lanes, double top,
                     double lh)
{
    double bw = PLOT_W / AGG_BINS, max = 0;
    for (size_t i = 0; i < (size_t)n_lanes * AGG_BINS; i++)
        max = cells[i].busy > max ? cells[i].busy : max;
    for (uint32_t l = 0; l < n_lanes; l++) {
        const struct agg_cell *row = cells + (size_t)l * AGG_BINS;
        for (uint32_t b = 0; b < AGG_BINS;) {
            int level = max > 0 ? (int)(4 * row[b].busy / max + 0.999) : 0;
            uint32_t e = b + 1;
            while (e < AGG_BINS && row[e].xform == row[b].xform &&
                   (max > 0 ? (int)(4 * row[e].busy / max + 0.999) : 0) == level)
                e++;
            if (level > 0)
                fprintf(out,
                        "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                        "height=\"%.1f\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n",
                        LEFT + b * bw, top + l * lh, (e - b) * bw, lh - 1, palette[row[b].xform],
                        0.25 + 0.1875 * level);
            b = e;
        }
        for (uint32_t b = 0; b < AGG_BINS; b++) {
            if (row[b].fails)
                fprintf(out,
                        "<rect class=\"failmark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                        "height=\"2\"><title>%u failed attempt(s)</title></rect>\n",
                        LEFT + b * bw, top + l * lh, bw, row[b].fails);
        }
    }
}

static int gantt_agg(FILE *out, const struct wfmpi_ckpt_state *st, const struct axis *ax,
                     const struct gantt *g)
{
    uint32_t n_keys = 0;
    for (uint32_t i = 0; i < g->n; i++)
        n_keys += i == 0 || g->items[i].key != g->items[i - 1].key;
    uint32_t per_lane = n_keys > AGG_LANES ? (n_keys + AGG_LANES - 1) / AGG_LANES : 1;
    uint32_t n_lanes = n_keys ? (n_keys + per_lane - 1) / per_lane : 0;
    struct agg_cell *cells = calloc((size_t)(n_lanes ? n_lanes : 1) * AGG_BINS, sizeof(*cells));
    if (!cells)
        return -ENOMEM;
    agg_fill(cells, st, ax, g, n_keys, per_lane);
    double lh = n_lanes > 50 ? 6 : 14, top = 30;
    fprintf(out,
            "<p class=\"note\">%u attempts on %u lanes: too many to draw one by one, so time is "
            "binned (%d bins) and %u lane(s) are grouped per row; shade = how busy, colour = "
            "transformation with most time, red cap = failed attempts.</p>\n",
            g->n, g->n_lanes, AGG_BINS, per_lane);
    fprintf(out,
            "<svg class=\"gantt\" data-mode=\"binned\" data-bars=\"0\" data-lanes=\"%u\" "
            "width=\"%.0f\" height=\"%.0f\" xmlns=\"http://www.w3.org/2000/svg\">\n",
            n_lanes, LEFT + PLOT_W + 10, top + n_lanes * lh + 30);
    draw_axis(out, ax, top, n_lanes * lh);
    for (uint32_t l = 0, i = 0, k = 0; l < n_lanes && i < g->n; i++) {
        if (i && g->items[i].key != g->items[i - 1].key)
            k++;
        if (k == l * per_lane && (i == 0 || g->items[i].key != g->items[i - 1].key)) {
            char name[64];
            lane_name(g->items[i].key, name, sizeof(name));
            if (l % (n_lanes > 50 ? 5 : 1) == 0)
                fprintf(out, "<text class=\"lane\" x=\"%.0f\" y=\"%.1f\">%s%s</text>\n", LEFT - 6,
                        top + l * lh + lh * 0.8, name, per_lane > 1 ? "+" : "");
            l++;
        }
    }
    agg_draw(out, cells, n_lanes, top, lh);
    fprintf(out, "</svg>\n");
    free(cells);
    return 0;
}

static int gantt(FILE *out, const struct wfmpi_ckpt_state *st, const struct axis *ax)
{
    struct gantt g;
    int rc = gantt_build(&g, st);
    if (rc == 0) {
        fprintf(out, "<h2>Attempts (Gantt)</h2>\n");
        if (g.n <= GANTT_MAX_BARS && g.n_lanes <= GANTT_MAX_LANES)
            gantt_bars(out, st, ax, &g);
        else
            rc = gantt_agg(out, st, ax, &g);
    }
    gantt_fini(&g);
    return rc;
}

/* ------------------------------------------------- series over time */

struct series {
    double run[SERIES_BINS], gpu[SERIES_BINS]; /* average concurrency */
    double done[SERIES_BINS], failed[SERIES_BINS]; /* cumulative at bin end */
};

/* Every bin an attempt covers gets its overlap; total work is about
 * bins x average concurrency + attempts. */
static void series_fill(struct series *se, const struct wfmpi_ckpt_state *st, const struct axis *ax)
{
    double bw = PLOT_W / SERIES_BINS;
    memset(se, 0, sizeof(*se));
    for (uint32_t e = 0; e < st->n_events; e++) {
        const struct wfmpi_ckpt_event *ev = &st->events[e];
        double x0 = ax_x(ax, ev->run, ev->start), x1 = ax_x(ax, ev->run, ev->end);
        uint32_t b0 = (uint32_t)(x0 / bw), b1 = (uint32_t)(x1 / bw);
        int gpus = __builtin_popcountll(ev->gpu_mask);
        for (uint32_t b = b0; b <= b1 && b < SERIES_BINS; b++) {
            double lo = b * bw > x0 ? b * bw : x0, hi = (b + 1) * bw < x1 ? (b + 1) * bw : x1;
            double f = hi > lo ? (hi - lo) / bw : 0;
            se->run[b] += f;
            se->gpu[b] += f * gpus;
        }
        uint32_t be = b1 < SERIES_BINS ? b1 : SERIES_BINS - 1;
        if (ev->state_after == WFMPI_TASK_DONE)
            se->done[be]++;
        else if (ev->state_after == WFMPI_TASK_FAILED)
            se->failed[be]++;
    }
    for (uint32_t b = 1; b < SERIES_BINS; b++) {
        se->done[b] += se->done[b - 1];
        se->failed[b] += se->failed[b - 1];
    }
}

static void polyline(FILE *out, const double *v, double max, double top, double h, const char *cls)
{
    double bw = PLOT_W / SERIES_BINS;
    fprintf(out, "<polyline class=\"%s\" points=\"", cls);
    for (uint32_t b = 0; b < SERIES_BINS; b++)
        fprintf(out, "%.1f,%.1f ", LEFT + (b + 0.5) * bw, top + h - (max > 0 ? v[b] / max : 0) * h);
    fprintf(out, "\"/>\n");
}

static void chart_frame(FILE *out, const struct axis *ax, const char *cls, double h,
                        const char *ylabel, double max)
{
    fprintf(out,
            "<svg class=\"%s\" width=\"%.0f\" height=\"%.0f\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            cls, LEFT + PLOT_W + 10, h + 60);
    draw_axis(out, ax, 20, h);
    fprintf(out,
            "<text class=\"lane\" x=\"%.0f\" y=\"%.1f\">%.4g</text>"
            "<text class=\"lane\" x=\"%.0f\" y=\"%.1f\">0</text>"
            "<text class=\"lane\" x=\"%.0f\" y=\"%.1f\">%s</text>\n",
            LEFT - 6, 30.0, max, LEFT - 6, 20 + h, LEFT - 6, 20 + h / 2, ylabel);
}

static void series_charts(FILE *out, const struct wfmpi_ckpt_state *st, const struct axis *ax,
                          const struct series *se)
{
    double mr = 0, mg = 0;
    for (uint32_t b = 0; b < SERIES_BINS; b++) {
        mr = se->run[b] > mr ? se->run[b] : mr;
        mg = se->gpu[b] > mg ? se->gpu[b] : mg;
    }
    double h = 160;
    fprintf(out, "<h2>Utilisation over time</h2>\n<p class=\"legend\"><span class=\"sw "
                 "running\"></span>running tasks <span class=\"sw gpus\"></span>busy GPUs "
                 "(average per bin)</p>\n");
    chart_frame(out, ax, "util", h, "tasks", mr > mg ? mr : mg);
    polyline(out, se->run, mr > mg ? mr : mg, 20, h, "line running");
    if (mg > 0)
        polyline(out, se->gpu, mr > mg ? mr : mg, 20, h, "line gpus");
    fprintf(out, "</svg>\n");
    fprintf(out,
            "<h2>Workflow progress</h2>\n<p class=\"legend\"><span class=\"sw "
            "done\"></span>tasks done <span class=\"sw failedl\"></span>tasks failed "
            "(of %u, cumulative; tasks done in earlier attempts count when they ended)</p>\n",
            st->n_tasks);
    chart_frame(out, ax, "progress", h, "tasks", st->n_tasks);
    polyline(out, se->done, st->n_tasks, 20, h, "line done");
    polyline(out, se->failed, st->n_tasks, 20, h, "line failedl");
    fprintf(out, "</svg>\n");
}

/* ------------------------------------------------------------ tables */

/* decimals: 0 for counts, 1 for seconds and percentages. */
static void row(FILE *out, const char *k, int decimals, double v)
{
    fprintf(out, "<tr><th>%s</th><td class=\"num\">%.*f</td></tr>\n", k, decimals, v);
}

static void stats_tables(FILE *out, const struct rpt_stats *s)
{
    fprintf(out, "<h2>Statistics</h2>\n<div class=\"tables\"><table class=\"summary\">\n");
    row(out, "tasks succeeded", 0, s->succeeded);
    row(out, "tasks failed", 0, s->failed);
    row(out, "tasks incomplete", 0, s->incomplete);
    row(out, "tasks total", 0, s->total);
    row(out, "attempts", 0, s->attempts);
    row(out, "failed attempts", 0, s->failed_attempts);
    row(out, "retries", 0, s->retries);
    row(out, "attempts lost (killed runs)", 0, s->lost_attempts);
    row(out, "workflow wall time (s)", 1, s->wall);
    row(out, "cumulative task wall time (s)", 1, s->cum_task_wall);
    row(out, "badput (s)", 1, s->badput);
    row(out, "busy core-seconds", 1, s->busy_core_s);
    if (s->alloc_known)
        row(out, "core utilisation (%)", 1,
            s->alloc_core_s > 0 ? 100 * s->busy_core_s / s->alloc_core_s : 0);
    row(out, "busy GPU-seconds", 1, s->busy_gpu_s);
    if (s->alloc_gpu_s > 0)
        row(out, "GPU utilisation (%)", 1, 100 * s->busy_gpu_s / s->alloc_gpu_s);
    fprintf(out, "</table>\n<table class=\"runs\"><tr><th>run</th><th>start</th><th>wall "
                 "(s)</th><th>ended</th><th>ranks</th><th>nodes</th><th>cores</th><th>GPUs</"
                 "th><th>attempts</th><th>failed</th></tr>\n");
    for (uint32_t r = 0; r < s->n_runs; r++) {
        const struct rpt_run *u = &s->runs[r];
        char t[32];
        rpt_time(u->start, t, sizeof(t));
        fprintf(out,
                "<tr><td>%u</td><td>%s</td><td class=\"num\">%.1f</td><td>%s</td><td "
                "class=\"num\">%d</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td "
                "class=\"num\">%d</td><td class=\"num\">%u</td><td class=\"num\">%u</td></tr>\n",
                r + 1, t, u->duration,
                u->live             ? "running"
                : u->killed         ? "killed"
                : u->exit_code == 0 ? "exit 0"
                : u->exit_code == 1 ? "exit 1"
                : u->exit_code == 3 ? "exit 3 (stopped)"
                                    : "exit 4",
                u->ranks, u->nodes, u->cores, u->gpus, u->attempts, u->failed_attempts);
    }
    fprintf(out, "</table></div>\n<table class=\"xforms\"><tr><th>transformation</th><th>count</"
                 "th><th>succeeded</th><th>failed</th><th>attempts</th><th>min (s)</th><th>max "
                 "(s)</th><th>mean (s)</th><th>total (s)</th><th>mean max RSS (MB)</th></tr>\n");
    for (uint32_t k = 0; k < s->n_xforms; k++) {
        const struct rpt_xform *x = &s->xforms[k];
        fprintf(out, "<tr><td>");
        esc(out, x->name[0] ? x->name : "(none)");
        fprintf(out,
                "</td><td class=\"num\">%u</td><td class=\"num\">%u</td><td class=\"num\">%u</"
                "td><td class=\"num\">%u</td><td class=\"num\">%.3f</td><td "
                "class=\"num\">%.3f</td><td class=\"num\">%.3f</td><td class=\"num\">%.3f</"
                "td><td class=\"num\">%.1f</td></tr>\n",
                x->tasks, x->succeeded, x->failed, x->attempts, x->min, x->max,
                x->attempts ? x->total / x->attempts : 0, x->total,
                x->rss_n ? x->rss_kb_sum / x->rss_n / 1024 : 0);
    }
    fprintf(out, "</table>\n");
}

static void failed_table(FILE *out, const struct wfmpi_ckpt_state *st, uint32_t n_failed)
{
    fprintf(out, "<h2>Failed tasks (%u)</h2>\n", n_failed);
    if (!n_failed) {
        fprintf(out, "<p>None.</p>\n");
        return;
    }
    fprintf(out, "<table class=\"failed\"><tr><th>task</th><th>transformation</th><th>attempts</"
                 "th><th>last failure</th><th>rank</th><th>node</th><th>GPUs</th></tr>\n");
    uint32_t shown = 0;
    for (uint32_t i = 0; i < st->n_tasks && shown < FAILED_ROWS_MAX; i++) {
        const struct wfmpi_ckpt_task *t = &st->tasks[i];
        if (t->state != WFMPI_TASK_FAILED)
            continue;
        shown++;
        char g[200];
        rpt_gpus(t->gpu_mask, g, sizeof(g));
        fprintf(out, "<tr><td>");
        esc(out, st->ids[i]);
        fprintf(out, "</td><td>");
        esc(out, st->task_xform ? st->xforms[st->task_xform[i]] : "");
        fprintf(out, "</td><td class=\"num\">%u</td><td>", t->attempts);
        esc(out, st->details[i][0] ? st->details[i] : rpt_reason_name(t->reason));
        fprintf(out, "</td><td class=\"num\">%d</td><td class=\"num\">%d</td><td>%s</td></tr>\n",
                t->rank, t->node, g);
    }
    fprintf(out, "</table>\n");
    if (n_failed > shown)
        fprintf(out, "<p class=\"note\">and %u more: see <code>wfmpi analyze</code>.</p>\n",
                n_failed - shown);
}

/* ------------------------------------------------------------- page */

static const char css[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;"
    "color:#222;background:#fff}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px "
    "0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}.meta{color:#555}"
    ".cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}.card{border:1px solid "
    "#ddd;border-radius:6px;padding:8px 14px;min-width:90px}.card b{display:block;font-size:"
    "20px}.card.fail b{color:#c0392b}.card.ok b{color:#2e7d32}"
    "table{border-collapse:collapse;margin:6px 16px 6px 0}th,td{border:1px solid "
    "#ddd;padding:3px 8px;text-align:left}th{background:#f4f4f4}td.num{text-align:right;"
    "font-variant-numeric:tabular-nums}.tables{display:flex;flex-wrap:wrap;align-items:"
    "flex-start}svg{display:block;margin:4px 0}svg text{font-size:11px;fill:#333}"
    ".lane{text-anchor:end}.runband{fill:#f7f7f7;stroke:#ccc}.runlabel{font-weight:bold}"
    ".tick{stroke:#999}.ticklabel{text-anchor:middle;fill:#666}.bar{stroke:none}"
    ".bar.fail{stroke:#d62728;stroke-width:2}.bar.intr{stroke:#ff7f0e;stroke-width:2;"
    "stroke-dasharray:3 2}.failmark{fill:#d62728}.line{fill:none;stroke-width:2}"
    ".line.running{stroke:#4e79a7}.line.gpus{stroke:#59a14f}.line.done{stroke:#2e7d32}"
    ".line.failedl{stroke:#d62728}.legend .sw{display:inline-block;width:14px;height:10px;"
    "margin:0 4px 0 12px;border:1px solid #999}.sw.running{background:#4e79a7}.sw.gpus{"
    "background:#59a14f}.sw.done{background:#2e7d32}.sw.failedl{background:#d62728}"
    ".sw.fail{border:2px solid #d62728}.sw.intr{border:2px dashed #ff7f0e}.note{color:#555}";

static void legend(FILE *out, const struct wfmpi_ckpt_state *st)
{
    fprintf(out, "<p class=\"legend\">");
    uint32_t n = st->n_xforms ? st->n_xforms : 1;
    for (uint32_t k = 0; k < n && k < 40; k++) {
        const char *name = st->n_xforms ? st->xforms[k] : "";
        if (!name[0] && k == 0 && n > 1)
            continue;
        fprintf(out, "<span class=\"sw\" style=\"background:%s\"></span>", palette[k % N_PALETTE]);
        esc(out, name[0] ? name : "(none)");
    }
    fprintf(out, "<span class=\"sw fail\"></span>failed attempt<span class=\"sw "
                 "intr\"></span>interrupted (walltime/drain)</p>\n");
}

static void header(FILE *out, const struct wfmpi_ckpt_state *st, const struct rpt_stats *s,
                   const char *run_dir, const char *state)
{
    char now[32], w[32];
    rpt_time(wfmpi_wall(), now, sizeof(now));
    rpt_duration(s->wall, w, sizeof(w));
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>wfmpi report: ");
    esc(out, st->workflow_name);
    fprintf(out, "</title>\n<style>%s</style></head><body>\n<h1>Workflow ", css);
    esc(out, st->workflow_name);
    fprintf(out, " <span class=\"state\">%s</span></h1>\n<p class=\"meta\">Run directory ", state);
    esc(out, run_dir);
    fprintf(out, " &middot; %u run(s) &middot; report made %s by wfmpi %s</p>\n", s->n_runs, now,
            WFMPI_VERSION);
    fprintf(out,
            "<div class=\"cards\"><div class=\"card\"><b id=\"c-total\">%u</b>tasks</div>"
            "<div class=\"card ok\"><b id=\"c-done\">%u</b>succeeded</div><div class=\"card "
            "fail\"><b id=\"c-failed\">%u</b>failed</div><div class=\"card\"><b "
            "id=\"c-blocked\">%u</b>blocked</div><div class=\"card\"><b "
            "id=\"c-incomplete\">%u</b>incomplete</div><div class=\"card\"><b "
            "id=\"c-attempts\">%u</b>attempts</div><div class=\"card\"><b "
            "id=\"c-retries\">%u</b>retries</div><div class=\"card\"><b>%s</b>wall time</div></"
            "div>\n",
            s->total, s->succeeded, s->failed, s->blocked, s->incomplete, s->attempts, s->retries,
            w);
}

int wfmpi_report_html(const char *run_dir, FILE *out, struct wfmpi_error *err)
{
    double now = wfmpi_wall();
    bool live = false;
    struct wfmpi_ckpt_state *st = rpt_load(run_dir, now, &live, err);
    if (!st)
        return err->code;
    struct rpt_stats s;
    struct axis ax = {0};
    struct series *se = malloc(sizeof(*se));
    int rc = se ? rpt_stats_compute(st, live, now, &s) : -ENOMEM;
    if (rc == 0 && (rc = axis_init(&ax, &s)) == 0) {
        header(out, st, &s, run_dir, rpt_state_from_ckpt(st, live));
        legend(out, st);
        rc = gantt(out, st, &ax);
        series_fill(se, st, &ax);
        series_charts(out, st, &ax, se);
        stats_tables(out, &s);
        failed_table(out, st, s.failed);
        fprintf(out, "</body></html>\n");
        if (rc == 0 && ferror(out))
            rc = -EIO;
    }
    if (se)
        rpt_stats_fini(&s);
    free(ax.x0);
    free(se);
    wfmpi_ckpt_state_free(st);
    return rc < 0 ? wfmpi_error_set(err, rc, "cannot write the report: %s", wfmpi_strerror(rc)) : 0;
}
