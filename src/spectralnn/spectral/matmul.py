"""Matmul-only evaluation of ``a·tanh(b·s)`` on singular values (tanh, shifted sigmoid).

With ``t = tanh(y)``, ``tanh(2y) = 2t/(1 + t²)``; for a matrix, ``T ↦ 2T(I + TᵀT)⁻¹`` maps every
singular value ``t`` to ``2t/(1 + t²)`` and keeps the singular vectors. For tall
``X`` (m ≥ n; wide inputs are transposed by the caller, so the Gram side is the smaller one):

1. ``G = XᵀX``, ``S = max (Σσ⁸)^{1/8} = max ‖G²‖_F^{1/4} ≥ σ_max(X)`` over the batch (``G²`` is
   a power the start needs anyway; tighter than ``‖X‖_F``), ``k = max(0, ⌈log₂(S/s₀)⌉)`` with
   ``s₀ = 2``, ``Y = X/2^k`` (exact: a power of two), so every singular value of ``Y`` lies in
   ``[0, s₀]``;
2. start ``T = Y·q(YᵀY)`` with ``q`` the Chebyshev interpolant of ``h(λ) = tanh(√λ)/√λ`` on
   ``[0, s₀²]`` in the centred variable ``2λ/s₀² − 1`` (degree ``N_q``: 11 in float32, 20 in
   float64 by default), evaluated by Paterson–Stockmeyer (about ``2√N_q`` products);
3. ``k`` doublings ``T ← 2T(I + TᵀT)⁻¹``: the inverse by a Cholesky solve
   (``inverse="cholesky"``) or by the Chebyshev interpolant of ``1/(1 + μ)`` on ``[0, 1.05]``
   in ``M = TᵀT`` (``inverse="poly"``: products only, degree ``N_inv``: 10 / 18).

**Error bound** (spectral norm of ``F̂(X) − F(X)`` for ``F = tanh`` on singular values). Write
the start as ``p(y) = tanh(y')`` with ``|y' − y| ≤ ρ·y`` (``ρ``: the largest relative *argument*
error ``|artanh(p(y))/y − 1|`` on ``(0, s₀]``). Exact doublings then give ``tanh(2^k y')``, and
``2^k y' = s(1 ± ρ)`` for ``s = 2^k y``, so the error is at most
``ρ·s·sech²(s(1 − ρ)) ≤ 0.448·ρ/(1 − ρ)`` whatever ``k``: the number of doublings does not
amplify it. A relative error ``δ`` of the polynomial inverse moves the argument of the next level
by ``δ·sinh(2y)/2`` and the final value by at most ``δ·tanh(s) ≤ δ``, to first order; over ``k``
doublings, ``k·δ``. Rounding adds about ``u·σ_max`` (the input's own) and ``u·√n`` per product
stage (``u`` the unit roundoff);
:func:`error_bound` returns the sum, with the rounding term an estimate (checked by the tests),
the other two certified (``ρ``, ``δ`` are maxima on a dense grid, times 1.25). Every entry of the
derivative is a divided difference of the scalar map, so autograd through the chain is within
``sup |e'|`` of the exact derivative, with ``e`` the scalar error.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from ..errors import ConfigError
from ..validate import int_at_least

__all__ = [
    "INVERSES",
    "MatmulPlan",
    "default_tol",
    "doublings_for",
    "error_bound",
    "input_norm_bound",
    "matmul_options",
    "plan",
    "tanh_matmul",
]

INVERSES = ("auto", "poly", "cholesky")
S0 = 2.0            # start interval of the singular values of Y = X/2^k
_INV_HI = 1.05      # interval of μ = eig(TᵀT) for the polynomial inverse (t ≤ 1 plus rounding)
_MARGIN = 1.25      # safety factor on grid maxima
_U_SCALE = 0.448    # max_u u·sech²(u)
_DEFAULT_TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def default_tol(dtype: torch.dtype) -> float:
    """Default bound on the approximation (not rounding) error: 1e-12 in float64, 1e-6 in
    float32 (and any other dtype)."""
    return _DEFAULT_TOL.get(dtype, 1e-6)


# --------------------------------------------------------------------------------------------
# Scalar approximations (numpy float64 at import of a plan; cached)
# --------------------------------------------------------------------------------------------


def _h(lam: np.ndarray) -> np.ndarray:
    """``tanh(√λ)/√λ`` (1 at 0; Taylor series below 1e-6)."""
    r = np.sqrt(np.maximum(lam, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.tanh(r) / r
    return np.where(lam < 1e-6, 1.0 - lam / 3.0 + 2.0 * lam * lam / 15.0, q)


def _monomial(f: Callable[[np.ndarray], np.ndarray], degree: int, hi: float,
              lo: float = 0.0) -> np.ndarray:
    """Monomial coefficients (ascending) of the Chebyshev interpolant of ``f`` on [lo, lo+hi]."""
    cheb = np.polynomial.Chebyshev.interpolate(f, degree, domain=[lo, lo + hi])
    return cheb.convert(kind=np.polynomial.Polynomial).coef


@cache
def _start(degree: int) -> tuple[tuple[float, ...], float]:
    """Coefficients of ``q`` (ascending in the centred variable ``x = 2λ/s₀² − 1 ∈ [−1, 1]``,
    where they stay modest) and ``ρ = sup_{0<y≤s₀} |artanh(y·q(y²))/y − 1|``."""
    L = S0 * S0
    c = _monomial(lambda x: _h(0.5 * L * (x + 1.0)), degree, 2.0, lo=-1.0)
    # The grid check in extended precision, so that it measures the polynomial, not rounding.
    y = np.linspace(0.0, S0, 40001, dtype=np.longdouble)[1:]
    p = y * np.polynomial.polynomial.polyval(2.0 * y * y / L - 1.0, c.astype(np.longdouble))
    if np.any(np.abs(p) >= 1):
        return tuple(float(v) for v in c), math.inf
    rho = float(np.max(np.abs(np.arctanh(p) / y - 1.0)))
    return tuple(float(v) for v in c), _MARGIN * rho


@cache
def _inverse(degree: int) -> tuple[tuple[float, ...], float]:
    """Coefficients of ``2·r`` in ``x = 2μ/1.05 − 1`` with ``r ≈ 1/(1 + μ)`` for μ ∈ [0, 1.05],
    and ``δ`` = sup of the relative error ``|r(μ)(1 + μ) − 1|``."""
    # In the centred variable x = 2μ/hi − 1 ∈ [−1, 1] (pole at x ≈ −2.9): modest coefficients;
    # in μ itself the pole at −1 lies inside the interval's reach and they would cancel.
    c = _monomial(lambda x: 1.0 / (1.0 + 0.5 * _INV_HI * (x + 1.0)), degree, 2.0, lo=-1.0)
    x = np.linspace(-1.0, 1.0, 40001, dtype=np.longdouble)
    mu = 0.5 * _INV_HI * (x + 1.0)
    r = np.polynomial.polynomial.polyval(x, c.astype(np.longdouble))
    delta = float(np.max(np.abs(r * (1.0 + mu) - 1.0)))
    return tuple(2.0 * float(v) for v in c), _MARGIN * delta


@dataclass(frozen=True)
class MatmulPlan:
    """Degrees and certified scalar errors of one evaluation.

    ``start``: ascending coefficients of q; ``rho``: its relative argument error;
    ``inv``: ascending coefficients of 2/(1 + μ) (empty for Cholesky); ``delta``: its relative
    error (0 for Cholesky); ``inverse``: "poly" or "cholesky"."""

    start: tuple[float, ...]
    rho: float
    inv: tuple[float, ...]
    delta: float
    inverse: str

    def truncation(self, doublings: int) -> float:
        """Certified bound on the approximation error after ``doublings`` doublings."""
        return _U_SCALE * self.rho / (1.0 - self.rho) + doublings * self.delta


@cache
def plan(dtype: torch.dtype, tol: float | None = None, inverse: str = "poly") -> MatmulPlan:
    """The lowest degrees whose certified error is below ``tol`` (start: ``tol/2``; inverse:
    ``tol/32`` per doubling, so that up to 16 doublings stay within the other half)."""
    tol = default_tol(dtype) if tol is None else float(tol)
    if not 0 < tol < 1:
        raise ConfigError(f"tol must lie in (0, 1), got {tol!r}")
    for nq in range(2, 41):
        cq, rho = _start(nq)
        if _U_SCALE * rho / (1.0 - rho) <= 0.5 * tol:
            break
    else:  # pragma: no cover - tol below what float64 grids can certify
        raise ConfigError(f"tol {tol:g} is below what the start polynomial can certify")
    if inverse == "cholesky":
        return MatmulPlan(cq, rho, (), 0.0, inverse)
    for ni in range(2, 61):
        ci, delta = _inverse(ni)
        if delta <= tol / 32:
            break
    else:  # pragma: no cover
        raise ConfigError(f"tol {tol:g} is below what the polynomial inverse can certify")
    return MatmulPlan(cq, rho, ci, delta, inverse)


# --------------------------------------------------------------------------------------------
# Options that a captured (CUDA-graph) step fixes: the number of doublings, the inverse.
# --------------------------------------------------------------------------------------------


def _inverse_for(inverse: str, device: torch.device) -> str:
    """``"auto"``: Cholesky on the CPU (fewer flops: 943 vs 1458 ms for forward and backward of
    two 512×512 float32 matrices, 1 thread), the polynomial on CUDA (products only)."""
    if inverse != "auto":
        return inverse
    return "cholesky" if device.type == "cpu" else "poly"


@dataclass(frozen=True)
class _Options:
    doublings: int | None = None
    inverse: str = "auto"
    monitor: torch.Tensor | None = None
    norms: list | None = None


_DEFAULTS = _Options()
_OPTIONS: contextvars.ContextVar[_Options | None] = contextvars.ContextVar("matmul_options",
                                                                             default=None)


@contextlib.contextmanager
def matmul_options(*, doublings: int | None = None, inverse: str = "auto",
                   monitor: torch.Tensor | None = None,
                   norms: list | None = None) -> Iterator[None]:
    """Settings of ``method="matmul"`` inside the ``with`` block.

    ``doublings``: a fixed k (no host synchronisation: what a CUDA graph needs); the inputs must
    then satisfy ``‖X‖_F ≤ 2^k`` (after the activation's input scale). ``monitor``: a 0-dim
    tensor on the device into which every evaluation writes ``max(monitor, S/2^k)`` (in place, so
    a replayed graph updates it); a value above 1 means some input was out of range.
    ``inverse``: ``"poly"``, ``"cholesky"`` or ``"auto"`` (Cholesky on the CPU, the polynomial
    elsewhere). ``norms``: a list to which every evaluation appends its bound
    ``max (Σσ⁸)^{1/8}`` (0-dim device tensor)."""
    if inverse not in INVERSES:
        raise ConfigError(f"inverse must be one of {INVERSES}, got {inverse!r}")
    if doublings is not None:
        doublings = int_at_least(doublings, "doublings", 0)
    token = _OPTIONS.set(_Options(doublings, inverse, monitor, norms))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def current_options() -> _Options:
    """The settings in force (:func:`matmul_options`)."""
    opts = _OPTIONS.get()
    return _DEFAULTS if opts is None else opts


def doublings_for(norm: float) -> int:
    """Fewest doublings k with ``norm/2^k ≤ s₀`` (0 for a non-finite norm: a NaN or inf input
    then gives a non-finite output, which callers such as the trainer detect, as with the SVD)."""
    if not math.isfinite(norm):
        return 0
    return max(0, math.ceil(math.log2(max(norm, 1e-300) / S0)))


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _eye_like(A: torch.Tensor) -> torch.Tensor:
    return torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)


_COEF_CACHE: dict[tuple, torch.Tensor] = {}


def _coef_matrix(coef: tuple[float, ...], s: int, r: int, like: torch.Tensor) -> torch.Tensor:
    """The (r, s) block coefficients on ``like``'s device, cached (no host copy inside a
    captured graph once warmed up)."""
    key = (coef, s, like.dtype, like.device)
    C = _COEF_CACHE.get(key)
    if C is None:
        flat = torch.zeros(r * s, dtype=torch.float64)
        flat[: len(coef)] = torch.tensor(coef, dtype=torch.float64)
        C = _COEF_CACHE[key] = flat.reshape(r, s).to(like.dtype).to(like.device)
    return C


def _polyval(A: torch.Tensor, coef: tuple[float, ...],
             A2: torch.Tensor | None = None) -> torch.Tensor:
    """``Σ_i c_i A^i`` for A (b, n, n) by Paterson–Stockmeyer: with ``s = ⌈√(N+1)⌉``, the
    powers ``A²..A^s`` (s − 1 products, one fewer when ``A2 = A²`` is given), blocks
    ``B_j = Σ_{i<s} c_{js+i} A^i`` (one small contraction over i) and Horner in ``A^s``
    (⌈(N+1)/s⌉ − 1 products, each a fused ``B_j + R·A^s``)."""
    N = len(coef) - 1
    s = max(1, math.ceil(math.sqrt(N + 1)))
    r = math.ceil((N + 1) / s)
    powers = [_eye_like(A).expand_as(A), A]
    for i in range(2, s + (1 if r > 1 else 0)):
        powers.append(A2 if (i == 2 and A2 is not None) else powers[-1] @ A)
    b, n, _ = A.shape
    P = torch.stack(powers[:s], dim=0).reshape(s, -1)             # (s, b·n·n)
    blocks = (_coef_matrix(coef, s, r, A) @ P).reshape(r, b, n, n)
    out = blocks[r - 1]
    for j in range(r - 2, -1, -1):
        out = torch.baddbmm(blocks[j], out, powers[s])
    return out


def _norm_bound(G: torch.Tensor, G2: torch.Tensor) -> torch.Tensor:
    """``(Σσ⁸)^{1/8} = ‖G²‖_F^{1/4} ≥ σ_max`` per matrix, for ``G = XᵀX``, ``G2 = G²``
    (tighter than ‖X‖_F = (Σσ²)^{1/2}, for free: G² is a power the start needs anyway)."""
    return torch.linalg.matrix_norm(G2.detach()).sqrt().sqrt()


def tanh_matmul(X: torch.Tensor, *, tol: float | None = None, out_scale: float = 1.0,
                in_scale: float = 1.0) -> torch.Tensor:
    """``out_scale·tanh(in_scale·σ)`` on the singular values of tall ``X`` (..., m, n), m ≥ n,
    by products and small solves only (module docstring). Differentiable by autograd."""
    opts = current_options()
    p = plan(X.dtype, tol, _inverse_for(opts.inverse, X.device))
    shape = X.shape
    X3 = X.reshape(-1, shape[-2], shape[-1])
    if in_scale != 1.0:
        X3 = X3 * in_scale
    G0 = X3.mT @ X3
    G02 = G0 @ G0
    if opts.doublings is None:
        k = doublings_for(float(_norm_bound(G0, G02).max()) if X3.numel() else 0.0)
    else:
        k = opts.doublings
    if opts.monitor is not None or opts.norms is not None:
        with torch.no_grad():
            bound = _norm_bound(G0, G02).amax()
            if opts.norms is not None:
                opts.norms.append(bound)
            if opts.monitor is not None:
                ratio = (bound * (2.0 ** -k / S0)).to(opts.monitor.dtype)
                opts.monitor.copy_(torch.maximum(opts.monitor, ratio))
    # Start in the centred variable C = 2G/s₀² − I, G = YᵀY = G0/4^k (exact scalings).
    a = 2.0 / (S0 * S0 * 4.0 ** k)
    eye = _eye_like(G0)
    C = a * G0 - eye
    C2 = (a * a) * G02 - (2.0 * a) * G0 + eye
    T = (X3 * (2.0 ** -k)) @ _polyval(C, p.start, C2)
    for _ in range(k):
        M = T.mT @ T
        if p.inverse == "cholesky":
            L, _info = torch.linalg.cholesky_ex(M + eye)
            T = 2.0 * torch.cholesky_solve(T.mT, L).mT
        else:
            T = T @ _polyval(M * (2.0 / _INV_HI) - eye, p.inv)
    if out_scale != 1.0:
        T = T * out_scale
    return T.reshape(shape)


def rounding_estimate(dtype: torch.dtype, n: int, doublings: int, norm: float) -> float:
    """Estimate of the rounding error: ``u·(4·S + 8·√n·(k + 2))`` with ``S ≥ σ_max`` (the
    input's own rounding, ``u·σ_max`` times the Lipschitz constant 1, which no method avoids)
    and ``u·√n`` per product stage (start, each doubling)."""
    u = torch.finfo(dtype).eps / 2
    return u * (4.0 * norm + 8.0 * math.sqrt(max(n, 1)) * (doublings + 2))


def input_norm_bound(X: torch.Tensor) -> float:
    """``max (Σσ⁸)^{1/8}`` over the batch of tall or wide X (..., d1, d2): the cheap upper
    bound on σ_max that sets the number of doublings."""
    if X.numel() == 0:
        return 0.0
    Xt = X.detach().reshape(-1, X.shape[-2], X.shape[-1])
    if Xt.shape[-2] < Xt.shape[-1]:
        Xt = Xt.mT
    G = Xt.mT @ Xt
    return float(_norm_bound(G, G @ G).max())


def error_bound(X: torch.Tensor, *, tol: float | None = None, inverse: str = "auto",
                out_scale: float = 1.0, in_scale: float = 1.0) -> float:
    """Bound on ``max ‖F̂(X) − F(X)‖₂`` over the batch for tall or wide ``X`` (..., d1, d2):
    certified approximation error (independent of the doublings except ``k·δ`` of the
    polynomial inverse) plus a rounding estimate, times ``out_scale``."""
    p = plan(X.dtype, tol, _inverse_for(inverse, X.device))
    norm = input_norm_bound(X) * in_scale
    k = doublings_for(norm)
    n = min(X.shape[-2], X.shape[-1])
    return out_scale * (p.truncation(k) + rounding_estimate(X.dtype, n, k, norm))
