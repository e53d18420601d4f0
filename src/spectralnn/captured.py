"""The captured step backend of the trainer: one GD step recorded as a single CUDA graph.

With the matmul-only spectral activation (``method="matmul"``, or ``"auto"`` on CUDA for the
tanh family) a step of an SNN on matrix sensing has no decomposition and no host
synchronisation once the number of doublings ``k`` is fixed, so the whole step can be recorded
once with :class:`torch.cuda.CUDAGraph` and replayed: one launch per step instead of hundreds.

    step = capture_step(model, problem, lr=1e-3)   # (spectralnn.trainer) k from the iterate, 2×
    for t in range(steps):
        loss = step()                              # 0-dim tensor on the device (no sync)
        if t % 100 == 0 and not step.in_range():   # every input had (Σσ⁸)^{1/8} ≤ 2^(k+1)?
            ...                                    # else: step.recapture()

The step recorded is the trainer's own full-batch step (forward, loss, backward, and the
update of :mod:`spectralnn.updates`: plain GD :func:`spectralnn.trainer.gd_step`, or the heavy
ball), handed in as ``step_fn``: this module knows nothing of the trainer. The loop around it
is the trainer's (``Trainer(steps, lr, step="captured")``), and the user's entry points live
there too: :func:`spectralnn.trainer.capture_step` and :func:`spectralnn.trainer.train_captured`.
The step minimises ``½·mean_i (⟨A_i, X⟩ − y_i)²`` (summed over replicas, as
:class:`~spectralnn.trainer.Trainer`). Besides the parameters, a step may carry ``buffers``
(the heavy ball's velocity): :meth:`CapturedStep.snapshot` and :meth:`~CapturedStep.restore`
take and put back both, so that a step can be undone and replayed. A fixed ``k`` is certified
only while every activation input satisfies ``(Σσ⁸)^{1/8} ≤ s₀·2^k`` (``s₀ = 2``); the step
records the largest ratio in a device tensor (:meth:`CapturedStep.in_range` reads it).
The trainer checks it every ``check_every`` steps and, when it was exceeded, goes
back to the last checked parameters and re-captures with more doublings.

On a device other than CUDA the same object runs the step eagerly (same maths, no graph), so
code written against it runs everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .errors import ConfigError
from .spectral import matmul as _matmul
from .spectral import matmul_options
from .validate import positive_number

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

#: A step function: ``step_fn(model, params, operator, y, neg_lr) -> (loss, X)``: the loss
#: (0-dim tensor) at the parameters before the update, and ``X`` (detached) the model's output
#: there; the trainer's is :func:`spectralnn.trainer.gd_step` (or its heavy-ball twin).
StepFn = Callable[[nn.Module, Sequence[torch.Tensor], Any, torch.Tensor, torch.Tensor],
                  tuple[torch.Tensor, torch.Tensor]]

__all__ = ["CapturedStep", "StepFn", "capturable", "needed_doublings", "record_step"]


def capturable(model: nn.Module) -> bool:
    """Whether ``model``'s step can be recorded as a CUDA graph: its parameters are on CUDA,
    and its spectral activation is of the tanh family evaluated by products
    (``method="matmul"`` or ``"auto"``); decompositions synchronise with the host."""
    params = list(model.parameters())
    if not params or params[0].device.type != "cuda":
        return False
    act = getattr(model, "activation", None)
    return (getattr(model, "method", "matmul") in ("auto", "matmul")
            and (act is None or act.tanh_form is not None))


class CapturedStep:
    """A GD step of ``model`` on ``problem`` with learning rate ``lr``; see the module docstring.

    Attributes:
        doublings: the fixed number of doublings k of the matmul activation.
        graphed: whether the step is a replayed CUDA graph (False: eager).
        loss: the loss of the last step (a device tensor, overwritten by each step).
        X: the iterate that loss was computed at (a device tensor, overwritten likewise).
        buffers: the step's state besides the parameters (e.g. the heavy ball's velocity).
    """

    def __init__(self, model: nn.Module, problem: SensingProblem, lr: float, *, step_fn: StepFn,
                 doublings: int, inverse: str = "auto", warmup: int = 3,
                 graph: bool = True, buffers: Sequence[torch.Tensor] = ()) -> None:
        self.model, self.problem, self.step_fn = model, problem, step_fn
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ConfigError("the model has no trainable parameters")
        self.buffers = list(buffers)
        device = self.params[0].device
        self.device = device
        self.lr = positive_number(lr, "lr")
        self.inverse = inverse
        self.warmup = int(warmup)
        self.monitor = torch.zeros((), dtype=torch.float32, device=device)
        self._neg_lr = torch.full((), -self.lr, dtype=self.params[0].dtype, device=device)
        self.graphed = bool(graph) and device.type == "cuda"
        if self.graphed and inverse == "cholesky":
            # torch's batched Cholesky of small matrices goes through MAGMA, whose pointer
            # arrays abort the process under stream capture (seen on an H200, torch 2.11).
            raise ConfigError("a captured step needs inverse='poly' or 'auto' (the Cholesky "
                              "inverse cannot be recorded in a CUDA graph)")
        self.doublings = doublings
        self._capture()

    # ---- the step as a function of the static tensors
    def _eager(self) -> tuple[torch.Tensor, torch.Tensor]:
        with matmul_options(doublings=self.doublings, inverse=self.inverse,
                            monitor=self.monitor):
            return self.step_fn(self.model, self.params, self.problem.operator, self.problem.y,
                                self._neg_lr)

    def snapshot(self) -> list[torch.Tensor]:
        """Copies of the parameters and buffers (the state a step changes)."""
        return [t.detach().clone() for t in (*self.params, *self.buffers)]

    def restore(self, saved: Sequence[torch.Tensor]) -> None:
        """Put back a :meth:`snapshot` (in place: the recorded graph keeps its tensors)."""
        with torch.no_grad():
            for t, s in zip((*self.params, *self.buffers), saved):
                t.copy_(s)

    def _capture(self) -> None:
        self.graph = None
        if not self.graphed:
            return
        saved = self.snapshot()
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(max(1, self.warmup)):  # allocations, cuBLAS handles, caches
                self._eager()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.loss, self.X = self._eager()
        self.restore(saved)  # the warm-up steps updated the parameters: undo them
        self.monitor.zero_()
        self.graph = graph

    def __call__(self) -> torch.Tensor:
        """One step; returns the loss at the parameters before the update (device tensor)."""
        if self.graph is None:
            self.loss, self.X = self._eager()
        else:
            self.graph.replay()
        return self.loss

    def in_range(self) -> bool:
        """Whether every activation input since the last :meth:`reset_monitor` was within the
        certified range of the fixed doublings (one host synchronisation)."""
        return float(self.monitor) <= 1.0

    def reset_monitor(self) -> None:
        self.monitor.zero_()

    def recapture(self, doublings: int) -> None:
        """Record the step again with ``doublings`` doublings (the parameters are kept)."""
        self.doublings = int(doublings)
        self.reset_monitor()
        self._capture()


def needed_doublings(model: nn.Module, problem: SensingProblem, inverse: str) -> int:
    """Doublings the current iterate needs: the largest ratio (Σσ⁸)^{1/8}/s₀ over all
    activation inputs of one forward pass, as a power of two."""
    norms: list[torch.Tensor] = []
    with torch.no_grad(), matmul_options(inverse=inverse, norms=norms):
        model()
    if not norms:
        return 0
    return _matmul.doublings_for(float(torch.stack(norms).max()))


def record_step(model: nn.Module, problem: SensingProblem, lr: float, *, step_fn: StepFn,
                headroom: float = 2.0, doublings: int | None = None, inverse: str = "auto",
                warmup: int = 3, graph: bool = True,
                buffers: Sequence[torch.Tensor] = ()) -> CapturedStep:
    """Record ``step_fn`` (the trainer's GD step; :func:`spectralnn.trainer.capture_step` is
    the user's entry) as the captured step of ``model`` (whose ``forward()`` returns X, e.g. an
    :class:`~spectralnn.nn.SNN` with ``method="matmul"`` or ``"auto"``) on ``problem`` (with
    ``.operator`` and ``.y``).

    Args:
        lr: GD learning rate (baked into the graph; re-capture to change it).
        headroom: ``k`` is chosen for inputs up to ``headroom`` times larger than now.
        doublings: a fixed ``k`` instead.
        inverse: inverse of the doubling step, ``"poly"``, ``"cholesky"`` or ``"auto"``.
        warmup: eager steps before capture (undone afterwards).
        graph: False runs the same step eagerly (for comparisons; any ``method`` then).
        buffers: the step's state besides the parameters, which ``step_fn`` updates in place.
    """
    device = next(model.parameters()).device
    if graph and device.type == "cuda" and not capturable(model):
        raise ConfigError(f"a captured step needs method='matmul' or 'auto' with a tanh-family "
                          f"activation (decompositions synchronise with the host), got "
                          f"method={getattr(model, 'method', None)!r}")
    if not isinstance(headroom, (int, float)) or not headroom >= 1:
        raise ConfigError(f"headroom must be a number ≥ 1, got {headroom!r}")
    if doublings is None:
        probe = needed_doublings(model, problem, inverse)
        doublings = probe + max(0, math.ceil(math.log2(headroom)))
    return CapturedStep(model, problem, lr, step_fn=step_fn, doublings=doublings,
                        inverse=inverse, warmup=warmup, graph=graph, buffers=buffers)
