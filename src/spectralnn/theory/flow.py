"""Gradient flow of the reduced spectral dynamics, integrated as an ODE.

The paper's theorems are about gradient *flow*, ``dθ/dt = −∇ℓ(θ)`` with ``θ = (u, v, α)``
the reduced parameters (:mod:`spectralnn.theory.reduced`). Gradient descent with step ``η``
follows it to first order: ``θ_k ≈ θ(kη)``, with an ``O(η)`` error over a fixed time span.
This module integrates the flow with :func:`scipy.integrate.solve_ivp` using the same
hand-written gradient as :meth:`ReducedSNN.fit`, for every replica at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, SolverError
from .reduced import ReducedSNN

__all__ = ["FlowResult", "gradient_flow"]


@dataclass
class FlowResult:
    """Solution of the gradient-flow ODE at the requested times.

    Attributes:
        t: (T,) times.
        loss: (T, B) loss (``(T,)`` when the model is not batched).
        x: (T, B, r) reduced output (``(T, r)`` when not batched).
        final: a :class:`ReducedSNN` holding the parameters at ``t[-1]``.
        nfev: number of gradient evaluations; ``status``: solver message.
    """

    t: np.ndarray
    loss: np.ndarray
    x: np.ndarray
    final: ReducedSNN
    nfev: int
    status: str


def gradient_flow(model: ReducedSNN, y: object, t_eval: Sequence[float] | np.ndarray, *,
                  method: str = "LSODA", rtol: float = 1e-10, atol: float = 1e-12
                  ) -> FlowResult:
    """Integrate ``dθ/dt = −∇ℓ(θ)`` from the model's current parameters (not modified).

    Args:
        model: the reduced network (all replicas are integrated together).
        y: (m,) measurements.
        t_eval: increasing times ``≥ 0`` at which to report (the first is usually 0).
        method: any :func:`scipy.integrate.solve_ivp` method; ``"LSODA"`` switches to a
            stiff solver where the flow becomes stiff (near convergence), ``"RK45"``/
            ``"DOP853"`` are explicit.
        rtol, atol: integration tolerances.

    Returns:
        :class:`FlowResult`. Raises :class:`SolverError` if the integration fails.
    """
    from scipy.integrate import solve_ivp

    if not isinstance(model, ReducedSNN):
        raise ConfigError(f"model must be a ReducedSNN, got {type(model).__name__}")
    yv = model.check_y(y)
    times = np.asarray(t_eval, dtype=np.float64).reshape(-1)
    if times.size == 0 or not np.all(np.isfinite(times)) or times[0] < 0 or np.any(
            np.diff(times) <= 0):
        raise ConfigError(f"t_eval must be finite, ≥ 0 and strictly increasing, got "
                          f"{np.asarray(t_eval).tolist()!r}")
    work = model.copy()
    shape = work.params.shape

    def rhs(_t: float, theta: np.ndarray) -> np.ndarray:
        return -work.flat_gradient(theta.reshape(shape), yv).reshape(-1)

    sol = solve_ivp(rhs, (0.0, float(times[-1])), work.params.reshape(-1).copy(),
                    method=method, t_eval=times, rtol=rtol, atol=atol)
    if not sol.success or sol.y.shape[1] != times.size:
        raise SolverError(f"gradient-flow integration ({method}) failed: {sol.message}")
    losses, xs = [], []
    for j in range(times.size):
        np.copyto(work.params, sol.y[:, j].reshape(shape))
        losses.append(np.atleast_1d(work.loss(yv)))
        xs.append(np.atleast_2d(work.forward()))
    loss = np.stack(losses)
    x = np.stack(xs)
    if not work.batched:
        loss, x = loss[:, 0], x[:, 0]
    return FlowResult(t=times, loss=loss, x=x, final=work, nfev=int(sol.nfev),
                      status=str(sol.message))
