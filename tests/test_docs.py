"""The documentation's Python examples run (with fewer steps); its nav names existing pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_python_examples_run(page):
    pytest.importorskip("cvxpy")
    pytest.importorskip("mlxtend")
    text = page.read_text(encoding="utf-8")
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        code = re.sub(r"steps=\d+", "steps=20", block)       # same code, fewer steps
        exec(compile(code, str(page.relative_to(ROOT)), "exec"), namespace)


def test_nav_names_existing_pages():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, flags=re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert listed <= pages, f"nav names missing pages: {sorted(listed - pages)}"
