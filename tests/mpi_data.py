#!/usr/bin/env python3
"""Writes a small learnable data set in MNIST's IDX format for the MPI
tests: 28x28 grey images of ten classes, each a bright bar at a place of
its own, with noise. Usage: mpi_data.py FOLDER [TRAIN TEST]"""
import os
import random
import struct
import sys


def images(n, rng):
    px, labels = bytearray(), bytearray()
    for _ in range(n):
        c = rng.randrange(10)
        img = [rng.randrange(40) for _ in range(28 * 28)]
        row = 2 + 2 * c
        for y in range(row, row + 3):
            for x in range(4, 24):
                img[y * 28 + x] = 200 + rng.randrange(56)
        px += bytes(img)
        labels.append(c)
    return px, labels


def write(folder, prefix, n, rng):
    px, labels = images(n, rng)
    with open(os.path.join(folder, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + px)
    with open(os.path.join(folder, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)


def main():
    folder = sys.argv[1]
    train = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    test = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(7)
    write(folder, "train", train, rng)
    write(folder, "t10k", test, rng)


main()
