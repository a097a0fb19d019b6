#!/usr/bin/env bash
# A rescue restart as users meet it: an sbatch job with a 1-minute limit and
# --signal=USR1@30 runs a workflow that needs about 2 minutes. The first job
# gets Slurm's walltime signal, drains (running tasks get SIGTERM and are
# requeued without using a retry), saves state and exits 3; the same script
# submitted again finishes the workflow with exit 0, and no task that
# completed in the first job runs again.
source "$(dirname "$0")/lib.sh"
source "$WFMPI_SRC/tests/slurm/lib.sh"

slurm_up
unset SLURM_MPI_TYPE
d=$TMP/wall; mkdir -p "$d"
# 32 independent tasks of 15 s each on 4 slots: about 2 minutes of work.
python3 "$RUNDATA/gen_dag.py" independent 32 "$RUNDATA/task.sh" "$d/wf.yml" /dev/null --sleep 15
sed -i 's/^    uses: \[\]/    uses: []\n    profiles: {dagman: {retry: 0}, pegasus: {runtime: 15}}/' "$d/wf.yml"
# The users' command: the same in both jobs. --drain-before is small because
# this allocation is only a minute long (the default is 120 s).
slurm_job_script "$d/job.sh" \
  "srun -n 4 $WFMPI wf.yml --cores-per-node 4 --drain-grace 10 --drain-before 5"

SLURM_WAIT_S=150 slurm_sbatch_wait -J wall1 -N 1 -n 4 -t 1 --signal=USR1@30 -D "$d" \
  -o "$d/job1.out" "$d/job.sh"
rc1=$(cat "$d/job.sh.rc" 2>/dev/null || echo none)
[ "$rc1" = 3 ] || { cat "$d/job1.out" >&2; fail "first job: srun exit $rc1, expected 3 (drained)"; }
grep -q "draining" "$d/wf.wfmpi/wfmpi.log" || fail "the first job should have drained"
grep -q "Stopped early" "$d/job1.out" || fail "first job summary should say it stopped early"
cp "$d/ledger.txt" "$d/ledger.job1"
done1=$(wc -l <"$d/ledger.job1")
[ "$done1" -ge 1 ] && [ "$done1" -lt 32 ] || fail "first job finished $done1 tasks; expected some, not all"
pass "job 1 (-t 1, --signal=USR1@30): drained, exit 3 after $done1 tasks"

SLURM_WAIT_S=240 slurm_sbatch_wait -J wall2 -N 1 -n 4 -t 4 -D "$d" -o "$d/job2.out" "$d/job.sh"
rc2=$(cat "$d/job.sh.rc" 2>/dev/null || echo none)
[ "$rc2" = 0 ] || { cat "$d/job2.out" >&2; fail "second job: srun exit $rc2, expected 0"; }
grep -q "resumed .* $done1 done, 0 failed" "$d/job2.out" || fail "job 2 resume report: $(head -3 "$d/job2.out")"
[ "$(wc -l <"$d/ledger.txt")" = 32 ] || fail "each task must complete exactly once in all: $(wc -l <"$d/ledger.txt") ledger lines"
[ "$(awk '{print $1}' "$d/ledger.txt" | sort -u | wc -l)" = 32 ] || fail "a task completed twice"
grep -q "Succeeded       : 32" "$d/job2.out" || fail "job 2 summary"
pass "job 2 resumed and finished: 32 tasks, each completed once, retry 0 was enough"
