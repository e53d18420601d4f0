"""The public entry points: :func:`spectral_apply` with one dispatch for ``method="auto"``
(:func:`resolve_method`), :func:`spectral_derivative` and the matmul path's error bound.

The evaluations side by side: :mod:`~spectralnn.spectral.svd` (thin SVD),
:mod:`~spectralnn.spectral.gram` (``X h(XᵀX)``), :mod:`~spectralnn.spectral.matmul` (products
and small solves only).
"""

from __future__ import annotations

import torch

from ..errors import ConfigError, ShapeError, unknown_name
from . import matmul as _matmul
from .activations import Activation, TensorFn, get_activation
from .gram import GramFunction
from .svd import SpectralFunction, apply_derivative, divided_difference

__all__ = [
    "GRAM_ERROR_BUDGET",
    "MATMUL_MIN_SIDE_CUDA",
    "METHODS",
    "check_input",
    "matmul_error_bound",
    "resolve_method",
    "spectral_apply",
    "spectral_derivative",
]


def check_input(X: torch.Tensor) -> None:
    """Refuse anything but a real floating tensor of shape (..., d1, d2) (a ShapeError)."""
    if not isinstance(X, torch.Tensor):
        raise ShapeError(f"expected a torch.Tensor of shape (..., d1, d2), got {type(X).__name__}")
    if X.dim() < 2:
        raise ShapeError(f"expected a tensor of shape (..., d1, d2), got shape {tuple(X.shape)}")
    if not X.is_floating_point() or X.is_complex():
        raise ShapeError(f"expected a real floating tensor, got dtype {X.dtype}")


METHODS = ("auto", "svd", "gram", "matmul")

#: ``method="auto"`` uses the Gram form when ``eps·max‖X‖_F³`` is at most this. The Gram
#: form's absolute error is about ``eps·‖X‖₂³·max|h'|`` (Weyl's bound on the eigenvalues of
#: XᵀX, times ‖X‖ and the Lipschitz constant of λ ↦ h(λ)), against ``eps·‖X‖`` for the SVD.
GRAM_ERROR_BUDGET = 1e-3


#: On CUDA, ``method="auto"`` takes the matmul path from this smaller side on (eager steps).
MATMUL_MIN_SIDE_CUDA = 128


def resolve_method(X: torch.Tensor, act: Activation, method: str) -> str:
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
            ``resolve_method`` for the measurements).
        tol: for ``method="matmul"``, the certified approximation error to reach (defaults:
            1e-6 in float32, 1e-12 in float64); ignored by the other methods.
        **params: parameters of a named activation (``c`` for shifted_sigmoid and clamp).

    Returns:
        (..., d1, d2) tensor. Differentiable, with an exact closed-form derivative (module
        docstring) that is finite for repeated and zero singular values; for ``"matmul"``,
        autograd through the chain of products (within ``sup|e'|`` of the exact one).
    """
    check_input(X)
    act = get_activation(activation, **params)
    tol = _check_tol(tol)
    which = resolve_method(X, act, method)
    wide = X.shape[-2] < X.shape[-1]
    Xt = X.mT if wide else X
    if which == "matmul":
        assert act.tanh_form is not None  # resolve_method picks "matmul" only then
        a, b = act.tanh_form
        out = _matmul.tanh_matmul(Xt, tol=tol, out_scale=a, in_scale=b)
    else:
        out = (GramFunction if which == "gram" else SpectralFunction).apply(Xt, act)
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
    check_input(X)
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
    check_input(X)
    if E.shape != X.shape:
        raise ShapeError(f"direction E must have the shape of X {tuple(X.shape)}, "
                         f"got {tuple(E.shape)}")
    act = get_activation(activation, **params)
    wide = X.shape[-2] < X.shape[-1]
    Xt, Et = (X.mT, E.mT) if wide else (X, E)
    U, s, Vh = torch.linalg.svd(Xt, full_matrices=False)
    out = apply_derivative(U, Vh, *divided_difference(act, s), Et)
    return out.mT if wide else out
