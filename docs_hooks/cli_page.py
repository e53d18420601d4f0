"""MkDocs hook: the command-line reference in ``docs/cli.md`` is generated from the
``spectralnn`` command itself (its typer app), so that it lists every command and option as
they are, and cannot fall behind.

``docs/cli.md`` holds the marker ``<!-- cli-reference -->``; :func:`reference` is what
replaces it (also used by the tests).
"""

from __future__ import annotations

import html
from typing import Any

MARKER = "<!-- cli-reference -->"


def _cell(text: str) -> str:
    """Table-cell text: one line, pipes as entities (a backslash escape shows in code)."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _summary(command: Any) -> str:
    return " ".join((command.help or "").strip().split("\n\n")[0].split())


def reference() -> str:
    """Markdown: a table of the commands, then per command a table of its arguments and
    options as ``spectralnn COMMAND --help`` shows them (with defaults)."""
    import typer.main

    from spectralnn.cli import app

    group = typer.main.get_command(app)
    ctx = group.make_context("spectralnn", [], resilient_parsing=True)
    commands = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    lines = ["| command | what it does |", "|---|---|"]
    for name, command in commands.items():
        lines.append(f"| [`spectralnn {name}`](#spectralnn-{name}) | "
                     f"{_cell(_summary(command))} |")
    lines += ["", "Before the command, for every one of them:", "",
              "| option | meaning |", "|---|---|"]
    for param in group.params:
        record = param.get_help_record(ctx)
        if param.name != "help" and record is not None:
            lines.append(f"| `spectralnn {record[0]}` | {_cell(record[1])} |")
    for name, command in commands.items():
        sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
        lines += ["", f"### spectralnn {name}", "", _cell(_summary(command)), "",
                  "| argument / option | meaning |", "|---|---|"]
        for param in command.params:
            record = param.get_help_record(sub)
            if param.name == "help" or record is None:
                continue
            names, text = record
            label = " / ".join(f"`{part.strip()}`" for part in names.split(" / "))
            lines.append(f"| {label} | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, reference())
    return markdown
