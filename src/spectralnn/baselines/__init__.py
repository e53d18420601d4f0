"""Baselines for matrix sensing, each behind the same interface as the SNN.

- :class:`LinearModel` (LG), :class:`DeepFactorization` (DF): trainable models;
- :func:`nuclear_norm_minimization` (NNM, cvxpy), :func:`singular_value_thresholding` (SVT):
  solvers returning the same :class:`~spectralnn.metrics.RunResult`;
- :func:`build_model` / :func:`solve`: every model by name (``"snn"``, ``"woa"``, ``"lg"``,
  ``"df"``, ``"nnm"``, ``"svt"``).
"""

from .deep_factorization import DeepFactorization
from .linear import LinearModel
from .nuclear_norm import nuclear_norm_minimization, solve_nuclear_norm
from .registry import (
    MODELS,
    SOLVER_MODELS,
    TRAINABLE_MODELS,
    build_model,
    model_options,
    solve,
)
from .svt import singular_value_thresholding

__all__ = [
    "MODELS",
    "SOLVER_MODELS",
    "TRAINABLE_MODELS",
    "DeepFactorization",
    "LinearModel",
    "build_model",
    "model_options",
    "nuclear_norm_minimization",
    "singular_value_thresholding",
    "solve",
    "solve_nuclear_norm",
]
