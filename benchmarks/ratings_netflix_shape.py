"""B9: a Netflix-shaped synthetic ratings table (480 189 users × 17 770 movies): time per
epoch and peak memory of the ratings SNN's SGD solver.

Ratings: ``clip(round(3.6 + b_u + c_i + a_u·g_i + noise), 1, 5)`` with a rank-8 interaction,
at distinct random (user, movie) pairs (users and movies drawn uniformly). The fit runs the
default :class:`spectralnn.ratings.RatingsCompleter` (two inputs in two threads, implicit
feedback) for ``--epochs`` epochs on all of them (no held-out part) and reports seconds per
epoch, the training RMSE and the peak resident memory of the process (``ru_maxrss``).

    python benchmarks/ratings_netflix_shape.py [--ratings 1e8] [--epochs 2]

The full size needs about 10 GB; ``--ratings 1e7`` runs a tenth of it (time and memory of the
ratings-sized arrays grow linearly in the number of ratings).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

from spectralnn.ratings import RatingsCompleter

SHAPE = (480_189, 17_770)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flat = np.unique(rng.integers(0, SHAPE[0] * SHAPE[1], size=n, dtype=np.int64))
    rows = (flat // SHAPE[1]).astype(np.int64)
    cols = (flat % SHAPE[1]).astype(np.int64)
    del flat
    b = rng.normal(0, 0.4, SHAPE[0]).astype(np.float32)
    c = rng.normal(0, 0.4, SHAPE[1]).astype(np.float32)
    A = rng.normal(0, 0.35, (SHAPE[0], 8)).astype(np.float32)
    G = rng.normal(0, 0.35, (SHAPE[1], 8)).astype(np.float32)
    values = np.empty(rows.size, dtype=np.float32)
    step = 5_000_000
    for a in range(0, rows.size, step):
        r, k = rows[a:a + step], cols[a:a + step]
        x = 3.6 + b[r] + c[k] + np.einsum("ij,ij->i", A[r], G[k])
        x += rng.normal(0, 0.8, r.size).astype(np.float32)
        values[a:a + step] = np.clip(np.rint(x), 1, 5)
    return rows, cols, values


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratings", type=float, default=1e8)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    t0 = time.perf_counter()
    rows, cols, values = synthetic(int(args.ratings))
    build = time.perf_counter() - t0
    print(f"B9: {SHAPE[0]}×{SHAPE[1]}, {values.size} distinct ratings built in {build:.1f} s",
          flush=True)
    for epochs in (1, 1 + args.epochs):
        est = RatingsCompleter(max_steps=epochs, validation=None, seed=0)
        t0 = time.perf_counter()
        est.fit(rows, cols, values, shape=SHAPE)
        fit = time.perf_counter() - t0
        print(f"  {epochs} epoch(s): fit {fit:.1f} s", flush=True)
        if epochs == 1:
            one = fit
    per_epoch = (fit - one) / args.epochs
    sample = slice(0, min(values.size, 2_000_000))
    rmse = float(np.sqrt(np.mean((est.predict(rows[sample], cols[sample]) - values[sample])
                                 ** 2)))
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"seconds per epoch {per_epoch:.1f} (fit with 1 epoch: {one:.1f} s, the rest is "
          f"set-up: ids, CSR, threads); training RMSE after {1 + args.epochs} epochs "
          f"{rmse:.4f}; peak RSS {peak_gib:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
