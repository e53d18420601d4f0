"""Completion in Python: ``spectralnn.complete``, ``SNNCompleter``, the readers and the
held-out split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import spectralnn
from spectralnn.completion import estimator, read_incomplete, read_triplets
from spectralnn.completion.estimator import split_observed
from spectralnn.errors import ConfigError, DataError, ShapeError


def low_rank(d1=20, d2=16, rank=1, observed=0.7, seed=0):
    """An exactly rank-``rank`` matrix and a copy with about ``1 − observed`` of it NaN."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d1, rank)) @ rng.standard_normal((rank, d2)) + 2.0
    M = A.copy()
    M[rng.random(A.shape) >= observed] = np.nan
    return A, M


def test_complete_recovers_an_exactly_low_rank_matrix_and_keeps_observed_entries():
    A, M = low_rank()
    missing = np.isnan(M)
    X, summary = spectralnn.complete(M, seed=0, return_summary=True)
    assert isinstance(X, np.ndarray) and X.shape == A.shape and np.isfinite(X).all()
    np.testing.assert_array_equal(X[~missing], M[~missing])
    rel = np.linalg.norm((X - A)[missing]) / np.linalg.norm(A[missing])
    assert rel < 0.1
    assert summary["observed"] == int((~missing).sum())
    assert summary["status"] in ("converged", "stopped_on_validation", "budget_reached")
    assert 0 <= summary["validation_error"] < 0.2


def test_complete_is_deterministic_with_a_seed():
    _, M = low_rank(12, 10, seed=3)
    X1 = spectralnn.complete(M, seed=5, max_steps=30)
    X2 = spectralnn.complete(M, seed=5, max_steps=30)
    np.testing.assert_array_equal(X1, X2)


def test_mask_is_the_same_as_nan_and_a_tensor_comes_back_as_a_tensor():
    A, M = low_rank(12, 10, seed=1)
    observed = ~np.isnan(M)
    garbage = np.where(observed, A, 1e3)  # the mask, not the values, says what is missing
    X_nan = spectralnn.complete(M, seed=0, max_steps=30)
    X_mask = spectralnn.complete(torch.from_numpy(garbage), torch.from_numpy(observed), seed=0,
                                 max_steps=30)
    assert isinstance(X_mask, torch.Tensor) and X_mask.dtype == torch.float64
    np.testing.assert_allclose(X_mask.numpy(), X_nan, rtol=0, atol=1e-12)


def test_keep_observed_false_returns_the_model_everywhere():
    A, M = low_rank(seed=2)
    observed = ~np.isnan(M)
    X = spectralnn.complete(M, seed=0, keep_observed=False, max_steps=300)
    assert not np.array_equal(X[observed], M[observed])
    np.testing.assert_allclose(X[observed], M[observed], atol=0.1 * np.abs(A).max())


def test_test_entries_are_never_given_to_the_fit(monkeypatch):
    _, M = low_rank(12, 10, seed=4)
    seen = {}
    real = estimator.fit_entries

    def spy(shape, rows, cols, values, **kw):
        seen["flat"] = set((rows * shape[1] + cols).tolist())
        return real(shape, rows, cols, values, **kw)

    monkeypatch.setattr(estimator, "fit_entries", spy)
    _, summary = spectralnn.complete(M, seed=0, test_fraction=0.25, max_steps=30,
                                     return_summary=True)
    observed = set(np.flatnonzero(~np.isnan(M)).tolist())
    n_test = round(0.25 * len(observed))
    assert summary["test_entries"] == n_test and len(seen["flat"]) == len(observed) - n_test
    assert seen["flat"] < observed
    assert summary["test"]["rmse"] >= summary["test"]["mae"] >= 0


def test_split_observed_is_seeded_disjoint_and_complete():
    train, test = split_observed(50, 0.2, seed=1)
    assert len(test) == 10 and len(train) == 40
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(50))
    np.testing.assert_array_equal(split_observed(50, 0.2, seed=1)[1], test)
    assert not np.array_equal(split_observed(50, 0.2, seed=2)[1], test)


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.1, "0.2", True])
def test_test_fraction_outside_the_open_unit_interval_is_refused(fraction):
    _, M = low_rank()
    with pytest.raises(ConfigError, match="test fraction"):
        spectralnn.complete(M, test_fraction=fraction)


def test_bad_matrices_are_refused_with_typed_errors():
    """DataError for missing, corrupt or non-finite data (the README's promise)."""
    _, M = low_rank()
    with pytest.raises(DataError, match="nothing is observed"):
        spectralnn.complete(np.full((3, 4), np.nan))
    with pytest.raises(ShapeError, match="mask has shape"):
        spectralnn.complete(M, np.ones((2, 2), dtype=bool))
    with pytest.raises(ShapeError, match="2-D"):
        spectralnn.complete(np.ones(5))
    bad = M.copy()
    bad[0, 0] = np.inf
    with pytest.raises(DataError, match="infinite"):
        spectralnn.complete(bad)
    with pytest.raises(DataError, match="dtype"):
        spectralnn.complete(np.array([["a", "b"]]))
    for path in ("ratings.csv", Path("m.npy")):
        with pytest.raises(ConfigError, match=r"M is the path '.*'; expected an array .*"
                                              r"completion\.complete_file"):
            spectralnn.complete(path)


def test_none_in_nested_lists_is_missing():
    _, M = low_rank(9, 7, seed=4)
    nested = [[None if np.isnan(v) else float(v) for v in row] for row in M]
    np.testing.assert_array_equal(spectralnn.complete(nested, max_steps=200),
                                  spectralnn.complete(M, max_steps=200))
    with pytest.raises(DataError, match=r"dtype object; expected real numbers \(NaN or None"):
        spectralnn.complete([[1.0, "x"], [None, 2.0]])
    with pytest.raises(DataError, match="dtype object"):
        spectralnn.complete([[1.0, True], [None, 2.0]])   # a bool is not a measurement


def test_a_masked_arrays_masked_entries_are_missing_whatever_lies_beneath():
    A, M = low_rank(14, 11, seed=3)
    hidden = np.isnan(M)
    data = np.where(hidden, -999.0, A)                # a fill value under the mask
    masked = np.ma.masked_array(data, mask=hidden)
    X = spectralnn.complete(masked, max_steps=300)
    np.testing.assert_array_equal(X, spectralnn.complete(M, max_steps=300))
    est = spectralnn.SNNCompleter(seed=0, max_steps=300)
    np.testing.assert_array_equal(est.fit_transform(masked),
                                  spectralnn.SNNCompleter(seed=0, max_steps=300).fit_transform(M))
    assert np.abs(est.transform(masked) - A)[hidden].max() < 50  # the fill is not data


def test_snn_completer_follows_the_scikit_learn_convention():
    A, M = low_rank(12, 10, seed=6)
    est = spectralnn.SNNCompleter(seed=0, max_steps=30)
    assert not [k for k in vars(est) if k.endswith("_")]  # __init__ only stores settings
    params = est.get_params()
    assert params["seed"] == 0 and params["max_steps"] == 30
    assert est.set_params(seed=2) is est and est.seed == 2
    with pytest.raises(ConfigError, match="unknown setting"):
        est.set_params(lr=1.0)
    X = est.fit_transform(M)
    assert X is est.completed_ and X.shape == A.shape and not np.isnan(X).any()
    assert est.n_observed_ == int((~np.isnan(M)).sum())
    assert est.status_ == est.summary_["status"]
    assert est.validation_error_ == est.summary_["validation_error"]
    assert est.test_error_ is None


def test_csv_reader_takes_empty_and_nan_cells_as_missing(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("1,,3\nNaN,5, 6 \n\n")
    data = read_incomplete(path)
    assert data.kind == "csv" and data.values.shape == (2, 3)
    np.testing.assert_array_equal(data.observed, [[True, False, True], [False, True, True]])
    assert data.values[1, 2] == 6.0


def test_triplet_reader_maps_labels_and_collapses_identical_duplicates(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\nann,x,4\nbob,x,3\nann,y,5\nann,x,4\n")
    table = read_triplets(path, ("user", "item", "rating"))
    assert table.shape == (2, 2) and table.duplicates == 1
    assert table.row_ids.labels == ["ann", "bob"] and table.col_ids.labels == ["x", "y"]
    got = {(table.row_ids.labels[r], table.col_ids.labels[c]): v
           for r, c, v in zip(table.rows, table.cols, table.values)}
    assert got == {("ann", "x"): 4.0, ("bob", "x"): 3.0, ("ann", "y"): 5.0}
    path.write_text("user,item,rating\nann,x,4\nann,x,5\n")
    with pytest.raises(DataError, match="one value per"):
        read_triplets(path, ("user", "item", "rating"))


def test_snn_completer_works_without_scikit_learn():
    """scikit-learn is an extra: without it the same class fits, transforms and clones by
    hand (get_params), and importing spectralnn never imports it."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import spectralnn
        assert "sklearn" not in sys.modules
        sys.modules["sklearn"] = None  # as if it were not installed
        import numpy as np
        from spectralnn import SNNCompleter
        from spectralnn.errors import ConfigError
        rng = np.random.default_rng(6)
        M = np.outer(rng.standard_normal(12), rng.standard_normal(10)) + 2.0
        M[rng.random(M.shape) < 0.3] = np.nan
        est = SNNCompleter(seed=1, max_steps=30)
        assert all("sklearn" not in c.__module__ for c in type(est).__mro__)
        X = est.fit_transform(M)
        assert X.shape == M.shape and np.isfinite(X).all() and est.n_features_in_ == 10
        Y = est.transform(M[:3])
        seen = ~np.isnan(M[:3])
        assert (Y[seen] == M[:3][seen]).all() and np.isfinite(Y).all()
        assert repr(SNNCompleter(**est.get_params())) == repr(est)
        try:
            est.transform(M[:, :4])
        except ConfigError as exc:
            assert "features" in str(exc)
        else:
            raise AssertionError("4 features accepted")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_column_standardisation_means_deviations_and_fallbacks():
    cols = np.array([0, 0, 0, 1, 2, 2])
    v = np.array([1.0, 2.0, 3.0, 7.0, 4.0, 4.0])
    center, scale = estimator.column_standardisation(cols, v, 4)
    spread = float(np.std(v))
    np.testing.assert_allclose(center, [2.0, 7.0, 4.0, v.mean()])
    # column 0: its own deviation; 1 (one entry), 2 (constant), 3 (empty): all of v's
    np.testing.assert_allclose(scale, [np.std([1.0, 2.0, 3.0]), spread, spread, spread])


def _feature_table(seed=0):
    """Rank-3 features plus 10 % noise, columns in units from 1e-3 to 3e2 with offsets."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 12))
    Z = Z + 0.1 * rng.standard_normal(Z.shape)
    scales = 10.0 ** np.arange(-3, 3, 0.5)
    M = Z * scales + 5 * scales * rng.standard_normal(12)
    hide = rng.random(M.shape) < 0.2
    return M, hide, np.where(hide, np.nan, M)


def test_standardize_fits_a_table_of_features_in_different_units():
    M, hide, A = _feature_table()
    errors = {}
    for flag in (False, True):
        X, summary = spectralnn.complete(A, standardize=flag, return_summary=True)
        errors[flag] = float(np.sqrt(np.mean(((X - M) / M.std(0))[hide] ** 2)))
        np.testing.assert_array_equal(X[~hide], M[~hide])
        assert summary["standardize"] is flag
    # in the raw units the large columns dominate (1.04 measured); per column: 0.11
    assert errors[True] < 0.2 < 0.5 < errors[False]
    assert len(summary["columns"]["scale"]) == 12
