"""Baselines: LG's implicit bias, DF, WOA, NNM status handling and values, SVT recovery."""

from __future__ import annotations

import pytest
import torch

from spectralnn.baselines import (
    MODELS,
    DeepFactorization,
    LinearModel,
    build_model,
    model_options,
    nuclear_norm_minimization,
    singular_value_thresholding,
    solve,
    solve_nuclear_norm,
)
from spectralnn.data import synthetic_low_rank
from spectralnn.errors import ConfigError, ShapeError, SolverError
from spectralnn.nn import SNN
from spectralnn.sensing.problem import make_problem
from spectralnn.trainer import train

F64 = torch.float64
# Statuses of a usable answer: interior-point solvers may report 'optimal_inaccurate' at a
# relative gap of ~1e-8 depending on the platform's floating point; the values are checked.
SOLVED = ("optimal", "optimal_inaccurate")


def test_lg_converges_to_minimum_frobenius_interpolant():
    X = synthetic_low_rank(6, 2, psd=False, seed=0)
    problem = make_problem(X, "gaussian", m=10, seed=0, std=1.0)  # underdetermined: 10 < 36
    M = problem.operator.dense().reshape(10, 36)
    L = float(torch.linalg.matrix_norm(M, ord=2)) ** 2 / 10
    res = train(build_model("lg", problem.shape), problem, steps=3000, lr=1.0 / L, tol=1e-30)
    w_min = torch.linalg.pinv(M) @ problem.y
    assert torch.allclose(res.X.flatten(), w_min, atol=1e-9, rtol=0)
    # it interpolates, and is not the ground truth (the bias is Frobenius, not low rank)
    assert float(problem.loss(res.X)) < 1e-20
    assert float(problem.relative_error(res.X)) > 0.1


def test_linear_model_shapes_and_init():
    assert torch.equal(LinearModel((3, 4), dtype=F64)(), torch.zeros(3, 4, dtype=F64))
    assert LinearModel((3, 4), replicas=2)().shape == (2, 3, 4)
    assert LinearModel((3, 4), init_scale=0.1, seed=1)().abs().sum() > 0
    with pytest.raises(ShapeError):
        LinearModel((3,))
    with pytest.raises(ConfigError, match="init_scale"):
        LinearModel((3, 3), init_scale=-1.0)


def test_deep_factorization_product_and_init():
    df = DeepFactorization((3, 5), depth=3, jitter=0.0, dtype=F64)
    assert [tuple(W.shape) for W in df.factors] == [(5, 5), (5, 5), (3, 5)]
    assert torch.allclose(df(), 1e-12 * torch.eye(3, 5, dtype=F64), atol=1e-25, rtol=0)
    df2 = DeepFactorization((4, 4), depth=2, init="random", init_scale=0.5, width=2, seed=0,
                            dtype=F64)
    W1, W2 = df2.factors
    assert W1.shape == (2, 4) and W2.shape == (4, 2)
    assert torch.allclose(df2(), W2 @ W1)
    assert torch.linalg.matrix_rank(df2()) <= 2
    assert DeepFactorization((3, 3), depth=1)().shape == (3, 3)
    assert DeepFactorization((3, 3), replicas=4)().shape == (4, 3, 3)
    with pytest.raises(ConfigError, match="depth"):
        DeepFactorization((3, 3), depth=0)
    with pytest.raises(ConfigError, match="unknown init 'zeros'"):
        DeepFactorization((3, 3), init="zeros")


def test_deep_factorization_fits_an_easy_problem():
    X = synthetic_low_rank(5, 1, seed=1)
    problem = make_problem(X, "gaussian", m=20, seed=0, std=1.0)
    model = build_model("df", problem.shape, init_scale=0.3, depth=3)
    res = train(model, problem, steps=400, lr=0.5)
    assert not res.diverged
    assert res.history[-1]["train_loss"] < 1e-3 * res.history[0]["train_loss"]


def test_registry():
    assert MODELS == ("df", "lg", "nnm", "snn", "svt", "woa")
    woa = build_model("woa", (4, 4), widths=[2, 2])
    assert isinstance(woa, SNN) and woa.activation.name == "identity"
    assert build_model("snn", (4, 4)).activation.name == "tanh"
    assert "activation" not in model_options("woa") and "widths" in model_options("snn")
    with pytest.raises(ConfigError, match=r"unknown model 'cnn'; expected one of: df, lg, nnm"):
        build_model("cnn", (4, 4))
    with pytest.raises(ConfigError, match="unknown option 'depth' for model 'snn'"):
        build_model("snn", (4, 4), depth=3)
    with pytest.raises(ConfigError, match="is a solver"):
        build_model("nnm", (4, 4))
    with pytest.raises(ConfigError, match="is trainable"):
        solve("lg", None)


# ---------------------------------------------------------------------- NNM


def _diagonal_constraints(d: torch.Tensor, d2: int) -> torch.Tensor:
    A = torch.zeros(len(d), len(d), d2, dtype=F64)
    for i in range(len(d)):
        A[i, i, i] = 1.0
    return A


@pytest.mark.parametrize("solver", ["SCS", "clarabel"])
def test_nnm_known_answer(solver):
    """min ‖X‖_* s.t. diag(X) = d has the answer diag(d), value Σ|d_i| (‖X‖_* ≥ Σ|X_ii|)."""
    d = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    X, status, value, info = solve_nuclear_norm(_diagonal_constraints(d, 4), d, solver=solver)
    assert status in SOLVED
    assert value == pytest.approx(3.5, abs=1e-6)
    expected = torch.zeros(3, 4, dtype=F64)
    expected[range(3), range(3)] = d
    assert torch.allclose(torch.from_numpy(X), expected, atol=1e-5)
    assert info["solver"] == solver.upper()


def test_nnm_noise_tolerant_constraint():
    """min ‖X‖_* s.t. |X_11 − 1| ≤ 0.25: X = 0.75·e1e1ᵀ."""
    A = _diagonal_constraints(torch.ones(1, dtype=F64), 3)
    X, status, value, _ = solve_nuclear_norm(A, torch.ones(1, dtype=F64), delta=0.25)
    assert status in SOLVED and value == pytest.approx(0.75, abs=1e-6)
    assert X[0, 0] == pytest.approx(0.75, abs=1e-5) and abs(X).sum() == pytest.approx(0.75,
                                                                                       abs=1e-5)


def test_nnm_status_is_never_silently_accepted():
    A = _diagonal_constraints(torch.ones(1, dtype=F64), 3)
    A2 = torch.cat([A, A])
    with pytest.raises(SolverError, match="infeasible"):
        solve_nuclear_norm(A2, torch.tensor([1.0, 2.0], dtype=F64))
    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 8, 8, generator=g, dtype=F64)
    y = (A * synthetic_low_rank(8, 1, seed=0)).sum((1, 2))
    with pytest.raises(SolverError, match="optimal_inaccurate"):
        solve_nuclear_norm(A, y, max_iters=3, allow_inaccurate=False)
    X, status, _, _ = solve_nuclear_norm(A, y, max_iters=3)
    assert X.shape == (8, 8)
    assert status == "optimal_inaccurate"
    with pytest.raises(ConfigError, match="unknown solver 'mosek'"):
        solve_nuclear_norm(A, y, solver="mosek")
    with pytest.raises(ConfigError, match="delta"):
        solve_nuclear_norm(A, y, delta=-1.0)


def test_nnm_on_a_problem_recovers_low_rank():
    X = synthetic_low_rank(8, 1, psd=False, seed=2)
    problem = make_problem(X, "gaussian", m=40, seed=0, std=1.0)  # 40 ≫ r(2n − r) = 15
    res = nuclear_norm_minimization(problem, solver="clarabel")
    assert res.status == "converged" and res.info["solver_status"] in SOLVED
    assert res.model == "nnm" and res.final["relative_error"] < 1e-4
    assert res.summary()["accurate"] is (res.info["solver_status"] == "optimal")
    assert res.summary()["objective"] == pytest.approx(1.0, abs=1e-4)  # ‖X*‖_* = 1


@pytest.mark.parametrize("delta", [None, 0.05])
def test_nnm_reused_program_solves_exactly_as_a_new_one(delta):
    """The program is compiled once per operator and kind, then solved for new data: the
    answers are those of a freshly built program, bit for bit, whatever was solved before."""
    from spectralnn.baselines import nuclear_norm

    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 6, 6, generator=g, dtype=F64)
    ys = [(A * synthetic_low_rank(6, 1, seed=s)).sum((1, 2)) for s in (0, 1)]
    nuclear_norm._PROGRAMS.clear()
    first, second = (solve_nuclear_norm(A, y, delta=delta) for y in ys)
    assert len(nuclear_norm._PROGRAMS) == 1
    nuclear_norm._PROGRAMS.clear()
    fresh = solve_nuclear_norm(A, ys[1], delta=delta)
    assert (second[0] == fresh[0]).all() and second[2] == fresh[2]
    assert not (first[0] == second[0]).all()


# ---------------------------------------------------------------------- SVT


def test_svt_recovers_easy_completion():
    X = synthetic_low_rank(30, 2, psd=False, seed=4)
    problem = make_problem(X, "entries", fraction=0.6, seed=0, normalize="frobenius")
    res = singular_value_thresholding(problem, step=1.2 / 0.6, tol=1e-6, max_iters=1500)
    assert res.status == "converged"
    assert res.final["relative_error"] < 1e-3
    assert res.history[-1]["effective_rank"] < 2.5
    default = singular_value_thresholding(problem, max_iters=40)
    assert default.info["step"] == pytest.approx(1.9 / 1.01, rel=1e-6)  # ‖A‖ = 1 for entries
    assert default.status == "budget_reached" and default.steps == 40


def test_svt_bad_settings():
    X = synthetic_low_rank(5, 1, seed=0)
    problem = make_problem(X, "entries", fraction=0.5, seed=0)
    with pytest.raises(ConfigError, match="tau"):
        singular_value_thresholding(problem, tau=-1.0)
    with pytest.raises(ConfigError, match="max_iters"):
        singular_value_thresholding(problem, max_iters=0)
