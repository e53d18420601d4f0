"""Tables of ``(row, column, value)`` triplets (e.g. ratings) and the maps from their labels to
matrix indices.

Conventions: a header row naming the columns; ``,`` as delimiter (tab for ``.tsv``); ids are
labels compared as text after stripping spaces (``"7"`` and ``"07"`` are different ids; numbers
and strings both work); values are finite numbers. A ``(row, column)`` pair given twice with
the same value is kept once; twice with different values is an error. Matrix indices follow
the order in which ids first appear in the table.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectralnn.errors import ConfigError, DataError

__all__ = ["IdMap", "Query", "Triplets", "parse_columns", "read_query", "read_triplets"]


def parse_columns(spec: str) -> tuple[str, str, str]:
    """``"ROW,COL,VALUE"`` → the three column names (stripped, non-empty, distinct)."""
    names = tuple(n.strip() for n in str(spec).split(","))
    if len(names) != 3 or not all(names) or len(set(names)) != 3:
        raise ConfigError(f"--triplets {spec!r}: expected three distinct column names "
                          "ROW,COL,VALUE, e.g. user,item,rating")
    return names[0], names[1], names[2]


class IdMap:
    """Labels ↔ indices ``0..n−1`` in order of first appearance."""

    def __init__(self, labels: list[str]) -> None:
        self.labels: list[str] = []
        self.index: dict[str, int] = {}
        for label in labels:
            if label not in self.index:
                self.index[label] = len(self.labels)
                self.labels.append(label)

    def __len__(self) -> int:
        return len(self.labels)

    def lookup(self, labels: list[str], what: str, source: str, lines: list[int]) -> np.ndarray:
        """Indices of ``labels``; an unseen label is a :class:`DataError` naming its line."""
        out = np.empty(len(labels), dtype=np.int64)
        for k, label in enumerate(labels):
            i = self.index.get(label)
            if i is None:
                raise DataError(f"{what} id {label!r} at line {lines[k]} of {source} never "
                                "appears in the training table; expected a known id")
            out[k] = i
        return out


@dataclass(frozen=True)
class Triplets:
    """A table read by :func:`read_triplets`.

    Attributes:
        rows, cols: ``(n,)`` int64 matrix indices; values: ``(n,)`` float64 (duplicates
        collapsed). row_ids, col_ids: the label maps. columns: the three column names.
        delimiter: of the file. duplicates: identical repeated triplets that were dropped.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    row_ids: IdMap
    col_ids: IdMap
    columns: tuple[str, str, str]
    delimiter: str
    duplicates: int

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.row_ids), len(self.col_ids))


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _read_table(path: Path, what: str) -> tuple[list[str], list[list[str]], str]:
    if not path.is_file():
        raise DataError(f"{what} {str(path)!r} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {str(path)!r} is empty; expected a header row and data")
    delim = _delimiter(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=delim)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"cannot read {what} {str(path)!r}: {reason}") from None
    while rows and all(not c.strip() for c in rows[-1]):
        rows.pop()
    if len(rows) < 2:
        raise DataError(f"{what} {str(path)!r} has no data rows; expected a header row and at "
                        "least one row")
    header = [c.strip() for c in rows[0]]
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DataError(f"{what} {str(path)!r} is ragged: line {i} has {len(row)} cell(s), "
                            f"the header has {len(header)}")
    return header, rows[1:], delim


def _positions(header: list[str], names: tuple[str, ...], source: str) -> list[int]:
    out = []
    for name in names:
        if name not in header:
            raise ConfigError(f"column {name!r} is not in the header of {source}; its columns "
                              f"are: {', '.join(repr(h) for h in header)}")
        out.append(header.index(name))
    return out


def read_triplets(path: str | os.PathLike[str], columns: tuple[str, str, str]) -> Triplets:
    """Read a table with a header row; ``columns``: the names of its row-id, column-id and
    value columns (other columns are ignored)."""
    p = Path(path)
    source = repr(str(p))
    header, body, delim = _read_table(p, "table")
    ri, ci, vi = _positions(header, columns, source)
    seen: dict[tuple[str, str], tuple[float, int]] = {}
    for line, row in enumerate(body, start=2):
        r, c, text = row[ri].strip(), row[ci].strip(), row[vi].strip()
        if not r or not c:
            raise DataError(f"empty id at line {line} of {source}; expected a row and a "
                            "column id on every line")
        try:
            v = float(text)
        except ValueError:
            raise DataError(f"non-numeric value {row[vi]!r} in column {columns[2]!r} at line "
                            f"{line} of {source}; expected a number") from None
        if not math.isfinite(v):
            raise DataError(f"value {row[vi]!r} at line {line} of {source} is not finite; "
                            "expected a finite number")
        key = (r, c)
        if key in seen:
            if seen[key][0] != v:
                raise DataError(f"({r!r}, {c!r}) has value {seen[key][0]:g} at line "
                                f"{seen[key][1]} and {v:g} at line {line} of {source}; "
                                "expected one value per (row, column)")
            continue
        seen[key] = (v, line)
    keys = list(seen)
    row_ids = IdMap([k[0] for k in keys])
    col_ids = IdMap([k[1] for k in keys])
    return Triplets(
        rows=np.fromiter((row_ids.index[k[0]] for k in keys), np.int64, len(keys)),
        cols=np.fromiter((col_ids.index[k[1]] for k in keys), np.int64, len(keys)),
        values=np.fromiter((seen[k][0] for k in keys), np.float64, len(keys)),
        row_ids=row_ids, col_ids=col_ids, columns=columns, delimiter=delim,
        duplicates=len(body) - len(keys))


@dataclass(frozen=True)
class Query:
    """A query table: its header and rows (kept verbatim) and their matrix indices."""

    header: list[str]
    body: list[list[str]]
    rows: np.ndarray
    cols: np.ndarray
    delimiter: str


def read_query(path: str | os.PathLike[str], table: Triplets) -> Query:
    """Read a query table (header row with the table's row and column names; other columns,
    e.g. the true value, are kept and ignored); every id must appear in ``table``."""
    p = Path(path)
    source = repr(str(p))
    header, body, delim = _read_table(p, "query")
    ri, ci = _positions(header, table.columns[:2], source)
    if "prediction" in header:
        raise DataError(f"{source} already has a 'prediction' column; expected a table "
                        "without one")
    lines = list(range(2, len(body) + 2))
    rows = table.row_ids.lookup([r[ri].strip() for r in body], "row", source, lines)
    cols = table.col_ids.lookup([r[ci].strip() for r in body], "column", source, lines)
    return Query(header=header, body=body, rows=rows, cols=cols, delimiter=delim)
