"""Optimizer update rules of the trainer: a table of small functions, one per optimizer.

Each rule maps a parameter ``p``, its gradient ``g``, its state buffers, the per-replica
learning rate ``η`` (broadcastable against ``p``), the mask ``active`` of replicas still being
trained (same broadcasting) and the step index ``t`` (0-based) to the new value of ``p``;
buffers are updated in place for active replicas only. The trainer masks the result
(``p ← where(active, new, p)``).

- ``gd`` / ``sgd``: ``p − η·g``.
- ``momentum`` (heavy ball): ``v ← μ·v + g``, ``p − η·v``.
- ``adam``: ``m ← β1·m + (1 − β1)·g``, ``v ← β2·v + (1 − β2)·g²``,
  ``p − η·m̂ / (√v̂ + ε)`` with ``m̂ = m/(1 − β1^{t+1})``, ``v̂ = v/(1 − β2^{t+1})``.
- ``normalized``: ``p − η·g/‖g‖₂`` with ``‖g‖₂`` the replica's global gradient norm over all
  parameters (the trainer passes ``η/‖g‖₂`` as the rate; 0 where ``g = 0``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["OPTIMIZERS", "UPDATE_RULES", "Hyper", "UpdateRule"]


@dataclass(frozen=True)
class Hyper:
    """Hyper-parameters of the rules: ``momentum`` μ, Adam's ``betas`` and ``eps``."""

    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8


Step = Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor,
                 torch.Tensor, int, Hyper], torch.Tensor]


@dataclass(frozen=True)
class UpdateRule:
    """``buffers``: names of the per-parameter state tensors (zeros at the start);
    ``step``: the rule; ``normalized``: the rate is divided by the global gradient norm."""

    buffers: tuple[str, ...]
    step: Step
    normalized: bool = False


def _gd(p: torch.Tensor, g: torch.Tensor, buf: dict[str, torch.Tensor], lr: torch.Tensor,
        active: torch.Tensor, t: int, h: Hyper) -> torch.Tensor:
    return p - lr * g


def _momentum(p: torch.Tensor, g: torch.Tensor, buf: dict[str, torch.Tensor],
              lr: torch.Tensor, active: torch.Tensor, t: int, h: Hyper) -> torch.Tensor:
    vel = buf["velocity"]
    v_new = h.momentum * vel + g
    vel.copy_(torch.where(active, v_new, vel))
    return p - lr * v_new


def _adam(p: torch.Tensor, g: torch.Tensor, buf: dict[str, torch.Tensor], lr: torch.Tensor,
          active: torch.Tensor, t: int, h: Hyper) -> torch.Tensor:
    b1, b2 = h.betas
    m_b, v_b = buf["m"], buf["v"]
    m_new = b1 * m_b + (1 - b1) * g
    v_new = b2 * v_b + (1 - b2) * g * g
    m_b.copy_(torch.where(active, m_new, m_b))
    v_b.copy_(torch.where(active, v_new, v_b))
    n = t + 1
    m_hat = m_new / (1 - b1**n)
    v_hat = v_new / (1 - b2**n)
    return p - lr * m_hat / (v_hat.sqrt() + h.eps)


#: The optimizers by name.
UPDATE_RULES: dict[str, UpdateRule] = {
    "adam": UpdateRule(("m", "v"), _adam),
    "gd": UpdateRule((), _gd),
    "momentum": UpdateRule(("velocity",), _momentum),
    "normalized": UpdateRule((), _gd, normalized=True),
    "sgd": UpdateRule((), _gd),
}

OPTIMIZERS = tuple(sorted(UPDATE_RULES))
