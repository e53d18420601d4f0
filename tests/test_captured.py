"""The captured GD step (one CUDA graph on CUDA, the same step eagerly elsewhere)."""

from __future__ import annotations

import copy

import pytest
import torch

from spectralnn import SNN, ConfigError, make_problem
from spectralnn.captured import capturable
from spectralnn.trainer import Trainer, capture_step, train_captured

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


def _recorded(trainer, model, prob):
    """Every step's loss and iterate seen by a callback, and the run's result."""
    seen = []
    res = trainer.fit(model, prob, callback=lambda t, info: seen.append(
        (t, float(info["loss"].reshape(-1)[0]), info["X"].clone())))
    return seen, res


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_captured_trainer_with_a_callback_is_the_eager_run(optimizer):
    """The captured backend with a callback (as the recovery's monitor uses it) sees the same
    steps, losses and iterates as the eager loop, the heavy ball included."""
    prob = _problem()
    runs, models = {}, {}
    for backend in ("eager", "captured"):
        trainer = Trainer(12, 0.02, optimizer, momentum=0.7, step=backend)
        models[backend] = _model()
        runs[backend] = _recorded(trainer, models[backend], prob)
    (eager, e_res), (capt, c_res) = runs["eager"], runs["captured"]
    assert [t for t, _, _ in capt] == [t for t, _, _ in eager] == list(range(13))
    assert [v for _, v, _ in capt] == pytest.approx([v for _, v, _ in eager], rel=1e-9)
    for (_, _, a), (_, _, b) in zip(capt, eager):
        assert a.shape == (8, 6)
        assert torch.allclose(a, b, rtol=0, atol=1e-10)
    assert c_res.status == e_res.status == "budget_reached"
    assert c_res.steps == e_res.steps == 12
    assert torch.allclose(c_res.X, e_res.X, rtol=0, atol=1e-10)
    # the last unit evaluates only: both end at the 12th iterate
    for p, q in zip(models["captured"].parameters(), models["eager"].parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-10)
    assert c_res.info["optimizer"] == optimizer


def test_captured_heavy_ball_recaptures_with_its_velocity():
    """Out of range with the heavy ball: the step goes back with its velocity too, and the
    run is the one with enough doublings from the start."""
    prob = _problem()
    low = Trainer(10, 0.02, "momentum", momentum=0.7, step="captured",
                  step_options={"doublings": 0})
    high = Trainer(10, 0.02, "momentum", momentum=0.7, step="captured",
                   step_options={"doublings": 8})
    a, _ = _recorded(low, _model(), prob)
    b, _ = _recorded(high, _model(), prob)
    assert [v for _, v, _ in a] == pytest.approx([v for _, v, _ in b], rel=1e-9)


def test_captured_trainer_stops_on_divergence_and_restarts_from_the_start():
    """A loss 1e6 times the first is divergence, as in the eager loop: the callback sees the
    same steps (the diverged one too), the parameters go back to their initial values, and X
    is the last iterate whose loss passed."""
    prob = _problem()
    runs = {}
    for backend in ("eager", "captured"):
        model = _model()
        start = [p.detach().clone() for p in model.parameters()]
        seen, res = _recorded(Trainer(200, 3.0, "momentum", momentum=0.9, step=backend),
                              model, prob)
        for p, s in zip(model.parameters(), start):
            assert torch.equal(p.detach(), s)
        runs[backend] = seen, res
    (eager, e_res), (capt, c_res) = runs["eager"], runs["captured"]
    assert c_res.status == e_res.status == "diverged" and c_res.diverged
    assert c_res.diverged_step == e_res.diverged_step < 200
    assert [t for t, _, _ in capt] == [t for t, _, _ in eager]
    assert torch.isfinite(c_res.X).all()
    assert torch.allclose(c_res.X, e_res.X, rtol=1e-9, atol=0)


def test_captured_trainer_refuses_what_it_cannot_record():
    prob = _problem()
    with pytest.raises(ConfigError, match="gd or momentum"):
        Trainer(5, 0.01, "adam", step="captured")
    batched = SNN((8, 6), [2, 2], init="random", init_scale=0.5, method="matmul", dtype=F64,
                  replicas=2)
    with pytest.raises(ConfigError, match="one replica"):
        Trainer(5, 0.01, step="captured").fit(batched, prob, callback=lambda t, i: None)


def test_only_a_cuda_tanh_model_is_capturable():
    assert not capturable(_model())   # on the CPU the captured step runs eagerly
    if torch.cuda.is_available():
        assert capturable(_model("cuda"))
        linear = SNN((8, 6), [2], activation="identity", dtype=F64, device="cuda")
        assert not capturable(linear)
