#!/usr/bin/env python3
"""Check the env files gputask.sh wrote against the ranks' shares that
`wfmpi topo --json` reported for the same launch (A100x4 UUIDs).
usage: check_gpu_env.py DIR ALLOWED_GPUS TOPO_JSON   (ALLOWED e.g. 0,1,2,3)"""
import glob, json, os, re, sys

d, allowed = sys.argv[1], {int(x) for x in sys.argv[2].split(",")}
node = json.load(open(sys.argv[3]))["nodes"][0]
UUID = "GPU-a100000{0}-0000-4000-8000-00000000000{0}"


def cpus(s):
    out = set()
    for part in filter(None, s.split(",")):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


share = {r["rank"]: cpus(r["cpuset"]) for r in node["ranks"]}
package = {g["ordinal"]: g.get("package", 0) for g in node["gpus"]}
owner = {o: r["rank"] for r in node["ranks"] for o in r["ordinals"]}


tasks = {}
for f in glob.glob(os.path.join(d, "env.*")):
    kv = dict(l.rstrip("\n").split("=", 1) for l in open(f) if "=" in l)
    tasks[os.path.basename(f)[4:]] = kv
errors = []
for tid, e in sorted(tasks.items()):
    want_gpus, want_cores = map(int, re.match(r"g(\d+)c(\d+)_", tid).groups())
    ords = [int(x) for x in e.get("CUDA_VISIBLE_DEVICES", "").split(",") if x]
    uuids = [x for x in e.get("WFMPI_GPUS", "").split(",") if x]
    rank = int(e["WFMPI_RANK"])
    mine = cpus(e.get("WFMPI_CPUSET", ""))
    if "CUDA_VISIBLE_DEVICES" not in e or e.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        errors.append(f"{tid}: CUDA variables missing: {e}")
    if len(ords) != want_gpus or len(set(ords)) != want_gpus:
        errors.append(f"{tid}: asked {want_gpus} GPUs, got {ords}")
    if not set(ords) <= allowed:
        errors.append(f"{tid}: got GPUs {ords} outside the allowed {sorted(allowed)}")
    if uuids != [UUID.format(g) for g in ords]:
        errors.append(f"{tid}: WFMPI_GPUS {uuids} do not match ordinals {ords}")
    if e.get("WFMPI_NODE") != "0":
        errors.append(f"{tid}: node {e.get('WFMPI_NODE')}")
    if e.get("OMP_NUM_THREADS") != str(want_cores) or len(mine) != want_cores:
        errors.append(f"{tid}: {want_cores} cores asked, OMP_NUM_THREADS="
                      f"{e.get('OMP_NUM_THREADS')}, WFMPI_CPUSET={e.get('WFMPI_CPUSET')}")
    if ords:
        # Launched by the owner of its first GPU, bound near its GPUs, and a
        # multi-GPU task's GPUs are close: one package. (Adjacent ordinals are
        # preferred but not required: with GPUs 1 and 3 busy, [0, 2] is the
        # closest pair there is, and which GPUs are busy depends on timing.)
        if rank != owner[min(ords)]:
            errors.append(f"{tid}: GPUs {ords} launched by rank {rank}")
        if not mine <= set().union(*(share[owner[g]] for g in ords)):
            errors.append(f"{tid}: cpuset {sorted(mine)} not local to GPUs {ords}")
        if len({package[g] for g in ords}) != 1:
            errors.append(f"{tid}: GPUs {ords} span packages")
    else:
        if not mine <= share[rank]:
            errors.append(f"{tid}: CPU task cpuset {sorted(mine)} outside rank {rank}'s cores")
    if mine and (e.get("OMP_PLACES") != "cores" or e.get("OMP_PROC_BIND") != "close") and \
            e.get("AFFINITY") and mine & {0, 1}:
        errors.append(f"{tid}: OMP_PLACES/OMP_PROC_BIND not set for a bound task")
# No GPU held by two tasks at overlapping times.
uses = [(g, float(e["START"]), float(e["END"]), t)
        for t, e in tasks.items() for g in
        [int(x) for x in e.get("CUDA_VISIBLE_DEVICES", "").split(",") if x]]
for i, (g, s, t_end, a) in enumerate(uses):
    for h, s2, e2, b in uses[i + 1:]:
        if g == h and a != b and s < e2 and s2 < t_end:
            errors.append(f"GPU {g} given to {a} and {b} at overlapping times")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(tasks)} tasks checked")
