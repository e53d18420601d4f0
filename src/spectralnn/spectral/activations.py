"""Scalar activations acting on singular values, and their registry.

Each :class:`Activation` supplies the odd extension ``g`` of ``f`` (``g(-s) = -f(s)``), its
derivative and a divided difference ``[a, b] = (g(a) − g(b))/(a − b)``, cancellation-free
where one exists (tanh: :mod:`spectralnn.spectral.tanh`). Activations are looked up by name
(:func:`get_activation`); :func:`register_activation` adds one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, SupportsIndex

import torch

from ..errors import ConfigError, unknown_name
from .tanh import (
    tanh_divided_difference,
    tanh_gram_dd,
    tanh_gram_h,
    tanh_gram_kernel,
    tanh_gram_sym,
)

#: An elementwise tensor function.
TensorFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = [
    "Activation",
    "TensorFn",
    "available_activations",
    "get_activation",
    "register_activation",
]


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
                      tanh_divided_difference, tanh_gram_h, tanh_gram_dd, tanh_gram_kernel,
                      tanh_gram_sym, (1.0, 1.0))


def _shifted_sigmoid(c: float = 2.0) -> Activation:
    """``(sigmoid(s) - 1/2)·c = (c/2)·tanh(s/2)``: odd, so its divided difference is exact."""
    c = _positive_float(c, "shifted_sigmoid scale c")
    return Activation(
        f"shifted_sigmoid(c={c:g})",
        lambda s: (torch.sigmoid(s) - 0.5) * c,
        lambda s: 0.25 * c * (1.0 - torch.tanh(0.5 * s) ** 2),
        lambda a, b: 0.25 * c * tanh_divided_difference(0.5 * a, 0.5 * b),
        # h(λ) = (c/2) tanh(√λ/2)/√λ = (c/4) h_tanh(λ/4)
        lambda lam: 0.25 * c * tanh_gram_h(0.25 * lam),
        lambda li, lj: 0.0625 * c * tanh_gram_dd(0.25 * li, 0.25 * lj),
        lambda lam: 0.0625 * c * tanh_gram_kernel(0.25 * lam),
        lambda lam, M: 0.0625 * c * tanh_gram_sym(0.25 * lam, M),
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
