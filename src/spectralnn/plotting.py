"""Figures without pyplot: matplotlib ``Figure`` objects rendered to PNG, written atomically.

The library never selects a matplotlib backend (``matplotlib.use``) and never registers its
figures with ``pyplot``: importing or running spectralnn leaves a user's backend and open
figures untouched, and a figure needs no explicit closing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from matplotlib.colors import Colormap
from matplotlib.figure import Figure

from ._io import atomic_write

__all__ = ["colormap", "new_figure", "save_figure"]


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
               squeeze: bool = True, **subplot_kw: Any) -> tuple[Figure, Any]:
    """``(figure, axes)`` like ``pyplot.subplots`` (``axes`` a single Axes, or an array of
    shape ``(nrows, ncols)`` squeezed as there), but not registered with pyplot."""
    layout = subplot_kw.pop("layout", None)
    if subplot_kw.pop("constrained_layout", False):
        layout = "constrained"
    fig = Figure(figsize=figsize, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def colormap(name: str) -> Colormap:
    """The registered matplotlib colormap ``name`` (``"viridis"``, ``"tab10"``, …)."""
    import matplotlib

    return matplotlib.colormaps[name]


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 130,
                **savefig_kw: Any) -> Path:
    """Render ``fig`` as PNG into ``path`` atomically (whole file or none)."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, **savefig_kw))


