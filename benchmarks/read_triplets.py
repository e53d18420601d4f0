"""Reading a ratings table: ``read_triplets`` (a column at a time) against the line-by-line
reader it falls back to for errors, run as it ran before (rows split with the garbage
collector running), side by side in this process, on the same file.

    python benchmarks/read_triplets.py [--lines 1000000] [--repeat 3]
    python benchmarks/read_triplets.py --file ratings.dat --columns 0,1,2

Without ``--file`` it writes MovieLens-1M-shaped tables (6 040 user ids, 3 706 item ids of
title length, ratings 1–5, seed 0) to a temporary directory in three layouts: tab-separated
without a header, ``ratings.dat``'s ``::`` with a timestamp column, and a CSV with a header
whose titles contain commas (quoted). Each reader runs ``--repeat`` times, alternating; the
medians and their ratio are printed, and the two results are checked to be identical.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

from spectralnn.completion import triplets


def tables(directory: Path, lines: int) -> list[tuple[Path, tuple[str, str, str]]]:
    rng = np.random.default_rng(0)
    users = [f"{k + 1}" for k in range(6040)]
    items = [f"Movie number {k}, part {k % 7} ({1920 + k % 80})" for k in range(3706)]
    u = rng.integers(0, len(users), lines)
    i = rng.integers(0, len(items), lines)
    keep = np.unique(u * len(items) + i, return_index=True)[1]
    keep.sort()
    u, i = u[keep], i[keep]
    r = rng.integers(1, 6, u.size)
    tsv, dat, csv_path = directory / "r.tsv", directory / "ratings.dat", directory / "r.csv"
    tsv.write_text("".join(f"{users[a]}\t{items[b]}\t{c}\n" for a, b, c in zip(u, i, r)))
    dat.write_text("".join(f"{users[a]}::{b + 1}::{c}::{978300760 + k}\n"
                           for k, (a, b, c) in enumerate(zip(u, i, r))))
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["user", "item", "rating"])
        writer.writerows((users[a], items[b], c) for a, b, c in zip(u, i, r))
    return [(tsv, ("0", "1", "2")), (dat, ("0", "1", "2")), (csv_path, ("user", "item", "rating"))]


def by_line(path: Path, columns: tuple[str, str, str]) -> triplets.Triplets:
    """The line-by-line reader, the garbage collector running while rows are split."""
    with mock.patch.object(triplets, "_gc_paused", contextlib.nullcontext):
        text, delim = triplets._read_text(path, "table", None, triplets._needed(columns))
        return triplets._triplets_by_line(path, text, delim, columns)


def same(a: triplets.Triplets, b: triplets.Triplets) -> bool:
    return (np.array_equal(a.rows, b.rows) and np.array_equal(a.cols, b.cols)
            and np.array_equal(a.values, b.values) and a.row_ids.labels == b.row_ids.labels
            and a.col_ids.labels == b.col_ids.labels
            and (a.delimiter, a.duplicates, a.header) == (b.delimiter, b.duplicates, b.header))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--file", type=Path, default=None)
    p.add_argument("--columns", default="0,1,2")
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = ([(args.file, triplets.parse_columns(args.columns))] if args.file
                 else tables(Path(tmp), args.lines))
        print(f"{'file':<14} {'lines':>9} {'read_triplets':>14} {'line by line':>13} "
              f"{'ratio':>6}  identical")
        for path, columns in files:
            fast, slow = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                got = triplets.read_triplets(path, columns)
                fast.append(time.perf_counter() - start)
                start = time.perf_counter()
                ref = by_line(path, columns)
                slow.append(time.perf_counter() - start)
            f, s = statistics.median(fast), statistics.median(slow)
            print(f"{path.name:<14} {ref.values.size + ref.duplicates:>9} {f:>13.2f}s "
                  f"{s:>12.2f}s {s / f:>5.1f}x  {same(got, ref)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
