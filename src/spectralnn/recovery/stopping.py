"""Stopping rules of the recovery path, checked every few steps on the current iterate.

:class:`Monitor` watches the training loss and the validation error and decides when to stop:

1. **validation** — the validation error has not improved by more than ``min_improvement``
   (relative) for ``patience`` steps, where ``patience = max(min_patience,
   patience_fraction·step)`` (relative patience: incremental learning has plateaus whose length
   grows with the run) → ``"stopped_on_validation"``;
2. **plateau** — the training loss decreased by less than ``plateau_tol`` (relative) over the
   last ``max(min_patience, patience_fraction·step)`` steps → ``"converged"``;
3. **budget** — ``max_steps`` or ``max_seconds`` reached → ``"budget_reached"``, or
   ``"stopped_on_validation"`` when the validation error had already stopped improving for
   ``max(min_patience, patience_fraction·step/2)`` steps;
4. **divergence** — a non-finite training loss or validation error → ``"diverged"``.

Rules 1 and 2 are armed only once the validation error has dropped below
:data:`~spectralnn.recovery.result.USELESS_ERROR` (the saddle at a small initialisation is a
plateau too, and must not end the run). The iterate with the lowest validation error is kept
(best-iterate selection); with no validation part, the last iterate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from .result import USELESS_ERROR
from .validation import Validation

__all__ = ["Monitor", "StoppingRules"]


@dataclass
class StoppingRules:
    """Settings of :class:`Monitor` (see the module doc)."""

    max_steps: int = 10_000
    max_seconds: float | None = None
    check_every: int = 5
    min_patience: int = 100
    patience_fraction: float = 0.5
    min_improvement: float = 1e-3
    plateau_tol: float = 1e-3


@dataclass(eq=False)
class Monitor:
    """Tracks one run: ``update(step, train_loss, X)`` returns a status when the run should
    stop, else ``None``. ``best_X``, ``best_error``, ``best_step`` and ``history`` describe it.
    """

    rules: StoppingRules
    validation: Validation | None
    start: float = field(default_factory=time.perf_counter)
    best_X: torch.Tensor | None = None
    best_error: float = math.inf
    best_step: int = -1
    last_improved_step: int = 0
    armed: bool = False
    arm_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, step: int, train_loss: float, X: torch.Tensor) -> str | None:
        r = self.rules
        if not math.isfinite(train_loss):
            return "diverged"
        budget = step >= r.max_steps or (r.max_seconds is not None
                                          and self.elapsed() >= r.max_seconds)
        if step % r.check_every and not budget:
            return None
        err = self.validation.error(X) if self.validation is not None else math.nan
        self.history.append({"step": step, "seconds": self.elapsed(), "train_loss": train_loss,
                             "validation_error": err})
        self.losses.append((step, train_loss))
        if self.validation is None:
            self.best_X, self.best_step = X.detach().clone(), step
        elif not math.isfinite(err):
            return "diverged"
        elif err < self.best_error:
            if err < self.best_error * (1 - r.min_improvement):
                self.last_improved_step = step
            self.best_error, self.best_step = err, step
            self.best_X = X.detach().clone()
        if budget:
            # still improving lately (within the short patience)? else validation had stalled
            quiet = max(r.min_patience, int(r.patience_fraction * step / 2))
            stalled = (self.validation is not None and self.armed
                       and step - self.last_improved_step >= quiet)
            return "stopped_on_validation" if stalled else "budget_reached"
        if not self.armed:
            self.armed = self.validation is None or self.best_error < USELESS_ERROR
            if self.armed:
                self.last_improved_step = step
                self.arm_step = step
            return None
        patience = max(r.min_patience, int(r.patience_fraction * step))
        if self.validation is not None and step - self.last_improved_step >= patience:
            return "stopped_on_validation"
        past = [loss for s, loss in self.losses if s <= step - patience]
        if step - self.arm_step >= patience and past:
            ref = past[-1]
            if ref > 0 and (ref - train_loss) <= r.plateau_tol * ref:
                return "converged"
        return None
