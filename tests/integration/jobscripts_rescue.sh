#!/usr/bin/env bash
# The rescue loop of jobscripts/wfmpi-job.sh, for real in the local Slurm, with
# jobscripts/generic.sbatch localized (jobscripts/localize.sh: partition debug,
# no GPU lines, --ntasks-per-node=4, --time=00:01:00, --signal=USR1@30, so
# wfmpi gets --drain-before 30 --drain-grace 18):
#  A. a workflow that needs about two allocations (32 tasks x 2 s on 2 slots = 32 s,
#     as hwloc sees this machine's 2 cores; ~25 s of useful time per 1-minute
#     job): job 1 drains and exits 3, the
#     script resubmits itself with --dependency=afterany:<job 1>, the chain
#     ends with a job that exits 0; every task completed exactly once;
#  B. a failing task: wfmpi exits 1, nothing resubmitted;
#  C. bad input: wfmpi exits 2, nothing resubmitted;
#  D. the limit: a task whose runtime estimate never fits (exit 3 every time)
#     with WFMPI_RESCUE_MAX=1: two jobs, then "rescue limit 1 reached".
source "$(dirname "$0")/lib.sh"
source "$WFMPI_SRC/tests/slurm/lib.sh"

slurm_up
unset SLURM_MPI_TYPE
export WFMPI WFMPI_JOBSCRIPTS=$WFMPI_SRC/jobscripts WFMPI_SRUN_ARGS=
NTASKS=4 TIME=00:01:00 LEAD=30 bash "$WFMPI_JOBSCRIPTS/localize.sh" \
  "$WFMPI_JOBSCRIPTS/generic.sbatch" >"$TMP/rescue.sbatch"

submit() { # DIR [ENV=VALUE...] : sbatch the localized script in DIR, print the id
  local d=$1; shift
  local out
  out=$(env "$@" sbatch --parsable -D "$d" "$TMP/rescue.sbatch" wf.yml 2>&1) || fail "sbatch: $out"
  echo "${out%%;*}"
}
# chain_end DIR SECONDS: wait until DIR/wf.rescue.log has a line without a next job
chain_end() {
  local d=$1 deadline=$((SECONDS + $2))
  until [ -f "$d/wf.rescue.log" ] && tail -n 1 "$d/wf.rescue.log" | grep -q ' next=- '; do
    [ "$SECONDS" -lt "$deadline" ] || { cat "$d"/slurm-*.out >&2 2>/dev/null; fail "$d: chain not ended after $2 s: $(cat "$d/wf.rescue.log" 2>/dev/null)"; }
    sleep 2
  done
}

# A: two allocations
a=$TMP/a; mkdir -p "$a"
python3 "$RUNDATA/gen_dag.py" independent 32 "$RUNDATA/task.sh" "$a/wf.yml" /dev/null --sleep 2
sed -i 's/^    uses: \[\]/    uses: []\n    profiles: {dagman: {retry: 0}, pegasus: {runtime: 2}}/' "$a/wf.yml"
ja=$(submit "$a")
# B: a failing task; C: bad input; D: never fits, WFMPI_RESCUE_MAX=1
b=$TMP/b; mkdir -p "$b"
python3 "$RUNDATA/gen_dag.py" independent 4 "$RUNDATA/task.sh" "$b/wf.yml" /dev/null
sed -i '0,/"--sleep"/s/"--sleep"/"--exit", "1", "--sleep"/' "$b/wf.yml"
sed -i 's/^    uses: \[\]/    uses: []\n    profiles: {dagman: {retry: 0}}/' "$b/wf.yml"
jb=$(submit "$b")
c=$TMP/c; mkdir -p "$c"
printf 'pegasus: "5.0"\nname: bad\njobs:\n- {type: job, name: nosuch, id: x1, arguments: []\n' >"$c/wf.yml"
jc=$(submit "$c")
d=$TMP/d; mkdir -p "$d"
python3 "$RUNDATA/gen_dag.py" independent 2 "$RUNDATA/task.sh" "$d/wf.yml" /dev/null
sed -i 's/^    uses: \[\]/    uses: []\n    profiles: {pegasus: {runtime: 3600}}/' "$d/wf.yml"
jd=$(submit "$d" WFMPI_RESCUE_MAX=1)

chain_end "$b" 90
grep -q "job=$jb chain=1 rc=1 next=- stop$" "$b/wf.rescue.log" || fail "B: $(cat "$b/wf.rescue.log")"
[ "$(wc -l <"$b/wf.rescue.log")" = 1 ] || fail "B: more than one job"
grep -q '^wfmpi-job: wfmpi exit 1: stop$' "$b/slurm-$jb.out" || fail "B: job output"
pass "B: a task failed: wfmpi exit 1, no resubmission"
chain_end "$c" 90
grep -q "job=$jc chain=1 rc=2 next=- stop$" "$c/wf.rescue.log" || fail "C: $(cat "$c/wf.rescue.log")"
[ "$(wc -l <"$c/wf.rescue.log")" = 1 ] || fail "C: more than one job"
pass "C: bad input: wfmpi exit 2, no resubmission"

chain_end "$a" 300
cat "$a/wf.rescue.log"
n=$(wc -l <"$a/wf.rescue.log")
[ "$n" -ge 2 ] || fail "A: the workflow finished in one job; it was meant to need two"
head -n 1 "$a/wf.rescue.log" | grep -q "job=$ja chain=1 rc=3 next=[0-9]* resubmitted as job" || fail "A: first job"
tail -n 1 "$a/wf.rescue.log" | grep -q "chain=$n rc=0 next=- stop$" || fail "A: last job did not exit 0"
# Each resubmission depended on the job before it, and ran after it.
prev=$ja
for next in $(sed -n 's/.* next=\([0-9][0-9]*\) .*/\1/p' "$a/wf.rescue.log"); do
  st=$(slurm_job_field "$prev" EndTime); st2=$(slurm_job_field "$next" StartTime)
  [[ "$st2" > "$st" || "$st2" == "$st" ]] || fail "A: job $next started ($st2) before job $prev ended ($st)"
  grep -q "chain job" "$a/slurm-$next.out" || fail "A: job $next has no output"
  prev=$next
done
[ "$(slurm_job_field "$prev" JobState)" = COMPLETED ] || fail "A: last job state"
[ "$(wc -l <"$a/ledger.txt")" = 32 ] || fail "A: $(wc -l <"$a/ledger.txt") task completions, expected 32"
[ "$(awk '{print $1}' "$a/ledger.txt" | sort -u | wc -l)" = 32 ] || fail "A: a task completed twice"
grep -q "resumed" "$a/slurm-$prev.out" || fail "A: the last job did not resume"
pass "A: $n jobs in the chain (exit 3, resubmitted with afterany, ..., exit 0); 32 tasks each once"

chain_end "$d" 240
cat "$d/wf.rescue.log"
[ "$(wc -l <"$d/wf.rescue.log")" = 2 ] || fail "D: expected 2 jobs"
head -n 1 "$d/wf.rescue.log" | grep -q "job=$jd chain=1 rc=3 next=[0-9]* resubmitted" || fail "D: first job"
tail -n 1 "$d/wf.rescue.log" | grep -q "chain=2 rc=3 next=- stop (rescue limit 1 reached)$" || fail "D: limit"
pass "D: WFMPI_RESCUE_MAX=1: exit 3 twice, one resubmission, then stop"
