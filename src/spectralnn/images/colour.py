"""``spectralnn recover`` on a colour image: RGB in, RGB out (entry sampling only).

A seeded ``fraction`` of the *pixels* is observed (all three channels of each), with noise of
std ``noise · ‖[R|G|B]‖_*`` (default 1 % of the RMS channel value, as for grey). The observed
image is completed exactly as ``spectralnn complete`` completes a colour photo
(:func:`spectralnn.completion.photos.complete_image`): image methods on the channels
(``snn-patches`` matches on the luminance and completes the channels jointly; ``biharmonic``
and ``interpolate`` per channel), low-rank methods on ``[R | G | B]`` ``(d1, 3·d2)``; observed
pixels kept. PSNR is over all channels: ``10·log10(255² / mean((clip(X) − T)²))``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, jsonable, write_json
from ..data import LUMINANCE, read_image
from ..errors import ConfigError, DataError

__all__ = ["recover_colour", "sample_pixels", "wants_colour"]


def _path(spec: str) -> Path | None:
    """The file behind an image spec (``skimage:NAME`` or a path); ``None`` for MNIST/.npy."""
    if spec.startswith(("mnist:", "mnist-class:")):
        return None
    if spec.startswith("skimage:"):
        from ..data import available_images, skimage_path

        name = spec[len("skimage:"):]
        return skimage_path(name) if name in available_images() else None
    p = Path(spec)
    return p if p.is_file() and p.suffix.lower() != ".npy" else None


def _colour_truth(spec: str) -> np.ndarray | None:
    """The ``(3, d1, d2)`` float64 RGB pixels in ``[0, 255]`` of a colour image spec, read by
    :func:`spectralnn.data.read_image` (``colour=True``: transparency ignored, the colour
    values are the truth); ``None`` when it is grey, a digit, an array or unreadable (the grey
    loader reports unreadable files in one line)."""
    path = _path(spec)
    if path is None:
        return None
    try:
        _, rgb = read_image(path, colour=True)
    except DataError:
        return None
    return rgb


def wants_colour(spec: str, measurement: str, *, explicit: bool, other: bool = False) -> bool:
    """Whether ``recover`` keeps colour: ``--colour`` (``explicit``) or, by default, a colour
    image with entry sampling. ``other``: a setting without colour (``--paper``, lg/df/woa)."""
    if not explicit:
        return measurement == "entries" and not other and _colour_truth(spec) is not None
    if measurement != "entries" or other:
        raise ConfigError(f"--colour needs --measurement entries (and no --paper/lg/df/woa), "
                          f"got measurement {measurement!r}; use --grey")
    if _colour_truth(spec) is None:
        raise DataError(f"image {spec!r} is not a colour image; expected RGB with --colour")
    return True


def sample_pixels(truth: np.ndarray, fraction: float, noise: float | None, seed: int
                  ) -> tuple[np.ndarray, float]:
    """The observed colour image ``(3, d1, d2)``, NaN where not observed, and the noise std in
    pixel units: ``round(fraction·d1·d2)`` pixels drawn without replacement (seeded), each
    with all its channels, plus Gaussian noise of std ``noise·‖[R|G|B]‖_*`` (``None``: 1 % of
    ``‖T‖_F/√(3·d1·d2)``)."""
    from ..recovery.output import RELATIVE_NOISE
    from ..sensing.operators import measurements_from_fraction

    c, d1, d2 = truth.shape
    m = measurements_from_fraction(fraction, d1 * d2)
    rng = np.random.default_rng(seed)
    picked = rng.choice(d1 * d2, size=m, replace=False)
    if noise is None:
        std = RELATIVE_NOISE * float(np.sqrt(np.mean(truth**2)))
    else:
        if not (math.isfinite(noise) and noise >= 0):
            raise ConfigError(f"--noise must be a finite number ≥ 0, got {noise}")
        wide = np.concatenate(list(truth), axis=1)
        std = noise * float(np.linalg.svd(wide, compute_uv=False).sum())
    flat = truth.reshape(c, -1)
    seen = np.full_like(flat, np.nan)
    seen[:, picked] = flat[:, picked] + std * rng.standard_normal((c, m))
    return seen.reshape(truth.shape), std


def recover_colour(image: str, fraction: float, model: str, out: str, *,
                   noise: float | None = None, size: int = 0, max_steps: int | None = None,
                   max_seconds: float | None = None, seed: int = 0, device: str = "cpu",
                   progress: bool = False) -> dict[str, Any]:
    """``spectralnn recover --colour``: sample, complete and score a colour image; writes
    ``summary.json``, ``config.json``, ``X.npy`` (``(3, d1, d2)`` pixels), ``truth.png`` and
    ``reconstruction.png`` (RGB) into ``out``; returns the summary."""
    from ..completion.photos import complete_image
    from ..completion.reading import Incomplete
    from ..completion.writing import encode_image
    from ..recovery.output import prepare_output

    config = {"image": image, "fraction": fraction, "model": model, "measurement": "entries",
              "colour": True, "noise": noise, "size": size or None, "steps": max_steps,
              "max_seconds": max_seconds, "seed": seed, "device": device}
    stored = prepare_output(out, config)
    if stored is not None:
        return stored
    if max_seconds is not None and not max_seconds > 0:
        raise ConfigError(f"--max-seconds must be positive, got {max_seconds}")
    from ..validate import compute_device

    compute_device(device)  # an unavailable device fails here, in one line
    truth = _colour_truth(image)
    if truth is None:
        raise DataError(f"image {image!r} is not a colour image; expected RGB with --colour")
    if size:
        from skimage.transform import resize

        truth = np.clip(resize(truth.transpose(1, 2, 0), (size, size), order=1,
                               mode="reflect", anti_aliasing=True, preserve_range=True),
                        0.0, 255.0).transpose(2, 0, 1)
    truth = np.ascontiguousarray(truth, dtype=np.float64)
    seen, std = sample_pixels(truth, fraction, noise, seed)
    luminance = np.tensordot(LUMINANCE, seen, axes=1)
    data = Incomplete(values=luminance, kind="image", suffix=".png", colour=seen)
    start = time.perf_counter()
    X, summary = complete_image(data, model=model, seed=seed, test_fraction=None,
                                max_steps=max_steps, max_seconds=max_seconds,
                                progress=progress, device=None if device == "cpu" else device)
    X = np.clip(X, 0.0, 255.0)
    err = X - truth
    summary.update(
        seconds=time.perf_counter() - start, fraction=fraction, measurement="entries",
        noise_std_pixels=std, channels="rgb",
        psnr=float(10.0 * np.log10(255.0**2 / max(float(np.mean(err**2)), 1e-300))),
        relative_error=float(np.linalg.norm(err) / np.linalg.norm(truth)))
    d = Path(out)
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / "config.json", config)
    atomic_write(d / "X.npy", lambda f: np.save(f, X, allow_pickle=False))
    atomic_write(d / "truth.png", encode_image(truth, ".png"))
    atomic_write(d / "reconstruction.png", encode_image(X, ".png"))
    summary = jsonable(summary)
    write_json(d / "summary.json", summary)
    return summary
