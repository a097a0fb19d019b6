#!/bin/bash
# Glidein mode on loopback: a service and two pilots (mpiexec -n 3 each)
# complete a 300-task workflow between them, every task exactly once; a wrong
# token gets 401 and no task; malformed and oversized requests get 400/413
# and the service stays up; user A's pilot never gets user B's tasks; large
# claims of null tasks on several ranks; HTTPS with a self-signed certificate
# and --cacert.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
python3 "$RUNDATA/gen_dag.py" fan 300 "$RUNDATA/ledger.sh" wf.yml edges
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
"$WFMPI" serve --add-user bob --tokens tokens >bob.tok 2>/dev/null
echo "0123" >wrong.tok
[ "$(wc -l <tokens)" = 2 ] || fail "tokens file: $(cat tokens)"
grep -q "$(cat alice.tok)" tokens && fail "the token itself was stored"

# Plain HTTP off loopback is refused.
set +e; "$WFMPI" serve --insecure-http --bind 0.0.0.0 --tokens tokens --state-dir st0 2>/dev/null; RC=$?; set -e
[ "$RC" = 2 ] || fail "plain HTTP on 0.0.0.0 was not refused ($RC)"

gl_serve --insecure-http --tokens tokens --state-dir state --lease 5
C="--insecure-http"
ID=$("$WFMPI" submit wf.yml --server "$GL_URL" --token-file alice.tok $C)
BID=$("$WFMPI" submit wf.yml --server "$GL_URL" --token-file bob.tok $C)
[ -n "$ID" ] && [ -n "$BID" ] || fail "submit printed no id"
pass "submit: $ID (alice), $BID (bob)"

# Wrong token: 401 everywhere, no task handed out.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer 0123' -d '{}' "$GL_URL/v1/pilots")
[ "$code" = 401 ] || fail "wrong token: HTTP $code"
set +e; "$WFMPI" status --server "$GL_URL" "$ID" --token-file wrong.tok $C 2>/dev/null; RC=$?; set -e
[ "$RC" != 0 ] || fail "status with a wrong token succeeded"
set +e; timeout 60 "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" glidein --server "$GL_URL" --token-file wrong.tok $C --idle-timeout 2 >/dev/null 2>&1; RC=$?; set -e
[ "$RC" != 0 ] || fail "a pilot with a wrong token ended cleanly"
gl_status alice.tok "$ID" $C | grep -q '"running":0,"done":0' || fail "a wrong token leaked tasks"
pass "wrong token: 401, no task leaked"

# Malformed and oversized requests: 400/413, the service stays up.
A="Authorization: Bearer $(cat alice.tok)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$A" -d '{not json' "$GL_URL/v1/pilots")
[ "$code" = 400 ] || fail "malformed JSON: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$A" -d '[1,2]' "$GL_URL/v1/workflows")
[ "$code" = 400 ] || fail "bad submission: HTTP $code"
head -c 2000000 /dev/zero | tr '\0' x >big
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$A" --data-binary @big "$GL_URL/v1/pilots")
[ "$code" = 413 ] || fail "oversized request: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$A" "$GL_URL/v1/workflows/$BID")
[ "$code" = 404 ] || fail "alice saw bob's workflow: HTTP $code"
curl -sf "$GL_URL/v1/health" >/dev/null || fail "the service died"
pass "malformed 400, oversized 413, others' workflows 404, service up"

# Two of alice's pilots finish her workflow; bob's stays untouched.
# Each pilot's tasks append to its own ledger (tasks inherit the pilot's
# environment), so the test sees which pilot ran what.
mkdir -p p1 p2
for p in p1 p2; do
  (export LEDGER="$TMP/$p.ledger"; timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
     --token-file alice.tok $C --idle-timeout 3 --work-dir $p --max-claim 16 >$p.out 2>$p.err
   echo $? >$p.rc) &
  PIDS="${PIDS:-} $!"
done
wait $PIDS
for p in p1 p2; do [ "$(cat $p.rc)" = 0 ] || { cat $p.err >&2; fail "pilot $p exit $(cat $p.rc)"; }; done
gl_status alice.tok "$ID" $C | grep -q '"state":"finished"' || fail "alice's workflow: $(gl_status alice.tok "$ID" $C)"
cat p1.ledger p2.ledger >ledger.txt
[ "$(wc -l <ledger.txt)" = 300 ] || fail "ledger has $(wc -l <ledger.txt) lines, expected 300"
[ -z "$(cut -d' ' -f1 ledger.txt | sort | uniq -d)" ] || fail "a task ran twice"
[ -s p1.ledger ] && [ -s p2.ledger ] || fail "one pilot got no task"
gl_status bob.tok "$BID" $C | grep -q '"running":0,"done":0' || fail "alice's pilots ran bob's tasks"
pass "two pilots: 300 tasks once each; bob's workflow untouched"

# Large claims of null tasks on 3 ranks: a worker answers thousands of results
# in one message, more than one step of the pilot takes (it used to abort
# with "malformed result message").
python3 "$RUNDATA/gen_dag.py" independent 12000 /bin/true null.yml /dev/null
NID=$("$WFMPI" submit null.yml --server "$GL_URL" --token-file alice.tok $C)
timeout 120 "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" glidein --server "$GL_URL" --token-file alice.tok \
  $C --exec null --cores-per-node 8192 --max-claim 4096 --idle-timeout 2 >pn.out 2>pn.err ||
  { cat pn.err >&2; fail "null-task pilot exit $?"; }
gl_status alice.tok "$NID" $C | grep -q '"state":"finished"' || fail "null workflow: $(gl_status alice.tok "$NID" $C)"
pass "12,000 null tasks in claims of 4096 on 3 ranks"

"$WFMPI" remove "$BID" --server "$GL_URL" --token-file bob.tok $C >/dev/null
gl_status bob.tok "$BID" $C | grep -q '"state":"removed"' || fail "remove"
pass "remove"
gl_stop

# HTTPS: a self-signed certificate made here; the pilot verifies it.
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
GL_SCHEME=https gl_serve --cert cert.pem --key key.pem --tokens tokens --state-dir state
python3 "$RUNDATA/gen_dag.py" independent 20 "$RUNDATA/ledger.sh" wf2.yml edges2
set +e; "$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok 2>err.txt; RC=$?; set -e
[ "$RC" != 0 ] || fail "an unverified certificate was accepted"
ID2=$("$WFMPI" submit wf2.yml --server "$GL_URL" --token-file alice.tok --cacert cert.pem)
export LEDGER="$TMP/ledger.txt"
: >ledger.txt
timeout 120 "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
  --token-file alice.tok --cacert cert.pem --idle-timeout 2 --work-dir p1 >p3.out 2>p3.err \
  || { cat p3.err >&2; fail "https pilot"; }
gl_status alice.tok "$ID2" --cacert cert.pem | grep -q '"state":"finished"' || fail "https workflow"
[ "$(wc -l <ledger.txt)" = 20 ] || fail "https ledger"
pass "https with --cacert; verification on"
gl_stop
