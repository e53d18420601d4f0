"""The public API: every exported name is what the README says, no name is both a function and
a module, long signatures are keyword-only, importing the library leaves matplotlib alone."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import spectralnn
from spectralnn.data import synthetic_low_rank
from spectralnn.errors import SpectralNNError

ROOT = Path(__file__).resolve().parent.parent


def _readme_api() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([\w]+)` \| (\w+) \|", section, flags=re.M))


def _kind(obj: object) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj):
        return "function"
    return "constant"


def test_every_exported_name_is_what_the_readme_says():
    documented = _readme_api()
    assert set(documented) == set(spectralnn.__all__)
    for name in spectralnn.__all__:
        assert _kind(getattr(spectralnn, name)) == documented[name], name
    for name, kind in documented.items():
        if kind == "exception":
            assert issubclass(getattr(spectralnn, name), SpectralNNError)


def test_no_exported_name_is_also_a_submodule_and_imports_change_nothing():
    """Importing every submodule leaves every exported name as it was (``spectralnn.sweep``
    stayed the function when ``spectralnn.sweeps`` is imported)."""
    before = {name: getattr(spectralnn, name) for name in spectralnn.__all__}
    for info in pkgutil.walk_packages(spectralnn.__path__, "spectralnn."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    after = {name: getattr(spectralnn, name) for name in spectralnn.__all__}
    assert after == before
    assert inspect.isfunction(spectralnn.sweep) and inspect.ismodule(spectralnn.sweeps)
    submodules = {i.name.rpartition(".")[2] for i in pkgutil.iter_modules(spectralnn.__path__)}
    clashes = submodules & set(spectralnn.__all__)
    assert not clashes


def test_long_public_signatures_are_keyword_only_after_the_first_few():
    X = synthetic_low_rank(4, 1, seed=0)
    with pytest.raises(TypeError):
        spectralnn.make_problem(X, "gaussian", 10)   # m is keyword-only
    with pytest.raises(TypeError):
        synthetic_low_rank(4, 1, False)              # psd is keyword-only
    for fn in (spectralnn.make_problem, spectralnn.paper_lr_search, spectralnn.Trainer,
               synthetic_low_rank):
        params = inspect.signature(fn).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                      p.POSITIONAL_OR_KEYWORD)]
        assert len(positional) <= 3, (fn.__name__, [p.name for p in positional])


def test_library_does_not_switch_the_matplotlib_backend(tmp_path):
    """A user's backend survives importing spectralnn and drawing every kind of figure."""
    code = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import spectralnn, spectralnn.sweeps, spectralnn.theory.study_report
from spectralnn.experiments.plots import Curve, plot_training_panels
rows = [{{"step": 0, "train_loss": 1.0, "nuclear_norm": 1.0, "sv1": 1.0, "sv2": 0.5,
          "sv3": 0.1}}]
plot_training_panels([Curve("snn", 0.1, rows)], {str(tmp_path / 'p.png')!r}, "t")
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["svg", "0"]
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trained_models_follow_the_problem_device_and_dtype():
    problem = spectralnn.make_problem(synthetic_low_rank(4, 1, seed=0), m=8)
    model = spectralnn.SNN((4, 4), [2, 2], dtype=torch.float32)
    spectralnn.train(model, problem, steps=1, lr=1e-3)
    assert {(p.dtype, p.device) for p in model.parameters()} == {(problem.dtype,
                                                                   problem.device)}
