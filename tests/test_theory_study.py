"""The theory study and the `theory` / `certify` commands."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from spectralnn.cli import app
from spectralnn.data import synthetic_low_rank
from spectralnn.sensing.problem import make_problem
from spectralnn.theory import well_specified_optimum
from spectralnn.theory.study import COLUMNS, StudyConfig, run_study
from spectralnn.theory.study_report import write_study


def _tiny() -> StudyConfig:
    return StudyConfig(n=10, m=5, rank=2, scales=(1e-2, 1.0), lrs=(1e-3,), init_seeds=(0,),
                       steps=2000, records=20, flow_time=1e4)


def test_study_small_init_reaches_the_optimum_large_does_not(tmp_path):
    result = run_study(_tiny())
    flow = {r["scale"]: r for r in result.rows if r["kind"] == "flow"}
    assert flow[1e-2]["at_optimum"] and flow[1e-2]["kkt_holds"]
    assert abs(flow[1e-2]["nuclear_gap"]) < 1e-3
    assert not flow[1.0]["at_optimum"] and flow[1.0]["nuclear_gap"] > 1e-2
    assert all(r["final_loss"] < 1e-10 for r in flow.values())       # both interpolate
    gd = [r for r in result.rows if r["kind"] == "gd"]
    assert len(gd) == 2 and all(not r["diverged"] for r in gd)
    assert all(r["gd_flow_distance"] < 0.1 for r in gd)                # GD tracks the flow
    paths = write_study(result, tmp_path / "study")
    names = {p.name for p in paths}
    assert {"study.json", "study.csv", "study.md", "loss.png", "gap.png"} <= names
    doc = json.loads((tmp_path / "study" / "study.json").read_text())
    assert len(doc["rows"]) == 4 and doc["optimum"]["nuclear_norm"] == pytest.approx(1.0)
    with (tmp_path / "study" / "study.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 4
    md = (tmp_path / "study" / "study.md").read_text()
    assert "| flow | 0.01 |" in md and "What holds" in md


def test_theory_command_writes_the_report(tmp_path):
    from typer.testing import CliRunner

    out = tmp_path / "t"
    res = CliRunner().invoke(app, ["theory", "--out", str(out), "--scales", "0.01",
                                   "--lrs", "0.001", "--steps", "200", "--flow-time",
                                   "100", "--quiet", "--quick"])
    assert res.exit_code == 0, res.output
    assert (out / "study.md").is_file() and "report:" in res.output
    bad = CliRunner().invoke(app, ["theory", "--out", str(out), "--scales", "x"])
    assert bad.exit_code == 2 and "--scales" in bad.output


def _run_dir(path, X, problem):
    path.mkdir()
    problem.save(path / "problem.npz")
    np.save(path / "X.npy", np.asarray(X, dtype=np.float64))
    return path


def test_certify_command(tmp_path):
    from typer.testing import CliRunner

    Xs = synthetic_low_rank(8, 2, seed=0)
    problem = make_problem(Xs, "well_specified", m=5, noise_std=0.0, seed=0)
    opt = well_specified_optimum(problem.operator, problem.y)
    good = _run_dir(tmp_path / "good", opt.X.numpy(), problem)
    runner = CliRunner()
    res = runner.invoke(app, ["certify", str(good)])
    assert res.exit_code == 0 and "HOLDS" in res.output
    dense = torch.linalg.lstsq(problem.operator.dense().reshape(5, -1), problem.y).solution
    bad = _run_dir(tmp_path / "bad", dense.reshape(8, 8).numpy(), problem)
    res = runner.invoke(app, ["certify", str(bad)])
    assert res.exit_code == 0 and "DOES NOT HOLD" in res.output
    assert runner.invoke(app, ["certify", str(bad), "--strict"]).exit_code == 1
    for target in (tmp_path / "missing", tmp_path / "empty"):
        if target.name == "empty":
            target.mkdir()
        res = runner.invoke(app, ["certify", str(target)])
        assert res.exit_code == 2
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:")
    wrong = _run_dir(tmp_path / "wrong", np.zeros((3, 3)), problem)
    res = runner.invoke(app, ["certify", str(wrong)])
    assert res.exit_code == 2 and "shape" in res.output
