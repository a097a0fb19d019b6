#!/usr/bin/env bash
# Where the CPU goes per task: wfmpi on N ranks against the bare posix_spawn
# loop at the same concurrency, both sampled system-wide with `perf record -a`
# (2 kHz) and split by process: wfmpi's master and worker ranks (or the
# loop's parent), the spawned children before their exec (still named after
# the parent), the tasks after it, and idle. µs of CPU per task; the sums
# fall a little short of wall time x cores (perf's own time is not counted).
# usage: bench/cpu_split.sh [BUILD_DIR] [N] [TASKS]   (needs perf; run as root
# or with kernel.perf_event_paranoid <= 0)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build} N=${2:-2} T=${3:-10000}
WFMPI=$PWD/$B/bin/wfmpi
OUT=$(mktemp -d /tmp/wfmpi-cpu.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
gcc -O2 -o "$OUT/spawn_loop" bench/spawn_loop.c
python3 tests/data/run/gen_dag.py independent "$T" /bin/true "$OUT/wf.yml" /dev/null

# split DATA PARENT_COMM: one "name µs/task" line per class (cpu_split.py).
split() {
  perf script -i "$1" -F comm,pid 2>/dev/null | python3 bench/cpu_split.py "$2" "$T"
}

rm -rf "$OUT/run"
perf record -q -F 2000 -a -o "$OUT/w.data" -- mpiexec -n "$N" --oversubscribe "$WFMPI" "$OUT/wf.yml" \
  --run-dir "$OUT/run" --progress 1000 --cores-per-node "$N" >/dev/null 2>"$OUT/err"
rate=$(sed -n 's/.*master loop: .*(\([0-9]*\) tasks\/s).*/\1/p' "$OUT/run/wfmpi.log")
echo "wfmpi -n $N: $rate tasks/s; µs of CPU per task:"
split "$OUT/w.data" wfmpi
perf record -q -F 2000 -a -o "$OUT/l.data" -- "$OUT/spawn_loop" "$T" "$N" >"$OUT/l.txt"
echo "posix_spawn loop J=$N: $(sed 's/.*: //' "$OUT/l.txt"); µs of CPU per task:"
split "$OUT/l.data" spawn_loop
