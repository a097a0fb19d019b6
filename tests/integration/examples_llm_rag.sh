#!/usr/bin/env bash
# examples/llm-rag: the generator writes a workflow that plans (GPU and
# --gpus 0 variants), and a real run under mpiexec with the fixture backend
# (config.yml as shipped) goes through bin/ask.py's real code path (chunking,
# retrieval, prompts, answer files) into the aggregation job's table: one row
# per book x model, four answers each. On this GPU-less machine the GPU
# variant is refused by `wfmpi run` (exit 2: no node has a GPU).
source "$(dirname "$0")/lib.sh"
ex=$WFMPI_SRC/examples/llm-rag
d=$TMP/rag; mkdir -p "$d"
nbooks=$(ls "$ex"/books/*.txt | wc -l)
nmodels=$(python3 -c 'import yaml,sys; print(len(yaml.safe_load(open(sys.argv[1]))["models"]))' "$ex/config.yml")
rows=$((nbooks * nmodels))

python3 "$ex/generate.py" -o "$d/gpu.yml" >/dev/null
"$WFMPI" plan --json "$d/gpu.yml" >"$d/gpu.json" || fail "GPU workflow does not plan"
python3 - "$d/gpu.json" "$rows" <<'PY' || fail "GPU plan"
import json, sys
p = json.load(open(sys.argv[1])); n = int(sys.argv[2])
assert p["jobs"] == n + 1 and p["edges"] == n and p["gpu_jobs"] == n and p["gpus"] == n, p
# Levels: stage-in of the books -> answers -> aggregate -> stage-out of the table.
assert p["leaves"] == 1 and p["depth"] == 4, p
assert p["data_tasks"]["stage_out"] == 1, p
PY
pass "GPU workflow plans: $rows answer tasks of 1 GPU each + aggregate, $rows edges"
wfmpi_mpi -C "$d" 2 gpu.yml --cores-per-node 8
expect_rc 2 "GPU workflow on a machine without GPUs"
pass "wfmpi run refuses the GPU variant here (exit 2)"

python3 "$ex/generate.py" --gpus 0 -o "$d/cpu.yml" >/dev/null
"$WFMPI" plan --json "$d/cpu.yml" | grep -q '"gpu_jobs":0' || fail "--gpus 0 still asks GPUs"
wfmpi_mpi -C "$d" 2 cpu.yml --cores-per-node 8 --work-dir "$d"
expect_rc 0 "fixture run"
python3 - "$d" "$rows" "$ex" <<'PY' || fail "answers table"
import csv, glob, json, os, sys
d, n, ex = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = list(csv.DictReader(open(os.path.join(d, "answers.tsv")), delimiter="\t"))
assert len(rows) == n, len(rows)
books = sorted(os.path.splitext(os.path.basename(b))[0] for b in glob.glob(ex + "/books/*.txt"))
assert sorted({r["book"] for r in rows}) == books, rows
for r in rows:
    assert r["backend"] == "fixture", r
    for c in ("summary", "protagonist", "antagonist", "time_period"):
        assert r[c], (c, r)
byb = {(r["book"], r["model"]): r for r in rows}
pp = [r for (b, _), r in byb.items() if b == "pride-and-prejudice"]
assert all(r["protagonist"] in ("Elizabeth", "Mr Bennet") for r in pp), pp
assert all(r["summary"].startswith("It is a truth universally acknowledged") for r in pp), pp
assert all("1888" in r["time_period"] for (b, _), r in byb.items() if b == "a-scandal-in-bohemia")
assert all("1775" in r["time_period"] for (b, _), r in byb.items() if b == "a-tale-of-two-cities")
md = open(os.path.join(d, "answers.md")).read().splitlines()
assert len(md) == n + 2 and md[0].startswith("| book | model | summary"), md[:2]
# every answer file came from bin/ask.py inside a wfmpi task
for f in glob.glob(d + "/answers.*.json"):
    assert json.load(open(f))["task"].startswith("ask_"), f
PY
# The answers, the aggregate, and the data tasks around them (books staged
# in, the table staged out to $d/output).
tasks=$("$WFMPI" plan --json --log-level error --work-dir "$d" "$d/cpu.yml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"])')
[ "$tasks" -gt $((rows + 1)) ] || fail "no data tasks in the plan"
grep -q "Succeeded       : $tasks\$" "$TMP/out" || fail "summary: $(cat "$TMP/out")"
ls "$d"/output/* >/dev/null 2>&1 || fail "the answers table was not staged out"
pass "fixture backend run: $((rows + 1)) tasks, answers table with $rows rows (book x model) and 4 answers each"
