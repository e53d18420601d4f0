"""The ratings SNN as a scikit-surprise algorithm (the ``bench`` extra).

:class:`SNNAlgo` runs in Surprise's own tools — ``cross_validate``, ``GridSearchCV``,
``accuracy.rmse`` — next to ``SVD`` or ``KNNBaseline``::

    from surprise import Dataset, Reader
    from surprise.model_selection import GridSearchCV, cross_validate
    from .ratings_surprise import SNNAlgo

    data = Dataset.load_from_df(df[["user", "item", "rating"]], Reader(rating_scale=(1, 5)))
    cross_validate(SNNAlgo(seed=0), data, measures=["rmse", "mae"], cv=5)
    GridSearchCV(SNNAlgo, {"rank": [16, 32], "reg": [0.04, 0.06]}, cv=3).fit(data)

Keyword arguments are those of :class:`~spectralnn.ratings.RatingsCompleter`. The model is
fitted on Surprise's inner ids; an unknown user or item is estimated from the biases that exist
(``μ + c_i``, ``μ + b_u`` or ``μ``), as the completer's ``unknown="bias"`` does. The class
is built when first asked for: without scikit-surprise, ``from spectralnn.ratings_surprise
import SNNAlgo`` raises a one-line error naming the ``bench`` extra.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._optional import requires
from .ratings import RatingsCompleter

__all__ = ["SNNAlgo"]  # noqa: F822 (built on first access, module __getattr__)


@functools.cache
def _snn_algo() -> type:
    """The class, built on first use (importing this module does not import surprise)."""
    with requires("bench", feature="the scikit-surprise adapter"):
        from surprise import AlgoBase

    class SNNAlgo(AlgoBase):
        """A :class:`~spectralnn.ratings.RatingsCompleter` behind Surprise's ``AlgoBase``."""

        def __init__(self, **params: Any) -> None:
            AlgoBase.__init__(self)
            self.params = params
            RatingsCompleter(**params).check_settings()

        def fit(self, trainset: Any) -> SNNAlgo:
            AlgoBase.fit(self, trainset)
            triples = np.array(list(trainset.all_ratings()), dtype=np.float64).reshape(-1, 3)
            lo, hi = trainset.rating_scale
            params = {"rating_range": (float(lo), float(hi)), **self.params}
            self.completer = RatingsCompleter(**params).fit(
                triples[:, 0].astype(np.int64), triples[:, 1].astype(np.int64), triples[:, 2],
                shape=(trainset.n_users, trainset.n_items))
            est = self.completer
            self._mu, self._b, self._c = est.global_mean_, est.row_bias_, est.col_bias_
            self._P = est.user_factors_.astype(np.float64)
            self._Q = est.item_factors_.astype(np.float64)
            return self

        def estimate(self, u: Any, i: Any) -> float:
            known_u = self.trainset.knows_user(u)
            known_i = self.trainset.knows_item(i)
            est = self._mu
            if known_u:
                est += self._b[u]
            if known_i:
                est += self._c[i]
            if known_u and known_i:
                est += float(self._P[u] @ self._Q[i])
            return float(est)

    SNNAlgo.__module__ = __name__
    SNNAlgo.__qualname__ = "SNNAlgo"
    return SNNAlgo


def __getattr__(name: str) -> Any:
    if name == "SNNAlgo":
        return _snn_algo()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
