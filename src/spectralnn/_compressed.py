"""Input text files compressed with gzip, bzip2 or xz, read as they come.

A name ending in ``.gz``, ``.bz2`` or ``.xz`` is decompressed on reading (as pandas' and
NumPy's ``loadtxt`` do), and the extension before it names the format: ``ratings.csv.gz`` is
a CSV file. Every reader of delimited text (tables, triplets, MovieLens files) goes through
:func:`read_bytes`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import DataError

__all__ = ["COMPRESSIONS", "format_suffix", "is_compressed", "read_bytes"]

#: Compressed extensions and how each is opened.
COMPRESSIONS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open,
                                                   ".xz": lzma.open}


def is_compressed(path: str | os.PathLike[str]) -> bool:
    """Whether ``path``'s name ends in a compressed extension (:data:`COMPRESSIONS`)."""
    return Path(path).suffix.lower() in COMPRESSIONS


def format_suffix(path: str | os.PathLike[str]) -> str:
    """The extension that names the file's format, lower case with its dot: ``".csv"`` for
    ``ratings.csv`` and ``ratings.csv.gz``, ``""`` for none."""
    p = Path(path)
    if p.suffix.lower() in COMPRESSIONS:
        p = p.with_suffix("")
    return p.suffix.lower()


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, decompressed when its name says it is compressed.

    Raises:
        OSError: the file cannot be read.
        DataError: it is not valid data for its compressed extension.
    """
    p = Path(path)
    opener = COMPRESSIONS.get(p.suffix.lower())
    if opener is None:
        return p.read_bytes()
    try:
        with opener(p, "rb") as handle:
            data: bytes = handle.read()
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read {str(p)!r}: not a valid {p.suffix.lower()} file "
                        f"({exc or type(exc).__name__})") from None
    except OSError as exc:
        if p.is_file() and not isinstance(exc, PermissionError):  # bz2: a bad stream
            raise DataError(f"cannot read {str(p)!r}: not a valid {p.suffix.lower()} file "
                            f"({exc.strerror or exc})") from None
        raise
    return data
