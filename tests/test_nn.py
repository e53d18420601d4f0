"""The SNN: architecture, initialisations, determinism, errors, and that it trains."""

from __future__ import annotations

import pytest
import torch

from spectralnn import SNN, ConfigError, ShapeError, spectral_apply
from spectralnn.nn import random_orthogonal

F64 = torch.float64


def _looped_forward(model: SNN) -> torch.Tensor:
    """Reference: the paper's Figure 1 written block by block."""
    Q = [model.U[k] @ model.V[k].T for k in range(model.widths[0])]
    for alpha in model.alphas:
        FQ = [spectral_apply(q, model.activation) for q in Q]
        Q = [sum(alpha[k, l] * FQ[k] for k in range(len(FQ))) for l in range(alpha.shape[1])]
    assert len(Q) == 1
    return Q[0]


@pytest.mark.parametrize("shape,widths", [((5, 5), [2, 2, 2, 2]), ((6, 4), [4, 8, 16]),
                                          ((3, 7), [1]), ((4, 4), [3, 1, 2])])
@pytest.mark.parametrize("init", ["identity", "random", "diag"])
def test_forward_matches_blockwise_definition(shape, widths, init):
    model = SNN(shape, widths, init=init, init_scale=0.5 if init != "identity" else None,
                dtype=F64, seed=3)
    X = model()
    assert X.shape == shape
    assert [tuple(a.shape) for a in model.alphas] == list(
        zip([*widths], [*widths[1:], 1], strict=True))
    assert torch.allclose(X, _looped_forward(model), atol=1e-12)


def test_alpha_shapes_follow_the_paper():
    model = SNN((28, 28), [4, 8, 16])
    assert [tuple(a.shape) for a in model.alphas] == [(4, 8), (8, 16), (16, 1)]
    assert all(((a >= 0) & (a <= 1)).all() for a in model.alphas)
    assert model.U.shape == (4, 28, 28) and model.V.shape == (4, 28, 28)


def test_identity_init_is_small_identity_with_jitter():
    model = SNN((6, 4), [2, 3], init="identity", dtype=F64)
    eye = torch.eye(6, 4, dtype=F64)
    dev = (model.U.detach() - 1e-4 * eye).abs()
    assert 0 < float(dev.max()) < 1e-5
    model = SNN((6, 4), [2, 3], init="identity", jitter=0.0, init_scale=0.1, dtype=F64)
    assert torch.equal(model.U.detach()[1], 0.1 * eye)


def test_spectral_init_satisfies_assumption_2():
    g = torch.Generator().manual_seed(0)
    Phi, Psi = random_orthogonal(5, g), random_orthogonal(5, g)
    model = SNN((5, 5), [3, 2], init="spectral", phi=Phi, psi=Psi, dtype=F64, seed=1)
    Q = model.inputs().detach()
    D = Phi.T @ Q @ Psi          # (3, 5, 5), must be diagonal
    off = D - torch.diag_embed(torch.diagonal(D, dim1=-2, dim2=-1))
    assert float(off.abs().max()) < 1e-12
    u, v, G = (model.spectral_init[k] for k in ("u", "v", "G"))
    assert torch.allclose(torch.diagonal(D, dim1=-2, dim2=-1), u * v, atol=1e-12)
    assert torch.allclose(G @ G.T, torch.eye(5, dtype=F64), atol=1e-12)
    assert (u[:, :-1] >= u[:, 1:]).all()        # sorted descending
    # The output keeps the form Φ diag(·) Ψᵀ.
    Xd = Phi.T @ model().detach() @ Psi
    assert float((Xd - torch.diag(torch.diagonal(Xd))).abs().max()) < 1e-12


def test_same_seed_same_model_bit_for_bit():
    a = SNN((7, 5), [2, 3], init="random", seed=11)
    b = SNN((7, 5), [2, 3], init="random", seed=11)
    c = SNN((7, 5), [2, 3], init="random", seed=12)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.U, c.U)
    assert torch.equal(a(), b())


def test_does_not_touch_global_rng():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    SNN((4, 4), [2, 2], init="random", seed=0)
    assert torch.equal(torch.rand(3), before)


def test_replicas_are_independent_networks():
    model = SNN((5, 4), [2, 3], init="random", replicas=3, dtype=F64, seed=2)
    X = model()
    assert X.shape == (3, 5, 4)
    for i in range(3):
        single = SNN((5, 4), [2, 3], init="random", dtype=F64)
        with torch.no_grad():
            single.U.copy_(model.U[i])
            single.V.copy_(model.V[i])
            for a, b in zip(single.alphas, model.alphas, strict=True):
                a.copy_(b[i])
        assert torch.allclose(single(), X[i], atol=1e-12)


def test_without_activation_is_multilinear():
    model = SNN((4, 4), [2, 2], activation="identity", init="random", init_scale=1.0,
                dtype=F64)
    Q = model.inputs()
    a0, a1 = model.alphas
    expected = torch.einsum("kij,kl,lm->mij", Q, a0, a1)[0]
    assert torch.allclose(model(), expected, atol=1e-12)


def test_gradients_finite_at_identity_init():
    model = SNN((8, 8), [4, 8, 16], init="identity", dtype=torch.float32)
    model().square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_trains_from_identity_init_in_float32():
    """Loss falls by orders of magnitude on a small noise-free sensing problem, no NaN."""
    g = torch.Generator().manual_seed(0)
    n, m = 8, 48
    B = torch.rand(n, 2, generator=g, dtype=F64)
    X_star = B @ B.T
    X_star /= torch.linalg.matrix_norm(X_star, "nuc")
    A = (n * torch.randn(m, n * n, generator=g, dtype=F64)).float()
    y = A @ X_star.reshape(-1).float()
    model = SNN((n, n), [2, 2, 2], init="identity", dtype=torch.float32, seed=0)
    losses = []
    for _ in range(1500):
        loss = 0.5 * ((A @ model().reshape(-1) - y) ** 2).mean()
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 2e-3 * p.grad
        losses.append(float(loss.detach()))
    assert all(map(torch.isfinite, map(torch.tensor, losses)))
    assert losses[-1] < 1e-3 * losses[0]


@pytest.mark.parametrize("kwargs,err,match", [
    (dict(shape=(0, 3), widths=[2]), ShapeError, r"shape must be a pair of positive integers"),
    (dict(shape=(3,), widths=[2]), ShapeError, r"got \(3,\)"),
    (dict(shape=(3, 3), widths=[]), ConfigError, "non-empty list"),
    (dict(shape=(3, 3), widths=[2, 0]), ConfigError, r"positive integers, got 0"),
    (dict(shape=(3, 3), widths=[2, 1.5]), ConfigError, r"got 1.5"),
    (dict(shape=(3, 3), widths=[2], activation="relu"), ConfigError, "unknown activation"),
    (dict(shape=(3, 3), widths=[2], init="zeros"), ConfigError, "unknown init 'zeros'"),
    (dict(shape=(3, 3), widths=[2], init="spectral"), ConfigError, "needs phi"),
    (dict(shape=(3, 3), widths=[2], init="spectral", phi=torch.ones(3, 3), psi=torch.eye(3)),
     ConfigError, "orthonormal columns"),
    (dict(shape=(3, 3), widths=[2], rank=0), ConfigError, "rank must be a positive integer"),
    (dict(shape=(3, 3), widths=[2], init_scale=-1.0), ConfigError, "init_scale"),
    (dict(shape=(3, 3), widths=[2], replicas=0), ConfigError, "replicas"),
])
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        SNN(**kwargs)
