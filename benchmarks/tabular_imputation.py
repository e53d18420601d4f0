"""Tables of features with missing cells: spectralnn next to scikit-learn's imputers.

The datasets that ship inside scikit-learn (digits, breast cancer, wine, diabetes, iris) with a
seeded 20 % of their cells hidden at random. Every method fills them in one run, one after
another: ``spectralnn.complete`` (SNN and soft-impute, with and without ``standardize``) and
scikit-learn's ``SimpleImputer`` (column means), ``KNNImputer`` and ``IterativeImputer``, each
with its defaults. The score is the RMSE on the hidden cells with every column in units of its
own standard deviation (1.0: no better than a constant per column), and the wall seconds.

    python benchmarks/tabular_imputation.py [--missing 0.2] [--seed 0]

Absolute times depend on the machine and its load; compare the rows of one table.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np

DATASETS = ("digits", "breast_cancer", "wine", "diabetes", "iris")


def methods() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    from spectralnn import complete

    return {
        "snn": lambda A: complete(A),
        "snn --standardize": lambda A: complete(A, standardize=True),
        "softimpute --standardize": lambda A: complete(A, model="softimpute",
                                                       standardize=True),
        "column mean": lambda A: SimpleImputer().fit_transform(A),
        "KNNImputer": lambda A: KNNImputer().fit_transform(A),
        "IterativeImputer": lambda A: IterativeImputer(random_state=0).fit_transform(A),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--missing", type=float, default=0.2, help="fraction of cells hidden")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from sklearn import datasets

    table = methods()
    print(f"{100 * args.missing:.0f} % of the cells hidden (seed {args.seed}); RMSE on them in "
          "units of each column's standard deviation (seconds)\n")
    print("| dataset | " + " | ".join(table) + " |")
    print("|---|" + "---:|" * len(table))
    for name in DATASETS:
        X = getattr(datasets, f"load_{name}")().data.astype(np.float64)
        keep = X.std(0) > 0                       # digits has blank pixel columns
        X = X[:, keep]
        hide = np.random.default_rng(args.seed).random(X.shape) < args.missing
        A = np.where(hide, np.nan, X)
        sd = X.std(0)
        cells = []
        for fill in table.values():
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # convergence notes of IterativeImputer
                Y = fill(A)
            err = float(np.sqrt(np.mean(((Y - X) / sd)[hide] ** 2)))
            cells.append(f"{err:.3f} ({time.perf_counter() - t:.1f} s)")
        print(f"| {name} {X.shape[0]}×{X.shape[1]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
