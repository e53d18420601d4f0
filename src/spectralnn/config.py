"""Experiment configuration: a TOML file describing problem, model and training.

Three tables, every key optional except ``problem.kind`` and ``model.name``; unknown keys are
errors naming the key::

    [problem]
    kind = "paper_mnist"        # paper_mnist | paper_synthetic | synthetic | image
    index = 0                   # paper_mnist: index | digit_class (+ occurrence)
    seed = 0

    [model]
    name = "snn"                # snn | woa | lg | df | nnm | svt
    widths = [4, 8, 16]         # any option of the model (see baselines.model_options)
    seed = 0
    dtype = "float64"           # float64 | float32
    device = "cpu"

    [train]                     # trainable models only
    steps = 2501
    lr = 1e-3                   # a number, a list (a batched sweep) or "search"
    optimizer = "gd"            # gd | sgd | momentum | adam | normalized
    checkpoint_every = 500

Problem kinds and their keys:

- ``paper_mnist``: ``index``, ``digit_class``, ``occurrence``, ``seed`` —
  :func:`~spectralnn.sensing.problem.paper_mnist_problem`.
- ``paper_synthetic``: ``well_specified`` (bool), ``seed`` —
  :func:`~spectralnn.sensing.problem.paper_synthetic_problem`.
- ``synthetic``: ``n``, ``d2``, ``rank``, ``psd`` (the ground truth of
  :func:`~spectralnn.data.synthetic_low_rank`) and the measurement keys below.
- ``image``: ``image`` (a path to an image or ``.npy`` file, ``"mnist:INDEX"``,
  ``"mnist-class:D"`` or ``"skimage:NAME"``), ``size`` and the measurement keys.

Measurement keys (``synthetic``, ``image``): ``measurement`` (gaussian | entries | dct |
well_specified), ``m`` or ``fraction``, ``noise_std``, ``std``, ``normalize`` (nuclear |
frobenius | none), ``seed`` — see :func:`~spectralnn.sensing.problem.make_problem`.

:func:`resolve_config` returns the configuration with every default filled in; that is what a
run directory's ``config.json`` holds.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import ConfigError, DataError, unknown_name
from .validate import DTYPES

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

__all__ = [
    "PROBLEM_KINDS",
    "build_problem",
    "load_config",
    "load_image",
    "read_toml",
    "resolve_config",
]

PROBLEM_KINDS = ("image", "paper_mnist", "paper_synthetic", "synthetic")

_MEASUREMENT_KEYS = {"measurement": "gaussian", "m": None, "fraction": None,
                     "noise_std": 0.0, "std": None, "normalize": "nuclear", "seed": 0}
_PROBLEM_KEYS: dict[str, dict[str, Any]] = {
    "paper_mnist": {"index": None, "digit_class": None, "occurrence": 0, "seed": 0},
    "paper_synthetic": {"well_specified": False, "seed": 0},
    "synthetic": {"n": 10, "d2": None, "rank": 2, "psd": True, **_MEASUREMENT_KEYS},
    "image": {"image": None, "size": None, **_MEASUREMENT_KEYS},
}
_MODEL_KEYS = {"name": None, "seed": 0, "dtype": "float64", "device": "cpu"}
_TRAIN_KEYS: dict[str, Any] = {
    "steps": 1000, "lr": 1e-3, "optimizer": "gd", "momentum": 0.9, "betas": [0.9, 0.999],
    "eps": 1e-8, "batch_size": None, "tol": None, "log_every": None,
    "divergence_factor": 1e6, "max_seconds": None, "checkpoint_every": 500, "seed": 0,
    "keep": 3, "probe_steps": None,
}
_SECTIONS = ("model", "problem", "train")


def read_toml(path: str | os.PathLike[str], what: str = "config file") -> dict[str, Any]:
    """The tables of the TOML file ``path``; a missing, unreadable or invalid file raises
    :class:`ConfigError` naming it (``what`` says which kind of file it is)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {str(p)!r} does not exist")
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {str(p)!r} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {str(p)!r}: {exc.strerror}") from None


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and resolve a TOML configuration file (see the module docstring)."""
    return resolve_config(read_toml(path))


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table, got {type(value).__name__}")
    return dict(value)


def _check_keys(table: dict[str, Any], allowed: Any, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} in [{where}]; expected one of: "
                              f"{', '.join(sorted(allowed))}")


def resolve_config(raw: dict[str, Any]) -> dict[str, Any]:
    """Validate a configuration dict (as read from TOML) and fill in every default.

    Raises :class:`~spectralnn.errors.ConfigError` naming the first unknown key or bad value.
    """
    from .models import MODELS, TRAINABLE_MODELS, model_options
    from .trainer import OPTIMIZERS

    if not isinstance(raw, dict):
        raise ConfigError(f"configuration must be a table, got {type(raw).__name__}")
    _check_keys(raw, _SECTIONS, "top level")
    problem = _table(raw, "problem")
    model = _table(raw, "model")
    train = _table(raw, "train")

    kind = problem.get("kind")
    if kind not in PROBLEM_KINDS:
        raise unknown_name("problem kind", kind, PROBLEM_KINDS)
    _check_keys(problem, {"kind", *_PROBLEM_KEYS[kind]}, "problem")
    problem = {"kind": kind, **copy.deepcopy(_PROBLEM_KEYS[kind]), **problem}
    if kind == "image" and not isinstance(problem["image"], str):
        raise ConfigError(f"[problem] kind 'image' needs image = a path, 'mnist:INDEX', "
                          f"'mnist-class:D' or 'skimage:NAME', got {problem['image']!r}")
    if "normalize" in problem and problem["normalize"] not in ("nuclear", "frobenius", "none"):
        raise unknown_name("normalize", problem["normalize"], ["frobenius", "none", "nuclear"])

    name = model.get("name")
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    # phi/psi (spectral init) come from a well-specified problem's operator, not from files.
    allowed = {*_MODEL_KEYS, *model_options(name)} - {"phi", "psi"}
    _check_keys(model, allowed, "model")
    model = {**_MODEL_KEYS, **model}
    if model["dtype"] not in DTYPES:
        raise unknown_name("dtype", model["dtype"], tuple(DTYPES))

    if name in TRAINABLE_MODELS:
        _check_keys(train, _TRAIN_KEYS, "train")
        train = {**copy.deepcopy(_TRAIN_KEYS), **train}
        if train["optimizer"] not in OPTIMIZERS:
            raise unknown_name("optimizer", train["optimizer"], OPTIMIZERS)
        lr = train["lr"]
        if isinstance(lr, str):
            if lr != "search":
                raise ConfigError(f"[train] lr must be a number, a list of numbers or "
                                  f"'search', got {lr!r}")
        else:
            rates = lr if isinstance(lr, list) else [lr]
            if not rates or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                or not math.isfinite(v) or v <= 0 for v in rates):
                raise ConfigError(f"[train] lr must be a positive number, a non-empty list of "
                                  f"them or 'search', got {lr!r}")
    elif train:
        raise ConfigError(f"model {name!r} is a solver and takes no [train] table; put its "
                          f"options ({', '.join(model_options(name))}) in [model]")
    return {"problem": problem, "model": model, "train": train}


def load_image(spec: str, size: int | list[int] | None = None) -> tuple[torch.Tensor, str]:
    """A ground-truth image from a spec: ``"mnist:INDEX"`` (digit 0..4999 of the offline
    set), ``"mnist-class:D"`` (the first digit of class D), ``"skimage:NAME"`` (an image
    shipped with scikit-image) or a file path (image or ``.npy``). A ``.npy`` whose values all
    lie in ``[0, 1]`` is a float image in scikit-image's convention and is read as 8-bit
    levels (×255), the scale of the PSNR and of the PNGs written.

    Returns ``(pixels (d1, d2) float64, a short name)``. Raises ``DataError``/``ConfigError``.
    """
    from .data import load_matrix, mnist_digit, skimage_image

    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"image must be a non-empty string, got {spec!r}")
    sz: Any = tuple(size) if isinstance(size, list) else size  # checked by the loaders
    for prefix in ("mnist:", "mnist-class:"):
        if spec.startswith(prefix):
            text = spec[len(prefix):]
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"image {spec!r}: expected an integer after {prefix!r}, "
                                  f"got {text!r}") from None
            digit = (mnist_digit(index=value) if prefix == "mnist:"
                     else mnist_digit(digit_class=value))
            if sz is not None:
                raise ConfigError(f"image {spec!r} is a 28×28 digit; size={size!r} does not "
                                  "apply (expected no size)")
            return digit.image, f"mnist-{digit.index}-digit-{digit.label}"
    if spec.startswith("skimage:"):
        name = spec[len("skimage:"):]
        return skimage_image(name, size=sz), f"skimage-{name}"
    path = Path(spec)
    if not path.exists():
        raise DataError(f"image {spec!r} does not exist; expected a file, 'mnist:INDEX', "
                        "'mnist-class:D' or 'skimage:NAME'")
    X = load_matrix(path, size=sz)
    if path.suffix.lower() == ".npy" and float(X.min()) >= 0.0 and 0.0 < float(X.max()) <= 1.0:
        X = X * 255.0
    return X, path.stem


def build_problem(problem_cfg: dict[str, Any], dtype: torch.dtype = torch.float64,
                  device: str | torch.device | None = None
                  ) -> tuple[SensingProblem, bool]:
    """The :class:`~spectralnn.sensing.problem.SensingProblem` of a resolved ``[problem]``
    table, on ``device`` in ``dtype``, and whether it is an image problem (PSNR, PNGs)."""
    from .data import synthetic_low_rank
    from .sensing.problem import make_problem, paper_mnist_problem, paper_synthetic_problem

    cfg = dict(problem_cfg)
    kind = cfg.pop("kind")
    image = kind in ("paper_mnist", "image")
    try:
        if kind == "paper_mnist":
            prob = paper_mnist_problem(**cfg)
        elif kind == "paper_synthetic":
            prob = paper_synthetic_problem(**cfg)
        else:
            meas = {k: cfg.pop(k) for k in _MEASUREMENT_KEYS}
            if meas["normalize"] == "none":
                meas["normalize"] = None
            if kind == "synthetic":
                X = synthetic_low_rank(cfg["n"], cfg["rank"], psd=cfg["psd"],
                                       seed=meas["seed"], d2=cfg["d2"])
                label = f"synthetic-{cfg['n']}-rank-{cfg['rank']}"
            else:
                X, label = load_image(cfg["image"], cfg["size"])
            prob = make_problem(X, meas.pop("measurement"), name=label, **meas)
    except TypeError as exc:  # a value of the wrong type reaching a library function
        raise ConfigError(f"[problem] {exc}") from None
    if dtype != prob.dtype or device is not None:
        prob = prob.to(device=device, dtype=dtype)
    return prob, image
