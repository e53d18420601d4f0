"""SNN recovery with no tuning: settings from the data, plain GD, validation-based stopping.

Defaults (every one can be overridden by name):

- ``widths = [2, 2]``, tanh, identity init ``U_k = V_k = 1e-4·I`` (+1e-6 jitter), rank
  ``min(d1, d2)`` — the working recipe for images (``examples/recover_256.py``);
- dtype float32 when ``d1·d2 > 4096`` (the loss is computed in the operator's dtype; metrics
  in float64), float64 below;
- plain full-batch gradient descent (the paper's implicit bias) with rate
  ``η = lr_scale / (curvature · σ̂_1)`` (:mod:`~spectralnn.recovery.stepsize`: the loss's
  curvature ``‖A‖²/m`` and the back-projection's leading singular value), ``lr_scale = 1.7``:
  the rate of the pilot grid of ``examples/recover_256.py`` (5.1 curvature units on a 256×256
  photo with ``σ̂_1 ≈ 0.34``), made independent of the signal's size; on divergence the run
  restarts from the initialisation with ``lr_scale / 4`` (at most twice), and the summary
  says so;
- stopping and best-iterate selection by :class:`~spectralnn.recovery.stopping.Monitor`.

Training goes through :class:`~spectralnn.trainer.Trainer` (one training path); the monitor is
its callback and ends the run with :class:`~spectralnn.trainer.StopTraining`.
"""

from __future__ import annotations

from typing import Any, cast

from ..metrics import RunResult
from ..nn import SNN
from ..prediction import as_dense
from ..trainer import StopTraining, Trainer
from .stepsize import curvature, leading_singular_value
from .stopping import Monitor, StoppingRules
from .validation import Validation

__all__ = ["DEFAULT_LR_SCALE", "fit_snn", "snn_defaults"]

DEFAULT_LR_SCALE = 1.7
_SMALL = 64 * 64


def snn_defaults(shape: tuple[int, int]) -> dict[str, Any]:
    """The default settings for a ``(d1, d2)`` problem (see the module doc)."""
    d1, d2 = shape
    return {"widths": [2, 2], "activation": "tanh", "init": "identity", "init_scale": 1e-4,
            "rank": min(d1, d2),
            "dtype": "float64" if d1 * d2 <= _SMALL else "float32"}


class _Stop:
    """Trainer callback: feeds the monitor, shows progress, raises StopTraining."""

    def __init__(self, monitor: Monitor, bar) -> None:
        self.monitor, self.bar = monitor, bar
        self.status: str | None = None

    def __call__(self, step: int, info: dict[str, Any]) -> None:
        loss = float(info["loss"].reshape(-1)[0])
        status = self.monitor.update(step, loss, info["X"])
        if self.bar is not None:
            _progress(self.bar, self.monitor, step)
        if status is not None:
            self.status = status
            raise StopTraining


def _progress(bar, monitor: Monitor, step: int) -> None:
    r = monitor.rules
    elapsed = monitor.elapsed()
    left = (r.max_steps - step) * elapsed / max(step, 1)
    if r.max_seconds is not None:
        left = min(left, max(r.max_seconds - elapsed, 0.0))
    last = monitor.history[-1]["validation_error"] if monitor.history else float("nan")
    bar.n = step
    bar.set_postfix_str(f"val_err={last:.4f} best={monitor.best_error:.4f} "
                        f"left≤{left:.0f}s", refresh=False)
    bar.update(0)


def fit_snn(problem, validation: Validation | None, *, rules: StoppingRules, seed: int = 0,
            progress: bool = False, image: bool = False, lr_scale: float | None = None,
            lr: float | None = None, retries: int = 2, **options: Any) -> dict[str, Any]:
    """Train an SNN on ``problem`` (already in the model's dtype/device); see the module doc.

    Returns a dict with ``X`` (best iterate), ``status``, ``steps``, ``settings``, ``history``.
    """
    settings = {**snn_defaults(problem.shape), **options}
    settings.pop("dtype", None)
    curv = curvature(problem.operator, seed=seed)
    sigma = leading_singular_value(problem, seed=seed)
    scale = DEFAULT_LR_SCALE if lr_scale is None else float(lr_scale)
    attempts: list[dict[str, Any]] = []
    import time

    start = time.perf_counter()  # one time budget for every attempt
    for attempt in range(retries + 1):
        rate = float(lr) if lr is not None else scale / (curv * sigma)
        model = SNN(problem.shape, seed=seed, dtype=problem.dtype, device=problem.device,
                    **settings)
        monitor = Monitor(rules, validation, start=start)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=rules.max_steps, desc="snn", leave=False, dynamic_ncols=True,
                       bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
        hook = _Stop(monitor, bar)
        trainer = Trainer(rules.max_steps, rate, log_every=max(1, rules.max_steps // 50),
                          image=image, name="snn")
        try:
            res = cast(RunResult, trainer.fit(model, problem, callback=hook))  # one replica
        finally:
            if bar is not None:
                bar.close()
        status = hook.status or ("diverged" if res.diverged else "budget_reached")
        steps = monitor.history[-1]["step"] if monitor.history else res.steps
        attempts.append({"lr": rate, "status": status, "steps": steps})
        if status != "diverged" or lr is not None or attempt == retries:
            break
        scale /= 4
    X = as_dense(monitor.best_X) if monitor.best_X is not None else res.X
    settings.update({"learning_rate": rate, "lr_scale": None if lr is not None else scale,
                     "curvature": curv, "sigma1_estimate": sigma, "optimizer": "gd",
                     "dtype": str(problem.dtype).removeprefix("torch."),
                     "best_step": monitor.best_step, "attempts": attempts})
    return {"X": X, "status": status, "steps": steps, "settings": settings,
            "history": monitor.history, "validation_error": monitor.best_error}
