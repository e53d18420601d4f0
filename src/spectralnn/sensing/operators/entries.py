"""Entry sampling: observe ``m`` entries of the matrix (completion, inpainting)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ...errors import ConfigError, ShapeError
from ...validate import Seed, entry_count, generator, real_dtype, shape_pair
from .interface import SensingOperator, register, state_tensor

__all__ = ["EntrySampling"]


@register
class EntrySampling(SensingOperator):
    """Observe ``m`` distinct entries (matrix completion / inpainting).

    ``indices``: ``(m,)`` flat row-major positions ``j·d2 + k``; ``A_i = e_j e_kᵀ``, so
    ``A(X) = vec(X)[indices]`` and ``A*(r)`` puts ``r`` back at those positions (zeros
    elsewhere). ``A A* = I_m``. Memory O(m) (the int64 indices).
    """

    kind = "entries"

    def __init__(
        self,
        shape: tuple[int, int],
        indices: torch.Tensor | np.ndarray,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> None:
        d1, d2 = shape_pair(shape)
        dtype = real_dtype(dtype)
        idx = torch.as_tensor(indices)
        if idx.dim() != 1 or idx.numel() == 0:
            raise ShapeError(f"indices has shape {tuple(idx.shape)}; expected (m,) with m > 0")
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise ConfigError(f"indices has dtype {idx.dtype}; expected an integer dtype")
        idx = idx.to(torch.int64)
        n = d1 * d2
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise ConfigError(f"index {bad} is out of range; expected 0 ≤ index < d1·d2 = {n}")
        if torch.unique(idx).numel() != idx.numel():
            raise ConfigError(
                f"indices has {idx.numel() - torch.unique(idx).numel()} duplicate(s); "
                "expected distinct entries"
            )
        self.shape = (d1, d2)
        self.num_measurements = int(idx.numel())
        self.indices = idx.to(device=device)
        self._dtype = dtype
        self._device = self.indices.device

    @classmethod
    def random(
        cls,
        shape: tuple[int, int],
        fraction: float | None = None,
        m: int | None = None,
        seed: Seed = 0,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> EntrySampling:
        """``m`` entries (or ``round(fraction·d1·d2)``) drawn uniformly without replacement."""
        d1, d2 = shape_pair(shape)
        m = entry_count(d1 * d2, fraction, m)
        g = generator(seed)
        idx = torch.randperm(d1 * d2, generator=g)[:m]
        return cls((d1, d2), idx, dtype=dtype, device=device)

    @classmethod
    def from_mask(
        cls,
        mask: torch.Tensor | np.ndarray,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> EntrySampling:
        """Observe the ``True`` entries of a boolean ``(d1, d2)`` mask (row-major order)."""
        mk = torch.as_tensor(mask)
        if mk.dim() != 2:
            raise ShapeError(f"mask has shape {tuple(mk.shape)}; expected (d1, d2)")
        if mk.dtype != torch.bool:
            raise ConfigError(f"mask has dtype {mk.dtype}; expected torch.bool")
        idx = torch.nonzero(mk.flatten().cpu()).flatten()
        if idx.numel() == 0:
            raise ConfigError("mask has no True entry; expected at least one observed entry")
        return cls((int(mk.shape[0]), int(mk.shape[1])), idx, dtype=dtype, device=device)

    def mask(self) -> torch.Tensor:
        """Boolean ``(d1, d2)`` tensor, ``True`` at the observed entries."""
        out = torch.zeros(self.shape[0] * self.shape[1], dtype=torch.bool, device=self.device)
        out[self.indices] = True
        return out.reshape(self.shape)

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        return X.flatten(-2).index_select(-1, self.indices)

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        d1, d2 = self.shape
        out = r.new_zeros((*r.shape[:-1], d1 * d2))
        return out.index_add(-1, self.indices, r).unflatten(-1, (d1, d2))

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"indices": self.indices.cpu().numpy()}

    @classmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> EntrySampling:
        return cls(shape, state_tensor(state, "indices"), dtype=dtype)
