"""Writing completion outputs: encoders for each format, and one all-or-nothing directory
write (every file is encoded in memory first; a new directory appears only when complete)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, json_bytes
from ..errors import ConfigError

__all__ = ["check_out_dir", "encode_delimited", "encode_image", "encode_json", "encode_npy",
           "encode_table", "previous_outputs", "write_outputs"]


def check_out_dir(out: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """``out`` must not exist, be an empty directory, or (with ``overwrite``) any directory;
    checked before any work."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"--out {str(p)!r} exists and is not a directory")
    if not overwrite and p.is_dir() and any(p.iterdir()):
        raise ConfigError(f"--out {str(p)!r} is a directory that is not empty; pass --overwrite "
                          "to write into it, or name a new directory")
    return p


def previous_outputs(out: str | os.PathLike[str]) -> list[Path]:
    """The files an earlier completion listed in ``out/summary.json`` (``outputs``) that are
    still there: what ``--overwrite`` replaces, leaving anything else in ``out`` alone."""
    p = Path(out)
    try:
        names = json.loads((p / "summary.json").read_text(encoding="utf-8")).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(names, list):
        return []
    return [p / n for n in names
            if isinstance(n, str) and Path(n).name == n and (p / n).is_file()]


def encode_npy(X: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(X), allow_pickle=False)
    return buf.getvalue()


def encode_delimited(X: np.ndarray, delimiter: str) -> bytes:
    """One line per row, full precision (``repr`` of each float)."""
    lines = (delimiter.join(repr(float(v)) for v in row) for row in X)
    return ("\n".join(lines) + "\n").encode("utf-8")


def encode_image(X: np.ndarray, suffix: str) -> bytes:
    """8-bit image of ``round(clip(X, 0, 255))`` in the format of ``suffix``: grey for
    ``X`` ``(d1, d2)``, RGB for ``(3, d1, d2)``. JPEG is refused (lossy: it would change the
    observed pixels)."""
    from PIL import Image

    fmt = Image.registered_extensions().get(suffix.lower(), "PNG")
    if fmt in ("JPEG", "WEBP", "GIF"):
        raise ConfigError(f"{suffix} output is lossy (it would change the observed pixels); "
                          "expected a lossless format such as .png")
    pixels = np.clip(np.rint(X), 0, 255).astype(np.uint8)
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(np.moveaxis(pixels, 0, -1))
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGB" if pixels.ndim == 3 else "L").save(buf, format=fmt)
    return buf.getvalue()


def encode_table(header: Sequence[str], rows: Any, delimiter: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def encode_json(value: Any) -> bytes:
    """``value`` as strict JSON (NaN → null), keys in their order."""
    return json_bytes(value, sort_keys=False)


def write_outputs(out: str | os.PathLike[str], files: Mapping[str, bytes]) -> list[Path]:
    """Write ``files`` (name → bytes) into ``out``.

    A new ``out`` is assembled in a temporary directory beside its first existing ancestor
    and renamed into place, so it appears with every file or not at all. Into an existing
    directory each file is written atomically, and the files an earlier completion wrote
    there (:func:`previous_outputs`) that this one does not are removed."""
    target = Path(out)
    check_out_dir(target)
    if target.is_dir():
        stale = [f for f in previous_outputs(target) if f.name not in files]
        written = [atomic_write(target / name, data) for name, data in files.items()]
        for f in stale:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        return written
    anchor = target.parent
    while not anchor.exists():
        anchor = anchor.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=anchor))
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        tmp.chmod(0o755)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        raise
    return [target / name for name in files]
