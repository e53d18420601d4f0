"""The spectral activation: values, exact gradients (float64 finite differences), errors."""

from __future__ import annotations

import math

import pytest
import torch

from spectralnn import (
    ConfigError,
    ShapeError,
    SpectralActivation,
    available_activations,
    get_activation,
    spectral_apply,
    spectral_derivative,
)

F64 = torch.float64


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs() -> dict[str, torch.Tensor]:
    g = _gen(1)
    eye_zero = torch.diag(torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=F64))
    return {
        "generic_tall": torch.randn(6, 4, generator=g, dtype=F64),
        "generic_wide": torch.randn(3, 5, generator=g, dtype=F64),
        "identity": torch.eye(4, dtype=F64),
        "scaled_identity_tiny": 1e-4 * torch.eye(5, dtype=F64),
        "identity_plus_zero": eye_zero,
        "zero_rect": torch.zeros(3, 5, dtype=F64),
        "rank2_tall": torch.randn(7, 2, generator=g, dtype=F64) @ torch.randn(2, 4, generator=g,
                                                                              dtype=F64),
        "rank1_wide": torch.randn(3, 1, generator=g, dtype=F64) @ torch.randn(1, 6, generator=g,
                                                                              dtype=F64),
        "repeated_nonzero": torch.diag(torch.tensor([2.0, 2.0, 0.5], dtype=F64)),
        "batched": torch.randn(2, 3, 4, 3, generator=g, dtype=F64),
    }


SMOOTH = ["tanh", "identity", "shifted_sigmoid"]


def _reference(X: torch.Tensor, f) -> torch.Tensor:
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    return U @ torch.diag_embed(f(s)) @ Vh


def _central_difference(X, E, act, h=1e-6):
    return (spectral_apply(X + h * E, act) - spectral_apply(X - h * E, act)) / (2 * h)


@pytest.mark.parametrize("name", list(_inputs()))
@pytest.mark.parametrize("act", SMOOTH)
def test_derivative_matches_finite_differences(name, act):
    X = _inputs()[name]
    E = torch.randn(X.shape, generator=_gen(2), dtype=F64)
    exact = spectral_derivative(X, E, act)
    fd = _central_difference(X, E, act)
    assert torch.isfinite(exact).all()
    assert float((exact - fd).norm() / fd.norm()) <= 1e-6


@pytest.mark.parametrize("name", list(_inputs()))
@pytest.mark.parametrize("act", SMOOTH)
@pytest.mark.parametrize("method", ["svd", "gram"])
def test_backward_is_adjoint_of_derivative(name, act, method):
    """<∇_X <W, F(X)>, E> = <W, DF(X)[E]> for the autograd backward of both evaluations."""
    X = _inputs()[name].clone().requires_grad_()
    E = torch.randn(X.shape, generator=_gen(3), dtype=F64)
    W = torch.randn(X.shape, generator=_gen(4), dtype=F64)
    (spectral_apply(X, act, method=method) * W).sum().backward()
    lhs = float((X.grad * E).sum())
    rhs = float((W * spectral_derivative(X.detach(), E, act)).sum())
    assert math.isfinite(lhs)
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(rhs))


@pytest.mark.parametrize("name", list(_inputs()))
@pytest.mark.parametrize("act", SMOOTH)
def test_gram_matches_svd_and_finite_differences(name, act):
    X = _inputs()[name]
    E = torch.randn(X.shape, generator=_gen(12), dtype=F64)
    gram = spectral_apply(X, act, method="gram")
    assert torch.allclose(gram, spectral_apply(X, act, method="svd"), atol=1e-13)
    h = 1e-6
    fd = (spectral_apply(X + h * E, act, method="gram")
          - spectral_apply(X - h * E, act, method="gram")) / (2 * h)
    assert float((spectral_derivative(X, E, act) - fd).norm() / fd.norm()) <= 1e-6


def test_gram_divided_difference_against_high_precision():
    """[λ_i, λ_j]_h of h(λ) = tanh(√λ)/√λ on both sides of the series/closed-form switch."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    act = get_activation("tanh")

    def h(lam):
        s = mpmath.sqrt(lam)
        return mpmath.tanh(s) / s if lam > 0 else mpmath.mpf(1)

    def dh(lam):
        if lam == 0:
            return mpmath.mpf(-1) / 3
        s = mpmath.sqrt(lam)
        return (s * mpmath.sech(s) ** 2 - mpmath.tanh(s)) / (2 * s**3)

    def dd(a, b):
        return dh(a) if a == b else (h(a) - h(b)) / (a - b)

    pts = [0.0, 1e-12, 1e-6, 0.004, 0.00999, 0.01, 0.0100001, 0.3, 1.0, 1.0 + 1e-9, 50.0, 1e6]
    for a in pts:
        for b in pts:
            got = float(act.h_dd(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64)))
            want = float(dd(mpmath.mpf(a), mpmath.mpf(b)))
            assert abs(got - want) <= 1e-13 * max(abs(want), 1e-300) + 1e-30, (a, b, got, want)


def test_auto_method_picks_gram_only_within_its_error_budget(monkeypatch):
    from spectralnn.spectral.gram import GramFunction
    from spectralnn.spectral.svd import SpectralFunction

    calls = []
    for cls in (GramFunction, SpectralFunction):
        original = cls.apply
        monkeypatch.setattr(cls, "apply", lambda *a, _o=original, _c=cls: (calls.append(_c),
                                                                           _o(*a))[1])
    small = torch.randn(4, 4, generator=_gen(13))
    spectral_apply(small, "tanh")
    spectral_apply(1e3 * small, "tanh")         # float32: eps·‖X‖³ far above the budget
    spectral_apply(small, "clamp")              # no Gram form
    assert calls == [GramFunction, SpectralFunction, SpectralFunction]
    with pytest.raises(ConfigError, match="no Gram form"):
        spectral_apply(small, "clamp", method="gram")
    with pytest.raises(ConfigError, match="unknown method 'qr'"):
        spectral_apply(small, "tanh", method="qr")


def test_gradcheck_generic_and_degenerate():
    for X in (_inputs()["generic_tall"], _inputs()["identity"], _inputs()["rank1_wide"]):
        X = X.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda Z: spectral_apply(Z, "tanh"), (X,), eps=1e-6,
                                        atol=1e-7, rtol=1e-6)


def test_clamp_derivative_away_from_the_kink():
    X = torch.diag(torch.tensor([3.0, 0.5, 0.5, 0.0], dtype=F64)) + 0.0
    Q = torch.linalg.qr(torch.randn(4, 4, generator=_gen(5), dtype=F64))[0]
    X = Q @ X
    E = torch.randn(X.shape, generator=_gen(6), dtype=F64)
    exact = spectral_derivative(X, E, "clamp", c=1.0)
    fd = _central_difference(X, E, get_activation("clamp", c=1.0))
    assert float((exact - fd).norm() / fd.norm()) <= 1e-6


@pytest.mark.parametrize("act,f", [
    ("tanh", torch.tanh),
    ("identity", lambda s: s),
    ("shifted_sigmoid", lambda s: 2.0 * (torch.sigmoid(s) - 0.5)),
])
def test_forward_values(act, f):
    for X in _inputs().values():
        assert torch.allclose(spectral_apply(X, act), _reference(X, f), atol=1e-12)


def test_identity_activation_is_identity_map():
    X = _inputs()["generic_wide"]
    assert torch.allclose(spectral_apply(X, "identity"), X, atol=1e-12)


def test_clamp_caps_singular_values():
    X = _inputs()["generic_tall"] * 5
    s = torch.linalg.svdvals(spectral_apply(X, "clamp", c=1.5))
    assert torch.allclose(s, torch.clamp(torch.linalg.svdvals(X), max=1.5), atol=1e-12)


def test_agrees_with_plain_autograd_where_defined():
    X = _inputs()["generic_tall"].clone().requires_grad_()
    W = torch.randn(X.shape, generator=_gen(7), dtype=F64)
    (spectral_apply(X, "tanh") * W).sum().backward()
    Y = X.detach().clone().requires_grad_()
    (_reference(Y, torch.tanh) * W).sum().backward()
    assert torch.allclose(X.grad, Y.grad, atol=1e-10)


@pytest.mark.parametrize("X", [torch.eye(4, dtype=F64), torch.zeros(3, 4, dtype=F64)])
def test_plain_autograd_fails_where_ours_is_finite(X):
    """The reason for the closed form: torch's SVD backward is NaN/inf at these inputs."""
    Y = X.clone().requires_grad_()
    W = torch.randn(X.shape, generator=_gen(8), dtype=F64)
    (_reference(Y, torch.tanh) * W).sum().backward()
    Z = X.clone().requires_grad_()
    (spectral_apply(Z, "tanh") * W).sum().backward()
    assert not torch.isfinite(Y.grad).all()
    assert torch.isfinite(Z.grad).all()


def test_finite_and_exact_at_a_rank_one_input():
    """At ``ones(5, 3)`` (two zero singular values) torch's SVD backward is NaN with some
    LAPACK builds and finite with others; ours matches central differences on every build."""
    X = torch.ones(5, 3, dtype=F64)
    W = torch.randn(X.shape, generator=_gen(8), dtype=F64)
    Z = X.clone().requires_grad_()
    (spectral_apply(Z, "tanh") * W).sum().backward()
    assert torch.isfinite(Z.grad).all()
    fd = torch.zeros_like(X)
    h = 1e-6
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            E = torch.zeros_like(X)
            E[i, j] = h
            up = (spectral_apply(X + E, "tanh") * W).sum()
            down = (spectral_apply(X - E, "tanh") * W).sum()
            fd[i, j] = (up - down) / (2 * h)
    assert torch.allclose(Z.grad, fd, atol=1e-6)


def test_batched_equals_looped():
    X = _inputs()["batched"].clone().requires_grad_()
    W = torch.randn(X.shape, generator=_gen(9), dtype=F64)
    (spectral_apply(X, "tanh") * W).sum().backward()
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            Y = X.detach()[i, j].clone().requires_grad_()
            out = spectral_apply(Y, "tanh")
            assert torch.allclose(out, spectral_apply(X.detach(), "tanh")[i, j], atol=1e-13)
            (out * W[i, j]).sum().backward()
            assert torch.allclose(Y.grad, X.grad[i, j], atol=1e-12)


@pytest.mark.parametrize("scale", [0.0, 1e-6, 1e-2, 1.0, 30.0, 1e3])
@pytest.mark.parametrize("method", ["auto", "svd"])
def test_float32_finite_and_accurate(scale, method):
    """float32 against float64 for singular values from 0 up to 1e3, incl. repeated ones."""
    g = _gen(10)
    Q1 = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=F64))[0]
    Q2 = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=F64))[0]
    s = scale * torch.tensor([1.0, 1.0, 0.3, 0.0], dtype=F64)
    X64 = Q1[:, :4] @ torch.diag(s) @ Q2.T
    W = torch.randn(X64.shape, generator=g, dtype=F64)
    out = {}
    for dt in (torch.float32, F64):
        X = X64.to(dt).clone().requires_grad_()
        Y = spectral_apply(X, "tanh", method=method)
        (Y * W.to(dt)).sum().backward()
        out[dt] = (Y.detach().to(F64), X.grad.to(F64))
    for k in range(2):
        a, b = out[torch.float32][k], out[F64][k]
        assert torch.isfinite(a).all()
        assert float((a - b).norm()) <= 1e-4 * max(1.0, float(b.norm()))


def test_registry_lists_names_in_error():
    with pytest.raises(ConfigError, match="unknown activation 'relu'.*clamp.*identity.*tanh"):
        spectral_apply(torch.eye(2), "relu")
    assert {"tanh", "shifted_sigmoid", "clamp", "identity"} <= set(available_activations())


def test_custom_pair_and_rejection_of_nonzero_f0():
    cube = (lambda s: s**3 / (1 + s**2), lambda s: (3 * s**2 + s**4) / (1 + s**2) ** 2)
    X = _inputs()["generic_tall"]
    E = torch.randn(X.shape, generator=_gen(11), dtype=F64)
    exact = spectral_derivative(X, E, cube)
    fd = _central_difference(X, E, cube)
    assert float((exact - fd).norm() / fd.norm()) <= 1e-6
    with pytest.raises(ConfigError, match=r"f\(0\) must be 0, got f\(0\) = 0.5"):
        spectral_apply(X, (torch.sigmoid, lambda s: torch.sigmoid(s) * (1 - torch.sigmoid(s))))


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        spectral_apply(torch.ones(3))
    with pytest.raises(ShapeError, match="real floating"):
        spectral_apply(torch.ones(3, 3, dtype=torch.int64))
    with pytest.raises(ShapeError, match="torch.Tensor"):
        spectral_apply([[1.0, 2.0]])
    with pytest.raises(ConfigError, match="positive finite number, got -1"):
        get_activation("clamp", c=-1)
    with pytest.raises(ConfigError, match="does not take parameters"):
        get_activation("tanh", c=2)


def test_module_wraps_function():
    X = _inputs()["batched"]
    mod = SpectralActivation("shifted_sigmoid", c=3.0)
    assert torch.allclose(mod(X), spectral_apply(X, "shifted_sigmoid", c=3.0))
    assert "shifted_sigmoid" in repr(mod)


@pytest.mark.parametrize("name", ["tanh", "shifted_sigmoid", "identity"])
def test_gram_kernel_matches_pairwise_divided_difference(name):
    act = get_activation(name)
    g = _gen(14)
    for lam in (torch.rand(3, 7, generator=g, dtype=F64) * 5,               # no small λ
                torch.rand(3, 7, generator=g, dtype=F64) * 1e-3,            # all small
                torch.tensor([0.0, 1e-14, 3e-3, 0.02, 0.5, 0.5, 40.0], dtype=F64)):  # mixed
        fast = act.gram_kernel(lam)
        pairwise = act.h_dd(lam.unsqueeze(-1), lam.unsqueeze(-2))
        assert torch.allclose(fast, pairwise, rtol=1e-13, atol=1e-16)


def test_auto_method_is_safe_for_huge_inputs():
    X = 1e200 * torch.randn(4, 4, generator=_gen(15), dtype=F64)
    Y = spectral_apply(X, "tanh")                # SVD path: Gram would overflow
    assert torch.isfinite(Y).all()
    assert torch.allclose(torch.linalg.svdvals(Y), torch.ones(4, dtype=F64))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_cpu_kernel_matches_torch_formulation(dtype):
    """The compiled CPU kernel (D, and the fused D ∘ (M + Mᵀ) of the backward) against the
    pairwise torch formula used on other devices."""
    import spectralnn.spectral.tanh as sp
    from spectralnn.spectral import _kernels

    pytest.importorskip("numba", reason="the fused kernel needs the 'fast' extra")
    assert _kernels.AVAILABLE
    g = _gen(16)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for lam in (torch.rand(3, 2, 9, generator=g, dtype=F64) * 5,
                torch.rand(2, 9, generator=g, dtype=F64) * 1e-3,
                torch.tensor([[0.0, 1e-14, 3e-3, 0.02, 0.5, 0.5, 40.0]], dtype=F64)):
        lam = lam.to(dtype)
        M = torch.randn(lam.shape + lam.shape[-1:], generator=g, dtype=F64).to(dtype)
        lam64 = lam.double()
        ref = sp.tanh_gram_dd(lam64.unsqueeze(-1), lam64.unsqueeze(-2))
        assert torch.allclose(sp.tanh_gram_kernel(lam).double(), ref, rtol=tol, atol=1e-30)
        fused = sp.tanh_gram_sym(lam, M).double()
        assert torch.allclose(fused, ref * (M + M.mT).double(), rtol=tol, atol=tol * 1e-3)
        h_ref = sp.tanhc(torch.sqrt(lam.double()))
        assert torch.allclose(sp.tanh_gram_h(lam).double(), h_ref, rtol=tol)


@pytest.mark.parametrize("name, params", [("tanh", {}), ("shifted_sigmoid", {"c": 3.0}),
                                          ("identity", {})])
def test_registry_activations_and_snns_pickle_and_deepcopy(name, params):
    import copy
    import pickle

    from spectralnn.nn import SNN

    act = get_activation(name, **params)
    s = torch.linspace(-2, 2, 9, dtype=torch.float64)
    for clone in (pickle.loads(pickle.dumps(act)), copy.deepcopy(act)):
        assert clone.name == act.name
        assert torch.equal(clone.g(s), act.g(s)) and torch.equal(clone.dg(s), act.dg(s))
    model = SNN((6, 5), [2], get_activation(name, **params), "random", rank=3,
                evaluation="factored", dtype=torch.float64)
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert torch.equal(clone(), model())
