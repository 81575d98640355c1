#!/usr/bin/env bash
# Finds MNIST or downloads it, and prints the folder that holds it.
# Looks in $CLNET_MNIST_DIR, data/mnist, then ../shared/data/mnist; else
# downloads the four files into data/mnist and checks them against
# tools/mnist.md5 (the checksums of the official uncompressed files).
# Usage: tools/get-mnist.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

files=(train-images-idx3-ubyte train-labels-idx1-ubyte
       t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

has_all() {
    for f in "${files[@]}"; do
        [ -f "$1/$f" ] || [ -f "$1/$f.gz" ] || return 1
    done
}

for dir in "${CLNET_MNIST_DIR:-}" data/mnist ../shared/data/mnist; do
    if [ -n "$dir" ] && has_all "$dir"; then
        echo "$dir"
        exit 0
    fi
done

mirrors=(https://ossci-datasets.s3.amazonaws.com/mnist
         https://storage.googleapis.com/cvdf-datasets/mnist)
mkdir -p data/mnist
for f in "${files[@]}"; do
    [ -f "data/mnist/$f.gz" ] && continue
    ok=0
    for m in "${mirrors[@]}"; do
        echo "Downloading $m/$f.gz" >&2
        if curl -fsSL --retry 2 -o "data/mnist/$f.gz.part" "$m/$f.gz"; then
            mv "data/mnist/$f.gz.part" "data/mnist/$f.gz"
            ok=1
            break
        fi
    done
    if [ $ok -ne 1 ]; then
        rm -f "data/mnist/$f.gz.part"
        echo "error: could not download $f.gz; put the MNIST files in" \
             "data/mnist or set CLNET_MNIST_DIR" >&2
        exit 1
    fi
done
for f in "${files[@]}"; do
    want=$(awk -v f="$f" '$2 == f {print $1}' tools/mnist.md5)
    got=$(gzip -dc "data/mnist/$f.gz" | md5sum | cut -d' ' -f1)
    if [ "$want" != "$got" ]; then
        echo "error: data/mnist/$f.gz does not match its checksum ($got," \
             "expected $want); delete it and run again" >&2
        exit 1
    fi
done
echo data/mnist
