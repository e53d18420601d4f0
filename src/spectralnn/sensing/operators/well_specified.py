"""Sensing matrices with shared singular vectors, ``A_i = Φ diag(d_i) Ψᵀ`` (Assumption 1)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ...errors import ConfigError, DataError, ShapeError
from ...validate import Seed, float_tensor, generator, positive_int, positive_number
from .interface import SensingOperator, register, state_tensor

__all__ = ["WellSpecifiedOperator"]


@register
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
        phi = float_tensor(phi, "phi", 2)
        psi = float_tensor(psi, "psi", 2)
        diagonals = float_tensor(diagonals, "diagonals", 2)
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
        X = float_tensor(X_star, "X_star", 2)
        m = positive_int(m, "m")
        n = min(X.shape)
        std = float(n) if std is None else positive_number(std, "std")
        g = generator(seed)
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
    def _from_arrays(
        cls, shape: tuple[int, int], dtype: torch.dtype, state: Mapping[str, np.ndarray]
    ) -> WellSpecifiedOperator:
        op = cls(
            state_tensor(state, "phi").to(dtype),
            state_tensor(state, "psi").to(dtype),
            state_tensor(state, "diagonals").to(dtype),
        )
        if op.shape != shape:
            raise DataError(f"operator state has phi/psi of shape {op.shape}; expected {shape}")
        return op

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", r={self.rank})"
