# shellcheck shell=bash
# The shared body of every sbatch script in jobscripts/ (sourced, never run on
# its own). A site script holds only its #SBATCH lines, its module loads and a
# few variables, then sources this file. docs/jobscripts.md explains it.
#
#   sbatch jobscripts/<site>.sbatch [WORKFLOW.yml [wfmpi run options...]]
#
# What it does:
#   1. works out the drain timing from the script's own `#SBATCH --signal=USR1@L`
#      line: --drain-before L (self-drain when the signal is late or lost) and
#      --drain-grace 3L/5 (running tasks get SIGTERM, SIGKILL that much later,
#      leaving 2L/5 + Slurm's KillWait to save state and exit);
#   2. runs `srun [WFMPI_SRUN_ARGS] wfmpi run WORKFLOW --drain-before ... "$@"`;
#   3. the rescue loop: when wfmpi exits 3 (stopped early, state saved), submits
#      this same script again with `--dependency=afterany:$SLURM_JOB_ID`, at most
#      WFMPI_RESCUE_MAX times in a chain; stops on 0, 1, 2, 4 and anything else;
#   4. exits with wfmpi's exit code (DESIGN.md §3).
#
# Variables (environment, or set by the site script before sourcing):
#   WFMPI               the wfmpi binary (default: `wfmpi` on PATH)
#   WFMPI_SRUN_ARGS     extra srun options (e.g. --mpi=pmi2 where the site's
#                       Open MPI wants it); word-split
#   WFMPI_DRAIN_BEFORE  override the derived --drain-before (s)
#   WFMPI_DRAIN_GRACE   override the derived --drain-grace (s)
#   WFMPI_RESCUE_MAX    resubmissions allowed in one chain (default 5; 0 = off)
#   WFMPI_RESCUE_COUNT  set by the loop itself: this job's place in the chain
#   WFMPI_RESUBMIT_ARGS extra sbatch options for the resubmitted job; word-split
#   WFMPI_RESCUE_LOG    one line per job of the chain (default: WORKFLOW's name
#                       with .rescue.log, beside it)
#   WFMPI_JOB_SCRIPT    the script to resubmit (default: this job's Command
#                       from `scontrol show job`, i.e. the file sbatch was given)

wfmpi_job_say() { echo "wfmpi-job: $*"; }

# The file sbatch was given (sbatch runs a spool copy as $0).
wfmpi_job_script_path() {
  if [ -n "${WFMPI_JOB_SCRIPT:-}" ]; then
    echo "$WFMPI_JOB_SCRIPT"
    return
  fi
  scontrol show job -o "${SLURM_JOB_ID:?not inside a Slurm job}" 2>/dev/null |
    tr ' ' '\n' | sed -n 's/^Command=//p' | head -n 1
}

# The lead time L of `#SBATCH --signal=[R:]USR1@L` in FILE; empty when none.
wfmpi_job_signal_lead() {
  [ -r "$1" ] || return 0
  sed -n 's/^#SBATCH[[:space:]]\{1,\}--signal=\(R:\)\{0,1\}\(SIG\)\{0,1\}USR1@\([0-9]\{1,\}\).*/\3/p' "$1" |
    head -n 1
  if grep -q '^#SBATCH[[:space:]]\{1,\}--signal=B:' "$1"; then
    wfmpi_job_say "warning: --signal=B: sends the signal to this batch shell only, not to wfmpi's ranks; drop B:" >&2
  fi
}

wfmpi_job_main() {
  local workflow=${1:-workflow.yml}
  [ $# -gt 0 ] && shift
  local wfmpi=${WFMPI:-wfmpi}
  local script
  script=$(wfmpi_job_script_path)
  local lead
  lead=$(wfmpi_job_signal_lead "$script")
  local before=${WFMPI_DRAIN_BEFORE:-${lead:-120}}
  local grace=${WFMPI_DRAIN_GRACE:-$(((${lead:-100} * 3) / 5))}
  [ "$grace" -ge 5 ] || grace=5
  local count=${WFMPI_RESCUE_COUNT:-0} max=${WFMPI_RESCUE_MAX:-5}
  local log=${WFMPI_RESCUE_LOG:-${workflow%.y*ml}.rescue.log}

  wfmpi_job_say "job ${SLURM_JOB_ID:-?} (${SLURM_JOB_NAME:-}) on ${SLURM_JOB_NUM_NODES:-?} node(s)," \
    "${SLURM_NTASKS:-?} rank(s), GPUs ${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-none}}; chain job $((count + 1))" \
    "of at most $((max + 1))"
  wfmpi_job_say "signal lead ${lead:-none} s (#SBATCH --signal in ${script:-?}), --drain-before $before," \
    "--drain-grace $grace"
  if [ -n "$lead" ] && [ "$grace" -ge "$lead" ]; then
    wfmpi_job_say "warning: --drain-grace $grace >= signal lead $lead: tasks may still run at the time limit," \
      "leaving only KillWait to save state"
  fi

  # shellcheck disable=SC2086 # WFMPI_SRUN_ARGS is a list of options
  srun ${WFMPI_SRUN_ARGS:-} "$wfmpi" run "$workflow" --drain-before "$before" \
    --drain-grace "$grace" "$@"
  local rc=$?
  local action=stop
  if [ "$rc" = 3 ]; then
    if [ "$count" -lt "$max" ]; then
      action=resubmit
    else
      action="stop (rescue limit $max reached)"
    fi
  fi

  local next=
  if [ "$action" = resubmit ]; then
    if [ -z "$script" ] || [ ! -r "$script" ]; then
      action="stop (cannot find this job's script to resubmit: set WFMPI_JOB_SCRIPT)"
    else
      # Same time limit and partition as this job (they may have come from
      # the command line, which a resubmission would otherwise lose), the
      # same directory and arguments; the stale SLURM_* of this job must
      # not leak into the new job's sbatch.
      local tlimit
      tlimit=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | tr ' ' '\n' | sed -n 's/^TimeLimit=//p')
      local -a opts=(--parsable --dependency="afterany:$SLURM_JOB_ID" --chdir="$PWD"
        --export="ALL,WFMPI_RESCUE_COUNT=$((count + 1))")
      [ -n "${SLURM_JOB_NAME:-}" ] && opts+=(--job-name="$SLURM_JOB_NAME")
      [ -n "${SLURM_JOB_PARTITION:-}" ] && opts+=(--partition="$SLURM_JOB_PARTITION")
      [ -n "$tlimit" ] && [ "$tlimit" != UNLIMITED ] && opts+=(--time="$tlimit")
      # shellcheck disable=SC2086 # a list of options
      next=$(
        for v in $(compgen -e | grep '^SLURM_' | grep -vx 'SLURM_CONF'); do unset "$v"; done
        sbatch "${opts[@]}" ${WFMPI_RESUBMIT_ARGS:-} "$script" "$workflow" "$@" 2>&1
      )
      if [[ "$next" =~ ^[0-9]+ ]]; then
        next=${next%%;*}
        action="resubmitted as job $next"
      else
        action="stop (sbatch failed: $next)"
        next=
      fi
    fi
  fi
  wfmpi_job_say "wfmpi exit $rc: $action"
  echo "$(date -u +%FT%TZ) job=${SLURM_JOB_ID:-?} chain=$((count + 1)) rc=$rc next=${next:--} $action" >>"$log" ||
    true
  return "$rc"
}

# The glidein pilot's body (jobscripts/glidein.sbatch): the `srun wfmpi
# glidein` equivalent of pegasus-glidein. One pilot per job, spanning all of
# its ranks; it pulls its owner's tasks from a `wfmpi serve` until no work
# came for the idle timeout, its lifetime ends, or it drains before the time
# limit (same timing as wfmpi_job_main). Arguments go to `wfmpi glidein` and
# win over the defaults taken from the environment:
#   WFMPI_SERVER        --server URL (required one way or the other)
#   WFMPI_TOKEN_FILE    --token-file F (default ~/.wfmpi-token)
#   WFMPI_CACERT        --cacert F (the service's CA, when not a public one)
#   WFMPI_IDLE_TIMEOUT  --idle-timeout S (default 300: an idle pilot gives its
#                       allocation back)
#   WFMPI_SITE          --site NAME (default: Slurm's cluster name)
# No rescue loop: a pilot holds no state (its tasks' state is the service's),
# so a pilot that ended at the walltime (exit 3) has nothing to resume; submit
# new pilots while there is work. The job exits with the pilot's code.
wfmpi_glidein_main() {
  local wfmpi=${WFMPI:-wfmpi}
  local script lead
  script=$(wfmpi_job_script_path)
  lead=$(wfmpi_job_signal_lead "$script")
  local before=${WFMPI_DRAIN_BEFORE:-${lead:-120}}
  local grace=${WFMPI_DRAIN_GRACE:-$(((${lead:-100} * 3) / 5))}
  [ "$grace" -ge 5 ] || grace=5
  local -a args=(--drain-before "$before" --drain-grace "$grace"
    --idle-timeout "${WFMPI_IDLE_TIMEOUT:-300}")
  local site=${WFMPI_SITE:-${SLURM_CLUSTER_NAME:-}}
  [ -n "$site" ] && args+=(--site "$site")
  [ -n "${WFMPI_SERVER:-}" ] && args+=(--server "$WFMPI_SERVER")
  args+=(--token-file "${WFMPI_TOKEN_FILE:-$HOME/.wfmpi-token}")
  [ -n "${WFMPI_CACERT:-}" ] && args+=(--cacert "$WFMPI_CACERT")
  if [ -z "${WFMPI_SERVER:-}" ] && [[ " $* " != *" --server "* ]]; then
    wfmpi_job_say "no service: set WFMPI_SERVER=https://HOST:PORT or pass --server URL"
    return 2
  fi
  wfmpi_job_say "glidein job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NUM_NODES:-?} node(s), ${SLURM_NTASKS:-?}" \
    "rank(s), GPUs ${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-none}}; service ${WFMPI_SERVER:-(from arguments)}"
  wfmpi_job_say "signal lead ${lead:-none} s (#SBATCH --signal in ${script:-?}), --drain-before $before," \
    "--drain-grace $grace, --idle-timeout ${WFMPI_IDLE_TIMEOUT:-300}"
  # shellcheck disable=SC2086 # WFMPI_SRUN_ARGS is a list of options
  srun ${WFMPI_SRUN_ARGS:-} "$wfmpi" glidein "${args[@]}" "$@"
  local rc=$?
  wfmpi_job_say "wfmpi glidein exit $rc"
  return "$rc"
}
