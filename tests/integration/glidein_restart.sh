#!/bin/bash
# `wfmpi serve` killed with SIGKILL and restarted; leases must survive it.
# (1) The protocol step by step, with a scripted pilot (curl): a result the
# service counted before the kill and is sent again is a duplicate; a result
# for an attempt leased before the kill is accepted once; the restored pilot
# is asked to sync, and the attempt it says it does not hold (a claim answer
# lost in the crash) goes back to READY without using a retry. (2) Real
# pilots: SIGKILL mid-run, restart on the same port, the pilot carries on
# under its id and every task runs exactly once. (3) The service and a pilot
# killed together: the restored pilot never comes back, its leases expire,
# and another pilot finishes without a retry being used (--retries 0 would
# make a used retry a FAILED task).
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
C="--insecure-http"
export LEDGER="$TMP/ledger.txt"
: >"$LEDGER"
SARGS="$C --tokens tokens --retries 0"
restart() { # restart STATE LEASE: SIGKILL the service, start it again on its port
  kill -KILL "$GL_PID"; wait "$GL_PID" 2>/dev/null || :
  "$WFMPI" serve --port "$GL_PORT" $SARGS --state-dir "$1" --lease "$2" \
    >>"$TMP/serve.out" 2>>"$TMP/serve.err" &
  GL_PID=$!
  local i
  for i in $(seq 100); do curl -s -o /dev/null "$GL_URL/v1/health" && return 0; sleep 0.1; done
  fail "the service did not come back"
}
A="Authorization: Bearer $(cat alice.tok)"
post() { curl -s -H "$A" -d "$2" "$GL_URL$1"; }
jq_() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
res() { # res WF TASK ATTEMPT: one success result
  echo "{\"results\":[{\"wf\":\"$1\",\"task\":$2,\"attempt\":$3,\"reason\":\"success\",\"exit_code\":0,\"signal\":0,\"start\":1,\"end\":2,\"utime\":0,\"stime\":0,\"maxrss_kb\":0,\"detail\":\"\"}]}"
}

# (1) Scripted pilot.
python3 "$RUNDATA/gen_dag.py" independent 4 "$RUNDATA/task.sh" wf1.yml e1
gl_serve $SARGS --state-dir st1 --lease 30
ID=$("$WFMPI" submit wf1.yml --server "$GL_URL" --token-file alice.tok $C)
P=$(post /v1/pilots '{"nodes":[]}' | jq_ 'd["pilot"]')
T=$(post "/v1/pilots/$P/claim" '{"request_id":"r1","max":3,"cores":3,"gpus":0,"wait":0}' |
  jq_ '" ".join(str(t["task"])+":"+str(t["attempt"]) for t in d["tasks"])')
[ "$T" = "0:1 1:1 2:1" ] || fail "claim: $T"
[ "$(post "/v1/pilots/$P/results" "$(res "$ID" 0 1)" | jq_ 'd["acks"][0]["status"]')" = ok ] ||
  fail "first result not counted"
restart st1 30
grep -q "1 pilot(s) from before the restart" serve.err || fail "pilot not restored: $(tail -3 serve.err)"
grep -q "2 attempt(s) still leased to their pilots" serve.err || fail "leases not restored"
st=$(post "/v1/pilots/$P/results" "$(res "$ID" 0 1)" | jq_ 'd["acks"][0]["status"]')
[ "$st" = duplicate ] || fail "a result counted before the kill, sent again: $st"
[ "$(post "/v1/pilots/$P/heartbeat" '{"running":1}' | jq_ 'd["commands"]["sync"]')" = True ] ||
  fail "the restored pilot was not asked to sync"
st=$(post "/v1/pilots/$P/results" "$(res "$ID" 1 1)" | jq_ 'd["acks"][0]["status"]')
[ "$st" = ok ] || fail "a result for an attempt leased before the kill: $st"
st=$(post "/v1/pilots/$P/results" "$(res "$ID" 1 1)" | jq_ 'd["acks"][0]["status"]')
[ "$st" = duplicate ] || fail "the same result again: $st"
[ "$(post "/v1/pilots/$P/sync" '{"held":[]}' | jq_ 'd["released"]')" = 1 ] ||
  fail "sync did not requeue the attempt the pilot never received"
S=$(gl_status alice.tok "$ID" $C)
echo "$S" | grep -q '"ready":2,"running":0,"done":2,"failed":0' || fail "after sync: $S"
echo "$S" | grep -q '"retries":0' || fail "retries used: $S"
T=$(post "/v1/pilots/$P/claim" '{"request_id":"r2","max":3,"cores":3,"gpus":0,"wait":0}' |
  jq_ '" ".join(str(t["task"])+":"+str(t["attempt"]) for t in d["tasks"])')
[ "$T" = "2:2 3:1" ] || fail "claim after sync: $T"
pass "scripted: duplicate after restart, leased result accepted once, sync requeued the lost claim"
gl_stop

# (2) Real pilot, SIGKILL mid-run.
python3 "$RUNDATA/gen_dag.py" independent 150 "$RUNDATA/task.sh" wf2.yml e2 --sleep 0.2
gl_serve $SARGS --state-dir st2 --lease 15
ID2=$("$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok $C)
mkdir -p p2
timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
  --token-file alice.tok $C --work-dir p2 --cores-per-node 6 --max-claim 6 --idle-timeout 4 \
  >p2.out 2>p2.err &
P2=$!
for i in $(seq 200); do [ "$(wc -l <"$LEDGER")" -ge 30 ] && break; sleep 0.05; done
restart st2 15
gl_wait_done alice.tok "$ID2" 90 $C || fail "workflow did not finish after the SIGKILL"
wait "$P2" || fail "pilot exit $? after the restart"
S=$(gl_status alice.tok "$ID2" $C)
echo "$S" | grep -q '"done":150' || fail "status: $S"
echo "$S" | grep -q '"retries":0' || fail "retries used: $S"
ran=$(cut -d' ' -f1 "$LEDGER" | sort -u | wc -l)
twice=$(cut -d' ' -f1 "$LEDGER" | sort | uniq -d | wc -l)
[ "$ran" = 150 ] || fail "$((150 - ran)) task(s) never ran"
[ "$twice" = 0 ] || fail "$twice task(s) ran twice across the restart"
grep -q "registering again" p2.err && fail "the pilot had to register again"
pass "real pilot: SIGKILLed service restarted, every task exactly once, same pilot id, no retry"
gl_stop

# (3) Service and pilot killed together; the restored pilot never returns.
: >"$LEDGER"
python3 "$RUNDATA/gen_dag.py" independent 60 "$RUNDATA/task.sh" wf3.yml e3 --sleep 0.5
gl_serve $SARGS --state-dir st3 --lease 3
ID3=$("$WFMPI" submit wf3.yml --server "$GL_URL" --token-file alice.tok $C)
mkdir -p k
"$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" --token-file alice.tok $C \
  --work-dir k --cores-per-node 6 --max-claim 6 --idle-timeout 30 >k.out 2>k.err &
KPID=$!
tree() { local p; for p in $(ps -o pid= --ppid "$1"); do tree "$p"; done; echo "$1"; }
for i in $(seq 200); do [ "$(wc -l <"$LEDGER")" -ge 10 ] && break; sleep 0.05; done
kill -KILL $(tree "$KPID") 2>/dev/null || :
wait "$KPID" 2>/dev/null || :
restart st3 3
mkdir -p p3
timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
  --token-file alice.tok $C --work-dir p3 --cores-per-node 6 --max-claim 6 --idle-timeout 4 \
  >p3.out 2>p3.err &
P3=$!
gl_wait_done alice.tok "$ID3" 90 $C || fail "workflow did not finish after service + pilot died"
wait "$P3" || fail "second pilot exit $?"
S=$(gl_status alice.tok "$ID3" $C)
echo "$S" | grep -q '"done":60,"failed":0' || fail "status: $S"
grep -q "lease expired; [0-9]* attempt(s) back to READY" serve.err || fail "restored leases did not expire"
ran=$(cut -d' ' -f1 "$LEDGER" | sort -u | wc -l)
[ "$ran" = 60 ] || fail "$((60 - ran)) task(s) never ran"
pass "service + pilot killed: restored leases expired, READY without a retry, finished elsewhere"
gl_stop
