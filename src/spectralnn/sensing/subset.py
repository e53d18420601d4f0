"""An operator restricted to some of its measurements: ``A_S(X) = A(X)[S]``.

Used to hold out a validation part of the training measurements without copying or redrawing
the operator: ``forward`` evaluates the whole operator and keeps the rows ``S``; ``adjoint``
scatters ``r`` into ``R^m`` (zeros elsewhere) and applies ``A*``, so ``A_S* (r) = Σ_{i∈S} r_i
A_i``. :func:`restrict` returns a cheaper native operator where one exists (entry sampling).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .operators import (
    EntrySampling,
    SensingOperator,
    operator_from_state,
)
from .operators.interface import register, state_tensor

__all__ = ["SubsetOperator", "restrict"]


@register
class SubsetOperator(SensingOperator):
    """``A_S``: the measurements ``rows`` (distinct, in ``[0, m)``) of ``base``."""

    kind = "subset"

    def __init__(self, base: SensingOperator, rows: torch.Tensor | np.ndarray) -> None:
        if not isinstance(base, SensingOperator):
            raise ConfigError(f"base must be a SensingOperator, got {type(base).__name__}")
        idx = torch.as_tensor(rows)
        if idx.dim() != 1 or idx.numel() == 0 or idx.dtype.is_floating_point:
            raise ConfigError(f"rows must be a non-empty 1-D integer tensor, got shape "
                              f"{tuple(idx.shape)} and dtype {idx.dtype}")
        idx = idx.to(torch.int64)
        m = base.num_measurements
        if int(idx.min()) < 0 or int(idx.max()) >= m or torch.unique(idx).numel() != idx.numel():
            raise ConfigError(f"rows must be distinct measurement indices in [0, {m})")
        self.base = base
        self.rows = idx.to(base.device)
        self.shape = base.shape
        self.num_measurements = int(idx.numel())
        self._dtype = base.dtype
        self._device = base.device

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.base._forward(X).index_select(-1, self.rows)

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        full = r.new_zeros((*r.shape[:-1], self.base.num_measurements))
        return self.base._adjoint(full.index_copy(-1, self.rows, r))

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SubsetOperator:
        return SubsetOperator(self.base.to(device, dtype), self.rows.to(device))

    def nbytes(self) -> int:
        return self.base.nbytes() + self.rows.numel() * 8

    def _state_arrays(self) -> dict[str, np.ndarray]:
        out = {"rows": self.rows.cpu().numpy()}
        out.update({f"base.{k}": v for k, v in self.base.state().items()})
        return out

    @classmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> SubsetOperator:
        base = operator_from_state({k[5:]: v for k, v in state.items() if k.startswith("base.")})
        if base.shape != shape:
            raise DataError(f"subset operator state has a base of shape {base.shape}; "
                            f"expected {shape}")
        return cls(base.to(dtype=dtype), state_tensor(state, "rows"))


def restrict(op: SensingOperator, rows: torch.Tensor) -> SensingOperator:
    """The measurements ``rows`` of ``op``: a native :class:`EntrySampling` for entry sampling
    (same cost per entry), else a :class:`SubsetOperator`."""
    if isinstance(op, EntrySampling):
        return EntrySampling(op.shape, op.indices.cpu()[rows.cpu()], dtype=op.dtype,
                             device=op.device)
    if isinstance(op, SubsetOperator):
        return SubsetOperator(op.base, op.rows[rows.to(op.rows.device)])
    return SubsetOperator(op, rows)
