"""The triplet reader: its column-at-a-time path gives the same ``Triplets`` as the
line-by-line reader on generated tables (ids with spaces, ``"7"`` and ``"07"``, identical
duplicates, headers, ``::`` / tab / comma, CRLF, trailing blank lines), and a table with
something to reject gets the line-by-line reader's one-line error, naming the same line."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from spectralnn.completion import triplets
from spectralnn.completion.triplets import read_query, read_triplets
from spectralnn.errors import ConfigError, DataError

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

COMMON = dict(deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
IDS = ["7", "07", " 7", "7 ", "a b", "x", "Ünï", "1m_1", "t\u00a0", "y", "z"]
VALUES = ["1", "2.5", " 3 ", "4.0", "4", "-0", "0", "1e3", "-7.25"]
COMMA_VALUES = ["4,5", "-0,25", ",5", " 2,0 "]  # a decimal comma: read with any delimiter but ,
DIR = Path(tempfile.mkdtemp(prefix="triplets-"))


def by_line(path, columns, sep=None):
    """The reference: the reader that goes line by line."""
    text, delim = triplets._read_text(Path(path), "table", sep, triplets._needed(columns))
    return triplets._triplets_by_line(Path(path), text, delim, columns)


def assert_same(a, b):
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    np.testing.assert_array_equal(a.values, b.values)
    assert np.array_equal(np.signbit(a.values), np.signbit(b.values))  # "-0" stays -0.0
    assert a.rows.dtype == b.rows.dtype == np.int64 and a.values.dtype == np.float64
    assert a.row_ids.labels == b.row_ids.labels and a.col_ids.labels == b.col_ids.labels
    assert a.row_ids.index == b.row_ids.index and a.col_ids.index == b.col_ids.index
    assert (a.columns, a.delimiter, a.duplicates, a.header) == \
        (b.columns, b.delimiter, b.duplicates, b.header)


@st.composite
def tables(draw):
    """``(file text, suffix, columns, the data lines' triplets, first data line)``."""
    delim = draw(st.sampled_from([",", "\t", "::", ";"]))
    suffix = {",": ".csv", "\t": draw(st.sampled_from([".tsv", ".data"])), "::": ".dat",
              ";": ".txt"}[delim]
    values = VALUES if delim == "," else VALUES + COMMA_VALUES
    width = draw(st.integers(3, 5))
    where = draw(st.permutations(range(width)))[:3]
    named = draw(st.booleans())
    header = named or draw(st.booleans())
    n = draw(st.integers(1, 25))
    triples: list[tuple[str, str, str]] = []
    given: dict[tuple[str, str], str] = {}  # one value per (row, column): no conflicts here
    for _ in range(n):
        if triples and draw(st.integers(0, 4)) == 0:  # an identical duplicate
            triples.append(draw(st.sampled_from(triples)))
        else:
            r, c = draw(st.sampled_from(IDS)), draw(st.sampled_from(IDS))
            v = given.setdefault((r.strip(), c.strip()), draw(st.sampled_from(values)))
            triples.append((r, c, v))
    lines = [delim.join(f"h{k}" for k in range(width))] if header else []
    for r, c, v in triples:
        cells = [str(draw(st.integers(0, 99))) for _ in range(width)]
        cells[where[0]], cells[where[1]], cells[where[2]] = r, c, v
        lines.append(delim.join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 2,
                                                       newline + " " + newline]))
    columns = tuple(f"h{k}" if named else str(k) for k in where)
    return text, suffix, columns, triples, 2 if header else 1


def write(text, suffix):
    path = DIR / f"t{suffix}"
    path.write_bytes(text.encode())
    return path


def expected_first_values(triples):
    """(stripped row, stripped column) → value of its first line, in order of first line."""
    out: dict[tuple[str, str], float] = {}
    for r, c, v in triples:
        out.setdefault((r.strip(), c.strip()), float(v.replace(",", ".")))
    return out


@settings(max_examples=150, **COMMON)
@given(tables())
def test_column_at_a_time_equals_line_by_line_on_generated_tables(case):
    text, suffix, columns, triples, _ = case
    path = write(text, suffix)
    with mock.patch.object(triplets, "_triplets_by_line", side_effect=AssertionError(
            "a valid plain table must not need the line-by-line reader")):
        got = read_triplets(path, columns)
    assert_same(got, by_line(path, columns))
    first = expected_first_values(triples)
    assert got.row_ids.labels == list(dict.fromkeys(r for r, _ in first))
    assert got.col_ids.labels == list(dict.fromkeys(c for _, c in first))
    assert {(got.row_ids.labels[r], got.col_ids.labels[c]): v
            for r, c, v in zip(got.rows, got.cols, got.values)} == first
    assert got.duplicates == len(triples) - len(first)
    assert got.rows.size == len(first)


DEFECTS = {  # (row id, column id, value) of the bad line → expected start of the message
    "non-numeric value": (("a", "x", "good"), "non-numeric value 'good'"),
    "empty value": (("a", "x", " "), "non-numeric value ' '"),
    "nan": (("a", "x", "nan"), "value 'nan' at line"),
    "infinite value": (("a", "x", "-inf"), "value '-inf' at line"),
    "too large": (("a", "x", "1e999"), "value '1e999' at line"),
    "empty row id": ((" ", "x", "1"), "empty id at line"),
    "empty column id": (("a", "", "1"), "empty id at line"),
}


@settings(max_examples=120, **COMMON)
@given(tables(), st.sampled_from(sorted(DEFECTS)), st.data())
def test_a_bad_line_gets_the_line_by_line_message(case, defect, data):
    text, suffix, columns, triples, first = case
    (r, c, v), message = DEFECTS[defect]
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(newline)
    k = data.draw(st.integers(first - 1, first - 2 + len(triples)))  # a data line, 0-based
    hypothesis.assume(k >= 1 or "id" in defect)  # a first line without a number is a header
    delim = {".csv": ",", ".dat": "::", ".txt": ";"}.get(suffix, "\t")
    cells = lines[k].split(delim)
    where = [int(col[1:]) if col.startswith("h") else int(col) for col in columns]
    cells[where[0]], cells[where[1]], cells[where[2]] = r, c, v
    lines[k] = delim.join(cells)
    path = write(newline.join(lines), suffix)
    with pytest.raises(DataError) as reference:
        by_line(path, columns)
    with pytest.raises(DataError) as got:
        read_triplets(path, columns)
    assert str(got.value) == str(reference.value)
    assert str(got.value).startswith(message) and f" line {k + 1} " in str(got.value)


@settings(max_examples=80, **COMMON)
@given(tables(), st.data())
def test_conflicting_duplicates_and_ragged_lines_get_the_line_by_line_message(case, data):
    text, suffix, columns, triples, first = case
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = [line for line in text.split(newline)]
    delim = {".csv": ",", ".dat": "::", ".txt": ";"}.get(suffix, "\t")
    k = data.draw(st.integers(first - 1, first - 2 + len(triples)))
    if data.draw(st.booleans()):  # the same pair again with another value
        where = [int(col[1:]) if col.startswith("h") else int(col) for col in columns]
        cells = lines[k].split(delim)
        cells[where[2]] = "1" if float(cells[where[2]].replace(",", ".")) != 1 else "2"
        lines.insert(data.draw(st.integers(k + 1, first - 1 + len(triples))),
                     delim.join(cells))
        expected = "expected one value per (row, column)"
    else:  # a line after the first with a cell more or less, or empty between two lines
        last = first - 2 + len(triples)
        hypothesis.assume(k >= 1)
        lines[k] = data.draw(st.sampled_from([lines[k] + delim + "9",
                                              delim.join(lines[k].split(delim)[:-1])]
                                             + ([""] if k < last else [])))
        expected = f"is ragged: line {k + 1} has"
    path = write(newline.join(lines), suffix)
    with pytest.raises(DataError) as reference:
        by_line(path, columns)
    with pytest.raises(DataError) as got:
        read_triplets(path, columns)
    assert str(got.value) == str(reference.value) and expected in str(got.value)


def test_error_messages_name_the_value_and_line(tmp_path):
    """The messages, word for word."""
    path = tmp_path / "r.csv"
    src = repr(str(path))
    cases = {
        "u,i,v\na,x,1\nb,y, good \n": f"non-numeric value ' good ' in column 'v' at line 3 of "
                                      f"{src}; expected a number",
        "u,i,v\na,x,1\nb,y,inf\n": f"value 'inf' at line 3 of {src} is not finite; expected "
                                   "a finite number",
        "u,i,v\na,x,1\n ,y,2\n": f"empty id at line 3 of {src}; expected a row and a column "
                                 "id on every line",
        "u,i,v\na,x,1\nb,y,2\na ,x,1.5\n": f"('a', 'x') has value 1 at line 2 and 1.5 at line "
                                           f"4 of {src}; expected one value per (row, column)",
        "u,i,v\na,x,1\nb,y\n": f"table {src} is ragged: line 3 has 2 cell(s), the header has 3",
        "u,i,v\n\n": f"table {src} has no data rows; expected a header row and at least one row",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(DataError) as exc:
            read_triplets(path, ("u", "i", "v"))
        assert str(exc.value) == message
    path.write_text("u,i,v\na,x,1\n")
    with pytest.raises(ConfigError, match=r"^column 'user' is not in the header of .*; its "
                                          r"columns are: 'u', 'i', 'v'$"):
        read_triplets(path, ("user", "i", "v"))
    with pytest.raises(ConfigError, match=r"^column 5 is not in .*: its first line has 3 "):
        read_triplets(path, ("0", "1", "5"))


def test_quoted_csv_and_other_line_breaks_read_as_before(tmp_path):
    """CSV quoting (a comma inside a title), a BOM, a form feed inside a cell and a lone
    carriage return are read by the csv module or line splitting as before."""
    path = tmp_path / "r.csv"
    for text in ['\ufeffuser,item,rating\nann,"Heat, 1995",4\nbob,"Heat, 1995",3\n'
                 'ann,Up,5\nann,"Heat, 1995",4\n',
                 "user,item,rating\nann,a\x0cb,4\nbob,x,3\n",
                 "user,item,rating\rann,x,4\rbob,x,3\r"]:
        path.write_text(text, newline="")
        columns = ("user", "item", "rating")
        got = read_triplets(path, columns)
        assert_same(got, by_line(path, columns))
    got = read_triplets(tmp_path / "r.csv", columns)
    assert got.shape == (2, 1) and got.values.tolist() == [4.0, 3.0]
    path.write_text('\ufeffuser,item,rating\nann,"Heat, 1995",4\nann,"Heat, 1995",4\n')
    got = read_triplets(path, ("user", "item", "rating"))
    assert got.col_ids.labels == ["Heat, 1995"] and got.duplicates == 1


def test_ratings_dat_with_a_latin1_title_column_and_a_query(tmp_path):
    """GroupLens's layout: ``::``, no header, Latin-1; ids stay text ("07" is not "7"); a
    query reads its ids through the same maps."""
    path = tmp_path / "ratings.dat"
    path.write_bytes("7::Amélie::5::1\n07::Amélie::4::2\n7::Heat::3::3\n7::Amélie::5::4\n"
                     .encode("latin-1"))
    table = read_triplets(path, ("0", "1", "2"))
    assert_same(table, by_line(path, ("0", "1", "2")))
    assert table.row_ids.labels == ["7", "07"] and table.col_ids.labels == ["Amélie", "Heat"]
    assert table.values.tolist() == [5.0, 4.0, 3.0] and table.duplicates == 1
    assert not table.header and table.delimiter == "::"
    query = tmp_path / "q.dat"
    query.write_text("07::Heat::0::0\n 7 ::Amélie::0::0\n")
    q = read_query(query, table)
    assert q.rows.tolist() == [1, 0] and q.cols.tolist() == [1, 0]
    query.write_text("07::Heat::0::0\n8::Heat::0::0\n")
    with pytest.raises(DataError, match=r"^row id '8' at line 2 of "):
        read_query(query, table)


def test_a_cell_longer_than_the_csv_field_limit_is_the_csv_error(tmp_path):
    path = tmp_path / "r.csv"
    limit = csv.field_size_limit()
    path.write_text("u,i,v\na,x,1\nb," + "y" * limit + ",2\n")
    got = read_triplets(path, ("u", "i", "v"))
    assert_same(got, by_line(path, ("u", "i", "v")))
    assert len(got.col_ids.labels[1]) == limit
    path.write_text("u,i,v\na,x,1\nb," + "y" * (limit + 1) + ",2\n")
    with pytest.raises(DataError, match=r"^cannot read table .*: field larger than field "
                                        rf"limit \({limit}\)$"):
        read_triplets(path, ("u", "i", "v"))


@settings(max_examples=60, **COMMON)
@given(st.lists(st.sampled_from([*IDS, "8", " 08 ", "new"]), min_size=1, max_size=30),
       st.integers(1, 3))
def test_query_ids_are_looked_up_as_idmap_lookup_does(cells, first):
    """Once per distinct cell, the same indices (−1 for an unknown id) and the same error,
    naming the first unknown id's line, as :meth:`IdMap.lookup` of every stripped cell."""
    ids = triplets.IdMap([c.strip() for c in IDS])
    labels = [c.strip() for c in cells]
    lines = list(range(first, first + len(cells)))
    np.testing.assert_array_equal(
        triplets._look_up(ids, cells, "row", "'q.csv'", first, True),
        ids.lookup(labels, "row", "'q.csv'", lines, unknown_ok=True))
    try:
        expected = ids.lookup(labels, "row", "'q.csv'", lines)
    except DataError as exc:
        with pytest.raises(DataError) as got:
            triplets._look_up(ids, cells, "row", "'q.csv'", first, False)
        assert str(got.value) == str(exc)
    else:
        np.testing.assert_array_equal(
            triplets._look_up(ids, cells, "row", "'q.csv'", first, False), expected)
