"""Figure configurations: TOML files shipped with the package, overridable from the CLI.

Each ``configs/<figure>.toml`` holds ``title``, ``[problem]``, ``[model]`` (``dtype``,
``device``: shared by every model), ``[train]``, one ``[models.<name>]`` table per model,
optionally ``[check]``, and ``[quick]``: the values that ``--quick`` replaces (``steps``,
``check_steps``, ``classes``, ``digits``) to run the same pipeline in seconds.

The key names are those of run configurations (:mod:`spectralnn.config`): ``[train] lr`` is
``"search"`` (the paper's search) or a list of rates; ``dtype`` and ``device`` live in
``[model]``. The old names still load: ``[train] rates`` (``"paper"`` for ``"search"``) and
``[train] dtype`` / ``[train] device``; a file giving both an old and a new name is refused.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

from ..errors import ConfigError, unknown_name
from ..validate import positive_int

__all__ = ["FIGURES", "OVERRIDES", "load_figure_config"]

FIGURES = ("fig2", "fig3", "fig4", "fig5")

#: Settings the command line may override, and where they live in the configuration.
OVERRIDES = {
    "steps": ("train", "steps"),
    "rates": ("train", "lr"),
    "keep": ("train", "keep"),
    "seed": ("problem", "seed"),
    "digits": ("problem", "digits"),
    "classes": ("problem", "classes"),
    "device": ("model", "device"),
}

_QUICK_KEYS = {"steps": ("train", "steps"), "check_steps": ("check", "steps"),
               "classes": ("problem", "classes"), "digits": ("problem", "digits")}


#: Old key → the key it was renamed to.
RENAMED = {("train", "rates"): ("train", "lr"), ("train", "dtype"): ("model", "dtype"),
           ("train", "device"): ("model", "device")}


def upgrade_keys(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    """Move old key names to their new places (:data:`RENAMED`; ``lr = "paper"`` becomes
    ``"search"``), in place; refuses a configuration giving both names of one key."""
    for (section, old), (new_section, new) in RENAMED.items():
        table = cfg.get(section, {})
        if old not in table:
            continue
        if new in cfg.get(new_section, {}):
            raise ConfigError(f"[{section}] {old} and [{new_section}] {new} both given in "
                              f"{where}; expected only [{new_section}] {new} (the new name "
                              f"of [{section}] {old})")
        cfg.setdefault(new_section, {})[new] = table.pop(old)
    if cfg.get("train", {}).get("lr") == "paper":
        cfg["train"]["lr"] = "search"
    return cfg


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
    cfg = upgrade_keys(_read(figure), figure)
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
    if cfg["train"].get("lr") == "paper":  # --rates paper
        cfg["train"]["lr"] = "search"
    steps = positive_int(int(cfg["train"]["steps"]), "steps")
    for model in cfg.get("models", {}).values():
        if "steps" in model:  # keep the model's ratio to the figure's steps (DF: 2×)
            model["steps"] = max(1, round(int(model["steps"]) * steps / base_steps))
    cfg["figure"] = figure
    cfg["quick"] = bool(quick)
    return cfg
