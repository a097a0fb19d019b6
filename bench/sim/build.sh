#!/bin/sh
# Build the scheduler simulation against the static libraries of an existing
# build directory (default: build-sched), without touching the top-level
# CMakeLists. Usage: bench/sim/build.sh [BUILD_DIR]  ->  BUILD_DIR/wfmpi-sim
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-sched}
cmake --build "$build" -j2 --target wfmpi_sched wfmpi_plan wfmpi_util
${CC:-cc} -std=c11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Wshadow \
    -I "$src/include" "$src/bench/sim/sim.c" \
    "$build/src/sched/libwfmpi_sched.a" "$build/src/plan/libwfmpi_plan.a" \
    "$build/src/util/libwfmpi_util.a" -lcrypto -o "$build/wfmpi-sim"
echo "$build/wfmpi-sim"
