"""Time per step of the library's own training loop (``Trainer.fit``), for the benchmarks.

A callback stamps the clock after every step (synchronising the device first); the time of a
step is the gap between two stamps. Steps 0 and the last log (and the last does no update), so
only the gaps in between are kept, after ``warmup`` of them; the median is returned.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any


def trainer_step_seconds(model: Any, problem: Any, lr: float, *, reps: int, warmup: int = 3,
                         **options: Any) -> float:
    """Median seconds per plain GD step of ``Trainer(...).fit(model, problem)`` (the eager
    loop: forward, loss, divergence check, backward, update), over ``reps`` steps after
    ``warmup``. ``options`` go to the :class:`~spectralnn.trainer.Trainer`."""
    import torch

    from spectralnn.trainer import Trainer

    device = problem.y.device
    stamps: list[float] = []

    def stamp(step: int, info: dict) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        stamps.append(time.perf_counter())

    steps = warmup + reps + 1
    options = {"log_every": steps + 1, "metrics": False, **options}
    Trainer(steps, lr, **options).fit(model, problem, callback=stamp)
    per_step = [b - a for a, b in itertools.pairwise(stamps)][: steps - 1]
    return statistics.median(per_step[warmup:])


def captured_step_seconds(model: Any, problem: Any, lr: float, *, reps: int,
                          inverse: str = "auto") -> tuple[float, dict]:
    """Seconds per step of the trainer's captured backend (``Trainer(step="captured")``: a
    CUDA graph per step, eager off CUDA), from two blocks of ``reps`` steps: the first warms
    up, the second is timed, with its end-of-block check. Returns ``(seconds, info)`` with the
    run's ``info`` (``graphed``, ``doublings``)."""
    from spectralnn.trainer import Trainer

    res = Trainer(2 * reps, lr, step="captured",
                  step_options={"check_every": reps, "inverse": inverse}).fit(model, problem)
    first = res[0] if isinstance(res, list) else res
    if first.status != "budget_reached" or len(first.history) != 2:
        raise RuntimeError(f"the captured run ended {first.status!r} after {first.steps} steps")
    block = first.history[1]["seconds"] - first.history[0]["seconds"]
    return block / reps, first.info
