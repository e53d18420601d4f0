"""The implicit-regularisation study: does the SNN's limit solve ``min ‖X‖_* s.t. A(X) = y``?

For a well-specified, noise-free, under-determined problem (default: ``n = 20``,
``m = 10 < n``, ``rank X* = 3``, the paper's ``A_i = Φ diag(sort_desc(n·g_i)) Ψᵀ``), the SNN
(widths ``[2, 2, 2, 2]``, tanh, spectral initialisation at scale ``s``) is trained

- by gradient descent with several learning rates, for a fixed number of steps, through the
  exact reduced dynamics (Theorem 1: identical iterates, ``O(K·n)`` per step), and
- by gradient flow (the ODE, integrated with LSODA up to a long horizon), which is the
  ``η → 0`` limit of GD and what Theorems 2–3 are about; a stiff solver gets there in about
  a second where GD would need ~10⁸ steps,

and each end point ``X = Φ diag(x) Ψᵀ`` is compared with the exact optimum from the ℓ1 linear
program: nuclear-norm gap ``‖X‖_* − ‖X_opt‖_*``, relative distance, the KKT certificate
(:func:`~spectralnn.theory.kkt_certificate`) and the fitted exponential rate of the loss.

:func:`run_study` computes the rows (this module: no files, no plots);
:func:`spectralnn.theory.study_report.write_study` writes ``study.json``, ``study.csv``,
``study.md`` and the plots.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import ConfigError
from ..sensing import WellSpecifiedOperator
from ..validate import positive_number
from .flow import gradient_flow
from .kkt import kkt_certificate
from .optimum import well_specified_optimum
from .rate import RateFit, exponential_phases
from .reduced import ReducedSNN

if TYPE_CHECKING:
    from ..sensing.problem import SensingProblem

__all__ = ["COLUMNS", "StudyConfig", "StudyResult", "config_with", "quick_config", "run_study"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StudyConfig:
    """Settings of the study (defaults: the full run, a few minutes on 2 CPU cores).

    Attributes:
        n, m, rank: problem size (``n×n``), number of measurements, rank of ``X*``.
        problem_seed: seed of ``X*`` (``synthetic_low_rank``) and of the operator.
        widths, activation: the SNN.
        scales: initial scales ``s`` (``ū, v̄ ~ s·uniform(0, 1)``, sorted).
        lrs: GD learning rates.
        init_seeds: seeds of the SNN initialisation (one replica per seed).
        steps: GD steps; ``records``: number of loss records along the way.
        flow_time: horizon of the gradient-flow integration (time units: GD step ``η``
            advances time by ``η``).
        gap_tol: the nuclear-norm gap counted as "at the optimum".
    """

    n: int = 20
    m: int = 10
    rank: int = 3
    problem_seed: int = 0
    widths: tuple[int, ...] = (2, 2, 2, 2)
    activation: str = "tanh"
    scales: tuple[float, ...] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
    lrs: tuple[float, ...] = (1e-3, 3e-4, 1e-4)
    init_seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 300_000
    records: int = 400
    flow_time: float = 1e5
    gap_tol: float = 1e-3


def quick_config() -> StudyConfig:
    """The ``--quick`` settings: 4 scales, 2 learning rates, one seed, 10⁵ GD steps."""
    return StudyConfig(scales=(1e-3, 1e-2, 1e-1, 1.0), lrs=(3e-4, 1e-4), init_seeds=(0,),
                       steps=100_000, records=200)


@dataclass
class StudyResult:
    """Everything the study measured.

    Attributes:
        config: the :class:`StudyConfig`.
        optimum: ``{"nuclear_norm", "x", "support"}`` of the exact (LP) optimum.
        rows: one dict per run (``kind`` = ``"gd"`` or ``"flow"``), see :data:`COLUMNS`.
        curves: loss curves for the plots (``{"gd": [...], "flow": [...]}``).
        seconds: wall-clock time of the whole study.
    """

    config: StudyConfig
    optimum: dict
    rows: list[dict]
    curves: dict = field(repr=False)
    seconds: float


#: Columns of ``study.csv``, in order.
COLUMNS = (
    "kind", "scale", "lr", "seed", "steps", "time", "diverged", "final_loss",
    "nuclear_norm", "optimum_nuclear_norm", "nuclear_gap", "distance", "kkt_holds",
    "kkt_rank", "primal_residual", "tangent_residual", "normal_norm", "tail",
    "rate_per_step", "rate_per_time", "rate_r2", "exponential_fraction", "at_optimum",
    "gd_flow_distance",
)


def _problem(cfg: StudyConfig) -> SensingProblem:
    from ..data import synthetic_low_rank
    from ..sensing.problem import make_problem

    X = synthetic_low_rank(cfg.n, cfg.rank, psd=True, seed=cfg.problem_seed)
    return make_problem(X, "well_specified", m=cfg.m, noise_std=0.0, seed=cfg.problem_seed,
                        held_out=False, name=f"theory-study-n{cfg.n}-m{cfg.m}-r{cfg.rank}")


def _check_config(cfg: StudyConfig) -> None:
    if not isinstance(cfg, StudyConfig):
        raise ConfigError(f"config must be a StudyConfig, got {type(cfg).__name__}")
    if cfg.m >= cfg.n:
        raise ConfigError(f"m = {cfg.m} must be below n = {cfg.n}: the study is about "
                          "under-determined problems (many interpolants)")
    for name in ("scales", "lrs"):
        vals = getattr(cfg, name)
        if len(vals) == 0 or not all(isinstance(v, (int, float)) and v > 0
                                     and math.isfinite(v) for v in vals):
            raise ConfigError(f"{name} must be non-empty positive numbers, got {vals!r}")
    if len(cfg.init_seeds) == 0:
        raise ConfigError("init_seeds must not be empty")
    if cfg.steps < 10 or cfg.records < 10:
        raise ConfigError(f"steps ({cfg.steps}) and records ({cfg.records}) must be ≥ 10")
    positive_number(cfg.flow_time, "flow_time")


def _rate_summary(loss: np.ndarray, t: np.ndarray) -> tuple[RateFit | None, float]:
    """The last exponential phase of a loss curve and the fraction of the (above-floor)
    curve that lies in exponential phases."""
    phases = exponential_phases(loss, t, window=10, min_decades=0.1)
    usable = np.isfinite(loss) & (loss > 1e-28 * np.nanmax(loss))
    if not np.any(usable):
        return None, 0.0
    span = float(t[usable][-1] - t[usable][0])
    covered = sum(p.stop - p.start for p in phases)
    return (phases[-1] if phases else None), (covered / span if span > 0 else 0.0)


def _evaluate(x: np.ndarray, problem: SensingProblem, x_opt: np.ndarray, opt_nuc: float,
              gap_tol: float) -> dict:
    op = problem.operator
    assert isinstance(op, WellSpecifiedOperator)  # _problem builds a well-specified one
    phi, psi = op.phi.numpy(), op.psi.numpy()
    X = torch.from_numpy((phi * x) @ psi.T)
    cert = kkt_certificate(X, op, problem.y)
    nuc = float(np.abs(x).sum())
    gap = nuc - opt_nuc
    return {
        "nuclear_norm": nuc, "optimum_nuclear_norm": opt_nuc, "nuclear_gap": gap,
        "distance": float(np.linalg.norm(x - x_opt) / np.linalg.norm(x_opt)),
        "kkt_holds": bool(cert.holds), "kkt_rank": cert.rank,
        "primal_residual": cert.primal_residual, "tangent_residual": cert.tangent_residual,
        "normal_norm": cert.normal_norm, "tail": cert.tail,
        "at_optimum": bool(cert.holds and abs(gap) <= gap_tol),
    }


def run_study(config: StudyConfig | None = None, *, progress: Progress | None = None
              ) -> StudyResult:
    """Run the study (see the module docstring) and return its :class:`StudyResult`."""
    cfg = StudyConfig() if config is None else config
    _check_config(cfg)
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    problem = _problem(cfg)
    op, y = problem.operator, problem.y
    opt = well_specified_optimum(op, y)
    x_opt = np.asarray(opt.x)
    say(f"problem: n={cfg.n}, m={cfg.m}, rank {cfg.rank}; exact optimum ‖X‖_* = "
        f"{opt.nuclear_norm:.10f} (support {int(np.sum(np.abs(x_opt) > 1e-12))})")

    # Gradient flow: the η → 0 limit, to a long horizon; also sampled at the times GD reaches.
    gd_times = sorted({cfg.steps * float(lr) for lr in cfg.lrs})
    t_eval = np.unique(np.concatenate([[0.0], np.logspace(-3, math.log10(cfg.flow_time), 241),
                                       [t for t in gd_times if t <= cfg.flow_time]]))
    rows: list[dict] = []
    curves: dict[str, list] = {"gd": [], "flow": []}
    flow_at: dict[tuple[float, int, float], np.ndarray] = {}
    grid = t_eval[1:] if t_eval[0] == 0 else t_eval
    for s in cfg.scales:
        for seed in cfg.init_seeds:
            model = ReducedSNN.spectral(op, cfg.widths, init_scale=float(s), seed=int(seed),
                                        activation=cfg.activation)
            tic = time.perf_counter()
            fl = gradient_flow(model, y, t_eval)
            for t in gd_times:
                hit = np.nonzero(t_eval == t)[0]
                if hit.size:
                    flow_at[(float(s), int(seed), t)] = fl.x[hit[0]]
            row = {"kind": "flow", "scale": float(s), "lr": math.nan, "seed": int(seed),
                   "steps": fl.nfev, "time": float(cfg.flow_time), "diverged": False,
                   "final_loss": float(fl.loss[-1]), "gd_flow_distance": math.nan}
            row.update(_evaluate(fl.x[-1], problem, x_opt, opt.nuclear_norm, cfg.gap_tol))
            keep = t_eval > 0
            fit, frac = _rate_summary(fl.loss[keep], t_eval[keep])
            row.update(_rate_row(fit, frac, 1.0))
            rows.append(row)
            curves["flow"].append({"scale": float(s), "seed": int(seed),
                                   "t": grid.tolist(), "loss": fl.loss[keep].tolist(),
                                   "abs_x": np.sort(np.abs(fl.x[-1]))[::-1].tolist()})
            say(f"flow  s={s:<7g} seed {seed}: gap {row['nuclear_gap']:+.2e}, KKT "
                f"{'holds' if row['kkt_holds'] else 'fails'} (rank {row['kkt_rank']}), "
                f"{time.perf_counter() - tic:.1f} s")

    # Gradient descent: every (scale, seed, lr) at once, as one batch of replicas.
    models, labels = [], []
    for s in cfg.scales:
        for seed in cfg.init_seeds:
            base = ReducedSNN.spectral(op, cfg.widths, init_scale=float(s), seed=int(seed),
                                       activation=cfg.activation)
            for lr in cfg.lrs:
                models.append(_batched(base))
                labels.append((float(s), int(seed), float(lr)))
    gd = ReducedSNN.concatenate(models)
    lrs = np.array([lab[2] for lab in labels])
    say(f"gradient descent: {gd.replicas} replicas × {cfg.steps} steps …")
    hist = gd.fit(y, lrs, cfg.steps, record_every=max(1, cfg.steps // cfg.records))
    say(f"  {hist.seconds:.1f} s ({1e6 * hist.seconds / max(hist.steps_done, 1):.1f} µs per "
        f"step for all {gd.replicas} replicas)")
    x_gd = gd.forward()
    for b, (s, seed, lr) in enumerate(labels):
        t_b = hist.steps_done * lr
        row = {"kind": "gd", "scale": s, "lr": lr, "seed": seed, "steps": hist.steps_done,
               "time": t_b, "diverged": bool(hist.diverged[b]),
               "final_loss": float(hist.loss[-1, b]), "gd_flow_distance": math.nan}
        if hist.diverged[b]:
            row.update(_nan_metrics())
        else:
            row.update(_evaluate(x_gd[b], problem, x_opt, opt.nuclear_norm, cfg.gap_tol))
            fit, frac = _rate_summary(hist.loss[:, b], hist.steps.astype(float))
            row.update(_rate_row(fit, frac, lr))
            ref = flow_at.get((s, seed, t_b))
            if ref is not None:
                row["gd_flow_distance"] = float(np.linalg.norm(x_gd[b] - ref) /
                                                np.linalg.norm(ref))
        rows.append(row)
        curves["gd"].append({"scale": s, "lr": lr, "seed": seed,
                             "steps": hist.steps.tolist(), "loss": hist.loss[:, b].tolist()})
    optimum = {"nuclear_norm": opt.nuclear_norm, "x": x_opt.tolist(),
               "support": int(np.sum(np.abs(x_opt) > 1e-12)),
               "x_star_nuclear_norm": float(torch.linalg.matrix_norm(problem.X_star, "nuc"))}
    return StudyResult(config=cfg, optimum=optimum, rows=rows, curves=curves,
                       seconds=time.perf_counter() - start)


def _batched(model: ReducedSNN) -> ReducedSNN:
    """A one-replica batched copy of an unbatched model."""
    out = ReducedSNN(model.u.copy(), model.v.copy(), [a.copy() for a in model.alphas],
                     model.diagonals, model.activation, phi=model.phi, psi=model.psi,
                     G=model.G)
    return out


def _nan_metrics() -> dict:
    keys = ("nuclear_norm", "optimum_nuclear_norm", "nuclear_gap", "distance", "kkt_rank",
            "primal_residual", "tangent_residual", "normal_norm", "tail", "rate_per_step",
            "rate_per_time", "rate_r2", "exponential_fraction")
    out: dict = dict.fromkeys(keys, math.nan)
    out.update({"kkt_holds": False, "at_optimum": False})
    return out


def _rate_row(fit: RateFit | None, frac: float, lr: float) -> dict:
    if fit is None:
        return {"rate_per_step": math.nan, "rate_per_time": math.nan, "rate_r2": math.nan,
                "exponential_fraction": frac}
    return {"rate_per_step": fit.rate, "rate_per_time": fit.rate / lr, "rate_r2": fit.r2,
            "exponential_fraction": frac}


def config_with(base: StudyConfig, **changes: Any) -> StudyConfig:
    """``base`` with some fields replaced (``None`` values are ignored)."""
    return replace(base, **{k: v for k, v in changes.items() if v is not None})
