"""Figure configurations: TOML files shipped with the package, overridable from the CLI.

Each ``configs/<figure>.toml`` holds ``title``, ``[problem]``, ``[train]``, one
``[models.<name>]`` table per model, optionally ``[check]``, and ``[quick]``: the values that
``--quick`` replaces (``steps``, ``check_steps``, ``classes``, ``digits``) to run the same
pipeline in seconds.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

from ..errors import ConfigError, unknown_name

__all__ = ["FIGURES", "OVERRIDES", "load_figure_config"]

FIGURES = ("fig2", "fig3", "fig4", "fig5")

#: Settings the command line may override, and where they live in the configuration.
OVERRIDES = {
    "steps": ("train", "steps"),
    "rates": ("train", "rates"),
    "keep": ("train", "keep"),
    "seed": ("problem", "seed"),
    "digits": ("problem", "digits"),
    "classes": ("problem", "classes"),
    "device": ("train", "device"),
}

_QUICK_KEYS = {"steps": ("train", "steps"), "check_steps": ("check", "steps"),
               "classes": ("problem", "classes"), "digits": ("problem", "digits")}


def _read(figure: str) -> dict[str, Any]:
    text = resources.files("spectralnn.experiments").joinpath("configs", f"{figure}.toml")
    return tomllib.loads(text.read_text(encoding="utf-8"))


def load_figure_config(figure: str, quick: bool = False,
                       overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The resolved configuration of ``figure``: the shipped file, then ``[quick]`` when
    ``quick``, then ``overrides`` (keys of :data:`OVERRIDES`; ``None`` values are ignored).

    Per-model ``steps``/``keep`` in ``[models.<name>]`` are relative to the train defaults: a
    model whose own ``steps`` is twice the file's train steps keeps that ratio after an
    override or ``--quick``.
    """
    if figure not in FIGURES:
        raise unknown_name("figure", figure, FIGURES)
    cfg = _read(figure)
    base_steps = int(cfg["train"]["steps"])
    quick_table = cfg.pop("quick", {})
    if quick:
        for key, value in quick_table.items():
            if key not in _QUICK_KEYS:
                raise ConfigError(f"unknown key {key!r} in [quick] of {figure}; expected one of: "
                                  f"{', '.join(sorted(_QUICK_KEYS))}")
            section, name = _QUICK_KEYS[key]
            cfg.setdefault(section, {})[name] = value
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in OVERRIDES:
            raise unknown_name("override", key, list(OVERRIDES))
        section, name = OVERRIDES[key]
        cfg.setdefault(section, {})[name] = copy.deepcopy(value)
    steps = int(cfg["train"]["steps"])
    if steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps}")
    for model in cfg.get("models", {}).values():
        if "steps" in model:  # keep the model's ratio to the figure's steps (DF: 2×)
            model["steps"] = max(1, round(int(model["steps"]) * steps / base_steps))
    cfg["figure"] = figure
    cfg["quick"] = bool(quick)
    return cfg
