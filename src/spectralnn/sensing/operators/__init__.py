"""Linear sensing operators ``A: R^{d1×d2} → R^m`` behind one interface.

Every operator maps a matrix (or a batch of matrices) to its measurements and back:

    forward:  A(X)_i = ⟨A_i, X⟩ = Σ_{j,k} (A_i)_{jk} X_{jk}      (..., d1, d2) → (..., m)
    adjoint:  A*(r)  = Σ_i r_i A_i                               (..., m) → (..., d1, d2)

so that ``⟨A(X), r⟩ = ⟨X, A*(r)⟩``. Both directions are plain torch code, differentiable by
autograd (models are trained through ``forward``).

One module per concept: :mod:`~.interface` (:class:`SensingOperator`, the registry of kinds and
``.npz`` states), then one per operator kind:

- :class:`DenseOperator` (:mod:`~.dense`) — any user-given stack of ``A_i`` (stored as one
  ``(m, d1·d2)`` matrix).
- :class:`GaussianOperator` (:mod:`~.gaussian`) — iid ``N(0, std²)`` entries (the paper's
  "mis-specified" case).
- :class:`WellSpecifiedOperator` (:mod:`~.well_specified`) — ``A_i = Φ diag(d_i) Ψᵀ`` (the
  paper's Assumption 1).
- :class:`EntrySampling` (:mod:`~.entries`) — observe ``m`` entries (matrix completion,
  inpainting), O(m) memory.
- :class:`SubsampledDCT` (:mod:`~.dct`, with the FFT-based DCT plan in :mod:`~.dct_plan`) —
  random signs, orthonormal 2-D DCT-II, ``m`` kept coefficients; O(d1·d2·log(d1·d2)) time,
  O(m) memory besides the signs.

Randomness comes only from an explicit ``seed`` (an int) or a CPU ``torch.Generator``
(:func:`spectralnn.validate.generator`); random draws are made on the CPU in float64 and then
converted, so one seed gives the same operator on every device and dtype.
"""

from ...validate import measurements_from_fraction
from .dct import SubsampledDCT
from .dense import DenseOperator, as_operator
from .entries import EntrySampling
from .gaussian import GaussianOperator
from .interface import SensingOperator, available_operators, operator_from_state
from .well_specified import WellSpecifiedOperator

__all__ = [
    "DenseOperator",
    "EntrySampling",
    "GaussianOperator",
    "SensingOperator",
    "SubsampledDCT",
    "WellSpecifiedOperator",
    "as_operator",
    "available_operators",
    "measurements_from_fraction",
    "operator_from_state",
]
