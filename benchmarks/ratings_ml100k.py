"""B6: MovieLens-100k ratings, SNN vs soft-impute vs scikit-surprise SVD and SVD++, side by side.

Protocol: 5-fold cross-validation (one random partition, seed 1) and one fixed 80/20 split
(seed 0); every method sees exactly the same training and test ratings; RMSE and MAE on the
test ratings, seconds per fold (fit + predict) measured in the same process one after another.

- SNN: :class:`spectralnn.ratings.RatingsCompleter` with its defaults (biases, clipping, steps
  chosen by early stopping on 10 % of the training ratings, then refitted on all of them).
- soft-impute: a small one written for this benchmark (private to it; the library's general
  soft-impute lives elsewhere): biases as for the SNN, then
  ``Z ← S_λ(P_Ω(Y) + P_Ω⊥(Z))`` on the residual with a rank-40 randomized SVD, ``λ`` chosen
  on the same 10 % validation part along a decreasing path with warm starts, then refitted.
- SVD, SVD++: scikit-surprise with its defaults (``random_state=0``), datasets built with
  ``Dataset.load_from_df``.

    python benchmarks/ratings_ml100k.py [--quick] [--threads 1] [--out results.json]

Needs the extras ``data`` (neighbors) and ``bench`` (scikit-surprise, pandas); prints one line
and exits 0 when they are missing. ``--quick``: the 80/20 split only, no SVD++, short runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spectralnn.ratings import RatingsCompleter, fit_biases, movielens_100k

SHAPE = (943, 1682)


def _metrics(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    err = pred - truth
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))


# ----------------------------------------------------------------------------- methods


def snn(tr, te, quick: bool) -> np.ndarray:
    r, c, v = tr
    est = RatingsCompleter(max_steps=150 if quick else 800, seed=0)
    est.fit(r, c, v, shape=SHAPE)
    return est.predict(te[0], te[1])


def _soft_impute_path(rows, cols, resid, lambdas, iters, rank, val=None, Z0=None):
    """Soft-impute along ``lambdas`` (warm starts); returns the best (λ, Z) on ``val``."""
    M = torch.zeros(SHAPE, dtype=torch.float64)
    Z = torch.zeros(SHAPE, dtype=torch.float64) if Z0 is None else Z0
    obs = torch.zeros(SHAPE, dtype=torch.bool)
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


def soft_impute(tr, te, quick: bool) -> np.ndarray:
    r, c, v = tr
    rng = np.random.default_rng(0)
    perm = rng.permutation(v.size)
    nv = round(0.1 * v.size)
    vi, fi = perm[:nv], perm[nv:]
    mu, b, cc = fit_biases(r[fi], c[fi], v[fi], SHAPE)
    res_f = v[fi] - (mu + b[r[fi]] + cc[c[fi]])
    res_v = v[vi] - (mu + b[r[vi]] + cc[c[vi]])
    lambdas = [40.0, 30.0, 22.0, 16.0, 12.0, 9.0] if not quick else [30.0, 16.0]
    iters = 3 if quick else 8
    _, lam, _ = _soft_impute_path(r[fi], c[fi], res_f, lambdas, iters, 40,
                                  val=(r[vi], c[vi], res_v))
    mu, b, cc = fit_biases(r, c, v, SHAPE)
    res = v - (mu + b[r] + cc[c])
    path = [x for x in lambdas if x >= lam]
    _, _, Z = _soft_impute_path(r, c, res, path, iters, 40)
    pred = mu + b[te[0]] + cc[te[1]] + Z[te[0], te[1]].numpy()
    return np.clip(pred, v.min(), v.max())


def _surprise(algo_name: str):
    def run(tr, te, quick: bool) -> np.ndarray:
        import pandas as pd
        from surprise import SVD, Dataset, Reader, SVDpp

        algo = {"SVD": SVD, "SVD++": SVDpp}[algo_name](random_state=0)
        df = pd.DataFrame({"user": tr[0], "item": tr[1], "rating": tr[2]})
        data = Dataset.load_from_df(df, Reader(rating_scale=(1, 5)))
        algo.fit(data.build_full_trainset())
        return np.array([algo.predict(u, i).est for u, i in zip(te[0].tolist(),
                                                                   te[1].tolist())])

    return run


METHODS = {"SNN": snn, "soft-impute": soft_impute, "SVD": _surprise("SVD"),
           "SVD++": _surprise("SVD++")}


# ----------------------------------------------------------------------------- protocol


def _splits(n: int, quick: bool) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Five folds of one random partition (seed 1) and the fixed 80/20 split (seed 0: test =
    the first fifth of a permutation), so that no fold coincides with the fixed split."""
    rng = np.random.default_rng(1)
    out = []
    if not quick:
        folds = np.array_split(rng.permutation(n), 5)
        for k in range(5):
            te = folds[k]
            tr = np.concatenate([folds[j] for j in range(5) if j != k])
            out.append((f"fold{k + 1}", tr, te))
    perm = np.random.default_rng(0).permutation(n)
    out.append(("split80/20", perm[n // 5:], perm[: n // 5]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (scikit-surprise runs on one core)")
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=None)
    p.add_argument("--out", type=Path, default=None, help="write every number as JSON")
    args = p.parse_args()
    missing = [name for name, extra in (("neighbors", "data"), ("surprise", "bench"),
                                        ("pandas", "bench"))
               if importlib.util.find_spec(name) is None]
    if missing:
        print(f"B6 skipped: needs {', '.join(missing)} (pip install 'spectralnn[data,bench]')")
        return 0
    torch.set_num_threads(args.threads)
    rows, cols, values = movielens_100k()
    methods = args.methods or (["SNN", "soft-impute", "SVD"] if args.quick else list(METHODS))
    splits = _splits(values.size, args.quick)
    print(f"B6: MovieLens-100k, {values.size} ratings, {SHAPE[0]}×{SHAPE[1]}; "
          f"{args.threads} torch thread(s); machine shared: compare within this table")
    records = []
    for name, tr_idx, te_idx in splits:
        tr = (rows[tr_idx], cols[tr_idx], values[tr_idx])
        te = (rows[te_idx], cols[te_idx], values[te_idx])
        for method in methods:
            t0 = time.perf_counter()
            pred = METHODS[method](tr, te, args.quick)
            sec = time.perf_counter() - t0
            rmse, mae = _metrics(pred, te[2])
            records.append({"split": name, "method": method, "rmse": rmse, "mae": mae,
                            "seconds": sec})
            print(f"  {name:11s} {method:12s} RMSE {rmse:.4f}  MAE {mae:.4f}  {sec:7.1f} s",
                  flush=True)
    print(f"\n{'method':12s} {'5-fold RMSE':>16s} {'5-fold MAE':>12s} {'s/fold':>8s} "
          f"{'×SVD time':>9s} | {'80/20 RMSE':>10s} {'MAE':>7s} {'s':>7s}")
    svd_sec = [r["seconds"] for r in records if r["method"] == "SVD" and r["split"] != "split80/20"]
    for method in methods:
        cv = [r for r in records if r["method"] == method and r["split"] != "split80/20"]
        sp = next(r for r in records if r["method"] == method and r["split"] == "split80/20")
        if cv:
            rm = np.array([r["rmse"] for r in cv])
            sec = float(np.mean([r["seconds"] for r in cv]))
            ratio = f"{sec / np.mean(svd_sec):.1f}" if svd_sec else "-"
            cv_txt = (f"{rm.mean():.4f} ± {rm.std():.4f} {np.mean([r['mae'] for r in cv]):12.4f}"
                      f" {sec:8.1f} {ratio:>9s}")
        else:
            cv_txt = f"{'-':>16s} {'-':>12s} {'-':>8s} {'-':>9s}"
        print(f"{method:12s} {cv_txt} | {sp['rmse']:10.4f} {sp['mae']:7.4f} "
              f"{sp['seconds']:7.1f}")
    if args.out is not None:
        from spectralnn._io import atomic_write

        text = json.dumps(records, indent=2)
        atomic_write(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
