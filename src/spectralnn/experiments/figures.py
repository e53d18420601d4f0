"""The paper's experiments, one function per figure.

Each ``run_figN(cfg, out, progress)`` trains what the figure needs (settings from
:mod:`spectralnn.experiments.config`), writes its PNGs into the folder ``out`` and returns a
:class:`FigureResult`; :mod:`spectralnn.experiments.runner` writes ``summary.json`` and
``metrics.csv`` from it and assembles the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from ..errors import ConfigError, ShapeError
from ..metrics import RunResult, history_row, matrix_metrics, to_pixels
from ..models import build_model, solve
from ..rates import OnUpdate, fit_rates, paper_lr_search, search_rates, stack_models
from ..sensing.problem import SensingProblem, paper_mnist_problem, paper_synthetic_problem
from ..trainer import Trainer
from ..validate import dtype_from_name
from .plots import Curve, plot_image_evolution, plot_image_grid, plot_training_panels
from .pool import submit, workers

if TYPE_CHECKING:
    from ..theory.reduced import ReducedHistory, ReducedSNN

__all__ = ["FIGURE_RUNNERS", "FigureResult", "RunRecord"]

@dataclass
class RunRecord:
    """One trained (or solved) run: which model, rate and problem, and its result."""

    model: str
    result: RunResult
    problem: str | None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"problem": self.problem, **self.result.summary(), **self.extra}


@dataclass
class FigureResult:
    """What a figure produced: its runs, the PNG files written, facts for the report."""

    figure: str
    title: str
    runs: list[RunRecord]
    pngs: list[str]
    settings: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ helpers


def _dtype(cfg: dict) -> torch.dtype:
    return dtype_from_name(cfg.get("model", {}).get("dtype", "float64"))


def _device(cfg: dict) -> torch.device:
    dev = torch.device(cfg.get("model", {}).get("device", "cpu"))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {str(dev)!r} requested but CUDA is not available")
    return dev


#: Keys of ``[models.<name>]`` for the rate search, not the model: ``full_search`` (screen on
#: full-length runs), ``search_width`` (rates screened at once; see
#: :func:`~spectralnn.rates.search_rates`).
_SEARCH_KEYS = ("full_search", "search_width")


def _model_table(cfg: dict, name: str) -> tuple[dict, int, int, int]:
    """(model options, steps, keep, seed) of ``[models.<name>]`` (less the search's keys)."""
    table = {k: v for k, v in cfg["models"][name].items() if k not in _SEARCH_KEYS}
    steps = int(table.pop("steps", cfg["train"]["steps"]))
    keep = int(table.pop("keep", cfg["train"].get("keep", 1)))
    seed = int(table.pop("seed", 0))
    return table, steps, keep, seed


def _rates(cfg: dict) -> str | list[float]:
    """``"search"`` (the paper's) or the configured rates, from ``[train] lr``."""
    rates = cfg["train"].get("lr", "search")
    if rates == "search":
        return rates
    if isinstance(rates, (int, float)):
        rates = [rates]
    if not isinstance(rates, list) or not rates or not all(
            isinstance(r, (int, float)) and r > 0 for r in rates):
        raise ConfigError(f"[train] lr must be 'search' or a list of positive numbers, "
                          f"got {rates!r}")
    return [float(r) for r in rates]


def _search_and_train(cfg: dict, name: str, problem: SensingProblem, progress: bool,
                      image: bool = False, on_update: OnUpdate | None = None,
                      ) -> tuple[list[RunResult], list[float]]:
    """Learning rates for model ``name`` (the paper's search, or the configured list) and the
    runs at those rates (:mod:`spectralnn.rates`). Returns ``(runs, rates rejected as
    divergent)``."""
    options, steps, keep, seed = _model_table(cfg, name)
    dtype, device = problem.dtype, problem.device

    def make_model(replicas: int | None) -> torch.nn.Module:
        return build_model(name, problem.shape, replicas=replicas, seed=seed, dtype=dtype,
                           device=device, problem=problem, **options)

    rates = _rates(cfg)
    if isinstance(rates, str):  # "search"
        probe = cfg["train"].get("probe_steps")
        if cfg["models"][name].get("full_search", False):
            probe = None   # screen on full-length runs (a rate can diverge late)
        width = cfg["models"][name].get("search_width")
        return paper_lr_search(make_model, problem, steps, keep=keep, probe_steps=probe,
                               width=None if width is None else int(width),
                               on_update=on_update, name=name, progress=progress, image=image)
    runs, _ = fit_rates(make_model, problem, rates, steps, on_update=on_update, name=name,
                        progress=progress, image=image)
    return runs, []


def _curves(runs: list[RunResult]) -> list[Curve]:
    return [Curve(r.model, r.rate, r.history, r.diverged) for r in runs]


def _pixels(X: torch.Tensor, problem: SensingProblem) -> np.ndarray:
    return to_pixels(X.detach().cpu().double(), problem.scale).numpy()


# ------------------------------------------------------------------------------- Figs. 2–3


def _synthetic(cfg: dict) -> SensingProblem:
    p = cfg["problem"]
    prob = paper_synthetic_problem(bool(p["well_specified"]), seed=int(p.get("seed", 0)))
    return prob.to(device=_device(cfg), dtype=_dtype(cfg))


def _reduced_runs(problem: SensingProblem, reduced: ReducedSNN, hist: ReducedHistory,
                  keep_idx: list[int], steps: int) -> list[RunResult]:
    """RunResults of the replicas ``keep_idx`` of a reduced fit, with the full metrics of
    ``X_t = Φ diag(x_t) Ψᵀ`` at every record (seconds: the batch's total, not per record)."""
    phi = torch.from_numpy(reduced.phi)
    psi = torch.from_numpy(reduced.psi)
    assert hist.x is not None  # fitted with record_x=True
    out = []
    for b in keep_idx:
        x = torch.from_numpy(hist.x[:, b, :])                    # (T, r)
        X = (phi * x.unsqueeze(-2)) @ psi.T                     # (T, d1, d2)
        values = matrix_metrics(X.to(problem.dtype), problem)
        rows = [history_row(int(t), math.nan, values, j) for j, t in enumerate(hist.steps)]
        out.append(RunResult("snn", X[-1], rows, lr=float(hist.lr[b]), steps=hist.steps_done,
                             seconds=hist.seconds, diverged=bool(hist.diverged[b]),
                             status="diverged" if hist.diverged[b] else "budget_reached",
                             info={"engine": "reduced"}))
    return out


def _excess_loss_rate(run: RunResult, floor: float) -> dict[str, Any] | None:
    """Theorem 2 on noisy data: the excess loss ``ℓ(t) − ℓ_LS`` (``ℓ_LS`` the loss of the
    least-squares optimum) split into maximal exponential phases (sliding log-linear fits,
    R² ≥ 0.99); the last phase, above round-off, is the asymptotic rate."""
    from ..theory import exponential_phases

    steps = np.array([row["step"] for row in run.history], dtype=float)
    excess = np.array([row["train_loss"] for row in run.history], dtype=float) - floor
    above = excess > 1e-12 * max(excess[0], 1e-300)    # drop the round-off tail
    if above.sum() < 10:
        return None
    phases = exponential_phases(excess[above], steps[above], window=10)
    if not phases:
        return None
    last = phases[-1]
    return {"lr": run.rate, "rate": last.rate, "r2": last.r2,
            "window": [int(last.start), int(last.stop)], "floor": floor,
            "phases": [p.as_dict() for p in phases]}


def run_fig2(cfg: dict, out: Path, progress: bool) -> FigureResult:
    """Well-specified sensing with spectral init, trained with the exact reduced dynamics
    (Theorem 1); a shorter run of the full SNN checks the reduction; the exact optimum and the
    KKT certificate of the limit are reported. (One piece of work: it is short.)"""
    return submit(_fig2, cfg, out, progress).result()


def _fig2(cfg: dict, out: Path, progress: bool) -> FigureResult:
    from ..rates import paper_lr_grid
    from ..theory import ReducedSNN, kkt_certificate
    from ..theory.optimum import well_specified_optimum

    problem = _synthetic(cfg)
    options, steps, keep, seed = _model_table(cfg, "snn")
    widths = options.get("widths", [2, 2, 2, 2])
    single = ReducedSNN.spectral(problem.operator, widths, seed=seed,
                                 init_scale=float(options.get("init_scale", 1.0)),
                                 activation=options.get("activation", "tanh"))
    rates = _rates(cfg)
    grid = paper_lr_grid() if isinstance(rates, str) else rates
    batch = ReducedSNN.concatenate([single] * len(grid))
    y = problem.y.detach().cpu().double().numpy()
    hist = batch.fit(y, grid, steps, record_x=True)
    ok = [b for b in range(len(grid)) if not hist.diverged[b]]
    keep_idx = ok[:keep] if isinstance(rates, str) else list(range(len(grid)))
    if not keep_idx:
        raise ConfigError(f"every learning rate diverged on fig2: {grid}")
    runs = _reduced_runs(problem, batch, hist, keep_idx, steps)
    records = [RunRecord("snn", r, problem.name) for r in runs]

    # Reference: the exact minimum-nuclear-norm solution of the least-squares fit (an LP).
    optimum = well_specified_optimum(problem.operator, problem.y, least_squares=True)
    # Check the reduction: the full SNN trained side by side for a shorter run.
    check_steps = min(int(cfg.get("check", {}).get("steps", 2000)), steps)
    lr0 = float(hist.lr[keep_idx[0]])
    full = Trainer(check_steps, lr0, name="snn (full check)", progress=progress).fit(
        single.to_snn(dtype=problem.dtype).to(problem.device), problem)
    assert isinstance(full, RunResult)  # one model, one result
    short = single.copy()
    short.fit(y, lr0, check_steps)
    X_red = short.full_matrix(problem.dtype)
    check_diff = float(torch.linalg.norm(full.X.cpu().double() - X_red.double())
                       / torch.linalg.norm(X_red.double()))
    best = min(runs, key=lambda r: r.final["train_loss"])
    rate = _excess_loss_rate(best, float(problem.loss(optimum.X.to(problem.dtype))))
    cert = kkt_certificate(best.X.double(), problem.operator, problem.y.double(),
                           target="least_squares", rank_rtol=1e-6)
    png = plot_training_panels(_curves(runs), out / "fig2.png", cfg["title"],
                               reference_nuclear_norm=optimum.nuclear_norm,
                               reference_label="exact min-nuclear-norm LS solution")
    findings = [{
        "lr": r.rate,
        "final_nuclear_norm": r.final["nuclear_norm"],
        "optimal_nuclear_norm": optimum.nuclear_norm,
        "nuclear_norm_gap": abs(r.final["nuclear_norm"] - optimum.nuclear_norm),
        "distance_to_optimum": float(torch.linalg.norm(r.X.double() - optimum.X)
                                     / torch.linalg.norm(optimum.X)),
    } for r in runs]
    extra = {
        "reduced_vs_full": {"steps": check_steps, "lr": lr0, "relative_difference": check_diff,
                            "full_seconds": full.seconds},
        "kkt": {"lr": best.rate, "holds": bool(cert.holds),
                "primal_residual": cert.primal_residual,
                "tangent_residual": cert.tangent_residual, "normal_norm": cert.normal_norm,
                "rank": cert.rank, "target": "least_squares"},
        "optimum": {"nuclear_norm": optimum.nuclear_norm, "method": optimum.method},
        "rate": rate,
        "rates_rejected_as_divergent": [float(hist.lr[b]) for b in range(len(grid))
                                        if hist.diverged[b]],
        "reduced_seconds": hist.seconds,
    }
    settings = _settings(cfg, problem)
    settings["engine"] = "reduced (exact under Assumptions 1-2, Theorem 1)"
    return FigureResult("fig2", cfg["title"], records, [png.name], settings, findings, extra)


def _fig3_model(cfg: dict, name: str, progress: bool) -> tuple[list[RunResult], list[float]]:
    """Fig. 3's piece of work for one model: its rate search and runs."""
    return _search_and_train(cfg, name, _synthetic(cfg), progress)


def run_fig3(cfg: dict, out: Path, progress: bool) -> FigureResult:
    """Mis-specified sensing: SNN vs LG vs DF, each with its own learning-rate search."""
    problem = _synthetic(cfg)
    records: list[RunRecord] = []
    rejected: dict[str, list[float]] = {}
    pieces = {name: submit(_fig3_model, cfg, name, progress) for name in cfg["models"]}
    for name in cfg["models"]:
        runs, bad = pieces[name].result()
        rejected[name] = bad
        records += [RunRecord(name, r, problem.name) for r in runs]
    png = plot_training_panels(_curves([r.result for r in records]), out / "fig3.png",
                               cfg["title"])
    findings = []
    for name in cfg["models"]:
        errs = [r.result.final.get("relative_error", math.nan) for r in records
                if r.model == name and not r.result.diverged]
        findings.append({"model": name, "best_relative_error": min(errs, default=math.nan),
                         "rates_rejected_as_divergent": rejected[name]})
    return FigureResult("fig3", cfg["title"], records, [png.name], _settings(cfg, problem),
                        findings)


# ------------------------------------------------------------------------------- Figs. 4–5


def _mnist(cfg: dict, index: int | None = None, digit_class: int | None = None
           ) -> SensingProblem:
    seed = int(cfg["problem"].get("seed", 0))
    prob = paper_mnist_problem(index=index, digit_class=digit_class, seed=seed)
    return prob.to(device=_device(cfg), dtype=_dtype(cfg))


def _snapshot_steps(steps: int, count: int) -> list[int]:
    """``count`` steps from 0 to ``steps`` spaced evenly on a log scale (0 and the last)."""
    if count <= 1:
        return [steps]
    pts = np.unique(np.round(np.geomspace(1, steps + 1, count - 1) - 1).astype(int))
    return sorted({0, *pts.tolist(), steps})


def _fig4_model(cfg: dict, name: str, index: int, progress: bool
                ) -> tuple[list[RunResult], dict[int, torch.Tensor]]:
    """Fig. 4's piece of work for one model: its rate search and runs on digit ``index``, and
    the batched model's output ``(R, 28, 28)`` at each snapshot step."""
    problem = _mnist(cfg, index=index)
    _, steps, _, _ = _model_table(cfg, name)
    marks = set(_snapshot_steps(steps, int(cfg["train"].get("snapshots", 8))))
    snaps: dict[int, torch.Tensor] = {}

    def grab(t: int, model: torch.nn.Module) -> None:
        if t in marks:
            # A copy: LG's forward returns its parameter W itself, which the trainer
            # updates in place (without the copy every LG snapshot showed the last step).
            with torch.no_grad():
                snaps[t] = model().detach().cpu().clone()

    runs, _ = _search_and_train(cfg, name, problem, progress, image=True, on_update=grab)
    return runs, snaps


def run_fig4(cfg: dict, out: Path, progress: bool) -> FigureResult:
    """One digit reconstructed over time, per model and learning rate."""
    index = int(cfg["problem"].get("digits", [0])[0])
    problem = _mnist(cfg, index=index)
    records: list[RunRecord] = []
    rows: list[tuple[str, list[tuple[int, np.ndarray]]]] = []
    pieces = {name: submit(_fig4_model, cfg, name, index, progress) for name in cfg["models"]}
    for name in cfg["models"]:
        runs, snaps = pieces[name].result()
        for j, r in enumerate(runs):
            records.append(RunRecord(name, r, problem.name, {"digit_index": index}))
            text = f"{name.upper()} lr={r.lr:g}" + (" (diverged)" if r.diverged else "")
            rows.append((text, [(t, _pixels(snaps[t][j], problem)) for t in sorted(snaps)]))
    truth = _pixels(problem.truth, problem)
    png = plot_image_evolution(rows, truth, out / "fig4.png", cfg["title"])
    return FigureResult("fig4", cfg["title"], records, [png.name], _settings(cfg, problem),
                        _image_findings(records))


class _ProblemBatch:
    """``R`` sensing problems that share their operators (same seed, different truths), seen by
    the :class:`~spectralnn.trainer.Trainer` as one problem whose replica ``r`` fits problem
    ``r``: ``y`` (R, m), ``X_star`` (R, d1, d2), ``scale`` (R, 1, 1). Metrics need the whole
    batch (``X``: (R, d1, d2)); a subset (a frozen replica) raises :class:`ShapeError`."""

    def __init__(self, problems: list[SensingProblem]) -> None:
        first = problems[0]
        probe = torch.randn((2, *first.shape), generator=torch.Generator().manual_seed(0),
                            dtype=first.dtype).to(first.device)
        for p in problems[1:]:
            for a, b in ((first.operator, p.operator), (first.test_operator, p.test_operator)):
                if a is None or b is None:
                    same = a is b
                else:
                    same = torch.equal(a(probe), b(probe))
                if not same:
                    raise ConfigError(f"problem {p.name!r} does not share the operators of "
                                      f"{first.name!r}; expected one seed for every digit")
        self.problems = problems
        self.R = len(problems)
        self.operator, self.test_operator = first.operator, first.test_operator
        self.shape, self.dtype, self.device = first.shape, first.dtype, first.device
        self.num_measurements = first.num_measurements
        self.y = torch.stack([p.y for p in problems])
        self.y_test = (torch.stack([p.y_test for p in problems])  # type: ignore[misc]
                       if first.test_operator is not None else None)
        self.X_star = torch.stack([p.truth for p in problems])
        self.scale = torch.tensor([p.scale for p in problems], dtype=torch.float64).to(
            device=first.device, dtype=first.dtype).reshape(-1, 1, 1)

    def _check(self, X: torch.Tensor) -> None:
        if tuple(X.shape[:-2]) != (self.R,):
            raise ShapeError(f"X has shape {tuple(X.shape)}; expected ({self.R}, "
                             f"{self.shape[0]}, {self.shape[1]}), one matrix per problem")

    def loss(self, X: torch.Tensor, held_out: bool = False) -> torch.Tensor:
        """Per replica ``½·mean_i (A(X_r)_i − y_ri)²``: (R,)."""
        self._check(X)
        op, y = (self.test_operator, self.y_test) if held_out else (self.operator, self.y)
        if op is None or y is None:
            raise ConfigError("held_out=True but these problems have no held-out measurements")
        return 0.5 * (op(X) - y).square().mean(-1)

    def relative_error(self, X: torch.Tensor) -> torch.Tensor:
        """Per replica ``‖X_r − X*_r‖_F / ‖X*_r‖_F``: (R,)."""
        self._check(X)
        Xs = self.X_star.to(device=X.device, dtype=X.dtype)
        return torch.linalg.matrix_norm(X - Xs) / torch.linalg.matrix_norm(Xs)


def _fit_digits(cfg: dict, name: str, problems: list[SensingProblem], rate: float,
                progress: bool) -> list[RunResult]:
    """Model ``name`` trained at ``rate`` on every problem, each from the same initialisation
    as a single run: one batched model, replica ``r`` on problem ``r`` (one loop instead of
    ``R``). Falls back to one run per problem when a replica is frozen (it diverged), which
    the batch's metrics cannot follow."""
    options, steps, _, seed = _model_table(cfg, name)
    first = problems[0]

    def make(replicas: int | None) -> torch.nn.Module:
        return build_model(name, first.shape, replicas=replicas, seed=seed, dtype=first.dtype,
                           device=first.device, **options)

    if len(problems) > 1:
        try:
            # The batch has the problem interface the trainer uses (duck-typed).
            batch = _ProblemBatch(problems)
            model = stack_models(make(len(problems)), [make(None)] * len(problems))
            out = Trainer(steps, [rate] * len(problems), name=name, progress=progress,
                          image=True).fit(model, cast("SensingProblem", batch))
            assert isinstance(out, list)  # a batched model, one result per replica
            return out
        except (ShapeError, ConfigError):
            pass  # a replica froze, or the problems do not share operators: one at a time
    results = []
    for problem in problems:
        fitted = Trainer(steps, rate, name=name, progress=progress, image=True).fit(
            make(None), problem)
        assert isinstance(fitted, RunResult)  # one model, one result
        results.append(fitted)
    return results


def _fig5_rate(cfg: dict, name: str, problem: SensingProblem, progress: bool) -> float:
    """The rate of model ``name`` for Fig. 5: the paper's search on ``problem`` (the first
    non-divergent kept rate). With ``keep = 1`` the screening alone decides it (the full-length
    run of the kept rate could not change the choice), so that run is left to the digits'
    batch."""
    options, steps, keep, seed = _model_table(cfg, name)
    rates = _rates(cfg)
    if not isinstance(rates, str) or keep != 1:
        runs, _ = _search_and_train(cfg, name, problem, progress, image=True)
        ok = [r for r in runs if not r.diverged]
        return (ok or runs)[0].rate

    def make_model(replicas: int | None) -> torch.nn.Module:
        return build_model(name, problem.shape, replicas=replicas, seed=seed,
                           dtype=problem.dtype, device=problem.device, problem=problem,
                           **options)

    probe = cfg["train"].get("probe_steps")
    if cfg["models"][name].get("full_search", False) or probe is None:
        probe = steps
    kept, _ = search_rates(make_model, problem, min(int(probe), steps), keep=1, name=name,
                           progress=progress, image=True)
    return kept[0].rate


_FIG5_SOLVERS = ("nnm", "nnm_noise")
_FIG5_LABELS = {"truth": "ground truth", "nnm": "NNM (A(X) = y)",
                "nnm_noise": "NNM (‖A(X) − y‖ ≤ δ)"}


def _fig5_specs(cfg: dict) -> list[dict[str, int]]:
    """The digits of Fig. 5 as ``_mnist`` keywords: ``{"digit_class": c}`` or ``{"index": i}``."""
    classes = [int(c) for c in cfg["problem"].get("classes", [])]
    if classes:
        return [{"digit_class": c} for c in classes]
    return [{"index": int(i)} for i in cfg["problem"].get("digits", [])]


def _fig5_rate_piece(cfg: dict, name: str, spec: dict[str, int], progress: bool) -> float:
    """Fig. 5's piece of work: the rate of model ``name``, searched on the digit ``spec``."""
    return _fig5_rate(cfg, name, _mnist(cfg, **spec), progress)


def _fig5_fit_piece(cfg: dict, name: str, specs: list[dict[str, int]], rate: float,
                    progress: bool) -> list[RunResult]:
    """Fig. 5's piece of work: model ``name`` at ``rate`` on the digits ``specs``, batched."""
    return _fit_digits(cfg, name, [_mnist(cfg, **spec) for spec in specs], rate, progress)


def _fig5_solve_piece(cfg: dict, spec: dict[str, int]) -> list[RunResult]:
    """Fig. 5's piece of work: the convex programs of the configuration (``nnm``: exact
    interpolation; ``nnm_noise``: ``‖A(X) − y‖₂ ≤ δ = σ·√m``) on the digit ``spec``, in the
    configuration's order."""
    problem = _mnist(cfg, **spec)
    out = []
    for name in cfg["models"]:
        if name not in _FIG5_SOLVERS:
            continue
        options = dict(cfg["models"][name])
        if name == "nnm_noise":
            options["delta"] = problem.noise_std * math.sqrt(problem.num_measurements)
        res = solve("nnm", problem, image=True, **options)
        res.model = name
        out.append(res)
    return out


def run_fig5(cfg: dict, out: Path, progress: bool) -> FigureResult:
    """Several digits: ground truth / LG / SNN / NNM (exact interpolation) / NNM with the noise
    level (``δ = noise_std·√m``). Rates are searched on the first digit.

    Pieces of work (:mod:`~spectralnn.experiments.pool`): each model's rate search, then each
    model on the digits (one batch per worker), and the convex programs of each digit."""
    specs = _fig5_specs(cfg)
    if not specs:
        raise ConfigError("fig5 needs problem.classes or problem.digits (a non-empty list)")
    trainable = [m for m in cfg["models"] if m not in _FIG5_SOLVERS]
    # the paper's search on the first digit, then every digit at once (one batch per worker)
    searches = {name: submit(_fig5_rate_piece, cfg, name, specs[0], progress)
                for name in trainable}
    chosen = {name: searches[name].result() for name in trainable}
    parts = [[specs[i] for i in part] for part in
             np.array_split(np.arange(len(specs)), max(1, min(workers(), len(specs) // 2)))]
    fits = {name: [submit(_fig5_fit_piece, cfg, name, part, chosen[name], progress)
                   for part in parts] for name in trainable}
    solved = [submit(_fig5_solve_piece, cfg, spec) for spec in specs]
    problems = [_mnist(cfg, **spec) for spec in specs]
    trained = {name: [r for piece in fits[name] for r in piece.result()] for name in trainable}
    records: list[RunRecord] = []
    images: dict[str, list[np.ndarray]] = {"truth": []}
    captions: dict[str, list[str]] = {"truth": []}
    for k, problem in enumerate(problems):
        label = problem.name
        images["truth"].append(_pixels(problem.truth, problem))
        captions["truth"].append("")
        convex = {res.model: res for res in solved[k].result()}
        for name in cfg["models"]:
            res = convex[name] if name in _FIG5_SOLVERS else trained[name][k]
            records.append(RunRecord(name, res, label, {"digit": k}))
            images.setdefault(name, []).append(_pixels(res.X, problem))
            captions.setdefault(name, []).append(
                f"err {res.final.get('relative_error', math.nan):.3f}")
    names = ["truth", *cfg["models"]]
    rows = [(_FIG5_LABELS.get(n, n.upper()), images[n]) for n in names]
    columns = [str(p.name).split("-digit-")[-1] for p in problems]
    png = plot_image_grid([f"digit {c}" for c in columns], rows, out / "fig5.png",
                          cfg["title"], captions=[captions[n] for n in names])
    settings = _settings(cfg, problems[0])
    settings["learning_rates"] = chosen
    return FigureResult("fig5", cfg["title"], records, [png.name], settings,
                        _image_findings(records))


def _image_findings(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Per problem: each model's best relative error and PSNR (over its rates)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.result.diverged:
            continue
        row = out.setdefault(str(rec.problem), {"problem": rec.problem})
        err = rec.result.final.get("relative_error", math.nan)
        if err < row.get(f"{rec.model}_relative_error", math.inf):
            row[f"{rec.model}_relative_error"] = err
            row[f"{rec.model}_psnr"] = rec.result.final.get("psnr", math.nan)
    return list(out.values())


def _settings(cfg: dict, problem: SensingProblem) -> dict[str, Any]:
    return {
        "problem": {**cfg["problem"], "name": problem.name, "shape": list(problem.shape),
                    "measurements": problem.num_measurements, "noise_std": problem.noise_std},
        "train": cfg["train"],
        "models": cfg["models"],
        "quick": cfg["quick"],
        "dtype": str(problem.dtype).removeprefix("torch."),
        "device": str(problem.device),
    }


FIGURE_RUNNERS: dict[str, Callable[[dict, Path, bool], FigureResult]] = {
    "fig2": run_fig2,
    "fig3": run_fig3,
    "fig4": run_fig4,
    "fig5": run_fig5,
}

