#!/bin/sh
# A stand-in for Pegasus's keg: concatenates its inputs, appends a line about
# itself, and writes the result to each output.  keg.sh -a NAME -i IN... -o OUT...
name=keg; mode=; ins=; outs=
while [ $# -gt 0 ]; do
  case $1 in
    -a) name=$2; shift 2; continue ;;
    -i) mode=in ;;
    -o) mode=out ;;
    *) [ "$mode" = in ] && ins="$ins $1"; [ "$mode" = out ] && outs="$outs $1" ;;
  esac
  shift
done
for o in $outs; do
  { [ -n "$ins" ] && cat $ins; echo "$name ran on $(hostname) rank ${WFMPI_RANK:-?} as ${WFMPI_TASK_ID:-?}"; } >"$o"
done
