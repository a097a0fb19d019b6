#!/usr/bin/env bash
# A real one-node Slurm on this machine, for tests (docs/testing.md).
#
#   slurm-local.sh start DIR    start munged, slurmctld, slurmd; wait until the
#                               node is idle; print `export SLURM_CONF=DIR/slurm.conf`
#   slurm-local.sh stop DIR     cancel jobs, `scontrol shutdown`, kill what is
#                               left by pid, clean up (safe to repeat, and after
#                               a failed start)
#   slurm-local.sh status DIR   say what runs; exit 0 when the node answers
#
# Installs nothing (scripts/install-deps does). Everything lives under DIR:
# slurm.conf, state/, spool/, *.log, *.pid, and munge/ (our own munged with its
# own key and socket, so it never touches a system one). Needs root (slurmd
# launches jobs). Only one local Slurm may run at a time (its ports are
# global): `start` takes a machine-wide lock ($SLURM_LOCAL_LOCK) that `stop`
# releases.
#
# start exits 0 when the node is up, 77 when Slurm cannot run here (a command
# missing, not root, lock or ports held by someone else), 1 when a daemon
# failed (its log tail goes to stderr). Everything but the export line goes to
# stderr, so callers do: eval "$(slurm-local.sh start DIR)".
#
# Environment:
#   SLURM_LOCAL_OWNER=PID   stop this Slurm by itself when PID exits (a test
#                           killed by a timeout leaves no daemons); 0 = never
#   SLURM_LOCAL_LOCK        lock file (default /tmp/wfmpi-slurm-local.lock)
#   SLURM_LOCAL_LOCK_WAIT   seconds to wait for another local Slurm to stop (120)
#   SLURM_LOCAL_TIMEOUT     seconds to wait for the node to be idle (30)
#   SLURM_LOCAL_CPUS        CPUs the node claims (8)
#   SLURM_LOCAL_CTLD_PORT, SLURM_LOCAL_SLURMD_PORT   (6817, 6818)
set -uo pipefail
# The daemons live in sbin, which a non-login root shell may lack.
PATH=$PATH:/usr/sbin:/sbin

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
TEMPLATE=$HERE/slurm.conf.in
LOCK=${SLURM_LOCAL_LOCK:-/tmp/wfmpi-slurm-local.lock}
LOCK_WAIT=${SLURM_LOCAL_LOCK_WAIT:-120}
UP_TIMEOUT=${SLURM_LOCAL_TIMEOUT:-30}
CPUS=${SLURM_LOCAL_CPUS:-8}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
OWNER=${SLURM_LOCAL_OWNER:-0}
SYSTEM_MUNGE_SOCKET=/run/munge/munge.socket.2
# Daemons we start carry this variable (slurmstepd inherits it from slurmd),
# so `stop` finds exactly our processes, never someone else's.
MARK=WFMPI_SLURM_LOCAL

say() { echo "slurm-local: $*" >&2; }
die() { say "$2"; exit "$1"; } # die CODE MESSAGE

usage() {
  sed -n '2,12p' "$SELF" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# pids of live (non-zombie) processes carrying MARK=DIR
marked_pids() {
  local f p
  for f in $(grep -lzxF "$MARK=$1" /proc/[0-9]*/environ 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/environ}
    [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && alive "$p" && echo "$p"
  done
}

alive() { # PID: running and not a zombie
  local line
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  line=${line##*) }
  [ "${line%% *}" != Z ]
}

pidfile() { [ -s "$1" ] && cat "$1" 2>/dev/null; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Log tails for a failed start.
show_logs() {
  local dir=$1 f
  for f in "$dir/slurmctld.log" "$dir/slurmd.log" "$(munge_dir "$dir")/munged.log"; do
    [ -s "$f" ] || continue
    echo "--- $f (last lines)" >&2
    tail -n 15 "$f" >&2
  done
}

munge_dir() { # where our munged keeps key, socket, pid, log
  local dir=$1
  if [ -s "$dir/munge.dir" ]; then cat "$dir/munge.dir"; else echo "$dir/munge"; fi
}

munge_ok() { # SOCKET: a credential round trip works
  munge -n -S "$1" 2>/dev/null | unmunge -S "$1" >/dev/null 2>&1
}

# Start our own munged as the munge user; fall back to a running system one.
# Prints the socket to use.
start_munge() {
  local dir=$1 md sock
  md=$dir/munge
  if ! id munge >/dev/null 2>&1; then
    say "no munge user"
  else
    mkdir -p "$md"
    # munged insists on a socket dir everyone can traverse; unix socket paths
    # are short (108 bytes); DIR's parents may be private (mktemp -d is 0700).
    if [ ${#md} -gt 80 ] || ! runuser -u munge -- test -x "$md" 2>/dev/null; then
      rmdir "$md" 2>/dev/null
      md=$(mktemp -d /tmp/wfmpi-munge.XXXXXX) || return 1
      echo "$md" >"$dir/munge.dir"
    fi
    chown munge:munge "$md" && chmod 755 "$md" || return 1
    # Our own key: 1 KiB of randomness, readable by munge only.
    if [ ! -s "$md/munge.key" ]; then
      (umask 077 && head -c 1024 /dev/urandom >"$md/munge.key") || return 1
      chown munge:munge "$md/munge.key" && chmod 600 "$md/munge.key" || return 1
    fi
    sock=$md/munge.socket.2
    if runuser -u munge -- env "$MARK=$dir" munged -S "$sock" \
        --key-file="$md/munge.key" --pid-file="$md/munged.pid" \
        --log-file="$md/munged.log" --seed-file="$md/munged.seed" 2>>"$dir/start.err"; then
      for _ in $(seq 50); do
        munge_ok "$sock" && { echo "$sock"; return 0; }
        sleep 0.1
      done
    fi
    say "our own munged did not start: $(tail -n 2 "$dir/start.err" "$md/munged.log" 2>/dev/null | tr '\n' ' ')"
  fi
  if munge_ok "$SYSTEM_MUNGE_SOCKET"; then
    say "reusing the running system munged ($SYSTEM_MUNGE_SOCKET)"
    echo "$SYSTEM_MUNGE_SOCKET"
    return 0
  fi
  return 1
}

# The lock holder: takes the machine-wide lock, then waits for `stop` (which
# kills it) or for the owner to exit (then it runs `stop` itself).
watch() {
  local dir=$1 owner=$2
  exec 9>>"$LOCK"
  if ! flock -w "$LOCK_WAIT" 9; then
    echo "another local Slurm held $LOCK for ${LOCK_WAIT}s" >"$dir/lock.failed"
    exit 1
  fi
  echo $$ >"$dir/watch.pid"
  while :; do
    sleep 1
    [ -e "$dir/watch.pid" ] || exit 0
    if [ "$owner" != 0 ] && ! kill -0 "$owner" 2>/dev/null; then
      echo "$(date '+%F %T') owner $owner exited: stopping" >>"$dir/watch.log"
      bash "$SELF" stop "$dir" >>"$dir/watch.log" 2>&1
      exit 0
    fi
  done
}

cmd_start() {
  local dir=$1 c host sock state
  for c in slurmctld slurmd sinfo scontrol squeue scancel sbatch srun munged munge unmunge \
           runuser flock; do
    command -v "$c" >/dev/null 2>&1 ||
      die 77 "cannot run here: '$c' is not installed (scripts/install-deps installs slurm-wlm and munge)"
  done
  [ "$(id -u)" = 0 ] || die 77 "cannot run here: needs root (slurmd launches jobs as their users)"
  [ -r "$TEMPLATE" ] || die 1 "template $TEMPLATE missing"
  mkdir -p "$dir" || die 1 "cannot create $dir"
  dir=$(cd "$dir" && pwd -P)
  [ ${#dir} -le 80 ] ||
    die 1 "DIR is ${#dir} characters: keep it under 80 (slurmd and PMIx put unix sockets in DIR/spool)"
  if [ -s "$dir/slurmctld.pid" ] && alive "$(pidfile "$dir/slurmctld.pid")"; then
    die 1 "a local Slurm already runs in $dir (stop it first)"
  fi
  rm -f "$dir/lock.failed" "$dir/watch.pid" "$dir/start.err" "$dir/stopping"

  # The lock first: another test may be using the ports right now.
  setsid bash "$SELF" _watch "$dir" "$OWNER" </dev/null >>"$dir/watch.log" 2>&1 &
  local wpid=$! waited=0 limit=$(( (LOCK_WAIT + 10) * 5 ))
  until [ -s "$dir/watch.pid" ]; do
    [ -s "$dir/lock.failed" ] && die 77 "cannot run here: $(cat "$dir/lock.failed")"
    if [ $waited -ge $limit ]; then
      kill "$wpid" 2>/dev/null
      die 77 "cannot run here: no lock after $((LOCK_WAIT + 10))s ($LOCK, $dir/watch.log)"
    fi
    sleep 0.2
    waited=$((waited + 1))
    [ $((waited % 50)) = 0 ] && say "waiting for another local Slurm to stop ($LOCK)"
  done
  # From here on, a failure must undo what was started.
  trap 'rc=$?; if [ $rc != 0 ]; then show_logs "$dir"; bash "$SELF" stop "$dir" >/dev/null 2>&1; fi' EXIT

  for c in "$CTLD_PORT" "$SLURMD_PORT"; do
    port_busy "$c" && die 77 "cannot run here: port $c is in use (a system Slurm, or daemons leaked by an earlier run: pgrep -a slurm)"
  done

  sock=$(start_munge "$dir") || die 1 "no munge: cannot start munged and no system munged answers"

  host=$(hostname -s)
  mkdir -p "$dir/state" "$dir/spool"
  sed -e "s|@HOST@|$host|g" -e "s|@DIR@|$dir|g" -e "s|@MUNGE_SOCKET@|$sock|g" \
      -e "s|@CPUS@|$CPUS|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" \
      "$TEMPLATE" >"$dir/slurm.conf" || die 1 "cannot write $dir/slurm.conf"
  export SLURM_CONF=$dir/slurm.conf
  local mpis
  mpis=$(srun --mpi=list 2>&1) || die 1 "srun --mpi=list failed: $(echo $mpis | head -c 300)"
  echo "$mpis" | grep -qw pmix ||
    die 77 "cannot run here: Slurm has no pmix MPI plugin (srun --mpi=list: $(echo $mpis))"

  env "$MARK=$dir" slurmctld -f "$SLURM_CONF" 2>>"$dir/start.err" ||
    die 1 "slurmctld failed to start: $(tail -n 3 "$dir/start.err")"
  env "$MARK=$dir" slurmd -f "$SLURM_CONF" -N "$host" 2>>"$dir/start.err" ||
    die 1 "slurmd failed to start: $(tail -n 3 "$dir/start.err")"

  for _ in $(seq $((UP_TIMEOUT * 2))); do
    state=$(timeout 5 sinfo -h -n "$host" -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    alive "$(pidfile "$dir/slurmctld.pid")" || die 1 "slurmctld exited"
    sleep 0.5
  done
  [ "$state" = idle ] || die 1 "node $host not idle after ${UP_TIMEOUT}s (state '${state:-none}')"
  trap - EXIT
  say "up: node $host idle, $CPUS CPUs, MpiDefault=pmix, munge socket $sock"
  echo "export SLURM_CONF=$dir/slurm.conf"
}

wait_gone() { # SECONDS PID...: wait until none is alive
  local t=$1 p left
  shift
  for _ in $(seq $((t * 5))); do
    left=
    for p in "$@"; do alive "$p" && left=1; done
    [ -z "$left" ] && return 0
    sleep 0.2
  done
  return 1
}

cmd_stop() {
  local dir=$1 ctld slurmd munged watcher md pids
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd -P)
  md=$(munge_dir "$dir")
  touch "$dir/stopping"
  ctld=$(pidfile "$dir/slurmctld.pid")
  slurmd=$(pidfile "$dir/slurmd.pid")
  munged=$(pidfile "$md/munged.pid")
  if [ -f "$dir/slurm.conf" ] && alive "$ctld"; then
    export SLURM_CONF=$dir/slurm.conf
    # Cancel jobs first so slurmstepd ends their tasks.
    local jobs
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      timeout 10 scancel $jobs 2>/dev/null
      for _ in $(seq 30); do
        [ -z "$(timeout 5 squeue -h -o %A 2>/dev/null)" ] && break
        sleep 0.5
      done
    fi
    timeout 15 scontrol shutdown >/dev/null 2>&1
  fi
  # shellcheck disable=SC2046
  wait_gone 15 $ctld $slurmd $(marked_pids "$dir" | grep -vx "${munged:-none}") || true
  # Whatever is left (a stuck daemon, slurmstepd): TERM, then KILL.
  pids=$( (for p in $ctld $slurmd; do alive "$p" && echo "$p"; done; marked_pids "$dir") | sort -u)
  if [ -n "$pids" ]; then
    # Our munged is marked too: spare it until Slurm is gone.
    pids=$(echo "$pids" | grep -vx "${munged:-none}")
  fi
  if [ -n "$pids" ]; then
    say "killing leftover processes: $(echo $pids)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 5 $pids || kill -KILL $pids 2>/dev/null
  fi
  if alive "$munged" && [ "$(readlink "/proc/$munged/exe" 2>/dev/null)" = "$(command -v munged 2>/dev/null)" ]; then
    kill -TERM "$munged" 2>/dev/null
    wait_gone 5 "$munged" || kill -KILL "$munged" 2>/dev/null
  fi
  pids=$(marked_pids "$dir")
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 5 $pids || say "still alive: $(echo $pids)"
  fi
  # Release the lock last (unless the lock holder is the one stopping us).
  watcher=$(pidfile "$dir/watch.pid")
  rm -f "$dir/watch.pid"
  if [ -n "$watcher" ] && [ "$watcher" != "$PPID" ] && alive "$watcher"; then
    kill -TERM "$watcher" 2>/dev/null
    wait_gone 3 "$watcher"
  fi
  rm -rf "$dir/state" "$dir/spool" "$dir"/*.pid
  if [ -s "$dir/munge.dir" ]; then
    rm -rf "$md" "$dir/munge.dir"
  else
    rm -f "$md"/munge.socket.2* "$md"/munged.pid "$md"/munged.seed "$md"/munge.key
  fi
  rm -f "$dir/stopping"
  return 0
}

cmd_status() {
  local dir=$1 p name rc=3
  [ -d "$dir" ] || { echo "not running (no $dir)"; return 3; }
  dir=$(cd "$dir" && pwd -P)
  for p in $(marked_pids "$dir"); do
    name=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")
    echo "pid $p: $name"
  done
  if [ -f "$dir/slurm.conf" ] && alive "$(pidfile "$dir/slurmctld.pid")"; then
    SLURM_CONF=$dir/slurm.conf timeout 10 sinfo && rc=0
    SLURM_CONF=$dir/slurm.conf timeout 10 squeue
  fi
  [ -s "$dir/watch.pid" ] && echo "lock held by pid $(cat "$dir/watch.pid") ($LOCK)"
  [ $rc = 0 ] && echo "export SLURM_CONF=$dir/slurm.conf" || echo "not running"
  return $rc
}

[ $# -ge 2 ] || usage
case $1 in
  start) cmd_start "$2" ;;
  stop) cmd_stop "$2" ;;
  status) cmd_status "$2" ;;
  _watch) watch "$2" "${3:-0}" ;;
  *) usage ;;
esac
