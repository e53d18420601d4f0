"""Recovery without tuning: one path from measurements to a trustworthy matrix.

:func:`fit` (``spectralnn.recovery.fit(problem, model="snn", ...)``) is used by the CLI
(``spectralnn recover``), the Python API and the examples:

- :mod:`.validation`  a seeded validation part of the training measurements;
- :mod:`.stepsize`    rates in curvature units (``‖A‖²/m``), exact or by power iteration;
- :mod:`.stopping`    validation / plateau / budget / divergence rules, best iterate;
- :mod:`.result`      :class:`Recovery` and its statuses and warning;
- :mod:`.methods`     every method by name: ``snn``, ``softimpute``, ``svt``,
  ``nnm_noise`` (noise-aware nuclear norm), ``nnm`` (exact interpolation);
- :mod:`.fit`         the path itself;
- :mod:`.output`      the files of a recovery (``recover``'s output directory).
"""

from .fit import DEFAULT_VALIDATION_FRACTION, fit
from .methods import METHODS
from .output import default_measurement, default_noise_std, prepare_output, write_recovery
from .result import STATUSES, USELESS_ERROR, Recovery, warning_for
from .stepsize import curvature, operator_norm_squared
from .stopping import Monitor, StoppingRules
from .validation import Validation, split_validation

__all__ = [
    "DEFAULT_VALIDATION_FRACTION",
    "METHODS",
    "STATUSES",
    "USELESS_ERROR",
    "Monitor",
    "Recovery",
    "StoppingRules",
    "Validation",
    "curvature",
    "default_measurement",
    "default_noise_std",
    "fit",
    "operator_norm_squared",
    "prepare_output",
    "split_validation",
    "warning_for",
    "write_recovery",
]
