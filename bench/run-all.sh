#!/usr/bin/env bash
# The whole benchmark suite in one command (issue 9). Every figure is written
# next to its reference, measured in the same run on the same machine:
#   master throughput (--exec null) vs ranks   | the scheduler core alone (bench/sim --null)
#   /bin/true tasks through wfmpi              | a plain posix_spawn loop, GNU parallel
#   one `srun -n 1` per task in an allocation  | wfmpi on the same allocation (bench/srun-per-task.sh)
#   planning time and memory vs workflow size  | the issue's target (10^6 jobs: 15 s, 1 GiB)
#   checkpoint overhead                        | the same run with --no-checkpoint
#   resume time                                | planning the same workflow
#   scheduler simulation (bench/sim)           | the target (10 us/task)
#   monitoring commands (bench/monitor.sh)     | the issue's targets
#   glidein throughput, 4 pilots (bench/glidein.sh) | the issue's target (20,000 tasks/s)
# Writes RESULTS_DIR/results.json, RESULTS_DIR/results.md and, when
# matplotlib is there, RESULTS_DIR/throughput_vs_ranks.png and plan_cost.png
# (bench/plot.py).
#
# usage: bench/run-all.sh [--full] [--build DIR] [--out RESULTS_DIR] [--no-slurm]
#   default: small sizes (a few minutes on 2 cores); --full: the issues' sizes
#   (10^5-10^6 tasks; also runs bench/engine.sh, ckpt.sh and monitor.sh as
#   they are and keeps their markdown in the JSON), tens of minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
full=0 B=$root/build out=$root/bench/results slurm=1
while [ $# -gt 0 ]; do
  case $1 in
    --full) full=1; shift ;;
    --build) B=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-slurm) slurm=0; shift ;;
    *) sed -n '2,22p' "$0" >&2; exit 2 ;;
  esac
done
WFMPI=$B/bin/wfmpi
[ -x "$WFMPI" ] || { echo "run-all: no $WFMPI (cmake --build $B first)" >&2; exit 2; }
mkdir -p "$out"
W=$(mktemp -d /tmp/wfmpi-runall.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
GEN=$root/tests/data/run/gen_dag.py
R=$W/records.jsonl   # one JSON object per figure
say() { echo "run-all: $*" >&2; }
rec() { # BENCH FIGURE VALUE UNIT REFERENCE REF_VALUE [PARAMS_JSON]
  python3 - "$@" >>"$R" <<'PY'
import json, sys
a = sys.argv[1:] + [""] * 7
num = lambda s: (float(s) if s not in ("", "null", "n/a") else None)
print(json.dumps({"benchmark": a[0], "figure": a[1], "value": num(a[2]), "unit": a[3],
                  "reference": a[4], "reference_value": num(a[5]),
                  "params": json.loads(a[6]) if a[6] else {}}))
PY
}
loop_rate() { # ARGS...: master-loop tasks/s from wfmpi.log
  rm -rf "$W/run"
  mpiexec --oversubscribe "$@" --run-dir "$W/run" --progress 1000 >/dev/null 2>"$W/err" ||
    { cat "$W/err" >&2; return 1; }
  sed -n 's/.*master loop: [0-9]* tasks in [0-9.]* s wall (\([0-9]*\) tasks\/s).*/\1/p' "$W/run/wfmpi.log" | tail -1
}

if [ "$full" = 1 ]; then
  NULL_N=100000 RANKS="2 3 5 9" TRUE_N=2000 SRUN_N=200 PLAN_SIZES="1000 10000 100000 1000000"
  CK_N=100000 SIM_ARGS="" SIM_NULL=1000000 MON_N=1000000 GL_N=200000
else
  NULL_N=20000 RANKS="2 3 5" TRUE_N=500 SRUN_N=50 PLAN_SIZES="1000 10000"
  CK_N=20000 SIM_ARGS="--tasks 10000 --nodes 10" SIM_NULL=100000 MON_N=20000 GL_N=50000
fi

# 0. the scheduler core alone (bench/sim): the ceiling for the master.
say "scheduler simulation"
sim=$B/wfmpi-sim
bash "$root/bench/sim/build.sh" "$B" >/dev/null 2>&1 ||
  ${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -I "$root/include" "$root/bench/sim/sim.c" \
    "$B/src/sched/libwfmpi_sched.a" "$B/src/plan/libwfmpi_plan.a" "$B/src/util/libwfmpi_util.a" \
    -lcrypto -lm -o "$sim"
"$sim" --null --tasks "$SIM_NULL" >"$W/sim-null.txt"
core_ns=$(sed -n 's/^sched calls *\([0-9.]*\) ns\/task.*/\1/p' "$W/sim-null.txt")
core_rate=$(python3 -c "print(round(1e9 / $core_ns))")
rec sim "scheduler core, --null, $SIM_NULL tasks: ns/task" "$core_ns" ns "target (DESIGN.md §9: a few µs)" 1000
# shellcheck disable=SC2086
"$sim" $SIM_ARGS >"$W/sim-gpu.txt"
g_ns=$(sed -n 's/^sched calls *\([0-9.]*\) ns\/task.*/\1/p' "$W/sim-gpu.txt")
g_util=$(sed -n 's/^gpu utilisation *\([0-9.]*\) %.*/\1/p' "$W/sim-gpu.txt")
g_desc=$(sed -n 's/^tasks *\([0-9]*\).*/\1/p' "$W/sim-gpu.txt")" tasks, $(sed -n 's/^nodes *//p' "$W/sim-gpu.txt") nodes x 4 GPUs"
rec sim "GPU pool ($g_desc): sched µs/task" "$(python3 -c "print($g_ns / 1000)")" us "target (issue 3)" 10
rec sim "GPU pool ($g_desc): GPU utilisation" "$g_util" "%" "ideal" 100

# 1. master throughput vs ranks, --exec null
say "master throughput, --exec null, $NULL_N tasks"
python3 "$GEN" independent "$NULL_N" /bin/true "$W/null.yml" /dev/null
for n in $RANKS; do
  r=$(loop_rate -n "$n" "$WFMPI" "$W/null.yml" --exec null --cores-per-node "$NULL_N")
  rec throughput "master loop, --exec null, $n ranks: tasks/s" "$r" tasks/s \
    "scheduler core alone (bench/sim --null)" "$core_rate" "{\"ranks\": $n, \"tasks\": $NULL_N}"
done

# 2. /bin/true: wfmpi vs posix_spawn loop vs GNU parallel
say "/bin/true x $TRUE_N"
gcc -O2 -o "$W/spawn_loop" "$root/bench/spawn_loop.c"
python3 "$GEN" independent "$TRUE_N" /bin/true "$W/true.yml" /dev/null
for n in 2 4; do
  r=$(loop_rate -n "$n" "$WFMPI" "$W/true.yml" --cores-per-node "$n")
  loop=$("$W/spawn_loop" "$TRUE_N" "$n" | sed 's/.*: \([0-9]*\) tasks\/s/\1/')
  rec true "wfmpi, $TRUE_N x /bin/true, $n ranks: tasks/s" "$r" tasks/s "posix_spawn loop, $n at a time" "$loop" \
    "{\"ranks\": $n}"
  if command -v parallel >/dev/null; then
    t0=$(date +%s.%N); seq "$TRUE_N" | parallel -j "$n" /bin/true; t1=$(date +%s.%N)
    rec true "GNU parallel -j $n, $TRUE_N x /bin/true: tasks/s" "$(python3 -c "print(round($TRUE_N / ($t1 - $t0)))")" \
      tasks/s "wfmpi, same concurrency" "$r" "{\"ranks\": $n}"
  fi
done

# 3. one srun per task inside an allocation vs wfmpi there
if [ "$slurm" = 1 ]; then
  say "srun per task x $SRUN_N (local Slurm)"
  set +e
  bash "$root/bench/srun-per-task.sh" -n "$SRUN_N" -j 4 --wfmpi "$WFMPI" >"$W/srun.json" 2>"$W/srun.err"
  src=$?
  set -e
  if [ "$src" = 0 ]; then
    python3 - "$W/srun.json" >>"$R" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ref = j["wfmpi_tasks_per_s_whole_command"]
p = {"tasks": j["tasks"], "concurrency": j["concurrency"]}
for k, what in (("srun_sequential_tasks_per_s", "srun -n 1 per task, one after the other"),
                ("srun_parallel_tasks_per_s", "srun -n 1 --exact per task, 4 at a time")):
    print(json.dumps({"benchmark": "srun", "figure": f"{what}: tasks/s", "value": j[k], "unit": "tasks/s",
                      "reference": "srun -n 4 wfmpi, same tasks, same allocation (whole command)",
                      "reference_value": ref, "params": p}))
PY
  else
    rec srun "srun per task: not measured ($(tail -n 1 "$W/srun.err"))" n/a "" "" ""
  fi
fi

# 4. planning cost vs workflow size
say "planning: $PLAN_SIZES"
SIZES=$PLAN_SIZES bash "$root/bench/plan-scaling.sh" "$WFMPI" >"$W/plan.md"
python3 - "$W/plan.md" >>"$R" <<'PY'
import json, sys
head = None
for line in open(sys.argv[1]):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if c and c[0] == "jobs":
        head = c  # columns by name: plan-scaling.sh's table may grow
        continue
    if head and c and c[0].isdigit():
        row = dict(zip(head, c))
        n = int(row["jobs"])
        secs = next(v for k, v in row.items() if k.startswith("seconds"))
        rss = next(v for k, v in row.items() if k.startswith("peak RSS"))
        p = {"jobs": n, "shape": row["shape"], "yaml_mb": float(row["YAML MB"]), "edges": int(row["edges"])}
        print(json.dumps({"benchmark": "plan", "figure": f"plan {n} jobs ({row['shape']}): s", "value": float(secs),
                          "unit": "s", "reference": "target 15 s per 10^6 jobs, scaled linearly",
                          "reference_value": round(15 * n / 1e6, 4), "params": p}))
        print(json.dumps({"benchmark": "plan", "figure": f"plan {n} jobs ({row['shape']}): peak RSS MB",
                          "value": float(rss), "unit": "MB",
                          "reference": "target 1 GiB per 10^6 jobs, scaled linearly",
                          "reference_value": round(1024 * n / 1e6, 2), "params": p}))
PY

# 5. checkpoint overhead, 6. resume time
say "checkpoint: $CK_N null tasks"
python3 "$GEN" independent "$CK_N" /bin/true "$W/ck.yml" /dev/null
med() { sort -n | sed -n '2p'; }
with=$(for _ in 1 2 3; do loop_rate -n 2 "$WFMPI" "$W/ck.yml" --exec null --cores-per-node "$CK_N"; done | med)
without=$(for _ in 1 2 3; do loop_rate -n 2 "$WFMPI" "$W/ck.yml" --exec null --cores-per-node "$CK_N" --no-checkpoint; done | med)
rec ckpt "checkpoint on, $CK_N null tasks, -n 2: tasks/s (median of 3)" "$with" tasks/s "--no-checkpoint" "$without"
python3 - "$W/ck.yml" "$CK_N" <<'PY'
import sys
p, n = sys.argv[1], int(sys.argv[2]); last = f"t{n - 1}"
s = open(p).read().replace(f"    id: {last}\n    name: task\n",
                           f"    id: {last}\n    name: task\n    profiles: {{pegasus: {{runtime: 3600}}}}\n")
open(p, "w").write(s)
PY
rm -rf "$W/big"
mpiexec -n 2 --oversubscribe "$WFMPI" "$W/ck.yml" --run-dir "$W/big" --exec null --cores-per-node "$CK_N" \
  --walltime-end $(($(date +%s) + 600)) --drain-before 1 >/dev/null 2>&1 || true
t0=$(date +%s.%N)
mpiexec -n 2 --oversubscribe "$WFMPI" "$W/ck.yml" --run-dir "$W/big" --exec null --cores-per-node "$CK_N" >/dev/null 2>&1
t1=$(date +%s.%N)
t2=$(date +%s.%N)
"$WFMPI" plan --log-level error "$W/ck.yml" >/dev/null
t3=$(date +%s.%N)
rec resume "resume of $CK_N tasks, all but one done: whole command s" "$(python3 -c "print(round($t1 - $t0, 3))")" s \
  "wfmpi plan of the same workflow (s)" "$(python3 -c "print(round($t3 - $t2, 3))")"

# 7. monitoring commands
if [ -f "$root/bench/monitor.sh" ]; then
  say "monitor.sh ($MON_N tasks)"
  if bash "$root/bench/monitor.sh" "$(realpath --relative-to="$root" "$B")" "$MON_N" >"$W/monitor.md" 2>"$W/monitor.err"; then
    python3 - "$W/monitor.md" "$MON_N" >>"$R" <<'PY'
import json, sys
n = int(sys.argv[2])
targets = {"status": 100, "statistics": 10000, "report": 10000, "analyze": 10000}
for line in open(sys.argv[1]):
    c = [x.strip() for x in line.strip().strip("|").split("|")]
    if len(c) >= 2 and c[0] and c[0].split()[0].strip("`").split()[0] in ("status", "statistics", "report", "analyze", "wfmpi"):
        try:
            ms = float(c[1].replace(",", ""))
        except ValueError:
            continue
        cmd = next((k for k in targets if k in c[0]), None)
        print(json.dumps({"benchmark": "monitor", "figure": f"{c[0]} on {n} tasks: ms", "value": ms, "unit": "ms",
                          "reference": "target (issue 6, at 10^6 tasks)", "reference_value": targets.get(cmd),
                          "params": {"tasks": n}}))
PY
  else
    rec monitor "monitor.sh failed: $(tail -n 1 "$W/monitor.err")" n/a "" "" ""
  fi
fi

# 8. glidein: a serve and 4 pilots on loopback
say "glidein: $GL_N null tasks, 4 pilots"
if bash "$root/bench/glidein.sh" --build "$B" --tasks "$GL_N" >"$W/glidein.json" 2>"$W/glidein.err"; then
  python3 - "$W/glidein.json" >>"$R" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
p = {k: j[k] for k in ("tasks", "pilots", "ranks_per_pilot", "max_claim")}
out = lambda fig, v, unit, ref="", rv=None: print(json.dumps({
    "benchmark": "glidein", "figure": fig, "value": v, "unit": unit, "reference": ref,
    "reference_value": rv, "params": p}))
out(f"serve + {j['pilots']} pilots, --exec null, {j['tasks']} tasks: tasks/s", j["tasks_per_s"], "tasks/s",
    "target (issue 7)", j["target_tasks_per_s"])
out("service CPU per task: µs", j["service_cpu_us_per_task"], "us")
out(f"READY -> start, chain of {j['latency_chain_tasks']} real tasks: median ms", j["latency_ms_median"], "ms")
out(f"READY -> start, chain of {j['latency_chain_tasks']} real tasks: p99 ms", j["latency_ms_p99"], "ms")
PY
else
  rec glidein "glidein: bench/glidein.sh failed ($(tail -n 1 "$W/glidein.err"))" n/a "" "" ""
fi

# --full: the other issues' scripts as they are, their markdown kept.
if [ "$full" = 1 ]; then
  rel=$(realpath --relative-to="$root" "$B")
  for s in engine ckpt; do
    say "bench/$s.sh (full)"
    bash "$root/bench/$s.sh" "$rel" >"$W/report-$s.md" 2>&1 || say "bench/$s.sh failed"
  done
  cp "$W/monitor.md" "$W/report-monitor.md" 2>/dev/null || true
fi

python3 - "$R" "$out" "$full" "$W" <<'PY'
import glob, json, os, platform, subprocess, sys, datetime
recs = [json.loads(l) for l in open(sys.argv[1])]
out, full, w = sys.argv[2], sys.argv[3] == "1", sys.argv[4]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
machine = {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": mem, "kernel": platform.release(),
           "load_at_end": os.getloadavg()[0]}
reports = {os.path.basename(p)[7:-3]: open(p).read() for p in sorted(glob.glob(w + "/report-*.md"))}
doc = {"suite": "wfmpi bench/run-all.sh", "mode": "full" if full else "default (small sizes)",
       "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "machine": machine,
       "results": recs, "reports": reports}
json.dump(doc, open(os.path.join(out, "results.json"), "w"), indent=1)
fmt = lambda v: "–" if v is None else (f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}")
with open(os.path.join(out, "results.md"), "w") as f:
    f.write(f"Machine: {machine['cpus']} CPUs, {cpu}, {mem} GiB; load {machine['load_at_end']:.1f} at the end. "
            f"Date: {doc['date']}. Mode: {doc['mode']}.\n\n")
    f.write("| benchmark | figure | value | reference | reference value | value / reference |\n")
    f.write("|---|---|---:|---|---:|---:|\n")
    for r in recs:
        ratio = (f"{r['value'] / r['reference_value']:.2f}" if r["value"] is not None and r["reference_value"]
                 else "–")
        f.write(f"| {r['benchmark']} | {r['figure']} | {fmt(r['value'])} | {r['reference']} | "
                f"{fmt(r['reference_value'])} | {ratio} |\n")
print(os.path.join(out, "results.md"))
PY
PY=python3
$PY -c 'import matplotlib' 2>/dev/null || PY=/usr/bin/python3   # Debian's python3-matplotlib
$PY "$root/bench/plot.py" "$out/results.json" "$out" >&2 || say "no plots (matplotlib missing?)"
cat "$out/results.md"
