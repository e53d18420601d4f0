"""Smoke runs of the scaling and time-to-error benchmarks (slow: several fresh processes each)
and of the 256×256 example at a tiny size: each script runs end to end in its small mode and
prints its table or writes its files. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 300) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_scaling_quick_prints_its_table():
    out = _run("benchmarks/scaling.py", "--quick", "--budget-gib", "0.0000001")
    lines = out.splitlines()
    assert any("ms/step" in line and "peak RSS MiB" in line for line in lines)
    rows = {line.split()[1]: line for line in lines if line.startswith("  16 ")}
    # the dense operator is over the (tiny) budget: reported, not built
    assert "n/a (needs" in rows["dense"]
    for kind in ("SubsampledDCT", "EntrySampling"):
        fields = rows[kind].split()
        assert float(fields[3]) > 0 and fields[6] == "eigh"


@pytest.mark.slow
def test_time_to_error_quick_prints_its_table():
    out = _run("benchmarks/time_to_error.py", "--quick")
    assert "(a) MNIST digit 0" in out
    for name in ("SNN [4,8,16] GD float64", "SNN [4,8,16] GD float32", "SVT", "NNM cvxpy+SCS"):
        assert any(line.startswith(name) for line in out.splitlines()), name


def test_recover_256_example_writes_png_and_summary(tmp_path):
    _run("examples/recover_256.py", str(tmp_path), "--size", "32", "--steps", "30",
         "--svt-iters", "30")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (tmp_path / "recover_256.png").stat().st_size > 0
    assert summary["m"] == round(0.3 * 32 * 32)
    assert summary["snn"]["optimizer"] == "gd" and summary["snn"]["psnr"] > 5


@pytest.mark.slow
def test_factored_scaling_quick_prints_its_table():
    out = _run("benchmarks/factored_scaling.py", "--quick", "--threads", "1", timeout=600)
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("943×1682")]
    assert [r[3] for r in rows] == ["factored", "dense"]
    assert all(float(r[4]) > 0 for r in rows)
    assert rows[1][-1].endswith("×")


@pytest.mark.slow
def test_ratings_benchmark_quick_prints_its_table():
    out = _run("benchmarks/ratings_ml100k.py", "--quick", "--methods", "SNN", "soft-impute",
               timeout=600)
    if out.startswith("B6 skipped"):
        pytest.skip(out.strip())
    lines = [line.split() for line in out.splitlines() if line.strip().startswith("split90/10")]
    assert [line[1] for line in lines] == ["SNN", "soft-impute"]
    for line in lines:
        assert 0.8 < float(line[3]) < 1.1  # RMSE on a 1–5 scale


def test_recovery_table_quick_writes_its_table(tmp_path):
    out = _run("benchmarks/recovery_table.py", str(tmp_path), "--quick", "--models",
               "softimpute,svt", "--measurements", "entries")
    assert "| camera 48×48 | entries | 0.3 | softimpute |" in out
    rows = json.loads((tmp_path / "recovery_table.json").read_text())
    assert [r["model"] for r in rows] == ["softimpute", "svt"]
    assert all(r["exit"] == 0 and r["psnr"] > 10 and r["status"] for r in rows)


@pytest.mark.slow
def test_time_to_quality_criteria_print_both_targets(tmp_path):
    out = _run("benchmarks/time_to_quality.py", "--criteria", "--quick", "--out", str(tmp_path),
               timeout=600)
    res = json.loads((tmp_path / "criteria.json").read_text())
    assert "criterion 1: t_reach / T" in out and "criterion 2: P_snn(2T) − P" in out
    assert res["softimpute_seconds"] > 0 and res["softimpute_psnr"] > 10
    assert res["gain_at_2T_db"] == pytest.approx(res["snn_psnr"] - res["softimpute_psnr"])


@pytest.mark.slow
def test_time_to_quality_quick_writes_table_and_plot(tmp_path):
    out = _run("benchmarks/time_to_quality.py", "--quick", "--out", str(tmp_path), timeout=600)
    records = json.loads((tmp_path / "time_to_quality.json").read_text())
    assert (tmp_path / "time_to_quality.png").stat().st_size > 0
    assert "| problem | method | budget (s) |" in out
    for problem in ("camera dct", "camera entries"):
        for method in ("snn", "softimpute"):
            pts = [r for r in records if r["problem"] == problem and r["method"] == method]
            assert pts and all(r["seconds"] > 0 for r in pts), (problem, method)
            assert max(r["quality"] for r in pts) > 10   # a 48×48 photo, PSNR in dB
    ratings = [r for r in records if r["problem"].startswith("ML-100k")]
    if ratings:   # the data extra is installed
        assert {r["method"] for r in ratings} == {"SNN", "soft-impute"}
        assert all(0.7 < r["quality"] < 1.2 for r in ratings)
