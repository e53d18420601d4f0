"""Ratings completion: biases, the estimator's contract, MovieLens-100k from the wheel."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from spectralnn import ratings
from spectralnn.errors import ConfigError, DataError, MissingDependencyError, ShapeError
from spectralnn.ratings import RatingsCompleter, fit_biases, movielens_100k


def _synthetic(d1=60, d2=50, n=1800, seed=0):
    """Ratings = 3 + row bias + col bias + rank-2 interaction + noise, clipped to [1, 5]."""
    rng = np.random.default_rng(seed)
    b, c = rng.normal(0, 0.4, d1), rng.normal(0, 0.4, d2)
    A, B = rng.normal(0, 0.7, (d1, 2)), rng.normal(0, 0.7, (d2, 2))
    full = np.clip(3 + b[:, None] + c[None, :] + A @ B.T, 1, 5)
    flat = rng.choice(d1 * d2, n, replace=False)
    rows, cols = flat // d2, flat % d2
    return rows, cols, full[rows, cols] + rng.normal(0, 0.05, n), full


def test_fit_biases_recovers_an_additive_matrix():
    rng = np.random.default_rng(1)
    b, c = rng.normal(size=30), rng.normal(size=20)
    rows, cols = np.divmod(np.arange(600), 20)
    values = 2.0 + b[rows] + c[cols]
    mu, bb, cc = fit_biases(rows, cols, values, (30, 20), reg_row=0.0, reg_col=0.0,
                            iterations=50)
    assert np.allclose(mu + bb[rows] + cc[cols], values, atol=1e-8)


@pytest.mark.slow
def test_completer_beats_biases_and_respects_the_rating_range():
    rows, cols, values, full = _synthetic()
    split = 1500
    est = RatingsCompleter(max_steps=300, seed=0).fit(rows[:split], cols[:split],
                                                      values[:split], shape=full.shape)
    pred = est.predict(rows[split:], cols[split:])
    assert pred.shape == (300,) and pred.dtype == np.float64
    lo, hi = est.rating_range_
    assert lo == pytest.approx(values[:split].min()) and hi == pytest.approx(values[:split].max())
    assert pred.min() >= lo and pred.max() <= hi
    mu, b, c = est.global_mean_, est.row_bias_, est.col_bias_
    base = np.clip(mu + b[rows[split:]] + c[cols[split:]], lo, hi)
    truth = values[split:]
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    rmse_bias = np.sqrt(np.mean((base - truth) ** 2))
    assert rmse < 0.8 * rmse_bias
    assert est.model_.factored
    assert est.shape_ == full.shape and 1 <= est.best_steps_ <= 300


def test_search_tries_every_combination_and_keeps_the_best():
    rows, cols, values, _ = _synthetic(n=1200, seed=3)
    est = RatingsCompleter(rank=[1, 3], lr=[0.05, 0.2], max_steps=10, eval_every=5, refit=False,
                           seed=1).fit(rows, cols, values)
    res = est.search_results_
    assert len(res) == 4
    assert {(r["rank"], r["lr"]) for r in res} == {(1, 0.05), (1, 0.2), (3, 0.05), (3, 0.2)}
    best = min(res, key=lambda r: r["validation_rmse"])
    assert est.validation_rmse_ == best["validation_rmse"]
    assert (est.best_settings_["rank"], est.best_settings_["lr"]) == (best["rank"], best["lr"])
    assert est.model_.rank == best["rank"]


def test_fit_is_repeatable_from_its_seed():
    rows, cols, values, _ = _synthetic(n=900, seed=4)
    a = RatingsCompleter(max_steps=10, dtype=torch.float64, seed=5).fit(rows, cols, values)
    b = RatingsCompleter(max_steps=10, dtype=torch.float64, seed=5).fit(rows, cols, values)
    assert np.array_equal(a.predict(rows, cols), b.predict(rows, cols))


def test_input_errors_are_one_line_and_typed():
    rows, cols, values, _ = _synthetic(n=200)
    est = RatingsCompleter(max_steps=5)
    with pytest.raises(ConfigError, match="not fitted"):
        est.predict(rows, cols)
    with pytest.raises(DataError, match="integer indices"):
        est.fit(rows + 0.5, cols, values)
    with pytest.raises(DataError, match="rows contains -1"):
        est.fit(np.r_[-1, rows[1:]], cols, values)
    with pytest.raises(ShapeError, match="same number"):
        est.fit(rows[:-1], cols, values)
    with pytest.raises(DataError, match="NaN"):
        est.fit(rows, cols, np.r_[np.nan, values[1:]])
    with pytest.raises(DataError, match="expected indices < 10"):
        est.fit(rows, cols, values, shape=(10, 50))
    with pytest.raises(ConfigError, match="validation"):
        RatingsCompleter(validation=1.5).fit(rows, cols, values)
    with pytest.raises(ConfigError, match="rating_range"):
        RatingsCompleter(rating_range=(1,)).fit(rows, cols, values)
    with pytest.raises(ConfigError, match="widths"):
        RatingsCompleter(widths=[]).fit(rows, cols, values)
    with pytest.raises(ConfigError, match="rank"):
        RatingsCompleter(rank=0).fit(rows, cols, values)
    with pytest.raises(ConfigError, match="unknown parameter"):
        est.set_params(depth=3)
    est.fit(rows, cols, values, shape=(60, 50))
    with pytest.raises(DataError, match="cols contains 50"):
        est.predict([0], [50])
    assert est.set_params(rank=[2, 3]).get_params()["rank"] == [2, 3]


def test_movielens_missing_extra_names_it(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"spectralnn\[data\]"):
        ratings.movielens_100k_path()


@pytest.mark.skipif(importlib.util.find_spec("neighbors") is None,
                    reason="the 'data' extra (neighbors) is not installed")
def test_movielens_100k_from_the_wheel():
    rows, cols, values = movielens_100k()
    assert rows.shape == cols.shape == values.shape == (100_000,)
    assert rows.max() + 1 == 943 and cols.max() + 1 == 1682
    assert rows.min() == 0 and cols.min() == 0
    assert set(np.unique(values)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert len(set(zip(rows.tolist(), cols.tolist()))) == 100_000


def test_rating_range_none_means_no_clipping():
    rows, cols, values, _ = _synthetic(n=300, seed=6)
    est = RatingsCompleter(max_steps=5, rating_range=(None, None)).fit(rows, cols, values)
    mu, b, c = est.global_mean_, est.row_bias_, est.col_bias_
    with torch.no_grad():
        x = est.model_.entries(torch.as_tensor(rows), torch.as_tensor(cols)).double().numpy()
    assert np.allclose(est.predict(rows, cols), mu + b[rows] + c[cols] + x)
