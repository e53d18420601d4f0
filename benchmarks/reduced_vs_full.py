"""Time per GD step: the full SNN vs. its exact reduction (Theorem 1), side by side.

Problem: an ``n×n`` rank-3 ground truth, ``m`` well-specified measurements
(``A_i = Φ diag(d_i) Ψᵀ``), SNN widths ``[2, 2, 2, 2]``, tanh, spectral initialisation,
float64. Rows:

- full SNN: one plain GD step of the library's loop (``Trainer.fit``: the SNN's forward through
  ``spectral_apply``, the closed-form spectral backward, the update), ``O(K·n³)``;
- reduced, 1 replica: one step of :meth:`ReducedSNN.fit` (hand-written NumPy passes);
- reduced, R replicas: one step for R replicas at once, and the time per replica-step.

Both are first checked to produce the same iterate (relative difference printed). Ratios are
to the full SNN's step, measured in the same run.

    python benchmarks/reduced_vs_full.py [--n 100] [--m 50] [--reps 30] [--replicas 100]
"""

from __future__ import annotations

import argparse

import torch

from loop_timing import trainer_step_seconds
from spectralnn import SNN, SensingProblem
from spectralnn.data import synthetic_low_rank
from spectralnn.sensing.operators import WellSpecifiedOperator
from spectralnn.theory import ReducedSNN
from spectralnn.trainer import Trainer

WIDTHS = [2, 2, 2, 2]
LR = 1e-7  # stable for n = 100 (the A_i have entries of size ~n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--m", type=int, default=50)
    parser.add_argument("--reps", type=int, default=30, help="full-SNN steps timed")
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X = synthetic_low_rank(args.n, 3, seed=0)
    X = X / torch.linalg.matrix_norm(X, "nuc")
    op = WellSpecifiedOperator.paper(X, args.m, seed=1)
    y = op(X)
    model = SNN((args.n, args.n), WIDTHS, init="spectral", phi=op.phi, psi=op.psi,
                init_scale=0.5, dtype=torch.float64, seed=0)
    red = ReducedSNN.from_snn(model, op)

    problem = SensingProblem(X_star=X, operator=op, y=y)

    # Same iterate after a few steps (Theorem 1 is exact).
    Trainer(5, LR, metrics=False).fit(model, problem)
    red.fit(y, LR, 5, record_every=5)
    X_full = model().detach()
    X_red = red.full_matrix()
    diff = float(torch.linalg.matrix_norm(X_full - X_red) / torch.linalg.matrix_norm(X_red))

    t_full = trainer_step_seconds(model, problem, LR, reps=args.reps)
    inner = 2000

    def reduced_block(r: ReducedSNN) -> float:
        return r.fit(y, LR, inner, record_every=inner).seconds / inner

    t_red = min(reduced_block(red) for _ in range(3))
    many = ReducedSNN.spectral(op, WIDTHS, init_scale=0.5, replicas=args.replicas, seed=0)
    t_many = min(reduced_block(many) for _ in range(3))

    print(f"n = {args.n}, m = {args.m}, widths {WIDTHS}, float64, torch threads "
          f"{args.threads}; relative difference of the iterates after 5 steps: {diff:.1e}")
    print(f"{'variant':<34}{'time per step':>16}{'speed-up vs full':>18}")
    rows = [
        ("full SNN (the library's loop)", t_full),
        ("reduced, 1 replica", t_red),
        (f"reduced, {args.replicas} replicas (whole batch)", t_many),
        (f"reduced, {args.replicas} replicas (per replica)", t_many / args.replicas),
    ]
    for name, t in rows:
        print(f"{name:<34}{1e6 * t:>13.1f} µs{t_full / t:>17.0f}×")


if __name__ == "__main__":
    main()
