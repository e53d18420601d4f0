"""Input validation at the public boundary: one home for the checks every module shares.

Each checker returns the normalised value or raises the library's typed error
(:mod:`spectralnn.errors`) with one line naming the bad value and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, DataError, ShapeError, unknown_name

__all__ = [
    "DTYPES",
    "as_float64_array",
    "as_matrix",
    "check_keys",
    "check_table",
    "dtype_from_name",
    "int_at_least",
    "learning_rates",
    "positive_int",
    "positive_number",
    "replicas",
    "shape_pair",
]

#: dtype names accepted in configuration files.
DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}


def int_at_least(value: object, name: str, minimum: int) -> int:
    """``value`` as an ``int ≥ minimum`` (bools refused)."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or int(value) < minimum):
        raise ConfigError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def positive_int(value: object, name: str) -> int:
    """``value`` as an ``int > 0`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def positive_number(value: object, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a finite ``float > 0`` (``≥ 0`` with ``allow_zero``)."""
    what = "non-negative" if allow_zero else "positive"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a {what} finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a {what} finite number, got {value!r}")
    return v


def learning_rates(lr: object) -> list[float]:
    """A positive number, or a non-empty list/tuple/tensor of them, as a list of floats."""
    if isinstance(lr, torch.Tensor):
        lr = lr.tolist()
    if isinstance(lr, (list, tuple)):
        if len(lr) == 0:
            raise ConfigError("lr must be a positive number or a non-empty list of them, got []")
        return [positive_number(v, "lr") for v in lr]
    return [positive_number(lr, "lr")]


def shape_pair(shape: object) -> tuple[int, int]:
    """``(d1, d2)``: a pair of positive integers."""
    ok = (isinstance(shape, (Sequence, torch.Size)) and not isinstance(shape, (str, bytes))
          and len(shape) == 2
          and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                  for d in shape))
    if not ok:
        raise ShapeError(f"shape must be a pair of positive integers (d1, d2), got {shape!r}")
    return int(shape[0]), int(shape[1])  # type: ignore[index]


def replicas(value: object) -> int | None:
    """The replica count of a batched model: a positive integer, or ``None`` (unbatched)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value <= 0):
        raise ConfigError(f"replicas must be a positive integer or None, got {value!r}")
    return value


def as_matrix(X: object, name: str = "X") -> torch.Tensor:
    """A finite 2-D real tensor from a tensor or array (non-floating input becomes float64)."""
    if isinstance(X, np.ndarray):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) or np.iscomplexobj(X):
            raise DataError(f"{name} has dtype {X.dtype}; expected a real numeric array")
        X = torch.from_numpy(np.array(X, dtype=np.float64))
    if not isinstance(X, torch.Tensor):
        raise ShapeError(f"{name} must be a 2-D tensor or array, got {type(X).__name__}")
    if X.dim() != 2:
        raise ShapeError(f"{name} has shape {tuple(X.shape)}; expected a 2-D matrix (d1, d2)")
    if X.numel() == 0:
        raise ShapeError(f"{name} has shape {tuple(X.shape)}; expected no empty dimension")
    if X.is_complex():
        raise DataError(f"{name} has dtype {X.dtype}; expected a real dtype")
    if not X.dtype.is_floating_point:
        X = X.to(torch.float64)
    if not bool(torch.isfinite(X).all()):
        bad = int((~torch.isfinite(X)).sum())
        raise DataError(f"{name} contains {bad} NaN/Inf value(s); expected only finite values")
    return X


def as_float64_array(a: object, name: str) -> np.ndarray:
    """A finite float64 NumPy array from a tensor or array (any shape)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().to(torch.float64).numpy()
    if not isinstance(a, np.ndarray):
        raise ShapeError(f"{name} must be a torch.Tensor or numpy array, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        raise ConfigError(f"{name} has dtype {a.dtype}; expected a real floating dtype")
    out = a.astype(np.float64, copy=False)
    if not np.all(np.isfinite(out)):
        bad = int(np.sum(~np.isfinite(out)))
        raise ConfigError(f"{name} contains {bad} NaN/Inf value(s); expected finite values")
    return out


def dtype_from_name(name: object) -> torch.dtype:
    """``"float64"`` / ``"float32"`` as a torch dtype."""
    if not isinstance(name, str) or name not in DTYPES:
        raise unknown_name("dtype", name, tuple(DTYPES))
    return DTYPES[name]


def check_table(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a TOML table (a dict)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, got {type(value).__name__}")
    return value


def check_keys(table: dict[str, Any], allowed: Collection[str], where: str) -> None:
    """Refuse the first key of ``table`` not in ``allowed``."""
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} in {where}; expected one of: "
                              f"{', '.join(sorted(allowed))}")
