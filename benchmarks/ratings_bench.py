"""The ratings benchmarks' shared protocol (B6 MovieLens-100k, B8 MovieLens-1M).

Every method sees exactly the same training and test ratings, one after another in one
process; per split: RMSE and MAE of the clipped predictions, seconds (fit + predict), and on
the 90/10 split precision@10, recall@10 and NDCG@10 of each user's test items ranked by the
method's unclipped score (:func:`spectralnn.ranking.ranking_metrics`, relevant = rating ≥ 4).

Splits: five folds of one random partition (seed 1); a random 90/10 split (seed 0); for
MovieLens-100k also the canonical u1 split (u1.test = the first 20 000 lines of ``u.data``).

Methods:
- SNN: :class:`spectralnn.ratings.RatingsCompleter` with its defaults (the averaged linear SNN
  trained by SGD, ``replicas`` inputs in as many threads).
- SNN-8: eight inputs, weight decay 0.07, 10 epochs, whatever the size: the defaults below
  ``spectralnn.ratings.SMALL_TABLE`` ratings (chosen on a validation part of u1.base), so on
  MovieLens-100k it is the SNN itself.
- SNN-adam: the defaults with ``solver="adam"`` (the non-linear SNN, full-batch Adam).
- soft-impute: a small one written for these benchmarks: biases as for the Adam SNN, then
  ``Z ← S_λ(P_Ω(Y) + P_Ω⊥(Z))`` on the residual with a rank-40 randomized SVD, ``λ`` chosen on
  10 % of the training ratings along a decreasing path with warm starts, then refitted.
- SVD, SVD++, KNNBaseline: scikit-surprise with its defaults (``random_state=0``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from spectralnn.ranking import ranking_metrics
from spectralnn.ratings import RatingsCompleter, fit_biases

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
Method = Callable[[Split, Split, tuple[int, int], bool], np.ndarray]


def _metrics(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    err = pred - truth
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))


# ----------------------------------------------------------------------------- methods
# Each returns the unclipped scores of the test pairs; the protocol clips to [1, 5].


def snn(tr: Split, te: Split, shape: tuple[int, int], quick: bool,
        threads: int | None = None) -> np.ndarray:
    est = RatingsCompleter(seed=0, threads=threads).fit(*tr, shape=shape)
    return est.predict(te[0], te[1], clip=False)


def snn_8(tr: Split, te: Split, shape: tuple[int, int], quick: bool) -> np.ndarray:
    """Eight inputs, weight decay 0.07, 10 epochs: chosen on a validation part (10 %) of
    MovieLens-100k's u1.base (never on test ratings) for that smaller table."""
    est = RatingsCompleter(replicas=8, reg=0.07, max_steps=10, seed=0).fit(*tr, shape=shape)
    return est.predict(te[0], te[1], clip=False)


def snn_adam(tr: Split, te: Split, shape: tuple[int, int], quick: bool) -> np.ndarray:
    est = RatingsCompleter(solver="adam", max_steps=150 if quick else 800, seed=0)
    est.fit(*tr, shape=shape)
    return est.predict(te[0], te[1], clip=False)


def _soft_impute_path(shape, rows, cols, resid, lambdas, iters, rank, val=None):
    """Soft-impute along ``lambdas`` (warm starts); returns the best (λ, Z) on ``val``."""
    M = torch.zeros(shape, dtype=torch.float64)
    Z = torch.zeros(shape, dtype=torch.float64)
    obs = torch.zeros(shape, dtype=torch.bool)
    obs[rows, cols] = True
    M[rows, cols] = torch.as_tensor(resid)
    gen = torch.Generator().manual_seed(0)
    best = (math.inf, None, None)
    for lam in lambdas:
        for _ in range(iters):
            filled = torch.where(obs, M, Z)
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
            U, s, V = torch.svd_lowrank(filled, q=rank, niter=2)
            s = torch.clamp(s - lam, min=0.0)
            Z = (U * s) @ V.T
        if val is not None:
            vr, vc, vres = val
            rmse = float((Z[vr, vc] - torch.as_tensor(vres)).square().mean().sqrt())
            if rmse < best[0]:
                best = (rmse, lam, Z.clone())
    return best if val is not None else (math.nan, lambdas[-1], Z)


def soft_impute(tr: Split, te: Split, shape: tuple[int, int], quick: bool) -> np.ndarray:
    r, c, v = tr
    perm = np.random.default_rng(0).permutation(v.size)
    nv = round(0.1 * v.size)
    vi, fi = perm[:nv], perm[nv:]
    mu, b, cc = fit_biases(r[fi], c[fi], v[fi], shape)
    res_f = v[fi] - (mu + b[r[fi]] + cc[c[fi]])
    res_v = v[vi] - (mu + b[r[vi]] + cc[c[vi]])
    # the path was set on MovieLens-100k; singular values grow like √(ratings)
    grow = math.sqrt(v.size / 80_000)
    base = [40.0, 30.0, 22.0, 16.0, 12.0, 9.0] if not quick else [30.0, 16.0]
    lambdas = [grow * x for x in base]
    iters = 3 if quick else 8
    _, lam, _ = _soft_impute_path(shape, r[fi], c[fi], res_f, lambdas, iters, 40,
                                  val=(r[vi], c[vi], res_v))
    mu, b, cc = fit_biases(r, c, v, shape)
    res = v - (mu + b[r] + cc[c])
    _, _, Z = _soft_impute_path(shape, r, c, res, [x for x in lambdas if x >= lam], iters, 40)
    return mu + b[te[0]] + cc[te[1]] + Z[te[0], te[1]].numpy()


def _surprise(name: str) -> Method:
    def run(tr: Split, te: Split, shape: tuple[int, int], quick: bool) -> np.ndarray:
        import pandas as pd
        from surprise import SVD, Dataset, KNNBaseline, Reader, SVDpp

        algo = (KNNBaseline(verbose=False) if name == "KNNBaseline"
                else {"SVD": SVD, "SVD++": SVDpp}[name](random_state=0))
        df = pd.DataFrame({"user": tr[0], "item": tr[1], "rating": tr[2]})
        data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
        algo.fit(data.build_full_trainset())
        return np.array([algo.predict(u, i, clip=False).est
                         for u, i in zip(te[0].tolist(), te[1].tolist())])

    return run


METHODS: dict[str, Method] = {
    "SNN": snn, "SNN-8": snn_8, "SNN-adam": snn_adam, "soft-impute": soft_impute,
    "SVD": _surprise("SVD"), "SVD++": _surprise("SVD++"),
    "KNNBaseline": _surprise("KNNBaseline"),
}


# ----------------------------------------------------------------------------- protocol


def splits(n: int, which: list[str], u1: bool = False) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, train indices, test indices)`` for ``which`` ⊂ {"cv", "90/10", "u1"}."""
    out = []
    if "cv" in which:
        folds = np.array_split(np.random.default_rng(1).permutation(n), 5)
        for k in range(5):
            tr = np.concatenate([folds[j] for j in range(5) if j != k])
            out.append((f"fold{k + 1}", tr, folds[k]))
    if "90/10" in which:
        perm = np.random.default_rng(0).permutation(n)
        out.append(("split90/10", perm[n // 10:], perm[: n // 10]))
    if "u1" in which and u1:
        out.append(("u1", np.arange(20_000, n), np.arange(20_000)))
    return out


def run(title: str, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
        methods: list[str], which: list[str], *, quick: bool, u1: bool = False,
        threads: int | None = None, out: Path | None = None) -> list[dict]:
    """Run every method on every split, print each result and the summary table."""
    shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    print(f"{title}: {values.size} ratings, {shape[0]}×{shape[1]}; SNN threads: "
          f"{threads or 'all cores'}; scikit-surprise runs on one core; machine shared: "
          "compare within this table", flush=True)
    records = []
    for name, tr_idx, te_idx in splits(values.size, which, u1):
        tr = (rows[tr_idx], cols[tr_idx], values[tr_idx])
        te = (rows[te_idx], cols[te_idx], values[te_idx])
        for method in methods:
            fn = METHODS[method]
            t0 = time.perf_counter()
            scores = (snn(tr, te, shape, quick, threads) if method == "SNN"
                      else fn(tr, te, shape, quick))
            sec = time.perf_counter() - t0
            rmse, mae = _metrics(np.clip(scores, 1.0, 5.0), te[2])
            rec = {"split": name, "method": method, "rmse": rmse, "mae": mae, "seconds": sec}
            if name == "split90/10":
                rec.update({f"{k}@10": v for k, v in ranking_metrics(
                    te[0], scores, te[2], k=10).items() if k != "users"})
            records.append(rec)
            print(f"  {name:11s} {method:12s} RMSE {rmse:.4f}  MAE {mae:.4f}  {sec:7.1f} s",
                  flush=True)
    table(records, methods)
    if out is not None:
        from spectralnn._io import atomic_write

        atomic_write(out, json.dumps(records, indent=2))
    return records


def table(records: list[dict], methods: list[str]) -> None:
    print(f"\n{'method':12s} {'5-fold RMSE':>16s} {'MAE':>7s} {'s/fold':>7s} {'×SVD':>5s} | "
          f"{'90/10 RMSE':>10s} {'s':>6s} {'×SVD':>5s} {'P@10':>6s} {'R@10':>6s} "
          f"{'NDCG@10':>7s} | {'u1 RMSE':>7s}")

    def rows_of(method: str, cv: bool, split: str = "") -> list[dict]:
        return [r for r in records if r["method"] == method
                and (r["split"].startswith("fold") if cv else r["split"] == split)]

    svd_cv = [r["seconds"] for r in rows_of("SVD", True)]
    svd_sp = [r["seconds"] for r in rows_of("SVD", False, "split90/10")]
    for method in methods:
        cv = rows_of(method, True)
        sp = rows_of(method, False, "split90/10")
        u1 = rows_of(method, False, "u1")
        if cv:
            rm = np.array([r["rmse"] for r in cv])
            sec = float(np.mean([r["seconds"] for r in cv]))
            ratio = f"{sec / np.mean(svd_cv):.2f}" if svd_cv else "-"
            cv_txt = (f"{rm.mean():.4f} ± {rm.std():.4f} "
                      f"{np.mean([r['mae'] for r in cv]):7.4f} {sec:7.1f} {ratio:>5s}")
        else:
            cv_txt = f"{'-':>16s} {'-':>7s} {'-':>7s} {'-':>5s}"
        if sp:
            s = sp[0]
            ratio = f"{s['seconds'] / svd_sp[0]:.2f}" if svd_sp else "-"
            sp_txt = (f"{s['rmse']:10.4f} {s['seconds']:6.1f} {ratio:>5s} "
                      f"{s['precision@10']:6.4f} {s['recall@10']:6.4f} {s['ndcg@10']:7.4f}")
        else:
            sp_txt = f"{'-':>10s} {'-':>6s} {'-':>5s} {'-':>6s} {'-':>6s} {'-':>7s}"
        u1_txt = f"{u1[0]['rmse']:7.4f}" if u1 else f"{'-':>7s}"
        print(f"{method:12s} {cv_txt} | {sp_txt} | {u1_txt}")
