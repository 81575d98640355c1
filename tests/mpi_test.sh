#!/usr/bin/env bash
# clnet train across MPI ranks on one machine: 2 ranks follow the
# trajectory of one process at the same global batch; the bucket size
# changes nothing; rank 0 alone prints and writes; and every bad start
# (ranks with different topologies, a rank that cannot read its data,
# a command that does not run across ranks, --devices, a clnet without
# the MPI plugin) and a rank that dies end the whole job with one
# message, never a hang. Skipped (77) without Open MPI or the plugin.
# Usage: tests/mpi_test.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$1 build=$2
source "$src/tests/mpi_common.sh"
mpi_require mpi_test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mpi_setup
sed 's/units=32/units=16/' "$tmp/a.net" > "$tmp/b.net"
fails=0
no() { echo "mpi_test: FAIL: $*"; fails=$((fails + 1)); }

# 1. the same trajectory as one process, whatever the bucket size
"$clnet" train "$tmp/a.net" "${common[@]}" --log-json "$tmp/one.json" \
    --out "$tmp/one.ckpt" > "$tmp/one.out"
timeout 120 mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" \
    --log-json "$tmp/two.json" --out "$tmp/two.ckpt" --bucket-kb 4 \
    > "$tmp/two.out" 2> "$tmp/two.err" || no "2 ranks failed: $(cat "$tmp/two.err")"
timeout 120 mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" \
    --out "$tmp/two-big.ckpt" > /dev/null 2>&1 || no "2 ranks, 1 bucket failed"
cmp -s "$tmp/two.ckpt" "$tmp/two-big.ckpt" ||
    no "4 KiB buckets and one bucket gave different weights"
python3 - "$tmp/one.json" "$tmp/two.json" <<'PY' || no "trajectories differ"
import json, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
assert len(one) == len(two) == 2, (len(one), len(two))
for a, b in zip(one, two):
    for k in ("loss", "val_loss"):
        rel = abs(a[k] - b[k]) / abs(a[k])
        print(f"epoch {a['epoch']} {k}: 1 process {a[k]:.6f}, 2 ranks {b[k]:.6f} (relative {rel:.2e})")
        assert rel < 2e-3, k
    assert abs(a["val_accuracy"] - b["val_accuracy"]) <= 0.02
    assert b["allreduce_bytes"] > 0 and 0 <= b["allreduce_wait"] < 1
    assert "allreduce_bytes" not in a
PY
[ "$(grep -c '^Saved' "$tmp/two.out")" = 1 ] || no "not exactly one Saved line"
# a last batch of one sample leaves rank 0 an empty slice
"$clnet" train "$tmp/a.net" "${common[@]}" --limit-train 65 --epochs 1 \
    --log-json "$tmp/one65.json" --out "$tmp/one65.ckpt" > /dev/null
timeout 120 mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" \
    --limit-train 65 --epochs 1 --log-json "$tmp/two65.json" \
    --out "$tmp/two65.ckpt" > /dev/null 2>&1 || no "an empty slice failed"
python3 -c 'import json, sys
a, b = (json.loads(open(f).readline()) for f in sys.argv[1:])
assert abs(a["loss"] - b["loss"]) <= 2e-3 * a["loss"], (a["loss"], b["loss"])' \
    "$tmp/one65.json" "$tmp/two65.json" || no "an empty slice changed the loss"
grep -q "Across 2 ranks" "$tmp/two.out" || no "no 'Across 2 ranks' line"

# one message, exit 2, within the time limit
one_message() { # WHAT PATTERN COMMAND...
    local what=$1 pattern=$2 rc=0
    shift 2
    timeout 60 "$@" > "$tmp/bad.out" 2> "$tmp/bad.err" || rc=$?
    local n
    n=$(grep -c -- "$pattern" "$tmp/bad.err" || true)
    if [ "$rc" != 2 ] || [ "$n" != 1 ]; then
        no "$what: exit $rc, $n messages like '$pattern':"
        cat "$tmp/bad.err"
    else
        echo "mpi_test: $what: exit 2, one message: $(grep -m1 -- "$pattern" "$tmp/bad.err")"
    fi
}
one_message "different topologies" "disagree on the topology" \
    mpirun -np 1 "$clnet" train "$tmp/a.net" "${common[@]}" --out "$tmp/x.ckpt" \
    : -np 1 "$clnet" train "$tmp/b.net" "${common[@]}" --out "$tmp/x.ckpt"
one_message "a rank without its data" "rank 1: " \
    mpirun -np 1 "$clnet" train "$tmp/a.net" "${common[@]}" --out "$tmp/x.ckpt" \
    : -np 1 "$clnet" train "$tmp/a.net" --data "$tmp/none" --threads 1 --out "$tmp/x.ckpt"
one_message "summary under mpirun" "does not run across ranks" \
    mpirun -np 2 "$clnet" summary "$tmp/a.net"
one_message "--devices under mpirun" "do not go together" \
    mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" --devices cpu,cpu:0

# a clnet installed without the MPI plugin
meson install -C "$build" --destdir "$tmp/stage" --no-rebuild --quiet
staged=$(find "$tmp/stage" -name clnet -type f -perm -u+x -print -quit)
rm -f "$(find "$tmp/stage" -name 'communicator-mpi.so' -print -quit)"
one_message "no MPI plugin" "no mpi communicator plugin" \
    env -u CLNET_PLUGIN_PATH -u LD_LIBRARY_PATH mpirun -np 2 "$staged" train "$tmp/a.net" \
    "${common[@]}" --out "$tmp/x.ckpt"

# Ctrl-C on mpirun (which sends the ranks SIGTERM): every rank stops at
# the same step, rank 0 saves, and the run resumes across ranks
mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" --epochs 500 \
    --out "$tmp/int.ckpt" > "$tmp/int.out" 2>&1 &
runner=$!
for _ in $(seq 200); do
    grep -q "Epoch 2/" "$tmp/int.out" && break
    sleep 0.1
done
kill -INT "$runner"
wait "$runner" || true
grep -q "Stopped by SIG.*saved $tmp/int.ckpt" "$tmp/int.out" ||
    { no "an interrupted job did not save"; cat "$tmp/int.out"; }
# "after epoch E" (resume to E + 1) or "in epoch E after step S" (to E)
last=$(sed -n 's/.*Stopped by SIG[A-Z]* after epoch \([0-9]*\).*/\1/p' "$tmp/int.out")
[ -n "$last" ] && last=$((last + 1)) ||
    last=$(sed -n 's/.*Stopped by SIG[A-Z]* in epoch \([0-9]*\) after.*/\1/p' "$tmp/int.out")
if [ -n "$last" ]; then
    timeout 120 mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" \
        --resume "$tmp/int.ckpt" --epochs "$last" \
        --out "$tmp/int2.ckpt" > "$tmp/int2.out" 2>&1 &&
        grep -q "^Resuming $tmp/int.ckpt after epoch" "$tmp/int2.out" ||
        { no "the interrupted job did not resume"; cat "$tmp/int2.out"; }
else
    no "no epoch in the stop message"
fi

# a rank that dies: the other stops, mpirun says so, nothing hangs
mpirun -np 2 "$clnet" train "$tmp/a.net" "${common[@]}" --epochs 200 \
    --out "$tmp/die.ckpt" > "$tmp/die.out" 2> "$tmp/die.err" &
runner=$!
for _ in $(seq 100); do
    [ "$(pgrep -P "$runner" -f "$clnet" | wc -l)" = 2 ] && break
    sleep 0.1
done
sleep 1
victim=$(pgrep -P "$runner" -f "$clnet" | tail -1)
start=$(date +%s)
kill -9 "$victim"
rc=0
for _ in $(seq 300); do
    kill -0 "$runner" 2> /dev/null || break
    sleep 0.1
done
if kill -0 "$runner" 2> /dev/null; then
    no "the job still runs 30 s after rank $victim was killed"
    pkill -9 -P "$runner" || true
    kill -9 "$runner" || true
fi
wait "$runner" || rc=$?
took=$(( $(date +%s) - start ))
[ "$rc" != 0 ] || no "mpirun exited 0 after a rank was killed"
grep -qi "signal 9\|killed" "$tmp/die.err" ||
    { no "no message about the killed rank"; cat "$tmp/die.err"; }
echo "mpi_test: killed a rank: the job ended in ${took} s with exit $rc"
pgrep -f "$tmp/a.net" > /dev/null && no "a rank outlived the job"

[ "$fails" = 0 ] && echo "mpi_test: all passed"
exit $(( fails > 0 ))
