"""``spectralnn recover`` as a library function: an image, a fraction of measurements, a
method → the recovery's output directory (:mod:`.output`) and its summary.

Two paths, chosen by the method:

- every method of :data:`~spectralnn.recovery.METHODS` goes through :func:`~.fit.fit`
  (validation split, stopping rules, best iterate);
- ``paper=True`` and the models trained at a fixed rate (``lg``, ``df``, ``woa``:
  :data:`FIXED_RATE_MODELS`) go through a run configuration
  (:func:`spectralnn.runs.run_experiment`): one fixed-rate run directory, with the step and
  time budgets in its ``[train]`` table.

Every setting takes effect or is refused: ``lr`` applies only to the models trained by
gradient descent (:data:`LR_MODELS`); for any other method a non-zero ``lr`` is an error.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, unknown_name
from ..validate import compute_device

__all__ = ["FIXED_RATE_MODELS", "LR_MODELS", "MEASUREMENTS", "recover_image"]

#: Models trained at a fixed learning rate through a run configuration.
FIXED_RATE_MODELS = ("df", "lg", "woa")
#: Models whose learning rate ``lr`` sets.
LR_MODELS = ("snn", *FIXED_RATE_MODELS)
#: Measurement kinds of an image recovery.
MEASUREMENTS = ("dct", "entries", "gaussian")
#: Default rates of the fixed-rate path (the paper's grid values).
_FIXED_LR = {"snn": 1e-4, "lg": 1e-4, "df": 1e-2, "woa": 1e-4}


def recover_image(image: str, fraction: float, out: str, *, model: str | None = None,
                  measurement: str | None = None, noise: float | None = None, size: int = 0,
                  colour: bool | None = None, steps: int | None = None,
                  max_seconds: float | None = 150.0, lr: float = 0.0, paper: bool = False,
                  seed: int = 0, device: str = "cpu", dtype: str | None = None,
                  progress: bool = True,
                  ) -> tuple[dict[str, Any], str | None]:
    """Recover ``image`` (a path, ``mnist:INDEX``, ``skimage:NAME``, …) from ``fraction`` of
    its pixels' measurements into the directory ``out``.

    Args:
        model: a name of :data:`~spectralnn.recovery.METHODS` or :data:`FIXED_RATE_MODELS`
            (default: ``snn-patches`` for entries, else ``snn``).
        measurement: ``gaussian``, ``entries`` or ``dct`` (default by size,
            :func:`~.output.default_measurement`).
        noise: measurement noise std in normalised units (default: the method's).
        size: resize to ``size × size`` (0: keep).
        colour: keep a colour image's colour (entries only: image methods per channel,
            low-rank methods on ``[R|G|B]``, PSNR over all channels; see
            :mod:`spectralnn.images.colour`); ``None``: colour for a colour image sampled by
            pixels, else grey.
        steps, max_seconds: step and time budgets of the fit (``None``: the method's).
        lr: learning rate of the models in :data:`LR_MODELS` (0: derived or the paper's).
        paper: the paper's exact MNIST setting for ``snn`` (fixed-rate path).
        seed, device, dtype, progress: as in :func:`~.fit.fit`.

    Returns:
        ``(summary, warning)``: the summary written to ``out/summary.json`` and the one-line
        warning when the result should not be trusted (else ``None``).

    Raises:
        ConfigError: an unknown name, a value out of range, or a setting the chosen method
            does not use (``lr`` for a method without a learning rate).
    """
    from .methods import METHODS
    from .output import default_measurement

    known = (*METHODS, *FIXED_RATE_MODELS)
    if model is not None and model not in known:
        raise unknown_name("model", model, known)
    if measurement is not None and measurement not in MEASUREMENTS:
        raise unknown_name("measurement", measurement, MEASUREMENTS)
    if size < 0:
        raise ConfigError(f"--size must be ≥ 0, got {size}")
    if lr < 0:
        raise ConfigError(f"--lr must be ≥ 0 (0: derived), got {lr}")
    if max_seconds is not None and not max_seconds > 0:
        raise ConfigError(f"--max-seconds must be positive, got {max_seconds}")
    if dtype is not None and dtype not in ("float32", "float64"):
        raise unknown_name("dtype", dtype, ("float32", "float64"))
    if measurement is None:
        from ..config import load_image

        d1, d2 = load_image(image, size or None)[0].shape
        measurement = default_measurement((int(d1), int(d2)))
    if model is None:  # the non-local SNN wins on pixels (docs/recovery.md#images)
        model = "snn-patches" if measurement == "entries" and not paper else "snn"
    if lr and model not in LR_MODELS:
        raise ConfigError(f"--lr {lr:g} does not apply to model {model!r}, which has no "
                          f"learning rate; expected --lr only with {', '.join(LR_MODELS)}")
    if colour is None or colour:
        from ..images.colour import wants_colour

        colour = wants_colour(image, measurement, explicit=colour is not None,
                              other=model in FIXED_RATE_MODELS or paper)
    if colour:
        from ..images.colour import recover_colour

        summary = recover_colour(image, fraction, model, out, noise=noise, size=size,
                                 max_steps=steps, max_seconds=max_seconds, seed=seed,
                                 device=device, progress=progress)
        return summary, summary.get("warning")
    if model in FIXED_RATE_MODELS or paper:
        return _fixed_rate(image, fraction, model, out, measurement,
                           0.01 if noise is None else noise, size, steps or 2501, max_seconds,
                           lr, seed, device, dtype or "float64", progress), None
    return _fit_path(image, fraction, model, out, measurement, noise, size, steps,
                     max_seconds, lr, seed, device, dtype, progress)


def _fit_path(image: str, fraction: float, model: str, out: str, measurement: str,
              noise: float | None, size: int, steps: int | None, max_seconds: float | None,
              lr: float, seed: int, device: str, dtype: str | None, progress: bool,
              ) -> tuple[dict[str, Any], str | None]:
    """Through :func:`spectralnn.recovery.fit`."""

    from ..config import load_image
    from ..data import normalize
    from ..sensing.operators import measurements_from_fraction
    from ..sensing.problem import make_problem
    from .fit import fit
    from .output import default_noise_std, prepare_output, write_recovery

    config = {"image": image, "fraction": fraction, "model": model,
              "measurement": measurement, "noise": noise, "size": size or None,
              "steps": steps, "max_seconds": max_seconds, "lr": lr or None, "seed": seed,
              "device": device, "dtype": dtype}
    stored = prepare_output(out, config)
    if stored is not None:
        return stored, None
    pixels, label = load_image(image, size or None)
    if noise is None:
        X, _ = normalize(pixels, "nuclear")
        m = measurements_from_fraction(fraction, X.numel())
        noise = default_noise_std(X, measurement, m)
    problem = make_problem(pixels, measurement, fraction=fraction, noise_std=noise, seed=seed,
                           name=label)
    options: dict[str, Any] = {"lr": lr} if lr else {}
    compute_device(device)
    result = fit(problem, model, seed=seed, max_steps=steps, max_seconds=max_seconds,
                 progress=progress, dtype=dtype, device=device if device != "cpu" else None,
                 image=True, **options)
    result.summary["noise_std"] = noise
    return write_recovery(out, result, problem, config, image=True), result.warning


def _fixed_rate(image: str, fraction: float, model: str, out: str, measurement: str,
                noise: float, size: int, steps: int, max_seconds: float | None, lr: float,
                seed: int, device: str, dtype: str, progress: bool) -> dict[str, Any]:
    """``paper=True`` and the lg/df/woa models: one fixed-rate run directory."""
    from ..models import SOLVER_MODELS, TRAINABLE_MODELS
    from ..runs import run_experiment

    problem = {"kind": "image", "image": image, "measurement": measurement,
               "fraction": fraction, "noise_std": noise, "seed": seed,
               "size": size or None}
    cfg: dict[str, Any] = {"problem": problem,
                           "model": {"name": model, "seed": seed, "dtype": dtype,
                                     "device": device}}
    if model in TRAINABLE_MODELS:
        rate = lr or _FIXED_LR.get(model, 1e-4)
        cfg["train"] = {"steps": steps, "lr": rate, "checkpoint_every": max(1, steps // 10),
                        "max_seconds": max_seconds}
    elif model == "svt":
        cfg["model"]["max_iters"] = steps
    elif model not in SOLVER_MODELS:
        raise ConfigError(f"--paper trains snn at the paper's fixed rate; model {model!r} "
                          "is not trained that way (drop --paper)")
    return run_experiment(cfg, out, progress=progress)
