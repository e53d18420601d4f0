"""Training engine: updates, divergence handling, batched sweeps, learning-rate search."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn.baselines import DeepFactorization, LinearModel, build_model
from spectralnn.data import synthetic_low_rank
from spectralnn.errors import ConfigError, ShapeError
from spectralnn.metrics import METRIC_NAMES, effective_rank, matrix_metrics, psnr
from spectralnn.nn import SNN
from spectralnn.rates import (
    paper_lr_grid,
    paper_lr_search,
    search_rates,
    stack_models,
    sweep,
)
from spectralnn.sensing.problem import make_problem
from spectralnn.train_state import split_state, stack_states
from spectralnn.trainer import Trainer, train

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    X = synthetic_low_rank(6, 2, seed=3)
    return make_problem(X, "gaussian", m=20, noise_std=1e-3, seed=1, std=1.0)


def snn_factory(shape, widths=(2, 2)):
    def make(replicas):
        return SNN(shape, list(widths), seed=0, dtype=F64, replicas=replicas, init_scale=0.1)

    return make


# ---------------------------------------------------------------------- plain GD


def test_gd_matches_hand_written_update(problem):
    """One GD step of the trainer is exactly θ − η∇L with L = ½·mean (A(X) − y)²."""
    model = LinearModel(problem.shape, dtype=F64)
    W0 = torch.randn(problem.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        model.W.copy_(W0)
    train(model, problem, steps=1, lr=0.05)
    W = W0.clone().requires_grad_(True)
    problem.loss(W).backward()
    assert torch.allclose(model.W.detach(), W0 - 0.05 * W.grad, atol=1e-15, rtol=0)


def test_history_every_percent_and_columns(problem):
    res = train(snn_factory(problem.shape)(None), problem, steps=200, lr=1e-2)
    steps = [row["step"] for row in res.history]
    assert steps == list(range(0, 201, 2))
    assert set(res.history[0]) == set(METRIC_NAMES)
    assert math.isnan(res.history[0]["psnr"])  # not an image problem
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert all(row["grad_norm"] > 0 for row in res.history)
    assert res.summary()["learning_rate"] == 0.01 and not res.diverged


def test_loss_tolerance_stops_early(problem):
    first = train(LinearModel(problem.shape, dtype=F64), problem, steps=3000, lr=0.05)
    tol = first.history[len(first.history) // 4]["train_loss"]
    res = train(LinearModel(problem.shape, dtype=F64), problem, steps=3000, lr=0.05, tol=tol)
    assert res.status == "converged" and res.converged_step is not None
    assert res.converged_step < 3000
    assert float(problem.loss(res.X)) <= tol
    assert res.history[-1]["step"] == res.converged_step


@pytest.mark.parametrize("optimizer,options", [
    ("momentum", {"momentum": 0.9}),
    ("adam", {}),
    ("normalized", {}),
    ("sgd", {"batch_size": 8}),
])
def test_other_optimizers_reduce_the_loss(problem, optimizer, options):
    lr = {"momentum": 5e-3, "adam": 1e-2, "normalized": 1e-2, "sgd": 2e-2}[optimizer]
    res = train(snn_factory(problem.shape)(None), problem, steps=150, lr=lr,
                optimizer=optimizer, **options)
    assert not res.diverged
    assert res.history[-1]["train_loss"] < 0.5 * res.history[0]["train_loss"]


def test_sgd_is_repeatable_from_its_seed(problem):
    runs = [train(snn_factory(problem.shape)(None), problem, steps=30, lr=2e-2,
                  optimizer="sgd", batch_size=5, seed=s) for s in (4, 4, 5)]
    assert torch.equal(runs[0].X, runs[1].X)
    assert not torch.equal(runs[0].X, runs[2].X)


# ---------------------------------------------------------------------- batched sweeps


def test_batched_sweep_equals_separate_runs(problem):
    make = snn_factory(problem.shape)
    rates = [3e-2, 1e-2, 3e-3]
    batched = sweep(make, problem, rates, steps=80)
    for lr, b in zip(rates, batched):
        alone = train(make(None), problem, steps=80, lr=lr)
        assert b.lr == lr
        assert torch.allclose(b.X, alone.X, atol=1e-10, rtol=0)
        assert len(b.history) == len(alone.history)
        assert b.history[-1]["train_loss"] == pytest.approx(alone.history[-1]["train_loss"],
                                                            rel=1e-8)


@pytest.mark.parametrize("name", ["lg", "df", "woa"])
def test_batched_baselines_equal_separate_runs(problem, name):
    def make(replicas):
        options = {"df": {"init_scale": 0.3}, "woa": {"widths": [2, 2], "init_scale": 0.1},
                   "lg": {}}[name]
        return build_model(name, problem.shape, replicas=replicas, seed=2, dtype=F64,
                           **options)

    rates = [2e-2, 5e-3]
    batched = sweep(make, problem, rates, steps=60)
    for lr, b in zip(rates, batched):
        alone = train(make(None), problem, steps=60, lr=lr)
        assert torch.allclose(b.X, alone.X, atol=1e-10, rtol=0)


def test_divergent_rate_is_flagged_and_others_unaffected(problem):
    make = snn_factory(problem.shape)
    rates = [1e3, 1e-2]
    res = sweep(make, problem, rates, steps=100)
    bad, good = res
    assert bad.diverged and bad.status == "diverged"
    assert 0 < bad.diverged_step < 100
    assert bad.history and bad.history[-1]["step"] == bad.diverged_step
    assert torch.isfinite(bad.X).all()  # last iterate that passed the check
    assert bad.summary()["diverged"] is True and bad.summary()["diverged_step"] > 0
    alone = train(make(None), problem, steps=100, lr=1e-2)
    assert not good.diverged
    assert torch.allclose(good.X, alone.X, atol=1e-10, rtol=0)


def test_exploding_loss_threshold_is_configurable(problem):
    """GD on LG with η = 2.5/L: the top mode grows ×1.5 per step, the loss ×2.25."""
    M = problem.operator.dense().reshape(problem.num_measurements, -1)
    L = float(torch.linalg.matrix_norm(M, ord=2)) ** 2 / problem.num_measurements
    runs = {f: train(LinearModel(problem.shape, dtype=F64), problem, steps=100, lr=2.5 / L,
                     divergence_factor=f) for f in (10.0, 1e6)}
    assert runs[10.0].diverged and runs[1e6].diverged
    assert runs[10.0].diverged_step < runs[1e6].diverged_step
    for f, res in runs.items():
        finite = [r["train_loss"] for r in res.history if math.isfinite(r["relative_error"])]
        assert res.history[-1]["step"] == res.diverged_step
        assert max(finite) <= f * res.history[0]["train_loss"]


def test_non_finite_parameters_in_one_replica_are_caught(problem):
    """SVD raises on NaN input: the trainer attributes it to the replica and goes on."""
    make = snn_factory(problem.shape)
    model = stack_models(make(2), [make(None)] * 2)

    def poison(step, info):
        if step == 5:
            with torch.no_grad():
                model.U[0, 0, 0, 0] = math.nan

    res = Trainer(20, [1e-2, 1e-2]).fit(model, problem, callback=poison)
    assert res[0].diverged and res[0].diverged_step == 6
    assert not res[1].diverged and res[1].steps == 20
    assert torch.isfinite(res[0].X).all()


def test_split_and_stack_states_round_trip(problem):
    make = snn_factory(problem.shape)
    trainer = Trainer(10, [1e-2, 3e-3], optimizer="momentum")
    trainer.fit(stack_models(make(2), [make(None)] * 2), problem)
    parts = split_state(trainer.state_)
    assert parts[0]["model"]["U"].shape == make(None).U.shape
    again = stack_states(parts)
    for key in ("lr", "active", "last_X", "init_loss"):
        assert torch.equal(again[key], trainer.state_[key])
    assert torch.equal(again["buffers"]["velocity"]["U"],
                       trainer.state_["buffers"]["velocity"]["U"])


# ---------------------------------------------------------------------- learning-rate search


def test_paper_grid():
    grid = paper_lr_grid()
    assert grid[:5] == [50.0, 10.0, 5.0, 1.0, 0.5]
    assert grid[-1] == 1e-11 and len(grid) == 26
    assert grid == sorted(grid, reverse=True)


def test_paper_search_keeps_first_non_divergent_rates(problem):
    make = snn_factory(problem.shape)
    kept, rejected = paper_lr_search(make, problem, steps=60, keep=2,
                                     grid=[1e3, 1e2, 1e-2, 5e-3, 1e-3])
    assert [r.lr for r in kept] == [1e-2, 5e-3]
    assert rejected == [1e3, 1e2]
    assert not any(r.diverged for r in kept)
    probed, _ = paper_lr_search(make, problem, steps=60, keep=2, probe_steps=10,
                                grid=[1e3, 1e2, 1e-2, 5e-3, 1e-3])
    assert [r.lr for r in probed] == [1e-2, 5e-3] and probed[0].steps == 60
    assert torch.allclose(probed[0].X, kept[0].X, atol=1e-10, rtol=0)
    with pytest.raises(ConfigError, match="keep=2"):
        paper_lr_search(make, problem, steps=20, keep=2, grid=[1e3, 1e-2])


def test_wide_search_has_the_chunk_by_chunk_outcome(problem):
    """``width = 2·chunk`` trains two chunks as one batch; the outcome is that of chunk by
    chunk: the same kept rates, rejected rates and logged steps, the same values up to
    round-off, though the wide batch logged extra rows when the first chunk's rates diverged."""
    make = snn_factory(problem.shape)
    grid = [1e3, 1e2, 1e-2, 5e-3, 1e-3, 5e-4, 1e-4]
    opts = {"keep": 3, "chunk": 3, "grid": grid, "log_every": 10}
    narrow, rejected = search_rates(make, problem, 40, **opts)
    wide, wide_rejected = search_rates(make, problem, 40, width=6, **opts)
    assert [r.lr for r in wide] == [r.lr for r in narrow] == [1e-2, 5e-3, 1e-3]
    assert wide_rejected == rejected == [1e3, 1e2]

    for a, b in zip(narrow, wide):
        assert torch.allclose(a.X, b.X, rtol=1e-12, atol=1e-15)
        assert [row["step"] for row in a.history] == [row["step"] for row in b.history]
        for key in ("train_loss", "relative_error", "nuclear_norm"):
            assert [row[key] for row in a.history] == pytest.approx(
                [row[key] for row in b.history], rel=1e-10), key
    batch = sweep(make, problem, grid[:6], 40, log_every=10)
    assert any(row["step"] % 10 for row in batch[3].history)  # rows the filter drops
    with pytest.raises(ConfigError, match="width must be a multiple of chunk = 3, got 4"):
        search_rates(make, problem, 40, width=4, **opts)


# ---------------------------------------------------------------------- bad input


def test_bad_settings_raise_typed_errors(problem):
    model = LinearModel(problem.shape, dtype=F64)
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; expected one of"):
        Trainer(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="batch_size"):
        Trainer(optimizer="sgd")
    with pytest.raises(ConfigError, match="lr must be a positive"):
        Trainer(lr=-1.0)
    for mu in (1.0, -0.1, True):
        with pytest.raises(ConfigError, match=r"momentum must be a number in \[0, 1\)"):
            Trainer(optimizer="momentum", momentum=mu)
    with pytest.raises(ConfigError, match="2 learning rates"):
        Trainer(5, [1e-2, 1e-3]).fit(model, problem)
    with pytest.raises(ShapeError, match="expected the problem's shape"):
        Trainer(5).fit(LinearModel((3, 3), dtype=F64), problem)
    with pytest.raises(ConfigError, match="batch_size 99 exceeds"):
        Trainer(5, batch_size=99).fit(model, problem)


def test_models_follow_the_problem_dtype_with_every_default():
    """``train(SNN(shape), make_problem(X))``: float32 model, float64 problem — the model is
    moved to the problem's dtype (in place) and trained."""
    X = synthetic_low_rank(5, 1, seed=0)
    problem = make_problem(X, m=15)
    assert problem.dtype == torch.float64
    for model in (SNN((5, 5), [2, 2]), LinearModel((5, 5)), DeepFactorization((5, 5))):
        assert next(model.parameters()).dtype == torch.float32
        res = train(model, problem, steps=3, lr=1e-3)
        assert all(p.dtype == torch.float64 for p in model.parameters())
        assert math.isfinite(res.final["train_loss"])
    low = problem.to(dtype=torch.float32)
    model = LinearModel((5, 5), dtype=F64)
    train(model, low, steps=2, lr=1e-3)
    assert model.W.dtype == torch.float32


# ---------------------------------------------------------------------- metrics


def test_metric_values():
    s = torch.tensor([[1.0, 1.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert effective_rank(s).tolist() == pytest.approx([3.0, 1.0, 0.0])
    truth = torch.full((4, 4), 0.5, dtype=F64)
    X = truth.clone()
    X[0, 0] += 1.0 / 255.0 * 4  # one pixel off by 4 grey levels at scale 255
    # MSE = 16/16 = 1 pixel² → PSNR = 20·log10(255)
    assert float(psnr(X, truth, scale=255.0)) == pytest.approx(20 * math.log10(255.0))
    # clamping to [0, 255] as displayed: a far-off negative value counts as 0
    Y = truth.clone()
    Y[0, 0] = -100.0
    mse = (127.5**2) / 16
    assert float(psnr(Y, truth, 255.0)) == pytest.approx(10 * math.log10(255.0**2 / mse))


def test_matrix_metrics_batched(problem):
    X = torch.stack([problem.X_star, 2 * problem.X_star])
    vals = matrix_metrics(X, problem)
    assert vals["relative_error"].tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    assert vals["nuclear_norm"].tolist() == pytest.approx([1.0, 2.0])
    assert vals["effective_rank"][0] == pytest.approx(vals["effective_rank"][1])
    assert vals["sv3"][0] < 1e-10  # rank-2 ground truth
