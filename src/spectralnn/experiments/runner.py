"""``reproduce``: run figures, write their files atomically, then the report.

Layout of ``DIR`` after ``reproduce all --out DIR``::

    DIR/fig2/{summary.json, metrics.csv, fig2.png}
    DIR/fig3/...  DIR/fig4/...  DIR/fig5/...
    DIR/report.md  DIR/report.html

Each figure is produced in a hidden ``DIR/.<fig>.partial`` folder and renamed into place when
complete; a failure removes it, so a figure folder is either complete or absent.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .._cpus import usable_cpus
from .._io import atomic_write, json_bytes, jsonable
from ..errors import ConfigError, unknown_name
from ..metrics import METRIC_NAMES
from ..validate import positive_int
from . import pool
from .config import FIGURES, load_figure_config
from .figures import FIGURE_RUNNERS, FigureResult
from .report import build_report, render_html, render_markdown

__all__ = ["MAX_DEFAULT_JOBS", "default_jobs", "reproduce", "resolve_figures"]

#: Longest first: their pieces are queued first (the pool runs them in that order).
_COST_ORDER = ("fig5", "fig3", "fig4", "fig2")

#: The most worker processes ``reproduce all`` uses by default. Its two longest pieces (the
#: SNN's search and runs of Fig. 3 and of Fig. 4, one batched model each) take about an
#: eighth of the CPU time of the whole run, so more workers than 8 would wait on them.
MAX_DEFAULT_JOBS = 8


def default_jobs() -> int:
    """Worker processes when none are asked for: the usable CPUs (affinity and container
    quota, :func:`~spectralnn._cpus.usable_cpus`), at most :data:`MAX_DEFAULT_JOBS`."""
    return min(MAX_DEFAULT_JOBS, usable_cpus())


def resolve_figures(names: Sequence[str]) -> list[str]:
    """``["all"]`` → every figure; otherwise the names, checked, in the paper's order."""
    out: list[str] = []
    for name in names:
        if name == "all":
            out += list(FIGURES)
        elif name in FIGURES:
            out.append(name)
        else:
            raise unknown_name("figure", name, [*FIGURES, "all"])
    if not out:
        raise ConfigError("no figure given; expected one or more of: fig2, fig3, fig4, fig5, all")
    return sorted(set(out), key=FIGURES.index)


def _metrics_csv(result: FigureResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "problem", "learning_rate", *METRIC_NAMES])
    for rec in result.runs:
        for row in rec.result.history:
            writer.writerow([rec.model, rec.problem, rec.result.lr,
                             *(row.get(k, "") for k in METRIC_NAMES)])
    return buf.getvalue()


def _summary(result: FigureResult, seconds: float) -> dict[str, Any]:
    return jsonable({
        "figure": result.figure,
        "title": result.title,
        "seconds": seconds,
        "settings": result.settings,
        "runs": [rec.summary() for rec in result.runs],
        "findings": result.findings,
        "extra": result.extra,
        "pngs": result.pngs,
    })


def _run_figure(name: str, out: Path, quick: bool, overrides: dict[str, Any],
                progress: bool) -> dict[str, Any]:
    cfg = load_figure_config(name, quick=quick, overrides=overrides)
    final = out / name
    partial = out / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        t0 = time.perf_counter()
        result = FIGURE_RUNNERS[name](cfg, partial, progress)
        seconds = time.perf_counter() - t0
        summary = _summary(result, seconds)
        atomic_write(partial / "metrics.csv", _metrics_csv(result))
        atomic_write(partial / "summary.json", json_bytes(summary, sort_keys=False))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        return summary
    finally:
        shutil.rmtree(partial, ignore_errors=True)


class _PieceBar:
    """A progress bar of the pieces of work done out of those handed to the workers so far
    (the total grows as figures hand over more; thread-safe)."""

    def __init__(self, jobs: int) -> None:
        from tqdm.auto import tqdm

        self._lock = threading.Lock()
        self.bar = tqdm(total=0, desc=f"pieces on {jobs} processes", unit="piece", leave=False,
                        dynamic_ncols=True)

    def watch(self, future: Future[Any]) -> None:
        with self._lock:
            self.bar.total += 1
            self.bar.refresh()
        future.add_done_callback(self._done)

    def _done(self, _: Future[Any]) -> None:
        with self._lock:
            self.bar.update(1)

    def write(self, message: str, log: Callable[[str], None]) -> None:
        """``log(message)`` with the bar cleared and drawn again below it."""
        from tqdm import tqdm

        with self._lock, tqdm.external_write_mode():
            log(message)

    def close(self) -> None:
        with self._lock:
            self.bar.close()


def _run_figure_on(procs: ProcessPoolExecutor, jobs: int, name: str, out: Path, quick: bool,
                   overrides: dict[str, Any], watch: pool.Watch | None) -> dict[str, Any]:
    """:func:`_run_figure` in a thread of this process, its pieces on the worker processes."""
    with pool.using(procs, jobs, watch):
        return _run_figure(name, out, quick, overrides, False)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def reproduce(figures: Sequence[str], out: str | os.PathLike[str], *, quick: bool = False,
              overrides: dict[str, Any] | None = None, progress: bool = True,
              jobs: int | None = 1,
              threads: int = 1, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``figures`` (names or ``"all"``) into ``out`` and write the report.

    Args:
        jobs: worker processes; the figures' pieces (rate searches, slices of digits,
            solves: :mod:`spectralnn.experiments.pool`) share them (the progress bar then
            counts pieces done).
            ``None``: :func:`default_jobs`. Started as pieces arrive, so no more start than
            there are pieces. Every run is the same whatever ``jobs``.
        threads: PyTorch threads per process. The decompositions here are small: one thread
            is as fast as several, and processes sharing cores with several threads each slow
            down by orders of magnitude (measured: 5 ms → 340 ms per MNIST step).

    Returns ``{"figures": [summary, ...], "seconds": total, "report": path of report.md}``.
    Configuration errors are raised before anything is written.
    """
    names = resolve_figures(figures)
    overrides = dict(overrides or {})
    jobs = default_jobs() if jobs is None else jobs
    for what, value in (("jobs", jobs), ("threads", threads)):
        positive_int(value, what)
    for name in names:  # validate every configuration before any work
        load_figure_config(name, quick=quick, overrides=overrides)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()

    bar: _PieceBar | None = None

    def finished(name: str, summary: dict[str, Any]) -> None:
        done[name] = summary
        if log:
            message = f"{name}: done in {summary['seconds']:.1f} s -> {out / name}"
            if bar is None:
                log(message)
            else:
                bar.write(message, log)

    try:
        if jobs == 1:
            _init_worker(threads)
            for name in names:
                if log:
                    log(f"{name}: running{' (quick)' if quick else ''} ...")
                finished(name, _run_figure(name, out, quick, overrides, progress))
        else:
            order = sorted(names, key=_COST_ORDER.index)
            if log:
                log(f"running {', '.join(order)} on {jobs} processes"
                    f"{' (quick)' if quick else ''} ...")
            # One thread per figure here; their pieces share the worker processes
            # (experiments.pool), so no worker idles while another finishes a long figure.
            bar = _PieceBar(jobs) if progress else None
            watch = bar.watch if bar is not None else None
            try:
                with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                                         initializer=_init_worker,
                                         initargs=(threads,)) as procs, \
                        ThreadPoolExecutor(len(order)) as figs:
                    futures = {figs.submit(_run_figure_on, procs, jobs, n, out, quick,
                                           overrides, watch): n for n in order}
                    try:
                        for fut in as_completed(futures):
                            finished(futures[fut], fut.result())
                    except BaseException:
                        procs.shutdown(wait=False, cancel_futures=True)
                        raise
            finally:
                if bar is not None:
                    bar.close()
    except BaseException:
        if created and not done:
            shutil.rmtree(out, ignore_errors=True)
        raise
    total = time.perf_counter() - t0
    summaries = [done[n] for n in names]
    blocks = build_report(summaries, total, quick)
    atomic_write(out / "report.md", render_markdown(blocks))
    atomic_write(out / "report.html", render_html(blocks, out))
    return {"figures": summaries, "seconds": total, "report": str(out / "report.md")}
