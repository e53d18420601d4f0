"""Defaults that recover: default ``complete`` finds a plain low-rank matrix, and says
``converged`` only when it has (step-size control, honest stopping, soft-impute check)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from monitor_feed import ConstantValidation as _Val
from monitor_feed import feed
from spectralnn import complete
from spectralnn.completion.fitting import normalisation
from spectralnn.recovery import Monitor, StoppingRules, fit
from spectralnn.recovery.check import WORSE_RATIO, softimpute_check
from spectralnn.recovery.snn import snn_defaults, unstructured_test
from spectralnn.recovery.validation import split_validation
from spectralnn.sensing import EntrySampling, SensingProblem
from spectralnn.sensing.problem import make_problem


def _low_rank(d1, d2, r, missing, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((d1, r)) @ rng.standard_normal((r, d2))
    mask = rng.random((d1, d2)) >= missing
    return M, mask, np.where(mask, M, np.nan)


def _missing_error(X, M, mask):
    return float(np.linalg.norm((X - M)[~mask]) / np.linalg.norm(M[~mask]))


def _feed(monitor, errors, losses):
    return feed(monitor, errors, losses, dtype=torch.float64)


# ---------------------------------------------------------------------- stopping rules


def test_an_oscillating_loss_is_never_converged():
    rules = StoppingRules(max_steps=400, check_every=1, min_patience=10, patience_fraction=0.0)
    # a period-2 orbit: flat on average, validation flat — a plateau rule would call it done
    losses = [1e-3 * (1.5 if k % 2 else 1.0) for k in range(500)]
    monitor = Monitor(rules, _Val())
    step, status = _feed(monitor, [0.5] * 500, losses)
    assert (step, status) == (400, "budget_reached")
    assert monitor.oscillating()
    assert any(h["oscillating"] for h in monitor.history)


def test_a_still_falling_loss_is_never_converged():
    rules = StoppingRules(max_steps=300, check_every=1, min_patience=10, patience_fraction=0.0)
    losses = [0.97**k for k in range(400)]        # falling 3 % a step
    errs = [0.5 * 0.995**k for k in range(400)]   # validation still improving
    step, status = _feed(Monitor(rules, _Val()), errs, losses)
    assert (step, status) == (300, "budget_reached")


def test_a_fit_to_precision_is_converged_and_a_tight_settled_fit_too():
    rules = StoppingRules(max_steps=10_000, check_every=1, min_patience=10,
                          patience_fraction=0.0)
    losses = [1.0 * 0.5**k for k in range(100)]   # ρ = 2^(-k/2) ≤ 1e-8 at k = 54
    step, status = _feed(Monitor(rules, _Val()), [0.5 * 0.5**k for k in range(100)], losses)
    assert status == "converged" and step == 54
    # ρ = 1e-5 and barely moving, validation flat at 1e-4: settled (rule 1b)
    losses = [1.0] + [1e-10 * (1 - 1e-4 * k) for k in range(1, 100)]
    step, status = _feed(Monitor(rules, _Val()), [1.0] + [1e-4] * 99, losses)
    assert status == "converged" and step is not None and step <= 25


def test_validation_stop_needs_a_falling_loss_or_a_rise():
    rules = StoppingRules(max_steps=10_000, check_every=1, min_patience=10,
                          patience_fraction=0.0)
    errs = [1.0] * 3 + [0.3] + [0.3] * 100
    # training loss falls, validation flat: more fitting does not generalise
    step, status = _feed(Monitor(rules, _Val()), errs, [0.9**k for k in range(104)])
    assert status == "stopped_on_validation" and step == 13
    # validation 15 % above its best
    errs = [1.0] * 3 + [0.3] + [0.345] * 100
    losses = [1.0 - 1e-5 * k for k in range(104)]
    step, status = _feed(Monitor(rules, _Val()), errs, losses)
    assert status == "stopped_on_validation" and step == 13


def test_a_saddle_is_not_taken_for_overfitting():
    rules = StoppingRules(max_steps=300, check_every=1, min_patience=10,
                          patience_fraction=0.0)
    # the 41×30 table's pattern: a fast fall, then a flat loss while validation drifts up by
    # a few per cent (the next singular value is still tiny), then both fall again
    losses = [0.5**k for k in range(10)] + [0.5**9 * (1 - 1e-4 * k) for k in range(150)] + [
        0.5**9 * 0.985 * 0.97**k for k in range(1, 200)]
    errs = ([1.0] * 3 + [0.5**k for k in range(7)] + [0.5**6 * 1.04] * 150
            + [0.5**6 * 1.04 * 0.99**k for k in range(1, 200)])
    monitor = Monitor(rules, _Val())
    step, status = _feed(monitor, errs, losses)
    assert (step, status) == (300, "budget_reached")
    assert monitor.best_step > 160  # the best iterate is one after the saddle


# ---------------------------------------------------------------------- step-size control


def test_snn_halves_an_oscillating_rate_and_continues_from_where_it_was():
    _, _, A = _low_rank(30, 20, 2, 0.3)
    _, summary = complete(A, return_summary=True, lr_scale=8.0, max_steps=1500)
    attempts = summary["fit"]["settings"]["attempts"]
    assert attempts[0]["status"] in ("oscillating", "diverged") and len(attempts) >= 2
    for a, b in itertools.pairwise(attempts):
        assert b["from_step"] == a["to_step"] + 1
        # a rate change, or the refit on every entry going on at the same rate
        assert b["lr"] < a["lr"] or (b.get("refit") and b["lr"] <= a["lr"])
    assert summary["status"] != "diverged"


def test_a_fixed_oscillating_rate_is_not_reported_converged():
    M, mask, _ = _low_rank(30, 20, 2, 0.3)
    values = M[mask]
    c, s = normalisation(values, M.shape)
    flat = np.flatnonzero(mask)
    p = SensingProblem(None, EntrySampling(M.shape, torch.from_numpy(flat)),
                       torch.from_numpy((values - c) / s))
    auto = fit(p, "snn", max_steps=400)
    rate = auto.summary["settings"]["initial_learning_rate"]
    # a fixed rate well past the edge of stability but below divergence
    r = fit(p, "snn", lr=2.5 * rate, max_steps=400)
    assert r.status != "converged"


def test_nothing_to_fit_is_the_zero_matrix_without_division_by_zero():
    op = EntrySampling((6, 5), torch.arange(0, 30, 2))
    p = SensingProblem(None, op, torch.zeros(15, dtype=torch.float64))
    r = fit(p, "snn")
    assert r.status == "converged" and r.warning is None
    assert torch.equal(r.X, torch.zeros(6, 5, dtype=torch.float64))
    assert "nothing to fit" in r.summary["settings"]["trivial"]


# ---------------------------------------------------------------------- soft-impute check


def test_softimpute_check_warns_only_when_clearly_worse():
    M, mask, _ = _low_rank(20, 20, 2, 0.3)
    flat = np.flatnonzero(mask)
    p = SensingProblem(None, EntrySampling(M.shape, torch.from_numpy(flat)),
                       torch.from_numpy(M.reshape(-1)[flat] / 30))
    fit_p, val = split_validation(p, 0.1, seed=0)
    assert val is not None
    good = softimpute_check(fit_p, val, 0.0)
    assert good["ran"] and good["warning"] is None
    e_si = good["validation_error"]
    bad = softimpute_check(fit_p, val, WORSE_RATIO * e_si + 0.01)
    assert bad["warning"] is not None and "\n" not in bad["warning"]
    assert f"{e_si:.3g}" in bad["warning"]


def test_fit_summary_carries_the_check():
    _, _, A = _low_rank(20, 15, 1, 0.3)  # 21 validation entries (below 10, none is kept)
    _, summary = complete(A, return_summary=True)
    check = summary["fit"]["softimpute_check"]
    assert check["ran"] and math.isfinite(check["validation_error"])


# ---------------------------------------------------------------------- normalisation


def test_small_means_are_not_centred_large_ones_are():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(1000)
    assert normalisation(v, (40, 25))[0] == 0.0
    assert normalisation(v + 10, (40, 25))[0] == pytest.approx(float((v + 10).mean()))


# ---------------------------------------------------------------------- recovery with defaults


@pytest.mark.parametrize("shape,rank,missing", [((5, 5), 1, 0.2), ((40, 25), 2, 0.4)])
def test_default_complete_recovers_small_low_rank_matrices(shape, rank, missing):
    M, mask, A = _low_rank(*shape, rank, missing, seed=1)
    X, summary = complete(A, return_summary=True)
    assert _missing_error(X, M, mask) <= 1e-3, summary["fit"]["settings"]["attempts"]
    assert summary["status"] == "converged" and summary["warning"] is None


def test_one_layer_except_for_images_of_at_most_64_by_64_pixels():
    for shape in [(8, 6), (50, 50), (50, 51), (300, 300), (1000, 20), (512, 512)]:
        assert snn_defaults(shape, image=False)["widths"] == [1], shape
    assert snn_defaults((8, 6), image=True)["widths"] == [2, 2]
    assert snn_defaults((28, 28), image=True)["widths"] == [2, 2]
    assert snn_defaults((64, 64), image=True)["widths"] == [2, 2]
    assert snn_defaults((64, 65), image=True)["widths"] == [1]
    assert snn_defaults((512, 512), image=True)["widths"] == [1]


def test_a_tiny_rank1_matrix_completes_to_1e_minus_3_with_the_one_layer_default():
    # the completion grid's 8×6 rank-1 cell, 30 % missing, seed 0: two layers crept at 1.08e-3
    rng = np.random.default_rng([0, 8, 6, 1])
    M = rng.standard_normal((8, 1)) @ rng.standard_normal((1, 6))
    mask = rng.random((8, 6)) >= 0.3
    X, summary = complete(np.where(mask, M, np.nan), return_summary=True)
    assert summary["fit"]["settings"]["widths"] == [1]
    assert _missing_error(X, M, mask) <= 1e-3
    assert summary["status"] == "converged"


def test_the_refit_of_a_noisy_run_stops_before_it_fits_the_noise():
    # completion grid 30×50 rank 2, 50 % missing, 1 % noise, seed 1: the refit used to run
    # thousands of steps into the noise (error 0.0117; soft-impute 0.0132); now 0.0048
    rng = np.random.default_rng([1, 30, 50, 2])
    M = rng.standard_normal((30, 2)) @ rng.standard_normal((2, 50))
    mask = rng.random(M.shape) >= 0.5
    A = np.where(mask, M + 0.01 * M.std() * rng.standard_normal(M.shape), np.nan)
    X, summary = complete(A, return_summary=True)
    refit = summary["fit"]["settings"]["refit"]
    assert refit is not None and refit["noise_level"] > 1e-3
    assert summary["status"] == "converged" and summary["warning"] is None
    assert summary["fit"]["steps"] <= 2 * refit["from_step"]
    assert _missing_error(X, M, mask) < 0.008


def test_a_noiseless_refit_still_fits_to_precision():
    M, mask, A = _low_rank(40, 25, 2, 0.4, seed=1)
    X, summary = complete(A, return_summary=True)
    refit = summary["fit"]["settings"]["refit"]
    assert refit is not None and refit["noise_level"] is None
    assert _missing_error(X, M, mask) <= 1e-3


@pytest.mark.parametrize("magnitude", [1e-6, 1.0, 1e6])
def test_the_snn_fits_a_problem_at_any_scale(magnitude):
    # make_problem(normalize=None) keeps the user's units: σ̂_1 ≈ 3e2·magnitude here, where
    # tanh saturates (relative error 0.90 before rescaling; a LinAlgError at 1e6)
    rng = np.random.default_rng(0)
    M = magnitude * rng.standard_normal((100, 3)) @ rng.standard_normal((3, 100))
    problem = make_problem(M, "entries", fraction=0.6, seed=0, normalize=None)
    result = fit(problem, "snn")
    assert result.summary["settings"]["unit"] != 1.0
    assert result.status == "converged" and result.warning is None
    err = float(np.linalg.norm(result.X.numpy() - M) / np.linalg.norm(M))
    assert err < 1e-3


def test_a_normalised_problem_is_fitted_in_its_own_units():
    M, _, _ = _low_rank(30, 20, 2, 0.0)
    result = fit(make_problem(M, "entries", fraction=0.6, seed=0), "snn", max_steps=50)
    assert result.summary["settings"]["unit"] == 1.0


def test_fancyimpute_rank1_with_one_hole():
    rng = np.random.default_rng(0)
    M = np.outer(rng.standard_normal(5), rng.standard_normal(5))
    A = M.copy()
    A[2, 3] = np.nan
    X = complete(A)
    assert abs(X[2, 3] - M[2, 3]) < 0.01


@pytest.mark.slow
def test_fancyimpute_500x10_rank3_and_its_first_100_rows():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((500, 3)) @ rng.standard_normal((3, 10))
    mask = rng.random(M.shape) >= 0.25
    A = np.where(mask, M, np.nan)
    X = complete(A)
    assert np.abs(X - M)[~mask].mean() < 0.1
    X100 = complete(A[:100])
    assert np.abs(X100 - M[:100])[~mask[:100]].mean() < 0.1


def test_fancyimpute_100x100_rank3_40_percent_missing():
    M, mask, A = _low_rank(100, 100, 3, 0.4)
    X, summary = complete(A, return_summary=True)
    assert np.abs(X - M)[~mask].mean() < 1e-3
    assert summary["status"] == "converged"


@pytest.mark.slow
@pytest.mark.parametrize("shape,rank,missing", [((1000, 20), 3, 0.1), ((200, 40), 4, 0.5),
                                                ((12, 40), 2, 0.3)])
def test_default_complete_recovers_larger_low_rank_matrices(shape, rank, missing):
    M, mask, A = _low_rank(*shape, rank, missing, seed=2)
    X = complete(A)
    assert _missing_error(X, M, mask) <= 1e-3


def test_softimpute_check_when_soft_impute_fits_validation_exactly():
    """Found by the property test: soft-impute's validation error can be exactly 0 (here the
    two validation entries are fitted exactly), and the check divided by it."""
    nan = math.nan
    M = np.array([[5, 2, nan, 4, -5, nan],
                  [nan, nan, -3, 2, nan, -1],
                  [3, nan, 0, 2, 3, nan]]) * 1e300
    X = complete(M, max_steps=5, max_seconds=5)
    assert np.isfinite(X).all()
    np.testing.assert_array_equal(X[~np.isnan(M)], M[~np.isnan(M)])
    # (the SNN keeps no validation part this small; the check itself, on a 2-entry split)
    flat = np.flatnonzero(~np.isnan(M))
    p = SensingProblem(None, EntrySampling(M.shape, torch.from_numpy(flat)),
                       torch.from_numpy(M.reshape(-1)[flat] / 1e301))
    fit_p, val = split_validation(p, 0.2, seed=0)
    assert val is not None
    check = softimpute_check(fit_p, val, 0.5)
    assert check["ran"] and check["validation_error"] >= 0


# ---------------------------------------------------------------------- noise floor, refit


def test_a_flat_loss_with_a_noise_like_residual_is_converged_a_structured_one_is_not():
    rules = StoppingRules(max_steps=600, check_every=1, min_patience=10,
                          patience_fraction=0.0)
    # ρ ≈ 0.03 (far above settle_tol), creeping by 1e-6 a step: a noise floor or a saddle
    losses = [1.0] + [1e-3 * (1 - 1e-6 * k) for k in range(700)]
    errs = [1.0] + [0.05] * 700
    noise = Monitor(rules, _Val(), unstructured=lambda X: True)
    step, status = _feed(noise, errs[:601], losses[:601])
    assert status == "converged" and step is not None and step < 100
    saddle = Monitor(rules, _Val(), unstructured=lambda X: False)
    assert _feed(saddle, errs[:601], losses[:601]) == (600, "budget_reached")


def test_the_residual_test_tells_noise_from_a_low_rank_part_left():
    rng = np.random.default_rng(0)
    d1, d2 = 60, 40
    M = rng.standard_normal((d1, 2)) @ rng.standard_normal((2, d2))
    flat = np.flatnonzero(rng.random((d1, d2)) < 0.7)
    noise = 0.01 * rng.standard_normal(flat.size)
    p = SensingProblem(None, EntrySampling((d1, d2), torch.from_numpy(flat)),
                       torch.from_numpy(M.reshape(-1)[flat] + noise))
    test = unstructured_test(p)
    assert test(torch.from_numpy(M))  # what is left is the noise
    u, s, vt = np.linalg.svd(M)
    assert not test(torch.from_numpy(s[0] * np.outer(u[:, 0], vt[0])))  # one part left


def test_a_tiny_noisy_problem_keeps_no_validation_part_and_beats_soft_impute():
    rng = np.random.default_rng([0, 5, 5, 1])
    M = rng.standard_normal((5, 1)) @ rng.standard_normal((1, 5))
    mask = rng.random((5, 5)) >= 0.2
    A = np.where(mask, M + 0.01 * M.std() * rng.standard_normal(M.shape), np.nan)
    X, summary = complete(A, return_summary=True)
    X_si = complete(A, model="softimpute")
    assert summary["fit"]["validation_measurements"] == 0
    assert summary["status"] == "converged"
    assert _missing_error(X, M, mask) <= 1.1 * _missing_error(X_si, M, mask)


def test_a_small_converged_run_continues_on_every_entry():
    M, mask, _ = _low_rank(15, 10, 1, 0.3, seed=3)
    values = M[mask]
    flat = np.flatnonzero(mask)
    p = SensingProblem(None, EntrySampling(M.shape, torch.from_numpy(flat)),
                       torch.from_numpy(values / 10))
    r = fit(p, "snn")
    refit = r.summary["settings"]["refit"]
    assert r.status == "converged" and refit is not None
    assert refit["measurements"] == flat.size
    attempts = r.summary["settings"]["attempts"]
    assert attempts[-1].get("refit") and attempts[0].get("refit") is None
    # the reported validation error is the held-out one, measured before the refit
    assert r.summary["validation_error"] > 10 * float(r.summary["train_loss"]) ** 0.5
    assert _missing_error(10 * r.X.numpy(), M, mask) <= 1e-4
    assert fit(p, "snn", refit=False, max_steps=50).summary["settings"]["refit"] is None


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_a_rounded_table_with_a_large_mean_completes_as_well_as_soft_impute(seed):
    """A user's table: 41×30 of rank 2 plus 10, rounded to 2 decimals, 20 % missing (it
    stopped at a saddle, validation error 0.05 against soft-impute's 0.004)."""
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((41, 2)) @ rng.standard_normal((2, 30)) + 10
    mask = rng.random(M.shape) >= 0.2
    A = np.where(mask, np.round(M, 2), np.nan)
    X, summary = complete(A, return_summary=True)
    X_si = complete(A, model="softimpute")
    assert summary["status"] == "converged" and summary["warning"] is None
    assert _missing_error(X, M, mask) <= 1.1 * _missing_error(X_si, M, mask)
