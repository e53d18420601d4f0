"""What a model predicts for a sensing problem, as the trainer needs it, without forming X
when the model can avoid it.

The trainer calls three functions here (its only contact with factored evaluation):

- :func:`predict` — the iterate ``X`` and the measurements ``A(X)`` of one step. For a model
  with ``factored`` evaluation (``SNN(evaluation="factored"|"auto")``) ``X`` is a
  :class:`~spectralnn.factored.LowRank`; with an :class:`~spectralnn.sensing.EntrySampling`
  operator the measurements are gathered from its factors in ``O(m·R)`` and the ``d1×d2``
  matrix is never formed; other operators (DCT, Gaussian, …) get ``X`` formed from the
  factors (which fails with a one-line error where it would not fit).
- :func:`keep_where` — the trainer's "last good iterate" for a dense tensor or a low-rank one.
- :func:`snapshot_metrics` — the logged metrics, from the factors for a low-rank ``X``.
- :func:`as_dense` — the reported matrix: dense where it fits
  (:data:`~spectralnn.factored.DENSE_LIMIT` entries), else left low-rank.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from .factored import DENSE_LIMIT, LowRank
from .metrics import matrix_metrics, psnr, spectrum_metrics
from .sensing.operators import EntrySampling, SensingOperator

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

__all__ = ["as_dense", "keep_where", "model_output", "predict", "snapshot_metrics"]

_ROWS_COLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rows_cols(op: EntrySampling) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, cols)`` of the observed entries (cached per operator)."""
    hit = _ROWS_COLS.get(op)
    if hit is None or hit[0] is not op.indices:
        d2 = op.shape[1]
        hit = (op.indices, op.indices // d2, op.indices % d2)
        _ROWS_COLS[op] = hit
    return hit[1], hit[2]


def _is_factored(model: nn.Module) -> bool:
    return bool(getattr(model, "factored", False)) and callable(getattr(model, "low_rank", None))


def model_output(model: nn.Module) -> Any:
    """``model.low_rank()`` (a :class:`LowRank`) for a model with factored evaluation, else
    ``model()`` (a tensor). Typed ``Any``: the trainer keeps either where it kept a tensor."""
    return cast(Any, model).low_rank() if _is_factored(model) else model()


def measure(operator: SensingOperator, X: torch.Tensor | LowRank) -> torch.Tensor:
    """``A(X)``: (…, m); gathered from the factors when ``X`` is low-rank and ``A`` samples
    entries, else through the dense ``X``."""
    if isinstance(X, LowRank):
        if isinstance(operator, EntrySampling):
            rows, cols = _rows_cols(operator)
            return X.entries(rows, cols)
        return operator(X.dense())
    return operator(X)


def predict(model: nn.Module, operator: SensingOperator,
            ) -> tuple[torch.Tensor | LowRank, torch.Tensor]:
    """``(X, A(X))`` for one training step; differentiable (see the module doc)."""
    X = model_output(model)
    return X, measure(operator, X)


def keep_where(good: torch.Tensor, new: torch.Tensor | LowRank,
               old: torch.Tensor | LowRank) -> Any:
    """Per replica (leading dimension), ``new`` where ``good`` else ``old``; detached."""
    new = new.detach()
    if isinstance(new, LowRank) and isinstance(old, LowRank):
        if old.left.shape != new.left.shape:
            return new if bool(good.all()) else old
        g = good.view(-1, 1, 1)
        return LowRank(torch.where(g, new.left, old.left), torch.where(g, new.right, old.right))
    if isinstance(new, LowRank):
        new = new.dense()
    if isinstance(old, LowRank):
        old = old.dense()
    return torch.where(good.view(-1, 1, 1), new, old)


def as_dense(X: torch.Tensor | LowRank) -> Any:
    """``X`` as a dense tensor where it fits (:data:`DENSE_LIMIT` entries), else unchanged
    (a :class:`LowRank`; typed ``Any`` as :func:`model_output`)."""
    if isinstance(X, LowRank):
        d1, d2 = X.shape[-2:]
        return X.dense() if d1 * d2 <= DENSE_LIMIT else X
    return X


def snapshot_metrics(X: torch.Tensor | LowRank, problem: SensingProblem, image: bool = False,
                     ) -> dict[str, torch.Tensor]:
    """:func:`~spectralnn.metrics.matrix_metrics` for a dense or low-rank ``X`` (batch first).

    For a low-rank ``X`` nothing of size d1×d2 is formed (except for PSNR, image problems):
    losses from the measurements (gathered for entry sampling), singular values from the
    factors (:meth:`LowRank.svdvals`, exact: X has no other non-zero singular value) and
    ``‖X − X*‖_F² = ‖X*‖_F² − 2⟨X* right, left⟩ + ‖X‖_F²`` (NaN without a ground truth).
    """
    if isinstance(X, torch.Tensor):
        return matrix_metrics(X, problem, image=image)
    with torch.no_grad():
        s = X.svdvals()
        d = min(X.shape[-2:])
        nan = torch.full(s.shape[:-1], math.nan, dtype=s.dtype, device=s.device)

        def loss(op: SensingOperator, y: torch.Tensor) -> torch.Tensor:
            return 0.5 * (measure(op, X) - y).square().mean(-1)

        test = getattr(problem, "test_operator", None)
        X_star = getattr(problem, "X_star", None)
        rel = nan
        if X_star is not None:
            Xs = X_star.to(device=X.device, dtype=X.dtype)
            ss = Xs.square().sum()
            cross = ((Xs @ X.right) * X.left).sum((-2, -1))
            rel = (ss - 2 * cross + X.frobenius_sq()).clamp_min(0).sqrt() / ss.sqrt()
        psnr_v = nan
        if image and X_star is not None:
            psnr_v = psnr(X.dense(), X_star, problem.scale)
        return {
            "train_loss": loss(problem.operator, problem.y),
            "test_loss": loss(test, problem.y_test)
            if test is not None and problem.y_test is not None else nan,
            "relative_error": rel,
            **spectrum_metrics(s, d),
            "psnr": psnr_v,
        }
