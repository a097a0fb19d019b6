#!/usr/bin/env bash
# wfmpi as users run it: `srun wfmpi workflow.yml` inside an sbatch script, on
# a real local Slurm (tests/slurm/slurm-local.sh) with Open MPI started through
# PMIx. A fan DAG with file edges runs every task once and in order on 4 ranks
# of one MPI job; plain `srun` (MpiDefault=pmix) does the same; a failing task
# makes the job exit 1; bad input makes it exit 2 with nothing run.
# Skips (exit 77) when Slurm cannot run here, except in CI (tests/slurm/lib.sh).
source "$(dirname "$0")/lib.sh"
source "$WFMPI_SRC/tests/slurm/lib.sh"

slurm_up
grep -qx 'MpiDefault=pmix' "$SLURM_CONF" || fail "slurm.conf lacks MpiDefault=pmix"
# The job must not pick the MPI type from our environment.
unset SLURM_MPI_TYPE

# run_job DIR NAME SRUN_ARGS...: sbatch -W a job in DIR that runs
# `srun SRUN_ARGS`; sets SBATCH_RC and SRUN_RC, job output in DIR/job.out.
run_job() {
  local d=$1 name=$2
  shift 2
  slurm_job_script "$d/job.sh" "srun $*"
  slurm_sbatch_wait -J "$name" -N 1 -n 4 -t 5 -D "$d" -o "$d/job.out" "$d/job.sh"
  SRUN_RC=$(cat "$d/job.sh.rc" 2>/dev/null || echo none)
  JOB_STATE=$(slurm_job_field "$SBATCH_JOBID" JobState)
}

show_job() { # DIR
  echo "--- job output" >&2; cat "$1/job.out" >&2 || true
  echo "--- wfmpi.log" >&2; cat "$1"/*.wfmpi/wfmpi.log >&2 2>/dev/null || true
}

# fan DAG (1 root, N-2 middle, 1 sink) with file edges, under srun [MPIFLAG]
run_fan() { # LABEL N [--mpi=pmix]
  local label=$1 n=$2 mpiflag=${3:-}
  local d=$TMP/$label
  mkdir -p "$d"
  python3 "$RUNDATA/gen_dag.py" fan "$n" "$RUNDATA/task.sh" "$d/wf.yml" "$d/edges" \
    --sleep 0.05 --files
  local expected
  expected=$(grep -c '^  - type: job' "$d/wf.yml")
  run_job "$d" "$label" $mpiflag -n 4 "$WFMPI" wf.yml
  [ "$SBATCH_RC" = 0 ] && [ "$SRUN_RC" = 0 ] ||
    { show_job "$d"; fail "$label: job exit $SBATCH_RC, srun exit $SRUN_RC, expected 0"; }
  [ "$JOB_STATE" = COMPLETED ] || fail "$label: job state $JOB_STATE, expected COMPLETED"
  python3 "$RUNDATA/check_order.py" "$d/ledger.txt" "$d/edges" "$expected" ||
    { show_job "$d"; fail "$label: order violated or tasks missing"; }
  [ "$(wc -l <"$d/ledger.txt")" = "$expected" ] || fail "$label: a task ran more than once"
  [ "$(awk '{print $1}' "$d/ledger.txt" | sort -u | wc -l)" = "$expected" ] ||
    fail "$label: ledger ids are not unique"
  # One MPI job of 4 ranks, not 4 singletons each running the whole DAG.
  local runs
  runs=$(grep -c " info: run wf.yml: " "$d/wf.wfmpi/wfmpi.log" || true)
  [ "$runs" = 1 ] || { show_job "$d"; fail "$label: $runs run lines in wfmpi.log, expected 1"; }
  grep -q " info: run wf.yml: $expected tasks on 4 ranks, 1 nodes" "$d/wf.wfmpi/wfmpi.log" ||
    { show_job "$d"; fail "$label: wfmpi.log does not say $expected tasks on 4 ranks"; }
  grep -q "Succeeded       : $expected" "$d/job.out" || { show_job "$d"; fail "$label: summary"; }
  pass "$label: fan of $expected tasks, file edges, srun ${mpiflag:+$mpiflag }-n 4 in sbatch -W: exit 0, each task once, in order, 4 ranks"
}

run_fan pmix 12 --mpi=pmix
# Users write plain `srun wfmpi ...`: MpiDefault=pmix in slurm.conf does it.
run_fan mpidefault 12

# A task that fails for good: the run finishes the rest and srun exits 1.
d=$TMP/failing; mkdir -p "$d"
cat >"$d/wf.yml" <<YML
pegasus: '5.0'
name: failing
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $RUNDATA/task.sh, type: installed}]
jobs:
  - {id: A, name: task, arguments: [], uses: []}
  - {id: B, name: task, arguments: [--exit, 3], uses: [], profiles: {dagman: {retry: 0}}}
  - {id: C, name: task, arguments: [], uses: []}
  - {id: D, name: task, arguments: [], uses: []}
jobDependencies:
  - {id: A, children: [B]}
  - {id: B, children: [C]}
YML
run_job "$d" failing -n 4 "$WFMPI" wf.yml
[ "$SRUN_RC" = 1 ] || { show_job "$d"; fail "failing task: srun exit $SRUN_RC, expected 1"; }
[ "$SBATCH_RC" = 1 ] || { show_job "$d"; fail "failing task: sbatch -W exit $SBATCH_RC, expected 1"; }
[ "$(slurm_job_field "$SBATCH_JOBID" ExitCode)" = 1:0 ] || fail "failing task: scontrol ExitCode is not 1:0"
for t in A B D; do grep -q "^$t " "$d/ledger.txt" || fail "failing task: $t did not run"; done
grep -q '^C ' "$d/ledger.txt" && fail "failing task: C ran although its parent failed"
grep -q "FAILED B after 1 attempt(s): exit code 3" "$d/job.out" ||
  { show_job "$d"; fail "failing task: no failure reason in the job output"; }
pass "failing task: srun and the job exit 1, independent task ran, descendant did not"

# Bad input: every rank exits 2 before anything runs.
d=$TMP/badinput; mkdir -p "$d"
cat >"$d/wf.yml" <<YML
pegasus: '5.0'
name: bad
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $RUNDATA/task.sh, type: installed}]
jobs:
  - {id: A, name: task, arguments: [], uses: []}
  - {id: A, name: task, arguments: [], uses: []}
YML
run_job "$d" badinput -n 4 "$WFMPI" wf.yml
[ "$SRUN_RC" = 2 ] || { show_job "$d"; fail "bad input: srun exit $SRUN_RC, expected 2"; }
[ "$SBATCH_RC" = 2 ] || { show_job "$d"; fail "bad input: sbatch -W exit $SBATCH_RC, expected 2"; }
[ -e "$d/ledger.txt" ] && fail "bad input: a task ran"
grep -q "wf.yml:[0-9]*:[0-9]*:" "$d/job.out" || { show_job "$d"; fail "bad input: no file:line:col error"; }
pass "bad input: srun and the job exit 2, nothing ran"
