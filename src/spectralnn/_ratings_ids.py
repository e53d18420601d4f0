"""Raw user / item ids ↔ matrix indices for the ratings estimator.

Ids are integers or strings (one kind per axis). Known ids are kept sorted, so the index of an
id is its position (``np.searchsorted``) and the map is two arrays, saved as they are.
Lookups give ``-1`` for an id that was never seen; what that means is the caller's policy.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, ShapeError

__all__ = ["IdIndex", "as_ids"]


def as_ids(values: object, name: str) -> np.ndarray:
    """``values`` as a (n,) array of ids: int64 (integers, integral floats) or str.

    Raises:
        ShapeError: not one-dimensional.
        DataError: non-integral or non-finite floats, booleans, or ints mixed with strings.
    """
    a = np.asarray(values)
    if a.ndim != 1:
        raise ShapeError(f"{name} has shape {a.shape}; expected (n,)")
    kind = a.dtype.kind
    if kind in "iu":
        return a.astype(np.int64, copy=False)
    if kind == "f":
        if not (np.all(np.isfinite(a)) and np.all(a == np.round(a))):
            raise DataError(f"{name} holds non-integral numbers (e.g. {a[a != np.round(a)][:1]}); "
                            "expected integer or string ids")
        return a.astype(np.int64)
    if kind in "US":
        return a.astype(str)
    if kind == "O":
        if all(isinstance(v, str) for v in a):
            return a.astype(str)
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in a):
            return a.astype(np.int64)
        raise DataError(f"{name} mixes kinds of ids ({sorted({type(v).__name__ for v in a})}); "
                        "expected all integers or all strings")
    raise DataError(f"{name} has dtype {a.dtype}; expected integer or string ids")


class IdIndex:
    """Sorted distinct ids of one axis: ``ids`` (d,) int64 or str; ``index_of`` maps ids to
    positions ``0..d−1`` and unknown ids to ``-1``."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids

    @classmethod
    def from_values(cls, values: np.ndarray) -> tuple[IdIndex, np.ndarray]:
        """The index of the distinct ``values`` and the position of each value: ``(index,
        (n,) int64)``."""
        ids, inverse = np.unique(values, return_inverse=True)
        return cls(ids), inverse.astype(np.int64).reshape(-1)

    @property
    def is_int(self) -> bool:
        return self.ids.dtype.kind == "i"

    def __len__(self) -> int:
        return int(self.ids.size)

    def index_of(self, values: np.ndarray) -> np.ndarray:
        """(n,) int64 positions of ``values`` (already through :func:`as_ids`), ``-1`` where
        unknown. Integer queries against string ids are compared as text, and vice versa."""
        if values.size == 0:
            return np.zeros(0, dtype=np.int64)
        if self.is_int and values.dtype.kind != "i":
            try:
                values = values.astype(np.int64)
            except ValueError:
                return np.full(values.size, -1, dtype=np.int64)
        elif not self.is_int and values.dtype.kind != "U":
            values = values.astype(str)
        if self.ids.size == 0:
            return np.full(values.size, -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, values)
        pos = np.minimum(pos, self.ids.size - 1)
        return np.where(self.ids[pos] == values, pos, -1).astype(np.int64)
