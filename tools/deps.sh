#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages clnet needs to build and test, when
# any is missing. Uses sudo when not root. Sourced by quickstart.sh and
# test.sh; safe to run on its own.
set -euo pipefail

CLNET_PACKAGES=(build-essential meson ninja-build pkg-config check
                libopenblas-openmp-dev zlib1g-dev libstb-dev python3-matplotlib
                ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd
                openmpi-bin libopenmpi-dev iproute2)

clnet_install_deps() {
    local missing=()
    for p in "${CLNET_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || {
            echo "error: not root and no sudo; install as root: ${missing[*]}" >&2
            return 1
        }
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

clnet_build() {
    local build=${1:-build}
    if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" --buildtype=release
    fi
    meson compile -C "$build"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    clnet_install_deps
fi
