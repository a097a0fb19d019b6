#!/usr/bin/env bash
# Walltime and signals: SIGUSR1 (Slurm's --signal) drains the run: running
# tasks get SIGTERM and write their checkpoint files, wfmpi saves state and
# exits 3; the same command then resumes, tasks pick up their checkpoint
# files, finished tasks are not rerun, and interrupted ones used no retry.
# Also: no task starts whose runtime estimate cannot finish before the
# allocation ends, wfmpi drains on its own before the end, and
# pegasus.checkpoint.time sends SIGTERM at that time.
source "$(dirname "$0")/lib.sh"
T=$RUNDATA/task.sh
C=$RUNDATA/ckpt_task.sh

header() {
  cat <<YML
pegasus: '5.0'
name: $1
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $T, type: installed}]
  - name: ckpt
    sites: [{name: local, pfn: $C, type: installed}]
jobs:
YML
}

rank_pids() { # every wfmpi rank of the run whose run dir is $1
  for p in $(pgrep -f "$WFMPI"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=' &&
      tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$1" && echo "$p"
  done
}

wait_for() { # SECONDS COMMAND...: poll until the command succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# -- 1. SIGUSR1 to every rank, as Slurm's --signal=USR1@N does
d=$TMP/sig; mkdir -p "$d"
{ header sig; cat <<YML
  - {id: q1, name: task, arguments: [], uses: []}
  - {id: q2, name: task, arguments: [], uses: []}
  - {id: s1, name: ckpt, arguments: [], uses: [{lfn: ckpt.s1, type: checkpoint}],
     profiles: {dagman: {retry: 0}}}
  - {id: s2, name: ckpt, arguments: [], uses: [{lfn: ckpt.s2, type: checkpoint}],
     profiles: {dagman: {retry: 0}}}
  - {id: after, name: task, arguments: [], uses: []}
jobDependencies:
  - {id: s1, children: [after]}
YML
} >"$d/wf.yml"
(cd "$d" && exec "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
   --drain-grace 5 --cores-per-node 4 >"$d/out1" 2>&1) &
mpipid=$!
wait_for 30 sh -c "[ \$(grep -c ' start' '$d/ledger.txt' 2>/dev/null || echo 0) -ge 2 ] && \
  [ \$(grep -c '^q' '$d/ledger.txt' 2>/dev/null || echo 0) -ge 2 ]" ||
  fail "the slow tasks never started"
kill -USR1 $(rank_pids "$d/run")
t0=$(date +%s)
set +e; wait "$mpipid"; rc=$?; set -e
[ "$rc" = 3 ] || { cat "$d/out1"; fail "drain: exit $rc, expected 3"; }
[ $(( $(date +%s) - t0 )) -lt 20 ] || fail "drain took longer than its grace"
[ -s "$d/ckpt.s1" ] && [ -s "$d/ckpt.s2" ] || fail "tasks did not get SIGTERM to write checkpoints"
grep -q "Stopped early" "$d/out1" || fail "summary should say the run stopped early"
grep -q '"state":"stopped"' "$d/run/status.json" || fail "status.json should say stopped"
pass "SIGUSR1 drains: checkpoints written, exit 3"

wfmpi_mpi -C "$d" 3 wf.yml --run-dir "$d/run"
expect_rc 0 "resume after drain"
grep -q "resumed .*2 done, 0 failed, 0 requeued" "$TMP/out" || fail "resume report: $(head -3 "$TMP/out")"
grep -q '^s1 .* resumed-from step-' "$d/ledger.txt" || fail "s1 did not resume from its checkpoint"
[ "$(grep -c '^q1 ' "$d/ledger.txt")" = 1 ] || fail "q1 finished before the drain and must not rerun"
grep -q '^after ' "$d/ledger.txt" || fail "s1's child must run after the resume"
pass "resume: checkpoint files used, finished tasks not rerun, no retry used (retry 0)"

# -- 1b. As Slurm does it: the signal reaches the tasks too, at the same time
# as the ranks. Tasks without a handler die of SIGUSR1; with retry 0 they must
# come back as interrupted (requeued), not failed.
d=$TMP/slurmlike; mkdir -p "$d"
{ header slurmlike; cat <<YML
  - {id: v1, name: task, arguments: [--sleep, "20"], uses: [], profiles: {dagman: {retry: 0}}}
  - {id: v2, name: task, arguments: [--sleep, "20"], uses: [], profiles: {dagman: {retry: 0}}}
  - {id: v3, name: task, arguments: [--sleep, "20"], uses: [], profiles: {dagman: {retry: 0}}}
YML
} >"$d/wf.yml"
(cd "$d" && exec "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
   --drain-grace 5 --cores-per-node 4 >"$d/out1" 2>&1) &
mpipid=$!
task_pids() { pgrep -f "$T --sleep 20" || true; }
wait_for 30 sh -c "[ \$(pgrep -f '$T --sleep 20' | wc -l) -ge 3 ]" || fail "tasks never started"
kill -USR1 $(task_pids) $(rank_pids "$d/run")
set +e; wait "$mpipid"; rc=$?; set -e
[ "$rc" = 3 ] || { cat "$d/out1"; fail "signal to ranks and tasks: exit $rc, expected 3"; }
grep -q "Failed          : 0" "$d/out1" || { cat "$d/out1"; fail "tasks killed by the walltime signal must not count as failed"; }
sed -i 's/"20"/"0"/' "$d/wf.yml"
wfmpi_mpi -C "$d" 3 wf.yml --run-dir "$d/run" --force-resume
expect_rc 0 "resume after the signal killed the tasks"
pass "walltime signal to ranks and tasks at once: interrupted, not failed; resume completes"

# -- 2. walltime: a task whose estimate exceeds the time left is not started
d=$TMP/wall; mkdir -p "$d"
{ header wall; cat <<YML
  - {id: long, name: task, arguments: [], uses: [], profiles: {pegasus: {runtime: 3600}}}
  - {id: short, name: task, arguments: [], uses: [], profiles: {pegasus: {runtime: 5}}}
YML
} >"$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml --walltime-end $(( $(date +%s) + 600 )) --drain-before 1
expect_rc 3 "walltime-limited run"
grep -q '^short ' "$d/ledger.txt" || fail "short should run"
grep -q '^long ' "$d/ledger.txt" && fail "long (3600 s estimate, 600 s left) must not start"
grep -q "Unsubmitted     : 1" "$TMP/out" || fail "one unsubmitted task"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "next allocation (no walltime)"
[ "$(grep -c '^short ' "$d/ledger.txt")" = 1 ] || fail "short must not rerun"
grep -q '^long ' "$d/ledger.txt" || fail "long runs in the next allocation"
pass "walltime-aware start, then the next allocation finishes"

# -- 3. drain on our own --drain-before seconds before the end
d=$TMP/before; mkdir -p "$d"
{ header before; cat <<YML
  - {id: s, name: ckpt, arguments: [], uses: [{lfn: ckpt.s, type: checkpoint}]}
YML
} >"$d/wf.yml"
t0=$(date +%s)
wfmpi_mpi -C "$d" 2 wf.yml --walltime-end $(( t0 + 5 )) --drain-before 3 --drain-grace 5
expect_rc 3 "self-drain before the walltime"
[ $(( $(date +%s) - t0 )) -lt 15 ] || fail "self-drain too late"
[ -s "$d/ckpt.s" ] || fail "self-drain must SIGTERM the task so it checkpoints"
pass "drains on its own before the allocation ends"

# Defaults users rely on: 60 s grace, 120 s before the end.
d=$TMP/defaults; mkdir -p "$d"
{ header defaults; echo "  - {id: t, name: task, arguments: [], uses: []}"; } >"$d/wf.yml"
wfmpi_mpi -C "$d" 1 wf.yml --walltime-end $(( $(date +%s) + 100 ))
expect_rc 3 "walltime closer than the default --drain-before 120"
grep -q "draining (walltime near): .*SIGKILL in 60 s" "$d/wf.wfmpi/wfmpi.log" ||
  fail "default drain: $(grep draining "$d/wf.wfmpi/wfmpi.log")"
pass "defaults: --drain-before 120, --drain-grace 60"

# -- 4. pegasus.checkpoint.time: SIGTERM at that time, the retry resumes
d=$TMP/ctime; mkdir -p "$d"
{ header ctime; cat <<YML
  - {id: c, name: ckpt, arguments: [], uses: [{lfn: ckpt.c, type: checkpoint}],
     profiles: {pegasus: {checkpoint.time: 0.02}, dagman: {retry: 1}}}
YML
} >"$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "checkpoint.time"
grep -q '^c 2 resumed-from step-' "$d/ledger.txt" || fail "attempt 2 should resume from the checkpoint: $(cat "$d/ledger.txt")"
pass "pegasus.checkpoint.time: SIGTERM, checkpoint, retry resumes"
