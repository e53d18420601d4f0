"""DF: deep matrix factorization ``X = W_D ⋯ W_2 W_1`` (Arora, Cohen, Hu & Luo 2019).

Gradient descent from a small initialisation is biased towards low-rank solutions, more
strongly with depth. The paper compares against depth 3 started "from the same small identity
factors as the SNN": ``W_j = ε·I + jitter`` (rectangular identity), ``ε = 1e-4``,
``jitter ~ N(0, 1e-6²)``.

Shapes: ``W_1 ∈ R^{k×d2}``, ``W_j ∈ R^{k×k}`` for ``1 < j < D``, ``W_D ∈ R^{d1×k}`` with
inner width ``k = max(d1, d2)`` by default (no rank constraint); depth 1 is ``X = W_1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError, unknown_name
from ..validate import int_at_least, positive_int
from ..validate import replicas as _check_replicas
from ..validate import shape_pair as _check_shape

__all__ = ["DeepFactorization"]

_INITS = ("identity", "random")


class DeepFactorization(nn.Module):
    """``X = W_D ⋯ W_1``; output (d1, d2) or (replicas, d1, d2).

    Args:
        shape: ``(d1, d2)``.
        depth: number of factors ``D ≥ 1`` (paper: 3).
        init: ``"identity"`` (``W_j = init_scale·I + jitter·N(0, 1)``) or ``"random"``
            (iid ``N(0, init_scale²)`` entries).
        init_scale: default 1e-4 (identity) or 1e-2 (random).
        jitter: std of the Gaussian jitter of the identity init (default 1e-6).
        width: inner dimension ``k`` (default ``max(d1, d2)``).
        replicas, seed, dtype, device: as for :class:`~spectralnn.nn.SNN`.

    Attributes:
        factors: ``ParameterList`` ``[W_1, …, W_D]``, each with the optional replica batch dim.
    """

    def __init__(self, shape: Sequence[int], depth: int = 3, init: str = "identity",
                 init_scale: float | None = None, jitter: float = 1e-6, *,
                 width: int | None = None, replicas: int | None = None, seed: int = 0,
                 dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        d1, d2 = _check_shape(shape)
        self.shape = (d1, d2)
        depth = int_at_least(depth, "depth", 1)
        if init not in _INITS:
            raise unknown_name("init", init, _INITS)
        k = max(d1, d2) if width is None else positive_int(width, "width")
        scale = (1e-4 if init == "identity" else 1e-2) if init_scale is None else init_scale
        scale = float(scale)
        if not math.isfinite(scale) or scale < 0:
            raise ConfigError(f"init_scale must be a finite number ≥ 0, got {init_scale!r}")
        jit = float(jitter)
        if not math.isfinite(jit) or jit < 0:
            raise ConfigError(f"jitter must be a finite number ≥ 0, got {jitter!r}")
        self.depth, self.init, self.width, self.init_scale = depth, init, k, scale
        self.replicas = _check_replicas(replicas)
        batch = () if replicas is None else (replicas,)
        dims = [d2] + [k] * (depth - 1) + [d1]  # W_j: dims[j+1] × dims[j]
        gen = torch.Generator().manual_seed(int(seed))
        factors = []
        for j in range(depth):
            rows, cols = dims[j + 1], dims[j]
            noise = torch.randn(*batch, rows, cols, generator=gen, dtype=torch.float64)
            if init == "identity":
                W = scale * torch.eye(rows, cols, dtype=torch.float64) + jit * noise
            else:
                W = scale * noise
            factors.append(nn.Parameter(W.to(dtype=dtype, device=device)))
        self.factors = nn.ParameterList(factors)

    def forward(self) -> torch.Tensor:
        """``X = W_D ⋯ W_1``: (d1, d2) or (replicas, d1, d2)."""
        X = self.factors[0]
        for W in list(self.factors)[1:]:
            X = W @ X
        return X

    def extra_repr(self) -> str:
        rep = "" if self.replicas is None else f", replicas={self.replicas}"
        return (f"shape={self.shape}, depth={self.depth}, init={self.init!r}, "
                f"init_scale={self.init_scale}, width={self.width}{rep}")
