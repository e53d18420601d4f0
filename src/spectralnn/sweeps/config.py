"""Sweep configuration: parse and validate a sweep TOML file and expand its grid into runs.

See :mod:`spectralnn.sweeps` for the file format; :func:`expand_grid` gives the runs in
order ``variants × axis_1 × … × axis_k`` (the last axis varies fastest).
"""

from __future__ import annotations

import copy
import itertools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError, unknown_name
from ..validate import check_keys, check_table, positive_int, positive_number

__all__ = ["REPORT_DEFAULTS", "RunSpec", "SweepConfig", "expand_grid", "load_sweep_config",
           "parse_sweep_config"]

_TOP_KEYS = ("base", "grid", "report", "sweep", "variants")
_SETTINGS = {"name": "sweep", "threads": 1}
_SECTIONS = ("model", "problem", "train")
_REPORT_KINDS = ("phase_transition",)
#: The ``[report]`` table's keys and defaults.
REPORT_DEFAULTS = {"kind": "phase_transition", "x": "problem.fraction", "y": "problem.rank",
                   "panel": "variant", "threshold": 1e-2, "probability": 0.5}
_SEED_PATHS = ("problem.seed", "model.seed")


@dataclass
class SweepConfig:
    """A parsed sweep configuration (see :mod:`spectralnn.sweeps`).

    Attributes:
        name: label of the sweep.
        base: the base run configuration (raw tables ``problem``/``model``/``train``).
        axes: ``[(path, values), …]`` in file order; ``path`` is ``"seed"`` or
            ``"SECTION.KEY"``.
        variants: ``{name: {section: table}}`` (empty: no variant axis).
        threads: torch threads per worker.
        report: the resolved ``[report]`` table, or ``None``.
    """

    name: str
    base: dict[str, Any]
    axes: list[tuple[str, list[Any]]]
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: int = 1
    report: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "axes": [[p, v] for p, v in self.axes],
                "variants": self.variants, "threads": self.threads, "report": self.report}


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its directory name, axis values (``{column: value}``, in axis order)
    and its raw run configuration."""

    name: str
    params: dict[str, Any]
    config: dict[str, Any]


def _flatten_grid(grid: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    axes: list[tuple[str, list[Any]]] = []
    for key, value in grid.items():
        if isinstance(value, dict):
            if key not in _SECTIONS:
                raise ConfigError(f"unknown grid table {key!r} ([grid.{key}]); expected one of: "
                                  f"{', '.join(_SECTIONS)}")
            for sub, values in value.items():
                if isinstance(values, dict):
                    raise ConfigError(f"grid key '{key}.{sub}' must be a list of values, "
                                      "got a table")
                axes.append((f"{key}.{sub}", values))
        else:
            axes.append((key, value))
    seen = set()
    for path, values in axes:
        section, _, sub = path.partition(".")
        if path != "seed" and (section not in _SECTIONS or not sub or "." in sub):
            raise ConfigError(f"unknown grid key {path!r}; expected 'seed' or SECTION.KEY "
                              f"with SECTION one of: {', '.join(_SECTIONS)}")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid key {path!r} must be a non-empty list of values, "
                              f"got {values!r}")
        if path in seen:
            raise ConfigError(f"grid key {path!r} is given twice; expected each key once")
        seen.add(path)
        if path == "train.lr" and any(isinstance(v, (list, str)) for v in values):
            raise ConfigError(f"grid key 'train.lr' must list single rates, got {values!r}")
    if "seed" in seen and seen & set(_SEED_PATHS):
        raise ConfigError("grid key 'seed' sets problem.seed and model.seed; expected "
                          "either 'seed' or those keys, not both")
    return axes


def parse_sweep_config(raw: dict[str, Any]) -> SweepConfig:
    """Validate the tables of a sweep configuration (see :mod:`spectralnn.sweeps`).

    Raises :class:`~spectralnn.errors.ConfigError` naming the first unknown key or bad value;
    the run configurations themselves are checked by :func:`expand_grid`.
    """
    check_table(raw, "sweep configuration")
    check_keys(raw, _TOP_KEYS, "the sweep configuration's top level")
    settings = dict(check_table(raw.get("sweep", {}), "[sweep]"))
    check_keys(settings, _SETTINGS, "[sweep]")
    settings = {**_SETTINGS, **settings}
    if not isinstance(settings["name"], str) or not settings["name"]:
        raise ConfigError(f"[sweep] name must be a non-empty string, got {settings['name']!r}")
    threads = positive_int(settings["threads"], "[sweep] threads")
    base = copy.deepcopy(check_table(raw.get("base", {}), "[base]"))
    check_keys(base, _SECTIONS, "[base]")
    for section, table in base.items():
        check_table(table, f"[base.{section}]")
    axes = _flatten_grid(check_table(raw.get("grid", {}), "[grid]"))
    variants: dict[str, dict[str, Any]] = {}
    for vname, vtable in check_table(raw.get("variants", {}), "[variants]").items():
        check_table(vtable, f"[variants.{vname}]")
        check_keys(vtable, _SECTIONS, f"[variants.{vname}]")
        for section, table in vtable.items():
            check_table(table, f"[variants.{vname}.{section}]")
        variants[str(vname)] = copy.deepcopy(vtable)
    report = None
    if "report" in raw:
        report = dict(check_table(raw["report"], "[report]"))
        check_keys(report, REPORT_DEFAULTS, "[report]")
        report = {**REPORT_DEFAULTS, **report}
        if report["kind"] not in _REPORT_KINDS:
            raise unknown_name("report kind", report["kind"], _REPORT_KINDS)
        for key in ("threshold", "probability"):
            positive_number(report[key], f"[report] {key}")
        if report["probability"] > 1:
            raise ConfigError(f"[report] probability must be in (0, 1], got "
                              f"{report['probability']!r}")
        columns = ({"variant"} if variants else set()) | {p for p, _ in axes}
        for key in ("x", "y", "panel"):
            if report[key] not in columns:
                raise ConfigError(f"[report] {key} = {report[key]!r} is not an axis of the "
                                  f"grid; expected one of: {', '.join(sorted(columns))}")
    return SweepConfig(settings["name"], base, axes, variants, threads, report)


def load_sweep_config(path: str | os.PathLike[str]) -> SweepConfig:
    """Read and parse a sweep TOML file (see :mod:`spectralnn.sweeps`)."""
    from ..config import read_toml

    return parse_sweep_config(read_toml(path, "sweep config file"))


def _merge(into: dict[str, Any], tables: dict[str, Any]) -> None:
    for section, table in tables.items():
        into.setdefault(section, {}).update(copy.deepcopy(table))


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = "x".join(_format_value(v) for v in value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text) or "_"


def _labels(paths: Sequence[str]) -> dict[str, str]:
    short = {p: p.rpartition(".")[2] for p in paths}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    return {p: (s if counts[s] == 1 and s != "variant" else p) for p, s in short.items()}


def expand_grid(cfg: SweepConfig) -> list[RunSpec]:
    """Every grid point of ``cfg`` as a :class:`RunSpec`, in order ``variants × axes`` (the
    last axis varies fastest). Each configuration is resolved once here, so that an unknown
    key or a bad value fails the whole sweep before anything runs.

    Raises:
        ConfigError: a run configuration is invalid (message prefixed by the run's name), a
            ``train.lr`` is not a single number, or two grid points map to the same name.
    """
    from ..config import resolve_config
    from ..models import SOLVER_MODELS

    paths = [p for p, _ in cfg.axes]
    labels = _labels(paths)
    variant_names: list[str | None] = [*cfg.variants] or [None]
    specs: list[RunSpec] = []
    names: dict[str, dict[str, Any]] = {}
    for variant in variant_names:
        for values in itertools.product(*(v for _, v in cfg.axes)):
            config = copy.deepcopy(cfg.base)
            params: dict[str, Any] = {}
            parts = []
            if variant is not None:
                _merge(config, cfg.variants[variant])
                params["variant"] = variant
                parts.append(_format_value(variant))
            for path, value in zip(paths, values):
                params[path] = value
                targets = _SEED_PATHS if path == "seed" else (path,)
                for target in targets:
                    section, _, key = target.partition(".")
                    config.setdefault(section, {})[key] = copy.deepcopy(value)
                parts.append(f"{labels[path]}-{_format_value(value)}")
            name = "__".join(parts) or "run"
            model = config.get("model", {}).get("name")
            if model in SOLVER_MODELS and "train" in config:
                in_variant = variant is not None and "train" in cfg.variants[variant]
                in_grid = any(p.startswith("train.") for p in paths)
                if not (in_variant or in_grid):
                    del config["train"]
            try:
                resolved = resolve_config(config)
            except ConfigError as exc:
                raise ConfigError(f"run {name!r}: {exc}") from None
            lr = resolved["train"].get("lr") if resolved["train"] else None
            if isinstance(lr, (list, str)):
                raise ConfigError(f"run {name!r}: train.lr must be one number per run in a "
                                  f"sweep, got {lr!r}; expected rates as a grid axis "
                                  "(train.lr = [...])")
            if name in names:
                raise ConfigError(f"grid points {names[name]!r} and {params!r} both map to "
                                  f"run name {name!r}; expected distinct values")
            names[name] = params
            specs.append(RunSpec(name, params, config))
    return specs
