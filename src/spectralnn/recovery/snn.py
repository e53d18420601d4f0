"""SNN recovery with no tuning: settings from the data, plain GD, validation-based stopping.

Defaults (every one can be overridden by name):

- ``widths = [2, 2]``, tanh, identity init ``U_k = V_k = ε·I`` (+ε/100 jitter), rank
  ``min(d1, d2)`` — the working recipe for images (``examples/recover_256.py``), with
  ``ε = 1e-4`` for images and ``ε = 1e-6`` otherwise: what is left of the start in the
  directions the data do not pin down sets an error floor that shrinks with ε (measured on a
  noiseless 50×30 rank-3 completion, relative error after 1000 steps: 1.8e-3 at ε = 1e-4,
  4.3e-4 at 1e-5, 8.9e-5 at 1e-6; the first plateau is no longer);
- ``widths = [1]`` instead for an image of more than 64×64 pixels: a step costs a third of
  one of ``[2, 2]`` (one eigendecomposition of the Gram matrix instead of four; 0.04–0.06 s
  against 0.13–0.17 s at 512×512, one thread) for the same PSNR within ±0.03 dB on every
  photo measured (``recover`` defaults, 1 % noise; widths ``[1]`` / ``[2, 2]``, dB, wall
  seconds of the fit): 30 % of the pixels: camera 23.73 / 23.73 (74 / 177 s), astronaut
  22.48 / 22.46 (64 / 150 s), coins 21.51 / 21.51 (11 / 31 s); camera at 10 % 19.31 / 19.29,
  at 50 % 26.76 / 26.78; 30 % of the DCT coefficients (with the DCT recipe below): camera
  24.71 / 24.67 (18 / 50 s), astronaut 23.03 / 22.96, coins 22.35 / 22.34, camera at 15 %
  21.25 / 21.16 and at 50 % 28.04 / 28.01, camera resized to 256×256 23.78 / 23.67; a 96×96
  crop of camera from 40 % Gaussian measurements 23.67 / 23.65. On MNIST digits (28×28) one
  layer took 1.5–3.6× the steps, hence ``[2, 2]`` up to 64×64 pixels;
- ``widths = [1]`` also for every matrix that is not an image. On tiny problems the
  two-layer start creeps (a noiseless 8×6 rank-1 completion, 30 % missing, still at relative
  error 1.08e-3 on the missing entries after thousands of steps; one layer: 2.6e-4 in
  0.3 s); on the measured completions from 5×5 to 50×50 (noiseless and with 1 % noise) one
  layer met the same targets (≤ 1e-3 noiseless, within soft-impute's error noisy) in fewer
  seconds; and on the larger cells of ``benchmarks/completion_grid.py`` (60×60 to 300×300
  and 1000×20, seeds 0 and 1, noiseless and with 1 % noise: 28 pairs, one thread) one
  layer took 0.42–0.90 of the time of two in 27 pairs and 1.02 in the last (300×300 rank 10:
  4.1 against 8.5 s with noise, 2.9 against 4.4 s without); its noiseless errors stayed
  ≤ 1e-3 (0.15–1.12 times two layers'; 300×300: 2.1e-6 against 1.4e-5) and its noisy ones
  were 0.982–1.004 times two layers';
- dtype float32 when ``d1·d2 > 4096`` (the loss is computed in the operator's dtype; metrics
  in float64), float64 below;
- full-batch gradient descent with rate
  ``η = lr_scale / (curvature · σ̂_1)`` (:mod:`~spectralnn.recovery.stepsize`: the loss's
  curvature ``‖A‖²/m`` and the back-projection's leading singular value), ``lr_scale = 1.7``:
  the rate of the pilot grid of ``examples/recover_256.py`` (5.1 curvature units on a 256×256
  photo with ``σ̂_1 ≈ 0.34``), made independent of the signal's size;
- **plain** gradient descent (the paper's implicit bias) for every operator but the
  subsampled DCT of more than 64×64 entries; for that DCT (:func:`dct_recipe`;
  ``momentum=0, spectral_start=0`` give the plain recipe there too) **heavy-ball momentum**
  ``μ =`` :data:`DCT_MOMENTUM` at ``lr_scale =`` :data:`MOMENTUM_LR_SCALE` (on a quadratic
  the heavy ball is stable up to ``1 + μ`` times the rate of plain GD; 2.4 and 2.9 both ran
  stably on camera and coins, 2.4 keeps a margin), from a **spectral start**
  (:func:`start_spectrally`, ``ρ =`` :data:`DCT_SPECTRAL_START`). From the small start,
  gradient descent learns the singular directions one after another, that of ``σ_i`` after
  about ``σ_1/σ_i`` times the steps of the first, and a photo needs hundreds of them.
  Momentum learns the small directions up to ``1/(1 − μ)`` times faster and the leading ones
  barely faster, so it orders them less strictly: the larger ``μ``, the sooner and the lower
  the best PSNR. Measured on ``skimage:camera`` (512×512, 30 % DCT coefficients, 1 % noise;
  step at which the iterate first reached 24.0 dB / its best PSNR), widths ``[2, 2]``: plain
  GD 23.8 dB after 478 steps (still rising; its best, 24.78 dB, came at step 715); μ = 0.9:
  ≈180 / 24.31 dB; μ = 0.8: ≈200 / 24.53 dB; μ = 0.7: ≈220 / 24.65 dB; μ = 0.7 with the
  spectral start: ≈195 / 24.74 dB; the same at ``lr_scale`` 2.4: ≈160 / 24.72 dB (2.9: ≈140
  / 24.70 dB); with one layer (the default now) ≈165 / 24.75 dB. On entry sampling, whose
  measurements see only the pixels they sample, momentum cost 5–10× in error, hence plain GD
  there;
- **step-size control**: the curvature rate is an estimate, and on some problems (a 100×100
  completion of rank 3) it sits at the edge of stability, where gradient descent settles into
  a period-2 orbit whose loss looks flat. When the monitor sees the loss oscillate
  (:meth:`~spectralnn.recovery.stopping.Monitor.oscillating`) the rate is halved and the run
  continues from the current iterate (at most :data:`MAX_HALVINGS` = 8 changes in all); on
  divergence it continues from the iterate where the current rate started, with a quarter of
  the rate. With momentum the loss rings along the leading directions (it is not monotone even
  at a stable rate), so only divergence changes the rate there, and the validation window's
  ``patience_fraction`` is ``(1 − μ)`` times the plain one (a plateau of the heavy ball lasts
  up to ``1 − μ`` times as long; measured on camera, astronaut and coins with 30 % DCT
  coefficients: the same best iterate, found and kept, and camera's default command ends after
  310 steps instead of 420). Every
  change is listed in ``settings["attempts"]``. A rate given explicitly (``lr=``) is kept fixed;
- :func:`trivial` when there is nothing to fit (``σ̂_1 = 0`` or zero curvature: all
  measurements zero): ``X = 0``, ``converged``, no training;
- stopping and best-iterate selection by :class:`~spectralnn.recovery.stopping.Monitor`.

Training goes through :class:`~spectralnn.trainer.Trainer` (one training path); the monitor is
its callback and ends the run with :class:`~spectralnn.trainer.StopTraining`. On CUDA, with the
default tanh activation, the trainer's step is the captured one (``step="captured"``: the
step, the heavy ball's included, replayed as one CUDA graph; :mod:`spectralnn.captured`),
with the loss and the iterate handed to the monitor after every step as in the eager loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple, cast

import torch

from ..captured import capturable
from ..metrics import RunResult
from ..nn import SNN
from ..prediction import as_dense, measure
from ..sensing.operators import SensingOperator, SubsampledDCT
from ..sensing.problem import SensingProblem
from ..sensing.subset import SubsetOperator
from ..trainer import StopTraining, Trainer
from ..validate import below_one, positive_number
from .stepsize import curvature, leading_singular_value
from .stopping import Monitor, StoppingRules
from .validation import Validation

__all__ = ["DCT_MOMENTUM", "DCT_SPECTRAL_START", "DEFAULT_LR_SCALE",
           "IMAGE_INIT_SCALE", "INIT_SCALE", "MAX_HALVINGS", "MOMENTUM_LR_SCALE",
           "SIGMA1_RANGE", "SIGMA1_TARGET", "STRUCTURE_FACTOR",
           "Recipe", "dct_recipe", "fit_snn",
           "network_gain", "snn_defaults", "start_spectrally", "trivial", "unstructured_test"]

DEFAULT_LR_SCALE = 1.7
#: The most times the rate is halved (oscillation) or quartered (divergence) in one run.
MAX_HALVINGS = 8
#: Heavy-ball momentum of the default SNN on subsampled-DCT measurements (module doc).
DCT_MOMENTUM = 0.7
#: Spectral start of the default SNN on subsampled-DCT measurements: ``ρ`` of
#: :func:`start_spectrally`.
DCT_SPECTRAL_START = 0.1
#: ``lr_scale`` of a run with momentum (module doc).
MOMENTUM_LR_SCALE = 2.4
#: Rule 1d's threshold factor (see :func:`unstructured_test`).
STRUCTURE_FACTOR = 1.5
#: The range of ``σ̂_1`` (the back-projection's leading singular value) the defaults are
#: calibrated for: images at nuclear norm 1 (camera: 0.34) and tables as ``complete``
#: normalises them (at most 1/3). Outside it the SNN fits ``y/u`` and returns ``u·X``, with
#: ``u = σ̂_1 / SIGMA1_TARGET``: above 1 tanh saturates (a 60×60 rank-3 matrix of standard
#: normal factors, σ̂_1 ≈ 62, from 40 % Gaussian measurements: relative error 0.89 unscaled,
#: 2e-4 scaled), and far below it the small start is no longer small.
SIGMA1_RANGE = (1e-3, 1.0)
SIGMA1_TARGET = 1.0 / 3.0
_SMALL = 64 * 64


#: Identity-init scale for images (the calibrated photo recipe) and for everything else.
IMAGE_INIT_SCALE = 1e-4
INIT_SCALE = 1e-6


class Recipe(NamedTuple):
    """The operator-dependent part of the default SNN: heavy-ball ``momentum`` (0: plain
    gradient descent) and ``spectral_start`` ``ρ`` (0: the small start)."""

    momentum: float
    spectral_start: float


def dct_recipe(operator: SensingOperator) -> Recipe:
    """The :class:`Recipe` of the default SNN for ``operator`` (a subset of one included):
    ``DCT_MOMENTUM`` and ``DCT_SPECTRAL_START`` for a subsampled DCT of more than 64×64
    entries, plain gradient descent from the small start otherwise (on a noiseless 10×10
    rank-1 DCT problem plain GD reached relative error 1.8e-4 in 40 steps, the recipe 3.9e-3:
    a small problem has few directions to learn and momentum rings on)."""
    base = operator.base if isinstance(operator, SubsetOperator) else operator
    d1, d2 = operator.shape
    if isinstance(base, SubsampledDCT) and d1 * d2 > _SMALL:
        return Recipe(DCT_MOMENTUM, DCT_SPECTRAL_START)
    return Recipe(0.0, 0.0)


def network_gain(model: SNN) -> float:
    """``C`` with ``X ≈ C·U_k V_kᵀ`` for small equal inputs: ``f'(0)^depth · Σ_k c_k``,
    ``c = α_1 α_2 ⋯`` (the SNN is linear near 0)."""
    c = model.alphas[0].detach().double()
    for alpha in list(model.alphas)[1:]:
        c = c @ alpha.detach().double()
    slope = float(model.activation.dg(torch.zeros((), dtype=torch.float64)))
    return float(c.sum()) * slope ** len(model.alphas)


def start_spectrally(model: SNN, problem: SensingProblem, sigma: float, rho: float,
                   scale: float) -> bool:
    """Move the model's small start along the linear phase of gradient flow.

    Near ``X = 0`` the flow of ``X = U Vᵀ`` grows ``X`` along the singular pairs
    ``(φ_i, ψ_i, σ_i)`` of the back-projection ``B = A*(y)``, each as ``e0·exp(κ·σ_i·t)`` from
    the start's size ``e0 = C·scale²`` (``C``: :func:`network_gain`; ``scale``: the identity
    start's ε). This adds the point of that phase where the leading pair has reached
    ``ρ·σ̂_1``: ``X0 = Φ diag(s) Ψᵀ``, ``s_i = e0·(ρ·σ̂_1/e0)^{σ_i/σ_1}``, as
    ``U_k += Φ diag(√(s/C))``, ``V_k += Ψ diag(√(s/C))`` for every input ``k``; the steps
    the flow would take to get there are skipped. ``σ̂_1 = sigma``. Returns ``False`` (and
    changes nothing) when ``C``, ``B`` or the target is not positive and finite.
    """
    gain = network_gain(model)
    e0 = gain * scale**2
    top = rho * sigma
    if not (math.isfinite(gain) and gain > 0 and e0 > 0 and math.isfinite(top) and top > e0):
        return False
    B = problem.operator.adjoint(problem.y).detach().double()
    Phi, sv, PsiT = torch.linalg.svd(B, full_matrices=False)
    if not (float(sv[0]) > 0 and math.isfinite(float(sv[0]))):
        return False
    k = min(model.rank, sv.numel())
    s = e0 * (top / e0) ** (sv[:k] / sv[0])
    a = (s / gain).sqrt()
    with torch.no_grad():
        model.U[..., :k].add_((Phi[:, :k] * a).to(model.U.dtype))
        model.V[..., :k].add_((PsiT[:k].mT * a).to(model.V.dtype))
    return True


def snn_defaults(shape: tuple[int, int], image: bool = True) -> dict[str, Any]:
    """The default settings for a ``(d1, d2)`` problem (see the module doc)."""
    d1, d2 = shape
    scale = IMAGE_INIT_SCALE if image else INIT_SCALE
    widths = [2, 2] if image and d1 * d2 <= _SMALL else [1]
    return {"widths": widths, "activation": "tanh", "init": "identity", "init_scale": scale,
            "jitter": scale / 100, "rank": min(d1, d2),
            "dtype": "float64" if d1 * d2 <= _SMALL else "float32"}


class _Stop:
    """Trainer callback: feeds the monitor (global step ``offset + t``), shows progress, and
    raises StopTraining when the monitor ends the run or (``adapt``) the loss oscillates."""

    def __init__(self, monitor: Monitor, bar: Any, offset: int, adapt: bool) -> None:
        self.monitor, self.bar, self.offset, self.adapt = monitor, bar, offset, adapt
        self.status: str | None = None
        self.oscillating = False
        self.last = offset

    def __call__(self, t: int, info: dict[str, Any]) -> None:
        step = self.offset + t
        self.last = step
        loss = float(info["loss"].reshape(-1)[0])
        status = self.monitor.update(step, loss, info["X"])
        if self.bar is not None:
            _progress(self.bar, self.monitor, step)
        if status is not None:
            self.status = status
            raise StopTraining
        if self.adapt and self.monitor.oscillating():
            self.oscillating = True
            raise StopTraining


def _progress(bar: Any, monitor: Monitor, step: int) -> None:
    r = monitor.rules
    elapsed = monitor.elapsed()
    left = (r.max_steps - step) * elapsed / max(step - monitor.origin, 1)
    if r.max_seconds is not None:
        left = min(left, max(r.max_seconds - elapsed, 0.0))
    bar.n = step
    if monitor.validation is None:  # the refit on every entry (or no validation part)
        bar.set_postfix_str(f"fitting every entry left≤{left:.0f}s", refresh=False)
    else:
        last = monitor.history[-1]["validation_error"] if monitor.history else float("nan")
        bar.set_postfix_str(f"val_err={last:.4f} best={monitor.best_error:.4f} "
                            f"left≤{left:.0f}s", refresh=False)
    bar.update(0)


def trivial(problem: SensingProblem, *, reason: str) -> dict[str, Any]:
    """The zero matrix, ``converged``: the answer when every measurement is zero (it fits
    them exactly with the least nuclear norm), without training."""
    X = torch.zeros(problem.shape, dtype=problem.dtype, device=problem.device)
    return {"X": X, "status": "converged", "steps": 0, "history": [],
            "settings": {"trivial": reason}, "validation_error": None}


def unstructured_test(problem: SensingProblem) -> Callable[[Any], bool]:
    """Rule 1d's test (:mod:`~spectralnn.recovery.stopping`): ``X`` leaves a residual that
    looks like noise, ``σ₁(G) ≤ 1.5·(1/√d1 + 1/√d2)·‖G‖_F`` for ``G = A*(A(X) − y)`` (an iid
    noise matrix gives about ``(1/√d1 + 1/√d2)·‖G‖_F``; a low-rank part not yet learnt, as at
    a saddle, gives ``σ₁ ≈ ‖G‖_F``)."""
    d1, d2 = problem.shape
    limit = STRUCTURE_FACTOR * (d1 ** -0.5 + d2 ** -0.5)

    def test(X: Any) -> bool:
        with torch.no_grad():
            G = problem.operator.adjoint(measure(problem.operator, X) - problem.y).double()
            fro = float(torch.linalg.matrix_norm(G))
            if fro == 0 or not math.isfinite(fro):
                return fro == 0
            return float(torch.linalg.matrix_norm(G, ord=2)) <= limit * fro

    return test


def _descend(model: SNN, problem: SensingProblem, monitor: Monitor, rate: float, *,
             rules: StoppingRules, bar: Any,
             offset: int, adapt: bool, retries: int, image: bool,
             attempts: list[dict[str, Any]], momentum: float = 0.0,
             ) -> tuple[str, float, Any]:
    """Gradient descent (heavy ball when ``momentum > 0``) on ``problem`` from the model's
    current parameters, steps counted from ``offset``, with the rate control of the module doc
    (``adapt``); appends one entry per rate to ``attempts``. Returns ``(status, last rate,
    last trainer result)``."""
    optimizer = "momentum" if momentum > 0 else "gd"
    # on CUDA, a tanh-family SNN's step is one replayed CUDA graph (same loop, same callback)
    backend = "captured" if capturable(model) else "eager"
    while True:
        # a heavy ball's loss rings at a stable rate: only divergence changes its rate
        hook = _Stop(monitor, bar, offset,
                     adapt=adapt and momentum == 0 and len(attempts) < retries)
        trainer = Trainer(rules.max_steps - offset, rate, optimizer, momentum=momentum,
                          log_every=max(1, rules.max_steps // 50), image=image, name="snn",
                          step=backend)
        res = cast(RunResult, trainer.fit(model, problem, callback=hook))  # one replica
        if hook.status is not None:
            status = hook.status
        elif hook.oscillating:
            status = "oscillating"
        else:
            status = "diverged" if res.diverged else "budget_reached"
        attempts.append({"lr": rate, "from_step": offset, "to_step": hook.last,
                         "status": status})
        if status not in ("oscillating", "diverged") or not adapt \
                or len(attempts) > retries or hook.last + 1 >= rules.max_steps:
            break
        # oscillation: continue from here; divergence: the trainer has put the parameters
        # back where this rate started. Steps count on (they are the work done).
        offset = hook.last + 1
        rate *= 0.5 if status == "oscillating" else 0.25
        monitor.reset_window()
    if status == "oscillating":  # out of halvings
        status = "budget_reached"
    return status, rate, res


def _rescaled(problem: SensingProblem, unit: float) -> SensingProblem:
    """``problem`` in units of ``unit``: measurements and truth divided by it, ``scale`` times
    it (so that ``scale·X_star`` is unchanged)."""
    return replace(problem, y=problem.y / unit,
                   y_test=None if problem.y_test is None else problem.y_test / unit,
                   X_star=None if problem.X_star is None else problem.X_star / unit,
                   scale=problem.scale * unit)


def fit_snn(problem: SensingProblem, validation: Validation | None, *, rules: StoppingRules,
            seed: int = 0,
            progress: bool = False, image: bool = False, lr_scale: float | None = None,
            lr: float | None = None, retries: int = MAX_HALVINGS,
            refit: Any = None, momentum: float | None = None,
            spectral_start: float | None = None, **options: Any) -> dict[str, Any]:
    """Train an SNN on ``problem`` (already in the model's dtype/device); see the module doc.

    ``retries``: the most rate changes (halvings on oscillation, quarterings on divergence).
    ``momentum``: heavy-ball ``μ`` in ``[0, 1)`` (0: plain gradient descent);
    ``spectral_start``: ``ρ ≥ 0`` of :func:`start_spectrally` (0: none); ``None``: from
    :func:`dct_recipe`.
    ``refit``: the problem with every training measurement (``problem`` plus the validation
    part); when given and the run on ``problem`` converged, training continues on it to
    convergence — when it converged with a relative residual ``ρ₁ > still_tol`` (on a noise
    rule), only until ``ρ ≤ ρ₁`` or for as many steps again (docs/recovery.md).

    Returns a dict with ``X`` (best iterate, or the refit's last), ``status``, ``steps``,
    ``settings``, ``history``, ``validation_error`` (held out).
    """
    recipe = dct_recipe(problem.operator)
    mu = below_one(recipe.momentum if momentum is None else momentum, "momentum")
    rho = positive_number(recipe.spectral_start if spectral_start is None else spectral_start,
                          "spectral_start", allow_zero=True)
    if mu > 0:  # a plateau of the heavy ball lasts up to (1 − μ) times that of plain GD
        rules = replace(rules, patience_fraction=rules.patience_fraction * (1 - mu))
    settings = {**snn_defaults(problem.shape, image), **options}
    settings.pop("dtype", None)
    curv = curvature(problem.operator, seed=seed)
    sigma = leading_singular_value(problem, seed=seed)
    if lr is None and not (curv > 0 and sigma > 0 and math.isfinite(curv * sigma)):
        return trivial(problem, reason=f"nothing to fit: curvature {curv:.3g}, "
                                       f"sigma1 estimate {sigma:.3g}")
    unit = 1.0
    if lr is None and not SIGMA1_RANGE[0] <= sigma <= SIGMA1_RANGE[1]:
        unit = sigma / SIGMA1_TARGET   # fit y/unit, answer unit·X (see SIGMA1_RANGE)
        problem = _rescaled(problem, unit)
        refit = None if refit is None else _rescaled(refit, unit)
        if validation is not None:
            validation = Validation(validation.operator, validation.y / unit)
        sigma /= unit
    scale = (float(lr_scale) if lr_scale is not None
             else MOMENTUM_LR_SCALE if mu > 0 else DEFAULT_LR_SCALE)
    rate = float(lr) if lr is not None else scale / (curv * sigma)
    attempts: list[dict[str, Any]] = []
    model = SNN(problem.shape, seed=seed, dtype=problem.dtype, device=problem.device,
                **settings)
    started = rho > 0 and settings.get("init") == "identity" and start_spectrally(
        model, problem, sigma, rho, float(settings["init_scale"]))
    # one monitor and one time budget for every rate
    # rules 1c/1d's residual test: only for a full-rank model, whose stationary points with a
    # structured residual are saddles (a model of smaller rank stops at a structured minimum)
    full_rank = int(settings["rank"]) >= min(problem.shape)
    monitor = Monitor(rules, validation,
                      unstructured=unstructured_test(problem) if full_rank else None)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=rules.max_steps, desc="snn", leave=False, dynamic_ncols=True,
                   bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    refit_info: dict[str, Any] | None = None
    try:
        status, rate, res = _descend(model, problem, monitor, rate, rules=rules, bar=bar,
                                     offset=0, adapt=lr is None, retries=retries, image=image,
                                     attempts=attempts, momentum=mu)
        steps = monitor.history[-1]["step"] if monitor.history else res.steps
        X = as_dense(monitor.best_X) if monitor.best_X is not None else res.X
        if refit is not None and status == "converged" and lr is None \
                and steps + 1 < rules.max_steps:
            # the validation entries join: continue from here on all of them, to convergence
            left = None if rules.max_seconds is None else max(
                rules.max_seconds - monitor.elapsed(), 1e-3)
            again = replace(rules, max_seconds=left)
            # converged above still_tol: on a noise rule (1c/1d), the data carry noise. Then
            # the refit fits every measurement as tightly as the fitting part was fitted
            # (ρ ≤ ρ₁, rule 1a) in at most as many steps again: past that it fits the noise.
            rho1 = monitor.residual(monitor.recent[-1]) if monitor.recent else 0.0
            noise_level = rho1 if rho1 > rules.still_tol else None
            capped = noise_level is not None and 2 * (steps + 1) < rules.max_steps
            if noise_level is not None:
                again = replace(again, fit_tol=noise_level,
                                max_steps=min(rules.max_steps, 2 * (steps + 1)))
            # ρ stays relative to the loss of X = 0 (not to that of the converged start)
            loss0 = 0.5 * float(refit.y.double().square().mean())
            full = Monitor(again, None, loss0=loss0,
                           unstructured=unstructured_test(refit) if full_rank else None,
                           origin=steps + 1)
            first = len(attempts)
            status, rate, res = _descend(model, refit, full, rate, rules=again, bar=bar,
                                         offset=steps + 1, adapt=True, retries=retries,
                                         image=image, attempts=attempts, momentum=mu)
            for a in attempts[first:]:
                a["refit"] = True
            X = as_dense(full.best_X) if full.best_X is not None else res.X
            last = full.history[-1]["step"] if full.history else res.steps
            if capped and status == "budget_reached" and last >= again.max_steps:
                status = "converged"  # the refit's own step limit, not the user's budget
            refit_info = {"from_step": steps + 1, "measurements": refit.num_measurements,
                          "status": status, "noise_level": noise_level}
            steps = last
    finally:
        if bar is not None:
            bar.close()
    settings.update({"learning_rate": rate, "initial_learning_rate": attempts[0]["lr"],
                     "lr_scale": None if lr is not None else scale * rate / attempts[0]["lr"],
                     "curvature": curv, "sigma1_estimate": sigma * unit, "unit": unit,
                     "optimizer": "momentum" if mu > 0 else "gd", "momentum": mu,
                     "spectral_start": rho if started else 0.0,
                     "patience_fraction": rules.patience_fraction,
                     "dtype": str(problem.dtype).removeprefix("torch."),
                     "best_step": monitor.best_step, "attempts": attempts,
                     "refit": refit_info})
    history = monitor.history if unit == 1.0 else [
        {**row, "train_loss": row["train_loss"] * unit * unit} for row in monitor.history]
    return {"X": X * unit if unit != 1.0 else X, "status": status, "steps": steps,
            "settings": settings, "history": history,
            "validation_error": monitor.best_error, "refit": refit_info is not None}
