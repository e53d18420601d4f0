"""Validation: a seeded part of the *training* measurements, held out for model selection.

:func:`split_validation` splits the problem's ``m`` training measurements into ``m − v`` used
for fitting and ``v = max(1, round(fraction·m))`` for validation (early stopping, best iterate,
λ on a path). The problem's own held-out set (``test_operator``, ``y_test``) is never touched:
it stays for reporting only. The validation error of ``X`` is the relative residual

    validation_error(X) = ‖A_v(X) − y_v‖₂ / ‖y_v‖₂        (the zero matrix scores 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from ..factored import LowRank
from ..prediction import measure
from ..sensing.operators import SensingOperator
from ..sensing.problem import SensingProblem
from ..sensing.subset import restrict

__all__ = ["Validation", "split_validation"]


@dataclass(eq=False)
class Validation:
    """The validation part: operator ``A_v`` and measurements ``y_v`` (``(v,)``)."""

    operator: SensingOperator
    y: torch.Tensor

    def __post_init__(self) -> None:
        self._ynorm = float(torch.linalg.vector_norm(self.y.double()))

    def error(self, X: torch.Tensor | LowRank) -> float:
        """``‖A_v(X) − y_v‖₂ / ‖y_v‖₂`` for one ``(d1, d2)`` matrix (dense, or low-rank
        factors: entries are then gathered without forming X)."""
        with torch.no_grad():
            r = measure(self.operator, X.to(dtype=self.operator.dtype)) - self.y
            num = float(torch.linalg.vector_norm(r.double()))
        return num / self._ynorm if self._ynorm > 0 else (0.0 if num == 0 else math.inf)

    def errors(self, X: torch.Tensor) -> torch.Tensor:
        """The same for a batch ``(R, d1, d2)`` → ``(R,)`` float64."""
        with torch.no_grad():
            r = self.operator(X.to(self.operator.dtype)) - self.y
            num = torch.linalg.vector_norm(r.double(), dim=-1)
        return num / max(self._ynorm, 1e-300)


def split_validation(problem: SensingProblem, fraction: float = 0.1, *, seed: int = 0,
                     ) -> tuple[SensingProblem, Validation | None]:
    """``(fit_problem, validation)``: ``fit_problem`` is ``problem`` with only the fitting
    measurements (same truth, held-out set, noise, scale, name); ``validation`` holds the rest.

    ``fraction = 0`` (or fewer than 10 measurements) keeps everything for fitting and returns
    ``validation = None``. The split is a seeded random permutation of the measurements.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            0 <= float(fraction) < 1):
        raise ConfigError(f"validation fraction must be in [0, 1), got {fraction!r}")
    m = problem.num_measurements
    v = round(float(fraction) * m)
    if v == 0 or m < 10:
        return problem, None
    v = min(max(v, 1), m - 1)
    g = torch.Generator().manual_seed(int(seed) + 0x5EED)
    perm = torch.randperm(m, generator=g)
    val_rows, fit_rows = perm[:v].sort().values, perm[v:].sort().values
    dev = problem.y.device
    fit = SensingProblem(
        X_star=problem.X_star, operator=restrict(problem.operator, fit_rows),
        y=problem.y[fit_rows.to(dev)], test_operator=problem.test_operator,
        y_test=problem.y_test, noise_std=problem.noise_std, seed=problem.seed,
        scale=problem.scale, name=problem.name)
    val = Validation(restrict(problem.operator, val_rows), problem.y[val_rows.to(dev)])
    return fit, val
