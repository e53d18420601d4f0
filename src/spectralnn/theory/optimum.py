"""Exact minimum-nuclear-norm solutions, the reference the SNN's limit is compared with.

- Under Assumption 1 (``A_i = Φ diag(d_i) Ψᵀ``) every feasible ``X`` can be replaced by
  ``Φ diag(x) Ψᵀ`` with ``x = diag(Φᵀ X Ψ)`` without changing ``A(X)`` and without increasing
  the nuclear norm, and ``‖Φ diag(x) Ψᵀ‖_* = ‖x‖₁``; so

      min ‖X‖_* s.t. A(X) = y   =   min ‖x‖₁ s.t. D x = y,     X = Φ diag(x) Ψᵀ,

  a linear program (``x = x⁺ − x⁻``, ``x± ≥ 0``; scipy ``linprog``, method ``"highs"``).
- With noise and ``m > r`` there is usually no interpolant; the reference is then the
  minimum-ℓ1 *least-squares* solution ``min ‖x‖₁ s.t. x ∈ argmin ‖Dx − y‖``, i.e.
  ``D x = ŷ`` with ``ŷ`` the projection of ``y`` onto the range of ``D`` (written in an
  orthonormal basis of that range, so the equality system is consistent and of full rank).
- In general: ``min ‖X‖_*`` with cvxpy (Clarabel, then SCS), the solver status checked —
  the same program as the NNM baseline (:mod:`spectralnn.baselines.nuclear_norm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..baselines.nuclear_norm import minimize_nuclear_norm
from ..errors import ConfigError, ShapeError, SolverError
from ..sensing.operators import SensingOperator
from ..validate import as_float64_array as _as_array
from .kkt import sensing_matrix
from .reduced import diagonal_data

__all__ = [
    "Optimum",
    "l1_minimum",
    "min_frobenius_interpolant",
    "nuclear_norm_optimum",
    "well_specified_optimum",
]


@dataclass
class Optimum:
    """A reference solution.

    Attributes:
        X: (d1, d2) float64 tensor.
        nuclear_norm: ``‖X‖_*``.
        residual: ``‖A(X) − y‖₂ / ‖y‖₂``.
        x: (r,) the diagonal ``x`` (well-specified case), else ``None``.
        method: how it was computed (``"linprog-highs"``, ``"cvxpy:CLARABEL"``, …).
        least_squares: whether the constraint was ``A(X) = ŷ`` (projection of ``y``).
    """

    X: torch.Tensor
    nuclear_norm: float
    residual: float
    x: np.ndarray | None
    method: str
    least_squares: bool


def _range_system(M: np.ndarray, y: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray,
                                                                      float]:
    """``(C, c, misfit)``: ``C z = c`` is equivalent to ``M z = ŷ`` (``ŷ`` the projection of
    ``y`` onto range(M)), with ``C`` of full row rank; ``misfit = ‖y − ŷ‖/‖y‖``."""
    W, s, Qh = np.linalg.svd(M, full_matrices=False)
    k = int(np.sum(s > rtol * (s[0] if s.size else 0.0)))
    if k == 0:
        raise ConfigError("the measurement map is zero; expected at least one nonzero A_i")
    Wk = W[:, :k]
    coeff = Wk.T @ y
    y_hat = Wk @ coeff
    ny = float(np.linalg.norm(y))
    misfit = float(np.linalg.norm(y - y_hat)) / (ny if ny > 0 else 1.0)
    return s[:k, None] * Qh[:k], coeff, misfit


def l1_minimum(D: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, *,
               least_squares: bool = False, feasibility_tol: float = 1e-9,
               rtol: float = 1e-12) -> np.ndarray:
    """``argmin ‖x‖₁ s.t. D x = y`` (or ``s.t. x ∈ argmin ‖Dx − y‖`` with ``least_squares``).

    Args:
        D: (m, r) matrix; y: (m,).
        least_squares: solve for the projection ``ŷ`` of ``y`` onto range(D) instead of ``y``.
        feasibility_tol: without ``least_squares``, ``‖y − ŷ‖/‖y‖`` above this raises
            :class:`ConfigError` (no exact interpolant; use ``least_squares=True``).
        rtol: relative singular-value threshold defining range(D).

    Returns:
        (r,) float64 solution (scipy ``linprog``, HiGHS; :class:`SolverError` if it fails).
    """
    from scipy.optimize import linprog

    Da = _as_array(D, "D")
    ya = _as_array(y, "y")
    if Da.ndim != 2 or ya.shape != (Da.shape[0],):
        raise ShapeError(f"D {Da.shape} and y {ya.shape} must be (m, r) and (m,)")
    C, c, misfit = _range_system(Da, ya, rtol)
    if not least_squares and misfit > feasibility_tol:
        raise ConfigError(f"y is not in the range of D (relative misfit {misfit:.2e} > "
                          f"{feasibility_tol:g}); expected exact data, or least_squares=True")
    r = Da.shape[1]
    res = linprog(np.ones(2 * r), A_eq=np.hstack([C, -C]), b_eq=c, bounds=(0, None),
                  method="highs")
    if res.status != 0 or res.x is None:
        raise SolverError(f"linprog (highs) failed with status {res.status}: {res.message}")
    return res.x[:r] - res.x[r:]


def well_specified_optimum(operator: object, y: np.ndarray | torch.Tensor, *,
                           least_squares: bool = False) -> Optimum:
    """The exact minimum-nuclear-norm solution under Assumption 1 via the ℓ1 linear program:
    ``X = Φ diag(x) Ψᵀ``, ``x = argmin ‖x‖₁ s.t. D x = y`` (``ŷ`` with ``least_squares``).

    ``operator`` is a well-specified operator (``phi`` (d1, r), ``psi`` (d2, r),
    ``diagonals`` (m, r))."""
    D, phi, psi = diagonal_data(operator)
    if phi is None or psi is None:
        raise ConfigError("well_specified_optimum needs an operator with phi, psi, diagonals")
    ya = _as_array(y, "y")
    x = l1_minimum(D, ya, least_squares=least_squares)
    X = (phi * x) @ psi.T
    ny = float(np.linalg.norm(ya))
    residual = float(np.linalg.norm(D @ x - ya)) / (ny if ny > 0 else 1.0)
    return Optimum(X=torch.from_numpy(X), nuclear_norm=float(np.abs(x).sum()),
                   residual=residual, x=x, method="linprog-highs",
                   least_squares=least_squares)


def nuclear_norm_optimum(A: SensingOperator | torch.Tensor | np.ndarray,
                         y: np.ndarray | torch.Tensor, *, least_squares: bool = False,
                         solvers: tuple[str, ...] = ("CLARABEL", "SCS"),
                         feasibility_tol: float = 1e-9) -> Optimum:
    """``argmin ‖X‖_* s.t. A(X) = y`` (``ŷ`` with ``least_squares``) for any linear ``A``,
    with cvxpy. The constraint is imposed in an orthonormal basis of range(A) (consistent,
    full row rank). The program is
    :func:`~spectralnn.baselines.nuclear_norm.minimize_nuclear_norm`; raises
    :class:`SolverError` unless a solver reports ``optimal``."""
    Amat = sensing_matrix(A)
    m, d1, d2 = Amat.shape
    ya = _as_array(y, "y")
    if ya.shape != (m,):
        raise ShapeError(f"y has shape {ya.shape}; expected ({m},)")
    M = Amat.reshape(m, d1 * d2)
    C, c, misfit = _range_system(M, ya, 1e-12)
    if not least_squares and misfit > feasibility_tol:
        raise ConfigError(f"y is not in the range of A (relative misfit {misfit:.2e} > "
                          f"{feasibility_tol:g}); expected exact data, or least_squares=True")
    scale = float(np.abs(c).max(initial=0.0)) or 1.0
    X, _, _, info = minimize_nuclear_norm(C, c / scale, (d1, d2), solvers=solvers,
                                          allow_inaccurate=False)
    X = X * scale
    ny = float(np.linalg.norm(ya))
    residual = float(np.linalg.norm(M @ X.reshape(-1) - ya)) / (ny if ny > 0 else 1.0)
    return Optimum(X=torch.from_numpy(X), nuclear_norm=float(
        np.linalg.svd(X, compute_uv=False).sum()), residual=residual, x=None,
        method=f"cvxpy:{info['solver']}", least_squares=least_squares)


def min_frobenius_interpolant(A: SensingOperator | torch.Tensor | np.ndarray,
                              y: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``argmin ‖X‖_F s.t. A(X) = y`` (least squares if infeasible): ``vec X = M⁺ y``.
    The implicit bias of plain gradient descent on ``X`` from 0; generally *not* of minimum
    nuclear norm. Returns a (d1, d2) float64 tensor."""
    Amat = sensing_matrix(A)
    m, d1, d2 = Amat.shape
    ya = _as_array(y, "y")
    if ya.shape != (m,):
        raise ShapeError(f"y has shape {ya.shape}; expected ({m},)")
    x, *_ = np.linalg.lstsq(Amat.reshape(m, -1), ya, rcond=None)
    if not np.all(np.isfinite(x)) or math.isnan(float(x.sum())):
        raise SolverError("least squares returned non-finite values")
    return torch.from_numpy(x.reshape(d1, d2))
