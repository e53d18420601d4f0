"""``SNNCompleter`` as a scikit-learn transformer: ``check_estimator``, new rows through
``transform`` (fold-in), pipelines, cross-validation and grid search."""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from spectralnn import SNNCompleter  # noqa: E402
from spectralnn.errors import ConfigError  # noqa: E402

#: Checks that cannot apply, with the reason (none fails today; kept for the record).
EXPECTED_FAILED: dict[str, str] = {}
#: Checks scikit-learn itself skips here: they need a package or setting this suite lacks.
MAY_SKIP = {
    "check_array_api_input": "needs SCIPY_ARRAY_API=1 and an array-API library",
    "check_set_output_transform_polars": "needs polars",
    "check_global_set_output_transform_polars": "needs polars",
}


def low_rank(n=60, d=8, rank=2, hidden=0.25, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 3.0
    M = A.copy()
    M[rng.random(A.shape) < hidden] = np.nan
    return A, M


@pytest.mark.parametrize("standardize", [False, True])
def test_check_estimator_passes(standardize):
    """Item 5: check_estimator stopped at its first check (__sklearn_tags__)."""
    results = check_estimator(SNNCompleter(max_steps=50, standardize=standardize),
                              on_fail=None, on_skip=None,
                              expected_failed_checks=EXPECTED_FAILED)
    failed = [(r["check_name"], repr(r["exception"])) for r in results
              if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= set(MAY_SKIP), skipped - set(MAY_SKIP)
    assert sum(r["status"] == "passed" for r in results) >= 40


def test_tags_allow_nan_and_params_clone():
    est = SNNCompleter(seed=3, max_steps=20)
    assert est.__sklearn_tags__().input_tags.allow_nan
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()
    with pytest.raises(ConfigError, match="unknown setting"):
        est.set_params(lr=1.0)
    with pytest.raises(ConfigError, match="rank_rtol"):
        SNNCompleter(rank_rtol=1.5).fit(np.ones((3, 3)))


def test_transform_completes_new_rows_from_the_learned_column_space():
    """Item 5: no transform (inductive mode) before."""
    A, M = low_rank(n=120, d=10, hidden=0.3, seed=1)
    est = SNNCompleter(seed=0, max_steps=400).fit(M[:100])
    assert est.n_features_in_ == 10 and est.components_.shape == (est.rank_, 10)
    new = M[100:].copy()
    new[0] = np.nan  # a row with nothing observed gets the column means
    X = est.transform(new)
    observed = ~np.isnan(new)
    np.testing.assert_array_equal(X[observed], new[observed])
    np.testing.assert_allclose(X[0], est.mean_)
    missing = ~observed
    missing[0] = False
    fold_in = np.abs(X - A[100:])[missing].mean()
    column_means = np.abs(est.mean_[None, :] - A[100:])[missing].mean()
    assert fold_in < 0.25 * column_means
    with pytest.raises(ValueError, match="features"):
        est.transform(M[100:, :9])


def test_pipeline_cross_val_score_and_grid_search():
    """Item 5: Pipeline([('impute', SNNCompleter()), ...]) and cross_val_score failed."""
    A, M = low_rank(n=60, d=6, hidden=0.2, seed=2)
    y = A @ np.arange(1.0, 7.0)
    pipe = make_pipeline(SNNCompleter(max_steps=50), LinearRegression())
    scores = cross_val_score(pipe, M, y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all() and scores.min() > 0.5
    named = Pipeline([("impute", SNNCompleter(max_steps=50)), ("lr", LinearRegression())])
    grid = GridSearchCV(named, {"impute__rank_rtol": [1e-2, 0.3]}, cv=2).fit(M, y)
    assert grid.best_params_["impute__rank_rtol"] in (1e-2, 0.3)
    assert np.isfinite(grid.predict(M)).all()


def test_set_output_pandas_keeps_the_labels():
    pd = pytest.importorskip("pandas")
    _, M = low_rank(n=20, d=4, seed=3)
    df = pd.DataFrame(M, columns=list("abcd"), index=[f"r{i}" for i in range(20)])
    out = SNNCompleter(max_steps=30).set_output(transform="pandas").fit_transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list("abcd")
    assert list(out.index) == list(df.index)


def test_standardize_folds_new_rows_in_per_column_units():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((200, 2)) @ rng.standard_normal((2, 6))
    scales = np.array([1e-3, 1e-2, 1.0, 10.0, 1e2, 1e3])
    M = Z * scales + scales
    A = np.where(rng.random(M.shape) < 0.2, np.nan, M)
    est = SNNCompleter(standardize=True).fit(A[:150])
    np.testing.assert_allclose(est.column_scale_, np.nanstd(A[:150], axis=0), rtol=0.2)
    new = A[150:]
    X = est.transform(new)
    seen = ~np.isnan(new)
    np.testing.assert_array_equal(X[seen], new[seen])
    err = np.sqrt(np.mean(((X - M[150:]) / M.std(0))[~seen] ** 2))
    assert err < 0.1
    assert clone(est).get_params()["standardize"] is True
