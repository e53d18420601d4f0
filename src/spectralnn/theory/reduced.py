"""Reduced spectral dynamics (the paper's Theorem 1): an SNN on vectors, exactly.

**Setting.** Assumption 1: ``A_i = Φ diag(d_i) Ψᵀ`` (``Φ``: d1×r, ``Ψ``: d2×r orthonormal
columns, ``D = [d_1; …; d_m]``: m×r). Assumption 2: ``U_k = Φ diag(u_k) G``,
``V_k = Ψ diag(v_k) G`` with ``G`` orthogonal. Then

    U_k V_kᵀ = Φ diag(u_k ∘ v_k) Ψᵀ,
    f(Φ diag(q) Ψᵀ) = Φ diag(g(q)) Ψᵀ          (g = f extended as an odd function),
    Σ_k α_kl Φ diag(q_k) Ψᵀ = Φ diag(Σ_k α_kl q_k) Ψᵀ,

so the network's output is ``X = Φ diag(x) Ψᵀ`` where ``x ∈ R^r`` is the *same* network run on
vectors, coordinate-wise:

    q⁽⁰⁾_k = u_k ∘ v_k,    q⁽ⁱ⁾_l = Σ_k α⁽ⁱ⁾_kl g(q⁽ⁱ⁻¹⁾_k),    x = q⁽ᴰ⁾_1,

and ``⟨A_i, X⟩ = d_i · x``, so the loss is ``ℓ = ½·mean_i (d_i · x − y_i)²``.

**Gradients stay in the family.** ``∇_X ℓ = Φ diag(c) Ψᵀ`` with ``c = Dᵀ(Dx − y)/m``, the
spectral derivative maps ``Φ diag(e) Ψᵀ`` to ``Φ diag(g'(q) ∘ e) Ψᵀ``, hence
``∇_{Q_k} ℓ = Φ diag(c_k) Ψᵀ`` and

    ∇_{U_k} ℓ = ∇_{Q_k} ℓ · V_k = Φ diag(c_k ∘ v_k) G = Φ diag(∂ℓ/∂u_k) G,
    ∂ℓ/∂α_kl = ⟨∇_{Q_l} ℓ, f(Q_k)⟩ = Σ_j c_lj g(q_kj) = ∂ℓ/∂α_kl (reduced).

A gradient-descent step ``U_k ← U_k − η ∇_{U_k} ℓ`` is therefore exactly
``u_k ← u_k − η ∂ℓ/∂u_k`` (same for ``v_k``, ``α``): discrete GD on the SNN *is* GD on the
reduced network, iterate by iterate, and so is gradient flow. Each step costs
``O(Σ_i L_{i-1} L_i · r + m·r)`` instead of ``O(Σ_i L_i · d1·d2·min(d1, d2))``.

**Implementation.** The forward and backward passes are written out by hand in NumPy (float64)
on preallocated buffers, for a leading batch of ``B`` replicas (learning rates, seeds, initial
scales) at once. All parameters of all replicas live in one ``(B, P)`` array, so an update is
two array operations. The cost of a step is dominated by a fixed number of small-array calls,
nearly independent of ``B``: batch many replicas to go fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, ShapeError
from ..nn import SNN
from ..spectral import Activation, get_activation
from ..stoppers import REDUCED_DIVERGENCE_FACTOR, Budget
from ..trainer import Divergence, run_loop
from ..validate import int_at_least, positive_int, positive_number

__all__ = ["ReducedHistory", "ReducedSNN", "diagonal_data"]

NpFn = Callable[[np.ndarray, np.ndarray], None]
#: ``dg(q, h, out)``: the derivative at ``q`` (``h = g(q)`` given), written into ``out``.
NpDerivative = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


# --------------------------------------------------------------------------------------------
# Activations on NumPy arrays
# --------------------------------------------------------------------------------------------


def _numpy_activation(act: Activation) -> tuple[NpFn, NpDerivative | None]:
    """``(g(q, out), dg(q, h, out))`` writing into ``out``; ``dg`` is ``None`` for identity.

    tanh and identity run in NumPy directly; any other activation evaluates its torch
    functions on zero-copy views.
    """
    if act.name == "tanh":
        def g(q: np.ndarray, out: np.ndarray) -> None:
            np.tanh(q, out=out)

        def dg(q: np.ndarray, h: np.ndarray, out: np.ndarray) -> None:
            np.multiply(h, h, out=out)
            np.subtract(1.0, out, out=out)

        return g, dg
    if act.name == "identity":
        def g_id(q: np.ndarray, out: np.ndarray) -> None:
            np.copyto(out, q)

        return g_id, None

    def g_t(q: np.ndarray, out: np.ndarray) -> None:
        out[...] = act.g(torch.from_numpy(q)).numpy()

    def dg_t(q: np.ndarray, h: np.ndarray, out: np.ndarray) -> None:
        out[...] = act.dg(torch.from_numpy(q)).numpy()

    return g_t, dg_t


# --------------------------------------------------------------------------------------------
# Problem data under Assumption 1
# --------------------------------------------------------------------------------------------


def diagonal_data(operator: object) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(D, Φ, Ψ)`` as float64 arrays from a well-specified operator (anything with
    ``diagonals`` (m, r), ``phi`` (d1, r), ``psi`` (d2, r)), or ``(D, None, None)`` from an
    ``(m, r)`` array of diagonals."""
    if hasattr(operator, "diagonals") and hasattr(operator, "phi") and hasattr(operator, "psi"):
        D = _as_f64(operator.diagonals, "operator.diagonals")
        phi = _as_f64(operator.phi, "operator.phi")
        psi = _as_f64(operator.psi, "operator.psi")
        if D.ndim != 2 or phi.ndim != 2 or psi.ndim != 2 or not (
                D.shape[1] == phi.shape[1] == psi.shape[1]):
            raise ShapeError(f"operator has diagonals {D.shape}, phi {phi.shape}, psi "
                             f"{psi.shape}; expected (m, r), (d1, r), (d2, r)")
        return D, phi, psi
    if isinstance(operator, (np.ndarray, torch.Tensor)):
        D = _as_f64(operator, "diagonals")
        if D.ndim != 2:
            raise ShapeError(f"diagonals has shape {D.shape}; expected (m, r)")
        return D, None, None
    raise ConfigError("expected a well-specified operator (A_i = Φ diag(d_i) Ψᵀ, with "
                      f"attributes phi, psi, diagonals) or an (m, r) array, got "
                      f"{type(operator).__name__}")


def _as_f64(a: object, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().to(torch.float64).numpy()
    try:
        out = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a real array, got {type(a).__name__}") from None
    if not np.all(np.isfinite(out)):
        raise ConfigError(f"{name} contains NaN/Inf values; expected finite values")
    return out


# --------------------------------------------------------------------------------------------
# Training history
# --------------------------------------------------------------------------------------------


@dataclass
class ReducedHistory:
    """What :meth:`ReducedSNN.fit` recorded.

    Attributes:
        steps: (T,) step numbers of the records (0 = before the first step).
        loss: (T, B) training loss ``½·mean_i (d_i·x − y_i)²`` per replica.
        x: (T, B, r) the reduced output at each record, or ``None`` if not recorded.
        lr: (B,) learning rates.
        diverged: (B,) replicas whose loss became non-finite or exceeded
            ``divergence_factor`` times its initial value (frozen from then on).
        steps_done: number of GD steps taken (fewer than asked if ``tol`` was reached).
        seconds: wall-clock time of the loop.
        status: how the loop ended (:data:`~spectralnn.stoppers.STATUSES`): ``"converged"``
            when ``tol`` stopped it, else ``"budget_reached"`` (diverged replicas are in
            ``diverged``).
    """

    steps: np.ndarray
    loss: np.ndarray
    x: np.ndarray | None
    lr: np.ndarray
    diverged: np.ndarray
    steps_done: int
    seconds: float
    status: str = "budget_reached"


# --------------------------------------------------------------------------------------------
# The reduced network
# --------------------------------------------------------------------------------------------


class ReducedSNN:
    """An SNN on vectors: the exact reduction of a spectrally initialised SNN (Theorem 1).

    Args:
        u, v: (L0, r) or (B, L0, r) input factors (``Q⁽⁰⁾_k = Φ diag(u_k ∘ v_k) Ψᵀ``).
        alphas: list of (L_{i-1}, L_i) or (B, L_{i-1}, L_i) mixing weights, the last one
            (L_{D-1}, 1).
        diagonals: the measurement diagonals ``D`` (m, r), or a well-specified operator
            (then ``Φ``, ``Ψ`` are taken from it).
        activation: as for :class:`~spectralnn.nn.SNN` (its odd extension acts on vectors).
        phi, psi: (d1, r), (d2, r) orthonormal columns, to lift ``x`` to ``X = Φ diag(x) Ψᵀ``.
        G: (B, r', r') orthogonal factors of the spectral init (``r' ≤ r``), kept for
            :meth:`to_snn`.

    Attributes:
        u, v: (B, L0, r) views of the parameters; ``alphas``: list of (B, L_{i-1}, L_i) views.
        widths: ``[L0, L1, …]``; ``replicas``: B; ``batched``: whether the inputs had a
        leading batch dimension (outputs follow the same convention); ``rank``: r.
    """

    def __init__(self, u: object, v: object, alphas: Sequence[object], diagonals: object,
                 activation: str | Activation | tuple = "tanh", *, phi: object = None,
                 psi: object = None, G: object = None) -> None:
        D, op_phi, op_psi = diagonal_data(diagonals)
        phi = op_phi if phi is None else _as_f64(phi, "phi")
        psi = op_psi if psi is None else _as_f64(psi, "psi")
        u_arr, v_arr = _as_f64(u, "u"), _as_f64(v, "v")
        if u_arr.ndim not in (2, 3) or u_arr.shape != v_arr.shape:
            raise ShapeError(f"u {u_arr.shape} and v {v_arr.shape} must both be (L0, r) or "
                             "(B, L0, r)")
        self.batched = u_arr.ndim == 3
        if not self.batched:
            u_arr, v_arr = u_arr[None], v_arr[None]
        B, L0, r = u_arr.shape
        if D.shape[1] != r:
            raise ShapeError(f"diagonals has shape {D.shape}; expected (m, {r}) to match u")
        for name, M in (("phi", phi), ("psi", psi)):
            if M is not None and (M.ndim != 2 or M.shape[1] != r):
                raise ShapeError(f"{name} has shape {M.shape}; expected (d, {r})")
        if not isinstance(alphas, Sequence) or len(alphas) == 0:
            raise ConfigError(f"alphas must be a non-empty list of arrays, got {alphas!r}")
        al = []
        fan = [L0]
        for i, a in enumerate(alphas):
            a = _as_f64(a, f"alphas[{i}]")
            if not self.batched:
                a = a[None]
            if a.ndim != 3 or a.shape[0] != B or a.shape[1] != fan[-1]:
                raise ShapeError(f"alphas[{i}] has shape {a.shape}; expected "
                                 f"({B}, {fan[-1]}, L) (batch, inputs, outputs)")
            fan.append(a.shape[2])
            al.append(a)
        if fan[-1] != 1:
            raise ShapeError(f"the last alphas has {fan[-1]} outputs; expected 1 (one matrix)")
        self.widths = fan[:-1]
        self.fan = fan
        self.replicas = B
        self.rank = r
        self.activation = get_activation(activation)
        self.diagonals = D
        self.phi, self.psi = phi, psi
        g_arr = None if G is None else _as_f64(G, "G")
        self.G = None if g_arr is None else g_arr.reshape(B, *g_arr.shape[-2:])
        self._g, self._dg = _numpy_activation(self.activation)

        # One (B, P) array holds every parameter; u, v, alphas are views into it.
        sizes = [L0 * r, L0 * r] + [fan[i] * fan[i + 1] for i in range(len(al))]
        self._offsets = np.cumsum([0, *sizes])
        self.params = np.empty((B, int(self._offsets[-1])))
        self.u, self.v = self._view(self.params, 0), self._view(self.params, 1)
        self.u[...] = u_arr
        self.v[...] = v_arr
        self.alphas = [self._view(self.params, 2 + i) for i in range(len(al))]
        for view, a in zip(self.alphas, al):
            view[...] = a
        self._workspace: dict[str, Any] | None = None
        # The full SNN's shape, rank, dtype, method and init (set by from_snn; used by to_snn).
        self._snn_meta: dict[str, Any] | None = None

    # ---- layout --------------------------------------------------------------------------

    def _view(self, flat: np.ndarray, j: int) -> np.ndarray:
        lo, hi = int(self._offsets[j]), int(self._offsets[j + 1])
        if j < 2:
            shape = (self.widths[0], self.rank)
        else:
            shape = (self.fan[j - 2], self.fan[j - 1])
        return flat[:, lo:hi].reshape(self.replicas, *shape)

    @property
    def num_params(self) -> int:
        """P, the number of parameters of one replica."""
        return int(self._offsets[-1])

    @property
    def num_measurements(self) -> int:
        """m."""
        return int(self.diagonals.shape[0])

    def _out(self, a: np.ndarray) -> np.ndarray:
        return a if self.batched else a[0]

    # ---- construction --------------------------------------------------------------------

    @classmethod
    def from_snn(cls, model: SNN, operator: object, *, tol: float | None = None
                 ) -> ReducedSNN:
        """The reduced network of a spectrally initialised ``model`` on a well-specified
        ``operator`` (``A_i = Φ diag(d_i) Ψᵀ``, with attributes ``phi``, ``psi``,
        ``diagonals``).

        Reads the *current* parameters: ``u_k = diag(Φᵀ U_k Gᵀ)``, ``v_k = diag(Ψᵀ V_k Gᵀ)``
        with ``G`` from ``model.spectral_init``, and checks that ``U_k = Φ diag(u_k) G``
        (likewise ``V_k``) to relative ``tol`` (default ``1e4·eps`` of the model's dtype);
        a model rank ``r' < r`` is padded with zero coordinates, which GD keeps at zero.
        """
        if not isinstance(model, SNN):
            raise ConfigError(f"model must be an SNN, got {type(model).__name__}")
        if model.spectral_init is None:
            raise ConfigError(f"model has init={model.init!r}; the reduction needs "
                              "init='spectral' or 'diag' (Assumption 2)")
        D, phi, psi = diagonal_data(operator)
        if phi is None or psi is None:
            raise ConfigError("operator must be well-specified (phi, psi, diagonals) to "
                              "reduce an SNN")
        d1, d2 = model.shape
        r = D.shape[1]
        rs = model.rank
        if phi.shape[0] != d1 or psi.shape[0] != d2:
            raise ShapeError(f"operator acts on {phi.shape[0]}×{psi.shape[0]} matrices; "
                             f"expected the model's shape {d1}×{d2}")
        if rs > r:
            raise ShapeError(f"model rank {rs} exceeds the operator's r = {r}")
        eps = torch.finfo(model.U.dtype).eps
        tol = 1e4 * eps if tol is None else float(tol)
        f64 = torch.float64
        G = model.spectral_init["G"].detach().to(f64).cpu()
        Phi = torch.from_numpy(phi[:, :rs])
        Psi = torch.from_numpy(psi[:, :rs])

        def coords(W: torch.Tensor, basis: torch.Tensor, what: str) -> torch.Tensor:
            W = W.detach().to(f64).cpu()
            M = basis.mT @ W @ G.unsqueeze(-3).mT  # (…, L0, r', r')
            w = torch.diagonal(M, dim1=-2, dim2=-1)
            back = (basis * w.unsqueeze(-2)) @ G.unsqueeze(-3)
            err = float(torch.linalg.vector_norm(W - back) /
                        torch.clamp(torch.linalg.vector_norm(W), min=1e-300))
            if not math.isfinite(err) or err > tol:
                raise ConfigError(f"model.{what} is not of the form basis·diag(·)·G "
                                  f"(relative residual {err:.2e}, expected ≤ {tol:.1e}); "
                                  "was it spectrally initialised with this operator's Φ, Ψ?")
            return w

        u = coords(model.U, Phi, "U")
        v = coords(model.V, Psi, "V")
        pad = [0] * (r - rs)
        if pad:
            u = torch.nn.functional.pad(u, (0, r - rs))
            v = torch.nn.functional.pad(v, (0, r - rs))
        alphas = [a.detach().to(f64).cpu().numpy() for a in model.alphas]
        out = cls(u.numpy(), v.numpy(), alphas, D, model.activation, phi=phi, psi=psi,
                  G=G.numpy())
        out._snn_meta = {"shape": model.shape, "rank": rs, "dtype": model.U.dtype,
                         "method": getattr(model, "method", None), "init": model.init}
        return out

    @classmethod
    def spectral(cls, operator: object, widths: Sequence[int] = (2, 2, 2, 2), *,
                 init_scale: float = 1.0, replicas: int | None = None, seed: int = 0,
                 activation: str | Activation | tuple = "tanh") -> ReducedSNN:
        """The reduction of ``SNN(shape, widths, activation, init='spectral', phi=Φ, psi=Ψ,
        rank=r, init_scale, replicas, seed, dtype=float64)`` on ``operator``: the same draws
        as the full network (ū, v̄ sorted uniform(0, 1)·scale, α uniform(0, 1)), without
        ever training the full network."""
        D, phi, psi = diagonal_data(operator)
        if phi is None or psi is None:
            raise ConfigError("operator must be well-specified (phi, psi, diagonals)")
        model = SNN((phi.shape[0], psi.shape[0]), list(widths), activation, init="spectral",
                    rank=D.shape[1], init_scale=init_scale, phi=torch.from_numpy(phi),
                    psi=torch.from_numpy(psi), replicas=replicas, seed=seed,
                    dtype=torch.float64)
        return cls.from_snn(model, operator)

    @classmethod
    def concatenate(cls, models: Sequence[ReducedSNN]) -> ReducedSNN:
        """Stack the replicas of models with the same architecture and problem data."""
        if len(models) == 0:
            raise ConfigError("concatenate needs at least one ReducedSNN")
        first = models[0]
        for mdl in models[1:]:
            if mdl.fan != first.fan or mdl.rank != first.rank or not np.array_equal(
                    mdl.diagonals, first.diagonals):
                raise ConfigError("concatenate needs models with the same widths, rank and "
                                  "diagonals")
        Gs = None
        if all(mdl.G is not None for mdl in models):
            Gs = np.concatenate([mdl.G for mdl in models])
        out = cls(np.concatenate([mdl.u for mdl in models]),
                  np.concatenate([mdl.v for mdl in models]),
                  [np.concatenate([mdl.alphas[i] for mdl in models])
                   for i in range(len(first.alphas))],
                  first.diagonals, first.activation, phi=first.phi, psi=first.psi, G=Gs)
        out._snn_meta = first._snn_meta
        return out

    def copy(self) -> ReducedSNN:
        """An independent copy (parameters and data)."""
        return ReducedSNN.concatenate([self]) if self.batched else self._single_copy()

    def _single_copy(self) -> ReducedSNN:
        out = ReducedSNN(self.u[0].copy(), self.v[0].copy(), [a[0].copy() for a in self.alphas],
                         self.diagonals, self.activation, phi=self.phi, psi=self.psi, G=self.G)
        out._snn_meta = self._snn_meta
        return out

    # ---- maths ---------------------------------------------------------------------------

    def _buffers(self) -> dict:
        if self._workspace is None:
            B, r, m = self.replicas, self.rank, self.num_measurements
            q = [np.empty((B, L, r)) for L in self.fan]
            ws: dict[str, Any] = {
                "q": q,
                "h": [np.empty((B, L, r)) for L in self.fan[:-1]],
                "dh": [np.empty((B, L, r)) for L in self.fan[:-1]],
                "gq": [np.empty((B, L, r)) for L in self.fan],
                "gh": [np.empty((B, L, r)) for L in self.fan[:-1]],
                "res": np.empty((B, m)),
                "grad": np.empty_like(self.params),
                "tmp": np.empty_like(self.params),
                "DT": np.ascontiguousarray(self.diagonals.T),
                "Dm": self.diagonals / m,
            }
            ws["gradviews"] = [self._view(ws["grad"], j) for j in range(len(self._offsets) - 1)]
            ws["alphaT"] = [a.transpose(0, 2, 1) for a in self.alphas]
            ws["gqT"] = [g.transpose(0, 2, 1) for g in ws["gq"]]
            self._workspace = ws
        return self._workspace

    def _forward_into(self, ws: dict, y: np.ndarray) -> np.ndarray:
        """Forward pass; fills q, h, dh and the residual ``Dx − y`` (B, m)."""
        q, h, dh = ws["q"], ws["h"], ws["dh"]
        np.multiply(self.u, self.v, out=q[0])
        for i, aT in enumerate(ws["alphaT"]):
            self._g(q[i], h[i])
            if self._dg is not None:
                self._dg(q[i], h[i], dh[i])
            np.matmul(aT, h[i], out=q[i + 1])
        res = ws["res"]
        np.matmul(q[-1][:, 0, :], ws["DT"], out=res)
        np.subtract(res, y, out=res)
        return res

    def _backward_into(self, ws: dict) -> np.ndarray:
        """Backward pass after :meth:`_forward_into`; returns the (B, P) gradient buffer."""
        gq, gh, h, dh, gv = ws["gq"], ws["gh"], ws["h"], ws["dh"], ws["gradviews"]
        np.matmul(ws["res"], ws["Dm"], out=gq[-1][:, 0, :])
        for i in range(len(self.alphas) - 1, -1, -1):
            np.matmul(h[i], ws["gqT"][i + 1], out=gv[2 + i])
            if self._dg is None:
                np.matmul(self.alphas[i], gq[i + 1], out=gq[i])
            else:
                np.matmul(self.alphas[i], gq[i + 1], out=gh[i])
                np.multiply(gh[i], dh[i], out=gq[i])
        np.multiply(gq[0], self.v, out=gv[0])
        np.multiply(gq[0], self.u, out=gv[1])
        return ws["grad"]

    def check_y(self, y: object) -> np.ndarray:
        """``y`` as a float64 (m,) array (the measurements this model fits); raises
        :class:`~spectralnn.errors.ShapeError` for another shape."""
        arr = _as_f64(y, "y")
        m = self.num_measurements
        if arr.shape != (m,):
            raise ShapeError(f"y has shape {arr.shape}; expected ({m},)")
        return arr

    def forward(self) -> np.ndarray:
        """The reduced output ``x``: (B, r), or (r,) when not batched."""
        ws = self._buffers()
        q, h = ws["q"], ws["h"]
        np.multiply(self.u, self.v, out=q[0])
        for i, aT in enumerate(ws["alphaT"]):
            self._g(q[i], h[i])
            np.matmul(aT, h[i], out=q[i + 1])
        return self._out(q[-1][:, 0, :].copy())

    def loss(self, y: object) -> np.ndarray:
        """``½·mean_i (d_i·x − y_i)²``: (B,) or a 0-d array."""
        y = self.check_y(y)
        res = self._forward_into(self._buffers(), y)
        return self._out(0.5 * np.mean(res * res, axis=1))

    def gradient(self, y: object) -> dict[str, object]:
        """Gradients of the loss, by the hand-written backward pass:
        ``{"u": (B, L0, r), "v": (B, L0, r), "alphas": [(B, L_{i-1}, L_i), …]}`` (without
        the batch dimension when not batched)."""
        y = self.check_y(y)
        ws = self._buffers()
        self._forward_into(ws, y)
        self._backward_into(ws)
        gv = ws["gradviews"]
        return {"u": self._out(gv[0].copy()), "v": self._out(gv[1].copy()),
                "alphas": [self._out(g.copy()) for g in gv[2:]]}

    def flat_gradient(self, params: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``∇ℓ`` at ``params`` (B, P) for validated ``y``; leaves the parameters as they were.
        Used by the gradient-flow integrator."""
        ws = self._buffers()
        saved = ws["tmp"]
        np.copyto(saved, self.params)
        np.copyto(self.params, params)
        self._forward_into(ws, y)
        grad = self._backward_into(ws).copy()
        np.copyto(self.params, saved)
        return grad

    def fit(self, y: object, lr: float | Sequence[float] | np.ndarray, steps: int, *,
            record_every: int | None = None, record_x: bool = False, tol: float | None = None,
            divergence_factor: float = REDUCED_DIVERGENCE_FACTOR) -> ReducedHistory:
        """Full-batch gradient descent, in place: ``θ ← θ − η_b ∇ℓ(θ)`` for every replica b.

        Args:
            y: (m,) measurements.
            lr: one learning rate, or (B,) per replica.
            steps: number of GD steps.
            record_every: record the loss (and ``x``) every this many steps (default
                ``max(1, steps // 100)``); the state before the first step and after the
                last are always recorded.
            record_x: also record the (B, r) output at each record.
            tol: stop early once every replica that has not diverged has loss ≤ tol
                (checked at records).
            divergence_factor: a replica whose loss exceeds this times its initial loss, or
                is not finite, is marked diverged and frozen (the rule of
                :func:`spectralnn.stoppers.exceeds`; default
                :data:`~spectralnn.stoppers.REDUCED_DIVERGENCE_FACTOR`, 1e8, with which the
                theory study's numbers were computed).

        Returns:
            A :class:`ReducedHistory`.
        """
        y = self.check_y(y)
        steps = int_at_least(steps, "steps", 0)
        B = self.replicas
        lr_arr = np.array(lr, dtype=np.float64).reshape(-1)
        if lr_arr.size == 1:
            lr_arr = np.full(B, float(lr_arr[0]))
        if lr_arr.shape != (B,) or not np.all(np.isfinite(lr_arr)) or np.any(lr_arr <= 0):
            raise ConfigError(f"lr must be a positive number or {B} positive numbers, got "
                              f"{np.asarray(lr).tolist()!r}")
        every = (max(1, steps // 100) if record_every is None
                 else positive_int(record_every, "record_every"))
        if tol is not None:
            positive_number(tol, "tol", allow_zero=True)
        ws = self._buffers()
        grad, params = ws["grad"], self.params
        step_lr = lr_arr[:, None].copy()
        diverged = np.zeros(B, dtype=bool)
        rec_steps, rec_loss, rec_x = [], [], []

        def record(step: int, res: np.ndarray) -> np.ndarray:
            loss = 0.5 * np.mean(res * res, axis=1)
            rec_steps.append(step)
            rec_loss.append(loss)
            if record_x:
                rec_x.append(ws["q"][-1][:, 0, :].copy())
            return loss

        budget = Budget().start()
        done = 0
        res: np.ndarray = np.empty(0)
        last_loss: np.ndarray = np.empty(0)

        def chunk(t: int, last: bool) -> np.ndarray:
            """Unit ``t`` of the loop: the next ``record_every`` steps, then their record."""
            nonlocal done, res, last_loss
            n = min(every, steps - done)
            for _ in range(n):
                self._backward_into(ws)
                np.multiply(grad, step_lr, out=grad)
                np.subtract(params, grad, out=params)
                res = self._forward_into(ws, y)
            done += n
            last_loss = record(done, res)
            return last_loss

        def freeze(t: int, bad: np.ndarray | None, last: bool) -> str | None:
            """Diverged replicas stop moving (rate 0); ``tol`` ends the loop."""
            if bad is not None:
                diverged[:] |= bad
                step_lr[diverged] = 0.0
            if tol is not None and np.all(diverged | (last_loss <= tol)):
                return "converged"
            return None

        with np.errstate(all="ignore"):
            res = self._forward_into(ws, y)
            loss0 = record(0, res)
            watch = Divergence(divergence_factor, floor=1e-300, loss0=loss0,
                               active=lambda: ~diverged)
            end = run_loop(chunk, freeze, units=-(-steps // every), budget=budget,
                           time_rule="end", divergence=watch)
        seconds = end.seconds
        xs = np.stack(rec_x) if record_x else None
        if xs is not None and not self.batched:
            xs = xs[:, 0]
        loss_arr = np.stack(rec_loss)
        return ReducedHistory(steps=np.asarray(rec_steps), loss=loss_arr if self.batched
                              else loss_arr[:, 0], x=xs, lr=lr_arr, diverged=diverged,
                              steps_done=done, seconds=seconds, status=end.status)

    # ---- back to matrices ----------------------------------------------------------------

    def full_matrix(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``X = Φ diag(x) Ψᵀ``: (B, d1, d2), or (d1, d2) when not batched."""
        if self.phi is None or self.psi is None:
            raise ConfigError("full_matrix needs Φ and Ψ (build from a well-specified operator)")
        x = self.forward()
        X = np.einsum("ir,...r,jr->...ij", self.phi, x, self.psi)
        return torch.from_numpy(X).to(dtype)

    def to_snn(self, dtype: torch.dtype | None = None) -> SNN:
        """The full SNN with ``U_k = Φ diag(u_k) G``, ``V_k = Ψ diag(v_k) G`` and the same α
        (same widths, activation, rank, replicas), in ``dtype`` (default: that of the SNN it
        was reduced from, else float64). Needs Φ, Ψ and G (from :meth:`from_snn` or
        :meth:`spectral`)."""
        if self.phi is None or self.psi is None or self.G is None:
            raise ConfigError("to_snn needs Φ, Ψ and G (build with from_snn or spectral)")
        meta = self._snn_meta or {}
        rs = int(self.G.shape[-1])
        dt = dtype if dtype is not None else meta.get("dtype", torch.float64)
        kwargs = {}
        if meta.get("method") is not None:
            kwargs["method"] = meta["method"]
        model = SNN((self.phi.shape[0], self.psi.shape[0]), self.widths, self.activation,
                    init="spectral", rank=rs, phi=torch.from_numpy(self.phi),
                    psi=torch.from_numpy(self.psi),
                    replicas=self.replicas if self.batched else None, dtype=dt, **kwargs)
        G = self.G
        Gk = G[:, None]                        # (B, 1, r', r')
        U = (self.phi[:, :rs] * self.u[..., None, :rs]) @ Gk
        V = (self.psi[:, :rs] * self.v[..., None, :rs]) @ Gk
        with torch.no_grad():
            model.U.copy_(torch.from_numpy(self._out(U)))
            model.V.copy_(torch.from_numpy(self._out(V)))
            for p, a in zip(model.alphas, self.alphas):
                p.copy_(torch.from_numpy(self._out(a)))
        model.spectral_init = {"u": torch.from_numpy(self._out(self.u[..., :rs].copy())),
                               "v": torch.from_numpy(self._out(self.v[..., :rs].copy())),
                               "G": torch.from_numpy(self._out(G.copy()))}
        return model

    def __repr__(self) -> str:
        return (f"ReducedSNN(widths={self.widths}, r={self.rank}, m={self.num_measurements}, "
                f"replicas={self.replicas}, activation={self.activation.name})")
