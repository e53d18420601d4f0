"""Image methods on the recovery path: what image people use, and a non-local SNN.

A photograph is not a low-rank matrix, but groups of its similar patches are. Modules:

- :mod:`.pixels`        the observed pixels (mask and values) of an entry-sampling problem;
- :mod:`.interpolate`   piecewise-linear interpolation (``scipy.interpolate.griddata``,
  nearest value outside the convex hull) — ``interpolate``;
- :mod:`.biharmonic`    scikit-image's biharmonic inpainting — ``biharmonic``;
- :mod:`.tv`            total-variation regularised recovery from any operator (FISTA with
  ``denoise_tv_chambolle`` as the proximal step, weight chosen on validation) — ``tv``;
- :mod:`.patches`       patch tables, block matching, aggregation of overlapping patches;
- :mod:`.shrinkage`     the SNN of one group, evaluated exactly by its reduced dynamics;
- :mod:`.nonlocal_snn`  the non-local SNN — ``snn-patches`` (``device=``: its groups on a
  GPU);
- :mod:`.colour`        ``spectralnn recover`` on a colour photo (RGB in, RGB out).

Each method is registered by name in :data:`spectralnn.recovery.METHODS`.
"""

from .biharmonic import biharmonic_pixels, fit_biharmonic
from .interpolate import fit_interpolate, interpolate_pixels
from .nonlocal_snn import fit_nonlocal_snn, nonlocal_snn
from .pixels import ObservedPixels, observed_pixels
from .tv import fit_tv

__all__ = [
    "ObservedPixels",
    "biharmonic_pixels",
    "fit_biharmonic",
    "fit_interpolate",
    "fit_nonlocal_snn",
    "fit_tv",
    "interpolate_pixels",
    "nonlocal_snn",
    "observed_pixels",
]
