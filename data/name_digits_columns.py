#!/usr/bin/env python3
"""Write data/digits/digits.csv.gz again with named columns and class names as labels.

Same 1,797 rows in the same order, each with an `id` (its row index), the 64 pixel counts named
`p<row>_<column>` (row-major 8x8) and `digit`, the label as an English word (zero .. nine):

    python3 data/name_digits_columns.py --source data/digits/digits.csv.gz --out data/digits/digits-named.csv.gz

Standard library only; the gzip header carries no file name and mtime 0, so output is byte-for-byte reproducible.
"""
import argparse
import gzip
import io

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with gzip.open(args.source, "rt", encoding="ascii") as f:
        rows = [line.strip().split(",") for line in f if line.strip()]
    header = ["id"] + [f"p{r}_{c}" for r in range(8) for c in range(8)] + ["digit"]
    text = io.StringIO()
    text.write(",".join(header) + "\n")
    for i, cells in enumerate(rows):
        assert len(cells) == 65, f"row {i + 1}: {len(cells)} cells"
        pixels = [str(int(float(v))) for v in cells[:64]]
        text.write(",".join([str(i)] + pixels + [WORDS[int(float(cells[64]))]]) + "\n")
    with open(args.out, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(text.getvalue().encode("ascii"))


if __name__ == "__main__":
    main()
