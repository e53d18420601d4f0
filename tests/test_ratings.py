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
    est = RatingsCompleter(solver="adam", max_steps=300, seed=0).fit(
        rows[:split], cols[:split], values[:split], shape=full.shape)
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
    with pytest.raises(DataError, match="non-integral"):
        est.fit(rows + 0.5, cols, values)
    with pytest.raises(DataError, match="rows contains -1"):
        est.fit(np.r_[-1, rows[1:]], cols, values, shape=(60, 50))
    with pytest.raises(DataError, match="mixes kinds"):
        est.fit(np.array([1, "a"] * 100, dtype=object), cols, values)
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
        RatingsCompleter(solver="adam", widths=[]).fit(rows, cols, values)
    with pytest.raises(ConfigError, match="solver"):
        RatingsCompleter(solver="als").fit(rows, cols, values)
    with pytest.raises(ConfigError, match="unknown"):
        RatingsCompleter(unknown="zero").fit(rows, cols, values)
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


# ----------------------------------------------------------------------------- conventions


def _string_ids(n=1500, seed=7):
    """The synthetic ratings with string user ids and 1-based integer item ids."""
    rows, cols, values, _ = _synthetic(n=n, seed=seed)
    return np.array([f"u{r}" for r in rows]), cols + 1, values


def test_raw_string_and_one_based_ids_map_to_the_ids_that_exist():
    users, items, values = _string_ids()
    est = RatingsCompleter(seed=0).fit(users, items, values)
    assert est.shape_ == (len(set(users)), len(set(items.tolist())))
    assert 0 not in est.item_ids_ and est.item_ids_.min() == 1
    assert sorted(est.user_ids_.tolist()) == est.user_ids_.tolist()
    # the same ratings given as 0-based positions of the sorted ids: the same model
    u = np.searchsorted(est.user_ids_, users)
    i = np.searchsorted(est.item_ids_, items)
    ref = RatingsCompleter(seed=0).fit(u, i, values)
    assert np.allclose(est.predict(users[:50], items[:50]), ref.predict(u[:50], i[:50]))


def test_dataframe_in_with_named_columns_and_predict_from_a_frame():
    pd = pytest.importorskip("pandas")
    users, items, values = _string_ids()
    df = pd.DataFrame({"stars": values, "who": users, "movie": items})
    est = RatingsCompleter(seed=0).fit(df, user="who", item="movie", rating="stars")
    arrays = RatingsCompleter(seed=0).fit(users, items, values)
    assert np.array_equal(est.predict(df[:20]), arrays.predict(users[:20], items[:20]))
    assert np.array_equal(est.predict(users[:20], items[:20]), est.predict(df[:20]))
    with pytest.raises(ConfigError, match="column 'rating' is not in the table"):
        RatingsCompleter().fit(df, user="who", item="movie", rating="rating")


def test_unknown_ids_follow_the_stated_policy():
    users, items, values = _string_ids()
    est = RatingsCompleter(seed=0).fit(users, items, values)
    mu, b, c = est.global_mean_, est.row_bias_, est.col_bias_
    known_u, known_i = users[0], items[0]
    u = int(np.searchsorted(est.user_ids_, known_u))
    i = int(np.searchsorted(est.item_ids_, known_i))
    pred = est.predict(["nobody", known_u, "nobody"], [known_i, 10_000, 10_000], clip=False)
    assert np.allclose(pred, [mu + c[i], mu + b[u], mu])
    est.set_params(unknown="nan")
    assert np.isnan(est.predict(["nobody"], [known_i])).all()
    assert np.isfinite(est.predict([known_u], [known_i])).all()
    est.set_params(unknown="error")
    with pytest.raises(DataError, match="user id 'nobody' was not in the training data"):
        est.predict(["nobody"], [known_i])
    with pytest.raises(DataError, match="item id 0 was not in the training data"):
        est.predict([known_u], [0])


def test_recommend_ranks_every_unseen_item_by_predicted_rating():
    users, items, values = _string_ids()
    est = RatingsCompleter(seed=0, rating_range=(None, None)).fit(users, items, values)
    who = users[3]
    top, scores = est.recommend(who, n=7)
    seen = set(items[users == who].tolist())
    unseen = np.array([x for x in est.item_ids_ if x not in seen])
    full = est.predict(np.full(unseen.size, who), unseen)
    best = unseen[np.argsort(-full, kind="stable")[:7]]
    assert top.shape == scores.shape == (7,)
    assert not set(top.tolist()) & seen
    assert np.array_equal(np.sort(top), np.sort(best))
    assert np.allclose(scores, est.predict(np.full(7, who), top))
    assert np.all(np.diff(scores) <= 0)
    with_seen, _ = est.recommend(who, n=est.shape_[1], exclude_seen=False)
    assert set(with_seen.tolist()) == set(est.item_ids_.tolist())
    many, many_scores = est.recommend([who, users[5], "newcomer"], n=4)
    assert many.shape == many_scores.shape == (3, 4)
    assert np.array_equal(many[0], top[:4])
    by_bias = est.item_ids_[np.argsort(-est.col_bias_, kind="stable")[:4]]
    assert np.array_equal(np.sort(many[2]), np.sort(by_bias))
    est.set_params(unknown="error")
    with pytest.raises(DataError, match="newcomer"):
        est.recommend("newcomer")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_save_load_pickle_and_deepcopy_keep_predictions_identical(tmp_path, solver):
    import copy
    import pickle

    users, items, values = _string_ids(n=900)
    est = RatingsCompleter(solver=solver, max_steps=20, seed=0).fit(users, items, values)
    q_users, q_items = users[::7], items[::7]
    pred = est.predict(q_users, q_items)
    rec = est.recommend(users[:3], n=5)
    est.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as z:  # plain arrays only
        assert "meta" in z.files and z["user_factors"].dtype.kind == "f"
    clones = [RatingsCompleter.load(tmp_path / "model.npz"), pickle.loads(pickle.dumps(est)),
              copy.deepcopy(est)]
    for clone in clones:
        assert np.array_equal(clone.predict(q_users, q_items), pred)
        assert np.array_equal(clone.recommend(users[:3], n=5)[0], rec[0])
        assert clone.get_params()["solver"] == solver
    loaded = clones[0]
    assert loaded.model_.widths == est.model_.widths
    with torch.no_grad():
        assert torch.equal(loaded.model_.U, est.model_.U)
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(DataError, match="cannot read a saved RatingsCompleter"):
        RatingsCompleter.load(tmp_path / "junk.npz")


def test_sgd_solver_is_the_averaged_linear_snn():
    rows, cols, values, _ = _synthetic(n=1500, seed=2)
    est = RatingsCompleter(replicas=3, rank=5, seed=0).fit(rows, cols, values)
    model = est.model_
    assert model.widths == [3] and model.activation.name == "identity" and model.rank == 5
    with torch.no_grad():
        x = model.entries(torch.as_tensor(rows), torch.as_tensor(cols)).double().numpy()
        mean_of_inputs = (model.U @ model.V.mT).mean(0).double().numpy()[rows, cols]
    assert np.allclose(x, mean_of_inputs, atol=1e-5)
    assert np.allclose(est.predict(rows, cols, clip=False),
                       est.global_mean_ + est.row_bias_[rows] + est.col_bias_[cols] + x,
                       atol=1e-5)
    assert est.validation_rmse_ is None and est.best_steps_ == 10  # a small table


def test_sgd_defaults_depend_on_the_number_of_ratings(monkeypatch):
    """Below SMALL_TABLE ratings: 8 inputs, weight decay 0.07, 10 epochs; else 2, 0.06, 20."""
    import spectralnn.ratings as ratings

    rows, cols, values, _ = _synthetic(n=1500, seed=2)
    small = RatingsCompleter(rank=4, seed=0).fit(rows, cols, values)
    assert small.model_.widths == [8] and small.best_steps_ == 10
    assert small.best_settings_["reg"] == 0.07
    monkeypatch.setattr(ratings, "SMALL_TABLE", 1000)
    large = RatingsCompleter(rank=4, seed=0).fit(rows, cols, values)
    assert large.model_.widths == [2] and large.best_steps_ == 20
    assert large.best_settings_["reg"] == 0.06
    assert large.get_params()["replicas"] is None  # settings stay as given
    given = RatingsCompleter(rank=4, replicas=3, reg=0.05, max_steps=4, seed=0).fit(
        rows, cols, values)
    assert given.model_.widths == [3] and given.best_steps_ == 4
    assert given.best_settings_["reg"] == 0.05


@pytest.mark.parametrize("implicit", [True, False])
def test_sgd_fits_a_low_rank_table_better_than_its_biases(implicit):
    rows, cols, values, _ = _synthetic(n=2400, seed=9)
    train, test = slice(0, 2000), slice(2000, None)
    est = RatingsCompleter(rank=4, reg=0.02, max_steps=60, lr_decay=0.95, implicit=implicit,
                           seed=0).fit(rows[train], cols[train], values[train], shape=(60, 50))
    pred = est.predict(rows[test], cols[test])
    base = np.clip(est.global_mean_ + est.row_bias_[rows[test]] + est.col_bias_[cols[test]],
                   *est.rating_range_)
    rmse = np.sqrt(np.mean((pred - values[test]) ** 2))
    assert rmse < 0.7 * np.sqrt(np.mean((base - values[test]) ** 2))


@pytest.mark.skipif(importlib.util.find_spec("surprise") is None
                    or importlib.util.find_spec("pandas") is None,
                    reason="the 'bench' extra (scikit-surprise, pandas) is not installed")
def test_surprise_adapter_runs_in_cross_validate_and_grid_search():
    import pandas as pd
    from surprise import Dataset, Reader
    from surprise.model_selection import GridSearchCV, KFold, cross_validate

    from spectralnn.ratings_surprise import SNNAlgo

    users, items, values = _string_ids(n=1500)
    df = pd.DataFrame({"u": users, "i": items, "r": values})
    data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
    res = cross_validate(SNNAlgo(seed=0), data, measures=["rmse", "mae"],
                         cv=KFold(3, random_state=0))
    assert len(res["test_rmse"]) == 3 and np.all(res["test_rmse"] < values.std())
    grid = GridSearchCV(SNNAlgo, {"rank": [2, 8], "seed": [0]}, measures=["rmse"],
                        cv=KFold(2, random_state=0))
    grid.fit(data)
    assert grid.best_params["rmse"]["rank"] in (2, 8)
    # the adapter's estimates are its completer's predictions (on Surprise's inner ids)
    # (the large-table settings: this check is of the fit, not of the size rule)
    algo = SNNAlgo(seed=0, replicas=2, reg=0.06, max_steps=20).fit(data.build_full_trainset())
    est = [algo.predict(u, i).est for u, i in zip(users[:20], items[:20])]
    inner_u = [algo.trainset.to_inner_uid(u) for u in users[:20]]
    inner_i = [algo.trainset.to_inner_iid(i) for i in items[:20]]
    assert np.allclose(est, algo.completer.predict(inner_u, inner_i), atol=1e-9)
    assert np.sqrt(np.mean((np.array(est) - values[:20]) ** 2)) < 0.5 * values.std()
    unknown = algo.predict("nobody", items[0])
    assert not unknown.details["was_impossible"]
    c = algo.completer
    inner = algo.trainset.to_inner_iid(items[0])
    assert unknown.est == pytest.approx(np.clip(c.global_mean_ + c.col_bias_[inner], 1, 5))
    with pytest.raises(ConfigError, match="solver"):
        SNNAlgo(solver="als")


def test_surprise_adapter_without_surprise_names_the_bench_extra(monkeypatch):
    import sys

    import spectralnn.ratings_surprise as adapter

    adapter._snn_algo.cache_clear()
    monkeypatch.setitem(sys.modules, "surprise", None)
    with pytest.raises(MissingDependencyError, match=r"spectralnn\[bench\]"):
        adapter.SNNAlgo  # noqa: B018
    adapter._snn_algo.cache_clear()
