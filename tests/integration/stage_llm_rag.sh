#!/usr/bin/env bash
# The ACCESS LLM-RAG example with its real catalogs, run end to end on an
# A100x4 node (HWLOC_XMLFILE, 4 ranks) with the paths rewritten to test
# data: the books and llm-rag.py come through file:// replicas, the
# stageable wrapper is fetched into .wfmpi/bin, the container image comes
# from a loopback HTTP server (instead of usgs2.osn.mghpcc.org) and is
# fetched once for all six GPU jobs, and the answers are staged out and
# registered.
#
# What cannot exist here is replaced, and only that: the wrapper (which
# starts ollama and a model on the GPU) by a stub that checks its inputs and
# GPU are there and writes the two outputs the workflow declares; apptainer
# by tests/data/container/apptainer, which records its arguments and runs
# the inner command on the host.
source "$(dirname "$0")/lib.sh"

EX=$WFMPI_TEST_DATA/workflows/access-examples/llm-rag
ORIG=/tmp/scratch/home/ACCESS-Pegasus-Examples/Artificial-Intelligence/LLM-RAG
DATA=$TMP/data
WORK=$TMP/work
WEB=$TMP/web
mkdir -p "$DATA/bin" "$DATA/inputs" "$WORK" "$WEB" "$TMP/wf"
export HWLOC_XMLFILE=$WFMPI_TEST_DATA/topo/gpuA100x4-synthetic.xml
export APPTAINER_LOG=$TMP/apptainer.log
export PATH=$WFMPI_TEST_DATA/container:$PATH

printf 'image bytes\n' >"$WEB/llm-rag-v2.sif"
http_serve "$WEB"

# Test data where the catalogs point, and the stub wrapper.
printf '# llm-rag.py stand-in\n' >"$DATA/bin/llm-rag.py"
books=$(sed -n 's/^- lfn: \(.*\.txt\)$/\1/p' "$EX/replicas.yml")
for b in $books; do printf 'Chapter 1. %s\n' "$b" >"$DATA/inputs/$b"; done
cat >"$DATA/bin/llm-wrapper.sh" <<'EOF'
#!/bin/sh
# Stub of the example's wrapper: ollama and the model cannot run here.
set -e
book=$1
[ -f "$book" ] && [ -f llm-rag.py ] || { echo "inputs not staged" >&2; exit 3; }
[ -n "$CUDA_VISIBLE_DEVICES" ] || { echo "no GPU given" >&2; exit 4; }
echo "answers for $book on GPU $CUDA_VISIBLE_DEVICES" >"$book-answers.txt"
echo "ollama log" >"$book-ollama.log"
EOF
chmod +x "$DATA/bin/llm-wrapper.sh"
for f in workflow.yml replicas.yml transformations.yml sites.yml; do
    sed -e "s#$ORIG#$DATA#g" \
        -e "s#https://usgs2.osn.mghpcc.org/pegasus-tutorials/containers/#$HTTP_URL/#" \
        "$EX/$f" >"$TMP/wf/$f"
done

wfmpi_mpi -C "$WORK" 4 "$TMP/wf/workflow.yml" --run-dir "$TMP/run" --container-runtime apptainer \
    --progress 60
expect_rc 0 "LLM-RAG with staging"

nbooks=$(echo "$books" | wc -w)
[ "$nbooks" = 6 ] || fail "expected 6 books, the catalog has $nbooks"
# The image: one GET for six jobs; the wrapper: fetched once, executable.
n=$(grep -c 'GET /llm-rag-v2.sif' "$TMP/http.log" || :)
[ "$n" = 1 ] || fail "image fetched $n times"
[ -x "$WORK/.wfmpi/bin/llm-wrapper" ] || fail "wrapper not staged executable"
# Every job ran in the container with --nv, the work dir bound, and the
# directories its staged links point into (the book, llm-rag.py) bound too.
n=$(grep -c "^apptainer exec --nv --bind $WORK --bind $DATA/inputs --bind $DATA/bin --pwd $WORK .wfmpi/images/llm_rag_container.sif .wfmpi/bin/llm-wrapper " \
    "$APPTAINER_LOG" || :)
[ "$n" = 6 ] || fail "container commands: $(cat "$APPTAINER_LOG")"
for b in $books; do
    grep -q "answers for $b on GPU [0-3]" "$WORK/output/$b-answers.txt" ||
        fail "$b: answers not staged out"
    [ -L "$WORK/$b" ] || fail "$b not staged in as a link"
done
python3 - "$TMP/run/output-replicas.yml" <<'PY' || fail "output-replicas.yml"
import sys, yaml
rc = yaml.safe_load(open(sys.argv[1]))
lfns = [r["lfn"] for r in rc["replicas"]]
assert len(lfns) == 12 and len(set(lfns)) == 12, lfns
assert all(len(r["checksum"]["sha256"]) == 64 for r in rc["replicas"]), rc
PY
pass "LLM-RAG: 6 GPU jobs in the container, data staged in once, answers staged out"
