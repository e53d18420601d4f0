"""One registry of methods: every way the library fits a matrix, by name, each defined once.

A :class:`MethodSpec` says how one name is fitted in each form the library has:

- ``build``: a trainable model (a ``torch.nn.Module`` trained by the
  :class:`~spectralnn.trainer.Trainer`) — for ``reproduce``, run configurations and sweeps;
- ``solve``: a solver run directly on the problem with fixed settings, returning a
  :class:`~spectralnn.metrics.RunResult` — for ``reproduce``, run configurations and sweeps;
- ``recover``: the method on the recovery path (validation split, stopping rules, best
  iterate; :class:`RecoveryForm`), returning a dict — for ``recover``, ``complete`` and
  :func:`spectralnn.recovery.fit`.

Two views are derived from :data:`REGISTRY` and nothing else:
:data:`spectralnn.models.MODELS` (the names with ``build`` or ``solve``: ``TRAINABLE_MODELS``,
``SOLVER_MODELS``) and :data:`spectralnn.recovery.METHODS` (the names with ``recover``). So
``svt`` and ``nnm`` are one entry each, with a solver form and a recovery form:

=========== ======================================================================== =====
name        method                                                                   forms
=========== ======================================================================== =====
snn         the SNN (tanh spectral activation, identity init); on the recovery path    build,
            plain GD, rate in curvature units, validation stopping                   recover
            (:mod:`~spectralnn.recovery.snn`)
woa         the SNN *without activation*, ``SNN(activation="identity")``             build
lg          :class:`~spectralnn.baselines.linear.LinearModel` ``X = W`` from zero     build
df          :class:`~spectralnn.baselines.deep_factorization.DeepFactorization`      build
softimpute  soft-impute / proximal gradient on ``½‖A(X) − y‖² + λ‖X‖_*``, λ chosen on   recover
            validation along a warm-started path (:mod:`~spectralnn.recovery.softimpute`)
svt         singular value thresholding (:mod:`~spectralnn.baselines.svt`); threshold  solve,
            and step from the operator norm; on the recovery path stopped and selected recover
            on validation (:mod:`~spectralnn.recovery.svt`)
nnm_noise   noise-aware nuclear-norm minimisation ``min ‖X‖_* s.t. ‖A(X) − y‖₂ ≤ δ``,  recover
            ``δ`` from the noise level (:mod:`~spectralnn.recovery.nnm`)
nnm         the paper's exact interpolation ``min ‖X‖_* s.t. A(X) = y`` (cvxpy, small   solve,
            problems only; :mod:`~spectralnn.baselines.nuclear_norm`)                recover
snn-patches non-local SNN for images: groups of similar patches, each completed by an SNN recover
            (entries only; :mod:`spectralnn.images.nonlocal_snn`)
biharmonic  biharmonic inpainting (scikit-image; entries only)                       recover
interpolate piecewise-linear interpolation (scipy's griddata; entries only)           recover
tv          total variation, FISTA, weight chosen on validation (any operator)        recover
=========== ======================================================================== =====

The recovery forms live in packages above this module (:mod:`spectralnn.recovery`,
:mod:`spectralnn.images`), so the table names them by path (``"recovery.svt:fit_svt"``) and
imports them on first use; imports keep pointing one way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .baselines.deep_factorization import DeepFactorization
from .baselines.linear import LinearModel
from .baselines.nuclear_norm import nuclear_norm_minimization
from .baselines.svt import singular_value_thresholding
from .metrics import RunResult
from .nn import SNN

__all__ = ["REGISTRY", "MethodSpec", "RecoveryForm"]


@dataclass(frozen=True)
class RecoveryForm:
    """A method on the recovery path.

    ``target`` is ``"module:function"`` under ``spectralnn``; the function is
    ``run(problem, validation, *, rules, seed, progress, image, **options) -> dict`` with keys
    ``X``, ``status``, ``steps``, ``settings``, ``history``. ``default_steps``: the step budget
    when none is given; the dtype is ``small_dtype`` up to ``small`` entries, else
    ``large_dtype``. With ``validates=False`` the method selects nothing on validation, and the
    recovery path gives it every training measurement.
    """

    target: str
    default_steps: int
    small_dtype: str = "float64"
    large_dtype: str = "float64"
    small: int = 64 * 64
    validates: bool = True

    @property
    def run(self) -> Callable[..., dict[str, Any]]:
        """The method's function (imported on first use)."""
        module, name = self.target.split(":")
        run: Callable[..., dict[str, Any]] = getattr(
            importlib.import_module(f"{__package__}.{module}"), name)
        return run

    def default_dtype(self, shape: tuple[int, int]) -> str:
        """``small_dtype`` for a ``(d1, d2)`` matrix with ``d1·d2 ≤ small``, else
        ``large_dtype``."""
        return self.small_dtype if shape[0] * shape[1] <= self.small else self.large_dtype


@dataclass(frozen=True)
class MethodSpec:
    """One method and its forms (at least one of ``build``, ``solve``, ``recover``).

    ``build(shape, *, replicas, seed, dtype, device, **options) -> nn.Module``, with its
    options read from the signature ``build_signature`` (the constructor); ``solve(problem,
    *, image, **options) -> RunResult``.
    """

    build: Callable[..., nn.Module] | None = None
    build_signature: Callable[..., Any] | None = None
    solve: Callable[..., RunResult] | None = None
    recover: RecoveryForm | None = None


def _woa(shape: tuple[int, int], **kw: Any) -> SNN:
    return SNN(shape, activation="identity", **kw)


#: Every method by name (the recovery names in the order ``recover`` lists them).
REGISTRY: dict[str, MethodSpec] = {
    "snn": MethodSpec(build=SNN, build_signature=SNN.__init__,
                      recover=RecoveryForm("recovery.snn:fit_snn", 10_000, "float64",
                                           "float32")),
    "softimpute": MethodSpec(recover=RecoveryForm("recovery.softimpute:fit_softimpute", 500)),
    "svt": MethodSpec(solve=singular_value_thresholding,
                      recover=RecoveryForm("recovery.svt:fit_svt", 2000)),
    "nnm_noise": MethodSpec(recover=RecoveryForm("recovery.nnm:fit_nnm_noise", 500)),
    "nnm": MethodSpec(solve=nuclear_norm_minimization,
                      recover=RecoveryForm("recovery.nnm:fit_nnm_exact", 1)),
    "snn-patches": MethodSpec(recover=RecoveryForm("images:fit_nonlocal_snn", 1,
                                                   validates=False)),
    "biharmonic": MethodSpec(recover=RecoveryForm("images:fit_biharmonic", 1, validates=False)),
    "interpolate": MethodSpec(recover=RecoveryForm("images:fit_interpolate", 1,
                                                   validates=False)),
    "tv": MethodSpec(recover=RecoveryForm("images:fit_tv", 300)),
    "woa": MethodSpec(build=_woa, build_signature=SNN.__init__),
    "lg": MethodSpec(build=LinearModel, build_signature=LinearModel.__init__),
    "df": MethodSpec(build=DeepFactorization, build_signature=DeepFactorization.__init__),
}
