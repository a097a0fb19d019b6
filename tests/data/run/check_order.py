#!/usr/bin/env python3
"""Check a ledger against a workflow's dependencies: every task ran, and
every child started after all its parents ended.
usage: check_order.py LEDGER EDGES_FILE EXPECTED_TASKS
EDGES_FILE: lines "parent child"."""
import sys

ledger, edges_file, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
start, end = {}, {}
for line in open(ledger):
    tid, _attempt, s, e = line.split()
    start[tid] = min(float(s), start.get(tid, float(s)))
    end[tid] = max(float(e), end.get(tid, float(e)))
if len(start) != expected:
    sys.exit(f"ledger has {len(start)} tasks, expected {expected}")
bad = 0
for line in open(edges_file):
    p, c = line.split()
    if start[c] < end[p]:
        print(f"child {c} started {end[p] - start[c]:.3f}s before parent {p} ended")
        bad += 1
sys.exit(1 if bad else 0)
