"""Exponential decay of the training loss (the paper's Theorem 2), measured.

Theorem 2 says that, along gradient flow, ``ℓ(t) ≤ ℓ(0)·e^{−c t}``. On a recorded loss curve
``ℓ_j`` at times ``t_j`` we fit ``log ℓ_j ≈ a − c·t_j`` by least squares over a window and
report the rate ``c``, the intercept ``a`` and the coefficient of determination ``R²`` of the
log-linear fit: ``R² ≈ 1`` means the decay *is* exponential there. Sliding windows show where
it is and where it is not (the plateau of a small initialisation, the round-off floor).

Points with ``ℓ ≤ floor_rtol · max(ℓ)`` (default ``1e-28``: far above nothing, just above
float64 round-off of a loss ``∝ residual²``) or with non-finite or non-positive values are
left out of every fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ShapeError
from ..validate import positive_int

__all__ = ["RateFit", "exponential_phases", "fit_exponential_rate", "sliding_rate_fits"]


@dataclass(frozen=True)
class RateFit:
    """``log ℓ(t) ≈ intercept − rate·t`` on ``[start, stop]``.

    Attributes:
        rate: fitted ``c`` (per unit of ``t``; per step when ``t`` counts steps).
        intercept: fitted ``log ℓ`` at ``t = 0``.
        r2: coefficient of determination of the log-linear fit (1 for an exact exponential;
            NaN when the window has fewer than 3 usable points or constant ``log ℓ``).
        start, stop: first and last ``t`` used.
        n_points: number of points used.
    """

    rate: float
    intercept: float
    r2: float
    start: float
    stop: float
    n_points: int

    @property
    def exponential(self) -> bool:
        """``rate > 0 and r2 ≥ 0.99``: a clean exponential decay."""
        return bool(self.rate > 0 and math.isfinite(self.r2) and self.r2 >= 0.99)

    def as_dict(self) -> dict[str, float | int]:
        return {"rate": self.rate, "intercept": self.intercept, "r2": self.r2,
                "start": self.start, "stop": self.stop, "n_points": self.n_points}


def _prepare(loss: object, t: object | None) -> tuple[np.ndarray, np.ndarray]:
    ell = np.asarray(loss, dtype=np.float64)
    if ell.ndim != 1 or ell.size == 0:
        raise ShapeError(f"loss has shape {ell.shape}; expected a non-empty 1-D array (T,)")
    tt = np.arange(ell.size, dtype=np.float64) if t is None else np.asarray(t, np.float64)
    if tt.shape != ell.shape:
        raise ShapeError(f"t has shape {tt.shape}; expected {ell.shape}, the loss's shape")
    if not np.all(np.isfinite(tt)) or np.any(np.diff(tt) <= 0):
        raise ConfigError("t must be finite and strictly increasing")
    return ell, tt


def _usable(ell: np.ndarray, floor_rtol: float) -> np.ndarray:
    finite = np.isfinite(ell) & (ell > 0)
    if not np.any(finite):
        return finite
    top = float(np.max(ell[finite]))
    return finite & (ell > floor_rtol * top)


def _fit(t: np.ndarray, logl: np.ndarray) -> tuple[float, float, float]:
    """Least squares ``logl ≈ a − c t``: ``(c, a, R²)``."""
    n = t.size
    if n < 2:
        return math.nan, math.nan, math.nan
    tm, lm = t.mean(), logl.mean()
    dt, dl = t - tm, logl - lm
    stt = float(dt @ dt)
    slope = float(dt @ dl) / stt
    a = lm - slope * tm
    ss_tot = float(dl @ dl)
    resid = dl - slope * dt
    ss_res = float(resid @ resid)
    r2 = 1.0 - ss_res / ss_tot if (n >= 3 and ss_tot > 0) else math.nan
    return -slope, float(a), r2


def fit_exponential_rate(loss: Sequence[float] | np.ndarray, t: Sequence[float] | np.ndarray
                         | None = None, *, start: float | None = None,
                         stop: float | None = None, floor_rtol: float = 1e-28) -> RateFit:
    """Fit ``ℓ(t) ≈ e^{a − c t}`` on the points with ``start ≤ t ≤ stop``.

    Args:
        loss: (T,) loss values.
        t: (T,) strictly increasing times or steps (default ``0, 1, …``).
        start, stop: the window (default: everything).
        floor_rtol: drop points with ``ℓ ≤ floor_rtol·max ℓ`` (the round-off floor).

    Returns:
        :class:`RateFit` (rate NaN when fewer than 2 usable points).
    """
    ell, tt = _prepare(loss, t)
    sel = _usable(ell, floor_rtol)
    if start is not None:
        sel &= tt >= float(start)
    if stop is not None:
        sel &= tt <= float(stop)
    ts, ls = tt[sel], np.log(ell[sel])
    rate, a, r2 = _fit(ts, ls)
    return RateFit(rate=rate, intercept=a, r2=r2,
                   start=float(ts[0]) if ts.size else math.nan,
                   stop=float(ts[-1]) if ts.size else math.nan, n_points=int(ts.size))


def sliding_rate_fits(loss: Sequence[float] | np.ndarray, t: Sequence[float] | np.ndarray
                      | None = None, *, window: int = 10, stride: int | None = None,
                      floor_rtol: float = 1e-28) -> list[RateFit]:
    """Rate fits on consecutive windows of ``window`` recorded points, every ``stride``
    points (default ``window // 2``). Windows whose points are all below the floor are
    skipped."""
    ell, tt = _prepare(loss, t)
    if isinstance(window, bool) or not isinstance(window, int) or window < 3:
        raise ConfigError(f"window must be an int ≥ 3, got {window!r}")
    stride = max(1, window // 2) if stride is None else positive_int(stride, "stride")
    sel = _usable(ell, floor_rtol)
    fits = []
    for lo in range(0, max(1, ell.size - window + 1), stride):
        idx = np.arange(lo, min(lo + window, ell.size))
        idx = idx[sel[idx]]
        if idx.size < 3:
            continue
        rate, a, r2 = _fit(tt[idx], np.log(ell[idx]))
        fits.append(RateFit(rate, a, r2, float(tt[idx[0]]), float(tt[idx[-1]]), int(idx.size)))
    return fits


def exponential_phases(loss: Sequence[float] | np.ndarray, t: Sequence[float] | np.ndarray
                       | None = None, *, window: int = 10, r2_min: float = 0.99,
                       min_decades: float = 0.5, floor_rtol: float = 1e-28,
                       ) -> list[RateFit]:
    """Maximal stretches where the loss decays exponentially, each refitted as a whole.

    A sliding window (see :func:`sliding_rate_fits`) is *exponential* when its rate is
    positive, its ``R² ≥ r2_min`` and the loss falls by at least ``min_decades`` decades
    across it; overlapping exponential windows are merged and each merged stretch is fitted
    once. Everything outside the returned stretches (plateaus, the floor, changes of rate
    that spoil the fit) is not exponential at that resolution.
    """
    ell, tt = _prepare(loss, t)
    fits = sliding_rate_fits(ell, tt, window=window, floor_rtol=floor_rtol)
    good = [f for f in fits if f.rate > 0 and math.isfinite(f.r2) and f.r2 >= r2_min
            and f.rate * (f.stop - f.start) / math.log(10.0) >= min_decades]
    spans: list[list[float]] = []
    for f in good:
        if spans and f.start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], f.stop)
        else:
            spans.append([f.start, f.stop])
    return [fit_exponential_rate(ell, tt, start=a, stop=b, floor_rtol=floor_rtol)
            for a, b in spans]
