"""The observed pixels of an entry-sampling problem: a boolean mask and the measured values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError
from ..sensing.operators import EntrySampling, SensingOperator
from ..sensing.subset import SubsetOperator

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["ObservedPixels", "observed_pixels"]


@dataclass(frozen=True)
class ObservedPixels:
    """``mask`` ``(d1, d2)`` bool (True = observed) and ``values`` ``(d1, d2)`` float64 (the
    measurement at observed pixels, 0 elsewhere)."""

    mask: np.ndarray
    values: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.mask.shape[0]), int(self.mask.shape[1]))


def _entry_indices(op: SensingOperator, method: str) -> torch.Tensor:
    base = op.base if isinstance(op, SubsetOperator) else op
    if not isinstance(base, EntrySampling):
        raise ConfigError(f"{method} needs pixel (entries) measurements, got "
                          f"{getattr(base, 'kind', type(base).__name__)!r}; for other "
                          "measurements use tv, snn or softimpute")
    idx = base.indices.cpu()
    return idx[op.rows.cpu()] if isinstance(op, SubsetOperator) else idx


def observed_pixels(problem: SensingProblem, method: str) -> ObservedPixels:
    """Mask and values of ``problem``'s entry measurements (``problem``: anything with
    ``.shape``, ``.operator`` and ``.y``).

    Raises :class:`ConfigError` naming ``method`` when the measurements are not entries."""
    d1, d2 = problem.shape
    mask = np.zeros(d1 * d2, dtype=bool)
    values = np.zeros(d1 * d2, dtype=np.float64)
    idx = _entry_indices(problem.operator, method).numpy()
    mask[idx] = True
    values[idx] = problem.y.detach().cpu().double().numpy()
    return ObservedPixels(mask.reshape(d1, d2), values.reshape(d1, d2))
