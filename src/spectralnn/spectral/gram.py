"""The Gram evaluation ``F(X) = X h(XᵀX)`` of a spectral activation (no SVD)."""

from __future__ import annotations

from typing import Any

import torch

from .._threaded import eigh
from .activations import Activation

__all__ = ["GramFunction"]


class GramFunction(torch.autograd.Function):
    """Gram evaluation ``F(X) = X h(XᵀX)`` for tall inputs (m ≥ n), no SVD.

    With ``XᵀX = W diag(λ) Wᵀ`` and ``D_ij = [λ_i, λ_j]_h``: ``F = (XW) diag(h(λ)) Wᵀ`` and the
    backward of an upstream gradient ``Ḡ`` is

        X̄ = ( (ḠW) diag(h(λ)) + (XW) (D ∘ (M + Mᵀ)) ) Wᵀ,   M = (XW)ᵀ (ḠW),

    finite at repeated and zero λ because D is a divided difference.
    """

    @staticmethod
    def forward(ctx: Any, X: torch.Tensor, act: Activation) -> torch.Tensor:
        lam, W = eigh(X.mT @ X)
        lam = torch.clamp(lam, min=0.0)
        assert act.h is not None  # resolve_method picks "gram" only for activations with h
        hv = act.h(lam).unsqueeze(-2)
        XW = X @ W
        ctx.act = act
        ctx.save_for_backward(XW, lam, W, hv)
        return (XW * hv) @ W.mT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        XW, lam, W, hv = ctx.saved_tensors
        GW = grad_out @ W
        M = XW.mT @ GW
        S = ctx.act.gram_sym(lam, M)
        return (GW * hv + XW @ S) @ W.mT, None
