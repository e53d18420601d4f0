"""The interface every sensing operator implements, and the registry of operator kinds.

    forward:  A(X)_i = ⟨A_i, X⟩                (..., d1, d2) → (..., m)
    adjoint:  A*(r)  = Σ_i r_i A_i              (..., m) → (..., d1, d2)

Each concrete class registers itself under its ``kind`` (:func:`register`), so that
:func:`operator_from_state` rebuilds any operator from ``op.state()`` (an ``.npz``-ready dict).
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from ...errors import ConfigError, DataError, ShapeError, unknown_name
from ...validate import real_dtype, shape_pair
from .dct_plan import DCTPlan

__all__ = [
    "DEFAULT_DENSE_LIMIT",
    "SensingOperator",
    "available_operators",
    "operator_from_state",
    "register",
    "state_array",
    "state_tensor",
]

#: Largest ``m·d1·d2`` that :meth:`SensingOperator.dense` builds by default (1 GiB in float64).
DEFAULT_DENSE_LIMIT = 2**27


class SensingOperator(abc.ABC):
    """A linear map ``A: R^{d1×d2} → R^m``, ``A(X)_i = ⟨A_i, X⟩``, and its adjoint.

    Attributes:
        shape: ``(d1, d2)``, the shape of the sensed matrix.
        num_measurements: ``m``.
        dtype, device: of the operator's tensors; inputs must have the same dtype.

    Subclasses implement ``_forward`` / ``_adjoint`` on validated inputs and the state hooks.
    Tensor attributes are converted by :meth:`to` automatically (floating ones to the new dtype,
    integer ones only to the new device).
    """

    kind: ClassVar[str] = ""
    shape: tuple[int, int]
    num_measurements: int
    _dtype: torch.dtype
    _device: torch.device

    # ---- shape helpers
    @property
    def m(self) -> int:
        """Alias of :attr:`num_measurements`."""
        return self.num_measurements

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    # ---- maths
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``A(X)_i = ⟨A_i, X⟩``: ``(..., d1, d2) → (..., m)``; differentiable in ``X``."""
        d1, d2 = self.shape
        self._check_input(X, "X", (d1, d2), f"(..., {d1}, {d2})")
        return self._forward(X)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.forward(X)

    def adjoint(self, r: torch.Tensor) -> torch.Tensor:
        """``A*(r) = Σ_i r_i A_i``: ``(..., m) → (..., d1, d2)``; differentiable in ``r``."""
        m = self.num_measurements
        self._check_input(r, "r", (m,), f"(..., {m})")
        return self._adjoint(r)

    def dense(self, max_elements: int = DEFAULT_DENSE_LIMIT) -> torch.Tensor:
        """All sensing matrices as one ``(m, d1, d2)`` tensor, ``dense()[i] = A_i``.

        Computed as ``A*(e_i)`` for the standard basis ``e_i`` of ``R^m``. Meant for small
        problems (convex solvers, theory checks); refuses when ``m·d1·d2 > max_elements``.
        """
        self._check_dense_size(max_elements)
        eye = torch.eye(self.num_measurements, dtype=self.dtype, device=self.device)
        return self._adjoint(eye)

    def _check_dense_size(self, max_elements: int) -> None:
        d1, d2 = self.shape
        m = self.num_measurements
        if m * d1 * d2 > max_elements:
            raise ConfigError(
                f"dense() of a {self.kind} operator needs m·d1·d2 = {m * d1 * d2} elements; "
                f"expected at most max_elements = {max_elements}"
            )

    def nbytes(self) -> int:
        """Bytes held by the operator's tensors."""
        total = 0
        for value in vars(self).values():
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()
            elif isinstance(value, DCTPlan):
                total += value.nbytes()
        return total

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SensingOperator:
        """A new operator with its tensors on ``device`` and floating tensors in ``dtype``."""
        if dtype is not None:
            real_dtype(dtype)
        new = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                if value.dtype.is_floating_point:
                    setattr(new, name, value.to(device=device, dtype=dtype))
                else:
                    setattr(new, name, value.to(device=device))
            elif isinstance(value, DCTPlan):
                setattr(new, name, value.to(device, dtype))
        if dtype is not None:
            new._dtype = dtype
        if device is not None:
            new._device = torch.device(device)
        return new

    # ---- persistence
    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild the operator exactly, as numpy arrays (``.npz``-ready).

        Keys ``kind``, ``dtype``, ``shape`` plus the operator's own arrays; see
        :func:`operator_from_state`.
        """
        out: dict[str, np.ndarray] = {
            "kind": np.asarray(self.kind),
            "dtype": np.asarray(str(self.dtype).removeprefix("torch.")),
            "shape": np.asarray(self.shape, dtype=np.int64),
        }
        out.update(self._state_arrays())
        return out

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SensingOperator:
        """Rebuild an operator from :meth:`state` (on the CPU)."""
        op = operator_from_state(state)
        if not isinstance(op, cls):
            raise DataError(f"state holds a {op.kind!r} operator; expected a {cls.__name__}")
        return op

    # ---- hooks
    @abc.abstractmethod
    def _forward(self, X: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _adjoint(self, r: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def _state_arrays(self) -> dict[str, np.ndarray]: ...

    @classmethod
    @abc.abstractmethod
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> SensingOperator: ...

    # ---- internals
    def _check_input(self, t: object, name: str, trailing: tuple[int, ...], expected: str) -> None:
        if not isinstance(t, torch.Tensor):
            raise ShapeError(
                f"{name} must be a torch.Tensor of shape {expected}, got {type(t).__name__}"
            )
        k = len(trailing)
        if t.dim() < k or tuple(t.shape[-k:]) != trailing:
            raise ShapeError(
                f"{name} has shape {tuple(t.shape)}; expected {expected} for this "
                f"{self.kind} operator"
            )
        if t.dtype != self.dtype:
            raise ConfigError(
                f"{name} has dtype {t.dtype}; expected {self.dtype} "
                "(convert it, or the operator with .to(dtype=...))"
            )

    def __repr__(self) -> str:
        d1, d2 = self.shape
        return (
            f"{type(self).__name__}(shape=({d1}, {d2}), m={self.num_measurements}, "
            f"dtype={self.dtype})"
        )


_REGISTRY: dict[str, type[SensingOperator]] = {}


def register(cls: type[SensingOperator]) -> type[SensingOperator]:
    _REGISTRY[cls.kind] = cls
    return cls


def available_operators() -> list[str]:
    """The ``kind`` names of all operator classes (the keys of saved states)."""
    return sorted(_REGISTRY)


def _state_str(state: Mapping[str, Any], key: str) -> str:
    if key not in state:
        raise DataError(f"operator state has no {key!r} entry; expected keys kind, dtype, shape")
    return str(np.asarray(state[key]).item())


def state_array(state: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in state:
        raise DataError(f"operator state has no {key!r} entry")
    return np.asarray(state[key])


def state_tensor(state: Mapping[str, Any], key: str) -> torch.Tensor:
    return torch.from_numpy(np.array(state_array(state, key), copy=True))


def operator_from_state(state: Mapping[str, Any]) -> SensingOperator:
    """Rebuild any operator from ``op.state()`` (e.g. read back from an ``.npz`` file)."""
    kind = _state_str(state, "kind")
    if kind not in _REGISTRY:
        raise unknown_name("operator kind", kind, available_operators())
    dtype_name = _state_str(state, "dtype")
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DataError(f"operator state has dtype {dtype_name!r}; expected a floating dtype")
    shape_arr = state_array(state, "shape")
    if shape_arr.shape != (2,):
        raise DataError(f"operator state has shape entry {shape_arr.tolist()}; expected 2 ints")
    shape = shape_pair(tuple(int(s) for s in shape_arr))
    return _REGISTRY[kind]._from_arrays(shape, dtype, state)
