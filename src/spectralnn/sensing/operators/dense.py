"""Explicit sensing matrices: :class:`DenseOperator`, and :func:`as_operator`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

import numpy as np
import torch

from ...errors import ConfigError, DataError, ShapeError
from ...validate import float_tensor
from .interface import DEFAULT_DENSE_LIMIT, SensingOperator, register, state_tensor

__all__ = ["DenseOperator", "as_operator"]


@register
class DenseOperator(SensingOperator):
    """Explicit sensing matrices ``A_i`` (``matrices``: ``(m, d1, d2)``).

    Stored as one ``(m, d1·d2)`` matrix ``M`` (row ``i`` = ``vec(A_i)``, row-major), so
    ``A(X) = vec(X) Mᵀ`` and ``A*(r) = unvec(r M)``: one matmul each way.
    """

    kind = "dense"

    def __init__(self, matrices: torch.Tensor) -> None:
        A = float_tensor(matrices, "matrices", 3)
        m, d1, d2 = A.shape
        if m == 0 or d1 == 0 or d2 == 0:
            raise ShapeError(f"matrices has shape {tuple(A.shape)}; expected no empty dimension")
        self._set(A.reshape(m, d1 * d2), (d1, d2))

    def _set(self, matrix: torch.Tensor, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.num_measurements = int(matrix.shape[0])
        self.matrix = matrix.contiguous()
        self._dtype = matrix.dtype
        self._device = matrix.device

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        return X.flatten(-2) @ self.matrix.T

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        return (r @ self.matrix).unflatten(-1, self.shape)

    def dense(self, max_elements: int = DEFAULT_DENSE_LIMIT) -> torch.Tensor:
        self._check_dense_size(max_elements)
        return self.matrix.reshape(self.num_measurements, *self.shape).clone()

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"matrix": self.matrix.detach().cpu().numpy()}

    @classmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> Self:
        matrix = state_tensor(state, "matrix").to(dtype)
        if matrix.dim() != 2 or matrix.shape[1] != shape[0] * shape[1]:
            raise DataError(
                f"operator state has a matrix of shape {tuple(matrix.shape)}; "
                f"expected (m, {shape[0] * shape[1]})"
            )
        op = cls.__new__(cls)
        DenseOperator._set(op, matrix, shape)
        return op


def as_operator(A: SensingOperator | torch.Tensor) -> SensingOperator:
    """``A`` itself if it is an operator; a :class:`DenseOperator` if it is an ``(m, d1, d2)``
    tensor of sensing matrices."""
    if isinstance(A, SensingOperator):
        return A
    if isinstance(A, torch.Tensor):
        return DenseOperator(A)
    raise ConfigError(
        f"A must be a SensingOperator or an (m, d1, d2) tensor, got {type(A).__name__}"
    )
