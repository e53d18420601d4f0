"""Stopping rules of the recovery path: a run says ``converged`` only when it has.

:class:`Monitor` is fed the training loss at every step (``update(step, loss, X)``) and checks
the validation error every ``check_every`` steps. With ``ρ = √(loss / loss_0)`` the relative
training residual (``loss_0``: the first loss seen, i.e. that of the small start ≈ ``X = 0``),
``W = max(min_patience, patience_fraction·step)`` the window, and "settled" meaning that the
validation error has not improved by more than ``min_improvement`` (relative) for ``W`` steps:

1. **converged** — the loss is not oscillating (:meth:`Monitor.oscillating`) and either
   a. the data are fitted to precision: ``ρ ≤ fit_tol`` (default ``max(1e-8, 100·eps)`` of the
      loss's dtype); or
   b. the fit is tight and has settled: ``ρ ≤ settle_tol`` (1e-4), the loss fell by less than
      ``settle_tol²·loss_0`` over the last ``min_patience`` steps (the fit no longer changes at
      the ``settle_tol`` level) and the best validation error by less than
      ``settle_improvement`` (10 %, relative) over ``W`` (what is left of a small start in the
      directions the data do not pin down creeps on for thousands of steps without changing
      the answer; float32 round-off makes both jitter there); or
   c. the run is stationary: the validation error has settled and the loss fell by less than
      ``stationary_tol`` (1e-6, relative) over ``W`` (a minimum that does not interpolate,
      e.g. a small ``rank`` on noisy data), and — when the method gives rule 1d's test — the
      residual looks like noise (a saddle can be that flat: a 41×30 rank-2 table plus 10,
      rounded, sat at ρ = 4.8e-3 with a loss falling 1e-6 per 100 steps, twice soft-impute's
      error); or
   d. the fit sits at its noise floor: over the last ``2·min_patience`` steps the best
      validation error improved by less than ``settle_improvement`` and the loss fell by less
      than ``floor_tol`` (1e-3, relative), and what is left of the data is noise —
      ``unstructured(X)`` (given by the method; for the SNN: the back-projected residual
      ``G = A*(A(X) − y)`` has ``σ₁(G)/‖G‖_F ≤ 1.5·(1/√d1 + 1/√d2)``, about what a noise
      matrix of that shape gives, while a low-rank part still to be learnt gives ≈ 1).
      Noisy data (even values rounded to 2 decimals) never become stationary at 1e-6: an
      overparametrised model creeps on into the noise for thousands of steps; or
   e. the fit is close and the iterate no longer moves: ``ρ ≤ still_tol`` (1e-3), the validation
      error has settled (as in b) and ``‖X − X_s‖_F ≤ change_tol·‖X‖_F`` (1e-4) for a
      snapshot ``X_s`` taken ``min_patience`` to ``2·min_patience`` steps earlier (measured
      on a noiseless 8×6 rank-1 completion: the loss still creeps down by a third over
      thousands of steps while the answer changes by 1e-6 per 100 steps).

   A plateau of the loss *above* ``settle_tol`` is **not** convergence unless rule 1d finds
   the residual to be noise: from a small start the loss falls in steps, with long plateaus
   while the next singular value grows (saddle to saddle), and a plateau is where the next
   step is about to start.
2. **stopped_on_validation** — the validation error has not improved (by more than
   ``min_improvement``) for ``W`` steps while the training loss still fell by more than
   ``plateau_tol`` over the last ``W/2`` of them (a window reaching back into the fast fall
   before a saddle would take the saddle for overfitting) and the validation error did not
   fall over those ``W/2`` (leaving a saddle, both fall), or it is now at least
   ``10·rise_tol`` (10 %) above its best: more fitting no longer generalises (noise, or
   entries the data do not determine). When the training loss is flat, a small rise of the
   validation error is the drift of a saddle (measured: +1.7 % on a 41×30 rank-2 table while
   the third singular value waits to grow); rule 1 decides, and a saddle runs on.
3. **budget** — ``max_steps`` or ``max_seconds`` reached → ``"budget_reached"``
   (``"stopped_on_validation"`` when rule 2's rise had already been seen for ``min_patience``
   steps).
4. **divergence** — a non-finite training loss or validation error → ``"diverged"``.

Rules 1b–1e and 2 are armed only once the validation error has dropped below
:data:`~spectralnn.recovery.result.USELESS_ERROR` (the saddle at a small initialisation is a
plateau too). The iterate with the lowest validation error is kept (best-iterate selection);
with no validation part, the last iterate.

**Oscillation** (:meth:`Monitor.oscillating`): over the last ``window`` losses fed, at least a
quarter of the steps increased the loss and the increases undo at least a quarter of the
decreases — the step is at the edge of stability (a period-2 orbit of gradient descent looks
like a plateau to rule 1 and must not pass for it) — and they undo at least 1e-3 of the
loss. Losses near the round-off floor (``ρ ≤ 1000·eps``, where the loss's own rounding
makes it jitter by percents) are not judged. The SNN's step-size control
(:mod:`~spectralnn.recovery.snn`) halves its rate when this fires.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch

from ..prediction import as_dense
from .result import USELESS_ERROR
from .validation import Validation

__all__ = ["Monitor", "StoppingRules", "default_fit_tol"]


def default_fit_tol(dtype: torch.dtype) -> float:
    """``max(1e-8, 100·eps)``: the relative training residual that counts as a fit to
    precision in ``dtype`` (1e-8 in float64, 1.2e-5 in float32)."""
    return max(1e-8, 100.0 * torch.finfo(dtype).eps)


@dataclass
class StoppingRules:
    """Settings of :class:`Monitor` (see the module doc); ``fit_tol=None``: from the dtype."""

    max_steps: int = 10_000
    max_seconds: float | None = None
    check_every: int = 5
    min_patience: int = 100
    patience_fraction: float = 0.5
    min_improvement: float = 1e-3
    plateau_tol: float = 1e-2
    stationary_tol: float = 1e-6
    settle_tol: float = 1e-4
    settle_improvement: float = 0.1
    fit_tol: float | None = None
    floor_tol: float = 1e-3
    change_tol: float = 1e-4
    still_tol: float = 1e-3
    rise_tol: float = 1e-2
    window: int = 20


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
    improved_error: float = math.inf
    rose_since: int | None = None
    armed: bool = False
    arm_step: int = 0
    loss0: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    bests: list[tuple[int, float]] = field(default_factory=list)
    recent: deque[float] = field(default_factory=deque)
    fit_tol: float = 1e-8  # rule 1a's tolerance, set from the loss's dtype at the first update
    roundoff: float = 2.2e-13  # below this residual the loss is round-off: 1000·eps of its dtype
    #: rule 1d's test: ``unstructured(X)`` is true when the fit's residual looks like noise
    #: (no low-rank part left to learn); ``None``: rule 1d is off.
    unstructured: Callable[[Any], bool] | None = None
    _structure_step: int = -(10**9)
    _structure: bool | None = None
    _started: bool = False
    #: the step this monitor started at (a continued run): ``W`` grows with the steps since
    origin: int = 0
    _snap: tuple[int, torch.Tensor] | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def residual(self, loss: float) -> float:
        """``ρ = √(loss / loss_0)``, the relative training residual."""
        if self.loss0 is None or self.loss0 <= 0:
            return 0.0 if loss <= 0 else math.inf
        return math.sqrt(max(loss, 0.0) / self.loss0)

    def _fit_tol(self, X: torch.Tensor | None = None) -> float:
        if self.rules.fit_tol is not None:
            return self.rules.fit_tol
        dtype = X.dtype if isinstance(X, torch.Tensor) else torch.float64
        return default_fit_tol(dtype)

    def oscillating(self) -> bool:
        """Whether the recent losses go up and down (see the module doc)."""
        w = self.rules.window
        if len(self.recent) < w + 1:
            return False
        values = list(self.recent)
        if self.residual(values[-1]) <= self.roundoff:
            return False
        diffs = [b - a for a, b in pairwise(values)]
        ups = [d for d in diffs if d > 0]
        down = -sum(d for d in diffs if d < 0)
        return len(ups) * 4 >= w and sum(ups) >= max(0.25 * down, 1e-3 * values[-1])

    def reset_window(self) -> None:
        """Forget the recent losses (after the step size changed)."""
        self.recent.clear()

    def _decrease(self, step: int, loss: float, window: int) -> float | None:
        """Relative decrease of the training loss over the last ``window`` steps, or ``None``
        when the run is not that long yet (since arming)."""
        if step - self.arm_step < window:
            return None
        past = [v for s, v in self.losses if s <= step - window]
        if not past or past[-1] <= 0:
            return None
        return (past[-1] - loss) / past[-1]

    def update(self, step: int, train_loss: float, X: torch.Tensor) -> str | None:
        r = self.rules
        if not math.isfinite(train_loss):
            return "diverged"
        if not self._started:
            self._started = True
            if self.loss0 is None:
                self.loss0 = train_loss
            self.fit_tol = self._fit_tol(X)
            eps = torch.finfo(X.dtype).eps if isinstance(X, torch.Tensor) else 2.2e-16
            self.roundoff = 1e3 * eps
        self.recent.append(train_loss)
        while len(self.recent) > r.window + 1:
            self.recent.popleft()
        budget = step >= r.max_steps or (r.max_seconds is not None
                                          and self.elapsed() >= r.max_seconds)
        if step % r.check_every and not budget:
            return None
        err = self.validation.error(X) if self.validation is not None else math.nan
        osc = self.oscillating()
        rho = self.residual(train_loss)
        self.history.append({"step": step, "seconds": self.elapsed(), "train_loss": train_loss,
                             "validation_error": err, "oscillating": osc})
        self.losses.append((step, train_loss))
        if self.validation is None:
            self.best_X, self.best_step = X.detach().clone(), step
        elif not math.isfinite(err):
            return "diverged"
        elif err < self.best_error:
            if err < self.improved_error * (1 - r.min_improvement):
                # measured from the error at the last counted improvement, so that a slow,
                # steady improvement counts as one
                self.last_improved_step, self.improved_error = step, err
            self.best_error, self.best_step = err, step
            self.best_X = X.detach().clone()
        self.bests.append((step, self.best_error))
        rising = (self.validation is not None and self.armed
                  and err >= self.best_error * (1 + r.rise_tol))
        if not rising:
            self.rose_since = None
        elif self.rose_since is None:
            self.rose_since = step
        if budget:
            overfit = rising and self.rose_since is not None and \
                step - self.rose_since >= r.min_patience
            return "stopped_on_validation" if overfit else "budget_reached"
        if not osc and rho <= self.fit_tol and len(self.recent) > r.window:
            return "converged"  # rule 1a: fitted to precision
        if not self.armed:
            self.armed = self.validation is None or self.best_error < USELESS_ERROR
            if self.armed:
                self.last_improved_step = step
                self.arm_step = step
            return None
        patience = max(r.min_patience, int(r.patience_fraction * (step - self.origin)))
        settled = self.validation is None or step - self.last_improved_step >= patience
        fell = self._decrease(step, train_loss, patience)
        # "still falling" is judged on the recent half of the window: a window that reaches
        # back into the fast fall before a saddle must not pass the saddle for overfitting
        # (an even number of steps, and not while oscillating: a period-2 orbit is no fall)
        half = max(2 * (patience // 4), 2)
        falling = None if osc else self._decrease(step, train_loss, half)
        far = self.validation is not None and err >= self.best_error * (1 + 10 * r.rise_tol)
        if self.validation is not None and settled and (far or (
                falling is not None and falling > r.plateau_tol
                and not self._val_falling(step, err, half))):
            return "stopped_on_validation"
        if osc or fell is None or len(self.recent) <= r.window:
            return None  # oscillating, or not judged yet (too few losses since a rate change)
        moved = self._moved(step, X)
        if (rho <= r.still_tol and moved is not None and moved <= r.change_tol
                and self._settled(step, patience)):
            return "converged"  # rule 1e: a tight fit whose iterate no longer moves
        recent = self._decrease(step, train_loss, r.min_patience)
        if (rho <= r.settle_tol and recent is not None and self.loss0 is not None
                and recent * train_loss <= r.settle_tol**2 * self.loss0
                and self._settled(step, patience)):
            return "converged"
        if settled and fell <= r.stationary_tol and (
                self.unstructured is None or self._test_structure(step, X, force=True)):
            return "converged"
        short = 2 * r.min_patience  # rule 1d's window: the residual test guards saddles
        fell_short = self._decrease(step, train_loss, short)
        if (self.unstructured is not None and fell_short is not None
                and fell_short <= r.floor_tol and self._settled(step, short)
                and self._test_structure(step, X)):
            return "converged"
        return None

    def _test_structure(self, step: int, X: Any, force: bool = False) -> bool:
        """``unstructured(X)``, evaluated at most once per ``min_patience/4`` steps (the last
        answer in between; ``force``: also between, when none is cached)."""
        if self.unstructured is None:
            return False
        if step - self._structure_step >= self.rules.min_patience // 4 or (
                force and self._structure is None):
            self._structure_step, self._structure = step, bool(self.unstructured(X))
        return bool(self._structure)

    def _moved(self, step: int, X: Any) -> float | None:
        """``‖X − X_s‖_F / ‖X‖_F`` for the snapshot ``X_s`` taken between ``min_patience`` and
        ``2·min_patience`` steps ago (``None`` before there is one); keeps the snapshots."""
        w = self.rules.min_patience
        out = None
        if self._snap is not None and step - self._snap[0] >= w:
            Xd = as_dense(X).double()
            norm = float(torch.linalg.matrix_norm(Xd))
            diff = float(torch.linalg.matrix_norm(Xd - self._snap[1]))
            out = diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)
        if self._snap is None or step - self._snap[0] >= 2 * w:
            self._snap = (step, as_dense(X).detach().double().clone())
        return out

    def _val_falling(self, step: int, err: float, window: int) -> bool:
        """The validation error fell by more than ``min_improvement`` (relative) over the last
        ``window`` steps: the start of the next step down (a saddle being left), not
        overfitting, even when it is still above its best."""
        past = [h["validation_error"] for h in self.history if h["step"] <= step - window]
        return bool(past) and err < past[-1] * (1 - self.rules.min_improvement)

    def _settled(self, step: int, window: int) -> bool:
        """The best validation error improved by at most ``settle_improvement`` (relative) over the
        last ``window`` steps (always true without a validation part)."""
        if self.validation is None:
            return True
        before = [b for s, b in self.bests if s <= step - window]
        gain = self.rules.settle_improvement * before[-1] if before else 0.0
        return bool(before) and before[-1] - self.best_error <= gain
