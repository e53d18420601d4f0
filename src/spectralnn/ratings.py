"""Ratings completion with an SNN: ``(user, item, rating)`` triplets in, predictions and
recommendations out.

Model (per rating of user ``u`` and item ``i``):

    ŷ_ui = clip(μ + b_u + c_i + X_ui, lo, hi),      X = SNN output (d1×d2, never formed)

``μ`` is the global mean, ``b``, ``c`` regularised user and item biases, ``X`` the output of an
SNN evaluated through its factors (:mod:`spectralnn.factored`). Two solvers:

- ``"sgd"`` (default): the SNN with ``L0 = replicas`` inputs, one layer, the identity activation
  and equal mixing weights, ``X = (1/L0) Σ_k U_k V_kᵀ``. Each input and its biases are trained by
  stochastic gradient on ``½(y − μ − b_u − c_i − (U_k V_kᵀ)_ui)²`` with weight decay ``reg``
  and a learning rate ``lr·lr_decay^epoch`` (:mod:`spectralnn._ratings_kernels`; one thread per
  input), and the network averages them — the mean of independently trained factorisations,
  which is lower in error than any one of them. With ``implicit=True`` (default) the user side
  of each input carries implicit feedback as in SVD++: row ``u`` of ``U_k`` is
  ``p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j`` over the items ``N(u)`` user ``u`` rated in training
  (which ones, not how), trained user by user. Cost per epoch ``O(n·rank)`` per input.
- ``"adam"``: a non-linear SNN (``widths``, ``activation``, ``init``) on the residuals of
  closed-form ridge biases (``b_u = Σ_i (y_ui − μ − c_i)/(reg_row + n_u)``, alternating with
  ``c``), trained by full-batch Adam on ``½·mean (μ + b_u + c_i + X_ui − y_ui)²``, a step costing
  ``O(n·R + (d1 + d2)·R²)``.

Settings given as lists are searched on a validation part of the *training* ratings (each
candidate trains on the rest with early stopping on the validation RMSE); the best is then
trained again on all of them for the number of steps at which it was best (``refit=True``).

Ids are raw (integers or strings, e.g. MovieLens's 1-based user ids or movie titles); an id
that was not in the training data gets the stated ``unknown`` policy, never a number from a row
that does not exist. Typical use::

    from .ratings import RatingsCompleter
    est = RatingsCompleter(seed=0).fit(df, user="user", item="movie", rating="stars")
    est.predict(["u7"], ["Heat (1995)"])          # -> array([4.1…])
    items, scores = est.recommend("u7", n=10)     # the 10 best unseen movies
    est.save("model.npz"); RatingsCompleter.load("model.npz")
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import sparse

from . import _ratings_kernels as _rk
from ._cpus import usable_cpus
from ._io import atomic_write, jsonable
from ._ratings_ids import IdIndex, as_ids
from .errors import ConfigError, DataError, ShapeError, unknown_name
from .movielens import movielens_100k, movielens_100k_path
from .nn import SNN
from .sensing.operators import EntrySampling
from .stoppers import Budget, Patience
from .validate import positive_int, positive_number, seed_int, shape_pair

__all__ = [
    "SOLVERS",
    "UNKNOWN_POLICIES",
    "RatingsCompleter",
    "fit_biases",
    "movielens_100k",
    "movielens_100k_path",
]

#: Accepted ``solver`` values.
SOLVERS = ("sgd", "adam")
#: Accepted ``unknown`` values: biases only, an error, or NaN for a pair with an unknown id.
UNKNOWN_POLICIES = ("bias", "error", "nan")

_SEARCH_KEYS = ("rank", "widths", "init_scale", "lr", "reg")
#: Solver defaults for the settings left at ``None`` (chosen on MovieLens, docs/ratings.md).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"rank": 32, "init_scale": 0.1, "lr": 0.025, "max_steps": 20, "replicas": 2,
            "reg": 0.06},
    "adam": {"rank": 4, "init_scale": 1e-2, "lr": 0.2, "max_steps": 800, "replicas": 2,
             "reg": None},
}
#: Below this many training ratings the sgd solver averages more inputs, trained for fewer
#: epochs with more weight decay (:data:`SMALL_TABLE_SGD`): on few ratings one input
#: over-fits sooner, and the mean of more of them is the better estimate. Both sets were chosen
#: on validation parts of training ratings: MovieLens-100k's u1.base (8 inputs, 0.07,
#: 10 epochs: validation RMSE 0.906 against 0.916) and MovieLens-1M's (2 inputs, 0.06,
#: 20 epochs; 8 inputs were 0.002 worse there).
SMALL_TABLE = 300_000
SMALL_TABLE_SGD: dict[str, Any] = {"replicas": 8, "reg": 0.07, "max_steps": 10}
_FORMAT = "spectralnn.RatingsCompleter/1"


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


# ----------------------------------------------------------------------------- inputs


def _is_frame(x: object) -> bool:
    return hasattr(x, "columns") and hasattr(x, "__getitem__") and not isinstance(x, np.ndarray)


def _frame_columns(df: Any, names: Sequence[str | None], count: int) -> list[Any]:
    """The columns ``names`` of ``df`` (``None``: the column at that position)."""
    cols = list(df.columns)
    if len(cols) < count:
        raise ShapeError(f"the table has {len(cols)} column(s); expected at least {count}")
    out = []
    for pos, name in enumerate(names[:count]):
        if name is None:
            out.append(np.asarray(df[cols[pos]]))
        elif name not in cols:
            raise ConfigError(f"column {name!r} is not in the table; its columns are: "
                              f"{', '.join(repr(c) for c in cols)}")
        else:
            out.append(np.asarray(df[name]))
    return out


def _indices(a: object, name: str, size: int) -> np.ndarray:
    """Integer indices in ``[0, size)`` (the arrays API with an explicit ``shape``)."""
    ids = as_ids(a, name)
    if ids.size and ids.dtype.kind != "i":
        raise DataError(f"{name} must hold integer indices with shape=, got strings")
    if ids.size and ids.min() < 0:
        raise DataError(f"{name} contains {int(ids.min())}; expected indices ≥ 0")
    if ids.size and ids.max() >= size:
        raise DataError(f"{name} contains {int(ids.max())}; expected indices < {size} "
                        "for the fitted shape")
    return ids


def _values(values: object, n: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ShapeError(f"values has shape {v.shape}; expected ({n},) like rows")
    if not np.all(np.isfinite(v)):
        raise DataError(f"values contains {int((~np.isfinite(v)).sum())} NaN/Inf; "
                        "expected finite ratings")
    return v


# ----------------------------------------------------------------------------- estimator


class _RatedEntries(EntrySampling):
    """The rated ``(rows, cols)`` as an entry-sampling operator for the trainer's objective
    ``½·mean (X_ui − y_ui)²``; unlike :class:`EntrySampling` a pair may repeat (a table may
    rate it twice; each rating is one term)."""

    def __init__(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray,
                 dtype: torch.dtype) -> None:
        idx = torch.as_tensor(rows, dtype=torch.int64) * shape[1] + torch.as_tensor(
            cols, dtype=torch.int64)
        self.shape = (int(shape[0]), int(shape[1]))
        self.num_measurements = int(idx.numel())
        self.indices = idx
        self._dtype = dtype
        self._device = idx.device


@dataclass
class _Trial:
    """One candidate's training: its best validation RMSE and step (epochs for sgd), the
    model, the biases and how the run ended (:data:`spectralnn.stoppers.STATUSES`)."""

    settings: dict[str, Any]
    best_rmse: float
    best_step: int
    seconds: float
    model: SNN
    biases: tuple[float, np.ndarray, np.ndarray]
    status: str = "budget_reached"


class RatingsCompleter:
    """SNN ratings completion in the style of recommender libraries (``fit`` / ``predict`` /
    ``recommend`` / ``save``), scikit-learn conventions for settings.

    Args:
        solver: ``"sgd"`` (default; the averaged linear SNN, module doc) or ``"adam"``.
        rank: factor rank of each SNN input (default 32 for sgd, 4 for adam).
        widths: the adam SNN's widths (default (2,)); sgd uses ``[replicas]``.
        init_scale: std of the random initial factors (default 0.1 sgd, 1e-2 adam).
        lr: learning rate (sgd: first epoch's, default 0.025; adam: 0.2).
        reg: sgd weight decay on factors, implicit factors and biases (default 0.06; 0.07
            below :data:`SMALL_TABLE` training ratings).
        lr_decay: sgd learning rate factor per epoch (default 0.88).
        replicas: sgd: number of SNN inputs trained independently and averaged (default 2;
            8 below :data:`SMALL_TABLE` training ratings).
        implicit: sgd: add implicit feedback to each input's user factors, as SVD++ does:
            ``u_k = p_u + |N(u)|^{-1/2} Σ_{j∈N(u)} y_j`` over the items ``N(u)`` the user
            rated in training (default True).
        threads: sgd: threads training inputs at once (default: min(replicas, usable CPUs)).
            ``rank``, ``init_scale``, ``lr``, ``reg`` and (adam) ``widths`` may be lists of
            candidates; every combination is tried on the validation part.
        activation, init: the adam SNN's spectral activation and initialisation.
        max_steps: sgd epochs (default 20; 10 below :data:`SMALL_TABLE` training ratings) or
            adam steps (default 800) at most.
        max_seconds: time budget of the whole ``fit`` (search and refit; ``None``: none).
            Training stops before an sgd epoch that would end past it (judged by the last
            epoch's time) and after the adam step that reaches it; the
            candidates not started by then are skipped, and the refit on all ratings is
            skipped too (the model trained on the rest is kept); ``status_`` is then
            ``"budget_reached"``.
        patience: stop a candidate after this many evaluations without a better validation
            RMSE; evaluations every epoch (sgd) or every ``eval_every`` steps (adam).
        validation: fraction of the training ratings held out to choose settings and steps;
            ``None``: none (fixed schedule, all ratings); ``"auto"`` (default): ``None`` for sgd
            with a single candidate (its schedule is fixed), else 0.1.
        refit: after the search, train the chosen settings on all training ratings for the
            chosen number of steps (else keep the model trained on the rest).
        rating_range: ``(lo, hi)`` predictions are clipped to (default: the min and max of the
            training values); ``None`` entries mean no clipping on that side.
        reg_row, reg_col: ridge weights of the adam solver's closed-form biases.
        unknown: a user or item not seen in training: ``"bias"`` (default: the prediction uses
            the global mean and the biases that exist, e.g. ``μ + c_i`` for a new user),
            ``"error"`` (:class:`~spectralnn.errors.DataError` naming the id) or ``"nan"``.
        dtype: of the model (float32 default, float64 for checks).
        seed: seeds the validation split and every initialisation and visiting order.
        progress: show a tqdm bar per candidate.

    Attributes (after ``fit``):
        shape_: ``(d1, d2)``; user_ids_ (d1,), item_ids_ (d2,): the raw ids, sorted (index
        ``u`` of every array below is the user ``user_ids_[u]``); global_mean_; row_bias_
        (d1,), col_bias_ (d2,); user_factors_ (d1, K), item_factors_ (d2, K) with
        ``X = user_factors_ @ item_factors_ᵀ``; rating_range_; model_: the trained
        :class:`~spectralnn.nn.SNN`; best_settings_, best_steps_, validation_rmse_ (``None``
        without a validation part); search_results_; fit_seconds_; status_: how the fit
        ended (:data:`spectralnn.stoppers.STATUSES`: ``"stopped_on_validation"`` when the
        chosen steps were set by validation, ``"budget_reached"`` when the step or time
        budget set them, ``"diverged"``).
    """

    def __init__(
        self,
        *,
        solver: str = "sgd",
        rank: int | Sequence[int] | None = None,
        widths: Sequence[int] | Sequence[Sequence[int]] = (2,),
        init_scale: float | Sequence[float] | None = None,
        lr: float | Sequence[float] | None = None,
        reg: float | Sequence[float] | None = None,
        lr_decay: float = 0.88,
        replicas: int | None = None,
        implicit: bool = True,
        threads: int | None = None,
        activation: str = "tanh",
        init: str = "random",
        max_steps: int | None = None,
        max_seconds: float | None = None,
        patience: int = 4,
        eval_every: int = 10,
        validation: float | str | None = "auto",
        refit: bool = True,
        rating_range: tuple[float | None, float | None] | None = None,
        reg_row: float = 15.0,
        reg_col: float = 10.0,
        unknown: str = "bias",
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.solver = solver
        self.rank = rank
        self.widths = widths
        self.init_scale = init_scale
        self.lr = lr
        self.reg = reg
        self.lr_decay = lr_decay
        self.replicas = replicas
        self.implicit = implicit
        self.threads = threads
        self.activation = activation
        self.init = init
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.patience = patience
        self.eval_every = eval_every
        self.validation = validation
        self.refit = refit
        self.rating_range = rating_range
        self.reg_row = reg_row
        self.reg_col = reg_col
        self.unknown = unknown
        self.dtype = dtype
        self.seed = seed
        self.progress = progress

    # ---------------------------------------------------------------- settings
    def _setting(self, name: str) -> Any:
        val = getattr(self, name)
        if val is not None:
            return val
        if self.solver == "sgd" and name in SMALL_TABLE_SGD \
                and getattr(self, "_n_ratings", SMALL_TABLE) < SMALL_TABLE:
            return SMALL_TABLE_SGD[name]
        return _DEFAULTS[self.solver][name]

    def _candidates(self) -> list[dict[str, Any]]:
        def options(name: str) -> list[Any]:
            val = self._setting(name) if name in _DEFAULTS["sgd"] else getattr(self, name)
            if name == "widths":
                if self.solver == "sgd":
                    return [(self._setting("replicas"),)]
                if isinstance(val, (str, bytes)) or not isinstance(val, Sequence) or not val:
                    raise ConfigError(f"widths must be a list of positive integers (or a list "
                                      f"of such lists), got {val!r}")
                if all(isinstance(w, Sequence) and not isinstance(w, str) for w in val):
                    return [tuple(w) for w in val]
                return [tuple(val)]
            if name == "reg" and self.solver == "adam":
                return [None]
            if isinstance(val, (list, tuple)):
                if not val:
                    raise ConfigError(f"{name} must be a value or a non-empty list, got []")
                return list(val)
            return [val]

        out = []
        for combo in itertools.product(*[options(k) for k in _SEARCH_KEYS]):
            s = dict(zip(_SEARCH_KEYS, combo))
            s.update(activation="identity" if self.solver == "sgd" else self.activation,
                     init=self.init)
            positive_int(s["rank"], "rank")
            for key in ("init_scale", "lr") + (("reg",) if self.solver == "sgd" else ()):
                positive_number(s[key], key, allow_zero=key == "reg")
            out.append(s)
        return out

    def check_settings(self) -> None:
        """Check the constructor's settings (as :meth:`fit` does first); raises
        :class:`~spectralnn.errors.ConfigError` naming the first bad one."""
        if self.solver not in SOLVERS:
            raise unknown_name("solver", self.solver, SOLVERS)
        if self.unknown not in UNKNOWN_POLICIES:
            raise unknown_name("unknown", self.unknown, UNKNOWN_POLICIES)
        for name in ("patience", "eval_every"):
            positive_int(getattr(self, name), name)
        for name in ("max_steps", "threads", "replicas"):
            if getattr(self, name) is not None:
                positive_int(getattr(self, name), name)
        if self.max_seconds is not None:
            positive_number(self.max_seconds, "max_seconds")
        val = self.validation
        if not (val is None or val == "auto" or (
                isinstance(val, (int, float)) and not isinstance(val, bool) and 0 < val < 1)):
            raise ConfigError(f"validation must be a fraction in (0, 1), 'auto' or None, "
                              f"got {val!r}")
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if self.dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"dtype must be torch.float32 or torch.float64, got {self.dtype!r}")
        seed_int(self.seed)
        rr = self.rating_range
        if rr is not None and (not isinstance(rr, (tuple, list)) or len(rr) != 2 or any(
                x is not None and not (isinstance(x, (int, float)) and math.isfinite(x))
                for x in rr)):
            raise ConfigError(f"rating_range must be a pair (lo, hi) of numbers or None, "
                              f"got {rr!r}")

    def _time_left(self) -> float | None:
        """Seconds left of ``max_seconds`` in the running ``fit`` (``None``: no budget); at
        least a microsecond, so that a started candidate trains one epoch or step."""
        budget: Budget | None = getattr(self, "_budget", None)
        if budget is None or budget.max_seconds is None:
            return None
        return max(budget.max_seconds - budget.elapsed(), 1e-6)

    def _validation_fraction(self, n_candidates: int) -> float | None:
        if self.validation == "auto":
            return None if self.solver == "sgd" and n_candidates == 1 else 0.1
        return None if self.validation is None else float(self.validation)

    # ---------------------------------------------------------------- adam
    def _model(self, s: dict[str, Any], shape: tuple[int, int]) -> SNN:
        return SNN(shape, list(s["widths"]), s["activation"], s["init"], rank=int(s["rank"]),
                   init_scale=float(s["init_scale"]), evaluation="factored", seed=self.seed,
                   dtype=self.dtype)

    def _train_adam(self, s: dict[str, Any], shape: tuple[int, int], fit: tuple[np.ndarray, ...],
                    val: tuple[np.ndarray, ...] | None, steps: int) -> _Trial:
        """Adam on the residuals of closed-form biases, through the trainer's loop
        (:class:`~spectralnn.trainer.Trainer`, ``optimizer="adam"``, on the entries as an
        entry-sampling objective); validation patience (:class:`~spectralnn.stoppers.Patience`)
        is its callback when ``val`` is given, the time budget its ``max_seconds``."""
        from .sensing import SensingProblem
        from .trainer import StopTraining, Trainer

        r, c, v = fit
        mu, b, cc = fit_biases(r, c, v, shape, reg_row=self.reg_row, reg_col=self.reg_col)
        target = torch.as_tensor(v - mu - b[r] - cc[c], dtype=self.dtype)
        problem = SensingProblem(X_star=None, operator=_RatedEntries(shape, r, c, self.dtype),
                                 y=target, seed=self.seed, name="ratings")
        model = self._model(s, shape)
        patience = Patience(self.patience)
        best_state: dict[str, Any] | None = None

        def validate(t: int, info: dict[str, Any]) -> None:
            nonlocal best_state
            step = t + 1  # the parameters now hold the iterate after ``step`` updates
            if val is None or step > steps or (step % self.eval_every and step != steps):
                return
            vr, vc, vv = val
            with torch.no_grad():
                x = model.entries(torch.as_tensor(vr), torch.as_tensor(vc))
            rmse = self._rmse(x.double().numpy() + mu + b[vr] + cc[vc], vv)
            stop = patience.update(step, rmse)
            if patience.improved:
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
            if stop is not None:
                raise StopTraining

        trainer = Trainer(steps, float(s["lr"]), "adam", log_every=max(steps, 1), metrics=False,
                          max_seconds=self._time_left(), progress=self.progress,
                          name=f"adam rank {s['rank']}")
        res = trainer.fit(model, problem, callback=validate)
        assert not isinstance(res, list)
        if val is not None and best_state is not None:
            model.load_state_dict(best_state)
        return _Trial(s, patience.best, patience.best_step if val is not None else res.steps,
                      res.seconds, model, (mu, b, cc), res.status)

    # ---------------------------------------------------------------- sgd
    def _train_sgd(self, s: dict[str, Any], shape: tuple[int, int], fit: tuple[np.ndarray, ...],
                   val: tuple[np.ndarray, ...] | None, epochs: int) -> _Trial:
        """``replicas`` factorisations by SGD (one thread each), averaged into the SNN; the
        epochs run in the library's loop (:func:`~spectralnn.trainer.run_loop`) with the
        compiled SGD epoch (:mod:`spectralnn._ratings_kernels`) as its step."""
        from .trainer import Divergence, run_loop

        r, c, v = fit
        d1, d2 = shape
        k, R = int(s["rank"]), int(self._setting("replicas"))
        np_dtype = np.float32 if self.dtype == torch.float32 else np.float64
        vals = v.astype(np_dtype)
        mu = float(v.mean())
        gens = [np.random.default_rng([self.seed, rep]) for rep in range(R)]
        scale = float(s["init_scale"])
        P = [scale * g.standard_normal((d1, k), dtype=np_dtype) for g in gens]
        Q = [scale * g.standard_normal((d2, k), dtype=np_dtype) for g in gens]
        B = [np.zeros(d1, np_dtype) for _ in range(R)]
        C = [np.zeros(d2, np_dtype) for _ in range(R)]
        threads = min(R, self.threads or usable_cpus())
        reg = float(s["reg"])
        if self.implicit:
            # the ratings as a CSR by user, in a seeded random order within each user
            by_user = np.random.default_rng([self.seed, R]).permutation(r.size)
            by_user = by_user[np.argsort(r[by_user], kind="stable")]
            csr_items, csr_vals = c[by_user], vals[by_user]
            del by_user
            indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=d1))])
            Y = [np.zeros((d2, k), np_dtype) for _ in range(R)]
            counts = np.diff(indptr)
            norm = sparse.csr_matrix(
                (np.repeat((1.0 / np.sqrt(np.maximum(counts, 1))).astype(np_dtype), counts),
                 csr_items.astype(np.int32), indptr), shape=(d1, d2))

        def user_factors(rep: int) -> np.ndarray:
            if not self.implicit:
                return P[rep]
            return (P[rep] + norm @ Y[rep]).astype(np_dtype)

        patience = Patience(self.patience)
        best_state: Any = None
        budget = Budget(epochs, self._time_left()).start()
        pool = ThreadPoolExecutor(max_workers=threads)

        def epoch(t: int, last: bool) -> np.ndarray:
            """Epoch ``t`` of every input (one thread each); returns their (R,) SSE."""
            rate = float(s["lr"]) * self.lr_decay ** t
            if self.implicit:
                orders = [g.permutation(d1) for g in gens]
            else:
                orders = [g.permutation(r.size) for g in gens]

            def run(rep: int) -> float:
                if self.implicit:
                    return _rk.sgd_epoch_implicit(
                        indptr, csr_items, csr_vals, orders[rep], mu, B[rep], C[rep],
                        P[rep], Q[rep], Y[rep], lr=rate, lr_b=rate, reg=reg, reg_b=reg)
                return _rk.sgd_epoch(r, c, vals, orders[rep], mu, B[rep], C[rep], P[rep],
                                     Q[rep], lr=rate, lr_b=rate, reg=reg, reg_b=reg)

            return np.array(list(pool.map(run, range(R))))

        def validate(t: int, diverged: Any, last: bool) -> str | None:
            """Validation RMSE of the averaged inputs after epoch ``t`` (patience)."""
            nonlocal best_state
            if val is None:
                return None
            vr, vc, vv = val
            pred = np.mean([_rk.predict_mf(vr, vc, mu, B[i], C[i], user_factors(i), Q[i])
                            for i in range(R)], axis=0)
            stop = patience.update(t + 1, self._rmse(pred, vv))
            if patience.improved:
                best_state = [[user_factors(i) for i in range(R)], [a.copy() for a in Q],
                              [a.copy() for a in B], [a.copy() for a in C]]
            return stop

        # the loop (:func:`~spectralnn.trainer.run_loop`): an epoch whose SSE is not finite
        # ends the fit ("diverged"); it stops before an epoch that would end past the budget
        with pool:
            end = run_loop(epoch, validate, units=epochs, budget=budget, time_rule="fit",
                           divergence=Divergence(math.inf, stop=True),
                           progress=self._progress(epochs, s))
        status, done = end.status, end.units
        if val is not None and best_state is not None:
            U, Q, B, C = best_state
        else:
            U = [user_factors(i) for i in range(R)]
        model = SNN(shape, [R], "identity", "random", rank=k, evaluation="factored",
                    seed=self.seed, dtype=self.dtype)
        with torch.no_grad():
            model.U.copy_(torch.from_numpy(np.stack(U)))
            model.V.copy_(torch.from_numpy(np.stack(Q)))
            model.alphas[0].fill_(1.0 / R)
        biases = (mu, np.stack(B).astype(np.float64).mean(0),
                  np.stack(C).astype(np.float64).mean(0))
        return _Trial(s, patience.best, patience.best_step if val is not None else done,
                      end.seconds, model, biases, status)

    def _progress(self, total: int, s: dict[str, Any]) -> dict[str, Any] | None:
        """The progress bar's settings (:func:`~spectralnn.trainer.run_loop`), if any."""
        if not self.progress:
            return None
        return {"total": total, "desc": f"{self.solver} rank {s['rank']}", "leave": False}

    def _rmse(self, pred: np.ndarray, y: np.ndarray) -> float:
        lo, hi = self.rating_range_
        if lo is not None or hi is not None:
            pred = np.clip(pred, lo, hi)
        return float(np.sqrt(np.mean((pred - y) ** 2)))

    # ---------------------------------------------------------------- public
    def fit(self, rows: Any, cols: Any = None, values: Any = None,
            shape: Sequence[int] | None = None, *, user: str | None = None,
            item: str | None = None, rating: str | None = None) -> RatingsCompleter:
        """Fit on ratings, given as three arrays or as a table.

        Args:
            rows, cols: (n,) user and item ids: integers or strings, any values (raw ids);
                with ``shape``, 0-based indices inside it instead.
            values: (n,) finite ratings.
            shape: ``(d1, d2)``: ``rows``/``cols`` are indices and every index of the shape is
                a known user/item (an index outside it is an error).
            user, item, rating: with a DataFrame (or any table with ``columns``) as ``rows``:
                the names of its id and rating columns (default: its first three columns).

        Returns:
            ``self``.
        """
        self.check_settings()
        if cols is None and values is None and _is_frame(rows):
            rows, cols, values = _frame_columns(rows, (user, item, rating), 3)
            self.columns_: tuple[str | None, str | None] = (user, item)
        elif cols is None or values is None:
            raise ConfigError("fit takes (rows, cols, values) arrays or a DataFrame with "
                              "user=, item=, rating= column names")
        else:
            self.columns_ = (None, None)
        if shape is not None:
            shp = shape_pair(shape)
            r, c = _indices(rows, "rows", shp[0]), _indices(cols, "cols", shp[1])
            if r.shape != c.shape:
                raise ShapeError(f"rows has {r.size} entries and cols {c.size}; expected the "
                                 "same number")
            users, items = IdIndex(np.arange(shp[0])), IdIndex(np.arange(shp[1]))
        else:
            ru, ci = as_ids(rows, "rows"), as_ids(cols, "cols")
            if ru.shape != ci.shape:
                raise ShapeError(f"rows has {ru.size} entries and cols {ci.size}; expected the "
                                 "same number")
            users, r = IdIndex.from_values(ru)
            items, c = IdIndex.from_values(ci)
            shp = (len(users), len(items))
        v = _values(values, r.size)
        if r.size < 10:
            raise DataError(f"got {r.size} ratings; expected at least 10 to fit and validate")
        self._n_ratings = int(r.size)  # picks the size-dependent defaults (SMALL_TABLE)
        candidates = self._candidates()
        lo, hi = (float(v.min()), float(v.max())) if self.rating_range is None else (
            self.rating_range)
        self.rating_range_ = (lo, hi)
        t0 = time.perf_counter()
        self._budget = budget = Budget(max_seconds=self.max_seconds).start()
        train = self._train_sgd if self.solver == "sgd" else self._train_adam
        steps = int(self._setting("max_steps"))
        frac = self._validation_fraction(len(candidates))
        try:
            if frac is None:
                trials = [train(s, shp, (r, c, v), None, steps) for s in candidates[:1]]
                best = trials[0]
                best_rmse: float | None = None
            else:
                perm = np.random.default_rng(self.seed).permutation(r.size)
                n_val = max(1, round(frac * r.size))
                vi, fi = perm[:n_val], perm[n_val:]
                trials = []
                for s in candidates:  # the first always; the others while time is left
                    if trials and budget.out_of_time():
                        break
                    trials.append(train(s, shp, (r[fi], c[fi], v[fi]), (r[vi], c[vi], v[vi]),
                                        steps))
                best = min(trials, key=lambda t: t.best_rmse)
                best_rmse = best.best_rmse
                if self.refit and not budget.out_of_time():
                    best = train(best.settings, shp, (r, c, v), None, max(best.best_step, 1))
        finally:
            del self._budget
        timed_out = budget.out_of_time() or len(trials) < (1 if frac is None
                                                           else len(candidates))
        self.search_results_ = [{**t.settings, "widths": list(t.settings["widths"]),
                                 "validation_rmse": None if frac is None else t.best_rmse,
                                 "best_step": t.best_step, "seconds": t.seconds,
                                 "status": t.status}
                                for t in trials]
        chosen = min(trials, key=lambda t: t.best_rmse) if frac is not None else trials[0]
        self.best_settings_ = {**chosen.settings, "widths": list(chosen.settings["widths"])}
        self.best_steps_ = max(chosen.best_step, 1)
        if chosen.status == "diverged" or best.status == "diverged":
            self.status_ = "diverged"
        elif timed_out or best_rmse is None or self.best_steps_ >= steps:
            self.status_ = "budget_reached"
        else:
            self.status_ = "stopped_on_validation"
        self.validation_rmse_ = best_rmse
        self.global_mean_, self.row_bias_, self.col_bias_ = best.biases
        self.model_ = best.model
        self._set_factors()
        self.user_ids_, self.item_ids_ = users.ids, items.ids
        self._users, self._items = users, items
        self._indexed = shape is not None
        self.shape_ = shp
        self._set_seen(r, c)
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _set_factors(self) -> None:
        model = self.model_
        if self.solver == "sgd":
            # one layer, identity activation, mixing weights 1/L0: X = (1/L0) Σ_k U_k V_kᵀ
            # exactly, so the factors are the inputs side by side (no basis to compute)
            L0 = model.widths[0]
            U = model.U.detach().cpu().numpy()
            V = model.V.detach().cpu().numpy()
            self.user_factors_ = np.concatenate(list(U), axis=1) / np.float32(L0)
            self.item_factors_ = np.concatenate(list(V), axis=1)
            return
        with torch.no_grad():
            low = model.low_rank().detach()
        self.user_factors_ = low.left.cpu().numpy().copy()
        self.item_factors_ = low.right.cpu().numpy().copy()

    def _set_seen(self, r: np.ndarray, c: np.ndarray) -> None:
        order = np.lexsort((c, r))
        self._seen_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(r, minlength=self.shape_[0]))]).astype(np.int64)
        items = c[order]
        del order
        self._seen_items = items.astype(np.int32)

    def _fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise ConfigError("this RatingsCompleter is not fitted yet; call fit() first")

    def _lookup(self, rows: Any, cols: Any, user: str | None, item: str | None,
                ) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the queried users and items (``-1``: unknown, after the policy)."""
        if cols is None and _is_frame(rows):
            names = [user if user is not None else self.columns_[0],
                     item if item is not None else self.columns_[1]]
            present = list(rows.columns)
            names = [n if n in present else None for n in names]
            rows, cols = _frame_columns(rows, names, 2)
        elif cols is None:
            raise ConfigError("predict takes (rows, cols) arrays or a DataFrame with user= "
                              "and item= column names")
        if self._indexed:
            u, i = _indices(rows, "rows", self.shape_[0]), _indices(cols, "cols", self.shape_[1])
            if u.shape != i.shape:
                raise ShapeError(f"rows has {u.size} entries and cols {i.size}; expected the "
                                 "same number")
            return u, i
        ru, ci = as_ids(rows, "rows"), as_ids(cols, "cols")
        if ru.shape != ci.shape:
            raise ShapeError(f"rows has {ru.size} entries and cols {ci.size}; expected the "
                             "same number")
        u, i = self._users.index_of(ru), self._items.index_of(ci)
        if self.unknown == "error":
            for pos, ids, name in ((u, ru, "user"), (i, ci, "item")):
                bad = np.flatnonzero(pos < 0)
                if bad.size:
                    first = ids[bad[0]].item()
                    raise DataError(f"{name} id {first!r} was not in the training data "
                                    f"({bad.size} unknown); expected a known id, or "
                                    "unknown='bias'")
        return u, i

    def predict(self, rows: Any, cols: Any = None, *, user: str | None = None,
                item: str | None = None, clip: bool = True) -> np.ndarray:
        """Predicted ratings of users ``rows[i]`` for items ``cols[i]`` (raw ids, or a
        DataFrame with ``user``/``item`` columns): (n,) float64, clipped to ``rating_range_``
        unless ``clip=False``. Unknown ids follow ``unknown`` (class doc)."""
        self._fitted()
        u, i = self._lookup(rows, cols, user, item)
        if u.size == 0:
            return np.zeros(0)
        ku, ki = np.maximum(u, 0), np.maximum(i, 0)
        known = (u >= 0) & (i >= 0)
        x = _rk.predict_mf(ku, ki, 0.0, np.zeros(self.shape_[0]), np.zeros(self.shape_[1]),
                           self.user_factors_, self.item_factors_).astype(np.float64)
        pred = (self.global_mean_ + np.where(u >= 0, self.row_bias_[ku], 0.0)
                + np.where(i >= 0, self.col_bias_[ki], 0.0) + np.where(known, x, 0.0))
        if self.unknown == "nan":
            pred = np.where(known, pred, np.nan)
        lo, hi = self.rating_range_
        return pred if not clip or (lo is None and hi is None) else np.clip(pred, lo, hi)

    def recommend(self, users: Any, n: int = 10, *, exclude_seen: bool = True,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items with the highest predicted rating for a user or for many.

        Args:
            users: one raw user id, or a sequence of them.
            n: items per user (at most the number of items; with ``exclude_seen``, at most
                the number of items the most active of these users has not rated).
            exclude_seen: leave out the items each user rated in training.

        Returns:
            ``(items, scores)``: raw item ids and predicted ratings (clipped), best first;
            shapes (n,) for one user, (m, n) for m users. A user not in the training data gets
            the items with the highest ``μ + c_i`` under ``unknown="bias"``, else an error.
        """
        self._fitted()
        from .validate import positive_int

        n = positive_int(n, "n")
        single = np.ndim(users) == 0
        ids = as_ids(np.atleast_1d(np.asarray(users, dtype=object if single else None)),
                     "users")
        u = self._users.index_of(ids)
        bad = np.flatnonzero(u < 0)
        if bad.size and self.unknown != "bias":
            first = ids[bad[0]].item()
            raise DataError(f"user id {first!r} was not in the training data; expected a "
                            "known id, or unknown='bias' (recommends by item bias)")
        d2 = self.shape_[1]
        seen = np.diff(self._seen_indptr)
        n_eff = min(n, d2)
        if exclude_seen and u.size:
            most = int(seen[u[u >= 0]].max()) if (u >= 0).any() else 0
            n_eff = min(n_eff, d2 - most)
        if n_eff < 1:
            busiest = ids[int(np.argmax(seen[np.maximum(u, 0)]))].item()
            raise DataError(f"user {busiest!r} has rated every item; nothing is left to "
                            "recommend")
        items = np.empty((u.size, n_eff), dtype=self.item_ids_.dtype)
        scores = np.empty((u.size, n_eff))
        chunk = max(1, 2**22 // max(d2, 1))
        for a in range(0, u.size, chunk):
            uu = u[a:a + chunk]
            known = uu >= 0
            S = np.empty((uu.size, d2))
            S[:] = self.global_mean_ + self.col_bias_
            if known.any():
                S[known] += (self.row_bias_[uu[known], None]
                             + self.user_factors_[uu[known]].astype(np.float64)
                             @ self.item_factors_.T.astype(np.float64))
            if exclude_seen:
                for row, x in enumerate(uu):
                    if x >= 0:
                        S[row, self._seen_items[self._seen_indptr[x]:self._seen_indptr[x + 1]]] \
                            = -np.inf
            top = np.argpartition(-S, n_eff - 1, axis=1)[:, :n_eff]
            part = np.take_along_axis(S, top, 1)
            order = np.lexsort((top, -part), axis=1)
            top = np.take_along_axis(top, order, 1)
            items[a:a + chunk] = self.item_ids_[top]
            scores[a:a + chunk] = np.take_along_axis(S, top, 1)
        lo, hi = self.rating_range_
        if lo is not None or hi is not None:
            scores = np.clip(scores, lo, hi)
        return (items[0], scores[0]) if single else (items, scores)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to ``path`` as one ``.npz`` of plain arrays plus a JSON
        record (settings, ids, learned scalars); :meth:`load` reads it without pickle."""
        self._fitted()
        params = self.get_params()
        params["dtype"] = "float32" if self.dtype == torch.float32 else "float64"
        ids: dict[str, list[str] | None] = {}
        arrays: dict[str, Any] = {}
        for name, index in (("user", self._users), ("item", self._items)):
            if index.is_int:
                arrays[f"{name}_ids"] = index.ids
                ids[name] = None
            else:
                ids[name] = index.ids.tolist()
        meta = {
            "format": _FORMAT, "indexed": self._indexed, "params": params, "ids": ids,
            "shape": list(self.shape_),
            "columns": list(self.columns_), "global_mean": self.global_mean_,
            "rating_range": list(self.rating_range_), "best_settings": self.best_settings_,
            "best_steps": self.best_steps_, "validation_rmse": self.validation_rmse_,
            "search_results": self.search_results_, "fit_seconds": self.fit_seconds_,
            "status": self.status_,
            "model": {"widths": list(self.model_.widths), "activation": self.model_.activation
                      .spec[0] if self.model_.activation.spec else self.model_.activation.name,
                      "rank": self.model_.rank},
        }
        arrays.update(row_bias=self.row_bias_, col_bias=self.col_bias_,
                      user_factors=self.user_factors_, item_factors=self.item_factors_,
                      seen_indptr=self._seen_indptr, seen_items=self._seen_items)
        for key, t in self.model_.state_dict().items():
            arrays[f"model.{key}"] = t.detach().cpu().numpy()
        arrays["meta"] = np.frombuffer(json.dumps(jsonable(meta)).encode("utf-8"), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RatingsCompleter:
        """A model written by :meth:`save` (arrays and JSON only; no code is executed)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"cannot read a saved RatingsCompleter from {str(path)!r}: "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                            ) from None
        if meta.get("format") != _FORMAT:
            raise DataError(f"{str(path)!r} has format {meta.get('format')!r}; expected "
                            f"{_FORMAT!r}")
        params = dict(meta["params"])
        params["dtype"] = torch.float32 if params["dtype"] == "float32" else torch.float64
        for key in ("rating_range", "widths"):
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        est = cls(**params)
        shape = (int(meta["shape"][0]), int(meta["shape"][1]))
        for name in ("user", "item"):
            listed = meta["ids"][name]
            ids = arrays.pop(f"{name}_ids") if listed is None else np.array(listed, dtype=str)
            setattr(est, f"_{name}s", IdIndex(ids))
            setattr(est, f"{name}_ids_", ids)
        est.shape_ = shape
        est._indexed = bool(meta["indexed"])
        est.columns_ = (meta["columns"][0], meta["columns"][1])
        est.global_mean_ = float(meta["global_mean"])
        est.rating_range_ = (meta["rating_range"][0], meta["rating_range"][1])
        est.best_settings_ = meta["best_settings"]
        est.best_steps_ = int(meta["best_steps"])
        est.validation_rmse_ = meta["validation_rmse"]
        est.search_results_ = meta["search_results"]
        est.fit_seconds_ = float(meta["fit_seconds"])
        est.status_ = str(meta.get("status", "budget_reached"))
        est.row_bias_, est.col_bias_ = arrays["row_bias"], arrays["col_bias"]
        est.user_factors_, est.item_factors_ = arrays["user_factors"], arrays["item_factors"]
        est._seen_indptr, est._seen_items = arrays["seen_indptr"], arrays["seen_items"]
        m = meta["model"]
        model = SNN(shape, m["widths"], m["activation"], "random", rank=int(m["rank"]),
                    evaluation="factored", dtype=params["dtype"])
        model.load_state_dict({k[len("model."):]: torch.from_numpy(a)
                               for k, a in arrays.items() if k.startswith("model.")})
        est.model_ = model
        return est

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        keys = ("solver", "rank", "widths", "init_scale", "lr", "reg", "lr_decay", "replicas",
                "implicit", "threads", "activation", "init", "max_steps", "max_seconds", "patience",
                "eval_every",
                "validation", "refit", "rating_range", "reg_row", "reg_col", "unknown", "dtype",
                "seed", "progress")
        return {k: getattr(self, k) for k in keys}

    def set_params(self, **params: Any) -> RatingsCompleter:
        valid = self.get_params()
        for k, val in params.items():
            if k not in valid:
                raise ConfigError(f"unknown parameter {k!r}; expected one of: "
                                  f"{', '.join(valid)}")
            setattr(self, k, val)
        return self
