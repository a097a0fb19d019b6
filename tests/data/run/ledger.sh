#!/bin/sh
# The lightest test task: append "ID ATTEMPT" to the shared ledger (a
# builtin echo, no other process), so crash tests can afford hundreds of
# tasks per trial.
echo "${WFMPI_TASK_ID:-unknown} ${WFMPI_ATTEMPT:-0}" >>"${LEDGER:-ledger.txt}"
