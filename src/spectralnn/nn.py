"""Spectral Neural Networks (Chu, Ghosh, Lam, Mukherjee 2024, Figure 1).

An SNN with widths ``[L_0, L_1, ..., L_{D-1}]`` computes

    Q⁽⁰⁾_k = U_k V_kᵀ,                               k = 1..L_0   (U_k: d1×r, V_k: d2×r)
    Q⁽ⁱ⁾_l = Σ_k α⁽ⁱ⁾_{kl} f(Q⁽ⁱ⁻¹⁾_k),               l = 1..L_i   (α⁽ⁱ⁾: L_{i-1}×L_i)
    X      = Σ_k α⁽ᴰ⁾_{k1} f(Q⁽ᴰ⁻¹⁾_k)                              (α⁽ᴰ⁾: L_{D-1}×1)

with ``f`` a spectral activation (:func:`spectralnn.spectral.spectral_apply`). Widths
``[4, 8, 16]`` thus give α of shapes 4×8, 8×16 and 16×1: three batched SVDs per forward pass,
one per layer, and no Python loop over blocks.

Every parameter may carry a leading batch of ``replicas`` independent networks (for example one
per learning rate of a sweep); the output is then ``(replicas, d1, d2)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .errors import ConfigError, ShapeError, unknown_name
from .factored import EVALUATIONS, LowRank, factored_output, use_factored
from .spectral import METHODS, Activation, get_activation, spectral_apply
from .validate import positive_int, positive_number, seed_int, shape_pair
from .validate import replicas as check_replicas

__all__ = ["INITS", "SNN", "SpectralActivation", "random_orthogonal"]

INITS = ("identity", "spectral", "random", "diag")
_DEFAULT_SCALE = {"identity": 1e-4, "spectral": 1.0, "random": 1e-2, "diag": 1.0}


class SpectralActivation(nn.Module):
    """``X ↦ U f(Σ) Vᵀ`` as a module; input and output (..., d1, d2)."""

    def __init__(self, activation: str | Activation | tuple = "tanh", **params: float) -> None:
        super().__init__()
        self.activation = get_activation(activation, **params)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return spectral_apply(X, self.activation)

    def extra_repr(self) -> str:
        return self.activation.name


def random_orthogonal(n: int, generator: torch.Generator, dtype: torch.dtype = torch.float64,
                      ) -> torch.Tensor:
    """Haar-distributed ``n×n`` orthogonal matrix (QR of a Gaussian with sign correction)."""
    Z = torch.randn(n, n, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(Z)
    return (Q * torch.sign(torch.diagonal(R)).unsqueeze(0)).to(dtype)


def _check_widths(widths: Sequence[int]) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) == 0:
        raise ConfigError(f"widths must be a non-empty list of positive integers, got {widths!r}")
    out = []
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w <= 0:
            raise ConfigError(f"widths must be positive integers, got {w!r} in {list(widths)!r}")
        out.append(int(w))
    return out




def _check_orthonormal(M: torch.Tensor | None, rows: int, cols: int, what: str) -> torch.Tensor:
    if M is None:
        raise ConfigError(f"init='spectral' needs {what} (a {rows}×{rows} orthogonal matrix or "
                          f"{rows}×k with orthonormal columns, k ≥ {cols})")
    M = torch.as_tensor(M, dtype=torch.float64)
    if M.dim() != 2 or M.shape[0] != rows or M.shape[1] < cols:
        raise ShapeError(f"{what} must have shape ({rows}, k) with k ≥ {cols}, "
                         f"got {tuple(M.shape)}")
    M = M[:, :cols]
    err = float((M.mT @ M - torch.eye(cols, dtype=torch.float64)).abs().max())
    if not math.isfinite(err) or err > 1e-6:
        raise ConfigError(f"{what} must have orthonormal columns (max |MᵀM - I| = {err:.2e}, "
                          "expected ≤ 1e-6)")
    return M


class SNN(nn.Module):
    """Spectral Neural Network producing one ``d1×d2`` matrix.

    Args:
        shape: ``(d1, d2)`` of the output matrix.
        widths: ``[L_0, L_1, ...]``: L_0 factorized inputs, then one layer of blocks per entry;
            a final single block is always added.
        activation: spectral activation name (``"identity"`` gives the paper's model "without
            activation"), an :class:`~spectralnn.spectral.Activation` or a pair ``(f, f')``.
        init: ``"identity"`` (``U_k = V_k = ε·I`` plus Gaussian jitter), ``"spectral"``
            (Assumption 2: ``U_k = Φ diag(ū_k) G``, ``V_k = Ψ diag(v̄_k) G`` with ū, v̄ sorted
            uniform(0, 1)·scale and ``G`` Haar orthogonal), ``"random"`` (iid N(0, scale²)
            entries) or ``"diag"`` (spectral with Φ = I, Ψ = I, G = I).
        rank: factor rank r (default ``min(d1, d2)``).
        init_scale: ε for identity, scale of ū, v̄ for spectral/diag, entry std for random.
            Defaults: 1e-4, 1, 1, 1e-2.
        jitter: std of the Gaussian jitter added to the identity init (default 1e-6).
        phi, psi: Φ (d1×r') and Ψ (d2×r') with orthonormal columns, r' ≥ r, for spectral init.
        method: evaluation of the spectral activation, ``"auto"``, ``"svd"`` or ``"gram"``
            (see :func:`~spectralnn.spectral.spectral_apply`).
        evaluation: ``"dense"`` (every layer on d1×d2 matrices), ``"factored"`` (the exact
            network on R×R cores, ``R = L_0·rank``, see :mod:`spectralnn.factored`) or
            ``"auto"`` (factored when ``R < min(d1, d2)``). Both give the same X and gradient.
        replicas: if given, a leading batch of that many independent networks, each with its own
            draw from the same generator; output ``(replicas, d1, d2)``.
        seed: seed of the ``torch.Generator`` used for all randomness (bit-for-bit repeatable).
        dtype, device: of the parameters.

    Attributes:
        U: (…, L_0, d1, r), V: (…, L_0, d2, r) parameters; ``alphas``: list of (…, L_{i-1}, L_i).
        spectral_init: for init ``"spectral"``/``"diag"``, the dict ``{"u": (…, L_0, r),
            "v": (…, L_0, r), "G": (…, r, r)}`` drawn at construction (used by the theory code).
    """

    def __init__(
        self,
        shape: Sequence[int],
        widths: Sequence[int] = (4, 8, 16),
        activation: str | Activation | tuple = "tanh",
        init: str = "identity",
        *,
        rank: int | None = None,
        init_scale: float | None = None,
        jitter: float = 1e-6,
        phi: torch.Tensor | None = None,
        psi: torch.Tensor | None = None,
        replicas: int | None = None,
        method: str = "auto",
        evaluation: str = "auto",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        d1, d2 = shape_pair(shape)
        self.shape = (d1, d2)
        self.widths = _check_widths(widths)
        self.activation = get_activation(activation)
        if init not in INITS:
            raise unknown_name("init", init, INITS)
        self.init = init
        if method not in METHODS:
            raise unknown_name("method", method, METHODS)
        self.method = method
        if evaluation not in EVALUATIONS:
            raise unknown_name("evaluation", evaluation, EVALUATIONS)
        self.evaluation = evaluation
        self.rank = r = min(d1, d2) if rank is None else positive_int(rank, "rank")
        self.replicas = check_replicas(replicas)
        scale = (_DEFAULT_SCALE[init] if init_scale is None
                 else positive_number(init_scale, "init_scale"))
        self.init_scale = scale
        self.seed = seed = seed_int(seed)

        gen = torch.Generator().manual_seed(seed)
        batch = () if replicas is None else (replicas,)
        L0 = self.widths[0]
        f64 = torch.float64
        self.spectral_init: dict[str, torch.Tensor] | None = None
        if init == "identity":
            eye_u = torch.eye(d1, r, dtype=f64)
            eye_v = torch.eye(d2, r, dtype=f64)
            U = scale * eye_u + jitter * torch.randn(*batch, L0, d1, r, generator=gen, dtype=f64)
            V = scale * eye_v + jitter * torch.randn(*batch, L0, d2, r, generator=gen, dtype=f64)
        elif init == "random":
            U = scale * torch.randn(*batch, L0, d1, r, generator=gen, dtype=f64)
            V = scale * torch.randn(*batch, L0, d2, r, generator=gen, dtype=f64)
        else:
            if init == "spectral":
                Phi = _check_orthonormal(phi, d1, r, "phi")
                Psi = _check_orthonormal(psi, d2, r, "psi")
            else:
                Phi, Psi = torch.eye(d1, r, dtype=f64), torch.eye(d2, r, dtype=f64)
            u = scale * torch.rand(*batch, L0, r, generator=gen, dtype=f64)
            v = scale * torch.rand(*batch, L0, r, generator=gen, dtype=f64)
            u = torch.sort(u, dim=-1, descending=True).values
            v = torch.sort(v, dim=-1, descending=True).values
            if init == "spectral":
                G = torch.stack([random_orthogonal(r, gen) for _ in range(math.prod(batch))])
                G = G.reshape(*batch, r, r)
            else:
                G = torch.eye(r, dtype=f64).expand(*batch, r, r).clone()
            Gk = G.unsqueeze(-3)  # broadcast over the L_0 inputs
            U = (Phi * u.unsqueeze(-2)) @ Gk
            V = (Psi * v.unsqueeze(-2)) @ Gk
            self.spectral_init = {"u": u, "v": v, "G": G}

        self.U = nn.Parameter(U.to(dtype=dtype, device=device))
        self.V = nn.Parameter(V.to(dtype=dtype, device=device))
        fan = [*self.widths, 1]
        self.alphas = nn.ParameterList(
            nn.Parameter(torch.rand(*batch, fan[i], fan[i + 1], generator=gen, dtype=f64)
                         .to(dtype=dtype, device=device))
            for i in range(len(self.widths))
        )

    def inputs(self) -> torch.Tensor:
        """The factorized inputs ``Q⁽⁰⁾_k = U_k V_kᵀ``: (…, L_0, d1, d2)."""
        return self.U @ self.V.mT

    @property
    def factored(self) -> bool:
        """Whether :meth:`forward` runs on cores (``evaluation`` and the sizes decide)."""
        return use_factored(self.evaluation, self.shape, self.widths[0], self.rank)

    def low_rank(self) -> LowRank:
        """The output as ``X = left @ rightᵀ`` (``left``: (…, d1, k), ``right``: (…, d2, k),
        ``k ≤ 2·L_0·rank``), computed on cores; differentiable, exact (value and gradient)."""
        return factored_output(self.U, self.V, list(self.alphas), self.activation,
                               method=self.method)

    def entries(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """``X[…, rows, cols]``: (n,) or (replicas, n), differentiable. With factored evaluation
        gathered from the factors in O(n·R) without forming X."""
        rows, cols = _check_index_pair(rows, cols, self.shape, self.U.device)
        if self.factored:
            return self.low_rank().entries(rows, cols)
        return self.forward()[..., rows, cols]

    def forward(self) -> torch.Tensor:
        """The network's output matrix X: (d1, d2), or (replicas, d1, d2)."""
        if self.factored:
            return self.low_rank().dense(max_elements=self.shape[0] * self.shape[1])
        Q = self.inputs()
        for alpha in self.alphas:
            # (…, K, d1, d2) × (…, K, L) -> (…, L, d1, d2): one batched SVD per layer.
            FQ = spectral_apply(Q, self.activation, method=self.method)
            Q = (alpha.mT @ FQ.flatten(-2)).unflatten(-1, self.shape)
        return Q.squeeze(-3)

    def extra_repr(self) -> str:
        rep = "" if self.replicas is None else f", replicas={self.replicas}"
        return (f"shape={self.shape}, widths={self.widths}, activation={self.activation.name}, "
                f"init={self.init!r}, rank={self.rank}, evaluation={self.evaluation!r}{rep}")


def _check_index_pair(rows: object, cols: object, shape: tuple[int, int],
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer (n,) tensors ``rows``, ``cols`` inside ``shape``, on ``device``."""
    out = []
    for name, t, size in (("rows", rows, shape[0]), ("cols", cols, shape[1])):
        t = torch.as_tensor(t)
        if t.dim() != 1:
            raise ShapeError(f"{name} has shape {tuple(t.shape)}; expected (n,)")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ConfigError(f"{name} has dtype {t.dtype}; expected an integer dtype")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= size):
            bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
            raise ConfigError(f"{name} contains {bad}; expected 0 ≤ index < {size}")
        out.append(t.to(device=device, dtype=torch.int64))
    if out[0].numel() != out[1].numel():
        raise ShapeError(f"rows has {out[0].numel()} entries and cols {out[1].numel()}; "
                         "expected the same number")
    return out[0], out[1]
