#!/usr/bin/env python3
"""Make a real Pegasus workflow runnable here, for tests: the programs it
names (Montage, keg, ...) do not exist on this machine, so every job runs
tests/data/run/pegasus_stub.py instead -- a test double that checks the job's
intermediate inputs exist (so order is proven) and writes its outputs.

usage: make_runnable.py WORKFLOW.yml OUT_DIR STUB
Writes OUT_DIR/wf.yml (catalogs replaced: every transformation -> STUB, no
containers, no replica catalog), OUT_DIR/stub-map.json (job id -> the
intermediate inputs it must find and the outputs it must write), creates the
workflow inputs (files no job produces) in OUT_DIR, and prints
"JOBS EDGES" as the planner should count them."""
import json, os, sys, yaml

src, out, stub = sys.argv[1], sys.argv[2], sys.argv[3]
wf = yaml.safe_load(open(src))
jobs = wf["jobs"]
produced = {}
for j in jobs:
    for u in j.get("uses") or []:
        if u.get("type") in ("output", "inout"):
            produced[u["lfn"]] = j["id"]
    for k in ("stdout", "stderr"):
        if j.get(k):
            produced[j[k]] = j["id"]
names = sorted({j["name"] for j in jobs})
wf["transformationCatalog"] = {"transformations": [
    {"name": n, "sites": [{"name": "local", "pfn": stub, "type": "installed"}]} for n in names]}
wf.pop("replicaCatalog", None)
wf.pop("siteCatalog", None)
def touch(lfn):
    path = os.path.join(out, lfn)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "a").close()

edges, smap = set(), {}
for d in wf.get("jobDependencies") or []:
    for c in d.get("children") or []:
        edges.add((d["id"], c))
for j in jobs:
    j.pop("namespace", None), j.pop("version", None)
    ins, outs = [], []
    for u in j.get("uses") or []:
        if u.get("forPlanning"):
            continue
        if u.get("type") in ("input", "inout"):
            p = produced.get(u["lfn"])
            if p and p != j["id"]:
                ins.append(u["lfn"])
                edges.add((p, j["id"]))
            elif not p:
                touch(u["lfn"])
        if u.get("type") in ("output", "inout") and not u.get("optional"):
            outs.append(u["lfn"])
    if j.get("stdin") and j["stdin"] not in produced:
        touch(j["stdin"])
    smap[j["id"]] = {"inputs": ins, "outputs": outs}
yaml.safe_dump(wf, open(os.path.join(out, "wf.yml"), "w"), allow_unicode=True, sort_keys=False)
json.dump(smap, open(os.path.join(out, "stub-map.json"), "w"))
open(os.path.join(out, "edges"), "w").write("".join(f"{p} {c}\n" for p, c in sorted(edges)))
print(len(jobs), len(edges))
