"""spectralnn: Spectral Neural Networks and non-linear matrix sensing.

Public API (stable names):

- :func:`spectral_apply`, :class:`SpectralActivation`: ``X ↦ U f(Σ) Vᵀ`` with an exact gradient.
- :class:`SNN`: the Spectral Neural Network of Chu, Ghosh, Lam & Mukherjee (ICML 2024).
- Sensing problems: operators (:class:`GaussianOperator`, :class:`WellSpecifiedOperator`,
  :class:`EntrySampling`, :class:`SubsampledDCT`), :class:`SensingProblem`,
  :func:`make_problem` and the paper's problems; ground truths from :mod:`spectralnn.data`.
- Training: :class:`Trainer`, :func:`train`, :func:`sweep`, :func:`paper_lr_search`;
  baselines by name via :func:`build_model` / :func:`solve`.
- Completion of real data: :func:`complete`, :class:`SNNCompleter` (NaN = missing).
- Subpackages loaded on first use: ``spectralnn.theory`` (reduced dynamics, KKT certificate,
  exact optima, rate fits), ``spectralnn.experiments`` (the paper's figures),
  ``spectralnn.recovery`` (recovery without tuning: ``spectralnn.recovery.fit``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .baselines.registry import MODELS, build_model, solve
from .completion import SNNCompleter, complete
from .data import (
    available_images,
    load_matrix,
    mnist_digit,
    normalize,
    skimage_image,
    synthetic_low_rank,
)
from .errors import ConfigError, DataError, ShapeError, SolverError, SpectralNNError
from .metrics import RunResult
from .nn import SNN, SpectralActivation
from .sensing import (
    DenseOperator,
    EntrySampling,
    GaussianOperator,
    SensingOperator,
    SensingProblem,
    SubsampledDCT,
    WellSpecifiedOperator,
    as_operator,
    make_problem,
    paper_mnist_problem,
    paper_synthetic_problem,
)
from .spectral import (
    Activation,
    available_activations,
    get_activation,
    register_activation,
    spectral_apply,
    spectral_derivative,
)
from .train import Trainer, paper_lr_search, sweep, train

__version__ = "0.1.0"

_LAZY = ("theory", "experiments", "recovery")


def __getattr__(name: str) -> Any:
    """``spectralnn.theory``, ``spectralnn.experiments`` and ``spectralnn.recovery`` are imported
    on first access."""
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'spectralnn' has no attribute {name!r}")


__all__ = [
    "MODELS",
    "SNN",
    "Activation",
    "ConfigError",
    "DataError",
    "DenseOperator",
    "EntrySampling",
    "GaussianOperator",
    "RunResult",
    "SNNCompleter",
    "SensingOperator",
    "SensingProblem",
    "ShapeError",
    "SolverError",
    "SpectralActivation",
    "SpectralNNError",
    "SubsampledDCT",
    "Trainer",
    "WellSpecifiedOperator",
    "__version__",
    "as_operator",
    "available_activations",
    "available_images",
    "build_model",
    "complete",
    "get_activation",
    "load_matrix",
    "make_problem",
    "mnist_digit",
    "normalize",
    "paper_lr_search",
    "paper_mnist_problem",
    "paper_synthetic_problem",
    "register_activation",
    "skimage_image",
    "solve",
    "spectral_apply",
    "spectral_derivative",
    "sweep",
    "synthetic_low_rank",
    "train",
]
