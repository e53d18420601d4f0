"""Completing a matrix with missing entries: :func:`complete` (and the pieces that
:class:`~spectralnn.completion.transformer.SNNCompleter` shares).

Pipeline for a ``(d1, d2)`` matrix ``M`` with NaN (or ``mask == False``) where missing:

1. with ``test_fraction`` F, ``round(F·n_obs)`` observed entries (seeded) are held out — never
   used for fitting or model choice — and the predictions there are scored (RMSE, MAE, and
   PSNR for images);
2. with ``standardize``, each column's training entries are first centred and scaled by
   their own mean and standard deviation (:func:`column_standardisation`; undone in step 4):
   for tables of features in different units, where one low-rank model in the raw units is
   dominated by the largest column. Not for a matrix whose columns share their units (a
   low-rank matrix, ratings, pixels): centring adds a rank and noisy column statistics cost
   accuracy (the completion grid's 8×6 rank-1 matrix: relative error 2.6e-4 → 0.21);
   then the remaining entries are normalised, ``z = (v − c)/s`` with ``c`` their mean and
   ``s = 3·σ·√(d1·d2)``, ``σ`` their standard deviation (1 if zero): the centred full matrix
   then has Frobenius norm about 1/3 (nuclear norm about 1 at rank 10), the units in which the
   SNN's small initialisation and rates are calibrated (images at nuclear norm 1). Measured:
   with ``s = σ`` the SNN diverged on a 30×30 rank-2 matrix with half its entries observed;
   with ``s = 3·σ·√(d1·d2)`` its error on the missing entries was 2 %;
3. :func:`~spectralnn.completion.fitting.fit_entries` fits ``Z`` (it keeps its own validation
   part for step sizes and stopping);
4. ``X = s·Z + c`` (with ``standardize``, then each column times its scale plus its mean),
   clipped to ``clip`` if given (``(0, 255)`` for images);
5. with ``keep_observed`` (default) every observed entry of ``M`` — held-out ones included —
   is copied into ``X`` exactly: completion fills the gaps and never alters the data.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import torch

from ..errors import (
    ConfigError,
    DataError,
    ShapeError,
    SolverError,
    SpectralNNError,
    unknown_name,
)
from ..validate import percent_hint, seed_int
from .fitting import fit_entries, normalisation

__all__ = ["CompletionWarning", "as_values", "check_test_fraction", "column_standardisation",
           "complete", "complete_array", "error_metrics", "nothing_to_learn", "plain_array",
           "split_observed", "validation_error"]

PEAK = 255.0
_SHORTCUTS = ("nothing_missing", "constant", "degenerate")


class CompletionWarning(UserWarning):
    """The input had nothing to learn (nothing missing, one value, one row or column): the
    result was filled without a fit, as the message says."""


def check_test_fraction(fraction: object) -> float | None:
    """``None`` or a number in the open interval (0, 1)."""
    if fraction is None:
        return None
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise ConfigError(f"test fraction must be a number in (0, 1), got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f < 1.0):
        raise ConfigError(f"test fraction must be in (0, 1), got {f:g}{percent_hint(f)}")
    return f


def split_observed(n: int, fraction: float | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``0..n−1`` split into (training, test): ``round(fraction·n)`` test positions
    drawn without replacement from ``numpy.random.default_rng(seed)``; both parts non-empty."""
    if fraction is None:
        return np.arange(n), np.arange(0)
    k = round(fraction * n)
    if k < 1 or k > n - 1:
        raise ConfigError(f"test fraction {fraction:g} of {n} observed entries holds out {k}; "
                          "expected at least 1 held-out and 1 training entry")
    perm = np.random.default_rng([seed, 0x7E57]).permutation(n)
    return np.sort(perm[k:]), np.sort(perm[:k])


def error_metrics(pred: np.ndarray, truth: np.ndarray, *, image: bool = False
                  ) -> dict[str, float]:
    """``rmse``, ``mae`` (and ``psnr`` in dB, peak 255, for images) of ``pred`` vs ``truth``."""
    diff = pred - truth
    mse = float(np.mean(diff**2))
    out = {"rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(diff))), "entries": int(diff.size)}
    if image:
        out["psnr"] = math.inf if mse == 0 else 10.0 * math.log10(PEAK**2 / mse)
    return out


def _check_clip(clip: object) -> tuple[float, float] | None:
    if clip is None:
        return None
    try:
        low, high = (float(v) for v in cast(Iterable[Any], clip))
    except (TypeError, ValueError):
        raise ConfigError(f"clip must be None or a pair (low, high), got {clip!r}") from None
    if not low < high:
        raise ConfigError(f"clip must have low < high, got {clip!r}")
    return low, high


def complete_array(values: np.ndarray, *, model: str = "snn", seed: int = 0,
                   test_fraction: float | None = None, keep_observed: bool = True,
                   clip: tuple[float, float] | None = None, image: bool = False,
                   max_steps: int | None = None, max_seconds: float | None = None,
                   progress: bool = False, options: dict[str, Any] | None = None,
                   standardize: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """Complete ``values`` ``(d1, d2)`` float64 (NaN = missing, validated by the caller);
    returns the completed float64 matrix and the JSON-able summary (see the module).

    Inputs with nothing to learn are answered without a fit, with a ``status`` and a one-line
    ``warning`` saying so: nothing missing (``"nothing_missing"``, returned as given), every
    training value equal (``"constant"``, filled with it) and a single row or column
    (``"degenerate"``, filled with the mean of the observed entries, which is also the SNN's
    limit there). A fit that fails or returns non-finite numbers raises
    :class:`~spectralnn.errors.SolverError` instead of returning them."""
    from ..recovery import METHODS

    if model not in METHODS:  # checked even when no fit is needed
        raise unknown_name("recovery model", model, tuple(METHODS))
    seed = seed_int(seed)
    test_fraction = check_test_fraction(test_fraction)
    clip = _check_clip(clip)
    start = time.perf_counter()
    shape = values.shape
    observed = ~np.isnan(values)
    flat = np.flatnonzero(observed)
    train, test = split_observed(flat.size, test_fraction, seed)
    rows, cols = np.divmod(flat[train], shape[1])
    v = values.reshape(-1)[flat[train]]
    shortcut = nothing_to_learn(values, v, test.size)
    if shortcut is not None:
        status, message, fill = shortcut
        warning: str | None = message
        X = values.copy() if status == "nothing_missing" else np.full(shape, fill)
        center, scale = fill, 1.0
        fit_summary: dict[str, Any] = {"status": status}
    else:
        if standardize:
            col_center, col_scale = column_standardisation(cols, v, shape[1])
            v = (v - col_center[cols]) / col_scale[cols]
        # Magnitudes near the float64 range (1e±300) would overflow or underflow std().
        unit = float(np.abs(v).max())
        unit = unit if unit > 1e100 or unit < 1e-100 else 1.0
        center, scale = normalisation(v / unit, shape)
        try:
            fit = fit_entries(shape, rows, cols, (v / unit - center) / scale, model=model,
                              seed=seed, max_steps=max_steps, max_seconds=max_seconds,
                              progress=progress, options=options)
        except SpectralNNError:
            raise
        except (ArithmeticError, RuntimeError, ValueError, np.linalg.LinAlgError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise SolverError(f"the {model} fit failed on this {shape[0]}×{shape[1]} matrix "
                              f"({type(exc).__name__}: {reason}); try --model softimpute"
                              ) from exc
        with np.errstate(over="ignore", invalid="ignore"):
            X = (fit.array * scale + center) * unit
            if standardize:
                X = X * col_scale + col_center
        center, scale = center * unit, scale * unit
        if not np.isfinite(X).all():
            raise SolverError(f"the {model} fit returned non-finite values on this "
                              f"{shape[0]}×{shape[1]} matrix (status {fit.status}); try "
                              "--model softimpute")
        status, fit_summary = fit.status, fit.summary
        warning = fit.warning
    if clip is not None:
        X = np.clip(X, *clip)
    summary: dict[str, Any] = {
        "shape": list(shape), "observed": int(flat.size), "missing": int(values.size - flat.size),
        "training_entries": int(train.size), "test_entries": int(test.size),
        "model": model, "seed": seed, "status": status, "warning": warning,
        "validation_error": validation_error(fit_summary),
        "center": center, "scale": scale, "clip": None if clip is None else list(clip),
        "keep_observed": bool(keep_observed), "test_fraction": test_fraction,
        "standardize": bool(standardize),
    }
    if standardize and shortcut is None:
        summary["columns"] = {"center": col_center.tolist(), "scale": col_scale.tolist()}
    if test.size:
        t = flat[test]
        summary["test"] = error_metrics(X.reshape(-1)[t], values.reshape(-1)[t], image=image)
    if keep_observed:
        X[observed] = values[observed]
    summary["seconds"] = time.perf_counter() - start
    summary["fit"] = fit_summary
    return X, summary


def column_standardisation(cols: np.ndarray, v: np.ndarray, d2: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """``(center, scale)`` ``(d2,)``: the mean and standard deviation of each column's entries
    ``v[cols == j]``. A column with no entry gets the mean of all of them; one whose entries
    do not vary (or a single entry) the standard deviation of all of them (1 if that is 0)."""
    count = np.bincount(cols, minlength=d2)
    total = np.bincount(cols, weights=v, minlength=d2)
    overall = float(np.mean(v))
    center = np.where(count > 0, total / np.maximum(count, 1), overall)
    dev = v - center[cols]
    var = np.bincount(cols, weights=dev * dev, minlength=d2) / np.maximum(count, 1)
    spread = float(np.std(v)) or 1.0
    scale = np.sqrt(var)
    scale = np.where((count > 1) & (scale > 1e-12 * spread), scale, spread)
    return center, scale


def nothing_to_learn(values: np.ndarray, train: np.ndarray, n_test: int, what: str = "matrix"
                     ) -> tuple[str, str, float] | None:
    """``(status, warning, fill)`` for inputs with nothing to learn, else None: ``values``
    ``(d1, d2)`` (NaN = missing), ``train`` the values fitted (of every channel, for an
    image), ``n_test`` entries held out for testing; ``what`` names the input in the
    warning."""
    d1, d2 = values.shape
    unit = max(1.0, float(np.abs(train).max()))  # no overflow in the sum of 1e300s
    mean = float(np.mean(train / unit)) * unit
    if n_test == 0 and not np.isnan(values).any():
        return ("nothing_missing", f"nothing is missing in this {d1}×{d2} {what}: returned as "
                "given", mean)
    low, high = float(train.min()), float(train.max())
    if high - low <= 1e-12 * max(abs(low), abs(high)):
        return ("constant", f"every observed value is {low:.6g}: the missing entries are filled "
                "with it", low)
    if min(d1, d2) == 1:
        return ("degenerate", f"a {d1}×{d2} {what} has no low-rank structure to learn: the "
                f"missing entries are filled with the mean of the observed ones ({mean:.6g})",
                mean)
    return None


def validation_error(fit_summary: dict[str, Any]) -> float | None:
    """The fitting engine's validation error ``‖X_v − z_v‖₂ / ‖z_v‖₂`` on its validation part
    of the (centred) training entries: 1 means no better than the mean of the observed
    entries, 0 a perfect fit."""
    value = fit_summary.get("validation_error")
    return None if value is None else float(value)


def _is_dataframe(M: object) -> bool:
    """A pandas DataFrame (checked without importing pandas)."""
    return type(M).__name__ == "DataFrame" and hasattr(M, "to_numpy") and hasattr(M, "columns")


def plain_array(M: object) -> object:
    """A tensor as a NumPy array, a NumPy masked array as float64 with NaN where masked
    (masked means missing, whatever value lies beneath); anything else as it is."""
    if isinstance(M, torch.Tensor):
        return M.detach().cpu().numpy()
    if isinstance(M, np.ma.MaskedArray):
        return np.ma.filled(M.astype(np.float64), np.nan)
    return M


def _none_as_nan(arr: np.ndarray) -> np.ndarray:
    """An object array of real numbers and ``None`` (nested lists with ``None`` for missing)
    as float64 with NaN for ``None``; any other array as it is."""
    if arr.dtype != object:
        return arr
    cells = arr.reshape(-1).tolist()
    real = (int, float, np.integer, np.floating)
    if not all(v is None or (isinstance(v, real) and not isinstance(v, bool)) for v in cells):
        return arr
    return np.array([math.nan if v is None else float(v) for v in cells],
                    dtype=np.float64).reshape(arr.shape)


def as_values(M: object, mask: object, *, need_observed: bool = True) -> np.ndarray:
    """``M`` (array-like, tensor or DataFrame, NaN = missing; ``None`` in nested lists and a
    NumPy masked array's masked entries are missing too) and an optional mask → float64 with NaN;
    :class:`~spectralnn.errors.DataError` for non-numbers, ±Inf and (with ``need_observed``)
    nothing observed."""
    if isinstance(M, (str, os.PathLike)):
        raise ConfigError(f"M is the path {str(M)!r}; expected an array (a file is completed "
                          "by spectralnn.completion.complete_file(path, out) or `spectralnn "
                          "complete`, and read by spectralnn.completion.read_incomplete)")
    M = plain_array(M)
    if _is_dataframe(M):
        frame = cast(Any, M)
        text = [str(c) for c, t in frame.dtypes.items() if getattr(t, "kind", "O") not in "biuf"]
        if text:
            raise DataError(f"M has non-numeric column(s) {', '.join(map(repr, text))}; expected "
                            "numbers (NaN = missing): move labels into the index")
        arr = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = _none_as_nan(np.asarray(M))
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(f"M has shape {arr.shape}; expected a non-empty 2-D matrix")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"M has dtype {arr.dtype}; expected real numbers (NaN or None = "
                        "missing)")
    values = np.array(arr, dtype=np.float64)
    if np.isinf(values).any():
        i, j = (int(k) for k in np.argwhere(np.isinf(values))[0])
        raise DataError(f"M has {int(np.isinf(values).sum())} infinite value(s) (first at row "
                        f"{i}, column {j}); expected finite numbers or NaN for missing")
    if mask is not None:
        m = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if m.shape != values.shape:
            raise ShapeError(f"mask has shape {m.shape}; expected {values.shape}, M's shape")
        values = np.where(m.astype(bool), values, math.nan)
    if need_observed and np.isnan(values).all():
        raise DataError("nothing is observed in M; expected at least one known entry")
    return values


def _like(M: object, X: np.ndarray) -> Any:
    """``X`` in ``M``'s type: a tensor on ``M``'s device, a DataFrame with ``M``'s labels, or
    the array."""
    if isinstance(M, torch.Tensor):
        return torch.from_numpy(X).to(M.device)
    if _is_dataframe(M):
        frame = cast(Any, M)
        return type(frame)(X, index=frame.index, columns=frame.columns)
    return X


def complete(M: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None = None, *,
             model: str = "snn", seed: int = 0, test_fraction: float | None = None,
             keep_observed: bool = True, clip: tuple[float, float] | None = None,
             max_steps: int | None = None, max_seconds: float | None = None,
             progress: bool = False, return_summary: bool = False,
             standardize: bool = False, **options: Any) -> Any:
    """Fill the missing entries of ``M`` ``(d1, d2)`` (NaN, or ``mask == False``; mask True =
    observed) with a low-rank model fitted to the observed ones.

    Returns the completed float64 matrix, a NumPy array, a tensor on ``M``'s device for a
    tensor ``M``, or a DataFrame with ``M``'s index and columns for a pandas DataFrame; with
    ``return_summary``, the pair ``(X, summary)`` where ``summary`` holds
    ``status``, ``warning``, ``validation_error``, ``test`` (RMSE/MAE on the held-out
    ``test_fraction`` of the observed entries), ``seconds`` and the settings. ``options`` go
    to the fitting engine. Observed entries are kept exactly unless ``keep_observed=False``.
    ``standardize``: centre and scale each column by its own mean and standard deviation
    before the fit (for a table of features in different units; see the module doc).

    Inputs with nothing to learn (nothing missing, one observed value, a single row or column)
    are answered without a fit and with a :class:`CompletionWarning` saying so.
    """
    values = as_values(M, mask)
    X, summary = complete_array(values, model=model, seed=seed, test_fraction=test_fraction,
                                keep_observed=keep_observed, clip=clip, max_steps=max_steps,
                                max_seconds=max_seconds, progress=progress, options=options,
                                standardize=standardize)
    if summary["status"] in _SHORTCUTS:
        warnings.warn(summary["warning"], CompletionWarning, stacklevel=2)
    out = _like(M, X)
    return (out, summary) if return_summary else out
