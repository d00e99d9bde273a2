"""Write the first N rows of gzipped IDX files (Fashion-MNIST's format), and optionally the last M, into another
folder, as valid IDX.

The GPU queue makes its observation sets from the first 30,000 training images (``--limit``), so a
device call needs no more of them: carrying half the training file keeps the working tree under
the device's 64 MiB. The sets, and their digests, come out the same as from the whole file. DPS's
step size is tuned on validation images, the train split's last few (:mod:`diffem.tuning`), which no
observation set holds: ``--last M`` appends them, so ``train[-M:]`` is the whole file's too.

    python tools/first_idx_rows.py SOURCE_DIR TARGET_DIR --rows 30000 --last 64 train-images-idx3-ubyte.gz ...
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path


def first_rows(source: Path, target: Path, rows: int, last: int = 0) -> None:
    data = gzip.decompress(source.read_bytes())
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    shape = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
    if zero != 0 or rows + last > shape[0]:
        raise SystemExit(f"{source}: not an IDX file, or fewer than {rows + last} rows")
    row_bytes = 1
    for size in shape[1:]:
        row_bytes *= size
    header = struct.pack(">HBB", zero, dtype_code, ndim) + struct.pack(f">{ndim}I", rows + last, *shape[1:])
    start = 4 + 4 * ndim
    body = data[start: start + rows * row_bytes] + data[start + (shape[0] - last) * row_bytes: start + shape[0] * row_bytes]
    target.write_bytes(gzip.compress(header + body, mtime=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("names", nargs="+")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--last", type=int, default=0, help="the last rows too, after the first (validation images)")
    args = parser.parse_args()
    args.target.mkdir(parents=True, exist_ok=True)
    for name in args.names:
        first_rows(args.source / name, args.target / name, args.rows, args.last)


if __name__ == "__main__":
    main()
