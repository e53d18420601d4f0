"""iid Gaussian sensing matrices (the paper's mis-specified case)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ...validate import (
    Seed,
    generator,
    positive_int,
    positive_number,
    real_dtype,
    seed_record,
    shape_pair,
)
from ..memory import check_dense_fits, dense_bytes
from .dense import DenseOperator
from .interface import register, state_array

__all__ = ["GaussianOperator"]

_GAUSSIAN_BLOCK = 256  # rows drawn at a time by GaussianOperator


@register
class GaussianOperator(DenseOperator):
    """``A_i`` with iid ``N(0, std²)`` entries (the paper's mis-specified case uses ``std = n``).

    Args:
        shape: ``(d1, d2)``.
        m: number of measurements.
        std: standard deviation of every entry (> 0).
        seed: int seed or CPU ``torch.Generator``; drawn in float64 on the CPU (in blocks of
            256 rows), then converted, so one seed gives the same values in every dtype.
            Kept as ``self.seed`` (-1 when a generator was given).
        dtype, device: of the stored ``(m, d1·d2)`` matrix.
    """

    kind = "gaussian"

    def __init__(
        self,
        shape: tuple[int, int],
        m: int,
        std: float = 1.0,
        seed: Seed = 0,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        d1, d2 = shape_pair(shape)
        m = positive_int(m, "m")
        std = positive_number(std, "std")
        dtype = real_dtype(dtype)
        g = generator(seed)
        check_dense_fits(dense_bytes(m, (d1, d2), dtype),
                         f"a dense Gaussian operator of {m} measurements of {d1}×{d2} matrices")
        # Drawn in float64 blocks of _GAUSSIAN_BLOCK rows, each converted into the result, so
        # the values do not depend on dtype/device and the peak memory stays one block above
        # the stored matrix.
        matrix = torch.empty(m, d1 * d2, dtype=dtype, device=device)
        for start in range(0, m, _GAUSSIAN_BLOCK):
            stop = min(m, start + _GAUSSIAN_BLOCK)
            block = torch.randn(stop - start, d1 * d2, generator=g, dtype=torch.float64)
            matrix[start:stop] = block.mul_(std)
        self._set(matrix, (d1, d2))
        self.std = std
        self.seed = seed_record(seed)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        out = super()._state_arrays()
        out["std"] = np.asarray(self.std, dtype=np.float64)
        out["seed"] = np.asarray(self.seed, dtype=np.int64)
        return out

    @classmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> GaussianOperator:
        op = super()._from_arrays(shape, dtype, state)
        op.std = float(state_array(state, "std"))
        op.seed = int(state_array(state, "seed"))
        return op

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", std={self.std:g}, seed={self.seed})"
