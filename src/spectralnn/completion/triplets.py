"""Tables of ``(row, column, value)`` triplets (e.g. ratings) and the maps from their labels to
matrix indices.

Conventions: columns named by a header row, or given by 0-based position (``0,1,2``) for files
without one (MovieLens's ``u.data``, ``ratings.dat``; a first line whose value cell is not a
number is then taken as a header and skipped). The delimiter is ``sep`` when given, else tab
for ``.tsv``, else detected on the first line: ``::`` (``ratings.dat``), then tab, then ``;``
when it has more of them than of ``,`` (a spreadsheet of a decimal-comma locale), else ``,``.
With any delimiter but ``,`` a value written with a decimal comma (``4,5``) reads as 4.5.
Ids are labels compared as text after stripping spaces (``"7"`` and ``"07"`` are different
ids; numbers and strings both work); values are finite numbers. A ``(row, column)`` pair given
twice with the same value is kept once; twice with different values is an error. Matrix indices
follow the order in which ids first appear in the table.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import numpy as np

from .._compressed import format_suffix, read_bytes
from ..errors import ConfigError, DataError
from .tables import decimal_point, reads_decimal_comma

__all__ = ["IdMap", "Query", "Triplets", "check_sep", "parse_columns", "read_query",
           "read_triplets"]


def parse_columns(spec: str) -> tuple[str, str, str]:
    """``"ROW,COL,VALUE"`` → the three column names or 0-based positions (stripped, non-empty,
    distinct; all three digits means positions in a file without a header)."""
    names = tuple(n.strip() for n in str(spec).split(","))
    if len(names) != 3 or not all(names) or len(set(names)) != 3:
        raise ConfigError(f"--triplets {spec!r}: expected three distinct column names "
                          "ROW,COL,VALUE, e.g. user,item,rating, or positions, e.g. 0,1,2")
    return names[0], names[1], names[2]


def _by_position(columns: tuple[str, ...]) -> bool:
    return all(c.isdigit() for c in columns)


def check_sep(sep: str | None) -> str | None:
    """``--sep``: a non-empty delimiter (``\\t`` written out is a tab), or ``None``."""
    if sep is None:
        return None
    sep = "\t" if sep in ("\\t", "tab") else sep
    if not sep or "\n" in sep or '"' in sep:
        raise ConfigError(f"--sep {sep!r}: expected a delimiter such as ',', '\\t' or '::'")
    return sep


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

    def lookup(self, labels: list[str], what: str, source: str, lines: list[int], *,
               unknown_ok: bool = False) -> np.ndarray:
        """Indices of ``labels``; an unseen label is a :class:`DataError` naming its line, or
        ``-1`` with ``unknown_ok``."""
        out = np.empty(len(labels), dtype=np.int64)
        for k, label in enumerate(labels):
            i = self.index.get(label)
            if i is None:
                if unknown_ok:
                    i = -1
                else:
                    raise DataError(f"{what} id {label!r} at line {lines[k]} of {source} never "
                                    "appears in the training table; expected a known id (or "
                                    "--unknown bias)")
            out[k] = i
        return out


@dataclass(frozen=True)
class Triplets:
    """A table read by :func:`read_triplets`.

    Attributes:
        rows, cols: ``(n,)`` int64 matrix indices; values: ``(n,)`` float64 (duplicates
        collapsed). row_ids, col_ids: the label maps. columns: the three column names or
        positions. delimiter: of the file. duplicates: identical repeated triplets that were
        dropped. header: whether the file had a header row.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    row_ids: IdMap
    col_ids: IdMap
    columns: tuple[str, str, str]
    delimiter: str
    duplicates: int
    header: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.row_ids), len(self.col_ids))


def _delimiter(path: Path, first_line: str, sep: str | None) -> str:
    if sep is not None:
        return sep
    if format_suffix(path) == ".tsv":
        return "\t"
    if "::" in first_line:
        return "::"
    if "\t" in first_line:
        return "\t"
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _read_text(path: Path, what: str, sep: str | None, positions: int) -> tuple[str, str]:
    """The decoded text of a delimited file and its delimiter (:func:`_read_table`)."""
    if not path.is_file():
        raise DataError(f"{what} {str(path)!r} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {str(path)!r} is empty; expected a header row and data")
    try:
        raw = read_bytes(path)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            if not positions:
                raise
            text = raw.decode("latin-1")  # GroupLens's files (titles) are Latin-1
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {str(path)!r}: {_reason(exc)}") from None
    return text, _delimiter(path, text.split("\n", 1)[0], sep)


def _reason(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _split_rows(text: str, delim: str, positions: int, path: Path, what: str,
                ) -> list[list[str]]:
    """The cells of every line: split on ``delim`` as they are for a multi-character
    delimiter or a file read by position, else read as CSV (quoting)."""
    try:
        with _gc_paused():
            if len(delim) > 1 or positions:
                return [line.split(delim) for line in text.splitlines()]
            return list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"cannot read {what} {str(path)!r}: {_reason(exc)}") from None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a table is split into rows: a list per row
    makes it traverse the rows built so far again and again (≈ 6× the time of the split for
    10⁶ rows); rows hold only strings, so they form no cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _frame(rows: list[list[str]], path: Path, what: str, delim: str, positions: int,
           probe: int | None) -> tuple[list[str], list[list[str]], int]:
    """Header, body and the body's first line number of the rows of :func:`_split_rows`."""
    while rows and all(not c.strip() for c in rows[-1]):
        rows.pop()
    if positions:
        if not rows:
            raise DataError(f"{what} {str(path)!r} has no data rows")
        first = rows[0]
        cell = positions - 1 if probe is None else probe
        has_header = len(first) > cell and not _is_number(first[cell], delim)
        width = len(first)
        header = [str(k) for k in range(width)]
        body = rows[1:] if has_header else rows
        start = 2 if has_header else 1
        if width < positions:
            raise ConfigError(f"column {positions - 1} is not in {str(path)!r}: its first line "
                              f"has {width} column(s) separated by {delim!r}; expected more "
                              "(or pass --sep)")
    else:
        if len(rows) < 2:
            raise DataError(f"{what} {str(path)!r} has no data rows; expected a header row "
                            "and at least one row")
        header = [c.strip() for c in rows[0]]
        body, start = rows[1:], 2
    if not body:
        raise DataError(f"{what} {str(path)!r} has no data rows; expected at least one row")
    for i, row in enumerate(body, start=start):
        if len(row) != len(header):
            raise DataError(f"{what} {str(path)!r} is ragged: line {i} has {len(row)} cell(s), "
                            f"the {'header' if start == 2 else 'first line'} has {len(header)}")
    return header, body, start


def _read_table(path: Path, what: str, sep: str | None = None, *, positions: int = 0,
                probe: int | None = None) -> tuple[list[str], list[list[str]], str, int]:
    """Header, body, delimiter and the line number of the body's first row of a delimited
    file. With ``positions`` (the largest column position asked for, plus one), the file may
    have no header: its columns are named ``"0", "1", …``, a first row is a header only when
    its cell at ``probe`` (default ``positions − 1``) is not a number, and cells are split
    on the delimiter as they are (no quoting, as in MovieLens's files)."""
    text, delim = _read_text(path, what, sep, positions)
    rows = _split_rows(text, delim, positions, path, what)
    header, body, start = _frame(rows, path, what, delim, positions, probe)
    return header, body, delim, start


# Characters that break lines for str.splitlines (csv: "\r" and "\n" only) besides "\n".
_OTHER_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _plain_table(text: str, delim: str, positions: int, probe: int | None,
                 ) -> tuple[list[str], list[str], int, int] | None:
    """The fast path of :func:`_split_rows` and :func:`_frame` for a plain, regular file:
    ``(header, cells, width, start)`` with the body's cells row after row in one list (the
    last cell of each line but the last ends with a line break; ids and values are stripped
    anyway), or ``None`` whenever the reference path might read the file differently or
    reject it (quotes in CSV, other line breaks, ragged or empty tables, …)."""
    csv_mode = not positions and len(delim) == 1
    if "\r" in text and text.count("\r") == text.count("\r\n"):
        text = text.replace("\r\n", "\n")
    if any(c in text for c in _OTHER_BREAKS) or any(c in delim for c in _OTHER_BREAKS):
        return None
    if csv_mode and ('"' in text or "\x00" in text):
        return None
    end = len(text)  # drop trailing lines of blank cells, as _frame does
    while True:
        cut = text.rfind("\n", 0, end)
        if text[cut + 1:end].replace(delim, "").strip():
            break
        if cut < 0:
            return None
        end = cut
    nl = text.find("\n", 0, end)
    if nl < 0:
        return None
    first = text[:nl].split(delim)
    width = len(first)
    if width < 2 or width < positions:
        return None
    if positions:
        cell = positions - 1 if probe is None else probe
        start = 2 if len(first) > cell and not _is_number(first[cell], delim) else 1
        header = [str(k) for k in range(width)]
    else:
        start, header = 2, [c.strip() for c in first]
    body = text[nl + 1:end] if start == 2 else text[:end]
    n = body.count("\n") + 1
    # "\n" before each inserted delimiter keeps a multi-character delimiter from matching
    # across lines; each line then has `width` cells exactly when the cells at the ends of
    # rows hold all n − 1 line breaks (a cell holds at most one, at its end).
    cells = body.replace("\n", "\n" + delim).split(delim)
    if len(cells) != n * width or "".join(cells[width - 1::width]).count("\n") != n - 1:
        return None
    limit = csv.field_size_limit()  # a longer cell is an error of the csv module
    if csv_mode and len(text) > limit and max(max(map(len, first)), max(map(len, cells))) > limit:
        return None
    return header, cells, width, start


def _is_number(text: str, delim: str) -> bool:
    """Whether a cell split on ``delim`` holds a number (a decimal comma read where the
    delimiter allows one)."""
    try:
        float(decimal_point(text.strip()) if reads_decimal_comma(delim) else text)
    except ValueError:
        return False
    return True


def _positions(header: list[str], names: tuple[str, ...], source: str) -> list[int]:
    out = []
    for name in names:
        if name not in header:
            raise ConfigError(f"column {name!r} is not in the header of {source}; its columns "
                              f"are: {', '.join(repr(h) for h in header)}")
        out.append(header.index(name))
    return out


def read_triplets(path: str | os.PathLike[str], columns: tuple[str, str, str],
                  sep: str | None = None) -> Triplets:
    """Read a triplet table; ``columns``: the names (header row) or 0-based positions (no
    header needed) of its row-id, column-id and value columns (others are ignored); ``sep``:
    the delimiter (default detected, module doc).

    A column at a time (:func:`_collect`), and for a plain file (no quoting) without
    splitting it into rows first (:func:`_plain_table`); a table with something to reject is
    read again line by line (:func:`_triplets_by_line`), whose error names the first bad
    line. Both give the same :class:`Triplets`."""
    p = Path(path)
    source = repr(str(p))
    need = _needed(columns)
    probe = int(columns[2]) if need else None
    text, delim = _read_text(p, "table", sep, need)
    plain = _plain_table(text, delim, need, probe)
    if plain is not None:
        header, cells, width, first = plain
        ri, ci, vi = _positions(header, columns, source)
        picked = cells[ri::width], cells[ci::width], cells[vi::width]
    else:  # rows split as the line-by-line reader does (CSV quoting), freed before the GC runs
        with _gc_paused():
            header, body, first = _frame(_split_rows(text, delim, need, p, "table"), p,
                                         "table", delim, need, probe)
            ri, ci, vi = _positions(header, columns, source)
            picked = (list(map(itemgetter(ri), body)), list(map(itemgetter(ci), body)),
                      list(map(itemgetter(vi), body)))
            del body
    collected = _collect(*picked, decimal_comma=reads_decimal_comma(delim))
    if collected is None:
        return _triplets_by_line(p, text, delim, columns)
    rows, cols, values, row_ids, col_ids = collected
    return Triplets(rows=rows, cols=cols, values=values, row_ids=row_ids, col_ids=col_ids,
                    columns=columns, delimiter=delim, duplicates=len(picked[0]) - values.size,
                    header=not need or first == 2)


def _needed(columns: tuple[str, str, str]) -> int:
    """``positions`` of :func:`_read_table` for a triplet table (0: columns by name)."""
    return max(int(c) for c in columns) + 1 if _by_position(columns) else 0


def _triplets_by_line(path: Path, text: str, delim: str, columns: tuple[str, str, str],
                      ) -> Triplets:
    """:func:`read_triplets` line by line, the reference: it names the first bad line."""
    source = repr(str(path))
    positional = _by_position(columns)
    need = _needed(columns)
    rows = _split_rows(text, delim, need, path, "table")
    header, body, first = _frame(rows, path, "table", delim, need,
                                 int(columns[2]) if positional else None)
    ri, ci, vi = _positions(header, columns, source)
    seen: dict[tuple[str, str], tuple[float, int]] = {}
    for line, row in enumerate(body, start=first):
        r, c, number = row[ri].strip(), row[ci].strip(), row[vi].strip()
        if not r or not c:
            raise DataError(f"empty id at line {line} of {source}; expected a row and a "
                            "column id on every line")
        try:
            v = float(decimal_point(number) if reads_decimal_comma(delim) else number)
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
        duplicates=len(body) - len(keys), header=not positional or first == 2)


def _collect(row_cells: list[str], col_cells: list[str], value_cells: list[str], *,
             decimal_comma: bool
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, IdMap, IdMap] | None:
    """The fast path of :func:`read_triplets`'s loop, one column at a time: indices, values
    and label maps of the triplets, duplicates collapsed, or ``None`` where the loop would
    raise (an empty id, a value that is not a finite number, two values for one pair).
    Stripping and parsing happen once per distinct cell text."""
    by_row, by_col = _labels(row_cells), _labels(col_cells)
    values = _numbers(value_cells, decimal_comma)
    if by_row is None or by_col is None or values is None:
        return None
    (row_labels, rows), (col_labels, cols) = by_row, by_col
    key = rows * len(col_labels) + cols
    order = np.argsort(key, kind="stable")
    new = np.ones(key.size, dtype=bool)  # first of its (row, column) pair, in sorted order
    np.not_equal(key[order[1:]], key[order[:-1]], out=new[1:])
    if not new.all():
        firsts = order[new]  # the stable sort puts each pair's first line first
        if np.any(values[order] != values[firsts[np.cumsum(new) - 1]]):
            return None
        keep = np.sort(firsts)
        rows, cols, values = rows[keep], cols[keep], values[keep]
    return rows, cols, values, IdMap(row_labels), IdMap(col_labels)


class _FirstSeen(dict[str, int]):
    """``seen[cell]``: the cell's index in order of first lookup (an unseen cell is added)."""

    def __missing__(self, cell: str) -> int:
        self[cell] = index = len(self)
        return index


def _distinct(cells: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct cells in order of first appearance and each cell's index among them
    (one dictionary lookup per cell)."""
    seen = _FirstSeen()
    codes = np.fromiter(map(seen.__getitem__, cells), np.int64, len(cells))
    return list(seen), codes


def _labels(cells: list[str]) -> tuple[list[str], np.ndarray] | None:
    """Stripped labels in order of first appearance and each cell's index among them;
    ``None`` if one is empty."""
    distinct, codes = _distinct(cells)
    index: dict[str, int] = {}
    label_of = np.empty(len(distinct), dtype=np.int64)
    for k, cell in enumerate(distinct):
        label = cell.strip()
        if not label:
            return None
        label_of[k] = index.setdefault(label, len(index))
    return list(index), label_of[codes]


def _numbers(cells: list[str], decimal_comma: bool) -> np.ndarray | None:
    """Each cell as a float64 (``float`` of its stripped text, a decimal comma read as a
    point with ``decimal_comma``); ``None`` if one is not a finite number."""
    distinct, codes = _distinct(cells)
    value = np.empty(len(distinct), dtype=np.float64)
    for k, cell in enumerate(distinct):
        text = cell.strip()
        try:
            value[k] = float(decimal_point(text) if decimal_comma else text)
        except ValueError:
            return None
    if not np.isfinite(value).all():
        return None
    return value[codes]


@dataclass(frozen=True)
class Query:
    """A query table: its header and rows (kept verbatim) and their matrix indices."""

    header: list[str]
    body: list[list[str]]
    rows: np.ndarray
    cols: np.ndarray
    delimiter: str


def read_query(path: str | os.PathLike[str], table: Triplets, sep: str | None = None, *,
               unknown_ok: bool = False) -> Query:
    """Read a query table with the table's row and column columns (by name, or by position
    when the table's were given by position; other columns, e.g. the true value, are kept and
    ignored); every id must appear in ``table``. A positional query has a header row when the
    cell of the table's value column on its first line is not a number (when it has no such
    column: when the table had one). With ``unknown_ok`` an id not in ``table`` gets index
    ``-1`` instead of an error."""
    p = Path(path)
    source = repr(str(p))
    if _by_position(table.columns):
        ri, ci, vi = (int(c) for c in table.columns)
        header, body, delim, first = _read_table(p, "query", sep, positions=max(ri, ci) + 1,
                                                 probe=vi)
        if len(header) <= vi and table.header and first == 1:
            body, first = body[1:], 2  # no value column to tell: as the table was
    else:
        header, body, delim, first = _read_table(p, "query", sep)
        ri, ci = _positions(header, table.columns[:2], source)
        if "prediction" in header:
            raise DataError(f"{source} already has a 'prediction' column; expected a table "
                            "without one")
    rows = _look_up(table.row_ids, list(map(itemgetter(ri), body)), "row", source, first,
                    unknown_ok)
    cols = _look_up(table.col_ids, list(map(itemgetter(ci), body)), "column", source, first,
                    unknown_ok)
    return Query(header=header, body=body, rows=rows, cols=cols, delimiter=delim)


def _look_up(ids: IdMap, cells: list[str], what: str, source: str, first: int,
             unknown_ok: bool) -> np.ndarray:
    """:meth:`IdMap.lookup` of the stripped cells (``cells[0]`` on line ``first``), once per
    distinct cell; the error names the first unknown id's line."""
    distinct, codes = _distinct(cells)
    found = ids.lookup([c.strip() for c in distinct], what, source, [], unknown_ok=True)[codes]
    if not unknown_ok and found.size and found.min() < 0:
        k = int(np.argmax(found < 0))
        ids.lookup([cells[k].strip()], what, source, [first + k])
    return found
