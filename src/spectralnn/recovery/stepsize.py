"""Step sizes derived from the problem: the curvature of the data-fit loss.

The loss ``L(X) = ½·mean_i (⟨A_i, X⟩ − y_i)²`` has Hessian ``A*A / m`` in ``X``; its largest
eigenvalue, the **curvature** ``‖A‖² / m``, sets the scale of every stable step: plain gradient
descent on ``X`` is stable for ``η < 2 / curvature``, proximal methods use ``1 / ‖A‖²``.
Rates are therefore given in *curvature units* (``η = c / curvature``), which carry from one
operator and image size to another.

``‖A‖²`` is exact where the operator's structure gives it (entry sampling: 1; subsampled DCT
and any subset of its rows: ``d1·d2 / m_full``), else estimated by power iteration on ``A*A``
(:func:`~spectralnn.baselines.svt.operator_norm_squared`, with a 1 % margin).
"""

from __future__ import annotations

from ..baselines.svt import operator_norm_squared as _power_iteration
from ..sensing.operators import EntrySampling, SensingOperator, SubsampledDCT
from ..sensing.subset import SubsetOperator

__all__ = ["curvature", "operator_norm_squared"]


def operator_norm_squared(op: SensingOperator, *, seed: int = 0) -> float:
    """``‖A‖² = λ_max(A*A)``: exact for entry sampling and (subsets of) subsampled DCTs, by
    50 power iterations otherwise."""
    base = op.base if isinstance(op, SubsetOperator) else op
    if isinstance(base, EntrySampling):
        return 1.0
    if isinstance(base, SubsampledDCT):
        return base.scale**2  # A A* = (d1·d2/m) I_m, and so for any subset of rows
    return _power_iteration(op, seed=seed)


def curvature(op: SensingOperator, *, seed: int = 0) -> float:
    """``‖A‖² / m``: the largest eigenvalue of the loss's Hessian in ``X``."""
    return operator_norm_squared(op, seed=seed) / op.num_measurements
