#!/usr/bin/env bash
# A bit flipped in a snapshot table is refused, never trusted (issue 17,
# point 5): a diamond whose last job D is held back by the allocation's end
# (its runtime estimate does not fit), so a rerun would run D, then one bit
# of a state.h5 table flipped at a time.
# The rerun exits 2 with a message naming the file and the table and runs
# nothing (the tasks' ledger does not grow); the monitoring commands refuse
# too. A flipped bit in the plan file is refused by its readers, and the
# rerun its message advises writes it again. --fresh starts over.
source "$(dirname "$0")/lib.sh"
FLIP=$WFMPI_BUILD/tests/tools/h5flip
d=$TMP/w; mkdir -p "$d"
cat >"$d/wf.yml" <<YML
pegasus: '5.0'
name: damage
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $RUNDATA/task.sh, type: installed}]
jobs:
  - {id: A, name: task, arguments: [], uses: []}
  - {id: B, name: task, arguments: [], uses: []}
  - {id: C, name: task, arguments: [], uses: []}
  - {id: D, name: task, arguments: [], uses: [], profiles: {pegasus: {runtime: 3600}}}
jobDependencies:
  - {id: A, children: [B, C]}
  - {id: C, children: [D]}
YML
wfmpi_mpi -C "$d" 2 wf.yml --walltime-end $(($(date +%s) + 600)) --drain-before 1
expect_rc 3 "first run (D held back for the next allocation)"
R=$d/wf.wfmpi
[ "$(wc -l <"$d/ledger.txt")" = 3 ] || fail "first run: A, B and C run"
cp -r "$R" "$TMP/whole"
whole() { rm -rf "$R" && cp -r "$TMP/whole" "$R"; }

# expect_refused WHAT FILE TABLE ADVICE: the rerun and the monitoring
# commands exit 2 naming FILE and TABLE, and nothing runs.
expect_refused() {
  local what=$1 file=$2 table=$3 advice=$4
  wfmpi_mpi -C "$d" 2 wf.yml
  expect_rc 2 "rerun, $what"
  grep -q "$file: table '$table' fails its checksum" "$TMP/err" ||
    fail "$what: message should name $file and table '$table': $(cat "$TMP/err")"
  grep -q "$advice" "$TMP/err" || fail "$what: message should say '$advice': $(cat "$TMP/err")"
  [ "$(wc -l <"$d/ledger.txt")" = 3 ] || fail "$what: nothing may run on a damaged snapshot"
  # status on a finished or stopped run shows the master's final
  # status.json and reads no table (docs/checkpoint.md): without it, it
  # reads state.h5 like the others.
  mv "$R/status.json" "$TMP/status.json"
  local cmd
  for cmd in status analyze statistics report; do
    set +e
    (cd "$TMP" && "$WFMPI" "$cmd" "$R") >"$TMP/m.out" 2>"$TMP/m.err"
    local rc=$?
    set -e
    [ "$rc" = 2 ] || fail "$what: wfmpi $cmd exit $rc, expected 2: $(cat "$TMP/m.err")"
    grep -q "table '$table' fails its checksum" "$TMP/m.err" ||
      fail "$what: wfmpi $cmd should name table '$table': $(cat "$TMP/m.err")"
  done
  mv "$TMP/status.json" "$R/status.json"
}

# A's state byte (the table's first byte): DONE (3) read as RUNNING (2)
# would run A again; then a bit in the middle of the table.
"$FLIP" "$R/state.h5" tasks 0 0 >/dev/null || fail "h5flip"
expect_refused "A's state byte flipped" state.h5 tasks \
  "the snapshot is damaged; move the run dir aside or use --fresh"
whole
"$FLIP" "$R/state.h5" tasks >/dev/null || fail "h5flip"
expect_refused "a bit in the middle of the task table" state.h5 tasks "use --fresh"
pass "a flipped bit in state.h5's task table: exit 2 naming the table, nothing run"

# The events table and a table of strings (the failure details).
whole
"$FLIP" "$R/state.h5" events >/dev/null || fail "h5flip"
expect_refused "a bit in the event table" state.h5 events "use --fresh"
whole
"$FLIP" "$R/state.h5" task_details 0 1 >/dev/null || fail "h5flip"
expect_refused "a bit in the failure details" state.h5 task_details "use --fresh"
pass "a flipped bit in state.h5's events and task_details: exit 2, nothing run"

# The plan file: readers refuse it; the rerun (which has the plan in hand
# and does not read it) runs D, and writes it again once removed.
whole
plan=$(ls "$R"/plan-*.h5)
"$FLIP" "$plan" task_ids 0 0 >/dev/null || fail "h5flip"
set +e
"$WFMPI" analyze "$R" >"$TMP/m.out" 2>"$TMP/m.err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "analyze on a damaged plan file: exit $rc"
grep -q "$(basename "$plan"): table 'task_ids' fails its checksum.*the plan file is damaged; remove it" \
  "$TMP/m.err" || fail "analyze should name the plan file and table: $(cat "$TMP/m.err")"
rm "$plan"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun after removing the damaged plan file"
[ "$(wc -l <"$d/ledger.txt")" = 4 ] && grep -q '^D 1 ' "$d/ledger.txt" ||
  fail "the rerun runs D only: $(cat "$d/ledger.txt")"
"$WFMPI" statistics "$R" >/dev/null || fail "statistics after the plan file was written again"
pass "a flipped bit in the plan file: refused by its readers, written again by the rerun"

# What no checksum covers: the header of HDF5's global heap collection (the
# strings' storage), which HDF5 trusts. A flipped bit in its size made the
# library loop; the snapshot is read first in a child process, so the run
# and the monitoring commands refuse it (exit 2) instead of hanging. The
# limit is shortened for the test (WFMPI_SNAPSHOT_PROBE_S).
whole
python3 - "$R/state.h5" <<'PY' || fail "no global heap collection in state.h5"
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
g = b.find(b"GCOL")
assert g >= 0
b[g + 8] ^= 1 << 5  # the collection's size
open(p, "wb").write(b)
PY
export WFMPI_SNAPSHOT_PROBE_S=3
before=$(wc -l <"$d/ledger.txt")
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 2 "rerun on a damaged heap header"
grep -q "state.h5.*damaged" "$TMP/err" || fail "the refusal should say why: $(cat "$TMP/err")"
[ "$(wc -l <"$d/ledger.txt")" = "$before" ] || fail "nothing may run on a damaged snapshot"
set +e
timeout 60 "$WFMPI" analyze "$R" >"$TMP/m.out" 2>"$TMP/m.err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "analyze on a damaged heap header: exit $rc: $(cat "$TMP/m.err")"
unset WFMPI_SNAPSHOT_PROBE_S
pass "damage HDF5 trusts (the heap collection's size): exit 2, nothing run, no hang"

# --fresh is the way out of a damaged state.h5.
whole
"$FLIP" "$R/state.h5" tasks >/dev/null || fail "h5flip"
wfmpi_mpi -C "$d" 2 wf.yml --fresh
expect_rc 0 "--fresh on a damaged snapshot"
[ "$(wc -l <"$d/ledger.txt")" = 8 ] || fail "--fresh reruns everything"
pass "--fresh moves the damaged run dir aside and starts over"
