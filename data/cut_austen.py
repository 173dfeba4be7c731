#!/usr/bin/env python3
"""Extract one Jane Austen novel from Debian's r-cran-janeaustenr package as plain UTF-8 text.

The package stores the novels as R character vectors (one element per line of the Project
Gutenberg text) in an R lazy-load database (data/Rdata.rdx index + data/Rdata.rdb objects).
This script reads that database with the Python standard library only (no R needed): it
implements the small part of R's XDR serialisation format the database uses.

    apt-get download r-cran-janeaustenr
    dpkg-deb -x r-cran-janeaustenr_1.0.0-1_all.deb pkg
    python3 data/cut_austen.py --source pkg/usr/lib/R/site-library/janeaustenr/data \
        --novel prideprejudice --out data/text/pride-and-prejudice.txt

Lines are joined with "\n" and the file ends with one "\n"; output is byte-for-byte reproducible.
"""
import argparse
import gzip
import struct
import zlib


class RVector(list):
    """An R vector with its attributes (names, class, ...)."""

    attrs = {}


class RReader:
    """Reader for R's binary XDR serialisation (format 'X', versions 2 and 3)."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.refs = []

    def int(self):
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return value

    def bytes(self, n):
        value = self.data[self.pos:self.pos + n]
        self.pos += n
        return value

    def read(self):
        if self.bytes(2) != b"X\n":
            raise ValueError("not an XDR-serialised R object")
        version = self.int()
        self.int()  # writer's R version
        self.int()  # minimal reader version
        if version == 3:
            self.bytes(self.int())  # native encoding name
        return self.item()

    def length(self):
        n = self.int()
        if n == -1:
            high, low = self.int(), self.int()
            n = (high << 32) + low
        return n

    def item(self):
        flags = self.int()
        kind = flags & 0xFF
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if kind == 254:  # NILVALUE_SXP
            return None
        if kind in (253, 252, 251, 250, 242, 241):  # global/unbound/missing/base env markers
            return None
        if kind == 255:  # REFSXP
            index = flags >> 8
            if index == 0:
                index = self.int()
            return self.refs[index - 1]
        if kind == 1:  # SYMSXP
            name = self.item()
            self.refs.append(("symbol", name))
            return ("symbol", name)
        if kind == 4:  # ENVSXP
            env = {}
            self.refs.append(env)
            self.int()  # locked
            self.item()  # enclosure
            env["frame"] = self.item()
            env["hashtab"] = self.item()
            self.item()  # attributes
            return env
        if kind in (2, 3, 5, 6, 17):  # pairlist-like: [attr] [tag] car cdr
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return {"pairlist": (tag, car, cdr), "attr": attr}
        if kind == 9:  # CHARSXP
            n = self.int()
            return None if n == -1 else self.bytes(n).decode("utf-8")
        if kind in (10, 13):  # LGLSXP, INTSXP
            n = self.length()
            value = list(struct.unpack_from(f">{n}i", self.data, self.pos))
            self.pos += 4 * n
        elif kind == 14:  # REALSXP
            n = self.length()
            value = list(struct.unpack_from(f">{n}d", self.data, self.pos))
            self.pos += 8 * n
        elif kind in (16, 19, 20):  # STRSXP, VECSXP, EXPRSXP
            value = [self.item() for _ in range(self.length())]
        else:
            raise ValueError(f"R type {kind} is not supported by this reader")
        if has_attr:
            value = RVector(value)
            value.attrs = pairlist_to_dict(self.item())
        return value


def pairlist_to_dict(node):
    result = {}
    while node is not None:
        tag, car, node = node["pairlist"]
        result[tag[1]] = car
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="janeaustenr's data/ folder (Rdata.rdx, Rdata.rdb)")
    parser.add_argument("--novel", required=True, help="R object name, e.g. prideprejudice, emma")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with gzip.open(f"{args.source}/Rdata.rdx", "rb") as f:
        index = RReader(f.read()).read()
    # The index is list(variables = list(name = c(offset, length)), references, compressed).
    variables = index[index.attrs["names"].index("variables")]
    names = variables.attrs["names"]
    if args.novel not in names:
        raise SystemExit(f"{args.novel}: not in the database; have {', '.join(names)}")
    offset, length = variables[names.index(args.novel)]
    with open(f"{args.source}/Rdata.rdb", "rb") as f:
        f.seek(int(offset))
        blob = f.read(int(length))
    (raw_length,) = struct.unpack(">I", blob[:4])
    payload = zlib.decompress(blob[4:])
    if len(payload) != raw_length:
        raise SystemExit("corrupt object: decompressed length differs from its header")
    lines = RReader(payload).read()
    text = "\n".join(line if line is not None else "" for line in lines).rstrip("\n") + "\n"
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"{args.out}: {len(lines)} lines, {len(text.encode('utf-8'))} bytes")


if __name__ == "__main__":
    main()
