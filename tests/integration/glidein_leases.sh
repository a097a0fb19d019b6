#!/bin/bash
# Leases that cannot double-run (issue #18, point 5), with ledgers.
# (1) The service is SIGKILLed and restarted 3 s later with an 8 s lease:
# the pilot's back-off is bounded by its lease (it used to grow to ~19 s
# over one outage), so it comes back under the same id before the lease
# lapses; every task runs exactly once, no retry used, nothing killed.
# (2) A pilot frozen with SIGSTOP (all its processes and tasks) longer than
# lease + grace: the service hands its tasks to another pilot, and when the
# frozen one thaws it kills its old copies at once (its lease lapsed): no
# task ends twice, and no old copy ends after it was handed out again.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
C="--insecure-http"
export LEDGER="$TMP/ledger.txt"
: >"$LEDGER"
tree() { local p; for p in $(ps -o pid= --ppid "$1"); do tree "$p"; done; echo "$1"; }
SARGS="$C --tokens tokens --retries 0"

# (1) Restart with a short lease.
python3 "$RUNDATA/gen_dag.py" independent 120 "$RUNDATA/task.sh" wf1.yml e1 --sleep 0.2
gl_serve $SARGS --state-dir st1 --lease 8
ID=$("$WFMPI" submit wf1.yml --server "$GL_URL" --token-file alice.tok $C)
mkdir -p p1
timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
  --token-file alice.tok $C --work-dir p1 --cores-per-node 4 --max-claim 4 --idle-timeout 15 \
  >p1.out 2>p1.err &
P1=$!
for i in $(seq 200); do [ "$(wc -l <"$LEDGER")" -ge 20 ] && break; sleep 0.05; done
kill -KILL "$GL_PID"; wait "$GL_PID" 2>/dev/null || :
sleep 3
"$WFMPI" serve --port "$GL_PORT" $SARGS --state-dir st1 --lease 8 >>serve.out 2>>serve.err &
GL_PID=$!
gl_wait_done alice.tok "$ID" 90 $C || fail "workflow did not finish after the restart"
wait "$P1" || fail "pilot exit $?"
S=$(gl_status alice.tok "$ID" $C)
echo "$S" | grep -q '"done":120' || fail "status: $S"
echo "$S" | grep -q '"retries":0' || fail "retries used: $S"
ran=$(cut -d' ' -f1 "$LEDGER" | sort -u | wc -l)
twice=$(cut -d' ' -f1 "$LEDGER" | sort | uniq -d | wc -l)
[ "$ran" = 120 ] || fail "$((120 - ran)) task(s) never ran"
[ "$twice" = 0 ] || fail "$twice task(s) ran twice across a 3 s outage with an 8 s lease"
grep -q "registering again" p1.err && fail "the pilot lost its registration: $(grep -m3 retrying p1.err)"
grep -q "lease lost.*killing [1-9]" p1.err && fail "the pilot let its lease lapse"
worst=$(sed -n 's/.*retrying in \([0-9.]*\) s.*/\1/p' p1.err | sort -g | tail -1)
pass "3 s outage, 8 s lease: every task once, same pilot, longest back-off ${worst:-0} s"
gl_stop

# (2) A frozen pilot. Each task logs its start and end; it runs ~2.5 s in
# short sleeps, so a thawed copy that was not killed would still end.
: >"$LEDGER"
cat >slow.sh <<'EOS'
#!/bin/sh
echo "start $WFMPI_TASK_ID $WFMPI_ATTEMPT $(date +%s.%N)" >>"$LEDGER"
i=0
while [ $i -lt 25 ]; do sleep 0.1; i=$((i + 1)); done
echo "end $WFMPI_TASK_ID $WFMPI_ATTEMPT $(date +%s.%N)" >>"$LEDGER"
EOS
chmod +x slow.sh
python3 "$RUNDATA/gen_dag.py" independent 8 "$TMP/slow.sh" wf2.yml e2
gl_serve $SARGS --state-dir st2 --lease 3 --lease-grace 1
ID2=$("$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok $C)
mkdir -p fa fb
"$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" --token-file alice.tok $C \
  --work-dir fa --cores-per-node 2 --max-claim 4 --idle-timeout 6 >fa.out 2>fa.err &
FA=$!
for i in $(seq 200); do [ "$(grep -c ^start "$LEDGER")" -ge 4 ] && break; sleep 0.05; done
[ "$(grep -c ^start "$LEDGER")" -ge 4 ] || fail "the first pilot started nothing"
# Twice: a task started while the first list was taken is frozen too.
FROZEN=$(tree "$FA")
kill -STOP $FROZEN
sleep 0.2
FROZEN=$(tree "$FA")
kill -STOP $FROZEN
timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
  --token-file alice.tok $C --work-dir fb --cores-per-node 2 --max-claim 4 --idle-timeout 4 \
  >fb.out 2>fb.err &
FB=$!
# Past lease + grace (4 s) the frozen pilot's tasks are handed to B.
for i in $(seq 200); do grep -q "lease expired" serve.err && break; sleep 0.05; done
grep -q "lease expired" serve.err || fail "the frozen pilot's lease did not expire"
sleep 1
kill -CONT $FROZEN
gl_wait_done alice.tok "$ID2" 90 $C || fail "workflow did not finish"
wait "$FB" || fail "second pilot exit $?"
timeout 30 tail --pid="$FA" -f /dev/null || kill -KILL $(tree "$FA") 2>/dev/null || :
wait "$FA" 2>/dev/null || :
# On thaw the pilot finds its lease gone either by its own clock ("lease
# lost") or, when its first request after the thaw gets through before it
# looks, by the service refusing its attempts; the ledger below is what
# must hold either way.
grep -q "lease lost\|no longer holds" fa.err ||
  fail "the thawed pilot did not see its lease lost: $(tail -3 fa.err)"
python3 - "$LEDGER" <<'EOP' || fail "ledger: $(cat "$LEDGER")"
import sys
ends, starts = {}, {}
for l in open(sys.argv[1]):
    kind, task, attempt, t = l.split()
    (ends if kind == "end" else starts).setdefault(task, []).append((int(attempt), float(t)))
assert len(ends) == 8, "%d tasks ended" % len(ends)
for task, e in ends.items():
    assert len(e) == 1, "%s ended %d times: %s" % (task, len(e), e)
    # An older attempt that ends after a newer one started ran beside it.
    newer = [t for a, t in starts[task] if a > e[0][0]]
    assert not newer or e[0][0] == max(a for a, _ in starts[task]), \
        "%s: attempt %d ended after attempt %s started" % (task, e[0][0], newer)
print("ok", {k: v for k, v in starts.items() if len(v) > 1})
EOP
pass "frozen pilot: its copies killed on thaw, handed out once more, every task ended once"
gl_stop
