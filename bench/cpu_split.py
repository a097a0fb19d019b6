#!/usr/bin/env python3
"""Split `perf script -F comm,pid` samples (2 kHz) into µs of CPU per task.

usage: perf script -i DATA -F comm,pid | cpu_split.py PARENT_COMM TASKS
The processes named PARENT_COMM with the most samples are the ranks (or the
loop's parent); the other PARENT_COMM pids are children sampled before exec.
"""
import collections
import sys

parent, tasks = sys.argv[1], int(sys.argv[2])
us = 1e6 / 2000 / tasks
by_pid, by_comm = collections.Counter(), collections.Counter()
for line in sys.stdin:
    f = line.split()
    if len(f) >= 2:
        by_pid[(f[0], f[1])] += 1
        by_comm[f[0]] += 1
ranks = sorted((n for (c, _), n in by_pid.items() if c == parent and n > 100), reverse=True)
names = ["parent"] if len(ranks) == 1 else ["master"] + [f"worker {i}" for i in range(1, len(ranks))]
rows = list(zip(names, ranks))
rows.append(("pre-exec", by_comm[parent] - sum(ranks)))
rows.append(("tasks", by_comm["true"]))
rows.append(("idle", by_comm["swapper"]))
rows.append(("other", sum(n for c, n in by_comm.items() if c not in (parent, "true", "swapper"))))
for name, n in rows:
    print(f"  {name:10} {n * us:6.0f}")
