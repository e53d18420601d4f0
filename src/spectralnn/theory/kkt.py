"""Optimality certificate for nuclear-norm minimisation (the paper's Theorem 3).

For ``min ‖X‖_* s.t. A(X) = y`` with ``A(X)_i = ⟨A_i, X⟩``, a matrix ``X = U_r Σ_r V_rᵀ`` of
rank ``r`` is optimal iff it is feasible and a dual vector ``λ ∈ R^m`` gives
``Z = A*(λ) = Σ_i λ_i A_i`` with

    P_T(Z) = U_r V_rᵀ      and      ‖P_T⊥(Z)‖₂ ≤ 1,

where ``P_T(Z) = U Uᵀ Z + Z V Vᵀ − U Uᵀ Z V Vᵀ`` and ``P_T⊥ = I − P_T``. Completing ``U, V``
to orthogonal ``[U U⊥]``, ``[V V⊥]``, ``P_T(Z)`` is the three blocks ``UᵀZV``, ``UᵀZV⊥``,
``U⊥ᵀZV`` and ``P_T⊥(Z)`` is the block ``U⊥ᵀ Z V⊥`` (norms preserved).

**Finding λ.** The tangent equations ``P_T(A*(λ)) = U Vᵀ`` are linear in λ: ``M_T λ = t``
with ``M_T`` of size ``r(d1 + d2 − r) × m``. Their least-squares solution alone can miss a
certificate when ``m`` exceeds what they pin down, so, with ``λ₀`` the minimum-norm
least-squares solution and ``ρ₀`` its (relative) tangent residual:

- if ``ρ₀ ≤ tangent_tol``: minimise ``‖U⊥ᵀ A*(λ) V⊥‖₂`` over every λ whose tangent residual
  stays within ``(ρ₀ + tangent_tol)/2`` (an SDP with one second-order-cone constraint,
  cvxpy + Clarabel, else SCS). Searching this small ball rather than the exact null space
  of ``M_T`` matters for a matrix that is a little off the exact optimum (a solver's or
  GD's answer): directions that are null at the optimum are then only nearly null;
- otherwise the certificate cannot hold; for the report, minimise the normal norm over the
  exact null space, ``λ = λ₀ + N s`` (the tangent residual stays ``ρ₀``).

The best candidate (λ₀, the solver's λ, and that λ polished back onto the least-squares
set) is kept. All reported residuals are recomputed in NumPy from the returned λ, so an
inaccurate solver can weaken a certificate but never fake one.

**Numerical rank.** A matrix from gradient descent has tiny but nonzero singular values: from
an initialisation of scale ``s`` the directions the optimum does not use keep singular values
that shrink with ``s`` (measured on the 20×20 study problem: up to 4e-6·σ_1 at ``s = 1e-3``,
9e-5·σ_1 at ``s = 1e-2``), which a fixed threshold either keeps (and the certificate fails
for a near-optimal matrix) or must be so coarse that it hides real structure. The rank
used is therefore the first index where the spectrum *drops* by more than ``rank_gap``
(default 100) between consecutive singular values, and never more than
``#{σ_i > rank_rtol · σ_1}`` (default ``rank_rtol = 1e-6``: round-off and solver noise):

    r = min( #{i : σ_i > rank_rtol·σ_1},  min{i : σ_{i+1} < σ_i / rank_gap} ).

The certificate is for the rank-``r`` truncation; the discarded mass
``Σ_{i>r} σ_i / Σ_i σ_i`` is reported as ``tail`` (the primal residual is of ``X`` itself).
``rank_gap=None`` disables the gap rule; ``rank=`` forces a rank.

**Noisy, over-determined data.** With ``target="least_squares"`` the constraint becomes
``A(X) = ŷ`` with ``ŷ`` the projection of ``y`` onto the range of ``A``: the optimality
conditions of ``min ‖X‖_* s.t. X ∈ argmin ‖A(X) − y‖``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError, ShapeError
from ..sensing.operators import SensingOperator, as_operator
from ..validate import as_float64_array as _as_array

__all__ = [
    "KKTCertificate",
    "kkt_certificate",
    "numerical_rank",
    "project_onto_range",
    "sensing_matrix",
]

TARGETS = ("interpolate", "least_squares")


@dataclass
class KKTCertificate:
    """The KKT check of ``min ‖X‖_* s.t. A(X) = y`` at one ``X``.

    Attributes:
        holds: ``primal_residual ≤ primal_tol and tangent_residual ≤ tangent_tol and
            normal_norm ≤ 1 + normal_tol``.
        primal_residual: ``‖A(X) − y‖₂ / ‖y‖₂`` (``y`` replaced by its projection ``ŷ`` for
            ``target="least_squares"``; absolute when ``y = 0``).
        tangent_residual: ``‖P_T(Z) − U Vᵀ‖_F / ‖U Vᵀ‖_F`` (``‖U Vᵀ‖_F = √rank``).
        normal_norm: ``‖P_T⊥(Z)‖₂``, minimised over the dual vectors that keep the tangent
            residual at its minimum; ``1 − normal_norm`` is the certificate's margin.
        lam: (m,) the dual vector λ, ``Z = Σ_i λ_i A_i``.
        rank: numerical rank used; ``singular_values``: all of them, descending.
        nuclear_norm: ``‖X‖_*``; ``tail``: ``Σ_{i>rank} σ_i / Σ σ_i``.
        dual_freedom: dimension of the exact null space of the tangent equations.
        dual_method: which λ was kept: ``"least_squares"``, ``"sdp(tangent ball):<SOLVER>"``
            (``+polish``), ``"sdp(null space):<SOLVER>"`` or ``"least_squares (… failed: …)"``.
        rank_rtol, rank_gap, primal_tol, tangent_tol, normal_tol: the tolerances used.
        target: ``"interpolate"`` or ``"least_squares"``.
    """

    holds: bool
    primal_residual: float
    tangent_residual: float
    normal_norm: float
    lam: np.ndarray = field(repr=False)
    rank: int
    singular_values: np.ndarray = field(repr=False)
    nuclear_norm: float
    tail: float
    dual_freedom: int
    dual_method: str
    rank_rtol: float
    rank_gap: float | None
    primal_tol: float
    tangent_tol: float
    normal_tol: float
    target: str

    @property
    def margin(self) -> float:
        """``1 − ‖P_T⊥(Z)‖₂`` (positive: strict certificate)."""
        return 1.0 - self.normal_norm

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (without the arrays)."""
        return {
            "holds": bool(self.holds),
            "primal_residual": self.primal_residual,
            "tangent_residual": self.tangent_residual,
            "normal_norm": self.normal_norm,
            "rank": self.rank,
            "nuclear_norm": self.nuclear_norm,
            "tail": self.tail,
            "dual_freedom": self.dual_freedom,
            "dual_method": self.dual_method,
            "rank_rtol": self.rank_rtol,
            "rank_gap": self.rank_gap,
            "primal_tol": self.primal_tol,
            "tangent_tol": self.tangent_tol,
            "normal_tol": self.normal_tol,
            "target": self.target,
        }

    def _rank_rule(self) -> str:
        rule = f"σ_i > {self.rank_rtol:g}·σ_1"
        if self.rank_gap is not None:
            rule += f", cut at the first drop > {self.rank_gap:g}×"
        return rule

    def describe(self) -> str:
        """A few lines for people: each condition, its value, its tolerance, and the verdict."""

        def ok(flag: bool) -> str:
            return "ok" if flag else "FAILS"

        p = self.primal_residual <= self.primal_tol
        t = self.tangent_residual <= self.tangent_tol
        n = self.normal_norm <= 1.0 + self.normal_tol
        verdict = "HOLDS: X is a nuclear-norm minimiser" if self.holds else (
            "DOES NOT HOLD: X is not certified optimal")
        constraint = "A(X) = y" if self.target == "interpolate" else "A(X) = proj_range(A)(y)"
        lines = [
            f"KKT certificate for min ‖X‖_* s.t. {constraint}",
            f"  rank            {self.rank} ({self._rank_rule()}; discarded tail "
            f"{self.tail:.3e}), nuclear norm {self.nuclear_norm:.10g}",
            f"  primal residual ‖A(X) − y‖/‖y‖      = {self.primal_residual:.3e}  "
            f"(≤ {self.primal_tol:g}: {ok(p)})",
            f"  tangent residual ‖P_T(Z) − UVᵀ‖/√r  = {self.tangent_residual:.3e}  "
            f"(≤ {self.tangent_tol:g}: {ok(t)})",
            f"  normal norm      ‖P_T⊥(Z)‖₂         = {self.normal_norm:.6f}  "
            f"(≤ 1 + {self.normal_tol:g}: {ok(n)}; margin {self.margin:+.3e})",
            f"  dual: {self.dual_method} (exact null space of the tangent equations: "
            f"{self.dual_freedom} dims)",
            f"  verdict: {verdict}",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def sensing_matrix(A: SensingOperator | torch.Tensor | np.ndarray) -> np.ndarray:
    """The sensing matrices as one float64 array ``(m, d1, d2)`` (``A_i`` = row ``i``), from an
    ``(m, d1, d2)`` tensor/array or any :class:`SensingOperator` (via ``dense()``)."""
    if isinstance(A, np.ndarray):
        A = torch.from_numpy(np.asarray(A, dtype=np.float64))
    if isinstance(A, torch.Tensor) and A.dim() != 3:
        raise ShapeError(f"A has shape {tuple(A.shape)}; expected (m, d1, d2)")
    op = as_operator(A)
    return _as_array(op.dense(), "A")


def project_onto_range(Amat: np.ndarray, y: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """``ŷ``: the orthogonal projection of ``y`` (m,) onto the range of the linear map with
    matrices ``Amat`` (m, d1, d2), i.e. ``A(X_ls)`` for any least-squares solution ``X_ls``."""
    M = Amat.reshape(Amat.shape[0], -1)
    W, s, _ = np.linalg.svd(M, full_matrices=False)
    k = int(np.sum(s > rtol * (s[0] if s.size else 0.0)))
    Wk = W[:, :k]
    return Wk @ (Wk.T @ y)


def _check_tol(value: object, name: str) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number ≥ 0, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ConfigError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return v


# --------------------------------------------------------------------------------------------
# The dual problem
# --------------------------------------------------------------------------------------------


def _minimise_normal_norm(lam0: np.ndarray, B: np.ndarray, normal_blocks: np.ndarray,
                          solvers: tuple[str, ...], MT: np.ndarray | None = None,
                          t: np.ndarray | None = None, eps: float | None = None,
                          ) -> tuple[np.ndarray | None, str]:
    """``λ = λ0 + B s`` minimising ``‖Σ_i λ_i N_i‖₂`` (``N_i`` = ``normal_blocks[i]``, (p, q)),
    optionally subject to ``‖MT λ − t‖₂ ≤ eps``; an SDP via cvxpy. Returns ``(λ, solver)``
    or ``(None, reason)`` if every solver failed."""
    import cvxpy as cp

    _, p, q = normal_blocks.shape
    k = B.shape[1]
    N0 = np.einsum("m,mab->ab", lam0, normal_blocks)
    NB = np.einsum("mj,mab->jab", B, normal_blocks).reshape(k, p * q).T   # (p·q, k)
    scale = max(float(np.abs(NB).max(initial=0.0)), 1e-300)
    s = cp.Variable(k)
    expr = N0 + cp.reshape((NB / scale) @ s, (p, q), order="C")
    constraints = []
    if eps is not None and MT is not None and t is not None:
        constraints.append(cp.norm(MT @ lam0 - t + (MT @ B / scale) @ s, 2) <= eps)
    problem = cp.Problem(cp.Minimize(cp.sigma_max(expr)), constraints)
    reasons = []
    for name in solvers:
        if name not in cp.installed_solvers():
            reasons.append(f"{name} not installed")
            continue
        try:
            with warnings.catch_warnings():
                # "may be inaccurate": harmless here, every residual is recomputed exactly.
                warnings.simplefilter("ignore", UserWarning)
                problem.solve(solver=name)
        except (cp.error.SolverError, ArithmeticError, ValueError) as exc:
            reasons.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else 'error'}")
            continue
        if problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and s.value is not None:
            tag = "" if problem.status == cp.OPTIMAL else " (inaccurate)"
            return lam0 + B @ (np.asarray(s.value, dtype=np.float64) / scale), name + tag
        reasons.append(f"{name}: status {problem.status}")
    return None, "; ".join(reasons)


# --------------------------------------------------------------------------------------------
# The certificate
# --------------------------------------------------------------------------------------------


def kkt_certificate(
    X: torch.Tensor | np.ndarray,
    A: SensingOperator | torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    *,
    rank: int | None = None,
    rank_rtol: float = 1e-6,
    rank_gap: float | None = 100.0,
    primal_tol: float = 1e-6,
    tangent_tol: float = 1e-6,
    normal_tol: float = 1e-6,
    target: str = "interpolate",
    optimize_dual: bool = True,
    solvers: tuple[str, ...] = ("CLARABEL", "SCS"),
) -> KKTCertificate:
    """Check the KKT conditions of ``min ‖X‖_* s.t. A(X) = y`` at ``X``.

    Args:
        X: (d1, d2) candidate.
        A: a :class:`~spectralnn.sensing.SensingOperator` or an (m, d1, d2) tensor/array of
            sensing matrices ``A_i``.
        y: (m,) measurements.
        rank: rank of the truncation certified; default: the numerical rank (module doc).
        rank_rtol: singular values ``≤ rank_rtol·σ_1`` count as zero (default 1e-6).
        rank_gap: the rank stops at the first drop ``σ_{i+1} < σ_i / rank_gap`` (default
            100; ``None``: threshold only).
        primal_tol, tangent_tol, normal_tol: tolerances of the three conditions (see
            :class:`KKTCertificate`).
        target: ``"interpolate"`` (``A(X) = y``) or ``"least_squares"`` (``A(X) = ŷ``, the
            projection of ``y`` onto the range of ``A``).
        optimize_dual: minimise ``‖P_T⊥(Z)‖₂`` over the dual null space (default); if False
            use the minimum-norm least-squares λ only.
        solvers: cvxpy solvers tried in order for that minimisation.

    Returns:
        A :class:`KKTCertificate`.

    Cost: one SVD of ``X``, one of the ``r(d1+d2−r) × m`` tangent system, and an SDP with a
    ``(d1−r) × (d2−r)`` matrix and ``dual_freedom`` variables.
    """
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    Xa = _as_array(X, "X")
    if Xa.ndim != 2:
        raise ShapeError(f"X has shape {Xa.shape}; expected (d1, d2)")
    Amat = sensing_matrix(A)
    m, d1, d2 = Amat.shape
    if Xa.shape != (d1, d2):
        raise ShapeError(f"X has shape {Xa.shape}; expected ({d1}, {d2}), the operator's shape")
    ya = _as_array(y, "y")
    if ya.shape != (m,):
        raise ShapeError(f"y has shape {ya.shape}; expected ({m},)")
    rank_rtol = _check_tol(rank_rtol, "rank_rtol")
    if rank_gap is not None and not (_check_tol(rank_gap, "rank_gap") > 1):
        raise ConfigError(f"rank_gap must be a number > 1 or None, got {rank_gap!r}")
    primal_tol = _check_tol(primal_tol, "primal_tol")
    tangent_tol = _check_tol(tangent_tol, "tangent_tol")
    normal_tol = _check_tol(normal_tol, "normal_tol")

    # Primal feasibility, with the operator itself when one was given.
    y_eff = project_onto_range(Amat, ya) if target == "least_squares" else ya
    if isinstance(A, SensingOperator):
        AX = (A.forward(torch.as_tensor(Xa).to(dtype=A.dtype, device=A.device))
              .detach().cpu().to(torch.float64).numpy())
    else:
        AX = np.einsum("mij,ij->m", Amat, Xa)
    y_norm = float(np.linalg.norm(y_eff))
    primal = float(np.linalg.norm(AX - y_eff)) / (y_norm if y_norm > 0 else 1.0)

    # Numerical rank and the subspaces.
    Uf, s, Vhf = np.linalg.svd(Xa, full_matrices=True)
    nmin = min(d1, d2)
    if rank is None:
        r = numerical_rank(s, rank_rtol, rank_gap)
    else:
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not (
                0 <= rank <= nmin):
            raise ConfigError(f"rank must be an int in [0, {nmin}], got {rank!r}")
        r = int(rank)
    nuc = float(s.sum())
    tail = float(s[r:].sum() / nuc) if nuc > 0 else 0.0
    U, Up = Uf[:, :r], Uf[:, r:]
    V, Vp = Vhf[:r].T, Vhf[r:].T

    # Blocks of every A_i in the bases [U U⊥], [V V⊥].
    AV = Amat @ V                                   # (m, d1, r)
    AVp = Amat @ Vp                                 # (m, d1, d2 - r)
    t_blocks = [np.einsum("ia,mib->mab", U, AV).reshape(m, -1),
                np.einsum("ia,mib->mab", U, AVp).reshape(m, -1),
                np.einsum("ia,mib->mab", Up, AV).reshape(m, -1)]
    MT = np.concatenate(t_blocks, axis=1).T         # (dim T, m)
    normal_blocks = np.einsum("ia,mib->mab", Up, AVp)   # (m, d1 - r, d2 - r)
    target_vec = np.concatenate([np.eye(r).reshape(-1), np.zeros(MT.shape[0] - r * r)])

    freedom = 0
    sqrt_r = math.sqrt(r) if r > 0 else 1.0

    def residuals(lam: np.ndarray) -> tuple[float, float]:
        if r == 0:
            return 0.0, 0.0
        tan = float(np.linalg.norm(MT @ lam - target_vec)) / sqrt_r
        return tan, _spectral_norm(np.einsum("m,mab->ab", lam, normal_blocks))

    if r == 0:
        lam = np.zeros(m)
        method = "zero (rank 0)"
    else:
        W, sv, Qh = np.linalg.svd(MT, full_matrices=True)
        null_tol = max(MT.shape) * np.finfo(np.float64).eps * (sv[0] if sv.size else 0.0)
        k = int(np.sum(sv > null_tol))
        pinv_t = lambda v: Qh[:k].T @ ((W[:, :k].T @ v) / sv[:k])  # noqa: E731
        lam = pinv_t(target_vec)                   # minimum-norm least squares
        null = Qh[k:].T                            # (m, freedom): exact null space
        freedom = int(null.shape[1])
        method = "least_squares"
        rho0, _ = residuals(lam)
        if optimize_dual and normal_blocks.size > 0:
            candidates = [(lam, "least_squares")]
            if rho0 <= tangent_tol:
                # Every λ whose tangent residual is within tolerance (a ball around the
                # least-squares set): robust to X being a little off the exact optimum,
                # where near-null directions of M_T are not exactly null.
                eps = 0.5 * (rho0 + tangent_tol) * sqrt_r   # feasible, and within tolerance
                sol, how = _minimise_normal_norm(lam, np.eye(m), normal_blocks,
                                                 tuple(solvers), MT, target_vec, eps)
                tag = "sdp(tangent ball)"
                if sol is not None:
                    polished = sol + pinv_t(target_vec - MT @ sol)
                    candidates += [(sol, f"{tag}:{how}"), (polished, f"{tag}+polish:{how}")]
            elif freedom > 0:
                # Cannot hold on the tangent condition: still report the best normal norm
                # at the least-squares tangent residual (exact null space).
                sol, how = _minimise_normal_norm(lam, null, normal_blocks, tuple(solvers))
                tag = "sdp(null space)"
                if sol is not None:
                    candidates.append((sol, f"{tag}:{how}"))
            else:
                sol, how = lam, ""
            if sol is None:
                method = f"least_squares ({tag} failed: {how})"
            scored = [(residuals(c), c, name) for c, name in candidates]
            ok = [x for x in scored if x[0][0] <= tangent_tol]
            pool = ok if ok else scored
            best = min(pool, key=lambda x: (x[0][1], x[0][0]) if ok else (x[0][0], x[0][1]))
            _, lam, chosen = best
            if sol is not None:
                method = chosen

    tangent, normal = residuals(lam)
    holds = bool(primal <= primal_tol and tangent <= tangent_tol and normal <= 1.0 + normal_tol)
    return KKTCertificate(
        holds=holds, primal_residual=primal, tangent_residual=tangent, normal_norm=normal,
        lam=lam, rank=r, singular_values=s, nuclear_norm=nuc, tail=tail,
        dual_freedom=freedom, dual_method=method, rank_rtol=rank_rtol,
        rank_gap=None if rank_gap is None else float(rank_gap), primal_tol=primal_tol,
        tangent_tol=tangent_tol, normal_tol=normal_tol, target=target,
    )


def numerical_rank(s: np.ndarray, rank_rtol: float = 1e-6,
                   rank_gap: float | None = 100.0) -> int:
    """``min(#{σ_i > rank_rtol·σ_1}, min{i : σ_{i+1} < σ_i / rank_gap})`` for descending
    singular values ``s`` (see the module docstring); 0 for the zero matrix."""
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or not s[0] > 0:
        return 0
    r = int(np.sum(s > rank_rtol * s[0]))
    if rank_gap is not None:
        drops = np.nonzero(s[1:r] * rank_gap < s[: r - 1])[0]
        if drops.size:
            r = int(drops[0]) + 1
    return r


def _spectral_norm(M: np.ndarray) -> float:
    if M.size == 0:
        return 0.0
    return float(np.linalg.norm(M, 2))
