#!/usr/bin/env python3
"""Cut the balanced Fashion-MNIST subset shipped in data/fashion-mnist-subset/.

Takes the first N images of each class, in file order, from the official train and test
IDX files (Debian package dataset-fashion-mnist), keeps them in file order, and writes the
four standard IDX files gzip-compressed with mtime 0 and no file name, so the output bytes
are reproducible.

    python3 data/cut_fashion_mnist_subset.py \
        --source /usr/share/datasets/fashion-mnist --out data/fashion-mnist-subset \
        --train-per-class 1000 --test-per-class 200
"""
import argparse
import gzip
import os
import struct

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(path, expected_magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    if magic != expected_magic:
        raise SystemExit(f"{path}: magic {magic:#010x}, expected {expected_magic:#010x}")
    ndims = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndims, data[4:4 + 4 * ndims])
    body = data[4 + 4 * ndims:]
    size = 1
    for d in dims:
        size *= d
    if len(body) != size:
        raise SystemExit(f"{path}: {len(body)} data bytes, header says {size}")
    return dims, body


def write_idx_gz(path, magic, dims, body):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        # filename="" and mtime=0 keep the gzip header free of anything that varies per run.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(header + body)


def cut(source, out, prefix, per_class):
    img_dims, images = read_idx(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"), IMAGES_MAGIC)
    lbl_dims, labels = read_idx(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"), LABELS_MAGIC)
    count, rows, cols = img_dims
    if lbl_dims[0] != count:
        raise SystemExit(f"{prefix}: {count} images but {lbl_dims[0]} labels")
    pixels = rows * cols
    taken = {}
    keep = []
    for i, label in enumerate(labels):
        if taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            keep.append(i)
    short = {c: n for c, n in taken.items() if n < per_class}
    if short:
        raise SystemExit(f"{prefix}: too few images for classes {short}")
    out_images = b"".join(images[i * pixels:(i + 1) * pixels] for i in keep)
    out_labels = bytes(labels[i] for i in keep)
    write_idx_gz(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), IMAGES_MAGIC, (len(keep), rows, cols), out_images)
    write_idx_gz(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), LABELS_MAGIC, (len(keep),), out_labels)
    print(f"{prefix}: {len(keep)} images ({per_class} per class, {len(taken)} classes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion-mnist-subset"))
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cut(args.source, args.out, "train", args.train_per_class)
    cut(args.source, args.out, "t10k", args.test_per_class)


if __name__ == "__main__":
    main()
