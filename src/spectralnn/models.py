"""The model view of the one method registry (:mod:`spectralnn.methods`): every method with
a trainable or a solver form, behind one interface.

Trainable models (built, then trained by :class:`~spectralnn.trainer.Trainer`):

- ``"snn"``: :class:`~spectralnn.nn.SNN` (tanh spectral activation, identity init by default);
- ``"woa"``: the SNN *without activation*, ``SNN(activation="identity")``;
- ``"lg"``: :class:`~spectralnn.baselines.linear.LinearModel` ``X = W`` from zero;
- ``"df"``: :class:`~spectralnn.baselines.deep_factorization.DeepFactorization`, depth 3.

Solvers (run directly on the problem):

- ``"nnm"``: :func:`~spectralnn.baselines.nuclear_norm.nuclear_norm_minimization` (cvxpy);
- ``"svt"``: :func:`~spectralnn.baselines.svt.singular_value_thresholding`.

The same names on the recovery path (validation stopping): :data:`spectralnn.recovery.METHODS`,
derived from the same table.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .errors import ConfigError, unknown_name
from .methods import REGISTRY
from .metrics import RunResult
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

TRAINABLE_MODELS = tuple(sorted(n for n, spec in REGISTRY.items() if spec.build is not None))
SOLVER_MODELS = tuple(sorted(n for n, spec in REGISTRY.items() if spec.solve is not None))
MODELS = tuple(sorted(TRAINABLE_MODELS + SOLVER_MODELS))

# Arguments the registry fills in itself (never options).
_RESERVED = {"self", "shape", "replicas", "seed", "dtype", "device", "problem", "image",
             "progress", "activation_params"}


def _check_name(name: object) -> str:
    if not isinstance(name, str) or name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return name


def model_options(name: str) -> tuple[str, ...]:
    """The option names accepted by model ``name`` (keyword arguments of its constructor or
    solver, minus those the registry sets: shape, replicas, seed, dtype, device, …)."""
    name = _check_name(name)
    spec = REGISTRY[name]
    target = spec.build_signature if spec.build_signature is not None else spec.solve
    assert target is not None  # every name of MODELS has a build or a solve form
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
    build = REGISTRY[name].build
    if build is None:
        raise ConfigError(f"model {name!r} is a solver, not a trainable model; "
                          f"expected one of: {', '.join(TRAINABLE_MODELS)}")
    _check_options(name, options)
    if (name in ("snn", "woa") and options.get("init") == "spectral" and problem is not None
            and "phi" not in options and isinstance(problem.operator, WellSpecifiedOperator)):
        options = {**options, "phi": problem.operator.phi.cpu(),
                   "psi": problem.operator.psi.cpu()}
    return build(shape, replicas=replicas, seed=seed, dtype=dtype, device=device, **options)


def solve(name: str, problem: SensingProblem, *, image: bool = False, progress: bool = False,
          seed: int = 0, **options: Any) -> RunResult:
    """Run solver model ``name`` (``"nnm"`` or ``"svt"``) on ``problem`` (``seed``: of SVT's
    norm estimates; NNM is deterministic)."""
    name = _check_name(name)
    run = REGISTRY[name].solve
    if run is None:
        raise ConfigError(f"model {name!r} is trainable, not a solver; "
                          f"expected one of: {', '.join(SOLVER_MODELS)}")
    _check_options(name, options)
    params = inspect.signature(run).parameters  # svt takes these; nnm is deterministic
    options.update({k: v for k, v in (("progress", progress), ("seed", seed)) if k in params})
    return run(problem, image=image, **options)
