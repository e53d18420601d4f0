"""Structured random measurements: random signs, orthonormal 2-D DCT, kept coefficients."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ...validate import Seed, generator, positive_int, real_dtype, seed_record, shape_pair
from .dct_plan import DCTPlan, dct2, idct2
from .interface import SensingOperator, register, state_array, state_tensor

__all__ = ["SubsampledDCT"]


@register
class SubsampledDCT(SensingOperator):
    """Structured random measurements: signs, orthonormal 2-D DCT-II, ``m`` kept coefficients.

        A(X) = √(d1·d2/m) · vec(C_{d1} (S ∘ X) C_{d2}ᵀ)[indices]
        A*(r) = S ∘ (C_{d1}ᵀ R C_{d2}),  R = √(d1·d2/m) · (r scattered to ``indices``)

    ``S``: iid ±1 signs ``(d1, d2)``; ``indices``: ``m`` distinct coefficient positions drawn
    uniformly, so ``E[A*A] = I`` and ``A A* = (d1·d2/m) I_m`` exactly. Costs
    O(d1·d2·log(d1·d2)) per matrix via real FFTs; memory O(m) besides the signs.

    Args:
        shape: ``(d1, d2)``.
        m: number of kept coefficients, ``1 ≤ m ≤ d1·d2``.
        seed: int seed or CPU ``torch.Generator`` (signs drawn first, then the indices);
            kept as ``self.seed`` (-1 when a generator was given).
        dtype: ``torch.float32`` or ``torch.float64``.
    """

    kind = "dct"

    def __init__(
        self,
        shape: tuple[int, int],
        m: int,
        seed: Seed = 0,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        d1, d2 = shape_pair(shape)
        m = positive_int(m, "m")
        if m > d1 * d2:
            raise ConfigError(f"m = {m} exceeds the {d1 * d2} DCT coefficients; expected m ≤ d1·d2")
        g = generator(seed)
        signs = torch.randint(0, 2, (d1, d2), generator=g, dtype=torch.int8) * 2 - 1
        indices = torch.randperm(d1 * d2, generator=g)[:m]
        self._build((d1, d2), signs, indices, dtype, device)
        self.seed = seed_record(seed)

    def _build(
        self,
        shape: tuple[int, int],
        signs: torch.Tensor,
        indices: torch.Tensor,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> None:
        dtype = real_dtype(dtype)
        if dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype {dtype} is not supported by the FFT; expected float32/64")
        d1, d2 = shape
        if tuple(signs.shape) != shape or not bool((signs.abs() == 1).all()):
            raise DataError(f"signs must be a {shape} array of ±1 values")
        n = d1 * d2
        if (
            indices.dim() != 1
            or indices.numel() == 0
            or int(indices.min()) < 0
            or int(indices.max()) >= n
            or torch.unique(indices).numel() != indices.numel()
        ):
            raise DataError(f"indices must be distinct coefficient positions in [0, {n})")
        self.shape = shape
        self.num_measurements = int(indices.numel())
        self.signs = signs.to(device=device, dtype=dtype)
        self.indices = indices.to(device=device, dtype=torch.int64)
        self._rows = DCTPlan(d1, dtype, device)
        self._cols = self._rows if d2 == d1 else DCTPlan(d2, dtype, device)
        self._dtype = dtype
        self._device = self.signs.device

    @property
    def scale(self) -> float:
        """``√(d1·d2/m)``."""
        return math.sqrt(self.shape[0] * self.shape[1] / self.num_measurements)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SubsampledDCT:
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype {dtype} is not supported by the FFT; expected float32/64")
        new = cast(SubsampledDCT, super().to(device=device, dtype=dtype))
        if self._cols is self._rows:  # keep the shared plan shared
            new._cols = new._rows
        return new

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        C = dct2(X * self.signs, self._rows, self._cols)
        return C.flatten(-2).index_select(-1, self.indices) * self.scale

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        d1, d2 = self.shape
        R = r.new_zeros((*r.shape[:-1], d1 * d2)).index_add(-1, self.indices, r * self.scale)
        return idct2(R.unflatten(-1, (d1, d2)), self._rows, self._cols) * self.signs

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "signs": self.signs.detach().cpu().to(torch.int8).numpy(),
            "indices": self.indices.cpu().numpy(),
            "seed": np.asarray(self.seed, dtype=np.int64),
        }

    @classmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> SubsampledDCT:
        op = cls.__new__(cls)
        op._build(
            shape, state_tensor(state, "signs"), state_tensor(state, "indices"), dtype, None
        )
        op.seed = int(state_array(state, "seed"))
        return op
