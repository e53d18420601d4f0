"""Nuclear-norm minimisation on the recovery path: noise-aware and exact.

- ``nnm_noise``: ``min ‖X‖_* s.t. ‖A(X) − y‖₂ ≤ δ`` with ``δ = noise_std·√m`` (the expected
  norm of the noise on the ``m`` fitting measurements; ``noise_std`` is the problem's). Small
  problems (``d1·d2 ≤ 4096`` and a dense operator that fits) are solved by cvxpy
  (:func:`~spectralnn.baselines.nuclear_norm.nuclear_norm_minimization`); larger ones through
  the Lagrangian form ``½‖A(X) − y‖² + λ‖X‖_*`` on the warm-started λ path of
  :mod:`~spectralnn.recovery.softimpute`, taking the largest λ whose residual is ``≤ δ``
  (discrepancy principle: at that λ the Lagrangian and constrained solutions coincide),
  refined by bisection on ``log λ``. No validation is used: δ comes from the noise level.
  With ``noise_std = 0`` this is exact interpolation.
- ``nnm``: the paper's exact interpolation ``min ‖X‖_* s.t. A(X) = y`` (cvxpy; small only).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..baselines.nuclear_norm import nuclear_norm_minimization
from ..errors import ConfigError
from ..sensing.memory import USABLE_FRACTION, available_memory, dense_bytes, format_bytes
from ..stoppers import Budget
from ..trainer import Divergence, run_loop
from .softimpute import lambda_path, proximal_gradient
from .stepsize import operator_norm_squared
from .stopping import StoppingRules
from .validation import Validation

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["CVXPY_LIMIT", "fit_nnm_exact", "fit_nnm_noise"]

#: Largest ``d1·d2`` handed to cvxpy (an SDP in d1·d2 variables).
CVXPY_LIMIT = 64 * 64


def _cvxpy(problem: SensingProblem, delta: float | None, solver: str) -> dict[str, Any]:
    d1, d2 = problem.shape
    need = dense_bytes(problem.num_measurements, (d1, d2), torch.float64)
    avail = available_memory()
    if d1 * d2 > CVXPY_LIMIT or (avail is not None and need > USABLE_FRACTION * avail):
        raise ConfigError(f"the cvxpy nuclear-norm program of a {d1}×{d2} matrix does not fit "
                          f"(limit d1·d2 ≤ {CVXPY_LIMIT}, dense operator "
                          f"{format_bytes(need)}); use model 'nnm_noise', 'softimpute' or 'svt'")
    res = nuclear_norm_minimization(problem.to(dtype=torch.float64), delta=delta,
                                    solver=solver)
    status = "converged" if res.status == "converged" else "budget_reached"
    return {"X": res.X, "status": status, "steps": res.steps,
            "settings": {"solver": res.info.get("solver"),
                         "solver_status": res.info["solver_status"],
                         "delta": delta, "objective": res.info.get("objective")},
            "history": []}


def fit_nnm_exact(problem: SensingProblem, validation: Validation | None, *, rules: StoppingRules,
                  seed: int = 0, progress: bool = False, image: bool = False,
                  solver: str = "SCS") -> dict[str, Any]:
    """The paper's ``min ‖X‖_* s.t. A(X) = y`` (cvxpy; small problems)."""
    return _cvxpy(problem, None, solver)


def fit_nnm_noise(problem: SensingProblem, validation: Validation | None, *, rules: StoppingRules,
                  seed: int = 0, progress: bool = False, image: bool = False,
                  delta: float | None = None, solver: str = "SCS", inner_iters: int = 100,
                  tol: float = 1e-4, bisections: int = 4) -> dict[str, Any]:
    """Noise-aware nuclear-norm minimisation (see the module doc)."""
    m = problem.num_measurements
    if delta is None:
        delta = problem.noise_std * math.sqrt(m)
    d1, d2 = problem.shape
    if d1 * d2 <= CVXPY_LIMIT:
        return _cvxpy(problem, delta if delta > 0 else None, solver)
    start = time.perf_counter()
    step = 1.0 / operator_norm_squared(problem.operator, seed=seed)

    budget = Budget(max_seconds=rules.max_seconds, started=start)
    out_of_budget = budget.out_of_time

    def residual(X: torch.Tensor) -> float:
        return float(torch.linalg.vector_norm(problem.operator(X) - problem.y))

    X = torch.zeros(d1, d2, dtype=problem.dtype, device=problem.device)
    history: list[dict[str, Any]] = []
    total = 0
    prev = (math.inf, X)  # (λ above the target, its solution)
    found: tuple[float, torch.Tensor] | None = None
    lams = lambda_path(problem, floor=1e-5)
    rank = 0

    def solve(i: int, last: bool) -> np.float64:
        """Unit ``i``: the proximal-gradient solve at ``λ_i``, warm-started; returns the largest
        entry of the iterate (divergence: a non-finite one)."""
        nonlocal X, total, rank
        X, its, _, rank = proximal_gradient(problem, lams[i], X, step, inner_iters=inner_iters,
                                            tol=tol, out_of_budget=out_of_budget)
        total += its
        return np.float64(float(X.abs().max()))

    def discrepancy(i: int, diverged: Any, last: bool) -> str | None:
        """The residual at ``λ_i``: within δ ends the path; then the step budget (time: the
        loop's)."""
        nonlocal found, prev
        lam, res = lams[i], residual(X)
        history.append({"step": total, "seconds": time.perf_counter() - start, "lambda": lam,
                        "rank": rank, "residual": res, "delta": delta})
        if res <= delta:
            found = (lam, X)
            return "converged"
        prev = (lam, X)
        return "budget_reached" if total >= rules.max_steps else None

    end = run_loop(solve, discrepancy, units=len(lams), budget=budget, time_rule="end",
                   divergence=Divergence(math.inf, stop=True))
    status = "diverged" if end.status == "diverged" else "budget_reached"
    if found is not None:
        lo, X_lo = found  # residual ≤ δ
        hi, X_hi = prev   # residual > δ
        for _ in range(bisections if math.isfinite(hi) else 0):
            mid = math.sqrt(lo * hi)
            Xm, its, _, _ = proximal_gradient(problem, mid, X_hi, step,
                                              inner_iters=inner_iters, tol=tol,
                                              out_of_budget=out_of_budget)
            total += its
            if residual(Xm) <= delta:
                lo, X_lo = mid, Xm
            else:
                hi, X_hi = mid, Xm
        X, lam, status = X_lo, lo, "converged"
    elif status != "diverged":
        lam = history[-1]["lambda"] if history else math.nan
    else:
        lam = math.nan
    settings = {"delta": delta, "lambda": lam, "step": step, "form": "lagrangian path",
                "discrepancy": "largest λ with ‖A(X) − y‖₂ ≤ δ"}
    return {"X": X, "status": status, "steps": total, "settings": settings,
            "history": history}
