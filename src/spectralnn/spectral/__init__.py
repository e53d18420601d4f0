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

The evaluations live side by side, one module each: :mod:`~spectralnn.spectral.activations`
(the registry), :mod:`~spectralnn.spectral.tanh` (tanh's divided differences),
:mod:`~spectralnn.spectral.svd`, :mod:`~spectralnn.spectral.gram`,
:mod:`~spectralnn.spectral.matmul`, and :mod:`~spectralnn.spectral.dispatch` (``method="auto"``
and the public entry points). This package only re-exports them.
"""

from .activations import (
    Activation,
    available_activations,
    get_activation,
    register_activation,
)
from .dispatch import (
    GRAM_ERROR_BUDGET,
    MATMUL_MIN_SIDE_CUDA,
    METHODS,
    matmul_error_bound,
    spectral_apply,
    spectral_derivative,
)
from .matmul import matmul_options
from .svd import divided_difference

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
