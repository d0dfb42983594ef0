#!/usr/bin/env python3
"""Makes the embedded Fashion-MNIST subset in fashion-mnist/ from the Debian package
dataset-fashion-mnist: the first 10000 training and 2000 test examples, as gzip IDX files
in the original format. Run once; the output is committed."""
import gzip, os, struct, sys

SRC = "/usr/share/datasets/fashion-mnist"
DST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion-mnist")
N = {"train": 10000, "t10k": 2000}

def read(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]

def write(path, dims, payload):
    head = struct.pack(">BBBB", 0, 0, 8, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(head + payload)

os.makedirs(DST, exist_ok=True)
for prefix, n in N.items():
    dims, img = read(f"{SRC}/{prefix}-images-idx3-ubyte.gz")
    write(f"{DST}/{prefix}-images-idx3-ubyte.gz", (n, 28, 28), img[: n * 784])
    dims, lbl = read(f"{SRC}/{prefix}-labels-idx1-ubyte.gz")
    write(f"{DST}/{prefix}-labels-idx1-ubyte.gz", (n,), lbl[:n])
print("wrote", DST)
