"""Matrix sensing: linear operators ``A`` with one interface, and problem builders.

- :mod:`spectralnn.sensing.operators`: ``A(X)_i = ⟨A_i, X⟩`` and ``A*(r) = Σ r_i A_i`` for
  dense, Gaussian, well-specified (``A_i = Φ diag(d_i) Ψᵀ``), entry-sampling and subsampled-DCT
  measurements, one module per kind behind one interface.
- :mod:`spectralnn.sensing.subset`: an operator restricted to some of its measurements.
- :mod:`spectralnn.sensing.memory`: refuse dense operators that would not fit in memory.
- :mod:`spectralnn.sensing.problem`: :class:`SensingProblem` (ground truth, measurements,
  held-out set, ``.npz`` files) and :func:`make_problem` / the paper's problems.
"""

from .operators import (
    DenseOperator,
    EntrySampling,
    GaussianOperator,
    SensingOperator,
    SubsampledDCT,
    WellSpecifiedOperator,
    as_operator,
    available_operators,
    measurements_from_fraction,
    operator_from_state,
)
from .problem import (
    MEASUREMENTS,
    SensingProblem,
    make_problem,
    paper_mnist_problem,
    paper_synthetic_problem,
)
from .subset import SubsetOperator, restrict

__all__ = [
    "MEASUREMENTS",
    "DenseOperator",
    "EntrySampling",
    "GaussianOperator",
    "SensingOperator",
    "SensingProblem",
    "SubsampledDCT",
    "SubsetOperator",
    "WellSpecifiedOperator",
    "as_operator",
    "available_operators",
    "make_problem",
    "measurements_from_fraction",
    "operator_from_state",
    "paper_mnist_problem",
    "paper_synthetic_problem",
    "restrict",
]
