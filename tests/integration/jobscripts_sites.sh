#!/usr/bin/env bash
# Every site sbatch script of jobscripts/ runs for real in the local Slurm
# (tests/slurm/). The local Slurm has one node, 8 CPUs, partition "debug" and
# no GPUs or accounts, so each script first goes through jobscripts/localize.sh,
# which changes only #SBATCH lines (partition -> debug; account, GPU, --mem,
# --exclusive and --output lines removed; --nodes=1, --ntasks-per-node=2,
# --cpus-per-task=1, --time=00:02:00, --signal=USR1@30), and is submitted with
# WFMPI_SRUN_ARGS= (no site GPU binding / --mpi=pmi2: the local srun uses
# MpiDefault=pmix) and WFMPI_JOBSCRIPTS pointing at jobscripts/ (the copy lives
# in $TMP). The shared body (wfmpi-job.sh) and the module block run unchanged.
# Each job runs a fan workflow with file edges on 2 ranks: it must complete
# (job and wfmpi exit 0), every task once, in order, and the rescue log must
# say it stopped without resubmitting.
source "$(dirname "$0")/lib.sh"
source "$WFMPI_SRC/tests/slurm/lib.sh"

slurm_up
unset SLURM_MPI_TYPE
export WFMPI WFMPI_JOBSCRIPTS=$WFMPI_SRC/jobscripts WFMPI_SRUN_ARGS=
js=$WFMPI_SRC/jobscripts
# glidein.sbatch runs a pilot, not a workflow: tests/integration/slurm_glidein.sh.
scripts=$(cd "$js" && ls ./*.sbatch | sed 's|^\./||; s|\.sbatch$||' | grep -vx glidein)
[ "$(echo "$scripts" | wc -l)" -ge 12 ] || fail "expected 12 scripts in jobscripts/, found: $scripts"

declare -A job
for s in $scripts; do
  d=$TMP/$s; mkdir -p "$d"
  bash "$js/localize.sh" "$js/$s.sbatch" >"$d/job.sbatch"
  grep -q 'gpus\|--account\|--exclusive\|--mem' <(grep '^#SBATCH' "$d/job.sbatch") &&
    fail "$s: localize.sh left a site-only line: $(grep '^#SBATCH' "$d/job.sbatch")"
  python3 "$RUNDATA/gen_dag.py" fan 6 "$RUNDATA/task.sh" "$d/wf.yml" "$d/edges" --sleep 0.1 --files
  out=$(sbatch --parsable -D "$d" "$d/job.sbatch" wf.yml 2>&1) || fail "$s: sbatch refused it: $out"
  job[$s]=${out%%;*}
done
pass "submitted ${#job[@]} localized scripts: ${!job[*]}"

# Wait for all of them (they share the 8 CPUs; OverSubscribe=FORCE:4).
deadline=$((SECONDS + 150))
while :; do
  left=0
  for s in $scripts; do
    case $(slurm_job_field "${job[$s]}" JobState) in PENDING | RUNNING | CONFIGURING | COMPLETING) left=$((left + 1)) ;; esac
  done
  [ "$left" = 0 ] && break
  [ "$SECONDS" -lt "$deadline" ] || fail "$left jobs still not finished after 150 s"
  sleep 2
done

for s in $scripts; do
  d=$TMP/$s; id=${job[$s]}
  show() { echo "--- $s: job $id output" >&2; cat "$d/slurm-$id.out" >&2 || true; }
  st=$(slurm_job_field "$id" JobState); ec=$(slurm_job_field "$id" ExitCode)
  [ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] || { show; fail "$s: job $id $st exit $ec, expected COMPLETED 0:0"; }
  grep -q '^wfmpi-job: wfmpi exit 0: stop$' "$d/slurm-$id.out" || { show; fail "$s: no 'wfmpi exit 0: stop'"; }
  grep -q "signal lead 30 s .*--drain-before 30, --drain-grace 18" "$d/slurm-$id.out" ||
    { show; fail "$s: drain timing not derived from --signal=USR1@30"; }
  python3 "$RUNDATA/check_order.py" "$d/ledger.txt" "$d/edges" 6 || { show; fail "$s: order or tasks"; }
  [ "$(wc -l <"$d/ledger.txt")" = 6 ] || fail "$s: a task ran twice"
  grep -q " info: run wf.yml: 6 tasks on 2 ranks, 1 nodes" "$d/wf.wfmpi/wfmpi.log" ||
    { show; fail "$s: not one MPI job of 2 ranks"; }
  grep -q "job=$id chain=1 rc=0 next=- stop" "$d/wf.rescue.log" || fail "$s: rescue log: $(cat "$d/wf.rescue.log")"
done
pass "all ${#job[@]} scripts ran their workflow to exit 0 under sbatch + srun (2 ranks), drain timing from --signal"
