"""Factored evaluation of an SNN: the exact network on ``R×R`` cores, never a ``d1×d2`` matrix.

**Forward.** With inputs ``Q⁽⁰⁾_k = U_k V_kᵀ`` (``U_k``: d1×r, ``V_k``: d2×r, ``k = 1..L0``), let
``P`` (d1×R1) and ``Q`` (d2×R2) be orthonormal bases whose spans contain the columns of
``𝐔 = [U_1 … U_L0]`` and ``𝐕 = [V_1 … V_L0]`` (thin Householder QR, which always gives such a
basis, even for a rank-deficient ``𝐔``; ``R1 = min(d1, L0·r)``). Then
``Q⁽⁰⁾_k = P C_k Qᵀ`` with ``C_k = (PᵀU_k)(QᵀV_k)ᵀ``, and for a spectral activation with
``f(0) = 0``, ``F(P C Qᵀ) = P F(C) Qᵀ``; mixing keeps the form, so

    X = P · N(C_1 … C_L0) · Qᵀ,

the same SNN run on ``R1×R2`` cores: ``O((d1 + d2)·R² + L·R³)`` per forward instead of
``O(L·d³)``. Entries are ``X_ij = (P N)_i · Q_j`` (:func:`sampled_product`), ``O(R)`` each.

**Backward (hand-derived, no differentiation through the basis).** At ``X = P C Qᵀ`` the
derivative of ``F`` acts block-wise on a direction ``E`` (``P⊥ = I − PPᵀ``, ``Q⊥ = I − QQᵀ``,
``h(λ) = f(√λ)/√λ`` with ``h(0) = f'(0)``, so that ``F(X) = X h(XᵀX)``):

    DF(X)[E] = P·DF(C)[PᵀEQ]·Qᵀ + P⊥EQ·h(CᵀC)·Qᵀ + P·h(CCᵀ)·PᵀEQ⊥ + f'(0)·P⊥EQ⊥.

Each block is mapped to itself, so a perturbation ``δU_k = P a + P⊥ b`` of the inputs moves
``X`` by the core network's derivative in ``a`` plus ``P⊥ b · V̂_kᵀ · T_k · Qᵀ``, where
``V̂_k = QᵀV_k`` and ``T_k`` (r×R2) is the product of the right factors ``h(CᵀC)`` and the mixing
weights along the network (likewise ``P · S_k · b'ᵀ`` for ``δV_k = Q a' + Q⊥ b'``; the
``P⊥·Q⊥`` block is never reached at first order). The differentiable output is therefore

    X̃ = P N Qᵀ + (P⊥𝐔)₀ · T · Qᵀ + P · S · (Q⊥𝐕)₀ᵀ = [P N + (P⊥𝐔)₀ T,  P S] · [Q, (Q⊥𝐕)₀]ᵀ

with ``P, Q, T, S`` treated as constants and ``(·)₀`` a term whose value is set to exactly 0
while its gradient is kept (a custom function whose forward
returns zeros without computing the projection): ``X̃ = X`` in value and ``∇X̃ = ∇X`` exactly,
and autograd runs only on cores, ``P⊥𝐔`` and the gather.

**Why not autograd through a differentiable QR.** ``∂P/∂𝐔`` involves ``R⁻¹`` of ``𝐔 = P R``.
At the paper's identity initialisation the ``L0`` blocks of ``𝐔`` are ``ε·I`` plus ``10⁻⁶``
jitter, so ``R`` has singular values ``~ε`` and ``~10⁻⁶``; without jitter (or with repeated
inputs) it is exactly singular and the QR gradient is ``inf``/NaN. The route above never inverts
anything: its only decompositions are of ``C`` (the same spectral derivative as the dense path)
and a forward-only QR. Measured (``benchmarks/factored_gradient.py``; 60×40, widths [2, 2],
rank 4; relative gradient error against the dense float64 path):

    init                          hand f64  QR f64   hand f32  QR f32   dense f32
    identity ε=1e-4, jitter 1e-6  1.8e-15   3.1e-15  5.8e-07   2.3e-06  7.0e-07
    identity ε=1e-2, jitter 1e-6  1.7e-15   3.2e-13  5.6e-07   2.8e-04  9.3e-07
    identity ε=1e-2, no jitter    1.4e-16   NaN      1.1e-07   NaN      5.8e-08
    random                        3.4e-15   3.2e-15  6.5e-07   5.2e-07  1.7e-06
    spectral (span 𝐔 has rank r)  1.7e-15   1.7      4.4e-07   2.3      7.3e-07

The QR route loses ``cond(R)`` digits and is wrong (or NaN) whenever ``𝐔`` is rank-deficient
— at the spectral init all ``U_k`` share the columns of Φ — while the hand route is as
accurate as the dense path everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _sparse_kernels as _sk
from .errors import ConfigError, ShapeError
from .spectral import Activation, get_activation, spectral_apply

__all__ = ["EVALUATIONS", "LowRank", "factored_output", "sampled_product", "use_factored"]

#: Accepted values of ``SNN(evaluation=...)``.
EVALUATIONS = ("auto", "dense", "factored")

#: Largest dense ``d1·d2`` that :meth:`LowRank.dense` forms without being asked to (elements).
DENSE_LIMIT = 2**28

_CHUNK_ELEMENTS = 2**22  # gathered entries × rank held at once by sampled_product


def use_factored(evaluation: str, shape: tuple[int, int], L0: int, rank: int) -> bool:
    """Whether ``evaluation`` picks the factored path: always for ``"factored"``, never for
    ``"dense"``, and for ``"auto"`` when ``R = L0·rank < min(d1, d2)``."""
    if evaluation == "factored":
        return True
    if evaluation == "dense":
        return False
    return L0 * rank < min(shape)


# ----------------------------------------------------------------------------- gathering


def _numba_ok(*ts: torch.Tensor) -> bool:
    return _sk.AVAILABLE and all(t.device.type == "cpu" for t in ts)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _gather_rows(left: torch.Tensor, right: torch.Tensor, rows: torch.Tensor,
                 cols: torch.Tensor, k: int) -> torch.Tensor:
    """``Σ_{j<k} left[rows_i, j]·right[cols_i, j]``: (n,)."""
    if _numba_ok(left, right):
        return torch.from_numpy(_sk.gather_dot(_np(left), _np(right), _np(rows), _np(cols), k))
    n = rows.numel()
    out = torch.empty(n, dtype=left.dtype, device=left.device)
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    for a in range(0, n, step):
        b = min(n, a + step)
        out[a:b] = (left[rows[a:b], :k] * right[cols[a:b], :k]).sum(-1)
    return out


def _scatter_rows(g: torch.Tensor, idx: torch.Tensor, other: torch.Tensor,
                  other_idx: torch.Tensor, size: int, k: int, start: int = 0) -> torch.Tensor:
    """``Σ_i g_i e_{idx_i} other[other_idx_i, start:k]``: (size, other.shape[1]), zero outside
    columns ``start:k``."""
    if _numba_ok(g, other):
        return torch.from_numpy(_sk.scatter_add_rows(_np(g), _np(idx), _np(other),
                                                     _np(other_idx), size, k, start))
    out = torch.zeros(size, other.shape[1], dtype=other.dtype, device=other.device)
    step = max(1, _CHUNK_ELEMENTS // max(k - start, 1))
    for a in range(0, g.numel(), step):
        b = min(g.numel(), a + step)
        out[:, start:k].index_add_(0, idx[a:b],
                                   g[a:b].unsqueeze(-1) * other[other_idx[a:b], start:k])
    return out


class _SampledProduct(torch.autograd.Function):
    """``z_i = left[rows_i, :kv] · right[cols_i, :kv]`` and its adjoint, O(n·k) time, no (n, k)
    temporaries. Columns from ``kv`` on contribute 0 to the value (``right[:, kv:]`` is zero
    in value), so the forward skips them and ``∂/∂left[:, kv:] = S·right[:, kv:] = 0``;
    ``right[:, :fixed]`` is declared gradient-free, so ``∂/∂right`` skips those columns (they
    are returned as 0)."""

    @staticmethod
    def forward(ctx: Any, left: torch.Tensor, right: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor, kv: int, fixed: int) -> torch.Tensor:
        ctx.save_for_backward(left, right, rows, cols)
        ctx.kv = kv
        ctx.fixed = fixed
        return _gather_rows(left, right, rows, cols, kv)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None,
                                                     None, None, None, None]:
        left, right, rows, cols = ctx.saved_tensors
        g = g.contiguous()
        gl = gr = None
        if ctx.needs_input_grad[0]:
            gl = _scatter_rows(g, rows, right, cols, left.shape[0], ctx.kv)
        if ctx.needs_input_grad[1]:
            gr = _scatter_rows(g, cols, left, rows, right.shape[0], left.shape[1], ctx.fixed)
        return gl, gr, None, None, None, None


def sampled_product(left: torch.Tensor, right: torch.Tensor, rows: torch.Tensor,
                    cols: torch.Tensor, *, value_cols: int | None = None,
                    fixed_cols: int = 0) -> torch.Tensor:
    """Entries ``(left @ rightᵀ)[rows, cols]`` without forming the product.

    Args:
        left: (…, d1, k); right: (…, d2, k) with the same leading batch shape.
        rows, cols: (n,) integer indices.
        value_cols: when the columns of ``right`` from this one on are zero in value (but carry
            gradients), skip them in the forward (default: ``k``, none skipped).
        fixed_cols: the first ``fixed_cols`` columns of ``right`` are constants of the caller
            (their gradient is discarded): the backward returns 0 there without computing it.

    Returns:
        (…, n). Differentiable in ``left`` and ``right``; the backward is a scatter-add,
        ``∂/∂left = S·right`` with ``S`` the sparse (d1×d2) matrix of upstream gradients.
        A numba loop on the CPU, a chunked torch gather elsewhere.
    """
    kv = left.shape[-1] if value_cols is None else int(value_cols)
    fixed = int(fixed_cols)
    rows = rows.to(device=left.device, dtype=torch.int64)
    cols = cols.to(device=left.device, dtype=torch.int64)
    batch = left.shape[:-2]
    if batch:
        Lf = left.reshape(-1, *left.shape[-2:])
        Rf = right.reshape(-1, *right.shape[-2:])
        out = torch.stack([_SampledProduct.apply(a, b, rows, cols, kv, fixed)
                           for a, b in zip(Lf, Rf)])
        return out.reshape(*batch, rows.numel())
    return _SampledProduct.apply(left, right, rows, cols, kv, fixed)


# ----------------------------------------------------------------------------- low rank


@dataclass
class LowRank:
    """A matrix (or a batch) held as ``X = left @ rightᵀ``.

    Attributes:
        left: (…, d1, k); right: (…, d2, k).
        value_cols: ``right[..., value_cols:]`` is zero in value (it only carries gradients;
            see :func:`factored_output`); ``None``: every column counts.
        fixed_cols: ``right[..., :fixed_cols]`` is a constant (no gradient flows to it), so
            :meth:`entries` skips its part of the backward; 0: every column may need one.
    """

    left: torch.Tensor
    right: torch.Tensor
    value_cols: int | None = None
    fixed_cols: int = 0

    # ---- tensor-like views (what the trainer's bookkeeping needs)
    @property
    def shape(self) -> torch.Size:
        """``(…, d1, d2)``, the shape of the dense matrix."""
        return torch.Size((*self.left.shape[:-1], self.right.shape[-2]))

    @property
    def dtype(self) -> torch.dtype:
        return self.left.dtype

    @property
    def device(self) -> torch.device:
        return self.left.device

    @property
    def rank_bound(self) -> int:
        """``k``, an upper bound on the rank."""
        return int(self.left.shape[-1])

    def dim(self) -> int:
        return self.left.dim()

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> LowRank:
        return LowRank(fn(self.left), fn(self.right), self.value_cols, self.fixed_cols)

    def detach(self) -> LowRank:
        """Detached, and without the zero-valued gradient columns."""
        k = self.rank_bound if self.value_cols is None else self.value_cols
        return LowRank(self.left[..., :k].detach(), self.right[..., :k].detach())

    def clone(self) -> LowRank:
        return self._map(torch.clone)

    def cpu(self) -> LowRank:
        return self._map(lambda t: t.cpu())

    def to(self, *args: Any, **kwargs: Any) -> LowRank:
        return self._map(lambda t: t.to(*args, **kwargs))

    def unsqueeze(self, dim: int) -> LowRank:
        if dim != 0:
            raise ShapeError(f"LowRank.unsqueeze supports dim=0 only, got {dim}")
        return self._map(lambda t: t.unsqueeze(0))

    def __getitem__(self, idx: Any) -> LowRank:
        """Select along the leading batch dimension(s)."""
        return self._map(lambda t: t[idx])

    # ---- maths
    def dense(self, max_elements: int = DENSE_LIMIT) -> torch.Tensor:
        """``left @ rightᵀ``: (…, d1, d2); refuses above ``max_elements`` entries per matrix."""
        d1, d2 = self.shape[-2:]
        if d1 * d2 > max_elements:
            raise ConfigError(f"forming the dense {d1}×{d2} matrix needs {d1 * d2} elements; "
                              f"expected at most max_elements = {max_elements}")
        return self.left @ self.right.mT

    def entries(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``X[…, rows, cols]``: (…, n), O(n·k), differentiable (:func:`sampled_product`)."""
        return sampled_product(self.left, self.right, rows, cols, value_cols=self.value_cols,
                               fixed_cols=self.fixed_cols)

    def svdvals(self) -> torch.Tensor:
        """Singular values of ``X`` from the factors: (…, min(d1, d2, k)), descending.

        ``left = Q_l R_l``, ``right = Q_r R_r`` (thin QR) give ``X = Q_l (R_l R_rᵀ) Q_rᵀ``, so
        ``σ(X) = σ(R_l R_rᵀ)``: O((d1 + d2)·k²) instead of an SVD of X.
        """
        Rl = torch.linalg.qr(self.left, mode="r").R
        Rr = torch.linalg.qr(self.right, mode="r").R
        s = torch.linalg.svdvals(Rl @ Rr.mT)
        return s[..., : min(self.shape[-2], self.shape[-1], s.shape[-1])]

    def frobenius_sq(self) -> torch.Tensor:
        """``‖X‖_F² = tr((leftᵀleft)(rightᵀright))``: (…)."""
        return ((self.left.mT @ self.left) * (self.right.mT @ self.right)).sum((-2, -1))


# Training states hold the last iterate of a factored model as a LowRank: let checkpoints
# written with torch.save load with torch.load(weights_only=True) (tensors and an int only).
torch.serialization.add_safe_globals([LowRank])


# ----------------------------------------------------------------------------- the network


def _h_matrices(C: torch.Tensor, act: Activation) -> tuple[torch.Tensor, torch.Tensor]:
    """``h(CCᵀ)`` (…, R1, R1) and ``h(CᵀC)`` (…, R2, R2), ``h(λ) = f(√λ)/√λ``, ``h(0) = f'(0)``."""
    W, s, Zh = torch.linalg.svd(C, full_matrices=True)
    R1, R2 = C.shape[-2], C.shape[-1]
    zero = torch.zeros((), dtype=C.dtype, device=C.device)
    rho = act.dd(s, torch.zeros_like(s))
    rho0 = act.dd(zero, zero)
    pad = lambda n: torch.cat([rho, rho0.expand(*rho.shape[:-1], n - rho.shape[-1])], -1)  # noqa: E731
    left = (W * pad(R1).unsqueeze(-2)) @ W.mT
    right = (Zh.mT * pad(R2).unsqueeze(-2)) @ Zh
    return left, right


class _ZeroPerp(torch.autograd.Function):
    """``(P⊥ X)₀ · T``: value exactly 0 (never computed), gradient that of ``P⊥ X T`` in ``X``
    (``P`` orthonormal, ``P⊥ = I − PPᵀ``; ``P`` and ``T`` constants; ``T = None``: identity).
    Skips the forward products ``X − P(PᵀX)`` and ``(·)T`` whose value would be discarded."""

    @staticmethod
    def forward(ctx: Any, X: torch.Tensor, P: torch.Tensor, T: torch.Tensor | None,
                cols: int) -> torch.Tensor:
        ctx.save_for_backward(P, T)
        return X.new_zeros(*X.shape[:-1], cols)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        P, T = ctx.saved_tensors
        gx = g if T is None else g @ T.mT
        return gx - P @ (P.mT @ gx), None, None, None


def _zero_perp(X: torch.Tensor, P: torch.Tensor, T: torch.Tensor | None = None) -> torch.Tensor:
    """``(P⊥ X)₀ · T`` (:class:`_ZeroPerp`): (…, d, T's columns), zero in value."""
    cols = X.shape[-1] if T is None else T.shape[-1]
    return _ZeroPerp.apply(X, P, T, cols)


def factored_output(U: torch.Tensor, V: torch.Tensor, alphas: Sequence[torch.Tensor],
                    activation: str | Activation | tuple = "tanh", *, method: str = "auto",
                    basis_gradient: bool = False) -> LowRank:
    """The SNN's output ``X = P N Qᵀ`` as a differentiable :class:`LowRank` (module doc).

    Args:
        U: (…, L0, d1, r); V: (…, L0, d2, r): the factorized inputs ``Q⁽⁰⁾_k = U_k V_kᵀ``.
        alphas: mixing weights ``α⁽ⁱ⁾`` of shapes (…, L_{i-1}, L_i), the last with L = 1.
        activation, method: as for :func:`~spectralnn.spectral.spectral_apply` (on cores).
        basis_gradient: differentiate through the QR of ``𝐔, 𝐕`` instead of the hand-derived
            route (kept for the conditioning comparison; ill-conditioned at identity inits).

    Returns:
        ``LowRank(left, right)`` with ``left`` (…, d1, R2 + L0·r) and ``right``
        (…, d2, R2 + L0·r) (``left`` (…, d1, R2), ``right = Q`` with ``basis_gradient``);
        ``left @ rightᵀ`` equals the dense network's output, value and gradient;
        ``value_cols = R2`` (the last ``L0·r`` columns of ``right`` are zero in value) and
        ``fixed_cols = R2`` (the first ``R2``, ``Q``, are constants).
    """
    act = get_activation(activation)
    L0, d1, r = U.shape[-3:]
    d2 = V.shape[-2]
    batch = U.shape[:-3]
    Ub = U.transpose(-3, -2).reshape(*batch, d1, L0 * r)       # 𝐔 = [U_1 … U_L0]
    Vb = V.transpose(-3, -2).reshape(*batch, d2, L0 * r)
    if basis_gradient:
        P = torch.linalg.qr(Ub).Q
        Q = torch.linalg.qr(Vb).Q
    else:
        with torch.no_grad():
            P = torch.linalg.qr(Ub.detach()).Q                  # (…, d1, R1)
            Q = torch.linalg.qr(Vb.detach()).Q                  # (…, d2, R2)
    Uh = P.mT.unsqueeze(-3) @ U                                 # (…, L0, R1, r)
    Vh = Q.mT.unsqueeze(-3) @ V                                 # (…, L0, R2, r)
    C = Uh @ Vh.mT                                              # (…, L0, R1, R2)
    R1, R2 = C.shape[-2:]
    layer_inputs = []
    for alpha in alphas:
        layer_inputs.append(C)
        FC = spectral_apply(C, act, method=method)
        C = (alpha.mT @ FC.flatten(-2)).unflatten(-1, (R1, R2))
    N = C.squeeze(-3)                                           # (…, R1, R2)
    PN = P @ N
    if basis_gradient:
        return LowRank(PN, Q)

    with torch.no_grad():
        # T[k] (r×R2) and S[k] (R1×r): the right / left factor chains of the P⊥·Q and P·Q⊥
        # blocks. Tc[..., k, l]: contribution of input k to block l of the current layer.
        eye = torch.eye(L0, dtype=U.dtype, device=U.device)
        Tc = eye[..., :, :, None, None] * Vh.detach().mT.unsqueeze(-4)   # (…, L0, L0, r, R2)
        Sc = eye[..., :, :, None, None] * Uh.detach().unsqueeze(-4)      # (…, L0, L0, R1, r)
        for Cin, alpha in zip(layer_inputs, alphas):
            Hl, Hr = _h_matrices(Cin.detach(), act)                      # (…, K, R1|R2, ·)
            a = alpha.detach()
            Tc = torch.einsum("...kjab,...jbc,...jl->...klac", Tc, Hr, a)
            Sc = torch.einsum("...jab,...kjbc,...jl->...klac", Hl, Sc, a)
        T = Tc.squeeze(-3).reshape(*batch, L0 * r, R2)                  # (…, L0·r, R2)
        S = Sc.squeeze(-3).transpose(-3, -2).reshape(*batch, R1, L0 * r)  # (…, R1, L0·r)
    Pd, Qd = P.detach(), Q.detach()
    UperpT = _zero_perp(Ub, Pd, T)                              # (…, d1, R2), value 0
    Vperp = _zero_perp(Vb, Qd)                                  # (…, d2, L0·r), value 0
    left = torch.cat([PN + UperpT, P @ S], -1)
    right = torch.cat([Q.expand(*batch, d2, R2), Vperp], -1)
    return LowRank(left, right, value_cols=R2, fixed_cols=R2)
