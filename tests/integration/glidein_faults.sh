#!/bin/bash
# Glidein faults on loopback. (1) A pilot is SIGKILLed mid-run: after its
# lease expires its attempts go back to READY (no retry used) and another
# pilot finishes the workflow; nothing is lost, and only attempts the killed
# pilot held can have run twice. (2) The service is restarted mid-run: the
# pilot re-registers, resends its results, and the workflow completes.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
C="--insecure-http"
export LEDGER="$TMP/ledger.txt"
python3 "$RUNDATA/gen_dag.py" independent 300 "$RUNDATA/task.sh" wf.yml edges --sleep 0.05
pilot() { # pilot NAME EXTRA...: start in the background, PID in $!
  local n=$1; shift
  mkdir -p "$n"
  timeout 150 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
    --token-file alice.tok $C --work-dir "$n" --max-claim 4 "$@" >"$n.out" 2>"$n.err" &
}

# (1) SIGKILL a pilot (every process of its mpiexec) mid-run.
gl_serve $C --tokens tokens --state-dir state --lease 3
ID=$("$WFMPI" submit wf.yml --server "$GL_URL" --token-file alice.tok $C)
mkdir -p k
"$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" --token-file alice.tok $C \
  --work-dir k --max-claim 4 --idle-timeout 5 >k.out 2>k.err &
KPID=$!
# Every process of that pilot, by parent id (never by name).
tree() { local p; for p in $(ps -o pid= --ppid "$1"); do tree "$p"; done; echo "$1"; }
# 20 tasks finished (the ledger has their lines): the pilot is mid-run.
for i in $(seq 100); do [ -f ledger.txt ] && [ "$(wc -l <ledger.txt)" -ge 20 ] && break; sleep 0.1; done
kill -KILL $(tree "$KPID") 2>/dev/null || :
wait "$KPID" 2>/dev/null || :
pilot p1 --idle-timeout 5
P1=$!
gl_wait_done alice.tok "$ID" 120 $C || fail "workflow did not finish after the pilot was killed"
wait "$P1" || fail "surviving pilot exit $?"
S=$(gl_status alice.tok "$ID" $C)
echo "$S" | grep -q '"done":300' || fail "status: $S"
echo "$S" | grep -q '"retries":0' || fail "lost leases used retries: $S"
missing=$(python3 -c "
import sys
ran={l.split()[0] for l in open('ledger.txt') if l.strip()}
print(300-len(ran))")
[ "$missing" = 0 ] || fail "$missing task(s) never ran"
twice=$(cut -d' ' -f1 ledger.txt | sort | uniq -d | wc -l)
# The killed pilot held at most 4 claimed + what it had not reported yet.
[ "$twice" -le 12 ] || fail "$twice tasks ran twice (more than the killed pilot held)"
grep -q "lease expired" "$TMP/serve.err" || fail "no lease expiry logged"
pass "pilot SIGKILLed: leases expired, workflow finished, $twice rerun(s), no retry used"
gl_stop

# (2) Restart the service mid-run.
: >ledger.txt
python3 "$RUNDATA/gen_dag.py" independent 200 "$RUNDATA/task.sh" wf2.yml edges2 --sleep 0.05
OLD_PORT=$GL_PORT
gl_serve $C --tokens tokens --state-dir state2 --lease 3
ID2=$("$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok $C)
pilot p2 --idle-timeout 8
P2=$!
for i in $(seq 100); do [ "$(wc -l <ledger.txt)" -ge 40 ] && break; sleep 0.1; done
gl_stop
sleep 1
# Same port again: the pilot keeps retrying with backoff meanwhile.
"$WFMPI" serve --port "$GL_PORT" $C --tokens tokens --state-dir state2 --lease 3 \
  >>"$TMP/serve.out" 2>>"$TMP/serve.err" &
GL_PID=$!
gl_wait_done alice.tok "$ID2" 120 $C || fail "workflow did not finish after the restart"
wait "$P2" || fail "pilot exit $? after the restart"
grep -q "resumed" "$TMP/serve.err" || fail "the service did not resume its workflow"
missing=$(python3 -c "
ran={l.split()[0] for l in open('ledger.txt') if l.strip()}
print(200-len(ran))")
[ "$missing" = 0 ] || fail "$missing task(s) never ran"
pass "service restarted: workflow resumed and finished (pilot re-registered)"
gl_stop
