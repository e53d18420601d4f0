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


ROLE_IN_HTML = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):")


def _hook(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "docs_hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_roles_become_cross_references():
    """Item 8: 197 raw reST roles showed on 13 API pages."""
    griffe = pytest.importorskip("griffe")
    roles = _hook("rest_roles")
    pkg = griffe.load("spectralnn", search_paths=[str(ROOT / "src")],
                      extensions=griffe.load_extensions(roles.RestRoles()))
    module = pkg["completion.reading"]
    assert ('<autoref identifier="spectralnn.errors.DataError" optional><code>DataError</code>'
            in module["read_incomplete"].docstring.value)
    left, stack = [], [pkg]
    while stack:
        obj = stack.pop()
        if obj.is_alias:
            continue
        if obj.docstring is not None:
            left += [obj.path for _ in roles.ROLE.finditer(obj.docstring.value)]
        stack.extend(obj.members.values())
    assert left == []


def test_cli_page_lists_every_command_and_option():
    """Item 8: the page had no `complete` row and listed the old `recover` models."""
    pytest.importorskip("typer")
    import typer.main

    from spectralnn.cli import app

    text = _hook("cli_page").reference()
    assert "\\|" not in text
    group = typer.main.get_command(app)
    assert group.commands
    for name, command in group.commands.items():
        assert f"### spectralnn {name}" in text
        section = text.split(f"### spectralnn {name}")[1].split("### ")[0]
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-") and opt != "--help":
                    assert f"`{opt}" in section, (name, opt)
    assert "<!-- cli-reference -->" in (DOCS / "cli.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_built_site_has_no_raw_role_or_backslash_escape(tmp_path):
    """The whole site, built as CI builds it (mkdocs --strict)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    import os
    import subprocess
    import sys

    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bad = []
    for page in (tmp_path / "site").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if ROLE_IN_HTML.search(text) or "\\|" in text:
            bad.append(str(page.relative_to(tmp_path)))
    assert bad == []
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "spectralnn complete" in cli and "--index-col" in cli and "softimpute" in cli
