#!/usr/bin/env python3
"""zxing-cpp on the frames the `qr` bench wrote: the yardstick, same frames.

Usage: zxing_decode.py DIR

DIR holds `frames.bin` (8-bit grayscale frames, one after another) and
`frames.tsv` (one line per frame: index, width, height, byte offset). For each
frame, zxing-cpp (`pip install zxing-cpp`, the official Python bindings with
prebuilt wheels) reads QR codes with its default options (local-average
binariser, rotations, downscaling, inverted codes), timed on one thread around
the call alone. One JSON line per frame on standard output:
{"i": 3, "ms": 1.23, "texts": ["..."]}

Exits 3 with a message on standard error when zxing-cpp is not installed.
"""

import json
import sys
import time

try:
    import zxingcpp
except ImportError:
    sys.stderr.write("zxing-cpp is not installed: pip install zxing-cpp\n")
    sys.exit(3)


def main():
    d = sys.argv[1]
    data = open(f"{d}/frames.bin", "rb").read()
    frames = []
    for line in open(f"{d}/frames.tsv"):
        i, w, h, off = (int(x) for x in line.split())
        frames.append((i, w, h, off))
    view = memoryview(data)
    fmt = zxingcpp.BarcodeFormat.QRCode

    def read(w, h, off):
        img = view[off : off + w * h].cast("B", (h, w))
        return zxingcpp.read_barcodes(img, formats=fmt)

    # Warm-up: the first call loads and initialises the library.
    if frames:
        _, w, h, off = frames[0]
        read(w, h, off)
    out = sys.stdout
    for i, w, h, off in frames:
        t = time.perf_counter()
        found = read(w, h, off)
        ms = (time.perf_counter() - t) * 1e3
        out.write(json.dumps({"i": i, "ms": ms, "texts": [b.text for b in found]}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
