#!/usr/bin/env bash
# status / analyze / statistics / report on real runs: successes, a retry,
# a task failing for good (and its blocked child), a timeout; then a kill -9
# of the master mid-run and a resume. Every command's text and JSON is
# checked against what the workflow makes happen. Bad run dirs exit 2.
source "$(dirname "$0")/lib.sh"
T=$RUNDATA/task.sh

d=$TMP/mon; mkdir -p "$d"
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
  - {id: r1, name: other, arguments: [--fail-times, 1, --say, retry_me], uses: []}
  - {id: f1, name: task, arguments: [--exit, 3, --say, boom_from_f1], uses: [], profiles: {dagman: {retry: 1}}}
  - {id: b1, name: task, arguments: [], uses: []}
  - {id: t1, name: other, arguments: [--sleep, 5], uses: [], profiles: {pegasus: {maxwalltime: 0.01}, dagman: {retry: 0}}}
jobDependencies:
  - {id: f1, children: [b1]}
YML
wfmpi_mpi -C "$d" 3 wf.yml
expect_rc 1 "run with failures"
R=$d/wf.wfmpi

# jq-free JSON checks: python reads stdin and evaluates assertions.
pycheck() { # WHAT EXPR...: each EXPR must be true with j = the JSON on stdin
  local what=$1; shift
  python3 -c '
import json, sys
j = json.load(sys.stdin)
for e in sys.argv[2:]:
    if not eval(e):
        sys.exit(f"{sys.argv[1]}: false: {e}\n{json.dumps(j, indent=1)[:3000]}")
' "$what" "$@" || fail "$what"
}

# -- status
"$WFMPI" status "$R" >"$TMP/s.txt" || fail "status exit $?"
grep -Eq '^ +0 +0 +0 +4 +2 +1 +57\.1  failed +montest$' "$TMP/s.txt" || fail "status table: $(cat "$TMP/s.txt")"
"$WFMPI" status --json -l "$R" | pycheck "status --json" \
  'j["state"] == "failed"' 'j["counts"] == {"unready":0,"ready":0,"running":0,"done":4,"failed":2,"blocked":1}' \
  'abs(j["percent_done"] - 57.14) < 0.01' 'j["total"] == 7' \
  'sorted(t["id"] for t in j["failed_tasks"]) == ["f1", "t1"]' 'j["running_tasks"] == []'
"$WFMPI" status -l "$R" | grep -q '^  t1 .*timeout after 0.6 s' || fail "status -l lists t1's timeout"
pass "status: counts, state, -l, --json"

# -- analyze: exit 1, each failed task with its attempts, command, output
set +e; "$WFMPI" analyze "$R" >"$TMP/a.txt"; rc=$?; set -e
[ "$rc" = 1 ] || fail "analyze exit $rc, expected 1"
grep -q '# tasks succeeded  :       4' "$TMP/a.txt" || fail "analyze summary: $(cat "$TMP/a.txt")"
grep -q '# tasks blocked    :       1' "$TMP/a.txt" || fail "analyze blocked"
grep -q "command        : $T --exit 3 --say boom_from_f1" "$TMP/a.txt" || fail "analyze command"
grep -q "work dir       : $d" "$TMP/a.txt" || fail "analyze work dir"
grep -q '| boom_from_f1' "$TMP/a.txt" || fail "analyze shows f1's stdout"
# t1 printed nothing: its default logs were never made, which is no error.
grep -q -- '--- stdout: nothing written' "$TMP/a.txt" || fail "analyze on t1's silent stdout"
set +e; "$WFMPI" analyze --json "$R" >"$TMP/a.json"; set -e
pycheck "analyze --json" <"$TMP/a.json" \
  'j["summary"] == {"total":7,"succeeded":4,"failed":2,"blocked":1,"unsubmitted":0,"running":0}' \
  '[t["id"] for t in j["failed_tasks"]] == ["f1", "t1"]' \
  '[a["exit_code"] for a in j["failed_tasks"][0]["attempt_details"]] == [3, 3]' \
  'j["failed_tasks"][0]["transformation"] == "task"' \
  'j["failed_tasks"][0]["stdout_tail"] == ["boom_from_f1"]' \
  'j["failed_tasks"][0]["stdout_path"].endswith("jobs/f1.2.out")' \
  'j["failed_tasks"][1]["attempt_details"][0]["reason"] == "timeout"' \
  'j["failed_tasks"][1]["stdout_tail"] == [] and j["failed_tasks"][1]["stderr_tail"] == []' \
  'j["failed_tasks"][1]["transformation"] == "other"'
pass "analyze: summary, attempts, reasons, command, work dir, stdout tail, exit 1"

# -- statistics
"$WFMPI" statistics "$R" >"$TMP/st.txt" || fail "statistics exit $?"
grep -Eq '^  retries +2$' "$TMP/st.txt" || fail "statistics retries: $(cat "$TMP/st.txt")"
"$WFMPI" statistics --json --csv "$TMP/csv" "$R" | pycheck "statistics --json" \
  'j["tasks"]["succeeded"] == 4' 'j["tasks"]["failed"] == 2' 'j["tasks"]["incomplete"] == 1' \
  'j["tasks"]["attempts"] == 8' 'j["tasks"]["failed_attempts"] == 4' 'j["tasks"]["retries"] == 2' \
  'len(j["runs"]) == 1 and j["runs"][0]["exit_code"] == 1 and j["runs"][0]["ranks"] == 3' \
  '{x["transformation"]: (x["count"], x["succeeded"], x["failed"], x["attempts"]) for x in j["transformations"]} == {"task": (4, 2, 1, 4), "other": (3, 2, 1, 4)}' \
  '0.55 < max(x["max_s"] for x in j["transformations"]) < 2' \
  'j["badput"] >= 0.6 and j["cumulative_task_wall_time"] >= 1.4' \
  'j["utilisation"]["allocated_core_s"] > 0'
[ "$(sed -n 2p "$TMP/csv/transformations.csv" | cut -d, -f1-5)" = '"other",3,2,1,4' ] ||
  fail "transformations.csv: $(cat "$TMP/csv/transformations.csv")"
pass "statistics: tasks, retries, runs, per transformation, --csv"

# -- kill -9 of the master mid-run, then resume: two runs, one killed
k=$TMP/kill; mkdir -p "$k"
python3 "$RUNDATA/gen_dag.py" independent 40 "$T" "$k/wf.yml" /dev/null --sleep 0.3
master_pid() { # rank 0 of the run whose run dir is $1
  for p in $(pgrep -f "$WFMPI"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=0' &&
       tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "$1"; then echo "$p"; return; fi
  done
}
(cd "$k" && exec "$MPIEXEC" -n 3 --oversubscribe "$WFMPI" wf.yml --run-dir "$k/run" >"$k/out1" 2>&1) &
mpipid=$!
for _ in $(seq 1 100); do # until some tasks are done
  grep -qs '"done":[1-9]' "$k/run/status.json" && break; sleep 0.1
done
"$WFMPI" status --json "$k/run" | pycheck "status while running" \
  'j["state"] == "running"' 'j["live"] and j["source"] == "status.json"' 'j["counts"]["done"] >= 1'
pid=$(master_pid "$k/run"); [ -n "$pid" ] || fail "no master to kill"
kill -9 "$pid"; wait "$mpipid" || true
"$WFMPI" status --json "$k/run" | pycheck "status after kill -9" \
  'j["state"] == "stopped"' 'not j["live"]' 'j["counts"]["running"] == 0' \
  '0 < j["counts"]["done"] < 40'
"$WFMPI" status "$k/run" | grep -q 'stopped (resumable' || fail "status text after kill"
wfmpi_mpi -C "$k" 3 wf.yml --run-dir "$k/run"
expect_rc 0 "resume after kill -9"
"$WFMPI" statistics --json "$k/run" | pycheck "statistics after resume" \
  'j["state"] == "finished"' 'j["tasks"]["succeeded"] == 40' \
  '[r["ended"] for r in j["runs"]] == ["killed", "exit 0"]' \
  'j["tasks"]["attempts"] + j["tasks"]["lost_attempts"] >= 40' \
  'abs(j["wall_time"] - sum(r["wall"] for r in j["runs"])) < 1e-6'
"$WFMPI" analyze "$k/run" >/dev/null || fail "analyze of a rescued, successful run: exit $?"
cp -r "$k/run" "$TMP/killed_copy" # for the report test
pass "kill -9 mid-run: status says running, then stopped; resume; statistics per run"

# -- bad run dirs: exit 2 with a message
for bad in "$TMP/nope" "$TMP/empty"; do
  mkdir -p "$TMP/empty"
  for cmd in status analyze statistics; do
    set +e; "$WFMPI" $cmd "$bad" >/dev/null 2>"$TMP/e"; rc=$?; set -e
    [ "$rc" = 2 ] || fail "$cmd $bad: exit $rc, expected 2"
    grep -q "wfmpi: $bad" "$TMP/e" || fail "$cmd $bad: message $(cat "$TMP/e")"
  done
done
cp -r "$R" "$TMP/corrupt"; head -c 3000 "$R/state.h5" >"$TMP/corrupt/state.h5"
for cmd in status analyze statistics "report -o $TMP/x.html"; do
  set +e; "$WFMPI" $cmd "$TMP/corrupt" >/dev/null 2>"$TMP/e"; rc=$?; set -e
  [ "$rc" = 2 ] || fail "$cmd on a truncated state.h5: exit $rc"
  grep -q "state.h5" "$TMP/e" || fail "$cmd names state.h5: $(cat "$TMP/e")"
done
[ ! -e "$TMP/x.html" ] || fail "no report file for a bad run dir"
pass "missing, empty, damaged run dirs: exit 2 naming the problem"
