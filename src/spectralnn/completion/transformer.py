"""``SNNCompleter``: matrix completion as a scikit-learn transformer.

- ``fit(X)`` completes the ``(n, d)`` training matrix ``X`` (NaN = missing) with
  :func:`~spectralnn.completion.estimator.complete_array` and learns its column space: the
  column means ``mean_`` ``(d,)`` and the loadings ``components_`` ``(r, d)``,
  ``σ_i·v_iᵀ/√n`` for the ``r`` singular values ``σ_i ≥ rank_rtol·σ_1`` of the centred
  completed matrix, with ``noise_variance_`` the energy of the rest per entry.
- ``transform(X_new)`` completes new rows against that column space ("fold-in", as in
  probabilistic PCA): for a row with observed part ``x_o``, the coefficients
  ``c = (L_oᵀL_o + ν·I)⁻¹ L_oᵀ (x_o − μ_o)`` (ridge, ``L_o`` the loadings of the observed
  columns, ``ν = max(noise_variance_, 1e-6·σ_1²/(n·d))``), and the missing entries are
  ``μ + cᵀL`` there; observed entries are kept. A row with nothing observed gets ``mean_``.
- ``fit_transform(X)`` returns the transductive completion of ``X`` itself (``completed_``),
  as before; on a complete ``X`` it is ``X``, as is ``transform(X)``.

With scikit-learn installed the class is a ``TransformerMixin`` / ``BaseEstimator`` (``clone``,
``set_output``, pipelines, ``n_features_in_``, ``feature_names_in_``, tags that allow NaN) and
passes ``check_estimator``; without it, the same methods work on arrays and tensors. The module
is imported on first use of :class:`SNNCompleter`, so scikit-learn's import cost is paid only
by code that uses it.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..errors import ConfigError
from .estimator import as_values, complete_array, plain_array

__all__ = ["SNNCompleter"]


class _Params:
    """get_params / set_params / repr without scikit-learn (its conventions)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def _bases() -> tuple[type, ...]:
    try:
        from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
    except ImportError:
        return (_Params,)
    return (OneToOneFeatureMixin, TransformerMixin, BaseEstimator)


_BASES = _bases()
_SKLEARN = _BASES[0] is not _Params


class SNNCompleter(*_BASES):  # type: ignore[misc]
    """Matrix completion in the scikit-learn / fancyimpute convention::

        X_filled = SNNCompleter(seed=0).fit_transform(X_with_nans)   # transductive
        X_new_filled = SNNCompleter().fit(X_train).transform(X_new)   # new rows (fold-in)

    ``__init__`` only stores the settings (see :func:`~spectralnn.completion.complete`;
    ``rank_rtol``: the relative singular-value threshold of the learned column space;
    ``standardize``: fit, and fold new rows in, with each column centred and scaled by its own
    mean and standard deviation — for features in different units).
    ``fit`` learns ``completed_`` ``(n, d)``, ``summary_``, ``status_``,
    ``validation_error_``, ``test_error_`` (None without ``test_fraction``),
    ``n_observed_``, ``n_features_in_``, ``mean_``, ``components_`` ``(r, d)``, ``rank_``
    and ``noise_variance_`` (see the module; with ``standardize``, in the standardised units
    ``(x − column_center_)/column_scale_``, else ``column_center_ = 0``, ``column_scale_ = 1``).
    """

    def __init__(self, model: str = "snn", *, seed: int = 0,
                 test_fraction: float | None = None, keep_observed: bool = True,
                 clip: tuple[float, float] | None = None, max_steps: int | None = None,
                 max_seconds: float | None = None, progress: bool = False,
                 options: dict[str, Any] | None = None, rank_rtol: float = 1e-2,
                 standardize: bool = False) -> None:
        self.model = model
        self.seed = seed
        self.test_fraction = test_fraction
        self.keep_observed = keep_observed
        self.clip = clip
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.progress = progress
        self.options = options
        self.rank_rtol = rank_rtol
        self.standardize = standardize

    def set_params(self, **params: Any) -> SNNCompleter:
        """Change settings; unknown names raise :class:`~spectralnn.errors.ConfigError`."""
        valid = self._get_param_names()
        for name in params:
            if name not in valid:
                raise ConfigError(f"unknown setting {name!r}; expected one of: "
                                  f"{', '.join(valid)}")
        super().set_params(**params)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags

    def _check(self, X: Any, mask: Any, *, reset: bool) -> np.ndarray:
        """``X`` as float64 with NaN where missing; scikit-learn's checks of the input (number
        of features, feature names) when it is installed."""
        X = plain_array(X)
        if _SKLEARN:
            from sklearn.utils.validation import validate_data

            arr = validate_data(self, X, reset=reset, dtype=np.float64,
                                ensure_all_finite=False)
            return as_values(arr, mask, need_observed=reset)
        values = as_values(X, mask, need_observed=reset)
        if reset:
            self.n_features_in_ = values.shape[1]
        elif values.shape[1] != self.n_features_in_:
            raise ConfigError(f"X has {values.shape[1]} features, but SNNCompleter is expecting "
                              f"{self.n_features_in_} features as input")
        return values

    def fit(self, X: Any, y: None = None, *, mask: Any = None) -> SNNCompleter:
        """Complete ``X`` (NaN = missing) and learn its column space; ``y`` is ignored."""
        rtol = self.rank_rtol
        if isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not 0 <= rtol < 1:
            raise ConfigError(f"rank_rtol must be a number in [0, 1), got {rtol!r}")
        values = self._check(X, mask, reset=True)
        completed, summary = complete_array(
            values, model=self.model, seed=self.seed, test_fraction=self.test_fraction,
            keep_observed=self.keep_observed, clip=self.clip, max_steps=self.max_steps,
            max_seconds=self.max_seconds, progress=self.progress, options=self.options,
            standardize=bool(self.standardize))
        self.completed_ = completed
        self.summary_ = summary
        self.status_ = summary["status"]
        self.validation_error_ = summary["validation_error"]
        self.test_error_ = summary.get("test")
        self.n_observed_ = summary["observed"]
        columns = summary.get("columns")
        d = completed.shape[1]
        self.column_center_ = np.zeros(d) if columns is None else np.asarray(columns["center"])
        self.column_scale_ = np.ones(d) if columns is None else np.asarray(columns["scale"])
        self._learn_columns((completed - self.column_center_) / self.column_scale_)
        return self

    def _learn_columns(self, C: np.ndarray) -> None:
        n, d = C.shape
        unit = max(float(np.abs(C).max()), np.finfo(np.float64).tiny)
        mean = (C / unit).mean(axis=0)
        _, s, vt = np.linalg.svd(C / unit - mean, full_matrices=False)
        top = float(s[0]) if s.size else 0.0
        rank = int(np.sum(s > float(self.rank_rtol) * top)) if top > 0 else 0
        scale = unit / np.sqrt(n)
        self.mean_ = mean * unit
        self.rank_ = rank
        self.components_ = (s[:rank, None] * vt[:rank]) * scale
        rest = float(np.sum(s[rank:] ** 2)) * scale**2 / d
        floor = 1e-6 * (top * scale) ** 2 / d
        self.noise_variance_ = max(rest, floor, np.finfo(np.float64).tiny)

    def transform(self, X: Any, *, mask: Any = None) -> np.ndarray:
        """Complete the rows of ``X`` ``(m, d)`` against the learned column space (fold-in);
        observed entries are kept."""
        if not hasattr(self, "components_"):
            if _SKLEARN:
                from sklearn.utils.validation import check_is_fitted

                check_is_fitted(self)
            raise ConfigError("this SNNCompleter is not fitted yet; call fit first")
        values = self._check(X, mask, reset=False)
        center, scale = self.column_center_, self.column_scale_
        out = self._fold_in((values - center) / scale) * scale + center
        observed = ~np.isnan(values)
        out[observed] = values[observed]   # exactly as given
        return out

    def _fold_in(self, values: np.ndarray) -> np.ndarray:
        L, mu, nu = self.components_, self.mean_, self.noise_variance_
        out = values.copy()
        missing = np.isnan(values)
        rows = np.flatnonzero(missing.any(axis=1))
        if not rows.size:
            return out
        unit = max(float(np.abs(L).max()) if L.size else 0.0, float(np.abs(mu).max()),
                   np.finfo(np.float64).tiny)
        Lu, muu, nuu = L / unit, mu / unit, nu / unit**2
        patterns, inverse = np.unique(missing[rows], axis=0, return_inverse=True)
        for k, pattern in enumerate(patterns):
            group = rows[inverse.reshape(-1) == k]
            seen = ~pattern
            if Lu.shape[0] == 0 or not seen.any():
                out[np.ix_(group, pattern)] = mu[pattern]
                continue
            Lo = Lu[:, seen]
            resid = values[np.ix_(group, seen)] / unit - muu[seen]
            gram = Lo @ Lo.T + nuu * np.eye(Lo.shape[0])
            coef = np.linalg.solve(gram, Lo @ resid.T)
            out[np.ix_(group, pattern)] = (muu[pattern] + coef.T @ Lu[:, pattern]) * unit
        return out

    def fit_transform(self, X: Any, y: None = None, *, mask: Any = None) -> np.ndarray:
        """``fit(X).completed_``: the completed ``(n, d)`` float64 array (the transductive
        fit; ``transform`` is for new rows)."""
        return self.fit(X, mask=mask).completed_

