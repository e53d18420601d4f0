"""Where sweep runs execute: in this process, in ``spawn`` worker processes, or on Dask."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .._cpus import usable_cpus
from .._optional import requires
from ..errors import ConfigError, unknown_name
from ..validate import positive_int
from .table import failed_record
from .worker import execute_run, init_worker, one_line

__all__ = ["BACKENDS", "check_backend", "dask_client", "dispatch", "sigint_ignored_in_children"]

BACKENDS = ("dask", "inprocess", "processes")


def check_backend(backend: str, jobs: int | None, address: str | None) -> int:
    """The number of worker processes; refuses an unknown backend or bad settings."""
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKENDS)
    if jobs is None:
        jobs = 1 if backend == "inprocess" else usable_cpus()
    jobs = positive_int(jobs, "jobs")
    if address is not None and backend != "dask":
        raise ConfigError(f"address {address!r} applies to the dask backend only; got "
                          f"backend {backend!r}")
    if backend == "dask":
        with requires("sweep", feature="the sweep backend 'dask'"):
            import distributed  # noqa: F401
    return jobs


@contextlib.contextmanager
def sigint_ignored_in_children() -> Iterator[None]:
    """Ignore SIGINT while child processes start, so that they inherit "ignored": Ctrl-C then
    reaches only this process, which stops the sweep and closes the cluster (terminating the
    workers), instead of every worker and nanny printing its own KeyboardInterrupt traceback.
    A Ctrl-C during those seconds of start-up is lost. Outside the main thread: no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def dask_client(jobs: int, address: str | None, n_tasks: int) -> Iterator[Any]:
    """A Dask client: of a new ``LocalCluster`` (``jobs`` single-threaded worker processes)
    or connected to the scheduler at ``address``; closed (with its cluster) on exit."""
    import logging

    with requires("sweep", feature="the sweep backend 'dask'"):
        from distributed import Client, LocalCluster

    cluster = None
    if address is None:
        with sigint_ignored_in_children():
            cluster = LocalCluster(n_workers=max(1, min(jobs, n_tasks)), threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout="30s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot connect to the Dask scheduler at {address!r}: "
                              f"{one_line(exc)}; expected a running scheduler") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dispatch(backend: str, tasks: list[tuple[str, dict, str]], jobs: int, client: Any,
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
                                   initializer=init_worker, initargs=(threads,))
        try:
            futures = {pool.submit(execute_run, name, cfg, d, threads): name
                       for name, cfg, d in tasks}
            for fut in as_completed(futures):
                try:
                    record = fut.result()
                except Exception as exc:  # a worker process died (BrokenProcessPool, …)
                    record = failed_record(futures[fut], one_line(exc))
                on_done(record)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    else:
        with requires("sweep", feature="the sweep backend 'dask'"):
            from distributed import as_completed as dask_completed

        client.run(init_worker, threads)
        dask_futures = {client.submit(execute_run, name, cfg, d, threads, pure=False): name
                        for name, cfg, d in tasks}
        try:
            for fut in dask_completed(list(dask_futures)):
                try:
                    record = fut.result()
                except Exception as exc:  # the worker died or the task could not run
                    record = failed_record(dask_futures[fut], one_line(exc))
                on_done(record)
        finally:  # one call: cancelling futures one by one is a round trip each
            client.cancel(list(dask_futures))
