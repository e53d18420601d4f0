"""Where the figures' pieces of work run: at once, or on the worker processes of ``reproduce``.

A figure hands its independent pieces (a model's rate search, a slice of digits, one solve) to
:func:`submit` and collects the futures. Without a pool each piece runs at once, in order, in
the calling process. Under :func:`using` (what ``reproduce --jobs N`` does, one thread per
figure) the pieces of every figure share ``N`` worker processes, first submitted first run, so
the workers stay busy until the end instead of each waiting on one whole figure.

A piece is a module-level function and picklable arguments; it returns a picklable value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["submit", "using", "workers"]

T = TypeVar("T")

#: ``watch(future)``: told of every piece handed to the pool (a progress bar counts them).
Watch = Callable[[Future[Any]], None]

#: (executor, its number of workers, watch or None), or None: run at once.
_POOL: ContextVar[tuple[Executor, int, Watch | None] | None] = ContextVar(
    "spectralnn_figure_pool", default=None)


def submit(fn: Callable[..., T], *args: Any) -> Future[T]:
    """``fn(*args)`` on the current pool (see :func:`using`), or run now when there is none
    (its exception, if any, is raised by the future's ``result()``)."""
    current = _POOL.get()
    if current is not None:
        executor, _, watch = current
        future = executor.submit(fn, *args)
        if watch is not None:
            watch(future)
        return future
    fut: Future[T] = Future()
    try:
        fut.set_result(fn(*args))
    except Exception as exc:  # delivered by result(), as from a pool
        fut.set_exception(exc)
    return fut


def workers() -> int:
    """How many pieces can run at once: the pool's workers, 1 without a pool."""
    current = _POOL.get()
    return 1 if current is None else current[1]


@contextmanager
def using(executor: Executor, count: int, watch: Watch | None = None) -> Iterator[None]:
    """Send :func:`submit` calls of this thread (context) to ``executor`` (``count``
    workers) inside the block; ``watch(future)`` is called with each piece's future."""
    token = _POOL.set((executor, count, watch))
    try:
        yield
    finally:
        _POOL.reset(token)
