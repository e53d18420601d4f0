"""spectralnn: Spectral Neural Networks and non-linear matrix sensing.

Public API (stable names):

- :func:`spectral_apply`, :class:`SpectralActivation`: ``X ↦ U f(Σ) Vᵀ`` with an exact gradient.
- :class:`SNN`: the Spectral Neural Network of Chu, Ghosh, Lam & Mukherjee (ICML 2024).
"""

from .errors import ConfigError, DataError, ShapeError, SolverError, SpectralNNError
from .nn import SNN, SpectralActivation
from .spectral import (
    Activation,
    available_activations,
    get_activation,
    register_activation,
    spectral_apply,
    spectral_derivative,
)

__version__ = "0.1.0"

__all__ = [
    "SNN",
    "Activation",
    "ConfigError",
    "DataError",
    "ShapeError",
    "SolverError",
    "SpectralActivation",
    "SpectralNNError",
    "__version__",
    "available_activations",
    "get_activation",
    "register_activation",
    "spectral_apply",
    "spectral_derivative",
]
