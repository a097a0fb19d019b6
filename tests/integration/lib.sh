# Shared helpers for integration tests (sourced). ctest sets WFMPI (the
# binary), WFMPI_SRC, WFMPI_TEST_DATA, MPIEXEC and WFMPI_TEST_NAME.
set -euo pipefail

: "${WFMPI:?run through ctest}"
MPIEXEC=${MPIEXEC:-mpiexec}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Shared-memory transport only: tests never leave this machine.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
# Open MPI's own finalize leaks would drown ASan's report (STYLE.md).
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0

TMP=$(mktemp -d "/tmp/wfmpi-${WFMPI_TEST_NAME:-test}.XXXXXX")
# A service a glidein test started (gl_serve) or an HTTP server (http_serve)
# is stopped even when the test fails half-way, so none outlives it.
_lib_exit() {
  local rc=$?
  [ -z "${GL_PID:-}" ] || kill "$GL_PID" 2>/dev/null || :
  [ -z "${HTTP_PID:-}" ] || kill "$HTTP_PID" 2>/dev/null || :
  rm -rf "$TMP"
  exit "$rc"
}
trap _lib_exit EXIT
RUNDATA="$WFMPI_TEST_DATA/run"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# http_serve DIR: python3's http.server for DIR on a free loopback port in the
# background; sets HTTP_PID and HTTP_URL, requests are logged to $TMP/http.log.
http_serve() {
  python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$TMP/http.out" 2>"$TMP/http.log" &
  HTTP_PID=$!
  local port= i
  for i in $(seq 100); do
    port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$TMP/http.out" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || fail "http.server did not start"
  HTTP_URL=http://127.0.0.1:$port
}

# wfmpi_mpi [-C DIR] N ARGS...: run wfmpi on N ranks (in DIR); sets RC,
# output in $TMP/out and $TMP/err.
wfmpi_mpi() {
  local dir=.
  if [ "$1" = -C ]; then dir=$2; shift 2; fi
  local n=$1; shift
  set +e
  (cd "$dir" && exec "$MPIEXEC" -n "$n" --oversubscribe "$WFMPI" "$@") >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}

expect_rc() {
  local want=$1 what=$2
  if [ "$RC" != "$want" ]; then
    echo "--- stdout" >&2; cat "$TMP/out" >&2
    echo "--- stderr" >&2; cat "$TMP/err" >&2
    fail "$what: exit code $RC, expected $want"
  fi
}

# Write a workflow file from stdin, with the transformation catalog pointing
# every transformation name given as extra args at tests/data/run/task.sh.
write_wf() {
  local path=$1; shift
  cat >"$path"
}

# ---------------------------------------------------------------- glidein
# gl_serve ARGS...: start `wfmpi serve` on a free loopback port in the
# background (GL_PID, GL_PORT, GL_URL); waits (bounded) until it answers.
gl_serve() {
  GL_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$WFMPI" serve --port "$GL_PORT" "$@" >>"$TMP/serve.out" 2>>"$TMP/serve.err" &
  GL_PID=$!
  local i
  for i in $(seq 100); do
    if curl -sk -o /dev/null "${GL_SCHEME:-http}://127.0.0.1:$GL_PORT/v1/health"; then break; fi
    sleep 0.1
  done
  GL_URL="${GL_SCHEME:-http}://127.0.0.1:$GL_PORT"
}
gl_stop() { kill "$GL_PID" 2>/dev/null || :; wait "$GL_PID" 2>/dev/null || :; }
# gl_status TOKENFILE ID [ARGS]: the status JSON of a workflow.
gl_status() {
  local tok=$1 id=$2; shift 2
  "$WFMPI" status --server "$GL_URL" "$id" --token-file "$tok" "$@"
}
# gl_wait_done TOKENFILE ID SECONDS [ARGS]: wait (bounded) for "finished".
gl_wait_done() {
  local tok=$1 id=$2 secs=$3 i; shift 3
  for i in $(seq $((secs * 2))); do
    if gl_status "$tok" "$id" "$@" 2>/dev/null | grep -q '"state":"finished"'; then return 0; fi
    sleep 0.5
  done
  gl_status "$tok" "$id" "$@" >&2 || :
  return 1
}
