"""Factored evaluation: same output and gradient as the dense path, entries without X."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn import SNN
from spectralnn.errors import ConfigError, ShapeError
from spectralnn.factored import LowRank, factored_output, sampled_product
from spectralnn.metrics import matrix_metrics
from spectralnn.nn import random_orthogonal
from spectralnn.prediction import snapshot_metrics
from spectralnn.sensing import EntrySampling
from spectralnn.sensing.problem import SensingProblem
from spectralnn.trainer import Trainer

F64 = torch.float64


def _weights(shape, seed=7):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _grads(model):
    for p in model.parameters():
        p.grad = None
    X = model()
    (X * _weights(X.shape)).sum().backward()
    return X.detach(), [p.grad.clone() for p in model.parameters()]


def _pair(shape, widths, init, rank, **kw):
    extra = {}
    if init == "spectral":
        g = torch.Generator().manual_seed(3)
        extra = {"phi": random_orthogonal(shape[0], g), "psi": random_orthogonal(shape[1], g)}
    dense = SNN(shape, widths, init=init, rank=rank, evaluation="dense", dtype=F64, **kw,
                **extra)
    fact = SNN(shape, widths, init=init, rank=rank, evaluation="factored", dtype=F64, **kw,
               **extra)
    return dense, fact


def _rel(a, b):
    return float((a - b).norm() / b.norm())


CASES = [
    ("identity", {}),                      # nearly rank-deficient concatenation (jitter 1e-6)
    ("identity", {"jitter": 0.0}),         # exactly rank-deficient: U_1 = U_2
    ("random", {"init_scale": 0.7}),
    ("spectral", {}),
    ("diag", {"init_scale": 2.0}),
]


@pytest.mark.parametrize("init,kw", CASES)
@pytest.mark.parametrize("shape", [(24, 17), (13, 29)])
@pytest.mark.parametrize("widths", [[2], [3, 2]])
def test_factored_matches_dense_value_and_gradient(init, kw, shape, widths):
    dense, fact = _pair(shape, widths, init, 3, **kw)
    Xd, gd = _grads(dense)
    Xf, gf = _grads(fact)
    assert fact.factored and not dense.factored
    assert _rel(Xf, Xd) <= 1e-10
    for a, b in zip(gf, gd):
        assert float(b.norm()) > 0
        assert _rel(a, b) <= 1e-8


def test_factored_matches_dense_for_replicas_and_other_activations():
    for act in ("identity", "shifted_sigmoid"):
        kw = {"replicas": 2, "init_scale": 0.5}
        dense, fact = _pair((15, 11), [2, 2], "random", 2, activation=act, **kw)
        Xd, gd = _grads(dense)
        Xf, gf = _grads(fact)
        assert Xf.shape == (2, 15, 11)
        assert _rel(Xf, Xd) <= 1e-10
        for a, b in zip(gf, gd):
            assert _rel(a, b) <= 1e-8


def test_rank_deficient_cores_match_dense():
    """Inputs of rank < r (zero columns) and repeated inputs: cores with zero singular values."""
    dense, fact = _pair((20, 14), [3, 2], "random", 4, init_scale=0.6)
    with torch.no_grad():
        for m in (dense, fact):
            m.U[:, :, 2:] = 0.0
            m.V[1] = m.V[0]
            m.U[1] = m.U[0]
    Xd, gd = _grads(dense)
    Xf, gf = _grads(fact)
    assert _rel(Xf, Xd) <= 1e-10
    for a, b in zip(gf, gd):
        assert _rel(a, b) <= 1e-8


def test_factored_gradient_matches_finite_differences():
    """Central differences in float64 along random directions of every parameter."""
    _, model = _pair((12, 9), [2, 2], "random", 2, init_scale=0.8)
    rows = torch.tensor([0, 3, 5, 11, 7, 2])
    cols = torch.tensor([1, 8, 4, 0, 6, 2])
    w = _weights((6,), seed=11)

    def loss():
        return (model.entries(rows, cols) * w).sum()

    for p in model.parameters():
        p.grad = None
    loss().backward()
    g = torch.Generator().manual_seed(5)
    for p in model.parameters():
        D = torch.randn(p.shape, generator=g, dtype=F64)
        h = 1e-6
        with torch.no_grad():
            p.add_(h * D)
            up = float(loss())
            p.sub_(2 * h * D)
            down = float(loss())
            p.add_(h * D)
        fd = (up - down) / (2 * h)
        an = float((p.grad * D).sum())
        assert abs(fd - an) <= 1e-6 * max(1.0, abs(an))


def test_hand_gradient_is_finite_where_qr_autograd_is_not():
    """At the identity init without jitter the concatenated inputs are exactly rank-deficient:
    autograd through the QR fails, the hand-derived route matches the dense path."""
    dense, fact = _pair((16, 12), [2], "identity", 3, jitter=0.0, init_scale=1e-2)
    _, gd = _grads(dense)
    out = factored_output(fact.U, fact.V, list(fact.alphas), "tanh", basis_gradient=True)
    X = out.dense()
    (X * _weights(X.shape)).sum().backward()
    qr_ok = all(bool(torch.isfinite(p.grad).all()) and _rel(p.grad, b) <= 1e-8
                for p, b in zip(fact.parameters(), gd))
    assert not qr_ok
    _, gf = _grads(fact)
    assert all(_rel(a, b) <= 1e-8 for a, b in zip(gf, gd))


def test_entries_and_low_rank_agree_with_dense():
    dense, fact = _pair((30, 21), [2, 3], "random", 3, init_scale=0.5)
    X = dense().detach()
    rows = torch.arange(30).repeat_interleave(2)
    cols = torch.arange(60) % 21
    assert torch.allclose(fact.entries(rows, cols), X[rows, cols], atol=1e-13, rtol=0)
    assert torch.allclose(dense.entries(rows, cols), X[rows, cols])
    lr = fact.low_rank().detach()
    assert lr.shape == (30, 21)
    s = torch.linalg.svdvals(X)
    sl = lr.svdvals()
    assert torch.allclose(sl, s[: sl.numel()], atol=1e-12)
    assert sl.numel() < s.numel() and float(s[sl.numel():].max()) <= 1e-12
    assert math.isclose(float(lr.frobenius_sq()), float(X.square().sum()), rel_tol=1e-12)


def test_auto_evaluation_picks_factored_below_min_dimension():
    assert SNN((40, 30), [2], rank=4).factored            # R = 8 < 30
    assert not SNN((40, 30), [2], rank=15).factored       # R = 30
    assert not SNN((40, 30), [2], rank=4, evaluation="dense").factored
    assert SNN((10, 8), [2], evaluation="factored").factored
    with pytest.raises(ConfigError, match="evaluation"):
        SNN((10, 8), [2], evaluation="fast")


def test_entries_checks_indices():
    m = SNN((10, 8), [2], rank=2)
    with pytest.raises(ConfigError, match="cols contains 8"):
        m.entries(torch.tensor([0]), torch.tensor([8]))
    with pytest.raises(ShapeError, match="same number"):
        m.entries(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ConfigError, match="integer dtype"):
        m.entries(torch.tensor([0.5]), torch.tensor([1]))


def test_sampled_product_gradient_against_dense():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(9, 4, generator=g, dtype=F64, requires_grad=True)
    B = torch.randn(7, 4, generator=g, dtype=F64, requires_grad=True)
    rows = torch.tensor([0, 8, 3, 3, 5])
    cols = torch.tensor([6, 0, 2, 2, 1])
    assert torch.autograd.gradcheck(lambda a, b: sampled_product(a, b, rows, cols), (A, B))


def test_sampled_product_torch_fallback_matches_compiled(monkeypatch):
    from spectralnn import _sparse_kernels

    g = torch.Generator().manual_seed(1)
    A = torch.randn(2, 11, 5, generator=g, dtype=F64)
    B = torch.randn(2, 8, 5, generator=g, dtype=F64)
    rows = torch.randint(0, 11, (40,), generator=g)
    cols = torch.randint(0, 8, (40,), generator=g)
    w = torch.randn(2, 40, generator=g, dtype=F64)
    out = []
    for available in (True, False):
        monkeypatch.setattr(_sparse_kernels, "AVAILABLE", available)
        a, b = A.clone().requires_grad_(), B.clone().requires_grad_()
        z = sampled_product(a, b, rows, cols, value_cols=3)
        (z * w).sum().backward()
        out.append((z.detach(), a.grad, b.grad))
    for x, y in zip(*out):
        assert torch.allclose(x, y, atol=1e-13)
    want = torch.einsum("bnk,bnk->bn", A[:, rows, :3], B[:, cols, :3])
    assert torch.allclose(out[0][0], want, atol=1e-13)


def _completion_problem(shape, fraction, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    X_star = torch.randn(shape[0], 2, generator=g, dtype=F64) @ torch.randn(
        2, shape[1], generator=g, dtype=F64)
    X_star = (X_star / torch.linalg.matrix_norm(X_star, "nuc")).to(dtype)
    op = EntrySampling.random(shape, fraction=fraction, seed=seed, dtype=dtype)
    return SensingProblem(X_star, op, op(X_star))


def test_trainer_gathers_entries_without_forming_x(monkeypatch):
    problem = _completion_problem((40, 30), 0.4, F64)
    calls = []
    original = LowRank.dense

    def counting(self, *a, **k):
        calls.append(self.shape)
        return original(self, *a, **k)

    monkeypatch.setattr(LowRank, "dense", counting)
    fact = SNN((40, 30), [2], init="random", rank=3, init_scale=0.3, dtype=F64)
    dense = SNN((40, 30), [2], init="random", rank=3, init_scale=0.3, dtype=F64,
                evaluation="dense")
    rf = Trainer(20, 0.5, log_every=5).fit(fact, problem)
    assert len(calls) == 1            # only the reported result, after training
    rd = Trainer(20, 0.5, log_every=5).fit(dense, problem)
    assert torch.allclose(rf.X, rd.X, atol=1e-12)
    for a, b in zip(rf.history, rd.history):
        for key in ("train_loss", "relative_error", "nuclear_norm", "sv1", "sv_min1",
                    "effective_rank", "grad_norm"):
            assert math.isclose(a[key], b[key], rel_tol=1e-8, abs_tol=1e-13), key


def test_snapshot_metrics_from_factors_match_dense():
    problem = _completion_problem((25, 18), 0.5, F64)
    m = SNN((25, 18), [2], init="random", rank=2, init_scale=0.5, dtype=F64, replicas=2)
    with torch.no_grad():
        lr = m.low_rank().detach()
        got = snapshot_metrics(lr, problem)
        want = matrix_metrics(lr.dense(), problem)
    for key, value in want.items():
        assert torch.allclose(got[key], value, rtol=1e-9, atol=1e-12, equal_nan=True), key


def test_float32_training_from_identity_init_stays_finite():
    problem = _completion_problem((60, 45), 0.3, torch.float32, seed=2)
    model = SNN((60, 45), [2, 2], init="identity", rank=4, init_scale=1e-3)
    assert model.factored
    res = Trainer(60, 5e-2, optimizer="adam", log_every=20).fit(model, problem)
    assert not res.diverged
    assert all(math.isfinite(r["train_loss"]) for r in res.history)
    assert res.history[-1]["train_loss"] < 0.5 * res.history[0]["train_loss"]
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


@pytest.mark.parametrize("measurement", ["dct", "gaussian", "entries"])
def test_trainer_factored_and_dense_agree_for_every_operator(measurement):
    from spectralnn.sensing.problem import make_problem

    g = torch.Generator().manual_seed(4)
    X_star = torch.randn(16, 2, generator=g, dtype=F64) @ torch.randn(2, 12, generator=g,
                                                                        dtype=F64)
    problem = make_problem(X_star, measurement, fraction=0.5, seed=1)
    out = []
    for ev in ("factored", "dense"):
        model = SNN((16, 12), [2], init="random", rank=2, init_scale=0.3, dtype=F64,
                    evaluation=ev)
        out.append(Trainer(10, 1e-2, log_every=5).fit(model, problem))
    assert torch.allclose(out[0].X, out[1].X, atol=1e-12)
    for a, b in zip(out[0].history, out[1].history):
        for key in ("train_loss", "test_loss", "relative_error", "nuclear_norm", "grad_norm"):
            assert math.isclose(a[key], b[key], rel_tol=1e-8, abs_tol=1e-13), key


def test_factored_dense_refuses_matrices_over_the_limit():
    lr = LowRank(torch.zeros(10, 2), torch.zeros(20, 2))
    with pytest.raises(ConfigError, match="max_elements = 100"):
        lr.dense(max_elements=100)


def test_training_state_of_a_factored_model_round_trips_weights_only(tmp_path):
    problem = _completion_problem((20, 15), 0.4, F64)
    states = []
    model = SNN((20, 15), [2], init="random", rank=2, init_scale=0.3, dtype=F64)
    first = Trainer(12, 1e-2, checkpoint_every=6).fit(
        model, problem, on_checkpoint=lambda t, s: states.append(s))
    assert isinstance(states[0]["last_X"], LowRank)
    torch.save(states[0], tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    again = SNN((20, 15), [2], init="random", rank=2, init_scale=0.3, dtype=F64)
    resumed = Trainer(12, 1e-2, checkpoint_every=6).fit(again, problem, state=state)
    assert torch.equal(first.X, resumed.X)


def test_sampled_product_fixed_columns_skip_only_their_gradient():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(9, 6, generator=g, dtype=F64)
    B = torch.randn(7, 6, generator=g, dtype=F64)
    rows = torch.randint(0, 9, (30,), generator=g)
    cols = torch.randint(0, 7, (30,), generator=g)
    w = torch.randn(30, generator=g, dtype=F64)
    grads = []
    for fixed in (0, 2):
        a, b = A.clone().requires_grad_(), B.clone().requires_grad_()
        (sampled_product(a, b, rows, cols, fixed_cols=fixed) * w).sum().backward()
        grads.append((a.grad, b.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-13)
    assert torch.equal(grads[1][1][:, :2], torch.zeros(7, 2, dtype=F64))
    assert torch.allclose(grads[0][1][:, 2:], grads[1][1][:, 2:], atol=1e-13)


def test_float32_compiled_gather_matches_float64_reference():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(50, 64, generator=g, dtype=F64)
    B = torch.randn(40, 64, generator=g, dtype=F64)
    rows = torch.randint(0, 50, (500,), generator=g)
    cols = torch.randint(0, 40, (500,), generator=g)
    z = sampled_product(A.float(), B.float(), rows, cols)
    assert z.dtype == torch.float32
    want = (A[rows] * B[cols]).sum(-1)
    assert torch.allclose(z.double(), want, atol=1e-4)
