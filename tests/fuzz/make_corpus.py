#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/):
a handful of small valid and nearly valid inputs per target, built here so
they can be regenerated and reviewed. No MNIST data. The checkpoint seeds
come from gen_checkpoint_seeds (they need clnet's topology hash)."""
import gzip
import os
import struct
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX: flags, label-file length (LE16), label file, image file ----
def idx(ndim, dims, payload):
    return bytes([0, 0, 8, ndim]) + b"".join(struct.pack(">I", d)
                                              for d in dims) + payload


def idx_input(flags, labels, images):
    return bytes([flags]) + struct.pack("<H", len(labels)) + labels + images


imgs = idx(3, [2, 3, 3], bytes(range(18)))
labs = idx(1, [2], bytes([3, 7]))
write("idx", "plain", idx_input(0, labs, imgs))
write("idx", "gzip-by-harness", idx_input(3, labs, imgs))
write("idx", "gzip-in-input",
      idx_input(0, gzip.compress(labs, mtime=0), gzip.compress(imgs, mtime=0)))
write("idx", "count-mismatch", idx_input(0, idx(1, [3], bytes(3)), imgs))
write("idx", "truncated", idx_input(0, labs, imgs[:-5]))
write("idx", "extra-data", idx_input(0, labs, imgs + b"\0"))
write("idx", "wrong-magic", idx_input(0, labs, bytes([0, 0, 9, 3]) + imgs[4:]))


# ---- images: PGM and PNG ----
def png(w, h, colour, depth, rows, plte=None, interlace=0):
    def chunk(t, body):
        return (struct.pack(">I", len(body)) + t + body +
                struct.pack(">I", zlib.crc32(t + body) & 0xffffffff))
    raw = b"".join(bytes([f]) + r for f, r in rows)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0,
                                      interlace))
    if plte:
        out += chunk(b"PLTE", plte)
    out += chunk(b"IDAT", zlib.compress(raw))
    return out + chunk(b"IEND", b"")


write("image", "p5.pgm", b"P5\n# grey\n4 3\n255\n" + bytes(range(0, 240, 20)))
write("image", "p2.pgm", b"P2\n3 2\n15\n0 5 10\n15 3 7\n")
write("image", "p5-16bit.pgm", b"P5 2 2 65535\n" + bytes(range(8)))
# one filter type per row: none, sub, up, average, Paeth
g = [(f, bytes((f * 40 + x * 9) % 256 for x in range(5))) for f in range(5)]
write("image", "grey8.png", png(5, 5, 0, 8, g))
write("image", "rgb8.png", png(2, 2, 2, 8, [(0, bytes(6)), (1, bytes(range(6)))]))
write("image", "rgba8.png", png(2, 1, 6, 8, [(2, bytes(range(8)))]))
write("image", "grey-alpha8.png", png(2, 2, 4, 8, [(3, bytes(4)), (4, bytes(4))]))
write("image", "grey16.png", png(2, 1, 0, 16, [(0, bytes([1, 2, 3, 4]))]))
write("image", "palette.png",
      png(3, 1, 3, 8, [(0, bytes([0, 1, 2]))], plte=bytes(range(9))))
write("image", "interlaced.png", png(1, 1, 0, 8, [(0, b"\x80")], interlace=1))
write("image", "depth4.png", png(2, 1, 0, 4, [(0, b"\x12")]))
write("image", "truncated.png", png(5, 5, 0, 8, g)[:40])

# ---- topologies ----
topologies = {
    "dense.net": "input shape=4x4x1\nflatten\ndense units=3 activation=softmax\n"
                 "train optimizer=sgd lr=0.1 "
                 "loss=sparse_categorical_crossentropy batch=2 epochs=1\n",
    "conv.net": "# a comment\ninput shape=6x6x2\n"
                "conv2d filters=3 kernel=3x3 strides=2 padding=same\nrelu\n"
                "maxpool2d pool=2x2\nflatten\ndropout rate=0.25\n"
                "dense units=2\nsoftmax\n",
    "direct.net": "input shape=5x5x2\n"
                  "conv2d filters=3 kernel=2 padding=valid backend=cpu/direct\n"
                  "flatten\ndense units=2 activation=softmax\n",
    "winograd.net": "input shape=8x8x1\n"
                    "conv2d filters=2 kernel=3 backend=cpu/winograd\n"
                    "flatten\ndense units=2\n"
                    "train optimizer=adam lr=0.001 "
                    "loss=sparse_categorical_crossentropy\n",
    "named.net": "input shape=3x3x1 name=in\n"
                 "dense units=2 name=out activation=relu\n",
    "bad-setting.net": "input shape=2x2x1\ndense units=-1\n",
    "bad-line.net": "input shape=2x2x1\nfrobnicate\n",
    # issue 10's defect 12 (pointer arithmetic before the bounds test) and
    # defect 1 (a receptive field that overflows int), kept as regressions
    "direct-same-padding.net": "input shape=5x5x2\n"
                               "conv2d filters=33 kernel=4 strides=3 "
                               "padding=same backend=cpu/direct\n"
                               "flatten\ndense units=2\n",
    "wide-kernel.net": "input shape=1x1x2048\n"
                       "conv2d filters=1 kernel=1024 padding=same\n"
                       "flatten\ndense units=2\n",
}
for name, text in topologies.items():
    write("topology", name, text.encode())
with open(os.path.join(os.path.dirname(ROOT), "..", "..", "models",
                       "mnist.net"), "rb") as f:
    write("topology", "mnist.net", f.read())

