"""Completing files: the library side of ``spectralnn complete``.

Everything is read and validated first (input, mask, query, output directory), then fitted,
then every output is encoded in memory and written in one all-or-nothing step: bad input
leaves nothing on disk.

Outputs in ``out``: ``completed.<ext>`` in the input's format (images: ``completed.png``, in
colour for a colour input, plus ``completed.<ext>`` for the other lossless formats, BMP and
TIFF; never a lossy JPEG/WebP/GIF, which would change the observed pixels; triplet tables:
every (row, column) pair when the matrix has at most :data:`MAX_TABLE_CELLS` cells),
``summary.json``, with a query ``predictions.csv`` and with ``recommend``
``recommendations.csv`` (both comma-separated whatever the input's delimiter).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..validate import compute_device, positive_int, seed_int
from .estimator import (
    check_test_fraction,
    complete_array,
    error_metrics,
    split_observed,
    validation_error,
)
from .fitting import fit_table
from .photos import DEFAULT_IMAGE_MODEL, complete_image
from .reading import Incomplete, read_incomplete
from .tables import encode_completed, parse_index_col
from .triplets import (
    Query,
    Triplets,
    check_sep,
    parse_columns,
    read_query,
    read_triplets,
)
from .writing import (
    check_out_dir,
    encode_image,
    encode_json,
    encode_npy,
    encode_table,
    write_outputs,
)

__all__ = ["LOSSLESS_IMAGE_SUFFIXES", "MAX_TABLE_CELLS", "SPREAD_NOTE", "complete_file",
           "spread_ratio"]

MAX_TABLE_CELLS = 2_000_000

#: Image formats written back in the input's format besides ``completed.png``.
LOSSLESS_IMAGE_SUFFIXES = (".bmp", ".tif", ".tiff")


def complete_file(input: str | os.PathLike[str], out: str | os.PathLike[str], *,
                  mask: str | os.PathLike[str] | None = None, triplets: str | None = None,
                  predict: str | os.PathLike[str] | None = None,
                  test_fraction: float | None = None, seed: int = 0, model: str | None = None,
                  max_steps: int | None = None, max_seconds: float | None = None,
                  progress: bool = False, overwrite: bool = False,
                  header: bool | None = None, index_col: int | str | bool | None = None,
                  sep: str | None = None, recommend: int | None = None,
                  unknown: str = "error", device: str = "cpu",
                  standardize: bool = False) -> dict[str, Any]:
    """Complete the file ``input`` into the directory ``out``; returns the summary (also
    written as ``out/summary.json``, with ``outputs`` listing the files written).

    ``model``: a name of :data:`spectralnn.recovery.METHODS`; ``None``: ``snn-patches`` for
    an image, ``snn`` otherwise. ``out`` must not exist or be empty, unless ``overwrite``
    (the files of an earlier completion there are then replaced, anything else is left
    alone). ``header`` and ``index_col`` apply to ``.csv`` / ``.tsv`` matrices (None:
    detected; see :mod:`spectralnn.completion.tables`); the summary's ``notes`` say what was
    detected.

    Triplet tables only: ``sep`` is their delimiter (default detected), ``recommend`` the
    number of best unrated columns written per row to ``recommendations.csv``, ``unknown``
    what a query id absent from the table gets: ``"error"`` or ``"bias"`` (the global mean
    plus the biases that exist; model ``snn`` only).

    ``device``: the torch device of the fit of a matrix or an image (e.g. ``"cuda"``); a
    triplet table is fitted on the CPU, and another device is refused for it.

    ``standardize``: matrices only — each column centred and scaled by its own mean and
    standard deviation before the fit (a table of features in different units)."""
    check_out_dir(out, overwrite=overwrite)
    fit_device = None if str(compute_device(device)) == "cpu" else device
    index_col = parse_index_col(index_col)
    test_fraction = check_test_fraction(test_fraction)
    seed = seed_int(seed)
    if standardize and triplets is not None:
        raise ConfigError("--standardize applies to matrices, not to --triplets tables")
    if triplets is None:
        if predict is not None:
            raise ConfigError("--predict needs --triplets (queries name row and column ids)")
        if sep is not None or recommend is not None or unknown != "error":
            flag = "--sep" if sep is not None else (
                "--recommend" if recommend is not None else "--unknown")
            raise ConfigError(f"{flag} applies to --triplets tables")
        files, summary = _complete_matrix(
            input, mask=mask, test_fraction=test_fraction, seed=seed, model=model,
            max_steps=max_steps, max_seconds=max_seconds, progress=progress, header=header,
            index_col=index_col, device=fit_device, standardize=standardize)
    else:
        if mask is not None:
            raise ConfigError("--mask applies to matrices and images, not to --triplets tables")
        if fit_device is not None:
            raise ConfigError(f"--device {device} applies to matrices and images; a --triplets "
                              "table is fitted on the CPU (expected --device cpu)")
        if header is not None or index_col is not None:
            raise ConfigError("--header / --index-col apply to matrices, not to --triplets "
                              "tables (their header is detected from the value column)")
        model = model or "snn"
        if recommend is not None:
            recommend = positive_int(recommend, "--recommend")
        if unknown not in ("error", "bias"):
            raise ConfigError(f"--unknown must be 'error' or 'bias', got {unknown!r}")
        if unknown == "bias" and model != "snn":
            raise ConfigError(f"--unknown bias needs --model snn (its biases), got {model!r}")
        files, summary = _complete_table(
            input, parse_columns(triplets), predict=predict, test_fraction=test_fraction,
            seed=seed, model=model, max_steps=max_steps, max_seconds=max_seconds,
            progress=progress, sep=check_sep(sep), recommend=recommend, unknown=unknown)
    summary["input"] = str(input)
    summary["outputs"] = [*files, "summary.json"]
    files["summary.json"] = encode_json(summary)
    write_outputs(out, files)
    return summary


#: A table whose columns' standard deviations differ by more than this factor gets a note
#: suggesting ``--standardize`` (scikit-learn's breast-cancer table: 1.2e5; wine: 2.7e3).
SPREAD_NOTE = 1e3


def spread_ratio(values: np.ndarray) -> float:
    """The largest over the smallest standard deviation of the columns of ``values`` (NaN =
    missing) that have two observed cells and vary; 1 when fewer than two such columns."""
    observed = ~np.isnan(values)
    unit = float(np.abs(values[observed]).max()) if observed.any() else 0.0
    if not unit > 0 or not np.isfinite(unit):
        return 1.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns
        sd = np.nanstd(values / unit, axis=0)             # no overflow near 1e308
    sd = sd[(observed.sum(axis=0) > 1) & (sd > 0) & np.isfinite(sd)]
    return float(sd.max() / sd.min()) if sd.size > 1 else 1.0


def _complete_matrix(input: str | os.PathLike[str], *, mask: str | os.PathLike[str] | None,
                     test_fraction: float | None, seed: int, model: str | None,
                     max_steps: int | None, max_seconds: float | None, progress: bool,
                     header: bool | None = None, index_col: int | str | bool | None = None,
                     device: str | None = None, standardize: bool = False
                     ) -> tuple[dict[str, bytes], dict[str, Any]]:
    data = read_incomplete(input, mask, header=header, index_col=index_col)
    if data.kind == "image" and standardize:
        raise ConfigError(f"--standardize applies to tables and .npy matrices; {str(input)!r} "
                          "is an image (its columns share their units)")
    if data.kind == "image":
        return _complete_photo(data, test_fraction=test_fraction, seed=seed,
                               model=model or DEFAULT_IMAGE_MODEL, max_steps=max_steps,
                               max_seconds=max_seconds, progress=progress, device=device)
    model = model or "snn"
    if model in ("snn-patches", "biharmonic", "interpolate"):
        raise ConfigError(f"model {model!r} completes images; {str(input)!r} is a matrix "
                          "(expected snn, softimpute, svt, nnm_noise or nnm)")
    X, summary = complete_array(data.values, model=model, seed=seed,
                                test_fraction=test_fraction, max_steps=max_steps,
                                max_seconds=max_seconds, progress=progress,
                                options=None if device is None else {"device": device},
                                standardize=standardize)
    summary = {"kind": data.kind, **summary}
    if data.table is None:  # .npy
        files = {"completed.npy": encode_npy(X)}
    else:
        table = data.table
        notes = list(table.notes)
        spread = spread_ratio(data.values)
        if not standardize and spread > SPREAD_NOTE:
            notes.append(f"the columns' spreads differ by {spread:.3g}×: if they are features "
                         "in different units, --standardize puts each in units of its own spread")
        summary.update(notes=notes, header=table.header is not None,
                       label_column=None if table.index_col is None else table.index_col + 1,
                       delimiter=table.delimiter)
        files = {f"completed.{data.kind}": encode_completed(table, X)}
    return files, summary


def _complete_photo(data: Incomplete, *, test_fraction: float | None, seed: int, model: str,
                    max_steps: int | None, max_seconds: float | None, progress: bool,
                    device: str | None = None) -> tuple[dict[str, bytes], dict[str, Any]]:
    X, summary = complete_image(data, model=model, seed=seed, test_fraction=test_fraction,
                                max_steps=max_steps, max_seconds=max_seconds,
                                progress=progress, device=device)
    summary = {"kind": "image", **summary}
    files = {"completed.png": encode_image(X, ".png")}
    if data.suffix in LOSSLESS_IMAGE_SUFFIXES:
        files[f"completed{data.suffix}"] = encode_image(X, data.suffix)
    elif data.suffix != ".png":
        summary["note"] = (f"completed.png only: {data.suffix} is a lossy format and would "
                           "change the observed pixels")
    return files, summary


def _complete_table(input: str | os.PathLike[str], columns: tuple[str, str, str], *,
                    predict: str | os.PathLike[str] | None, test_fraction: float | None,
                    seed: int, model: str, max_steps: int | None, max_seconds: float | None,
                    progress: bool, sep: str | None, recommend: int | None, unknown: str,
                    ) -> tuple[dict[str, bytes], dict[str, Any]]:
    start = time.perf_counter()
    table = read_triplets(input, columns, sep)
    query = None if predict is None else read_query(predict, table, sep,
                                                    unknown_ok=unknown == "bias")
    train, test = split_observed(table.values.size, test_fraction, seed)
    fitted = fit_table(table.shape, table.rows[train], table.cols[train],
                       table.values[train], model=model, seed=seed, max_steps=max_steps,
                       max_seconds=max_seconds, progress=progress)
    d1, d2 = table.shape
    summary: dict[str, Any] = {
        "kind": "triplets", "columns": list(columns), "shape": [d1, d2],
        "observed": int(table.values.size), "missing": d1 * d2 - int(table.values.size),
        "duplicates_collapsed": table.duplicates, "training_entries": int(train.size),
        "test_entries": int(test.size), "model": model, "seed": seed,
        "status": fitted.status, "warning": fitted.warning,
        "validation_error": validation_error(fitted.summary),
        "test_fraction": test_fraction, "keep_observed": True,
    }
    if test.size:
        pred = fitted.predictor.predict(table.rows[test], table.cols[test])
        summary["test"] = error_metrics(np.asarray(pred, dtype=np.float64), table.values[test])
    files: dict[str, bytes] = {}
    ext = "tsv" if table.delimiter == "\t" else "csv"
    if d1 * d2 <= MAX_TABLE_CELLS:
        files[f"completed.{ext}"] = _full_table(table, fitted.predictor)
    else:
        summary["completed_table"] = (f"not written: {d1}×{d2} = {d1 * d2} cells is more than "
                                      f"{MAX_TABLE_CELLS}; ask for the pairs you need with "
                                      "--predict")
    if query is not None:
        files["predictions.csv"] = _predictions(query, fitted.predictor)
        summary["predictions"] = len(query.body)
        summary["predictions_with_unknown_ids"] = int(((query.rows < 0)
                                                       | (query.cols < 0)).sum())
    if recommend is not None:
        files["recommendations.csv"] = _recommendations(table, fitted.predictor, recommend,
                                                        train)
        summary["recommendations"] = recommend
    summary["seconds"] = time.perf_counter() - start
    summary["fit"] = fitted.summary
    return files, summary


def _full_table(table: Triplets, predictor: Any) -> bytes:
    """Every (row, column) pair: the given value where observed, else the prediction."""
    d1, d2 = table.shape
    rows = np.repeat(np.arange(d1), d2)
    cols = np.tile(np.arange(d2), d1)
    values = np.asarray(predictor.predict(rows, cols), dtype=np.float64)
    values[table.rows * d2 + table.cols] = table.values
    r_labels, c_labels = table.row_ids.labels, table.col_ids.labels
    body = ((r_labels[r], c_labels[c], repr(float(v))) for r, c, v in zip(rows, cols, values))
    return encode_table(table.columns, body, "\t" if table.delimiter == "\t" else ",")


def _predictions(query: Query, predictor: Any) -> bytes:
    """The query with a prediction column; a pair with an id absent from the table (index
    ``-1``, ``--unknown bias``) gets the global mean plus the biases that exist."""
    known = (query.rows >= 0) & (query.cols >= 0)
    pred = np.empty(query.rows.size)
    pred[known] = predictor.predict(query.rows[known], query.cols[known])
    if not known.all():
        r, c = query.rows[~known], query.cols[~known]
        base = (predictor.global_mean_ + np.where(r >= 0, predictor.row_bias_[r], 0.0)
                + np.where(c >= 0, predictor.col_bias_[c], 0.0))
        lo, hi = predictor.rating_range_
        pred[~known] = base if lo is None and hi is None else np.clip(base, lo, hi)
    body = ([*row, repr(float(v))] for row, v in zip(query.body, pred))
    return encode_table([*query.header, "prediction"], body, ",")


def _recommendations(table: Triplets, predictor: Any, n: int, train: np.ndarray) -> bytes:
    """Per row id, the ``n`` columns with the highest prediction among those without a
    training value (fewer where fewer are left): ``ROW,rank,COL,prediction``."""
    d1, d2 = table.shape
    order = np.argsort(table.rows[train], kind="stable")
    seen_rows, seen_cols = table.rows[train][order], table.cols[train][order]
    bounds = np.searchsorted(seen_rows, np.arange(d1 + 1))
    names = ("row", "column") if table.columns[0].isdigit() else table.columns[:2]
    lines: list[list[str]] = []
    chunk = max(1, 2**21 // d2)
    all_cols = np.arange(d2)
    for a in range(0, d1, chunk):
        rows = np.arange(a, min(d1, a + chunk))
        S = np.asarray(predictor.predict(np.repeat(rows, d2), np.tile(all_cols, rows.size)),
                       dtype=np.float64).reshape(rows.size, d2)
        for k, r in enumerate(rows):
            seen = seen_cols[bounds[r]:bounds[r + 1]]
            S[k, seen] = -np.inf
            m = min(n, d2 - seen.size)
            if m < 1:
                continue
            top = np.argpartition(-S[k], m - 1)[:m]
            top = top[np.lexsort((top, -S[k, top]))]
            r_label = table.row_ids.labels[r]
            lines.extend([r_label, str(rank), table.col_ids.labels[c], repr(float(S[k, c]))]
                         for rank, c in enumerate(top, start=1))
    return encode_table([names[0], "rank", names[1], "prediction"], lines, ",")

