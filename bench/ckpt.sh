#!/usr/bin/env bash
# Checkpoint benchmarks (issue 4), measured side by side in one run:
#  1. cost of checkpointing: --exec null, 10^5 independent tasks, with the
#     checkpoint vs the hidden --no-checkpoint (3 runs each, median);
#  2. resuming a 10^6-task run in which all but one task are done (the one
#     was held back by a walltime limit): time to open the checkpoint, whole
#     command time, and that only that task runs;
#  3. the journal's size during a long run stays bounded (snapshots compact it).
# usage: bench/ckpt.sh [BUILD_DIR] > results.md
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
WFMPI=$PWD/$B/bin/wfmpi
GEN=$PWD/tests/data/run/gen_dag.py
OUT=$(mktemp -d /tmp/wfmpi-bench-ckpt.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

loop_rate() { # ARGS...: tasks/s of the master loop, from wfmpi.log
  rm -rf "$OUT/run"
  mpiexec -n 2 --oversubscribe "$WFMPI" --run-dir "$OUT/run" --progress 1000 "$@" >/dev/null 2>&1
  sed -n 's/.*master loop: [0-9]* tasks in [0-9.]* s wall (\([0-9]*\) tasks\/s).*/\1/p' \
    "$OUT/run/wfmpi.log" | tail -1
}
median() { sort -n | sed -n '2p'; }

echo "Machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1 /proc/loadavg)"
echo "Date: $(date -u +%F)"
echo
echo "### Checkpoint cost, --exec null, 100,000 independent tasks, -n 2"
echo
python3 "$GEN" independent 100000 /bin/true "$OUT/wf.yml" /dev/null
with=$(for i in 1 2 3; do loop_rate "$OUT/wf.yml" --exec null --cores-per-node 100000; done | median)
without=$(for i in 1 2 3; do loop_rate "$OUT/wf.yml" --exec null --cores-per-node 100000 --no-checkpoint; done | median)
echo "| checkpoint | tasks/s (median of 3) |"
echo "|---|---|"
echo "| off (--no-checkpoint) | $without |"
echo "| on | $with |"
echo "| cost | $(python3 -c "print(f'{(1 - $with / $without) * 100:.1f}%')") |"

echo
echo "### Resume of 10^6 tasks with all but one done"
echo
python3 "$GEN" independent 1000000 /bin/true "$OUT/m.yml" /dev/null
# The last task's estimate (1 h) exceeds the allocation's 10 minutes: it is
# held back and the first run stops with exit 3, everything else done.
python3 - "$OUT/m.yml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("    id: t999999\n    name: task\n", "    id: t999999\n    name: task\n    profiles: {pegasus: {runtime: 3600}}\n")
open(p, "w").write(s)
PY
rm -rf "$OUT/big"
set +e
mpiexec -n 2 --oversubscribe "$WFMPI" "$OUT/m.yml" --run-dir "$OUT/big" --exec null \
  --cores-per-node 1000000 --walltime-end $(( $(date +%s) + 600 )) --drain-before 1 >/dev/null 2>&1
rc=$?
set -e
t0=$(date +%s.%N)
mpiexec -n 2 --oversubscribe "$WFMPI" "$OUT/m.yml" --run-dir "$OUT/big" --exec null \
  --cores-per-node 1000000 >"$OUT/resume.out" 2>&1
t1=$(date +%s.%N)
ran=$(grep -c ' info: start ' <(sed -n '/resumed:/,$p' "$OUT/big/wfmpi.log"))
# "planned in P s (from the workflow|loaded from plan.cache), checkpoint
# opened in C s" (older builds print no parenthesis): P|C|where.
startup=$(grep 'checkpoint opened in' "$OUT/big/wfmpi.log" | tail -1 |
  sed 's/.*planned in \([0-9.]*\) s\( (\([^)]*\))\)\{0,1\}, checkpoint opened in \([0-9.]*\) s/\1|\4|\3/')
IFS='|' read -r plan_s open_s plan_from <<<"$startup"
saved=$(sed -n 's/.*plan cache: saved .* in \([0-9.]*\) s$/\1/p' "$OUT/big/wfmpi.log" | head -1)
echo "| first run exit | first run: plan.cache saved in s | resume: planning s | plan from | resume: checkpoint open + replay + restore s | resume: whole command s | tasks run by the resume |"
echo "|---|---|---|---|---|---|---|"
echo "| $rc | ${saved:--} | $plan_s | ${plan_from:-the workflow} | $open_s | $(python3 -c "print(round($t1 - $t0, 2))") | $ran |"

echo
echo "### Journal size during a run of 10^6 null tasks"
echo
rm -rf "$OUT/j"
mpiexec -n 2 --oversubscribe "$WFMPI" "$OUT/m.yml" --run-dir "$OUT/j" --exec null \
  --cores-per-node 1000000 >/dev/null 2>&1 &
pid=$!
max=0
while kill -0 "$pid" 2>/dev/null; do
  s=$(stat -c %s "$OUT/j/journal" 2>/dev/null || echo 0)
  [ "$s" -gt "$max" ] && max=$s
  sleep 0.05
done
echo "| largest journal seen (bytes) | final state.h5 (MB) |"
echo "|---|---|"
echo "| $max | $(( $(stat -c %s "$OUT/j/state.h5") / 1048576 )) |"
