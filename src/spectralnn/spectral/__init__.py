"""Spectral activations ``F(X) = U f(Σ) Vᵀ`` with an exact gradient that is finite everywhere.

For ``X ∈ R^{m×n}`` with thin SVD ``X = U diag(σ) Vᵀ`` and a scalar ``f`` with ``f(0) = 0``,
the spectral activation is ``F(X) = U diag(f(σ)) Vᵀ``. It is the gradient of the spectral
function ``Σ_i φ(σ_i)`` with ``φ' = f``, so its derivative ``DF(X)`` is a Hessian: self-adjoint.

**Derivative.** Let ``m ≥ n`` (otherwise transpose), ``G = Uᵀ E V`` and write ``g`` for the odd
extension of ``f`` (``g(-s) = -f(s)``) and ``[a, b] = (g(a) - g(b)) / (a - b)`` for its divided
difference (``g'(a)`` when ``a = b``). Then

    DF(X)[E] = U (K⁻ ∘ sym G + K⁺ ∘ skw G) Vᵀ + (I - U Uᵀ) E V diag(r) Vᵀ
    K⁻_ij = [σ_i, σ_j],   K⁺_ij = [σ_i, -σ_j],   r_i = [σ_i, 0] = f(σ_i)/σ_i

with ``sym G = (G + Gᵀ)/2`` and ``skw G = (G - Gᵀ)/2``. Every entry is a divided difference of a
smooth (or Lipschitz) function, so the map is finite at repeated and zero singular values, where
differentiating through ``torch.linalg.svd`` gives NaN. Since ``DF(X)`` is self-adjoint, the
backward pass applies the same map to the upstream gradient. Collecting terms,

    DF(X)[E] = ( U (A ∘ G + B ∘ Gᵀ - G diag(r)) + E V diag(r) ) Vᵀ,
    A = (K⁻ + K⁺)/2,  B = (K⁻ - K⁺)/2,

which costs four small matrix products after the SVD.

**Activations** are looked up by name in a registry (:func:`get_activation`); each supplies the
odd extension ``g``, its derivative and a cancellation-free divided difference where one exists
(tanh: ``[a, b] = tanhc(a - b)(1 - tanh a tanh b)``, ``tanhc(x) = tanh(x)/x``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, SupportsIndex

import torch

from .. import _kernels
from ..errors import ConfigError, ShapeError, unknown_name
from . import matmul as _matmul
from .matmul import matmul_options

TensorFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = [
    "GRAM_ERROR_BUDGET",
    "MATMUL_MIN_SIDE_CUDA",
    "METHODS",
    "Activation",
    "available_activations",
    "divided_difference",
    "get_activation",
    "matmul_error_bound",
    "matmul_options",
    "register_activation",
    "spectral_apply",
    "spectral_derivative",
]


# --------------------------------------------------------------------------------------------
# Divided differences
# --------------------------------------------------------------------------------------------


def _tanhc(x: torch.Tensor) -> torch.Tensor:
    """``tanh(x)/x`` with its value 1 at 0; a Taylor series below |x| < 1e-2 (error < 1e-16).

    The quotient is NaN only at ``x = 0``, where the series is selected; no gradient flows
    through this function (it is only used inside the custom autograd functions)."""
    x2 = x * x
    series = 1.0 + x2 * (-1.0 / 3.0 + (2.0 / 15.0) * x2)
    return torch.where(x.abs() < 1e-2, series, torch.tanh(x) / x)


def _tanh_divided_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(tanh a - tanh b)/(a - b) = tanhc(a - b)·(1 - tanh a · tanh b)``: no cancellation."""
    return _tanhc(a - b) * (1.0 - torch.tanh(a) * torch.tanh(b))


_TANHC_SERIES = _kernels.TANHC_SERIES   # tanhc(√λ) = Σ_k c_k λ^k
_GRAM_SERIES_BELOW = 1e-2   # series for max(λ_i, λ_j) below this: truncation < 1e-16


def _tanh_gram_h(lam: torch.Tensor) -> torch.Tensor:
    """``h(λ) = tanh(√λ)/√λ`` for ``λ ≥ 0`` (one compiled pass on the CPU)."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE and not lam.requires_grad:
        flat = lam.detach().reshape(-1).numpy()
        return torch.from_numpy(_kernels.tanh_gram_h(flat)).reshape(lam.shape)
    return _tanhc(torch.sqrt(torch.clamp(lam, min=0.0)))


def _tanh_gram_dd(li: torch.Tensor, lj: torch.Tensor) -> torch.Tensor:
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
    closed = (_tanh_divided_difference(a, b) - _tanhc(b)) / (a * (a + b))
    return closed if series is None else torch.where(small, series, closed)


def _tanh_gram_kernel(lam: torch.Tensor) -> torch.Tensor:
    """``D_ij = [λ_i, λ_j]_h`` for ``h(λ) = tanhc(√λ)`` from eigenvalues ``lam`` (..., n):
    (..., n, n). On the CPU one fused compiled pass (:mod:`spectralnn._kernels`); elsewhere
    the pairwise torch formula :func:`_tanh_gram_dd`."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE:
        flat = lam.detach().reshape(-1, lam.shape[-1]).numpy()
        out = torch.from_numpy(_kernels.tanh_gram_dd(flat))
        return out.reshape(lam.shape + lam.shape[-1:])
    return _tanh_gram_dd(lam.unsqueeze(-1), lam.unsqueeze(-2))


def _tanh_gram_sym(lam: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """``D ∘ (M + Mᵀ)`` for the tanh Gram kernel; fused into one pass on the CPU."""
    if lam.device.type == "cpu" and _kernels.AVAILABLE and M.dtype == lam.dtype:
        n = lam.shape[-1]
        flat = lam.detach().reshape(-1, n).numpy()
        out = _kernels.tanh_gram_dd(flat, M.detach().reshape(-1, n, n).numpy())
        return torch.from_numpy(out).reshape(M.shape)
    return _tanh_gram_kernel(lam) * (M + M.mT)


def _generic_divided_difference(g: TensorFn, dg: TensorFn) -> Callable[..., torch.Tensor]:
    """Divided difference of ``g`` from its values, switching to ``g'`` at the midpoint when
    ``|a - b|`` is below ``eps^(1/3)·max(1, |a|, |b|)``; both branches then err by ~eps^(2/3)
    (cancellation ``eps/|a-b|`` vs. midpoint truncation ``|g'''|·|a-b|²/24``)."""

    def dd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        delta = a - b
        tol = torch.finfo(a.dtype).eps ** (1.0 / 3.0)
        scale = torch.clamp(torch.maximum(a.abs(), b.abs()), min=1.0)
        close = delta.abs() <= tol * scale
        safe = torch.where(close, torch.ones_like(delta), delta)
        quotient = (g(a) - g(b)) / safe
        return torch.where(close, dg(0.5 * (a + b)), quotient)

    return dd


# --------------------------------------------------------------------------------------------
# Activation registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """A scalar activation ``f`` acting on singular values, ``f(0) = 0``.

    ``g`` is ``f`` extended as an odd function to all of R, ``dg`` its derivative and
    ``dd(a, b)`` the divided difference ``(g(a) - g(b))/(a - b)`` (``g'(a)`` at ``a = b``),
    all elementwise on tensors.
    """

    name: str
    g: TensorFn
    dg: TensorFn
    dd: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(repr=False)
    #: Optional Gram form: ``h(λ) = f(√λ)/√λ`` and its divided difference ``[λ_i, λ_j]_h``,
    #: so that ``F(X) = X h(XᵀX)`` (used by ``method="gram"``).
    h: TensorFn | None = field(default=None, repr=False)
    h_dd: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = field(default=None,
                                                                              repr=False)
    #: Optional fast form of ``h_dd`` on all pairs: eigenvalues (..., n) -> (..., n, n).
    h_kernel: TensorFn | None = field(default=None, repr=False)
    #: Optional fused ``(λ, M) ↦ D ∘ (M + Mᵀ)``, the product the Gram backward needs.
    h_sym: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = field(default=None,
                                                                               repr=False)
    #: Optional ``(a, b)`` with ``f(s) = a·tanh(b·s)``: enables ``method="matmul"``.
    tanh_form: tuple[float, float] | None = field(default=None, repr=False)
    #: ``(registry name, params)`` when built by :func:`get_activation` from a name: pickling
    #: and ``copy.deepcopy`` then rebuild it from the registry instead of copying its functions
    #: (some are closures, which pickle cannot store).
    spec: tuple[str, tuple[tuple[str, float], ...]] | None = field(default=None, repr=False,
                                                                    compare=False)

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        if self.spec is not None:
            return (_from_registry, self.spec)
        return super().__reduce_ex__(protocol)

    def gram_sym(self, lam: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
        """``D ∘ (M + Mᵀ)`` with ``D`` from :meth:`gram_kernel`; lam (..., n), M (..., n, n)."""
        if self.h_sym is not None:
            return self.h_sym(lam, M)
        return self.gram_kernel(lam) * (M + M.mT)

    def gram_kernel(self, lam: torch.Tensor) -> torch.Tensor:
        """``D_ij = [λ_i, λ_j]_h`` for eigenvalues ``lam`` (..., n): (..., n, n)."""
        if self.h_kernel is not None:
            return self.h_kernel(lam)
        assert self.h_dd is not None
        return self.h_dd(lam.unsqueeze(-1), lam.unsqueeze(-2))

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        return self.g(s)


def _tanh() -> Activation:
    return Activation("tanh", torch.tanh, lambda s: 1.0 - torch.tanh(s) ** 2,
                      _tanh_divided_difference, _tanh_gram_h, _tanh_gram_dd, _tanh_gram_kernel,
                      _tanh_gram_sym, (1.0, 1.0))


def _shifted_sigmoid(c: float = 2.0) -> Activation:
    """``(sigmoid(s) - 1/2)·c = (c/2)·tanh(s/2)``: odd, so its divided difference is exact."""
    c = _positive_float(c, "shifted_sigmoid scale c")
    return Activation(
        f"shifted_sigmoid(c={c:g})",
        lambda s: (torch.sigmoid(s) - 0.5) * c,
        lambda s: 0.25 * c * (1.0 - torch.tanh(0.5 * s) ** 2),
        lambda a, b: 0.25 * c * _tanh_divided_difference(0.5 * a, 0.5 * b),
        # h(λ) = (c/2) tanh(√λ/2)/√λ = (c/4) h_tanh(λ/4)
        lambda lam: 0.25 * c * _tanh_gram_h(0.25 * lam),
        lambda li, lj: 0.0625 * c * _tanh_gram_dd(0.25 * li, 0.25 * lj),
        lambda lam: 0.0625 * c * _tanh_gram_kernel(0.25 * lam),
        lambda lam, M: 0.0625 * c * _tanh_gram_sym(0.25 * lam, M),
        (0.5 * c, 0.5),
    )


def _clamp(c: float = 1.0) -> Activation:
    """``min(s, c)`` on singular values; odd extension ``clamp(s, -c, c)``."""
    c = _positive_float(c, "clamp threshold c")

    def g(s: torch.Tensor) -> torch.Tensor:
        return torch.clamp(s, -c, c)

    def dg(s: torch.Tensor) -> torch.Tensor:
        return (s.abs() < c).to(s.dtype)

    return Activation(f"clamp(c={c:g})", g, dg, _generic_divided_difference(g, dg))


def _identity() -> Activation:
    return Activation("identity", lambda s: s, torch.ones_like,
                      lambda a, b: torch.ones_like(a), torch.ones_like,
                      lambda li, lj: torch.zeros_like(li),
                      lambda lam: torch.zeros(lam.shape + lam.shape[-1:], dtype=lam.dtype,
                                              device=lam.device))


_REGISTRY: dict[str, Callable[..., Activation]] = {
    "tanh": _tanh,
    "shifted_sigmoid": _shifted_sigmoid,
    "clamp": _clamp,
    "identity": _identity,
}


def _positive_float(value: object, what: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a positive number, got {value!r}") from None
    if not out > 0 or out == float("inf"):
        raise ConfigError(f"{what} must be a positive finite number, got {value!r}")
    return out


def available_activations() -> list[str]:
    """Names accepted by :func:`get_activation`."""
    return sorted(_REGISTRY)


def register_activation(name: str, factory: Callable[..., Activation]) -> None:
    """Add ``factory(**params) -> Activation`` to the registry under ``name``."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"activation name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = factory


def _custom(f: TensorFn, df: TensorFn, name: str = "custom") -> Activation:
    """A user pair ``(f, f')`` on ``s ≥ 0``, extended oddly; rejects ``f(0) ≠ 0``."""
    if not callable(f) or not callable(df):
        raise ConfigError(f"a custom activation needs two callables (f, f'), got {(f, df)!r}")
    f0 = float(f(torch.zeros((), dtype=torch.float64)))
    if abs(f0) > 1e-12:
        raise ConfigError(
            f"activation f(0) must be 0, got f(0) = {f0:g}: the spectral map is discontinuous "
            "at rank-deficient matrices otherwise; shift it (e.g. 'shifted_sigmoid')"
        )

    def g(s: torch.Tensor) -> torch.Tensor:
        return torch.sign(s) * f(s.abs())

    def dg(s: torch.Tensor) -> torch.Tensor:
        return df(s.abs())

    return Activation(name, g, dg, _generic_divided_difference(g, dg))


def get_activation(activation: str | Activation | tuple[TensorFn, TensorFn] = "tanh",
                   **params: float) -> Activation:
    """Resolve an activation given by registry name (with ``params``, e.g. ``c=2``), an
    :class:`Activation`, or a user pair ``(f, f')`` of elementwise tensor functions."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, tuple):
        if len(activation) != 2:
            raise ConfigError(f"a custom activation is a pair (f, f'), got {len(activation)} items")
        return _custom(*activation)
    if not isinstance(activation, str) or activation not in _REGISTRY:
        raise unknown_name("activation", activation, list(_REGISTRY))
    try:
        act = _REGISTRY[activation](**params)
    except TypeError:
        raise ConfigError(f"activation {activation!r} does not take parameters "
                          f"{sorted(params)}") from None
    return replace(act, spec=(activation, tuple(sorted(params.items()))))


def _from_registry(name: str, params: tuple[tuple[str, float], ...]) -> Activation:
    """The registry's activation ``name`` with ``params`` (what an unpickled one is)."""
    return get_activation(name, **dict(params))


# --------------------------------------------------------------------------------------------
# The spectral map and its derivative
# --------------------------------------------------------------------------------------------


def divided_difference(act: Activation, s: torch.Tensor) -> tuple[torch.Tensor, ...]:
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


def _apply_derivative(U: torch.Tensor, Vh: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
                      r: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """``DF(X)[E]`` for tall ``X = U diag(σ) Vh`` (m ≥ n); E (..., m, n)."""
    EV = E @ Vh.mT                     # (..., m, n)
    G = U.mT @ EV                      # (..., n, n)
    core = A * G + B * G.mT - G * r.unsqueeze(-2)
    return (U @ core + EV * r.unsqueeze(-2)) @ Vh


def _check_input(X: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor):
        raise ShapeError(f"expected a torch.Tensor of shape (..., d1, d2), got {type(X).__name__}")
    if X.dim() < 2:
        raise ShapeError(f"expected a tensor of shape (..., d1, d2), got shape {tuple(X.shape)}")
    if not X.is_floating_point() or X.is_complex():
        raise ShapeError(f"expected a real floating tensor, got dtype {X.dtype}")


class _SpectralFunction(torch.autograd.Function):
    """SVD evaluation for tall inputs (m ≥ n); the derivative is its own adjoint."""

    @staticmethod
    def forward(ctx, X: torch.Tensor, act: Activation) -> torch.Tensor:  # type: ignore[override]
        U, s, Vh = torch.linalg.svd(X, full_matrices=False)
        ctx.act = act
        ctx.save_for_backward(U, s, Vh)
        return (U * act.g(s).unsqueeze(-2)) @ Vh

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        U, s, Vh = ctx.saved_tensors
        A, B, r = divided_difference(ctx.act, s)
        return _apply_derivative(U, Vh, A, B, r, grad_out), None


class _GramFunction(torch.autograd.Function):
    """Gram evaluation ``F(X) = X h(XᵀX)`` for tall inputs (m ≥ n), no SVD.

    With ``XᵀX = W diag(λ) Wᵀ`` and ``D_ij = [λ_i, λ_j]_h``: ``F = (XW) diag(h(λ)) Wᵀ`` and the
    backward of an upstream gradient ``Ḡ`` is

        X̄ = ( (ḠW) diag(h(λ)) + (XW) (D ∘ (M + Mᵀ)) ) Wᵀ,   M = (XW)ᵀ (ḠW),

    finite at repeated and zero λ because D is a divided difference.
    """

    @staticmethod
    def forward(ctx, X: torch.Tensor, act: Activation) -> torch.Tensor:  # type: ignore[override]
        lam, W = torch.linalg.eigh(X.mT @ X)
        lam = torch.clamp(lam, min=0.0)
        hv = act.h(lam).unsqueeze(-2)
        XW = X @ W
        ctx.act = act
        ctx.save_for_backward(XW, lam, W, hv)
        return (XW * hv) @ W.mT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        XW, lam, W, hv = ctx.saved_tensors
        GW = grad_out @ W
        M = XW.mT @ GW
        S = ctx.act.gram_sym(lam, M)
        return (GW * hv + XW @ S) @ W.mT, None


METHODS = ("auto", "svd", "gram", "matmul")

#: ``method="auto"`` uses the Gram form when ``eps·max‖X‖_F³`` is at most this. The Gram
#: form's absolute error is about ``eps·‖X‖₂³·max|h'|`` (Weyl's bound on the eigenvalues of
#: XᵀX, times ‖X‖ and the Lipschitz constant of λ ↦ h(λ)), against ``eps·‖X‖`` for the SVD.
GRAM_ERROR_BUDGET = 1e-3


#: On CUDA, ``method="auto"`` takes the matmul path from this smaller side on (eager steps).
MATMUL_MIN_SIDE_CUDA = 128


def _resolve_method(X: torch.Tensor, act: Activation, method: str) -> str:
    """The evaluation ``spectral_apply`` uses: "svd", "gram" or "matmul".

    ``"auto"`` (measured on an NVIDIA H200, torch 2.11, float32, two runs of
    ``benchmarks/gpu_matmul.sh``; numbers in docs/gpu.md):

    - CUDA, tanh family: ``"matmul"`` inside a captured step (fixed doublings: one CUDA graph,
      1.38–1.41 ms per MNIST-configuration step against 5.2–6.0 ms eager SVD) and for eager
      calls when ``min(d1, d2) ≥ MATMUL_MIN_SIDE_CUDA`` (widths [2, 2] eager step: 7.4–9.6 vs
      15–17 ms SVD at d = 128, 7.1–9.3 vs 86–88 ms at 512; at d = 64 the two runs disagreed,
      7.6 vs 8.7 and 10.4 vs 8.7 ms; at 28–32 the SVD was faster eagerly, 3.8–5.2 vs 6–17 ms:
      the chain's ~10² launches and one host synchronisation dominate there);
    - CUDA, other activations or small eager inputs: SVD (faster than Gram there: 5.2 vs 7.7 ms);
    - CPU: the Gram form within its error budget, else SVD; never matmul (product-bound there:
      forward + backward of two 512×512 matrices with σ on [0, 5] took 6.5× the Gram path's
      time, 1 thread).
    """
    if method not in METHODS:
        raise unknown_name("method", method, METHODS)
    if method == "svd":
        return "svd"
    if method == "matmul":
        if act.tanh_form is None:
            raise ConfigError(f"activation {act.name!r} has no matmul form (only tanh and "
                              "shifted_sigmoid); use method='svd' or 'gram'")
        return "matmul"
    has_gram = act.h is not None and act.h_dd is not None
    if method == "gram":
        if not has_gram:
            raise ConfigError(f"activation {act.name!r} has no Gram form; use method='svd'")
        return "gram"
    if X.numel() == 0:
        return "svd"
    if X.device.type != "cpu":
        if act.tanh_form is not None and (
                _matmul.current_options().doublings is not None
                or min(X.shape[-2], X.shape[-1]) >= MATMUL_MIN_SIDE_CUDA):
            return "matmul"
        return "svd"
    if not has_gram:
        return "svd"
    norm = float(torch.linalg.matrix_norm(X.detach()).max())
    limit = (GRAM_ERROR_BUDGET / torch.finfo(X.dtype).eps) ** (1.0 / 3.0)
    return "gram" if norm <= limit else "svd"  # SVD for NaN/inf too


def _use_gram(X: torch.Tensor, act: Activation, method: str) -> bool:
    """Whether ``spectral_apply(X, act, method=method)`` takes the Gram form."""
    return _resolve_method(X, act, method) == "gram"


def _check_tol(tol: float | None) -> float | None:
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ConfigError(f"tol must be a number in (0, 1), got {tol!r}")
    return float(tol)


def spectral_apply(X: torch.Tensor,
                   activation: str | Activation | tuple[TensorFn, TensorFn] = "tanh",
                   *, method: str = "auto", tol: float | None = None,
                   **params: float) -> torch.Tensor:
    """Apply ``f`` to the singular values: ``X = U diag(σ) Vᵀ  ↦  U diag(f(σ)) Vᵀ``.

    Args:
        X: (..., d1, d2) real tensor, any batch shape, float32 or float64, any device.
        activation: registry name (see :func:`available_activations`), an
            :class:`Activation`, or a pair ``(f, f')`` for ``s ≥ 0`` with ``f(0) = 0``.
        method: ``"svd"`` (thin SVD), ``"gram"`` (``X h(XᵀX)`` through a symmetric
            eigendecomposition of the smaller Gram matrix, about twice as fast; tanh,
            shifted_sigmoid and identity), ``"matmul"`` (matrix products and small solves only,
            :mod:`spectralnn.spectral.matmul`; tanh and shifted_sigmoid, error within
            :func:`matmul_error_bound`) or ``"auto"`` (CPU: Gram when available and
            ``eps·max‖X‖_F³ ≤ GRAM_ERROR_BUDGET``, else SVD; CUDA: matmul for the tanh family
            when the smaller side is ≥ 128 or inside a captured step, else SVD; see
            ``_resolve_method`` for the measurements).
        tol: for ``method="matmul"``, the certified approximation error to reach (defaults:
            1e-6 in float32, 1e-12 in float64); ignored by the other methods.
        **params: parameters of a named activation (``c`` for shifted_sigmoid and clamp).

    Returns:
        (..., d1, d2) tensor. Differentiable, with an exact closed-form derivative (module
        docstring) that is finite for repeated and zero singular values; for ``"matmul"``,
        autograd through the chain of products (within ``sup|e'|`` of the exact one).
    """
    _check_input(X)
    act = get_activation(activation, **params)
    tol = _check_tol(tol)
    which = _resolve_method(X, act, method)
    wide = X.shape[-2] < X.shape[-1]
    Xt = X.mT if wide else X
    if which == "matmul":
        a, b = act.tanh_form  # type: ignore[misc]
        out = _matmul.tanh_matmul(Xt, tol=tol, out_scale=a, in_scale=b)
    else:
        out = (_GramFunction if which == "gram" else _SpectralFunction).apply(Xt, act)
    return out.mT if wide else out


def matmul_error_bound(X: torch.Tensor,
                       activation: str | Activation = "tanh", *, tol: float | None = None,
                       inverse: str = "auto", **params: float) -> float:
    """Bound on ``max_batch ‖F̂(X) − F(X)‖₂`` for ``spectral_apply(X, method="matmul")``.

    The sum of the certified approximation error (start polynomial: ``0.448·ρ/(1 − ρ)``,
    whatever the number of doublings; polynomial inverse: ``k·δ``) and an estimate of the
    rounding error (``u·σ_max`` for the input, ``u·√n`` per stage); see
    :mod:`spectralnn.spectral.matmul`. The derivative's error is of the same order (divided
    differences of the scalar error)."""
    _check_input(X)
    act = get_activation(activation, **params)
    if act.tanh_form is None:
        raise ConfigError(f"activation {act.name!r} has no matmul form (only tanh and "
                          "shifted_sigmoid)")
    if inverse not in _matmul.INVERSES:
        raise unknown_name("inverse", inverse, _matmul.INVERSES)
    a, b = act.tanh_form
    return _matmul.error_bound(X, tol=_check_tol(tol), inverse=inverse, out_scale=a,
                               in_scale=b)


def spectral_derivative(X: torch.Tensor, E: torch.Tensor,
                        activation: str | Activation | tuple[TensorFn, TensorFn] = "tanh",
                        **params: float) -> torch.Tensor:
    """The directional derivative ``DF(X)[E]`` (same shapes as ``X``), from the SVD form."""
    _check_input(X)
    if E.shape != X.shape:
        raise ShapeError(f"direction E must have the shape of X {tuple(X.shape)}, "
                         f"got {tuple(E.shape)}")
    act = get_activation(activation, **params)
    wide = X.shape[-2] < X.shape[-1]
    Xt, Et = (X.mT, E.mT) if wide else (X, E)
    U, s, Vh = torch.linalg.svd(Xt, full_matrices=False)
    out = _apply_derivative(U, Vh, *divided_difference(act, s), Et)
    return out.mT if wide else out
