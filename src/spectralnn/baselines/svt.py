"""SVT: singular value thresholding (Cai, Candès & Shen, SIAM J. Optim. 2010).

For sizes where a generic conic solver is impractical (``d ≳ 100``), using only the operator's
``forward`` and ``adjoint``:

    X_k = D_τ(Y_{k−1}),            D_τ(Y) = U diag(max(σ − τ, 0)) Vᵀ   (:mod:`.threshold`)
    Y_k = Y_{k−1} + δ·A*(y − A(X_k))

is gradient ascent on the dual of ``min τ‖X‖_* + ½‖X‖_F²  s.t.  A(X) = y``, whose solution
tends to the minimum-nuclear-norm interpolant as ``τ → ∞``. It converges for
``0 < δ < 2/‖A‖²``. Starts at ``Y_0 = k₀·δ·A*(y)`` with ``k₀ = ⌈τ / (δ‖A*(y)‖₂)⌉`` (the first
``k₀`` iterates would be zero). Stops when ``‖A(X_k) − y‖₂ ≤ tol·‖y‖₂`` or after ``max_iters``.

Defaults (scale-aware, since problems are normalised): ``δ = 1.9/‖A‖²`` with ``‖A‖²`` estimated
by power iteration on ``A*A``; ``τ = 5·‖X̂‖_F`` where ``‖X̂‖_F² = ‖y‖² · d1·d2 / Σ_i ‖A_i‖²_F``
estimates ``‖X*‖_F`` for isotropic operators (``Σ_i ‖A_i‖²_F`` by Hutchinson probes
``E‖A*(z)‖² , z`` Rademacher). For entry sampling, Cai–Candès–Shen's ``δ = 1.2·d1·d2/m`` is
faster; pass it as ``step``.

**Divergence** is reported as such (status ``"diverged"``): a non-finite residual, or a relative
residual that has grown above ``divergence_factor`` (default 10) times both its smallest value
so far and its first value — the dual ascent with a too-large step grows geometrically. The
returned ``X`` is then the iterate with the smallest residual.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ConfigError
from ..metrics import RunResult, history_row, matrix_metrics
from ..trainer import Divergence, run_loop
from ..validate import positive_int, positive_number
from .threshold import soft_threshold

if TYPE_CHECKING:
    from ..sensing.operators import SensingOperator
    from ..sensing.problem import SensingProblem

__all__ = ["operator_norm_squared", "singular_value_thresholding", "svt_defaults"]


def operator_norm_squared(operator: SensingOperator, iters: int = 50, seed: int = 0) -> float:
    """``‖A‖² = λ_max(A*A)`` by power iteration (forward/adjoint only), with a 1 % margin."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(*operator.shape, generator=g, dtype=torch.float64)
    X = (X / torch.linalg.matrix_norm(X)).to(device=operator.device, dtype=operator.dtype)
    lam = 0.0
    for _ in range(iters):
        Z = operator.adjoint(operator.forward(X))
        lam = float(torch.linalg.matrix_norm(Z))
        if lam == 0.0:
            break
        X = Z / lam
    return 1.01 * lam


def frobenius_sum_estimate(operator: SensingOperator, *, probes: int = 16, seed: int = 0) -> float:
    """``Σ_i ‖A_i‖²_F = E‖A*(z)‖²_F`` by ``probes`` Rademacher vectors ``z`` (Hutchinson)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randint(0, 2, (probes, operator.num_measurements), generator=g).to(torch.float64)
    z = (z * 2 - 1).to(device=operator.device, dtype=operator.dtype)
    return float(operator.adjoint(z).double().square().sum()) / probes


def svt_defaults(problem: SensingProblem, seed: int = 0, probes: int = 16) -> tuple[float, float]:
    """The default ``(tau, step)`` for ``problem`` (see the module docstring)."""
    op = problem.operator
    norm2 = operator_norm_squared(op, seed=seed)
    if norm2 <= 0:
        raise ConfigError("the sensing operator is zero; SVT needs a non-zero operator")
    frob2 = frobenius_sum_estimate(op, probes=probes, seed=seed)
    d1, d2 = op.shape
    est = float(torch.linalg.vector_norm(problem.y)) * math.sqrt(d1 * d2 / max(frob2, 1e-300))
    return 5.0 * est, 1.9 / norm2


def singular_value_thresholding(
    problem: SensingProblem,
    *,
    tau: float | None = None,
    step: float | None = None,
    max_iters: int = 2000,
    tol: float = 1e-4,
    log_every: int | None = None,
    image: bool = False,
    seed: int = 0,
    progress: bool = False,
    divergence_factor: float = 10.0,
    callback: Callable[[int, torch.Tensor], object] | None = None,
) -> RunResult:
    """Run SVT on a :class:`~spectralnn.sensing.problem.SensingProblem`.

    Args:
        tau: threshold ``τ`` (default: see module docstring).
        step: ``δ`` (default ``1.9/‖A‖²``).
        max_iters: iteration budget.
        tol: stop when ``‖A(X) − y‖₂ ≤ tol·‖y‖₂``.
        log_every: log metrics every that many iterations (default ``max_iters // 100``).
        image: add PSNR to the metrics.
        seed: for the norm estimates.
        progress: show a tqdm bar.
        divergence_factor: see the module docstring.
        callback: ``f(iteration, X)`` after every iteration; returning a true value stops the
            run (status ``"stopped"``; the recovery path's monitor plugs in here).

    Returns:
        :class:`~spectralnn.metrics.RunResult` of model ``"svt"``; ``status`` is
        ``"converged"``, ``"budget_reached"`` (iteration budget), ``"diverged"`` or
        ``"stopped"`` (:data:`spectralnn.stoppers.STATUSES`); the summary has
        ``tau``, ``step`` and the final relative residual.
    """
    max_iters = positive_int(max_iters, "max_iters")
    tol = positive_number(tol, "tol")
    divergence_factor = positive_number(divergence_factor, "divergence_factor")
    start = time.perf_counter()
    d_tau, d_step = (None, None) if tau is not None and step is not None else \
        svt_defaults(problem, seed)
    tau = d_tau if tau is None else positive_number(tau, "tau")
    step = d_step if step is None else positive_number(step, "step")
    every = (max(1, max_iters // 100) if log_every is None
             else positive_int(log_every, "log_every"))
    assert tau is not None and step is not None  # given, or both from svt_defaults
    op, y = problem.operator, problem.y
    ynorm = float(torch.linalg.vector_norm(y))
    Aty = op.adjoint(y)
    spec = float(torch.linalg.matrix_norm(Aty, ord=2))
    k0 = math.ceil(tau / (step * spec)) if spec > 0 else 0
    Y = k0 * step * Aty
    X = torch.zeros_like(Y)
    history: list[dict[str, float]] = []
    rel, r = math.inf, y
    first_rel, best_rel, best_X = math.nan, math.inf, X
    bar: Any = None

    def set_bar(b: Any) -> None:
        nonlocal bar
        bar = b

    def iterate(t: int, last: bool) -> np.float64 | None:
        """Iteration ``t + 1``: ``X = D_τ(Y)`` and its relative residual (the divergence
        check's loss; ``None`` once it is within ``tol``: converged, nothing to check)."""
        nonlocal X, r, rel, first_rel
        it = t + 1
        X, _ = soft_threshold(Y, tau)
        r = y - op.forward(X)
        rel = float(torch.linalg.vector_norm(r)) / max(ynorm, 1e-300)
        done = rel <= tol
        if it % every == 0 or done or it == max_iters:
            values = matrix_metrics(X, problem, image=image)
            history.append(history_row(it, time.perf_counter() - start, values, None))
            if bar is not None:
                bar.set_postfix(residual=f"{rel:.2e}",
                                error=f"{history[-1]['relative_error']:.3e}")
        if done:
            return None
        if it == 1:
            first_rel = rel
        return np.float64(rel)

    def ascend(t: int, diverged: Any, last: bool) -> str | None:
        """The dual ascent step ``Y ← Y + δ·A*(r)``, after the best iterate and the callback."""
        nonlocal Y, best_rel, best_X
        if rel <= tol:
            return "converged"
        if rel < best_rel:
            best_rel, best_X = rel, X
        # the divergence reference: max(smallest residual so far, first residual)
        watch.loss0 = np.float64(max(best_rel, first_rel))
        if callback is not None and callback(t + 1, X):
            return "stopped"
        Y = Y + step * op.adjoint(r)
        return None

    # before the first iteration the reference is +∞: only a non-finite residual diverges
    watch = Divergence(divergence_factor, floor=1e-300, loss0=np.float64(math.inf), stop=True)
    end = run_loop(iterate, ascend, units=max_iters, divergence=watch, time_rule="end",
                   progress={"total": max_iters, "desc": "svt", "leave": False} if progress
                   else None, on_bar=set_bar)
    status, it = end.status, end.units
    if status == "diverged":
        X = best_X
        values = matrix_metrics(X, problem, image=image)
        history.append(history_row(it, time.perf_counter() - start, values, None))
    seconds = time.perf_counter() - start
    return RunResult("svt", X.detach().cpu().to(torch.float64), history, steps=it,
                     seconds=seconds, status=status, diverged=status == "diverged",
                     diverged_step=it if status == "diverged" else None,
                     converged_step=it if status == "converged" else None,
                     info={"tau": tau, "step": step, "relative_residual": rel})
