#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite. Ends
# with the line "N passed, N failed" taken from meson's own counts, and
# exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
set +e
clnet_install_deps || exit 1
clnet_build build || exit 1

meson test -C build --print-errorlogs --num-processes 1 -v \
    > build/test-output.txt 2>&1
status=$?
grep -E '^[0-9]+%: Checks|skipped|^ *[0-9]+/[0-9]+ |FAIL|:[FE]:' \
    build/test-output.txt | grep -v RUNNING
# meson's summary: "Ok: N", "Fail: N", "Skipped: N", "Timeout: N", ...
count() { awk -v k="$1:" '$1 == k {print $2; exit}' build/test-output.txt; }
ok=$(count Ok); fail=$(count Fail); timeout=$(count Timeout)
unexpected=$(awk '$1 == "Unexpected" && $2 == "Pass:" {print $3; exit}' \
    build/test-output.txt)
skipped=$(count Skipped)
ok=${ok:-0}; failed=$(( ${fail:-0} + ${timeout:-0} + ${unexpected:-0} ))
if [ "$ok" -eq 0 ] && [ "$failed" -eq 0 ]; then
    echo "meson test reported no results; see build/test-output.txt" >&2
    failed=1
fi
echo "$ok passed, $failed failed, ${skipped:-0} skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
