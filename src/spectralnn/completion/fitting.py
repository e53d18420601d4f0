"""The two seams between completion and the fitting engines.

- :func:`fit_entries`: fit a ``(d1, d2)`` matrix to observed entries (normalised values);
  every dense input (``.npy``, ``.csv``, images, :func:`~spectralnn.complete`) goes through it.
- :func:`fit_table`: fit a predictor to a ``(row, column, value)`` table (raw values); the
  ``--triplets`` path goes through it.

Both return the library's one result type, :class:`spectralnn.result.FitResult` (also named
``Fit`` and ``TableFit`` here, as released): ``fit_entries`` the recovery's result (``X`` a
float64 tensor in normalised units, ``.array`` the NumPy form), ``fit_table`` one with a
``predictor`` (``.predict(rows, cols)`` in the table's units) and the summary.

Everything else in :mod:`spectralnn.completion` is independent of how the fit is done.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..result import FitResult

__all__ = ["Fit", "TableFit", "fit_entries", "fit_table", "normalisation"]


#: The result of :func:`fit_entries`: :class:`spectralnn.result.FitResult` under the name it
#: was released with. ``X`` is the ``(d1, d2)`` float64 CPU tensor in normalised units
#: (``.array`` as a NumPy array), ``status`` one of :data:`spectralnn.stoppers.STATUSES`,
#: ``warning`` one line or ``None`` and ``summary`` the recovery's JSON-ready summary.
Fit = FitResult


def fit_entries(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                values: np.ndarray, *, model: str = "snn", seed: int = 0,
                max_steps: int | None = None, max_seconds: float | None = None,
                progress: bool = False, options: Mapping[str, Any] | None = None) -> Fit:
    """Fit a ``shape`` matrix to ``X[rows[i], cols[i]] ≈ values[i]`` (values centred and
    scaled by the caller) with :func:`spectralnn.recovery.fit` on an entry-sampling problem
    without ground truth; it keeps its own validation part of these entries for stopping and
    model choice. ``model``: a name of :data:`spectralnn.recovery.METHODS`."""
    from ..recovery import fit
    from ..sensing import EntrySampling, SensingProblem

    d1, d2 = shape
    operator = EntrySampling((d1, d2), torch.from_numpy(rows * d2 + cols))
    problem = SensingProblem(X_star=None, operator=operator,
                             y=torch.from_numpy(np.asarray(values, dtype=np.float64)),
                             seed=seed, name="completion")
    return fit(problem, model, seed=seed, max_steps=max_steps, max_seconds=max_seconds,
               progress=progress, **dict(options or {}))


def normalisation(values: np.ndarray, shape: tuple[int, int]) -> tuple[float, float]:
    """``(c, s)``: the centre and scale of ``values``; see :mod:`spectralnn.completion.estimator`.

    ``s = 3·std(values)·√(d1·d2)`` (``√(d1·d2)·3`` when the values are all equal). ``c`` is
    their mean when it is at least their standard deviation, else 0: subtracting a constant
    from a rank-r matrix adds a rank-one part as large as the constant, and a small one is the
    slowest part for gradient descent from a small start to learn (measured on a noiseless
    100×100 rank-3 matrix of mean 0.02·std with 40 % missing: centred, relative error 4.5e-3 for
    1500 steps; not centred, 4e-5 after 100 steps). A large mean is removed as before."""
    mean = float(values.mean())
    spread = float(values.std()) or 1.0
    center = mean if abs(mean) >= spread else 0.0
    return center, 3.0 * spread * math.sqrt(shape[0] * shape[1])


class _MatrixPredictor:
    """Predictions ``clip(X[row, col])`` from a completed matrix (raw units)."""

    def __init__(self, X: np.ndarray, low: float, high: float) -> None:
        self.X, self.low, self.high = X, low, high

    def predict(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.clip(self.X[rows, cols], self.low, self.high)


#: The result of :func:`fit_table`: :class:`spectralnn.result.FitResult` under the name it was
#: released with; its ``predictor`` has ``.predict(rows, cols) -> (n,)`` (raw units).
TableFit = FitResult


def fit_table(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
              values: np.ndarray, *, model: str = "snn", seed: int = 0,
              max_steps: int | None = None, max_seconds: float | None = None,
              progress: bool = False, options: Mapping[str, Any] | None = None) -> TableFit:
    """Fit a predictor of a ``shape`` table from its ``(rows, cols, values)`` (raw units).

    ``model="snn"``: :class:`~spectralnn.ratings.RatingsCompleter` (global mean, row and column
    biases, the averaged linear SNN trained by SGD on a fixed schedule, clipping to the
    training range; ``max_steps`` caps its epochs, ``max_seconds`` the whole fit; below
    10 000 ratings the full-batch Adam SNN, with rank ∈ {1, 2, 4} and init scale ∈
    {1e-2, 1e-1} searched on a validation part of the training entries). Other models: the
    generic path (values normalised as dense inputs are, :func:`fit_entries`, predictions
    clipped to the training range).

    The summary's ``validation_error`` is relative to predicting the mean (1: no better; for
    the SNN, its validation RMSE over the standard deviation of the training values)."""
    if model == "snn":
        return _fit_ratings(shape, rows, cols, values, seed=seed, max_steps=max_steps,
                            max_seconds=max_seconds, progress=progress, options=options)
    center, scale = normalisation(values, shape)
    fit = fit_entries(shape, rows, cols, (values - center) / scale, model=model, seed=seed,
                      max_steps=max_steps, max_seconds=max_seconds, progress=progress,
                      options=options)
    predictor = _MatrixPredictor(fit.array * scale + center, float(values.min()),
                                 float(values.max()))
    summary = dict(fit.summary, center=center, scale=scale)
    return TableFit(model, fit.X, fit.history, status=fit.status, warning=fit.warning,
                    lr=fit.lr, steps=fit.steps, seconds=fit.seconds, summary=summary,
                    predictor=predictor)


#: Below this many training ratings the SNN's rank and init scale are searched on validation.
_SMALL_TABLE = 10_000


def _fit_ratings(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                 values: np.ndarray, *, seed: int, max_steps: int | None,
                 max_seconds: float | None, progress: bool,
                 options: Mapping[str, Any] | None) -> TableFit:
    """The ``--triplets`` SNN: :class:`~spectralnn.ratings.RatingsCompleter`."""
    from ..ratings import RatingsCompleter

    settings = dict(options or {})
    if values.size < _SMALL_TABLE:
        # Small tables: SGD's few updates per epoch do not get far on its schedule; the
        # full-batch Adam SNN with a small search on validation (chosen on MovieLens-100k).
        settings.setdefault("solver", "adam")
        if settings["solver"] == "adam":
            settings.setdefault("rank", [1, 2, 4])
            settings.setdefault("init_scale", [1e-2, 1e-1])
    if max_steps is not None:
        settings["max_steps"] = max_steps
    if max_seconds is not None:
        settings["max_seconds"] = max_seconds
    est = RatingsCompleter(seed=seed, progress=progress, **settings)
    est.fit(rows, cols, values, shape=shape)
    spread = float(values.std()) or 1.0
    rmse = est.validation_rmse_
    relative = None if rmse is None else float(rmse) / spread
    status = est.status_
    warning = None
    if relative is not None and relative >= 0.9:
        warning = (f"validation RMSE {rmse:.4g} is {relative:.2f}× the spread of "
                   "the ratings: the model predicts little beyond the mean")
    summary = {"model": "snn", "engine": "RatingsCompleter", "solver": est.solver,
               "status": status, "validation_error": relative,
               "validation_rmse": None if rmse is None else float(rmse),
               "settings": {k: v for k, v in est.best_settings_.items()},
               "steps": int(est.best_steps_), "seconds": float(est.fit_seconds_),
               "global_mean": float(est.global_mean_), "rating_range": list(est.rating_range_)}
    return TableFit("snn", status=status, warning=warning, steps=int(est.best_steps_),
                    seconds=float(est.fit_seconds_), summary=summary, predictor=est)
