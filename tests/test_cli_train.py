"""CLI: ``spectralnn train`` and ``spectralnn recover`` end to end, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from spectralnn.cli import app


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, args):
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


TOML = """
[problem]
kind = "synthetic"
n = 5
rank = 1
m = 15
std = 1.0
seed = 1

[model]
name = "snn"
widths = [2, 2]
init_scale = 0.1

[train]
steps = 20
lr = {lr}
checkpoint_every = 5
"""


def test_train_end_to_end(runner, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TOML.format(lr="1e-2"))
    code, out, err = invoke(runner, ["train", str(cfg), "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 0, err
    assert out == "" and err == ""
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["model"] == "snn" and summary["steps"] == 20
    code, out, _ = invoke(runner, ["train", str(cfg), "--out", str(tmp_path / "r2")])
    assert code == 0 and out.startswith("snn: relative_error=")
    cfg.write_text(TOML.format(lr="[1e-2, 1e-3]"))
    code, out, _ = invoke(runner, ["train", str(cfg), "--out", str(tmp_path / "s")])
    assert code == 0 and "lr=0.01" in out and "lr=0.001" in out
    assert (tmp_path / "s" / "sweep.json").is_file()


@pytest.mark.parametrize("model", ["snn", "lg", "df", "nnm", "svt"])
def test_recover_end_to_end(runner, tmp_path, model):
    img = np.zeros((8, 8))
    img[2:6, 1:7] = 200.0
    img[3, 3] = 90.0
    path = tmp_path / "img.npy"
    np.save(path, img)
    out = tmp_path / model
    args = ["recover", "--image", str(path), "--fraction", "0.8", "--model", model,
            "--out", str(out), "--steps", "30", "--quiet"]
    if model == "nnm":
        args += ["--noise", "0"]
    code, _, err = invoke(runner, args)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    for key in ("relative_error", "psnr", "seconds"):
        assert isinstance(summary[key], float)
    assert (out / "truth.png").is_file() and (out / "reconstruction.png").is_file()
    if model == "nnm":
        assert summary["status"] == "converged"
        assert summary["settings"]["solver_status"] in ("optimal", "optimal_inaccurate")
        # the image has rank 2; 51 of 64 generic measurements determine it
        assert summary["relative_error"] < 1e-3


def test_recover_offline_image_specs(runner, tmp_path):
    code, _, err = invoke(runner, ["recover", "--image", "mnist:3", "--fraction", "0.5",
                                   "--model", "lg", "--steps", "5", "--measurement", "entries",
                                   "--out", str(tmp_path / "m"), "--quiet"])
    assert code == 0, err
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["problem"]["image"] == "mnist:3" and cfg["problem"]["measurement"] == "entries"
    code, _, err = invoke(runner, ["recover", "--image", "skimage:camera", "--size", "16",
                                   "--fraction", "0.5", "--model", "lg", "--steps", "5",
                                   "--measurement", "dct", "--out", str(tmp_path / "c"),
                                   "--quiet"])
    assert code == 0, err
    assert json.loads((tmp_path / "c" / "summary.json").read_text())["psnr"] > 0


@pytest.mark.parametrize("args,message", [
    (["--image", "mnist:3", "--fraction", "1.5"], "fraction must be in (0, 1], got 1.5"),
    (["--image", "mnist:3", "--fraction", "30"],
     "fraction must be in (0, 1], got 30.0 (30 % is 0.3)"),
    (["--image", "mnist:9999", "--fraction", "0.5"], "index must be an int in 0..4999"),
    (["--image", "mnist:x", "--fraction", "0.5"], "expected an integer after 'mnist:'"),
    (["--image", "skimage:nope", "--fraction", "0.5"], "unknown image 'nope'"),
    (["--image", "missing.png", "--fraction", "0.5"], "image 'missing.png' does not exist"),
    (["--image", "mnist:3", "--fraction", "0.5", "--model", "cnn"], "unknown model 'cnn'"),
    (["--image", "mnist:3", "--fraction", "0.5", "--measurement", "radon"],
     "unknown measurement 'radon'"),
    (["--image", "mnist:3", "--fraction", "0.5", "--lr", "-1"], "--lr must be ≥ 0"),
    (["--image", "mnist:3", "--fraction", "0.5", "--dtype", "float16"], "unknown dtype"),
])
def test_recover_bad_input(runner, tmp_path, args, message):
    out = tmp_path / "out"
    code, _, err = invoke(runner, ["recover", *args, "--out", str(out), "--quiet",
                                        "--steps", "3"])
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not out.exists()


def test_train_bad_input(runner, tmp_path):
    out = tmp_path / "out"
    code, _, err = invoke(runner, ["train", str(tmp_path / "none.toml"), "--out", str(out)])
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    cfg = tmp_path / "c.toml"
    cfg.write_text(TOML.format(lr="1e-2") + "momentun = 0.5\n")
    code, _, err = invoke(runner, ["train", str(cfg), "--out", str(out)])
    assert code == 2 and "unknown key 'momentun' in [train]" in err
    cfg.write_text(TOML.format(lr='"fast"'))
    code, _, err = invoke(runner, ["train", str(cfg), "--out", str(out)])
    assert code == 2 and "'search'" in err
    assert not out.exists()
