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

**Stopping.** After ``steps`` updates, or for a replica when its training loss is ``≤ tol``.

**Divergence.** At every step the per-replica loss (already computed for the gradient) is
checked: a non-finite loss, or one above ``divergence_factor × initial loss`` (default 1e6),
marks the replica ``diverged`` at that step. It is frozen with its history kept; its reported
``X`` is its last iterate whose loss passed the check; its parameters are reset to their initial
values so that the batch's next forward pass stays finite (``torch.linalg.svd`` raises on NaN
input; such errors are caught and attributed to the replicas whose parameters are not finite).

**Metrics** (:mod:`spectralnn.metrics`) are computed every ``log_every`` steps (default
``max(1, steps // 100)``: 1 % of the run, as the paper), at the last step and when a replica is
frozen — one batched SVD per logging step, no synchronisation between them.

**Learning-rate sweeps.** :func:`sweep` trains one batched model with one rate per replica;
:func:`paper_lr_search` reproduces the paper's search over ``{5, 1} × 10^k``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, ShapeError, unknown_name
from .metrics import RunResult, history_row

# Factored evaluation seam: X may be a LowRank (never formed); these helpers handle both kinds.
from .prediction import as_dense, keep_where, model_output, predict, snapshot_metrics

__all__ = [
    "OPTIMIZERS",
    "StopTraining",
    "Trainer",
    "paper_lr_grid",
    "paper_lr_search",
    "split_state",
    "stack_models",
    "stack_states",
    "sweep",
    "train",
]

OPTIMIZERS = ("adam", "gd", "momentum", "normalized", "sgd")

Callback = Callable[[int, dict[str, Any]], None]


class StopTraining(Exception):
    """Raised by a ``callback`` of :meth:`Trainer.fit` to end the run cleanly: the loop stops
    after the current step and ``fit`` returns its results as usual (a stop hook for early
    stopping; any other exception propagates)."""


def paper_lr_grid(k_max: int = 1, k_min: int = -11) -> list[float]:
    """The paper's learning-rate grid ``{5, 1} × 10^k``, ``k = k_max, …, k_min``, descending:
    ``[50, 10, 5, 1, 0.5, 0.1, …, 5e-11, 1e-11]``."""
    out = []
    for k in range(k_max, k_min - 1, -1):
        out += [float(f"5e{k}"), float(f"1e{k}")]
    return out


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_pos(value: object, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"finite number, got {value!r}")
    return v


def _check_lrs(lr: float | Sequence[float] | torch.Tensor) -> list[float]:
    if isinstance(lr, torch.Tensor):
        lr = lr.tolist()
    if isinstance(lr, (list, tuple)):
        if len(lr) == 0:
            raise ConfigError("lr must be a positive number or a non-empty list of them, got []")
        return [_check_pos(v, "lr") for v in lr]
    return [_check_pos(lr, "lr")]


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
        checkpoint_every: call ``on_checkpoint`` every that many steps (``None``: never).
        seed: seed of the minibatch sampler (the only randomness of training).
        image: add PSNR (pixel units via ``problem.scale``) to the metrics.
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
        divergence_factor: float = 1e6,
        checkpoint_every: int | None = None,
        seed: int = 0,
        image: bool = False,
        progress: bool = False,
        name: str = "model",
    ) -> None:
        self.steps = _check_int(steps, "steps", 0)
        self.lrs = _check_lrs(lr)
        if optimizer not in OPTIMIZERS:
            raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        self.optimizer = optimizer
        self.momentum = _check_pos(momentum, "momentum", allow_zero=True)
        if not self.momentum < 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ConfigError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = _check_pos(eps, "eps")
        self.batch_size = None if batch_size is None else _check_int(batch_size, "batch_size", 1)
        if optimizer == "sgd" and self.batch_size is None:
            raise ConfigError("optimizer 'sgd' needs batch_size (a positive integer), got None")
        self.tol = None if tol is None else _check_pos(tol, "tol", allow_zero=True)
        self.log_every = (max(1, self.steps // 100) if log_every is None
                          else _check_int(log_every, "log_every", 1))
        self.divergence_factor = _check_pos(divergence_factor, "divergence_factor")
        self.checkpoint_every = (None if checkpoint_every is None
                                 else _check_int(checkpoint_every, "checkpoint_every", 1))
        self.seed = _check_int(seed, "seed", 0)
        self.image = bool(image)
        self.progress = bool(progress)
        self.name = str(name)

    # ------------------------------------------------------------------ public
    def fit(
        self,
        model: nn.Module,
        problem,
        *,
        state: dict[str, Any] | None = None,
        on_checkpoint: Callback | None = None,
        callback: Callback | None = None,
    ) -> RunResult | list[RunResult]:
        """Train ``model`` on ``problem`` (a :class:`~spectralnn.sensing.problem.SensingProblem`
        on the model's device and dtype).

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
        run = _Run(self, model, problem, params, batched, R, X0)
        if state is not None:
            run.load(state)
        try:
            return run.loop(on_checkpoint, callback)
        finally:
            self.state_ = run.state_dict()


# ---------------------------------------------------------------------- the loop


class _Run:
    """The mutable state of one (possibly batched) training run."""

    def __init__(self, tr: Trainer, model: nn.Module, problem, params: dict[str, nn.Parameter],
                 batched: bool, R: int, X0: torch.Tensor) -> None:
        self.tr, self.model, self.problem = tr, model, problem
        self.params, self.batched, self.R = params, batched, R
        dev, dt = X0.device, X0.dtype
        lr = self.tr.lrs * R if len(self.tr.lrs) == 1 else self.tr.lrs
        self.lr_values = [float(v) for v in lr]   # as given (results report these exactly)
        self.lr = torch.tensor(lr, dtype=dt, device=dev)
        self.step = 0
        self.seconds = 0.0
        self.active = torch.ones(R, dtype=torch.bool, device=dev)
        self.diverged_step = torch.full((R,), -1, dtype=torch.long)
        self.converged_step = torch.full((R,), -1, dtype=torch.long)
        self.last_X = (X0 if batched else X0.unsqueeze(0)).detach().clone()
        self.init_loss: torch.Tensor | None = None
        self.init_params = {k: p.detach().clone() for k, p in params.items()}
        self.buffers: dict[str, dict[str, torch.Tensor]] = {}
        if tr.optimizer == "momentum":
            self.buffers["velocity"] = {k: torch.zeros_like(p) for k, p in params.items()}
        elif tr.optimizer == "adam":
            self.buffers["m"] = {k: torch.zeros_like(p) for k, p in params.items()}
            self.buffers["v"] = {k: torch.zeros_like(p) for k, p in params.items()}
        self.history: list[list[dict[str, float]]] = [[] for _ in range(R)]
        self.gen = torch.Generator().manual_seed(tr.seed)

    # ---- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit-for-bit (tensors cloned to the CPU)."""
        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().cpu().clone()

        return {
            "format": "spectralnn.TrainState/1",
            "step": self.step,
            "seconds": self.seconds,
            "batched": self.batched,
            "replicas": self.R,
            "optimizer": self.tr.optimizer,
            "lr": cpu(self.lr),
            "model": {k: cpu(v) for k, v in self.model.state_dict().items()},
            "init_params": {k: cpu(v) for k, v in self.init_params.items()},
            "buffers": {b: {k: cpu(v) for k, v in d.items()} for b, d in self.buffers.items()},
            "active": cpu(self.active),
            "diverged_step": cpu(self.diverged_step),
            "converged_step": cpu(self.converged_step),
            "last_X": cpu(self.last_X),
            "init_loss": None if self.init_loss is None else cpu(self.init_loss),
            "history": [list(h) for h in self.history],
            "rng": self.gen.get_state(),
        }

    def load(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != "spectralnn.TrainState/1":
            raise ConfigError("state is not a training state written by Trainer")
        if state["replicas"] != self.R or state["batched"] != self.batched:
            raise ConfigError(f"state holds {state['replicas']} replica(s); expected {self.R}")
        if state["optimizer"] != self.tr.optimizer:
            raise ConfigError(f"state was written with optimizer {state['optimizer']!r}; "
                              f"expected {self.tr.optimizer!r}")
        if state["step"] > self.tr.steps:
            raise ConfigError(f"state is at step {state['step']}, beyond steps={self.tr.steps}")
        dev, dt = self.last_X.device, self.last_X.dtype
        self.model.load_state_dict(state["model"])
        self.step = int(state["step"])
        self.seconds = float(state["seconds"])
        self.lr = state["lr"].to(device=dev, dtype=dt)
        self.init_params = {k: v.to(dev) for k, v in state["init_params"].items()}
        self.buffers = {b: {k: v.to(dev) for k, v in d.items()}
                        for b, d in state["buffers"].items()}
        self.active = state["active"].to(dev)
        self.diverged_step = state["diverged_step"].clone()
        self.converged_step = state["converged_step"].clone()
        self.last_X = state["last_X"].to(dev)
        il = state["init_loss"]
        self.init_loss = None if il is None else il.to(dev)
        self.history = [list(h) for h in state["history"]]
        self.gen.set_state(state["rng"])

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
        bad = torch.zeros(self.R, dtype=torch.bool, device=self.active.device)
        with torch.no_grad():
            for p in self.params.values():
                fin = torch.isfinite(p)
                bad |= ~(fin.reshape(self.R, -1).all(-1) if self.batched else fin.all().reshape(1))
        return bad

    def _reset(self, which: torch.Tensor) -> None:
        """Put the parameters of the replicas in ``which`` back to their initial values."""
        with torch.no_grad():
            for k, p in self.params.items():
                p.copy_(torch.where(self._view(which, p), self.init_params[k], p))

    def _forward(self):
        """``(X, A(X))`` with a leading replica dimension (factored seam: see
        :func:`spectralnn.prediction.predict`; X is a LowRank for factored models)."""
        try:
            X, AX = predict(self.model, self.problem.operator)
        except RuntimeError:
            bad = self._bad_params() & self.active
            if not bool(bad.any()):
                raise
            self._freeze_diverged(bad, self.step)
            self._reset(bad)
            X, AX = predict(self.model, self.problem.operator)
        return (X, AX) if self.batched else (X.unsqueeze(0), AX.unsqueeze(0))

    def _freeze_diverged(self, which: torch.Tensor, step: int) -> None:
        idx = which.nonzero().flatten().tolist()
        for r in idx:
            self.diverged_step[r] = step
            self.history[r].append(_diverged_row(step, self._elapsed(), math.nan))
        self.active &= ~which

    def _elapsed(self) -> float:
        return self.seconds + (time.perf_counter() - self._t0)

    # ---- main loop
    def loop(self, on_checkpoint: Callback | None, callback: Callback | None):
        tr, problem = self.tr, self.problem
        self._t0 = time.perf_counter()
        bar = None
        if tr.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=tr.steps, initial=self.step, desc=tr.name, leave=False,
                       dynamic_ncols=True)
        m = problem.num_measurements
        try:
            while self.step <= tr.steps and bool(self.active.any()):
                t = self.step
                if (on_checkpoint is not None and tr.checkpoint_every is not None
                        and t % tr.checkpoint_every == 0 and t > 0):
                    self.seconds = self._elapsed()
                    self._t0 = time.perf_counter()
                    on_checkpoint(t, self.state_dict())
                X, AX = self._forward()  # (R, d1, d2) or its LowRank, (R, m)
                residual = AX - problem.y  # (R, m)
                loss = 0.5 * residual.square().mean(-1)  # (R,)
                if tr.batch_size is not None and tr.batch_size < m:
                    idx = torch.randperm(m, generator=self.gen)[: tr.batch_size]
                    idx = idx.to(residual.device)
                    objective = 0.5 * residual[:, idx].square().mean(-1)
                else:
                    objective = loss
                lv = loss.detach()
                if self.init_loss is None:
                    self.init_loss = lv.clone()
                limit = tr.divergence_factor * self.init_loss.clamp_min(
                    torch.finfo(lv.dtype).tiny)
                bad = (~torch.isfinite(lv) | (lv > limit)) & self.active
                newly_div = bad if bool(bad.any()) else None
                good = self.active & ~bad
                self.last_X = keep_where(good, X, self.last_X)
                froze = bad.clone()
                if tr.tol is not None:
                    conv = good & (lv <= tr.tol)
                    if bool(conv.any()):
                        self.converged_step[conv.cpu()] = t
                        froze |= conv
                log_now = t % tr.log_every == 0 or t == tr.steps or bool(froze.any())
                need_grad = t < tr.steps or log_now
                if need_grad:
                    for p in self.params.values():
                        p.grad = None
                    objective.sum().backward()
                grads = {k: p.grad for k, p in self.params.items()}
                if newly_div is not None:
                    self._freeze_diverged(newly_div, t)
                if log_now:
                    self._log(t, X, good, grads, bar)
                if tr.tol is not None:
                    self.active &= ~(froze & ~bad)
                if t < tr.steps and bool(self.active.any()):
                    self._update(grads, t)
                if newly_div is not None:
                    self._reset(newly_div)
                self.step = t + 1
                if bar is not None:
                    bar.update(1)
                if callback is not None:
                    # "X": the iterate whose loss is "loss" (before this step's update).
                    try:
                        callback(t, {"loss": lv, "active": self.active.clone(),
                                     "X": X.detach() if self.batched else X.detach()[0]})
                    except StopTraining:
                        break
        finally:
            if bar is not None:
                bar.close()
        self.seconds = self._elapsed()
        for p in self.params.values():
            p.grad = None
        return self._results()

    def _log(self, t: int, X: torch.Tensor, good: torch.Tensor,
             grads: dict[str, torch.Tensor | None], bar) -> None:
        idx = good.nonzero().flatten().tolist()
        if not idx:
            return
        Xd = X.detach()[idx]
        values = snapshot_metrics(Xd, self.problem, image=self.tr.image)
        gsq = torch.zeros(self.R, dtype=X.dtype, device=X.device)
        for g in grads.values():
            if g is not None:
                gsq = gsq + self._per_replica_sq(g)
        gnorm = gsq.sqrt().tolist()
        elapsed = self._elapsed()
        for j, r in enumerate(idx):
            self.history[r].append(history_row(t, elapsed, values, j, gnorm[r]))
        if bar is not None:
            best = min(idx, key=lambda r: self.history[r][-1]["train_loss"])
            row = self.history[best][-1]
            bar.set_postfix(loss=f"{row['train_loss']:.3e}",
                            error=f"{row['relative_error']:.3e}", refresh=False)

    def _update(self, grads: dict[str, torch.Tensor | None], t: int) -> None:
        tr = self.tr
        with torch.no_grad():
            if tr.optimizer == "normalized":
                gsq = torch.zeros(self.R, dtype=self.lr.dtype, device=self.lr.device)
                for g in grads.values():
                    if g is not None:
                        gsq = gsq + self._per_replica_sq(g)
                gn = gsq.sqrt()
                scale = torch.where(gn > 0, self.lr / torch.where(gn > 0, gn, 1.0),
                                    torch.zeros_like(gn))
            for k, p in self.params.items():
                g = grads[k]
                if g is None:
                    continue
                act = self._view(self.active, p)
                lr = self._view(self.lr, p)
                if tr.optimizer in ("gd", "sgd"):
                    new = p - lr * g
                elif tr.optimizer == "momentum":
                    vel = self.buffers["velocity"][k]
                    v_new = tr.momentum * vel + g
                    vel.copy_(torch.where(act, v_new, vel))
                    new = p - lr * v_new
                elif tr.optimizer == "adam":
                    b1, b2 = tr.betas
                    m_b, v_b = self.buffers["m"][k], self.buffers["v"][k]
                    m_new = b1 * m_b + (1 - b1) * g
                    v_new = b2 * v_b + (1 - b2) * g * g
                    m_b.copy_(torch.where(act, m_new, m_b))
                    v_b.copy_(torch.where(act, v_new, v_b))
                    n = t + 1
                    m_hat = m_new / (1 - b1**n)
                    v_hat = v_new / (1 - b2**n)
                    new = p - lr * m_hat / (v_hat.sqrt() + tr.eps)
                else:  # normalized
                    new = p - self._view(scale, p) * g
                p.copy_(torch.where(act, new, p))

    def _results(self) -> RunResult | list[RunResult]:
        out = []
        done = min(self.step, self.tr.steps + 1)
        for r in range(self.R):
            ds = int(self.diverged_step[r])
            cs = int(self.converged_step[r])
            status = "diverged" if ds >= 0 else "converged" if cs >= 0 else "ok"
            steps = ds if ds >= 0 else cs if cs >= 0 else max(done - 1, 0)
            out.append(RunResult(
                self.tr.name, as_dense(self.last_X[r]).detach().cpu().to(torch.float64),
                self.history[r], lr=self.lr_values[r], steps=steps, seconds=self.seconds,
                diverged=ds >= 0, diverged_step=ds if ds >= 0 else None,
                converged_step=cs if cs >= 0 else None, status=status,
                info={"optimizer": self.tr.optimizer}))
        return out if self.batched else out[0]


def _diverged_row(step: int, seconds: float, loss: float) -> dict[str, float]:
    from .metrics import METRIC_NAMES

    row = {k: math.nan for k in METRIC_NAMES}
    row["step"], row["seconds"], row["train_loss"] = step, seconds, loss
    return row


# ---------------------------------------------------------------------- conveniences


def train(model: nn.Module, problem, steps: int = 1000, lr: float | Sequence[float] = 1e-3,
          **options: Any) -> RunResult | list[RunResult]:
    """``Trainer(steps, lr, **options).fit(model, problem)``: see :class:`Trainer`."""
    fit_keys = {"state", "on_checkpoint", "callback"}
    fit_opts = {k: options.pop(k) for k in list(options) if k in fit_keys}
    return Trainer(steps, lr, **options).fit(model, problem, **fit_opts)


def stack_models(batched: nn.Module, models: Sequence[nn.Module]) -> nn.Module:
    """Copy the parameters of ``R`` single models into ``batched`` (built with ``replicas=R``),
    so that replica ``r`` is exactly ``models[r]``; returns ``batched``.

    Parameter names must match, and each batched parameter must be ``(R, *single.shape)``.
    """
    singles = [dict(m.named_parameters()) for m in models]
    with torch.no_grad():
        for name, p in batched.named_parameters():
            try:
                stacked = torch.stack([s[name].detach() for s in singles])
            except KeyError:
                raise ConfigError(f"parameter {name!r} of the batched model is missing in the "
                                  "single models") from None
            if stacked.shape != p.shape:
                raise ShapeError(f"parameter {name!r}: stacked shape {tuple(stacked.shape)}, "
                                 f"expected {tuple(p.shape)}")
            p.copy_(stacked)
    return batched


def split_state(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a batched training state into ``R`` single-run states (as if each replica had been
    trained alone; its ``model`` entry loads into the unbatched model)."""
    R = state["replicas"]
    if not state["batched"]:
        return [state]
    out = []
    for r in range(R):
        def one(t, r=r):
            return None if t is None else t[r : r + 1].clone()

        out.append({
            **{k: state[k] for k in ("format", "step", "seconds", "optimizer", "rng")},
            "batched": False,
            "replicas": 1,
            "lr": state["lr"][r : r + 1].clone(),
            "model": {k: v[r].clone() for k, v in state["model"].items()},
            "init_params": {k: v[r].clone() for k, v in state["init_params"].items()},
            "buffers": {b: {k: v[r].clone() for k, v in d.items()}
                        for b, d in state["buffers"].items()},
            "active": one(state["active"]),
            "diverged_step": one(state["diverged_step"]),
            "converged_step": one(state["converged_step"]),
            "last_X": one(state["last_X"]),
            "init_loss": one(state["init_loss"]),
            "history": [list(state["history"][r])],
        })
    return out


def stack_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`split_state`: one batched state from single-run states at the same
    step."""
    steps = {s["step"] for s in states}
    if len(steps) != 1:
        raise ConfigError(f"states are at different steps {sorted(steps)}; expected one step")
    first = states[0]

    def cat(key):
        vals = [s[key] for s in states]
        return None if vals[0] is None else torch.cat(vals)

    return {
        **{k: first[k] for k in ("format", "step", "optimizer", "rng")},
        "seconds": max(s["seconds"] for s in states),
        "batched": True,
        "replicas": len(states),
        "lr": cat("lr"),
        "model": {k: torch.stack([s["model"][k] for s in states]) for k in first["model"]},
        "init_params": {k: torch.stack([s["init_params"][k] for s in states])
                        for k in first["init_params"]},
        "buffers": {b: {k: torch.stack([s["buffers"][b][k] for s in states]) for k in d}
                    for b, d in first["buffers"].items()},
        "active": cat("active"),
        "diverged_step": cat("diverged_step"),
        "converged_step": cat("converged_step"),
        "last_X": cat("last_X"),
        "init_loss": cat("init_loss"),
        "history": [s["history"][0] for s in states],
    }


def sweep(make_model: Callable[[int | None], nn.Module], problem, lrs: Sequence[float],
          steps: int, **options: Any) -> list[RunResult]:
    """Train one run per learning rate, all together as one batched model.

    Args:
        make_model: ``make_model(replicas)`` builds the model (``replicas=None``: a single one;
            ``replicas=R``: the batched one). Every replica starts from the single model's
            parameters (the same initialisation for every rate, as in the paper).
        lrs: the learning rates, one replica each.
        steps, options: as for :class:`Trainer`.

    Returns:
        One :class:`~spectralnn.metrics.RunResult` per rate, in order; diverged rates are
        flagged and keep their history, the others are unaffected by them.
    """
    lrs = _check_lrs(list(lrs))
    single = make_model(None)
    batched = stack_models(make_model(len(lrs)), [single] * len(lrs))
    out = Trainer(steps, lrs, **options).fit(batched, problem)
    assert isinstance(out, list)
    return out


def paper_lr_search(make_model: Callable[[int | None], nn.Module], problem, steps: int,
                    keep: int = 5, grid: Sequence[float] | None = None,
                    probe_steps: int | None = None, chunk: int | None = None,
                    **options: Any) -> tuple[list[RunResult], list[float]]:
    """The paper's learning-rate search: try the rates of ``grid`` (default
    :func:`paper_lr_grid`, descending) and keep the first ``keep`` that do not diverge.

    Rates are tried ``chunk`` at a time (default ``keep + 2``) as one batched model. With
    ``probe_steps=None`` each try is the full ``steps``-step run (exactly the paper's
    procedure; the kept runs are returned as they are). With ``probe_steps = s < steps`` the
    tries are ``s``-step probes and the kept rates are then trained for ``steps`` in one
    batched sweep (a rate that survives the probe may still diverge later: it is reported).

    Returns:
        ``(results of the kept rates, every rate tried that diverged)``.

    Raises:
        ConfigError: when fewer than ``keep`` rates of the grid survive.
    """
    grid = paper_lr_grid() if grid is None else _check_lrs(list(grid))
    keep = _check_int(keep, "keep", 1)
    chunk = keep + 2 if chunk is None else _check_int(chunk, "chunk", 1)
    probe = steps if probe_steps is None else min(_check_int(probe_steps, "probe_steps", 1),
                                                  steps)
    kept: list[RunResult] = []
    rejected: list[float] = []
    i = 0
    while len(kept) < keep and i < len(grid):
        rates = grid[i : i + chunk]
        i += len(rates)
        for res in sweep(make_model, problem, rates, probe, **options):
            if res.diverged:
                rejected.append(float(res.lr))
            elif len(kept) < keep:
                kept.append(res)
    if len(kept) < keep:
        raise ConfigError(f"only {len(kept)} of the {len(grid)} learning rates did not "
                          f"diverge; expected at least keep={keep}")
    if probe < steps:
        kept = sweep(make_model, problem, [float(r.lr) for r in kept], steps, **options)
    return kept, rejected
