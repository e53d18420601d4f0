"""Runs on disk: one directory per run, resumable, written atomically.

A **run directory** holds exactly:

- ``config.json``   the resolved configuration (:func:`~spectralnn.config.resolve_config`);
- ``problem.npz``   the sensing problem (:meth:`SensingProblem.save`);
- ``metrics.csv``   one row per logged step, columns :data:`~spectralnn.metrics.METRIC_NAMES`;
- ``summary.json``  final metrics, ``diverged`` + ``diverged_step``, ``seconds``, ``model``,
  ``learning_rate`` (written last: its presence marks a finished run);
- ``X.npy``         the final matrix, in the problem's normalised units (float64);
- ``checkpoint.pt`` model + optimizer state + history + step + RNG state (a training state of
  :class:`~spectralnn.trainer.Trainer`; for solvers: X, history and status);
- ``truth.png``, ``reconstruction.png``  for image problems: ``clamp(scale·X, 0, 255)``.

A **sweep** (``lr`` a list, or ``"search"``) trains all its rates as one batched model and
writes ``DIR/config.json``, ``DIR/problem.npz``, ``DIR/sweep.json`` (one entry per rate, written
last), ``DIR/search.json`` (for ``"search"``: the grid, kept and rejected rates) and one run
directory per rate, ``DIR/runs/<i>-lr-<rate>/``. While it trains, ``DIR/checkpoint.pt`` holds
the batched state.

Every file is written to a temporary file in the same directory, then renamed over its target
(``os.replace``): an interrupted or failed run never leaves a half-written file. Running the
same configuration into the same directory again resumes from the last checkpoint and ends with
exactly the result of an uninterrupted run (same seed, same device); a finished run is not
redone. A directory holding a run with a different configuration is refused.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._io import atomic_write, grey_png_bytes, json_bytes
from .config import build_problem, resolve_config
from .errors import ConfigError, DataError
from .metrics import METRIC_NAMES, RunResult, to_pixels
from .validate import DTYPES, compute_device

if TYPE_CHECKING:
    from torch import nn

    from .rates import ModelFactory
    from .sensing.problem import SensingProblem
    from .trainer import Callback

__all__ = [
    "RUN_FILES",
    "atomic_write",
    "load_run",
    "run_experiment",
    "write_run",
]

RUN_FILES = ("config.json", "problem.npz", "metrics.csv", "summary.json", "X.npy",
             "checkpoint.pt")
IMAGE_FILES = ("truth.png", "reconstruction.png")


# ---------------------------------------------------------------------- atomic files


def _csv_bytes(history: list[dict[str, float]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_NAMES)
    for row in history:
        w.writerow([int(row["step"]) if k == "step" else repr(float(row.get(k, math.nan)))
                    for k in METRIC_NAMES])
    return buf.getvalue().encode()


def _torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _load_torch(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise DataError(f"cannot read checkpoint {str(path)!r}: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                        ) from None


# ---------------------------------------------------------------------- one run directory


def write_run(directory: str | os.PathLike[str], result: RunResult, problem: SensingProblem,
              config: dict, *,
              image: bool, checkpoint: Any, extra: dict | None = None) -> dict:
    """Write the files of a finished run into ``directory`` (created if needed); returns the
    summary. ``config.json`` and ``problem.npz`` are written unless already present."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "config.json").is_file():
        atomic_write(d / "config.json", json_bytes(config))
    if not (d / "problem.npz").is_file():
        problem.save(d / "problem.npz")
    atomic_write(d / "X.npy", lambda f: np.save(f, result.X.numpy(), allow_pickle=False))
    atomic_write(d / "metrics.csv", _csv_bytes(result.history))
    atomic_write(d / "checkpoint.pt", _torch_bytes(checkpoint))
    if image:
        if problem.X_star is not None:
            truth = to_pixels(problem.X_star.detach().cpu().to(torch.float64), problem.scale)
            atomic_write(d / "truth.png", grey_png_bytes(truth))
        atomic_write(d / "reconstruction.png", grey_png_bytes(to_pixels(result.X, problem.scale)))
    summary = result.summary()
    summary["problem"] = problem.name
    summary.update(extra or {})
    atomic_write(d / "summary.json", json_bytes(summary))
    return summary


def load_run(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a finished run directory: ``{"config", "summary", "X", "metrics"}`` (metrics as a
    dict of float arrays, one per column of ``metrics.csv``)."""
    d = Path(directory)
    if not (d / "summary.json").is_file():
        raise DataError(f"{str(d)!r} holds no finished run (no summary.json)")
    with (d / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    metrics = {k: np.array([float(r[k]) for r in rows]) for k in METRIC_NAMES}
    return {
        "config": json.loads((d / "config.json").read_text()),
        "summary": json.loads((d / "summary.json").read_text()),
        "X": np.load(d / "X.npy", allow_pickle=False),
        "metrics": metrics,
    }


# ---------------------------------------------------------------------- experiments


def _prepare_dir(out: Path, config: dict) -> bool:
    """Check ``out`` may receive this run; returns whether it already holds it (resume)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {str(out)!r} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return False
    cfg_file = out / "config.json"
    if not cfg_file.is_file():
        raise ConfigError(f"output directory {str(out)!r} is not empty and holds no run; "
                          "expected a new or empty directory")
    try:
        old = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {str(cfg_file)!r}: {exc}") from None
    if old != json.loads(json_bytes(config)):
        diff = _first_difference(old, json.loads(json_bytes(config)))
        raise ConfigError(f"output directory {str(out)!r} holds a run with a different "
                          f"configuration ({diff}); use another directory")
    return True


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k, "<missing>") != b.get(k, "<missing>"):
                return _first_difference(a.get(k, "<missing>"), b.get(k, "<missing>"),
                                         f"{path}.{k}" if path else k)
    return f"{path}: {a!r} there, {b!r} now"


def run_experiment(
    config: dict[str, Any],
    out: str | os.PathLike[str],
    *,
    progress: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run a configuration (a raw or resolved dict, see :mod:`spectralnn.config`) into the
    run directory ``out`` and return its summary (for a sweep: the content of ``sweep.json``).

    Everything is validated and the problem and model are built before anything is written,
    so bad input leaves ``out`` untouched. Resumes from ``out``'s checkpoint if the same
    configuration was interrupted there; returns the stored summary if it already finished.
    ``callback(step, info)`` is passed to the trainer (it may raise to stop the run).
    """
    cfg = resolve_config(config)
    out = Path(out)
    mcfg, tcfg = cfg["model"], cfg["train"]
    dtype = DTYPES[mcfg["dtype"]]
    device = mcfg["device"]
    compute_device(device)
    resuming = _prepare_dir(out, cfg)
    if resuming and (out / "problem.npz").is_file():
        from .sensing.problem import SensingProblem

        problem = SensingProblem.load(out / "problem.npz").to(device=device, dtype=dtype)
        image = cfg["problem"]["kind"] in ("paper_mnist", "image")
    else:
        problem, image = build_problem(cfg["problem"], dtype=dtype, device=device)
    done = out / ("sweep.json" if _is_sweep(tcfg) else "summary.json")
    if done.is_file():
        return json.loads(done.read_text())

    from .models import SOLVER_MODELS, build_model, solve

    name = mcfg["name"]
    options = {k: v for k, v in mcfg.items() if k not in ("name", "seed", "dtype", "device")}
    if name in SOLVER_MODELS:
        # Solved first, written after: a solver failure leaves nothing behind.
        result = solve(name, problem, image=image, progress=progress, seed=mcfg["seed"],
                       **options)
        ckpt = {"format": "spectralnn.SolverState/1", "X": result.X,
                "history": result.history, "step": result.steps, "status": result.status}
        return write_run(out, result, problem, cfg, image=image, checkpoint=ckpt)

    def make_model(replicas: int | None) -> nn.Module:
        return build_model(name, problem.shape, replicas=replicas, seed=mcfg["seed"],
                           dtype=dtype, device=device, problem=problem, **options)

    make_model(None)  # validates the model's options before anything is written
    trainer_opts = {k: tcfg[k] for k in ("optimizer", "momentum", "eps", "batch_size", "tol",
                                         "log_every", "divergence_factor",
                                         "max_seconds", "checkpoint_every", "seed")}
    trainer_opts["betas"] = tuple(tcfg["betas"])
    from .trainer import Trainer

    Trainer(tcfg["steps"], 1.0, **trainer_opts)  # validates training settings
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").is_file():
        problem.save(out / "problem.npz")
        atomic_write(out / "config.json", json_bytes(cfg))
    if _is_sweep(tcfg):
        return _run_sweep(out, cfg, problem, image, make_model, trainer_opts, progress, callback)
    return _run_single(out, cfg, problem, image, make_model, trainer_opts, progress, callback)


def _is_sweep(tcfg: dict) -> bool:
    return bool(tcfg) and (isinstance(tcfg["lr"], list) or tcfg["lr"] == "search")


def _checkpointer(path: Path) -> Callable[[int, dict[str, Any]], None]:
    def save(step: int, state: dict[str, Any]) -> None:
        atomic_write(path, _torch_bytes(state))

    return save


def _run_single(out: Path, cfg: dict[str, Any], problem: SensingProblem, image: bool,
                make_model: ModelFactory, opts: dict[str, Any], progress: bool,
                callback: Callback | None) -> dict:
    from .trainer import Trainer

    tcfg = cfg["train"]
    ckpt = out / "checkpoint.pt"
    state = _load_torch(ckpt) if ckpt.is_file() else None
    trainer = Trainer(tcfg["steps"], float(tcfg["lr"]), image=image, progress=progress,
                      name=cfg["model"]["name"], **opts)
    result = trainer.fit(make_model(None), problem, state=state,
                         on_checkpoint=_checkpointer(ckpt), callback=callback)
    assert isinstance(result, RunResult)
    return write_run(out, result, problem, cfg, image=image, checkpoint=trainer.state_)


def _run_sweep(out: Path, cfg: dict[str, Any], problem: SensingProblem, image: bool,
                make_model: ModelFactory, opts: dict[str, Any], progress: bool,
                callback: Callback | None) -> dict:
    from .rates import fit_rates, probe_length, search_rates
    from .train_state import split_state

    tcfg = cfg["train"]
    steps = tcfg["steps"]
    if tcfg["lr"] == "search":
        search_file = out / "search.json"
        if search_file.is_file():
            rates = json.loads(search_file.read_text())["kept"]
        else:
            probe = probe_length(steps, tcfg["probe_steps"])
            probe_opts = {k: v for k, v in opts.items() if k != "checkpoint_every"}
            kept, rejected = search_rates(make_model, problem, probe, keep=tcfg["keep"],
                                          image=image, **probe_opts)
            rates = [r.rate for r in kept]
            atomic_write(search_file, json_bytes(
                {"probe_steps": probe, "kept": rates, "rejected": rejected}))
    else:
        rates = [float(v) for v in tcfg["lr"]]
    R = len(rates)
    ckpt = out / "checkpoint.pt"
    state = _load_torch(ckpt) if ckpt.is_file() else None
    results, final_state = fit_rates(make_model, problem, rates, steps, state=state,
                                     on_checkpoint=_checkpointer(ckpt), callback=callback,
                                     image=image, progress=progress,
                                     name=cfg["model"]["name"], **opts)
    states = split_state(final_state)
    entries = []
    runs_dir = out / "runs"
    runs_dir.mkdir(exist_ok=True)
    for i, (res, st) in enumerate(zip(results, states)):
        sub_cfg = json.loads(json_bytes(cfg))
        sub_cfg["train"]["lr"] = res.lr
        rel = f"runs/{i:02d}-lr-{res.lr:g}"
        _link_or_copy(out / "problem.npz", out / rel / "problem.npz")
        summary = write_run(out / rel, res, problem, sub_cfg, image=image, checkpoint=st,
                            extra={"batched_replicas": R})
        entries.append({"dir": rel, **{k: summary[k] for k in (
            "learning_rate", "diverged", "diverged_step", "relative_error", "train_loss",
            "psnr", "seconds")}})
    sweep = {"model": cfg["model"]["name"], "learning_rates": rates, "runs": entries}
    atomic_write(out / "sweep.json", json_bytes(sweep))
    with contextlib.suppress(FileNotFoundError):
        ckpt.unlink()
    return sweep


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        atomic_write(dst, src.read_bytes())
