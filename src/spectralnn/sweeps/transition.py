"""Phase transitions: success probabilities of a sweep table over two axes, per panel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .config import REPORT_DEFAULTS

__all__ = ["PhaseTransition", "phase_transition"]


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
    rep = {**REPORT_DEFAULTS, **report}
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
