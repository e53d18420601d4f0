"""Training at several learning rates: one batched model, one replica per rate, and the
paper's learning-rate search. The one path used by the figures, run directories and sweeps.

- :func:`fit_rates`: stack a model into ``R`` replicas (the same initialisation for every
  rate, as in the paper) and train them together; returns the results and the final state.
- :func:`sweep`: :func:`fit_rates` returning only the results.
- :func:`search_rates`: the paper's screening: try the rates of a grid (descending), a few at
  a time, each for ``steps`` steps, and keep the first ``keep`` that do not diverge.
- :func:`paper_lr_search`: screening, then (with ``probe_steps < steps``) the kept rates
  trained for the full ``steps``.

``probe_steps=None`` means "screen on full-length runs" everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .errors import ConfigError, ShapeError
from .metrics import RunResult
from .trainer import Trainer
from .validate import int_at_least, learning_rates

if TYPE_CHECKING:
    from .sensing.problem import SensingProblem

__all__ = ["fit_rates", "paper_lr_grid", "paper_lr_search", "probe_length", "search_rates",
           "stack_models", "sweep"]

ModelFactory = Callable[[int | None], nn.Module]
#: ``on_update(k, model)``: called with the batched model after ``k`` updates (``k = 0``
#: before the first; the last call has ``k = steps``).
OnUpdate = Callable[[int, nn.Module], None]


def paper_lr_grid(k_max: int = 1, k_min: int = -11) -> list[float]:
    """The paper's learning-rate grid ``{5, 1} × 10^k``, ``k = k_max, …, k_min``, descending:
    ``[50, 10, 5, 1, 0.5, 0.1, …, 5e-11, 1e-11]``."""
    out = []
    for k in range(k_max, k_min - 1, -1):
        out += [float(f"5e{k}"), float(f"1e{k}")]
    return out


def stack_models(batched: nn.Module, models: Sequence[nn.Module]) -> nn.Module:
    """Copy the parameters of ``R`` single models into ``batched`` (built with ``replicas=R``),
    so that replica ``r`` is exactly ``models[r]``; returns ``batched``.

    Parameter names must match, and each batched parameter must be ``(R, *single.shape)``.
    """
    singles = [dict(m.named_parameters()) for m in models]
    with torch.no_grad():
        for name, p in batched.named_parameters():
            try:
                stacked = torch.stack([s[name].detach() for s in singles])
            except KeyError:
                raise ConfigError(f"parameter {name!r} of the batched model is missing in the "
                                  "single models") from None
            if stacked.shape != p.shape:
                raise ShapeError(f"parameter {name!r}: stacked shape {tuple(stacked.shape)}, "
                                 f"expected {tuple(p.shape)}")
            p.copy_(stacked)
    return batched


def fit_rates(make_model: ModelFactory, problem: SensingProblem, lrs: Sequence[float], steps: int,
              *, state: dict[str, Any] | None = None,
              on_checkpoint: Callable[[int, dict[str, Any]], None] | None = None,
              callback: Callable[[int, dict[str, Any]], None] | None = None,
              on_update: OnUpdate | None = None,
              **options: Any) -> tuple[list[RunResult], dict[str, Any]]:
    """Train one replica per learning rate, all from ``make_model(None)``'s initialisation.

    Args:
        make_model: ``make_model(replicas)`` builds the model (``None``: a single one; ``R``:
            the batched one).
        lrs: the rates, one replica each.
        steps, options: as for :class:`~spectralnn.trainer.Trainer`.
        state, on_checkpoint, callback: as for :meth:`~spectralnn.trainer.Trainer.fit`.
        on_update: ``on_update(k, model)`` with the batched model after ``k`` updates.

    Returns:
        ``(one RunResult per rate in order, the final training state)``.
    """
    rates = learning_rates(list(lrs))
    single = make_model(None)
    batched = stack_models(make_model(len(rates)), [single] * len(rates))
    trainer = Trainer(steps, rates, **options)
    hook = callback
    if on_update is not None:
        on_update(0, batched)

        def hook(t: int, info: dict[str, Any]) -> None:
            if callback is not None:
                callback(t, info)
            on_update(min(t + 1, steps), batched)

    out = trainer.fit(batched, problem, state=state, on_checkpoint=on_checkpoint,
                      callback=hook)
    results = out if isinstance(out, list) else [out]
    return results, trainer.state_


def sweep(make_model: ModelFactory, problem: SensingProblem, lrs: Sequence[float], steps: int,
          **options: Any) -> list[RunResult]:
    """Train one run per learning rate, all together as one batched model (see
    :func:`fit_rates`). Diverged rates are flagged and keep their history; the others are
    unaffected by them. Returns one :class:`~spectralnn.metrics.RunResult` per rate."""
    return fit_rates(make_model, problem, lrs, steps, **options)[0]


def search_rates(make_model: ModelFactory, problem: SensingProblem, steps: int, *, keep: int = 5,
                 grid: Sequence[float] | None = None, chunk: int | None = None,
                 width: int | None = None,
                 **options: Any) -> tuple[list[RunResult], list[float]]:
    """The paper's screening: try the rates of ``grid`` (default :func:`paper_lr_grid`,
    descending) ``chunk`` at a time (default ``keep + 2``) as one batched model of ``steps``
    steps, and keep the first ``keep`` that do not diverge.

    ``width`` (a multiple of ``chunk``; default ``chunk``) rates are trained at once: the
    next chunks run in the same batch, ahead of need. The outcome is that of chunk by chunk —
    a chunk's runs count only when the chunks before it left fewer than ``keep``, and each run
    keeps the rows its own chunk's batch logs (rows logged when a replica of another chunk
    froze are dropped) — up to round-off: the number of replicas may change the last bits of
    batched products. Wider batches pay when a step costs about the same for any number of
    replicas (small problems) and the first chunk does not suffice; without ``max_seconds``
    or ``callback`` only.

    Returns:
        ``(the kept runs, every rate tried that diverged)``.

    Raises:
        ConfigError: when fewer than ``keep`` rates of the grid survive.
    """
    grid = paper_lr_grid() if grid is None else learning_rates(list(grid))
    keep = int_at_least(keep, "keep", 1)
    chunk = keep + 2 if chunk is None else int_at_least(chunk, "chunk", 1)
    width = chunk if width is None else int_at_least(width, "width", 1)
    if width % chunk:
        raise ConfigError(f"width must be a multiple of chunk = {chunk}, got {width}")
    if options.get("max_seconds") is not None or options.get("callback") is not None:
        width = chunk  # a time budget or a callback sees the whole batch
    log_every = Trainer(steps, 1.0, **options).log_every if width > chunk else 0
    kept: list[RunResult] = []
    rejected: list[float] = []
    i = 0
    while len(kept) < keep and i < len(grid):
        rates = grid[i : i + width]
        i += len(rates)
        results = sweep(make_model, problem, rates, steps, **options)
        for c in range(0, len(results), chunk):
            if len(kept) >= keep:
                break
            group = results[c : c + chunk]
            if width > chunk:
                _own_chunk_history(group, steps, log_every)
            for res in group:
                if res.diverged:
                    rejected.append(res.rate)
                elif len(kept) < keep:
                    kept.append(res)
    if len(kept) < keep:
        raise ConfigError(f"only {len(kept)} of the {len(grid)} learning rates did not "
                          f"diverge; expected at least keep={keep}")
    return kept, rejected


def _own_chunk_history(group: list[RunResult], steps: int, log_every: int) -> None:
    """Histories of ``group`` (one chunk of a wider batch) as the chunk's own batch logs them:
    rows every ``log_every`` steps, at the last step, and when a replica of the chunk froze
    (diverged or converged); the rows logged for other replicas' freezes are dropped."""
    froze = {s for r in group for s in (r.diverged_step, r.converged_step) if s is not None}
    for res in group:
        res.history = [row for row in res.history
                       if (t := int(row["step"])) % log_every == 0 or t == steps or t in froze]


def probe_length(steps: int, probe_steps: int | None) -> int:
    """Length of the screening runs: ``probe_steps`` capped at ``steps``; ``None`` means
    full-length runs (the paper's procedure). The one meaning of ``probe_steps`` in the
    library (:func:`paper_lr_search` and run configurations with ``lr = "search"``)."""
    if probe_steps is None:
        return steps
    return min(int_at_least(probe_steps, "probe_steps", 1), steps)


def paper_lr_search(make_model: ModelFactory, problem: SensingProblem, steps: int, *, keep: int = 5,
                    grid: Sequence[float] | None = None, probe_steps: int | None = None,
                    chunk: int | None = None, width: int | None = None,
                    on_update: OnUpdate | None = None,
                    **options: Any) -> tuple[list[RunResult], list[float]]:
    """The paper's learning-rate search: :func:`search_rates` (``chunk``, ``width``: as there)
    on ``probe_steps``-step runs
    (``None``: full ``steps``-step runs, exactly the paper's procedure), then, when the
    probes were shorter (or ``on_update`` asks to watch the runs), the kept rates trained for
    ``steps`` in one batched :func:`fit_rates` (a rate that survives a probe may still
    diverge later: it is reported).

    Returns:
        ``(results of the kept rates, every rate tried that diverged)``.

    Raises:
        ConfigError: when fewer than ``keep`` rates of the grid survive.
    """
    probe = probe_length(steps, probe_steps)
    kept, rejected = search_rates(make_model, problem, probe, keep=keep, grid=grid,
                                  chunk=chunk, width=width, **options)
    if probe < steps or on_update is not None:
        kept, _ = fit_rates(make_model, problem, [r.rate for r in kept], steps,
                            on_update=on_update, **options)
    return kept, rejected
