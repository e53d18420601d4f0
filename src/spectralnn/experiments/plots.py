"""Figures in the paper's layout (matplotlib figures rendered to PNG; no pyplot, no backend
switch: see :mod:`spectralnn.plotting`).

- :func:`plot_training_panels`: training error, nuclear norm and the 3 leading singular values
  against iteration, one curve per (model, learning rate) — paper Figs. 2–3.
- :func:`plot_image_evolution`: reconstructions over time, one row per (model, rate) — Fig. 4.
- :func:`plot_image_grid`: ground truth / model rows for several digits — Fig. 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import plotting
from ..plotting import Figure, colormap, new_figure

__all__ = ["Curve", "plot_image_evolution", "plot_image_grid", "plot_training_panels",
           "save_figure"]

_LINESTYLES = {"snn": "-", "lg": "--", "df": ":", "woa": "-.", "reduced": "-"}


@dataclass
class Curve:
    """One run's history for :func:`plot_training_panels`."""

    model: str
    lr: float
    history: list[dict[str, float]]
    diverged: bool = False
    extra: dict = field(default_factory=dict)

    def column(self, key: str) -> np.ndarray:
        return np.array([row.get(key, np.nan) for row in self.history], dtype=float)


def save_figure(fig: Figure, path: Path, dpi: int = 130) -> Path:
    """Write ``fig`` to ``path`` atomically as PNG, cropped to its content."""
    return plotting.save_figure(fig, path, dpi=dpi, bbox_inches="tight")


def _label(c: Curve, several_models: bool) -> str:
    lr = f"lr={c.lr:g}"
    text = f"{c.model.upper()} {lr}" if several_models else lr
    return text + (" (diverged)" if c.diverged else "")


#: Above this many curves the legend has one entry per model (shades of one colour map, darker
#: = larger learning rate) instead of one per curve.
_LEGEND_PER_CURVE = 10
_MODEL_MAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")


def _styles(curves: Sequence[Curve], several: bool) -> tuple[list, list[str | None]]:
    """Colours and legend labels of ``curves``: one colour and entry per curve, or, for more
    than :data:`_LEGEND_PER_CURVE` curves, one colour map and one entry per model."""
    if len(curves) <= _LEGEND_PER_CURVE:
        cmap = colormap("tab10")
        return ([cmap(i % cmap.N) for i in range(len(curves))],
                [_label(c, several) for c in curves])
    models = list(dict.fromkeys(c.model for c in curves))
    colors: list = [None] * len(curves)
    labels: list[str | None] = [None] * len(curves)
    for k, model in enumerate(models):
        mine = sorted((i for i, c in enumerate(curves) if c.model == model),
                      key=lambda i: curves[i].lr)
        cmap = colormap(_MODEL_MAPS[k % len(_MODEL_MAPS)])
        for rank, i in enumerate(mine):
            colors[i] = cmap(0.35 + 0.6 * rank / max(len(mine) - 1, 1))
        rates = [curves[i].lr for i in mine]
        gone = sum(curves[i].diverged for i in mine)
        text = (f"{model.upper()}: {len(mine)} rates {min(rates):g}…{max(rates):g}, darker = "
                f"larger" if len(mine) > 1 else _label(curves[mine[0]], several))
        labels[mine[-1]] = text + (f" ({gone} diverged)" if gone and len(mine) > 1 else "")
    return colors, labels


def plot_training_panels(curves: Sequence[Curve], path: Path, title: str,
                         reference_nuclear_norm: float | None = None,
                         reference_label: str = "min-nuclear-norm solution") -> Path:
    """Three panels against iteration: training error (log scale), nuclear norm, and the
    three leading singular values (one colour per curve; sv1 solid, sv2 dashed, sv3 dotted)."""
    fig, axes = new_figure(1, 3, figsize=(16, 4.6))
    several = len({c.model for c in curves}) > 1
    colors, labels = _styles(curves, several)
    for c, color, label in zip(curves, colors, labels):
        ls = _LINESTYLES.get(c.model, "-") if several else "-"
        step = c.column("step")
        axes[0].plot(step, c.column("train_loss"), ls, color=color, label=label, lw=1.4)
        axes[1].plot(step, c.column("nuclear_norm"), ls, color=color, label=label, lw=1.4)
        for key, sv_ls in (("sv1", "-"), ("sv2", "--"), ("sv3", ":")):
            axes[2].plot(step, c.column(key), sv_ls, color=color, lw=1.2,
                         label=label if key == "sv1" else None)
    if reference_nuclear_norm is not None:
        axes[1].axhline(reference_nuclear_norm, color="black", lw=1.0, ls="-.",
                        label=reference_label)
    axes[0].set_yscale("log")
    axes[0].set_title("training error")
    axes[0].set_ylabel(r"$\frac{1}{2m}\sum_i(\langle A_i, X\rangle - y_i)^2$")
    axes[1].set_title("nuclear norm")
    axes[1].set_ylabel(r"$\|X\|_*$")
    axes[2].set_title("3 leading singular values (solid, dashed, dotted)")
    axes[2].set_ylabel(r"$\sigma_1, \sigma_2, \sigma_3$")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.grid(True, alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.suptitle(title)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=9,
               ncol=min(5, len(labels)), frameon=False)
    return save_figure(fig, path)


def _show(ax: Any, img: np.ndarray, title: str | None = None) -> None:
    ax.imshow(np.clip(img, 0, 255), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def plot_image_evolution(rows: Sequence[tuple[str, Sequence[tuple[int, np.ndarray]]]],
                         truth: np.ndarray, path: Path, title: str) -> Path:
    """Rows of ``(label, [(step, image in pixels), ...])``; the ground truth ends each row."""
    ncols = max(len(snaps) for _, snaps in rows) + 1
    fig, axes = new_figure(len(rows), ncols, figsize=(1.35 * ncols + 1.2, 1.45 * len(rows)),
                             squeeze=False)
    for r, (label, snaps) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            if c < len(snaps):
                step, img = snaps[c]
                _show(ax, img, f"step {step}")
            elif c == ncols - 1:
                _show(ax, truth, "truth")
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_image_grid(columns: Sequence[str], rows: Sequence[tuple[str, Sequence[np.ndarray]]],
                    path: Path, title: str, captions: Sequence[Sequence[str]] | None = None
                    ) -> Path:
    """A grid: one row per ``(label, images)``, one column per entry of ``columns``;
    ``captions[r][c]`` is written under each image (e.g. its relative error)."""
    n = len(columns)
    fig, axes = new_figure(len(rows), n, figsize=(1.3 * n + 1.2, 1.55 * len(rows)),
                             squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, img in enumerate(images):
            _show(axes[r, c], img, columns[c] if r == 0 else None)
            if captions is not None and captions[r][c]:
                axes[r, c].set_xlabel(captions[r][c], fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)
