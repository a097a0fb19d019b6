# shellcheck shell=bash
# Helpers for tests that run wfmpi under a real local Slurm (sourced after
# tests/integration/lib.sh, which sets TMP, fail, pass). docs/testing.md.
#
#   slurm_up                 start the local Slurm in $TMP/slurm (exports
#                            SLURM_CONF, stops it on exit) or skip (exit 77)
#   slurm_job_script F CMD.. write an sbatch script F that exports what Open
#                            MPI needs, runs CMD, and records CMD's exit code
#                            in F.rc
#   slurm_sbatch_wait ARGS.. `sbatch -W ARGS`, bounded; sets SBATCH_RC, SBATCH_JOBID
#   slurm_job_field ID FIELD a field of `scontrol show job ID` (JobState...)
#
# WFMPI_SLURM=require makes "cannot run Slurm" a failure instead of a skip;
# it is the default when CI=true (scripts/install-deps installs Slurm there).
# WFMPI_SLURM=skip skips without trying.
: "${TMP:?source tests/integration/lib.sh first}"
SLURM_LOCAL=${WFMPI_SRC:?}/tests/slurm/slurm-local.sh
SLURM_DIR=$TMP/slurm

slurm_required() {
  case ${WFMPI_SLURM:-} in
    require) return 0 ;;
    skip | auto) return 1 ;;
  esac
  [ "${CI:-}" = true ]
}

# slurm_skip REASON: exit 77 (ctest SKIP_RETURN_CODE), or fail when required.
slurm_skip() {
  if slurm_required; then
    fail "local Slurm required (CI=true or WFMPI_SLURM=require) but: $*"
  fi
  echo "SKIP: $*"
  exit 77
}

_slurm_exit() {
  local rc=$?
  [ -z "${GL_PID:-}" ] || kill "$GL_PID" 2>/dev/null || : # a glidein test's service
  if [ -d "$SLURM_DIR" ]; then
    if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
      local f
      for f in "$SLURM_DIR"/slurmctld.log "$SLURM_DIR"/slurmd.log; do
        [ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 20 "$f" >&2; }
      done
    fi
    bash "$SLURM_LOCAL" stop "$SLURM_DIR" >&2 || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}

slurm_up() {
  [ "${WFMPI_SLURM:-}" = skip ] && slurm_skip "WFMPI_SLURM=skip"
  # munged (the munge user) must reach its socket under $TMP/slurm.
  chmod 755 "$TMP"
  trap _slurm_exit EXIT
  local out rc
  set +e
  out=$(SLURM_LOCAL_OWNER=$$ bash "$SLURM_LOCAL" start "$SLURM_DIR" 2>"$TMP/slurm-start.err")
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    cat "$TMP/slurm-start.err" >&2
    slurm_skip "local Slurm did not start (slurm-local.sh start exit $rc): $(grep '^slurm-local:' "$TMP/slurm-start.err" | tail -n 1)"
  fi
  eval "$out"
  export SLURM_CONF
  [ -f "$SLURM_CONF" ] || fail "slurm-local.sh printed no SLURM_CONF"
  echo "local Slurm up: SLURM_CONF=$SLURM_CONF"
}

# slurm_job_script FILE CMD...: a job script that runs CMD (a string, as the
# shell would read it) and writes its exit code to FILE.rc. Open MPI's
# variables are exported in the script itself: the job's srun ranks must see
# them whatever sbatch --export says.
slurm_job_script() {
  local f=$1
  shift
  cat >"$f" <<EOF
#!/bin/bash
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
$*
rc=\$?
echo \$rc >"$f.rc"
exit \$rc
EOF
  chmod +x "$f"
}

# slurm_sbatch_wait ARGS...: sbatch --parsable -W, at most SLURM_WAIT_S
# (default 120) s; sets SBATCH_RC (the job's exit code) and SBATCH_JOBID.
slurm_sbatch_wait() {
  set +e
  timeout "${SLURM_WAIT_S:-120}" sbatch --parsable -W "$@" >"$TMP/sbatch.out" 2>"$TMP/sbatch.err"
  SBATCH_RC=$?
  set -e
  SBATCH_JOBID=$(head -n 1 "$TMP/sbatch.out" | cut -d';' -f1)
  [ "$SBATCH_RC" = 124 ] && fail "sbatch -W $* did not finish in ${SLURM_WAIT_S:-120}s (job ${SBATCH_JOBID:-?})"
  [[ "$SBATCH_JOBID" =~ ^[0-9]+$ ]] ||
    fail "sbatch refused the job: $(cat "$TMP/sbatch.out" "$TMP/sbatch.err")"
  return 0
}

# slurm_job_field ID FIELD: a field of `scontrol show job ID` (JobState,
# ExitCode, Reason, ...); finished jobs stay visible for MinJobAge (300 s).
slurm_job_field() {
  scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
