"""Memory and forward+adjoint time of the sensing operators, side by side.

For a d×d matrix and m = round(fraction·d²) measurements (float32, CPU): bytes held by each
operator and the median time of one ``A(X)`` plus one ``A*(r)`` over ``--reps`` repetitions.
A dense Gaussian operator needs ``m·d²·4`` bytes; it is built and timed only when that is at
most ``--dense-budget`` of the available memory (fewer repetitions: each one streams the whole
matrix twice), else its row says so.

    python benchmarks/sensing_operators.py [--sizes 64 256] [--fraction 0.3] [--reps 20]
        [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from spectralnn.sensing import EntrySampling, GaussianOperator, SensingOperator, SubsampledDCT
from spectralnn.sensing.memory import available_memory


def time_pair(op: SensingOperator, reps: int, seed: int = 0) -> float:
    """Median seconds of ``op(X)`` + ``op.adjoint(r)`` (after two warm-up calls)."""
    g = torch.Generator()
    g.manual_seed(seed)
    X = torch.randn(*op.shape, generator=g).to(op.dtype)
    r = torch.randn(op.num_measurements, generator=g).to(op.dtype)
    times = []
    for i in range(reps + 2):
        t0 = time.perf_counter()
        op(X)
        op.adjoint(r)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--fraction", type=float, default=0.3)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--dense-reps", type=int, default=5)
    parser.add_argument("--dense-budget", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    dtype = torch.float32
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"float32, CPU, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores, load average {load:.2f}"
    )
    header = f"{'d':>5} {'m':>7}  {'operator':<14} {'memory':>11} {'fwd+adj (ms)':>13} {'× DCT':>7}"
    print(header)
    print("-" * len(header))
    for d in args.sizes:
        m = round(args.fraction * d * d)
        rows: list[tuple[str, int, float | None, str]] = []
        dct = SubsampledDCT((d, d), m, seed=0, dtype=dtype)
        rows.append(("SubsampledDCT", dct.nbytes(), time_pair(dct, args.reps), ""))
        entries = EntrySampling.random((d, d), m=m, seed=0, dtype=dtype)
        rows.append(("EntrySampling", entries.nbytes(), time_pair(entries, args.reps), ""))
        dense_bytes = m * d * d * 4
        avail = available_memory()
        if avail is not None and dense_bytes <= args.dense_budget * avail:
            gauss = GaussianOperator((d, d), m, seed=0, dtype=dtype)
            assert gauss.nbytes() == dense_bytes
            rows.append(("Gaussian", dense_bytes, time_pair(gauss, args.dense_reps), ""))
            del gauss
        else:
            why = "unknown free memory" if avail is None else f"{fmt_bytes(avail)} available"
            rows.append(("Gaussian", dense_bytes, None, f"not timed: {why}"))
        t_dct = rows[0][2]
        for name, nbytes, t, note in rows:
            t_ms = "-" if t is None else f"{1e3 * t:.3f}"
            ratio = "-" if t is None or t_dct is None else f"{t / t_dct:.2f}"
            line = f"{d:>5} {m:>7}  {name:<14} {fmt_bytes(nbytes):>11} {t_ms:>13} {ratio:>7}"
            print(line + (f"  ({note})" if note else ""))
    print(f"Gaussian timings: median of {args.dense_reps} reps; others: median of {args.reps}.")


if __name__ == "__main__":
    main()
