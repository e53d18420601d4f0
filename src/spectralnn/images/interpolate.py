"""Piecewise-linear interpolation of the observed pixels — the ``interpolate`` method.

``scipy.interpolate.griddata(..., method="linear")`` on the Delaunay triangulation of the
observed pixel centres; pixels outside their convex hull (the border) take the nearest
observed value. Observed pixels keep their measured values.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ConfigError
from .pixels import observed_pixels

if TYPE_CHECKING:
    from ..recovery.stopping import StoppingRules
    from ..recovery.validation import Validation
    from ..sensing.problem import SensingProblem

__all__ = ["fit_interpolate", "interpolate_pixels"]


def interpolate_pixels(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(d1, d2)`` float64: linear interpolation of ``values[mask]``, nearest at the border.

    Args:
        values: ``(d1, d2)`` array (only ``values[mask]`` is read).
        mask: ``(d1, d2)`` bool, at least one True.
    """
    from scipy.interpolate import griddata

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ConfigError("no observed pixel to interpolate from; expected at least one")
    points = np.argwhere(mask)
    vals = np.asarray(values, dtype=np.float64)[mask]
    out = np.where(mask, np.asarray(values, dtype=np.float64), 0.0)
    missing = np.argwhere(~mask)
    if missing.size == 0:
        return out
    filled = np.full(len(missing), np.nan)
    if len(points) >= 3 and np.ptp(points[:, 0]) > 0 and np.ptp(points[:, 1]) > 0:
        filled = griddata(points, vals, missing, method="linear")
    bad = np.isnan(filled)
    if bad.any():
        filled[bad] = griddata(points, vals, missing[bad], method="nearest")
    out[~mask] = filled
    return out


def fit_interpolate(problem: SensingProblem, validation: Validation | None, *,
                    rules: StoppingRules | None = None, seed: int = 0, progress: bool = False,
                    image: bool = False) -> dict[str, Any]:
    """Recovery-registry runner (entries only). It has nothing to select, so the recovery
    path gives it every observed pixel (no validation part)."""
    start = time.perf_counter()
    px = observed_pixels(problem, "interpolate")
    X = interpolate_pixels(px.values, px.mask)
    return {"X": torch.from_numpy(X).to(problem.dtype), "status": "converged", "steps": 1,
            "settings": {"method": "griddata linear, nearest at the border",
                         "seconds": time.perf_counter() - start}, "history": []}
