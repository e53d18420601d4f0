"""Ground truths: synthetic low rank, normalisation, offline MNIST, bundled and user images."""

from __future__ import annotations

import gzip
import math
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from spectralnn import data
from spectralnn.data import (
    available_images,
    load_matrix,
    mnist_digit,
    normalize,
    skimage_image,
    synthetic_low_rank,
)
from spectralnn.errors import ConfigError, DataError, ShapeError

F64 = torch.float64


# --------------------------------------------------------------------------- synthetic


def test_synthetic_psd_low_rank():
    X = synthetic_low_rank(10, 6, seed=0)
    assert X.shape == (10, 10) and X.dtype == F64
    torch.testing.assert_close(X, X.T, rtol=0, atol=0)
    assert float(torch.linalg.eigvalsh(X).min()) > -1e-12
    assert int(torch.linalg.matrix_rank(X)) == 6
    # X = B Bᵀ with B uniform(0, 1): entries in [0, rank]
    assert float(X.min()) >= 0.0 and float(X.max()) <= 6.0
    g = torch.Generator()
    g.manual_seed(0)
    B = torch.rand(10, 6, generator=g, dtype=F64)
    torch.testing.assert_close(X, B @ B.T, rtol=0, atol=1e-14)


def test_synthetic_rectangular_and_seeds():
    X = synthetic_low_rank(5, 2, psd=False, seed=3, d2=8)
    assert X.shape == (5, 8) and int(torch.linalg.matrix_rank(X)) == 2
    assert torch.equal(X, synthetic_low_rank(5, 2, psd=False, seed=3, d2=8))
    assert not torch.equal(X, synthetic_low_rank(5, 2, psd=False, seed=4, d2=8))
    square = synthetic_low_rank(4, 2, psd=False, seed=0)
    assert square.shape == (4, 4) and not torch.equal(square, square.T)


@pytest.mark.parametrize(
    ("args", "kwargs", "pattern"),
    [
        ((4, 5), {}, r"rank 5 exceeds min\(d1, d2\) = 4"),
        ((4, 2), {"d2": 3}, r"psd=True needs a square matrix, got d2=3 with n=4"),
        ((0, 1), {}, r"n must be a positive integer, got 0"),
        ((3, 1), {"seed": 1.5}, r"seed must be an int, got 1.5"),
        ((3, 1), {"seed": -1}, r"seed must be in \[0, 2\*\*63\), got -1"),
    ],
)
def test_synthetic_bad_settings(args, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        synthetic_low_rank(*args, **kwargs)


# --------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(("norm", "ord"), [("nuclear", "nuc"), ("frobenius", "fro")])
def test_normalize(norm, ord):
    X = synthetic_low_rank(6, 3, psd=False, seed=1, d2=4)
    Xn, s = normalize(X, norm)
    torch.testing.assert_close(torch.linalg.matrix_norm(Xn, ord=ord), torch.tensor(1.0, dtype=F64))
    assert s == pytest.approx(float(torch.linalg.matrix_norm(X, ord=ord)), rel=1e-14)
    torch.testing.assert_close(s * Xn, X, rtol=1e-14, atol=0)


def test_normalize_numpy_and_errors():
    Xn, s = normalize(np.diag([3.0, 4.0]), "nuclear")
    assert s == 7.0 and torch.equal(Xn, torch.diag(torch.tensor([3.0, 4.0], dtype=F64)) / 7.0)
    with pytest.raises(
        ConfigError, match=r"unknown norm 'l1'; expected one of: frobenius, nuclear"
    ):
        normalize(torch.eye(2), "l1")
    with pytest.raises(DataError, match=r"zero matrix of shape \(2, 3\)"):
        normalize(torch.zeros(2, 3))
    with pytest.raises(ShapeError, match=r"X has shape \(3,\); expected a 2-D matrix"):
        normalize(torch.ones(3))
    with pytest.raises(DataError, match="X contains 2 NaN/Inf"):
        normalize(torch.tensor([[math.nan, 1.0], [1.0, math.inf]]))


# --------------------------------------------------------------------------- MNIST


@pytest.fixture(scope="module")
def mnist_table():
    """The CSV parsed independently of the library (784 pixels, then the label)."""
    with gzip.open(data._mnist_path(), "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=np.int64)


def test_mnist_by_index(mnist_table):
    assert mnist_table.shape == (5000, 785)
    for i in (0, 1234, 4999):
        digit = mnist_digit(index=i)
        assert digit.image.shape == (28, 28) and digit.image.dtype == F64
        np.testing.assert_array_equal(digit.image.numpy().ravel(), mnist_table[i, :784])
        assert digit.label == mnist_table[i, 784] and digit.index == i
    image, label, index = mnist_digit()
    assert index == 0 and label == mnist_table[0, 784]
    assert 0.0 <= float(image.min()) and float(image.max()) <= 255.0 and float(image.max()) > 0


def test_mnist_by_class(mnist_table):
    labels = mnist_table[:, 784]
    assert np.bincount(labels).tolist() == [500] * 10
    for cls, occ in ((0, 0), (3, 7), (9, 499)):
        digit = mnist_digit(digit_class=cls, occurrence=occ)
        assert digit.label == cls
        assert digit.index == int(np.flatnonzero(labels == cls)[occ])


def test_mnist_is_read_once():
    mnist_digit(index=1)
    hits = data._mnist_arrays.cache_info().hits
    mnist_digit(index=2)
    assert data._mnist_arrays.cache_info().hits == hits + 1
    pixels, _ = data._mnist_arrays()
    assert not pixels.flags.writeable


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"index": 5000}, r"index must be an int in 0..4999, got 5000"),
        ({"index": -1}, r"index must be an int in 0..4999, got -1"),
        ({"index": 1, "digit_class": 2}, r"expected at most one"),
        ({"digit_class": 10}, r"digit_class must be an int in 0..9, got 10"),
        ({"digit_class": 4, "occurrence": 500}, r"occurrence must be an int in 0..499"),
    ],
)
def test_mnist_bad_selection(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        mnist_digit(**kwargs)


# --------------------------------------------------------------------------- bundled images


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_every_bundled_image_loads_offline(no_network):
    names = available_images()
    assert {"camera", "coins", "brick", "text", "moon", "page"} <= set(names)
    for name in names:
        img = skimage_image(name, size=16)
        assert img.shape == (16, 16) and img.dtype == F64
        assert float(img.min()) >= 0.0 and float(img.max()) <= 255.0


def test_camera_matches_scikit_image(no_network):
    import skimage.data

    img = skimage_image("camera")
    expected = skimage.data.camera().astype(np.float64)
    assert img.shape == (512, 512)
    np.testing.assert_array_equal(img.numpy(), expected)


def test_colour_image_is_grey_scaled_like_rgb2gray():
    import skimage.color
    import skimage.data

    img = skimage_image("astronaut")
    expected = skimage.color.rgb2gray(skimage.data.astronaut()) * 255.0
    np.testing.assert_allclose(img.numpy(), expected, rtol=0, atol=1e-6)


def test_bundled_image_resize():
    small = skimage_image("coins", size=(20, 30))
    assert small.shape == (20, 30)
    full = skimage_image("coins")
    assert abs(float(small.mean()) - float(full.mean())) < 2.0  # anti-aliased, same brightness
    with pytest.raises(ConfigError, match="unknown image 'lena'; expected one of: .*camera"):
        skimage_image("lena")
    with pytest.raises(ConfigError, match="size must be a positive integer, got 0"):
        skimage_image("camera", size=0)


# --------------------------------------------------------------------------- user files


def test_load_grey_png_exactly(tmp_path):
    arr = (np.arange(12 * 9) % 256).astype(np.uint8).reshape(12, 9)
    path = tmp_path / "grey.png"
    Image.fromarray(arr).save(path)
    X = load_matrix(path)
    assert X.dtype == F64 and X.shape == (12, 9)
    np.testing.assert_array_equal(X.numpy(), arr.astype(np.float64))
    assert load_matrix(str(path), size=6).shape == (6, 6)


def test_load_colour_transparent_and_16_bit(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    rgb[..., 1] = 100
    rgb[..., 2] = 50
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=100)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    expected = 0.2125 * 200 + 0.7154 * 100 + 0.0721 * 50
    np.testing.assert_allclose(load_matrix(tmp_path / "rgb.png").numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(load_matrix(tmp_path / "rgb.jpg").numpy(), expected, atol=3.0)
    rgba = np.zeros((3, 3, 4), dtype=np.uint8)  # fully transparent: white
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    np.testing.assert_allclose(load_matrix(tmp_path / "clear.png").numpy(), 255.0, atol=1e-9)
    deep = np.array([[0, 65535], [257, 32896]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    np.testing.assert_allclose(
        load_matrix(tmp_path / "deep.png").numpy(), [[0.0, 255.0], [1.0, 128.0]], atol=1e-9
    )


def test_load_npy(tmp_path):
    arr = np.random.default_rng(0).standard_normal((7, 3))
    np.save(tmp_path / "m.npy", arr)
    X = load_matrix(tmp_path / "m.npy")
    np.testing.assert_array_equal(X.numpy(), arr)
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    assert load_matrix(tmp_path / "i.npy").dtype == F64
    assert load_matrix(tmp_path / "m.npy", size=(14, 6)).shape == (14, 6)


def test_load_with_missing_entries(tmp_path):
    """allow_missing=True: NaN and transparent pixels are missing; Inf and resizing refused."""
    arr = np.arange(6.0).reshape(2, 3)
    arr[0, 1] = np.nan
    np.save(tmp_path / "nan.npy", arr)
    X = load_matrix(tmp_path / "nan.npy", allow_missing=True)
    assert X.dtype == F64
    np.testing.assert_array_equal(X.numpy(), arr)  # NaN where missing, the rest exact
    with pytest.raises(DataError, match="contains 1 NaN/Inf"):
        load_matrix(tmp_path / "nan.npy")
    np.save(tmp_path / "inf.npy", np.array([[1.0, 2.0], [np.inf, 4.0]]))
    with pytest.raises(DataError, match=r"1 infinite value\(s\) \(first at row 1, column 0\)"):
        load_matrix(tmp_path / "inf.npy", allow_missing=True)
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(ShapeError, match="expected a 2-D matrix"):
        load_matrix(tmp_path / "cube.npy", allow_missing=True)
    with pytest.raises(ConfigError, match="size=4 cannot resize"):
        load_matrix(tmp_path / "nan.npy", size=4, allow_missing=True)
    rgba = np.full((2, 2, 4), 255, dtype=np.uint8)
    rgba[1, 0, 3] = 0  # one transparent pixel: missing, not white
    Image.fromarray(rgba).save(tmp_path / "hole.png")
    np.testing.assert_array_equal(load_matrix(tmp_path / "hole.png", allow_missing=True).numpy(),
                                  [[255.0, 255.0], [np.nan, 255.0]])
    np.testing.assert_allclose(load_matrix(tmp_path / "hole.png").numpy(), 255.0, atol=1e-9)
    grey, colour = data.read_image(tmp_path / "hole.png", allow_missing=True)
    assert colour is None and np.isnan(grey[1, 0])  # white stored as RGBA stays grey


def test_read_image_colour_of_a_ground_truth_ignores_transparency(tmp_path):
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 255
    rgba[0, 2] = (10, 20, 30, 0)  # transparent, but its colour is the truth
    Image.fromarray(rgba).save(tmp_path / "c.png")
    grey, colour = data.read_image(tmp_path / "c.png", colour=True)
    assert colour is not None and colour.shape == (3, 2, 3) and colour.dtype == np.float64
    np.testing.assert_array_equal(colour[:, 0, 2], [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(colour[:, 1, 1], [200.0, 100.0, 50.0])
    assert grey[0, 2] == pytest.approx(255.0)  # the grey truth: composited over white
    assert data.read_image(tmp_path / "c.png")[1] is None  # colour only when asked for
    seen, missing = data.read_image(tmp_path / "c.png", allow_missing=True)
    assert np.isnan(seen[0, 2]) and missing is not None and np.isnan(missing[:, 0, 2]).all()
    Image.fromarray(np.full((2, 2, 3), 7, dtype=np.uint8)).save(tmp_path / "g.png")
    assert data.read_image(tmp_path / "g.png", colour=True)[1] is None  # grey stored as RGB


def _bad_files(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    nan = np.ones((2, 2))
    nan[0, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    png = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(png)
    (tmp_path / "truncated.png").write_bytes(png.read_bytes()[:40])


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("missing.png", r"file '.*missing.png' does not exist"),
        ("cube.npy", r"has shape \(2, 2, 2\); expected a 2-D matrix"),
        ("nan.npy", r"contains 1 NaN/Inf value"),
        ("obj.npy", r"cannot read array"),
        ("broken.npy", r"cannot read array"),
        ("garbage.png", r"cannot read image '.*garbage.png'"),
        ("notes.txt", r"cannot read image '.*notes.txt'"),
        ("truncated.png", r"cannot read image '.*truncated.png'"),
    ],
)
def test_load_bad_files(tmp_path, name, pattern):
    _bad_files(tmp_path)
    with pytest.raises(DataError, match=pattern) as info:
        load_matrix(tmp_path / name)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("orientation", "turn"), [(1, lambda a: a), (3, lambda a: np.rot90(a, 2)),
                                                   (6, lambda a: np.rot90(a, -1)),
                                                   (8, lambda a: np.rot90(a, 1))])
def test_an_image_is_read_as_its_exif_orientation_shows_it(tmp_path, orientation, turn):
    """A phone stores its photo sideways with an EXIF orientation; the image is read as shown
    (a mask drawn on the photo as seen then has its shape)."""
    stored = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6) * 10
    img = Image.fromarray(stored, "L")
    exif = img.getexif()
    exif[data.EXIF_ORIENTATION] = orientation
    img.save(tmp_path / "photo.png", exif=exif)
    grey, colour = data.read_image(tmp_path / "photo.png")
    assert colour is None
    np.testing.assert_array_equal(grey, turn(stored).astype(np.float64))
