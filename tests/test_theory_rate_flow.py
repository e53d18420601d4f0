"""Theorem 2 tools (rate fits) and the gradient-flow ODE of the reduced dynamics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectralnn import ConfigError, ShapeError
from spectralnn.data import synthetic_low_rank
from spectralnn.sensing import WellSpecifiedOperator
from spectralnn.theory import (
    ReducedSNN,
    exponential_phases,
    fit_exponential_rate,
    gradient_flow,
    sliding_rate_fits,
)


def test_rate_fit_recovers_an_exact_exponential():
    t = np.linspace(0, 50, 101)
    fit = fit_exponential_rate(3.0 * np.exp(-0.2 * t), t)
    assert fit.rate == pytest.approx(0.2, rel=1e-12)
    assert fit.intercept == pytest.approx(math.log(3.0), rel=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12) and fit.exponential
    window = fit_exponential_rate(np.exp(-0.2 * t), t, start=10, stop=20)
    assert (window.start, window.stop, window.n_points) == (10.0, 20.0, 21)


def test_rate_fit_reports_non_exponential_decay():
    t = np.linspace(1, 100, 200)
    fit = fit_exponential_rate(1.0 / t**2, t)                # algebraic, not exponential
    assert fit.r2 < 0.9 and not fit.exponential


def test_phases_find_plateau_decay_and_floor():
    t = np.arange(300.0)
    loss = np.where(t < 100, 1.0, np.exp(-0.3 * (t - 100)))   # plateau, then e^{-0.3 t}
    loss = np.maximum(loss, 1e-40)                            # floor, excluded from fits
    phases = exponential_phases(loss, t, window=10)
    assert len(phases) == 1
    (p,) = phases
    assert p.rate == pytest.approx(0.3, rel=1e-9) and p.r2 > 0.999999
    assert 95 <= p.start <= 105 and p.stop < 300
    fits = sliding_rate_fits(loss, t, window=10)
    assert any(abs(f.rate) < 1e-12 for f in fits)             # the plateau is seen as flat


def test_rate_errors():
    with pytest.raises(ShapeError):
        fit_exponential_rate(np.ones((2, 2)))
    with pytest.raises(ConfigError, match="increasing"):
        fit_exponential_rate([1.0, 0.5], [1.0, 1.0])
    with pytest.raises(ConfigError, match="window"):
        sliding_rate_fits([1.0, 0.5, 0.2], window=2)


def _model():
    X = synthetic_low_rank(6, 2, seed=2)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, 4, seed=3)
    return ReducedSNN.spectral(op, (2, 2, 2), init_scale=0.5, replicas=2, seed=1), op(X)


def test_flow_agrees_with_gd_at_small_steps():
    model, y = _model()
    T = 0.2
    flow = gradient_flow(model, y, [0.0, T])
    errors = []
    for lr in (2e-4, 1e-4):
        gd = model.copy()
        gd.fit(y, lr, round(T / lr), record_every=10**6)
        errors.append(np.abs(gd.forward() - flow.x[-1]).max() / np.abs(flow.x[-1]).max())
    assert errors[1] < 1e-3
    assert errors[1] == pytest.approx(errors[0] / 2, rel=0.1)   # first-order in the step
    assert flow.loss[-1].max() < flow.loss[0].min()
    assert np.array_equal(model.params, _model()[0].params)     # the input is untouched


def test_flow_rejects_bad_times():
    model, y = _model()
    with pytest.raises(ConfigError, match="t_eval"):
        gradient_flow(model, y, [1.0, 0.5])
