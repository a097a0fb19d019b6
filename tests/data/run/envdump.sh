#!/bin/sh
# Test task: record the environment and working directory this task saw.
env >"env.$WFMPI_TASK_ID"
pwd -P >"pwd.$WFMPI_TASK_ID"
