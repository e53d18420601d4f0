"""The trainer's mutable state in one dataclass, its checkpoint form, and the split/stack of
batched states into per-replica ones.

A checkpoint is the dict of :meth:`TrainState.to_dict` (``torch.save``-able, tensors on the
CPU): ``format``, the fields of :class:`TrainState` (the generator as ``rng``) and the model's
``state_dict`` under ``model``. Keys are grouped once, by how they split across replicas:
:data:`SHARED_KEYS` (same for every replica), :data:`REPLICA_KEYS` (tensors with a leading
replica dimension ``R``), :data:`PARAMETER_KEYS` (``{name: (R, …)}`` tables), ``buffers``
(``{buffer: {name: (R, …)}}``) and ``history`` (one list per replica).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import ConfigError

__all__ = ["PARAMETER_KEYS", "REPLICA_KEYS", "SHARED_KEYS", "STATE_FORMAT", "TrainState",
           "split_state", "stack_states"]

STATE_FORMAT = "spectralnn.TrainState/1"
SHARED_KEYS = ("format", "step", "seconds", "optimizer", "rng")
REPLICA_KEYS = ("lr", "active", "diverged_step", "converged_step", "last_X", "init_loss")
PARAMETER_KEYS = ("model", "init_params")


@dataclass
class TrainState:
    """Everything a run needs to continue bit-for-bit, besides the model's parameters.

    Shapes (``R`` replicas; an unbatched run has ``R = 1``): ``lr``, ``init_loss`` ``(R,)``
    in the model's dtype; ``active`` ``(R,)`` bool; ``diverged_step``/``converged_step``
    ``(R,)`` long on the CPU (−1: not yet); ``last_X`` ``(R, d1, d2)``, the last iterate of
    each replica that passed the divergence check.
    """

    optimizer: str
    batched: bool
    replicas: int
    lr: torch.Tensor
    active: torch.Tensor
    last_X: torch.Tensor
    init_params: dict[str, torch.Tensor]
    buffers: dict[str, dict[str, torch.Tensor]]
    gen: torch.Generator
    step: int = 0
    seconds: float = 0.0
    init_loss: torch.Tensor | None = None
    diverged_step: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    converged_step: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    history: list[list[dict[str, float]]] = field(default_factory=list)

    def to_dict(self, model: torch.nn.Module) -> dict[str, Any]:
        """The checkpoint dict (tensors detached, cloned to the CPU)."""
        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().cpu().clone()

        return {
            "format": STATE_FORMAT,
            "step": self.step,
            "seconds": self.seconds,
            "batched": self.batched,
            "replicas": self.replicas,
            "optimizer": self.optimizer,
            "lr": cpu(self.lr),
            "model": {k: cpu(v) for k, v in model.state_dict().items()},
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

    def load(self, state: dict[str, Any], model: torch.nn.Module, steps: int) -> None:
        """Continue from the checkpoint dict ``state`` (checked against this run: replicas,
        optimizer, ``step ≤ steps``); loads the model's parameters too."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ConfigError("state is not a training state written by Trainer")
        if state["replicas"] != self.replicas or state["batched"] != self.batched:
            raise ConfigError(f"state holds {state['replicas']} replica(s); "
                              f"expected {self.replicas}")
        if state["optimizer"] != self.optimizer:
            raise ConfigError(f"state was written with optimizer {state['optimizer']!r}; "
                              f"expected {self.optimizer!r}")
        if state["step"] > steps:
            raise ConfigError(f"state is at step {state['step']}, beyond steps={steps}")
        dev, dt = self.last_X.device, self.last_X.dtype
        model.load_state_dict(state["model"])
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


def split_state(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Split a batched training state into ``R`` single-run states (as if each replica had been
    trained alone; its ``model`` entry loads into the unbatched model)."""
    if not state["batched"]:
        return [state]
    out = []
    for r in range(state["replicas"]):
        one: dict[str, Any] = {k: state[k] for k in SHARED_KEYS}
        one.update(batched=False, replicas=1)
        for k in REPLICA_KEYS:
            one[k] = None if state[k] is None else state[k][r : r + 1].clone()
        for k in PARAMETER_KEYS:
            one[k] = {name: v[r].clone() for name, v in state[k].items()}
        one["buffers"] = {b: {name: v[r].clone() for name, v in d.items()}
                          for b, d in state["buffers"].items()}
        one["history"] = [list(state["history"][r])]
        out.append(one)
    return out


def stack_states(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Inverse of :func:`split_state`: one batched state from single-run states at the same
    step (``seconds``: the largest)."""
    steps = {s["step"] for s in states}
    if len(steps) != 1:
        raise ConfigError(f"states are at different steps {sorted(steps)}; expected one step")
    first = states[0]
    out: dict[str, Any] = {k: first[k] for k in SHARED_KEYS}
    out.update(seconds=max(s["seconds"] for s in states), batched=True, replicas=len(states))
    for k in REPLICA_KEYS:
        out[k] = None if first[k] is None else torch.cat([s[k] for s in states])
    for k in PARAMETER_KEYS:
        out[k] = {name: torch.stack([s[k][name] for s in states]) for name in first[k]}
    out["buffers"] = {b: {name: torch.stack([s["buffers"][b][name] for s in states])
                          for name in d} for b, d in first["buffers"].items()}
    out["history"] = [s["history"][0] for s in states]
    return out
