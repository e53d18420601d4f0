"""Paper reproduction: configurations, the runner's files, the report, the CLI end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from spectralnn.errors import ConfigError
from spectralnn.experiments import runner
from spectralnn.experiments.config import FIGURES, load_figure_config
from spectralnn.experiments.report import Block, render_html, render_markdown

SUMMARY_KEYS = {"figure", "title", "seconds", "settings", "runs", "findings", "extra", "pngs"}
RUN_KEYS = {"model", "learning_rate", "train_loss", "test_loss", "relative_error",
            "nuclear_norm", "effective_rank", "psnr", "diverged", "seconds"}


def test_configs_follow_the_paper():
    fig2 = load_figure_config("fig2")
    assert fig2["train"]["steps"] == 100001 and fig2["train"]["keep"] == 5
    assert fig2["models"]["snn"]["widths"] == [2, 2, 2, 2]
    assert fig2["models"]["snn"]["init"] == "spectral"
    fig3 = load_figure_config("fig3")
    assert set(fig3["models"]) == {"snn", "lg", "df"}
    assert fig3["models"]["df"]["steps"] == 20001 and fig3["models"]["df"]["keep"] == 10
    fig4 = load_figure_config("fig4")
    assert fig4["train"]["steps"] == 2501 and fig4["train"]["keep"] == 3
    assert fig4["models"]["snn"]["widths"] == [4, 8, 16]
    fig5 = load_figure_config("fig5")
    assert len(fig5["problem"]["classes"]) >= 8 and "nnm" in fig5["models"]


def test_quick_and_overrides():
    quick = load_figure_config("fig3", quick=True)
    assert quick["train"]["steps"] == 1001
    assert quick["models"]["df"]["steps"] == 2002          # DF keeps twice the steps
    over = load_figure_config("fig4", overrides={"steps": 11, "rates": [1e-4], "digits": [3]})
    assert over["train"]["steps"] == 11 and over["train"]["lr"] == [1e-4]
    assert over["model"]["dtype"] == "float32" and "rates" not in over["train"]
    assert over["problem"]["digits"] == [3]
    with pytest.raises(ConfigError, match="unknown figure 'fig9'"):
        load_figure_config("fig9")
    with pytest.raises(ConfigError, match="unknown override 'lr'"):
        load_figure_config("fig2", overrides={"lr": 1.0})
    with pytest.raises(ConfigError, match="steps must be a positive integer, got 0"):
        load_figure_config("fig2", overrides={"steps": 0})


def test_fig4_rows_start_at_the_initial_models(tmp_path, monkeypatch):
    """Each row's "step 0" image is the model before training (LG starts at X = 0: black),
    and later snapshots differ from it (LG's forward returns its parameter itself)."""
    import numpy as np

    from spectralnn.experiments import figures

    captured = {}

    def keep_rows(rows, truth, path, title):
        captured["rows"] = rows
        return path

    monkeypatch.setattr(figures, "plot_image_evolution", keep_rows)
    cfg = load_figure_config("fig4", quick=True, overrides={"steps": 6, "rates": [1e-4]})
    cfg["models"] = {"lg": {}}
    cfg["train"]["snapshots"] = 4
    figures.run_fig4(cfg, tmp_path, progress=False)
    (label, snaps), = captured["rows"]
    assert label.startswith("LG") and [t for t, _ in snaps] == [0, 2, 6]
    assert np.all(snaps[0][1] == 0)
    assert np.abs(snaps[-1][1]).max() > 1 and not np.array_equal(snaps[1][1], snaps[2][1])


def test_figure_configs_speak_the_run_vocabulary_and_old_names_still_load():
    from spectralnn.experiments.config import upgrade_keys

    for figure in FIGURES:
        cfg = load_figure_config(figure)
        assert cfg["train"]["lr"] == "search" and "rates" not in cfg["train"]
        assert "dtype" not in cfg["train"] and "device" not in cfg["train"]
    old = {"train": {"rates": "paper", "dtype": "float32", "device": "cpu", "steps": 3}}
    assert upgrade_keys(old, "old.toml") == {
        "train": {"lr": "search", "steps": 3}, "model": {"dtype": "float32", "device": "cpu"}}
    with pytest.raises(ConfigError, match=r"\[train\] rates and \[train\] lr both given in "
                                          r"x.toml; expected only \[train\] lr"):
        upgrade_keys({"train": {"rates": [1.0], "lr": [1.0]}}, "x.toml")


def test_resolve_figures():
    assert runner.resolve_figures(["all"]) == list(FIGURES)
    assert runner.resolve_figures(["fig5", "fig2", "fig2"]) == ["fig2", "fig5"]
    with pytest.raises(ConfigError, match="unknown figure 'figure2'"):
        runner.resolve_figures(["figure2"])


def test_failed_figure_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(cfg, out, progress):
        (out / "half-written.png").write_bytes(b"x")
        raise RuntimeError("solver crashed")

    monkeypatch.setitem(runner.FIGURE_RUNNERS, "fig2", boom)
    out = tmp_path / "results"
    with pytest.raises(RuntimeError, match="solver crashed"):
        runner.reproduce(["fig2"], out, quick=True, progress=False)
    assert not out.exists()


def test_report_renders_the_same_blocks(tmp_path):
    from spectralnn.experiments.plots import Curve, plot_training_panels

    (tmp_path / "f").mkdir()
    hist = [{"step": s, "train_loss": 10.0 ** -s, "nuclear_norm": 1.0 + s, "sv1": 1.0,
             "sv2": 0.5, "sv3": 0.1} for s in range(5)]
    plot_training_panels([Curve("snn", 0.1, hist)], tmp_path / "f" / "p.png", "title")
    blocks = [Block("h1", "T"), Block("p", "a < b"), Block("table", (["x", "y"], [["1", "2"]])),
              Block("image", "f/p.png")]
    md = render_markdown(blocks)
    assert "# T" in md and "| x | y |" in md and "![f/p.png](f/p.png)" in md
    page = render_html(blocks, tmp_path)
    assert "a &lt; b" in page and "data:image/png;base64,iVBOR" in page


def test_cli_bad_figure_is_one_line_exit_2(tmp_path):
    out = tmp_path / "never"
    proc = subprocess.run([sys.executable, "-m", "spectralnn", "reproduce", "fig7", "--out",
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown figure 'fig7'; expected one of: all, fig2, fig3, fig4, fig5"]
    assert not out.exists()


def test_reproduce_all_quick_end_to_end(tmp_path):
    """`spectralnn reproduce all --quick`: every figure's files, summary keys and the report."""
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "spectralnn", "reproduce", "all", "--quick",
                           "--out", str(out), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for fig in FIGURES:
        folder = out / fig
        summary = json.loads((folder / "summary.json").read_text())
        assert SUMMARY_KEYS <= set(summary)
        assert summary["figure"] == fig and summary["settings"]["quick"] is True
        assert summary["runs"] and all(RUN_KEYS <= set(r) for r in summary["runs"])
        for png in summary["pngs"]:
            assert (folder / png).read_bytes()[:4] == b"\x89PNG"
        header = (folder / "metrics.csv").read_text().splitlines()[0]
        assert header.startswith("model,problem,learning_rate,step,seconds,train_loss")
        assert not list(out.glob(".*.partial"))
    fig2 = json.loads((out / "fig2" / "summary.json").read_text())
    assert fig2["extra"]["reduced_vs_full"]["relative_difference"] < 1e-8
    assert {"holds", "primal_residual", "tangent_residual", "normal_norm"} <= set(
        fig2["extra"]["kkt"])
    fig5 = json.loads((out / "fig5" / "summary.json").read_text())
    assert {r["model"] for r in fig5["runs"]} == {"lg", "snn", "nnm", "nnm_noise"}
    report = (out / "report.md").read_text()
    assert "The paper's claims next to what this run found" in report
    assert all(f"{fig}/{fig}.png" in report for fig in FIGURES)
    assert "data:image/png;base64," in (out / "report.html").read_text()


@pytest.mark.parametrize("args,message", [
    (["bogus"], "error: No such command 'bogus'."),
    (["--threads", "0", "demo"], "error: Invalid value for '--threads'"),
    (["reproduce", "fig2"], "error: Missing option '--out'."),
    (["demo", "--rank", "30"], "error: rank must be between 1 and n = 12, got 30"),
])
def test_cli_usage_errors_are_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "spectralnn", *args], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)
    assert "Traceback" not in proc.stderr


def test_report_header_names_each_models_own_steps_and_keep():
    """Fig. 3's header said 10001 steps while DF's curves ran to 20001."""
    from spectralnn.experiments.report import build_report

    fig = {"figure": "fig3", "title": "Fig. 3", "seconds": 1.0, "pngs": [], "runs": [],
           "findings": [],
           "settings": {"problem": {"name": "p", "shape": [2, 2], "measurements": 3,
                                    "noise_std": 0.0},
                        "train": {"steps": 10001, "lr": "search", "keep": 5},
                        "models": {"snn": {"widths": [2]}, "lg": {},
                                   "df": {"depth": 3, "steps": 20001, "keep": 10}},
                        "dtype": "float64", "device": "cpu"}}
    text = render_markdown(build_report([fig], 1.0, quick=False))
    assert "10001 (DF: 20001) steps" in text and "keep 5 (DF: 10)" in text


def test_training_panels_legend_has_one_entry_per_model_beyond_ten_curves(tmp_path):
    """Fig. 3's legend held 20 entries (5 SNN + 5 LG + 10 DF rates)."""
    from spectralnn.experiments.plots import Curve, _styles, plot_training_panels

    hist = [{"step": s, "train_loss": 10.0 ** -s, "nuclear_norm": 1.0, "sv1": 1.0,
             "sv2": 0.5, "sv3": 0.1} for s in range(3)]
    curves = ([Curve("snn", 10.0 ** -k, hist) for k in range(5)]
              + [Curve("lg", 10.0 ** -k, hist) for k in range(5)]
              + [Curve("df", 10.0 ** -k, hist, diverged=k == 0) for k in range(10)])
    colors, labels = _styles(curves, several=True)
    shown = [label for label in labels if label]
    assert len(shown) == 3 and len(set(map(tuple, colors))) == 20
    assert shown[2] == "DF: 10 rates 1e-09…1, darker = larger (1 diverged)"
    _, few = _styles(curves[:5], several=False)
    assert few == [f"lr={10.0 ** -k:g}" for k in range(5)]
    assert plot_training_panels(curves, tmp_path / "p.png", "t").stat().st_size > 0


def test_an_oscillating_run_is_flagged_in_its_summary_and_the_report():
    """Fig. 3's DF at rate 0.01 rose and fell between 0.3 and 20 for thousands of steps yet
    was listed only as "diverged: no"."""
    import math

    import torch

    from spectralnn.experiments.report import build_report
    from spectralnn.metrics import RunResult, unstable_loss

    falling = [10.0 * 0.9**k for k in range(50)]
    bouncing = [38.0, 5.0, 0.4, 3.0, 0.3, 8.0, 0.5, 12.0, 0.6, 20.0, 1.0, 12.2]
    assert not unstable_loss(falling)
    assert unstable_loss(bouncing)
    assert not unstable_loss([1.0, 1.1, 0.5, 0.2])  # one rise, then a fall: stable enough
    assert not unstable_loss([math.nan, 1.0])

    def run(losses, lr):
        hist = [{"step": k, "train_loss": v, "relative_error": 0.5} for k, v in
                enumerate(losses)]
        return RunResult("df", torch.zeros(2, 2), hist, lr=lr, steps=len(losses))

    good, bad = run(falling, 0.005), run(bouncing, 0.01)
    assert good.summary()["unstable"] is False and bad.summary()["unstable"] is True
    fig = {"figure": "fig3", "title": "Fig. 3", "seconds": 1.0, "pngs": [], "findings": [],
           "runs": [good.summary(), bad.summary()],
           "settings": {"problem": {"name": "p", "shape": [2, 2], "measurements": 3,
                                    "noise_std": 0.0},
                        "train": {"steps": 12, "lr": "search", "keep": 2},
                        "models": {"df": {"depth": 3}}, "dtype": "float64", "device": "cpu"}}
    lines = render_markdown(build_report([fig], 1.0, quick=False)).splitlines()
    header = next(line for line in lines if "| model" in line and "oscillating" in line)
    col = [c.strip() for c in header.split("|")].index("oscillating")
    rows = [[c.strip() for c in line.split("|")] for line in lines
            if line.startswith("| df")]
    assert [r[col] for r in rows] == ["no", "yes"]


def test_fig5_digits_batched_match_one_run_per_digit():
    import torch

    from spectralnn.experiments import figures
    from spectralnn.experiments.config import load_figure_config

    cfg = load_figure_config("fig5", quick=True)
    cfg["models"] = {"snn": {**cfg["models"]["snn"], "steps": 40}}
    problems = [figures._mnist(cfg, digit_class=c) for c in (0, 1, 2)]
    batched = figures._fit_digits(cfg, "snn", problems, 1e-4, progress=False)
    for problem, run in zip(problems, batched):
        alone = figures._fit_digits(cfg, "snn", [problem], 1e-4, progress=False)[0]
        assert torch.allclose(run.X.double(), alone.X.double(), rtol=1e-4, atol=1e-6)
        for key in ("train_loss", "relative_error", "psnr"):
            assert run.final[key] == pytest.approx(alone.final[key], rel=1e-4), key


def test_fig5_batch_refuses_problems_with_different_operators():
    from spectralnn.errors import ConfigError as Err
    from spectralnn.experiments import figures
    from spectralnn.sensing.problem import paper_mnist_problem

    a = paper_mnist_problem(digit_class=0, seed=0)
    b = paper_mnist_problem(digit_class=1, seed=1)
    with pytest.raises(Err, match="does not share the operators"):
        figures._ProblemBatch([a, b])


def test_fig5_pieces_on_two_workers_give_the_inline_result(tmp_path, monkeypatch):
    """Under a pool of two workers Fig. 5 trains its digits in two batches (and hands each
    digit's convex programs over apart); every run is the one of the inline reproduction."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from spectralnn.experiments import figures, pool
    from spectralnn.experiments.config import load_figure_config

    monkeypatch.setattr(figures, "plot_image_grid", lambda *args, **kw: tmp_path / "f.png")
    cfg = load_figure_config("fig5", quick=True, overrides={"steps": 6, "rates": [1e-4]})
    cfg["problem"]["classes"] = [0, 1, 2, 3]
    cfg["models"] = {"lg": {}, "snn": cfg["models"]["snn"]}  # (the solves: end to end below)
    calls = []

    def record(fn, *args):
        calls.append(fn.__name__)
        return ThreadPoolExecutor.submit(workers, fn, *args)

    inline = figures.run_fig5(cfg, tmp_path, progress=False)
    (tmp_path / "two").mkdir()
    with ThreadPoolExecutor(2) as workers:
        workers.submit = record  # type: ignore[method-assign]
        with pool.using(workers, 2):
            assert pool.workers() == 2
            split = figures.run_fig5(cfg, tmp_path / "two", progress=False)
    assert pool.workers() == 1
    assert calls.count("_fig5_fit_piece") == 4 and calls.count("_fig5_solve_piece") == 4
    assert [(r.model, r.problem) for r in split.runs] == [(r.model, r.problem)
                                                          for r in inline.runs]
    for a, b in zip(inline.runs, split.runs):
        assert torch.allclose(a.result.X, b.result.X, rtol=1e-5, atol=1e-7), a.model
        assert a.result.final["relative_error"] == pytest.approx(
            b.result.final["relative_error"], rel=1e-5)


def test_piece_bar_counts_every_piece_handed_to_the_pool():
    from concurrent.futures import ThreadPoolExecutor

    from spectralnn.experiments import pool

    bar = runner._PieceBar(2)
    with ThreadPoolExecutor(2) as executor, pool.using(executor, 2, bar.watch):
        futures = [pool.submit(pow, 2, k) for k in range(5)]
        assert pool.workers() == 2
        assert [f.result() for f in futures] == [1, 2, 4, 8, 16]
    assert (bar.bar.total, bar.bar.n) == (5, 5)
    bar.close()
    assert pool.workers() == 1 and pool.submit(pow, 3, 2).result() == 9  # no pool: at once


def test_two_workers_give_the_run_of_one(tmp_path, capsys):
    """The same figure on worker processes (with the pieces' bar) and in this process."""
    messages: list[str] = []
    one = runner.reproduce(["fig2"], tmp_path / "one", quick=True, progress=False, jobs=1)
    two = runner.reproduce(["fig2"], tmp_path / "two", quick=True, progress=True, jobs=2,
                           log=messages.append)

    def values(result):
        return [{k: v for k, v in run.items() if "seconds" not in k}
                for run in result["figures"][0]["runs"]]

    assert values(one) == values(two)
    assert messages[0] == "running fig2 on 2 processes (quick) ..."
    assert messages[1].startswith("fig2: done in ")
    assert "pieces on 2 processes" in capsys.readouterr().err
