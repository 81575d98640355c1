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
source "$src/tests/mpi_common.sh"
mpi_require mpi_netns_test
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
mpi_setup
"$clnet" train "$tmp/a.net" "${common[@]}" --log-json "$tmp/one.json" \
    --out "$tmp/one.ckpt" > /dev/null
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
