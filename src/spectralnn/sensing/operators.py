"""Linear sensing operators ``A: R^{d1×d2} → R^m`` behind one interface.

Every operator maps a matrix (or a batch of matrices) to its measurements and back:

    forward:  A(X)_i = ⟨A_i, X⟩ = Σ_{j,k} (A_i)_{jk} X_{jk}      (..., d1, d2) → (..., m)
    adjoint:  A*(r)  = Σ_i r_i A_i                               (..., m) → (..., d1, d2)

so that ``⟨A(X), r⟩ = ⟨X, A*(r)⟩``. Both directions are plain torch code, differentiable by
autograd (models are trained through ``forward``).

Concrete operators:

- :class:`DenseOperator` — any user-given stack of ``A_i`` (stored as one ``(m, d1·d2)`` matrix).
- :class:`GaussianOperator` — iid ``N(0, std²)`` entries (the paper's "mis-specified" case).
- :class:`WellSpecifiedOperator` — ``A_i = Φ diag(d_i) Ψᵀ`` (the paper's Assumption 1).
- :class:`EntrySampling` — observe ``m`` entries (matrix completion, inpainting), O(m) memory.
- :class:`SubsampledDCT` — random signs, orthonormal 2-D DCT-II, ``m`` kept coefficients;
  O(d1·d2·log(d1·d2)) time, O(m) memory besides the signs.

Randomness comes only from an explicit ``seed`` (an int) or a CPU ``torch.Generator``; random
draws are made on the CPU in float64 and then converted, so one seed gives the same operator
on every device and dtype.
"""

from __future__ import annotations

import abc
import copy
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from spectralnn.errors import ConfigError, DataError, ShapeError, unknown_name

__all__ = [
    "DenseOperator",
    "EntrySampling",
    "GaussianOperator",
    "SensingOperator",
    "SubsampledDCT",
    "WellSpecifiedOperator",
    "as_operator",
    "available_operators",
    "measurements_from_fraction",
    "operator_from_state",
]

Seed = int | torch.Generator

_DEFAULT_DENSE_LIMIT = 2**27  # elements; 1 GiB in float64
_GAUSSIAN_BLOCK = 256  # rows drawn at a time by GaussianOperator


# --------------------------------------------------------------------------- input checks


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {value!r}")
    return int(value)


def _check_positive_int(value: object, name: str) -> int:
    v = _as_int(value, name)
    if v <= 0:
        raise ConfigError(f"{name} must be a positive int, got {v}")
    return v


def _check_shape(shape: object) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 2:
        raise ShapeError(f"shape must be a pair (d1, d2) of positive ints, got {shape!r}")
    d1, d2 = shape
    if (
        isinstance(d1, bool)
        or isinstance(d2, bool)
        or not isinstance(d1, (int, np.integer))
        or not isinstance(d2, (int, np.integer))
        or d1 <= 0
        or d2 <= 0
    ):
        raise ShapeError(f"shape must be a pair (d1, d2) of positive ints, got {shape!r}")
    return int(d1), int(d2)


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype must be a real floating torch dtype, got {dtype!r}")
    return dtype


def _check_finite_tensor(t: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise DataError(f"{name} contains {bad} NaN/Inf value(s); expected only finite values")


def _check_float_tensor(t: object, name: str, ndim: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor with {ndim} dims, got {type(t).__name__}")
    if t.dim() != ndim:
        raise ShapeError(f"{name} has shape {tuple(t.shape)}; expected {ndim} dims")
    if not t.dtype.is_floating_point:
        raise ConfigError(f"{name} has dtype {t.dtype}; expected a real floating dtype")
    _check_finite_tensor(t, name)
    return t


def _generator(seed: object) -> torch.Generator:
    """A CPU generator from an int seed (0 ≤ seed < 2**63), or the given CPU generator."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ConfigError(f"seed generator is on {seed.device}; expected a CPU generator")
        return seed
    s = _as_int(seed, "seed")
    if not 0 <= s < 2**63:
        raise ConfigError(f"seed must be in [0, 2**63), got {s}")
    g = torch.Generator()
    g.manual_seed(s)
    return g


def _seed_record(seed: Seed) -> int:
    """The int kept for display when an operator is built from ``seed`` (-1 for a generator)."""
    return -1 if isinstance(seed, torch.Generator) else int(seed)


def measurements_from_fraction(fraction: object, total: int) -> int:
    """``m = round(fraction · total)`` for ``fraction ∈ (0, 1]``; at least one measurement."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise ConfigError(f"fraction must be a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise ConfigError(f"fraction must be in (0, 1], got {f}")
    m = round(f * total)
    if m < 1:
        raise ConfigError(
            f"fraction {f} of {total} entries gives 0 measurements; expected at least 1"
        )
    return m


# --------------------------------------------------------------------------- the interface


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

    def dense(self, max_elements: int = _DEFAULT_DENSE_LIMIT) -> torch.Tensor:
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
            elif isinstance(value, _DCTPlan):
                total += value.nbytes()
        return total

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SensingOperator:
        """A new operator with its tensors on ``device`` and floating tensors in ``dtype``."""
        if dtype is not None:
            _check_dtype(dtype)
        new = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                if value.dtype.is_floating_point:
                    setattr(new, name, value.to(device=device, dtype=dtype))
                else:
                    setattr(new, name, value.to(device=device))
            elif isinstance(value, _DCTPlan):
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


def _register(cls: type[SensingOperator]) -> type[SensingOperator]:
    _REGISTRY[cls.kind] = cls
    return cls


def available_operators() -> list[str]:
    """The ``kind`` names of all operator classes (the keys of saved states)."""
    return sorted(_REGISTRY)


def _state_str(state: Mapping[str, Any], key: str) -> str:
    if key not in state:
        raise DataError(f"operator state has no {key!r} entry; expected keys kind, dtype, shape")
    return str(np.asarray(state[key]).item())


def _state_array(state: Mapping[str, Any], key: str) -> np.ndarray:
    if key not in state:
        raise DataError(f"operator state has no {key!r} entry")
    return np.asarray(state[key])


def _state_tensor(state: Mapping[str, Any], key: str) -> torch.Tensor:
    return torch.from_numpy(np.array(_state_array(state, key), copy=True))


def operator_from_state(state: Mapping[str, Any]) -> SensingOperator:
    """Rebuild any operator from ``op.state()`` (e.g. read back from an ``.npz`` file)."""
    kind = _state_str(state, "kind")
    if kind not in _REGISTRY:
        raise unknown_name("operator kind", kind, available_operators())
    dtype_name = _state_str(state, "dtype")
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DataError(f"operator state has dtype {dtype_name!r}; expected a floating dtype")
    shape_arr = _state_array(state, "shape")
    if shape_arr.shape != (2,):
        raise DataError(f"operator state has shape entry {shape_arr.tolist()}; expected 2 ints")
    shape = _check_shape(tuple(int(s) for s in shape_arr))
    return _REGISTRY[kind]._from_arrays(shape, dtype, state)


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


# --------------------------------------------------------------------------- dense


@_register
class DenseOperator(SensingOperator):
    """Explicit sensing matrices ``A_i`` (``matrices``: ``(m, d1, d2)``).

    Stored as one ``(m, d1·d2)`` matrix ``M`` (row ``i`` = ``vec(A_i)``, row-major), so
    ``A(X) = vec(X) Mᵀ`` and ``A*(r) = unvec(r M)``: one matmul each way.
    """

    kind = "dense"

    def __init__(self, matrices: torch.Tensor) -> None:
        A = _check_float_tensor(matrices, "matrices", 3)
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

    def dense(self, max_elements: int = _DEFAULT_DENSE_LIMIT) -> torch.Tensor:
        self._check_dense_size(max_elements)
        return self.matrix.reshape(self.num_measurements, *self.shape).clone()

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"matrix": self.matrix.detach().cpu().numpy()}

    @classmethod
    def _from_arrays(cls, shape, dtype, state):  # type: ignore[override]
        matrix = _state_tensor(state, "matrix").to(dtype)
        if matrix.dim() != 2 or matrix.shape[1] != shape[0] * shape[1]:
            raise DataError(
                f"operator state has a matrix of shape {tuple(matrix.shape)}; "
                f"expected (m, {shape[0] * shape[1]})"
            )
        op = cls.__new__(cls)
        DenseOperator._set(op, matrix, shape)
        return op


@_register
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
        d1, d2 = _check_shape(shape)
        m = _check_positive_int(m, "m")
        std = _check_std(std)
        dtype = _check_dtype(dtype)
        g = _generator(seed)
        from spectralnn.sensing.memory import check_dense_fits, dense_bytes

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
        self.seed = _seed_record(seed)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        out = super()._state_arrays()
        out["std"] = np.asarray(self.std, dtype=np.float64)
        out["seed"] = np.asarray(self.seed, dtype=np.int64)
        return out

    @classmethod
    def _from_arrays(cls, shape, dtype, state):  # type: ignore[override]
        op = super()._from_arrays(shape, dtype, state)
        op.std = float(_state_array(state, "std"))
        op.seed = int(_state_array(state, "seed"))
        return op

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", std={self.std:g}, seed={self.seed})"


def _check_std(std: object) -> float:
    if isinstance(std, bool) or not isinstance(std, (int, float, np.floating, np.integer)):
        raise ConfigError(f"std must be a positive finite number, got {std!r}")
    s = float(std)
    if not (math.isfinite(s) and s > 0):
        raise ConfigError(f"std must be a positive finite number, got {s}")
    return s


# --------------------------------------------------------------------------- well-specified


@_register
class WellSpecifiedOperator(SensingOperator):
    """Assumption 1: ``A_i = Φ diag(d_i) Ψᵀ`` with shared singular vectors.

    Args:
        phi: ``Φ``, ``(d1, r)`` with orthonormal columns.
        psi: ``Ψ``, ``(d2, r)`` with orthonormal columns.
        diagonals: ``(m, r)``, row ``i`` is ``d_i``.

    Then ``⟨A_i, X⟩ = Σ_k d_ik (Φᵀ X Ψ)_kk``, so ``A(X) = D · diag(Φᵀ X Ψ)`` and
    ``A*(r) = Φ diag(Dᵀ r) Ψᵀ``: O(d1·d2·r) per matrix, no ``(m, d1, d2)`` tensor.
    """

    kind = "well_specified"

    def __init__(self, phi: torch.Tensor, psi: torch.Tensor, diagonals: torch.Tensor) -> None:
        phi = _check_float_tensor(phi, "phi", 2)
        psi = _check_float_tensor(psi, "psi", 2)
        diagonals = _check_float_tensor(diagonals, "diagonals", 2)
        r = phi.shape[1]
        if psi.shape[1] != r or diagonals.shape[1] != r:
            raise ShapeError(
                f"phi {tuple(phi.shape)}, psi {tuple(psi.shape)} and diagonals "
                f"{tuple(diagonals.shape)} disagree; expected (d1, r), (d2, r), (m, r)"
            )
        if r == 0 or diagonals.shape[0] == 0:
            raise ShapeError(
                f"diagonals has shape {tuple(diagonals.shape)}; expected (m, r) with m, r > 0"
            )
        if not (phi.dtype == psi.dtype == diagonals.dtype):
            raise ConfigError(
                f"phi, psi, diagonals have dtypes {phi.dtype}, {psi.dtype}, {diagonals.dtype}; "
                "expected one dtype"
            )
        for name, Q in (("phi", phi), ("psi", psi)):
            eye = torch.eye(r, dtype=Q.dtype, device=Q.device)
            err = float((Q.T @ Q - eye).abs().max())
            tol = 1e3 * torch.finfo(Q.dtype).eps * max(Q.shape)
            if err > tol:
                raise ConfigError(
                    f"{name} columns are not orthonormal (max |QᵀQ - I| = {err:.3g}); "
                    f"expected at most {tol:.3g}"
                )
        self.phi = phi
        self.psi = psi
        self.diagonals = diagonals
        self.shape = (int(phi.shape[0]), int(psi.shape[0]))
        self.num_measurements = int(diagonals.shape[0])
        self._dtype = phi.dtype
        self._device = phi.device

    @property
    def rank(self) -> int:
        """``r``, the number of shared singular directions."""
        return int(self.phi.shape[1])

    @classmethod
    def paper(
        cls,
        X_star: torch.Tensor,
        m: int,
        seed: Seed = 0,
        std: float | None = None,
    ) -> WellSpecifiedOperator:
        """The paper's choice (Fig. 2): ``Φ, Ψ`` = singular vectors of ``X_star``
        (thin SVD, ``r = n = min(d1, d2)``), ``d_i = sort_desc(std · g_i)``,
        ``g_i ~ N(0, I_r)``, ``std = n`` by default. Returned in ``X_star``'s dtype.
        """
        X = _check_float_tensor(X_star, "X_star", 2)
        m = _check_positive_int(m, "m")
        n = min(X.shape)
        std = float(n) if std is None else _check_std(std)
        g = _generator(seed)
        U, _, Vh = torch.linalg.svd(X.detach().to(torch.float64), full_matrices=False)
        G = torch.randn(m, n, generator=g, dtype=torch.float64)
        D = torch.sort(std * G, dim=1, descending=True).values
        return cls(
            U.to(device=X.device, dtype=X.dtype),
            Vh.T.contiguous().to(device=X.device, dtype=X.dtype),
            D.to(device=X.device, dtype=X.dtype),
        )

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        # diag(Φᵀ X Ψ)_k = Σ_a Φ_ak (X Ψ)_ak
        c = (self.phi * (X @ self.psi)).sum(-2)
        return c @ self.diagonals.T

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        s = r @ self.diagonals  # (..., r): diag of Φᵀ A*(r) Ψ
        return (self.phi * s.unsqueeze(-2)) @ self.psi.T

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "phi": self.phi.detach().cpu().numpy(),
            "psi": self.psi.detach().cpu().numpy(),
            "diagonals": self.diagonals.detach().cpu().numpy(),
        }

    @classmethod
    def _from_arrays(cls, shape, dtype, state):  # type: ignore[override]
        op = cls(
            _state_tensor(state, "phi").to(dtype),
            _state_tensor(state, "psi").to(dtype),
            _state_tensor(state, "diagonals").to(dtype),
        )
        if op.shape != shape:
            raise DataError(f"operator state has phi/psi of shape {op.shape}; expected {shape}")
        return op

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", r={self.rank})"


# --------------------------------------------------------------------------- entry sampling


@_register
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
        d1, d2 = _check_shape(shape)
        dtype = _check_dtype(dtype)
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
        d1, d2 = _check_shape(shape)
        m = _entry_count(d1 * d2, fraction, m)
        g = _generator(seed)
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
        return cls(tuple(mk.shape), idx, dtype=dtype, device=device)

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
    def _from_arrays(cls, shape, dtype, state):  # type: ignore[override]
        return cls(shape, _state_tensor(state, "indices"), dtype=dtype)


def _entry_count(total: int, fraction: object, m: object) -> int:
    if (fraction is None) == (m is None):
        raise ConfigError(f"got fraction={fraction!r} and m={m!r}; expected exactly one of them")
    if m is not None:
        m = _check_positive_int(m, "m")
        if m > total:
            raise ConfigError(f"m = {m} exceeds the {total} entries; expected m ≤ d1·d2")
        return m
    return measurements_from_fraction(fraction, total)


# --------------------------------------------------------------------------- subsampled DCT


class _DCTPlan:
    """Precomputed tables for an orthonormal length-``N`` DCT-II via one real FFT (Makhoul).

    ``perm``: ``v = x[perm] = (x_0, x_2, x_4, …, x_5, x_3, x_1)``; ``iperm`` its inverse.
    ``cos``/``sin``: ``cos(πk/2N)``, ``sin(πk/2N)`` for ``k = 0..N//2``.
    ``w``: orthonormal weights ``√(1/N)`` (k = 0), ``√(2/N)`` (k > 0); ``iw = 1/w``.
    """

    def __init__(self, n: int, dtype: torch.dtype, device: torch.device | str | None) -> None:
        self.n = n
        perm = torch.cat([torch.arange(0, n, 2), torch.arange(1, n, 2).flip(0)])
        self.perm = perm.to(device)
        self.iperm = torch.argsort(perm).to(device)
        k = torch.arange(n // 2 + 1, dtype=torch.float64)
        theta = math.pi * k / (2 * n)
        self.cos = torch.cos(theta).to(device=device, dtype=dtype)
        self.sin = torch.sin(theta).to(device=device, dtype=dtype)
        w = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64)
        w[0] = math.sqrt(1.0 / n)
        self.w = w.to(device=device, dtype=dtype)
        self.iw = (1.0 / w).to(device=device, dtype=dtype)

    def to(self, device: torch.device | str | None, dtype: torch.dtype | None) -> _DCTPlan:
        new = copy.copy(self)
        new.perm = self.perm.to(device)
        new.iperm = self.iperm.to(device)
        new.cos = self.cos.to(device=device, dtype=dtype)
        new.sin = self.sin.to(device=device, dtype=dtype)
        new.w = self.w.to(device=device, dtype=dtype)
        new.iw = self.iw.to(device=device, dtype=dtype)
        return new

    def nbytes(self) -> int:
        ts = (self.perm, self.iperm, self.cos, self.sin, self.w, self.iw)
        return sum(t.numel() * t.element_size() for t in ts)

    def dct(self, x: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Orthonormal DCT-II along ``dim`` (-1 or -2):
        ``X_k = w_k Σ_n x_n cos(πk(2n+1)/2N)``.

        With ``V = FFT(x[perm])``, ``c_k = Σ_n x_n cos(πk(2n+1)/2N) = Re(e^{-iπk/2N} V_k)``
        and ``c_{N-k} = -Im(e^{-iπk/2N} V_k)``, so a real FFT (``k ≤ N/2``) gives all ``c``.
        """
        n = self.n
        cos, sin, w = self._along(dim, self.cos, self.sin, self.w)
        V = torch.fft.rfft(x.index_select(dim, self.perm), dim=dim)
        re, im = V.real, V.imag
        t_re = cos * re + sin * im
        t_im = sin * re - cos * im  # = -Im(e^{-iπk/2N} V_k)
        c = torch.cat([t_re, t_im.narrow(dim, 1, (n - 1) // 2).flip(dim)], dim=dim)
        return c * w

    def idct(self, X: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Inverse (= transpose) of :meth:`dct`: the orthonormal DCT-III along ``dim``.

        With ``c = X / w`` and ``c_N = 0``: ``V_k = e^{iπk/2N}(c_k − i c_{N−k})``,
        ``v = IFFT(V)`` (a real inverse FFT of ``k ≤ N/2``), ``x = v[iperm]``.
        """
        n = self.n
        h = n // 2 + 1
        cos, sin, iw = self._along(dim, self.cos, self.sin, self.iw)
        c = X * iw
        a = c.narrow(dim, 0, h)
        # b_k = c_{N-k} for k = 1..N//2, b_0 = c_N = 0
        b = torch.cat(
            [torch.zeros_like(c.narrow(dim, 0, 1)), c.narrow(dim, n - h + 1, h - 1).flip(dim)],
            dim=dim,
        )
        V = torch.complex(cos * a + sin * b, sin * a - cos * b)
        v = torch.fft.irfft(V, n=n, dim=dim)
        return v.index_select(dim, self.iperm)

    @staticmethod
    def _along(dim: int, *tables: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The 1-D tables shaped to broadcast along ``dim`` (-1: as is; -2: as columns)."""
        return tables if dim == -1 else tuple(t.unsqueeze(-1) for t in tables)


def _dct2(x: torch.Tensor, rows: _DCTPlan, cols: _DCTPlan) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of ``(..., d1, d2)``: ``C_{d1} x C_{d2}ᵀ``."""
    return rows.dct(cols.dct(x, -1), -2)


def _idct2(x: torch.Tensor, rows: _DCTPlan, cols: _DCTPlan) -> torch.Tensor:
    """Inverse of :func:`_dct2`: ``C_{d1}ᵀ x C_{d2}``."""
    return cols.idct(rows.idct(x, -2), -1)


@_register
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
        d1, d2 = _check_shape(shape)
        m = _check_positive_int(m, "m")
        if m > d1 * d2:
            raise ConfigError(f"m = {m} exceeds the {d1 * d2} DCT coefficients; expected m ≤ d1·d2")
        g = _generator(seed)
        signs = torch.randint(0, 2, (d1, d2), generator=g, dtype=torch.int8) * 2 - 1
        indices = torch.randperm(d1 * d2, generator=g)[:m]
        self._build((d1, d2), signs, indices, dtype, device)
        self.seed = _seed_record(seed)

    def _build(
        self,
        shape: tuple[int, int],
        signs: torch.Tensor,
        indices: torch.Tensor,
        dtype: torch.dtype,
        device: torch.device | str | None,
    ) -> None:
        dtype = _check_dtype(dtype)
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
        self._rows = _DCTPlan(d1, dtype, device)
        self._cols = self._rows if d2 == d1 else _DCTPlan(d2, dtype, device)
        self._dtype = dtype
        self._device = self.signs.device

    @property
    def scale(self) -> float:
        """``√(d1·d2/m)``."""
        return math.sqrt(self.shape[0] * self.shape[1] / self.num_measurements)

    def to(self, device=None, dtype=None) -> SubsampledDCT:  # type: ignore[override]
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype {dtype} is not supported by the FFT; expected float32/64")
        new = super().to(device=device, dtype=dtype)
        if self._cols is self._rows:  # keep the shared plan shared
            new._cols = new._rows
        return new  # type: ignore[return-value]

    def _forward(self, X: torch.Tensor) -> torch.Tensor:
        C = _dct2(X * self.signs, self._rows, self._cols)
        return C.flatten(-2).index_select(-1, self.indices) * self.scale

    def _adjoint(self, r: torch.Tensor) -> torch.Tensor:
        d1, d2 = self.shape
        R = r.new_zeros((*r.shape[:-1], d1 * d2)).index_add(-1, self.indices, r * self.scale)
        return _idct2(R.unflatten(-1, (d1, d2)), self._rows, self._cols) * self.signs

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "signs": self.signs.detach().cpu().to(torch.int8).numpy(),
            "indices": self.indices.cpu().numpy(),
            "seed": np.asarray(self.seed, dtype=np.int64),
        }

    @classmethod
    def _from_arrays(cls, shape, dtype, state):  # type: ignore[override]
        op = cls.__new__(cls)
        op._build(
            shape, _state_tensor(state, "signs"), _state_tensor(state, "indices"), dtype, None
        )
        op.seed = int(_state_array(state, "seed"))
        return op
