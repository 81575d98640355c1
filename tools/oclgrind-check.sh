#!/usr/bin/env bash
# Runs the OpenCL layer tests on small shapes (tests/test_opencl's "small"
# tcase: every layer and implementation on shapes that are no multiple of
# any tile), then `clnet check --device opencl --small` (every
# implementation inside small networks against the native CPU), with
# oclgrind as the only OpenCL device, under its data-race, API and
# uninitialised-value checks, and fails when oclgrind reports anything or
# a test or check fails. Usage: tools/oclgrind-check.sh [--optimised]
# [BUILD_DIR] (default build; it must hold a build with the OpenCL
# backend). Needs Debian's oclgrind package. The layer tests take 5-7
# minutes on a busy 2-core machine (5m11s and 6m42s measured, load 3),
# clnet check about 7.5 more, --optimised about 2.5 more.
#
# oclgrind's uninitialised-value checker cannot follow the kernels as they
# are optimised: it stops with "Unsupported instruction: freeze"
# (Uninitialized.cpp:1805) in direct_backward and sum_slices, where LLVM's
# optimiser put a freeze. So the main pass builds every kernel with
# -cl-opt-disable (no freeze) and runs all the checks: --data-races,
# --check-api and --uninitialized. The OpenCL plugins then clear buffers
# by writing zeros instead of clEnqueueFillBuffer, which this checker
# loses track of (plugins/opencl/ocl_common.c, write_zeros). --optimised
# adds a pass over the kernels as they run everywhere, with the
# uninitialised-value check off.
#
# A training run of models/mnist.net is left out: under oclgrind one step
# of 32 images had not finished after 4 minutes here, so `clnet train
# models/mnist.net --limit-train 256 --limit-test 128 --batch 32` would
# take well over half an hour.
set -uo pipefail
optimised=0
if [ "${1:-}" = --optimised ]; then
    optimised=1
    shift
fi
build=${1:-build}
exe="$build/tests/test_opencl"
if ! command -v oclgrind > /dev/null; then
    echo "oclgrind-check: oclgrind is not installed (apt-get install" \
         "oclgrind)" >&2
    exit 2
fi
if [ ! -x "$exe" ]; then
    echo "oclgrind-check: $exe is missing; build with the OpenCL backend" \
         "first (meson setup $build && meson compile -C $build)" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CLNET_SOURCE_ROOT=${CLNET_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
export CLNET_FIXTURE_DIR="$build/tests/fixtures"
export CLNET_CACHE_DIR="$work/cache" CK_RUN_CASE=small
failed=0

# pass NAME OCLGRIND_OPTION... -- COMMAND...: COMMAND under oclgrind
pass() {
    local name=$1 start=$SECONDS opts=()
    shift
    while [ "$1" != "--" ]; do
        opts+=("$1")
        shift
    done
    shift
    oclgrind "${opts[@]}" --log "$work/$name.log" "$@" > "$work/$name.out" 2>&1
    local status=$?
    # --log takes the checkers' reports; fatal errors go to stderr (the
    # device's own name, which clnet check prints, is not one)
    local reports
    reports=$(grep -c . "$work/$name.log")
    grep -i 'oclgrind' "$work/$name.out" |
        grep -qv 'Oclgrind Simulator\|driver Oclgrind' &&
        reports=$((reports + 1))
    echo "oclgrind-check: $name: exit $status, $reports report lines," \
         "$((SECONDS - start)) s"
    if [ "$status" -ne 0 ] || [ "$reports" -ne 0 ]; then
        failed=1
        head -c 20000 "$work/$name.log"
        grep -v '^$' "$work/$name.out" | head -n 60
    fi
}

unoptimised=(--data-races --check-api --uninitialized
             --build-options -cl-opt-disable)
pass unoptimised "${unoptimised[@]}" -- "$exe"
# every implementation inside small networks, trained against the native
# CPU (clnet check's small table): the kernels as the layers chain them
pass check "${unoptimised[@]}" -- "$build/clnet" check --device opencl \
    --small
[ "$optimised" -eq 1 ] && pass optimised --data-races --check-api -- "$exe"
[ "$failed" -eq 0 ] && echo "oclgrind-check: no reports"
exit "$failed"
