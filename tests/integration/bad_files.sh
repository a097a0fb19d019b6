#!/usr/bin/env bash
# Bad inputs that cannot be files of the corpus (tests/data/bad): a workflow
# or catalog that is missing, unreadable, a directory, a FIFO or a device;
# --work-dir naming a file; unknown keys, a warning by default and an error
# with --strict. Each is exit 2 with a message naming the file before
# anything runs, for `wfmpi plan` and for `wfmpi run` on 2 ranks (a task that
# would append to a ledger never does, no run dir is made). A FIFO must be
# refused at once: every command runs under a timeout, so a blocking open
# fails the test instead of hanging it.
source "$(dirname "$0")/lib.sh"
T=$RUNDATA/task.sh
cd "$TMP"

# A workflow whose one task appends to ledger.txt, with extra job keys.
write_job_wf() { # PATH [JOB LINES...]
  local path=$1; shift
  {
    cat <<YML
pegasus: '5.0'
name: bad-files
transformationCatalog:
  transformations:
  - name: task
    sites: [{name: local, pfn: $T, type: installed}]
jobs:
  - type: job
    id: a
    name: task
    arguments: []
YML
    local l
    for l in "$@"; do echo "    $l"; done
  } >"$path"
}
write_job_wf good.yml

plan_bad() { # WHAT SUBSTRING ARGS...: `wfmpi plan ARGS` exits 2 saying SUBSTRING
  local what=$1 sub=$2; shift 2
  set +e
  timeout 30 "$WFMPI" plan "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
  expect_rc 2 "plan: $what"
  grep -qF -- "$sub" "$TMP/err" || fail "plan: $what: stderr lacks '$sub': $(cat "$TMP/err")"
}

run_bad() { # WHAT SUBSTRING ARGS...: `wfmpi run ARGS` on 2 ranks: exit 2, nothing ran
  local what=$1 sub=$2; shift 2
  rm -f ledger.txt
  set +e
  timeout 60 "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" run "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
  expect_rc 2 "run: $what"
  grep -qF -- "$sub" "$TMP/err" || fail "run: $what: stderr lacks '$sub': $(cat "$TMP/err")"
  [ ! -e ledger.txt ] || fail "run: $what: a task ran: $(cat ledger.txt)"
  local made
  made=$(find . -name '*.wfmpi')
  [ -z "$made" ] || fail "run: $what: a run dir was made: $made"
}

# -- the workflow file
plan_bad "missing workflow" "nosuch.yml: cannot read the workflow file: No such file or directory" nosuch.yml
run_bad "missing workflow" "nosuch.yml: cannot read the workflow file" nosuch.yml
mkdir dir.yml
plan_bad "directory" "dir.yml: the workflow file is a directory, not a regular file" dir.yml
run_bad "directory" "the workflow file is a directory" dir.yml
mkfifo fifo.yml
plan_bad "FIFO" "fifo.yml: the workflow file is a FIFO, not a regular file" fifo.yml
run_bad "FIFO" "the workflow file is a FIFO" fifo.yml
plan_bad "device" "/dev/null: the workflow file is a character device" /dev/null
run_bad "device" "the workflow file is a character device" --run-dir devnull.wfmpi /dev/null
pass "a workflow that is missing, a directory, a FIFO or a device: exit 2 at once"

# Unreadable: root reads anything, so as root the check runs as nobody.
cp good.yml unreadable.yml
chmod 000 unreadable.yml
if [ "$(id -u)" != 0 ]; then
  plan_bad "unreadable" "unreadable.yml: cannot read the workflow file: Permission denied" unreadable.yml
  pass "an unreadable workflow: exit 2"
elif command -v setpriv >/dev/null && chmod 755 "$TMP" &&
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$WFMPI" version >/dev/null 2>&1; then
  set +e
  timeout 30 setpriv --reuid=nobody --regid=nogroup --clear-groups "$WFMPI" plan unreadable.yml \
    >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
  expect_rc 2 "plan: unreadable (as nobody)"
  grep -qF "unreadable.yml: cannot read the workflow file: Permission denied" "$TMP/err" ||
    fail "unreadable: $(cat "$TMP/err")"
  pass "an unreadable workflow: exit 2 (as nobody)"
else
  echo "skip - unreadable workflow: running as root without setpriv or a usable nobody"
fi

# -- catalog files, given or beside the workflow
plan_bad "--rc missing" "nosuch-rc.yml: cannot read the replica catalog file: No such file" \
  --rc nosuch-rc.yml good.yml
plan_bad "--tc FIFO" "fifo.yml: the transformation catalog file is a FIFO" --tc fifo.yml good.yml
plan_bad "--sc directory" "dir.yml: the site catalog file is a directory" --sc dir.yml good.yml
run_bad "--tc FIFO" "the transformation catalog file is a FIFO" --tc fifo.yml good.yml
mkdir beside
cp good.yml beside/wf.yml
mkfifo beside/replicas.yml
plan_bad "replicas.yml a FIFO" "beside/replicas.yml: the replica catalog file is a FIFO" beside/wf.yml
rm beside/replicas.yml
mkdir beside/sites.yml
plan_bad "sites.yml a directory" "beside/sites.yml: the site catalog file is a directory" beside/wf.yml
run_bad "sites.yml a directory" "the site catalog file is a directory" beside/wf.yml
rmdir beside/sites.yml
pass "catalog files (--rc/--tc/--sc, or beside the workflow) that are no regular file: exit 2"

# -- --work-dir
touch plainfile
plan_bad "--work-dir file" "work dir 'plainfile': Not a directory" --work-dir plainfile good.yml
run_bad "--work-dir file" "work dir 'plainfile': Not a directory" --work-dir plainfile good.yml
run_bad "--work-dir missing" "work dir 'nodir': No such file or directory" --work-dir nodir good.yml
pass "--work-dir naming a file or nothing: exit 2, nothing ran"

# -- what the loader refuses, under run too (the corpus checks plan)
write_job_wf nul.yml 'uses: []' 'stdout: "out\0.txt"'
run_bad "NUL in a string" "nul.yml:13:13: a NUL character" nul.yml
write_job_wf envkey.yml 'uses: []' 'profiles: {env: {"A=B": c}}'
run_bad "env key with =" "envkey.yml:13:22: invalid environment variable name 'A=B'" envkey.yml
write_job_wf top.yml 'uses: []'
echo 'jobDependencie: []' >>top.yml
run_bad "unknown top-level key" "top.yml:13:1: unknown key 'jobDependencie' in workflow; did you mean 'jobDependencies'?" top.yml
pass "NUL, a bad env name, an unknown top-level key: run exits 2, nothing ran"

# -- unknown keys below the top level: a warning (the job runs), --strict: an error
write_job_wf typo.yml 'argumnets: [--say, hi]' 'use: []' 'profile: {env: {A: b}}' 'x-mine: {any: thing}'
set +e
"$WFMPI" plan typo.yml >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
expect_rc 0 "plan: unknown job keys are warnings"
for w in "typo.yml:12:5: unknown key 'argumnets' in job; did you mean 'arguments'? (ignored)" \
  "typo.yml:13:5: unknown key 'use' in job; did you mean 'uses'?" \
  "typo.yml:14:5: unknown key 'profile' in job; did you mean 'profiles'?"; do
  grep -qF "warn: $w" "$TMP/err" || fail "plan: warning '$w' missing: $(cat "$TMP/err")"
done
grep -q "x-mine" "$TMP/err" && fail "an x- key must not warn"
plan_bad "--strict" "typo.yml:12:5: unknown key 'argumnets' in job; did you mean 'arguments'?" \
  --strict typo.yml
run_bad "--strict" "typo.yml:12:5: unknown key 'argumnets' in job; did you mean 'arguments'?" \
  --strict typo.yml
set +e
timeout 60 "$MPIEXEC" -n 2 --oversubscribe "$WFMPI" run typo.yml >"$TMP/out" 2>"$TMP/err"
RC=$?
set -e
expect_rc 0 "run: unknown job keys are warnings"
[ "$(grep -c "unknown key 'argumnets'" "$TMP/err")" = 1 ] ||
  fail "run: the warning should come once (rank 0 plans): $(cat "$TMP/err")"
[ "$(wc -l <ledger.txt)" = 1 ] || fail "run: the task should have run once"
rm -rf ledger.txt typo.wfmpi
# submit plans before it sends: --strict refuses before any connection.
echo token >tok
plan_submit() {
  set +e
  timeout 30 "$WFMPI" submit "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  set -e
}
plan_submit --strict typo.yml --server http://127.0.0.1:9 --token-file tok --insecure-http
expect_rc 2 "submit --strict"
grep -qF "typo.yml:12:5: unknown key 'argumnets' in job" "$TMP/err" || fail "submit --strict: $(cat "$TMP/err")"
pass "unknown job keys: a warning with file:line:col and a suggestion; --strict (plan, run, submit): exit 2"

# -- the real workflows: not one unknown-key warning
export PATH=$WFMPI_TEST_DATA/plan/bin:$PATH
n=0
while IFS= read -r f; do
  n=$((n + 1))
  "$WFMPI" plan --input-dir "$WFMPI_TEST_DATA/plan/inputs" "$f" >/dev/null 2>"$TMP/err" || :
  ! grep -q "unknown key" "$TMP/err" || fail "$f: $(grep "unknown key" "$TMP/err" | head -3)"
done < <(grep -rl '^jobs:' "$WFMPI_TEST_DATA/workflows" --include='*.yml')
[ "$n" -ge 30 ] || fail "only $n real workflows found"
pass "$n real workflows: no unknown-key warning"
