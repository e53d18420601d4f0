"""Divided differences of the tanh family, free of cancellation, and its Gram form.

For ``g = tanh``: ``[a, b] = (tanh a − tanh b)/(a − b) = tanhc(a − b)(1 − tanh a tanh b)`` with
``tanhc(x) = tanh(x)/x``. The Gram form ``F(X) = X h(XᵀX)`` uses ``h(λ) = tanhc(√λ)`` and its
divided difference ``[λ_i, λ_j]_h`` on every pair of eigenvalues ``λ`` (..., n) → (..., n, n).
On the CPU the pairwise kernels run as one compiled pass when numba is installed
(:mod:`spectralnn.spectral._kernels`); elsewhere the torch formulas below.
"""

from __future__ import annotations

import torch

from . import _kernels

__all__ = [
    "tanh_divided_difference",
    "tanh_gram_dd",
    "tanh_gram_h",
    "tanh_gram_kernel",
    "tanh_gram_sym",
    "tanhc",
]


def tanhc(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x)/x`` with its value 1 at 0; a Taylor series below |x| < 1e-2 (error < 1e-16).

    The quotient is NaN only at ``x = 0``, where the series is selected; no gradient flows
    through this function (it is only used inside the custom autograd functions)."""
    x2 = x * x
    series = 1.0 + x2 * (-1.0 / 3.0 + (2.0 / 15.0) * x2)
    return torch.where(x.abs() < 1e-2, series, torch.tanh(x) / x)


def tanh_divided_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(tanh a - tanh b)/(a - b) = tanhc(a - b)·(1 - tanh a · tanh b)``: no cancellation."""
    return tanhc(a - b) * (1.0 - torch.tanh(a) * torch.tanh(b))


_TANHC_SERIES = _kernels.TANHC_SERIES   # tanhc(√λ) = Σ_k c_k λ^k
_GRAM_SERIES_BELOW = 1e-2   # series for max(λ_i, λ_j) below this: truncation < 1e-16


def tanh_gram_h(lam: torch.Tensor) -> torch.Tensor:
    """``h(λ) = tanh(√λ)/√λ`` for ``λ ≥ 0`` (one compiled pass on the CPU)."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE and not lam.requires_grad:
        flat = lam.detach().reshape(-1).numpy()
        return torch.from_numpy(_kernels.tanh_gram_h(flat)).reshape(lam.shape)
    return tanhc(torch.sqrt(torch.clamp(lam, min=0.0)))


def tanh_gram_dd(li: torch.Tensor, lj: torch.Tensor) -> torch.Tensor:
    """Divided difference ``(h(λ_i) − h(λ_j))/(λ_i − λ_j)`` of ``h(λ) = tanhc(√λ)``.

    With ``a = √max(λ)``, ``b = √min(λ)``: ``[λ_i, λ_j]_h = (K(a, b) − tanhc(b)) / (a(a + b))``
    where ``K(a, b) = tanhc(a − b)(1 − tanh a tanh b)`` — exact, and well conditioned for
    ``a ≥ 0.1`` (relative error ≲ 300·eps). Below, the Taylor series of h (8 terms).
    """
    li = torch.clamp(li, min=0.0)
    lj = torch.clamp(lj, min=0.0)
    lo, hi = torch.minimum(li, lj), torch.maximum(li, lj)
    small = hi < _GRAM_SERIES_BELOW
    n_small = int(small.sum())       # evaluate only the branches that are needed
    series = closed = None
    if n_small:
        # Σ_k c_k Σ_{p<k} λ_i^p λ_j^(k-1-p), via S_{k+1} = λ_i S_k + λ_j^k.
        S = torch.ones_like(li)
        lj_pow = lj.clone()
        series = torch.full_like(li, _TANHC_SERIES[1])
        for c in _TANHC_SERIES[2:]:
            S = li * S + lj_pow
            lj_pow = lj_pow * lj
            series = series + c * S
        if n_small == small.numel():
            return series
    a = torch.sqrt(torch.where(small, torch.ones_like(hi), hi) if n_small else hi)
    b = torch.sqrt(torch.where(small, torch.zeros_like(lo), lo) if n_small else lo)
    closed = (tanh_divided_difference(a, b) - tanhc(b)) / (a * (a + b))
    return closed if series is None else torch.where(small, series, closed)


def tanh_gram_kernel(lam: torch.Tensor) -> torch.Tensor:
    """``D_ij = [λ_i, λ_j]_h`` for ``h(λ) = tanhc(√λ)`` from eigenvalues ``lam`` (..., n):
    (..., n, n). On the CPU one fused compiled pass (:mod:`spectralnn.spectral._kernels`); elsewhere
    the pairwise torch formula :func:`tanh_gram_dd`."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE:
        flat = lam.detach().reshape(-1, lam.shape[-1]).numpy()
        out = torch.from_numpy(_kernels.tanh_gram_dd(flat))
        return out.reshape(lam.shape + lam.shape[-1:])
    return tanh_gram_dd(lam.unsqueeze(-1), lam.unsqueeze(-2))


def tanh_gram_sym(lam: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``D ∘ (M + Mᵀ)`` for the tanh Gram kernel; fused into one pass on the CPU."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE and M.dtype == lam.dtype:
        n = lam.shape[-1]
        flat = lam.detach().reshape(-1, n).numpy()
        out = _kernels.tanh_gram_dd(flat, M.detach().reshape(-1, n, n).numpy())
        return torch.from_numpy(out).reshape(M.shape)
    return tanh_gram_kernel(lam) * (M + M.mT)
