"""Every recovery method by name, behind one call (:func:`run_method`).

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

Methods with ``validates=False`` select nothing on validation: the recovery path gives them
every training measurement.

A method is ``run(problem, validation, *, rules, seed, progress, image, **options) -> dict``
with keys ``X``, ``status``, ``steps``, ``settings``, ``history``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, unknown_name

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem
    from .validation import Validation

__all__ = ["METHODS", "Method", "run_method"]


@dataclass(frozen=True)
class Method:
    """A registered recovery method."""

    run: Callable[..., dict[str, Any]]
    default_steps: int
    small_dtype: str = "float64"
    large_dtype: str = "float64"
    small: int = 64 * 64
    validates: bool = True

    def default_dtype(self, shape: tuple[int, int]) -> str:
        return self.small_dtype if shape[0] * shape[1] <= self.small else self.large_dtype


def _snn(*args: Any, **kw: Any) -> dict[str, Any]:
    from .snn import fit_snn

    return fit_snn(*args, **kw)


def _softimpute(*args: Any, **kw: Any) -> dict[str, Any]:
    from .softimpute import fit_softimpute

    return fit_softimpute(*args, **kw)


def _svt(*args: Any, **kw: Any) -> dict[str, Any]:
    from .svt import fit_svt

    return fit_svt(*args, **kw)


def _nnm_noise(*args: Any, **kw: Any) -> dict[str, Any]:
    from .nnm import fit_nnm_noise

    return fit_nnm_noise(*args, **kw)


def _nnm(*args: Any, **kw: Any) -> dict[str, Any]:
    from .nnm import fit_nnm_exact

    return fit_nnm_exact(*args, **kw)


def _image(name: str) -> Callable[..., dict[str, Any]]:
    def run(*args: Any, **kw: Any) -> dict[str, Any]:
        from .. import images

        return getattr(images, name)(*args, **kw)

    return run


METHODS: dict[str, Method] = {
    "snn": Method(_snn, 10_000, "float64", "float32"),
    "softimpute": Method(_softimpute, 500),
    "svt": Method(_svt, 2000),
    "nnm_noise": Method(_nnm_noise, 500),
    "nnm": Method(_nnm, 1),
    "snn-patches": Method(_image("fit_nonlocal_snn"), 1, validates=False),
    "biharmonic": Method(_image("fit_biharmonic"), 1, validates=False),
    "interpolate": Method(_image("fit_interpolate"), 1, validates=False),
    "tv": Method(_image("fit_tv"), 300),
}


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
