#!/usr/bin/env bash
# Planner scaling: generate synthetic Pegasus workflows of 10^3..10^6 jobs
# (bench/gen_workflow.py) and time `wfmpi plan` on each (load + plan, one
# process) with /usr/bin/time. Writes a markdown table to stdout: the median
# wall time of REPEAT runs, that run's CPU time (user + sys: less sensitive
# to other load on a shared machine than wall time), the largest peak RSS,
# and the 1-minute load average before the first run.
#
# usage: bench/plan-scaling.sh [WFMPI_BINARY]   (default: build/bin/wfmpi)
# env:   SIZES="1000 10000 100000 1000000"
#        SHAPES="independent chain fanout montage"
#        REPEAT=3   runs per workflow (the median is reported)
#        KEEP=DIR   keep the generated files there (and reuse them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wfmpi=${1:-${WFMPI:-$here/../build/bin/wfmpi}}
sizes=${SIZES:-"1000 10000 100000 1000000"}
shapes=${SHAPES:-"independent chain fanout montage"}
repeat=${REPEAT:-3}
dir=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"

echo "| jobs | shape | YAML MB | edges | seconds (median) | CPU s | peak RSS MB | load |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
for n in $sizes; do
    for shape in $shapes; do
        f=$dir/$shape-$n.yml
        [ -s "$f" ] || python3 "$here/gen_workflow.py" --jobs "$n" --shape "$shape" -o "$f"
        mb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1048576 }')
        load=$(cut -d' ' -f1 /proc/loadavg)
        runs=""
        for _ in $(seq "$repeat"); do
            /usr/bin/time -f "%e %U %S %M" "$wfmpi" plan --json --log-level error "$f" \
                >"$dir/out.json" 2>"$dir/time"
            runs+="$(tail -n 1 "$dir/time")"$'\n'
        done
        # median by wall time; CPU of that run; max RSS over all runs
        read -r secs cpu <<<"$(printf '%s' "$runs" | sort -n -k1,1 |
            awk '{ w[NR] = $1; c[NR] = $2 + $3 } END { m = int((NR + 1) / 2);
                   printf "%.2f %.2f", w[m], c[m] }')"
        rss=$(printf '%s' "$runs" | awk '$4 > m { m = $4 } END { printf "%.0f", m / 1024 }')
        edges=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["edges"])' \
            "$dir/out.json")
        echo "| $n | $shape | $mb | $edges | $secs | $cpu | $rss | $load |"
        [ -n "${KEEP:-}" ] || rm -f "$f"
    done
done
