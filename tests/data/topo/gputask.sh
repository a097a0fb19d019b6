#!/bin/sh
# GPU placement test task: records when it ran and what it was given.
#   gputask.sh SECONDS
# Writes env.$WFMPI_TASK_ID in the work dir: start and end times and the
# variables wfmpi sets for GPUs and binding.
id=${WFMPI_TASK_ID:-unknown}
start=$(date +%s.%N)
sleep "${1:-0.2}"
end=$(date +%s.%N)
{
  echo "START=$start"
  echo "END=$end"
  for v in WFMPI_RANK WFMPI_NODE WFMPI_GPUS WFMPI_CPUSET CUDA_VISIBLE_DEVICES CUDA_DEVICE_ORDER \
           OMP_NUM_THREADS OMP_PLACES OMP_PROC_BIND; do
    eval "set=\${$v+x} val=\${$v}"
    [ -n "$set" ] && echo "$v=$val"
  done
  echo "AFFINITY=$(grep Cpus_allowed_list /proc/self/status | cut -f2)"
} >"env.$id.tmp" && mv "env.$id.tmp" "env.$id"
