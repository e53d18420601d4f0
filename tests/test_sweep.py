"""Sweeps: grid expansion, the aggregated table, resume and retry, backends, the study, CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

import spectralnn.runs
from spectralnn.cli import app
from spectralnn.errors import ConfigError
from spectralnn.sweeps import (
    TABLE_COLUMNS,
    expand_grid,
    load_sweep_config,
    parse_sweep_config,
    phase_transition,
    read_table,
    run_sweep,
)


def tiny(**extra) -> dict:
    """2 variants × 2 ranks × 2 fractions × 2 seeds = 16 runs of a few milliseconds each."""
    raw = {
        "sweep": {"name": "tiny"},
        "base": {"problem": {"kind": "synthetic", "n": 6, "std": 1.0,
                             "normalize": "frobenius"},
                 "train": {"steps": 30, "log_every": 10}},
        "grid": {"problem": {"rank": [1, 2], "fraction": [0.5, 1.0]}, "seed": [0, 1]},
        "variants": {"lg": {"model": {"name": "lg"}, "train": {"lr": 0.2}},
                     "nnm": {"model": {"name": "nnm", "solver": "CLARABEL"}}},
        "report": {"kind": "phase_transition", "threshold": 0.05},
    }
    raw.update(extra)
    return raw


def numeric_view(rows):
    """The table without wall-clock columns (seconds differ between any two executions), its
    floats wrapped for comparison within 1e-9 (other processes, other BLAS paths)."""
    def cell(v):
        return pytest.approx(v, rel=1e-9, abs=1e-12) if isinstance(v, float) else v

    return [{k: cell(v) for k, v in wall.items()} for wall in wall_free(rows)]


def wall_free(rows):
    return [{k: v for k, v in r.items() if k not in ("seconds", "threads")} for r in rows]


# ---------------------------------------------------------------------- grid expansion


def test_grid_expansion_order_names_and_merged_configs():
    specs = expand_grid(parse_sweep_config(tiny()))
    assert len(specs) == 2 * 2 * 2 * 2
    assert specs[0].name == "lg__rank-1__fraction-0.5__seed-0"
    assert specs[1].name == "lg__rank-1__fraction-0.5__seed-1"  # last axis fastest
    assert specs[-1].name == "nnm__rank-2__fraction-1__seed-1"
    assert len({s.name for s in specs}) == len(specs)
    lg = specs[3]
    assert lg.params == {"variant": "lg", "problem.rank": 1, "problem.fraction": 1.0, "seed": 1}
    assert lg.config["problem"] == {"kind": "synthetic", "n": 6, "std": 1.0,
                                    "normalize": "frobenius", "rank": 1, "fraction": 1.0,
                                    "seed": 1}
    assert lg.config["model"] == {"name": "lg", "seed": 1}  # the seed axis seeds both
    assert lg.config["train"] == {"steps": 30, "log_every": 10, "lr": 0.2}
    nnm = specs[8]
    assert nnm.params["variant"] == "nnm" and "train" not in nnm.config  # solvers: no [train]


def test_grid_without_variants_and_full_paths_when_labels_collide():
    raw = tiny(variants={}, grid={"problem": {"seed": [0, 1]}, "model": {"seed": [3]}})
    del raw["report"]
    raw["base"]["model"] = {"name": "lg"}
    specs = expand_grid(parse_sweep_config(raw))
    assert [s.name for s in specs] == ["problem.seed-0__model.seed-3",
                                       "problem.seed-1__model.seed-3"]
    assert specs[1].params == {"problem.seed": 1, "model.seed": 3}
    raw["grid"] = {"train": {"lr": [0.1, 0.2]}}
    assert [s.config["train"]["lr"] for s in expand_grid(parse_sweep_config(raw))] == [0.1, 0.2]


@pytest.mark.parametrize("mutate, key", [
    (lambda r: r["grid"]["problem"].update(rnak=[1]), "rnak"),
    (lambda r: r["base"]["problem"].update(nn=5), "nn"),
    (lambda r: r["variants"]["lg"]["train"].update(learning_rate=1), "learning_rate"),
    (lambda r: r["variants"]["lg"].update(trian={}), "trian"),
    (lambda r: r.update(grids={}), "grids"),
    (lambda r: r["sweep"].update(workers=2), "workers"),
    (lambda r: r["report"].update(treshold=1), "treshold"),
    (lambda r: r["grid"].update(problme={"rank": [1]}), "problme"),
])
def test_unknown_keys_are_named(mutate, key):
    raw = tiny()
    mutate(raw)
    with pytest.raises(ConfigError, match=repr(key).replace("[", r"\[")):
        expand_grid(parse_sweep_config(raw))


@pytest.mark.parametrize("grid, match", [
    ({"problem": {"rank": []}}, "non-empty list"),
    ({"problem": {"rank": 2}}, "non-empty list"),
    ({"seed": [0], "problem": {"seed": [1]}}, "not both"),
    ({"train": {"lr": [[0.1, 0.2]]}}, "single rates"),
    ({"problem": {"rank": [1, 9]}}, None),  # fails at run time, not here (rank > n)
])
def test_bad_grid_values(grid, match):
    raw = tiny(grid=grid)
    del raw["report"]
    if match is None:
        assert len(expand_grid(parse_sweep_config(raw))) == 4
        return
    with pytest.raises(ConfigError, match=match):
        expand_grid(parse_sweep_config(raw))


def test_lr_search_refused_in_a_sweep():
    raw = tiny()
    raw["variants"]["lg"]["train"]["lr"] = "search"
    with pytest.raises(ConfigError, match="one number per run"):
        expand_grid(parse_sweep_config(raw))


# ---------------------------------------------------------------------- table, resume


def test_table_contents_match_the_run_directories(tmp_path):
    result = run_sweep(parse_sweep_config(tiny()), tmp_path / "s", progress=False)
    assert (result.total, result.ok, result.failed, result.executed) == (16, 16, 0, 16)
    rows = read_table(tmp_path / "s" / "results.csv")
    assert list(rows[0]) == ["run", "variant", "problem.rank", "problem.fraction", "seed",
                             *TABLE_COLUMNS]
    assert [r["run"] for r in rows] == [s.name for s in
                                        expand_grid(parse_sweep_config(tiny()))]
    for row in rows:
        run = spectralnn.runs.load_run(tmp_path / "s" / "runs" / row["run"])
        assert row["relative_error"] == run["summary"]["relative_error"]  # exact repr
        assert row["model"] == row["variant"] == run["config"]["model"]["name"]
        assert run["config"]["problem"]["rank"] == row["problem.rank"]
        assert (row["d1"], row["d2"]) == (6, 6)
        assert row["m"] == round(row["problem.fraction"] * 36)
        assert row["status"] == "ok" and row["error"] is None and row["threads"] == 1
    lg = [r for r in rows if r["model"] == "lg"]
    assert all(r["learning_rate"] == 0.2 and r["steps"] == 30 for r in lg)
    # the study: NNM recovers these tiny rank-1/2 matrices from all 36 entries' worth
    pt = result.report
    assert pt["panels"] == ["lg", "nnm"] and pt["ys"] == [1, 2] and pt["xs"] == [0.5, 1.0]
    assert pt["trials"] == [[[2, 2], [2, 2]]] * 2
    assert pt["probability"][1][0][1] == 1.0
    assert (tmp_path / "s" / "phase_transition.png").stat().st_size > 10_000
    status = json.loads((tmp_path / "s" / "status.json").read_text())
    assert status["ok"] == 16 and status["pending"] == 0 and status["failures"] == {}


def test_interrupted_sweep_reruns_only_the_missing_runs(tmp_path):
    cfg = parse_sweep_config(tiny())
    seen = []

    def stop_after_five(record):
        seen.append(record["name"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, tmp_path / "s", progress=False, on_result=stop_after_five)
    partial = read_table(tmp_path / "s" / "results.csv")
    assert [r["run"] for r in partial] == seen  # the table holds what finished

    executed = []
    result = run_sweep(cfg, tmp_path / "s", progress=False,
                       on_result=lambda r: executed.append(r["name"]))
    assert (result.skipped, result.executed, result.ok) == (5, 11, 16)
    assert not set(executed) & set(seen) and len(executed) == 11
    again = run_sweep(cfg, tmp_path / "s", progress=False)
    assert (again.skipped, again.executed) == (16, 0)
    fresh = run_sweep(cfg, tmp_path / "fresh", progress=False)
    assert numeric_view(result.rows) == wall_free(fresh.rows)


def test_failing_run_does_not_stop_the_sweep_and_is_retried(tmp_path, monkeypatch):
    cfg = parse_sweep_config(tiny())
    bad = "lg__rank-2__fraction-0.5__seed-0"
    real = spectralnn.runs.run_experiment

    def flaky(config, out, **kw):
        if str(out).endswith(bad):
            raise RuntimeError("disk on fire\nsecond line")
        return real(config, out, **kw)

    monkeypatch.setattr(spectralnn.runs, "run_experiment", flaky)
    first = run_sweep(cfg, tmp_path / "s", progress=False)
    assert (first.ok, first.failed, first.executed) == (15, 1, 16)
    assert first.failures == {bad: "RuntimeError: disk on fire second line"}
    row = next(r for r in read_table(first.table) if r["run"] == bad)
    assert row["status"] == "failed" and row["relative_error"] is None
    assert row["error"] == "RuntimeError: disk on fire second line"
    assert first.report["excluded_failed_runs"] == 1

    monkeypatch.setattr(spectralnn.runs, "run_experiment", real)
    executed = []
    second = run_sweep(cfg, tmp_path / "s", progress=False,
                       on_result=lambda r: executed.append(r["name"]))
    assert executed == [bad]
    assert (second.ok, second.failed, second.skipped) == (16, 0, 15)


def test_diverged_run_is_finished_not_failed(tmp_path):
    raw = tiny(grid={"problem": {"rank": [1], "fraction": [1.0]}, "train": {"lr": [0.2, 1e4]}})
    del raw["variants"]["nnm"], raw["variants"]["lg"]["train"]["lr"], raw["report"]
    result = run_sweep(parse_sweep_config(raw), tmp_path / "s", progress=False)
    assert [r["status"] for r in result.rows] == ["ok", "diverged"]
    assert result.rows[1]["diverged_step"] is not None
    assert run_sweep(parse_sweep_config(raw), tmp_path / "s", progress=False).executed == 0


def test_directory_of_another_configuration_is_refused(tmp_path):
    run_sweep(parse_sweep_config(tiny()), tmp_path / "s", progress=False)
    changed = tiny()
    changed["variants"]["lg"]["train"]["lr"] = 0.1
    with pytest.raises(ConfigError, match="different configuration"):
        run_sweep(parse_sweep_config(changed), tmp_path / "s", progress=False)


def test_inprocess_threads_applied_and_restored(tmp_path):
    raw = tiny(grid={"problem": {"rank": [1], "fraction": [1.0]}})
    del raw["variants"]["nnm"], raw["report"]
    before = torch.get_num_threads()
    result = run_sweep(parse_sweep_config(raw), tmp_path / "s", threads=2, progress=False)
    assert result.rows[0]["threads"] == 2
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kw, match", [
    ({"backend": "ray"}, "unknown backend 'ray'"),
    ({"jobs": 0, "backend": "processes"}, "jobs must be a positive integer"),
    ({"address": "tcp://x:1"}, "dask backend only"),
    ({"threads": 0}, "threads must be a positive integer"),
])
def test_bad_run_options(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        run_sweep(parse_sweep_config(tiny()), tmp_path / "s", progress=False, **kw)
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------- backends


def test_process_backend_same_table_and_failure_isolated(tmp_path):
    raw = tiny(grid={"problem": {"rank": [1, 7], "fraction": [1.0]}, "seed": [0]})
    del raw["report"]
    cfg = parse_sweep_config(raw)
    a = run_sweep(cfg, tmp_path / "a", progress=False)
    b = run_sweep(cfg, tmp_path / "b", backend="processes", jobs=2, progress=False)
    assert numeric_view(a.rows) == wall_free(b.rows)
    assert b.failed == 2 and all("rank 7 exceeds" in e for e in b.failures.values())
    assert {r["threads"] for r in b.rows if r["status"] == "ok"} == {1}


def test_dask_backend_on_a_local_cluster_gives_the_same_table(tmp_path):
    pytest.importorskip("distributed", reason="Dask distributed is not installed "
                        "(pip install 'spectralnn[sweep]')")
    cfg = parse_sweep_config(tiny())
    a = run_sweep(cfg, tmp_path / "a", progress=False)
    b = run_sweep(cfg, tmp_path / "b", backend="dask", jobs=2, progress=False)
    assert (b.ok, b.executed) == (16, 16)
    assert numeric_view(a.rows) == wall_free(b.rows)
    assert {r["threads"] for r in b.rows} == {1}


def test_dask_workers_leave_ctrl_c_to_the_client():
    """Ctrl-C reaches the whole process group: the local cluster's processes ignore it (the
    client closes them), so that they print no traceback of their own."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed")
    import signal

    from spectralnn.sweeps.backends import dask_client

    before = signal.getsignal(signal.SIGINT)
    with dask_client(1, None, 1) as client:
        handlers = client.run(signal.getsignal, signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is before   # this process still handles it
    assert handlers and set(handlers.values()) == {signal.SIG_IGN}


# ---------------------------------------------------------------------- phase transition


def test_phase_transition_probabilities_transition_and_dof():
    rows = []
    # panel "a": rank 1 succeeds from x = 0.2 on; rank 2 once at 0.1 (noise), then from 0.3
    wins = {(1, 0.1): [0, 0], (1, 0.2): [1, 0], (1, 0.3): [1, 1],
            (2, 0.1): [1, 0], (2, 0.2): [0, 0], (2, 0.3): [1, 1]}
    for (r, x), outcomes in wins.items():
        for seed, win in enumerate(outcomes):
            rows.append({"variant": "a", "problem.rank": r, "problem.fraction": x,
                         "seed": seed, "status": "ok", "model": "snn", "d1": 10, "d2": 10,
                         "relative_error": 1e-3 if win else 0.5})
    rows.append({**rows[-1], "status": "failed", "relative_error": None})
    rows.append({**rows[0], "status": "diverged", "relative_error": 1e-9})  # no success
    pt = phase_transition(rows, {"threshold": 1e-2})
    assert pt.xs == [0.1, 0.2, 0.3] and pt.ys == [1, 2] and pt.panels == ["a"]
    assert pt.trials == [[[3, 2, 2], [2, 2, 2]]] and pt.excluded == 1
    assert pt.probability == [[[0.0, 0.5, 1.0], [0.5, 0.0, 1.0]]]
    assert pt.transition == [[0.2, 0.3]]
    assert pt.dof == [19 / 100, 36 / 100]  # r(2d − r) / d²
    assert math.isnan(phase_transition(rows[:1], {}).probability[0][0][0]) is False


# ---------------------------------------------------------------------- CLI and configs


TOML = """
[sweep]
name = "cli"
[base.problem]
kind = "synthetic"
n = 5
m = 15
std = 1.0
[base.model]
name = "lg"
[base.train]
steps = 10
lr = 0.1
[grid.problem]
{grid}
"""


def test_cli_end_to_end_and_resume(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML.format(grid="rank = [1, 2]"))
    runner = CliRunner()
    res = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "2 runs: 2 ok, 0 diverged, 0 failed (2 executed, 0 already done)" in res.stdout
    assert len(read_table(tmp_path / "o" / "results.csv")) == 2
    res = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    assert "(0 executed, 2 already done)" in res.stdout


def test_cli_failed_runs_exit_1_with_one_line(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML.format(grid="rank = [1, 6]"))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1 and "1 run(s) failed" in res.stderr
    assert "rank 6 exceeds" in res.stderr


@pytest.mark.parametrize("grid, key", [("rnak = [1]", "rnak"), ("rank = [1]\nnn = [5]", "nn")])
def test_cli_bad_key_one_line_exit_2(tmp_path, grid, key):
    cfg = tmp_path / "s.toml"
    cfg.write_text(TOML.format(grid=grid))
    res = CliRunner().invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert f"'{key}'" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["phase_transition.toml", "phase_transition_quick.toml",
                                  "phase_transition_completion.toml"])
def test_shipped_study_configs_expand(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / name
    cfg = load_sweep_config(path)
    specs = expand_grid(cfg)
    assert cfg.report is not None and cfg.threads == 1
    assert {s.params["variant"] for s in specs} == {"snn", "df", "lg", "nnm"}
