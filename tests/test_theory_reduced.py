"""Theorem 1: the spectrally initialised SNN on a well-specified problem is exactly the
reduced network on vectors, for gradient descent iterate by iterate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spectralnn import SNN, ConfigError, ShapeError
from spectralnn.data import synthetic_low_rank
from spectralnn.sensing import WellSpecifiedOperator
from spectralnn.theory import ReducedSNN

F64 = torch.float64


def _problem(d1: int, d2: int, m: int, seed: int = 0):
    X = synthetic_low_rank(d1, 2, psd=False, d2=d2, seed=seed)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, m, seed=seed + 1)
    return op, op(X)


def _full_gd(model: SNN, op, y: torch.Tensor, lr: torch.Tensor, steps: int) -> list:
    """Plain autograd GD on the full SNN (spectral_apply inside), recording X each step."""
    Xs = []
    for _ in range(steps):
        loss = (0.5 * (op(model()) - y).square().mean(-1)).sum()
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                step = lr.reshape(-1, *([1] * (p.dim() - 1))) if model.replicas else lr
                p -= step * g
        Xs.append(model().detach())
    return Xs


@pytest.mark.parametrize("shape,widths,replicas", [
    ((5, 5), [2, 2, 2, 2], None),
    ((6, 4), [3, 1, 2], 3),
    ((4, 7), [1], None),
    ((5, 5), [4, 8, 16], 2),
])
def test_full_gd_iterates_equal_reduced_iterates(shape, widths, replicas):
    op, y = _problem(*shape, m=7)
    model = SNN(shape, widths, init="spectral", phi=op.phi, psi=op.psi, dtype=F64, seed=3,
                replicas=replicas, init_scale=0.5)
    red = ReducedSNN.from_snn(model, op)
    lr = torch.tensor([2e-3, 1e-3, 5e-4][: replicas or 1], dtype=F64)
    lr = lr if replicas else lr[0]
    steps = 30
    full = _full_gd(model, op, y, lr, steps)
    X0 = red.full_matrix()
    hist = red.fit(y, lr.numpy(), steps, record_every=1, record_x=True)
    Phi, Psi = op.phi, op.psi
    moved = 0.0
    for k in range(steps):
        x = torch.from_numpy(hist.x[k + 1])
        Xr = torch.einsum("ir,...r,jr->...ij", Phi, x, Psi)
        err = torch.linalg.matrix_norm(full[k] - Xr) / torch.linalg.matrix_norm(Xr)
        assert float(err.max()) < 1e-9, (k, float(err.max()))
        # The off-diagonal part of Φᵀ X Ψ stays at round-off.
        core = Phi.T @ full[k] @ Psi
        off = core - torch.diag_embed(torch.diagonal(core, dim1=-2, dim2=-1))
        assert float(off.abs().max()) < 1e-12
    moved = float((torch.linalg.matrix_norm(full[-1] - X0) / torch.linalg.matrix_norm(X0)).min())
    assert moved > 1e-3  # the dynamics really moved
    # Parameters agree too, through the round trip to a full SNN.
    back = red.to_snn()
    for p, q in zip(back.parameters(), model.parameters()):
        assert torch.allclose(p, q, rtol=1e-9, atol=1e-12)
    loss_full = 0.5 * (op(model()) - y).square().mean(-1)
    assert np.allclose(hist.loss[-1], loss_full.detach().numpy(), rtol=1e-9)


def test_gradient_matches_autograd_on_vectors():
    op, y = _problem(6, 6, m=9)
    red = ReducedSNN.spectral(op, (3, 2, 2), init_scale=0.7, replicas=2, seed=5)
    D = op.diagonals
    u = torch.tensor(red.u, requires_grad=True)
    v = torch.tensor(red.v, requires_grad=True)
    al = [torch.tensor(a, requires_grad=True) for a in red.alphas]
    q = u * v
    for a in al:
        q = torch.einsum("bkr,bkl->blr", torch.tanh(q), a)
    loss = (0.5 * (q[:, 0, :] @ D.T - y).square().mean(-1)).sum()
    grads = torch.autograd.grad(loss, [u, v, *al])
    mine = red.gradient(y)
    for g, h in zip(grads, [mine["u"], mine["v"], *mine["alphas"]]):
        assert np.allclose(g.numpy(), h, rtol=1e-12, atol=1e-14)
    assert np.allclose(red.loss(y), 0.5 * (q[:, 0, :] @ D.T - y).square().mean(-1).detach())


def test_spectral_constructor_matches_the_snn_draw():
    op, _ = _problem(5, 5, m=4)
    red = ReducedSNN.spectral(op, (2, 3), init_scale=0.3, replicas=4, seed=9)
    model = SNN((5, 5), [2, 3], init="spectral", phi=op.phi, psi=op.psi, init_scale=0.3,
                replicas=4, seed=9, dtype=F64)
    assert torch.allclose(red.full_matrix(), model().detach(), atol=1e-14)


def test_rank_smaller_than_operator_pads_with_zeros():
    op, y = _problem(5, 5, m=6)
    model = SNN((5, 5), [2, 2], init="spectral", phi=op.phi, psi=op.psi, rank=3, dtype=F64)
    red = ReducedSNN.from_snn(model, op)
    assert red.rank == 5 and np.all(red.u[..., 3:] == 0)
    red.fit(y, 1e-3, 10)
    assert np.all(red.u[..., 3:] == 0) and np.all(red.v[..., 3:] == 0)
    assert red.to_snn().U.shape == model.U.shape


def test_fit_marks_divergence_and_stops_at_tol():
    op, y = _problem(5, 5, m=4)
    red = ReducedSNN.spectral(op, (2, 2), init_scale=0.5, replicas=2, seed=0)
    hist = red.fit(y, [1e-3, 10.0], 200, record_every=10)
    assert hist.diverged.tolist() == [False, True]
    assert hist.loss[-1, 0] < hist.loss[0, 0]
    red2 = ReducedSNN.spectral(op, (2, 2), init_scale=0.5, seed=0)
    h2 = red2.fit(y, 2e-3, 100000, record_every=100, tol=1e10)
    assert h2.steps_done == 100  # tol reached at the first record


def test_rejects_non_spectral_models_and_bad_inputs():
    op, y = _problem(4, 4, m=3)
    with pytest.raises(ConfigError, match="init='spectral'"):
        ReducedSNN.from_snn(SNN((4, 4), [2], init="identity", dtype=F64), op)
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=F64))
    other = SNN((4, 4), [2], init="spectral", phi=Q, psi=Q, dtype=F64)
    with pytest.raises(ConfigError, match="not of the form"):
        ReducedSNN.from_snn(other, op)
    red = ReducedSNN.spectral(op, (2,), seed=0)
    with pytest.raises(ShapeError, match=r"expected \(3,\)"):
        red.fit(torch.zeros(5, dtype=F64), 1e-3, 1)
    with pytest.raises(ConfigError, match="lr"):
        red.fit(y, -1.0, 1)
    with pytest.raises(ShapeError, match="last alphas"):
        ReducedSNN(np.ones((2, 4)), np.ones((2, 4)), [np.ones((2, 2))], op.diagonals)
