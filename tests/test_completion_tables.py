"""Tables as people have them (header rows, label columns, NA cells, separators, precision)
and inputs with nothing to learn, through ``spectralnn complete`` and ``spectralnn.complete``."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

import spectralnn
from spectralnn.cli import main
from spectralnn.completion import CompletionWarning, read_table
from spectralnn.errors import ConfigError, DataError


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["complete", *map(str, args)])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def countries_by_years(n=24, years=18, seed=0):
    """A rank-2 positive table (countries × years) and the same with 30 % hidden."""
    rng = np.random.default_rng(seed)
    A = (np.outer(rng.uniform(1, 3, n), rng.uniform(1, 2, years))
         + np.outer(rng.uniform(0, 1, n), np.linspace(0, 1, years))) * 10
    M = np.round(A, 2)
    M[rng.random(A.shape) < 0.3] = np.nan
    return np.round(A, 2), M


def write_table(path, M, *, header=None, labels=None, sep=",", missing="", fmt="{:.2f}"):
    lines = []
    if header is not None:
        lines.append(sep.join(header))
    for i, row in enumerate(M):
        cells = [missing if np.isnan(v) else fmt.format(v) for v in row]
        lines.append(sep.join(([labels[i]] if labels is not None else []) + cells))
    path.write_text("\n".join(lines) + "\n")


def read_back(path, sep=","):
    with path.open(newline="") as f:
        return list(csv.reader(f, delimiter=sep))


def test_a_header_of_years_is_detected_said_and_kept(tmp_path, capsys):
    """Item 1: before, the years were read as a data row, silently (error 7.77 vs 0.45)."""
    A, M = countries_by_years()
    years = [str(1990 + j) for j in range(M.shape[1])]
    write_table(tmp_path / "years.csv", M, header=years)
    out = tmp_path / "out"
    code, _, err = run(capsys, tmp_path / "years.csv", "--out", out, "--max-steps", "300",
                       "--quiet")
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "read as a header" in notes[0] and "--no-header" in notes[0]
    rows = read_back(out / "completed.csv")
    assert rows[0] == years and len(rows) == M.shape[0] + 1
    X = np.array(rows[1:], dtype=float)
    missing = np.isnan(M)
    np.testing.assert_array_equal(X[~missing], M[~missing])
    row_mean = np.where(missing, np.nanmean(M, axis=1, keepdims=True), M)
    assert np.abs(X - A)[missing].mean() < 0.5 * np.abs(row_mean - A)[missing].mean()
    s = json.loads((out / "summary.json").read_text())
    assert s["shape"] == list(M.shape) and s["header"] is True and s["notes"] == [notes[0][6:]]

    # --no-header reads the same first row as data, and says nothing.
    code, _, err = run(capsys, tmp_path / "years.csv", "--out", tmp_path / "o2", "--no-header",
                       "--max-steps", "5", "--quiet")
    assert code == 0 and "note:" not in err
    assert json.loads((tmp_path / "o2" / "summary.json").read_text())["shape"] == [
        M.shape[0] + 1, M.shape[1]]


def test_a_first_row_of_integers_like_the_body_is_data_and_that_is_said(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,2,3\n2,4,6\n3,6,9\n4,,12\n")  # every row increases by a constant step
    table = read_table(path)
    assert table.header is None and table.values.shape == (4, 3)
    assert len(table.notes) == 1 and "read as data" in table.notes[0]
    path.write_text("5,3,4\n2,,1\n")  # not increasing: no doubt, no note
    assert read_table(path).notes == [] and read_table(path).header is None


def test_words_header_label_column_na_cells_and_semicolons(tmp_path, capsys):
    """Item 1: a header of words, a first column of labels, NA cells and ';' were refused."""
    _, M = countries_by_years(8, 5, seed=1)
    labels = [f"country {i}" for i in range(8)]
    header = ["country", *(f"y{j}" for j in range(5))]
    path = tmp_path / "t.csv"
    write_table(path, M, header=header, labels=labels, sep=";", missing="NA",
                fmt="{:.3f}")
    table = read_table(path)
    assert table.delimiter == ";" and table.header == header and table.labels == labels
    np.testing.assert_array_equal(np.isnan(table.values), np.isnan(M))
    out = tmp_path / "out"
    code, _, _ = run(capsys, path, "--out", out, "--max-steps", "50", "--quiet")
    assert code == 0
    rows = read_back(out / "completed.csv", ";")
    assert rows[0] == header and [r[0] for r in rows[1:]] == labels
    # observed cells exactly as typed, filled ones with the same 3 decimals
    typed = path.read_text().splitlines()
    for i, row in enumerate(rows[1:]):
        for j, cell in enumerate(row[1:]):
            original = typed[i + 1].split(";")[j + 1]
            if original != "NA":
                assert cell == original
            else:
                assert len(cell.split(".")[1]) == 3 and np.isfinite(float(cell))


def test_index_col_by_name_and_number_and_pandas_corner(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tid\tb\n1.5\t101\t\n2.5\t102\t3\n")
    by_name = read_table(path, index_col="id")
    assert by_name.labels == ["101", "102"] and by_name.values.shape == (2, 2)
    assert read_table(path, index_col=2).labels == ["101", "102"]
    assert read_table(path).labels is None  # numbers: data unless named
    with pytest.raises(ConfigError, match="not a column"):
        read_table(path, index_col="nope")
    corner = tmp_path / "pandas.csv"
    corner.write_text(",a,b\n0,1.5,\n1,2.5,3.0\n")  # what DataFrame.to_csv() writes
    table = read_table(corner)
    assert table.labels == ["0", "1"] and table.header == ["", "a", "b"]


def test_whitespace_decimal_comma_and_encodings(tmp_path):
    (tmp_path / "w.csv").write_text("1.0  2.0   3\n4 NaN 6\n")
    t = read_table(tmp_path / "w.csv")
    assert t.delimiter == " " and t.values.shape == (2, 3) and np.isnan(t.values[1, 1])
    (tmp_path / "d.csv").write_text("1,5;2,25\n3,0;\n")
    t = read_table(tmp_path / "d.csv")
    np.testing.assert_array_equal(t.values, [[1.5, 2.25], [3.0, np.nan]])
    (tmp_path / "u.csv").write_bytes("région,a\nÉvry,1.5\nIssy,\n".encode("utf-16"))
    t = read_table(tmp_path / "u.csv")
    assert t.labels == ["Évry", "Issy"] and t.values.shape == (2, 1)
    (tmp_path / "l.csv").write_bytes("région,a\nÉvry,1.5\nIssy,2\n".encode("cp1252"))
    assert read_table(tmp_path / "l.csv").labels == ["Évry", "Issy"]


def test_filled_cells_take_the_precision_of_their_column(tmp_path, capsys):
    """Item 7: filled cells had 16 significant digits next to cells typed with 1 or 2."""
    _, M = countries_by_years(10, 6, seed=2)
    path = tmp_path / "p.csv"
    lines = [",".join("" if np.isnan(v) else (f"{v:.1f}" if j % 2 else f"{v:.0f}")
                      for j, v in enumerate(row)) for row in M]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code, _, _ = run(capsys, path, "--out", out, "--max-steps", "30", "--quiet")
    assert code == 0
    for row in read_back(out / "completed.csv"):
        for j, cell in enumerate(row):
            assert ("." in cell) == bool(j % 2)
            assert len(cell.partition(".")[2]) == (1 if j % 2 else 0)


def test_dataframes_in_and_out_of_complete():
    pd = pytest.importorskip("pandas")
    _, M = countries_by_years(10, 6, seed=3)
    df = pd.DataFrame(M, index=[f"c{i}" for i in range(10)],
                      columns=[str(1990 + j) for j in range(6)])
    df.iloc[0, 0] = pd.NA
    out = spectralnn.complete(df, max_steps=30)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == list(df.index) and list(out.columns) == list(df.columns)
    assert np.isfinite(out.to_numpy()).all()
    observed = df.notna().to_numpy()
    np.testing.assert_array_equal(out.to_numpy()[observed], df.to_numpy(float)[observed])
    with pytest.raises(DataError, match="non-numeric column"):
        spectralnn.complete(df.assign(name="x"))


DEGENERATE = {
    "constant": (np.where(np.eye(4) > 0, np.nan, 5.0), "constant", 5.0),
    "1x1": (np.array([[3.0]]), "nothing_missing", 3.0),
    "nan then 2": (np.array([[np.nan, 2.0]]), "constant", 2.0),
    "a row of 1000, a third missing": (
        np.where(np.arange(1000) % 3 == 0, np.nan, 2.0 + (np.arange(1000) % 3 == 1))[None, :],
        "degenerate", 2.5),
    "a column": (np.array([[1.0], [np.nan], [3.0]]), "degenerate", 2.0),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE))
def test_inputs_with_nothing_to_learn_complete_at_once_and_say_so(case):
    """Items 2 and 3: a constant matrix, 1×1 and [[nan, 2]] ended in ZeroDivisionError; a
    1×1000 row ran all 10 000 steps."""
    M, status, fill = DEGENERATE[case]
    with pytest.warns(CompletionWarning):
        X, s = spectralnn.complete(M, return_summary=True)
    assert s["status"] == status and s["warning"] and s["fit"] == {"status": status}
    observed = ~np.isnan(M)
    np.testing.assert_array_equal(X[observed], M[observed])
    np.testing.assert_allclose(X[~observed], fill)


@pytest.mark.parametrize("fmt", ["npy", "csv"])
def test_constant_file_completes_with_a_warning_line(tmp_path, capsys, fmt):
    M = np.where(np.eye(5) > 0, np.nan, 5.0)
    path = tmp_path / f"c.{fmt}"
    if fmt == "npy":
        np.save(path, M)
    else:
        write_table(path, M, fmt="{:g}")
    code, _, err = run(capsys, path, "--out", tmp_path / "out", "--quiet")
    assert code == 0
    assert err.strip().splitlines() == ["warning: every observed value is 5: the missing "
                                        "entries are filled with it"]


def test_huge_and_tiny_magnitudes_complete_to_finite_values():
    base = np.outer(np.arange(1, 5), np.arange(1, 5)).astype(float)
    for unit in (1e300, 1e-300):
        M = np.where(np.eye(4) > 0, np.nan, base * unit)
        X = spectralnn.complete(M, max_steps=200)
        assert np.isfinite(X).all()
        np.testing.assert_array_equal(X[~np.isnan(M)], M[~np.isnan(M)])
        assert np.all(np.abs(X) <= 32 * unit)


def test_the_progress_bar_shows_one_time_estimate(capsys, monkeypatch):
    """Item 7: the bar showed tqdm's ETA and the budget-aware left≤ side by side."""
    import tqdm.auto

    class Eager(tqdm.auto.tqdm):  # redraw on every update, however fast the steps
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mininterval=0, miniters=1, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", Eager)
    _, M = countries_by_years(12, 8, seed=4)
    spectralnn.complete(M, max_steps=30, progress=True)
    err = capsys.readouterr().err
    assert "left≤" in err
    assert not re.search(r"\d\d:\d\d<\d\d:\d\d", err), err[-300:]
