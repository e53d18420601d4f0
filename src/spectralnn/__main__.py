"""``python -m spectralnn`` and the ``spectralnn`` console script.

Without the ``cli`` extra the command prints one line naming it and exits with code 2.
"""

from __future__ import annotations

import sys

from .errors import MissingDependencyError


def main(argv: list[str] | None = None) -> None:
    """Run :func:`spectralnn.cli.main`, or explain which extra the command needs."""
    try:
        from .cli import main as cli_main
    except MissingDependencyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    cli_main(argv)


if __name__ == "__main__":
    main()
