"""The SNN's yardstick: the library's own soft-impute on the same fit/validation split.

After an SNN fit of at most :data:`CHECK_MAX_ENTRIES` entries, soft-impute (λ chosen on the
same validation part, at most :data:`CHECK_STEPS` proximal steps) is run, and when the SNN's
validation error is clearly worse (above ``WORSE_RATIO`` × soft-impute's and by more than
``WORSE_MARGIN``) the result carries one warning line saying so.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .softimpute import fit_softimpute
from .stopping import StoppingRules

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem
    from .validation import Validation

__all__ = ["CHECK_MAX_ENTRIES", "CHECK_STEPS", "WORSE_MARGIN", "WORSE_RATIO", "softimpute_check"]

#: The SNN is "clearly worse" than soft-impute when its validation error exceeds
#: ``WORSE_RATIO`` × soft-impute's and soft-impute's by more than ``WORSE_MARGIN``.
WORSE_RATIO = 1.5
WORSE_MARGIN = 1e-3
#: The sanity check runs only up to this many matrix entries (``d1·d2``), with at most
#: ``CHECK_STEPS`` proximal steps (one SVD each): about a second at 100×100, a few at 300×300.
CHECK_MAX_ENTRIES = 300 * 300
CHECK_STEPS = 300


def softimpute_check(problem: SensingProblem, validation: Validation, snn_error: float, *,
                     seed: int = 0) -> dict[str, Any]:
    """Soft-impute (:mod:`~spectralnn.recovery.softimpute`, λ chosen on the same validation
    part) as a yardstick for an SNN's validation error ``snn_error``.

    Returns ``{"ran": False, "reason": ...}`` when skipped (more than
    :data:`CHECK_MAX_ENTRIES` entries), else ``{"ran": True, "validation_error": e_si,
    "seconds": ..., "warning": line or None}``; the warning is set when ``snn_error >
    WORSE_RATIO·e_si`` and ``snn_error − e_si > WORSE_MARGIN``. Its step budget
    (:data:`CHECK_STEPS`) keeps it cheap; a budget-limited soft-impute only errs on the side of
    not warning."""
    d1, d2 = problem.shape
    if d1 * d2 > CHECK_MAX_ENTRIES:
        return {"ran": False, "reason": f"{d1}×{d2} is above {CHECK_MAX_ENTRIES} entries"}
    start = time.perf_counter()
    out = fit_softimpute(problem, validation, rules=StoppingRules(max_steps=CHECK_STEPS),
                         seed=seed)
    e_si = float(validation.error(out["X"]))
    check: dict[str, Any] = {"ran": True, "validation_error": e_si,
                             "seconds": time.perf_counter() - start, "warning": None}
    if snn_error > WORSE_RATIO * e_si and snn_error - e_si > WORSE_MARGIN:
        times = f"{snn_error / e_si:.1f}× " if e_si > 0 else "above "
        check["warning"] = (f"snn's validation error {snn_error:.3g} is {times}"
                            f"soft-impute's {e_si:.3g} on the same split; try "
                            "model='softimpute'")
    return check
