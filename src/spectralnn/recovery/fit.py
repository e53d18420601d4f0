"""``fit(problem, model)``: the one recovery path behind the CLI, the Python API and examples.

1. Split a seeded validation part off the training measurements
   (:func:`~spectralnn.recovery.validation.split_validation`); the problem's own held-out set
   is left untouched, for reporting.
2. Run the method (:data:`~spectralnn.recovery.methods.METHODS`) with settings derived from
   the data and the stopping rules of :mod:`~spectralnn.recovery.stopping`.
   On a small problem an SNN run that converged continues on every training measurement
   (``refit``), the validation part included.
3. Return a :class:`~spectralnn.recovery.result.Recovery`: the best iterate on validation, an
   honest status, a warning line when the result should not be trusted, and a JSON summary.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..errors import ConfigError, unknown_name
from ..metrics import psnr
from ..sensing.problem import SensingProblem
from ..validate import dtype_from_name, positive_int, positive_number
from .check import softimpute_check
from .methods import METHODS, run_method
from .result import Recovery, warning_for
from .stopping import StoppingRules
from .validation import split_validation

__all__ = ["DEFAULT_VALIDATION_FRACTION", "MIN_VALIDATION", "REFIT_MAX_MEASUREMENTS", "fit"]

DEFAULT_VALIDATION_FRACTION = 0.1
#: The SNN's refit on every training measurement runs up to this many of them: on a small
#: problem the validation part holds entries the answer needs (a noiseless 8×6 rank-1
#: completion with 34 entries, 3 held out: relative error 3.5e-3 without them).
REFIT_MAX_MEASUREMENTS = 2500
#: The SNN keeps no validation part when it would hold fewer measurements than this: a
#: noisy 5×5 rank-1 completion with 2 of its 20 entries held out picked a half-fitted iterate
#: on them (relative error 0.099; fitting all 20 under the stopping rules: see the grid).
MIN_VALIDATION = 10


def _dtype(value: torch.dtype | str | None) -> torch.dtype | None:
    return value if value is None or isinstance(value, torch.dtype) else dtype_from_name(value)


def fit(problem: SensingProblem, model: str = "snn", *, seed: int = 0,
        max_steps: int | None = None, max_seconds: float | None = None,
        progress: bool = False, dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None, image: bool | None = None,
        validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
        sanity_check: bool = True, refit: bool = True, **options: Any) -> Recovery:
    """Recover ``X`` from ``problem`` with method ``model``, without tuning flags.

    Args:
        problem: a :class:`SensingProblem`; ``X_star`` may be ``None`` (real data).
        model: a name of :data:`~spectralnn.recovery.methods.METHODS` (``"snn"``,
            ``"softimpute"``, ``"svt"``, ``"nnm_noise"``, ``"nnm"``).
        seed: seed of the validation split, the initialisation and the norm estimates.
        max_steps, max_seconds: budgets (``None``: the method's default step budget, no time
            limit).
        progress: a progress bar with the current validation error and the time left.
        dtype, device: where to compute (``None``: the method's default for the data size —
            float32 above 64×64 for the SNN — and the problem's device).
        image: report PSNR (default: when the problem's ``scale`` is not 1, i.e. an image
            normalised from pixels, and the truth is known).
        validation_fraction: part of the training measurements held out for validation.
        sanity_check: for the SNN, compare its validation error with soft-impute's on the same
            split (:func:`~spectralnn.recovery.check.softimpute_check`) and warn when it is
            clearly worse.
        refit: for the SNN on at most :data:`REFIT_MAX_MEASUREMENTS` training measurements,
            when the run converged on the fitting part, continue it on every training
            measurement (the validation part joins) to convergence; the reported validation
            error is then the one measured before, on the held-out part.
        options: the method's own settings (e.g. ``widths=[4, 8, 16]`` for the SNN).

    Returns:
        :class:`~spectralnn.recovery.result.Recovery`.
    """
    if not isinstance(problem, SensingProblem):
        raise ConfigError(f"problem must be a SensingProblem, got {type(problem).__name__}")
    if model not in METHODS:
        raise unknown_name("recovery model", model, tuple(METHODS))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if max_steps is not None:
        positive_int(max_steps, "max_steps")
    if max_seconds is not None:
        positive_number(max_seconds, "max_seconds")
    dt = _dtype(dtype)
    start = time.perf_counter()
    method = METHODS[model]
    if dt is None:
        dt = _dtype(method.default_dtype(problem.shape))
    work = problem.to(device=device, dtype=dt) if (dt != problem.dtype or device is not None) \
        else problem
    if image is None:
        image = problem.scale != 1.0 and problem.X_star is not None
    fraction = validation_fraction if method.validates else 0.0
    if model == "snn" and round(fraction * work.num_measurements) < MIN_VALIDATION:
        fraction = 0.0  # too few to choose an iterate by: fit them all (rules without one)
    fit_problem, validation = split_validation(work, fraction, seed=seed)
    rules = StoppingRules(max_steps=max_steps or method.default_steps,
                          max_seconds=max_seconds)
    if (model == "snn" and validation is not None and refit
            and work.num_measurements <= REFIT_MAX_MEASUREMENTS):
        options = {**options, "refit": work}
    out = run_method(model, fit_problem, validation, rules=rules, seed=seed, progress=progress,
                     image=bool(image), **options)
    X = out["X"].detach().to(device="cpu", dtype=torch.float64)
    status = out["status"]
    if out.get("refit"):  # X has seen the validation part: report the held-out error
        val_err = out["validation_error"]
    else:
        val_err = validation.error(X.to(work.device)) if validation is not None else None
    summary: dict[str, Any] = {
        "model": model, "status": status, "steps": int(out["steps"]),
        "seconds": time.perf_counter() - start, "validation_error": val_err,
        "validation_measurements": 0 if validation is None else validation.y.numel(),
        "fit_measurements": fit_problem.num_measurements, "seed": seed,
        "settings": out["settings"], "problem": problem.name,
        "shape": list(problem.shape), "noise_std": problem.noise_std,
    }
    summary["train_loss"] = float(fit_problem.loss(X.to(work.device, work.dtype)))
    if problem.test_operator is not None and problem.y_test is not None:
        with torch.no_grad():
            r = problem.test_operator(X.to(problem.device, problem.dtype)) - problem.y_test
        yn = float(torch.linalg.vector_norm(problem.y_test.double()))
        summary["test_error"] = float(torch.linalg.vector_norm(r.double())) / max(yn, 1e-300)
    if problem.X_star is not None:
        Xs = problem.X_star.detach().cpu().to(torch.float64)
        summary["relative_error"] = float(torch.linalg.matrix_norm(X - Xs)
                                          / torch.linalg.matrix_norm(Xs))
        if image:
            summary["psnr"] = float(psnr(X, Xs, problem.scale))
    warning = warning_for(status, val_err, model)
    if model == "snn" and validation is not None and val_err is not None and sanity_check:
        check = softimpute_check(fit_problem, validation, val_err, seed=seed)
        summary["softimpute_check"] = check
        if warning is None and check.get("warning"):
            warning = check["warning"]
    summary["warning"] = warning
    rate = out["settings"].get("learning_rate") if isinstance(out["settings"], dict) else None
    return Recovery(model, X, out.get("history", []), status=status, warning=warning,
                    lr=rate if isinstance(rate, float) else None, steps=summary["steps"],
                    seconds=summary["seconds"], summary=summary)
