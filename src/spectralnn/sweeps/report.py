"""The phase-transition report: ``phase_transition.{csv,json,png}`` (heat maps drawn without
pyplot, every file written atomically)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, write_json
from ..plotting import new_figure, save_figure
from .table import table_bytes
from .transition import PhaseTransition

__all__ = ["plot_phase_transition", "write_phase_transition"]


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
    Written atomically as PNG."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in (*pt.xs, *pt.ys))
    n = max(1, len(pt.panels))
    fig, axes = new_figure(1, n, figsize=(3.6 * n + 1.2, 3.6), squeeze=False,
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
    return save_figure(fig, Path(path), dpi=130)


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
    atomic_write(out / "phase_transition.csv", table_bytes(cols, rows))
    content = {"name": name, **pt.to_json()}
    write_json(out / "phase_transition.json", content)
    if pt.panels:
        plot_phase_transition(pt, out / "phase_transition.png", title=name)
    return content
