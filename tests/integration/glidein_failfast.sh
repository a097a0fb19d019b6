#!/bin/bash
# Fail fast and loud (issue #18, point 6): a pilot that cannot register
# exits 4 with the cause, within a bounded time, instead of retrying until
# its idle timeout and exiting 0: a CA that did not sign the server's
# certificate, a host name the certificate does not name, a wrong token,
# nothing listening (after --register-timeout). Loopback only.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
echo 0123 >wrong.tok
openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 1 \
  -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
GL_SCHEME=https gl_serve --cert cert.pem --key key.pem --tokens tokens --state-dir st
curl -sf --cacert cert.pem "$GL_URL/v1/health" >/dev/null || fail "service not up"

# pilot_rc EXPECT_S CAUSE URL TOKEN EXTRA...: exit 4 within EXPECT_S, CAUSE in stderr.
pilot_rc() {
  local within=$1 cause=$2 url=$3 tok=$4; shift 4
  local t0=$(date +%s.%N)
  set +e
  timeout 90 "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" glidein --server "$url" --token-file "$tok" \
    --idle-timeout 300 "$@" >pf.out 2>pf.err
  RC=$?
  set -e
  local took=$(python3 -c "import time; print('%.1f' % (time.time() - $t0))")
  [ "$RC" = 4 ] || { cat pf.err >&2; fail "$cause: exit $RC, expected 4"; }
  grep -q "$cause" pf.err || { cat pf.err >&2; fail "cause not said: $cause"; }
  python3 -c "import sys; sys.exit(0 if $took < $within else 1)" || fail "$cause: took $took s"
  pass "$cause: exit 4 in $took s"
}
pilot_rc 20 "SSL certificate problem" "$GL_URL" alice.tok --cacert other.pem
pilot_rc 20 "does not match target host name\|no alternative certificate subject name\|SSL: certificate subject name" \
  "https://localhost:$GL_PORT" alice.tok --cacert cert.pem
pilot_rc 20 "wrong or revoked token" "$GL_URL" wrong.tok --cacert cert.pem
FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pilot_rc 25 "could not register with" "https://127.0.0.1:$FREE" alice.tok --cacert cert.pem \
  --register-timeout 5
gl_stop
