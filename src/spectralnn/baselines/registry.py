"""Moved: the model registry is :mod:`spectralnn.models`; these names stay importable here."""

from ..models import MODELS, SOLVER_MODELS, TRAINABLE_MODELS, build_model, model_options, solve

__all__ = ["MODELS", "SOLVER_MODELS", "TRAINABLE_MODELS", "build_model", "model_options",
           "solve"]
