#!/usr/bin/env bash
# One run per run dir (docs/checkpoint.md, "The run directory"): a second
# run of the same workflow, started with the first or 1.5 s after it, refuses
# at once with exit 2 naming the holder, and no task runs twice (ledger);
# --fresh never moves a live run's directory aside; the lock is the
# kernel's, so it goes with its holder, even a killed one.
source "$(dirname "$0")/lib.sh"
d=$TMP/w; mkdir -p "$d"
python3 "$RUNDATA/gen_dag.py" independent 6 "$RUNDATA/task.sh" "$d/wf.yml" "$d/edges" --sleep 1.5

# run OUT: wfmpi on 2 ranks in $d in the background; its exit code goes to OUT.rc.
# The run dir is named on the command line (it is the default one) so that
# the kill below finds this test's processes only, not another test's.
run() {
    (set +e; cd "$d" && "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" wf.yml --run-dir "$d/wf.wfmpi" \
       "${@:2}" >"$1.out" 2>"$1.err"
     echo $? >"$1.rc") &
}
twice() { sort "$d/ledger.txt" | awk '{print $1}' | uniq -d | tr '\n' ' '; }
holder_named() { grep -q "in use by another wfmpi run (host .* pid [0-9]* since " "$1.err"; }

# Started together (a fresh run dir: both plan, one locks it first).
run "$TMP/a"; run "$TMP/b"; wait
codes=$(cat "$TMP/a.rc" "$TMP/b.rc" | sort | tr '\n' ' ')
[ "$codes" = "0 2 " ] || fail "simultaneous runs exited $codes, want one 0 and one 2: $(cat "$TMP"/[ab].err)"
loser=$TMP/a; [ "$(cat "$TMP/a.rc")" = 2 ] || loser=$TMP/b
holder_named "$loser" || fail "the refusal should name the holder: $(cat "$loser.err")"
[ -z "$(twice)" ] || fail "tasks ran twice: $(twice)"
[ "$(wc -l <"$d/ledger.txt")" = 6 ] || fail "ledger: $(cat "$d/ledger.txt")"
pass "two runs started together: one runs, the other refuses (exit 2), nothing runs twice"

# 1.5 s apart, on a run dir that exists (a resubmission while the job runs).
rm -f "$d/ledger.txt"
run "$TMP/c" --fresh
sleep 1.5
t0=$(date +%s.%N)
run "$TMP/e"; wait "$!"
t1=$(date +%s.%N)
[ "$(cat "$TMP/e.rc")" = 2 ] || fail "second run exited $(cat "$TMP/e.rc"): $(cat "$TMP/e.err")"
holder_named "$TMP/e" || fail "the refusal should name the holder: $(cat "$TMP/e.err")"
python3 -c "import sys; sys.exit(0 if $t1 - $t0 < 5 else 1)" || fail "the refusal should be at once"
# --fresh may not move the live run's directory aside.
run "$TMP/f" --fresh; wait "$!"
[ "$(cat "$TMP/f.rc")" = 2 ] || fail "--fresh on a live run exited $(cat "$TMP/f.rc")"
wait
[ "$(cat "$TMP/c.rc")" = 0 ] || fail "the first run exited $(cat "$TMP/c.rc"): $(cat "$TMP/c.err")"
[ -z "$(twice)" ] && [ "$(wc -l <"$d/ledger.txt")" = 6 ] || fail "ledger: $(cat "$d/ledger.txt")"
n_old=$(ls -d "$d"/wf.wfmpi.old-* | wc -l)
[ "$n_old" = 1 ] || fail "only the first run's --fresh may move a run dir aside: $n_old moved"
pass "a second run 1.5 s later refuses at once; --fresh never moves a live run aside"

# The lock goes with its holder: after the first run ended, and after a kill -9.
run "$TMP/g"; wait "$!"
[ "$(cat "$TMP/g.rc")" = 0 ] || fail "rerun after the end: $(cat "$TMP/g.err")"
rm -f "$d/ledger.txt"
run "$TMP/h" --fresh
for _ in $(seq 100); do [ -s "$d/ledger.txt" ] && break; sleep 0.1; done
pkill -9 -f -- "--run-dir $d/wf.wfmpi" || :
wait
[ "$(cat "$TMP/h.rc")" != 0 ] || fail "the kill -9 came too late: the run had finished"
run "$TMP/i"; wait "$!"
[ "$(cat "$TMP/i.rc")" = 0 ] || fail "rerun after kill -9: $(cat "$TMP/i.rc") $(cat "$TMP/i.err")"
pass "the lock is released with its holder (normal end, kill -9)"
