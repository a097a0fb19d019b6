#!/usr/bin/env bash
# A glidein pilot inside a real Slurm allocation (tests/slurm/): a `wfmpi
# serve` on loopback holds a workflow; jobscripts/glidein.sbatch, localized
# (jobscripts/localize.sh: partition debug, 2 ranks, --time=00:05:00,
# --signal=USR1@30), is submitted with the service URL and token file in the
# environment. Its `srun wfmpi glidein` registers with the Slurm job id,
# completes the workflow (every task once), then exits 0 by itself after its
# idle timeout, so the allocation goes back well before its time limit: job
# COMPLETED 0:0 in under a minute of a five-minute limit.
source "$(dirname "$0")/lib.sh"
source "$WFMPI_SRC/tests/slurm/lib.sh"

slurm_up
unset SLURM_MPI_TYPE
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
gl_serve --insecure-http --tokens tokens --state-dir state --lease 10
d=$TMP/job; mkdir -p "$d"
export LEDGER=$d/ledger.txt
python3 "$RUNDATA/gen_dag.py" fan 24 "$RUNDATA/task.sh" wf.yml edges --sleep 0.2
ID=$("$WFMPI" submit wf.yml --server "$GL_URL" --token-file alice.tok --insecure-http)

TIME=00:05:00 bash "$WFMPI_SRC/jobscripts/localize.sh" "$WFMPI_SRC/jobscripts/glidein.sbatch" >"$d/glidein.sbatch"
export WFMPI WFMPI_JOBSCRIPTS=$WFMPI_SRC/jobscripts WFMPI_SRUN_ARGS=
export WFMPI_SERVER=$GL_URL WFMPI_TOKEN_FILE=$TMP/alice.tok WFMPI_IDLE_TIMEOUT=6 WFMPI_SITE=local-test
t0=$SECONDS
SLURM_WAIT_S=150 slurm_sbatch_wait -D "$d" "$d/glidein.sbatch" --insecure-http --cores-per-node 4
elapsed=$((SECONDS - t0))
id=$SBATCH_JOBID
out=$d/slurm-$id.out
show() { echo "--- job $id output" >&2; cat "$out" >&2 || true; echo "--- serve.err" >&2; tail -20 "$TMP/serve.err" >&2; }
st=$(slurm_job_field "$id" JobState); ec=$(slurm_job_field "$id" ExitCode)
[ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] || { show; fail "job $id $st exit $ec, expected COMPLETED 0:0"; }
grep -q '^wfmpi-job: wfmpi glidein exit 0$' "$out" || { show; fail "pilot exit not 0"; }
grep -q "signal lead 30 s .*--drain-before 30, --drain-grace 18, --idle-timeout 6" "$out" ||
  { show; fail "drain timing not derived from --signal=USR1@30"; }
grep -q "registered: user alice, site 'local-test', job '$id', 1 node(s)" "$TMP/serve.err" ||
  { show; fail "the pilot did not register with its Slurm job id"; }
grep -q "deregistered (idle)" "$TMP/serve.err" || { show; fail "no deregistration with reason idle"; }
gl_status alice.tok "$ID" --insecure-http | grep -q '"state":"finished"' || { show; fail "workflow not finished"; }
python3 "$RUNDATA/check_order.py" "$LEDGER" edges 24 || fail "order or tasks"
[ "$(wc -l <"$LEDGER")" = 24 ] || fail "a task ran twice"
# Gone by itself, far from the 5-minute limit: the job's own RunTime (sbatch
# -W adds Slurm's scheduling and polling delays on top).
run=$(slurm_job_field "$id" RunTime)
run_s=$(echo "$run" | awk -F: '{print $(NF-2)*3600 + $(NF-1)*60 + $NF}')
[ "$run_s" -lt 60 ] || fail "the job ran $run: the idle pilot did not give the allocation back"
[ "$(slurm_job_field "$id" TimeLimit)" = 00:05:00 ] || fail "time limit $(slurm_job_field "$id" TimeLimit)"
pass "glidein.sbatch in Slurm: 24 tasks once, pilot idle -> exit 0, job COMPLETED after ${run_s}s of a 5 min limit (sbatch -W: ${elapsed}s)"

# No service given: the body says so and the job fails with exit 2.
unset WFMPI_SERVER
SLURM_WAIT_S=60 slurm_sbatch_wait -D "$d" "$d/glidein.sbatch"
grep -q "no service: set WFMPI_SERVER" "$d/slurm-$SBATCH_JOBID.out" || fail "missing-server message"
[ "$(slurm_job_field "$SBATCH_JOBID" ExitCode)" = 2:0 ] || fail "missing server: exit $(slurm_job_field "$SBATCH_JOBID" ExitCode)"
pass "glidein.sbatch without a service: exit 2 with a message"
gl_stop
