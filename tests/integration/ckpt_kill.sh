#!/usr/bin/env bash
# Crash safety: kill -9 the master at random moments, then rerun the same
# command. After each restart the workflow completes; no task recorded DONE
# failed or did not run; only tasks RUNNING in the durable state at the
# moment of the kill ran twice. Each task appends one line to a shared ledger.
source "$(dirname "$0")/lib.sh"
DUMP=$WFMPI_BUILD/tests/tools/ckpt_dump
TRIALS=${WFMPI_KILL_TRIALS:-20}

# fan: 1 root, 1000 middle tasks, 1 sink: about 1.5 s on 2 cores, so most
# kills land mid-run (with 300 tasks most landed after the end).
python3 "$RUNDATA/gen_dag.py" fan 1002 "$RUNDATA/ledger.sh" "$TMP/wf.yml" "$TMP/edges"

master_pid() { # the rank-0 wfmpi process of the run in $1
  for p in $(pgrep -f "$WFMPI"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0' &&
       tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$1"; then
      echo "$p"; return
    fi
  done
}

: >"$TMP/orphans"
for trial in $(seq 1 "$TRIALS"); do
  d=$TMP/t$trial; mkdir -p "$d"; cp "$TMP/wf.yml" "$d/"
  (cd "$d" && exec "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
     >"$d/out1" 2>&1) &
  mpipid=$!
  # A random moment: from during start-up to near the end of the run.
  sleep "$(python3 -c "import random; print(round(random.uniform(0.2, 1.5), 2))")"
  pid=$(master_pid "$d/run")
  [ -n "$pid" ] && kill -9 "$pid"
  wait "$mpipid" || true
  # The killed master's tasks die with it (its watchdog), the workers' when
  # mpiexec takes them down; a task may still append its ledger line as it
  # goes: let it, so the ledger shows every execution.
  sleep 0.3
  # Orphans: processes of the killed run still working in its directory
  # (tasks run there; the ranks are gone by now).
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/cwd" 2>/dev/null)" = "$d" ]; then echo "${p#/proc/}"; fi
  done >"$d/orphans"
  cat "$d/orphans" >>"$TMP/orphans"
  if [ -e "$d/run/state.h5" ]; then
    "$DUMP" "$d/run" >"$d/at_kill" || fail "trial $trial: state after kill -9 unreadable"
  else
    : >"$d/at_kill" # killed before the first snapshot: nothing recorded
  fi
  cp "$d/ledger.txt" "$d/ledger_at_kill" 2>/dev/null || : >"$d/ledger_at_kill"
  cp "$d/run/wfmpi.log" "$d/log_at_kill" 2>/dev/null || : >"$d/log_at_kill"
  wfmpi_mpi -C "$d" 3 wf.yml --run-dir "$d/run"
  expect_rc 0 "trial $trial: resume after kill -9"
  python3 - "$d" "$TMP/edges" <<'PY' || fail "trial $trial: ledger check"
import sys, collections
d, edges = sys.argv[1], sys.argv[2]
runs = collections.Counter(l.split()[0] for l in open(f"{d}/ledger.txt"))
at_kill = dict(l.split()[:2] for l in open(f"{d}/at_kill"))
ids = {l.split()[0] for l in open(edges)} | {l.split()[1] for l in open(edges)}
bad = [t for t in ids if runs[t] == 0]
if bad: sys.exit(f"never ran: {bad[:5]}")
done_before = {t for t, s in at_kill.items() if s == "DONE"}
killed_ledger = collections.Counter(l.split()[0] for l in open(f"{d}/ledger_at_kill"))
lost = [t for t in done_before if killed_ledger[t] == 0]
if lost: sys.exit(f"recorded DONE but never ran before the kill: {lost[:5]}")
# wfmpi.log is written before the journal: every completion the checkpoint
# has, the log has too.
logged = {l.split()[l.split().index("end") + 1] for l in open(f"{d}/log_at_kill")
          if " end " in l and "attempt" in l}
unlogged = [t for t in done_before if t not in logged]
if unlogged: sys.exit(f"DONE in the checkpoint but no end line in wfmpi.log: {unlogged[:5]}")
twice = {t for t, n in runs.items() if n > 1}
allowed = {t for t, s in at_kill.items() if s == "RUNNING"}
extra = twice - allowed
if extra: sys.exit(f"ran twice without running at the kill: {sorted(extra)[:5]}")
print(f"kill state: {len(done_before)} done, {len(allowed)} running; reran {len(twice)}")
# For the summary: tasks run twice (all of them running at the kill: a
# task whose end the journal had not got), and double runs of tasks that
# were not running (checked above: none).
open(f"{d}/../tally", "a").write(f"{len(twice)} {len(extra)}\n")
PY
  grep -q "Succeeded       : 1002" "$TMP/out" || fail "trial $trial: $(cat "$TMP/out")"
done
read -r reran wrong < <(awk '{r += $1; w += $2} END {print r + 0, w + 0}' "$TMP/tally")
orphans=$(grep -c . "$TMP/orphans" || :)
echo "over $TRIALS trials: orphans $orphans; double runs of tasks not running at the kill: $wrong; reruns of tasks running at it: $reran"
[ "$orphans" = 0 ] || fail "orphans after the kill: $orphans"
[ "$wrong" = 0 ] || fail "double runs: $wrong"
pass "$TRIALS kill -9 trials: every run resumed to completion, nothing lost or rerun wrongly"
