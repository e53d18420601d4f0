"""Soft-impute and its proximal-gradient generalisation, with λ chosen on validation.

For ``F_λ(X) = ½‖A(X) − y‖₂² + λ‖X‖_*`` the accelerated proximal-gradient iteration (FISTA,
Beck & Teboulle 2009; Toh & Yun 2010 for the nuclear norm) with step ``t = 1/‖A‖²`` is

    X_{k+1} = S_{tλ}(Z_k − t·A*(A(Z_k) − y)),   Z_{k+1} = X_{k+1} + (k−1)/(k+2)·(X_{k+1} − X_k)

with ``S_τ(Y) = U diag(max(σ − τ, 0)) Vᵀ`` (:func:`~spectralnn.baselines.threshold.soft_threshold`,
the one soft-threshold of the solvers). For entry sampling ``‖A‖ = 1`` and without the
momentum this *is* soft-impute (Mazumder, Hastie & Tibshirani, JMLR 2010):
``X ← S_λ(P_Ω(Y) + P_Ω⊥(X))``.

**λ path.** ``λ_0 = σ_1(A*(y))`` (the smallest λ with ``X = 0``), then ``λ_k = λ_0·ρ^k``
(``ρ = 0.7``) down to ``λ_0·1e-4``, each solve warm-started from the previous one and run
until ``‖X_{k+1} − X_k‖_F ≤ tol·‖X_k‖_F`` (``tol = 1e-4``) or ``inner_iters``. The
validation error is measured at every λ; the path stops once it has risen for ``patience = 3``
consecutive λ, and the λ with the lowest validation error is returned.

Statuses: ``stopped_on_validation`` (the path stopped on a rising validation error),
``converged`` (the path ran to its end), ``budget_reached`` (step/time budget), ``diverged``
(non-finite iterates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..baselines.threshold import soft_threshold
from ..stoppers import Budget, Patience
from ..trainer import Divergence, run_loop
from .stepsize import operator_norm_squared
from .stopping import StoppingRules
from .validation import Validation

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["fit_softimpute", "lambda_path", "proximal_gradient", "soft_threshold"]


def proximal_gradient(problem: SensingProblem, lam: float, X0: torch.Tensor, step: float, *,
                      inner_iters: int = 100, tol: float = 1e-4,
                      out_of_budget: Callable[[], bool] = lambda: False,
                      ) -> tuple[torch.Tensor, int, bool, int]:
    """Minimise ``½‖A(X) − y‖² + λ‖X‖_*`` by FISTA from ``X0``.

    Returns ``(X, iterations, converged, rank)``."""
    op, y = problem.operator, problem.y
    X, Z = X0, X0
    rank, diff, ref = 0, 0.0, 0.0

    def fista(t: int, last: bool) -> np.float64:
        """Iteration ``k = t + 1``; returns ``‖X_{k+1} − X_k‖_F`` (divergence: not finite)."""
        nonlocal X, Z, rank, diff, ref
        k = t + 1
        G = op.adjoint(op(Z) - y)
        X_new, rank = soft_threshold(Z - step * G, step * lam)
        diff = float(torch.linalg.matrix_norm(X_new - X))
        ref = float(torch.linalg.matrix_norm(X))
        Z = X_new + ((k - 1) / (k + 2)) * (X_new - X)
        X = X_new
        return np.float64(diff)

    def settled(t: int, diverged: Any, last: bool) -> str | None:
        """The relative-change test, then the caller's clock (the outer loop's budget)."""
        if diff <= tol * max(ref, 1e-30):
            return "converged"
        return "budget_reached" if out_of_budget() else None

    end = run_loop(fista, settled, units=inner_iters, divergence=Divergence(math.inf, stop=True))
    return X, end.units, end.status == "converged", rank


def lambda_path(problem: SensingProblem, *, ratio: float = 0.7, floor: float = 1e-4) -> list[float]:
    """``λ_0·ratio^k`` for ``λ_0 = σ_1(A*(y))`` down to ``floor·λ_0``."""
    lam0 = float(torch.linalg.matrix_norm(problem.operator.adjoint(problem.y), ord=2))
    n = max(1, math.ceil(math.log(floor) / math.log(ratio)))
    return [lam0 * ratio**k for k in range(1, n + 1)]


def fit_softimpute(problem: SensingProblem, validation: Validation | None, *, rules: StoppingRules,
                   seed: int = 0, progress: bool = False, image: bool = False,
                   ratio: float = 0.7, floor: float = 1e-4, inner_iters: int = 100,
                   tol: float = 1e-4, patience: int = 3) -> dict[str, Any]:
    """Soft-impute along a λ path, λ chosen on ``validation`` (see the module doc)."""
    start = time.perf_counter()
    step = 1.0 / operator_norm_squared(problem.operator, seed=seed)
    lams = lambda_path(problem, ratio=ratio, floor=floor)
    d1, d2 = problem.shape
    X = torch.zeros(d1, d2, dtype=problem.dtype, device=problem.device)
    best: dict[str, Any] = {"X": X, "error": math.inf, "lam": lams[0], "rank": 0, "index": 0}
    history: list[dict[str, Any]] = []
    total = 0
    bar: Any = None
    budget = Budget(max_seconds=rules.max_seconds, started=start)
    out_of_budget = budget.out_of_time
    rises = Patience(patience, min_delta=0.0)  # the validation error's rises in a row
    last_solve: dict[str, Any] = {}

    def set_bar(b: Any) -> None:
        nonlocal bar
        bar = b

    def solve(i: int, last: bool) -> np.float64:
        """Unit ``i``: the proximal-gradient solve at ``λ_i``, warm-started; returns the largest
        entry of the iterate (divergence: a non-finite one)."""
        nonlocal X, total
        X, its, conv, rank = proximal_gradient(
            problem, lams[i], X, step, inner_iters=min(inner_iters, rules.max_steps - total),
            tol=tol, out_of_budget=out_of_budget)
        total += its
        last_solve.update(conv=conv, rank=rank)
        return np.float64(float(X.abs().max()))

    def choose(i: int, diverged: Any, last: bool) -> str | None:
        """Validation at ``λ_i``: the best λ so far, patience, then the step/time budget."""
        nonlocal best
        lam, rank = lams[i], last_solve["rank"]
        err = validation.error(X) if validation is not None else math.nan
        history.append({"step": total, "seconds": time.perf_counter() - start,
                        "lambda": lam, "rank": rank, "inner_converged": last_solve["conv"],
                        "train_loss": float(problem.loss(X)), "validation_error": err})
        if bar is not None:
            bar.set_postfix_str(f"λ={lam:.3g} rank={rank} val_err={err:.4f}")
        if validation is None:
            best = {"X": X, "error": err, "lam": lam, "rank": rank, "index": i}
        else:
            stop = rises.update(i, err)
            if rises.improved:
                best = {"X": X, "error": err, "lam": lam, "rank": rank, "index": i}
            if stop is not None:
                return stop
        if last:
            return "converged"  # the path ran to its end
        return "budget_reached" if total >= rules.max_steps else None  # time: the loop's

    status = run_loop(solve, choose, units=len(lams), budget=budget, time_rule="end",
                      divergence=Divergence(math.inf, stop=True),
                      progress={"total": len(lams), "desc": "softimpute", "leave": False,
                                "dynamic_ncols": True} if progress else None,
                      on_bar=set_bar).status
    settings = {"lambda": best["lam"], "lambda_max": lams[0] / ratio, "rank": best["rank"],
                "step": step, "path_ratio": ratio, "path_length": len(history),
                "inner_tol": tol, "inner_iters": inner_iters}
    return {"X": best["X"], "status": status, "steps": total, "settings": settings,
            "history": history}
