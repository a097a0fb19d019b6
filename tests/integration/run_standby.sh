#!/usr/bin/env bash
# Standbys (docs/engine.md, "Standbys"): the master queues a task behind the
# running one on each worker, and the worker starts it the moment that one
# ends. Checked from the tasks' own records: every task runs once, a rank
# with one core never runs two at once (a standby holds nothing until its
# predecessor ends), standbys were used, and a drain answers a queued standby
# unstarted, as interrupted: the resumed run does it, with no retry used.
source "$(dirname "$0")/lib.sh"

d=$TMP/order; mkdir -p "$d"
cat >"$d/rec.sh" <<'SH'
#!/bin/sh
# rec.sh SECONDS: "ID RANK START END" into ledger.txt; "start ID" first.
echo "start $WFMPI_TASK_ID" >>started.txt
s=$(date +%s.%N); sleep "$1"; e=$(date +%s.%N)
echo "$WFMPI_TASK_ID $WFMPI_RANK $s $e" >>ledger.txt
SH
chmod +x "$d/rec.sh"
wf() { # NAME N SECONDS: N independent rec.sh tasks, no retries
  echo "pegasus: '5.0'"
  echo "name: $1"
  echo "transformationCatalog: {transformations: [{name: rec, sites: [{name: local, pfn: $d/rec.sh, type: installed}]}]}"
  echo "jobs:"
  for i in $(seq 1 "$2"); do
    echo "  - {id: t$i, name: rec, arguments: ['$3'], uses: [], profiles: {dagman: {retry: 0}}}"
  done
}
wf order 15 0.1 >"$d/wf.yml"
wfmpi_mpi -C "$d" 3 wf.yml --cores-per-node 3
expect_rc 0 "15 tasks on 3 ranks"
[ "$(wc -l <"$d/ledger.txt")" = 15 ] || fail "15 tasks must run once each: $(cat "$d/ledger.txt")"
[ "$(cut -d' ' -f1 "$d/ledger.txt" | sort -u | wc -l)" = 15 ] || fail "a task ran twice"
python3 - "$d/ledger.txt" <<'PY' || fail "two tasks overlapped on one rank"
import collections, sys
by_rank = collections.defaultdict(list)
for line in open(sys.argv[1]):
    i, r, s, e = line.split()
    by_rank[r].append((float(s), float(e), i))
for r, v in by_rank.items():
    v.sort()
    for a, b in zip(v, v[1:]):
        if b[0] < a[1]:
            sys.exit(f"rank {r}: {b[2]} started at {b[0]} before {a[2]} ended at {a[1]}")
PY
n=$(sed -n 's/.*standbys: \([0-9]*\) tasks.*/\1/p' "$d/wf.wfmpi/wfmpi.log")
[ "${n:-0}" -gt 0 ] || fail "no standby was queued: $(grep standbys "$d/wf.wfmpi/wfmpi.log")"
pass "standbys: $n of 15 tasks queued behind another, none overlapping on its rank"

# A drain while standbys wait: they never start, they are interrupted (no
# retry used: every task has retry 0), and the resumed run completes all.
d=$TMP/drain; mkdir -p "$d"
cp "$TMP/order/rec.sh" "$d/"
sed "s|$TMP/order/rec.sh|$d/rec.sh|" <(wf drain 4 4) >"$d/wf.yml"
(cd "$d" && exec "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
   --cores-per-node 2 --drain-grace 5 >"$d/out1" 2>&1) &
mpipid=$!
deadline=$(( $(date +%s) + 30 ))
until [ "$(grep -c . "$d/started.txt" 2>/dev/null || echo 0)" -ge 2 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "two tasks never started: $(cat "$d/out1")"
  sleep 0.1
done
for p in $(pgrep -f "$WFMPI"); do
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$d/run" && kill -USR1 "$p"
done
set +e; wait "$mpipid"; RC=$?; set -e
expect_rc 3 "drained run"
# t1 on the master, t2 on the worker, t3 behind t2 and t4 behind t3.
grep -q 'standbys: 2 tasks' "$d/run/wfmpi.log" || fail "two standbys should wait: $(grep standbys "$d/run/wfmpi.log")"
[ "$(grep -c . "$d/started.txt")" = 2 ] || fail "a standby started during the drain: $(cat "$d/started.txt")"
(cd "$d" && exec "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/run" \
   --cores-per-node 2 >"$d/out2" 2>&1) && RC=0 || RC=$?
expect_rc 0 "resumed run (retry 0: the drain used none)"
[ "$(cut -d' ' -f1 "$d/ledger.txt" | sort -u | wc -l)" = 4 ] || fail "all 4 must finish: $(cat "$d/ledger.txt")"
pass "a drain answers the waiting standbys unstarted, and the resume runs them"
