"""Typed errors raised at the public boundary.

Every error carries a one-line message naming the bad value and what was expected. All derive
from :class:`SpectralNNError` (itself a ``ValueError``) so callers can catch one type.
"""

from __future__ import annotations


class SpectralNNError(ValueError):
    """Base class of every error spectralnn raises on bad input."""


class ShapeError(SpectralNNError):
    """A tensor or array has the wrong number of dimensions or the wrong size."""


class ConfigError(SpectralNNError):
    """A setting (name, width, rate, key in a config file, ...) is invalid or unknown."""


class DataError(SpectralNNError):
    """Input data is missing, corrupt or not finite."""


class SolverError(SpectralNNError, RuntimeError):
    """An external solver failed or returned a status that cannot be trusted (also a
    ``RuntimeError``, as it was before it joined the family)."""


def unknown_name(kind: str, name: object, valid: list[str] | tuple[str, ...]) -> ConfigError:
    """Build the error for an unknown registry name, listing the valid ones."""
    return ConfigError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(valid))}")
