"""Precision, recall and NDCG at k of ranked held-out ratings, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spectralnn.errors import ConfigError, ShapeError
from spectralnn.ranking import ranking_metrics


def test_values_by_hand():
    # user a: 3 candidates, relevant (≥ 4) are x, z; ranked z (rel), y, x (rel)
    # user b: 2 candidates, one relevant, ranked first; user c: nothing relevant (skipped)
    users = ["a", "a", "a", "b", "b", "c"]
    scores = [1.0, 2.0, 3.0, 5.0, 1.0, 4.0]
    truth = [5, 2, 4, 4, 1, 2]
    out = ranking_metrics(users, scores, truth, k=2)
    # a: top-2 = z, y → 1 hit; precision 1/2, recall 1/2, DCG 1, IDCG 1 + 1/log2(3)
    # b: top-2 = both → 1 hit; precision 1/2, recall 1, NDCG 1
    assert out["users"] == 2
    assert out["precision"] == pytest.approx(0.5)
    assert out["recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["ndcg"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1.0) / 2)


def test_perfect_ranking_scores_one_and_ties_keep_the_input_order():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(20), 15)
    truth = rng.integers(1, 6, users.size).astype(float)
    perfect = ranking_metrics(users, truth + 0.01 * rng.random(users.size), truth, k=10)
    assert perfect["ndcg"] == pytest.approx(1.0)
    tied = ranking_metrics([1, 1], [3.0, 3.0], [5.0, 1.0], k=1)
    assert tied["precision"] == 1.0  # the first of equal scores is ranked first


def test_bad_inputs():
    with pytest.raises(ShapeError, match="three"):
        ranking_metrics([1, 2], [1.0], [1.0, 2.0])
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        ranking_metrics([1], [1.0], [1.0], k=0)
    assert ranking_metrics([1], [1.0], [1.0])["users"] == 0
