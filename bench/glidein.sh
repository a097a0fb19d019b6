#!/usr/bin/env bash
# Glidein throughput (issue 7): one `wfmpi serve` on loopback and N pilots
# (`mpiexec -n R wfmpi glidein --exec null`) drain a workflow of independent
# null tasks. Prints one JSON line:
#   tasks_per_s              tasks / (first pilot started .. workflow finished),
#                            pilots' start-up included
#   service_cpu_us_per_task  the service's user+sys CPU over that time / tasks
#   latency_ms_median, _p99  READY -> start: a chain of real tasks on one
#                            pilot, each stamping its start ($EPOCHREALTIME);
#                            the gap between a task's stamp and its child's is
#                            the parent's exit and result, the child becoming
#                            READY, the claim and the spawn
# plus the machine and its load (the figures are only comparable on a quiet
# machine of the same kind).
#
# usage: bench/glidein.sh [--build DIR] [--tasks N] [--pilots N] [--ranks R]
#                         [--max-claim N] [--chain N]
#   defaults: build, 200000 tasks, 4 pilots, 1 rank each, --max-claim 4096,
#   a chain of 300. A null task needs no core, but a pilot claims only what
#   fits its cores: the pilots run with --cores-per-node 4096.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/build TASKS=200000 PILOTS=4 RANKS=1 MAXCLAIM=4096 CHAIN=300
while [ $# -gt 0 ]; do
  case $1 in
    --build) B=$(cd "$2" && pwd); shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    --pilots) PILOTS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --max-claim) MAXCLAIM=$2; shift 2 ;;
    --chain) CHAIN=$2; shift 2 ;;
    *) sed -n '2,21p' "$0" >&2; exit 2 ;;
  esac
done
WFMPI=$B/bin/wfmpi
[ -x "$WFMPI" ] || { echo "glidein.sh: no $WFMPI (cmake --build $B first)" >&2; exit 2; }
W=$(mktemp -d /tmp/wfmpi-glbench.XXXXXX)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
cd "$W"
"$WFMPI" serve --add-user bench --tokens tokens >bench.tok 2>/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
C=(--server "$URL" --token-file bench.tok --insecure-http)
"$WFMPI" serve --port "$PORT" --insecure-http --tokens tokens --state-dir state --max-submit 256 --quota-mb 1024 >serve.out 2>serve.err &
SPID=$!
for _ in $(seq 100); do curl -s -o /dev/null "$URL/v1/health" && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }   # clock ticks
finished() { "$WFMPI" status "${C[@]}" "$1" 2>/dev/null | grep -q '"state":"finished"'; }
PIDS=()
pilots() { # pilots N EXTRA...: start N pilots in the background (PIDS)
  local n=$1 i; shift
  PIDS=()
  for i in $(seq "$n"); do
    mpiexec -n "$RANKS" --oversubscribe "$WFMPI" glidein "${C[@]}" --idle-timeout 2 \
      --cores-per-node 4096 --max-claim "$MAXCLAIM" "$@" >"pilot$i.out" 2>"pilot$i.err" &
    PIDS+=($!)
  done
}

# Throughput: independent null tasks.
python3 "$root/tests/data/run/gen_dag.py" independent "$TASKS" /bin/true null.yml /dev/null
ID=$("$WFMPI" submit null.yml "${C[@]}")
c0=$(cpu)
t0=$(date +%s.%N)
pilots "$PILOTS" --exec null
until finished "$ID"; do sleep 0.1; done
t1=$(date +%s.%N)
c1=$(cpu)
wait "${PIDS[@]}" || { cat pilot*.err >&2; exit 1; }

# Latency: a chain of real tasks on one pilot, each stamping its start.
printf '#!/bin/bash\necho "$WFMPI_TASK_ID $EPOCHREALTIME" >>%s/stamps\n' "$W" >stamp.sh
chmod +x stamp.sh
python3 "$root/tests/data/run/gen_dag.py" chain "$CHAIN" "$W/stamp.sh" chain.yml /dev/null
ID2=$("$WFMPI" submit chain.yml "${C[@]}")
pilots 1 --work-dir "$W"
until finished "$ID2"; do sleep 0.1; done
wait "${PIDS[@]}" || { cat pilot*.err >&2; exit 1; }

python3 - "$TASKS" "$PILOTS" "$RANKS" "$MAXCLAIM" "$t0" "$t1" "$c0" "$c1" "$(getconf CLK_TCK)" stamps <<'PY'
import json, os, statistics, sys
tasks, pilots, ranks, maxclaim = map(int, sys.argv[1:5])
t0, t1, c0, c1, tck = map(float, sys.argv[5:10])
st = sorted(float(l.split()[1]) for l in open(sys.argv[10]) if l.strip())
gaps = sorted((b - a) * 1e3 for a, b in zip(st, st[1:]))
p99 = gaps[min(len(gaps) - 1, int(0.99 * len(gaps)))]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(json.dumps({
    "benchmark": "glidein", "tasks": tasks, "pilots": pilots, "ranks_per_pilot": ranks,
    "max_claim": maxclaim, "seconds": round(t1 - t0, 3), "tasks_per_s": round(tasks / (t1 - t0)),
    "target_tasks_per_s": 20000,
    "service_cpu_us_per_task": round((c1 - c0) / tck / tasks * 1e6, 2),
    "latency_chain_tasks": len(st), "latency_ms_median": round(statistics.median(gaps), 2),
    "latency_ms_p99": round(p99, 2),
    "machine": {"cpus": os.cpu_count(), "cpu": cpu, "load_1min": os.getloadavg()[0]}}))
PY
