#!/usr/bin/env bash
# From a fresh Debian/Ubuntu machine to a trained digit recogniser:
# installs what is missing, builds, finds or downloads MNIST, trains the
# seed model (models/mnist.net) on the native CPU backend and evaluates it.
# Extra arguments go to `clnet train` (e.g. --epochs 1).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/deps.sh
clnet_install_deps
command -v curl >/dev/null || CLNET_PACKAGES=(curl) clnet_install_deps
clnet_build build
data=$(tools/get-mnist.sh)
echo "MNIST: $data"
build/clnet summary models/mnist.net
build/clnet train models/mnist.net --data "$data" --device cpu \
    --out clnet-model.ckpt "$@"
build/clnet eval models/mnist.net --model clnet-model.ckpt --data "$data"
