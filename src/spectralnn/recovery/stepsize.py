"""Step sizes derived from the problem: the curvature of the data-fit loss.

The loss ``L(X) = ½·mean_i (⟨A_i, X⟩ − y_i)²`` has Hessian ``A*A / m`` in ``X``; its largest
eigenvalue, the **curvature** ``‖A‖² / m``, sets the scale of every stable step: plain gradient
descent on ``X`` is stable for ``η < 2 / curvature``, proximal methods use ``1 / ‖A‖²``.
Rates are therefore given in *curvature units* (``η = c / curvature``), which carry from one
operator and image size to another.

For factorised models the stable step also depends on the size of the signal: near a
balanced factorisation ``X = U Vᵀ`` gradient descent moves ``X`` with an effective step
``≈ 2η·σ_1(X)`` along its leading direction, so the SNN's rate is given in units of
``1 / (curvature · σ̂_1)`` with ``σ̂_1 = σ_1(X̂)`` of the unbiased back-projection
``X̂ = A*(y) · d1·d2 / Σ_i ‖A_i‖²_F`` (:func:`leading_singular_value`).

``‖A‖²`` is exact where the operator's structure gives it (entry sampling: 1; subsampled DCT
and any subset of its rows: ``d1·d2 / m_full``), else estimated by power iteration on ``A*A``
(:func:`~spectralnn.baselines.svt.operator_norm_squared`, with a 1 % margin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..baselines.svt import frobenius_sum_estimate
from ..baselines.svt import operator_norm_squared as _power_iteration
from ..sensing.operators import EntrySampling, SensingOperator, SubsampledDCT
from ..sensing.subset import SubsetOperator

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["curvature", "frobenius_sum", "leading_singular_value", "operator_norm_squared"]


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


def frobenius_sum(op: SensingOperator, *, seed: int = 0, probes: int = 16) -> float:
    """``Σ_i ‖A_i‖²_F``: exact for entry sampling (``m``) and (subsets of) subsampled DCTs
    (``m·d1·d2/m_full``), else by Hutchinson probes ``E‖A*(z)‖²_F``, ``z`` Rademacher."""
    base = op.base if isinstance(op, SubsetOperator) else op
    if isinstance(base, EntrySampling):
        return float(op.num_measurements)
    if isinstance(base, SubsampledDCT):
        return op.num_measurements * base.scale**2
    return frobenius_sum_estimate(op, probes=probes, seed=seed)


def leading_singular_value(problem: SensingProblem, *, seed: int = 0) -> float:
    """``σ̂_1 = σ_1(A*(y)) · d1·d2 / Σ_i ‖A_i‖²_F``: the leading singular value of the
    back-projection, an estimate of ``σ_1(X*)`` (exact in expectation of ``X̂`` for isotropic
    operators; biased upwards by noise and sampling)."""
    op = problem.operator
    d1, d2 = op.shape
    back = op.adjoint(problem.y).double()
    s1 = float(torch.linalg.matrix_norm(back, ord=2))
    return s1 * d1 * d2 / max(frobenius_sum(op, seed=seed), 1e-300)
