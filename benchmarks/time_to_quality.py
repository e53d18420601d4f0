"""B10: time to quality. Every recovery method's quality against its wall time, in one run.

Three problems, every method one after another in this process (ratios within the table):

- **camera, DCT**: ``skimage:camera`` (512×512), 30 % subsampled DCT coefficients, 1 %
  relative noise (the ``recover`` defaults); methods snn, softimpute, svt, tv; PSNR (dB).
- **camera, pixels**: the same photo, 30 % of the pixels; methods snn, softimpute, svt,
  snn-patches, biharmonic, interpolate, tv; PSNR (dB).
- **MovieLens-100k**: the 90/10 split of ``benchmarks/ratings_bench.py`` (seed 0); methods
  SNN, soft-impute and scikit-surprise's SVD, KNNBaseline (SVD++ in the full run), each with
  its quick and its full settings; test RMSE (skipped with a line without the ``data`` extra;
  surprise methods skipped without the ``bench`` extra).

An image method runs through :func:`spectralnn.recovery.fit` (as ``spectralnn recover`` does)
under a ladder of time budgets (``--budgets``, seconds); a point is the wall time of the fit
and the PSNR of what it returned. The ladder stops for a method once a run ends before its
budget (a larger budget would return the same result). So a curve reads: "given t seconds,
this method returns this quality".

    python benchmarks/time_to_quality.py [--quick] [--out DIR] [--budgets 10,40,150]
        [--threads 1]
    python benchmarks/time_to_quality.py --criteria [--threads 2]

``--criteria``: only camera DCT, the SNN's speed targets side by side: soft-impute runs once
(wall time ``T``, PSNR ``P``), then the SNN (default settings) with the budget ``2T``, its
iterate's PSNR recorded at every validation check. Prints ``t_reach / T`` (the first time the
SNN's iterate reaches ``P``, over ``T``; target ≤ 1) and ``P_snn(2T) − P`` (the PSNR of what
the budget-``2T`` fit returned; target ≥ 0.5 dB).

Writes DIR/time_to_quality.{csv,json,png} (default DIR: benchmarks/results/time_to_quality)
and prints one markdown table. ``--quick`` (smoke test): the photo resized to 48×48, budgets
1 and 3 s, methods snn and softimpute, and ML-100k's quick settings for SNN and soft-impute.
Absolute times depend on the machine and its load: compare within one table.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

IMAGE_METHODS = {
    "dct": ["snn", "softimpute", "svt", "tv"],
    "entries": ["snn", "softimpute", "svt", "snn-patches", "biharmonic", "interpolate", "tv"],
}
ONE_SHOT = {"snn-patches", "biharmonic", "interpolate"}   # no time budget: one point each
RATINGS_METHODS = ["SNN", "soft-impute", "SVD", "KNNBaseline", "SVD++"]
SURPRISE = {"SVD", "SVD++", "KNNBaseline"}


def image_problem(measurement: str, size: int, fraction: float = 0.3, seed: int = 0):
    """The ``recover --image skimage:camera`` problem (defaults of the command)."""
    from spectralnn.config import load_image
    from spectralnn.data import normalize
    from spectralnn.recovery import default_noise_std
    from spectralnn.sensing.operators import measurements_from_fraction
    from spectralnn.sensing.problem import make_problem

    pixels, label = load_image("skimage:camera", size or None)
    X, _ = normalize(pixels, "nuclear")
    m = measurements_from_fraction(fraction, X.numel())
    noise = default_noise_std(X, measurement, m)
    return make_problem(pixels, measurement, fraction=fraction, noise_std=noise, seed=seed,
                        name=label)


def image_points(measurement: str, methods: list[str], size: int,
                 budgets: list[float]) -> list[dict]:
    from spectralnn.recovery import fit

    problem = image_problem(measurement, size)
    warm = image_problem(measurement, 16)   # imports, compiled kernels: not charged to a fit
    for method in methods:
        try:
            fit(warm, method, seed=0, image=True, max_seconds=0.5)
        except Exception:  # reported by the timed run below
            pass
    out = []
    for method in methods:
        for budget in ([math.inf] if method in ONE_SHOT else budgets):
            t0 = time.perf_counter()
            try:
                res = fit(problem, method, seed=0, image=True,
                          max_seconds=None if math.isinf(budget) else budget)
            except Exception as exc:  # a method that does not apply: one line, go on
                print(f"  camera-{measurement} {method}: skipped ({str(exc).splitlines()[0]})",
                      flush=True)
                break
            sec = time.perf_counter() - t0
            rec = {"problem": f"camera {measurement}", "method": method,
                   "budget_s": None if math.isinf(budget) else budget, "seconds": sec,
                   "quality": float(res.summary.get("psnr", math.nan)), "metric": "PSNR dB",
                   "status": res.status}
            out.append(rec)
            print(f"  camera-{measurement:7s} {method:12s} budget {rec['budget_s'] or '-':>6} "
                  f"PSNR {rec['quality']:6.2f} dB {sec:8.1f} s  {res.status}", flush=True)
            if res.status != "budget_reached":
                break   # it stopped on its own: a larger budget returns the same result
    return out


def criteria(size: int) -> dict:
    """Soft-impute's time ``T`` and PSNR ``P`` against the SNN's time to ``P`` and its PSNR
    under the budget ``2T`` (module doc), camera DCT, in this process."""
    from spectralnn.metrics import psnr
    from spectralnn.prediction import as_dense
    from spectralnn.recovery import fit, stopping

    problem = image_problem("dct", size)
    warm = image_problem("dct", 16)
    for method in ("softimpute", "snn"):
        fit(warm, method, seed=0, image=True, max_seconds=0.5)
    t0 = time.perf_counter()
    si = fit(problem, "softimpute", seed=0, image=True)
    T, P = time.perf_counter() - t0, float(si.summary["psnr"])
    print(f"  softimpute: PSNR {P:.2f} dB in {T:.1f} s ({si.status})", flush=True)
    truth = problem.X_star.double()
    trace: list[tuple[float, float]] = []
    update = stopping.Monitor.update

    def traced(self, step, loss, X):  # the iterate's PSNR at every validation check
        status = update(self, step, loss, X)
        if step % self.rules.check_every == 0 or status is not None:
            quality = float(psnr(as_dense(X).detach().double(), truth, problem.scale))
            trace.append((time.perf_counter() - t0, quality))
        return status

    stopping.Monitor.update = traced
    try:
        t0 = time.perf_counter()
        snn = fit(problem, "snn", seed=0, image=True, max_seconds=2 * T)
        wall = time.perf_counter() - t0
    finally:
        stopping.Monitor.update = update
    reach = next((t for t, q in trace if q >= P), math.inf)
    out = {"softimpute_seconds": T, "softimpute_psnr": P, "snn_seconds": wall,
           "snn_psnr": float(snn.summary["psnr"]), "snn_status": snn.status,
           "snn_steps": snn.summary["steps"], "snn_reach_seconds": reach,
           "reach_ratio": reach / T, "gain_at_2T_db": float(snn.summary["psnr"]) - P}
    print(f"  snn (budget 2T = {2 * T:.1f} s): PSNR {out['snn_psnr']:.2f} dB in {wall:.1f} s, "
          f"{out['snn_steps']} steps ({snn.status}); first at {P:.2f} dB after {reach:.1f} s")
    print(f"  criterion 1: t_reach / T = {out['reach_ratio']:.2f} (target ≤ 1)")
    print(f"  criterion 2: P_snn(2T) − P = {out['gain_at_2T_db']:+.2f} dB (target ≥ +0.5)")
    return out


def ratings_points(quick: bool) -> list[dict]:
    if importlib.util.find_spec("neighbors") is None:
        print("  MovieLens-100k skipped: needs the data extra (neighbors)")
        return []
    from ratings_bench import METHODS, _metrics, splits
    from spectralnn.ratings import movielens_100k

    rows, cols, values = movielens_100k()
    shape = (int(rows.max()) + 1, int(cols.max()) + 1)
    _, tr_idx, te_idx = splits(values.size, ["90/10"])[0]
    tr = (rows[tr_idx], cols[tr_idx], values[tr_idx])
    te = (rows[te_idx], cols[te_idx], values[te_idx])
    have_surprise = importlib.util.find_spec("surprise") is not None
    methods = ["SNN", "soft-impute"] if quick else RATINGS_METHODS
    out = []
    for method in methods:
        if method in SURPRISE and not have_surprise:
            print(f"  ML-100k {method}: skipped (needs the bench extra, scikit-surprise)")
            continue
        for setting in ([True] if quick else [True, False]):
            t0 = time.perf_counter()
            scores = METHODS[method](tr, te, shape, setting)
            sec = time.perf_counter() - t0
            rmse, _ = _metrics(np.clip(scores, 1.0, 5.0), te[2])
            label = "quick" if setting else "full"
            out.append({"problem": "ML-100k 90/10", "method": method, "budget_s": None,
                        "setting": label, "seconds": sec, "quality": rmse,
                        "metric": "test RMSE", "status": "ok"})
            print(f"  ML-100k         {method:12s} {label:6s} RMSE {rmse:.4f} {sec:8.1f} s",
                  flush=True)
    return out


def table(records: list[dict]) -> str:
    lines = ["| problem | method | budget (s) | settings | quality | wall (s) | status |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        q = f"{r['quality']:.2f} dB" if r["metric"] == "PSNR dB" else f"RMSE {r['quality']:.4f}"
        budget = "—" if r["budget_s"] is None else f"{r['budget_s']:g}"
        lines.append(f"| {r['problem']} | {r['method']} | {budget} | {r.get('setting', '')} | "
                     f"{q} | {r['seconds']:.1f} | {r['status']} |")
    return "\n".join(lines)


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r["problem"] for r in records))
    fig, axes = plt.subplots(1, len(problems), figsize=(5.2 * len(problems), 4), squeeze=False)
    for ax, prob in zip(axes[0], problems):
        recs = [r for r in records if r["problem"] == prob]
        for method in dict.fromkeys(r["method"] for r in recs):
            pts = [(r["seconds"], r["quality"]) for r in recs if r["method"] == method]
            ax.plot(*zip(*pts), marker="o", label=method)   # in budget order
        ax.set_xscale("log")
        ax.set_xlabel("wall time of the fit (s)")
        ax.set_ylabel(recs[0]["metric"] + (" (lower is better)" if "RMSE" in recs[0]["metric"]
                                           else ""))
        ax.set_title(prob)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("B10: quality against wall time (one run)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="48×48 photo, short budgets")
    p.add_argument("--out", type=Path, default=HERE / "results" / "time_to_quality")
    p.add_argument("--budgets", default=None, help="comma-separated seconds (image methods)")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads")
    p.add_argument("--criteria", action="store_true",
                   help="only the SNN's speed targets against soft-impute (camera DCT)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.criteria:
        print(f"B10 criteria: camera DCT; {args.threads} torch thread(s); machine load varies",
              flush=True)
        out = criteria(48 if args.quick else 0)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "criteria.json").write_text(json.dumps(out, indent=2))
        return 0
    budgets = ([float(b) for b in args.budgets.split(",")] if args.budgets
               else [1.0, 3.0] if args.quick else [10.0, 40.0, 150.0])
    size = 48 if args.quick else 0
    print(f"B10: time to quality; {args.threads} torch thread(s); budgets {budgets} s; machine "
          "load varies: compare within this table", flush=True)
    records = []
    for measurement, methods in IMAGE_METHODS.items():
        use = [m for m in methods if m in ("snn", "softimpute")] if args.quick else methods
        records += image_points(measurement, use, size, budgets)
    records += ratings_points(args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "time_to_quality.json").write_text(json.dumps(records, indent=2))
    with open(args.out / "time_to_quality.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["problem", "method", "budget_s", "setting", "seconds",
                                          "quality", "metric", "status"])
        w.writeheader()
        for r in records:
            w.writerow({k: r.get(k, "") for k in w.fieldnames})
    plot(records, args.out / "time_to_quality.png")
    print()
    print(table(records))
    print(f"\nwrote {args.out / 'time_to_quality.png'} and .csv/.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
