"""Contracts every registered model, activation and optimizer keeps (swept over the
registries, so that a new entry is checked without a new test)."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn import get_activation, spectral_apply
from spectralnn.baselines import LinearModel
from spectralnn.data import synthetic_low_rank
from spectralnn.models import SOLVER_MODELS, TRAINABLE_MODELS, build_model, solve
from spectralnn.rates import stack_models
from spectralnn.sensing.problem import make_problem
from spectralnn.spectral import available_activations
from spectralnn.trainer import Trainer, train
from spectralnn.updates import OPTIMIZERS

F64 = torch.float64
SHAPE = (5, 4)


@pytest.fixture(scope="module")
def problem():
    X = synthetic_low_rank(5, 1, psd=False, seed=1, d2=4)
    return make_problem(X, "gaussian", m=14, noise_std=1e-3, seed=0, std=1.0)


# ---------------------------------------------------------------------- models


@pytest.mark.parametrize("name", TRAINABLE_MODELS)
def test_trainable_model_contract(name, problem):
    """Shape, dtype, determinism from the seed, replicas that are the single model, and a
    training step that lowers the loss with finite gradients."""
    single = build_model(name, SHAPE, seed=3, dtype=F64)
    X = single()
    assert X.shape == SHAPE and X.dtype == F64
    assert torch.equal(build_model(name, SHAPE, seed=3, dtype=F64)(), X)
    batched = build_model(name, SHAPE, replicas=3, seed=3, dtype=F64)
    assert batched().shape == (3, *SHAPE)
    assert all(p.shape[0] == 3 for p in batched.parameters())
    stack_models(batched, [single] * 3)
    torch.testing.assert_close(batched(), X.expand(3, *SHAPE), rtol=1e-12, atol=1e-14)
    model = build_model(name, SHAPE, seed=3, dtype=F64)
    start = [p.detach().clone() for p in model.parameters()]
    res = train(model, problem, steps=5, lr=1e-3)
    assert not res.diverged
    assert res.history[-1]["train_loss"] <= res.history[0]["train_loss"]
    assert any(not torch.equal(a, b) for a, b in zip(start, model.parameters()))
    assert all(math.isfinite(r["grad_norm"]) for r in res.history)


@pytest.mark.parametrize("name", SOLVER_MODELS)
def test_solver_model_contract(name, problem):
    res = solve(name, problem)
    assert res.model == name and res.X.shape == SHAPE
    assert isinstance(res.status, str) and res.status
    assert math.isfinite(res.final["relative_error"])
    assert math.isfinite(res.summary()["relative_error"])


# ---------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", available_activations())
def test_activation_contract(name):
    """``f(0) = 0``, ``g`` odd, ``dd`` the divided difference of ``g`` (``g'`` on the
    diagonal), ``spectral_apply`` equal to ``U f(Σ) Vᵀ`` with a gradient matching float64
    finite differences (and the Gram form, when there is one, equal to the SVD form)."""
    act = get_activation(name)
    s = torch.tensor([0.0, 0.3, 1.1, 2.5, 7.0], dtype=F64)
    assert float(act.g(torch.zeros(1, dtype=F64))) == 0.0
    torch.testing.assert_close(act.g(-s), -act.g(s))
    a, b = s[1:], s[:-1]
    torch.testing.assert_close(act.dd(a, b), (act.g(a) - act.g(b)) / (a - b),
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(act.dd(s, s), act.dg(s), rtol=1e-10, atol=1e-12)
    X = torch.randn(5, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    U, S, Vh = torch.linalg.svd(X, full_matrices=False)
    torch.testing.assert_close(spectral_apply(X, name), (U * act.g(S)) @ Vh,
                               rtol=1e-10, atol=1e-12)
    if act.h is not None:
        torch.testing.assert_close(spectral_apply(X, name, method="gram"),
                                   spectral_apply(X, name, method="svd"),
                                   rtol=1e-10, atol=1e-12)
    Xg = X.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda Y: spectral_apply(Y, name), (Xg,), eps=1e-6,
                                    atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------- optimizers


def _reference(problem, optimizer: str, steps: int, lr: float) -> torch.Tensor:
    """The same run with ``torch.optim`` (LG from zero, so ``X = W``)."""
    W = torch.zeros(problem.shape, dtype=F64, requires_grad=True)
    opt = {"adam": lambda: torch.optim.Adam([W], lr=lr, betas=(0.9, 0.999), eps=1e-8),
           "momentum": lambda: torch.optim.SGD([W], lr=lr, momentum=0.9),
           "gd": lambda: torch.optim.SGD([W], lr=lr)}[optimizer]()
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * (problem.operator(W) - problem.y).square().mean()
        loss.backward()
        opt.step()
    return W.detach()


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "gd"])
def test_update_rules_match_torch_optim(problem, optimizer):
    model = LinearModel(problem.shape, dtype=F64)
    Trainer(25, 1e-2, optimizer).fit(model, problem)
    torch.testing.assert_close(model.W.detach(), _reference(problem, optimizer, 25, 1e-2),
                               rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains_replicas_as_separate_runs(problem, optimizer):
    """A batched run at two rates equals the two single runs (per-replica state)."""
    opts = {"batch_size": 7} if optimizer == "sgd" else {}
    lrs = [1e-2, 3e-3]

    def make(replicas):
        return build_model("lg", SHAPE, replicas=replicas, dtype=F64, init_scale=0.1, seed=2)

    batched = stack_models(make(2), [make(None)] * 2)
    together = Trainer(6, lrs, optimizer, **opts).fit(batched, problem)
    for lr, res in zip(lrs, together):
        alone = Trainer(6, lr, optimizer, **opts).fit(make(None), problem)
        torch.testing.assert_close(res.X, alone.X, rtol=1e-10, atol=1e-13)
