#!/usr/bin/env python3
"""The collect job of the AI ensemble: one table of every member's
hyper-parameters and metrics next to wfmpi's per-task record of it (attempt,
rank, node from the task's WFMPI_* environment; wall seconds from the `end`
lines of RUN_DIR/wfmpi.log where already flushed, else the member's own
training time), plus the
workflow's statistics from `wfmpi statistics --json RUN_DIR` (per
transformation and utilisation) when that command answers.

usage: collect.py --wfmpi BIN --run-dir DIR --out PREFIX METRICS.json...
Writes PREFIX.tsv (one row per member) and PREFIX.md (table + statistics)."""
import argparse
import json
import re
import subprocess

END = re.compile(r" info: end (\S+) attempt (\d+) rank (\d+) node (\d+) ([0-9.]+)s (\S+)")


def task_records(run_dir):
    recs = {}
    try:
        with open(f"{run_dir}/wfmpi.log") as f:
            for line in f:
                m = END.search(line)
                if m and m.group(6) == "success":
                    recs[m.group(1)] = {"attempt": int(m.group(2)), "rank": int(m.group(3)),
                                        "node": int(m.group(4)), "wall_s": float(m.group(5))}
    except OSError:
        pass
    return recs


def statistics(wfmpi, run_dir):
    try:
        p = subprocess.run([wfmpi, "statistics", "--json", run_dir], capture_output=True,
                           text=True, timeout=60)
        if p.returncode == 0:
            return json.loads(p.stdout), None
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        return None, str(e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wfmpi", default="wfmpi")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", default="ensemble")
    ap.add_argument("metrics", nargs="+")
    a = ap.parse_args()
    members = [json.load(open(p)) for p in a.metrics]
    tasks = task_records(a.run_dir)
    stats, why = statistics(a.wfmpi, a.run_dir)
    cols = ["task", "hidden", "lr", "seed", "epochs", "test_acc", "test_loss", "train_acc",
            "train_s", "device", "attempt", "rank", "node", "wall_s"]
    rows = []
    for m in sorted(members, key=lambda r: r["task"]):
        # wfmpi.log's `end` line when it is already on disk (info lines are
        # buffered by the running master), else the task's own record of
        # WFMPI_ATTEMPT/RANK/NODE and its training time.
        rows.append({**m, "wall_s": m.get("train_s", ""), **tasks.get(m["task"], {})})
    with open(a.out + ".tsv", "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in rows:
            f.write("\t".join(str(r.get(c, "")) for c in cols) + "\n")
    best = max(rows, key=lambda r: r["test_acc"])
    with open(a.out + ".md", "w") as f:
        f.write(f"{len(rows)} members; best test accuracy {best['test_acc']} "
                f"({best['task']}: hidden {best['hidden']}, lr {best['lr']}, seed {best['seed']})\n\n")
        f.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
        for r in rows:
            f.write("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n")
        f.write("\n")
        if stats:
            tr = next((t for t in stats.get("transformations", []) if t["transformation"] == "train"), {})
            u = stats.get("utilisation", {})
            f.write("wfmpi statistics (`wfmpi statistics --json`, while the collect job ran):\n\n")
            f.write("| train runs | succeeded | min s | mean s | max s | total s | mean max RSS KB | core utilisation |\n")
            f.write("|---|---|---|---|---|---|---|---|\n")
            f.write(f"| {tr.get('count', '')} | {tr.get('succeeded', '')} | {tr.get('min_s', 0):.2f} | "
                    f"{tr.get('mean_s', 0):.2f} | {tr.get('max_s', 0):.2f} | {tr.get('total_s', 0):.2f} | "
                    f"{tr.get('mean_maxrss_kb', 0):.0f} | {u.get('core_utilisation') or 0:.2f} |\n")
        else:
            f.write(f"wfmpi statistics unavailable ({why}); per-task figures above are from wfmpi.log.\n")
    print(f"collect: {len(rows)} members, {len(tasks)} task records, statistics "
          f"{'yes' if stats else 'no: ' + str(why)}")


if __name__ == "__main__":
    main()
