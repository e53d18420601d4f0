"""Griffe extension for the documentation site: reST roles in docstrings become links.

The library's docstrings name other objects the Sphinx way, ``:func:`complete```,
``:class:`~spectralnn.errors.DataError```; mkdocstrings renders Markdown, where those would
show as raw text. Each role becomes an optional cross-reference, resolved in the scope of
the object that holds the docstring: a link when the target has a page, plain code otherwise
(an external name such as ``torch.Tensor``), never a broken link or a build warning.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|exc|obj|const):`([^`]+)`")


def _target(obj: Any, name: str) -> str:
    """The full path of ``name`` as seen from ``obj`` (the name itself when unknown)."""
    name = name.lstrip(".")
    if name.startswith("spectralnn"):
        return name
    head, _, rest = name.partition(".")
    scope = obj
    while scope is not None:
        try:
            full = scope.resolve(head)
        except Exception:  # griffe raises several kinds for an unknown name
            scope = scope.parent
            continue
        return f"{full}.{rest}" if rest else full
    return name


def convert(text: str, obj: Any) -> str:
    """``text`` with every reST role replaced by an optional autorefs cross-reference."""

    def replace(match: re.Match[str]) -> str:
        content = match[2].strip()
        explicit = re.fullmatch(r"(.*?)\s*<([^>]+)>", content)
        if explicit:
            title, name = explicit[1], explicit[2]
        else:
            name = content.lstrip("~")
            title = name.rsplit(".", 1)[-1] if content.startswith("~") else name
        if match[1] in ("func", "meth") and not title.endswith(")"):
            title += "()"
        return (f'<autoref identifier="{_target(obj, name)}" optional>'
                f"<code>{title}</code></autoref>")

    return ROLE.sub(replace, text)


class RestRoles(griffe.Extension):
    """Rewrite the docstrings of every object of a loaded package."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias:
                continue
            if obj.docstring is not None:
                obj.docstring.value = convert(obj.docstring.value, obj)
            stack.extend(obj.members.values())
