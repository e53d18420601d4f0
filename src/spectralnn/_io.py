"""File output: atomic writes (every file appears whole or not at all), JSON-ready values,
JSON files, grey PNG images. Every file the library writes goes through :func:`atomic_write`."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._optional import requires

__all__ = ["atomic_write", "grey_png_bytes", "json_bytes", "jsonable", "write_json"]


def atomic_write(path: str | os.PathLike[str],
                 data: bytes | str | Callable[[BinaryIO], Any]) -> Path:
    """Write ``data`` (bytes, UTF-8 text, or a function writing to a binary file object) to
    ``path`` through a temporary file in the same directory and ``os.replace``; on failure the
    temporary file is removed and an existing ``path`` is left as it was. Mode 0644."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf floats as ``None``, tuples as lists, dict keys as strings,
    NumPy/PyTorch scalars as Python numbers and arrays/tensors as nested lists, recursively
    (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):  # an array or tensor
        return jsonable(value.tolist())
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_bytes(obj: Any, *, indent: int = 2, sort_keys: bool = True) -> bytes:
    """``obj`` as UTF-8 JSON text ending in a newline, through :func:`jsonable` (NaN and inf
    become ``null``: strict JSON)."""
    text = json.dumps(jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
    return (text + "\n").encode()


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2,
               sort_keys: bool = True) -> Path:
    """Write ``obj`` to ``path`` as JSON (:func:`json_bytes`), atomically."""
    return atomic_write(path, json_bytes(obj, indent=indent, sort_keys=sort_keys))


def grey_png_bytes(pixels: Any) -> bytes:
    """An 8-bit grey PNG of ``round(pixels)`` (a ``(d1, d2)`` tensor or array in ``[0, 255]``);
    a one-line :class:`~spectralnn.errors.MissingDependencyError` without the ``data`` extra."""
    with requires("data", feature="writing PNG images"):
        from PIL import Image

    if hasattr(pixels, "detach"):
        pixels = pixels.detach().cpu().double().numpy()
    arr = np.round(np.asarray(pixels, dtype=np.float64)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, mode="L").save(buf, format="PNG")
    return buf.getvalue()
