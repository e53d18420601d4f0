"""Command-line interface: parse, call the library, map errors to exit codes.

Errors on bad input print one line on stderr (``error: ...``) and exit with code 2, without a
traceback. Each command lives here as a thin wrapper over a library function.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from ._optional import requires
from .errors import ConfigError, MissingDependencyError, SolverError, SpectralNNError

with requires("cli", feature="the spectralnn command"):
    import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
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
    threads: int = typer.Option(1, "--threads", min=1, help="PyTorch threads of this process. "
                                "The default 1 never oversubscribes shared cores; on cores of "
                                "its own a large image recovers faster with more (512×512 on "
                                "2 cores: two thirds of the time with 2)."),
) -> None:
    """Spectral Neural Networks and non-linear matrix sensing."""
    import torch

    torch.set_num_threads(threads)


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
        except (SpectralNNError, FileNotFoundError, SolverError, MissingDependencyError) as exc:
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


@app.command()
@handle_errors
def train(
    config: str = typer.Argument(..., help="TOML file: [problem], [model], [train]."),
    out: str = typer.Option(..., "--out", help="Run directory (created; resumed if it holds "
                            "the same run)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar, no summary line."),
) -> None:
    """Train (or solve) the configuration CONFIG into the run directory OUT.

    OUT receives config.json, problem.npz, metrics.csv, summary.json, X.npy, checkpoint.pt
    (and truth.png / reconstruction.png for images). Re-running after an interruption resumes
    from the checkpoint. See configs/ for examples.
    """
    from .config import load_config
    from .runs import run_experiment

    summary = run_experiment(load_config(config), out, progress=not quiet)
    if not quiet:
        typer.echo(_describe(summary))


@app.command()
@handle_errors
def recover(
    image: str = typer.Option(..., "--image", help="Image or .npy file, or mnist:INDEX "
                              "(0..4999), mnist-class:D (0..9), skimage:NAME (e.g. camera) — "
                              "all offline."),
    fraction: float = typer.Option(..., "--fraction", help="Measurements as a fraction of "
                                   "the pixels, in (0, 1]."),
    model: str | None = typer.Option(None, "--model", help="snn (default for gaussian and "
                                     "dct), softimpute, svt, nnm_noise (noise-aware nuclear "
                                     "norm), nnm (exact interpolation, small images), tv "
                                     "(total variation); for entries also snn-patches "
                                     "(non-local SNN, their default), biharmonic, "
                                     "interpolate; lg, df, woa (trained with --lr/--steps)."),
    out: str = typer.Option(..., "--out", help="Output directory."),
    measurement: str | None = typer.Option(None, "--measurement", help="gaussian (A_i = "
                                           "n·G_i, the paper's; dense, small images only), "
                                           "entries (inpainting) or dct (default: gaussian "
                                           "up to 64×64 pixels, else entries)."),
    noise: float | None = typer.Option(None, "--noise", help="Std of the measurement noise in "
                                       "normalised units (default: the paper's 1e-2 for "
                                       "gaussian; 1 % of the measurements' RMS for entries "
                                       "and dct)."),
    size: int = typer.Option(0, "--size", help="Resize the image to SIZE×SIZE (0: keep)."),
    colour: bool | None = typer.Option(None, "--colour/--grey", help="Keep a colour image's "
                                       "colour (entries only: image methods per channel or "
                                       "jointly, low-rank methods on [R|G|B]; PSNR over all "
                                       "channels) or grey it (default: colour for a colour "
                                       "image with entries, else grey)."),
    steps: int | None = typer.Option(None, "--steps", help="Step budget (default: the "
                                     "method's; 2501 with --paper)."),
    max_seconds: float | None = typer.Option(150.0, "--max-seconds", help="Time budget of "
                                             "the fit in seconds (the run then reports "
                                             "budget_reached)."),
    lr: float = typer.Option(0.0, "--lr", help="Learning rate of snn, lg, df and woa (0: "
                             "derived from the problem; with --paper or lg/df/woa: the "
                             "paper's grid values 1e-4, df 1e-2); refused for the other "
                             "models."),
    paper: bool = typer.Option(False, "--paper", help="The paper's exact MNIST setting for "
                               "snn: widths [4, 8, 16], float64, lr 1e-4, 2501 steps, no "
                               "validation split."),
    seed: int = typer.Option(0, "--seed", help="Seed of measurements, noise, split and init."),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu or cuda."),
    dtype: str | None = typer.Option(None, "--dtype", help="float64 or float32 (default: "
                                     "float32 above 64×64 for snn, else float64)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar, no summary line."),
) -> None:
    """Recover an image from a FRACTION of linear measurements, without tuning.

    The image is scaled to nuclear norm 1 (metrics in those units; PSNR and the PNGs in
    pixels, clamped to [0, 255]). A seeded 10 % of the measurements is held out for
    validation (early stopping, best iterate, λ); rates come from the operator's curvature.
    Writes OUT/summary.json (status, warning, validation_error, relative_error, psnr,
    seconds, settings), X.npy, problem.npz, history.csv, truth.png and reconstruction.png.
    Prints one warning line on stderr when the result should not be trusted.
    """
    from .recovery.command import FIXED_RATE_MODELS, recover_image

    summary, warning = recover_image(
        image, fraction, out, model=model, measurement=measurement, noise=noise, size=size,
        colour=colour, steps=steps, max_seconds=max_seconds, lr=lr, paper=paper, seed=seed,
        device=device, dtype=dtype, progress=not quiet)
    if not quiet:
        fixed_rate = paper or model in FIXED_RATE_MODELS
        typer.echo(_describe(summary) if fixed_rate else _describe_recovery(summary))
    if warning:
        typer.echo(f"warning: {warning}", err=True)


def _describe_recovery(summary: dict[str, Any]) -> str:
    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4g}"

    return (f"{summary['model']}: status={summary['status']} "
            f"validation_error={num(summary.get('validation_error'))} "
            f"relative_error={num(summary.get('relative_error'))} "
            f"psnr={num(summary.get('psnr'))} seconds={num(summary.get('seconds'))}")


def _describe(summary: dict[str, Any]) -> str:
    """One line for a run's or a sweep's summary."""
    def num(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4g}"

    if "runs" in summary:
        parts = [f"lr={r['learning_rate']:g}: "
                 + ("diverged" if r["diverged"] else f"error={num(r['relative_error'])}")
                 for r in summary["runs"]]
        return f"{summary['model']}: " + "; ".join(parts)
    text = (f"{summary['model']}: relative_error={num(summary.get('relative_error'))} "
            f"psnr={num(summary.get('psnr'))} seconds={num(summary.get('seconds'))} "
            f"status={summary.get('status')}")
    return text


@app.command()
@handle_errors
def reproduce(
    figures: list[str] = typer.Argument(..., help="fig2, fig3, fig4, fig5 or all."),
    out: Path = typer.Option(..., "--out", help="Output folder (created if missing)."),
    quick: bool = typer.Option(False, "--quick", help="Same pipeline at reduced steps."),
    steps: int | None = typer.Option(None, help="Override the steps of every figure."),
    rates: str | None = typer.Option(None, help="Comma-separated learning rates, or 'paper'."),
    keep: int | None = typer.Option(None, help="Rates kept by the paper's search."),
    seed: int | None = typer.Option(None, help="Seed of the problems."),
    digits: str | None = typer.Option(None, help="Comma-separated MNIST indices (fig4/fig5)."),
    device: str | None = typer.Option(None, help="cpu or cuda."),
    jobs: int | None = typer.Option(None, help="Worker processes; the figures' pieces of work "
                                   "(rate searches, slices of digits, solves) share them. "
                                   "Default: the usable CPUs, at most 8."),
    threads: int = typer.Option(1, help="PyTorch threads per process."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Reproduce the paper's figures: PNGs, summary.json, metrics.csv and a report."""
    from .experiments.runner import reproduce as run
    from .validate import number_list

    def numbers(text: str | None, kind: type[int] | type[float], what: str) -> list | None:
        return None if text is None else number_list(text, f"--{what}", kind)

    overrides = {
        "steps": steps, "keep": keep, "seed": seed, "device": device,
        "rates": rates if rates in (None, "paper") else numbers(rates, float, "rates"),
        "digits": numbers(digits, int, "digits"),
        "classes": [] if digits is not None else None,
    }
    result = run(figures, out, quick=quick, overrides=overrides, progress=not quiet,
                 jobs=jobs, threads=threads, log=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"report: {result['report']} ({result['seconds']:.1f} s)")


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    from .validate import number_list

    return None if text is None else tuple(number_list(text, f"--{what}"))


@app.command()
@handle_errors
def theory(
    out: str = typer.Option(..., "--out", help="Output folder (created if missing)."),
    quick: bool = typer.Option(False, "--quick", help="4 scales, 2 rates, 1 seed, 1e5 steps "
                               "(under half a minute)."),
    scales: str | None = typer.Option(None, help="Comma-separated initial scales."),
    lrs: str | None = typer.Option(None, help="Comma-separated GD learning rates."),
    seeds: str | None = typer.Option(None, help="Comma-separated initialisation seeds."),
    steps: int | None = typer.Option(None, help="GD steps."),
    flow_time: float | None = typer.Option(None, help="Horizon of the gradient-flow ODE."),
    problem_seed: int | None = typer.Option(None, help="Seed of X* and the operator."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print where the report is."),
) -> None:
    """Check the paper's theorems: SNN limit vs. the exact minimum-nuclear-norm solution.

    Well-specified, noise-free, under-determined problem (n = 20, m = 10, rank 3); the SNN
    is trained through the exact reduced dynamics (GD) and its gradient flow is integrated;
    each end point gets the nuclear-norm gap, the KKT certificate and the fitted rate, per
    initial scale and learning rate. Writes OUT/study.json, study.csv, study.md and plots.
    """
    from .theory.study import StudyConfig, config_with, quick_config, run_study
    from .theory.study_report import write_study

    seed_list = _floats(seeds, "seeds")
    base = quick_config() if quick else StudyConfig()
    cfg = config_with(base, scales=_floats(scales, "scales"), lrs=_floats(lrs, "lrs"),
                      init_seeds=None if seed_list is None else tuple(int(s) for s in seed_list),
                      steps=steps, flow_time=flow_time, problem_seed=problem_seed)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out!r} exists and is not a directory")
    result = run_study(cfg, progress=None if quiet else (lambda m: typer.echo(m, err=True)))
    paths = write_study(result, out_dir)
    if not quiet:
        typer.echo(paths[2].read_text(encoding="utf-8"))
    typer.echo(f"report: {paths[2]} ({result.seconds:.1f} s)")


@app.command()
@handle_errors
def certify(
    run: str = typer.Argument(..., metavar="RUN_DIR",
                              help="A run directory (with X.npy and problem.npz)."),
    least_squares: bool = typer.Option(False, "--least-squares", help="Certify min ‖X‖_* "
                                       "over the least-squares solutions (noisy data)."),
    rank_rtol: float = typer.Option(1e-6, help="Singular values ≤ this·σ_1 count as zero."),
    rank_gap: float = typer.Option(100.0, help="Rank stops at the first drop by more than "
                                   "this factor (0: off)."),
    tol: float = typer.Option(1e-6, help="Tolerance of the three conditions."),
    strict: bool = typer.Option(False, "--strict", help="Exit with code 1 if it fails."),
) -> None:
    """KKT certificate of min ‖X‖_* s.t. A(X) = y for a run's final matrix X."""
    import numpy as np

    from .errors import DataError
    from .sensing.problem import SensingProblem
    from .theory import kkt_certificate

    run_dir = Path(run)
    if not run_dir.is_dir():
        raise DataError(f"run directory {str(run_dir)!r} does not exist")
    x_file, p_file = run_dir / "X.npy", run_dir / "problem.npz"
    for f in (x_file, p_file):
        if not f.is_file():
            hint = " (a sweep? pass one of its runs/<i>-lr-<rate>)" if (
                run_dir / "sweep.json").is_file() else ""
            raise DataError(f"{str(run_dir)!r} has no {f.name}; expected a finished run "
                            f"directory{hint}")
    try:
        X = np.load(x_file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {str(x_file)!r}: {str(exc).splitlines()[0]}") from None
    problem = SensingProblem.load(p_file)
    if X.ndim != 2 or tuple(X.shape) != problem.shape:
        raise DataError(f"{str(x_file)!r} has shape {X.shape}; expected {problem.shape}, "
                        "the problem's shape")
    cert = kkt_certificate(X, problem.operator, problem.y, rank_rtol=rank_rtol,
                           rank_gap=rank_gap or None, primal_tol=tol, tangent_tol=tol,
                           normal_tol=tol,
                           target="least_squares" if least_squares else "interpolate")
    typer.echo(f"{run_dir}: {problem!r}")
    typer.echo(cert.describe())
    if (not least_squares and problem.noise_std > 0 and cert.primal_residual > tol):
        typer.echo("  note: noisy measurements rarely admit an exact interpolant; "
                   "try --least-squares")
    if strict and not cert.holds:
        raise typer.Exit(1)


@app.command()
@handle_errors
def sweep(
    config: str = typer.Argument(..., help="Sweep TOML: [sweep], [base], [grid], [variants], "
                                 "[report] (see configs/phase_transition*.toml)."),
    out: str = typer.Option(..., "--out", help="Sweep directory (created; re-running skips "
                            "finished runs and retries failed ones)."),
    backend: str = typer.Option("inprocess", "--backend", help="inprocess, processes or dask "
                                "(needs the 'sweep' extra)."),
    jobs: int = typer.Option(0, "--jobs", help="Worker processes for processes/dask "
                             "(0: the CPU count)."),
    address: str | None = typer.Option(None, "--address", help="Dask scheduler address "
                                       "(e.g. tcp://host:8786) instead of a local cluster."),
    threads: int = typer.Option(0, "--threads", help="PyTorch threads per worker (0: the "
                                "config's [sweep] threads, default 1)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display; only the final "
                               "line."),
) -> None:
    """Run a grid of runs (one run directory each) into OUT, aggregated in OUT/results.csv.

    With a [report] table the phase-transition study is written too (phase_transition.png,
    .csv, .json). Exits 1 when some runs failed (their errors are in OUT/status.json).
    """
    from .sweeps import load_sweep_config, run_sweep

    result = run_sweep(load_sweep_config(config), out, backend=backend, jobs=jobs or None,
                       address=address, threads=threads or None, progress=not quiet)
    typer.echo(result.describe())
    if result.report is not None and not quiet:
        for label, per_y in zip(result.report["panels"], result.report["transition"]):
            cells = ", ".join(f"{result.report['y']}={y}: {'-' if x is None else x}"
                              for y, x in zip(result.report["ys"], per_y))
            typer.echo(f"  {label}: smallest {result.report['x']} from which "
                       f"P(success) ≥ {result.report['level']:g}: {cells}")
    if result.failed:
        first = next(iter(result.failures.items()))
        typer.echo(f"error: {result.failed} run(s) failed (first: {first[0]}: {first[1]}); "
                   "re-run the same command to retry them", err=True)
        raise typer.Exit(1)


@app.command()
@handle_errors
def complete(
    input: str = typer.Argument(..., metavar="INPUT", help="A .npy, .csv or .tsv matrix with "
                                "NaN or empty cells for missing entries; an image (PNG, "
                                "JPEG, …) with --mask or an alpha channel; or with --triplets "
                                "a table of (row, column, value). Tables may be compressed "
                                "(.gz, .bz2, .xz)."),
    out: str = typer.Option(..., "--out", help="Output directory (created; nothing is written "
                            "on bad input). An existing one must be empty, unless --overwrite."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out, "
                                   "replacing the files of an earlier completion there."),
    header: bool | None = typer.Option(None, "--header/--no-header", help="Tables: the first "
                                       "row holds column labels, or is data (default: "
                                       "detected, and said when in doubt)."),
    index_col: str | None = typer.Option(None, "--index-col", metavar="COLUMN", help="Tables: "
                                         "the column of row labels, by name or number from 1; "
                                         "'none' for no label column (default: the first "
                                         "column when it holds text)."),
    mask: str | None = typer.Option(None, "--mask", help="Image or .npy of the input's shape: "
                                    "nonzero = observed."),
    triplets: str | None = typer.Option(None, "--triplets", metavar="ROW,COL,VALUE",
                                        help="INPUT is a table of triplets; these are its "
                                        "row-id, column-id and value columns, by header name "
                                        "or by 0-based position (0,1,2: a file without a "
                                        "header such as u.data or ratings.dat)."),
    predict: str | None = typer.Option(None, "--predict", metavar="QUERY.csv",
                                       help="With --triplets: a table with the ROW and COL "
                                       "columns; writes predictions.csv (comma-separated)."),
    sep: str | None = typer.Option(None, "--sep", help="With --triplets: the delimiter of "
                                   "INPUT and QUERY (default: tab for .tsv, else detected on "
                                   "the first line: '::', tab, ',')."),
    recommend: int | None = typer.Option(None, "--recommend", metavar="N",
                                         help="With --triplets: write recommendations.csv, "
                                         "the N unrated columns with the highest prediction "
                                         "for every row id."),
    unknown: str = typer.Option("error", "--unknown", help="With --triplets --predict: a "
                                "query id absent from INPUT is an error, or with 'bias' gets "
                                "the global mean plus the biases that exist (model snn)."),
    test_fraction: float | None = typer.Option(None, "--test-fraction", help="Hold out this "
                                               "fraction of the observed entries, in (0, 1), "
                                               "and report their error."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and the fit."),
    model: str | None = typer.Option(None, "--model", help="snn (default for matrices), "
                                     "softimpute, svt, nnm_noise or nnm (small matrices "
                                     "only); for images also snn-patches (their default), "
                                     "biharmonic or interpolate."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Step budget of the fit "
                                         "(default: the model's)."),
    max_seconds: float | None = typer.Option(150.0, "--max-seconds", help="Time budget of the "
                                             "fit in seconds, search and refit "
                                             "included (the run then reports "
                                             "budget_reached)."),
    device: str = typer.Option("cpu", "--device", help="torch device of the fit, e.g. cpu or "
                               "cuda (matrices and images; a --triplets table is fitted on "
                               "the CPU)."),
    standardize: bool = typer.Option(False, "--standardize", help="Tables and .npy: centre "
                                     "and scale each column by its own mean and standard "
                                     "deviation before the fit (features in different "
                                     "units)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar, no summary line."),
) -> None:
    """Fill the missing entries of INPUT; write the completed matrix and summary.json to OUT.

    OUT receives completed.<ext> in the input's format (images: completed.png, in colour for
    a colour input — never a lossy JPEG; .csv/.tsv: header and labels kept, filled cells with
    the column's decimals; triplet tables: every (row, column) pair), summary.json (status,
    validation and test errors, seconds, shape, settings), with --predict predictions.csv and
    with --recommend recommendations.csv. Observed entries are kept exactly. See
    docs/completion.md.
    """
    from .completion.files import complete_file

    summary = complete_file(input, out, mask=mask, triplets=triplets, predict=predict,
                            test_fraction=test_fraction, seed=seed, model=model,
                            max_steps=max_steps, max_seconds=max_seconds, progress=not quiet,
                            overwrite=overwrite, header=header, index_col=index_col,
                            sep=sep, recommend=recommend, unknown=unknown, device=device,
                            standardize=standardize)
    for note in summary.get("notes", []):
        typer.echo(f"note: {note}", err=True)
    if summary.get("warning"):
        typer.echo(f"warning: {summary['warning']}", err=True)
    if not quiet:
        test = summary.get("test")
        scores = "" if not test else " test " + " ".join(
            f"{k}={v:.4g}" for k, v in test.items() if k != "entries")
        d1, d2 = summary["shape"]
        typer.echo(f"completed {d1}×{d2} ({summary['observed']} observed): "
                   f"status={summary['status']}{scores} seconds={summary['seconds']:.1f} "
                   f"-> {out}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``spectralnn`` console script.

    Usage errors (unknown command or option, bad value) print one line, ``error: ...``, and
    exit with code 2; ``spectralnn`` alone prints the help.
    """
    args = argv if argv is not None else sys.argv[1:]
    try:
        code = app(args=args, prog_name="spectralnn", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        typer.echo("interrupted", err=True)
        code = 130
    except Exception as exc:
        # Click's exceptions (vendored by typer) carry format_message() and exit_code.
        ctx = getattr(exc, "ctx", None)
        exit_code = getattr(exc, "exit_code", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx:
            typer.echo(ctx.get_help())
            code = 0
        elif hasattr(exc, "format_message") and isinstance(exit_code, int):
            typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            code = exit_code
        else:
            raise
    raise SystemExit(code if isinstance(code, int) else 0)


__all__ = ["app", "fail", "handle_errors", "main"]
