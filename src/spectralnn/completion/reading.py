"""Reading incomplete matrices: ``.npy`` / ``.csv`` / ``.tsv`` with NaN or empty cells, and
images with a mask (``--mask``) or an alpha channel.

Conventions (one place, documented in ``docs/completion.md``):

- **Matrices.** ``.npy``: a 2-D real array, NaN marks a missing entry. ``.csv`` / ``.tsv``:
  a table of numbers, with or without a header row and a label column, empty / ``NA`` /
  ``NaN`` cells for missing entries, the separator detected
  (:mod:`spectralnn.completion.tables`). ±Inf is refused everywhere.
- **Images** (PNG, JPEG, BMP, TIFF, …): values in ``[0, 255]``; a colour image keeps its
  R, G, B channels (``Incomplete.colour``) besides its luminance
  ``0.2125 R + 0.7154 G + 0.0721 B`` (``Incomplete.values``). A pixel is observed where its
  **alpha is nonzero** (images with an alpha channel) and where the **mask is nonzero**
  (``mask``: an image, any channel nonzero, or a ``.npy`` array, nonzero / True). With both,
  both must hold.
- A mask also applies to matrices (entries where it is zero count as missing).

Arrays and images are read by the one reader of matrix files,
:func:`spectralnn.data.load_matrix` with ``allow_missing=True`` (images through
:func:`spectralnn.data.read_image`); tables by :mod:`spectralnn.completion.tables`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._compressed import format_suffix, is_compressed
from ..data import load_matrix, open_image, read_image
from ..errors import DataError, ShapeError
from .tables import Table, read_table

__all__ = [
    "IMAGE_SUFFIXES",
    "MATRIX_SUFFIXES",
    "Incomplete",
    "read_incomplete",
    "read_mask",
]

MATRIX_SUFFIXES = (".npy", ".csv", ".tsv")
#: Tables, read also compressed (``.csv.gz``, ``.tsv.xz``, …: :mod:`spectralnn._compressed`).
TABLE_SUFFIXES = (".csv", ".tsv")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
_MISSING_CELLS = ("", "nan")


@dataclass(frozen=True)
class Incomplete:
    """A matrix with missing entries.

    Attributes:
        values: ``(d1, d2)`` float64, NaN where missing.
        kind: ``"npy"``, ``"csv"``, ``"tsv"`` or ``"image"``.
        suffix: the input file's extension (lower case, with the dot), e.g. ``".png"``.
        colour: for a colour image, ``(3, d1, d2)`` float64 R, G, B in ``[0, 255]``, NaN
            where missing; else ``None``.
        table: for ``.csv`` / ``.tsv``, the table as read (header, labels, cells as typed).
    """

    values: np.ndarray
    kind: str
    suffix: str
    colour: np.ndarray | None = None
    table: Table | None = None

    @property
    def observed(self) -> np.ndarray:
        """``(d1, d2)`` bool, True where observed."""
        return ~np.isnan(self.values)


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DataError(f"{what} {str(path)!r} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {str(path)!r} is empty; expected data")


def read_mask(path: str | os.PathLike[str], shape: tuple[int, int]) -> np.ndarray:
    """``(d1, d2)`` bool, True = observed: an image (nonzero in any colour channel; alpha is
    ignored) or a ``.npy`` array (nonzero / True). Must have ``shape``."""
    p = Path(path)
    _check_file(p, "mask")
    if p.suffix.lower() == ".npy":
        arr = load_matrix(p, allow_missing=True).numpy()
        if np.isnan(arr).any():
            raise DataError(f"mask {str(p)!r} contains NaN; expected 0/1 or booleans")
        mask = arr != 0
    else:
        with open_image(p) as img:
            if img.mode in ("1", "L", "I", "I;16", "F"):
                mask = np.asarray(img) != 0
            else:
                mask = (np.asarray(img.convert("RGB")) != 0).any(axis=-1)
    if mask.shape != tuple(shape):
        raise ShapeError(f"mask {str(p)!r} has shape {mask.shape}; expected {tuple(shape)}, "
                         "the input's shape")
    return mask


def read_incomplete(path: str | os.PathLike[str], mask: str | os.PathLike[str] | None = None,
                    *, header: bool | None = None, index_col: int | str | bool | None = None,
                    delimiter: str | None = None) -> Incomplete:
    """Read a matrix with missing entries (see the module's conventions); ``mask``: optional
    file marking the observed entries; ``header``, ``index_col``, ``delimiter``: for tables
    (:func:`~spectralnn.completion.tables.read_table`; None: detected). Raises
    :class:`~spectralnn.errors.DataError` /
    :class:`~spectralnn.errors.ShapeError` on anything unreadable, and when nothing is
    observed."""
    p = Path(path)
    suffix = format_suffix(p)
    if suffix not in MATRIX_SUFFIXES + IMAGE_SUFFIXES:
        raise DataError(f"input {str(p)!r} has extension {suffix or '(none)'!r}; expected one of "
                        f"{', '.join(MATRIX_SUFFIXES + IMAGE_SUFFIXES)} (or --triplets for a "
                        "table of row, column, value)")
    if is_compressed(p) and suffix not in TABLE_SUFFIXES:
        raise DataError(f"input {str(p)!r} is a compressed {suffix} file; expected a "
                        f"compressed table ({', '.join(TABLE_SUFFIXES)}), or the {suffix} "
                        "file itself")
    _check_file(p, "input")
    colour = None
    table = None
    if suffix == ".npy":
        values, kind = load_matrix(p, allow_missing=True).numpy(), "npy"
    elif suffix in TABLE_SUFFIXES:
        table = read_table(p, delimiter=delimiter, header=header, index_col=index_col)
        values, kind = table.values, suffix[1:]
    else:
        (values, colour), kind = read_image(p, allow_missing=True), "image"
    if mask is not None:
        keep = read_mask(mask, values.shape)
        values = np.where(keep, values, math.nan)
        if colour is not None:
            colour = np.where(keep, colour, math.nan)
    if not (~np.isnan(values)).any():
        raise DataError(f"nothing is observed in {str(p)!r}"
                        + (" with that mask" if mask is not None else "")
                        + "; expected at least one known entry")
    return Incomplete(values=values, kind=kind, suffix=suffix, colour=colour, table=table)
