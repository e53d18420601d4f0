"""The outcome of one recovery: the matrix, how the run ended, and whether to trust it.

:func:`spectralnn.recovery.fit` returns the library's one result type,
:class:`spectralnn.result.FitResult`, also named ``Recovery`` here (the name it was released
with); its ``summary`` holds ``model``, ``status``, ``warning``, ``steps``, ``seconds``,
``validation_error`` and ``settings``, and ``relative_error``/``psnr`` when the truth is known.

Statuses (exactly one per run):

- ``"converged"``: the method's own convergence test passed (for the SNN: the data are fitted
  to precision, or the fit is tight and both the loss and the validation error have settled,
  or the run is stationary — never on an oscillating or still-falling loss, see
  :mod:`~spectralnn.recovery.stopping`; for a solver: its tolerance). The returned ``X`` is
  the iterate with the lowest validation loss seen.
- ``"stopped_on_validation"``: the validation loss stopped improving while the training loss
  still fell, or it rose above its best; the best iterate on validation is returned.
- ``"budget_reached"``: the step or time budget ran out before any of the above; ``X`` is the
  best iterate so far, and more budget would probably help.
- ``"diverged"``: the loss became non-finite or exploded, or a solver's iterates grew without
  bound; ``X`` is the best finite iterate seen (possibly the starting point).

``warning`` is one line when the result should not be trusted: divergence, a budget reached
before convergence, a validation error of at least :data:`USELESS_ERROR` (no better than
predicting zero), or (SNN, :func:`~spectralnn.recovery.check.softimpute_check`) a
validation error clearly worse than
soft-impute's on the same split.
"""

from __future__ import annotations

import math

from ..result import FitResult
from ..stoppers import STATUSES as RUN_STATUSES

__all__ = ["STATUSES", "USELESS_ERROR", "Recovery", "warning_for"]

#: The statuses :func:`spectralnn.recovery.fit` ends with: those of
#: :data:`spectralnn.stoppers.STATUSES` but ``"stopped"``.
STATUSES = tuple(s for s in RUN_STATUSES if s != "stopped")

#: A relative validation error ``‖A_v(X) − y_v‖₂ / ‖y_v‖₂`` at or above this is "nothing
#: recovered" (the zero matrix scores 1).
USELESS_ERROR = 0.9


def warning_for(status: str, validation_error: float | None, model: str) -> str | None:
    """The one-line warning for a run that ended with ``status`` and ``validation_error``
    (``None``: no validation part), or ``None`` when nothing argues against the result."""
    if status == "diverged":
        return (f"{model} diverged: the result is the best finite iterate before divergence "
                "and should not be trusted")
    if validation_error is not None and not math.isfinite(validation_error):
        return f"{model} produced a non-finite validation error; the result is not usable"
    if validation_error is not None and validation_error >= USELESS_ERROR:
        return (f"{model} recovered almost nothing: relative validation error "
                f"{validation_error:.3g} (the zero matrix scores 1)")
    if status == "budget_reached":
        return (f"{model} stopped at its step/time budget before converging; the result may be "
                "under-trained (raise the budget)")
    return None


#: The result of :func:`spectralnn.recovery.fit`: :class:`spectralnn.result.FitResult` under the
#: name it was released with. Its ``summary`` is JSON-ready: ``model``, ``status``,
#: ``warning``, ``steps``, ``seconds``, ``validation_error``, ``settings`` (every setting
#: chosen, e.g. the learning rate and widths, or λ), and, when the ground truth is known,
#: ``relative_error`` and (images) ``psnr``; ``test_error`` on the problem's own held-out set
#: when it has one. Its ``history`` has one dict per validation check (``step``, ``seconds``,
#: ``train_loss``, ``validation_error``, …).
Recovery = FitResult
