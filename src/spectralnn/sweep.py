"""Sweeps: a grid of runs, each a normal run directory, aggregated into one table.

A **sweep configuration** (TOML) holds a base run configuration (the ``[problem]``,
``[model]``, ``[train]`` tables of :mod:`spectralnn.config`, under ``[base]``), the grid axes
and optional named variants::

    [sweep]
    name = "phase_transition"    # label of the progress display and the report
    threads = 1                  # torch threads per worker (see below)

    [base.problem]               # any run configuration, as for ``spectralnn train``
    kind = "synthetic"
    n = 20

    [grid]                       # axes: every combination is one run
    seed = [0, 1, 2]             # special axis: sets problem.seed and model.seed
    [grid.problem]
    rank = [1, 2, 3]             # = "problem.rank"
    fraction = [0.2, 0.4]        # measurement ratio m / (d1·d2)

    [variants.snn]               # the "variant" axis: tables merged over [base]
    model = { name = "snn", widths = [2, 2, 2, 2] }
    train = { steps = 1000, lr = 0.5 }
    [variants.nnm]
    model = { name = "nnm" }

    [report]                     # optional: the phase-transition study of the table
    kind = "phase_transition"
    threshold = 1e-2

Grid keys are ``seed`` or ``SECTION.KEY`` paths (``problem.rank``, ``train.lr`` …; written as
nested tables or as quoted dotted keys), each a non-empty list. The runs are the Cartesian
product ``variants × axis_1 × … × axis_k`` (in that order); run ``i``'s configuration is
``base ⊕ variant ⊕ grid point`` (later tables override earlier keys). A ``[train]`` table is
dropped for solver models (``nnm``, ``svt``), which take none, so one base serves every
variant. Every configuration is resolved (:func:`~spectralnn.config.resolve_config`) before any
run starts: a bad key fails the whole sweep at once, naming the key.

**Output** ``DIR``::

    DIR/sweep.json            the parsed sweep configuration and its run names
    DIR/runs/<name>/          one run directory per grid point (:mod:`spectralnn.runs`)
    DIR/results.csv           one row per finished or failed run (:data:`TABLE_COLUMNS`)
    DIR/status.json           counts, failed runs with their one-line errors, seconds
    DIR/phase_transition.*    with a [report]: .csv (probabilities), .json, .png

Run names are ``<label>-<value>`` pairs joined by ``__`` (``snn__rank-2__fraction-0.3__seed-0``):
the same grid point always maps to the same directory. ``results.csv`` and ``status.json`` are
rewritten atomically each time a run finishes, so the table grows as the sweep progresses.

**Resuming.** A run whose directory holds ``summary.json`` is finished and is skipped; every
other run (new, interrupted, or failed) is executed, interrupted ones resuming from their
checkpoint. A run raising an exception is recorded as ``failed`` with its message; the sweep
goes on and the next invocation retries it. A diverged run is a finished run (status
``diverged``), not retried. A run directory holding a different configuration is refused
before anything runs.

**Backends** (``backend=``): ``"inprocess"`` (one run after another in this process),
``"processes"`` (``concurrent.futures`` with ``spawn`` workers) and ``"dask"`` (Dask
distributed: a ``LocalCluster`` of ``jobs`` single-threaded worker processes, or the cluster
at ``address``; workers must be able to import spectralnn and share ``DIR``'s filesystem with
the client). Every worker calls ``torch.set_num_threads(threads)`` (default 1) before a run:
these small decompositions do not speed up with threads, and processes sharing cores with
several threads each slow down by orders of magnitude (measured: two processes with 2 threads
each on 2 cores, 2.1 s per SNN step instead of 5.7 ms).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._optional import requires
from .errors import ConfigError, DataError, unknown_name

__all__ = [
    "BACKENDS",
    "TABLE_COLUMNS",
    "PhaseTransition",
    "RunSpec",
    "SweepConfig",
    "SweepResult",
    "execute_run",
    "expand_grid",
    "load_sweep_config",
    "parse_sweep_config",
    "phase_transition",
    "plot_phase_transition",
    "read_table",
    "run_sweep",
]

BACKENDS = ("dask", "inprocess", "processes")

#: Columns of ``results.csv`` after the run name and the axis columns.
TABLE_COLUMNS = (
    "status", "model", "learning_rate", "d1", "d2", "m", "relative_error", "train_loss",
    "test_loss", "nuclear_norm", "effective_rank", "sv1", "steps", "diverged_step",
    "seconds", "threads", "error",
)
_SUMMARY_COLUMNS = ("model", "learning_rate", "relative_error", "train_loss", "test_loss",
                    "nuclear_norm", "effective_rank", "sv1", "steps", "diverged_step",
                    "seconds")

_TOP_KEYS = ("base", "grid", "report", "sweep", "variants")
_SETTINGS = {"name": "sweep", "threads": 1}
_SECTIONS = ("model", "problem", "train")
_REPORT_KINDS = ("phase_transition",)
_REPORT_KEYS = {"kind": "phase_transition", "x": "problem.fraction", "y": "problem.rank",
                "panel": "variant", "threshold": 1e-2, "probability": 0.5}
_SEED_PATHS = ("problem.seed", "model.seed")


# ---------------------------------------------------------------------- configuration


@dataclass
class SweepConfig:
    """A parsed sweep configuration (see the module docstring).

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


def _check_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, got {type(value).__name__}")
    return value


def _check_keys(table: dict[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r} in {where}; expected one of: "
                              f"{', '.join(sorted(allowed))}")


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


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
    """Validate the tables of a sweep configuration (see the module docstring).

    Raises :class:`~spectralnn.errors.ConfigError` naming the first unknown key or bad value;
    the run configurations themselves are checked by :func:`expand_grid`.
    """
    _check_table(raw, "sweep configuration")
    _check_keys(raw, _TOP_KEYS, "the sweep configuration's top level")
    settings = dict(_check_table(raw.get("sweep", {}), "[sweep]"))
    _check_keys(settings, _SETTINGS, "[sweep]")
    settings = {**_SETTINGS, **settings}
    if not isinstance(settings["name"], str) or not settings["name"]:
        raise ConfigError(f"[sweep] name must be a non-empty string, got {settings['name']!r}")
    threads = _positive_int(settings["threads"], "[sweep] threads")
    base = copy.deepcopy(_check_table(raw.get("base", {}), "[base]"))
    _check_keys(base, _SECTIONS, "[base]")
    for section, table in base.items():
        _check_table(table, f"[base.{section}]")
    axes = _flatten_grid(_check_table(raw.get("grid", {}), "[grid]"))
    variants: dict[str, dict[str, Any]] = {}
    for vname, vtable in _check_table(raw.get("variants", {}), "[variants]").items():
        _check_table(vtable, f"[variants.{vname}]")
        _check_keys(vtable, _SECTIONS, f"[variants.{vname}]")
        for section, table in vtable.items():
            _check_table(table, f"[variants.{vname}.{section}]")
        variants[str(vname)] = copy.deepcopy(vtable)
    report = None
    if "report" in raw:
        report = dict(_check_table(raw["report"], "[report]"))
        _check_keys(report, _REPORT_KEYS, "[report]")
        report = {**_REPORT_KEYS, **report}
        if report["kind"] not in _REPORT_KINDS:
            raise unknown_name("report kind", report["kind"], _REPORT_KINDS)
        for key in ("threshold", "probability"):
            v = report[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                raise ConfigError(f"[report] {key} must be a positive number, got {v!r}")
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
    """Read and parse a sweep TOML file (see the module docstring)."""
    from .config import read_toml

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
    from .baselines.registry import SOLVER_MODELS
    from .config import resolve_config

    paths = [p for p, _ in cfg.axes]
    labels = _labels(paths)
    variant_names = list(cfg.variants) or [None]
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


# ---------------------------------------------------------------------- one run (workers)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _problem_shape(run_dir: Path) -> dict[str, int | None]:
    """``d1``, ``d2``, ``m`` from a run directory's ``problem.npz`` (``None`` if unreadable)."""
    import numpy as np

    try:
        with np.load(run_dir / "problem.npz", allow_pickle=False) as arrays:
            d1, d2 = arrays["X_star"].shape
            m = int(arrays["y"].shape[0])
        return {"d1": int(d1), "d2": int(d2), "m": m}
    except (OSError, KeyError, ValueError):
        return {"d1": None, "d2": None, "m": None}


def _record(name: str, run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    status = "diverged" if summary.get("diverged") else "ok"
    rec = {"name": name, "status": status, "error": None}
    rec.update({k: summary.get(k) for k in _SUMMARY_COLUMNS})
    rec.update(_problem_shape(run_dir))
    rec["threads"] = None
    return rec


def _failed(name: str, error: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"name": name, "status": "failed", "error": error}
    rec.update({k: None for k in (*_SUMMARY_COLUMNS, "d1", "d2", "m", "threads")})
    return rec


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(int(threads))


def execute_run(name: str, config: dict[str, Any], run_dir: str, threads: int = 1
                ) -> dict[str, Any]:
    """Run one grid point into ``run_dir`` (resuming it if interrupted) and return its table
    record; the function every backend's workers execute.

    Sets ``torch.set_num_threads(threads)`` first (the record's ``threads`` is the count the
    run had; ``None`` for runs found finished on disk). Any exception of the run is caught and
    returned as a ``failed`` record carrying its one-line message (``KeyboardInterrupt`` and
    other non-``Exception`` signals propagate).
    """
    import torch

    from .runs import run_experiment

    _set_threads(threads)
    path = Path(run_dir)
    try:
        summary = run_experiment(config, path)
    except Exception as exc:  # one failing run must never stop the sweep
        return _failed(name, _one_line(exc))
    record = _record(name, path, summary)
    record["threads"] = torch.get_num_threads()
    return record


def _init_worker(threads: int) -> None:
    _set_threads(threads)


# ---------------------------------------------------------------------- the table


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return str(value)


def _table_bytes(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_csv_value(row.get(c)) for c in columns])
    return buf.getvalue().encode()


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def read_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a sweep's ``results.csv``: one dict per row, numbers parsed, empty cells ``None``."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"sweep table {str(p)!r} does not exist")
    with p.open(newline="") as f:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(f)]


# ---------------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes:
        out: the sweep directory; ``table``: path of ``results.csv``.
        total: runs in the grid; ``ok``, ``diverged``, ``failed``: their final statuses
            (``ok + diverged + failed == total`` after an uninterrupted call).
        executed: runs executed by this call; ``skipped``: runs found finished on disk.
        seconds: wall time of this call (a local Dask cluster's start and stop included).
        rows: the table's rows (grid order).
        failures: ``{run name: one-line error}``.
        report: the phase-transition summary (``[report]`` configs) or ``None``.
    """

    out: Path
    table: Path
    total: int
    ok: int
    diverged: int
    failed: int
    executed: int
    skipped: int
    seconds: float
    rows: list[dict[str, Any]]
    failures: dict[str, str]
    report: dict[str, Any] | None = None

    def describe(self) -> str:
        return (f"{self.total} runs: {self.ok} ok, {self.diverged} diverged, {self.failed} "
                f"failed ({self.executed} executed, {self.skipped} already done) in "
                f"{self.seconds:.1f} s; table: {self.table}")


def _normalised(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config, sort_keys=True))


def _check_existing(specs: Sequence[RunSpec], runs_dir: Path) -> list[bool]:
    """Whether each run is finished on disk; refuses directories holding other runs."""
    from .config import resolve_config

    done = []
    for spec in specs:
        d = runs_dir / spec.name
        cfg_file = d / "config.json"
        if cfg_file.is_file():
            try:
                old = json.loads(cfg_file.read_text())
            except (OSError, ValueError) as exc:
                raise DataError(f"cannot read {str(cfg_file)!r}: {exc}") from None
            if old != _normalised(resolve_config(spec.config)):
                raise ConfigError(f"run directory {str(d)!r} holds a run with a different "
                                  "configuration; expected this sweep's (use another --out)")
        done.append((d / "summary.json").is_file())
    return done


class _Progress:
    """Runs done / failed / remaining and an ETA, on stderr (tqdm); silent when quiet."""

    def __init__(self, name: str, total: int, done: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc=name, unit="run", file=sys.stderr,
                            dynamic_ncols=True, mininterval=0.5, smoothing=0.1)
        self.failed = 0
        self.diverged = 0

    def update(self, record: dict[str, Any]) -> None:
        self.failed += record["status"] == "failed"
        self.diverged += record["status"] == "diverged"
        if self.bar is not None:
            remaining = self.bar.total - self.bar.n - 1
            self.bar.set_postfix(failed=self.failed, diverged=self.diverged,
                                 remaining=remaining, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _check_backend(backend: str, jobs: int | None, address: str | None) -> int:
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKENDS)
    if jobs is None:
        jobs = 1 if backend == "inprocess" else max(1, os.cpu_count() or 1)
    jobs = _positive_int(jobs, "jobs")
    if address is not None and backend != "dask":
        raise ConfigError(f"address {address!r} applies to the dask backend only; got "
                          f"backend {backend!r}")
    if backend == "dask":
        with requires("sweep", feature="the sweep backend 'dask'"):
            import distributed  # noqa: F401
    return jobs


@contextlib.contextmanager
def _dask_client(jobs: int, address: str | None, n_tasks: int) -> Iterator[Any]:
    """A Dask client: of a new ``LocalCluster`` (``jobs`` single-threaded worker processes)
    or connected to the scheduler at ``address``; closed (with its cluster) on exit."""
    import logging

    with requires("sweep", feature="the sweep backend 'dask'"):
        from distributed import Client, LocalCluster

    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=max(1, min(jobs, n_tasks)), threads_per_worker=1,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address!r}: "
                              f"{_one_line(exc)}; expected a running scheduler") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dispatch(backend: str, tasks: list[tuple[str, dict, str]], jobs: int, client: Any,
              threads: int, on_done: Callable[[dict[str, Any]], None]) -> None:
    """Execute ``tasks`` (name, config, run_dir) on ``backend`` (``client``: the Dask client
    of the ``"dask"`` backend), calling ``on_done(record)`` in this process as each finishes
    (in completion order)."""
    if not tasks:
        return
    if backend == "inprocess":
        for name, config, run_dir in tasks:
            on_done(execute_run(name, config, run_dir, threads))
    elif backend == "processes":
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        pool = ProcessPoolExecutor(min(jobs, len(tasks)), mp_context=get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads,))
        try:
            futures = {pool.submit(execute_run, name, cfg, d, threads): name
                       for name, cfg, d in tasks}
            for fut in as_completed(futures):
                try:
                    record = fut.result()
                except Exception as exc:  # a worker process died (BrokenProcessPool, …)
                    record = _failed(futures[fut], _one_line(exc))
                on_done(record)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        with requires("sweep", feature="the sweep backend 'dask'"):
            from distributed import as_completed as dask_completed

        client.run(_init_worker, threads)
        dask_futures = {client.submit(execute_run, name, cfg, d, threads, pure=False): name
                        for name, cfg, d in tasks}
        try:
            for fut in dask_completed(list(dask_futures)):
                try:
                    record = fut.result()
                except Exception as exc:  # the worker died or the task could not run
                    record = _failed(dask_futures[fut], _one_line(exc))
                on_done(record)
        finally:  # one call: cancelling futures one by one is a round trip each
            client.cancel(list(dask_futures))


def _atomic(path: Path, data: bytes) -> None:
    from .runs import atomic_write

    atomic_write(path, data)


def _json(obj: Any) -> bytes:
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return (json.dumps(clean(obj), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def run_sweep(
    cfg: SweepConfig,
    out: str | os.PathLike[str],
    *,
    backend: str = "inprocess",
    jobs: int | None = None,
    address: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run every grid point of ``cfg`` not yet finished in ``out`` and aggregate the table.

    Args:
        backend: one of :data:`BACKENDS` (``"inprocess"`` by default).
        jobs: worker processes (``processes``/``dask`` on a local cluster; default: the CPU
            count). Ignored by ``inprocess``.
        address: a Dask scheduler address (``tcp://host:8786``) instead of a local cluster.
        threads: torch threads per worker (default: ``[sweep] threads``, itself 1). The
            in-process backend restores this process's setting afterwards.
        progress: the whole-sweep progress display on stderr (done / failed / remaining, ETA).
        on_result: called with each run's record in this process as it finishes (it may raise,
            e.g. ``KeyboardInterrupt``, to stop the sweep; finished runs stay finished).

    Returns:
        A :class:`SweepResult`. Failed runs do not raise: they are counted and listed.

    Raises:
        ConfigError: bad backend/jobs/address, an invalid run configuration, or ``out``
            holding runs of another configuration — all before any run starts.
    """

    jobs = _check_backend(backend, jobs, address)
    threads = cfg.threads if threads is None else _positive_int(threads, "threads")
    specs = expand_grid(cfg)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {str(out)!r} exists and is not a directory")
    runs_dir = out / "runs"
    done = _check_existing(specs, runs_dir) if runs_dir.is_dir() else [False] * len(specs)
    tasks = [(s.name, s.config, str(runs_dir / s.name)) for s, f in zip(specs, done) if not f]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        # connected (or the local cluster started) before anything is written
        client = (stack.enter_context(_dask_client(jobs, address, len(tasks)))
                  if backend == "dask" and tasks else None)
        return _run(cfg, out, specs, done, tasks, backend, jobs, client, threads, progress,
                    on_result, t0)


def _run(cfg: SweepConfig, out: Path, specs: list[RunSpec], done: list[bool],
         tasks: list[tuple[str, dict, str]], backend: str, jobs: int, client: Any,
         threads: int, progress: bool, on_result: Callable[[dict[str, Any]], None] | None,
         t0: float) -> SweepResult:
    import torch

    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _atomic(out / "sweep.json", _json({**cfg.to_json(), "runs": [s.name for s in specs]}))
    records: dict[str, dict[str, Any]] = {}
    for spec, finished in zip(specs, done):
        if finished:
            summary = json.loads((runs_dir / spec.name / "summary.json").read_text())
            records[spec.name] = _record(spec.name, runs_dir / spec.name, summary)
    skipped = len(records)
    axis_columns = list(specs[0].params) if specs else []
    columns = ["run", *axis_columns, *TABLE_COLUMNS]
    executed = 0

    def rows() -> list[dict[str, Any]]:
        return [{"run": s.name, **s.params, **records[s.name]} for s in specs
                if s.name in records]

    def write_state() -> None:
        _atomic(out / "results.csv", _table_bytes(columns, rows()))
        counts = {k: sum(r["status"] == k for r in records.values())
                  for k in ("ok", "diverged", "failed")}
        _atomic(out / "status.json", _json({
            "name": cfg.name, "total": len(specs), **counts,
            "pending": len(specs) - len(records), "executed": executed, "skipped": skipped,
            "seconds": time.perf_counter() - t0,
            "failures": {n: r["error"] for n, r in records.items() if r["status"] == "failed"},
        }))

    bar = _Progress(cfg.name, len(specs), skipped, progress)

    def finished_one(record: dict[str, Any]) -> None:
        nonlocal executed
        executed += 1
        records[record["name"]] = record
        write_state()
        bar.update(record)
        if on_result is not None:
            on_result(record)

    previous_threads = torch.get_num_threads()
    write_state()
    try:
        _dispatch(backend, tasks, jobs, client, threads, finished_one)
    finally:
        bar.close()
        if backend == "inprocess":
            torch.set_num_threads(previous_threads)
        write_state()
    table_rows = rows()
    report = None
    if cfg.report is not None:
        pt = phase_transition(table_rows, cfg.report)
        report = write_phase_transition(pt, out, cfg.name)
    failures = {n: r["error"] for n, r in records.items() if r["status"] == "failed"}
    return SweepResult(
        out=out, table=out / "results.csv", total=len(specs),
        ok=sum(r["status"] == "ok" for r in records.values()),
        diverged=sum(r["status"] == "diverged" for r in records.values()),
        failed=len(failures), executed=executed, skipped=skipped,
        seconds=time.perf_counter() - t0, rows=table_rows, failures=failures, report=report)


# ---------------------------------------------------------------------- phase transition


@dataclass
class PhaseTransition:
    """Success probabilities over a two-axis grid, one panel per value of ``panel``.

    ``probability[p][i, j] = successes / trials`` at ``y = ys[i]``, ``x = xs[j]`` of panel
    ``panels[p]`` (NaN without trials), where a trial is a finished run (ok or diverged; failed
    runs are left out and counted in ``excluded``) and a success is an ``ok`` run with
    ``relative_error < threshold``. ``transition[p][i]`` is the smallest ``x`` from which on
    the probability stays ``≥ level`` (``None``: never). ``dof[i]`` is the degrees-of-freedom
    count ``r(d1 + d2 − r)`` of rank ``r = ys[i]`` in the units of ``x`` (divided by
    ``d1·d2`` for ``x = problem.fraction``), when ``y`` is the rank and ``x`` a measurement
    count or ratio; else ``None``.
    """

    x: str
    y: str
    panel: str
    threshold: float
    level: float
    xs: list[Any]
    ys: list[Any]
    panels: list[Any]
    successes: list[list[list[int]]]
    trials: list[list[list[int]]]
    excluded: int
    shape: tuple[int, int] | None
    models: dict[str, str]

    @property
    def probability(self) -> list[list[list[float]]]:
        return [[[s / t if t else math.nan for s, t in zip(srow, trow)]
                 for srow, trow in zip(sp, tp)] for sp, tp in zip(self.successes, self.trials)]

    @property
    def transition(self) -> list[list[Any]]:
        out = []
        for prob in self.probability:
            per_y = []
            for row in prob:
                found = None
                for j in range(len(self.xs) - 1, -1, -1):
                    if not (row[j] >= self.level):  # NaN counts as not reached
                        break
                    found = self.xs[j]
                per_y.append(found)
            out.append(per_y)
        return out

    @property
    def dof(self) -> list[float] | None:
        if self.shape is None or self.y != "problem.rank" or self.x not in (
                "problem.fraction", "problem.m"):
            return None
        d1, d2 = self.shape
        counts = [float(r * (d1 + d2 - r)) for r in self.ys]
        return [c / (d1 * d2) for c in counts] if self.x == "problem.fraction" else counts

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "panel": self.panel, "threshold": self.threshold,
                "level": self.level, "xs": self.xs, "ys": self.ys, "panels": self.panels,
                "models": self.models, "successes": self.successes, "trials": self.trials,
                "probability": self.probability, "transition": self.transition,
                "dof": self.dof, "shape": self.shape, "excluded_failed_runs": self.excluded}


def phase_transition(rows: Sequence[dict[str, Any]], report: dict[str, Any]
                     ) -> PhaseTransition:
    """Success probabilities of a sweep table (rows of ``results.csv``) over the axes named in
    ``report`` (``x``, ``y``, ``panel``, ``threshold``, ``probability``: see
    :class:`PhaseTransition`)."""
    rep = {**_REPORT_KEYS, **report}
    x, y, panel = rep["x"], rep["y"], rep["panel"]
    threshold, level = float(rep["threshold"]), float(rep["probability"])
    for key in (x, y, panel):
        if rows and key not in rows[0]:
            raise ConfigError(f"column {key!r} is not in the sweep table; expected one of: "
                              f"{', '.join(sorted(rows[0]))}")

    def ordered(key: str) -> list[Any]:
        seen: list[Any] = []
        for r in rows:
            if r[key] not in seen:
                seen.append(r[key])
        try:
            return sorted(seen)
        except TypeError:
            return seen

    xs, ys = ordered(x), ordered(y)
    panels = [] if not rows else [v for v in dict.fromkeys(r[panel] for r in rows)]
    succ = [[[0] * len(xs) for _ in ys] for _ in panels]
    trials = [[[0] * len(xs) for _ in ys] for _ in panels]
    excluded = 0
    shapes = set()
    models: dict[str, str] = {}
    for r in rows:
        if r["status"] == "failed":
            excluded += 1
            continue
        p, i, j = panels.index(r[panel]), ys.index(r[y]), xs.index(r[x])
        trials[p][i][j] += 1
        err = r.get("relative_error")
        if r["status"] == "ok" and err is not None and err < threshold:
            succ[p][i][j] += 1
        if r.get("d1") is not None:
            shapes.add((int(r["d1"]), int(r["d2"])))
        models[str(r[panel])] = str(r.get("model"))
    shape = next(iter(shapes)) if len(shapes) == 1 else None
    return PhaseTransition(x, y, panel, threshold, level, xs, ys, panels, succ, trials,
                           excluded, shape, models)


_AXIS_LABELS = {"problem.fraction": "measurement ratio m / (d1·d2)",
                "problem.m": "measurements m", "problem.rank": "rank r"}


def _edges(values: Sequence[float]) -> list[float]:
    v = [float(a) for a in values]
    if len(v) == 1:
        return [v[0] - 0.5, v[0] + 0.5]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(v)]
    return [v[0] - (mids[0] - v[0]), *mids, v[-1] + (v[-1] - mids[-1])]


def plot_phase_transition(pt: PhaseTransition, path: str | os.PathLike[str],
                          title: str | None = None) -> Path:
    """Heat maps of the success probability, one panel per ``pt.panels`` side by side, one
    colour bar, the degrees-of-freedom curve ``m = r(d1 + d2 − r)`` overlaid (when defined).
    Written atomically as PNG (matplotlib, Agg)."""
    import numpy as np

    with requires("plots", feature="drawing the phase-transition figure"):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in (*pt.xs, *pt.ys))
    n = max(1, len(pt.panels))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 1.2, 3.6), squeeze=False,
                             constrained_layout=True)
    mesh = None
    dof = pt.dof
    for p, ax in enumerate(axes[0]):
        if p >= len(pt.panels):
            ax.set_axis_off()
            continue
        prob = np.array(pt.probability[p], dtype=float)
        if numeric:
            xe, ye = _edges(pt.xs), _edges(pt.ys)
            mesh = ax.pcolormesh(xe, ye, prob, cmap="viridis", vmin=0.0, vmax=1.0,
                                 shading="flat")
            ax.set_xticks([float(v) for v in pt.xs])
            ax.set_xticklabels([f"{v:g}" for v in pt.xs], rotation=90, fontsize=7)
            ax.set_yticks([float(v) for v in pt.ys])
            if dof is not None:
                ax.plot(dof, [float(v) for v in pt.ys], color="white", lw=2.0, marker="o",
                        ms=3, label="m = r(d1 + d2 − r)")
                ax.plot(dof, [float(v) for v in pt.ys], color="black", lw=0.8, ls="--")
                ax.set_xlim(xe[0], xe[-1])
        else:
            mesh = ax.imshow(prob, origin="lower", cmap="viridis", vmin=0.0, vmax=1.0,
                             aspect="auto")
            ax.set_xticks(range(len(pt.xs)), [str(v) for v in pt.xs], rotation=90)
            ax.set_yticks(range(len(pt.ys)), [str(v) for v in pt.ys])
        label = str(pt.panels[p])
        model = pt.models.get(label)
        ax.set_title(label if model in (None, label) else f"{label} ({model})")
        ax.set_xlabel(_AXIS_LABELS.get(pt.x, pt.x))
        if p == 0:
            ax.set_ylabel(_AXIS_LABELS.get(pt.y, pt.y))
            if dof is not None and numeric:
                ax.legend(loc="upper left", fontsize=7, framealpha=0.8)
    if mesh is not None:
        cbar = fig.colorbar(mesh, ax=axes[0].tolist(), shrink=0.9)
        cbar.set_label(f"P(relative error < {pt.threshold:g})")
    trials = max((t for tp in pt.trials for row in tp for t in row), default=0)
    shape = f", d1×d2 = {pt.shape[0]}×{pt.shape[1]}" if pt.shape else ""
    fig.suptitle(f"{title or 'phase transition'}{shape}, {trials} trial(s) per cell")
    target = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130)
    plt.close(fig)
    _atomic(target, buf.getvalue())
    return target


def write_phase_transition(pt: PhaseTransition, out: Path, name: str) -> dict[str, Any]:
    """Write ``phase_transition.{csv,json,png}`` into ``out``; returns the JSON content."""
    rows = []
    prob = pt.probability
    for p, label in enumerate(pt.panels):
        for i, yv in enumerate(pt.ys):
            for j, xv in enumerate(pt.xs):
                rows.append({pt.panel: label, pt.y: yv, pt.x: xv,
                             "successes": pt.successes[p][i][j],
                             "trials": pt.trials[p][i][j], "probability": prob[p][i][j]})
    cols = [pt.panel, pt.y, pt.x, "successes", "trials", "probability"]
    _atomic(out / "phase_transition.csv", _table_bytes(cols, rows))
    content = {"name": name, **pt.to_json()}
    _atomic(out / "phase_transition.json", _json(content))
    if pt.panels:
        plot_phase_transition(pt, out / "phase_transition.png", title=name)
    return content
