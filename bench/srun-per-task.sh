#!/usr/bin/env bash
# The anti-pattern users come from: N /bin/true tasks each launched with its
# own `srun -n 1` inside one Slurm allocation (one after the other, and J at a
# time with `srun --exact` in the background), next to wfmpi running the same N
# tasks on the same allocation (`srun -n J wfmpi`). Prints one JSON object.
#
# usage: bench/srun-per-task.sh [-n N] [-j J] [--wfmpi BIN]
#   Inside an allocation (SLURM_JOB_ID set, e.g. under salloc -n J) it uses it;
#   otherwise it starts the local test Slurm (tests/slurm/slurm-local.sh, root
#   only) and runs itself under `salloc -n J`. Defaults: N=50, J=4.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
N=50 J=4 WFMPI=${WFMPI:-$here/build/bin/wfmpi} inside=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) N=$2; shift 2 ;;
    -j) J=$2; shift 2 ;;
    --wfmpi) WFMPI=$2; shift 2 ;;
    --inside) inside=1; shift ;;
    *) echo "usage: $0 [-n N] [-j J] [--wfmpi BIN]" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none

if [ -z "${SLURM_JOB_ID:-}" ] && [ "$inside" = 0 ]; then
  d=$(mktemp -d /tmp/wfmpi-srunb.XXXXXX); chmod 755 "$d"
  cleanup() { bash "$here/tests/slurm/slurm-local.sh" stop "$d/s" >/dev/null 2>&1 || true; rm -rf "$d"; }
  trap cleanup EXIT
  out=$(SLURM_LOCAL_OWNER=$$ bash "$here/tests/slurm/slurm-local.sh" start "$d/s" 2>"$d/start.err") ||
    { echo "srun-per-task: no local Slurm: $(grep '^slurm-local:' "$d/start.err" | tail -1)" >&2; exit 77; }
  eval "$out"; export SLURM_CONF
  unset SLURM_MPI_TYPE
  salloc -Q -N 1 -n "$J" -t 30 bash "$0" --inside -n "$N" -j "$J" --wfmpi "$WFMPI"
  exit
fi

w=$(mktemp -d /tmp/wfmpi-srunb-w.XXXXXX)
trap 'rm -rf "$w"' EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(round($N / ($2 - $1), 1))"; }

t0=$(now)
for _ in $(seq "$N"); do srun -n 1 -Q /bin/true; done
t1=$(now)
seq_rate=$(rate "$t0" "$t1")

t0=$(now)
for i in $(seq "$N"); do
  srun -n 1 --exact -Q /bin/true &
  if [ $((i % J)) = 0 ]; then wait; fi
done
wait
t1=$(now)
par_rate=$(rate "$t0" "$t1")

python3 "$here/tests/data/run/gen_dag.py" independent "$N" /bin/true "$w/wf.yml" /dev/null
t0=$(now)
srun -n "$J" "$WFMPI" "$w/wf.yml" --cores-per-node "$J" --run-dir "$w/run" >"$w/out" 2>&1 ||
  { cat "$w/out" >&2; exit 1; }
t1=$(now)
wf_rate=$(rate "$t0" "$t1")
loop=$(sed -n 's/.*master loop: [0-9]* tasks in [0-9.]* s wall (\([0-9]*\) tasks\/s).*/\1/p' "$w/run/wfmpi.log" | tail -1)
cat <<JSON
{"tasks": $N, "concurrency": $J, "srun_sequential_tasks_per_s": $seq_rate, "srun_parallel_tasks_per_s": $par_rate, "wfmpi_tasks_per_s_whole_command": $wf_rate, "wfmpi_master_loop_tasks_per_s": ${loop:-null}}
JSON
