#!/usr/bin/env bash
# examples/ai-ensemble at toy size on CPU: 6 training runs (--gpus 0) and the
# collect job under mpiexec; ensemble.tsv has one row per member with its
# metrics and wfmpi's per-task record (rank, wall seconds); ensemble.md has
# wfmpi statistics when `wfmpi statistics --json` reads the run dir. The GPU variant plans with
# 6 one-GPU jobs and is refused by `wfmpi run` here (no GPU).
source "$(dirname "$0")/lib.sh"
ex=$WFMPI_SRC/examples/ai-ensemble
PY=python3
python3 -c 'import numpy, yaml' 2>/dev/null || PY=/usr/bin/python3
"$PY" -c 'import numpy, yaml' 2>/dev/null || { echo "SKIP: no python3 with numpy and PyYAML"; exit 77; }
d=$TMP/ens; mkdir -p "$d"

"$PY" "$ex/generate.py" -n 6 --epochs 20 --python "$PY" --wfmpi "$WFMPI" -o "$d/gpu.yml" >/dev/null
"$WFMPI" plan --json "$d/gpu.yml" | grep -q '"jobs":7,"edges":6,.*"gpu_jobs":6' || fail "GPU variant plan"
wfmpi_mpi -C "$d" 2 gpu.yml --cores-per-node 4
expect_rc 2 "GPU variant without GPUs"
pass "GPU variant plans (6 one-GPU runs + collect); run refused here (exit 2)"

"$PY" "$ex/generate.py" -n 6 --epochs 20 --gpus 0 --python "$PY" --wfmpi "$WFMPI" -o "$d/wf.yml" >/dev/null
wfmpi_mpi -C "$d" 2 wf.yml --cores-per-node 4
expect_rc 0 "ensemble run"
"$PY" - "$d" <<'PY' || fail "ensemble table"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/ensemble.tsv"), delimiter="\t"))
assert [r["task"] for r in rows] == [f"m{i:03d}" for i in range(6)], rows
for r in rows:
    assert 0.0 <= float(r["test_acc"]) <= 1.0 and r["rank"] in ("0", "1") and float(r["wall_s"]) > 0, r
assert len({(r["hidden"], r["lr"]) for r in rows}) == 6, "hyper-parameters should differ"
PY
if "$WFMPI" statistics --json "$d/wf.wfmpi" >/dev/null 2>&1; then
  grep -q '^| 6 | 6 | ' "$d/ensemble.md" || fail "statistics row missing: $(cat "$d/ensemble.md")"
  pass "ensemble: 6 members' metrics + per-task records + wfmpi statistics (train: 6 runs, 6 succeeded)"
else
  grep -q 'wfmpi statistics unavailable' "$d/ensemble.md" || fail "ensemble.md should say statistics are unavailable"
  pass "ensemble: 6 members' metrics + per-task records (wfmpi statistics does not read this run dir: $("$WFMPI" statistics --json "$d/wf.wfmpi" 2>&1 | tail -n 1))"
fi
