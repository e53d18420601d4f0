"""The recovery path: validation split, curvature, stopping rules, statuses, baselines, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from monitor_feed import ConstantValidation as _Val
from monitor_feed import feed as _feed
from spectralnn import EntrySampling, SensingProblem, make_problem, synthetic_low_rank
from spectralnn.baselines import singular_value_thresholding
from spectralnn.errors import ConfigError
from spectralnn.recovery import (
    STATUSES,
    Monitor,
    StoppingRules,
    curvature,
    fit,
    split_validation,
)
from spectralnn.recovery.softimpute import proximal_gradient, soft_threshold
from spectralnn.sensing import memory


def _problem(measurement="entries", n=16, rank=2, fraction=0.6, noise=0.0, seed=0, **kw):
    X = synthetic_low_rank(n, rank, psd=False, seed=seed)
    return make_problem(X, measurement, fraction=fraction, noise_std=noise, seed=seed, **kw)


# ---------------------------------------------------------------------- validation split


def test_split_is_seeded_disjoint_and_leaves_the_test_set_alone():
    p = _problem("entries")
    fit_p, val = split_validation(p, 0.2, seed=3)
    idx_fit = set(fit_p.operator.indices.tolist())
    idx_val = set(val.operator.indices.tolist())
    assert not idx_fit & idx_val
    assert idx_fit | idx_val == set(p.operator.indices.tolist())
    assert len(idx_val) == round(0.2 * p.num_measurements)
    assert fit_p.test_operator is p.test_operator and fit_p.y_test is p.y_test
    # measurements travel with their rows
    assert torch.equal(fit_p.operator(p.X_star), fit_p.y)
    assert torch.equal(val.operator(p.X_star), val.y)
    again, _ = split_validation(p, 0.2, seed=3)
    assert torch.equal(again.operator.indices, fit_p.operator.indices)
    other, _ = split_validation(p, 0.2, seed=4)
    assert not torch.equal(other.operator.indices, fit_p.operator.indices)


def test_split_of_a_dct_keeps_the_measurements_consistent():
    p = _problem("dct")
    fit_p, val = split_validation(p, 0.25, seed=0)
    assert torch.allclose(fit_p.operator(p.X_star), fit_p.y)
    assert torch.allclose(val.operator(p.X_star), val.y)
    assert val.error(p.X_star) < 1e-12 and val.error(torch.zeros_like(p.X_star)) == 1.0


def test_split_rejects_bad_fractions():
    with pytest.raises(ConfigError, match="validation fraction must be in"):
        split_validation(_problem(), 1.0)


# ---------------------------------------------------------------------- step size


@pytest.mark.parametrize("measurement", ["entries", "dct", "gaussian"])
def test_curvature_is_the_largest_eigenvalue_of_the_loss_hessian(measurement):
    p = _problem(measurement, n=8, std=1.0) if measurement == "gaussian" else \
        _problem(measurement, n=8)
    fit_p, _ = split_validation(p, 0.1)
    A = fit_p.operator.dense().reshape(fit_p.num_measurements, -1)
    exact = float(torch.linalg.matrix_norm(A, ord=2)) ** 2 / fit_p.num_measurements
    assert curvature(fit_p.operator) == pytest.approx(exact, rel=0.02)


# ---------------------------------------------------------------------- stopping rules


def test_monitor_stops_on_validation_after_patience_and_keeps_the_best():
    rules = StoppingRules(max_steps=10_000, check_every=1, min_patience=10,
                          patience_fraction=0.0)
    errs = [1.0] * 5 + [0.5, 0.4, 0.3] + [0.35] * 50
    losses = [1.0 / (k + 1) for k in range(len(errs))]
    step, status = _feed(Monitor(rules, _Val()), errs, losses)
    assert status == "stopped_on_validation" and step == 7 + 10


def test_monitor_is_not_armed_while_nothing_is_recovered():
    rules = StoppingRules(max_steps=100, check_every=1, min_patience=5, patience_fraction=0.0)
    step, status = _feed(Monitor(rules, _Val()), [1.0] * 200)
    assert status == "budget_reached" and step == 100


def test_monitor_plateau_above_the_fit_tolerance_is_not_convergence_and_nan_is_divergence():
    rules = StoppingRules(max_steps=300, check_every=1, min_patience=10, patience_fraction=0.0)
    errs = [0.5] * 400  # a saddle: validation flat, the loss creeping down, far from a fit
    step, status = _feed(Monitor(rules, _Val()), errs, [1.0 - 1e-5 * k for k in range(400)])
    assert (step, status) == (300, "budget_reached")
    m = Monitor(rules, _Val())
    assert m.update(0, math.nan, torch.zeros(2, 2)) == "diverged"


# ---------------------------------------------------------------------- fit: every method


@pytest.mark.parametrize("model", ["snn", "softimpute", "svt", "nnm_noise", "nnm"])
def test_every_method_recovers_a_low_rank_matrix(model):
    p = _problem("entries", n=12, rank=1, fraction=0.7, noise=0.0, seed=1)
    r = fit(p, model)
    assert r.status in STATUSES and r.status != "diverged"
    assert r.X.shape == (12, 12) and r.X.dtype == torch.float64
    assert r.summary["relative_error"] < 0.3, r.summary
    assert r.warning is None
    json.dumps(r.summary, allow_nan=False)
    assert r.summary["model"] == model and r.summary["status"] == r.status
    assert r.summary["fit_measurements"] + r.summary["validation_measurements"] == \
        p.num_measurements


def test_fit_without_ground_truth_skips_truth_metrics(tmp_path):
    p = _problem("entries", n=10, rank=1, seed=2)
    real = SensingProblem(None, p.operator, p.y, name="real")
    r = fit(real, "softimpute")
    assert "relative_error" not in r.summary and "psnr" not in r.summary
    assert r.summary["validation_error"] < 0.2
    real.save(tmp_path / "p.npz")
    back = SensingProblem.load(tmp_path / "p.npz")
    assert back.X_star is None and torch.equal(back.y, real.y)
    assert math.isnan(float(back.relative_error(r.X)))


def test_budget_reached_is_reported_with_a_warning():
    p = _problem("dct", n=16, rank=2, fraction=0.5, seed=0)
    r = fit(p, "snn", max_steps=3)
    assert r.status == "budget_reached" and r.summary["steps"] == 3
    assert r.warning is not None and "\n" not in r.warning


def test_snn_divergence_is_reported_after_its_retries():
    p = _problem("dct", n=12, rank=2, fraction=0.5, seed=0)
    r = fit(p, "snn", lr=1e9, max_steps=200)
    assert r.status == "diverged"
    assert r.warning is not None and "diverged" in r.warning
    assert bool(torch.isfinite(r.X).all())


def test_svt_reports_divergence_as_divergence():
    p = _problem("entries", n=12, rank=1, fraction=0.6, seed=0)
    res = singular_value_thresholding(p, tau=1.0, step=5.0, max_iters=500)
    assert res.status == "diverged" and res.diverged
    r = fit(p, "svt", step=5.0, tau=1.0)
    assert r.status == "diverged" and "diverged" in r.warning


def test_unknown_options_and_models_are_one_line_errors():
    p = _problem()
    with pytest.raises(ConfigError, match="unknown recovery model 'cnn'"):
        fit(p, "cnn")
    with pytest.raises(ConfigError, match="unknown option 'widht' for recovery model 'snn'"):
        fit(p, "snn", widht=[2])
    with pytest.raises(ConfigError, match="max_seconds must be a positive finite number"):
        fit(p, "snn", max_seconds=-1)


# ---------------------------------------------------------------------- baselines' maths


def test_softimpute_solution_is_a_fixed_point_of_its_proximal_map():
    p = _problem("entries", n=12, rank=2, fraction=0.6, noise=1e-3, seed=0)
    lam = 0.2 * float(torch.linalg.matrix_norm(p.operator.adjoint(p.y), ord=2))
    X0 = torch.zeros(12, 12, dtype=torch.float64)
    X, _, conv, _ = proximal_gradient(p, lam, X0, 1.0, inner_iters=2000, tol=1e-12)
    assert conv
    # soft-impute's update S_λ(P_Ω(Y) + P_Ω⊥(X)) leaves the solution where it is
    mask = p.operator.mask()
    Y = p.operator.adjoint(p.y)
    again, _ = soft_threshold(torch.where(mask, Y, X), lam)
    assert float(torch.linalg.matrix_norm(again - X)) < 1e-8


def test_noise_aware_nnm_meets_its_discrepancy_on_large_problems():
    p = _problem("dct", n=66, rank=2, fraction=0.5, noise=1e-3, seed=0)
    fit_p, _ = split_validation(p, 0.1)
    r = fit(p, "nnm_noise")
    delta = r.summary["settings"]["delta"]
    assert delta == pytest.approx(1e-3 * math.sqrt(fit_p.num_measurements))
    res = float(torch.linalg.vector_norm(fit_p.operator(r.X.to(fit_p.dtype)) - fit_p.y))
    assert res <= delta * 1.0001
    assert r.status == "converged" and r.summary["relative_error"] < 0.1


# ---------------------------------------------------------------------- memory refusal


def test_dense_gaussian_is_refused_before_allocation(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10**6)

    def boom(*a, **k):
        raise AssertionError("allocated")

    import spectralnn.sensing.problem as problem_module

    monkeypatch.setattr(problem_module, "GaussianOperator", boom)
    X = torch.rand(30, 30, dtype=torch.float64)
    with pytest.raises(ConfigError) as info:
        make_problem(X, "gaussian", fraction=0.5)
    msg = str(info.value)
    need = 2 * 450 * 900 * 8
    assert f"({need} bytes)" in msg and "'dct'" in msg and "'entries'" in msg
    assert "\n" not in msg


def test_entry_operator_subset_is_native():
    op = EntrySampling.random((5, 6), m=12, seed=0)
    p = make_problem(np.ones((5, 6)), "entries", m=12, seed=0)
    fit_p, val = split_validation(p, 0.25)
    assert isinstance(fit_p.operator, type(op)) and isinstance(val.operator, type(op))


def test_budget_after_validation_stalled_is_a_validation_stop():
    rules = StoppingRules(max_steps=60, check_every=1, min_patience=10, patience_fraction=5.0)
    errs = [0.5, 0.4, 0.3] + [0.31] * 100   # best at step 2, then flat: budget at step 60
    step, status = _feed(Monitor(rules, _Val()), errs, [1.0 / (k + 1) for k in range(103)])
    assert (step, status) == (60, "stopped_on_validation")
    errs = [0.5 * 0.99**k for k in range(100)]  # still improving when the budget ends
    step, status = _feed(Monitor(rules, _Val()), errs, [1.0 / (k + 1) for k in range(100)])
    assert (step, status) == (60, "budget_reached")
