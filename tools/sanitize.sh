#!/usr/bin/env bash
# Builds clnet with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan (clang, -Dnative=false) and runs the whole meson test suite
# there, the OpenCL suite and the MNIST end-to-end test included. Fails on
# any failed test and on any sanitizer report from any process (the suites,
# their forked checks, the clnet runs of the CLI suite): reports go to
# build-asan/sanitizer/, whatever a test does with its child's stderr.
# Ends with "sanitizer build: ..." (not tools/test.sh's "N passed" line).
# Extra arguments go to `meson test` (suite names, --wrapper, ...).
#   tools/sanitize.sh [MESON-TEST-ARGS...]
set -uo pipefail
cd "$(dirname "$0")/.."
build=build-asan

command -v clang >/dev/null || {
    echo "sanitize: clang not found; install clang libclang-rt-dev libomp-dev" >&2
    exit 1
}
if [ ! -f "$build/build.ninja" ]; then
    # clang rather than gcc: gcc's UBSan misses the pointer overflows of
    # defect 12, and its threaded OpenMP loops ran the layers suite more
    # than six times slower on a loaded two-core machine.
    CC=clang meson setup "$build" --buildtype=debugoptimized -Dnative=false \
        -Db_sanitize=address,undefined -Db_lundef=false || exit 1
fi
meson compile -C "$build" || exit 1

reports="$PWD/$build/sanitizer"
rm -rf "$reports" && mkdir -p "$reports" "$build/pocl-cache" "$build/clnet-cache"
# Leaks inside PoCL and LLVM, which clnet cannot free, are suppressed by
# tests/lsan.supp; it names third-party libraries only.
# intercept_tls_get_addr=0: LeakSanitizer's scan of a worker thread's
# dynamic TLS crashed now and then at exit in the OpenCL suite ("Tracer
# caught signal 11", google/sanitizers#1322)
export ASAN_OPTIONS="detect_leaks=1:intercept_tls_get_addr=0:log_path=$reports/asan"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"

start=$(date +%s)
# -t 2: sanitized code runs slower than the suites' timeouts allow for
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 1 -v \
    -t 2 "$@" > "$build/test-output.txt" 2>&1
status=$?
took=$(( $(date +%s) - start ))

grep -E '^ *[0-9]+/[0-9]+ ' "$build/test-output.txt" | grep -v RUNNING
count() { awk -v k="$1:" '$1 == k {print $2; exit}' "$build/test-output.txt"; }
ok=$(count Ok); ok=${ok:-0}
fail=$(count Fail); timeout=$(count Timeout)
bad=$(( ${fail:-0} + ${timeout:-0} ))
nreports=0
for f in "$reports"/*; do
    [ -s "$f" ] || continue
    nreports=$((nreports + 1))
    echo "--- sanitizer report $f:"
    grep -E 'ERROR|runtime error|SUMMARY|^ +#[0-7] |fatal error' "$f" | head -n 14
done

mnist="MNIST end-to-end test ran"
if [ $# -eq 0 ] || grep -q 'mnist_end_to_end\|mnist: skipped' "$build/test-output.txt"; then
    if grep -q 'mnist: skipped' "$build/test-output.txt"; then
        mnist="MNIST end-to-end test SKIPPED (no data where tests/test_mnist.c looks)"
        status=1
    elif ! grep -q 'mnist_end_to_end (.*): test accuracy' "$build/test-output.txt"; then
        mnist="MNIST end-to-end test did not finish"
        status=1
    fi
else
    mnist="MNIST end-to-end test not selected"
fi
# not in tools/test.sh's "N passed, N failed" form, which CI looks for
echo "sanitizer build: suites ok: $ok, not ok: $bad, sanitizer reports:" \
     "$nreports; $mnist; ${took} s; log $build/test-output.txt"
[ "$status" -eq 0 ] && [ "$bad" -eq 0 ] && [ "$nreports" -eq 0 ]
