"""The SNN of one group of patches, evaluated exactly through its reduced dynamics.

A group is a matrix ``Z ∈ R^{a×n}`` (``a = k²·channels`` pixels × ``n`` patches) with thin SVD
``Z = Φ diag(z) Ψᵀ``. Its SNN is ``X = f(U Vᵀ)`` with the tanh spectral activation ``f``,
trained by gradient descent on ``½‖f(U Vᵀ) − Z/c‖²_F`` (``c = 2·z_1``, so the singular values
lie in ``[0, ½]``, where tanh is not saturated) from the small spectral initialisation
``U(0) = Φ·ε``, ``V(0) = Ψ·ε``. Every entry is observed in this loss, so the problem is
well-specified and the network stays of the form ``Φ diag(·) Ψᵀ`` (the paper's Theorem 1,
:mod:`spectralnn.theory`): GD reduces exactly to one scalar recursion per singular value,
``u = v`` by symmetry,

    u ← u − η·(tanh(u²) − z̃)·(1 − tanh²(u²))·u,        output  x = c·tanh(u²),   z̃ = z/c.

From ``u² = ε²`` a value ``z̃`` grows like ``e^{2ηz̃t}``, so after ``T`` steps the values with
``2ηT·z̃ ≫ log(z̃/2ε²)`` are fitted and the others are still ≈ 0: early stopping is a spectral
shrinkage with threshold ``θ`` where ``ηT = log(θ/2ε²)/(2θ)``. The rate is ``η ≤ 1`` (the
recursion's curvature at ``z̃ = ½`` is ≈ 1.65, stable below 2/1.65), and ``T`` follows from the
threshold asked for; both in units of the group's own ``z_1`` (the curvature of entry
sampling is 1, the scale σ̂_1 = z_1).
"""

from __future__ import annotations

import math

import torch

__all__ = ["MAX_RATE", "snn_shrink", "steps_for_threshold"]

#: Largest rate of the scalar recursion (units of 1/z_1 after the scaling to z̃_1 = ½).
MAX_RATE = 1.0


def steps_for_threshold(theta: torch.Tensor, eps: float) -> torch.Tensor:
    """``η·T`` that puts the shrinkage threshold at ``theta`` (scaled units, in (0, ½])."""
    return torch.log(theta / (2 * eps * eps)).clamp_min(0) / (2 * theta)


def snn_shrink(z: torch.Tensor, threshold: torch.Tensor, *, eps: float = 1e-3,
               max_steps: int = 1000) -> tuple[torch.Tensor, int]:
    """The singular values of each group's trained SNN.

    Args:
        z: ``(G, r)`` singular values, descending.
        threshold: ``(G,)`` or scalar shrinkage thresholds in the units of ``z``.
        eps: initial scale of the factors (relative to ``z̃_1 = ½``).
        max_steps: the longest schedule; a group that would need more steps keeps the rate
            ``MAX_RATE`` and stops there (a higher threshold than asked).

    Returns:
        ``((G, r)`` output singular values, steps run``)``.
    """
    c = 2 * z[:, :1].clamp_min(torch.finfo(z.dtype).tiny)
    zt = z / c
    theta = torch.as_tensor(threshold, dtype=z.dtype, device=z.device).reshape(-1, 1)
    theta = (theta / c).clamp(1e-6, 0.5)
    need = steps_for_threshold(theta, eps)
    steps = (need / MAX_RATE).ceil().clamp(1, max_steps)
    rate = torch.minimum(need / steps,
                         torch.tensor(MAX_RATE, dtype=z.dtype, device=z.device))
    u = torch.full_like(zt, eps)
    total = int(steps.max())
    for i in range(total):
        t = torch.tanh(u * u)
        u = torch.where(steps > i, u - rate * (t - zt) * (1 - t * t) * u, u)
    if not math.isfinite(float(u.abs().max())):
        raise FloatingPointError("the group SNN diverged")  # pragma: no cover - rate ≤ MAX_RATE
    return c * torch.tanh(u * u), total
