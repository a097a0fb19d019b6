#!/usr/bin/env bash
# Failure handling as Pegasus/DAGMan users expect it: retries, a task failing
# for good blocks only its descendants while independent branches finish
# (exit 1), timeouts, missing outputs, success/failure messages, a missing
# executable, and a request no node can hold (exit 2, nothing runs).
source "$(dirname "$0")/lib.sh"
T=$RUNDATA/task.sh

header() { # NAME
  cat <<YML
pegasus: '5.0'
name: $1
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $T, type: installed}]
  - name: missing
    sites: [{name: local, pfn: /nonexistent/bin/tool, type: installed}]
jobs:
YML
}

in_dir() { # DIR RANKS ARGS...: run wfmpi inside DIR
  local d=$1; shift
  wfmpi_mpi -C "$d" "$@"
}

# -- retries: fail twice then succeed with dagman.retry 2; default --retries 1
d=$TMP/retry; mkdir -p "$d"
{ header retry; cat <<YML
  - {id: r2, name: task, arguments: [--fail-times, 2], uses: [], profiles: {dagman: {retry: 2}}}
  - {id: r1, name: task, arguments: [--fail-times, 1], uses: []}
YML
} >"$d/wf.yml"
in_dir "$d" 3 wf.yml
expect_rc 0 "retry"
[ "$(grep -c '^r2 ' "$d/ledger.txt")" = 3 ] || fail "r2 should run 3 attempts"
[ "$(awk '$1=="r2"{print $2}' "$d/ledger.txt" | sort | tr '\n' ' ')" = "1 2 3 " ] ||
  fail "r2 attempts should be numbered 1 2 3"
[ "$(grep -c '^r1 ' "$d/ledger.txt")" = 2 ] || fail "r1 should run 2 attempts (default retry 1)"
grep -q "Retries         : 3" "$TMP/out" || fail "summary should count 3 retries"
pass "retries (dagman.retry and --retries default)"

# -- failure for good: A -> B(fails) -> C blocked; D -> E completes
d=$TMP/fail; mkdir -p "$d"
{ header fail; cat <<YML
  - {id: A, name: task, arguments: [], uses: []}
  - {id: B, name: task, arguments: [--exit, 3], uses: [], profiles: {dagman: {retry: 0}}}
  - {id: C, name: task, arguments: [], uses: []}
  - {id: D, name: task, arguments: [--sleep, "0.5"], uses: []}
  - {id: E, name: task, arguments: [], uses: []}
jobDependencies:
  - {id: A, children: [B]}
  - {id: B, children: [C]}
  - {id: D, children: [E]}
YML
} >"$d/wf.yml"
in_dir "$d" 4 wf.yml
expect_rc 1 "failed task"
grep -q '^E ' "$d/ledger.txt" || fail "independent branch D -> E must complete"
grep -q '^C ' "$d/ledger.txt" && fail "C must not run: its parent failed"
grep -q "Failed          : 1" "$TMP/out" || fail "summary: one failed"
grep -q "Blocked         : 1" "$TMP/out" || fail "summary: one blocked"
grep -q "Succeeded       : 3" "$TMP/out" || fail "summary: three succeeded"
grep -q "FAILED B after 1 attempt(s): exit code 3" "$TMP/out" || fail "failure reason: $(cat "$TMP/out")"
pass "failure blocks descendants only, exit 1"

# -- timeout (maxwalltime in minutes), missing output, messages, missing exe
d=$TMP/judge; mkdir -p "$d"
{ header judge; cat <<YML
  - {id: slow, name: task, arguments: [--sleep, "30"], uses: [],
     profiles: {pegasus: {maxwalltime: 0.02}, dagman: {retry: 0}}}
  - {id: noout, name: task, arguments: [], uses: [{lfn: never.txt, type: output}],
     profiles: {dagman: {retry: 0}}}
  - {id: optout, name: task, arguments: [], uses: [{lfn: maybe.txt, type: output, optional: true}]}
  - {id: okmsg, name: task, arguments: [--say, all_good_here], uses: [],
     profiles: {pegasus: {exitcode.successmsg: all_good}}}
  - {id: nomsg, name: task, arguments: [--say, something_else], uses: [],
     profiles: {pegasus: {exitcode.successmsg: all_good}, dagman: {retry: 0}}}
  - {id: errmsg, name: task, arguments: [--say, ERROR_disk_full], uses: [],
     profiles: {pegasus: {exitcode.failuremsg: "ERROR"}, dagman: {retry: 0}}}
  - {id: noexe, name: missing, arguments: [], uses: [], profiles: {dagman: {retry: 0}}}
YML
} >"$d/wf.yml"
start=$(date +%s)
in_dir "$d" 3 wf.yml --kill-grace 1
expect_rc 1 "judging"
[ $(( $(date +%s) - start )) -lt 20 ] || fail "the 30 s task was not stopped by its 1.2 s walltime"
grep -q "FAILED slow after 1 attempt(s): timeout" "$TMP/out" || fail "timeout reason: $(cat "$TMP/out")"
grep -q "FAILED noout .*missing output 'never.txt'" "$TMP/out" || fail "missing output reason"
grep -q "FAILED nomsg .*success message" "$TMP/out" || fail "success message reason"
grep -q "FAILED errmsg .*failure message 'ERROR'" "$TMP/out" || fail "failure message reason"
grep -q "FAILED noexe .*No such file or directory" "$TMP/out" || fail "missing executable reason"
grep -q "Succeeded       : 2" "$TMP/out" || fail "okmsg and optout should succeed"
pass "timeout, outputs, success/failure messages, missing executable"

# -- a request no node can hold: exit 2 on every rank, nothing runs
d=$TMP/big; mkdir -p "$d"
{ header big; cat <<YML
  - {id: huge, name: task, arguments: [], uses: [], profiles: {pegasus: {cores: 100000}}}
  - {id: fine, name: task, arguments: [], uses: []}
YML
} >"$d/wf.yml"
in_dir "$d" 4 wf.yml
expect_rc 2 "oversized request"
# Decided after node discovery, but said like every input error: at the
# job's file:line:col (line 10 of wf.yml, the job's mapping at column 5).
grep -qF "wf.yml:10:5: task 'huge' asks for 100000 cores but the largest node has" "$TMP/err" ||
  fail "the message should name the job's file:line:col and the task: $(cat "$TMP/err")"
[ ! -e "$d/ledger.txt" ] || fail "nothing may run when the plan cannot be placed"
# A sub-workflow's job is named in its own file.
cp "$d/wf.yml" "$d/inner.yml"
{ header outer; cat <<YML
  - {id: sub, type: pegasusWorkflow, file: inner.yml, arguments: []}
YML
} >"$d/outer.yml"
in_dir "$d" 4 outer.yml
expect_rc 2 "oversized request in a sub-workflow"
grep -qF "inner.yml:10:5: task 'sub/huge' asks for 100000 cores" "$TMP/err" ||
  fail "sub-workflow: $(cat "$TMP/err")"
[ ! -e "$d/ledger.txt" ] || fail "nothing may run when the plan cannot be placed"
# From a plan the plan cache holds: a run that fits writes it; the rerun on
# nodes too small for the job loads it (planning again would fail, as its
# input has gone) and names the job's position that the cache kept.
d=$TMP/bigcached; mkdir -p "$d"
{ header bigcached; cat <<YML
  - {id: wide, name: task, arguments: [], uses: [{lfn: in.dat, type: input}], profiles: {pegasus: {cores: 2}}}
YML
} >"$d/wf.yml"
echo data >"$d/in.dat"
in_dir "$d" 2 wf.yml --cores-per-node 4
expect_rc 0 "2-core job on 4-core nodes"
[ -n "$(find "$d" -name plan.cache)" ] || fail "no plan cache written"
rm "$d/in.dat"
in_dir "$d" 2 wf.yml --cores-per-node 1
expect_rc 2 "2-core job on 1-core nodes, plan from the cache"
grep -qF "wf.yml:10:5: task 'wide' asks for 2 cores but the largest node has 1" "$TMP/err" ||
  fail "cached plan: $(cat "$TMP/err")"
pass "oversized request is exit 2 before anything runs, at the job's file:line:col"

# -- bad YAML under mpiexec: exit 2 with file:line:col, nothing runs
d=$TMP/bad; mkdir -p "$d"
printf 'pegasus: "5.0"\nname: bad\njobs:\n  - id: [oops\n' >"$d/wf.yml"
in_dir "$d" 4 wf.yml
expect_rc 2 "bad yaml"
grep -q "wf.yml:[0-9]*:[0-9]*:" "$TMP/err" || fail "bad yaml should name file:line:col"
pass "bad workflow under mpiexec: exit 2"
