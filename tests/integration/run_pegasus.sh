#!/usr/bin/env bash
# Real Pegasus workflows (tests/data/workflows, written by the Pegasus API)
# run end to end on 4 ranks. Their programs (Montage, keg, ...) cannot exist
# here, so make_runnable.py points every transformation at pegasus_stub.py, a
# test double that fails when an intermediate input is missing and writes the
# job's outputs; the workflow's structure (jobs, uses, dependencies, profiles)
# is the real one. Every job must run once, after all its parents.
source "$(dirname "$0")/lib.sh"
W=$WFMPI_TEST_DATA/workflows

run_real() { # RELATIVE_PATH
  local name=${1//\//_}
  local d=$TMP/$name
  mkdir -p "$d"
  read -r jobs edges < <(python3 "$RUNDATA/make_runnable.py" "$W/$1" "$d" "$RUNDATA/pegasus_stub.py")
  wfmpi_mpi -C "$d" 4 wf.yml --cores-per-node 4
  expect_rc 0 "$1"
  # Every task succeeded: the jobs and the stage-outs of their stageOut files.
  local tasks
  tasks=$("$WFMPI" plan --json --log-level error --work-dir "$d" "$d/wf.yml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"])')
  grep -q "Succeeded       : $tasks\$" "$TMP/out" || fail "$1: summary: $(cat "$TMP/out")"
  grep -q "Failed          : 0\$" "$TMP/out" || fail "$1: failures: $(cat "$TMP/out")"
  python3 "$RUNDATA/check_order.py" "$d/ledger.txt" "$d/edges" "$jobs" || fail "$1: order"
  [ "$(wc -l <"$d/ledger.txt")" = "$jobs" ] || fail "$1: a job ran twice"
  pass "$1: $jobs jobs, $edges edges, every job once and in order"
}

run_real pegasus-tests/02-junit-diamond-untyped-jobs.yml
run_real pegasus-tests/07-pmc-profiles-48jobs.yml
run_real pegasus-tests/08-pmc-only-40jobs-file-flow.yml
run_real pegasus-tests/12-runtime-clustering-20jobs.yml
run_real pegasus-tests/13-synthetic-80jobs-3levels.yml
run_real pegasus-tests/14-unicode-diamond.yml
run_real access-examples/montage/workflow.yml
run_real access-examples/orcasound/workflow.yml
run_real access-examples/lung-segmentation/workflow.yml
