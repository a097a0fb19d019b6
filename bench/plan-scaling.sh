#!/usr/bin/env bash
# Planner scaling: generate synthetic Pegasus workflows of 10^3..10^6 jobs
# (bench/gen_workflow.py) and time `wfmpi plan` on each (load + plan, one
# process) with /usr/bin/time -v. Writes a markdown table to stdout.
#
# usage: bench/plan-scaling.sh [WFMPI_BINARY]   (default: build/bin/wfmpi)
# env:   SIZES="1000 10000 100000 1000000"  SHAPES="independent montage"
#        KEEP=DIR to keep the generated files there
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wfmpi=${1:-${WFMPI:-$here/../build/bin/wfmpi}}
sizes=${SIZES:-"1000 10000 100000 1000000"}
shapes=${SHAPES:-"independent montage"}
dir=${KEEP:-$(mktemp -d)}
[ -n "${KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"

echo "| jobs | shape | YAML MB | edges | seconds | peak RSS MB |"
echo "|---:|---|---:|---:|---:|---:|"
for n in $sizes; do
    for shape in $shapes; do
        f=$dir/$shape-$n.yml
        python3 "$here/gen_workflow.py" --jobs "$n" --shape "$shape" -o "$f"
        mb=$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1048576 }')
        /usr/bin/time -v "$wfmpi" plan --json --log-level error "$f" >"$dir/out.json" 2>"$dir/time"
        secs=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0;
                 for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "$dir/time")
        rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$dir/time")
        edges=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["edges"])' \
            "$dir/out.json")
        echo "| $n | $shape | $mb | $edges | $secs | $rss |"
        [ -n "${KEEP:-}" ] || rm -f "$f"
    done
done
