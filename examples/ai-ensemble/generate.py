#!/usr/bin/env python3
"""Write the AI-ensemble benchmark workflow (Pegasus 5.0 YAML, PyYAML): N
training runs of a small MLP (bin/train.py) over a grid of hyper-parameters
and seeds, one GPU each (--gpus, default 1; 0 on a machine without GPUs),
then one collect job (bin/collect.py) that gathers their metrics and wfmpi's
per-task statistics into ensemble.md / ensemble.tsv.

usage: generate.py [-n N] [--epochs E] [--gpus G] [--python PY] [--wfmpi BIN]
                   [-o workflow.yml]"""
import argparse
import itertools
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--members", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--gpus", type=int, default=1, help="pegasus.gpus per training run (0: CPU)")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with numpy + PyYAML for the tasks (default: this one)")
    ap.add_argument("--wfmpi", default="wfmpi", help="wfmpi binary the collect job asks for statistics")
    ap.add_argument("--run-dir", help="wfmpi's run dir (default: WORKFLOW.wfmpi, wfmpi's default)")
    ap.add_argument("-o", "--output", default="workflow.yml")
    a = ap.parse_args()
    out = os.path.abspath(a.output)
    run_dir = os.path.abspath(a.run_dir) if a.run_dir else os.path.splitext(out)[0] + ".wfmpi"

    grid = itertools.cycle(itertools.product([16, 32, 64], [0.1, 0.3, 1.0]))
    jobs, metrics = [], []
    for i in range(a.members):
        hidden, lr = next(grid)
        seed = i
        m = f"metrics.m{i:03d}.json"
        metrics.append(m)
        pegasus = {"cores": a.cores, "runtime": 60}
        if a.gpus > 0:
            pegasus["gpus"] = a.gpus
        jobs.append({"type": "job", "name": "train", "id": f"m{i:03d}",
                     "arguments": [os.path.join(HERE, "bin", "train.py"), "--hidden", str(hidden),
                                   "--lr", str(lr), "--epochs", str(a.epochs), "--seed", str(seed),
                                   "--samples", str(a.samples), "--out", m],
                     "uses": [{"lfn": m, "type": "output", "stageOut": False, "registerReplica": False}],
                     "profiles": {"pegasus": pegasus}})
    jobs.append({"type": "job", "name": "collect", "id": "collect",
                 "arguments": [os.path.join(HERE, "bin", "collect.py"), "--wfmpi", a.wfmpi,
                               "--run-dir", run_dir, "--out", "ensemble"] + metrics,
                 "uses": [{"lfn": m, "type": "input"} for m in metrics] +
                         [{"lfn": f"ensemble.{x}", "type": "output", "stageOut": True,
                           "registerReplica": False} for x in ("md", "tsv")],
                 "profiles": {"pegasus": {"cores": 1, "runtime": 10}}})
    tc = [{"name": n, "sites": [{"name": "local", "type": "installed", "pfn": a.python}]}
          for n in ("train", "collect")]
    wf = {"x-pegasus": {"apiLang": "python", "createdBy": "examples/ai-ensemble/generate.py"},
          "pegasus": "5.0.4", "name": "ai-ensemble",
          "transformationCatalog": {"transformations": tc}, "jobs": jobs, "jobDependencies": []}
    with open(out, "w") as f:
        yaml.safe_dump(wf, f, sort_keys=False, default_flow_style=None, width=120)
    print(f"{a.output}: {a.members} training runs ({a.gpus} GPU(s) each) + collect")


if __name__ == "__main__":
    main()
