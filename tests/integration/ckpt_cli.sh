#!/usr/bin/env bash
# Rescue restarts from the command line: a rerun of a finished workflow runs
# nothing; a changed workflow is refused (exit 2, what changed) unless
# --force-resume, which reruns only changed and new jobs; --fresh moves the
# old run dir aside; damaged state files are an error naming the file (exit
# 2), never a silent fresh start.
source "$(dirname "$0")/lib.sh"
d=$TMP/w; mkdir -p "$d"
python3 "$RUNDATA/gen_dag.py" diamond 4 "$RUNDATA/task.sh" "$d/wf.yml" "$d/edges"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "first run"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun of a finished run"
grep -q "resumed .*4 done" "$TMP/out" || fail "rerun should report 4 done"
[ "$(wc -l <"$d/ledger.txt")" = 4 ] || fail "a finished workflow's rerun must run nothing"
pass "rerun of a finished workflow runs nothing"

# A changed workflow: one job added.
sed -i 's/^jobDependencies:/  - {id: E, name: task, arguments: [], uses: []}\njobDependencies:/' "$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 2 "changed workflow"
grep -q "1 jobs added, 0 removed, 0 changed" "$TMP/err" || fail "message: $(cat "$TMP/err")"
grep -q -- "--force-resume" "$TMP/err" || fail "message should name --force-resume"
[ "$(wc -l <"$d/ledger.txt")" = 4 ] || fail "nothing may run when refused"
wfmpi_mpi -C "$d" 2 wf.yml --force-resume
expect_rc 0 "--force-resume"
[ "$(wc -l <"$d/ledger.txt")" = 5 ] && grep -q '^E ' "$d/ledger.txt" ||
  fail "--force-resume should run only the new job"
pass "changed workflow refused, --force-resume runs only what changed"

# Damaged state: truncated state.h5, then a damaged journal record.
cp -r "$d/wf.wfmpi" "$TMP/backup"
truncate -s 700 "$d/wf.wfmpi/state.h5"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 2 "truncated state.h5"
grep -q "state.h5" "$TMP/err" || fail "message should name state.h5: $(cat "$TMP/err")"
[ "$(wc -l <"$d/ledger.txt")" = 5 ] || fail "nothing may run on a damaged state"
rm -rf "$d/wf.wfmpi" && cp -r "$TMP/backup" "$d/wf.wfmpi"
python3 - "$d/wf.wfmpi/journal" <<'PY'
import sys, struct
p = sys.argv[1]
hdr = open(p, 'rb').read(88)
rec = lambda seq, payload: struct.pack('<IIQB', len(payload), 0xdeadbeef, seq, 2) + payload
# Two records with bad checksums: damage, not a torn tail.
open(p, 'wb').write(hdr + rec(10**9, b'x' * 32) + rec(10**9 + 1, b'y' * 32))
PY
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 2 "damaged journal"
grep -q "journal: damaged record" "$TMP/err" || fail "message: $(cat "$TMP/err")"
pass "damaged state.h5 / journal: exit 2 naming the file, nothing run"

wfmpi_mpi -C "$d" 2 wf.yml --fresh
expect_rc 0 "--fresh"
grep -q "moved to .*wf.wfmpi.old-" "$TMP/out" || fail "--fresh should say where the old run dir went"
ls -d "$d"/wf.wfmpi.old-* >/dev/null || fail "the old run dir must be kept"
[ "$(wc -l <"$d/ledger.txt")" = 10 ] || fail "--fresh reruns everything"
pass "--fresh moves the old run dir aside and starts over"
