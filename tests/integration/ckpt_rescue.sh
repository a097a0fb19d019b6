#!/usr/bin/env bash
# DAGMan rescue semantics (docs/checkpoint.md, "Resume"): a task fails for
# want of a file; the user adds it and resubmits the same command. The rerun
# gives the FAILED task a fresh set of retries, so it and the descendants it
# blocked run, and nothing that succeeded runs again. --no-retry-failed keeps
# the old verdict; a rescue that fails again uses its new retries, no more.
source "$(dirname "$0")/lib.sh"
d=$TMP/w; mkdir -p "$d"
cat >"$d/need.sh" <<'SH'
#!/bin/sh
# Appends "ID ATTEMPT" to the ledger; fails while NEED (if given) is missing.
echo "$WFMPI_TASK_ID $WFMPI_ATTEMPT" >>ledger.txt
[ -z "$1" ] || [ -e "$1" ] || { echo "missing $1" >&2; exit 1; }
SH
chmod +x "$d/need.sh"
cat >"$d/wf.yml" <<EOF2
pegasus: '5.0'
name: rescue
transformationCatalog:
  transformations:
  - name: need
    sites:
    - {name: local, pfn: $d/need.sh, type: installed}
jobs:
- {type: job, id: A, name: need, arguments: [], uses: []}
- {type: job, id: B, name: need, arguments: [], uses: []}
- {type: job, id: C, name: need, arguments: [fixed.txt], uses: []}
- {type: job, id: D, name: need, arguments: [], uses: []}
- {type: job, id: E, name: need, arguments: [], uses: []}
jobDependencies:
- {id: A, children: [B, C]}
- {id: B, children: [D]}
- {id: C, children: [D]}
EOF2
ran() { sort "$d/ledger.txt" | tr '\n' ' '; }

wfmpi_mpi -C "$d" 2 wf.yml --retries 1
expect_rc 1 "first run: C fails"
[ "$(ran)" = "A 1 B 1 C 1 C 2 E 1 " ] || fail "first run ran: $(ran)"
pass "C fails twice (one retry), D is blocked, the rest ran"

wfmpi_mpi -C "$d" 2 wf.yml --retries 1 --no-retry-failed
expect_rc 1 "--no-retry-failed"
[ "$(ran)" = "A 1 B 1 C 1 C 2 E 1 " ] || fail "--no-retry-failed ran something: $(ran)"
grep -q "resumed .*3 done, 1 failed" "$TMP/out" || fail "resume line: $(cat "$TMP/out")"
pass "--no-retry-failed keeps the failure and runs nothing"

# Not fixed yet: the rescue uses a fresh set of retries (two attempts), no more.
wfmpi_mpi -C "$d" 2 wf.yml --retries 1
expect_rc 1 "rescue without the fix"
[ "$(ran)" = "A 1 B 1 C 1 C 2 C 3 C 4 E 1 " ] || fail "unfixed rescue ran: $(ran)"
grep -q "retrying 1 failed task(s) .*the 1 blocked below them: C" "$TMP/out" ||
    fail "the rerun should say what it retries: $(cat "$TMP/out")"
pass "a rescue that fails again uses its fresh retries and stops"

# Fixed: only C (attempt 5) and the D it blocked run; exit 0.
touch "$d/fixed.txt"
wfmpi_mpi -C "$d" 2 wf.yml --retries 1
expect_rc 0 "rescue after the fix"
[ "$(ran)" = "A 1 B 1 C 1 C 2 C 3 C 4 C 5 D 1 E 1 " ] || fail "fixed rescue ran: $(ran)"
grep -q "retrying 1 failed task(s)" "$TMP/out" || fail "no rescue line: $(cat "$TMP/out")"
"$WFMPI" status "$d/wf.wfmpi" >"$TMP/status" || fail "status after the rescue: $(cat "$TMP/status")"
awk 'NR == 2 && $4 == 5 && $5 == 0 && $6 == 0 && $8 == "finished" {ok = 1} END {exit !ok}' \
    "$TMP/status" || fail "status after the rescue: $(cat "$TMP/status")"
pass "after the fix the rerun runs only the failed task and its descendants, exit 0"

wfmpi_mpi -C "$d" 2 wf.yml --retries 1
expect_rc 0 "rerun of the rescued run"
[ "$(wc -l <"$d/ledger.txt")" = 9 ] || fail "a finished rescue's rerun must run nothing: $(ran)"
pass "a finished rescue's rerun runs nothing"
