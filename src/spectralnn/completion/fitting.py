"""The two seams between completion and the fitting engines.

- :func:`fit_entries`: fit a ``(d1, d2)`` matrix to observed entries (normalised values);
  every dense input (``.npy``, ``.csv``, images, :func:`~spectralnn.complete`) goes through it.
- :func:`fit_table`: fit a predictor to a ``(row, column, value)`` table (raw values); the
  ``--triplets`` path goes through it.

Everything else in :mod:`spectralnn.completion` is independent of how the fit is done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from spectralnn.errors import ConfigError, unknown_name

__all__ = ["Fit", "TableFit", "fit_entries", "fit_table"]


@dataclass
class Fit:
    """Result of :func:`fit_entries`: ``X`` ``(d1, d2)`` float64 (normalised units),
    ``status`` (``"converged"``, ``"stopped_on_validation"``, ``"budget_reached"``,
    ``"diverged"``), ``warning`` (one line or None) and a JSON-able ``summary``."""

    X: np.ndarray
    status: str
    warning: str | None
    summary: dict[str, Any] = field(default_factory=dict)


def fit_entries(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                values: np.ndarray, *, model: str = "snn", seed: int = 0,
                max_steps: int | None = None, max_seconds: float | None = None,
                progress: bool = False, options: Mapping[str, Any] | None = None) -> Fit:
    """Fit a ``shape`` matrix to ``X[rows[i], cols[i]] ≈ values[i]`` (values centred and
    scaled by the caller); the fitting engine keeps its own validation part of these
    entries for step sizes and stopping."""
    opts = dict(options or {})
    if model != "snn":
        raise unknown_name("model", model, ("snn",))
    return _fit_snn_entries(shape, rows, cols, values, seed=seed, max_steps=max_steps,
                            max_seconds=max_seconds, progress=progress, **opts)


class _MatrixPredictor:
    """Predictions ``clip(X[row, col])`` from a completed matrix (raw units)."""

    def __init__(self, X: np.ndarray, low: float, high: float) -> None:
        self.X, self.low, self.high = X, low, high

    def predict(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.clip(self.X[rows, cols], self.low, self.high)


@dataclass
class TableFit:
    """Result of :func:`fit_table`: a ``predictor`` with ``.predict(rows, cols) -> (n,)``
    (raw units), ``status``, ``warning`` and a JSON-able ``summary``."""

    predictor: Any
    status: str
    warning: str | None
    summary: dict[str, Any] = field(default_factory=dict)


def fit_table(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
              values: np.ndarray, *, model: str = "snn", seed: int = 0,
              max_steps: int | None = None, max_seconds: float | None = None,
              progress: bool = False, options: Mapping[str, Any] | None = None) -> TableFit:
    """Fit a predictor of a ``shape`` table from its ``(rows, cols, values)`` (raw units).

    Generic path: values centred and scaled by their mean and std, :func:`fit_entries`, and
    predictions clipped to the range of the training values."""
    center = float(values.mean())
    scale = float(values.std()) or 1.0
    fit = fit_entries(shape, rows, cols, (values - center) / scale, model=model, seed=seed,
                      max_steps=max_steps, max_seconds=max_seconds, progress=progress,
                      options=options)
    predictor = _MatrixPredictor(fit.X * scale + center, float(values.min()),
                                 float(values.max()))
    summary = dict(fit.summary, center=center, scale=scale)
    return TableFit(predictor=predictor, status=fit.status, warning=fit.warning,
                    summary=summary)


# --------------------------------------------------------------------------- SNN on entries

def _fit_snn_entries(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                     values: np.ndarray, *, seed: int, max_steps: int | None,
                     max_seconds: float | None, progress: bool, widths: tuple[int, ...] = (2, 2),
                     init_scale: float = 1e-4, lr_scale: float = 0.1,
                     validation_fraction: float = 0.1, patience: int = 20,
                     eval_every: int = 10) -> Fit:
    """SNN (tanh, identity init, rank ``min(d1, d2)``) trained by gradient descent on
    ``½·mean (X[rows, cols] − values)²`` with the rate in units of the loss curvature
    (``lr = lr_scale·m`` at first: the Hessian in X is ``I/m``), grown by 10 % after each
    accepted step and halved after a step that raised the loss (which is undone); stops when the error on a seeded
    validation part of the entries has not improved for ``patience`` evaluations (the best
    iterate is kept), or at the budget."""
    from tqdm.auto import tqdm

    from spectralnn.nn import SNN

    d1, d2 = shape
    n = values.size
    gen = np.random.default_rng(seed)
    perm = gen.permutation(n)
    n_val = round(validation_fraction * n) if n >= 10 else 0
    val, tr = perm[:n_val], perm[n_val:]
    r_t = torch.from_numpy(rows[tr])
    c_t = torch.from_numpy(cols[tr])
    y_t = torch.from_numpy(values[tr])
    r_v, c_v, y_v = (torch.from_numpy(a[val]) for a in (rows, cols, values))
    steps = 5000 if max_steps is None else int(max_steps)
    if steps <= 0:
        raise ConfigError(f"max_steps must be a positive integer, got {max_steps!r}")
    budget = math.inf if max_seconds is None else float(max_seconds)
    model = SNN(shape, widths, init="identity", init_scale=init_scale, seed=seed,
                dtype=torch.float64)
    lr = lr_scale * tr.size
    params = list(model.parameters())
    best = (math.inf, 0, None)
    status, bad, start = "budget_reached", 0, time.perf_counter()
    last_train = math.inf
    bar = tqdm(total=steps, disable=not progress, desc="snn", leave=False)
    step = 0
    lr0, prev = lr, None  # prev: (loss, parameters, gradient) of the last accepted point
    for step in range(1, steps + 1):
        try:
            X = model()
            loss = 0.5 * (X[r_t, c_t] - y_t).square().mean()
            ok = bool(torch.isfinite(loss))
        except torch.linalg.LinAlgError:  # non-finite parameters
            ok = False
        if prev is not None and (not ok or float(loss) > prev[0]):
            lr *= 0.5  # reject the step: back to the last point, half the step
            if lr < 1e-12 * lr0:
                status = "diverged"
                break
            with torch.no_grad():
                for p, p0, g in zip(params, prev[1], prev[2]):
                    p.copy_(p0 - lr * g)
            continue
        if not ok:
            status = "diverged"
            break
        grads = torch.autograd.grad(loss, params)
        prev = (float(loss), [p.detach().clone() for p in params], grads)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(lr * g)
        lr *= 1.1
        bar.update(1)
        if step % eval_every and step != steps:
            continue
        with torch.no_grad():
            X = model()
            err = (float((X[r_v, c_v] - y_v).square().mean().sqrt()) if n_val
                   else float((X[r_t, c_t] - y_t).square().mean().sqrt()))
        bar.set_postfix(validation_rmse=f"{err:.4g}")
        if err < best[0] - 1e-6 * max(1.0, abs(best[0]) if math.isfinite(best[0]) else 1.0):
            best, bad = (err, step, X.detach().clone()), 0
        else:
            bad += 1
        train = float(loss.detach())
        if n_val and bad >= patience:
            status = "stopped_on_validation"
            break
        if abs(last_train - train) <= 1e-10 * max(train, 1e-12):
            status = "converged"
            break
        last_train = train
        if time.perf_counter() - start > budget:
            break
    bar.close()
    X_best = best[2] if best[2] is not None else torch.zeros(d1, d2, dtype=torch.float64)
    warning = None
    if status == "diverged":
        warning = f"the SNN diverged at step {step}; the result is its best earlier iterate"
    elif status == "budget_reached":
        warning = f"the step/time budget ended the fit at step {step} before it converged"
    summary = {"model": "snn", "widths": list(widths), "init_scale": init_scale, "initial_lr": lr0, "final_lr": lr,
               "steps": step, "best_step": best[1], "validation_entries": int(n_val),
               "validation_rmse": best[0] if math.isfinite(best[0]) else None,
               "seconds": time.perf_counter() - start}
    return Fit(X=X_best.numpy(), status=status, warning=warning, summary=summary)
