"""Ratings completion with an SNN: ``(row, col, value)`` triplets in, predictions out.

Model (per rating of row ``u`` and column ``i``):

    ŷ_ui = clip(μ + b_u + c_i + X_ui, lo, hi),      X = SNN output (d1×d2, factored evaluation)

``μ`` is the global mean, ``b``, ``c`` regularised row and column biases fitted first
(alternating ridge steps, ``b_u = Σ_i (y_ui − μ − c_i)/(λ_row + n_u)`` and likewise for ``c``),
and the SNN is trained with Adam on ``½·mean (μ + b_u + c_i + X_ui − y_ui)²`` over the ratings
it is given, through entries gathered from its factors (:mod:`spectralnn.factored`): a step
costs ``O(n·R + (d1 + d2)·R²)``, the d1×d2 matrix is never formed.

Hyper-parameters (rank, widths, init scale, learning rate) are chosen on a validation part
of the *training* ratings only: each candidate of ``search`` trains on the rest with early
stopping on the validation RMSE; the best candidate is then trained again on all training
ratings for the number of steps at which it was best (``refit=True``), else kept as it is.

Typical use (scikit-learn style; indices already integer, 0-based)::

    from spectralnn.ratings import RatingsCompleter, movielens_100k
    rows, cols, values = movielens_100k()
    est = RatingsCompleter(seed=0).fit(rows, cols, values)
    est.predict(rows[:5], cols[:5])            # -> np.ndarray of 5 ratings in [1, 5]
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._optional import missing
from .errors import ConfigError, DataError, ShapeError
from .nn import SNN

__all__ = [
    "RatingsCompleter",
    "fit_biases",
    "movielens_100k",
    "movielens_100k_path",
]

_SEARCH_KEYS = ("rank", "widths", "init_scale", "lr")


# ----------------------------------------------------------------------------- data


def movielens_100k_path() -> Path:
    """Path of ``movielens100k.csv`` inside the installed ``neighbors`` wheel (not imported).

    Raises:
        MissingDependencyError: when ``neighbors`` is not installed (the ``data`` extra).
        DataError: when it is installed but holds no ``data/movielens100k.csv``.
    """
    spec = importlib.util.find_spec("neighbors")
    if spec is None:
        raise missing("data", "neighbors", feature="reading MovieLens-100k")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / "data" / "movielens100k.csv"
        if path.is_file():
            return path
    raise DataError("the installed 'neighbors' package holds no data/movielens100k.csv; "
                    "expected the wheel's copy of MovieLens-100k")


def movielens_100k() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 100 000 MovieLens-100k ratings as ``(rows, cols, values)``.

    Rows are users, columns items, both mapped to 0-based indices in increasing order of their
    ids (943 users × 1682 items); values are ratings 1–5 (float64). Read from the ``neighbors``
    wheel's copy (columns User, Item, Rating, Timestamp), never copied anywhere.
    """
    path = movielens_100k_path()
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    if data.ndim != 2 or data.shape[1] != 3:
        raise DataError(f"{path.name} has shape {data.shape}; expected (n, 3) after parsing")
    _, rows = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    _, cols = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    return rows.astype(np.int64), cols.astype(np.int64), data[:, 2].astype(np.float64)


# ----------------------------------------------------------------------------- checks


def _check_triplets(rows: object, cols: object, values: object | None,
                    shape: Sequence[int] | None) -> tuple[np.ndarray, ...]:
    r = np.asarray(rows)
    c = np.asarray(cols)
    for name, a in (("rows", r), ("cols", c)):
        if a.ndim != 1:
            raise ShapeError(f"{name} has shape {a.shape}; expected (n,)")
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not (np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a))
                    and np.all(a == np.round(a))):
                raise DataError(f"{name} must hold integer indices, got dtype {a.dtype}")
        if a.size and a.min() < 0:
            raise DataError(f"{name} contains {int(a.min())}; expected indices ≥ 0")
    if r.shape != c.shape:
        raise ShapeError(f"rows has {r.size} entries and cols {c.size}; expected the same number")
    r, c = r.astype(np.int64), c.astype(np.int64)
    out = [r, c]
    if values is not None:
        v = np.asarray(values, dtype=np.float64)
        if v.shape != r.shape:
            raise ShapeError(f"values has shape {v.shape}; expected ({r.size},) like rows")
        if not np.all(np.isfinite(v)):
            raise DataError(f"values contains {int((~np.isfinite(v)).sum())} NaN/Inf; "
                            "expected finite ratings")
        out.append(v)
    if shape is not None:
        ok = (isinstance(shape, Sequence) and len(shape) == 2
              and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                      for d in shape))
        if not ok:
            raise ShapeError(f"shape must be a pair of positive integers (d1, d2), got {shape!r}")
        if r.size and (r.max() >= shape[0] or c.max() >= shape[1]):
            bad = ("rows", int(r.max()), shape[0]) if r.max() >= shape[0] else (
                "cols", int(c.max()), shape[1])
            raise DataError(f"{bad[0]} contains {bad[1]}; expected indices < {bad[2]} "
                            f"for shape {tuple(shape)}")
    return tuple(out)


# ----------------------------------------------------------------------------- biases


def fit_biases(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int],
               *, reg_row: float = 15.0, reg_col: float = 10.0, iterations: int = 10,
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """Global mean and ridge-regularised row / column biases by alternating exact updates.

    ``b_u = Σ_{i∈I_u} (y_ui − μ − c_i) / (reg_row + |I_u|)``, then
    ``c_i = Σ_{u∈U_i} (y_ui − μ − b_u) / (reg_col + |U_i|)``, ``iterations`` times.

    Returns:
        ``(μ, b (d1,), c (d2,))``.
    """
    mu = float(values.mean())
    n_r = np.bincount(rows, minlength=shape[0]).astype(np.float64)
    n_c = np.bincount(cols, minlength=shape[1]).astype(np.float64)
    b = np.zeros(shape[0])
    c = np.zeros(shape[1])
    for _ in range(iterations):
        b = np.bincount(rows, values - mu - c[cols], minlength=shape[0]) / (reg_row + n_r)
        c = np.bincount(cols, values - mu - b[rows], minlength=shape[1]) / (reg_col + n_c)
    return mu, b, c


# ----------------------------------------------------------------------------- estimator


@dataclass
class _Trial:
    settings: dict[str, Any]
    best_rmse: float
    best_step: int
    seconds: float
    model: SNN


class RatingsCompleter:
    """SNN ratings completion in the scikit-learn style (``fit`` / ``predict``).

    Args:
        rank, widths, init_scale, lr: the SNN's factor rank, widths, init scale and Adam
            learning rate. Each may be one value or a list of candidates (for ``widths``, a
            list of lists); every combination is tried on the validation part. Defaults
            (rank 4, widths (2,), init scale 1e-2, rate 0.2) had the lowest validation RMSE
            among the settings tried on ML-100k (docs/ratings.md).
        activation, init: spectral activation and initialisation of the SNN.
        max_steps: Adam steps at most per candidate.
        patience: stop a candidate after this many evaluations without a better validation
            RMSE; evaluations every ``eval_every`` steps.
        validation: fraction of the training ratings held out to choose settings and steps.
        refit: after the search, train the chosen settings on all training ratings for the
            chosen number of steps (else keep the model trained on the rest).
        rating_range: ``(lo, hi)`` predictions are clipped to (default: the min and max of the
            training values); ``None`` entries mean no clipping on that side.
        reg_row, reg_col: ridge weights of the biases.
        dtype: of the model (float32 is about twice as fast; float64 for checks).
        seed: seeds the validation split and every initialisation.
        progress: show a tqdm bar per candidate.

    Attributes (after ``fit``):
        shape_: ``(d1, d2)``; global_mean_, row_bias_ (d1,), col_bias_ (d2,);
        rating_range_: ``(lo, hi)``; model_: the trained :class:`~spectralnn.nn.SNN`;
        best_settings_: the chosen settings; best_steps_: the chosen number of steps;
        validation_rmse_: its validation RMSE; search_results_: one dict per candidate
        (settings, ``validation_rmse``, ``best_step``, ``seconds``); fit_seconds_.
    """

    def __init__(
        self,
        *,
        rank: int | Sequence[int] = 4,
        widths: Sequence[int] | Sequence[Sequence[int]] = (2,),
        init_scale: float | Sequence[float] = 1e-2,
        lr: float | Sequence[float] = 0.2,
        activation: str = "tanh",
        init: str = "random",
        max_steps: int = 800,
        patience: int = 4,
        eval_every: int = 10,
        validation: float = 0.1,
        refit: bool = True,
        rating_range: tuple[float | None, float | None] | None = None,
        reg_row: float = 15.0,
        reg_col: float = 10.0,
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.rank = rank
        self.widths = widths
        self.init_scale = init_scale
        self.lr = lr
        self.activation = activation
        self.init = init
        self.max_steps = max_steps
        self.patience = patience
        self.eval_every = eval_every
        self.validation = validation
        self.refit = refit
        self.rating_range = rating_range
        self.reg_row = reg_row
        self.reg_col = reg_col
        self.dtype = dtype
        self.seed = seed
        self.progress = progress

    # ---------------------------------------------------------------- settings
    def _candidates(self) -> list[dict[str, Any]]:
        def options(name: str) -> list[Any]:
            val = getattr(self, name)
            if name == "widths":
                if isinstance(val, (str, bytes)) or not isinstance(val, Sequence) or not val:
                    raise ConfigError(f"widths must be a list of positive integers (or a list "
                                      f"of such lists), got {val!r}")
                if all(
                        isinstance(w, Sequence) and not isinstance(w, str) for w in val):
                    return [tuple(w) for w in val]
                return [tuple(val) if isinstance(val, Sequence) else val]
            if isinstance(val, (list, tuple)):
                if not val:
                    raise ConfigError(f"{name} must be a value or a non-empty list, got []")
                return list(val)
            return [val]

        grid = [options(k) for k in _SEARCH_KEYS]
        out = []
        for combo in itertools.product(*grid):
            s = dict(zip(_SEARCH_KEYS, combo))
            s.update(activation=self.activation, init=self.init)
            for key in ("init_scale", "lr"):
                x = s[key]
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not (
                        math.isfinite(x) and x > 0):
                    raise ConfigError(f"{key} must be a positive number, got {x!r}")
            out.append(s)
        return out

    def _check_settings(self) -> None:
        for name in ("max_steps", "patience", "eval_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.validation, (int, float)) and 0 < self.validation < 1):
            raise ConfigError(f"validation must be a fraction in (0, 1), got {self.validation!r}")
        if self.dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype must be torch.float32 or torch.float64, got {self.dtype!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        rr = self.rating_range
        if rr is not None and (not isinstance(rr, (tuple, list)) or len(rr) != 2 or any(
                x is not None and not (isinstance(x, (int, float)) and math.isfinite(x))
                for x in rr)):
            raise ConfigError(f"rating_range must be a pair (lo, hi) of numbers or None, "
                              f"got {rr!r}")

    # ---------------------------------------------------------------- training
    def _model(self, s: dict[str, Any], shape: tuple[int, int]) -> SNN:
        return SNN(shape, list(s["widths"]), s["activation"], s["init"], rank=int(s["rank"]),
                   init_scale=float(s["init_scale"]), evaluation="factored", seed=self.seed,
                   dtype=self.dtype)

    def _train(self, s: dict[str, Any], shape: tuple[int, int], fit: tuple[torch.Tensor, ...],
               val: tuple[torch.Tensor, ...] | None, steps: int) -> _Trial:
        """Adam on the residuals of ``fit``; early stopping on ``val`` when given."""
        rows, cols, target = fit
        model = self._model(s, shape)
        opt = torch.optim.Adam(model.parameters(), lr=float(s["lr"]))
        best: tuple[float, int, dict[str, Any] | None] = (math.inf, 0, None)
        bad = 0
        t0 = time.perf_counter()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"rank {s['rank']} widths {list(s['widths'])}",
                       leave=False)
        try:
            for step in range(1, steps + 1):
                opt.zero_grad(set_to_none=True)
                z = model.entries(rows, cols)
                loss = 0.5 * (z - target).square().mean()
                if not torch.isfinite(loss):
                    break
                loss.backward()
                opt.step()
                if bar is not None:
                    bar.update(1)
                if val is not None and (step % self.eval_every == 0 or step == steps):
                    with torch.no_grad():
                        rmse = self._rmse(model, val)
                    if rmse < best[0] - 1e-5:
                        best = (rmse, step, {k: v.detach().clone()
                                             for k, v in model.state_dict().items()})
                        bad = 0
                    else:
                        bad += 1
                        if bad >= self.patience:
                            break
        finally:
            if bar is not None:
                bar.close()
        if val is not None and best[2] is not None:
            model.load_state_dict(best[2])
        trial = _Trial(s, best[0], best[1] if val is not None else steps,
                       time.perf_counter() - t0, model)
        return trial

    def _rmse(self, model: SNN, val: tuple[torch.Tensor, ...]) -> float:
        rows, cols, _target, base, y = val
        pred = model.entries(rows, cols) + base
        if self._lo_t is not None or self._hi_t is not None:
            pred = pred.clamp(self._lo_t, self._hi_t)
        return float((pred - y).square().mean().sqrt())

    # ---------------------------------------------------------------- public
    def fit(self, rows: Sequence[int] | np.ndarray, cols: Sequence[int] | np.ndarray,
            values: Sequence[float] | np.ndarray, shape: Sequence[int] | None = None,
            ) -> RatingsCompleter:
        """Fit on ratings ``values[i]`` at ``(rows[i], cols[i])``.

        Args:
            rows, cols: (n,) non-negative integer indices (0-based).
            values: (n,) finite ratings.
            shape: ``(d1, d2)``; default ``(max(rows) + 1, max(cols) + 1)``.

        Returns:
            ``self``.
        """
        self._check_settings()
        r, c, v = _check_triplets(rows, cols, values, shape)
        if r.size < 10:
            raise DataError(f"got {r.size} ratings; expected at least 10 to fit and validate")
        shp = (int(r.max()) + 1, int(c.max()) + 1) if shape is None else (int(shape[0]),
                                                                           int(shape[1]))
        candidates = self._candidates()
        lo, hi = (float(v.min()), float(v.max())) if self.rating_range is None else (
            self.rating_range)
        self.rating_range_ = (lo, hi)
        self._lo_t = None if lo is None else torch.tensor(float(lo), dtype=self.dtype)
        self._hi_t = None if hi is None else torch.tensor(float(hi), dtype=self.dtype)
        t0 = time.perf_counter()

        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(r.size)
        n_val = max(1, round(self.validation * r.size))
        val_idx, fit_idx = perm[:n_val], perm[n_val:]

        def tensors(idx: np.ndarray, biases) -> tuple[torch.Tensor, ...]:
            mu, b, cc = biases
            base = mu + b[r[idx]] + cc[c[idx]]
            as_t = lambda a: torch.as_tensor(a, dtype=self.dtype)  # noqa: E731
            ri, ci = torch.as_tensor(r[idx]), torch.as_tensor(c[idx])
            return ri, ci, as_t(v[idx] - base), as_t(base), as_t(v[idx])

        biases = fit_biases(r[fit_idx], c[fit_idx], v[fit_idx], shp, reg_row=self.reg_row,
                            reg_col=self.reg_col)
        fit_t = tensors(fit_idx, biases)[:3]
        val_t = tensors(val_idx, biases)
        trials = [self._train(s, shp, fit_t, val_t, self.max_steps) for s in candidates]
        best = min(trials, key=lambda t: t.best_rmse)
        self.search_results_ = [{**t.settings, "widths": list(t.settings["widths"]),
                                 "validation_rmse": t.best_rmse, "best_step": t.best_step,
                                 "seconds": t.seconds} for t in trials]
        self.best_settings_ = {**best.settings, "widths": list(best.settings["widths"])}
        self.best_steps_ = max(best.best_step, 1)
        self.validation_rmse_ = best.best_rmse
        if self.refit:
            all_idx = np.arange(r.size)
            biases = fit_biases(r, c, v, shp, reg_row=self.reg_row, reg_col=self.reg_col)
            model = self._train(best.settings, shp, tensors(all_idx, biases)[:3], None,
                                self.best_steps_).model
        else:
            model = best.model
        self.global_mean_, self.row_bias_, self.col_bias_ = biases
        self.model_ = model
        self.shape_ = shp
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def predict(self, rows: Sequence[int] | np.ndarray, cols: Sequence[int] | np.ndarray,
                ) -> np.ndarray:
        """Predicted ratings at ``(rows[i], cols[i])``: (n,) float64 array, clipped to
        ``rating_range_``. Indices must lie inside ``shape_``."""
        if not hasattr(self, "model_"):
            raise ConfigError("this RatingsCompleter is not fitted yet; call fit() first")
        r, c = _check_triplets(rows, cols, None, self.shape_)
        if r.size == 0:
            return np.zeros(0)
        with torch.no_grad():
            x = self.model_.entries(torch.as_tensor(r), torch.as_tensor(c))
        pred = x.double().numpy() + self.global_mean_ + self.row_bias_[r] + self.col_bias_[c]
        lo, hi = self.rating_range_
        return pred if lo is None and hi is None else np.clip(pred, lo, hi)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        keys = ("rank", "widths", "init_scale", "lr", "activation", "init",
                "max_steps", "patience", "eval_every", "validation", "refit", "rating_range",
                "reg_row", "reg_col", "dtype", "seed", "progress")
        return {k: getattr(self, k) for k in keys}

    def set_params(self, **params: Any) -> RatingsCompleter:
        valid = self.get_params()
        for k, val in params.items():
            if k not in valid:
                raise ConfigError(f"unknown parameter {k!r}; expected one of: "
                                  f"{', '.join(valid)}")
            setattr(self, k, val)
        return self
