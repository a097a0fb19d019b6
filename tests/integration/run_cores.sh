#!/usr/bin/env bash
# Exact core sets (docs/engine.md, "Cores"): on the 12-core, 24-PU machine of
# tests/data/topo (HWLOC_XMLFILE) with 2 ranks of 6 cores each, 40 tasks of
# 1 to 4 cores, some of them standbys, run 6-10 at once; no two tasks
# running at the same time are given a PU in common (WFMPI_CPUSET, what the
# master chose from the topology), and each gets whole cores, as many as it
# asked for.
source "$(dirname "$0")/lib.sh"
d=$TMP/cores; mkdir -p "$d"
cat >"$d/rec.sh" <<'SH'
#!/bin/sh
s=$(date +%s.%N); sleep "$1"; e=$(date +%s.%N)
echo "$WFMPI_TASK_ID $s $e $WFMPI_CPUSET" >>ledger.txt
SH
chmod +x "$d/rec.sh"
{
  echo "pegasus: '5.0'"
  echo "name: cores"
  echo "transformationCatalog: {transformations: [{name: rec, sites: [{name: local, pfn: $d/rec.sh, type: installed}]}]}"
  echo "jobs:"
  for i in $(seq 1 40); do
    c=$(( (i * 7) % 4 + 1 ))
    s=$(python3 -c "print(0.1 + ($i * 37 % 10) / 20)")
    echo "  - {id: t$i, name: rec, arguments: ['$s'], uses: [], profiles: {pegasus: {cores: $c}}}"
  done
} >"$d/wf.yml"
HWLOC_XMLFILE=$WFMPI_TEST_DATA/topo/24em64t-2n6c2t-pci.xml wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "40 tasks of 1-4 cores on 12 cores"
python3 - "$d/ledger.txt" "$d/wf.yml" <<'PY' || fail "core sets overlap"
import re, sys
cores = {m[0]: int(m[1]) for m in re.findall(r"id: (t\d+).*cores: (\d+)", open(sys.argv[2]).read())}
def pus(spec):
    out = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out
tasks = []
for line in open(sys.argv[1]):
    i, s, e, cs = line.split()
    tasks.append((i, float(s), float(e), pus(cs)))
assert len(tasks) == 40, len(tasks)
# This machine's cores are PU pairs (p, p + 12): whole cores, as many as asked.
for i, _, _, p in tasks:
    assert all((x + 12) % 24 in p for x in p), f"{i}: not whole cores: {sorted(p)}"
    assert len(p) == 2 * cores[i], f"{i}: {len(p) // 2} cores, asked {cores[i]}"
most = 0
for a in range(len(tasks)):
    ia, sa, ea, pa = tasks[a]
    live = sum(1 for t in tasks if t[1] < ea and sa < t[2])
    most = max(most, live)
    for ib, sb, eb, pb in tasks[a + 1:]:
        if sa < eb and sb < ea and pa & pb:
            sys.exit(f"{ia} and {ib} ran at once on PUs {sorted(pa & pb)}")
print(f"no overlap; up to {most} tasks at once")
PY
pass "every running task owns its cores"
