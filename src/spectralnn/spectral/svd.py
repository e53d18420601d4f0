"""The SVD evaluation of a spectral activation and its exact derivative.

For tall ``X = U diag(σ) Vᵀ`` (m ≥ n) and ``G = Uᵀ E V``:

    DF(X)[E] = ( U (A ∘ G + B ∘ Gᵀ − G diag(r)) + E V diag(r) ) Vᵀ,
    A = (K⁻ + K⁺)/2,  B = (K⁻ − K⁺)/2,  K⁻_ij = [σ_i, σ_j],  K⁺_ij = [σ_i, −σ_j],
    r_i = f(σ_i)/σ_i,

finite at repeated and zero singular values; self-adjoint, so the backward pass is the same map.
"""

from __future__ import annotations

from typing import Any

import torch

from .activations import Activation

__all__ = ["SpectralFunction", "apply_derivative", "divided_difference"]


def divided_difference(act: Activation,
                       s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kernels of the derivative at singular values ``s`` (..., n).

    Returns ``A = (K⁻ + K⁺)/2`` (..., n, n), ``B = (K⁻ - K⁺)/2`` (..., n, n) and ``r = f(s)/s``
    (..., n), with ``K⁻_ij = [s_i, s_j]`` and ``K⁺_ij = [s_i, -s_j]``.
    """
    si = s.unsqueeze(-1)
    sj = s.unsqueeze(-2)
    k_minus = act.dd(si, sj)
    k_plus = act.dd(si, -sj)
    r = act.dd(s, torch.zeros_like(s))
    return 0.5 * (k_minus + k_plus), 0.5 * (k_minus - k_plus), r


def apply_derivative(U: torch.Tensor, Vh: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                     r: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """``DF(X)[E]`` for tall ``X = U diag(σ) Vh`` (m ≥ n); E (..., m, n)."""
    EV = E @ Vh.mT                     # (..., m, n)
    G = U.mT @ EV                      # (..., n, n)
    core = A * G + B * G.mT - G * r.unsqueeze(-2)
    return (U @ core + EV * r.unsqueeze(-2)) @ Vh


class SpectralFunction(torch.autograd.Function):
    """SVD evaluation for tall inputs (m ≥ n); the derivative is its own adjoint."""

    @staticmethod
    def forward(ctx: Any, X: torch.Tensor, act: Activation) -> torch.Tensor:
        U, s, Vh = torch.linalg.svd(X, full_matrices=False)
        ctx.act = act
        ctx.save_for_backward(U, s, Vh)
        return (U * act.g(s).unsqueeze(-2)) @ Vh

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        U, s, Vh = ctx.saved_tensors
        A, B, r = divided_difference(ctx.act, s)
        return apply_derivative(U, Vh, A, B, r, grad_out), None
