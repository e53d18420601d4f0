"""Training engine: gradient descent on matrix sensing, as a discretisation of gradient flow.

A *model* is any ``torch.nn.Module`` whose ``forward()`` (no arguments) returns the matrix
``X`` of shape ``(d1, d2)``, or ``(R, d1, d2)`` for a batch of ``R`` independent replicas, in
which case **every parameter carries the leading replica dimension** ``R`` (as
``SNN(replicas=R)``, ``LinearModel(replicas=R)``, ``DeepFactorization(replicas=R)``).
Replicas are trained together as one model but behave exactly as separate runs: the loss is the
sum of the replicas' losses, so each replica's gradient is its own, and each gets its own
learning rate; a replica that diverges or reaches the loss tolerance is frozen (masked) while
the others continue.

**Loss.** ``L(θ) = ½·mean_i (⟨A_i, X(θ)⟩ − y_i)²`` over the training measurements (over a
random minibatch of ``batch_size`` of them per step for SGD).

**Updates** (``η``: learning rate, ``g = ∇_θ L``, per replica):

- ``"gd"`` (default, the paper's): ``θ ← θ − η·g`` — forward Euler for the gradient flow
  ``θ' = −∇L(θ)``; its implicit bias is that of the flow for small ``η``.
- ``"sgd"``: the same on a minibatch (needs ``batch_size``).
- ``"momentum"``: heavy ball, ``v ← μ·v + g``, ``θ ← θ − η·v``.
- ``"adam"``: Adam (Kingma & Ba) with bias correction.
- ``"normalized"``: ``θ ← θ − η·g/‖g‖₂`` with ``‖g‖₂`` the global gradient norm over all
  parameters of the replica (the adaptive step used to cross the small-initialisation plateau
  in deep matrix factorization experiments).

``"adam"`` and ``"normalized"`` are **not** discretisations of gradient flow: they rescale
coordinates or the step length and therefore change the implicit bias the paper studies;
use them for speed comparisons, not to reproduce its results.

**Stoppers** (:mod:`spectralnn.stoppers`). After ``steps`` updates or ``max_seconds`` of
training (status ``"budget_reached"``), for a replica when its training loss is ``≤ tol``
(``"converged"``), when a ``callback`` raises :class:`StopTraining` (``"stopped"``; the
recovery path's validation monitor and the ratings' validation patience plug in this way), or
on divergence (``"diverged"``).

**Divergence.** At every step the per-replica loss (already computed for the gradient) is
checked: a non-finite loss, or one above ``divergence_factor × initial loss`` (default
:data:`~spectralnn.stoppers.DIVERGENCE_FACTOR`, 1e6; :func:`spectralnn.stoppers.exceeds`),
marks the replica ``diverged`` at that step. It is frozen with its history kept; its reported
``X`` is its last iterate whose loss passed the check; its parameters are reset to their initial
values so that the batch's next forward pass stays finite (``torch.linalg.svd`` raises on NaN
input; such errors are caught and attributed to the replicas whose parameters are not finite).

**Metrics** (:mod:`spectralnn.metrics`) are computed every ``log_every`` steps (default
``max(1, steps // 100)``: 1 % of the run, as the paper), at the last step and when a replica is
frozen — one batched SVD per logging step, no synchronisation between them.

**Step backends.** ``step="eager"`` (default) runs the loop above; ``step="captured"`` runs
plain GD as one CUDA graph per step (:mod:`spectralnn.captured`: the graph is recorded from
:func:`gd_step`, the same step, and replayed; eager on other devices), checking the
activation's certified range and divergence every ``check_every`` steps (``step_options``) —
its history holds the loss at each check.

**The one loop.** :func:`run_loop` is the library's only fitting loop: it iterates units (a
step, a block of captured steps, an epoch, a λ of a path), calls the unit's step backend, runs
the divergence check (:class:`Divergence`, :func:`~spectralnn.stoppers.exceeds`), the unit's
after-hook (updates, logging, validation patience, callbacks), the time budget
(:class:`~spectralnn.stoppers.Budget`) and the progress bar, and ends with a status of
:data:`~spectralnn.stoppers.STATUSES`. Its backends: the eager step above and the captured
blocks, the ratings' compiled SGD epochs (:mod:`spectralnn.ratings`), the reduced dynamics
(:meth:`spectralnn.theory.ReducedSNN.fit`), SVT's iterations
(:mod:`spectralnn.baselines.svt`), the λ paths of soft-impute, the noise-aware nuclear norm and
TV (:mod:`spectralnn.recovery.softimpute`, :mod:`spectralnn.recovery.nnm`,
:mod:`spectralnn.images.tv`) and the FISTA iterations of each λ (a loop inside a unit).

**Learning-rate sweeps** (:mod:`spectralnn.rates`): one batched model with one rate per
replica, and the paper's search over ``{5, 1} × 10^k``. Optimizer rules:
:mod:`spectralnn.updates`; the state and checkpoints: :mod:`spectralnn.train_state`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .errors import ConfigError, ShapeError, unknown_name
from .metrics import RunResult, history_row

# Factored evaluation seam: X may be a LowRank (never formed); these helpers handle both kinds.
from .prediction import as_dense, keep_where, model_output, predict, snapshot_metrics
from .stoppers import DIVERGENCE_FACTOR, STATUSES, Budget, beyond, divergence_limit
from .train_state import TrainState
from .updates import OPTIMIZERS, UPDATE_RULES, Hyper
from .validate import below_one, int_at_least, learning_rates, positive_int, positive_number

if TYPE_CHECKING:
    from .captured import CapturedStep, StepFn
    from .sensing.problem import SensingProblem

__all__ = ["CAPTURED_OPTIMIZERS", "OPTIMIZERS", "STEP_BACKENDS", "TIME_RULES", "Divergence",
           "LoopEnd", "StopTraining", "Trainer", "capture_step", "descent_step", "gd_step",
           "run_loop", "train", "train_captured"]

#: Step backends of :class:`Trainer`.
STEP_BACKENDS = ("captured", "eager")
#: Update rules the captured backend records: those without a step counter.
CAPTURED_OPTIMIZERS = ("gd", "momentum")
_CAPTURED_OPTIONS = ("check_every", "headroom", "doublings", "inverse")

Callback = Callable[[int, dict[str, Any]], None]


class StopTraining(Exception):
    """Raised by a ``callback`` of :meth:`Trainer.fit` to end the run cleanly: the loop stops
    after the current step and ``fit`` returns its results as usual (a stop hook for early
    stopping; any other exception propagates)."""


class Trainer:
    """Full-batch gradient descent (and variants) on a sensing problem; see the module doc.

    Args:
        steps: number of updates.
        lr: learning rate ``η``, or one per replica of a batched model.
        optimizer: one of :data:`OPTIMIZERS` (default ``"gd"``).
        momentum: ``μ`` of ``"momentum"``.
        betas, eps: Adam's ``(β1, β2)`` and ``ε``.
        batch_size: minibatch size (``None``: full batch; required by ``"sgd"``).
        tol: stop a replica once its training loss is ``≤ tol`` (``None``: never).
        log_every: metric logging period in steps (default ``max(1, steps // 100)``).
        divergence_factor: a loss above this × the initial loss counts as divergence.
        max_seconds: stop after this many seconds of training (``None``: no limit); the run
            then reports ``"budget_reached"``.
        step: step backend, ``"eager"`` or ``"captured"`` (module doc).
        step_options: options of the captured backend: ``check_every`` (100), ``headroom``
            (2.0), ``doublings`` (None: from the first iterate), ``inverse`` ("auto").
        checkpoint_every: call ``on_checkpoint`` every that many steps (``None``: never).
        seed: seed of the minibatch sampler (the only randomness of training).
        image: add PSNR (pixel units via ``problem.scale``) to the metrics.
        metrics: compute the matrix metrics at logging steps (an SVD of X each); False logs
            the training loss and gradient norm only (NaN elsewhere), for runs where that
            SVD would dominate.
        progress: show a tqdm progress bar with the live loss and error; else silent.
        name: model name recorded in the results.

    Attributes:
        state_: after :meth:`fit` returns (or its ``callback`` raised), the training state
            at that point (see ``on_checkpoint``); resuming from it continues the run.
    """

    def __init__(
        self,
        steps: int = 1000,
        lr: float | Sequence[float] = 1e-3,
        optimizer: str = "gd",
        *,
        momentum: float = 0.9,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        batch_size: int | None = None,
        tol: float | None = None,
        log_every: int | None = None,
        divergence_factor: float = DIVERGENCE_FACTOR,
        max_seconds: float | None = None,
        step: str = "eager",
        step_options: dict[str, Any] | None = None,
        checkpoint_every: int | None = None,
        seed: int = 0,
        image: bool = False,
        metrics: bool = True,
        progress: bool = False,
        name: str = "model",
    ) -> None:
        self.steps = int_at_least(steps, "steps", 0)
        self.lrs = learning_rates(lr)
        if optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        self.optimizer = optimizer
        self.momentum = below_one(momentum, "momentum")
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ConfigError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = positive_number(eps, "eps")
        self.batch_size = (None if batch_size is None
                           else int_at_least(batch_size, "batch_size", 1))
        if optimizer == "sgd" and self.batch_size is None:
            raise ConfigError("optimizer 'sgd' needs batch_size (a positive integer), got None")
        self.tol = None if tol is None else positive_number(tol, "tol", allow_zero=True)
        self.log_every = (max(1, self.steps // 100) if log_every is None
                          else int_at_least(log_every, "log_every", 1))
        self.divergence_factor = positive_number(divergence_factor, "divergence_factor")
        self.max_seconds = (None if max_seconds is None
                            else positive_number(max_seconds, "max_seconds"))
        if step not in STEP_BACKENDS:
            raise unknown_name("step", step, STEP_BACKENDS)
        self.step = step
        self.step_options = dict(step_options or {})
        extra = sorted(set(self.step_options) - set(_CAPTURED_OPTIONS))
        if extra or (self.step_options and step != "captured"):
            raise ConfigError(f"step_options {extra or sorted(self.step_options)} are not "
                              f"options of step={step!r}; expected "
                              f"{', '.join(_CAPTURED_OPTIONS)} with step='captured'")
        if step == "captured":
            co = self.step_options
            co["check_every"] = int_at_least(co.get("check_every", 100), "check_every", 1)
            if (optimizer not in CAPTURED_OPTIMIZERS or self.batch_size is not None
                    or len(self.lrs) != 1):
                raise ConfigError("step='captured' runs full-batch gd or momentum with one "
                                  "learning rate; "
                                  f"got optimizer={optimizer!r}, batch_size={batch_size!r}, "
                                  f"{len(self.lrs)} rate(s)")
        self.checkpoint_every = (None if checkpoint_every is None
                                 else int_at_least(checkpoint_every, "checkpoint_every", 1))
        self.seed = int_at_least(seed, "seed", 0)
        self.image = bool(image)
        self.metrics = bool(metrics)
        self.progress = bool(progress)
        self.name = str(name)

    # ------------------------------------------------------------------ public
    def fit(
        self,
        model: nn.Module,
        problem: SensingProblem,
        *,
        state: dict[str, Any] | None = None,
        on_checkpoint: Callback | None = None,
        callback: Callback | None = None,
    ) -> RunResult | list[RunResult]:
        """Train ``model`` on ``problem`` (a :class:`~spectralnn.sensing.problem.SensingProblem`).

        The model follows the problem: if its parameters are not in the problem's dtype and on
        its device, it is moved there first, in place (``model.to(device, dtype)``), so that
        ``train(SNN(shape), make_problem(X))`` works with every default. (A model built
        directly in the problem's dtype draws its initialisation in that dtype; one converted
        here was drawn in its own.)

        Args:
            state: a state from ``on_checkpoint`` (see :meth:`state_dict`) to resume from; the
                run then continues exactly as if it had not been interrupted.
            on_checkpoint: ``f(step, state)`` called every ``checkpoint_every`` steps with the
                full training state before step ``step`` is computed.
            callback: ``f(step, info)`` called after every step with ``info`` holding
                ``"loss"`` (per-replica tensor), ``"active"`` and ``"X"`` (the iterate that
                loss was computed at, detached); it may raise :class:`StopTraining` to end the
                run cleanly, or anything else to abort it.

        Returns:
            One :class:`~spectralnn.metrics.RunResult` for a model returning ``(d1, d2)``, a
            list of ``R`` of them for a model returning ``(R, d1, d2)``.
        """
        params = dict(model.named_parameters())
        if not params:
            raise ConfigError(f"model {type(model).__name__} has no parameters to train")
        if any(p.dtype != problem.dtype or p.device != problem.device
               for p in params.values()):
            model.to(device=problem.device, dtype=problem.dtype)
            params = dict(model.named_parameters())
        with torch.no_grad():
            X0 = model_output(model)  # factored seam: a LowRank for factored models
        if not hasattr(X0, "shape") or X0.dim() not in (2, 3):
            got = tuple(X0.shape) if isinstance(X0, torch.Tensor) else type(X0).__name__
            raise ShapeError(f"model() returned {got}; expected (d1, d2) or (R, d1, d2)")
        if tuple(X0.shape[-2:]) != tuple(problem.shape):
            raise ShapeError(f"model() returned {tuple(X0.shape)}; expected the problem's "
                             f"shape (…, {problem.shape[0]}, {problem.shape[1]})")
        if X0.dtype != problem.dtype:
            raise ConfigError(f"model output has dtype {X0.dtype}; expected {problem.dtype}, "
                              "the problem's (convert one with .to(dtype=...))")
        batched = X0.dim() == 3
        R = X0.shape[0] if batched else 1
        if batched:
            for pname, p in params.items():
                if p.dim() == 0 or p.shape[0] != R:
                    raise ShapeError(f"parameter {pname!r} has shape {tuple(p.shape)}; a model "
                                     f"returning {R} replicas needs every parameter to have "
                                     f"leading dimension {R}")
        if len(self.lrs) not in (1, R):
            raise ConfigError(f"got {len(self.lrs)} learning rates for a model with {R} "
                              "replica(s); expected 1 or one per replica")
        m = problem.num_measurements
        if self.batch_size is not None and self.batch_size > m:
            raise ConfigError(f"batch_size {self.batch_size} exceeds the number of "
                              f"measurements m = {m}")
        if self.step == "captured":
            if state is not None or on_checkpoint is not None:
                raise ConfigError("step='captured' takes no state or on_checkpoint")
            if callback is not None and batched:
                raise ConfigError(f"step='captured' with a callback trains one replica; got a "
                                  f"model of {R} replicas (use step='eager')")
            return _fit_captured(self, model, problem, batched, R, callback)
        run = _Run(self, model, problem, params, batched, R, X0)
        if state is not None:
            run.load(state)
        try:
            return run.loop(on_checkpoint, callback)
        finally:
            self.state_ = run.state_dict()


# ---------------------------------------------------------------------- the loop

#: ``step(t, last)``: run unit ``t`` of a fit (a step, a block of steps, an epoch) on the
#: backend; returns the loss per replica it measured (tensor or array) for the divergence
#: check, or ``None``. ``last``: the loop ends after this unit (a backend may skip its update).
Step = Callable[[int, bool], Any]
#: ``after(t, diverged, last)``: the rest of unit ``t`` once the divergence check is done
#: (``diverged``: the replicas that diverged at this unit, ``None`` if none): updates,
#: logging, validation, callbacks. Returns a status of :data:`~spectralnn.stoppers.STATUSES`
#: to end the loop with, or ``None`` to go on; may raise :class:`StopTraining` (``"stopped"``).
After = Callable[[int, Any, bool], str | None]


#: When :func:`run_loop` looks at the time budget.
TIME_RULES = ("end", "fit", "start")


@dataclass
class Divergence:
    """The divergence check of :func:`run_loop`: a replica has diverged at the unit whose loss
    satisfies :func:`~spectralnn.stoppers.exceeds` ``(loss, loss0, factor, floor)``.

    ``loss0``: the reference (default: the first loss the loop sees); ``active``: a function
    returning the mask of replicas still checked (default: all); ``stop``: end the loop at the
    first divergence (status ``"diverged"``) instead of handing the replicas to ``after``
    (which freezes them and goes on)."""

    factor: float
    floor: float | None = None
    loss0: Any = None
    active: Callable[[], Any] | None = None
    stop: bool = False
    _limit: Any = field(default=None, init=False, repr=False)
    _limit_of: Any = field(default=None, init=False, repr=False)

    def check(self, loss: Any) -> Any:
        """The replicas that diverged at ``loss`` (a mask), or ``None`` when none did."""
        if self.loss0 is None:
            self.loss0 = loss.clone() if isinstance(loss, torch.Tensor) else np.copy(loss)
        if self._limit_of is not self.loss0:  # the rule of exceeds(), its threshold computed
            # once per reference (a backend may move the reference, as SVT does)
            self._limit = divergence_limit(self.loss0, self.factor, self.floor)
            self._limit_of = self.loss0
        bad = beyond(loss, self._limit)
        if self.active is not None:
            bad = bad & self.active()
        return bad if bool(bad.any()) else None


@dataclass
class LoopEnd:
    """How :func:`run_loop` ended: ``status`` (:data:`~spectralnn.stoppers.STATUSES`; the
    loop's, a batched backend keeps one per replica), ``units`` run, ``seconds`` of its
    budget's clock (from :meth:`~spectralnn.stoppers.Budget.start`)."""

    status: str
    units: int
    seconds: float


def run_loop(step: Step, after: After | None = None, *, units: int, start: int = 0,
             budget: Budget | None = None, time_rule: str = "start",
             divergence: Divergence | None = None, progress: dict[str, Any] | None = None,
             on_bar: Callable[[Any], None] | None = None) -> LoopEnd:
    """The one fitting loop of the library: every gradient loop (the trainer's eager and
    captured backends, the ratings' SGD epochs, the reduced dynamics of the theory study,
    SVT, the λ paths and FISTA iterations of soft-impute, nnm and TV) is a ``step``/``after``
    pair run by it.

    For ``t = start, …, units − 1``: ``step(t, last)``; the divergence check on the loss it
    returns (:class:`Divergence`); ``after(t, diverged, last)``; then the time budget. Ends
    with the status ``after`` returns, ``"diverged"`` (``divergence.stop``), ``"stopped"``
    (:class:`StopTraining` raised by ``step`` or ``after``) or ``"budget_reached"`` (the
    units or the time ran out).

    Args:
        units: number of units (``t < units``).
        budget: its ``max_seconds`` is the time budget, its clock the loop's seconds
            (default: a fresh :class:`~spectralnn.stoppers.Budget`, no limit).
        time_rule: ``"start"``: a unit that starts at or past the time budget is the last
            (``last=True``: the trainer evaluates its final iterate there); ``"fit"``: stop
            after a unit when one more as long as it would end past the budget; ``"end"``:
            stop after a unit that ended at or past the budget.
        progress: keyword arguments of a tqdm bar (``total``, ``desc``, …; ``None``: no bar),
            advanced once per unit; ``on_bar(bar)`` is called with it first (``None`` without
            one) so that a backend can set its postfix.
    """
    if time_rule not in TIME_RULES:
        raise unknown_name("time_rule", time_rule, TIME_RULES)
    budget = budget if budget is not None else Budget().start()
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        bar = tqdm(**progress)
    if on_bar is not None:
        on_bar(bar)
    status, t = "budget_reached", start
    try:
        while t < units:
            began = time.perf_counter()
            last = t == units - 1 or (time_rule == "start" and budget.out_of_time())
            try:
                loss = step(t, last)
                t += 1
                if bar is not None:
                    bar.update(1)
                diverged = (divergence.check(loss)
                            if divergence is not None and loss is not None else None)
                if diverged is not None and divergence is not None and divergence.stop:
                    status = "diverged"
                    break
                end = after(t - 1, diverged, last) if after is not None else None
            except StopTraining:
                status = "stopped"
                break
            if end is not None:
                if end not in STATUSES:
                    raise unknown_name("status", end, STATUSES)
                status = end
                break
            if last or (time_rule == "end" and budget.out_of_time()) or (
                    time_rule == "fit" and budget.cannot_fit(time.perf_counter() - began)):
                break
    finally:
        if bar is not None:
            bar.close()
    return LoopEnd(status, t - start, budget.elapsed())


class _Run:
    """One (possibly batched) training run: the trainer's settings, the model, the problem and
    the mutable :class:`~spectralnn.train_state.TrainState` ``st``."""

    def __init__(self, tr: Trainer, model: nn.Module, problem: SensingProblem,
                 params: dict[str, nn.Parameter], batched: bool, R: int, X0: torch.Tensor) -> None:
        self.tr, self.model, self.problem = tr, model, problem
        self.params, self.batched, self.R = params, batched, R
        self.rule = UPDATE_RULES[tr.optimizer]
        self.hyper = Hyper(momentum=tr.momentum, betas=tr.betas, eps=tr.eps)
        dev, dt = X0.device, X0.dtype
        lr = self.tr.lrs * R if len(self.tr.lrs) == 1 else self.tr.lrs
        self.lr_values = [float(v) for v in lr]   # as given (results report these exactly)
        self.st = TrainState(
            optimizer=tr.optimizer, batched=batched, replicas=R,
            lr=torch.tensor(lr, dtype=dt, device=dev),
            active=torch.ones(R, dtype=torch.bool, device=dev),
            last_X=(X0 if batched else X0.unsqueeze(0)).detach().clone(),
            init_params={k: p.detach().clone() for k, p in params.items()},
            buffers={b: {k: torch.zeros_like(p) for k, p in params.items()}
                     for b in self.rule.buffers},
            gen=torch.Generator().manual_seed(tr.seed),
            diverged_step=torch.full((R,), -1, dtype=torch.long),
            converged_step=torch.full((R,), -1, dtype=torch.long),
            history=[[] for _ in range(R)],
        )
        self._flags: tuple[bool, bool] | None = None   # see _active_flags

    # ---- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit (tensors cloned to the CPU)."""
        return self.st.to_dict(self.model)

    def load(self, state: dict[str, Any]) -> None:
        self.st.load(state, self.model, self.tr.steps)
        self._flags = None

    # ---- helpers
    def _view(self, v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """A per-replica vector ``(R,)`` broadcastable against parameter ``p``."""
        if self.batched:
            return v.reshape(-1, *([1] * (p.dim() - 1)))
        return v.reshape(())

    def _per_replica_sq(self, t: torch.Tensor) -> torch.Tensor:
        if self.batched:
            return t.square().reshape(t.shape[0], -1).sum(-1)
        return t.square().sum().reshape(1)

    def _bad_params(self) -> torch.Tensor:
        bad = torch.zeros(self.R, dtype=torch.bool, device=self.st.active.device)
        with torch.no_grad():
            for p in self.params.values():
                fin = torch.isfinite(p)
                bad |= ~(fin.reshape(self.R, -1).all(-1) if self.batched else fin.all().reshape(1))
        return bad

    def _reset(self, which: torch.Tensor) -> None:
        """Put the parameters of the replicas in ``which`` back to their initial values."""
        with torch.no_grad():
            for k, p in self.params.items():
                p.copy_(torch.where(self._view(which, p), self.st.init_params[k], p))

    def _forward(self) -> tuple[Any, torch.Tensor]:
        """``(X, A(X))`` with a leading replica dimension (factored seam: see
        :func:`spectralnn.prediction.predict`; X is a LowRank for factored models)."""
        try:
            X, AX = predict(self.model, self.problem.operator)
        except RuntimeError:
            bad = self._bad_params() & self.st.active
            if not bool(bad.any()):
                raise
            self._freeze_diverged(bad, self.st.step)
            self._reset(bad)
            X, AX = predict(self.model, self.problem.operator)
        return (X, AX) if self.batched else (X.unsqueeze(0), AX.unsqueeze(0))

    def _freeze_diverged(self, which: torch.Tensor, step: int) -> None:
        idx = which.nonzero().flatten().tolist()
        for r in idx:
            self.st.diverged_step[r] = step
            self.st.history[r].append(_nan_row(step, self._elapsed(), math.nan))
        self.st.active &= ~which
        self._flags = None

    def _elapsed(self) -> float:
        return self.budget.elapsed()

    # ---- main loop: one unit of :func:`run_loop` per step
    def loop(self, on_checkpoint: Callback | None,
             callback: Callback | None) -> RunResult | list[RunResult]:
        """Steps ``st.step … steps`` through :func:`run_loop`: :meth:`_evaluate` (forward and
        loss at the iterate), the divergence check, :meth:`_advance` (gradient, logging,
        update); the last step (the budget's end or the time's) evaluates and logs only."""
        tr = self.tr
        self._on_checkpoint, self._callback = on_checkpoint, callback
        self.budget = Budget(max_seconds=tr.max_seconds).start()
        self.budget.started -= self.st.seconds  # a resumed run's clock goes on
        self.bar: Any = None

        def set_bar(bar: Any) -> None:
            self.bar = bar

        watch = Divergence(tr.divergence_factor, loss0=self.st.init_loss,
                           active=lambda: self.st.active)
        progress = (dict(total=tr.steps, initial=self.st.step, desc=tr.name, leave=False,
                         dynamic_ncols=True) if tr.progress else None)
        # a resumed run whose replicas have all stopped has nothing left to do
        units = tr.steps + 1 if bool(self.st.active.any()) else self.st.step
        end = run_loop(self._evaluate, self._advance, units=units, start=self.st.step,
                       budget=self.budget, time_rule="start", divergence=watch,
                       progress=progress, on_bar=set_bar)
        self.stopped = end.status == "stopped"
        self.st.seconds = self._elapsed()
        for p in self.params.values():
            p.grad = None
        return self._results()

    def _evaluate(self, t: int, last: bool) -> torch.Tensor:
        """Step ``t``'s first half: the checkpoint due before it, then the forward pass and
        the loss at the iterate (kept for :meth:`_advance`). Returns the (R,) loss."""
        tr, problem, st = self.tr, self.problem, self.st
        if (self._on_checkpoint is not None and tr.checkpoint_every is not None
                and t % tr.checkpoint_every == 0 and t > 0):
            st.seconds = self._elapsed()
            self._on_checkpoint(t, self.state_dict())
        X, AX = self._forward()  # (R, d1, d2) or its LowRank, (R, m)
        residual = AX - problem.y  # (R, m)
        loss = 0.5 * residual.square().mean(-1)  # (R,)
        m = problem.num_measurements
        if tr.batch_size is not None and tr.batch_size < m:
            idx = torch.randperm(m, generator=st.gen)[: tr.batch_size]
            idx = idx.to(residual.device)
            objective = 0.5 * residual[:, idx].square().mean(-1)
        else:
            objective = loss
        lv = loss.detach()
        if st.init_loss is None:
            st.init_loss = lv.clone()
        self._X, self._objective, self._lv = X, objective, lv
        return lv

    def _advance(self, t: int, bad: torch.Tensor | None, last: bool) -> str | None:
        """Step ``t``'s second half, after the divergence check (``bad``: the replicas that
        diverged here): tolerance, gradient, freezing, logging, the update (not at the last
        step), the callback. Ends the loop once no replica is left."""
        tr, st = self.tr, self.st
        X, lv = self._X, self._lv
        del self._X
        # Masks only where something happened: nothing diverged here (bad is None) and no
        # tolerance leaves the mask as it was (and its flags, see _active_flags).
        newly_div = bad
        good = st.active if bad is None else st.active & ~bad
        froze = None if bad is None else bad.clone()
        st.last_X = keep_where(good, X, st.last_X)
        if tr.tol is not None:
            conv = good & (lv <= tr.tol)
            if bool(conv.any()):
                st.converged_step[conv.cpu()] = t
                froze = conv if froze is None else froze | conv
        log_now = t % tr.log_every == 0 or last or (froze is not None and bool(froze.any()))
        need_grad = not last or log_now
        if need_grad:
            for p in self.params.values():
                p.grad = None
            self._objective.sum().backward()
        del self._objective
        grads = {k: p.grad for k, p in self.params.items()}
        if newly_div is not None:
            self._freeze_diverged(newly_div, t)
        if log_now:
            self._log(t, X, good, grads, self.bar, lv)
        if tr.tol is not None and froze is not None:
            st.active &= ~(froze if bad is None else froze & ~bad)
            self._flags = None
        if not last and self._active_flags()[0]:
            self._update(grads, t)
        if newly_div is not None:
            self._reset(newly_div)
        st.step = t + 1
        if self._callback is not None:
            # "X": the iterate whose loss is "loss" (before this step's update).
            self._callback(t, {"loss": lv, "active": st.active.clone(),
                               "X": X.detach() if self.batched else X.detach()[0]})
        if not self._active_flags()[0]:
            return "diverged" if bool((st.diverged_step >= 0).all()) else "converged"
        return None

    def _active_flags(self) -> tuple[bool, bool]:
        """(some replica is active, every replica is), read once per change of ``st.active``
        (every change goes through :meth:`_freeze_diverged`, the tolerance or :meth:`load`)."""
        if self._flags is None:
            self._flags = (bool(self.st.active.any()), bool(self.st.active.all()))
        return self._flags

    def _log(self, t: int, X: torch.Tensor, good: torch.Tensor,
             grads: dict[str, torch.Tensor | None], bar: Any, loss: torch.Tensor) -> None:
        idx = good.nonzero().flatten().tolist()
        if not idx:
            return
        Xd = X.detach()[idx]
        values = (snapshot_metrics(Xd, self.problem, image=self.tr.image)
                  if self.tr.metrics else None)
        gsq = torch.zeros(self.R, dtype=X.dtype, device=X.device)
        for g in grads.values():
            if g is not None:
                gsq = gsq + self._per_replica_sq(g)
        gnorm = gsq.sqrt().tolist()
        elapsed = self._elapsed()
        for j, r in enumerate(idx):
            if values is None:  # loss and gradient norm only
                row = _nan_row(t, elapsed, float(loss[r]))
                row["grad_norm"] = gnorm[r]
            else:
                row = history_row(t, elapsed, values, j, gnorm[r])
            self.st.history[r].append(row)
        if bar is not None:
            best = min(idx, key=lambda r: self.st.history[r][-1]["train_loss"])
            row = self.st.history[best][-1]
            bar.set_postfix(loss=f"{row['train_loss']:.3e}",
                            error=f"{row['relative_error']:.3e}", refresh=False)

    def _update(self, grads: dict[str, torch.Tensor | None], t: int) -> None:
        """One step of the optimizer's rule (:data:`~spectralnn.updates.UPDATE_RULES`) for
        every active replica."""
        rule, st = self.rule, self.st
        every = self._active_flags()[1]   # no replica frozen: the update everywhere
        with torch.no_grad():
            rate = st.lr
            if rule.normalized:
                gsq = torch.zeros(self.R, dtype=st.lr.dtype, device=st.lr.device)
                for g in grads.values():
                    if g is not None:
                        gsq = gsq + self._per_replica_sq(g)
                gn = gsq.sqrt()
                rate = torch.where(gn > 0, st.lr / torch.where(gn > 0, gn, 1.0),
                                   torch.zeros_like(gn))
            for k, p in self.params.items():
                g = grads[k]
                if g is None:
                    continue
                act = self._view(st.active, p)
                buf = {b: st.buffers[b][k] for b in rule.buffers}
                new = rule.step(p, g, buf, self._view(rate, p), act, t, self.hyper)
                p.copy_(new if every else torch.where(act, new, p))

    def _results(self) -> RunResult | list[RunResult]:
        out = []
        done = min(self.st.step, self.tr.steps + 1)
        for r in range(self.R):
            ds = int(self.st.diverged_step[r])
            cs = int(self.st.converged_step[r])
            status = ("diverged" if ds >= 0 else "converged" if cs >= 0
                      else "stopped" if self.stopped else "budget_reached")
            steps = ds if ds >= 0 else cs if cs >= 0 else max(done - 1, 0)
            out.append(RunResult(
                self.tr.name, as_dense(self.st.last_X[r]).detach().cpu().to(torch.float64),
                self.st.history[r], lr=self.lr_values[r], steps=steps, seconds=self.st.seconds,
                diverged=ds >= 0, diverged_step=ds if ds >= 0 else None,
                converged_step=cs if cs >= 0 else None, status=status,
                info={"optimizer": self.tr.optimizer}))
        return out if self.batched else out[0]


def _nan_row(step: int, seconds: float, loss: float) -> dict[str, float]:
    from .metrics import METRIC_NAMES

    row = {k: math.nan for k in METRIC_NAMES}
    row["step"], row["seconds"], row["train_loss"] = step, seconds, loss
    return row


# ---------------------------------------------------------------------- conveniences


def train(model: nn.Module, problem: SensingProblem, steps: int = 1000,
          lr: float | Sequence[float] = 1e-3, **options: Any) -> RunResult | list[RunResult]:
    """``Trainer(steps, lr, **options).fit(model, problem)``: see :class:`Trainer`."""
    fit_keys = {"state", "on_checkpoint", "callback"}
    fit_opts = {k: options.pop(k) for k in list(options) if k in fit_keys}
    return Trainer(steps, lr, **options).fit(model, problem, **fit_opts)


# ---------------------------------------------------------------------- the captured backend


def descent_step(optimizer: str = "gd", *, momentum: float = 0.9,
                 buffers: Sequence[dict[str, torch.Tensor]] | None = None) -> StepFn:
    """The trainer's full-batch step with the update rule ``optimizer`` of
    :data:`CAPTURED_OPTIMIZERS` (:mod:`spectralnn.updates`), as a step function of the captured
    backend: ``step(model, params, operator, y, neg_lr) -> (loss, X)`` with
    ``L = ½·Σ_r mean_i (⟨A_i, X_r⟩ − y_i)²`` (replicas summed, as the eager loop), ``neg_lr = −η``
    a 0-dim device tensor, ``loss`` (0-dim) and ``X`` the iterate before the update, detached,
    with no host synchronisation. ``buffers``: one dict per parameter of the rule's state
    (the heavy ball's ``"velocity"``), updated in place."""
    if optimizer not in CAPTURED_OPTIMIZERS:
        raise unknown_name("captured optimizer", optimizer, CAPTURED_OPTIMIZERS)
    rule = UPDATE_RULES[optimizer]
    hyper = Hyper(momentum=below_one(momentum, "momentum"))

    def step(model: nn.Module, params: Sequence[torch.Tensor], operator: Any, y: torch.Tensor,
             neg_lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        X = model()
        Xb = X if X.dim() == 3 else X.unsqueeze(0)
        loss = 0.5 * (operator(Xb) - y).square().mean(-1).sum()
        grads = torch.autograd.grad(loss, list(params))
        with torch.no_grad():
            lr = -neg_lr
            on = torch.ones((), dtype=torch.bool, device=lr.device)
            for i, (p, g) in enumerate(zip(params, grads)):
                buf = buffers[i] if buffers is not None else {}
                p.copy_(rule.step(p, g, buf, lr, on, 0, hyper))
        return loss.detach(), X.detach()

    return step


def gd_step(model: nn.Module, params: Sequence[torch.Tensor], operator: Any, y: torch.Tensor,
            neg_lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One plain GD step ``θ ← θ − η·∇θ L`` (:func:`descent_step` with ``"gd"``): the step
    :func:`capture_step` records. Returns ``(loss, X)`` before the update."""
    return descent_step("gd")(model, params, operator, y, neg_lr)


def _fit_captured(tr: Trainer, model: nn.Module, problem: Any, batched: bool,
                  R: int, callback: Callback | None = None) -> RunResult | list[RunResult]:
    """The loop of ``step="captured"``: blocks of ``check_every`` replayed steps (of one step
    with a ``callback``, which sees every step's loss and iterate); after each block the
    activation's range monitor and the loss are read (one synchronisation): out of range or
    non-finite → back to the block's start and re-capture with more doublings (three retries
    in a row: ``"diverged"``); then the divergence check of the eager loop, the callback and the
    time budget. A diverged run's parameters go back to their initial values, its ``X`` is the
    last iterate whose loss passed the check. History: the loss at the first step of each
    block (every ``log_every`` steps with a callback)."""
    from .captured import needed_doublings, record_step

    opts = tr.step_options
    every, headroom = (1 if callback is not None else opts["check_every"],
                       opts.get("headroom", 2.0))
    inverse = opts.get("inverse", "auto")
    lr = tr.lrs[0]
    params = [p for p in model.parameters() if p.requires_grad]
    buffers = [{b: torch.zeros_like(p) for b in UPDATE_RULES[tr.optimizer].buffers}
               for p in params]
    step = record_step(model, problem, lr,
                       step_fn=descent_step(tr.optimizer, momentum=tr.momentum,
                                            buffers=buffers),
                       headroom=headroom, doublings=opts.get("doublings"), inverse=inverse,
                       buffers=[t for b in buffers for t in b.values()])
    initial = step.snapshot()
    budget = Budget(max_seconds=tr.max_seconds).start()
    losses: list[float] = []
    history: list[dict[str, float]] = []
    done = 0
    steps = tr.steps + 1 if callback is not None else tr.steps  # the eager loop's evaluations
    gave_up: list[int] = []  # the block at which three re-captures in a row did not help
    hit: list[int] = []  # the step whose loss diverged
    good: list[torch.Tensor] | None = None  # the state at the last block that passed
    pending: dict[str, Any] = {}  # the block just run, until its loss passed the check

    def block(t: int, last: bool) -> torch.Tensor | None:
        """Unit ``t``: the next ``check_every`` replayed steps, retried from the block's start
        with more doublings while the monitor or the loss says so. Returns the loss at the
        block's first step (for the divergence check)."""
        nonlocal done
        retries = 0
        while True:
            saved = step.snapshot()
            n = min(every, steps - done)
            first = None
            for i in range(n):
                loss = step()
                if i == 0:
                    first = loss.detach().clone()
            assert first is not None
            first_loss, ratio, end = torch.stack(
                (first.double(), step.monitor.double(), step.loss.double())).tolist()
            if math.isfinite(ratio) and math.isfinite(end) and ratio <= 1.0:
                break
            # out of range (the iterate outgrew the doublings) or diverged: go back, add
            # doublings and retry; three retries in a row mean divergence
            retries += 1
            step.restore(saved)
            if retries > 3:
                gave_up.append(t)
                return None
            need = needed_doublings(model, problem, inverse)
            step.recapture(max(step.doublings + 1,
                               need + max(0, math.ceil(math.log2(headroom)))))
        step.reset_monitor()
        if callback is not None and done + n > tr.steps:
            step.restore(saved)  # as the eager loop's last unit: it evaluates, no update
        pending.update(saved=saved, loss=first_loss, start=done)
        if callback is None or done % tr.log_every == 0 or last:
            losses.append(first_loss)
            history.append(_nan_row(done, budget.elapsed(), first_loss))
        done += n
        return torch.tensor([first_loss], dtype=torch.float64)

    def after(t: int, diverged: Any, last: bool) -> str | None:
        nonlocal good
        if gave_up:
            return "diverged"
        if diverged is not None:
            hit.append(pending["start"])
        else:
            good = pending["saved"]
        if callback is not None:  # it sees a diverged step too, as in the eager loop
            # "X": the iterate whose loss is "loss" (before this step's update)
            loss = torch.tensor([pending["loss"]], dtype=torch.float64)
            callback(pending["start"], {"loss": loss, "active": torch.tensor([not hit]),
                                        "X": step.X})
        return "diverged" if hit else None

    status = run_loop(block, after, units=-(-steps // every), budget=budget,
                      time_rule="end", divergence=Divergence(tr.divergence_factor)).status
    seconds = budget.elapsed()
    diverged = bool(gave_up or hit)
    with torch.no_grad():
        if diverged and good is not None:
            step.restore(good)  # the last iterate whose loss passed
        X = as_dense(model_output(model)).detach().cpu().to(torch.float64)
        if diverged:
            step.restore(initial)  # as the eager loop: a diverged run restarts from its start
    status = "diverged" if diverged else status
    at = hit[0] if hit else done
    info = {"optimizer": tr.optimizer, "step": "captured", "doublings": step.doublings,
            "graphed": step.graphed, "check_losses": losses,
            "diverged_between": [done, done + min(every, steps - done)]}
    out = [RunResult(tr.name, X[r] if batched else X, history, lr=lr,
                     steps=at if diverged else min(done, tr.steps), seconds=seconds,
                     diverged=diverged, diverged_step=at if diverged else None,
                     status=status, info=info) for r in range(R)]
    return out if batched else out[0]


def capture_step(model: nn.Module, problem: Any, lr: float, *, headroom: float = 2.0,
                 doublings: int | None = None, inverse: str = "auto", warmup: int = 3,
                 graph: bool = True) -> CapturedStep:
    """The trainer's GD step (:func:`gd_step`) of ``model`` on ``problem`` recorded as one CUDA
    graph (eager off CUDA); see :mod:`spectralnn.captured` for the range check and the
    options (``headroom``, ``doublings``, ``inverse``, ``warmup``, ``graph``)."""
    from .captured import record_step

    return record_step(model, problem, lr, step_fn=gd_step, headroom=headroom,
                       doublings=doublings, inverse=inverse, warmup=warmup, graph=graph)


def train_captured(model: nn.Module, problem: SensingProblem, steps: int, lr: float, *,
                   check_every: int = 100, headroom: float = 2.0,
                   doublings: int | None = None, inverse: str = "auto") -> list[float]:
    """``steps`` captured GD steps: ``Trainer(steps, lr, step="captured")`` (see
    :mod:`spectralnn.trainer`); every ``check_every`` steps the range monitor is read and, if
    some input left the certified range, the parameters go back to the last check and the step
    is re-captured with the doublings the iterate needs (plus headroom). Returns the loss at
    each check (floats; the first at step 0). ``doublings``: the first capture's k (default:
    from the initial iterate and ``headroom``).

    Raises:
        ConfigError: when the run diverged (three re-captures in a row did not help).
    """
    int_at_least(steps, "steps", 0)
    positive_int(check_every, "check_every")
    positive_number(lr, "lr")
    trainer = Trainer(steps, lr, step="captured",
                      step_options={"check_every": check_every, "headroom": headroom,
                                    "doublings": doublings, "inverse": inverse})
    res = trainer.fit(model, problem)
    first = res[0] if isinstance(res, list) else res
    if first.status == "diverged":
        a, b = first.info["diverged_between"]
        raise ConfigError(f"training diverged between steps {a} and {b} "
                          f"(non-finite loss or activation input); lower lr={lr!r}")
    return list(first.info["check_losses"])
