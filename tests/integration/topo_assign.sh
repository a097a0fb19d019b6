#!/usr/bin/env bash
# `wfmpi topo --json` under mpiexec with HWLOC_XMLFILE: for each topology of
# tests/data/topo and several ranks-per-node counts, the GPU <-> rank <->
# cpuset assignment is the expected one; launcher variables are honoured.
source "$(dirname "$0")/lib.sh"
TOPO="$WFMPI_TEST_DATA/topo"

# check FILE RANKS EXPECTED [ENV...]: EXPECTED is "gpus:cpuset" per rank,
# space separated, with gpus as ordinals joined by '+' ('-' for none).
check() {
  local file=$1 n=$2 want=$3; shift 3
  set +e
  env HWLOC_XMLFILE="$TOPO/$file" "$@" "$MPIEXEC" -n "$n" --oversubscribe "$WFMPI" topo --json \
    >"$TMP/topo.json" 2>"$TMP/err"
  RC=$?
  set -e
  expect_rc 0 "wfmpi topo on $file with $n ranks"
  python3 - "$TMP/topo.json" "$want" "$file" "$n" <<'PY' || fail "$file, $n ranks ($*)"
import json, sys
doc = json.load(open(sys.argv[1]))
want = sys.argv[2].split()
nodes = doc["nodes"]
assert len(nodes) == 1, nodes
node = nodes[0]
for key in ("name", "cores", "memory_mb", "gpus", "ranks"):
    assert key in node, key
bus = {g["ordinal"]: g["busid"] for g in node["gpus"]}
got = []
for r in sorted(node["ranks"], key=lambda r: r["rank"]):
    ords = "+".join(str(o) for o in r["ordinals"]) or "-"
    assert r["gpus"] == [bus[o] for o in r["ordinals"]], r
    got.append(f'{ords}:{r["cpuset"]}')
if got != want:
    sys.exit(f"{sys.argv[3]} with {sys.argv[4]} ranks:\n got  {' '.join(got)}\n want {' '.join(want)}")
PY
  pass "$file, $n ranks${*:+ ($*)}"
}

A100=gpuA100x4-synthetic.xml
check $A100 1 "0+1+2+3:0-63"
check $A100 2 "0+1:0-31 2+3:32-63"
check $A100 4 "0:0-15 1:16-31 2:32-47 3:48-63"
check $A100 8 "0:0-7 1:16-23 2:32-39 3:48-55 -:8-15 -:24-31 -:40-47 -:56-63"
# The launcher's choice: GPUs 0 and 1 are somebody else's.
check $A100 4 "2:32-47 3:48-63 -:0-15 -:16-31" CUDA_VISIBLE_DEVICES=2,3
check $A100 2 "1:16-31 3:48-63" CUDA_VISIBLE_DEVICES=GPU-a1000001,GPU-a1000003 WFMPI_TOPO_AFFINITY=16-31,48-63
check $A100 2 "1:0-7,16-31,48-55 2:8-15,32-47,56-63" SLURM_STEP_GPUS=1,2
check $A100 2 "-:0-31 -:32-63" CUDA_VISIBLE_DEVICES=
# srun --cpu-bind gave the ranks NUMA domain 1 only.
check $A100 2 "0+1:16-23 2+3:24-31" WFMPI_TOPO_AFFINITY=16-31

DGX=nvidiaDGX2.xml
want=""
for r in $(seq 0 15); do
  case $((r / 4)) in 0) c=0 ;; 1) c=1 ;; 2) c=24 ;; 3) c=25 ;; esac
  want="$want $r:$c"
done
check $DGX 16 "$want"
check $DGX 2 "0+1+2+3+4+5+6+7:0-1 8+9+10+11+12+13+14+15:24-25"
check $DGX 4 "0+1+2+3:0 4+5+6+7:1 8+9+10+11:24 12+13+14+15:25"

P8=power8gpudistances.xml
check $P8 4 "0:0-1,8-9 1:16-17,24-25 2:80-81,88-89 3:96-97,104-105"
check $P8 2 "0+1:0-1,8-9,16-17,24-25 2+3:80-81,88-89,96-97,104-105"
check $P8 1 "0+1+2+3:0-1,8-9,16-17,24-25,80-81,88-89,96-97,104-105"

check 96em64t-4n4d3ca2co-pci.xml 4 "-:0-23 -:24-47 -:48-71 -:72-95"
check 24em64t-2n6c2t-pci.xml 2 "-:0,2,4,6,8,10,12,14,16,18,20,22 -:1,3,5,7,9,11,13,15,17,19,21,23"

# The text form names each rank's GPUs with ordinal, bus id and cpuset.
HWLOC_XMLFILE="$TOPO/$A100" wfmpi_mpi 2 topo
expect_rc 0 "wfmpi topo (text)"
grep -q "GPU 3: NVIDIA A100-SXM4-40GB, 40960 MB, bus 0000:c7:00.0, NUMA 3" "$TMP/out" ||
  fail "text output: $(cat "$TMP/out")"
grep -q "rank 1: GPUs 2 (0000:87:00.0) 3 (0000:c7:00.0), cpuset 32-63" "$TMP/out" ||
  fail "text output: $(cat "$TMP/out")"
pass "text output"

# A singleton (no mpiexec) works too.
set +e
HWLOC_XMLFILE="$TOPO/$A100" "$WFMPI" topo --json >"$TMP/single.json" 2>"$TMP/err"
RC=$?
set -e
expect_rc 0 "singleton wfmpi topo"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["nodes"][0]["ranks"])==1 and d["nodes"][0]["ranks"][0]["cpuset"]=="0-63"' "$TMP/single.json" ||
  fail "singleton: $(cat "$TMP/single.json")"
pass "singleton"

# Usage errors.
set +e
"$WFMPI" topo --bogus >/dev/null 2>&1; RC=$?
set -e
expect_rc 2 "wfmpi topo --bogus"
pass "usage error exits 2"
