#!/usr/bin/env bash
# The engine runs whole DAGs under real mpiexec: every task runs once, no child
# starts before all its parents have ended, with 1, 4 and 8 ranks, with edges
# given explicitly and through files.
source "$(dirname "$0")/lib.sh"

run_shape() { # SHAPE N RANKS [--files]
  local shape=$1 n=$2 ranks=$3 extra=${4:-}
  local d="$TMP/$shape-$ranks$extra"
  mkdir -p "$d"
  python3 "$RUNDATA/gen_dag.py" "$shape" "$n" "$RUNDATA/task.sh" "$d/wf.yml" "$d/edges" \
    --sleep 0.05 $extra
  [ "$shape" = chain ] && sed -i 's/arguments: \[/arguments: ["--say", "hello-from-the-task", /' "$d/wf.yml"
  local expected=$(grep -c '^  - type: job' "$d/wf.yml")
  wfmpi_mpi -C "$d" "$ranks" wf.yml --progress 1
  expect_rc 0 "$shape on $ranks ranks"
  python3 "$RUNDATA/check_order.py" "$d/ledger.txt" "$d/edges" "$expected" ||
    fail "$shape on $ranks ranks: order violated"
  [ "$(wc -l <"$d/ledger.txt")" = "$expected" ] || fail "$shape: a task ran twice"
  grep -q "Succeeded       : $expected" "$TMP/out" || fail "$shape: summary: $(cat "$TMP/out")"
  # Default stdout/stderr land in the run dir, one file per attempt, made
  # only when the task writes: the chain's tasks print, the others are silent.
  if [ "$shape" = chain ]; then
    [ "$(ls "$d/wf.wfmpi/jobs/" | grep -c '\.1\.out$')" = "$expected" ] ||
      fail "$shape: per-attempt stdout files missing"
    [ "$(cat "$d/wf.wfmpi/jobs/c3.1.out")" = "hello-from-the-task" ] ||
      fail "$shape: c3's stdout: $(cat "$d/wf.wfmpi/jobs/c3.1.out")"
  else
    [ -z "$(ls "$d/wf.wfmpi/jobs/")" ] ||
      fail "$shape: silent tasks left output files: $(ls "$d/wf.wfmpi/jobs/" | head -3)"
  fi
  [ "$(grep -c ' start ' "$d/wf.wfmpi/wfmpi.log")" = "$expected" ] ||
    fail "$shape: wfmpi.log lacks one start line per task"
  # One node: the ranks sleep on their doorbells instead of polling.
  grep -q 'doorbells: on' "$d/wf.wfmpi/wfmpi.log" || fail "$shape: doorbells not in use"
  pass "$shape ($expected tasks) on $ranks ranks${extra:+ with file edges}"
}

run_shape diamond 4 1
run_shape diamond 4 4
run_shape chain 8 4 --files
run_shape fan 14 4 --files
run_shape fan 30 8
run_shape independent 40 8

# The environment each task sees.
d="$TMP/env"; mkdir -p "$d"
cat >"$d/wf.yml" <<YML
pegasus: '5.0'
name: envcheck
profiles:
  env: {FROM_WF: wf}
transformationCatalog:
  transformations:
  - name: envdump
    sites: [{name: local, pfn: $RUNDATA/envdump.sh, type: installed}]
jobs:
  - id: e1
    name: envdump
    arguments: []
    uses: []
    profiles:
      pegasus: {cores: 1}
      env: {FROM_JOB: job}
YML
mkdir -p "$d/work"
wfmpi_mpi -C "$d" 2 --work-dir work wf.yml  # options may come first
expect_rc 0 "env task"
for v in WFMPI_TASK_ID=e1 WFMPI_ATTEMPT=1 OMP_NUM_THREADS=1 FROM_WF=wf FROM_JOB=job; do
  grep -qx "$v" "$d/work/env.e1" || fail "task env lacks $v"
done
grep -q '^WFMPI_RANK=[0-9]' "$d/work/env.e1" || fail "task env lacks WFMPI_RANK"
grep -q '^WFMPI_NODE=0' "$d/work/env.e1" || fail "task env lacks WFMPI_NODE"
[ "$(cat "$d/work/pwd.e1")" = "$(cd "$d/work" && pwd -P)" ] || fail "task did not run in --work-dir"
pass "task environment and work dir"
