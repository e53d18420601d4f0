"""Stochastic-gradient epochs of the ratings model ``ŷ_ui = μ + b_u + c_i + p_u·q_i`` (numba).

One epoch visits the ratings in a given order; for each, with ``e = y_ui − ŷ_ui``::

    b_u += lr_b·(e − reg_b·b_u)        c_i += lr_b·(e − reg_b·c_i)
    p_u += lr·(e·q_i − reg·p_u)        q_i += lr·(e·p_u − reg·q_i)     (old values on the right)

Sequential and deterministic for a given order. Without numba the same Python loops run
(correct, slow: for tests and tiny tables only).
"""

from __future__ import annotations

import numpy as np

from ._optional import available, njit

__all__ = ["AVAILABLE", "predict_mf", "sgd_epoch", "sgd_epoch_implicit"]

AVAILABLE = available("numba")  # the `fast` extra


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


def _sgd_epoch_implicit(indptr: np.ndarray, items: np.ndarray, values: np.ndarray,
                        users: np.ndarray, mu: float, b: np.ndarray, c: np.ndarray,
                        P: np.ndarray, Q: np.ndarray, Y: np.ndarray, lr: float, lr_b: float,
                        reg: float, reg_b: float) -> float:  # pragma: no cover
    k = P.shape[1]
    sse = 0.0
    z = np.empty(k, dtype=P.dtype)
    imp = np.empty(k, dtype=P.dtype)
    gy = np.empty(k, dtype=P.dtype)
    for t in range(users.shape[0]):
        u = users[t]
        lo = indptr[u]
        hi = indptr[u + 1]
        if hi == lo:
            continue
        s = 1.0 / np.sqrt(hi - lo)
        for f in range(k):
            imp[f] = 0.0
            gy[f] = 0.0
        for t2 in range(lo, hi):
            j = items[t2]
            for f in range(k):
                imp[f] += Y[j, f]
        for f in range(k):
            imp[f] *= s
        for t2 in range(lo, hi):
            i = items[t2]
            dot = 0.0
            for f in range(k):
                z[f] = P[u, f] + imp[f]
                dot += z[f] * Q[i, f]
            e = values[t2] - (mu + b[u] + c[i] + dot)
            sse += e * e
            b[u] += lr_b * (e - reg_b * b[u])
            c[i] += lr_b * (e - reg_b * c[i])
            for f in range(k):
                qf = Q[i, f]
                pf = P[u, f]
                gy[f] += e * qf
                P[u, f] = pf + lr * (e * qf - reg * pf)
                Q[i, f] = qf + lr * (e * z[f] - reg * qf)
        for t2 in range(lo, hi):
            j = items[t2]
            for f in range(k):
                Y[j, f] += lr * (s * gy[f] - reg * Y[j, f])
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


_epoch = njit(_sgd_epoch, cache=True, nogil=True)
_epoch_imp = njit(_sgd_epoch_implicit, cache=True, nogil=True)
_pred = njit(_predict, cache=True, nogil=True)


def sgd_epoch(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, order: np.ndarray,
              mu: float, b: np.ndarray, c: np.ndarray, P: np.ndarray, Q: np.ndarray, *,
              lr: float, lr_b: float, reg: float, reg_b: float) -> float:
    """One epoch in place on ``b`` (d1,), ``c`` (d2,), ``P`` (d1, k), ``Q`` (d2, k); returns
    the sum of squared errors met on the way (before each update)."""
    return float(_epoch(rows, cols, values, order, mu, b, c, P, Q, lr, lr_b, reg, reg_b))


def sgd_epoch_implicit(indptr: np.ndarray, items: np.ndarray, values: np.ndarray,
                       users: np.ndarray, mu: float, b: np.ndarray, c: np.ndarray,
                       P: np.ndarray, Q: np.ndarray, Y: np.ndarray, *, lr: float, lr_b: float,
                       reg: float, reg_b: float) -> float:
    """One epoch of the implicit-feedback model (SVD++'s), user by user in the order
    ``users``: with ``N(u)`` the items of row ``u`` of the CSR (``indptr``, ``items``,
    ``values``) and ``z_u = p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j`` (its implicit part fixed
    during the user's ratings), each rating updates ``b, c, p_u, q_i`` as :func:`sgd_epoch`
    does with ``z_u`` in place of ``p_u`` for ``q_i``; then every ``y_j``, ``j ∈ N(u)``,
    moves by ``lr·(|N(u)|^{-1/2} Σ e·q_i − reg·y_j)``. Returns the sum of squared errors."""
    return float(_epoch_imp(indptr, items, values, users, mu, b, c, P, Q, Y, lr, lr_b, reg,
                            reg_b))


def predict_mf(rows: np.ndarray, cols: np.ndarray, mu: float, b: np.ndarray, c: np.ndarray,
               P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """``μ + b[rows] + c[cols] + Σ_f P[rows, f]·Q[cols, f]``: (n,) float64."""
    out = np.empty(rows.shape[0], dtype=np.float64)
    _pred(rows, cols, mu, b, c, P, Q, out)
    return out
