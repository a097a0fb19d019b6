#!/bin/sh
# Test task for ckpt_orphans.sh: a long-lived process group. The shell (the
# group's leader) starts a background sleep and a nested shell that starts
# one more (a grandchild of the leader), all in the task's process group,
# then waits. Every pid goes to pids/<task id>, written whole by a rename,
# so a complete file means everything is running.
#   orphan_task.sh SECONDS
s=${1:-30}
mkdir -p pids
sleep "$s" &
a=$!
sh -c 'sleep "$1" & echo $! >"pids/$2.grandchild"; wait' sh "$s" "$WFMPI_TASK_ID" &
b=$!
while [ ! -s "pids/$WFMPI_TASK_ID.grandchild" ]; do sleep 0.05; done
echo "$$ $a $b $(cat "pids/$WFMPI_TASK_ID.grandchild")" >"pids/$WFMPI_TASK_ID.tmp"
mv "pids/$WFMPI_TASK_ID.tmp" "pids/$WFMPI_TASK_ID"
wait
