#!/bin/sh
# Test task with a checkpoint file (a `type: checkpoint` use): when ckpt.ID
# exists it resumes from it and finishes at once; otherwise it works for up to
# 30 s and, on SIGTERM, writes ckpt.ID and exits 143, as a real code would
# when Slurm's walltime signal or pegasus.checkpoint.time arrives.
id=${WFMPI_TASK_ID:-unknown}
f="ckpt.$id"
echo "$id ${WFMPI_ATTEMPT:-0} start" >>"${LEDGER:-ledger.txt}"
if [ -f "$f" ]; then
  echo "$id ${WFMPI_ATTEMPT:-0} resumed-from $(cat "$f")" >>"${LEDGER:-ledger.txt}"
  echo done >"out.$id"
  exit 0
fi
trap 'echo "step-$i" >"$f"; exit 143' TERM
i=0
while [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
echo done >"out.$id"
