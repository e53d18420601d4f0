"""Biharmonic inpainting (scikit-image's ``inpaint_biharmonic``) — the ``biharmonic`` method.

The missing pixels solve the biharmonic equation ``Δ²u = 0`` with the observed pixels as
boundary values (Damelin & Hoang 2018): a smooth interpolant, the standard inpainting baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._optional import requires
from .pixels import observed_pixels

if TYPE_CHECKING:
    from ..recovery.stopping import StoppingRules
    from ..recovery.validation import Validation
    from ..sensing.problem import SensingProblem

__all__ = ["biharmonic_pixels", "fit_biharmonic"]


def biharmonic_pixels(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(d1, d2)`` float64: biharmonic inpainting of the pixels where ``mask`` is False."""
    with requires("data", feature="biharmonic inpainting"):
        from skimage.restoration import inpaint_biharmonic

    mask = np.asarray(mask, dtype=bool)
    vals = np.where(mask, np.asarray(values, dtype=np.float64), 0.0)
    # inpaint_biharmonic works on any scale; bring values to O(1) for its solver's tolerances
    ref = float(np.abs(vals[mask]).max()) if mask.any() else 1.0
    ref = ref if ref > 0 else 1.0
    out = inpaint_biharmonic(vals / ref, ~mask) * ref
    out[mask] = vals[mask]
    return out


def fit_biharmonic(problem: SensingProblem, validation: Validation | None, *,
                   rules: StoppingRules | None = None, seed: int = 0, progress: bool = False,
                   image: bool = False) -> dict[str, Any]:
    """Recovery-registry runner (entries only). It has nothing to select, so the recovery
    path gives it every observed pixel (no validation part)."""
    px = observed_pixels(problem, "biharmonic")
    X = biharmonic_pixels(px.values, px.mask)
    return {"X": torch.from_numpy(X).to(problem.dtype), "status": "converged", "steps": 1,
            "settings": {"method": "skimage.restoration.inpaint_biharmonic"}, "history": []}
