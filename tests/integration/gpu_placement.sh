#!/usr/bin/env bash
# GPU placement end to end on an A100x4 node (HWLOC_XMLFILE, 4 ranks): GPU
# tasks of 1, 2 and 4 GPUs mixed with CPU tasks. Tasks write their
# environment and start/end times; the check proves no GPU was given to two
# tasks at overlapping times, multi-GPU tasks got adjacent GPUs of one node
# from their owning rank, and each task's CUDA_VISIBLE_DEVICES, WFMPI_GPUS and
# WFMPI_CPUSET match. Then CUDA_VISIBLE_DEVICES=2,3 leaves GPUs 0 and 1 alone,
# and a task asking more GPUs than any node has is exit 2 before anything runs.
source "$(dirname "$0")/lib.sh"
TOPO="$WFMPI_TEST_DATA/topo"
export HWLOC_XMLFILE="$TOPO/gpuA100x4-synthetic.xml"

d="$TMP/mixed"; mkdir -p "$d"
python3 "$TOPO/gen_gpu_wf.py" "$d/wf.yml" "$TOPO/gputask.sh" \
  g1c2:1:2:8 g2c4:2:4:4 g4c8:4:8:2 g0c3:0:3:8
wfmpi_mpi -C "$d" 4 topo --json
expect_rc 0 "wfmpi topo"
cp "$TMP/out" "$d/topo.json"
wfmpi_mpi -C "$d" 4 wf.yml
expect_rc 0 "mixed GPU workflow"
[ "$(ls "$d"/env.* | wc -l)" = 22 ] || fail "expected 22 env files, got $(ls "$d" | head)"
python3 "$TOPO/check_gpu_env.py" "$d" 0,1,2,3 "$d/topo.json" || fail "mixed GPU workflow: environment check"
pass "1/2/4-GPU and CPU tasks on A100x4 with 4 ranks"

d="$TMP/visible"; mkdir -p "$d"
python3 "$TOPO/gen_gpu_wf.py" "$d/wf.yml" "$TOPO/gputask.sh" g1c2:1:2:6 g2c4:2:4:2 g0c3:0:3:4
export CUDA_VISIBLE_DEVICES=2,3
wfmpi_mpi -C "$d" 4 topo --json
expect_rc 0 "wfmpi topo"
cp "$TMP/out" "$d/topo.json"
wfmpi_mpi -C "$d" 4 wf.yml
unset CUDA_VISIBLE_DEVICES
expect_rc 0 "CUDA_VISIBLE_DEVICES=2,3"
python3 "$TOPO/check_gpu_env.py" "$d" 2,3 "$d/topo.json" || fail "CUDA_VISIBLE_DEVICES=2,3: environment check"
pass "CUDA_VISIBLE_DEVICES=2,3 leaves GPUs 0 and 1 alone"

# 4 GPUs asked but only 2 given: input error, nothing runs.
d="$TMP/toobig"; mkdir -p "$d"
python3 "$TOPO/gen_gpu_wf.py" "$d/wf.yml" "$TOPO/gputask.sh" g0c1:0:1:1 g4c1:4:1:1
export CUDA_VISIBLE_DEVICES=2,3
wfmpi_mpi -C "$d" 4 wf.yml
unset CUDA_VISIBLE_DEVICES
expect_rc 2 "4 GPUs with 2 given"
grep -Eq "wf.yml:[0-9]+:[0-9]+: task '[^']+' asks for 4 GPUs but the largest node has 2" "$TMP/err" ||
  fail "message (with the job's file:line:col): $(cat "$TMP/err")"
python3 "$TOPO/gen_gpu_wf.py" "$d/wf.yml" "$TOPO/gputask.sh" g0c1:0:1:1 g5c1:5:1:1
wfmpi_mpi -C "$d" 4 wf.yml
expect_rc 2 "5 GPUs on A100x4"
grep -q "asks for 5 GPUs but the largest node has 4" "$TMP/err" || fail "message: $(cat "$TMP/err")"
! ls "$d"/env.* >/dev/null 2>&1 || fail "a task ran although the workflow was refused"
pass "more GPUs than any node has: exit 2, nothing ran"
