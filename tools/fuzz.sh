#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in build-fuzz (clang, ASan and
# UBSan, coverage in the library and the plugins it loads) and runs each
# for SECONDS (default 60) from its committed seeds. Fails on any crash,
# sanitizer report, leak, input slower than a second, or use of more than
# 2 GiB. Prints the executions of each target; crashing inputs are kept in
# build-fuzz/fuzz-findings/TARGET/ (replay one: build-fuzz/tests/fuzz/
# fuzz_TARGET FILE). Needs clang, libclang-rt-dev and libomp-dev.
#   tools/fuzz.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
case $secs in
'' | *[!0-9]* | 0)
    echo "usage: tools/fuzz.sh [SECONDS]  (SECONDS: a positive whole number)" >&2
    exit 2
    ;;
esac
build=build-fuzz
targets=(topology idx checkpoint image cifar)

command -v clang >/dev/null || {
    echo "fuzz: clang not found; install clang libclang-rt-dev libomp-dev" >&2
    exit 1
}
if [ ! -f "$build/build.ninja" ]; then
    # no OpenCL: the targets use the CPU plugins only, and PoCL's compiler
    # would only slow every input down
    CC=clang meson setup "$build" --buildtype=debugoptimized -Dfuzz=enabled \
        -Dnative=false -Dopencl=disabled -Db_sanitize=address,undefined \
        -Db_lundef=false || exit 1
fi
meson compile -C "$build" || exit 1

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export CLNET_CACHE_DIR="$PWD/$build/clnet-cache"
mkdir -p "$CLNET_CACHE_DIR"

# The checkpoint seeds depend on the format and the topology hash, so they
# are written afresh beside the committed ones.
seeds="$build/fuzz-seeds/checkpoint"
rm -rf "$seeds" && mkdir -p "$seeds"
"$build/tests/fuzz/gen_checkpoint_seeds" "$seeds" || exit 1

failed=0
for t in "${targets[@]}"; do
    corpus="$build/fuzz-corpus/$t" findings="$build/fuzz-findings/$t"
    log="$build/fuzz-$t.log"
    mkdir -p "$corpus" "$findings"
    extra=()
    [ "$t" = checkpoint ] && extra=("$seeds")
    start=$(date +%s)
    "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=1 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -detect_leaks=1 \
        -print_final_stats=1 -artifact_prefix="$findings/" \
        "$corpus" "tests/fuzz/corpus/$t" "${extra[@]}" > "$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    # the final statistics, else the last progress line ("#1234 NEW ...")
    execs=$(awk '/^stat::number_of_executed_units:/ {n = $2}
                 /^#[0-9]+\t/ && !n {p = substr($1, 2)}
                 END {print n ? n : p}' "$log")
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t: ${execs:-?} executions in ${took} s, no findings"
    else
        failed=$((failed + 1))
        echo "fuzz: $t: FAILED (exit $rc) after ${execs:-?} executions," \
             "${took} s; log $log"
        grep -E '^==[0-9]+==ERROR|runtime error|^SUMMARY|ALARM|out-of-memory|Test unit written' \
            "$log" | head -n 8 | sed 's/^/    /'
        grep -E '^ +#[0-5] ' "$log" | head -n 6 | sed 's/^/    /'
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: $failed of ${#targets[@]} targets failed"
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs} s each with no findings"
