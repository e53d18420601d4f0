"""What the field tracks while training a model on a matrix sensing problem.

All functions take a matrix ``X`` of shape ``(d1, d2)`` or a batch ``(R, d1, d2)`` and return
one value per matrix (a 0-d tensor or an ``(R,)`` tensor). They are meant to be called at
logging steps only (one batched ``svdvals`` per call), never at every step.

Metrics (the paper's, computed every 1 % of a run by default):

- ``train_loss``  ``½·mean_i (⟨A_i, X⟩ − y_i)²``
- ``test_loss``   the same on the held-out measurements (NaN when there are none)
- ``relative_error``  ``‖X − X*‖_F / ‖X*‖_F`` (NaN when the ground truth is unknown)
- ``nuclear_norm``  ``‖X‖_* = Σ_j σ_j(X)``
- ``sv1, sv2, sv3``  the three largest singular values (NaN when ``min(d1, d2) < k``)
- ``sv_min2, sv_min1``  the second smallest and the smallest singular value (``sv_min2`` NaN
  when ``min(d1, d2) < 2``); all from :func:`spectrum_metrics`
- ``effective_rank``  ``exp(−Σ_j p_j log p_j)``, ``p_j = σ_j / Σ_k σ_k`` (Roy & Vetterli 2007;
  0 for the zero matrix)
- ``grad_norm``  ``‖∇_θ loss‖₂`` over all parameters of the model (filled in by the trainer)
- ``psnr``  ``10·log10(255² / MSE)`` in pixel units: ``clamp(scale·X, 0, 255)`` against
  ``scale·X*`` (image problems with a known ground truth only)

A run's result, ``RunResult``, is the library's one result type,
:class:`spectralnn.result.FitResult`, under the name it was released with;
:data:`~spectralnn.result.METRIC_NAMES` (its history's columns) and
:func:`~spectralnn.stoppers.unstable_loss` are re-exported here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from .errors import ShapeError
from .result import METRIC_NAMES, FitResult
from .stoppers import unstable_loss

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

__all__ = [
    "METRIC_NAMES",
    "RunResult",
    "effective_rank",
    "history_row",
    "matrix_metrics",
    "psnr",
    "spectrum_metrics",
    "to_pixels",
    "unstable_loss",
]

#: The result of a run: :class:`spectralnn.result.FitResult` under the name it was released
#: with (:data:`METRIC_NAMES` and :func:`unstable_loss` also live with the result type and the
#: stoppers, and are re-exported here).
RunResult = FitResult

PEAK = 255.0


def effective_rank(s: torch.Tensor) -> torch.Tensor:
    """``exp(H(p))`` with ``p = s / Σ s`` along the last axis; ``s``: (..., k) ≥ 0 → (...).

    ``0·log 0 = 0``; the zero matrix (``Σ s = 0``) gets effective rank 0.
    """
    total = s.sum(-1, keepdim=True)
    p = s / torch.where(total > 0, total, torch.ones_like(total))
    plogp = torch.where(p > 0, p * torch.log(torch.where(p > 0, p, torch.ones_like(p))),
                        torch.zeros_like(p))
    erank = torch.exp(-plogp.sum(-1))
    return torch.where(total.squeeze(-1) > 0, erank, torch.zeros_like(erank))


def to_pixels(X: torch.Tensor, scale: float) -> torch.Tensor:
    """``clamp(scale·X, 0, 255)``: a matrix in the problem's normalised units as grey values."""
    return (X * scale).clamp(0.0, PEAK)


def psnr(X: torch.Tensor, X_star: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10·log10(255² / mean((P − T)²))``.

    ``P = clamp(scale·X, 0, 255)`` (as the paper displays reconstructions), ``T = scale·X*``.
    ``X``: (..., d1, d2), ``X_star``: (d1, d2) → (...); ``inf`` for a perfect reconstruction.
    """
    if X.shape[-2:] != X_star.shape[-2:]:
        raise ShapeError(f"X has shape {tuple(X.shape)}; expected (..., "
                         f"{X_star.shape[-2]}, {X_star.shape[-1]})")
    truth = (X_star.to(X) * scale)
    mse = (to_pixels(X, scale) - truth).square().mean((-2, -1))
    return 10.0 * torch.log10(PEAK**2 / mse)


def matrix_metrics(X: torch.Tensor, problem: SensingProblem,
                   image: bool = False) -> dict[str, torch.Tensor]:
    """Every metric of ``X`` that does not need the model: (d1, d2) → 0-d, (R, d1, d2) → (R,).

    Keys: ``train_loss, test_loss, relative_error, nuclear_norm, sv1, sv2, sv3, sv_min2,
    sv_min1, effective_rank, psnr`` (``psnr`` NaN unless ``image``). ``problem`` is a
    :class:`~spectralnn.sensing.problem.SensingProblem`.
    """
    X = X.detach()
    with torch.no_grad():
        s = torch.linalg.svdvals(X)  # (..., min(d1, d2)), descending
        nan = torch.full(s.shape[:-1], math.nan, dtype=s.dtype, device=s.device)
        out = {
            "train_loss": problem.loss(X),
            "test_loss": problem.loss(X, held_out=True) if problem.test_operator is not None
            else nan,
            "relative_error": problem.relative_error(X),
            **spectrum_metrics(s, min(X.shape[-2:])),
            "psnr": psnr(X, problem.X_star, problem.scale)
            if image and problem.X_star is not None else nan,
        }
    return out


def spectrum_metrics(s: torch.Tensor, d: int) -> dict[str, torch.Tensor]:
    """The singular-value metrics of a matrix whose smaller side is ``d``, from its ``k``
    largest singular values ``s`` (..., k), descending; when ``k < d`` the other ``d − k`` are
    zero (a low-rank matrix given by its factors).

    Keys ``nuclear_norm, sv1, sv2, sv3, sv_min2, sv_min1, effective_rank``. A singular value
    that does not exist is NaN (``sv3`` of a 2×n matrix, ``sv_min2`` of a 1×n one); one that
    exists but lies beyond ``k`` is 0. Dense and low-rank snapshots report through this one
    function, so they agree.
    """
    k = s.shape[-1]
    if k < d:
        s = torch.cat([s, s.new_zeros((*s.shape[:-1], d - k))], dim=-1)
    s = s[..., :d]
    nan = torch.full(s.shape[:-1], math.nan, dtype=s.dtype, device=s.device)

    def nth(i: int) -> torch.Tensor:
        return s[..., i] if 0 <= i < d else nan

    return {
        "nuclear_norm": s.sum(-1),
        "sv1": nth(0),
        "sv2": nth(1),
        "sv3": nth(2),
        "sv_min2": nth(d - 2),
        "sv_min1": nth(d - 1),
        "effective_rank": effective_rank(s),
    }


def history_row(step: int, seconds: float, values: dict[str, torch.Tensor], index: int | None,
                grad_norm: float = math.nan) -> dict[str, float]:
    """One row of :data:`METRIC_NAMES` from :func:`matrix_metrics` output (entry ``index`` of a
    batch, or the 0-d values when ``index`` is ``None``)."""
    row: dict[str, float] = {"step": int(step), "seconds": float(seconds)}
    for key in METRIC_NAMES[2:]:
        if key == "grad_norm":
            row[key] = float(grad_norm)
            continue
        v = values[key]
        row[key] = float(v if index is None else v[index])
    return row
