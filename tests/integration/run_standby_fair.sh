#!/usr/bin/env bash
# Standbys cost real workflows nothing (docs/engine.md, "Standbys"): 3 long
# tasks of high priority and 12 short ones on 4 one-slot ranks. The short
# ones share the slot the long ones leave: none may wait behind a long task
# while that slot is free (a standby is queued only when no slot could
# start it, and taken back when one could), so all end before the first
# long one does, no later than with --no-standby; no slot idles while a
# short task waits; and a standby counts as started (status.json's running,
# wfmpi.log's start line) only once it has started.
source "$(dirname "$0")/lib.sh"

d=$TMP/fair; mkdir -p "$d"
cat >"$d/rec.sh" <<'SH'
#!/bin/sh
# rec.sh SECONDS: "ID RANK START END" into ledger.txt.
s=$(date +%s.%N); sleep "$1"; e=$(date +%s.%N)
echo "$WFMPI_TASK_ID $WFMPI_RANK $s $e" >>ledger.txt
SH
chmod +x "$d/rec.sh"
{
  echo "pegasus: '5.0'"
  echo "name: fair"
  echo "transformationCatalog: {transformations: [{name: rec, sites: [{name: local, pfn: $d/rec.sh, type: installed}]}]}"
  echo "jobs:"
  for i in 1 2 3; do
    echo "  - {id: long$i, name: rec, arguments: ['5'], uses: [], profiles: {dagman: {priority: 10}}}"
  done
  for i in $(seq 1 12); do
    echo "  - {id: short$i, name: rec, arguments: ['0.25'], uses: [], profiles: {dagman: {priority: 1}}}"
  done
} >"$d/wf.yml"

# run NAME ARGS...: the workflow on 4 ranks of one core each; its ledger goes
# to NAME.ledger, and status.json's running count, sampled, to NAME.running.
run() {
  local name=$1; shift
  rm -rf "$d/ledger.txt" "$d/wf.wfmpi"
  (cd "$d" && exec "$MPIEXEC" -n 4 --oversubscribe "$WFMPI" wf.yml --cores-per-node 4 "$@" \
     >"$d/$name.out" 2>&1) &
  local pid=$! ; : >"$d/$name.running"
  while kill -0 "$pid" 2>/dev/null; do
    sed -n 's/.*"running":\([0-9]*\).*/\1/p' "$d/wf.wfmpi/status.json" 2>/dev/null >>"$d/$name.running" || :
    sleep 0.2
  done
  wait "$pid" || fail "$name run failed: $(cat "$d/$name.out")"
  cp "$d/ledger.txt" "$d/$name.ledger"
  cp "$d/wf.wfmpi/wfmpi.log" "$d/$name.log"
}
run standby
run plain --no-standby
grep -q 'standbys: [1-9][0-9]* tasks' "$d/standby.log" || fail "no standby was used: $(grep standbys "$d/standby.log")"

python3 - "$d" <<'PY' || fail "standbys hurt the short tasks"
import sys, datetime
d = sys.argv[1]
def ledger(name):
    return {l.split()[0]: (int(l.split()[1]), float(l.split()[2]), float(l.split()[3]))
            for l in open(f"{d}/{name}.ledger")}
sb, plain = ledger("standby"), ledger("plain")
assert len(sb) == 15 and len(plain) == 15, "every task runs once"
short = [t for t in sb if t.startswith("short")]
first_long_end = min(e for t, (_, s, e) in sb.items() if t.startswith("long"))
last_short = max(sb[t][2] for t in short)
if last_short > first_long_end:
    sys.exit(f"a short task ended {last_short - first_long_end:.2f} s after the first long one")
t0_sb = min(s for _, s, _ in sb.values()); t0_pl = min(s for _, s, _ in plain.values())
sb_end = last_short - t0_sb
pl_end = max(plain[t][2] for t in short) - t0_pl
if sb_end > pl_end + 0.5:
    sys.exit(f"short tasks done after {sb_end:.2f} s with standbys, {pl_end:.2f} s without")
# No slot idles while a short task waits: from the first start to the last
# short start, 4 slots minus the tasks running, integrated over time.
last_start = max(sb[t][1] for t in short)
marks = sorted([(s, 1) for _, s, _ in sb.values()] + [(e, -1) for _, _, e in sb.values()])
idle, running, prev = 0.0, 0, t0_sb
for t, k in marks:
    if t > last_start:
        idle += (4 - running) * max(0.0, last_start - prev)
        break
    idle += (4 - running) * (t - prev)
    running += k; prev = t
if idle > 1.0:
    sys.exit(f"slots idled {idle:.2f} slot-seconds while short tasks waited")
# wfmpi.log says a task started when it did, not when it was queued.
logged = {}
for l in open(f"{d}/standby.log"):
    w = l.split()
    if len(w) > 5 and w[4] == "start":
        # The log's clock is local time: a naive datetime is read as such.
        ts = datetime.datetime.strptime(w[0] + " " + w[1], "%Y-%m-%d %H:%M:%S.%f")
        logged[w[5]] = ts.timestamp()
off = {t: logged[t] - sb[t][1] for t in sb}
worst = max(off, key=lambda t: abs(off[t]))
if abs(off[worst]) > 1.0:
    sys.exit(f"{worst}: wfmpi.log's start is {off[worst]:+.2f} s off its real start")
print(f"short tasks done in {sb_end:.2f} s (without standbys {pl_end:.2f} s), "
      f"idle {idle:.2f} slot-s, log starts within {abs(off[worst]):.2f} s")
PY
max_running=$(sort -n "$d/standby.running" | tail -1)
[ "${max_running:-0}" -le 4 ] || fail "status.json counted $max_running running on 4 slots"
pass "standbys: short tasks never wait behind long ones, counts honest"
