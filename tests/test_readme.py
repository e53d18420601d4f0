"""The README's instructions work: its Python example runs, its make targets exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no Python example"
    code = blocks[0].replace("steps=2501", "steps=20")   # same code, fewer steps
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].final["relative_error"] < 1.0
    assert bool(namespace["X"].grad.isfinite().all())


def test_readme_completion_example_fills_every_entry():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S)
              if "snn.complete(" in b]
    assert blocks, "README has no completion example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    M, filled = namespace["M"], namespace["filled"]
    assert filled.shape == M.shape and not np.isnan(filled).any()
    seen = ~np.isnan(M)
    assert np.array_equal(filled[seen], M[seen])   # observed entries are kept


def test_readme_set_up_commands_are_make_targets():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"^make ([\w-]+)", text, flags=re.M)
    assert {"reproduce", "test"} <= set(targets)
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_readme_certificate_example_says_what_it_prints_and_why():
    """The example printed `False 7.7e-05 0.373 0.0` without a word on why."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    comment = block.split("cert = ")[0].rsplit("print(", 1)[-1]
    assert "print(cert.rank, cert.holds" in block
    assert "28 singular values" in comment and "prints" in comment and "limit" in comment
