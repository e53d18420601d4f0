"""The one result type: every fit returns a FitResult, under each of its released names."""

import json
import math

import numpy as np
import pytest
import torch

from spectralnn.completion.fitting import Fit, TableFit, fit_entries, fit_table
from spectralnn.errors import ConfigError
from spectralnn.metrics import METRIC_NAMES, RunResult
from spectralnn.recovery.result import Recovery
from spectralnn.result import FitResult
from spectralnn.stoppers import STATUSES


def test_released_names_are_the_one_class():
    assert RunResult is FitResult and Recovery is FitResult
    assert Fit is FitResult and TableFit is FitResult


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_of_the_vocabulary_is_accepted(status):
    assert FitResult("x", torch.zeros(2, 2), status=status).status == status


@pytest.mark.parametrize(("old", "new"), [("ok", "budget_reached"), ("max_iters", "budget_reached"),
                                          ("optimal", "converged")])
def test_former_status_names_are_mapped(old, new):
    assert FitResult("x", torch.zeros(2, 2), status=old).status == new


def test_an_unknown_status_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="status 'finished' is not one of converged, "):
        FitResult("x", torch.zeros(2, 2), status="finished")


def test_diverged_status_sets_the_flag():
    assert FitResult("x", torch.zeros(1, 1), status="diverged").diverged
    assert not FitResult("x", torch.zeros(1, 1), status="converged").diverged


def test_run_summary_is_computed_and_callable():
    row = {k: float(i) for i, k in enumerate(METRIC_NAMES)}
    row["psnr"] = math.nan
    res = RunResult("snn", torch.eye(2, dtype=torch.float64), [row], lr=0.5, steps=7,
                    seconds=1.5, status="converged", converged_step=7, info={"extra": 3})
    s = res.summary
    assert s == res.summary()  # the dict, and calling it: a plain copy
    assert type(res.summary()) is dict
    assert s["model"] == "snn" and s["learning_rate"] == 0.5 and s["steps"] == 7
    assert s["status"] == "converged" and s["converged_step"] == 7 and s["extra"] == 3
    assert s["train_loss"] == 2.0 and s["psnr"] is None  # NaN is written as None
    assert list(s)[:9] == ["model", "learning_rate", "steps", "seconds", "diverged",
                           "diverged_step", "unstable", "converged_step", "status"]
    assert res.rate == 0.5
    text = res.describe()
    assert text.startswith("snn: status=converged lr=0.5 relative_error=4 ")
    assert "validation_error" not in text and text.endswith("steps=7 seconds=1.5")
    assert repr(res) == f"FitResult({text})"


def test_given_summary_is_kept_clean_and_mutable():
    res = Recovery("softimpute", torch.zeros(2, 2, dtype=torch.float64), [],
                   status="budget_reached", warning="w",
                   summary={"model": "softimpute", "validation_error": math.inf,
                            "settings": {"lam": np.float64(0.5), "grid": (1, 2)},
                            "steps": 4, "seconds": 0.25, "sv": torch.tensor([1.0, 2.0])})
    s = res.summary
    assert s["validation_error"] is None and s["settings"] == {"lam": 0.5, "grid": [1, 2]}
    assert s["sv"] == [1.0, 2.0]
    json.dumps(s, allow_nan=False)  # JSON-ready as it is
    res.summary["noise_std"] = 0.1
    assert res.summary["noise_std"] == 0.1  # the stored dict, changed in place
    assert res.describe() == ("softimpute: status=budget_reached validation_error=n/a "
                              "steps=4 seconds=0.25")
    with pytest.raises(ConfigError, match="has no learning rate"):
        _ = res.rate


def test_X_is_a_tensor_and_array_its_numpy_view():
    X = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    res = FitResult("lg", X)
    assert res.X is X
    arr = res.array
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == (2, 3)
    np.testing.assert_array_equal(arr, X.numpy())


def test_a_predictor_only_fit_has_no_matrix():
    res = TableFit("snn", status="converged", predictor=object())
    with pytest.raises(ConfigError, match="has no matrix; expected a matrix fit"):
        _ = res.X


def test_completion_seams_return_the_one_type():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((6, 1)) @ rng.standard_normal((1, 5))
    rows, cols = np.divmod(rng.choice(30, 24, replace=False), 5)
    values = truth[rows, cols]
    fit = fit_entries((6, 5), rows, cols, values / 10, model="softimpute")
    assert isinstance(fit, FitResult) and fit.status in STATUSES
    assert isinstance(fit.X, torch.Tensor) and fit.X.dtype == torch.float64
    assert fit.summary["model"] == "softimpute" and fit.model == "softimpute"
    assert fit.steps == fit.summary["steps"]
    table = fit_table((6, 5), rows, cols, values, model="softimpute")
    assert isinstance(table, FitResult) and table.status == fit.status
    pred = table.predictor.predict(rows, cols)
    assert pred.shape == (24,) and np.all(pred >= values.min()) and np.all(pred <= values.max())
    c, sc = table.summary["center"], table.summary["scale"]
    np.testing.assert_allclose(pred, np.clip(table.array[rows, cols] * sc + c, values.min(),
                                             values.max()))
