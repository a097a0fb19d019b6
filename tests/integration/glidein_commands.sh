#!/bin/bash
# Glidein heartbeat commands on loopback, with real pilots (mpiexec -n 3).
# (1) `wfmpi remove` of a workflow: the pilot running its attempts is told to
# cancel them, kills them and reports them; nothing of it completes. (2)
# `wfmpi glidein drain PILOT` by its owner (another user gets 404): the
# pilot takes no more work, lets its running tasks end, deregisters with
# reason drain and exits 0. (3) `wfmpi glidein shutdown PILOT` by an admin:
# the pilot interrupts its tasks (back to READY without using a retry: the
# service runs with --retries 0) and exits 0; another pilot finishes them.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
for u in alice bob ops; do "$WFMPI" serve --add-user $u --tokens tokens >$u.tok 2>/dev/null; done
C="--insecure-http"
export LEDGER="$TMP/ledger.txt"
: >"$LEDGER"
gl_serve $C --tokens tokens --state-dir state --lease 4 --retries 0 --admin ops
pilot() { # pilot NAME EXTRA...: start in the background, PID in $!
  local n=$1; shift
  mkdir -p "$n"
  timeout 100 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
    --token-file alice.tok $C --work-dir "$n" --drain-grace 2 "$@" >"$n.out" 2>"$n.err" &
}
count() { # count ID STATE: that state's count in the workflow's status
  gl_status alice.tok "$1" $C | python3 -c "import json,sys; print(json.load(sys.stdin)['counts']['$2'])"
}
wait_count() { # wait_count ID STATE N SECONDS
  local i
  for i in $(seq $(($4 * 10))); do [ "$(count "$1" "$2")" = "$3" ] && return 0; sleep 0.1; done
  gl_status alice.tok "$1" $C >&2
  return 1
}
pilot_id() { # the id of alice's only live pilot
  "$WFMPI" glidein list --server "$GL_URL" --token-file alice.tok $C |
    python3 -c "import json,sys; p=json.load(sys.stdin)['pilots']; assert len(p)==1, p; print(p[0]['id'])"
}

# (1) remove -> cancel.
python3 "$RUNDATA/gen_dag.py" independent 6 "$RUNDATA/task.sh" wf1.yml e1 --sleep 30
ID1=$("$WFMPI" submit wf1.yml --server "$GL_URL" --token-file alice.tok $C)
pilot p1 --cores-per-node 6 --idle-timeout 4
P1=$!
wait_count "$ID1" running 6 30 || fail "the pilot did not start the 6 tasks"
t0=$(date +%s)
"$WFMPI" remove --server "$GL_URL" --token-file alice.tok $C "$ID1" >/dev/null
wait_count "$ID1" running 0 15 || fail "the removed workflow's tasks were not cancelled"
[ $(($(date +%s) - t0)) -lt 20 ] || fail "cancelling took as long as the tasks"
wait "$P1" || fail "pilot exit $? after the cancel (expected 0 by idle timeout)"
[ ! -s "$LEDGER" ] || fail "a cancelled task ran to its end: $(cat "$LEDGER")"
grep -q "cancelling" p1.err || : # info level: not logged by default
[ "$(count "$ID1" done)" = 0 ] || fail "cancelled tasks counted done"
gl_status alice.tok "$ID1" $C | grep -q '"state":"removed"' || fail "not removed"
pass "remove: running attempts cancelled on the pilot in $(($(date +%s) - t0)) s, pilot exit 0"

# (2) drain by the owner; another user cannot.
python3 "$RUNDATA/gen_dag.py" independent 8 "$RUNDATA/task.sh" wf2.yml e2 --sleep 3
ID2=$("$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok $C)
pilot p2 --cores-per-node 3 --max-claim 2 --idle-timeout 60
P2=$!
wait_count "$ID2" running 3 30 || fail "pilot 2 did not start"
PID2=$(pilot_id)
set +e
"$WFMPI" glidein drain "$PID2" --server "$GL_URL" --token-file bob.tok $C 2>/dev/null; RC=$?
set -e
[ "$RC" = 2 ] || fail "bob drained alice's pilot (exit $RC)"
"$WFMPI" glidein list --server "$GL_URL" --token-file bob.tok $C | grep -q "$PID2" &&
  fail "bob sees alice's pilot"
t0=$(date +%s)
"$WFMPI" glidein drain "$PID2" --server "$GL_URL" --token-file alice.tok $C >/dev/null
wait "$P2" || fail "drained pilot exit $?"
[ $(($(date +%s) - t0)) -lt 20 ] || fail "the drained pilot did not leave promptly"
grep -q "pilot $PID2 deregistered (drain)" "$TMP/serve.err" || fail "no deregistration with reason drain"
done2=$(count "$ID2" done)
[ "$done2" -ge 3 ] && [ "$done2" -lt 8 ] || fail "drain: $done2 done (the running ones should end, no more start)"
[ "$(wc -l <"$LEDGER")" = "$done2" ] || fail "drain: ledger $(wc -l <"$LEDGER") lines, $done2 done"
[ "$(count "$ID2" running)" = 0 ] || fail "drain left tasks running"
gl_status alice.tok "$ID2" $C | grep -q '"retries":0' || fail "drain used retries"
pass "drain: $done2 running task(s) finished, no new ones, deregistered (drain), exit 0"

# (3) shutdown by an admin; the tasks go back to READY without a retry.
"$WFMPI" remove --server "$GL_URL" --token-file alice.tok $C "$ID2" >/dev/null
: >"$LEDGER"
# Tasks that hold while $TMP/hold exists, then record themselves.
printf '#!/bin/sh\nwhile [ -e "%s/hold" ]; do sleep 0.1; done\nexec "%s" "$@"\n' "$TMP" "$RUNDATA/task.sh" >hold.sh
chmod +x hold.sh
touch hold
python3 "$RUNDATA/gen_dag.py" independent 2 "$TMP/hold.sh" wf3.yml e3
ID3=$("$WFMPI" submit wf3.yml --server "$GL_URL" --token-file alice.tok $C)
pilot p3 --cores-per-node 2 --idle-timeout 60
P3=$!
wait_count "$ID3" running 2 30 || fail "pilot 3 did not start"
PID3=$(pilot_id)
"$WFMPI" glidein list --server "$GL_URL" --token-file ops.tok $C | grep -q "$PID3" ||
  fail "the admin does not see alice's pilot"
t0=$(date +%s)
"$WFMPI" glidein shutdown "$PID3" --server "$GL_URL" --token-file ops.tok $C >/dev/null
wait "$P3" || fail "shut-down pilot exit $?"
[ $(($(date +%s) - t0)) -lt 15 ] || fail "the shut-down pilot did not leave promptly"
grep -q "pilot $PID3 deregistered (shutdown)" "$TMP/serve.err" || fail "no deregistration with reason shutdown"
[ ! -s "$LEDGER" ] || fail "an interrupted task ran to its end"
[ "$(count "$ID3" ready)" = 2 ] || fail "interrupted tasks are not READY"
# --retries 0: had the interruption counted as a failure, they would be FAILED.
rm hold
pilot p4 --cores-per-node 2 --idle-timeout 2
P4=$!
gl_wait_done alice.tok "$ID3" 40 $C || fail "the interrupted tasks did not finish on another pilot"
wait "$P4" || fail "pilot 4 exit $?"
S=$(gl_status alice.tok "$ID3" $C)
echo "$S" | grep -q '"retries":0' || fail "shutdown used retries: $S"
awk '{print $2}' "$LEDGER" | sort -u | grep -qx 2 || fail "expected attempt 2 after the interrupt: $(cat "$LEDGER")"
pass "shutdown by an admin: tasks interrupted, READY without a retry, finished by another pilot"
gl_stop
