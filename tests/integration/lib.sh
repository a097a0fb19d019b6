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
trap 'rm -rf "$TMP"' EXIT
RUNDATA="$WFMPI_TEST_DATA/run"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

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
