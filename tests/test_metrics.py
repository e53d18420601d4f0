"""One set of singular-value metrics: a dense snapshot and a low-rank one report the same."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn.factored import LowRank
from spectralnn.metrics import matrix_metrics, spectrum_metrics
from spectralnn.prediction import snapshot_metrics
from spectralnn.sensing import EntrySampling
from spectralnn.sensing.problem import SensingProblem

F64 = torch.float64


def _problem(shape: tuple[int, int], seed: int = 0) -> SensingProblem:
    g = torch.Generator().manual_seed(seed)
    X_star = torch.randn(*shape, generator=g, dtype=F64)
    op = EntrySampling.random(shape, fraction=0.5, seed=seed, dtype=F64)
    return SensingProblem(X_star, op, op(X_star))


@pytest.mark.parametrize(("shape", "k"), [((1, 6), 1), ((6, 1), 2), ((2, 5), 1), ((7, 5), 2),
                                          ((7, 5), 5), ((4, 4), 6)])
def test_low_rank_snapshot_reports_what_the_dense_matrix_reports(shape, k):
    """Factors of rank k < min(d1, d2) leave zero singular values, which the dense SVD sees;
    a value that does not exist (sv_min2 of a 1×n matrix, sv3 of a 2×n one) is NaN in both."""
    g = torch.Generator().manual_seed(1)
    X = LowRank(torch.randn(shape[0], k, generator=g, dtype=F64),
                torch.randn(shape[1], k, generator=g, dtype=F64))
    problem = _problem(shape)
    got = snapshot_metrics(X, problem)
    want = matrix_metrics(X.dense(), problem)
    assert set(got) == set(want)
    for key, value in want.items():
        assert torch.allclose(got[key], value, rtol=1e-9, atol=1e-12, equal_nan=True), key


def test_spectrum_metrics_exact_values():
    s = torch.tensor([3.0, 1.0], dtype=F64)          # a rank-2 matrix with smaller side 4
    out = spectrum_metrics(s, 4)
    assert float(out["nuclear_norm"]) == 4.0
    assert (float(out["sv1"]), float(out["sv2"]), float(out["sv3"])) == (3.0, 1.0, 0.0)
    assert float(out["sv_min2"]) == 0.0 and float(out["sv_min1"]) == 0.0
    p = torch.tensor([0.75, 0.25], dtype=F64)
    assert math.isclose(float(out["effective_rank"]), float(torch.exp(-(p * p.log()).sum())))
    one = spectrum_metrics(torch.tensor([2.0], dtype=F64), 1)   # a 1×n matrix
    assert float(one["sv1"]) == float(one["sv_min1"]) == 2.0
    assert math.isnan(float(one["sv_min2"])) and math.isnan(float(one["sv2"]))
