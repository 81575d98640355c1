#!/usr/bin/env bash
# clnet train across 2 MPI ranks on two test hosts joined by a network:
# two network namespaces (the project's own hosts, 10.231.0.1 and .2)
# with a veth pair between them, Open MPI's TCP transport only (no
# shared memory), its daemon started in the second namespace by an
# `ip netns exec` launch agent in place of ssh. The gradients cross the
# veth as real packets (its byte counter is checked against what the
# all-reduce must send), and the trajectory equals one process's.
# Needs root and iproute2; skipped (77) where namespaces cannot be made.
# Usage: tests/mpi_netns_test.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$1 build=$2
skip() { echo "mpi_netns_test: $*: skipped"; exit 77; }
command -v mpirun > /dev/null || skip "no mpirun (Debian: openmpi-bin)"
[ -e "$build/plugins/communicator-mpi.so" ] || skip "the MPI plugin was not built"
[ "$(id -u)" = 0 ] || skip "not root (network namespaces need it)"
command -v ip > /dev/null || skip "no ip (Debian: iproute2)"
a=clnet-a-$$ b=clnet-b-$$ va=cva$$ vb=cvb$$
tmp=$(mktemp -d)
cleanup() { ip netns del "$a" 2> /dev/null; ip netns del "$b" 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add "$a" 2> /dev/null || skip "cannot create a network namespace here"
ip netns add "$b"
ip link add "$va" type veth peer name "$vb" || skip "cannot create a veth pair here"
ip link set "$va" netns "$a"
ip link set "$vb" netns "$b"
ip -n "$a" addr add 10.231.0.1/24 dev "$va"
ip -n "$b" addr add 10.231.0.2/24 dev "$vb"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set "$va" up
ip -n "$b" link set "$vb" up

# the launch agent: "AGENT HOST COMMAND..." runs COMMAND on HOST
cat > "$tmp/agent" <<AGENT
#!/bin/sh
host=\$1; shift
case \$host in 10.231.0.2) ns=$b ;; *) ns=$a ;; esac
exec ip netns exec "\$ns" sh -c "\$*"
AGENT
chmod +x "$tmp/agent"
printf '10.231.0.1 slots=1\n10.231.0.2 slots=1\n' > "$tmp/hosts"
python3 "$src/tests/mpi_data.py" "$tmp/data" 1024 256
cat > "$tmp/a.net" <<'NET'
input      shape=28x28x1
conv2d     filters=8 kernel=3x3 activation=relu
maxpool2d  pool=2x2
flatten
dense      units=32 activation=relu
dropout    rate=0.25
dense      units=10 activation=softmax
train      optimizer=adam lr=0.002 loss=sparse_categorical_crossentropy batch=64 epochs=2
NET
clnet=$build/clnet
common=(--data "$tmp/data" --threads 1 --quiet)
"$clnet" train "$tmp/a.net" "${common[@]}" --log-json "$tmp/one.json" \
    --out "$tmp/one.ckpt" > /dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# components stay mapped, so leak reports name them (tests/lsan.supp)
export OMPI_MCA_mca_base_component_disable_dlclose=1
# under tools/sanitize.sh: whole stacks (Open MPI has no frame pointers),
# so that tests/lsan.supp can tell its allocations from clnet's
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
tx() { ip -n "$a" -s link show "$va" | awk '/TX:/ {getline; print $1}'; }
before=$(tx)
timeout 120 ip netns exec "$a" mpirun --hostfile "$tmp/hosts" -np 2 \
    --mca plm_rsh_agent "$tmp/agent" --mca btl tcp,self \
    --mca btl_tcp_if_include 10.231.0.0/24 --mca oob_tcp_if_include 10.231.0.0/24 \
    -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
    -x LD_LIBRARY_PATH -x CLNET_PLUGIN_PATH \
    "$clnet" train "$tmp/a.net" "${common[@]}" --log-json "$tmp/two.json" \
    --out "$tmp/two.ckpt" > "$tmp/two.out" 2>&1 ||
    { cat "$tmp/two.out"; echo "mpi_netns_test: FAIL: 2 ranks over the veth failed"; exit 1; }
sent=$(( $(tx) - before ))
python3 - "$tmp/one.json" "$tmp/two.json" "$sent" <<'PY'
import json, sys
one = [json.loads(l) for l in open(sys.argv[1])]
two = [json.loads(l) for l in open(sys.argv[2])]
sent = int(sys.argv[3])
assert len(one) == len(two) == 2
for a, b in zip(one, two):
    rel = abs(a["loss"] - b["loss"]) / a["loss"]
    print(f"mpi_netns_test: epoch {a['epoch']} loss: 1 process {a['loss']:.6f}, "
          f"2 ranks over the veth {b['loss']:.6f} (relative {rel:.1e})")
    assert rel < 2e-3, "trajectories differ"
# an all-reduce of B bytes between 2 ranks sends B bytes each way
steps = 2 * (1024 // 64)
need = steps * two[0]["allreduce_bytes"]
print(f"mpi_netns_test: {sent} bytes left 10.231.0.1 over the veth; the "
      f"all-reduce needs at least {need:.0f}")
assert sent >= 0.9 * need, "the gradients did not cross the veth"
PY
echo "mpi_netns_test: all passed"
