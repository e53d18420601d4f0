"""Fused CPU loops for sampled products (numba): ``z_i = a[rows_i] · b[cols_i]`` and its
adjoint ``out[rows_i] += g_i · b[cols_i]``, without the (n, k) temporaries of a torch gather.

Used by :func:`spectralnn.factored.sampled_product` for contiguous CPU tensors when numba is
installed; the torch formulation (chunked gather / ``index_add_``) is the fallback.

The loops accumulate in the inputs' dtype and are compiled with ``fastmath`` (reassociation),
so the inner product over ``k`` runs on SIMD lanes: a float64 accumulator over float32 data
kept the loop scalar and made the gather ~10× slower (80 000 entries, k = 64: ~1.4 ms instead
of ~17 ms on one core). Summation order differs from a sequential sum only by rounding.
"""

from __future__ import annotations

import numpy as np

from ._optional import available, njit

__all__ = ["AVAILABLE", "gather_dot", "scatter_add_rows"]

AVAILABLE = available("numba")  # the `fast` extra; spectralnn.factored falls back to torch


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
                      other_idx: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    # All columns of contiguous arrays: a loop over range(lo, hi), or over a strided view,
    # compiled to scalar code (~10× slower, measured).
    k = out.shape[1]
    for i in range(idx.shape[0]):
        gi = g[i]
        r = idx[i]
        c = other_idx[i]
        for j in range(k):
            out[r, j] += gi * other[c, j]


_gd = njit(_gather_dot, cache=True, nogil=True, fastmath=True)
_sa = njit(_scatter_add_rows, cache=True, nogil=True, fastmath=True)


def gather_dot(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
               k: int) -> np.ndarray:
    """``out_i = Σ_{j<k} a[rows_i, j]·b[cols_i, j]``: (n,), in ``a``'s dtype."""
    out = np.empty(rows.shape[0], dtype=a.dtype)
    _gd(a, b, rows, cols, k, out)
    return out


def scatter_add_rows(g: np.ndarray, idx: np.ndarray, other: np.ndarray, other_idx: np.ndarray,
                     size: int, k: int, start: int = 0) -> np.ndarray:
    """``out[idx_i, start:k] += g_i · other[other_idx_i, start:k]``: (size, other.shape[1]),
    zero outside columns ``start:k``."""
    block = np.zeros((size, k - start), dtype=other.dtype)
    _sa(g, idx, np.ascontiguousarray(other[:, start:k]), other_idx, block)
    if start == 0 and k == other.shape[1]:
        return block
    out = np.zeros((size, other.shape[1]), dtype=other.dtype)
    out[:, start:k] = block
    return out
