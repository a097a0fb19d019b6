#!/usr/bin/env bash
# The plan cache (RUN_DIR/plan.cache, docs/planning.md): a run writes it; the
# rerun that resumes loads it instead of planning and reruns only what was
# left; touching the workflow or a catalog plans from the YAML again (and a
# real change is still refused by the checkpoint, exit 2); a damaged cache
# is ignored with a log line and replaced, and the run still resumes; --fresh
# never uses the old run's cache; --no-checkpoint neither reads nor writes one.
source "$(dirname "$0")/lib.sh"

# A diamond whose last task's 1 h estimate does not fit a 10 min allocation:
# the first run does A, B, C and stops (exit 3). sites.yml beside it is a
# default catalog the loader reads.
make_wf() { # DIR
  mkdir -p "$1"
  cat >"$1/wf.yml" <<YML
pegasus: '5.0'
name: cached
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $RUNDATA/task.sh, type: installed}]
jobs:
  - {id: A, name: task, arguments: [], uses: []}
  - {id: B, name: task, arguments: [], uses: []}
  - {id: C, name: task, arguments: [], uses: []}
  - {id: D, name: task, arguments: [], uses: [], profiles: {pegasus: {runtime: 3600}}}
jobDependencies:
  - {id: A, children: [B, C]}
  - {id: B, children: [D]}
  - {id: C, children: [D]}
YML
  cat >"$1/sites.yml" <<YML
pegasus: '5.0'
sites:
  - name: local
    directories: []
YML
}

partial_run() { # DIR: A, B, C done, D held back
  wfmpi_mpi -C "$1" 2 wf.yml --walltime-end $(($(date +%s) + 600)) --drain-before 1
  expect_rc 3 "first run (D held back by the walltime)"
  [ "$(sort "$1/ledger.txt" | cut -d' ' -f1 | tr '\n' ' ')" = "A B C " ] ||
    fail "first run should run A, B, C: $(cat "$1/ledger.txt")"
}

# The last start-up line of the run dir's log.
startup() { grep 'start-up: planned in' "$1/wf.wfmpi/wfmpi.log" | tail -1; }
expect_cached() { # DIR WHAT
  startup "$1" | grep -q '(loaded from plan.cache)' || fail "$2: $(startup "$1")"
}
expect_planned() { # DIR WHAT
  startup "$1" | grep -q '(from the workflow)' || fail "$2: $(startup "$1")"
}
ran() { cut -d' ' -f1 "$1/ledger.txt" | sort | tr '\n' ' '; }

# -- 1. written by the first run, loaded by the resume
d=$TMP/w1
make_wf "$d"
partial_run "$d"
[ -s "$d/wf.wfmpi/plan.cache" ] || fail "the first run should write plan.cache"
expect_planned "$d" "first run"
grep -q 'plan cache: saved .*plan.cache' "$d/wf.wfmpi/wfmpi.log" || fail "no 'saved' line"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "resume"
expect_cached "$d" "the resume should load the plan from the cache"
grep -q "resumed .*3 done, 0 failed, 0 requeued" "$TMP/out" || fail "resume: $(cat "$TMP/out")"
[ "$(ran "$d")" = "A B C D " ] || fail "the resume should run only D: $(ran "$d")"
pass "plan.cache written by the first run, loaded by the resume, which runs only D"

# -- 2. touched or edited inputs plan from the YAML again
touch "$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun after touching wf.yml"
expect_planned "$d" "a touched workflow must be planned again"
grep -q "plan cache: .*wf.yml changed" "$d/wf.wfmpi/wfmpi.log" || fail "no line saying wf.yml changed"
wfmpi_mpi -C "$d" 2 wf.yml
expect_cached "$d" "the cache written after replanning should be used"
touch "$d/sites.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun after touching sites.yml"
expect_planned "$d" "a touched catalog must be planned again"
grep -q "plan cache: .*sites.yml changed" "$d/wf.wfmpi/wfmpi.log" || fail "no line saying sites.yml changed"
wfmpi_mpi -C "$d" 2 wf.yml
expect_cached "$d" "cached again"
cat >"$d/replicas.yml" <<YML
pegasus: '5.0'
replicas: []
YML
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun after a default catalog appeared"
expect_planned "$d" "a new default catalog must be planned again"
[ "$(ran "$d")" = "A B C D " ] || fail "reruns of a finished run must run nothing: $(ran "$d")"
pass "a touched workflow or catalog, or a new default catalog, is planned from the YAML"

# A real change: planned from the YAML, refused by the checkpoint as before,
# and the cache is left alone (it is written only once the checkpoint opened).
cp "$d/wf.yml" "$TMP/wf.yml.orig"
sum=$(cksum <"$d/wf.wfmpi/plan.cache")
sed -i 's/^jobDependencies:/  - {id: E, name: task, arguments: [], uses: []}\njobDependencies:/' "$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 2 "changed workflow"
grep -q "1 jobs added" "$TMP/err" || fail "message: $(cat "$TMP/err")"
[ "$(cksum <"$d/wf.wfmpi/plan.cache")" = "$sum" ] || fail "a refused run must not rewrite plan.cache"
cp "$TMP/wf.yml.orig" "$d/wf.yml"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "the original workflow back (new mtime)"
expect_planned "$d" "restored workflow"
pass "a changed workflow is planned from the YAML and refused by the checkpoint (exit 2)"

# -- 3. a damaged cache is ignored, logged, replaced; the run still resumes
d=$TMP/w2
make_wf "$d"
partial_run "$d"
size=$(stat -c %s "$d/wf.wfmpi/plan.cache")
# The last byte: in the string table, at the end of the body.
printf '\xff' | dd of="$d/wf.wfmpi/plan.cache" bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "resume with a damaged plan.cache"
expect_planned "$d" "a damaged cache must not be used"
grep -q "plan cache: .*plan.cache: damaged .*: ignored, and replaced" "$d/wf.wfmpi/wfmpi.log" ||
  fail "no log line for the damaged cache: $(grep 'plan cache' "$d/wf.wfmpi/wfmpi.log")"
[ "$(ran "$d")" = "A B C D " ] || fail "the resume should run only D: $(ran "$d")"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun"
expect_cached "$d" "the replaced cache should be used"
truncate -s 100 "$d/wf.wfmpi/plan.cache"
wfmpi_mpi -C "$d" 2 wf.yml
expect_rc 0 "rerun with a truncated plan.cache"
expect_planned "$d" "a truncated cache must not be used"
grep -q "plan cache: .*truncated" "$d/wf.wfmpi/wfmpi.log" || fail "no log line for the truncated cache"
pass "a damaged or truncated plan.cache is ignored with a log line and replaced; the run resumes"

# -- 4. --fresh plans from the YAML; --no-checkpoint neither reads nor writes
wfmpi_mpi -C "$d" 2 wf.yml --fresh
expect_rc 0 "--fresh"
expect_planned "$d" "--fresh must not use the old run's cache"
old=$(ls -d "$d"/wf.wfmpi.old-* | head -1)
[ -s "$old/plan.cache" ] || fail "the old cache moves aside with the old run dir"
[ -s "$d/wf.wfmpi/plan.cache" ] || fail "--fresh writes a new cache"
wfmpi_mpi -C "$d" 2 wf.yml
expect_cached "$d" "the cache of the fresh run"
sum=$(cksum <"$d/wf.wfmpi/plan.cache")
wfmpi_mpi -C "$d" 2 wf.yml --no-checkpoint
expect_rc 0 "--no-checkpoint"
expect_planned "$d" "--no-checkpoint must not read the cache"
[ "$(cksum <"$d/wf.wfmpi/plan.cache")" = "$sum" ] || fail "--no-checkpoint must not write the cache"
wfmpi_mpi -C "$d" 2 wf.yml --no-checkpoint --run-dir nock
[ ! -e "$d/nock/plan.cache" ] || fail "--no-checkpoint must not write a cache"
pass "--fresh plans from the YAML and writes a new cache; --no-checkpoint leaves it alone"
