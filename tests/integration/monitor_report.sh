#!/usr/bin/env bash
# wfmpi report rendered in real headless Chromium: a small run with
# failures, retries and a timeout (one Gantt bar per attempt, failures
# marked, tables with the right numbers), a killed-then-resumed run (two
# runs on the axis), and 10^5 attempts (binned, a few MB, still renders).
# Skips (77) where Chromium is not installed.
source "$(dirname "$0")/lib.sh"
T=$RUNDATA/task.sh
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { echo "SKIP: chromium not installed (scripts/install-deps)"; exit 77; }

render() { # HTML PNG: screenshot and DOM ($HTML.dom)
  local html=$1 png=$2
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --user-data-dir="$TMP/chrome" --screenshot="$png" --window-size=1400,2000 \
    "file://$html" >/dev/null 2>&1 || fail "chromium screenshot of $html"
  timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --no-first-run --user-data-dir="$TMP/chrome" --dump-dom "file://$html" >"$html.dom" \
    2>/dev/null || fail "chromium --dump-dom of $html"
  [ "$(stat -c %s "$png")" -gt 20000 ] || fail "$png is suspiciously small"
  [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "$png is not a PNG"
}

d=$TMP/small; mkdir -p "$d"
cat >"$d/wf.yml" <<YML
pegasus: '5.0'
name: montest
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $T, type: installed}]
  - name: other
    sites: [{name: local, pfn: $T, type: installed}]
jobs:
  - {id: a1, name: task, arguments: [--sleep, 0.3], uses: []}
  - {id: a2, name: task, arguments: [--sleep, 0.3], uses: []}
  - {id: a3, name: other, arguments: [--sleep, 0.2], uses: []}
  - {id: r1, name: other, arguments: [--fail-times, 1], uses: []}
  - {id: f1, name: task, arguments: [--exit, 3], uses: [], profiles: {dagman: {retry: 1}}}
  - {id: b1, name: task, arguments: [], uses: []}
  - {id: t1, name: other, arguments: [--sleep, 5], uses: [], profiles: {pegasus: {maxwalltime: 0.01}, dagman: {retry: 0}}}
jobDependencies:
  - {id: f1, children: [b1]}
YML
wfmpi_mpi -C "$d" 3 wf.yml
expect_rc 1 "small run"
"$WFMPI" report "$d/wf.wfmpi" -o "$d/r.html" 2>/dev/null || fail "report exit $?"
render "$d/r.html" "$d/r.png"
python3 - "$d/r.html.dom" <<'PY' || fail "small report DOM"
import re, sys
dom = open(sys.argv[1]).read()
bars = re.findall(r'<rect class="bar[^"]*" data-task="(\d+)" data-attempt="(\d+)"', dom)
if len(bars) != 8: sys.exit(f"{len(bars)} bars, expected 8 (one per attempt)")
if len(set(bars)) != 8: sys.exit("an attempt drawn twice")
fails = len(re.findall(r'<rect class="bar fail"', dom))
if fails != 4: sys.exit(f"{fails} failed bars, expected 4 (r1#1, f1#1, f1#2, t1#1)")
cards = dict(re.findall(r'<b id="c-(\w+)">([^<]*)</b>', dom))
want = {"total": "7", "done": "4", "failed": "2", "blocked": "1", "incomplete": "1",
        "attempts": "8", "retries": "2"}
if any(cards.get(k) != v for k, v in want.items()): sys.exit(f"cards {cards}")
def row(name):
    m = re.search(r"<tr><td>" + name + r"</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", dom)
    return re.findall(r"<td[^>]*>([^<]*)</td>", m.group(1)) if m else None
if row("task")[:4] != ["4", "2", "1", "4"] or row("other")[:4] != ["3", "2", "1", "4"]:
    sys.exit(f"transformation rows {row('task')} {row('other')}")
failed = re.search(r"<h2>Failed tasks \((\d+)\)</h2>", dom)
if not failed or failed.group(1) != "2": sys.exit("failed tasks heading")
if "timeout after 0.6 s" not in dom: sys.exit("t1's timeout missing from the failed table")
if re.search(r"<script|https?://(?!www\.w3\.org/2000/svg)", dom): sys.exit("not self-contained")
PY
pass "small run: one bar per attempt, failures marked, cards and tables right (Chromium)"

# -- killed then resumed: both runs on the axis
k=$TMP/kill; mkdir -p "$k"
python3 "$RUNDATA/gen_dag.py" independent 30 "$T" "$k/wf.yml" /dev/null --sleep 0.3
(cd "$k" && exec "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" wf.yml --run-dir "$k/run" >/dev/null 2>&1) &
mpipid=$!
for _ in $(seq 1 100); do grep -qs '"done":[1-9]' "$k/run/status.json" && break; sleep 0.1; done
for p in $(pgrep -f "$k/run"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0' && kill -9 "$p"
done
wait "$mpipid" || true
wfmpi_mpi -C "$k" 3 wf.yml --run-dir "$k/run"
expect_rc 0 "resume"
"$WFMPI" report "$k/run" -o "$k/r.html" 2>/dev/null || fail "report of a rescued run"
render "$k/r.html" "$k/r.png"
grep -q 'run 1 (killed)' "$k/r.html.dom" || fail "run 1 shown as killed"
grep -q 'run 2 (ended)' "$k/r.html.dom" || fail "run 2 shown"
n=$(grep -o '<rect class="bar' "$k/r.html.dom" | wc -l)
a=$("$WFMPI" statistics --json "$k/run" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"]["attempts"])')
[ "$n" = "$a" ] || fail "rescued run: $n bars for $a attempts"
pass "killed and resumed: runs side by side, one bar per recorded attempt"

# -- 10^5 attempts: binned, small file, renders
b=$TMP/big; mkdir -p "$b"
python3 "$RUNDATA/gen_dag.py" independent 100000 /bin/true "$b/wf.yml" /dev/null
wfmpi_mpi -C "$b" 2 wf.yml --exec null --cores-per-node 100000 --progress 1000
expect_rc 0 "10^5 null run"
"$WFMPI" report "$b/wf.wfmpi" -o "$b/r.html" 2>/dev/null || fail "big report"
size=$(stat -c %s "$b/r.html")
[ "$size" -lt 4000000 ] || fail "10^5 attempts: report is $size bytes"
grep -q 'data-mode="binned"' "$b/r.html" || fail "10^5 attempts should be binned"
render "$b/r.html" "$b/r.png"
grep -q '<b id="c-done">100000</b>' "$b/r.html.dom" || fail "big report cards"
pass "10^5 attempts: binned Gantt, $((size / 1024)) KiB, renders in Chromium"
# WFMPI_KEEP_REPORTS=DIR keeps the screenshots for a person to look at.
if [ -n "${WFMPI_KEEP_REPORTS:-}" ]; then
  for x in small kill big; do cp "$TMP/$x/r.png" "$WFMPI_KEEP_REPORTS/$x.png"; done
fi
