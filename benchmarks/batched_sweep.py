"""Batched learning-rate sweep vs. the same runs one after another.

Trains the paper's MNIST SNN (28×28, widths [4, 8, 16], identity init, 470 Gaussian
measurements) at 5 learning rates: once as ONE model with ``replicas=5`` and a per-replica rate,
once as 5 separate models. Prints seconds per step of each and their ratio, and checks that
both give the same matrices.

    python benchmarks/batched_sweep.py [--steps 200] [--dtype float64] [--threads 1]
        [--problem saved_problem.npz]
"""

from __future__ import annotations

import argparse
import time

import torch

from spectralnn.models import build_model
from spectralnn.rates import sweep
from spectralnn.sensing.problem import SensingProblem, paper_mnist_problem
from spectralnn.trainer import train

RATES = [1e-4, 5e-5, 1e-5, 5e-6, 1e-6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--model", default="snn")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--problem", default=None, help="a saved problem (.npz) instead of "
                        "the paper's MNIST digit 0")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    problem = (SensingProblem.load(args.problem) if args.problem
               else paper_mnist_problem(index=0)).to(dtype=dtype)

    def make(replicas):
        return build_model(args.model, problem.shape, replicas=replicas, dtype=dtype)

    sweep(make, problem, RATES[:2], 3)  # warm-up
    t0 = time.perf_counter()
    batched = sweep(make, problem, RATES, args.steps)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = [train(make(None), problem, args.steps, lr) for lr in RATES]
    t_seq = time.perf_counter() - t0
    diff = max(float((b.X - a.X).abs().max()) for b, a in zip(batched, alone))
    n = len(RATES)
    print(f"model={args.model} dtype={args.dtype} steps={args.steps} rates={n} "
          f"threads={torch.get_num_threads()}")
    print(f"{'mode':<14}{'seconds':>10}{'ms/step':>10}")
    print(f"{'batched':<14}{t_batched:>10.2f}{1e3 * t_batched / args.steps:>10.2f}")
    print(f"{'sequential':<14}{t_seq:>10.2f}{1e3 * t_seq / args.steps:>10.2f}")
    print(f"speed-up (sequential / batched): {t_seq / t_batched:.2f}x; "
          f"max |X_batched − X_alone| = {diff:.2e}")


if __name__ == "__main__":
    main()
