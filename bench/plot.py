#!/usr/bin/env python3
"""Plots from bench/run-all.sh's results.json (matplotlib, PNG):
throughput_vs_ranks.png (master loop tasks/s with --exec null vs ranks, with
the scheduler core's ceiling; /bin/true tasks vs ranks with the posix_spawn
loop) and plan_cost.png (planning seconds and peak RSS vs jobs, per shape,
with the target line).

usage: bench/plot.py RESULTS.json OUT_DIR"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    doc = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    rs = doc["results"]
    title = f"{doc['machine']['cpus']} CPUs, {doc['date']}, {doc['mode']}"

    fig, ax = plt.subplots(figsize=(6, 4))
    null = sorted((r["params"]["ranks"], r["value"], r["reference_value"]) for r in rs
                  if r["benchmark"] == "throughput" and r["value"] is not None)
    if null:
        ax.plot([n for n, _, _ in null], [v for _, v, _ in null], "o-", label="wfmpi master loop, --exec null")
        ax.axhline(null[0][2], color="grey", ls="--", label="scheduler core alone (bench/sim --null)")
    true = sorted((r["params"]["ranks"], r["value"], r["reference_value"]) for r in rs
                  if r["benchmark"] == "true" and r["figure"].startswith("wfmpi"))
    if true:
        ax.plot([n for n, _, _ in true], [v for _, v, _ in true], "s-", label="wfmpi, /bin/true tasks")
        ax.plot([n for n, _, _ in true], [ref for _, _, ref in true], "x:", label="posix_spawn loop, /bin/true")
    ax.set_yscale("log")
    ax.set_xlabel("MPI ranks (1 master + workers) / concurrency")
    ax.set_ylabel("tasks per second")
    ax.set_title("Throughput vs ranks\n" + title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "throughput_vs_ranks.png"), dpi=110)

    plan = [r for r in rs if r["benchmark"] == "plan"]
    if plan:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
        for shape in sorted({r["params"]["shape"] for r in plan}):
            for ax, unit in ((a1, "s"), (a2, "MB")):
                pts = sorted((r["params"]["jobs"], r["value"]) for r in plan
                             if r["params"]["shape"] == shape and r["unit"] == unit)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=shape)
        for ax, unit, tgt in ((a1, "s", 15), (a2, "MB", 1024)):
            xs = sorted({r["params"]["jobs"] for r in plan})
            ax.plot(xs, [tgt * x / 1e6 for x in xs], "k--", lw=0.8, label="target, linear")
            ax.set_xscale("log"); ax.set_yscale("log")
            ax.set_xlabel("jobs in the workflow")
            ax.set_ylabel("wfmpi plan wall seconds" if unit == "s" else "peak RSS (MB)")
            ax.legend(fontsize=7)
        fig.suptitle("Planning cost vs workflow size — " + title, fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "plan_cost.png"), dpi=110)
    print("plots in", out)


if __name__ == "__main__":
    main()
