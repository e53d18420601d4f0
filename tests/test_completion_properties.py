"""Generated input files for ``spectralnn complete``: every one either completes (exit 0, a
finite result that keeps every observed entry) or is refused (exit 2, one ``error:`` line).

Random matrices from 1×1 up with NaN patterns, constant rows and columns and magnitudes from
1e-300 to 1e300, written as ``.npy`` or as tables with or without header rows (words or
years), label columns, ``,`` ``;`` tab or space separators, ``NA`` / ``NaN`` / empty missing
cells, several number formats and encodings. A few dozen examples in the default run; 2 000
under ``-m slow`` (``make test-all``).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from spectralnn.cli import main  # noqa: E402
from spectralnn.completion.tables import read_table  # noqa: E402

FAST = ["--max-steps", "5", "--max-seconds", "5", "--quiet"]


@st.composite
def matrices(draw):
    d1 = draw(st.integers(1, 7))
    d2 = draw(st.integers(1, 7))
    exponent = draw(st.sampled_from([-300, -150, -20, 0, 0, 0, 3, 20, 150, 300]))
    kind = draw(st.sampled_from(["gaussian", "integers", "low_rank", "constant"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        base = rng.standard_normal((d1, d2))
    elif kind == "integers":
        base = rng.integers(-5, 6, (d1, d2)).astype(float)
    elif kind == "low_rank":
        base = np.outer(rng.standard_normal(d1), rng.standard_normal(d2)) + 1.0
    else:
        base = np.full((d1, d2), float(rng.integers(-3, 4)))
    if draw(st.booleans()):  # a constant row or column
        if draw(st.booleans()):
            base[rng.integers(d1), :] = base.flat[0]
        else:
            base[:, rng.integers(d2)] = base.flat[0]
    M = base * 10.0**exponent
    hidden = draw(st.sampled_from([0.0, 0.2, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0]))
    M[rng.random((d1, d2)) < hidden] = np.nan
    return M


@st.composite
def files(draw):
    """``(name, bytes, extra CLI arguments, expected observed values or None)``."""
    M = draw(matrices())
    d2 = M.shape[1]
    if draw(st.integers(0, 4)) == 0:
        buf = io.BytesIO()
        np.save(buf, M)
        return "m.npy", buf.getvalue(), [], M
    sep = draw(st.sampled_from([",", ";", "\t", " "]))
    missing = draw(st.sampled_from(["", "NA", "NaN", "nan", "N/A"])) if sep != " " else "NaN"
    style = draw(st.sampled_from(["repr", "fixed", "general"]))

    def cell(v):
        if np.isnan(v):
            return missing
        if style == "fixed" and 1e-3 <= abs(v) <= 1e12:
            return f"{v:.3f}"
        return f"{v:.6g}" if style == "general" else repr(float(v))

    header = draw(st.sampled_from([None, "words", "years"]))
    labels = draw(st.booleans())
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    args: list[str] = []
    lines = []
    if header is not None:
        names = ([f"col é{j}" for j in range(d2)] if header == "words"
                 else [str(1990 + j) for j in range(d2)])
        if sep == " ":
            names = [n.replace(" ", "_") for n in names]
        lines.append(sep.join((["country"] if labels else []) + names))
    for i, row in enumerate(M):
        lines.append(sep.join(([f"Région_{i}"] if labels else []) + [cell(v) for v in row]))
    explicit = draw(st.booleans())
    if explicit:
        args += ["--header" if header else "--no-header"]
        args += ["--index-col", "1" if labels else "none"]
    # A blank line after a single column is one more (missing) cell; elsewhere it is layout.
    endings = ["\n", ""] if d2 == 1 and not labels else ["\n", "", "\n\n"]
    if lines[-1] == "":  # a last missing cell, written empty, is a cell only before a line end
        endings = ["\n"]
    text = "\n".join(lines) + draw(st.sampled_from(endings))
    suffix = ".tsv" if sep == "\t" and draw(st.booleans()) else ".csv"
    expected = None
    if explicit and not (sep == " " and missing == ""):
        expected = np.array([[np.nan if np.isnan(v) else float(cell(v)) for v in row]
                             for row in M])
    return f"m{suffix}", text.encode(encoding), args, expected


def run_cli(args):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main(["complete", *args])
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, stdout.getvalue(), stderr.getvalue()


def check_one(name, data, args, expected):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        out = Path(tmp) / "out"
        code, _, err = run_cli([str(path), "--out", str(out), *args, *FAST])
        lines = err.strip().splitlines()
        if code == 2:
            assert len(lines) == 1 and lines[0].startswith("error: "), err
            # a refusal names a problem of the input, never a failure inside the fit
            assert "fit failed" not in lines[0], err
            assert not out.exists()
            return "refused: " + re.sub(r"'[^']*[/\\][^']*'", "FILE", lines[0][7:])[:50]
        assert code == 0, err
        assert all(line.startswith(("warning: ", "note: ")) for line in lines), err
        summary = json.loads((out / "summary.json").read_text())
        if name.endswith(".npy"):
            given_values = np.load(path)
            X = np.load(out / "completed.npy")
        else:
            header = summary["header"]
            index = summary["label_column"] or False
            given_values = read_table(path, header=header, index_col=index).values
            X = read_table(out / f"completed{path.suffix}", header=header, index_col=index,
                           delimiter=summary["delimiter"]).values
        assert X.shape == given_values.shape == tuple(summary["shape"])
        assert np.isfinite(X).all()
        seen = ~np.isnan(given_values)
        np.testing.assert_array_equal(X[seen], given_values[seen])
        if expected is not None:
            np.testing.assert_array_equal(given_values[seen], expected[seen])
            np.testing.assert_array_equal(seen, ~np.isnan(expected))
        return summary["status"]


COMMON = dict(deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=40, **COMMON)
@given(files())
def test_generated_files_complete_or_are_refused_in_one_line(case):
    hypothesis.event(check_one(*case))


@pytest.mark.slow
@settings(max_examples=2000, **COMMON)
@given(files())
def test_two_thousand_generated_files_complete_or_are_refused_in_one_line(case):
    hypothesis.event(check_one(*case))
