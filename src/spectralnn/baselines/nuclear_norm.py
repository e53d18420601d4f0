"""NNM: convex nuclear-norm minimisation (the program the SNN's limit is a KKT point of).

Solves, with cvxpy,

    min ‖X‖_*   s.t.  A(X) = y                  (``delta=None``, exact interpolation), or
    min ‖X‖_*   s.t.  ‖A(X) − y‖₂ ≤ δ           (noise-tolerant, ``delta=δ``),

with the constraint built from ``operator.dense()`` reshaped to the ``(m, d1·d2)`` matrix ``M``
(``A(X) = M vec(X)``, row-major ``vec``). That is practical for small problems
(``d1·d2`` up to a few thousand); for larger ones use
:func:`~spectralnn.baselines.svt.singular_value_thresholding`.

:func:`minimize_nuclear_norm` is the library's one nuclear-norm program (also behind
:func:`spectralnn.theory.nuclear_norm_optimum`). The solver's status is always checked:
``infeasible``/``unbounded`` (and their inaccurate forms) and solver failures raise
:class:`~spectralnn.errors.SolverError`; an ``optimal_inaccurate`` or ``user_limit`` answer
is returned with that status (and ``accurate=False`` in the summary), or raises when
``allow_inaccurate=False``.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._optional import requires
from ..errors import ConfigError, SolverError, unknown_name
from ..metrics import RunResult, history_row, matrix_metrics
from ..stoppers import normalise_status

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["SOLVERS", "minimize_nuclear_norm", "nuclear_norm_minimization",
           "solve_nuclear_norm"]

SOLVERS = ("CLARABEL", "SCS")

# Tight defaults: SCS's own defaults (1e-4) leave errors visible in the metrics.
_DEFAULT_OPTIONS = {
    "SCS": {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iters": 200_000},
    "CLARABEL": {},
}


class _Program:
    """``min ‖X‖_*`` s.t. ``M vec(X) = b`` (``equality``) or ``‖M vec(X) − b‖₂ ≤ δ``, with ``b``
    and ``δ`` cvxpy parameters: compiled once, solved again for new ``b``/``δ`` (DPP) with
    exactly the data a new program would have."""

    def __init__(self, M: np.ndarray, shape: tuple[int, int], equality: bool) -> None:
        import cvxpy as cp

        d1, d2 = shape
        self.x = cp.Variable(d1 * d2)
        self.b = cp.Parameter(M.shape[0])
        self.delta = cp.Parameter(nonneg=True)
        residual = M @ self.x - self.b
        constraint = residual == 0 if equality else cp.norm(residual, 2) <= self.delta
        self.problem = cp.Problem(cp.Minimize(cp.normNuc(cp.reshape(self.x, (d1, d2),
                                                                    order="C"))), [constraint])


#: The last few programs, by (M, shape, kind): the ten digits of Fig. 5 share one operator.
_PROGRAMS: OrderedDict[tuple[bytes, tuple[int, int], bool], _Program] = OrderedDict()
_PROGRAMS_KEPT = 4
_LOCK = threading.Lock()


def _program(M: np.ndarray, shape: tuple[int, int], equality: bool) -> _Program:
    key = (hashlib.blake2b(np.ascontiguousarray(M).tobytes(), digest_size=16).digest()
           + repr(M.shape).encode(), (int(shape[0]), int(shape[1])), equality)
    program = _PROGRAMS.pop(key, None) or _Program(M, shape, equality)
    _PROGRAMS[key] = program
    while len(_PROGRAMS) > _PROGRAMS_KEPT:
        _PROGRAMS.popitem(last=False)
    return program


def minimize_nuclear_norm(
    M: np.ndarray,
    b: np.ndarray,
    shape: tuple[int, int],
    *,
    delta: float | None = None,
    solvers: Sequence[str] = ("SCS",),
    allow_inaccurate: bool = True,
    **solver_options: Any,
) -> tuple[np.ndarray, str, float, dict]:
    """The one cvxpy program of the library: ``min ‖X‖_*`` s.t. ``M vec(X) = b`` (or
    ``‖M vec(X) − b‖₂ ≤ delta``), ``vec`` row-major, ``X`` of ``shape``.

    ``solvers`` are tried in order (each with the tight defaults of ``_DEFAULT_OPTIONS``,
    overridden by ``solver_options``) until one returns an accepted answer: ``optimal``, or
    also ``optimal_inaccurate``/``user_limit`` with ``allow_inaccurate``. Infeasible or
    unbounded programs, solver failures and unaccepted statuses move on to the next solver;
    when none is left, :class:`SolverError` lists every solver's reason.

    Returns:
        ``(X float64 array, status, optimal value, {"solver", "solve_seconds",
        "iterations"})``.
    """
    with requires("convex", feature="nuclear-norm minimisation"):
        import cvxpy as cp

    M = np.asarray(M, dtype=np.float64)
    names = [str(s).upper() for s in solvers]
    for name, given in zip(names, solvers):
        if name not in SOLVERS:
            raise unknown_name("solver", given, SOLVERS)
        with requires("convex", feature=f"nuclear-norm minimisation with {name}"):
            importlib.import_module(name.lower())
    if delta is not None:
        delta = float(delta)
        if not math.isfinite(delta) or delta < 0:
            raise ConfigError(f"delta must be a finite number ≥ 0 or None, got {delta!r}")
    with _LOCK:  # one solve at a time per program (its parameters hold the data)
        program = _program(M, shape, equality=delta is None)
        prob, x = program.problem, program.x
        program.b.value = np.asarray(b, dtype=np.float64)
        if delta is not None:
            program.delta.value = delta
        d1, d2 = shape
        what = "A(X) = y" if delta is None else f"‖A(X) − y‖₂ ≤ {delta:g}"
        reasons = []
        for name in names:
            options = {**_DEFAULT_OPTIONS[name], **solver_options}
            try:
                with warnings.catch_warnings():  # the status is checked and reported below
                    warnings.simplefilter("ignore", UserWarning)
                    # warm_start=False: a program reused for new data solves exactly as a new one
                    prob.solve(solver=name, warm_start=False, **options)
            except cp.error.SolverError as exc:
                reasons.append(f"nuclear-norm solver {name} failed: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                continue
            status = str(prob.status)
            if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, cp.UNBOUNDED,
                          cp.UNBOUNDED_INACCURATE):
                reasons.append(f"nuclear-norm program is {status} (solver {name}, "
                               f"constraint {what})")
            elif x.value is None or status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE,
                                                   cp.USER_LIMIT):
                reasons.append(f"nuclear-norm solver {name} returned status {status!r} "
                               "without a usable solution")
            elif status != cp.OPTIMAL and not allow_inaccurate:
                reasons.append(f"nuclear-norm solver {name} returned status {status!r}; "
                               "expected 'optimal' (tighten tolerances or try solver='CLARABEL')")
            else:
                stats = prob.solver_stats
                info = {
                    "solver": name,
                    "solve_seconds": (float(stats.solve_time) if stats.solve_time is not None
                                      else math.nan),
                    "iterations": int(stats.num_iters) if stats.num_iters is not None else -1,
                }
                Xv = np.asarray(x.value, dtype=np.float64).reshape(d1, d2)
                return Xv, status, float(prob.value), info
    raise SolverError("; ".join(reasons))


def solve_nuclear_norm(
    A: torch.Tensor,
    y: torch.Tensor,
    *,
    delta: float | None = None,
    solver: str = "SCS",
    allow_inaccurate: bool = True,
    **solver_options: Any,
) -> tuple[np.ndarray, str, float, dict]:
    """Minimise ``‖X‖_*`` subject to ``A(X) = y`` (or ``‖A(X) − y‖₂ ≤ delta``).

    Args:
        A: ``(m, d1, d2)`` sensing matrices (``A(X)_i = ⟨A_i, X⟩``).
        y: ``(m,)`` measurements.
        delta: noise level of the constraint, ``None`` for equality.
        solver: ``"SCS"`` (default) or ``"CLARABEL"`` (case-insensitive).
        allow_inaccurate: return ``optimal_inaccurate``/``user_limit`` answers (flagged) instead
            of raising.
        solver_options: passed to ``cvxpy.Problem.solve`` (override the tight defaults).

    Returns:
        ``(X (d1, d2) float64 array, status, optimal value, solver stats dict)``.

    Raises:
        SolverError: infeasible, unbounded, failed, or inaccurate when not allowed.
    """
    m, d1, d2 = A.shape
    M = A.detach().cpu().to(torch.float64).reshape(m, d1 * d2).numpy()
    b = y.detach().cpu().to(torch.float64).numpy()
    return minimize_nuclear_norm(M, b, (d1, d2), delta=delta, solvers=(solver,),
                                 allow_inaccurate=allow_inaccurate, **solver_options)


def nuclear_norm_minimization(
    problem: SensingProblem,
    *,
    delta: float | None = None,
    solver: str = "SCS",
    allow_inaccurate: bool = True,
    image: bool = False,
    **solver_options: Any,
) -> RunResult:
    """:func:`solve_nuclear_norm` on a :class:`~spectralnn.sensing.problem.SensingProblem`,
    returned as a :class:`~spectralnn.metrics.RunResult` (model ``"nnm"``) with one row of
    metrics; ``status`` is ``"converged"`` (the solver's own status, ``optimal`` or
    ``optimal_inaccurate``, is ``info["solver_status"]``), and the summary carries
    ``solver_status``, ``accurate``, ``solver``,
    ``objective`` (= ‖X‖_* at the optimum) and ``delta``. ``image`` adds PSNR.
    """
    start = time.perf_counter()
    A = problem.operator.dense()
    X, status, value, info = solve_nuclear_norm(A, problem.y, delta=delta, solver=solver,
                                                allow_inaccurate=allow_inaccurate,
                                                **solver_options)
    seconds = time.perf_counter() - start
    Xt = torch.from_numpy(X)
    values = matrix_metrics(Xt.to(problem.dtype), problem, image=image)
    row = history_row(info["iterations"], seconds, values, None)
    info.update({"solver_status": status, "accurate": status == "optimal",
                 "objective": value, "delta": delta})
    return RunResult("nnm", Xt, [row], steps=max(info["iterations"], 0), seconds=seconds,
                     status=normalise_status(status), info=info)
