"""Fused CPU kernel for the Gram divided differences of tanh (numba).

The backward of the Gram evaluation needs ``D_ij = [λ_i, λ_j]_h`` for ``h(λ) = tanh(√λ)/√λ``
on every pair of eigenvalues. Written with torch it is some twenty element-wise operations on
(…, n, n) tensors, whose dispatch cost dominated a training step on small matrices; here it is
one compiled pass (same formulas, evaluated in float64 whatever the input dtype). Used for CPU
tensors when numba is installed (``pip install 'spectralnn[fast]'``);
:func:`spectralnn.spectral.tanh.tanh_gram_kernel` falls back to the torch formulation otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from .._optional import available, njit

__all__ = ["AVAILABLE", "TANHC_SERIES", "tanh_gram_dd", "tanh_gram_h"]

# The ``fast`` extra; without it spectral/tanh.py uses the torch formulation of the same kernel.
AVAILABLE = available("numba")

#: Taylor coefficients of tanh(x)/x in powers of x² (``tanhc(√λ) = Σ_k c_k λ^k``); eight
#: terms make the series exact to round-off below λ = 0.01.
TANHC_SERIES = (1.0, -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0,
                -1382.0 / 155925.0, 21844.0 / 6081075.0, -929569.0 / 638512875.0)
_C = np.array(TANHC_SERIES)


def _kernel(lam: np.ndarray, M: np.ndarray, fuse: bool, out: np.ndarray,
            c: np.ndarray) -> None:  # pragma: no cover
    """``out[b, i, j] = [λ_i, λ_j]_h`` for ``lam`` (B, n), times ``M_ij + M_ji`` when
    ``fuse`` (``M``: (B, n, n)); ``out`` (B, n, n)."""
    B, n = lam.shape
    s = np.empty(n)   # √λ, tanh √λ and h(λ) once per eigenvalue
    t = np.empty(n)
    h = np.empty(n)
    lm = np.empty(n)
    for b in range(B):
        for i in range(n):
            li = max(float(lam[b, i]), 0.0)
            lm[i] = li
            s[i] = math.sqrt(li)
            t[i] = math.tanh(s[i])
            h[i] = 1.0 + li * (-1.0 / 3.0 + (2.0 / 15.0) * li) if s[i] < 1e-2 else t[i] / s[i]
        for i in range(n):
            for j in range(i, n):
                if lm[i] >= lm[j]:
                    hi, lo, a, bb, ta, tb, hb = lm[i], lm[j], s[i], s[j], t[i], t[j], h[j]
                else:
                    hi, lo, a, bb, ta, tb, hb = lm[j], lm[i], s[j], s[i], t[j], t[i], h[i]
                if hi < 1e-2:
                    # Σ_k c_k Σ_{p<k} λ_i^p λ_j^(k-1-p), via S_{k+1} = λ_i S_k + λ_j^k
                    acc = 1.0
                    lo_pow = lo
                    val = c[1]
                    for k in range(2, 8):
                        acc = hi * acc + lo_pow
                        lo_pow *= lo
                        val += c[k] * acc
                else:
                    d = a - bb
                    d2 = d * d
                    if d2 < 1e-4:      # tanhc(a - b)(1 - tanh a tanh b), series of tanhc
                        k_ab = (1.0 + d2 * (-1.0 / 3.0 + (2.0 / 15.0) * d2)) * (1.0 - ta * tb)
                    else:              # (tanh a - tanh b)/(a - b)
                        k_ab = (ta - tb) / d
                    val = (k_ab - hb) / (a * (a + bb))
                if fuse:
                    val *= M[b, i, j] + M[b, j, i]
                out[b, i, j] = val
                out[b, j, i] = val


def _h(lam: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out = h(λ) = tanh(√λ)/√λ`` (series below √λ < 1e-2), elementwise on flat arrays."""
    for i in range(lam.shape[0]):
        li = max(float(lam[i]), 0.0)
        si = math.sqrt(li)
        out[i] = 1.0 + li * (-1.0 / 3.0 + (2.0 / 15.0) * li) if si < 1e-2 else math.tanh(si) / si


_compiled = njit(_kernel, cache=True, nogil=True)
_compiled_h = njit(_h, cache=True, nogil=True)


def tanh_gram_h(lam: np.ndarray) -> np.ndarray:
    """``h(λ)`` for a 1-D array ``lam``, in its dtype."""
    out = np.empty_like(lam)
    _compiled_h(np.ascontiguousarray(lam), out)
    return out


def tanh_gram_dd(lam: np.ndarray, M: np.ndarray | None = None) -> np.ndarray:
    """``D`` (B, n, n) from eigenvalues ``lam`` (B, n), or ``D ∘ (M + Mᵀ)`` given ``M``
    (B, n, n); in ``lam``'s dtype."""
    out = np.empty(lam.shape + lam.shape[-1:], dtype=lam.dtype)
    fuse = M is not None
    _compiled(np.ascontiguousarray(lam), np.ascontiguousarray(M) if fuse else out, fuse, out,
              _C)
    return out
