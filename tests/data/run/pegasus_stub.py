#!/usr/bin/env python3
"""Test double for the science programs real workflows name (they cannot be
installed here): fails unless every intermediate input of this job exists
(so a child that starts too early fails), then writes the job's outputs and a
ledger line "ID ATTEMPT START END". Driven by stub-map.json in the work dir
(written by make_runnable.py)."""
import json, os, sys, time

start = time.time()
tid = os.environ["WFMPI_TASK_ID"]
job = json.load(open("stub-map.json"))[tid]
missing = [f for f in job["inputs"] if not os.path.exists(f)]
if missing:
    sys.exit(f"{tid}: inputs missing: {missing}")
for f in job["outputs"]:
    d = os.path.dirname(f)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(f, "w") as fh:
        fh.write(tid + "\n")
with open("ledger.txt", "a") as fh:
    fh.write(f"{tid} {os.environ.get('WFMPI_ATTEMPT', '0')} {start} {time.time()}\n")
