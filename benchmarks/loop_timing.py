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
