"""B6: MovieLens-100k ratings: SNN vs soft-impute vs scikit-surprise SVD, SVD++, KNNBaseline.

Protocol (``benchmarks/ratings_bench.py``): 5-fold cross-validation (one random partition,
seed 1), a random 90/10 split (seed 0) with precision/recall/NDCG@10, and the canonical u1
split (u1.test = the first 20 000 lines of ``u.data``), every method on the same ratings, one
after another in this process.

    python benchmarks/ratings_ml100k.py [--quick] [--methods SNN SVD] [--splits cv u1]
                                        [--threads 1] [--out results.json]

Needs the extras ``data`` (neighbors) and ``bench`` (scikit-surprise, pandas); prints one line
and exits 0 when they are missing. ``--quick``: the 90/10 split, SNN, soft-impute and SVD.
Published u1 results for comparison: GC-MC 0.905, IGMC 0.905, GLocal-K 0.889; scikit-surprise's
own 5-fold table: SVD 0.934, SVD++ 0.919 (1 min 39 s per fold), KNNBaseline 0.931.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

from ratings_bench import METHODS, run
from spectralnn.ratings import movielens_100k


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of the SNN (default: every core; scikit-surprise uses one)")
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=None)
    p.add_argument("--splits", nargs="+", choices=["cv", "90/10", "u1"], default=None)
    p.add_argument("--out", type=Path, default=None, help="write every number as JSON")
    args = p.parse_args()
    missing = [name for name, extra in (("neighbors", "data"), ("surprise", "bench"),
                                        ("pandas", "bench"))
               if importlib.util.find_spec(name) is None]
    if missing:
        print(f"B6 skipped: needs {', '.join(missing)} (pip install 'spectralnn[data,bench]')")
        return 0
    torch.set_num_threads(1)
    rows, cols, values = movielens_100k()
    methods = args.methods or (["SNN", "soft-impute", "SVD"] if args.quick else
                               ["SNN", "soft-impute", "SVD", "SVD++", "KNNBaseline"])
    which = args.splits or (["90/10"] if args.quick else ["cv", "90/10", "u1"])
    run("B6: MovieLens-100k", rows, cols, values, methods, which, quick=args.quick, u1=True,
        threads=args.threads, out=args.out)
    print("published: u1 split GC-MC 0.905, IGMC 0.905, GLocal-K 0.889; surprise's 5-fold "
          "table SVD 0.934, SVD++ 0.919, KNNBaseline 0.931")
    return 0


if __name__ == "__main__":
    sys.exit(main())
