"""Stochastic-gradient epochs of the ratings model ``ŷ_ui = μ + b_u + c_i + p_u·q_i`` (numba).

One epoch visits the ratings in a given order; for each, with ``e = y_ui − ŷ_ui``::

    b_u += lr_b·(e − reg_b·b_u)        c_i += lr_b·(e − reg_b·c_i)
    p_u += lr·(e·q_i − reg·p_u)        q_i += lr·(e·p_u − reg·q_i)     (old values on the right)

Sequential and deterministic for a given order. Without numba the same Python loops run
(correct, slow: for tests and tiny tables only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

numba: Any
try:
    import numba
except ImportError:  # pragma: no cover - numba is the `fast` extra
    numba = None

__all__ = ["AVAILABLE", "predict_mf", "sgd_epoch"]

AVAILABLE = numba is not None


def _sgd_epoch(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, order: np.ndarray,
               mu: float, b: np.ndarray, c: np.ndarray, P: np.ndarray, Q: np.ndarray,
               lr: float, lr_b: float, reg: float, reg_b: float) -> float:  # pragma: no cover
    k = P.shape[1]
    sse = 0.0
    for t in range(order.shape[0]):
        i = order[t]
        u = rows[i]
        j = cols[i]
        dot = 0.0
        for f in range(k):
            dot += P[u, f] * Q[j, f]
        e = values[i] - (mu + b[u] + c[j] + dot)
        sse += e * e
        b[u] += lr_b * (e - reg_b * b[u])
        c[j] += lr_b * (e - reg_b * c[j])
        for f in range(k):
            pu = P[u, f]
            qj = Q[j, f]
            P[u, f] = pu + lr * (e * qj - reg * pu)
            Q[j, f] = qj + lr * (e * pu - reg * qj)
    return sse


def _predict(rows: np.ndarray, cols: np.ndarray, mu: float, b: np.ndarray, c: np.ndarray,
             P: np.ndarray, Q: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    k = P.shape[1]
    for i in range(rows.shape[0]):
        u = rows[i]
        j = cols[i]
        acc = 0.0
        for f in range(k):
            acc += P[u, f] * Q[j, f]
        out[i] = mu + b[u] + c[j] + acc


_epoch: Any = numba.njit(cache=True, nogil=True)(_sgd_epoch) if AVAILABLE else _sgd_epoch
_pred: Any = numba.njit(cache=True, nogil=True)(_predict) if AVAILABLE else _predict


def sgd_epoch(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, order: np.ndarray,
              mu: float, b: np.ndarray, c: np.ndarray, P: np.ndarray, Q: np.ndarray, *,
              lr: float, lr_b: float, reg: float, reg_b: float) -> float:
    """One epoch in place on ``b`` (d1,), ``c`` (d2,), ``P`` (d1, k), ``Q`` (d2, k); returns
    the sum of squared errors met on the way (before each update)."""
    return float(_epoch(rows, cols, values, order, mu, b, c, P, Q, lr, lr_b, reg, reg_b))


def predict_mf(rows: np.ndarray, cols: np.ndarray, mu: float, b: np.ndarray, c: np.ndarray,
               P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``μ + b[rows] + c[cols] + Σ_f P[rows, f]·Q[cols, f]``: (n,) float64."""
    out = np.empty(rows.shape[0], dtype=np.float64)
    _pred(rows, cols, mu, b, c, P, Q, out)
    return out
