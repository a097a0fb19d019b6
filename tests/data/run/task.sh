#!/bin/sh
# Test task: records when it ran, optionally fails, sleeps or writes files.
#   task.sh [--sleep S] [--fail-times N] [--exit N] [--out FILE]... [--say TEXT]
# Appends "ID ATTEMPT START END" to $LEDGER (default ledger.txt in the work
# dir). --fail-times N: exit 1 on the first N attempts of this task (counted in
# a file), then succeed.
id=${WFMPI_TASK_ID:-unknown}
start=$(date +%s.%N)
sleep_s=0; fail_times=0; code=0; outs=""; say=""
while [ $# -gt 0 ]; do
  case $1 in
    --sleep) sleep_s=$2; shift 2 ;;
    --fail-times) fail_times=$2; shift 2 ;;
    --exit) code=$2; shift 2 ;;
    --out) outs="$outs $2"; shift 2 ;;
    --say) say=$2; shift 2 ;;
    *) shift ;;
  esac
done
[ "$sleep_s" != 0 ] && sleep "$sleep_s"
[ -n "$say" ] && echo "$say"
for f in $outs; do echo "$id" >"$f"; done
if [ "$fail_times" -gt 0 ]; then
  n=$(cat "count.$id" 2>/dev/null || echo 0)
  n=$((n + 1)); echo "$n" >"count.$id"
  [ "$n" -le "$fail_times" ] && code=1
fi
end=$(date +%s.%N)
echo "$id ${WFMPI_ATTEMPT:-0} $start $end" >>"${LEDGER:-ledger.txt}"
exit "$code"
