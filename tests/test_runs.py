"""Run directories: exact layout, atomic files, resume equals an uninterrupted run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from spectralnn.config import load_config, resolve_config
from spectralnn.errors import ConfigError
from spectralnn.metrics import METRIC_NAMES
from spectralnn.runs import atomic_write, load_run, run_experiment
from spectralnn.sensing.problem import SensingProblem


def tiny_config(**train) -> dict:
    return {
        "problem": {"kind": "synthetic", "n": 5, "rank": 1, "m": 15, "noise_std": 1e-3,
                    "std": 1.0, "seed": 2},
        "model": {"name": "snn", "widths": [2, 2], "init_scale": 0.1, "dtype": "float64"},
        "train": {"steps": 40, "lr": 1e-2, "checkpoint_every": 10, **train},
    }


class Killed(Exception):
    pass


def kill_at(step: int):
    def hook(t, info):
        if t == step:
            raise Killed

    return hook


def test_layout_and_contents(tmp_path):
    out = tmp_path / "run"
    summary = run_experiment(tiny_config(), out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["config.json", "problem.npz", "metrics.csv", "summary.json", "X.npy", "checkpoint.pt"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg == resolve_config(tiny_config())  # every default filled in
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    for key in ("relative_error", "train_loss", "diverged", "diverged_step", "seconds",
                "model", "learning_rate", "nuclear_norm", "effective_rank"):
        assert key in summary
    assert summary["model"] == "snn" and summary["learning_rate"] == 0.01
    with (out / "metrics.csv").open() as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == METRIC_NAMES and len(rows) == 1 + 41  # every step of 40
    X = np.load(out / "X.npy")
    problem = SensingProblem.load(out / "problem.npz")
    assert X.shape == problem.shape and X.dtype == np.float64
    assert float(problem.relative_error(torch.from_numpy(X))) == pytest.approx(
        summary["relative_error"])
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 41 and set(ckpt) >= {"model", "buffers", "history", "rng"}
    loaded = load_run(out)
    assert loaded["metrics"]["step"][-1] == 40
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_resume_equals_uninterrupted(tmp_path, optimizer):
    extra = {"optimizer": optimizer, "batch_size": 6} if optimizer == "sgd" else {}
    cfg = tiny_config(**extra)
    full = run_experiment(cfg, tmp_path / "full")
    out = tmp_path / "cut"
    with pytest.raises(Killed):
        run_experiment(cfg, out, callback=kill_at(25))
    assert not (out / "summary.json").exists() and not (out / "X.npy").exists()
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 20
    resumed = run_experiment(cfg, out)
    X_full = np.load(tmp_path / "full" / "X.npy")
    X_res = np.load(out / "X.npy")
    assert np.array_equal(X_full, X_res)  # bit for bit
    assert resumed["relative_error"] == full["relative_error"]
    assert (out / "metrics.csv").read_text().count("\n") == \
        (tmp_path / "full" / "metrics.csv").read_text().count("\n")
    # a finished run is not redone
    assert run_experiment(cfg, out) == resumed


def test_sweep_layout_divergence_and_resume(tmp_path):
    cfg = tiny_config(lr=[1e3, 1e-2, 3e-3])
    full = run_experiment(cfg, tmp_path / "full")
    out = tmp_path / "cut"
    with pytest.raises(Killed):
        run_experiment(cfg, out, callback=kill_at(33))
    assert (out / "checkpoint.pt").exists() and not (out / "sweep.json").exists()
    resumed = run_experiment(cfg, out)
    assert resumed == json.loads((out / "sweep.json").read_text())
    assert not (out / "checkpoint.pt").exists()
    assert [r["learning_rate"] for r in resumed["runs"]] == [1e3, 1e-2, 3e-3]
    assert resumed["runs"][0]["diverged"] and not resumed["runs"][1]["diverged"]
    for entry, entry_full in zip(resumed["runs"], full["runs"]):
        d = out / entry["dir"]
        assert sorted(p.name for p in d.iterdir()) == sorted(
            ["config.json", "problem.npz", "metrics.csv", "summary.json", "X.npy",
             "checkpoint.pt"])
        assert np.array_equal(np.load(d / "X.npy"), np.load(tmp_path / "full" /
                                                            entry_full["dir"] / "X.npy"))
        sub = json.loads((d / "summary.json").read_text())
        assert sub["learning_rate"] == entry["learning_rate"]
        assert json.loads((d / "config.json").read_text())["train"]["lr"] == sub["learning_rate"]
    # the per-rate checkpoint resumes alone: it is that replica's single-run state
    ckpt = torch.load(out / resumed["runs"][1]["dir"] / "checkpoint.pt", weights_only=True)
    assert ckpt["batched"] is False and ckpt["model"]["U"].dim() == 3


def test_image_problem_writes_pngs(tmp_path):
    from PIL import Image

    cfg = {"problem": {"kind": "image", "image": "mnist:1", "measurement": "entries",
                       "fraction": 0.5, "seed": 0},
           "model": {"name": "lg"}, "train": {"steps": 20, "lr": 100.0}}
    summary = run_experiment(cfg, tmp_path / "img")
    truth = np.asarray(Image.open(tmp_path / "img" / "truth.png"))
    rec = np.asarray(Image.open(tmp_path / "img" / "reconstruction.png"))
    assert truth.shape == rec.shape == (28, 28) and truth.dtype == np.uint8
    from spectralnn.data import mnist_digit

    assert np.array_equal(truth, mnist_digit(index=1).image.numpy().astype(np.uint8))
    assert summary["psnr"] is not None and summary["psnr"] > 10


@pytest.mark.parametrize("solver", ["CLARABEL", "SCS"])
def test_solver_run_has_the_same_layout(tmp_path, solver):
    cfg = {"problem": {"kind": "synthetic", "n": 5, "rank": 1, "m": 20, "std": 1.0},
           "model": {"name": "nnm", "solver": solver}}
    summary = run_experiment(cfg, tmp_path / "nnm")
    # Interior-point solvers may stop at 'optimal_inaccurate' (a relative gap of ~1e-8) on
    # some platforms: the answer is what is checked, with a tolerance.
    assert summary["status"] == "converged"
    assert summary["solver_status"] in ("optimal", "optimal_inaccurate")
    assert summary["relative_error"] < 1e-4
    assert sorted(p.name for p in (tmp_path / "nnm").iterdir()) == sorted(
        ["config.json", "problem.npz", "metrics.csv", "summary.json", "X.npy",
         "checkpoint.pt"])


def test_refusals_leave_nothing_behind(tmp_path):
    out = tmp_path / "run"
    run_experiment(tiny_config(), out)
    with pytest.raises(ConfigError, match=r"different configuration \(train.lr: 0.01 there"):
        run_experiment(tiny_config(lr=0.02), out)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no run"):
        run_experiment(tiny_config(), busy)
    fresh = tmp_path / "fresh"
    with pytest.raises(ConfigError, match=r"unknown key 'depth' in \[model\]"):
        run_experiment({**tiny_config(), "model": {"name": "snn", "depth": 3}}, fresh)
    with pytest.raises(ConfigError, match="fraction"):
        run_experiment({**tiny_config(), "problem": {"kind": "synthetic", "fraction": 2.0}},
                       fresh)
    assert not fresh.exists()


def test_config_unknown_keys_are_named(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[problem]\nkind = "paper_synthetic"\n[model]\nname = "snn"\n'
                 "[train]\nsteps = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'learning_rate' in \[train\]"):
        load_config(f)
    f.write_text('[problem]\nkind = "paper_synthetic"\nwell_specified = true\nrank = 3\n'
                 '[model]\nname = "snn"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'rank' in \[problem\]"):
        load_config(f)
    f.write_text('[problem]\nkind = "paper_synthetic"\n[model]\nname = "nnm"\n'
                 "[train]\nsteps = 3\n")
    with pytest.raises(ConfigError, match="solver and takes no"):
        load_config(f)
    f.write_text("[problem\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_example_configs_resolve():
    """Every shipped config parses: run configs with load_config, grids (a [sweep] table)
    with the sweep parser, whose runs must resolve too."""
    import tomllib
    from pathlib import Path

    from spectralnn.sweeps import expand_grid, load_sweep_config

    files = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))
    kinds = {"run": 0, "sweep": 0}
    for f in files:
        if "sweep" in tomllib.loads(f.read_text()):
            kinds["sweep"] += 1
            assert expand_grid(load_sweep_config(f))
        else:
            kinds["run"] += 1
            cfg = load_config(f)
            assert cfg["model"]["name"] in ("snn", "svt", "lg", "df", "nnm", "woa")
    assert kinds["run"] >= 3 and kinds["sweep"] >= 2


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
