"""The sweep table ``results.csv``: one record per run, written and read back as CSV."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError

__all__ = ["TABLE_COLUMNS", "failed_record", "read_table", "run_record", "table_bytes"]

#: Columns of ``results.csv`` after the run name and the axis columns.
TABLE_COLUMNS = (
    "status", "model", "learning_rate", "d1", "d2", "m", "relative_error", "train_loss",
    "test_loss", "nuclear_norm", "effective_rank", "sv1", "steps", "diverged_step",
    "seconds", "threads", "error",
)
_SUMMARY_COLUMNS = ("model", "learning_rate", "relative_error", "train_loss", "test_loss",
                    "nuclear_norm", "effective_rank", "sv1", "steps", "diverged_step",
                    "seconds")


def _problem_shape(run_dir: Path) -> dict[str, int | None]:
    """``d1``, ``d2``, ``m`` from a run directory's ``problem.npz`` (``None`` if unreadable)."""
    import numpy as np

    try:
        with np.load(run_dir / "problem.npz", allow_pickle=False) as arrays:
            d1, d2 = arrays["X_star"].shape
            m = int(arrays["y"].shape[0])
        return {"d1": int(d1), "d2": int(d2), "m": m}
    except (OSError, KeyError, ValueError):
        return {"d1": None, "d2": None, "m": None}


def run_record(name: str, run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The table record of a finished run from its ``summary.json`` content."""
    status = "diverged" if summary.get("diverged") else "ok"
    rec: dict[str, Any] = {"name": name, "status": status, "error": None}
    rec.update({k: summary.get(k) for k in _SUMMARY_COLUMNS})
    rec.update(_problem_shape(run_dir))
    rec["threads"] = None
    return rec


def failed_record(name: str, error: str) -> dict[str, Any]:
    """The table record of a run that raised ``error`` (one line)."""
    rec: dict[str, Any] = {"name": name, "status": "failed", "error": error}
    rec.update({k: None for k in (*_SUMMARY_COLUMNS, "d1", "d2", "m", "threads")})
    return rec


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return str(value)


def table_bytes(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    """``rows`` as CSV text (header ``columns``; empty cells for ``None``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_csv_value(row.get(c)) for c in columns])
    return buf.getvalue().encode()


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def read_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a sweep's ``results.csv``: one dict per row, numbers parsed, empty cells ``None``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"sweep table {str(p)!r} does not exist")
    with p.open(newline="") as f:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
