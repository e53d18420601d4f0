"""The SNN's recipe for subsampled-DCT measurements: heavy-ball momentum from a spectral start
(and plain gradient descent from the small start for every other operator)."""

from __future__ import annotations

import pytest
import torch

from spectralnn import make_problem, synthetic_low_rank
from spectralnn.errors import ConfigError
from spectralnn.nn import SNN
from spectralnn.recovery import fit
from spectralnn.recovery.snn import (
    DCT_MOMENTUM,
    DCT_SPECTRAL_START,
    MOMENTUM_LR_SCALE,
    dct_recipe,
    network_gain,
    start_spectrally,
)
from spectralnn.recovery.stepsize import leading_singular_value
from spectralnn.recovery.validation import split_validation


def _problem(measurement, n=16, rank=2, fraction=0.6, seed=0):
    X = synthetic_low_rank(n, rank, psd=False, seed=seed)
    return make_problem(X, measurement, fraction=fraction, noise_std=0.0, seed=seed)


@pytest.mark.parametrize("measurement", ["dct", "entries", "gaussian"])
def test_only_a_large_dct_and_its_subsets_get_momentum_and_the_spectral_start(measurement):
    p = _problem(measurement, n=65, fraction=0.1)
    fit_part, _ = split_validation(p, 0.2, seed=0)
    plain = (0.0, 0.0)
    expect = (DCT_MOMENTUM, DCT_SPECTRAL_START) if measurement == "dct" else plain
    assert dct_recipe(p.operator) == expect
    assert dct_recipe(fit_part.operator) == expect  # a subset of the rows
    assert dct_recipe(_problem(measurement, n=64).operator) == plain  # 64×64: small


def test_network_gain_is_the_slope_of_the_snn_at_zero():
    model = SNN((12, 9), widths=[2, 2], init="identity", init_scale=1e-5, jitter=0.0,
                dtype=torch.float64, seed=3)
    with torch.no_grad():
        X = model()
    # X = C·ε²·I near 0 (every input is ε²·I)
    assert float(X[0, 0]) == pytest.approx(network_gain(model) * 1e-10, rel=1e-6)


def test_spectral_start_puts_the_leading_direction_of_the_back_projection_at_rho_sigma():
    p = _problem("dct", n=20, rank=3, fraction=0.5)
    model = SNN(p.shape, widths=[2, 2], init="identity", init_scale=1e-4, jitter=1e-6,
                dtype=torch.float64, seed=0)
    sigma = leading_singular_value(p)
    assert start_spectrally(model, p, sigma, 0.1, 1e-4)
    with torch.no_grad():
        X0 = model()
    U, s, Vh = torch.linalg.svd(X0)
    Phi, _, PsiT = torch.linalg.svd(p.operator.adjoint(p.y))
    assert float(s[0]) == pytest.approx(0.1 * sigma, rel=1e-2)
    assert abs(float(U[:, 0] @ Phi[:, 0])) > 0.999
    assert abs(float(Vh[0] @ PsiT[0])) > 0.999
    # the later directions start smaller, in the order of the back-projection's
    assert float(s[1]) < float(s[0]) and float(s[-1]) < 1e-3 * float(s[0])


def test_spectral_start_changes_nothing_when_there_is_nothing_to_follow():
    p = _problem("dct")
    model = SNN(p.shape, widths=[2, 2], init="identity", init_scale=1e-4,
                dtype=torch.float64, seed=0)
    before = model.U.detach().clone()
    assert not start_spectrally(model, p, 0.0, 0.1, 1e-4)  # σ̂_1 = 0
    assert torch.equal(model.U.detach(), before)


def test_default_snn_on_dct_recovers_with_momentum_and_reports_its_recipe():
    p = _problem("dct", n=66, rank=2, fraction=0.5)
    r = fit(p, "snn", max_steps=150, sanity_check=False)
    s = r.summary["settings"]
    assert (s["optimizer"], s["momentum"], s["spectral_start"]) == \
        ("momentum", DCT_MOMENTUM, DCT_SPECTRAL_START)
    assert r.status != "diverged" and r.summary["relative_error"] < 1e-2, r.summary
    assert r.summary["settings"]["lr_scale"] == pytest.approx(MOMENTUM_LR_SCALE)
    # the heavy ball's plateaus are shorter: so is the validation window
    assert s["patience_fraction"] == pytest.approx(0.5 * (1 - DCT_MOMENTUM))
    # the plain recipe is one option away
    plain = fit(p, "snn", max_steps=2, momentum=0, spectral_start=0, sanity_check=False)
    s = plain.summary["settings"]
    assert (s["optimizer"], s["momentum"], s["spectral_start"]) == ("gd", 0.0, 0.0)
    assert s["patience_fraction"] == 0.5


def test_entries_keep_plain_gradient_descent_from_the_small_start():
    r = fit(_problem("entries", n=10, rank=1), "snn", max_steps=2, sanity_check=False)
    s = r.summary["settings"]
    assert (s["optimizer"], s["momentum"], s["spectral_start"]) == ("gd", 0.0, 0.0)


def test_with_momentum_only_divergence_changes_the_rate():
    p = _problem("dct", n=66, rank=2, fraction=0.5)
    r = fit(p, "snn", lr_scale=1e4, max_steps=60, retries=1, sanity_check=False)
    attempts = r.summary["settings"]["attempts"]
    assert [a["status"] for a in attempts][:1] == ["diverged"] and len(attempts) == 2
    assert attempts[1]["lr"] == pytest.approx(attempts[0]["lr"] / 4)
    assert all(a["status"] != "oscillating" for a in attempts)


@pytest.mark.parametrize(("option", "value"), [("momentum", 1.0), ("momentum", -0.1),
                                               ("momentum", True),
                                               ("spectral_start", -1.0),
                                               ("spectral_start", float("nan"))])
def test_bad_recipe_values_are_one_line_errors(option, value):
    with pytest.raises(ConfigError, match=option) as info:
        fit(_problem("dct"), "snn", max_steps=2, **{option: value})
    assert "\n" not in str(info.value)
