"""The recovery view of the one method registry (:mod:`spectralnn.methods`): every method
with a recovery form, by name, behind one call (:func:`run_method`).

=========== ===========================================================================
name        method
=========== ===========================================================================
snn         SNN by plain GD, rate in curvature units, validation stopping
            (:mod:`~spectralnn.recovery.snn`)
softimpute  soft-impute / proximal gradient on ``½‖A(X) − y‖² + λ‖X‖_*``, λ chosen on
            validation along a warm-started path (:mod:`~spectralnn.recovery.softimpute`)
svt         singular value thresholding, threshold and step from the operator norm, stopped
            and selected on validation (:mod:`~spectralnn.recovery.svt`)
nnm_noise   noise-aware nuclear-norm minimisation ``min ‖X‖_* s.t. ‖A(X) − y‖₂ ≤ δ``,
            ``δ`` from the noise level (:mod:`~spectralnn.recovery.nnm`)
nnm         the paper's exact interpolation ``min ‖X‖_* s.t. A(X) = y`` (cvxpy; small
            problems only)
snn-patches non-local SNN for images: groups of similar patches, each completed by an SNN
            (entries only; :mod:`spectralnn.images.nonlocal_snn`)
biharmonic  biharmonic inpainting (scikit-image; entries only)
interpolate piecewise-linear interpolation (scipy's griddata; entries only)
tv          total variation, FISTA, weight chosen on validation (any operator)
=========== ===========================================================================

``snn``, ``svt`` and ``nnm`` are the same entries as in :data:`spectralnn.models.MODELS`
(one table, :data:`spectralnn.methods.REGISTRY`): their trainable or solver form runs with
fixed settings, their recovery form under the validation and stopping rules.

Methods with ``validates=False`` select nothing on validation: the recovery path gives them
every training measurement.

A method is ``run(problem, validation, *, rules, seed, progress, image, **options) -> dict``
with keys ``X``, ``status``, ``steps``, ``settings``, ``history``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, unknown_name
from ..methods import REGISTRY, RecoveryForm

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem
    from .validation import Validation

__all__ = ["METHODS", "Method", "run_method"]

#: A registered recovery method (its recovery form in :data:`spectralnn.methods.REGISTRY`).
Method = RecoveryForm

#: Every method with a recovery form, by name.
METHODS: dict[str, Method] = {name: spec.recover for name, spec in REGISTRY.items()
                              if spec.recover is not None}


def run_method(name: str, problem: SensingProblem, validation: Validation | None,
               **kw: Any) -> dict[str, Any]:
    """Run method ``name``; unknown options raise :class:`ConfigError` naming them."""
    if name not in METHODS:
        raise unknown_name("recovery model", name, tuple(METHODS))
    try:
        return METHODS[name].run(problem, validation, **kw)
    except TypeError as exc:
        msg = str(exc)
        if "unexpected keyword argument" in msg:
            bad = msg.split("argument")[-1].strip()
            raise ConfigError(f"unknown option {bad} for recovery model {name!r}") from None
        raise
