"""Theorem 3 tools: the KKT certificate and the exact optima it is checked against."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import spectralnn.theory as theory
from spectralnn import ConfigError, ShapeError
from spectralnn.data import synthetic_low_rank
from spectralnn.sensing import GaussianOperator, WellSpecifiedOperator
from spectralnn.theory import (
    kkt_certificate,
    l1_minimum,
    min_frobenius_interpolant,
    nuclear_norm_optimum,
    numerical_rank,
    well_specified_optimum,
)

F64 = torch.float64


def _low_rank(n: int, rank: int, seed: int = 1) -> torch.Tensor:
    X = synthetic_low_rank(n, rank, psd=False, seed=seed)
    return X / torch.linalg.matrix_norm(X, "nuc")


@pytest.fixture(scope="module")
def gaussian_problem():
    X = _low_rank(8, 2)
    op = GaussianOperator((8, 8), 50, seed=3)
    return X, op, op(X)


def test_certificate_holds_at_solver_optimum_and_fails_at_min_frobenius(gaussian_problem):
    X, op, y = gaussian_problem
    opt = nuclear_norm_optimum(op, y)
    assert float(torch.linalg.matrix_norm(opt.X - X)) < 1e-6   # exact recovery here
    cert = kkt_certificate(opt.X, op, y)
    assert cert.holds, cert.describe()
    assert cert.rank == 2 and cert.primal_residual < 1e-8 and cert.tangent_residual < 1e-6
    assert cert.normal_norm < 0.9  # a strict certificate, not a borderline one
    assert cert.dual_method.startswith("sdp") and cert.dual_freedom > 0
    # λ really is a certificate: rebuild Z = Σ λ_i A_i and check by hand.
    A = op.dense().numpy()
    Z = np.einsum("m,mij->ij", cert.lam, A)
    U, _, Vh = np.linalg.svd(opt.X.numpy())
    Ur, Vr = U[:, :2], Vh[:2].T
    PT = Ur @ Ur.T @ Z + Z @ Vr @ Vr.T - Ur @ Ur.T @ Z @ Vr @ Vr.T
    assert np.linalg.norm(PT - Ur @ Vr.T) / np.sqrt(2) == pytest.approx(
        cert.tangent_residual, abs=1e-9)
    assert np.linalg.norm(Z - PT, 2) == pytest.approx(cert.normal_norm, rel=1e-9)

    Xf = min_frobenius_interpolant(op, y)
    bad = kkt_certificate(Xf, op, y)
    assert bad.primal_residual < 1e-8 and not bad.holds
    assert "DOES NOT HOLD" in bad.describe()
    # The public name works with a dense (m, d1, d2) tensor as well.
    same = theory.kkt_certificate(opt.X, op.dense(), y)
    assert same.holds and same.normal_norm == pytest.approx(cert.normal_norm, abs=1e-6)


def test_null_space_search_finds_a_certificate_least_squares_misses(gaussian_problem):
    _, op, y = gaussian_problem
    opt = nuclear_norm_optimum(op, y)
    lsq = kkt_certificate(opt.X, op, y, optimize_dual=False)
    full = kkt_certificate(opt.X, op, y)
    assert lsq.dual_method == "least_squares"
    assert lsq.normal_norm > 1.0 and not lsq.holds       # the minimum-norm λ is not enough
    assert full.holds and full.normal_norm < lsq.normal_norm


def test_certificate_tolerates_a_slightly_inexact_optimum():
    """A solver's answer is off the exact optimum by a little; near-null directions of the
    tangent system are then not exactly null, and the exact null space alone loses the
    certificate. The tangent-ball search keeps it."""
    X = synthetic_low_rank(10, 2, seed=0)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, 6, seed=1)
    y = op(X)
    opt = well_specified_optimum(op, y)
    g = torch.Generator().manual_seed(0)
    noisy = opt.X + 1e-9 * torch.randn(10, 10, generator=g, dtype=F64)
    exact_null = kkt_certificate(noisy, op, y, tangent_tol=0.0)   # forces the null space
    cert = kkt_certificate(noisy, op, y)
    assert cert.holds, cert.describe()
    assert cert.tangent_residual <= 1e-6 and cert.normal_norm < 0.5
    assert exact_null.normal_norm > cert.normal_norm


def test_lp_optimum_matches_cvxpy_nuclear_norm_under_assumption_1():
    X = synthetic_low_rank(8, 3, seed=1)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, 5, seed=2)
    y = op(X)
    lp = well_specified_optimum(op, y)
    cvx = nuclear_norm_optimum(op, y)
    assert lp.nuclear_norm == pytest.approx(cvx.nuclear_norm, rel=1e-6)
    assert float(torch.linalg.matrix_norm(lp.X - cvx.X)) < 1e-6
    assert lp.residual < 1e-12
    assert kkt_certificate(lp.X, op, y).holds
    assert np.abs(lp.x).sum() == pytest.approx(lp.nuclear_norm)


def test_l1_minimum_known_answer_and_least_squares_variant():
    D = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    x = l1_minimum(D, np.array([1.0, 1.0]))
    assert np.allclose(x, [0.0, 1.0, 0.0])           # ‖x‖₁ = 1 beats every other solution
    # Over-determined, inconsistent: x ∈ argmin ‖Dx − y‖ is a line; pick its ℓ1-minimum.
    D2 = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, -1.0], [1.0, -1.0]])
    y2 = np.array([2.0, 0.0, 1.0, 1.0])              # LS solution: x1 + x2 = 1, x1 − x2 = 1
    with pytest.raises(ConfigError, match="not in the range"):
        l1_minimum(D2, y2)
    assert np.allclose(l1_minimum(D2, y2, least_squares=True), [1.0, 0.0])


def test_least_squares_target_for_noisy_overdetermined_data():
    X = synthetic_low_rank(6, 2, seed=4)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, 20, seed=5)
    g = torch.Generator().manual_seed(0)
    y = op(X) + 1e-2 * torch.randn(20, generator=g, dtype=F64)
    opt = well_specified_optimum(op, y, least_squares=True)
    interp = kkt_certificate(opt.X, op, y)
    lsq = kkt_certificate(opt.X, op, y, target="least_squares")
    assert not interp.holds and interp.primal_residual > 1e-4
    assert lsq.holds, lsq.describe()


def test_numerical_rank_rules():
    s = np.array([1.0, 0.1, 0.05, 3e-5, 2e-5, 1e-9])
    assert numerical_rank(s) == 3                          # first drop of more than 100×
    assert numerical_rank(s, rank_gap=None) == 5           # threshold only (1e-6·σ_1)
    assert numerical_rank(s, rank_rtol=0.07, rank_gap=None) == 2
    assert numerical_rank(np.zeros(3)) == 0
    X = torch.diag(torch.tensor([1.0, 0.5, 1e-5], dtype=F64))
    op = torch.eye(9, dtype=F64).reshape(9, 3, 3)         # observe every entry
    cert = kkt_certificate(X, op, op.reshape(9, 9) @ X.reshape(-1))
    assert cert.rank == 2 and cert.tail == pytest.approx(1e-5 / 1.50001)
    assert kkt_certificate(X, op, op.reshape(9, 9) @ X.reshape(-1), rank=3).rank == 3


def test_zero_matrix_and_input_errors():
    op = GaussianOperator((3, 3), 4, seed=0)
    zero = torch.zeros(3, 3, dtype=F64)
    assert kkt_certificate(zero, op, torch.zeros(4, dtype=F64)).holds
    assert not kkt_certificate(zero, op, torch.ones(4, dtype=F64)).holds
    with pytest.raises(ShapeError, match=r"expected \(3, 3\)"):
        kkt_certificate(torch.zeros(2, 3, dtype=F64), op, torch.zeros(4, dtype=F64))
    with pytest.raises(ShapeError, match=r"expected \(4,\)"):
        kkt_certificate(zero, op, torch.zeros(5, dtype=F64))
    with pytest.raises(ConfigError, match="target"):
        kkt_certificate(zero, op, torch.zeros(4, dtype=F64), target="nope")
    with pytest.raises(ConfigError, match="NaN"):
        kkt_certificate(zero * float("nan"), op, torch.zeros(4, dtype=F64))
    with pytest.raises(ConfigError, match="rank_gap"):
        kkt_certificate(zero, op, torch.zeros(4, dtype=F64), rank_gap=0.5)
