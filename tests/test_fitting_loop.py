"""The one fitting loop: its stoppers, its step backends and its status vocabulary."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from spectralnn.data import synthetic_low_rank
from spectralnn.errors import ConfigError
from spectralnn.metrics import RunResult
from spectralnn.nn import SNN
from spectralnn.rates import probe_length
from spectralnn.sensing.problem import make_problem
from spectralnn.stoppers import (
    DIVERGENCE_FACTOR,
    REDUCED_DIVERGENCE_FACTOR,
    STATUSES,
    Budget,
    Patience,
    beyond,
    divergence_limit,
    exceeds,
    normalise_status,
)
from spectralnn.trainer import StopTraining, Trainer

F64 = torch.float64


@pytest.fixture(scope="module")
def problem():
    X = synthetic_low_rank(6, 2, seed=3)
    return make_problem(X, "gaussian", m=20, noise_std=1e-3, seed=1, std=1.0)


def _snn(shape=(6, 6)):
    return SNN(shape, [2, 2], seed=0, dtype=F64, init_scale=0.1, method="matmul")


def test_statuses_of_the_trainer(problem):
    full = Trainer(5, 1e-2).fit(_snn(), problem)
    assert full.status == "budget_reached" and full.steps == 5

    def stop(t, info):
        if t == 2:
            raise StopTraining

    stopped = Trainer(50, 1e-2).fit(_snn(), problem, callback=stop)
    # the result is the iterate whose loss the callback saw last: after 2 updates
    assert stopped.status == "stopped" and stopped.steps == 2
    assert {full.status, stopped.status} <= set(STATUSES)


def test_time_budget_stops_the_trainer(problem):
    res = Trainer(10_000_000, 1e-2, max_seconds=0.2).fit(_snn(), problem)
    assert res.status == "budget_reached" and 0 < res.steps < 10_000_000
    assert res.history[-1]["step"] == res.steps  # the last iterate is logged
    with pytest.raises(ConfigError, match="max_seconds"):
        Trainer(10, 1e-2, max_seconds=0)


def test_captured_backend_is_the_same_gd(problem):
    """step='captured' (eager off CUDA) runs the same GD steps as the eager loop: the losses
    at its checks equal the eager loop's losses at those steps."""
    eager_losses: list[float] = []
    Trainer(12, 5e-2).fit(_snn(), problem,
                          callback=lambda t, info: eager_losses.append(float(info["loss"])))
    res = Trainer(12, 5e-2, step="captured", step_options={"check_every": 4}).fit(
        _snn(), problem)
    assert res.status == "budget_reached" and res.steps == 12
    assert res.info["check_losses"] == pytest.approx(eager_losses[0:12:4], rel=1e-12)
    with pytest.raises(ConfigError, match="captured"):
        Trainer(5, 1e-2, "adam", step="captured")
    with pytest.raises(ConfigError, match="step_options"):
        Trainer(5, 1e-2, step_options={"check_every": 2})


def test_divergence_rule_is_one_rule():
    loss0 = torch.tensor([1.0, 1.0, 1.0])
    loss = torch.tensor([2e6, 5e5, math.nan])
    assert exceeds(loss, loss0, DIVERGENCE_FACTOR).tolist() == [True, False, True]
    a = np.array([2e6, 2e8, np.inf])
    assert exceeds(a, np.ones(3), REDUCED_DIVERGENCE_FACTOR).tolist() == [False, True, True]
    # the loops compute the threshold once: beyond(loss, divergence_limit(...)) is exceeds()
    zero = torch.tensor([0.0, 0.0, 2.0])      # a zero first loss: the floor decides
    limit = divergence_limit(zero, DIVERGENCE_FACTOR)
    assert limit[:2].tolist() == [DIVERGENCE_FACTOR * torch.finfo(torch.float32).tiny] * 2
    probe = torch.tensor([1e-30, math.inf, 3e6])
    assert beyond(probe, limit).tolist() == exceeds(probe, zero, DIVERGENCE_FACTOR).tolist() \
        == [True, True, True]
    assert beyond(a, divergence_limit(np.ones(3), REDUCED_DIVERGENCE_FACTOR, 1e-300)).tolist() \
        == [False, True, True]


def test_divergence_check_follows_a_moved_reference():
    from spectralnn.trainer import Divergence

    # a backend may set a new reference mid-loop (SVT does): the threshold follows it
    watch = Divergence(10.0, floor=1e-300, loss0=np.float64(math.inf))
    assert watch.check(np.float64(1e9)) is None
    watch.loss0 = np.float64(1.0)
    assert bool(watch.check(np.float64(11.0)))
    assert watch.check(np.float64(9.0)) is None


def test_legacy_statuses_map_onto_the_vocabulary():
    assert normalise_status("ok") == "budget_reached"
    assert normalise_status("max_iters") == "budget_reached"
    assert normalise_status("optimal_inaccurate") == "converged"
    assert normalise_status("infeasible") == "diverged"
    res = RunResult("x", torch.zeros(2, 2), [], status="ok")
    assert res.status == "budget_reached" and res.summary()["status"] == "budget_reached"


def test_patience_and_budget():
    p = Patience(2)
    assert [p.update(s, e) for s, e in enumerate([1.0, 0.5, 0.6, 0.4, 0.45, 0.41])] == [
        None, None, None, None, None, "stopped_on_validation"]
    assert (p.best, p.best_step) == (0.4, 3)
    b = Budget(steps=3)
    assert not b.spent(2) and b.spent(3) and not b.out_of_time()
    assert Budget(max_seconds=1e-9).start().cannot_fit(1.0)
    with pytest.raises(ConfigError, match="max_seconds"):
        Budget(max_seconds=-1)


def test_probe_steps_none_means_full_length_everywhere(tmp_path):
    assert probe_length(100, None) == 100 and probe_length(100, 7) == 7
    assert probe_length(5, 7) == 5
    from spectralnn.runs import run_experiment

    cfg = {"problem": {"kind": "synthetic", "n": 4, "rank": 1, "m": 12},
           "model": {"name": "lg"}, "train": {"steps": 6, "lr": "search", "keep": 1}}
    run_experiment(cfg, tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "search.json").read_text())["probe_steps"] == 6


def test_ratings_adam_trains_through_the_loop_and_honours_max_seconds():
    from spectralnn.ratings import RatingsCompleter

    rng = np.random.default_rng(0)
    d1, d2, n = 40, 30, 600
    flat = rng.choice(d1 * d2, n, replace=False)
    r, c = flat // d2, flat % d2
    v = np.clip(3 + rng.standard_normal(n), 1, 5)
    est = RatingsCompleter(solver="adam", validation=None, max_steps=30, seed=0)
    est.fit(r, c, v, shape=(d1, d2))
    assert est.status_ == "budget_reached" and est.best_steps_ == 30
    # no validation part: only the time budget can end this run, on any machine
    quick = RatingsCompleter(solver="adam", validation=None, max_steps=10_000_000,
                             max_seconds=0.3, seed=0)
    quick.fit(r, c, v, shape=(d1, d2))
    assert quick.status_ == "budget_reached" and quick.fit_seconds_ < 20
    assert np.isfinite(quick.predict(r[:5], c[:5])).all()


def test_run_loop_statuses():
    """The one loop ends with the vocabulary's statuses: units spent, the first divergence
    (stop policy), the status of its after-hook, a StopTraining."""
    from spectralnn.trainer import Divergence, run_loop

    seen: list[tuple[int, bool]] = []

    def step(t, last):
        seen.append((t, last))
        return np.array([1.0, 2.0])

    end = run_loop(step, units=4)
    assert (end.status, end.units) == ("budget_reached", 4)
    assert seen == [(0, False), (1, False), (2, False), (3, True)]

    losses = iter([1.0, 3.0, math.inf, 1.0])
    end = run_loop(lambda t, last: np.array([next(losses)]), units=4,
                   divergence=Divergence(math.inf, stop=True))
    assert (end.status, end.units) == ("diverged", 3)

    end = run_loop(step, lambda t, bad, last: "stopped_on_validation" if t == 1 else None,
                   units=10, start=0)
    assert (end.status, end.units) == ("stopped_on_validation", 2)

    def stop(t, bad, last):
        if t == 5:
            raise StopTraining

    end = run_loop(step, stop, units=10, start=3)
    assert (end.status, end.units) == ("stopped", 3)
    with pytest.raises(ConfigError, match="time_rule"):
        run_loop(step, units=1, time_rule="never")
    with pytest.raises(ConfigError, match="status 'ok'"):
        run_loop(step, lambda t, bad, last: "ok", units=3)


def test_run_loop_divergence_per_replica_and_time_rules():
    """Per replica: only replicas still active and newly past factor × their first loss are
    handed to the after-hook. Time: "start" makes the unit that starts out of time the last
    one (it still runs), "fit" stops before a unit that would end past the budget."""
    from spectralnn.trainer import Divergence, run_loop

    losses = iter([np.array([1.0, 1.0, 1.0]), np.array([5.0, 1.0, 20.0]),
                   np.array([50.0, 30.0, 20.0])])
    active = np.array([True, True, True])
    handed = []

    def after(t, bad, last):
        handed.append(None if bad is None else bad.tolist())
        if bad is not None:
            active[bad] = False

    watch = Divergence(10.0, active=lambda: active)
    run_loop(lambda t, last: next(losses), after, units=3, divergence=watch)
    assert handed == [None, [False, False, True], [True, True, False]]

    spent = Budget(max_seconds=1e-9).start()
    lasts: list[bool] = []
    end = run_loop(lambda t, last: lasts.append(last), units=100, budget=spent)
    assert (end.status, end.units, lasts) == ("budget_reached", 1, [True])

    def slow(t, last):
        import time

        time.sleep(0.05)

    end = run_loop(slow, units=100, budget=Budget(max_seconds=0.08).start(), time_rule="fit")
    assert end.status == "budget_reached" and end.units == 1


def test_reduced_dynamics_report_how_the_loop_ended():
    from spectralnn.sensing.operators import WellSpecifiedOperator
    from spectralnn.theory import ReducedSNN

    X = synthetic_low_rank(6, 2, seed=2)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, 4, seed=3)
    red = ReducedSNN.spectral(op, (2, 2), init_scale=0.5, replicas=2, seed=1)
    hist = red.copy().fit(op(X), 0.05, 3000, tol=1e-3, record_every=10)
    assert hist.status == "converged" and hist.steps_done < 3000
    assert hist.loss[-1].max() <= 1e-3 and hist.steps[-1] == hist.steps_done
    hist = red.copy().fit(op(X), [0.05, 1e4], 50, record_every=10)
    assert hist.status == "budget_reached" and hist.steps_done == 50
    assert hist.diverged.tolist() == [False, True]
