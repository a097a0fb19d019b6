#!/usr/bin/env bash
# Every bad input of the corpus is refused before anything runs: for each line
# "FILE<TAB>LINE:COL<TAB>substring" of tests/data/bad/*.expected (loader.expected
# for the loader's errors, plan.expected for the planner's), `wfmpi plan FILE`
# must exit 2 and print "FILE:LINE:COL:" and the substring on stderr.
set -uo pipefail
: "${WFMPI:?}" "${WFMPI_TEST_DATA:?}"
BAD=$WFMPI_TEST_DATA/bad
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
total=0
for exp in "$BAD"/*.expected; do
    [ -f "$exp" ] || continue
    while IFS=$'\t' read -r file pos substr; do
        [ -n "$file" ] && [ "${file:0:1}" != "#" ] || continue
        total=$((total + 1))
        path=$BAD/$file
        "$WFMPI" plan "$path" >/dev/null 2>"$TMP/err"
        rc=$?
        if [ "$rc" -ne 2 ]; then
            echo "FAIL $file: exit $rc, want 2: $(head -c 300 "$TMP/err")"
            fail=1
        elif ! grep -qF -- "$path:$pos:" "$TMP/err"; then
            echo "FAIL $file: stderr lacks '$path:$pos:': $(head -c 300 "$TMP/err")"
            fail=1
        elif ! grep -qF -- "$substr" "$TMP/err"; then
            echo "FAIL $file: stderr lacks '$substr': $(head -c 300 "$TMP/err")"
            fail=1
        fi
    done <"$exp"
done
# Once both the loader's and the planner's lists exist the corpus must be
# broad: at least 40 cases.
if [ -f "$BAD/loader.expected" ] && [ -f "$BAD/plan.expected" ] && [ "$total" -lt 40 ]; then
    echo "FAIL only $total bad inputs in the corpus, want >= 40"
    fail=1
fi
echo "checked $total bad inputs"
exit $fail
