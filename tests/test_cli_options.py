"""Every option of every command reaches the code that uses it (or is refused in one line).

The command tree is read from the application itself (click's parameters), so an option added
without a check here fails :func:`test_every_option_is_checked`. Each check replaces the
library function the command calls with a recorder, runs the command with the option set to a
value that differs from its default, and asserts that the value arrived.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from spectralnn.cli import app


class Recorder:
    """A stand-in for a library function: records its calls, returns ``ret(*args)``."""

    def __init__(self, ret: Any) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.ret = ret

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.ret(*args, **kwargs) if callable(self.ret) else self.ret

    @property
    def kw(self) -> dict[str, Any]:
        assert self.calls, "the library function was not called"
        return self.calls[-1][1]

    @property
    def args(self) -> tuple[Any, ...]:
        assert self.calls, "the library function was not called"
        return self.calls[-1][0]


def _sinks(monkeypatch, tmp_path: Path) -> dict[str, Recorder]:
    """Recorders in place of the functions each command calls."""
    import spectralnn.completion.files as files
    import spectralnn.config as config
    import spectralnn.demo as demo
    import spectralnn.experiments.runner as runner
    import spectralnn.recovery.command as command
    import spectralnn.runs as runs
    import spectralnn.sweeps as sweeps
    import spectralnn.theory as theory
    import spectralnn.theory.study as study
    import spectralnn.theory.study_report as study_report

    report = tmp_path / "study.md"
    report.write_text("report")
    summary = {"model": "snn", "status": "converged", "relative_error": 0.1, "psnr": 20.0,
               "seconds": 1.0, "validation_error": 0.1}
    rec = {
        "run_demo": Recorder(SimpleNamespace(describe=lambda: "demo")),
        "load_config": Recorder(lambda path: {"from": path}),
        "run_experiment": Recorder(summary),
        "recover_image": Recorder((summary, None)),
        "reproduce": Recorder({"report": "report.md", "seconds": 1.0}),
        "run_study": Recorder(SimpleNamespace(seconds=1.0)),
        "write_study": Recorder([report, report, report]),
        "kkt_certificate": Recorder(SimpleNamespace(holds=False, describe=lambda: "cert",
                                                    primal_residual=0.0)),
        "load_sweep_config": Recorder(lambda path: {"from": path}),
        "run_sweep": Recorder(SimpleNamespace(describe=lambda: "sweep", report=None, failed=0,
                                              failures={})),
        "complete_file": Recorder({"shape": [2, 2], "observed": 3, "status": "converged",
                                   "seconds": 1.0}),
        "set_num_threads": Recorder(None),
    }
    for module, name in ((demo, "run_demo"), (config, "load_config"),
                         (runs, "run_experiment"), (command, "recover_image"),
                         (runner, "reproduce"), (study, "run_study"),
                         (study_report, "write_study"), (theory, "kkt_certificate"),
                         (sweeps, "load_sweep_config"), (sweeps, "run_sweep"),
                         (files, "complete_file"), (torch, "set_num_threads")):
        monkeypatch.setattr(module, name, rec[name])
    return rec


def _run_dir(tmp_path: Path) -> str:
    from spectralnn.sensing.problem import make_problem

    d = tmp_path / "run"
    d.mkdir()
    X = np.outer(np.arange(1.0, 5.0), np.arange(1.0, 5.0))
    make_problem(X, "gaussian", m=10, seed=0).save(d / "problem.npz")
    np.save(d / "X.npy", np.zeros((4, 4)))
    return str(d)


# command -> (base arguments, {option: (arguments, check(recorders, result) -> bool)})
def _table(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, tuple[list[str], Any]]]]:
    out = str(tmp_path / "out")
    run = _run_dir(tmp_path)

    def kw(sink: str, key: str, value: Any):
        return lambda r, res: r[sink].kw[key] == value

    def ov(key: str, value: Any):
        return lambda r, res: r["reproduce"].kw["overrides"][key] == value

    def cfg(key: str, value: Any):
        return lambda r, res: getattr(r["run_study"].args[0], key) == value

    return {
        "": ([], {
            "--version": (["--version"], lambda r, res: "spectralnn" in res.stdout),
            "--threads": (["--threads", "3", "demo"],
                          lambda r, res: r["set_num_threads"].args == (3,)),
        }),
        "demo": (["demo"], {
            "--n": (["--n", "7"], kw("run_demo", "n", 7)),
            "--rank": (["--rank", "3"], kw("run_demo", "rank", 3)),
            "--measurements": (["--measurements", "50"], kw("run_demo", "m", 50)),
            "--steps": (["--steps", "11"], kw("run_demo", "steps", 11)),
            "--lr": (["--lr", "0.5"], kw("run_demo", "lr", 0.5)),
            "--seed": (["--seed", "4"], kw("run_demo", "seed", 4)),
        }),
        "train": (["train", "c.toml", "--out", out], {
            "--out": (["--out", out + "2"], lambda r, res: r["run_experiment"].args[1]
                      == out + "2" and r["load_config"].args == ("c.toml",)),
            "--quiet": (["--quiet"], kw("run_experiment", "progress", False)),
        }),
        "recover": (["recover", "--image", "a.png", "--fraction", "0.5", "--out", out], {
            "--image": (["--image", "b.png"], lambda r, res: r["recover_image"].args[0]
                        == "b.png"),
            "--fraction": (["--fraction", "0.25"], lambda r, res: r["recover_image"].args[1]
                           == 0.25),
            "--out": (["--out", out + "2"], lambda r, res: r["recover_image"].args[2]
                      == out + "2"),
            "--model": (["--model", "svt"], kw("recover_image", "model", "svt")),
            "--measurement": (["--measurement", "dct"],
                              kw("recover_image", "measurement", "dct")),
            "--noise": (["--noise", "0.03"], kw("recover_image", "noise", 0.03)),
            "--size": (["--size", "16"], kw("recover_image", "size", 16)),
            "--colour": (["--grey"], kw("recover_image", "colour", False)),
            "--steps": (["--steps", "12"], kw("recover_image", "steps", 12)),
            "--max-seconds": (["--max-seconds", "7"], kw("recover_image", "max_seconds", 7.0)),
            "--lr": (["--lr", "0.125"], kw("recover_image", "lr", 0.125)),
            "--paper": (["--paper"], kw("recover_image", "paper", True)),
            "--seed": (["--seed", "5"], kw("recover_image", "seed", 5)),
            "--device": (["--device", "meta"], kw("recover_image", "device", "meta")),
            "--dtype": (["--dtype", "float32"], kw("recover_image", "dtype", "float32")),
            "--quiet": (["--quiet"], kw("recover_image", "progress", False)),
        }),
        "reproduce": (["reproduce", "fig2", "--out", out], {
            "--out": (["--out", out + "2"], lambda r, res: str(r["reproduce"].args[1])
                      == out + "2" and r["reproduce"].args[0] == ["fig2"]),
            "--quick": (["--quick"], kw("reproduce", "quick", True)),
            "--steps": (["--steps", "9"], ov("steps", 9)),
            "--rates": (["--rates", "0.5,0.25"], ov("rates", [0.5, 0.25])),
            "--keep": (["--keep", "2"], ov("keep", 2)),
            "--seed": (["--seed", "6"], ov("seed", 6)),
            "--digits": (["--digits", "3,4"], ov("digits", [3, 4])),
            "--device": (["--device", "meta"], ov("device", "meta")),
            "--jobs": (["--jobs", "3"], kw("reproduce", "jobs", 3)),
            "--threads": (["--threads", "2"], kw("reproduce", "threads", 2)),
            "--quiet": (["--quiet"], kw("reproduce", "progress", False)),
        }),
        "theory": (["theory", "--out", out], {
            "--out": (["--out", out + "2"], lambda r, res: r["write_study"].args[1]
                      == Path(out + "2")),
            "--quick": (["--quick"], lambda r, res: r["run_study"].args[0].steps
                        == __import__("spectralnn.theory.study", fromlist=["x"])
                        .quick_config().steps),
            "--scales": (["--scales", "0.5,0.25"], cfg("scales", (0.5, 0.25))),
            "--lrs": (["--lrs", "0.125"], cfg("lrs", (0.125,))),
            "--seeds": (["--seeds", "3,4"], cfg("init_seeds", (3, 4))),
            "--steps": (["--steps", "17"], cfg("steps", 17)),
            "--flow-time": (["--flow-time", "2.5"], cfg("flow_time", 2.5)),
            "--problem-seed": (["--problem-seed", "8"], cfg("problem_seed", 8)),
            "--quiet": (["--quiet"], kw("run_study", "progress", None)),
        }),
        "certify": (["certify", run], {
            "--least-squares": (["--least-squares"],
                                kw("kkt_certificate", "target", "least_squares")),
            "--rank-rtol": (["--rank-rtol", "0.001"], kw("kkt_certificate", "rank_rtol", 1e-3)),
            "--rank-gap": (["--rank-gap", "50"], kw("kkt_certificate", "rank_gap", 50.0)),
            "--tol": (["--tol", "0.001"], lambda r, res: all(
                r["kkt_certificate"].kw[k] == 1e-3
                for k in ("primal_tol", "tangent_tol", "normal_tol"))),
            "--strict": (["--strict"], lambda r, res: res.exit_code == 1),
        }),
        "sweep": (["sweep", "s.toml", "--out", out], {
            "--out": (["--out", out + "2"], lambda r, res: r["run_sweep"].args[1] == out + "2"
                      and r["load_sweep_config"].args == ("s.toml",)),
            "--backend": (["--backend", "processes"], kw("run_sweep", "backend", "processes")),
            "--jobs": (["--jobs", "3"], kw("run_sweep", "jobs", 3)),
            "--address": (["--address", "tcp://h:1"], kw("run_sweep", "address", "tcp://h:1")),
            "--threads": (["--threads", "2"], kw("run_sweep", "threads", 2)),
            "--quiet": (["--quiet"], kw("run_sweep", "progress", False)),
        }),
        "complete": (["complete", "m.csv", "--out", out], {
            "--out": (["--out", out + "2"], lambda r, res: r["complete_file"].args
                      == ("m.csv", out + "2")),
            "--overwrite": (["--overwrite"], kw("complete_file", "overwrite", True)),
            "--header": (["--no-header"], kw("complete_file", "header", False)),
            "--index-col": (["--index-col", "2"], kw("complete_file", "index_col", "2")),
            "--mask": (["--mask", "k.png"], kw("complete_file", "mask", "k.png")),
            "--triplets": (["--triplets", "a,b,c"], kw("complete_file", "triplets", "a,b,c")),
            "--predict": (["--predict", "q.csv"], kw("complete_file", "predict", "q.csv")),
            "--sep": (["--sep", ";"], kw("complete_file", "sep", ";")),
            "--recommend": (["--recommend", "4"], kw("complete_file", "recommend", 4)),
            "--unknown": (["--unknown", "bias"], kw("complete_file", "unknown", "bias")),
            "--device": (["--device", "meta"], kw("complete_file", "device", "meta")),
            "--test-fraction": (["--test-fraction", "0.2"],
                                kw("complete_file", "test_fraction", 0.2)),
            "--seed": (["--seed", "3"], kw("complete_file", "seed", 3)),
            "--model": (["--model", "svt"], kw("complete_file", "model", "svt")),
            "--max-steps": (["--max-steps", "13"], kw("complete_file", "max_steps", 13)),
            "--max-seconds": (["--max-seconds", "5"], kw("complete_file", "max_seconds", 5.0)),
            "--standardize": (["--standardize"], kw("complete_file", "standardize", True)),
            "--quiet": (["--quiet"], kw("complete_file", "progress", False)),
        }),
    }


def _options(command: Any) -> set[str]:
    return {p.opts[0] for p in command.params
            if p.param_type_name == "option" and p.opts[0] != "--help"}


def test_every_option_is_checked(tmp_path):
    group = typer.main.get_command(app)
    table = _table(tmp_path)
    assert set(table) - {""} == set(group.commands)  # type: ignore[attr-defined]
    assert _options(group) == set(table[""][1])
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert _options(command) == set(table[name][1]), name


def _cases() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    cases = [("", o) for o in sorted(_options(group))]
    for name, command in sorted(group.commands.items()):  # type: ignore[attr-defined]
        cases += [(name, o) for o in sorted(_options(command))]
    return cases


@pytest.mark.parametrize(("command", "option"), _cases())
def test_option_reaches_the_library(monkeypatch, tmp_path, command, option):
    rec = _sinks(monkeypatch, tmp_path)
    base, options = _table(tmp_path)[command]
    args, check = options[option]
    # options of the root go before the command; the others after the base arguments
    argv = args if command == "" else base + args
    result = CliRunner().invoke(app, argv)
    assert result.exit_code in (0, 1), (argv, result.exit_code, result.output)
    assert check(rec, result), (argv, {k: r.calls for k, r in rec.items() if r.calls})


# ---------------------------------------------------------------- options that were dropped


def _ratings_csv(tmp_path: Path, n: int = 4000) -> Path:
    rng = np.random.default_rng(0)
    d1, d2 = 200, 150
    flat = rng.choice(d1 * d2, n, replace=False)
    r, c = flat // d2, flat % d2
    v = np.clip(np.round(3 + rng.standard_normal(n)), 1, 5)
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\n" + "".join(f"{a},{b},{x:g}\n"
                                                   for a, b, x in zip(r, c, v)))
    return path


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_complete_triplets_honours_max_seconds(tmp_path, solver):
    """--max-seconds bounds the ratings fit: with a step budget far beyond it, the fit stops
    on time and says so (it used to ignore the flag)."""
    path = _ratings_csv(tmp_path, 4000 if solver == "adam" else 12000)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["complete", str(path), "--triplets", "user,item,rating",
                                      "--out", str(out), "--max-steps", "100000",
                                      "--max-seconds", "0.5", "--quiet"])
    assert result.exit_code == 0, result.output
    s = json.loads((out / "summary.json").read_text())
    assert s["fit"]["solver"] == solver and s["status"] == "budget_reached"
    assert s["fit"]["steps"] < 100_000 and s["fit"]["seconds"] < 30


def test_recover_refuses_lr_for_a_model_without_one(tmp_path):
    img = tmp_path / "img.npy"
    np.save(img, np.ones((8, 8)))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["recover", "--image", str(img), "--fraction", "0.5",
                                      "--model", "softimpute", "--lr", "0.1", "--out",
                                      str(out), "--quiet"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--lr 0.1" in lines[0] and "softimpute" in lines[0]
    assert not out.exists()


def test_recover_fixed_rate_path_honours_max_seconds(tmp_path):
    """lg (trained at a fixed rate through a run configuration) stops on --max-seconds."""
    img = tmp_path / "img.npy"
    np.save(img, np.outer(np.arange(1.0, 9.0), np.ones(8)))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["recover", "--image", str(img), "--fraction", "0.6",
                                      "--measurement", "gaussian", "--model", "lg",
                                      "--steps", "10000000", "--max-seconds", "0.5",
                                      "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "budget_reached" and 0 < s["steps"] < 10_000_000
