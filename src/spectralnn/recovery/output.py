"""Files of one recovery, written atomically, and the image problems of ``recover``.

``write_recovery(out, recovery, problem, config)`` fills a new (or empty) directory with

- ``summary.json``  :attr:`Recovery.summary` (status, warning, validation error, settings,
  relative error and PSNR when the truth is known, seconds) — written last;
- ``config.json``   what was asked (re-running the same request into ``out`` returns the stored
  summary instead of redoing it);
- ``X.npy``         the recovered matrix in the problem's normalised units (float64);
- ``problem.npz``   the problem (so that ``spectralnn certify`` works on the directory);
- ``history.csv``   one row per validation check;
- ``reconstruction.png`` (and ``truth.png`` when known) for images: ``clamp(scale·X, 0, 255)``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._io import atomic_write, grey_png_bytes, json_bytes
from ..errors import ConfigError, DataError
from ..metrics import to_pixels
from .result import Recovery

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["DENSE_DEFAULT_PIXELS", "default_measurement", "default_noise_std",
           "prepare_output", "write_recovery"]

#: Largest image (in pixels) for which ``recover`` defaults to the paper's dense Gaussian
#: measurements: 64×64 at 30 % is a 40 MB operator; 256×256 would be 10 GB.
DENSE_DEFAULT_PIXELS = 64 * 64


def default_measurement(shape: tuple[int, int]) -> str:
    """``recover``'s measurement when none is given: the paper's ``"gaussian"`` up to
    :data:`DENSE_DEFAULT_PIXELS` pixels, else ``"entries"`` (pixel sampling, O(m) memory)."""
    return "gaussian" if shape[0] * shape[1] <= DENSE_DEFAULT_PIXELS else "entries"

#: Noise of ``recover`` for structured measurements: this fraction of the RMS of the
#: noise-free measurements (SNR 40 dB).
RELATIVE_NOISE = 0.01


def default_noise_std(X_normalised: torch.Tensor, measurement: str, m: int) -> float:
    """The default noise std of ``recover``: the paper's ``1e-2`` for ``"gaussian"``
    (``A_i = n·G_i``), else :data:`RELATIVE_NOISE` × the RMS of the noise-free
    measurements, ``‖X*‖_F/√(d1·d2)`` for entries and ``‖X*‖_F/√m`` for the DCT
    (``E‖A(X)‖² = ‖X‖_F²``)."""
    if measurement in ("gaussian", "well_specified"):
        return 1e-2
    fro = float(torch.linalg.matrix_norm(X_normalised.to(torch.float64)))
    d1, d2 = X_normalised.shape
    rms = fro / math.sqrt(d1 * d2) if measurement == "entries" else fro / math.sqrt(m)
    return RELATIVE_NOISE * rms


def prepare_output(out: str | os.PathLike[str], config: dict[str, Any]) -> dict | None:
    """Check ``out`` may receive this recovery: returns the stored summary when it already
    holds the same request, ``None`` when it is new or empty; refuses anything else."""
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise ConfigError(f"output {str(d)!r} exists and is not a directory")
    if not d.exists() or not any(d.iterdir()):
        return None
    cfg, summ = d / "config.json", d / "summary.json"
    try:
        same = cfg.is_file() and json.loads(cfg.read_text()) == json.loads(json_bytes(config))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {str(cfg)!r}: {exc}") from None
    if same and summ.is_file():
        return json.loads(summ.read_text())
    raise ConfigError(f"output directory {str(d)!r} is not empty and holds no recovery of this "
                      "request; use a new or empty directory")


def _history_csv(history: list[dict[str, Any]]) -> bytes:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for row in history:
        w.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
    return buf.getvalue().encode()


def write_recovery(out: str | os.PathLike[str], recovery: Recovery, problem: SensingProblem,
                   config: dict[str, Any], image: bool = False) -> dict[str, Any]:
    """Write the files of a finished recovery (see the module doc); returns the summary."""
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write(d / "config.json", json_bytes(config))
    atomic_write(d / "X.npy", lambda f: np.save(f, recovery.X.numpy(), allow_pickle=False))
    problem.save(d / "problem.npz")
    atomic_write(d / "history.csv", _history_csv(recovery.history))
    if image:
        if problem.X_star is not None:
            atomic_write(d / "truth.png", grey_png_bytes(to_pixels(
                problem.X_star.detach().cpu().to(torch.float64), problem.scale)))
        atomic_write(d / "reconstruction.png", grey_png_bytes(to_pixels(recovery.X, problem.scale)))
    atomic_write(d / "summary.json", json_bytes(recovery.summary))
    return recovery.summary
