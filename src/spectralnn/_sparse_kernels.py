"""Fused CPU loops for sampled products (numba): ``z_i = a[rows_i] · b[cols_i]`` and its
adjoint ``out[rows_i] += g_i · b[cols_i]``, without the (n, k) temporaries of a torch gather.

Used by :func:`spectralnn.factored.sampled_product` for contiguous CPU tensors when numba is
installed; the torch formulation (chunked gather / ``index_add_``) is the fallback.
"""

from __future__ import annotations

from typing import Any

import numpy as np

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is a regular dependency
    numba = None

__all__ = ["AVAILABLE", "gather_dot", "scatter_add_rows"]

AVAILABLE = numba is not None


def _gather_dot(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray, k: int,
                out: np.ndarray) -> None:  # pragma: no cover
    for i in range(rows.shape[0]):
        r = rows[i]
        c = cols[i]
        acc = 0.0
        for j in range(k):
            acc += a[r, j] * b[c, j]
        out[i] = acc


def _scatter_add_rows(g: np.ndarray, idx: np.ndarray, other: np.ndarray,
                      other_idx: np.ndarray, k: int, out: np.ndarray) -> None:  # pragma: no cover
    for i in range(idx.shape[0]):
        gi = g[i]
        r = idx[i]
        c = other_idx[i]
        for j in range(k):
            out[r, j] += gi * other[c, j]


_gd: Any = numba.njit(cache=True, nogil=True)(_gather_dot) if AVAILABLE else None
_sa: Any = numba.njit(cache=True, nogil=True)(_scatter_add_rows) if AVAILABLE else None


def gather_dot(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
               k: int) -> np.ndarray:
    """``out_i = Σ_{j<k} a[rows_i, j]·b[cols_i, j]``: (n,), in ``a``'s dtype."""
    out = np.empty(rows.shape[0], dtype=a.dtype)
    _gd(a, b, rows, cols, k, out)
    return out


def scatter_add_rows(g: np.ndarray, idx: np.ndarray, other: np.ndarray, other_idx: np.ndarray,
                     size: int, k: int) -> np.ndarray:
    """``out[idx_i, :k] += g_i · other[other_idx_i, :k]``: (size, other.shape[1]), zero
    beyond column ``k``."""
    out = np.zeros((size, other.shape[1]), dtype=other.dtype)
    _sa(g, idx, other, other_idx, k, out)
    return out
