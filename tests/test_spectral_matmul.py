"""method="matmul": products-only tanh family against the SVD path, its bound, its gradient."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn import ConfigError, matmul_error_bound, spectral_apply
from spectralnn.spectral import get_activation, matmul_options
from spectralnn.spectral import matmul as mm
from spectralnn.spectral.dispatch import resolve_method

F64 = torch.float64
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _with_spectrum(m: int, n: int, s: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(m, len(s), generator=g, dtype=F64))
    V, _ = torch.linalg.qr(torch.randn(n, len(s), generator=g, dtype=F64))
    return (U * s.to(F64)) @ V.T


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "identity": torch.eye(6, dtype=F64),
        "zero": torch.zeros(4, 5, dtype=F64),
        "repeated": torch.diag(torch.tensor([1.5, 1.5, 1.5, 0.2, 0.2], dtype=F64)),
        "rank2": torch.randn(9, 2, generator=g, dtype=F64) @ torch.randn(2, 7, generator=g,
                                                                          dtype=F64),
        "sigma_1e3": _with_spectrum(12, 10, torch.logspace(-3, 3, 10, dtype=F64), 1),
        "tall": torch.randn(11, 4, generator=g, dtype=F64),
        "wide": 3.0 * torch.randn(3, 8, generator=g, dtype=F64),
        "batched": torch.randn(2, 3, 6, 5, generator=g, dtype=F64),
    }


def _spec_err(A: torch.Tensor, B: torch.Tensor) -> float:
    D = (A - B).reshape(-1, *A.shape[-2:]).to(F64)
    return float(torch.linalg.matrix_norm(D, ord=2).max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ["tanh", "shifted_sigmoid"])
@pytest.mark.parametrize("inverse", ["poly", "cholesky"])
@pytest.mark.parametrize("name", list(_inputs()))
def test_forward_and_gradient_within_bound(name, inverse, act, device):
    X = _inputs()[name].to(device)
    W = torch.randn(X.shape, generator=torch.Generator().manual_seed(5), dtype=F64).to(device)
    ref = spectral_apply(X, act, method="svd")
    Xs = X.clone().requires_grad_()
    (spectral_apply(Xs, act, method="svd") * W).sum().backward()
    Xm = X.clone().requires_grad_()
    with matmul_options(inverse=inverse):
        out = spectral_apply(Xm, act, method="matmul")
        (out * W).sum().backward()
    bound = matmul_error_bound(X, act, inverse=inverse)
    assert bound < 1e-11
    assert _spec_err(out.detach(), ref) <= bound
    # Each gradient entry is <DF(X)*[W], e_ij>: within a small multiple of the bound.
    assert float((Xm.grad - Xs.grad).abs().max()) <= 10 * bound * float(W.abs().max())


@pytest.mark.parametrize("name", ["identity", "rank2", "sigma_1e3", "wide", "batched"])
def test_gradient_matches_finite_differences(name):
    X = _inputs()[name]
    g = torch.Generator().manual_seed(2)
    E = torch.randn(X.shape, generator=g, dtype=F64)
    W = torch.randn(X.shape, generator=g, dtype=F64)
    h = 1e-6 * max(1.0, float(X.abs().max())) ** 0.5
    fd = ((spectral_apply(X + h * E, method="matmul") - spectral_apply(X - h * E,
                                                                      method="matmul")) / (2 * h))
    Xr = X.clone().requires_grad_()
    (spectral_apply(Xr, method="matmul") * W).sum().backward()
    lhs, rhs = float((Xr.grad * E).sum()), float((W * fd).sum())
    assert abs(lhs - rhs) <= 1e-7 * max(1.0, abs(rhs))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("scale", [1e-3, 0.3, 3.0, 40.0, 1e3])
def test_bound_holds_on_random_spectra(scale, dtype):
    n = 24
    s = scale * torch.rand(n, generator=torch.Generator().manual_seed(int(scale * 7) + 1),
                           dtype=F64)
    X64 = _with_spectrum(32, n, s, 3)
    X = X64.to(dtype)
    err = _spec_err(spectral_apply(X, method="matmul").to(F64), spectral_apply(X64,
                                                                                method="svd"))
    bound = matmul_error_bound(X)
    assert err <= bound
    # The bound is not vacuous: near the unit roundoff times a modest factor.
    eps = torch.finfo(dtype).eps
    assert bound <= 1e4 * eps * max(1.0, scale)


def test_extra_doublings_keep_the_bound():
    """The certified start error does not grow with the number of doublings."""
    X = _with_spectrum(10, 8, torch.linspace(0, 2, 8, dtype=F64), 4)
    ref = spectral_apply(X, method="svd")
    bound = matmul_error_bound(X)
    for k in (1, 6, 14):
        with matmul_options(doublings=k):
            assert _spec_err(spectral_apply(X, method="matmul"), ref) <= bound


def test_plan_and_tolerance():
    p32, p64 = mm.plan(torch.float32), mm.plan(F64)
    assert len(p32.start) < len(p64.start)            # float32 needs a lower degree
    assert p64.truncation(10) <= mm.default_tol(F64)
    loose = mm.plan(F64, 1e-4)
    assert len(loose.start) < len(p64.start)
    X = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=F64)
    err = _spec_err(spectral_apply(X, method="matmul", tol=1e-4), spectral_apply(X,
                                                                               method="svd"))
    assert err <= matmul_error_bound(X, tol=1e-4)


def test_monitor_flags_inputs_beyond_fixed_doublings():
    X = 50.0 * torch.eye(3, dtype=F64)               # (Σσ⁸)^{1/8} ≈ 66 needs k = 6
    mon = torch.zeros(())
    with matmul_options(doublings=2, monitor=mon):
        spectral_apply(X, method="matmul")
    assert float(mon) > 1
    mon.zero_()
    with matmul_options(doublings=6, monitor=mon):
        out = spectral_apply(X, method="matmul")
    assert float(mon) <= 1
    assert torch.allclose(out, math.tanh(50.0) * torch.eye(3, dtype=F64), atol=1e-12)


def test_norm_bound_is_an_upper_bound_and_tighter_than_frobenius():
    X = _with_spectrum(40, 30, torch.linspace(0, 5, 30, dtype=F64), 6)
    S = mm.input_norm_bound(X)
    assert float(torch.linalg.matrix_norm(X, ord=2)) <= S < float(torch.linalg.matrix_norm(X))


def test_errors_are_one_line_config_errors():
    X = torch.eye(3, dtype=F64)
    with pytest.raises(ConfigError, match="no matmul form"):
        spectral_apply(X, "clamp", method="matmul")
    with pytest.raises(ConfigError, match="tol must be"):
        spectral_apply(X, method="matmul", tol=2.0)
    with pytest.raises(ConfigError, match="inverse must be"):
        with matmul_options(inverse="lu"):
            pass
    with pytest.raises(ConfigError, match="unknown inverse"):
        matmul_error_bound(X, inverse="lu")


def test_auto_never_picks_matmul_on_the_cpu():
    act = get_activation("tanh")
    for X in (torch.eye(128, dtype=F64), 1e4 * torch.eye(4, dtype=F64)):
        assert resolve_method(X, act, "auto") in ("gram", "svd")


def test_auto_off_the_cpu_picks_by_size_and_capture():
    """The device-side rule, checked on shape-only ('meta') tensors."""
    act = get_activation("tanh")
    big = torch.empty(2, 128, 160, device="meta")
    small = torch.empty(4, 28, 28, device="meta")
    assert resolve_method(big, act, "auto") == "matmul"
    assert resolve_method(small, act, "auto") == "svd"
    with matmul_options(doublings=3):            # inside a captured step: always matmul
        assert resolve_method(small, act, "auto") == "matmul"
    assert resolve_method(big, get_activation("clamp"), "auto") == "svd"


def test_non_finite_input_gives_non_finite_output():
    X = torch.eye(4, dtype=F64)
    X[1, 2] = float("nan")
    assert not bool(torch.isfinite(spectral_apply(X, method="matmul")).all())
