#!/usr/bin/env python3
"""Write a test workflow (Pegasus 5.0 YAML) whose jobs run task.sh, plus an
edges file ("parent child" per line) for check_order.py.
usage: gen_dag.py SHAPE N TASK_SH OUT_YML OUT_EDGES [--sleep S] [--files]
SHAPE: diamond | chain | fan (one root, N-2 middle, one sink) | independent
--files: express the edges through files (outputs/inputs) instead of
jobDependencies, so the planner's file-edge inference is exercised too."""
import sys

shape, n, task_sh, out_yml, out_edges = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
sleep = sys.argv[sys.argv.index("--sleep") + 1] if "--sleep" in sys.argv else "0"
files = "--files" in sys.argv

if shape == "diamond":
    ids = ["A", "B", "C", "D"]
    edges = [("A", "B"), ("A", "C"), ("B", "D"), ("C", "D")]
elif shape == "chain":
    ids = [f"c{i}" for i in range(n)]
    edges = [(ids[i], ids[i + 1]) for i in range(n - 1)]
elif shape == "fan":
    mid = [f"m{i}" for i in range(n - 2)]
    ids = ["root"] + mid + ["sink"]
    edges = [("root", m) for m in mid] + [(m, "sink") for m in mid]
elif shape == "independent":
    ids = [f"t{i}" for i in range(n)]
    edges = []
else:
    sys.exit("unknown shape " + shape)

parents = {i: [p for p, c in edges if c == i] for i in ids}
children = {i: [c for p, c in edges if p == i] for i in ids}
out = ["pegasus: '5.0'", f"name: {shape}", "transformationCatalog:",
       "  transformations:", "  - name: task", "    sites:",
       f"    - {{name: local, pfn: {task_sh}, type: installed}}", "jobs:"]
for i in ids:
    args = ["--sleep", sleep]
    uses = []
    if files:
        for c in children[i]:
            args += ["--out", f"{i}.to.{c}"]
            # Intermediate files: nothing to stage out or register.
            uses.append(f"    - {{lfn: {i}.to.{c}, type: output, stageOut: false, "
                        "registerReplica: false}")
        for p in parents[i]:
            uses.append(f"    - {{lfn: {p}.to.{i}, type: input}}")
    out += [f"  - type: job", f"    id: {i}", "    name: task",
            "    arguments: [" + ", ".join(f'"{a}"' for a in args) + "]"]
    out += ["    uses:" + ("" if uses else " []")] + uses
if not files and edges:
    out.append("jobDependencies:")
    for i in ids:
        if children[i]:
            out.append(f"  - id: {i}")
            out.append("    children: [" + ", ".join(children[i]) + "]")
open(out_yml, "w").write("\n".join(out) + "\n")
open(out_edges, "w").write("".join(f"{p} {c}\n" for p, c in edges))
