"""Ranking quality of rating predictions: precision, recall and NDCG at ``k``.

Protocol (the one used to compare recommenders on held-out ratings, e.g. scikit-surprise's
FAQ): each user's *candidates* are their held-out items; they are ranked by predicted score
(ties keep the input order); an item is *relevant* when its true rating is ``≥ threshold``.
Per user with at least one relevant candidate, with ``hits`` the relevant items among the
top ``k``:

    precision@k = hits / min(k, #candidates)          recall@k = hits / #relevant
    NDCG@k      = Σ_{rank r < k, relevant} 1/log2(r + 2)  /  Σ_{r < min(k, #relevant)} 1/log2(r + 2)

and the reported values are the means over those users. Every method ranks the same
candidates, so the numbers compare rankings, not candidate sets.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, ShapeError
from .validate import positive_int

__all__ = ["ranking_metrics"]


def ranking_metrics(users: object, scores: object, truth: object, *, k: int = 10,
                    threshold: float = 4.0) -> dict[str, float]:
    """Mean precision@k, recall@k and NDCG@k over users (module doc for the protocol).

    Args:
        users: (n,) user id of each held-out rating (any ids np.unique can sort).
        scores: (n,) predicted ratings (or any scores, higher = better).
        truth: (n,) true ratings.
        k: cut-off; threshold: a rating ``≥ threshold`` is relevant.

    Returns:
        ``{"precision": …, "recall": …, "ndcg": …, "users": m}`` with ``m`` the users that
        have a relevant candidate (metrics NaN when ``m = 0``).
    """
    k = positive_int(k, "k")
    u = np.asarray(users)
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    if not (u.ndim == s.ndim == t.ndim == 1 and u.shape == s.shape == t.shape):
        raise ShapeError(f"users, scores and truth have shapes {u.shape}, {s.shape}, "
                         f"{t.shape}; expected three (n,) arrays")
    if not np.all(np.isfinite(s)):
        raise DataError(f"scores holds {int((~np.isfinite(s)).sum())} NaN/Inf; expected "
                        "finite scores")
    n = u.size
    if n == 0:
        return {"precision": float("nan"), "recall": float("nan"), "ndcg": float("nan"),
                "users": 0}
    _, code = np.unique(u, return_inverse=True)
    code = code.reshape(-1)
    order = np.lexsort((np.arange(n), -s, code))
    code, rel = code[order], (t[order] >= threshold)
    m = int(code.max()) + 1
    counts = np.bincount(code, minlength=m)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(n) - starts[code]
    top = rank < k
    hits = np.bincount(code, weights=(rel & top), minlength=m)
    n_rel = np.bincount(code, weights=rel, minlength=m)
    dcg = np.bincount(code, weights=np.where(rel & top, 1.0 / np.log2(rank + 2.0), 0.0),
                      minlength=m)
    discounts = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
    idcg = discounts[np.minimum(n_rel, k).astype(np.int64)]
    ok = n_rel > 0
    if not ok.any():
        return {"precision": float("nan"), "recall": float("nan"), "ndcg": float("nan"),
                "users": 0}
    precision = hits[ok] / np.minimum(k, counts[ok])
    return {"precision": float(precision.mean()), "recall": float((hits[ok] / n_rel[ok]).mean()),
            "ndcg": float((dcg[ok] / idcg[ok]).mean()), "users": int(ok.sum())}
