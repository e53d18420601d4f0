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
    "Seed",
    "as_float64_array",
    "as_int",
    "as_matrix",
    "check_keys",
    "check_table",
    "compute_device",
    "dtype_from_name",
    "entry_count",
    "float_tensor",
    "generator",
    "int_at_least",
    "learning_rates",
    "measurements_from_fraction",
    "number_list",
    "percent_hint",
    "positive_int",
    "positive_number",
    "real_dtype",
    "replicas",
    "seed_int",
    "seed_record",
    "shape_pair",
]

#: A seed: an int in ``[0, 2**63)`` or a CPU ``torch.Generator`` (see :func:`generator`).
Seed = int | torch.Generator

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


def below_one(value: object, name: str) -> float:
    """``value`` as a float in ``[0, 1)`` (a momentum μ, a decay factor; bools refused)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not 0 <= float(value) < 1):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def learning_rates(lr: object) -> list[float]:
    """A positive number, or a non-empty list/tuple/tensor of them, as a list of floats."""
    if isinstance(lr, torch.Tensor):
        lr = lr.tolist()
    if isinstance(lr, (list, tuple)):
        if len(lr) == 0:
            raise ConfigError("lr must be a positive number or a non-empty list of them, got []")
        return [positive_number(v, "lr") for v in lr]
    return [positive_number(lr, "lr")]


def number_list(text: str, name: str, kind: type[int] | type[float] = float) -> list[Any]:
    """Comma-separated numbers (``"0.1,0.2"``) as a list of ``kind`` (empty items skipped)."""
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated numbers, got {text!r}") from None


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


def as_int(value: object, name: str) -> int:
    """``value`` as an ``int`` (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an int, got {value!r}")
    return int(value)


def real_dtype(dtype: object) -> torch.dtype:
    """``dtype`` if it is a real floating torch dtype."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype must be a real floating torch dtype, got {dtype!r}")
    return dtype


def _check_finite_tensor(t: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).sum())
        raise DataError(f"{name} contains {bad} NaN/Inf value(s); expected only finite values")


def float_tensor(t: object, name: str, ndim: int) -> torch.Tensor:
    """``t`` if it is a finite real floating tensor with ``ndim`` dims."""
    if not isinstance(t, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor with {ndim} dims, got {type(t).__name__}")
    if t.dim() != ndim:
        raise ShapeError(f"{name} has shape {tuple(t.shape)}; expected {ndim} dims")
    if not t.dtype.is_floating_point:
        raise ConfigError(f"{name} has dtype {t.dtype}; expected a real floating dtype")
    _check_finite_tensor(t, name)
    return t


def seed_int(value: object, name: str = "seed") -> int:
    """``value`` as a seed: an int in ``[0, 2**63)`` (bools and floats refused).

    The one seed rule of the library; :func:`generator` turns it into a CPU generator."""
    s = as_int(value, name)
    if not 0 <= s < 2**63:
        raise ConfigError(f"{name} must be in [0, 2**63), got {s}")
    return s


def generator(seed: object) -> torch.Generator:
    """A CPU generator from an int seed (0 ≤ seed < 2**63), or the given CPU generator.

    The one seed rule of the library: randomness comes only from an explicit seed."""
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ConfigError(f"seed generator is on {seed.device}; expected a CPU generator")
        return seed
    g = torch.Generator()
    g.manual_seed(seed_int(seed))
    return g


def seed_record(seed: Seed) -> int:
    """The int kept for display when an operator is built from ``seed`` (-1 for a generator)."""
    return -1 if isinstance(seed, torch.Generator) else int(seed)


def percent_hint(value: float) -> str:
    """``" (30 % is 0.3)"`` for a fraction given as a percentage (``1 < value ≤ 100``), else
    ``""``: appended to the error that refuses it."""
    return f" ({value:g} % is {value / 100:g})" if 1.0 < value <= 100.0 else ""


def measurements_from_fraction(fraction: object, total: int) -> int:
    """``m = round(fraction · total)`` for ``fraction ∈ (0, 1]``; at least one measurement."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
        raise ConfigError(f"fraction must be a number in (0, 1], got {fraction!r}")
    f = float(fraction)
    if not (0.0 < f <= 1.0):
        raise ConfigError(f"fraction must be in (0, 1], got {f}{percent_hint(f)}")
    m = round(f * total)
    if m < 1:
        raise ConfigError(
            f"fraction {f} of {total} entries gives 0 measurements; expected at least 1"
        )
    return m


def entry_count(total: int, fraction: object, m: object) -> int:
    """The number of observed entries out of ``total``: ``m`` itself (``1 ≤ m ≤ total``) or
    :func:`measurements_from_fraction`; exactly one of ``fraction`` and ``m`` is given."""
    if (fraction is None) == (m is None):
        raise ConfigError(f"got fraction={fraction!r} and m={m!r}; expected exactly one of them")
    if m is not None:
        m = positive_int(m, "m")
        if m > total:
            raise ConfigError(f"m = {m} exceeds the {total} entries; expected m ≤ d1·d2")
        return m
    return measurements_from_fraction(fraction, total)


def compute_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a :class:`torch.device` (``None``: CPU); a device this machine does not
    have raises :class:`~spectralnn.errors.ConfigError` in one line."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
        torch.empty(0, device=dev)
    except (RuntimeError, TypeError, AssertionError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"device {str(device)!r} is not available ({reason}); expected "
                          "cpu or an available accelerator such as cuda") from None
    return dev
