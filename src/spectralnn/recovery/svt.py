"""SVT on the recovery path: threshold and step from the operator norm, validation stopping.

Runs :func:`~spectralnn.baselines.svt.singular_value_thresholding` (``τ = 5·‖X̂‖_F``,
``δ = 1.9/‖A‖²``, see that module) with a :class:`~spectralnn.recovery.stopping.Monitor` as its
callback: the iterate with the lowest validation error is returned, and the run stops on the
validation, plateau and budget rules like every other method. SVT's own statuses map to
``converged`` (residual tolerance reached), ``diverged`` (residual blew up) and
``budget_reached``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ..baselines.svt import singular_value_thresholding
from .stopping import Monitor, StoppingRules
from .validation import Validation

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["fit_svt"]


def fit_svt(problem: SensingProblem, validation: Validation | None, *, rules: StoppingRules,
            seed: int = 0, progress: bool = False, image: bool = False, tau: float | None = None,
            step: float | None = None, tol: float = 1e-4) -> dict[str, Any]:
    """SVT with validation-based stopping (see the module doc)."""
    monitor = Monitor(rules, validation)
    stop: dict[str, str] = {}

    def hook(it: int, X: torch.Tensor) -> bool:
        status = monitor.update(it, float(problem.loss(X)), X) if (
            it % rules.check_every == 0 or it >= rules.max_steps) else None
        if status is not None:
            stop["status"] = status
        return status is not None

    res = singular_value_thresholding(problem, tau=tau, step=step, max_iters=rules.max_steps,
                                      tol=tol, log_every=max(1, rules.max_steps // 50),
                                      image=image, seed=seed, progress=progress,
                                      callback=hook)
    if res.status == "diverged":
        status = "diverged"
    elif res.status == "converged":
        status = "converged"
    elif res.status == "stopped":
        status = stop["status"]
    else:
        status = "budget_reached"
    X = monitor.best_X if monitor.best_X is not None and status != "diverged" else res.X
    if status == "converged" and monitor.best_X is not None:
        # the final iterate passed the tolerance; keep the best on validation
        X = monitor.best_X if monitor.best_error <= (
            validation.error(res.X.to(problem.dtype).to(problem.device))
            if validation is not None else float("inf")) else res.X.to(problem.dtype)
    settings = {"tau": res.info["tau"], "step": res.info["step"], "tol": tol,
                "relative_residual": res.info["relative_residual"],
                "best_step": monitor.best_step}
    return {"X": X, "status": status, "steps": res.steps, "settings": settings,
            "history": monitor.history}
