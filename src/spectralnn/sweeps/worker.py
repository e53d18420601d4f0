"""One sweep run, as every backend's workers execute it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .table import failed_record, run_record

__all__ = ["execute_run", "init_worker", "one_line"]


def one_line(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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

    from ..runs import run_experiment

    _set_threads(threads)
    path = Path(run_dir)
    try:
        summary = run_experiment(config, path)
    except Exception as exc:  # one failing run must never stop the sweep
        return failed_record(name, one_line(exc))
    record = run_record(name, path, summary)
    record["threads"] = torch.get_num_threads()
    return record


def init_worker(threads: int) -> None:
    """Initialiser of a worker process: ``torch.set_num_threads(threads)``."""
    _set_threads(threads)
