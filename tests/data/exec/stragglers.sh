#!/bin/sh
# Leaves descendants behind in its process group: a background child and an
# orphaned grandchild (re-parented to the executor, a child subreaper).
echo $$ > pgid
sleep 100 &
echo $! > child
(sleep 101 & echo $! > grandchild)
exit 0
