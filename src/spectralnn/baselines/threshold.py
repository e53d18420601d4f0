"""Singular value soft-thresholding, the proximal map of the nuclear norm — the one shared by
every iterative solver (SVT, soft-impute / proximal gradient, the noise-aware nuclear norm):

    S_τ(Y) = U diag(max(σ − τ, 0)) Vᵀ,     Y = U diag(σ) Vᵀ (thin SVD),

``S_τ(Y) = argmin_X ½‖X − Y‖_F² + τ‖X‖_*`` (Cai, Candès & Shen 2010, Thm. 2.1).
"""

from __future__ import annotations

import torch

__all__ = ["soft_threshold"]


def soft_threshold(Y: torch.Tensor, tau: float) -> tuple[torch.Tensor, int]:
    """``S_τ(Y)`` for a ``(d1, d2)`` matrix and its rank (the number of singular values above
    ``τ``); only those ``k`` singular triplets are multiplied back."""
    U, s, Vh = torch.linalg.svd(Y, full_matrices=False)
    s = (s - tau).clamp_min(0.0)
    k = int((s > 0).sum())
    return (U[:, :k] * s[:k]) @ Vh[:k], k
