#!/usr/bin/env bash
# Throttles: --max-running N and DAGMan categories (dagman.category on jobs,
# dagman.<category>.maxjobs on the workflow) bound how many tasks run at once,
# measured from the tasks' own start/end times.
source "$(dirname "$0")/lib.sh"

max_overlap() { # LEDGER [ID-PREFIX]: most tasks (with that prefix) running at once
  python3 - "$1" "${2:-}" <<'PY'
import sys
ev = []
for l in open(sys.argv[1]):
    i, _a, s, e = l.split()
    if i.startswith(sys.argv[2]):
        ev += [(float(s), 1), (float(e), -1)]
cur = best = 0
for _t, d in sorted(ev, key=lambda x: (x[0], x[1])):
    cur += d
    best = max(best, cur)
print(best)
PY
}

d=$TMP/max; mkdir -p "$d"
python3 "$RUNDATA/gen_dag.py" independent 8 "$RUNDATA/task.sh" "$d/wf.yml" /dev/null --sleep 0.3
wfmpi_mpi -C "$d" 4 wf.yml --cores-per-node 8 --max-running 2
expect_rc 0 "--max-running"
# More slots than the ranks were given cores: said, not silently stacked.
if [ "$(nproc)" -lt 8 ]; then
  grep -q 'warn: node 0: --cores-per-node 8, but its ranks were given [0-9]* core(s)' "$TMP/err" ||
    fail "no warning for --cores-per-node 8 on $(nproc) cores: $(cat "$TMP/err")"
fi
[ "$(wc -l <"$d/ledger.txt")" = 8 ] || fail "all 8 tasks must run"
m=$(max_overlap "$d/ledger.txt")
[ "$m" -le 2 ] || fail "--max-running 2 but $m tasks overlapped"
[ "$m" = 2 ] || fail "with 8 free cores, 2 tasks should overlap (got $m)"
pass "--max-running 2: at most 2 at once"

d=$TMP/cat; mkdir -p "$d"
{ cat <<YML
pegasus: '5.0'
name: cat
profiles:
  dagman: {io.maxjobs: 1}
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $RUNDATA/task.sh, type: installed}]
jobs:
YML
for i in 1 2 3 4; do
  echo "  - {id: io$i, name: task, arguments: [--sleep, '0.3'], uses: [], profiles: {dagman: {category: io}}}"
  echo "  - {id: cpu$i, name: task, arguments: [--sleep, '0.3'], uses: []}"
done
} >"$d/wf.yml"
wfmpi_mpi -C "$d" 4 wf.yml --cores-per-node 8
expect_rc 0 "category throttle"
[ "$(wc -l <"$d/ledger.txt")" = 8 ] || fail "all 8 tasks must run"
[ "$(max_overlap "$d/ledger.txt" io)" = 1 ] || fail "io.maxjobs 1: io tasks overlapped"
[ "$(max_overlap "$d/ledger.txt" cpu)" -ge 2 ] || fail "tasks outside the category are not throttled"
pass "dagman category maxjobs 1 serialises its tasks only"

# A launcher that binds the ranks to fewer cores than the node has (mpiexec
# binds a lone rank to one core): tasks get those cores only, and wfmpi says so.
d=$TMP/bound; mkdir -p "$d"
printf '#!/bin/sh\ngrep Cpus_allowed_list /proc/self/status >"$1"\n' >"$d/aff.sh"
chmod +x "$d/aff.sh"
cat >"$d/wf.yml" <<YML
pegasus: "5.0"
name: bound
transformationCatalog:
  transformations:
  - name: aff
    sites: [{name: local, pfn: $d/aff.sh, type: installed}]
jobs:
  - {id: a, name: aff, arguments: [$d/cpus.txt], uses: []}
YML
wfmpi_mpi -C "$d" 1 wf.yml
expect_rc 0 "bound rank"
n_task=$(python3 -c "
import sys
n = 0
for part in open(sys.argv[1]).read().split(':')[1].strip().split(','):
    a, _, b = part.partition('-')
    n += int(b or a) - int(a) + 1
print(n)" "$d/cpus.txt")
if [ "$n_task" -lt "$(nproc)" ]; then
  grep -q "warn: node 0: the launcher bound its ranks to $n_task of its" "$TMP/err" ||
    fail "task bound to $n_task of $(nproc) CPUs without a warning: $(cat "$TMP/err")"
else
  ! grep -q 'the launcher bound its ranks' "$TMP/err" || fail "warned although the rank has every CPU"
fi
pass "a launcher's narrow binding is said, with the cores tasks get ($n_task of $(nproc))"
