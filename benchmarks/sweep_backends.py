"""Wall time of one sweep on each backend, side by side (same grid, same seeds, fresh dirs).

    python benchmarks/sweep_backends.py [CONFIG] [--jobs 2] [--backends inprocess,dask]

Prints per backend: wall seconds (a local Dask cluster's start and stop included), the sum of
the runs' own seconds (their total CPU-bound work: it grows when workers compete for cores)
and the speed-up over in-process; checks that every backend produced the same table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from spectralnn.sweeps import load_sweep_config, run_sweep

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default=str(ROOT / "configs" /
                                                     "phase_transition_quick.toml"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--backends", default="inprocess,processes,dask")
    args = ap.parse_args()
    cfg = load_sweep_config(args.config)
    rows, tables = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            res = run_sweep(cfg, Path(tmp) / backend, backend=backend, jobs=args.jobs,
                            progress=False)
            work = sum(r["seconds"] or 0.0 for r in res.rows)
            rows.append((backend, res.total, res.seconds, work))
            tables[backend] = [{k: v for k, v in r.items() if k not in ("seconds", "threads")}
                               for r in res.rows]
    base = rows[0][2]
    print(f"{'backend':<10} {'runs':>5} {'wall s':>8} {'run s (sum)':>12} {'speed-up':>9}")
    for backend, total, wall, work in rows:
        print(f"{backend:<10} {total:>5} {wall:>8.1f} {work:>12.1f} {base / wall:>8.2f}x")
    first = next(iter(tables.values()))
    same = all(t == first for t in tables.values())
    print(f"same table on every backend: {same}")


if __name__ == "__main__":
    main()
