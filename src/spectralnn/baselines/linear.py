"""LG: the linear model ``X = W``.

Gradient descent on ``½·mean_i (⟨A_i, W⟩ − y_i)²`` from ``W = 0`` keeps ``W`` in the row space
``span{A_i}`` of the operator, so when the data can be interpolated it converges to the
minimum-Frobenius-norm interpolant ``vec(W∞) = M⁺ y`` (``M``: the ``(m, d1·d2)`` matrix of the
``vec(A_i)``): the classical implicit bias of a linear model, the paper's baseline "LG".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ..validate import replicas as _check_replicas
from ..validate import shape_pair as _check_shape

__all__ = ["LinearModel"]


class LinearModel(nn.Module):
    """``X = W``, ``W`` of shape ``(d1, d2)`` (or ``(replicas, d1, d2)``).

    Args:
        shape: ``(d1, d2)``.
        init_scale: std of iid Gaussian initial entries; 0 (default, the paper's LG) starts
            from the zero matrix.
        replicas: leading batch of independent models (output ``(replicas, d1, d2)``).
        seed: seed of the ``torch.Generator`` used when ``init_scale > 0``.
        dtype, device: of the parameter.
    """

    def __init__(self, shape: Sequence[int], init_scale: float = 0.0, *,
                 replicas: int | None = None, seed: int = 0,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        d1, d2 = _check_shape(shape)
        self.shape = (d1, d2)
        self.replicas = _check_replicas(replicas)
        scale = float(init_scale)
        if not math.isfinite(scale) or scale < 0:
            raise ConfigError(f"init_scale must be a finite number ≥ 0, got {init_scale!r}")
        self.init_scale = scale
        batch = () if replicas is None else (replicas,)
        gen = torch.Generator().manual_seed(int(seed))
        W = scale * torch.randn(*batch, d1, d2, generator=gen, dtype=torch.float64)
        self.W = nn.Parameter(W.to(dtype=dtype, device=device))

    def forward(self) -> torch.Tensor:
        """``X = W``: (d1, d2) or (replicas, d1, d2)."""
        return self.W

    def extra_repr(self) -> str:
        rep = "" if self.replicas is None else f", replicas={self.replicas}"
        return f"shape={self.shape}, init_scale={self.init_scale}{rep}"
