"""Memory checks for dense operators, made *before* anything is allocated.

A dense operator stores every sensing matrix: ``m·d1·d2`` numbers (165 GB for 30 % Gaussian
measurements of a 512×512 image in float64). :func:`check_dense_fits` compares the bytes a
problem would need with the memory available now and refuses with one line naming both and
the structured alternatives (``dct``, ``entries``: O(m) memory).
"""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError

__all__ = ["available_memory", "check_dense_fits", "dense_bytes", "format_bytes"]

#: Fraction of the available memory a dense operator may take.
USABLE_FRACTION = 0.8


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable`` on Linux, else the
    free physical pages); ``None`` when the platform does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def dense_bytes(m: int, shape: tuple[int, int], dtype: torch.dtype = torch.float64,
                copies: int = 1) -> int:
    """Bytes of ``copies`` dense ``(m, d1·d2)`` matrices in ``dtype``."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return int(copies) * int(m) * int(shape[0]) * int(shape[1]) * itemsize


def format_bytes(n: int | float) -> str:
    """``1.65e11`` → ``'165 GB'`` (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def check_dense_fits(need: int, what: str, limit: int | None = None) -> None:
    """Raise :class:`ConfigError` when ``need`` bytes exceed ``limit`` (default
    :data:`USABLE_FRACTION` of :func:`available_memory`); ``what`` names the operator."""
    if limit is None:
        avail = available_memory()
        if avail is None:
            return
        limit = int(USABLE_FRACTION * avail)
    if need > limit:
        raise ConfigError(
            f"{what} needs {format_bytes(need)} ({need} bytes) of memory, more than the "
            f"{format_bytes(limit)} usable here; use measurement 'dct' or 'entries' "
            "(structured, O(m) memory), fewer measurements or a smaller image"
        )
