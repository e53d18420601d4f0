"""How a run ends: the one status vocabulary, and the stoppers every fitting loop uses.

**Statuses** (:data:`STATUSES`; exactly one per run, for every model and solver):

- ``"converged"``: the method's own convergence test passed (a loss tolerance, a solver's
  residual or relative-change tolerance, a convex solver's ``optimal``).
- ``"stopped_on_validation"``: the validation error stopped improving (patience) or rose.
- ``"budget_reached"``: the step, epoch or time budget ran out first.
- ``"diverged"``: the loss became non-finite or exceeded ``divergence_factor`` × its first
  value (:func:`exceeds`).
- ``"stopped"``: a caller's callback ended the run (e.g. a stop hook of its own).

Older names map onto it (:func:`normalise_status`, :data:`LEGACY_STATUSES`): the trainer's
``"ok"`` and SVT's ``"max_iters"`` were ``"budget_reached"``; cvxpy's ``"optimal"`` and
``"optimal_inaccurate"`` are ``"converged"``.

**Stoppers** (pure checks, no side effects beyond their own counters):

- :func:`exceeds`: divergence, ``¬finite(loss) ∨ loss > factor·max(loss₀, floor)``, elementwise
  on tensors or arrays; :data:`DIVERGENCE_FACTOR` (1e6, the trainer's) and
  :data:`REDUCED_DIVERGENCE_FACTOR` (1e8, the reduced dynamics of the theory study, whose
  published numbers were computed with it) are its two named settings.
- :class:`Budget`: steps and seconds.
- :class:`Patience`: validation patience — stop after ``patience`` evaluations without an
  improvement of more than ``min_delta`` (absolute) over the best.
- :func:`unstable_loss`: whether a logged loss curve oscillated without diverging (reported,
  not a stopping rule).

The recovery path's plateau-aware rules (:class:`spectralnn.recovery.stopping.Monitor`) plug
into the same loop as its callback.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal

import numpy as np
import torch

from .validate import positive_number

__all__ = ["DIVERGENCE_FACTOR", "LEGACY_STATUSES", "REDUCED_DIVERGENCE_FACTOR", "STATUSES",
           "Budget", "Patience", "Status", "beyond", "divergence_limit", "exceeds",
           "normalise_status", "unstable_loss"]

Status = Literal["converged", "stopped_on_validation", "budget_reached", "diverged", "stopped"]

#: Every status a run can end with.
STATUSES: tuple[str, ...] = ("converged", "stopped_on_validation", "budget_reached",
                             "diverged", "stopped")

#: Former names of the same facts, and what they are now.
LEGACY_STATUSES: dict[str, str] = {
    "ok": "budget_reached",            # Trainer: every step done, no tolerance reached
    "max_iters": "budget_reached",     # SVT: iteration budget
    "optimal": "converged",            # cvxpy
    "optimal_inaccurate": "converged",  # cvxpy, reduced accuracy (``accurate=False``)
}

#: The trainer's divergence factor: a loss above this × the first loss has diverged.
DIVERGENCE_FACTOR = 1e6
#: The factor of the theory study's reduced dynamics (:mod:`spectralnn.theory.reduced`).
REDUCED_DIVERGENCE_FACTOR = 1e8


def normalise_status(status: str) -> str:
    """``status`` in the vocabulary of :data:`STATUSES` (see :data:`LEGACY_STATUSES`); any
    other convex-solver status (infeasible, unbounded, …) is ``"diverged"``."""
    if status in STATUSES:
        return status
    return LEGACY_STATUSES.get(status, "diverged")


def exceeds(loss: Any, loss0: Any, factor: float, floor: float | None = None) -> Any:
    """Divergence test ``¬finite(loss) ∨ loss > factor·max(loss₀, floor)``, elementwise.

    ``loss`` and ``loss0`` are torch tensors or numpy arrays of the same kind; ``floor``
    defaults to the smallest normal number of the tensor's dtype (``1e-300`` for arrays).
    Returns a boolean tensor / array of ``loss``'s shape."""
    return beyond(loss, divergence_limit(loss0, factor, floor))


def divergence_limit(loss0: Any, factor: float, floor: float | None = None) -> Any:
    """The threshold ``factor·max(loss₀, floor)`` of :func:`exceeds` (``floor`` as there), to
    compute once for a loop whose ``loss₀`` is fixed."""
    if isinstance(loss0, torch.Tensor):
        fl = torch.finfo(loss0.dtype).tiny if floor is None else floor
        return factor * loss0.clamp_min(fl)
    fl = 1e-300 if floor is None else floor
    return factor * np.maximum(loss0, fl)


def beyond(loss: Any, limit: Any) -> Any:
    """``¬finite(loss) ∨ loss > limit``, elementwise (``limit`` from :func:`divergence_limit`)."""
    if isinstance(loss, torch.Tensor):
        return ~torch.isfinite(loss) | (loss > limit)
    return ~np.isfinite(loss) | (loss > limit)


@dataclass
class Budget:
    """Step and time budget: :meth:`spent` is true once ``steps`` steps are done or
    ``max_seconds`` have passed since :meth:`start` (``None``: no limit)."""

    steps: int | None = None
    max_seconds: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        if self.max_seconds is not None:
            self.max_seconds = positive_number(self.max_seconds, "max_seconds")

    def start(self) -> Budget:
        self.started = time.perf_counter()
        return self

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def out_of_time(self) -> bool:
        return self.max_seconds is not None and self.elapsed() >= self.max_seconds

    def cannot_fit(self, next_seconds: float) -> bool:
        """Whether a unit of work lasting ``next_seconds`` (e.g. the last epoch's time) would
        end past the time budget: stop before it rather than after."""
        return self.max_seconds is not None and self.elapsed() + next_seconds > self.max_seconds

    def spent(self, steps_done: int = 0) -> bool:
        return (self.steps is not None and steps_done >= self.steps) or self.out_of_time()


@dataclass
class Patience:
    """Validation patience: :meth:`update` takes each evaluation's error and returns
    ``"stopped_on_validation"`` after ``patience`` evaluations in a row that did not beat the
    best by more than ``min_delta``; ``best``/``best_step`` describe the best evaluation and
    :meth:`update` returns whether it was a new best through :attr:`improved`."""

    patience: int
    min_delta: float = 1e-5
    best: float = math.inf
    best_step: int = 0
    misses: int = 0
    improved: bool = False

    def update(self, step: int, error: float) -> str | None:
        self.improved = error < self.best - self.min_delta
        if self.improved:
            self.best, self.best_step, self.misses = error, step, 0
            return None
        self.misses += 1
        return "stopped_on_validation" if self.misses >= self.patience else None


def unstable_loss(losses: list[float], *, min_rises: int = 3, rise_fraction: float = 0.1,
                  excess: float = 2.0) -> bool:
    """Whether a logged loss curve oscillates: it rose (by more than 0.1 %) between at least
    ``max(min_rises, rise_fraction·n)`` of its ``n`` consecutive logged pairs, and it ends
    above ``excess`` times its minimum. Gradient descent with a stable step decreases the
    loss at every step; such a curve has gone past the edge of stability without diverging.
    Non-finite values are skipped."""
    finite = [v for v in losses if math.isfinite(v)]
    if len(finite) < 2:
        return False
    rises = sum(b > a * (1 + 1e-3) for a, b in pairwise(finite))
    return (rises >= max(min_rises, rise_fraction * (len(finite) - 1))
            and finite[-1] > excess * min(finite))
