"""The captured GD step (one CUDA graph on CUDA, the same step eagerly elsewhere)."""

from __future__ import annotations

import copy

import pytest
import torch

from spectralnn import SNN, ConfigError, make_problem
from spectralnn.trainer import capture_step, train_captured

F64 = torch.float64
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _problem(device="cpu"):
    g = torch.Generator().manual_seed(0)
    Xs = torch.randn(8, 6, generator=g, dtype=F64) @ torch.randn(6, 6, generator=g, dtype=F64)
    prob = make_problem(Xs, m=30, seed=0)
    if device != "cpu":
        prob.operator = prob.operator.to(device=device)
        prob.y = prob.y.to(device)
    return prob


def _model(device="cpu"):
    return SNN((8, 6), [2, 2], init="random", init_scale=0.5, method="matmul", dtype=F64,
               device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_captured_step_equals_plain_gradient_descent(device):
    prob = _problem(device)
    model = _model(device)
    ref = copy.deepcopy(model)
    step = capture_step(model, prob, lr=1e-2)
    losses = [float(step()) for _ in range(4)]
    ref_losses = []
    for _ in range(4):
        loss = 0.5 * (prob.operator(ref().unsqueeze(0)) - prob.y).square().mean()
        grads = torch.autograd.grad(loss, list(ref.parameters()))
        with torch.no_grad():
            for p, gr in zip(ref.parameters(), grads):
                p -= 1e-2 * gr
        ref_losses.append(float(loss.detach()))
    assert losses == pytest.approx(ref_losses, rel=1e-12)
    for p, q in zip(model.parameters(), ref.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-12)
    assert step.in_range()


def test_train_captured_decreases_the_loss():
    losses = train_captured(_model(), _problem(), 60, lr=0.02, check_every=20)
    assert len(losses) == 3
    assert losses[-1] < 0.1 * losses[0]


def test_train_captured_recaptures_when_inputs_leave_the_range():
    """Started with too few doublings, it goes back and re-captures: same run as a good k."""
    prob = _problem()
    low, good = _model(), _model()
    a = train_captured(low, prob, 12, lr=0.02, check_every=6, doublings=0)
    b = train_captured(good, prob, 12, lr=0.02, check_every=6)
    assert a == pytest.approx(b, rel=1e-10)
    for p, q in zip(low.parameters(), good.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-10)


def test_monitor_reports_out_of_range_inputs():
    prob = _problem()
    low = capture_step(_model(), prob, lr=1e-12, doublings=0)
    low()
    assert not low.in_range()
    enough = capture_step(_model(), prob, lr=1e-12, doublings=0)
    enough.recapture(8)
    enough()
    assert enough.in_range()


def test_divergence_and_bad_settings_raise_config_errors():
    prob = _problem()
    with pytest.raises(ConfigError, match="diverged"):
        train_captured(_model(), prob, 6, lr=50.0, check_every=3)
    with pytest.raises(ConfigError, match="lr must be"):
        capture_step(_model(), prob, lr=-1.0)
    with pytest.raises(ConfigError, match="headroom"):
        capture_step(_model(), prob, lr=1e-3, headroom=0.5)
    with pytest.raises(ConfigError, match="check_every"):
        train_captured(_model(), prob, 10, lr=1e-3, check_every=0)
