#!/bin/sh
# Checkpoint-signal task: on SIGTERM write a checkpoint file and keep going;
# exit 0 after about a second, 7 if no checkpoint signal ever came.
trap 'echo checkpoint > ckpt.txt' TERM
i=0
while [ "$i" -lt 10 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ -f ckpt.txt ] || exit 7
exit 0
