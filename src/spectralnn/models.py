"""The model registry: every model (the SNN and the baselines) by name, behind one interface.

Trainable models (built, then trained by :class:`~spectralnn.trainer.Trainer`):

- ``"snn"``: :class:`~spectralnn.nn.SNN` (tanh spectral activation, identity init by default);
- ``"woa"``: the SNN *without activation*, ``SNN(activation="identity")``;
- ``"lg"``: :class:`~spectralnn.baselines.linear.LinearModel` ``X = W`` from zero;
- ``"df"``: :class:`~spectralnn.baselines.deep_factorization.DeepFactorization`, depth 3.

Solvers (run directly on the problem):

- ``"nnm"``: :func:`~spectralnn.baselines.nuclear_norm.nuclear_norm_minimization` (cvxpy);
- ``"svt"``: :func:`~spectralnn.baselines.svt.singular_value_thresholding`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .baselines.deep_factorization import DeepFactorization
from .baselines.linear import LinearModel
from .baselines.nuclear_norm import nuclear_norm_minimization
from .baselines.svt import singular_value_thresholding
from .errors import ConfigError, unknown_name
from .metrics import RunResult
from .nn import SNN
from .sensing import WellSpecifiedOperator

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

__all__ = [
    "MODELS",
    "SOLVER_MODELS",
    "TRAINABLE_MODELS",
    "build_model",
    "model_options",
    "solve",
]

TRAINABLE_MODELS = ("df", "lg", "snn", "woa")
SOLVER_MODELS = ("nnm", "svt")
MODELS = tuple(sorted(TRAINABLE_MODELS + SOLVER_MODELS))

# Arguments the registry fills in itself (never options).
_RESERVED = {"self", "shape", "replicas", "seed", "dtype", "device", "problem", "image",
             "progress", "activation_params"}


def _woa(shape: tuple[int, int], **kw: Any) -> SNN:
    return SNN(shape, activation="identity", **kw)


_BUILDERS: dict[str, tuple[Callable[..., nn.Module], Callable[..., Any]]] = {
    "snn": (SNN, SNN.__init__),
    "woa": (_woa, SNN.__init__),
    "lg": (LinearModel, LinearModel.__init__),
    "df": (DeepFactorization, DeepFactorization.__init__),
}
_SOLVERS: dict[str, Callable[..., RunResult]] = {
    "nnm": nuclear_norm_minimization,
    "svt": singular_value_thresholding,
}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return name


def model_options(name: str) -> tuple[str, ...]:
    """The option names accepted by model ``name`` (keyword arguments of its constructor or
    solver, minus those the registry sets: shape, replicas, seed, dtype, device, …)."""
    name = _check_name(name)
    target = _BUILDERS[name][1] if name in _BUILDERS else _SOLVERS[name]
    params = inspect.signature(target).parameters
    fixed = _RESERVED | ({"activation"} if name == "woa" else set())
    return tuple(p for p in params if p not in fixed
                 and params[p].kind not in (inspect.Parameter.VAR_KEYWORD,
                                            inspect.Parameter.VAR_POSITIONAL))


def _check_options(name: str, options: dict[str, Any]) -> None:
    allowed = model_options(name)
    for key in options:
        if key not in allowed:
            raise ConfigError(f"unknown option {key!r} for model {name!r}; expected one of: "
                              f"{', '.join(sorted(allowed)) or '(none)'}")


def build_model(name: str, shape: tuple[int, int], *, replicas: int | None = None,
                seed: int = 0, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None,
                problem: SensingProblem | None = None,
                **options: Any) -> nn.Module:
    """Build trainable model ``name`` for ``(d1, d2)`` matrices.

    ``options`` are the model's own settings (see :func:`model_options`), e.g.
    ``widths=[4, 8, 16]`` for ``"snn"`` or ``depth=3`` for ``"df"``. For an SNN with
    ``init="spectral"`` and no ``phi``/``psi``, the singular vectors of a well-specified
    ``problem``'s operator (Assumption 2) are used when ``problem`` is given.
    """
    name = _check_name(name)
    if name not in _BUILDERS:
        raise ConfigError(f"model {name!r} is a solver, not a trainable model; "
                          f"expected one of: {', '.join(TRAINABLE_MODELS)}")
    _check_options(name, options)
    if (name in ("snn", "woa") and options.get("init") == "spectral" and problem is not None
            and "phi" not in options and isinstance(problem.operator, WellSpecifiedOperator)):
        options = {**options, "phi": problem.operator.phi.cpu(),
                   "psi": problem.operator.psi.cpu()}
    build = _BUILDERS[name][0]
    return build(shape, replicas=replicas, seed=seed, dtype=dtype, device=device, **options)


def solve(name: str, problem: SensingProblem, *, image: bool = False, progress: bool = False,
          seed: int = 0, **options: Any) -> RunResult:
    """Run solver model ``name`` (``"nnm"`` or ``"svt"``) on ``problem`` (``seed``: of SVT's
    norm estimates; NNM is deterministic)."""
    name = _check_name(name)
    if name not in _SOLVERS:
        raise ConfigError(f"model {name!r} is trainable, not a solver; "
                          f"expected one of: {', '.join(SOLVER_MODELS)}")
    _check_options(name, options)
    if name == "svt":
        options.update(progress=progress, seed=seed)
    return _SOLVERS[name](problem, image=image, **options)
