"""``spectralnn recover`` on the recovery path, end to end on tiny images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from spectralnn.cli import app
from spectralnn.recovery import STATUSES


@pytest.fixture
def image(tmp_path):
    img = np.zeros((12, 12))
    img[2:9, 1:10] = 200.0
    img[4:6, 3:7] = 60.0
    path = tmp_path / "img.npy"
    np.save(path, img)
    return str(path)


def invoke(args):
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("model", ["snn", "softimpute", "svt", "nnm_noise"])
@pytest.mark.parametrize("measurement", ["entries", "dct"])
def test_recover_writes_an_honest_summary(tmp_path, image, model, measurement):
    out = tmp_path / "out"
    code, stdout, err = invoke(["recover", "--image", image, "--fraction", "0.7",
                                "--measurement", measurement, "--model", model,
                                "--out", str(out), "--quiet"])
    assert code == 0, err
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] in STATUSES and s["model"] == model
    assert s["psnr"] > 15 and s["relative_error"] < 0.35
    assert 0 <= s["validation_error"] < 0.5
    # no warning, except the SNN's comparison with soft-impute on the same split (this tiny
    # blocky image favours soft-impute)
    check = s.get("softimpute_check") or {}
    assert s["warning"] is None or s["warning"] == check.get("warning")
    for name in ("X.npy", "problem.npz", "history.csv", "truth.png", "reconstruction.png",
                 "config.json"):
        assert (out / name).is_file(), name
    assert np.load(out / "X.npy").shape == (12, 12)
    # --quiet: nothing on stdout; on stderr at most the warning line of the summary
    assert stdout == ""
    assert err == ("" if s["warning"] is None else f"warning: {s['warning']}\n")


def test_rerun_returns_the_stored_result_and_other_requests_are_refused(tmp_path, image):
    out = tmp_path / "out"
    args = ["recover", "--image", image, "--fraction", "0.7", "--measurement", "entries",
            "--model", "softimpute", "--out", str(out)]
    code, first, _ = invoke(args)
    assert code == 0 and first.startswith("softimpute: status=")
    stamp = (out / "X.npy").stat().st_mtime_ns
    code, again, _ = invoke(args)
    assert code == 0 and again == first and (out / "X.npy").stat().st_mtime_ns == stamp
    code, _, err = invoke([*args[:-2], "--out", str(out), "--seed", "1"])
    assert code == 2 and "is not empty" in err and err.count("\n") == 1


def test_untrustworthy_result_prints_one_warning_line(tmp_path, image):
    out = tmp_path / "out"
    code, stdout, err = invoke(["recover", "--image", image, "--fraction", "0.7",
                                "--measurement", "dct", "--steps", "2", "--out", str(out),
                                "--quiet"])
    assert code == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "budget_reached" and s["warning"]
    assert err.startswith("warning: ") and err.count("\n") == 1
    assert stdout == ""


def test_gaussian_that_does_not_fit_is_refused_before_anything(tmp_path):
    out = tmp_path / "out"
    code, stdout, err = invoke(["recover", "--image", "skimage:camera", "--fraction", "0.3",
                                "--measurement", "gaussian", "--out", str(out), "--quiet"])
    assert code == 2 and stdout == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "329852649472 bytes" in err and "'dct'" in err and "'entries'" in err
    assert not out.exists()


def test_exact_nnm_refuses_large_images_in_one_line(tmp_path):
    out = tmp_path / "out"
    code, _, err = invoke(["recover", "--image", "skimage:camera", "--size", "80",
                           "--fraction", "0.3", "--measurement", "entries", "--model", "nnm",
                           "--out", str(out), "--quiet"])
    assert code == 2 and "does not fit" in err and "'nnm_noise'" in err
    assert err.count("\n") == 1 and not out.exists()


def test_paper_flag_keeps_the_fixed_rate_setting(tmp_path, image):
    out = tmp_path / "out"
    code, _, err = invoke(["recover", "--image", image, "--fraction", "0.7", "--paper",
                           "--steps", "3", "--out", str(out), "--quiet"])
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["lr"] == 1e-4 and cfg["train"]["steps"] == 3
    assert cfg["model"]["dtype"] == "float64" and cfg["problem"]["noise_std"] == 0.01


def test_a_float_image_in_0_1_is_read_as_8_bit_levels(tmp_path, image):
    """A ``.npy`` in [0, 1] (scikit-image's float images) gives the PSNR and PNGs of the same
    image in levels; it read 48 dB high, with black PNGs."""
    levels = np.load(image)
    np.save(tmp_path / "unit.npy", levels / 255.0)
    runs = {}
    for name in ("unit.npy", "img.npy"):
        out = tmp_path / f"out-{name}"
        code, _, err = invoke(["recover", "--image", str(tmp_path / name), "--fraction", "0.7",
                               "--measurement", "entries", "--model", "softimpute",
                               "--out", str(out), "--quiet"])
        assert code == 0, err
        runs[name] = (json.loads((out / "summary.json").read_text())["psnr"],
                      (out / "truth.png").read_bytes())
    assert runs["unit.npy"][0] == pytest.approx(runs["img.npy"][0], abs=1e-6)
    assert runs["unit.npy"][1] == runs["img.npy"][1]
