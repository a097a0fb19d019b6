#!/usr/bin/env bash
# Monitoring commands on a run dir of 10^6 tasks (issue 6 targets: status
# <= 100 ms, statistics and report <= 10 s). Makes the run dir with
# `wfmpi run --exec null` (every task "succeeds" without spawning), times
# `status` while the master runs (status.json only) and after it ended, and
# statistics / analyze / report on the finished run dir.
# usage: bench/monitor.sh [BUILD_DIR] [N] > results.md   (default build, 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
N=${2:-1000000}
WFMPI=$PWD/$B/bin/wfmpi
OUT=$(mktemp -d /tmp/wfmpi-bench-mon.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

# timed LABEL CMD...: best of 3 wall times (ms) and the peak RSS (MB) of one run.
timed() {
  local label=$1; shift
  local best=""
  for _ in 1 2 3; do
    local t0 t1 ms
    t0=$(date +%s%N)
    "$@" >"$OUT/cmd.out" 2>"$OUT/cmd.err" || [ $? = 1 ] || { cat "$OUT/cmd.err" >&2; exit 1; }
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  local rss
  rss=$(/usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1)
  echo "| $label | $best | $((rss / 1024)) |"
}

echo "Machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "Date: $(date -u +%F); $N independent tasks, wfmpi run --exec null on 2 ranks"
echo
python3 tests/data/run/gen_dag.py independent "$N" /bin/true "$OUT/wf.yml" /dev/null
RUN=$OUT/wf.wfmpi
mpiexec -n 2 --oversubscribe "$WFMPI" "$OUT/wf.yml" --run-dir "$RUN" --exec null \
  --cores-per-node "$N" --progress 1000 >"$OUT/run.out" 2>&1 &
mpipid=$!
# While it runs: status reads status.json only.
for _ in $(seq 1 600); do
  if grep -qs '"state":"running"' "$RUN/status.json" &&
     grep -qs '"done":[1-9]' "$RUN/status.json"; then break; fi
  sleep 0.1
done
echo "| command | best of 3 wall ms | peak RSS MB |"
echo "|---|---|---|"
# Process start-up alone (the binary links MPI, HDF5, hwloc, curl): the floor.
timed "wfmpi version (start-up only)" "$WFMPI" version
if grep -qs '"state":"running"' "$RUN/status.json"; then
  timed "status (live: status.json)" "$WFMPI" status "$RUN"
  timed "status --json -l (live)" "$WFMPI" status --json -l "$RUN"
else
  echo "| status (live) | run ended before it could be timed | |"
fi
wait "$mpipid" || { cat "$OUT/run.out" >&2; exit 1; }
timed "status (finished: final status.json + probe)" "$WFMPI" status "$RUN"
timed "statistics" "$WFMPI" statistics "$RUN"
timed "statistics --json --csv" "$WFMPI" statistics --json --csv "$OUT/csv" "$RUN"
timed "analyze" "$WFMPI" analyze "$RUN"
timed "report" "$WFMPI" report "$RUN" -o "$OUT/report.html"
echo
echo "report.html: $(( $(stat -c %s "$OUT/report.html") / 1024 )) KiB; state.h5: $(( $(stat -c %s "$RUN/state.h5") / 1048576 )) MiB"
mv "$RUN/status.json" "$OUT/status.json.saved"
echo
echo "| without status.json (checkpoint path) | best of 3 wall ms | peak RSS MB |"
echo "|---|---|---|"
timed "status (state.h5 + journal)" "$WFMPI" status "$RUN"
