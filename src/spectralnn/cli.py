"""Command-line interface: parse, call the library, map errors to exit codes.

Errors on bad input print one line on stderr (``error: ...``) and exit with code 2, without a
traceback. Each command lives here as a thin wrapper over a library function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any

import typer

from .errors import SolverError, SpectralNNError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Spectral Neural Networks and non-linear matrix sensing.")

EXIT_BAD_INPUT = 2


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"spectralnn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Spectral Neural Networks and non-linear matrix sensing."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print ``error: message`` on stderr (one line) and exit with ``code``."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's typed errors into a one-line message and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SpectralNNError, FileNotFoundError, SolverError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


@app.command()
@handle_errors
def demo(
    n: int = typer.Option(12, help="Matrix size n (n×n ground truth)."),
    rank: int = typer.Option(2, help="Rank of the ground truth."),
    measurements: int = typer.Option(0, help="Number of Gaussian measurements (0: 3·r·(2n−r))."),
    steps: int = typer.Option(3000, help="Gradient-descent steps."),
    lr: float = typer.Option(1e-3, help="Learning rate."),
    seed: int = typer.Option(0, help="Seed of every random draw."),
) -> None:
    """Recover a synthetic low-rank matrix from Gaussian measurements with an SNN."""
    from .demo import run_demo

    result = run_demo(n=n, rank=rank, m=measurements or None, steps=steps, lr=lr, seed=seed)
    typer.echo(result.describe())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``spectralnn`` console script."""
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="spectralnn",
            standalone_mode=True)
    except SystemExit as exc:  # typer/click exit codes pass through
        raise SystemExit(exc.code) from None


__all__ = ["app", "fail", "handle_errors", "main"]
