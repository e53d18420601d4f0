"""Completing photographs: colour kept, observed pixels kept, image methods available.

- **Image methods** (``snn-patches``, ``biharmonic``, ``interpolate``; :mod:`spectralnn.images`)
  inpaint the channels directly: ``snn-patches`` matches patches on the luminance and
  completes the channels jointly (each group stacks the R, G and B pixels of its patches).
- **Low-rank methods** (``snn``, ``softimpute``, …) complete a colour image as the one
  matrix ``[R | G | B]`` ``(d1, 3·d2)`` (the channels share their row space), a grey image as
  itself (:func:`~spectralnn.completion.estimator.complete_array`).

Every output keeps the observed pixels exactly and is clipped to ``[0, 255]``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..recovery.result import warning_for
from .estimator import complete_array, error_metrics, nothing_to_learn, split_observed
from .reading import Incomplete

__all__ = ["DEFAULT_IMAGE_MODEL", "IMAGE_MODELS", "complete_image"]

#: Methods that work on pixels directly (the rest are low-rank matrix methods).
IMAGE_MODELS = ("snn-patches", "biharmonic", "interpolate")

#: The default model for an image (``complete`` without ``--model``).
DEFAULT_IMAGE_MODEL = "snn-patches"


def _inpaint(model: str, values: np.ndarray, mask: np.ndarray, seed: int,
             max_seconds: float | None, device: str | None) -> tuple[np.ndarray, dict[str, Any]]:
    from .. import images

    if model == "snn-patches":
        X, info = images.nonlocal_snn(values, mask, seed=seed, max_seconds=max_seconds,
                                      device=device)
        return X, {"status": info["status"], "settings": info["settings"], "tau0": info["tau0"],
                   "rounds_run": info["rounds_run"]}
    fn = images.interpolate_pixels if model == "interpolate" else images.biharmonic_pixels
    return np.stack([fn(ch, mask) for ch in values]), {"status": "converged"}


def complete_image(data: Incomplete, *, model: str, seed: int,
                   test_fraction: float | None, max_steps: int | None,
                   max_seconds: float | None, progress: bool, device: str | None = None
                   ) -> tuple[np.ndarray, dict[str, Any]]:
    """Complete an image; returns ``(pixels, summary)``: ``(d1, d2)`` grey or ``(3, d1, d2)``
    colour float64 in ``[0, 255]`` with the observed pixels of ``data`` unchanged.
    ``device``: torch device of ``snn-patches``' groups and of the low-rank fits (``None``:
    CPU); biharmonic and interpolate run on the CPU."""
    start = time.perf_counter()
    colour = data.colour
    chans = colour if colour is not None else data.values[None]
    observed = ~np.isnan(data.values)
    d1, d2 = observed.shape
    flat = np.flatnonzero(observed)
    train, test = split_observed(flat.size, test_fraction, seed)
    fitted = np.concatenate([ch.reshape(-1)[flat[train]] for ch in chans])
    shortcut = nothing_to_learn(data.values, fitted, test.size, "image")
    if shortcut is not None and shortcut[0] == "degenerate":  # a line is an image all the same
        shortcut = None
    if model in IMAGE_MODELS or shortcut is not None:
        if shortcut is None:
            mask = np.zeros(d1 * d2, dtype=bool)
            mask[flat[train]] = True
            X, fit = _inpaint(model, np.nan_to_num(chans), mask.reshape(d1, d2), seed,
                              max_seconds, device)
            X = np.clip(X, 0.0, 255.0)
            status = fit.pop("status")
            warning = warning_for(status, None, model)
        else:  # returned as given, or filled with the one value observed
            status, warning, fill = shortcut
            X, fit = np.where(np.isnan(chans), fill, chans), {}
        summary: dict[str, Any] = {
            "shape": [d1, d2], "observed": int(flat.size), "missing": int(d1 * d2 - flat.size),
            "training_entries": int(train.size), "test_entries": int(test.size),
            "model": model, "seed": seed, "status": status, "warning": warning,
            "validation_error": None, "clip": [0.0, 255.0], "keep_observed": True,
            "test_fraction": test_fraction, "fit": fit,
        }
        if test.size:
            r, c = np.divmod(flat[test], d2)
            summary["test"] = error_metrics(X[:, r, c].reshape(-1), chans[:, r, c].reshape(-1),
                                            image=True)
    else:
        wide = np.concatenate(list(chans), axis=1)  # [R | G | B], NaN where missing
        Xw, summary = complete_array(wide, model=model, seed=seed, test_fraction=test_fraction,
                                     clip=(0.0, 255.0), image=True, max_steps=max_steps,
                                     max_seconds=max_seconds, progress=progress,
                                     options=None if device is None else {"device": device})
        X = np.stack(np.split(Xw, len(chans), axis=1))
        summary["shape"] = [d1, d2]
    X[:, observed] = chans[:, observed]
    summary["channels"] = "rgb" if colour is not None else "grey"
    summary["seconds"] = time.perf_counter() - start
    return (X if colour is not None else X[0]), summary
