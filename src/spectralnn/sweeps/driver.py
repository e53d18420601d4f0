"""The sweep driver: run every unfinished grid point on a backend, keep the table current."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write, write_json
from ..errors import ConfigError, DataError
from ..validate import positive_int
from .backends import check_backend, dask_client, dispatch
from .config import RunSpec, SweepConfig, expand_grid
from .report import write_phase_transition
from .table import TABLE_COLUMNS, run_record, table_bytes
from .transition import phase_transition

__all__ = ["SweepResult", "run_sweep"]


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
    from ..config import resolve_config

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

    jobs = check_backend(backend, jobs, address)
    threads = cfg.threads if threads is None else positive_int(threads, "threads")
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
        client = (stack.enter_context(dask_client(jobs, address, len(tasks)))
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
    write_json(out / "sweep.json", {**cfg.to_json(), "runs": [s.name for s in specs]})
    records: dict[str, dict[str, Any]] = {}
    for spec, finished in zip(specs, done):
        if finished:
            summary = json.loads((runs_dir / spec.name / "summary.json").read_text())
            records[spec.name] = run_record(spec.name, runs_dir / spec.name, summary)
    skipped = len(records)
    axis_columns = list(specs[0].params) if specs else []
    columns = ["run", *axis_columns, *TABLE_COLUMNS]
    executed = 0

    def rows() -> list[dict[str, Any]]:
        return [{"run": s.name, **s.params, **records[s.name]} for s in specs
                if s.name in records]

    def write_state() -> None:
        atomic_write(out / "results.csv", table_bytes(columns, rows()))
        counts = {k: sum(r["status"] == k for r in records.values())
                  for k in ("ok", "diverged", "failed")}
        write_json(out / "status.json", {
            "name": cfg.name, "total": len(specs), **counts,
            "pending": len(specs) - len(records), "executed": executed, "skipped": skipped,
            "seconds": time.perf_counter() - t0,
            "failures": {n: r["error"] for n, r in records.items() if r["status"] == "failed"},
        })

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
        dispatch(backend, tasks, jobs, client, threads, finished_one)
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
