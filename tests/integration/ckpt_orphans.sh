#!/usr/bin/env bash
# No orphans: a task cannot outlive its rank. Each trial runs tasks on every
# rank (the master's share too) that are long sleeps with children and a
# grandchild in their process group, waits until all of them run, then
# kill -9s mpiexec and every wfmpi rank at once, as a crashed or killed job
# would leave them. Within ORPHAN_WAIT_S no task process and no watchdog may
# be left. The same for a glidein pilot's ranks. Last, a run that ends
# normally leaves no watchdog behind either.
source "$(dirname "$0")/lib.sh"
O=$RUNDATA/orphan_task.sh
TRIALS=${WFMPI_ORPHAN_TRIALS:-3}
RANKS=3
TASKS=6 # two per rank: --cores-per-node 6 over 3 ranks
ORPHAN_WAIT_S=2

# A process is named by "pid:starttime" (/proc/PID/stat field 22), so a pid
# the kernel hands out again during the test is never mistaken for ours.
ident() { # PID...: "pid:starttime" of each that exists
  local p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    echo "$p:$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20)"
  done
}
# live IDENT...: those still running (a zombie has finished running).
live() {
  local i p st
  for i in "$@"; do
    p=${i%%:*}
    st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    [ "$(echo "$st" | cut -d' ' -f20)" = "${i#*:}" ] || continue
    if [ "${st%% *}" != Z ]; then echo "$i"; fi
  done
}
# Whatever a failed trial left running is killed, not left to the machine:
# the jobs (mpiexec and the ranks name the run dir), the tasks (they run in
# the trial's directory) and the watchdogs seen (by pid and start time; a
# pid alone may name someone else's process by then).
TRACKED=()
cleanup() {
  local rc=$? p
  for p in $(pgrep -f -- "$TMP" || true) $(live "${TRACKED[@]}" | sed 's/:.*//'); do
    kill -9 "$p" 2>/dev/null || :
  done
  for p in /proc/[0-9]*; do
    case $(readlink "$p/cwd" 2>/dev/null) in "$TMP"/*) kill -9 "${p#/proc/}" 2>/dev/null || : ;; esac
  done
  (exit "$rc") # _lib_exit exits with the status it finds
  _lib_exit
}
trap cleanup EXIT

ranks_of() { # the wfmpi rank processes (comm "wfmpi") of the run dir $1
  local p
  for p in $(pgrep -x wfmpi || true); do
    if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q -- "$1"; then echo "$p"; fi
  done
}
watchdogs_of() { # PID...: the watchdogs those ranks started
  local p
  for p in "$@"; do pgrep -P "$p" -f '^wfmpi-watchdog' || true; done
}

write_workflow() { # FILE SECONDS N
  {
    cat <<YML
pegasus: '5.0'
name: orphans
transformationCatalog:
  transformations:
  - name: orphan
    sites: [{name: local, pfn: $O, type: installed}]
jobs:
YML
    for i in $(seq 1 "$3"); do
      echo "  - {id: o$i, name: orphan, arguments: ['$2'], uses: []}"
    done
  } >"$1"
}

# wait_running DIR N WHAT OUT: until N tasks wrote DIR/pids/oK (bounded;
# OUT is the job's output, shown on failure).
wait_running() {
  local deadline=$(( $(date +%s) + 60 ))
  until [ "$(find "$1/pids" -name 'o*' ! -name '*.*' 2>/dev/null | wc -l)" -ge "$2" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$3: tasks never all ran: $(cat "$4")"
    sleep 0.1
  done
}

# kill_trial WHAT MPIPID MATCH DIR: the job started as MPIPID, whose ranks
# name MATCH on their command line, runs $TASKS tasks that write their pids
# under DIR/pids. kill -9 mpiexec and every rank at once, then count what is
# still running after ORPHAN_WAIT_S (adds to total_orphans; 0 or fail).
total_orphans=0
kill_trial() {
  local what=$1 mpipid=$2 ranks dogs tasks watch left n t0 took
  ranks=$(ranks_of "$3")
  [ "$(echo "$ranks" | wc -w)" = "$RANKS" ] || fail "$what: ranks found: $ranks"
  # shellcheck disable=SC2086 # word splitting of pid lists is the point
  dogs=$(watchdogs_of $ranks)
  [ "$(echo "$dogs" | wc -w)" = "$RANKS" ] || fail "$what: one watchdog per rank, found: $dogs"
  # shellcheck disable=SC2046
  tasks=$(ident $(find "$4/pids" -name 'o*' ! -name '*.*' -exec cat {} +))
  # shellcheck disable=SC2086
  watch=$(ident $dogs)
  # shellcheck disable=SC2206
  TRACKED=(${tasks} ${watch})
  [ "$(echo "$tasks" | wc -w)" = $((TASKS * 4)) ] || fail "$what: task processes: $tasks"
  # shellcheck disable=SC2086
  kill -9 "$mpipid" $ranks
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  while left=$(live $tasks $watch) && [ -n "$left" ]; do
    if python3 -c "import sys; sys.exit(not ($(date +%s.%N) - $t0 > $ORPHAN_WAIT_S))"; then
      break
    fi
    sleep 0.05
  done
  took=$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")
  { wait "$mpipid"; } 2>/dev/null || true # bash would say "Killed"
  n=$(echo "$left" | wc -w)
  total_orphans=$((total_orphans + n))
  echo "$what: $(echo "$tasks" | wc -w) task processes, $(echo "$watch" | wc -w) watchdogs; orphans after ${took} s: $n"
  if [ "$n" != 0 ]; then
    # shellcheck disable=SC2086
    ps -o pid,ppid,pgid,stat,args -p "$(echo $left | sed 's/:[0-9]*//g; s/ /,/g')" >&2 || :
    fail "$what: $n processes outlived the killed job"
  fi
}

for trial in $(seq 1 "$TRIALS"); do
  d=$TMP/t$trial; mkdir -p "$d"
  write_workflow "$d/wf.yml" 30 "$TASKS"
  (cd "$d" && exec "$MPIEXEC" -n "$RANKS" --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
     --cores-per-node "$TASKS" >"$d/out" 2>&1) &
  mpipid=$!
  wait_running "$d" "$TASKS" "trial $trial" "$d/out"
  kill_trial "trial $trial" "$mpipid" "$d/run" "$d"
done

# A glidein pilot runs its tasks through the same executor, on every rank.
d=$TMP/glidein; mkdir -p "$d/work"
"$WFMPI" serve --add-user u --tokens "$d/tokens" >"$d/u.tok" 2>/dev/null
gl_serve --insecure-http --tokens "$d/tokens" --state-dir "$d/state"
write_workflow "$d/wf.yml" 30 "$TASKS"
"$WFMPI" submit "$d/wf.yml" --server "$GL_URL" --token-file "$d/u.tok" --insecure-http >/dev/null
(cd "$d" && exec "$MPIEXEC" -n "$RANKS" --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
   --token-file "$d/u.tok" --insecure-http --work-dir "$d/work" --cores-per-node "$TASKS" \
   >"$d/out" 2>&1) &
mpipid=$!
wait_running "$d/work" "$TASKS" "glidein" "$d/out"
kill_trial "glidein pilot" "$mpipid" "$d/work" "$d/work"
gl_stop
echo "orphans: $total_orphans"

# A run that ends normally: its watchdogs exit with their ranks (each rank
# reaps its own), none is left running or as a zombie.
d=$TMP/clean; mkdir -p "$d"
write_workflow "$d/wf.yml" 2 "$RANKS"
(cd "$d" && exec "$MPIEXEC" -n "$RANKS" --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
   --cores-per-node "$RANKS" >"$d/out" 2>&1) &
mpipid=$!
deadline=$(( $(date +%s) + 60 ))
until [ "$(find "$d/pids" -name 'o*' ! -name '*.*' 2>/dev/null | wc -l)" -ge "$RANKS" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "clean run: tasks never all ran: $(cat "$d/out")"
  sleep 0.1
done
# shellcheck disable=SC2046
watch=$(ident $(watchdogs_of $(ranks_of "$d/run")))
[ "$(echo "$watch" | wc -w)" = "$RANKS" ] || fail "clean run: watchdogs found: $watch"
wait "$mpipid" || fail "clean run failed: $(cat "$d/out")"
for i in $watch; do
  if [ "$(ident "${i%%:*}")" = "$i" ]; then
    fail "clean run: watchdog ${i%%:*} left behind ($(sed 's/.*) //' "/proc/${i%%:*}/stat"))"
  fi
done
pass "$TRIALS kill -9 trials of the whole job and one of a glidein pilot: orphans: $total_orphans; a clean run leaves no watchdog"
