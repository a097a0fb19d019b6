#!/usr/bin/env bash
# Engine benchmarks (issue 3), every figure next to its reference measured in
# the same run on the same machine:
#  1. master throughput with --exec null, 10^5 independent tasks, 1 master +
#     1..8 workers (the master's own cost per task);
#  2. 2,000 /bin/true tasks, independent and as a chain, on -n 2 and -n 4,
#     against a plain posix_spawn loop (paired runs, REPEAT times, medians)
#     and GNU parallel at the same concurrency;
#  3. the master's peak RSS for 10^6 tasks.
# usage: bench/engine.sh [BUILD_DIR] > results.md      (default BUILD_DIR: build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
WFMPI=$PWD/$B/bin/wfmpi
GEN=$PWD/tests/data/run/gen_dag.py
OUT=$(mktemp -d /tmp/wfmpi-bench.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
gcc -O2 -o "$OUT/spawn_loop" bench/spawn_loop.c

# master_figure N WF ARGS...: run, print "tasks/s us_per_task rss_mb" from the log.
master_figure() {
  local n=$1 wf=$2; shift 2
  rm -rf "$OUT/run"
  mpiexec -n "$n" --oversubscribe "$WFMPI" "$wf" --run-dir "$OUT/run" --progress 1000 "$@" \
    >/dev/null 2>"$OUT/err" || { cat "$OUT/err" >&2; exit 1; }
  sed -n 's/.*master loop: [0-9]* tasks in \([0-9.]*\) s wall (\([0-9]*\) tasks\/s), [0-9.]* s CPU (\([0-9.]*\) us\/task), peak RSS \([0-9]*\) MB/\2 \3 \4 \1/p' \
    "$OUT/run/wfmpi.log" | tail -1
}

echo "Machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Date: $(date -u +%F)"
echo
echo "### Master throughput, --exec null, 100,000 independent tasks"
echo
python3 "$GEN" independent 100000 /bin/true "$OUT/null.yml" /dev/null
echo "| ranks (1 master + workers) | tasks/s | master CPU µs/task | master peak RSS MB |"
echo "|---|---|---|---|"
for n in 2 3 5 9; do
  read -r rate us rss _ < <(master_figure "$n" "$OUT/null.yml" --exec null --cores-per-node 100000)
  echo "| $n (1 + $((n - 1))) | $rate | $us | $rss |"
done

echo
echo "### 2,000 /bin/true tasks: wfmpi vs a plain posix_spawn loop vs GNU parallel"
echo
# Each wfmpi run is paired with a bare-loop run right after it, REPEAT times
# (default 5), and the table gives medians (and the range of the ratios): on
# a shared VM a single pair swings by 20% either way.
REPEAT=${REPEAT:-5}
python3 "$GEN" independent 2000 /bin/true "$OUT/ind.yml" /dev/null
python3 "$GEN" chain 2000 /bin/true "$OUT/chain.yml" /dev/null
loop_rate() { "$OUT/spawn_loop" 2000 "$1" | sed 's/.*: \([0-9]*\) tasks\/s/\1/'; }
# pairs N WF J [ARGS...]: REPEAT "wfmpi loop" lines (ARGS go to wfmpi)
pairs() {
  local n=$1 wf=$2 j=$3; shift 3
  for _ in $(seq "$REPEAT"); do
    read -r rate _ < <(master_figure "$n" "$wf" --cores-per-node "$n" "$@")
    echo "$rate $(loop_rate "$j")"
  done
}
# summary: "median-wfmpi | median-loop | median ratio (min-max)" from pairs
summary() {
  python3 -c '
import statistics, sys
p = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
r = sorted(w / l for w, l in p)
print(f"{statistics.median(w for w, _ in p):.0f} | {statistics.median(l for _, l in p):.0f} | "
      f"{statistics.median(r):.0%} ({r[0]:.0%}-{r[-1]:.0%})")'
}
echo "| shape | concurrency | wfmpi tasks/s | posix_spawn loop tasks/s | wfmpi / loop, median ($REPEAT pairs; range) | GNU parallel tasks/s |"
echo "|---|---|---|---|---|---|"
for n in 2 4; do
  # -n N ranks with N cores in all: one task per rank at a time.
  row=$(pairs "$n" "$OUT/ind.yml" "$n" | summary)
  t0=$(date +%s.%N)
  seq 2000 | parallel -j "$n" /bin/true
  par=$(python3 -c "print(round(2000/($(date +%s.%N)-$t0)))")
  echo "| independent | $n | $row | $par |"
done
for n in 2 4; do
  # --max-running limits started tasks only: standbys still hide the round trip.
  echo "| independent, --max-running $n | $n | $(pairs "$n" "$OUT/ind.yml" "$n" --max-running "$n" | summary) | n/a |"
done
for n in 2 4; do
  echo "| chain | 1 (DAG) on $n ranks | $(pairs "$n" "$OUT/chain.yml" 1 | summary) (loop J=1) | n/a |"
done

echo
echo "### Master peak RSS, 10^6 independent tasks (--exec null, -n 2)"
echo
python3 "$GEN" independent 1000000 /bin/true "$OUT/m.yml" /dev/null
read -r rate us rss wall < <(master_figure 2 "$OUT/m.yml" --exec null --cores-per-node 1000000)
echo "| tasks | master peak RSS MB (plan + scheduler + loop) | tasks/s | µs/task |"
echo "|---|---|---|---|"
echo "| 1,000,000 | $rss | $rate | $us |"
