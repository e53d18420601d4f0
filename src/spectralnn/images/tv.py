"""Total-variation regularised recovery from any linear operator — the ``tv`` method.

Minimises ``½‖A(X) − y‖₂² + λ·TV(X)`` (isotropic TV) by FISTA (Beck & Teboulle 2009):

    X_{k+1} = prox_{tλ·TV}(Z_k − t·A*(A(Z_k) − y))
    Z_{k+1} = X_{k+1} + (k−1)/(k+2)·(X_{k+1} − X_k)

with step ``t = 1/‖A‖²`` (exact for entries and the subsampled DCT) and the proximal step of TV
computed by Chambolle's projection (``skimage.restoration.denoise_tv_chambolle`` with
``weight = t·λ``). λ runs along a decreasing path ``λ_0·ρ^j`` (``λ_0 = ‖A*(y)‖_F/√(d1·d2)``,
``ρ = 0.5``), each solve warm-started from the previous one; the λ with the lowest validation
error is returned, and the path stops once that error has risen ``patience`` times in a row.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._optional import requires
from ..recovery.stepsize import operator_norm_squared
from ..stoppers import Budget, Patience
from ..trainer import Divergence, run_loop

if TYPE_CHECKING:
    from ..recovery.stopping import StoppingRules
    from ..recovery.validation import Validation
    from ..sensing.problem import SensingProblem

__all__ = ["fit_tv", "tv_fista"]


def tv_fista(problem: SensingProblem, lam: float, X0: torch.Tensor, step: float, *, iters: int = 30,
             prox_iters: int = 30) -> torch.Tensor:
    """``iters`` FISTA steps on ``½‖A(X) − y‖² + λ·TV(X)`` from ``X0`` ``(d1, d2)``."""
    with requires("data", feature="the total-variation baseline"):
        from skimage.restoration import denoise_tv_chambolle

    op, y = problem.operator, problem.y
    X, Z = X0, X0

    def fista(t: int, last: bool) -> None:
        """Iteration ``k = t + 1`` (a fixed number of them: no stopping test)."""
        nonlocal X, Z
        k = t + 1
        G = Z - step * op.adjoint(op(Z) - y)
        ref = float(G.abs().max()) or 1.0
        P = denoise_tv_chambolle(G.detach().cpu().double().numpy() / ref,
                                 weight=step * lam / ref, max_num_iter=prox_iters)
        X_new = torch.from_numpy(P * ref).to(X0)
        Z = X_new + ((k - 1) / (k + 2)) * (X_new - X)
        X = X_new

    run_loop(fista, units=iters)
    return X


def fit_tv(problem: SensingProblem, validation: Validation | None, *,
           rules: StoppingRules, seed: int = 0, progress: bool = False,
           image: bool = False, ratio: float = 0.5, path_length: int = 10, iters: int = 30,
           patience: int = 2) -> dict[str, Any]:
    """TV along a λ path, λ chosen on ``validation`` (see the module doc)."""
    start = time.perf_counter()
    step = 1.0 / operator_norm_squared(problem.operator, seed=seed)
    d1, d2 = problem.shape
    back = problem.operator.adjoint(problem.y)
    lam0 = float(torch.linalg.matrix_norm(back)) / math.sqrt(d1 * d2)
    X = torch.zeros(d1, d2, dtype=problem.dtype, device=problem.device)
    best: dict[str, Any] = {"X": X, "error": math.inf, "lam": lam0}
    history: list[dict[str, Any]] = []
    total = 0
    rises = Patience(patience, min_delta=0.0)  # the validation error's rises in a row
    err = math.nan

    def solve(j: int, last: bool) -> np.float64:
        """Unit ``j``: ``iters`` FISTA steps at ``λ_j``, warm-started, and their record;
        returns the largest entry of the iterate (divergence: a non-finite one)."""
        nonlocal X, total, err
        lam = lam0 * ratio**j
        X = tv_fista(problem, lam, X, step, iters=iters)
        total += iters
        err = validation.error(X) if validation is not None else math.nan
        history.append({"step": total, "seconds": time.perf_counter() - start, "lambda": lam,
                        "train_loss": float(problem.loss(X)), "validation_error": err})
        return np.float64(float(X.abs().max()))

    def choose(j: int, diverged: Any, last: bool) -> str | None:
        """The best λ so far, patience, then the step budget (time: the loop's)."""
        nonlocal best
        lam = lam0 * ratio**j
        if validation is None:
            best = {"X": X, "error": err, "lam": lam}
        else:
            stop = rises.update(j, err)
            if rises.improved:
                best = {"X": X, "error": err, "lam": lam}
            if stop is not None:
                return stop
        if last:
            return "converged"  # the path ran to its end
        return "budget_reached" if total >= rules.max_steps else None

    budget = Budget(max_seconds=rules.max_seconds, started=start)
    status = run_loop(solve, choose, units=path_length, budget=budget, time_rule="end",
                      divergence=Divergence(math.inf, stop=True)).status
    if path_length <= 0:
        status = "converged"  # an empty path, as before: nothing was left to solve
    settings = {"lambda": best["lam"], "lambda_0": lam0, "path_ratio": ratio, "step": step,
                "fista_iters_per_lambda": iters, "path_length": len(history)}
    return {"X": best["X"], "status": status, "steps": total, "settings": settings,
            "history": history}
