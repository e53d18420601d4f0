"""Baselines for matrix sensing, each behind the same interface as the SNN.

- :class:`LinearModel` (LG), :class:`DeepFactorization` (DF): trainable models;
- :func:`nuclear_norm_minimization` (NNM, cvxpy), :func:`singular_value_thresholding` (SVT):
  solvers returning the same :class:`~spectralnn.metrics.RunResult`;
- every model by name (``"snn"``, ``"woa"``, ``"lg"``, ``"df"``, ``"nnm"``, ``"svt"``):
  :mod:`spectralnn.models` (its names stay importable from here).
"""

from typing import Any

from .deep_factorization import DeepFactorization
from .linear import LinearModel
from .nuclear_norm import nuclear_norm_minimization, solve_nuclear_norm
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

_REGISTRY_NAMES = ("MODELS", "SOLVER_MODELS", "TRAINABLE_MODELS", "build_model",
                   "model_options", "solve")


def __getattr__(name: str) -> Any:
    """The registry's names, from :mod:`spectralnn.models` (which imports this package)."""
    if name in _REGISTRY_NAMES:
        from .. import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
