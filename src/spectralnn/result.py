"""The one result type of every fit: :class:`FitResult`.

Every fitting entry point returns a :class:`FitResult`: a run of the training engine or of a
solver (:func:`spectralnn.train`, :func:`spectralnn.models.fit_model`, the baselines), a
recovery (:func:`spectralnn.recovery.fit`) and the two completion seams
(:func:`~spectralnn.completion.fitting.fit_entries`,
:func:`~spectralnn.completion.fitting.fit_table`). The names these results had —
:class:`spectralnn.metrics.RunResult`, :class:`spectralnn.recovery.result.Recovery`,
:class:`spectralnn.completion.fitting.Fit` and
:class:`spectralnn.completion.fitting.TableFit` — are this same class.

- **X**: a ``(d1, d2)`` float64 CPU :class:`torch.Tensor` in the fit's units (the problem's
  normalised units); :attr:`FitResult.array` is the same matrix as a NumPy array. A table
  fitted by a predictor alone (the ratings SNN of ``fit_table``) has no matrix: ``X`` raises
  :class:`~spectralnn.errors.ConfigError` there and :attr:`FitResult.predictor` predicts.
- **status**: one of :data:`spectralnn.stoppers.STATUSES`; a former name
  (:data:`~spectralnn.stoppers.LEGACY_STATUSES`: ``"ok"``, ``"max_iters"``, ``"optimal"``…)
  is mapped onto it, anything else is refused.
- **summary**: a JSON-ready dict (:class:`Summary`). A fit that reports its own (recovery,
  completion) passes it as ``summary=`` and it is kept, mutable in place; otherwise it is
  computed from the run each time it is read (final metrics, flags, learning rate, ``info``).
  ``result.summary["status"]`` reads it; ``result.summary()`` returns a plain copy.
- **history**: one dict per logged step; a run's rows have the keys of :data:`METRIC_NAMES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._io import jsonable
from .errors import ConfigError
from .stoppers import LEGACY_STATUSES, STATUSES, unstable_loss

__all__ = ["METRIC_NAMES", "FitResult", "Summary", "checked_status"]

#: Columns of ``metrics.csv``, in order: the keys of a run's history rows.
METRIC_NAMES = (
    "step",
    "seconds",
    "train_loss",
    "test_loss",
    "relative_error",
    "nuclear_norm",
    "sv1",
    "sv2",
    "sv3",
    "sv_min2",
    "sv_min1",
    "effective_rank",
    "grad_norm",
    "psnr",
)


def checked_status(status: str) -> str:
    """``status`` if it is one of :data:`~spectralnn.stoppers.STATUSES`, its current name if it
    is a former one (:data:`~spectralnn.stoppers.LEGACY_STATUSES`); else
    :class:`~spectralnn.errors.ConfigError`."""
    if status in STATUSES:
        return status
    if status in LEGACY_STATUSES:
        return LEGACY_STATUSES[status]
    raise ConfigError(f"status {status!r} is not one of {', '.join(STATUSES)}")


class Summary(dict[str, Any]):
    """A result's JSON-ready summary: a plain dict, which can also be called — ``summary()``
    returns a shallow copy (as ``RunResult.summary()`` did)."""

    def __call__(self) -> dict[str, Any]:
        return dict(self)


class FitResult:
    """The outcome of one fit (see the module doc for ``X``, ``status`` and ``summary``).

    Attributes:
        model: registry name of the model (``"snn"``, ``"lg"``, ``"softimpute"``, …).
        X: final matrix ``(d1, d2)``, float64 CPU tensor (for a diverged run, the last iterate
            whose loss was finite and below the threshold; for a recovery, the best iterate on
            validation).
        status: how the fit ended, one of :data:`spectralnn.stoppers.STATUSES`.
        warning: one line when the result should not be trusted, else ``None``.
        history: one dict per logged step (run) or validation check (recovery).
        lr: learning rate (``None`` for solvers and fits that do not report one).
        steps: updates, epochs or solver iterations performed.
        seconds: wall-clock time of the fit.
        diverged: whether the run was stopped for a non-finite or exploding loss (always true
            for status ``"diverged"``); ``diverged_step``: the step at which that was
            detected.
        converged_step: the step at which the loss tolerance was reached, if any.
        info: extra values for a computed summary (solver statistics, settings).
        predictor: for a table fit, an object with ``.predict(rows, cols) -> (n,)`` in the
            table's units; ``None`` otherwise.
    """

    def __init__(self, model: str = "", X: torch.Tensor | None = None,
                 history: list[dict[str, Any]] | None = None, *,
                 status: str = "budget_reached", warning: str | None = None,
                 lr: float | None = None, steps: int = 0, seconds: float = 0.0,
                 diverged: bool = False, diverged_step: int | None = None,
                 converged_step: int | None = None, info: Mapping[str, Any] | None = None,
                 summary: Mapping[str, Any] | None = None, predictor: Any = None) -> None:
        self.model = model
        self._X = X
        self.history: list[dict[str, Any]] = history if history is not None else []
        self.status = checked_status(status)
        self.warning = warning
        self.lr = lr
        self.steps = steps
        self.seconds = seconds
        self.diverged = bool(diverged) or self.status == "diverged"
        self.diverged_step = diverged_step
        self.converged_step = converged_step
        self.info: dict[str, Any] = dict(info or {})
        self.predictor = predictor
        self._summary = None if summary is None else Summary(jsonable(dict(summary)))

    @property
    def X(self) -> torch.Tensor:
        """The fitted matrix (see the class doc); :class:`ConfigError` for a predictor-only
        table fit."""
        if self._X is None:
            raise ConfigError(f"this {self.model or 'table'} fit has no matrix; expected a "
                              "matrix fit (use .predictor to predict entries)")
        return self._X

    @property
    def array(self) -> np.ndarray:
        """``X`` as a float64 NumPy array ``(d1, d2)`` (a view of the CPU tensor)."""
        return self.X.detach().cpu().to(torch.float64).numpy()

    @property
    def rate(self) -> float:
        """The learning rate of a trained run (:class:`ConfigError` for a solver's result)."""
        if self.lr is None:
            raise ConfigError(f"a {self.model!r} result has no learning rate (a solver's)")
        return float(self.lr)

    @property
    def final(self) -> dict[str, Any]:
        """The last logged row of the history (empty if nothing was logged)."""
        return dict(self.history[-1]) if self.history else {}

    @property
    def unstable(self) -> bool:
        """Whether the logged training loss oscillated without diverging
        (:func:`~spectralnn.stoppers.unstable_loss`): a step size at or past the edge of
        stability."""
        return unstable_loss([r.get("train_loss", math.nan) for r in self.history])

    @property
    def summary(self) -> Summary:
        """JSON-ready summary (NaN and infinities written as ``None``).

        Given at construction: that dict. Otherwise, a run's: ``model, learning_rate, steps,
        seconds, diverged, diverged_step, unstable, converged_step, status``, the final value
        of every metric of :data:`METRIC_NAMES` (for a diverged run, its last logged row
        before divergence), then ``info``.
        """
        if self._summary is not None:
            return self._summary
        final = self.final
        if self.diverged:
            finite = [r for r in self.history if math.isfinite(r.get("relative_error", math.nan))]
            final = finite[-1] if finite else {}
        out = Summary({
            "model": self.model,
            "learning_rate": self.lr,
            "steps": self.steps,
            "seconds": self.seconds,
            "diverged": self.diverged,
            "diverged_step": self.diverged_step,
            "unstable": not self.diverged and self.unstable,
            "converged_step": self.converged_step,
            "status": self.status,
        })
        for key in METRIC_NAMES:
            if key not in ("step", "seconds"):
                out[key] = jsonable(float(final.get(key, math.nan)))
        out.update(self.info)
        return out

    def describe(self) -> str:
        """One line from the summary: model, status, validation error and learning rate (when
        it has them), relative error and PSNR (when known), steps, seconds."""
        s = self.summary

        def num(key: str) -> str:
            v = s.get(key)
            return "n/a" if v is None else f"{v:.4g}"

        text = f"{s.get('model', self.model)}: status={self.status}"
        if "validation_error" in s:
            text += f" validation_error={num('validation_error')}"
        if s.get("learning_rate") is not None:
            text += f" lr={num('learning_rate')}"
        if s.get("relative_error") is not None:
            text += f" relative_error={num('relative_error')}"
        if s.get("psnr") is not None:
            text += f" psnr={num('psnr')}"
        return text + f" steps={s.get('steps', self.steps)} seconds={num('seconds')}"

    def __repr__(self) -> str:
        return f"FitResult({self.describe()})"
