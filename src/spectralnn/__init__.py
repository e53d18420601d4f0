"""spectralnn: Spectral Neural Networks and non-linear matrix sensing.

Public API (stable names):

- :func:`spectral_apply`, :class:`SpectralActivation`: ``X ↦ U f(Σ) Vᵀ`` with an exact gradient.
- :class:`SNN`: the Spectral Neural Network of Chu, Ghosh, Lam & Mukherjee (ICML 2024);
  exact factored evaluation on R×R cores for rank-r inputs (:class:`LowRank` outputs).
- :class:`RatingsCompleter`: ratings completion (fit / predict on row, column, value triplets).
- Sensing problems: operators (:class:`GaussianOperator`, :class:`WellSpecifiedOperator`,
  :class:`EntrySampling`, :class:`SubsampledDCT`), :class:`SensingProblem`,
  :func:`make_problem` and the paper's problems; ground truths from :mod:`spectralnn.data`.
- Training: :class:`Trainer`, :func:`train`, :func:`sweep`, :func:`paper_lr_search`;
  baselines by name via :func:`build_model` / :func:`solve`.
- Completion of real data: :func:`complete`, :class:`SNNCompleter` (NaN = missing).
- Recovery without tuning: :func:`fit` (``spectralnn.recovery.fit``: a problem and a method
  name in, the recovered matrix with its status out).
- Subpackages loaded on first use: ``spectralnn.theory`` (reduced dynamics, KKT certificate,
  exact optima, rate fits), ``spectralnn.experiments`` (the paper's figures),
  ``spectralnn.recovery`` (recovery without tuning: ``spectralnn.recovery.fit``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .completion import complete
from .data import (
    available_images,
    load_matrix,
    mnist_digit,
    normalize,
    skimage_image,
    synthetic_low_rank,
)
from .errors import (
    ConfigError,
    DataError,
    MissingDependencyError,
    ShapeError,
    SolverError,
    SpectralNNError,
)
from .factored import LowRank
from .metrics import RunResult
from .models import MODELS, build_model, solve
from .nn import SNN, SpectralActivation
from .rates import paper_lr_search, sweep
from .ratings import RatingsCompleter
from .result import FitResult
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
    matmul_error_bound,
    register_activation,
    spectral_apply,
    spectral_derivative,
)
from .trainer import Trainer, train

# The one place the version is written; pyproject.toml reads it (setuptools dynamic version).
__version__ = "0.2.0"

_LAZY = ("theory", "experiments", "sweeps", "recovery")


def __getattr__(name: str) -> Any:
    """``spectralnn.theory``, ``spectralnn.experiments`` and ``spectralnn.recovery`` are imported
    on first access; so is ``fit`` (:func:`spectralnn.recovery.fit`)."""
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name == "fit":  # the recovery path, loaded on first use
        return importlib.import_module(".recovery", __name__).fit
    if name == "SNNCompleter":  # scikit-learn's import, when installed, only for its users
        from .completion.transformer import SNNCompleter

        return SNNCompleter
    raise AttributeError(f"module 'spectralnn' has no attribute {name!r}")


__all__ = [
    "MODELS",
    "SNN",
    "Activation",
    "ConfigError",
    "DataError",
    "DenseOperator",
    "EntrySampling",
    "FitResult",
    "GaussianOperator",
    "LowRank",
    "MissingDependencyError",
    "RatingsCompleter",
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
    "fit",
    "get_activation",
    "load_matrix",
    "make_problem",
    "matmul_error_bound",
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
