#!/usr/bin/env bash
# `wfmpi plan --json` on every real workflow under $WFMPI_TEST_DATA/workflows:
# jobs and edges must match the table (SOURCES.md for flat files; inlined
# counts for hierarchies, worked out in the comments).
#
# The files name executables and inputs of the machines that wrote them
# (preprocess, keg, f.a, ...). The planner needs them to exist only where the
# catalogs do not say where they are, so we supply exactly that, honestly:
# - tests/data/plan/bin: stub executables (exit 0) put on PATH for
#   transformations missing from the catalogs (the planner's PATH fallback);
# - tests/data/plan/inputs: empty stand-ins for workflow inputs that have no
#   replica, passed with --input-dir to the files that need it.
# Catalog pfns that do not exist here are only warnings, by design.
set -euo pipefail
: "${WFMPI:?}" "${WFMPI_TEST_DATA:?}"
W=$WFMPI_TEST_DATA/workflows
STUBS=$WFMPI_TEST_DATA/plan
export PATH=$STUBS/bin:$PATH
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
IN="--input-dir $STUBS/inputs"

# file | jobs | edges | extra options
TABLE=$(cat <<T
pegasus-tests/01-etc-diamond-inline-catalogs-hooks.yml|4|4|$IN
pegasus-tests/02-junit-diamond-untyped-jobs.yml|4|4|
pegasus-tests/03-flowstyle-diamond-unicode-metadata.yml|4|4|$IN
pegasus-tests/04-shell-inner-20jobs-runtime-profiles.yml|20|16|
pegasus-tests/05-analyzer-hierarchical/inner_diamond_workflow.yml|4|4|$IN
pegasus-tests/06-analyzer-single-job-stdout.yml|1|0|
pegasus-tests/07-pmc-profiles-48jobs.yml|48|80|
pegasus-tests/08-pmc-only-40jobs-file-flow.yml|40|20|
pegasus-tests/09-checkpoint-file-and-time.yml|1|0|
pegasus-tests/10-dynamic-hierarchy/inner_diamond_workflow.yml|4|4|$IN
pegasus-tests/10-dynamic-hierarchy/inner_sleep_workflow.yml|2|1|
pegasus-tests/11-local-hierarchy/blackdiamond.yml|4|4|$IN
pegasus-tests/11-local-hierarchy/sleep.yml|2|1|
pegasus-tests/12-runtime-clustering-20jobs.yml|20|16|$IN
pegasus-tests/13-synthetic-80jobs-3levels.yml|80|70|
pegasus-tests/14-unicode-diamond.yml|4|4|$IN
pegasus-tests/15-metadata-int-size.yml|4|4|$IN
access-examples/alphafold/workflow.yml|8|11|
access-examples/crophealth-inference/workflow.yml|10|0|
access-examples/crophealth-training/workflow.yml|2|1|
access-examples/llm-rag/workflow.yml|6|0|
access-examples/lung-segmentation/workflow.yml|7|10|
access-examples/mask-detection/workflow.yml|8|9|
access-examples/montage/workflow.yml|259|618|
access-examples/orcasound/workflow.yml|20|27|
access-examples/pytorch-gpu/workflow.yml|1|0|
access-examples/rosetta/workflow.yml|30|0|
access-examples/variant-calling/workflow.yml|13|12|
T
)
# Hierarchies (inlined):
# 05 workflow.yml: 3 jobs curl -> diamond_subworkflow -> wc (2 edges); the
#   sub-workflow (4 jobs, 4 edges) replaces its job: 3 - 1 + 4 = 6 jobs;
#   edges: curl -> inner root (1) + 4 inner + inner leaf -> wc (1) = 6.
# 10 workflow.yml: gen -> diamond_subworkflow -> sleep_subworkflow -> sleep_job.
#   The diamond file is written by gen (dynamic): it stays one task. The sleep
#   sub-workflow (2 jobs, 1 edge) is inlined: 4 - 1 + 2 = 5 jobs; edges:
#   gen -> diamond (1) + diamond -> inner root (1) + 1 inner + inner leaf ->
#   sleep_job (1) = 4.
# 11 workflow.yml: blackdiamond (4/4) -> sleep (2/1): 4 + 2 = 6 jobs; edges:
#   4 + 1 + blackdiamond leaf -> sleep root (1) = 6.
TABLE+="
pegasus-tests/05-analyzer-hierarchical/workflow.yml|6|6|
pegasus-tests/10-dynamic-hierarchy/workflow.yml|5|4|
pegasus-tests/11-local-hierarchy/workflow.yml|6|6|$IN"

fail=0
checked=0
check() { # path jobs edges opts...
    local f=$1 jobs=$2 edges=$3
    shift 3
    # shellcheck disable=SC2086
    local rc=0
    "$WFMPI" plan --json --log-level error "$@" "$f" >"$TMP/out.json" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $f: exit $rc: $(cat "$TMP/err")"
        fail=1
        return
    fi
    if ! python3 - "$TMP/out.json" "$jobs" "$edges" <<'PY'; then
import json, sys
d = json.load(open(sys.argv[1]))
want = (int(sys.argv[2]), int(sys.argv[3]))
for k in ("jobs", "edges", "roots", "leaves", "depth", "widest", "critical_path_seconds",
          "critical_path", "cores", "gpus", "memory_mb", "gpu_jobs"):
    assert k in d, "missing key " + k
got = (d["jobs"], d["edges"])
if got != want:
    sys.exit("jobs/edges %s, want %s" % (got, want))
PY
        echo "FAIL $f"
        fail=1
    fi
    checked=$((checked + 1))
}

while IFS='|' read -r f jobs edges opts; do
    [ -n "$f" ] || continue
    # shellcheck disable=SC2086
    check "$W/$f" "$jobs" "$edges" $opts
done <<<"$TABLE"

# Every workflow file must be in the table (catalog files are not workflows).
while IFS= read -r f; do
    rel=${f#"$W"/}
    grep -q "^$rel|" <<<"$TABLE" || { echo "FAIL $rel: not in the table"; fail=1; }
done < <(find "$W" -name '*.yml' ! -name replicas.yml ! -name sites.yml ! -name transformations.yml | sort)

# 16: 100k independent jobs sharing one input, gzip'd in the corpus.
gz=$W/pegasus-tests/16-100k-independent-jobs.yml.gz
if [ -f "$gz" ]; then
    gunzip -c "$gz" >"$TMP/16-100k.yml"
    : >"$TMP/f.a"
    check "$TMP/16-100k.yml" 100000 0
fi

# -v --json streams a tasks array with argv and parents.
"$WFMPI" plan --json -v --log-level error "$W/pegasus-tests/07-pmc-profiles-48jobs.yml" |
    python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["tasks"]) == 48, len(d["tasks"])
t = d["tasks"][0]
for k in ("id", "argv", "cores", "gpus", "memory_mb", "parents"):
    assert k in t, k
assert t["cores"] == 2 and t["memory_mb"] == 1, t
' || { echo "FAIL -v --json tasks"; fail=1; }

# Data tasks with the real catalogs (docs/staging.md). Montage: its 49
# https inputs (and the local ones) each fetched by exactly one stage-in that
# is a parent of every job reading it; its https container image staged once
# and every job wrapped in the runtime. LLM-RAG: the stageable wrapper is
# fetched once, made executable, and runs inside the staged image with --nv.
A=$W/access-examples
for ex in montage llm-rag; do
    "$WFMPI" plan --json -v --log-level error --work-dir "$TMP" --container-runtime apptainer \
        "$A/$ex/workflow.yml" >"$TMP/$ex.json" || { echo "FAIL plan $ex"; fail=1; }
done
python3 - "$A" "$TMP" <<'PY' || { echo "FAIL data tasks"; fail=1; }
import json, sys, yaml
A, T = sys.argv[1], sys.argv[2]
def load(ex):
    d = json.load(open(f"{T}/{ex}.json"))
    return d, {t["id"]: t for t in d["tasks"]}
d, tasks = load("montage")
rc = yaml.safe_load(open(f"{A}/montage/replicas.yml"))
urls = {r["lfn"]: r["pfns"][0]["pfn"] for r in rc["replicas"]}
https = {l for l, u in urls.items() if u.startswith("https://")}
assert len(https) == 49, len(https)
fetched = {}
for t in tasks.values():
    if t["kind"] != "stage-in" or not t["id"].startswith("stage_in_"):
        continue
    a = t["argv"][t["argv"].index("--") + 1:]
    for url, dest, sha in zip(a[0::3], a[1::3], a[2::3]):
        assert dest not in fetched, dest + " fetched twice"
        fetched[dest] = t["id"]
        assert url == urls[dest] or url.endswith(urls[dest].replace("file://", "")), (url, dest)
assert https <= set(fetched), https - set(fetched)
for t in tasks.values():
    if t["kind"] != "compute":
        continue
    assert t["argv"][:2] == ["apptainer", "exec"], t["argv"]
    assert ".wfmpi/images/montage.sif" in t["argv"], t["argv"]
    assert "stage_image_montage" in t["parents"], t["id"]
    for lfn, by in fetched.items():
        if lfn in t["argv"]:
            assert by in t["parents"] or by == "stage_in_" + t["id"], (t["id"], lfn)
assert d["data_tasks"]["stage_in"] == 1 + len(set(fetched.values())), d["data_tasks"]
assert d["data_tasks"]["stage_out"] > 0 and d["jobs"] == 259, d
d, tasks = load("llm-rag")
exe = tasks["stage_exe_llm-wrapper"]["argv"]
assert exe[1:3] == ["stage-in", "--executable"] and exe[-2] == ".wfmpi/bin/llm-wrapper", exe
img = tasks["stage_image_llm_rag_container"]["argv"]
assert img[-3].startswith("https://usgs2.osn.mghpcc.org/"), img
for t in tasks.values():
    if t["kind"] == "compute" and t["argv"][0] == "apptainer":
        assert t["argv"][1:3] == ["exec", "--nv"], t["argv"]
        assert {"stage_exe_llm-wrapper", "stage_image_llm_rag_container"} <= set(t["parents"])
PY

echo "checked $checked workflows"
exit $fail
