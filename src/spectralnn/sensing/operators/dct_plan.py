"""The orthonormal DCT-II of length ``N`` through one real FFT (Makhoul), and its 2-D form."""

from __future__ import annotations

import copy
import math

import torch

__all__ = ["DCTPlan", "dct2", "idct2"]


class DCTPlan:
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

    def to(self, device: torch.device | str | None, dtype: torch.dtype | None) -> DCTPlan:
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


def dct2(x: torch.Tensor, rows: DCTPlan, cols: DCTPlan) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of ``(..., d1, d2)``: ``C_{d1} x C_{d2}ᵀ``."""
    return rows.dct(cols.dct(x, -1), -2)


def idct2(x: torch.Tensor, rows: DCTPlan, cols: DCTPlan) -> torch.Tensor:
    """Inverse of :func:`dct2`: ``C_{d1}ᵀ x C_{d2}``."""
    return cols.idct(rows.idct(x, -2), -1)
