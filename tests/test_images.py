"""Image methods: the baselines (interpolate, biharmonic, tv), the pieces of the non-local SNN
(block matching, aggregation, the group SNN's shrinkage) and the method itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectralnn.errors import ConfigError
from spectralnn.images import biharmonic_pixels, interpolate_pixels, nonlocal_snn
from spectralnn.images.nonlocal_snn import shrink_groups
from spectralnn.images.patches import aggregate, gather_groups, match_patches, patch_table
from spectralnn.images.shrinkage import snn_shrink
from spectralnn.recovery import fit
from spectralnn.sensing.problem import make_problem


def psnr(X, truth):
    return 10 * math.log10(255**2 / float(np.mean((np.clip(X, 0, 255) - truth) ** 2)))


def affine(h=20, w=24):
    i, j = np.mgrid[0:h, 0:w]
    return 30.0 + 4.0 * i + 3.0 * j


def corners_and_random(shape, fraction, seed):
    mask = np.random.default_rng(seed).random(shape) < fraction
    mask[0, 0] = mask[0, -1] = mask[-1, 0] = mask[-1, -1] = True
    return mask


def test_interpolate_is_exact_on_affine_images_and_keeps_observed_pixels():
    A = affine()
    mask = corners_and_random(A.shape, 0.3, 0)
    X = interpolate_pixels(np.where(mask, A, 0.0), mask)
    np.testing.assert_allclose(X, A, atol=1e-9)
    noisy = A + np.random.default_rng(1).standard_normal(A.shape)
    np.testing.assert_array_equal(interpolate_pixels(noisy, mask)[mask], noisy[mask])


def test_interpolate_fills_outside_the_hull_with_the_nearest_value():
    A = affine()
    mask = np.zeros(A.shape, bool)
    mask[5:8, 5:8] = True
    X = interpolate_pixels(A, mask)
    assert np.isfinite(X).all()
    assert X[0, 0] == A[5, 5] and X[-1, -1] == A[7, 7]


def test_biharmonic_is_close_on_affine_images_and_keeps_observed_pixels():
    A = affine()
    mask = corners_and_random(A.shape, 0.3, 2)
    X = biharmonic_pixels(np.where(mask, A, 0.0), mask)
    np.testing.assert_array_equal(X[mask], A[mask])
    # exact away from the border (the image edge has natural boundary conditions)
    assert np.abs(X - A).mean() < 1.0 and np.abs(X - A)[6:-6, 6:-6].max() < 1.0


def test_no_observed_pixel_is_refused():
    with pytest.raises(ConfigError, match="no observed pixel"):
        interpolate_pixels(np.zeros((4, 4)), np.zeros((4, 4), bool))


@pytest.mark.parametrize("model", ["biharmonic", "interpolate", "snn-patches"])
def test_pixel_methods_refuse_dct_measurements(model):
    problem = make_problem(affine(16, 16), "dct", fraction=0.5, seed=0)
    with pytest.raises(ConfigError, match=rf"{model} needs pixel \(entries\) measurements"):
        fit(problem, model)


@pytest.mark.parametrize("model", ["biharmonic", "interpolate"])
def test_pixel_baselines_on_the_recovery_path(model):
    truth = affine(24, 24)
    problem = make_problem(truth, "entries", fraction=0.4, noise_std=0.0, seed=3)
    rec = fit(problem, model, image=True)
    assert rec.status == "converged" and rec.summary["psnr"] > 35
    assert rec.summary["validation_measurements"] == 0  # every observed pixel is used


def test_tv_recovers_a_piecewise_constant_image_from_dct_coefficients():
    truth = np.full((32, 32), 60.0)
    truth[8:24, 6:20] = 200.0
    truth[20:30, 22:30] = 120.0
    problem = make_problem(truth, "dct", fraction=0.5, noise_std=0.0, seed=0)
    rec = fit(problem, "tv", image=True)
    zero = make_problem(truth, "dct", fraction=0.5, seed=0)
    assert rec.summary["relative_error"] < 0.1
    assert rec.summary["settings"]["lambda"] > 0 and zero.shape == (32, 32)


def test_block_matching_puts_each_reference_first_and_finds_exact_repeats():
    tile = np.random.default_rng(0).uniform(0, 255, (6, 6))
    img = torch.from_numpy(np.tile(tile, (5, 5))).float()  # period 6
    groups = match_patches(img, 4, 3, 6, 4)
    P_w = 30 - 4 + 1
    assert groups.shape[1] == 4
    ref_rows = [0, 3, 6, 9, 12, 15, 18, 21, 24, 26]
    assert groups[0, 0] == 0 and groups[1, 0] == 3 and groups[len(ref_rows), 0] == 3 * P_w
    table = patch_table(img, 4)
    G = gather_groups(table, groups)
    # every patch has at least 3 period-6 copies within ±6 pixels, at distance 0
    assert float((G - G[:, :, :1]).abs().max()) == 0.0


def test_aggregating_unchanged_patches_gives_back_the_image():
    img = torch.from_numpy(np.random.default_rng(1).uniform(0, 1, (17, 13))).double()
    groups = match_patches(img, 4, 2, 3, 6)
    est = gather_groups(patch_table(img, 4), groups)
    num, den = aggregate(est, groups, torch.rand(groups.shape[0], dtype=torch.float64) + 0.5,
                         (17, 13), 4)
    assert bool((den > 0).all())
    torch.testing.assert_close(num / den, img)


def test_group_snn_keeps_large_singular_values_and_suppresses_small_ones():
    z = torch.tensor([[1.0, 0.5, 0.2, 0.01, 0.001]], dtype=torch.float64)
    out, steps = snn_shrink(z, torch.tensor(0.05, dtype=torch.float64))
    assert steps > 1
    assert abs(float(out[0, 0]) - 1.0) < 1e-3 and abs(float(out[0, 1]) - 0.5) < 1e-2
    assert float(out[0, 3]) < 1e-4 and float(out[0, 4]) < 1e-5
    # a higher threshold removes more, and the map is monotone
    out2, _ = snn_shrink(z, torch.tensor(0.3, dtype=torch.float64))
    assert float(out2[0, 2]) < float(out[0, 2]) and bool((out2.diff(dim=1) <= 0).all())


@pytest.mark.parametrize("shape", [(64, 32), (16, 32)])   # tall and wide groups
def test_group_shrinkage_through_the_gram_matrix_equals_the_svd_form(shape):
    # Σ x_i φ_i ψ_iᵀ with x = snn_shrink(z) for Z = Σ z_i φ_i ψ_iᵀ, singular values from 1 down
    # to 1e-4 and a rank-deficient group (a repeated patch)
    gen = torch.Generator().manual_seed(0)
    a, n = shape
    r = min(a, n)
    Q1 = torch.linalg.qr(torch.randn(6, a, r, generator=gen, dtype=torch.float64))[0]
    Q2 = torch.linalg.qr(torch.randn(6, n, r, generator=gen, dtype=torch.float64))[0]
    z = torch.logspace(0, -4, r, dtype=torch.float64).expand(6, r).clone()
    z[0, 3:] = 0.0
    Z = (Q1 * z.unsqueeze(-2)) @ Q2.mT
    x_ref, steps_ref = snn_shrink(z, torch.tensor(0.05, dtype=torch.float64))
    ref = (Q1 * x_ref.unsqueeze(-2)) @ Q2.mT
    # values below GRAM_CUTOFF·z₁ are dropped: their outputs, about 2ε²·z₁ each, are the
    # difference in float64
    for dtype, tol in ((torch.float64, 1e-5), (torch.float32, 5e-5)):
        out, x, steps = shrink_groups(Z.to(dtype), 0.05, 1e-3)
        assert out.dtype == dtype and out.shape == Z.shape and steps == steps_ref
        assert float((out.double() - ref).norm() / ref.norm()) < tol, dtype
        assert torch.allclose(x.double()[:, :5], x_ref[:, :5], rtol=1e-4, atol=1e-6)


def texture(h=64, w=64, seed=0):
    """Three plane waves (periods 7, 5 and 9 pixels, phases from ``seed``): every patch lies in
    a 6-dimensional space, so groups of patches are low-rank; too fine for interpolation."""
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, 3)
    i, j = np.mgrid[0:h, 0:w]
    return (128 + 45 * np.sin(2 * np.pi * i / 7 + phase[0])
            + 35 * np.cos(2 * np.pi * j / 5 + phase[1])
            + 25 * np.sin(2 * np.pi * (i + j) / 9 + phase[2]))


def test_nonlocal_snn_beats_interpolation_on_repeated_texture():
    truth = texture()
    rng = np.random.default_rng(1)
    mask = rng.random(truth.shape) < 0.3
    noisy = truth + 0.5 * rng.standard_normal(truth.shape)
    # 10 rounds: the first estimate is poor here (its error is the texture's amplitude), so
    # the threshold needs more rounds to come down than on photographs (default 6)
    X, info = nonlocal_snn(np.where(mask, noisy, 0), mask, seed=0, rounds=10)
    base = interpolate_pixels(np.where(mask, noisy, 0), mask)
    assert psnr(X, truth) > psnr(base, truth) + 5
    np.testing.assert_array_equal(X[mask], noisy[mask])
    assert info["rounds_run"] == info["settings"]["rounds"] and info["tau0"] > 0
    assert info["status"] == "converged"
    small = (np.where(mask, noisy, 0)[:32, :32], mask[:32, :32])
    np.testing.assert_array_equal(nonlocal_snn(*small, rounds=2)[0],
                                  nonlocal_snn(*small, rounds=2)[0])  # deterministic


def test_nonlocal_snn_completes_colour_channels_jointly():
    truth = np.stack([texture(48, 48, seed=s) for s in (0, 0, 2)])
    mask = np.random.default_rng(3).random(truth.shape[1:]) < 0.4
    X, _ = nonlocal_snn(np.where(mask, truth, 0), mask, rounds=10)
    assert X.shape == truth.shape
    for c in range(3):
        base = interpolate_pixels(truth[c], mask)
        assert psnr(X[c], truth[c]) > psnr(base, truth[c])


def test_snn_patches_cut_short_by_its_budget_says_so_in_complete(tmp_path):
    """A colour photo completed with ``snn-patches`` whose budget ends the rounds early:
    ``budget_reached`` and the one-line warning, as every other method gives."""
    from spectralnn.completion.photos import complete_image
    from spectralnn.completion.reading import Incomplete

    truth = np.stack([texture(40, 40, seed=s) for s in (0, 1, 2)]) + 100.0
    mask = np.random.default_rng(4).random(truth.shape[1:]) < 0.5
    seen = np.where(mask, truth, np.nan)
    data = Incomplete(values=seen.mean(0), kind="image", suffix=".png", colour=seen)
    _, summary = complete_image(data, model="snn-patches", seed=0, test_fraction=None,
                                max_steps=None, max_seconds=1e-9, progress=False)
    assert summary["status"] == "budget_reached" and summary["fit"]["rounds_run"] == 1
    assert "snn-patches stopped at its step/time budget" in summary["warning"]
    _, full = complete_image(data, model="snn-patches", seed=0, test_fraction=None,
                             max_steps=None, max_seconds=None, progress=False)
    assert full["status"] == "converged" and full["warning"] is None


@pytest.mark.parametrize("shape", [(1, 40), (2, 40), (3, 50), (40, 1)])
def test_nonlocal_snn_completes_an_image_a_few_pixels_thin(shape):
    """Patches no larger than the smaller side, and groups no larger than every reference's
    window holds (it used to fail: "patch = 4 exceeds …", then an index out of range)."""
    truth = np.linspace(0.0, 200.0, shape[0] * shape[1]).reshape(shape) + 20.0
    mask = np.random.default_rng(5).random(shape) < 0.6
    mask.flat[[0, -1]] = True
    X, info = nonlocal_snn(np.where(mask, truth, 0), mask, rounds=2)
    assert X.shape == shape and np.isfinite(X).all()
    np.testing.assert_array_equal(X[mask], truth[mask])
    assert info["settings"]["patch"] == min(4, *shape)
    rmse = np.sqrt(np.mean((X - truth)[~mask] ** 2))
    assert rmse < 0.25 * np.sqrt(np.mean((truth[mask].mean() - truth)[~mask] ** 2))


def test_nonlocal_snn_checks_its_settings():
    mask = np.ones((20, 20), bool)
    with pytest.raises(ConfigError, match="unknown option"):
        nonlocal_snn(np.zeros((20, 20)), mask, patchsize=4)
    with pytest.raises(ConfigError, match="patch = 30 exceeds"):
        nonlocal_snn(np.zeros((20, 20)), mask, patch=30)
    with pytest.raises(ConfigError, match="do not match"):
        nonlocal_snn(np.zeros((20, 21)), mask)


def test_recover_defaults_to_pixels_for_images_too_large_for_dense_gaussians(tmp_path):
    import json

    from PIL import Image

    from spectralnn.cli import main

    Image.fromarray(np.clip(texture(80, 80), 0, 255).astype(np.uint8)).save(tmp_path / "t.png")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["recover", "--image", str(tmp_path / "t.png"), "--fraction", "0.3", "--model",
              "interpolate", "--out", str(out), "--quiet"])
    assert exc.value.code == 0
    assert json.loads((out / "config.json").read_text())["measurement"] == "entries"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "interpolate" and summary["psnr"] > 10
    assert (out / "reconstruction.png").is_file()


def test_nonlocal_snn_on_the_cpu_device_is_the_default_computation():
    truth = texture(40, 40)
    mask = np.random.default_rng(4).random(truth.shape) < 0.3
    values = np.where(mask, truth, 0)
    X, info = nonlocal_snn(values, mask, rounds=2)
    Xd, info_d = nonlocal_snn(values, mask, rounds=2, device="cpu")
    assert isinstance(Xd, np.ndarray) and Xd.dtype == np.float64
    np.testing.assert_array_equal(Xd, X)
    assert [r["held_out_rmse"] for r in info_d["history"]] == \
        [r["held_out_rmse"] for r in info["history"]]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_nonlocal_snn_on_a_missing_device_fails_in_one_line():
    mask = np.ones((20, 20), bool)
    with pytest.raises(ConfigError, match="device 'cuda' is not available") as exc:
        nonlocal_snn(np.zeros((20, 20)), mask, device="cuda")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="device 'tpu9' is not available"):
        nonlocal_snn(np.zeros((20, 20)), mask, device="tpu9")


def _run(args):
    from spectralnn.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code


def _open(path, mode=None):
    from PIL import Image

    with Image.open(path) as img:
        return img.mode, np.asarray(img.convert(mode) if mode else img, dtype=np.float64)


def _colour_png(path, size=72):
    from PIL import Image

    rgb = np.stack([texture(size, size, seed=s) for s in (0, 1, 2)], axis=-1)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)
    return _open(path, "RGB")[1].transpose(2, 0, 1)


def test_recover_keeps_the_colour_of_a_colour_image(tmp_path):
    import json

    truth = _colour_png(tmp_path / "c.png")
    out = tmp_path / "out"
    assert _run(["recover", "--image", str(tmp_path / "c.png"), "--fraction", "0.4",
                 "--measurement", "entries", "--model", "interpolate", "--out", str(out),
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channels"] == "rgb" and summary["observed"] == round(0.4 * 72 * 72)
    X = np.load(out / "X.npy")
    assert X.shape == truth.shape
    mse = float(np.mean((np.clip(X, 0, 255) - truth) ** 2))
    assert summary["psnr"] == pytest.approx(10 * math.log10(255**2 / mse))
    assert _open(out / "reconstruction.png")[0] == "RGB"
    np.testing.assert_array_equal(_open(out / "truth.png")[1].transpose(2, 0, 1), truth)
    # --grey: the grey path of before (one channel, luminance)
    grey = tmp_path / "grey"
    assert _run(["recover", "--image", str(tmp_path / "c.png"), "--grey", "--fraction", "0.4",
                 "--measurement", "entries", "--model", "interpolate", "--out", str(grey),
                 "--quiet"]) == 0
    assert _open(grey / "reconstruction.png")[0] == "L"
    assert np.load(grey / "X.npy").shape == (72, 72)


def test_recover_colour_samples_pixels_with_all_their_channels():
    from spectralnn.images.colour import sample_pixels

    truth = np.stack([texture(30, 40, seed=s) for s in (0, 1, 2)])
    seen, std = sample_pixels(truth, 0.25, None, seed=3)
    observed = ~np.isnan(seen)
    assert (observed == observed[0]).all() and observed[0].sum() == 300
    assert std == pytest.approx(0.01 * np.sqrt(np.mean(truth**2)))
    noise = (seen - truth)[observed]
    assert 0.8 * std < noise.std() < 1.2 * std
    again, _ = sample_pixels(truth, 0.25, None, seed=3)
    np.testing.assert_array_equal(np.isnan(again), ~observed)


def test_recover_colour_refuses_what_it_cannot_do(tmp_path, capsys):
    from PIL import Image

    _colour_png(tmp_path / "c.png", 40)
    Image.fromarray(np.clip(texture(40, 40), 0, 255).astype(np.uint8)).save(tmp_path / "g.png")
    base = ["--fraction", "0.3", "--model", "interpolate", "--quiet"]
    assert _run(["recover", "--image", str(tmp_path / "c.png"), "--colour", "--measurement",
                 "dct", "--out", str(tmp_path / "a"), *base]) != 0
    assert "--colour needs --measurement entries" in capsys.readouterr().err
    assert _run(["recover", "--image", str(tmp_path / "g.png"), "--colour", "--measurement",
                 "entries", "--out", str(tmp_path / "b"), *base]) != 0
    assert "is not a colour image" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert _run(["recover", "--image", str(tmp_path / "c.png"), "--measurement",
                     "entries", "--device", "cuda", "--out", str(tmp_path / "d"), *base]) != 0
        err = capsys.readouterr().err.strip()
        assert "device 'cuda' is not available" in err and len(err.splitlines()) == 1
        assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_gpu_images_script_runs_on_the_cpu_with_tiny_sizes(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHON=sys.executable)
    out = subprocess.run(["bash", "benchmarks/gpu_images.sh", "--out", str(tmp_path),
                          "--device", "cpu", "--small", "40", "--large", "48"], cwd=root,
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table[2:]] == \
        ["camera-grey", "astronaut-grey-large", "astronaut-colour-large"]
    assert all(float(line.split("|")[4]) > 15 for line in table[2:])  # PSNR in dB
