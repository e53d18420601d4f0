"""Theory toolkit: the paper's Theorems 1–3, checked numerically.

- Theorem 1 (reduced dynamics): :class:`ReducedSNN` — under Assumptions 1–2 the SNN is
  exactly the same network on vectors; GD on it equals GD on the full SNN, iterate by iterate.
  :func:`gradient_flow` integrates the corresponding ODE.
- Theorem 2 (exponential rate): :func:`fit_exponential_rate`, :func:`sliding_rate_fits`,
  :func:`exponential_phases`.
- Theorem 3 (optimality): :func:`kkt_certificate` for ``min ‖X‖_* s.t. A(X) = y`` at any
  ``X``; exact optima from a linear program under Assumption 1
  (:func:`well_specified_optimum`) or from cvxpy in general (:func:`nuclear_norm_optimum`).
- The study (SNN limit vs. optimum across initial scales and learning rates):
  :func:`spectralnn.theory.study.run_study`.
"""

from .flow import FlowResult, gradient_flow
from .kkt import (
    KKTCertificate,
    kkt_certificate,
    numerical_rank,
    project_onto_range,
    sensing_matrix,
)
from .optimum import (
    Optimum,
    l1_minimum,
    min_frobenius_interpolant,
    nuclear_norm_optimum,
    well_specified_optimum,
)
from .rate import RateFit, exponential_phases, fit_exponential_rate, sliding_rate_fits
from .reduced import ReducedHistory, ReducedSNN, diagonal_data

__all__ = [
    "FlowResult",
    "KKTCertificate",
    "Optimum",
    "RateFit",
    "ReducedHistory",
    "ReducedSNN",
    "diagonal_data",
    "exponential_phases",
    "fit_exponential_rate",
    "gradient_flow",
    "kkt_certificate",
    "l1_minimum",
    "min_frobenius_interpolant",
    "nuclear_norm_optimum",
    "numerical_rank",
    "project_onto_range",
    "sensing_matrix",
    "sliding_rate_fits",
    "well_specified_optimum",
]
