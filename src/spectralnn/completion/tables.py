"""Delimited tables as people have them: ``.csv`` / ``.tsv`` with or without a header row, with
or without a column of row labels, ``NA`` / ``NaN`` / empty cells for missing entries.

Reading (:func:`read_table`), in this order:

1. **Encoding**: UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark, else
   Windows-1252. ``#`` comment lines at the start are skipped, and blank lines before and
   after a table of several columns (in a single column, a blank line is a missing cell).
2. **Separator** (unless given): the first of tab, ``;``, ``,``, ``|`` that splits every line
   of the first 50 into the same number (≥ 2) of cells; else runs of whitespace; else one
   column. With ``;``, tab or whitespace a decimal comma (``1,5``) is read as ``1.5``.
3. **Label column** (``index_col``): a column name or 1-based number, ``False`` for none; by
   default the first column when it holds text below the first row, or when the first row
   starts with an empty cell above named columns (what ``pandas.DataFrame.to_csv`` writes).
4. **Header row** (``header``): ``True`` / ``False``; by default a first row with text in it.
   A first row of whole numbers increasing from left to right (years, ``1, 2, 3``) may be
   either: it is a header when the rows below hold fractions or are not themselves
   increasing by a constant step, and the choice is reported in :attr:`Table.notes`.
5. **Cells**: a number, or missing when empty / ``NA`` / ``NaN`` / ``N/A`` / ``null`` /
   ``None`` / ``?`` / ``-`` (any case). ±Inf and any other text are refused with the cell's
   line and column.

Writing (:func:`encode_completed`) puts back the header row and the label column, writes each
observed cell exactly as it was typed and each filled cell with as many decimals as the most
precise observed cell of its column (scientific notation with as many significant digits when
the column's cells are typed that way).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._compressed import format_suffix, read_bytes
from ..errors import ConfigError, DataError

__all__ = ["MISSING_CELLS", "Table", "decimal_point", "encode_completed", "parse_index_col",
           "read_table", "reads_decimal_comma"]

MISSING_CELLS = frozenset({"", "na", "nan", "n/a", "null", "none", "?", "-", "#n/a"})
_CANDIDATES = ("\t", ";", ",", "|")
_SAMPLE_LINES = 50
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass
class Table:
    """A numeric table read from a delimited file.

    Attributes:
        values: ``(d1, d2)`` float64, NaN where missing (labels and header excluded).
        delimiter: the separator (``" "`` for whitespace-separated files).
        header: the header row's cells (label column included) or None.
        labels: the label column's cells below the header, or None.
        index_col: the label column's 0-based position in the file, or None.
        cells: ``(d1, d2)`` the observed cells as typed ("" where missing).
        formats: per column of ``values``, the format spec of filled cells (e.g. ``".2f"``).
        notes: one line per choice a reader should know about (e.g. the header detection).
    """

    values: np.ndarray
    delimiter: str
    header: list[str] | None = None
    labels: list[str] | None = None
    index_col: int | None = None
    cells: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=object))
    formats: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    decimal_comma: bool = False


def parse_index_col(value: object) -> int | str | bool | None:
    """The label-column option: None (detect), False (``"none"``), a 1-based number or a name."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"--index-col must be a column name or a number ≥ 1, got {value}")
        return value
    text = str(value).strip()
    if text.lower() in ("none", "no", "false"):
        return False
    if text.isdigit():
        return parse_index_col(int(text))
    if not text:
        raise ConfigError("--index-col is empty; expected a column name or number")
    return text


def _decode(raw: bytes, where: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DataError(f"cannot read {where}: {exc.reason} (UTF-16)") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _split(lines: list[str], delimiter: str) -> list[list[str]]:
    if delimiter == " ":
        return [line.split() for line in lines]
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"cannot split the table on {delimiter!r}: {exc}") from None


def _detect_delimiter(lines: list[str], preferred: str | None) -> str:
    sample = lines[:_SAMPLE_LINES]
    order = ([preferred] if preferred else []) + [c for c in _CANDIDATES if c != preferred]
    for cand in order:
        if not any(cand in line for line in sample):
            continue
        widths = {len(row) for row in _split(sample, cand)}
        if len(widths) == 1 and widths.pop() >= 2:
            return cand
    widths = {len(line.split()) for line in sample}
    if len(widths) == 1 and widths.pop() >= 2:
        return " "
    return preferred or ","


def reads_decimal_comma(delimiter: str) -> bool:
    """Whether cells split on ``delimiter`` may hold decimal commas (``4,5``): with any
    delimiter but ``,`` (tables and triplet tables alike)."""
    return delimiter != ","


def decimal_point(text: str) -> str:
    """``"1,5"`` → ``"1.5"``: a number written with a decimal comma (digits, one comma,
    digits) with a point instead; any other text as it is."""
    return text.replace(",", ".") if _DECIMAL_COMMA.match(text) else text


def _number(text: str, decimal_comma: bool) -> float | None:
    """The cell's value, NaN when missing, None when it is not a number."""
    t = text.strip()
    if t.lower() in MISSING_CELLS:
        return math.nan
    if decimal_comma:
        t = decimal_point(t)
    try:
        return float(t)
    except ValueError:
        return None


def _is_text(text: str, decimal_comma: bool) -> bool:
    return _number(text, decimal_comma) is None


def _increasing_integers(values: list[float | None]) -> bool:
    if len(values) < 2 or any(v is None or math.isnan(v) or not float(v).is_integer()
                              for v in values):
        return False
    return all(b > a for a, b in itertools.pairwise(values))  # type: ignore[operator]


def _constant_step(values: list[float]) -> bool:
    steps = {b - a for a, b in itertools.pairwise(values)}
    return len(steps) == 1 and steps.pop() > 0


def _format_of(cells: list[str]) -> str:
    """The format spec of a filled cell in a column whose observed cells are ``cells``."""
    decimals, digits, scientific = 0, 1, False
    for cell in cells:
        t = cell.strip().lstrip("+-").replace(",", ".")
        mantissa, _, exponent = t.lower().partition("e")
        whole, _, frac = mantissa.partition(".")
        if exponent:
            scientific = True
            digits = max(digits, len((whole + frac).lstrip("0")) or 1)
        else:
            decimals = max(decimals, len(frac))
    return f".{digits - 1}e" if scientific else f".{decimals}f"


def _column(header: list[str] | None, index_col: int | str, width: int, where: str) -> int:
    if isinstance(index_col, int):
        if index_col > width:
            raise ConfigError(f"--index-col {index_col} is beyond the {width} column(s) of "
                              f"{where}")
        return index_col - 1
    names = [c.strip() for c in header] if header else []
    if index_col not in names:
        raise ConfigError(f"--index-col {index_col!r} is not a column of {where}; its header "
                          f"is {', '.join(names) if names else '(none)'}")
    return names.index(index_col)


def read_table(path: str | Path, *, delimiter: str | None = None, header: bool | None = None,
               index_col: int | str | bool | None = None) -> Table:
    """Read a delimited numeric table (see the module's rules); raises
    :class:`~spectralnn.errors.DataError` on anything that is not a table of numbers."""
    p = Path(path)
    where = repr(str(p))
    try:
        raw = read_bytes(p)
    except OSError as exc:
        raise DataError(f"cannot read {where}: {exc.strerror or exc}") from None
    lines = _decode(raw, where).splitlines()
    first = 0
    while first < len(lines) and lines[first].startswith("#"):
        first += 1
    lines = lines[first:]
    filled = [line for line in lines if line.strip()]
    if not filled:
        raise DataError(f"{where} has no rows; expected a matrix")
    preferred = {".tsv": "\t", ".csv": ","}.get(format_suffix(p))
    sep = delimiter or _detect_delimiter(filled, preferred)
    decimal_comma = reads_decimal_comma(sep)
    if len(_split(filled[:1], sep)[0]) > 1:
        # Blank lines around a table of several columns are layout; in a single column a
        # blank line is a missing cell.
        while not lines[-1].strip():
            lines.pop()
        while not lines[0].strip():
            lines.pop(0)
            first += 1
    rows = [[c.strip() for c in row] for row in _split(lines, sep)]
    if sep == " " and len(rows) > 1 and len(rows[0]) == len(rows[1]) - 1:
        rows[0].insert(0, "")  # a header above a label column, its corner left blank
    width = max(len(rows[0]), 1)
    for i, row in enumerate(rows):
        if not row:
            rows[i] = row = [""] * width  # a blank line: a row of missing cells
        if len(row) != width:
            raise DataError(f"{where} is ragged: line {first + i + 1} has {len(row)} cell(s), "
                            f"line {first + 1} has {width}; expected the same number on every "
                            "line")
    notes: list[str] = []

    # The label column: named, numbered, or detected.
    col: int | None = None
    if index_col is not None and index_col is not False:
        col = _column(rows[0], index_col, width, where)
        if header is None and isinstance(index_col, str):
            header = True
    elif index_col is None and width >= 2:
        below = [r[0] for r in rows[1:]]
        if any(_is_text(c, decimal_comma) for c in below):
            col = 0
        elif (len(rows) > 1 and rows[0][0] == ""
              and all(_is_text(c, decimal_comma) for c in rows[0][1:])):
            col = 0  # pandas' to_csv: an empty corner above the index
    data_cols = [j for j in range(width) if j != col]
    if not data_cols:
        raise DataError(f"{where} has only the label column; expected numbers beside it")

    # The header row: given, or detected.
    top = [rows[0][j] for j in data_cols]
    top_values = [_number(c, decimal_comma) for c in top]
    if header is None:
        if any(v is None for v in top_values):
            header = True
        elif (len(rows) > 1 and all(_INTEGER.match(c) for c in top)
              and _increasing_integers(top_values)):
            body = [[_number(r[j], decimal_comma) for j in data_cols] for r in rows[1:]]
            numbers = [v for r in body for v in r if v is not None and not math.isnan(v)]
            fractions = any(not v.is_integer() for v in numbers)
            full = [r for r in body if all(v is not None and not math.isnan(v) for v in r)]
            progressions = bool(full) and all(
                _increasing_integers(r) and _constant_step(r) for r in full)  # type: ignore
            header = fractions or (_constant_step(top_values) and not progressions)  # type: ignore
            shown = ", ".join(top[:3]) + (", …" if len(top) > 3 else "")
            notes.append(f"first row ({shown}) read as a header: column labels; pass "
                         "--no-header to read it as data" if header else
                         f"first row ({shown}) read as data; pass --header if it holds column "
                         "labels")
        else:
            header = False
    head = rows[0] if header else None
    body_rows = rows[1:] if header else rows
    if not body_rows:
        raise DataError(f"{where} has a header row and no data rows; expected a matrix (pass "
                        "--no-header if its first line is data)")
    values = np.empty((len(body_rows), len(data_cols)), dtype=np.float64)
    cells = np.empty(values.shape, dtype=object)
    offset = first + (2 if header else 1)
    for i, row in enumerate(body_rows):
        for k, j in enumerate(data_cols):
            text = row[j]
            value = _number(text, decimal_comma)
            if value is None:
                hint = (" (a label column? pass --index-col)" if j == 0 and col is None else
                        " (a header row? pass --header)" if i == 0 and not header else "")
                raise DataError(f"non-numeric cell {text!r} at line {i + offset}, column "
                                f"{j + 1} of {where}; expected a number, or empty/NA/NaN for "
                                f"missing{hint}")
            if math.isinf(value):
                raise DataError(f"infinite cell {text!r} at line {i + offset}, column {j + 1} "
                                f"of {where}; expected a finite number")
            values[i, k] = value
            cells[i, k] = "" if math.isnan(value) else text
    observed = ~np.isnan(values)
    every = [c for c in cells[observed]]
    default = _format_of(every) if every else ".6g"
    formats = [_format_of(list(cells[observed[:, k], k])) if observed[:, k].any() else default
               for k in range(values.shape[1])]
    return Table(values=values, delimiter=sep, header=head,
                 labels=None if col is None else [r[col] for r in body_rows], index_col=col,
                 cells=cells, formats=formats, notes=notes, decimal_comma=decimal_comma)


def _format(value: float, spec: str, decimal_comma: bool) -> str:
    text = format(value, spec)
    if spec.endswith("f") and float(text) == 0.0:
        text = text.lstrip("-")  # "-0.00" reads as a sign where there is none
    return text.replace(".", ",") if decimal_comma and spec.endswith("f") else text


def encode_completed(table: Table, X: np.ndarray, *, exact: bool = False) -> bytes:
    """The table with ``X`` in its missing cells (observed cells as typed), header and labels
    kept, in ``table``'s separator, UTF-8. ``exact``: filled cells with every digit."""
    buf = io.StringIO()
    sep = table.delimiter
    writer = csv.writer(buf, delimiter="\t" if sep == " " else sep, lineterminator="\n")
    comma = table.decimal_comma and sep != "," and any("," in c for c in table.cells.ravel())
    rows: list[list[str]] = []
    if table.header is not None:
        rows.append(list(table.header))
    for i in range(X.shape[0]):
        row = [table.cells[i, k] or (repr(float(X[i, k])) if exact else
                                     _format(float(X[i, k]), table.formats[k], comma))
               for k in range(X.shape[1])]
        if table.index_col is not None and table.labels is not None:
            row.insert(table.index_col, table.labels[i])
        rows.append(row)
    if sep == " ":
        return ("\n".join(" ".join(r) for r in rows) + "\n").encode("utf-8")
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")
