"""B7: ms per training step and peak memory, factored vs dense SNN evaluation, d = 256 … 100 000.

Synthetic completion: a rank-5 truth ``X* = A Bᵀ`` observed at ``m`` distinct random entries
(plus 10⁴ held-out ones); an SNN of widths [2] and factor rank ``r`` (``R = 2r``) trained with
normalized gradient descent through the library's loop (``Trainer(optimizer="normalized")``:
``θ ← θ − η·g/‖g‖``, η = 0.3; Adam's per-coordinate scaling
stalled at d ≥ 10⁴, where each coordinate's gradient is mostly sampling noise) on
``½·mean (X_ij − y_ij)²``. A step is forward + backward + update. The dense path runs
only where ``d1·d2`` is small enough (its per-step SVDs of d1×d2 matrices); each (size, path)
runs in a fresh process so that its peak RSS is its own. Also reports the held-out RMSE
(relative to the RMS of the held-out values) before and after the timed steps (the model
does train) and the process's peak RSS.

    python benchmarks/factored_scaling.py [--quick] [--threads 2] [--steps 5]

Absolute times depend on the machine and its load: compare the ratio column, measured in one
run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

#: (d1, d2, m, rank, run the dense path too, steps of the factored path)
FULL = [
    (256, 256, 20_000, 8, True, 60),
    (943, 1682, 80_000, 32, True, 60),
    (943, 1682, 80_000, 8, True, 60),
    (2048, 2048, 400_000, 16, True, 60),
    (10_000, 10_000, 1_000_000, 16, False, 40),
    (100_000, 100_000, 10_000_000, 8, False, 30),
]
DENSE_STEPS = 3
LR = 0.3
QUICK = [
    (256, 256, 20_000, 8, True, 3),
    (943, 1682, 80_000, 32, True, 3),
]


def _one(d1: int, d2: int, m: int, rank: int, evaluation: str, steps: int,
         threads: int) -> dict:
    import numpy as np
    import torch

    from spectralnn import SNN
    from spectralnn.factored import sampled_product
    from spectralnn.sensing import EntrySampling, SensingProblem
    from spectralnn.trainer import Trainer

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    n_test = 10_000
    need = m + n_test
    if d1 * d2 <= 2**26:
        flat = rng.choice(d1 * d2, size=need, replace=False)
    else:  # few collisions: draw with replacement, drop repeats, top up
        flat = np.unique(rng.integers(0, d1 * d2, size=need))
        while flat.size < need:
            flat = np.unique(np.r_[flat, rng.integers(0, d1 * d2, size=need - flat.size)])
        rng.shuffle(flat)
    rows = torch.from_numpy(flat // d2)
    cols = torch.from_numpy(flat % d2)
    # X* = A Bᵀ with singular values ≈ 1 (the SNN's output has ‖X‖₂ ≤ Σ|α|)
    A = torch.from_numpy(rng.standard_normal((d1, 5)).astype(np.float32)) / d1**0.5
    B = torch.from_numpy(rng.standard_normal((d2, 5)).astype(np.float32)) / d2**0.5
    y = sampled_product(A, B, rows, cols)
    y_rms = float(y[m:].square().mean().sqrt())
    tr, te = slice(0, m), slice(m, m + n_test)
    # factor entries of std 0.3/√d: the inputs U_k V_kᵀ have singular values ≈ 0.09
    model = SNN((d1, d2), [2], init="random", rank=rank, init_scale=0.3 / (d1 * d2) ** 0.25,
                evaluation=evaluation)

    def test_rmse() -> float:
        with torch.no_grad():
            err = (model.entries(rows[te], cols[te]) - y[te]).square().mean().sqrt()
            return float(err) / y_rms

    # the library's own loop: Trainer(optimizer="normalized") on the training entries; a
    # step is the time between two callbacks (forward, loss, backward, update and the
    # loop's own checks); the first step (warm-up: numba compilation, allocator) and the
    # loop's closing evaluation are not timed
    idx = rows[tr] * d2 + cols[tr]
    problem = SensingProblem(X_star=None, operator=EntrySampling((d1, d2), idx,
                                                                 dtype=torch.float32),
                             y=y[tr], name="b7")
    before = test_rmse()
    stamps: list[float] = []
    trainer = Trainer(steps, LR, "normalized", log_every=steps, metrics=False)
    trainer.fit(model, problem, callback=lambda t, info: stamps.append(time.perf_counter()))
    times = list(np.diff(stamps[:steps]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {"d1": d1, "d2": d2, "m": m, "rank": rank, "evaluation": evaluation,
            "ms_per_step": 1e3 * float(np.median(times)), "peak_rss_mib": peak,
            "test_rmse_before": before, "test_rmse_after": test_rmse(), "steps": steps,
            "factored": model.factored}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="two small sizes only")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="steps of --one runs")
    p.add_argument("--one", nargs=5, metavar=("D1", "D2", "M", "RANK", "EVAL"),
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        d1, d2, m, rank = (int(v) for v in args.one[:4])
        print(json.dumps(_one(d1, d2, m, rank, args.one[4], args.steps, args.threads)))
        return 0
    sizes = QUICK if args.quick else FULL
    print(f"B7: widths [2], normalized GD (rate {LR}), {args.threads} torch thread(s), "
          f"median step time over the run (dense path: {DENSE_STEPS} steps); each size and "
          "path in a fresh process; machine under load: compare ratios")
    head = (f"{'d1×d2':>15s} {'m':>10s} {'r':>3s} {'path':>9s} {'ms/step':>10s} "
            f"{'peak RSS MiB':>12s} {'rel. test RMSE (steps)':>23s} {'dense/factored':>14s}")
    print(head)
    results = []
    for d1, d2, m, rank, dense_too, fsteps in sizes:
        row = {}
        for ev in (["factored", "dense"] if dense_too else ["factored"]):
            steps = fsteps if ev == "factored" else min(fsteps, DENSE_STEPS)
            cmd = [sys.executable, __file__, "--one", str(d1), str(d2), str(m), str(rank), ev,
                   "--steps", str(steps), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{d1}×{d2} {ev}: failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(res)
            row[ev] = res
            ratio = ""
            if ev == "dense" and "factored" in row:
                ratio = f"{res['ms_per_step'] / row['factored']['ms_per_step']:.0f}×"
            rmse = (f"{res['test_rmse_before']:.3f} → {res['test_rmse_after']:.3f} "
                    f"({res['steps']})")
            print(f"{f'{d1}×{d2}':>15s} {m:>10d} {rank:>3d} {ev:>9s} "
                  f"{res['ms_per_step']:>10.1f} {res['peak_rss_mib']:>12.0f} {rmse:>23s} "
                  f"{ratio:>14s}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
